"""Each log-density, written once in dgm.densities, agrees with torch.distributions."""

import math

import pytest
import torch
from torch import distributions as td

from dgm import densities


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_diagonal_gaussian_and_standard_normal(gen):
    x, mu, log_var = (torch.randn(7, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    ref = td.Normal(mu, (0.5 * log_var).exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(densities.gaussian_log_prob(x, mu, log_var), ref)
    ref0 = td.Normal(torch.zeros_like(x), torch.ones_like(x)).log_prob(x).sum(-1)
    torch.testing.assert_close(densities.standard_normal_log_prob(x), ref0)
    zeros = torch.zeros_like(x)
    torch.testing.assert_close(densities.gaussian_log_prob(x, zeros, zeros), ref0)


def test_normal_elementwise_in_the_standard_deviation(gen):
    x = torch.randn(11, generator=gen, dtype=torch.float64)
    ours = densities.normal_log_prob(x, 0.3, 1.7)
    torch.testing.assert_close(ours, td.Normal(0.3, 1.7).log_prob(x).double())


def test_full_covariance_gaussians(gen):
    X = torch.randn(9, 3, generator=gen, dtype=torch.float64)
    means = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    A = torch.randn(4, 3, 3, generator=gen, dtype=torch.float64)
    covs = A @ A.transpose(1, 2) + 0.1 * torch.eye(3, dtype=torch.float64)
    ref = td.MultivariateNormal(means, covs).log_prob(X[:, None, :])  # (9, 4)
    torch.testing.assert_close(densities.mvn_log_prob(X, means, covs), ref)


def test_a_collapsed_covariance_is_named():
    X = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"covs\[0\] is not positive definite"):
        densities.mvn_log_prob(X, torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="expected X"):
        densities.mvn_log_prob(X[0], X[:1], torch.eye(2)[None])


def test_mixture_of_normals_integrates_to_one():
    xs = torch.linspace(-12, 12, 24001, dtype=torch.float64)
    log_p = densities.normal_mixture_log_prob(xs, [0.3, 0.7], [-2.0, 1.0], [0.5, 1.5])
    assert (log_p.exp().sum() * (xs[1] - xs[0])).item() == pytest.approx(1.0, abs=1e-8)


def test_bernoulli_from_logits_is_finite_where_probabilities_underflow(gen):
    x = torch.bernoulli(torch.full((5, 8), 0.5, dtype=torch.float64), generator=gen)
    logits = 3 * torch.randn(5, 8, generator=gen, dtype=torch.float64)
    ref = td.Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(densities.bernoulli_log_prob(x, logits), ref)
    extreme = densities.bernoulli_log_prob(torch.ones(1, 2), torch.tensor([[-200.0, 200.0]]))
    assert extreme.item() == pytest.approx(-200.0)
    # broadcasting: prior logits (n,) against samples (k, B, n)
    h = torch.bernoulli(torch.full((3, 4, 8), 0.5), generator=gen)
    assert densities.bernoulli_log_prob(h, torch.zeros(8)).shape == (3, 4)
    assert densities.bernoulli_log_prob(h, torch.zeros(8))[0, 0].item() == pytest.approx(
        8 * math.log(0.5)
    )


def test_kl_by_quadrature_matches_the_closed_form():
    xs = torch.linspace(-15, 15, 30001, dtype=torch.float64)
    dx = (xs[1] - xs[0]).item()
    a, b = densities.normal_log_prob(xs, 0.5, 0.8), densities.normal_log_prob(xs, -1.0, 1.3)
    exact = math.log(1.3 / 0.8) + (0.8**2 + 1.5**2) / (2 * 1.3**2) - 0.5
    assert densities.kl_by_quadrature(a, b, dx).item() == pytest.approx(exact, abs=1e-8)


def test_isotropic_mixture_matches_torch_distributions_with_one_std_each():
    g = torch.Generator().manual_seed(0)
    w = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    m = torch.randn(3, 2, generator=g, dtype=torch.float64)
    s = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    x = 2 * torch.randn(40, 2, generator=g, dtype=torch.float64)
    comp = torch.distributions.Independent(torch.distributions.Normal(m, s[:, None]), 1)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(w), comp)
    torch.testing.assert_close(densities.isotropic_mixture_log_prob(x, w, m, s), mix.log_prob(x))
    # one std for all components: the same as that std repeated; weights are normalised
    torch.testing.assert_close(
        densities.isotropic_mixture_log_prob(x, 2 * w, m, 0.7),
        densities.isotropic_mixture_log_prob(x, w, m, [0.7, 0.7, 0.7]),
    )
    with pytest.raises(ValueError, match=r"stds \(\) or \(K,\) with K = 3"):
        densities.isotropic_mixture_log_prob(x, w, m, [1.0, 1.0])
    with pytest.raises(ValueError, match="stds must be > 0 and weights >= 0"):
        densities.isotropic_mixture_log_prob(x, [0.5, -0.1, 0.6], m, 1.0)
