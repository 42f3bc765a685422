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

# what each wrong build's hint must say (its mistake, named)
HINTS = {
    "ULA: every proposal accepted": "ULA",
    "the step adapts forever, the last step returned": "with n_warmup = 0 the step must stay",
    "the step adapts forever, the warm-up's step returned": "the step still adapts",
    "the update's sign flipped": "the wrong way",
    "no adaptation": "adapt the step after every warm-up step",
    "the initial step returned": "not run at the step you return",
    "accepting on the energy difference": "did not keep it",
    "noise of variance eps": "did not keep it",
    # 01_em
    "history without the prior": "adds the prior",
    "the log of summed probabilities, not logsumexp": "logsumexp",
    "no pseudo-counts in the M-step": "pseudo-counts",
    "the gain measured from the start": "went on after an iteration",
    "the stopping rule inverted": "go on until an iteration gains less than tol",
    "the weights never updated": "one more EM iteration",
    "the E-step's pixel terms swapped": "the objective fell",
    # 02_wake_sleep
    "the wake phase with h from the prior, not q(h | x)": "h ~ q(h | x), and phi by Adam",
    "the sleep phase on data, not dreams": "on dreams (x, h) ~ p, each with lr",
    "the optimisers swapped": "never moved",
    "the sleep step never taken": "never moved",
    "the losses maximised": "the wrong way",
    "neither phase zeroes its gradients": "its gradients zeroed every step",
    "new optimisers made every step": "each optimiser made once before the loop",
    # 03_vae (one hint names every piece of the loss; each mistake's piece is in it)
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
    # 04_gan
    "the discriminator's optimiser over the generator's parameters": "never moved",
    "uniform noise, not the prior's": "z = model.prior(n) (Gaussian noise)",
    "batch_size examples a step, not batch_size packs": "n = batch_size * model.pack",
    "both Adams made anew every step": "made once before the loop",
    "Adam's default betas": "betas=(0.5, 0.999)",
    "the loop one step short": "once in each of the steps iterations",
    "real and generated packs swapped in D's loss": "the wrong way",
    "the generator's gradients never zeroed": "each gradient zeroed before its backward",
    "the minimax generator loss": "G's mean non-saturating loss",
    "the losses never recorded": "row t of what you return holds the two losses",
    "the same rows every step": "drawn at random with replacement (torch.randint)",
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
    "the first batch_size images every step": "(drawn at random each step)",
}


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
    assert builds == {f"wrong: {name}" for name in a.wrong}, "the record's wrong builds are stale"
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
        f"within {m.SAME_TOL})",
        f"share of the samples within {m.WEIGHT_TOL}",
        f"the means within {m.MEAN_TOL}",
        f"the variances within {m.VAR_TOL:.0%}",
    ),
    "02_wake_sleep": lambda m: (f"no more than {m.EXCESS_TOL:g} above the true",),
    "03_vae": lambda m: (f"no more than {m.EXCESS_TOL:g} nat above the true",),
    "04_gan": lambda m: (
        f"at least {m.MIN_MODES:.0f} of the 8 modes",
        f"at least {m.MIN_HIGH_QUALITY:.0%} of them within 3 std",
    ),
    "08_pixelcnn": lambda m: (
        f"by more than $10^{{{round(math.log10(m.READ_TOL))}}}$ when its own pixel",
        f"(by more than $10^{{{round(math.log10(m.WINDOW_TOL))}}}$) when any earlier pixel",
        f"(to a relative $10^{{{round(math.log10(m.LOSS_RTOL))}}}$)",
        f"must be at most {m.EXCESS_TOL:g} nats above the texture's own",
        f"at most {m.BELOW_TOL:g} below it",
    ),
    "01_em": lambda m: (
        f"gains at most {m.CONVERGED_TOL:g} x tol",
        f"within {m.EXCESS_TOL:g} nat per image",
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


def test_a_gan_loop_written_differently_passes():
    """A hostile review's case: lecture 04's loop that calls the section's training_step,
    draws the noise by hand before the rows and stacks the losses: another order of the
    random draws, so another run, and the same distributions."""
    a = assignments.ASSIGNMENTS["04_gan"]
    source = (
        "def train_gan(model, x, steps, lr=1e-3, batch_size=64):\n"
        "    opts = [torch.optim.Adam(p.parameters(), lr=lr, betas=(0.5, 0.999))\n"
        "            for p in (model.D, model.G)]\n"
        "    n = batch_size * model.pack\n"
        "    out = []\n"
        "    for _ in range(steps):\n"
        "        z = torch.randn(n, model.latent_dim)\n"
        "        real = x[torch.randint(0, x.shape[0], (n,))]\n"
        "        out.append(torch.stack(training_step(model, real, z, *opts)))\n"
        "    return torch.stack(out)\n"
    )
    result, _, _ = assignments.judge(a, assignments.build(a, source), 2)
    assert result.passed, result.details


def test_a_trace_of_one_tensor_updated_in_place_is_named_in_the_hint():
    """A hostile review's case: the chains' state updated in place and appended each step,
    so the trace holds one tensor many times; the hint says so (not "count the accepted")."""
    a = assignments.ASSIGNMENTS["07_mcmc"]
    source = (
        assignments.reference_source(a)
        .replace("x, log_eps = x0.detach(),", "x, log_eps = x0.detach().clone(),")
        .replace(
            "        x, accepted = transition(x, eps)\n        n_accepted",
            "        new, accepted = transition(x, eps)\n        x.copy_(new)\n        n_accepted",
        )
    )
    assert "x.copy_(new)" in source and ".clone()," in source
    result = assignments.judge_part(a, assignments.build(a, source), 3, "properties")
    assert not result.passed
    assert "every state in it is the same" in result.hint, result.hint


def test_a_pixelcnn_written_differently_passes():
    """A hostile review's case: lecture 08's build with its own mask (a plain attribute, not
    a buffer), ``nn.ModuleList``s, the NLL by ``logsigmoid``, the losses stacked and the
    logits returned flattened."""
    a = assignments.ASSIGNMENTS["08_pixelcnn"]
    source = (
        "class MConv(nn.Conv2d):\n"
        "    def __init__(self, cin, cout, k, kind):\n"
        "        super().__init__(cin, cout, k, padding=k // 2)\n"
        "        m = torch.ones(k, k)\n"
        "        m[k // 2, k // 2 + (kind == 'B'):] = 0\n"
        "        m[k // 2 + 1:] = 0\n"
        "        self.m = m\n"
        "    def forward(self, x):\n"
        "        return F.conv2d(x, self.weight * self.m, self.bias, padding=self.padding)\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, c, n):\n"
        "        super().__init__()\n"
        "        self.first = MConv(1, c, 7, 'A')\n"
        "        self.mid = nn.ModuleList(nn.ModuleList([nn.Conv2d(c, c // 2, 1),\n"
        "            MConv(c // 2, c // 2, 3, 'B'), nn.Conv2d(c // 2, c, 1)]) for _ in range(n))\n"
        "        self.out = nn.ModuleList([nn.Conv2d(c, c, 1), nn.Conv2d(c, 1, 1)])\n"
        "    def forward(self, x):\n"
        "        a = self.first(x)\n"
        "        for c_in, conv, c_out in self.mid:\n"
        "            a = a + c_out(torch.relu(conv(torch.relu(c_in(torch.relu(a))))))\n"
        "        return self.out[1](torch.relu(self.out[0](torch.relu(a))))\n"
        "def train_pixelcnn(x, steps, lr, batch_size, x_eval, channels=16, blocks=2):\n"
        "    net = Net(channels, blocks)\n"
        "    opt = torch.optim.Adam(net.parameters(), lr=lr)\n"
        "    out = []\n"
        "    for _ in range(steps):\n"
        "        b = x[torch.randint(0, x.shape[0], (batch_size,))]\n"
        "        logit = net(b)\n"
        "        ll = b * F.logsigmoid(logit) + (1 - b) * F.logsigmoid(-logit)\n"
        "        nll = -ll.flatten(1).sum(1).mean()\n"
        "        opt.zero_grad()\n"
        "        nll.backward()\n"
        "        opt.step()\n"
        "        out.append(nll.detach())\n"
        "    with torch.no_grad():\n"
        "        return torch.stack(out), net(x_eval).flatten(1)\n"
    )
    result, _, _ = assignments.judge(a, assignments.build(a, source), 2)
    assert result.passed, result.details
