"""Lecture 09 benchmark: score-based sampling of lecture 07's two modes, many seeds.

``modes``: the mixture 0.3 N((-4, 0), I) + 0.7 N((4, 0), I), whose modes lecture 07's
MALA did not mix. Per seed, a ``dgm.score.ScoreNet`` (3x128 SiLU MLP) is trained by
denoising score matching at 20 noise levels, geometric from 10 to 0.1 (``--steps`` steps of
256 fresh points, Adam 1e-3 cosine-decayed over the second half). Then 10,000 chains start
from N(0, 10^2 I) (the same draws for every arm) and each arm but one runs 2,000 steps, one
score or gradient of the energy per step (MALA evaluates two):

- annealed Langevin with the learned score, 20 levels of 100 steps, eps 0.002 (each
  level's step ``eps sigma_i^2 / sigma_L^2``);
- the same with the exact score of the blurred mixture (the sampler's own error);
- one factor changed at a time, with the exact score and the same 2,000 steps: ten times
  eps (0.02, so that the last level's step is twice its sigma^2), and 10 levels of 200
  steps (the ladder twice as coarse);
- plain Langevin with the exact score at a small step, 0.02 in ``x + step/2 s + sqrt(step)
  z``, and at step 1.0 (lecture 07's ``eps = 0.5``); MALA with the exact energy at lecture
  07's ``eps = 0.5``; and plain Langevin with the learned score at the smallest level, step
  1.0. At step 1.0 plain Langevin's stationary law is wider than the target (each mode's
  variance 4/3), which lowers the barrier: its chains do cross, a bias of the step, where
  MALA's barely do.

``modes`` also runs lecture 09's 2-D diffusion model with the exact noise prediction: the
mixture scaled by 1/4 (modes at +-1, sd 0.25), Ho et al.'s 1,000 linear betas, 10,000
chains from N(0, I), ``dgm.diffusion.ddpm_step`` at every step.

Metrics: the share of the chains in the right mode (``x_1 > 0``, exact 0.7), and for the
network the relative RMS error of its score against the exact one at each level, on the
blurred data.

``mnist``: a ``dgm.diffusion.DDPM`` around a ``UNet(--channels)``, T = 1000 linear betas
from 1e-4 to 0.02 (Ho et al.), trained with ``dgm.diffusion.fit`` (Adam ``--lr``, batch
``--batch-size``, 200 warm-up steps, cosine decay over the second half, weight average
0.999) on the training digits less the last ``--n-score``, which are the reference the
course classifier's Fréchet distance and Inception score compare with (lecture 04's
measures). Resumable (``--checkpoint``, ``--minutes``). The average's weights are rounded
to float16 and written to ``lib/dgm/weights/ddpm_mnist.pt``; then ``--n-score`` digits of
those weights are drawn by the ancestral sampler (1,000 steps) and by DDIM in 100, 50, 20
and 10 steps, each scored and timed per 100 digits, beside real test digits.

    python -m benchmarks.diffusion modes --seeds 10
    python -m benchmarks.diffusion mnist --channels 16 --steps 10000 --n-score 1000  # shipped
    python -m benchmarks.diffusion compare --n-score 1000 --draws 5

``compare``: the shipped DDPM beside lecture 04's shipped DCGAN and lecture 03's VAE, with
several draws of each (``compare``'s docstring).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

import dgm
from benchmarks import records
from dgm import densities, mcmc
from dgm import diffusion as dm
from dgm import score as sm
from dgm.course import records as course_records

WEIGHTS, MEANS, STD = [0.3, 0.7], [[-4.0, 0.0], [4.0, 0.0]], 1.0  # lecture 07's two modes
SIGMAS = sm.geometric_sigmas(10.0, 0.1, 20)
COARSE = sm.geometric_sigmas(10.0, 0.1, 10)
TARGET = "two modes 8 apart"
SHARE = "share in the right mode (exact 0.7)"
DDPM_ARM = "ancestral DDPM sampling, exact noise prediction, the two modes scaled by 1/4"


def draw(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` points of the mixture, (n, 2)."""
    k = torch.multinomial(torch.tensor(WEIGHTS), n, replacement=True, generator=generator)
    return torch.tensor(MEANS)[k] + STD * torch.randn(n, 2, generator=generator)


def exact_score(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The score of the mixture blurred by N(0, sigma^2 I): the same mixture, wider."""
    return sm.mixture_score(x, WEIGHTS, MEANS, sm.noised_stds([STD, STD], sigma))


def energy(x: torch.Tensor) -> torch.Tensor:
    return -densities.isotropic_mixture_log_prob(x, WEIGHTS, MEANS, STD)


def score_errors(model: sm.ScoreNet, generator: torch.Generator, n: int = 4000) -> list[float]:
    """``||s_theta - s||_rms / ||s||_rms`` at each level, on data blurred at that level."""
    out = []
    for sigma in SIGMAS:
        y = draw(n, generator) + sigma * torch.randn(n, 2, generator=generator)
        truth = exact_score(y, sigma)
        err = (model(y, sigma) - truth).pow(2).sum(1).mean().sqrt()
        out.append((err / truth.pow(2).sum(1).mean().sqrt()).item())
    return out


def mala(x: torch.Tensor, n_steps: int, eps: float, generator) -> torch.Tensor:
    for _ in range(n_steps):
        x, _ = mcmc.mala_step(energy, x, eps, generator)
    return x


def ddpm_exact(chains: int, generator: torch.Generator, T: int = 1000) -> torch.Tensor:
    """Ancestral sampling of the mixture scaled by 1/4 with the exact noise prediction."""
    betas = dm.linear_betas(T)
    abar = dm.alpha_bars(betas)
    means = torch.tensor(MEANS) / 4
    x = torch.randn(chains, 2, generator=generator)
    for t in reversed(range(T)):
        a = abar[t].item()
        # the noised mixture: means sqrt(abar) m_k, variances abar s_k^2 + 1 - abar
        stds = [(a * (STD / 4) ** 2 + 1 - a) ** 0.5] * 2
        eps = -((1 - a) ** 0.5) * sm.mixture_score(x, WEIGHTS, a**0.5 * means, stds)
        x = dm.ddpm_step(x, t, eps, betas, torch.randn(x.shape, generator=generator))
    return x


def arms(model, x0, generator, n_steps: int, per_level: int) -> dict[str, tuple[torch.Tensor, int]]:
    """Every arm's final states from the same starts ``x0``, with its number of steps."""
    learned = lambda y, s: model(y, s)  # noqa: E731
    fine = len(SIGMAS) * per_level  # the coarse ladder: twice the steps per level
    with torch.no_grad():
        out = {
            "annealed Langevin, learned score, 20 levels": (
                sm.annealed_langevin(learned, x0, SIGMAS, per_level, 0.002, generator),
                fine,
            ),
            "annealed Langevin, exact score, 20 levels": (
                sm.annealed_langevin(exact_score, x0, SIGMAS, per_level, 0.002, generator),
                fine,
            ),
            "annealed Langevin, exact score, 20 levels, eps 0.02": (
                sm.annealed_langevin(exact_score, x0, SIGMAS, per_level, 0.02, generator),
                fine,
            ),
            "annealed Langevin, exact score, 10 levels": (
                sm.annealed_langevin(exact_score, x0, COARSE, 2 * per_level, 0.002, generator),
                fine,
            ),
            "Langevin, exact score, step 0.02": (
                sm.langevin(lambda y: exact_score(y, 0.0), x0, 0.02, n_steps, generator),
                n_steps,
            ),
            "Langevin, exact score, step 1.0": (
                sm.langevin(lambda y: exact_score(y, 0.0), x0, 1.0, n_steps, generator),
                n_steps,
            ),
            "Langevin, learned score at sigma 0.1, step 1.0": (
                sm.langevin(lambda y: model(y, SIGMAS[-1]), x0, 1.0, n_steps, generator),
                n_steps,
            ),
        }
    out["MALA, exact energy, eps 0.5"] = (mala(x0, n_steps, 0.5, generator), n_steps)
    return out


def modes(
    seeds: int, chains: int = 10_000, steps: int = 10_000, per_level: int = 100
) -> list[dict]:
    n_steps = len(SIGMAS) * per_level
    shares: dict[str, list[float]] = {}
    budget: dict[str, int] = {}
    errors, train_seconds = [], []
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = sm.ScoreNet(SIGMAS, data_std=4.0)
        t0 = time.perf_counter()
        sm.fit(model, lambda n, g=g: draw(n, g), steps, progress=False)
        train_seconds.append(time.perf_counter() - t0)
        with torch.no_grad():
            errors.append(score_errors(model, g))
        x0 = SIGMAS[0] * torch.randn(chains, 2, generator=g)
        finals = {**arms(model, x0, g, n_steps, per_level), DDPM_ARM: (ddpm_exact(chains, g), 1000)}
        for name, (x, k) in finals.items():
            shares.setdefault(name, []).append((x[:, 0] > 0).double().mean().item())
            budget[name] = k
        print(f"seed {seed}: " + ", ".join(f"{v[-1]:.3f}" for v in shares.values()), flush=True)
    device = records.device_name(torch.device("cpu"))
    fit_s = statistics.mean(train_seconds)
    starts = {DDPM_ARM: f"{chains:,} from N(0, I)"}
    out = [
        records.make_record(
            model=name if name == DDPM_ARM else f"{name}, {TARGET}",
            metric=SHARE,
            **records.seed_fields(values, 4),
            exact=0.7,
            paper_value=None,
            paper="-",
            epochs=0,
            train_seconds=round(fit_s, 1) if "learned" in name else 0.0,
            device=device,
            steps=budget[name],
            chains=starts.get(name, f"{chains:,} from N(0, 10^2 I), the same starts in every arm"),
        )
        for name, values in shares.items()
    ]
    per_level = [statistics.mean(e[i] for e in errors) for i in range(len(SIGMAS))]
    out.append(
        records.make_record(
            model=f"score network (3x128 SiLU MLP, {steps:,} steps), {TARGET}",
            metric="relative RMS error of the score, mean over 20 levels",
            **records.seed_fields([statistics.mean(e) for e in errors], 4),
            paper_value=None,
            paper="-",
            epochs=0,
            train_seconds=round(fit_s, 1),
            device=device,
            steps=steps,
            sigmas=[round(s, 4) for s in SIGMAS],
            per_level=[round(e, 4) for e in per_level],
        )
    )
    return out


DDIM_STEPS = (100, 50, 20, 10)


def draw_digits(model: dm.DDPM, sampler: str, steps: int, n: int, device, seed=1) -> tuple:
    """``n`` digits in batches of 100 and the seconds per 100 (the device synchronised);
    the global generator seeded with ``seed`` unless it is None."""
    if seed is not None:
        torch.manual_seed(seed)
    out, t0 = [], time.perf_counter()
    for _ in range(0, n, 100):
        k = min(100, n - len(out) * 100)
        if sampler.startswith("ancestral"):
            out.append(dm.sample_ddpm(model, k))
        else:
            out.append(dm.sample_ddim(model, k, steps))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return torch.cat(out), (time.perf_counter() - t0) / (n / 100)


def mnist(args, device) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    course_records.commit()  # read now: the shipped weights are written into lib/ below
    x_train, _ = dgm.data.load_mnist("train", device=device)
    x_test, _ = dgm.data.load_mnist("test", device=device)
    x_train, x_test = x_train.flatten(1), x_test.flatten(1)
    n = min(args.n_score, 10_000)
    reference, pool = x_train[-n:], x_train[:-n]  # scored against digits it never saw
    torch.manual_seed(0)
    model = dm.DDPM(dm.UNet(args.channels), T=args.T).to(device)
    ckpt = records.checkpoint_path(args, f"ddpm_{args.channels}")
    clock = records.stopwatch(device, ckpt)
    history = dm.fit(
        model,
        pool,
        args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        checkpoint=ckpt,
        save_every=500,
        evaluate=clock,
        eval_every=500,
        log_every=100,
        time_limit=args.minutes * 60 if args.minutes else None,
    )
    if history.stopped_at is not None:
        print(f"stopped at step {history.stopped_at}; run again to resume")
        return []
    train_seconds = history.last("train_seconds")
    out_path = Path(args.weights)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.net_average.state_dict().items()}
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, out_path)
    digest = dgm.pretrained.sha256(out_path)
    print(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB)")
    print(f'DDPM_SHA256 = "{digest}"  <- record this in lib/dgm/diffusion.py')
    shipped = dm.ddpm_from_state(torch.load(out_path, weights_only=True), args.T).to(device)
    # each sampler once: DDIM's step counts capped at T (smoke tests run a short T)
    ddim = dict.fromkeys(min(k, args.T) for k in DDIM_STEPS)
    samplers = [("ancestral sampling", args.T), *[("DDIM", k) for k in ddim]]
    params = sum(p.numel() for p in shipped.net.parameters())
    device_name = records.device_name(device)
    base = dict(paper_value=None, paper="-", device=device_name)
    common = dict(
        network=f"U-Net, {args.channels} channels at 28x28 ({params:,} parameters)",
        weights=f"weight average (0.999), float16, sha256 {digest[:12]}",
        batch_size=args.batch_size,
        lr=args.lr,
    )
    out, grids = [], {}
    for name, x, seconds, steps in [
        ("real test digits", x_test[:n], 0.0, 0),
        *[(f"{s} in {k} steps", *draw_digits(shipped, s, k, n, device), k) for s, k in samplers],
    ]:
        scores = dgm.metrics.mnist_scores(x, reference)
        grids[name] = x[:64].cpu()
        real = name.startswith("real")
        for key, metric in (("frechet", "Fréchet distance"), ("inception", "Inception score")):
            out.append(
                records.make_record(
                    model=name if real else f"DDPM ({args.channels}-channel U-Net), {name}, MNIST",
                    metric=f"{metric} (n={n})",
                    value=round(scores[key], 2),
                    epochs=0 if real else round(args.steps * args.batch_size / len(pool), 2),
                    train_seconds=0.0 if real else round(train_seconds, 1),
                    steps=steps,
                    **base,
                    **({} if real else common),
                    **({} if real else {"seconds_per_100": round(seconds, 2)}),
                )
            )
        print(
            f"{name:28s} FD {scores['frechet']:7.2f}  IS {scores['inception']:5.2f}  "
            f"{seconds:7.2f} s per 100 digits",
            flush=True,
        )
    fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids), 3.6))
    for ax, (name, x) in zip(axes, grids.items()):
        dgm.plot.image_grid(x, nrow=8, ax=ax, title=name)
    fig.suptitle(f"DDPM samples after {args.steps} steps ({device_name})")
    fig.tight_layout()
    path = records.results_dir(args) / "diffusion_mnist_samples.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")
    return out


def compare(args, device) -> list[dict]:
    """The shipped DDPM beside lecture 04's shipped DCGAN and lecture 03's VAE, several draws.

    Every model's ``--n-score`` digits are scored against the same reference (the last
    ``--n-score`` training digits, which the DDPM never saw), once per draw ``0 .. --draws -
    1``: DDIM in each of ``DDIM_STEPS`` steps, the DCGAN, the VAE (trained here for
    ``--steps`` steps of 100 digits: the DDPM's 10,000 by default) and real test digits (a
    different ``--n-score`` of them per draw). Ancestral sampling (1,000 steps) is
    ``mnist``'s one draw: about ten times DDIM's 100-step cost per draw.
    """
    from dgm import gan, vae

    x_train, _ = dgm.data.load_mnist("train", device=device)
    x_test, _ = dgm.data.load_mnist("test", device=device)
    x_train, x_test = x_train.flatten(1), x_test.flatten(1)
    n = min(args.n_score, 10_000 // args.draws)
    reference = x_train[-n:]
    ddpm, dcgan = dm.pretrained_ddpm(device), gan.pretrained_dcgan(device)
    torch.manual_seed(0)
    vae_model = vae.VAE().to(device)
    vae_model.set_output_bias(x_train.mean(0))
    t0 = time.perf_counter()
    vae.fit(vae_model, x_train[:-n], args.steps, log_every=1000)
    vae_seconds = time.perf_counter() - t0
    values: dict[str, list[tuple[float, float]]] = {}
    seconds: dict[str, list[float]] = {}
    for draw_seed in range(args.draws):
        torch.manual_seed(100 + draw_seed)
        drawn = {"real test digits": (x_test[draw_seed * n : (draw_seed + 1) * n], 0.0)}
        for k in DDIM_STEPS:
            drawn[f"DDPM, DDIM in {k} steps"] = draw_digits(ddpm, "DDIM", k, n, device, None)
        with torch.no_grad():
            drawn["DCGAN, shipped weights"] = (dcgan.sample(n), 0.0)
            drawn[f"VAE (pixel means), {args.steps:,} steps"] = (vae_model.sample(n), 0.0)
        for name, (x, sec) in drawn.items():
            scores = dgm.metrics.mnist_scores(x, reference)
            values.setdefault(name, []).append((scores["frechet"], scores["inception"]))
            seconds.setdefault(name, []).append(sec)
        print(
            f"draw {draw_seed}: " + ", ".join(f"{k} {v[-1][0]:.2f}" for k, v in values.items()),
            flush=True,
        )
    out = []
    device_name = records.device_name(device)
    for name, pairs in values.items():
        for i, metric in enumerate(("Fréchet distance", "Inception score")):
            extra = {}
            if name.startswith("DDPM"):
                extra["seconds_per_100"] = round(statistics.mean(seconds[name]), 2)
            out.append(
                records.make_record(
                    model=f"{name}, MNIST, {args.draws} draws",
                    metric=f"{metric} (n={n})",
                    **records.seed_fields([p[i] for p in pairs], 3),
                    paper_value=None,
                    paper="-",
                    epochs=0,
                    train_seconds=round(vae_seconds, 1) if name.startswith("VAE") else 0.0,
                    device=device_name,
                    reference=f"the last {n:,} training digits",
                    **extra,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.diffusion", __doc__)
    parser.add_argument("commands", nargs="+", choices=["modes", "mnist", "compare"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10_000, help="training steps")
    parser.add_argument("--per-level", type=int, default=100, help="Langevin steps per level")
    parser.add_argument("--channels", type=int, default=32, help="mnist: the U-Net's width")
    parser.add_argument("--batch-size", type=int, default=128, help="mnist")
    parser.add_argument("--lr", type=float, default=1e-3, help="mnist")
    parser.add_argument("--n-score", type=int, default=10_000, help="mnist: digits scored")
    parser.add_argument("--minutes", type=float, default=0, help="mnist: save and stop")
    parser.add_argument("--checkpoint", default=None, help="mnist")
    parser.add_argument("--weights", default=str(dm.DDPM_WEIGHTS), help="mnist: where to ship")
    parser.add_argument("--draws", type=int, default=5, help="compare: draws per model")
    parser.add_argument("--T", type=int, default=1000, help="mnist: diffusion steps (smoke tests)")
    args = parser.parse_args(argv)
    device = dgm.device()
    written = []
    for command in args.commands:
        if command == "modes":
            recs = modes(args.seeds, args.chains, args.steps, args.per_level)
        elif command == "compare":
            recs = compare(args, device)
        else:
            recs = mnist(args, device)
        records.write("diffusion", recs, records.results_dir(args))
        written += recs
    for r in written:
        spread = f" ± {r['spread']:.4f}" if "spread" in r else ""
        print(f"{r['model']:72s} {r['metric'][:30]:30s} {r['value']:8.4f}{spread}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
