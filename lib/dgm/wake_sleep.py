"""Lecture 02: the Helmholtz machine, wake-sleep, and reweighted wake-sleep.

A Helmholtz machine has two directed networks over binary layers ``x = h_0, h_1, ..., h_L``:

- the generative model (theta), top-down: ``p(h_L) = prod Bernoulli(sigmoid(b))`` and
  ``p(h_{l-1} | h_l) = prod Bernoulli(sigmoid(W_l h_l + c_l))``;
- the recognition model (phi), bottom-up, the same shape in reverse:
  ``q(h_l | h_{l-1}) = prod Bernoulli(sigmoid(R_l h_{l-1} + d_l))``.

Both phases lower a KL divergence by sampling, with no gradient through a sample:

- **wake** (theta): sample ``h ~ q(h | x)`` on real ``x`` and raise ``log p(x, h)``. theta sits
  only inside the expectation, so samples of q are all it needs.
- **sleep** (phi): dream ``(x, h) ~ p`` and raise ``log q(h | x)``: this minimises
  ``KL(p(h | x) || q(h | x))`` averaged over the model's own ``x ~ p(x)`` (not the data),
  the *reverse* of the ELBO's ``KL(q || p)``, whose phi-gradient
  would need the high-variance score-function estimator (``elbo_score_surrogate``).
- **reweighted wake-sleep** (Bornschein & Bengio 2015): K samples of q, self-normalised
  importance weights ``w_k ~ p(x, h_k) / q(h_k | x)``; theta and phi both follow
  ``sum_k w_k grad log p`` and ``sum_k w_k grad log q`` on real data (the "wake-phase q
  update").

References: Hinton, Dayan, Frey & Neal, "The wake-sleep algorithm for unsupervised neural
networks" (1995); Dayan, Hinton, Neal & Zemel, "The Helmholtz machine" (1995); Bornschein &
Bengio, "Reweighted wake-sleep" (2015).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from . import densities


@dataclass
class HelmholtzConfig:
    """Layer sizes from the data up: ``(784, 200, 200)`` is x, then two latent layers."""

    sizes: tuple[int, ...] = (784, 200, 200)


class HelmholtzMachine(nn.Module):
    """A sigmoid belief net ``p_theta(x, h)`` and a mirrored recognition net ``q_phi(h | x)``."""

    def __init__(self, cfg: HelmholtzConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or HelmholtzConfig()
        sizes = cfg.sizes
        if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"HelmholtzMachine: sizes must be >= 2 positive ints, got {sizes}")
        L = len(sizes) - 1
        self.prior_logits = nn.Parameter(torch.zeros(sizes[-1]))  # b: p(h_L)
        # generative[i]: h_{i+1} -> logits of h_i, with h_0 = x
        # recognition[i]: h_i -> logits of h_{i+1}
        self.generative = nn.ModuleList(nn.Linear(sizes[i + 1], sizes[i]) for i in range(L))
        self.recognition = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(L))

    def generative_parameters(self) -> list[nn.Parameter]:
        """theta: the prior logits and the top-down layers."""
        return [self.prior_logits, *self.generative.parameters()]

    def recognition_parameters(self) -> list[nn.Parameter]:
        """phi: the bottom-up layers."""
        return list(self.recognition.parameters())

    @torch.no_grad()
    def sample_q(self, x: torch.Tensor, k: int | None = None) -> list[torch.Tensor]:
        """``[h_1, ..., h_L] ~ q(h | x)``, each (B, n_l), or (k, B, n_l) with ``k`` samples."""
        h, hs = x.flatten(1), []
        for i, layer in enumerate(self.recognition):
            logits = layer(h)
            if i == 0 and k is not None:  # x is the same for all k samples: one pass, shared
                logits = logits.expand(k, *logits.shape)
            h = torch.bernoulli(torch.sigmoid(logits))
            hs.append(h)
        return hs

    @torch.no_grad()
    def dream(self, n: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Ancestral samples ``(x, [h_1, ..., h_L]) ~ p_theta``: the sleep phase's "dreams"."""
        h = torch.bernoulli(torch.sigmoid(self.prior_logits).expand(n, -1))
        hs = [h]
        for layer in reversed(self.generative):
            h = torch.bernoulli(torch.sigmoid(layer(h)))
            hs.append(h)
        x = hs.pop()  # the bottom layer is the data
        return x, hs[::-1]

    def log_p(self, x: torch.Tensor, hs: list[torch.Tensor]) -> torch.Tensor:
        """``log p_theta(x, h) = log p(h_L) + sum_l log p(h_{l-1} | h_l)``, over the batch axes."""
        layers = [x.flatten(1), *hs]  # h_0 = x, ..., h_L
        total = densities.bernoulli_log_prob(layers[-1], self.prior_logits)
        for i, layer in enumerate(self.generative):
            total = total + densities.bernoulli_log_prob(layers[i], layer(layers[i + 1]))
        return total

    def log_q(self, x: torch.Tensor, hs: list[torch.Tensor]) -> torch.Tensor:
        """``log q_phi(h | x) = sum_l log q(h_l | h_{l-1})``; shape of the batch axes."""
        layers = [x.flatten(1), *hs]
        total = 0.0
        for i, layer in enumerate(self.recognition):
            total = total + densities.bernoulli_log_prob(layers[i + 1], layer(layers[i]))
        return total

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """``log p(x, h_k) - log q(h_k | x)`` for ``k`` samples of q per example, (k, B)."""
        hs = self.sample_q(x, k)
        return self.log_p(x.flatten(1), hs) - self.log_q(x.flatten(1), hs)


# --------------------------------------------------------------------------- the two phases


def wake_loss(model: HelmholtzMachine, x: torch.Tensor) -> torch.Tensor:
    """Wake phase, for theta: ``-log p_theta(x, h)`` with one ``h ~ q(h | x)`` per example.

    One value per example, shape (B,); the caller averages. The samples carry no gradient,
    so phi receives none: only theta learns here.
    """
    return -model.log_p(x, model.sample_q(x))


def sleep_loss(model: HelmholtzMachine, n: int) -> torch.Tensor:
    """Sleep phase, for phi: ``-log q_phi(h | x)`` on ``n`` dreams ``(x, h) ~ p_theta``; (n,)."""
    x, hs = model.dream(n)
    return -model.log_q(x, hs)


Q_UPDATES = ("wake", "sleep", "both")


def rws_losses(
    model: HelmholtzMachine, x: torch.Tensor, k: int, q_update: str = "wake"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reweighted wake-sleep losses ``(theta_loss, phi_loss)`` with ``k`` samples of q per example.

    ``w_k = softmax_k(log p(x, h_k) - log q(h_k | x))`` (self-normalised, held constant);
    ``theta_loss = -sum_k w_k log p(x, h_k)``. The q update (Bornschein & Bengio 2015):
    ``"wake"``, ``-sum_k w_k log q(h_k | x)`` on the real ``x``; ``"sleep"``, the sleep
    phase's ``-log q(h | x)`` on as many dreams; ``"both"``, half of each. Each loss is one
    value per example, shape (B,). With ``k = 1`` every weight is 1 and ``theta_loss`` is the
    wake loss.
    """
    if q_update not in Q_UPDATES:
        raise ValueError(f"rws_losses: q_update must be one of {Q_UPDATES}, got {q_update!r}")
    hs = model.sample_q(x, k)  # each (k, B, n)
    log_p = model.log_p(x.flatten(1), hs)  # (k, B)
    log_q = model.log_q(x.flatten(1), hs)  # (k, B)
    w = torch.softmax((log_p - log_q).detach(), dim=0)  # (k, B)
    theta_loss = -(w * log_p).sum(0)
    wake_q = -(w * log_q).sum(0)  # on the data: estimates KL(p(h | x) || q(h | x)) + const
    if q_update == "wake":
        return theta_loss, wake_q
    sleep_q = sleep_loss(model, len(x))  # on dreams: the sleep phase of wake-sleep
    return theta_loss, sleep_q if q_update == "sleep" else (wake_q + sleep_q) / 2


def elbo_score_surrogate(
    model: HelmholtzMachine, x: torch.Tensor, k: int = 1, baseline: bool = False
) -> torch.Tensor:
    """A loss whose phi-gradient is the score-function estimate of ``-grad_phi ELBO``.

    ``grad_phi ELBO = E_q[(log p(x, h) - log q(h | x)) grad_phi log q(h | x)]`` (the extra
    ``-E_q[grad_phi log q]`` term is zero). This is the "correct" phi update that wake-sleep
    avoids: unbiased, but its variance is large (measured in the lecture). With ``k``
    samples per example the estimates are averaged; with ``baseline`` (needs ``k >= 2``)
    each sample's learning signal is centred by the mean signal of the *other* ``k - 1``
    samples of the same example, a control variate that is independent of that sample and
    so keeps the estimate unbiased (NVIL's idea, with a sampled baseline in place of a
    learned one). One value per example, shape (B,).
    """
    if baseline and k < 2:
        raise ValueError(f"elbo_score_surrogate: a leave-one-out baseline needs k >= 2, got {k}")
    hs = model.sample_q(x, k)  # each (k, B, n)
    log_q = model.log_q(x, hs)  # (k, B)
    f = (model.log_p(x, hs) - log_q).detach()  # (k, B): the learning signal
    if baseline:
        f = f - (f.sum(0, keepdim=True) - f) / (k - 1)  # minus the others' mean
    return -(f * log_q).mean(0)


@torch.no_grad()
def log_likelihood_estimate(model: HelmholtzMachine, x: torch.Tensor, k: int) -> torch.Tensor:
    """``log p(x) ~= log (1/k) sum_k p(x, h_k) / q(h_k | x)``, ``h_k ~ q(h | x)``; shape (B,).

    A stochastic lower bound on ``log p(x)`` in expectation, tight as ``k`` grows; for large
    ``k`` use ``dgm.metrics.importance_log_likelihood``, which draws the samples in chunks.
    """
    hs = model.sample_q(x, k)  # each (k, B, n)
    log_w = model.log_p(x.flatten(1), hs) - model.log_q(x.flatten(1), hs)  # (k, B)
    return torch.logsumexp(log_w, dim=0) - math.log(k)


def training_step(
    model: HelmholtzMachine,
    x: torch.Tensor,
    opt: torch.optim.Optimizer,
    method: str = "ws",
    k: int = 5,
    q_update: str = "wake",
    wake=None,
    sleep=None,
    rws=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of ``opt`` on a batch ``x`` (B, D) of binary examples: the theta loss
    (wake: ``-log p(x, h)``, ``h ~ q(h | x)``) and the phi loss (sleep, on ``B`` dreams), or
    RWS's two losses with ``k`` samples, each averaged over its examples. Returns both,
    detached. ``wake``, ``sleep`` and ``rws`` replace the library's losses."""
    wake, sleep, rws = wake or wake_loss, sleep or sleep_loss, rws or rws_losses
    if method == "ws":
        theta_loss, phi_loss = wake(model, x), sleep(model, len(x))
    else:
        theta_loss, phi_loss = rws(model, x, k, q_update)
    theta_loss, phi_loss = theta_loss.mean(), phi_loss.mean()
    opt.zero_grad(set_to_none=True)
    (theta_loss + phi_loss).backward()  # disjoint parameters: one Adam is the same as two
    opt.step()
    return theta_loss.detach(), phi_loss.detach()


def wake_sleep_loop(
    model: HelmholtzMachine,
    x: torch.Tensor,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 100,
    k_wake: int = 1,
    q_update: str = "sleep",
) -> torch.Tensor:
    """Wake-sleep by hand, as lecture 02's build assignment writes it: ``model`` trained in
    place for ``steps`` steps; the ``(steps, 2)`` losses of theta and of phi.

    Each step draws ``batch_size`` rows of the binary data ``x`` (N, D) at random (with
    replacement). Wake: ``k_wake`` draws ``h ~ q(h | x)`` per row (samples, no gradient), one
    Adam step of theta on ``-sum_j w_j log p(x, h_j)``, the weights ``w`` self-normalised and
    held constant (``rws_losses``; with ``k_wake = 1`` every weight is 1: plain wake-sleep).
    Then phi (``q_update``): ``"sleep"``, ``batch_size`` dreams ``(x', h') ~ p`` and one Adam
    step on ``-log q(h' | x')``; ``"wake"``, ``-sum_j w_j log q(h_j | x)`` on the same draws of
    the data (reweighted wake-sleep's wake-phase q update); ``"both"``, half of each. Two
    optimisers, one per phase, each over its own parameters. ``fit`` uses one Adam over both on
    the summed losses (the parameters are disjoint), and dreams before the wake step, from
    theta before its update: here the dreams come after it.
    """
    if q_update not in Q_UPDATES:
        raise ValueError(f"wake_sleep_loop: q_update must be one of {Q_UPDATES}, got {q_update!r}")
    opt_theta = torch.optim.Adam(model.generative_parameters(), lr=lr)
    opt_phi = torch.optim.Adam(model.recognition_parameters(), lr=lr)
    losses = torch.zeros(steps, 2)
    for t in range(steps):
        xb = x[torch.randint(len(x), (batch_size,), device=x.device)].flatten(1)  # (B, D)
        theta_loss, wake_q = rws_losses(model, xb, k_wake, "wake")  # (B,) each
        wake = theta_loss.mean()  # theta learns to explain the data
        opt_theta.zero_grad(set_to_none=True)
        wake.backward()
        opt_theta.step()
        if q_update == "wake":  # phi follows the weighted draws of q on the data
            sleep = wake_q.mean()
        else:  # phi learns to invert the dreams (dreamt after theta's step)
            sleep = sleep_loss(model, batch_size).mean()
            sleep = sleep if q_update == "sleep" else (sleep + wake_q.mean()) / 2
        opt_phi.zero_grad(set_to_none=True)
        sleep.backward()
        opt_phi.step()
        losses[t] = torch.stack([wake.detach(), sleep.detach()])
    return losses


def build_weights(model: HelmholtzMachine) -> dict[str, torch.Tensor]:
    """A one-layer library machine's weights under lecture 02's build keys (plain ``Linear``
    layers: ``generative.weight`` for the library's ``generative.0.weight``), detached
    copies; ``load_build_weights`` is its inverse."""
    return {n.replace(".0.", ".", 1): t.detach().clone() for n, t in model.state_dict().items()}


def load_build_weights(model: HelmholtzMachine, state: dict[str, torch.Tensor]) -> None:
    """Load weights with the build's keys (``build_weights``) into a one-layer library
    machine, strictly: a missing or extra key raises ``load_state_dict``'s error."""

    def library_key(name: str) -> str:  # "generative.weight" -> "generative.0.weight"
        net, _, rest = name.partition(".")
        return f"{net}.0.{rest}" if net in ("generative", "recognition") else name

    model.load_state_dict({library_key(n): t for n, t in state.items()})


def helmholtz_from_scratch(
    init: dict[str, torch.Tensor],
    x: torch.Tensor,
    steps: int,
    lr: float,
    batch_size: int,
    x_eval: torch.Tensor,
    k: int,
    k_wake: int = 1,
    q_update: str = "sleep",
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Lecture 02's build assignment, the whole machine: a one-layer Helmholtz machine D-H,
    started from the weights ``init``, trained by ``wake_sleep_loop`` (``k_wake`` draws of q
    per row in the wake phase, phi's update ``q_update``: plain wake-sleep by default,
    reweighted wake-sleep otherwise) and evaluated.

    ``init`` holds ``prior_logits`` (H,), ``generative.weight`` and ``.bias`` (a
    ``Linear(H, D)``), ``recognition.weight`` and ``.bias`` (a ``Linear(D, H)``). Returns
    the trained weights (the same keys), the ``(steps, 2)`` losses of theta and phi, and ``k``
    importance log-weights ``log p(x, h) - log q(h | x)`` of each row of ``x_eval`` after
    training, (k, B).
    """
    x_dim, h_dim = init["generative.weight"].shape
    model = HelmholtzMachine(HelmholtzConfig((x_dim, h_dim))).to(init["prior_logits"])
    load_build_weights(model, init)
    losses = wake_sleep_loop(model, x, steps, lr, batch_size, k_wake, q_update)
    log_w = model.log_weights(x_eval, k)  # (k, B)
    return build_weights(model), losses, log_w


@dataclass
class FitConfig:
    """How ``fit`` trains a Helmholtz machine: wake-sleep (``method="ws"``) or reweighted
    wake-sleep (``"rws"``, ``k`` samples, ``q_update`` ``"wake"``, ``"sleep"`` or ``"both"``:
    ``rws_losses``; plain wake-sleep uses neither), Adam at ``lr`` on batches of
    ``batch_size`` dynamically binarized examples."""

    method: str = "ws"
    k: int = 5
    q_update: str = "wake"
    lr: float = 1e-3
    batch_size: int = 100

    def __post_init__(self):
        if self.method not in ("ws", "rws"):
            raise ValueError(f"FitConfig: method must be 'ws' or 'rws', got {self.method!r}")
        if self.q_update not in Q_UPDATES:
            raise ValueError(
                f"FitConfig: q_update must be one of {Q_UPDATES}, got {self.q_update!r}"
            )


def fit(
    model: HelmholtzMachine,
    x: torch.Tensor,
    steps: int,
    config: FitConfig | None = None,
    *,
    wake=None,
    sleep=None,
    rws=None,
    **kwargs,
):
    """Train by wake-sleep or reweighted wake-sleep for ``steps`` steps of ``training_step``.

    Each step: the theta loss on a batch of dynamically binarized ``x`` and the phi loss
    (sleep on as many dreams, or RWS's wake-phase q update), each averaged over its
    examples. The two losses touch disjoint parameters, so one Adam over both is the same as
    two. The settings come from ``config`` (a ``FitConfig``); a keyword argument that names
    one of its fields overrides it (``fit(model, x, 1000, method="rws")``). ``wake``,
    ``sleep`` and ``rws`` replace ``wake_loss``, ``sleep_loss`` and ``rws_losses`` (a
    student's own, in the notebook). The other keyword arguments go to ``dgm.train.train``,
    which returns the ``History``.
    """
    from . import data, train

    cfg = train.configure(FitConfig, config, kwargs, "fit", steps)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    stream = data.binarized_stream(x, cfg.batch_size)

    def step(i):
        xb = next(stream).flatten(1)
        theta_loss, phi_loss = training_step(
            model, xb, opt, cfg.method, cfg.k, cfg.q_update, wake, sleep, rws
        )
        return {"theta loss": theta_loss, "phi loss": phi_loss}

    method = cfg.method if cfg.method == "ws" else f"rws, q update: {cfg.q_update}"
    kwargs.setdefault("desc", method)
    return train.train(step, steps, state={"model": model, "opt": opt}, **kwargs)
