"""Checks of lecture 09 (score-based and diffusion models): the denoising score matching
loss, a draw of the forward process in closed form, one ancestral reverse step, and the
build assignment (a noise-conditional score network and annealed Langevin).

The three exercises are deterministic once their noise is given, so each is judged exactly
against the reference, on cases chosen so that the likely slips give different numbers: a
score that is not linear, levels far from 1, a batch as long as the data's dimension (where
a step index broadcast along the wrong axis still runs), and the last step (no noise). The
build is judged by the moments of its sampler, the error of its trained score, and the
mode weights it reaches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import diffusion
from .. import score as sm
from .harness import Build, Exact, Judging, Property, exercise, generator, measured, seeded, size

# --------------------------------------------------------------------------- dsm_loss


def _mixture_score(y, sigma):
    """The score of a 2-D mixture blurred by ``sigma``: not linear in ``y``."""
    weights, means, stds = [0.4, 0.6], [[-1.0, 0.5], [1.5, -0.5]], [0.5, 0.8]
    return sm.mixture_score(y, weights, means, sm.noised_stds(stds, sigma))


def _linear_score(y, sigma):
    A = torch.tensor([[-1.0, 0.3, 0.0], [0.2, -0.5, 0.1], [0.0, 0.4, -2.0]], dtype=y.dtype)
    return y @ A.T / (1 + sigma**2)


def _dsm_cases():
    cases = []
    for i, (score, D, sigma) in enumerate(
        ((_mixture_score, 2, 0.5), (_linear_score, 3, 2.0), (_mixture_score, 2, 0.05))
    ):
        g = generator(40 + i)
        n = size(7)
        x = torch.randn(n, D, generator=g, dtype=torch.float64)
        noise = torch.randn(n, D, generator=g, dtype=torch.float64)
        cases.append((f"{n} points in {D}-D, sigma {sigma}", (score, x, sigma, noise)))
    return cases


def _dsm_diagnoses(args, out, ref) -> str | None:
    score, x, sigma, noise = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per example, shape (N,): sum over the dimensions, no mean."
    out = out.detach().double()
    x_noisy = x + sigma * noise
    s = score(x_noisy, sigma)
    if torch.allclose(out, 2 * ref):
        return "you forgot the factor 1/2."
    if torch.allclose(out, 0.5 * ((s - noise / sigma) ** 2).sum(-1)):
        return (
            "the target has the wrong sign: grad log q(x~ | x) = -(x~ - x) / sigma^2 = "
            "-n / sigma, so the loss is 1/2 ||s + n / sigma||^2."
        )
    if torch.allclose(out, 0.5 * ((s + noise * sigma) ** 2).sum(-1)):
        return "the target is -n / sigma, not -n * sigma: x~ - x = sigma n, divided by sigma^2."
    if torch.allclose(out, 0.5 * ((score(x, sigma) + noise / sigma) ** 2).sum(-1)):
        return "evaluate the score at the noisy point x~ = x + sigma * noise, not at x."
    if torch.allclose(out, sigma**2 * ref):
        return "no weight here: lambda(sigma) = sigma^2 is applied when the levels are mixed."
    return "loss_n = 1/2 || s(x~_n, sigma) + noise_n / sigma ||^2 with x~ = x + sigma * noise."


@exercise(sm.dsm_loss)
def dsm_loss(fn: Callable) -> Judging:
    """Check ``fn(score, x, sigma, noise) -> (N,)``: ``1/2 ||s(x + sigma n, sigma) + n /
    sigma||^2`` per example."""
    return Judging(_dsm_cases(), Exact(["loss"], rtol=1e-6, atol=1e-9), [_dsm_diagnoses])


# --------------------------------------------------------------------------- q_sample


def _forward_cases():
    abar = diffusion.alpha_bars(diffusion.linear_betas(50, 1e-3, 0.1))
    cases = []
    g = generator(50)
    x = torch.randn(4, 4, generator=g, dtype=torch.float64)  # as many examples as dimensions
    noise = torch.randn(4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 7, 30, 49])
    cases.append(("4 examples of 4 dimensions, one step each (0, 7, 30, 49)", (x, t, abar, noise)))
    n = size(5)
    x = torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64)
    noise = torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64)
    cases.append((f"{n} images 1x6x6, all at step 20", (x, 20, abar, noise)))
    t = torch.randint(50, (n,), generator=g)
    cases.append((f"{n} images 1x6x6, steps {t.tolist()}", (x, t, abar, noise)))
    return cases


def _forward_diagnoses(args, out, ref) -> str | None:
    x0, t, abar, noise = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return x_t with x0's shape: index abar[t] and shape it (B, 1, ...) to broadcast."
    out = out.detach().double()
    a = torch.as_tensor(abar)[torch.as_tensor(t)].reshape(-1, *([1] * (x0.dim() - 1)))
    if torch.allclose(out, a * x0 + (1 - a) * noise):
        return "take square roots: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."
    if torch.allclose(out, (1 - a).sqrt() * x0 + a.sqrt() * noise):
        return "the two weights are swapped: sqrt(abar_t) multiplies x0, the data's share."
    shifted = torch.as_tensor(abar)[(torch.as_tensor(t) - 1).clamp(min=0)]
    shifted = shifted.reshape(-1, *([1] * (x0.dim() - 1)))
    if torch.allclose(out, shifted.sqrt() * x0 + (1 - shifted).sqrt() * noise):
        return "off by one step: abar[t] (steps count from 0 here), not abar[t - 1]."
    flat = torch.as_tensor(abar)[torch.as_tensor(t)]
    if x0.dim() == 2 and flat.dim() == 1 and flat.shape[0] == x0.shape[1]:
        if torch.allclose(out, flat.sqrt() * x0 + (1 - flat).sqrt() * noise):
            return (
                "abar[t] is one number per example: reshape it to (B, 1, ...) so it "
                "multiplies rows; as (B,) it multiplied columns."
            )
    return "x_t = sqrt(abar[t]) * x0 + sqrt(1 - abar[t]) * noise, abar[t] one per example."


@exercise(diffusion.q_sample)
def q_sample(fn: Callable) -> Judging:
    """Check ``fn(x0, t, abar, noise) -> x_t``: the forward process at step ``t`` in one draw,
    ``t`` an int or one per example."""
    return Judging(_forward_cases(), Exact(["x_t"], rtol=1e-6, atol=1e-9), [_forward_diagnoses])


# --------------------------------------------------------------------------- ddpm_step


def _reverse_cases():
    betas = diffusion.linear_betas(40, 1e-3, 0.2)
    g = generator(60)
    cases = []
    for t in (25, 1, 0):
        n = size(3)
        x = torch.randn(n, 1, 5, 5, generator=g, dtype=torch.float64)
        eps = torch.randn(n, 1, 5, 5, generator=g, dtype=torch.float64)
        z = torch.randn(n, 1, 5, 5, generator=g, dtype=torch.float64)
        last = " (the last: no noise)" if t == 0 else ""
        cases.append((f"{n} images at step {t} of 40{last}", (x, t, eps, betas, z)))
    return cases


def _reverse_diagnoses(args, out, ref) -> str | None:
    x, t, eps, betas, z = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return x_{t-1} with x_t's shape."
    out = out.detach().double()
    b = betas[t]
    a = diffusion.alpha_bars(betas)[t]
    mean = (x - b / (1 - a).sqrt() * eps) / (1 - b).sqrt()
    noise = b.sqrt() * z if t > 0 else 0.0
    if t == 0 and torch.allclose(out, mean + b.sqrt() * z):
        return "add no noise at the last step (t = 0): return the mean."
    if torch.allclose(out, mean + b * z):
        return "the noise's standard deviation is sqrt(beta_t), its variance beta_t."
    if torch.allclose(out, x - b / (1 - a).sqrt() * eps + noise):
        return (
            "divide by sqrt(1 - beta_t) = sqrt(alpha_t): the mean is (x_t - ...) / sqrt(alpha_t)."
        )
    if torch.allclose(out, (x - b / (1 - a) * eps) / (1 - b).sqrt() + noise):
        return "eps's weight is beta_t / sqrt(1 - abar_t): take the square root."
    if torch.allclose(out, (x - (1 - a).sqrt() * eps) / a.sqrt() + noise):
        return (
            "that is the predicted x_0 (DDIM's first half), a jump to the data: one ancestral "
            "step only removes beta_t / sqrt(1 - abar_t) of the noise."
        )
    return (
        "x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) * eps) / sqrt(1 - beta_t) + sqrt(beta_t) * z,"
        " without z at t = 0."
    )


@exercise(diffusion.ddpm_step)
def ddpm_step(fn: Callable) -> Judging:
    """Check ``fn(x_t, t, eps, betas, noise) -> x_{t-1}``: one ancestral step of Ho et al.
    with ``sigma_t^2 = beta_t``, no noise at ``t = 0``."""
    return Judging(_reverse_cases(), Exact(["x_prev"], rtol=1e-6, atol=1e-9), [_reverse_diagnoses])


# --------------------------------------------------------------------------- the build

_CHAINS_BUILD = 20_000


def _gaussian_score(m, s2):
    def score(x, sigma):
        return -(x - m) / (s2 + sigma**2)

    return score


def _two_level_moments(x0, m, s2, sigmas, alphas, noise=1.0):
    """Mean and variance after one Langevin step at each level, in the order given, from
    the point ``x0``, with the linear score of N(m, s2 I) blurred: ``x <- (1 - c) x + c m +
    noise * sqrt(alpha) z``, ``c = alpha / (2 (s2 + sigma^2))``."""
    mean, var = x0[0].clone(), torch.zeros_like(x0[0])
    for sigma, alpha in zip(sigmas, alphas):
        c = alpha / (2 * (s2 + sigma**2))
        mean, var = (1 - c) * mean + c * m, (1 - c) ** 2 * var + noise**2 * alpha
    return mean, var


def _sampler_moments(run, args) -> str | None:
    """Two annealed Langevin steps (levels sigma_1 > sigma_2, one step each) from one point,
    with a linear exact score: the chains' mean and variance have closed forms."""
    data, sigmas, probes, m, s2, x0, eps = args
    score = _gaussian_score(m, s2)
    x = x0.expand(_CHAINS_BUILD, -1).clone()
    before = x.clone()
    out = run(data, sigmas, 2, 0.0, 8, probes, score, x, 1, eps)
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        return "return four things: (losses, scores, samples, exact_samples)."
    exact = out[3]
    if not torch.is_tensor(exact) or exact.shape != x.shape:
        got = tuple(exact.shape) if torch.is_tensor(exact) else type(exact).__name__
        return f"exact_samples: one state per chain, shape {tuple(x.shape)}; got {got}."
    if not torch.equal(x, before):
        return "do not change x0 in place: the chains start from a copy."
    alphas = [eps * s**2 / sigmas[-1] ** 2 for s in sigmas]
    e = exact.detach().double()
    got = e.mean(0), e.var(0)

    def near(mean, var) -> bool:
        se_mean, se_var = (var / _CHAINS_BUILD).sqrt(), var * (2 / (_CHAINS_BUILD - 1)) ** 0.5
        return bool(((got[0] - mean).abs() <= 5 * se_mean).all()) and bool(
            ((got[1] - var).abs() <= 5 * se_var).all()
        )

    mean, var = _two_level_moments(x0, m, s2, sigmas, alphas)
    if near(mean, var):
        return None
    slips = [
        (
            _two_level_moments(x0, m, s2, sigmas[::-1], alphas[::-1]),
            "the levels run from the smallest: go from the largest sigma down.",
        ),
        (
            _two_level_moments(x0, m, s2, sigmas, [eps] * len(sigmas)),
            "each level's step must be alpha_i = eps * sigma_i^2 / sigma_L^2 (sigma_L the "
            "smallest level), not eps itself.",
        ),
        (
            _two_level_moments(x0, m, s2, sigmas, alphas, noise=math.sqrt(2)),
            "the noise is sqrt(alpha_i) * z, with the drift alpha_i / 2 * score: sqrt(2 "
            "alpha_i) belongs with a drift of alpha_i * score (lecture 07's step, eps = "
            "alpha_i / 2).",
        ),
    ]
    for (slip_mean, slip_var), hint in slips:
        if near(slip_mean, slip_var):
            return hint
    return (
        f"from one point, two levels of one step each with a linear score give chains of "
        f"mean {mean.numpy().round(4)} and variance {var.numpy().round(4)}; yours have "
        f"{got[0].numpy().round(4)} and {got[1].numpy().round(4)}. Each step is x + "
        "alpha_i / 2 * score(x, sigma_i) + sqrt(alpha_i) * z, levels from the largest."
    )


def _learns_each_level(run, args) -> str | None:
    """Gaussian data: the trained network's score at every level within 25% (RMS) of the
    blurred data's exact score, and the loss falls."""
    data, sigmas, probes, m, s2, x0, steps, lr, batch = args
    out = run(data, sigmas, steps, lr, batch, probes, _gaussian_score(m, s2), x0, 1, 1e-3)
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        return "return four things: (losses, scores, samples, exact_samples)."
    losses, scores, samples = out[0], out[1], out[2]
    if not torch.is_tensor(losses) or losses.shape != (steps,):
        return f"losses: one per step, shape ({steps},)."
    if not torch.isfinite(losses).all():
        return "some losses are not finite."
    shape = (len(sigmas), *probes.shape)
    if not torch.is_tensor(scores) or scores.shape != shape:
        got = tuple(scores.shape) if torch.is_tensor(scores) else type(scores).__name__
        return f"scores: the score at the probes at every level, shape {shape}; got {got}."
    if not torch.is_tensor(samples) or samples.shape != x0.shape:
        return f"samples: one state per chain, shape {tuple(x0.shape)}."
    k = max(steps // 10, 1)
    if not losses[-k:].mean() < losses[:k].mean():
        return "the loss does not fall: is Adam stepping on the weighted denoising loss?"
    errors = []
    for sigma, s in zip(sigmas, scores.detach().double()):
        truth = _gaussian_score(m, s2)(probes, sigma)
        errors.append(((s - truth).pow(2).sum(1).mean() / truth.pow(2).sum(1).mean()).sqrt())
    measured(**{f"score error at sigma {s:g}": e.item() for s, e in zip(sigmas, errors)})
    worst = max(range(len(sigmas)), key=lambda i: errors[i])
    if errors[worst] > LEVEL_TOL:
        flat = all(e > LEVEL_TOL for e in errors[1:]) or errors[0] > LEVEL_TOL
        return (
            f"after {steps} steps on Gaussian data the score at sigma {sigmas[worst]:g} is "
            f"{errors[worst]:.0%} off the exact one (RMS), more than {LEVEL_TOL:.0%}"
            + (
                ": the network must read sigma (log sigma as an input), the target is -n / "
                "sigma at x + sigma n, each level's loss weighted by sigma^2."
                if flat
                else "."
            )
        )
    return None


_PROPERTIES = {"sampler": _sampler_moments, "learning": _learns_each_level}
LEVEL_TOL = 0.25  # the trained score's RMS error at any level, on Gaussian data
TV_TOL = 0.08  # the mode shares' total variation from the hidden weights
ON_MODE = 0.9  # the share of samples within 3 standard deviations of a mode


def hidden_mixture(g: torch.Generator):
    """Three modes of sd 0.4 on a circle of radius 3, at random angles about 120 degrees
    apart, with weights 0.5, 0.3, 0.2 in a random order: (weights, means, std)."""
    angles = torch.rand(1, generator=g, dtype=torch.float64) * 6.2832 + torch.tensor(
        [0.0, 2.0944, 4.1888], dtype=torch.float64
    )
    angles = angles + 0.3 * (torch.rand(3, generator=g, dtype=torch.float64) - 0.5)
    means = 3 * torch.stack([angles.cos(), angles.sin()], dim=1)
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)[torch.randperm(3, generator=g)]
    return weights, means, 0.4


def _finds_the_weights(run, args) -> str | None:
    """After the budget, annealed Langevin with the trained score puts each hidden mode's
    weight on it, and the samples sit on the modes."""
    data, weights, means, std, sigmas, steps, lr, batch, x0, per_level, eps, seed = args
    exact = lambda x, s: sm.mixture_score(x, weights, means, sm.noised_stds([std] * 3, s))  # noqa: E731
    torch.manual_seed(seeded(seed))
    out = run(data, sigmas, steps, lr, batch, data[:10], exact, x0, per_level, eps)
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        return "return four things: (losses, scores, samples, exact_samples)."
    samples = out[2]
    if not torch.is_tensor(samples) or samples.shape != x0.shape:
        return f"samples: one state per chain, shape {tuple(x0.shape)}."
    x = samples.detach().double()
    if not torch.isfinite(x).all():
        return (
            "some samples are not finite: is each level's step alpha_i = eps sigma_i^2 / sigma_L^2?"
        )
    dist = torch.cdist(x, means)  # (C, 3)
    nearest = dist.argmin(1)
    shares = torch.bincount(nearest, minlength=3).double() / len(x)
    tv = 0.5 * (shares - weights).abs().sum().item()
    on_mode = (dist.min(1).values < 3 * std).double().mean().item()
    measured(total_variation=tv, on_mode=on_mode)
    if on_mode < ON_MODE:
        return (
            f"only {on_mode:.0%} of the samples lie within 3 standard deviations of a hidden "
            f"mode (at least {ON_MODE:.0%} should). The last levels must be small and their "
            "steps small with them, and the network must be able to bend: the score of "
            "several modes needs a nonlinearity between its layers."
        )
    if not tv <= TV_TOL:
        return (
            f"the samples put {shares.numpy().round(3)} on the hidden modes, whose weights are "
            f"{weights.numpy().round(3)}: a total variation of {tv:.3f}, more than {TV_TOL}. "
            "Start the chains where the largest level's blur covers every mode, go down the "
            "levels from the largest, and check the network's score at each level."
        )
    return None


@exercise(
    sm.ncsn_from_scratch,
    sm.ScoreNet.forward,
    sm.fit,
    sm.training_step,
    sm.annealed_langevin,
    sm.langevin,
)
def ncsn_from_scratch(fn: Callable) -> Build:
    """Check the build ``fn(data, sigmas, steps, lr, batch_size, probes, exact_score, x0,
    steps_per_level, eps) -> (losses, scores, samples, exact_samples)``: a noise-conditional
    score network trained by weighted denoising score matching, and annealed Langevin with
    its score and with ``exact_score``.

    Properties (half the points): the sampler, run with a linear exact score from one point
    over 20,000 chains at two levels of one step each (eps 0.1, where levels taken smallest
    first give a variance 0.27 off, 19 standard errors), gives the closed-form mean and
    variance (each level's step ``eps sigma_i^2 / sigma_L^2``, the noise ``sqrt(alpha_i)``);
    on Gaussian data the trained network's score at each of three levels is within
    ``LEVEL_TOL`` (RMS) of the exact blurred score, and the loss falls. The network's shape
    and its input scaling are not checked apart. Outcome (the other half): 2,000 steps (lr
    0.003 decayed to 0, batches of 256) on 4,000 points of a hidden mixture of three modes;
    2,000 chains from N(0, 6^2 I) through 10 levels from 6 to 0.05, 100 steps each: the
    shares of the modes within ``TV_TOL`` of their weights, and ``ON_MODE`` of the samples
    on a mode. The library's ``ScoreNet``, ``fit``, ``training_step``, Langevin samplers
    and ``ncsn_from_scratch`` are refused; ``dsm_loss`` (exercise 1) is not.
    """
    g = generator(70)
    d = torch.float64
    m, s2 = torch.tensor([1.0, -0.5], dtype=d), 0.25
    x0 = torch.tensor([[2.0, 1.0]], dtype=d)
    data = m + s2**0.5 * torch.randn(size(2000), 2, generator=g, dtype=d)
    probes = m + torch.randn(200, 2, generator=g, dtype=d)
    starts = 3 * torch.randn(16, 2, generator=g, dtype=d)
    properties = Judging(
        [
            (
                "two levels (2.0, 0.5) of one step each, eps 0.1, from (2, 1) over 20,000 "
                "chains, with the exact score of N((1, -0.5), 0.25 I) blurred",
                ("sampler", data, [2.0, 0.5], probes, m, s2, x0, 0.1),
            ),
            (
                f"{len(data)} points of N((1, -0.5), 0.25 I), levels (3, 1, 0.3), 600 steps "
                "(lr 0.003, batches of 128): the trained score at 200 probes, each level",
                ("learning", data, [3.0, 1.0, 0.3], probes, m, s2, starts, 600, 3e-3, 128),
            ),
        ],
        [Property(lambda run, args: _PROPERTIES[args[0]](run, args[1:]))],
    )
    weights, means, std = hidden_mixture(generator(71))
    h = generator(72)
    k = torch.multinomial(weights, 4000, replacement=True, generator=h)
    data = means[k] + std * torch.randn(4000, 2, generator=h, dtype=d)
    x0 = 6 * torch.randn(2000, 2, generator=h, dtype=d)
    sigmas = sm.geometric_sigmas(6.0, 0.05, 10)
    outcome = Judging(
        [
            (
                "2,000 steps (lr 0.003, batches of 256) on 4,000 points of a hidden mixture of "
                "three modes; 2,000 chains from N(0, 6^2 I), 10 levels from 6 to 0.05, 100 "
                "steps each, eps 0.0005: the modes' shares against their weights",
                (data, weights, means, std, sigmas, 2000, 3e-3, 256, x0, 100, 5e-4, 73),
            )
        ],
        [Property(_finds_the_weights)],
    )
    return Build(properties, outcome)
