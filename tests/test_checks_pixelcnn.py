"""The checks of lecture 08 pass the reference, catch plausible wrong answers with a hint
aimed at the mistake, and pass correct answers written differently."""

import math

import pytest
import torch

from dgm import checks, pixelcnn

CHECKS = {
    "causal_mask": pixelcnn.causal_mask,
    "sample_naive": pixelcnn.sample_naive,
    "bits_per_dim": pixelcnn.bits_per_dim,
}


def run(name, fn):
    used = getattr(checks, name)(fn)
    return used, checks.results[name]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_reference_passes_and_an_unsolved_exercise_falls_back(name, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    reference = CHECKS[name]

    def mine(*args):
        return reference(*args)

    used, result = run(name, mine)
    assert result.passed and used is mine

    def stub(*args):
        raise NotImplementedError()

    used, result = run(name, stub)
    assert used is reference and result.status == "not implemented"


def mask_with_centre_row(k, mask_type):
    m = pixelcnn.causal_mask(k, mask_type)
    m[k // 2, :] = 1
    return m


def loop(model, u, order="raster", compare="less", redraw=True):
    x = torch.zeros(len(u), 1, 28, 28, dtype=u.dtype)
    blank = model(x)
    positions = [(r, c) for r in range(28) for c in range(28)]
    if order == "columns":
        positions = [(r, c) for c in range(28) for r in range(28)]
    for r, c in positions:
        p = torch.sigmoid((model(x) if redraw else blank)[:, 0, r, c])
        ui = u[:, 28 * r + c]
        x[:, 0, r, c] = (ui < p if compare == "less" else ui > p).to(x)
    return x


def loop_differently(model, uniforms):
    images = torch.zeros(len(uniforms), 784, dtype=uniforms.dtype)
    for i in range(784):
        logits = model(images.view(-1, 1, 28, 28)).flatten(1)
        images[:, i] = (torch.sigmoid(logits[:, i]) > uniforms[:, i]).double()
    return images.view(-1, 1, 28, 28)


WRONG = {
    "causal_mask": [
        (lambda k, t: pixelcnn.causal_mask(k, "B" if t == "A" else "A"), "swapped"),
        (lambda k, t: pixelcnn.causal_mask(k, t).T, "column order"),
        (mask_with_centre_row, "reads pixels after the centre"),
    ],
    "sample_naive": [
        (lambda m, u: loop(m, u, redraw=False), "blank canvas"),
        (lambda m, u: loop(m, u, compare="greater"), "raster order"),
        (lambda m, u: loop(m, u, order="columns"), "raster order"),
        (lambda m, u: torch.sigmoid(m(loop(m, u))), "not their probabilities"),
    ],
    "bits_per_dim": [
        (lambda nats, dims: nats / dims, "nats per dimension"),
        (lambda nats, dims: nats / math.log(2), "bits per image"),
        (lambda nats, dims: nats * math.log(2) / dims, "you multiplied"),
    ],
}

RIGHT = {
    "causal_mask": lambda k, t: (
        (torch.arange(k * k).reshape(k, k) < k * k // 2)
        | ((torch.arange(k * k).reshape(k, k) == k * k // 2) & (t == "B"))
    ),
    "sample_naive": loop_differently,
    "bits_per_dim": lambda nats, dims: nats * math.log2(math.e) / dims,
}

CASES = [(name, wrong, hint) for name, items in WRONG.items() for wrong, hint in items]


@pytest.mark.parametrize("name,wrong,hint", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_a_wrong_answer_fails_with_a_hint(name, wrong, hint, capsys, monkeypatch):
    monkeypatch.delenv("DGM_GRADING", raising=False)
    used, result = run(name, wrong)
    printed = capsys.readouterr().out
    assert not result.passed and result.implemented and used is CHECKS[name]
    assert printed.startswith("FAIL") and hint in printed, printed


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_correct_answer_written_differently_passes(name, capsys):
    used, result = run(name, RIGHT[name])
    assert result.passed and used is RIGHT[name], capsys.readouterr().out


def test_every_check_has_two_wrong_answers_and_a_right_one():
    assert set(WRONG) == set(RIGHT) == set(CHECKS)
    assert all(len(v) >= 2 for v in WRONG.values())


def test_the_library_answer_to_the_build_passes_its_check(monkeypatch):
    """``pixelcnn.train_pixelcnn`` is what a failed build falls back to: its own check
    passes it, both parts (the notebook's answer is judged in ``test_assignments.py``)."""
    monkeypatch.delenv("DGM_GRADING", raising=False)

    def mine(*args):  # an answer that calls the library, as a student's build would
        return pixelcnn.train_pixelcnn(*args)

    used, result = run("train_pixelcnn", mine)
    assert result.passed and used is mine, result.details
