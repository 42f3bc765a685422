"""Checks of lecture 04 (GAN): the two players' losses and mode coverage on 2-D mixtures."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import data, gan, metrics
from .harness import Exact, finish, run_check


def _logit_cases():
    g = torch.Generator().manual_seed(4)
    cases = [
        (
            f"B={B}, logits of scale {s}",
            (
                s * torch.randn(B, generator=g, dtype=torch.float64),
                s * torch.randn(B, generator=g, dtype=torch.float64),
            ),
        )
        for B, s in ((8, 1.0), (1, 3.0), (50, 0.1))
    ]
    big = torch.tensor([-800.0, -50.0, 0.0, 50.0, 800.0], dtype=torch.float64)
    cases.append(("confident discriminators, |logit| up to 800", (big, big.flip(0))))
    return cases


def _d_loss_diagnoses(args, out, ref) -> str | None:
    real, fake = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per pair, shape (B,): no mean, no sum."
    out = out.detach().to(real)
    if not torch.isfinite(out).all():
        return (
            "log(sigmoid(l)) underflows for large |l|: write it as -softplus(-l), and "
            "log(1 - sigmoid(l)) as -softplus(l)."
        )
    if torch.allclose(out, -ref, atol=1e-6):
        return "the sign: D *maximises* log D(x) + log(1 - D(G(z))), so its loss is minus that."
    swapped = torch.nn.functional.softplus(real) + torch.nn.functional.softplus(-fake)
    if torch.allclose(out, swapped, atol=1e-6):
        return "real and fake are swapped: D(x) should be near 1 on real data, near 0 on fakes."
    return "loss = -[log D(x) + log(1 - D(G(z)))] with D = sigmoid(logit)."


def discriminator_loss(fn: Callable) -> Callable:
    """Check ``fn(real_logits, fake_logits) -> (B,)``: ``-[log D(x) + log(1 - D(G(z)))]``."""
    result = run_check(
        "discriminator_loss",
        fn,
        gan.discriminator_loss,
        _logit_cases(),
        Exact(["loss"]),
        diagnoses=[_d_loss_diagnoses],
    )
    return finish(result, fn, gan.discriminator_loss)


def _g_loss_diagnoses(args, out, ref) -> str | None:
    (fake,) = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per generated example, shape (B,)."
    out = out.detach().to(fake)
    if not torch.isfinite(out).all():
        return "-log(sigmoid(l)) overflows for very negative l: write it as softplus(-l)."
    minimax = -torch.nn.functional.softplus(fake)
    if torch.allclose(out, minimax, atol=1e-6):
        return (
            "that is the minimax loss log(1 - D(G(z))), which saturates; the non-saturating "
            "loss is -log D(G(z))."
        )
    if torch.allclose(out, -ref, atol=1e-6):
        return "the sign: the generator *maximises* log D(G(z)), so it minimises -log D(G(z))."
    return "loss = -log D(G(z)) = -log sigmoid(logit)."


def generator_loss_nonsaturating(fn: Callable) -> Callable:
    """Check ``fn(fake_logits) -> (B,)``: the non-saturating generator loss ``-log D(G(z))``."""
    cases = [(d, (f,)) for d, (_, f) in _logit_cases()]
    result = run_check(
        "generator_loss_nonsaturating",
        fn,
        gan.generator_loss_nonsaturating,
        cases,
        Exact(["loss"]),
        diagnoses=[_g_loss_diagnoses],
    )
    return finish(result, fn, gan.generator_loss_nonsaturating)


def _coverage_cases():
    g = torch.Generator().manual_seed(5)
    ring, grid = data.ring_centres(), data.grid_centres()
    collapsed = ring[:3][torch.randint(3, (300,), generator=g)] + 0.01 * torch.randn(
        300, 2, generator=g
    )
    spread = grid[torch.randint(25, (2500,), generator=g)] + 0.05 * torch.randn(
        2500, 2, generator=g
    )
    blurry = 3 * torch.randn(1000, 2, generator=g)  # near every mode, on none of them
    edge = torch.tensor([[0.0, 0.0], [2.0 + 0.149, 0.0], [0.0, 2.0 + 0.151]])  # 3 std = 0.15
    return [
        ("a ring GAN collapsed onto 3 of 8 modes", (collapsed, ring, 0.01)),
        ("good samples on the 25-grid", (spread, grid, 0.05)),
        ("a blurry generator on the 25-grid", (blurry, grid, 0.05)),
        ("points just inside and just outside 3 std of a mode", (edge, grid, 0.05)),
    ]


def _coverage_diagnoses(args, out, ref) -> str | None:
    samples, centres, std = args
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "return a pair (modes covered, high-quality share)."
    modes, share = out
    if isinstance(share, (int, float)) and share > 1:
        return "the high-quality share is a fraction in [0, 1], not a percentage."
    dist = torch.cdist(samples, centres)
    near = (dist <= 3 * std).any(0).sum().item()
    if modes == near and modes != ref[0]:
        return (
            "count a mode only through samples whose *nearest* centre it is (argmin), not every "
            "centre within 3 std of some sample."
        )
    if modes == len(centres) and ref[0] < len(centres):
        return "a mode counts as covered only when a *high-quality* sample has it as nearest."
    return (
        "high quality: distance to the nearest centre <= 3 std; a mode is covered when at least "
        "one high-quality sample has it as its nearest centre."
    )


def mode_coverage(fn: Callable) -> Callable:
    """Check ``fn(samples, centres, std) -> (modes, high_quality)`` (``min_count = 1``)."""

    def reference(samples, centres, std):
        return metrics.mode_coverage(samples, centres, std)

    reference.__name__, reference.__module__ = "mode_coverage", metrics.__name__

    def as_tensors(f):
        def wrapped(*args):
            out = f(*args)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                return out
            return torch.tensor(float(out[0])), torch.tensor(float(out[1]))

        return wrapped

    result = run_check(
        "mode_coverage",
        as_tensors(fn),
        as_tensors(reference),
        _coverage_cases(),
        Exact(["modes", "high_quality"], atol=1e-6),
        diagnoses=[lambda a, o, r: _coverage_diagnoses(a, _untensor(o), _untensor(r))],
    )
    return finish(result, fn, metrics.mode_coverage)


def _untensor(out):
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return tuple(float(v) if torch.is_tensor(v) else v for v in out)
    return out
