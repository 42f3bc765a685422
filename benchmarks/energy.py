"""Lecture 06 benchmark: the energy GAN without the MI term, with InfoGAN's bound, with JSD.

On the 25-grid (centres {-4,-2,0,2,4}^2, std 0.05) and the ring of 8 (radius 1, std 0.01),
3x128 ReLU MLPs for the energy U, the generator G (z in R^2) and T or the encoder
(``energy.toy_model``); Adam 1e-3, betas (0.5, 0.9), linearly to 0 over the last 5,000 of
15,000 steps; 256 samples a step; energy loss E_data U - E_G U + 0.1 E_data ||grad_x U||^2;
generator loss E[U(G(z))] - w MI (JSD estimator) or + w ||z - E(G(z))||^2 (InfoGAN), with
w = 0.3 on the grid and 0.03 on the ring (its modes are 5x narrower). Samples come from an
EMA (0.999) of G's weights; records also give the raw G's figures and those after 200 steps
of exact z-space MALA at T = 1 (lecture 07). Modes covered and high-quality share of 2,500
samples (PacGAN's rule), 5 seeds.

``stacked``: StackedMNIST (``dgm.stacked``), MEG's image set-up at our scale: DCGAN
networks with InfoGAN's fully connected layers (z of 128, 64 channels, 1,024 units), Adam
1e-4 with betas (0.5, 0.9), batch 64, 5 energy updates per generator update, penalty 10, MI
weight 1; modes and KL to uniform of 26,000 samples from the EMA generator, read by the
course's classifier. Resumable: ``--minutes`` saves and stops, the same command resumes.

    python -m benchmarks.energy toy                        # 3 variants x 2 data sets x 5 seeds
    python -m benchmarks.energy toy --steps 2000 --seeds 1 --datasets grid   # a quick look
    python -m benchmarks.energy stacked --steps 20000      # on a GPU
"""

from __future__ import annotations

import math
import statistics
import time

import torch

import dgm
from benchmarks import records
from dgm import energy, mcmc, stacked

DATASETS = {
    # the ring's modes are 5x narrower than the grid's: a lower MI weight for it
    "ring": dict(
        sample=dgm.data.gaussian_ring, centres=dgm.data.ring_centres(), std=0.01, mi_weight=0.03
    ),
    "grid": dict(
        sample=dgm.data.gaussian_grid, centres=dgm.data.grid_centres(), std=0.05, mi_weight=0.3
    ),
}
MALA_STEP = 0.01  # toy: z-space MALA at T = 1, acceptance about 0.9
VARIANTS = {"no MI": None, "InfoGAN MI": "infogan", "JSD MI": "jsd"}


def mi_weight(dataset: str, args) -> float:
    return DATASETS[dataset]["mi_weight"] if args.mi_weight is None else args.mi_weight


def run_one(dataset: str, variant: str, seed: int, args, device) -> dict:
    spec = DATASETS[dataset]
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    m = energy.toy_model(VARIANTS[variant]).to(device)
    t0 = time.perf_counter()
    energy.fit(
        m,
        lambda n: spec["sample"](n, generator=g, device=device),
        args.steps,
        mi_weight=mi_weight(dataset, args),
        penalty=args.penalty,
        average_decay=args.average_decay,
        lr_decay_steps=args.lr_decay_steps,
        progress=False,
        log_every=500,
    )
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds}
    for tag, average in (("", True), ("raw_", False)):
        modes, hq = dgm.metrics.mode_coverage(
            m.sample(2500, average=average), spec["centres"], spec["std"]
        )
        out[f"{tag}modes"], out[f"{tag}high_quality"] = modes, 100 * hq
    # lecture 07: exact z-space MALA on exp(-U(G(z))) N(z; 0, I), from the prior's draws
    U_z = energy.latent_energy(m.energy, m.G_average, temperature=1.0)
    trace, acceptance = mcmc.run_chains(U_z, m.prior(2500), args.mala_steps, MALA_STEP, "mala")
    modes, hq = dgm.metrics.mode_coverage(m.sample(z=trace[-1]), spec["centres"], spec["std"])
    out["mala_modes"], out["mala_high_quality"] = modes, 100 * hq
    out["mala_acceptance"] = acceptance.mean().item()
    return out


def summarise(dataset, variant, runs, args, device) -> list[dict]:
    n_modes = len(DATASETS[dataset]["centres"])
    out = []
    for key, metric in (
        ("modes", f"modes covered (of {n_modes})"),
        ("high_quality", "high-quality samples (%)"),
    ):
        values = [r[key] for r in runs]
        raw = [r[f"raw_{key}"] for r in runs]
        mala = [r[f"mala_{key}"] for r in runs]
        out.append(
            records.make_record(
                model=f"energy GAN, {variant}, {dataset}",
                metric=metric,
                **records.seed_fields(values, 2),
                raw_generator=round(statistics.mean(raw), 2),
                with_mala=round(statistics.mean(mala), 2),
                with_mala_per_seed=[round(v, 2) for v in mala],
                mala=f"{args.mala_steps} exact MALA steps of {MALA_STEP} in z on U(G(z))"
                f" + |z|^2/2, acceptance {statistics.mean(r['mala_acceptance'] for r in runs):.2f}",
                steps=args.steps,
                schedule="Adam 1e-3"
                + (
                    f", linearly to 0 over the last {args.lr_decay_steps} steps"
                    if args.lr_decay_steps
                    else ""
                ),
                network=f"U, G, T 3x128 ReLU MLPs; samples from an EMA ({args.average_decay}) of G",
                mi_weight=mi_weight(dataset, args),
                penalty=args.penalty,
                paper_value=None,
                paper="-",
                epochs=round(args.steps / 1000, 2),
                train_seconds=round(statistics.mean(r["seconds"] for r in runs), 1),
                device=records.device_name(device),
            )
        )
    return out


def run_stacked(args, device) -> list[dict]:
    """Train (or resume) the StackedMNIST energy GAN and score its EMA generator."""

    torch.manual_seed(args.seed)
    g = torch.Generator(device=device).manual_seed(args.seed)
    digits = dgm.data.load_mnist("train", device=device)[0].flatten(1)

    def sample_real(n):
        return stacked.stack(digits, n, g)

    m = stacked.model(args.latent_dim, args.channels, args.hidden).to(device)
    ckpt = records.checkpoint_path(args, "energy_stacked")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    history = energy.fit(
        m,
        sample_real,
        args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        penalty=args.penalty if args.penalty is not None else 10.0,
        mi_weight=args.mi_weight if args.mi_weight is not None else 1.0,
        energy_steps=args.energy_steps,
        lr_decay_steps=min(args.lr_decay_steps, args.steps),
        checkpoint=ckpt,
        save_every=500,
        evaluate=records.stopwatch(device, ckpt),
        eval_every=500,
        log_every=100,
        time_limit=args.minutes * 60 if args.minutes else None,
        progress=False,
    )
    if records.stopped_early(history):
        return []
    seconds = history.last("train_seconds")
    scores = {}
    for average in (True, False):  # the EMA of G, then the raw G
        torch.manual_seed(args.seed + 1)
        n_batches = math.ceil(args.n_eval / 1000)
        samples = torch.cat([m.sample(1000, average=average) for _ in range(n_batches)])
        scores[average] = stacked.mode_statistics(stacked.modes(samples[: args.n_eval]))
    (covered, kl), (raw_covered, raw_kl) = scores[True], scores[False]
    common = dict(
        steps=args.steps,
        energy_steps=args.energy_steps,
        batch_size=args.batch_size,
        network=f"DCGAN with InfoGAN's FC layers (z {args.latent_dim}, {args.channels} "
        f"channels, {args.hidden} units); EMA (0.999) of G",
        n_samples=args.n_eval,
        epochs=round(args.steps * args.batch_size / 60_000, 2),
        train_seconds=round(seconds, 1),
        device=records.device_name(device),
        paper="Kumar et al. 2019 (MEG), Table 1, StackedMNIST",
    )
    model_name = (
        f"energy GAN, JSD MI, StackedMNIST (z {args.latent_dim}, {args.channels} channels, "
        f"{args.energy_steps} energy step{'s' if args.energy_steps > 1 else ''} per G step)"
    )
    out = [
        records.make_record(
            model=model_name,
            metric="modes covered (of 1000)",
            value=covered,
            raw_generator=raw_covered,
            paper_value=stacked.PUBLISHED["MEG"][0],
            **common,
        ),
        records.make_record(
            model=model_name,
            metric="KL(modes || uniform) (nats)",
            value=round(kl, 4),
            raw_generator=round(raw_kl, 4),
            paper_value=stacked.PUBLISHED["MEG"][1],
            uniform_sampler_kl=round(stacked.uniform_kl_floor(args.n_eval), 4),
            **common,
        ),
    ]
    if args.mala_samples:
        out += stacked_mala(m, model_name, args, common, device)
    return out


def _tuned_step_size(U_z, z0, target=(0.45, 0.75), step_size=0.01, tries=10):
    """An exact-MALA step size whose acceptance over 20 pilot steps lies in ``target``."""
    for _ in range(tries):
        acceptance = mcmc.run_chains(U_z, z0, 20, step_size, "mala")[1].mean().item()
        if target[0] <= acceptance <= target[1]:
            break
        step_size *= 2.0 if acceptance > target[1] else 0.5
    return step_size


def stacked_mala(m, model_name, args, common, device) -> list[dict]:
    """Lecture 07 on images: z-space chains on ``U(G(z)) + |z|^2/2`` for the EMA G, exact
    MALA against the energy-difference shortcut, from the same prior draws. Modes, KL, and
    the channels' Fréchet distance and classifier score against real test digits."""
    torch.manual_seed(args.seed + 2)
    n, chunk = args.mala_samples, 1000
    z0 = m.prior(n)
    U_z = energy.latent_energy(m.energy, m.G_average, temperature=1.0)
    step_size = _tuned_step_size(U_z, z0[:500])
    reference = dgm.data.load_mnist("test", device=device)[0].flatten(1)
    reference = reference[torch.randperm(len(reference), device=device)[: 3 * n]]
    out, common = [], dict(common, n_samples=n)
    for label, sampler in (
        ("G(z), z from the prior", None),
        ("exact z-space MALA", "mala"),
        ("energy-difference shortcut", "mala_energy_difference"),
    ):
        t0, z, accepted = time.perf_counter(), [], []
        for i in range(0, n, chunk):
            if sampler is None:
                z.append(z0[i : i + chunk])
                continue
            trace, acc = mcmc.run_chains(
                U_z, z0[i : i + chunk], args.mala_steps, step_size, sampler
            )
            z.append(trace[-1])
            accepted.append(acc)
        seconds = time.perf_counter() - t0
        images = torch.cat([m.sample(z=zi) for zi in z])
        covered, kl = stacked.mode_statistics(stacked.modes(images))
        scores = stacked.channel_scores(images, reference)
        extra = dict(
            sampler=label,
            mcmc_seconds=round(seconds, 1),
            chains=f"{args.mala_steps} steps of {step_size:g} in z on U(G(z)) + |z|^2/2 (T = 1)"
            if sampler
            else "none",
            acceptance=round(torch.cat(accepted).mean().item(), 3) if sampler else None,
        )
        name = f"{model_name}, {label}"
        for metric, value in (
            ("modes covered (of 1000)", covered),
            ("KL(modes || uniform) (nats)", round(kl, 4)),
            ("Frechet distance per channel (classifier features)", round(scores["frechet"], 3)),
            ("classifier score per channel", round(scores["inception"], 3)),
        ):
            out.append(
                records.make_record(
                    model=name, metric=metric, value=value, paper_value=None, **common, **extra
                )
            )
        print(
            f"{label}: {covered} modes, KL {kl:.3f}, FD {scores['frechet']:.2f}, "
            f"score {scores['inception']:.2f}, {extra}",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.energy", __doc__)
    parser.add_argument("command", choices=["toy", "stacked"])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=["grid", "ring"])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="toy: seeds first-seed ... (merge with records.merge_seeds)",
    )
    parser.add_argument("--steps", type=int, default=None, help="toy 15,000; stacked 20,000")
    parser.add_argument("--energy-steps", type=int, default=5, help="stacked")
    parser.add_argument("--batch-size", type=int, default=64, help="stacked")
    parser.add_argument("--lr", type=float, default=1e-4, help="stacked")
    parser.add_argument("--latent-dim", type=int, default=128, help="stacked")
    parser.add_argument("--channels", type=int, default=64, help="stacked")
    parser.add_argument("--hidden", type=int, default=1024, help="stacked")
    parser.add_argument("--n-eval", type=int, default=26_000, help="stacked: samples scored")
    parser.add_argument("--seed", type=int, default=0, help="stacked")
    parser.add_argument("--mala-samples", type=int, default=10_000, help="stacked: 0 skips")
    parser.add_argument("--mala-steps", type=int, default=None, help="toy 200; stacked 100")
    parser.add_argument("--minutes", type=float, default=0, help="stacked: save, stop")
    parser.add_argument("--checkpoint", default=None, help="stacked")
    parser.add_argument(
        "--mi-weight", type=float, default=None, help="default: 0.3 on the grid, 0.03 on the ring"
    )
    parser.add_argument("--penalty", type=float, default=None, help="toy 0.1; stacked 10")
    parser.add_argument("--average-decay", type=float, default=0.999)
    parser.add_argument(
        "--lr-decay-steps", type=int, default=5000, help="the last N steps decay lr linearly to 0"
    )
    args = parser.parse_args(argv)
    device = dgm.device()
    if args.command == "stacked":
        args.steps = 20_000 if args.steps is None else args.steps
        args.mala_steps = 100 if args.mala_steps is None else args.mala_steps
        recs = run_stacked(args, device)
        if recs:
            records.write("energy", recs, records.results_dir(args))
            records.print_table(recs)
        return 0
    args.steps = 15_000 if args.steps is None else args.steps
    args.mala_steps = 200 if args.mala_steps is None else args.mala_steps
    args.penalty = 0.1 if args.penalty is None else args.penalty

    def report(dataset, variant, seed, r):
        print(
            f"{dataset} {variant:10s} seed {seed}: {r['modes']} modes, "
            f"{r['high_quality']:.1f}% HQ (raw G {r['raw_modes']}, "
            f"{r['raw_high_quality']:.1f}%; with MALA {r['mala_modes']}, "
            f"{r['mala_high_quality']:.1f}%; {r['seconds']:.0f} s)",
            flush=True,
        )

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    written = records.sweep("energy", args, device, run_one, summarise, report, seeds)
    records.print_table(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
