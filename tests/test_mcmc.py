"""Lecture 07: samplers keep their targets (statistically), and the diagnostics are right."""

import math

import pytest
import scipy.signal
import torch

import dgm
from dgm import mcmc

S = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)  # a correlated Gaussian
P = torch.linalg.inv(S)


def gaussian_energy(x):
    return 0.5 * ((x @ P) * x).sum(1)


def exact_gaussian(n, g):
    return torch.randn(n, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S).T


def test_ula_stationary_variance_matches_its_closed_form_and_the_seeds_noise_halves_it():
    """On U = x^2/2, x' = (1 - eps) x + sqrt(2 eps) xi has variance 1 / (1 - eps / 2);
    with noise sqrt(eps) instead (the seed's slip) it is half that: exp(-2U)'s variance."""
    g = torch.Generator().manual_seed(0)
    eps = 0.5
    x = torch.zeros(20_000, 1, dtype=torch.float64)
    for _ in range(200):
        x = mcmc.ula_step(lambda v: 0.5 * v.pow(2).sum(1), x, eps, g)
    assert x.var().item() == pytest.approx(1 / (1 - eps / 2), rel=0.04)
    y = torch.zeros(20_000, 1, dtype=torch.float64)
    for _ in range(200):
        y = (1 - eps) * y + math.sqrt(eps) * torch.randn(y.shape, generator=g, dtype=y.dtype)
    assert y.var().item() == pytest.approx(0.5 / (1 - eps / 2), rel=0.04)


@pytest.mark.parametrize("sampler,step", [("mala", 0.6), ("mh", 1.0)])
def test_mala_and_mh_keep_a_correlated_gaussian_at_a_large_step(sampler, step):
    g = torch.Generator().manual_seed(1)
    x0 = exact_gaussian(20_000, g)
    trace, acceptance = mcmc.run_chains(gaussian_energy, x0, 30, step, sampler, g)
    x = trace[-1]
    assert 0.1 < acceptance.mean().item() < 0.95
    torch.testing.assert_close(torch.cov(x.T), S, atol=0.05, rtol=0)
    assert x.mean(0).abs().max().item() < 0.03


def test_ula_at_the_same_step_does_not_keep_it_but_mala_does():
    g = torch.Generator().manual_seed(2)
    x0 = exact_gaussian(20_000, g)
    ula = mcmc.run_chains(gaussian_energy, x0, 60, 0.6, "ula", g)[0][-1]
    mala = mcmc.run_chains(gaussian_energy, x0, 60, 0.6, "mala", g)[0][-1]
    assert (torch.cov(ula.T) - S).abs().max().item() > 0.3  # ULA's discretisation bias
    assert (torch.cov(mala.T) - S).abs().max().item() < 0.05


def test_accepting_on_the_energy_difference_alone_biases_mala():
    """The widely copied shortcut drops q(x | x') / q(x' | x): a wrong sampler the tests catch."""
    g = torch.Generator().manual_seed(3)
    x0 = exact_gaussian(20_000, g)
    x = mcmc.run_chains(gaussian_energy, x0, 60, 0.6, "mala_energy_difference", g)[0][-1]
    assert (torch.cov(x.T) - S).abs().max().item() > 0.1


def test_mala_log_acceptance_is_the_metropolis_hastings_ratio_with_full_densities():
    g = torch.Generator().manual_seed(4)
    x, x_new, step = exact_gaussian(7, g), exact_gaussian(7, g), 0.3
    target = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), S)
    grad, grad_new = x @ P, x_new @ P

    def log_q(to, frm, gr):
        return torch.distributions.Normal(frm - step * gr, math.sqrt(2 * step)).log_prob(to).sum(1)

    direct = (
        target.log_prob(x_new)
        + log_q(x, x_new, grad_new)
        - target.log_prob(x)
        - log_q(x_new, x, grad)
    )
    torch.testing.assert_close(mcmc.mala_log_acceptance(gaussian_energy, x, x_new, step), direct)


def test_mh_keeps_the_mode_weights_of_a_mixture():
    means = torch.tensor([[-3.0, 0.0], [3.0, 0.0]], dtype=torch.float64)
    w = torch.tensor([0.3, 0.7], dtype=torch.float64)

    def U(x):
        d = -0.5 * (x.unsqueeze(1) - means).pow(2).sum(2) + w.log()
        return -torch.logsumexp(d, 1)

    g = torch.Generator().manual_seed(5)
    k = torch.multinomial(w, 20_000, replacement=True, generator=g)
    x0 = means[k] + torch.randn(20_000, 2, generator=g, dtype=torch.float64)
    x = mcmc.run_chains(U, x0, 40, 1.5, "mh", g)[0][-1]
    assert (x[:, 0] > 0).double().mean().item() == pytest.approx(0.7, abs=0.015)


def test_autocorrelation_and_ess_of_an_ar1_chain_follow_their_formulas():
    g = torch.Generator().manual_seed(6)
    phi, n = 0.8, 200_000
    noise = torch.randn(n, generator=g, dtype=torch.float64)
    # AR(1) by a linear filter: x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t
    x = torch.from_numpy(scipy.signal.lfilter([math.sqrt(1 - phi**2)], [1, -phi], noise.numpy()))
    rho = mcmc.autocorrelation(x, 5)
    torch.testing.assert_close(rho, phi ** torch.arange(6, dtype=torch.float64), atol=0.01, rtol=0)
    assert mcmc.effective_sample_size(x) == pytest.approx(n * (1 - phi) / (1 + phi), rel=0.1)


def test_r_hat_is_one_for_agreeing_chains_and_large_for_stuck_ones():
    g = torch.Generator().manual_seed(7)
    agree = torch.randn(2000, 4, generator=g)
    assert mcmc.r_hat(agree) == pytest.approx(1.0, abs=0.01)
    stuck = agree + torch.tensor([-3.0, -3.0, 3.0, 3.0])  # two chains in each of two modes
    assert mcmc.r_hat(stuck) > 2


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="mala_step: step_size must be a positive number"):
        mcmc.mala_step(gaussian_energy, torch.zeros(3, 2, dtype=torch.float64), -0.1)
    with pytest.raises(ValueError, match="sampler must be one of"):
        mcmc.run_chains(gaussian_energy, torch.zeros(3, 2), 5, 0.1, "hmc")
    with pytest.raises(ValueError, match="one value per chain"):
        mcmc.ula_step(lambda v: v, torch.zeros(3, 2), 0.1)
    with pytest.raises(ValueError, match="r_hat: expected"):
        mcmc.r_hat(torch.zeros(10, 1))


@pytest.mark.parametrize("phi", [0.0, 0.5, -0.5])
def test_ess_follows_the_ar1_formula_for_independent_and_anticorrelated_chains(phi):
    g = torch.Generator().manual_seed(8)
    n = 100_000
    noise = torch.randn(n, generator=g, dtype=torch.float64)
    x = torch.from_numpy(scipy.signal.lfilter([math.sqrt(1 - phi**2)], [1, -phi], noise.numpy()))
    # an anticorrelated chain (phi < 0) is worth more than n independent draws
    assert mcmc.effective_sample_size(x) == pytest.approx(n * (1 - phi) / (1 + phi), rel=0.1)


def test_replica_exchange_finds_the_weights_of_separated_modes_where_mala_sticks():
    # modes 8 apart with unit width: a MALA chain never crosses, tempered replicas do
    means = torch.tensor([[-4.0, 0.0], [4.0, 0.0]], dtype=torch.float64)

    def U(x):
        return -dgm.densities.isotropic_mixture_log_prob(x, [0.3, 0.7], means, 1.0)

    g = torch.Generator().manual_seed(9)
    x0 = means[0] + torch.randn(400, 2, generator=g, dtype=torch.float64)  # all in the left mode
    stuck = mcmc.run_chains(U, x0, 300, 0.5, "mala", g)[0]
    assert (stuck[-1][:, 0] > 0).double().mean().item() < 0.02
    trace, swap_rate = mcmc.replica_exchange(U, x0, [1.0, 2.0, 4.0, 8.0, 16.0], 600, 0.5, g)
    right = (trace[200:, :, 0] > 0).double().mean().item()
    assert right == pytest.approx(0.7, abs=0.04)
    assert (swap_rate > 0.2).all() and (swap_rate <= 1).all()
    with pytest.raises(ValueError, match="temperatures must start at 1"):
        mcmc.replica_exchange(U, x0, [2.0, 4.0], 5, 0.5)


def test_the_energy_difference_shortcut_samples_exp_minus_2u_as_the_step_shrinks():
    # its acceptance supplies a second drift -eps grad U on top of the proposal's: at small
    # steps it samples exp(-2U), the same factor 2 as the sqrt(eps) noise slip
    g = torch.Generator().manual_seed(10)
    x0 = torch.randn(20_000, 1, generator=g, dtype=torch.float64)
    x = mcmc.run_chains(lambda v: 0.5 * v.pow(2).sum(1), x0, 500, 0.01, "mala_energy_difference", g)
    assert x[0][-1].var().item() == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("n_steps", [1, 2, 3, 4, 7])
def test_replica_exchange_swap_rates_are_proportions_of_the_swaps_tried(n_steps):
    """On a flat energy every swap is accepted, so each pair's rate is exactly 1, whatever
    the parity of the number of rounds (the even pair is tried on rounds 0, 2, ..., the odd
    one on 1, 3, ...; a pair never tried reports 0)."""
    flat = lambda x: 0.0 * x.sum(1)  # noqa: E731  (depends on x, for autograd)
    x0 = torch.zeros(5, 2, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    _, rate = mcmc.replica_exchange(flat, x0, [1.0, 2.0, 4.0], n_steps, 0.1, g)
    expected = [1.0, 1.0 if n_steps > 1 else 0.0]
    assert rate.tolist() == expected


def test_the_samplers_accept_an_int_or_a_float_step_size_and_refuse_the_rest():
    U = lambda x: 0.5 * x.pow(2).sum(1)  # noqa: E731
    x = torch.zeros(3, 2)
    assert mcmc.ula_step(U, x, 1).shape == mcmc.ula_step(U, x, 0.1).shape == (3, 2)
    for bad in (0, -0.1, "0.1", None):
        with pytest.raises(ValueError, match="ula_step: step_size must be a positive number"):
            mcmc.ula_step(U, x, bad)
        with pytest.raises(ValueError, match="mh_step: scale must be a positive number"):
            mcmc.mh_step(U, x, bad)


def test_adaptive_mala_reaches_its_target_acceptance_and_keeps_a_gaussian():
    """On N(0, I) in 5-D, from a poor step (0.01), the warm-up brings the acceptance of the
    frozen sampler near the target, and the samples keep the target's moments (1,000 chains,
    after a warm-up: independent across chains, so the standard errors are plain)."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(1000, 5, generator=g)

    def U(x):
        return 0.5 * x.pow(2).sum(1)

    trace, eps, acceptance = mcmc.adaptive_mala(U, x0, 300, 50, 0.01, 0.574, generator=g)
    assert trace.shape == (50, 1000, 5) and isinstance(eps, float)
    assert abs(acceptance.mean().item() - 0.574) < 0.05
    last = trace[-1]
    se = 1 / math.sqrt(1000)
    assert last.mean(0).abs().max() < 5 * se
    assert (last.var(0) - 1).abs().max() < 5 * math.sqrt(2) * se
    # a lower target acceptance asks for a larger step
    _, eps_low, acc_low = mcmc.adaptive_mala(U, x0, 300, 50, 0.01, 0.3, generator=g)
    assert eps_low > eps and abs(acc_low.mean().item() - 0.3) < 0.05


def test_adaptive_mala_freezes_its_step_after_the_warm_up():
    """After the warm-up it is plain MALA at the frozen step: without a warm-up, the run is
    ``run_chains`` draw for draw, at the step it was given."""
    x0 = torch.randn(20, 2, generator=torch.Generator().manual_seed(1))

    def U(x):
        return (x.pow(2).sum(1) - 1).pow(2)

    trace, eps, acc = mcmc.adaptive_mala(
        U, x0, 0, 30, 0.05, generator=torch.Generator().manual_seed(2)
    )
    ref, ref_acc = mcmc.run_chains(U, x0, 30, 0.05, "mala", torch.Generator().manual_seed(2))
    assert eps == 0.05
    assert torch.equal(trace, ref) and torch.equal(acc, ref_acc)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(target=1.0), "target must be in"),
        (dict(n_warmup=-1), "n_warmup must be an int >= 0"),
        (dict(n_samples=0), "n_samples must be an int >= 1"),
        (dict(step_size=0.0), "step_size must be a positive"),
    ],
)
def test_adaptive_mala_rejects_bad_settings(kw, match):
    args = dict(n_warmup=1, n_samples=1, step_size=0.1, target=0.5) | kw
    with pytest.raises(ValueError, match=match):
        mcmc.adaptive_mala(lambda x: x.pow(2).sum(1), torch.zeros(2, 2), **args)


def _anisotropic_gaussian(std):
    def U(x):
        return 0.5 * (x / std).pow(2).sum(1)

    return U


def test_the_preconditioned_step_is_mala_on_x_over_scales():
    """Draw for draw (the same random numbers), the preconditioned step at ``scales`` is
    MALA's step on ``y = x / scales`` with the energy ``V(y) = U(scales * y)``, mapped back."""
    std = torch.tensor([0.1, 10.0], dtype=torch.float64)
    scales = torch.tensor([0.3, 4.0], dtype=torch.float64)
    U = _anisotropic_gaussian(std)
    x = std * torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=std.dtype)
    got, acc = mcmc.preconditioned_mala_step(U, x, 0.4, scales, torch.Generator().manual_seed(1))
    y, ref_acc = mcmc.mala_step(
        lambda y: U(y * scales), x / scales, 0.4, torch.Generator().manual_seed(1)
    )
    assert torch.equal(acc, ref_acc) and 0 < acc.double().mean() < 1
    torch.testing.assert_close(got[acc], (y * scales)[acc])
    assert torch.equal(got[~acc], x[~acc])  # a rejected chain keeps its state exactly


def _moments_kept(step, std, n_chains=4000, n_steps=60, seed=0):
    """The largest error of the variances, in standard errors, after ``n_steps`` of ``step``
    from the target (chains independent: plain standard errors), and the largest correlation
    of a coordinate between the start and the end (small: the chains moved far)."""
    g = torch.Generator().manual_seed(seed)
    U = _anisotropic_gaussian(std)
    x0 = std * torch.randn(n_chains, len(std), generator=g, dtype=std.dtype)
    x = x0
    for _ in range(n_steps):
        x, _ = step(U, x, g)
    corr = max(
        torch.corrcoef(torch.stack([x0[:, k], x[:, k]]))[0, 1].abs().item() for k in range(len(std))
    )
    return ((x.var(0) / std**2 - 1).abs() / math.sqrt(2 / n_chains)).max().item(), corr


def test_the_preconditioned_step_keeps_the_target_at_any_scales_and_a_wrong_ratio_does_not():
    """Any positive scales keep the target (here wrong ones, 2 and 1/2 times the standard
    deviations, at which both coordinates decorrelate from the start in 60 steps); the same
    proposal accepted with the plain MALA ratio, which assumes the unstretched proposal,
    moves the variances by many standard errors."""
    std = torch.tensor([0.1, 10.0], dtype=torch.float64)
    scales = torch.tensor([0.2, 5.0], dtype=torch.float64)

    def right(U, x, g):
        return mcmc.preconditioned_mala_step(U, x, 0.5, scales, g)

    def wrong(U, x, g):  # the stretched proposal, the unstretched ratio
        _, grad = mcmc.energy_and_grad(U, x)
        noise = torch.randn(x.shape, generator=g, dtype=x.dtype)
        proposal = x - 0.5 * scales**2 * grad + math.sqrt(2 * 0.5) * scales * noise
        log_alpha = mcmc.mala_log_acceptance(U, x, proposal, 0.5)
        accepted = torch.rand(len(x), generator=g, dtype=x.dtype).log() < log_alpha
        return torch.where(accepted[:, None], proposal, x), accepted

    errors, corr = _moments_kept(right, std)
    assert errors < 4.5 and corr < 0.1
    assert _moments_kept(wrong, std)[0] > 10


def test_tuned_mala_learns_the_scales_and_the_step_from_either_side():
    """On a 4-D Gaussian whose standard deviations span 0.1 to 10, from a step far too small
    and one far too large: the scales found are the standard deviations (within 3%), the
    acceptance after the warm-up is near the target, and the tuned step in the rescaled
    coordinates is far larger than the one step plain MALA can afford (the narrowest
    coordinate's)."""
    std = torch.tensor([0.1, 0.7, 3.0, 10.0], dtype=torch.float64)
    U = _anisotropic_gaussian(std)
    g = torch.Generator().manual_seed(0)
    x0 = std * torch.randn(400, 4, generator=g, dtype=std.dtype)
    for start in (1e-4, 50.0):
        trace, eps, scales, acc = mcmc.tuned_mala(U, x0, 300, 50, start, 0.574, generator=g)
        assert trace.shape == (50, 400, 4) and isinstance(eps, float) and scales.shape == (4,)
        assert (scales / std - 1).abs().max() < 0.03
        assert abs(acc.mean().item() - 0.574) < 0.05
        _, plain_eps, _ = mcmc.adaptive_mala(U, x0, 300, 10, start, 0.574, generator=g)
        assert eps > 20 * plain_eps


def test_tuned_mala_without_a_warm_up_is_plain_mala_at_the_step_given():
    x0 = torch.randn(20, 2, generator=torch.Generator().manual_seed(1))

    def U(x):
        return (x.pow(2).sum(1) - 1).pow(2)

    trace, eps, scales, acc = mcmc.tuned_mala(
        U, x0, 0, 30, 0.05, generator=torch.Generator().manual_seed(2)
    )
    ref, ref_acc = mcmc.run_chains(U, x0, 30, 0.05, "mala", torch.Generator().manual_seed(2))
    assert eps == 0.05 and torch.equal(scales, torch.ones(2))
    torch.testing.assert_close(trace, ref)
    assert torch.equal(acc, ref_acc)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(target=0.0), "target must be in"),
        (dict(n_warmup=1.5), "n_warmup must be an int >= 0"),
        (dict(n_samples=0), "n_samples must be an int >= 1"),
        (dict(step_size=-1.0), "step_size must be a positive"),
    ],
)
def test_tuned_mala_rejects_bad_settings(kw, match):
    args = dict(n_warmup=1, n_samples=1, step_size=0.1, target=0.5) | kw
    with pytest.raises(ValueError, match=f"tuned_mala: {match}"):
        mcmc.tuned_mala(lambda x: x.pow(2).sum(1), torch.zeros(2, 2), **args)


@pytest.mark.parametrize(
    "scales, match",
    [
        (torch.ones(3), "shape \\(2,\\)"),
        ([1.0, 1.0], "got list"),
        (torch.tensor([1.0, 0.0]), "positive and finite"),
    ],
)
def test_the_preconditioned_step_rejects_bad_scales(scales, match):
    with pytest.raises(ValueError, match=f"preconditioned_mala_step: .*{match}"):
        mcmc.preconditioned_mala_step(lambda x: x.pow(2).sum(1), torch.zeros(2, 2), 0.1, scales)
