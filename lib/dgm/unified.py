"""Lecture 05: GANs and VAEs as the two directions of one KL (Hu et al., ICLR 2018).

Both models fit a distribution ``q`` to a target ``p``, but from opposite sides:

- ``KL(q || p) = E_q[log q - log p]`` (the VAE's posterior term, and the GAN generator's
  term in Hu et al.'s reading) is infinite wherever q has mass and p has none, so q hides
  inside one mode: **mode seeking**, sharp but incomplete.
- ``KL(p || q) = E_p[log p - log q]`` (maximum likelihood, wake-sleep's sleep phase) is
  infinite wherever p has mass and q has none, so q stretches over every mode: **mode
  covering**, complete but blurry.

This module makes that visible on Gaussians (exact in 1-D by quadrature, by sampling in 2-D)
and implements the two transfers the paper proposes:

- the importance weighted GAN (IWGAN): generated samples weighted by the density ratio the
  discriminator estimates, ``w_i ∝ D(x_i) / (1 - D(x_i)) = exp(l_i)``, normalised in a batch;
- the adversary-activated VAE (AA-VAE): the VAE also learns from its own samples, each
  weighted by the discriminator's belief ``D(x)`` that it is real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import densities
from . import gan as gan_lib
from . import vae as vae_lib
from .nets import mlp

# --------------------------------------------------------------------------- KL directions


def gaussian_kl_1d(mu_q, s_q, mu_p, s_p) -> torch.Tensor:
    """``KL(N(mu_q, s_q^2) || N(mu_p, s_p^2))`` in closed form (elementwise).

    Takes the dtype and device of the first tensor argument (float64 for plain numbers).
    """
    like = next((v for v in (mu_q, s_q, mu_p, s_p) if torch.is_tensor(v)), None)
    dtype, device = (torch.float64, None) if like is None else (like.dtype, like.device)
    mu_q, s_q, mu_p, s_p = (
        torch.as_tensor(v, dtype=dtype, device=device) for v in (mu_q, s_q, mu_p, s_p)
    )
    return torch.log(s_p / s_q) + (s_q**2 + (mu_q - mu_p) ** 2) / (2 * s_p**2) - 0.5


def fit_gaussian_1d(
    log_p: torch.Tensor,
    xs: torch.Tensor,
    direction: str,
    init: tuple[float, float] = (0.5, 1.0),
    steps: int = 2000,
    lr: float = 0.05,
) -> tuple[float, float]:
    """Fit ``q = N(mu, s^2)`` to the density ``exp(log_p)`` on the grid ``xs``, exactly.

    ``direction`` is ``"reverse"`` to minimise ``KL(q || p)`` or ``"forward"`` for
    ``KL(p || q)``; both integrals are computed by quadrature, and ``(mu, log s)`` follow
    Adam. Returns ``(mu, s)``.
    """
    if direction not in ("reverse", "forward"):
        raise ValueError(
            f"fit_gaussian_1d: direction must be 'reverse' or 'forward', got {direction!r}"
        )
    dx = (xs[1] - xs[0]).item()
    mu = torch.tensor(float(init[0]), dtype=xs.dtype, device=xs.device, requires_grad=True)
    log_s = torch.tensor(math.log(init[1]), dtype=xs.dtype, device=xs.device, requires_grad=True)
    opt = torch.optim.Adam([mu, log_s], lr=lr)
    for _ in range(steps):
        log_q = densities.normal_log_prob(xs, mu, log_s.exp())
        kl = (
            densities.kl_by_quadrature(log_q, log_p, dx)
            if direction == "reverse"
            else (densities.kl_by_quadrature(log_p, log_q, dx))
        )
        opt.zero_grad()
        kl.backward()
        opt.step()
    return mu.item(), log_s.exp().item()


def reverse_kl_estimate(mu, log_s, log_p, n: int = 256) -> torch.Tensor:
    """``KL(q || p)`` for a diagonal Gaussian ``q`` by reparameterized samples of ``q``.

    Needs ``log p`` only up to a constant (the constant shifts the value, not the gradient):
    the situation of variational inference, where ``p`` is an unnormalised posterior.
    """
    z = vae_lib.reparameterize(mu[None], 2 * log_s[None], n_samples=n)[:, 0]  # (n, D)
    log_q = densities.gaussian_log_prob(z, mu, 2 * log_s)
    return (log_q - log_p(z)).mean()


def forward_kl_estimate(mu, log_s, samples_p: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` up to the constant ``-H(p)``: ``-E_p[log q]``, from samples of ``p``.

    Needs samples of ``p`` only, never its density: the situation of maximum likelihood.
    """
    return -densities.gaussian_log_prob(samples_p, mu, 2 * log_s).mean()


class VAE2D(torch.nn.Module):
    """A VAE for 2-D points: Gaussian encoder and Gaussian decoder ``N(x; f(z), s^2 I)``.

    Lecture 03's VAE with a continuous likelihood; ``s`` is learned. Its samples
    ``f(z) + s eps`` are what maximum likelihood (the KL(p || q) direction) produces: a
    density that must put mass on every mode, and therefore also between them.
    """

    def __init__(self, hidden: int = 128, z_dim: int = 2):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = mlp([2, hidden, hidden, 2 * z_dim], "relu")
        self.decoder = mlp([z_dim, hidden, hidden, 2], "relu")
        self.log_s = torch.nn.Parameter(torch.tensor(0.0))  # decoder noise, log std

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """``-ELBO`` of each point of a batch (B, 2), shape (B,)."""
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        z = vae_lib.reparameterize(mu, log_var)
        log_px = densities.gaussian_log_prob(x, self.decoder(z), 2 * self.log_s.expand(2))
        return vae_lib.gaussian_kl(mu, log_var) - log_px

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``x = f(z) + s eps``, ``z ~ N(0, I)``: (n, 2)."""
        z = torch.randn(n, self.z_dim, device=self.log_s.device, dtype=self.log_s.dtype)
        mean = self.decoder(z)
        return mean + self.log_s.exp() * torch.randn_like(mean)


@dataclass
class VAE2DFitConfig:
    """How ``fit_vae_2d`` trains a ``VAE2D``: Adam at ``lr`` on batches of ``batch_size``."""

    lr: float = 1e-3
    batch_size: int = 256


def vae_2d_training_step(model: VAE2D, x: torch.Tensor, opt: torch.optim.Optimizer):
    """One update of ``opt`` on the mean negative ELBO of the batch ``x`` (B, 2); returns it,
    detached."""
    loss = model.loss(x).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def fit_vae_2d(
    model: VAE2D, sample_real, steps: int, config: VAE2DFitConfig | None = None, **kwargs
):
    """Train a ``VAE2D`` for ``steps`` steps of ``vae_2d_training_step`` on batches
    ``sample_real(batch_size)``, the settings from ``config`` (a keyword that names one of
    its fields overrides it; the rest go to ``dgm.train.train``). Returns the History."""
    from . import train

    cfg = train.configure(VAE2DFitConfig, config, kwargs, "fit_vae_2d", steps)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step(i):
        return {"loss": vae_2d_training_step(model, sample_real(cfg.batch_size), opt)}

    kwargs.setdefault("desc", "VAE (2-D)")
    return train.train(step, steps, state={"model": model, "opt": opt}, **kwargs)


def unequal_modes_models(
    steps: int,
    seed: int = 0,
    n: int = 2500,
    device=None,
    progress: bool = True,
    minimax: bool = False,
) -> dict[str, torch.Tensor]:
    """Lecture 05's 10:1 test: a GAN, a VAE and EM's Gaussian mixture on ``data.unequal_modes``.

    Same data stream and number of steps for the networks (lecture 04's 3x128 MLP GAN,
    non-saturating, Adam 1e-3 with betas (0.5, 0.9), 256 a step; ``VAE2D`` with Adam 1e-3,
    256 a step); EM fits two Gaussians to 10,000 points from a k-means++ start (100
    iterations). ``minimax`` adds the same GAN with the minimax generator loss ("minimax
    GAN"), whose generator minimises a symmetric JSD at the optimal discriminator: the
    control for the KL direction. Returns ``n`` samples of each, keyed by model name.
    """
    from . import data, em

    def stream():
        g = torch.Generator().manual_seed(seed)
        return lambda k: data.unequal_modes(k, generator=g, device=device)

    torch.manual_seed(seed)
    model = gan_lib.GAN(*gan_lib.toy_mlps(), latent_dim=2).to(device)
    gan_lib.fit(
        model,
        stream(),
        steps,
        lr=1e-3,
        betas=(0.5, 0.9),
        batch_size=256,
        desc="GAN, 10:1 modes",
        progress=progress,
    )
    out = {}
    if minimax:
        torch.manual_seed(seed)
        other = gan_lib.GAN(*gan_lib.toy_mlps(), latent_dim=2).to(device)
        gan_lib.fit(
            other,
            stream(),
            steps,
            loss="minimax",
            lr=1e-3,
            betas=(0.5, 0.9),
            batch_size=256,
            desc="minimax GAN, 10:1 modes",
            progress=progress,
        )
        out["minimax GAN"] = other.sample(n).cpu()
    torch.manual_seed(seed)
    vae_model = VAE2D().to(device)
    fit_vae_2d(vae_model, stream(), steps, desc="VAE, 10:1 modes", progress=progress)
    x = stream()(10_000).double().cpu()
    g = torch.Generator().manual_seed(seed)
    fit = em.fit_gmm(x, em.init_gmm_kmeans_pp(x, 2, generator=g), 100, reg_covar=1e-6)
    gmm = em.sample_gmm(*fit.params[-1], n, generator=g)
    return {
        "GAN": model.sample(n).cpu(),
        **out,
        "VAE": vae_model.sample(n).cpu(),
        "Gaussian mixture by EM": gmm.float(),
    }


# --------------------------------------------------------------------------- GANs as inference


def qr_posteriors(logit_d, log_p_g0, log_p_data, dx: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hu et al.'s ``q^r(x | y) ∝ q^r_phi0(y | x) p_theta0(x)`` on a 1-D grid, normalised.

    Labels: ``y = 1`` real, ``y = 0`` generated. The discriminator ``D = sigmoid(logit_d)``
    is ``q_phi0(y = 1 | x)``, so the label-swapped ``q^r_phi0(y = 0 | x) = D(x)``.
    ``p_theta0(x) = (p_g0(x) + p_data(x)) / 2`` is the current model's *marginal* over ``y``
    (not ``p_theta0(x | y)``). Returns ``(log q^r(x | y=0), log q^r(x | y=1))``. At the
    optimal discriminator ``D* = p_data / (p_data + p_g0)``, ``q^r(x | y=0) = p_data(x)``.
    """
    log_m0 = torch.logaddexp(log_p_g0, log_p_data) - math.log(2)

    def normalised(log_f):
        return log_f - torch.logsumexp(log_f, 0) - math.log(dx)

    return normalised(F.logsigmoid(logit_d) + log_m0), normalised(F.logsigmoid(-logit_d) + log_m0)


def lemma1_sides(log_p_g, log_p_g0, log_p_data, logit_d, dx: float):
    """The two sides of Hu et al.'s Lemma 1 as functions of the generator, on a 1-D grid.

    ``left``: the non-saturating generator loss with the discriminator held at ``phi0``,
    ``-E_{p(y) p_theta(x | y)} log q^r_phi0(y | x)`` with ``p(y) = 1/2``;
    ``right``: ``E_{p(y)} KL(p_theta(x | y) || q^r(x | y)) - JSD(p_g || p_data)``.
    The lemma: the two have the same gradient in theta at ``theta0`` (where ``log_p_g`` is
    ``log_p_g0``), for any discriminator; their values differ by a constant.
    """
    log_qr0, log_qr1 = qr_posteriors(logit_d, log_p_g0, log_p_data, dx)
    p_g, p_data = log_p_g.exp(), log_p_data.exp()
    left = (
        -0.5 * dx * ((p_g * F.logsigmoid(logit_d)).sum() + (p_data * F.logsigmoid(-logit_d)).sum())
    )
    kl = densities.kl_by_quadrature
    expected_kl = 0.5 * (kl(log_p_g, log_qr0, dx) + kl(log_p_data, log_qr1, dx))
    return left, expected_kl - densities.jsd_by_quadrature(log_p_g, log_p_data, dx)


def lemma1_gradients(
    theta0, logit_d: torch.Tensor, log_p_data: torch.Tensor, xs: torch.Tensor, h: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lemma 1 numerically: the gradients of its two sides at ``theta0``, by central differences.

    The generator is ``N(mu, s^2)`` with ``theta = (mu, log s)`` on the uniform grid ``xs``;
    the discriminator's logits ``logit_d`` on the grid are held fixed, and ``p_g0`` is the
    generator at ``theta0``. Returns ``(grad_left, grad_right)``, each (2,): equal when the
    lemma holds.
    """
    dx = (xs[1] - xs[0]).item()

    def log_generator(theta):
        return densities.normal_log_prob(xs, theta[0], math.exp(theta[1]))

    log_g0 = log_generator(theta0)

    def side(k):
        return lambda theta: lemma1_sides(log_generator(theta), log_g0, log_p_data, logit_d, dx)[k]

    return (
        densities.finite_difference(side(0), theta0, h),
        densities.finite_difference(side(1), theta0, h),
    )


# --------------------------------------------------------------------------- Lemma 1 by sampling


def optimal_logit(log_p_data, theta: torch.Tensor):
    """The optimal discriminator's logit for the generator ``N(mu, s^2)`` at ``theta = (mu,
    log s)``: ``l*(x) = log p_data(x) - log p_theta(x)``, a function of ``x`` with ``theta``
    held fixed (detached), as Lemma 1 holds the discriminator at ``phi0``."""
    mu, log_s = theta.detach()
    return lambda x: log_p_data(x) - densities.normal_log_prob(x, mu, log_s.exp())


def pathwise_gradients(f, theta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients ``grad_theta f(mu + s eps_i)`` by the reparameterisation, (n, 2).

    With ``x = mu + s eps``, ``dx/dmu = 1`` and ``dx/dlog s = s eps = x - mu``, so each
    sample's gradient is ``f'(x_i) (1, x_i - mu)``; ``f`` acts on each ``x_i`` alone, so the
    gradient of ``sum_i f(x_i)`` in ``x`` holds every ``f'(x_i)``.
    """
    mu, log_s = theta.detach()
    x = (mu + log_s.exp() * eps).requires_grad_()  # (n,)
    (df_dx,) = torch.autograd.grad(f(x).sum(), x)  # (n,)
    return torch.stack([df_dx, df_dx * (x.detach() - mu)], 1)  # (n, 2)


def score_gradients(f, theta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Per-sample score-function (REINFORCE) gradients ``(f(x_i) - b_i) grad_theta log
    p_theta(x_i)``, (n, 2), with ``x = mu + s eps`` and the leave-one-out baseline ``b_i``,
    the mean of the *other* samples' ``f``: independent of ``x_i``, so the estimate stays
    unbiased while the baseline cuts its variance.

    For ``N(mu, s^2)``: ``dlog p / dmu = (x - mu) / s^2 = eps / s`` and ``dlog p / dlog s =
    ((x - mu) / s)^2 - 1 = eps^2 - 1``.
    """
    mu, log_s = theta.detach()
    s = log_s.exp()
    with torch.no_grad():
        fx = f(mu + s * eps)  # (n,)
    baseline = (fx.sum() - fx) / (len(fx) - 1)  # (n,), b_i leaves x_i out
    score = torch.stack([eps / s, eps**2 - 1], 1)  # (n, 2)
    return (fx - baseline)[:, None] * score


GRADIENT_ESTIMATORS = {"pathwise": pathwise_gradients, "score": score_gradients}


def train_gaussian_generator(
    log_p_data,
    theta0,
    steps: int,
    lr: float,
    n: int,
    estimator: str = "pathwise",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lecture 05's build assignment, answered: a 1-D GAN whose generator is ``N(mu, s^2)``,
    ``theta = (mu, log s)``, trained by plain gradient descent on sampled estimates of the
    non-saturating loss's gradient against the optimal discriminator of the current
    generator.

    Each step: ``n`` fresh ``eps ~ N(0, 1)`` (float64), ``x = mu + s eps``; the
    discriminator's logit ``l*(x) = log p_data(x) - log p_theta(x)`` held fixed at this
    step's theta; the per-sample loss ``f(x) = -(1/2) log sigmoid(l*(x))`` (Lemma 1's left
    side, the ``y = 0`` half with ``p(y = 0) = 1/2``); per-sample gradients by ``estimator``
    (``"pathwise"`` or ``"score"``); ``theta <- theta - lr * mean_i g_i``. By Lemma 1 at the
    optimal discriminator the mean gradient is an unbiased estimate of the gradient of
    ``KL(p_g || p_data) / 2 - JSD(p_g || p_data)``.

    Returns ``(thetas (steps + 1, 2), x (steps, n), g (steps, n, 2), theta_star (2,))``:
    the path from ``theta0``, each step's samples and per-sample gradients, and where Lemma 1
    says it settles, ``lemma1_minimum(log_p_data, theta0)``.
    """
    if estimator not in GRADIENT_ESTIMATORS:
        raise ValueError(
            f"train_gaussian_generator: estimator must be one of {list(GRADIENT_ESTIMATORS)}, "
            f"got {estimator!r}"
        )
    theta = torch.as_tensor(theta0, dtype=torch.float64).clone()
    thetas, samples, grads = [theta], [], []
    for _ in range(steps):
        eps = torch.randn(n, dtype=torch.float64)
        logit = optimal_logit(log_p_data, theta)

        def f(x, logit=logit):
            return -0.5 * F.logsigmoid(logit(x))  # the generator's loss, per sample

        g = GRADIENT_ESTIMATORS[estimator](f, theta, eps)  # (n, 2)
        samples.append(theta[0] + theta[1].exp() * eps)
        grads.append(g)
        theta = theta - lr * g.mean(0)
        thetas.append(theta)
    theta_star = lemma1_minimum(log_p_data, thetas[0])
    return torch.stack(thetas), torch.stack(samples), torch.stack(grads), theta_star


def lemma1_objective(log_p_g: torch.Tensor, log_p_data: torch.Tensor, dx: float) -> torch.Tensor:
    """``KL(p_g || p_data) / 2 - JSD(p_g || p_data)`` on a 1-D grid: what the non-saturating
    generator descends at the optimal discriminator (Lemma 1, up to a constant)."""
    kl, jsd = densities.kl_by_quadrature, densities.jsd_by_quadrature
    return 0.5 * kl(log_p_g, log_p_data, dx) - jsd(log_p_g, log_p_data, dx)


def descend_lemma1_objective(
    log_p_data: torch.Tensor, xs: torch.Tensor, theta0, objective=lemma1_objective
) -> torch.Tensor:
    """Where the generator ``N(mu, s^2)`` started at ``theta0`` settles: the local minimum
    of ``objective(log_p_g, log_p_data, dx)`` (``lemma1_objective`` unless given; by
    quadrature on the grid ``xs``) that L-BFGS reaches from ``theta0``; returns
    ``theta = (mu, log s)``."""
    dx = (xs[1] - xs[0]).item()
    theta = torch.tensor(list(theta0), dtype=xs.dtype, requires_grad=True)
    opt = torch.optim.LBFGS(
        [theta], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        log_g = densities.normal_log_prob(xs, theta[0], theta[1].exp())
        loss = objective(log_g, log_p_data, dx)
        loss.backward()
        return loss

    opt.step(closure)
    return theta.detach()


# the grid of lecture 05's build: wide enough for its targets' modes within +-3 and stds <= 0.8
LEMMA1_GRID = (-10.0, 10.0, 4001)


def lemma1_minimum(log_p_data, theta0) -> torch.Tensor:
    """``descend_lemma1_objective`` on the build's grid (``LEMMA1_GRID``), ``log_p_data`` a
    function of points: the ``theta_star = (mu*, log s*)`` a sampled generator started at
    ``theta0`` should settle at."""
    xs = torch.linspace(*LEMMA1_GRID, dtype=torch.float64)
    return descend_lemma1_objective(log_p_data(xs), xs, [float(t) for t in theta0])


# --------------------------------------------------------------------------- IWGAN


def iwgan_weights(fake_logits: torch.Tensor) -> torch.Tensor:
    """Self-normalised importance weights of generated samples, ``sum = 1``, no gradient.

    At the optimal discriminator ``D/(1 - D) = p_data / p_g``, and ``D / (1 - D) = exp(l)``
    for the logit ``l``; normalising over the batch gives ``softmax(l)``. The weights are
    constants for the generator's update (``detach``), as importance weights are in IWAE's
    gradient.
    """
    return torch.softmax(fake_logits.detach(), dim=0)


def effective_sample_size(weights: torch.Tensor) -> float:
    """Kish's effective sample size ``1 / sum_i w_i^2`` of normalised weights (``sum w = 1``).

    It runs from 1 (one sample carries all the weight) to ``n`` (uniform weights): how many
    samples an importance-weighted average really rests on. IWGAN can only differ from the
    GAN when it is well below the batch size.
    """
    if weights.dim() != 1 or len(weights) == 0:
        raise ValueError(
            f"effective_sample_size: weights must be a non-empty 1-D tensor, "
            f"got shape {tuple(weights.shape)}"
        )
    total = float(weights.sum())
    if weights.min() < 0 or abs(total - 1) > 1e-4:
        raise ValueError(
            f"effective_sample_size: weights must be non-negative and sum to 1, got sum {total:.6g}"
        )
    return 1.0 / float((weights.double() ** 2).sum())


# --------------------------------------------------------------------------- AA-VAE


def aa_vae_loss(
    model: vae_lib.VAE,
    discriminator: torch.nn.Module,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The adversary-activated VAE's losses ``(vae loss, discriminator loss)``, per pair (B,).

    ``x_fake`` are the model's own binary samples, ``x ~ p(x | z), z ~ p(z)`` (e.g.
    ``torch.bernoulli(model.sample(n))``). The VAE loss is the usual ``-ELBO`` on the real
    batch plus ``weight`` times the ``-ELBO`` of each generated sample scaled by ``D(x)``
    (detached): the discriminator "activates" the samples that look real, so the model also
    learns from them. The discriminator loss is lecture 04's, real against generated. Real
    and generated batches have the same size B; value i belongs to the pair (real i, fake i).
    """
    if x_real.shape[0] != x_fake.shape[0]:
        raise ValueError(
            f"aa_vae_loss: x_real and x_fake must hold as many examples, got "
            f"{x_real.shape[0]} and {x_fake.shape[0]}"
        )
    x_real, x_fake = x_real.flatten(1), x_fake.detach().flatten(1)
    vae_loss = model.loss(x_real)
    fake_logits = discriminator(x_fake).reshape(-1)
    d_loss = gan_lib.discriminator_loss(discriminator(x_real).reshape(-1), fake_logits)
    if weight:
        activation = torch.sigmoid(fake_logits.detach())  # D(x): how real each sample looks
        mu, log_var = model.encode(x_fake)
        z = vae_lib.reparameterize(mu, log_var)
        nelbo_fake = vae_lib.negative_elbo(x_fake, model.decode(z), mu, log_var)
        vae_loss = vae_loss + weight * activation * nelbo_fake
    return vae_loss, d_loss


@dataclass
class AAVAEFitConfig:
    """How ``fit_aa_vae`` trains an AA-VAE: the VAE with Adam at ``lr`` on batches of
    ``batch_size`` dynamically binarized digits, its generated digits' ``-ELBO`` weighted by
    the discriminator with ``weight`` (0: the plain VAE), and the discriminator with the
    DCGAN recipe's Adam (``lr_d``, betas (0.5, 0.999))."""

    weight: float = 1.0
    lr: float = 1e-3
    lr_d: float = 2e-4
    batch_size: int = 100

    def __post_init__(self):
        if self.weight < 0:
            raise ValueError(f"AAVAEFitConfig: weight must be >= 0, got {self.weight!r}")


def aa_vae_training_step(
    model: vae_lib.VAE,
    discriminator: torch.nn.Module,
    x_real: torch.Tensor,
    opt: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    weight: float = 1.0,
) -> dict:
    """One update of each: the model draws as many binary digits as ``x_real`` holds, then
    the VAE steps on the mean of ``aa_vae_loss``'s first term and the discriminator on the
    mean of its second. Returns both losses and ``d_fake``, the mean ``D(x)`` of the
    generated batch after the step (the weight its ``-ELBO`` carried), detached."""
    x_fake = torch.bernoulli(model.sample(len(x_real)))  # the model's own binary digits
    vae_loss, d_loss = (v.mean() for v in aa_vae_loss(model, discriminator, x_real, x_fake, weight))
    opt.zero_grad(set_to_none=True)
    opt_d.zero_grad(set_to_none=True)
    vae_loss.backward(inputs=list(model.parameters()))
    d_loss.backward(inputs=list(discriminator.parameters()))
    opt.step()
    opt_d.step()
    with torch.no_grad():
        d_fake = torch.sigmoid(discriminator(x_fake.flatten(1))).mean()
    return {"loss": vae_loss.detach(), "d_loss": d_loss.detach(), "d_fake": d_fake}


def fit_aa_vae(
    model: vae_lib.VAE,
    discriminator: torch.nn.Module,
    x: torch.Tensor,
    steps: int,
    config: AAVAEFitConfig | None = None,
    **kwargs,
):
    """Train an AA-VAE on dynamically binarized images ``x`` for ``steps`` steps of
    ``aa_vae_training_step``, the settings from ``config`` (a keyword that names one of its
    fields overrides it; the rest go to ``dgm.train.train``). ``weight = 0`` trains the
    plain VAE (the discriminator still learns, but no longer acts). Returns ``dgm.train``'s
    ``History``, with ``d_fake``: the weight the generated digits' ``-ELBO`` carries against
    the real digits' weight of 1.
    """
    from . import data, train

    cfg = train.configure(AAVAEFitConfig, config, kwargs, "fit_aa_vae", steps)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    stream = data.binarized_stream(x, cfg.batch_size)

    def step(i):
        return aa_vae_training_step(model, discriminator, next(stream), opt, opt_d, cfg.weight)

    kwargs.setdefault("desc", f"AA-VAE (weight {cfg.weight:g})" if cfg.weight else "VAE")
    state = {"model": model, "discriminator": discriminator, "opt": opt, "opt_d": opt_d}
    return train.train(step, steps, state=state, **kwargs)
