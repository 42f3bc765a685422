# ---
# jupyter:
#   dgm:
#     trains: exact and sampled Gaussian fits in both KL directions; a GAN and a VAE
#       on the 25-grid; IWGAN vs GAN and AA-VAE vs VAE on MNIST
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: dgm
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["setup"]
# Set-up. On Colab this installs the course library `dgm` from the repository;
# anywhere else it does nothing (run `make lab` from a clone instead).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/dgm-course/deep-generative-models.git@main"],
        check=True,
    )

# %% [markdown]
# # Lecture 05 · One KL, two directions: a unified view of GANs and VAEs
#
# Lecture 03's VAE makes blurry digits that cover every style; lecture 04's GAN makes sharp
# digits and drops modes. Hu et al. (2018), *On Unifying Deep Generative Models*, trace
# both behaviours to one fact: each model minimises a Kullback-Leibler divergence between
# its own distribution and a target, and **the two put the model on opposite sides of the
# KL**. This notebook first makes the asymmetry of the KL visible on Gaussians, exactly and
# then by sampling; then reads GAN training as inference, as Hu et al. do; and finally
# implements the two transfers the paper proposes, one in each direction.
#
# **Learning goals.** After this notebook you can
#
# 1. say which KL direction needs the target's density and which needs only its samples, and estimate each;
# 2. predict, and show, that $\mathrm{KL}(q \,\|\, p)$ seeks a mode and $\mathrm{KL}(p \,\|\, q)$ covers all of them;
# 3. connect this to GANs (sharp, mode-dropping) and VAEs (covering, blurry), with the metrics of lecture 04;
# 4. state Hu et al.'s Lemma 1 correctly (the posterior $q^r$ is built on the model's *marginal*), check it by finite differences, and explain why the generator seeks modes although $q^r$ keeps them all; place wake-sleep's two phases in the same picture;
# 5. implement IWGAN's importance weights, and measure IWGAN against a GAN and the AA-VAE against a VAE.
#
# **Exercises** (graded): `reverse_kl_estimate`, `forward_kl_estimate`, `qr_posteriors`,
# `lemma1_gradients` (Lemma 1 by finite differences), `iwgan_weights`, and a written question.

# %%
import json
import math

import matplotlib.pyplot as plt
import torch

import dgm
from dgm import gan, unified, vae

gen = dgm.config.setup(0)
device = dgm.device()

# %% [markdown]
# ## 1. The two directions of the KL
#
# Fit a simple distribution $q$ to a target $p$. Two natural objectives:
#
# $$
# \mathrm{KL}(q \,\|\, p) = \mathbb{E}_{q}\big[\log q(x) - \log p(x)\big],
# \qquad
# \mathrm{KL}(p \,\|\, q) = \mathbb{E}_{p}\big[\log p(x) - \log q(x)\big].
# $$
#
# - **Reverse**, $\mathrm{KL}(q \,\|\, p)$: the average is over $q$. Where $q$ puts mass and $p$ has almost none, $-\log p(x)$ is huge; where $p$ has mass and $q$ has none, nothing is charged. So $q$ hides inside the regions of high $p$, and if it cannot cover them all it picks one: **mode seeking**. Computing it needs $\log p$ (up to a constant) and samples of $q$: the situation of variational inference, where $p$ is a posterior known up to its normaliser.
# - **Forward**, $\mathrm{KL}(p \,\|\, q)$: the average is over $p$. Every region where $p$ has mass and $q$ has little costs $-\log q(x)$, huge. So $q$ stretches over all of $p$, including the gaps between modes: **mode covering**. Computing it needs only samples of $p$, because $\mathbb{E}_p[\log p]$ does not depend on $q$: minimising it is maximum likelihood.
#
# ## 2. Exactly, in one dimension
#
# Target: $p = \tfrac12 \mathcal{N}(-2, 0.5^2) + \tfrac12 \mathcal{N}(2, 0.5^2)$. Family: $q = \mathcal{N}(\mu, s^2)$. On a fine
# grid both KLs are integrals we can compute to many digits, and `unified.fit_gaussian_1d`
# descends them with Adam. The reverse KL has two minima, one per mode, so we start it
# from both sides.

# %%
xs = torch.linspace(-10, 10, 20_001, dtype=torch.float64)
dx = (xs[1] - xs[0]).item()
bimodal = dict(weights=[0.5, 0.5], means=[-2.0, 2.0], stds=[0.5, 0.5])
log_p1 = dgm.densities.normal_mixture_log_prob(xs, **bimodal)
fit_steps = dgm.pick(full=2000, fast=400)
fits = {
    "reverse KL(q || p), started at +0.5": unified.fit_gaussian_1d(log_p1, xs, "reverse", (0.5, 1.0), fit_steps),
    "reverse KL(q || p), started at -0.5": unified.fit_gaussian_1d(log_p1, xs, "reverse", (-0.5, 1.0), fit_steps),
    "forward KL(p || q)": unified.fit_gaussian_1d(log_p1, xs, "forward", (0.5, 1.0), fit_steps),
}

fig, ax = plt.subplots(figsize=(8, 4))
ax.fill_between(xs, log_p1.exp(), color="0.85", label="target p")
print(f"{'fit':38s} {'mu':>6s} {'s':>6s} {'KL(q||p)':>9s} {'KL(p||q)':>9s}")
for (name, (mu, s)), style in zip(fits.items(), ["C0-", "C0--", "C3-"]):
    log_q = dgm.densities.normal_log_prob(xs, mu, s)
    ax.plot(xs, log_q.exp(), style, label=name)
    print(f"{name:38s} {mu:6.3f} {s:6.3f} {dgm.densities.kl_by_quadrature(log_q, log_p1, dx):9.3f} "
          f"{dgm.densities.kl_by_quadrature(log_p1, log_q, dx):9.3f}")
ax.set(title="One Gaussian fitted to two modes, in each KL direction", xlabel="x", ylabel="density",
       xlim=(-6, 6))
ax.legend()
plt.show()

# %% [markdown]
# The forward fit lands on the target's mean and variance ($\mu = 0$, $s^2 = 4 + 0.25$): for a
# Gaussian family, minimising $\mathrm{KL}(p \,\|\, q)$ is moment matching. It puts its peak
# where the target has almost no mass, the 1-D picture of a blurry sample. Each reverse fit
# sits on one mode with that mode's width, and is a near-perfect local answer that ignores
# half the data: a dropped mode. Each fit is also poor in the *other* direction's score.
#
# ## 3. By sampling, in two dimensions
#
# In practice neither integral is available: we have $\log p$ up to a constant (inference)
# or samples of $p$ (learning), and estimate the KLs by Monte Carlo.
#
# ### Exercise 1: the reverse KL by sampling (2 points)
#
# Write `reverse_kl_estimate(mu, log_s, log_p, n)` for $q = \mathcal{N}(\mu, \mathrm{diag}\, e^{2 \log s})$ in $D$
# dimensions: draw `n` reparameterized samples $z = \mu + e^{\log s} \odot \epsilon$, $\epsilon \sim \mathcal{N}(0, I)$,
# and average $\log q(z) - \log p(z)$; `log_p` maps `(n, D)` points to `(n,)` log-densities.
# Gradients must reach `mu` and `log_s`. `dgm.densities.gaussian_log_prob(z, mu, log_var)` gives
# $\log q$ (mind that it takes a log-*variance*).

# %% nbgrader={"grade": false, "grade_id": "reverse_kl_estimate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reverse_kl_estimate(mu, log_s, log_p, n):
    """KL(q || p) + const by n reparameterized samples of q = N(mu, diag exp(2 log_s))."""
    ### BEGIN SOLUTION
    eps = torch.randn(n, mu.shape[0], dtype=mu.dtype, device=mu.device)
    z = mu + log_s.exp() * eps
    return (dgm.densities.gaussian_log_prob(z, mu, 2 * log_s) - log_p(z)).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_reverse_kl_estimate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
reverse_kl_estimate = dgm.checks.reverse_kl_estimate(reverse_kl_estimate)

# %% [markdown]
# ### Exercise 2: the forward KL from samples (1 point)
#
# Write `forward_kl_estimate(mu, log_s, samples_p)`: the average of $-\log q(x)$ over the
# `(N, D)` samples of $p$. It equals $\mathrm{KL}(p \,\|\, q)$ plus the entropy of $p$, a constant in $q$.

# %% nbgrader={"grade": false, "grade_id": "forward_kl_estimate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def forward_kl_estimate(mu, log_s, samples_p):
    """-E_p[log q(x)] for q = N(mu, diag exp(2 log_s)), from samples of p."""
    ### BEGIN SOLUTION
    return -dgm.densities.gaussian_log_prob(samples_p, mu, 2 * log_s).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_forward_kl_estimate", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
forward_kl_estimate = dgm.checks.forward_kl_estimate(forward_kl_estimate)

# %% [markdown]
# Now fit a diagonal Gaussian to a 2-D mixture of two Gaussians with each estimator and
# plain stochastic gradients: the reverse one sees only $\log p$, the forward one only a
# fresh batch of samples of $p$ at every step.

# %%
centres2 = torch.tensor([[-2.0, 0.0], [2.0, 1.0]])
std2 = 0.5


def log_p2(z):
    """log of the equal mixture of N(c, 0.5^2 I) over the two centres."""
    comps = torch.stack([dgm.densities.gaussian_log_prob(z, c, torch.full((2,), 2 * math.log(std2))) for c in centres2])
    return torch.logsumexp(comps, dim=0) - math.log(2)


def sample_p2(n):
    return centres2[torch.randint(2, (n,), generator=gen)] + std2 * torch.randn(n, 2, generator=gen)


fits2 = {}
for name, objective in [("reverse", lambda m, ls: reverse_kl_estimate(m, ls, log_p2, 256)),
                        ("forward", lambda m, ls: forward_kl_estimate(m, ls, sample_p2(256)))]:
    torch.manual_seed(0)
    mu = torch.tensor([0.5, 0.0], requires_grad=True)
    log_s = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([mu, log_s], lr=0.02)
    for step in range(dgm.pick(full=3000, fast=300)):
        loss = objective(mu, log_s)
        opt.zero_grad()
        loss.backward()
        opt.step()
    fits2[name] = (mu.detach(), log_s.detach().exp())

fig, ax = plt.subplots(figsize=(7, 5))
dgm.plot.scatter_2d(sample_p2(2000), ax=ax, label="samples of p", color="0.6", centres=centres2)
for (name, (mu, s)), color in zip(fits2.items(), ["C0", "C3"]):
    dgm.plot.covariance_ellipse(ax, mu, torch.diag(s**2), n_std=2, color=color, lw=2,
                                label=f"{name} fit, 2 std")
    print(f"{name:8s} fit: mu = {mu.numpy().round(2)}, s = {s.numpy().round(2)}")
ax.set_title("Diagonal Gaussians fitted by sampling: reverse seeks, forward covers")
ax.legend(loc="upper left", fontsize=8)
plt.show()

# %% [markdown]
# ## 4. The same split between a GAN and a VAE
#
# A GAN's generator and a VAE's decoder are far more flexible than one Gaussian, but the
# direction still shows. On lecture 04's 25-grid we train the non-saturating GAN and a VAE
# with a Gaussian decoder (`unified.VAE2D`, lecture 03's model for 2-D points, trained by
# maximum likelihood through its ELBO) on the same data and number of steps, and score
# both with lecture 04's metrics.

# %%
grid = dgm.data.grid_centres()
g_grid = torch.Generator().manual_seed(0)
steps_grid = dgm.pick(full=6000, fast=200)


def grid_batch(n):
    return dgm.data.gaussian_grid(n, generator=g_grid, device=device)


torch.manual_seed(0)
grid_gan = gan.GAN(gan.toy_generator(hidden=128, depth=3), gan.toy_discriminator(hidden=128), 2).to(device)
gan.fit(grid_gan, grid_batch, steps_grid, lr=1e-3, betas=(0.8, 0.999), batch_size=100, desc="GAN")

torch.manual_seed(0)
grid_vae = unified.VAE2D().to(device)
unified.fit_vae_2d(grid_vae, grid_batch, steps_grid, batch_size=100, desc="VAE")

fig, axes = plt.subplots(1, 2, figsize=(11, 5.5))
for ax, (name, model) in zip(axes, [("GAN", grid_gan), ("VAE", grid_vae)]):
    x = model.sample(2500).cpu()
    modes, hq = dgm.metrics.mode_coverage(x, grid, 0.05)
    dgm.plot.scatter_2d(x, ax=ax, centres=grid, lim=6,
                        title=f"{name}: {modes} of 25 modes, {100 * hq:.0f}% high quality")
fig.suptitle(f"Same data, same {steps_grid} steps, one seed: the GAN concentrates, the VAE spreads")
plt.show()

# %% [markdown]
# The VAE's samples spread over the whole square: its bound on the likelihood charges every
# data point it misses, and a smooth decoder with Gaussian noise cannot avoid the space
# between the modes. (One seed, and the two models differ in more than their loss: networks,
# Adam's betas, and the VAE's samples carry its observation noise.) Its
# high-quality share is low even where it covers many modes. The GAN's samples concentrate;
# whatever it covers, it covers more sharply.
#
# ### A small mode: 10 to 1
#
# A classic illustration (ten images of one style for each of another) makes a sharper test
# of the argument: data with two modes, one with ten times
# the mass of the other (`dgm.data.unequal_modes`: centres $(\mp 2, 0)$, std 0.1, weights 10:1,
# so the small mode holds $1/11 = 9.1\%$). Reverse KL, with the model first, pays almost
# nothing for ignoring a mode that holds 9% of the data; forward KL, with the data first,
# pays $\log$ of the missing density on every one of those points. Three models, same data
# (`unified.unequal_modes_models`): lecture 04's GAN, the VAE, and lecture 01's exact
# maximum likelihood, EM for two Gaussians. Whether the result really tests the KL's
# direction is the question to keep in mind.

# %%
unequal_steps = dgm.pick(full=5000, fast=200)
unequal = unified.unequal_modes_models(unequal_steps, seed=0, device=device)
centres_10_1 = dgm.data.unequal_centres()
fig, axes = plt.subplots(1, 3, figsize=(16, 5))
for ax, (name, x) in zip(axes, unequal.items()):
    big, small = (100 * dgm.metrics.mode_shares(x, centres_10_1, 0.1)).tolist()
    dgm.plot.scatter_2d(x, ax=ax, centres=centres_10_1, lim=3.5,
                        title=f"{name}\n{small:.1f}% of samples on the small mode (data: 9.1%)")
fig.suptitle("Two modes, 10:1, one seed: the GAN drops the small one; EM keeps its share")
fig.tight_layout()
plt.show()

# %% [markdown]
# One seed; `python -m benchmarks.unified unequal` repeats it over 5 (mean ± sd, share of
# 2,500 samples within 3 std of each mode):

# %%
root = dgm.config.repo_root()
results_unified = root / "benchmarks" / "results" / "unified.json" if root else None
if results_unified is not None and results_unified.exists():
    for r in json.loads(results_unified.read_text()):
        if "10:1" in r["model"]:
            print(f"{r['model']:36s} {r['metric']:30s} {r['value']:6.2f} ± {r['spread']:5.2f}"
                  f"   (data: {r['paper_value']:.2f})")
else:
    print("No benchmark results here (on Colab, see the repository's README).")

# %% [markdown]
# The benchmark also trains the GAN with the **minimax** loss, whose generator at the optimal
# discriminator minimises the *symmetric* Jensen-Shannon divergence: the control for the
# KL's direction, or so it seems. It cannot decide between the explanations: for a
# generator too small to hold both modes the JSD's optimum also sits on the large mode, and
# for a flexible generator every divergence's optimum is the data itself, so neither
# direction predicts the drop.
#
# <!-- claim 05.small-mode -->
# *Record:* The non-saturating GAN, samples on the small mode: 0% on each of 5 seeds. The minimax GAN, samples on the small mode: 0% on each of 5 seeds. EM: 8.656 ± 0.36% over 5 seeds (from 8.36 to 9.12%); between 7.5 and 10.5% on every seed. The VAE: 0.96 ± 0.65% over 5 seeds (from 0 to 1.48%); at most 9.09% on every seed; it kept the small mode on 4 of 5 seeds.
# <!-- /claim -->
#
# Both GANs put nothing on the small mode, on every seed, the minimax one included. So this
# experiment does **not** show that the KL's direction is the cause: a symmetric divergence
# drops the mode as well. What both GANs share is how they learn: the generator's gradient is
# read only at its own samples (lecture 04's written question), and once none of them lands
# near the small mode, little in the loss pulls them back (a hypothesis this experiment does
# not test). EM's Gaussian mixture, exact maximum likelihood with the right family and a
# centre started on each mode, recovered the small mode's share within a fraction of a point.
# The VAE kept the small mode on 4 of 5 seeds, at a fraction of its weight, and dropped it on
# one. That is a finding, not the textbook picture: the VAE does not
# maximise the likelihood but the ELBO, $\log p_\theta(x) - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x))$, and to
# give the small mode its full weight its decoder must send a region of $z$ holding $1/11$ of
# the prior's mass onto a distant point, with the boundary between the two regions costing
# poor posteriors (and a blurred bridge of samples) for the points near it. The forward KL
# says *cover*, the bound's gap says *cheaply*; with a 2-d latent and this budget the VAE
# settled for a thin cover (a candidate reason; the budget, the latent size and the shared
# decoder noise are untested rivals). The GANs, which never evaluate a likelihood, are
# charged little for the missing 9%, and the charge reaches the generator only through the
# discriminator's gradient at its own samples.
#
# ## 5. GAN training as inference (Hu et al. 2018)
#
# Give every example a label $y$: $y = 1$ for real, $y = 0$ for generated. Then
#
# - the generator defines $p_\theta(x \mid y)$: $p_\theta(x \mid y = 0) = p_g(x)$, the generator's distribution, and $p_\theta(x \mid y = 1) = p_\text{data}(x)$;
# - the discriminator is an *inference model* for $y$: $q_\phi(y = 1 \mid x) = D(x)$;
# - its label-swapped version $q^r_\phi(y \mid x) = q_\phi(1 - y \mid x)$ is what the generator wants the discriminator to believe.
#
# The non-saturating generator update maximises $\mathbb{E}_{p(y)\, p_\theta(x \mid y)}\big[\log q^r_\phi(y \mid x)\big]$ with $p(y) = \tfrac12$
# (for $y = 0$ that is $\log D(G(z))$; the $y = 1$ term does not involve $\theta$). Hu et al.'s
# Lemma 1 rewrites its gradient. Fix the current parameters $\theta_0, \phi_0$ (any
# discriminator, optimal or not), and let
#
# $$
# p_{\theta_0}(x) = \mathbb{E}_{p(y)}\, p_{\theta_0}(x \mid y) = \tfrac12\big(p_{g_0}(x) + p_\text{data}(x)\big),
# \qquad
# q^r(x \mid y) = \frac{q^r_{\phi_0}(y \mid x)\, p_{\theta_0}(x)}{\int q^r_{\phi_0}(y \mid x')\, p_{\theta_0}(x')\, dx'} .
# $$
#
# $q^r(x \mid y)$ is a posterior: the *marginal* $p_{\theta_0}(x)$ as prior, $q^r_{\phi_0}(y \mid x)$ as likelihood. Then
#
# $$
# \nabla_\theta \Big[-\mathbb{E}_{p(y) p_\theta(x \mid y)} \log q^r_{\phi_0}(y \mid x)\Big]_{\theta_0}
# = \nabla_\theta \Big[\mathbb{E}_{p(y)}\, \mathrm{KL}\big(p_\theta(x \mid y) \,\big\|\, q^r(x \mid y)\big) - \mathrm{JSD}\big(p_\theta(x \mid y{=}0) \,\big\|\, p_\theta(x \mid y{=}1)\big)\Big]_{\theta_0}.
# $$
#
# *Why.* Take logs in the definition: $\log q^r_{\phi_0}(0 \mid x) = \log q^r(x \mid 0) - \log p_{\theta_0}(x) + \text{const}$. The
# $y = 0$ half of the expectation carries $p(y{=}0) = \tfrac12$, so
# $-\tfrac12\mathbb{E}_{p_g}\log q^r_{\phi_0}(0 \mid x) = \tfrac12\mathrm{KL}(p_g \,\|\, q^r(\cdot \mid 0)) - \tfrac12\mathrm{KL}(p_g \,\|\, p_{\theta_0}) + \text{const}$, and the
# gradient of $\tfrac12 \mathrm{KL}(p_g \,\|\, p_{\theta_0})$ at $\theta_0$ is the gradient of $\mathrm{JSD}(p_g \,\|\, p_\text{data})$ (the JSD's
# mixture is exactly $p_{\theta_0}$ there, and the terms from the mixture's own dependence on
# $\theta$ cancel). The $y = 1$ terms do not depend on $\theta$.
#
# **At the optimal discriminator the posterior is the data itself:** $q^r_{\phi_0}(0 \mid x) = D^*(x) = \frac{p_\text{data}}{p_\text{data} + p_{g_0}}$,
# so $q^r(x \mid y{=}0) \propto D^*(x)\, \tfrac12(p_{g_0} + p_\text{data}) = \tfrac12\, p_\text{data}(x)$, i.e. $q^r(x \mid y{=}0) = p_\text{data}(x)$, and the
# generator follows $\nabla\big[\tfrac12 \mathrm{KL}(p_g \,\|\, p_\text{data}) - \mathrm{JSD}(p_g \,\|\, p_\text{data})\big]$: lecture 04's
# $\mathrm{KL} - 2\,\mathrm{JSD}$, halved. The model $p_g$ sits **first** in that KL, as $q$ did in
# section 2's reverse fit. That is where mode seeking comes from: $\mathrm{KL}(p_g \,\|\, p_\text{data})$ is an
# average over $p_g$'s samples, so a mode of the data where $p_g$ has no mass costs nothing,
# although $q^r$ puts half of its mass there.
#
# (A tempting misreading puts the *conditional* $p_{\theta_0}(x \mid y)$ in place of the marginal. Then
# $q^r(x \mid 0) \propto D^*(x)\, p_{g_0}(x)$, a sharpened copy of the generator that has almost no mass on the
# missed mode, and the displayed identity is false: we check both below.)
#
# ### Exercise 3: the posterior $q^r$ (2 points)
#
# Write `qr_posteriors(logit_d, log_p_g0, log_p_data, dx)`: the discriminator's logits and the
# two log-densities on a uniform 1-D grid of spacing `dx`; return `(log_qr0, log_qr1)`, the
# logs of $q^r(x \mid y{=}0)$ and $q^r(x \mid y{=}1)$ on the grid, each normalised so that
# `log_qr.exp().sum() * dx` is 1. Remember $q^r_{\phi_0}(y{=}0 \mid x) = D(x) = \sigma(\ell)$; work in log space
# (`torch.nn.functional.logsigmoid`, `torch.logaddexp`, `torch.logsumexp`).

# %% nbgrader={"grade": false, "grade_id": "qr_posteriors", "locked": false, "schema_version": 3, "solution": true, "task": false}
def qr_posteriors(logit_d, log_p_g0, log_p_data, dx):
    """(log q^r(x | y=0), log q^r(x | y=1)) on the grid, each normalised."""
    ### BEGIN SOLUTION
    F = torch.nn.functional
    log_marginal = torch.logaddexp(log_p_g0, log_p_data) - math.log(2)  # p_theta0(x)
    log_qr0 = F.logsigmoid(logit_d) + log_marginal  # q^r(y=0 | x) = D(x)
    log_qr1 = F.logsigmoid(-logit_d) + log_marginal  # q^r(y=1 | x) = 1 - D(x)
    log_qr0 = log_qr0 - torch.logsumexp(log_qr0, 0) - math.log(dx)
    log_qr1 = log_qr1 - torch.logsumexp(log_qr1, 0) - math.log(dx)
    return log_qr0, log_qr1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_qr_posteriors", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
qr_posteriors = dgm.checks.qr_posteriors(qr_posteriors)

# %% [markdown]
# Now Lemma 1, numerically. The generator is a Gaussian $N(\mu, s^2)$ that has found the
# mode at $+2$ of the bimodal data of section 2; $\theta = (\mu, \log s)$, and $\theta_0$ is where it
# stands now. Both sides of the lemma are integrals on the grid, so their gradients can be
# taken by **central finite differences**: for each coordinate $i$,
# $\partial_i f(\theta_0) \approx \big(f(\theta_0 + h e_i) - f(\theta_0 - h e_i)\big) / 2h$, with error $O(h^2)$.
#
# ### Exercise 4: Lemma 1 by finite differences (4 points)
#
# Write `lemma1_gradients(theta0, logit_d, log_p_data, xs)` returning
# `(grad_left, grad_right)`, two float64 tensors of shape `(2,)` (the derivatives in $\mu$ and in
# $\log s$), with $h = 10^{-5}$:
#
# 1. the generator's log-density on the grid `xs` for any $\theta$ (`dgm.densities.normal_log_prob`
#    takes the standard deviation $e^{\log s}$), and $p_{g_0}$ at `theta0`;
# 2. $q^r(x \mid y)$ for both labels from your `qr_posteriors`, with $p_{g_0}$ and the discriminator
#    (`logit_d`) **held fixed** at $\theta_0$;
# 3. the left side as a function of $\theta$: $-\tfrac12 \int p_\theta(x \mid y{=}0) \log D(x)\, dx$ (the $y = 1$ term does not
#    involve $\theta$; keep it or drop it);
# 4. the right side: $\tfrac12\big[\mathrm{KL}(p_\theta(x \mid 0) \,\|\, q^r(x \mid 0)) + \mathrm{KL}(p_\text{data} \,\|\, q^r(x \mid 1))\big] - \mathrm{JSD}(p_\theta(x \mid 0) \,\|\, p_\text{data})$, with
#    `dgm.densities.kl_by_quadrature` and `jsd_by_quadrature`;
# 5. the central differences of both.

# %% nbgrader={"grade": false, "grade_id": "lemma1_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lemma1_gradients(theta0, logit_d, log_p_data, xs):
    """Central-difference gradients in theta = (mu, log s) of Lemma 1's left and right sides."""
    ### BEGIN SOLUTION
    dx, h = (xs[1] - xs[0]).item(), 1e-5
    kl, jsd = dgm.densities.kl_by_quadrature, dgm.densities.jsd_by_quadrature

    def log_gen(theta):
        mu, log_s = theta
        return dgm.densities.normal_log_prob(xs, mu, math.exp(log_s))

    log_qr0, log_qr1 = qr_posteriors(logit_d, log_gen(theta0), log_p_data, dx)  # held at theta0

    def left(theta):
        return -0.5 * (log_gen(theta).exp() * torch.nn.functional.logsigmoid(logit_d)).sum() * dx

    def right(theta):
        log_g = log_gen(theta)
        return 0.5 * (kl(log_g, log_qr0, dx) + kl(log_p_data, log_qr1, dx)) - jsd(log_g, log_p_data, dx)

    def central(f):
        grad = []
        for i in range(len(theta0)):
            up, down = list(theta0), list(theta0)
            up[i], down[i] = up[i] + h, down[i] - h
            grad.append((f(up) - f(down)) / (2 * h))
        return torch.stack(grad).double()

    return central(left), central(right)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_lemma1_gradients", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
lemma1_gradients = dgm.checks.lemma1_gradients(lemma1_gradients)

# %% [markdown]
# Your function, for the optimal discriminator and for a sub-optimal one (a logistic
# $\ell(x) = 0.3 + 0.7x$); and once more with the misreading, the conditional $p_{g_0}$ in place of
# the marginal as the prior of $q^r$.

# %%
log_pd = dgm.densities.normal_mixture_log_prob(xs, **bimodal)
theta0 = (1.6, math.log(0.8))


def log_generator(theta):
    return dgm.densities.normal_log_prob(xs, theta[0], math.exp(theta[1]))


log_g0 = log_generator(theta0)
discriminators = {"optimal D*": log_pd - log_g0, "sub-optimal D": 0.3 + 0.7 * xs}


def misread_right(theta, logit):
    """The right side with q^r built on the conditional p_g0 (the misreading), y = 0 term."""
    log_g = log_generator(theta)
    log_qr0 = qr_posteriors(logit, log_g0, log_g0, dx)[0]  # "marginal" of p_g0 with itself
    return 0.5 * dgm.densities.kl_by_quadrature(log_g, log_qr0, dx) - dgm.densities.jsd_by_quadrature(log_g, log_pd, dx)


print(f"{'discriminator':15s} {'q^r with':12s} {'grad left (mu, log s)':>24s} {'grad right (mu, log s)':>24s}")
for name, logit in discriminators.items():
    left, right = lemma1_gradients(theta0, logit, log_pd, xs)
    wrong = dgm.densities.finite_difference(lambda th, lg=logit: misread_right(th, lg), theta0)
    for prior, r in (("marginal", right), ("p(x|y=0)", wrong)):
        print(f"{name:15s} {prior:12s} {str(left.numpy().round(5)):>24s} {str(r.numpy().round(5)):>24s}"
              f"   max gap {(left - r).abs().max():.1e}")

# %% [markdown]
# With the marginal the two gradients agree to the precision of the finite differences, for
# both discriminators; with the conditional they do not (with $D^*$, $-0.513$ against
# $-0.417$ in $\mu$). Here is $q^r(x \mid y{=}0)$ itself: the data at $D^*$, a mixture of data
# and generator reweighted by $D$ for the sub-optimal discriminator, and, dashed, the
# misreading's sharpened generator.

# %%
log_qr_star, _ = qr_posteriors(discriminators["optimal D*"], log_g0, log_pd, dx)
log_qr_sub, _ = qr_posteriors(discriminators["sub-optimal D"], log_g0, log_pd, dx)
log_qr_wrong, _ = qr_posteriors(discriminators["optimal D*"], log_g0, log_g0, dx)  # the misreading
fig, ax = plt.subplots(figsize=(8, 4))
ax.fill_between(xs, log_pd.exp(), color="0.85", label="$p_{data}$")
ax.plot(xs, log_g0.exp(), "C1", label="current generator $p_{g}$")
ax.plot(xs, log_qr_star.exp(), "C0", lw=2, label="$q^r(x | y=0)$ at $D^*$ (= $p_{data}$)")
ax.plot(xs, log_qr_sub.exp(), "C2", label="$q^r(x | y=0)$, sub-optimal $D$")
ax.plot(xs, log_qr_wrong.exp(), "k--", lw=1, label="misreading: $D^* p_g$, normalised")
ax.set(title="At $D^*$, $q^r(x \\mid y{=}0)$ is the data, both modes; the generator misses one",
       xlabel="x", ylabel="density", xlim=(-5, 5))
ax.legend(fontsize=8)
plt.show()
missed = lambda log_q: (log_q.exp()[xs < 0].sum() * dx).item()  # noqa: E731
print(f"mass on the missed mode (x < 0): q^r at D* {missed(log_qr_star):.3f}, "
      f"sub-optimal D {missed(log_qr_sub):.3f}, misreading {missed(log_qr_wrong):.4f}, "
      f"generator {missed(log_g0):.4f}")
print(f"KL(p_g || p_data) = {dgm.densities.kl_by_quadrature(log_g0, log_pd, dx):.3f} nats, "
      f"KL(p_data || p_g) = {dgm.densities.kl_by_quadrature(log_pd, log_g0, dx):.1f} nats.\n"
      f"With the model first, dropping a mode of weight 1/2 adds at most log 2 = {math.log(2):.2f} nats "
      f"(p_data is at least half the mode it covers, everywhere); with the data first the cost has no bound.")

# %% [markdown]
# The VAE, in the same notation, minimises $\mathrm{KL}\big(q_\eta(z \mid x)\, p_\text{data}(x) \,\big\|\, p_\theta(z, x)\big)$ over $\theta$ and $\eta$
# (the negative ELBO averaged over the data, up to the data's entropy). Here the generative
# model $p_\theta$ sits **second**, as $q$ did in the forward fit: every real example must be
# explained, and mass is spread to cover all of them.
#
# **The symmetric view, through wake-sleep** (lecture 02). Wake-sleep already used both directions, one per phase:
#
# | phase | trained | on | divergence | the trained distribution sits | descendant |
# |---|---|---|---|---|---|
# | wake | generative $\theta$ | real $x$, $z \sim q_\phi(z \mid x)$ | $\mathrm{KL}(q_\phi(z \mid x)\, p_\text{data}(x) \,\|\, p_\theta(z, x))$ | second ($p_\theta$) | VAE (which also trains $q$ with this KL) |
# | sleep | recognition $\phi$ | dreams $(z, x) \sim p_\theta$ | $\mathrm{KL}(p_\theta(z, x) \,\|\, q_\phi(z \mid x)\, p_\theta(x))$ | second ($q_\phi$) | GAN's discriminator: an inference model for $y$, trained on samples the generator makes |
#
# Hu et al. call VAEs an extension of the wake phase and GANs an extension of the sleep
# phase. Their analogy is about *which samples train the inference model*: the sleep phase's
# $q_\phi$ learns from the model's dreams, as the discriminator learns from generated samples
# (beside real ones). It is not about the direction of the generator's KL: by section 1's
# rule both phases cover mass for the distribution they train (it sits second), while the
# GAN's generator (above in this section) follows $\mathrm{KL}(p_g \,\|\, p_\text{data})$ with its
# own distribution **first**. The point of writing both in one language is that techniques
# can cross over.
#
# ## 6. From VAEs to GANs: importance weighting (IWGAN)
#
# IWAE (lecture 03) tightened the ELBO with $K$ importance-weighted samples. The GAN
# analogue weights each generated sample by how likely the data would have produced it.
# At the optimal discriminator, $\frac{D(x)}{1 - D(x)} = \frac{p_\text{data}(x)}{p_g(x)}$, the exact importance ratio, and with
# $D = \sigma(\ell)$ that ratio is simply $e^{\ell}$. Normalising over a batch of $B$ generated
# samples,
#
# $$
# w_i = \frac{e^{\ell_i}}{\sum_{j=1}^B e^{\ell_j}}, \qquad \mathcal{L}_G^{\text{IW}} = -\sum_{i=1}^B w_i \log D(G(z_i)),
# $$
#
# with the $w_i$ held constant in the gradient, as IWAE's normalised weights are. Samples the
# discriminator finds most real get the most weight.
#
# ### Exercise 5: IWGAN's importance weights (2 points)
#
# Write `iwgan_weights(fake_logits)`: the normalised weights, shape `(B,)`, summing to 1, with
# no gradient. Large logits must not overflow.

# %% nbgrader={"grade": false, "grade_id": "iwgan_weights", "locked": false, "schema_version": 3, "solution": true, "task": false}
def iwgan_weights(fake_logits):
    """Normalised importance weights exp(l_i) / sum_j exp(l_j), as constants; shape (B,)."""
    ### BEGIN SOLUTION
    return torch.softmax(fake_logits.detach(), dim=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_iwgan_weights", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
iwgan_weights = dgm.checks.iwgan_weights(iwgan_weights)

# %% [markdown]
# We train the course's first DCGAN (`gan.DCGenerator(64)`: $z$ mapped linearly to the
# feature maps, the network of `benchmarks.gan mnist`; lecture 04's notebook trains a wider
# variant with a fully connected layer) twice on MNIST from the same initialisation, data
# order and number of steps: once with the non-saturating loss, once with IWGAN's
# (the non-saturating loss weighted by `unified.iwgan_weights`, the weights above), and score both with the
# course classifier. Hu et al. report an Inception score of 8.34 for their GAN and 8.45 for
# IWGAN on MNIST (their networks and budget, not ours).

# %%
x_train, _ = dgm.data.load_mnist("train")
x_train = x_train.flatten(1)
x_test, _ = dgm.data.load_mnist("test")
x_test = x_test.flatten(1)
mnist_steps = dgm.pick(full=2000, fast=20)
n_score = dgm.pick(full=5000, fast=500)

mnist_gans = {}
for name, weights in [("GAN", None), ("IWGAN", unified.iwgan_weights)]:
    torch.manual_seed(0)
    g_mnist = torch.Generator(device=x_train.device).manual_seed(0)
    model = gan.GAN(gan.DCGenerator(64), gan.DCDiscriminator(), latent_dim=64).to(device)
    gan.fit(model, lambda n: x_train[torch.randint(len(x_train), (n,), generator=g_mnist, device=x_train.device)],
            mnist_steps, weights=weights, lr=2e-4, betas=(0.5, 0.999), batch_size=64, desc=name)
    mnist_gans[name] = model

print(f"{'':8s} {'Fréchet distance':>17s} {'Inception score':>16s}")
for name, model in mnist_gans.items():
    s = dgm.metrics.mnist_scores(model.sample(n_score), x_test[:n_score])
    print(f"{name:8s} {s['frechet']:17.2f} {s['inception']:16.2f}")

with torch.no_grad():
    w = iwgan_weights(mnist_gans["IWGAN"].logits(mnist_gans["IWGAN"].sample(64)))
print(f"effective sample size of the weights on a batch of 64: {unified.effective_sample_size(w):.1f}")

# %% [markdown]
# The effective sample size $1 / \sum_i w_i^2$ says how many samples really carry the
# generator's update: $B$ when all weights are equal, 1 when one sample takes all. It also
# says how much IWGAN *can* differ from the GAN here: with an effective sample size close to
# the batch size the weights are nearly uniform, and IWGAN's update is nearly the GAN's by
# construction, whatever the training budget. The ESS says nothing about how *confident* the
# discriminator is: the weights are normalised over the batch, so adding the same constant to
# every logit leaves them unchanged. A discriminator that rejects every sample equally firmly
# gives uniform weights too. What the weights need is logits that *differ* widely within a
# batch, and on MNIST at this budget they do not. So little difference between IWGAN and the
# GAN here is what the arithmetic predicts. Over 5 seeds (`python -m benchmarks.unified
# iwgan`, 2,000 steps, CPU) IWGAN was no better on MNIST:
#
# <!-- claim 05.iwgan-mnist -->
# *Record:* Fréchet distance IWGAN 14.98 ± 2.4 against the GAN 12.33 ± 0.87 (mean ± sd over 5 seeds); Inception score IWGAN 3.65 ± 0.25 against the GAN 3.88 ± 0.15 (mean ± sd over 5 seeds): no gain on either score (the records keep means only, so this is not a test that IWGAN is worse).
# <!-- /claim -->
#
# ### A discriminator whose weights carry information
#
# Where does the weighting have something to say? Where the discriminator's logits differ
# widely *within* a batch: lecture 04's 25-grid, whose generator strings samples
# between modes that the discriminator confidently rejects, while it trusts the samples on
# under-covered modes ($D/(1 - D) = p_\text{data}/p_g$ is large exactly where $p_g$ has too little
# mass). Same MLPs, data and steps for a GAN and an IWGAN; along the way we record the
# effective sample size (as a share of the batch) and the modes covered.

# %%
grid_iw_steps = dgm.pick(full=6000, fast=200)
iw_traces = {}
for name, weights in [("GAN", None), ("IWGAN", unified.iwgan_weights)]:
    torch.manual_seed(0)
    g_iw = torch.Generator().manual_seed(0)
    model = gan.GAN(*gan.toy_mlps(), latent_dim=2).to(device)
    trace = []

    def probe(step, model=model, trace=trace):
        with torch.no_grad():
            w = unified.iwgan_weights(model.logits(model.sample(256)))
        modes, hq = dgm.metrics.mode_coverage(model.sample(2500).cpu(), grid, 0.05)
        trace.append((step, 100 * unified.effective_sample_size(w) / 256, modes, 100 * hq))
        return {}

    gan.fit(model, lambda n: dgm.data.gaussian_grid(n, generator=g_iw, device=device), grid_iw_steps,
            weights=weights, lr=1e-3, betas=(0.5, 0.9), batch_size=256, desc=f"{name}, 25-grid",
            evaluate=probe, eval_every=max(grid_iw_steps // 12, 1))
    iw_traces[name] = trace

fig, axes = plt.subplots(1, 3, figsize=(18, 4))
for name, trace in iw_traces.items():
    steps_seen, ess, modes, hq = zip(*trace)
    axes[0].plot(steps_seen, ess, "o-", label=name)
    axes[1].plot(steps_seen, modes, "o-", label=name)
    axes[2].plot(steps_seen, hq, "o-", label=name)
axes[0].set(title="Effective sample size (this run)", xlabel="step", ylabel="ESS (% of 256)")
axes[1].set(title="Modes covered (this run)", xlabel="step", ylabel="modes (of 25)")
axes[2].set(title="High-quality share (this run)", xlabel="step", ylabel="%")
for ax in axes:
    ax.legend()
plt.show()
for r in (json.loads(results_unified.read_text()) if results_unified is not None and results_unified.exists() else []):
    if "25-grid" in r["model"]:
        print(f"{r['model']:28s} {r['metric']:40s} {r['value']:6.1f} ± {r['spread']:4.1f}  ({r['seeds']} seeds)")

# %% [markdown]
# The left panel is one run, and a single run can disagree with the record on every panel:
# read the record. (The GAN's curve is the effective sample size its weights *would* have,
# computed from its discriminator; it trains with equal weights.) Over 10 seeds
# (`benchmarks.unified iwgan-grid`, the same MLPs, data, steps and batch for both), with a
# second, stricter count of modes (20 of the 2,500 samples, a fifth of a mode's fair share,
# so that a few strays no longer cover a mode) and the data's own scores as the floor:
#
# <!-- claim 05.iwgan-grid -->
# *Record:* modes covered by one sample: IWGAN 19.6 ± 5.7 against the GAN 15.4 ± 2.7 (10 and 10 seeds); Welch's one-sided t-test p = 0.028. modes with 20 or more samples: IWGAN 12.9 ± 6.9 against the GAN 11.3 ± 3.7 (10 and 10 seeds); Welch's one-sided t-test p = 0.26, not significant. high-quality samples: the GAN 70.91 ± 11% against IWGAN 55.35 ± 16% (10 and 10 seeds); Welch's one-sided t-test p = 0.012. The data's own draws: 98.93% high quality. IWGAN's effective sample size at the end ran from 1.31% to 88.04% of the batch across seeds.
# <!-- /claim -->
#
# What the records support, then: on the grid IWGAN touched more modes than the GAN, but
# only by the one-sample rule. Counted by 20 samples the difference is not significant, and
# IWGAN had fewer high-quality samples: the extra modes are thin, the kind of coverage a
# generator gets from samples strewn off the modes, not from mass moved onto the modes it
# missed (where its weights put their mass was not measured). On MNIST at this budget IWGAN
# did no better than the GAN. What does not reproduce here: Hu et
# al.'s Inception-score gain on MNIST (8.34 to 8.45), with their networks and budget; five
# seeds could not detect a gain of that size, and ours are far from converged.
#
# ## 7. From GANs to VAEs: the adversary-activated VAE (AA-VAE)
#
# Hu et al.'s motivation. Write the VAE in the GAN's notation, with the label $y$ (real or
# generated) and an inference model for it. The VAE's objective then matches the GAN's form
# with a *degenerate* discriminator: one that is always certain and always right, so the
# label-swapped belief $q^r$ that a generated sample is real is exactly 0, and every term of
# the objective that involves generated samples vanishes. The VAE learns only from real
# digits; its own samples never enter its loss, however good they are. Hu et al. call this
# the VAE's degenerate adversarial mechanism, and the AA-VAE replaces the perfect
# discriminator by a learned one, so that samples that look real are *activated*.
#
# The other transfer, then, lets a VAE learn from its *own* samples, as a GAN's generator does.
# A discriminator is trained to tell real digits from the VAE's binary samples; each sample
# then enters the VAE's loss as extra data, weighted by $D(x)$, the discriminator's belief
# that it is real (`unified.aa_vae_loss`):
#
# $$
# \mathcal{L}_\text{AA-VAE} = \mathbb{E}_{p_\text{data}}\big[-\mathrm{ELBO}(x)\big] + \lambda\, \mathbb{E}_{x \sim p_\theta}\big[D(x)\, \big(-\mathrm{ELBO}(x)\big)\big].
# $$
#
# Good samples reinforce themselves; poor ones are ignored. Hu et al. report a test ELBO of
# $-92.53 \to -92.42$ with all the training data and $-104.49 \to -103.05$ with 10% of it, where
# extra (generated) data should matter most. We try the 10% setting, a VAE against an
# AA-VAE ($\lambda = 1$, an MLP discriminator) with the same network, data and steps, and
# compare test ELBOs on the fixed binarization of the test digits.

# %%
x_small = x_train[: len(x_train) // 10]  # 6,000 digits
x_test_bin, _ = dgm.data.binarized_mnist("test")
x_test_bin = x_test_bin.flatten(1)[: dgm.pick(full=10_000, fast=500)]
aa_steps = dgm.pick(full=3000, fast=30)

test_elbo = {}
for name, weight in [("VAE", 0.0), ("AA-VAE", 1.0)]:
    torch.manual_seed(0)
    model = vae.VAE().to(device)
    model.set_output_bias(x_small.mean(0))
    disc = dgm.nets.mlp([784, 256, 256, 1], activation="leaky_relu").to(device)
    history = unified.fit_aa_vae(model, disc, x_small, aa_steps, weight=weight, desc=name)
    torch.manual_seed(1)
    with torch.no_grad():  # model.loss is -ELBO per digit, one sample of q each
        total = sum(model.loss(xb).sum().item()
                    for (xb,) in dgm.data.batches(x_test_bin, batch_size=500, shuffle=False))
    test_elbo[name] = -total / len(x_test_bin)
    late = [v for step, v in history["d_fake"] if step > 0.8 * aa_steps]  # the last fifth
    print(f"{name:7s} test ELBO {test_elbo[name]:8.2f} nats; mean D(x) of its samples over the "
          f"last fifth of training {sum(late) / len(late):.3f}")
print(f"AA-VAE minus VAE: {test_elbo['AA-VAE'] - test_elbo['VAE']:+.2f} nats")

# %% [markdown]
# Why so little? One candidate is visible in the loss: each generated digit's $-\mathrm{ELBO}$ enters
# with weight $D(x)$, and a discriminator that tells the VAE's blurry, binarized samples from
# real digits easily gives them little weight, so the generated digits carry only a small
# fraction of a real digit's weight in the loss. The printout gives that weight, the mean
# $D(x)$ of the AA-VAE's samples over the last fifth of training (`unified.fit_aa_vae` logs it
# as `d_fake`, after the discriminator's step on the same batch, so a little below the weight
# the loss used; the VAE's line shows the same discriminator's verdict on a VAE that ignores
# it). Whether that small weight is the cause, this notebook does not test. Over 5 seeds (`python -m benchmarks.unified
# aavae`, the same networks and data, at 8,000 steps where this notebook runs 3,000):
#
# <!-- claim 05.aavae -->
# *Record:* test ELBO AA-VAE -106.1 ± 0.26 nats against VAE -106.3 ± 0.24 nats (mean ± sd over 5 seeds): a difference of +0.21 nats; Welch's one-sided test of a gain p = 0.11, not significant; of a gain below the paper's 1.44 nats p < 0.001 (from the records' means and spreads).
# <!-- /claim -->

# %% [markdown]
# ### Written question: where mode seeking comes from (3 points, graded by hand)
#
# At the optimal discriminator, $q^r(x \mid y{=}0) = p_\text{data}$, with half its mass on the mode the
# generator misses. A classmate concludes: "so the GAN generator is pulled toward both modes
# equally, and mode seeking is a myth." Using Lemma 1 and your numbers from this notebook:
#
# 1. What does the generator's gradient follow at $D^*$, and which distribution does that KL
#    average over?
# 2. How much does a missed mode of weight $1/2$ cost in that KL, and in the other direction?
# 3. How does this explain the 10:1 result (the GAN's share of the small mode against EM's)?

# %% [markdown] nbgrader={"grade": true, "grade_id": "seeking_written", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# 1. $\nabla\big[\tfrac12 \mathrm{KL}(p_g \,\|\, p_\text{data}) - \mathrm{JSD}(p_g \,\|\, p_\text{data})\big]$: the KL has the model first, so it is an
#    expectation over the generator's own samples, $\mathbb{E}_{p_g}[\log p_g - \log p_\text{data}]$. That $q^r$ has mass on the
#    missed mode does not matter: the KL is never evaluated there.
# 2. With the model first, at most $\log 2 \approx 0.69$ nats (where $p_g$ sits, $p_\text{data}$ is at least half of
#    that mode's density); in our example $\mathrm{KL}(p_g \,\|\, p_\text{data}) = 1.2$ nats: the missed mode's
#    part stays below that bound, and the rest comes from the generator's width and offset,
#    which fit the covered mode imperfectly. With the data first, $\mathrm{KL}(p_\text{data} \,\|\, p_g)$ is 4.6 nats here and grows without bound as the
#    generator's tail on the missed mode vanishes.
# 3. A 10:1 small mode holds 9% of the data; dropping it costs the non-saturating generator's
#    KL nearly nothing, and the generator's gradient is computed only at its own samples,
#    none of which are near the small mode: it stays dropped (on every seed). The KL's
#    direction is not the whole explanation, though: the minimax GAN, whose objective at $D^*$
#    is the symmetric JSD, dropped it too, so the gradient read only at the generator's own
#    samples is the shared cause. EM maximises the likelihood, with the data first: every
#    small-mode point would cost $-\log p_g(x)$, huge if uncovered, so EM gives the mode its
#    share.
# ### END SOLUTION

# %% [markdown]
# ## 8. Build assignment: Lemma 1 by sampling, a generator trained on its own gradient estimates (6 points)
#
# Section 5 checked Lemma 1 with integrals on a grid. A GAN has no grid: its generator's
# gradient is estimated from a batch of its own samples. Here you build that estimate, two
# ways, and train a generator with it. The generator is $p_\theta = \mathcal{N}(\mu, s^2)$ with
# $\theta = (\mu, \log s)$, the data a 1-D density we can evaluate, and the discriminator the
# optimal one for the *current* generator, $\ell^*(x) = \log p_\text{data}(x) - \log p_\theta(x)$,
# rebuilt at every step and held fixed within it (Lemma 1's $\phi_0$). The generator's loss
# per sample is the generated half of Lemma 1's left side, $f(x) = -\tfrac12 \log \sigma(\ell^*(x))$,
# and its gradient is $\nabla_\theta\, \mathbb{E}_{x \sim p_\theta}[f(x)]$. Two unbiased estimates from
# $x_i = \mu + s\,\epsilon_i$, $\epsilon_i \sim \mathcal{N}(0, 1)$:
#
# - **Pathwise** (the reparameterisation of lecture 03): $\mathbb{E}_{p_\theta}[f(x)] = \mathbb{E}_\epsilon[f(\mu + s\epsilon)]$, so
#   $g_i = f'(x_i)\, \big(\partial x/\partial\mu,\ \partial x/\partial \log s\big) = f'(x_i)\,(1,\ x_i - \mu)$, since
#   $\partial x / \partial \log s = s\,\epsilon = x - \mu$. It needs $f'$, here by autograd through $\ell^*$ in $x$.
# - **Score function** (REINFORCE): $\nabla_\theta \int p_\theta f = \int p_\theta\, f\, \nabla_\theta \log p_\theta$, so
#   $g_i = \big(f(x_i) - b_i\big)\, \nabla_\theta \log p_\theta(x_i)$, with $\nabla_\theta \log p_\theta(x) = \big(\epsilon / s,\ \epsilon^2 - 1\big)$ for the
#   Gaussian. It needs only values of $f$. The baseline $b_i$ cuts its variance and keeps it
#   unbiased when it is independent of $x_i$: then $\mathbb{E}[b_i\, \nabla_\theta \log p_\theta(x_i)] = \mathbb{E}[b_i]\, \mathbb{E}[\nabla_\theta \log p_\theta(x_i)] = 0$. Take the
#   *leave-one-out* mean $b_i = \frac{1}{n-1}\sum_{j \ne i} f(x_j)$.
#
# By Lemma 1 at the optimal discriminator, the expected gradient is that of
# $\tfrac12\mathrm{KL}(p_\theta \,\|\, p_\text{data}) - \mathrm{JSD}(p_\theta \,\|\, p_\text{data})$, so plain gradient descent on
# either estimate should settle where that objective has a local minimum. You also compute
# that prediction, without sampling: the objective by quadrature on a grid, as in section 5,
# and its local minimum from the same start by L-BFGS (`torch.optim.LBFGS`, whose `step`
# takes a closure that recomputes the loss and its gradient).
#
# **What to build.** In the cell below, five functions (their signatures and docstrings are
# given):
#
# 1. `optimal_logit(log_p_data, theta)`: the function $x \mapsto \ell^*(x)$, with `theta` detached
#    (`dgm.densities.normal_log_prob(x, mu, s)` gives $\log p_\theta$);
# 2. `pathwise_gradients(f, theta, eps)` and `score_gradients(f, theta, eps)`: the `(n, 2)`
#    per-sample gradients $g_i$ above, for a per-sample loss `f` (a function of a tensor of
#    points) at $x = \mu + s\,\epsilon$;
# 3. `lemma1_minimum(log_p_data, theta0)`: $(\mu^*, \log s^*)$, a float64 tensor, the local minimum of
#    $\tfrac12\mathrm{KL}(p_\theta \,\|\, p_\text{data}) - \mathrm{JSD}(p_\theta \,\|\, p_\text{data})$ that L-BFGS reaches from `theta0`: the
#    densities on the grid `torch.linspace(-10, 10, 4001, dtype=torch.float64)`, the
#    divergences by `dgm.densities.kl_by_quadrature` and `jsd_by_quadrature`, and
#    `torch.optim.LBFGS([theta], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")`
#    stepped once;
# 4. `train_gaussian_generator(log_p_data, theta0, steps, lr, n, estimator)`: from `theta0`
#    (a float64 tensor `(mu, log s)`), `steps` steps, each of which draws fresh
#    `eps = torch.randn(n, dtype=torch.float64)`, builds $f$ from this step's $\ell^*$, takes the
#    per-sample gradients by `estimator` (`"pathwise"` or `"score"`) and moves
#    $\theta \leftarrow \theta - \text{lr} \cdot \frac1n \sum_i g_i$ (plain gradient descent, no optimiser). Return
#    `(thetas, x, g, theta_star)`: the path `(steps + 1, 2)` from `theta0`, each step's samples
#    `(steps, n)`, their gradients `(steps, n, 2)`, and your `lemma1_minimum` from `theta0`.
#
# The library's `unified.train_gaussian_generator`, `pathwise_gradients`, `score_gradients`,
# `optimal_logit`, `lemma1_objective`, `descend_lemma1_objective` and `lemma1_minimum` are
# refused by the grader here: an answer that calls one is graded as tampered and earns nothing. About 40 lines. Keep them vectorised: the grader's time limit
# covers the whole check, and a Python loop over the samples (one autograd call each) takes
# a large share of it; the demo below calls your function with 20,000 samples in one step.
#
# **How it is graded** (the grader uses hidden targets of the same kind: two modes, their
# places, widths and weights hidden):
#
# - *Properties* (3 points): 4 steps of each estimator (lr 0.05, 16 samples a step) and 50
#   steps at lr 0 (40 samples a step). At every step, each returned per-sample gradient must
#   equal the estimator's on the returned samples (to a relative $10^{-4}$), the step must
#   move $\theta$ by $-\text{lr}$ times their mean, the noise $(x - \mu)/s$ behind the samples must be
#   fresh at every step, and, pooled over the steps, pass a Kolmogorov-Smirnov test of
#   $\mathcal{N}(0, 1)$ at $p \ge 10^{-6}$. In each of these runs, and in one step at lr 0 on a hidden
#   target whose two modes overlap (where the JSD's pull is not negligible, so a slip in the
#   objective moves its minimum), your `theta_star` must be the grader's L-BFGS minimum from
#   the same start to within $10^{-3}$ (in $\mu$, as a share of $s^*$, and in $\log s$).
# - *Outcome* (3 points): 1,000 steps of the pathwise estimator (lr 0.05, 64 samples a step)
#   from near one mode of a hidden target: averaged over the last 300 steps, $\mu$ must be
#   within 0.02 $s^*$ of $\mu^*$ and $\log s$ within 0.02 of $\log s^*$, where $(\mu^*, \log s^*)$ is the local
#   minimum of $\tfrac12\mathrm{KL} - \mathrm{JSD}$ that L-BFGS reaches from the same start by quadrature.
#
# The two parts score apart, and the check says which step and which estimator went wrong,
# or where the generator settled. The thresholds are calibrated on 20 hidden variants (the
# reference passes all; every recorded wrong build fails the part it names on all of them):
# `python -m benchmarks.assignments`.

# %% nbgrader={"grade": false, "grade_id": "train_gaussian_generator", "locked": false, "schema_version": 3, "solution": true, "task": false}
def optimal_logit(log_p_data, theta):
    """l*(x) = log p_data(x) - log N(x; mu, s^2), as a function of x, theta held fixed."""
    ### BEGIN SOLUTION
    mu, log_s = theta.detach()
    return lambda x: log_p_data(x) - dgm.densities.normal_log_prob(x, mu, log_s.exp())
    ### END SOLUTION


def pathwise_gradients(f, theta, eps):
    """Per-sample gradients (n, 2) in (mu, log s) of f(mu + s eps_i), by the reparameterisation."""
    ### BEGIN SOLUTION
    mu, log_s = theta.detach()
    x = (mu + log_s.exp() * eps).requires_grad_()  # (n,)
    (df_dx,) = torch.autograd.grad(f(x).sum(), x)  # each f(x_i) depends on x_i alone
    return torch.stack([df_dx, df_dx * (x.detach() - mu)], 1)  # dx/dmu = 1, dx/dlog s = x - mu
    ### END SOLUTION


def score_gradients(f, theta, eps):
    """Per-sample score-function gradients (n, 2), (f(x_i) - b_i) grad log p_theta(x_i),
    with the leave-one-out baseline b_i."""
    ### BEGIN SOLUTION
    mu, log_s = theta.detach()
    s = log_s.exp()
    with torch.no_grad():
        fx = f(mu + s * eps)  # (n,)
    b = (fx.sum() - fx) / (len(fx) - 1)  # the mean of the other samples' losses
    score = torch.stack([eps / s, eps**2 - 1], 1)  # grad of log N(x; mu, s^2) in (mu, log s)
    return (fx - b)[:, None] * score
    ### END SOLUTION


def lemma1_minimum(log_p_data, theta0):
    """(mu*, log s*): the local minimum of KL(p_theta || p_data) / 2 - JSD(p_theta || p_data)
    that L-BFGS reaches from theta0, the divergences by quadrature on a grid."""
    ### BEGIN SOLUTION
    xs = torch.linspace(-10, 10, 4001, dtype=torch.float64)
    dx = (xs[1] - xs[0]).item()
    log_pd = log_p_data(xs)  # (4001,), fixed
    theta = theta0.detach().double().clone().requires_grad_()
    opt = torch.optim.LBFGS([theta], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        log_g = dgm.densities.normal_log_prob(xs, theta[0], theta[1].exp())  # p_theta on the grid
        loss = 0.5 * dgm.densities.kl_by_quadrature(log_g, log_pd, dx) - dgm.densities.jsd_by_quadrature(log_g, log_pd, dx)
        loss.backward()
        return loss

    opt.step(closure)
    return theta.detach()
    ### END SOLUTION


def train_gaussian_generator(log_p_data, theta0, steps, lr, n, estimator="pathwise"):
    """Gradient descent on sampled gradients of the non-saturating loss against the optimal
    discriminator of the current generator; returns (thetas, x, g, theta_star)."""
    ### BEGIN SOLUTION
    estimate = {"pathwise": pathwise_gradients, "score": score_gradients}[estimator]
    theta = theta0.detach().double().clone()
    thetas, samples, grads = [theta], [], []
    for _ in range(steps):
        eps = torch.randn(n, dtype=torch.float64)
        logit = optimal_logit(log_p_data, theta)  # D* of this step's generator, held fixed

        def f(x, logit=logit):
            return -0.5 * torch.nn.functional.logsigmoid(logit(x))  # -(1/2) log D(x)

        g = estimate(f, theta, eps)  # (n, 2)
        samples.append(theta[0] + theta[1].exp() * eps)
        grads.append(g)
        theta = theta - lr * g.mean(0)
        thetas.append(theta)
    return torch.stack(thetas), torch.stack(samples), torch.stack(grads), lemma1_minimum(log_p_data, theta0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_train_gaussian_generator", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
train_gaussian_generator = dgm.checks.train_gaussian_generator(train_gaussian_generator)

# %% [markdown]
# First, both estimators against section 5's numbers: at the generator $\theta_0$ of section 5
# and its optimal discriminator, the mean of many per-sample gradients of each should match
# the left side's gradient from your `lemma1_gradients` (by quadrature and finite
# differences), within a few standard errors; their spreads say how many samples each needs.
# One step at lr 0 of your `train_gaussian_generator` returns them. (Where your build did not
# pass, the library's runs here and below.)

# %%
def log_pd_fn(x):
    """Section 2's two modes, as a function of points."""
    return dgm.densities.normal_mixture_log_prob(x, **bimodal)


theta_start = torch.tensor(theta0, dtype=torch.float64)
n_check = dgm.pick(full=20_000, fast=4_000)
exact_left, _ = lemma1_gradients(theta0, discriminators["optimal D*"], log_pd, xs)
print(f"{'':22s} {'d/dmu':>20s} {'d/dlog s':>20s} {'sd of one sample':>22s}")
print(f"{'Lemma 1, quadrature':22s} {exact_left[0]:20.5f} {exact_left[1]:20.5f}")
for name, estimator in (("pathwise", "pathwise"), ("score function", "score")):
    # one step at lr 0: the per-sample gradients at theta0, from n_check samples
    _, _, g, _ = train_gaussian_generator(log_pd_fn, theta_start, 1, 0.0, n_check, estimator)
    g = g[0]
    mean, se, sd = g.mean(0), g.std(0) / math.sqrt(n_check), g.std(0)
    z = (mean - exact_left) / se  # the gap to Lemma 1's gradient, in standard errors
    print(f"{name:22s} " + " ".join(f"{m:12.5f} ± {e:.5f}" for m, e in zip(mean, se))
          + f"   {sd[0]:.3f}, {sd[1]:.3f}   gap: {z[0]:+.1f} and {z[1]:+.1f} standard errors")

# %% [markdown]
# Now training. From two starts, one near the mode at $+2$ and one wide and near the middle,
# each estimator drives its own generator; the contours are $\tfrac12\mathrm{KL}(p_\theta \,\|\, p_\text{data}) - \mathrm{JSD}(p_\theta \,\|\, p_\text{data})$ by
# quadrature, and the crosses the local minima your `lemma1_minimum` finds from the same starts. One run of
# each (yours can differ from the printout where its draws do).

# %%
train_steps = dgm.pick(full=1000, fast=100)
xs_q = torch.linspace(-10, 10, 4001, dtype=torch.float64)
dx_q = (xs_q[1] - xs_q[0]).item()
starts = {"near the mode at +2": (1.2, math.log(0.8)), "wide, near the middle": (0.3, math.log(2.0))}
mus, log_ss = torch.linspace(-3, 3, 61, dtype=torch.float64), torch.linspace(-1.5, 1.2, 28, dtype=torch.float64)
objective = torch.stack([
    torch.stack([unified.lemma1_objective(dgm.densities.normal_log_prob(xs_q, m, ls.exp()), log_pd_fn(xs_q), dx_q)
                 for m in mus]) for ls in log_ss])
fig, ax = plt.subplots(figsize=(9, 5))
filled = ax.contourf(mus, log_ss, objective.clamp(max=2.0), levels=20, cmap="Greys")
fig.colorbar(filled, ax=ax, label="$\\frac{1}{2}$KL $-$ JSD (nats, clipped at 2)")
print(f"{'start':24s} {'estimator':10s} {'mu, s averaged over the last 30%':>34s} {'L-BFGS minimum mu*, s*':>24s}")
for (where, th0), marker in zip(starts.items(), ["o", "s"]):
    for estimator, color in (("pathwise", "C0"), ("score", "C3")):
        torch.manual_seed(1)
        path, _, _, star = train_gaussian_generator(log_pd_fn, torch.tensor(th0, dtype=torch.float64), train_steps, 0.05, 64, estimator)
        ax.plot(path[:, 0], path[:, 1], color=color, lw=0.8, marker=marker, ms=2, markevery=50,
                label=f"{estimator}, start {where}")
        ax.plot(*star, "x", color="gold", ms=14, mew=3, zorder=5)  # your lemma1_minimum from this start
        mu_end, log_s_end = path[-int(0.3 * train_steps):].mean(0)
        print(f"{where:24s} {estimator:10s} {mu_end:17.3f}, {log_s_end.exp():.3f} {star[0]:17.3f}, {star[1].exp():.3f}")
ax.set(xlabel="$\\mu$", ylabel="$\\log s$",
       title="One run each: from near a mode the generator settles on it; from a wide start, wide between the modes")
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# Compare each estimator's mean with the quadrature gradient in units of its standard error:
# sampled or integrated, the generator's gradient is Lemma 1's. With the leave-one-out
# baseline, the score function's spread per sample at $\theta_0$ is close to the pathwise one's on
# this 1-D problem (the last column).
#
# From near the mode at $+2$ both runs settle at the local minimum of $\tfrac12\mathrm{KL} - \mathrm{JSD}$ that sits on
# the mode, where L-BFGS finds it: the generator fits one mode and drops the other. (This does
# not single out the KL: in section 4 the minimax GAN, whose generator at $D^*$ descends the
# symmetric JSD, dropped a mode as well.) From the wide start the objective has another local
# minimum, a wide Gaussian centred between the modes that covers both; both runs stay near
# it, wandering in $\mu$ where the objective is nearly flat. So $\tfrac12\mathrm{KL} - \mathrm{JSD}$ does not always pull
# a Gaussian onto a mode; which minimum the generator reaches depends on where it starts.
# One run per start and estimator; the build's record (20 hidden targets, each from near a
# mode) is the measurement.

# %% [markdown]
# ## Summary
#
# - $\mathrm{KL}(q \,\|\, p)$ needs $\log p$ and samples of $q$, and seeks a mode; $\mathrm{KL}(p \,\|\, q)$ needs only samples of $p$, and covers every mode, including the gaps between them. Exactly in 1-D and by sampling in 2-D, the fits did just that.
# - On the 25-grid the GAN concentrated its samples and the VAE spread them: the same split, with flexible models.
# - Hu et al.'s Lemma 1 reads the GAN generator's update as a KL with the model first, toward the posterior $q^r(x \mid y) \propto q^r(y \mid x)\, p_{\theta_0}(x)$ built on the *marginal*; we checked the identity by finite differences (and that it fails with the conditional). At $D^*$, $q^r(x \mid y{=}0) = p_\text{data}$ with both modes: mode seeking comes from $p_g$ sitting first in $\mathrm{KL}(p_g \,\|\, p_\text{data})$, not from a target without the missed mode. The VAE's is a KL with the model second; wake-sleep's sleep and wake phases are the two directions.
# - With two modes weighted 10:1, the GAN dropped the small one on every seed, and so did the minimax GAN (a symmetric divergence at $D^*$): the experiment shows GANs dropping the mode, not that the KL's direction causes it; EM's exact maximum likelihood recovered its 9%; the VAE kept it but at about a ninth of its weight, the price of optimising a bound.
# - Built by sampling (section 8), the generator's gradient came from its own samples, pathwise or by the score function with a leave-one-out baseline; both matched Lemma 1's quadrature gradient within a few standard errors, and gradient descent on either settled at a local minimum of $\tfrac12\mathrm{KL} - \mathrm{JSD}$: on the mode from near it, on a wide Gaussian between the modes from a wide start.
# - The reading suggests transfers: IWGAN weights generated samples by the discriminator's density ratio $e^{\ell}$; the AA-VAE learns from its own samples weighted by $D(x)$. On MNIST at our budget IWGAN's weights were close to uniform and it did no better than the GAN over 5 seeds; on the 25-grid, where the weights can vary across a batch, it touched more modes by the one-sample rule, not by a 20-sample rule, with fewer good samples (section 6's record, 10 seeds). The AA-VAE's gain in test ELBO over 5 seeds on 10% of the data was within one seed's spread, far from the paper's 1.44 nats (their networks and budget), and its generated digits carried a small weight $D(x)$ in the loss; the notebook's single run measured the gain printed in section 7.
#
# **Further reading.** Hu, Yang, Salakhutdinov & Xing (2018), *On Unifying Deep Generative
# Models*. Minka (2005), *Divergence measures and message passing* (the KL directions).
# Hinton, Dayan, Frey & Neal (1995), *The wake-sleep algorithm*. Burda, Grosse &
# Salakhutdinov (2016), *Importance Weighted Autoencoders*.

# %%
dgm.checks.summary();
