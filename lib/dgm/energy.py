"""Lecture 06: a GAN read as an energy model plus a sampler, with a mutual-information loss.

The model is an energy distribution ``q_theta(x) = exp(-U_theta(x)) / Z_theta``. Its negative
log-likelihood on data ``p`` has the gradient

    grad_theta E_p[-log q_theta(x)] = E_p[grad_theta U(x)] - E_{q_theta}[grad_theta U(x)],

the *positive phase* (push the energy of data down) minus the *negative phase* (push the
energy of the model's own samples up). The negative phase needs samples from ``q_theta``,
which are hard to draw; a generator ``x = G_phi(z)`` is easy to sample but has no density.
Kumar et al. (2019, "Maximum Entropy Generators for Energy-Based Models") use the generator's
samples for the negative phase and train the generator to make ``q_phi`` close to
``q_theta``:

    KL(q_phi || q_theta) = -H(q_phi) + E_{q_phi}[U(x)] + log Z_theta.

``log Z_theta`` does not depend on ``phi``; the entropy ``H(q_phi)`` is what stops the
generator collapsing onto the lowest-energy point. For a deterministic generator with small
output noise, ``H(X)`` and the mutual information ``I(X; Z)`` differ by a constant, so the
generator maximises an estimate of ``I(X; Z)`` instead: an InfoGAN-style lower bound with an
encoder (``infogan_mi_penalty``) or Deep InfoMax's Jensen-Shannon estimator
(``jsd_mi_estimate``), which MEG uses.

Energies here are functions ``U(x) -> (B,)``; lower energy means more probable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Energy = Callable[[torch.Tensor], torch.Tensor]


def _check_energies(name: str, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if u.shape != (x.shape[0],):
        raise ValueError(
            f"{name}: the energy must return one value per example, shape ({x.shape[0]},), "
            f"got {tuple(u.shape)}"
        )
    return u


# --------------------------------------------------------------------------- exact, on a grid


def log_partition_by_quadrature(U: Energy, grid: torch.Tensor, cell: float) -> torch.Tensor:
    """``log Z = log sum_j exp(-U(x_j)) * cell`` over grid points ``x_j`` (N, D), each a cell
    of volume ``cell``: exact up to the quadrature error, for 1-D and 2-D energies."""
    u = _check_energies("log_partition_by_quadrature", U(grid), grid)
    return torch.logsumexp(-u, 0) + math.log(cell)


def nll_by_quadrature(U: Energy, data: torch.Tensor, grid: torch.Tensor, cell: float):
    """The exact average negative log-likelihood ``E_data[U(x)] + log Z`` of ``q = e^{-U}/Z``."""
    u = _check_energies("nll_by_quadrature", U(data), data)
    return u.mean() + log_partition_by_quadrature(U, grid, cell)


def model_weights_on_grid(U: Energy, grid: torch.Tensor) -> torch.Tensor:
    """``q(x_j)`` normalised over the grid points, (N,): the model's own distribution, on which
    the negative phase averages when it is computed exactly."""
    return torch.softmax(-_check_energies("model_weights_on_grid", U(grid), grid), 0)


# --------------------------------------------------------------------------- the two players


def contrastive_loss(U: Energy, real: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """``E_real[U] - E_negative[U]``: its ``theta``-gradient is the positive phase minus the
    negative phase, with ``negative`` standing in for samples of ``q_theta``.

    One number, not one per example: the two expectations are over different samples (of
    different sizes, even), so no example has a term of its own. The same holds for
    ``energy_loss`` and for the generator's loss, whose MI term is a statistic of the batch.
    """
    u_real = _check_energies("contrastive_loss", U(real), real)
    u_neg = _check_energies("contrastive_loss", U(negative), negative)
    return u_real.mean() - u_neg.mean()


def gradient_penalty(U: Energy, real: torch.Tensor) -> torch.Tensor:
    """``||grad_x U(x)||^2`` at each real point ``x``, (B,): the zero-centred penalty, whose
    mean ``energy_loss`` adds; differentiable in ``theta``.

    Data should sit at minima of the energy, where its gradient vanishes; without the
    penalty the contrastive loss can fall without bound by making the energy steep.
    """
    x = real.detach().requires_grad_(True)
    u = _check_energies("gradient_penalty", U(x), x)
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)  # (B, D)
    return grad.pow(2).flatten(1).sum(1)  # one squared norm per point


def energy_loss(U: Energy, real, fake, penalty: float = 0.1) -> torch.Tensor:
    """The energy's (critic's) loss: ``E_real[U] - E_fake[U] + penalty * E_real ||grad_x U||^2``.

    ``fake`` is detached: this step trains the energy only.
    """
    if penalty < 0:
        raise ValueError(f"energy_loss: penalty must be >= 0, got {penalty!r}")
    return contrastive_loss(U, real, fake.detach()) + penalty * gradient_penalty(U, real).mean()


def infogan_mi_penalty(z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """``||z - E(G(z))||^2`` for each ``z``, (B,); its mean is minus the InfoGAN lower bound
    on ``I(X; Z)``, up to constants.

    With ``p(z | x) = N(z; E(x), sigma^2 I)`` the bound ``E log p(z | x) + H(Z)`` is this mean
    squared error times ``-1 / (2 sigma^2)`` plus a constant.
    """
    if z.shape != z_hat.shape:
        raise ValueError(
            f"infogan_mi_penalty: z and E(G(z)) differ in shape: "
            f"{tuple(z.shape)} vs {tuple(z_hat.shape)}"
        )
    return (z - z_hat).pow(2).flatten(1).sum(1)


def jsd_mi_estimate(
    T: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    z: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Deep InfoMax's Jensen-Shannon estimate of ``I(X; Z)`` from pairs ``(x_i, z_i)``.

    ``E_joint[-softplus(-T(x, z))] - E_marginals[softplus(T(x, z'))]``, where ``z'`` is ``z``
    shuffled across the batch (pairs from the product of the marginals). Its maximum over
    ``T`` is ``2 JSD(p(x, z) || p(x) p(z)) - log 4``: ``-log 4`` when ``X`` and ``Z`` are
    independent, and it grows with their dependence. One number, a statistic of the batch:
    the shuffled pairs mix its examples.
    """
    if x.shape[0] != z.shape[0]:
        raise ValueError(f"jsd_mi_estimate: {x.shape[0]} x but {z.shape[0]} z")
    perm = torch.randperm(z.shape[0], generator=generator, device=z.device)
    joint, marginal = T(x, z), T(x, z[perm])
    return (-F.softplus(-joint)).mean() - F.softplus(marginal).mean()


# --------------------------------------------------------------------------- the energy GAN

MI_ESTIMATORS = (None, "infogan", "jsd")


class StatisticsNetwork(torch.nn.Module):
    """``T(x, z)``: an MLP on the concatenated pair, one score per pair (Deep InfoMax's critic)."""

    def __init__(self, x_dim: int, z_dim: int, hidden: int = 128, depth: int = 3):
        super().__init__()
        from .nets import mlp

        self.net = mlp([x_dim + z_dim, *[hidden] * depth, 1], "relu")

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        # x: (B, x_dim), z: (B, z_dim) -> (B,), one score per pair
        return self.net(torch.cat([x.flatten(1), z.flatten(1)], 1)).squeeze(1)


class EnergyGAN(torch.nn.Module):
    """An energy ``U``, a generator ``G`` and, for the MI term, ``T`` (jsd) or an encoder (infogan).

    ``G_average`` is an exponential moving average of ``G``'s weights, what ``sample`` uses
    unless told otherwise.
    """

    def __init__(self, U, G, latent_dim: int, mi: str | None = "jsd", T=None, encoder=None):
        super().__init__()
        import copy

        if mi not in MI_ESTIMATORS:
            raise ValueError(f"EnergyGAN: mi must be one of {MI_ESTIMATORS}, got {mi!r}")
        if (mi == "jsd") != (T is not None) or (mi == "infogan") != (encoder is not None):
            raise ValueError("EnergyGAN: pass T exactly for mi='jsd', encoder for mi='infogan'")
        self.U, self.G, self.T, self.encoder = U, G, T, encoder
        self.latent_dim, self.mi = latent_dim, mi
        self.G_average = copy.deepcopy(G).requires_grad_(False)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.U(x).reshape(x.shape[0])

    def prior(self, n: int) -> torch.Tensor:
        p = next(self.G.parameters())
        return torch.randn(n, self.latent_dim, device=p.device, dtype=p.dtype)

    @torch.no_grad()
    def sample(self, n: int | None = None, z: torch.Tensor | None = None, average: bool = True):
        """``G(z)`` (the weight average by default) for ``n`` fresh ``z`` or the given ``z``."""
        z = self.prior(n) if z is None else z
        return generate(self.G_average if average else self.G, z)

    def generator_parameters(self) -> list[torch.nn.Parameter]:
        """What the generator's optimiser trains: ``G``, and ``T`` or the encoder with it."""
        extra = self.T if self.T is not None else self.encoder
        return list(self.G.parameters()) + ([] if extra is None else list(extra.parameters()))


def toy_model(mi: str | None = "jsd", dim: int = 2, latent_dim: int = 2, hidden: int = 128):
    """The 2-D experiments' energy GAN: ``U``, ``G`` (and ``T`` or the encoder) as 3-layer
    ReLU MLPs of width ``hidden``, the set-up of Kumar et al.'s toy experiments."""
    from .nets import mlp

    def net(n_in, n_out):
        return mlp([n_in, hidden, hidden, hidden, n_out], "relu")

    T = StatisticsNetwork(dim, latent_dim, hidden) if mi == "jsd" else None
    encoder = net(dim, latent_dim) if mi == "infogan" else None
    return EnergyGAN(net(dim, 1), net(latent_dim, dim), latent_dim, mi=mi, T=T, encoder=encoder)


def generator_loss(model: EnergyGAN, z: torch.Tensor, mi_weight: float) -> torch.Tensor:
    """``E[U(G(z))] - mi_weight * I(X; Z)``, the MI by ``model.mi``'s estimator.

    ``mi_weight`` weighs the MI estimate against the energy. It would be a temperature (the
    generator's target ``exp(-U / mi_weight)``) only if the estimate were the generator's
    exact entropy in nats; neither estimator here is.
    """
    x = model.G(z)
    loss = model.energy(x).mean()
    if model.mi == "jsd":
        loss = loss - mi_weight * jsd_mi_estimate(model.T, x, z)
    elif model.mi == "infogan":
        loss = loss + mi_weight * infogan_mi_penalty(z, model.encoder(x)).mean()
    return loss


def energy_step(model: EnergyGAN, real, fake, opt_u, penalty=0.1) -> torch.Tensor:
    """One Adam step of the energy on ``energy_loss``; returns the loss, detached."""
    u_loss = energy_loss(model.energy, real, fake, penalty)
    opt_u.zero_grad(set_to_none=True)
    u_loss.backward()
    opt_u.step()
    return u_loss.detach()


def training_step(model: EnergyGAN, real, z, opt_u, opt_g, penalty=0.1, mi_weight=0.3):
    """One step of the energy on ``energy_loss``, then one of the generator (with ``T`` or
    the encoder) on ``generator_loss`` under the updated energy. Returns both losses."""
    u_loss = energy_step(model, real, model.G(z), opt_u, penalty)
    g_loss = generator_loss(model, z, mi_weight)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward(inputs=model.generator_parameters())
    opt_g.step()
    return u_loss, g_loss.detach()


@dataclass
class FitConfig:
    """How ``fit`` trains the energy GAN: Adam at ``lr`` with ``betas`` for both players
    (the generator with ``T`` or the encoder), ``batch_size`` real and as many generated
    points a step, the energy's gradient ``penalty``, the ``mi_weight`` of the generator's MI
    term, and an exponential moving average of G (``average_decay``) that sampling uses.

    ``lr_decay_steps`` brings both learning rates linearly to 0 over the last that many steps
    (at most the run's);
    ``energy_steps`` energy updates (each on a fresh batch) come before every generator
    update, as in MEG's image experiments (5).
    """

    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int = 256
    penalty: float = 0.1
    mi_weight: float = 0.3
    average_decay: float = 0.999
    lr_decay_steps: int = 0
    energy_steps: int = 1

    def __post_init__(self):
        if self.penalty < 0:
            raise ValueError(f"FitConfig: penalty must be >= 0, got {self.penalty!r}")
        if not isinstance(self.average_decay, (int, float)) or not 0 <= self.average_decay < 1:
            raise ValueError(  # the energy GAN always keeps its average (0: the last G)
                f"FitConfig: average_decay must be in [0, 1), got {self.average_decay!r}"
            )
        for name, least in (("lr_decay_steps", 0), ("energy_steps", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                raise ValueError(f"FitConfig: {name} must be an int >= {least}, got {value!r}")


def fit(
    model: EnergyGAN,
    sample_real: Callable[[int], torch.Tensor],
    steps: int,
    config: FitConfig | None = None,
    **kwargs,
):
    """Train the energy GAN for ``steps`` steps of ``training_step``; keeps ``G_average`` up
    to date.

    ``sample_real(n)`` returns ``n`` real points. The settings come from ``config`` (a
    ``FitConfig``); a keyword argument that names one of its fields overrides it
    (``fit(model, sample, 1000, mi_weight=0.0)``). The other keyword arguments go to
    ``dgm.train.train``, which returns the ``History``.
    """
    from . import gan, train

    cfg = train.configure(FitConfig, config, kwargs, "fit", steps)
    opt_u = torch.optim.Adam(model.U.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_g = torch.optim.Adam(model.generator_parameters(), lr=cfg.lr, betas=cfg.betas)

    state = {"model": model, "opt_u": opt_u, "opt_g": opt_g}
    # kept in every checkpoint, so that a run resumes into a longer one, with or without a decay
    decay = min(cfg.lr_decay_steps, steps)
    schedules = [train.linear_decay(opt, max(steps, 1), decay) for opt in (opt_u, opt_g)]
    state.update(schedule_u=schedules[0], schedule_g=schedules[1])
    n = cfg.batch_size

    def one_step(i):
        for _ in range(cfg.energy_steps - 1):  # extra energy-only updates
            energy_step(model, sample_real(n), model.G(model.prior(n)), opt_u, cfg.penalty)
        real = sample_real(n)
        u_loss, g_loss = training_step(
            model, real, model.prior(n), opt_u, opt_g, cfg.penalty, cfg.mi_weight
        )
        gan.update_ema(model.G_average, model.G, cfg.average_decay)
        for schedule in schedules:
            schedule.step()
        return {"energy_loss": u_loss, "generator_loss": g_loss}

    kwargs.setdefault("desc", f"energy GAN (MI: {model.mi})")
    return train.train(one_step, steps, state=state, **kwargs)


def train_energy_gan(
    model: EnergyGAN,
    x: torch.Tensor,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    decay: float = 0.999,
) -> torch.Tensor:
    """The loop of lecture 06's build assignment (``energy_gan_from_scratch``): ``model``
    trained in place for ``steps`` steps of ``training_step`` (penalty 0.1, MI weight 0.3),
    each on ``batch_size`` rows of ``x`` drawn with replacement and as many prior draws, by
    one Adam per player (lr, betas (0.5, 0.9)) made once, each step followed by the update of
    ``G_average`` with ``decay``. Returns the (steps, 2) losses (the energy's, the
    generator's)."""
    from . import gan

    opt_u = torch.optim.Adam(model.U.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(model.generator_parameters(), lr=lr, betas=(0.5, 0.9))
    losses = torch.zeros(steps, 2)
    for t in range(steps):
        real = x[torch.randint(len(x), (batch_size,), device=x.device)]  # (batch_size, d)
        losses[t] = torch.stack(training_step(model, real, model.prior(batch_size), opt_u, opt_g))
        gan.update_ema(model.G_average, model.G, decay)
    return losses


def _library_key(name: str) -> str:
    """A build's weight name as the library's ``EnergyGAN`` calls it (its ``T`` keeps its
    network in ``T.net``)."""
    return name.replace("T.", "T.net.", 1) if name.startswith("T.") else name


def build_weights(model: EnergyGAN) -> dict[str, torch.Tensor]:
    """A library ``EnergyGAN``'s weights under the build's keys (T's layers without the
    library's ``T.net``), detached copies: ``_library_key``'s inverse."""
    return {n.replace("T.net.", "T.", 1): t.detach().clone() for n, t in model.state_dict().items()}


def energy_gan_from_scratch(
    init: dict[str, torch.Tensor],
    x: torch.Tensor,
    steps: int,
    lr: float,
    batch_size: int,
    decay: float,
    n_samples: int,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Lecture 06's build assignment, the whole energy GAN: ``toy_model`` networks (three
    hidden ReLU layers each, the JSD MI critic) started from the weights ``init``, trained by
    ``train_energy_gan``, sampled by the averaged generator.

    ``init`` holds ``U.0`` to ``U.6`` (``x -> U(x)``), ``G.*`` and ``G_average.*`` (``z ->
    x``) and ``T.*`` (``[x, z] -> T(x, z)``), each ``weight`` and ``bias``: their shapes give
    the data's and the latent's sizes and the width. Returns the trained weights (the same
    keys), each step's two losses, (steps, 2), and ``n_samples`` samples of ``G_average``,
    (n_samples, dim).
    """
    hidden, latent_dim = init["G.0.weight"].shape
    dim = init["U.0.weight"].shape[1]
    model = toy_model("jsd", dim=dim, latent_dim=latent_dim, hidden=hidden)
    model = model.to(init["G.0.weight"])
    model.load_state_dict({_library_key(n): t for n, t in init.items()})
    losses = train_energy_gan(model, x, steps, lr, batch_size, decay)
    return build_weights(model), losses, model.sample(n_samples)


def generate(G: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """``G(z)`` in evaluation mode: batch norm uses its running statistics, so each sample
    (and each chain of lecture 07) depends on its own ``z`` only, not on the rest of the batch."""
    from .nets import evaluating

    with evaluating(G):
        return G(z)


def latent_energy(U: Energy, G, temperature: float = 1.0, prior: bool = True) -> Energy:
    """The energy of ``z`` whose chains lecture 07 runs: ``U(G(z)) / T + ||z||^2 / 2``.

    The target ``exp(-U(G(z)) / T) N(z; 0, I)`` reweights the prior by how good ``G(z)``
    looks. With ``prior=False`` the ``||z||^2 / 2`` term is dropped (as in Su Jianlin's 2019
    derivation, kexue.fm/archives/6331, and the MEG authors' samplers):
    then the chains sample ``exp(-U(G(z)) / T)`` alone, which need not even be normalisable
    and lets ``z`` drift where the generator was never trained.
    """
    if not temperature > 0:
        raise ValueError(f"latent_energy: temperature must be > 0, got {temperature!r}")

    def U_z(z: torch.Tensor) -> torch.Tensor:
        x = generate(G, z)
        u = U(x).reshape(z.shape[0]) / temperature
        return u + 0.5 * z.pow(2).flatten(1).sum(1) if prior else u

    return U_z
