"""The course as a static website, built offline from ``solutions/`` and their outputs.

``python -m dgm.course site [--out build/site]`` writes one page per lecture (a list of its
sections, its text with the math typeset, its code, printed output and figures), a landing
page with the lecture table and the benchmark results, and the student notebooks to
download. Nothing is fetched, at build time or when a page is read: the math renderer
(KaTeX, MIT licence) is bundled in ``dgm/course/assets``, and every figure is a file beside
the pages.

Math in the notebooks' markdown (``$...$``, ``$$...$$``) is taken out before the markdown
is converted, so that ``_`` and ``*`` inside it are not read as emphasis, and put back as
``<span class="math">`` elements that ``assets/render.js`` typesets with KaTeX. A formula
KaTeX cannot read is logged to the browser console and marked ``math-error``: the
browser test (``tests/test_site.py``) fails on either.
"""

from __future__ import annotations

import base64
import html
import re
import shutil
from pathlib import Path

import nbformat
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from . import notebooks, records

ASSETS = Path(__file__).parent / "assets"
DEFAULT_OUT = notebooks.ROOT / "build" / "site"
COURSE = "Deep generative models, taught in notebooks"

# code spans and blocks first, so a `$` inside code is not read as math
_TOKENS = re.compile(r"(```.*?```|`[^`\n]*`)|\$\$(.+?)\$\$|\$([^$]+?)\$", re.S)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MD = MarkdownIt("commonmark", {"html": True}).enable("table")


def markdown(text: str) -> str:
    """Markdown to HTML, with the math kept verbatim for KaTeX."""
    maths: list[str] = []

    def take(m: re.Match) -> str:
        if m[1] is not None:
            return m[1]
        display = m[2] is not None
        tex = m[2] if display else m[3]
        kind = "display" if display else "inline"
        maths.append(f'<span class="math {kind}">{html.escape(tex.strip())}</span>')
        return f"MATHPLACEHOLDER{len(maths) - 1}X"

    out = _MD.render(_TOKENS.sub(take, text))
    return re.sub(r"MATHPLACEHOLDER(\d+)X", lambda m: maths[int(m[1])], out)


def _stream(text: str) -> str:
    """Printed text as a terminal would leave it: colours dropped, ``\\r`` overwriting."""
    lines = [line.split("\r")[-1] for line in _ANSI.sub("", text).split("\n")]
    return "\n".join(lines)


def _outputs(cell, figures: Path, stem: str, index: int) -> list[str]:
    parts = []
    for k, out in enumerate(cell.get("outputs", [])):
        kind = out.output_type
        if kind == "stream":
            text = _stream(out.text).strip("\n")
            if text:
                parts.append(f'<pre class="output {out.name}">{html.escape(text)}</pre>')
        elif kind == "error":
            trace = _ANSI.sub("", "\n".join(out.traceback))
            parts.append(f'<pre class="output error">{html.escape(trace)}</pre>')
        else:  # display_data, execute_result
            data = out.get("data", {})
            if "image/png" in data:
                name = f"{stem}-{index}-{k}.png"
                (figures / name).write_bytes(base64.b64decode(data["image/png"]))
                parts.append(f'<img class="figure" src="figures/{name}" alt="figure {index}.{k}">')
            elif "application/vnd.jupyter.widget-view+json" in data:
                continue  # a progress bar or a live widget: nothing to show on a static page
            elif "text/html" in data:
                parts.append(f'<div class="output">{data["text/html"]}</div>')
            elif "text/plain" in data:
                parts.append(f'<pre class="output">{html.escape(data["text/plain"])}</pre>')
    return parts


_H2 = re.compile(r"<h2>(.*?)</h2>", re.S)


def contents(sections: list[str]) -> tuple[list[str], str]:
    """Give each section's ``<h2>`` an id; return the sections and a contents list.

    The list links to every ``<h2>`` of the page in order (their inner HTML, math kept).
    """
    entries: list[str] = []

    def anchor(m: re.Match) -> str:
        entries.append(f'<li><a href="#s{len(entries) + 1}">{m[1]}</a></li>')
        return f'<h2 id="s{len(entries)}">{m[1]}</h2>'

    sections = [_H2.sub(anchor, s) for s in sections]
    if not entries:
        return sections, ""
    return sections, f'<nav class="contents"><ul>{"".join(entries)}</ul></nav>'


def _page(title: str, body: str, nav: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="assets/katex/katex.min.css">
<link rel="stylesheet" href="assets/style.css">
</head>
<body>
<nav>{nav}</nav>
<main>
{body}
</main>
<script src="assets/katex/katex.min.js"></script>
<script src="assets/render.js"></script>
</body>
</html>
"""


def lecture_page(path: Path, out: Path, nav: str) -> tuple[str, int]:
    """Write ``out/<stem>.html`` for the solution notebook ``path``: (title, figures)."""
    nb = nbformat.read(path, as_version=4)
    title, stem = notebooks.title(nb), path.stem
    formatter = HtmlFormatter(cssclass="code")
    student = f"notebooks/{path.name}"
    parts = [
        f'<p class="open">The student notebook: <a href="{student}" download>download</a> · '
        f'<a href="{notebooks.colab_url(path.name)}">open in Colab</a></p>'
    ]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            parts.append(f'<section class="text">{markdown(cell.source)}</section>')
        elif cell.cell_type == "code":
            parts.append(highlight(cell.source, PythonLexer(), formatter))
            parts += _outputs(cell, out / "figures", stem, i)
    parts, toc = contents(parts)
    if toc:  # after the title and the learning goals, before the first section
        first = next(i for i, p in enumerate(parts) if 'h2 id="s1"' in p)
        parts.insert(first, toc)
    (out / f"{stem}.html").write_text(_page(f"{title} · {COURSE}", "\n".join(parts), nav))
    return title, sum(p.startswith('<img class="figure"') for p in parts)


def build_section(path: Path) -> tuple[str, str] | None:
    """The solution notebook's build assignment section: its heading (markdown) and its
    anchor on the lecture's page (``#s<n>``, the n-th ``## `` heading, as ``contents``
    numbers them); ``None`` if it has none."""
    nb = nbformat.read(path, as_version=4)
    headings = [
        line[3:]
        for c in nb.cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("## ")
    ]
    return next(((h, f"#s{i}") for i, h in enumerate(headings, 1) if "Build assignment" in h), None)


def _builds() -> str:
    """The landing page's list of the build assignments, each linked to its section."""
    items = []
    for p in notebooks.solution_paths():
        found = build_section(p)
        if found:
            heading, anchor = found
            items.append(f"- {p.stem[:2]}: [{heading}]({p.stem}.html{anchor})")
    return "\n".join(items)


def _landing(pages: dict[str, str]) -> str:
    table = notebooks.lecture_table(
        link=lambda name: name.replace(".ipynb", ".html"),
        opener=lambda name: f"[download](notebooks/{name}) · [Colab]({notebooks.colab_url(name)})",
    )
    return "\n".join(
        [
            f"<h1>{COURSE}</h1>",
            "<p>EM, wake-sleep, VAEs, GANs, the KL view of both, energy-based GANs with a "
            "mutual-information loss, MCMC, PixelCNN, and score-based and diffusion models: each "
            "lecture a notebook that derives the method, trains it for real and asks you to "
            "write its key pieces. Each page below is a lecture's solution with its outputs; "
            "download the student notebook to work through it yourself.</p>",
            "<h2>Lectures</h2>",
            markdown(table),
            "<h2>The likelihood table</h2>",
            "<p>Test NLL of binarized MNIST digits, in nats and bits per dimension, from this "
            "course's own models.</p>",
            markdown(records.likelihood_table()),
            "<h2>Build assignments</h2>",
            "<p>Each lecture ends with a build assignment: the student writes a whole working "
            "piece (a model from scratch and its training loop, a sampler, a fit) and runs it. "
            "The grader scores it in two parts, <em>properties</em> (what any correct build "
            "does, tested directly or in distribution against the reference) and an "
            "<em>outcome</em> on hidden data after a fixed budget, and names the failed "
            "property or how far the outcome fell. Every threshold is calibrated on 20 hidden "
            "variants: the reference passes all of them, and each recorded wrong build fails "
            "the part it names on all of them (the table below, "
            "<code>python -m benchmarks.assignments</code>).</p>",
            markdown(_builds()),
            markdown(records.assignments_table()),
            "<h2>Benchmark results</h2>",
            markdown(records.results_table()),
        ]
    )


def build(out: Path | str = DEFAULT_OUT) -> dict[str, dict]:
    """Build the site into ``out`` (replaced); return ``{page: {title, figures}}``.

    Reads only the repository: the solutions, the student notebooks, the benchmark
    records and the bundled assets.
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"build: out must be a path, got {type(out).__name__}")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "figures").mkdir(parents=True)
    shutil.copytree(ASSETS, out / "assets")
    (out / "assets" / "style.css").write_text(
        (ASSETS / "style.css").read_text() + HtmlFormatter(cssclass="code").get_style_defs()
    )
    shutil.copytree(notebooks.ROOT / "notebooks", out / "notebooks")
    paths = notebooks.solution_paths()
    titles = {p.stem: notebooks.title(nbformat.read(p, as_version=4)) for p in paths}
    links = " ".join(f'<a href="{stem}.html">{stem[:2]}</a>' for stem in titles)
    nav = f'<a href="index.html">{COURSE}</a> <span class="lectures">{links}</span>'
    pages = {}
    for p in paths:
        title, figures = lecture_page(p, out, nav)
        pages[f"{p.stem}.html"] = {"title": title, "figures": figures}
    (out / "index.html").write_text(_page(COURSE, _landing(titles), nav))
    pages["index.html"] = {"title": COURSE, "figures": 0}
    return pages


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dgm.course site", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the site")
    args = parser.parse_args(argv)
    pages = build(args.out)
    print(f"wrote {len(pages)} pages to {args.out}/ (open {args.out}/index.html)")
    return 0
