"""What the build assignments' checks share: one training step's parameter changes, and
hidden data whose log-likelihood is exact.

A training build is judged by what it does to a model's weights: the judge never runs
student code, so the weights, the data and the evaluation are the check's. Either the
student's loop trains a model the check holds, in place (lecture 04's GAN loop), or the
student's build makes its own model, started from weights the check gives (a
``state_dict``), and returns the trained weights (lecture 03's VAE from scratch), which the
check evaluates with the library's model of the same architecture.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable

import torch

from .. import metrics, vae
from .harness import Judging, Statistical, measured


def one_step(
    fn: Callable,
    *groups: Callable[[torch.nn.Module], Iterable[torch.Tensor]],
    returned: bool = False,
):
    """``(model, x, lr, steps=1, batch_size=len(x)) -> (change of each group)``: ``steps``
    steps (one by default) of the build ``fn(model, x, steps, lr, batch_size)`` on a copy of
    ``model`` (so every call starts from the same model); each group's change
    (``group(model)`` lists its parameters) flattened into one vector, and with ``returned``
    what the build returned (its losses), flattened, last.

    Adam's first step moves each weight by about ``lr`` against the sign of its gradient, so
    over many fresh runs the average change of a weight says how often its gradient was
    positive: a loss with another gradient, or another noise, changes that for some weights.
    A second step shows what the optimiser carried over (its moments, the gradients zeroed)."""

    def step(model, x, lr, steps=1, batch_size=None):
        trained = copy.deepcopy(model)
        out = fn(trained, x, steps, lr, len(x) if batch_size is None else batch_size)
        changes = tuple(
            torch.cat([(a - b).detach().flatten() for a, b in zip(group(trained), group(model))])
            for group in groups
        )
        if not returned:
            return changes
        if not torch.is_tensor(out):
            raise TypeError(f"return a tensor of the losses; got {type(out).__name__}")
        return (*changes, out.detach().double().flatten())

    return step


def state_changes(
    prefixes: dict[str, str | tuple[str, ...]],
    problem: Callable[..., str | None],
    derive: Callable[..., tuple] | None = None,
) -> Callable[[Callable], Callable]:
    """``step_changes``' stepper for a build that makes its own model: ``fn(init, *args) ->
    (state, *more)`` starts a model from the weights ``init`` (a ``state_dict``) and returns
    its trained ``state_dict`` and more tensors (its losses, ...). The stepper's
    ``(init, *args)`` gives the change of each group of weights (``{label: key prefix}``, or
    a tuple of prefixes), flattened, then each of ``more`` in float64; ``problem(out, init,
    *args)`` says in words what is wrong with what the build returned (a ``ValueError``), or
    ``None``; ``derive(*more)``, statistics of ``more`` to compare too (what a mean over runs
    of ``more`` alone cannot see, e.g. whether k draws are independent)."""

    def stepper(fn: Callable) -> Callable:
        def step(init, *args):
            out = fn(init, *args)
            why = problem(out, init, *args)
            if why:
                raise ValueError(why)
            state, *more = out
            changes = tuple(
                torch.cat(
                    [
                        (state[n].detach().to(t) - t).flatten()
                        for n, t in init.items()
                        if n.startswith(p)
                    ]
                )
                for p in prefixes.values()
            )
            more = [m.detach().double().cpu() for m in more]
            return (*changes, *more, *(derive(*more) if derive else ()))

        return step

    return stepper


def importance_weighted_bound(losses, log_w) -> tuple[torch.Tensor]:
    """``state_changes``' ``derive`` for a build returning ``(state, losses, log_w)``: the
    bound ``log (1/k) sum_j w_j`` of each row (``vae.iwae_bound``), (B,). Its mean over runs
    tells k independent draws from one draw repeated k times (the log-weights' own mean
    does not)."""
    return (vae.iwae_bound(log_w),)


def samples_spread(losses, samples) -> tuple[torch.Tensor]:
    """``state_changes``' ``derive`` for a build returning ``(state, losses, samples)``: the
    samples' variance in each coordinate, (d,). Its mean over runs tells samples of fresh
    noise from one ``G(z)`` repeated (the samples' own mean does not)."""
    return (samples.var(0),)


def returned_problem(out, init: dict, architecture: str, more: dict[str, tuple]) -> str | None:
    """What is wrong, in words, with what a build that makes its own model returned: ``(state,
    *more)``, its trained ``state_dict`` with ``init``'s keys and shapes (``architecture``
    says what makes them), then each of ``more`` (``{name: shape}``); ``None`` if nothing."""
    if not isinstance(out, (tuple, list)) or len(out) != 1 + len(more):
        listed = ", ".join(f"the {shape} {name}" for name, shape in more.items())
        return f"return {1 + len(more)} things: (model.state_dict(), {listed})."
    state = out[0]
    if not isinstance(state, dict) or set(state) != set(init):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        return (
            f"the weights returned: expected model.state_dict() with the keys {sorted(init)} "
            f"({architecture}); got {got}."
        )
    for name, t in init.items():
        if not torch.is_tensor(state[name]) or state[name].shape != t.shape:
            got = tuple(state[name].shape) if torch.is_tensor(state[name]) else type(state[name])
            return f"the weights returned: {name} should have shape {tuple(t.shape)}; got {got}."
    for (name, shape), t in zip(more.items(), out[1:]):
        if not torch.is_tensor(t) or tuple(t.shape) != shape:
            got = tuple(t.shape) if torch.is_tensor(t) else type(t).__name__
            return f"the {name} returned: expected shape {shape}; got {got}."
    return None


def step_changes(
    fn: Callable,
    reference: Callable,
    groups: dict[str, Callable[[torch.nn.Module], Iterable[torch.Tensor]] | str],
    cases: list,
    seed: int,
    hint: str,
    never_moved: str | dict[str, str],
    wrong_way: str,
    returned: str | tuple[str, ...] | None = None,
    draws: int = 300,
    group_hints: dict[str, str] | None = None,
    stepper: Callable[[Callable], Callable] | None = None,
) -> Judging:
    """A training build's properties: the change of each of ``groups`` (``{name: group}``)
    after the steps of each case ``(model, x, lr, steps[, batch_size])``, over ``draws`` fresh
    runs, against the reference's within 5 standard errors (``one_step``), and, named
    ``returned``, what the build returned. A build that does not train a model the check
    holds gives its own ``stepper(fn) -> (*args) -> (change of each group, *returned)``
    instead of ``one_step`` (``state_changes``: its groups are key prefixes, its cases the
    build's own arguments).

    The hints: ``never_moved`` (one text, or one per group name) when a group stayed put
    where the reference's moved, ``wrong_way`` when it moved against it, else
    ``group_hints[name]`` for the group (or what was returned) that differs, else ``hint``."""
    group_hints = group_hints or {}

    def diagnose(args, out, ref) -> str | None:
        mine, theirs = out, ref  # the Estimates of the failing output
        if mine.label not in groups:
            return group_hints.get(mine.label)  # what the build returned
        if not mine.varies and theirs.varies and float(mine.mean.abs().max()) == 0:
            why = never_moved if isinstance(never_moved, str) else never_moved[mine.label]
            return f"{mine.label}: these parameters never moved: {why}"
        if (mine.mean * theirs.mean).sum() < 0:
            return f"{mine.label}: these parameters moved the wrong way: {wrong_way}"
        return group_hints.get(mine.label)

    returned = (returned,) if isinstance(returned, str) else tuple(returned or ())
    if stepper is None:

        def stepper(f):
            return one_step(f, *groups.values(), returned=bool(returned))

    names = (*groups, *returned)
    return Judging(
        cases,
        [Statistical(names, draws=draws, z=5.0, seed=seed, cache=True)],
        diagnoses=[diagnose],
        hint=hint,
        student=stepper(fn),
        reference=stepper(reference),
    )


def bernoulli_mixture(g: torch.Generator, K: int, D: int, in_order: bool = False):
    """A hidden mixture of ``K`` Bernoulli prototypes over ``D`` pixels: a function that draws
    ``n`` examples (with ``in_order``, sorted by their prototype, as ``ring_of_gaussians``'
    points: a training loop that takes the same rows every step sees one prototype), and the
    mixture's exact log-likelihood of examples."""
    probs = torch.sigmoid(3 * torch.randn(K, D, generator=g))
    weights = 0.5 + torch.rand(K, generator=g)
    weights = weights / weights.sum()

    def draw(n):
        k = torch.multinomial(weights, n, replacement=True, generator=g)
        if in_order:
            k = k.sort().values
        return torch.bernoulli(probs[k], generator=g)

    def log_lik(x):
        joint = weights.log() + x @ probs.log().T + (1 - x) @ torch.log1p(-probs).T
        return torch.logsumexp(joint, 1)

    return draw, log_lik


def ring_of_gaussians(g: torch.Generator, n: int, std: float = 0.05):
    """``n`` points of a hidden ring of 8 Gaussians of ``std`` (its radius and turn drawn
    from ``g``), in order of their mode (a loop must draw its rows at random), and the
    ``(8, 2)`` centres."""
    radius = 1.5 + torch.rand((), generator=g).item()
    turn = 2 * math.pi * torch.rand((), generator=g).item()
    angle = turn + 2 * math.pi * torch.arange(8) / 8
    centres = radius * torch.stack([angle.cos(), angle.sin()], 1)  # (8, 2)
    k = torch.randint(8, (n,), generator=g).sort().values  # sorted: in order of mode
    return centres[k] + std * torch.randn(n, 2, generator=g), centres


def losses_problem(losses, steps: int) -> str | None:
    """What is wrong with a two-player loop's returned losses, in words; ``None`` if they
    have the shape ``(steps, 2)``."""
    if torch.is_tensor(losses) and tuple(losses.shape) == (steps, 2):
        return None
    got = tuple(losses.shape) if torch.is_tensor(losses) else type(losses).__name__
    return f"return the two losses of each step, shape {(steps, 2)}; got {got}."


def ring_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float) -> tuple[int, float]:
    """The modes of the hidden ring that ``samples`` cover and the share of them within 3 std
    of a mode (``metrics.mode_coverage``), recorded for the calibration."""
    modes, good = metrics.mode_coverage(samples, centres, std)
    measured(modes=float(modes), high_quality=good)
    return modes, good
