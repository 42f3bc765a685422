"""The one harness behind every exercise check.

An exercise is a function the student writes; the cell after it calls its check::

    responsibilities = dgm.checks.responsibilities(responsibilities)

A check is a list of test cases and, for each, one or more *judges* that compare the
student's function with the library's reference:

- ``Exact``: one call each, outputs compared value for value (deterministic functions,
  or random ones under a seed the exercise prescribes).
- ``Statistical``: many calls each, with fresh noise every call; the means must agree
  within sampling error, and the student's draws must vary where the reference's do.
  A correct answer that draws its noise differently passes.
- ``Property``: a function that tests what must hold (moments, gradients, shapes) and
  returns a hint when it does not.

A check states only that: ``@exercise(reference, ...)`` on a function that returns a
``Judging`` (its cases, judges, diagnoses and hint). The decorator runs it under the
exercise's name with ``run_check``, which returns a ``CheckResult`` and prints PASS or FAIL
with a hint aimed at the likely mistake, then ``finish``, which returns the function the
notebook should use from then on: the student's own when it passes, else the reference
(saying so), so a notebook keeps working while an exercise is unsolved. Under an
autograder (``dgm.config.grading()``) a failed check raises ``CheckFailure``, an
``AssertionError``, so the check cell fails.

The references it declares are also what the grader refuses to the answer. A check's seeds
go through ``seeded`` or ``generator`` and some sizes through ``size``: with
``set_variant(v)``, v != 0, the same checks run on other inputs, the grader's hidden checks.
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .. import config

Diagnose = Callable[[tuple, object, object], "str | None"]

PASSED, WRONG, NOT_IMPLEMENTED, ERROR = "passed", "wrong", "not implemented", "error"
PARTIAL = "partial"  # a build assignment whose properties or outcome (not both) passed


_variant = 0  # 0: the checks a student sees; any other int: the grader's hidden variant


def set_variant(v: int) -> None:
    """Run every check from now on with variant ``v`` (0: the visible checks)."""
    global _variant
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"set_variant: v must be an int >= 0, got {v!r}")
    _variant = v


def seeded(base: int) -> int:
    """The seed a check uses where its code says ``base``: ``base`` itself when visible."""
    return base if _variant == 0 else base + 7919 * _variant


def generator(base: int) -> torch.Generator:
    """A CPU generator seeded with ``seeded(base)``."""
    return torch.Generator().manual_seed(seeded(base))


def size(n: int) -> int:
    """A test size: ``n`` in the visible checks, a little larger in a hidden variant."""
    return n if _variant == 0 else n + 1 + _variant % 3


@dataclass
class Judging:
    """What a check states: its test cases and how each is judged (``run_check``'s
    arguments). ``student`` is the answer as judged (a wrapper of it, e.g. one that adapts its
    outputs) and ``reference`` what it is compared with; by default the answer itself and the
    exercise's first reference."""

    cases: Sequence[tuple[str, tuple]]
    judges: Sequence[Callable] | Callable | None = None
    diagnoses: Sequence[Diagnose] = ()
    hint: str = ""
    student: Callable | None = None
    reference: Callable | None = None


@dataclass
class Build:
    """What a build assignment's check states: two ``Judging``s scored apart.

    ``properties`` tests what the build must do whatever it returns (shapes, which
    parameters a step moves, a step size held fixed); ``outcome`` what it achieves on a target
    the student never saw, after a fixed budget. Each earns its share of the points:
    ``properties_share`` of them, and the rest for the outcome. The outcome is judged even
    when a property fails (it is scored apart), but not when the build is unsolved.
    """

    properties: Judging
    outcome: Judging
    properties_share: float = 0.5

    def __post_init__(self):
        if not 0 < self.properties_share < 1:
            raise ValueError(
                f"Build: properties_share must be in (0, 1), got {self.properties_share!r}"
            )


def exercise(*references: Callable) -> Callable:
    """Make a check from a function that states its ``Judging``.

    ``references`` are the library functions that answer the exercise (``.references``: the
    grader refuses them to the answer it grades, so only calling them earns nothing); the
    first is what a failed answer is replaced by. The decorated function ``judging(fn)``
    returns a ``Judging`` (or, for a check judged in stages, the ``CheckResult`` of its own
    ``run_check`` calls). The check ``check(fn)`` runs it under the function's name, the
    exercise's, and returns ``finish``'s function: ``fn`` when it passed, else the reference.
    """
    if not references or not all(callable(r) for r in references):
        raise TypeError("exercise: expected the reference functions of the exercise")

    def declare(judging: Callable) -> Callable:
        name = judging.__name__

        @functools.wraps(judging)
        def check(fn: Callable) -> Callable:
            if not callable(fn):
                raise TypeError(f"checks.{name}: expected your function, got {type(fn).__name__}")
            reference = check.references[0]  # read here: the grader rebinds .references
            spec = judging(fn)
            if isinstance(spec, Build):
                spec = run_build(name, fn, reference, spec)
            elif isinstance(spec, Judging):
                spec = run_check(
                    name,
                    spec.student or fn,
                    spec.reference or reference,
                    spec.cases,
                    spec.judges,
                    spec.diagnoses,
                    spec.hint,
                )
            return finish(spec, fn, reference)

        check.__annotations__ = {"fn": "Callable", "return": "Callable"}
        check.references = references
        return check

    return declare


class CheckFailure(AssertionError):
    """A check failed in grading mode."""


@dataclass
class CheckResult:
    """Outcome of one check.

    Attributes
    ----------
    name : str
        The exercise, e.g. ``"responsibilities"``.
    status : str
        ``"passed"``, ``"wrong"``, ``"not implemented"`` or ``"error"`` (the function raised).
    details : str
        What was tested, or what differed and on which test case.
    hint : str
        What to change, aimed at the likely mistake (empty when passed).
    share : float or None
        The share of the points earned, for a check scored in parts (a build assignment);
        ``None``: all when passed, none otherwise.
    """

    name: str
    status: str
    details: str = ""
    hint: str = ""
    share: float | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def implemented(self) -> bool:
        return self.status != NOT_IMPLEMENTED

    @property
    def points(self) -> float:
        """The share of the exercise's points earned: 1 or 0, or a build's parts' shares."""
        if self.share is not None:
            return self.share
        return 1.0 if self.passed else 0.0

    @property
    def message(self) -> str:
        lines = [f"{self.name}: {self.details}"]
        lines += [f"  hint: {h}" for h in self.hint.split("\n") if h]
        return "\n".join(lines)

    def __bool__(self) -> bool:
        return self.passed


results: dict[str, CheckResult] = {}  # the latest result of each check, for ``summary()``
measurements: list[dict] = []  # what the build checks measured, for their calibration


def measured(**values: float) -> None:
    """Note what a check measured (a statistic against its threshold): the calibration
    benchmark (``benchmarks.assignments``) reads them to record each threshold's margin."""
    measurements.append({k: float(v) for k, v in values.items()})


class StudentError(Exception):
    """Raised inside a judge when the student's function is unsolved or raises."""

    def __init__(self, result: CheckResult):
        super().__init__(result.details)
        self.result = result


# torch's errors whose cause a student rarely guesses from the message: {text in it: hint}
ERROR_HINTS = {
    "modified by an inplace operation": (
        "a loss was computed before an optimiser's step changed, in place, parameters its "
        "graph holds, and backpropagated after it: compute that loss after the step (in a GAN, "
        "the generator's loss from logits under the updated discriminator), or detach from it "
        "what that step trained."
    ),
    "a leaf Variable that requires grad is being used in an in-place operation": (
        "an in-place update of weights that take gradients, outside torch.no_grad(): make such "
        "updates (an average of weights, a step by hand) under torch.no_grad()."
    ),
    "backward through the graph a second time": (
        "a second backward through a graph the first one freed: detach what the first loss "
        "must not train (in a GAN, the generated points in the discriminator's loss: "
        "fake.detach()), or compute the second loss from a fresh forward pass; "
        "retain_graph=True is rarely the fix."
    ),
    "is out of bounds for dimension": (
        "an index past the end of a dimension: check each index against the shape of what it "
        "indexes (an image batch's x.shape[-2:] is (H, W), and pixel i in raster order is row "
        "i // W, column i % W)."
    ),
    "probability tensor contains either `inf`, `nan` or element < 0": (
        "torch.multinomial was given NaN, inf or negative weights: look for a division by "
        "zero before it (a mean over no values: divide by the count clamped to at least 1) "
        "or a sign error."
    ),
}


def call(name: str, fn: Callable, args: tuple, where: str = ""):
    """``fn(*args)``, turning ``NotImplementedError`` or any error into ``StudentError``."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise StudentError(CheckResult(name, NOT_IMPLEMENTED, "not implemented yet.")) from None
    except Exception as err:  # the student's bug, reported rather than raised
        case = f"\n  on the test case: {where}" if where else ""
        hint = next((h for text, h in ERROR_HINTS.items() if text in str(err)), "")
        raise StudentError(
            CheckResult(name, ERROR, f"raised {type(err).__name__}: {err}{case}", hint)
        ) from None


def outputs(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def compare(out, ref, names: Sequence[str], rtol: float, atol: float) -> str | None:
    """``None`` if ``out`` matches ``ref``; else what differs, in words."""
    outs, refs = outputs(out), outputs(ref)
    if len(outs) != len(refs):
        return f"expected {len(refs)} outputs ({', '.join(names)}), got {len(outs)}"
    for name, o, r in zip(names, outs, refs):
        problem = _shape_problem(name, o, r)
        if problem:
            return problem
        o = o.detach().to(r.dtype)
        if not torch.isfinite(o).all() and torch.isfinite(r).all():
            return f"{name}: contains NaN or inf where the reference is finite"
        if not torch.allclose(o, r, rtol=rtol, atol=atol):
            err = (o - r).abs().max().item()
            return f"{name}: values differ from the reference (max abs error {err:.3g})"
    return None


def _shape_problem(name: str, o, r) -> str | None:
    if not torch.is_tensor(o):
        return f"{name}: expected a tensor, got {type(o).__name__}"
    if tuple(o.shape) != tuple(r.shape):
        hint = " (transposed?)" if tuple(o.shape) == tuple(r.shape)[::-1] else ""
        return f"{name}: expected shape {tuple(r.shape)}, got {tuple(o.shape)}{hint}"
    return None


def flatten(value, found: list | None = None, depth: int = 0) -> list:
    """The objects inside ``value`` (through tuples, lists and dict values), in order."""
    found = [] if found is None else found
    if depth > 20:
        return found
    if type(value) in (tuple, list) or (isinstance(value, tuple) and hasattr(value, "_fields")):
        for v in value:
            flatten(v, found, depth + 1)
    elif type(value) in (dict, collections.OrderedDict):  # a state_dict is an OrderedDict
        for v in value.values():
            flatten(v, found, depth + 1)
    else:
        found.append(value)
    return found


def reach(value) -> list:
    """``flatten(value)``, and what its functions hold: a bound method's object, a function's
    attributes and closure (a check may hand over ``U`` with ``U.net`` a module, or a lambda
    around one); the objects a call may change or differentiate, in a fixed order."""
    found, seen = [], set()

    def visit(obj, depth):
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, (torch.nn.Module, torch.Tensor, type)) or not callable(obj):
            return
        inner = []
        if hasattr(obj, "__self__") and not isinstance(obj.__self__, type(torch)):
            inner.append(obj.__self__)
        inner += list(getattr(obj, "__dict__", {}).values())
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                inner.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        for v in inner:
            for item in flatten(v):
                visit(item, depth + 1)

    for item in flatten(value):
        visit(item, 0)
    return found


def _held(value) -> list[torch.Tensor]:
    """The tensors an argument holds: what ``reach`` finds, a module's parameters and buffers
    for each module (a check may pass ``U`` with ``U.net``, or a module's bound method)."""
    held = []
    for obj in reach(value):
        if isinstance(obj, torch.Tensor):
            held.append(obj)
        elif isinstance(obj, torch.nn.Module):
            held += [*obj.parameters(), *obj.buffers()]
        elif isinstance(obj, dict):  # a subclass (OrderedDict, a state_dict): flatten keeps it
            held += _held(list(obj.values()))
        elif isinstance(obj, (list, tuple)):
            held += _held(list(obj))
    return held


def unchanged(args) -> Callable[[], str | None]:
    """A snapshot of the arguments; calling it says which one changed since (or ``None``).

    An answer that changes its inputs in place would change the reference's inputs too
    (the reference runs on the same objects after it): it could make the question easy
    and then answer it. The judges refuse it, with what to do instead."""
    held = [(t, t.detach().clone()) for t in _held(args)]

    def check() -> str | None:
        for t, before in held:
            now = t.detach()
            if now.shape != before.shape or not torch.equal(now, before):
                return (
                    "your function changed its inputs in place; leave them as they are "
                    "(work on a copy: x = x.clone(), or ops that return new tensors)"
                )
        return None

    return check


def _reseed(seed: int | None) -> None:
    if seed is not None:
        torch.manual_seed(seed)


# --------------------------------------------------------------------------- judges


class Verdict(NamedTuple):
    """What a judge found on one case: ``problem`` is ``None`` when it passed.

    ``out`` and ``ref`` go to the check's diagnoses; a judge that knows the hint itself
    (``Property``) gives it as ``hint``, and the diagnoses are skipped.
    """

    problem: str | None
    out: object = None
    ref: object = None
    hint: str | None = None


PASS = Verdict(None)


@dataclass
class Exact:
    """One call of each; outputs equal within ``rtol``/``atol``.

    With ``seed``, torch's RNG is reset to ``seed + i`` before the student's call on case
    ``i``, the reference's and the diagnoses', for exercises that prescribe their draws.
    """

    names: Sequence[str] = ("output",)
    rtol: float = 1e-5
    atol: float = 1e-6
    seed: int | None = None

    def __call__(self, name, student, reference, args, i, where):
        s = None if self.seed is None else seeded(self.seed + i)
        _reseed(s)
        same = unchanged(args)
        out = call(name, student, args, where)
        if changed := same():
            return Verdict(changed, hint=changed)
        _reseed(s)
        ref = reference(*args)
        problem = compare(out, ref, self.names, self.rtol, self.atol)
        _reseed(s)  # a diagnosis that samples sees the same draw
        return Verdict(problem, out, ref)


@dataclass
class Estimate:
    """The mean of many draws of a random tensor, with its standard error."""

    mean: torch.Tensor
    se: torch.Tensor
    varies: bool
    z: float = 5.0
    label: str = ""  # the output's name, for a diagnosis that tells outputs apart

    def near(self, value, atol: float = 1e-6) -> bool:
        """Whether ``value`` lies within ``z`` standard errors of the mean."""
        value = torch.as_tensor(value, dtype=self.mean.dtype)
        return bool(((self.mean - value).abs() <= self.z * self.se + atol).all())


def estimate(draws: list[torch.Tensor], z: float = 5.0, label: str = "") -> Estimate:
    """Mean and standard error over a list of same-shaped draws."""
    stack = torch.stack([d.detach().double() for d in draws])
    se = stack.std(0) / math.sqrt(len(draws))
    return Estimate(stack.mean(0), se, bool((stack != stack[0]).any()), z, label)


# The reference's draws of a ``Statistical`` judge marked ``cache``, kept per exercise, case
# and seed while a test session asks for it (``REFERENCE_DRAWS = {}``): a build's reference
# and its cases are fixed by the hidden variant, so every wrong build judged at one variant
# is compared with the same draws, computed once. ``None`` (the grader, the calibration): the
# reference runs for every judging, as it does when a student's submission is graded.
REFERENCE_DRAWS: dict | None = None


@dataclass
class Statistical:
    """``draws`` calls of each, fresh noise every call (no re-seeding between calls).

    Passes when the student's draws vary wherever the reference's do, and each element of
    the mean agrees with the reference's mean within ``z`` combined standard errors. The
    diagnoses receive the two ``Estimate``s. Torch's RNG is seeded once per case, so the
    verdict is reproducible.
    """

    names: Sequence[str] = ("output",)
    draws: int = 200
    z: float = 5.0
    atol: float = 1e-6
    seed: int = 0
    cache: bool = False  # the reference a pure function of the variant: see REFERENCE_DRAWS

    def _reference_draws(self, name, reference, args, i, where) -> list:
        """The reference's ``draws`` outputs, from ``REFERENCE_DRAWS`` where kept there (with
        the generator's state they left, so what follows draws the same numbers)."""
        key = (name, where, seeded(self.seed + i), self.draws)
        kept = REFERENCE_DRAWS if self.cache else None
        if kept is not None and key in kept:
            refs, state = kept[key]
            torch.set_rng_state(state)
            return refs
        torch.manual_seed(seeded(self.seed + i) + 1)  # not the state the answer left
        refs = [outputs(reference(*args)) for _ in range(self.draws)]
        if kept is not None:
            kept[key] = (refs, torch.get_rng_state())
        return refs

    def __call__(self, name, student, reference, args, i, where):
        torch.manual_seed(seeded(self.seed + i))
        same = unchanged(args)
        outs = [outputs(call(name, student, args, where)) for _ in range(self.draws)]
        if changed := same():
            return Verdict(changed, hint=changed)
        refs = self._reference_draws(name, reference, args, i, where)
        if len(outs[0]) != len(refs[0]):
            return Verdict(f"expected {len(refs[0])} outputs, got {len(outs[0])}")
        for j, label in enumerate(self.names[: len(refs[0])]):
            problem = _shape_problem(label, outs[0][j], refs[0][j])
            if problem:
                return Verdict(problem, outs[0][j], refs[0][j])
            mine = estimate([o[j] for o in outs], self.z, label)
            theirs = estimate([r[j] for r in refs], self.z, label)
            if theirs.varies and not mine.varies:
                return Verdict(
                    f"{label}: the same value on every call, where the answer is random (a "
                    "torch.manual_seed inside your function would do that, or a result that "
                    "does not depend on the noise: an update left out or in the wrong place)",
                    mine,
                    theirs,
                )
            gap = (mine.mean - theirs.mean).abs()
            allowed = self.z * (mine.se**2 + theirs.se**2).sqrt() + self.atol
            if not torch.isfinite(mine.mean).all() or (gap > allowed).any():
                k = int((gap - allowed).argmax())
                return Verdict(
                    f"{label}: averaged over {self.draws} calls, "
                    f"{mine.mean.flatten()[k].item():.4g} where the reference averages "
                    f"{theirs.mean.flatten()[k].item():.4g} "
                    f"(allowed gap {allowed.flatten()[k].item():.2g}): beyond sampling error",
                    mine,
                    theirs,
                )
        return PASS


@dataclass
class Property:
    """``test(run, args) -> hint or None``, where ``run(*args)`` calls the student's function.

    The property is what must hold of any correct answer; the reference satisfies it
    (tested), so no diagnosis is needed: the returned text is the hint.
    """

    test: Callable[[Callable, tuple], str | None]

    def __call__(self, name, student, reference, args, i, where):
        hint = self.test(lambda *a: call(name, student, a, where), args)
        return PASS if hint is None else Verdict("", hint=hint)


# --------------------------------------------------------------------------- running a check


def run_check(
    name: str,
    student: Callable,
    reference: Callable,
    cases: Sequence[tuple[str, tuple]],
    judges: Sequence[Callable] | Callable | None = None,
    diagnoses: Sequence[Diagnose] = (),
    hint: str = "",
    quiet: bool = False,
) -> CheckResult:
    """Judge ``student`` against ``reference`` on each case; return (and print) the result.

    Parameters
    ----------
    name : str
        The exercise's name (its ``grade_id``).
    student, reference : callable
        The student's function and the library's.
    cases : sequence of (str, tuple)
        ``(description, args)`` pairs; the description is shown when a case fails.
    judges : judge or sequence of judges
        Applied in order to each case (``Exact``, ``Statistical``, ``Property``); the
        first that finds a problem decides. Default: ``Exact()``.
    diagnoses : sequence of callables
        ``d(args, student_out, reference_out) -> hint or None``, tried when an ``Exact`` or
        ``Statistical`` judge finds a difference; the first hints found are shown.
    hint : str
        The general hint, shown when no diagnosis applies.
    quiet : bool
        Record without printing.
    """
    if not callable(student):
        raise TypeError(f"checks.{name}: expected your function, got {type(student).__name__}")
    if judges is None:
        judges = [Exact()]
    judges = list(judges) if isinstance(judges, (list, tuple)) else [judges]
    result = CheckResult(name, PASSED, f"passed all {len(cases)} tests.")
    for i, (description, args) in enumerate(cases):
        try:
            verdict = _judge_case(
                name, student, reference, judges, diagnoses, hint, args, i, description
            )
        except StudentError as err:
            verdict = err.result
        if verdict is not None:
            result = verdict
            break
    return record(result, quiet)


def run_build(name: str, student: Callable, reference: Callable, build: Build) -> CheckResult:
    """Judge a build assignment: its properties, then its outcome, each scored apart.

    The result is ``passed`` when both pass, ``partial`` when one does (its ``share`` the
    part's points), else the properties' failure; its details say how each part went.
    """
    parts = []
    for part, spec in (("properties", build.properties), ("outcome", build.outcome)):
        result = run_check(
            name,
            spec.student or student,
            spec.reference or reference,
            spec.cases,
            spec.judges,
            spec.diagnoses,
            spec.hint,
            quiet=True,
        )
        parts.append((part, result))
        if result.status in (NOT_IMPLEMENTED, ERROR) and part == "properties":
            return record(result)  # nothing to score apart: unsolved, or it raised
    (_, props), (_, outcome) = parts
    share = build.properties_share * props.passed + (1 - build.properties_share) * outcome.passed
    if props.passed and outcome.passed:
        status = PASSED
    elif props.passed or outcome.passed:
        status = PARTIAL
    else:
        status = props.status
    worth = {"properties": build.properties_share, "outcome": 1 - build.properties_share}
    details = "\n".join(
        f"{part} ({worth[part]:.0%} of the points): " + r.details.replace("\n", "\n  ")
        for part, r in parts
    )
    hints = "\n".join(f"{part}: {r.hint}" for part, r in parts if r.hint and not r.passed)
    return record(CheckResult(name, status, details, hints, share))


def _judge_case(name, student, reference, judges, diagnoses, hint, args, i, description):
    for judge in judges:
        verdict = judge(name, student, reference, args, i, description)
        if verdict.problem is None:
            continue
        if verdict.hint is not None:
            hints = [verdict.hint]
        else:
            targeted = [h for d in diagnoses if (h := _diagnose(d, args, verdict))]
            hints = targeted or ([hint] if hint else [])
        details = f"wrong answer on the test case: {description}"
        if verdict.problem:
            details += f"\n  {verdict.problem}"
        return CheckResult(name, WRONG, details, "\n".join(hints))
    return None


def _diagnose(d: Diagnose, args, verdict: Verdict) -> str | None:
    """A diagnosis's hint, or ``None`` when it does not apply, or fails on this answer's
    outputs (a diagnosis guesses at a mistake; the verdict is already made)."""
    try:
        return d(args, verdict.out, verdict.ref)
    except Exception:  # noqa: BLE001
        return None


def record(result: CheckResult, quiet: bool = False) -> CheckResult:
    """Keep ``result`` for ``summary()`` and print it."""
    results[result.name] = result
    if not quiet:
        print(("PASS  " if result.passed else "FAIL  ") + result.message)
    return result


def finish(result: CheckResult, student: Callable, reference: Callable) -> Callable:
    """Grading mode raises on failure; otherwise return the function to use from now on."""
    if result.passed:
        return student
    if config.grading():
        raise CheckFailure(result.message)
    name = reference.__qualname__  # VAE.iwae_loss for a method
    if "<locals>" in name:
        name = reference.__name__
    print(
        f"      The rest of the notebook uses the reference "
        f"dgm.{reference.__module__.split('.')[-1]}.{name} until your version passes."
    )
    return reference


def summary() -> dict[str, bool]:
    """Print which exercises of this session pass; return ``{name: passed}``."""
    for name, r in results.items():
        print(f"  {name:28s} {'pass' if r.passed else r.status}")
    return {name: r.passed for name, r in results.items()}
