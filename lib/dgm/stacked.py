"""StackedMNIST (lecture 06): three MNIST digits as the channels of one image, 1,000 modes.

The mode-collapse test of VEEGAN, PacGAN and MEG: each image stacks three random training
digits as its red, green and blue channels, so its mode is the triple of classes,
``100 d_R + 10 d_G + d_B``, one of 1,000. A generator is judged by how many of the 1,000
modes its samples reach and by ``KL(mode histogram || uniform)``, the classes read by the
course's MNIST classifier on each channel (``dgm.classifier``).
"""

from __future__ import annotations

import math

import torch

from . import energy, gan

N_MODES = 1000
PUBLISHED = {  # Kumar et al. 2019 (MEG), Table 1: modes covered and KL to uniform
    "WGAN-GP": (959.0, 0.7276),
    "PacGAN": (1000.0, 0.06),
    "MEG": (1000.0, 0.0313),
}


def stack(digits: torch.Tensor, n: int, generator: torch.Generator | None = None):
    """``n`` StackedMNIST images (n, 3 * 784) from ``digits`` (N, 784) or (N, 1, 28, 28):
    each channel an independent uniform draw of a digit."""
    flat = digits.reshape(digits.shape[0], -1)
    if flat.shape[1] != 784:
        raise ValueError(f"stack: expected 28x28 digits, got shape {tuple(digits.shape)}")
    # indices drawn where the generator lives (a CUDA generator draws on the GPU)
    where = generator.device if generator is not None else flat.device
    idx = torch.randint(len(flat), (n, 3), generator=generator, device=where).to(flat.device)
    return flat[idx].reshape(n, 3 * 784)


@torch.no_grad()
def modes(images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The mode ``100 d_R + 10 d_G + d_B`` of each (N, 3 * 784) image, (N,) ints."""
    from . import classifier

    if images.dim() != 2 or images.shape[1] != 3 * 784:
        raise ValueError(f"modes: expected (N, 2352) images, got {tuple(images.shape)}")
    model = classifier.load(images.device)
    channels = images.reshape(-1, 3, 784)
    out = []
    for i in range(0, len(images), batch_size):
        digits = model(channels[i : i + batch_size].reshape(-1, 784)).argmax(1).reshape(-1, 3)
        out.append(100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
    return torch.cat(out)


def mode_statistics(mode_ids: torch.Tensor) -> tuple[int, float]:
    """Modes covered (at least one sample) and ``KL(histogram || uniform over 1,000)`` in nats."""
    counts = torch.bincount(mode_ids.flatten().long(), minlength=N_MODES).double()
    p = counts / counts.sum()
    kl = (p[p > 0] * (p[p > 0] * N_MODES).log()).sum().item()
    return int((counts > 0).sum()), kl


def model(latent_dim: int = 64, channels: int = 64, hidden: int = 1024) -> energy.EnergyGAN:
    """MEG's StackedMNIST energy GAN at our scale: DCGAN networks with InfoGAN's fully
    connected layers, 3 output channels, and an MLP statistics network on (x, z)."""
    G = gan.DCGenerator(latent_dim, channels, hidden, out_channels=3)
    T = energy.StatisticsNetwork(3 * 784, latent_dim, hidden=512, depth=2)
    # the energy: InfoGAN's MNIST discriminator, the 3 channels entering as its pack of 3
    U = gan.DCDiscriminator(pack=3, channels=channels, hidden=hidden)
    return energy.EnergyGAN(U, G, latent_dim, mi="jsd", T=T)


def uniform_kl_floor(n_samples: int) -> float:
    """About what KL to uniform a perfect sampler shows with ``n_samples`` draws: the bias of
    the plug-in estimate, ``(1000 - 1) / (2 n)`` nats to first order."""
    return (N_MODES - 1) / (2 * n_samples) if n_samples > 0 else math.inf


def channel_scores(images: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Fréchet distance and classifier score of the three channels read as MNIST digits:
    ``dgm.metrics.mnist_scores`` on the (3N, 784) digits of (N, 2352) images."""
    from . import metrics

    return metrics.mnist_scores(images.reshape(-1, 784), reference.reshape(-1, 784))
