"""Score-based and diffusion models (lecture 09): the score, score matching, annealed
Langevin, and the denoising diffusion's forward process and reverse steps.

The **score** of a density is ``s(x) = grad_x log p(x)``: it needs no normaliser, and
Langevin dynamics (lecture 07) samples with it alone,

    x <- x + (step / 2) s(x) + sqrt(step) z,    z ~ N(0, I).

**Denoising score matching** (Vincent 2011) learns the score of the data blurred by Gaussian
noise of scale ``sigma`` from pairs ``(x, x~ = x + sigma n)``: since ``grad log q(x~ | x) =
-n / sigma``, the loss ``1/2 ||s(x~) + n / sigma||^2`` differs from the explicit ``1/2 ||s(x~) -
grad log q_sigma(x~)||^2`` by a constant that does not depend on ``s``. **Annealed Langevin**
(Song & Ermon 2019) runs Langevin at noise levels from large to small, each with the score
at that level, so chains cross between modes while the blur still joins them.

The **denoising diffusion** (Ho et al. 2020) noises data in ``T`` steps, ``x_t = sqrt(1 -
beta_t) x_{t-1} + sqrt(beta_t) z``, which in closed form is ``x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps`` with ``abar_t = prod_{s <= t} (1 - beta_s)``. A network predicts
``eps`` from ``x_t``; the best prediction is ``-sqrt(1 - abar_t)`` times the score of
``x_t``'s density (Tweedie's formula), and one reverse step (ancestral, or DDIM's
deterministic one) takes ``x_t`` towards the data. Time steps are indexed ``t = 0, ...,
T - 1`` here, ``t = 0`` the first noising step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import densities
from .mcmc import _check_positive

Score = Callable[[torch.Tensor], torch.Tensor]
NoiseScore = Callable[[torch.Tensor, float], torch.Tensor]

# --------------------------------------------------------------------------- the score


def mixture_score(x: torch.Tensor, weights, means, stds) -> torch.Tensor:
    """The exact score of ``densities.isotropic_mixture_log_prob``, (N, D): ``sum_k r_k(x)
    (m_k - x) / s_k^2``, ``r_k(x)`` the posterior probability of component ``k`` given ``x``
    (each component's score, weighted by how much it explains ``x``)."""
    r = torch.softmax(densities.isotropic_mixture_log_joint(x, weights, means, stds), dim=1)
    m, s = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (means, stds))
    s = s.expand(len(m))  # one std for all components, or one each
    return ((r / s**2)[:, :, None] * (m[None] - x[:, None, :])).sum(1)  # (N, D)


def noised_stds(stds, sigma: float) -> torch.Tensor:
    """The standard deviations of a Gaussian mixture blurred by ``N(0, sigma^2 I)``: the
    blurred density is the same mixture with each ``s_k^2`` grown by ``sigma^2``."""
    s = torch.as_tensor(stds, dtype=torch.get_default_dtype())
    return (s**2 + sigma**2).sqrt()


# --------------------------------------------------------------------------- score matching


def dsm_loss(score: NoiseScore, x: torch.Tensor, sigma: float, noise: torch.Tensor):
    """Denoising score matching, per example (N,): ``1/2 ||s(x~, sigma) + n / sigma||^2`` at
    ``x~ = x + sigma n``, the target ``-n / sigma = grad log q(x~ | x)``."""
    _check_positive(sigma, "sigma", "dsm_loss")
    if noise.shape != x.shape:
        raise ValueError(
            f"dsm_loss: noise must have x's shape {tuple(x.shape)}, got {tuple(noise.shape)}"
        )
    x_noisy = x + sigma * noise
    return 0.5 * ((score(x_noisy, sigma) + noise / sigma) ** 2).sum(-1)


def esm_loss(score: NoiseScore, x_noisy: torch.Tensor, sigma: float, true_score: Score):
    """Explicit score matching, per example (N,): ``1/2 ||s(x~, sigma) - grad log
    q_sigma(x~)||^2``, against the blurred density's exact score (known for a mixture)."""
    _check_positive(sigma, "sigma", "esm_loss")
    return 0.5 * ((score(x_noisy, sigma) - true_score(x_noisy)) ** 2).sum(-1)


# --------------------------------------------------------------------------- Langevin


def langevin(score: Score, x: torch.Tensor, step: float, n_steps: int, generator=None):
    """``n_steps`` of unadjusted Langevin, ``x <- x + (step / 2) s(x) + sqrt(step) z``, from
    ``x`` (N, D); returns the last state."""
    _check_positive(step, "step", "langevin")
    for _ in range(n_steps):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x + 0.5 * step * score(x) + math.sqrt(step) * z
    return x


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> list[float]:
    """``n`` noise levels from ``sigma_max`` down to ``sigma_min``, a constant ratio apart."""
    _check_positive(sigma_min, "sigma_min", "geometric_sigmas")
    if not sigma_max > sigma_min or not isinstance(n, int) or n < 2:
        raise ValueError(
            f"geometric_sigmas: need sigma_max > sigma_min and n >= 2, got {sigma_max!r}, "
            f"{sigma_min!r}, {n!r}"
        )
    ratio = (sigma_min / sigma_max) ** (1 / (n - 1))
    return [sigma_max * ratio**i for i in range(n)]


def annealed_langevin(
    score: NoiseScore,
    x: torch.Tensor,
    sigmas: list[float],
    steps_per_level: int,
    eps: float,
    generator=None,
) -> torch.Tensor:
    """Song & Ermon's annealed Langevin (their Algorithm 1): for each noise level ``sigma_i``
    from the largest down, ``steps_per_level`` Langevin steps with the score at that level,
    the step ``alpha_i = eps sigma_i^2 / sigma_L^2`` (``sigma_L`` the smallest), so that the
    step's signal-to-noise ratio is the same at every level."""
    if list(sigmas) != sorted(sigmas, reverse=True) or min(sigmas) <= 0:
        raise ValueError(f"annealed_langevin: sigmas must be > 0 and decreasing, got {sigmas!r}")
    _check_positive(eps, "eps", "annealed_langevin")
    for sigma in sigmas:
        alpha = eps * sigma**2 / sigmas[-1] ** 2
        x = langevin(lambda y, s=sigma: score(y, s), x, alpha, steps_per_level, generator)
    return x


# --------------------------------------------------------------------------- diffusion


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """Ho et al.'s schedule: ``T`` variances rising linearly from ``beta_1`` to ``beta_T``."""
    if not isinstance(T, int) or T < 1 or not 0 < beta_1 <= beta_T < 1:
        raise ValueError(
            f"linear_betas: need T >= 1 and 0 < beta_1 <= beta_T < 1, got {T!r}, {beta_1!r}, "
            f"{beta_T!r}"
        )
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """``abar_t = prod_{s <= t} (1 - beta_s)``: how much of ``x_0`` is left at step ``t``."""
    return torch.cumprod(1 - betas, dim=0)


def _at(values: torch.Tensor, t, x: torch.Tensor) -> torch.Tensor:
    """``values[t]`` shaped to broadcast against ``x`` (B, ...): ``t`` an int or (B,)."""
    t = torch.as_tensor(t, device=values.device)
    if ((t < 0) | (t >= len(values))).any():
        raise ValueError(f"t must be in [0, {len(values) - 1}], got {t.tolist()!r}")
    v = values[t].to(dtype=x.dtype, device=x.device)
    return v.reshape(-1, *([1] * (x.dim() - 1))) if v.dim() else v


def q_sample(x0: torch.Tensor, t, abar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``: step ``t`` of the forward process
    in one draw, ``t`` an int or one per example (B,)."""
    a = _at(abar, t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def forward_steps(x0: torch.Tensor, betas: torch.Tensor, t: int, generator=None) -> torch.Tensor:
    """The forward process run step by step to step ``t``: ``x_s = sqrt(1 - beta_s) x_{s-1} +
    sqrt(beta_s) z`` for ``s = 0, ..., t`` (``q_sample`` is its closed form)."""
    x = x0
    for s in range(t + 1):
        b = betas[s].item()
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = math.sqrt(1 - b) * x + math.sqrt(b) * z
    return x


def eps_to_score(eps: torch.Tensor, t, abar: torch.Tensor) -> torch.Tensor:
    """Tweedie's formula: the noise prediction ``E[eps | x_t]`` is ``-sqrt(1 - abar_t)`` times
    the score of ``x_t``'s density, so the score is ``-eps / sqrt(1 - abar_t)``."""
    return -eps / (1 - _at(abar, t, eps)).sqrt()


def ddpm_step(
    x_t: torch.Tensor, t: int, eps: torch.Tensor, betas: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """One ancestral step of Ho et al. (their Algorithm 2), ``sigma_t^2 = beta_t``:
    ``x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) + sqrt(beta_t) z``,
    with no noise at the last step (``t = 0``)."""
    abar = alpha_bars(betas)
    b, a = _at(betas, t, x_t), _at(abar, t, x_t)
    mean = (x_t - b / (1 - a).sqrt() * eps) / (1 - b).sqrt()
    return mean + b.sqrt() * noise if t > 0 else mean


def ddim_step(x_t: torch.Tensor, t: int, t_prev: int, eps: torch.Tensor, abar: torch.Tensor):
    """One deterministic DDIM step (Song, Meng & Ermon 2021, eta = 0) from step ``t`` to an
    earlier ``t_prev`` (-1: to the data): the predicted ``x_0 = (x_t - sqrt(1 - abar_t) eps) /
    sqrt(abar_t)``, noised back to ``t_prev`` with the same ``eps``."""
    if not -1 <= t_prev < t:
        raise ValueError(f"ddim_step: t_prev must be in [-1, t), got t={t!r}, t_prev={t_prev!r}")
    a = _at(abar, t, x_t)
    x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    if t_prev < 0:
        return x0
    a_prev = _at(abar, t_prev, x_t)
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
