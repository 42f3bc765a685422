import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from dgm import data, densities, em


def random_gmm(gen, N=200, D=2, K=3):
    X = 2 * torch.randn(N, D, generator=gen, dtype=torch.float64)
    w = torch.softmax(torch.randn(K, generator=gen, dtype=torch.float64), 0)
    mu = 2 * torch.randn(K, D, generator=gen, dtype=torch.float64)
    A = torch.randn(K, D, D, generator=gen, dtype=torch.float64)
    return X, w, mu, A @ A.transpose(1, 2) + 0.3 * torch.eye(D, dtype=torch.float64)


def test_gaussian_log_pdf_matches_torch_distributions(gen):
    X, _, mu, cov = random_gmm(gen, D=3, K=4)
    ours = densities.mvn_log_prob(X, mu, cov)
    ref = torch.distributions.MultivariateNormal(mu, cov).log_prob(X[:, None, :])
    assert ours.shape == (200, 4) and torch.allclose(ours, ref, atol=1e-10)


def test_responsibilities_are_bayes_rule(gen):
    X, w, mu, cov = random_gmm(gen)
    r = em.responsibilities(X, w, mu, cov)
    joint = w * torch.exp(densities.mvn_log_prob(X, mu, cov))  # naive, fine at this scale
    assert torch.allclose(r, joint / joint.sum(1, keepdim=True), atol=1e-12)
    assert torch.allclose(r.sum(1), torch.ones(200, dtype=torch.float64))


def test_responsibilities_survive_points_far_from_every_component(gen):
    X, w, mu, cov = random_gmm(gen)
    X[0] = 1e3
    assert torch.isfinite(em.responsibilities(X, w, mu, cov)).all()


def test_elbo_plus_posterior_kl_equals_log_likelihood(gen):
    X, w, mu, cov = random_gmm(gen)
    q = torch.softmax(torch.randn(200, 3, generator=gen, dtype=torch.float64), 1)
    lhs = em.log_likelihood(X, w, mu, cov)
    rhs = em.elbo(X, q, w, mu, cov) + em.posterior_kl(X, q, w, mu, cov)
    assert torch.allclose(lhs, rhs, atol=1e-10)
    assert (em.posterior_kl(X, q, w, mu, cov) > 0).all()  # so ELBO < log p(x) for q != p(z|x)


def test_elbo_gap_is_zero_after_an_e_step(gen):
    X, w, mu, cov = random_gmm(gen)
    r = em.responsibilities(X, w, mu, cov)
    gap = em.log_likelihood(X, w, mu, cov) - em.elbo(X, r, w, mu, cov)
    assert gap.abs().max() < 1e-12  # float64 precision
    X32, w32, mu32, cov32 = (t.float() for t in (X, w, mu, cov))
    gap32 = em.log_likelihood(X32, w32, mu32, cov32) - em.elbo(
        X32, em.responsibilities(X32, w32, mu32, cov32), w32, mu32, cov32
    )
    assert gap32.abs().max() < 1e-5  # float32 precision


def test_elbo_handles_hard_assignments(gen):
    X, w, mu, cov = random_gmm(gen)
    hard = torch.nn.functional.one_hot(torch.arange(200) % 3, 3).double()
    assert torch.isfinite(em.elbo(X, hard, w, mu, cov)).all()


def test_m_step_is_a_stationary_point_of_the_elbo(gen):
    """The gradient of sum_n ELBO_n w.r.t. means, covariances and weight logits is zero."""
    X, w, mu, cov = random_gmm(gen)
    r = em.responsibilities(X, w, mu, cov)
    new = em.m_step(X, r)
    logits = new.weights.log().clone().requires_grad_(True)
    means = new.means.clone().requires_grad_(True)
    L = torch.linalg.cholesky(new.covs).clone().requires_grad_(True)  # keeps Sigma PD
    total = em.elbo(X, r, torch.softmax(logits, 0), means, L @ L.transpose(1, 2)).sum()
    for grad in torch.autograd.grad(total, (logits, means, L)):
        assert grad.abs().max() < 1e-8
    # and a step away in any direction lowers it
    for eps in (1e-2, -1e-2):
        worse = em.elbo(X, r, new.weights, new.means + eps, new.covs).sum()
        assert worse < total.detach()


def test_m_step_covariance_floor(gen):
    X, w, mu, cov = random_gmm(gen)
    r = em.responsibilities(X, w, mu, cov)
    plain, floored = em.m_step(X, r), em.m_step(X, r, reg_covar=0.5)
    assert torch.allclose(
        floored.covs - plain.covs, 0.5 * torch.eye(2, dtype=X.dtype).expand(3, 2, 2)
    )


def lecture_data():
    return data.blobs(600, generator=torch.Generator().manual_seed(0))[0]


def other_data():
    """Data the lecture does not use: 3-D, five clusters of different sizes."""
    g = torch.Generator().manual_seed(7)
    centres = 4 * torch.randn(5, 3, generator=g, dtype=torch.float64)
    z = torch.randint(5, (800,), generator=g)
    return centres[z] + torch.randn(800, 3, generator=g, dtype=torch.float64) * (1 + z[:, None] / 3)


@pytest.mark.parametrize("make_data,K", [(lecture_data, 3), (other_data, 5), (lecture_data, 6)])
def test_em_log_likelihood_never_decreases(make_data, K):
    X = make_data()
    for seed in range(3):
        init = em.init_gmm(X, K, torch.Generator().manual_seed(seed))
        ll = np.array(em.fit_gmm(X, init, 60).log_likelihood)
        assert np.all(np.diff(ll) >= -1e-10 * np.abs(ll[1:])), f"seed {seed}: {np.diff(ll).min()}"


@pytest.mark.parametrize(
    "make_data,K,n_iter", [(lecture_data, 3, 30), (other_data, 5, 40), (lecture_data, 5, 25)]
)
def test_em_matches_scikit_learn_from_the_same_start(make_data, K, n_iter):
    X = make_data()
    init = em.init_gmm(X, K, torch.Generator().manual_seed(1))
    ours = em.fit_gmm(X, init, n_iter, reg_covar=1e-6)
    sk = GaussianMixture(
        n_components=K,
        covariance_type="full",
        max_iter=n_iter,
        tol=0.0,
        reg_covar=1e-6,
        weights_init=init.weights.numpy(),
        means_init=init.means.numpy(),
        precisions_init=np.linalg.inv(init.covs.numpy()),
        random_state=0,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that tol=0 never "converges"
        sk.fit(X.numpy())
    assert sk.n_iter_ == n_iter
    assert ours.log_likelihood[-1] == pytest.approx(sk.score(X.numpy()), rel=1e-6)
    assert np.allclose(ours.final.means.numpy(), sk.means_, atol=1e-6)
    assert np.allclose(ours.final.covs.numpy(), sk.covariances_, atol=1e-6)


def test_em_recovers_the_lecture_mixture():
    X = data.blobs(5000, generator=torch.Generator().manual_seed(0))[0]
    w, mu, cov = data.blobs_params()
    init = em.init_gmm(X, 3, torch.Generator().manual_seed(0))
    fit = em.fit_gmm(X, init, 100).final
    order = torch.cdist(mu, fit.means).argmin(1)  # match components to the truth
    assert torch.allclose(fit.means[order], mu, atol=0.1)
    assert torch.allclose(fit.weights[order], w, atol=0.03)


def test_a_collapsed_component_is_reported_and_the_floor_prevents_it():
    X = torch.tensor(
        [[0.0, 0.0], [1.0, 0.2], [0.3, 1.0], [-0.5, 0.4], [8.0, 8.0]], dtype=torch.float64
    )
    init = em.GMM(
        torch.tensor([0.8, 0.2], dtype=torch.float64),
        torch.tensor([[0.0, 0.3], [8.0, 8.0]], dtype=torch.float64),
        torch.eye(2, dtype=torch.float64).repeat(2, 1, 1),
    )
    with pytest.raises(ValueError, match="reg_covar"):
        em.fit_gmm(X, init, 10)  # component 1 shrinks onto the lone point (8, 8)
    fit = em.fit_gmm(X, init, 10, reg_covar=1e-2)
    assert np.isfinite(fit.log_likelihood).all()


def test_gmm_inputs_are_validated(gen):
    X, w, mu, cov = random_gmm(gen)
    with pytest.raises(ValueError, match="covs must be"):
        em.responsibilities(X, w, mu, cov[:, :1])
    with pytest.raises(ValueError, match="weights must be"):
        em.responsibilities(X, w[:2], mu, cov)
    with pytest.raises(ValueError, match=r"X must be a 2-D tensor"):
        em.responsibilities(X[0], w, mu, cov)
    with pytest.raises(ValueError, match="K must be"):
        em.init_gmm(X, 0)


def bernoulli_data(gen, N=300, D=20, K=3):
    probs = torch.rand(K, D, generator=gen, dtype=torch.float64)
    z = torch.randint(K, (N,), generator=gen)
    return torch.bernoulli(probs[z], generator=gen)


def test_bernoulli_log_joint_matches_torch_distributions(gen):
    X = bernoulli_data(gen)
    w = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    p = torch.rand(3, 20, generator=gen, dtype=torch.float64)
    ref = torch.distributions.Bernoulli(probs=p).log_prob(X[:, None, :]).sum(-1) + w.log()
    assert torch.allclose(em.bernoulli_log_joint(X, w, p), ref, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_bernoulli_em_never_decreases_its_objective(gen, alpha):
    """alpha = 0: the log-likelihood; alpha > 0: log-likelihood + log Beta prior (MAP-EM)."""
    X = bernoulli_data(gen)
    fit = em.fit_bernoulli_mixture(X, em.init_bernoulli_mixture(X, 3, gen), 40, alpha=alpha)
    N = X.shape[0]
    objective = [
        ll * N + (alpha * (p.probs.log() + torch.log1p(-p.probs)).sum().item() if alpha else 0.0)
        for ll, p in zip(fit.log_likelihood, fit.params)
    ]
    assert np.all(np.diff(objective) >= -1e-8 * np.abs(objective[1:]))


def test_bernoulli_mixture_samples_follow_the_pixel_probabilities(gen):
    w = torch.tensor([1.0, 0.0])
    p = torch.tensor([[0.9, 0.1, 0.5], [0.0, 0.0, 0.0]])
    x = em.sample_bernoulli_mixture(20_000, w, p, generator=gen)
    assert torch.allclose(x.mean(0), p[0], atol=0.02)


def test_bernoulli_log_joint_is_exact_at_probabilities_zero_and_one():
    X = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    p = torch.tensor([[0.0, 1.0]])  # pixel 0 never on, pixel 1 always on
    lj = em.bernoulli_log_joint(X, torch.ones(1), p)
    assert lj[0, 0] == 0.0  # log 1: the only possible image
    assert lj[1, 0] == float("-inf")  # pixel 0 on is impossible


def test_kmeans_pp_spreads_the_starting_means_over_the_clusters():
    """On the 25-grid, k-means++ lands on more distinct clusters than random data points."""
    X = data.gaussian_grid(5000, std=0.05, generator=torch.Generator().manual_seed(0)).double()
    centres = data.grid_centres().double()

    def clusters_hit(init):
        nearest = torch.cdist(init.means, centres).argmin(1)
        return len(set(nearest.tolist()))

    pp = [
        clusters_hit(em.init_gmm_kmeans_pp(X, 25, torch.Generator().manual_seed(s)))
        for s in range(20)
    ]
    rnd = [clusters_hit(em.init_gmm(X, 25, torch.Generator().manual_seed(s))) for s in range(20)]
    assert sum(pp) / 20 >= 24 and sum(pp) / 20 > sum(rnd) / 20 + 5
    seeds = em.kmeans_pp_means(X, 3, torch.Generator().manual_seed(1))
    assert seeds.shape == (3, 2) and torch.isin(seeds, X).all()  # the seeds are data points
    start = em.gmm_from_means(X, seeds)
    nearest = torch.cdist(X, seeds).argmin(1)
    for k in range(3):  # each component starts from its own cluster
        torch.testing.assert_close(start.means[k], X[nearest == k].mean(0))
        assert start.weights[k].item() == pytest.approx((nearest == k).double().mean().item())
    with pytest.raises(ValueError, match="K must be an int"):
        em.init_gmm_kmeans_pp(X, 0)


def test_sample_gmm_draws_the_mixture():
    g = torch.Generator().manual_seed(0)
    weights = torch.tensor([0.8, 0.2], dtype=torch.float64)
    means = torch.tensor([[-6.0, 0.0], [6.0, 1.0]], dtype=torch.float64)  # far apart
    covs = torch.stack([torch.eye(2), torch.tensor([[0.5, 0.3], [0.3, 0.4]])]).double()
    x = em.sample_gmm(weights, means, covs, 40_000, generator=g)
    right = x[:, 0] > 0
    assert abs(right.double().mean().item() - 0.2) < 0.01
    torch.testing.assert_close(x[right].mean(0), means[1], atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(x[right].T), covs[1], atol=0.03, rtol=0)
