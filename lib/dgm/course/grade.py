"""The autograder: a score, a reason and feedback per exercise for a folder of submissions.

``python -m dgm.grade SUBMISSIONS [--out grading/] [--seed 1] [--jobs 2]``

Submissions are ``.ipynb`` files under the folder, matched to a lecture by file name
(``alice/01_em.ipynb`` or ``alice_01_em.ipynb``). Every file is read into memory first,
so nothing a submission does can change what is graded after it. Then, for each one, in
its own temporary folder (``dgm.course.sandbox``: limits, no network, nothing writable
outside that folder):

1. **Execution, for review.** The check cells are restored from the release notebook
   (edited ones put back, duplicates and invented ones dropped), and the notebook is
   executed in fast mode with a time limit per cell and per notebook. The executed
   notebook is kept under ``OUT/executed/``; it earns nothing by itself.
2. **Scores.** The answer cells (nbgrader ``solution`` cells, ``grade_id`` = the function's
   name) go to ``dgm.course.checker``, a fresh process running the course's own checks
   from a private copy of the library, in a hidden variant (other seeds, hence other
   inputs, ``--seed``) with a time limit per exercise. Points come from the release's
   nbgrader metadata (``points`` of each ``check_<name>`` cell).

Each exercise gets a reason: passed, wrong, not implemented, error, timeout, missing or
tampered. Written answers (manually graded nbgrader cells) are listed as "manual" rows,
not scored. Output: ``OUT/scores.csv`` (one row per student, notebook and exercise),
``OUT/feedback/<student>/<notebook>.txt`` and the table printed.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import queue
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import config
from . import checker, sandbox
from .report import Row, Score, table, write_csv, write_feedback

LECTURE = re.compile(r"(\d\d_[A-Za-z][A-Za-z0-9_]*?)\.ipynb$")  # NN_topic: a letter after NN_
REASONS = ("passed", "wrong", "not implemented", "error", "timeout", "missing", "tampered")


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises(release) -> list[dict]:
    """``[{grade_id, check_id, check, points}]``: the autograded exercises, in order."""
    found = []
    for cell in release.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        call = ast.parse(cell.source).body[0].value  # name = dgm.checks.<...>(name)
        found.append(
            {
                "grade_id": call.args[0].id,
                "check_id": meta["grade_id"],
                "check": ast.unparse(call.func),
                "points": float(meta.get("points", 0)),
            }
        )
    return found


def written_answers(nb) -> dict[str, float]:
    """The manually graded answers (nbgrader markdown cells with ``grade``), and points."""
    return {
        _nbgrader(c)["grade_id"]: float(_nbgrader(c).get("points", 0))
        for c in nb.cells
        if c.cell_type == "markdown" and _nbgrader(c).get("grade")
    }


def imports(release) -> str:
    """The release notebook's top-level imports: the namespace the answers may use."""
    lines = []
    for cell in release.cells:
        if cell.cell_type != "code" or _nbgrader(cell).get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        lines += [ast.unparse(s) for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(lines))


def answers(nb, grade_id: str) -> list[str] | None:
    """The answer cell(s) of an exercise: by ``grade_id``, else a cell defining the function."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c.source for c in cells if _nbgrader(c).get("grade_id") == grade_id]
    if tagged:
        return tagged[-1:]
    for c in cells:
        try:
            tree = ast.parse(c.source)
        except SyntaxError:
            continue
        if any(isinstance(s, ast.FunctionDef) and s.name == grade_id for s in tree.body):
            return [c.source]
    return None


def restore_checks(nb, release):
    """The submission with the release's check cells: edited ones restored, others dropped."""
    reference = {_nbgrader(c)["grade_id"]: c for c in release.cells if _nbgrader(c).get("grade")}
    cells, seen = [], set()
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if _nbgrader(cell).get("grade") or gid in reference:
            if gid not in reference or gid in seen:
                continue  # an invented or duplicated check cell
            seen.add(gid)
            if reference[gid].cell_type == "code":
                cell = nbformat.from_dict(dict(reference[gid], outputs=[], execution_count=None))
        cells.append(cell)
    nb.cells = cells
    return nb


@dataclass
class Options:
    release: dict  # lecture file name -> release notebook
    out: Path
    library: Path  # the grader's private copy of lib/
    private: list[str]
    seed: int = 1
    cell_timeout: int = 120
    notebook_timeout: int = 600
    exercise_timeout: int = 60
    memory_mb: int = 4096
    execute: bool = True


def _execute(nb, folder: Path, token: str, name: str, opt: Options) -> tuple[str, object]:
    path, out = folder / name, folder / f"executed-{name}"
    path.write_text(nbformat.writes(nb))
    cmd = [sys.executable, "-m", "dgm.course.sandbox", "execute", str(path), "--out", str(out)]
    cmd += ["--root", str(folder), "--cell-timeout", str(opt.cell_timeout)]
    cmd += [a for p in opt.private for a in ("--private", p)]
    proc = subprocess.Popen(
        cmd,
        cwd=folder,
        env=sandbox.environment(folder, token),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=sandbox.limit_memory(opt.memory_mb),
        start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(timeout=opt.notebook_timeout)

        run = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
        status = run.get("status", f"the execution ended with code {proc.returncode}")
        if run.get("message"):
            status += f": {run['message']}"
    except subprocess.TimeoutExpired:
        status = f"stopped after the notebook's limit of {opt.notebook_timeout} s"
    except ValueError:
        status = "the execution ended without a report"
    finally:
        proc.kill()
        sandbox.kill_all(token)
    executed = None
    if out.exists():
        try:
            executed = nbformat.reads(out.read_text(), as_version=4)
        except Exception:  # noqa: BLE001  (a notebook the kernel mangled is not kept)
            executed = None
    return status, executed


def _check(nb, release, folder: Path, token: str, opt: Options) -> dict[str, dict]:
    """Run the checker until every exercise has a verdict; ``{grade_id: verdict}``."""
    jobs = exercises(release)
    for ex in jobs:
        ex["sources"] = answers(nb, ex["grade_id"])
    verdicts: dict[str, dict] = {}
    key = secrets.token_bytes(32)
    while len(verdicts) < len(jobs):
        job = {
            "key": key.hex(),
            "variant": opt.seed,
            "root": str(folder),
            "private": opt.private,
            "imports": imports(release),
            "skip": list(verdicts),
            "exercises": [{k: ex[k] for k in ("grade_id", "check", "sources")} for ex in jobs],
        }
        verdicts.update(_one_checker(job, key, folder, token, opt, verdicts))
    return verdicts


def _one_checker(job, key, folder, token, opt, done) -> dict[str, dict]:

    errors = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", checker.BOOT.format(lib=str(opt.library))],
        cwd=folder,
        env=sandbox.environment(folder, token),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        preexec_fn=sandbox.limit_memory(opt.memory_mb),
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)]).start()
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.close()
    found, current, deadline = {}, None, time.monotonic() + 120  # start-up: import torch
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                if current:
                    found[current] = {
                        "status": "timeout",
                        "hint": "",
                        "details": f"still running after {opt.exercise_timeout} s",
                    }
                break
            if line is None:
                break
            msg = checker.verify(key, line)
            if msg is None:
                continue  # printed by the submission, or forged
            if msg["event"] == "start":
                current, deadline = msg["grade_id"], time.monotonic() + opt.exercise_timeout
            elif msg["event"] == "result":
                found[msg["grade_id"]] = msg
                current, deadline = None, time.monotonic() + opt.exercise_timeout
            elif msg["event"] == "done":
                break
    finally:
        proc.kill()
        proc.wait()
    if current and current not in found:
        code = proc.returncode
        why = "it ran out of memory or was killed" if code and code < 0 else f"exit code {code}"
        found[current] = {
            "status": "error",
            "hint": "",
            "details": f"the grader's process died ({why})",
        }
    if not found:  # the checker failed before any exercise: say why, once for all
        errors.seek(0)
        tail = errors.read().strip().splitlines()[-1:] or ["no message"]
        for ex in job["exercises"]:
            if ex["grade_id"] not in done:
                found[ex["grade_id"]] = {
                    "status": "error",
                    "hint": "",
                    "details": f"the checker failed: {tail[0]}",
                }
    return found


def grade_submission(student: str, name: str, data: bytes, opt: Options) -> Score:
    """Grade one submission (its bytes, read beforehand) of lecture ``name``."""
    release = opt.release[name]
    score = Score(student, name, written=written_answers(release))
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nb.cells  # noqa: B018  (a JSON file that is no notebook fails here)
    except Exception as err:  # noqa: BLE001
        why = f"not a valid notebook: {type(err).__name__}: {str(err)[:120]}"
        for ex in exercises(release):
            score.rows.append(Row(ex["grade_id"], ex["check_id"], 0.0, ex["points"], "error", why))
        return score
    folder = Path(tempfile.mkdtemp(prefix="dgm-submission-"))
    token = secrets.token_hex(12)
    try:
        if opt.execute:
            status, executed = _execute(
                restore_checks(nb.copy(), release), folder, token, name, opt
            )
            score.run = status
            if executed is not None:
                target = opt.out / "executed" / student / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(nbformat.writes(executed))
        verdicts = _check(nb, release, folder, token, opt)
    finally:
        sandbox.kill_all(token)
        shutil.rmtree(folder, ignore_errors=True)
    for ex in exercises(release):
        v = verdicts[ex["grade_id"]]
        points = ex["points"] if v["status"] == "passed" else 0.0
        score.rows.append(
            Row(
                ex["grade_id"],
                ex["check_id"],
                points,
                ex["points"],
                v["status"],
                v["details"],
                v["hint"],
            )
        )
    return score


def _submissions(folder: Path) -> list[tuple[str, str, Path]]:
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        match = LECTURE.search(path.name)
        if not match:
            print(f"skipped {path}: its name names no lecture (NN_topic.ipynb)", file=sys.stderr)
            continue
        relative = path.relative_to(folder)
        student = (
            relative.parts[0]
            if len(relative.parts) > 1
            else (path.name[: match.start()].rstrip("_-") or path.stem)
        )
        found.append((student, match.group(1) + ".ipynb", path))
    return found


def _library_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def grade_folder(
    folder: str | Path,
    out: str | Path | None = None,
    release_dir: str | Path | None = None,
    seed: int = 1,
    jobs: int = 2,
    **limits,
) -> list[Score]:
    """Grade every submission under ``folder``; write ``out`` (CSV, feedback, executed)."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise NotADirectoryError(f"grade: {folder} is not a folder of submissions")
    if not isinstance(seed, int) or seed < 1:
        raise ValueError(f"grade: seed must be an int >= 1 (0 is the visible checks), got {seed!r}")
    out = Path(out or Path.cwd() / "grading").resolve()
    if sandbox._inside(str(out), str(folder)):
        raise ValueError(f"grade: out ({out}) must not be inside the submissions ({folder})")
    release_dir = Path(release_dir or (config.repo_root() or Path.cwd()) / "notebooks").resolve()
    found = _submissions(folder)
    data = {path: path.read_bytes() for _, _, path in found}  # all read before any runs
    release = {}
    for name in {n for _, n, _ in found}:
        if not (release_dir / name).exists():
            raise FileNotFoundError(f"grade: no released notebook {release_dir / name}")
        release[name] = nbformat.read(release_dir / name, as_version=4)
    private = Path(tempfile.mkdtemp(prefix="dgm-grader-"))
    package = Path(checker.__file__).resolve().parents[1]  # .../dgm
    shutil.copytree(package, private / "lib" / "dgm", ignore=shutil.ignore_patterns("__pycache__"))
    digest = _library_digest(package)
    out.mkdir(parents=True, exist_ok=True)
    opt = Options(
        release, out, private / "lib", [str(folder), str(out), str(private)], seed, **limits
    )
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            scores = list(pool.map(lambda s: grade_submission(s[0], s[1], data[s[2]], opt), found))
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if _library_digest(package) != digest:
        raise RuntimeError(f"grade: the course library {package} changed during grading")
    write_csv(scores, out / "scores.csv")
    write_feedback(scores, out / "feedback")
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm.grade", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="folder of submitted .ipynb files")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default grading/)")
    parser.add_argument(
        "--release", type=Path, default=None, help="released notebooks (default notebooks/)"
    )
    parser.add_argument("--seed", type=int, default=1, help="the hidden checks' variant (>= 1)")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    parser.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook")
    parser.add_argument("--exercise-timeout", type=int, default=60, help="seconds per check")
    parser.add_argument("--memory", type=int, default=4096, help="MB per process")
    parser.add_argument("--no-execute", action="store_true", help="score only, no executed copy")
    a = parser.parse_args(argv)
    scores = grade_folder(
        a.folder,
        a.out,
        a.release,
        a.seed,
        a.jobs,
        cell_timeout=a.cell_timeout,
        notebook_timeout=a.notebook_timeout,
        exercise_timeout=a.exercise_timeout,
        memory_mb=a.memory,
        execute=not a.no_execute,
    )
    print(table(scores))
    written = {(s.notebook, g): p for s in scores for g, p in s.written.items()}
    if written:
        print("\nwritten answers, to grade by hand (not in the totals):")
        for (notebook, grade_id), points in sorted(written.items()):
            print(f"  {notebook} {grade_id} ({points:g} points)")
    print(f"\nscores, feedback and executed notebooks in {(a.out or Path('grading')).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
