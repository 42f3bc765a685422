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
"""

from __future__ import annotations

import math

import torch

import dgm
from benchmarks import records

PAPER = "Burda, Grosse & Salakhutdinov 2016, Table 1 (one stochastic layer)"
PAPER_NLL = {"vae": 86.76, "iwae": 84.78}
TRAIN_K = {"vae": 1, "iwae": 50}


def build(model_name: str, device) -> dgm.vae.VAE:
    torch.manual_seed(0)
    return dgm.vae.VAE(dgm.vae.VAEConfig(hidden=(200, 200), z_dim=50, activation="tanh")).to(device)


def train(args) -> None:
    device = dgm.device()
    x_train, _ = dgm.data.load_mnist("train", device=device)
    model = build(args.model, device)
    model.set_output_bias(x_train.mean(0))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-4)
    steps_per_epoch = len(x_train) // args.batch_size
    n_steps = args.max_steps or args.epochs * steps_per_epoch
    # cosine decay from lr to lr / 10 over the whole run
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(i / n_steps, 1.0)))
    )
    stream = dgm.data.binarized_stream(x_train, args.batch_size)
    k = TRAIN_K[args.model]

    def step(i):
        xb = next(stream)
        loss = model.loss(xb) if k == 1 else model.iwae_loss(xb, k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    history = dgm.train.train(
        step,
        n_steps,
        state={"model": model, "opt": opt, "sched": sched},
        desc=f"{args.model} (k={k})",
        **records.train_options(args, device, steps_per_epoch),
    )
    if records.stopped_early(history):
        return
    evaluate(args)


def evaluate(args) -> None:
    device = dgm.device()
    saved = dgm.train.load_checkpoint(records.checkpoint_path(args), map_location=device)
    model = build(args.model, device)
    model.load_state_dict(saved["state"]["model"])
    model.eval()
    nll = records.nll_on_test_digits(model.log_weights, args, device)
    protocol = args.n_eval == 10_000 and args.k_eval == 5000  # the paper's: K = 5000, all digits
    records.report_nll(
        "vae",
        args,
        saved,
        device,
        f"{args.model} (k={TRAIN_K[args.model]})",
        nll,
        PAPER,
        PAPER_NLL[args.model] if protocol else None,
    )


def main(argv=None) -> None:
    parser = records.arguments("python -m benchmarks.vae", __doc__, sorted(PAPER_NLL), "vae")
    args = parser.parse_args(argv)
    train(args) if args.command == "train" else evaluate(args)


if __name__ == "__main__":
    main()
