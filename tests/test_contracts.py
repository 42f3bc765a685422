"""One contract per name across the lectures that train a model.

Each such lecture has a config dataclass (the recipe's settings, validated when made) and a
fit ``fit(model, data, steps, config=None, **kwargs)``, where a keyword that names a field
of the config overrides it and the rest go to ``dgm.train.train``. (Each module's own tests
show its training step is one update.) Lecture 01's EM has no optimiser and says why.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from dgm import diffusion, energy, gan, pixelcnn, unified, vae
from dgm import score as sm
from dgm import wake_sleep as ws


def binary(n=64):
    return (torch.rand(n, 784) < 0.3).float()


def small(name):
    """``(fit, config class, leading arguments, a field to override and its value)``."""
    torch.manual_seed(0)
    if name == "vae":
        model = vae.VAE(vae.VAEConfig(x_dim=784, hidden=(8,), z_dim=2))
        return vae.fit, vae.FitConfig, (model, binary()), "batch_size", 16
    if name == "wake_sleep":
        model = ws.HelmholtzMachine(ws.HelmholtzConfig((784, 4)))
        return ws.fit, ws.FitConfig, (model, binary()), "batch_size", 16
    if name == "pixelcnn":
        model = pixelcnn.PixelCNN(channels=4, blocks=1)
        return pixelcnn.fit, pixelcnn.FitConfig, (model, binary()), "batch_size", 4
    if name == "gan":
        model = gan.GAN(gan.toy_generator(hidden=8, depth=1), gan.toy_discriminator(hidden=8), 2)
        return gan.fit, gan.FitConfig, (model, lambda n: torch.randn(n, 2)), "batch_size", 8
    if name == "energy":
        model = energy.toy_model("jsd", hidden=8)
        return energy.fit, energy.FitConfig, (model, lambda n: torch.randn(n, 2)), "lr", 1e-2
    if name == "score":
        model = sm.ScoreNet([1.0, 0.5], hidden=8, layers=1)
        return sm.fit, sm.FitConfig, (model, lambda n: torch.randn(n, 2)), "batch_size", 8
    if name == "diffusion":
        model = diffusion.DDPM(diffusion.UNet(channels=8), T=10)
        return diffusion.fit, diffusion.FitConfig, (model, torch.rand(16, 784)), "batch_size", 4
    if name == "unified VAE2D":
        model = unified.VAE2D(hidden=8)
        data = (model, lambda n: torch.randn(n, 2))
        return unified.fit_vae_2d, unified.VAE2DFitConfig, data, "batch_size", 8
    model = vae.VAE(vae.VAEConfig(x_dim=784, hidden=(8,), z_dim=2))
    disc = torch.nn.Linear(784, 1)
    args = (model, disc, binary(200))
    return unified.fit_aa_vae, unified.AAVAEFitConfig, args, "weight", 0.5


NAMES = [
    "vae",
    "wake_sleep",
    "pixelcnn",
    "gan",
    "energy",
    "unified VAE2D",
    "unified AA-VAE",
    "score",
    "diffusion",
]


@pytest.mark.parametrize("name", NAMES)
def test_every_lecture_fits_from_a_config_dataclass(name):
    fit, config_type, args, field, value = small(name)
    assert dataclasses.is_dataclass(config_type)
    params = inspect.signature(fit).parameters
    assert list(params)[len(args) : len(args) + 2] == ["steps", "config"], list(params)
    assert params["config"].default is None
    history = fit(*args, 2, **{field: value}, progress=False, log_every=1)
    assert history.records and all(len(v) == 2 for v in history.records.values())
    fit(*args, 1, config_type(**{field: value}), progress=False)
    with pytest.raises(TypeError, match=f"config must be a .*{config_type.__qualname__}"):
        fit(*args, 1, {field: value}, progress=False)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fit(*args, 1, no_such_setting=1, progress=False)
    with pytest.raises(ValueError, match="steps must be a non-negative int"):
        fit(*args, -1, progress=False)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        fit(*args, 1, lr=0.0, progress=False)
    if "batch_size" in {f.name for f in dataclasses.fields(config_type)}:
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            fit(*args, 1, batch_size=0, progress=False)
