"""Denoising diffusion models (lecture 09, second half): the forward process, its closed
form, and the reverse steps.

The **denoising diffusion** (Ho et al. 2020) noises data in ``T`` steps, ``x_t = sqrt(1 -
beta_t) x_{t-1} + sqrt(beta_t) z``, which in closed form is ``x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps`` with ``abar_t = prod_{s <= t} (1 - beta_s)``. A network predicts
``eps`` from ``x_t``; the best prediction is ``-sqrt(1 - abar_t)`` times the score of
``x_t``'s density (Tweedie's formula, the link to ``dgm.score``), and one reverse step
(ancestral, or DDIM's deterministic one) takes ``x_t`` towards the data. Time steps are
indexed ``t = 0, ..., T - 1`` here, ``t = 0`` the first noising step.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import pretrained

# --------------------------------------------------------------------------- diffusion


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """Ho et al.'s schedule: ``T`` variances rising linearly from ``beta_1`` to ``beta_T``."""
    if not isinstance(T, int) or T < 1 or not 0 < beta_1 <= beta_T < 1:
        raise ValueError(
            f"linear_betas: need T >= 1 and 0 < beta_1 <= beta_T < 1, got {T!r}, {beta_1!r}, "
            f"{beta_T!r}"
        )
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """``abar_t = prod_{s <= t} (1 - beta_s)``: how much of ``x_0`` is left at step ``t``."""
    return torch.cumprod(1 - betas, dim=0)


def _at(values: torch.Tensor, t, x: torch.Tensor) -> torch.Tensor:
    """``values[t]`` shaped to broadcast against ``x`` (B, ...): ``t`` an int or (B,)."""
    t = torch.as_tensor(t, device=values.device)
    if ((t < 0) | (t >= len(values))).any():
        raise ValueError(f"t must be in [0, {len(values) - 1}], got {t.tolist()!r}")
    v = values[t].to(dtype=x.dtype, device=x.device)
    return v.reshape(-1, *([1] * (x.dim() - 1))) if v.dim() else v


def q_sample(x0: torch.Tensor, t, abar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``: step ``t`` of the forward process
    in one draw, ``t`` an int or one per example (B,)."""
    a = _at(abar, t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def forward_steps(x0: torch.Tensor, betas: torch.Tensor, t: int, generator=None) -> torch.Tensor:
    """The forward process run step by step to step ``t``: ``x_s = sqrt(1 - beta_s) x_{s-1} +
    sqrt(beta_s) z`` for ``s = 0, ..., t`` (``q_sample`` is its closed form)."""
    x = x0
    for s in range(t + 1):
        b = betas[s].item()
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = math.sqrt(1 - b) * x + math.sqrt(b) * z
    return x


def eps_to_score(eps: torch.Tensor, t, abar: torch.Tensor) -> torch.Tensor:
    """Tweedie's formula: the noise prediction ``E[eps | x_t]`` is ``-sqrt(1 - abar_t)`` times
    the score of ``x_t``'s density, so the score is ``-eps / sqrt(1 - abar_t)``."""
    return -eps / (1 - _at(abar, t, eps)).sqrt()


def ddpm_step(
    x_t: torch.Tensor, t: int, eps: torch.Tensor, betas: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """One ancestral step of Ho et al. (their Algorithm 2), ``sigma_t^2 = beta_t``:
    ``x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) + sqrt(beta_t) z``,
    with no noise at the last step (``t = 0``). ``t`` is the code's index, 0 to T - 1: the
    math's step ``t + 1`` (``betas[t]`` is the math's ``beta_{t+1}``)."""
    abar = alpha_bars(betas)
    b, a = _at(betas, t, x_t), _at(abar, t, x_t)
    mean = (x_t - b / (1 - a).sqrt() * eps) / (1 - b).sqrt()
    return mean + b.sqrt() * noise if t > 0 else mean


def ddim_step(
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    eps: torch.Tensor,
    abar: torch.Tensor,
    clip: bool = False,
):
    """One deterministic DDIM step (Song, Meng & Ermon 2021, eta = 0) from step ``t`` to an
    earlier ``t_prev`` (-1: to the data): the predicted ``x_0 = (x_t - sqrt(1 - abar_t) eps) /
    sqrt(abar_t)``, noised back to ``t_prev`` with the same ``eps``.

    ``clip``: clamp the predicted ``x_0`` to the data's range [-1, 1] and use the noise that
    goes with the clamped ``x_0`` and ``x_t`` (what Ho et al.'s released code does in its
    ancestral sampler, here in DDIM's form; diffusers' ``use_clipped_model_output=True``).
    The noisiest steps divide by ``sqrt(abar_t)`` (0.0064 at ``t = T``), so there ``x_0`` is
    the noise's error magnified about 157 times; where ``x_0`` is in range, clipping changes
    nothing."""
    if not -1 <= t_prev < t:
        raise ValueError(f"ddim_step: t_prev must be in [-1, t), got t={t!r}, t_prev={t_prev!r}")
    a = _at(abar, t, x_t)
    x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    if clip:
        x0 = x0.clamp(-1, 1)
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
    if t_prev < 0:
        return x0
    a_prev = _at(abar, t_prev, x_t)
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps


# --------------------------------------------------------------------------- the noise predictor


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids of the step ``t`` (B,): (B, dim), half sines and half cosines
    at the frequencies ``10000^(-i / half)``, ``i = 0, ..., half - 1`` (Vaswani et al.'s;
    Ho et al. divide by ``half - 1``, which makes the lowest exactly 1/10,000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)  # (half,)
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a skip, the step's embedding added between them:
    ``h = conv(act(norm(x))) + W temb``, ``out = skip(x) + conv(act(norm(h)))``."""

    def __init__(self, c_in: int, c_out: int, t_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        # x (B, c_in, H, W), temb (B, t_dim) -> (B, c_out, H, W)
        h = self.conv1(F.silu(self.norm1(x))) + self.time(temb)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class UNet(nn.Module):
    """A small U-Net that predicts the noise in ``x_t``, for 28x28 images: residual blocks
    at 28x28 (``channels``), 14x14 and 7x7 (twice as many), each level's output carried
    across to the same level on the way up, the step's embedding added in every block.
    The last convolution starts at zero, so the first prediction is 0 (Ho et al. do the
    same)."""

    def __init__(self, channels: int = 32, in_channels: int = 1):
        super().__init__()
        if not isinstance(channels, int) or channels < 8 or channels % 8:
            raise ValueError(f"UNet: channels must be a multiple of 8, got {channels!r}")
        C, t_dim = channels, 4 * channels
        self.channels = C
        self.time = nn.Sequential(nn.Linear(C, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.conv_in = nn.Conv2d(in_channels, C, 3, padding=1)
        self.down1, self.down2 = ResBlock(C, C, t_dim), ResBlock(C, 2 * C, t_dim)
        self.pool1 = nn.Conv2d(C, C, 3, stride=2, padding=1)  # 28 -> 14
        self.pool2 = nn.Conv2d(2 * C, 2 * C, 3, stride=2, padding=1)  # 14 -> 7
        self.mid1, self.mid2 = ResBlock(2 * C, 2 * C, t_dim), ResBlock(2 * C, 2 * C, t_dim)
        self.up2, self.up1 = ResBlock(4 * C, 2 * C, t_dim), ResBlock(3 * C, C, t_dim)
        self.norm_out = nn.GroupNorm(8, C)
        self.conv_out = nn.Conv2d(C, in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # x (B, 1, 28, 28), t (B,) in [0, T) -> the predicted noise, (B, 1, 28, 28)
        temb = self.time(timestep_embedding(t, self.channels))  # (B, 4C)
        s1 = self.down1(self.conv_in(x), temb)  # (B, C, 28, 28)
        s2 = self.down2(self.pool1(s1), temb)  # (B, 2C, 14, 14)
        h = self.mid2(self.mid1(self.pool2(s2), temb), temb)  # (B, 2C, 7, 7)
        h = F.interpolate(h, size=s2.shape[-2:], mode="nearest")  # (B, 2C, 14, 14)
        h = self.up2(torch.cat([h, s2], dim=1), temb)  # (B, 2C, 14, 14)
        h = F.interpolate(h, size=s1.shape[-2:], mode="nearest")  # (B, 2C, 28, 28)
        h = self.up1(torch.cat([h, s1], dim=1), temb)  # (B, C, 28, 28)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 1, 28, 28)


class DDPM(nn.Module):
    """A denoising diffusion model: the noise predictor ``eps_theta(x_t, t)`` (``net``), an
    exponential moving average of its weights (``net_average``, kept by ``fit``; the
    samplers read it by default) and the schedule ``betas`` it is trained with
    (``linear_betas(T)``)."""

    def __init__(self, net: nn.Module, T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02):
        super().__init__()
        self.net, self.T = net, T
        self.net_average = copy.deepcopy(net).requires_grad_(False)
        self.register_buffer("betas", linear_betas(T, beta_1, beta_T).float())
        self.register_buffer("abar", alpha_bars(self.betas.double()).float())

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # x_t (B, 1, 28, 28), t (B,) -> predicted noise (B, 1, 28, 28)
        return self.net(x_t, t)

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """Ho et al.'s simple loss per example (B,): ``||eps - eps_theta(x_t, t)||^2`` averaged
        over the pixels, ``t`` uniform over the steps and ``x_t = q_sample(x0, t, eps)``: the
        ELBO's terms with their weights dropped."""
        t = torch.randint(self.T, (len(x0),), device=x0.device)
        eps = torch.randn_like(x0)
        return (eps - self(q_sample(x0, t, self.abar, eps), t)).pow(2).flatten(1).mean(1)


# the lecture-09 model that ships trained (python -m benchmarks.diffusion mnist)
DDPM_WEIGHTS = pretrained.WEIGHTS_DIR / "ddpm_mnist.pt"
DDPM_SHA256 = "73e6165427c62836d4c3a5e6418679a6ba97e4af573c9def13cd63ec6abb64fa"
DDPM_REBUILD = "python -m benchmarks.diffusion mnist --channels 16 --steps 10000 --n-score 1000"


def pretrained_ddpm(device: torch.device | str | None = None, path=None) -> DDPM:
    """Lecture 09's DDPM, trained by ``python -m benchmarks.diffusion mnist``.

    The weight average ships with the library (float16, hash-checked like the classifier's);
    the benchmark record in ``benchmarks/results/diffusion.json`` gives its training time,
    device and scores. Returns a ``DDPM`` whose ``net`` and ``net_average`` both hold those
    weights, in eval mode, ready for ``sample_ddpm`` and ``sample_ddim``.
    """
    from . import config

    device = torch.device(device) if device is not None else config.device()
    path = DDPM_WEIGHTS if path is None else path
    state = pretrained.load_state_dict(path, DDPM_SHA256, "dgm.diffusion", DDPM_REBUILD)
    return ddpm_from_state(state).to(device)


def ddpm_from_state(state: dict, T: int = 1000) -> DDPM:
    """A ``DDPM`` (``T`` steps) around a ``UNet`` with the weights ``state`` (float16 or
    float32; its width read from them) in ``net`` and ``net_average``, in eval mode, on the
    CPU."""
    model = DDPM(UNet(state["conv_in.weight"].shape[0]), T=T)
    weights = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.net.load_state_dict(weights)
    model.net_average.load_state_dict(weights)
    return model.eval().requires_grad_(False)


def to_model_scale(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (B, 784) or (B, 1, 28, 28) as the model reads them: (B, 1, 28, 28)
    in [-1, 1], so that the data and the noise have comparable size."""
    return (2 * x - 1).reshape(len(x), 1, 28, 28)


def to_images(x: torch.Tensor) -> torch.Tensor:
    """The model's output in [-1, 1] as images in [0, 1], (B, 784)."""
    return ((x + 1) / 2).clamp(0, 1).flatten(1)


@torch.no_grad()
def sample_ddpm(model: DDPM, n: int, generator=None, average: bool = True) -> torch.Tensor:
    """``n`` images (n, 784) in [0, 1] by ancestral sampling (``ddpm_step``) through all
    ``T`` steps, from ``N(0, I)`` at the last code index ``T - 1`` (the math's ``x_T``), with
    the averaged weights (or ``net``'s)."""
    dev, net = model.betas.device, model.net_average if average else model.net
    x = torch.randn(n, 1, 28, 28, generator=generator, device=dev)
    for t in reversed(range(model.T)):
        eps = net(x, torch.full((n,), t, device=dev))
        z = torch.randn(x.shape, generator=generator, device=dev)
        x = ddpm_step(x, t, eps, model.betas, z)
    return to_images(x)


@torch.no_grad()
def sample_ddim(
    model: DDPM,
    n: int,
    steps: int,
    generator=None,
    average: bool = True,
    clip: bool = False,
) -> torch.Tensor:
    """``n`` images (n, 784) in [0, 1] by ``steps`` deterministic DDIM steps, at step indices
    evenly spaced from ``T - 1`` down to 0 (code indices); the only randomness is the start,
    ``N(0, I)``. ``clip``: each step's predicted ``x_0`` clamped to [-1, 1] (``ddim_step``)."""
    if not isinstance(steps, int) or not 1 <= steps <= model.T:
        raise ValueError(f"sample_ddim: steps must be an int in [1, {model.T}], got {steps!r}")
    dev, net = model.betas.device, model.net_average if average else model.net
    ts = torch.linspace(model.T - 1, 0, steps).round().long().tolist()
    x = torch.randn(n, 1, 28, 28, generator=generator, device=dev)
    for t, t_prev in zip(ts, ts[1:] + [-1]):
        x = ddim_step(x, t, t_prev, net(x, torch.full((n,), t, device=dev)), model.abar, clip)
    return to_images(x)


# --------------------------------------------------------------------------- training


@dataclass
class FitConfig:
    """How ``fit`` trains a ``DDPM``: Adam at ``lr`` on batches of ``batch_size`` digits,
    the learning rate warmed up linearly over ``warmup`` steps and cosine-decayed to 0 after
    ``decay_from`` of the run; ``model.net_average`` keeps an exponential moving average of
    the weights at ``average_decay`` (what Ho et al. sample from). ``mode``: ``"auto"``
    captures the step as one CUDA graph on a GPU (``dgm.train``)."""

    lr: float = 1e-3
    batch_size: int = 128
    warmup: int = 200
    decay_from: float = 0.5
    average_decay: float = 0.999
    mode: str = "auto"

    def __post_init__(self):
        if not 0 <= self.decay_from < 1:
            raise ValueError(f"FitConfig: decay_from must be in [0, 1), got {self.decay_from!r}")
        if not 0 <= self.average_decay < 1:
            raise ValueError(
                f"FitConfig: average_decay must be in [0, 1), got {self.average_decay!r}"
            )
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"FitConfig: warmup must be an int >= 0, got {self.warmup!r}")
        if self.mode not in ("auto", "eager", "graph"):
            raise ValueError(f"FitConfig: mode must be auto, eager or graph, got {self.mode!r}")


def training_step(model: DDPM, x0: torch.Tensor, opt: torch.optim.Optimizer) -> torch.Tensor:
    """One update of ``opt`` on the mean of ``model.loss`` over the images ``x0`` (B, 1, 28,
    28) in [-1, 1]; returns it, detached."""
    loss = model.loss(x0).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def fit(model: DDPM, x: torch.Tensor, steps: int, config: FitConfig | None = None, **kwargs):
    """Train ``model`` on the digits ``x`` (N, 784) in [0, 1] for ``steps`` steps of
    ``training_step``, keeping ``model.net_average`` (an EMA of ``model.net``).

    The settings come from ``config`` (a ``FitConfig``); a keyword argument that names one of
    its fields overrides it. The other keyword arguments go to ``dgm.train.train``
    (``checkpoint``, ``time_limit``...), which returns the ``History``.
    """
    from . import data, gan, train

    cfg = train.configure(FitConfig, config, kwargs, "fit", steps)
    opt, update, mode = train.adam_step(
        model, lambda xb, opt: training_step(model, xb, opt), cfg.mode, lr=cfg.lr
    )
    steps_ = max(steps, 1)
    start = min(int(cfg.decay_from * steps), steps_ - 1)
    schedule = train.cosine_decay(opt, steps_, start=start, warmup=cfg.warmup)
    x0 = to_model_scale(x)

    def step(i):
        (xb,) = next(stream)
        loss = update(xb)
        schedule.step()
        gan.update_ema(model.net_average, model.net, cfg.average_decay)
        return {"loss": loss}

    def endless():
        while True:
            yield from data.batches(x0, batch_size=cfg.batch_size, drop_last=True)

    stream = endless()
    kwargs.setdefault("desc", f"DDPM, {mode} step")
    state = {"model": model, "opt": opt, "schedule": schedule}
    return train.train(step, steps, state=state, **kwargs)
