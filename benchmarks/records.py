"""What every benchmark command shares: its command line, checkpoints, the stopwatch, and
the test-NLL record. Records are written in the format of ``dgm.course.records`` (one JSON
file per lecture in ``benchmarks/results/``), from which the README's table is generated.
"""

from __future__ import annotations

import functools
import statistics
from pathlib import Path

import torch

from dgm.course import records as course_records

RESULTS = course_records.RESULTS
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"  # git-ignored
# the record format belongs to dgm.course.records; the benchmarks write through it
FIELDS = course_records.FIELDS
device_name = course_records.device_name
make_record = course_records.make_record
write = course_records.write
print_table = course_records.print_table


def parser(prog: str, doc: str):
    """The command line of every benchmark: ``python -m benchmarks.<name>``, described by
    the first paragraph of its module's docstring, with ``--results`` (where the records
    go: ``results_dir``). Each benchmark adds its own command and options."""
    import argparse

    cli = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    cli.add_argument("--results", default=None, help="results folder (default benchmarks/results)")
    return cli


def arguments(prog: str, doc: str, models: list[str], default: str, commands: tuple[str, ...] = ()):
    """The command line of the benchmarks that train one model (``parser``'s and more):
    ``train`` or ``evaluate`` (or one of ``commands``), sizes, paths."""
    cli = parser(prog, doc)
    cli.add_argument("command", choices=["train", "evaluate", *commands])
    cli.add_argument("--model", choices=models, default=default)
    cli.add_argument("--epochs", type=int, default=100)
    cli.add_argument(
        "--max-steps", type=int, default=0, help="override the step count (smoke tests)"
    )
    cli.add_argument("--batch-size", type=int, default=100)
    cli.add_argument("--lr", type=float, default=1e-3)
    cli.add_argument("--minutes", type=float, default=0, help="save and stop after this long")
    cli.add_argument("--k-eval", type=int, default=5000)
    cli.add_argument("--n-eval", type=int, default=10_000)
    cli.add_argument("--checkpoint", default=None)
    return cli


def sweep(lecture: str, args, device, run_one, summarise, report, seeds) -> list[dict]:
    """Every dataset and variant of ``args`` over ``seeds``: ``run_one(dataset, variant, seed,
    args, device)`` for each seed, ``summarise(dataset, variant, runs, args, device)`` into
    records, written to ``lecture``'s file after each variant. Each seed's result is kept as
    it finishes (``per_seed``), so a sweep stopped at seed 4 keeps seeds 0-3 and goes on from
    4 when run again with the same arguments at the same commit. ``report(dataset, variant,
    seed, run)`` prints a line per seed. Returns the records written."""
    written = []
    for dataset in args.datasets:
        for variant in args.variants:
            runs = []
            for seed in seeds:
                key = {"lecture": lecture, "dataset": dataset, "variant": variant, "seed": seed}
                one = functools.partial(run_one, dataset, variant, seed, args, device)
                runs.append(per_seed(args, key, one))
                report(dataset, variant, seed, runs[-1])
            recs = summarise(dataset, variant, runs, args, device)
            write(lecture, recs, results_dir(args))
            written += recs
    return written


def per_seed(args, key: dict, run) -> dict:
    """``run()``'s result, kept in ``<results>/.seeds/`` (git-ignored) under a name made of
    ``key``, the command line and the commit: found there, it is read back instead of run.
    In a checkout with uncommitted changes to the code nothing is kept (the commit would not
    say which code made it)."""
    import hashlib
    import json

    commit = course_records.commit()
    if commit.endswith("+dirty") or commit == "unknown":
        return run()
    what = {**key, "args": vars(args), "commit": commit}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
    path = results_dir(args) / ".seeds" / f"{key['lecture']}-{digest[:16]}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = run()
    course_records.write_json(path, result)
    return result


def checkpoint_path(args, name: str | None = None) -> Path:
    """Where a benchmark's checkpoint goes: ``--checkpoint``, else ``CHECKPOINTS/<name>.pt``
    (``name`` by default the ``--model``)."""
    return Path(args.checkpoint or CHECKPOINTS / f"{name or args.model}.pt")


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


def seed_fields(values, digits: int = 2) -> dict:
    """A multi-seed record's value fields: the mean, the sample sd, the count and every seed.

    The per-seed values are what lets a claim run a test on the record
    (``dgm.course.claims.per_seed``); the mean and sd are what tables print.
    """
    values = list(values)
    return dict(
        value=round(statistics.mean(values), digits),
        spread=round(statistics.stdev(values), digits) if len(values) > 1 else 0.0,
        seeds=len(values),
        per_seed=[round(v, digits) for v in values],
    )


def merge_seeds(old: dict, new: dict) -> dict:
    """One record from two runs of the same benchmark on disjoint seeds (``old`` first).

    Per-seed lists are concatenated and the mean and spread recomputed from them; other
    numeric fields that average over seeds (``raw_generator``, ``with_mala``,
    ``train_seconds``) are averaged with the seeds' weights. The recipes must agree.
    """
    for key in ("model", "metric", "steps", "network", "schedule", "device"):
        if old.get(key) != new.get(key):
            raise ValueError(f"merge_seeds: {key} differs: {old.get(key)!r} and {new.get(key)!r}")
    if "per_seed" not in old or "per_seed" not in new:
        raise ValueError("merge_seeds: both records need per_seed values")
    n, m = len(old["per_seed"]), len(new["per_seed"])
    merged = {**new, **seed_fields(list(old["per_seed"]) + list(new["per_seed"]))}
    for key in ("raw_generator", "with_mala", "train_seconds"):
        if key in old and key in new:
            merged[key] = round((n * old[key] + m * new[key]) / (n + m), 2)
    for key in [k for k in old if k.endswith("_per_seed") and k in new]:
        merged[key] = list(old[key]) + list(new[key])
    merged["date"], merged["commit"] = new["date"], new["commit"]
    return merged
