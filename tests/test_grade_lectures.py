"""The autograder on submission files made from every lecture (lecture 01 has one file per
fault, each executed, in ``test_grade.py``).

Executed in the sandbox as the grader does, then scored:

- ``half``, every lecture: the solution with every other exercise left as released. The
  solved exercises pass, the others are "not implemented", each of those checks falls back
  to the reference, and every cell runs without an error: one execution shows both that a
  solved notebook runs and that a student's unsolved one still runs to the end;
- ``tamper`` and ``faults``, one lecture (``KERNEL``: what the grader does with them
  does not depend on the lecture). ``tamper``: every tampering kind at once, in extra cells
  and in answer cells: grading switches in the environment, the check functions and the
  harness replaced, the first check cell edited and a duplicate of it that prints PASS, the
  exception hook replaced, the release notebook and another student's file overwritten,
  "PASS" and a forged result line printed, the library's reference used directly and
  through a wrapper. ``faults``: a memory hog in a top cell (the kernel survives it), an
  exercise that loops forever, one that allocates far too much, one whose answer cell is
  missing.

Scored by the checker alone (``--no-execute``): every lecture's ``correct`` (the solution:
every exercise passes through the sandbox and the judge, with the lecture's points) and
``corrupt``; ``KERNEL``'s ``wrong`` (a plausible mistake in every exercise) and
``reference`` (every answer only calls the library's reference). Every lecture's build
assignment alone: ``build-wrong`` (a recorded wrong build that fails both parts) and
``build-hog`` (a build that exhausts its memory); one lecture's ``build-partial`` (a
recorded wrong build that earns the outcome's share: what the grader does with a share does
not depend on the lecture, and every build's partial verdict is replayed as the judge gives
it by ``test_assignments.py``, as every other recorded wrong build is judged there). A build
that loops is graded as ``faults``' looping exercise is: by its time limit. What the other
lectures' wrong answers and reference calls get is proven without a grading, for every check:
``test_wire_replay.py`` replays each check on a nudged answer (the judge's verdict is the
in-process one) and ``test_hidden_checks.py`` finds no binding an answer can reach that
holds a real reference once the answers process has bound its stubs.

Every reason must be exactly as expected, no file outside a submission's folder may change,
no sandboxed process may be left (the grading time is recorded by ``benchmarks.grade``).
The gradings with different limits run at once, as an instructor may run them.
"""

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from test_grade import STUB, at_once, tree_digest

from benchmarks import assignments
from dgm import checks
from dgm.course import grade, sandbox

ROOT = Path(__file__).resolve().parents[1]
ALL = sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb"))
LECTURES = [n for n in ALL if n != "01_em.ipynb"]
# the lecture whose tampering, faults and reference calls are graded: what the grader does
# with them does not depend on the lecture, and each costs a restart of the checker's
# processes per exercise (about 5 s of two cores) or a minute's execution, so it is the
# lecture whose checks and fast mode cost least
KERNEL = "05_unified_view.ipynb"
# the build assignment whose partial build and memory hog are graded (what the grader does
# with them does not depend on the lecture either)
HOGGED = f"{next(iter(assignments.ASSIGNMENTS))}.ipynb"

NUDGE = '''
import torch as _torch


def _nudge(out):
    """The right answer, a little off: what a sign slip or a missing term does."""
    if isinstance(out, _torch.Tensor):
        if out.dtype == _torch.bool:
            return ~out
        return out * 1.1 + 0.05 if out.is_floating_point() else out + 1
    if isinstance(out, (float, int)) and not isinstance(out, bool):
        return out * 1.1 + 0.05
    if hasattr(out, "_fields"):
        return type(out)(*map(_nudge, out))
    if isinstance(out, (tuple, list)):
        return type(out)(map(_nudge, out))
    return out


_right_{gid} = {gid}


def {gid}(*args, **kwargs):
    return _nudge(_right_{gid}(*args, **kwargs))
'''

# where nudging the output is not a mistake the check sees (the answer acts on its
# arguments), a plausible mistake made in the solution's text
WRONG = {
    "training_step": lambda src: src.replace("    opt_d.step()\n", "", 1),  # forgot D's step
    # 10% off is within an ESS estimate's noise; forgetting the factor 2 is not
    "effective_sample_size": lambda src: (
        "def effective_sample_size(chain):\n"
        "    rho = mcmc.autocorrelation(chain, 1000)\n"
        "    return len(chain) / float(1 + rho[1:].clamp(min=0).sum())\n"
    ),
}


# a build's plausible mistake: one of its recorded wrong builds that fails both parts
WRONG.update(
    {
        a.grade_id: lambda src, a=a: assignments.wrong_source(
            a, assignments.recorded_wrong(a, "failed", "failed")
        )
        for a in assignments.ASSIGNMENTS.values()
    }
)

# loops forever without holding a core (what is tested is the time limit; test_grade.py's
# "loop" is the busy one)
LOOP = "import time\n\n\ndef {0}(*args, **kwargs):\n    while True:\n        time.sleep(1)\n"
HOG = "def {0}(*args, **kwargs):\n    return [torch.ones(10**8) for _ in range(100)]\n"
FORGED = json.dumps(
    {
        "event": "result",
        "grade_id": "{gid}",
        "status": "passed",
        "details": "",
        "hint": "",
        "sig": "0" * 64,
    }
)


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def answer_cell(nb, gid):
    return next(c for c in nb.cells if nbgrader(c).get("grade_id") == gid)


def made(base, sources: dict, top=(), drop=()) -> nbformat.NotebookNode:
    """``base`` with answer cells replaced, cells added after the set-up, cells dropped."""
    nb = nbformat.from_dict(base)
    for gid, src in sources.items():
        answer_cell(nb, gid).source = src
    nb.cells = [c for c in nb.cells if nbgrader(c).get("grade_id") not in drop]
    at = next(i for i, c in enumerate(nb.cells) if re.search("^import dgm$", c.source, re.M)) + 1
    nb.cells[at:at] = [nbformat.v4.new_code_cell(s) for s in top]
    return nb


def reference(exercise):
    """The library's function that the check compares this exercise with."""
    ref = getattr(checks, exercise["check"].rsplit(".", 1)[1]).references[0]
    return ref.__module__, ref.__qualname__


def calls_the_reference(exercise) -> str:
    module, name = reference(exercise)
    return (
        f"import {module} as _lib\n\n_theirs = _lib.{name}\n\n\n"
        f"def {exercise['grade_id']}(*args, **kwargs):\n    return _theirs(*args, **kwargs)\n"
    )


def tampering(release, found, release_path: Path, victim: Path) -> nbformat.NotebookNode:
    """Every tampering kind of the issue in one submission of this lecture."""
    ids = [e["grade_id"] for e in found]
    writes = "".join(f"open({str(p)!r}, 'w').write('{{}}')\n" for p in (release_path, victim))
    replace = "import dgm\ndgm.checks.harness.finish = lambda *a, **k: True\n" + "".join(
        f"dgm.checks.{e['check'].rsplit('.', 1)[1]} = lambda fn: fn\n" for e in found
    )
    module, name = reference(found[0])
    sources = {
        ids[0]: f"import {module} as _lib\n\n{ids[0]} = _lib.{name}\n",
        ids[1]: "import sys\nprint('PASS: all tests passed')\n"
        + f"sys.__stdout__.write({FORGED.replace('{gid}', ids[1])!r} + '\\n')\n"
        + STUB.format(ids[1]),
        # refused at its first write; the checker stops it there
        ids[2]: writes
        + "import sys\nsys.excepthook = lambda *a: None\n"
        + replace
        + calls_the_reference(found[2]),
    }
    top = [
        "import os\nos.environ['DGM_GRADING'] = '0'\nos.environ['DGM_FAST'] = '1'",
        replace,
        "import sys\nsys.excepthook = lambda *a: None",
        writes,
    ]
    nb = made(release, sources, top)
    check = answer_cell(nb, found[0]["check_id"])
    check.source = f"{ids[0]} = {ids[0]}  # no check"
    fake = nbformat.v4.new_code_cell("print('PASS')", metadata={"nbgrader": dict(nbgrader(check))})
    nb.cells.insert(nb.cells.index(check) + 1, fake)
    return nb


def write(folder: Path, student: str, name: str, nb) -> Path:
    path = folder / student / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nb if isinstance(nb, str) else nbformat.writes(nb))
    return path


def half(solution, release, ids) -> tuple[nbformat.NotebookNode, list[str]]:
    """The solution with every other exercise (the 2nd, the 4th, ...) left as released."""
    unsolved = ids[1::2]
    return made(solution, {g: answer_cell(release, g).source for g in unsolved}), unsolved


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    kinds = ("executed", "tampered", "faults", "scored")
    folders = {k: tmp_path_factory.mktemp(k) for k in kinds}
    executed, tampered, faulty, scored = (folders[k] for k in kinds)
    expected, unsolved = {}, {}
    for name in ALL:
        release_path = ROOT / "notebooks" / name
        release = nbformat.read(release_path, as_version=4)
        solution = nbformat.read(ROOT / "solutions" / name, as_version=4)
        found = grade.exercises(release)
        ids = [e["grade_id"] for e in found]
        nb, unsolved[name] = half(solution, release, ids)
        victim = write(executed, "half", name, nb)
        expected[("half", name)] = {
            g: "not implemented" if g in unsolved[name] else "passed" for g in ids
        }
        if name not in LECTURES:
            continue
        write(scored, "correct", name, solution)
        expected[("correct", name)] = dict.fromkeys(ids, "passed")
        write(scored, "corrupt", name, '{"cells": [ not json')
        expected[("corrupt", name)] = dict.fromkeys(ids, "error")
        if name != KERNEL:
            continue
        right = {g: answer_cell(solution, g).source for g in ids}
        wrong = {g: WRONG.get(g, lambda s, g=g: s + NUDGE.format(gid=g))(right[g]) for g in ids}
        write(scored, "wrong", name, made(solution, wrong))
        expected[("wrong", name)] = dict.fromkeys(ids, "wrong")
        write(tampered, "tamper", name, tampering(release, found, release_path, victim))
        expected[("tamper", name)] = {
            **dict.fromkeys(ids, "not implemented"),
            ids[0]: "tampered",
            ids[2]: "tampered",
        }
        hog = "import torch\n_hog = [torch.ones(10**8) for _ in range(100)]"
        faults = made(
            release,
            {ids[0]: LOOP.format(ids[0]), ids[1]: HOG.format(ids[1])},
            top=[hog],
            drop=[ids[2]],
        )
        write(faulty, "faults", name, faults)
        expected[("faults", name)] = {
            **dict.fromkeys(ids, "not implemented"),
            ids[0]: "timeout",
            ids[1]: "error",
            ids[2]: "missing",
        }
        # two exercises (each refused answer restarts the checker's processes): every
        # lecture's references are proven refused by test_hidden_checks without a grading
        refs = {e["grade_id"]: calls_the_reference(e) for e in found[:2]}
        write(scored, "reference", name, made(solution, refs, drop=ids[2:]))
        expected[("reference", name)] = {
            **dict.fromkeys(ids, "missing"),
            **dict.fromkeys(refs, "tampered"),
        }
    for lecture, a in assignments.ASSIGNMENTS.items():
        name = f"{lecture}.ipynb"
        release = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        others = [e["grade_id"] for e in grade.exercises(release) if e["grade_id"] != a.grade_id]
        # every lecture's build alone: a wrong build recorded failing both parts on every
        # hidden variant (it earns nothing), and one that exhausts its memory
        students = {
            "build-wrong": (WRONG[a.grade_id](assignments.reference_source(a)), "wrong"),
            "build-hog": (HOG.format(a.grade_id), "error"),
        }
        if name == HOGGED:
            # a wrong build recorded failing its properties and passing its outcome on every
            # hidden variant: it earns the outcome's share
            partial = assignments.wrong_source(a, assignments.outcome_only(a))
            students["build-partial"] = (partial, "partial")
        for who, (src, why) in students.items():
            write(scored, who, name, made(release, {a.grade_id: src}, drop=others))
            expected[(who, name)] = {**dict.fromkeys(others, "missing"), a.grade_id: why}
    watched = (*folders.values(), ROOT / "notebooks", ROOT / "solutions", ROOT / "lib")
    before = tree_digest(*watched)
    out = {k: tmp_path_factory.mktemp(f"out-{k}") for k in kinds}
    # the faults mostly wait for their time limits: graded beside the rest (more at once
    # only slows each down on two cores)
    limits = {
        "executed": dict(cell_timeout=120, exercise_timeout=120),
        "tampered": dict(cell_timeout=120, exercise_timeout=120),
        "faults": dict(cell_timeout=30, exercise_timeout=30, memory_mb=2048),
        "scored": dict(execute=False, exercise_timeout=120),
    }
    runs = [("executed",), ("tampered", "faults", "scored")]  # about equal in length
    scores = at_once(
        *[[((folders[k], out[k]), dict(seed=1, **limits[k])) for k in r] for r in runs]
    )
    return {
        "scores": {(s.student, s.notebook): s for s in scores},
        "expected": expected,
        "unsolved": unsolved,
        "out": out,
        "changed": before != tree_digest(*watched),
    }


def executed_nb(graded, kind, student, name):
    return nbformat.read(graded["out"][kind] / "executed" / student / name, as_version=4)


def printed(nb) -> str:
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def errors(nb) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


@pytest.mark.parametrize("name", ALL)
def test_each_lecture_is_graded_exactly_as_expected(graded, name):
    scores, expected = graded["scores"], graded["expected"]
    students = ("half",)
    if name in LECTURES:
        students += ("correct", "corrupt")
    if name == KERNEL:
        students += ("wrong", "tamper", "faults", "reference")
    for student in students:
        got = scores[(student, name)]
        assert got.reasons == expected[(student, name)], (student, [r.details for r in got.rows])
        passed = sum(r.max_points for r in got.rows if r.reason == "passed")
        assert got.total == passed
        assert (
            (got.total == got.max_total > 0) if student == "correct" else got.total < got.max_total
        )
    if name == KERNEL:
        assert "library's answer" in scores[("reference", name)].rows[0].details
        tamper = scores[("tamper", name)].rows
        assert "library's answer" in tamper[0].details
        assert "only the submission's own folder is writable" in tamper[2].details


@pytest.mark.parametrize("name", ALL)
def test_a_half_solved_notebook_runs_in_the_sandbox_without_an_error(graded, name):
    """The solved exercises run in the experiments; each unsolved one falls back to the
    reference, so a student who has solved nothing yet still sees every experiment run."""
    nb = executed_nb(graded, "executed", "half", name)
    assert graded["scores"][("half", name)].run == "ok"
    assert errors(nb) == []
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count is not None for c in code)
    assert any(o.get("output_type") == "display_data" for c in code for o in c.outputs)
    n_unsolved = len(graded["unsolved"][name])
    assert 0 < n_unsolved < len(grade.exercises(nb))
    assert printed(nb).count("not implemented yet") == n_unsolved
    assert printed(nb).count("uses the reference") == n_unsolved


@pytest.mark.parametrize("name", ALL)
def test_a_build_assignment_is_graded_by_its_parts(graded, name):
    """Every lecture's build: a wrong build that fails both parts earns nothing, and the
    feedback says so of each part; a build that exhausts memory earns nothing. One lecture's
    build that fails its properties and keeps its outcome earns the outcome's share, and the
    feedback says which property failed (what the grader does with a share does not depend on
    the lecture)."""
    scores, expected = graded["scores"], graded["expected"]
    gid = assignments.ASSIGNMENTS[name[:-6]].grade_id
    students = ("build-wrong", "build-hog") + (("build-partial",) if name == HOGGED else ())
    for student in students:
        got = scores[(student, name)]
        assert got.reasons == expected[(student, name)], (student, [r.details for r in got.rows])
        row = next(r for r in got.rows if r.exercise == gid)
        if student == "build-partial":
            assert row.points == pytest.approx(row.max_points / 2), row.details
            assert "properties (50% of the points): wrong answer" in row.details
            assert "outcome (50% of the points): passed" in row.details
            assert row.hint.startswith("properties: ")
        elif student == "build-wrong":
            assert row.points == 0, row.details
            assert "properties (50% of the points): wrong answer" in row.details
            assert "outcome (50% of the points): wrong answer" in row.details
            assert "properties: " in row.hint and "outcome: " in row.hint
        else:
            assert row.points == 0 and "memory" in row.details.lower(), row.details


@pytest.mark.parametrize("name", [KERNEL])
def test_faults_in_the_kernel_end_the_execution_where_expected(graded, name):
    nb = executed_nb(graded, "faults", "faults", name)
    assert "timeout" in graded["scores"][("faults", name)].run
    assert any("memory" in e.lower() for e in errors(nb))  # the top cell's hog: survived
    first = grade.exercises(nbformat.read(ROOT / "notebooks" / name, as_version=4))[0]
    loop = nb.cells.index(answer_cell(nb, first["check_id"]))
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    assert all(nb.cells[i].execution_count is not None for i in code if i < loop)
    assert all(nb.cells[i].execution_count is None for i in code if i > loop)


@pytest.mark.parametrize("name", [KERNEL])
def test_the_tampering_ran_to_the_end_and_its_writes_were_refused(graded, name):
    nb = executed_nb(graded, "tampered", "tamper", name)
    assert graded["scores"][("tamper", name)].run == "ok"
    assert "PermissionError" in "".join(errors(nb))
    assert "PASS" in printed(nb)


def test_nothing_outside_a_submission_changed_and_no_process_is_left(graded):
    assert not graded["changed"]
    assert sandbox.processes(grader=os.getpid()) == []  # another worker's are not ours
