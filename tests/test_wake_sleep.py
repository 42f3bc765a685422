import itertools

import pytest
import torch

from dgm import metrics
from dgm import wake_sleep as ws


def tiny(seed=0, sizes=(4, 3, 2)):
    """A Helmholtz machine small enough to enumerate: 4 pixels, layers of 3 and 2 units."""
    torch.manual_seed(seed)
    model = ws.HelmholtzMachine(ws.HelmholtzConfig(sizes)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # sharper conditionals than the default init
    return model


def all_states(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def enumerate_h(model, x):
    """Every latent configuration (h_1, h_2), broadcast against the batch x: lists of (S, B, n)."""
    sizes = model.cfg.sizes
    states = list(itertools.product(all_states(sizes[1]), all_states(sizes[2])))
    hs = [torch.stack([s[i] for s in states])[:, None, :].expand(-1, len(x), -1) for i in range(2)]
    return hs


def exact_log_px(model, x):
    return torch.logsumexp(model.log_p(x, enumerate_h(model, x)), dim=0)  # (B,)


def test_p_and_q_are_normalised():
    model = tiny()
    xs = all_states(4)
    assert torch.logsumexp(exact_log_px(model, xs), 0).exp().item() == pytest.approx(1.0, abs=1e-10)
    q = model.log_q(xs, enumerate_h(model, xs)).exp().sum(0)  # sum over h for each x
    assert torch.allclose(q, torch.ones(16, dtype=torch.float64))


def test_dreams_follow_the_model_distribution():
    model = tiny()
    torch.manual_seed(1)
    x, hs = model.dream(100_000)
    assert [h.shape for h in hs] == [(100_000, 3), (100_000, 2)]
    index = (x * torch.tensor([8.0, 4.0, 2.0, 1.0], dtype=x.dtype)).sum(1).long()
    empirical = torch.bincount(index, minlength=16).double() / len(index)
    exact = exact_log_px(model, all_states(4)).exp()
    assert torch.allclose(empirical, exact, atol=0.01)


def test_importance_sampled_log_likelihood_of_a_model_known_exactly():
    model = tiny()
    x = all_states(4)
    torch.manual_seed(2)
    exact = exact_log_px(model, x)
    # the exact relative variance of the weights w = p(x, h) / q(h | x) under q, by enumeration
    hs = enumerate_h(model, x)
    log_q, log_w = model.log_q(x, hs), model.log_p(x, hs) - model.log_q(x, hs)  # (S, B)
    rel_var = (
        torch.logsumexp(log_q + 2 * log_w, 0).exp() / exact.exp() ** 2 - 1
    )  # Var_q(w) / p(x)^2
    for k in (100, 20_000):
        est = metrics.importance_log_likelihood(model.log_weights, x, k=k, chunk=10_000)
        stderr = (
            rel_var.detach() / k
        ).sqrt()  # delta method: sd of log(mean w) ~ sd(w) / (p sqrt(k))
        assert ((est - exact).abs() < 5 * stderr + 1e-3).all(), k


def grads(loss, params):
    return [
        g if g is not None else torch.zeros_like(p)
        for g, p in zip(torch.autograd.grad(loss, params, allow_unused=True), params)
    ]


def test_wake_trains_only_theta_and_sleep_only_phi():
    model = tiny()
    x = all_states(4)
    wake = grads(ws.wake_loss(model, x).mean(), model.recognition_parameters())
    sleep = grads(ws.sleep_loss(model, 50).mean(), model.generative_parameters())
    assert all((g == 0).all() for g in wake + sleep)
    assert any(
        (g != 0).any() for g in grads(ws.wake_loss(model, x).mean(), model.generative_parameters())
    )
    assert any(
        (g != 0).any()
        for g in grads(ws.sleep_loss(model, 50).mean(), model.recognition_parameters())
    )


def test_wake_and_sleep_updates_each_reduce_their_own_loss_on_a_fixed_batch():
    model = tiny()
    x = all_states(4)
    torch.manual_seed(3)
    hs = model.sample_q(x)  # fixed wake samples
    dream_x, dream_hs = model.dream(64)  # fixed dreams
    theta = torch.optim.SGD(model.generative_parameters(), lr=0.05)
    phi = torch.optim.SGD(model.recognition_parameters(), lr=0.05)
    wake_before = -model.log_p(x, hs).mean().item()
    sleep_before = -model.log_q(dream_x, dream_hs).mean().item()
    for _ in range(5):
        theta.zero_grad()
        (-model.log_p(x, hs).mean()).backward()
        theta.step()
        phi.zero_grad()
        (-model.log_q(dream_x, dream_hs).mean()).backward()
        phi.step()
    assert -model.log_p(x, hs).mean().item() < wake_before
    assert -model.log_q(dream_x, dream_hs).mean().item() < sleep_before


def test_rws_with_one_sample_is_wake_sleep_and_its_weights_are_normalised():
    model = tiny()
    x = all_states(4)
    torch.manual_seed(4)
    theta_loss, _ = ws.rws_losses(model, x, 1)
    torch.manual_seed(4)
    torch.testing.assert_close(theta_loss, ws.wake_loss(model, x))
    theta_loss, phi_loss = ws.rws_losses(model, x, 20)
    assert theta_loss.shape == phi_loss.shape == (len(x),)
    assert torch.isfinite(theta_loss).all() and torch.isfinite(phi_loss).all()


def test_score_function_phi_gradient_is_unbiased():
    """Its mean over many draws matches the exact ELBO gradient, computed by enumeration."""
    model = tiny()
    x = all_states(4)[[3, 9]]
    params = model.recognition_parameters()
    hs = enumerate_h(model, x)
    log_q = model.log_q(x, hs)  # (S, B)
    exact_elbo = (log_q.exp() * (model.log_p(x, hs) - log_q)).sum(0).mean()
    exact = torch.cat([g.flatten() for g in grads(-exact_elbo, params)])
    torch.manual_seed(5)
    draws = torch.stack(
        [
            torch.cat(
                [g.flatten() for g in grads(ws.elbo_score_surrogate(model, x).mean(), params)]
            )
            for _ in range(4000)
        ]
    )
    stderr = draws.std(0) / 4000**0.5
    assert ((draws.mean(0) - exact).abs() <= 5 * stderr + 1e-9).all()


def test_the_leave_one_out_baseline_keeps_the_gradient_unbiased_and_cuts_its_variance():
    model = tiny()
    x = all_states(4)[[3, 9]]
    params = model.recognition_parameters()
    hs = enumerate_h(model, x)
    log_q = model.log_q(x, hs)
    exact_elbo = (log_q.exp() * (model.log_p(x, hs) - log_q)).sum(0).mean()
    exact = torch.cat([g.flatten() for g in grads(-exact_elbo, params)])

    def draws(**kw):
        torch.manual_seed(6)
        return torch.stack(
            [
                torch.cat(
                    [
                        g.flatten()
                        for g in grads(ws.elbo_score_surrogate(model, x, **kw).mean(), params)
                    ]
                )
                for _ in range(3000)
            ]
        )

    plain, centred = draws(k=4), draws(k=4, baseline=True)
    for d in (plain, centred):
        assert ((d.mean(0) - exact).abs() <= 5 * d.std(0) / 3000**0.5 + 1e-9).all()
    # same samples per draw, far less noise: the signal's mean was most of its size
    assert centred.var(0).sum() < 0.5 * plain.var(0).sum()
    with pytest.raises(ValueError, match="k >= 2"):
        ws.elbo_score_surrogate(model, x, k=1, baseline=True)


def test_rws_q_updates_wake_on_data_sleep_on_dreams_and_both_halves():
    model = tiny()
    x = all_states(4)
    torch.manual_seed(7)
    theta_w, phi_w = ws.rws_losses(model, x, 5, "wake")
    torch.manual_seed(7)
    theta_s, phi_s = ws.rws_losses(model, x, 5, "sleep")
    torch.testing.assert_close(theta_w, theta_s)  # the theta update does not change
    torch.manual_seed(7)
    model.sample_q(x, 5)  # the same draws as inside rws_losses, then the dreams
    torch.testing.assert_close(phi_s, ws.sleep_loss(model, len(x)))
    torch.manual_seed(7)
    _, phi_b = ws.rws_losses(model, x, 5, "both")
    torch.testing.assert_close(phi_b, (phi_w + phi_s) / 2)
    for q_update in ws.Q_UPDATES:  # phi's loss never moves theta, theta's never moves phi
        theta_loss, phi_loss = ws.rws_losses(model, x, 5, q_update)
        assert all((g == 0).all() for g in grads(phi_loss.mean(), model.generative_parameters()))
        assert all((g == 0).all() for g in grads(theta_loss.mean(), model.recognition_parameters()))
    with pytest.raises(ValueError, match="q_update"):
        ws.rws_losses(model, x, 5, "dream")


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="sizes"):
        ws.HelmholtzMachine(ws.HelmholtzConfig((784,)))


@pytest.mark.parametrize("method", ["ws", "rws"])
def test_training_step_is_one_update_on_the_mean_losses(method):
    """It returns the two batch-mean losses before the update, detached, after exactly one
    Adam step on both (wake-sleep's two phases, or RWS's)."""
    torch.manual_seed(0)
    x = (torch.rand(30, 16) < 0.4).float()
    model = ws.HelmholtzMachine(ws.HelmholtzConfig((16, 8, 4)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    if method == "ws":
        expected = (ws.wake_loss(model, x).mean(), ws.sleep_loss(model, len(x)).mean())
    else:
        expected = tuple(v.mean() for v in ws.rws_losses(model, x, 3, "wake"))
    torch.manual_seed(1)
    got = ws.training_step(model, x, opt, method, k=3)
    for g, e in zip(got, expected):
        assert not g.requires_grad
        torch.testing.assert_close(g, e.detach())
    assert all(int(s["step"]) == 1 for s in opt.state.values())


@pytest.mark.parametrize("method,q_update", [("ws", "wake"), ("rws", "wake"), ("rws", "both")])
def test_fit_lowers_the_theta_loss(method, q_update):
    torch.manual_seed(0)
    x = (torch.rand(300, 16) < torch.linspace(0.1, 0.9, 16)).float()
    model = ws.HelmholtzMachine(ws.HelmholtzConfig((16, 8, 4)))
    history = ws.fit(
        model, x, 150, method=method, q_update=q_update, lr=1e-2, progress=False, log_every=1
    )
    losses = [v for _, v in history["theta loss"]]
    assert sum(losses[-20:]) < sum(losses[:20])
    with pytest.raises(ValueError, match="method"):
        ws.fit(model, x, 1, method="em")


@pytest.mark.parametrize("q_update", ["sleep", "wake", "both"])
def test_the_build_loop_is_one_adam_step_on_each_of_the_reweighted_losses(q_update):
    """One step of ``wake_sleep_loop`` with ``k_wake`` draws: theta's Adam step on
    ``rws_losses``' theta loss, then phi's on the loss ``q_update`` names (the dreams drawn
    after theta's step), the same random draws in the same order."""
    model, x = tiny(3, sizes=(4, 3)), all_states(4)
    by_hand = tiny(3, sizes=(4, 3))
    torch.manual_seed(11)
    losses = ws.wake_sleep_loop(model, x, 1, 0.05, 6, k_wake=4, q_update=q_update)

    torch.manual_seed(11)
    opt_theta = torch.optim.Adam(by_hand.generative_parameters(), lr=0.05)
    opt_phi = torch.optim.Adam(by_hand.recognition_parameters(), lr=0.05)
    xb = x[torch.randint(len(x), (6,))]
    theta_loss, wake_q = ws.rws_losses(by_hand, xb, 4, "wake")
    theta_loss.mean().backward()
    opt_theta.step()
    if q_update == "wake":
        phi_loss = wake_q.mean()
    else:
        phi_loss = ws.sleep_loss(by_hand, 6).mean()
        if q_update == "both":
            phi_loss = (phi_loss + wake_q.mean()) / 2
    phi_loss.backward()
    opt_phi.step()

    for (name, got), want in zip(model.state_dict().items(), by_hand.state_dict().values()):
        assert torch.equal(got, want), name
    assert losses[0].tolist() == pytest.approx([theta_loss.mean().item(), phi_loss.item()])


def test_the_build_loop_names_an_unknown_q_update():
    with pytest.raises(ValueError, match="q_update must be one of .* got 'dreams'"):
        ws.wake_sleep_loop(tiny(), all_states(4), 1, q_update="dreams")


def test_the_build_loop_by_default_is_wake_sleep_and_dreams_after_thetas_step():
    """``k_wake=1``, ``q_update="sleep"``: the step is ``wake_loss``'s then ``sleep_loss``'s,
    exactly, and the dreams come from theta as its step left it."""
    model, x = tiny(5, sizes=(4, 3)), all_states(4)
    by_hand = tiny(5, sizes=(4, 3))
    dreamt_from = []
    dream = model.dream

    def recording_dream(n):
        dreamt_from.append([p.detach().clone() for p in model.generative_parameters()])
        return dream(n)

    model.dream = recording_dream
    torch.manual_seed(2)
    ws.wake_sleep_loop(model, x, 1, 0.05, 6)

    torch.manual_seed(2)
    opt_theta = torch.optim.Adam(by_hand.generative_parameters(), lr=0.05)
    opt_phi = torch.optim.Adam(by_hand.recognition_parameters(), lr=0.05)
    xb = x[torch.randint(len(x), (6,))]
    ws.wake_loss(by_hand, xb).mean().backward()
    opt_theta.step()
    ws.sleep_loss(by_hand, 6).mean().backward()
    opt_phi.step()

    for (name, got), want in zip(model.state_dict().items(), by_hand.state_dict().values()):
        assert torch.equal(got, want), name
    (seen,) = dreamt_from
    assert all(torch.equal(a, b) for a, b in zip(seen, model.generative_parameters()))


def test_build_weights_use_the_build_keys_and_load_back_exactly():
    model = ws.HelmholtzMachine(ws.HelmholtzConfig((6, 3)))
    state = ws.build_weights(model)
    assert set(state) == {
        "prior_logits",
        "generative.weight",
        "generative.bias",
        "recognition.weight",
        "recognition.bias",
    }
    other = ws.HelmholtzMachine(ws.HelmholtzConfig((6, 3)))
    ws.load_build_weights(other, state)
    for (name, got), want in zip(other.state_dict().items(), model.state_dict().values()):
        assert torch.equal(got, want), name
    with pytest.raises(RuntimeError):  # weights of another architecture are refused
        ws.load_build_weights(other, {**state, "extra": torch.zeros(1)})
