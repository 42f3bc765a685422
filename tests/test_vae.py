import math

import pytest
import torch

from dgm import densities, metrics, vae


@pytest.fixture
def model(gen):
    """A linear-Gaussian model, D = 5 observed, d = 3 latent, float64."""
    W = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(5, generator=gen, dtype=torch.float64)
    return vae.LinearGaussian(W, b, sigma=0.7)


def data_from(model, gen, n=64):
    z = torch.randn(n, model.d, generator=gen, dtype=torch.float64)
    return (
        z @ model.W.T
        + model.b
        + model.sigma * torch.randn(n, model.D, generator=gen, dtype=torch.float64)
    )


def test_elbo_plus_posterior_kl_equals_log_likelihood(model, gen):
    x = data_from(model, gen)
    mu = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    log_var = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    lhs = model.log_px(x)
    rhs = model.elbo(x, mu, log_var) + model.posterior_kl(x, mu, log_var)
    assert torch.allclose(lhs, rhs, atol=1e-5)
    assert (model.posterior_kl(x, mu, log_var) > 0).all()


def test_exact_elbo_matches_its_monte_carlo_estimate(model, gen):
    x = data_from(model, gen, n=4)
    mu, log_var = (
        torch.zeros(4, 3, dtype=torch.float64),
        torch.full((4, 3), -1.0, dtype=torch.float64),
    )
    z = vae.reparameterize(mu, log_var, n_samples=200_000, generator=gen)  # (S, 4, 3)
    mc = (model.log_joint(x, z) - densities.gaussian_log_prob(z, mu, log_var)).mean(0)
    assert torch.allclose(mc, model.elbo(x, mu, log_var), atol=0.05)


def test_gaussian_kl_matches_closed_form_and_monte_carlo(gen):
    mu = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    log_var = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ref = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(vae.gaussian_kl(mu, log_var), ref, atol=1e-12)
    z = vae.reparameterize(mu, log_var, n_samples=400_000, generator=gen)
    mc = (densities.gaussian_log_prob(z, mu, log_var) - densities.standard_normal_log_prob(z)).mean(
        0
    )
    assert torch.allclose(mc, vae.gaussian_kl(mu, log_var), atol=0.05)


def test_reparameterized_samples_have_the_right_moments_and_gradients(gen):
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    log_var = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = vae.reparameterize(mu, log_var, n_samples=200_000, generator=gen)  # (S, 2)
    assert torch.allclose(z.mean(0), mu.detach(), atol=0.02)
    assert torch.allclose(z.var(0), torch.tensor([1.0, 4.0]), rtol=0.02)
    # mean of z^2 = 1/2 sum_j (mu_j^2 + sigma_j^2): d/dmu_j = mu_j, d/dlog_var_j = sigma_j^2 / 2
    (z**2).mean().backward()
    assert torch.allclose(mu.grad, mu.detach(), atol=0.02)
    assert torch.allclose(log_var.grad, torch.tensor([0.5, 2.0]), atol=0.03)
    with pytest.raises(ValueError, match="differ"):
        vae.reparameterize(mu, log_var[:1])


def test_bernoulli_log_likelihood_matches_torch_distributions(gen):
    x = torch.bernoulli(torch.full((3, 10), 0.4), generator=gen)
    logits = 30 * torch.randn(
        2, 3, 10, generator=gen
    )  # large logits: where probabilities underflow
    ref = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(-1)
    assert torch.allclose(densities.bernoulli_log_prob(x, logits), ref, atol=1e-4)
    assert torch.isfinite(densities.bernoulli_log_prob(x, logits)).all()


def test_negative_elbo_scales_the_kl_by_beta(gen):
    x = torch.bernoulli(torch.full((4, 784), 0.3), generator=gen)
    logits = torch.randn(4, 784, generator=gen)
    mu, log_var = torch.randn(4, 8, generator=gen), torch.randn(4, 8, generator=gen)
    base = -densities.bernoulli_log_prob(x, logits)
    for beta in (0.0, 1.0, 4.0):
        assert torch.allclose(
            vae.negative_elbo(x, logits, mu, log_var, beta),
            base + beta * vae.gaussian_kl(mu, log_var),
        )


def iwae_bounds(model, x, mu, log_var, ks, repeats, gen):
    out = {}
    for k in ks:
        z = vae.reparameterize(mu, log_var, n_samples=k * repeats, generator=gen).reshape(
            repeats, k, *mu.shape
        )
        log_w = model.log_joint(x, z) - densities.gaussian_log_prob(z, mu, log_var)  # (R, k, B)
        out[k] = torch.stack([vae.iwae_bound(lw) for lw in log_w]).mean(0)  # (B,)
    return out


def test_iwae_bound_is_at_least_the_elbo_and_grows_with_k(model, gen):
    x = data_from(model, gen, n=16)
    mu = torch.zeros(16, 3, dtype=torch.float64)
    log_var = torch.zeros(16, 3, dtype=torch.float64)  # the prior as proposal: a loose bound
    bounds = iwae_bounds(model, x, mu, log_var, (1, 5, 50, 500), repeats=200, gen=gen)
    # L_1 is the ELBO: its Monte Carlo average agrees with the exact value within 5 standard errors
    z = vae.reparameterize(mu, log_var, n_samples=20_000, generator=gen)
    log_w = model.log_joint(x, z) - densities.gaussian_log_prob(z, mu, log_var)  # (S, B)
    stderr = log_w.std(0) / math.sqrt(log_w.shape[0])
    assert ((log_w.mean(0) - model.elbo(x, mu, log_var)).abs() < 5 * stderr).all()
    means = [bounds[k].mean().item() for k in (1, 5, 50, 500)]
    assert means == sorted(means) and means[0] < means[-1] - 0.5
    assert means[-1] <= model.log_px(x).mean().item() + 0.05


def test_importance_sampling_recovers_a_known_likelihood(model, gen):
    x = data_from(model, gen, n=8)
    post_mu, post_cov = model.posterior(x)

    def proposal(xb, n, mu, log_var):
        z = vae.reparameterize(mu[: len(xb)], log_var[: len(xb)], n_samples=n, generator=gen)
        return model.log_joint(xb, z) - densities.gaussian_log_prob(
            z, mu[: len(xb)], log_var[: len(xb)]
        )

    # the exact posterior as proposal: every weight is p(x, z) / p(z | x) = p(x), for any K
    L = torch.linalg.cholesky(post_cov)

    def exact(xb, n):
        mu = post_mu[: len(xb)]
        z = mu + torch.randn(n, *mu.shape, dtype=mu.dtype, generator=gen) @ L.T  # (n, B, d)
        log_q = torch.distributions.MultivariateNormal(mu, post_cov).log_prob(z)
        return model.log_joint(xb, z) - log_q

    est = metrics.importance_log_likelihood(exact, x, k=10, chunk=3)
    assert torch.allclose(est, model.log_px(x), atol=1e-10)
    # a diagonal proposal, wider than the posterior: the estimate approaches log p(x) with K
    log_var = torch.log(2 * torch.diagonal(post_cov)).expand(8, -1)
    errors = [
        (
            metrics.importance_log_likelihood(
                lambda xb, n: proposal(xb, n, post_mu, log_var), x, k=k, chunk=700
            )
            - model.log_px(x)
        )
        .abs()
        .mean()
        for k in (1, 5000)
    ]
    assert errors[1] < 0.05 and errors[1] < errors[0] / 3
    with pytest.raises(ValueError, match="positive ints"):
        metrics.importance_log_likelihood(lambda xb, n: None, x, k=0)


def test_both_gradient_estimators_are_unbiased_and_reparam_has_less_variance(model, gen):
    x = data_from(model, gen, n=1)
    mu = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    log_var = torch.full((1, 3), -0.5, dtype=torch.float64)
    (exact,) = torch.autograd.grad(model.elbo(x, mu, log_var).sum(), mu)
    est = {
        name: torch.stack(
            [
                vae.elbo_gradient_estimates(
                    lambda z: model.log_joint(x, z), mu[0], log_var[0], 10, name, generator=gen
                )
                for _ in range(3000)
            ]
        )
        for name in ("reparam", "score", "score-baseline")
    }
    for name, g in est.items():
        stderr = g.std(0) / math.sqrt(len(g))
        assert ((g.mean(0) - exact[0]).abs() < 5 * stderr + 1e-9).all(), name
    assert (est["reparam"].var(0) < est["score"].var(0) / 10).all()
    # the baseline removes most of the score function's noise, not all of it
    assert (est["score-baseline"].var(0) < est["score"].var(0) / 2).all()
    assert (est["reparam"].var(0) < est["score-baseline"].var(0)).all()
    with pytest.raises(ValueError, match="n_samples >= 2"):
        vae.elbo_gradient_estimates(
            lambda z: model.log_joint(x, z), mu[0], log_var[0], 1, "score-baseline"
        )


@pytest.mark.parametrize("conv", [False, True])
def test_vae_shapes_and_a_few_steps_lower_the_loss(conv, gen):
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(z_dim=4, hidden=(32,), conv=conv, channels=4))
    x = torch.bernoulli(torch.full((16, 1, 28, 28), 0.2), generator=gen)
    mu, log_var = model.encode(x)
    assert mu.shape == log_var.shape == (16, 4)
    assert model.decode(mu).shape == (16, 784) and model.log_weights(x, 3).shape == (3, 16)
    assert model.sample(5).shape == (5, 784)
    model.set_output_bias(x.mean(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(x).mean().item()
    for _ in range(30):
        opt.zero_grad()
        model.loss(x).mean().backward()
        opt.step()
    assert model.loss(x).mean().item() < first


@pytest.mark.parametrize("conv", [False, True])
def test_set_output_bias_starts_the_decoder_at_the_mean_image(conv):
    model = vae.VAE(vae.VAEConfig(z_dim=4, hidden=(8,), conv=conv, channels=4))
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.zero_()  # the decoder's output is then its output bias alone
    mean = torch.linspace(0.05, 0.95, 784)
    model.set_output_bias(mean)
    probs = torch.sigmoid(model.decode(torch.randn(3, 4)))
    torch.testing.assert_close(probs, mean.expand(3, -1), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="pixel_mean must be a tensor of 784 values"):
        model.set_output_bias(torch.zeros(10))


def test_training_step_is_one_update_on_the_batch_loss():
    """It returns the batch's mean loss before the update, detached, and Adam has taken
    exactly one step; the IWAE's loss when the config says k > 1."""
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(x_dim=784, hidden=(8,), z_dim=2))
    x = (torch.rand(20, 784) < 0.3).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(1)
    expected = vae.batch_loss(model, x, vae.FitConfig(k=3))
    torch.manual_seed(1)
    got = vae.training_step(model, x, opt, vae.FitConfig(k=3))
    assert not got.requires_grad and got.shape == ()
    torch.testing.assert_close(got, expected.detach())
    assert all(int(s["step"]) == 1 for s in opt.state.values())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_fit_takes_the_recipe_from_its_config_and_overrides_by_keyword():
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(x_dim=784, hidden=(8,), z_dim=2))
    x = torch.rand(300, 784)
    state, step, mode = vae.fit_step(model, x, 10, vae.FitConfig(lr=1e-2, final_lr=0.1))
    opt = state["opt"]
    assert mode == "eager" and opt.param_groups[0]["eps"] == 1e-4
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2)  # step 0 runs at lr
    for i in range(10):
        step(i)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)  # the cosine's end
    history = vae.fit(model, x, 5, beta=2.0, batch_size=50, progress=False, log_every=1)
    assert len(history["loss"]) == 5
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        vae.fit(model, x, 5, k=0, progress=False)


def test_mlp_rejects_bad_sizes():
    from dgm import nets

    with pytest.raises(ValueError, match="sizes"):
        nets.mlp([784])
    with pytest.raises(ValueError, match="activation"):
        nets.mlp([2, 2], activation="swish")


def test_evaluating_uses_running_statistics_and_restores_the_mode():
    """Inside the block a batch-norm network maps each input alone (its running statistics,
    not the batch's); after it, even when the block raises, the model's own mode is back."""
    from dgm import nets

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    with nets.evaluating(net):
        assert not net.training
        torch.testing.assert_close(net(x)[:2], net(x[:2]))  # no dependence on the batch
    assert net.training
    net.eval()
    with pytest.raises(RuntimeError), nets.evaluating(net):
        raise RuntimeError("inside")
    assert not net.training  # an eval-mode model stays in eval mode


def test_fit_lowers_the_vae_and_iwae_losses(gen):
    x = torch.rand(400, 1, 28, 28, generator=gen) * (torch.rand(1, 1, 28, 28, generator=gen) > 0.5)
    for k in (1, 3):
        torch.manual_seed(0)
        model = vae.VAE(vae.VAEConfig(z_dim=4, hidden=(32,)))
        history = vae.fit(model, x, 60, k=k, lr=3e-3, progress=False, log_every=1)
        losses = [v for _, v in history["loss"]]
        assert sum(losses[-10:]) < sum(losses[:10])


def test_rate_plus_distortion_is_the_negative_elbo_on_the_same_sample():
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(x_dim=12, hidden=(8,), z_dim=3)).double()
    x = torch.bernoulli(torch.full((5, 12), 0.4, dtype=torch.float64))
    torch.manual_seed(1)
    rate, distortion = vae.rate_distortion(model, x)
    torch.manual_seed(1)
    torch.testing.assert_close(rate + distortion, model.loss(x))
    torch.testing.assert_close(rate, vae.gaussian_kl(*model.encode(x)))
    # with many samples the distortion settles: two independent estimates agree closely
    d1, d2 = (vae.rate_distortion(model, x, 4000)[1] for _ in range(2))
    torch.testing.assert_close(d1, d2, rtol=0, atol=0.2)


def test_fit_trains_a_given_loss():
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(x_dim=12, hidden=(8,), z_dim=3))
    x = torch.rand(200, 12)
    calls = []

    def my_loss(m, xb):
        calls.append(len(xb))
        return m.iwae_loss(xb, 3)

    vae.fit(model, x, 5, loss=my_loss, batch_size=20, mode="eager", progress=False)
    assert calls == [20] * 5
