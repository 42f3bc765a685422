"""Lecture 02 benchmark: Helmholtz machines trained by wake-sleep and by reweighted wake-sleep.

The same sigmoid belief net (784-200-200 binary units) and budget for both; test NLL
estimated by importance sampling with the recognition network as proposal, K = 5000, on
the fixed binarization of the 10,000 test digits. The claim to check: RWS (K = 5, wake-phase
q update; Bornschein & Bengio 2015) beats plain wake-sleep (Hinton et al. 1995).

    python -m benchmarks.wake_sleep train --model ws --epochs 100 --minutes 9
    python -m benchmarks.wake_sleep train --model rws --epochs 100 --minutes 9
    python -m benchmarks.wake_sleep evaluate --model rws
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import dgm
from benchmarks import records
from dgm import wake_sleep as ws

PAPER = "none to compare: the claim checked is that RWS beats wake-sleep on the same budget"
TRAIN_K = {"ws": 1, "rws": 5}


def build(device) -> ws.HelmholtzMachine:
    torch.manual_seed(0)
    return ws.HelmholtzMachine(ws.HelmholtzConfig((784, 200, 200))).to(device)


def train(args) -> None:
    device = dgm.device()
    x_train, _ = dgm.data.load_mnist("train", device=device)
    model = build(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = len(x_train) // args.batch_size
    n_steps = args.max_steps or args.epochs * steps_per_epoch
    stream = dgm.data.binarized_stream(x_train, args.batch_size)
    ckpt = Path(args.checkpoint or records.CHECKPOINTS / f"{args.model}.pt")
    before = 0.0
    if ckpt.exists():
        saved = dgm.train.load_checkpoint(ckpt)["history"].get("train_seconds", [])
        before = saved[-1][1] if saved else 0.0
    t0 = time.perf_counter()

    def step(i):
        xb = next(stream).flatten(1)
        if args.model == "ws":
            theta_loss, phi_loss = ws.wake_loss(model, xb), ws.sleep_loss(model, len(xb))
        else:
            theta_loss, phi_loss = ws.rws_losses(model, xb, TRAIN_K["rws"])
        opt.zero_grad(set_to_none=True)
        (theta_loss + phi_loss).backward()  # the two losses touch disjoint parameters
        opt.step()
        return {"theta_loss": theta_loss, "phi_loss": phi_loss}

    def clock(i):
        if device.type == "cuda":
            torch.cuda.synchronize()
        return {"train_seconds": before + time.perf_counter() - t0}

    history = dgm.train.train(
        step,
        n_steps,
        state={"model": model, "opt": opt},
        checkpoint=ckpt,
        save_every=steps_per_epoch,
        evaluate=clock,
        eval_every=steps_per_epoch,
        log_every=200,
        desc=args.model,
        time_limit=args.minutes * 60 if args.minutes else None,
    )
    if history.stopped_at is not None:
        print(
            f"stopped at step {history.stopped_at} of {n_steps} (time limit); run again to resume"
        )
        return
    evaluate(args)


def evaluate(args) -> None:
    device = dgm.device()
    ckpt = Path(args.checkpoint or records.CHECKPOINTS / f"{args.model}.pt")
    saved = dgm.train.load_checkpoint(ckpt, map_location=device)
    model = build(device)
    model.load_state_dict(saved["state"]["model"])
    x_test, _ = dgm.data.binarized_mnist("test", seed=0, device=device)
    torch.manual_seed(1)
    log_px = dgm.metrics.importance_log_likelihood(
        model.log_weights, x_test[: args.n_eval].flatten(1), k=args.k_eval, chunk=500
    )
    seconds = saved["history"].get("train_seconds", [(0, 0.0)])[-1][1]
    rec = records.make_record(
        model=f"{args.model} (k={TRAIN_K[args.model]})",
        metric=f"test NLL (nats, K={args.k_eval})",
        value=round(-log_px.mean().item(), 3),
        paper_value=None,
        paper=PAPER,
        epochs=round(saved["step"] / (60_000 // args.batch_size), 2),
        train_seconds=round(seconds, 1),
        device=records.device_name(device),
    )
    records.print_table([rec])
    path = records.write(
        "wake_sleep", [rec], Path(args.results) if args.results else records.RESULTS
    )
    print(f"wrote {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.wake_sleep", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["train", "evaluate"])
    parser.add_argument("--model", choices=sorted(TRAIN_K), default="rws")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--max-steps", type=int, default=0, help="override the step count (smoke tests)"
    )
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--minutes", type=float, default=0, help="save and stop after this long")
    parser.add_argument("--k-eval", type=int, default=5000)
    parser.add_argument("--n-eval", type=int, default=10_000)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument(
        "--results", default=None, help="results folder (default benchmarks/results)"
    )
    args = parser.parse_args(argv)
    train(args) if args.command == "train" else evaluate(args)


if __name__ == "__main__":
    main()
