"""Lecture 05 benchmark: the two transfers of Hu et al. (2018), each against its base model.

- ``iwgan``: lecture 04's DCGAN trained with the non-saturating loss and with IWGAN's
  importance-weighted loss, same initialisation, data and steps; Inception-style score and
  Fréchet distance of 10,000 samples on ``dgm.classifier``. Paper (their networks and
  classifier): Inception score 8.34 (GAN) and 8.45 (IWGAN).
- ``aavae``: lecture 03's VAE (784-200-200-50) and the AA-VAE (lambda = 1, an MLP
  discriminator 784-256-256-1) on 10% of the training digits (``--fraction 0.1``) or all
  of them; test ELBO on the fixed binarization of the 10,000 test digits. Paper:
  -104.49 -> -103.05 (10%), -92.53 -> -92.42 (all).

- ``iwgan-grid``: the same pair on lecture 04's 25-grid with its 3x128 MLPs (Adam 1e-3,
  betas (0.5, 0.9), 256 a step), where the discriminator's logits spread over several nats
  within a batch, so the weights carry information: modes covered (by one sample, and by
  20 of 2,500, a fifth of a mode's fair share), the high-quality share, the KL of the
  mode histogram to uniform and the effective sample size (as a share of the batch) at the
  end; the same scores of 2,500 draws of the data itself are the floor (model ``data``).
- ``unequal``: the seed notes' test of mode seeking: 2-D data with two modes weighted
  10:1 (``dgm.data.unequal_modes``), a GAN (non-saturating, and minimax as the control for
  the KL direction), a VAE and EM's two-Gaussian mixture
  (``dgm.unified.unequal_modes_models``); the share of 2,500 samples on the small mode
  (high quality, within 3 std of it) against its true share, 1/11 = 9.09%.

Each runs over ``--seeds`` seeds; records hold the mean and standard deviation. The
commands that made the committed records:

    python -m benchmarks.unified aavae --steps 8000 --seeds 5 --fraction 0.1
    python -m benchmarks.unified iwgan --steps 2000 --seeds 5
    python -m benchmarks.unified iwgan-grid --steps 6000 --seeds 10
    python -m benchmarks.unified unequal --steps 5000 --seeds 5
"""

from __future__ import annotations

import statistics
import time

import torch

import dgm
from benchmarks import records
from dgm import gan, unified

PAPER = "Hu et al. 2018 (On Unifying Deep Generative Models), MNIST; their networks and budget"
PAPER_VALUES = {
    ("GAN", "Inception score"): 8.34,
    ("IWGAN", "Inception score"): 8.45,
    ("VAE", 0.1): -104.49,
    ("AA-VAE", 0.1): -103.05,
    ("VAE", 1.0): -92.53,
    ("AA-VAE", 1.0): -92.42,
}


def test_elbo(model: dgm.vae.VAE, x_test: torch.Tensor) -> float:
    """Mean ELBO of the test digits, one sample of q per digit."""
    torch.manual_seed(1)
    with torch.no_grad():
        total = sum(
            model.loss(xb).sum().item()
            for (xb,) in dgm.data.batches(x_test, batch_size=500, shuffle=False)
        )
    return -total / len(x_test)


def run_aavae(args, seed: int, weight: float, device) -> dict:
    x_train, _ = dgm.data.load_mnist("train", device=device)
    x = x_train.flatten(1)[: int(len(x_train) * args.fraction)]
    x_test, _ = dgm.data.binarized_mnist("test", device=device)
    torch.manual_seed(seed)
    model = dgm.vae.VAE().to(device)
    model.set_output_bias(x.mean(0))
    disc = dgm.nets.mlp([784, 256, 256, 1], activation="leaky_relu").to(device)
    t0 = time.perf_counter()
    unified.fit_aa_vae(model, disc, x, args.steps, weight=weight, progress=False, log_every=200)
    return {"test ELBO": test_elbo(model, x_test.flatten(1)), "seconds": time.perf_counter() - t0}


def run_iwgan(args, seed: int, weights, device) -> dict:
    x_train, _ = dgm.data.load_mnist("train", device=device)
    x_train = x_train.flatten(1)
    x_test, _ = dgm.data.load_mnist("test", device=device)
    g = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)
    model = gan.GAN(gan.DCGenerator(64), gan.DCDiscriminator(), latent_dim=64).to(device)
    t0 = time.perf_counter()
    gan.fit(
        model,
        lambda n: x_train[torch.randint(len(x_train), (n,), generator=g, device=device)],
        args.steps,
        weights=weights,
        lr=2e-4,
        betas=(0.5, 0.999),
        batch_size=64,
        progress=False,
        log_every=200,
    )
    seconds = time.perf_counter() - t0
    scores = dgm.metrics.mnist_scores(model.sample(args.n_score), x_test.flatten(1)[: args.n_score])
    return {
        "Inception score": scores["inception"],
        "Fréchet distance": scores["frechet"],
        "seconds": seconds,
    }


def run_iwgan_grid(args, seed: int, weights, device) -> dict:
    grid = dgm.data.grid_centres()
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = gan.GAN(*gan.toy_mlps(), latent_dim=2).to(device)
    t0 = time.perf_counter()
    gan.fit(
        model,
        lambda n: dgm.data.gaussian_grid(n, generator=g, device=device),
        args.steps,
        weights=weights,
        lr=1e-3,
        betas=(0.5, 0.9),
        batch_size=256,
        progress=False,
        log_every=500,
    )
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        w = unified.iwgan_weights(model.logits(model.sample(256)))
    return {
        **grid_scores(model.sample(2500), grid),
        "effective sample size (% of the batch)": 100 * unified.effective_sample_size(w) / 256,
        "seconds": seconds,
    }


def grid_scores(samples: torch.Tensor, grid: torch.Tensor) -> dict:
    """Modes covered (by 1 and by 20 of 2,500 samples), high-quality share, and the KL of the
    high-quality samples' mode histogram to uniform (0 when every mode gets its fair share)."""
    modes, hq = dgm.metrics.mode_coverage(samples, grid, 0.05)
    # a fifth of a mode's fair share (100 of 2,500): one stray sample no longer covers a mode
    strict, _ = dgm.metrics.mode_coverage(samples, grid, 0.05, min_count=20)
    p = dgm.metrics.mode_shares(samples, grid, 0.05)
    # no high-quality sample at all: no histogram, so no KL (nan, not a perfect 0)
    p = p[p > 0] / p.sum() if p.sum() > 0 else torch.tensor([float("nan")])
    return {
        "modes covered (of 25)": modes,
        "modes with 20 or more of 2,500 samples (of 25)": strict,
        "high-quality samples (%)": 100 * hq,
        "KL(mode histogram || uniform) (nats)": (p * (p * len(grid)).log()).sum().item(),
    }


def run_grid_data(args, seed: int, _weights, device) -> dict:
    """The data's own scores: 2,500 draws of the grid itself (the floor a model is held to)."""
    g = torch.Generator().manual_seed(seed)
    x = dgm.data.gaussian_grid(2500, generator=g, device=device)
    return {**grid_scores(x, dgm.data.grid_centres()), "seconds": 0.0}


def run_unequal(args, device) -> list[dict]:
    """The 10:1 test over seeds: each model's share of samples on the small and large mode."""
    centres = dgm.data.unequal_centres()
    shares: dict[str, list[torch.Tensor]] = {}
    times = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        samples = unified.unequal_modes_models(
            args.steps, seed, device=device, progress=False, minimax=True
        )
        seconds = time.perf_counter() - t0
        times.append(seconds)
        for name, x in samples.items():
            shares.setdefault(name, []).append(100 * dgm.metrics.mode_shares(x, centres, 0.1))
            big, small = shares[name][-1].tolist()
            print(
                f"{name:24s} seed {seed}: {small:5.2f}% on the small mode, {big:5.2f}% on the "
                f"large one ({seconds:.0f} s for all)",
                flush=True,
            )
    out = []
    for name, runs in shares.items():
        for j, (mode, truth) in enumerate((("large", 100 * 10 / 11), ("small", 100 / 11))):
            values = [float(r[j]) for r in runs]
            out.append(
                records.make_record(
                    model=f"{name}, 10:1 modes",
                    metric=f"samples on the {mode} mode (%)",
                    **records.seed_fields(values, 2),
                    steps=0 if name.startswith("Gaussian") else args.steps,
                    paper_value=round(truth, 2),
                    paper="the data's own share (the seed notes' 10:1 example)",
                    epochs=0,
                    train_seconds=round(statistics.mean(times), 1),  # all the models
                    device=records.device_name(device),
                )
            )
    return out


def summarise(name: str, metric: str, runs: list[dict], args, device, paper_value) -> dict:
    values = [r[metric] for r in runs]
    share = "all" if args.fraction == 1 else f"{args.fraction:g}"
    suffix = f", {share} of the data" if args.command == "aavae" else ""
    where = "25-grid, 3x128 MLPs" if args.command == "iwgan-grid" else f"MNIST{suffix}"
    named = args.command in ("aavae", "iwgan-grid")
    if name == "data":
        where = "25-grid, 2,500 draws"
    return records.make_record(
        model=f"{name} ({where})",
        metric=metric if named else f"{metric} (n={args.n_score})",
        **records.seed_fields(values, 2),
        steps=0 if name == "data" else args.steps,
        paper_value=paper_value,
        paper=PAPER if paper_value is not None else "-",
        epochs=0  # the grid is a distribution, not a data set: no epochs
        if args.command == "iwgan-grid"
        else round(args.steps * args.batch / (60_000 * args.fraction), 2),  # passes over the data
        train_seconds=round(statistics.mean(r["seconds"] for r in runs), 1),
        device=records.device_name(device),
    )


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.unified", __doc__)
    parser.add_argument("command", choices=["iwgan", "iwgan-grid", "aavae", "unequal"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fraction", type=float, default=0.1, help="aavae: share of train data")
    parser.add_argument("--n-score", type=int, default=10_000, help="iwgan: samples scored")
    args = parser.parse_args(argv)
    args.batch = 100 if args.command == "aavae" else 64
    if args.command == "iwgan":
        args.fraction = 1.0  # the GANs train on all 60,000 digits
    device = dgm.device()
    if args.command == "unequal":
        out = run_unequal(args, device)
        records.write("unified", out, records.results_dir(args))
        records.print_table(out)
        return 0

    if args.command == "aavae":
        pairs = [("VAE", 0.0), ("AA-VAE", 1.0)]
        run, metrics = run_aavae, ["test ELBO"]
    elif args.command == "iwgan-grid":
        pairs = [("GAN", None), ("IWGAN", unified.iwgan_weights), ("data", None)]
        run = run_iwgan_grid
        metrics = [
            "modes covered (of 25)",
            "modes with 20 or more of 2,500 samples (of 25)",
            "high-quality samples (%)",
            "KL(mode histogram || uniform) (nats)",
            "effective sample size (% of the batch)",
        ]
    else:
        pairs = [("GAN", None), ("IWGAN", unified.iwgan_weights)]
        run, metrics = run_iwgan, ["Inception score", "Fréchet distance"]
    out = []
    for name, option in pairs:
        runs = []
        for seed in range(args.seeds):
            runs.append((run_grid_data if name == "data" else run)(args, seed, option, device))
            shown = ", ".join(f"{m} {runs[-1][m]:.2f}" for m in metrics if m in runs[-1])
            print(f"{name:7s} seed {seed}: {shown} ({runs[-1]['seconds']:.0f} s)", flush=True)
        for metric in metrics:
            if metric not in runs[0]:
                continue  # the data has no discriminator, so no effective sample size
            key = (name, args.fraction if args.command == "aavae" else metric)
            paper = None if args.command == "iwgan-grid" else PAPER_VALUES.get(key)
            out.append(summarise(name, metric, runs, args, device, paper))
    records.write("unified", out, records.results_dir(args))
    records.print_table(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
