"""The build assignments (issue 34): each lecture's build, its check and its calibration.

- The record of ``python -m benchmarks.assignments`` backs every threshold: the checks'
  thresholds are the recorded ones, the reference build passed both parts on at least 20
  hidden variants, every wrong build failed on every one, within the time the issue allows.
- Here, at one hidden variant: the reference build passes; each wrong build fails the part
  it should (judged alone), with a hint aimed at its mistake; the judge's replay of a wrong
  build (what the grader does) reaches the same verdict and the same share of the points.
- A build check scores its two parts apart.
"""

import json
import math

import pytest
from test_wire_replay import recorded_and_replayed

from benchmarks import assignments, records
from dgm.checks import harness

LECTURES = list(assignments.ASSIGNMENTS)
WRONG = [(lec, name) for lec, a in assignments.ASSIGNMENTS.items() for name in a.wrong]
RIGHT = [(lec, name) for lec, a in assignments.ASSIGNMENTS.items() for name in a.right]

# what each wrong build's hint must say (its mistake, named)
HINTS = {
    "ULA: every proposal accepted": "ULA",
    "the step adapts forever, the last step returned": "with n_warmup = 0 the step must stay",
    "the step adapts forever, the warm-up's step returned": "the step still adapts",
    "the update's sign flipped": "the wrong way",
    "no step adaptation": "adapt the step after every warm-up step",
    "the initial step returned": "not run at the step and scales you return",
    "accepting on the energy difference": "exp(-2U)",
    "noise of variance eps": "the noise sqrt(2 eps) xi",
    "the scales never estimated": "the scales never changed from 1",
    "the variances taken for the scales": "those are the variances",
    "the scales returned but never used in the moves": "not run at the step and scales you return",
    "the gains never restart": "t0 the step at which the scales last changed",
    "each chain's variance over the window, averaged over the chains": "Pool each window's "
    "states over chains and steps",
    "the drift with U's gradient at x, not V's at y": "the gradient of V(y) = U(scales * y)",
    "the ratio of the unstretched proposal, in x": "your mala_log_acceptance on V, y and y'",
    "one window never emptied": "each window starts empty",
    "the step reset to step_size at each window's end": "keep eps and start only the gains",
    "the trace stored in y = x / scales": "return the states in x",
    "the uniform compared with log alpha unlogged": "your accept test rejects proposals",
    # 01_em
    "history without the prior": "adds the prior",
    "the log of summed probabilities, not logsumexp": "logsumexp",
    "no pseudo-counts in the M-step": "pseudo-counts",
    "the gain measured from the start": "went on after an iteration",
    "the stopping rule inverted": "go on until an iteration gains less than tol",
    "the weights never updated": "one more EM iteration",
    "the E-step's pixel terms swapped": "the objective fell",
    "seeds drawn uniformly": "some starts picked the same image twice",
    "seeds drawn by the distance, not its square": "closer to seeding by the distance, not its",
    "seeds by the squared distance to the first seed only, chosen ones excluded": "closer to "
    "seeding by the squared distance to the first seed only",
    "seeds by the sum of the squared distances to the seeds": "picked the same image twice",
    "the distance to the first seed only": "to the NEAREST seed chosen so far",
    "the prototypes started at the seeds themselves": "halfway between data points and the mean",
    "missing pixels read as seen in the log joint": "the objective fell",
    "missing pixels counted as off in the M-step (divided by N_k)": "sum_n r_nk m_nd + 2 alpha",
    "missing pixels read as seen in the M-step": "sum_n r_nk m_nd + 2 alpha",
    "the start from the images as stored": "nothing may read it",
    "the start's mean image over the images as stored": "nothing may read it",
    "a pixel no image shows divides by zero": "divide by the count clamped to at least 1",
    "the completion from the weights, not the posterior": "the posterior of image",
    "the completion by the most likely component": "p(x = 1 | the pixels seen) = sum_k r_nk p_kd",
    "the pixels seen overwritten by the completion": "was seen: keep it",
    "the completion from the loop's last responsibilities": "at the parameters you return",
    "missing pixels latent too (filled by the current probs: slow EM)": "one more EM iteration",
    "pixels no image shows left at their start": "one more EM iteration",
    # 02_wake_sleep
    "the wake phase with h from the prior, not q(h | x)": "h ~ q(h | x) a Bernoulli sample",
    "the sleep phase on data, not dreams": "on dreams (x, h) ~ p",
    "the optimisers swapped": "never moved",
    "the sleep step never taken": "never moved",
    "the losses maximised": "the wrong way",
    "neither phase zeroes its gradients": "its gradients zeroed every step",
    "new optimisers made every step": "each optimiser made once before the loop",
    "the prior's logits never learned": "theta (prior_logits and generative)",
    "log p(x, h) without the prior's term": "-log p(x, h) = -log p(h) - log p(x | h)",
    "h the mode of q, not a sample": "h ~ q(h | x) a Bernoulli sample",
    "the log-weights with q's density added": "- log q(h | x), each a Bernoulli",
    "one draw of h repeated k times": "not one draw repeated k times",
    "the wake phase's draws weighted alike": "w = softmax over the k_wake draws",
    "the weights from log p alone, without log q": "w = softmax over the k_wake draws",
    "the weights not normalised": "w = softmax over the k_wake draws",
    "the weights normalised over the batch, not the draws": "w = softmax over the k_wake draws",
    "the weights not held constant": "detach what the first loss must not train",
    "one draw of q in the wake phase whatever k_wake": "With k_wake draws h_j ~ q(h | x)",
    "phi's wake loss without the weights": "-sum_j w_j log q(h_j | x)",
    "q_update 'both' taken as the sleep loss alone": "'both' half of each",
    "k_wake ignored when q_update is 'sleep'": "With k_wake draws h_j ~ q(h | x)",
    "the weights not held constant, the graph kept": "detach from it what that step trained",
    "one draw of z repeated k times": "not one draw repeated k times",
    "binarized once, before the loop": "a batch binarized afresh (torch.bernoulli)",
    # 03_vae (one hint names every piece of the model and the loss; each mistake's piece is in it)
    "the KL term left out (an autoencoder with noise)": "+ KL(q(z | x) || N(0, I))",
    "the KL term's sign flipped": "the wrong way",
    "sigma taken as exp(log_var)": "exp(log_var / 2)",
    "no noise: z = mu": "z = mu + exp(log_var / 2) * eps",
    "the grey levels never binarized": "binarized afresh (torch.bernoulli)",
    "only the decoder optimised": "never moved",
    "a squared error for the Bernoulli likelihood": "-log p(x | z)",
    "the KL averaged over the latent dimensions": "+ KL(q(z | x) || N(0, I))",
    "the gradients never zeroed": "the gradients zeroed before each step",
    "a new Adam made every step": "the one Adam (made before the loop",
    "ReLU in place of tanh": "Linear(D, H), tanh, Linear(H, 2d)",
    "mu and log_var swapped": "mu the first d outputs",
    "the log-weights without the prior's density": "+ log N(z; 0, I)",
    "q's density without its log-variance": "- log N(z; mu, exp(log_var))",
    # 04_gan
    "the discriminator's optimiser over the generator's parameters": "never moved",
    "uniform noise, not the prior's": "N(0, I)",
    "batch_size examples a step, not batch_size packs": "n = batch_size * pack",
    "both Adams made anew every step": "made once before the loop",
    "Adam's default betas": "betas=(0.5, 0.999)",
    "the loop one step short": "once in each of the steps iterations",
    "real and generated packs swapped in D's loss": "the wrong way",
    "the generator's gradients never zeroed": "each gradient zeroed before its backward",
    "the minimax generator loss": "non-saturating",
    "the losses never recorded": "two losses",
    "the same rows every step": "drawn at random with replacement (torch.randint)",
    "tanh in place of ReLU in G": "G Linear(latent_dim, H), ReLU",
    "the samples drawn before training": "after the training loop",
    "the discriminator's gradients never zeroed": "G's backward also reaches D's weights",
    "one Adam over both players": "One Adam per player",
    "the generated points not detached in D's loss": "fake.detach()",
    "z drawn once, before the loop": "drawn afresh every step",
    "the samples all from one z": "each z drawn afresh from N(0, I)",
    "G's loss on logits taken before D's step": "under the updated discriminator",
    # 05_unified_view
    "d/ds taken for d/dlog s": "dx/dlog s = s eps = x - mu",
    "the factor 1/2 of p(y = 0) left out": "p(y = 0) = 1/2",
    "the minimax loss": "that is the minimax loss",
    "the discriminator never refreshed (built at theta0)": "not at theta0",
    "the baseline with the sample's own loss": "must not use x_i",
    "no baseline": "subtract the leave-one-out baseline",
    "the score in log s without its -1": "eps^2 - 1",
    "the score in mu as eps, not eps / s": "= eps / s",
    "gradient ascent": "descend the loss",
    "the same noise every step": "draw fresh noise",
    "uniform noise": "not standard normal",
    "the predicted minimum's KL reversed": "the KL reversed",
    "the predicted minimum's KL without its 1/2": "without the 1/2",
    "the predicted minimum's JSD added": "the JSD's sign flipped",
    # 06_energy_gan
    "the energy's optimiser over the generator's parameters": "never moved",
    "T left out of the generator's optimiser": "never moved",
    "no gradient penalty": "energy_loss(model.energy, real, fake.detach(), 0.1)",
    "no MI term": "0.3 * jsd_mi_estimate(model.critic, fake, z)",
    "the MI term on detached points": "jsd_mi_estimate(model.critic, fake, z)",
    "the MI term added, not subtracted": "the MI subtracted",
    "the average never updated": "never moved",
    "the average moved by decay, not 1 - decay": "a share 1 - decay of the way to G's",
    "Adam's default betas, not (0.5, 0.9)": "betas (0.5, 0.9)",
    "the energy's loss maximised": "the wrong way",
    "the negatives from the averaged generator": "not G_average",
    "the energy's gradients never zeroed": "the generator's backward also reaches U's weights",
    "one Adam over every parameter": "over U's parameters only",
    "the samples from G, not G_average": "G_average(z) (not G)",
    "tanh in place of ReLU": "three hidden ReLU layers",
    "the critic reading [z, x]": "x's columns first",
    "the average updated between the two players' steps": "after both steps",
    # 08_pixelcnn
    "type B in the first layer": "The first layer's mask is type A",
    "the mask applied once, at construction": "multiply the weights by the mask in forward",
    "the mask transposed (column order)": "which comes after it in raster order",
    "a 3x3 first layer": "the first layer is a 7x7 masked convolution of type A",
    "the loss in nats per pixel (the cross-entropy's default mean)": "that is nats per pixel",
    "the loss summed over the batch": "that is the batch's sum",
    "probabilities taken for logits": "summed binary cross-entropy with the logits",
    "one step fewer than asked": "every loss should be that image's NLL",
    "a fresh model's logits returned": "the logits returned are the trained model's",
    "gradients accumulated, never zeroed": "the gradients zeroed",
    "the first batch_size images every step": "drawn at random each step",
    "the sampler's logits from the images given, not the canvas": "on the canvas as it stands",
    "a pixel set to 1 when its uniform is above p": "Set pixel i to 1 when uniforms[:, i] < p",
    "the pixels sampled in column order": "in raster order (row by row)",
    "Bernoulli draws, the uniforms unused": "1 when uniforms[:, i] < sigmoid(logit)",
    "the kept pixels drawn again (start ignored)": "keep the first start pixels",
    "the canvas started blank (the given pixels dropped)": "keep the first start pixels",
    "samples from a fresh model": "with the model you trained",
    "a whole row drawn at once": "one at a time",
    "the completion started one pixel late": "the first one to draw",
    "a whole row's logits at once, the kept pixels respected": "raster order",
    "rows and columns swapped (divmod by H)": "row i // W, column i % W",
    "the completion started one pixel early": "keep the first start pixels",
    "the canvas drawn on in place (no copy)": "given.clone()",
    "batches drawn by Python's random module": "torch's generator",
    "the label never added (an unconditional model)": "your model ignores the labels",
    "the label as an input plane through the type-A mask": "hidden from pixel (0, 0)",
    "each batch's labels drawn apart from its images": "each image with its own label",
    "the logits of x_eval all given label 0": "computed without y_eval",
    "the samples all drawn given label 0": "the first S of y_eval",
    "the samples given the last S labels of y_eval": "the first S of y_eval",
    "the class added to the logits only": "a class's bias added to the logits",
    # 09_diffusion
    "the levels run from the smallest": "go from the largest sigma down",
    "eps for every level's step": "not eps itself",
    "lecture 07's sqrt(2 alpha) noise with the drift alpha / 2": "sqrt(2 alpha_i) belongs with",
    "plain Langevin at the smallest level (as many steps)": "levels from the largest",
    "the exact samples drawn with the learned score": "levels from the largest",
    "the chains moved in place (x0 changed)": "do not change x0 in place",
    "the network blind to sigma (no log sigma input)": "the network must read sigma",
    "the denoising target's sign flipped": "the target is -n / sigma",
    "a linear network (the SiLUs dropped)": "a nonlinearity between its layers",
}


@pytest.fixture(autouse=True, scope="module")
def _reference_draws_once():
    """Every build judged at one hidden variant meets the same reference draws: kept
    (``harness.REFERENCE_DRAWS``), so each is computed once here, not once a build."""
    harness.REFERENCE_DRAWS = {}
    yield
    harness.REFERENCE_DRAWS = None


def recorded(lecture):
    a = assignments.ASSIGNMENTS[lecture]
    rows = json.loads((records.RESULTS / "assignments.json").read_text())
    prefix = f"{lecture} build {a.grade_id}, "
    return {
        (r["model"][len(prefix) :], r["metric"]): r for r in rows if r["model"].startswith(prefix)
    }


@pytest.mark.parametrize("lecture", LECTURES)
def test_every_threshold_is_backed_by_the_calibration_record(lecture):
    a = assignments.ASSIGNMENTS[lecture]
    found = recorded(lecture)
    assert found, f"no record of {lecture}'s build: run python -m benchmarks.assignments"
    for r in found.values():
        assert r["thresholds"] == a.thresholds(), "a threshold changed since the calibration"
        assert r["seeds"] >= 20 and len(r["per_seed"]) == r["seeds"]
        assert r["check_seconds"] <= 60  # the limit per assignment, on 2 cores
    for part in ("properties", "outcome", "whole build"):
        r = found[("the reference", f"hidden variants passed: {part}")]
        assert r["value"] == r["seeds"], part
    builds = {model for model, _ in found} - {"the reference"}
    named = {f"wrong: {name}" for name in a.wrong} | {f"right: {name}" for name in a.right}
    assert builds == named, "the record's builds are stale"
    for name in a.right:
        for part in ("properties", "outcome", "whole build"):
            r = found[(f"right: {name}", f"hidden variants passed: {part}")]
            assert r["value"] == r["seeds"], (name, part)
    assert len(a.wrong) >= 5
    for name, (*_, part) in a.wrong.items():
        assert found[(f"wrong: {name}", "hidden variants passed: whole build")]["value"] == 0
        assert found[(f"wrong: {name}", f"hidden variants passed: {part}")]["value"] == 0
    # the margins: the reference's worst statistic against its threshold
    ref = found[("the reference", "hidden variants passed: whole build")]
    assert ref["measured"], "the check measured nothing"


@pytest.mark.parametrize("lecture", LECTURES)
def test_the_reference_build_passes(lecture):
    """At a hidden variant (the record has 20; the lecture gradings grade it at another)."""
    a = assignments.ASSIGNMENTS[lecture]
    result, found, _ = assignments.judge(
        a, assignments.build(a, assignments.reference_source(a)), 5
    )
    assert result.passed and result.points == 1.0, result.message
    assert found


@pytest.mark.parametrize("lecture,name", WRONG, ids=[n for _, n in WRONG])
def test_each_wrong_build_fails_its_part_with_a_hint_that_names_its_mistake(lecture, name):
    """The part the record says it fails, judged alone at a hidden variant."""
    a = assignments.ASSIGNMENTS[lecture]
    *_, part = a.wrong[name]
    result = assignments.judge_part(
        a, assignments.build(a, assignments.wrong_source(a, name)), 3, part
    )
    assert not result.passed, result.details
    assert HINTS[name] in result.hint, result.hint


@pytest.mark.parametrize("lecture", LECTURES)
def test_a_wrong_build_replayed_as_the_judge_does_gets_the_same_verdict_and_share(lecture):
    """Judged as the grader does (recorded where it runs, replayed where it is judged), at a
    hidden variant, a wrong build recorded failing its properties and passing its outcome:
    both runs give the same verdict, details, hint and share, and the share is the outcome's
    (the grader's own run of a partial build, for one lecture: test_grade_lectures)."""
    a = assignments.ASSIGNMENTS[lecture]
    name = assignments.outcome_only(a)
    *_, part = a.wrong[name]
    fn = assignments.build(a, assignments.wrong_source(a, name))
    harness.set_variant(3)
    try:
        there, here, problems, left = recorded_and_replayed(a.check, fn, a.grade_id)
    finally:
        harness.set_variant(0)
    assert problems == [] and left == []
    assert (here.status, here.details, here.hint, here.points) == (
        there.status,
        there.details,
        there.hint,
        there.points,
    )
    assert assignments.parts(here) == {"properties": False, "outcome": True}, here.details
    assert (here.status, here.points) == ("partial", 0.5)


def test_a_build_check_scores_its_parts_apart():
    def props(run, args):
        return None if run(*args) else "a property failed"

    def student(x):
        return x

    def check(p_ok, o_ok, share=0.6):
        build = harness.Build(
            harness.Judging([("p", (p_ok,))], [harness.Property(props)]),
            harness.Judging([("o", (o_ok,))], [harness.Property(props)]),
            properties_share=share,
        )
        return harness.run_build("demo", student, student, build)

    assert (check(True, True).status, check(True, True).points) == ("passed", 1.0)
    r = check(True, False)
    assert (r.status, r.points) == ("partial", pytest.approx(0.6))
    assert "outcome: a property failed" in r.hint and "properties (60% of the points)" in r.details
    r = check(False, True)
    assert (r.status, r.points) == ("partial", pytest.approx(0.4))
    r = check(False, False)
    assert (r.status, r.points) == ("wrong", 0.0)

    def unsolved(x):
        raise NotImplementedError

    build = harness.Build(
        harness.Judging([("p", (True,))], [harness.Property(props)]),
        harness.Judging([("o", (True,))], [harness.Property(props)]),
    )
    r = harness.run_build("demo", unsolved, unsolved, build)
    assert (r.status, r.points) == ("not implemented", 0.0)
    with pytest.raises(ValueError, match="properties_share"):
        harness.Build(build.properties, build.outcome, properties_share=1.0)


def test_the_grader_gives_a_share_only_to_a_partial_verdict():
    from dgm.course import grade

    assert grade._share({"status": "passed"}) == 1.0
    assert grade._share({"status": "partial", "share": 0.5}) == 0.5
    assert grade._share({"status": "wrong", "share": 0.5}) == 0.0
    assert grade._share({"status": "partial", "share": 1.5}) == 0.0
    assert grade._share({"status": "partial", "share": "0.5"}) == 0.0
    assert grade._share({"status": "partial"}) == 0.0


def test_a_wrong_build_that_no_longer_applies_is_named():
    a = assignments.ASSIGNMENTS[LECTURES[0]]
    broken = assignments.Assignment(
        a.lecture, a.grade_id, a.module, {"x": (("absent text", "y"), "outcome")}
    )
    with pytest.raises(ValueError, match="absent text"):
        assignments.wrong_source(broken, "x")


# the sentences of each lecture's "How it is graded" that state a threshold of its check
STATED = {
    "07_mcmc": lambda m: (
        f"within {m.TUNE_TOL} of the target",
        f"within {m.SCALE_TOL:.0%} of the target's standard deviations (each scale's relative "
        f"error at most {m.SCALE_TOL})",
        f"within {m.SAME_TOL})",
        f"share of the samples within {m.WEIGHT_TOL}",
        f"the means within {m.MEAN_TOL} standard deviations",
        f"the variances within {m.VAR_TOL:.0%}",
    ),
    "02_wake_sleep": lambda m: (f"no more than {m.EXCESS_TOL:g} above the true",),
    "03_vae": lambda m: (f"no more than {m.EXCESS_TOL:g} nat above the true",),
    "04_gan": lambda m: (
        f"at least {m.MIN_MODES:.0f} of the 8 modes",
        f"at least {m.MIN_HIGH_QUALITY:.0%} of them within 3 std",
    ),
    "05_unified_view": lambda m: (
        f"(to a relative $10^{{{round(math.log10(m.GRAD_RTOL))}}}$)",
        f"at $p \\ge 10^{{{round(math.log10(m.NOISE_P))}}}$",
        f"{m.OUTCOME_STEPS:,} steps of the pathwise estimator (lr {m.OUTCOME_LR:g}, "
        f"{m.OUTCOME_N} samples a step)",
        f"averaged over the last {m.STEPS_AVERAGED} steps",
        f"within {m.MAX_MU_ERROR:g} $s^*$ of",
        f"within {m.MAX_LOG_S_ERROR:g} of $\\log s^*$",
        f"to within $10^{{{round(math.log10(m.MINIMUM_TOL))}}}$",
    ),
    "06_energy_gan": lambda m: (
        f"with decay {m.STEP_DECAY:g} and `G_average` started off",
        f"Gaussian noise of sd {m.AVERAGE_OFFSET:g}",
        f"at least {m.MIN_MODES:.0f} of the 8 modes",
        f"at least {m.MIN_HIGH_QUALITY:.0%} of them within 3 std",
    ),
    "08_pixelcnn": lambda m: (
        f"by more than $10^{{{round(math.log10(m.READ_TOL))}}}$ when its own pixel",
        f"(by more than $10^{{{round(math.log10(m.WINDOW_TOL))}}}$) when any earlier pixel",
        f"(to a relative $10^{{{round(math.log10(m.LOSS_RTOL))}}}$)",
        f"must be at most {m.EXCESS_TOL:g} nats above the texture's own",
        f"at most {m.BELOW_TOL:g} below it",
        f"after {m.COMPLETION_STEPS} steps",
        f"within $10^{{{round(math.log10(m.SAMPLE_TOL))}}}$ of",
        f"of {m.CLASSES} classes",
    ),
    "01_em": lambda m: (
        f"gains at most {m.CONVERGED_TOL:g} x tol",
        f"within {m.EXCESS_TOL:g} nat per image",
        f"over {m.SEED_RUNS:,} such starts",
        f"within {m.SEEDS_TV_TOL:g} in total variation of k-means++'s exact law",
        f"{m.MISSING_SHARE:.0%} of their pixels missing at random",
        f"(to $10^{{{round(math.log10(m.COMPLETION_TOL))}}}$)",
    ),
    "09_diffusion": lambda m: (
        f"relative RMS error of at most {m.LEVEL_TOL:g} against the exact blurred score",
        f"within a total variation of {m.TV_TOL:g} of the weights",
        f"a share of at least {m.ON_MODE:g} of the samples must lie within 3 standard deviations",
    ),
}


@pytest.mark.parametrize("lecture", LECTURES)
def test_the_notebook_states_the_thresholds_it_is_graded_by(lecture):
    a = assignments.ASSIGNMENTS[lecture]
    text = (assignments.ROOT / "solutions" / f"{lecture}.py").read_text()
    graded = text[text.index("**How it is graded**") : text.index("The two parts score apart")]
    graded = " ".join(line.lstrip("# ") for line in graded.splitlines())
    for phrase in STATED[lecture](a.module):
        assert phrase in graded, phrase


@pytest.mark.parametrize("lecture,name", RIGHT, ids=[n for _, n in RIGHT])
def test_a_build_written_differently_passes(lecture, name):
    """Other correct answers (the record has them passing on 20 hidden variants)."""
    a = assignments.ASSIGNMENTS[lecture]
    result, _, _ = assignments.judge(a, assignments.build(a, a.right[name]), 2)
    assert result.passed, result.details


def test_a_trace_of_one_tensor_updated_in_place_is_named_in_the_hint():
    """A hostile review's case: the chains' state updated in place and appended each step,
    so the trace holds one tensor many times; the hint says so (not "count the accepted")."""
    a = assignments.ASSIGNMENTS["07_mcmc"]
    source = (
        assignments.reference_source(a)
        .replace("x, log_eps, t0 = x0.detach(),", "x, log_eps, t0 = x0.detach().clone(),")
        .replace(
            "        x, accepted = transition(x, eps, scales)\n        n_accepted",
            "        new, accepted = transition(x, eps, scales)\n        x.copy_(new)\n"
            "        n_accepted",
        )
    )
    assert "x.copy_(new)" in source and ".clone()," in source
    result = assignments.judge_part(a, assignments.build(a, source), 3, "properties")
    assert not result.passed
    assert "every state in it is the same" in result.hint, result.hint


def test_the_em_build_check_takes_a_stop_at_tol_zero_without_dividing_by_it():
    """Found by the calibration: with tol = 0 a run may stop early after an iteration that
    gained 0 (or less, within rounding); the check took one more EM iteration's gain over tol
    and divided by zero. With tol = 0 that stop obeys the rule, and the check says so."""
    import torch

    from dgm import em
    from dgm.checks import em as checks_em

    g = torch.Generator().manual_seed(0)
    X = torch.bernoulli(torch.full((40, 6), 0.4, dtype=torch.float64), generator=g)
    weights = torch.full((2,), 0.5, dtype=torch.float64)
    probs = torch.tensor([[0.3] * 6, [0.6] * 6], dtype=torch.float64)
    J = em.bernoulli_log_posterior(X, weights, probs, 1.0)

    def run(X, K, alpha, tol, max_iter, n_starts, observed):
        return weights, probs, [J + 1e-13, J], X  # one iteration, a gain of -1e-13

    assert checks_em._runs_em(run, (X, X, None, 2, 1.0, 0.0, 3, 1, 0)) is None


def test_an_em_build_that_raises_without_an_iteration_loses_the_properties_only():
    """A hostile review's case: a build whose loop variables are read after a loop that
    max_iter = 0 never enters raises there; the seeding property says so in its hint, and
    the outcome (run with iterations) still earns its half."""
    a = assignments.ASSIGNMENTS["01_em"]
    source = assignments.reference_source(a).replace(
        "        history = [objective(weights, probs)]\n",
        "        history = [objective(weights, probs)]\n"
        "        if max_iter == 0:\n"
        "            raise RuntimeError('J read after the loop')\n",
    )
    assert "J read after the loop" in source
    result, _, _ = assignments.judge(a, assignments.build(a, source), 3)
    assert assignments.parts(result) == {"properties": False, "outcome": True}, result.details
    assert "with max_iter = 0 your function raised RuntimeError" in result.hint, result.hint
