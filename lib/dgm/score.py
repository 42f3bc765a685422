"""Score-based models (lecture 09, first half): the score, score matching, and Langevin
dynamics at many noise levels.

The **score** of a density is ``s(x) = grad_x log p(x)``: it needs no normaliser, and
Langevin dynamics (lecture 07) samples with it alone,

    x <- x + (step / 2) s(x) + sqrt(step) z,    z ~ N(0, I).

**Denoising score matching** (Vincent 2011) learns the score of the data blurred by Gaussian
noise of scale ``sigma`` from pairs ``(x, x~ = x + sigma n)``: since ``grad log q(x~ | x) =
-n / sigma``, the loss ``1/2 ||s(x~) + n / sigma||^2`` differs from the explicit ``1/2 ||s(x~) -
grad log q_sigma(x~)||^2`` by a constant that does not depend on ``s``. **Annealed Langevin**
(Song & Ermon 2019) runs Langevin at noise levels from large to small, each with the score
at that level, so chains cross between modes while the blur still joins them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import densities, nets
from .mcmc import _check_positive

Score = Callable[[torch.Tensor], torch.Tensor]
NoiseScore = Callable[[torch.Tensor, float], torch.Tensor]

# --------------------------------------------------------------------------- the score


def mixture_score(x: torch.Tensor, weights, means, stds) -> torch.Tensor:
    """The exact score of ``densities.isotropic_mixture_log_prob``, (N, D): ``sum_k r_k(x)
    (m_k - x) / s_k^2``, ``r_k(x)`` the posterior probability of component ``k`` given ``x``
    (each component's score, weighted by how much it explains ``x``)."""
    r = torch.softmax(densities.isotropic_mixture_log_joint(x, weights, means, stds), dim=1)
    m, s = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (means, stds))
    s = s.expand(len(m))  # one std for all components, or one each
    return ((r / s**2)[:, :, None] * (m[None] - x[:, None, :])).sum(1)  # (N, D)


def noised_stds(stds, sigma: float) -> torch.Tensor:
    """The standard deviations of a Gaussian mixture blurred by ``N(0, sigma^2 I)``: the
    blurred density is the same mixture with each ``s_k^2`` grown by ``sigma^2``."""
    s = torch.as_tensor(stds, dtype=torch.get_default_dtype())
    return (s**2 + sigma**2).sqrt()


# --------------------------------------------------------------------------- score matching


def dsm_loss(score: NoiseScore, x: torch.Tensor, sigma, noise: torch.Tensor):
    """Denoising score matching, per example (N,): ``1/2 ||s(x~, sigma) + n / sigma||^2`` at
    ``x~ = x + sigma n``, the target ``-n / sigma = grad log q(x~ | x)``. ``sigma`` is one
    number, or one per example (N,) (training at many noise levels at once)."""
    s = sigma  # what the score network reads: a number or (N,)
    if isinstance(sigma, torch.Tensor):
        if sigma.shape != (len(x),):  # (values unchecked: no host sync in a captured step)
            raise ValueError(
                f"dsm_loss: sigma must be a number > 0 or one per example ({len(x)},), got "
                f"shape {tuple(sigma.shape)}"
            )
        sigma = sigma.reshape(-1, *([1] * (x.dim() - 1)))  # broadcasts against x
    else:
        _check_positive(sigma, "sigma", "dsm_loss")
    if noise.shape != x.shape:
        raise ValueError(
            f"dsm_loss: noise must have x's shape {tuple(x.shape)}, got {tuple(noise.shape)}"
        )
    x_noisy = x + sigma * noise
    return 0.5 * ((score(x_noisy, s) + noise / sigma) ** 2).flatten(1).sum(1)  # (N,)


def esm_loss(score: NoiseScore, x_noisy: torch.Tensor, sigma: float, true_score: Score):
    """Explicit score matching, per example (N,): ``1/2 ||s(x~, sigma) - grad log
    q_sigma(x~)||^2``, against the blurred density's exact score (known for a mixture)."""
    _check_positive(sigma, "sigma", "esm_loss")
    return 0.5 * ((score(x_noisy, sigma) - true_score(x_noisy)) ** 2).flatten(1).sum(1)


# --------------------------------------------------------------------------- Langevin


def langevin(score: Score, x: torch.Tensor, step: float, n_steps: int, generator=None):
    """``n_steps`` of unadjusted Langevin, ``x <- x + (step / 2) s(x) + sqrt(step) z``, from
    ``x`` (N, D); returns the last state."""
    _check_positive(step, "step", "langevin")
    for _ in range(n_steps):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x + 0.5 * step * score(x) + math.sqrt(step) * z
    return x


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> list[float]:
    """``n`` noise levels from ``sigma_max`` down to ``sigma_min``, a constant ratio apart."""
    _check_positive(sigma_min, "sigma_min", "geometric_sigmas")
    if not sigma_max > sigma_min or not isinstance(n, int) or n < 2:
        raise ValueError(
            f"geometric_sigmas: need sigma_max > sigma_min and n >= 2, got {sigma_max!r}, "
            f"{sigma_min!r}, {n!r}"
        )
    ratio = (sigma_min / sigma_max) ** (1 / (n - 1))
    return [sigma_max * ratio**i for i in range(n)]


def annealed_langevin(
    score: NoiseScore,
    x: torch.Tensor,
    sigmas: list[float],
    steps_per_level: int,
    eps: float,
    generator=None,
) -> torch.Tensor:
    """Song & Ermon's annealed Langevin (their Algorithm 1): for each noise level ``sigma_i``
    from the largest down, ``steps_per_level`` Langevin steps with the score at that level,
    the step ``alpha_i = eps sigma_i^2 / sigma_L^2`` (``sigma_L`` the smallest), so that the
    step's signal-to-noise ratio is the same at every level."""
    if list(sigmas) != sorted(sigmas, reverse=True) or min(sigmas) <= 0:
        raise ValueError(f"annealed_langevin: sigmas must be > 0 and decreasing, got {sigmas!r}")
    _check_positive(eps, "eps", "annealed_langevin")
    for sigma in sigmas:
        alpha = eps * sigma**2 / sigmas[-1] ** 2
        x = langevin(lambda y, s=sigma: score(y, s), x, alpha, steps_per_level, generator)
    return x


# --------------------------------------------------------------------------- a learned score


class ScoreNet(nn.Module):
    """A noise-conditional score network for low-dimensional data, ``s_theta(x, sigma)``.

    An MLP reads ``x / sqrt(data_std^2 + sigma^2)`` and ``log sigma``: with ``data_std`` the
    data's root mean square (about the origin, not its mean), the noisy input is about unit
    size at every level; its output is divided by ``sigma``, because the score of
    data blurred by ``sigma`` is about ``1 / sigma`` in size where the blur dominates (Song &
    Ermon 2020). ``sigmas`` are the noise levels it is trained at and sampled with.
    """

    def __init__(self, sigmas, dim: int = 2, hidden: int = 128, layers: int = 3, data_std=1.0):
        super().__init__()
        sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
        if sigmas.dim() != 1 or len(sigmas) < 1 or not (sigmas > 0).all():
            raise ValueError(f"ScoreNet: sigmas must be a 1-D list of numbers > 0, got {sigmas}")
        _check_positive(data_std, "data_std", "ScoreNet")
        self.register_buffer("sigmas", sigmas)
        self.data_std = float(data_std)
        self.net = nets.mlp([dim + 1, *[hidden] * layers, dim], "silu")

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """``x`` (N, D), ``sigma`` a number or (N,); the score at that noise level, (N, D)."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(len(x))[:, None]
        x_in = x / (self.data_std**2 + sigma**2).sqrt()  # (N, D), about unit RMS
        return self.net(torch.cat([x_in, sigma.log()], dim=1)) / sigma  # (N, D)


@dataclass
class FitConfig:
    """How ``fit`` trains a ``ScoreNet``: Adam at ``lr`` on batches of ``batch_size`` fresh
    data points, each noised at one of the model's levels drawn uniformly; the learning
    rate cosine-decayed to 0 over the steps after ``decay_from`` of the run. ``mode``:
    ``"auto"`` captures the whole step as one CUDA graph on a GPU (``dgm.train``)."""

    lr: float = 1e-3
    batch_size: int = 256
    decay_from: float = 0.5
    mode: str = "auto"

    def __post_init__(self):
        if not 0 <= self.decay_from < 1:
            raise ValueError(f"FitConfig: decay_from must be in [0, 1), got {self.decay_from!r}")
        if self.mode not in ("auto", "eager", "graph"):
            raise ValueError(f"FitConfig: mode must be auto, eager or graph, got {self.mode!r}")


def training_step(model: ScoreNet, x: torch.Tensor, opt: torch.optim.Optimizer) -> torch.Tensor:
    """One update of ``opt`` on Song & Ermon's objective for the data ``x`` (N, D): each
    example noised at a level ``sigma`` drawn from ``model.sigmas``, its denoising score
    matching loss weighted by ``lambda(sigma) = sigma^2`` (which makes every level's loss
    about the same size), averaged. Returns it, detached."""
    levels = torch.randint(len(model.sigmas), (len(x),), device=x.device)
    sigma = model.sigmas[levels].to(x.dtype)  # (N,)
    noise = torch.randn_like(x)
    loss = (sigma**2 * dsm_loss(model, x, sigma, noise)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def fit(
    model: ScoreNet,
    sample_real: Callable[[int], torch.Tensor],
    steps: int,
    config: FitConfig | None = None,
    **kwargs,
):
    """Train ``model`` for ``steps`` steps of ``training_step``; ``sample_real(n)`` returns
    ``n`` fresh data points.

    The settings come from ``config`` (a ``FitConfig``); a keyword argument that names one of
    its fields overrides it (``fit(model, sample, 1000, batch_size=512)``). The other keyword
    arguments go to ``dgm.train.train``, which returns the ``History``.
    """
    from . import train

    cfg = train.configure(FitConfig, config, kwargs, "fit", steps)
    opt, update, mode = train.adam_step(
        model, lambda x, opt: training_step(model, x, opt), cfg.mode, lr=cfg.lr
    )
    steps_ = max(steps, 1)
    schedule = train.cosine_decay(opt, steps_, start=min(int(cfg.decay_from * steps), steps_ - 1))

    def step(i):
        loss = update(sample_real(cfg.batch_size))
        schedule.step()
        return {"loss": loss}

    kwargs.setdefault("desc", f"score network, {mode} step")
    state = {"model": model, "opt": opt, "schedule": schedule}
    return train.train(step, steps, state=state, **kwargs)


# --------------------------------------------------------------------------- the build, answered


def ncsn_from_scratch(
    data: torch.Tensor,
    sigmas: list[float],
    steps: int,
    lr: float,
    batch_size: int,
    probes: torch.Tensor,
    exact_score: NoiseScore,
    x0: torch.Tensor,
    steps_per_level: int,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lecture 09's build assignment, answered: a noise-conditional score network trained by
    denoising score matching, and annealed Langevin with it and with an exact score.

    The network: an MLP of ``(x / sqrt(v + sigma^2), log sigma)``, ``v`` the mean of the
    data's squared coordinates (so the noisy input is about unit size at every level), three
    hidden layers of 128 and SiLU, its output divided by ``sigma``, made afresh. Training:
    one Adam (its defaults, at ``lr`` decayed linearly to 0 over the run) for ``steps``
    steps, each on ``batch_size`` points of ``data`` (N, D) drawn with replacement, each
    noised at a level drawn uniformly from ``sigmas``, the loss the mean of ``sigma^2 * 1/2
    ||s(x + sigma n, sigma) + n / sigma||^2``.

    Returns the loss of every step (steps,); the trained network's score at ``probes`` (M, D)
    at every level, (L, M, D), computed without autograd; and annealed Langevin's last
    states from ``x0`` (C, D) with ``steps_per_level`` steps per level at ``alpha_i = eps
    sigma_i^2 / sigma_L^2``, first with the trained network's score and then with
    ``exact_score(x, sigma)``, (C, D) each.
    """
    D = data.shape[1]
    net = nets.mlp([D + 1, 128, 128, 128, D], "silu").to(data)
    ms = data.pow(2).mean()  # the data's mean square: the noisy input is scaled to about 1

    def learned(x, sigma):
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(len(x))[:, None]
        return net(torch.cat([x / (ms + sigma**2).sqrt(), sigma.log()], dim=1)) / sigma

    levels = torch.tensor(sigmas, dtype=data.dtype, device=data.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)  # to 0 at the end
    losses = torch.zeros(steps)
    for i in range(steps):
        x = data[torch.randint(len(data), (batch_size,), device=data.device)]
        sigma = levels[torch.randint(len(levels), (batch_size,), device=data.device)]
        noise = torch.randn_like(x)
        loss = (sigma**2 * dsm_loss(learned, x, sigma, noise)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
        losses[i] = loss.detach()
    with torch.no_grad():
        scores = torch.stack([learned(probes, s) for s in sigmas])
        samples = annealed_langevin(learned, x0, sigmas, steps_per_level, eps)
    exact = annealed_langevin(exact_score, x0, sigmas, steps_per_level, eps)
    return losses, scores, samples, exact
