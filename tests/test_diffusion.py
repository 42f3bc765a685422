"""Lecture 09's diffusion identities: the forward process's closed form, Tweedie's formula,
and the reverse steps with the exact noise prediction."""

import math

import pytest
import torch

from dgm import diffusion as dm


def test_the_steps_are_counted_from_zero_so_step_t_is_t_plus_one_noisings():
    """Large betas, where one step more or less shows: after step t = 0 the variance is
    beta_0, after t = 2 it is 1 - (1 - beta_0)(1 - beta_1)(1 - beta_2)."""
    g = torch.Generator().manual_seed(8)
    betas = dm.linear_betas(5, 0.3, 0.5)
    x0 = torch.zeros(20_000, 1, dtype=torch.float64)
    for t, var in ((0, 0.3), (2, 1 - 0.7 * 0.65 * 0.6)):
        x = dm.forward_steps(x0, betas, t, generator=g)
        assert abs(x.var().item() / var - 1) < 4 * math.sqrt(2 / len(x)), t
    assert dm.alpha_bars(betas)[2].item() == pytest.approx(0.7 * 0.65 * 0.6)


def test_the_closed_form_forward_process_matches_the_steps():
    g = torch.Generator().manual_seed(4)
    betas = dm.linear_betas(200, 1e-3, 0.05)
    abar = dm.alpha_bars(betas)
    x0 = torch.tensor([[1.5, -2.0]], dtype=torch.float64).expand(20_000, 2)
    t = 120
    stepped = dm.forward_steps(x0, betas, t, generator=g)
    closed = dm.q_sample(x0, t, abar, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    torch.testing.assert_close(abar[t], torch.prod(1 - betas[: t + 1]))  # steps 0, ..., t
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


def test_a_clipped_ddim_step_noises_back_the_clamped_prediction_and_is_a_no_op_in_range():
    """With clip, the step's implied x_0 (read back from its output with the noise it used)
    is the predicted x_0 clamped to [-1, 1], and the last step returns it; where the
    prediction is in range, the clipped step is the plain one; sample_ddim passes clip on."""
    g = torch.Generator().manual_seed(8)
    abar = dm.alpha_bars(dm.linear_betas(1000)).double()
    x_t = 1.2 * torch.randn(500, 1, generator=g, dtype=torch.float64)
    eps = 0.3 * torch.randn(x_t.shape, generator=g, dtype=torch.float64)
    t, t_prev = 100, 60
    a, a_prev = abar[t], abar[t_prev]
    predicted = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    out_of_range = (predicted.abs() > 1).double().mean()
    assert 0.2 < out_of_range < 0.8  # the same batch holds both kinds
    clipped = predicted.clamp(-1, 1)
    used = (x_t - a.sqrt() * clipped) / (1 - a).sqrt()
    step = dm.ddim_step(x_t, t, t_prev, eps, abar, clip=True)
    torch.testing.assert_close(step, a_prev.sqrt() * clipped + (1 - a_prev).sqrt() * used)
    inside = predicted.abs() <= 1
    plain = dm.ddim_step(x_t, t, t_prev, eps, abar)
    torch.testing.assert_close(step[inside], plain[inside])
    assert not torch.allclose(step[~inside], plain[~inside])
    torch.testing.assert_close(dm.ddim_step(x_t, t, -1, eps, abar, clip=True), clipped)

    class Zero(torch.nn.Module):  # eps = 0: x_0 = x_t / sqrt(abar_t), out of range early on
        def forward(self, x, t):
            return torch.zeros_like(x)

    model = dm.DDPM(Zero(), T=50)
    by_hand = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    ts = torch.linspace(49, 0, 5).round().long().tolist()
    for t, t_prev in zip(ts, ts[1:] + [-1]):
        by_hand = dm.ddim_step(by_hand, t, t_prev, torch.zeros_like(by_hand), model.abar, True)
    clipped_run = dm.sample_ddim(model, 3, 5, torch.Generator().manual_seed(1), clip=True)
    torch.testing.assert_close(clipped_run, dm.to_images(by_hand))
    plain_run = dm.sample_ddim(model, 3, 5, torch.Generator().manual_seed(1))
    assert not torch.equal(clipped_run, plain_run)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="linear_betas: need T >= 1"):
        dm.linear_betas(0)


def test_the_step_embedding_is_sines_and_cosines_of_the_step():
    emb = dm.timestep_embedding(torch.tensor([0, 7]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = 10_000 ** (-torch.arange(4) / 4)
    torch.testing.assert_close(emb[1], torch.cat([(7 * freqs).sin(), (7 * freqs).cos()]))


def test_the_unet_predicts_zero_at_first_and_its_last_layer_learns_at_once():
    torch.manual_seed(0)
    net = dm.UNet(channels=8)
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 500, 999])
    assert net(x, t).shape == (3, 1, 28, 28) and net(x, t).abs().max() == 0
    model = dm.DDPM(net, T=1000)
    # with a zero prediction the loss is the noise's mean square: about 1 per example
    loss = model.loss(2 * torch.rand(64, 1, 28, 28) - 1)
    assert loss.shape == (64,) and abs(loss.mean().item() - 1) < 0.01
    loss.mean().backward()
    # the zero last layer gets a gradient at once; the rest once it is nonzero
    assert net.conv_out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="UNet: channels must be a multiple of 8, got 12"):
        dm.UNet(channels=12)


class GaussianOracle(torch.nn.Module):
    """The exact noise prediction when every pixel of x_0 is N(m, s^2) on its own:
    ``E[eps | x_t] = sqrt(1 - abar_t) (x_t - sqrt(abar_t) m) / (abar_t s^2 + 1 - abar_t)``."""

    def __init__(self, abar, m, s):
        super().__init__()
        self.abar, self.m, self.s = abar, m, s
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        a = self.abar[t].reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * self.m) / (a * self.s**2 + 1 - a)


def test_both_samplers_draw_the_data_with_the_exact_noise_prediction():
    """Pixels N(0.2, 0.3^2) on the model's scale, i.e. images of mean 0.6 and sd 0.15: the
    ancestral sampler through all T steps and DDIM through all T steps both return them.
    DDIM in fewer steps keeps the mean and shrinks the spread. Each DDIM step is an Euler
    step of an ODE (in x / sqrt(abar) against sigma = sqrt((1 - abar) / abar)) along which
    the distance to the mean falls as sqrt(s^2 + sigma^2): convex in sigma, so Euler, which
    takes the slope where a step starts, the steeper one, overshoots toward the mean."""
    g = torch.Generator().manual_seed(7)
    T = 100
    abar = dm.alpha_bars(dm.linear_betas(T, 1e-3, 0.2)).float()
    model = dm.DDPM(GaussianOracle(abar, 0.2, 0.3), T=T, beta_1=1e-3, beta_T=0.2)
    for images in (dm.sample_ddpm(model, 400, g), dm.sample_ddim(model, 400, T, g)):
        assert images.shape == (400, 784)
        assert abs(images.mean().item() - 0.6) < 0.002
        assert abs(images.std().item() - 0.15) < 0.01
    spread = [dm.sample_ddim(model, 400, k, g).std().item() for k in (T, 20, 10)]
    assert spread[0] > spread[1] + 0.01 > spread[2] + 0.02, spread
    with pytest.raises(ValueError, match=r"sample_ddim: steps must be an int in \[1, 100\]"):
        dm.sample_ddim(model, 2, 0)


def test_fit_lowers_the_loss_keeps_an_average_and_resumes(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(64, 784)
    model = dm.DDPM(dm.UNet(channels=8), T=100)
    start = [p.clone() for p in model.net_average.parameters()]
    ckpt = tmp_path / "ddpm.pt"
    history = dm.fit(model, x, 30, batch_size=16, warmup=5, checkpoint=ckpt, progress=False)
    assert len(history["loss"]) >= 1 and ckpt.exists()
    moved = [not torch.equal(a, b) for a, b in zip(start, model.net_average.parameters())]
    assert any(moved)
    # the average trails the weights: it is neither the start nor the network
    assert any(
        not torch.equal(a, p)
        for a, p in zip(model.net_average.parameters(), model.net.parameters())
    )
    resumed = dm.DDPM(dm.UNet(channels=8), T=100)
    dm.fit(resumed, x, 30, batch_size=16, warmup=5, checkpoint=ckpt, progress=False)
    for a, b in zip(resumed.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_the_shipped_ddpm_is_hash_checked_and_draws_digit_like_images(tmp_path):
    model = dm.pretrained_ddpm("cpu")
    assert not any(p.requires_grad for p in model.parameters())
    for a, b in zip(model.net.parameters(), model.net_average.parameters()):
        assert torch.equal(a, b)
    images = dm.sample_ddim(model, 8, 10, torch.Generator().manual_seed(0))
    assert images.shape == (8, 784) and 0 <= images.min() and images.max() <= 1
    # mostly dark background with some bright strokes, as MNIST (mean intensity 0.13)
    assert 0.05 < images.mean().item() < 0.25 and (images > 0.5).float().mean() > 0.03
    bad = tmp_path / "ddpm.pt"
    data = bytearray(dm.DDPM_WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        dm.pretrained_ddpm("cpu", path=bad)
