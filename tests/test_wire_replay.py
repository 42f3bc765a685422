"""The judge's two halves: plain data on the wire (no pickle), and a check replayed.

Every check of the course, run once on a recording student function and once on its
replay, must reach the same verdict with the same details: for the reference itself, for a
function that nudges the reference's outputs, for one that raises and for one not yet
written. A recording that does not match the judge's own run is refused.
"""

import collections
import math

import numpy as np
import pytest
import torch

import dgm
from benchmarks import assignments
from dgm import em
from dgm.checks import harness
from dgm.course import integrity, replay, wire

BUILDS = {a.grade_id for a in assignments.ASSIGNMENTS.values()}
CHECKS = [
    getattr(dgm.checks, name)
    for name in sorted(dir(dgm.checks))
    if hasattr(getattr(dgm.checks, name), "references")
]


def roundtrip(value):
    return wire.decode(wire.encode(value))


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.requires_grad == b.requires_grad
            and torch.equal(a.detach(), b.detach())
        )
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return type(b) is float and math.isnan(b)
    if type(a) in (tuple, list) or isinstance(a, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if type(a) is dict:
        return type(b) is dict and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


VALUES = [
    None,
    True,
    7,
    2**80,
    -0.0,
    float("inf"),
    float("nan"),
    1e-310,
    "text é",
    3 + 4j,
    (1, [2.5, (3,)], {"a": 1, 2: None, (1, 2): "tuple key"}),
    torch.arange(6.0).reshape(2, 3),
    torch.tensor(3.5, dtype=torch.float64),
    torch.randn(3, requires_grad=True),
    torch.tensor([True, False]),
    torch.arange(4, dtype=torch.int64),
    torch.randn(2, 2, dtype=torch.bfloat16),
    torch.randn(2, dtype=torch.complex64),
    torch.empty(0, 3),
    torch.randn(4, 3).T,  # not contiguous
    torch.Size([2, 3]),
    torch.float16,
    torch.device("cpu"),
    np.arange(5, dtype=np.float32).reshape(5, 1),
    np.float64(2.5),
    np.int32(-3),
    em.GMM(torch.ones(2) / 2, torch.zeros(2, 1), torch.ones(2, 1, 1)),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_plain_values_cross_the_wire_unchanged(value):
    assert same(value, roundtrip(value))


def test_the_wire_carries_no_other_objects():
    for bad in (object(), torch.nn.Linear(1, 1), np.array([object()]), lambda: 0):
        with pytest.raises(TypeError, match="wire: cannot carry|objects"):
            wire.encode(bad)
    with pytest.raises(TypeError, match="dense"):
        wire.encode(torch.eye(2).to_sparse())


@pytest.mark.parametrize(
    "header",
    [
        b'{"nt": "os:system", "t": []}',  # a named tuple that is not the library's
        b'{"nt": "dgm.em:responsibilities", "t": []}',  # the library, not a named tuple
        b'{"T": 0, "dtype": "float32", "shape": [1000], "grad": false}',  # missing bytes
        b'{"T": 0, "dtype": "no_such_dtype", "shape": [1], "grad": false}',
        b'{"zz": 1}',
        b"[" * 100_000 + b"]" * 100_000,
        # a header that would have the reader allocate what the message did not bring
        b'{"T": 0, "dtype": "float32", "shape": [100000, 100000, 100000], "grad": false}',
        b'{"T": 0, "dtype": "float32", "shape": [-1, -4], "grad": false}',
        b'{"N": 0, "dtype": "<f8", "shape": [100000, 100000]}',
        b'[{"T": 0, "dtype": "float32", "shape": [1], "grad": false}, {"T": 0, "dtype": "float32", "shape": [1], "grad": false}]',  # noqa: E501  (one blob, read twice)
    ],
)
def test_a_forged_message_is_refused_not_obeyed(header):
    blob = b'"T"' in header or b'"N"' in header
    sizes = b"[4]" if blob else b"[]"
    body = b"\0\0\0\0" if blob else b""
    message = wire.MAGIC + wire.LENGTH.pack(len(header)) + header
    message += wire.LENGTH.pack(len(sizes)) + sizes + body
    with pytest.raises(wire.WireError):
        wire.decode(message)
    with pytest.raises(wire.WireError):
        wire.decode(b"not a message at all")
    with pytest.raises(wire.WireError):
        wire.decode(wire.encode((1, 2))[:-1])


def test_frames_cross_a_pipe_and_an_oversized_one_is_refused():
    import os

    r, w = os.pipe()
    wire.write_frame(w, wire.encode({"a": torch.ones(3)}))
    wire.write_frame(w, b"x" * 1000)
    os.close(w)
    assert same(wire.decode(wire.read_frame(r, 2**20)), {"a": torch.ones(3)})
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.read_frame(r, 100)
    os.close(r)


# --------------------------------------------------------------------------- replay


def _nudge(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value + 1e-2
    if isinstance(value, float):
        return value + 1e-2
    if type(value) in (tuple, list):
        return type(value)(_nudge(v) for v in value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_nudge(v) for v in value])
    return value


def students(check):
    reference = check.references[0]

    def correct(*args, **kwargs):
        return reference(*args, **kwargs)

    def nudged(*args, **kwargs):
        return _nudge(reference(*args, **kwargs))

    def raises(*args, **kwargs):
        raise ValueError("a bug in the answer")

    def unsolved(*args, **kwargs):
        raise NotImplementedError

    if check.__name__ in BUILDS:
        # a build's answer acts on its arguments (it trains or samples): a nudged output is
        # no mistake there; test_assignments replays a wrong build of each lecture instead,
        # and test_grade_lectures grades each solved build through the grader (passed)
        return {"raises": raises, "unsolved": unsolved}
    return {"correct": correct, "nudged": nudged, "raises": raises, "unsolved": unsolved}


def run(check, student):
    results = []
    real = harness.record
    harness.record = lambda result, quiet=False: results.append(result) or result
    try:
        torch.manual_seed(harness.seeded(0))
        try:
            check(student)
        except Exception:  # noqa: BLE001  (finish() may raise in grading mode)
            pass
    finally:
        harness.record = real
    return results[-1]


def recorded_and_replayed(check, fn, name):
    records = []
    recorder = replay.Recorder(fn, lambda r: records.append(roundtrip(r)), lambda out: None)
    recorder.__name__ = name
    there = run(check, recorder)
    replayer = replay.Replayer(lambda: records.pop(0) if records else None, name)
    problems = []

    def student(*args, **kwargs):
        try:
            return replayer(*args, **kwargs)
        except replay.ReplayError as err:
            problems.append(err)
            raise

    here = run(check, student)
    return there, here, problems, records


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_every_check_reaches_the_same_verdict_on_its_replay(check):
    harness.set_variant(3)
    try:
        for kind, fn in students(check).items():
            there, here, problems, left = recorded_and_replayed(check, fn, check.__name__)
            assert problems == [], (kind, problems)
            assert (here.status, here.details, here.hint) == (
                there.status,
                there.details,
                there.hint,
            ), kind
            if kind == "correct":
                assert here.status == "passed", here.details
            if kind in ("raises", "unsolved"):
                assert here.status == ("error" if kind == "raises" else "not implemented")
    finally:
        harness.set_variant(0)


def test_a_recording_with_other_inputs_or_results_is_refused():
    check = dgm.checks.responsibilities
    records = []
    recorder = replay.Recorder(
        em.responsibilities, lambda r: records.append(roundtrip(r)), lambda out: None
    )
    run(check, recorder)
    for forge in ("inputs", "rng", "call"):
        forged = [dict(r) for r in records]
        forged[0][forge] = "0" * 64 if forge != "call" else 5
        replayer = replay.Replayer(lambda f=forged: f.pop(0) if f else None, "responsibilities")
        with pytest.raises(replay.ReplayError):
            replayer(*_first_args(check))


def _first_args(check):
    """The arguments of the check's first call of the student's function."""
    seen = []

    def spy(*args):
        seen.append(args)
        raise NotImplementedError

    run(check, spy)
    return seen[0]


def test_a_state_dict_travels_as_a_dict_and_an_object_inside_one_does_not():
    """A build returns ``model.state_dict()``, an ``OrderedDict``: the answers process's guard
    lets it through, the wire carries it as a dict, and the recorded output is rebuilt the
    same way on both sides; a subclass of it, or an object inside it, is refused."""
    allowed = integrity.allowed_types()
    state = torch.nn.Linear(2, 3).state_dict()
    assert type(state) is collections.OrderedDict
    assert integrity.plain((state, torch.zeros(2)), allowed) is None
    back = roundtrip(state)
    assert type(back) is dict and list(back) == list(state)
    assert all(torch.equal(back[k], state[k]) for k in state)
    assert harness.flatten(state) == list(state.values())

    class Sneaky(collections.OrderedDict):
        pass

    assert integrity.plain(Sneaky(a=1), allowed) is not None
    assert integrity.plain(collections.OrderedDict(a=object()), allowed) is not None
