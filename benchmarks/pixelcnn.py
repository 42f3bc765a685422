"""Lecture 08 benchmark: PixelCNN and gated PixelCNN on binarized MNIST, and their samplers.

Training: dynamically binarized training digits, Adam (lr 1e-3, cosine-decayed to 0 over the
last third), batch 64; the test NLL is exact (one pass), on the fixed binarization of all
10,000 test digits, in nats and bits per dimension. Published: PixelCNN 81.30 nats (van den
Oord et al. 2016, Pixel Recurrent Neural Networks, MNIST table); pytorch-generative 81.45.
Resumable (``--minutes`` saves and stops; the same command continues)::

    python -m benchmarks.pixelcnn train --model pixelcnn --channels 32 --blocks 5 --epochs 8
    python -m benchmarks.pixelcnn train --model gated --channels 16 --blocks 6 --epochs 8
    python -m benchmarks.pixelcnn evaluate --model pixelcnn --channels 32 --blocks 5

``sample`` times the naive sampler (784 network passes) against ``sample_fast`` (each
activation once) on 100 digits of the trained model (an untrained one if there is no
checkpoint), from the same uniforms, and counts the pixels where they differ::

    python -m benchmarks.pixelcnn sample --model pixelcnn --channels 32 --blocks 5
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

import dgm
from benchmarks import records
from dgm import pixelcnn

PAPER = "van den Oord et al. 2016, Pixel Recurrent Neural Networks (binarized MNIST)"
PAPER_NLL = {"pixelcnn": 81.30, "gated": None}


def build(args, device) -> torch.nn.Module:
    torch.manual_seed(0)
    if args.model == "pixelcnn":
        return pixelcnn.PixelCNN(args.channels, args.blocks).to(device)
    return pixelcnn.GatedPixelCNN(args.channels, args.blocks).to(device)


def name(args) -> str:
    if args.model == "pixelcnn":
        return f"PixelCNN ({args.channels} channels, {args.blocks} residual blocks)"
    return f"gated PixelCNN ({args.channels} channels, {args.blocks} layers)"


def checkpoint(args) -> Path:
    return records.checkpoint_path(args, f"{args.model}_{args.channels}x{args.blocks}")


def train(args) -> None:
    device = dgm.device()
    x_train, _ = dgm.data.load_mnist("train", device=device)
    steps_per_epoch = len(x_train) // args.batch_size
    n_steps = args.max_steps or args.epochs * steps_per_epoch
    model = build(args, device)
    args.checkpoint = str(checkpoint(args))
    history = pixelcnn.fit(
        model,
        x_train.flatten(1),
        n_steps,
        lr=args.lr,
        batch_size=args.batch_size,
        progress=False,
        **records.train_options(args, device, min(steps_per_epoch, n_steps)),
    )
    if records.stopped_early(history):
        return
    evaluate(args)


def evaluate(args) -> dict:
    device = dgm.device()
    args.checkpoint = str(checkpoint(args))
    model, saved = records.load_trained(lambda: build(args, device), args, device)
    x_test, _ = dgm.data.binarized_mnist("test", seed=0, device=device)
    nats = pixelcnn.nll(model, x_test[: args.n_eval].flatten(1))
    digits = "" if args.n_eval >= 10_000 else f", first {args.n_eval} test digits"
    rec = records.make_record(
        model=name(args),
        metric=f"test NLL (nats, exact{digits})",
        value=round(nats, 3),
        bits_per_dim=round(pixelcnn.bits_per_dim(nats), 4),
        paper_value=PAPER_NLL[args.model] if args.n_eval >= 10_000 else None,
        paper=PAPER if args.model == "pixelcnn" else "-",
        parameters=sum(p.numel() for p in model.parameters()),
        epochs=round(saved["step"] / (60_000 // args.batch_size), 2),
        train_seconds=round(records.trained_seconds(saved), 1),
        device=records.device_name(device),
    )
    records.print_table([rec])
    print(f"wrote {records.write('pixelcnn', [rec], records.results_dir(args))}")
    return rec


def _timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def sample(args) -> list[dict]:
    device = dgm.device()
    args.checkpoint = str(checkpoint(args))
    trained = Path(args.checkpoint).exists()
    if trained:
        model, saved = records.load_trained(lambda: build(args, device), args, device)
    else:
        model, saved = build(args, device).eval(), {"step": 0, "history": {}}
    u = torch.rand(args.n_samples, 784, generator=torch.Generator().manual_seed(0)).to(device)
    samplers = {"naive": pixelcnn.sample_naive}
    if isinstance(model, pixelcnn.PixelCNN):
        samplers["fast"] = pixelcnn.sample_fast
    images, seconds = {}, {}
    for label, sampler in samplers.items():
        images[label], seconds[label] = _timed(lambda s=sampler: s(model, u), device)
        print(f"{label}: {seconds[label]:.2f} s for {args.n_samples} digits", flush=True)
    common = dict(
        paper_value=None,
        paper="-",
        n_samples=args.n_samples,
        trained=trained,
        epochs=round(saved["step"] / (60_000 // args.batch_size), 2),
        train_seconds=round(records.trained_seconds(saved), 1) if trained else 0.0,
        device=records.device_name(device),
    )
    out = [
        records.make_record(
            model=f"{name(args)}, {label} sampler",
            metric=f"seconds to sample {args.n_samples} digits",
            value=round(seconds[label], 3),
            **common,
        )
        for label in samplers
    ]
    if "fast" in samplers:
        differ = (images["fast"] != images["naive"]).sum().item()
        out.append(
            records.make_record(
                model=f"{name(args)}, fast sampler",
                metric="speed-up over the naive sampler",
                value=round(seconds["naive"] / seconds["fast"], 1),
                pixels_differing=int(differ),
                pixels=images["naive"].numel(),
                **common,
            )
        )
    records.print_table(out)
    print(f"wrote {records.write('pixelcnn', out, records.results_dir(args))}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = records.arguments(
        "python -m benchmarks.pixelcnn", __doc__, ["pixelcnn", "gated"], "pixelcnn", ("sample",)
    )
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=5, help="residual blocks or gated layers")
    parser.add_argument("--n-samples", type=int, default=100, help="sample")
    parser.set_defaults(batch_size=64, epochs=8)
    args = parser.parse_args(argv)
    {"train": train, "evaluate": evaluate, "sample": sample}[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
