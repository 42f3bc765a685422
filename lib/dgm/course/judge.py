"""The judge: each exercise's verdict, from the course's checks run on recorded results.

``dgm.course.grade`` starts it (confined too, though it never runs student code) as
``python -I -c BOOT`` from its private copy of the library, with two file descriptors of
the answers process (``dgm.course.checker``): the write end of that process's stdin and
the read end of its stdout. It reads one job on its own stdin (JSON: the exercises, their
checks, the variant of the hidden checks, and the answers process's part), passes that part
on, and prints one JSON line per event on its stdout for the grader: ``start`` and
``result`` per exercise, then ``done``.

For each exercise it reads the answers process's frames (``dgm.course.wire``, plain data,
no pickle): ``start``; then either ``end`` with a failure of the answer itself (missing,
the cell raised, no function, tampered) or ``defined``, the recorded calls of the check
and ``end``. The check then runs here, in the same hidden variant and from the same RNG
state, on a ``dgm.course.replay.Replayer``: the comparisons, statistics and thresholds
are the library's own in a process no student code ever ran in, so no thread, patched
module or torch mode of the submission can reach them, and there is no key to steal.
Finally it tells the answers process whether the student's function goes on to the next
exercises (it passed) or the reference does.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import pkgutil
import sys

FRAME_LIMIT = 2**28  # one record: a call's inputs and outputs


def main() -> None:  # noqa: C901  (one job, read top to bottom)
    job = json.loads(sys.stdin.readline())
    to_answers, from_answers = int(job["to_answers"]), int(job["from_answers"])
    channel = sys.stdout
    sys.stdout = sys.stderr = io.StringIO()

    def emit(**payload):
        channel.write(json.dumps(payload) + "\n")
        channel.flush()

    def tell(payload: dict) -> None:
        try:
            os.write(to_answers, (json.dumps(payload) + "\n").encode())
        except OSError:
            pass  # it died: the next read says so

    import torch

    import dgm
    from dgm.checks import harness

    from . import replay, wire

    for info in pkgutil.walk_packages(dgm.__path__, "dgm."):
        if info.name.startswith("dgm.checks"):
            importlib.import_module(info.name)
    tell(job["answers"])
    checks = {}
    for ex in job["exercises"]:
        obj = dgm
        for part in ex["check"].split(".")[1:]:
            obj = getattr(obj, part)
        checks[ex["grade_id"]] = obj
    harness.set_variant(int(job["variant"]))

    def read() -> dict:
        data = wire.read_frame(from_answers, FRAME_LIMIT)
        if data is None:
            raise EOFError("the process running the answers ended")
        message = wire.decode(data)
        if type(message) is not dict:
            raise wire.WireError("wire: a frame that is not a record")
        return message

    for ex in job["exercises"]:
        gid = ex["grade_id"]
        if gid in job["skip"]:
            continue
        try:
            verdict = _judge(gid, checks[gid], read, emit, harness, replay, torch)
        except (EOFError, wire.WireError) as err:
            why = str(err)
            if isinstance(err, EOFError):
                why += " (it died, ran out of memory, or broke off)"
            emit(grade_id=gid, event="result", status="error", details=why, hint="")
            return
        checked = verdict.pop("_checked", False)
        emit(grade_id=gid, event="result", **verdict)
        if checked:
            tell({"use": "student" if verdict["status"] == "passed" else "reference"})
        if verdict["status"] == "tampered":
            return  # the answers process stopped; the grader starts a fresh pair
    emit(event="done")


def _judge(gid, check, read, emit, harness, replay, torch) -> dict:
    """One exercise: its frames read, its check run on them; the verdict."""
    first = read()
    if first.get("event") != "start" or first.get("grade_id") != gid:
        raise EOFError(f"the answers process sent {first.get('event')!r} for {gid}")
    emit(grade_id=gid, event="start")
    second = read()
    if second.get("event") == "end":
        return _failure(second)
    if second.get("event") != "defined":
        raise EOFError(f"the answers process sent {second.get('event')!r} for {gid}")
    ended: list = []

    def record() -> dict | None:
        if ended:
            return None
        message = read()
        if message.get("event") == "end":
            ended.append(message)
            return None
        return message

    replayer = replay.Replayer(record, gid)
    problem = []

    def student(*args, **kwargs):
        try:
            return replayer(*args, **kwargs)
        except replay.ReplayError as err:
            problem.append(str(err))
            raise

    student.__name__ = student.__qualname__ = gid
    torch.manual_seed(harness.seeded(0))  # the state the answers process started from
    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    results: list = []
    real = harness.record
    harness.record = lambda result, quiet=False: results.append(result) or result
    try:
        with contextlib.suppress(Exception):
            check(student)
    finally:
        harness.record = real
    while not ended:  # calls the check made there and not here: it stopped sooner here
        record()
    end = ended[0]
    if end.get("status") != "checked":
        return _failure(end)
    if problem:
        why = "what the process running your answer reported does not match the check's run"
        return {"status": "tampered", "details": f"{why}: {problem[0]}", "hint": ""}
    if not results:
        return {
            "status": "error",
            "details": "the check could not run on this answer",
            "hint": "",
            "_checked": True,
        }
    result = results[-1]
    hint = result.hint
    if result.status == "error" and "NameError" in result.details:
        hint = (hint + "\n" if hint else "") + (
            "only the answer cell is graded: define helpers inside it, and use only the "
            "notebook's imports and earlier exercises"
        )
    return {
        "status": result.status,
        "details": result.details,
        "hint": hint,
        "share": float(result.points),
        "_checked": True,
    }


def _failure(end: dict) -> dict:
    status = end.get("status")
    if status not in ("missing", "error", "tampered"):
        status, details = "error", f"the answers process ended the exercise with {status!r}"
    else:
        details = str(end.get("details", ""))[:4000]
    return {"status": status, "details": details, "hint": ""}


BOOT = "import sys; sys.path.insert(0, {lib!r}); from dgm.course.judge import main; main()"
