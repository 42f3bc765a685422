"""Lecture 06: a GAN read as an energy model plus a sampler, with a mutual-information loss.

The model is an energy distribution ``q_theta(x) = exp(-U_theta(x)) / Z_theta``. Its negative
log-likelihood on data ``p`` has the gradient

    grad_theta E_p[-log q_theta(x)] = E_p[grad_theta U(x)] - E_{q_theta}[grad_theta U(x)],

the *positive phase* (push the energy of data down) minus the *negative phase* (push the
energy of the model's own samples up). The negative phase needs samples from ``q_theta``,
which are hard to draw; a generator ``x = G_phi(z)`` is easy to sample but has no density.
Kumar et al. (2019, "Maximum Entropy Generators for Energy-Based Models") use the generator's
samples for the negative phase and train the generator to make ``q_phi`` close to
``q_theta``:

    KL(q_phi || q_theta) = -H(q_phi) + E_{q_phi}[U(x)] + log Z_theta.

``log Z_theta`` does not depend on ``phi``; the entropy ``H(q_phi)`` is what stops the
generator collapsing onto the lowest-energy point. For a deterministic generator with small
output noise, ``H(X)`` and the mutual information ``I(X; Z)`` differ by a constant, so the
generator maximises an estimate of ``I(X; Z)`` instead: an InfoGAN-style lower bound with an
encoder (``infogan_mi_penalty``) or Deep InfoMax's Jensen-Shannon estimator
(``jsd_mi_estimate``), which MEG uses.

Energies here are functions ``U(x) -> (B,)``; lower energy means more probable.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

Energy = Callable[[torch.Tensor], torch.Tensor]


def _check_energies(name: str, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if u.shape != (x.shape[0],):
        raise ValueError(
            f"{name}: the energy must return one value per example, shape ({x.shape[0]},), "
            f"got {tuple(u.shape)}"
        )
    return u


# --------------------------------------------------------------------------- exact, on a grid


def log_partition_by_quadrature(U: Energy, grid: torch.Tensor, cell: float) -> torch.Tensor:
    """``log Z = log sum_j exp(-U(x_j)) * cell`` over grid points ``x_j`` (N, D), each a cell
    of volume ``cell``: exact up to the quadrature error, for 1-D and 2-D energies."""
    u = _check_energies("log_partition_by_quadrature", U(grid), grid)
    return torch.logsumexp(-u, 0) + math.log(cell)


def nll_by_quadrature(U: Energy, data: torch.Tensor, grid: torch.Tensor, cell: float):
    """The exact average negative log-likelihood ``E_data[U(x)] + log Z`` of ``q = e^{-U}/Z``."""
    u = _check_energies("nll_by_quadrature", U(data), data)
    return u.mean() + log_partition_by_quadrature(U, grid, cell)


def model_weights_on_grid(U: Energy, grid: torch.Tensor) -> torch.Tensor:
    """``q(x_j)`` normalised over the grid points, (N,): the model's own distribution, on which
    the negative phase averages when it is computed exactly."""
    return torch.softmax(-_check_energies("model_weights_on_grid", U(grid), grid), 0)


# --------------------------------------------------------------------------- the two players


def contrastive_loss(U: Energy, real: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """``E_real[U] - E_negative[U]``: its ``theta``-gradient is the positive phase minus the
    negative phase, with ``negative`` standing in for samples of ``q_theta``."""
    u_real = _check_energies("contrastive_loss", U(real), real)
    u_neg = _check_energies("contrastive_loss", U(negative), negative)
    return u_real.mean() - u_neg.mean()


def gradient_penalty(U: Energy, real: torch.Tensor) -> torch.Tensor:
    """The zero-centred penalty ``E_real ||grad_x U(x)||^2``, differentiable in ``theta``.

    Data should sit at minima of the energy, where its gradient vanishes; without the
    penalty the contrastive loss can fall without bound by making the energy steep.
    """
    x = real.detach().requires_grad_(True)
    u = _check_energies("gradient_penalty", U(x), x)
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def energy_loss(U: Energy, real, fake, penalty: float = 1.0) -> torch.Tensor:
    """The energy's (critic's) loss: ``E_real[U] - E_fake[U] + penalty * E_real ||grad_x U||^2``.

    ``fake`` is detached: this step trains the energy only.
    """
    if penalty < 0:
        raise ValueError(f"energy_loss: penalty must be >= 0, got {penalty!r}")
    return contrastive_loss(U, real, fake.detach()) + penalty * gradient_penalty(U, real)


def infogan_mi_penalty(z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """``E ||z - E(G(z))||^2``: minus the InfoGAN lower bound on ``I(X; Z)``, up to constants.

    With ``p(z | x) = N(z; E(x), sigma^2 I)`` the bound ``E log p(z | x) + H(Z)`` is this mean
    squared error times ``-1 / (2 sigma^2)`` plus a constant.
    """
    if z.shape != z_hat.shape:
        raise ValueError(
            f"infogan_mi_penalty: z and E(G(z)) differ in shape: "
            f"{tuple(z.shape)} vs {tuple(z_hat.shape)}"
        )
    return (z - z_hat).pow(2).flatten(1).sum(1).mean()


def jsd_mi_estimate(
    T: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    z: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Deep InfoMax's Jensen-Shannon estimate of ``I(X; Z)`` from pairs ``(x_i, z_i)``.

    ``E_joint[-softplus(-T(x, z))] - E_marginals[softplus(T(x, z'))]``, where ``z'`` is ``z``
    shuffled across the batch (pairs from the product of the marginals). Its maximum over
    ``T`` is ``2 JSD(p(x, z) || p(x) p(z)) - log 4``: ``-log 4`` when ``X`` and ``Z`` are
    independent, and it grows with their dependence.
    """
    if x.shape[0] != z.shape[0]:
        raise ValueError(f"jsd_mi_estimate: {x.shape[0]} x but {z.shape[0]} z")
    perm = torch.randperm(z.shape[0], generator=generator, device=z.device)
    joint, marginal = T(x, z), T(x, z[perm])
    return (-F.softplus(-joint)).mean() - F.softplus(marginal).mean()
