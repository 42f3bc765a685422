"""Solutions are the source of every notebook a student sees, and of the README's tables.

``python -m dgm.course notebooks``
    For each ``solutions/NN_topic.ipynb``: write the standard set-up cell (Colab install
    from the repository URL in ``pyproject.toml``) as its first cell, then generate
    ``notebooks/NN_topic.ipynb`` with nbgrader's own preprocessors (``ClearSolutions``
    turns each ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region into a
    ``raise NotImplementedError()`` stub; ``ClearOutput`` drops outputs), write each claim's
    verdict between its ``<!-- claim KEY -->`` markers (``claims``), and regenerate the
    README's lecture table.
``python -m dgm.course check``
    Exit 1 if anything generated is out of date (the tests call ``problems()``).

The text twin of each solution (``solutions/NN_topic.py``, jupytext's percent format) is
what reviewers read in diffs; ``sync`` brings the two in line (jupytext ``--sync``).
"""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (the instructor extra installs it)
    import tomli as tomllib

from .. import config
from . import claims, execute, records

ROOT = config.repo_root() or Path.cwd()
SOLUTIONS, NOTEBOOKS = ROOT / "solutions", ROOT / "notebooks"
README = ROOT / "README.md"
TABLE_BEGIN, TABLE_END = "<!-- lectures:begin -->", "<!-- lectures:end -->"
RESULTS_BEGIN, RESULTS_END = "<!-- results:begin -->", "<!-- results:end -->"
LIKELIHOOD_BEGIN, LIKELIHOOD_END = "<!-- likelihood:begin -->", "<!-- likelihood:end -->"
CLAIMS_BEGIN, CLAIMS_END = "<!-- claims:begin -->", "<!-- claims:end -->"
BUILDS_BEGIN, BUILDS_END = "<!-- builds:begin -->", "<!-- builds:end -->"
BUILD_LINES_BEGIN, BUILD_LINES_END = "<!-- build-lines:begin -->", "<!-- build-lines:end -->"


@functools.cache
def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def repository_url() -> str:
    """The repository's address, kept in one place: ``[project.urls] Repository``."""
    url = _pyproject().get("project", {}).get("urls", {}).get("Repository")
    if not url:
        raise RuntimeError("pyproject.toml has no [project.urls] Repository entry")
    return url.rstrip("/")


def branch() -> str:
    """The branch the Colab links and installs use: ``[tool.dgm] branch``, else ``main``."""
    return _pyproject().get("tool", {}).get("dgm", {}).get("branch", "main")


def setup_cell_source(url: str | None = None) -> str:
    """The first cell of every notebook: installs ``dgm`` on Colab, does nothing elsewhere."""
    url = url or repository_url()
    return (
        "# Set-up. On Colab this installs the course library `dgm` from the repository;\n"
        "# anywhere else it does nothing (run `make lab` from a clone instead).\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n\n"
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "-q", "git+{url}.git@{branch()}"],\n'
        "        check=True,\n"
        "    )"
    )


def colab_url(name: str, url: str | None = None) -> str:
    """The "Open in Colab" address of a student notebook."""
    url = (url or repository_url()).replace("https://github.com/", "")
    return f"https://colab.research.google.com/github/{url}/blob/{branch()}/notebooks/{name}"


def solution_paths() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def with_setup_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Make the first cell the standard set-up cell (inserting it if absent)."""
    source = setup_cell_source()
    first = nb.cells[0] if nb.cells else None
    if first is not None and "setup" in first.get("metadata", {}).get("tags", []):
        first.source = source
    else:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["setup"]})
        nb.cells.insert(0, cell)
    return nb


@functools.cache
def claim_lines() -> dict[str, str]:
    """Each registered claim's notebook line, from the committed records."""
    return {c.key: claims.block_line(claims.evaluate(c)) for c in claims.registry().claims}


def with_claims(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Rewrite every claim block of the markdown with its current verdict line."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and claims.cited(cell.source):
            cell.source = claims.with_blocks(cell.source, claim_lines())
    return nb


def student_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook: solution regions stubbed, outputs cleared, ids stable."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions

    nb = copy.deepcopy(solution)
    nb, _ = ClearSolutions(enforce_metadata=False).preprocess(nb, {})
    nb, _ = ClearOutput().preprocess(nb, {})
    nb.metadata.pop("jupytext", None)  # the student has no text twin
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def _dumps(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


# --------------------------------------------------------------------------- README table


def title(nb: nbformat.NotebookNode) -> str:
    """A notebook's title: its first level-1 markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "?"


def _fmt(record: dict) -> str:
    s = record["seconds"]
    when = f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
    return f"{when} ({record['device']}, {record['date'][:10]})"


def colab_badge(name: str) -> str:
    """The README's "Open in Colab" badge of a student notebook (markdown)."""
    svg = "https://colab.research.google.com/assets/colab-badge.svg"
    return f"[![Open In Colab]({svg})]({colab_url(name)})"


def lecture_table(
    link: Callable[[str], str] = lambda name: f"solutions/{name}",
    opener: Callable[[str], str] = colab_badge,
) -> str:
    """The lecture table, from the solutions' metadata and measured timings: ``link(name)``
    is where a title points, ``opener(name)`` the "open" cell (the website's differ)."""
    rows = [
        "| # | lecture | what it trains | open | fast mode (CPU) | full mode |",
        "|---|---|---|---|---|---|",
    ]
    timings = execute.timings()
    for path in solution_paths():
        nb = nbformat.read(path, as_version=4)
        mine = sorted(
            (t for t in timings if t["notebook"] == path.name), key=lambda t: t["device_type"]
        )
        fast = [_fmt(t) for t in mine if t["mode"] == "fast" and t["device_type"] == "cpu"]
        full = [_fmt(t) for t in mine if t["mode"] == "full"]
        rows.append(
            f"| {path.name[:2]} | [{title(nb)}]({link(path.name)}) | "
            f"{nb.metadata.get('dgm', {}).get('trains', '')} | {opener(path.name)} | "
            f"{'; '.join(fast) or 'not yet measured'} | {'; '.join(full) or 'not yet measured'} |"
        )
    return "\n".join(rows)


def build_lines(nb: nbformat.NotebookNode) -> int:
    """The lines a student writes in the notebook's build assignment: the nonblank lines
    between the solution markers of the answer cells in its "Build assignment" section (the
    skeleton's signatures and docstrings, which the student is given, not counted)."""
    inside, count = False, 0
    for cell in nb.cells:
        headings = [line for line in cell.source.splitlines() if line.startswith("## ")]
        if cell.cell_type == "markdown" and headings:
            inside = "Build assignment" in headings[-1]
        if not inside or cell.cell_type != "code":
            continue
        answer = False
        for line in cell.source.splitlines():
            if "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
                answer = "BEGIN" in line
            elif answer and line.strip():
                count += 1
    return count


def build_lines_table() -> str:
    """The README's count of the lines each build assignment asks the student to write."""
    counts = {p.stem: build_lines(nbformat.read(p, as_version=4)) for p in solution_paths()}
    return "\n".join(
        [
            "| " + " | ".join(["lecture", *(stem[:2] for stem in counts)]) + " |",
            "|---" * (1 + len(counts)) + "|",
            "| " + " | ".join(["lines the student writes", *map(str, counts.values())]) + " |",
        ]
    )


def _replace_between(text: str, begin: str, end: str, body: str) -> str:
    if begin not in text or end not in text:
        raise RuntimeError(f"README.md lacks the {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def readme_with_table(text: str) -> str:
    """The README with its generated tables (lectures, benchmark results) brought up to date."""
    text = _replace_between(text, TABLE_BEGIN, TABLE_END, lecture_table())
    text = _replace_between(text, LIKELIHOOD_BEGIN, LIKELIHOOD_END, records.likelihood_table())
    text = _replace_between(text, CLAIMS_BEGIN, CLAIMS_END, claims.claims_table())
    text = _replace_between(text, BUILDS_BEGIN, BUILDS_END, records.assignments_table())
    text = _replace_between(text, BUILD_LINES_BEGIN, BUILD_LINES_END, build_lines_table())
    return _replace_between(text, RESULTS_BEGIN, RESULTS_END, records.results_table())


# --------------------------------------------------------------------------- commands


def build_notebooks() -> list[Path]:
    """Write set-up cells into solutions, student notebooks and the README table."""
    NOTEBOOKS.mkdir(exist_ok=True)
    written = []
    for path in solution_paths():
        nb = nbformat.read(path, as_version=4)
        text = _dumps(with_claims(with_setup_cell(nb)))
        if path.read_text() != text:
            path.write_text(text)
            written.append(path)
            _sync_twin(path)
        target = NOTEBOOKS / path.name
        student = _dumps(student_version(nb))
        if not target.exists() or target.read_text() != student:
            target.write_text(student)
            written.append(target)
    readme = readme_with_table(README.read_text())
    if README.read_text() != readme:
        README.write_text(readme)
        written.append(README)
    return written


def problems() -> list[str]:
    """Everything generated that is out of date, in words (empty when all is in sync)."""
    found = []
    for path in solution_paths():
        nb = nbformat.read(path, as_version=4)
        if nb.cells[0].source != setup_cell_source():
            found.append(f"{path.name}: first cell is not the standard set-up cell")
        current = copy.deepcopy(nb)
        if [c.source for c in with_claims(current).cells] != [c.source for c in nb.cells]:
            found.append(f"{path.name}: a claim line differs from its verdict on the records")
        target = NOTEBOOKS / path.name
        if not target.exists():
            found.append(f"notebooks/{path.name} is missing")
        elif target.read_text() != _dumps(student_version(with_setup_cell(nb))):
            found.append(f"notebooks/{path.name} is out of date with solutions/{path.name}")
    stray = {p.name for p in NOTEBOOKS.glob("*.ipynb")} - {p.name for p in solution_paths()}
    found += [f"notebooks/{name} has no solution notebook" for name in sorted(stray)]
    if README.read_text() != readme_with_table(README.read_text()):
        found.append("README.md's generated tables (lectures, results, claims) are out of date")
    return found


def _sync_twin(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--sync", str(path)], check=True)


def sync() -> None:
    """Bring each solution notebook and its jupytext text twin in line (newest wins)."""
    for path in solution_paths():
        subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(path)], check=True)
