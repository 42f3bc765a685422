"""The checks of lecture 09 pass the reference, catch plausible wrong answers with a hint
aimed at the mistake, and pass correct answers written differently."""

import math

import pytest
import torch

from dgm import checks
from dgm import diffusion as dm
from dgm import score as sm

CHECKS = {"dsm_loss": sm.dsm_loss, "q_sample": dm.q_sample, "ddpm_step": dm.ddpm_step}


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


def _dsm(s, x, sigma, n, target=lambda n, sigma: -n / sigma, at_noisy=True, half=0.5):
    y = x + sigma * n
    return half * ((s(y if at_noisy else x, sigma) - target(n, sigma)) ** 2).sum(-1)


def _abar_rows(abar, t, x):
    return abar[torch.as_tensor(t)].reshape(-1, *([1] * (x.dim() - 1)))


def _q(x0, t, abar, noise, power=0.5, swap=False, shift=0):
    t = torch.as_tensor(t)
    a = _abar_rows(abar, (t - shift).clamp(min=0), x0)
    w_x, w_n = a**power, (1 - a) ** power
    return w_n * x0 + w_x * noise if swap else w_x * x0 + w_n * noise


def _q_columns(x0, t, abar, noise):  # abar[t] (B,) against x0 (B, D): multiplies columns
    a = abar[torch.as_tensor(t)]
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _step(x, t, eps, betas, z, noise_at_end=False, noise_power=0.5, root=True, divide=True):
    b, a = betas[t], dm.alpha_bars(betas)[t]
    weight = b / (1 - a).sqrt() if root else b / (1 - a)
    mean = x - weight * eps
    if divide:
        mean = mean / (1 - b).sqrt()
    return mean + b**noise_power * z if (t > 0 or noise_at_end) else mean


def _jump_to_data(x, t, eps, betas, z):
    a = dm.alpha_bars(betas)[t]
    x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
    return x0 + betas[t].sqrt() * z if t > 0 else x0


WRONG = {
    "dsm_loss": [
        (lambda s, x, sig, n: _dsm(s, x, sig, n, target=lambda n, sig: n / sig), "wrong sign"),
        (lambda s, x, sig, n: _dsm(s, x, sig, n, half=1.0), "factor 1/2"),
        (lambda s, x, sig, n: _dsm(s, x, sig, n, target=lambda n, sig: -n * sig), "not -n * sigma"),
        (lambda s, x, sig, n: _dsm(s, x, sig, n, at_noisy=False), "at the noisy point"),
        (lambda s, x, sig, n: sig**2 * _dsm(s, x, sig, n), "no weight here"),
        (lambda s, x, sig, n: _dsm(s, x, sig, n).mean(), "shape (N,)"),
    ],
    "q_sample": [
        (lambda x, t, a, n: _q(x, t, a, n, power=1.0), "take square roots"),
        (lambda x, t, a, n: _q(x, t, a, n, swap=True), "swapped"),
        (lambda x, t, a, n: _q(x, t, a, n, shift=1), "off by one step"),
        (_q_columns, "multiplied columns"),
    ],
    "ddpm_step": [
        (lambda x, t, e, b, z: _step(x, t, e, b, z, noise_at_end=True), "no noise at the last"),
        (lambda x, t, e, b, z: _step(x, t, e, b, z, noise_power=1.0), "standard deviation"),
        (lambda x, t, e, b, z: _step(x, t, e, b, z, divide=False), "divide by sqrt(1 - beta_t)"),
        (lambda x, t, e, b, z: _step(x, t, e, b, z, root=False), "take the square root"),
        (_jump_to_data, "predicted x_0"),
    ],
}


def dsm_by_expanding(s, x, sigma, n):
    """1/2 ||s||^2 + s . n / sigma + 1/2 ||n||^2 / sigma^2, the square expanded."""
    v = s(x + sigma * n, sigma)
    return 0.5 * (v * v).sum(1) + (v * n).sum(1) / sigma + 0.5 * (n * n).sum(1) / sigma**2


def q_by_distribution(x0, t, abar, noise):
    """The same draw written as a location-scale transform of torch's Normal."""
    a = abar[torch.as_tensor(t)].view(-1, *([1] * (x0.dim() - 1)))
    return torch.distributions.Normal(a.sqrt() * x0, (1 - a).sqrt()).loc + (1 - a).sqrt() * noise


def step_by_posterior(x, t, eps, betas, z):
    """Through the predicted x_0 and the posterior mean of q(x_{t-1} | x_t, x_0)."""
    abar = dm.alpha_bars(betas)
    a, b = abar[t], betas[t]
    x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
    a_prev = abar[t - 1] if t > 0 else torch.tensor(1.0, dtype=abar.dtype)
    mean = (a_prev.sqrt() * b / (1 - a)) * x0 + ((1 - b).sqrt() * (1 - a_prev) / (1 - a)) * x
    return mean + b.sqrt() * z if t > 0 else mean


RIGHT = {
    "dsm_loss": dsm_by_expanding,
    "q_sample": q_by_distribution,
    "ddpm_step": step_by_posterior,
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


def test_the_library_answer_to_the_build_passes_its_check(monkeypatch):
    """``score.ncsn_from_scratch`` is what a failed build falls back to: its own check
    passes it, both parts (the notebook's answer is judged in ``test_assignments.py``)."""
    monkeypatch.delenv("DGM_GRADING", raising=False)

    def mine(*args):  # an answer that calls the library, as a student's build would
        return sm.ncsn_from_scratch(*args)

    # not yet among dgm.checks' names: the build joins the grader with lecture 09's notebook
    used = checks.diffusion.ncsn_from_scratch(mine)
    result = checks.results["ncsn_from_scratch"]
    assert result.passed and used is mine, result.details


def _anneal(score, x, sigmas, per_level, eps, order=1, step=None, noise=1.0):
    """Annealed Langevin with the slips a build may make: levels in another order, a step
    of its own, another noise scale."""
    for sigma in sigmas[::order]:
        alpha = step if step is not None else eps * sigma**2 / sigmas[-1] ** 2
        for _ in range(per_level):
            z = torch.randn_like(x)
            x = x + 0.5 * alpha * score(x, sigma) + noise * math.sqrt(alpha) * z
    return x


def _sampler_only(**slip):
    """A build whose network is not judged here: only its exact-score sampler is."""

    def build(data, sigmas, steps, lr, batch, probes, exact_score, x0, per_level, eps):
        L, (M, D) = len(sigmas), probes.shape
        exact = _anneal(exact_score, x0, sigmas, per_level, eps, **slip)
        return torch.zeros(steps), torch.zeros(L, M, D), x0.clone(), exact

    return build


def _lecture_07_convention(data, sigmas, steps, lr, batch, probes, exact_score, x0, per_level, eps):
    """Right, written in lecture 07's terms: x - e grad U + sqrt(2 e) xi with e = alpha / 2."""
    x = x0.clone()
    for sigma in sigmas:
        e = eps * sigma**2 / sigmas[-1] ** 2 / 2
        for _ in range(per_level):
            x = x + e * exact_score(x, sigma) + (2 * e) ** 0.5 * torch.randn_like(x)
    L, (M, D) = len(sigmas), probes.shape
    return torch.zeros(steps), torch.zeros(L, M, D), x0.clone(), x


SAMPLER_SLIPS = [
    (_sampler_only(order=-1), "from the largest sigma down"),
    (_sampler_only(step=0.1), "not eps itself"),
    (_sampler_only(noise=math.sqrt(2)), "sqrt(2 alpha_i) belongs with a drift"),
]


@pytest.mark.parametrize("build,hint", SAMPLER_SLIPS, ids=[h for _, h in SAMPLER_SLIPS])
def test_the_builds_sampler_property_names_each_slip(build, hint):
    from dgm.checks import diffusion as cd

    torch.manual_seed(0)
    m, s2 = torch.tensor([1.0, -0.5], dtype=torch.float64), 0.25
    data = m + 0.5 * torch.randn(100, 2, dtype=torch.float64)
    probes, x0 = data[:5], torch.tensor([[2.0, 1.0]], dtype=torch.float64)
    args = (data, [2.0, 0.5], probes, m, s2, x0, 0.1)  # the check's case
    found = cd._sampler_moments(lambda *a: build(*a), args)
    assert found is not None and hint in found, found
    assert cd._sampler_moments(lambda *a: _sampler_only()(*a), args) is None
    assert cd._sampler_moments(lambda *a: _lecture_07_convention(*a), args) is None
