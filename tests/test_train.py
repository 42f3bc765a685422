import pytest
import torch

from dgm import train as T


def make_problem(seed=0):
    """A small noisy regression, so that resuming must also restore the RNG state."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    w_true = torch.tensor([[1.0, -2.0, 0.5]])

    def step(i):
        x = torch.randn(32, 3)  # uses the global RNG
        loss = ((model(x) - x @ w_true.T) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss}

    return model, opt, step


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    model_a, opt_a, step_a = make_problem()
    hist_a = T.train(
        step_a, 40, state={"model": model_a, "opt": opt_a}, progress=False, log_every=1
    )

    ckpt = tmp_path / "run.pt"
    model_b, opt_b, step_b = make_problem()
    T.train(
        step_b,
        25,
        state={"model": model_b, "opt": opt_b},
        checkpoint=ckpt,
        save_every=5,
        progress=False,
        log_every=1,
    )
    torch.manual_seed(1234)  # a fresh process would not share the RNG state
    model_c, opt_c, step_c = make_problem(seed=99)  # different initial weights
    hist_c = T.train(
        step_c,
        40,
        state={"model": model_c, "opt": opt_c},
        checkpoint=ckpt,
        save_every=5,
        progress=False,
        log_every=1,
    )

    for p_a, p_c in zip(model_a.parameters(), model_c.parameters()):
        assert torch.equal(p_a, p_c)
    assert hist_c["loss"] == hist_a["loss"]  # the history is resumed too


def test_checkpoint_loads_with_weights_only(tmp_path):
    model, opt, step = make_problem()
    T.train(
        step, 3, state={"model": model, "opt": opt}, checkpoint=tmp_path / "c.pt", progress=False
    )
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    assert saved["step"] == 3 and "model" in saved["state"]


def test_an_interrupted_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    T.save_checkpoint(path, {"step": 1})

    def crash(obj, f, *a, **k):
        open(f, "wb").write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        T.save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert T.load_checkpoint(path)["step"] == 1


def test_nan_guard_stops_with_the_step_and_keeps_the_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    values = iter([1.0, 0.5, 0.25, float("nan"), 0.1])
    with pytest.raises(FloatingPointError, match=r"loss = nan at step 3.*untouched"):
        T.train(
            lambda i: {"loss": torch.tensor(next(values))},
            5,
            checkpoint=path,
            save_every=2,
            log_every=1,
            progress=False,
        )
    assert T.load_checkpoint(path)["step"] == 2


def test_evaluation_runs_every_eval_every_steps_and_at_the_end():
    calls = []
    hist = T.train(
        lambda i: {"loss": 1.0 / (i + 1)},
        10,
        evaluate=lambda i: calls.append(i) or {"score": i},
        eval_every=4,
        progress=False,
    )
    assert calls == [4, 8, 10]
    assert [s for s, _ in hist["score"]] == [4, 8, 10]
    assert len(hist["loss"]) == 10 and hist.last("loss") == pytest.approx(0.1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_steps"):
        T.train(lambda i: {}, -1)
    with pytest.raises(TypeError, match=r"state\['model'\]"):
        T.train(lambda i: {}, 1, state={"model": 3})


def test_a_time_limit_saves_and_stops_and_the_next_run_finishes(tmp_path):
    path = tmp_path / "c.pt"
    slow = lambda i: __import__("time").sleep(0.02) or {"loss": 1.0}  # noqa: E731
    first = T.train(slow, 100, checkpoint=path, time_limit=0.1, progress=False)
    assert first.stopped_at is not None and 0 < first.stopped_at < 100
    assert T.load_checkpoint(path)["step"] == first.stopped_at
    second = T.train(lambda i: {"loss": 1.0}, 100, checkpoint=path, progress=False)
    assert second.stopped_at is None and T.load_checkpoint(path)["step"] == 100
    assert len(second["loss"]) == 100  # the first run's steps are in the resumed history
