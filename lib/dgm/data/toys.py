"""The 2-D toy data of lectures 01 and 04-07, generated on the device.

A ring of 8 Gaussians, a 5x5 grid, unequal modes, a swiss roll, two moons, general Gaussian
mixtures and the blobs of lecture 01; the mixtures come with their mode centres for the
mode-coverage metric (``dgm.metrics.mode_coverage``).
"""

from __future__ import annotations

import math

import torch

from .. import config


def _check_n(fn: str, n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{fn}: n must be a positive int, got {n!r}")


def _on(x: torch.Tensor, device) -> torch.Tensor:
    return x.to(torch.device(device) if device is not None else config.device())


def ring_centres(n_modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Centres of ``n_modes`` Gaussians evenly spaced on a circle, shape (n_modes, 2)."""
    angle = 2 * math.pi * torch.arange(n_modes, dtype=torch.float32) / n_modes
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def grid_centres(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of a ``side`` x ``side`` grid centred on 0 (e.g. -4, -2, 0, 2, 4), (side**2, 2)."""
    ticks = spacing * (torch.arange(side, dtype=torch.float32) - (side - 1) / 2)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _around(centres: torch.Tensor, n: int, std: float, generator, weights=None) -> torch.Tensor:
    if weights is None:
        k = torch.randint(len(centres), (n,), generator=generator)  # which mode, uniform
    else:
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
    return centres[k] + std * torch.randn(n, 2, generator=generator)  # (n, 2)


def unequal_modes(
    n: int,
    weights: tuple[float, ...] = (10.0, 1.0),
    spacing: float = 4.0,
    std: float = 0.1,
    generator: torch.Generator | None = None,
    device=None,
) -> torch.Tensor:
    """``n`` points from Gaussians on the x-axis, ``spacing`` apart, mixed in the ratio ``weights``.

    The default is lecture 05's test of mode seeking: a large mode at (-2, 0) and a small one
    at (2, 0) with a tenth of its mass (``unequal_centres`` gives the centres).
    """
    _check_n("unequal_modes", n)
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.dim() != 1 or len(w) < 2 or (w <= 0).any():
        raise ValueError(
            f"unequal_modes: weights must be 2 or more positive numbers, got {weights!r}"
        )
    centres = unequal_centres(len(w), spacing)
    return _on(_around(centres, n, std, generator, (w / w.sum()).float()), device)


def unequal_centres(n_modes: int = 2, spacing: float = 4.0) -> torch.Tensor:
    """Centres of ``unequal_modes``: ``n_modes`` points on the x-axis around 0, (n_modes, 2)."""
    x = spacing * (torch.arange(n_modes, dtype=torch.float32) - (n_modes - 1) / 2)
    return torch.stack([x, torch.zeros_like(x)], dim=1)


def gaussian_ring(
    n: int,
    n_modes: int = 8,
    radius: float = 1.0,
    std: float = 0.01,
    generator: torch.Generator | None = None,
    device=None,
) -> torch.Tensor:
    """``n`` points from an equal mixture of Gaussians on a ring (PacGAN's set-up), (n, 2)."""
    _check_n("gaussian_ring", n)
    return _on(_around(ring_centres(n_modes, radius), n, std, generator), device)


def gaussian_grid(
    n: int,
    side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    generator: torch.Generator | None = None,
    device=None,
) -> torch.Tensor:
    """``n`` points from an equal mixture of Gaussians on a grid (PacGAN's set-up), (n, 2)."""
    _check_n("gaussian_grid", n)
    return _on(_around(grid_centres(side, spacing), n, std, generator), device)


def swiss_roll(
    n: int, noise: float = 0.05, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """The 2-D swiss roll ``t (cos t, sin t) / 5`` with ``t`` in [1.5 pi, 4.5 pi], (n, 2)."""
    _check_n("swiss_roll", n)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    x = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 5
    return _on(x + noise * torch.randn(n, 2, generator=generator), device)


def two_moons(
    n: int, noise: float = 0.05, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), shape (n, 2)."""
    _check_n("two_moons", n)
    t = math.pi * torch.rand(n, generator=generator)
    upper = torch.rand(n, generator=generator) < 0.5
    x = torch.where(
        upper[:, None],
        torch.stack([t.cos(), t.sin()], dim=1),
        torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=1),
    )
    return _on(x + noise * torch.randn(n, 2, generator=generator), device)


def gaussian_mixture(
    n: int,
    weights: torch.Tensor,
    means: torch.Tensor,
    covs: torch.Tensor,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``z ~ Categorical(weights)``, ``x ~ N(means[z], covs[z])``.

    Returns ``x`` of shape (n, D) and the component labels ``z`` of shape (n,), on the
    device and dtype of ``means``.
    """
    _check_n("gaussian_mixture", n)
    K, D = means.shape
    if weights.shape != (K,) or covs.shape != (K, D, D):
        raise ValueError(
            f"gaussian_mixture: expected weights (K,), means (K, D), covs (K, D, D); got "
            f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}"
        )
    z = torch.multinomial(weights.cpu().double(), n, replacement=True, generator=generator)
    eps = torch.randn(n, D, generator=generator, dtype=torch.float64)
    L = torch.linalg.cholesky(covs.cpu().double())  # (K, D, D)
    x = means.cpu().double()[z] + (L[z] @ eps[:, :, None]).squeeze(-1)  # (n, D)
    return x.to(means), z.to(means.device)


def blobs_params(
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The true ``(weights, means, covs)`` of ``blobs``: three Gaussians of different shapes."""
    weights = torch.tensor([0.45, 0.35, 0.20], dtype=dtype)
    means = torch.tensor([[-2.0, 0.5], [2.0, 1.5], [0.5, -2.5]], dtype=dtype)
    covs = torch.tensor(
        [[[1.0, 0.6], [0.6, 0.8]], [[0.6, -0.3], [-0.3, 0.5]], [[1.2, 0.0], [0.0, 0.15]]],
        dtype=dtype,
    )
    return weights, means, covs


def blobs(
    n: int = 600, generator: torch.Generator | None = None, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lecture 01's data: ``n`` points from the mixture ``blobs_params()``, float64.

    Returns the points (n, 2) and the component each came from (n,).
    """
    _check_n("blobs", n)
    x, z = gaussian_mixture(n, *blobs_params(), generator=generator)
    return _on(x, device), _on(z, device)
