"""The sample-quality metrics: Fréchet distance, Inception-style score, the MNIST classifier."""

import numpy as np
import pytest
import scipy.linalg
import torch

from dgm import classifier, data, metrics, pretrained


def correlated(n, d, g, shift=0.0):
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ A + shift


def test_frechet_distance_of_a_set_with_itself_is_zero(gen):
    f = correlated(500, 16, gen)
    assert abs(metrics.frechet_distance(f, f)) < 1e-8


def test_frechet_distance_grows_with_a_shift_by_exactly_its_squared_length(gen):
    f = correlated(500, 16, gen)
    delta = torch.linspace(-1, 1, 16, dtype=torch.float64)
    for scale in (0.5, 1.0, 2.0):
        d = metrics.frechet_distance(f, f + scale * delta)
        assert d == pytest.approx(scale**2 * (delta**2).sum().item(), rel=1e-8, abs=1e-8)


def test_frechet_distance_matches_the_scipy_sqrtm_formula(gen):
    a, b = correlated(400, 8, gen), correlated(300, 8, gen, shift=0.3)
    mu_a, mu_b = a.mean(0).numpy(), b.mean(0).numpy()
    S_a, S_b = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    covmean = scipy.linalg.sqrtm(S_a @ S_b).real  # the usual FID implementation
    ref = ((mu_a - mu_b) ** 2).sum() + np.trace(S_a + S_b - 2 * covmean)
    assert metrics.frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert metrics.frechet_distance(b, a) == pytest.approx(ref, rel=1e-6)  # symmetric


def test_frechet_distance_of_gaussians_against_the_closed_form():
    """For N(0, s1^2 I) vs N(m, s2^2 I) in D dims: |m|^2 + D (s1 - s2)^2."""
    g = torch.Generator().manual_seed(1)
    n, D = 200_000, 4
    a = 1.0 * torch.randn(n, D, generator=g, dtype=torch.float64)
    b = 2.0 * torch.randn(n, D, generator=g, dtype=torch.float64) + 0.5
    assert metrics.frechet_distance(a, b) == pytest.approx(D * 0.25 + D * 1.0, rel=0.02)


def test_frechet_distance_rejects_mismatched_features(gen):
    with pytest.raises(ValueError, match="same D"):
        metrics.frechet_distance(torch.randn(10, 3), torch.randn(10, 4))


def test_inception_score_limits():
    C = 10
    confident_even = torch.eye(C).repeat(50, 1)  # every class, each sample certain
    assert metrics.inception_score(confident_even) == pytest.approx(C, rel=1e-6)
    one_class = torch.zeros(500, C)
    one_class[:, 3] = 1  # mode collapse: always the same digit
    assert metrics.inception_score(one_class) == pytest.approx(1.0, abs=1e-6)
    unsure = torch.full((500, C), 1 / C)  # blurry: nothing recognisable
    assert metrics.inception_score(unsure) == pytest.approx(1.0, abs=1e-6)
    half = torch.cat([torch.eye(C)[:5]] * 100)  # five classes used evenly
    assert metrics.inception_score(half) == pytest.approx(5.0, rel=1e-6)


def test_classifier_weights_are_small_and_match_the_recorded_hash():
    assert classifier.WEIGHTS.stat().st_size < 1_000_000
    assert pretrained.sha256(classifier.WEIGHTS) == classifier.SHA256


def test_classifier_refuses_weights_with_another_hash(tmp_path):
    bad = tmp_path / "w.pt"
    bad.write_bytes(classifier.WEIGHTS.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="SHA-256"):
        classifier.load("cpu", path=bad)
    with pytest.raises(FileNotFoundError, match="python -m dgm.classifier train"):
        classifier.load("cpu", path=tmp_path / "missing.pt")


def test_classifier_reaches_99_percent_on_the_test_digits():
    x, y = data.load_mnist("test", device="cpu")
    assert classifier.accuracy(classifier.load("cpu"), x, y) >= 0.99


def test_random_shift_moves_whole_images(gen):
    x = torch.zeros(3, 1, 28, 28)
    x[:, 0, 10, 12] = 1.0
    shifted = classifier.random_shift(x, 2, gen)
    assert shifted.shape == x.shape and torch.equal(shifted.sum((1, 2, 3)), x.sum((1, 2, 3)))
    rows, cols = shifted[:, 0].nonzero()[:, 1], shifted[:, 0].nonzero()[:, 2]
    assert ((rows - 10).abs() <= 2).all() and ((cols - 12).abs() <= 2).all()


def test_mnist_scores_real_digits_floor_and_blurry_means():
    """Real vs real is the floor; an image of the mean digit is far and unrecognisable."""
    x_train, _ = data.load_mnist("train", device="cpu")
    x_test, _ = data.load_mnist("test", device="cpu")
    real = metrics.mnist_scores(x_test[:2000].reshape(-1, 784), x_train[:2000].reshape(-1, 784))
    blur = x_train[:2000].mean(0, keepdim=True).expand(2000, 1, 28, 28) + 0.01 * torch.rand(
        2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)
    )
    blurry = metrics.mnist_scores(blur.reshape(-1, 784), x_train[:2000].reshape(-1, 784))
    assert real["inception"] > 9.0 and blurry["inception"] < 2.0
    assert blurry["frechet"] > 20 * real["frechet"]


def test_mode_shares_count_high_quality_samples_per_mode():
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])
    x = torch.tensor([[-2.0, 0.1], [-2.1, 0.0], [2.0, 0.0], [0.0, 0.0]])  # the last is poor
    torch.testing.assert_close(metrics.mode_shares(x, centres, 0.1), torch.tensor([0.5, 0.25]))
    with pytest.raises(ValueError, match="mode_shares"):
        metrics.mode_shares(x[:, :1], centres, 0.1)
