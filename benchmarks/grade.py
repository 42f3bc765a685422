"""The autograder's own benchmark: a class of N lecture-01 submissions graded on this machine.

A third of the class is correct, a third has one wrong answer, a third is the blank release;
every submission is executed in its sandbox (fast mode, as the grader does) unless
``--no-execute``, then checked. Records the wall time, the time per submission and the most
sandboxed processes alive at once (kernels and checkers), sampled every 0.2 s::

    python -m benchmarks.grade --students 200 --jobs 2
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from benchmarks import records
from dgm.course import grade, sandbox

ROOT = Path(__file__).resolve().parents[1]
WRONG_ELBO = (
    "def elbo(X, r, weights, means, covs):\n"
    "    log_joint = weights.log() + dgm.densities.mvn_log_prob(X, means, covs)\n"
    "    return (r * log_joint).sum(1)  # forgot the entropy\n"
)


def make_class(folder: Path, n: int) -> None:
    """``n`` submissions of lecture 01 under ``folder``: correct, one wrong answer, blank."""
    solution = nbformat.read(ROOT / "solutions" / "01_em.ipynb", as_version=4)
    release = nbformat.read(ROOT / "notebooks" / "01_em.ipynb", as_version=4)
    wrong = nbformat.from_dict(solution)
    cell = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "elbo")
    cell.source = WRONG_ELBO
    kinds = [nbformat.writes(solution), nbformat.writes(wrong), nbformat.writes(release)]
    for i in range(n):
        (folder / f"student{i:03d}_01_em.ipynb").write_text(kinds[i % 3])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grade", description=__doc__)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-execute", action="store_true")
    parser.add_argument("--results", type=Path, default=records.RESULTS)
    args = parser.parse_args(argv)
    if args.students < 3:
        raise ValueError(f"--students must be at least 3, got {args.students}")
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "grading"
        folder.mkdir()
        make_class(folder, args.students)
        peak, done = [0], threading.Event()

        def sample():
            while not done.wait(0.2):
                peak[0] = max(peak[0], len(sandbox.processes()))

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        start = time.perf_counter()
        scores = grade.grade_folder(folder, out, jobs=args.jobs, execute=not args.no_execute)
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
    totals = [s.total for s in scores]
    expected = [12.0, 10.0, 0.0] * (args.students // 3) + [12.0, 10.0][: args.students % 3]
    if totals != expected:
        raise RuntimeError(f"benchmarks.grade: unexpected scores {sorted(set(totals))}")
    mode = "checks only" if args.no_execute else "executed and checked"
    common = dict(
        paper_value=None,
        paper="-",
        epochs=0,
        train_seconds=round(seconds, 1),
        device=records.device_name(None),
        jobs=args.jobs,
    )
    found = [
        records.make_record(
            model=f"autograder, {args.students} lecture-01 submissions ({mode})",
            metric="seconds in all",
            value=round(seconds, 1),
            **common,
        ),
        records.make_record(
            model=f"autograder, {args.students} lecture-01 submissions ({mode})",
            metric="sandboxed processes alive at once (most)",
            value=peak[0],
            **common,
        ),
    ]
    records.print_table(found)
    print(f"wrote {records.write('grade', found, args.results)}")


if __name__ == "__main__":
    main()
