"""What the build assignments' checks share: one training step's parameter changes, and
hidden data whose log-likelihood is exact.

A training build (lecture 02's wake-sleep loop, lecture 03's VAE loop) is judged by what it
does to a model the check holds: the judge never runs student code, so the model, its data
and its evaluation are the check's, and the student's loop trains the model in place.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch

from .harness import Judging, Statistical


def one_step(fn: Callable, *groups: Callable[[torch.nn.Module], Iterable[torch.Tensor]]):
    """``(model, x, lr, steps=1) -> (change of each group)``: ``steps`` steps (one by default)
    of the build ``fn(model, x, steps, lr, batch_size)`` on a copy of ``model`` (so every call
    starts from the same model), on the whole of ``x`` as its batch; each group's change
    (``group(model)`` lists its parameters) flattened into one vector.

    Adam's first step moves each weight by about ``lr`` against the sign of its gradient, so
    over many fresh runs the average change of a weight says how often its gradient was
    positive: a loss with another gradient, or another noise, changes that for some weights.
    A second step shows what the optimiser carried over (its moments, the gradients zeroed)."""

    def step(model, x, lr, steps=1):
        trained = copy.deepcopy(model)
        fn(trained, x, steps, lr, len(x))
        return tuple(
            torch.cat([(a - b).detach().flatten() for a, b in zip(group(trained), group(model))])
            for group in groups
        )

    return step


def step_changes(
    fn: Callable,
    reference: Callable,
    groups: dict[str, Callable[[torch.nn.Module], Iterable[torch.Tensor]]],
    cases: list,
    seed: int,
    hint: str,
    never_moved: str,
    wrong_way: str,
) -> Judging:
    """A training build's properties: the change of each of ``groups`` (``{name: group}``)
    after the steps of each case ``(model, x, lr, steps)``, over 300 fresh runs, against the
    reference's within 5 standard errors (``one_step``). The hints: ``never_moved`` when a
    group stayed put where the reference's moved, ``wrong_way`` when it moved against it."""

    def diagnose(args, out, ref) -> str | None:
        mine, theirs = out, ref  # the Estimates of the failing output
        if not mine.varies and theirs.varies and float(mine.mean.abs().max()) == 0:
            return f"these parameters never moved: {never_moved}"
        if (mine.mean * theirs.mean).sum() < 0:
            return f"these parameters moved the wrong way: {wrong_way}"
        return None

    return Judging(
        cases,
        [Statistical(tuple(groups), draws=300, z=5.0, seed=seed)],
        diagnoses=[diagnose],
        hint=hint,
        student=one_step(fn, *groups.values()),
        reference=one_step(reference, *groups.values()),
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
