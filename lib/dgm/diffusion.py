"""Denoising diffusion models (lecture 09, second half): the forward process, its closed
form, and the reverse steps.

The **denoising diffusion** (Ho et al. 2020) noises data in ``T`` steps, ``x_t = sqrt(1 -
beta_t) x_{t-1} + sqrt(beta_t) z``, which in closed form is ``x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps`` with ``abar_t = prod_{s <= t} (1 - beta_s)``. A network predicts
``eps`` from ``x_t``; the best prediction is ``-sqrt(1 - abar_t)`` times the score of
``x_t``'s density (Tweedie's formula, the link to ``dgm.score``), and one reverse step
(ancestral, or DDIM's deterministic one) takes ``x_t`` towards the data. Time steps are
indexed ``t = 0, ..., T - 1`` here, ``t = 0`` the first noising step.
"""

from __future__ import annotations

import math

import torch

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
