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
    (checks.em_fit, em.em_fit),
    (checks.gaussian_kl, vae.gaussian_kl),
    (checks.reparameterize, vae.reparameterize),
    (checks.negative_elbo, vae.negative_elbo),
    (checks.iwae_bound, vae.iwae_bound),
    (checks.iwae_loss, vae.VAE.iwae_loss),
    (checks.wake_loss, ws.wake_loss),
    (checks.sleep_loss, ws.sleep_loss),
    (checks.log_likelihood_estimate, ws.log_likelihood_estimate),
    (checks.rws_losses, ws.rws_losses),
    (checks.discriminator_loss, gan.discriminator_loss),
    (checks.generator_loss_nonsaturating, gan.generator_loss_nonsaturating),
    (checks.mode_coverage, metrics.mode_coverage),
    (checks.training_step, gan.training_step),
    (checks.reverse_kl_estimate, unified.reverse_kl_estimate),
    (checks.forward_kl_estimate, unified.forward_kl_estimate),
    (checks.iwgan_weights, unified.iwgan_weights),
    (checks.qr_posteriors, unified.qr_posteriors),
    (checks.lemma1_gradients, unified.lemma1_gradients),
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


def step_packing_by_hand(model, real, z, opt_d, opt_g):
    """One PacGAN step written out: own packing, one D call on real and fake packs, BCE."""
    m = model.pack
    fake = model.G(z)
    packs = torch.cat([real.reshape(-1, 2 * m), fake.detach().reshape(-1, 2 * m)])
    labels = torch.cat([torch.ones(len(real) // m), torch.zeros(len(fake) // m)]).to(real)
    opt_d.zero_grad()
    d_loss = 2 * F.binary_cross_entropy_with_logits(model.D(packs), labels)  # 2x: mean of pairs
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = F.binary_cross_entropy_with_logits(
        model.D(fake.reshape(-1, 2 * m)), torch.ones(len(fake) // m).to(real)
    )
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss


def step_without_detach(model, real, z, opt_d, opt_g):
    """D's loss backpropagates into G too, and G's gradients are never cleared."""
    d_loss = gan.discriminator_loss(model.logits(real), model.logits(model.G(z))).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = gan.generator_loss_nonsaturating(model.logits(model.G(z))).mean()
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss


def step_with_stale_logits(model, real, z, opt_d, opt_g):
    fake = model.G(z)
    fake_logits = model.logits(fake)
    d_loss = gan.discriminator_loss(model.logits(real), model.logits(fake.detach())).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = gan.generator_loss_nonsaturating(fake_logits).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss


def step_interleaved_packs(model, real, z, opt_d, opt_g):
    """Packs sample i with sample i + B/m (a strided reshape) instead of consecutive samples."""
    m = model.pack

    def packs(x):
        return x.reshape(m, -1, 2).transpose(0, 1).reshape(-1, 2 * m)

    fake = model.G(z)
    d_loss = gan.discriminator_loss(model.D(packs(real)), model.D(packs(fake.detach()))).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = gan.generator_loss_nonsaturating(model.D(packs(fake))).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss


def step_no_zero_grad(model, real, z, opt_d, opt_g):
    fake = model.G(z)
    d_loss = gan.discriminator_loss(model.logits(real), model.logits(fake.detach())).mean()
    d_loss.backward()
    opt_d.step()
    g_loss = gan.generator_loss_nonsaturating(model.logits(fake)).mean()
    g_loss.backward(inputs=list(model.G.parameters()))
    opt_g.step()
    return d_loss, g_loss


def step_generator_first(model, real, z, opt_d, opt_g):
    fake = model.G(z)
    g_loss = gan.generator_loss_nonsaturating(model.logits(fake)).mean()
    opt_g.zero_grad()
    g_loss.backward(inputs=list(model.G.parameters()))
    opt_g.step()
    d_loss = gan.discriminator_loss(model.logits(real), model.logits(fake.detach())).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return d_loss, g_loss


def rws_variant(weights="softmax", detach=True, both="half", sign=1.0, q_fixed=None):
    """RWS losses with one named mistake."""

    def losses(model, x, k, q_update):
        q_update = q_fixed or q_update
        hs = model.sample_q(x, k)
        log_p, log_q = model.log_p(x, hs), model.log_q(x, hs)
        log_w = log_p - log_q
        log_w = log_w.detach() if detach else log_w
        w = {
            "softmax": lambda: torch.softmax(log_w, 0),
            "unnormalised": lambda: log_w.exp(),
            "uniform": lambda: torch.full_like(log_w, 1 / k),
        }[weights]()
        theta, wake_q = -(w * log_p).sum(0), -(w * log_q).sum(0)
        if q_update == "wake":
            return sign * theta, sign * wake_q
        sleep_q = ws.sleep_loss(model, len(x))
        phi = (
            sleep_q if q_update == "sleep" else (wake_q + sleep_q) * (0.5 if both == "half" else 1)
        )
        return sign * theta, sign * phi

    return losses


def rws_by_hand(model, x, k, q_update):
    """Normalised weights through logsumexp, and the dreams drawn first."""
    dreams = ws.sleep_loss(model, len(x)) if q_update != "wake" else None
    hs = model.sample_q(x, k)
    log_p, log_q = model.log_p(x, hs), model.log_q(x, hs)
    log_w = (log_p - log_q).detach()
    w = torch.exp(log_w - torch.logsumexp(log_w, dim=0, keepdim=True))
    theta_loss = -(w * log_p).sum(0)
    wake_q = -(w * log_q).sum(0)
    phi_loss = {"wake": wake_q, "sleep": dreams, "both": None}[q_update]
    if q_update == "both":
        phi_loss = 0.5 * wake_q + 0.5 * dreams
    return theta_loss, phi_loss


def iwae_loss_variant(mistake):
    """The IWAE loss of a VAE with one named mistake."""

    def loss(model, x, k):
        mu, log_var = model.encode(x)
        eps = torch.randn(k, *mu.shape, dtype=mu.dtype)
        z = mu + (0.5 * log_var).exp() * eps
        if mistake == "detached":
            z = z.detach()
        log_px = -F.binary_cross_entropy_with_logits(
            model.decode(z), x.expand(k, *x.shape), reduction="none"
        ).sum(-1)
        log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        std = log_var.exp() if mistake == "log_var as std" else (0.5 * log_var).exp()
        log_qz = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
        if mistake == "no prior":
            log_pz = 0.0
        log_w = log_px + log_pz - log_qz
        if mistake == "elbo":
            return -log_w.mean(0)
        bound = torch.logsumexp(log_w, 0) - math.log(k)
        return bound if mistake == "sign" else -bound

    return loss


def lemma_variant(mistake=None):
    """Lemma 1's gradients with one named mistake (None: by autograd, a right answer)."""

    def gradients(theta0, logit, log_pd, xs):
        dx = (xs[1] - xs[0]).item()
        log_g0 = densities.normal_log_prob(xs, theta0[0], math.exp(theta0[1]))
        prior = log_g0 if mistake == "conditional" else log_pd
        log_qr0, log_qr1 = unified.qr_posteriors(logit, log_g0, prior, dx)
        if mistake == "conditional":  # q^r(x | y=1) with p(x | y=1) = p_data
            log_qr1 = unified.qr_posteriors(logit, log_pd, log_pd, dx)[1]

        def sides(theta):
            log_g = densities.normal_log_prob(xs, theta[0], theta[1].exp())
            left = -0.5 * dx * (log_g.exp() * F.logsigmoid(logit)).sum()
            kl = densities.kl_by_quadrature
            half = 1.0 if mistake == "no half" else 0.5
            right = half * (kl(log_g, log_qr0, dx) + kl(log_pd, log_qr1, dx))
            if mistake != "no jsd":
                right = right - densities.jsd_by_quadrature(log_g, log_pd, dx)
            return left, right

        if mistake is None:  # autograd instead of finite differences
            theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
            return (
                torch.autograd.grad(sides(theta)[0], theta)[0],
                torch.autograd.grad(sides(theta)[1], theta)[0],
            )
        h = 1e-5
        out = []
        for k in (0, 1):
            grad = []
            for i in range(2):
                up = torch.tensor(theta0, dtype=torch.float64)
                up[i] += h
                if mistake == "one-sided":
                    down = torch.tensor(theta0, dtype=torch.float64)
                    grad.append((sides(up)[k] - sides(down)[k]) / h)
                else:
                    down = torch.tensor(theta0, dtype=torch.float64)
                    down[i] -= h
                    grad.append((sides(up)[k] - sides(down)[k]) / (2 * h))
            out.append(torch.stack(grad))
        return tuple(out[::-1]) if mistake == "swapped" else tuple(out)

    return gradients


def em_fit_variant(mistake=None):
    """The EM loop with one named mistake (None: a right answer with its own loop)."""

    def fit(X, init, tol, max_iter):
        params = init
        start = em.log_likelihood(X, *params)
        start = start.sum().item() if mistake == "sum" else start.mean().item()
        history = [] if mistake == "no start" else [start]
        for _ in range(max_iter):
            r = em.responsibilities(X, *params)
            params = em.m_step(X, r)
            ll = em.log_likelihood(X, *params)
            history.append(ll.sum().item() if mistake == "sum" else ll.mean().item())
            if mistake != "no stop" and len(history) > 1 and history[-1] - history[-2] < tol:
                break
        return params, history

    return fit


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
    "em_fit": [
        (em_fit_variant("no start"), "starts with the mean log-likelihood of init"),
        (em_fit_variant("no stop"), "stop as soon as"),
        (em_fit_variant("sum"), "MEAN log-likelihood"),
        (lambda X, init, tol, it: (init, [0.0]), "per iteration"),
    ],
    "rws_losses": [
        (rws_variant(detach=False), "constants"),
        (rws_variant(weights="unnormalised"), "softmax over k"),
        (rws_variant(weights="uniform"), "softmax over k"),
        (rws_variant(both="sum"), "HALF of each"),
        (rws_variant(q_fixed="wake"), "sleep q loss"),
        (rws_variant(sign=-1.0), "wrong sign"),
        (seeded_inside(ws.rws_losses), "same on every call"),
    ],
    "iwae_loss": [
        (iwae_loss_variant("elbo"), "negative ELBO"),
        (iwae_loss_variant("sign"), "wrong sign"),
        (iwae_loss_variant("detached"), "the wrong gradient for the encoder"),
        (iwae_loss_variant("log_var as std"), "log_var is log sigma^2"),
        (iwae_loss_variant("no prior"), "log N(z_k; 0, I)"),
        (lambda m, x, k: m.iwae_loss(x, 5), "logsumexp_k"),  # ignores k
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
    "training_step": [
        (step_with_stale_logits, "*before* the discriminator's update"),
        (lambda *a: checks.gan._step_variant(*a, minimax=True), "non-saturating"),
        (lambda *a: checks.gan._step_variant(*a, summed=True), "do not sum"),
        (step_without_detach, "detach the fakes"),
        (step_interleaved_packs, "consecutive samples"),
        (step_no_zero_grad, "on the second step"),
        (step_generator_first, "moved before the discriminator"),
        (lambda m, r, z, od, og: gan.training_step(m, r, z, od, og)[0], "the pair"),
    ],
    "lemma1_gradients": [
        (lemma_variant("one-sided"), "central differences"),
        (lemma_variant("conditional"), "marginal"),
        (lemma_variant("no jsd"), "second term"),
        (lemma_variant("swapped"), "swapped"),
        (lemma_variant("no half"), "p(y) = 1/2"),
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
    references = {getattr(m, name, None) for m in modules} | {vae.VAE.iwae_loss}
    assert used in references  # the reference
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


def log_likelihood_from_k_copies(m, x, k):
    """The k draws as one batch of k copies of x (another order of the noise), and the
    log-mean-exp shifted by hand."""
    log_w = m.log_weights(x.repeat(k, 1), 1).reshape(k, len(x))  # (k, B)
    top = log_w.max(0).values
    return top + (log_w - top).exp().mean(0).log()


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
    "log_likelihood_estimate": log_likelihood_from_k_copies,
    "rws_losses": rws_by_hand,
    "em_fit": em_fit_variant(None),
    "iwae_loss": iwae_loss_variant(None),
    "lemma1_gradients": lemma_variant(None),
    "discriminator_loss": lambda r, f: -F.logsigmoid(r) - F.logsigmoid(-f),
    "generator_loss_nonsaturating": lambda f: -F.logsigmoid(f),
    "mode_coverage": coverage_by_hand,
    "reverse_kl_estimate": reverse_kl_with_exact_entropy,
    "forward_kl_estimate": lambda mu, ls, x: (
        -torch.distributions.Normal(mu, ls.exp()).log_prob(x).sum(-1).mean()
    ),
    "iwgan_weights": iwgan_by_hand,
    "qr_posteriors": qr_by_softplus,
    "training_step": step_packing_by_hand,
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
    "rws_losses": lambda m, x, k, q: ws.rws_losses(m, x, 5, q),
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


def test_a_kept_reference_is_drawn_once_per_case_and_judges_as_if_drawn_again(monkeypatch):
    """With REFERENCE_DRAWS kept (the build assignments' tests), a judge marked ``cache``
    draws the reference once per exercise, case and seed: the verdicts, and the numbers drawn
    after them, are those of drawing it for every judging (the grader's way)."""
    from dgm.checks import harness
    from dgm.checks.harness import Statistical

    calls = []

    def reference(n):
        calls.append(n)
        return torch.randn(n).mean(0, keepdim=True)

    def right(n):
        return torch.randn(n).mean(0, keepdim=True)

    def shifted(n):
        return torch.randn(n).mean(0, keepdim=True) + 0.3

    cases = [("n=50", (50,)), ("n=5", (5,))]
    judge = Statistical(draws=100, cache=True)

    def judged():
        torch.manual_seed(0)
        out = []
        for student in (right, shifted, right):
            r = checks.run_check("t", student, reference, cases, judge, quiet=True)
            out.append((r.passed, r.details, torch.rand(1).item()))
        return out

    monkeypatch.setattr(harness, "REFERENCE_DRAWS", None)
    fresh, drawn_fresh = judged(), len(calls)
    calls.clear()
    monkeypatch.setattr(harness, "REFERENCE_DRAWS", {})
    kept = judged()
    assert kept == fresh and [p for p, _, _ in kept] == [True, False, True]
    assert drawn_fresh == 500 and len(calls) == 200  # each case's 100 draws, once


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


def _stale_graph():
    """A loss computed, then a weight its graph holds changed in place, then its backward."""
    layer = torch.nn.Linear(2, 1)
    loss = layer(torch.ones(1, 2, requires_grad=True)).sum()
    with torch.no_grad():
        layer.weight.add_(1.0)  # what an optimiser's step does
    loss.backward()


def _second_backward():
    x = torch.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()  # the graph was freed by the first


def _leaf_in_place():
    torch.zeros(2, requires_grad=True).lerp_(torch.ones(2), 0.1)  # an average outside no_grad


@pytest.mark.parametrize(
    "fn, phrase",
    [
        (_stale_graph, "compute that loss after the step"),
        (_second_backward, "fake.detach()"),
        (_leaf_in_place, "under torch.no_grad()"),
    ],
)
def test_a_torch_error_whose_cause_is_hard_to_guess_is_reported_with_its_hint(fn, phrase):
    """The harness reports a student's error (never raises it) and, for torch's errors whose
    message a student rarely reads back to its cause, adds a hint that names the fix."""
    from dgm.checks import harness

    with pytest.raises(harness.StudentError) as err:
        harness.call("build", fn, ())
    assert err.value.result.status == harness.ERROR
    assert phrase in err.value.result.hint, err.value.result.hint


def test_any_other_error_is_reported_without_a_hint():
    from dgm.checks import harness

    def broken():
        raise RuntimeError("shapes cannot be multiplied")

    with pytest.raises(harness.StudentError) as err:
        harness.call("build", broken, ())
    assert "shapes cannot be multiplied" in err.value.result.details
    assert err.value.result.hint == ""
