"""Results records: the one format every measured figure is kept in, and the README's tables.

A benchmark writes its records to ``benchmarks/results/<lecture>.json``: a list of dicts
with the fields ``FIELDS`` (``model``, ``metric``, ``value``, ``paper_value``, ``paper``,
``epochs``, ``train_seconds``, ``device``, ``date``, ``commit``) and any of
``OPTIONAL_FIELDS`` (a record that averages seeds adds ``spread``, ``seeds``,
``per_seed``). Notebook run times go to ``notebooks.json``. The README's tables are
generated from these files, never typed by hand.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import subprocess
from pathlib import Path

import torch

from .. import config

ROOT = config.repo_root() or Path.cwd()
RESULTS = ROOT / "benchmarks" / "results"
TIMINGS = RESULTS / "notebooks.json"
ASSIGNMENTS = RESULTS / "assignments.json"  # the build assignments' calibration: its own table
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
# what a record may hold besides FIELDS: the settings that made it and the figures beside it
OPTIONAL_FIELDS = {
    # over seeds (``benchmarks.records.seed_fields``): value is the mean
    "spread": "standard deviation of the value over the seeds",
    "seeds": "how many seeds the value averages",
    "per_seed": "the value of each seed",
    # the recipe
    "steps": "training (or sampling) steps",
    "batch_size": "examples per step",
    "lr": "learning rate",
    "lr_d": "the discriminator's learning rate",
    "betas": "Adam's betas",
    "schedule": "the optimiser and its learning-rate schedule, in words",
    "lr_decay_steps": "the last steps over which the learning rate falls linearly to 0",
    "average_decay": "the decay of the exponential moving average of G's weights sampled from",
    "penalty": "weight of the gradient penalty",
    "mi_weight": "weight of the mutual-information term",
    "energy_steps": "energy updates before each generator update",
    "network": "the networks, in words",
    "parameters": "the model's parameter count",
    "alpha": "the Beta prior's smoothing of the pixel probabilities (EM)",
    "weights": "what weights: shipped file and digest, or the estimator's weights",
    "trained": "whether the model was trained in this run (else loaded)",
    "repeats": "estimates per seed",
    # sampling and MCMC
    "n_samples": "samples the value is measured on",
    "reference": "the data the samples are scored against",
    "sampler": "which sampler drew the samples",
    "chains": "the chains run, in words",
    "mala": "the MALA chains run, in words",
    "acceptance": "mean acceptance rate of the chains",
    "mcmc_seconds": "seconds the chains took",
    "seconds_per_100": "seconds to draw 100 samples",
    "exact": "the exact value the metric is an error from",
    "sigmas": "the noise levels, largest first",
    "per_level": "the value at each noise level, mean over the seeds",
    "exact_right_mass": "the exact mass of the right mode",
    "error_of_right_mass": "mean error of the right mode's sampled mass",
    "error_of_right_mass_spread": "its standard deviation over the seeds",
    "pixels": "pixels compared",
    "pixels_differing": "pixels that differ between the two samplers",
    "uniform_sampler_kl": "the KL to uniform of a perfect uniform sampler at this sample count",
    # other figures of the same run
    "raw_generator": "the value from G itself, not its weight average",
    "raw_per_seed": "that, per seed",
    "with_mala": "the value after z-space MALA",
    "with_mala_per_seed": "that, per seed",
    "bits_per_dim": "the value in bits per dimension",
    "train_nll": "the training NLL (nats)",
    "trace": "(step, value) during training",
    "trace_ema": "(step, value) of the weight average during training",
    "trace_minutes": "(step, minutes of training)",
    # grading
    "thresholds": "the check's thresholds when the record was made",
    "measured": "each statistic the check measured: its smallest and largest over the variants",
    "fails": "the part of the check a wrong build is meant to fail",
    "check_seconds": "seconds one run of the check took, the most over the variants",
    "jobs": "submissions graded at once",
    "sandbox": "the sandbox the grader ran them in",
}


@functools.cache
def device_name(device: torch.device | None = None) -> str:
    """``"NVIDIA H100 80GB HBM3"`` on a GPU, else e.g. ``"cpu (2 cores)"``; computed once."""
    device = torch.device(device) if device is not None else config.device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({os.cpu_count()} cores)"


@functools.cache
def commit() -> str:
    """The checkout's short git commit (``"unknown"`` outside git), with ``+dirty`` when the
    library or the benchmarks' code differ from it (the commit alone would not reproduce the
    record); computed once."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "lib", "benchmarks", ":!benchmarks/results"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    sha = out.stdout.strip()
    if not sha:
        return "unknown"
    return f"{sha}+dirty" if changed.stdout.strip() else sha


def make_record(**fields) -> dict:
    """A record with the date and commit filled in; every field of ``FIELDS`` is required,
    and any other must be one of ``OPTIONAL_FIELDS`` (declared, so a reader knows it)."""
    fields.setdefault("date", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    fields.setdefault("commit", commit())
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise ValueError(f"make_record: missing fields {missing}")
    unknown = sorted(set(fields) - set(FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise ValueError(
            f"make_record: fields {unknown} are not declared in course.records.OPTIONAL_FIELDS"
        )
    return fields


def write_json(path: Path, data) -> None:
    """``data`` as indented JSON in ``path``, atomically: a temporary file in the same folder,
    then a rename over ``path``, so a run killed while writing leaves the old file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write(lecture: str, new: list[dict], results_dir: Path = RESULTS) -> Path:
    """Merge ``new`` into ``results_dir/<lecture>.json``, replacing same (model, metric)."""
    path = Path(results_dir) / f"{lecture}.json"
    old = json.loads(path.read_text()) if path.exists() else []
    keys = {(r["model"], r["metric"]) for r in new}
    merged = [r for r in old if (r["model"], r["metric"]) not in keys] + list(new)
    merged.sort(key=lambda r: (r["model"], r["metric"]))
    write_json(path, merged)
    return path


def print_table(found: list[dict]) -> None:
    """Print records as a plain-text table (what a benchmark command shows at the end)."""
    wm = max([5, *(len(r["model"]) for r in found)])
    wt = max([6, *(len(r["metric"]) for r in found)])
    head = ("ours", "paper", "epochs", "train s")
    print(f"{'model':{wm}s} {'metric':{wt}s} " + " ".join(f"{h:>8s}" for h in head) + "  device")
    for r in found:
        paper = "-" if r["paper_value"] is None else f"{r['paper_value']:.2f}"
        print(
            f"{r['model']:{wm}s} {r['metric']:{wt}s} {r['value']:8.2f} {paper:>8s} "
            f"{r['epochs']:8.1f} {r['train_seconds']:8.0f}  {r['device']}"
        )


def result_value(record: dict) -> str:
    """A record's value as the README shows it: ``mean ± sd`` when it averages seeds."""
    if "spread" in record:
        return f"{record['value']:g} ± {record['spread']:g} ({record['seeds']} seeds)"
    return f"{record['value']:g}"


def results_table() -> str:
    """The README's results table, from the benchmark records in ``benchmarks/results/``."""
    rows = []
    for path in sorted(RESULTS.glob("*.json")):
        if path in (TIMINGS, ASSIGNMENTS):
            continue
        for r in json.loads(path.read_text()):
            paper = "" if r["paper_value"] is None else f"{r['paper_value']:g}"
            rows.append(
                f"| {path.stem} | {r['model']} | {r['metric']} | {result_value(r)} | {paper} | "
                f"{r['paper']} | {r['epochs']:g} | {r['train_seconds']:.0f} s | {r['device']} | "
                f"{r['date'][:10]} |"
            )
    if not rows:
        return "No benchmark has been run yet: see `benchmarks/README.md`."
    columns = "lecture model metric ours paper source epochs train_time device date".split()
    head = [
        "| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
        "|---" * len(columns) + "|",
    ]
    return "\n".join(head + rows)


def assignments_table(results_dir: Path = RESULTS) -> str:
    """The README's table of the build assignments' calibration: per build (the reference,
    then each wrong build), on how many hidden variants each part of the check passed."""
    path = Path(results_dir) / ASSIGNMENTS.name
    if not path.exists():
        return "No calibration yet: run `python -m benchmarks.assignments`."
    rows: dict[str, dict] = {}
    for r in json.loads(path.read_text()):
        row = rows.setdefault(r["model"], {"seconds": r["check_seconds"], "date": r["date"]})
        row[r["metric"].rsplit(": ", 1)[1]] = f"{r['value']} of {r['seeds']}"
        row["device"] = r["device"]
    order = sorted(rows, key=lambda m: (m.split(",")[0], "the reference" not in m, m))
    lines = [
        "| build | passed: properties | outcome | whole build | slowest check | device | date |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in order:
        row = rows[model]
        lines.append(
            f"| {model} | {row.get('properties', '')} | {row.get('outcome', '')} | "
            f"{row.get('whole build', '')} | {row['seconds']:g} s | {row['device']} | "
            f"{row['date'][:10]} |"
        )
    return "\n".join(lines)


LIKELIHOOD_LECTURES = {"em": "01", "wake_sleep": "02", "vae": "03", "pixelcnn": "08"}


def likelihood_rows(results_dir: Path = RESULTS) -> list[dict]:
    """Every test NLL the benchmarks recorded on the binarized MNIST test digits, with its
    lecture and its estimator (exact, or importance sampling with K samples); lecture order,
    and within a lecture from the highest NLL to the lowest."""
    import re

    rows = []
    for stem, lecture in LIKELIHOOD_LECTURES.items():
        path = Path(results_dir) / f"{stem}.json"
        for r in json.loads(path.read_text()) if path.exists() else []:
            found = re.match(r"test NLL \(nats, (exact|K=(\d+))(.*)\)$", r["metric"])
            if not found:
                continue
            how = "exact" if found[1] == "exact" else f"importance sampling, K={found[2]}"
            rows.append(
                dict(
                    lecture=lecture,
                    model=r["model"],
                    estimator=how + found[3],
                    nats=r["value"],
                    epochs=r["epochs"],
                    train_seconds=r["train_seconds"],
                    device=r["device"],
                    date=r["date"][:10],
                )
            )
    return sorted(rows, key=lambda r: (r["lecture"], -r["nats"]))


def likelihood_table(results_dir: Path = RESULTS) -> str:
    """The README's likelihood table: nats and bits per dimension side by side."""
    from ..pixelcnn import bits_per_dim

    rows = likelihood_rows(results_dir)
    if not rows:
        return "No likelihood has been measured yet."
    columns = "lecture|model|estimator|test NLL (nats)|bits/dim|epochs|train time|device|date"
    head = "| " + columns.replace("|", " | ") + " |"
    lines = [head, "|---" * 9 + "|"]
    for r in rows:
        bits = bits_per_dim(r["nats"])
        lines.append(
            f"| {r['lecture']} | {r['model']} | {r['estimator']} | {r['nats']:.2f} | {bits:.4f} | "
            f"{r['epochs']:g} | {r['train_seconds']:.0f} s | {r['device']} | {r['date']} |"
        )
    return "\n".join(lines)
