"""The autograder scores what the checks say, per exercise, and ignores edited checks."""

import shutil
from pathlib import Path

import nbformat
import pytest

from dgm.course import grade

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    # alice hands in the worked notebook
    (folder / "alice").mkdir()
    shutil.copy(ROOT / "solutions" / "01_em.ipynb", folder / "alice" / "01_em.ipynb")
    # bob solves only the ELBO, and edits the other checks away
    bob = nbformat.read(ROOT / "notebooks" / "01_em.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / "01_em.ipynb", as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in solution.cells}
    for cell in bob.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "elbo":
            cell.source = by_id["elbo"].source
        elif grade_id and grade_id.startswith("check_") and grade_id != "check_elbo":
            cell.source = "pass  # nothing to see here"
    nbformat.write(bob, folder / "bob_01_em.ipynb")
    return {s.student: s for s in grade.grade_folder(folder)}


def test_worked_solution_earns_full_marks(scores):
    alice = scores["alice"]
    assert alice.max_total >= 9 and alice.total == alice.max_total, alice.points


def test_written_answers_are_listed_for_the_instructor_not_scored(scores):
    for student in scores.values():
        assert student.written == {"em_written": 3.0}
        assert "em_written" not in student.max_points


def test_only_the_solved_exercise_scores_and_edited_checks_are_restored(scores):
    bob = scores["bob"]
    assert bob.points["check_elbo"] == bob.max_points["check_elbo"] > 0
    assert all(v == 0 for k, v in bob.points.items() if k != "check_elbo"), bob.points


def test_table_and_csv(scores, tmp_path):
    text = grade.table(list(scores.values()))
    assert "check_m_step" in text and "alice" in text and "bob" in text
    grade.write_csv(list(scores.values()), tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text().count("\n") == 3


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(NotADirectoryError, match="not a folder"):
        grade.grade_folder(tmp_path / "nope")
