"""dgm: the small library behind the notebooks of *Deep generative models*.

One module per lecture (``em``, ``wake_sleep``, ``vae``, ``gan``...) and a few shared ones:
``config`` (device, fast mode, seeds, paths), ``densities`` (the log-densities every
lecture uses), ``data`` (MNIST and 2-D toy data as tensors on
the device), ``train`` (training loop with checkpoints), ``metrics`` and ``classifier``
(log-likelihood, mode coverage, Fréchet distance on MNIST), ``pretrained`` (shipped,
hash-checked weights), ``plot``,
``widgets``, ``checks`` (exercise self-checks) and ``grade`` (the autograder).
"""

from . import (
    checks,
    classifier,
    config,
    data,
    densities,
    em,
    energy,
    gan,
    mcmc,
    metrics,
    nets,
    pixelcnn,
    plot,
    pretrained,
    train,
    vae,
    wake_sleep,
    widgets,
)
from .config import device, pick

__all__ = [
    "checks",
    "classifier",
    "config",
    "data",
    "densities",
    "em",
    "energy",
    "gan",
    "mcmc",
    "metrics",
    "nets",
    "pixelcnn",
    "plot",
    "pretrained",
    "train",
    "vae",
    "wake_sleep",
    "widgets",
    "device",
    "pick",
]
__version__ = "0.1.0"
