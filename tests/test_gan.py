import math

import pytest
import torch

from dgm import data, gan, metrics


def normal_log_pdf(x, mu, s):
    return -0.5 * ((x - mu) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))


def test_training_a_discriminator_recovers_the_optimal_one():
    """Logistic regression on (1, x, x^2) can represent log(p / q) of two Gaussians exactly,
    so minimising the discriminator loss must land on D* = p / (p + q)."""
    g = torch.Generator().manual_seed(0)
    real = 1.0 + 0.5 * torch.randn(40_000, generator=g, dtype=torch.float64)
    fake = -0.5 + 1.0 * torch.randn(40_000, generator=g, dtype=torch.float64)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)

    def logits(x):
        return w[0] + w[1] * x + w[2] * x**2

    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = gan.discriminator_loss(logits(real), logits(fake)).mean()
        loss.backward()
        return loss

    opt.step(closure)
    x = torch.linspace(-1.5, 2.5, 41, dtype=torch.float64)
    exact = gan.optimal_discriminator(
        normal_log_pdf(x, 1.0, 0.5).exp(), normal_log_pdf(x, -0.5, 1.0).exp()
    )
    assert torch.allclose(torch.sigmoid(logits(x)).detach(), exact, atol=0.02)


def test_value_at_the_optimal_discriminator_is_minus_log4_plus_twice_the_jsd():
    x = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    for (m1, s1), (m2, s2) in [((0, 1), (0, 1)), ((0, 1), (1.5, 0.7)), ((-3, 0.5), (3, 0.5))]:
        lp, lq = normal_log_pdf(x, m1, s1), normal_log_pdf(x, m2, s2)
        value = gan.game_value_at_optimum(lp, lq, dx)
        assert value == pytest.approx(-math.log(4) + 2 * gan.jensen_shannon(lp, lq, dx), abs=1e-6)
    assert gan.jensen_shannon(lp, lq, dx) == pytest.approx(math.log(2), abs=1e-6)  # disjoint: log 2
    same = normal_log_pdf(x, 0, 1)
    assert gan.jensen_shannon(same, same, dx) == pytest.approx(0.0, abs=1e-12)


def test_minimax_generator_loss_saturates_where_the_nonsaturating_one_does_not():
    d = torch.tensor([1e-3, 0.5, 0.999], dtype=torch.float64)
    logits = torch.log(d) - torch.log1p(-d)
    logits.requires_grad_(True)
    (g_mm,) = torch.autograd.grad(gan.generator_loss_minimax(logits).sum(), logits)
    (g_ns,) = torch.autograd.grad(gan.generator_loss_nonsaturating(logits).sum(), logits)
    # d/dl log(1 - sigmoid(l)) = -D, d/dl -log sigmoid(l) = -(1 - D)
    assert torch.allclose(g_mm, -d) and torch.allclose(g_ns, -(1 - d))
    assert abs(g_mm[0]) < 0.01 < 0.99 < abs(g_ns[0])  # the discriminator wins: only NS still pushes


def test_losses_stay_finite_for_confident_discriminators():
    logits = torch.tensor([-200.0, 0.0, 200.0])
    for value in (
        gan.discriminator_loss(logits, -logits),
        gan.generator_loss_minimax(logits),
        gan.generator_loss_nonsaturating(logits),
    ):
        assert torch.isfinite(value).all()
    with pytest.raises(ValueError, match="differ in shape"):
        gan.discriminator_loss(logits, logits[:2])


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).reshape(6, 2)
    packed = gan.pack(x, 3)
    assert packed.shape == (2, 6) and torch.equal(packed[1], torch.tensor([6.0, 7, 8, 9, 10, 11]))
    with pytest.raises(ValueError, match="multiple"):
        gan.pack(x, 4)


def test_mode_coverage_on_constructed_samples():
    centres, std = data.grid_centres(), 0.05
    g = torch.Generator().manual_seed(0)
    perfect = data.gaussian_grid(5000, std=std, generator=g, device="cpu")
    modes, hq = metrics.mode_coverage(perfect, centres, std)
    p_within = 1 - math.exp(
        -4.5
    )  # a 2-D Gaussian point lies within 3 std of its mean w.p. 1 - e^{-9/2}
    assert modes == 25 and abs(hq - p_within) < 3 * math.sqrt(p_within * (1 - p_within) / 5000)
    collapsed = centres[[0, 7, 7, 13]].repeat(100, 1)  # exactly on 3 of the 25 centres
    assert metrics.mode_coverage(collapsed, centres, std) == (3, 1.0)
    far = torch.full((50, 2), 1.0)  # between the centres, 1.41 from the nearest
    assert metrics.mode_coverage(far, centres, std) == (0, 0.0)
    half = torch.cat([collapsed[:4], far[:4]])
    assert metrics.mode_coverage(half, centres, std) == (3, 0.5)
    assert (
        metrics.mode_coverage(collapsed, centres, std, min_count=150)[0] == 1
    )  # only centre 7 has 200
    with pytest.raises(ValueError, match="samples"):
        metrics.mode_coverage(perfect[:, :1], centres, std)
