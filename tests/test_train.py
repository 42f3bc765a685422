import math

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


# --------------------------------------------------------------------------- make_step


def regression(device="cpu", capturable=False):
    """A model, its optimizer, its update (one whole step) and a fixed stream of batches."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    model = model.to(device)
    lr = torch.tensor(0.01, device=device) if capturable else 0.01
    opt = torch.optim.Adam(model.parameters(), lr=lr, capturable=capturable)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randn(16, 3, generator=gen).to(device) for _ in range(8)]

    def update(x):
        loss = ((model(x).squeeze(-1) - x.sum(-1).sin()) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return model, opt, update, batches


def test_make_step_eager_is_the_update_itself():
    _, opt, update, _ = regression()
    assert T.make_step(update, opt) is update  # auto on CPU: eager
    assert T.make_step(update, opt, mode="eager") is update


def test_make_step_names_what_graph_mode_needs():
    _, opt, update, _ = regression()
    with pytest.raises(ValueError, match="mode must be"):
        T.make_step(update, opt, mode="fast")
    with pytest.raises(RuntimeError, match="needs the model's parameters on a GPU"):
        T.make_step(update, opt, mode="graph")


def test_adam_step_is_one_plain_adam_step_per_call():
    """``adam_step`` on the CPU: Adam with the given settings, ``training_step`` as it is."""
    torch.manual_seed(0)
    model_a = torch.nn.Linear(3, 1)
    model_b = torch.nn.Linear(3, 1)
    model_b.load_state_dict(model_a.state_dict())
    x = torch.randn(16, 3)

    def training_step(model):
        def step(xb, opt):
            loss = model(xb).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.detach()

        return step

    opt_a, update, mode = T.adam_step(model_a, training_step(model_a), lr=0.05, eps=1e-4)
    assert mode == "eager" and isinstance(opt_a, torch.optim.Adam)
    assert opt_a.defaults["eps"] == 1e-4 and opt_a.param_groups[0]["lr"] == 0.05
    opt_b = torch.optim.Adam(model_b.parameters(), lr=0.05, eps=1e-4)
    for _ in range(5):
        assert torch.equal(update(x), training_step(model_b)(x, opt_b))
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="mode must be"):
        T.adam_step(model_a, training_step(model_a), mode="fast")


def test_a_scheduler_fills_a_tensor_lr_in_place():
    """What a captured step relies on (torch >= 2.4): the graph reads the lr from the
    tensor's address, so a schedule must change that tensor, not replace it."""
    model = torch.nn.Linear(2, 1)
    lr = torch.tensor(0.1)
    opt = torch.optim.Adam(model.parameters(), lr=lr, capturable=True)
    schedule = T.cosine_decay(opt, steps=4)
    for _ in range(2):
        opt.step()
        schedule.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(0.05)


def test_cosine_decay_holds_then_follows_a_half_cosine_to_its_final_share():
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.2)
    schedule = T.cosine_decay(opt, steps=8, start=4, final=0.1)
    lrs = []
    for _ in range(10):  # past the end: the lr stays at its final share
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    tail = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(5)] + [0.1]
    assert lrs == pytest.approx([0.2] * 4 + [0.2 * f for f in tail])


@pytest.mark.parametrize(
    "steps, start, final, match",
    [(0, 0, 0.0, "steps"), (5, 5, 0.0, "start"), (5, -1, 0.0, "start"), (5, 0, 1.5, "final")],
)
def test_cosine_decay_rejects_bad_settings(steps, start, final, match):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=match):
        T.cosine_decay(opt, steps, start, final)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


@cuda
def test_a_captured_step_matches_eager_steps():
    model_a, opt_a, update_a, batches = regression("cuda", capturable=True)
    graph = T.make_step(update_a, opt_a, mode="graph", warmup=2)
    losses_a = torch.stack([graph(x) for x in batches])  # 2 warm-up, 1 capture, 5 replays
    model_b, opt_b, update_b, _ = regression("cuda", capturable=True)
    losses_b = torch.stack([update_b(x) for x in batches])
    torch.testing.assert_close(losses_a, losses_b)
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(p, q)
    # a schedule reaches the captured step through the lr tensor: a stale lr would differ
    for opt in (opt_a, opt_b):
        T.linear_decay(opt, steps=4, decay_steps=4).step()  # the lr to 3/4 of its value
    torch.testing.assert_close(graph(batches[0]), update_b(batches[0]))
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(p, q)
    with pytest.raises(ValueError, match="batches of shape"):
        graph(batches[0][:5])


@cuda
def test_a_captured_step_draws_fresh_noise_each_replay():
    model = torch.nn.Linear(4, 1).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # no step counter: graph-safe as it is

    def update(x):
        loss = model(x + torch.randn_like(x)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    step = T.make_step(update, opt, warmup=1)
    x = torch.zeros(64, 4, device="cuda")
    losses = torch.stack([step(x) for _ in range(5)])
    assert losses.unique().numel() == 5


@cuda
def test_graph_mode_refuses_an_optimizer_that_is_not_capturable():
    _, opt, update, _ = regression("cuda", capturable=False)
    with pytest.raises(ValueError, match="capturable=True"):
        T.make_step(update, opt, mode="graph")


def test_linear_decay_holds_then_falls_linearly_to_one_step_above_zero():
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.2)
    schedule = T.linear_decay(opt, steps=10, decay_steps=4)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert lrs == pytest.approx([0.2] * 7 + [0.15, 0.1, 0.05])


@pytest.mark.parametrize(
    "steps, decay, match",
    [(0, 1, "steps"), (5, -1, "decay_steps"), (5, 6, "exceeds"), (5, 2.0, "decay_steps")],
)
def test_linear_decay_rejects_bad_lengths(steps, decay, match):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=match):
        T.linear_decay(opt, steps, decay)


def test_a_resumed_schedule_runs_at_its_own_settings_rates(tmp_path):
    """A run saved with one length and lr and resumed into a longer one with another lr
    continues at the rate the new settings give at that step (not the saved rate, and not
    the saved base lr): the first resumed step of a 4-step decay into an 8-step one."""
    path = tmp_path / "run.pt"

    def run(steps, lr, decay, seen):
        w = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([w], lr=lr)
        schedule = T.linear_decay(opt, steps, decay)

        def step(i):
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            schedule.step()
            return {}

        state = {"opt": opt, "schedule": schedule}
        T.train(step, steps, state=state, checkpoint=path, progress=False)

    first, second = [], []
    run(4, 1e-3, 4, first)
    run(8, 5e-4, 4, second)
    assert first == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert second == pytest.approx([5e-4, 3.75e-4, 2.5e-4, 1.25e-4])  # steps 4..7


def test_a_checkpoint_without_a_part_of_the_state_is_named(tmp_path):
    path = tmp_path / "old.pt"
    model = torch.nn.Linear(2, 1)
    T.train(lambda i: {}, 1, state={"model": model}, checkpoint=path, progress=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"holds \['model'\] but not \['opt'\].*Delete it"):
        T.train(lambda i: {}, 2, state={"model": model, "opt": opt}, checkpoint=path)
