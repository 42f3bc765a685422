"""The checks of lectures 06 and 07 pass the reference, catch plausible wrong answers with
a hint aimed at the mistake, and pass correct answers written differently."""

import math

import pytest
import torch
import torch.nn.functional as F

from dgm import checks, energy, mcmc

CHECKS = {
    "energy_loss": energy.energy_loss,
    "jsd_mi_estimate": energy.jsd_mi_estimate,
    "generator_loss": energy.generator_loss,
    "ula_step": mcmc.ula_step,
    "mala_log_acceptance": mcmc.mala_log_acceptance,
    "effective_sample_size": mcmc.effective_sample_size,
}


def run(name, fn):
    used = getattr(checks, name)(fn)
    return used, checks.results[name]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_reference_passes_and_an_unsolved_exercise_falls_back(name, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    reference = CHECKS[name]

    def mine(*args):
        return reference(*args)

    used, result = run(name, mine)
    assert result.passed and used is mine

    def stub(*args):
        raise NotImplementedError()

    used, result = run(name, stub)
    assert used is reference and result.status == "not implemented"


# --------------------------------------------------------------------------- lecture 06


def grad_x(U, x, create_graph):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(U(x).sum(), x, create_graph=create_graph)
    return g


def energy_loss_penalty(U, real, fake, penalty, create_graph=True, squared=True):
    g = grad_x(U, real, create_graph)
    size = g.pow(2).sum(1) if squared else g.norm(dim=1)
    return U(real).mean() - U(fake.detach()).mean() + penalty * size.mean()


def jsd(T, x, z, roles="right", shuffle=True):
    zs = z[torch.randperm(len(z))] if shuffle else z
    joint, marginal = (T(x, z), T(x, zs)) if roles == "right" else (T(x, zs), T(x, z))
    return F.logsigmoid(joint).mean() + F.logsigmoid(-marginal).mean()


def generator_loss_variant(mi_sign=1.0, detach_encoder=False, detach_jsd=False):
    def loss_fn(model, z, w):
        x = model.G(z)
        loss = model.energy(x).mean()
        if model.mi == "jsd":
            x_in = x.detach() if detach_jsd else x  # then G gets no MI gradient at all
            loss = loss - mi_sign * w * energy.jsd_mi_estimate(model.T, x_in, z)
        elif model.mi == "infogan":
            x_in = x.detach() if detach_encoder else x
            loss = loss + mi_sign * w * energy.infogan_mi_penalty(z, model.encoder(x_in)).mean()
        return loss

    return loss_fn


# --------------------------------------------------------------------------- lecture 07


def langevin(noise=2.0, sign=-1.0):
    def step_fn(U, x, step):
        _, g = mcmc.energy_and_grad(U, x)
        return x + sign * step * g + math.sqrt(noise * step) * torch.randn_like(x)

    return step_fn


def mala_by_distributions(U, x, x_new, step, var=2.0, with_proposal=True):
    u, g = mcmc.energy_and_grad(U, x)
    u_new, g_new = mcmc.energy_and_grad(U, x_new)
    if not with_proposal:
        return u - u_new
    normal = torch.distributions.Normal
    s = math.sqrt(var * step)
    back = normal(x_new - step * g_new, s).log_prob(x).sum(1)
    forward = normal(x - step * g, s).log_prob(x_new).sum(1)
    return u - u_new + back - forward


def ess_first_negative(chain, factor=2.0, invert=False):
    n = len(chain)
    rho = mcmc.autocorrelation(chain, min(n - 1, 2000))
    total = 0.0
    for k in range(1, len(rho)):
        if rho[k] < 0:
            break
        total += rho[k].item()
    tau = 1 + factor * total
    return n * tau if invert else n / tau


WRONG = {
    "energy_loss": [
        (
            lambda U, r, f, p: (
                -energy.contrastive_loss(U, r, f.detach())
                + p * energy.gradient_penalty(U, r).mean()
            ),
            "the sign",
        ),
        (lambda U, r, f, p: energy_loss_penalty(U, r, f, p, squared=False), "squared norm"),
        (
            lambda U, r, f, p: energy_loss_penalty(U, r, f, p, create_graph=False),
            "create_graph=True",
        ),
        (
            lambda U, r, f, p: (
                energy.contrastive_loss(U, r, f) + p * energy.gradient_penalty(U, r).mean()
            ),
            "detach them",
        ),
    ],
    "jsd_mi_estimate": [
        (lambda T, x, z: jsd(T, x, z, shuffle=False), "torch.randperm"),
        (lambda T, x, z: jsd(T, x, z, roles="swapped"), "roles are swapped"),
        (
            lambda T, x, z: (
                F.softplus(-T(x, z)).mean() - F.softplus(T(x, z[torch.randperm(len(z))])).mean()
            ),
            "constant critic",
        ),
    ],
    "generator_loss": [
        (generator_loss_variant(mi_sign=-1.0), "InfoGAN term's sign"),
        (lambda m, z, w: m.energy(m.G(z)).mean(), "MI term is missing"),
        (generator_loss_variant(detach_encoder=True), "gradient"),
        (generator_loss_variant(detach_jsd=True), "sends G no gradient"),
    ],
    "ula_step": [
        (langevin(noise=1.0), "exp(-2U)"),
        (langevin(sign=1.0), "uphill"),
        (langevin(noise=0.0), "no noise"),
    ],
    "mala_log_acceptance": [
        (
            lambda U, x, xn, s: mala_by_distributions(U, x, xn, s, with_proposal=False),
            "energy difference alone",
        ),
        (lambda U, x, xn, s: mala_by_distributions(U, x, xn, s, var=1.0), "variance 2 eps"),
        (lambda U, x, xn, s: -mala_by_distributions(U, x, xn, s), "upside down"),
    ],
    "effective_sample_size": [
        (lambda c: ess_first_negative(c, invert=True), "n / tau"),
        (lambda c: ess_first_negative(c, factor=1.0), "counts each lag twice"),
        (lambda c: float(len(c)), "expected about"),
    ],
}

RIGHT = {
    "energy_loss": energy_loss_penalty,
    "jsd_mi_estimate": jsd,
    "generator_loss": lambda m, z, w: (
        m.U(m.G(z)).squeeze(-1).mean()
        + (
            0
            if m.mi is None
            else w * ((z - m.encoder(m.G(z))) ** 2).sum(1).mean()
            if m.mi == "infogan"
            else -w * jsd(m.T, m.G(z), z)
        )
    ),
    "ula_step": lambda U, x, s: (
        x
        - s * mcmc.energy_and_grad(U, x)[1]
        + torch.normal(0.0, math.sqrt(2 * s), x.shape, dtype=x.dtype)
    ),
    "mala_log_acceptance": mala_by_distributions,
    "effective_sample_size": ess_first_negative,
}

CASES = [(name, wrong, hint) for name, items in WRONG.items() for wrong, hint in items]


@pytest.mark.parametrize("name,wrong,hint", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_a_wrong_answer_fails_with_a_hint(name, wrong, hint, capsys, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    used, result = run(name, wrong)
    printed = capsys.readouterr().out
    assert not result.passed and result.implemented and used is CHECKS[name]
    assert printed.startswith("FAIL") and hint in printed, printed


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_correct_answer_written_differently_passes(name, capsys):
    used, result = run(name, RIGHT[name])
    assert result.passed and used is RIGHT[name], capsys.readouterr().out


def test_every_check_has_two_wrong_answers_and_a_right_one():
    assert set(WRONG) == set(RIGHT) == set(CHECKS)
    assert all(len(v) >= 2 for v in WRONG.values())


def test_the_ess_check_passes_the_reference_where_a_30_percent_tolerance_failed_it():
    """The grading benchmark's student005 of lecture 07 (grading seed 1): on its hidden variant
    the reference's estimate on the 0.97 chain is 32% under the exact ESS, inside Geyer's own
    scatter there; each chain's tolerance now covers it (checks.mcmc.ESS_TOL)."""
    from dgm.checks import harness
    from dgm.course import grade

    harness.set_variant(grade.variant(1, "student005", "07_mcmc.ipynb"))
    try:
        assert (
            checks.effective_sample_size(mcmc.effective_sample_size) is mcmc.effective_sample_size
        )
        chain = checks.mcmc.ar1_chain(0.97, 100_000, 103)
        assert (
            mcmc.effective_sample_size(chain) < 0.7 * 100_000 * 0.03 / 1.97
        )  # the old check's miss
    finally:
        harness.set_variant(0)
