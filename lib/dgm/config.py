"""Run-time settings shared by every lecture: device, fast mode, seeds, paths.

Everything that differs between a student's laptop, a Colab GPU and CI is decided here,
once, so that notebooks and library code never test the environment themselves.

- ``device()``: CUDA if present, else Apple's MPS, else the CPU.
- ``fast()``: ``True`` when ``DGM_FAST=1``; every size and step count that depends on
  the mode goes through ``pick(full=..., fast=...)``.
- ``seed(s)``: seeds Python, NumPy and torch (all devices).
- ``data_dir()``: ``$DGM_DATA`` if set, else the repository's ``data/`` folder when the
  library runs from a checkout, else ``~/.cache/dgm``.
- ``grading()``: ``True`` under an autograder (``DGM_GRADING=1``).
- ``interactive()``: whether ipywidgets views should be shown (a live Jupyter front end)
  or replaced by static figures (``DGM_STATIC=1``, or no IPython kernel).
- ``progress_bar(...)``: tqdm's bar, live; headless (``DGM_STATIC=1``) one line at the end.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def device() -> torch.device:
    """The device every model and dataset is placed on: CUDA, else MPS, else CPU.

    ``DGM_DEVICE`` (e.g. ``cpu``) overrides the choice.
    """
    forced = os.environ.get("DGM_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def fast() -> bool:
    """``True`` in fast mode (``DGM_FAST=1``): tiny sizes, a minute per notebook on a CPU."""
    return _flag("DGM_FAST")


def pick(*, full: T, fast: T) -> T:
    """Choose a size by mode: ``steps = pick(full=20_000, fast=200)``.

    This is the only place where fast mode changes what a notebook does.
    """
    return fast if _flag("DGM_FAST") else full


def mode() -> str:
    """``"fast"`` or ``"full"``."""
    return "fast" if fast() else "full"


def seed(s: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a CPU ``torch.Generator`` seeded with ``s``."""
    if not isinstance(s, int) or isinstance(s, bool):
        raise TypeError(f"seed: expected an int, got {type(s).__name__}")
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)
    return torch.Generator().manual_seed(s)


def repo_root() -> Path | None:
    """The repository checkout the library runs from, or ``None`` when pip-installed elsewhere."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "solutions").is_dir() else None


def data_dir() -> Path:
    """Where datasets are read from and downloaded to.

    ``$DGM_DATA`` if set; else ``<repo>/data`` in a checkout; else ``~/.cache/dgm``.
    """
    env = os.environ.get("DGM_DATA")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    if root is not None:
        return root / "data"
    return Path.home() / ".cache" / "dgm"


def checkpoint_dir() -> Path:
    """Where training checkpoints go: ``$DGM_CHECKPOINTS``, else ``<repo>/checkpoints``."""
    env = os.environ.get("DGM_CHECKPOINTS")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return (root / "checkpoints") if root is not None else Path.home() / ".cache" / "dgm" / "ckpt"


def in_colab() -> bool:
    """``True`` when running on Google Colab."""
    return "google.colab" in sys.modules


def interactive() -> bool:
    """Whether to show ipywidgets views (a live front end) rather than static figures.

    ``False`` when ``DGM_STATIC=1`` (set when notebooks are executed headless: tests,
    ``make solutions``), when ipywidgets is missing, or outside an IPython kernel.
    """
    if _flag("DGM_STATIC"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_bar(iterable=None, **kwargs):
    """A progress bar: ``tqdm.auto``'s (a widget in Jupyter, text in a terminal).

    Headless (``DGM_STATIC=1``: executed solutions, the grader) a live bar would be saved
    as its first frame, a "0%" that never moves, so the bar stays silent and prints one
    line when it closes: what ran, how long it took and the last values shown beside it.
    A bar with ``leave=False`` prints nothing. Arguments are tqdm's.
    """
    if not _flag("DGM_STATIC"):
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    import io

    from tqdm.std import tqdm as text_tqdm

    class OneLine(text_tqdm):
        def close(self):
            if self.disable:
                return
            line = self.format_meter(**self.format_dict) if self.leave else None
            super().close()
            if line:
                print(line, flush=True)

    kwargs.update(file=io.StringIO(), mininterval=60.0)  # nothing live, nothing to keep
    return OneLine(iterable, **kwargs)


def _data_dir_name() -> str:
    """``data_dir()`` as a reader's notebook should show it: by where it comes from, not as
    this machine's absolute path (``$DGM_DATA``, ``<repo>/data`` or ``~/...``)."""
    if os.environ.get("DGM_DATA"):
        return "$DGM_DATA"
    path, root = data_dir(), repo_root()
    if root is not None and path.is_relative_to(root):
        return f"<repo>/{path.relative_to(root).as_posix()}"
    if path.is_relative_to(Path.home()):
        return f"~/{path.relative_to(Path.home()).as_posix()}"
    return str(path)


def describe() -> str:
    """One line saying where and how this notebook runs (``dgm.config.data_dir()`` gives the
    data folder's full path)."""
    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    return (
        f"dgm: device={dev} ({name}), mode={mode()}, torch={torch.__version__}, "
        f"data={_data_dir_name()}"
    )


def setup(s: int = 0) -> torch.Generator:
    """First call of every notebook: seed everything and print the device and mode."""
    if in_colab():
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()  # ipywidgets need it on Colab
    print(describe())
    return seed(s)


def grading() -> bool:
    """``True`` under an autograder (``DGM_GRADING=1``): a failed exercise check raises."""
    return _flag("DGM_GRADING")
