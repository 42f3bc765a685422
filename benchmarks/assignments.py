"""The build assignments' calibration: each lecture's reference build, and the plausible
wrong builds of it, judged by the build's check on hidden variants.

A build assignment (issue 34) is graded by properties and an outcome, each against
thresholds. This command backs every threshold: the reference build (the solution
notebook's answer) must pass both parts on every hidden variant, and every wrong build
below (a one-line change of the reference, the mistake it names) must fail on every one.
It records, per build and part, how many variants passed, the largest and smallest of each
statistic the check measured (the thresholds' margins), the thresholds themselves and the
longest check; ``tests/test_assignments.py`` fails when a threshold in the checks is not the
recorded one, or the record does not show the reference passing and every wrong build
failing::

    python -m benchmarks.assignments                 # every build, 20 hidden variants
    python -m benchmarks.assignments --variants 3    # a smoke test
    python -m benchmarks.assignments --lectures 04_gan --builds "the reference"
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import torch

from benchmarks import records
from dgm import checks
from dgm.checks import harness
from dgm.course import grade

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Assignment:
    """One lecture's build: its answer's ``grade_id``, its check's module, and the wrong
    builds, ``{name: ((old, new), ..., part)}``: the text replacements that make the mistake
    in the reference answer, and the part of the check it should fail (``properties`` or
    ``outcome``; a build that fails either part is not passed); and ``right``, other correct
    answers ``{name: source}`` (written another way than the reference: another order of the
    random draws, other idioms), which must pass both parts on every variant too."""

    lecture: str
    grade_id: str
    module: object
    wrong: dict[str, tuple] = field(default_factory=dict)
    right: dict[str, str] = field(default_factory=dict)

    @property
    def check(self):
        return getattr(self.module, self.grade_id)

    def thresholds(self) -> dict[str, float]:
        """The check's thresholds: its module's upper-case float constants."""
        return {k: v for k, v in vars(self.module).items() if k.isupper() and isinstance(v, float)}


ASSIGNMENTS = {
    "01_em": Assignment(
        "01_em",
        "bernoulli_em",
        checks.em,
        {
            "history without the prior": (
                (
                    "log_prior = alpha * (probs.log() + torch.log1p(-probs)).sum()",
                    "log_prior = 0.0",
                ),
                "properties",
            ),
            "the log of summed probabilities, not logsumexp": (
                (
                    "torch.logsumexp(log_joint(weights, probs), 1)",
                    "log_joint(weights, probs).exp().sum(1).log()",
                ),
                "outcome",
            ),
            "no pseudo-counts in the M-step": (
                (
                    "probs = (r.T @ X_on + alpha) / (r.T @ M + 2 * alpha)",
                    "probs = (r.T @ X_on) / (r.T @ M)",
                ),
                "properties",
            ),
            "the gain measured from the start": (
                ("history[-1] - history[-2] < tol", "history[-1] - history[0] < tol"),
                "properties",
            ),
            "the stopping rule inverted": (
                ("history[-1] - history[-2] < tol", "history[-1] - history[-2] > tol"),
                "properties",
            ),
            "the weights never updated": (
                ("weights = r.mean(0)", "weights = weights"),
                "properties",
            ),
            "seeds drawn uniformly": (
                ("i = torch.multinomial(d2, 1).item()", "i = torch.randint(N, (1,)).item()"),
                "properties",
            ),
            "seeds drawn by the distance, not its square": (
                (
                    "i = torch.multinomial(d2, 1).item()",
                    "i = torch.multinomial(d2.sqrt(), 1).item()",
                ),
                "properties",
            ),
            "the distance to the first seed only": (
                (
                    "            d2 = torch.minimum(d2, ((X_filled - X_filled[i]) ** 2).sum(1))\n",
                    "",
                ),
                "properties",
            ),
            "seeds by the squared distance to the first seed only, chosen ones excluded": (
                (
                    "            d2 = torch.minimum(d2, ((X_filled - X_filled[i]) ** 2).sum(1))\n",
                    "            d2[i] = 0\n",
                ),
                "properties",
            ),
            "seeds by the sum of the squared distances to the seeds": (
                (
                    "d2 = torch.minimum(d2, ((X_filled - X_filled[i]) ** 2).sum(1))",
                    "d2 = d2 + ((X_filled - X_filled[i]) ** 2).sum(1)",
                ),
                "properties",
            ),
            "the prototypes started at the seeds themselves": (
                (
                    "probs = (0.5 * seeds + 0.5 * mean).clamp(0.05, 0.95)",
                    "probs = seeds.clamp(0.05, 0.95)",
                ),
                "properties",
            ),
            "the E-step's pixel terms swapped": (
                (
                    "X_on @ probs.log().T + X_off @ torch.log1p(-probs).T",
                    "X_off @ probs.log().T + X_on @ torch.log1p(-probs).T",
                ),
                "properties",
            ),
            "missing pixels read as seen in the log joint": (
                (
                    "X_on @ probs.log().T + X_off @ torch.log1p(-probs).T",
                    "X @ probs.log().T + (1 - X) @ torch.log1p(-probs).T",
                ),
                "properties",
            ),
            "missing pixels counted as off in the M-step (divided by N_k)": (
                (
                    "probs = (r.T @ X_on + alpha) / (r.T @ M + 2 * alpha)",
                    "probs = (r.T @ X_on + alpha) / (r.sum(0)[:, None] + 2 * alpha)",
                ),
                "properties",
            ),
            "missing pixels read as seen in the M-step": (
                (
                    "probs = (r.T @ X_on + alpha) / (r.T @ M + 2 * alpha)",
                    "probs = (r.T @ X + alpha) / (r.sum(0)[:, None] + 2 * alpha)",
                ),
                "properties",
            ),
            "the start from the images as stored": (
                ("X_filled = torch.where(M > 0, X, mean)", "X_filled = X"),
                "properties",
            ),
            "the start's mean image over the images as stored": (
                ("mean = X_on.sum(0) / M.sum(0).clamp(min=1)", "mean = X.mean(0)"),
                "properties",
            ),
            "a pixel no image shows divides by zero": (
                ("mean = X_on.sum(0) / M.sum(0).clamp(min=1)", "mean = X_on.sum(0) / M.sum(0)"),
                "properties",
            ),
            "the completion from the weights, not the posterior": (
                ("torch.where(M > 0, X, r @ probs)", "torch.where(M > 0, X, weights @ probs)"),
                "properties",
            ),
            "the completion by the most likely component": (
                ("torch.where(M > 0, X, r @ probs)", "torch.where(M > 0, X, probs[r.argmax(1)])"),
                "properties",
            ),
            "the pixels seen overwritten by the completion": (
                ("torch.where(M > 0, X, r @ probs)", "r @ probs"),
                "properties",
            ),
            "missing pixels latent too (filled by the current probs: slow EM)": (
                (
                    "probs = (r.T @ X_on + alpha) / (r.T @ M + 2 * alpha)",
                    "probs = (r.T @ X_on + probs * (r.T @ (1 - M)) + alpha) / (r.sum(0)[:, None]"
                    " + 2 * alpha)",
                ),
                "properties",
            ),
            "pixels no image shows left at their start": (
                (
                    "probs = (r.T @ X_on + alpha) / (r.T @ M + 2 * alpha)",
                    "probs = torch.where(r.T @ M > 0, (r.T @ X_on + alpha) / (r.T @ M + 2 * alpha)"
                    ", probs)",
                ),
                "properties",
            ),
            "the completion from the loop's last responsibilities": (
                (
                    "weights, probs, history = best\n    r = ",
                    "weights, probs, history = best\n    _ = ",
                ),
                "properties",
            ),
        },
        right={
            # the seeds drawn by numpy (the grader seeds numpy and random as well as torch),
            # masked_fill, while loops, no keywords
            "numpy's seeds, masked_fill, while loops": (
                "def bernoulli_em(X, K, alpha=1.0, tol=1e-4, max_iter=100, n_starts=3,\n"
                "                 observed=None):\n"
                "    N, D = X.shape\n"
                "    if observed is None:\n"
                "        seen = torch.ones(N, D, dtype=torch.bool, device=X.device)\n"
                "    else:\n"
                "        seen = observed.bool()\n"
                "    x = X.masked_fill(~seen, 0)  # the pixels seen on, 0 elsewhere\n"
                "    m = seen.to(X.dtype)\n"
                "\n"
                "    def joint(w, p):  # (N, K)\n"
                "        return torch.log(w) + x @ torch.log(p).T + (m - x) @ torch.log(1 - p).T\n"
                "\n"
                "    def J(w, p):\n"
                "        prior = alpha * torch.sum(torch.log(p) + torch.log(1 - p))\n"
                "        return float((joint(w, p).logsumexp(dim=1).sum() + prior) / N)\n"
                "\n"
                "    avg = x.sum(0) / torch.clamp(m.sum(0), min=1)\n"
                "    filled = torch.where(seen, X, avg.expand(N, D))\n"
                "    pts = filled.double().cpu().numpy()\n"
                '    best_J, best = -float("inf"), None\n'
                "    for _ in range(n_starts):\n"
                "        idx = [int(np.random.randint(N))]\n"
                "        d2 = ((pts - pts[idx[0]]) ** 2).sum(1)\n"
                "        while len(idx) < K:\n"
                "            idx.append(int(np.random.choice(N, p=d2 / d2.sum())))\n"
                "            d2 = np.minimum(d2, ((pts - pts[idx[-1]]) ** 2).sum(1))\n"
                "        p = ((filled[idx] + avg) / 2).clamp(0.05, 0.95)\n"
                "        w = torch.ones(K, dtype=X.dtype, device=X.device) / K\n"
                "        hist = [J(w, p)]\n"
                "        it = 0\n"
                "        while it < max_iter:\n"
                "            r = joint(w, p).softmax(1)\n"
                "            p = (r.T @ x + alpha) / (r.T @ m + 2 * alpha)\n"
                "            w = r.sum(0) / N\n"
                "            hist.append(J(w, p))\n"
                "            it += 1\n"
                "            if hist[-1] - hist[-2] < tol:\n"
                "                break\n"
                "        if hist[-1] > best_J:\n"
                "            best_J, best = hist[-1], (w, p, hist)\n"
                "    w, p, hist = best\n"
                "    post = joint(w, p).softmax(1)\n"
                "    return w, p, hist, torch.where(seen, X, post @ p)\n"
            ),
        },
    ),
    "02_wake_sleep": Assignment(
        "02_wake_sleep",
        "helmholtz_from_scratch",
        checks.wake_sleep,
        {
            "the wake phase with h from the prior, not q(h | x)": (
                (
                    "h = model.sample_q(xb, k_wake)",
                    "h = model.dream(k_wake * len(xb))[1].reshape(k_wake, len(xb), -1)",
                ),
                "properties",
            ),
            "the sleep phase on data, not dreams": (
                (
                    "sleep = -model.log_q(x_dream, h_dream).mean()",
                    "sleep = -model.log_q(xb, model.sample_q(xb)).mean()",
                ),
                "properties",
            ),
            "the optimisers swapped": (
                ("        opt_theta.step()\n", "        opt_phi.step()\n"),
                (
                    "        opt_phi.step()\n        losses",
                    "        opt_theta.step()\n        losses",
                ),
                "properties",
            ),
            "the sleep step never taken": (
                ("        opt_phi.step()\n", "\n"),
                "properties",
            ),
            "the losses maximised": (
                ("wake.backward()", "(-wake).backward()"),
                ("sleep.backward()", "(-sleep).backward()"),
                "properties",
            ),
            "neither phase zeroes its gradients": (
                ("        opt_theta.zero_grad()\n", ""),
                ("        opt_phi.zero_grad()\n", ""),
                "properties",
            ),
            "new optimisers made every step": (
                (
                    "    opt_theta = torch.optim.Adam([model.prior_logits, "
                    "*model.generative.parameters()], lr=lr)\n"
                    "    opt_phi = torch.optim.Adam(model.recognition.parameters(), lr=lr)\n",
                    "",
                ),
                (
                    "        h = model.sample_q(",
                    "        opt_theta = torch.optim.Adam([model.prior_logits, "
                    "*model.generative.parameters()], lr=lr)\n"
                    "        opt_phi = torch.optim.Adam(model.recognition.parameters(), lr=lr)\n"
                    "        h = model.sample_q(",
                ),
                "properties",
            ),
            "the prior's logits never learned": (
                (
                    "Adam([model.prior_logits, *model.generative.parameters()], lr=lr)",
                    "Adam(model.generative.parameters(), lr=lr)",
                ),
                "properties",
            ),
            "log p(x, h) without the prior's term": (
                ("return log_ph + dgm.densities", "return dgm.densities"),
                "properties",
            ),
            "h the mode of q, not a sample": (
                (
                    "return torch.bernoulli(probs if k is None else probs.expand(k, *probs.shape))",
                    "return (probs if k is None else probs.expand(k, *probs.shape)).round()",
                ),
                "properties",
            ),
            "the log-weights with q's density added": (
                (
                    "return self.log_p(x, h) - self.log_q(x, h)",
                    "return self.log_p(x, h) + self.log_q(x, h)",
                ),
                "properties",
            ),
            "the same rows every step": (
                (
                    "xb = x[torch.randint(len(x), (batch_size,), device=x.device)]",
                    "xb = x[:batch_size]",
                ),
                "outcome",
            ),
            "the wake phase's draws weighted alike": (
                (
                    "w = torch.softmax((log_p - log_q).detach(), dim=0)",
                    "w = torch.full_like(log_p, 1 / k_wake)",
                ),
                "properties",
            ),
            "the weights from log p alone, without log q": (
                (
                    "w = torch.softmax((log_p - log_q).detach(), dim=0)",
                    "w = torch.softmax(log_p.detach(), dim=0)",
                ),
                "properties",
            ),
            "the weights not normalised": (
                (
                    "w = torch.softmax((log_p - log_q).detach(), dim=0)",
                    "w = (log_p - log_q).detach().exp()",
                ),
                "properties",
            ),
            "the weights normalised over the batch, not the draws": (
                (
                    "w = torch.softmax((log_p - log_q).detach(), dim=0)",
                    "w = torch.softmax((log_p - log_q).detach(), dim=1)",
                ),
                "properties",
            ),
            "the weights not held constant": (
                (
                    "w = torch.softmax((log_p - log_q).detach(), dim=0)",
                    "w = torch.softmax(log_p - log_q, dim=0)",
                ),
                "properties",
            ),
            "one draw of q in the wake phase whatever k_wake": (
                ("h = model.sample_q(xb, k_wake)", "h = model.sample_q(xb, 1)"),
                "properties",
            ),
            "phi's wake loss without the weights": (
                ("wake_q = -(w * log_q).sum(0).mean()", "wake_q = -log_q.mean()"),
                "properties",
            ),
            "k_wake ignored when q_update is 'sleep'": (
                (
                    "h = model.sample_q(xb, k_wake)",
                    'h = model.sample_q(xb, 1 if q_update == "sleep" else k_wake)',
                ),
                "properties",
            ),
            "the weights not held constant, the graph kept": (
                (
                    "w = torch.softmax((log_p - log_q).detach(), dim=0)",
                    "w = torch.softmax(log_p - log_q, dim=0)",
                ),
                ("wake.backward()", "wake.backward(retain_graph=True)"),
                "properties",
            ),
            "q_update 'both' taken as the sleep loss alone": (
                (
                    '            if q_update == "both":\n'
                    "                sleep = (sleep + wake_q) / 2\n",
                    "",
                ),
                "properties",
            ),
            "one draw of h repeated k times": (
                (
                    "return torch.bernoulli(probs if k is None else probs.expand(k, *probs.shape))",
                    "h = torch.bernoulli(probs)\n"
                    "        return h if k is None else h.expand(k, *h.shape)",
                ),
                "properties",
            ),
        },
        right={
            # torch.distributions for the densities, the samplers by comparing uniforms, theta
            # and phi as parameter lists by name, the losses stacked, no keywords
            "torch.distributions, uniforms compared, parameters by name": (
                "class MyHelmholtz(torch.nn.Module):\n"
                "    def __init__(self, x_dim, h_dim):\n"
                "        super().__init__()\n"
                "        self.recognition = torch.nn.Linear(x_dim, h_dim)\n"
                "        self.generative = torch.nn.Linear(h_dim, x_dim)\n"
                "        self.prior_logits = torch.nn.Parameter(torch.zeros(h_dim))\n"
                "\n"
                "    def log_p(self, x, h):\n"
                "        B = torch.distributions.Bernoulli\n"
                "        prior = B(logits=self.prior_logits).log_prob(h).sum(-1)\n"
                "        return prior + B(logits=self.generative(h)).log_prob(x).sum(-1)\n"
                "\n"
                "    def log_q(self, x, h):\n"
                "        q = torch.distributions.Bernoulli(logits=self.recognition(x))\n"
                "        return q.log_prob(h).sum(-1)\n"
                "\n"
                "    def sample_q(self, x, k=None):\n"
                "        with torch.no_grad():\n"
                "            p = torch.sigmoid(self.recognition(x))\n"
                "            shape = p.shape if k is None else (k, *p.shape)\n"
                "            return (torch.rand(shape) < p).float()\n"
                "\n"
                "    def dream(self, n):\n"
                "        with torch.no_grad():\n"
                "            h = (torch.rand(n, len(self.prior_logits)) < "
                "torch.sigmoid(self.prior_logits)).float()\n"
                "            x = (torch.rand(n, self.generative.out_features) < "
                "torch.sigmoid(self.generative(h))).float()\n"
                "        return x, h\n"
                "\n"
                "    def log_weights(self, x, k):\n"
                "        with torch.no_grad():\n"
                "            h = self.sample_q(x, k)\n"
                "            return self.log_p(x, h) - self.log_q(x, h)\n"
                "\n"
                "\n"
                "def helmholtz_from_scratch(init, x, steps, lr, batch_size, x_eval, k, k_wake=1,\n"
                "                           q_update='sleep'):\n"
                "    if q_update not in ('sleep', 'wake', 'both'):\n"
                "        raise ValueError(f'unknown q_update {q_update!r}')\n"
                "    model = MyHelmholtz(*init['generative.weight'].shape)\n"
                "    model.load_state_dict(init)\n"
                "    named = dict(model.named_parameters())\n"
                "    theta = [p for n, p in named.items() if not n.startswith('recognition')]\n"
                "    phi = [p for n, p in named.items() if n.startswith('recognition')]\n"
                "    opt_theta, opt_phi = torch.optim.Adam(theta, lr), torch.optim.Adam(phi, lr)\n"
                "    losses = []\n"
                "    for _ in range(steps):\n"
                "        xb = x[torch.randint(0, x.shape[0], (batch_size,))]\n"
                "        if q_update != 'wake':\n"
                "            xd, hd = model.dream(batch_size)\n"
                "        opt_theta.zero_grad(set_to_none=True)\n"
                "        hs = model.sample_q(xb, k_wake)\n"
                "        lp, lq = model.log_p(xb, hs), model.log_q(xb, hs)\n"
                "        lw = (lp - lq).detach()\n"
                "        w = (lw - lw.logsumexp(0, keepdim=True)).exp()\n"
                "        wake = -(w * lp).sum(0).mean()\n"
                "        wake.backward()\n"
                "        opt_theta.step()\n"
                "        opt_phi.zero_grad(set_to_none=True)\n"
                "        parts = []\n"
                "        if q_update != 'sleep':\n"
                "            parts.append(-(w * lq).sum(0).mean())\n"
                "        if q_update != 'wake':\n"
                "            parts.append(-model.log_q(xd, hd).mean())\n"
                "        sleep = sum(parts) / len(parts)\n"
                "        sleep.backward()\n"
                "        opt_phi.step()\n"
                "        losses.append(torch.stack([wake.detach(), sleep.detach()]))\n"
                "    return model.state_dict(), torch.stack(losses), model.log_weights(x_eval, k)\n"
            ),
        },
    ),
    "03_vae": Assignment(
        "03_vae",
        "vae_from_scratch",
        checks.vae,
        {
            "ReLU in place of tanh": (
                (
                    "torch.nn.Linear(x_dim, hidden), torch.nn.Tanh()",
                    "torch.nn.Linear(x_dim, hidden), torch.nn.ReLU()",
                ),
                (
                    "torch.nn.Linear(z_dim, hidden), torch.nn.Tanh()",
                    "torch.nn.Linear(z_dim, hidden), torch.nn.ReLU()",
                ),
                "properties",
            ),
            "mu and log_var swapped": (
                (
                    "mu, log_var = self.encoder(x).chunk(2, dim=-1)",
                    "log_var, mu = self.encoder(x).chunk(2, dim=-1)",
                ),
                "properties",
            ),
            "the KL term left out (an autoencoder with noise)": (
                ("return kl - log_px", "return -log_px"),
                "properties",
            ),
            "the KL term's sign flipped": (
                ("return kl - log_px", "return -kl - log_px"),
                "properties",
            ),
            "sigma taken as exp(log_var)": (
                (
                    "torch.exp(0.5 * log_var) * torch.randn_like(mu)",
                    "torch.exp(log_var) * torch.randn_like(mu)",
                ),
                "properties",
            ),
            "no noise: z = mu": (
                ("z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)", "z = mu"),
                "properties",
            ),
            "a squared error for the Bernoulli likelihood": (
                (
                    '-F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)',
                    "-((torch.sigmoid(logits) - x) ** 2).sum(1)",
                ),
                "properties",
            ),
            "the KL averaged over the latent dimensions": (
                ("- log_var - 1).sum(1)", "- log_var - 1).mean(1)"),
                "properties",
            ),
            "the log-weights without the prior's density": (
                ("return log_px + log_pz - log_qz", "return log_px - log_qz"),
                "properties",
            ),
            "q's density without its log-variance": (
                (
                    "(eps**2 + log_var + math.log(2 * math.pi))",
                    "(eps**2 + math.log(2 * math.pi))",
                ),
                "properties",
            ),
            "the grey levels never binarized": (
                ("torch.bernoulli(x[torch.randint", "(x[torch.randint"),
                "properties",
            ),
            "only the decoder optimised": (
                (
                    "torch.optim.Adam(model.parameters(), lr=lr)",
                    "torch.optim.Adam(model.decoder.parameters(), lr=lr)",
                ),
                "properties",
            ),
            "the gradients never zeroed": (("        opt.zero_grad()\n", ""), "outcome"),
            "a new Adam made every step": (
                ("    opt = torch.optim.Adam(model.parameters(), lr=lr)\n", ""),
                (
                    "        loss = model.negative_elbo(xb).mean()",
                    "        opt = torch.optim.Adam(model.parameters(), lr=lr)\n"
                    "        loss = model.negative_elbo(xb).mean()",
                ),
                "properties",
            ),
            "the same rows every step": (
                ("x[torch.randint(len(x), (batch_size,), device=x.device)]", "x[:batch_size]"),
                "outcome",
            ),
            "one draw of z repeated k times": (
                (
                    "eps = torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype)",
                    "eps = torch.randn_like(mu).expand(k, *mu.shape)",
                ),
                "properties",
            ),
            "binarized once, before the loop": (
                (
                    "    opt = torch.optim.Adam(model.parameters(), lr=lr)\n",
                    "    x = torch.bernoulli(x)\n"
                    "    opt = torch.optim.Adam(model.parameters(), lr=lr)\n",
                ),
                ("torch.bernoulli(x[torch.randint", "(x[torch.randint"),
                "properties",
            ),
        },
        right={
            # the networks by dgm.nets.mlp, the halves by slicing, exercises 1 and 3 called,
            # the log-weights by torch.distributions, the losses stacked, no keywords
            "mlp networks, sliced halves, the exercises, torch.distributions": (
                "class MyVAE(torch.nn.Module):\n"
                "    def __init__(self, x_dim, hidden, z_dim):\n"
                "        super().__init__()\n"
                "        self.encoder = dgm.nets.mlp([x_dim, hidden, 2 * z_dim])\n"
                "        self.decoder = dgm.nets.mlp([z_dim, hidden, x_dim])\n"
                "\n"
                "    def encode(self, x):\n"
                "        h = self.encoder(x)\n"
                "        d = h.shape[-1] // 2\n"
                "        return h[..., :d], h[..., d:]\n"
                "\n"
                "    def decode(self, z):\n"
                "        return self.decoder(z)\n"
                "\n"
                "    def negative_elbo(self, x):\n"
                "        mu, log_var = self.encode(x)\n"
                "        return negative_elbo(x, self.decode(reparameterize(mu, log_var)), mu, "
                "log_var)\n"
                "\n"
                "    def log_weights(self, x, k):\n"
                "        mu, log_var = self.encode(x)\n"
                "        q = torch.distributions.Normal(mu, (0.5 * log_var).exp())\n"
                "        z = q.rsample((k,))\n"
                "        px = torch.distributions.Bernoulli(logits=self.decode(z))\n"
                "        prior = torch.distributions.Normal(torch.zeros_like(z), 1.0)\n"
                "        return (\n"
                "            px.log_prob(x).sum(-1) + prior.log_prob(z).sum(-1) - "
                "q.log_prob(z).sum(-1)\n"
                "        )\n"
                "\n"
                "\n"
                "def vae_from_scratch(init, x, steps, lr, batch_size, x_eval, k):\n"
                "    H, D = init['encoder.0.weight'].shape\n"
                "    model = MyVAE(D, H, init['decoder.0.weight'].shape[1])\n"
                "    model.load_state_dict(init)\n"
                "    opt = torch.optim.Adam(model.parameters(), lr)\n"
                "    losses = []\n"
                "    for _ in range(steps):\n"
                "        batch = x[torch.randint(0, x.shape[0], (batch_size,))].bernoulli()\n"
                "        loss = model.negative_elbo(batch).mean()\n"
                "        opt.zero_grad(set_to_none=True)\n"
                "        loss.backward()\n"
                "        opt.step()\n"
                "        losses.append(loss.detach())\n"
                "    with torch.no_grad():\n"
                "        return dict(model.state_dict()), torch.stack(losses), "
                "model.log_weights(x_eval, k)\n"
            ),
        },
    ),
    "04_gan": Assignment(
        "04_gan",
        "pacgan_from_scratch",
        checks.gan,
        {
            "the discriminator's optimiser over the generator's parameters": (
                (
                    "opt_d = torch.optim.Adam(model.D.parameters()",
                    "opt_d = torch.optim.Adam(model.G.parameters()",
                ),
                "properties",
            ),
            "uniform noise, not the prior's": (
                ("z = torch.randn(n, self.latent_dim,", "z = torch.rand(n, self.latent_dim,"),
                "properties",
            ),
            "batch_size examples a step, not batch_size packs": (
                ("n = batch_size * pack", "n = batch_size"),
                "properties",
            ),
            "both Adams made anew every step": (
                (
                    "    opt_d = torch.optim.Adam(model.D.parameters(), lr=lr, betas=(0.5, "
                    "0.999))\n    opt_g = torch.optim.Adam(model.G.parameters(), lr=lr, "
                    "betas=(0.5, 0.999))\n",
                    "",
                ),
                (
                    "        real = x[",
                    "        opt_d = torch.optim.Adam(model.D.parameters(), lr=lr, betas=(0.5, "
                    "0.999))\n        opt_g = torch.optim.Adam(model.G.parameters(), lr=lr, "
                    "betas=(0.5, 0.999))\n        real = x[",
                ),
                "properties",
            ),
            "Adam's default betas": (
                (
                    "(model.D.parameters(), lr=lr, betas=(0.5, 0.999))",
                    "(model.D.parameters(), lr=lr)",
                ),
                (
                    "(model.G.parameters(), lr=lr, betas=(0.5, 0.999))",
                    "(model.G.parameters(), lr=lr)",
                ),
                "properties",
            ),
            "the loop one step short": (
                ("for t in range(steps):", "for t in range(1, steps):"),
                "properties",
            ),
            "real and generated packs swapped in D's loss": (
                (
                    "discriminator_loss(model.logits(real), model.logits(fake.detach()))",
                    "discriminator_loss(model.logits(fake.detach()), model.logits(real))",
                ),
                "properties",
            ),
            "the generator's gradients never zeroed": (
                ("        opt_g.zero_grad()\n", ""),
                "outcome",
            ),
            "the minimax generator loss": (
                (
                    "g_loss = generator_loss_nonsaturating(model.logits(fake)).mean()",
                    "g_loss = gan.generator_loss_minimax(model.logits(fake)).mean()",
                ),
                "properties",
            ),
            "the losses never recorded": (
                ("        losses[t, 0], losses[t, 1] = d_loss.item(), g_loss.item()\n", ""),
                "properties",
            ),
            "the same rows every step": (
                ("real = x[torch.randint(len(x), (n,), device=x.device)]", "real = x[:n]"),
                "outcome",
            ),
            "tanh in place of ReLU in G": (
                (
                    "torch.nn.Linear(latent_dim, H), torch.nn.ReLU(),\n"
                    "            torch.nn.Linear(H, H), torch.nn.ReLU(),\n"
                    "            torch.nn.Linear(H, 2),",
                    "torch.nn.Linear(latent_dim, H), torch.nn.Tanh(),\n"
                    "            torch.nn.Linear(H, H), torch.nn.Tanh(),\n"
                    "            torch.nn.Linear(H, 2),",
                ),
                "properties",
            ),
            "the discriminator's gradients never zeroed": (
                ("        opt_d.zero_grad()\n", ""),
                "properties",
            ),
            "one Adam over both players": (
                (
                    "    opt_d = torch.optim.Adam(model.D.parameters(), lr=lr, betas=(0.5, "
                    "0.999))\n    opt_g = torch.optim.Adam(model.G.parameters(), lr=lr, "
                    "betas=(0.5, 0.999))\n",
                    "    opt_d = opt_g = torch.optim.Adam(model.parameters(), lr=lr, "
                    "betas=(0.5, 0.999))\n",
                ),
                "properties",
            ),
            "the generated points not detached in D's loss": (
                ("model.logits(fake.detach())", "model.logits(fake)"),
                "properties",
            ),
            "z drawn once, before the loop": (
                (
                    "    losses = torch.zeros(steps, 2)\n",
                    "    z = torch.randn(n, latent_dim)\n    losses = torch.zeros(steps, 2)\n",
                ),
                (
                    "        fake = model.generate(n)  # (n, 2), for both players' steps\n",
                    "        fake = model.G(z)\n",
                ),
                "outcome",
            ),
            "the samples all from one z": (
                (
                    "        samples = model.generate(n_samples)\n",
                    "        samples = model.generate(1).expand(n_samples, 2)\n",
                ),
                "properties",
            ),
            "G's loss on logits taken before D's step": (
                (
                    "        d_loss = discriminator_loss(",
                    "        stale = model.logits(fake)\n        d_loss = discriminator_loss(",
                ),
                (
                    "g_loss = generator_loss_nonsaturating(model.logits(fake)).mean()",
                    "g_loss = generator_loss_nonsaturating(stale).mean()",
                ),
                "properties",
            ),
            "the samples drawn before training": (
                ("    with torch.no_grad():\n        samples = model.generate(n_samples)\n", ""),
                (
                    "    losses = torch.zeros(steps, 2)\n",
                    "    losses = torch.zeros(steps, 2)\n"
                    "    with torch.no_grad():\n        samples = model.generate(n_samples)\n",
                ),
                "properties",
            ),
        },
        right={
            # the networks by dgm.nets.mlp, the packs by view, the losses by binary
            # cross-entropy against ones and zeros, the noise drawn before the rows (another
            # order of the random draws, so another run), the losses stacked, no keywords
            "mlp networks, packs by view, cross-entropy, the noise first": (
                "class MyPacGAN(torch.nn.Module):\n"
                "    def __init__(self, latent_dim, hidden, pack):\n"
                "        super().__init__()\n"
                "        self.latent_dim, self.pack = latent_dim, pack\n"
                "        self.G = dgm.nets.mlp([latent_dim, hidden, hidden, 2], 'relu')\n"
                "        self.D = dgm.nets.mlp([2 * pack, hidden, hidden, 1], 'relu')\n"
                "\n"
                "    def generate(self, n):\n"
                "        return self.G(torch.randn(n, self.latent_dim))\n"
                "\n"
                "    def logits(self, v):\n"
                "        return self.D(v.view(len(v) // self.pack, -1))[:, 0]\n"
                "\n"
                "\n"
                "def pacgan_from_scratch(init, x, steps, lr, batch_size, pack, n_samples):\n"
                "    model = MyPacGAN(init['G.0.weight'].shape[1], init['G.0.weight'].shape[0], "
                "pack)\n"
                "    model.load_state_dict(init)\n"
                "    opt_d = torch.optim.Adam(model.D.parameters(), lr, (0.5, 0.999))\n"
                "    opt_g = torch.optim.Adam(model.G.parameters(), lr, (0.5, 0.999))\n"
                "    bce = F.binary_cross_entropy_with_logits\n"
                "    out = []\n"
                "    for _ in range(steps):\n"
                "        fake = model.generate(batch_size * pack)\n"
                "        real = x[torch.randint(0, x.shape[0], (batch_size * pack,))]\n"
                "        r, f = model.logits(real), model.logits(fake.detach())\n"
                "        d = bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))\n"
                "        opt_d.zero_grad(set_to_none=True)\n"
                "        d.backward()\n"
                "        opt_d.step()\n"
                "        f = model.logits(fake)\n"
                "        g = bce(f, torch.ones_like(f))\n"
                "        opt_g.zero_grad(set_to_none=True)\n"
                "        g.backward()\n"
                "        opt_g.step()\n"
                "        out.append(torch.stack([d.detach(), g.detach()]))\n"
                "    with torch.no_grad():\n"
                "        return model.state_dict(), torch.stack(out), "
                "model.generate(n_samples)\n"
            ),
            # D ending in Flatten(0), both gradients zeroed at the top of the step, the rows by
            # randperm (without replacement), the losses by logsigmoid, recorded as a list of
            # pairs
            "gradients zeroed first, rows by randperm, logsigmoid losses": (
                "import torch.nn as nn\n"
                "\n"
                "\n"
                "class MyPacGAN(nn.Module):\n"
                "    def __init__(self, latent_dim, hidden, pack):\n"
                "        super().__init__()\n"
                "        self.latent_dim, self.pack = latent_dim, pack\n"
                "        self.G = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),\n"
                "                               nn.Linear(hidden, hidden), nn.ReLU(),\n"
                "                               nn.Linear(hidden, 2))\n"
                "        self.D = nn.Sequential(nn.Linear(2 * pack, hidden), nn.ReLU(),\n"
                "                               nn.Linear(hidden, hidden), nn.ReLU(),\n"
                "                               nn.Linear(hidden, 1), nn.Flatten(0))\n"
                "\n"
                "    def generate(self, n):\n"
                "        p = self.G[0].weight\n"
                "        return self.G(torch.randn(n, self.latent_dim, device=p.device))\n"
                "\n"
                "    def logits(self, v):\n"
                "        return self.D(v.reshape(-1, 2 * self.pack))\n"
                "\n"
                "\n"
                "def pacgan_from_scratch(init, x, steps, lr, batch_size, pack, n_samples):\n"
                "    H, latent_dim = init['G.0.weight'].shape\n"
                "    model = MyPacGAN(latent_dim, H, pack).to(x.device)\n"
                "    model.load_state_dict(init)\n"
                "    opt_d = torch.optim.Adam(model.D.parameters(), lr=lr, betas=(0.5, 0.999))\n"
                "    opt_g = torch.optim.Adam(model.G.parameters(), lr=lr, betas=(0.5, 0.999))\n"
                "    n = batch_size * pack\n"
                "    losses = []\n"
                "    for _ in range(steps):\n"
                "        opt_d.zero_grad()\n"
                "        opt_g.zero_grad()\n"
                "        real = x[torch.randperm(len(x), device=x.device)[:n]]\n"
                "        fake = model.generate(n)\n"
                "        r, f = model.logits(real), model.logits(fake.detach())\n"
                "        d = (-F.logsigmoid(r) - F.logsigmoid(-f)).mean()\n"
                "        d.backward()\n"
                "        opt_d.step()\n"
                "        g = -F.logsigmoid(model.logits(fake)).mean()\n"
                "        g.backward()\n"
                "        opt_g.step()\n"
                "        losses.append((d.item(), g.item()))\n"
                "    with torch.no_grad():\n"
                "        samples = model.generate(n_samples)\n"
                "    return model.state_dict(), torch.tensor(losses), samples\n"
            ),
        },
    ),
    "05_unified_view": Assignment(
        "05_unified_view",
        "train_gaussian_generator",
        checks.unified,
        {
            "d/ds taken for d/dlog s": (
                ("df_dx * (x.detach() - mu)", "df_dx * eps"),
                "properties",
            ),
            "the factor 1/2 of p(y = 0) left out": (
                (
                    "-0.5 * torch.nn.functional.logsigmoid(logit(x))",
                    "-torch.nn.functional.logsigmoid(logit(x))",
                ),
                "properties",
            ),
            "the minimax loss": (
                (
                    "-0.5 * torch.nn.functional.logsigmoid(logit(x))",
                    "0.5 * torch.nn.functional.logsigmoid(-logit(x))",
                ),
                "properties",
            ),
            "the discriminator never refreshed (built at theta0)": (
                (
                    "logit = optimal_logit(log_p_data, theta)",
                    "logit = optimal_logit(log_p_data, theta0)",
                ),
                "properties",
            ),
            "the baseline with the sample's own loss": (
                ("b = (fx.sum() - fx) / (len(fx) - 1)", "b = fx.mean()"),
                "properties",
            ),
            "no baseline": (
                ("(fx - b)[:, None] * score", "fx[:, None] * score"),
                "properties",
            ),
            "the score in log s without its -1": (
                ("eps**2 - 1", "eps**2"),
                "properties",
            ),
            "the score in mu as eps, not eps / s": (
                ("[eps / s,", "[eps,"),
                "properties",
            ),
            "gradient ascent": (
                ("theta = theta - lr * g.mean(0)", "theta = theta + lr * g.mean(0)"),
                "properties",
            ),
            "the same noise every step": (
                ("        eps = torch.randn(n, dtype=torch.float64)\n", ""),
                (
                    "    thetas, samples, grads = [theta], [], []\n",
                    "    thetas, samples, grads = [theta], [], []\n"
                    "    eps = torch.randn(n, dtype=torch.float64)\n",
                ),
                "properties",
            ),
            "uniform noise": (
                (
                    "eps = torch.randn(n, dtype=torch.float64)",
                    "eps = torch.rand(n, dtype=torch.float64)",
                ),
                "properties",
            ),
            "the predicted minimum's KL reversed": (
                (
                    "kl_by_quadrature(log_g, log_pd, dx)",
                    "kl_by_quadrature(log_pd, log_g, dx)",
                ),
                "properties",
            ),
            "the predicted minimum's KL without its 1/2": (
                ("loss = 0.5 * dgm.densities.kl", "loss = dgm.densities.kl"),
                "properties",
            ),
            "the predicted minimum's JSD added": (
                (") - dgm.densities.jsd_by_quadrature", ") + dgm.densities.jsd_by_quadrature"),
                "properties",
            ),
        },
        right={
            # every per-sample gradient by its own autograd call, the baseline by a mask, the
            # noise as float32 made float64, the path as lists of floats made a tensor; the
            # divergences written out (the grid by arange, the Gaussian's log-density by hand)
            "per-sample autograd, a masked baseline, float32 noise, its own divergences": (
                "def lemma1_minimum(log_p_data, theta0):\n"
                "    grid = torch.arange(-2000, 2001, dtype=torch.float64) / 200\n"
                "    h = 1 / 200\n"
                "    lp = log_p_data(grid)\n"
                "    th = torch.tensor([float(theta0[0]), float(theta0[1])], dtype=torch.float64,\n"
                "                      requires_grad=True)\n"
                "    opt = torch.optim.LBFGS([th], max_iter=200, tolerance_grad=1e-10,\n"
                "                            line_search_fn='strong_wolfe')\n"
                "    def objective():\n"
                "        opt.zero_grad()\n"
                "        z = (grid - th[0]) / th[1].exp()\n"
                "        lg = -0.5 * z**2 - th[1] - 0.5 * math.log(2 * math.pi)\n"
                "        lm = torch.logaddexp(lg, lp) - math.log(2)\n"
                "        kl = (lg.exp() * (lg - lp)).sum() * h\n"
                "        js = (lg.exp() * (lg - lm)).sum() + (lp.exp() * (lp - lm)).sum()\n"
                "        js = 0.5 * js * h\n"
                "        loss = kl / 2 - js\n"
                "        loss.backward()\n"
                "        return loss\n"
                "    opt.step(objective)\n"
                "    return th.detach()\n"
                "def optimal_logit(log_p_data, theta):\n"
                "    m, ls = float(theta[0]), float(theta[1])\n"
                "    return lambda x: (log_p_data(x)\n"
                "                      - dgm.densities.normal_log_prob(x, m, math.exp(ls)))\n"
                "def pathwise_gradients(f, theta, eps):\n"
                "    rows = []\n"
                "    for e in eps:\n"
                "        th = theta.detach().clone().requires_grad_(True)\n"
                "        loss = f((th[0] + torch.exp(th[1]) * e).reshape(1)).sum()\n"
                "        rows.append(torch.autograd.grad(loss, th)[0])\n"
                "    return torch.stack(rows)\n"
                "def score_gradients(f, theta, eps):\n"
                "    n = eps.shape[0]\n"
                "    mu, s = theta[0].item(), math.exp(theta[1].item())\n"
                "    fx = f(mu + s * eps).detach()\n"
                "    others = ~torch.eye(n, dtype=torch.bool)\n"
                "    b = torch.stack([fx[others[i]].mean() for i in range(n)])\n"
                "    d_mu = (eps * s) / s**2\n"
                "    d_ls = ((eps * s) / s) ** 2 - 1\n"
                "    return torch.stack([(fx - b) * d_mu, (fx - b) * d_ls], dim=1)\n"
                "def train_gaussian_generator(log_p_data, theta0, steps, lr, n, estimator):\n"
                "    theta = torch.tensor([float(theta0[0]), float(theta0[1])],\n"
                "                         dtype=torch.float64)\n"
                "    path, xs, gs = [theta.tolist()], [], []\n"
                "    for t in range(steps):\n"
                "        e = torch.randn(n).double()\n"
                "        ell = optimal_logit(log_p_data, theta)\n"
                "        f = lambda x: -torch.nn.functional.logsigmoid(ell(x)) / 2\n"
                "        if estimator == 'score':\n"
                "            g = score_gradients(f, theta, e)\n"
                "        else:\n"
                "            g = pathwise_gradients(f, theta, e)\n"
                "        xs.append(theta[0] + torch.exp(theta[1]) * e)\n"
                "        gs.append(g)\n"
                "        theta = theta - lr * g.sum(0) / n\n"
                "        path.append(theta.tolist())\n"
                "    star = lemma1_minimum(log_p_data, theta0)\n"
                "    return torch.tensor(path), torch.stack(xs), torch.stack(gs), star\n"
            ),
        },
    ),
    "06_energy_gan": Assignment(
        "06_energy_gan",
        "energy_gan_from_scratch",
        checks.energy,
        {
            "the energy's optimiser over the generator's parameters": (
                (
                    "torch.optim.Adam(model.U.parameters(), lr=lr, betas=(0.5, 0.9))",
                    "torch.optim.Adam(model.G.parameters(), lr=lr, betas=(0.5, 0.9))",
                ),
                "properties",
            ),
            "T left out of the generator's optimiser": (
                (
                    "generator_params = [*model.G.parameters(), *model.T.parameters()]",
                    "generator_params = list(model.G.parameters())",
                ),
                "properties",
            ),
            "no gradient penalty": (
                (
                    "energy_loss(model.energy, real, fake.detach(), 0.1)",
                    "energy_loss(model.energy, real, fake.detach(), 0.0)",
                ),
                "outcome",
            ),
            "no MI term": (
                (" - 0.3 * jsd_mi_estimate(model.critic, fake, z)", ""),
                "properties",
            ),
            "the MI term on detached points": (
                (
                    "jsd_mi_estimate(model.critic, fake, z)",
                    "jsd_mi_estimate(model.critic, fake.detach(), z)",
                ),
                "properties",
            ),
            "the MI term added, not subtracted": (
                (" - 0.3 * jsd_mi_estimate(", " + 0.3 * jsd_mi_estimate("),
                "properties",
            ),
            "the average never updated": (
                ("                avg.lerp_(w, 1 - decay)\n", "                pass\n"),
                "properties",
            ),
            "the average moved by decay, not 1 - decay": (
                ("avg.lerp_(w, 1 - decay)", "avg.lerp_(w, decay)"),
                "properties",
            ),
            "Adam's default betas, not (0.5, 0.9)": (
                (
                    "(model.U.parameters(), lr=lr, betas=(0.5, 0.9))",
                    "(model.U.parameters(), lr=lr)",
                ),
                ("(generator_params, lr=lr, betas=(0.5, 0.9))", "(generator_params, lr=lr)"),
                "properties",
            ),
            "the energy's loss maximised": (
                ("        u_loss.backward()", "        (-u_loss).backward()"),
                "properties",
            ),
            "the losses never recorded": (
                ("        losses[t, 0], losses[t, 1] = u_loss.item(), g_loss.item()\n", ""),
                "properties",
            ),
            "the same rows every step": (
                (
                    "real = x[torch.randint(len(x), (batch_size,), device=x.device)]",
                    "real = x[:batch_size]",
                ),
                "outcome",
            ),
            "the negatives from the averaged generator": (
                (
                    "energy_loss(model.energy, real, fake.detach(), 0.1)",
                    "energy_loss(model.energy, real, model.G_average(z), 0.1)",
                ),
                "properties",
            ),
            "the energy's gradients never zeroed": (
                ("        opt_u.zero_grad()\n", ""),
                "properties",
            ),
            "one Adam over every parameter": (
                (
                    "    opt_u = torch.optim.Adam(model.U.parameters(), lr=lr, betas=(0.5, 0.9))\n",
                    "",
                ),
                (
                    "    opt_g = torch.optim.Adam(generator_params, lr=lr, betas=(0.5, 0.9))\n",
                    "    opt_u = opt_g = torch.optim.Adam(model.parameters(), lr=lr, "
                    "betas=(0.5, 0.9))\n",
                ),
                "properties",
            ),
            "the samples from G, not G_average": (
                ("        return self.G_average(z)", "        return self.G(z)"),
                "properties",
            ),
            "the samples drawn before training": (
                (
                    "    with torch.no_grad():\n        samples = model.sample(n_samples)\n"
                    "    return",
                    "    return",
                ),
                (
                    "    losses = torch.zeros(steps, 2)\n",
                    "    losses = torch.zeros(steps, 2)\n"
                    "    with torch.no_grad():\n        samples = model.sample(n_samples)\n",
                ),
                "properties",
            ),
            "tanh in place of ReLU": (
                (
                    "                torch.nn.Linear(n_in, H), torch.nn.ReLU(),\n"
                    "                torch.nn.Linear(H, H), torch.nn.ReLU(),\n"
                    "                torch.nn.Linear(H, H), torch.nn.ReLU(),\n",
                    "                torch.nn.Linear(n_in, H), torch.nn.Tanh(),\n"
                    "                torch.nn.Linear(H, H), torch.nn.Tanh(),\n"
                    "                torch.nn.Linear(H, H), torch.nn.Tanh(),\n",
                ),
                "properties",
            ),
            "the generator's gradients never zeroed": (
                ("        opt_g.zero_grad()\n", ""),
                "outcome",
            ),
            "the critic reading [z, x]": (
                ("torch.cat([x, z], 1)", "torch.cat([z, x], 1)"),
                "properties",
            ),
            "the average updated between the two players' steps": (
                (
                    "        # the average of G's weights, which sampling uses\n"
                    "        with torch.no_grad():\n"
                    "            for avg, w in zip(model.G_average.parameters(), "
                    "model.G.parameters()):\n"
                    "                avg.lerp_(w, 1 - decay)\n",
                    "",
                ),
                (
                    "        # the generator's step (G and T)",
                    "        with torch.no_grad():\n"
                    "            for avg, w in zip(model.G_average.parameters(), "
                    "model.G.parameters()):\n"
                    "                avg.lerp_(w, 1 - decay)\n"
                    "        # the generator's step (G and T)",
                ),
                "properties",
            ),
        },
        right={
            # the library's mlp for the networks, the noise drawn before the rows, the
            # gradients set to None before each loss, G(z) computed again (at the same z) for
            # the generator's step, the average by mul_/add_, the losses as a list of floats
            "mlp networks, the noise first, G(z) twice, the average by mul_ and add_": (
                "class MyEnergyGAN(torch.nn.Module):\n"
                "    def __init__(self, dim, latent_dim, hidden):\n"
                "        super().__init__()\n"
                "        self.latent_dim = latent_dim\n"
                "        H = hidden\n"
                "        self.U = nets.mlp([dim, H, H, H, 1], 'relu')\n"
                "        self.G = nets.mlp([latent_dim, H, H, H, dim], 'relu')\n"
                "        self.T = nets.mlp([dim + latent_dim, H, H, H, 1], 'relu')\n"
                "        self.G_average = nets.mlp([latent_dim, H, H, H, dim], 'relu')\n"
                "        for p in self.G_average.parameters():\n"
                "            p.requires_grad = False\n"
                "\n"
                "    def energy(self, x):\n"
                "        return self.U(x)[:, 0]\n"
                "\n"
                "    def critic(self, x, z):\n"
                "        return self.T(torch.cat((x, z), dim=-1))[:, 0]\n"
                "\n"
                "    @torch.no_grad()\n"
                "    def sample(self, n):\n"
                "        device = next(self.G_average.parameters()).device\n"
                "        return self.G_average(torch.randn(n, self.latent_dim, device=device))\n"
                "\n"
                "\n"
                "def energy_gan_from_scratch(init, x, steps, lr, batch_size, decay, n_samples):\n"
                "    latent_dim = init['G.0.weight'].shape[1]\n"
                "    model = MyEnergyGAN(x.shape[1], latent_dim, init['G.0.weight'].shape[0])\n"
                "    model.load_state_dict(init)\n"
                "    model.to(x.device)\n"
                "    opt_u = torch.optim.Adam(model.U.parameters(), lr, betas=(0.5, 0.9))\n"
                "    params = list(model.G.parameters()) + list(model.T.parameters())\n"
                "    opt_g = torch.optim.Adam(params, lr, betas=(0.5, 0.9))\n"
                "    rows = []\n"
                "    for _ in range(steps):\n"
                "        z = torch.randn(batch_size, latent_dim, device=x.device)\n"
                "        real = x[torch.randint(0, x.shape[0], (batch_size,), device=x.device)]\n"
                "        opt_u.zero_grad(set_to_none=True)\n"
                "        with torch.no_grad():\n"
                "            negatives = model.G(z)\n"
                "        lu = energy_loss(model.energy, real, negatives, penalty=0.1)\n"
                "        lu.backward()\n"
                "        opt_u.step()\n"
                "        opt_g.zero_grad(set_to_none=True)\n"
                "        fake = model.G(z)\n"
                "        lg = model.energy(fake).mean() - 0.3 * jsd_mi_estimate(model.critic, "
                "fake, z)\n"
                "        lg.backward()\n"
                "        opt_g.step()\n"
                "        with torch.no_grad():\n"
                "            for a, w in zip(model.G_average.parameters(), model.G.parameters()):\n"
                "                a.mul_(decay).add_((1 - decay) * w)\n"
                "        rows.append([float(lu), float(lg)])\n"
                "    return model.state_dict(), torch.tensor(rows), model.sample(n_samples)\n"
            ),
        },
    ),
    "07_mcmc": Assignment(
        "07_mcmc",
        "tuned_mala",
        checks.mcmc,
        {
            "ULA: every proposal accepted": (
                (
                    "accepted = torch.rand_like(log_alpha).log() < log_alpha",
                    "accepted = torch.ones_like(log_alpha, dtype=torch.bool)",
                ),
                "properties",
            ),
            "the step adapts forever, the last step returned": (
                (
                    "        x, accepted = transition(x, eps, scales)\n        n_accepted",
                    "        x, accepted = transition(x, eps, scales)\n"
                    "        eps *= math.exp((accepted.double().mean().item() - target) / "
                    "(n_warmup + len(trace) + 1) ** 0.6)\n        n_accepted",
                ),
                "properties",
            ),
            "the step adapts forever, the warm-up's step returned": (
                (
                    "        x, accepted = transition(x, eps, scales)\n        n_accepted",
                    "        x, accepted = transition(x, live, scales)\n"
                    "        live *= math.exp((accepted.double().mean().item() - target) / "
                    "(n_warmup + len(trace) + 1) ** 0.6)\n        n_accepted",
                ),
                (
                    "    eps = math.exp(log_eps) if n_warmup > 0 else step_size",
                    "    eps = live = math.exp(log_eps) if n_warmup > 0 else step_size",
                ),
                "properties",
            ),
            "the update's sign flipped": (("log_eps += (", "log_eps -= ("), "properties"),
            "no step adaptation": (("log_eps += (", "log_eps += 0 * ("), "properties"),
            "the initial step returned": (
                ("return torch.stack(trace), eps,", "return torch.stack(trace), step_size,"),
                "properties",
            ),
            "accepting on the energy difference": (
                (
                    "log_alpha = mala_log_acceptance(V, y, proposal, eps)",
                    "log_alpha = V(y) - V(proposal)",
                ),
                "outcome",
            ),
            "noise of variance eps": (
                (
                    "math.sqrt(2 * eps) * torch.randn_like(y)",
                    "math.sqrt(eps) * torch.randn_like(y)",
                ),
                "outcome",
            ),
            "the scales never estimated": (
                ("            scales = pooled_sd(window, scales)\n", ""),
                "properties",
            ),
            "the variances taken for the scales": (
                ("sd = states.var(0).sqrt()", "sd = states.var(0)"),
                "properties",
            ),
            "the scales returned but never used in the moves": (
                (
                    "x, accepted = transition(x, math.exp(log_eps), scales)",
                    "x, accepted = transition(x, math.exp(log_eps), torch.ones_like(scales))",
                ),
                (
                    "x, accepted = transition(x, eps, scales)",
                    "x, accepted = transition(x, eps, torch.ones_like(scales))",
                ),
                "properties",
            ),
            "the gains never restart": (
                ("/ (t - t0 + 1) ** 0.6", "/ (t + 1) ** 0.6"),
                "properties",
            ),
            "each chain's variance over the window, averaged over the chains": (
                (
                    "sd = states.var(0).sqrt()",
                    "sd = torch.stack(window).var(0).mean(0).sqrt()",
                ),
                "properties",
            ),
            "the drift with U's gradient at x, not V's at y": (
                ("_, grad = mcmc.energy_and_grad(V, y)", "_, grad = mcmc.energy_and_grad(U, x)"),
                "outcome",
            ),
            "one window never emptied": (
                ("            window, t0 = [], t + 1\n", "            t0 = t + 1\n"),
                "properties",
            ),
            "the step reset to step_size at each window's end": (
                (
                    "            window, t0 = [], t + 1\n",
                    "            window, t0 = [], t + 1\n"
                    "            log_eps = math.log(step_size)\n",
                ),
                "properties",
            ),
            "the trace stored in y = x / scales": (
                ("        trace.append(x)\n", "        trace.append(x / scales)\n"),
                "properties",
            ),
            "the uniform compared with log alpha unlogged": (
                (
                    "accepted = torch.rand_like(log_alpha).log() < log_alpha",
                    "accepted = torch.rand_like(log_alpha) < log_alpha",
                ),
                "properties",
            ),
            "the ratio of the unstretched proposal, in x": (
                (
                    "log_alpha = mala_log_acceptance(V, y, proposal, eps)",
                    "log_alpha = mala_log_acceptance(U, x, proposal * scales, eps)",
                ),
                "outcome",
            ),
        },
        right={
            # in x itself (drift eps s^2 grad U, noise sqrt(2 eps) s xi) with its own ratio,
            # the uniforms drawn first, a_t the mean of min(1, alpha), the window kept as
            # float32 running sums (the biased variance)
            "in x with its own ratio, running sums, a_t = mean min(1, alpha)": (
                "def tuned_mala(U, x0, n_warmup, n_samples, step_size=0.1, target=0.574):\n"
                "    x = x0.detach().clone()\n"
                "    C, D = x.shape\n"
                "    s = torch.ones(D, dtype=x.dtype)\n"
                "    log_eps, t0 = math.log(step_size), 0\n"
                "    first, middle = n_warmup // 4, n_warmup // 2\n"
                "    ends = {first + middle // 7, first + 3 * middle // 7, first + middle}\n"
                "    S1 = torch.zeros(D, dtype=torch.float32)\n"
                "    S2 = torch.zeros(D, dtype=torch.float32)\n"
                "    N = 0\n"
                "    def step(x, eps, s):\n"
                "        u_acc = torch.rand(C)\n"
                "        u, g = mcmc.energy_and_grad(U, x)\n"
                "        p = x - eps * s**2 * g + math.sqrt(2 * eps) * s * torch.randn(C, D)\n"
                "        up, gp = mcmc.energy_and_grad(U, p)\n"
                "        def logq(a, b, gb):\n"
                "            return -(((a - b + eps * s**2 * gb) / s) ** 2).sum(1) / (4 * eps)\n"
                "        la = -up + u + logq(x, p, gp) - logq(p, x, g)\n"
                "        acc = u_acc.log() < la\n"
                "        return torch.where(acc[:, None], p, x), acc, la.clamp(max=0).exp()\n"
                "    for t in range(n_warmup):\n"
                "        x, acc, prob = step(x, math.exp(log_eps), s)\n"
                "        log_eps += (prob.mean().item() - target) / (t - t0 + 1) ** 0.6\n"
                "        if first <= t < first + middle:\n"
                "            xf = x.float()\n"
                "            S1 += xf.sum(0)\n"
                "            S2 += (xf**2).sum(0)\n"
                "            N += C\n"
                "        if t + 1 in ends and N > 1:\n"
                "            m = S1 / N\n"
                "            s = (S2 / N - m**2).clamp(min=1e-30).sqrt().to(x.dtype)\n"
                "            S1.zero_()\n"
                "            S2.zero_()\n"
                "            N, t0 = 0, t + 1\n"
                "    eps = math.exp(log_eps) if n_warmup else step_size\n"
                "    trace, n_acc = [], torch.zeros(C)\n"
                "    for _ in range(n_samples):\n"
                "        x, acc, _ = step(x, eps, s)\n"
                "        n_acc += acc\n"
                "        trace.append(x)\n"
                "    return torch.stack(trace), eps, s, n_acc / n_samples\n"
            ),
        },
    ),
    "08_pixelcnn": Assignment(
        "08_pixelcnn",
        "train_pixelcnn",
        checks.pixelcnn,
        {
            "type B in the first layer": (
                ('MaskedConv2d(1, channels, 7, "A")', 'MaskedConv2d(1, channels, 7, "B")'),
                "properties",
            ),
            "the mask applied once, at construction": (
                (
                    'self.register_buffer("mask", causal_mask(kernel_size, mask_type))',
                    'self.register_buffer("mask", causal_mask(kernel_size, mask_type))\n'
                    "        with torch.no_grad():\n"
                    "            self.weight *= self.mask",
                ),
                (
                    "F.conv2d(x, self.weight * self.mask, self.bias",
                    "F.conv2d(x, self.weight, self.bias",
                ),
                "properties",
            ),
            "the mask transposed (column order)": (
                ("causal_mask(kernel_size, mask_type))", "causal_mask(kernel_size, mask_type).T)"),
                "properties",
            ),
            "a 3x3 first layer": (
                ('MaskedConv2d(1, channels, 7, "A")', 'MaskedConv2d(1, channels, 3, "A")'),
                "properties",
            ),
            "the loss in nats per pixel (the cross-entropy's default mean)": (
                (
                    'F.binary_cross_entropy_with_logits(logits, xb, reduction="none")'
                    ".sum((1, 2, 3)).mean()",
                    "F.binary_cross_entropy_with_logits(logits, xb)",
                ),
                "properties",
            ),
            "the loss summed over the batch": ((".sum((1, 2, 3)).mean()", ".sum()"), "properties"),
            "probabilities taken for logits": (
                (
                    "binary_cross_entropy_with_logits(logits, xb,",
                    "binary_cross_entropy_with_logits(torch.sigmoid(logits), xb,",
                ),
                # its losses at lr 0 differ from the NLL by 0.2-0.5%, near LOSS_RTOL: the
                # outcome, far off, is what fails it
                "outcome",
            ),
            "one step fewer than asked": (
                ("for t in range(steps):", "for t in range(1, steps):"),
                "properties",
            ),
            "a fresh model's logits returned": (
                (
                    "logits = model(x_eval, y_eval)",
                    "logits = MyPixelCNN(channels, blocks, n_classes).to(x.device)(x_eval, y_eval)",
                ),
                "outcome",
            ),
            "the sampler's logits from the images given, not the canvas": (
                (
                    "torch.sigmoid(self(x, labels)[:, 0, row, col])",
                    "torch.sigmoid(self(given, labels)[:, 0, row, col])",
                ),
                "properties",
            ),
            "a pixel set to 1 when its uniform is above p": (
                ("(uniforms[:, i] < p)", "(uniforms[:, i] > p)"),
                "properties",
            ),
            "the pixels sampled in column order": (
                ("row, col = divmod(i, W)", "col, row = divmod(i, H)"),
                "properties",
            ),
            "Bernoulli draws, the uniforms unused": (
                ("(uniforms[:, i] < p).to(x.dtype)", "torch.bernoulli(p).to(x.dtype)"),
                "properties",
            ),
            "the kept pixels drawn again (start ignored)": (
                ("range(start, H * W)", "range(H * W)"),
                "properties",
            ),
            "the canvas started blank (the given pixels dropped)": (
                ("x = given.clone()", "x = torch.zeros_like(given)"),
                "properties",
            ),
            "samples from a fresh model": (
                ("model.sample(", "MyPixelCNN(channels, blocks, n_classes).to(x.device).sample("),
                "properties",
            ),
            "the completion started one pixel late": (
                ("range(start, H * W)", "range(start + 1, H * W)"),
                "properties",
            ),
            "the completion started one pixel early": (
                ("range(start, H * W)", "range(max(start - 1, 0), H * W)"),
                "properties",
            ),
            "the canvas drawn on in place (no copy)": (
                ("x = given.clone()", "x = given"),
                "properties",
            ),
            "batches drawn by Python's random module": (
                (
                    "torch.randint(len(x), (batch_size,), device=x.device)",
                    "[random.randrange(len(x)) for _ in range(batch_size)]",
                ),
                ("class MaskedConv2d(", "import random\n\n\nclass MaskedConv2d("),
                "properties",
            ),
            "a whole row drawn at once": (
                (
                    "for i in range(start, H * W):\n                row, col = divmod(i, W)\n",
                    "for row in range(start // W, H):\n",
                ),
                ("self(x, labels)[:, 0, row, col])  # (S,)", "self(x, labels)[:, 0, row])  # (S,)"),
                (
                    "x[:, 0, row, col] = (uniforms[:, i] < p)",
                    "x[:, 0, row] = (uniforms[:, row * W : (row + 1) * W] < p)",
                ),
                "properties",
            ),
            "a whole row's logits at once, the kept pixels respected": (
                (
                    "                p = torch.sigmoid(self(x, labels)[:, 0, row, col])  # (S,), "
                    "from the canvas so far\n",
                    "                if col == 0 or i == start:  # the row's logits, once a row\n"
                    "                    p_row = torch.sigmoid(self(x, labels)[:, 0, row])\n"
                    "                p = p_row[:, col]\n",
                ),
                "properties",
            ),
            "rows and columns swapped (divmod by H)": (
                ("row, col = divmod(i, W)", "row, col = divmod(i, H)"),
                "properties",
            ),
            "gradients accumulated, never zeroed": (("        opt.zero_grad()\n", ""), "outcome"),
            "the label never added (an unconditional model)": (
                ("a = self.first(x) + self.embed(y)[:, :, None, None]", "a = self.first(x)"),
                ("        t = t + self.embed(y)[:, :, None, None]", "        t = t"),
                "properties",
            ),
            "the label as an input plane through the type-A mask": (
                (
                    'self.first = MaskedConv2d(1, channels, 7, "A")',
                    'self.first = MaskedConv2d(2, channels, 7, "A")',
                ),
                (
                    "a = self.first(x) + self.embed(y)[:, :, None, None]",
                    "a = self.first(torch.cat([x, (y / self.n)[:, None, None, None]"
                    ".expand_as(x)], 1))",
                ),
                ("        t = t + self.embed(y)[:, :, None, None]", "        t = t"),
                (
                    "        self.embed = nn.Embedding(n_classes, channels)\n",
                    "        self.n = n_classes\n",
                ),
                "properties",
            ),
            "each batch's labels drawn apart from its images": (
                (
                    "xb, yb = x[idx], y[idx]",
                    "xb, yb = x[idx], y[torch.randint(len(y), (batch_size,))]",
                ),
                "outcome",
            ),
            "the logits of x_eval all given label 0": (
                (
                    "logits = model(x_eval, y_eval)",
                    "logits = model(x_eval, torch.zeros_like(y_eval))",
                ),
                "properties",
            ),
            "the samples given the last S labels of y_eval": (
                (
                    "model.sample(uniforms, x_eval[:S], y_eval[:S], start)",
                    "model.sample(uniforms, x_eval[:S], y_eval[-S:], start)",
                ),
                "properties",
            ),
            "the class added to the logits only": (
                ("a = self.first(x) + self.embed(y)[:, :, None, None]", "a = self.first(x)"),
                ("        t = t + self.embed(y)[:, :, None, None]", "        t = t"),
                (
                    "        return self.head(a)\n",
                    "        return self.head(a) + self.embed(y)[:, :1, None, None]\n",
                ),
                "outcome",
            ),
            "the samples all drawn given label 0": (
                (
                    "model.sample(uniforms, x_eval[:S], y_eval[:S], start)",
                    "model.sample(uniforms, x_eval[:S], torch.zeros_like(y_eval[:S]), start)",
                ),
                "properties",
            ),
            "the first batch_size images every step": (
                (
                    "idx = torch.randint(len(x), (batch_size,), device=x.device)",
                    "idx = torch.arange(batch_size, device=x.device)",
                ),
                "outcome",
            ),
        },
        right={
            # its own mask (a plain attribute, not a buffer), nn.ModuleLists, the class
            # vectors by a Linear map of the one-hot labels in the blocks only (none after
            # the first layer), the NLL by logsigmoid, the losses stacked and the logits
            # returned flattened; its sampler a function on a flat canvas, the later pixels
            # cleared, two loops
            "its own mask, ModuleLists, one-hot classes in the blocks only, its own sampler": (
                "class MConv(nn.Conv2d):\n"
                "    def __init__(self, cin, cout, k, kind):\n"
                "        super().__init__(cin, cout, k, padding=k // 2)\n"
                "        m = torch.ones(k, k)\n"
                "        m[k // 2, k // 2 + (kind == 'B'):] = 0\n"
                "        m[k // 2 + 1:] = 0\n"
                "        self.m = m\n"
                "    def forward(self, x):\n"
                "        return F.conv2d(x, self.weight * self.m, self.bias,\n"
                "                        padding=self.padding)\n"
                "class Net(nn.Module):\n"
                "    def __init__(self, c, n, k):\n"
                "        super().__init__()\n"
                "        self.k = k\n"
                "        self.first = MConv(1, c, 7, 'A')\n"
                "        self.mid = nn.ModuleList(nn.ModuleList([nn.Conv2d(c, c // 2, 1),\n"
                "            nn.Linear(k, c // 2, bias=False), MConv(c // 2, c // 2, 3, 'B'),\n"
                "            nn.Conv2d(c // 2, c, 1)]) for _ in range(n))\n"
                "        self.out = nn.ModuleList([nn.Conv2d(c, c, 1), nn.Conv2d(c, 1, 1)])\n"
                "    def forward(self, x, y):\n"
                "        onehot = F.one_hot(y, self.k).to(x.dtype)\n"
                "        a = self.first(x)\n"
                "        for c_in, cls, conv, c_out in self.mid:\n"
                "            h = torch.relu(c_in(torch.relu(a))) + cls(onehot)[..., None, None]\n"
                "            a = a + c_out(torch.relu(conv(h)))\n"
                "        return self.out[1](torch.relu(self.out[0](torch.relu(a))))\n"
                "def draw(net, u, given, y, start):\n"
                "    out = given.clone().flatten(1)\n"
                "    out[:, start:] = 0\n"
                "    H, W = given.shape[-2:]\n"
                "    with torch.no_grad():\n"
                "        for r in range(H):\n"
                "            for c in range(W):\n"
                "                if r * W + c < start:\n"
                "                    continue\n"
                "                i = r * W + c\n"
                "                q = net(out.view(given.shape), y).flatten(1)[:, i].sigmoid()\n"
                "                out[:, i] = torch.where(u[:, i] < q, 1.0, 0.0)\n"
                "    return out.view(given.shape)\n"
                "def train_pixelcnn(x, y, n_classes, steps, lr, batch_size, x_eval, y_eval,\n"
                "                   uniforms, start=0, channels=16, blocks=2):\n"
                "    net = Net(channels, blocks, n_classes)\n"
                "    opt = torch.optim.Adam(net.parameters(), lr=lr)\n"
                "    out = []\n"
                "    for _ in range(steps):\n"
                "        pick = torch.randint(0, x.shape[0], (batch_size,))\n"
                "        b = x[pick]\n"
                "        logit = net(b, y[pick])\n"
                "        ll = b * F.logsigmoid(logit) + (1 - b) * F.logsigmoid(-logit)\n"
                "        nll = -ll.flatten(1).sum(1).mean()\n"
                "        opt.zero_grad()\n"
                "        nll.backward()\n"
                "        opt.step()\n"
                "        out.append(nll.detach())\n"
                "    with torch.no_grad():\n"
                "        logits = net(x_eval, y_eval).flatten(1)\n"
                "    n = len(uniforms)\n"
                "    samples = draw(net, uniforms, x_eval[:n], y_eval[:n], start)\n"
                "    return torch.stack(out), logits, samples\n"
            ),
        },
    ),
    "09_diffusion": Assignment(
        "09_diffusion",
        "ncsn_from_scratch",
        checks.diffusion,
        {
            "the levels run from the smallest": (
                ("        for sigma in sigmas:\n", "        for sigma in reversed(sigmas):\n"),
                "properties",
            ),
            "eps for every level's step": (
                ("alpha = eps * sigma**2 / sigmas[-1] ** 2", "alpha = eps"),
                "properties",
            ),
            "lecture 07's sqrt(2 alpha) noise with the drift alpha / 2": (
                (
                    "math.sqrt(alpha) * torch.randn_like(x)",
                    "math.sqrt(2 * alpha) * torch.randn_like(x)",
                ),
                "properties",
            ),
            "plain Langevin at the smallest level (as many steps)": (
                (
                    "        for sigma in sigmas:\n",
                    "        for sigma in sigmas[-1:] * len(sigmas):\n",
                ),
                "properties",
            ),
            "the exact samples drawn with the learned score": (
                ("anneal(exact_score, x0)", "anneal(learned, x0)"),
                "properties",
            ),
            "the chains moved in place (x0 changed)": (
                (
                    "x = x + 0.5 * alpha * score(x, sigma)",
                    "x += 0.5 * alpha * score(x, sigma)",
                ),
                "properties",
            ),
            "the network blind to sigma (no log sigma input)": (
                ("sigma.log()], dim=1)", "0 * sigma], dim=1)"),
                "properties",
            ),
            "the denoising target's sign flipped": (
                ("learned(x_noisy, sigma) + noise) ** 2", "learned(x_noisy, sigma) - noise) ** 2"),
                "properties",
            ),
            "a linear network (the SiLUs dropped)": (
                (
                    '"silu").to(data)\n',
                    '"silu").to(data)\n'
                    "    net = torch.nn.Sequential(\n"
                    "        *[m for m in net if not isinstance(m, torch.nn.SiLU)]\n"
                    "    )\n",
                ),
                "outcome",
            ),
        },
        right={
            # the network as a Module, the input scaled by the data's variance (the task's
            # mean square is one choice of scale), the levels as Python floats drawn one per
            # example with multinomial, the exact chains run first, the step written with
            # the drift and the noise apart
            "a Module, the data's variance, the exact chains first": (
                "class Score(torch.nn.Module):\n"
                "    def __init__(self, D, v):\n"
                "        super().__init__()\n"
                "        self.v = v\n"
                "        self.body = torch.nn.Sequential(\n"
                "            torch.nn.Linear(D + 1, 128), torch.nn.SiLU(),\n"
                "            torch.nn.Linear(128, 128), torch.nn.SiLU(),\n"
                "            torch.nn.Linear(128, 128), torch.nn.SiLU(),\n"
                "            torch.nn.Linear(128, D))\n"
                "    def forward(self, x, sigma):\n"
                "        s = torch.full((len(x), 1), 1.0, dtype=x.dtype) * sigma\n"
                "        h = torch.cat([x / torch.sqrt(self.v + s * s), torch.log(s)], 1)\n"
                "        return self.body(h) / s\n"
                "def langevin_down(score, x, sigmas, k, eps):\n"
                "    x = x.clone()\n"
                "    for i in range(len(sigmas)):\n"
                "        a = eps * (sigmas[i] / sigmas[-1]) ** 2\n"
                "        for _ in range(k):\n"
                "            drift = a / 2 * score(x, sigmas[i])\n"
                "            x = x + drift + a ** 0.5 * torch.randn(x.shape, dtype=x.dtype)\n"
                "    return x\n"
                "def ncsn_from_scratch(data, sigmas, steps, lr, batch_size, probes, exact_score,\n"
                "                      x0, steps_per_level, eps):\n"
                "    exact = langevin_down(exact_score, x0, sigmas, steps_per_level, eps)\n"
                "    model = Score(data.shape[1], data.var(0).mean()).to(data.dtype)\n"
                "    opt = torch.optim.Adam(model.parameters(), lr=lr)\n"
                "    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.0, total_iters=steps)\n"
                "    lv = torch.tensor([float(s) for s in sigmas], dtype=data.dtype)\n"
                "    losses = []\n"
                "    for _ in range(steps):\n"
                "        idx = torch.randint(0, data.shape[0], (batch_size,))\n"
                "        w = torch.ones(len(lv))\n"
                "        pick = torch.multinomial(w, batch_size, replacement=True)\n"
                "        s = lv[pick].unsqueeze(1)\n"
                "        n = torch.randn(batch_size, data.shape[1], dtype=data.dtype)\n"
                "        out = model(data[idx] + s * n, s)\n"
                "        loss = 0.5 * ((s * out + n) ** 2).sum(1).mean()\n"
                "        opt.zero_grad()\n"
                "        loss.backward()\n"
                "        opt.step()\n"
                "        sched.step()\n"
                "        losses.append(loss.item())\n"
                "    with torch.no_grad():\n"
                "        scores = torch.stack([model(probes, s) for s in sigmas])\n"
                "        samples = langevin_down(model, x0, sigmas, steps_per_level, eps)\n"
                "    return torch.tensor(losses), scores, samples, exact\n"
            ),
        },
    ),
}


def recorded_wrong(assignment: Assignment, properties: str, outcome: str) -> str:
    """The first wrong build whose recorded parts, on every hidden variant, all ``"passed"`` or
    all ``"failed"`` as asked: e.g. ``("failed", "passed")``, a submission that earns only the
    outcome's share, or ``("failed", "failed")``, one that earns nothing."""
    import json

    rows = json.loads(records.course_records.ASSIGNMENTS.read_text())
    prefix = f"{assignment.lecture} build {assignment.grade_id}, wrong: "
    found = {(r["model"], r["metric"].rsplit(": ", 1)[1]): r for r in rows}
    wanted = {"properties": properties, "outcome": outcome}
    for name in assignment.wrong:
        parts = {p: found.get((prefix + name, p)) for p in wanted}
        if all(
            r and r["value"] == (r["seeds"] if wanted[p] == "passed" else 0)
            for p, r in parts.items()
        ):
            return name
    raise ValueError(f"{assignment.lecture}: no recorded wrong build with {wanted}")


def outcome_only(assignment: Assignment) -> str:
    """A wrong build that fails the properties and passes the outcome on every variant."""
    return recorded_wrong(assignment, "failed", "passed")


def release(lecture: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "notebooks" / f"{lecture}.ipynb", as_version=4)


def reference_source(assignment: Assignment) -> str:
    """The reference build: the solution notebook's answer cell, without the markers."""
    nb = nbformat.read(ROOT / "solutions" / f"{assignment.lecture}.ipynb", as_version=4)
    (source,) = grade.answers(nb, assignment.grade_id)
    lines = [line for line in source.splitlines() if "### BEGIN SOLUTION" not in line]
    return "\n".join(line for line in lines if "### END SOLUTION" not in line) + "\n"


def wrong_source(assignment: Assignment, name: str) -> str:
    """The reference build with the mistake ``name`` made in it."""
    *edits, _ = assignment.wrong[name]
    source = reference_source(assignment)
    for old, new in edits:
        if source.count(old) != 1:
            raise ValueError(f"{assignment.lecture} {name!r}: {old!r} is not once in the answer")
        source = source.replace(old, new)
    return source


def build(assignment: Assignment, source: str):
    """The function an answer cell defines, in the namespace the grader gives it: the release
    notebook's imports and the earlier exercises (here the library's answers to them)."""
    nb = release(assignment.lecture)
    ns: dict = {}
    exec(grade.imports(nb), ns)  # noqa: S102  (the course's own sources)
    for ex in grade.exercises(nb):
        if ex["grade_id"] == assignment.grade_id:
            break
        check = getattr(checks, ex["check"].rsplit(".", 1)[1])
        ns[ex["grade_id"]] = check.references[0]
    exec(compile(source, f"<{assignment.grade_id}>", "exec"), ns)  # noqa: S102
    return ns[assignment.grade_id]


def judge(assignment: Assignment, fn, variant: int) -> tuple[harness.CheckResult, list, float]:
    """The build's check on ``fn`` at ``variant``: the result, what it measured, seconds."""
    harness.set_variant(variant)
    harness.measurements.clear()
    torch.manual_seed(harness.seeded(0))
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assignment.check(fn)
    finally:
        harness.set_variant(0)
    seconds = time.perf_counter() - t0
    return harness.results[assignment.grade_id], list(harness.measurements), seconds


def judge_part(assignment: Assignment, fn, variant: int, part: str) -> harness.CheckResult:
    """One part (``"properties"`` or ``"outcome"``) of the build's check on ``fn`` at
    ``variant``, judged alone: what a test of one wrong build needs, at half the cost."""
    harness.set_variant(variant)
    torch.manual_seed(harness.seeded(0))
    try:
        spec = getattr(assignment.check.__wrapped__(fn), part)
        with contextlib.redirect_stdout(io.StringIO()):
            return harness.run_check(
                assignment.grade_id,
                spec.student or fn,
                spec.reference or assignment.check.references[0],
                spec.cases,
                spec.judges,
                spec.diagnoses,
                spec.hint,
                quiet=True,
            )
    finally:
        harness.set_variant(0)


def parts(result: harness.CheckResult) -> dict[str, bool]:
    """Which parts of a build's check passed, from its result."""
    if result.passed:
        return {"properties": True, "outcome": True}
    lines = {line.split(" (", 1)[0]: line for line in result.details.splitlines()}
    return {p: "passed all" in lines.get(p, "") for p in ("properties", "outcome")}


def calibrate(assignment: Assignment, variants: int, only: list[str] | None = None) -> list[dict]:
    """Records for the reference build, each wrong build and each other right one over
    ``variants`` hidden variants (only the builds labelled in ``only``, when given)."""
    out = []
    builds = {"the reference": (reference_source(assignment), None)}
    for name, (*_, part) in assignment.wrong.items():
        builds[f"wrong: {name}"] = (wrong_source(assignment, name), part)
    for name, source in assignment.right.items():
        builds[f"right: {name}"] = (source, None)
    if only:
        builds = {label: b for label, b in builds.items() if label in only}
    for label, (source, part) in builds.items():
        fn = build(assignment, source)
        passed = {"properties": [], "outcome": [], "build": []}
        stats: dict[str, list[float]] = {}
        slowest = 0.0
        for v in range(1, variants + 1):
            result, found, seconds = judge(assignment, fn, v)
            slowest = max(slowest, seconds)
            got = parts(result)
            for p in ("properties", "outcome"):
                passed[p].append(int(got[p]))
            passed["build"].append(int(result.passed))
            for m in found:
                for k, value in m.items():
                    stats.setdefault(k, []).append(value)
            print(f"{assignment.lecture} {label:55s} variant {v:2d}: {result.status}")
        for p, per_seed in passed.items():
            extra = {"fails": part} if part else {}
            out.append(
                records.make_record(
                    model=f"{assignment.lecture} build {assignment.grade_id}, {label}",
                    metric=f"hidden variants passed: {'whole build' if p == 'build' else p}",
                    value=sum(per_seed),
                    paper_value=None,
                    paper="-",
                    epochs=0,
                    train_seconds=round(slowest, 2),
                    device=records.device_name(torch.device("cpu")),
                    seeds=variants,
                    per_seed=per_seed,
                    thresholds=assignment.thresholds(),
                    measured={
                        k: [float(f"{min(v):.4g}"), float(f"{max(v):.4g}")]
                        for k, v in stats.items()
                    },
                    check_seconds=round(slowest, 2),
                    **extra,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.assignments", __doc__)
    parser.add_argument("--lectures", nargs="*", default=list(ASSIGNMENTS))
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument(
        "--builds",
        nargs="*",
        default=None,
        help="only these builds (their record's label: 'the reference', 'wrong: <name>', "
        "'right: <name>'); the other records are kept",
    )
    args = parser.parse_args(argv)
    for lecture in args.lectures:
        recs = calibrate(ASSIGNMENTS[lecture], args.variants, args.builds)
        records.write("assignments", recs, records.results_dir(args))
        for r in recs:
            print(f"{r['model']:80s} {r['metric']:40s} {r['value']}/{r['seeds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
