"""MNIST, as tensors on the device.

MNIST is read straight from its four gzip IDX files (no PIL, no per-item transforms) and
kept on the device: it is 47 MB as float32, so it fits on any GPU, and a training step
then never copies from the host. ``batches`` slices such tensors into shuffled
mini-batches; there is no ``DataLoader`` because there is nothing to load.

Where the files are looked for: ``dgm.config.data_dir() / "MNIST" / "raw"`` (``.gz`` or
unpacked). When absent they are downloaded from torchvision's mirrors; with no files and
no network the error names the folder searched and how to supply the files.
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

from .. import config

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
    Every batch is full (the last, smaller one of an epoch is dropped), so ``x`` must hold
    at least ``batch_size`` examples.
    """
    if not isinstance(batch_size, int) or not 1 <= batch_size <= len(x):
        raise ValueError(  # else no batch is full and the stream would never yield
            f"binarized_stream: batch_size must be an int in [1, {len(x)}] (the examples in x), "
            f"got {batch_size!r}"
        )
    while True:
        x_bin = dynamic_binarize(x, generator)  # one Bernoulli draw of the whole set, on its device
        for (xb,) in batches(x_bin, batch_size=batch_size, drop_last=True, generator=generator):
            yield xb
