"""Lecture 09 benchmark: score-based sampling of lecture 07's two modes, many seeds.

``modes``: the mixture 0.3 N((-4, 0), I) + 0.7 N((4, 0), I), whose modes lecture 07's
Langevin and MALA cannot mix. Per seed, a ``dgm.score.ScoreNet`` (3x128 SiLU MLP) is trained
by denoising score matching at 20 noise levels, geometric from 10 to 0.1 (``--steps``
steps of 256 fresh points, Adam 1e-3 cosine-decayed over the second half). Then 10,000
chains start from N(0, 10^2 I) (the same draws for every arm) and each arm runs 2,000
steps, one score or gradient of the energy per step (MALA: two):

- annealed Langevin with the learned score, 20 levels of 100 steps, eps 0.002 (each
  level's step ``eps sigma_i^2 / sigma_L^2``);
- the same with the exact score of the blurred mixture (the sampler's own error);
- the same with the exact score at 10 levels of 100 steps and eps 0.02 (1,000 steps; the
  last level's step is then twice its sigma^2): the sampler's error on a coarse ladder;
- plain Langevin with the exact score, step 1.0 in ``x + step/2 s + sqrt(step) z`` (lecture
  07's ``eps = 0.5``), MALA with the exact energy at lecture 07's ``eps = 0.5``, and plain
  Langevin with the learned score at the smallest level, step 1.0.

Metrics: the share of the chains in the right mode (``x_1 > 0``, exact 0.7), and for the
network the relative RMS error of its score against the exact one at each level, on the
blurred data.

    python -m benchmarks.diffusion modes --seeds 10
"""

from __future__ import annotations

import statistics
import time

import torch

from benchmarks import records
from dgm import densities, mcmc
from dgm import score as sm

WEIGHTS, MEANS, STD = [0.3, 0.7], [[-4.0, 0.0], [4.0, 0.0]], 1.0  # lecture 07's two modes
SIGMAS = sm.geometric_sigmas(10.0, 0.1, 20)
COARSE = sm.geometric_sigmas(10.0, 0.1, 10)
TARGET = "two modes 8 apart"
SHARE = "share in the right mode (exact 0.7)"


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


def arms(model, x0, generator, n_steps: int, per_level: int) -> dict[str, tuple[torch.Tensor, int]]:
    """Every arm's final states from the same starts ``x0``, with its number of steps."""
    learned = lambda y, s: model(y, s)  # noqa: E731
    fine, coarse = len(SIGMAS) * per_level, len(COARSE) * per_level
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
            "annealed Langevin, exact score, 10 levels, eps 0.02": (
                sm.annealed_langevin(exact_score, x0, COARSE, per_level, 0.02, generator),
                coarse,
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
        for name, (x, k) in arms(model, x0, g, n_steps, per_level).items():
            shares.setdefault(name, []).append((x[:, 0] > 0).double().mean().item())
            budget[name] = k
        print(f"seed {seed}: " + ", ".join(f"{v[-1]:.3f}" for v in shares.values()), flush=True)
    device = records.device_name(torch.device("cpu"))
    fit_s = statistics.mean(train_seconds)
    out = [
        records.make_record(
            model=f"{name}, {TARGET}",
            metric=SHARE,
            **records.seed_fields(values, 4),
            exact=0.7,
            paper_value=None,
            paper="-",
            epochs=0,
            train_seconds=round(fit_s, 1) if "learned" in name else 0.0,
            device=device,
            steps=budget[name],
            chains=f"{chains:,} from N(0, 10^2 I), the same starts in every arm",
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


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.diffusion", __doc__)
    parser.add_argument("commands", nargs="+", choices=["modes"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10_000, help="training steps")
    parser.add_argument("--per-level", type=int, default=100, help="Langevin steps per level")
    args = parser.parse_args(argv)
    written = modes(args.seeds, args.chains, args.steps, args.per_level)
    records.write("diffusion", written, records.results_dir(args))
    for r in written:
        print(f"{r['model']:72s} {r['metric'][:30]:30s} {r['value']:8.4f} ± {r['spread']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
