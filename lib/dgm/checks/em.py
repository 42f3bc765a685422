"""Checks of lecture 01 (EM): the E-step, the M-steps, the ELBO and the EM loop of a mixture."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import config, em
from .harness import (
    Build,
    Exact,
    Judging,
    Property,
    StudentError,
    exercise,
    generator,
    measured,
    outputs,
    seeded,
)


def _random_gmm(g: torch.Generator, N: int, D: int, K: int, spread: float = 3.0):
    X = spread * torch.randn(N, D, generator=g, dtype=torch.float64)
    weights = torch.softmax(torch.randn(K, generator=g, dtype=torch.float64), 0)
    means = spread * torch.randn(K, D, generator=g, dtype=torch.float64)
    A = torch.randn(K, D, D, generator=g, dtype=torch.float64)
    covs = A @ A.transpose(1, 2) + 0.5 * torch.eye(D, dtype=torch.float64)
    return X, weights, means, covs


def _em_cases(seed: int = 0):
    g = generator(seed)
    cases = [
        ("N=50 points in D=2, K=3 components", _random_gmm(g, 50, 2, 3)),
        ("N=7 points in D=1, K=1 component", _random_gmm(g, 7, 1, 1)),
        ("N=40 points in D=3, K=5 components", _random_gmm(g, 40, 3, 5)),
    ]
    X, w, mu, cov = _random_gmm(g, 20, 2, 4)
    X[0] = 500.0  # a point far from every component: its densities underflow to 0
    cases.append(("D=2, K=4, with a point far from every component", (X, w, mu, cov)))
    return cases


def _rows_not_normalised(args, out, ref) -> str | None:
    if torch.is_tensor(out) and out.shape == ref.shape and torch.isfinite(out).all():
        if not torch.allclose(out.sum(1), torch.ones_like(out.sum(1)), atol=1e-6):
            return (
                "each row r[n] is a distribution over the K components: divide "
                "pi_k N(x_n | mu_k, Sigma_k) by its sum over k (normalise over dim=1)."
            )
    return None


def _underflow(args, out, ref) -> str | None:
    if torch.is_tensor(out) and not torch.isfinite(out).all():
        return (
            "far from every component, all densities underflow to 0 and 0/0 = NaN. Work "
            "in log space: log pi_k + log N(x_n | ...), then torch.softmax over k."
        )
    return None


@exercise(em.responsibilities)
def responsibilities(fn: Callable) -> Judging:
    """Check ``fn(X, weights, means, covs) -> r`` (N, K), the E-step of a Gaussian mixture."""
    cases = [(d, args) for d, args in _em_cases(1)]
    return Judging(
        cases,
        Exact(["r"]),
        diagnoses=[_underflow, _rows_not_normalised],
        hint="r_nk = pi_k N(x_n | mu_k, Sigma_k) / sum_j pi_j N(x_n | mu_j, Sigma_j); "
        "dgm.densities.mvn_log_prob(X, means, covs) gives log N as an (N, K) tensor.",
    )


def _m_step_cases():
    cases = []
    for description, (X, w, mu, cov) in _em_cases(2):
        r = em.responsibilities(X, w, mu, cov)
        cases.append((f"{description}, soft responsibilities, reg_covar=0", (X, r, 0.0)))
    g = generator(3)
    X = torch.randn(30, 2, generator=g, dtype=torch.float64)
    hard = torch.nn.functional.one_hot(torch.arange(30) % 3, 3).to(X)
    cases.append(("hard (one-hot) responsibilities, reg_covar=0", (X, hard, 0.0)))
    cases.append(("soft responsibilities, reg_covar=0.1", (X, torch.softmax(X @ X[:3].T, 1), 0.1)))
    return cases


def _m_step_which(args, out, ref) -> str | None:
    X, r, reg = args
    outs = outputs(out)
    if len(outs) != 3 or any(not torch.is_tensor(o) for o in outs):
        return "return three tensors: (weights, means, covs)."
    w, mu, cov = (o.detach().to(X) for o in outs)
    N_k = r.sum(0)
    if w.shape == ref.weights.shape and not torch.allclose(w, ref.weights, atol=1e-6):
        if torch.allclose(w, N_k, atol=1e-6):
            return "weights: pi_k = N_k / N, the share of the data each component explains."
        return "weights: pi_k = N_k / N with N_k = sum_n r_nk."
    if mu.shape == ref.means.shape and not torch.allclose(mu, ref.means, atol=1e-6):
        if torch.allclose(mu, r.T @ X, atol=1e-6):
            return "means: divide sum_n r_nk x_n by N_k (a weighted average, not a sum)."
        return "means: mu_k = sum_n r_nk x_n / N_k, i.e. (r.T @ X) / N_k[:, None]."
    if cov.shape == ref.covs.shape and not torch.allclose(cov, ref.covs, atol=1e-6):
        eye = torch.eye(X.shape[1], dtype=X.dtype)
        if reg > 0 and torch.allclose(cov + reg * eye, ref.covs, atol=1e-6):
            return "covs: add the floor reg_covar * I to every covariance."
        if torch.allclose(cov * X.shape[0] / N_k[:, None, None], ref.covs, atol=1e-6):
            return "covs: divide by N_k, the component's effective count, not by N."
        return (
            "covs: Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg_covar I, "
            "with the NEW means mu_k."
        )
    return None


@exercise(em.m_step)
def m_step(fn: Callable) -> Judging:
    """Check ``fn(X, r, reg_covar) -> (weights, means, covs)``, the Gaussian-mixture M-step."""
    return Judging(_m_step_cases(), Exact(["weights", "means", "covs"]), diagnoses=[_m_step_which])


def _elbo_cases():
    cases = []
    for description, (X, w, mu, cov) in _em_cases(4):
        g = generator(len(cases))
        r = torch.softmax(torch.randn(X.shape[0], w.shape[0], generator=g, dtype=X.dtype), 1)
        cases.append((f"{description}, random q", (X, r, w, mu, cov)))
    X, w, mu, cov = _em_cases(5)[0][1]
    cases.append(
        (
            "q = the exact posterior (ELBO = log p(x))",
            (X, em.responsibilities(X, w, mu, cov), w, mu, cov),
        )
    )
    hard = torch.nn.functional.one_hot(torch.arange(X.shape[0]) % 3, 3).to(X)
    cases.append(("hard (one-hot) q, where 0 log 0 = 0", (X, hard, w, mu, cov)))
    return cases


def _elbo_diagnoses(args, out, ref) -> str | None:
    X, r, w, mu, cov = args
    if not torch.is_tensor(out):
        return None
    if out.dim() == 0:
        return "return one ELBO per data point, shape (N,); the caller takes the mean."
    if out.shape != ref.shape:
        return None
    out = out.detach().to(X)
    if not torch.isfinite(out).all():
        return "r log r is NaN where r = 0; use torch.xlogy(r, r), which treats 0 log 0 as 0."
    lj = em.log_joint(X, w, mu, cov)
    if torch.allclose(out, (r * lj).sum(1), atol=1e-6):
        return "you left out the entropy of q: ELBO = sum_k r_nk (log p(x_n, k) - log r_nk)."
    if torch.allclose(out, -ref, atol=1e-6):
        return "wrong sign: the ELBO is a lower bound on log p(x), not its negative."
    return "ELBO_n = sum_k r_nk [log pi_k + log N(x_n | mu_k, Sigma_k) - log r_nk]."


@exercise(em.elbo)
def elbo(fn: Callable) -> Judging:
    """Check ``fn(X, r, weights, means, covs) -> (N,)``, the per-point ELBO of a mixture."""
    return Judging(_elbo_cases(), Exact(["elbo"]), diagnoses=[_elbo_diagnoses])


def _bernoulli_cases():
    cases = []
    g = generator(6)
    for N, D, K in ((40, 16, 3), (10, 784, 5), (5, 4, 1)):
        X = torch.bernoulli(torch.full((N, D), 0.3, dtype=torch.float64), generator=g)
        r = torch.softmax(torch.randn(N, K, generator=g, dtype=torch.float64), 1)
        cases.append((f"N={N} images of D={D} pixels, K={K}, alpha=1", (X, r, 1.0)))
    X, r, _ = cases[0][1]
    cases.append(("alpha=0 (plain maximum likelihood)", (X, r, 0.0)))
    return cases


def _bernoulli_diagnoses(args, out, ref) -> str | None:
    X, r, alpha = args
    outs = outputs(out)
    if len(outs) != 2:
        return "return two tensors: (weights, probs)."
    w, p = (o.detach().to(X) for o in outs)
    N_k = r.sum(0)
    if p.shape == ref.probs.shape and not torch.allclose(p, ref.probs, atol=1e-6):
        if torch.allclose(p, (r.T @ X) / N_k[:, None], atol=1e-6) and alpha > 0:
            return "probs: add the pseudo-counts: (sum_n r_nk x_nd + alpha) / (N_k + 2 alpha)."
        if torch.allclose(p, r.T @ X, atol=1e-6):
            return "probs: divide by N_k + 2 alpha; a probability is a weighted average."
        return "probs: p_kd = (sum_n r_nk x_nd + alpha) / (N_k + 2 alpha)."
    return None


@exercise(em.bernoulli_m_step)
def bernoulli_m_step(fn: Callable) -> Judging:
    """Check ``fn(X, r, alpha) -> (weights, probs)``, the Bernoulli-mixture M-step."""
    return Judging(
        _bernoulli_cases(),
        Exact(["weights", "probs"]),
        diagnoses=[_bernoulli_diagnoses],
        hint="pi_k = N_k / N.",
    )


def _fit_cases():
    g = generator(11)
    cases = []
    for N, D, K, tol, max_iter in (
        (80, 2, 3, 1e-6, 200),
        (40, 1, 2, 1e-3, 200),
        (60, 2, 2, 1e-9, 4),
    ):
        for _ in range(20):  # a draw where EM collapses a component is no test: draw again
            centres = 4 * torch.randn(K, D, generator=g, dtype=torch.float64)
            X = centres[torch.arange(N) % K]
            X = X + torch.randn(N, D, generator=g, dtype=torch.float64)
            init = em.gmm_with_data_covariance(X, X[torch.randperm(N, generator=g)[:K]])
            try:
                em.fit_gmm(X, init, max_iter, tol=tol)
                break
            except ValueError:
                continue
        stop = "stops at max_iter" if max_iter < 10 else f"tol={tol:g}"
        cases.append((f"N={N} points in D={D}, K={K}, {stop}", (X, init, tol, max_iter)))
    return cases


def _fit_reference(X, init, tol, max_iter):
    run = em.fit_gmm(X, init, max_iter, tol=tol)
    return (*run.final, torch.tensor(run.log_likelihood, dtype=torch.float64))


def _as_outputs(fn: Callable) -> Callable:
    """``(params, history)`` -> ``(weights, means, covs, history as a tensor)``."""

    def wrapped(*args):
        out = fn(*args)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return out
        params, history = out
        if not isinstance(params, (tuple, list)) or len(params) != 3:
            return out
        return (*params, torch.as_tensor(history, dtype=torch.float64))

    return wrapped


def _fit_diagnoses(args, out, ref) -> str | None:
    X, init, tol, max_iter = args
    outs, refs = outputs(out), outputs(ref)
    if len(outs) != 4:
        return "return (params, history): params the final (weights, means, covs), history a list."
    history, expected = outs[3], refs[3]
    if len(history) and abs(history[0].item() - len(X) * expected[0].item()) < 1e-6 * len(X):
        return "record the MEAN log-likelihood per point, not the sum over points."
    if history.shape[0] == expected.shape[0] - 1:
        return "history starts with the mean log-likelihood of init, before any iteration."
    if history.shape[0] == max_iter + 1 and expected.shape[0] < max_iter + 1:
        return (
            f"stop as soon as one iteration raises the mean log-likelihood by less than tol "
            f"(here tol={tol:g}); keep that last value."
        )
    if history.shape[0] > expected.shape[0]:
        return "you stopped late: compare each new value with the one before it."
    return (
        "per iteration: r = your responsibilities(X, *params), then params = your "
        "m_step(X, r), then append the mean of em.log_likelihood(X, *params)."
    )


@exercise(em.em_fit)
def em_fit(fn: Callable) -> Judging:
    """Check ``fn(X, init, tol, max_iter) -> (params, history)``: EM until it converges."""
    return Judging(
        _fit_cases(),
        Exact(["weights", "means", "covs", "history"], rtol=1e-6, atol=1e-8),
        diagnoses=[_fit_diagnoses],
        student=_as_outputs(fn),
        reference=_fit_reference,
    )


# --------------------------------------------------------------------------- bernoulli_em (build)

# the thresholds, calibrated by ``python -m benchmarks.assignments`` (the reference build on 20
# hidden variants and every recorded wrong build: benchmarks/results/assignments.json)
CONVERGED_TOL = 2.0  # one more EM iteration may gain at most this many times tol
EXCESS_TOL = 1.0  # nats per test digit above the true mixture's NLL
SEEDS_TV_TOL = 0.1  # total variation between the starts' seeds and k-means++'s exact law
SEED_RUNS = 1500  # starts drawn to estimate the seeds' law
COMPLETION_TOL = 1e-6  # the completed pixels against p(x = 1 | the pixels seen)
MISSING_SHARE = 0.3  # of the pixels, missing at random in the images with pixels missing


# two sets of four 16-pixel images, by the pixels each sets to 1: squared distances (1, 4, 12, 3,
# 13, 16) and (6, 1, 7, 5, 3, 6). k-means++'s law over ordered seed triples is, on one or the
# other, at least 0.15 in total variation from each plausible wrong law: uniform (0.71),
# the distance (0.17 / 0.15), the first seed only (0.53 with repeats; 0.21 without them on the
# second), the sum of the squared distances (0.16 on the second)
SEEDING_SETS = (
    ((), (0,), (0, 1, 2, 3), tuple(range(4, 16))),
    ((), (0, 1, 2, 3, 4, 5), (0,), (0, 1, 2, 3, 4, 6, 7)),
)


def _seeding_points(g: torch.Generator, which: int) -> torch.Tensor:
    """The images of ``SEEDING_SETS[which]``. Hidden variants permute the pixels, flip a hidden
    set of them (which keeps every distance) and shuffle the images."""
    X = torch.zeros(4, 16, dtype=torch.float64)
    for row, ones in enumerate(SEEDING_SETS[which]):
        X[row, list(ones)] = 1
    flip = torch.rand(16, generator=g) < 0.5
    X = (X + flip.double()) % 2
    return X[torch.randperm(4, generator=g)][:, torch.randperm(16, generator=g)]


def _law(X: torch.Tensor, K: int, weight) -> dict[tuple[int, ...], float]:
    """The law over ordered K-tuples of rows of ``X`` of a seeding that draws the first row
    uniformly and each next one with probability proportional to ``weight(d2, seeds)`` (N,),
    ``d2`` the matrix of squared distances."""
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    law: dict[tuple[int, ...], float] = {}

    def grow(seq, p):
        if len(seq) == K:
            law[tuple(seq)] = law.get(tuple(seq), 0.0) + p
            return
        w = weight(d2, seq)
        for j in range(len(X)):
            if w[j] > 0:
                grow(seq + [j], p * (w[j] / w.sum()).item())

    for i in range(len(X)):
        grow([i], 1 / len(X))
    return law


def _chosen(d2, seq):
    mask = torch.ones(len(d2), dtype=d2.dtype)
    mask[seq] = 0
    return mask


# plausible wrong seedings, named as a hint says them
WRONG_SEEDINGS = {
    "uniformly among the images not yet chosen": lambda d2, seq: _chosen(d2, seq),
    "by the distance, not its square": lambda d2, seq: d2[seq].min(0).values.sqrt(),
    "by the squared distance to the first seed only": lambda d2, seq: d2[seq[0]] * _chosen(d2, seq),
    "by the sum of the squared distances to the seeds": lambda d2, seq: (
        d2[seq].sum(0) * _chosen(d2, seq)
    ),
}


def seeding_law(X: torch.Tensor, K: int) -> dict[tuple[int, ...], float]:
    """k-means++'s exact law over ordered K-tuples of seeds (row indices of ``X``): the first
    uniform, each next with probability proportional to its squared distance to the nearest
    seed chosen so far."""
    return _law(X, K, lambda d2, seq: d2[seq].min(0).values)


def _tv(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in {*a, *b})


def _bernoulli_data(g: torch.Generator, K: int, D: int, ranked: bool = False):
    """N binary images of D pixels from a hidden mixture of K Bernoulli prototypes with
    unequal weights; returns the data and the true ``(weights, probs)``. ``ranked``: the
    weights 1, 2, ..., K (normalised) in a random order, never close to equal (a fit that
    never updates its weights from equal ones is then far from EM's fixed point)."""
    d = torch.float64
    probs = torch.sigmoid(2.5 * torch.randn(K, D, generator=g, dtype=d))
    weights = 0.5 + torch.rand(K, generator=g, dtype=d)
    if ranked:
        weights = 1.0 + weights.argsort().argsort().to(d)
    weights = weights / weights.sum()

    def draw(n):
        k = torch.multinomial(weights, n, replacement=True, generator=g)
        return torch.bernoulli(probs[k], generator=g)

    return draw, (weights, probs)


def _missing(g: torch.Generator, X: torch.Tensor, share: float, unseen: int = 0, sparse: int = 0):
    """``X`` with a hidden ``share`` of its pixels missing at random, ``unseen`` hidden pixels
    missing in every image, and ``sparse`` hidden images keeping about 3% of the pixels they
    showed (one of them, and any other that keeps none, showing none): ``(X_a, X_b,
    observed)``, two copies that differ only at the pixels missing (random bits in one, their
    flips in the other; a build must never read them)."""
    observed = (torch.rand(X.shape, generator=g, dtype=torch.float64) >= share).to(X.dtype)
    observed[:, torch.randperm(X.shape[1], generator=g)[:unseen]] = 0
    if sparse:  # images showing few pixels, whose component stays uncertain, and one none
        rows = torch.randperm(len(X), generator=g)[:sparse]
        observed[rows] *= (torch.rand(sparse, X.shape[1], generator=g) < 0.03).to(X.dtype)
        observed[rows[0]] = 0
    noise = torch.bernoulli(torch.full(X.shape, 0.5, dtype=X.dtype), generator=g)
    X_a = torch.where(observed > 0, X, noise)
    return X_a, torch.where(observed > 0, X, 1 - noise), observed


def _fitted(out, K: int, D: int, max_iter: int, N: int):
    """``(weights, probs, history, completed)`` as tensors and a list, or the problem with
    them."""
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        return "return four things: (weights, probs, history, completed)."
    weights, probs, history, completed = out
    if not torch.is_tensor(weights) or tuple(weights.shape) != (K,):
        return f"weights: the mixing weights, shape {(K,)}."
    if not torch.is_tensor(probs) or tuple(probs.shape) != (K, D):
        return f"probs: the pixel probabilities of each component, shape {(K, D)}."
    if not torch.is_tensor(completed) or tuple(completed.shape) != (N, D):
        return f"completed: the images with their missing pixels filled in, shape {(N, D)}."
    try:
        history = [float(h) for h in history]
    except (TypeError, ValueError, RuntimeError):
        return "history: a list of numbers, the objective at the start and after each iteration."
    weights, probs = weights.detach().double(), probs.detach().double()
    if not ((probs > 0) & (probs < 1)).all():
        return (
            "probs: every pixel probability must lie strictly between 0 and 1; with alpha "
            "pseudo-counts in the M-step none reaches 0 or 1 (a pixel no image shows gets "
            "alpha / (2 alpha) = 1/2)."
        )
    if (
        not (torch.isfinite(weights).all() and (weights >= 0).all())
        or abs(weights.sum().item() - 1) > 1e-6
    ):
        return "weights: the mixing weights must be non-negative and sum to 1 (pi_k = N_k / N)."
    if not all(h == h and abs(h) != float("inf") for h in history):
        return (
            "history: NaN or inf in the objective. Sum the components' probabilities in log "
            "space (torch.logsumexp): the probability of a whole image underflows to 0."
        )
    if not 2 <= len(history) <= max_iter + 1:
        return (
            f"history: {len(history)} values; it holds the objective at the start and after "
            f"each iteration, so between 2 and max_iter + 1 = {max_iter + 1}."
        )
    return weights, probs, history, completed.detach().double()


def _em_step(X, weights, probs, alpha, observed=None):
    """One EM iteration, the missing pixels summed out of the model."""
    r = torch.softmax(em.bernoulli_log_joint(X, weights, probs, observed), dim=1)  # (N, K)
    return em.bernoulli_m_step(X, r, alpha, observed)


def _seeds_follow_kmeans_pp(run, args) -> str | None:
    """With no iteration and one start the build returns its start: prototypes halfway
    between K data points and the mean image, clipped, equal weights. Over many starts those
    data points follow k-means++'s law."""
    _, X, K, seed = args
    torch.manual_seed(seeded(seed))
    m = X.mean(0, keepdim=True)
    starts = (0.5 * X + 0.5 * m).clamp(0.05, 0.95)  # (N, D): each point's prototype
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(SEED_RUNS):
        try:
            out = run(X, K, 1.0, 1e-3, 0, 1, None)
        except StudentError as err:
            return (
                f"with max_iter = 0 your function {err.result.details.split(chr(10))[0]}: with "
                f"no iteration it must return its start (the equal weights, the prototypes, "
                f"history = [J at the start], the images)."
            )
        if not isinstance(out, (tuple, list)) or len(out) != 4:
            return "return four things: (weights, probs, history, completed)."
        weights, probs = out[0], out[1]
        if not torch.is_tensor(probs) or tuple(probs.shape) != (K, X.shape[1]):
            return f"probs: the pixel probabilities of each component, shape {(K, X.shape[1])}."
        if not torch.is_tensor(weights) or not torch.allclose(
            weights.detach().double().cpu(), torch.full((K,), 1 / K, dtype=torch.float64)
        ):
            return "with max_iter = 0 the weights you return must be the start's, all 1/K."
        gap = torch.cdist(probs.detach().double().cpu(), starts)  # (K, N)
        nearest = gap.argmin(1)
        if (gap.min(1).values > 1e-6).any():
            return (
                "with max_iter = 0 you return the start, and its prototypes are not halfway "
                "between data points and the mean image: each prototype is (0.5 * seed + 0.5 "
                "* X.mean(0)).clamp(0.05, 0.95), its seed a data point (a row of X)."
            )
        key = tuple(nearest.tolist())
        counts[key] = counts.get(key, 0) + 1
    law = seeding_law(X, K)
    freq = {k: c / SEED_RUNS for k, c in counts.items()}
    tv = _tv(freq, law)
    measured(seeds_tv=tv)
    if tv <= SEEDS_TV_TOL:
        return None
    said = (
        f"over {SEED_RUNS} starts (max_iter = 0, one start) on 4 images, your seeds' law is "
        f"{tv:.2f} in total variation from k-means++'s (allowed {SEEDS_TV_TOL})"
    )
    if len(counts) == 1:
        return (
            f"{said}: every start chose the same seeds {next(iter(counts))}. Do not seed the "
            f"random numbers inside your function (torch.manual_seed, a fixed Generator)."
        )
    if any(len(set(k)) < K for k in counts):
        return (
            f"{said}, and some starts picked the same image twice: a seed's squared distance to "
            f"the NEAREST seed chosen so far is 0 (itself), so k-means++ never picks it again. "
            f"Draw the first seed uniformly, each next with probability proportional to that "
            f"d2 (torch.multinomial), and update d2 with torch.minimum after each pick."
        )
    name, gap = min(
        ((name, _tv(freq, _law(X, K, w))) for name, w in WRONG_SEEDINGS.items()),
        key=lambda t: t[1],
    )
    like = f", closer to seeding {name} ({gap:.2f})" if gap < tv else ""
    return (
        f"{said}{like}. The first seed uniformly at random; each next one with probability "
        f"proportional to its squared distance to the NEAREST seed chosen so far (keep d2 = "
        f"torch.minimum(d2, the new seed's squared distances))."
    )


def _same_fit(a, b) -> bool:
    """Two fits equal to rounding: tensors and history."""
    if len(a[2]) != len(b[2]) or any(
        abs(x - y) > 1e-9 * max(1.0, abs(x)) for x, y in zip(a[2], b[2])
    ):
        return False
    return all(
        torch.allclose(x, y, rtol=0, atol=1e-9) for x, y in zip(a[:2] + a[3:], b[:2] + b[3:])
    )


def _runs_em(run, args) -> str | None:
    """The history climbs, ends at the objective of what is returned, stops by the rule,
    what is returned is an EM fixed point (one more iteration gains little), and the images
    are completed from it; with pixels missing, their values in ``X`` never matter."""
    if args[0] == "seeds":
        return _seeds_follow_kmeans_pp(run, args)
    X, X_flipped, observed, K, alpha, tol, max_iter, n_starts, seed = args
    N, D = X.shape
    config.seed(seeded(seed))  # torch, numpy and random
    found = _fitted(run(X, K, alpha, tol, max_iter, n_starts, observed), K, D, max_iter, N)
    if isinstance(found, str):
        return found
    weights, probs, history, completed = found
    gains = [b - a for a, b in zip(history, history[1:])]
    if min(gains) < -1e-9 * max(1.0, abs(history[-1])):
        i = min(range(len(gains)), key=gains.__getitem__)
        return (
            f"history: the objective fell at iteration {i + 1} (by {-gains[i]:.3g}). MAP-EM "
            f"never lowers log p(X) + log p(probs): check the E-step (softmax over k of the "
            f"log joint of the pixels seen), the M-step (p_kd = (sum_n r_nk m_nd x_nd + alpha) / "
            f"(sum_n r_nk m_nd + 2 alpha), m_nd = 1 where pixel d of image n was seen) and that "
            f"history records that objective."
        )
    J = em.bernoulli_log_posterior(X, weights, probs, alpha, observed)
    if abs(history[-1] - J) > 1e-6 * max(1.0, abs(J)):
        plain = em.bernoulli_log_posterior(X, weights, probs, 0.0, observed)
        if abs(history[-1] - plain) <= 1e-6 * max(1.0, abs(plain)):
            return (
                f"history: the last value {history[-1]:.4f} is the mean log-likelihood; the "
                f"objective MAP-EM climbs adds the prior, alpha * sum_kd [log p_kd + log(1 - "
                f"p_kd)], divided by N: {J:.4f}."
            )
        said = (
            f"history: the last value {history[-1]:.4f} is not the objective at the parameters "
            f"you return ({J:.4f}): (sum_n log p(x_n) + alpha * sum_kd [log p_kd + "
            f"log(1 - p_kd)]) / N"
        )
        if observed is None:
            return said + "."
        return (
            f"{said}, with pixels missing, where log p(x_n) is that of the pixels seen: the "
            f"sum over d in the log joint runs over the pixels observed[n, d] = 1."
        )
    iterations = len(history) - 1
    if any(g < tol for g in gains[:-1]):
        return (
            f"the run went on after an iteration that gained less than tol = {tol:g}: stop "
            f"after the first such iteration."
        )
    if iterations < max_iter and gains[-1] >= tol:
        return (
            f"the run stopped after {iterations} iterations, though the last gained "
            f"{gains[-1]:.3g} >= tol = {tol:g}: go on until an iteration gains less than tol, "
            f"or max_iter iterations."
        )
    if iterations < max_iter and tol > 0:  # with tol 0 a stop means a gain of 0 or less
        w2, p2 = _em_step(X, weights, probs, alpha, observed)
        gain = em.bernoulli_log_posterior(X, w2, p2, alpha, observed) - J
        measured(next_gain_over_tol=gain / tol)
        if gain > CONVERGED_TOL * tol:
            return (
                f"one more EM iteration from the parameters you return raises the objective by "
                f"{gain:.3g}, more than {CONVERGED_TOL:g} x tol: they are not where EM "
                f"stops. Check the E-step (log pi_k + sum_d m_nd [x log p + (1 - x) log(1 - "
                f"p)], "
                f"softmax over k), the M-step (p_kd = (sum_n r_nk m_nd x_nd + alpha) / (sum_n "
                f"r_nk m_nd + 2 alpha), m_nd = 1 where pixel d of image n was seen) and that "
                f"both weights and probs are updated."
            )
    expected = em.bernoulli_complete(X, weights, probs, observed)
    wrong = (completed - expected).abs()
    if not wrong.max() <= COMPLETION_TOL:
        n, d = divmod(int(wrong.argmax()), D)
        seen = observed is None or observed[n, d] > 0
        return f"completed[{n}, {d}] is {completed[n, d]:.6f}, where " + (
            f"pixel {d} of image {n} was seen: keep it, {X[n, d]:g}."
            if seen
            else f"p(x = 1 | the pixels seen) = sum_k r_nk p_kd is {expected[n, d]:.6f}: "
            f"r_nk the posterior of image {n}'s component given its pixels seen, at the "
            f"parameters you return."
        )
    if observed is not None:
        config.seed(seeded(seed))  # torch, numpy and random
        again = _fitted(
            run(X_flipped, K, alpha, tol, max_iter, n_starts, observed), K, D, max_iter, N
        )
        if isinstance(again, str) or not _same_fit(found, again):
            return (
                "your fit changed when only the values X holds at the missing pixels changed "
                "(the same random numbers): a pixel with observed[n, d] = 0 was never seen, "
                "so nothing may read it. Use the pixels seen (observed * X) in the start, the "
                "E-step, the M-step and the objective."
            )
    return None


def _fits_held_out_digits(run, args) -> str | None:
    """On held-out images of the hidden mixture, the fit's NLL is near the truth's."""
    X, observed, X_test, truth, K, alpha, tol, max_iter, n_starts, seed = args
    torch.manual_seed(seeded(seed))
    found = _fitted(
        run(X, K, alpha, tol, max_iter, n_starts, observed), K, X.shape[1], max_iter, len(X)
    )
    if isinstance(found, str):
        return found
    weights, probs = found[:2]

    def nll(w, p):
        return -torch.logsumexp(em.bernoulli_log_joint(X_test.double(), w, p), 1).mean().item()

    mine, best = nll(weights, probs), nll(*truth)
    measured(excess_nll=mine - best)
    if mine - best <= EXCESS_TOL:
        return None
    return (
        f"on held-out images (every pixel seen) your mixture's NLL is {mine:.2f} nats per "
        f"image, the true mixture's {best:.2f}: {mine - best:.2f} more, where {EXCESS_TOL:g} "
        f"is allowed. A missing pixel counted as seen (as 0, or as anything else), a local "
        f"optimum (start from k-means++ seeds, keep the best of n_starts), or a slip in the "
        f"E-step or the M-step."
    )


@exercise(
    em.bernoulli_em,
    em.fit_bernoulli_mixture,
    em.em,
    em.kmeans_pp_means,
    em.bernoulli_complete,
    em.bernoulli_log_joint,
    em.bernoulli_m_step,
    em.bernoulli_log_posterior,
)
def bernoulli_em(fn: Callable) -> Build:
    """Check the build ``fn(X, K, alpha, tol, max_iter, n_starts, observed) -> (weights,
    probs, history, completed)``: MAP-EM for a mixture of Bernoullis on images with pixels
    missing, with restarts and a stopping rule, and the missing pixels filled in.

    Properties (half the points), on a hidden mixture of 3 prototypes of 100 pixels (weights
    1/6, 2/6 and 3/6 in a hidden order): the starts' seeds follow k-means++'s law (within
    ``SEEDS_TV_TOL`` in total variation over ``SEED_RUNS`` starts on each of two sets of
    four images); with every pixel seen, and with ``MISSING_SHARE`` of them missing (and a
    few missing in every image), the history never falls, ends at the objective of the
    parameters returned (of the pixels seen), obeys the stopping rule (and ``max_iter``),
    one more EM iteration from the result gains at most ``CONVERGED_TOL`` x tol, the images
    come back completed by ``p(x = 1 | the pixels seen)`` (within ``COMPLETION_TOL``), and the
    values ``X`` holds at the missing pixels change nothing. Outcome (the other half): fitted
    to 3,000 images of 400 pixels from a hidden mixture of 5 with ``MISSING_SHARE`` of their
    pixels missing, the NLL of 2,000 held-out whole images is within ``EXCESS_TOL`` nats per
    image of the true mixture's. The library's EM loops (``em.em``, ``fit_bernoulli_mixture``,
    ``bernoulli_em``), its k-means++ seeding, ``bernoulli_complete`` and its log joint,
    M-step and objective (which take ``observed``) are refused: the loop, the start, the E-
    and M-steps with pixels missing and the completion are the student's.
    """
    g = generator(41)
    draw_small, _ = _bernoulli_data(g, 3, 100, ranked=True)
    X = draw_small(600)
    X_a, X_b, seen = _missing(g, X, MISSING_SHARE, unseen=3, sparse=30)
    properties = [
        (
            "600 images of 100 pixels from a hidden mixture of 3, tol 1e-3, 2 starts",
            (X, X, None, 3, 1.0, 1e-3, 50, 2, 80),
        ),
        (
            "the same images, tol 0 and max_iter 3 (exactly 3 iterations)",
            (X, X, None, 3, 0.5, 0.0, 3, 1, 81),
        ),
        (
            f"the same images with {MISSING_SHARE:.0%} of their pixels missing at random and 3 "
            f"pixels missing in every image, tol 1e-3, 2 starts, run twice with other values "
            f"at the missing pixels",
            (X_a, X_b, seen, 3, 1.0, 1e-3, 50, 2, 85),
        ),
        (
            f"the start alone (max_iter 0, one start), {SEED_RUNS} times on 4 images, K = 3",
            ("seeds", _seeding_points(g, 0), 3, 83),
        ),
        (
            f"the start alone, {SEED_RUNS} times on 4 other images, K = 3",
            ("seeds", _seeding_points(g, 1), 3, 84),
        ),
    ]
    draw, truth = _bernoulli_data(g, 5, 400)
    f32 = torch.Tensor.float  # digits come in float32, where an image's probability underflows
    X_big, _, seen_big = _missing(g, draw(3000), MISSING_SHARE)
    outcome = [
        (
            f"3,000 images of 400 pixels from a hidden mixture of 5, {MISSING_SHARE:.0%} of "
            f"their pixels missing at random, tol 1e-5, 20 starts; 2,000 held-out whole images",
            (f32(X_big), f32(seen_big), f32(draw(2000)), truth, 5, 1.0, 1e-5, 50, 20, 82),
        )
    ]
    return Build(
        Judging(properties, [Property(_runs_em)]),
        Judging(outcome, [Property(_fits_held_out_digits)]),
    )
