"""The autograder: a score per exercise for a folder of submitted notebooks.

``python -m dgm.grade submissions/ [--out scores.csv]`` (or ``python -m dgm.course grade``)

Submissions are ``.ipynb`` files anywhere under the folder; each is matched to a lecture
by its file name (``.../alice/01_em.ipynb`` or ``alice_01_em.ipynb``). Grading follows
nbgrader's rules, so the two agree:

1. The grade cells (nbgrader metadata ``grade: true``, with ``grade_id`` and ``points``)
   are restored from the released notebook, so an edited check cell counts for nothing.
2. The notebook is executed in fast mode with ``DGM_GRADING=1``, errors allowed: in that
   mode a failing or unsolved exercise check raises ``AssertionError``.
3. A grade cell earns its points if it ran without an error.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import config
from .execute import notebook_client

LECTURE = re.compile(r"(\d\d_[A-Za-z0-9_]+?)\.ipynb$")


@dataclass
class Score:
    """One graded submission: points per grade cell (``grade_id``) and the maxima."""

    student: str
    notebook: str
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    error: str = ""
    written: dict[str, float] = field(default_factory=dict)  # to grade by hand: max points

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_points.values())


def _grade_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """The autograded cells: code cells with nbgrader's ``grade: true`` (the checks)."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")
    }


def written_answers(nb) -> dict[str, float]:
    """The manually graded answers: markdown cells with ``grade`` and ``solution``, and points.

    They are listed for the instructor, never scored here (nbgrader's "manually graded
    answer" cells), and the student's text is never replaced.
    """
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
        for c in nb.cells
        if c.cell_type == "markdown" and c.get("metadata", {}).get("nbgrader", {}).get("grade")
    }


def release_notebook(name: str, release_dir: Path | None = None) -> nbformat.NotebookNode:
    """The released (student) version of lecture ``name``, e.g. ``01_em.ipynb``."""
    root = config.repo_root() or Path.cwd()
    path = (release_dir or root / "notebooks") / name
    if not path.exists():
        raise FileNotFoundError(f"grade: no released notebook {path} to grade {name} against")
    return nbformat.read(path, as_version=4)


def grade_notebook(
    path: str | Path, release: nbformat.NotebookNode, student: str = "", timeout: int = 600
) -> Score:
    """Restore the grade cells from ``release``, execute ``path`` and score each grade cell."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    reference = _grade_cells(release)
    score = Score(student or path.stem, path.name, written=written_answers(release))
    for grade_id, cell in reference.items():
        score.max_points[grade_id] = float(cell.metadata["nbgrader"].get("points", 0))
    submitted = _grade_cells(nb)
    for grade_id, cell in submitted.items():  # a tampered check cell is put back
        if grade_id in reference:
            cell.source = reference[grade_id].source
            cell.metadata = reference[grade_id].metadata
    missing = set(reference) - set(submitted)

    saved = {k: os.environ.get(k) for k in ("DGM_GRADING", "DGM_FAST", "DGM_STATIC")}
    os.environ.update(DGM_GRADING="1", DGM_FAST="1", DGM_STATIC="1")
    try:
        client = notebook_client(nb, path.parent, timeout=timeout, allow_errors=True)
        client.execute()
    except Exception as err:  # a kernel that dies or times out scores what it reached
        score.error = f"{type(err).__name__}: {err}".splitlines()[0]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    for grade_id, cell in _grade_cells(nb).items():
        if grade_id not in reference:
            continue
        ran = cell.get("execution_count") is not None
        failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        score.points[grade_id] = score.max_points[grade_id] if ran and not failed else 0.0
    for grade_id in missing:
        score.points[grade_id] = 0.0
    return score


def grade_folder(
    folder: str | Path, release_dir: Path | None = None, timeout: int = 600
) -> list[Score]:
    """Grade every submitted notebook under ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"grade: {folder} is not a folder of submissions")
    scores = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        match = LECTURE.search(path.name)
        if not match:
            print(f"skipped {path}: its name names no lecture (NN_topic.ipynb)", file=sys.stderr)
            continue
        lecture = match.group(1) + ".ipynb"
        relative = path.relative_to(folder)
        if len(relative.parts) > 1:
            student = relative.parts[0]
        else:
            student = path.name[: match.start()].rstrip("_-") or path.stem
        scores.append(
            grade_notebook(path, release_notebook(lecture, release_dir), student, timeout)
        )
    return scores


def table(scores: list[Score]) -> str:
    """A plain-text table: one row per submission, one column per exercise, and the total."""
    ids = sorted({g for s in scores for g in s.max_points})
    header = ["student", "notebook", *ids, "total"]
    rows = [
        [
            s.student,
            s.notebook,
            *(
                f"{s.points.get(g, 0):g}/{s.max_points.get(g, 0):g}" if g in s.max_points else ""
                for g in ids
            ),
            f"{s.total:g}/{s.max_total:g}",
        ]
        for s in scores
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def write_csv(scores: list[Score], path: str | Path) -> None:
    ids = sorted({g for s in scores for g in s.max_points})
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", *ids, "total", "max_total", "error"])
        for s in scores:
            writer.writerow(
                [
                    s.student,
                    s.notebook,
                    *(s.points.get(g, "") for g in ids),
                    s.total,
                    s.max_total,
                    s.error,
                ]
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dgm.grade", description="Grade submitted notebooks."
    )
    parser.add_argument("folder", type=Path, help="folder of submitted .ipynb files")
    parser.add_argument(
        "--release", type=Path, default=None, help="released notebooks (default notebooks/)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="also write the scores to this CSV file"
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    scores = grade_folder(args.folder, args.release, args.timeout)
    print(table(scores))
    written = {(s.notebook, g): p for s in scores for g, p in s.written.items()}
    if written:
        print("\nwritten answers, to grade by hand (not in the totals):")
        for (notebook, grade_id), points in sorted(written.items()):
            print(f"  {notebook} {grade_id} ({points:g} points)")
    for s in scores:
        if s.error:
            print(f"{s.student}/{s.notebook}: {s.error}", file=sys.stderr)
    if args.out:
        write_csv(scores, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
