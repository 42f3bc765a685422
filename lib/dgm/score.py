"""Score-based models (lecture 09, first half): the score, score matching, and Langevin
dynamics at many noise levels.

The **score** of a density is ``s(x) = grad_x log p(x)``: it needs no normaliser, and
Langevin dynamics (lecture 07) samples with it alone,

    x <- x + (step / 2) s(x) + sqrt(step) z,    z ~ N(0, I).

**Denoising score matching** (Vincent 2011) learns the score of the data blurred by Gaussian
noise of scale ``sigma`` from pairs ``(x, x~ = x + sigma n)``: since ``grad log q(x~ | x) =
-n / sigma``, the loss ``1/2 ||s(x~) + n / sigma||^2`` differs from the explicit ``1/2 ||s(x~) -
grad log q_sigma(x~)||^2`` by a constant that does not depend on ``s``. **Annealed Langevin**
(Song & Ermon 2019) runs Langevin at noise levels from large to small, each with the score
at that level, so chains cross between modes while the blur still joins them.
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
