"""Log-densities every lecture uses, each written once.

- ``gaussian_log_prob(x, mean, log_var)``: a Gaussian with diagonal covariance
  ``diag exp(log_var)``, summed over the last axis (the VAE's encoder, lecture 03).
- ``normal_log_prob(x, mean, std)``: the same density element by element, in the
  standard deviation (1-D curves on a grid, lectures 04 and 05).
- ``standard_normal_log_prob(x)``: ``N(0, I)``, the prior of every latent-variable model.
- ``mvn_log_prob(X, means, covs)``: full-covariance Gaussians, every point against every
  component, shape (N, K) (the Gaussian mixture of lecture 01).
- ``normal_mixture_log_prob(x, weights, means, stds)``: a 1-D mixture of normals.
- ``isotropic_mixture_log_prob(x, weights, means, stds)``: a mixture of isotropic
  Gaussians in D dimensions (the MCMC targets of lecture 07, the scores of lecture 09), and
  ``isotropic_mixture_log_joint`` its terms, one per component, shape (N, K).
- ``bernoulli_log_prob(x, logits)``: a product of Bernoullis from logits, summed over the
  last axis (binarized MNIST, the Helmholtz machine's binary layers).
- ``kl_by_quadrature(log_a, log_b, dx)``: ``KL(a || b)`` for densities known on a 1-D grid,
  and ``jsd_by_quadrature`` the Jensen-Shannon divergence the same way;
  ``finite_difference(f, theta)``, the central-difference gradient the lectures check
  identities between such integrals with.

All work in log space and broadcast like torch's elementwise functions; new tensors take
their inputs' device and dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def _normal_terms(x: torch.Tensor, mean, log_var) -> torch.Tensor:
    """``log N(x; mean, exp(log_var))`` elementwise: the one place the formula is written."""
    return -0.5 * (LOG_2PI + log_var + (x - mean) ** 2 / torch.exp(log_var))


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``log N(x | mean, diag exp(log_var))``, summed over the last axis.

    Parameters
    ----------
    x, mean, log_var : torch.Tensor
        Broadcastable; the last axis is the dimension of the Gaussian.

    Returns
    -------
    torch.Tensor
        The broadcast shape without its last axis.
    """
    return _normal_terms(x, mean, log_var).sum(-1)


def normal_log_prob(x: torch.Tensor, mean, std) -> torch.Tensor:
    """``log N(x; mean, std^2)`` element by element (no sum); ``mean`` and ``std`` broadcast."""
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    return _normal_terms(x, mean, 2 * torch.log(std))


def standard_normal_log_prob(x: torch.Tensor) -> torch.Tensor:
    """``log N(x | 0, I)``, summed over the last axis."""
    return -0.5 * (LOG_2PI + x**2).sum(-1)


def mvn_log_prob(X: torch.Tensor, means: torch.Tensor, covs: torch.Tensor) -> torch.Tensor:
    """``log N(x_n | mu_k, Sigma_k)`` for every point and component, shape (N, K).

    With the Cholesky factor ``Sigma = L L^T``:
    ``log N = -1/2 [D log 2 pi + 2 sum_i log L_ii + |L^{-1}(x - mu)|^2]``.

    Parameters
    ----------
    X : torch.Tensor
        Points, (N, D).
    means : torch.Tensor
        (K, D).
    covs : torch.Tensor
        Positive-definite covariances, (K, D, D).
    """
    if X.dim() != 2 or means.dim() != 2 or covs.dim() != 3:
        raise ValueError(
            f"mvn_log_prob: expected X (N, D), means (K, D), covs (K, D, D), got "
            f"{tuple(X.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}"
        )
    D = X.shape[1]
    L, info = torch.linalg.cholesky_ex(covs)  # (K, D, D)
    if info.any():
        k = int(torch.nonzero(info)[0])
        raise ValueError(
            f"mvn_log_prob: covs[{k}] is not positive definite: the component has "
            "collapsed (e.g. onto a single point). Use a covariance floor, reg_covar > 0."
        )
    diff = (X[None, :, :] - means[:, None, :]).transpose(1, 2)  # (K, D, N)
    y = torch.linalg.solve_triangular(L, diff, upper=False)  # (K, D, N), y = L^{-1}(x - mu)
    mahalanobis = y.pow(2).sum(1)  # (K, N)
    log_det = 2 * torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)  # (K,)
    return (-0.5 * (D * LOG_2PI + log_det[:, None] + mahalanobis)).T  # (N, K)


def normal_mixture_log_prob(x: torch.Tensor, weights, means, stds) -> torch.Tensor:
    """``log sum_k w_k N(x; m_k, s_k^2)`` for 1-D points ``x``, shape of ``x``."""
    w, m, s = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (weights, means, stds))
    return torch.logsumexp(normal_log_prob(x[..., None], m, s) + w.log(), dim=-1)


def isotropic_mixture_log_joint(x: torch.Tensor, weights, means, stds) -> torch.Tensor:
    """``log w_k + log N(x_n; m_k, s_k^2 I)`` for every point and component, (N, K): points
    ``x`` (N, D), means (K, D), ``stds`` one standard deviation for all components or one
    per component (K,). The weights are normalised to sum to 1."""
    w, m, s = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (weights, means, stds))
    if x.dim() != 2 or m.dim() != 2 or m.shape[1] != x.shape[1]:
        raise ValueError(
            f"isotropic_mixture: expected x (N, D) and means (K, D), got {tuple(x.shape)} and "
            f"{tuple(m.shape)}"
        )
    if w.shape != (len(m),) or s.shape not in ((), (len(m),)):
        raise ValueError(
            f"isotropic_mixture: weights (K,) and stds () or (K,) with K = {len(m)}, got "
            f"{tuple(w.shape)} and {tuple(s.shape)}"
        )
    if (s <= 0).any() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(
            f"isotropic_mixture: stds must be > 0 and weights >= 0 (not all 0), got "
            f"{s.tolist()} and {w.tolist()}"
        )
    log_n = normal_log_prob(x.unsqueeze(1), m, s.unsqueeze(-1)).sum(2)  # (N, K)
    return log_n + (w / w.sum()).log()


def isotropic_mixture_log_prob(x: torch.Tensor, weights, means, stds) -> torch.Tensor:
    """``log sum_k w_k N(x; m_k, s_k^2 I)`` for points ``x`` (N, D), means (K, D), ``stds``
    one for all components or (K,); (N,)."""
    return torch.logsumexp(isotropic_mixture_log_joint(x, weights, means, stds), dim=1)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``sum_d [x_d log sigmoid(l_d) + (1 - x_d) log sigmoid(-l_d)]`` over the last axis.

    Written with logits (``binary_cross_entropy_with_logits``) because ``log sigmoid`` of a
    large negative logit underflows if computed from probabilities. ``x`` and ``logits``
    broadcast (e.g. data (B, D) against logits (K, B, D), or prior logits (n,) against
    samples (k, B, n)).
    """
    logits, x = torch.broadcast_tensors(logits, x)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def kl_by_quadrature(log_a: torch.Tensor, log_b: torch.Tensor, dx: float) -> torch.Tensor:
    """``KL(a || b) = integral a (log a - log b) dx`` on a uniform 1-D grid of spacing ``dx``."""
    return (log_a.exp() * (log_a - log_b)).sum() * dx


def jsd_by_quadrature(log_a: torch.Tensor, log_b: torch.Tensor, dx: float) -> torch.Tensor:
    """``JSD(a || b) = (KL(a || m) + KL(b || m)) / 2``, ``m = (a + b) / 2``, on a 1-D grid."""
    log_m = torch.logaddexp(log_a, log_b) - math.log(2)
    return 0.5 * (kl_by_quadrature(log_a, log_m, dx) + kl_by_quadrature(log_b, log_m, dx))


def finite_difference(f, theta, h: float = 1e-5) -> torch.Tensor:
    """The gradient of a scalar function ``f(theta)`` by central differences, float64, (P,).

    ``(f(theta + h e_i) - f(theta - h e_i)) / 2h`` for each coordinate: error O(h^2), which
    is what the lectures use to check an identity between gradients of quadrature integrals.
    """
    grad = []
    for i in range(len(theta)):
        up, down = list(theta), list(theta)
        up[i], down[i] = up[i] + h, down[i] - h
        grad.append((float(f(up)) - float(f(down))) / (2 * h))
    return torch.tensor(grad, dtype=torch.float64)
