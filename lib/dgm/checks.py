"""Self-checks for the exercises.

An exercise is a function the student writes; the cell after it calls its check::

    responsibilities = dgm.checks.responsibilities(responsibilities)

The check runs the student's function and the library's reference on several random
inputs (different shapes, and edge cases such as far-away points or hard assignments),
prints a clear pass, or a fail with a hint aimed at the likely mistake, and returns the
function the rest of the notebook should use: the student's own when it passes, else the
reference, saying so. So a notebook keeps working while an exercise is unsolved.

Grading: with ``DGM_GRADING=1`` (set by ``dgm.grade``, or by an instructor for nbgrader's
autograder) a failing or unsolved check raises ``CheckFailure``, an ``AssertionError``, so
the check cell is marked wrong.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import em

Diagnose = Callable[[tuple, object, object], "str | None"]


class CheckFailure(AssertionError):
    """A check failed in grading mode."""


@dataclass
class CheckResult:
    """Outcome of one check: ``passed``, whether the function was ``implemented``, a message."""

    name: str
    passed: bool
    implemented: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed


results: dict[str, CheckResult] = {}  # the latest result of each check, for ``summary()``


def _grading() -> bool:
    return os.environ.get("DGM_GRADING", "").strip().lower() in {"1", "true", "yes"}


def _tensors(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(out, ref, names: Sequence[str], rtol: float, atol: float) -> str | None:
    """``None`` if ``out`` matches ``ref``; else what differs, in words."""
    outs, refs = _tensors(out), _tensors(ref)
    if len(outs) != len(refs):
        return f"expected {len(refs)} outputs ({', '.join(names)}), got {len(outs)}"
    for name, o, r in zip(names, outs, refs):
        if not torch.is_tensor(o):
            return f"{name}: expected a tensor, got {type(o).__name__}"
        if tuple(o.shape) != tuple(r.shape):
            hint = " (transposed?)" if tuple(o.shape) == tuple(r.shape)[::-1] else ""
            return f"{name}: expected shape {tuple(r.shape)}, got {tuple(o.shape)}{hint}"
        o = o.detach().to(r.dtype)
        if not torch.isfinite(o).all() and torch.isfinite(r).all():
            return f"{name}: contains NaN or inf where the reference is finite"
        if not torch.allclose(o, r, rtol=rtol, atol=atol):
            err = (o - r).abs().max().item()
            return f"{name}: values differ from the reference (max abs error {err:.3g})"
    return None


def _attempt(name: str, fn: Callable, args: tuple, seed: int | None = None, where: str = ""):
    """Call the student's ``fn(*args)``: ``(output, None)``, or ``(None, failure)`` when it is
    unsolved (``NotImplementedError``) or raises. ``seed`` fixes torch's RNG first."""
    if seed is not None:
        torch.manual_seed(seed)
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, CheckResult(name, False, False, f"{name}: not implemented yet.")
    except Exception as err:  # the student's bug, reported rather than raised
        case = f"\n  on the test case: {where}" if where else ""
        return None, CheckResult(
            name, False, True, f"{name}: raised {type(err).__name__}: {err}{case}"
        )


def _record(result: CheckResult, quiet: bool = False) -> CheckResult:
    """Keep ``result`` for ``summary()`` and print it."""
    results[result.name] = result
    if not quiet:
        print(("PASS  " if result.passed else "FAIL  ") + result.message)
    return result


def run_check(
    name: str,
    student: Callable,
    reference: Callable,
    cases: Sequence[tuple[str, tuple]],
    output_names: Sequence[str] = ("output",),
    diagnoses: Sequence[Diagnose] = (),
    hint: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    quiet: bool = False,
    seed: int | None = None,
) -> CheckResult:
    """Run ``student`` and ``reference`` on each case; return (and print) a ``CheckResult``.

    ``cases`` are ``(description, args)`` pairs. When a case fails, each diagnosis
    ``d(args, student_out, reference_out)`` may return a targeted hint; ``hint`` is the
    general one. With ``seed``, torch's RNG is reset to ``seed + i`` before the student's
    call on case ``i``, the reference's and the diagnoses', so functions that sample can be
    compared draw for draw.
    """
    if not callable(student):
        raise TypeError(f"checks.{name}: expected your function, got {type(student).__name__}")
    result = CheckResult(name, True, True, f"{name}: passed all {len(cases)} tests.")
    for i, (description, args) in enumerate(cases):
        case_seed = None if seed is None else seed + i
        out, failure = _attempt(name, student, args, case_seed, description)
        if failure is not None:
            result = failure
            break
        if case_seed is not None:
            torch.manual_seed(case_seed)
        ref = reference(*args)
        problem = _compare(out, ref, output_names, rtol, atol)
        if problem is not None:
            if case_seed is not None:
                torch.manual_seed(case_seed)  # a diagnosis that samples sees the same draw
            targeted = [h for d in diagnoses if (h := d(args, out, ref))]
            hints = targeted or ([hint] if hint else [])
            lines = [f"{name}: wrong answer on the test case: {description}", f"  {problem}"]
            lines += [f"  hint: {h}" for h in hints]
            result = CheckResult(name, False, True, "\n".join(lines))
            break
    return _record(result, quiet)


def _finish(result: CheckResult, student: Callable, reference: Callable) -> Callable:
    """Grading mode raises on failure; otherwise return the function to use from now on."""
    if result.passed:
        return student
    if _grading():
        raise CheckFailure(result.message)
    print(
        f"      The rest of the notebook uses the reference "
        f"dgm.{reference.__module__.split('.')[-1]}"
        f".{reference.__name__} until your version passes."
    )
    return reference


def summary() -> dict[str, bool]:
    """Print which exercises of this session pass; return ``{name: passed}``."""
    for name, r in results.items():
        state = "pass" if r.passed else ("not implemented" if not r.implemented else "fail")
        print(f"  {name:28s} {state}")
    return {name: r.passed for name, r in results.items()}


# --------------------------------------------------------------------------- lecture 01: EM


def _random_gmm(g: torch.Generator, N: int, D: int, K: int, spread: float = 3.0):
    X = spread * torch.randn(N, D, generator=g, dtype=torch.float64)
    weights = torch.softmax(torch.randn(K, generator=g, dtype=torch.float64), 0)
    means = spread * torch.randn(K, D, generator=g, dtype=torch.float64)
    A = torch.randn(K, D, D, generator=g, dtype=torch.float64)
    covs = A @ A.transpose(1, 2) + 0.5 * torch.eye(D, dtype=torch.float64)
    return X, weights, means, covs


def _em_cases(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
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


def responsibilities(fn: Callable) -> Callable:
    """Check ``fn(X, weights, means, covs) -> r`` (N, K), the E-step of a Gaussian mixture."""
    cases = [(d, args) for d, args in _em_cases(1)]
    result = run_check(
        "responsibilities",
        fn,
        em.responsibilities,
        cases,
        ["r"],
        diagnoses=[_underflow, _rows_not_normalised],
        hint="r_nk = pi_k N(x_n | mu_k, Sigma_k) / sum_j pi_j N(x_n | mu_j, Sigma_j); "
        "dgm.em.gaussian_log_pdf(X, means, covs) gives log N as an (N, K) tensor.",
    )
    return _finish(result, fn, em.responsibilities)


def _m_step_cases():
    cases = []
    for description, (X, w, mu, cov) in _em_cases(2):
        r = em.responsibilities(X, w, mu, cov)
        cases.append((f"{description}, soft responsibilities, reg_covar=0", (X, r, 0.0)))
    g = torch.Generator().manual_seed(3)
    X = torch.randn(30, 2, generator=g, dtype=torch.float64)
    hard = torch.nn.functional.one_hot(torch.arange(30) % 3, 3).to(X)
    cases.append(("hard (one-hot) responsibilities, reg_covar=0", (X, hard, 0.0)))
    cases.append(("soft responsibilities, reg_covar=0.1", (X, torch.softmax(X @ X[:3].T, 1), 0.1)))
    return cases


def _m_step_which(args, out, ref) -> str | None:
    X, r, reg = args
    outs = _tensors(out)
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


def m_step(fn: Callable) -> Callable:
    """Check ``fn(X, r, reg_covar) -> (weights, means, covs)``, the Gaussian-mixture M-step."""
    result = run_check(
        "m_step",
        fn,
        em.m_step,
        _m_step_cases(),
        ["weights", "means", "covs"],
        diagnoses=[_m_step_which],
    )
    return _finish(result, fn, em.m_step)


def _elbo_cases():
    cases = []
    for description, (X, w, mu, cov) in _em_cases(4):
        g = torch.Generator().manual_seed(len(cases))
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


def elbo(fn: Callable) -> Callable:
    """Check ``fn(X, r, weights, means, covs) -> (N,)``, the per-point ELBO of a mixture."""
    result = run_check("elbo", fn, em.elbo, _elbo_cases(), ["elbo"], diagnoses=[_elbo_diagnoses])
    return _finish(result, fn, em.elbo)


def _bernoulli_cases():
    cases = []
    g = torch.Generator().manual_seed(6)
    for N, D, K in ((40, 16, 3), (10, 784, 5), (5, 4, 1)):
        X = torch.bernoulli(torch.full((N, D), 0.3, dtype=torch.float64), generator=g)
        r = torch.softmax(torch.randn(N, K, generator=g, dtype=torch.float64), 1)
        cases.append((f"N={N} images of D={D} pixels, K={K}, alpha=1", (X, r, 1.0)))
    X, r, _ = cases[0][1]
    cases.append(("alpha=0 (plain maximum likelihood)", (X, r, 0.0)))
    return cases


def _bernoulli_diagnoses(args, out, ref) -> str | None:
    X, r, alpha = args
    outs = _tensors(out)
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


def bernoulli_m_step(fn: Callable) -> Callable:
    """Check ``fn(X, r, alpha) -> (weights, probs)``, the Bernoulli-mixture M-step."""
    result = run_check(
        "bernoulli_m_step",
        fn,
        em.bernoulli_m_step,
        _bernoulli_cases(),
        ["weights", "probs"],
        diagnoses=[_bernoulli_diagnoses],
        hint="pi_k = N_k / N.",
    )
    return _finish(result, fn, em.bernoulli_m_step)


# --------------------------------------------------------------------------- lecture 03: VAE


def _vae_inputs(seed: int, B: int = 6, d: int = 4, D: int = 784):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(B, d, generator=g, dtype=torch.float64)
    log_var = torch.randn(B, d, generator=g, dtype=torch.float64)
    x = torch.bernoulli(torch.full((B, D), 0.3, dtype=torch.float64), generator=g)
    logits = 3 * torch.randn(B, D, generator=g, dtype=torch.float64)
    return x, logits, mu, log_var


def _kl_diagnoses(args, out, ref) -> str | None:
    mu, log_var = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one KL per example, shape (B,): sum over the latent dimensions."
    out = out.detach().to(mu)
    if torch.allclose(out, 2 * ref, atol=1e-6):
        return "you forgot the factor 1/2."
    if torch.allclose(out, 0.5 * (mu**2 + log_var.exp() - log_var).sum(-1), atol=1e-6):
        return "you forgot the -1 inside the sum (one per latent dimension)."
    sigma_instead = 0.5 * (mu**2 + (0.5 * log_var).exp() - log_var - 1).sum(-1)
    if torch.allclose(out, sigma_instead, atol=1e-6):
        return "log_var is log sigma^2: the variance is exp(log_var), not exp(log_var / 2)."
    return "KL = 1/2 sum_j (mu_j^2 + exp(log_var_j) - log_var_j - 1)."


def gaussian_kl(fn: Callable) -> Callable:
    """Check ``fn(mu, log_var) -> (B,)``: ``KL(N(mu, diag exp(log_var)) || N(0, I))``."""
    from . import vae

    cases = [
        (f"B={B}, d={d}", _vae_inputs(i, B, d)[2:])
        for i, (B, d) in enumerate(((6, 4), (1, 1), (30, 50)))
    ]
    cases.append(("q equal to the prior (KL = 0)", (torch.zeros(3, 5, dtype=torch.float64),) * 2))
    result = run_check("gaussian_kl", fn, vae.gaussian_kl, cases, ["kl"], diagnoses=[_kl_diagnoses])
    return _finish(result, fn, vae.gaussian_kl)


def _sample_properties(fn: Callable) -> str | None:
    """``None`` if ``fn(mu, log_var)`` draws differentiable samples of N(mu, exp(log_var))."""
    mu = torch.tensor([[1.5, -2.0, 0.0]], dtype=torch.float64).expand(20_000, -1).clone()
    log_var = (
        torch.tensor([[0.0, math.log(4.0), -2.0]], dtype=torch.float64).expand(20_000, -1).clone()
    )
    mu.requires_grad_(True)
    log_var.requires_grad_(True)
    z = fn(mu, log_var)
    if not torch.is_tensor(z) or z.shape != mu.shape:
        got = getattr(z, "shape", type(z))
        return f"return one sample per row, shape {tuple(mu.shape)}, got {got}"
    z64 = z.detach().double()
    if not torch.allclose(z64.mean(0), mu[0].detach(), atol=0.06):
        return "the samples' mean is not mu: z = mu + sigma * eps."
    var = z64.var(0)
    target = log_var[0].detach().exp()
    if not torch.allclose(var, target, rtol=0.06):
        if torch.allclose(var, target**2, rtol=0.12):
            return (
                "eps is scaled by the variance exp(log_var); scale it by sigma = exp(log_var / 2)."
            )
        if torch.allclose(var, target.sqrt(), rtol=0.06):
            return "the spread is off: sigma = exp(log_var / 2), so z has variance exp(log_var)."
        return (
            f"the samples' variance is {var.numpy().round(3)}, "
            f"expected exp(log_var) = {target.numpy().round(3)}."
        )
    no_grad = not z.requires_grad
    if not no_grad:
        g_mu, g_lv = torch.autograd.grad(z.sum(), (mu, log_var), allow_unused=True)
        no_grad = g_mu is None or (g_mu == 0).all()
        if not no_grad and (g_lv is None or (g_lv == 0).all()):
            return "no gradient reaches log_var: keep sigma = exp(log_var / 2) in the graph."
    if no_grad:
        return (
            "no gradient flows from z back to mu and log_var: draw eps = torch.randn_like(mu) "
            "and return mu + exp(log_var / 2) * eps (torch.normal does not pass gradients)."
        )
    eps = (z64 - mu.detach()) / (0.5 * log_var.detach()).exp()
    if not torch.allclose(g_mu, torch.ones_like(g_mu)):
        return "dz/dmu should be 1: z = mu + sigma * eps."
    if not torch.allclose(g_lv, 0.5 * (0.5 * log_var.detach()).exp() * eps, atol=1e-6):
        return "dz/dlog_var should be sigma * eps / 2: use sigma = exp(log_var / 2)."
    return None


def reparameterize(fn: Callable) -> Callable:
    """Check ``fn(mu, log_var) -> z``: samples of ``N(mu, diag exp(log_var))`` passing gradients."""
    from . import vae

    name = "reparameterize"
    problem, result = _attempt(name, _sample_properties, (fn,))
    if result is None:
        if problem is None:
            result = CheckResult(
                name, True, True, f"{name}: mean, variance and gradients are right."
            )
        else:
            result = CheckResult(name, False, True, f"{name}: wrong answer.\n  hint: {problem}")
    return _finish(_record(result), fn, vae.reparameterize)


def _nelbo_diagnoses(args, out, ref) -> str | None:
    from . import vae

    x, logits, mu, log_var, beta = args
    if not torch.is_tensor(out):
        return None
    if out.dim() == 0:
        return "return one value per example, shape (B,); the caller averages."
    out = out.detach().to(x)
    rec = -vae.bernoulli_log_likelihood(x, logits)
    kl = vae.gaussian_kl(mu, log_var)
    if torch.allclose(out, -ref, atol=1e-6):
        return "wrong sign: return the NEGATIVE ELBO, the loss to minimise."
    if torch.allclose(out, rec - beta * kl, atol=1e-6):
        return "the KL is added to the loss (it is subtracted in the ELBO)."
    if torch.allclose(out, rec + kl, atol=1e-6) and beta != 1:
        return "scale the KL term by beta."
    if torch.allclose(out, rec, atol=1e-6):
        return "you left out the KL term."
    probs = torch.sigmoid(logits)
    if torch.allclose(out, ((x - probs) ** 2).sum(-1) + beta * kl, atol=1e-6):
        return "the decoder is Bernoulli: use the binary cross-entropy, not the squared error."
    return (
        "-ELBO = -sum_d log Bernoulli(x_d | sigmoid(logit_d)) + beta * KL; "
        "F.binary_cross_entropy_with_logits computes the first term stably."
    )


def negative_elbo(fn: Callable) -> Callable:
    """Check ``fn(x, logits, mu, log_var, beta) -> (B,)``, the beta-VAE loss per example."""
    from . import vae

    cases = []
    for i, beta in enumerate((1.0, 0.5, 4.0)):
        cases.append((f"beta={beta}", (*_vae_inputs(10 + i), beta)))
    x, logits, mu, log_var = _vae_inputs(20, B=3)
    cases.append(
        ("very confident decoder logits (|logit| up to 100)", (x, 30 * logits, mu, log_var, 1.0))
    )
    result = run_check(
        "negative_elbo",
        fn,
        vae.negative_elbo,
        cases,
        ["negative_elbo"],
        diagnoses=[_nelbo_diagnoses],
    )
    return _finish(result, fn, vae.negative_elbo)


def _iwae_diagnoses(args, out, ref) -> str | None:
    (log_w,) = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "reduce over the K samples (dim 0) and return one bound per example, shape (B,)."
    out = out.detach().to(log_w)
    if torch.allclose(out, torch.logsumexp(log_w, 0), atol=1e-6):
        return "average, don't sum: subtract log K."
    if torch.allclose(out, log_w.mean(0), atol=1e-6):
        return "that is the ELBO (mean of the log-weights); L_K is the log of the MEAN weight."
    if not torch.isfinite(out).all():
        return "exp(log_w) overflows or underflows: use torch.logsumexp."
    return "L_K = log (1/K) sum_k exp(log_w_k) = logsumexp_k(log_w_k) - log K."


def iwae_bound(fn: Callable) -> Callable:
    """Check ``fn(log_w) -> (B,)``, the IWAE bound from log importance weights (K, B)."""
    from . import vae

    g = torch.Generator().manual_seed(30)
    cases = [
        ("K=5, B=4", (torch.randn(5, 4, generator=g, dtype=torch.float64),)),
        ("K=1 (the ELBO)", (torch.randn(1, 7, generator=g, dtype=torch.float64),)),
        (
            "K=50 log-weights around -800 (exp underflows)",
            (torch.randn(50, 3, generator=g, dtype=torch.float64) - 800,),
        ),
    ]
    result = run_check(
        "iwae_bound", fn, vae.iwae_bound, cases, ["bound"], diagnoses=[_iwae_diagnoses]
    )
    return _finish(result, fn, vae.iwae_bound)


# --------------------------------------------------------------------------- lecture 02: wake-sleep


def _helmholtz_cases(seed: int):
    """Small Helmholtz machines and binary batches, float64: (description, model, x)."""
    from . import wake_sleep as ws

    cases = []
    for i, sizes in enumerate(((12, 6, 4), (20, 5), (9, 7, 5, 3))):
        torch.manual_seed(seed + i)
        model = ws.HelmholtzMachine(ws.HelmholtzConfig(sizes)).double()
        x = torch.bernoulli(torch.full((16, sizes[0]), 0.4, dtype=torch.float64))
        cases.append((f"layer sizes {sizes}, a batch of 16", model, x))
    return cases


def _seeded(fn: Callable, seed: int, *args):
    torch.manual_seed(seed)
    return fn(*args)


def _grad_norms(loss, params) -> float:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return sum(float(g.abs().sum()) for g in grads if g is not None)


def _phase_check(
    name: str, student: Callable, reference: Callable, make_args, wrong_net: str
) -> Callable:
    """Shared by the wake and sleep checks: same samples (same seed), same value, right network."""
    result = CheckResult(name, True, True, f"{name}: passed all 3 tests.")
    for i, (description, model, x) in enumerate(_helmholtz_cases(40)):
        args = make_args(model, x)
        out, failure = _attempt(name, student, args, seed=i)
        if failure is not None:
            result = failure
            break
        ref = _seeded(reference, i, *args)
        hint = None
        batch = x.shape[0] if name == "wake_loss" else args[1]
        if not torch.is_tensor(out) or out.dim() != 0:
            hint = "return one number: the loss averaged over the batch."
        elif not out.requires_grad:
            hint = (
                "the loss carries no gradient: compute the log-probability with the model's layers."
            )
        elif torch.allclose(out.detach().to(ref), -ref, atol=1e-8):
            hint = "wrong sign: return the loss to MINIMISE, minus the log-probability."
        elif torch.allclose(out.detach().to(ref), batch * ref, atol=1e-6):
            hint = "the loss is summed: it should be averaged over the batch (.mean())."
        elif not torch.allclose(out.detach().to(ref), ref, atol=1e-8):
            hint = _phase_hint(name)
        else:
            wrong = (
                model.recognition_parameters()
                if wrong_net == "phi"
                else model.generative_parameters()
            )
            if _grad_norms(_seeded(student, i, *args), wrong) > 0:
                hint = (
                    f"gradients reach {wrong_net}: the samples must be drawn without gradient "
                    f"(model.{'sample_q' if name == 'wake_loss' else 'dream'} does that)."
                )
        if hint:
            result = CheckResult(
                name, False, True, f"{name}: wrong answer on {description}\n  hint: {hint}"
            )
            break
    return _finish(_record(result), student, reference)


def _phase_hint(name: str) -> str:
    if name == "wake_loss":
        return (
            "the wake loss is -mean_n log p(x_n, h_n) with ONE sample h_n = model.sample_q(x) "
            "per example, drawn once; theta appears only in log p, so log q is not part of it."
        )
    return (
        "the sleep loss is -mean log q(h | x) on (x, h) = model.dream(n), drawn once: "
        "phi learns to invert the generative model on its own dreams."
    )


def wake_loss(fn: Callable) -> Callable:
    """Check ``fn(model, x) -> scalar``: the wake-phase loss for theta."""
    from . import wake_sleep as ws

    return _phase_check("wake_loss", fn, ws.wake_loss, lambda model, x: (model, x), wrong_net="phi")


def sleep_loss(fn: Callable) -> Callable:
    """Check ``fn(model, n) -> scalar``: the sleep-phase loss for phi on ``n`` dreams."""
    from . import wake_sleep as ws

    return _phase_check(
        "sleep_loss", fn, ws.sleep_loss, lambda model, x: (model, 32), wrong_net="theta"
    )


def _log_likelihood_diagnoses(args, out, ref) -> str | None:
    model, x, k = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return None
    log_w = model.log_weights(x, k)  # (k, B), the student's draw: run_check re-seeded
    o = out.detach().to(ref)
    if torch.allclose(o, torch.logsumexp(log_w, 0), atol=1e-6):
        return "average the weights, don't sum them: subtract log k."
    if k > 1 and torch.allclose(o, log_w.mean(0), atol=1e-6):
        return "that is the ELBO (mean log-weight); average the weights inside the log."
    return None


def log_likelihood_estimate(fn: Callable) -> Callable:
    """Check ``fn(model, x, k) -> (B,)``: the importance-sampled estimate of log p(x)."""
    from . import wake_sleep as ws

    cases = [
        (f"{description}, k={k}", (model, x, k))
        for description, model, x in _helmholtz_cases(50)
        for k in (1, 20)
    ]
    result = run_check(
        "log_likelihood_estimate",
        fn,
        ws.log_likelihood_estimate,
        cases,
        ["log_px"],
        diagnoses=[_log_likelihood_diagnoses],
        rtol=1e-6,
        atol=1e-8,
        seed=50,
        hint="log p(x) ~= logsumexp_k(log w_k) - log k, with log w = log p(x, h) - log q(h | x).",
    )
    return _finish(result, fn, ws.log_likelihood_estimate)


# --------------------------------------------------------------------------- lecture 04: GAN


def _logit_cases():
    g = torch.Generator().manual_seed(4)
    cases = [
        (
            f"B={B}, logits of scale {s}",
            (
                s * torch.randn(B, generator=g, dtype=torch.float64),
                s * torch.randn(B, generator=g, dtype=torch.float64),
            ),
        )
        for B, s in ((8, 1.0), (1, 3.0), (50, 0.1))
    ]
    big = torch.tensor([-800.0, -50.0, 0.0, 50.0, 800.0], dtype=torch.float64)
    cases.append(("confident discriminators, |logit| up to 800", (big, big.flip(0))))
    return cases


def _d_loss_diagnoses(args, out, ref) -> str | None:
    real, fake = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per pair, shape (B,): no mean, no sum."
    out = out.detach().to(real)
    if not torch.isfinite(out).all():
        return (
            "log(sigmoid(l)) underflows for large |l|: write it as -softplus(-l), and "
            "log(1 - sigmoid(l)) as -softplus(l)."
        )
    if torch.allclose(out, -ref, atol=1e-6):
        return "the sign: D *maximises* log D(x) + log(1 - D(G(z))), so its loss is minus that."
    swapped = torch.nn.functional.softplus(real) + torch.nn.functional.softplus(-fake)
    if torch.allclose(out, swapped, atol=1e-6):
        return "real and fake are swapped: D(x) should be near 1 on real data, near 0 on fakes."
    return "loss = -[log D(x) + log(1 - D(G(z)))] with D = sigmoid(logit)."


def discriminator_loss(fn: Callable) -> Callable:
    """Check ``fn(real_logits, fake_logits) -> (B,)``: ``-[log D(x) + log(1 - D(G(z)))]``."""
    from . import gan

    result = run_check(
        "discriminator_loss",
        fn,
        gan.discriminator_loss,
        _logit_cases(),
        ["loss"],
        diagnoses=[_d_loss_diagnoses],
    )
    return _finish(result, fn, gan.discriminator_loss)


def _g_loss_diagnoses(args, out, ref) -> str | None:
    (fake,) = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per generated example, shape (B,)."
    out = out.detach().to(fake)
    if not torch.isfinite(out).all():
        return "-log(sigmoid(l)) overflows for very negative l: write it as softplus(-l)."
    minimax = -torch.nn.functional.softplus(fake)
    if torch.allclose(out, minimax, atol=1e-6):
        return (
            "that is the minimax loss log(1 - D(G(z))), which saturates; the non-saturating "
            "loss is -log D(G(z))."
        )
    if torch.allclose(out, -ref, atol=1e-6):
        return "the sign: the generator *maximises* log D(G(z)), so it minimises -log D(G(z))."
    return "loss = -log D(G(z)) = -log sigmoid(logit)."


def generator_loss_nonsaturating(fn: Callable) -> Callable:
    """Check ``fn(fake_logits) -> (B,)``: the non-saturating generator loss ``-log D(G(z))``."""
    from . import gan

    cases = [(d, (f,)) for d, (_, f) in _logit_cases()]
    result = run_check(
        "generator_loss_nonsaturating",
        fn,
        gan.generator_loss_nonsaturating,
        cases,
        ["loss"],
        diagnoses=[_g_loss_diagnoses],
    )
    return _finish(result, fn, gan.generator_loss_nonsaturating)


def _coverage_cases():
    from . import data

    g = torch.Generator().manual_seed(5)
    ring, grid = data.ring_centres(), data.grid_centres()
    collapsed = ring[:3][torch.randint(3, (300,), generator=g)] + 0.01 * torch.randn(
        300, 2, generator=g
    )
    spread = grid[torch.randint(25, (2500,), generator=g)] + 0.05 * torch.randn(
        2500, 2, generator=g
    )
    blurry = 3 * torch.randn(1000, 2, generator=g)  # near every mode, on none of them
    edge = torch.tensor([[0.0, 0.0], [2.0 + 0.149, 0.0], [0.0, 2.0 + 0.151]])  # 3 std = 0.15
    return [
        ("a ring GAN collapsed onto 3 of 8 modes", (collapsed, ring, 0.01)),
        ("good samples on the 25-grid", (spread, grid, 0.05)),
        ("a blurry generator on the 25-grid", (blurry, grid, 0.05)),
        ("points just inside and just outside 3 std of a mode", (edge, grid, 0.05)),
    ]


def _coverage_diagnoses(args, out, ref) -> str | None:
    samples, centres, std = args
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "return a pair (modes covered, high-quality share)."
    modes, share = out
    if isinstance(share, (int, float)) and share > 1:
        return "the high-quality share is a fraction in [0, 1], not a percentage."
    dist = torch.cdist(samples, centres)
    near = (dist <= 3 * std).any(0).sum().item()
    if modes == near and modes != ref[0]:
        return (
            "count a mode only through samples whose *nearest* centre it is (argmin), not every "
            "centre within 3 std of some sample."
        )
    if modes == len(centres) and ref[0] < len(centres):
        return "a mode counts as covered only when a *high-quality* sample has it as nearest."
    return (
        "high quality: distance to the nearest centre <= 3 std; a mode is covered when at least "
        "one high-quality sample has it as its nearest centre."
    )


def mode_coverage(fn: Callable) -> Callable:
    """Check ``fn(samples, centres, std) -> (modes, high_quality)`` (``min_count = 1``)."""
    from . import metrics

    def reference(samples, centres, std):
        return metrics.mode_coverage(samples, centres, std)

    reference.__name__, reference.__module__ = "mode_coverage", metrics.__name__

    def as_tensors(f):
        def wrapped(*args):
            out = f(*args)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                return out
            return torch.tensor(float(out[0])), torch.tensor(float(out[1]))

        return wrapped

    result = run_check(
        "mode_coverage",
        as_tensors(fn),
        as_tensors(reference),
        _coverage_cases(),
        ["modes", "high_quality"],
        diagnoses=[lambda a, o, r: _coverage_diagnoses(a, _untensor(o), _untensor(r))],
        atol=1e-6,
    )
    return _finish(result, fn, metrics.mode_coverage)


def _untensor(out):
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return tuple(float(v) if torch.is_tensor(v) else v for v in out)
    return out


# --------------------------------------------------------------------------- lecture 05: KL


def _kl_targets():
    g = torch.Generator().manual_seed(6)
    cases = []
    for D in (1, 2, 5):
        mu, log_s = torch.randn(D, generator=g), 0.5 * torch.randn(D, generator=g)
        t_mu, t_s = torch.randn(D, generator=g), 0.5 + torch.rand(D, generator=g)
        cases.append((f"D={D}", mu, log_s, t_mu, t_s))
    return cases


def _closed_form_kl(mu, log_s, t_mu, t_s) -> torch.Tensor:
    """``KL(N(mu, diag s^2) || N(t_mu, diag t_s^2))``, summed over dimensions."""
    from . import unified

    return unified.gaussian_kl_1d(mu, log_s.exp(), t_mu, t_s).sum()


def reverse_kl_estimate(fn: Callable) -> Callable:
    """Check ``fn(mu, log_s, log_p, n) -> scalar``: ``KL(q || p)`` by reparameterized samples.

    Sampling makes a draw-for-draw comparison too strict, so the check is statistical: with
    many samples the value must match the closed form for Gaussian targets, and so must its
    gradient in ``mu`` and ``log_s`` (which only reparameterized samples give).
    """
    from . import unified, vae

    def verdict() -> CheckResult:
        name = "reverse_kl_estimate"
        for desc, mu0, log_s0, t_mu, t_s in _kl_targets():
            mu, log_s = mu0.clone().requires_grad_(), log_s0.clone().requires_grad_()

            def log_p(z, t_mu=t_mu, t_s=t_s):
                return vae.gaussian_log_prob(z, t_mu, 2 * t_s.log())

            out, failure = _attempt(name, fn, (mu, log_s, log_p, 100_000), seed=0, where=desc)
            if failure is not None:
                return failure
            if not torch.is_tensor(out) or out.numel() != 1:
                return CheckResult(
                    name, False, True, f"{name}: return one number (a scalar tensor)."
                )
            exact = _closed_form_kl(mu0, log_s0, t_mu, t_s)
            if abs(out.item() - exact.item()) > 0.02 + 0.01 * abs(exact.item()):
                hint = "KL(q || p) = E_q[log q(z) - log p(z)], z drawn from N(mu, exp(log_s)^2)."
                if abs(out.item() + exact.item()) < 0.02 + 0.01 * abs(exact.item()):
                    hint = "the sign: log q - log p, not log p - log q."
                return CheckResult(
                    name,
                    False,
                    True,
                    f"{name}: on {desc}, got {out.item():.4f}, closed form {exact.item():.4f}\n"
                    f"  hint: {hint}",
                )
            if not out.requires_grad:
                return CheckResult(
                    name,
                    False,
                    True,
                    f"{name}: no gradient reaches mu and log_s.\n  hint: sample "
                    f"z = mu + exp(log_s) * eps with eps ~ N(0, I) (reparameterization).",
                )
            grads = torch.autograd.grad(out, (mu, log_s), allow_unused=True)
            m_, l_ = mu0.clone().requires_grad_(), log_s0.clone().requires_grad_()
            exact_grads = torch.autograd.grad(_closed_form_kl(m_, l_, t_mu, t_s), (m_, l_))
            for which, g, e in zip(("mu", "log_s"), grads, exact_grads):
                if g is None or not torch.allclose(g, e, atol=0.05 + 0.05 * e.abs().max().item()):
                    return CheckResult(
                        name,
                        False,
                        True,
                        f"{name}: on {desc}, the gradient in {which} is wrong.\n  hint: the "
                        f"samples must be a differentiable function of mu and log_s "
                        f"(z = mu + exp(log_s) * eps), and log q must use the same mu, log_s.",
                    )
        return CheckResult(name, True, True, f"{name}: passed all 3 tests (value and gradient).")

    result = _record(verdict())
    return _finish(result, fn, unified.reverse_kl_estimate)


def _forward_kl_diagnoses(args, out, ref) -> str | None:
    mu, log_s, samples = args
    from . import vae

    if torch.is_tensor(out) and out.numel() == 1:
        if torch.allclose(out, -ref, atol=1e-5):
            return "the sign: the objective is -E_p[log q(x)], the negative log-likelihood."
        var_as_std = -vae.gaussian_log_prob(samples, mu, log_s).mean()
        if torch.allclose(out, var_as_std, atol=1e-5):
            return "log_s is log sigma; the log-variance is 2 * log_s."
    return (
        "KL(p || q) = -E_p[log q(x)] + const: average -log N(x; mu, exp(log_s)^2) over the samples."
    )


def forward_kl_estimate(fn: Callable) -> Callable:
    """Check ``fn(mu, log_s, samples_p) -> scalar``: ``-E_p[log q]`` from samples of ``p``."""
    from . import unified

    g = torch.Generator().manual_seed(7)
    cases = [
        (
            f"D={D}, {n} samples",
            (
                torch.randn(D, generator=g),
                0.3 * torch.randn(D, generator=g),
                2 * torch.randn(n, D, generator=g) + 1,
            ),
        )
        for D, n in ((1, 50), (2, 500), (6, 10))
    ]
    result = run_check(
        "forward_kl_estimate",
        fn,
        unified.forward_kl_estimate,
        cases,
        ["kl_up_to_a_constant"],
        diagnoses=[_forward_kl_diagnoses],
        rtol=1e-4,
        atol=1e-5,
    )
    return _finish(result, fn, unified.forward_kl_estimate)


def _iwgan_diagnoses(args, out, ref) -> str | None:
    (logits,) = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one weight per generated sample, shape (B,)."
    d = torch.sigmoid(logits.detach())
    if torch.allclose(out.detach(), d / d.sum(), atol=1e-6):
        return "the weight is the density ratio D / (1 - D), not D itself."
    if torch.allclose(out.detach(), d / (1 - d), rtol=1e-4, atol=1e-6):
        return "normalise the weights so they sum to 1 over the batch."
    return "w_i = (D_i / (1 - D_i)) / sum_j (D_j / (1 - D_j)), with D = sigmoid(logit)."


def iwgan_weights(fn: Callable) -> Callable:
    """Check ``fn(fake_logits) -> (B,)``: IWGAN's normalised weights, constants for autograd."""
    from . import unified

    g = torch.Generator().manual_seed(8)
    cases = [
        (f"B={B}, logits of scale {s}", (s * torch.randn(B, generator=g),))
        for B, s in ((8, 1.0), (1, 1.0), (64, 3.0))
    ]
    cases.append(("confident logits up to 100", (torch.tensor([-100.0, 0.0, 50.0, 100.0]),)))
    result = run_check(
        "iwgan_weights",
        fn,
        unified.iwgan_weights,
        cases,
        ["weights"],
        diagnoses=[_iwgan_diagnoses],
        rtol=1e-4,
        atol=1e-6,
        quiet=True,
    )
    if result.passed and fn(torch.randn(5, requires_grad=True)).requires_grad:
        result = CheckResult(
            "iwgan_weights",
            False,
            True,
            "iwgan_weights: the weights carry a gradient.\n  hint: they are constants in "
            "the generator's update; compute them from logits.detach().",
        )
    return _finish(_record(result), fn, unified.iwgan_weights)
