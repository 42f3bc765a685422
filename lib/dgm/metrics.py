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
