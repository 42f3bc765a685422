"""The grader's reports: the printed table, the long CSV, and a feedback file per student."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Row:
    """One exercise of one submission."""

    exercise: str
    grade_id: str  # the check cell's, as nbgrader names it
    points: float
    max_points: float
    reason: str
    details: str = ""
    hint: str = ""


@dataclass
class Score:
    """One graded submission."""

    student: str
    notebook: str
    rows: list[Row] = field(default_factory=list)
    written: dict[str, float] = field(default_factory=dict)  # to grade by hand: max points
    run: str = ""  # how the execution for review ended

    @property
    def points(self) -> dict[str, float]:
        return {r.grade_id: r.points for r in self.rows}

    @property
    def max_points(self) -> dict[str, float]:
        return {r.grade_id: r.max_points for r in self.rows}

    @property
    def reasons(self) -> dict[str, str]:
        return {r.exercise: r.reason for r in self.rows}

    @property
    def total(self) -> float:
        return sum(r.points for r in self.rows)

    @property
    def max_total(self) -> float:
        return sum(r.max_points for r in self.rows)


def table(scores: list[Score]) -> str:
    """One row per submission: points per exercise (with the reason when not passed), total."""
    ids = list(dict.fromkeys(r.exercise for s in scores for r in s.rows))
    header = ["student", "notebook", *ids, "total"]
    rows = []
    for s in scores:
        by = {r.exercise: r for r in s.rows}
        cells = [
            ""
            if e not in by
            else f"{by[e].points:g}/{by[e].max_points:g}"
            + ("" if by[e].reason == "passed" else f" {by[e].reason}")
            for e in ids
        ]
        rows.append([s.student, s.notebook, *cells, f"{s.total:g}/{s.max_total:g}"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


CSV_HEADER = [
    "student",
    "notebook",
    "exercise",
    "grade_id",
    "points",
    "max_points",
    "reason",
    "details",
]


def write_csv(scores: list[Score], path: str | Path) -> None:
    """One row per student, notebook and exercise; written answers as ``manual`` rows."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for s in scores:
            for r in s.rows:
                writer.writerow(
                    [
                        s.student,
                        s.notebook,
                        r.exercise,
                        r.grade_id,
                        r.points,
                        r.max_points,
                        r.reason,
                        r.details,
                    ]
                )
            for gid, points in s.written.items():
                writer.writerow(
                    [
                        s.student,
                        s.notebook,
                        gid,
                        gid,
                        "",
                        points,
                        "manual",
                        "a written answer: graded by hand",
                    ]
                )


def write_feedback(scores: list[Score], folder: Path) -> None:
    """A short text per submission: each exercise's points, reason, what failed and a hint."""
    for s in scores:
        lines = [f"{s.notebook}: {s.total:g} of {s.max_total:g} points (hidden checks)", ""]
        for r in s.rows:
            lines.append(f"{r.exercise}: {r.points:g}/{r.max_points:g}, {r.reason}")
            if r.reason != "passed":
                lines += [f"  {x}" for x in r.details.splitlines()]
                lines += [f"  hint: {x}" for x in r.hint.splitlines() if x]
        if s.written:
            lines += ["", "written answers, graded by hand: " + ", ".join(s.written)]
        if s.run and s.run != "ok":
            lines += ["", f"executing the notebook: {s.run}"]
        path = folder / s.student / (Path(s.notebook).stem + ".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
