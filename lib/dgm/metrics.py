"""Quality measures shared by the lectures.

- ``importance_log_likelihood``: ``log p(x)`` estimated by importance sampling with the
  model's own inference network as proposal, K samples in chunks (K = 5000 on MNIST is the
  standard test NLL of VAEs and Helmholtz machines).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


@torch.no_grad()
def importance_log_likelihood(
    log_weights: Callable[[torch.Tensor, int], torch.Tensor],
    x: torch.Tensor,
    k: int = 5000,
    chunk: int = 500,
    batch_size: int = 100,
) -> torch.Tensor:
    """``log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k | x)``, ``z_k ~ q(z | x)``, per example.

    Parameters
    ----------
    log_weights : callable ``log_weights(x_batch, n) -> (n, B)``
        ``n`` importance log-weights per example (e.g. ``VAE.log_weights``).
    x : Tensor (N, ...)
        The data; processed ``batch_size`` examples at a time.
    k, chunk : int
        Total samples per example, drawn ``chunk`` at a time so memory stays bounded;
        the chunks are combined exactly with ``logsumexp``.

    Returns
    -------
    Tensor (N,)
        The estimates. Each is a stochastic lower bound on ``log p(x)`` in expectation
        (Jensen), and tends to it as ``k`` grows.
    """
    if not isinstance(k, int) or k < 1 or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(
            f"importance_log_likelihood: k and chunk must be positive ints, got {k!r}, {chunk!r}"
        )
    out = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        parts = []
        for done in range(0, k, chunk):
            parts.append(torch.logsumexp(log_weights(xb, min(chunk, k - done)), dim=0))  # (B,)
        out.append(torch.logsumexp(torch.stack(parts), dim=0) - math.log(k))
    return torch.cat(out)


@torch.no_grad()
def mode_coverage(
    samples: torch.Tensor, centres: torch.Tensor, std: float, min_count: int = 1
) -> tuple[int, float]:
    """Modes covered and the share of high-quality samples, for a 2-D Gaussian mixture.

    A sample is *high quality* when it lies within 3 ``std`` of its nearest centre (the
    criterion of VEEGAN and PacGAN). A mode is *covered* when at least ``min_count``
    high-quality samples have it as their nearest centre (VEEGAN and PacGAN count per mode
    with thresholds of their own; state the one you use).

    Returns
    -------
    modes : int
        Number of covered modes, 0 to ``len(centres)``.
    high_quality : float
        Fraction of samples that are high quality, in [0, 1].
    """
    if samples.dim() != 2 or centres.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(
            f"mode_coverage: samples (N, D) and centres (K, D) expected, got "
            f"{tuple(samples.shape)} and {tuple(centres.shape)}"
        )
    if std <= 0 or min_count < 1:
        raise ValueError(
            f"mode_coverage: std must be > 0 and min_count >= 1, got {std}, {min_count}"
        )
    dist = torch.cdist(samples.float(), centres.float().to(samples.device))  # (N, K)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * std  # (N,)
    counts = torch.bincount(nearest[good], minlength=len(centres))  # (K,)
    return int((counts >= min_count).sum()), good.float().mean().item()
