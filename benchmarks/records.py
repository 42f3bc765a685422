"""Benchmark records: one JSON file per lecture in ``benchmarks/results/``.

Each record has ``model``, ``metric``, ``value``, ``paper_value``, ``paper``, ``epochs``,
``train_seconds``, ``device``, ``date`` and ``commit``. The README's results table is
generated from these files (``python -m dgm.build notebooks``), never typed by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"  # git-ignored
FIELDS = (
    "model",
    "metric",
    "value",
    "paper_value",
    "paper",
    "epochs",
    "train_seconds",
    "device",
    "date",
    "commit",
)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({os.cpu_count()} cores)"


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=RESULTS.parent, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def make_record(**fields) -> dict:
    """A record with the date and commit filled in; every field of ``FIELDS`` is required."""
    fields.setdefault("date", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    fields.setdefault("commit", commit())
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise ValueError(f"make_record: missing fields {missing}")
    return fields


def write(lecture: str, records: list[dict], results_dir: Path = RESULTS) -> Path:
    """Merge ``records`` into ``results_dir/<lecture>.json``, replacing same (model, metric)."""
    path = Path(results_dir) / f"{lecture}.json"
    old = json.loads(path.read_text()) if path.exists() else []
    keys = {(r["model"], r["metric"]) for r in records}
    merged = [r for r in old if (r["model"], r["metric"]) not in keys] + list(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(sorted(merged, key=lambda r: (r["model"], r["metric"])), indent=2) + "\n"
    )
    return path


def print_table(records: list[dict]) -> None:
    wm = max([5, *(len(r["model"]) for r in records)])
    wt = max([6, *(len(r["metric"]) for r in records)])
    head = ("ours", "paper", "epochs", "train s")
    print(f"{'model':{wm}s} {'metric':{wt}s} " + " ".join(f"{h:>8s}" for h in head) + "  device")
    for r in records:
        paper = "-" if r["paper_value"] is None else f"{r['paper_value']:.2f}"
        print(
            f"{r['model']:{wm}s} {r['metric']:{wt}s} {r['value']:8.2f} {paper:>8s} "
            f"{r['epochs']:8.1f} {r['train_seconds']:8.0f}  {r['device']}"
        )


def arguments(prog: str, doc: str, models: list[str], default: str, commands: tuple[str, ...] = ()):
    """The command line every benchmark shares: ``train`` or ``evaluate`` (or one of
    ``commands``), sizes, paths."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("command", choices=["train", "evaluate", *commands])
    parser.add_argument("--model", choices=models, default=default)
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
    return parser


def checkpoint_path(args) -> Path:
    return Path(args.checkpoint or CHECKPOINTS / f"{args.model}.pt")


def results_dir(args) -> Path:
    return Path(args.results) if args.results else RESULTS


def stopwatch(device: torch.device, checkpoint: Path):
    """An ``evaluate`` callback for ``dgm.train.train`` logging cumulative ``train_seconds``.

    The count goes on from the checkpoint's last value, so resumed runs add up.
    """
    import time

    import dgm

    before = 0.0
    if checkpoint.exists():
        logged = dgm.train.load_checkpoint(checkpoint)["history"].get("train_seconds", [])
        before = logged[-1][1] if logged else 0.0
    t0 = time.perf_counter()

    def clock(i):
        if device.type == "cuda":
            torch.cuda.synchronize()
        return {"train_seconds": before + time.perf_counter() - t0}

    return clock


def train_options(args, device: torch.device, steps_per_epoch: int) -> dict:
    """``dgm.train.train`` keyword arguments every benchmark shares: a checkpoint each epoch
    (resumed when present), the cumulative stopwatch, and ``--minutes`` as a time limit."""
    ckpt = checkpoint_path(args)
    return {
        "checkpoint": ckpt,
        "save_every": steps_per_epoch,
        "evaluate": stopwatch(device, ckpt),
        "eval_every": steps_per_epoch,
        "log_every": 200,
        "time_limit": args.minutes * 60 if args.minutes else None,
    }


def stopped_early(history) -> bool:
    """True, after saying how to resume, when a time limit stopped the run."""
    if history.stopped_at is None:
        return False
    print(f"stopped at step {history.stopped_at} (time limit); run the same command to resume")
    return True


def nll_on_test_digits(log_weights, args, device: torch.device) -> float:
    """Mean test NLL (nats) by importance sampling on the fixed binarization of the first
    ``--n-eval`` test digits, ``--k-eval`` samples each, with a fixed seed."""
    import dgm

    x_test, _ = dgm.data.binarized_mnist("test", seed=0, device=device)
    torch.manual_seed(1)
    log_px = dgm.metrics.importance_log_likelihood(
        log_weights, x_test[: args.n_eval].flatten(1), k=args.k_eval, chunk=500
    )
    return -log_px.mean().item()


def load_trained(build, args, device: torch.device):
    """``(model, checkpoint)``: a fresh ``build()`` with the weights of ``args``'s checkpoint,
    in eval mode, and the checkpoint itself (its step and history go into the record)."""
    import dgm

    saved = dgm.train.load_checkpoint(checkpoint_path(args), map_location=device)
    model = build()
    model.load_state_dict(saved["state"]["model"])
    return model.eval(), saved


def trained_seconds(saved: dict) -> float:
    """The cumulative training time a checkpoint's history recorded."""
    return saved["history"].get("train_seconds", [(0, 0.0)])[-1][1]


def nll_metric(args) -> str:
    """The record's metric name: K, and how many test digits when not all 10,000."""
    digits = "" if args.n_eval >= 10_000 else f", first {args.n_eval} test digits"
    return f"test NLL (nats, K={args.k_eval}{digits})"


def report_nll(
    lecture: str,
    args,
    saved: dict,
    device,
    model: str,
    nll: float,
    paper: str,
    paper_value: float | None,
) -> dict:
    """Record a test NLL measured from checkpoint ``saved``: print it, write it, return it."""
    rec = make_record(
        model=model,
        metric=nll_metric(args),
        value=round(nll, 3),
        paper_value=paper_value,
        paper=paper,
        epochs=round(saved["step"] / (60_000 // args.batch_size), 2),
        train_seconds=round(trained_seconds(saved), 1),
        device=device_name(device),
    )
    print_table([rec])
    print(f"wrote {write(lecture, [rec], results_dir(args))}")
    return rec
