"""StackedMNIST: the data has 1,000 modes the classifier reads back; the counts are right."""

import math

import pytest
import torch

import dgm
from dgm import stacked


@pytest.fixture(scope="module")
def digits():
    x, y = dgm.data.load_mnist("test", device="cpu")
    return x[:3000], y[:3000]


def test_stacked_real_digits_reach_every_mode_with_a_small_kl(digits):
    """26,000 real StackedMNIST images, scored as ``stacked.modes`` scores them. Each
    channel's digit is one of the 3,000 real ones: its class is read once per digit, and
    ``modes`` itself is checked on the first 2,000 images (78,000 classifications: 40 s)."""
    x, _ = digits
    g = torch.Generator().manual_seed(0)
    images = stacked.stack(x, 26_000, g)
    assert images.shape == (26_000, 3 * 784)
    idx = torch.randint(len(x), (26_000, 3), generator=torch.Generator().manual_seed(0))
    assert torch.equal(images, x.reshape(-1, 784)[idx].reshape(26_000, -1))  # the same draw
    with torch.no_grad():
        digit = dgm.classifier.load("cpu")(x.reshape(-1, 784)).argmax(1)
    mode = 100 * digit[idx[:, 0]] + 10 * digit[idx[:, 1]] + digit[idx[:, 2]]
    assert torch.equal(stacked.modes(images[:2000]), mode[:2000])
    covered, kl = stacked.mode_statistics(mode)
    assert covered == 1000
    # the plug-in KL of a uniform sampler is about 999 / (2 n) = 0.019 nats at n = 26,000
    assert kl < 0.03 + stacked.uniform_kl_floor(26_000)


def test_modes_read_the_channels_in_order(digits):
    x, y = digits
    i = torch.tensor([0, 1, 2])
    image = torch.cat([x[i[0]], x[i[1]], x[i[2]]]).reshape(1, -1)
    assert stacked.modes(image).item() == 100 * y[0].item() + 10 * y[1].item() + y[2].item()


def test_mode_statistics_of_a_collapsed_and_a_uniform_histogram():
    assert stacked.mode_statistics(torch.full((500,), 7)) == (1, pytest.approx(math.log(1000)))
    covered, kl = stacked.mode_statistics(torch.arange(1000).repeat(3))
    assert covered == 1000 and kl == pytest.approx(0.0, abs=1e-12)


def test_the_energy_gan_makes_and_scores_three_channel_images():
    m = stacked.model(latent_dim=8, channels=4, hidden=16)
    x = m.sample(5)
    assert x.shape == (5, 3 * 784) and m.energy(x).shape == (5,)
    real = torch.rand(6, 3 * 784)
    loss = dgm.energy.energy_loss(m.energy, real, m.G(m.prior(6)), 0.1)
    assert loss.shape == () and torch.isfinite(loss)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="expected 28x28 digits"):
        stacked.stack(torch.zeros(4, 100), 3)
    with pytest.raises(ValueError, match=r"expected \(N, 2352\)"):
        stacked.modes(torch.zeros(4, 784))
