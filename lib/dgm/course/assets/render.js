// Typeset every formula of the page with the bundled KaTeX. A formula KaTeX cannot read is
// reported on the console and marked, so that the site's browser test fails on it.
document.querySelectorAll("span.math").forEach(function (el) {
  var tex = el.textContent;
  try {
    katex.render(tex, el, { displayMode: el.classList.contains("display"), throwOnError: true });
  } catch (err) {
    el.classList.add("math-error");
    console.error("KaTeX could not typeset " + JSON.stringify(tex) + ": " + err.message);
  }
});
document.body.classList.add("typeset");
