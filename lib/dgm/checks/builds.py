"""What the build assignments' checks share: one training step's parameter changes, and
hidden data whose log-likelihood is exact.

A training build (lecture 02's wake-sleep loop, lecture 03's VAE loop) is judged by what it
does to a model the check holds: the judge never runs student code, so the model, its data
and its evaluation are the check's, and the student's loop trains the model in place.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable

import torch

from .harness import Judging, Statistical


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


def step_changes(
    fn: Callable,
    reference: Callable,
    groups: dict[str, Callable[[torch.nn.Module], Iterable[torch.Tensor]]],
    cases: list,
    seed: int,
    hint: str,
    never_moved: str | dict[str, str],
    wrong_way: str,
    returned: str | None = None,
    draws: int = 300,
    group_hints: dict[str, str] | None = None,
) -> Judging:
    """A training build's properties: the change of each of ``groups`` (``{name: group}``)
    after the steps of each case ``(model, x, lr, steps[, batch_size])``, over ``draws`` fresh
    runs, against the reference's within 5 standard errors (``one_step``), and, named
    ``returned``, what the build returned.

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

    names = (*groups, returned) if returned else tuple(groups)
    return Judging(
        cases,
        [Statistical(names, draws=draws, z=5.0, seed=seed)],
        diagnoses=[diagnose],
        hint=hint,
        student=one_step(fn, *groups.values(), returned=returned is not None),
        reference=one_step(reference, *groups.values(), returned=returned is not None),
    )


def bernoulli_mixture(g: torch.Generator, K: int, D: int):
    """A hidden mixture of ``K`` Bernoulli prototypes over ``D`` pixels: a function that draws
    ``n`` examples, and the mixture's exact log-likelihood of examples."""
    probs = torch.sigmoid(3 * torch.randn(K, D, generator=g))
    weights = 0.5 + torch.rand(K, generator=g)
    weights = weights / weights.sum()

    def draw(n):
        k = torch.multinomial(weights, n, replacement=True, generator=g)
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
