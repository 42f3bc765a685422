"""The autograder, on real submission files: honest ones, wrong ones, tampering ones and
faulty ones. Each must get exactly the score and reason expected, without
changing another's score, any file outside its folder, or leaving a process behind."""

import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from benchmarks import assignments
from benchmarks.attacks import tree_digest  # noqa: F401  (test_grade_lectures uses it too)
from dgm.course import grade, report, sandbox

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = nbformat.read(ROOT / "solutions" / "01_em.ipynb", as_version=4)
RELEASE = nbformat.read(ROOT / "notebooks" / "01_em.ipynb", as_version=4)
EXERCISES = ["elbo", "responsibilities", "m_step", "em_fit", "bernoulli_m_step", "bernoulli_em"]
BUILD = assignments.ASSIGNMENTS["01_em"]

WRONG_01 = {  # a plausible mistake for each exercise
    "elbo": "def elbo(X, r, weights, means, covs):\n"
    "    log_joint = weights.log() + dgm.densities.mvn_log_prob(X, means, covs)\n"
    "    return (r * log_joint).sum(1)  # forgot the entropy\n",
    "responsibilities": "def responsibilities(X, weights, means, covs):\n"
    "    return torch.softmax(dgm.densities.mvn_log_prob(X, means, covs), dim=1)  # no pi\n",
    "m_step": "def m_step(X, r, reg_covar=0.0):\n"
    "    N_k = r.sum(0)\n"
    "    means = (r.T @ X) / N_k[:, None]\n"
    "    diff = X[None] - means[:, None]\n"
    "    covs = torch.einsum('nk,knd,kne->kde', r, diff, diff) / N_k[:, None, None]\n"
    "    return N_k, means, covs  # weights not normalised, no reg_covar\n",
    "em_fit": "def em_fit(X, init, tol, max_iter):\n"
    "    params, history = init, [em.log_likelihood(X, *init).mean().item()]\n"
    "    for _ in range(max_iter):  # ignores tol\n"
    "        params = m_step(X, responsibilities(X, *params), 1e-6)\n"
    "        history.append(em.log_likelihood(X, *params).mean().item())\n"
    "    return params, history\n",
    "bernoulli_m_step": "def bernoulli_m_step(X, r, alpha=1.0):\n"
    "    N_k = r.sum(0)\n"
    "    return N_k / X.shape[0], (r.T @ X) / N_k[:, None]  # no smoothing\n",
    # the build: a recorded wrong build that fails both its parts
    "bernoulli_em": assignments.wrong_source(BUILD, "no pseudo-counts in the M-step"),
}


def answer(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def made(base, answers=None, extra_cells=(), drop=()):
    """A copy of ``base`` with some answer cells replaced, cells added at the top, dropped."""
    nb = nbformat.from_dict(base)
    for gid, src in (answers or {}).items():
        answer(nb, gid).source = src
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in drop]
    for src in extra_cells:
        nb.cells.insert(2, nbformat.v4.new_code_cell(src))
    return nbformat.writes(nb)


FORGED = (
    json.dumps(
        {
            "event": "result",
            "grade_id": "elbo",
            "status": "passed",
            "details": "",
            "hint": "",
            "sig": "0" * 64,
        }
    )
    + "\n"
)
STUB = "def {0}(*args, **kwargs):\n    raise NotImplementedError()\n"


# faults of the answers alone: scored without executing the notebook (the others are
# executed too: their kernel dies, or a solved one runs to the end). What tampering does in a
# kernel (grading switches in the environment, writes, replaced checks, an edited check cell
# and a duplicate that prints PASS) and a kernel's endless loop: test_grade_lectures.py
SCORED_ONLY = {
    "wrong",
    "reference",
    "print_pass",
    "excepthook",
    "writes",
    "replaced_checks",
    "loop",
    "hog",
    "missing",
    "corrupt",
}


def at_once(*runs) -> list:
    """The scores of several gradings run at once, as an instructor may run them: each run a
    list of ``(args, kwargs)`` of ``grade.grade_folder``, graded one after the other."""

    def one(run):
        return [s for args, kwargs in run for s in grade.grade_folder(*args, **kwargs)]

    with ThreadPoolExecutor(len(runs)) as pool:
        return [s for scores in pool.map(one, runs) for s in scores]


def submissions(folder: Path, scored: Path) -> dict[str, dict[str, str]]:
    """Write the lecture-01 submissions (those in SCORED_ONLY under ``scored``); return each
    one's expected reason per exercise."""
    release = str(ROOT / "notebooks" / "01_em.ipynb")
    alice = folder / "alice" / "01_em.ipynb"
    passed = dict.fromkeys(EXERCISES, "passed")
    unsolved = dict.fromkeys(EXERCISES, "not implemented")
    cases = {
        "alice": (made(SOLUTION), passed),
        "wrong": (made(SOLUTION, WRONG_01), dict.fromkeys(EXERCISES, "wrong")),
        "reference": (
            made(
                SOLUTION,
                {
                    "responsibilities": "from dgm.em import responsibilities\n",
                    "m_step": "import dgm.em as E\n\ndef m_step(X, r, reg_covar=0.0):\n"
                    "    return E.m_step(X, r, reg_covar)\n",
                    "elbo": "elbo = em.elbo\n",
                },
            ),
            {**passed, "responsibilities": "tampered", "m_step": "tampered", "elbo": "tampered"},
        ),
        "print_pass": (
            made(
                RELEASE,
                {
                    "elbo": "import sys\nprint('PASS  elbo: passed all 3 tests.')\n"
                    f"sys.__stdout__.write({FORGED!r})\n" + STUB.format("elbo")
                },
            ),
            unsolved,
        ),
        "excepthook": (
            made(
                RELEASE,
                {"elbo": "import sys\nsys.excepthook = lambda *a: None\n" + STUB.format("elbo")},
            ),
            {**unsolved, "elbo": "tampered"},
        ),
        "writes": (
            made(
                RELEASE,
                {
                    "elbo": f"open({release!r}, 'w').write('{{}}')\n" + STUB.format("elbo"),
                    "m_step": f"open({str(alice)!r}, 'w').write('{{}}')\n" + STUB.format("m_step"),
                },
                extra_cells=[
                    f"open({release!r}, 'w').write('{{}}')",
                    f"open({str(alice)!r}, 'w').write('{{}}')",
                ],
            ),
            {**unsolved, "elbo": "tampered", "m_step": "tampered"},
        ),
        "loop": (
            made(
                SOLUTION,
                {
                    "responsibilities": "def responsibilities(X, w, mu, cov):\n"
                    "    while True:\n        pass\n"
                },
            ),
            {**passed, "responsibilities": "timeout"},
        ),
        "hog": (
            made(
                SOLUTION,
                {
                    "m_step": "def m_step(X, r, reg_covar=0.0):\n"
                    "    return [torch.ones(10**8) for _ in range(100)]\n"
                },
            ),
            {**passed, "m_step": "error"},
        ),
        "kill": (
            made(
                SOLUTION,
                {
                    "em_fit": "import os, signal\n\ndef em_fit(X, init, tol, max_iter):\n"
                    "    os.kill(os.getpid(), signal.SIGKILL)\n"
                },
            ),
            {**passed, "em_fit": "error"},
        ),
        "missing": (
            made(SOLUTION, drop=("bernoulli_m_step",)),
            {**passed, "bernoulli_m_step": "missing"},
        ),
    }
    expected = {}
    for student, (text, reasons) in cases.items():
        path = (scored if student in SCORED_ONLY else folder) / student / "01_em.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        expected[student] = reasons
    (scored / "corrupt_01_em.ipynb").write_bytes(b'{"cells": [ not json')
    expected["corrupt"] = dict.fromkeys(EXERCISES, "error")
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    scored = tmp_path_factory.mktemp("scored")
    expected = submissions(folder, scored)
    watched = (folder, scored, ROOT / "notebooks", ROOT / "solutions", ROOT / "lib")
    before = tree_digest(*watched)
    out, scored_out = tmp_path_factory.mktemp("grading"), tmp_path_factory.mktemp("scored-out")
    # generous limits: two gradings of two jobs each share the machine's cores, and lecture
    # 01's build (EM on digits with pixels missing) once took over 20 s under that load
    limits = dict(seed=1, jobs=2, exercise_timeout=60, memory_mb=2048)
    scores = at_once(
        [((folder, out), dict(cell_timeout=60, notebook_timeout=240, **limits))],
        [((scored, scored_out), dict(execute=False, **limits))],
    )
    return {
        "scores": {s.student: s for s in scores},
        "expected": expected,
        "out": out,
        "scored_out": scored_out,
        "changed": before != tree_digest(*watched),
    }


def test_every_submission_gets_exactly_the_expected_reasons(graded):
    got = {s: score.reasons for s, score in graded["scores"].items()}
    assert got == graded["expected"]


def test_points_come_from_the_release_metadata(graded):
    alice, wrong = graded["scores"]["alice"], graded["scores"]["wrong"]
    assert alice.max_points == {
        "check_elbo": 2,
        "check_responsibilities": 2,
        "check_m_step": 3,
        "check_em_fit": 3,
        "check_bernoulli_m_step": 2,
        "check_bernoulli_em": 6,
    }
    assert alice.total == alice.max_total == 18 and wrong.total == 0
    assert graded["scores"]["loop"].total == 16  # everything but the looping exercise


def test_nothing_outside_a_submission_changed_and_no_process_is_left(graded):
    assert not graded["changed"]
    assert sandbox.processes(grader=os.getpid()) == []  # another worker's are not ours


def test_outputs_csv_feedback_and_executed_notebooks(graded):
    out, scored_out = graded["out"], graded["scored_out"]
    rows = []
    for where in (out, scored_out):
        with open(where / "scores.csv", newline="") as f:
            rows += list(csv.DictReader(f))  # details may span lines: read it as CSV
    assert list(rows[0]) == report.CSV_HEADER
    for student, score in graded["scores"].items():
        mine = [r for r in rows if r["student"] == student]
        assert [r["exercise"] for r in mine if r["reason"] != "manual"] == EXERCISES
        assert [r["reason"] for r in mine if r["reason"] != "manual"] == [
            score.reasons[e] for e in EXERCISES
        ]
        assert sum(r["reason"] == "manual" for r in mine) == 1  # the written answer
    feedback = (scored_out / "feedback" / "wrong" / "01_em.txt").read_text()
    assert "elbo: 0/2, wrong" in feedback and "hint:" in feedback
    tampered = (scored_out / "feedback" / "reference" / "01_em.txt").read_text()
    assert "the library's answer to this exercise" in tampered
    executed = nbformat.read(out / "executed" / "alice" / "01_em.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count is not None for c in code)  # the solution ran to the end
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert graded["scores"]["alice"].run == "ok"
    assert "dead kernel" in graded["scores"]["kill"].run


def test_the_sandbox_refuses_writes_outside_and_network(tmp_path):
    rule = sandbox.policy(tmp_path, [tmp_path / "private"])
    assert rule("open", (str(tmp_path / "x"), "w", 0)) is None
    assert "writing" in rule("open", ("/etc/x", "w", 0))
    assert rule("open", ("/etc/hostname", "r", 0)) is None
    assert "reading" in rule("open", (str(tmp_path / "private" / "a"), "r", 0))
    assert "network" in rule("socket.connect", (None, ("93.184.216.34", 80)))
    assert rule("socket.connect", (None, ("127.0.0.1", 5555))) is None
    assert rule("subprocess.Popen", ("ls", [], None, None))
    assert "os.remove" in rule("os.remove", ("/etc/passwd", -1))


def test_processes_are_found_by_their_token_their_grader_or_any_token():
    token = sandbox.token()
    assert token.startswith(f"{os.getpid()}-") and token != sandbox.token()
    env = {**os.environ, sandbox.TOKEN: token}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        assert child.pid in sandbox.processes(token)
        assert child.pid in sandbox.processes()
        assert child.pid in sandbox.processes(grader=os.getpid())
        assert child.pid not in sandbox.processes(grader=os.getpid() + 1)
        assert child.pid not in sandbox.processes(token[:-1])  # a prefix is another token
        assert sandbox.kill_all(token) == 1
    finally:
        child.kill()
        child.wait()
    assert child.pid not in sandbox.processes()


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(NotADirectoryError, match="not a folder"):
        grade.grade_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="seed must be an int >= 1"):
        grade.grade_folder(tmp_path, tmp_path / "out", seed=0)
    with pytest.raises(ValueError, match="must not be inside the submissions"):
        grade.grade_folder(tmp_path, tmp_path / "out")


def test_the_student_and_lecture_come_from_the_path(tmp_path):
    names = ("student007_01_em.ipynb", "bob/02_wake_sleep.ipynb", "carol-03_vae.ipynb", "x.ipynb")
    for rel in names:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found = {(s, n) for s, n, _ in grade._submissions(tmp_path)}
    assert found == {
        ("student007", "01_em.ipynb"),
        ("bob", "02_wake_sleep.ipynb"),
        ("carol", "03_vae.ipynb"),
    }


def tiny_release(folder: Path):
    """Lecture 01 cut to its imports and one exercise, and that exercise solved."""
    keep = ("responsibilities", "check_responsibilities")
    release, solved = nbformat.from_dict(RELEASE), nbformat.from_dict(SOLUTION)
    for nb in (release, solved):
        nb.cells = [
            c
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") in keep
            or (c.cell_type == "code" and c.source.startswith("import math"))
        ]
    (folder / "release").mkdir()
    (folder / "class").mkdir()
    nbformat.write(release, folder / "release" / "01_em.ipynb")
    nbformat.write(solved, folder / "class" / "alice_01_em.ipynb")
    return folder / "class", folder / "release"


def test_without_a_sandbox_the_grader_refuses_unless_told(tmp_path, monkeypatch):
    submissions, release = tiny_release(tmp_path)
    monkeypatch.setattr(grade.confine, "unavailable", lambda: "no bwrap here (a test)")
    with pytest.raises(RuntimeError, match="no bwrap here.*--unsafe-no-sandbox"):
        grade.grade_folder(submissions, tmp_path / "out", release, seed=1, execute=False)
    [score] = grade.grade_folder(
        submissions, tmp_path / "out", release, seed=1, execute=False, unsafe_no_sandbox=True
    )
    assert score.reasons == {"responsibilities": "passed"}
    manifest = json.loads((tmp_path / "out" / "grading.json").read_text())
    assert manifest["sandbox"].startswith("none (--unsafe-no-sandbox: no bwrap here")


def test_on_macos_the_sandbox_says_why_it_cannot_run(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert "needs Linux" in grade.confine.unavailable.__wrapped__()


def test_the_default_seed_is_secret_and_recorded(tmp_path):
    seeds = set()
    (tmp_path / "class").mkdir()
    for run in ("a", "b"):  # an empty class: nothing graded, the manifest written
        grade.grade_folder(tmp_path / "class", tmp_path / run)
        seeds.add(json.loads((tmp_path / run / "grading.json").read_text())["seed"])
    assert len(seeds) == 2 and all(s >= 1 for s in seeds)


def test_a_child_s_output_is_read_within_bounds():
    writer = (
        "import os\n"
        "os.write(1, b'x' * 100_000 + b'\\n')\n"  # a line over the limit: dropped
        "os.write(1, b'kept\\n')\n"
        "for _ in range(64):\n"
        "    os.write(1, b'y' * 2**20)\n"  # 64 MB without a newline: reading stops
    )
    child = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    lines = grade.Lines(child.stdout, line_max=2**16, total_max=2**22)
    got = []
    while (line := lines.get(60)) is not None:
        got.append(line)
    child.kill()
    child.wait()
    assert got == ["kept"] and lines.overflow


def test_files_written_by_a_submission_are_read_only_if_plain_and_small(tmp_path):
    (tmp_path / "secret").write_text("secret")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    (tmp_path / "big").write_bytes(b"x" * 2000)
    assert grade.read_regular(tmp_path / "secret", 1000) == b"secret"
    assert grade.read_regular(tmp_path / "link", 1000) is None
    assert grade.read_regular(tmp_path / "big", 1000) is None
    assert grade.read_regular(tmp_path, 1000) is None  # a folder


def test_a_changed_library_copy_is_found_and_made_again():
    library = grade.PrivateLibrary(Path(grade.__file__).resolve().parents[1])
    try:
        assert not library.changed()
        harness = library.lib / "dgm" / "checks" / "harness.py"
        harness.write_text(harness.read_text() + "\nPASSED = 'wrong'\n")
        assert library.changed()  # found, and the copy made again
        assert "PASSED = 'wrong'" not in harness.read_text() and not library.changed()
        (library.lib / "dgm" / "planted.py").write_text("")
        assert library.changed()
    finally:
        library.remove()


def test_limits_must_be_positive_ints():
    with pytest.raises(ValueError, match="memory_mb must be an int >= 1, got 0"):
        grade.confine.Limits(memory_mb=0)
    with pytest.raises(ValueError, match="processes must be an int >= 1, got 2.5"):
        grade.confine.Limits(processes=2.5)


def test_each_submission_has_its_own_hidden_variant_from_the_seed():
    """The answers process learns its own variant, never the grading's seed: one student's
    variant tells nothing of another's."""
    a = grade.variant(12345, "alice", "01_em.ipynb")
    assert a == grade.variant(12345, "alice", "01_em.ipynb")  # a grading can be repeated
    others = {
        grade.variant(12345, "bob", "01_em.ipynb"),
        grade.variant(12345, "alice", "02_wake_sleep.ipynb"),
        grade.variant(12346, "alice", "01_em.ipynb"),
    }
    assert a not in others and len(others) == 3
    assert all(1 <= v < 2**31 for v in others | {a})
