"""Lecture 09's identities: the mixture's score, denoising against explicit score matching,
annealed against plain Langevin, the forward process's closed form, Tweedie's formula, and
the reverse steps with the exact noise prediction."""

import math

import pytest
import torch

from dgm import densities
from dgm import diffusion as dm

WEIGHTS, MEANS, STDS = [0.7, 0.3], [[-4.0], [4.0]], [1.0, 1.0]  # lecture 07's two modes


def mixture_2d():
    return [0.5, 0.3, 0.2], [[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], [0.6, 0.9, 0.5]


def draw_mixture(n, weights, means, stds, generator):
    w, m, s = (torch.tensor(v, dtype=torch.float64) for v in (weights, means, stds))
    k = torch.multinomial(w, n, replacement=True, generator=generator)
    z = torch.randn(n, m.shape[1], generator=generator, dtype=torch.float64)
    return m[k] + s[k, None] * z


def test_the_mixture_score_is_the_gradient_of_its_log_density():
    g = torch.Generator().manual_seed(0)
    w, m, s = mixture_2d()
    x = (3 * torch.randn(50, 2, generator=g, dtype=torch.float64)).requires_grad_(True)
    (grad,) = torch.autograd.grad(densities.isotropic_mixture_log_prob(x, w, m, s).sum(), x)
    torch.testing.assert_close(dm.mixture_score(x.detach(), w, m, s), grad)
    with pytest.raises(ValueError, match=r"isotropic_mixture: expected x \(N, D\) and means"):
        dm.mixture_score(x.detach()[:, :1], w, m, s)
    with pytest.raises(ValueError, match="stds must be > 0"):
        dm.mixture_score(x.detach(), w, m, [0.6, 0.0, 0.5])


def test_a_blurred_mixture_is_the_mixture_with_wider_components():
    """q_sigma(x~) = E_x N(x~; x, sigma^2 I), by Monte Carlo over the mixture, against the
    closed form with s_k^2 + sigma^2."""
    g = torch.Generator().manual_seed(1)
    w, m, s = mixture_2d()
    sigma = 0.7
    x = draw_mixture(400_000, w, m, s, g)  # (N, 2)
    probes = torch.tensor([[-2.0, 0.0], [0.0, 0.0], [2.0, 1.5], [0.5, -2.0]], dtype=torch.float64)
    kernel = torch.exp(-((probes[:, None] - x[None]) ** 2).sum(-1) / (2 * sigma**2))
    mc = kernel.mean(1) / (2 * math.pi * sigma**2)
    exact = densities.isotropic_mixture_log_prob(probes, w, m, dm.noised_stds(s, sigma)).exp()
    torch.testing.assert_close(mc, exact, rtol=0.02, atol=0)


def test_denoising_and_explicit_score_matching_differ_by_a_constant():
    """For any score s, DSM - ESM = s . (n / sigma + grad log q_sigma) + a constant, and the
    first term has mean 0 (E[-n / sigma | x~] is the blurred score): two very different
    score functions, on the same draws, give the same mean difference."""
    g = torch.Generator().manual_seed(2)
    w, m, s = mixture_2d()
    sigma = 0.5
    x = draw_mixture(200_000, w, m, s, g)
    noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
    blurred = dm.noised_stds(s, sigma)

    def true_score(y):
        return dm.mixture_score(y, w, m, blurred)

    A = torch.tensor([[-1.5, 0.4], [0.2, -0.8]], dtype=torch.float64)
    scores = {
        "zero": lambda y, sig: torch.zeros_like(y),
        "linear": lambda y, sig: y @ A.T + torch.tensor([0.3, -1.0], dtype=torch.float64),
        "the truth": lambda y, sig: true_score(y),
    }
    gaps = {
        k: dm.dsm_loss(f, x, sigma, noise) - dm.esm_loss(f, x + sigma * noise, sigma, true_score)
        for k, f in scores.items()
    }
    for k in ("linear", "the truth"):
        d = gaps[k] - gaps["zero"]  # paired: the same draws
        assert d.mean().abs() < 4 * d.std() / math.sqrt(len(d)), k
    # the constant itself: E 1/2 ||n / sigma||^2 - E 1/2 ||grad log q_sigma(x~)||^2
    S = true_score(x + sigma * noise)
    constant = 0.5 * (noise**2).sum(1) / sigma**2 - 0.5 * (S**2).sum(1)
    diff = gaps["zero"] - constant
    assert diff.mean().abs() < 1e-9
    # and the losses themselves differ, by far more than their noise
    losses = {k: dm.dsm_loss(f, x, sigma, noise).mean() for k, f in scores.items()}
    assert losses["the truth"] < losses["zero"] - 0.5 and losses["the truth"] < losses["linear"]


def test_annealed_langevin_keeps_the_mode_weights_and_plain_langevin_does_not():
    """Lecture 07's mixture (0.7 and 0.3, modes 8 apart), chains started wide: with the exact
    blurred scores, annealed Langevin ends with the left mode's share near 0.7; plain
    Langevin with the data's score, as many steps at the last level's step, keeps the share
    its starts had (about one half)."""
    g = torch.Generator().manual_seed(3)
    n = 4000
    sigmas = dm.geometric_sigmas(10.0, 0.1, 10)

    def score(y, sigma):
        return dm.mixture_score(y, WEIGHTS, MEANS, dm.noised_stds(STDS, sigma))

    x0 = 10 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    annealed = dm.annealed_langevin(score, x0, sigmas, 100, 0.02, generator=g)
    plain = dm.langevin(lambda y: score(y, sigmas[-1]), x0, 0.02, 1000, generator=g)
    share = {k: (v[:, 0] < 0).double().mean().item() for k, v in (("a", annealed), ("p", plain))}
    se = math.sqrt(0.7 * 0.3 / n)
    assert abs(share["a"] - 0.7) < 4 * se, share
    assert abs(share["p"] - 0.5) < 0.05 and share["p"] < 0.7 - 0.1, share
    # within a mode the annealed chains have the data's spread
    left = annealed[annealed[:, 0] < 0, 0]
    assert abs(left.mean().item() + 4) < 0.1 and abs(left.std().item() - 1) < 0.1
    with pytest.raises(ValueError, match="sigmas must be > 0 and decreasing"):
        dm.annealed_langevin(score, x0, sigmas[::-1], 10, 0.02)


def test_the_closed_form_forward_process_matches_the_steps():
    g = torch.Generator().manual_seed(4)
    betas = dm.linear_betas(200, 1e-3, 0.05)
    abar = dm.alpha_bars(betas)
    x0 = torch.tensor([[1.5, -2.0]], dtype=torch.float64).expand(20_000, 2)
    t = 120
    stepped = dm.forward_steps(x0, betas, t, generator=g)
    closed = dm.q_sample(x0, t, abar, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    mean, var = abar[t].sqrt() * x0[0], 1 - abar[t]
    for x in (stepped, closed):
        se = (var / len(x)).sqrt()
        assert ((x.mean(0) - mean).abs() < 4 * se).all()
        assert ((x.var(0) / var - 1).abs() < 4 * math.sqrt(2 / len(x))).all()
    # one step by hand, and a step per example
    eps = torch.randn(3, 2, generator=g, dtype=torch.float64)
    torch.testing.assert_close(
        dm.q_sample(x0[:3], torch.tensor([0, 5, 199]), abar, eps),
        torch.stack(
            [
                abar[i].sqrt() * x0[0] + (1 - abar[i]).sqrt() * eps[j]
                for j, i in enumerate([0, 5, 199])
            ]
        ),
    )
    with pytest.raises(ValueError, match=r"t must be in \[0, 199\]"):
        dm.q_sample(x0[:1], 200, abar, eps[:1])


def gaussian_eps(x_t, t, abar, m, s):
    """The exact E[eps | x_t] when x_0 ~ N(m, s^2): Gaussian conditioning."""
    a = abar[t]
    return (1 - a).sqrt() * (x_t - a.sqrt() * m) / (a * s**2 + 1 - a)


def test_tweedie_the_best_noise_prediction_is_the_scaled_score():
    """x_0 ~ N(m, s^2): the least-squares regression of eps on x_t is E[eps | x_t], and
    eps_to_score of it is the exact score of x_t's density N(sqrt(abar) m, abar s^2 + 1 - abar)."""
    g = torch.Generator().manual_seed(5)
    abar = dm.alpha_bars(dm.linear_betas(1000))
    m, s, t = 2.0, 0.5, 300
    x0 = m + s * torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = dm.q_sample(x0, t, abar, eps)
    design = torch.cat([x_t, torch.ones_like(x_t)], 1)
    slope, intercept = torch.linalg.lstsq(design, eps).solution[:, 0]
    a = abar[t]
    assert slope.item() == pytest.approx(((1 - a).sqrt() / (a * s**2 + 1 - a)).item(), rel=0.02)
    grid = torch.linspace(-3, 4, 15, dtype=torch.float64)[:, None]
    exact_score = -(grid - a.sqrt() * m) / (a * s**2 + 1 - a)
    torch.testing.assert_close(
        dm.eps_to_score(gaussian_eps(grid, t, abar, m, s), t, abar), exact_score
    )
    assert intercept.item() == pytest.approx(
        (-(1 - a).sqrt() * a.sqrt() * m / (a * s**2 + 1 - a)).item(), abs=0.01
    )


def test_ancestral_and_ddim_steps_with_the_exact_noise_prediction_sample_the_data():
    """From x_T ~ N(0, 1), 1,000 ancestral steps, or 200 deterministic DDIM steps, with the
    exact E[eps | x_t] for data N(2, 0.5^2), end with the data's mean and spread. (DDIM's
    error shrinks with its steps: 50 steps give a spread of 0.47 on these draws.)"""
    g = torch.Generator().manual_seed(6)
    betas = dm.linear_betas(1000)
    abar = dm.alpha_bars(betas)
    m, s, n = 2.0, 0.5, 20_000
    x = torch.randn(n, 1, generator=g, dtype=torch.float64)
    y = x.clone()
    for t in range(999, -1, -1):
        z = torch.randn(x.shape, generator=g, dtype=torch.float64)
        x = dm.ddpm_step(x, t, gaussian_eps(x, t, abar, m, s), betas, z)
    ts = list(range(999, -1, -5))
    for t, t_prev in zip(ts, ts[1:] + [-1]):
        y = dm.ddim_step(y, t, t_prev, gaussian_eps(y, t, abar, m, s), abar)
    for out in (x, y):
        assert abs(out.mean().item() - m) < 0.02 and abs(out.std().item() - s) < 0.02
    with pytest.raises(ValueError, match=r"ddim_step: t_prev must be in \[-1, t\)"):
        dm.ddim_step(y, 5, 5, y, abar)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="dsm_loss: sigma must be a positive number"):
        dm.dsm_loss(lambda y, s: y, torch.zeros(2, 1), 0.0, torch.zeros(2, 1))
    with pytest.raises(ValueError, match="dsm_loss: noise must have x's shape"):
        dm.dsm_loss(lambda y, s: y, torch.zeros(2, 1), 0.5, torch.zeros(3, 1))
    with pytest.raises(ValueError, match="langevin: step must be a positive number"):
        dm.langevin(lambda y: y, torch.zeros(2, 1), -1.0, 3)
    with pytest.raises(ValueError, match="geometric_sigmas: need sigma_max > sigma_min"):
        dm.geometric_sigmas(0.1, 1.0, 5)
    with pytest.raises(ValueError, match="linear_betas: need T >= 1"):
        dm.linear_betas(0)
    assert dm.geometric_sigmas(10.0, 0.1, 3) == pytest.approx([10.0, 1.0, 0.1])
