"""Lecture 04 benchmark: mode collapse on 2-D mixtures, minimax vs non-saturating vs PacGAN.

PacGAN's set-ups (Lin et al. 2018): a ring of 8 Gaussians (radius 1, std 0.01) and a 5 x 5
grid of 25 (spacing 2, std 0.05), and PacGAN's 2-D networks (a generator of four 400-unit
batch-norm ReLU layers, a discriminator of three 200-unit maxout layers of 5 pieces), Adam
with beta1 = 0.8 and batches of 100. Each trained GAN draws 2,500 samples; a sample is high
quality within 3 std of its nearest centre and a mode is covered by one such sample (the
rule of PacGAN's evaluation code). Every variant runs with ``--seeds`` seeds (5 by default);
records hold the mean, the standard deviation and every seed's value.

    python -m benchmarks.gan toy                   # both data sets, every variant, 5 seeds
    python -m benchmarks.gan toy --steps 2000 --seeds 1 --datasets ring   # a quick look
    python -m benchmarks.gan toy --steps 6000 --g-depth 3 --g-hidden 128 --d-hidden 64
    python -m benchmarks.gan mnist --steps 3000    # DCGAN vs VAE vs real digits
    python -m benchmarks.gan dcgan --steps 40000   # lecture 04's shipped DCGAN weights
    python -m benchmarks.gan toy --datasets grid --net mlp --batch-size 256 \
        --betas 0.5 0.9 --steps 15000 --seeds 10        # fits a CPU (the 04 claims)
    python -m benchmarks.gan toy --datasets ring --net mlp --depth 2 --latent-dim 256 \
        --lr-d 1e-4 --batch-size 512 --betas 0.5 0.999 --steps 12000   # Metz et al.'s ring
    python -m benchmarks.gan toy --datasets grid --net mlp --batch-size 256 \
        --betas 0.5 0.9 --steps 15000 --seeds 10 --variants nonsaturating pacgan4 \
        --average-decay 0.999 --lr-decay-steps 5000 --penalty 0.1   # lecture 06's control

The ``mnist`` command trains lecture 04's DCGAN and lecture 03's VAE for the same number of
steps and scores 10,000 samples of each, and 10,000 real test digits, against 10,000 real
training digits: Fréchet distance and Inception-style score on ``dgm.classifier``. It
saves a sample grid of each to ``benchmarks/results/gan_mnist_samples.png``.

PacGAN trains for 400 epochs of 100,000 samples (400,000 steps at a learning rate of 1e-4).
Our default budget is 20,000 steps at 1e-3; the third command (smaller networks, 6,000
steps) is the one that fits a 2-core CPU (about 25 minutes for the 30 runs). The last command
trains plain 3x128 ReLU MLPs for G and D with 256 packs a step and Adam betas (0.5, 0.9)
at 1e-3, about 2 minutes a run on one core: the set-up where packing pays on a CPU budget.
The ring command is the set-up of the unrolled-GAN paper (Metz et al. 2017): 2x128 ReLU
MLPs, z in R^256, the generator at 1e-3 and the discriminator at 1e-4, 512 samples a step,
where a plain GAN collapses onto one mode at a time and hops between them (lecture 04,
section 4); about 90 s a run on one core, PacGAN4 about twice that. The last command adds
lecture 06's stabilisers to the 04 set-up (an EMA of G for sampling, learning rates linearly
to 0 over the last 5,000 steps, a zero-centred gradient penalty of 0.1 on D at the data):
with them, lecture 04's GANs differ from lecture 06's energy GAN without MI only in the loss.
Each record says its ``network``, ``steps`` and ``batch_size``; ``epochs`` counts PacGAN's
epochs of 1,000 steps.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

import dgm
from benchmarks import records
from dgm import gan

DATASETS = {
    "ring": dict(sample=dgm.data.gaussian_ring, centres=dgm.data.ring_centres(), std=0.01),
    "grid": dict(sample=dgm.data.gaussian_grid, centres=dgm.data.grid_centres(), std=0.05),
}
VARIANTS = {  # name: (generator loss, packing, batch multiplier)
    "minimax": ("minimax", 1, 1),
    "nonsaturating": ("nonsaturating", 1, 1),
    "pacgan4": ("nonsaturating", 4, 1),
    # PacGAN4's control: a plain discriminator that sees as many samples a step (4 per pack)
    "nonsaturating-4x-batch": ("nonsaturating", 1, 4),
}
PAPER = {  # (modes, high-quality %) on the grid, from the PacGAN paper's Table 1
    ("grid", "nonsaturating"): (17.3, 94.8),
    ("grid", "pacgan4"): (24.8, 93.6),
}
PAPER_NAME = "Lin et al. 2018 (PacGAN), Table 1: 2-D grid, their GAN and PacGAN4"


def network(args) -> str:
    if args.net == "mlp":
        return f"G and D {args.depth}x{args.hidden} ReLU MLPs{metz_tag(args)}"
    return f"G {args.g_depth}x{args.g_hidden} BN-ReLU, D {args.d_depth}x{args.d_hidden} maxout-5"


def metz_tag(args) -> str:
    """What sets a run apart from the 2-D default: a wider latent z, a slower discriminator."""
    tag = f", z in R^{args.latent_dim}" if args.latent_dim != 2 else ""
    return tag + (f", D at lr {args.lr_d:g}" if args.lr_d is not None else "")


def networks(args, m: int):
    """``(G, D)``: PacGAN's networks, or plain ReLU MLPs (``--net mlp``) with D on packs of m."""
    if args.net == "mlp":
        return gan.toy_mlps(
            pack=m, hidden=args.hidden, depth=args.depth, latent_dim=args.latent_dim
        )
    G = gan.toy_generator(hidden=args.g_hidden, depth=args.g_depth)
    return G, gan.toy_discriminator(pack=m, hidden=args.d_hidden, depth=args.d_depth)


def stabilisers(args) -> str:
    """Lecture 06's energy-GAN stabilisers, when a run uses them (its controlled comparison)."""
    parts = []
    if args.average_decay is not None:
        parts.append(f"EMA {args.average_decay:g}")
    if args.lr_decay_steps:
        parts.append(f"lr to 0 over the last {args.lr_decay_steps}")
    if args.penalty:
        parts.append(f"penalty {args.penalty:g}")
    return f", {', '.join(parts)}" if parts else ""


def model_name(variant: str, dataset: str, args) -> str:
    tag = f", {args.depth}x{args.hidden} MLPs{metz_tag(args)}" if args.net == "mlp" else ""
    tag += stabilisers(args)
    if VARIANTS[variant][2] != 1:
        variant = (
            f"nonsaturating GAN at {VARIANTS[variant][2]}x the batch (PacGAN4's samples a step),"
        )
        return f"{variant} {dataset}{tag}"
    return f"{variant} GAN, {dataset}{tag}"


def run_one(dataset: str, variant: str, seed: int, args, device) -> dict:
    """Train one GAN and measure it: modes covered, high-quality share, seconds."""
    spec, (loss, m, times) = DATASETS[dataset], VARIANTS[variant]
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)  # data drawn on the CPU, then moved
    latent = args.latent_dim if args.net == "mlp" else 2
    model = gan.GAN(*networks(args, m), latent, pack=m).to(device)
    t0 = time.perf_counter()
    gan.fit(
        model,
        lambda n: spec["sample"](n, generator=g, device=device),
        args.steps,
        loss=loss,
        lr=args.lr,
        lr_d=args.lr_d,
        betas=tuple(args.betas),
        batch_size=args.batch_size * times,
        penalty=args.penalty,
        average_decay=args.average_decay,
        lr_decay_steps=args.lr_decay_steps,
        progress=False,
        log_every=500,
    )
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds}
    for tag, average in (("", True), ("raw_", False)):  # the same without an average
        modes, hq = dgm.metrics.mode_coverage(
            model.sample(2500, average=average), spec["centres"], spec["std"]
        )
        out[f"{tag}modes"], out[f"{tag}high_quality"] = modes, 100 * hq
    return out


def summarise(dataset, variant, runs, args, device) -> list[dict]:
    out = []
    n_modes = len(DATASETS[dataset]["centres"])
    # PacGAN's Table 1 used none of lecture 06's stabilisers: no paper figure beside those runs
    paper = None if stabilisers(args) else PAPER.get((dataset, variant))
    for i, (key, metric) in enumerate(
        (("modes", f"modes covered (of {n_modes})"), ("high_quality", "high-quality samples (%)"))
    ):
        values = [r[key] for r in runs]
        extra = {}
        if args.average_decay is not None:  # the figures from the weight average; and G's
            raw = [r[f"raw_{key}"] for r in runs]
            extra = dict(
                raw_generator=round(statistics.mean(raw), 2),
                raw_per_seed=[round(v, 2) for v in raw],
            )
        out.append(
            records.make_record(
                model=model_name(variant, dataset, args),
                metric=metric,
                **records.seed_fields(values, 2),
                **extra,
                steps=args.steps,
                network=network(args),
                batch_size=args.batch_size * VARIANTS[variant][2],
                betas=list(args.betas),
                lr=args.lr,
                lr_d=args.lr if args.lr_d is None else args.lr_d,
                average_decay=args.average_decay,
                lr_decay_steps=args.lr_decay_steps,
                penalty=args.penalty,
                paper_value=None if paper is None else paper[i],
                paper=PAPER_NAME if paper else "-",
                epochs=round(args.steps / 1000, 2),  # PacGAN's epoch: 1,000 batches of 100
                train_seconds=round(statistics.mean(r["seconds"] for r in runs), 1),
                device=records.device_name(device),
            )
        )
    return out


def mnist(args, device) -> list[dict]:
    """DCGAN and VAE on MNIST, same steps; Fréchet distance and Inception score vs real data.

    The DCGAN here is the course's first one, without InfoGAN's fully connected layers (``z``
    mapped linearly to the 7x7 feature maps): lecture 04 compares it with ``dcgan``'s.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_train, _ = dgm.data.load_mnist("train", device=device)
    x_test, _ = dgm.data.load_mnist("test", device=device)
    x_train, x_test = x_train.flatten(1), x_test.flatten(1)
    n = min(args.n_score, 10_000)
    reference = x_train[-n:]
    g = torch.Generator(device=device).manual_seed(0)
    torch.manual_seed(0)
    dcgan = gan.GAN(gan.DCGenerator(64), gan.DCDiscriminator(), latent_dim=64).to(device)
    timer = {}
    t0 = time.perf_counter()
    gan.fit(
        dcgan,
        lambda k: x_train[torch.randint(len(x_train) - n, (k,), generator=g, device=device)],
        args.steps,
        lr=2e-4,
        betas=(0.5, 0.999),
        batch_size=64,
        log_every=200,
    )
    timer["DCGAN"] = time.perf_counter() - t0
    torch.manual_seed(0)
    vae_model = dgm.vae.VAE().to(device)
    vae_model.set_output_bias(x_train.mean(0))
    t0 = time.perf_counter()
    dgm.vae.fit(vae_model, x_train[:-n], args.steps, log_every=200)
    timer["VAE"] = time.perf_counter() - t0
    samples = {
        "real test digits": x_test[:n],
        "DCGAN (z linear to the 7x7 maps)": dcgan.sample(n),
        "VAE (pixel means)": vae_model.sample(n),
    }
    batch = {
        "DCGAN (z linear to the 7x7 maps)": 64,
        "VAE (pixel means)": 100,
    }  # digits per step; both train on the rest
    out = []
    for name, x in samples.items():
        scores = dgm.metrics.mnist_scores(x, reference)
        for key, metric in (("frechet", "Fréchet distance"), ("inception", "Inception score")):
            out.append(
                records.make_record(
                    model=f"{name}, MNIST",
                    metric=f"{metric} (n={n})",
                    value=round(scores[key], 2),
                    paper_value=None,
                    paper="-",
                    epochs=0
                    if name.startswith("real")
                    else round(args.steps * batch[name] / (60_000 - n), 2),
                    train_seconds=round(timer.get(name.split(" ")[0], 0.0), 1),
                    device=records.device_name(device),
                    steps=0 if name.startswith("real") else args.steps,
                )
            )
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, (name, x) in zip(axes, samples.items()):
        dgm.plot.image_grid(x[:64].cpu(), nrow=8, ax=ax, title=name)
    fig.suptitle(f"MNIST samples after {args.steps} steps ({records.device_name(device)})")
    fig.tight_layout()
    path = records.results_dir(args) / "gan_mnist_samples.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")
    return out


def save_dcgan_samples(model: gan.GAN, path: Path, steps: int) -> None:
    """A grid of 100 samples of the shipped generator (the README shows it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.manual_seed(2)
    fig, ax = plt.subplots(figsize=(6, 6.3))
    title = f"100 digits of lecture 04's shipped DCGAN ({steps} steps)"
    dgm.plot.image_grid(model.sample(100).cpu(), nrow=10, ax=ax, title=title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")


def dcgan(args, device) -> list[dict]:
    """Train ``gan.PRETRAINED_DCGAN`` for ``args.steps``, score it as it goes, ship its weights.

    InfoGAN's MNIST networks at half width (G: z -> 512 -> 64x7x7 -> 32x14x14 -> 28x28;
    D: conv 32 -> conv 64 + BN -> 512 + BN -> logit), the DCGAN recipe (non-saturating
    loss, Adam 2e-4, betas (0.5, 0.999), batch 64: ``gan.FitConfig``'s defaults) and an
    exponential moving average of G (decay 0.999); ``--lr-decay-steps N`` brings both
    learning rates linearly to 0 over the last N steps. It trains with ``gan.fit``.
    Resumable (``--checkpoint``, ``--minutes``), also into a longer run. At the end the better
    of G and its average by Inception score is rounded to float16 and written to
    ``lib/dgm/weights/dcgan_mnist.pt``; the scores recorded are those of the written file.
    """
    import copy

    x_train, _ = dgm.data.load_mnist("train", device=device)
    x_train = x_train.flatten(1)
    n = min(args.n_score, 10_000)
    reference, pool = x_train[-n:], x_train[:-n]  # scored against digits it never saw
    cfg = gan.PRETRAINED_DCGAN
    torch.manual_seed(0)
    G = gan.DCGenerator(cfg["latent_dim"], channels=cfg["channels"], hidden=cfg["hidden"])
    D = gan.DCDiscriminator(channels=cfg["channels"], hidden=cfg["hidden"], batch_norm=True)
    model = gan.GAN(G, D, cfg["latent_dim"]).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    z_score = torch.randn(min(n, 5000), cfg["latent_dim"], generator=g, device=device)

    def scores(generator) -> dict:
        with torch.no_grad():
            return dgm.metrics.mnist_scores(generator.eval()(z_score), reference[: len(z_score)])

    ckpt = records.checkpoint_path(args, "dcgan")
    clock = records.stopwatch(device, ckpt)

    def evaluate(i):
        seconds = clock(i)["train_seconds"]  # before scoring: scoring is not training
        s, e = scores(copy.deepcopy(model.G)), scores(model.G_average)
        print(
            f"step {i}, {seconds / 60:.1f} min: G IS {s['inception']:.2f} FD {s['frechet']:.2f}"
            f" | average IS {e['inception']:.2f} FD {e['frechet']:.2f}",
            flush=True,
        )
        return {
            "train_seconds": seconds,
            "inception": s["inception"],
            "frechet": s["frechet"],
            "ema_inception": e["inception"],
            "ema_frechet": e["frechet"],
        }

    history = gan.fit(
        model,
        lambda k: pool[torch.randint(len(pool), (k,), generator=g, device=device)],
        args.steps,
        gan.FitConfig(average_decay=0.999, lr_decay_steps=args.lr_decay_steps),
        checkpoint=ckpt,
        save_every=1000,
        evaluate=evaluate,
        eval_every=max(args.steps // 8, 1),
        log_every=200,
        desc="DCGAN (InfoGAN's MNIST networks)",
        time_limit=args.minutes * 60 if args.minutes else None,
    )
    if history.stopped_at is not None:
        print(f"stopped at step {history.stopped_at}; run again to resume")
        return []
    last = {k: v[-1][1] for k, v in history.records.items() if k != "d_loss" and v}
    use_ema = last["ema_inception"] >= last["inception"]
    chosen = model.G_average if use_ema else model.G
    out_path = Path(args.weights)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in chosen.state_dict().items()}
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, out_path)
    digest = dgm.pretrained.sha256(out_path)
    print(
        f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB), the "
        f"{'average of G' if use_ema else 'last G'}"
    )
    print(f'DCGAN_SHA256 = "{digest}"  <- record this in lib/dgm/gan.py')
    # scored from the same float16 numbers the file holds
    shipped = gan.dcgan_from_state(torch.load(out_path, weights_only=True)).to(device)
    torch.manual_seed(1)
    final = dgm.metrics.mnist_scores(shipped.sample(n), reference)
    save_dcgan_samples(shipped, records.results_dir(args) / "gan_dcgan_samples.png", args.steps)
    train_seconds = last["train_seconds"]
    out = []
    for key, metric in (("frechet", "Fréchet distance"), ("inception", "Inception score")):
        out.append(
            records.make_record(
                model="DCGAN, InfoGAN's networks, shipped weights, MNIST",
                metric=f"{metric} (n={n})",
                value=round(final[key], 2),
                paper_value=None,
                paper="-",
                epochs=round(args.steps * 64 / len(pool), 2),
                train_seconds=round(train_seconds, 1),
                device=records.device_name(device),
                steps=args.steps,
                weights=f"{'EMA of G' if use_ema else 'G'}, float16, sha256 {digest[:12]}",
                schedule=f"Adam 2e-4, linearly to 0 over the last {args.lr_decay_steps} steps"
                if args.lr_decay_steps
                else "Adam 2e-4",
                trace=[[int(i), round(v, 3)] for i, v in history.records["inception"]],
                trace_ema=[[int(i), round(v, 3)] for i, v in history.records["ema_inception"]],
                trace_minutes=[
                    [int(i), round(v / 60, 2)] for i, v in history.records["train_seconds"]
                ],
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.gan", __doc__)
    parser.add_argument("command", choices=["toy", "mnist", "dcgan"])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--g-hidden", type=int, default=400)
    parser.add_argument("--g-depth", type=int, default=4)
    parser.add_argument("--d-hidden", type=int, default=200)
    parser.add_argument("--d-depth", type=int, default=3)
    parser.add_argument(
        "--net", choices=["pacgan", "mlp"], default="pacgan", help="toy: the networks"
    )
    parser.add_argument("--hidden", type=int, default=128, help="toy, --net mlp: layer width")
    parser.add_argument("--depth", type=int, default=3, help="toy, --net mlp: hidden layers")
    parser.add_argument("--latent-dim", type=int, default=2, help="toy, --net mlp: z's size")
    parser.add_argument("--lr-d", type=float, default=None, help="discriminator's rate (--lr)")
    parser.add_argument("--batch-size", type=int, default=100, help="toy: packs per step")
    parser.add_argument("--betas", type=float, nargs=2, default=[0.8, 0.999], help="toy: Adam")
    parser.add_argument("--n-score", type=int, default=10_000, help="mnist: samples scored")
    parser.add_argument("--minutes", type=float, default=0, help="dcgan: stop (resumable)")
    parser.add_argument(
        "--checkpoint", default=None, help="dcgan: resume (default checkpoints/dcgan.pt)"
    )
    parser.add_argument("--weights", default=str(gan.DCGAN_WEIGHTS), help="dcgan: output")
    parser.add_argument(
        "--lr-decay-steps", type=int, default=0, help="toy, dcgan: the last N steps decay lr to 0"
    )
    parser.add_argument(
        "--average-decay", type=float, default=None, help="toy: sample from an EMA of G"
    )
    parser.add_argument(
        "--penalty", type=float, default=0.0, help="toy: gradient penalty on D at the data"
    )
    args = parser.parse_args(argv)

    device = dgm.device()
    if args.command in ("mnist", "dcgan"):
        recs = (mnist if args.command == "mnist" else dcgan)(args, device)
        records.write("gan", recs, records.results_dir(args))
        records.print_table(recs)
        return 0

    def report(dataset, variant, seed, r):
        print(
            f"{dataset:4s} {variant:13s} seed {seed}: {r['modes']:2d} modes, "
            f"{r['high_quality']:5.1f}% high quality ({r['seconds']:.0f} s)",
            flush=True,
        )

    seeds = range(args.seeds)
    written = records.sweep("gan", args, device, run_one, summarise, report, seeds)
    records.print_table(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
