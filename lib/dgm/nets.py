"""Network building blocks shared by the lectures: MLPs and small conv stacks for MNIST, and
evaluation mode for a block of code."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in evaluation mode inside the block, its own mode restored after: batch
    norm uses its running statistics (and dropout is off), so each output depends on its own
    input only, not on the rest of the batch. What sampling and evaluation use."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


def mlp(
    sizes: Sequence[int], activation: str = "tanh", final_activation: bool = False
) -> nn.Sequential:
    """``Linear -> act -> ... -> Linear`` through ``sizes`` (input, hidden..., output)."""
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"mlp: sizes must be at least two positive ints, got {list(sizes)}")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"mlp: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
        )
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or final_activation:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """(B, 1, 28, 28) images to (B, out_dim) features: two stride-2 convolutions, a linear layer."""

    def __init__(self, out_dim: int, channels: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1),  # (B, C, 14, 14)
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),  # (B, 2C, 7, 7)
            nn.ReLU(),
            nn.Flatten(),  # (B, 2C * 49)
            nn.Linear(2 * channels * 49, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 784) or (B, 1, 28, 28) -> (B, out_dim)
        return self.net(x.reshape(-1, 1, 28, 28))


class ConvDecoder(nn.Module):
    """(B, in_dim) codes to (B, 784) pixel logits: a linear layer, two transposed convolutions,
    and a bias per pixel (so the output can start at the logits of a mean image)."""

    def __init__(self, in_dim: int, channels: int = 32):
        super().__init__()
        self.channels = channels
        self.fc = nn.Linear(in_dim, 2 * channels * 49)
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),  # (B, C, 14, 14)
            nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
        )
        self.pixel_bias = nn.Parameter(torch.zeros(784))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # z: (..., in_dim) -> logits (..., 784); any leading dimensions (IWAE's samples)
        lead = z.shape[:-1]
        h = self.fc(z.reshape(-1, z.shape[-1])).reshape(-1, 2 * self.channels, 7, 7)
        return self.net(h).reshape(*lead, 784) + self.pixel_bias


class Maxout(nn.Module):
    """``max_k (W_k x + b_k)`` over ``pieces`` linear maps: the unit of the original GAN's
    discriminator and of PacGAN's 2-D experiments."""

    def __init__(self, n_in: int, n_out: int, pieces: int = 5):
        super().__init__()
        self.n_out, self.pieces = n_out, pieces
        self.linear = nn.Linear(n_in, n_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., n_in) -> (..., n_out): the largest of each unit's pieces
        return self.linear(x).reshape(*x.shape[:-1], self.n_out, self.pieces).amax(-1)
