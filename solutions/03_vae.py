# ---
# jupyter:
#   dgm:
#     trains: VAEs on binarized MNIST (50-d and 2-d latents, a beta sweep), against
#       wake-sleep and RWS; exact linear-Gaussian checks
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: dgm
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
# # Lecture 03 · The variational autoencoder
#
# Lecture 01 fitted mixtures with EM: the E-step set $q(z)$ to the exact posterior, which was
# a softmax over $K$ values. Digits vary continuously (slant, width, thickness), so we now
# want a continuous latent $z \in \mathbb{R}^d$ and a neural network decoder
# $p_\theta(x \mid z)$. The posterior $p_\theta(z \mid x) \propto p(z)\,p_\theta(x \mid z)$ is then
# intractable, and the exact E-step is gone. What survives is the identity
#
# $$
# \log p_\theta(x) = \underbrace{\mathbb{E}_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big] - \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)}_{\mathrm{ELBO}(\theta, \phi;\, x)} + \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big).
# $$
#
# The VAE (Kingma & Welling 2014; Rezende et al. 2014) makes $q_\phi(z \mid x)$ a second
# network, the **encoder**, and climbs the ELBO in $\theta$ and $\phi$ together by stochastic
# gradients. One network call gives the approximate posterior of any $x$: inference is
# *amortised*.
#
# **Learning goals.** After this notebook you can
#
# 1. write the ELBO of a Gaussian-encoder, Bernoulli-decoder VAE, with its KL term in closed form;
# 2. explain the reparameterization trick, and measure why it beats the score-function estimator;
# 3. check $\log p(x) = \mathrm{ELBO} + \mathrm{KL}$ numerically on a model where every term is exact;
# 4. derive the IWAE bound and see it tighten as $K$ grows;
# 5. train a VAE on MNIST, estimate its test log-likelihood by importance sampling, and read its latent space;
# 6. recognise posterior collapse, and what $\beta$ does to it.
#
# **Exercises** (graded): `gaussian_kl`, `reparameterize`, `negative_elbo`, `iwae_bound`.

# %%
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

import dgm
from dgm import vae

gen = dgm.config.setup(0)
device = dgm.device()

# %% [markdown]
# ## 1. The model and its ELBO
#
# - prior $p(z) = \mathcal{N}(0, I_d)$;
# - decoder $p_\theta(x \mid z) = \prod_{d=1}^{784} \mathrm{Bernoulli}\big(x_d \mid \sigma(\ell_d(z))\big)$, where the network outputs logits $\ell(z)$;
# - encoder $q_\phi(z \mid x) = \mathcal{N}\big(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x)\big)$; the network outputs $\mu$ and $\log \sigma^2$ (a log, so any real output is a valid variance).
#
# The KL between two Gaussians has a closed form. For one latent dimension,
# $\mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, 1)\big) = \mathbb{E}_q\big[\log q - \log p\big]
# = -\tfrac12 \log \sigma^2 - \tfrac12 + \tfrac12(\sigma^2 + \mu^2)$, and the dimensions add up:
#
# $$
# \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big) = \frac12 \sum_{j=1}^{d} \big(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\big).
# $$
#
# ### Exercise 1: the KL term (2 points)
#
# Write `gaussian_kl(mu, log_var)`, one value per example: shape `(B,)` for inputs `(B, d)`.

# %% nbgrader={"grade": false, "grade_id": "gaussian_kl", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gaussian_kl(mu, log_var):
    """KL(N(mu, diag exp(log_var)) || N(0, I)) per example, shape (B,)."""
    ### BEGIN SOLUTION
    return 0.5 * (mu**2 + log_var.exp() - log_var - 1).sum(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_gaussian_kl", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
gaussian_kl = dgm.checks.gaussian_kl(gaussian_kl)

# %% [markdown]
# A closed form beats sampling wherever we have one. Here is the same KL estimated by
# Monte Carlo, $\frac1S \sum_s [\log q(z_s) - \log p(z_s)]$, next to the exact value: the
# estimate wanders around it, and needs thousands of samples to get within a few percent.

# %%
mu0, log_var0 = torch.tensor([[1.0, -0.5]]), torch.tensor([[-1.0, 0.5]])
print(f"closed form: {gaussian_kl(mu0, log_var0).item():.4f} nats")
for S in (10, 100, 1000, 100_000):
    z = mu0 + (0.5 * log_var0).exp() * torch.randn(S, *mu0.shape, generator=gen)  # S samples of q
    mc = (dgm.densities.gaussian_log_prob(z, mu0, log_var0) - dgm.densities.standard_normal_log_prob(z)).mean().item()
    print(f"Monte Carlo, S = {S:>6d}: {mc:.4f}")

# %% [markdown]
# ## 2. The reparameterization trick
#
# The reconstruction term $\mathbb{E}_{q_\phi(z \mid x)}[\log p_\theta(x \mid z)]$ has no closed form,
# and its gradient in $\phi$ is awkward: $\phi$ sits in the distribution we average over.
# Two unbiased estimators exist.
#
# - **Score function** (REINFORCE, the "log-derivative trick"):
#   $\nabla_\phi \mathbb{E}_q[f(z)] = \mathbb{E}_q\big[f(z)\, \nabla_\phi \log q_\phi(z)\big]$. It needs no gradient of $f$, but multiplies a noisy value by a noisy score.
# - **Reparameterization**: write the sample as a deterministic function of parameter-free noise,
#   $z = \mu + \sigma \odot \epsilon$ with $\epsilon \sim \mathcal{N}(0, I)$. Then
#   $\nabla_\phi \mathbb{E}_q[f(z)] = \mathbb{E}_\epsilon\big[\nabla_\phi f(\mu_\phi + \sigma_\phi \odot \epsilon)\big]$: an average of ordinary gradients that use the slope of $f$.
#
# ### Exercise 2: reparameterized sampling (2 points)
#
# Write `reparameterize(mu, log_var)` returning one sample per row, through which gradients
# reach `mu` and `log_var`. (`torch.normal(mu, sigma)` samples the right distribution but
# passes no gradient.)

# %% nbgrader={"grade": false, "grade_id": "reparameterize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reparameterize(mu, log_var):
    """z = mu + sigma * eps with eps ~ N(0, I) and sigma = exp(log_var / 2)."""
    ### BEGIN SOLUTION
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_reparameterize", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
reparameterize = dgm.checks.reparameterize(reparameterize)

# %% [markdown]
# How much better is it? We need a model where the true gradient is known. In a
# **linear-Gaussian** model, $p(z) = \mathcal{N}(0, I)$ and $p(x \mid z) = \mathcal{N}(Wz + b, s^2 I)$,
# everything is a Gaussian integral: $\log p(x)$, the posterior, and the ELBO of any Gaussian
# $q$ (`dgm.vae.LinearGaussian`). We estimate $\nabla_\mu \mathrm{ELBO}$ for one $x$ with each
# estimator, many times over, and measure the spread around the exact gradient.

# %%
lg = vae.LinearGaussian(torch.randn(8, 3, generator=gen, dtype=torch.float64),
                        torch.randn(8, generator=gen, dtype=torch.float64), sigma=0.5)
x0 = lg.b + lg.W @ torch.randn(3, generator=gen, dtype=torch.float64)  # one data point (8,)
mu_q = torch.zeros(3, dtype=torch.float64, requires_grad=True)
log_var_q = torch.full((3,), -1.0, dtype=torch.float64)
(exact_grad,) = torch.autograd.grad(lg.elbo(x0[None], mu_q[None], log_var_q[None]).sum(), mu_q)


def log_joint(z):
    return lg.log_joint(x0, z)


repeats = dgm.pick(full=400, fast=60)
sample_counts = [1, 4, 16, 64, 256]
spread = {"reparam": [], "score": []}
for S in sample_counts:
    for name in spread:
        g = torch.stack([vae.elbo_gradient_estimates(log_joint, mu_q, log_var_q, S, name, generator=gen)
                         for _ in range(repeats)])  # (repeats, 3)
        spread[name].append(((g - exact_grad) ** 2).sum(1).mean().item())  # mean squared error

fig, ax = plt.subplots(figsize=(6, 4))
for name, label in (("score", "score function (REINFORCE)"), ("reparam", "reparameterization")):
    ax.loglog(sample_counts, spread[name], "o-", label=label)
ax.set(title="Same gradient, very different noise", xlabel="samples per estimate S",
       ylabel=r"mean squared error of $\nabla_\mu$ ELBO")
ax.legend()
plt.show()
print(f"exact gradient {exact_grad.numpy().round(3)}; at S = 1 the score-function estimator's error is "
      f"{spread['score'][0] / spread['reparam'][0]:.0f} times the reparameterization estimator's")

# %% [markdown]
# Both lines fall as $1/S$ (both are unbiased averages), but the score-function line sits
# about an order of magnitude higher on this small model (the ratio is printed above), so it
# needs about ten times the samples for the same accuracy. The score-function estimator
# ignores the slope of $f$ and sees only its noisy values, which is why the gap grows with
# the size of $f$'s swings. Wake-sleep (lecture 02) met the same problem and side-stepped it;
# the VAE solves it.
#
# ## 3. The loss, and the identity checked exactly
#
# With one reparameterized sample $z \sim q_\phi(z \mid x)$ per example, the training loss is the
# negative ELBO; $\beta = 1$ is the VAE, other values give the $\beta$-VAE (section 6):
#
# $$
# \mathcal{L}(x) = -\log p_\theta(x \mid z) + \beta\, \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big), \qquad
# -\log p_\theta(x \mid z) = -\sum_d \big[x_d \log \sigma(\ell_d) + (1 - x_d) \log \sigma(-\ell_d)\big].
# $$
#
# ### Exercise 3: the negative ELBO (2 points)
#
# Write `negative_elbo(x, logits, mu, log_var, beta)`, one value per example. `x` is
# `(B, 784)`. Compute the Bernoulli term from logits with
# `torch.nn.functional.binary_cross_entropy_with_logits(..., reduction="none")`: taking
# `log(sigmoid(l))` of a confident logit gives `log(0)`.

# %% nbgrader={"grade": false, "grade_id": "negative_elbo", "locked": false, "schema_version": 3, "solution": true, "task": false}
def negative_elbo(x, logits, mu, log_var, beta=1.0):
    """-log p(x | z) + beta * KL(q(z | x) || p(z)) per example, shape (B,)."""
    ### BEGIN SOLUTION
    reconstruction = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    return reconstruction + beta * gaussian_kl(mu, log_var)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_negative_elbo", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
negative_elbo = dgm.checks.negative_elbo(negative_elbo)

# %% [markdown]
# On the linear-Gaussian model we can evaluate each term of the identity on its own, for a
# $q$ we pick freely (here a random diagonal Gaussian per point), and compare.

# %%
xs = lg.b + torch.randn(6, 3, generator=gen, dtype=torch.float64) @ lg.W.T
mu_r = torch.randn(6, 3, generator=gen, dtype=torch.float64)
log_var_r = torch.randn(6, 3, generator=gen, dtype=torch.float64)
log_px, bound, gap = lg.log_px(xs), lg.elbo(xs, mu_r, log_var_r), lg.posterior_kl(xs, mu_r, log_var_r)
print("   log p(x)       ELBO   KL(q||p(z|x))   ELBO + KL")
for a, b_, c in zip(log_px, bound, gap):
    print(f"{a:11.5f} {b_:10.5f} {c:15.5f} {b_ + c:11.5f}")
print(f"largest |log p(x) - (ELBO + KL)|: {(log_px - bound - gap).abs().max():.1e}")

post_mu, post_cov = lg.posterior(xs)
best_diag = lg.posterior_kl(xs, post_mu, torch.log(1 / torch.diagonal(torch.linalg.inv(post_cov))).expand(6, -1))
print(f"\nthe best *diagonal* q still leaves KL = {best_diag.mean():.3f} nats: the true posterior is "
      "correlated, and a diagonal Gaussian cannot say so")

# %% [markdown]
# ## 4. A tighter bound: importance weighting (IWAE)
#
# The ELBO is $\mathbb{E}_q[\log w]$ with the importance weight $w = p(x, z) / q(z \mid x)$. Since
# $\mathbb{E}_q[w] = p(x)$ exactly, averaging $K$ weights *before* the log gives a family of bounds
# (Burda et al. 2016):
#
# $$
# \mathcal{L}_K = \mathbb{E}_{z_1..z_K \sim q}\Big[\log \frac{1}{K} \sum_{k=1}^{K} w_k\Big], \qquad
# \mathrm{ELBO} = \mathcal{L}_1 \le \mathcal{L}_K \le \mathcal{L}_{K+1} \le \log p(x),
# $$
#
# with $\mathcal{L}_K \to \log p(x)$ as $K \to \infty$. The same estimator with large $K$ is how we
# *measure* a VAE's log-likelihood (section 5).
#
# ### Exercise 4: the IWAE bound (2 points)
#
# Write `iwae_bound(log_w)` for log-weights of shape `(K, B)`, returning `(B,)`. The
# weights themselves are often $e^{-100}$ or smaller: stay in log space (`torch.logsumexp`).

# %% nbgrader={"grade": false, "grade_id": "iwae_bound", "locked": false, "schema_version": 3, "solution": true, "task": false}
def iwae_bound(log_w):
    """log (1/K) sum_k exp(log_w[k]) per example, shape (B,)."""
    ### BEGIN SOLUTION
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "check_iwae_bound", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
iwae_bound = dgm.checks.iwae_bound(iwae_bound)

# %%
q_mu, q_log_var = torch.zeros(6, 3, dtype=torch.float64), torch.zeros(6, 3, dtype=torch.float64)  # q = prior
Ks = [1, 2, 5, 10, 50, 200, 1000]
bounds = []
for K in Ks:
    reps = max(20_000 // K, dgm.pick(full=200, fast=20))  # independent estimates of L_K to average
    z = vae.reparameterize(q_mu, q_log_var, n_samples=K * reps, generator=gen).reshape(reps, K, 6, 3)
    log_w = lg.log_joint(xs, z) - dgm.densities.gaussian_log_prob(z, q_mu, q_log_var)  # (reps, K, 6)
    bounds.append(torch.stack([iwae_bound(lw) for lw in log_w]).mean().item())

fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogx(Ks, bounds, "o-", label=r"$\mathcal{L}_K$ (q = the prior, a poor proposal)")
ax.axhline(log_px.mean().item(), color="k", ls="--", label=r"exact $\log p(x)$")
ax.axhline(lg.elbo(xs, q_mu, q_log_var).mean().item(), color="tab:red", ls=":", label="exact ELBO")
ax.set(title="The IWAE bound climbs towards log p(x) as K grows", xlabel="K (log scale)",
       ylabel="nats (mean over 6 points)")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. A VAE on MNIST
#
# The network is the one-stochastic-layer model of the IWAE paper: two hidden layers of 200
# tanh units on each side, 50 latent dimensions, Bernoulli pixels. The training data are
# re-binarized every epoch (a fresh Bernoulli draw of each grey level). Here is the loss
# the library trains: the library's versions of the functions you just wrote.

# %%
print(inspect.getsource(vae.VAE.loss))

# %%
x_train, y_train = dgm.data.load_mnist("train")
x_test, y_test = dgm.data.binarized_mnist("test", seed=0)
batch_size = 100
steps = dgm.pick(full=30 * (len(x_train) // batch_size), fast=150)  # 30 epochs in full mode
torch.manual_seed(0)
model = vae.VAE(vae.VAEConfig(z_dim=50)).to(device)
model.set_output_bias(x_train.mean(0))  # start the decoder at the mean digit


def evaluate(i):
    with torch.no_grad():
        return {"-ELBO (test)": model.loss(x_test[:1000]).mean().item()}


# dgm.vae.fit: the course benchmark's recipe (Adam, the lr decayed along a cosine, a fresh
# binarization every epoch) in dgm.train's loop (progress bar, checkpoint and resume). Each
# step is `model.loss(batch).mean().backward()` and an Adam step; on a GPU the whole step is
# captured once as a CUDA graph and replayed.
history = vae.fit(model, x_train, steps, batch_size=batch_size, evaluate=evaluate,
                  eval_every=max(steps // 10, 1),
                  checkpoint=dgm.config.checkpoint_dir() / f"03_vae_{dgm.config.mode()}.pt")
dgm.plot.curves({"-ELBO (train batch)": history["loss"], "-ELBO (test)": history["-ELBO (test)"]},
                title="The negative ELBO falls on train and test digits", xlabel="step",
                ylabel="nats per digit")
plt.show()

# %% [markdown]
# The ELBO is a bound; the number papers report is the test **negative log-likelihood**,
# estimated with the IWAE estimator and many samples ($K = 5000$ in Burda et al.). We use
# fewer test digits and samples here to keep the notebook quick; `benchmarks/` runs the
# full protocol (all 10,000 test digits, $K = 5000$; the README's table says on which device
# each figure was measured: so far a 2-core CPU).

# %%
n_eval, K_eval = dgm.pick(full=1000, fast=100), dgm.pick(full=1000, fast=20)
model.eval()
nll = -dgm.metrics.importance_log_likelihood(model.log_weights, x_test[:n_eval], k=K_eval, chunk=250)
with torch.no_grad():
    nelbo = -model.log_weights(x_test[:n_eval], 10).mean(0)  # -ELBO, averaged over 10 samples of q
print(f"on {n_eval} test digits: -ELBO {nelbo.mean():.2f} nats; "
      f"NLL estimated with K = {K_eval}: {nll.mean():.2f} nats (lower: the bound is tighter)")
print("for reference, Burda et al. (2016) report 86.76 nats for this network after 3,280 epochs")

# %% [markdown]
# What has it learned? Reconstructions (the decoder's pixel probabilities at the posterior
# mean of each test digit) and fresh samples $z \sim \mathcal{N}(0, I)$:

# %%
with torch.no_grad():
    recon = torch.sigmoid(model.decode(model.encode(x_test[:10])[0]))
samples = model.sample(20, generator=None)
fig, axes = plt.subplots(1, 2, figsize=(13, 3.5), gridspec_kw={"width_ratios": [1, 1]})
dgm.plot.image_grid(torch.cat([x_test[:10].flatten(1), recon]), nrow=10, ax=axes[0],
                    title="Test digits (top) and their reconstructions (bottom)")
dgm.plot.image_grid(samples, nrow=10, ax=axes[1], title="Samples: decoder(z), z ~ N(0, I)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Posterior collapse, and what $\beta$ does
#
# The KL term pulls every $q_\phi(z \mid x)$ towards the prior. A latent dimension that the
# decoder does not use costs nothing if its posterior *equals* the prior: KL 0, and the
# encoder's mean for that dimension no longer depends on $x$. Burda et al. call a dimension
# **active** when $\mathrm{Cov}_x\big(\mathbb{E}_{q(z \mid x)}[z_j]\big) > 10^{-2}$. Weighting the KL by
# $\beta > 1$ pushes more dimensions into collapse (a simpler, more "disentangled" code, worse
# reconstructions); $\beta < 1$ keeps more of them alive.

# %%
betas = dgm.pick(full=[0.5, 1.0, 2.0, 4.0], fast=[1.0, 4.0])
beta_steps = dgm.pick(full=5 * (len(x_train) // batch_size), fast=100)
kl_per_dim, active = {}, {}
for beta in betas:
    torch.manual_seed(0)
    m = vae.VAE(vae.VAEConfig(z_dim=50)).to(device)
    m.set_output_bias(x_train.mean(0))
    vae.fit(m, x_train, beta_steps, beta=beta, desc=f"beta = {beta}", log_every=100)
    with torch.no_grad():
        mu, log_var = m.encode(x_test[:2000])
    kl_per_dim[beta] = (0.5 * (mu**2 + log_var.exp() - log_var - 1)).mean(0).sort(descending=True).values.cpu()
    active[beta] = int((mu.var(0) > 1e-2).sum())

fig, ax = plt.subplots(figsize=(7, 4))
for beta in betas:
    ax.plot(kl_per_dim[beta].numpy(), "o-", ms=3, label=f"beta = {beta}: {active[beta]} active units")
ax.set(title="Larger beta switches latent dimensions off", xlabel="latent dimension (sorted by KL)",
       ylabel="KL per dimension (nats, test mean)")
ax.legend()
plt.show()

# %% [markdown]
# ## 7. Looking at the latent space
#
# With $d = 2$ latent dimensions we can look at the code directly. The scatter shows the
# posterior means of test digits coloured by class (the VAE never saw the labels); the
# slider view decodes any point you pick. Without a widget front end it shows the decoded
# grid instead, the classic "manifold" picture.

# %%
torch.manual_seed(0)
vae2 = vae.VAE(vae.VAEConfig(z_dim=2)).to(device)
vae2.set_output_bias(x_train.mean(0))
vae.fit(vae2, x_train, dgm.pick(full=10 * (len(x_train) // batch_size), fast=150), desc="2-d VAE",
        log_every=100)
with torch.no_grad():
    codes = vae2.encode(x_test[:5000])[0]
dgm.plot.latent_scatter(codes, y_test[:5000], title="Test digits in a 2-d latent space, by class")
plt.show()


def decode2(z):
    return torch.sigmoid(vae2.decode(z.float()))


dgm.widgets.latent_explorer(decode2, lim=2.5, device=device)

# %% [markdown]
# In the 50-d model, walking in a straight line between the codes of two test digits
# decodes into a gradual morph, not a cross-fade of pixels: the decoder has organised the
# space.

# %%
with torch.no_grad():
    z_a, z_b = model.encode(x_test[[3, 2]])[0]  # a "0" and a "1" of the test set
    t = torch.linspace(0, 1, 10, device=device)[:, None]
    path = torch.sigmoid(model.decode((1 - t) * z_a + t * z_b))
dgm.plot.image_grid(path, nrow=10, title="Decoding points on the line between two codes")
plt.show()

# %% [markdown]
# ## 8. Wake-sleep, reweighted wake-sleep and the VAE, side by side
#
# Lecture 02 trained Helmholtz machines (binary latents, 784-200-200) by wake-sleep and by
# reweighted wake-sleep. Here the three methods get the same data, the same number of
# steps and batch size, and the same evaluation: the test NLL estimated by importance sampling
# with each model's own recognition network as proposal. (The models differ as well as the
# methods: binary latents for the Helmholtz machines, 50 Gaussian latents for the VAE.)

# %%
from dgm import wake_sleep as ws

budget = dgm.pick(full=10 * (len(x_train) // batch_size), fast=100)
contenders = {}
torch.manual_seed(0)
contenders["VAE (50 Gaussian latents)"] = vae.VAE(vae.VAEConfig(z_dim=50)).to(device)
contenders["VAE (50 Gaussian latents)"].set_output_bias(x_train.mean(0))
vae.fit(contenders["VAE (50 Gaussian latents)"], x_train, budget, desc="VAE", log_every=100)
for method, name in (("ws", "wake-sleep (200-200 binary)"), ("rws", "reweighted wake-sleep, K=5")):
    torch.manual_seed(0)
    contenders[name] = ws.HelmholtzMachine(ws.HelmholtzConfig((784, 200, 200))).to(device)
    ws.fit(contenders[name], x_train, budget, method=method, k=5, log_every=100)

print(f"{'method':32s} test NLL (nats; K = {K_eval}, {n_eval} test digits; {budget} steps of 100 digits each)")
for name, m in contenders.items():
    torch.manual_seed(0)
    x_eval = x_test[:n_eval] if isinstance(m, vae.VAE) else x_test[:n_eval].flatten(1)
    value = -dgm.metrics.importance_log_likelihood(m.log_weights, x_eval, k=K_eval, chunk=250).mean().item()
    print(f"{name:32s} {value:8.2f}")

# %% [markdown]
# ## Summary
#
# - The VAE keeps lecture 01's identity, $\log p(x) = \mathrm{ELBO} + \mathrm{KL}(q \,\|\, p(z \mid x))$, and replaces the exact E-step by an encoder $q_\phi(z \mid x)$ trained jointly with the decoder.
# - The KL to the prior is exact; the reconstruction term is estimated with reparameterized samples, whose gradients were about an order of magnitude less noisy than the score-function estimator's on this model (the measured ratio is printed in that section).
# - On a linear-Gaussian model, ELBO + KL matched $\log p(x)$ to float64 precision, and a diagonal $q$ could not close the gap.
# - IWAE's $\mathcal{L}_K$ rises from the ELBO to $\log p(x)$ as $K$ grows; with large $K$ it is how a VAE's test NLL is measured.
# - $\beta$ trades reconstruction for a simpler code; dimensions whose posterior equals the prior are "collapsed".
#
# Lecture 02's wake-sleep and reweighted wake-sleep train $q$ with the other KL direction;
# section 8 measured all three on the same data and budget, and `benchmarks/` runs the
# papers' full protocols (the README's table gives each figure's device).
#
# **Further reading.** Kingma & Welling (2014), *Auto-Encoding Variational Bayes*. Rezende,
# Mohamed & Wierstra (2014), *Stochastic Backpropagation and Approximate Inference in Deep
# Generative Models*. Burda, Grosse & Salakhutdinov (2016), *Importance Weighted
# Autoencoders*. Higgins et al. (2017), *beta-VAE*. Kingma & Welling (2019), *An
# Introduction to Variational Autoencoders*.

# %%
dgm.checks.summary();
