"""Checks of lecture 07 (MCMC): one Langevin step, MALA's log acceptance ratio, the ESS.

The sampler checks are statistical: a step is judged by the moments of many draws from
one point (a correct step written with other random calls passes), the ratio by its
value against the full Metropolis-Hastings ratio, the ESS on chains whose ESS is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import densities, mcmc
from .harness import Exact, Judging, Property, exercise, generator, seeded

# --------------------------------------------------------------------------- test energies


def _gaussian_energy(mean: torch.Tensor, std: torch.Tensor):
    def U(x):
        return 0.5 * ((x - mean) / std).pow(2).sum(1)

    return U


def _mixture_energy(x: torch.Tensor) -> torch.Tensor:
    """Minus the log-density of a 2-D mixture of two Gaussians: a gradient that is not linear."""
    return -densities.isotropic_mixture_log_prob(x, [0.3, 0.7], [[-1.5, 0.0], [1.5, 0.5]], 0.8)


def _energies():
    d = torch.float64
    return [
        (
            "a 1-D Gaussian N(1, 0.5^2)",
            _gaussian_energy(torch.tensor([1.0], dtype=d), torch.tensor([0.5], dtype=d)),
            1,
        ),
        (
            "a 3-D Gaussian with scales (1, 2, 0.3)",
            _gaussian_energy(torch.zeros(3, dtype=d), torch.tensor([1.0, 2.0, 0.3], dtype=d)),
            3,
        ),
        ("a 2-D mixture of two Gaussians", _mixture_energy, 2),
    ]


# --------------------------------------------------------------------------- ula_step

_CHAINS = 20_000


def _langevin_moments(run, args) -> str | None:
    """From one point x0 repeated over many chains, x' - (x0 - eps grad U(x0)) must be
    N(0, 2 eps I): mean zero and variance 2 eps, fresh on every call."""
    U, x0, eps = args
    x = x0.expand(_CHAINS, -1).clone()
    before = x.clone()
    out = run(U, x, eps)
    if not torch.is_tensor(out) or out.shape != x.shape:
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        return f"return the chains' next states, shape {tuple(x.shape)}; got {got}."
    if not torch.equal(x, before):
        return "do not change x in place: return a new tensor."
    _, g = mcmc.energy_and_grad(U, x[:1])
    r = out.detach().double() - (x0 - eps * g).double()
    mean, var = r.mean(0), r.var(0)
    se = (var / _CHAINS).sqrt()
    if (var < 1e-12).all():
        shift = r.mean(0)
        if torch.allclose(shift, 2 * eps * g[0].double(), atol=1e-9):
            return "no noise, and the gradient has the wrong sign: step downhill, x - eps grad U."
        return "no noise: add sqrt(2 eps) * xi, xi ~ N(0, I), fresh on every call."
    if ((mean - 2 * eps * g[0]).abs() < 5 * se + 1e-9).all() and g.abs().max() > 0.1:
        return (
            "the chains move uphill: the drift is -eps * grad U(x) (energy goes down, "
            "probability up)."
        )
    if ((mean).abs() > 5 * se + 1e-9).any():
        return (
            "the mean of x' is not x - eps * grad_x U(x): compute the gradient of the energy "
            "by autograd (or dgm.mcmc.energy_and_grad) at x, and scale it by eps."
        )
    ratio = (var / (2 * eps)).mean().item()
    if abs(ratio - 0.5) < 0.05:
        return (
            "the noise has variance eps: it must be 2 eps (sqrt(2 eps) * xi). With sqrt(eps) "
            "the chain samples exp(-2U), not exp(-U): the slip in the seed note."
        )
    if abs(ratio - 1) > 0.05:
        return f"the noise variance is {ratio:.2f} x 2 eps: it must be exactly 2 eps."
    again = run(U, x, eps)
    if torch.equal(again, out):
        return "the same draw on every call: use fresh noise (torch.randn), not a fixed seed."
    return None


@exercise(mcmc.ula_step)
def ula_step(fn: Callable) -> Judging:
    """Check ``fn(U, x, step_size) -> x'``: one unadjusted Langevin step on every chain.

    ``x' = x - eps * grad_x U(x) + sqrt(2 eps) * xi`` with ``eps = step_size``; judged by the
    mean and variance of 20,000 chains started from one point on Gaussian and mixture
    energies.
    """
    d = torch.float64
    cases = [
        (f"{name}, eps {eps}", (U, torch.linspace(-0.7, 1.1, D, dtype=d).unsqueeze(0), eps))
        for (name, U, D), eps in zip(_energies(), (0.1, 0.05, 0.2))
    ]
    torch.manual_seed(seeded(0))
    return Judging(cases, [Property(_langevin_moments)])


# --------------------------------------------------------------------------- mala_log_acceptance


def _mala_cases():
    g = generator(11)
    cases = []
    for (name, U, D), eps in zip(_energies(), (0.3, 0.05, 0.5)):
        x = 1.5 * torch.randn(7, D, generator=g, dtype=torch.float64)
        _, grad = mcmc.energy_and_grad(U, x)
        # proposals as MALA makes them, so the ratios are of the size a sampler sees
        xi = torch.randn(x.shape, generator=g, dtype=torch.float64)
        x_new = x - eps * grad + math.sqrt(2 * eps) * xi
        cases.append((f"{name}, 7 chains, eps {eps}", (U, x, x_new, eps)))
    return cases


def _mala_diagnoses(args, out, ref) -> str | None:
    U, x, x_new, eps = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return f"return one log ratio per chain, shape {tuple(ref.shape)}."
    out = out.detach().double()
    u, g = mcmc.energy_and_grad(U, x)
    u_new, g_new = mcmc.energy_and_grad(U, x_new)

    def log_q(to, frm, grad, var):  # log N(to; frm - eps grad, var I) up to a constant
        return -(to - frm + eps * grad).pow(2).sum(1) / (2 * var)

    def close(candidate):
        return torch.allclose(out, candidate, rtol=1e-5, atol=1e-6)

    forward, backward = log_q(x_new, x, g, 2 * eps), log_q(x, x_new, g_new, 2 * eps)
    if close(u - u_new):
        return (
            "that is the energy difference alone, right only for a symmetric proposal: the "
            "Langevin proposal's mean follows the gradient, so add log q(x | x') - log q(x' | x)."
        )
    if close(-ref):
        return "the ratio is upside down: pi(x') q(x | x') over pi(x) q(x' | x)."
    if close(u - u_new + forward - backward):
        return "the proposal terms are swapped: + log q(x | x') - log q(x' | x)."
    if close(u - u_new + log_q(x, x_new, g_new, eps) - log_q(x_new, x, g, eps)):
        return "the proposal N(x - eps grad U(x), 2 eps I) has variance 2 eps, not eps."
    if close(backward - forward):
        return (
            "the target's part is missing (log pi(x') - log pi(x) = U(x) - U(x')), as when "
            "the seed's ratio evaluates the denominator's target at the proposal."
        )
    plus = -(x - x_new - eps * g_new).pow(2).sum(1) / (4 * eps) + (x_new - x - eps * g).pow(2).sum(
        1
    ) / (4 * eps)
    if close(u - u_new + plus):
        return "the proposal's mean is x - eps grad U(x): the drift goes downhill."
    return (
        "log alpha = U(x) - U(x') + log q(x | x') - log q(x' | x), with "
        "q(b | a) = N(b; a - eps grad U(a), 2 eps I)."
    )


@exercise(mcmc.mala_log_acceptance)
def mala_log_acceptance(fn: Callable) -> Judging:
    """Check ``fn(U, x, x_new, step_size) -> (C,)``: the log Metropolis-Hastings ratio of MALA."""
    return Judging(
        _mala_cases(), Exact(["log_ratio"], rtol=1e-5, atol=1e-6), diagnoses=[_mala_diagnoses]
    )


# --------------------------------------------------------------------------- effective_sample_size


def ar1_chain(phi: float, n: int, seed: int) -> torch.Tensor:
    """A stationary AR(1) chain ``x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t``, ``x_0 ~ N(0, 1)``:
    its autocorrelations are ``phi^k`` and its ESS ``n (1 - phi) / (1 + phi)``."""
    g = generator(seed)
    e = torch.randn(n, generator=g, dtype=torch.float64).tolist()
    scale, x = math.sqrt(1 - phi**2), [e[0]]
    for v in e[1:]:
        x.append(phi * x[-1] + scale * v)
    return torch.tensor(x, dtype=torch.float64)


def _ess_on_ar1(run, args) -> str | None:
    phi, n, seed = args
    chain = ar1_chain(phi, n, seed)
    out = run(chain.clone())
    try:
        value = float(out)
    except (TypeError, ValueError):
        return f"return one number, the ESS; got {type(out).__name__}."
    exact = n * (1 - phi) / (1 + phi)
    # the estimate itself scatters by about 6% (sd) on these chains; the mistakes below are
    # 50% off or more, so 30% (5 sd) passes every correct estimator and no wrong one
    if abs(value - exact) <= 0.3 * exact:
        return None
    tau = (1 + phi) / (1 - phi)
    if abs(value - n * tau) <= 0.15 * n * tau:
        return "ESS = n / tau, not n * tau: correlated draws are worth fewer than n."
    if abs(value - n / (1 + (tau - 1) / 2)) <= 0.1 * exact + 1:
        return "tau = 1 + 2 sum_k rho_k: the sum counts each lag twice (both directions)."
    return (
        f"got {value:.0f}, expected about {exact:.0f} for this AR(1) chain: ESS = n / "
        f"(1 + 2 sum_k rho_k), summing the autocorrelations from lag 1 until they fall "
        f"into noise (stop at the first negative pair rho_2m + rho_2m+1, Geyer's rule)."
    )


@exercise(mcmc.effective_sample_size)
def effective_sample_size(fn: Callable) -> Judging:
    """Check ``fn(chain) -> float``: the ESS of a 1-D chain, within 30% on AR(1) chains of
    known ESS (independent draws, and autocorrelations 0.5, 0.9 and 0.97)."""
    cases = [
        (f"an AR(1) chain of {n} draws with autocorrelation {phi}", (phi, n, 100 + i))
        for i, (phi, n) in enumerate(((0.0, 5000), (0.5, 20_000), (0.9, 50_000), (0.97, 100_000)))
    ]
    return Judging(cases, [Property(_ess_on_ar1)])
