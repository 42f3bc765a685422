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

``estimators`` measures lecture 03's gradient estimators on linear-Gaussian models (8-D x,
3-D z, one model and data point per seed), where the exact ELBO gradient is known: the mean
squared error of the score-function estimator, with and without lecture 02's leave-one-out
baseline, divided by the reparameterization estimator's, at S = 4, 16 and 64 samples::

    python -m benchmarks.vae estimators --seeds 10
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
        lr=args.lr, batch_size=args.batch_size, k=TRAIN_K[args.model], mode=args.step
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


# --------------------------------------------------------------------------- estimators

ESTIMATORS = {"score": "score function", "score-baseline": "score function with baseline"}
ESTIMATOR_S = (4, 16, 64)


def estimator_errors(seed: int, repeats: int) -> dict[tuple[str, int], float]:
    """Mean squared error of each estimator of the ELBO's gradient in mu, per sample count,
    on one linear-Gaussian model drawn from ``seed`` (the set-up of lecture 03, section 2)."""
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    lg = dgm.vae.LinearGaussian(
        torch.randn(8, 3, generator=gen, dtype=f64), torch.randn(8, generator=gen, dtype=f64), 0.5
    )
    x0 = lg.b + lg.W @ torch.randn(3, generator=gen, dtype=f64)  # one data point (8,)
    mu = torch.zeros(3, dtype=f64, requires_grad=True)
    log_var = torch.full((3,), -1.0, dtype=f64)
    (exact,) = torch.autograd.grad(lg.elbo(x0[None], mu[None], log_var[None]).sum(), mu)
    errors = {}
    for S in ESTIMATOR_S:
        for name in ("reparam", *ESTIMATORS):
            g = torch.stack(
                [
                    dgm.vae.elbo_gradient_estimates(
                        lambda z: lg.log_joint(x0, z), mu, log_var, S, name, generator=gen
                    )
                    for _ in range(repeats)
                ]
            )  # (repeats, 3)
            errors[name, S] = ((g - exact) ** 2).sum(1).mean().item()
    return errors


def estimators(args) -> None:
    t0 = time.perf_counter()
    runs = [estimator_errors(seed, args.repeats) for seed in range(args.seeds)]
    seconds = (time.perf_counter() - t0) / args.seeds
    out = []
    for S in ESTIMATOR_S:
        for name, label in ESTIMATORS.items():
            ratios = [run[name, S] / run["reparam", S] for run in runs]
            out.append(
                records.make_record(
                    model=f"{label}, linear-Gaussian 8x3, S = {S}",
                    metric="squared error over reparameterization's",
                    **records.seed_fields(ratios, 4),
                    repeats=args.repeats,
                    paper_value=None,
                    paper="-",
                    epochs=0,
                    train_seconds=round(seconds, 1),
                    device=records.device_name(torch.device("cpu")),
                )
            )
    for r in out:
        print(f"{r['model']:52s} {r['value']:8.2f} ± {r['spread']:.2f} ({r['seeds']} seeds)")
    print(f"wrote {records.write('vae', out, records.results_dir(args))}")


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
    _, step, mode = dgm.vae.fit_step(model, x_train, 10**9, fit_config(args))
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
        "python -m benchmarks.vae",
        __doc__,
        sorted(PAPER_NLL),
        "vae",
        commands=("speed", "estimators"),
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
    parser.add_argument("--seeds", type=int, default=10, help="estimators: models (seeds)")
    parser.add_argument("--repeats", type=int, default=400, help="estimators: estimates each")
    args = parser.parse_args(argv)
    commands = {"train": train, "evaluate": evaluate, "speed": speed, "estimators": estimators}
    commands[args.command](args)


if __name__ == "__main__":
    main()
