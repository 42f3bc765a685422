"""The grader's hidden checks (``harness.set_variant(v)``, v != 0: other seeds, so other
inputs) reject every wrong answer the visible checks reject, and pass the references and
the correct answers written differently."""

import pytest
import test_checks
import test_checks_diffusion
import test_checks_energy_mcmc
import test_checks_pixelcnn

from dgm import checks
from dgm.checks import harness

MODULES = (test_checks, test_checks_energy_mcmc, test_checks_pixelcnn, test_checks_diffusion)
WRONG = [(n, f, h) for m in MODULES for n, cases in m.WRONG.items() for f, h in cases]
RIGHT = [(n, f) for m in MODULES for n, f in m.RIGHT.items()]


@pytest.fixture(params=[1], ids=["variant1"])  # the grader's default (--seed 1)
def hidden(request, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    harness.set_variant(request.param)
    yield request.param
    harness.set_variant(0)


def verdict(name, fn, capsys):
    getattr(checks, name)(fn)
    capsys.readouterr()
    return checks.results[name]


@pytest.mark.parametrize("name,wrong,hint", WRONG, ids=[f"{n}-{h}" for n, _, h in WRONG])
def test_hidden_checks_reject_every_wrong_answer(name, wrong, hint, hidden, capsys):
    result = verdict(name, wrong, capsys)
    assert not result.passed and result.implemented, result.message


@pytest.mark.parametrize("name,right", RIGHT, ids=[n for n, _ in RIGHT])
def test_hidden_checks_pass_correct_answers_written_differently(name, right, hidden, capsys):
    assert verdict(name, right, capsys).passed


def test_hidden_checks_use_other_inputs(capsys):
    """A function that memorises the visible checks' answer fails the hidden ones."""
    seen = {}

    def memorise(X, w, mu, cov):
        return seen.setdefault(tuple(X.shape), checks.em.em.responsibilities(X, w, mu, cov))

    assert verdict("responsibilities", memorise, capsys).passed
    harness.set_variant(3)
    try:
        assert not verdict("responsibilities", memorise, capsys).passed
    finally:
        harness.set_variant(0)


def test_the_variant_must_be_a_natural_number():
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="set_variant: v must be an int"):
            harness.set_variant(bad)


def test_every_check_declares_its_references():
    for name in checks.__all__:
        obj = getattr(checks, name)
        if (
            callable(obj)
            and getattr(obj, "__module__", "").startswith("dgm.checks.")
            and (obj.__module__ != "dgm.checks.harness")
        ):
            assert obj.references and all(callable(r) for r in obj.references), name


# the grader's default seed is secret and random, and each submission's variant is derived
# from it: the references must pass in any variant, not only in the one the tests know
ANY_VARIANTS = (17, 908_301, 1_229_378_276, 2_147_483_646)  # the third: found by a grading


@pytest.mark.parametrize(
    "name", sorted(test_checks.RIGHT) + sorted(n for m in MODULES[1:] for n in m.RIGHT)
)
def test_every_reference_passes_in_any_hidden_variant(name, capsys, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    check = getattr(checks, name)
    try:
        for v in ANY_VARIANTS:
            harness.set_variant(v)
            assert verdict(name, check.references[0], capsys).passed, (v, checks.results[name])
    finally:
        harness.set_variant(0)


# run in a process of its own (binding the stubs rebinds the library's modules), which
# forks a child per lecture from one import of the library
HOLDERS = """
import builtins, gc, json, os, sys, types
import nbformat
from dgm.course import checker, grade, integrity

checker.import_library()  # as the answers process does


def described(holder, real):
    if isinstance(holder, dict):
        keys = [k for k in holder if holder[k] is real]
        return f"dict of {holder.get('__name__', '?')}: {keys}"
    return type(holder).__name__


def holders(path):
    release = nbformat.read(path, as_version=4)
    ns = {"__name__": "__main__", "__builtins__": builtins}
    exec(grade.imports(release), ns)
    checks, refs = checker.resolve(grade.exercises(release))
    integrity.bind_stubs(refs, ns, checks.values())
    gc.collect()
    out = {}
    for name in refs:
        others = [
            described(h, refs[name])
            for h in gc.get_referrers(refs[name])
            if h is not refs and not isinstance(h, types.FrameType)
        ]
        out[name] = others
    return out


for path in sys.argv[1:]:
    r, w = os.pipe()
    if os.fork() == 0:
        os.write(w, json.dumps(holders(path)).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        print(json.dumps({os.path.basename(path): json.loads(f.read())}))
    os.wait()
"""


def test_every_binding_of_every_lectures_references_is_a_stub():
    """What the answers process does before any answer runs (``integrity.bind_stubs``) leaves
    the real reference functions held by one dict, the hook's, and nothing an answer can
    reach: ``gc.get_referrers`` finds no module, class, registry, namespace or check that
    still holds one. (Found by this test: ``gan.GENERATOR_LOSSES["nonsaturating"]`` and
    ``mcmc.SAMPLERS["ula"]`` held the real functions, so an answer that called them through
    the registry was not refused.)"""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lectures = sorted(str(p) for p in (root / "notebooks").glob("0*.ipynb"))
    run = subprocess.run([sys.executable, "-c", HOLDERS, *lectures], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    found = {k: v for line in run.stdout.splitlines() for k, v in json.loads(line).items()}
    assert sorted(found) == sorted(Path(p).name for p in lectures)
    assert all(refs for refs in found.values())  # every lecture has references
    held = {(lec, name): h for lec, refs in found.items() for name, h in refs.items() if h}
    assert held == {}
