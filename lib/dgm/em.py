"""Lecture 01: the EM algorithm, and the free-energy view every later lecture reuses.

A latent-variable model ``p(x, z) = p(z) p(x | z)`` with a discrete ``z`` in ``{1..K}``.
For any distribution ``q(z)`` over the latent (here one row ``r[n]`` per data point),

    log p(x) = ELBO(q) + KL(q(z) || p(z | x)),
    ELBO(q)  = sum_z q(z) [log p(x, z) - log q(z)].

EM climbs the ELBO by coordinate ascent:

- E-step: ``q(z) = p(z | x)``, the responsibilities. The KL term becomes 0, so the ELBO
  touches ``log p(x)``.
- M-step: maximise the ELBO over the parameters with ``q`` held fixed (closed form).

Each step can only raise ``log p(x)``: the E-step closes the gap, the M-step raises a
lower bound that was tight. Two models are here: a Gaussian mixture (2-D toy data) and a
mixture of Bernoullis (binarized MNIST). The EM loop itself (``em``) is shared.

EM has no learning rate, optimizer, batch or schedule: each iteration is closed form on all
the data. So this lecture has no ``FitConfig``/``training_step``/``fit`` of the later ones
(``dgm.train``); its fits take the data first, a starting point and a number of iterations
(``fit_gmm(X, init, n_iter)``), and return every iterate (``EMResult``). ``em_fit`` is the
exercise's form of the same run (a tolerance, the final parameters and the curve).

References: Dempster, Laird & Rubin (1977); Neal & Hinton, "A view of the EM algorithm
that justifies incremental, sparse, and other variants" (1998); Bishop, PRML ch. 9.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from . import config, densities

# --------------------------------------------------------------------------- Gaussian mixture


class GMM(NamedTuple):
    """Parameters of a Gaussian mixture: ``weights`` (K,), ``means`` (K, D), ``covs`` (K, D, D)."""

    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor


def _check_gmm(fn: str, X: torch.Tensor, weights, means, covs) -> None:
    if not torch.is_tensor(X) or X.dim() != 2:
        raise ValueError(f"{fn}: X must be a 2-D tensor (N, D), got {getattr(X, 'shape', X)}")
    N, D = X.shape
    K = means.shape[0] if torch.is_tensor(means) and means.dim() == 2 else None
    if K is None or means.shape[1] != D:
        raise ValueError(f"{fn}: means must be (K, {D}), got {tuple(means.shape)}")
    if weights.shape != (K,):
        raise ValueError(f"{fn}: weights must be ({K},), got {tuple(weights.shape)}")
    if covs.shape != (K, D, D):
        raise ValueError(f"{fn}: covs must be ({K}, {D}, {D}), got {tuple(covs.shape)}")


def log_joint(X: torch.Tensor, weights, means, covs) -> torch.Tensor:
    """``log p(x_n, z_n = k) = log pi_k + log N(x_n | mu_k, Sigma_k)``, shape (N, K)."""
    _check_gmm("log_joint", X, weights, means, covs)
    return weights.log()[None, :] + densities.mvn_log_prob(X, means, covs)


def responsibilities(X: torch.Tensor, weights, means, covs) -> torch.Tensor:
    """E-step: the posterior ``r_nk = p(z_n = k | x_n)``, shape (N, K); rows sum to 1.

    ``r_nk = pi_k N(x_n | mu_k, Sigma_k) / sum_j pi_j N(x_n | mu_j, Sigma_j)``, computed in
    log space (a softmax over k) because the densities underflow far from a component.
    """
    return torch.softmax(log_joint(X, weights, means, covs), dim=1)


def log_likelihood(X: torch.Tensor, weights, means, covs) -> torch.Tensor:
    """``log p(x_n) = log sum_k pi_k N(x_n | mu_k, Sigma_k)`` per point, shape (N,)."""
    return torch.logsumexp(log_joint(X, weights, means, covs), dim=1)


def m_step(X: torch.Tensor, r: torch.Tensor, reg_covar: float = 0.0) -> GMM:
    """M-step: the parameters that maximise the ELBO for fixed responsibilities ``r`` (N, K).

    ``N_k = sum_n r_nk``; ``pi_k = N_k / N``; ``mu_k = sum_n r_nk x_n / N_k``;
    ``Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg_covar * I``.

    ``reg_covar`` is a floor on the variances: with 0, a component that sits on one data
    point can shrink to zero variance and drive the likelihood to infinity.
    """
    if X.dim() != 2 or r.dim() != 2 or r.shape[0] != X.shape[0]:
        raise ValueError(
            f"m_step: X must be (N, D) and r (N, K), got {tuple(X.shape)}, {tuple(r.shape)}"
        )
    N, D = X.shape
    N_k = r.sum(0)  # (K,)
    weights = N_k / N
    means = (r.T @ X) / N_k[:, None]  # (K, D)
    diff = X[None, :, :] - means[:, None, :]  # (K, N, D)
    covs = torch.einsum("nk,knd,kne->kde", r, diff, diff) / N_k[:, None, None]  # (K, D, D)
    covs = covs + reg_covar * torch.eye(D, dtype=X.dtype, device=X.device)
    return GMM(weights, means, covs)


def elbo(X: torch.Tensor, r: torch.Tensor, weights, means, covs) -> torch.Tensor:
    """``ELBO_n = sum_k r_nk [log p(x_n, z = k) - log r_nk]`` per point, shape (N,).

    The entropy term uses ``0 log 0 = 0`` (``torch.xlogy``), so hard assignments are fine.
    """
    return (r * log_joint(X, weights, means, covs) - torch.xlogy(r, r)).sum(1)


def posterior_kl(X: torch.Tensor, r: torch.Tensor, weights, means, covs) -> torch.Tensor:
    """``KL(q(z | x_n) || p(z | x_n))`` per point, with ``q = r``; shape (N,).

    Computed directly from the posterior, not as ``log p(x) - ELBO``, so that the identity
    ``log p(x) = ELBO + KL`` is something to check rather than a definition.
    """
    log_post = torch.log_softmax(log_joint(X, weights, means, covs), dim=1)  # (N, K)
    return (torch.xlogy(r, r) - r * log_post).sum(1)


def init_gmm(X: torch.Tensor, K: int, generator: torch.Generator | None = None) -> GMM:
    """A random start: means at ``K`` distinct data points, every covariance the data's."""
    if not isinstance(K, int) or not 1 <= K <= X.shape[0]:
        raise ValueError(f"init_gmm: K must be an int in [1, N={X.shape[0]}], got {K!r}")
    idx = torch.randperm(X.shape[0], generator=generator)[:K].to(X.device)
    return gmm_with_data_covariance(X, X[idx].clone())


def gmm_with_data_covariance(X: torch.Tensor, means: torch.Tensor) -> GMM:
    """A start from ``K`` means: equal weights, every covariance the whole data's."""
    K, D = means.shape
    cov = torch.cov(X.T).reshape(D, D)  # (D, D)
    weights = torch.full((K,), 1.0 / K, dtype=X.dtype, device=X.device)
    return GMM(weights, means, cov.expand(K, -1, -1).clone())


def kmeans_pp_means(
    X: torch.Tensor, K: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): ``K`` data points spread over the data.

    The first is a uniformly random data point; each next one is a data point drawn with
    probability proportional to its squared distance to the nearest one chosen so far, so a
    cluster that already has a seed is rarely picked again. Returns (K, D).
    """
    if not isinstance(K, int) or not 1 <= K <= X.shape[0]:
        raise ValueError(f"kmeans_pp_means: K must be an int in [1, N={X.shape[0]}], got {K!r}")
    first = int(torch.randint(X.shape[0], (1,), generator=generator))
    means = [X[first]]
    d2 = ((X - means[0]) ** 2).sum(1)  # (N,) squared distance to the nearest seed
    for _ in range(K - 1):
        i = int(torch.multinomial(d2.cpu(), 1, generator=generator))
        means.append(X[i])
        d2 = torch.minimum(d2, ((X - X[i]) ** 2).sum(1))
    return torch.stack(means)


def gmm_from_means(X: torch.Tensor, means: torch.Tensor, reg_covar: float = 1e-6) -> GMM:
    """A start from ``K`` means: every point to its nearest mean, then one M-step on that
    hard partition, so each component starts with its own cluster's weight and covariance."""
    nearest = torch.cdist(X, means).argmin(1)
    r = torch.nn.functional.one_hot(nearest, means.shape[0]).to(X)
    if (r.sum(0) == 0).any():
        raise ValueError("gmm_from_means: a mean is nearest to no data point; pick data points")
    return m_step(X, r, reg_covar)


def init_gmm_kmeans_pp(X: torch.Tensor, K: int, generator: torch.Generator | None = None) -> GMM:
    """The k-means++ start: ``gmm_from_means`` of ``kmeans_pp_means``."""
    return gmm_from_means(X, kmeans_pp_means(X, K, generator))


# --------------------------------------------------------------------------- the EM loop


@dataclass
class EMResult:
    """What ``em`` returns: the parameters after each iteration and the mean log-likelihood.

    ``params[t]`` are the parameters after ``t`` iterations (``params[0]`` is the start);
    ``log_likelihood[t]`` is ``mean_n log p(x_n)`` under ``params[t]``.
    """

    params: list = field(default_factory=list)
    log_likelihood: list[float] = field(default_factory=list)

    @property
    def final(self):
        return self.params[-1]


def em(
    X: torch.Tensor,
    init: tuple,
    n_iter: int,
    log_joint_fn: Callable[..., torch.Tensor],
    m_step_fn: Callable[[torch.Tensor, torch.Tensor], tuple],
    progress: bool = False,
    tol: float | None = None,
) -> EMResult:
    """Run ``n_iter`` EM iterations of any mixture model (fewer with ``tol``).

    The model enters through two functions: ``log_joint_fn(X, *params)`` returns
    ``log p(x_n, z = k)`` (N, K), and ``m_step_fn(X, r)`` returns new parameters.
    The E-step is the same for every mixture: ``r = softmax_k log p(x_n, z = k)``.
    With ``tol``, EM stops after the first iteration that raised the mean log-likelihood
    by less than ``tol`` (that iteration is kept).
    """
    if not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"em: n_iter must be a non-negative int, got {n_iter!r}")
    params = init
    result = EMResult()
    steps = range(n_iter + 1)
    if progress:
        steps = config.progress_bar(steps, desc="EM", leave=False)
    for t in steps:
        lj = log_joint_fn(X, *params)  # (N, K)
        result.params.append(params)
        result.log_likelihood.append(torch.logsumexp(lj, dim=1).mean().item())
        converged = (
            tol is not None
            and t > 0
            and (result.log_likelihood[-1] - result.log_likelihood[-2] < tol)
        )
        if t == n_iter or converged:
            break
        r = torch.softmax(lj, dim=1)  # E-step, (N, K)
        params = m_step_fn(X, r)  # M-step
    return result


def fit_gmm(X: torch.Tensor, init: GMM, n_iter: int, reg_covar: float = 0.0, **kw) -> EMResult:
    """EM for a Gaussian mixture from ``init``; see ``em`` for what comes back."""
    return em(X, init, n_iter, log_joint, lambda X, r: m_step(X, r, reg_covar), **kw)


def sample_gmm(
    weights: torch.Tensor,
    means: torch.Tensor,
    covs: torch.Tensor,
    n: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n`` draws of a Gaussian mixture: ``k ~ weights``, then ``mu_k + L_k eps``; (n, D)."""
    k = torch.multinomial(weights, n, replacement=True, generator=generator)
    eps = torch.randn(n, means.shape[1], 1, generator=generator, dtype=means.dtype)
    return means[k] + (torch.linalg.cholesky(covs)[k] @ eps.to(means.device)).squeeze(-1)


def em_fit(X: torch.Tensor, init: GMM, tol: float, max_iter: int) -> tuple[GMM, list[float]]:
    """EM for a Gaussian mixture until an iteration gains less than ``tol`` (lecture 01).

    Returns the final parameters and the mean log-likelihood from ``init`` on, one value
    per iteration: ``fit_gmm(X, init, max_iter, tol=tol)`` in the exercise's terms.
    """
    run = fit_gmm(X, init, max_iter, tol=tol)
    return run.final, run.log_likelihood


# --------------------------------------------------------------------------- Bernoulli mixture


class BernoulliMixture(NamedTuple):
    """Parameters of a mixture of Bernoullis: ``weights`` (K,), pixel ``probs`` (K, D)."""

    weights: torch.Tensor
    probs: torch.Tensor


def _seen(X: torch.Tensor, observed: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(on, off)``, (N, D) each: 1 where a pixel was seen on (off), 0 elsewhere, and 0 at
    a pixel not seen whatever ``X`` holds there; ``observed`` (N, D) is 1 (or True) where seen,
    ``None`` when every pixel was."""
    if observed is None:
        return X, 1 - X
    if observed.shape != X.shape:
        raise ValueError(
            f"observed must have X's shape {tuple(X.shape)} (1 where a pixel was seen), got "
            f"{tuple(observed.shape)}"
        )
    seen = observed.to(device=X.device, dtype=torch.bool)
    on = torch.where(seen, X, 0.0)
    return on, seen.to(X.dtype) - on


def bernoulli_log_joint(
    X: torch.Tensor, weights, probs, observed: torch.Tensor | None = None
) -> torch.Tensor:
    """``log p(x_n, z=k) = log pi_k + sum_d [x_nd log p_kd + (1 - x_nd) log(1 - p_kd)]``, (N, K).

    With ``observed`` (N, D), 1 where a pixel was seen, the sum runs over the pixels seen:
    a pixel not seen is summed out (its two values' probabilities add to 1), so this is
    ``log p(x_n,seen, z=k)`` and the values ``X`` holds there never matter.
    """
    if X.dim() != 2 or probs.dim() != 2 or X.shape[1] != probs.shape[1]:
        raise ValueError(
            "bernoulli_log_joint: X must be (N, D) and probs (K, D), got "
            f"{tuple(X.shape)}, {tuple(probs.shape)} (flatten images first)"
        )
    on, off = _seen(X, observed)  # (N, D) each
    # A pixel probability of exactly 0 or 1 (possible when alpha = 0) would give 0 * log 0
    # = NaN in the matrix product: take 0 log 0 = 0, and -inf where x is impossible.
    log_p = torch.where(probs > 0, probs.log(), 0.0)  # (K, D)
    log_1mp = torch.where(probs < 1, torch.log1p(-probs), 0.0)  # (K, D)
    lj = weights.log()[None, :] + on @ log_p.T + off @ log_1mp.T  # (N, K)
    impossible = on @ (probs == 0).to(X).T + off @ (probs == 1).to(X).T  # (N, K)
    return lj.masked_fill(impossible > 0, float("-inf"))


def bernoulli_m_step(
    X: torch.Tensor, r: torch.Tensor, alpha: float = 1.0, observed: torch.Tensor | None = None
) -> BernoulliMixture:
    """M-step of the Bernoulli mixture, with ``alpha`` pseudo-counts on each pixel.

    ``pi_k = N_k / N``;  ``p_kd = (sum_n r_nk x_nd + alpha) / (N_k + 2 alpha)``.
    ``alpha > 0`` (a Beta(1 + alpha, 1 + alpha) prior) keeps every ``p_kd`` off 0 and 1, so
    a test digit with one unusual pixel does not get probability 0. EM then climbs
    ``log p(X) + log p(probs)`` (MAP-EM) rather than the plain likelihood.

    With ``observed`` (N, D), 1 where a pixel was seen, both sums over ``n`` run over the
    images that show pixel ``d``: ``p_kd = (sum_n r_nk m_nd x_nd + alpha) / (sum_n r_nk m_nd
    + 2 alpha)``, the maximiser of the expected log joint of what was seen.
    """
    N_k = r.sum(0)  # (K,)
    on, off = _seen(X, observed)  # (N, D) each
    seen_k = N_k[:, None] if observed is None else r.T @ (on + off)  # (K, D)
    probs = (r.T @ on + alpha) / (seen_k + 2 * alpha)  # (K, D)
    probs = probs.clamp(0, 1)  # round-off can push an average of 0s and 1s past 1
    return BernoulliMixture(N_k / X.shape[0], probs)


def init_bernoulli_mixture(
    X: torch.Tensor, K: int, generator: torch.Generator | None = None
) -> BernoulliMixture:
    """Start each component halfway between a random data point and the mean image."""
    idx = torch.randperm(X.shape[0], generator=generator)[:K].to(X.device)
    probs = (0.5 * X[idx] + 0.5 * X.mean(0, keepdim=True)).clamp(0.05, 0.95)  # (K, D)
    weights = torch.full((K,), 1.0 / K, dtype=X.dtype, device=X.device)
    return BernoulliMixture(weights, probs)


def fit_bernoulli_mixture(
    X: torch.Tensor, init: BernoulliMixture, n_iter: int, alpha: float = 1.0, **kw
) -> EMResult:
    """EM for a mixture of Bernoullis on flattened binary images ``X`` (N, D)."""
    return em(
        X, init, n_iter, bernoulli_log_joint, lambda X, r: bernoulli_m_step(X, r, alpha), **kw
    )


def bernoulli_log_posterior(
    X: torch.Tensor, weights, probs, alpha: float = 1.0, observed: torch.Tensor | None = None
) -> float:
    """What MAP-EM climbs, per digit: ``(sum_n log p(x_n) + alpha sum_kd [log p_kd +
    log(1 - p_kd)]) / N``, the log-likelihood plus the Beta(1 + alpha, 1 + alpha) prior's log
    density (without its normaliser), divided by the number of digits. With ``observed``,
    ``log p(x_n)`` is that of the pixels seen."""
    log_prior = alpha * (probs.log() + torch.log1p(-probs)).sum() if alpha else 0.0
    log_lik = torch.logsumexp(bernoulli_log_joint(X, weights, probs, observed), dim=1).sum()
    return float((log_lik + log_prior) / X.shape[0])


def bernoulli_complete(
    X: torch.Tensor, weights, probs, observed: torch.Tensor | None = None
) -> torch.Tensor:
    """``X`` with each pixel not seen replaced by its probability of being on given the pixels
    seen, ``p(x_nd = 1 | x_n,seen) = sum_k p(z = k | x_n,seen) p_kd``; (N, D)."""
    if observed is None:
        return X.clone()
    r = torch.softmax(bernoulli_log_joint(X, weights, probs, observed), dim=1)  # (N, K)
    return torch.where(observed.to(device=X.device, dtype=torch.bool), X, r @ probs)


def bernoulli_em(
    X: torch.Tensor,
    K: int,
    alpha: float = 1.0,
    tol: float = 1e-4,
    max_iter: int = 100,
    n_starts: int = 3,
    observed: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[float], torch.Tensor]:
    """MAP-EM for a mixture of ``K`` Bernoullis from ``n_starts`` starts, on images with
    pixels missing; the best start's ``(weights, probs, history, completed)`` (lecture 01's
    build assignment, in the library's form).

    ``observed`` (N, D) is 1 where a pixel was seen (``None``: all were); the values ``X``
    holds elsewhere never matter. Each start puts the ``K`` prototypes halfway between
    k-means++ seeds (``kmeans_pp_means`` on the images with each missing pixel set to that
    pixel's mean where seen) and that mean image, with equal weights. EM then alternates the
    E-step (responsibilities from ``bernoulli_log_joint`` of the pixels seen) and the M-step
    with ``alpha`` pseudo-counts, and stops after the first iteration that raises the
    objective ``bernoulli_log_posterior`` by less than ``tol``, or after ``max_iter``
    iterations. ``history`` is that objective at the start and after each iteration
    (non-decreasing: MAP-EM never goes downhill); the start kept is the one whose objective
    ended highest (EM finds a local optimum from each). ``completed`` is
    ``bernoulli_complete`` at the parameters returned.
    """
    for name, value, least in (("K", K, 1), ("max_iter", max_iter, 0), ("n_starts", n_starts, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"bernoulli_em: {name} must be an int >= {least}, got {value!r}")
    if not alpha > 0:
        raise ValueError(f"bernoulli_em: alpha must be > 0 (pseudo-counts), got {alpha!r}")
    on, off = _seen(X, observed)  # (N, D) each
    mean = on.sum(0) / (on + off).sum(0).clamp(min=1)  # (D,): each pixel's mean where seen
    filled = X if observed is None else torch.where(on + off > 0, X, mean)  # for the start only
    best = None
    for _ in range(n_starts):
        seeds = kmeans_pp_means(filled, K, generator)  # (K, D)
        probs = (0.5 * seeds + 0.5 * mean).clamp(0.05, 0.95)
        weights = torch.full((K,), 1.0 / K, dtype=X.dtype, device=X.device)
        history = [bernoulli_log_posterior(X, weights, probs, alpha, observed)]
        for _ in range(max_iter):
            log_joint = bernoulli_log_joint(X, weights, probs, observed)  # (N, K)
            r = torch.softmax(log_joint, dim=1)  # E-step
            weights, probs = bernoulli_m_step(X, r, alpha, observed)  # M-step
            history.append(bernoulli_log_posterior(X, weights, probs, alpha, observed))
            if history[-1] - history[-2] < tol:
                break
        if best is None or history[-1] > best[2][-1]:
            best = (weights, probs, history)
    return (*best, bernoulli_complete(X, best[0], best[1], observed))


def sample_bernoulli_mixture(
    n: int, weights: torch.Tensor, probs: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Ancestral sampling: ``z ~ Categorical(pi)``, then ``x_d ~ Bernoulli(p_zd)``; (n, D)."""
    z = torch.multinomial(weights.cpu(), n, replacement=True, generator=generator)
    return torch.bernoulli(probs.cpu()[z], generator=generator).to(probs.device)
