"""Every check must pass the reference and catch plausible wrong answers with a hint."""

import math

import pytest
import torch
import torch.nn.functional as F

from dgm import checks, densities, em, gan, metrics, unified, vae
from dgm import wake_sleep as ws

CHECKS = [
    (checks.responsibilities, em.responsibilities),
    (checks.m_step, em.m_step),
    (checks.elbo, em.elbo),
    (checks.bernoulli_m_step, em.bernoulli_m_step),
    (checks.gaussian_kl, vae.gaussian_kl),
    (checks.reparameterize, vae.reparameterize),
    (checks.negative_elbo, vae.negative_elbo),
    (checks.iwae_bound, vae.iwae_bound),
    (checks.wake_loss, ws.wake_loss),
    (checks.sleep_loss, ws.sleep_loss),
    (checks.log_likelihood_estimate, ws.log_likelihood_estimate),
    (checks.discriminator_loss, gan.discriminator_loss),
    (checks.generator_loss_nonsaturating, gan.generator_loss_nonsaturating),
    (checks.mode_coverage, metrics.mode_coverage),
    (checks.reverse_kl_estimate, unified.reverse_kl_estimate),
    (checks.forward_kl_estimate, unified.forward_kl_estimate),
    (checks.iwgan_weights, unified.iwgan_weights),
    (checks.qr_posteriors, unified.qr_posteriors),
]


def detached_samples_kl(mu, log_s, log_p, n):
    z = (mu + log_s.exp() * torch.randn(n, mu.shape[0])).detach()  # no reparameterization
    return (densities.gaussian_log_prob(z, mu, 2 * log_s) - log_p(z)).mean()


def run(check, fn):
    """The check's verdict on ``fn`` and what it printed."""
    used = check(fn)
    result = checks.results[check.__name__]
    return used, result


@pytest.mark.parametrize("check,reference", CHECKS)
def test_the_reference_passes_and_is_returned(check, reference):
    def mine(*args):
        return reference(*args)

    used, result = run(check, mine)
    assert result.passed and used is mine


@pytest.mark.parametrize("check,reference", CHECKS)
def test_an_unsolved_exercise_falls_back_to_the_reference(check, reference, capsys, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)

    def stub(*args):
        raise NotImplementedError()

    used, result = run(check, stub)
    assert used is reference and not result.passed and not result.implemented
    assert "uses the reference" in capsys.readouterr().out


def test_grading_mode_raises_on_a_failed_check(monkeypatch):
    monkeypatch.setenv("DGM_GRADING", "1")

    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(checks.CheckFailure, match="not implemented"):
        checks.elbo(stub)


# --- plausible wrong answers, each with the words its hint must contain


def straight_through(m, x):
    """Samples of q that let gradients through (a straight-through estimator): wrong for wake."""
    h, hs = x, []
    for layer in m.recognition:
        p = torch.sigmoid(layer(h))
        h = p + (torch.bernoulli(p) - p).detach()
        hs.append(h)
    return hs


def with_log_q(m, x):
    hs = m.sample_q(x)
    return -(m.log_p(x, hs) - m.log_q(x, hs))


def mean_field(m, x):
    """The probabilities of q instead of samples: no noise at all."""
    h, hs = x, []
    with torch.no_grad():
        for layer in m.recognition:
            h = torch.sigmoid(layer(h))
            hs.append(h)
    return hs


def seeded_inside(fn):
    """A student who seeds torch inside the function: every call draws the same noise."""

    def seeded(*args):
        torch.manual_seed(0)
        return fn(*args)

    return seeded


def qr_with_prior(logit, log_prior, dx):
    """q^r built on the generator's density alone: the misreading of Hu et al.'s Lemma 1."""
    out = []
    for log_d in (F.logsigmoid(logit), F.logsigmoid(-logit)):
        log_q = log_d + log_prior
        out.append(log_q - torch.logsumexp(log_q, 0) - math.log(dx))
    return tuple(out)


def naive_responsibilities(X, w, mu, cov):  # exp of log densities: underflows far away
    joint = w * densities.mvn_log_prob(X, mu, cov).exp()
    return joint / joint.sum(1, keepdim=True)


WRONG = {
    "responsibilities": [
        (
            lambda X, w, mu, cov: w * densities.mvn_log_prob(X, mu, cov).exp(),
            "normalise over dim=1",
        ),
        (lambda X, w, mu, cov: em.responsibilities(X, w, mu, cov).T, "transposed"),
        (naive_responsibilities, "log space"),
        (lambda X, w, mu, cov: torch.softmax(densities.mvn_log_prob(X, mu, cov), 1), "pi_k"),
    ],
    "m_step": [
        (lambda X, r, reg: em.GMM(r.sum(0), *em.m_step(X, r, reg)[1:]), "N_k / N"),
        (
            lambda X, r, reg: em.GMM(em.m_step(X, r, reg)[0], r.T @ X, em.m_step(X, r, reg)[2]),
            "weighted average",
        ),
        (lambda X, r, reg: em.m_step(X, r, 0.0), "reg_covar * I"),
        (
            lambda X, r, reg: em.GMM(
                *em.m_step(X, r, reg)[:2],
                em.m_step(X, r, reg)[2] * r.sum(0)[:, None, None] / len(X),
            ),
            "not by N",
        ),
        (lambda X, r, reg: em.m_step(X, r, reg)[:2], "three tensors"),
    ],
    "elbo": [
        (lambda X, r, w, mu, cov: (r * em.log_joint(X, w, mu, cov)).sum(1), "entropy"),
        (lambda X, r, w, mu, cov: em.elbo(X, r, w, mu, cov).mean(), "shape (N,)"),
        (lambda X, r, w, mu, cov: -em.elbo(X, r, w, mu, cov), "sign"),
        (lambda X, r, w, mu, cov: (r * (em.log_joint(X, w, mu, cov) - r.log())).sum(1), "xlogy"),
    ],
    "bernoulli_m_step": [
        (
            lambda X, r, a: em.BernoulliMixture(r.sum(0) / len(X), (r.T @ X) / r.sum(0)[:, None]),
            "pseudo-counts",
        ),
        (lambda X, r, a: em.BernoulliMixture(r.sum(0) / len(X), r.T @ X), "weighted average"),
        (
            lambda X, r, a: em.BernoulliMixture(r.sum(0), em.bernoulli_m_step(X, r, a).probs),
            "N_k / N",
        ),
    ],
    "gaussian_kl": [
        (lambda mu, lv: 2 * vae.gaussian_kl(mu, lv), "factor 1/2"),
        (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(-1), "the -1"),
        (lambda mu, lv: 0.5 * (mu**2 + (0.5 * lv).exp() - lv - 1).sum(-1), "not exp(log_var / 2)"),
        (lambda mu, lv: vae.gaussian_kl(mu, lv).sum(), "shape (B,)"),
    ],
    "reparameterize": [
        (seeded_inside(vae.reparameterize), "same samples"),
        (lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()), "torch.normal"),
        (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "scale it by sigma"),
        (lambda mu, lv: mu + (0.5 * lv).exp().detach() * torch.randn_like(mu), "log_var"),
        (lambda mu, lv: mu + torch.randn_like(mu), "variance"),
    ],
    "negative_elbo": [
        (lambda x, lg, mu, lv, b: -vae.negative_elbo(x, lg, mu, lv, b), "NEGATIVE"),
        (lambda x, lg, mu, lv, b: -densities.bernoulli_log_prob(x, lg), "left out the KL"),
        (
            lambda x, lg, mu, lv, b: (
                ((x - torch.sigmoid(lg)) ** 2).sum(-1) + b * vae.gaussian_kl(mu, lv)
            ),
            "cross-entropy",
        ),
        (lambda x, lg, mu, lv, b: vae.negative_elbo(x, lg, mu, lv, 1.0), "beta"),
        (lambda x, lg, mu, lv, b: vae.negative_elbo(x, lg, mu, lv, b).mean(), "shape (B,)"),
        (
            lambda x, lg, mu, lv, b: (
                -(x * torch.sigmoid(lg).log() + (1 - x) * (1 - torch.sigmoid(lg)).log()).sum(-1)
                + b * vae.gaussian_kl(mu, lv)
            ),
            "binary_cross_entropy_with_logits",
        ),
    ],
    "iwae_bound": [
        (lambda lw: torch.logsumexp(lw, 0), "subtract log K"),
        (lambda lw: lw.mean(0), "ELBO"),
        (lambda lw: lw.exp().mean(0).log(), "logsumexp"),
    ],
    "wake_loss": [
        (lambda m, x: ws.wake_loss(m, x).mean(), "no mean"),
        (lambda m, x: -ws.wake_loss(m, x), "wrong sign"),
        (lambda m, x: with_log_q(m, x), "log q is not"),
        (lambda m, x: -m.log_p(x, straight_through(m, x)), "gradients reach phi"),
        (lambda m, x: torch.zeros(len(x)), "no gradient"),
        (lambda m, x: -m.log_p(x, mean_field(m, x)), "same on every call"),
        (seeded_inside(ws.wake_loss), "same on every call"),
    ],
    "sleep_loss": [
        (lambda m, n: -m.log_p(*m.dream(n)), "dream(n)"),
        (lambda m, n: -ws.sleep_loss(m, n), "wrong sign"),
        (lambda m, n: -m.log_q(*m.dream(n)).sum(), "no mean, no sum"),
        (lambda m, n: ws.sleep_loss(m, 32), "shape (7,)"),  # ignores n
        (seeded_inside(ws.sleep_loss), "same on every call"),
    ],
    "log_likelihood_estimate": [
        (lambda m, x, k: m.log_weights(x, k).mean(0), "ELBO"),
        (lambda m, x, k: torch.logsumexp(m.log_weights(x, k), 0), "subtract log k"),
        (lambda m, x, k: ws.log_likelihood_estimate(m, x, 5), "fresh samples"),  # ignores k
        (seeded_inside(ws.log_likelihood_estimate), "same on every call"),
    ],
    "discriminator_loss": [
        (lambda r, f: -torch.log(torch.sigmoid(r)) - torch.log(1 - torch.sigmoid(f)), "softplus"),
        (lambda r, f: -gan.discriminator_loss(r, f), "the sign"),
        (lambda r, f: gan.discriminator_loss(f, r), "swapped"),
        (lambda r, f: gan.discriminator_loss(r, f).mean(), "no mean"),
    ],
    "generator_loss_nonsaturating": [
        (lambda f: gan.generator_loss_minimax(f), "saturates"),
        (lambda f: -torch.log(torch.sigmoid(f)), "softplus(-l)"),
        (lambda f: -F.softplus(-f), "the sign"),
    ],
    "mode_coverage": [
        (lambda s, c, std: ((torch.cdist(s, c) <= 3 * std).any(0).sum().item(), 0.5), "nearest"),
        (lambda s, c, std: (len(c), metrics.mode_coverage(s, c, std)[1]), "high-quality"),
        (lambda s, c, std: (metrics.mode_coverage(s, c, std)[0], 100.0), "fraction"),
        (lambda s, c, std: metrics.mode_coverage(s, c, 3 * std), "3 std"),
    ],
    "reverse_kl_estimate": [
        (lambda mu, ls, lp, n: -unified.reverse_kl_estimate(mu, ls, lp, n), "the sign"),
        (detached_samples_kl, "differentiable function of mu and log_s"),
        (lambda mu, ls, lp, n: unified.reverse_kl_estimate(mu, ls, lp, 256), "exactly n"),
        (seeded_inside(unified.reverse_kl_estimate), "same value on every call"),
    ],
    "forward_kl_estimate": [
        (lambda mu, ls, x: -unified.forward_kl_estimate(mu, ls, x), "the sign"),
        (lambda mu, ls, x: -densities.gaussian_log_prob(x, mu, ls).mean(), "2 * log_s"),
    ],
    "qr_posteriors": [
        (lambda lg, g0, d, dx: qr_with_prior(lg, g0, dx), "MARGINAL"),
        (lambda lg, g0, d, dx: unified.qr_posteriors(lg, g0, d, dx)[::-1], "swapped"),
        (
            lambda lg, g0, d, dx: tuple(
                q + math.log(dx) for q in unified.qr_posteriors(lg, g0, d, dx)
            ),
            "not sum = 1",
        ),
        (
            lambda lg, g0, d, dx: tuple(q + 1.0 for q in unified.qr_posteriors(lg, g0, d, dx)),
            "normalise",
        ),
    ],
    "iwgan_weights": [
        (lambda lg: torch.sigmoid(lg) / torch.sigmoid(lg).sum(), "density ratio"),
        (lambda lg: torch.exp(lg), "normalise"),
        (lambda lg: torch.softmax(lg, 0), "carry a gradient"),
    ],
}


@pytest.mark.parametrize(
    "name,wrong,hint", [(n, f, h) for n, cases in WRONG.items() for f, h in cases]
)
def test_a_wrong_answer_fails_with_a_hint(name, wrong, hint, capsys, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    check = getattr(checks, name)
    used, result = run(check, wrong)
    printed = capsys.readouterr().out
    assert not result.passed and result.implemented
    modules = (em, vae, ws, gan, metrics, unified)  # where the references live
    assert used in {getattr(m, name, None) for m in modules}  # the reference
    assert printed.startswith("FAIL") and hint in printed, printed


def test_a_crashing_answer_is_reported_not_raised(capsys):
    def broken(X, w, mu, cov):
        return X @ mu  # shape error inside the student's code

    run(checks.responsibilities, broken)
    assert "raised RuntimeError" in capsys.readouterr().out


def test_summary_lists_each_exercise(capsys):
    checks.results.clear()
    checks.elbo(em.elbo)
    assert checks.summary() == {"elbo": True}


# --- correct answers written differently from the reference: each must pass


def log_joint(X, w, mu, cov):
    return w.log() + densities.mvn_log_prob(X, mu, cov)


def m_step_by_loops(X, r, reg):
    N, D = X.shape
    weights, means, covs = [], [], []
    for k in range(r.shape[1]):
        rk = r[:, k]
        Nk = rk.sum()
        mean = (rk[:, None] * X).sum(0) / Nk
        cov = sum(rk[n] * torch.outer(X[n] - mean, X[n] - mean) for n in range(N)) / Nk
        weights.append(Nk / N)
        means.append(mean)
        covs.append(cov + reg * torch.eye(D, dtype=X.dtype))
    return torch.stack(weights), torch.stack(means), torch.stack(covs)


def wake_loss_by_hand(m, x):
    """Samples drawn as uniform < p, not with torch.bernoulli: other draws, same law."""
    h, hs = x, []
    with torch.no_grad():
        for layer in m.recognition:
            h = (torch.rand_like(h @ layer.weight.T) < torch.sigmoid(layer(h))).to(x.dtype)
            hs.append(h)
    return -m.log_p(x, hs)


def sleep_loss_one_layer_at_a_time(m, n):
    x, hs = m.dream(n)
    layers = [x, *hs]
    return -sum(
        densities.bernoulli_log_prob(layers[i + 1], layer(layers[i]))
        for i, layer in enumerate(m.recognition)
    )


def log_likelihood_one_sample_at_a_time(m, x, k):
    log_w = torch.cat([m.log_weights(x, 1) for _ in range(k)])  # (k, B), k separate draws
    return torch.logsumexp(log_w - math.log(k), 0)


def reverse_kl_with_exact_entropy(mu, log_s, log_p, n):
    """E_q[log q] in closed form (minus the entropy), E_q[log p] by sampling."""
    z = mu + log_s.exp() * torch.randn(n, mu.shape[0], dtype=mu.dtype)
    neg_entropy = -(log_s + 0.5 * math.log(2 * math.pi * math.e)).sum()
    return neg_entropy - log_p(z).mean()


def coverage_by_hand(samples, centres, std):
    covered, good = set(), 0
    for point in samples:
        d = ((centres - point) ** 2).sum(1).sqrt()
        k = int(d.argmin())
        if d[k] <= 3 * std:
            good += 1
            covered.add(k)
    return len(covered), good / len(samples)


def qr_by_softplus(logit, log_g0, log_pd, dx):
    """log sigmoid as -softplus, the marginal factored around p_data, the max taken out."""
    log_m = log_pd + torch.log(0.5 * (log_g0 - log_pd).exp() + 0.5)
    out = []
    for log_q in (-F.softplus(-logit) + log_m, -F.softplus(logit) + log_m):
        top = log_q.max()
        out.append(log_q - top - torch.log((log_q - top).exp().sum() * dx))
    return tuple(out)


def iwgan_by_hand(lg):
    w = torch.exp(lg.detach() - lg.detach().max())  # D / (1 - D) = exp(l), stabilised
    return w / w.sum()


RIGHT = {
    "responsibilities": lambda X, w, mu, cov: torch.exp(
        log_joint(X, w, mu, cov) - torch.logsumexp(log_joint(X, w, mu, cov), 1, keepdim=True)
    ),
    "m_step": m_step_by_loops,
    "elbo": lambda X, r, w, mu, cov: (
        (r * log_joint(X, w, mu, cov)).sum(1) + torch.special.entr(r).sum(1)
    ),
    "bernoulli_m_step": lambda X, r, a: (
        r.mean(0),
        (X.T @ r + a).T / (r.sum(0)[:, None] + 2 * a),
    ),
    "gaussian_kl": lambda mu, lv: -0.5 * (1 + lv - mu**2 - lv.exp()).sum(-1),
    "reparameterize": lambda mu, lv: torch.distributions.Normal(mu, (0.5 * lv).exp()).rsample(),
    "negative_elbo": lambda x, lg, mu, lv, b: (
        -torch.distributions.Bernoulli(logits=lg).log_prob(x).sum(-1)
        + b
        * torch.distributions.kl_divergence(
            torch.distributions.Normal(mu, (0.5 * lv).exp()),
            torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu)),
        ).sum(-1)
    ),
    "iwae_bound": lambda lw: lw.max(0).values + torch.log(torch.exp(lw - lw.max(0).values).mean(0)),
    "wake_loss": wake_loss_by_hand,
    "sleep_loss": sleep_loss_one_layer_at_a_time,
    "log_likelihood_estimate": log_likelihood_one_sample_at_a_time,
    "discriminator_loss": lambda r, f: -F.logsigmoid(r) - F.logsigmoid(-f),
    "generator_loss_nonsaturating": lambda f: -F.logsigmoid(f),
    "mode_coverage": coverage_by_hand,
    "reverse_kl_estimate": reverse_kl_with_exact_entropy,
    "forward_kl_estimate": lambda mu, ls, x: (
        -torch.distributions.Normal(mu, ls.exp()).log_prob(x).sum(-1).mean()
    ),
    "iwgan_weights": iwgan_by_hand,
    "qr_posteriors": qr_by_softplus,
}


def test_every_check_has_two_wrong_answers_and_one_right_one_written_differently():
    names = {check.__name__ for check, _ in CHECKS}
    assert set(RIGHT) == names
    assert all(len(WRONG[name]) >= 2 for name in names)


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_correct_answer_written_differently_passes(name, capsys):
    mine = RIGHT[name]
    used, result = run(getattr(checks, name), mine)
    assert result.passed and used is mine, capsys.readouterr().out


# the checks of functions with a size argument reject a function that ignores it
IGNORES_SIZE = {
    "sleep_loss": lambda m, n: ws.sleep_loss(m, 32),
    "log_likelihood_estimate": lambda m, x, k: ws.log_likelihood_estimate(m, x, 20),
    "reverse_kl_estimate": lambda mu, ls, lp, n: unified.reverse_kl_estimate(mu, ls, lp, 1000),
}


@pytest.mark.parametrize("name", sorted(IGNORES_SIZE))
def test_a_function_that_ignores_its_size_argument_fails(name, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    _, result = run(getattr(checks, name), IGNORES_SIZE[name])
    assert not result.passed and result.status == "wrong"


# --- the harness itself


def test_a_check_result_is_a_record_with_points():
    _, result = run(checks.elbo, em.elbo)
    assert (result.name, result.status, result.points, result.hint) == ("elbo", "passed", 1.0, "")
    _, result = run(checks.elbo, lambda X, r, w, mu, cov: -em.elbo(X, r, w, mu, cov))
    assert result.status == "wrong" and result.points == 0.0 and "sign" in result.hint
    assert "wrong answer on the test case" in result.details


def test_the_statistical_judge_accepts_other_draws_and_rejects_a_shifted_mean():
    from dgm.checks.harness import Statistical

    def reference(n):
        return torch.randn(n).mean(0, keepdim=True)

    def other_draws(n):
        return (torch.rand(n, 12).sum(1) - 6).mean(0, keepdim=True)  # Irwin-Hall, mean 0

    cases = [("n=50", (50,)), ("n=5", (5,))]
    judge = Statistical(draws=300)
    assert checks.run_check("t", other_draws, reference, cases, judge, quiet=True).passed
    shifted = checks.run_check("t", lambda n: reference(n) + 0.3, reference, cases, judge)
    assert not shifted.passed and "beyond sampling error" in shifted.details
    constant = checks.run_check("t", lambda n: torch.zeros(1), reference, cases, judge)
    assert not constant.passed and "same value on every call" in constant.details


def test_the_grading_switch_is_read_through_config(monkeypatch):
    from dgm import config

    monkeypatch.setenv("DGM_GRADING", "yes")
    assert config.grading()
    monkeypatch.setenv("DGM_GRADING", "0")
    assert not config.grading()


def test_the_lecture_modules_hold_their_checks():
    from dgm.checks import em as em_checks
    from dgm.checks import wake_sleep as ws_checks

    assert checks.responsibilities is em_checks.responsibilities
    assert checks.wake_loss is ws_checks.wake_loss
