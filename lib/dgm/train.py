"""The course's training loop: the plumbing around a lecture's own training step.

Every lecture that trains a model has the same three pieces: a ``FitConfig`` dataclass (the
recipe's settings), a ``training_step`` (one update: the loss, ``backward``, the optimizer's
step) and ``fit(model, data, steps, config=None, **overrides)``, which builds the optimizers
and schedules and hands ``train`` a ``step(i)`` that runs one ``training_step`` on the next
batch and returns the numbers to log. ``train`` adds what every run needs:

- a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal);
- an evaluation callback every ``eval_every`` steps and at the end;
- a checkpoint written atomically (temp file, then rename) every ``save_every`` steps and
  at the end, and resumed from when present, so a Colab disconnect or a 10-minute job
  limit costs at most ``save_every`` steps (a resumed run follows its own schedule: the
  learning rates are those of the settings it was started with, at the step it resumes);
- a guard that stops with a clear message as soon as a logged value is NaN or infinite.

Logged values are read back from the GPU every ``log_every`` steps, not every step, so the
loop does not stall the device.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import config

LambdaLR = torch.optim.lr_scheduler.LambdaLR

Metrics = Mapping[str, "float | torch.Tensor"]


@dataclass
class History:
    """Logged values: ``history[name]`` is a list of ``(step, value)`` pairs."""

    records: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    stopped_at: int | None = None  # the step a time limit stopped at, else None

    def log(self, step: int, metrics: Metrics) -> None:
        for name, value in metrics.items():
            self.records.setdefault(name, []).append((int(step), float(value)))

    def __getitem__(self, name: str) -> list[tuple[int, float]]:
        return self.records[name]

    def __contains__(self, name: str) -> bool:
        return name in self.records

    def last(self, name: str) -> float:
        """The most recent value of ``name``."""
        return self.records[name][-1][1]

    def __repr__(self) -> str:  # short: a notebook cell that ends in fit(...) shows this
        logged = ", ".join(
            f"{k}: {len(v)} values, last {v[-1][1]:.4g} at step {v[-1][0]}"
            for k, v in self.records.items()
        )
        return f"History({logged or 'nothing logged'})"


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """``torch.save`` to a temp file in the same folder, then rename over ``path``.

    The rename is atomic, so an interrupted save never destroys the last good checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location=None) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` (tensors and plain containers only)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def _check_finite(step: int, metrics: Metrics, checkpoint: Path | None) -> None:
    for name, value in metrics.items():
        value = float(value)
        if not math.isfinite(value):
            kept = f" The last checkpoint, {checkpoint}, is untouched." if checkpoint else ""
            raise FloatingPointError(
                f"train: {name} = {value} at step {step}: training diverged.{kept} "
                "Try a smaller learning rate, gradient clipping, or check the loss for "
                "log(0) or division by zero."
            )


def train(
    step: Callable[[int], Metrics],
    n_steps: int,
    *,
    state: Mapping[str, object] | None = None,
    checkpoint: str | Path | None = None,
    save_every: int = 1000,
    evaluate: Callable[[int], Metrics] | None = None,
    eval_every: int | None = None,
    log_every: int = 50,
    desc: str = "train",
    progress: bool = True,
    time_limit: float | None = None,
) -> History:
    """Run ``step(i)`` for ``i`` in ``[start, n_steps)``; return the logged ``History``.

    Parameters
    ----------
    step : callable
        One optimisation step; returns a dict of scalars to log (tensors are fine).
    n_steps : int
        Total number of steps, counting those done before a resume.
    state : dict of objects with ``state_dict``/``load_state_dict``
        What a checkpoint holds, e.g. ``{"model": model, "opt": opt}``.
    checkpoint : path, optional
        Where to save; if the file exists, training resumes from it.
    time_limit : float, optional
        Seconds after which to save a checkpoint and stop early (a job with a wall-clock
        limit then resumes in its next run); ``history.stopped_at`` says where.
    save_every, eval_every, log_every : int
        Periods in steps. ``evaluate(i)`` returns a dict of scalars to log; it runs every
        ``eval_every`` steps (if given) and after the last step.
    """
    if not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"train: n_steps must be a non-negative int, got {n_steps!r}")
    for name, value in (("save_every", save_every), ("log_every", log_every)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"train: {name} must be a positive int, got {value!r}")
    state = dict(state or {})
    for name, obj in state.items():
        if not hasattr(obj, "state_dict") or not hasattr(obj, "load_state_dict"):
            raise TypeError(f"train: state[{name!r}] has no state_dict/load_state_dict")
    checkpoint = Path(checkpoint) if checkpoint is not None else None

    history, start = History(), 0
    if checkpoint is not None and checkpoint.exists():
        saved = load_checkpoint(checkpoint)
        if missing := sorted(set(state) - set(saved["state"])):
            raise ValueError(
                f"train: the checkpoint {checkpoint} holds {sorted(saved['state'])} but not "
                f"{missing}: it was written by another run or version of the code. Delete it "
                "to start afresh, or pass another checkpoint path."
            )
        # the base learning rates of this run's settings, not of the run that saved
        base_lrs = {n: list(o.base_lrs) for n, o in state.items() if isinstance(o, LambdaLR)}
        for name, obj in state.items():
            obj.load_state_dict(saved["state"][name])
        for name, base in base_lrs.items():
            _resume_schedule(state[name], base)
        history.records = {k: [tuple(p) for p in v] for k, v in saved["history"].items()}
        start = int(saved["step"])
        torch.set_rng_state(saved["rng"])
        if torch.cuda.is_available() and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(saved["cuda_rng"])

    def save(i: int) -> None:
        if checkpoint is None:
            return
        save_checkpoint(
            checkpoint,
            {
                "step": i,
                "state": {name: obj.state_dict() for name, obj in state.items()},
                "history": history.records,
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        )

    bar = None
    if progress and n_steps > start:
        bar = config.progress_bar(total=n_steps, initial=start, desc=desc, leave=True)
    pending: list[tuple[int, Metrics]] = []  # values not yet read back from the device

    def flush() -> None:
        for i, metrics in pending:
            _check_finite(i, metrics, checkpoint)
            history.log(i, metrics)
        if pending and bar is not None:
            bar.set_postfix({k: f"{float(v):.4g}" for k, v in pending[-1][1].items()})
        pending.clear()

    t0 = time.perf_counter()
    for i in range(start, n_steps):
        metrics = step(i)
        if metrics:
            pending.append(
                (i, {k: v.detach() if torch.is_tensor(v) else v for k, v in metrics.items()})
            )
        done = i + 1
        if done % log_every == 0 or done == n_steps:
            flush()
        if evaluate is not None and ((eval_every and done % eval_every == 0) or done == n_steps):
            flush()
            scores = evaluate(done)
            _check_finite(done, scores, checkpoint)
            history.log(done, scores)
        if done % save_every == 0 or done == n_steps:
            flush()
            save(done)
        if bar is not None:
            bar.update(1)
        if time_limit is not None and time.perf_counter() - t0 > time_limit and done < n_steps:
            flush()
            save(done)
            history.stopped_at = done
            break
    flush()
    if bar is not None:
        bar.close()
    return history


def _resume_schedule(schedule: LambdaLR, base_lrs: list) -> None:
    """Set the learning rates a resumed ``schedule`` gives at the step it resumes from, from
    ``base_lrs`` and its own factors: a checkpoint holds the rates of the run that saved it
    (another length, another lr), which the next ``step()`` would otherwise start from."""
    schedule.base_lrs = base_lrs
    lrs = [b * f(schedule.last_epoch) for b, f in zip(base_lrs, schedule.lr_lambdas)]
    for group, base, lr in zip(schedule.optimizer.param_groups, base_lrs, lrs):
        group["initial_lr"] = base
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(lr)  # in place: a captured step reads it from its address
        else:
            group["lr"] = lr
    schedule._last_lr = lrs


# --------------------------------------------------------------------------- a fast step


def configure(config_type: type, config, overrides: dict, who: str = "fit", steps=0):
    """The settings a lecture's ``fit`` runs with: ``config`` (an instance of the dataclass
    ``config_type``, or its defaults when ``None``) with every field that ``overrides`` names
    replaced. Those keys are removed from ``overrides``; the rest are ``train``'s own.

    Checks ``steps`` and the settings every recipe shares (``lr``, ``lr_d``, ``batch_size``,
    ``k``), so that a bad value is named here rather than deep inside a schedule.
    """
    kind = f"{config_type.__module__}.{config_type.__qualname__}"
    if config is None:
        config = config_type()
    elif not isinstance(config, config_type):
        raise TypeError(f"{who}: config must be a {kind}, got {type(config).__qualname__}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"{who}: steps must be a non-negative int, got {steps!r}")
    names = {f.name for f in dataclasses.fields(config_type)} & set(overrides)
    config = dataclasses.replace(config, **{name: overrides.pop(name) for name in names})
    for name in ("lr", "lr_d"):
        value = getattr(config, name, None)
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{who}: {name} must be a number > 0, got {value!r}")
    for name in ("batch_size", "k"):
        value = getattr(config, name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{who}: {name} must be an int >= 1, got {value!r}")
    return config


def step_mode(model: torch.nn.Module, mode: str = "auto") -> str:
    """``"graph"`` or ``"eager"``: ``mode`` itself, or for ``"auto"``, ``"graph"`` when the
    model's parameters are on a GPU."""
    if mode not in ("auto", "eager", "graph"):
        raise ValueError(f"step_mode: mode must be 'auto', 'eager' or 'graph', got {mode!r}")
    if mode == "auto":
        return "graph" if next(model.parameters()).is_cuda else "eager"
    return mode


def adam_step(
    model: torch.nn.Module,
    update: Callable[[torch.Tensor, torch.optim.Optimizer], torch.Tensor],
    mode: str = "auto",
    lr: float = 1e-3,
    **adam_kwargs,
) -> tuple[torch.optim.Adam, Callable[[torch.Tensor], torch.Tensor], str]:
    """Adam over ``model``'s parameters and ``step(batch)``, one ``update(batch, opt)`` (a
    lecture's ``training_step`` with its model and settings bound), captured as a CUDA graph
    in ``"graph"`` mode (``make_step``).

    Returns ``(opt, step, mode)``, the mode resolved by ``step_mode``. A captured step reads
    the learning rate and Adam's step counter from the GPU, so in graph mode the lr is a
    tensor (which ``torch.optim.lr_scheduler`` fills in place) and Adam is ``capturable``.
    """
    mode = step_mode(model, mode)
    graph = mode == "graph"
    device = next(model.parameters()).device
    opt = torch.optim.Adam(
        model.parameters(),
        lr=torch.tensor(lr, device=device) if graph else lr,
        capturable=graph,
        **adam_kwargs,
    )
    return opt, make_step(lambda batch: update(batch, opt), opt, mode=mode), mode


def make_step(
    update: Callable[[torch.Tensor], torch.Tensor],
    opt: torch.optim.Optimizer,
    *,
    mode: str = "auto",
    warmup: int = 3,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``update(batch)``, a whole optimisation step (``zero_grad``, the loss, ``backward``,
    ``opt.step()``, returning the loss), run eagerly or captured as one CUDA graph.

    A small model on a GPU spends most of an eager step launching kernels from Python, not
    computing: the VAE of lecture 03 issues a few hundred tiny kernels per step. A CUDA
    graph records the whole step (forward, backward, optimizer) once and then replays it
    with one launch, which is what makes an epoch of that VAE take well under a second.

    Parameters
    ----------
    update : callable
        ``batch -> loss``, one update of ``opt`` (a lecture's ``training_step``). In graph
        mode it must not read values back to the host (no ``.item()``, no data-dependent
        ``if``); random draws (``torch.randn``) are fine: every replay gets fresh ones.
    opt : torch.optim.Optimizer
        The optimizer ``update`` steps. In graph mode, an optimizer with a step counter
        (Adam, AdamW...) must be created with ``capturable=True``, so that the counter lives
        on the GPU, and with its lr as a tensor (``adam_step`` does both); a scheduler of
        ``torch.optim.lr_scheduler`` fills that tensor in place, where the graph reads it.
    mode : {"auto", "eager", "graph"}
        ``"eager"`` returns ``update`` itself. ``"graph"``: the first ``warmup`` calls run
        eagerly on a side stream (as CUDA graphs require), the next one captures the step,
        every later call replays it. ``"auto"`` is ``"graph"`` when the optimizer's
        parameters are on a GPU, else ``"eager"``.

    Returns
    -------
    step : callable
        ``step(batch)`` does one update and returns the loss (detached). Every call is
        exactly one optimizer step, whatever the mode. Batches must all have the shape of
        the first one in graph mode.
    """
    params = [p for group in opt.param_groups for p in group["params"]]
    if mode == "auto":
        mode = "graph" if params and params[0].is_cuda else "eager"
    if mode not in ("eager", "graph"):
        raise ValueError(f"make_step: mode must be 'auto', 'eager' or 'graph', got {mode!r}")
    if mode == "eager":
        return update
    if not torch.cuda.is_available() or not all(p.is_cuda for p in params):
        raise RuntimeError("make_step: mode 'graph' needs the model's parameters on a GPU")
    if not all(group.get("capturable", True) for group in opt.param_groups):
        raise ValueError(
            "make_step: mode 'graph' needs an optimizer created with capturable=True, "
            "e.g. torch.optim.Adam(params, lr=torch.tensor(1e-3, device='cuda'), "
            "capturable=True)"
        )

    graph, side = torch.cuda.CUDAGraph(), torch.cuda.Stream()
    static: dict[str, torch.Tensor] = {}  # the captured input and loss: fixed addresses
    calls = 0

    def step(batch: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls <= warmup:  # warm-up steps: real updates, on a side stream
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = update(batch)
            torch.cuda.current_stream().wait_stream(side)
            return loss
        if not static:  # capture: records the kernels without running them...
            static["x"] = batch.clone()
            opt.zero_grad(set_to_none=True)  # .grad is then allocated inside the graph
            with torch.cuda.graph(graph):
                static["loss"] = update(static["x"]).detach()
        elif batch.shape != static["x"].shape:
            raise ValueError(
                f"make_step: a captured step needs batches of shape {tuple(static['x'].shape)},"
                f" got {tuple(batch.shape)} (drop the last, smaller batch)"
            )
        else:
            static["x"].copy_(batch)
        graph.replay()  # ...so the first update happens here, as on every later call
        return static["loss"].clone()  # the next replay overwrites static["loss"]

    return step


# --------------------------------------------------------------------------- schedules


def _check_lengths(who: str, **lengths) -> None:
    for name, value in lengths.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")


def cosine_decay(
    opt: torch.optim.Optimizer, steps: int, start: int = 0, final: float = 0.0, warmup: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Keep ``opt``'s learning rates for ``start`` steps, then bring them along a half
    cosine to ``final`` times their base value at step ``steps``; with ``warmup``, first
    raise them linearly from ``1 / warmup`` of it over the first ``warmup`` steps.

    Before step ``i`` each rate is its base value times
    ``final + (1 - final) * (1 + cos(pi * t)) / 2``, ``t = (i - start) / (steps - start)``
    clipped to [0, 1] (and times ``min(1, (i + 1) / warmup)``). Call the returned
    scheduler's ``step()`` after every optimiser step and keep it in the checkpointed state,
    so that a resumed run continues the schedule.
    """
    _check_lengths("cosine_decay", steps=steps)
    if not isinstance(start, int) or not 0 <= start < steps:
        raise ValueError(f"cosine_decay: start must be an int in [0, {steps}), got {start!r}")
    if not 0 <= final <= 1:
        raise ValueError(f"cosine_decay: final must be in [0, 1], got {final!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"cosine_decay: warmup must be an int >= 0, got {warmup!r}")

    def factor(i: int) -> float:
        t = min(max((i - start) / (steps - start), 0.0), 1.0)
        ramp = min(1.0, (i + 1) / warmup) if warmup else 1.0
        return ramp * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def linear_decay(
    opt: torch.optim.Optimizer, steps: int, decay_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Keep ``opt``'s learning rates for ``steps - decay_steps`` steps, then bring them
    linearly toward 0 over the last ``decay_steps`` (none: ``decay_steps = 0`` keeps them).

    Before step ``i`` (counting from 0) each rate is its base value times
    ``min(1, (steps - i) / decay_steps)``: the last step runs at ``1 / decay_steps`` of it.
    Call the returned scheduler's ``step()`` after every optimiser step, and keep it in the
    checkpointed state so that a resumed run continues the schedule.
    """
    _check_lengths("linear_decay", steps=steps)
    if not isinstance(decay_steps, int) or decay_steps < 0:
        raise ValueError(f"linear_decay: decay_steps must be an int >= 0, got {decay_steps!r}")
    if decay_steps == 0:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0)
    if decay_steps > steps:
        raise ValueError(f"linear_decay: decay_steps ({decay_steps}) exceeds steps ({steps})")
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (steps - i) / decay_steps))
