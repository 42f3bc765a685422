"""Lecture 04: generative adversarial networks.

A generator ``G`` turns noise ``z ~ p(z)`` into samples; a discriminator ``D(x) = sigmoid(l(x))``
tells real from generated. The minimax game (Goodfellow et al. 2014) is

    min_G max_D  E_data[log D(x)] + E_z[log(1 - D(G(z)))].

- For a fixed G the best discriminator is ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``, and at
  ``D*`` the game's value is ``-log 4 + 2 JSD(p_data || p_g)``.
- The generator's minimax loss ``log(1 - D(G(z)))`` has a vanishing gradient exactly when the
  discriminator wins (``D(G(z)) -> 0``), early in training; the non-saturating loss
  ``-log D(G(z))`` has the same fixed point and a strong gradient there.
- PacGAN (Lin et al. 2018) shows the discriminator ``m`` samples at once ("packing"): a
  generator that drops modes makes packs that look alike, which a packed discriminator
  sees even when every single sample looks real.

Models: ``toy_generator``/``toy_discriminator`` (PacGAN's 2-D networks), ``DCGenerator``/
``DCDiscriminator`` (a DCGAN for MNIST), held together by ``GAN`` and trained by ``fit``.

Every loss takes the discriminator's *logits* ``l`` and uses ``log sigmoid(l) = -softplus(-l)``,
``log(1 - sigmoid(l)) = -softplus(l)``, which stay finite where ``sigmoid`` rounds to 0 or 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import densities, pretrained
from .nets import Maxout, evaluating, mlp


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-[log D(x) + log(1 - D(G(z)))]`` per pair of a real and a generated example, (B,)."""
    if real_logits.shape != fake_logits.shape:
        raise ValueError(
            f"discriminator_loss: real and fake logits differ in shape: "
            f"{tuple(real_logits.shape)} vs {tuple(fake_logits.shape)}"
        )
    return F.softplus(-real_logits) + F.softplus(fake_logits)


def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the game, ``log(1 - D(G(z)))``, to minimise; (B,)."""
    return -F.softplus(fake_logits)


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-log D(G(z))``; (B,)."""
    return F.softplus(-fake_logits)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` from the two densities at the same points."""
    return p_data / (p_data + p_g)


def game_value_at_optimum(log_p_data: torch.Tensor, log_p_g: torch.Tensor, dx: float) -> float:
    """``V(D*, G)`` by quadrature on a 1-D grid of spacing ``dx``; equals ``-log 4 + 2 JSD``."""
    p, q = log_p_data.exp(), log_p_g.exp()
    log_d = log_p_data - torch.logaddexp(log_p_data, log_p_g)  # log D*
    log_1md = log_p_g - torch.logaddexp(log_p_data, log_p_g)  # log (1 - D*)
    return float(((p * log_d).sum() + (q * log_1md).sum()) * dx)


def jensen_shannon(log_p: torch.Tensor, log_q: torch.Tensor, dx: float) -> float:
    """``JSD(p || q) = (KL(p || m) + KL(q || m)) / 2``, ``m = (p + q) / 2``, by 1-D quadrature."""
    return float(densities.jsd_by_quadrature(log_p, log_q, dx))


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN's packing: concatenate ``m`` consecutive samples, (B, D) -> (B / m, m D)."""
    if x.shape[0] % m:
        raise ValueError(f"pack: batch size {x.shape[0]} is not a multiple of the packing {m}")
    return x.reshape(x.shape[0] // m, m * x.shape[1])


def unpack(packs: torch.Tensor, m: int) -> torch.Tensor:
    """The inverse of ``pack``: (B / m, m D) -> (B, D), the samples in their original order."""
    if packs.dim() != 2 or packs.shape[1] % m:
        raise ValueError(f"unpack: expected packs of shape (n, {m} * D), got {tuple(packs.shape)}")
    return packs.reshape(packs.shape[0] * m, packs.shape[1] // m)


GENERATOR_LOSSES = {
    "minimax": generator_loss_minimax,
    "nonsaturating": generator_loss_nonsaturating,
}


# --------------------------------------------------------------------------- models


def toy_generator(latent_dim: int = 2, hidden: int = 400, depth: int = 4, out_dim: int = 2):
    """PacGAN's 2-D generator: ``depth`` layers of ``hidden`` units, batch norm and ReLU."""
    layers: list[nn.Module] = []
    sizes = [latent_dim] + [hidden] * depth
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden, out_dim))


def toy_discriminator(
    in_dim: int = 2, pack: int = 1, hidden: int = 200, depth: int = 3, pieces: int = 5
):
    """PacGAN's 2-D discriminator: ``depth`` maxout layers; it reads ``pack`` points at once."""
    sizes = [in_dim * pack] + [hidden] * depth
    layers = [Maxout(n_in, n_out, pieces) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return nn.Sequential(*layers, nn.Linear(hidden, 1), nn.Flatten(0))


def toy_mlps(
    pack: int = 1, hidden: int = 128, depth: int = 3, latent_dim: int = 2
) -> tuple[nn.Module, nn.Module]:
    """Plain ReLU MLPs for 2-D data: ``G: z -> x (2)`` and ``D`` on packs of ``pack`` points.

    No batch norm and no maxout: the small set-up in which packing pays within a CPU budget
    (lecture 04's grid, ``benchmarks.gan toy --net mlp``).
    """
    G = mlp([latent_dim, *[hidden] * depth, 2], "relu")
    D = nn.Sequential(mlp([2 * pack, *[hidden] * depth, 1], "relu"), nn.Flatten(0))
    return G, D


class DCGenerator(nn.Module):
    """DCGAN-style MNIST generator: z -> 7x7 -> 14x14 -> 28x28, pixel intensities in (0, 1).

    With ``hidden > 0`` a fully connected layer of ``hidden`` units comes first, as in
    InfoGAN's MNIST generator (Chen et al. 2016): one more non-linearity between ``z`` and
    the 7x7 feature map, which is what makes its digits legible within a CPU budget
    (``PRETRAINED_DCGAN``; lecture 04, section 7). ``out_channels=3`` makes StackedMNIST
    images (lecture 06), flattened to (B, 3 * 784).
    """

    def __init__(
        self, latent_dim: int = 64, channels: int = 64, hidden: int = 0, out_channels: int = 1
    ):
        super().__init__()
        C = channels
        fc: list[nn.Module] = []
        if hidden:
            fc += [nn.Linear(latent_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        fc += [nn.Linear(hidden or latent_dim, 2 * C * 49, bias=False), nn.BatchNorm1d(2 * C * 49)]
        self.fc = nn.Sequential(*fc, nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * C, C, 4, stride=2, padding=1, bias=False),  # (B, C, 14, 14)
            nn.BatchNorm2d(C),
            nn.ReLU(),
            nn.ConvTranspose2d(C, out_channels, 4, stride=2, padding=1),  # (B, out, 28, 28)
            nn.Sigmoid(),
        )
        self.C, self.out_channels = C, out_channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # z: (B, latent_dim) -> images (B, out_channels * 784) in [0, 1]
        x = self.net(self.fc(z).reshape(-1, 2 * self.C, 7, 7))  # (B, out_channels, 28, 28)
        return x.reshape(-1, self.out_channels * 784)


class DCDiscriminator(nn.Module):
    """DCGAN-style MNIST discriminator: two stride-2 convolutions with leaky ReLU, one logit.

    With packing ``m`` the ``m`` images of a pack enter as ``m`` input channels. With
    ``hidden > 0`` a fully connected layer of ``hidden`` units comes before the logit, and
    ``batch_norm`` normalises the second convolution and that layer (InfoGAN's MNIST
    discriminator).
    """

    def __init__(self, pack: int = 1, channels: int = 64, hidden: int = 0, batch_norm=False):
        super().__init__()
        C = channels
        self.pack = pack

        def norm(n: int, dims: int) -> list[nn.Module]:
            return [(nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(n)] if batch_norm else []

        layers = [
            nn.Conv2d(pack, C, 4, stride=2, padding=1),  # (B, C, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(C, 2 * C, 4, stride=2, padding=1, bias=not batch_norm),  # (B, 2C, 7, 7)
            *norm(2 * C, 2),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        ]
        if hidden:
            layers += [nn.Linear(2 * C * 49, hidden, bias=not batch_norm), *norm(hidden, 1)]
            layers += [nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(hidden or 2 * C * 49, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B * pack, 784) -> (B,), one logit per pack of ``pack`` images (channels)
        return self.net(x.reshape(-1, self.pack, 28, 28)).squeeze(1)


class GAN(nn.Module):
    """A generator ``G``, a discriminator ``D`` on packs of ``pack`` samples, and ``p(z)``.

    ``D`` may be ``None`` for a generator that is only sampled (``pretrained_dcgan``).
    """

    def __init__(
        self, generator: nn.Module, discriminator: nn.Module | None, latent_dim: int, pack=1
    ):
        super().__init__()
        if not isinstance(pack, int) or pack < 1:
            raise ValueError(f"GAN: pack must be a positive int, got {pack!r}")
        self.G, self.D, self.latent_dim, self.pack = generator, discriminator, latent_dim, pack
        self.G_average: nn.Module | None = None  # set by fit(average_decay=...)

    def prior(self, n: int) -> torch.Tensor:
        """``z ~ N(0, I)``, (n, latent_dim), on the generator's device and in its dtype."""
        p = next(self.G.parameters())
        return torch.randn(n, self.latent_dim, device=p.device, dtype=p.dtype)

    def generate(self, n: int) -> torch.Tensor:
        """``G(z)`` for ``n`` fresh ``z``, with gradients (batch-norm uses batch statistics)."""
        return self.G(self.prior(n))

    @torch.no_grad()
    def sample(
        self,
        n: int | None = None,
        batch_size: int = 2500,
        z: torch.Tensor | None = None,
        average: bool = True,
    ) -> torch.Tensor:
        """``G(z)`` for evaluation and plots, for ``n`` fresh ``z`` or for the given ``z``.

        The generator runs in eval mode, so batch norm uses its running statistics and each
        sample depends on its own ``z`` only (not on the rest of the batch): the same ``z``
        always gives the same sample. The generator's mode is restored afterwards. When
        ``fit`` kept a weight average of ``G`` (``average_decay``), it draws from the average
        unless ``average=False``.
        """
        if z is None:
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"GAN.sample: n must be a positive int (or pass z), got {n!r}")
            z = self.prior(n)
        elif z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"GAN.sample: z must have shape (n, {self.latent_dim}), got {tuple(z.shape)}"
            )
        G = self.G_average if average and self.G_average is not None else self.G
        with evaluating(G):  # each sample depends on its own z only
            return torch.cat([G(z[i : i + batch_size]) for i in range(0, len(z), batch_size)])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Discriminator logits of the packs in ``x``: (B, ...) -> (B / pack,)."""
        if self.D is None:
            raise ValueError("GAN.logits: this GAN has no discriminator (a pretrained generator)")
        return self.D(pack(x.reshape(x.shape[0], -1), self.pack))


@torch.no_grad()
def update_ema(average: nn.Module, model: nn.Module, decay: float = 0.999) -> None:
    """``average <- decay * average + (1 - decay) * model``, parameter by parameter.

    An exponential moving average of the generator's weights (Yazici et al. 2019) smooths
    out the oscillation of the two-player game; batch-norm statistics are copied as they are.
    """
    if not 0 <= decay < 1:
        raise ValueError(f"update_ema: decay must be in [0, 1), got {decay!r}")
    for a, p in zip(average.parameters(), model.parameters()):
        a.lerp_(p, 1 - decay)
    for a, b in zip(average.buffers(), model.buffers()):
        a.copy_(b)


# InfoGAN's MNIST networks at half width: the lecture-04 generator that ships trained
PRETRAINED_DCGAN = dict(latent_dim=64, channels=32, hidden=512)
DCGAN_WEIGHTS = pretrained.WEIGHTS_DIR / "dcgan_mnist.pt"
DCGAN_SHA256 = "adb07ab598a93b8dc72dffb851ed00ada3ee5b54d77fe4efee1be4f2fef550d8"
DCGAN_REBUILD = "python -m benchmarks.gan dcgan"


def pretrained_dcgan(device: torch.device | str | None = None, path=None) -> GAN:
    """Lecture 04's DCGAN generator, trained by ``python -m benchmarks.gan dcgan``.

    The weights ship with the library (float16, hash-checked like the classifier's); the
    benchmark record in ``benchmarks/results/gan.json`` gives their training time, device and
    scores. Returns a ``GAN`` without a discriminator, ready to ``sample``.
    """
    from . import config

    device = torch.device(device) if device is not None else config.device()
    path = DCGAN_WEIGHTS if path is None else path
    state = pretrained.load_state_dict(path, DCGAN_SHA256, "dgm.gan", DCGAN_REBUILD)
    return dcgan_from_state(state).to(device)


def dcgan_from_state(state: dict) -> GAN:
    """A sampling-only ``GAN`` around a ``PRETRAINED_DCGAN`` generator with the weights of
    ``state`` (float16 or float32), in eval mode, on the CPU."""
    cfg = PRETRAINED_DCGAN
    G = DCGenerator(cfg["latent_dim"], channels=cfg["channels"], hidden=cfg["hidden"])
    G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return GAN(G.eval().requires_grad_(False), None, cfg["latent_dim"])


def snapshot_callback(gan: GAN, z: torch.Tensor, store: list):
    """An ``evaluate`` callback for ``fit``: append ``(step, gan.sample(z=z))`` (CPU) to ``store``.

    Keeping the same noise ``z`` at every snapshot shows how the generator's map changes,
    not just which samples it happened to draw.
    """

    def record(step: int) -> dict:
        store.append((step, gan.sample(z=z).cpu()))
        return {}

    return record


def gradient_penalty(gan: GAN, real: torch.Tensor) -> torch.Tensor:
    """``||grad_x D(x)||^2`` at each real pack ``x``, (B,) -> (B / pack,): the zero-centred
    penalty of Mescheder et al. (2018), R1, differentiable in D's parameters.

    The same penalty as lecture 06's on the energy (``energy.gradient_penalty``): it keeps
    the discriminator flat on the data, where a perfect one would be free to be steep.
    """
    x = real.detach().reshape(real.shape[0], -1).requires_grad_(True)
    (grad,) = torch.autograd.grad(gan.logits(x).sum(), x, create_graph=True)  # (B, d)
    return pack(grad, gan.pack).pow(2).sum(1)  # one squared norm per pack


def training_step(
    gan: GAN,
    real: torch.Tensor,
    z: torch.Tensor,
    opt_d: torch.optim.Optimizer,
    opt_g: torch.optim.Optimizer,
    generator_loss: Callable[[torch.Tensor], torch.Tensor] = generator_loss_nonsaturating,
    weights: Callable[[torch.Tensor], torch.Tensor] | None = None,
    penalty: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of each player on ``B`` real examples and noise ``z`` (B, latent_dim).

    The samples are packed ``gan.pack`` at a time (``B / pack`` packs of each kind), the
    discriminator takes one step on ``discriminator_loss`` averaged over the packs (plus
    ``penalty`` times the mean ``gradient_penalty`` on the real packs, if given), then the
    generator one step on ``sum_i w_i generator_loss(l_i)`` over its packs' logits ``l_i``
    under the *updated* discriminator (``w_i = weights(l)``, or ``1 / (B / pack)``).
    Returns the two losses, detached.
    """
    if penalty < 0:
        raise ValueError(f"training_step: penalty must be >= 0, got {penalty!r}")
    fake = gan.G(z)
    # 1. D learns to tell real from generated packs; detach() holds G fixed for this step
    d_loss = discriminator_loss(gan.logits(real), gan.logits(fake.detach())).mean()
    if penalty:
        d_loss = d_loss + penalty * gradient_penalty(gan, real).mean()
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    # 2. G learns to fool the updated D; only G's parameters receive gradients
    fake_logits = gan.logits(fake)
    per_pack = generator_loss(fake_logits)
    g_loss = per_pack.mean() if weights is None else (weights(fake_logits) * per_pack).sum()
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward(inputs=list(gan.G.parameters()))
    opt_g.step()
    return d_loss.detach(), g_loss.detach()


def train_gan(
    gan: GAN, x: torch.Tensor, steps: int, lr: float = 1e-3, batch_size: int = 64
) -> torch.Tensor:
    """The loop of lecture 04's build assignment (``pacgan_from_scratch``): ``gan`` trained
    in place for ``steps`` steps of ``training_step``; each step's two losses,
    (steps, 2).

    One Adam per player, made once with the DCGAN betas (0.5, 0.999) at ``lr``. Each step
    draws ``batch_size`` packs' worth of examples, ``batch_size * gan.pack`` rows of ``x``
    at random with replacement and as many draws of the prior, and takes one discriminator
    step and one generator step. ``fit`` adds the stabilisers (two learning rates, a
    schedule, an average of G) and checkpoints.
    """
    opt_d = torch.optim.Adam(gan.D.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(gan.G.parameters(), lr=lr, betas=(0.5, 0.999))
    n = batch_size * gan.pack  # examples a step: batch_size packs of each kind
    losses = torch.zeros(steps, 2)
    for t in range(steps):
        real = x[torch.randint(len(x), (n,), device=x.device)]  # (n, d)
        d_loss, g_loss = training_step(gan, real, gan.prior(n), opt_d, opt_g)
        losses[t] = torch.stack([d_loss, g_loss])
    return losses


def pacgan_from_scratch(
    init: dict[str, torch.Tensor],
    x: torch.Tensor,
    steps: int,
    lr: float,
    batch_size: int,
    pack: int,
    n_samples: int,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Lecture 04's build assignment, the whole PacGAN: ``toy_mlps`` networks (two hidden
    ReLU layers each) started from the weights ``init``, trained by ``train_gan``, sampled.

    ``init`` holds ``G.0``, ``G.2``, ``G.4`` (``z -> x``) and ``D.0``, ``D.2``, ``D.4`` (a
    pack of ``pack`` points, side by side, to one logit), each ``weight`` and ``bias``: its
    shapes give the latent size and the width. Returns the trained weights (the same keys),
    each step's two losses, (steps, 2), and ``n_samples`` samples of the trained generator,
    (n_samples, 2).
    """
    hidden, latent_dim = init["G.0.weight"].shape
    G, D = toy_mlps(pack=pack, hidden=hidden, depth=2, latent_dim=latent_dim)
    model = GAN(G, D, latent_dim, pack=pack).to(init["G.0.weight"])
    model.load_state_dict({n.replace("D.", "D.0.", 1): t for n, t in init.items()})
    losses = train_gan(model, x, steps, lr, batch_size)
    with torch.no_grad():
        samples = model.generate(n_samples)
    return build_weights(model), losses, samples


def build_weights(model: GAN) -> dict[str, torch.Tensor]:
    """A ``toy_mlps`` GAN's weights under lecture 04's build keys, detached copies: the
    library's D ends in a Flatten, so its linear layers are ``D.0.0``, ``D.0.2``, ``D.0.4``,
    which the build calls ``D.0``, ``D.2``, ``D.4`` (``pacgan_from_scratch`` loads them back
    by the inverse, ``D.`` to ``D.0.``)."""
    return {n.replace("D.0.", "D.", 1): t.detach().clone() for n, t in model.state_dict().items()}


def _library_step(generator_loss, weights, penalty) -> Callable:
    """``training_step`` with the settings of a ``FitConfig`` bound: what ``fit`` repeats."""

    def step(gan, real, z, opt_d, opt_g):
        return training_step(gan, real, z, opt_d, opt_g, generator_loss, weights, penalty)

    return step


@dataclass
class FitConfig:
    """How ``fit`` trains a GAN: the DCGAN recipe by default (Radford et al. 2016: the
    non-saturating loss, Adam at 2e-4 with betas (0.5, 0.999), batches of 64).

    ``loss`` names a generator loss of ``GENERATOR_LOSSES`` or is a function of the fake
    logits returning one value per pack. ``weights(fake_logits)`` gives the weights ``w_i``
    (summing to 1) of the generator's loss ``sum_i w_i loss_i`` over a batch (lecture 05's
    IWGAN passes ``unified.iwgan_weights``); without it every ``w_i = 1/B``, the mean.
    ``lr`` is the generator's learning rate and, unless ``lr_d`` is given, the
    discriminator's too; ``batch_size`` counts packs.

    Lecture 06's stabilisers, off by default: ``penalty`` adds that multiple of the mean
    ``gradient_penalty`` to D's loss; ``average_decay`` keeps ``gan.G_average``, an
    exponential moving average of G's weights (``update_ema``) that ``gan.sample`` then draws
    from; ``lr_decay_steps`` brings both learning rates linearly to 0 over the last that many
    steps (``train.linear_decay``).
    """

    loss: str | Callable[[torch.Tensor], torch.Tensor] = "nonsaturating"
    weights: Callable[[torch.Tensor], torch.Tensor] | None = None
    lr: float = 2e-4
    lr_d: float | None = None
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    penalty: float = 0.0
    average_decay: float | None = None
    lr_decay_steps: int = 0

    def __post_init__(self):
        if not callable(self.loss) and self.loss not in GENERATOR_LOSSES:
            raise ValueError(
                f"FitConfig: loss must be one of {sorted(GENERATOR_LOSSES)}, got {self.loss!r}"
            )
        if self.penalty < 0:
            raise ValueError(f"FitConfig: penalty must be >= 0, got {self.penalty!r}")
        if self.average_decay is not None and not 0 <= self.average_decay < 1:
            raise ValueError(
                f"FitConfig: average_decay must be in [0, 1), got {self.average_decay!r}"
            )
        if not isinstance(self.lr_decay_steps, int) or self.lr_decay_steps < 0:
            raise ValueError(
                f"FitConfig: lr_decay_steps must be an int >= 0, got {self.lr_decay_steps!r}"
            )


def fit(
    gan: GAN,
    sample_real: Callable[[int], torch.Tensor],
    steps: int,
    config: FitConfig | None = None,
    *,
    step: Callable | None = None,
    **kwargs,
):
    """Alternate one discriminator step and one generator step (``training_step``), ``steps``
    times, with Adam.

    ``sample_real(n)`` returns ``n`` real examples; each step uses ``batch_size`` packs, so
    ``batch_size * gan.pack`` real and as many generated examples. The settings come from
    ``config`` (a ``FitConfig``); a keyword argument that names one of its fields overrides
    it (``fit(gan, sample, 1000, loss="minimax")``). ``lr_decay_steps`` counts at most the
    run's ``steps``. ``step(gan, real, z, opt_d, opt_g)`` replaces the library's
    ``training_step`` (lecture 04's exercise; with the default ``loss`` and no
    ``weights``). A run resumed from a checkpoint needs the same stabilisers as the run that
    wrote it. The other keyword
    arguments go to ``dgm.train.train`` (``checkpoint``,
    ``evaluate``, ``desc``...), which returns the ``History``.
    """
    import copy

    from . import train

    cfg = train.configure(FitConfig, config, kwargs, "fit", steps)
    if step is not None and (cfg.loss != "nonsaturating" or cfg.weights is not None or cfg.penalty):
        raise ValueError(
            "fit: a custom step brings its own generator loss; drop loss/weights/penalty"
        )
    opt_d = torch.optim.Adam(
        gan.D.parameters(), lr=cfg.lr if cfg.lr_d is None else cfg.lr_d, betas=cfg.betas
    )
    opt_g = torch.optim.Adam(gan.G.parameters(), lr=cfg.lr, betas=cfg.betas)
    state = {"gan": gan, "opt_d": opt_d, "opt_g": opt_g}
    if cfg.average_decay is not None:
        if gan.G_average is None:  # a resumed or continued run keeps its average
            gan.G_average = copy.deepcopy(gan.G).requires_grad_(False)
    else:
        gan.G_average = None  # training on without it would leave a stale average to sample
    # kept in every checkpoint, so that a run resumes into a longer one, with or without a decay
    decay = min(cfg.lr_decay_steps, steps)
    schedules = [train.linear_decay(opt, max(steps, 1), decay) for opt in (opt_d, opt_g)]
    state.update(schedule_d=schedules[0], schedule_g=schedules[1])

    generator_loss = cfg.loss if callable(cfg.loss) else GENERATOR_LOSSES[cfg.loss]
    name = getattr(cfg.loss, "__name__", cfg.loss)
    if cfg.weights is not None:
        name = f"{name}, {getattr(cfg.weights, '__name__', 'weighted')}"
    step = step or _library_step(generator_loss, cfg.weights, cfg.penalty)

    def one_step(i):
        n = cfg.batch_size * gan.pack
        real = sample_real(n)
        d_loss, g_loss = step(gan, real, gan.prior(n), opt_d, opt_g)
        if cfg.average_decay is not None:
            update_ema(gan.G_average, gan.G, cfg.average_decay)
        for schedule in schedules:
            schedule.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    kwargs.setdefault("desc", f"GAN ({name}, pack={gan.pack})")
    return train.train(one_step, steps, state=state, **kwargs)
