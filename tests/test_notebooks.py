"""Solutions are the source: the student notebooks, set-up cells and README follow from them.

(That each student notebook runs to the end with every exercise unsolved is tested where
the grader executes it, in its sandbox: ``test_grade_lectures.py``.)
"""

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from dgm.course import notebooks as build

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.name for p in SOLUTIONS]


def read(path):
    return nbformat.read(path, as_version=4)


def test_there_are_lectures():
    assert "01_em.ipynb" in NAMES


def test_generated_files_are_up_to_date():
    """notebooks/, the set-up cells and the README table are what `make notebooks` writes."""
    assert build.problems() == []


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_has_no_outputs_and_no_solution_code(name):
    nb = read(ROOT / "notebooks" / name)
    text = (ROOT / "notebooks" / name).read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    # and no line of a solution region survives into the student version (a line that the
    # notebook also has outside every solution region, e.g. `with torch.no_grad():`, is not
    # the solution's)
    solution = read(ROOT / "solutions" / name)
    pattern = r"### BEGIN SOLUTION\n(.*?)### END SOLUTION"
    outside = "\n".join(re.sub(pattern, "", cell.source, flags=re.S) for cell in solution.cells)
    for cell in solution.cells:
        for region in re.findall(pattern, cell.source, re.S):
            for line in region.strip().splitlines():
                if len(line.strip()) > 12 and line.strip() not in outside:
                    assert line.strip() not in text, line


@pytest.mark.parametrize("name", NAMES)
def test_each_exercise_is_followed_by_its_graded_check(name):
    cells = read(ROOT / "notebooks" / name).cells
    exercises = [
        i
        for i, c in enumerate(cells)
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]
    assert len(exercises) >= 3
    for i in exercises:
        grade_id = cells[i].metadata["nbgrader"]["grade_id"]
        assert "raise NotImplementedError()" in cells[i].source
        check = cells[i + 1]
        meta = check.metadata["nbgrader"]
        assert meta["grade"] and meta["locked"] and meta["points"] > 0
        assert meta["grade_id"] == f"check_{grade_id}"
        assert f"dgm.checks.{grade_id}(" in check.source


@pytest.mark.parametrize("name", NAMES)
def test_each_lecture_has_a_real_exercise_and_a_written_answer(name):
    """One exercise of 10-30 lines of solution code, and an nbgrader manually graded answer."""
    solution = read(ROOT / "solutions" / name)
    lengths = [
        len([line for line in region.splitlines() if line.strip()])
        for c in solution.cells
        if c.cell_type == "code"
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", c.source, re.S)
    ]
    assert any(10 <= n <= 30 for n in lengths), lengths
    student = {
        c.metadata.get("nbgrader", {}).get("grade_id"): c
        for c in read(ROOT / "notebooks" / name).cells
    }
    written = [
        c
        for c in solution.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert written, "no written question (a markdown cell with nbgrader grade and solution)"
    for cell in written:
        meta = cell.metadata["nbgrader"]
        assert meta["solution"] and not meta["locked"] and meta["points"] > 0
        assert "### BEGIN SOLUTION" in cell.source  # the model answer, for instructors
        assert student[meta["grade_id"]].source.strip() == "YOUR ANSWER HERE"


FIGURE_CALLS = ("plt.show()", "dgm.widgets.slider(", "dgm.widgets.latent_explorer(")


@pytest.mark.parametrize("name", NAMES)
def test_solution_is_committed_executed_with_every_figure(name):
    nb = read(ROOT / "solutions" / name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "execute it: make solutions"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    drawing = [c for c in code if any(call in c.source for call in FIGURE_CALLS)]
    assert len(drawing) >= 4
    for cell in drawing:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert images, (
            f"a cell that draws has no figure in the committed notebook:\n{cell.source[:200]}"
        )
    assert "mode=full" in "".join(o.get("text", "") for c in code for o in c.outputs)


@pytest.mark.parametrize("name", NAMES)
def test_first_cell_installs_on_colab_from_the_repository_and_does_nothing_here(name, monkeypatch):
    url = build.repository_url()
    assert url.startswith("https://github.com/")
    calls = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: calls.append(a))
    for folder in ("solutions", "notebooks"):
        first = read(ROOT / folder / name).cells[0]
        assert first.cell_type == "code" and f"git+{url}.git" in first.source
        exec(compile(first.source, "setup-cell", "exec"), {})
        assert calls == []  # not on Colab: nothing is installed
    assert build.colab_url(name) in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_text_twin_matches_the_solution_notebook(name):
    twin = jupytext.read(ROOT / "solutions" / name.replace(".ipynb", ".py"))
    nb = read(ROOT / "solutions" / name)
    assert [c.source for c in twin.cells] == [c.source for c in nb.cells], (
        "run: python -m dgm.course sync"
    )


def test_readme_times_come_from_measured_records():
    records = json.loads((ROOT / "benchmarks" / "results" / "notebooks.json").read_text())
    for r in records:
        assert {"notebook", "mode", "device", "device_type", "seconds", "date", "commit"} <= set(r)
        assert r["notebook"] in NAMES
    table = build.lecture_table()
    for r in records:
        if r["mode"] == "fast" and r["device_type"] == "cpu":
            assert f"{r['seconds']:.0f} s ({r['device']}" in table


@pytest.mark.parametrize("name", NAMES)
def test_fast_mode_was_measured_under_a_minute_on_cpu_and_full_mode_was_run(name):
    records = json.loads((ROOT / "benchmarks" / "results" / "notebooks.json").read_text())
    mine = [r for r in records if r["notebook"] == name]
    fast = [r for r in mine if r["mode"] == "fast" and r["device_type"] == "cpu"]
    assert fast and all(r["seconds"] < 60 for r in fast), fast
    assert any(r["mode"] == "full" for r in mine), "run: make solutions"


def test_the_build_lines_are_the_answers_inside_the_build_section():
    """Counted: nonblank lines between the markers of the build section's answer cells; not
    counted: the given skeleton, blank lines, and answers before or after the section."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    answer = "def f(x):\n    ### BEGIN SOLUTION\n    y = x\n\n    return y\n    ### END SOLUTION\n"
    nb = nbformat.v4.new_notebook(
        cells=[
            md("## 3. Exercises"),
            code(answer),
            md("## 4. Build assignment: a model\n\nText."),
            code(
                answer + "\n\ndef g():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
            ),
            md("### What to build"),
            code("x = 1  # a demo, not an answer"),
            md("## Summary"),
            code(answer),
        ]
    )
    assert build.build_lines(nb) == 3
    assert build.build_lines(nbformat.v4.new_notebook(cells=[code(answer)])) == 0
