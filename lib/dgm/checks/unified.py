"""Checks of lecture 05 (one KL, two directions): KL estimates, q^r, Lemma 1, IWGAN's weights."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import densities, unified
from .harness import (
    Exact,
    Judging,
    Property,
    exercise,
    generator,
    outputs,
    seeded,
)


def _kl_targets():
    g = generator(6)
    cases = []
    for D in (1, 2, 5):
        mu, log_s = torch.randn(D, generator=g), 0.5 * torch.randn(D, generator=g)
        t_mu, t_s = torch.randn(D, generator=g), 0.5 + torch.rand(D, generator=g)
        cases.append((f"D={D}", mu, log_s, t_mu, t_s))
    return cases


def _closed_form_kl(mu, log_s, t_mu, t_s) -> torch.Tensor:
    """``KL(N(mu, diag s^2) || N(t_mu, diag t_s^2))``, summed over dimensions."""
    return unified.gaussian_kl_1d(mu, log_s.exp(), t_mu, t_s).sum()


def _target(t_mu, t_s):
    def log_p(z):
        return densities.gaussian_log_prob(z, t_mu, 2 * t_s.log())

    return log_p


def _kl_value_and_gradient(run, args) -> str | None:
    """With many samples, the value and its gradient match the closed form."""
    mu0, log_s0, t_mu, t_s = args
    mu, log_s = mu0.clone().requires_grad_(), log_s0.clone().requires_grad_()
    out = run(mu, log_s, _target(t_mu, t_s), 100_000)
    if not torch.is_tensor(out) or out.numel() != 1:
        return "return one number (a scalar tensor)."
    exact = _closed_form_kl(mu0, log_s0, t_mu, t_s).item()
    tol = 0.02 + 0.01 * abs(exact)
    if abs(out.item() - exact) > tol:
        if abs(out.item() + exact) < tol:
            return (
                f"got {out.item():.4f}, closed form {exact:.4f}: the sign: "
                f"log q - log p, not log p - log q."
            )
        return (
            f"got {out.item():.4f}, closed form {exact:.4f}: "
            f"KL(q || p) = E_q[log q(z) - log p(z)], z drawn from N(mu, exp(log_s)^2)."
        )
    if not out.requires_grad:
        return (
            "no gradient reaches mu and log_s: sample z = mu + exp(log_s) * eps with "
            "eps ~ N(0, I) (reparameterization)."
        )
    grads = torch.autograd.grad(out, (mu, log_s), allow_unused=True)
    m_, l_ = mu0.clone().requires_grad_(), log_s0.clone().requires_grad_()
    exact_grads = torch.autograd.grad(_closed_form_kl(m_, l_, t_mu, t_s), (m_, l_))
    for which, g, e in zip(("mu", "log_s"), grads, exact_grads):
        if g is None or not torch.allclose(g, e, atol=0.05 + 0.05 * e.abs().max().item()):
            return (
                f"the gradient in {which} is wrong: the samples must be a differentiable "
                f"function of mu and log_s (z = mu + exp(log_s) * eps), and log q must use "
                f"the same mu, log_s."
            )
    return None


def _kl_uses_n_fresh_samples(run, args) -> str | None:
    """Fresh draws every call, and n of them: the variance over calls falls like 1/n."""
    mu0, log_s0, t_mu, t_s = args
    log_p = _target(t_mu, t_s)
    with torch.no_grad():
        small = torch.stack([run(mu0, log_s0, log_p, 16).reshape(()) for _ in range(100)])
        large = torch.stack([run(mu0, log_s0, log_p, 1024).reshape(()) for _ in range(100)])
    if (small == small[0]).all():
        return (
            "the same value on every call: draw fresh samples each call "
            "(torch.randn), and do not seed torch inside your function."
        )
    ratio = small.double().var() / large.double().var().clamp_min(1e-30)
    if ratio < 8:  # 1024 / 16 = 64 for an average of n independent terms
        return (
            f"with n=16 samples the estimate varies only {ratio:.1f}x more than with n=1024 "
            f"(expected about 64x): use exactly n samples of q."
        )
    return None


@exercise(unified.reverse_kl_estimate)
def reverse_kl_estimate(fn: Callable) -> Judging:
    """Check ``fn(mu, log_s, log_p, n) -> scalar``: ``KL(q || p)`` by reparameterized samples.

    Statistical, not draw for draw: with many samples the value and its gradient in ``mu``
    and ``log_s`` match the closed form for Gaussian targets (only reparameterized samples
    give the gradient), and the estimate uses ``n`` fresh samples on every call.
    """
    cases = [(desc, (mu, log_s, t_mu, t_s)) for desc, mu, log_s, t_mu, t_s in _kl_targets()]
    torch.manual_seed(seeded(0))
    return Judging(cases, [Property(_kl_value_and_gradient), Property(_kl_uses_n_fresh_samples)])


def _forward_kl_diagnoses(args, out, ref) -> str | None:
    mu, log_s, samples = args
    if torch.is_tensor(out) and out.numel() == 1:
        if torch.allclose(out, -ref, atol=1e-5):
            return "the sign: the objective is -E_p[log q(x)], the negative log-likelihood."
        var_as_std = -densities.gaussian_log_prob(samples, mu, log_s).mean()
        if torch.allclose(out, var_as_std, atol=1e-5):
            return "log_s is log sigma; the log-variance is 2 * log_s."
    return (
        "KL(p || q) = -E_p[log q(x)] + const: average -log N(x; mu, exp(log_s)^2) over the samples."
    )


@exercise(unified.forward_kl_estimate)
def forward_kl_estimate(fn: Callable) -> Judging:
    """Check ``fn(mu, log_s, samples_p) -> scalar``: ``-E_p[log q]`` from samples of ``p``."""
    g = generator(7)
    cases = [
        (
            f"D={D}, {n} samples",
            (
                torch.randn(D, generator=g),
                0.3 * torch.randn(D, generator=g),
                2 * torch.randn(n, D, generator=g) + 1,
            ),
        )
        for D, n in ((1, 50), (2, 500), (6, 10))
    ]
    return Judging(
        cases,
        Exact(["kl_up_to_a_constant"], rtol=1e-4, atol=1e-5),
        diagnoses=[_forward_kl_diagnoses],
    )


def _iwgan_diagnoses(args, out, ref) -> str | None:
    (logits,) = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one weight per generated sample, shape (B,)."
    d = torch.sigmoid(logits.detach())
    if torch.allclose(out.detach(), d / d.sum(), atol=1e-6):
        return "the weight is the density ratio D / (1 - D), not D itself."
    if torch.allclose(out.detach(), d / (1 - d), rtol=1e-4, atol=1e-6):
        return "normalise the weights so they sum to 1 over the batch."
    return "w_i = (D_i / (1 - D_i)) / sum_j (D_j / (1 - D_j)), with D = sigmoid(logit)."


def _weights_are_constants(run, args) -> str | None:
    if run(torch.randn(5, requires_grad=True)).requires_grad:
        return (
            "the weights carry a gradient: they are constants in the generator's update; "
            "compute them from logits.detach()."
        )
    return None


@exercise(unified.iwgan_weights)
def iwgan_weights(fn: Callable) -> Judging:
    """Check ``fn(fake_logits) -> (B,)``: IWGAN's normalised weights, constants for autograd."""
    g = generator(8)
    cases = [
        (f"B={B}, logits of scale {s}", (s * torch.randn(B, generator=g),))
        for B, s in ((8, 1.0), (1, 1.0), (64, 3.0))
    ]
    cases.append(("confident logits up to 100", (torch.tensor([-100.0, 0.0, 50.0, 100.0]),)))
    return Judging(
        cases,
        [Exact(["weights"], rtol=1e-4, atol=1e-6), Property(_weights_are_constants)],
        diagnoses=[_iwgan_diagnoses],
    )


def _qr_cases():
    g = generator(9)
    cases = []
    for n, lo, hi in ((2001, -8.0, 8.0), (501, -5.0, 6.0)):
        xs = torch.linspace(lo, hi, n, dtype=torch.float64)
        dx = (xs[1] - xs[0]).item()
        log_g0 = densities.normal_log_prob(xs, 1.5 * torch.randn(1, generator=g).item(), 0.8)
        log_pd = densities.normal_mixture_log_prob(xs, [0.5, 0.5], [-2.0, 2.0], [0.5, 0.7])
        cases.append(
            (f"{n} grid points, the optimal discriminator", (log_pd - log_g0, log_g0, log_pd, dx))
        )
        cases.append(
            (f"{n} grid points, a logistic discriminator", (0.3 + 0.7 * xs, log_g0, log_pd, dx))
        )
    return cases


def _qr_diagnoses(args, out, ref) -> str | None:
    logit, log_g0, log_pd, dx = args
    outs = outputs(out)
    if len(outs) != 2 or not all(torch.is_tensor(o) and o.shape == logit.shape for o in outs):
        return "return two tensors, (log_qr0, log_qr1), each of the grid's shape."
    o0 = outs[0].detach().double()
    mass = (o0.exp().sum() * dx).item()
    if abs(mass - 1) > 1e-6:
        if abs(o0.exp().sum().item() - 1) < 1e-6:
            return "a density on the grid integrates to 1: sum(exp(log_qr)) * dx = 1, not sum = 1."
        return "normalise each q^r on the grid: subtract logsumexp(log_qr) + log(dx)."
    conditional = F.logsigmoid(logit) + log_g0
    conditional = conditional - torch.logsumexp(conditional, 0) - math.log(dx)
    if torch.allclose(o0, conditional, atol=1e-6):
        return (
            "the prior of q^r is the MARGINAL p_theta0(x) = (p_g0(x) + p_data(x)) / 2, "
            "not the generator's p_g0(x) alone."
        )
    if torch.allclose(o0, ref[1], atol=1e-6):
        return (
            "y=0 and y=1 are swapped: q^r(y=0 | x) = D(x) = sigmoid(logit), the "
            "label-swapped discriminator."
        )
    return (
        "log q^r(x | y=0) = log D(x) + log p_theta0(x) - log Z, with p_theta0 the mixture "
        "of p_g0 and p_data."
    )


@exercise(unified.qr_posteriors)
def qr_posteriors(fn: Callable) -> Judging:
    """Check ``fn(logit_d, log_p_g0, log_p_data, dx) -> (log_qr0, log_qr1)``: Hu et al.'s
    posterior ``q^r(x | y) ∝ q^r(y | x) p_theta0(x)`` on a 1-D grid."""
    return Judging(
        _qr_cases(), Exact(["log_qr0", "log_qr1"], rtol=1e-6, atol=1e-6), diagnoses=[_qr_diagnoses]
    )


def _lemma_cases():
    cases = []
    for n, lo, hi, theta0 in (
        (4001, -8.0, 8.0, (1.6, math.log(0.8))),
        (3001, -6.0, 7.0, (2.4, 0.1)),
    ):
        xs = torch.linspace(lo, hi, n, dtype=torch.float64)
        log_pd = densities.normal_mixture_log_prob(xs, [0.5, 0.5], [-2.0, 2.0], [0.5, 0.7])
        log_g0 = densities.normal_log_prob(xs, theta0[0], math.exp(theta0[1]))
        for name, logit in (("the optimal", log_pd - log_g0), ("a logistic", 0.3 + 0.7 * xs)):
            cases.append(
                (
                    f"theta0 = ({theta0[0]:g}, {theta0[1]:.3g}), {name} discriminator, {n} points",
                    (theta0, logit, log_pd, xs),
                )
            )
    return cases


def _lemma_diagnoses(args, out, ref) -> str | None:
    theta0, logit, log_pd, xs = args
    outs = outputs(out)
    if len(outs) != 2 or not all(torch.is_tensor(o) and o.numel() == 2 for o in outs):
        return "return (grad_left, grad_right), two tensors of 2 numbers: d/dmu and d/dlog s."
    left, right = (o.detach().double().flatten() for o in outs)
    if torch.allclose(left, ref[1], atol=1e-6) and torch.allclose(right, ref[0], atol=1e-6):
        return "the two are swapped: first the left side's gradient, then the right side's."
    if torch.allclose(left, ref[0], atol=1e-3) and torch.allclose(right, ref[1], atol=1e-3):
        return (
            "close but not exact: use central differences (f(theta + h) - f(theta - h)) / 2h "
            "with h = 1e-5, one coordinate at a time, in float64."
        )
    if torch.allclose(left, ref[0], atol=1e-6):
        dx = (xs[1] - xs[0]).item()
        log_g0 = densities.normal_log_prob(xs, theta0[0], math.exp(theta0[1]))

        def without_jsd(theta):
            log_g = densities.normal_log_prob(xs, theta[0], math.exp(theta[1]))
            log_qr0, log_qr1 = unified.qr_posteriors(logit, log_g0, log_pd, dx)
            kl = densities.kl_by_quadrature
            return 0.5 * (kl(log_g, log_qr0, dx) + kl(log_pd, log_qr1, dx))

        if torch.allclose(right, densities.finite_difference(without_jsd, theta0), atol=1e-6):
            return "the right side subtracts JSD(p_g || p_data): the lemma's second term."
        return (
            "the left side is right; the right side is E_p(y) KL(p_theta(x|y) || q^r(x|y)) - "
            "JSD(p_g || p_data) with p(y) = 1/2 and q^r from your qr_posteriors (with the "
            "marginal), the discriminator and p_g0 held at theta0."
        )
    return (
        "the left side: -E_p(y) E_p_theta(x|y) log q^r_phi0(y | x) = -(1/2) sum_x p_g(x) "
        "log D(x) dx (+ a term of p_data alone), the discriminator held fixed."
    )


@exercise(unified.lemma1_gradients)
def lemma1_gradients(fn: Callable) -> Judging:
    """Check ``fn(theta0, logit_d, log_p_data, xs) -> (grad_left, grad_right)``: Lemma 1's two
    sides differentiated by central differences in ``theta = (mu, log s)``."""
    return Judging(
        _lemma_cases(),
        Exact(["grad_left", "grad_right"], rtol=1e-6, atol=1e-7),
        diagnoses=[_lemma_diagnoses],
    )
