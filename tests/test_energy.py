"""Lecture 06: the energy model's likelihood gradient, its penalty, and the MI estimators."""

import math

import pytest
import torch

from dgm import energy


def grid_2d(half_width=6.0, n=241):
    t = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], 1), (t[1] - t[0]).item() ** 2


class Quartic(torch.nn.Module):
    """A non-Gaussian 2-D energy with parameters: U(x) = a.x + x'Bx/2 + c ||x||^4 / 4."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor([0.3, -0.2], dtype=torch.float64))
        self.L = torch.nn.Parameter(torch.tensor([[1.0, 0.0], [0.4, 0.8]], dtype=torch.float64))
        self.c = torch.nn.Parameter(torch.tensor(0.05, dtype=torch.float64))

    def forward(self, x):
        B = self.L @ self.L.T
        return x @ self.a + 0.5 * ((x @ B) * x).sum(1) + 0.25 * self.c * x.pow(2).sum(1) ** 2


def test_the_exact_nll_gradient_is_the_positive_minus_the_negative_phase():
    torch.manual_seed(0)
    U = Quartic()
    grid, cell = grid_2d()
    data = torch.randn(500, 2, dtype=torch.float64) * 0.7 + torch.tensor([1.0, -0.5])
    params = list(U.parameters())
    exact = torch.autograd.grad(energy.nll_by_quadrature(U, data, grid, cell), params)
    # positive phase: the mean of grad U over the data; negative: over q_theta (on the grid)
    q = energy.model_weights_on_grid(U, grid).detach()
    positive = torch.autograd.grad(U(data).mean(), params)
    negative = torch.autograd.grad((q * U(grid)).sum(), params)
    for g, p, n in zip(exact, positive, negative):
        torch.testing.assert_close(g, p - n)
    assert max(g.abs().max() for g in exact) > 0.05  # not trivially zero


def test_log_partition_by_quadrature_matches_a_gaussians_normaliser():
    grid, cell = grid_2d(8.0, 321)
    S = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    P = torch.linalg.inv(S)

    def U(x):
        return 0.5 * ((x @ P) * x).sum(1)

    exact = math.log(2 * math.pi) + 0.5 * math.log(torch.linalg.det(S).item())
    assert energy.log_partition_by_quadrature(U, grid, cell).item() == pytest.approx(
        exact, abs=1e-6
    )


def test_contrastive_loss_with_the_models_own_samples_has_no_expected_gradient():
    """If the negatives are drawn from q_theta itself and the data too, the two phases cancel."""
    U = Quartic()
    grid, _ = grid_2d()
    q = energy.model_weights_on_grid(U, grid).detach()
    g = torch.Generator().manual_seed(0)
    a = grid[torch.multinomial(q, 200_000, replacement=True, generator=g)]
    b = grid[torch.multinomial(q, 200_000, replacement=True, generator=g)]
    grads = torch.autograd.grad(energy.contrastive_loss(U, a, b), list(U.parameters()))
    assert max(gr.abs().max().item() for gr in grads) < 0.05


def test_gradient_penalty_of_a_quadratic_energy_is_each_squared_norm_and_trains_theta():
    scale = torch.tensor(1.5, requires_grad=True)
    x = torch.randn(64, 3)

    def U(v):
        return 0.5 * scale * v.pow(2).sum(1)

    gp = energy.gradient_penalty(U, x)  # one value per point; the caller reduces
    torch.testing.assert_close(gp, (scale * x).pow(2).sum(1))
    (d,) = torch.autograd.grad(gp.mean(), scale)  # d/ds s^2 E||x||^2 = 2 s E||x||^2
    torch.testing.assert_close(d, 2 * scale.detach() * x.pow(2).sum(1).mean())
    assert not x.requires_grad


def test_energy_loss_does_not_train_the_generator_and_rejects_a_negative_penalty():
    G = torch.nn.Linear(2, 2)
    fake = G(torch.randn(16, 2))
    loss = energy.energy_loss(lambda v: v.pow(2).sum(1), torch.randn(16, 2), fake, penalty=0.1)
    loss.backward()
    assert G.weight.grad is None
    with pytest.raises(ValueError, match="penalty must be >= 0"):
        energy.energy_loss(lambda v: v.sum(1), torch.randn(4, 2), torch.randn(4, 2), penalty=-1)


def test_energies_must_return_one_value_per_example():
    with pytest.raises(ValueError, match=r"one value per example, shape \(4,\), got \(4, 2\)"):
        energy.contrastive_loss(lambda v: v, torch.randn(4, 2), torch.randn(4, 2))


def test_infogan_penalty_is_each_squared_reconstruction_error_of_z():
    z, z_hat = torch.zeros(4, 2), torch.tensor([[1.0, 0], [0, 2], [0, 0], [1, 1]])
    assert energy.infogan_mi_penalty(z, z_hat).tolist() == [1, 4, 0, 2]
    with pytest.raises(ValueError, match="differ in shape"):
        energy.infogan_mi_penalty(z, z_hat[:3])


def test_jsd_mi_estimate_is_minus_log_4_at_a_constant_critic_and_higher_with_dependence():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 1, generator=g)
    assert energy.jsd_mi_estimate(lambda x, zz: torch.zeros(len(x)), z, z, g).item() == (
        pytest.approx(-math.log(4), abs=1e-6)
    )
    rho = 0.9  # x = rho z + noise; T* = log p(x, z) / (p(x) p(z)), the optimal critic
    x = rho * z + math.sqrt(1 - rho**2) * torch.randn(20_000, 1, generator=g)

    def T(xx, zz):
        xx, zz = xx[:, 0], zz[:, 0]
        joint = -(xx**2 - 2 * rho * xx * zz + zz**2) / (2 * (1 - rho**2))
        return -0.5 * math.log(1 - rho**2) + joint + (xx**2 + zz**2) / 2

    dependent = energy.jsd_mi_estimate(T, x, z, g).item()
    independent = energy.jsd_mi_estimate(T, x, z[torch.randperm(20_000, generator=g)], g).item()
    assert dependent > -math.log(4) + 0.3  # 2 JSD - log 4, JSD about 0.22 nats here
    assert independent < dependent - 0.3
    assert independent < -math.log(4) + 0.05  # no dependence: the floor, whatever T is


def small_energy_gan(mi):
    from dgm import nets

    torch.manual_seed(0)
    U, G = nets.mlp([2, 16, 1], "relu"), nets.mlp([2, 16, 2], "relu")
    T = energy.StatisticsNetwork(2, 2, hidden=16, depth=1) if mi == "jsd" else None
    E = nets.mlp([2, 16, 2], "relu") if mi == "infogan" else None
    return energy.EnergyGAN(U, G, 2, mi=mi, T=T, encoder=E)


def test_energy_gan_needs_the_network_of_its_mi_estimator():
    from dgm import nets

    U, G = nets.mlp([2, 8, 1]), nets.mlp([2, 8, 2])
    with pytest.raises(ValueError, match="mi must be one of"):
        energy.EnergyGAN(U, G, 2, mi="entropy")
    with pytest.raises(ValueError, match="pass T exactly for mi='jsd'"):
        energy.EnergyGAN(U, G, 2, mi="jsd")
    with pytest.raises(ValueError, match="pass T exactly"):
        energy.EnergyGAN(U, G, 2, mi=None, T=energy.StatisticsNetwork(2, 2))


@pytest.mark.parametrize("mi", [None, "infogan", "jsd"])
def test_a_training_step_moves_the_energy_the_generator_and_the_mi_network(mi):
    model = small_energy_gan(mi)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt_u = torch.optim.Adam(model.U.parameters(), lr=1e-2)
    opt_g = torch.optim.Adam(model.generator_parameters(), lr=1e-2)
    energy.training_step(model, torch.randn(32, 2), model.prior(32), opt_u, opt_g)
    after = model.state_dict()
    moved = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    expected = (
        {"U", "G"} | ({"T"} if mi == "jsd" else set()) | ({"encoder"} if mi == "infogan" else set())
    )
    assert moved == expected  # G_average moves only in fit


def test_without_mi_the_generator_loss_is_the_mean_energy_of_its_samples():
    model = small_energy_gan(None)
    z = model.prior(64)
    torch.testing.assert_close(
        energy.generator_loss(model, z, 0.3), model.energy(model.G(z)).mean()
    )


def test_fit_keeps_the_weight_average_and_sample_uses_it():
    model = small_energy_gan("jsd")
    history = energy.fit(
        model,
        lambda n: torch.randn(n, 2) + 3,
        20,
        batch_size=16,
        average_decay=0.5,
        progress=False,
        log_every=5,
    )
    assert len(history["energy_loss"]) == 20 and len(history["generator_loss"]) == 20
    z = torch.randn(5, 2)
    torch.testing.assert_close(model.sample(z=z), model.G_average(z))
    assert not torch.allclose(model.sample(z=z), model.sample(z=z, average=False))


def test_the_from_scratch_build_returns_its_own_keys_trained_and_the_average_moved():
    """Lecture 06's build answered by the library: the weights come back under the build's
    keys (T's layers without the library's ``T.net``), every network trained, and after one
    step G_average a share 1 - decay of the way from where it started to the trained G."""
    torch.manual_seed(0)
    library = energy.toy_model("jsd", hidden=8)
    init = energy.build_weights(library)
    init["G_average.0.bias"] += 1.0  # the average off G, so that its move shows
    x = torch.randn(32, 2) + 3
    state, losses, samples = energy.energy_gan_from_scratch(init, x, 1, 1e-2, 16, 0.9, 5)
    assert set(state) == set(init) and any(n.startswith("T.0.") for n in state)
    assert losses.shape == (1, 2) and samples.shape == (5, 2)
    for prefix in ("U.", "G.", "T."):  # every network trained
        assert any(not torch.equal(state[n], init[n]) for n in init if n.startswith(prefix))
    # the energy's loss is blind to a constant added to U: its last bias has no gradient
    torch.testing.assert_close(state["U.6.bias"], init["U.6.bias"], rtol=0, atol=0)
    for n in (n for n in init if n.startswith("G_average.")):
        w = state[n.replace("G_average.", "G.")]
        torch.testing.assert_close(state[n], 0.9 * init[n] + 0.1 * w)
    with pytest.raises(RuntimeError):  # a state_dict of another architecture is refused
        energy.energy_gan_from_scratch({**init, "extra": torch.zeros(1)}, x, 1, 1e-2, 16, 0.9, 5)


def test_the_from_scratch_build_records_each_players_loss_and_samples_the_average():
    """The same draws replayed by hand: row 0 of the losses holds the energy's loss on the
    step's rows and generated points (from the weights it started with), then the
    generator's against the updated energy with the critic before its step; the samples are
    the trained G_average's, from the next draws."""
    torch.manual_seed(1)
    start, trained = energy.toy_model("jsd", hidden=8), energy.toy_model("jsd", hidden=8)
    init, x = energy.build_weights(start), torch.randn(32, 2) + 3
    torch.manual_seed(7)
    state, losses, samples = energy.energy_gan_from_scratch(init, x, 1, 1e-2, 16, 0.9, 5)
    trained.load_state_dict({energy._library_key(n): t for n, t in state.items()})

    torch.manual_seed(7)
    energy.toy_model("jsd", hidden=8)  # the build makes its networks first: the same draws
    real = x[torch.randint(len(x), (16,))]
    z = torch.randn(16, 2)
    fake = start.G(z)
    want_u = energy.energy_loss(start.energy, real, fake.detach(), 0.1)
    # the generator's loss: the updated energy (trained's U: G's step does not move it) and
    # the critic T as it was before the generator's step (start's)
    want_g = trained.energy(fake).mean() - 0.3 * energy.jsd_mi_estimate(start.T, fake, z)
    torch.testing.assert_close(losses[0, 0], want_u.detach())
    torch.testing.assert_close(losses[0, 1], want_g.detach())
    torch.testing.assert_close(samples, trained.G_average(torch.randn(5, 2)))


def test_latent_energy_adds_the_prior_and_mala_on_a_flat_energy_samples_it():
    from dgm import mcmc

    G = torch.nn.Linear(2, 2)
    flat = energy.latent_energy(lambda x: torch.zeros(len(x)), G)
    z = torch.randn(5, 2)
    torch.testing.assert_close(flat(z), 0.5 * z.pow(2).sum(1))
    U = energy.latent_energy(lambda x: x.sum(1), G, temperature=2.0, prior=False)
    torch.testing.assert_close(U(z), G(z).sum(1) / 2)
    g = torch.Generator().manual_seed(0)
    trace, acceptance = mcmc.run_chains(flat, torch.zeros(20_000, 2), 40, 0.5, "mala", g)
    torch.testing.assert_close(torch.cov(trace[-1].T), torch.eye(2), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        energy.latent_energy(U, G, temperature=0)


def test_latent_energy_of_a_batch_normed_generator_is_per_chain():
    # a chain's energy must not depend on the other chains in the batch: batch norm in
    # training mode would mix them, and the chains would update the running statistics
    G = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    G.train()
    with torch.no_grad():
        G(torch.randn(64, 2) * 3 + 1)  # running statistics away from (0, 1)
    buffers = [b.clone() for b in G.buffers()]
    U = energy.latent_energy(lambda x: x.pow(2).sum(1), G)
    z = torch.randn(10, 2)
    torch.testing.assert_close(U(z)[:3], U(z[:3]))
    torch.testing.assert_close(U(z[:1]), U(z)[:1])
    assert G.training  # the mode is restored
    for a, b in zip(buffers, G.buffers()):
        torch.testing.assert_close(a, b)


def test_a_resumed_energy_fit_continues_the_average_and_the_learning_rate_decay(tmp_path):
    """Stopped after one step and resumed from its checkpoint in a fresh model, the fit (with
    its weight average and learning-rate decay) ends bit for bit where an uninterrupted one
    does; without the decay it ends elsewhere."""

    def run(path=None, lr_decay_steps=6, **kw):
        torch.manual_seed(0)
        model = energy.toy_model("jsd", hidden=8)
        energy.fit(
            model,
            lambda n: torch.randn(n, 2),
            12,
            batch_size=8,
            lr_decay_steps=lr_decay_steps,
            checkpoint=path,
            progress=False,
            **kw,
        )
        return model

    path = tmp_path / "energy.pt"
    straight = run()
    run(path, time_limit=0.0)  # saves after its first step and stops
    resumed = run(path)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    undecayed = run(lr_decay_steps=0)
    assert not torch.equal(undecayed.G_average[0].weight, straight.G_average[0].weight)
