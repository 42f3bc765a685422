"""Checks of lecture 06 (energy GAN with an MI loss): the energy's loss with the gradient
penalty, the generator's loss with the MI term, and the Jensen-Shannon MI estimator."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import energy, nets
from .harness import (
    CheckResult,
    Exact,
    Judging,
    Property,
    Statistical,
    exercise,
    generator,
    outputs,
    record,
    run_check,
    seeded,
)


def _net(n_in: int, n_out: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seeded(seed))
    return nets.mlp([n_in, 16, 16, n_out], "relu").double()


def _energy_net(D: int, seed: int):
    net = _net(D, 1, seed)

    def U(x):
        return net(x).squeeze(1)

    U.net = net  # the parameters whose gradients the checks compare
    return U


# --------------------------------------------------------------------------- energy_loss


def _energy_cases():
    g = generator(21)
    cases = []
    for D, B, penalty in ((2, 64, 0.1), (5, 16, 1.0), (2, 32, 0.0)):
        U = _energy_net(D, 30 + D)
        real = torch.randn(B, D, generator=g, dtype=torch.float64)
        fake = 2 * torch.randn(B + 3, D, generator=g, dtype=torch.float64)
        cases.append(
            (
                f"D={D}, {B} real and {B + 3} fake points, penalty {penalty}",
                (U, real, fake, penalty),
            )
        )
    return cases


def _energy_diagnoses(args, out, ref) -> str | None:
    U, real, fake, penalty = args
    if not torch.is_tensor(out) or out.numel() != 1:
        return "return one number, a scalar tensor."
    out = out.detach()
    with torch.no_grad():
        u_real, u_fake = U(real).mean(), U(fake).mean()
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(U(x).sum(), x)
    sq = grad.pow(2).sum(1)
    candidates = {
        "the sign: E_real[U] - E_fake[U] pushes the data's energy down and the fakes' up.": u_fake
        - u_real
        + penalty * sq.mean(),
        "the penalty is missing: + penalty * E_real ||grad_x U(x)||^2.": u_real - u_fake,
        "the penalty uses the norm; it is the squared norm ||grad_x U||^2.": u_real
        - u_fake
        + penalty * sq.sqrt().mean(),
        "the penalty is an average over the real points, not a sum.": u_real
        - u_fake
        + penalty * sq.sum(),
    }
    xf = fake.clone().requires_grad_(True)
    (gf,) = torch.autograd.grad(U(xf).sum(), xf)
    at_fakes = (
        "the penalty is taken at the real data (where the energy should be flat), not at the fakes."
    )
    candidates[at_fakes] = u_real - u_fake + penalty * gf.pow(2).sum(1).mean()
    for hint, value in candidates.items():
        if torch.allclose(out, value.to(out.dtype), rtol=1e-5, atol=1e-7):
            return hint
    return "E_real[U(x)] - E_fake[U(x)] + penalty * E_real ||grad_x U(x)||^2."


def _energy_gradients(run, args) -> str | None:
    """The theta-gradient must include the penalty's (create_graph), and none reaches fake."""
    U, real, fake, penalty = args
    params = list(U.net.parameters())
    fake = fake.clone().requires_grad_(True)
    out = run(U, real, fake, penalty)
    if not torch.is_tensor(out) or not out.requires_grad:
        return "the loss carries no gradient: compute it from U's outputs, without .item()."
    grads = torch.autograd.grad(out, params + [fake], allow_unused=True)
    ref = torch.autograd.grad(energy.energy_loss(U, real, fake, penalty), params)
    if grads[-1] is not None and grads[-1].abs().max() > 0:
        return "a gradient reaches the fake points: detach them (this step trains U only)."
    for g, r in zip(grads[:-1], ref):
        if g is None or not torch.allclose(g, r, rtol=1e-5, atol=1e-7):
            return (
                "the value is right but its gradient in U's weights is not: the penalty's "
                "gradient must itself be differentiable, torch.autograd.grad(..., "
                "create_graph=True)."
            )
    return None


@exercise(energy.energy_loss)
def energy_loss(fn: Callable) -> Judging:
    """Check ``fn(U, real, fake, penalty) -> scalar``: the energy's loss with the penalty."""
    return Judging(
        _energy_cases(),
        [Exact(["loss"], rtol=1e-5, atol=1e-7), Property(_energy_gradients)],
        diagnoses=[_energy_diagnoses],
    )


# --------------------------------------------------------------------------- jsd_mi_estimate


class _Critic(torch.nn.Module):
    def __init__(self, x_dim: int, z_dim: int, seed: int):
        super().__init__()
        self.net = _net(x_dim + z_dim, 1, seed)

    def forward(self, x, z):
        return 3 * self.net(torch.cat([x, z], 1)).squeeze(1)


def _jsd_cases():
    g = generator(22)
    cases = []
    for x_dim, z_dim, B in ((2, 2, 64), (3, 1, 128)):
        z = torch.randn(B, z_dim, generator=g, dtype=torch.float64)
        noise = torch.randn(B, x_dim, generator=g, dtype=torch.float64)
        x = z[:, torch.arange(x_dim) % z_dim] + 0.1 * noise
        cases.append(
            (
                f"x in R^{x_dim} made from z in R^{z_dim}, {B} pairs",
                (_Critic(x_dim, z_dim, 40 + x_dim), x, z),
            )
        )
    return cases


def _jsd_constant_critic(run, args) -> str | None:
    """With T = c everywhere the estimate is exactly -softplus(-c) - softplus(c)."""
    _, x, z = args
    c = 0.7
    out = run(lambda x_, z_: torch.full((x_.shape[0],), c, dtype=x_.dtype), x, z)
    if not torch.is_tensor(out) or out.numel() != 1:
        return "return one number, a scalar tensor."
    exact = (-F.softplus(torch.tensor(-c)) - F.softplus(torch.tensor(c))).item()
    if abs(out.item() - exact) > 1e-6:
        return (
            f"with a constant critic T = {c} the estimate is -softplus(-{c}) - softplus({c}) = "
            f"{exact:.4f}, got {out.item():.4f}: average -softplus(-T) over the joint "
            "pairs and subtract the average of softplus(T) over the shuffled pairs."
        )
    return None


def _jsd_diagnoses(args, mine, theirs) -> str | None:
    T, x, z = args
    if not hasattr(mine, "varies"):
        return None
    if not mine.varies:
        return (
            "the same value on every call: the marginal pairs (x_i, z_j) need z shuffled "
            "across the batch, z[torch.randperm(B)], freshly on each call."
        )
    g = generator(0)
    B = z.shape[0]
    with torch.no_grad():
        joint = T(x, z)
        marginal = torch.stack([T(x, z[torch.randperm(B, generator=g)]) for _ in range(200)])
    candidates = {
        "the roles are swapped: -softplus(-T) averages over the JOINT pairs (x_i, z_i), "
        "softplus(T) over the shuffled ones.": (-F.softplus(-marginal)).mean()
        - F.softplus(joint).mean(),
        "that is the Donsker-Varadhan (MINE) bound, E_joint T - log E_marginal e^T; the "
        "Jensen-Shannon estimator uses softplus on both terms.": joint.mean()
        - (torch.logsumexp(marginal, 1) - math.log(B)).mean(),
    }
    for hint, value in candidates.items():
        if mine.near(value, atol=3 * float(theirs.se.max()) + 1e-6):
            return hint
    return (
        "E_joint[-softplus(-T(x, z))] - E_shuffled[softplus(T(x, z'))], z' = z[torch.randperm(B)] "
        "freshly on each call; the joint pairs are (x_i, z_i)."
    )


@exercise(energy.jsd_mi_estimate)
def jsd_mi_estimate(fn: Callable) -> CheckResult:
    """Check ``fn(T, x, z) -> scalar``: Deep InfoMax's JSD estimate of I(X; Z).

    Statistical: averaged over 200 calls (each with its own shuffle) it must agree with the
    reference, and with a constant critic it must be exactly -softplus(-c) - softplus(c).
    """

    def ref(T, x, z):
        return energy.jsd_mi_estimate(T, x, z)

    with torch.no_grad():
        result = run_check(
            "jsd_mi_estimate",
            fn,
            ref,
            _jsd_cases(),
            [Property(_jsd_constant_critic), Statistical(["mi"], draws=200)],
            diagnoses=[_jsd_diagnoses],
        )
    return result


# --------------------------------------------------------------------------- generator_loss


def _toy_model(mi: str | None, seed: int) -> energy.EnergyGAN:
    U = _net(2, 1, seed)
    G = _net(2, 2, seed + 1)
    T = energy.StatisticsNetwork(2, 2, 16).double() if mi == "jsd" else None
    E = _net(2, 2, seed + 2) if mi == "infogan" else None
    return energy.EnergyGAN(U, G, 2, mi=mi, T=T, encoder=E)


def _generator_cases():
    g = generator(23)
    return [
        (
            f"mi={mi!r}, {B} codes, mi_weight {w}",
            (_toy_model(mi, 50 + i), torch.randn(B, 2, generator=g, dtype=torch.float64), w),
        )
        for i, (mi, B, w) in enumerate(
            (("infogan", 64, 0.3), (None, 32, 0.3), ("infogan", 16, 2.0), ("jsd", 64, 0.3))
        )
    ]


def _generator_diagnoses(args, out, ref) -> str | None:
    model, z, w = args
    value = out.mean.item() if hasattr(out, "se") else outputs(out)[0].detach().item()
    with torch.no_grad():
        x = model.G(z)
        u = model.energy(x).mean().item()
        if model.mi == "infogan":
            pen = energy.infogan_mi_penalty(z, model.encoder(x)).mean().item()
            if abs(value - (u - w * pen)) < 1e-6:
                return (
                    "the InfoGAN term's sign: the loss ADDS mi_weight * ||z - E(G(z))||^2 "
                    "(a small reconstruction error means a large mutual information)."
                )
            if abs(value - u) < 1e-6:
                return "the MI term is missing: + mi_weight * E ||z - E(G(z))||^2 for mi='infogan'."
            if abs(value - (u + pen)) < 1e-6:
                return "scale the MI term by mi_weight."
        if model.mi == "jsd":
            if abs(value - u) < 1e-3:
                return "the MI term is missing: - mi_weight * jsd_mi_estimate(T, G(z), z)."
            return (
                "for mi='jsd' the loss is E[U(G(z))] - mi_weight * jsd_mi_estimate(model.T, "
                "G(z), z): the generator MAXIMISES the mutual information."
            )
        x_avg = model.G_average(z)
        if abs(value - model.energy(x_avg).mean().item()) < 1e-6 and model.mi is None:
            return "train model.G, not its weight average model.G_average."
    return "E[U(G(z))] plus the MI term of model.mi (none, 'infogan' or 'jsd')."


def _generator_gradients(run, args) -> str | None:
    model, z, w = args
    params = model.generator_parameters()
    # the JSD estimate shuffles z: the same seed before both calls gives both the same shuffle
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        out = run(model, z, w)
        if not torch.is_tensor(out) or not out.requires_grad:
            return "the loss carries no gradient: compute it from G(z), without .item()."
        grads = torch.autograd.grad(out, params, allow_unused=True)
        torch.manual_seed(0)
        refs = torch.autograd.grad(energy.generator_loss(model, z, w), params, allow_unused=True)
    if all(_same(g, r) for g, r in zip(grads, refs)):
        return None
    if model.mi == "jsd":
        energy_only = torch.autograd.grad(
            model.energy(model.G(z)).mean(), params, allow_unused=True
        )  # what G would get from a detached MI term
        if all(_same(g, e) for g, e in zip(grads, energy_only) if e is not None):
            return (
                "the MI term sends G no gradient: compute jsd_mi_estimate(model.T, x, z) from "
                "x = model.G(z) itself, not x.detach(), so that G learns to spread its samples."
            )
    return (
        "the value is right but the gradient in G's (or the encoder's or T's) weights is not: "
        "compute x = model.G(z) once, with gradients, and use it in both terms."
    )


def _same(g: torch.Tensor | None, r: torch.Tensor | None) -> bool:
    return (g is None) == (r is None) and (g is None or torch.allclose(g, r, atol=1e-7))


@exercise(energy.generator_loss)
def generator_loss(fn: Callable) -> CheckResult:
    """Check ``fn(model, z, mi_weight) -> scalar``: ``E[U(G(z))]`` and the MI term of
    ``model.mi`` (exact for none and InfoGAN, statistical for the shuffled JSD estimate)."""
    cases = _generator_cases()
    result = run_check(
        "generator_loss",
        fn,
        energy.generator_loss,
        cases[:3],
        [Exact(["loss"], rtol=1e-5, atol=1e-7), Property(_generator_gradients)],
        diagnoses=[_generator_diagnoses],
        quiet=True,
    )
    if result.passed:
        with torch.no_grad():
            result = run_check(
                "generator_loss",
                fn,
                energy.generator_loss,
                cases[3:],
                Statistical(["loss"], draws=200),
                diagnoses=[_generator_diagnoses],
                quiet=True,
            )
    if result.passed:  # the JSD case's gradient, with the shuffle fixed
        result = run_check(
            "generator_loss",
            fn,
            energy.generator_loss,
            cases[3:],
            [Property(_generator_gradients)],
            quiet=True,
        )
        if result.passed:
            result.details = f"passed all {len(cases)} tests."
    record(result)
    return result
