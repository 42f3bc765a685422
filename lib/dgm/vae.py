"""Lecture 03: the variational autoencoder, its ELBO and the IWAE bound.

The model: ``p(z) = N(0, I)``, a decoder
``p_theta(x | z) = prod_d Bernoulli(x_d | sigmoid(l_d(z)))``, and an encoder
``q_phi(z | x) = N(mu(x), diag exp(log_var(x)))``. For every x,

    log p(x) = ELBO + KL(q_phi(z | x) || p_theta(z | x)),
    ELBO     = E_q[log p_theta(x | z)] - KL(q_phi(z | x) || p(z)).

- The reparameterization trick writes ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``, so the
  ELBO's gradient w.r.t. phi is an average of ordinary gradients (low variance).
- The KL to the standard normal prior has a closed form; only the reconstruction term is
  estimated by sampling.
- beta-VAE scales the KL term by beta.
- IWAE (Burda et al. 2016) averages K importance weights inside the log:
  ``L_K = E[log 1/K sum_k p(x, z_k) / q(z_k | x)]``, with ``L_1 = ELBO <= L_K <= log p(x)``,
  non-decreasing in K.

Also here: a linear-Gaussian model in which log p(x), the posterior and the ELBO are all
exact (to check the identity above), and the score-function (REINFORCE) estimator, to
compare its variance with the reparameterization estimator's.

References: Kingma & Welling, "Auto-Encoding Variational Bayes" (2014); Rezende, Mohamed &
Wierstra (2014); Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016);
Higgins et al., "beta-VAE" (2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import densities
from .densities import LOG_2PI
from .nets import ConvDecoder, ConvEncoder, mlp

# --------------------------------------------------------------------------- distributions


def reparameterize(
    mu: torch.Tensor, log_var: torch.Tensor, n_samples: int | None = None, generator=None
) -> torch.Tensor:
    """``z = mu + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``: a sample gradients flow through.

    With ``n_samples = K`` the result has a leading sample axis: (K, B, d); else (B, d).
    """
    if mu.shape != log_var.shape:
        raise ValueError(
            f"reparameterize: mu {tuple(mu.shape)} and log_var {tuple(log_var.shape)} differ"
        )
    shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
    eps = torch.randn(shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + torch.exp(0.5 * log_var) * eps


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag sigma^2) || N(0, I))``, per example (B,).

    ``= 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)``.
    """
    return 0.5 * (mu**2 + log_var.exp() - log_var - 1).sum(-1)


# --------------------------------------------------------------------------- objectives


def negative_elbo(
    x: torch.Tensor,
    logits: torch.Tensor,
    mu: torch.Tensor,
    log_var: torch.Tensor,
    beta: float = 1.0,
) -> torch.Tensor:
    """``-ELBO = -log p(x | z) + beta * KL(q(z | x) || p(z))`` per example, (B,).

    ``logits`` are the decoder's output for one reparameterized ``z ~ q(z | x)``; the KL is
    exact. ``beta = 1`` is the VAE; other values give the beta-VAE.
    """
    return -densities.bernoulli_log_prob(x.flatten(1), logits) + beta * gaussian_kl(mu, log_var)


def log_importance_weights(
    x: torch.Tensor, logits: torch.Tensor, z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """``log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x)``, z (K, B, d) -> (K, B)."""
    return (
        densities.bernoulli_log_prob(x.flatten(1), logits)
        + densities.standard_normal_log_prob(z)
        - densities.gaussian_log_prob(z, mu, log_var)
    )


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """``L_K = log (1/K) sum_k w_k`` from log-weights (K, B), per example (B,).

    ``logsumexp`` keeps it finite when the weights themselves under- or overflow.
    """
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def rate_distortion(
    model: VAE, x: torch.Tensor, n_samples: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the ELBO per example, (B,) each: ``(rate, distortion)``.

    ``rate = KL(q(z | x) || p(z))`` (exact): the nats the code spends on ``x``;
    ``distortion = -E_q[log p(x | z)]``, estimated with ``n_samples`` reparameterized ``z``:
    how badly the decoder rebuilds ``x``. ``-ELBO = distortion + rate``, and the beta-VAE
    minimises ``distortion + beta * rate``.
    """
    mu, log_var = model.encode(x)
    z = reparameterize(mu, log_var, n_samples=n_samples)  # (S, B, d)
    distortion = -densities.bernoulli_log_prob(x.flatten(1), model.decode(z)).mean(0)
    return gaussian_kl(mu, log_var), distortion


# --------------------------------------------------------------------------- models


@dataclass
class VAEConfig:
    """Defaults of the IWAE paper's one-stochastic-layer MNIST model."""

    x_dim: int = 784
    hidden: tuple[int, ...] = (200, 200)
    z_dim: int = 50
    activation: str = "tanh"
    conv: bool = False  # a small conv encoder/decoder instead of the MLPs
    channels: int = 32


class VAE(nn.Module):
    """Gaussian encoder ``q_phi(z | x)``, Bernoulli decoder ``p_theta(x | z)``, prior N(0, I)."""

    def __init__(self, cfg: VAEConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or VAEConfig()
        if cfg.conv:
            self.encoder = ConvEncoder(2 * cfg.z_dim, cfg.channels)
            self.decoder = ConvDecoder(cfg.z_dim, cfg.channels)
        else:
            self.encoder = mlp([cfg.x_dim, *cfg.hidden, 2 * cfg.z_dim], cfg.activation)
            self.decoder = mlp([cfg.z_dim, *reversed(cfg.hidden), cfg.x_dim], cfg.activation)

    def set_output_bias(self, pixel_mean: torch.Tensor) -> None:
        """Start the decoder at the mean image (output bias = logit of the mean), as Burda et al.

        ``pixel_mean`` holds 784 values in [0, 1] (any shape), e.g. ``x_train.mean(0)``.
        """
        if not torch.is_tensor(pixel_mean) or pixel_mean.numel() != self.cfg.x_dim:
            got = tuple(pixel_mean.shape) if torch.is_tensor(pixel_mean) else type(pixel_mean)
            raise ValueError(
                f"set_output_bias: pixel_mean must be a tensor of {self.cfg.x_dim} values, "
                f"got {got}"
            )
        p = pixel_mean.flatten().clamp(1e-3, 1 - 1e-3)
        bias = self.decoder.pixel_bias if self.cfg.conv else self.decoder[-1].bias
        with torch.no_grad():
            bias.copy_(torch.log(p) - torch.log1p(-p))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log_var)`` of ``q_phi(z | x)``, each (B, z_dim)."""
        h = self.encoder(x if self.cfg.conv else x.flatten(1))  # (B, 2 z_dim)
        mu, log_var = h.chunk(2, dim=-1)
        return mu, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of ``p_theta(x | z)``, (..., 784)."""
        return self.decoder(z)

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """The training loss ``-ELBO`` per example (one reparameterized sample), (B,)."""
        mu, log_var = self.encode(x)
        z = reparameterize(mu, log_var)  # (B, d)
        return negative_elbo(x, self.decode(z), mu, log_var, beta)

    def log_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """``k`` importance log-weights per example with ``q`` as proposal, (k, B)."""
        mu, log_var = self.encode(x)
        z = reparameterize(mu, log_var, n_samples=k)  # (k, B, d)
        return log_importance_weights(x, self.decode(z), z, mu, log_var)

    def iwae_loss(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """The IWAE training loss ``-L_k`` per example, (B,)."""
        return -iwae_bound(self.log_weights(x, k))

    @torch.no_grad()
    def sample(self, n: int, generator=None) -> torch.Tensor:
        """Pixel probabilities ``sigmoid(decoder(z))`` for ``n`` draws ``z ~ N(0, I)``: (n, 784)."""
        p = next(self.parameters())
        z = torch.randn(n, self.cfg.z_dim, device=p.device, dtype=p.dtype, generator=generator)
        return torch.sigmoid(self.decode(z))


# --------------------------------------------------------------------------- an exact model


class LinearGaussian:
    """``p(z) = N(0, I_d)``, ``p(x | z) = N(W z + b, sigma^2 I_D)``: everything is exact.

    ``log p(x) = log N(x | b, W W^T + sigma^2 I)``; the posterior is Gaussian with
    ``Sigma_post = (I + W^T W / sigma^2)^{-1}`` and ``mu_post = Sigma_post W^T (x - b) / sigma^2``.
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, sigma: float):
        self.W, self.b, self.sigma = W, b, float(sigma)
        D, d = W.shape
        self.D, self.d = D, d

    def log_px(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x)``, (B,)."""
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(
            self.D, dtype=self.W.dtype, device=self.W.device
        )
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, d) and covariance (d, d) of ``p(z | x)``."""
        s2 = self.sigma**2
        cov = torch.linalg.inv(
            torch.eye(self.d, dtype=self.W.dtype, device=self.W.device) + self.W.T @ self.W / s2
        )
        return (x - self.b) @ self.W @ cov / s2, cov

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x | z) + log p(z)`` for z of shape (..., B, d); (..., B)."""
        mean = z @ self.W.T + self.b
        log_lik = -0.5 * (
            self.D * (LOG_2PI + 2 * math.log(self.sigma))
            + ((x - mean) ** 2).sum(-1) / self.sigma**2
        )
        return log_lik + densities.standard_normal_log_prob(z)

    def elbo(self, x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """Exact ELBO of ``q = N(mu, diag exp(log_var))``: ``E_q[log p(x | z)] - KL(q || p(z))``.

        ``E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + tr(W diag(var) W^T)``.
        """
        var = log_var.exp()
        resid = ((x - mu @ self.W.T - self.b) ** 2).sum(-1) + (var * (self.W**2).sum(0)).sum(-1)
        expected_log_lik = -0.5 * (
            self.D * (LOG_2PI + 2 * math.log(self.sigma)) + resid / self.sigma**2
        )
        return expected_log_lik - gaussian_kl(mu, log_var)

    def posterior_kl(
        self, x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
    ) -> torch.Tensor:
        """Exact ``KL(N(mu, diag var) || p(z | x))`` between two Gaussians, (B,)."""
        post_mu, post_cov = self.posterior(x)
        prec = torch.linalg.inv(post_cov)
        var = log_var.exp()
        diff = post_mu - mu
        return 0.5 * (
            (torch.diagonal(prec) * var).sum(-1)
            + ((diff @ prec) * diff).sum(-1)
            - self.d
            + torch.logdet(post_cov)
            - log_var.sum(-1)
        )


# --------------------------------------------------------------------------- gradient estimators


def elbo_gradient_estimates(
    log_joint,
    mu: torch.Tensor,
    log_var: torch.Tensor,
    n_samples: int,
    estimator: str,
    generator=None,
) -> torch.Tensor:
    """Monte Carlo estimates of ``d ELBO / d mu`` for one x, from ``n_samples`` samples each.

    ``log_joint(z)`` returns ``log p(x, z)`` for z of shape (S, d). Returns one estimate per
    call, shape (d,). Both estimators are unbiased:

    - ``"reparam"``: ``E_eps[ grad_mu f(mu + sigma eps) ]`` with ``f = log p(x, z) - log q(z)``;
    - ``"score"`` (REINFORCE): ``E_q[ f(z) grad_mu log q(z) ]``, which needs no gradient of f
      but multiplies a noisy f by a noisy score;
    - ``"score-baseline"``: the same with lecture 02's leave-one-out baseline, each sample's
      ``f`` minus the mean ``f`` of the other samples (unbiased, since the baseline does not
      depend on the sample it multiplies; needs ``n_samples >= 2``).
    """
    if estimator not in ("reparam", "score", "score-baseline"):
        raise ValueError(
            f"estimator must be 'reparam', 'score' or 'score-baseline', got {estimator!r}"
        )
    if estimator == "score-baseline" and n_samples < 2:
        raise ValueError(f"a leave-one-out baseline needs n_samples >= 2, got {n_samples}")
    mu = mu.detach().clone().requires_grad_(True)
    if estimator == "reparam":
        z = reparameterize(
            mu.expand(n_samples, -1), log_var.expand(n_samples, -1), generator=generator
        )
        f = log_joint(z) - densities.gaussian_log_prob(z, mu, log_var)  # (S,)
        (grad,) = torch.autograd.grad(f.mean(), mu)
        return grad
    with torch.no_grad():
        z = reparameterize(
            mu.expand(n_samples, -1), log_var.expand(n_samples, -1), generator=generator
        )
        f = log_joint(z) - densities.gaussian_log_prob(z, mu, log_var)  # (S,)
        if estimator == "score-baseline":  # f_s - mean of the other samples' f
            f = f - (f.sum() - f) / (n_samples - 1)
    log_q = densities.gaussian_log_prob(
        z, mu, log_var
    )  # gradient flows to mu through the density only
    (grad,) = torch.autograd.grad((f * log_q).mean(), mu)
    return grad


# --------------------------------------------------------------------------- training


def train_vae(
    model: VAE, x: torch.Tensor, steps: int, lr: float = 1e-3, batch_size: int = 100
) -> torch.Tensor:
    """The VAE's training loop by hand, as lecture 03's build assignment writes it: ``model``
    trained in place for ``steps`` Adam steps; each step's loss, (steps,).

    Each step draws ``batch_size`` images of ``x`` (grey levels in [0, 1]) at random, with
    replacement, binarizes them afresh, and takes one step of the negative ELBO: the encoder's
    ``(mu, log_var)``, one reparameterized ``z``, the decoder's logits, the Bernoulli
    log-likelihood and the exact KL. ``fit`` trains the same loss with the benchmark's recipe
    (a learning-rate schedule, Adam's ``eps``, a CUDA graph on a GPU).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = torch.zeros(steps)
    for t in range(steps):
        xb = torch.bernoulli(x[torch.randint(len(x), (batch_size,), device=x.device)])  # (B, ...)
        mu, log_var = model.encode(xb)  # q(z | x): (B, d) each
        z = reparameterize(mu, log_var)  # (B, d): the noise is outside, gradients flow through
        loss = negative_elbo(xb, model.decode(z), mu, log_var).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[t] = loss.detach()
    return losses


def vae_from_scratch(
    init: dict[str, torch.Tensor],
    x: torch.Tensor,
    steps: int,
    lr: float,
    batch_size: int,
    x_eval: torch.Tensor,
    k: int,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Lecture 03's build assignment, the whole VAE: a VAE with one tanh hidden layer in each
    network, started from the weights ``init``, trained by ``train_vae`` and evaluated.

    ``init`` is the ``state_dict`` of such a VAE (``encoder.0``, ``encoder.2``,
    ``decoder.0``, ``decoder.2``, each ``weight`` and ``bias``): its shapes give D, H and d.
    Returns the trained weights (the same keys), each step's loss, (steps,), and ``k``
    importance log-weights ``log p(x, z) - log q(z | x)`` of each image of ``x_eval`` after
    training, (k, B).
    """
    hidden, x_dim = init["encoder.0.weight"].shape
    z_dim = init["decoder.0.weight"].shape[1]
    p = init["encoder.0.weight"]
    model = VAE(VAEConfig(x_dim, (hidden,), z_dim)).to(p.device, p.dtype)
    model.load_state_dict(init)
    losses = train_vae(model, x, steps, lr, batch_size)
    with torch.no_grad():
        log_w = model.log_weights(x_eval, k)  # (k, B)
    return {n: t.detach().clone() for n, t in model.state_dict().items()}, losses, log_w


@dataclass
class FitConfig:
    """How ``fit`` trains a VAE or an IWAE: the course benchmark's settings by default.

    Adam with ``eps = 1e-4`` (Burda et al. 2016), batches of 100 dynamically binarized
    digits, and the learning rate decayed from ``lr`` to ``final_lr * lr`` along a cosine
    over the run (``final_lr = 1``: constant). ``k = 1`` trains the (beta-)VAE with weight
    ``beta`` on its KL term, ``k > 1`` the IWAE (``beta`` then plays no part), and a
    ``loss`` given to ``fit`` replaces both. ``mode``: ``"auto"`` captures the whole step as
    one CUDA graph on a GPU and runs eagerly elsewhere (``dgm.train.make_step``).
    """

    lr: float = 1e-3
    adam_eps: float = 1e-4
    batch_size: int = 100
    final_lr: float = 0.1
    beta: float = 1.0
    k: int = 1
    mode: str = "auto"

    def __post_init__(self):
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"FitConfig: k must be an int >= 1, got {self.k!r}")
        if not 0 <= self.final_lr <= 1:
            raise ValueError(f"FitConfig: final_lr must be in [0, 1], got {self.final_lr!r}")
        if self.mode not in ("auto", "eager", "graph"):
            raise ValueError(f"FitConfig: mode must be auto, eager or graph, got {self.mode!r}")


def batch_loss(
    model: VAE,
    x: torch.Tensor,
    cfg: FitConfig | None = None,
    loss: Callable[[VAE, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """What ``fit`` minimises on a batch ``x`` (B, 784): the mean over the batch of the
    (beta-)VAE's loss, the IWAE's (``cfg.k > 1``) or ``loss(model, x)`` (one value per
    example, e.g. a student's own)."""
    cfg = cfg or FitConfig()
    if loss is not None:
        return loss(model, x).mean()
    return (model.loss(x, cfg.beta) if cfg.k == 1 else model.iwae_loss(x, cfg.k)).mean()


def training_step(
    model: VAE,
    x: torch.Tensor,
    opt: torch.optim.Optimizer,
    cfg: FitConfig | None = None,
    loss: Callable[[VAE, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One update of ``opt`` on ``batch_loss`` of the batch ``x``; returns it, detached.
    The step ``fit`` repeats (on a GPU, the same step captured as one CUDA graph)."""
    value = batch_loss(model, x, cfg, loss)
    opt.zero_grad(set_to_none=True)
    value.backward()
    opt.step()
    return value.detach()


def fit_step(
    model: VAE,
    x: torch.Tensor,
    steps: int,
    cfg: FitConfig | None = None,
    loss: Callable[[VAE, torch.Tensor], torch.Tensor] | None = None,
):
    """What ``fit`` runs: ``(state, step, mode)`` with ``step(i) -> {"loss": ...}``, one
    ``training_step`` on the next batch, then one step of the learning-rate schedule.

    ``steps`` is the run's length, over which the learning rate decays; ``state`` holds what
    a checkpoint saves (model, optimizer, schedule). Used by ``fit`` and by the benchmark's
    speed test, so both time and train the same step.
    """
    from . import data, train

    cfg = cfg or FitConfig()
    opt, update, mode = train.adam_step(
        model,
        lambda xb, opt: training_step(model, xb, opt, cfg, loss),
        cfg.mode,
        lr=cfg.lr,
        eps=cfg.adam_eps,
    )
    schedule = train.cosine_decay(opt, max(steps, 1), final=cfg.final_lr)
    stream = data.binarized_stream(x, cfg.batch_size)

    def step(i):
        value = update(next(stream))
        schedule.step()
        return {"loss": value}

    return {"model": model, "opt": opt, "schedule": schedule}, step, mode


def fit(
    model: VAE,
    x: torch.Tensor,
    steps: int,
    config: FitConfig | None = None,
    loss: Callable[[VAE, torch.Tensor], torch.Tensor] | None = None,
    **kwargs,
):
    """Train ``model`` on dynamically binarized images ``x`` for ``steps`` steps.

    The settings come from ``config`` (a ``FitConfig``); a keyword argument that names one of
    its fields overrides it (``fit(model, x, 1000, beta=4.0)``). ``loss(model, xb)``
    replaces the model's own loss (``batch_loss``). The other keyword arguments go to
    ``dgm.train.train`` (``checkpoint``, ``evaluate``, ``desc``...), which returns the
    ``History``.
    """
    from . import train

    cfg = train.configure(FitConfig, config, kwargs, "fit", steps)
    state, step, mode = fit_step(model, x, steps, cfg, loss)
    name = "VAE" if cfg.k == 1 else f"IWAE (k={cfg.k})"
    kwargs.setdefault("desc", f"{name if loss is None else 'VAE, own loss'}, {mode} step")
    return train.train(step, steps, state=state, **kwargs)
