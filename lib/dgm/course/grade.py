"""The autograder: a score, a reason and feedback per exercise for a folder of submissions.

``python -m dgm.grade SUBMISSIONS [--out grading/] [--seed N] [--jobs 2]``

Submissions are ``.ipynb`` files under the folder, matched to a lecture by file name
(``alice/01_em.ipynb`` or ``alice_01_em.ipynb``); links are skipped. Every file is read
into memory first, so nothing a submission does can change what is graded after it. Then,
for each one, in its own temporary folder, every process that runs its code confined by
the operating system (``dgm.course.confine``: bubblewrap namespaces, limits set from
outside; the grader refuses to run without it unless ``--unsafe-no-sandbox``) and watched
by an audit hook (``dgm.course.sandbox``):

1. **Execution, for review.** The check cells are restored from the release notebook
   (edited ones put back, duplicates and invented ones dropped), and the notebook is
   executed in fast mode with a time limit per cell and per notebook. The executed
   notebook is kept under ``OUT/executed/``; it earns nothing by itself.
2. **Scores.** The answer cells (nbgrader ``solution`` cells, ``grade_id`` = the function's
   name) go to ``dgm.course.checker``, a fresh process running the course's own checks
   on them in a hidden variant (other seeds, hence other inputs; ``--seed``, secret and
   random by default) with a time limit per exercise, and recording every call of the
   student's function; ``dgm.course.judge``, a process that never runs student code,
   replays the recording through the same checks and gives the verdict. Both load the
   library from a private copy (verified after each submission). Points come from the
   release's nbgrader metadata (``points`` of each ``check_<name>`` cell).

Each exercise gets a reason: passed, wrong, not implemented, error, timeout, missing or
tampered. Written answers (manually graded nbgrader cells) are listed as "manual" rows,
not scored. Output: ``OUT/scores.csv`` (one row per student, notebook and exercise),
``OUT/feedback/<student>/<notebook>.txt``, ``OUT/grading.json`` (the seed, the sandbox
and its limits) and the table printed.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import hmac
import json
import os
import queue
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from .. import config
from . import checker, confine, judge, sandbox
from .report import Row, Score, table, write_csv, write_feedback

LECTURE = re.compile(r"(\d\d_[A-Za-z][A-Za-z0-9_]*?)\.ipynb$")  # NN_topic: a letter after NN_
MAX_NOTEBOOK = 64 * 2**20  # an executed notebook larger than this is not kept
REASONS = (
    "passed",
    "partial",
    "wrong",
    "not implemented",
    "error",
    "timeout",
    "missing",
    "tampered",
)


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
    confined: bool = True  # bubblewrap around every process that runs student code
    readable: tuple = ()  # what a confined process may read beside Python and dgm (MNIST)
    library_changed: Callable[[], bool] = lambda: False  # checked after each submission

    @property
    def limits(self) -> confine.Limits:
        return confine.Limits(memory_mb=self.memory_mb)


class Lines:
    """The lines a child writes on a pipe, read by a daemon thread, within bounds.

    A line longer than ``line_max`` bytes is dropped; after ``total_max`` bytes the reading
    stops (``overflow``), so no output can fill the grader's memory, and a process that
    keeps the pipe open (a detached child) cannot keep the grader waiting on this thread.
    """

    def __init__(self, stream, line_max: int = 2**16, total_max: int = 2**24):
        self.queue: queue.Queue = queue.Queue()
        self.overflow = False
        self._args = (stream.fileno(), line_max, total_max)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fd, line_max, total_max = self._args
        buf, total, skipping = b"", 0, False
        try:
            while chunk := os.read(fd, 2**16):
                total += len(chunk)
                buf += chunk
                *complete, buf = buf.split(b"\n")
                for line in complete:
                    if not skipping and len(line) <= line_max:
                        self.queue.put(line.decode("utf-8", "replace"))
                    skipping = False
                if len(buf) > line_max:
                    buf, skipping = b"", True
                if total > total_max:
                    self.overflow = True
                    break
        except OSError:
            pass
        self.queue.put(None)

    def get(self, timeout: float) -> str | None:
        """The next line (``None`` at the end); ``queue.Empty`` after ``timeout`` s."""
        return self.queue.get(timeout=max(0.01, timeout))


def _start(argv, folder: Path, token: str, opt: Options, readable=(), passed=(), **popen):
    """Start ``argv`` for a submission: confined (unless unsafe), limited, in ``folder``
    (of which only the ``passed`` files are shared with the host)."""
    groups = None
    if opt.confined:
        groups = confine.Cgroups(f"{token}-{secrets.token_hex(4)}", opt.limits)
        argv = confine.command(argv, folder, [*opt.readable, *readable], opt.limits, passed)
    proc = subprocess.Popen(
        confine.launch(argv, opt.limits, groups),
        cwd=folder,
        env=sandbox.environment(folder, token),
        start_new_session=True,
        **popen,
    )
    return proc, groups


def _stop(proc, groups, token: str) -> None:
    """Kill a submission's process and everything it started; remove its cgroups."""
    proc.kill()
    proc.wait()
    sandbox.kill_all(token)  # the unconfined case: found by the token in their environment
    if groups is not None:
        groups.close()


def read_regular(path: Path, max_bytes: int) -> bytes | None:
    """A plain file written by a submission (no symlink followed), if at most ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO: no wait
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(max_bytes + 1)[:max_bytes]
    finally:
        os.close(fd)


def _execute(nb, folder: Path, token: str, name: str, opt: Options) -> tuple[str, object]:
    path, out = folder / name, folder / f"executed-{name}"
    path.write_text(nbformat.writes(nb))
    out.touch()  # bound into the sandbox: the only file it writes on the host
    cmd = [sys.executable, "-m", "dgm.course.sandbox", "execute", str(path), "--out", str(out)]
    cmd += ["--root", str(folder), "--cell-timeout", str(opt.cell_timeout)]
    cmd += [a for p in opt.private for a in ("--private", p)]
    proc, groups = _start(
        cmd,
        folder,
        token,
        opt,
        passed=[path.name, out.name],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    lines, last = Lines(proc.stdout), ""
    deadline = time.monotonic() + opt.notebook_timeout
    status = None
    try:
        while True:
            try:
                line = lines.get(deadline - time.monotonic())
            except queue.Empty:
                status = f"stopped after the notebook's limit of {opt.notebook_timeout} s"
                break
            if line is None:
                break
            last = line if line.strip() else last
    finally:
        _stop(proc, groups, token)
    if status is None:
        try:
            run = json.loads(last) if last else {}
            status = run.get("status", f"the execution ended with code {proc.returncode}")
            if run.get("message"):
                status += f": {run['message']}"
        except (ValueError, AttributeError):
            status = "the execution ended without a report"
    executed, data = None, read_regular(out, MAX_NOTEBOOK)
    if data is None and os.path.lexists(out):
        size = MAX_NOTEBOOK // 2**20
        status += f" (the executed notebook was not kept: not a plain file of at most {size} MB)"
    if data is not None:
        try:
            executed = nbformat.reads(data.decode("utf-8"), as_version=4)
        except Exception:  # noqa: BLE001  (a notebook the kernel mangled is not kept)
            executed = None
    return status, executed


def variant(seed: int, student: str, name: str) -> int:
    """The hidden variant of one submission: from the grading's seed, the student and the
    lecture, so the process that runs a submission learns its own variant, never the seed."""
    digest = hmac.new(str(seed).encode(), f"{student}/{name}".encode(), hashlib.sha256)
    return 1 + int.from_bytes(digest.digest()[:8], "big") % (2**31 - 2)


def _check(nb, release, folder: Path, token: str, opt: Options, variant: int) -> dict[str, dict]:
    """Run the answers and the judge until every exercise has a verdict; ``{grade_id: ...}``."""
    jobs = exercises(release)
    for ex in jobs:
        ex["sources"] = answers(nb, ex["grade_id"])
    verdicts: dict[str, dict] = {}
    while len(verdicts) < len(jobs):
        job = {
            "variant": variant,
            "skip": list(verdicts),
            "exercises": [{k: ex[k] for k in ("grade_id", "check")} for ex in jobs],
            "answers": {  # passed on by the judge to the process that runs the answers
                "variant": variant,
                "root": str(folder),
                "private": opt.private,
                "imports": imports(release),
                "skip": list(verdicts),
                "exercises": [{k: ex[k] for k in ("grade_id", "check", "sources")} for ex in jobs],
            },
        }
        verdicts.update(_one_pair(job, folder, token, opt, verdicts))
    return verdicts


def _one_pair(job, folder, token, opt, done) -> dict[str, dict]:
    """One answers process and its judge, until they stop; the verdicts they gave."""
    to_answers_r, to_answers_w = os.pipe()
    from_answers_r, from_answers_w = os.pipe()
    errors = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]  # capped by RLIMIT_FSIZE
    boot = [sys.executable, "-I", "-c"]
    answers, answer_groups = _start(
        [*boot, checker.BOOT.format(lib=str(opt.library))],
        folder,
        token,
        opt,
        readable=[opt.library],
        stdin=to_answers_r,
        stdout=from_answers_w,
        stderr=errors[0],
    )
    os.close(to_answers_r)
    os.close(from_answers_w)
    bench = Path(f"{folder}-judge")
    bench.mkdir(exist_ok=True)
    try:
        judge_proc, judge_groups = _start(
            [*boot, judge.BOOT.format(lib=str(opt.library))],
            bench,
            token,
            opt,
            readable=[opt.library],
            pass_fds=(to_answers_w, from_answers_r),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors[1],
        )
    finally:
        os.close(to_answers_w)
        os.close(from_answers_r)
    lines = Lines(judge_proc.stdout)
    try:
        job = {**job, "to_answers": to_answers_w, "from_answers": from_answers_r}
        judge_proc.stdin.write((json.dumps(job) + "\n").encode())
        judge_proc.stdin.close()
    except OSError:
        pass  # it died at once: said below
    found, current, deadline = {}, None, time.monotonic() + 120  # start-up: import torch
    try:
        while True:
            try:
                line = lines.get(deadline - time.monotonic())
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
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg["event"] == "start":
                current, deadline = msg["grade_id"], time.monotonic() + opt.exercise_timeout
            elif msg["event"] == "result":
                found[msg["grade_id"]] = {k: msg[k] for k in ("status", "details", "hint")}
                found[msg["grade_id"]]["share"] = _share(msg)
                current, deadline = None, time.monotonic() + opt.exercise_timeout
            elif msg["event"] == "done":
                break
    finally:
        _stop(judge_proc, judge_groups, token)
        _stop(answers, answer_groups, token)
        shutil.rmtree(bench, ignore_errors=True)
    if current and current not in found:
        code = judge_proc.returncode
        why = "it ran out of memory or was killed" if code and code < 0 else f"exit code {code}"
        found[current] = {
            "status": "error",
            "hint": "",
            "details": f"the grader's process died ({why})",
        }
    if not found:  # the pair failed before any exercise: say why, once for all
        tail = []
        for f in reversed(errors):
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            tail = tail or f.read().decode("utf-8", "replace").strip().splitlines()[-1:]
        for ex in job["exercises"]:
            if ex["grade_id"] not in done:
                found[ex["grade_id"]] = {
                    "status": "error",
                    "hint": "",
                    "details": f"the checker failed: {(tail or ['no message'])[0]}",
                }
    for f in errors:
        f.close()
    return found


def _share(msg: dict) -> float:
    """The share of an exercise's points the judge gave: a build assignment's parts score
    apart (``partial``); every other verdict is all or nothing."""
    if msg["status"] == "passed":
        return 1.0
    share = msg.get("share")
    if msg["status"] != "partial" or type(share) is not float or not 0 < share < 1:
        return 0.0
    return share


def grade_submission(student: str, name: str, data: bytes, opt: Options) -> Score:
    """Grade one submission (its bytes, read beforehand) of lecture ``name``."""
    release = opt.release[name]
    score = Score(student, name, written=written_answers(release))
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nb.cells  # noqa: B018  (a JSON file that is no notebook fails here)
    except Exception as err:  # noqa: BLE001
        why = f"not a valid notebook: {type(err).__name__}: {str(err)[:120]}"
        return _all_rows(score, release, "error", why)
    folder = Path(tempfile.mkdtemp(prefix="dgm-submission-"))
    token = sandbox.token()
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
        verdicts = _check(nb, release, folder, token, opt, variant(opt.seed, student, name))
    finally:
        sandbox.kill_all(token)
        shutil.rmtree(folder, ignore_errors=True)
    if opt.library_changed():
        why = "the grader's copy of the library changed while this submission was graded"
        return _all_rows(score, release, "tampered", why)
    for ex in exercises(release):
        v = verdicts[ex["grade_id"]]
        points = ex["points"] * (1.0 if v["status"] == "passed" else v.get("share", 0.0))
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


def _all_rows(score: Score, release, status: str, why: str) -> Score:
    for ex in exercises(release):
        score.rows.append(Row(ex["grade_id"], ex["check_id"], 0.0, ex["points"], status, why))
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
        if path.is_symlink() or not sandbox._inside(str(path.resolve()), str(folder.resolve())):
            print(f"skipped {path}: a link, not a submitted file", file=sys.stderr)
            continue
        relative = path.relative_to(folder)
        student = (
            relative.parts[0]
            if len(relative.parts) > 1
            else (path.name[: match.start()].rstrip("_-") or path.stem)
        )
        found.append((student, match.group(1) + ".ipynb", path))
    return found


def library_digest(root: Path) -> str:
    """A SHA-256 over every file under ``root`` (names and bytes), ``__pycache__`` aside."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.parts or p.is_dir():
            continue
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.readlink().as_posix().encode() if p.is_symlink() else p.read_bytes())
    return h.hexdigest()


class PrivateLibrary:
    """The grader's copy of ``dgm`` that the checker runs, verified after each submission.

    A copy found changed marks the submission graded while it changed (``tampered``) and is
    made again, so one submission's tampering stops no other's grading.
    """

    def __init__(self, package: Path):
        self.package = package
        self.root = Path(tempfile.mkdtemp(prefix="dgm-grader-"))
        self.lib = self.root / "lib"
        self.lock = threading.Lock()
        self._copy()

    def _copy(self) -> None:
        shutil.rmtree(self.lib, ignore_errors=True)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(self.package, self.lib / "dgm", ignore=ignore, symlinks=True)
        self.digest = library_digest(self.lib)

    def changed(self) -> bool:
        """Whether the copy changed since it was made (it is then made again)."""
        with self.lock:
            if library_digest(self.lib) == self.digest:
                return False
            self._copy()
            return True

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def grade_folder(
    folder: str | Path,
    out: str | Path | None = None,
    release_dir: str | Path | None = None,
    seed: int | None = None,
    jobs: int = 2,
    unsafe_no_sandbox: bool = False,
    **limits,
) -> list[Score]:
    """Grade every submission under ``folder``; write ``out`` (CSV, feedback, executed).

    Parameters
    ----------
    folder : path
        The submitted notebooks (``alice/01_em.ipynb`` or ``alice_01_em.ipynb``).
    out : path, optional
        Where the results go (default ``grading/``); not inside ``folder``.
    release_dir : path, optional
        The released notebooks (default the repository's ``notebooks/``).
    seed : int, optional
        The hidden checks' variant (>= 1). Default: a secret random one, written in
        ``OUT/grading.json`` so the grading can be repeated.
    jobs : int
        Submissions graded at once.
    unsafe_no_sandbox : bool
        Grade even where bubblewrap cannot confine the student code (macOS, no user
        namespaces), with only the Python-level checks: a hostile submission can then read
        and change what the grader can. Said in ``grading.json`` and the printed report.
    **limits
        ``cell_timeout``, ``notebook_timeout``, ``exercise_timeout`` (s), ``memory_mb``,
        ``execute`` (False: scores only).
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise NotADirectoryError(f"grade: {folder} is not a folder of submissions")
    if seed is None:
        seed = secrets.randbelow(2**31 - 2) + 1
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 1:
        raise ValueError(f"grade: seed must be an int >= 1 (0 is the visible checks), got {seed!r}")
    out = Path(out or Path.cwd() / "grading").resolve()
    if sandbox._inside(str(out), str(folder)):
        raise ValueError(f"grade: out ({out}) must not be inside the submissions ({folder})")
    why = confine.unavailable()
    if why and not unsafe_no_sandbox:
        raise RuntimeError(
            f"grade: student code cannot be confined on this machine: {why}. Grade on Linux "
            "with bubblewrap, or pass --unsafe-no-sandbox (unsafe_no_sandbox=True) to grade "
            "with the Python-level checks only, where a hostile submission can read and "
            "change any file the grader can."
        )
    release_dir = Path(release_dir or (config.repo_root() or Path.cwd()) / "notebooks").resolve()
    found = _submissions(folder)
    data = {path: _read_submission(path) for _, _, path in found}  # all read before any runs
    release = {}
    for name in {n for _, n, _ in found}:
        if not (release_dir / name).exists():
            raise FileNotFoundError(f"grade: no released notebook {release_dir / name}")
        release[name] = nbformat.read(release_dir / name, as_version=4)
    package = Path(checker.__file__).resolve().parents[1]  # .../dgm
    digest = library_digest(package)
    library = PrivateLibrary(package)
    out.mkdir(parents=True, exist_ok=True)
    readable = [config.data_dir()] if config.data_dir().is_dir() else []
    opt = Options(
        release,
        out,
        library.lib,
        [str(folder), str(out), str(library.root)],
        seed,
        confined=why is None,
        readable=tuple(readable),
        library_changed=library.changed,
        **limits,
    )
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            scores = list(pool.map(lambda s: grade_submission(s[0], s[1], data[s[2]], opt), found))
    finally:
        library.remove()
    write_csv(scores, out / "scores.csv")
    write_feedback(scores, out / "feedback")
    manifest = {
        "seed": seed,
        "sandbox": confine.version() if why is None else f"none (--unsafe-no-sandbox: {why})",
        "limits": asdict(opt.limits),
        "process_cap": confine.process_cap(opt.limits) if why is None else "none",
        "submissions": len(found),
        "library_changed": library_digest(package) != digest,
    }
    (out / "grading.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if manifest["process_cap"] == "none":
        print(
            "grade: WARNING: nothing capped the processes, memory and CPU of each submission "
            "as a whole here (no writable cgroup, and root ignores RLIMIT_NPROC): a "
            "submission could slow the others",
            file=sys.stderr,
        )
    if manifest["library_changed"]:
        print(
            f"grade: WARNING: the course library {package} changed during grading", file=sys.stderr
        )
    return scores


def _read_submission(path: Path) -> bytes:
    """A submitted file's bytes, not following a link put there after it was listed."""
    data = read_regular(path, MAX_NOTEBOOK)
    return b"" if data is None else data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm.grade", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="folder of submitted .ipynb files")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default grading/)")
    parser.add_argument(
        "--release", type=Path, default=None, help="released notebooks (default notebooks/)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="the hidden checks' variant (>= 1; default secret)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    parser.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook")
    parser.add_argument("--exercise-timeout", type=int, default=60, help="seconds per check")
    parser.add_argument("--memory", type=int, default=4096, help="MB per process")
    parser.add_argument("--no-execute", action="store_true", help="score only, no executed copy")
    parser.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="grade where bubblewrap cannot confine student code (Python-level checks only)",
    )
    a = parser.parse_args(argv)
    scores = grade_folder(
        a.folder,
        a.out,
        a.release,
        a.seed,
        a.jobs,
        unsafe_no_sandbox=a.unsafe_no_sandbox,
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
    where = (a.out or Path("grading")).resolve()
    manifest = json.loads((where / "grading.json").read_text())
    print(f"\nhidden variant: --seed {manifest['seed']}; sandbox: {manifest['sandbox']}")
    print(f"scores, feedback and executed notebooks in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
