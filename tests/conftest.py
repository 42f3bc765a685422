import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture
def gen():
    """A seeded CPU generator, so every test draws the same numbers."""
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
