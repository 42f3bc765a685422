"""Hostile submissions against the grader's sandbox (``../shared/GRADER-ATTACKS.md``).

The attacks are in ``benchmarks/attacks.py``. Each is the answer cell of a lecture-01
submission (one exercise, ``responsibilities``), so it runs twice: in the notebook's kernel
and in the checker. All are graded in one run with two honest submissions, which must
score exactly what they score alone; then nothing outside may have changed: no file
planted, read into the results, removed or moved; no process signalled, limited or left
running; nothing received by the listeners; nothing left in ``/dev/shm``.

``test_the_attack_gets_past_the_audit_hook_alone`` runs the same code against the old
layer only (``sandbox.install``, the Python audit hook), in a process aimed at harmless
targets: the attack succeeds there, so this suite can see it succeed. Attacks that need the
grader's own behaviour (its reading of output, links and files) have their old-layer
effect stated beside them instead.

Two attacks aim at the judging itself: a thread that finds the results' signing key (there
was one while the checks' judges ran beside the answer) and a torch function mode that
makes comparisons lenient. Against the old grader both earned points (12/12 and 9/12 in
``GRADER-ATTACKS.md``, and here as strict xfails before the split); the judges now run in a
process that never runs student code (``dgm.course.judge``), so both earn nothing.
"""

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from benchmarks.attacks import (
    ATTACKS,
    MARK,
    ROOT,
    SECRET,
    Listeners,
    attack_source,
    host_targets,
    kill_marked,
    leftovers,
    solved,
    tiny,
    tree_digest,
)
from dgm.course import confine, grade, sandbox

pytestmark = pytest.mark.skipif(
    confine.unavailable() is not None, reason=f"no OS sandbox: {confine.unavailable()}"
)


@pytest.fixture(scope="module")
def bystander():
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def listeners():
    ears = Listeners()
    yield ears
    ears.close()


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, bystander, listeners):
    tmp = tmp_path_factory.mktemp("attacks")
    folder, out, release = tmp / "class", tmp / "grading", tmp / "release"
    for d in (folder, release):
        d.mkdir()
    nbformat.write(tiny(), release / "01_em.ipynb")
    honest = folder / "aaa_honest" / "01_em.ipynb"
    honest.parent.mkdir()
    nbformat.write(solved(), honest)
    honest2 = folder / "zzz_honest" / "01_em.ipynb"
    honest2.parent.mkdir()
    nbformat.write(solved(), honest2)
    targets = host_targets(tmp, listeners, bystander.pid, honest)
    targets["plant"] += [
        str(release / "planted"),
        str(out / "planted"),
        str(ROOT / "lib" / "dgm" / "planted.py"),
    ]
    for name in ATTACKS:
        path = folder / name / "01_em.ipynb"
        path.parent.mkdir()
        nbformat.write(tiny(attack_source(name, targets)), path)
    (folder / "linked_01_em.ipynb").symlink_to(targets["secret"])  # a link, not a submission
    limit_before = resource.prlimit(bystander.pid, resource.RLIMIT_CPU)
    watched = (folder, release, ROOT / "lib", ROOT / "notebooks", tmp / "victim")
    before = tree_digest(*watched)
    scores = grade.grade_folder(
        folder,
        out,
        release,
        seed=1,
        jobs=2,
        cell_timeout=60,
        notebook_timeout=240,
        exercise_timeout=60,
        memory_mb=2048,
    )
    return {
        "scores": {s.student: s for s in scores},
        "out": out,
        "tmp": tmp,
        "targets": targets,
        "before": before,
        "after": tree_digest(*watched),
        "limit_before": limit_before,
    }


def everything_reported(out: Path) -> str:
    """The text of the results a student or instructor reads: the executed notebooks'
    outputs (not their sources, which hold the attack's code), feedback, scores."""
    texts = []
    for p in out.rglob("*"):
        if p.suffix == ".ipynb":
            nb = nbformat.read(p, as_version=4)
            texts += [str(c.get("outputs", "")) for c in nb.cells]
        elif p.is_file():
            texts.append(p.read_text(errors="replace"))
    return "".join(texts)


def test_the_honest_submissions_score_exactly_as_alone(attacked):
    for student in ("aaa_honest", "zzz_honest"):
        score = attacked["scores"][student]
        assert score.reasons == {"responsibilities": "passed"}, score.rows
        assert score.total == score.max_total == 2
        assert score.run == "ok"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_is_stopped_and_earns_nothing(attacked, name):
    score = attacked["scores"][name]
    assert score.total == 0
    assert score.reasons == {"responsibilities": ATTACKS[name][1]}, score.rows
    assert MARK not in score.rows[0].details


def test_no_breach_and_no_secret_reaches_the_results(attacked):
    text = everything_reported(attacked["out"])
    assert MARK not in text
    assert SECRET not in text
    assert "linked" not in attacked["scores"]  # the symlinked submission was not graded


def test_nothing_outside_changed(attacked):
    before, after = attacked["before"], attacked["after"]
    assert [k for k in before.keys() | after.keys() if before.get(k) != after.get(k)] == []
    victim = attacked["tmp"] / "victim"
    assert sorted(p.name for p in victim.iterdir()) == ["canary", "canary2", "secret.txt"]
    assert not (attacked["out"] / "planted").exists()


def test_no_signal_limit_or_packet_reached_outside(attacked, bystander, listeners):
    import resource

    assert bystander.poll() is None  # alive
    assert resource.prlimit(bystander.pid, resource.RLIMIT_CPU) == attacked["limit_before"]
    assert listeners.received == []


def test_no_process_or_shared_memory_is_left(attacked):
    t = attacked["targets"]
    assert leftovers(t["sleep"], t["bomb_sleep"]) == []
    assert sandbox.processes(grader=os.getpid()) == []  # another worker's are not ours
    assert not Path(t["shm"]).exists()
    assert not list(Path("/sys/fs/cgroup/pids").glob(f"dgm-{os.getpid()}-*"))


def test_oversized_output_is_cut_and_not_kept(attacked):
    score = attacked["scores"]["output"]  # its frames to the judge broken: its own error
    assert "wire:" in score.rows[0].details or "ended" in score.rows[0].details
    executed = attacked["out"] / "executed" / "output" / "01_em.ipynb"
    assert not executed.exists() or executed.stat().st_size < grade.MAX_NOTEBOOK


# --------------------------------------------------------------------------- the old layer

OLD_LAYER = {  # what the graded attacks needed of the grader; demonstrated elsewhere
    "output": "the checker's stdout was read whole (a 1.5 GB line took 3.8 GB)",
    "executed_link": "the grader read the executed copy through the link",
    "detached": "kill_all finds processes by the token in their environment; env={} hides it",
}


def _old_layer(tmp: Path, name: str, listeners: Listeners, victim_pid: int) -> tuple[str, dict]:
    root = tmp / "submission"
    root.mkdir()
    targets = host_targets(tmp, listeners, victim_pid, tmp / "victim" / "canary")
    targets["grader"] = victim_pid
    boot = (
        "import sys\nfrom dgm.course import sandbox\n"
        f"sandbox.install({str(root)!r}, [{str(tmp / 'private')!r}])\n"
        "exec(sys.stdin.read())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", boot],
        input=attack_source(name, targets).replace("raise RuntimeError", "pass  # "),
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    return run.stdout + run.stderr, targets


def _can_raise_limits() -> bool:
    status = Path("/proc/self/status").read_text()
    effective = int(status.split("CapEff:")[1].split()[0], 16)
    return bool(effective >> 24 & 1)  # CAP_SYS_RESOURCE


@pytest.mark.parametrize("name", [n for n in sorted(ATTACKS) if n not in OLD_LAYER])
def test_the_attack_gets_past_the_audit_hook_alone(tmp_path, listeners, name):
    """The same code, against the Python-level layer only: it breaches (so the graded test
    above would see it), and the host shows the effect."""
    if name == "rlimit" and not _can_raise_limits():
        pytest.skip("this machine's root lacks CAP_SYS_RESOURCE: the kernel refuses anyway")
    victim = subprocess.Popen(["sleep", "600"])
    try:
        output, targets = _old_layer(tmp_path, name, listeners, victim.pid)
        if name == "signals":
            victim.wait(timeout=10)
            assert victim.returncode == -9
        elif name == "shm":
            assert Path(targets["shm"]).exists()  # shared with every other process
            os.remove(targets["shm"])
        elif name == "network":
            assert listeners.received  # at least the UDP datagram or the TCP connection
            listeners.received.clear()
        else:
            assert MARK in output, output[-2000:]
        if name == "spawn":
            assert Path(targets["spawned"]).exists()
            listeners.received.clear()
    finally:
        victim.kill()
        victim.wait()
        kill_marked("59.5")  # the bomb's processes


def test_raising_a_limit_is_refused_inside_the_sandbox(tmp_path):
    """The old layer left a limit to the kernel's capability check: a grader holding
    CAP_SYS_RESOURCE (root on most machines, not in this container) let its children raise
    their limits. Inside bubblewrap every capability is dropped."""
    probe = (
        "import resource\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY,) * 2)\n"
        "    print('raised')\n"
        "except (OSError, ValueError):\n"
        "    print('refused')\n"
    )
    limits = confine.Limits(memory_mb=1024)
    argv = confine.command([sys.executable, "-I", "-c", probe], tmp_path, limits=limits)
    run = subprocess.run(confine.launch(argv, limits), capture_output=True, text=True)
    assert run.stdout.strip() == "refused", run.stderr


def test_a_thread_that_steals_the_signing_key_earns_nothing(alone):
    """The answers process's hook skips every event while it is busy with one, and only
    looks at the calling thread's frames: a thread retrying ``gc.get_objects`` while the
    answer keeps the hook busy found the job and its signing key, and printed signed
    "passed" and "done" lines (12/12 before the split). Now the job holds no key and the
    process's output is only what the judge replays."""
    assert alone["steal"].total == 0


def test_a_torch_function_mode_that_makes_comparisons_lenient_earns_nothing(alone):
    score = alone["mode"]
    assert score.reasons == {"responsibilities": "wrong"}  # judged, in the judge's process


# answers graded without their notebook (each runs only in the answers process), in one run
ALONE = {
    "steal": """
        import gc, hashlib, hmac, json, sys, threading

        won = []

        def forge():
            while not won:
                try:
                    objects = gc.get_objects()
                except PermissionError:
                    continue
                for o in objects:
                    if type(o) is dict and "key" in o and "exercises" in o:
                        key = bytes.fromhex(o["key"])
                        for body in (
                            {"event": "result", "grade_id": "responsibilities",
                             "status": "passed", "details": "", "hint": ""},
                            {"event": "done"},
                        ):
                            sig = hmac.new(key, json.dumps(body, sort_keys=True).encode(),
                                           hashlib.sha256).hexdigest()
                            sys.__stdout__.write(json.dumps({**body, "sig": sig}) + "\\n")
                        sys.__stdout__.flush()
                        won.append(True)
                        return

        threading.Thread(target=forge, daemon=True).start()
        for _ in range(2 * 10**6):
            if won:
                break
            sys.audit("busy")

        def responsibilities(X, weights, means, covs):
            raise NotImplementedError
""",
    "mode": """
        import torch
        from torch.overrides import TorchFunctionMode

        class Lenient(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if func in (torch.allclose, torch.Tensor.allclose):
                    return True
                return func(*args, **(kwargs or {}))

        Lenient().__enter__()

        def responsibilities(X, weights, means, covs):
            return torch.full((X.shape[0], weights.shape[0]), 1.0 / weights.shape[0],
                              dtype=X.dtype)
""",
    "easy": """
        import torch

        def responsibilities(X, weights, means, covs):
            weights.fill_(1 / weights.shape[0])
            means.zero_()
            covs.copy_(torch.eye(X.shape[1], dtype=X.dtype).expand_as(covs))
            return torch.full((X.shape[0], weights.shape[0]), 1 / weights.shape[0], dtype=X.dtype)
""",
    "through_check": """
        import dgm

        def responsibilities(X, weights, means, covs):
            return dgm.checks.em.responsibilities.references[0](X, weights, means, covs)
""",
    "threaded": """
        from concurrent.futures import ThreadPoolExecutor
        import dgm

        def responsibilities(X, weights, means, covs):
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(dgm.em.responsibilities, X, weights, means, covs).result()
""",
    # found by a hostile review of the hook: a finalizer raises the grader's own event on
    # the main thread with no frame of the answer's on the stack
    "finalizer": """
        import gc, sys, weakref

        box = []

        class C:
            pass

        def arm():
            c = C()
            c.c = c
            weakref.finalize(c, sys.audit, "dgm.grader.reference", "dgm.em.responsibilities", box)

        def responsibilities(X, w, mu, cov):
            return box[0](X, w, mu, cov)

        gc.disable()
        gc.set_threshold(1)
        arm()
        gc.enable()
""",
    # a worker thread whose target is the standard library's: no frame of the answer's
    "thread_exercise": """
        import sys
        from concurrent.futures import ThreadPoolExecutor

        import dgm.em

        with ThreadPoolExecutor(1) as pool:
            pool.submit(sys.audit, "dgm.grader.exercise", ()).result()

        def responsibilities(X, w, mu, cov):
            return dgm.em.responsibilities(X, w, mu, cov)
""",
    "thread_gc": """
        import gc, types
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            objects = pool.submit(gc.get_objects).result()
        real = next(
            o for o in objects
            if type(o) is types.FunctionType
            and o.__module__ == "dgm.em" and o.__code__.co_name == "responsibilities"
        )

        def responsibilities(X, w, mu, cov):
            return real(X, w, mu, cov)
""",
    "thread_copy": """
        import importlib.util
        from concurrent.futures import ThreadPoolExecutor

        import dgm.em

        spec = importlib.util.spec_from_file_location("dgm._copy", dgm.em.__file__)
        copy = importlib.util.module_from_spec(spec)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(spec.loader.exec_module, copy).result()

        def responsibilities(X, w, mu, cov):
            return copy.responsibilities(X, w, mu, cov)
""",
}


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Each of ALONE as the answer of its own submission, all graded in one run; each must
    earn nothing."""
    tmp = tmp_path_factory.mktemp("alone")
    folder, release = tmp / "class", tmp / "release"
    for d in (folder, release):
        d.mkdir()
    nbformat.write(tiny(), release / "01_em.ipynb")
    for name, source in ALONE.items():
        nbformat.write(tiny(textwrap.dedent(source)), folder / f"{name}_01_em.ipynb")
    scores = grade.grade_folder(folder, tmp / "out", release, seed=1, execute=False)
    assert sorted(s.student for s in scores) == sorted(ALONE)
    for score in scores:
        assert score.total == 0, (score.student, score.rows)
    return {s.student: s for s in scores}


@pytest.mark.parametrize(
    "name,refused",
    [
        ("finalizer", "raising the grader's event dgm.grader.reference"),
        ("thread_exercise", "raising the grader's event dgm.grader.exercise"),
        ("thread_gc", "gc.get_objects inside an answer"),
        ("thread_copy", "reading the library's source"),
    ],
)
def test_the_library_reached_outside_the_answers_frames_is_refused(alone, name, refused):
    """A hostile review found these past the hook: the grader's own events raised by a
    finalizer (the real function handed over on the main thread, outside any frame of the
    answer's) or by a worker thread (the exercise's references cleared), ``gc.get_objects``
    from a thread (the real function found), a fresh copy of a library module executed in a
    thread. Events are now honoured only from the stubs and the checker's loop, and any
    thread but the main one (where the checks run) is the answer's."""
    score = alone[name]
    assert score.reasons == {"responsibilities": "tampered"}, score.rows
    assert refused in score.rows[0].details


def test_a_confined_process_sees_what_it_may_read_and_nothing_else(tmp_path):
    """Read-only paths under /tmp (a library copy, a virtual environment in a clone) stay
    visible over the private /tmp; a sibling folder does not; of its own folder, a private
    memory file system of bounded size, only the passed file reaches the host."""
    readable, sibling, folder = tmp_path / "lib", tmp_path / "other", tmp_path / "folder"
    for d in (readable, sibling, folder):
        d.mkdir()
    (readable / "a.txt").write_text("readable")
    (sibling / "b.txt").write_text("hidden")
    (folder / "c.txt").touch()
    (folder / "hidden.txt").write_text("host")
    probe = (
        "import os, sys\n"
        f"print(open({str(readable / 'a.txt')!r}).read())\n"
        f"print(os.path.exists({str(sibling / 'b.txt')!r}))\n"
        f"try:\n    open({str(readable / 'd.txt')!r}, 'w')\nexcept OSError:\n    print('ro')\n"
        "print(sys.prefix)\n"
        "open('c.txt', 'w').write('written')\n"
        "print(os.path.exists('hidden.txt'), sorted(os.listdir('.')))\n"
        "open('e.txt', 'w').write('private')\n"
        "try:\n    open('f.bin', 'wb').write(bytes(3 * 2**20))\nexcept OSError as err:\n"
        "    print(err.strerror)\n"
    )
    limits = confine.Limits(memory_mb=1024, tmp_mb=2)
    argv = confine.command(
        [sys.executable, "-I", "-c", probe], folder, [readable], limits, ["c.txt"]
    )
    run = subprocess.run(confine.launch(argv, limits), capture_output=True, text=True)
    work = sorted([*sandbox.WORK, "c.txt"])
    assert run.stdout.split("\n")[:6] == [
        "readable",
        "False",
        "ro",
        sys.prefix,
        f"False {work}",
        "No space left on device",
    ], run.stderr
    assert (folder / "c.txt").read_text() == "written"
    assert sorted(p.name for p in folder.iterdir()) == ["c.txt", "hidden.txt"]
    with pytest.raises(ValueError, match="passed must hold file names"):
        confine.command(["true"], folder, passed=["../x"])


def test_an_answer_that_makes_the_question_easy_in_place_earns_nothing(alone):
    """The reference runs on the same objects after the answer: an answer that sets every
    weight, mean and covariance equal makes uniform responsibilities right for both (found
    by a hostile review of the judge split). The judges refuse a changed input."""
    score = alone["easy"]
    assert score.reasons == {"responsibilities": "wrong"}
    assert "changed its inputs in place" in score.rows[0].details


def test_the_reference_kept_by_the_check_is_refused_too(alone):
    """``check.references`` held the real functions, past the stubs."""
    score = alone["through_check"]
    assert score.reasons == {"responsibilities": "tampered"}
    assert "the library's answer" in score.rows[0].details


def test_the_reference_called_from_a_thread_of_the_answer_is_refused(alone):
    """A thread whose target is the library's function has no frame of the answer on its
    stack (found by a hostile review); the checks run on the main thread only."""
    score = alone["threaded"]
    assert score.reasons == {"responsibilities": "tampered"}
    assert "the library's answer" in score.rows[0].details
