"""Checks of lecture 04 (GAN): the two players' losses, mode coverage, a PacGAN training step,
and the build assignment, a PacGAN from scratch."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import data, gan, metrics
from .builds import (
    returned_problem,
    ring_coverage,
    ring_of_gaussians,
    samples_spread,
    state_changes,
    step_changes,
)
from .harness import (
    Build,
    Exact,
    Judging,
    Property,
    StudentError,
    exercise,
    generator,
    seeded,
)


def _logit_cases():
    g = generator(4)
    cases = [
        (
            f"B={B}, logits of scale {s}",
            (
                s * torch.randn(B, generator=g, dtype=torch.float64),
                s * torch.randn(B, generator=g, dtype=torch.float64),
            ),
        )
        for B, s in ((8, 1.0), (1, 3.0), (50, 0.1))
    ]
    big = torch.tensor([-800.0, -50.0, 0.0, 50.0, 800.0], dtype=torch.float64)
    cases.append(("confident discriminators, |logit| up to 800", (big, big.flip(0))))
    return cases


def _d_loss_diagnoses(args, out, ref) -> str | None:
    real, fake = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per pair, shape (B,): no mean, no sum."
    out = out.detach().to(real)
    if not torch.isfinite(out).all():
        return (
            "log(sigmoid(l)) underflows for large |l|: write it as -softplus(-l), and "
            "log(1 - sigmoid(l)) as -softplus(l)."
        )
    if torch.allclose(out, -ref, atol=1e-6):
        return "the sign: D *maximises* log D(x) + log(1 - D(G(z))), so its loss is minus that."
    swapped = torch.nn.functional.softplus(real) + torch.nn.functional.softplus(-fake)
    if torch.allclose(out, swapped, atol=1e-6):
        return "real and fake are swapped: D(x) should be near 1 on real data, near 0 on fakes."
    return "loss = -[log D(x) + log(1 - D(G(z)))] with D = sigmoid(logit)."


@exercise(gan.discriminator_loss)
def discriminator_loss(fn: Callable) -> Judging:
    """Check ``fn(real_logits, fake_logits) -> (B,)``: ``-[log D(x) + log(1 - D(G(z)))]``."""
    return Judging(_logit_cases(), Exact(["loss"]), diagnoses=[_d_loss_diagnoses])


def _g_loss_diagnoses(args, out, ref) -> str | None:
    (fake,) = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per generated example, shape (B,)."
    out = out.detach().to(fake)
    if not torch.isfinite(out).all():
        return "-log(sigmoid(l)) overflows for very negative l: write it as softplus(-l)."
    minimax = -torch.nn.functional.softplus(fake)
    if torch.allclose(out, minimax, atol=1e-6):
        return (
            "that is the minimax loss log(1 - D(G(z))), which saturates; the non-saturating "
            "loss is -log D(G(z))."
        )
    if torch.allclose(out, -ref, atol=1e-6):
        return "the sign: the generator *maximises* log D(G(z)), so it minimises -log D(G(z))."
    return "loss = -log D(G(z)) = -log sigmoid(logit)."


@exercise(gan.generator_loss_nonsaturating)
def generator_loss_nonsaturating(fn: Callable) -> Judging:
    """Check ``fn(fake_logits) -> (B,)``: the non-saturating generator loss ``-log D(G(z))``."""
    cases = [(d, (f,)) for d, (_, f) in _logit_cases()]
    return Judging(cases, Exact(["loss"]), diagnoses=[_g_loss_diagnoses])


def _coverage_cases():
    g = generator(5)
    ring, grid = data.ring_centres(), data.grid_centres()
    collapsed = ring[:3][torch.randint(3, (300,), generator=g)] + 0.01 * torch.randn(
        300, 2, generator=g
    )
    spread = grid[torch.randint(25, (2500,), generator=g)] + 0.05 * torch.randn(
        2500, 2, generator=g
    )
    blurry = 3 * torch.randn(1000, 2, generator=g)  # near every mode, on none of them
    edge = torch.tensor([[0.0, 0.0], [2.0 + 0.149, 0.0], [0.0, 2.0 + 0.151]])  # 3 std = 0.15
    return [
        ("a ring GAN collapsed onto 3 of 8 modes", (collapsed, ring, 0.01)),
        ("good samples on the 25-grid", (spread, grid, 0.05)),
        ("a blurry generator on the 25-grid", (blurry, grid, 0.05)),
        ("points just inside and just outside 3 std of a mode", (edge, grid, 0.05)),
    ]


def _coverage_diagnoses(args, out, ref) -> str | None:
    samples, centres, std = args
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "return a pair (modes covered, high-quality share)."
    modes, share = out
    if isinstance(share, (int, float)) and share > 1:
        return "the high-quality share is a fraction in [0, 1], not a percentage."
    dist = torch.cdist(samples, centres)
    near = (dist <= 3 * std).any(0).sum().item()
    if modes == near and modes != ref[0]:
        return (
            "count a mode only through samples whose *nearest* centre it is (argmin), not every "
            "centre within 3 std of some sample."
        )
    if modes == len(centres) and ref[0] < len(centres):
        return "a mode counts as covered only when a *high-quality* sample has it as nearest."
    return (
        "high quality: distance to the nearest centre <= 3 std; a mode is covered when at least "
        "one high-quality sample has it as its nearest centre."
    )


@exercise(metrics.mode_coverage)
def mode_coverage(fn: Callable) -> Judging:
    """Check ``fn(samples, centres, std) -> (modes, high_quality)`` (``min_count = 1``)."""

    def reference(samples, centres, std):
        return metrics.mode_coverage(samples, centres, std)

    reference.__name__, reference.__module__ = "mode_coverage", metrics.__name__

    def as_tensors(f):
        def wrapped(*args):
            out = f(*args)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                return out
            return torch.tensor(float(out[0])), torch.tensor(float(out[1]))

        return wrapped

    return Judging(
        _coverage_cases(),
        Exact(["modes", "high_quality"], atol=1e-6),
        diagnoses=[lambda a, o, r: _coverage_diagnoses(a, _untensor(o), _untensor(r))],
        student=as_tensors(fn),
        reference=as_tensors(reference),
    )


def _untensor(out):
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return tuple(float(v) if torch.is_tensor(v) else v for v in out)
    return out


# --------------------------------------------------------------------------- training_step


def _step_variant(model, real, z, opt_d, opt_g, *, minimax=False, summed=False, g_first=False):
    """``gan.training_step`` with one named mistake, to tell the student which one it was."""

    def d_step():
        d_per_pack = gan.discriminator_loss(model.logits(real), model.logits(fake.detach()))
        d_loss = d_per_pack.sum() if summed else d_per_pack.mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        return d_loss.detach()

    def g_step():
        loss = gan.generator_loss_minimax if minimax else gan.generator_loss_nonsaturating
        g_per_pack = loss(model.logits(fake))
        g_loss = g_per_pack.sum() if summed else g_per_pack.mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward(inputs=list(model.G.parameters()))
        opt_g.step()
        return g_loss.detach()

    fake = model.G(z)
    if g_first:
        g_loss = g_step()
        return d_step(), g_loss
    return d_step(), g_step()


def _step_cases():
    return [
        ("one sample per pack (plain GAN), 8 samples", (1, 8, 0)),
        ("PacGAN2, 6 samples in 3 packs", (2, 6, 1)),
        ("PacGAN4, 16 samples in 4 packs, a batch-norm generator", (4, 16, 2)),
    ]


def _step_world(pack: int, seed: int):
    """A small GAN on 2-D points and its two Adam optimisers, the same for every caller."""
    torch.manual_seed(seeded(seed))
    if pack == 4:
        G = gan.toy_generator(hidden=16, depth=2)
        D = gan.toy_mlps(pack=pack, hidden=16, depth=2)[1]
    else:
        G, D = gan.toy_mlps(pack=pack, hidden=16, depth=2)
    model = gan.GAN(G, D, 2, pack=pack).double()
    opt_d = torch.optim.Adam(model.D.parameters(), lr=1e-2, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(model.G.parameters(), lr=1e-2, betas=(0.5, 0.9))
    return model, opt_d, opt_g


def _run_steps(step, pack, n, seed, n_steps=2):
    """Two steps of ``step`` from the same start; the losses and parameters after each."""
    model, opt_d, opt_g = _step_world(pack, seed)
    g = generator(100 + seed)
    trace = []
    for _ in range(n_steps):
        real = torch.randn(n, 2, generator=g, dtype=torch.float64) + 2
        z = torch.randn(n, 2, generator=g, dtype=torch.float64)
        out = step(model, real, z, opt_d, opt_g)
        trace.append(
            (
                out,
                [p.detach().clone() for p in model.D.parameters()],
                [p.detach().clone() for p in model.G.parameters()],
            )
        )
    return trace


def _same(a: list, b: list) -> bool:
    return all(torch.allclose(x, y, rtol=1e-6, atol=1e-9) for x, y in zip(a, b))


def _losses_problem(out) -> str | None:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "return the pair (d_loss, g_loss)"
    for name, v in zip(("d_loss", "g_loss"), out):
        if not torch.is_tensor(v) or v.numel() != 1:
            return f"{name} must be a scalar tensor (the mean over packs), got {v!r}"
    return None


STALE = (
    "the generator's loss uses logits computed *before* the discriminator's update (which "
    "changed D's parameters in place, hence torch's error): compute the fake packs' logits "
    "again after opt_d.step()."
)


def _training_step_property(run, args) -> str | None:
    pack, n, seed = args
    try:
        mine = _run_steps(run, pack, n, seed)
    except StudentError as err:
        if "modified by an inplace operation" in err.result.details:
            return STALE
        raise
    ref = _run_steps(gan.training_step, pack, n, seed)
    for k, ((out, d_mine, g_mine), (ref_out, d_ref, g_ref)) in enumerate(zip(mine, ref)):
        when = "on the first step" if k == 0 else "on the second step (the first was right)"
        problem = _losses_problem(out)
        if problem:
            return problem + "."
        d_loss, g_loss = (float(v.detach()) for v in out)
        if not math.isclose(d_loss, float(ref_out[0]), rel_tol=1e-6, abs_tol=1e-9):
            summed = _run_steps(lambda *a: _step_variant(*a, summed=True), pack, n, seed)
            if math.isclose(d_loss, float(summed[k][0][0]), rel_tol=1e-6):
                return "average the losses over the packs (.mean()), do not sum them."
            return (
                f"d_loss {when} is {d_loss:.6g}, expected {float(ref_out[0]):.6g}: the mean "
                f"over packs of discriminator_loss(D(real packs), D(fake packs)); pack "
                f"consecutive samples, {pack} at a time: x.reshape(B // {pack}, {pack} * 2) "
                f"(gan.pack)."
            )
        if not _same(d_mine, d_ref):
            return (
                f"the discriminator's parameters differ after its update {when}: zero its "
                f"gradients before d_loss.backward() (opt_d.zero_grad()), then opt_d.step()."
            )
        if not _same(g_mine, g_ref):
            for mistake, hint in (
                (
                    "minimax",
                    "that is the minimax generator loss log(1 - D(G(z))); use the "
                    "non-saturating -log D(G(z)).",
                ),
                (
                    "g_first",
                    "the generator moved before the discriminator: first D's step, "
                    "then G's step against the *updated* D.",
                ),
            ):
                variant = _run_steps(
                    lambda *a, m=mistake: _step_variant(*a, **{m: True}), pack, n, seed
                )
                if _same(g_mine, variant[k][2]):
                    return hint
            return (
                f"the generator's parameters differ after its update {when} (its loss "
                f"{g_loss:.6g}, expected {float(ref_out[1]):.6g}): detach the fakes in D's "
                f"loss, zero G's gradients before g_loss.backward(), and use the mean of "
                f"-log D(G(z)) over the fake packs under the updated D."
            )
    return None


@exercise(gan.training_step)
def training_step(fn: Callable) -> Judging:
    """Check ``fn(model, real, z, opt_d, opt_g) -> (d_loss, g_loss)``: one PacGAN step.

    Two steps from the same start as ``gan.training_step``, with packs of 1, 2 and 4 (the
    last with a batch-norm generator): the returned losses and both players' parameters
    after each step must match.
    """

    def reference(model, real, z, opt_d, opt_g):
        return gan.training_step(model, real, z, opt_d, opt_g)

    reference.__name__, reference.__module__ = "training_step", gan.__name__
    return Judging(_step_cases(), Property(_training_step_property), reference=reference)


# ------------------------------------------------------------------ pacgan_from_scratch (build)

# the thresholds, calibrated by ``python -m benchmarks.assignments`` (the reference build on 20
# hidden variants and every recorded wrong build: benchmarks/results/assignments.json)
MIN_MODES = 7.0  # of the hidden ring's 8 modes, covered by 2,500 samples
MIN_HIGH_QUALITY = 0.2  # share of the samples within 3 std of a mode

ARCHITECTURE = (
    "G Linear(latent_dim, H), ReLU, Linear(H, H), ReLU, Linear(H, 2); D Linear(2 pack, H), "
    "ReLU, Linear(H, H), ReLU, Linear(H, 1) on packs of pack consecutive points side by side"
)
GROUPS = {"the discriminator's change": "D.", "the generator's change": "G."}
SAMPLES_HINT = (
    "the samples: after the training loop, n_samples points G(z), each z drawn afresh from "
    "N(0, I) (torch.randn(n_samples, latent_dim)), with the trained G."
)
LOSSES_HINT = (
    "row t of the losses holds the step's two losses, each a mean over the packs: D's "
    "discriminator_loss (-log D on the real packs plus -log(1 - D) on the generated ones, "
    "neither halved nor summed over the packs), then G's non-saturating -log D(G(z))."
)


def _initial_weights(pack: int, hidden: int, latent_dim: int, seed: int) -> dict[str, torch.Tensor]:
    """The weights of fresh ``toy_mlps`` networks (two hidden ReLU layers each), with the
    build's keys (``gan.build_weights``)."""
    torch.manual_seed(seeded(seed))
    G, D = gan.toy_mlps(pack=pack, hidden=hidden, depth=2, latent_dim=latent_dim)
    return gan.build_weights(gan.GAN(G, D, latent_dim, pack=pack))


def _returned_problem(out, init: dict, x, steps: int, lr, batch, pack, n_samples) -> str | None:
    """What is wrong with the build's ``(state, losses, samples)``, in words, or ``None``."""
    return returned_problem(
        out, init, ARCHITECTURE, {"losses": (steps, 2), "samples": (n_samples, 2)}
    )


def _gan_step_cases():
    cases = []
    for i, (pack, b, steps) in enumerate(((2, 8, 1), (4, 4, 2))):
        init = _initial_weights(pack, 8, 2, 130 + i)
        point = torch.randn(1, 2, generator=generator(132 + i))
        x = point.expand(64, -1).clone()  # one point repeated: any way of drawing rows is alike
        what = "one step" if steps == 1 else f"{steps} steps"
        cases.append(
            (
                f"a PacGAN{pack} of 2x8 MLPs, {what} at lr 0.01, batches of {b} packs, on 64 "
                "copies of one point, then 4 samples",
                (init, x, steps, 0.01, b, pack, 4),
            )
        )
    return cases


def _covers_the_ring(run, args) -> str | None:
    """After the budget, the GAN's samples cover the hidden ring's modes, most of them close."""
    x, centres, std, steps, lr, batch, seed = args
    init = _initial_weights(2, 64, 8, seed)
    build_args = (init, x, steps, lr, batch, 2, 10)
    out = run(*build_args)
    problem = _returned_problem(out, *build_args)
    if problem:
        return problem
    G, _ = gan.toy_mlps(pack=2, hidden=64, depth=2, latent_dim=8)
    G.load_state_dict({n.removeprefix("G."): t for n, t in out[0].items() if n.startswith("G.")})
    torch.manual_seed(seeded(seed + 1))
    with torch.no_grad():  # the weights the build trained, sampled by the library
        modes, good = ring_coverage(G(torch.randn(2500, 8)), centres, std)
    if modes >= MIN_MODES and good >= MIN_HIGH_QUALITY:
        return None
    return (
        f"after {steps} steps the GAN's 2,500 samples cover {modes} of the ring's 8 modes "
        f"(at least {MIN_MODES:.0f} needed), {good:.0%} of them within 3 std of a mode (at least "
        f"{MIN_HIGH_QUALITY:.0%} needed; the weights you return are sampled by {ARCHITECTURE}). "
        "Check the loop: one Adam per player made once; each step batch_size packs of rows of "
        "x drawn at random with replacement (torch.randint) and of generated points G(z), z "
        "drawn afresh every step, then D's step and G's step, each gradient zeroed before its "
        "backward."
    )


@exercise(
    gan.pacgan_from_scratch,
    gan.train_gan,
    gan.fit,
    gan.training_step,
    gan.GAN.prior,
    gan.GAN.generate,
)
def pacgan_from_scratch(fn: Callable) -> Build:
    """Check the build ``fn(init, x, steps, lr, batch_size, pack, n_samples) -> (state,
    losses, samples)``: a PacGAN written from scratch (two hidden ReLU layers in each
    network), started from the weights ``init``, trained by two Adams, one discriminator
    step and one generator step a step, on ``batch_size`` packs of real and generated
    points, then sampled.

    Properties (half the points): the change of the discriminator and of the generator, the
    losses and samples returned and the samples' spread, after one step of a PacGAN2 and
    after two of a PacGAN4, over 300 runs from the same weights on one point repeated, have
    the distribution of the reference's (``builds.step_changes``). Outcome (the other half):
    a PacGAN2 of 2x64 MLPs trained for 2,000 steps (lr 1e-3, batches of 64 packs) on 4,096
    points of a hidden ring of 8 Gaussians: with the weights it returns, 2,500 samples cover
    at least ``MIN_MODES`` modes, at least ``MIN_HIGH_QUALITY`` of them within 3 std of a
    mode (the points come in order of their mode: a loop must draw its rows at random). The
    library's GAN, its step and its loops are refused; ``discriminator_loss`` and
    ``generator_loss_nonsaturating`` (exercises 1 and 2) are not.
    """
    properties = step_changes(
        fn,
        gan.pacgan_from_scratch,
        GROUPS,
        _gan_step_cases(),
        seed=135,
        hint=(
            f"the networks: {ARCHITECTURE}, loaded from init. One Adam per player, "
            "torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999)), made once before the loop; "
            "each step n = batch_size * pack rows of x drawn with replacement (torch.randint) "
            "and n points G(z), z ~ N(0, I) (Gaussian noise), then D's step and G's step "
            "against the updated D, each gradient zeroed before its backward (G's backward "
            "also reaches D's weights), neither step by training_step (yours or the "
            "library's); row t of the losses holds the step's two losses (D's mean "
            "discriminator_loss over the packs, then G's mean non-saturating loss); the "
            "samples are G(z) after training."
        ),
        never_moved=(
            "each player's optimiser steps over that player's own parameters, once in each "
            "of the steps iterations."
        ),
        wrong_way=(
            "D minimises discriminator_loss(logits of the real packs, logits of the "
            "generated packs), G the non-saturating loss."
        ),
        returned=("the losses returned", "the samples returned", "the samples' spread"),
        group_hints={
            "the losses returned": LOSSES_HINT,
            "the samples returned": SAMPLES_HINT,
            "the samples' spread": SAMPLES_HINT,
        },
        stepper=state_changes(GROUPS, _returned_problem, samples_spread),
    )
    x, centres = ring_of_gaussians(generator(137), 4096)
    outcome = Judging(
        [
            (
                "2,000 steps (lr 1e-3, batches of 64 packs) of a PacGAN2 of 2x64 MLPs on 4,096 "
                "points of a hidden ring of 8 Gaussians; 2,500 samples scored",
                (x, centres, 0.05, 2000, 1e-3, 64, 138),
            )
        ],
        [Property(_covers_the_ring)],
    )
    return Build(properties, outcome)
