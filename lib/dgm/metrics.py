"""Quality measures shared by the lectures.

- ``importance_log_likelihood``: ``log p(x)`` estimated by importance sampling with the
  model's own inference network as proposal, K samples in chunks (K = 5000 on MNIST is the
  standard test NLL of VAEs and Helmholtz machines).
- ``mode_coverage``: modes covered and high-quality share on 2-D Gaussian mixtures
  (VEEGAN, PacGAN).
- ``frechet_distance``, ``inception_score``, ``mnist_scores``: sample quality of MNIST
  generators, from the features and class probabilities of ``dgm.classifier``.
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
def _high_quality_counts(
    fn: str, samples: torch.Tensor, centres: torch.Tensor, std: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(counts (K,), good (N,))``: high-quality samples nearest each centre, and which are."""
    if samples.dim() != 2 or centres.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(
            f"{fn}: samples (N, D) and centres (K, D) expected, got "
            f"{tuple(samples.shape)} and {tuple(centres.shape)}"
        )
    if std <= 0:
        raise ValueError(f"{fn}: std must be > 0, got {std}")
    dist = torch.cdist(samples.float(), centres.float().to(samples.device))  # (N, K)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * std  # (N,)
    return torch.bincount(nearest[good], minlength=len(centres)), good  # (K,), (N,)


def mode_shares(samples: torch.Tensor, centres: torch.Tensor, std: float) -> torch.Tensor:
    """The share of ``samples`` that are high quality and nearest each centre, (K,).

    High quality as in ``mode_coverage`` (within 3 ``std`` of the nearest centre); the shares
    sum to the high-quality share. For data mixed in unequal proportions, compare them with
    the mixing weights: a generator that drops a mode gives it a share of 0.
    """
    counts, _ = _high_quality_counts("mode_shares", samples, centres, std)
    return counts.float() / len(samples)


def mode_coverage(
    samples: torch.Tensor, centres: torch.Tensor, std: float, min_count: int = 1
) -> tuple[int, float]:
    """Modes covered and the share of high-quality samples, for a 2-D Gaussian mixture.

    A sample is *high quality* when it lies within 3 ``std`` of its nearest centre (the
    criterion of VEEGAN and PacGAN). A mode is *covered* when at least ``min_count``
    high-quality samples have it as their nearest centre. PacGAN's evaluation code counts a
    mode with one sample (``min_count=1``, the default) among 2,500 generated samples.

    Returns
    -------
    modes : int
        Number of covered modes, 0 to ``len(centres)``.
    high_quality : float
        Fraction of samples that are high quality, in [0, 1].
    """
    if min_count < 1:
        raise ValueError(f"mode_coverage: min_count must be >= 1, got {min_count}")
    counts, good = _high_quality_counts("mode_coverage", samples, centres, std)
    return int((counts >= min_count).sum()), good.float().mean().item()


# --------------------------------------------------------------------------- image quality


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and covariance (D, D) of (N, D) features, in float64."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(
            f"gaussian_stats: (N, D) features with N >= 2 expected, got {tuple(features.shape)}"
        )
    f = features.double()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _psd_sqrt(S: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a positive semi-definite matrix (eigenvalues clipped at 0)."""
    lam, V = torch.linalg.eigh(S)
    return (V * lam.clamp(min=0).sqrt()) @ V.T


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (FID's formula).

    ``d^2 = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})``

    The last trace equals ``tr((S_a S_b)^{1/2})`` but is computed from symmetric matrices
    only, so it is real and stable. Zero for a set against itself; a shift of every feature
    by ``delta`` adds exactly ``|delta|^2``.
    """
    if features_a.dim() != 2 or features_b.dim() != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"frechet_distance: two (N, D) feature sets with the same D expected, got "
            f"{tuple(features_a.shape)} and {tuple(features_b.shape)}"
        )
    mu_a, S_a = gaussian_stats(features_a)
    mu_b, S_b = gaussian_stats(features_b.to(features_a.device))
    root_a = _psd_sqrt(S_a)
    cross = torch.linalg.eigvalsh(root_a @ S_b @ root_a).clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + S_a.trace() + S_b.trace() - 2 * cross)


def inception_score(probs: torch.Tensor) -> float:
    """``exp(E_x KL(p(y | x) || p(y)))`` from (N, C) class probabilities.

    High when each sample is classified confidently (sharp ``p(y|x)``) *and* the classes are
    used evenly (flat ``p(y)``): between 1 and the number of classes C.
    """
    if probs.dim() != 2:
        raise ValueError(f"inception_score: (N, C) probabilities expected, got {probs.shape}")
    p = probs.double().clamp(min=1e-12)
    p_y = p.mean(0, keepdim=True)  # the marginal class distribution
    return float((p * (p.log() - p_y.log())).sum(1).mean().exp())


@torch.no_grad()
def classifier_outputs(images: torch.Tensor, batch_size: int = 500):
    """Features (N, 128) and class probabilities (N, 10) of the course's MNIST classifier."""
    from . import classifier

    model = classifier.load(images.device)
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i : i + batch_size])
        feats.append(f)
        probs.append(model.head(f).softmax(1))
    return torch.cat(feats), torch.cat(probs)


def mnist_scores(images: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Fréchet distance to ``reference`` digits and Inception-style score of (N, 784) images.

    Both on the features and probabilities of ``dgm.classifier``; images in [0, 1]. Use the
    same N for every model you compare (the distance is biased upwards for small N), and real
    test digits against real training digits as the floor.
    """
    feats, probs = classifier_outputs(images)
    ref_feats, _ = classifier_outputs(reference.to(images.device))
    return {"frechet": frechet_distance(feats, ref_feats), "inception": inception_score(probs)}
