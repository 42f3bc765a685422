"""One contract per name across the lectures that train a model.

Each such lecture module has a ``FitConfig`` dataclass (the recipe's settings, validated when
made) and ``fit(model, data, steps, config=None, **kwargs)``, where a keyword that names a
field of the config overrides it and the rest go to ``dgm.train.train``. (Each module's own
tests show its ``training_step`` is one update.)
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from dgm import energy, gan, pixelcnn, vae
from dgm import wake_sleep as ws

MODULES = [vae, gan, energy, pixelcnn, ws]


def small(module):
    """A tiny model of ``module``, its data (a tensor or a sampler) and a field to override."""
    torch.manual_seed(0)
    x = (torch.rand(64, 784) < 0.3).float()
    if module is vae:
        return vae.VAE(vae.VAEConfig(x_dim=784, hidden=(8,), z_dim=2)), x, "batch_size", 16
    if module is ws:
        return ws.HelmholtzMachine(ws.HelmholtzConfig((784, 4))), x, "batch_size", 16
    if module is pixelcnn:
        return pixelcnn.PixelCNN(channels=4, blocks=1), x, "batch_size", 4
    if module is gan:
        model = gan.GAN(gan.toy_generator(hidden=8, depth=1), gan.toy_discriminator(hidden=8), 2)
        return model, lambda n: torch.randn(n, 2), "batch_size", 8
    return energy.toy_model("jsd", hidden=8), lambda n: torch.randn(n, 2), "batch_size", 8


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_lecture_fits_from_a_config_dataclass(module):
    assert dataclasses.is_dataclass(module.FitConfig)
    params = list(inspect.signature(module.fit).parameters)
    assert params[2:4] == ["steps", "config"], params
    assert inspect.signature(module.fit).parameters["config"].default is None
    model, data, field, value = small(module)
    history = module.fit(model, data, 2, **{field: value}, progress=False, log_every=1)
    assert all(len(v) == 2 for v in history.records.values()) and history.records
    config = module.FitConfig(**{field: value})
    module.fit(model, data, 1, config, progress=False)
    with pytest.raises(TypeError, match="config must be a FitConfig"):
        module.fit(model, data, 1, {field: value}, progress=False)
    with pytest.raises(TypeError, match="unexpected keyword"):
        module.fit(model, data, 1, no_such_setting=1, progress=False)
