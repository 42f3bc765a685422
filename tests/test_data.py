import gzip
import http.server
import shutil
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from dgm import config, data


@pytest.fixture
def cpu(monkeypatch):
    monkeypatch.setenv("DGM_DEVICE", "cpu")


def test_mnist_matches_the_published_statistics(cpu):
    x, y = data.load_mnist("train")
    assert x.shape == (60_000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (60_000,) and y.dtype == torch.int64
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert x.mean().item() == pytest.approx(0.1307, abs=1e-4)
    assert x.std().item() == pytest.approx(0.3081, abs=1e-4)
    xt, yt = data.load_mnist("test")
    assert xt.shape == (10_000, 1, 28, 28) and set(yt.unique().tolist()) == set(range(10))


def test_mnist_lives_on_the_requested_device():
    x, y = data.load_mnist("test", device=config.device())
    assert x.device.type == config.device().type and y.device == x.device


def test_bad_split_is_named():
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(bad)


SHARED_RAW = Path(config.data_dir()) / "MNIST" / "raw"


@pytest.fixture
def damaged(tmp_path, monkeypatch):
    """A data folder with real test labels, where each test writes one damaged images file."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(SHARED_RAW / "t10k-labels-idx1-ubyte.gz", raw)
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    monkeypatch.setattr(data.mnist, "MIRRORS", ["http://127.0.0.1:9/"])
    monkeypatch.setattr(data.mnist, "_cache", {})
    return raw / "t10k-images-idx3-ubyte.gz"


def test_a_truncated_gzip_names_the_file_and_the_remedy(damaged):
    whole = (SHARED_RAW / "t10k-images-idx3-ubyte.gz").read_bytes()
    damaged.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz is damaged.*Delete"):
        data.load_mnist("test")


def test_a_web_page_saved_as_gz_is_recognised(damaged):
    damaged.write_text("<!DOCTYPE html><html><body>Access denied</body></html>")
    with pytest.raises(ValueError, match="not a gzip file.*a web page saved in its place"):
        data.load_mnist("test")


def test_an_idx_header_that_does_not_match_its_data(damaged):
    with gzip.open(damaged, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + np.array([10000, 28, 28], ">i4").tobytes() + b"\x00" * 99)
    with pytest.raises(ValueError, match="holds 99 values, its header says"):
        data.load_mnist("test")


def test_a_labels_file_saved_under_the_images_name_is_refused(damaged):
    shutil.copy(SHARED_RAW / "t10k-labels-idx1-ubyte.gz", damaged)
    with pytest.raises(ValueError, match=r"shape \(10000,\).*must hold \(10000, 28, 28\) uint8"):
        data.load_mnist("test")


def test_offline_with_nothing_to_read_raises_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    monkeypatch.setattr(data.mnist, "MIRRORS", ["http://127.0.0.1:9/"])  # nothing listens there
    monkeypatch.setattr(data.mnist, "_cache", {})
    with pytest.raises(FileNotFoundError) as info:
        data.load_mnist("test")
    message = str(info.value)
    raw = tmp_path / "MNIST" / "raw"
    assert f"{raw}/t10k-images-idx3-ubyte.gz" in message
    assert "DGM_DATA" in message and "download failed" in message
    assert info.value.__context__ is None  # one error, not a chain of tracebacks


def test_download_fetches_the_files_from_a_mirror(tmp_path, monkeypatch):
    """The real download path, against a mirror served on the loopback interface."""
    source = Path(data.mnist_path("t10k-labels-idx1-ubyte", download=False)).parent
    served = tmp_path / "mirror"
    served.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(source / name, served / name)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DGM_DATA", str(tmp_path / "cache"))
        monkeypatch.setattr(data.mnist, "MIRRORS", [f"http://127.0.0.1:{server.server_port}/"])
        monkeypatch.setattr(data.mnist, "_cache", {})
        x, y = data.load_mnist("test", device="cpu")
    finally:
        server.shutdown()
    assert x.shape == (10_000, 1, 28, 28)
    assert (tmp_path / "cache" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()
    assert not list((tmp_path / "cache" / "MNIST" / "raw").glob("*.part"))


def test_dynamic_binarization_is_a_fresh_unbiased_sample():
    p = torch.rand(200, 50, generator=torch.Generator().manual_seed(0))
    a, b = data.dynamic_binarize(p), data.dynamic_binarize(p)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and not torch.equal(a, b)
    mean = torch.stack([data.dynamic_binarize(p) for _ in range(400)]).mean(0)
    assert (mean - p).abs().max() < 0.12  # 400 draws: 5 sigma of sqrt(.25/400) = .125
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.dynamic_binarize(p * 255)


def test_static_binarization_is_fixed_by_its_seed(cpu):
    a, _ = data.binarized_mnist("test", seed=0)
    b, _ = data.binarized_mnist("test", seed=0)
    c, _ = data.binarized_mnist("test", seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    x, _ = data.load_mnist("test")
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert a.mean().item() == pytest.approx(x.mean().item(), abs=2e-3)


def test_batches_visit_every_example_once():
    x = torch.arange(10)
    seen = torch.cat([b for (b,) in data.batches(x, batch_size=3)])
    assert sorted(seen.tolist()) == list(range(10))
    dropped = list(data.batches(x, batch_size=3, drop_last=True, shuffle=False))
    assert [len(b) for (b,) in dropped] == [3, 3, 3]
    x2, y2 = next(data.batches(x, x * 2, batch_size=4))
    assert torch.equal(y2, x2 * 2)  # rows stay aligned across tensors
    with pytest.raises(ValueError, match="differ in length"):
        next(data.batches(x, x[:5], batch_size=2))
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(x, batch_size=0))


def test_ring_and_grid_samples_sit_on_their_mode_centres(gen):
    ring = data.ring_centres(8, 1.0)
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    x = data.gaussian_ring(2000, generator=gen, device="cpu")
    dist = torch.cdist(x, ring).min(1).values
    assert dist.max() < 5 * 0.01 * 2  # within 5 std per coordinate
    grid = data.grid_centres(5, 2.0)
    assert grid.shape == (25, 2) and sorted(grid[:, 0].unique().tolist()) == [-4, -2, 0, 2, 4]
    y = data.gaussian_grid(5000, generator=gen, device="cpu")
    nearest = torch.cdist(y, grid).argmin(1)
    assert len(nearest.unique()) == 25
    assert torch.cdist(y, grid).min(1).values.max() < 5 * 0.05 * 2


def test_swiss_roll_and_moons_have_their_shapes(gen):
    roll = data.swiss_roll(1000, noise=0.0, generator=gen, device="cpu")
    radius = roll.norm(dim=1) * 5  # |t (cos t, sin t)| = t
    assert radius.min() >= 1.5 * np.pi - 1e-4 and radius.max() <= 4.5 * np.pi + 1e-4
    moons = data.two_moons(1000, noise=0.0, generator=gen, device="cpu")
    upper = (moons - torch.tensor([0.0, 0.0])).norm(dim=1)
    lower = (moons - torch.tensor([1.0, 0.5])).norm(dim=1)
    assert torch.minimum((upper - 1).abs(), (lower - 1).abs()).max() < 1e-5
    with pytest.raises(ValueError, match="n must be a positive int"):
        data.two_moons(0)


def test_gaussian_mixture_sample_has_the_right_moments(gen):
    weights, means, covs = data.blobs_params()
    x, z = data.gaussian_mixture(60_000, weights, means, covs, generator=gen)
    assert x.dtype == torch.float64 and x.shape == (60_000, 2)
    share = torch.bincount(z, minlength=3).double() / len(z)
    assert torch.allclose(share, weights, atol=0.01)
    for k in range(3):
        assert torch.allclose(x[z == k].mean(0), means[k], atol=0.03)
        assert torch.allclose(torch.cov(x[z == k].T), covs[k], atol=0.05)
    with pytest.raises(ValueError, match="covs"):
        data.gaussian_mixture(5, weights, means, covs[:, :1])


def test_binarized_stream_redraws_bits_every_epoch():
    x = torch.full((10, 4), 0.5)
    stream = data.binarized_stream(x, batch_size=5)
    first_epoch = torch.cat([next(stream), next(stream)])
    second_epoch = torch.cat([next(stream), next(stream)])
    assert first_epoch.shape == (10, 4) and set(first_epoch.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(first_epoch, second_epoch)


def test_unequal_modes_follow_their_weights():
    g = torch.Generator().manual_seed(0)
    x = data.unequal_modes(20_000, generator=g, device="cpu")
    centres = data.unequal_centres()
    assert torch.equal(centres, torch.tensor([[-2.0, 0.0], [2.0, 0.0]]))
    assert abs((x[:, 0] > 0).float().mean().item() - 1 / 11) < 0.006
    assert abs(x[x[:, 0] > 0].std(0).mean().item() - 0.1) < 0.01
    with pytest.raises(ValueError, match="weights"):
        data.unequal_modes(5, weights=(1.0,))


def test_a_binarized_stream_needs_one_full_batch():
    """With fewer examples than a batch, no batch is full: the stream says so rather than
    looping forever (it drops the last, smaller batch of every epoch)."""
    x = torch.rand(10, 784)
    assert next(data.binarized_stream(x, 10)).shape == (10, 784)
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, 10\].*got 11"):
        next(data.binarized_stream(x, 11))
