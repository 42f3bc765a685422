"""Lecture 07: sampling an energy with Markov chains: Metropolis-Hastings, Langevin, MALA.

A target ``pi(x) ∝ exp(-U(x))`` known up to its normaliser. Every sampler here runs ``C``
chains at once (``x`` of shape (C, D)) on whatever device ``x`` lives on, and takes any
differentiable energy ``U: (C, D) -> (C,)``.

- Metropolis-Hastings (``mh_step``): propose ``x' ~ N(x, s^2 I)``, accept with probability
  ``min(1, pi(x') / pi(x))`` (the proposal is symmetric). Detailed balance,
  ``pi(x) k(x -> x') = pi(x') k(x' -> x)``, makes ``pi`` stationary.
- Unadjusted Langevin (``ula_step``): ``x' = x - eps grad U(x) + sqrt(2 eps) xi``. The noise
  must be ``sqrt(2 eps)``: with ``sqrt(eps)`` the chain samples ``exp(-2U)`` in the small-step
  limit. Even with the right noise a finite ``eps`` biases the stationary distribution.
- MALA (``mala_step``): the Langevin move as a *proposal* ``q(x' | x) = N(x - eps grad U(x),
  2 eps I)``, accepted with probability
  ``min(1, pi(x') q(x | x') / (pi(x) q(x' | x)))``, which removes the bias at any step size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import config

Energy = Callable[[torch.Tensor], torch.Tensor]


def _energy(U: Energy, x: torch.Tensor, who: str) -> torch.Tensor:
    u = U(x)
    if u.shape != (x.shape[0],):
        raise ValueError(
            f"{who}: the energy must return one value per chain, shape ({x.shape[0]},), "
            f"got {tuple(u.shape)}"
        )
    return u


def energy_and_grad(U: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``U(x)`` (C,) and ``grad_x U(x)`` (C, D), both detached."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        u = _energy(U, x, "energy_and_grad")
        (g,) = torch.autograd.grad(u.sum(), x)
    return u.detach(), g.detach()


def _check_positive(value: float, name: str, who: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{who}: {name} must be a positive number, got {value!r}")


def ula_step(U: Energy, x: torch.Tensor, step_size: float, generator=None) -> torch.Tensor:
    """One unadjusted Langevin step ``x - eps grad U(x) + sqrt(2 eps) xi`` per chain, with
    ``eps = step_size``."""
    _check_positive(step_size, "step_size", "ula_step")
    _, g = energy_and_grad(U, x)
    return _langevin_proposal(x, g, step_size, generator)


def _langevin_proposal(x, g, eps, generator=None) -> torch.Tensor:
    # x - eps grad U(x) + sqrt(2 eps) xi; eps a number or a (C, 1) tensor, one per chain
    xi = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    noise = (2 * eps).sqrt() if torch.is_tensor(eps) else math.sqrt(2 * eps)
    return x - eps * g + noise * xi


def _accept(x, proposal, log_ratio, generator=None):
    """Metropolis-Hastings' rule per chain: keep ``proposal`` where ``log u < log_ratio``."""
    uniform = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
    accepted = torch.log(uniform) < log_ratio
    return torch.where(accepted.unsqueeze(1), proposal, x), accepted


def langevin_log_proposal(x_to, x_from, grad_from, step_size: float) -> torch.Tensor:
    """``log q(x_to | x_from)`` of the Langevin proposal ``N(x_from - eps grad, 2 eps I)``
    with ``eps = step_size``, up to a constant that cancels in the acceptance ratio; (C,).
    ``step_size`` may be a (C,) tensor, one per chain."""
    eps = step_size
    per_chain = eps.reshape(-1, *[1] * (x_from.dim() - 1)) if torch.is_tensor(eps) else eps
    mean = x_from - per_chain * grad_from
    return -(x_to - mean).pow(2).flatten(1).sum(1) / (4 * eps)


def _log_ratio(x, u, g, x_new, u_new, g_new, eps: float) -> torch.Tensor:
    # log pi(x') - log pi(x) + log q(x | x') - log q(x' | x): the proposal densities matter,
    # because the Langevin proposal is not symmetric (its mean follows the gradient)
    return (
        -u_new
        + u
        + langevin_log_proposal(x, x_new, g_new, eps)
        - langevin_log_proposal(x_new, x, g, eps)
    )


def mala_log_acceptance(U: Energy, x, x_new, step_size: float) -> torch.Tensor:
    """``log [pi(x') q(x | x') / (pi(x) q(x' | x))]`` per chain, (C,): MALA's log ratio."""
    _check_positive(step_size, "step_size", "mala_log_acceptance")
    return _log_ratio(x, *energy_and_grad(U, x), x_new, *energy_and_grad(U, x_new), step_size)


def mala_step(U: Energy, x: torch.Tensor, step_size: float, generator=None):
    """One MALA step per chain: ``(x_next, accepted)``, ``accepted`` a (C,) bool tensor."""
    _check_positive(step_size, "step_size", "mala_step")
    return _mala_step_per_chain(U, x, step_size, generator, return_accepted=True)


def _mala_step_per_chain(U, x, eps, generator=None, return_accepted: bool = False):
    # ``eps`` is a number or a (C, 1) tensor of per-chain step sizes (replica exchange)
    u, g = energy_and_grad(U, x)
    proposal = _langevin_proposal(x, g, eps, generator)
    s = eps.squeeze(1) if torch.is_tensor(eps) else eps
    log_ratio = _log_ratio(x, u, g, proposal, *energy_and_grad(U, proposal), s)
    x_next, accepted = _accept(x, proposal, log_ratio, generator)
    return (x_next, accepted) if return_accepted else x_next


def mh_step(U: Energy, x: torch.Tensor, scale: float, generator=None):
    """One random-walk Metropolis-Hastings step per chain: ``(x_next, accepted)``."""
    _check_positive(scale, "scale", "mh_step")
    proposal = x + scale * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    with torch.no_grad():
        log_ratio = _energy(U, x, "mh_step") - _energy(U, proposal, "mh_step")
    return _accept(x, proposal, log_ratio, generator)


def energy_difference_mala_step(U: Energy, x: torch.Tensor, step_size: float, generator=None):
    """A WRONG sampler, kept to show what it does: the Langevin proposal accepted with
    ``min(1, exp(U(x) - U(x')))``, the proposal densities dropped.

    The MEG authors' published z-space sampler (``MALA_sampler``) does this. The Langevin
    proposal is not symmetric, so the chain no longer keeps ``exp(-U)``: it is biased at any
    step size. At small steps it samples ``exp(-2U)`` (the drift is counted twice); at larger
    steps it samples another, step-dependent target.
    """
    _check_positive(step_size, "step_size", "energy_difference_mala_step")
    u, g = energy_and_grad(U, x)
    proposal = _langevin_proposal(x, g, step_size, generator)
    with torch.no_grad():
        log_ratio = u - _energy(U, proposal, "energy_difference_mala_step")
    return _accept(x, proposal, log_ratio, generator)


SAMPLERS = {
    "ula": ula_step,
    "mala": mala_step,
    "mh": mh_step,
    "mala_energy_difference": energy_difference_mala_step,  # wrong, for the lecture
}


def run_chains(
    U: Energy,
    x0: torch.Tensor,
    n_steps: int,
    step_size: float,
    sampler="mala",
    generator=None,
    progress: bool = False,
):
    """Run ``n_steps`` of ``sampler`` from ``x0`` (C, D): ``(trace, acceptance)``.
    ``step_size`` is the Langevin samplers' ``eps`` and the random walk's ``scale``.

    ``trace`` is (n_steps, C, D), the states after each step; ``acceptance`` is the share of
    accepted proposals per chain (C,), all ones for ULA, which accepts everything.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"run_chains: sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"run_chains: n_steps must be a positive int, got {n_steps!r}")
    x, trace = x0.detach(), []
    accepted = torch.zeros(x0.shape[0], device=x0.device)
    steps = range(n_steps)
    if progress:
        steps = config.progress_bar(steps, desc=f"{sampler} chains")
    for _ in steps:
        if sampler == "ula":
            x = ula_step(U, x, step_size, generator)
            acc = torch.ones(x.shape[0], dtype=torch.bool)
        else:
            x, acc = SAMPLERS[sampler](U, x, step_size, generator)
        accepted += acc.to(accepted)
        trace.append(x)
    return torch.stack(trace), accepted / n_steps


def adaptive_mala(
    U: Energy,
    x0: torch.Tensor,
    n_warmup: int,
    n_samples: int,
    step_size: float = 0.1,
    target: float = 0.574,
    generator=None,
    progress: bool = False,
):
    """MALA with its step size tuned during a warm-up, then frozen: ``(trace, step_size,
    acceptance)``.

    Warm-up: ``n_warmup`` MALA steps of the chains ``x0`` (C, D), after each of which
    ``log eps <- log eps + (a_t - target) / (t + 1)^0.6``, ``a_t`` the share of chains that
    accepted (a Robbins-Monro recursion, Andrieu & Thoms 2008): the step grows while too many
    proposals are accepted and shrinks while too few are. 0.574 is the acceptance at which
    MALA's efficiency peaks in high dimension (Roberts & Rosenthal 1998). Then ``eps`` is
    frozen and ``n_samples`` plain MALA steps follow (``run_chains``), a Markov chain that
    keeps ``exp(-U)``. A step that went on adapting would depend on the chain's whole past,
    and the chain would no longer keep its target.

    ``trace`` is (n_samples, C, D); ``step_size`` the frozen ``eps`` (a float);
    ``acceptance`` the share of accepted proposals per chain after the warm-up, (C,).
    """
    _check_settings("adaptive_mala", step_size, target, n_warmup, n_samples)
    x, log_eps = x0.detach(), math.log(step_size)
    steps = range(n_warmup)
    if progress:
        steps = config.progress_bar(steps, desc="MALA warm-up")
    for t in steps:
        x, accepted = mala_step(U, x, math.exp(log_eps), generator)
        log_eps += (accepted.float().mean().item() - target) / (t + 1) ** 0.6
    eps = math.exp(log_eps) if n_warmup else step_size
    trace, acceptance = run_chains(U, x, n_samples, eps, "mala", generator, progress)
    return trace, eps, acceptance


def _check_settings(who: str, step_size, target, n_warmup, n_samples) -> None:
    _check_positive(step_size, "step_size", who)
    if not 0 < target < 1:
        raise ValueError(f"{who}: target must be in (0, 1), got {target!r}")
    for name, value, least in (("n_warmup", n_warmup, 0), ("n_samples", n_samples, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{who}: {name} must be an int >= {least}, got {value!r}")


def preconditioned_mala_step(
    U: Energy, x: torch.Tensor, step_size: float, scales: torch.Tensor, generator=None
):
    """One MALA step with a diagonal preconditioner: ``(x_next, accepted)``.

    It is plain MALA in the coordinates ``y = x / scales``, whose energy is
    ``V(y) = U(scales * y)``: in ``x`` the proposal is
    ``x' = x - eps scales^2 grad U(x) + sqrt(2 eps) scales xi``, a Langevin step whose noise
    and drift are stretched per coordinate. With ``scales`` the target's standard deviations,
    every coordinate of ``y`` has unit scale, and one step size suits them all. The ratio
    is the same in either coordinates (the Jacobian of ``x = scales * y`` is a constant).
    ``scales`` is a (D,) tensor of positive numbers.
    """
    _check_positive(step_size, "step_size", "preconditioned_mala_step")
    if not torch.is_tensor(scales) or scales.shape != x.shape[1:]:
        got = tuple(scales.shape) if torch.is_tensor(scales) else type(scales).__name__
        raise ValueError(
            f"preconditioned_mala_step: scales must be a tensor of shape {tuple(x.shape[1:])}, "
            f"one per coordinate, got {got}"
        )
    if not (torch.isfinite(scales).all() and (scales > 0).all()):
        raise ValueError("preconditioned_mala_step: scales must be positive and finite")
    scales = scales.to(x)

    def V(y):  # the energy of y = x / scales
        return U(y * scales)

    y_next, accepted = _mala_step_per_chain(V, x / scales, step_size, generator, True)
    return torch.where(accepted.unsqueeze(1), y_next * scales, x), accepted


def _windows(n_warmup: int) -> tuple[int, int, list[int]]:
    # the warm-up's schedule: a quarter for the step alone, then the middle half in three
    # windows of 1, 2 and 4 sevenths, each of whose states estimates the scales, then the
    # last quarter for the step at the final scales. Returns (first, end of the middle, the
    # steps after which a window ends)
    first, middle = n_warmup // 4, n_warmup // 2
    return first, first + middle, [first + middle // 7, first + 3 * middle // 7, first + middle]


def tuned_mala(
    U: Energy,
    x0: torch.Tensor,
    n_warmup: int,
    n_samples: int,
    step_size: float = 0.1,
    target: float = 0.574,
    generator=None,
    progress: bool = False,
):
    """MALA with a diagonal preconditioner, its step and its scales tuned during a warm-up,
    then both frozen: ``(trace, step_size, scales, acceptance)``.

    A single step size cannot suit coordinates of very different scales: the narrowest
    sets it, and the widest then moves by tiny steps. This sampler learns one scale per
    coordinate (``preconditioned_mala_step``) as Stan's warm-up does (its "windowed
    adaptation", with proportions chosen for short warm-ups): the first quarter of the
    ``n_warmup`` steps tunes the step alone, with every scale 1; the middle half is cut into
    windows of 1, 2 and 4 sevenths, at the end of each of which the scales become the
    standard deviations of the window's states, pooled over chains and steps; the last
    quarter tunes the step at the final scales. The step follows the Robbins-Monro recursion
    of ``adaptive_mala``, ``log eps <- log eps + (a_t - target) / (t - t0 + 1)^0.6``, whose
    gains start again (``t0``) whenever the scales change, since the step that suits the new
    coordinates can be far from the old one. Then ``n_samples`` steps at the frozen step and
    scales follow: a Markov chain that keeps ``exp(-U)``.

    ``trace`` is (n_samples, C, D); ``step_size`` the frozen ``eps`` (a float); ``scales``
    the frozen scales (D,), all ones when ``n_warmup`` is too short to fill a window (a
    coordinate in which no chain moved during a window keeps its scale);
    ``acceptance`` the share of accepted proposals per chain after the warm-up, (C,).
    """
    _check_settings("tuned_mala", step_size, target, n_warmup, n_samples)
    x, log_eps, t0 = x0.detach(), math.log(step_size), 0
    scales = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    first, last, ends = _windows(n_warmup)
    window: list[torch.Tensor] = []
    steps = range(n_warmup)
    if progress:
        steps = config.progress_bar(steps, desc="MALA warm-up")
    for t in steps:
        x, accepted = preconditioned_mala_step(U, x, math.exp(log_eps), scales, generator)
        log_eps += (accepted.double().mean().item() - target) / (t - t0 + 1) ** 0.6
        if first <= t < last:
            window.append(x)
        if t + 1 in ends and sum(len(w) for w in window) > 1:
            sd = torch.cat(window).var(0).sqrt()  # pooled over the window's chains and steps
            scales = torch.where(sd > 0, sd, scales)  # a coordinate no chain moved in: kept
            window, t0 = [], t + 1
    eps = math.exp(log_eps) if n_warmup else step_size
    trace, n_accepted = [], torch.zeros(x.shape[0], device=x.device)
    steps = range(n_samples)
    if progress:
        steps = config.progress_bar(steps, desc="tuned MALA")
    for _ in steps:
        x, accepted = preconditioned_mala_step(U, x, eps, scales, generator)
        n_accepted += accepted
        trace.append(x)
    return torch.stack(trace), eps, scales, n_accepted / n_samples


def replica_exchange(
    U: Energy,
    x0: torch.Tensor,
    temperatures,
    n_steps: int,
    step_size: float,
    generator=None,
    progress: bool = False,
):
    """Parallel tempering: MALA on ``U / T_k`` for each temperature, plus swaps between
    neighbours, so that chains cross the barriers where ``U`` is flattened.

    Every temperature runs ``C`` chains (the copies of ``x0`` (C, D)) with step size
    ``step_size * T_k``. After each round, neighbours ``(k, k+1)`` (even pairs, then odd pairs on
    alternate rounds) exchange states with probability
    ``min(1, exp((1/T_k - 1/T_{k+1}) (U(x_k) - U(x_{k+1}))))``, which keeps the product of
    the tempered targets invariant. ``temperatures[0]`` must be 1: its chains sample
    ``exp(-U)``. Returns ``(trace, swap_rate)``: the (n_steps, C, D) states at T = 1 and the
    share of accepted swaps per neighbouring pair.
    """
    temps = [float(t) for t in temperatures]
    if not temps or temps[0] != 1.0 or any(b <= a for a, b in zip(temps, temps[1:])):
        raise ValueError(
            f"replica_exchange: temperatures must start at 1 and increase, got {temperatures!r}"
        )
    K, (C, D) = len(temps), x0.shape
    temperature = torch.tensor(temps, dtype=x0.dtype, device=x0.device)
    temperature = temperature.repeat_interleave(C)  # (K C,): T_k for each of replica k's chains
    x = x0.detach().repeat(K, 1)  # replica k holds rows k C .. (k + 1) C - 1

    def tempered(v):
        return _energy(U, v, "replica_exchange") / temperature

    swaps, tries, trace = torch.zeros(max(K - 1, 1)), torch.zeros(max(K - 1, 1)), []
    rounds = range(n_steps)
    if progress:
        rounds = config.progress_bar(rounds, desc="replica exchange")
    for t in rounds:
        # a MALA step of size step_size * T_k for replica k: the same move in units of the
        # tempered energy's scale, so every replica accepts at a similar rate
        x = _mala_step_per_chain(tempered, x, step_size * temperature.unsqueeze(1), generator)
        with torch.no_grad():
            u = _energy(U, x, "replica_exchange").reshape(K, C)
        xs = x.reshape(K, C, D).clone()
        for k in range(t % 2, K - 1, 2):
            log_a = (1 / temps[k] - 1 / temps[k + 1]) * (u[k] - u[k + 1])
            uniform = torch.rand(C, generator=generator, device=x.device, dtype=x.dtype)
            swap = torch.log(uniform) < log_a
            a, b = xs[k].clone(), xs[k + 1].clone()
            xs[k] = torch.where(swap.unsqueeze(1), b, a)
            xs[k + 1] = torch.where(swap.unsqueeze(1), a, b)
            swaps[k] += swap.double().mean().item()
            tries[k] += 1  # even pairs on even rounds, odd pairs on odd ones: counts differ
        x = xs.reshape(K * C, D)
        trace.append(xs[0].clone())
    return torch.stack(trace), swaps / tries.clamp(min=1)


# --------------------------------------------------------------------------- diagnostics


def autocorrelation(chain: torch.Tensor, max_lag: int) -> torch.Tensor:
    """The normalised autocorrelation of a 1-D chain at lags ``0..max_lag``, (max_lag + 1,)."""
    if chain.dim() != 1 or not 0 <= max_lag < len(chain):
        raise ValueError(
            f"autocorrelation: expected a 1-D chain longer than max_lag={max_lag}, "
            f"got shape {tuple(chain.shape)}"
        )
    c = chain.double() - chain.double().mean()
    var = (c * c).mean()
    n = len(c)
    return torch.stack([(c[: n - k] * c[k:]).mean() / var for k in range(max_lag + 1)])


def effective_sample_size(chain: torch.Tensor) -> float:
    """``n / tau`` with the integrated autocorrelation time ``tau = 1 + 2 sum_{k>=1} rho_k``.

    The sum is cut where the noise takes over, by Geyer's initial positive sequence: the
    pairs ``Gamma_m = rho_{2m} + rho_{2m+1}`` (from lag 0) of a reversible chain are positive,
    so they are added until the first negative one, and ``tau = -1 + 2 sum_m Gamma_m``. A
    chain that anticorrelates (``rho_1 < 0``) gets ``tau < 1``: more than ``n`` effective draws.
    """
    n = len(chain)
    rho = autocorrelation(chain, min(n - 1, 1000))
    total = 0.0
    for m in range(0, len(rho) - 1, 2):
        pair = float(rho[m] + rho[m + 1])
        if pair < 0:
            break
        total += pair
    return n / (-1 + 2 * total)


def r_hat(chains: torch.Tensor) -> float:
    """Gelman-Rubin's potential scale reduction of (n_steps, C) draws of one coordinate:
    about 1 when the C chains agree, well above 1 when they sit in different places."""
    if chains.dim() != 2 or chains.shape[1] < 2:
        raise ValueError(f"r_hat: expected (n_steps, chains >= 2), got {tuple(chains.shape)}")
    n = chains.shape[0]
    x = chains.double()
    means = x.mean(0)
    W = x.var(0, unbiased=True).mean()
    B = n * means.var(unbiased=True)
    var_plus = (n - 1) / n * W + B / n
    return float(torch.sqrt(var_plus / W))
