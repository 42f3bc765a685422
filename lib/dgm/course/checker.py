"""The answers process: a submission's answers run through the course's checks, recorded.

``dgm.course.grade`` starts it confined (``dgm.course.confine``) as ``python -I -c BOOT``
from its private copy of the library (never the submission's folder), beside the judge
(``dgm.course.judge``), which sends it one job on its stdin (JSON: the answer cells, the
checks, the variant of the hidden checks) and reads its frames (``dgm.course.wire``) on its
stdout. For each exercise, in notebook order:

1. the answer cells are executed (compiled as ``<submission>``) in a namespace holding
   the release notebook's imports and the earlier exercises' functions;
2. the check runs on the student's function, in the hidden variant, and every call of it
   is recorded for the judge (``dgm.course.replay.Recorder``). The verdict is the judge's,
   from its own run of the check on the recorded results: nothing here decides a score;
3. the judge says whether the student's function goes on to the next exercises (it
   passed) or the reference does.

What this process still refuses, as a second layer behind the operating system: while any
frame of the submission's code is on the stack, and on any thread but the main one (the
checks run there only), an audit hook refuses frame and ``gc`` introspection, tracing,
``compile``/``exec``/``marshal``, reading the library's source, and a call of the library's
reference for the exercise being graded (every binding of the reference is a stub that asks
the hook for the real function; the hook answers that event only when a stub raised it).
After every answer cell and every call of the student's function, the identity of every
attribute of ``dgm.*``, torch, ``torch.nn.functional``, ``torch.Tensor``, numpy, math,
builtins and ``sys``'s hooks is compared with a snapshot (the guards are in
``dgm.course.integrity``). Any refusal or change marks the
exercise "tampered", and the process stops (the grader starts a fresh one for the remaining
exercises). These keep an honest student's answer honest (calling the reference earns
nothing, and says why); the judge, in its own process, keeps every other verdict right.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import io
import json
import os
import pkgutil
import sys
import threading
from pathlib import Path

from . import integrity

SUBMISSION = "<submission>"
TAMPERED_EXIT = 3
FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"}
STUDENT_DENIED = {
    "sys._getframe",
    "sys._current_frames",
    "sys.settrace",
    "sys.setprofile",
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
    "compile",
    "exec",
    "marshal.loads",
    "marshal.load",
    "code.__new__",
    "os.putenv",
    "os.unsetenv",
}


def import_library() -> None:
    """Import every module of the library but the instructor's tools, as a notebook may."""
    import dgm

    for info in pkgutil.walk_packages(dgm.__path__, "dgm."):
        if not info.name.startswith(("dgm.course.", "dgm.grade")):
            importlib.import_module(info.name)


def resolve(exercises: list[dict]) -> tuple[dict, dict]:
    """``(checks, refs)`` for a release's exercises: each exercise's check by its
    ``grade_id``, and every reference function those checks call, by qualified name."""
    import dgm

    checks, refs = {}, {}
    for ex in exercises:
        check = functools.reduce(getattr, ex["check"].split(".")[1:], dgm)
        checks[ex["grade_id"]] = check
        refs.update({f"{r.__module__}.{r.__qualname__}": r for r in check.references})
    return checks, refs


def main() -> None:  # noqa: C901  (one job, read top to bottom)
    job = json.loads(sys.stdin.readline())
    channel = os.dup(1)  # the frames to the judge; fd 1 itself goes nowhere
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.stdout = sys.stderr = io.StringIO()

    from . import replay, wire

    def emit(**payload):
        wire.write_frame(channel, wire.encode(payload))

    def verdict_of_judge() -> bool:
        """Whether the judge passed the exercise (its student function goes on)."""
        line = sys.stdin.readline()
        try:
            return json.loads(line).get("use") == "student"
        except (ValueError, AttributeError):
            return False

    import torch

    import dgm
    from dgm.checks import harness

    import_library()
    # what torch imports on first use (an optimiser's first step imports torch._dynamo,
    # which rewraps torch.manual_seed): done now, so the snapshot below already has it
    weight = torch.zeros(1, requires_grad=True)
    (weight * 2).sum().backward()
    torch.optim.Adam([weight]).step()
    torch.optim.SGD([weight], lr=0.1, momentum=0.9).step()
    library = os.path.dirname(os.path.dirname(os.path.realpath(dgm.__file__)))
    ns: dict = {"__name__": "__main__", "__builtins__": builtins}
    exec(job["imports"], ns)  # the release notebook's imports, trusted

    # the references of each exercise, and a stub in every place they are bound
    checks, refs = resolve(job["exercises"])

    stubs = integrity.bind_stubs(refs, ns, checks.values())  # from here on, only refs holds them
    stub_code = integrity.stub("", len).__code__  # every stub's code: the one that raises the event
    main_code = main.__code__  # the only code that starts an exercise
    # the hook: its state lives only in this closure
    from . import sandbox

    policy = sandbox.policy(job["root"], job["private"])

    def rule(event, args):
        # the checker reads its own library (warnings and tracebacks quote its lines); an
        # answer reading it is refused below, and writing it is refused to everyone
        if event == "open" and not sandbox.writes(args):
            path = sandbox._path(args[0])
            if path and sandbox._inside(path, library):
                return None
        return policy(event, args)

    state = {"exercise": None, "refused": []}
    busy: set[int] = set()  # the threads inside the hook: its own events are not checked
    main_thread = threading.get_ident()
    current_refs: set = set()
    library_private = [library]

    def make_guarded(fn, gid):
        """The student's function as the check sees it: watched, plain values only."""

        def guarded(*args, **kwargs):
            try:
                out = fn(*args, **kwargs)
            finally:
                refused_or_changed(gid)
            problem = integrity.plain(out, allowed)
            if problem:
                raise TypeError(f"return plain values (tensors, numbers, tuples), not {problem}")
            return out

        return guarded

    guard_code = make_guarded(None, "").__code__  # its frames count as the student's

    def student_on_stack() -> bool:
        f = sys._getframe(2)
        while f is not None:
            if f.f_code.co_filename == SUBMISSION or f.f_code is guard_code:
                return True
            f = f.f_back
        return False

    def hook(event, args):
        thread = threading.get_ident()
        if thread in busy:  # per thread: one busy thread must not blind the hook to another
            return
        busy.add(thread)
        try:
            why = rule(event, args)
            if why is None and (
                event in STUDENT_DENIED
                or event.startswith(("dgm.grader.", "ctypes."))
                or (event == "object.__getattr__" and args[1] in FRAME_ATTRIBUTES)
                or event == "open"
            ):
                # the checks run on the main thread only: a thread (of the answer's; its
                # stack starts in the library or the standard library) acts for the answer
                student = thread != main_thread or student_on_stack()  # the cheap test first
                caller = sys._getframe(1).f_code  # what raised the event
                if event == "dgm.grader.reference":
                    name, box = args
                    if caller is not stub_code:  # raised by a finalizer, say, not a stub
                        why = f"raising the grader's event {event}"
                    elif student and name in current_refs:
                        why = f"your answer calls {name}, the library's answer to this exercise"
                    else:
                        box.append(refs[name])
                elif event == "dgm.grader.exercise":
                    if caller is not main_code or student:
                        why = f"raising the grader's event {event}"
                    else:
                        current_refs.clear()
                        current_refs.update(args[0])
                elif event == "open":
                    path = sandbox._path(args[0])
                    if student and path and any(sandbox._inside(path, p) for p in library_private):
                        why = f"reading the library's source ({path})"
                elif event in STUDENT_DENIED and _trusted(sys._getframe(1)):
                    pass  # typing's forward references, dataclasses, namedtuple: not the answer's
                elif student or event.startswith("dgm.grader."):
                    why = f"{event} inside an answer"
            if why:
                why += _where(sys._getframe(1))
                state["refused"].append(why)
                raise PermissionError(f"the grader refused: {why}")
        finally:
            busy.discard(thread)

    real_record = harness.record
    harness.record = lambda result, quiet=False: real_record(result, True)  # no verdict here
    harness.set_variant(int(job["variant"]))
    allowed = integrity.allowed_types()
    sys.addaudithook(hook)
    before = integrity.snapshot()

    def tampered(grade_id, why):
        emit(grade_id=grade_id, event="end", status="tampered", details=why)
        os._exit(TAMPERED_EXIT)  # at once: nothing of the answer runs after this

    def refused_or_changed(grade_id):
        if state["refused"]:
            tampered(grade_id, state["refused"][0])
        changed = integrity.changes(before)
        if changed:
            tampered(grade_id, "your code changed what the checks rely on: " + changed[0])

    def write_record(record):
        emit(**record)

    for ex in job["exercises"]:
        gid = ex["grade_id"]
        reference = stubs[_names(checks[gid])[0]]
        if gid in job["skip"]:
            ns[gid] = reference  # graded by an earlier process
            continue
        emit(grade_id=gid, event="start")
        sys.audit("dgm.grader.exercise", tuple(_names(checks[gid])))
        if ex["sources"] is None:
            details = "no answer cell for this exercise (was it deleted?)"
            emit(grade_id=gid, event="end", status="missing", details=details)
            ns[gid] = reference
            continue
        ns.pop(gid, None)
        failure = None
        for src in ex["sources"]:
            try:
                code = compile(src, SUBMISSION, "exec")
                exec(code, ns)
            except BaseException as err:  # noqa: BLE001  (SystemExit too: graded, not obeyed)
                failure = f"the answer cell raised {type(err).__name__}: {err}"
                break
        refused_or_changed(gid)
        fn = ns.get(gid)
        if failure or not callable(fn):
            details = failure or f"the answer cell does not define a function {gid}"
            emit(grade_id=gid, event="end", status="error", details=details)
            ns[gid] = reference
            continue

        guarded = make_guarded(fn, gid)
        recorded = replay.Recorder(guarded, write_record, lambda out: None)
        for a in ("__name__", "__qualname__", "__doc__"):
            setattr(recorded, a, getattr(fn, a, gid))
        emit(grade_id=gid, event="defined")
        # the judge starts its run from the same state: an answer cell may have changed these
        torch.manual_seed(harness.seeded(0))
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        with contextlib.suppress(Exception):
            checks[gid](recorded)
        refused_or_changed(gid)
        emit(grade_id=gid, event="end", status="checked", details="")
        ns[gid] = fn if verdict_of_judge() else reference
    emit(event="done")


# standard modules that use frames, compile or exec for their own bookkeeping and hand none
# of it to their caller: an answer that defines a dataclass or a typed NamedTuple may use them
TRUSTED = {"typing.py", "typing_extensions.py", "dataclasses.py", "enum.py", "abc.py"}
TRUSTED_DIRS = {
    str(Path(contextlib.__file__).parent),
    str(Path(contextlib.__file__).parent / "collections"),
}


def _trusted(frame) -> bool:
    """Whether ``frame`` (the caller of an audited function) is one of the TRUSTED modules."""
    path = Path(frame.f_code.co_filename)
    if path.name not in TRUSTED:
        return False
    return str(path.parent) in TRUSTED_DIRS or path.parent.name == "site-packages"


def _where(frame) -> str:
    """`` (at file:line in function)``: the innermost frame outside the grader's own code."""
    while frame is not None and frame.f_code.co_filename in (__file__, sandbox_file()):
        frame = frame.f_back
    if frame is None:
        return ""
    name = "/".join(Path(frame.f_code.co_filename).parts[-2:])
    return f" (at {name}:{frame.f_lineno} in {frame.f_code.co_name})"


def sandbox_file() -> str:
    from . import sandbox

    return sandbox.__file__


def _names(check) -> list[str]:
    return [f"{r.__module__}.{r.__qualname__}" for r in check.references]


BOOT = "import sys; sys.path.insert(0, {lib!r}); from dgm.course.checker import main; main()"
