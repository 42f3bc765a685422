"""Lecture 03 benchmark: the IWAE paper's one-stochastic-layer MNIST model, as a VAE and an IWAE.

Network (Burda et al. 2016): 784-200-200-50 encoder and 50-200-200-784 decoder, tanh,
Bernoulli pixels; dynamically binarized training digits; test NLL estimated by importance
sampling with K = 5000 on the fixed binarization of the 10,000 test digits. Published:
VAE (k=1) 86.76 nats, IWAE (k=50) 84.78 nats, after 3,280 passes over the data.

Train (resumes from its checkpoint; ``--minutes`` saves and stops early, for a job with a
wall-clock limit; run the same command again to continue)::

    python -m benchmarks.vae train --model vae --epochs 100 --minutes 9

When training completes it evaluates and writes ``benchmarks/results/vae.json``. To check a
figure without retraining, re-estimate it from the checkpoint::

    python -m benchmarks.vae evaluate --model vae

The VAE at the IWAE's budget, a row of its own (the likelihood table compares equal budgets)::

    python -m benchmarks.vae train --model vae --epochs 40 --tag ", 40 epochs" \
        --checkpoint benchmarks/checkpoints/vae40.pt

The training data stay on the device and, on a GPU, the whole step (forward, backward,
Adam) is one captured CUDA graph (``dgm.train.make_step``). ``speed`` times an epoch of
this VAE against an epoch of the pytorch/examples VAE script's pipeline (a DataLoader over a
torchvision-style dataset, batch 128, 784-400-20 ReLU network, ``loss.item()`` every step)::

    python -m benchmarks.vae speed
"""

from __future__ import annotations

import statistics
import time

import torch

import dgm
from benchmarks import records

PAPER = "Burda, Grosse & Salakhutdinov 2016, Table 1 (one stochastic layer)"
PAPER_NLL = {"vae": 86.76, "iwae": 84.78}
TRAIN_K = {"vae": 1, "iwae": 50}


def build(model_name: str, device) -> dgm.vae.VAE:
    torch.manual_seed(0)
    return dgm.vae.VAE(dgm.vae.VAEConfig(hidden=(200, 200), z_dim=50, activation="tanh")).to(device)


def fit_config(args) -> dgm.vae.FitConfig:
    """The recipe of ``dgm.vae.fit`` with this command's options."""
    return dgm.vae.FitConfig(
        lr=args.lr, batch_size=args.batch_size, k=TRAIN_K[args.model], step=args.step
    )


def train(args) -> None:
    device = dgm.device()
    x_train, _ = dgm.data.load_mnist("train", device=device)
    steps_per_epoch = len(x_train) // args.batch_size
    n_steps = args.max_steps or args.epochs * steps_per_epoch
    model = build(args.model, device)
    model.set_output_bias(x_train.mean(0))
    history = dgm.vae.fit(
        model,
        x_train,
        n_steps,
        fit_config(args),
        **records.train_options(args, device, steps_per_epoch),
    )
    if records.stopped_early(history):
        return
    evaluate(args)


def evaluate(args) -> None:
    device = dgm.device()
    model, saved = records.load_trained(lambda: build(args.model, device), args, device)
    nll = records.nll_on_test_digits(model.log_weights, args, device)
    protocol = args.n_eval == 10_000 and args.k_eval == 5000  # the paper's: K = 5000, all digits
    records.report_nll(
        "vae",
        args,
        saved,
        device,
        f"{args.model} (k={TRAIN_K[args.model]}){args.tag}",
        nll,
        PAPER,
        PAPER_NLL[args.model] if protocol else None,
    )


# --------------------------------------------------------------------------- speed


def epoch_seconds(run_epoch, n_epochs: int, device) -> list[float]:
    """Wall-clock seconds of each of ``n_epochs`` calls of ``run_epoch()``, after one
    untimed warm-up epoch (which pays for CUDA start-up, cuBLAS plans, graph capture)."""
    times = []
    for e in range(n_epochs + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        run_epoch()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if e > 0:
            times.append(time.perf_counter() - t0)
    return times


def examples_epoch(device, n_images: int):
    """One epoch of the pytorch/examples VAE script's training loop, as a function.

    Its pipeline, step for step: ``torchvision.datasets.MNIST`` with ``ToTensor`` (a PIL
    image per item, converted to a float tensor), ``DataLoader(batch_size=128,
    shuffle=True)`` with one worker and pinned memory on a GPU, ``data.to(device)`` per
    batch, its 784-400-20 ReLU VAE with Adam (lr 1e-3), and ``loss.item()`` every step.
    """
    import numpy as np
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    images = dgm.data.read_idx(dgm.data.mnist_path("train-images-idx3-ubyte"))[:n_images]

    class TorchvisionStyleMNIST(torch.utils.data.Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return to_tensor(Image.fromarray(np.asarray(images[i]), mode="L")), 0

    on_gpu = device.type == "cuda"
    loader = torch.utils.data.DataLoader(
        TorchvisionStyleMNIST(),
        batch_size=128,
        shuffle=True,
        **({"num_workers": 1, "pin_memory": True} if on_gpu else {}),
    )
    torch.manual_seed(0)
    model = dgm.vae.VAE(dgm.vae.VAEConfig(hidden=(400,), z_dim=20, activation="relu")).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run_epoch():
        total = 0.0
        for data, _ in loader:
            data = data.to(device)
            opt.zero_grad()
            loss = model.loss(data).sum()  # the script sums over the batch
            loss.backward()
            total += loss.item()
            opt.step()
        return total

    return run_epoch


def speed(args) -> None:
    device = dgm.device()
    x_train, _ = dgm.data.load_mnist("train", device=device)
    x_train = x_train[: args.speed_images]
    steps_per_epoch = len(x_train) // args.batch_size
    model = build(args.model, device)
    model.set_output_bias(x_train.mean(0))
    _, step, mode = dgm.vae.training_step(model, x_train, 10**9, fit_config(args))
    i = 0

    def our_epoch():
        nonlocal i
        losses = [step(i + j)["loss"] for j in range(steps_per_epoch)]  # read back once
        i += steps_per_epoch
        return torch.stack(losses).mean().item()

    ours = epoch_seconds(our_epoch, args.speed_epochs, device)
    theirs = epoch_seconds(examples_epoch(device, len(x_train)), args.speed_epochs, device)
    fraction = len(x_train) / 60_000
    common = dict(paper_value=None, paper="-", device=records.device_name(device))
    out = [
        records.make_record(
            model=f"{args.model} (k={TRAIN_K[args.model]}), {mode} step",
            metric="seconds per epoch (train)",
            value=round(statistics.median(ours) / fraction, 3),
            epochs=args.speed_epochs,
            train_seconds=round(sum(ours), 2),
            **common,
        ),
        records.make_record(
            model="pytorch/examples VAE script",
            metric="seconds per epoch (train)",
            value=round(statistics.median(theirs) / fraction, 3),
            epochs=args.speed_epochs,
            train_seconds=round(sum(theirs), 2),
            **common,
        ),
    ]
    out.append(
        records.make_record(
            model=f"{args.model} (k={TRAIN_K[args.model]}), {mode} step",
            metric="epoch speed-up over pytorch/examples",
            value=round(out[1]["value"] / out[0]["value"], 1),
            epochs=args.speed_epochs,
            train_seconds=round(sum(ours), 2),
            **common,
        )
    )
    records.print_table(out)
    print(f"wrote {records.write('vae', out, records.results_dir(args))}")


def main(argv=None) -> None:
    parser = records.arguments(
        "python -m benchmarks.vae", __doc__, sorted(PAPER_NLL), "vae", commands=("speed",)
    )
    parser.add_argument(
        "--step",
        choices=["auto", "eager", "graph"],
        default="auto",
        help="training step: a captured CUDA graph (auto on a GPU) or eager PyTorch",
    )
    parser.add_argument(
        "--tag",
        default="",
        help="appended to the record's model name: a second budget keeps its own row "
        "(e.g. --epochs 40 --tag ', 40 epochs')",
    )
    parser.add_argument("--speed-epochs", type=int, default=3, help="speed: timed epochs")
    parser.add_argument(
        "--speed-images", type=int, default=60_000, help="speed: images per epoch (smoke tests)"
    )
    args = parser.parse_args(argv)
    {"train": train, "evaluate": evaluate, "speed": speed}[args.command](args)


if __name__ == "__main__":
    main()
