"""A check run twice: with the student's function where it runs, and replayed where it is judged.

The grader's checks are ordinary functions that call the student's function (``Exact``,
``Statistical``, ``Property`` judges; ``dgm.checks.harness``). The grader runs each check
in two processes:

* in the **answers** process (``dgm.course.checker``, confined, runs the submission), the
  check calls the student's function through a ``Recorder``, which writes one ``call``
  record per call: a digest of the inputs and of torch's RNG state before it, the result
  (plain values, ``dgm.course.wire``) or the exception, torch's RNG state after it, the
  new state of every argument it changed (tensors in place, modules, optimisers,
  generators), and, for outputs that carry gradients back to the inputs, one ``tap``
  record each time the check differentiates through them (the incoming gradient and the
  gradients it produced for the inputs);
* in the **judge** process (``dgm.course.judge``, which never runs student code), the same
  check calls a ``Replayer`` instead: it checks that its own inputs and RNG state have the
  recorded digests, then returns the recorded result, applies the recorded changes and RNG
  state, and answers each differentiation with the recorded gradients.

The check is deterministic given its inputs and the RNG, so both runs make the same calls;
the verdict comes from the judge's run, where the comparisons, statistics and thresholds
are the library's own, untouched by anything the submission did to its process. A
recording that does not match the judge's run (other inputs, other RNG state, other
gradients asked for, more calls) is reported, never trusted.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Callable

import torch

from ..checks.harness import flatten, reach
from . import wire

MUTABLE = (torch.Tensor, torch.nn.Module, torch.optim.Optimizer, torch.Generator)


class ReplayError(Exception):
    """The recording does not match the judge's own run of the check."""


# --------------------------------------------------------------------------- what a call sees


def _canonical(obj):
    """A plain description of ``obj`` for its digest: values, not identities."""
    if isinstance(obj, torch.nn.Module):
        return ("module", type(obj).__qualname__, state(obj, copy=False))
    if isinstance(obj, torch.optim.Optimizer):
        return ("optimizer", type(obj).__qualname__, state(obj, copy=False))
    if isinstance(obj, torch.Generator):
        return ("generator", obj.get_state())
    if isinstance(obj, torch.Tensor):
        return ("tensor", obj.detach(), obj.requires_grad)
    if callable(obj):
        return ("callable", getattr(obj, "__qualname__", type(obj).__qualname__))
    return ("value", obj)


def _feed(h, v, depth: int = 0) -> None:
    """Hash ``v`` (a ``_canonical`` description) into ``h``: each container's kind and
    length, each number or string by its ``repr``, each tensor's dtype, shape and raw bytes
    (read in place, never copied into a message), any other value as the wire writes it."""
    t = type(v)
    if depth > 50:
        raise TypeError("replay: nested too deeply")
    if v is None or t in (bool, int, float, str):
        h.update(f"{t.__name__}{v!r}|".encode())
    elif isinstance(v, torch.Tensor):
        x = v.detach()
        h.update(f"T{x.dtype}{tuple(x.shape)}{v.requires_grad}|".encode())
        if x.numel():
            h.update(x.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    elif t in (tuple, list):
        h.update(f"{t.__name__}{len(v)}|".encode())
        for x in v:
            _feed(h, x, depth + 1)
    elif t is dict or t is collections.OrderedDict:  # a state_dict: as a dict
        h.update(f"dict{len(v)}|".encode())
        for k, x in v.items():
            _feed(h, k, depth + 1)
            _feed(h, x, depth + 1)
    else:
        h.update(wire.encode(v))


def _into(h, obj) -> None:
    try:
        _feed(h, _canonical(obj))
    except TypeError:  # an object the wire does not carry: its kind only
        h.update(wire.encode(("object", type(obj).__qualname__)))


def digest(value) -> str:
    """SHA-256 of what ``value``'s objects hold (the same in both processes, or not)."""
    h = hashlib.sha256()
    for obj in flatten(value):
        _into(h, obj)
    return h.hexdigest()


def rng_digest() -> str:
    return hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()


def state(obj, copy: bool = True):
    """The state of a mutable argument, as plain values (``copy=False``: its tensors not
    copied, to be read at once, as a digest does)."""

    def value(t):
        return t.detach().clone() if copy else t.detach()

    if isinstance(obj, torch.nn.Module):
        params = dict(obj.named_parameters())
        return {
            "values": {k: value(v) for k, v in obj.state_dict().items()},
            "grads": {k: None if p.grad is None else value(p.grad) for k, p in params.items()},
            "requires_grad": {k: p.requires_grad for k, p in params.items()},
            "training": [m.training for m in obj.modules()],
        }
    if isinstance(obj, torch.optim.Optimizer):
        sd = obj.state_dict()
        return {"state": sd["state"], "param_groups": sd["param_groups"]}
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, torch.Tensor):
        return (value(obj), None if obj.grad is None else value(obj.grad))
    return None


def apply(obj, new) -> None:
    """Give a mutable argument the recorded ``state(obj)`` of its twin."""
    if isinstance(obj, torch.nn.Module):
        obj.load_state_dict(new["values"])
        params = dict(obj.named_parameters())
        for k, p in params.items():
            p.grad = new["grads"][k]
            p.requires_grad_(new["requires_grad"][k])
        for m, training in zip(obj.modules(), new["training"]):
            m.training = training
    elif isinstance(obj, torch.optim.Optimizer):
        obj.load_state_dict({"state": new["state"], "param_groups": new["param_groups"]})
    elif isinstance(obj, torch.Generator):
        obj.set_state(new)
    elif isinstance(obj, torch.Tensor):
        values, grad = new
        with torch.no_grad():
            obj.copy_(values)
        obj.grad = grad


def leaves(args) -> list[torch.Tensor]:
    """What gradients may flow to: tensors needing them, and the parameters of modules."""
    found: list[torch.Tensor] = []
    for obj in reach(args):
        if isinstance(obj, torch.nn.Module):
            found += [p for p in obj.parameters() if p.requires_grad]
        elif isinstance(obj, torch.Tensor) and obj.requires_grad:
            found.append(obj)
    unique = {id(t): t for t in found}  # a parameter reached twice is one leaf
    return list(unique.values())


def reachable(outputs: list[torch.Tensor], candidates: list[torch.Tensor]) -> list[torch.Tensor]:
    """The ``candidates`` that ``outputs`` depend on, through their autograd graphs.

    Autograd runs a node only on the way to a gradient it was asked for; connecting the
    replay to exactly these leaves makes the judge's run ask for the recorded gradients
    exactly when the answers' run computed them."""
    targets = {id(t): t for t in candidates}
    hit = {id(t) for t in outputs if id(t) in targets}
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    seen = set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        variable = getattr(fn, "variable", None)  # AccumulateGrad: a leaf
        if variable is not None and id(variable) in targets:
            hit.add(id(variable))
        stack.extend(f for f, _ in fn.next_functions)
    return [t for t in candidates if id(t) in hit]


def _tensors(value) -> list[int]:
    """Indices, in ``flatten(value)``, of the tensors that carry a gradient."""
    return [
        i for i, v in enumerate(flatten(value)) if isinstance(v, torch.Tensor) and v.requires_grad
    ]


def _rebuild(value, replace: dict, counter: list | None = None):
    """``value`` with its ``flatten`` items at the indices in ``replace`` replaced."""
    counter = [0] if counter is None else counter
    t = type(value)
    if t in (tuple, list) or (isinstance(value, tuple) and hasattr(value, "_fields")):
        items = [_rebuild(v, replace, counter) for v in value]
        return t(*items) if hasattr(value, "_fields") else t(items)
    if t is dict or t is collections.OrderedDict:  # a state_dict arrives as a dict
        return {k: _rebuild(v, replace, counter) for k, v in value.items()}
    i = counter[0]
    counter[0] += 1
    return replace.get(i, value)


# --------------------------------------------------------------------------- the answers' side


class Recorder:
    """The student's function as the check in the answers process calls it: each call recorded.

    ``write(record)`` sends one record (a dict of plain values) to the judge.
    """

    def __init__(self, fn: Callable, write: Callable[[dict], None], check_output: Callable):
        self.fn, self.write, self.check_output = fn, write, check_output
        self.calls = 0

    def __call__(self, *args, **kwargs):
        call = self.calls
        self.calls += 1
        inputs = (args, kwargs)
        mutable = [o for o in reach(inputs) if isinstance(o, MUTABLE)]
        before = [digest(o) for o in mutable]
        record = {"kind": "call", "call": call, "inputs": digest(inputs), "rng": rng_digest()}
        dtype, grad_mode = torch.get_default_dtype(), torch.is_grad_enabled()
        try:
            try:
                out = self.fn(*args, **kwargs)
            finally:  # as in the judge, where no student code runs to change them
                torch.set_default_dtype(dtype)
                torch.set_grad_enabled(grad_mode)
            self.check_output(out)
            try:
                wire.encode(out)
            except TypeError as err:  # a value the wire cannot carry: the answer's error
                raise TypeError(f"return plain values (tensors, numbers, tuples): {err}") from None
        except BaseException as err:  # noqa: BLE001  (recorded, then raised as the student's)
            record.update(raised=[type(err).__name__, str(err)[:2000]])
            self._finish(record, mutable, before)
            raise
        candidates = leaves(inputs)
        tapped = _tensors(out)
        outs = flatten(out)
        used = reachable([outs[i] for i in tapped], candidates)
        if not used or not torch.is_grad_enabled():  # no gradient can reach the inputs
            out, tapped = _rebuild(out, {i: outs[i].detach() for i in tapped}), []
        grads = [i for i, t in enumerate(candidates) if any(t is u for u in used)]
        record.update(out=out, tapped=len(tapped), leaves=grads)
        self._finish(record, mutable, before)
        grads = used
        if tapped:
            outs = flatten(out)
            taps = Tap.apply(
                self, call, [outs[i] for i in tapped], grads, *[outs[i] for i in tapped]
            )
            out = _rebuild(out, dict(zip(tapped, taps)))
        return out

    def _finish(self, record, mutable, before) -> None:
        record["rng_after"] = torch.get_rng_state()
        record["changed"] = {
            i: state(o) for i, (o, d) in enumerate(zip(mutable, before)) if digest(o) != d
        }
        self.write(record)


class Tap(torch.autograd.Function):
    """Identity on the student's outputs; on the way back, records the gradients it sees
    arrive and the gradients they give the inputs, for the judge to replay."""

    @staticmethod
    def forward(ctx, recorder, call, outputs, inputs, *tensors):
        ctx.recorder, ctx.call, ctx.outputs, ctx.inputs = recorder, call, outputs, inputs
        ctx.set_materialize_grads(False)  # an output the check did not use: None, not zeros
        return tuple(t.detach().clone() for t in tensors)

    @staticmethod
    def backward(ctx, *grad_out):
        record = {
            "kind": "tap",
            "call": ctx.call,
            "grad_out": [None if g is None else g.detach() for g in grad_out],
        }
        try:
            grad_in = vjp(ctx.outputs, grad_out, ctx.inputs)
        except Exception as err:  # the student's own backward raised: the judge raises it too
            ctx.recorder.write({**record, "raised": [type(err).__name__, str(err)[:2000]]})
            raise
        record["grad_in"] = [None if g is None else g.detach() for g in grad_in]
        ctx.recorder.write(record)
        return (None, None, None, None, *grad_out)


FREED = "backward through the graph a second time"


def vjp(outputs, grad_out, inputs) -> list:
    """The gradients ``grad_out`` at ``outputs`` give ``inputs`` (``None``: none reach it).

    The check may already have freed the parts of the graph it no longer needs (two losses
    of one graph, each differentiated once); an input whose path was freed gets ``None``,
    which is what the check's own pass could not have asked for either."""
    pairs = [(o, g) for o, g in zip(outputs, grad_out) if g is not None]
    if not pairs or not inputs:
        return [None] * len(inputs)
    outs, gs = zip(*pairs)
    try:
        return list(torch.autograd.grad(outs, inputs, gs, retain_graph=True, allow_unused=True))
    except RuntimeError as err:
        if FREED not in str(err):
            raise
    found = []
    for x in inputs:
        try:
            found.append(
                torch.autograd.grad(outs, [x], gs, retain_graph=True, allow_unused=True)[0]
            )
        except RuntimeError as err:
            if FREED not in str(err):
                raise
            found.append(None)
    return found


# --------------------------------------------------------------------------- the judge's side


class Replayer:
    """What the check in the judge calls in place of the student's function.

    ``read()`` returns the next record of the answers process (``None`` when the exercise
    ended there). Exceptions the student's function raised are raised again under their
    name, so the check reports them as it would have.
    """

    def __init__(self, read: Callable[[], dict | None], name: str):
        self.read, self.__name__ = read, name
        self.__qualname__ = name
        self.calls = 0

    def __call__(self, *args, **kwargs):
        record = self.read()
        inputs = (args, kwargs)
        if record is None or record.get("kind") != "call" or record.get("call") != self.calls:
            raise ReplayError(f"call {self.calls} of the check is not in the answers' record")
        self.calls += 1
        if record["inputs"] != digest(inputs):
            raise ReplayError(f"call {record['call']}: the answers process had other inputs")
        if record["rng"] != rng_digest():
            raise ReplayError(f"call {record['call']}: the answers process had another RNG state")
        mutable = [o for o in reach(inputs) if isinstance(o, MUTABLE)]
        for i, new in record["changed"].items():
            if not (isinstance(i, int) and 0 <= i < len(mutable)):
                raise ReplayError(f"call {record['call']}: a change to an argument that is not one")
            try:
                apply(mutable[i], new)
            except (RuntimeError, KeyError, TypeError, ValueError) as err:
                raise ReplayError(f"call {record['call']}: {type(err).__name__}: {err}") from None
        torch.set_rng_state(record["rng_after"])
        if "raised" in record:
            name, message = record["raised"]
            if name == "NotImplementedError":
                raise NotImplementedError(message)
            raise _named(name)(message)
        out = _detached(record["out"])
        if record["tapped"]:
            candidates = leaves(inputs)
            picked = record["leaves"]
            if not (
                isinstance(picked, list)
                and all(isinstance(i, int) and 0 <= i < len(candidates) for i in picked)
                and torch.is_grad_enabled()
            ):
                raise ReplayError(f"call {record['call']}: other inputs carry gradients")
            grads = [candidates[i] for i in picked]
            tapped = _tensors(record["out"])
            outs = flatten(out)
            replayed = Replayed.apply(self, record["call"], [outs[i] for i in tapped], *grads)
            out = _rebuild(out, dict(zip(tapped, replayed)))
        return out


def _detached(value):
    """The recorded output, its tensors made fresh (no gradient history of their own)."""
    outs = flatten(value)
    fresh = {i: v.detach() for i, v in enumerate(outs) if isinstance(v, torch.Tensor)}
    return _rebuild(value, fresh)


class Replayed(torch.autograd.Function):
    """The recorded outputs, differentiable: backward returns the recorded gradients."""

    @staticmethod
    def forward(ctx, replayer, call, outputs, *inputs):
        ctx.replayer, ctx.call, ctx.n = replayer, call, len(inputs)
        ctx.set_materialize_grads(False)
        return tuple(o.clone() for o in outputs)

    @staticmethod
    def backward(ctx, *grad_out):
        record = ctx.replayer.read()
        if record is None or record.get("kind") != "tap" or record.get("call") != ctx.call:
            raise ReplayError(f"a gradient through call {ctx.call} is not in the answers' record")
        recorded = record["grad_out"]
        if len(recorded) != len(grad_out) or not all(map(_same_gradient, grad_out, recorded)):
            raise ReplayError(f"call {ctx.call}: another gradient flowed into the answer")
        if "raised" in record:
            name, message = record["raised"]
            raise _named(name)(message)
        grad_in = record["grad_in"]
        if len(grad_in) != ctx.n:
            raise ReplayError(f"call {ctx.call}: gradients for other inputs")
        return (None, None, None, *grad_in)


def _same_gradient(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and torch.allclose(a.detach(), b.to(a.dtype), rtol=1e-6, atol=1e-12)


def _named(name: str) -> type:
    """An exception class called ``name`` (the student's exception, by name only)."""
    safe = "".join(c for c in str(name)[:60] if c.isalnum() or c == "_") or "Exception"
    return type(safe, (Exception,), {})
