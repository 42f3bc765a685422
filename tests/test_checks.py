"""Every check must pass the reference and catch plausible wrong answers with a hint."""

import pytest
import torch
import torch.nn.functional as F

from dgm import checks, em, gan, metrics, unified, vae
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
]


def detached_samples_kl(mu, log_s, log_p, n):
    z = (mu + log_s.exp() * torch.randn(n, mu.shape[0])).detach()  # no reparameterization
    return (vae.gaussian_log_prob(z, mu, 2 * log_s) - log_p(z)).mean()


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


def naive_responsibilities(X, w, mu, cov):  # exp of log densities: underflows far away
    joint = w * em.gaussian_log_pdf(X, mu, cov).exp()
    return joint / joint.sum(1, keepdim=True)


WRONG = {
    "responsibilities": [
        (lambda X, w, mu, cov: w * em.gaussian_log_pdf(X, mu, cov).exp(), "normalise over dim=1"),
        (lambda X, w, mu, cov: em.responsibilities(X, w, mu, cov).T, "transposed"),
        (naive_responsibilities, "log space"),
        (lambda X, w, mu, cov: torch.softmax(em.gaussian_log_pdf(X, mu, cov), 1), "pi_k"),
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
        (lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()), "torch.normal"),
        (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "scale it by sigma"),
        (lambda mu, lv: mu + (0.5 * lv).exp().detach() * torch.randn_like(mu), "log_var"),
        (lambda mu, lv: mu + torch.randn_like(mu), "variance"),
    ],
    "negative_elbo": [
        (lambda x, lg, mu, lv, b: -vae.negative_elbo(x, lg, mu, lv, b), "NEGATIVE"),
        (lambda x, lg, mu, lv, b: -vae.bernoulli_log_likelihood(x, lg), "left out the KL"),
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
        (lambda m, x: ws.wake_loss(m, x) * len(x), "averaged over the batch"),
        (lambda m, x: -ws.wake_loss(m, x), "wrong sign"),
        (
            lambda m, x: -(m.log_p(x, m.sample_q(x)) - m.log_q(x, m.sample_q(x))).mean(),
            "log q is not",
        ),
        (lambda m, x: -m.log_p(x, straight_through(m, x)).mean(), "gradients reach phi"),
        (lambda m, x: torch.tensor(0.0), "no gradient"),
    ],
    "sleep_loss": [
        (lambda m, n: -m.log_p(*m.dream(n)).mean(), "dream(n)"),
        (lambda m, n: -ws.sleep_loss(m, n), "wrong sign"),
        (lambda m, n: -m.log_q(*m.dream(n)).sum(), "averaged over the batch"),
    ],
    "log_likelihood_estimate": [
        (lambda m, x, k: m.log_weights(x, k).mean(0), "ELBO"),
        (lambda m, x, k: torch.logsumexp(m.log_weights(x, k), 0), "subtract log k"),
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
    ],
    "forward_kl_estimate": [
        (lambda mu, ls, x: -unified.forward_kl_estimate(mu, ls, x), "the sign"),
        (lambda mu, ls, x: -vae.gaussian_log_prob(x, mu, ls).mean(), "2 * log_s"),
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
    modules = (em, vae, ws, gan, metrics, unified)
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
