"""Lecture 09's score identities: the mixture's score, denoising against explicit score
matching, annealed against plain Langevin."""

import math

import pytest
import torch

from dgm import densities
from dgm import score as sm

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
    torch.testing.assert_close(sm.mixture_score(x.detach(), w, m, s), grad)
    with pytest.raises(ValueError, match=r"isotropic_mixture: expected x \(N, D\) and means"):
        sm.mixture_score(x.detach()[:, :1], w, m, s)
    with pytest.raises(ValueError, match="stds must be > 0"):
        sm.mixture_score(x.detach(), w, m, [0.6, 0.0, 0.5])


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
    exact = densities.isotropic_mixture_log_prob(probes, w, m, sm.noised_stds(s, sigma)).exp()
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
    blurred = sm.noised_stds(s, sigma)

    def true_score(y):
        return sm.mixture_score(y, w, m, blurred)

    A = torch.tensor([[-1.5, 0.4], [0.2, -0.8]], dtype=torch.float64)
    scores = {
        "zero": lambda y, sig: torch.zeros_like(y),
        "linear": lambda y, sig: y @ A.T + torch.tensor([0.3, -1.0], dtype=torch.float64),
        "the truth": lambda y, sig: true_score(y),
    }
    gaps = {
        k: sm.dsm_loss(f, x, sigma, noise) - sm.esm_loss(f, x + sigma * noise, sigma, true_score)
        for k, f in scores.items()
    }
    for k in ("linear", "the truth"):
        d = gaps[k] - gaps["zero"]  # paired: the same draws
        assert d.mean().abs() < 4 * d.std() / math.sqrt(len(d)), k
    # the constant itself, D / (2 sigma^2) - E 1/2 ||grad log q_sigma(x~)||^2 (E ||n||^2 = D),
    # against the gap of a score that is not the truth
    S = true_score(x + sigma * noise)
    d = gaps["linear"] + 0.5 * (S**2).sum(1)  # mean D / (2 sigma^2) = 4
    assert (d.mean() - 2 / (2 * sigma**2)).abs() < 4 * d.std() / math.sqrt(len(d))
    # and the losses themselves differ, by far more than their noise
    losses = {k: sm.dsm_loss(f, x, sigma, noise).mean() for k, f in scores.items()}
    assert losses["the truth"] < losses["zero"] - 0.5 and losses["the truth"] < losses["linear"]


def test_annealed_langevin_keeps_the_mode_weights_and_plain_langevin_does_not():
    """Lecture 07's mixture (0.7 and 0.3, modes 8 apart), chains started wide: with the exact
    blurred scores, annealed Langevin ends with the left mode's share near 0.7; plain
    Langevin with the score at the smallest level (sigma 0.1), as many steps (2,000) at step
    0.02, keeps the share its starts had (about one half).

    The setting is one at which the sampler's own error is small: 20 levels of 100 steps at
    eps = 0.002 (each level's step 0.2 of its sigma^2 at the last); benchmarks.diffusion
    measures it within about 0.005 of 0.7 over 10 seeds of 10,000 chains."""
    g = torch.Generator().manual_seed(3)
    n = 4000
    sigmas = sm.geometric_sigmas(10.0, 0.1, 20)

    def score(y, sigma):
        return sm.mixture_score(y, WEIGHTS, MEANS, sm.noised_stds(STDS, sigma))

    x0 = 10 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    annealed = sm.annealed_langevin(score, x0, sigmas, 100, 0.002, generator=g)
    plain = sm.langevin(lambda y: score(y, sigmas[-1]), x0, 0.02, 2000, generator=g)
    share = {k: (v[:, 0] < 0).double().mean().item() for k, v in (("a", annealed), ("p", plain))}
    se = math.sqrt(0.7 * 0.3 / n)
    assert abs(share["a"] - 0.7) < 4 * se, share
    assert abs(share["p"] - 0.5) < 0.05 and share["p"] < 0.7 - 0.1, share
    # within a mode the annealed chains have the data's spread
    left = annealed[annealed[:, 0] < 0, 0]
    assert abs(left.mean().item() + 4) < 0.1 and abs(left.std().item() - 1) < 0.1
    with pytest.raises(ValueError, match="sigmas must be > 0 and decreasing"):
        sm.annealed_langevin(score, x0, sigmas[::-1], 10, 0.02)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="dsm_loss: sigma must be a positive number"):
        sm.dsm_loss(lambda y, s: y, torch.zeros(2, 1), 0.0, torch.zeros(2, 1))
    with pytest.raises(ValueError, match="dsm_loss: noise must have x's shape"):
        sm.dsm_loss(lambda y, s: y, torch.zeros(2, 1), 0.5, torch.zeros(3, 1))
    with pytest.raises(ValueError, match="langevin: step must be a positive number"):
        sm.langevin(lambda y: y, torch.zeros(2, 1), -1.0, 3)
    with pytest.raises(ValueError, match="geometric_sigmas: need sigma_max > sigma_min"):
        sm.geometric_sigmas(0.1, 1.0, 5)
    assert sm.geometric_sigmas(10.0, 0.1, 3) == pytest.approx([10.0, 1.0, 0.1])


def test_dsm_loss_with_one_sigma_per_example_is_each_levels_loss():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    noise = torch.randn(6, 2, generator=g, dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.5, 2.0, 0.1, 0.5, 2.0], dtype=torch.float64)

    def score(y, s):  # reads its sigma: a number or (N,)
        s = torch.as_tensor(s, dtype=y.dtype).reshape(-1, 1)
        return -y / (1 + s**2)

    each = torch.stack(
        [
            sm.dsm_loss(score, x[i : i + 1], s.item(), noise[i : i + 1])[0]
            for i, s in enumerate(sigma)
        ]
    )
    torch.testing.assert_close(sm.dsm_loss(score, x, sigma, noise), each)
    with pytest.raises(ValueError, match=r"one per example \(6,\), got shape \(3,\)"):
        sm.dsm_loss(score, x, sigma[:3], noise)


def test_the_score_net_is_divided_by_sigma_and_reads_one_sigma_or_one_each():
    torch.manual_seed(0)
    model = sm.ScoreNet([4.0, 1.0, 0.25], dim=3, hidden=16, layers=2, data_std=2.0)
    x = torch.randn(5, 3)
    sig = torch.tensor([0.3, 0.3, 0.3, 0.3, 0.3])
    torch.testing.assert_close(model(x, 0.3), model(x, sig))
    # the network's raw output is sigma * score, read at x / sqrt(data_std^2 + sigma^2)
    raw = model.net(torch.cat([x / (4.0 + 0.09) ** 0.5, torch.full((5, 1), 0.3).log()], 1))
    torch.testing.assert_close(model(x, 0.3) * 0.3, raw)
    assert model(x, sig).shape == (5, 3) and model.sigmas.tolist() == [4.0, 1.0, 0.25]
    with pytest.raises(ValueError, match="ScoreNet: sigmas must be a 1-D list of numbers > 0"):
        sm.ScoreNet([1.0, -0.1])
    with pytest.raises(ValueError, match="ScoreNet: data_std must be a positive number"):
        sm.ScoreNet([1.0], data_std=0)


def test_fit_learns_the_blurred_score_of_a_gaussian_at_every_level():
    """Data N(2, 0.5^2) in 1-D: the score of its blur by sigma is -(x - 2) / (0.25 + sigma^2),
    and the trained network comes within 10% of it (RMS, on blurred data) at every level."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(6)
    sigmas = sm.geometric_sigmas(3.0, 0.3, 4)
    model = sm.ScoreNet(sigmas, dim=1, hidden=32, layers=2, data_std=2.0)

    def sample(n):
        return 2 + 0.5 * torch.randn(n, 1, generator=g)

    history = sm.fit(model, sample, 3000, batch_size=256, lr=3e-3, progress=False)
    losses = [v for _, v in history["loss"]]
    assert sum(losses[-5:]) < sum(losses[:5])
    for sigma in sigmas:
        y = sample(4000) + sigma * torch.randn(4000, 1, generator=g)
        truth = -(y - 2) / (0.25 + sigma**2)
        with torch.no_grad():
            err = (model(y, sigma) - truth).pow(2).mean().sqrt() / truth.pow(2).mean().sqrt()
        assert err < 0.1, (sigma, err.item())
    with pytest.raises(TypeError, match="config must be a dgm.score.FitConfig"):
        sm.fit(model, sample, 1, config=object())
