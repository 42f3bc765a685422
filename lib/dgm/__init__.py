"""dgm: the small library behind the notebooks of *Deep generative models*.

One module per lecture (``em``, ``wake_sleep``, ``vae``, ``gan``...) and a few shared ones:
``config`` (device, fast mode, seeds, paths), ``densities`` (the log-densities every
lecture uses), ``data`` (MNIST and 2-D toy data as tensors on
the device), ``train`` (training loop with checkpoints), ``metrics`` and ``classifier``
(log-likelihood, mode coverage, Fréchet distance on MNIST), ``pretrained`` (shipped,
hash-checked weights), ``plot``,
``widgets``, ``checks`` (exercise self-checks) and ``grade`` (the autograder).
"""

import importlib
import importlib.util

# the modules load on first use (``dgm.vae``, ``from dgm import vae``): a process that
# needs one part (the grader's notebook executor, ``python -m dgm.course``) does not pay
# two seconds for torch and matplotlib
_MODULES = (
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
)
__all__ = [*_MODULES, "device", "pick"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("device", "pick"):
        return getattr(importlib.import_module(f"{__name__}.config"), name)
    if name in _MODULES or (
        not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None
    ):
        return importlib.import_module(f"{__name__}.{name}")  # stacked, unified, course too
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
