"""Weights that ship with the library, checked against a recorded hash before they load.

A score is only comparable across students and runs if everyone loads the same numbers, so
each shipped file (``dgm/weights/*.pt``) has its SHA-256 recorded next to the code that uses
it: the course classifier (``dgm.classifier``) and lecture 04's trained DCGAN generator
(``dgm.gan.pretrained_dcgan``). A changed or corrupted file is refused with a message that
says how to restore or rebuild it; ``torch.load(weights_only=True)`` never runs code from it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_state_dict(path: str | Path, expected_sha256: str, owner: str, rebuild: str) -> dict:
    """A state dict from ``path`` after checking its hash, on the CPU.

    Parameters
    ----------
    path : str or Path
        The weights file.
    expected_sha256 : str
        The digest recorded in the code that owns the file.
    owner : str
        Who asks, for the messages (``"dgm.classifier"``).
    rebuild : str
        The command that re-creates the file, for the messages.

    Raises
    ------
    FileNotFoundError
        When the file is missing.
    ValueError
        When its SHA-256 differs from ``expected_sha256``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{owner}: no weights at {path}; rebuild them with `{rebuild}`")
    digest = sha256(path)
    if digest != expected_sha256:
        raise ValueError(
            f"{owner}: {path} has SHA-256 {digest}, expected {expected_sha256}; the file "
            f"changed, so its results would not be the recorded ones. Restore it (git checkout) "
            f"or, after rebuilding it on purpose with `{rebuild}`, record the new hash in {owner}"
        )
    return torch.load(path, map_location="cpu", weights_only=True)
