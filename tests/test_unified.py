"""Lecture 05: the two KL directions, and the IWGAN and AA-VAE transfers."""

import math

import pytest
import torch

from dgm import densities, gan, unified, vae

XS = torch.linspace(-20, 20, 80_001, dtype=torch.float64)  # wide: KL(p || q) weighs tails
DX = (XS[1] - XS[0]).item()


@pytest.mark.parametrize("mu_q,s_q,mu_p,s_p", [(0, 1, 0, 1), (1.0, 0.5, -0.5, 2.0), (3, 2, 0, 0.7)])
def test_quadrature_kl_of_gaussians_matches_the_closed_form_in_both_directions(
    mu_q, s_q, mu_p, s_p
):
    log_q = densities.normal_log_prob(XS, mu_q, s_q)
    log_p = densities.normal_log_prob(XS, mu_p, s_p)
    exact_qp = unified.gaussian_kl_1d(mu_q, s_q, mu_p, s_p)
    exact_pq = unified.gaussian_kl_1d(mu_p, s_p, mu_q, s_q)
    assert densities.kl_by_quadrature(log_q, log_p, DX).item() == pytest.approx(
        exact_qp.item(), rel=1e-7, abs=1e-9
    )
    assert densities.kl_by_quadrature(log_p, log_q, DX).item() == pytest.approx(
        exact_pq.item(), rel=1e-7, abs=1e-9
    )


def test_closed_form_kl_agrees_with_the_vae_lectures_kl_to_a_standard_normal():
    mu, log_var = torch.tensor([[0.3, -1.2]]), torch.tensor([[0.5, -0.7]])
    ours = unified.gaussian_kl_1d(mu, (0.5 * log_var).exp(), 0.0, 1.0).sum()
    assert ours.item() == pytest.approx(vae.gaussian_kl(mu, log_var).item(), rel=1e-6)


BIMODAL = dict(weights=[0.5, 0.5], means=[-2.0, 2.0], stds=[0.5, 0.5])
# the fits take 1,500 Adam steps, each a quadrature: on a grid 10 times coarser (100 points
# per standard deviation of the modes) the integrals agree with XS's to far below the
# tolerances asserted
FIT_XS = torch.linspace(-20, 20, 8_001, dtype=torch.float64)


def test_forward_kl_fit_matches_the_moments_of_the_target():
    """Minimising KL(p || q) over Gaussians q is moment matching: mean 0, var 4 + 0.25."""
    log_p = densities.normal_mixture_log_prob(FIT_XS, **BIMODAL)
    mu, s = unified.fit_gaussian_1d(log_p, FIT_XS, "forward", init=(0.5, 1.0), steps=1500)
    assert mu == pytest.approx(0.0, abs=1e-3) and s == pytest.approx(math.sqrt(4.25), rel=1e-3)


def test_reverse_kl_fit_seeks_one_mode():
    """KL(q || p) from a start right of 0 collapses onto the right mode, N(2, 0.5^2)."""
    mu, s = unified.fit_gaussian_1d(
        densities.normal_mixture_log_prob(FIT_XS, **BIMODAL), FIT_XS, "reverse", steps=1500
    )
    log_p = densities.normal_mixture_log_prob(XS, **BIMODAL)
    assert mu == pytest.approx(2.0, abs=0.01) and s == pytest.approx(0.5, rel=0.02)
    # and the two fits are each worse in the other's objective
    mu_f, s_f = 0.0, math.sqrt(4.25)
    kl = lambda a, b: densities.kl_by_quadrature(a, b, DX).item()  # noqa: E731
    q_seek, q_cover = densities.normal_log_prob(XS, mu, s), densities.normal_log_prob(XS, mu_f, s_f)
    assert kl(q_seek, log_p) < kl(q_cover, log_p) and kl(log_p, q_cover) < kl(log_p, q_seek)


def test_sampled_kl_estimates_are_unbiased_up_to_their_constants(gen):
    """2-D: the reparameterized KL(q || p) matches the closed form; -E_p log q is KL + H(p)."""
    torch.manual_seed(0)
    mu, log_s = torch.tensor([0.5, -1.0]), torch.tensor([0.2, -0.3])
    target_mu, target_s = torch.tensor([1.0, 0.0]), torch.tensor([0.8, 1.5])

    def log_p(z):
        return densities.gaussian_log_prob(z, target_mu, 2 * target_s.log())

    exact = unified.gaussian_kl_1d(mu, log_s.exp(), target_mu, target_s).sum().item()
    assert unified.reverse_kl_estimate(mu, log_s, log_p, n=200_000).item() == pytest.approx(
        exact, abs=0.01
    )
    samples = target_mu + target_s * torch.randn(200_000, 2, generator=gen)
    entropy_p = (0.5 * math.log(2 * math.pi * math.e) + target_s.log()).sum().item()
    forward = unified.gaussian_kl_1d(target_mu, target_s, mu, log_s.exp()).sum().item()
    est = unified.forward_kl_estimate(mu, log_s, samples).item()
    assert est == pytest.approx(forward + entropy_p, abs=0.02)


def test_iwgan_weights_are_the_normalised_density_ratio_and_carry_no_gradient():
    logits = torch.tensor([0.0, 1.0, -2.0, 3.0], requires_grad=True)
    w = unified.iwgan_weights(logits)
    d = torch.sigmoid(logits.detach())
    ratio = d / (1 - d)  # p_data / p_g at the optimal discriminator
    torch.testing.assert_close(w, ratio / ratio.sum())
    assert not w.requires_grad and w.sum().item() == pytest.approx(1.0)


def test_effective_sample_size_runs_from_one_to_n_and_counts_equal_shares():
    assert unified.effective_sample_size(torch.full((64,), 1 / 64)) == pytest.approx(64)
    assert unified.effective_sample_size(torch.tensor([1.0, 0.0, 0.0])) == pytest.approx(1)
    # k equal weights among n: exactly k samples carry the average
    w = torch.tensor([0.25, 0.25, 0.25, 0.25, 0.0, 0.0])
    assert unified.effective_sample_size(w) == pytest.approx(4)
    w = unified.iwgan_weights(torch.randn(256, generator=torch.Generator().manual_seed(0)) * 3)
    assert 1 < unified.effective_sample_size(w) < 256


@pytest.mark.parametrize(
    "w", [torch.tensor([0.5, 0.6]), torch.tensor([1.5, -0.5]), torch.ones(2, 2) / 4]
)
def test_effective_sample_size_rejects_unnormalised_or_misshapen_weights(w):
    with pytest.raises(ValueError, match="effective_sample_size: weights"):
        unified.effective_sample_size(w)


def test_iwgan_loss_with_equal_logits_is_the_nonsaturating_loss():
    logits = torch.full((8,), 0.7, requires_grad=True)
    per_pack = gan.generator_loss_nonsaturating(logits)
    ours = (unified.iwgan_weights(logits) * per_pack).sum()  # how gan.fit reduces with weights
    base = gan.generator_loss_nonsaturating(logits).mean()
    assert ours.item() == pytest.approx(base.item())
    (g1,) = torch.autograd.grad(ours, logits)
    (g2,) = torch.autograd.grad(base, logits)
    torch.testing.assert_close(g1, g2)


def test_aa_vae_loss_with_zero_weight_is_the_vae_loss_and_only_d_loss_trains_d():
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(hidden=(32,), z_dim=4))
    disc = torch.nn.Sequential(torch.nn.Linear(784, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    x = torch.bernoulli(torch.full((10, 784), 0.2))
    fake = torch.bernoulli(model.sample(10))
    torch.manual_seed(1)
    vae_loss, d_loss = unified.aa_vae_loss(model, disc, x, fake, weight=0.0)
    assert vae_loss.shape == d_loss.shape == (10,)  # one value per pair
    torch.manual_seed(1)
    torch.testing.assert_close(vae_loss, model.loss(x))
    torch.testing.assert_close(d_loss, gan.discriminator_loss(disc(x)[:, 0], disc(fake)[:, 0]))
    assert all(g is not None for g in torch.autograd.grad(d_loss.mean(), list(disc.parameters())))
    torch.manual_seed(1)
    vae_loss, _ = unified.aa_vae_loss(model, disc, x, fake, weight=1.0)
    unused = torch.autograd.grad(vae_loss.sum(), list(disc.parameters()), allow_unused=True)
    assert all(g is None for g in unused)  # D(x) enters the VAE loss as a constant


def test_aa_vae_weights_each_generated_sample_by_how_real_it_looks():
    """With D = 1 everywhere the extra term is the plain -ELBO of the generated batch."""
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(hidden=(32,), z_dim=4))

    class Sure(torch.nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0], 1), 50.0)  # sigmoid(50) = 1 in float32

    x = torch.bernoulli(torch.full((6, 784), 0.2))
    fake = torch.bernoulli(model.sample(6))
    torch.manual_seed(3)
    total, _ = unified.aa_vae_loss(model, Sure(), x, fake, weight=0.5)
    torch.manual_seed(3)
    expected = model.loss(x) + 0.5 * model.loss(fake)
    torch.testing.assert_close(total, expected, rtol=1e-6, atol=1e-4)


def test_fit_aa_vae_lowers_the_loss_and_trains_both_networks():
    torch.manual_seed(0)
    x = (torch.rand(200, 784) < torch.linspace(0.05, 0.6, 784)).float()  # pixel-wise rates
    model = vae.VAE(vae.VAEConfig(hidden=(32,), z_dim=4))
    disc = torch.nn.Sequential(torch.nn.Linear(784, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    before = [p.detach().clone() for p in disc.parameters()]
    history = unified.fit_aa_vae(model, disc, x, 150, weight=0.5, batch_size=50, progress=False)
    losses = [v for _, v in history["loss"]]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    assert any(not torch.equal(a, b) for a, b in zip(before, disc.parameters()))


# --- Hu et al.'s Lemma 1, checked by finite differences on a 1-D Gaussian generator

GRID = torch.linspace(-10, 10, 20_001, dtype=torch.float64)
GRID_DX = (GRID[1] - GRID[0]).item()
LOG_DATA = densities.normal_mixture_log_prob(GRID, [0.5, 0.5], [-2.0, 2.0], [0.5, 0.5])
THETA0 = (1.6, math.log(0.8))  # a generator that has found one of the two modes


def log_generator(theta):
    return densities.normal_log_prob(GRID, theta[0], math.exp(theta[1]))


finite_difference = densities.finite_difference


DISCRIMINATORS = {
    "optimal": LOG_DATA - log_generator(THETA0),  # log D* - log(1 - D*)
    "sub-optimal (logistic)": 0.3 + 0.7 * GRID,
}


@pytest.mark.parametrize("which", sorted(DISCRIMINATORS))
def test_lemma_1_holds_with_the_marginal(which):
    logit = DISCRIMINATORS[which]
    log_g0 = log_generator(THETA0)

    def side(k):
        return lambda theta: unified.lemma1_sides(
            log_generator(theta), log_g0, LOG_DATA, logit, GRID_DX
        )[k].item()

    left, right = finite_difference(side(0), THETA0), finite_difference(side(1), THETA0)
    assert left.abs().max() > 0.05  # a real gradient, not 0 = 0
    torch.testing.assert_close(left, right, atol=1e-7, rtol=1e-6)


def test_lemma1_gradients_agree_for_both_discriminators():
    for logit in DISCRIMINATORS.values():
        left, right = unified.lemma1_gradients(THETA0, logit, LOG_DATA, GRID)
        torch.testing.assert_close(left, right, atol=1e-7, rtol=1e-6)
        assert left.dtype == torch.float64 and left.shape == (2,)


def test_finite_difference_is_exact_on_a_quadratic():
    grad = densities.finite_difference(lambda t: 3 * t[0] ** 2 - t[0] * t[1], [1.0, 2.0])
    torch.testing.assert_close(grad, torch.tensor([4.0, -1.0], dtype=torch.float64))


def test_lemma_1_is_false_with_the_conditional_in_place_of_the_marginal():
    """q^r(x | y) ∝ q^r(y | x) p_theta0(x | y), the statement the lecture used to make."""
    log_g0 = log_generator(THETA0)
    logit = DISCRIMINATORS["optimal"]

    def wrong_right_side(theta):
        log_g = log_generator(theta)
        log_qr0 = torch.nn.functional.logsigmoid(logit) + log_g0
        log_qr0 = log_qr0 - torch.logsumexp(log_qr0, 0) - math.log(GRID_DX)
        kl = densities.kl_by_quadrature(log_g, log_qr0, GRID_DX)
        return (0.5 * kl - densities.jsd_by_quadrature(log_g, LOG_DATA, GRID_DX)).item()

    def left(theta):
        return unified.lemma1_sides(log_generator(theta), log_g0, LOG_DATA, logit, GRID_DX)[
            0
        ].item()

    gap = finite_difference(left, THETA0) - finite_difference(wrong_right_side, THETA0)
    assert gap.abs().max() > 0.05


def test_at_the_optimal_discriminator_qr_for_generated_samples_is_the_data():
    log_g0 = log_generator(THETA0)
    log_qr0, _ = unified.qr_posteriors(LOG_DATA - log_g0, log_g0, LOG_DATA, GRID_DX)
    torch.testing.assert_close(log_qr0.exp(), LOG_DATA.exp(), atol=1e-10, rtol=0)
    # half of q^r's mass sits on the mode the generator misses
    assert (log_qr0.exp()[GRID < 0].sum() * GRID_DX).item() == pytest.approx(0.5, abs=1e-6)


def test_the_nonsaturating_generator_at_d_star_follows_kl_minus_two_jsd():
    """grad E_{p_g}[-log D*(x)] = grad [KL(p_g || p_data) - 2 JSD(p_g || p_data)] at theta0."""
    log_g0 = log_generator(THETA0)
    log_d_star = LOG_DATA - torch.logaddexp(LOG_DATA, log_g0)

    def nonsaturating(theta):
        return -(log_generator(theta).exp() * log_d_star).sum().item() * GRID_DX

    def kl_minus_two_jsd(theta):
        log_g = log_generator(theta)
        kl = densities.kl_by_quadrature(log_g, LOG_DATA, GRID_DX)
        return (kl - 2 * densities.jsd_by_quadrature(log_g, LOG_DATA, GRID_DX)).item()

    torch.testing.assert_close(
        finite_difference(nonsaturating, THETA0),
        finite_difference(kl_minus_two_jsd, THETA0),
        atol=1e-7,
        rtol=1e-6,
    )


def test_lemma1_minimum_is_a_stationary_point_the_build_returns():
    mixture = {"weights": [0.4, 0.6], "means": [-2.0, 2.0], "stds": [0.5, 0.6]}

    def log_p_data(x):
        return densities.normal_mixture_log_prob(x, **mixture)

    theta0 = torch.tensor([1.4, math.log(0.9)], dtype=torch.float64)
    star = unified.lemma1_minimum(log_p_data, theta0)
    # the objective's gradient vanishes there, by quadrature on the build's grid
    xs = torch.linspace(*unified.LEMMA1_GRID, dtype=torch.float64)
    theta = star.clone().requires_grad_()
    log_g = densities.normal_log_prob(xs, theta[0], theta[1].exp())
    unified.lemma1_objective(log_g, log_p_data(xs), (xs[1] - xs[0]).item()).backward()
    assert theta.grad.abs().max() < 1e-6
    assert abs(star[0] - 2.0) < 0.1  # started near the mode at +2, it settles on it
    # the build's answer returns it as its fourth output, whatever its steps
    *_, theta_star = unified.train_gaussian_generator(log_p_data, theta0, 2, 0.05, 8)
    assert torch.equal(theta_star, star)
