"""A small MNIST classifier, the shared yardstick for scoring generators of digits.

The Fréchet distance and the Inception-style score (``dgm.metrics``) need features and
class probabilities of a network trained on real digits. For natural images that is
Inception-v3; for MNIST it is this 130k-parameter conv net, so that every student scores any
MNIST generator the same way, offline:

- its weights ship with the library (``weights/mnist_classifier.pt``, 0.54 MB, 99.32% test
  accuracy) and are checked against ``SHA256`` before they are loaded
  (``torch.load(weights_only=True)``), so a changed or corrupted file is refused instead of
  silently moving every score;
- ``python -m dgm.classifier train`` retrains it (a few minutes on a CPU) and prints the
  new file's hash; ``python -m dgm.classifier check`` measures its test accuracy.

Inputs are images in [0, 1], shaped (B, 784) or (B, 1, 28, 28): real digits, binarized
digits and a generator's outputs alike. Training shifts digits by up to 2 pixels so that the
features do not depend on exact centring.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import pretrained

WEIGHTS = pretrained.WEIGHTS_DIR / "mnist_classifier.pt"
SHA256 = "a019cfc92e1324712f0a9b7bc9f16fa01714b47aec2600ffde898b99a355c2ec"
FEATURES = 128  # the width of the feature layer the Fréchet distance compares


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class MNISTClassifier(nn.Module):
    """Four 3x3 conv layers, two max-pools and a global average pool: 128 features, 10 logits."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            *_block(1, 32),
            nn.MaxPool2d(2),  # (B, 32, 14, 14)
            *_block(32, 64),
            *_block(64, 64),
            nn.MaxPool2d(2),  # (B, 64, 7, 7)
            *_block(64, FEATURES),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # (B, 128)
        )
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 784) or (B, 1, 28, 28) images in [0, 1] to (B, 128) features."""
        return self.body(x.reshape(-1, 1, 28, 28).float() - 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, (B, 10)."""
        return self.head(self.features(x))


_loaded: dict[str, MNISTClassifier] = {}


def load(device: torch.device | str | None = None, path: str | Path | None = None):
    """The course's MNIST classifier in evaluation mode, weights verified, gradients off.

    Parameters
    ----------
    device : optional
        Where to put it (default ``dgm.config.device()``).
    path : optional
        Another weights file; its hash must still equal ``SHA256``.

    Raises
    ------
    FileNotFoundError, ValueError
        When the file is missing or its SHA-256 differs from the recorded one.
    """
    from . import config

    device = torch.device(device) if device is not None else config.device()
    path = Path(path) if path is not None else WEIGHTS
    key = f"{path}:{device}"
    if key not in _loaded:
        state = pretrained.load_state_dict(
            path, SHA256, "dgm.classifier", "python -m dgm.classifier train"
        )
        model = MNISTClassifier()
        model.load_state_dict(state)
        model.eval().requires_grad_(False)
        _loaded[key] = model.to(device)
    return _loaded[key]


def random_shift(x: torch.Tensor, pixels: int, generator=None) -> torch.Tensor:
    """Translate each (B, 1, 28, 28) image by a random whole number of pixels in each axis."""
    B = x.shape[0]
    padded = F.pad(x, (pixels,) * 4)
    dx, dy = torch.randint(0, 2 * pixels + 1, (2, B), generator=generator)
    rows = (dy[:, None] + torch.arange(28))[:, :, None]  # (B, 28, 1)
    cols = (dx[:, None] + torch.arange(28))[:, None, :]  # (B, 1, 28)
    return padded[:, 0][torch.arange(B)[:, None, None], rows, cols].unsqueeze(1)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of images ``x`` whose most probable class is ``y``."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
    return correct / len(x)


def fit(epochs: int = 3, batch_size: int = 128, lr: float = 2e-3, seed: int = 0, device=None):
    """Train a fresh classifier on the 60,000 MNIST training digits; return it in eval mode.

    Adam with a one-cycle learning rate, random shifts of up to 2 pixels.
    """
    from . import config, data, train

    device = torch.device(device) if device is not None else config.device()
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x, y = data.load_mnist("train", device="cpu")
    model = MNISTClassifier().to(device)
    steps = epochs * (len(x) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    order = torch.randperm(len(x), generator=g)

    def step(i):
        nonlocal order
        j = i % (len(x) // batch_size)
        if j == 0 and i > 0:
            order = torch.randperm(len(x), generator=g)
        idx = order[j * batch_size : (j + 1) * batch_size]
        xb = random_shift(x[idx].reshape(-1, 1, 28, 28), 2, g).to(device)
        loss = F.cross_entropy(model(xb), y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    model.train()
    train.train(step, steps, desc="MNIST classifier", log_every=100)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from . import data

    parser = argparse.ArgumentParser(prog="python -m dgm.classifier", description=__doc__)
    parser.add_argument("command", choices=["train", "check"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(WEIGHTS))
    args = parser.parse_args(argv)
    x_test, y_test = data.load_mnist("test")
    if args.command == "train":
        model = fit(args.epochs, seed=args.seed)
        acc = accuracy(model, x_test, y_test)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out)
        print(f"test accuracy {acc:.4f}; wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
        print(f'SHA256 = "{pretrained.sha256(out)}"  <- record this in lib/dgm/classifier.py')
    else:
        print(f"test accuracy {accuracy(load(), x_test, y_test):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
