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
    steps_per_epoch = len(x_train) // args.batch_size
    history = ws.fit(
        build(device),
        x_train,
        args.max_steps or args.epochs * steps_per_epoch,
        method=args.model,
        k=TRAIN_K["rws"],
        lr=args.lr,
        batch_size=args.batch_size,
        **records.train_options(args, device, steps_per_epoch),
    )
    if records.stopped_early(history):
        return
    evaluate(args)


def evaluate(args) -> None:
    device = dgm.device()
    model, saved = records.load_trained(lambda: build(device), args, device)
    records.report_nll(
        "wake_sleep",
        args,
        saved,
        device,
        f"{args.model} (k={TRAIN_K[args.model]})",
        records.nll_on_test_digits(model.log_weights, args, device),
        PAPER,
        None,
    )


def main(argv=None) -> None:
    parser = records.arguments("python -m benchmarks.wake_sleep", __doc__, sorted(TRAIN_K), "rws")
    args = parser.parse_args(argv)
    train(args) if args.command == "train" else evaluate(args)


if __name__ == "__main__":
    main()
