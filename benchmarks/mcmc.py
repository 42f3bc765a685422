"""Lecture 07 benchmark: the samplers' bias, acceptance and mixing on 2-D targets, 5 seeds.

``samplers``: on the mixture 0.3 N((-1.5, 0), 0.8^2 I) + 0.7 N((1.5, 0.5), 0.8^2 I), 10,000
chains started from exact draws (``bad-start``: all at (-3, 0)), 300 steps of ULA, MALA and
the energy-difference shortcut at steps 0.1, 0.4 and 1.2: the error of var(x_1) and of
P(x_1 > 0) against quadrature, and the acceptance rate. On the unit Gaussian, the
stationary variance of the seed's sqrt(eps)-noise step and of the shortcut at step 0.01
(both sample exp(-2U): 0.5).

``tempering``: two modes 8 apart (weights 0.3, 0.7, unit width), 400 chains half in each
mode, 1,500 steps: the right mode's share and R-hat from plain MALA and from replica
exchange over temperatures 1, 2, 4, 8, 16.

``slips``: on the unit Gaussian (stationary variance 1), 10,000 chains from exact draws,
500 steps at steps 0.01 to 1.5: exact MALA against two wrong acceptance ratios found
in the sources. The seed note's ratio evaluates the target in the denominator at the
previous *proposal* instead of the current state; the MEG authors' public
``MALA_corrected_sampler`` (``ritheshkumar95/energy_based_generative_models``,
``scripts/sampler.py``) takes an unsquared norm in its log proposal densities.

``tuned``: on an 8-D Gaussian whose standard deviations run from 0.1 to 10 (log-spaced),
200 chains from exact draws, 400 warm-up steps from 0.01 and 1,000 samples at target
acceptance 0.574: the ESS per step of the narrowest and the widest coordinate (mean over 20
chains) from ``adaptive_mala`` (the step alone) and from ``tuned_mala`` (step and scales),
the same warm-up and sampling budget, 10 seeds.

    python -m benchmarks.mcmc samplers bad-start tempering slips tuned
"""

from __future__ import annotations

import math
import statistics
import time

import torch

import dgm
from benchmarks import records
from dgm import energy, mcmc

MIX_W, MIX_MEANS, MIX_STD = [0.3, 0.7], [[-1.5, 0.0], [1.5, 0.5]], 0.8
STEPS = (0.1, 0.4, 1.2)
SAMPLERS = {"ULA": "ula", "MALA": "mala", "energy difference only": "mala_energy_difference"}


def mixture_energy(x):
    return -dgm.densities.isotropic_mixture_log_prob(x, MIX_W, MIX_MEANS, MIX_STD)


def exact_moments() -> tuple[float, float]:
    """var(x_1) and P(x_1 > 0) of the mixture, by quadrature."""
    ticks = torch.linspace(-8, 8, 801, dtype=torch.float64)
    pts = torch.cartesian_prod(ticks, ticks)
    w = energy.model_weights_on_grid(mixture_energy, pts)
    var = (w * pts[:, 0] ** 2).sum() - (w * pts[:, 0]).sum() ** 2
    return var.item(), w[pts[:, 0] > 0].sum().item()


def record(model, metric, values, seconds, exact=None, **extra) -> dict:
    return records.make_record(
        model=model,
        metric=metric,
        **records.seed_fields(values, 4),
        exact=exact,
        paper_value=None,
        paper="-",
        epochs=0,
        train_seconds=round(seconds, 1),
        device=records.device_name(torch.device("cpu")),
        **extra,
    )


BAD_START = (-3.0, 0.0)  # beyond the small mode, on the far side from the large one


def samplers(
    seeds: int, chains: int = 10_000, n_steps: int = 300, bad_start: bool = False
) -> list[dict]:
    """The bias table; with ``bad_start`` every chain starts at ``BAD_START`` instead of at
    an exact draw, so a sampler that barely moves cannot pass for an exact one."""
    exact_var, exact_right = exact_moments()
    out = []
    where = f", from {BAD_START}" if bad_start else ""
    for name, sampler in SAMPLERS.items():
        for step in STEPS:
            var_err, right_err, acc, t0 = [], [], [], time.perf_counter()
            for seed in range(seeds):
                g = torch.Generator().manual_seed(seed)
                k = torch.multinomial(torch.tensor(MIX_W), chains, True, generator=g)
                means = torch.tensor(MIX_MEANS, dtype=torch.float64)[k]
                x0 = means + MIX_STD * torch.randn(chains, 2, generator=g, dtype=torch.float64)
                if bad_start:
                    x0 = torch.tensor(BAD_START, dtype=torch.float64).expand(chains, 2).clone()
                trace, a = mcmc.run_chains(mixture_energy, x0, n_steps, step, sampler, g)
                x = trace[-1]
                var_err.append(x[:, 0].var().item() - exact_var)
                right_err.append((x[:, 0] > 0).double().mean().item() - exact_right)
                acc.append(a.mean().item())
            seconds = (time.perf_counter() - t0) / seeds
            out.append(
                record(
                    f"{name}, step {step}, 2-D mixture{where}",
                    f"error of var(x1) (exact {exact_var:.3f})",
                    var_err,
                    seconds,
                    round(exact_var, 4),
                    error_of_right_mass=round(statistics.mean(right_err), 4),
                    error_of_right_mass_spread=round(statistics.stdev(right_err), 4)
                    if seeds > 1
                    else 0.0,
                    exact_right_mass=round(exact_right, 4),
                    acceptance=round(statistics.mean(acc), 4),
                    chains=chains,
                    steps=n_steps,
                )
            )
    if bad_start:
        return out
    # the factor 2: the seed's sqrt(eps) noise and the shortcut both sample exp(-2U)
    n_steps_gaussian = 5 * n_steps // 3  # 500 steps of 0.01 by default: 5 relaxation times
    for name in ("ULA with the seed's sqrt(eps) noise", "energy difference only"):
        values, t0 = [], time.perf_counter()
        for seed in range(seeds):
            g = torch.Generator().manual_seed(100 + seed)
            x = torch.randn(chains, 1, generator=g, dtype=torch.float64)
            eps = 0.01
            if name.startswith("ULA"):
                for _ in range(n_steps_gaussian):
                    x = (
                        x
                        - eps * x
                        + math.sqrt(eps) * torch.randn(x.shape, generator=g, dtype=x.dtype)
                    )
            else:
                U = lambda v: 0.5 * v.pow(2).sum(1)  # noqa: E731
                x = mcmc.run_chains(U, x, n_steps_gaussian, eps, "mala_energy_difference", g)[0][-1]
            values.append(x.var().item())
        seconds = (time.perf_counter() - t0) / seeds
        out.append(
            record(
                f"{name}, step 0.01, unit Gaussian",
                "stationary variance (target 1)",
                values,
                seconds,
                1.0,
            )
        )
    return out


SLIP_STEPS = (0.01, 0.1, 0.5, 1.0, 1.5)
SLIPS = (
    "exact MALA",
    "the seed's ratio (target at the previous proposal)",
    "MEG's corrected sampler (unsquared norm)",
)


def slip_chain(kind: str, x: torch.Tensor, n_steps: int, step: float, g) -> torch.Tensor:
    """``n_steps`` Langevin-proposal MH steps on U(x) = |x|^2 / 2 with the acceptance ratio
    ``kind`` (one of ``SLIPS``); returns the final states."""

    def U(v):
        return 0.5 * v.pow(2).sum(1)

    u, grad = mcmc.energy_and_grad(U, x)
    u_previous_proposal = u.clone()  # the seed's ratio: the target at the last proposal
    for _ in range(n_steps):
        proposal = (
            x - step * grad + math.sqrt(2 * step) * torch.randn(x.shape, generator=g, dtype=x.dtype)
        )
        u_new, grad_new = mcmc.energy_and_grad(U, proposal)
        if kind == SLIPS[2]:  # log q(b | a) = -|b - a + step grad U(a)| / (4 step), unsquared

            def log_q(b, a, ga):
                return -(b - a + step * ga).norm(dim=1) / (4 * step)

        else:

            def log_q(b, a, ga):
                return mcmc.langevin_log_proposal(b, a, ga, step)

        u_current = u_previous_proposal if kind == SLIPS[1] else u
        log_ratio = -u_new + u_current + log_q(x, proposal, grad_new) - log_q(proposal, x, grad)
        accept = torch.log(torch.rand(len(x), generator=g, dtype=x.dtype)) < log_ratio
        x = torch.where(accept[:, None], proposal, x)
        u = torch.where(accept, u_new, u)
        grad = torch.where(accept[:, None], grad_new, grad)
        u_previous_proposal = u_new
    return x


def slips(seeds: int, chains: int = 10_000, n_steps: int = 500) -> list[dict]:
    out = []
    for kind in SLIPS:
        for step in SLIP_STEPS:
            values, t0 = [], time.perf_counter()
            for seed in range(seeds):
                g = torch.Generator().manual_seed(200 + seed)
                x0 = torch.randn(chains, 1, generator=g, dtype=torch.float64)
                values.append(slip_chain(kind, x0, n_steps, step, g).var().item())
            seconds = (time.perf_counter() - t0) / seeds
            out.append(
                record(
                    f"{kind}, step {step}, unit Gaussian",
                    "stationary variance (target 1)",
                    values,
                    seconds,
                    1.0,
                    chains=chains,
                    steps=n_steps,
                )
            )
    return out


def tempering(seeds: int, chains: int = 400, n_steps: int = 1500) -> list[dict]:
    means = torch.tensor([[-4.0, 0.0], [4.0, 0.0]], dtype=torch.float64)

    def U(x):
        return -dgm.densities.isotropic_mixture_log_prob(x, [0.3, 0.7], means, 1.0)

    temperatures = [1, 2, 4, 8, 16]
    budget = len(temperatures) * n_steps  # replica exchange's gradient evaluations per chain
    out = []
    for name in (
        "MALA",
        "MALA at replica exchange's gradient budget",
        "replica exchange (T = 1, 2, 4, 8, 16)",
    ):
        share, rhat, t0 = [], [], time.perf_counter()
        for seed in range(seeds):
            g = torch.Generator().manual_seed(seed)
            half = chains // 2
            noise = torch.randn(2 * half, 2, generator=g, dtype=torch.float64)
            x0 = means.repeat_interleave(half, 0) + noise  # half the chains in each mode
            if name == "MALA":
                trace = mcmc.run_chains(U, x0, n_steps, 0.5, "mala", g)[0]
            elif name.startswith("MALA at"):  # the control: as many gradients as 5 replicas
                trace = mcmc.run_chains(U, x0, budget, 0.5, "mala", g)[0]
            else:
                trace = mcmc.replica_exchange(U, x0, temperatures, n_steps, 0.5, g)[0]
            kept = trace[len(trace) // 4 :]
            share.append((kept[:, :, 0] > 0).double().mean().item())
            rhat.append(mcmc.r_hat(kept[:, [0, 1, -2, -1], 0]))
        seconds = (time.perf_counter() - t0) / seeds
        model = f"{name}, two modes 8 apart"
        steps = budget if name.startswith("MALA at") else n_steps
        out.append(
            record(model, "share in the right mode (exact 0.7)", share, seconds, 0.7, steps=steps)
        )
        out.append(record(model, "R-hat of x1, 2 chains per mode", rhat, seconds, 1.0, steps=steps))
    return out


TUNED_STD = torch.logspace(-1, 1, 8, dtype=torch.float64)  # 0.1 ... 10


def tuned(seeds: int, chains: int = 200, n_steps: int = 1000) -> list[dict]:
    """The ESS per step of the narrowest and the widest coordinate, step alone against step
    and scales tuned, at the same warm-up (400 steps) and sampling budget."""

    def U(x):
        return 0.5 * (x / TUNED_STD).pow(2).sum(1)

    out = []
    for name in ("the step alone (adaptive_mala)", "step and scales (tuned_mala)"):
        ess = {"narrowest": [], "widest": []}
        t0 = time.perf_counter()
        for seed in range(seeds):
            g = torch.Generator().manual_seed(seed)
            x0 = TUNED_STD * torch.randn(chains, 8, generator=g, dtype=torch.float64)
            if name.startswith("the step"):
                trace = mcmc.adaptive_mala(U, x0, 400, n_steps, 0.01, 0.574, g)[0]
            else:
                trace = mcmc.tuned_mala(U, x0, 400, n_steps, 0.01, 0.574, g)[0]
            for which, k in (("narrowest", 0), ("widest", 7)):
                per_chain = [mcmc.effective_sample_size(trace[:, c, k]) for c in range(20)]
                ess[which].append(statistics.mean(per_chain) / n_steps)
        seconds = (time.perf_counter() - t0) / seeds
        for which, values in ess.items():
            sd = TUNED_STD[0 if which == "narrowest" else -1].item()
            out.append(
                record(
                    f"{name}, 8-D Gaussian with sd 0.1 to 10",
                    f"ESS per step of the {which} coordinate (sd {sd:g})",
                    values,
                    seconds,
                    steps=n_steps,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.mcmc", __doc__)
    parser.add_argument(
        "commands", nargs="+", choices=["samplers", "bad-start", "tempering", "slips", "tuned"]
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--chains", type=int, default=None, help="override (smoke tests)")
    parser.add_argument("--n-steps", type=int, default=None, help="override (smoke tests)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    written = []
    for command in args.commands:
        kwargs = {} if args.chains is None else {"chains": args.chains}
        if args.n_steps is not None:
            kwargs["n_steps"] = args.n_steps
        if command == "bad-start":
            recs = samplers(args.seeds, bad_start=True, **kwargs)
        else:
            recs = {"samplers": samplers, "tempering": tempering, "slips": slips, "tuned": tuned}[
                command
            ](args.seeds, **kwargs)
        records.write("mcmc", recs, records.results_dir(args))
        written += recs
    for r in written:
        print(f"{r['model']:58s} {r['metric']:36s} {r['value']:9.4f} ± {r['spread']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
