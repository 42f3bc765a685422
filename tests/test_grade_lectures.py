"""The autograder on submissions made from every lecture (01 has the full set, with
execution, in ``test_grade.py``): the solution, the blank release, a wrong answer to every
exercise, answers that only call the library's reference, and a corrupt file. Scored by
the checker alone (``execute=False``), as ``--no-execute`` does, to keep the suite short."""

from pathlib import Path

import nbformat
import pytest

from dgm import checks
from dgm.course import grade

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb") if p.name != "01_em.ipynb")

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


def answer_cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def made(base, sources: dict) -> str:
    nb = nbformat.from_dict(base)
    for gid, src in sources.items():
        answer_cell(nb, gid).source = src
    return nbformat.writes(nb)


def calls_the_reference(exercise) -> str:
    ref = getattr(checks, exercise["check"].rsplit(".", 1)[1]).references[0]
    return (
        f"import {ref.__module__} as _lib\n\n_theirs = _lib.{ref.__qualname__}\n\n\n"
        f"def {exercise['grade_id']}(*args, **kwargs):\n    return _theirs(*args, **kwargs)\n"
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder, expected = tmp_path_factory.mktemp("submissions"), {}
    for name in LECTURES:
        release = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        solution = nbformat.read(ROOT / "solutions" / name, as_version=4)
        found = grade.exercises(release)
        ids = [e["grade_id"] for e in found]
        right = {g: answer_cell(solution, g).source for g in ids}
        wrong = {
            g: WRONG[g](right[g]) if g in WRONG else right[g] + NUDGE.format(gid=g) for g in ids
        }
        cases = {
            "correct": (made(solution, {}), "passed"),
            "blank": (nbformat.writes(release), "not implemented"),
            "wrong": (made(solution, wrong), "wrong"),
            "reference": (
                made(solution, {e["grade_id"]: calls_the_reference(e) for e in found}),
                "tampered",
            ),  # fmt: skip
        }
        for student, (text, reason) in cases.items():
            (folder / f"{student}_{name}").write_text(text)
            expected[(student, name)] = dict.fromkeys(ids, reason)
        (folder / f"corrupt_{name}").write_text('{"cells": [')
        expected[("corrupt", name)] = dict.fromkeys(ids, "error")
    scores = grade.grade_folder(folder, tmp_path_factory.mktemp("out"), execute=False,
                                exercise_timeout=120)  # fmt: skip
    return {(s.student, s.notebook): s for s in scores}, expected


@pytest.mark.parametrize("name", LECTURES)
def test_each_lecture_is_graded_exactly_as_expected(graded, name):
    scores, expected = graded
    for student in ("correct", "blank", "wrong", "reference", "corrupt"):
        got = scores[(student, name)]
        assert got.reasons == expected[(student, name)], (student, [r.details for r in got.rows])
        if student == "correct":
            assert got.total == got.max_total > 0
        else:
            assert got.total == 0
    feedback = scores[("reference", name)].rows[0].details
    assert "library's answer" in feedback
