"""The autograder's own benchmark: a class of N submissions of one lecture graded here.

Lecture 01 (the default): a third of the class is correct, a third has one wrong answer, a
third is the blank release; any other lecture: half solutions, half blank. Where the
lecture has a build assignment, one more kind of submission joins them: the solution with
a wrong build that fails the build's properties and keeps its outcome (half its points, by
the calibration record on every hidden variant). Every submission
is executed in its sandbox (fast mode, as the grader does) unless ``--no-execute``, then
checked. ``--attacks`` adds every hostile submission of ``benchmarks/attacks.py`` (lecture
01 only); the honest scores must still be exact. ``--unsafe-no-sandbox`` grades without
the operating-system layer, for its cost. Records the wall time, the time per submission
and the most sandboxed Python processes alive at once (executors and kernels, answers and
judges), sampled every 0.2 s::

    python -m benchmarks.grade --students 50 --attacks
    python -m benchmarks.grade --students 50 --unsafe-no-sandbox
    python -m benchmarks.grade --lecture 03_vae --students 4
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from benchmarks import assignments, attacks, records
from dgm.course import confine, grade, sandbox

ROOT = Path(__file__).resolve().parents[1]
WRONG_ELBO = (
    "def elbo(X, r, weights, means, covs):\n"
    "    log_joint = weights.log() + dgm.densities.mvn_log_prob(X, means, covs)\n"
    "    return (r * log_joint).sum(1)  # forgot the entropy\n"
)


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _dying(pid: int) -> bool:
    """Whether ``pid`` has a SIGKILL pending: killed with its sandbox, not yet gone."""
    status = Path(f"/proc/{pid}/status").read_text()
    masks = [line.split()[1] for line in status.splitlines() if line[:6] in ("SigPnd", "ShdPnd")]
    return any(int(m, 16) >> (signal.SIGKILL - 1) & 1 for m in masks)


def running_python() -> list[int]:
    """This grading's sandboxed processes that run Python (executors, kernels, answers,
    judges): the bubblewrap processes around them carry the same token but run nothing of
    the course, processes already killed are on their way out, and another grading's
    processes on the machine are not this one's."""
    found = []
    for pid in sandbox.processes(grader=os.getpid()):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if not comm.startswith("python") or _dying(pid):
                continue  # bwrap, or a helper such as matplotlib's fc-list
            ancestor = pid
            while ancestor > 1 and ancestor != os.getpid():
                ancestor = _parent(ancestor)
            if ancestor == os.getpid():
                found.append(pid)
        except (OSError, ValueError, IndexError):
            pass
    return found


def make_class(folder: Path, n: int, lecture: str = "01_em") -> list[float]:
    """``n`` submissions of ``lecture`` under ``folder``; return their expected totals."""
    solution = nbformat.read(ROOT / "solutions" / f"{lecture}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "notebooks" / f"{lecture}.ipynb", as_version=4)
    top = sum(e["points"] for e in grade.exercises(release))
    if lecture == "01_em":
        wrong = nbformat.from_dict(solution)
        cell = next(
            c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "elbo"
        )
        cell.source = WRONG_ELBO
        kinds = [(solution, top), (wrong, top - 2), (release, 0.0)]
    else:
        kinds = [(solution, top), (release, 0.0)]
    if lecture in assignments.ASSIGNMENTS:  # a build that earns its outcome's half only
        a = assignments.ASSIGNMENTS[lecture]
        partial = nbformat.from_dict(solution)
        cell = next(
            c for c in partial.cells if c.metadata.get("nbgrader", {}).get("grade_id") == a.grade_id
        )
        cell.source = assignments.wrong_source(a, assignments.outcome_only(a))
        points = next(e["points"] for e in grade.exercises(release) if e["grade_id"] == a.grade_id)
        kinds.append((partial, top - points / 2))
    expected = []
    for i in range(n):
        nb, total = kinds[i % len(kinds)]
        (folder / f"student{i:03d}_{lecture}.ipynb").write_text(nbformat.writes(nb))
        expected.append(total)
    return expected


def add_attacks(folder: Path, tmp: Path, bystander: int, listeners) -> dict:
    """Every attack of ``benchmarks/attacks.py`` in lecture 01; ``{student: reason}``."""
    release = nbformat.read(ROOT / "notebooks" / "01_em.ipynb", as_version=4)
    honest = folder / "student000_01_em.ipynb"
    targets = attacks.host_targets(tmp, listeners, bystander, honest)
    reasons = {}
    for name, (_, reason) in attacks.ATTACKS.items():
        nb = nbformat.from_dict(release)
        cell = next(
            c
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == "responsibilities"
        )
        cell.source = attacks.attack_source(name, targets)
        (folder / f"attack-{name}_01_em.ipynb").write_text(nbformat.writes(nb))
        reasons[f"attack-{name}"] = reason
    return reasons


def main(argv: list[str] | None = None) -> None:
    parser = records.parser("python -m benchmarks.grade", __doc__)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--lecture", default="01_em", help="NN_topic (default 01_em)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-execute", action="store_true")
    parser.add_argument("--attacks", action="store_true", help="add the hostile submissions")
    parser.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    if args.students < 3:
        raise ValueError(f"--students must be at least 3, got {args.students}")
    if not (ROOT / "solutions" / f"{args.lecture}.ipynb").exists():
        raise ValueError(f"--lecture must name a lecture like 01_em, got {args.lecture!r}")
    if args.attacks and (args.lecture != "01_em" or args.unsafe_no_sandbox):
        raise ValueError("--attacks needs --lecture 01_em and the sandbox")
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "grading"
        folder.mkdir()
        expected = make_class(folder, args.students, args.lecture)
        hostile, bystander, listeners = {}, None, None
        if args.attacks:
            bystander, listeners = subprocess.Popen(["sleep", "3600"]), attacks.Listeners()
            hostile = add_attacks(folder, Path(tmp), bystander.pid, listeners)
        peak, done = [0], threading.Event()

        def sample():
            while not done.wait(0.2):
                peak[0] = max(peak[0], len(running_python()))

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        start = time.perf_counter()
        try:
            scores = grade.grade_folder(
                folder,
                out,
                seed=1,
                jobs=args.jobs,
                execute=not args.no_execute,
                unsafe_no_sandbox=args.unsafe_no_sandbox,
            )
        finally:
            seconds = time.perf_counter() - start
            done.set()
            watcher.join()
            if bystander is not None:
                alive = bystander.poll() is None
                bystander.kill()
                listeners.close()
                attacks.kill_marked("59.5")
    by_student = {s.student: s for s in scores}
    totals = [by_student[f"student{i:03d}"].total for i in range(args.students)]
    if totals != expected:
        wrong = [
            f"student{i:03d}: {got} (expected {want}): {by_student[f'student{i:03d}'].reasons}\n"
            + "\n".join(
                f"  {r.exercise}: {r.details} | {r.hint}"
                for r in by_student[f"student{i:03d}"].rows
                if r.reason not in ("passed", "partial", "not implemented")
            )
            for i, (got, want) in enumerate(zip(totals, expected))
            if got != want
        ]
        raise RuntimeError("benchmarks.grade: unexpected scores:\n" + "\n".join(wrong))
    for student, reason in hostile.items():
        got = by_student[student].rows
        if by_student[student].total != 0 or got[1].reason != reason:
            raise RuntimeError(f"benchmarks.grade: {student} got {got[1]}")
    if hostile and (not alive or listeners.received):
        raise RuntimeError("benchmarks.grade: an attack reached outside its sandbox")
    mode = "checks only" if args.no_execute else "executed and checked"
    where = "no OS sandbox" if args.unsafe_no_sandbox else "bubblewrap"
    extra = f" + {len(hostile)} attacks" if hostile else ""
    model = f"autograder, {args.students} {args.lecture} submissions{extra} ({mode}, {where})"
    common = dict(
        paper_value=None,
        paper="-",
        epochs=0,
        train_seconds=round(seconds, 1),
        device=records.device_name(None),
        jobs=args.jobs,
        sandbox="none" if args.unsafe_no_sandbox else confine.version(),
    )
    found = [
        records.make_record(
            model=model, metric="seconds in all", value=round(seconds, 1), **common
        ),
        records.make_record(
            model=model,
            metric="seconds per submission",
            value=round(seconds / len(scores), 2),
            **common,
        ),
        records.make_record(
            model=model,
            metric="sandboxed processes alive at once (most)",
            value=peak[0],
            **common,
        ),
    ]
    records.print_table(found)
    print(f"wrote {records.write('grade', found, records.results_dir(args))}")


if __name__ == "__main__":
    main()
