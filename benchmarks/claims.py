"""The course's claims registry: every headline claim of lectures 01-09, with its evidence.

Each entry names the sentence as its notebook states it (``text``), a phrase of the markdown
cell that states it (``cell``), the records it rests on (``refs``: ``"file: model / metric"``
in ``benchmarks/results/``), the ``control`` (what the arms share besides the one difference
the claim names) and the ``check`` that computes its verdict from those records: for a
comparison at least 10 seeds per arm and Welch's t-test at 5%, or every seed in order; for a
measurement its value and spread. ``tests/test_claims.py`` fails when a verdict no longer
holds, and ``python -m dgm.course notebooks`` writes each verdict's line into its notebook
(between ``<!-- claim KEY -->`` markers).

Paper figures quoted in a lecture's prose are registered with their source (``paper``), and
numbers the prose poses rather than measures (a question's premise) as ``hypothetical``.
"""

from __future__ import annotations

from benchmarks.diffusion import DDIM_STEPS
from dgm.course.claims import Registry, Verdict, compare, fmt, measured, per_seed

REGISTRY = Registry()
claim, paper, exact = REGISTRY.claim, REGISTRY.paper, REGISTRY.exact

GRID_MLP = "grid, 3x128 MLPs"
MLP_CONTROL = (
    "same 3x128 ReLU MLPs for G and D, Adam 1e-3 with betas (0.5, 0.9), 15,000 steps, "
    "2,500 samples scored, seeds 0-9"
)


def _every_seed(record: dict, what: str, unit: str = "", **bounds) -> Verdict:
    """Every seed of ``record`` within ``low``/``high`` (``dgm.course.claims.measured``)."""
    return measured(per_seed(record), what=what, unit=unit, **bounds)


def _all_at_least(what: str, low: float, unit: str = ""):
    return lambda r: _every_seed(r, what, unit, low=low)


# --------------------------------------------------------------------------- exact claims
# Identities and invariants: the library's tests check them to floating-point precision.

exact(
    "01.elbo-identity",
    text="log p(x) = ELBO + KL(q || p(z | x)) for any q, and the E-step closes the gap",
    cell="the gap closes",
    tests=(
        "tests/test_em.py::test_elbo_plus_posterior_kl_equals_log_likelihood",
        "tests/test_em.py::test_elbo_gap_is_zero_after_an_e_step",
    ),
)
exact(
    "01.monotone",
    text="Under EM the log-likelihood never decreases",
    cell="never decreases",
    tests=(
        "tests/test_em.py::test_em_log_likelihood_never_decreases",
        "tests/test_em.py::test_m_step_is_a_stationary_point_of_the_elbo",
        "tests/test_em.py::test_bernoulli_em_never_decreases_its_objective",
    ),
)
exact(
    "01.sklearn",
    text="The course's EM matches scikit-learn's to float64 precision from the same start",
    cell="matches scikit-learn's to float64 precision",
    tests=("tests/test_em.py::test_em_matches_scikit_learn_from_the_same_start",),
)
exact(
    "02.baseline-unbiased",
    text="The score-function phi-gradient is unbiased, with or without the leave-one-out baseline",
    cell="independent of that sample, so still unbiased",
    tests=(
        "tests/test_wake_sleep.py::test_score_function_phi_gradient_is_unbiased",
        "tests/test_wake_sleep.py::"
        "test_the_leave_one_out_baseline_keeps_the_gradient_unbiased_and_cuts_its_variance",
    ),
)
exact(
    "03.linear-gaussian",
    text="On a linear-Gaussian model ELBO + KL equals log p(x)",
    cell="matched $\\log p(x)$ to float64 precision",
    tests=(
        "tests/test_vae.py::test_elbo_plus_posterior_kl_equals_log_likelihood",
        "tests/test_vae.py::test_exact_elbo_matches_its_monte_carlo_estimate",
    ),
)
exact(
    "03.iwae-bound",
    text="IWAE's bound is at least the ELBO and rises with K",
    cell="rises from the ELBO",
    tests=("tests/test_vae.py::test_iwae_bound_is_at_least_the_elbo_and_grows_with_k",),
)
exact(
    "04.value-at-d-star",
    text="At the optimal discriminator the GAN's value is 2 JSD - log 4",
    cell="the value at $D^*$ equals",
    tests=(
        "tests/test_gan.py::test_training_a_discriminator_recovers_the_optimal_one",
        "tests/test_gan.py::test_value_at_the_optimal_discriminator_is_minus_log4_plus_twice_the_jsd",
    ),
)
exact(
    "04.kl-minus-two-jsd",
    text="At D* the non-saturating generator's gradient is that of KL(p_g || p_data) - 2 JSD",
    cell="the non-saturating step follows",
    tests=(
        "tests/test_unified.py::test_the_nonsaturating_generator_at_d_star_follows_kl_minus_two_jsd",
    ),
)
exact(
    "04.minimax-saturates",
    text="The minimax generator loss's slope in the logit is -D, the non-saturating one's -(1 - D)",
    cell="The first vanishes exactly when the generator is worst",
    tests=(
        "tests/test_gan.py::test_minimax_generator_loss_saturates_where_the_nonsaturating_one_does_not",
    ),
)
exact(
    "05.lemma-1",
    text="Lemma 1 holds with the model's marginal and fails with the conditional",
    cell="we checked the identity by finite differences",
    tests=(
        "tests/test_unified.py::test_lemma_1_holds_with_the_marginal",
        "tests/test_unified.py::test_lemma1_gradients_agree_for_both_discriminators",
        "tests/test_unified.py::test_lemma_1_is_false_with_the_conditional_in_place_of_the_marginal",
    ),
)
exact(
    "06.two-phases",
    text="An energy model's likelihood gradient is the positive minus the negative phase",
    cell="They agree to float precision",
    tests=(
        "tests/test_energy.py::test_the_exact_nll_gradient_is_the_positive_minus_the_negative_phase",
    ),
)
exact(
    "07.mala-ratio",
    text="MALA's acceptance is the Metropolis-Hastings ratio with both proposal densities",
    cell="MALA's log acceptance ratio",
    tests=(
        "tests/test_mcmc.py::test_mala_log_acceptance_is_the_metropolis_hastings_ratio_with_full_densities",
        "tests/test_mcmc.py::test_mala_and_mh_keep_a_correlated_gaussian_at_a_large_step",
    ),
)
exact(
    "08.causal",
    text="Both PixelCNNs are causal; the plain one has a blind spot and the gated one none",
    cell="Both networks are causal",
    tests=(
        "tests/test_pixelcnn.py::test_no_output_reads_its_own_pixel_or_a_later_one",
        "tests/test_pixelcnn.py::test_the_plain_model_has_a_blind_spot_and_the_gated_one_has_none",
        "tests/test_pixelcnn.py::test_the_likelihood_is_normalised_over_the_last_pixels",
    ),
)

# --------------------------------------------------------------------------- 03 VAE

_EST = "squared error over reparameterization's"
_EST_S = (4, 16, 64)
claim(
    "03.estimators",
    text=(
        "Lecture 02's baseline removes part of the score function's noise; it does not close "
        "the gap to reparameterization"
    ),
    cell="it does not close the gap",
    refs=tuple(
        f"vae: score function{b}, linear-Gaussian 8x3, S = {S} / {_EST}"
        for S in _EST_S
        for b in ("", " with baseline")
    ),
    control="the same linear-Gaussian model, data point, q and sample count S for the three "
    "estimators; 400 estimates each; 10 models (seeds 0-9)",
    check=lambda *r: _estimators(r),
)


def _estimators(r) -> Verdict:
    parts = []
    for i, S in enumerate(_EST_S):
        plain, base = r[2 * i], r[2 * i + 1]
        parts.append(
            compare(
                per_seed(plain),
                per_seed(base),
                names=("without", "with the baseline"),
                what=f"S = {S}, score-function error over reparameterization's",
            )
        )
        parts.append(_every_seed(base, f"S = {S}, with the baseline", low=1.0))
    return _both(*parts)


# --------------------------------------------------------------------------- 04 GANs

claim(
    "04.pacgan-vs-samples",
    text=(
        "On the 25-grid PacGAN4 covers more modes than a plain GAN that sees as many samples a step"
    ),
    cell="as many samples a step",
    refs=(
        f"gan: pacgan4 GAN, {GRID_MLP} / modes covered (of 25)",
        "gan: nonsaturating GAN at 4x the batch (PacGAN4's samples a step), "
        f"{GRID_MLP} / modes covered (of 25)",
        f"gan: nonsaturating GAN, {GRID_MLP} / modes covered (of 25)",
    ),
    control=MLP_CONTROL + "; PacGAN4 and the 4x-batch GAN both draw 1,024 samples a step",
    check=lambda pac, wide, plain: _packing(pac, wide, plain),
)


def _packing(pac: dict, wide: dict, plain: dict) -> Verdict:
    claimed = compare(
        per_seed(pac),
        per_seed(wide),
        names=("PacGAN4", "the GAN at 4x the batch"),
        what="modes covered (of 25)",
    )
    batch = compare(
        per_seed(wide),
        per_seed(plain),
        names=("the GAN at 4x the batch", "the GAN at 1x"),
        what="The batch alone, modes covered (of 25)",
    )
    return Verdict(claimed.holds, f"{claimed.line} {batch.line}")


claim(
    "04.pacgan-quality",
    text="PacGAN4 ended with fewer high-quality samples than the GAN at its batch (marginal)",
    cell="high-quality samples than the plain GAN at the same batch",
    refs=(
        "gan: nonsaturating GAN at 4x the batch (PacGAN4's samples a step), "
        f"{GRID_MLP} / high-quality samples (%)",
        f"gan: pacgan4 GAN, {GRID_MLP} / high-quality samples (%)",
    ),
    control=MLP_CONTROL + "; both draw 1,024 samples a step",
    check=lambda wide, pac: compare(
        per_seed(wide),
        per_seed(pac),
        names=("the GAN at 4x the batch", "PacGAN4"),
        what="high-quality samples",
        unit="%",
    ),
)
claim(
    "04.minimax-quality",
    text="On the grid the minimax generator had fewer high-quality samples than the "
    "non-saturating one",
    cell="had fewer good samples than the non-saturating one",
    refs=(
        f"gan: nonsaturating GAN, {GRID_MLP} / high-quality samples (%)",
        f"gan: minimax GAN, {GRID_MLP} / high-quality samples (%)",
    ),
    control=MLP_CONTROL + "; only the generator's loss differs",
    check=lambda ns, mm: compare(
        per_seed(ns),
        per_seed(mm),
        names=("non-saturating", "minimax"),
        what="high-quality samples",
        unit="%",
    ),
)
claim(
    "04.minimax-modes",
    text="Ten seeds do not establish that the minimax generator covers more modes",
    cell="do not establish that it covers more modes",
    refs=(
        f"gan: minimax GAN, {GRID_MLP} / modes covered (of 25)",
        f"gan: nonsaturating GAN, {GRID_MLP} / modes covered (of 25)",
    ),
    control=MLP_CONTROL + "; only the generator's loss differs",
    # the claim is the absence of a detected difference: it fails once one is detected
    check=lambda mm, ns: _not_established(
        compare(per_seed(mm), per_seed(ns), names=("minimax", "non-saturating"), what="modes")
    ),
)


def _not_established(v: Verdict) -> Verdict:
    return Verdict(not v.holds, v.line)


_RING = "ring, 2x128 MLPs, z in R^256, D at lr 0.0001"
claim(
    "04.ring",
    text="On the ring in Metz et al.'s set-up PacGAN4 held all 8 modes on every seed",
    cell="held all 8 on every",
    refs=(
        f"gan: pacgan4 GAN, {_RING} / modes covered (of 8)",
        f"gan: nonsaturating GAN, {_RING} / modes covered (of 8)",
    ),
    control="same 2x128 MLPs, z in R^256, D at lr 1e-4, 12,000 steps, 5 seeds; PacGAN4 draws "
    "4x the samples a step (no equal-samples control on the ring)",
    check=lambda pac, plain: Verdict(
        per_seed(pac) == [8] * pac["seeds"] and plain["value"] < 8,
        f"PacGAN4 8 modes on each of {pac['seeds']} seeds; the non-saturating GAN "
        f"{fmt(plain['value'])} ± {fmt(plain['spread'], 2)} modes (mean ± sd; the record keeps "
        "no per-seed values).",
    ),
)


def _both(*verdicts: Verdict) -> Verdict:
    return Verdict(all(v.holds for v in verdicts), " ".join(v.line for v in verdicts))


# --------------------------------------------------------------------------- 05 unified view

claim(
    "05.small-mode",
    text=(
        "With two modes weighted 10:1 the GAN dropped the small one on every seed, and so did "
        "the minimax GAN; EM kept its share; the VAE kept it on 4 of 5 seeds, at a fraction of "
        "its weight"
    ),
    cell="Both GANs put nothing on the small mode, on every seed",
    refs=(
        "unified: GAN, 10:1 modes / samples on the small mode (%)",
        "unified: minimax GAN, 10:1 modes / samples on the small mode (%)",
        "unified: Gaussian mixture by EM, 10:1 modes / samples on the small mode (%)",
        "unified: VAE, 10:1 modes / samples on the small mode (%)",
    ),
    control="same data (the small mode holds 9.09% of it), 5,000 steps of 256 points for the "
    "GANs and the VAE, the same seeds 0-4",
    check=lambda g, mm, em, vae: _small_mode(g, mm, em, vae),
)


def _small_mode(g: dict, mm: dict, em: dict, vae: dict) -> Verdict:
    gans = [
        _every_seed(r, f"{name}, samples on the small mode", "%", high=0.0)
        for name, r in (("The non-saturating GAN", g), ("The minimax GAN", mm))
    ]
    em_ok = _every_seed(em, "EM", "%", low=7.5, high=10.5)
    kept = sum(v > 0 for v in per_seed(vae))
    vae_ok = _every_seed(vae, "The VAE", "%", high=9.09)
    vae_ok = Verdict(
        vae_ok.holds and kept == 4,
        f"{vae_ok.line[:-1]}; it kept the small mode on {kept} of {vae['seeds']} seeds.",
    )
    parts = [*gans, em_ok, vae_ok]
    return Verdict(all(v.holds for v in parts), " ".join(v.line for v in parts))


def _means(a: dict, b: dict, names: tuple[str, str], unit: str = "") -> str:
    return (
        f"{names[0]} {fmt(a['value'])} ± {fmt(a['spread'], 2)}{unit} against {names[1]} "
        f"{fmt(b['value'])} ± {fmt(b['spread'], 2)}{unit} (mean ± sd over {a['seeds']} seeds)"
    )


claim(
    "05.iwgan-mnist",
    text="On MNIST at this budget IWGAN was no better than the GAN",
    cell="IWGAN was no better on MNIST",
    refs=(
        "unified: IWGAN (MNIST) / Fréchet distance (n=10000)",
        "unified: GAN (MNIST) / Fréchet distance (n=10000)",
        "unified: IWGAN (MNIST) / Inception score (n=10000)",
        "unified: GAN (MNIST) / Inception score (n=10000)",
    ),
    control="same DCGAN, initialisation, data order, 2,000 steps and batch; 10,000 samples scored",
    check=lambda fd_iw, fd_gan, is_iw, is_gan: Verdict(
        fd_iw["value"] >= fd_gan["value"] and is_iw["value"] <= is_gan["value"],
        "Fréchet distance "
        + _means(fd_iw, fd_gan, ("IWGAN", "the GAN"))
        + "; Inception score "
        + _means(is_iw, is_gan, ("IWGAN", "the GAN"))
        + ": no gain on either score (the "
        "records keep means only, so this is not a test that IWGAN is worse).",
    ),
)
claim(
    "05.aavae",
    text=(
        "At 5 seeds the AA-VAE showed no significant gain in test ELBO on 10% of MNIST, and a "
        "gain as large as the paper's 1.44 nats is excluded"
    ),
    cell="carry only a small",
    refs=(
        "unified: AA-VAE (MNIST, 0.1 of the data) / test ELBO",
        "unified: VAE (MNIST, 0.1 of the data) / test ELBO",
    ),
    control="same VAE network, initialisation, 6,000 digits and 8,000 steps; test ELBO on the "
    "fixed test bits",
    check=lambda aa, plain: _aavae(aa, plain),
)


def _aavae(aa: dict, plain: dict) -> Verdict:
    """Welch's one-sided tests from the records' means and spreads (they keep no per-seed
    values): is there a gain, and is it below the paper's 1.44 nats?"""
    from scipy import stats

    def p_greater(a_mean, a_sd, b_mean, b_sd):
        return stats.ttest_ind_from_stats(
            a_mean,
            a_sd,
            aa["seeds"],
            b_mean,
            b_sd,
            plain["seeds"],
            equal_var=False,
            alternative="greater",
        ).pvalue

    gain = aa["value"] - plain["value"]
    p_gain = p_greater(aa["value"], aa["spread"], plain["value"], plain["spread"])
    # a gain of 1.44 nats would put the AA-VAE at plain + 1.44: test that it falls short of it
    p_short = p_greater(plain["value"] + 1.44, plain["spread"], aa["value"], aa["spread"])

    def shown(p):
        return "p < 0.001" if p < 0.001 else f"p = {fmt(p, 2)}"

    line = (
        "test ELBO " + _means(aa, plain, ("AA-VAE", "VAE"), " nats") + f": a difference of "
        f"{gain:+.2f} nats; Welch's one-sided test of a gain {shown(p_gain)}, not significant; "
        f"of a gain below the paper's 1.44 nats {shown(p_short)} (from the records' means and "
        "spreads)."
    )
    return Verdict(p_gain >= 0.05 and p_short < 0.05, line)


_IW = "unified: {} (25-grid, 3x128 MLPs) / {}"
claim(
    "05.iwgan-grid",
    text=(
        "On the 25-grid IWGAN covered more modes than the GAN by the one-sample rule, not by a "
        "stricter one, and had fewer high-quality samples"
    ),
    cell="iwgan-grid`, the same MLPs",
    refs=tuple(
        _IW.format(name, metric)
        for metric in (
            "modes covered (of 25)",
            "modes with 20 or more of 2,500 samples (of 25)",
            "high-quality samples (%)",
        )
        for name in ("IWGAN", "GAN")
    )
    + (
        _IW.format("IWGAN", "effective sample size (% of the batch)"),
        "unified: data (25-grid, 2,500 draws) / high-quality samples (%)",
    ),
    control="same 3x128 MLPs, initialisation, data, 6,000 steps, batch 256 and seeds 0-9; only "
    "the weights differ; the data's own 2,500 draws as the floor",
    check=lambda m_iw, m_gan, s_iw, s_gan, hq_iw, hq_gan, ess, data: _iwgan_grid(
        m_iw, m_gan, s_iw, s_gan, hq_iw, hq_gan, ess, data
    ),
)


def _iwgan_grid(m_iw, m_gan, s_iw, s_gan, hq_iw, hq_gan, ess, data) -> Verdict:
    names = ("IWGAN", "the GAN")
    modes = compare(
        per_seed(m_iw), per_seed(m_gan), names=names, what="modes covered by one sample"
    )
    strict = compare(
        per_seed(s_iw), per_seed(s_gan), names=names, what="modes with 20 or more samples"
    )
    hq = compare(
        per_seed(hq_gan),
        per_seed(hq_iw),
        names=("the GAN", "IWGAN"),
        what="high-quality samples",
        unit="%",
    )
    w = per_seed(ess)
    line = (
        f"{modes.line} {strict.line} {hq.line} The data's own draws: "
        f"{fmt(data['value'])}% high quality. IWGAN's effective "
        f"sample size at the end ran from {fmt(min(w))}% to {fmt(max(w))}% of the batch across "
        "seeds."
    )
    return Verdict(modes.holds and not strict.holds and hq.holds, line)


paper(
    "05",
    "1.44 nats",
    "Hu et al. 2018 (On Unifying Deep Generative Models): AA-VAE on 10% "
    "of MNIST, test ELBO -104.49 to -103.05",
)

paper("04", "24.8 modes", "Lin et al. 2018 (PacGAN), Table 1: 2-D grid, PacGAN4")
paper("04", "17.3", "Lin et al. 2018 (PacGAN), Table 1: 2-D grid, their GAN")

# --------------------------------------------------------------------------- 06 energy GAN
# Lecture 06's three stabilisers on lecture 04's grid GANs (``benchmarks.gan toy ...
# --average-decay 0.999 --lr-decay-steps 5000 --penalty 0.1``): then only the loss differs
# from the energy GAN.
EMA, DECAY, PENALTY = "EMA 0.999", "lr to 0 over the last 5000", "penalty 0.1"
STABILISED = f"{GRID_MLP}, {EMA}, {DECAY}, {PENALTY}"
STABILISER_CONTROL = (
    MLP_CONTROL + ", 256 a step (PacGAN4: 256 packs of 4, its penalty per pack); lecture 04's "
    "GANs with lecture 06's weight average (EMA 0.999) of G for sampling, learning rates "
    "linearly to 0 over the last 5,000 steps and the zero-centred gradient penalty 0.1 on D at "
    "the data, against the same GANs without them (lecture 04's records)"
)


def _gan(variant: str, setup: str, metric: str) -> str:
    return f"gan: {variant} GAN, {setup} / {metric}"


def _stabilised(gan_modes, pac_modes, plain_modes, gan_hq, plain_hq) -> Verdict:
    every = _both(
        _all_at_least("The GAN with the stabilisers, modes covered (of 25)", 25)(gan_modes),
        _all_at_least("PacGAN4 with them, modes covered (of 25)", 25)(pac_modes),
    )
    modes = compare(
        per_seed(gan_modes),
        per_seed(plain_modes),
        names=("with the stabilisers", "without"),
        what="The GAN's modes covered (of 25)",
    )
    hq = compare(
        per_seed(gan_hq),
        per_seed(plain_hq),
        names=("with the stabilisers", "without"),
        what="Its high-quality samples",
        unit="%",
    )
    plain = per_seed(plain_modes)
    counts = (
        f"Seeds with all 25: {sum(m == 25 for m in per_seed(gan_modes))} of "
        f"{len(per_seed(gan_modes))} with the stabilisers, {sum(m == 25 for m in plain)} of "
        f"{len(plain)} without (best seed {fmt(max(plain))})."
    )
    raw = (
        f"Without the average (the raw G of the same runs): {fmt(gan_modes['raw_generator'])} "
        f"modes, {fmt(gan_hq['raw_generator'])}% high quality."
    )
    return Verdict(
        every.holds and modes.holds and hq.holds,
        " ".join([every.line, modes.line, counts, hq.line, raw]),
    )


_STABILISED_REFS = (
    _gan("nonsaturating", STABILISED, "modes covered (of 25)"),
    _gan("pacgan4", STABILISED, "modes covered (of 25)"),
    _gan("nonsaturating", GRID_MLP, "modes covered (of 25)"),
    _gan("nonsaturating", STABILISED, "high-quality samples (%)"),
    _gan("nonsaturating", GRID_MLP, "high-quality samples (%)"),
)
for key, cell in (
    ("04.stabilisers", "kept all 25 modes on every seed"),
    ("06.stabilised-gan", "kept every mode on every seed"),
):
    claim(
        key,
        text="With lecture 06's three stabilisers, lecture 04's non-saturating GAN (and "
        "PacGAN4) kept all 25 modes of the grid on every seed, and the GAN had more "
        "high-quality samples than without them",
        cell=cell,
        refs=_STABILISED_REFS,
        control=STABILISER_CONTROL,
        check=_stabilised,
    )


def _which_stabiliser(pen_modes, ed_modes, plain_modes, all_modes, pen_hq, all_hq) -> Verdict:
    penalty = compare(
        per_seed(pen_modes),
        per_seed(plain_modes),
        names=("the penalty alone", "none"),
        what="The GAN's modes covered (of 25)",
    )
    alone = per_seed(pen_modes)
    partial = sum(m == 25 for m in alone) < len(alone)
    average = _not_established(
        compare(
            per_seed(ed_modes),
            per_seed(plain_modes),
            names=("the average and the decay without the penalty", "none"),
            what="The GAN's modes covered (of 25)",
        )
    )
    both = measured(
        per_seed(all_modes, "raw_per_seed"),
        what="With the penalty and the decay (the raw G of the full runs), modes covered (of 25)",
        low=25,
    )
    decay = compare(
        per_seed(all_hq, "raw_per_seed"),
        per_seed(pen_hq),
        names=("the penalty and the decay", "the penalty alone"),
        what="High-quality samples",
        unit="%",
    )
    seeds = f"The penalty alone kept all 25 on {sum(m == 25 for m in alone)} of {len(alone)} seeds."
    v = _both(penalty, average, both, decay)
    return Verdict(
        v.holds and partial, f"{penalty.line} {seeds} {average.line} {both.line} {decay.line}"
    )


def _ordered(a: dict, b: dict, names: tuple[str, str]) -> str:
    if min(per_seed(a)) > max(per_seed(b)):
        return f"Every seed of {names[0]} above every seed of {names[1]}."
    return f"The seeds of {names[0]} and {names[1]} overlap."


def _loss_at_equal_stabilisers(gan, jsd, none) -> Verdict:
    arms = (
        (jsd, "the energy GAN with JSD MI", "the JSD arm"),
        (none, "the energy GAN without MI", "the no-MI arm"),
    )
    v = _both(
        *(
            compare(
                per_seed(gan),
                per_seed(other),
                names=("lecture 04's GAN", name),
                what="High-quality samples at the same stabilisers",
                unit="%",
            )
            for other, name, _ in arms
        )
    )
    order = " ".join(_ordered(gan, other, ("lecture 04's GAN", short)) for other, _, short in arms)
    return Verdict(v.holds, f"{v.line} {order}")


claim(
    "06.loss-at-equal-stabilisers",
    text="At the same networks and stabilisers, lecture 04's GAN had more high-quality samples "
    "than the energy GAN, with the JSD MI term or without it",
    cell="log loss had more high-quality samples",
    refs=(
        _gan("nonsaturating", STABILISED, "high-quality samples (%)"),
        "energy: energy GAN, JSD MI, grid / high-quality samples (%)",
        "energy: energy GAN, no MI, grid / high-quality samples (%)",
    ),
    control="same 3x128 ReLU MLPs for G and for D or U, Adam 1e-3 with betas (0.5, 0.9), 256 "
    "a step, 15,000 steps, EMA 0.999, learning rates to 0 over the last 5,000 steps, penalty "
    "0.1 at the data, 2,500 samples scored, seeds 0-9 (unpaired); the loss differs (the log "
    "loss of a discriminator against the energy's linear one; the same penalty weight on a "
    "logit and on an energy), and the JSD arm trains its statistics network",
    check=_loss_at_equal_stabilisers,
)

claim(
    "06.which-stabiliser",
    text="The penalty alone recovered most of the lost modes (not every mode on every seed), "
    "the weight average and decay without it none detectably; with the penalty and the decay "
    "together every seed kept all 25 and the high-quality share rose",
    cell="What each stabiliser did",
    refs=(
        _gan("nonsaturating", f"{GRID_MLP}, {PENALTY}", "modes covered (of 25)"),
        _gan("nonsaturating", f"{GRID_MLP}, {EMA}, {DECAY}", "modes covered (of 25)"),
        _gan("nonsaturating", GRID_MLP, "modes covered (of 25)"),
        _gan("nonsaturating", STABILISED, "modes covered (of 25)"),
        _gan("nonsaturating", f"{GRID_MLP}, {PENALTY}", "high-quality samples (%)"),
        _gan("nonsaturating", STABILISED, "high-quality samples (%)"),
    ),
    control=MLP_CONTROL + "; each arm adds one part of lecture 06's stabilisers to lecture "
    "04's GAN: the penalty 0.1 alone; the EMA 0.999 and the decay over the last 5,000 steps "
    "without it; the penalty and the decay (the full arm's raw generator: the EMA changes "
    "what is sampled, not the training)",
    check=_which_stabiliser,
)

MEG_TABLE = "Kumar et al. 2019 (MEG), Table 1: StackedMNIST"
paper("06", "959 modes", MEG_TABLE + ", WGAN-GP")
paper("06", "0.73", MEG_TABLE + ", WGAN-GP's KL to uniform")
paper("06", "0.06", MEG_TABLE + ", PacGAN's KL to uniform")
paper("06", "0.031", MEG_TABLE + ", MEG's KL to uniform")


claim(
    "06.jsd-every-seed",
    text="With the JSD estimator every seed kept all 25 modes of the grid",
    cell="every seed kept all 25 modes",
    refs=("energy: energy GAN, JSD MI, grid / modes covered (of 25)",),
    control="10 seeds of the same recipe (3x128 MLPs, EMA of G, lr decay over the last third)",
    check=_all_at_least("energy GAN with JSD MI, modes covered (of 25)", 25),
)
claim(
    "06.infogan-every-seed",
    text="With InfoGAN's bound every seed kept all 25 modes of the grid",
    cell="InfoGAN's bound also kept all 25 modes on every seed",
    refs=("energy: energy GAN, InfoGAN MI, grid / modes covered (of 25)",),
    control="5 seeds of the same recipe as the JSD arm (3x128 MLPs, EMA of G, lr decay over "
    "the last third); only the MI estimator differs",
    check=_all_at_least("energy GAN with InfoGAN MI, modes covered (of 25)", 25),
)
claim(
    "06.no-mi-collapse",
    text=(
        "Without MI one seed of ten lost modes; with the JSD term the high-quality share was "
        "higher over 10 seeds, a difference carried by two seeds without MI"
    ),
    cell="one seed of ten lost modes",
    refs=(
        "energy: energy GAN, no MI, grid / modes covered (of 25)",
        "energy: energy GAN, JSD MI, grid / high-quality samples (%)",
        "energy: energy GAN, no MI, grid / high-quality samples (%)",
    ),
    control="same networks, EMA of G, learning-rate schedule and steps, seeds 0-9 (seeds "
    "unpaired: the MI network is built first); only the MI term and its network differ",
    check=lambda modes, jsd, none: _no_mi(modes, jsd, none),
)


def _no_mi(modes: dict, jsd: dict, none: dict) -> Verdict:
    collapsed = [m for m in per_seed(modes) if m < 25]
    hq = compare(
        per_seed(jsd),
        per_seed(none),
        names=("JSD MI", "no MI"),
        what="high-quality samples",
        unit="%",
    )
    share, after = per_seed(none), per_seed(none, "with_mala_per_seed")
    moved = "; ".join(
        f"exact z-space MALA took its share from {fmt(share[i])}% to {fmt(after[i])}%"
        for i, m in enumerate(per_seed(modes))
        if m < 25
    )
    line = (
        f"Without MI {len(collapsed)} of {modes['seeds']} seeds lost modes "
        f"({', '.join(fmt(m) for m in collapsed)} of 25; {moved}). {hq.line}"
    )
    # the claim: one seed lost modes, and the share's difference is significant at 10 seeds
    return Verdict(len(collapsed) == 1 and hq.holds, line)


claim(
    "06.ring-mi-lowers",
    text="On the ring the MI term lowered the high-quality share",
    cell="the high-quality share was lower",
    refs=(
        "energy: energy GAN, no MI, ring / high-quality samples (%)",
        "energy: energy GAN, JSD MI, ring / high-quality samples (%)",
        "energy: energy GAN, InfoGAN MI, ring / high-quality samples (%)",
    ),
    control="same networks, EMA of G, schedule and steps; MI weight 0.03; only the MI term differs",
    check=lambda none, jsd, info: _both(
        compare(
            per_seed(none),
            per_seed(jsd),
            names=("no MI", "JSD MI"),
            what="ring, high-quality samples",
            unit="%",
        ),
        compare(
            per_seed(none),
            per_seed(info),
            names=("no MI", "InfoGAN MI"),
            what="ring, high-quality samples",
            unit="%",
        ),
    ),
)

# --------------------------------------------------------------------------- 07 MCMC

_MIX = "2-D mixture / error of var(x1) (exact 2.530)"
_MIX_BAD = "2-D mixture, from (-3.0, 0.0) / error of var(x1) (exact 2.530)"
claim(
    "07.bias-table",
    text=(
        "ULA's bias grows with the step; MALA is exact at every step; the energy-difference "
        "shortcut is off at every step"
    ),
    cell="ULA's variance grows with the step",
    refs=tuple(
        f"mcmc: {name}, step {s}, {_MIX}"
        for name in ("ULA", "MALA", "energy difference only")
        for s in (0.1, 0.4, 1.2)
    )
    + tuple(f"mcmc: MALA, step {s}, {_MIX_BAD}" for s in (0.1, 0.4, 1.2)),
    control="same target, 10,000 chains, 300 steps, same seeds 0-4; chains from exact draws, "
    "and MALA's again with every chain at (-3, 0), so that a sampler that barely moves "
    "cannot pass",
    check=lambda *r: _bias(r),
)


def _row(name: str, xs, digits: int = 3, spread_digits: int | None = None) -> str:
    """``name v1, v2, ...``: each record's mean, with its spread when ``spread_digits``."""
    cells = [
        fmt(x["value"], digits) + (f" ± {fmt(x['spread'], spread_digits)}" if spread_digits else "")
        for x in xs
    ]
    return f"{name} " + ", ".join(cells)


def _bias(r) -> Verdict:
    ula, mala, short, bad = r[0:3], r[3:6], r[6:9], r[9:12]
    u = [per_seed(x) for x in ula]
    grows = all(min(b) > max(a) for a, b in zip(u, u[1:]))
    # 0.06: two standard deviations of the variance of 10,000 exact draws (0.030)
    exact = all(abs(v) < 0.06 for x in mala + bad for v in per_seed(x))
    off = all(v < -0.5 for x in short for v in per_seed(x))

    line = (
        "error of var(x1) at steps 0.1, 0.4, 1.2 (exact 2.53; 5 seeds): "
        + "; ".join(
            (
                _row("ULA", ula, 2, 1),
                _row("MALA", mala, 2, 1),
                _row("shortcut", short, 2, 1),
                _row("MALA with every chain from (-3, 0)", bad, 2, 1),
            )
        )
        + ". ULA's error grows with the step on every seed; every MALA seed, from exact draws "
        "and from (-3, 0), is within 0.06 of the exact value (two standard deviations of the "
        "variance of 10,000 exact draws); every shortcut seed is below -0.5."
    )
    return Verdict(grows and exact and off, line)


claim(
    "07.factor-two",
    text="The seed's sqrt(eps) noise and the energy-difference shortcut both sample exp(-2U)",
    cell="The factor 2",
    refs=(
        "mcmc: ULA with the seed's sqrt(eps) noise, step 0.01, unit Gaussian / "
        "stationary variance (target 1)",
        "mcmc: energy difference only, step 0.01, unit Gaussian / stationary variance (target 1)",
    ),
    control="unit Gaussian, 10,000 chains, 500 steps of 0.01, 5 seeds",
    check=lambda a, b: _both(
        _every_seed(a, "the seed's noise, stationary variance", low=0.45, high=0.55),
        _every_seed(b, "the shortcut, stationary variance", low=0.45, high=0.55),
    ),
)
claim(
    "07.tempering",
    text=(
        "Replica exchange finds the right mode weights where plain MALA stays stuck, even with "
        "replica exchange's gradient budget"
    ),
    cell="Replica exchange",
    refs=(
        "mcmc: replica exchange (T = 1, 2, 4, 8, 16), two modes 8 apart / "
        "share in the right mode (exact 0.7)",
        "mcmc: MALA, two modes 8 apart / share in the right mode (exact 0.7)",
        "mcmc: MALA at replica exchange's gradient budget, two modes 8 apart / "
        "share in the right mode (exact 0.7)",
    ),
    control="same target, 400 chains half in each mode, 1,500 steps (MALA also at 7,500, "
    "replica exchange's 5 temperatures x 1,500 gradient evaluations), same seeds 0-4",
    check=lambda rx, mala, budget: _both(
        _every_seed(
            rx, "replica exchange, share in the right mode (exact 0.7)", low=0.68, high=0.72
        ),
        _every_seed(mala, "plain MALA, share (stuck where it started)", low=0.45, high=0.55),
        _every_seed(
            budget, "plain MALA at replica exchange's gradient budget, share", low=0.45, high=0.6
        ),
    ),
)

_WIDE = "8-D Gaussian with sd 0.1 to 10 / ESS per step of the"
claim(
    "07.tuned-scales",
    text=(
        "With its scales tuned, MALA mixes the widest coordinate as well as the narrowest; "
        "with the step alone the widest hardly mixes (its ESS per step at the estimator's "
        "floor on 1,000 steps)"
    ),
    cell="one step cannot suit them all",
    refs=(
        f"mcmc: step and scales (tuned_mala), {_WIDE} widest coordinate (sd 10)",
        f"mcmc: step and scales (tuned_mala), {_WIDE} narrowest coordinate (sd 0.1)",
        f"mcmc: the step alone (adaptive_mala), {_WIDE} widest coordinate (sd 10)",
        f"mcmc: the step alone (adaptive_mala), {_WIDE} narrowest coordinate (sd 0.1)",
    ),
    control="same 8-D Gaussian (sd 0.1 to 10, log-spaced), 200 chains from exact draws, 400 "
    "warm-up steps from 0.01 and 1,000 samples at acceptance 0.574, ESS of 20 chains, seeds 0-9",
    check=lambda tw, tn, aw, an: _both(
        _every_seed(tw, "tuned, ESS per step of the widest coordinate", low=0.2),
        _every_seed(
            tn, "tuned, of the narrowest (below the step alone's bound)", low=0.2, high=0.45
        ),
        _every_seed(aw, "step alone, of the widest", high=0.02),
        _every_seed(an, "step alone, of the narrowest", low=0.5),
    ),
)
exact(
    "07.preconditioner",
    text=(
        "MALA with one scale per coordinate is MALA in y = x / s, and keeps the target at any "
        "positive scales"
    ),
    cell="any positive $s$ keeps the target",
    tests=(
        "tests/test_mcmc.py::test_the_preconditioned_step_is_mala_on_x_over_scales",
        "tests/test_mcmc.py::"
        "test_the_preconditioned_step_keeps_the_target_at_any_scales_and_a_wrong_ratio_does_not",
    ),
)

# --------------------------------------------------------------------------- 08 PixelCNN

claim(
    "08.fast-sampler",
    text="Computing each activation once gives the same images from the same uniforms, faster",
    cell="The cached sampler gave the same pixels",
    refs=(
        "pixelcnn: PixelCNN (32 channels, 5 residual blocks), fast sampler / "
        "speed-up over the naive sampler",
    ),
    control="same trained model, same 100 x 784 uniforms, same device (cpu, 2 cores)",
    check=lambda r: Verdict(
        r["pixels_differing"] == 0 and r["value"] > 1,
        f"{r['n_samples']} digits from the same uniforms: {r['pixels_differing']} of "
        f"{r['pixels']:,} pixels differ; the cached sampler {r['value']:.0f}x faster than the "
        f"naive loop (one run, {r['device']}).",
    ),
)
claim(
    "08.gap-to-paper",
    text="On a CPU budget both PixelCNNs stay well above the paper's 81.30 nats",
    cell="paper's 81.30 nats",
    refs=(
        "pixelcnn: PixelCNN (32 channels, 5 residual blocks) / test NLL (nats, exact)",
        "pixelcnn: gated PixelCNN (16 channels, 6 layers) / test NLL (nats, exact)",
    ),
    control="8 epochs each, same optimiser and schedule, exact NLL on the same 10,000 test bits; "
    "the two models also differ in parameters (19,649 and 30,145), channels, nonlinearity and "
    "seconds, one seed each: not a test of the gated design",
    check=lambda a, b: Verdict(
        a["value"] > 81.3 and b["value"] > 81.3,
        f"the benchmark's longer runs (8 epochs, {a['device']}): PixelCNN {a['value']:.2f} and "
        f"gated PixelCNN {b['value']:.2f} nats, {a['value'] - 81.3:.1f} and "
        f"{b['value'] - 81.3:.1f} nats above the PixelCNN paper's 81.30 (the plain model's; the "
        "gated paper gives no MNIST figure).",
    ),
)
claim(
    "08.equal-epochs",
    text="At the same 40 epochs the IWAE scores better than the VAE; the VAE's lead in the table "
    "is its 20 times longer training",
    cell="the VAE trained for the IWAE's 40 epochs",
    refs=(
        "vae: vae (k=1), 40 epochs / test NLL (nats, K=5000)",
        "vae: iwae (k=50) / test NLL (nats, K=5000)",
        "vae: vae (k=1) / test NLL (nats, K=5000)",
    ),
    control="same network (784-200-200-50), data, optimiser and 40 epochs; the IWAE draws k = 50 "
    "samples per digit and took far longer; one run each, so a measurement, not a test",
    check=lambda v40, iwae, v800: Verdict(
        iwae["value"] < v40["value"] and v800["value"] < iwae["value"],
        f"test NLL (K = 5000, one run each): VAE at 40 epochs {fmt(v40['value'])}, IWAE (k = 50) "
        f"at 40 epochs {fmt(iwae['value'])}, VAE at 800 epochs {fmt(v800['value'])} nats; "
        f"training took {v40['train_seconds']:.0f} s, {iwae['train_seconds']:.0f} s and "
        f"{v800['train_seconds']:.0f} s ({v40['device']}; the last two on one core).",
    ),
)
paper("08", "81.30 nats", "van den Oord et al. 2016a (Pixel Recurrent Neural Networks), Table 4")
paper("08", "81.3", "van den Oord et al. 2016a (Pixel Recurrent Neural Networks), Table 4")
paper("08", "86.76 nats", "Burda et al. 2016 (IWAE), Table 1, VAE with k = 1, K = 5000")

_GAUSS = "unit Gaussian / stationary variance (target 1)"
_SLIPS = (
    "exact MALA",
    "the seed's ratio (target at the previous proposal)",
    "MEG's corrected sampler (unsquared norm)",
)
_SLIP_STEPS = (0.01, 0.1, 0.5, 1.0, 1.5)
claim(
    "07.ratio-slips",
    text=(
        "The seed's ratio (the target at the previous proposal) and MEG's corrected sampler "
        "(an unsquared norm) do not keep the target; exact MALA does"
    ),
    cell="previous step, which may have been rejected",
    refs=tuple(f"mcmc: {k}, step {s}, {_GAUSS}" for k in _SLIPS for s in _SLIP_STEPS),
    control="unit Gaussian, 10,000 chains from exact draws, 500 steps, the same seeds 0-9",
    check=lambda *r: _slips(r),
)


def _slips(r) -> Verdict:
    n = len(_SLIP_STEPS)
    exact, seed, meg = r[:n], r[n : 2 * n], r[2 * n :]
    var = [[per_seed(x) for x in arm] for arm in (exact, seed, meg)]
    exact_ok = all(abs(v - 1) < 0.05 for row in var[0] for v in row)
    # the seed's slip matters once proposals are rejected often: steps 1.0 and 1.5
    seed_off = all(v > 1.1 for row in var[1][3:] for v in row) and min(var[1][4]) > max(var[1][3])
    meg_off = all(abs(v - 1) > 0.03 for row in var[2] for v in row)

    steps = ", ".join(f"{s:g}" for s in _SLIP_STEPS)
    line = (
        f"stationary variance on the unit Gaussian (target 1) at steps {steps}, mean of "
        f"{exact[0]['seeds']} seeds: "
        + "; ".join(
            (
                _row("exact MALA", exact),
                _row("the seed's ratio", seed),
                _row("MEG's corrected sampler", meg),
            )
        )
        + ". Every exact MALA seed is within 0.05 of 1; every seed of the seed's ratio is "
        "above 1.1 at steps 1.0 and 1.5, more at the larger step (at small steps almost every "
        "proposal is accepted, and the previous proposal is the current state); every seed of "
        "MEG's corrected sampler is off by more than 0.03 at every step."
    )
    return Verdict(exact_ok and seed_off and meg_off, line)


claim(
    "07.mala-grid",
    text="Exact z-space MALA at T = 1 keeps every mode and moves the share by little",
    cell="repeats the exact-MALA row",
    refs=(
        "energy: energy GAN, JSD MI, grid / high-quality samples (%)",
        "energy: energy GAN, JSD MI, grid / modes covered (of 25)",
    ),
    control="the same EMA generator before and after 200 MALA steps of 0.01 from its prior draws",
    check=lambda hq, modes: _mala_grid(hq, modes),
)


def _mala_grid(hq: dict, modes: dict) -> Verdict:
    before, after = per_seed(hq), per_seed(hq, "with_mala_per_seed")
    moved = [a - b for a, b in zip(after, before)]
    kept = per_seed(modes, "with_mala_per_seed")
    line = (
        f"energy GAN with JSD MI on the grid, {len(before)} seeds: high-quality share "
        f"{fmt(hq['value'])}% from the EMA generator, {fmt(hq['with_mala'])}% after exact MALA "
        f"(per seed the change runs from {min(moved):+.1f} to {max(moved):+.1f} points); "
        f"modes after MALA from {fmt(min(kept))} to {fmt(max(kept))} of 25."
    )
    return Verdict(min(kept) == 25 and max(abs(m) for m in moved) < 5, line)


REGISTRY.hypothetical(
    "08", "20 nats", "the premise of the written question (a classmate's train-test gap)"
)

# --------------------------------------------------------------------------- 09 diffusion

exact(
    "09.dsm-constant",
    text="Denoising score matching differs from explicit score matching by a constant",
    cell="with $C$ free of $s$",
    tests=("tests/test_score.py::test_denoising_and_explicit_score_matching_differ_by_a_constant",),
)
exact(
    "09.closed-form",
    text="The forward process's steps compose into q(x_t | x_0) in closed form",
    cell="The steps compose in closed form",
    tests=(
        "tests/test_diffusion.py::test_the_closed_form_forward_process_matches_the_steps",
        "tests/test_diffusion.py::"
        "test_the_steps_are_counted_from_zero_so_step_t_is_t_plus_one_noisings",
    ),
)
exact(
    "09.tweedie",
    text="The best noise prediction is the noised data's score times -sqrt(1 - abar_t)",
    cell="The noise is the score (Tweedie's formula)",
    tests=("tests/test_diffusion.py::test_tweedie_the_best_noise_prediction_is_the_scaled_score",),
)

_TWO_MODES = "two modes 8 apart / share in the right mode (exact 0.7)"
_MODES_CONTROL = (
    "lecture 07's mixture, the same 10,000 starts from N(0, 10^2 I) in every arm, 2,000 "
    "steps (one score or energy gradient each; MALA's proposal and its reverse), seeds 0-9"
)


def _modes(name: str) -> str:
    return f"diffusion: {name}, {_TWO_MODES}"


claim(
    "09.plain-langevin",
    text=(
        "With the exact score, small-step Langevin keeps the split of its starts; at step 1 "
        "its chains cross by the step's bias, and MALA, without that bias, barely crosses"
    ),
    cell="So the chains fall into the mode nearest their",
    refs=(
        _modes("Langevin, exact score, step 0.02"),
        _modes("Langevin, exact score, step 1.0"),
        _modes("MALA, exact energy, eps 0.5"),
    ),
    control=_MODES_CONTROL,
    check=lambda small, large, mala: _both(
        _every_seed(small, "Langevin at step 0.02, share (truth 0.7)", low=0.45, high=0.56),
        _every_seed(large, "Langevin at step 1.0, share", low=0.57, high=0.67),
        _every_seed(mala, "MALA at eps 0.5 (step 1.0), share", low=0.45, high=0.56),
    ),
)


def _closer_to_truth(a: dict, b: dict, names: tuple[str, str], what: str) -> Verdict:
    """Arm ``a``'s share lands closer to the truth, 0.7, than arm ``b``'s (seed by seed
    distances, ``compare``'s test)."""
    a_off, b_off = ([abs(v - 0.7) for v in per_seed(r)] for r in (a, b))
    return compare(a_off, b_off, names=names, what=what, lower_is_better=True)


def _annealed(learned: dict, exact: dict, plain: dict, mala: dict) -> Verdict:
    # 0.03: 6 standard errors of a share of 10,000 chains at 0.7 (0.0046); the sampler's own
    # error at this ladder and step (the exact-score arm) stays within half of it
    near = _every_seed(
        learned, "annealed Langevin with the learned score, share", low=0.67, high=0.73
    )
    sampler = _every_seed(
        exact, "Annealed Langevin with the exact score, share", low=0.67, high=0.73
    )
    beats = [
        _closer_to_truth(learned, other, ("annealed", name), "Distance of the share from 0.7")
        for other, name in ((plain, "Langevin at step 0.02"), (mala, "MALA"))
    ]
    return _both(near, sampler, *beats)


claim(
    "09.annealed",
    text=(
        "Annealed Langevin with a learned score recovers the mode weights that plain Langevin "
        "and MALA miss, at the same number of steps from the same starts"
    ),
    cell="(Your run is one seed; the course's records come from ten",
    refs=(
        _modes("annealed Langevin, learned score, 20 levels"),
        _modes("annealed Langevin, exact score, 20 levels"),
        _modes("Langevin, exact score, step 0.02"),
        _modes("MALA, exact energy, eps 0.5"),
    ),
    control=_MODES_CONTROL + "; each seed trains its own network (10,000 steps of 256 points)",
    check=_annealed,
)


def _learned_far(learned: dict, exact: dict) -> Verdict:
    got, ref = per_seed(learned), per_seed(exact)
    line = (
        f"plain Langevin (step 1.0, 2,000 steps) with each seed's learned score at sigma 0.1: "
        f"share {fmt(learned['value'])} ± {fmt(learned['spread'], 2)} over {len(got)} seeds, "
        f"from {fmt(min(got))} to {fmt(max(got))}; with the exact score at the same step, from "
        f"{fmt(min(ref))} to {fmt(max(ref))}: the spread is the networks', each one's score "
        "away from the data its own."
    )
    return Verdict(max(got) - min(got) > 0.3 and max(ref) - min(ref) < 0.05, line)


claim(
    "09.learned-far",
    text="Plain Langevin with the learned score at the smallest level lands anywhere",
    cell="at the smallest level, where the data has no mass",
    refs=(
        _modes("Langevin, learned score at sigma 0.1, step 1.0"),
        _modes("Langevin, exact score, step 1.0"),
    ),
    control=_MODES_CONTROL,
    check=_learned_far,
)
claim(
    "09.ancestral-weights",
    text="Ancestral sampling with the exact noise prediction keeps the mode weights",
    cell="the reverse process starts where the noise has joined the modes",
    refs=(
        "diffusion: ancestral DDPM sampling, exact noise prediction, the two modes scaled by "
        "1/4 / share in the right mode (exact 0.7)",
    ),
    control="10,000 chains from N(0, I), Ho et al.'s 1,000 linear betas, seeds 0-9",
    # 0.015: three standard errors of a share of 10,000 draws at 0.7 (0.0046)
    check=lambda r: _every_seed(
        r, "ancestral sampling, exact noise prediction, share (truth 0.7)", low=0.685, high=0.715
    ),
)


def _settings(fine: dict, big_eps: dict, coarse: dict) -> Verdict:
    eps = _closer_to_truth(
        fine, big_eps, ("eps 0.002", "eps 0.02"), "distance of the share from 0.7, 20 levels"
    )
    ladder = _closer_to_truth(
        fine, coarse, ("20 levels of 100 steps", "10 levels of 200"), "The same at eps 0.002"
    )
    return Verdict(eps.holds, f"{eps.line} {ladder.line}")


claim(
    "09.sampler-settings",
    text=(
        "With the exact score and the same 2,000 steps, ten times eps biases the share; the "
        "test does not separate a ladder half as fine"
    ),
    cell="only the sampler differs",
    refs=(
        _modes("annealed Langevin, exact score, 20 levels"),
        _modes("annealed Langevin, exact score, 20 levels, eps 0.02"),
        _modes("annealed Langevin, exact score, 10 levels"),
    ),
    control=_MODES_CONTROL + "; one factor changed per arm",
    check=_settings,
)

_DIGITS = "Fréchet distance (n=1000)"


def _ddim_steps(d100, d50, d20, d10, ancestral, dcgan, vae_, real, gan_run, same_run) -> Verdict:
    holds_50 = compare(
        per_seed(d50), per_seed(d20), names=("50", "20 steps"), what="", lower_is_better=True
    )
    holds_20 = compare(
        per_seed(d20), per_seed(d10), names=("20", "10 steps"), what="", lower_is_better=True
    )
    ddim = [v for r in (d100, d50, d20, d10) for v in per_seed(r)]
    best = ancestral["value"] < min(per_seed(d100) + per_seed(d50))
    gan_better = max(per_seed(dcgan)) < min(ddim + [ancestral["value"]])
    vae_worse = min(per_seed(vae_)) > max(ddim)
    n = d100["seeds"]
    line = (
        f"Fréchet distance of 1,000 digits to 1,000 held-out training digits, mean ± sd over {n} "
        f"draws: "
        + "; ".join(
            f"{name} {fmt(r['value'], 3)} ± {fmt(r['spread'], 2)}"
            for name, r in (
                ("DDIM in 100 steps", d100),
                ("50", d50),
                ("20", d20),
                ("10", d10),
                ("lecture 04's shipped DCGAN", dcgan),
                ("lecture 03's VAE (pixel means)", vae_),
                ("real test digits", real),
            )
        )
        + f"; ancestral sampling in 1,000 steps {ancestral['value']:.2f} (one draw: "
        f"{ancestral['seconds_per_100'] / same_run['seconds_per_100']:.1f} times the time per "
        "digit of DDIM's 100 steps in the same run). Every draw at 20 steps is above every "
        "draw at 50, and every draw at 10 above every draw at 20; at 100 and 50 steps the "
        "draws overlap. "
        f"Every draw of the DCGAN is below every DDPM figure, every draw of the VAE above "
        f"({d100['device']}). Their training, on the same device: the DDPM "
        f"{ancestral['train_seconds'] / 60:.0f} minutes ({ancestral['epochs']:g} epochs), the "
        f"DCGAN {gan_run['train_seconds'] / 60:.0f} ({gan_run['epochs']:g} epochs)."
    )
    overlap = max(per_seed(d100)) > min(per_seed(d50)) and max(per_seed(d50)) > min(per_seed(d100))
    holds = holds_50.holds and holds_20.holds and overlap and best and gan_better and vae_worse
    return Verdict(holds, line)


claim(
    "09.ddim-steps",
    text=(
        "Over 5 draws DDIM's Fréchet distance does not separate 100 from 50 steps and grows "
        "at 20 and 10; every DDPM sampler scores behind the shipped DCGAN and ahead of the "
        "VAE's means"
    ),
    cell="The shipped DDPM is small",
    refs=(
        *(f"diffusion: DDPM, DDIM in {k} steps, MNIST, 5 draws / {_DIGITS}" for k in DDIM_STEPS),
        f"diffusion: DDPM (16-channel U-Net), ancestral sampling in 1000 steps, MNIST / {_DIGITS}",
        f"diffusion: DCGAN, shipped weights, MNIST, 5 draws / {_DIGITS}",
        f"diffusion: VAE (pixel means), 10,000 steps, MNIST, 5 draws / {_DIGITS}",
        f"diffusion: real test digits, MNIST, 5 draws / {_DIGITS}",
        "gan: DCGAN, InfoGAN's networks, shipped weights, MNIST / Fréchet distance (n=10000)",
        f"diffusion: DDPM (16-channel U-Net), DDIM in 100 steps, MNIST / {_DIGITS}",
    ),
    control="the same shipped DDPM weights for every sampler, 1,000 digits each scored against "
    "the same 1,000 held-out training digits by the course classifier, 5 draws (different "
    "starting noise; different test digits for the floor); DDIM's steps evenly spaced",
    check=_ddim_steps,
)
paper("09", "35.7", "Ho et al. 2020 (DDPM), Appendix B: the CIFAR-10 model's parameters (millions)")
paper("09", "800,000", "Ho et al. 2020 (DDPM), Appendix B: CIFAR-10 training steps (batch 128)")
