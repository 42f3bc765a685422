"""The course website: it builds offline from the repository, and every page shows its
title, its figures and its typeset math in a real browser (headless Chromium), with no
console error. A screenshot of each page is kept in ``build/screenshots/``."""

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from dgm.course import notebooks, site

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("DGM_ARTIFACTS", ROOT / "build")) / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    return out, site.build(out)


def test_math_is_kept_out_of_the_markdown():
    got = site.markdown("a $x_1 * y_2$ and *b*, `code $5` and\n\n$$\\sum_k a_k < 1$$")
    assert '<span class="math inline">x_1 * y_2</span>' in got  # no emphasis inside math
    assert "<em>b</em>" in got and "<code>code $5</code>" in got
    assert '<span class="math display">\\sum_k a_k &lt; 1</span>' in got


def test_every_lecture_has_a_page_with_its_figures(built):
    out, pages = built
    for path in notebooks.solution_paths():
        nb = nbformat.read(path, as_version=4)
        images = sum(
            "image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])
        )
        page = pages[f"{path.stem}.html"]
        assert page["title"] == notebooks.title(nb) and page["figures"] == images > 0
        assert (out / "notebooks" / path.name).exists()  # the student notebook to download
    index = (out / "index.html").read_text()
    assert all(f'href="{p}"' in index for p in pages if p != "index.html")


def test_contents_link_every_section_in_order():
    sections, toc = site.contents(
        [
            "<h1>T</h1><p>goals</p>",
            "<h2>1. A <em>b</em></h2>",
            "<h3>not listed</h3><h2>Summary</h2>",
        ]
    )
    assert sections[1] == '<h2 id="s1">1. A <em>b</em></h2>'
    assert '<h2 id="s2">Summary</h2>' in sections[2] and "<h3>not listed</h3>" in sections[2]
    assert toc == (
        '<nav class="contents"><ul><li><a href="#s1">1. A <em>b</em></a></li>'
        '<li><a href="#s2">Summary</a></li></ul></nav>'
    )
    assert site.contents(["<p>no sections</p>"]) == (["<p>no sections</p>"], "")


def test_every_lecture_page_lists_its_sections_after_its_title(built):
    out, _ = built
    for path in notebooks.solution_paths():
        nb = nbformat.read(path, as_version=4)
        headings = [
            line
            for c in nb.cells
            if c.cell_type == "markdown"
            for line in c.source.splitlines()
            if line.startswith("## ")
        ]
        page = (out / f"{path.stem}.html").read_text()
        links = re.findall(r'<li><a href="#(s\d+)">', page)
        assert len(links) == len(headings) > 0, path.name
        assert all(f'<h2 id="{a}">' in page for a in links)
        assert page.index("</h1>") < page.index('<nav class="contents">') < page.index('id="s1"')


def test_the_landing_page_links_every_build_assignment_to_its_section(built):
    out, _ = built
    index = (out / "index.html").read_text()
    assert "<h2>Build assignments</h2>" in index
    for path in notebooks.solution_paths():
        heading, anchor = site.build_section(path)
        assert "Build assignment" in heading
        assert f'href="{path.stem}.html{anchor}"' in index, path.name
        page = (out / f"{path.stem}.html").read_text()
        inner = site.markdown(f"## {heading}").strip().removeprefix("<h2>").removesuffix("</h2>")
        assert f'<h2 id="{anchor[1:]}">{inner}</h2>' in page, path.name
    assert "the reference</td>\n<td>20 of 20</td>" in index  # the calibration table


def test_the_site_needs_nothing_from_the_network(built):
    out, pages = built
    for page in pages:
        text = (out / page).read_text()
        loaded = re.findall(r'<(?:script|img|link)[^>]*(?:src|href)="([^"]+)"', text)
        assert loaded, page
        for url in loaded:
            assert "://" not in url and (out / url).exists(), (page, url)
    css = (out / "assets" / "katex" / "katex.min.css").read_text()
    fonts = re.findall(r"url\((fonts/[^)]+\.woff2)\)", css)
    assert fonts and all((out / "assets" / "katex" / f).exists() for f in fonts)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="out must be a path"):
        site.build(3)


def _browser():
    """Playwright driving the system's Chromium (CI installs both; elsewhere, skip)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: install chromium and playwright")
        pytest.skip("needs Debian's chromium and the playwright package")
    return sync_playwright


def watch(page):
    """The console errors and the requests off the disk that ``page`` makes from now on."""
    errors, requests = [], []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: r.url.startswith("file://") or requests.append(r.url))
    return errors, requests


def test_every_page_renders_in_chromium(built):
    out, pages = built
    sync_playwright = _browser()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        for name, expected in pages.items():
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors, requests = watch(page)
            page.goto((out / name).as_uri(), wait_until="load")
            page.wait_for_selector("body.typeset")
            assert page.title().startswith(expected["title"]), name
            shown = page.evaluate(
                "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length"
            )
            assert shown == page.evaluate("document.images.length") == expected["figures"]
            maths = page.evaluate("document.querySelectorAll('span.math').length")
            typeset = page.evaluate("document.querySelectorAll('span.math .katex').length")
            assert page.evaluate("document.querySelectorAll('.math-error').length") == 0, name
            assert typeset == maths and (maths > 0 or name == "index.html"), name
            assert errors == [] and requests == [], (name, errors, requests)
            page.screenshot(path=str(SCREENSHOTS / f"{Path(name).stem}.png"), full_page=True)
            page.close()
        browser.close()
