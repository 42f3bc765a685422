"""Datasets of the course, as tensors on the device.

MNIST is read straight from its four gzip IDX files (no PIL, no per-item transforms) and
kept on the device: it is 47 MB as float32, so it fits on any GPU, and a training step
then never copies from the host. ``batches`` slices such tensors into shuffled
mini-batches; there is no ``DataLoader`` because there is nothing to load.

Where the files are looked for: ``dgm.config.data_dir() / "MNIST" / "raw"`` (``.gz`` or
unpacked). When absent they are downloaded from torchvision's mirrors; with no files and
no network the error names the folder searched and how to supply the files.

The 2-D toy data (ring of 8 Gaussians, 5x5 grid, swiss roll, two moons) is generated, and
the Gaussian mixtures come with their mode centres for the mode-coverage metric.
"""

from __future__ import annotations

import gzip
import math
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from . import config

# --------------------------------------------------------------------------- MNIST

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_SIZES = {"train": 60_000, "test": 10_000}
# torchvision's list of mirrors; a copy is kept so the loader works without torchvision.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array of its own shape.

    The format: two zero bytes, a dtype code, the number of dimensions ``d``, then ``d``
    big-endian int32 sizes, then the data in C order.
    """
    path = Path(path)
    remedy = (
        f"Delete {path} and run again to download it afresh, or replace it with an intact copy."
    )
    if path.suffix == ".gz":
        with open(path, "rb") as f:
            head = f.read(64)
        if head[:2] != b"\x1f\x8b":
            what = "a web page saved in its place" if head.lstrip()[:1] == b"<" else "not gzip"
            raise ValueError(
                f"read_idx: {path} is not a gzip file (it starts with {head[:16]!r}: "
                f"{what}). {remedy}"
            )
        try:
            with gzip.open(path, "rb") as f:
                raw = f.read()
        except (EOFError, OSError, zlib.error) as err:  # truncated or corrupt
            raise ValueError(
                f"read_idx: {path} is damaged ({type(err).__name__}: {err}; a download "
                f"cut short?). {remedy}"
            ) from None
    else:
        raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"read_idx: {path} is not an IDX file (bad magic number {raw[:4]!r}). {remedy}"
        )
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"read_idx: {path} ends inside its header. {remedy}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != math.prod(shape):
        raise ValueError(
            f"read_idx: {path} holds {data.size} values, its header says {shape}. {remedy}"
        )
    return data.reshape(shape)


def _check_mnist(array: np.ndarray, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` if it has MNIST's ``shape`` and dtype (uint8), else a ``ValueError``."""
    if array.shape != shape or array.dtype != np.uint8:
        raise ValueError(
            f"load_mnist: {path} holds an array of shape {array.shape} and dtype {array.dtype}, "
            f"but this MNIST file must hold {shape} uint8 (is another MNIST file saved under "
            f"its name?). Replace it with the right file, or delete it to download it again."
        )
    return array


def _find(raw_dir: Path, name: str) -> Path | None:
    for candidate in (raw_dir / f"{name}.gz", raw_dir / name):
        if candidate.is_file():
            return candidate
    return None


def _download(raw_dir: Path, name: str, timeout: float = 30.0) -> Path:
    """Fetch ``name.gz`` into ``raw_dir`` from the first mirror that answers."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    target = raw_dir / f"{name}.gz"
    errors = []
    for mirror in MIRRORS:
        url = f"{mirror}{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as err:
            errors.append(f"{url}: {err}")
            continue
        tmp = target.with_suffix(".gz.part")
        tmp.write_bytes(payload)
        tmp.replace(target)  # atomic: a half-written file never looks complete
        return target
    raise ConnectionError("; ".join(errors))


def mnist_path(name: str, download: bool = True) -> Path:
    """The path of one MNIST file, downloading it if absent and allowed."""
    raw_dir = config.data_dir() / "MNIST" / "raw"
    found = _find(raw_dir, name)
    if found is not None:
        return found
    reason = "download=False"
    if download:
        try:
            return _download(raw_dir, name)
        except ConnectionError as err:
            reason = f"download failed ({err})"
    raise FileNotFoundError(
        f"MNIST file {name}(.gz) not found. Searched: {raw_dir}/{name}.gz and "
        f"{raw_dir}/{name}; {reason}.\n"
        "To supply the files, either connect to the internet (they are downloaded), or "
        f"copy the four MNIST .gz files into {raw_dir}/, or set DGM_DATA to a folder "
        "that holds MNIST/raw/*.gz."
    )


def load_mnist(
    split: str = "train", device: torch.device | str | None = None, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images and labels, on ``device`` (default ``dgm.config.device()``).

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test digits.
    device : torch.device or str, optional
        Where the tensors live.
    download : bool
        Fetch the files when they are not found locally.

    Returns
    -------
    x : Tensor, float32, shape (N, 1, 28, 28)
        Grey levels scaled to [0, 1].
    y : Tensor, int64, shape (N,)
        Digit labels 0..9.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    device = torch.device(device) if device is not None else config.device()
    key = (split, str(config.data_dir()), str(device))
    if key not in _cache:
        image_file, label_file = MNIST_FILES[split]
        n = MNIST_SIZES[split]
        image_path, label_path = mnist_path(image_file, download), mnist_path(label_file, download)
        images = _check_mnist(read_idx(image_path), image_path, (n, 28, 28))
        labels = _check_mnist(read_idx(label_path), label_path, (n,))
        if labels.max() > 9:
            raise ValueError(f"load_mnist: {label_path} has labels above 9: not MNIST's labels")
        x = torch.from_numpy(images.copy()).to(device).unsqueeze(1).float().div_(255)
        y = torch.from_numpy(labels.astype(np.int64)).to(device)
        _cache[key] = (x, y)  # (N, 1, 28, 28), (N,)
    return _cache[key]


def dynamic_binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh Bernoulli sample of each pixel, ``x_bin ~ Bernoulli(x)``: call once per epoch.

    Re-sampling every epoch is the binarization of the VAE/IWAE papers; it acts as data
    augmentation and is what their test NLLs are measured with.
    """
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("dynamic_binarize: x must be a floating-point tensor of probabilities")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError("dynamic_binarize: x must lie in [0, 1] (grey levels scaled by 1/255)")
    return torch.bernoulli(x, generator=generator)


def binarized_mnist(
    split: str = "test", seed: int = 0, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A *fixed* binarization of MNIST (same seed, same bits on every device).

    Used for evaluation, so that every model of the course is scored on the same digits.
    """
    x, y = load_mnist(split, device="cpu")
    x_bin = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    device = torch.device(device) if device is not None else config.device()
    return x_bin.to(device), y.to(device)


def batches(
    *tensors: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Mini-batches of in-memory tensors, sliced where they live (no host copies).

    ``for (xb, yb) in batches(x, y, batch_size=128): ...``. The shuffling permutation is
    drawn on the tensors' device (pass a ``generator`` on that device to fix it).
    """
    if not tensors:
        raise ValueError("batches: give at least one tensor")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"batches: tensors differ in length: {[t.shape[0] for t in tensors]}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive int, got {batch_size!r}")
    dev = tensors[0].device
    order = torch.randperm(n, device=dev, generator=generator) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield tuple(t[start : start + batch_size] for t in tensors)
        else:
            idx = order[start : start + batch_size]
            yield tuple(t[idx] for t in tensors)


def binarized_stream(
    x: torch.Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Endless mini-batches of ``x``, dynamically binarized: fresh bits and order every epoch.

    ``stream = binarized_stream(x_train, 100)``, then ``xb = next(stream)`` in each step.
    """
    while True:
        x_bin = dynamic_binarize(x, generator)  # one Bernoulli draw of the whole set, on its device
        for (xb,) in batches(x_bin, batch_size=batch_size, drop_last=True, generator=generator):
            yield xb


# --------------------------------------------------------------------------- 2-D toy data


def _check_n(fn: str, n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{fn}: n must be a positive int, got {n!r}")


def _on(x: torch.Tensor, device) -> torch.Tensor:
    return x.to(torch.device(device) if device is not None else config.device())


def ring_centres(n_modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Centres of ``n_modes`` Gaussians evenly spaced on a circle, shape (n_modes, 2)."""
    angle = 2 * math.pi * torch.arange(n_modes, dtype=torch.float32) / n_modes
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def grid_centres(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of a ``side`` x ``side`` grid centred on 0 (e.g. -4, -2, 0, 2, 4), (side**2, 2)."""
    ticks = spacing * (torch.arange(side, dtype=torch.float32) - (side - 1) / 2)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _around(centres: torch.Tensor, n: int, std: float, generator, weights=None) -> torch.Tensor:
    if weights is None:
        k = torch.randint(len(centres), (n,), generator=generator)  # which mode, uniform
    else:
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
    return centres[k] + std * torch.randn(n, 2, generator=generator)  # (n, 2)


def unequal_modes(
    n: int,
    weights: tuple[float, ...] = (10.0, 1.0),
    spacing: float = 4.0,
    std: float = 0.1,
    generator: torch.Generator | None = None,
    device=None,
) -> torch.Tensor:
    """``n`` points from Gaussians on the x-axis, ``spacing`` apart, mixed in the ratio ``weights``.

    The default is lecture 05's test of mode seeking: a large mode at (-2, 0) and a small one
    at (2, 0) with a tenth of its mass (``unequal_centres`` gives the centres).
    """
    _check_n("unequal_modes", n)
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.dim() != 1 or len(w) < 2 or (w <= 0).any():
        raise ValueError(
            f"unequal_modes: weights must be 2 or more positive numbers, got {weights!r}"
        )
    centres = unequal_centres(len(w), spacing)
    return _on(_around(centres, n, std, generator, (w / w.sum()).float()), device)


def unequal_centres(n_modes: int = 2, spacing: float = 4.0) -> torch.Tensor:
    """Centres of ``unequal_modes``: ``n_modes`` points on the x-axis around 0, (n_modes, 2)."""
    x = spacing * (torch.arange(n_modes, dtype=torch.float32) - (n_modes - 1) / 2)
    return torch.stack([x, torch.zeros_like(x)], dim=1)


def gaussian_ring(
    n: int,
    n_modes: int = 8,
    radius: float = 1.0,
    std: float = 0.01,
    generator: torch.Generator | None = None,
    device=None,
) -> torch.Tensor:
    """``n`` points from an equal mixture of Gaussians on a ring (PacGAN's set-up), (n, 2)."""
    _check_n("gaussian_ring", n)
    return _on(_around(ring_centres(n_modes, radius), n, std, generator), device)


def gaussian_grid(
    n: int,
    side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    generator: torch.Generator | None = None,
    device=None,
) -> torch.Tensor:
    """``n`` points from an equal mixture of Gaussians on a grid (PacGAN's set-up), (n, 2)."""
    _check_n("gaussian_grid", n)
    return _on(_around(grid_centres(side, spacing), n, std, generator), device)


def swiss_roll(
    n: int, noise: float = 0.05, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """The 2-D swiss roll ``t (cos t, sin t) / 5`` with ``t`` in [1.5 pi, 4.5 pi], (n, 2)."""
    _check_n("swiss_roll", n)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    x = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 5
    return _on(x + noise * torch.randn(n, 2, generator=generator), device)


def two_moons(
    n: int, noise: float = 0.05, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), shape (n, 2)."""
    _check_n("two_moons", n)
    t = math.pi * torch.rand(n, generator=generator)
    upper = torch.rand(n, generator=generator) < 0.5
    x = torch.where(
        upper[:, None],
        torch.stack([t.cos(), t.sin()], dim=1),
        torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=1),
    )
    return _on(x + noise * torch.randn(n, 2, generator=generator), device)


def gaussian_mixture(
    n: int,
    weights: torch.Tensor,
    means: torch.Tensor,
    covs: torch.Tensor,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``z ~ Categorical(weights)``, ``x ~ N(means[z], covs[z])``.

    Returns ``x`` of shape (n, D) and the component labels ``z`` of shape (n,), on the
    device and dtype of ``means``.
    """
    _check_n("gaussian_mixture", n)
    K, D = means.shape
    if weights.shape != (K,) or covs.shape != (K, D, D):
        raise ValueError(
            f"gaussian_mixture: expected weights (K,), means (K, D), covs (K, D, D); got "
            f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}"
        )
    z = torch.multinomial(weights.cpu().double(), n, replacement=True, generator=generator)
    eps = torch.randn(n, D, generator=generator, dtype=torch.float64)
    L = torch.linalg.cholesky(covs.cpu().double())  # (K, D, D)
    x = means.cpu().double()[z] + (L[z] @ eps[:, :, None]).squeeze(-1)  # (n, D)
    return x.to(means), z.to(means.device)


def blobs_params(
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The true ``(weights, means, covs)`` of ``blobs``: three Gaussians of different shapes."""
    weights = torch.tensor([0.45, 0.35, 0.20], dtype=dtype)
    means = torch.tensor([[-2.0, 0.5], [2.0, 1.5], [0.5, -2.5]], dtype=dtype)
    covs = torch.tensor(
        [[[1.0, 0.6], [0.6, 0.8]], [[0.6, -0.3], [-0.3, 0.5]], [[1.2, 0.0], [0.0, 0.15]]],
        dtype=dtype,
    )
    return weights, means, covs


def blobs(
    n: int = 600, generator: torch.Generator | None = None, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lecture 01's data: ``n`` points from the mixture ``blobs_params()``, float64.

    Returns the points (n, 2) and the component each came from (n,).
    """
    _check_n("blobs", n)
    x, z = gaussian_mixture(n, *blobs_params(), generator=generator)
    return _on(x, device), _on(z, device)
