"""Lecture 04: generative adversarial networks.

A generator ``G`` turns noise ``z ~ p(z)`` into samples; a discriminator ``D(x) = sigmoid(l(x))``
tells real from generated. The minimax game (Goodfellow et al. 2014) is

    min_G max_D  E_data[log D(x)] + E_z[log(1 - D(G(z)))].

- For a fixed G the best discriminator is ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``, and at
  ``D*`` the game's value is ``-log 4 + 2 JSD(p_data || p_g)``.
- The generator's minimax loss ``log(1 - D(G(z)))`` has a vanishing gradient exactly when the
  discriminator wins (``D(G(z)) -> 0``), early in training; the non-saturating loss
  ``-log D(G(z))`` has the same fixed point and a strong gradient there.
- PacGAN (Lin et al. 2018) shows the discriminator ``m`` samples at once ("packing").

Every loss takes the discriminator's *logits* ``l`` and uses ``log sigmoid(l) = -softplus(-l)``,
``log(1 - sigmoid(l)) = -softplus(l)``, which stay finite where ``sigmoid`` rounds to 0 or 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-[log D(x) + log(1 - D(G(z)))]`` per pair of a real and a generated example, (B,)."""
    if real_logits.shape != fake_logits.shape:
        raise ValueError(
            f"discriminator_loss: real and fake logits differ in shape: "
            f"{tuple(real_logits.shape)} vs {tuple(fake_logits.shape)}"
        )
    return F.softplus(-real_logits) + F.softplus(fake_logits)


def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the game, ``log(1 - D(G(z)))``, to minimise; (B,)."""
    return -F.softplus(fake_logits)


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-log D(G(z))``; (B,)."""
    return F.softplus(-fake_logits)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` from the two densities at the same points."""
    return p_data / (p_data + p_g)


def game_value_at_optimum(log_p_data: torch.Tensor, log_p_g: torch.Tensor, dx: float) -> float:
    """``V(D*, G)`` by quadrature on a 1-D grid of spacing ``dx``; equals ``-log 4 + 2 JSD``."""
    p, q = log_p_data.exp(), log_p_g.exp()
    log_d = log_p_data - torch.logaddexp(log_p_data, log_p_g)  # log D*
    log_1md = log_p_g - torch.logaddexp(log_p_data, log_p_g)  # log (1 - D*)
    return float(((p * log_d).sum() + (q * log_1md).sum()) * dx)


def jensen_shannon(log_p: torch.Tensor, log_q: torch.Tensor, dx: float) -> float:
    """``JSD(p || q) = (KL(p || m) + KL(q || m)) / 2``, ``m = (p + q) / 2``, by 1-D quadrature."""
    log_m = torch.logaddexp(log_p, log_q) - math.log(2)
    kl_pm = (log_p.exp() * (log_p - log_m)).sum() * dx
    kl_qm = (log_q.exp() * (log_q - log_m)).sum() * dx
    return float(0.5 * (kl_pm + kl_qm))


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN's packing: concatenate ``m`` consecutive samples, (B, D) -> (B / m, m D)."""
    if x.shape[0] % m:
        raise ValueError(f"pack: batch size {x.shape[0]} is not a multiple of the packing {m}")
    return x.reshape(x.shape[0] // m, m * x.shape[1])
