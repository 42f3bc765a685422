"""Checks of lecture 09 (score-based and diffusion models): the denoising score matching
loss, a draw of the forward process in closed form, one ancestral reverse step.

All three are deterministic once their noise is given, so each is judged exactly against
the reference, on cases chosen so that the likely slips give different numbers: a score
that is not linear, levels far from 1, a batch as long as the data's dimension (where a
step index broadcast along the wrong axis still runs), and the last step (no noise).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import diffusion
from .. import score as sm
from .harness import Exact, Judging, exercise, generator, size

# --------------------------------------------------------------------------- dsm_loss


def _mixture_score(y, sigma):
    """The score of a 2-D mixture blurred by ``sigma``: not linear in ``y``."""
    weights, means, stds = [0.4, 0.6], [[-1.0, 0.5], [1.5, -0.5]], [0.5, 0.8]
    return sm.mixture_score(y, weights, means, sm.noised_stds(stds, sigma))


def _linear_score(y, sigma):
    A = torch.tensor([[-1.0, 0.3, 0.0], [0.2, -0.5, 0.1], [0.0, 0.4, -2.0]], dtype=y.dtype)
    return y @ A.T / (1 + sigma**2)


def _dsm_cases():
    cases = []
    for i, (score, D, sigma) in enumerate(
        ((_mixture_score, 2, 0.5), (_linear_score, 3, 2.0), (_mixture_score, 2, 0.05))
    ):
        g = generator(40 + i)
        n = size(7)
        x = torch.randn(n, D, generator=g, dtype=torch.float64)
        noise = torch.randn(n, D, generator=g, dtype=torch.float64)
        cases.append((f"{n} points in {D}-D, sigma {sigma}", (score, x, sigma, noise)))
    return cases


def _dsm_diagnoses(args, out, ref) -> str | None:
    score, x, sigma, noise = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return one loss per example, shape (N,): sum over the dimensions, no mean."
    out = out.detach().double()
    x_noisy = x + sigma * noise
    s = score(x_noisy, sigma)
    if torch.allclose(out, 2 * ref):
        return "you forgot the factor 1/2."
    if torch.allclose(out, 0.5 * ((s - noise / sigma) ** 2).sum(-1)):
        return (
            "the target has the wrong sign: grad log q(x~ | x) = -(x~ - x) / sigma^2 = "
            "-n / sigma, so the loss is 1/2 ||s + n / sigma||^2."
        )
    if torch.allclose(out, 0.5 * ((s + noise * sigma) ** 2).sum(-1)):
        return "the target is -n / sigma, not -n * sigma: x~ - x = sigma n, divided by sigma^2."
    if torch.allclose(out, 0.5 * ((score(x, sigma) + noise / sigma) ** 2).sum(-1)):
        return "evaluate the score at the noisy point x~ = x + sigma * noise, not at x."
    if torch.allclose(out, sigma**2 * ref):
        return "no weight here: lambda(sigma) = sigma^2 is applied when the levels are mixed."
    return "loss_n = 1/2 || s(x~_n, sigma) + noise_n / sigma ||^2 with x~ = x + sigma * noise."


@exercise(sm.dsm_loss)
def dsm_loss(fn: Callable) -> Judging:
    """Check ``fn(score, x, sigma, noise) -> (N,)``: ``1/2 ||s(x + sigma n, sigma) + n /
    sigma||^2`` per example."""
    return Judging(_dsm_cases(), Exact(["loss"], rtol=1e-6, atol=1e-9), [_dsm_diagnoses])


# --------------------------------------------------------------------------- q_sample


def _forward_cases():
    abar = diffusion.alpha_bars(diffusion.linear_betas(50, 1e-3, 0.1))
    cases = []
    g = generator(50)
    x = torch.randn(4, 4, generator=g, dtype=torch.float64)  # as many examples as dimensions
    noise = torch.randn(4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 7, 30, 49])
    cases.append(("4 examples of 4 dimensions, one step each (0, 7, 30, 49)", (x, t, abar, noise)))
    n = size(5)
    x = torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64)
    noise = torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64)
    cases.append((f"{n} images 1x6x6, all at step 20", (x, 20, abar, noise)))
    t = torch.randint(50, (n,), generator=g)
    cases.append((f"{n} images 1x6x6, steps {t.tolist()}", (x, t, abar, noise)))
    return cases


def _forward_diagnoses(args, out, ref) -> str | None:
    x0, t, abar, noise = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return x_t with x0's shape: index abar[t] and shape it (B, 1, ...) to broadcast."
    out = out.detach().double()
    a = torch.as_tensor(abar)[torch.as_tensor(t)].reshape(-1, *([1] * (x0.dim() - 1)))
    if torch.allclose(out, a * x0 + (1 - a) * noise):
        return "take square roots: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."
    if torch.allclose(out, (1 - a).sqrt() * x0 + a.sqrt() * noise):
        return "the two weights are swapped: sqrt(abar_t) multiplies x0, the data's share."
    shifted = torch.as_tensor(abar)[(torch.as_tensor(t) - 1).clamp(min=0)]
    shifted = shifted.reshape(-1, *([1] * (x0.dim() - 1)))
    if torch.allclose(out, shifted.sqrt() * x0 + (1 - shifted).sqrt() * noise):
        return "off by one step: abar[t] (steps count from 0 here), not abar[t - 1]."
    flat = torch.as_tensor(abar)[torch.as_tensor(t)]
    if x0.dim() == 2 and flat.dim() == 1 and flat.shape[0] == x0.shape[1]:
        if torch.allclose(out, flat.sqrt() * x0 + (1 - flat).sqrt() * noise):
            return (
                "abar[t] is one number per example: reshape it to (B, 1, ...) so it "
                "multiplies rows; as (B,) it multiplied columns."
            )
    return "x_t = sqrt(abar[t]) * x0 + sqrt(1 - abar[t]) * noise, abar[t] one per example."


@exercise(diffusion.q_sample)
def q_sample(fn: Callable) -> Judging:
    """Check ``fn(x0, t, abar, noise) -> x_t``: the forward process at step ``t`` in one draw,
    ``t`` an int or one per example."""
    return Judging(_forward_cases(), Exact(["x_t"], rtol=1e-6, atol=1e-9), [_forward_diagnoses])


# --------------------------------------------------------------------------- ddpm_step


def _reverse_cases():
    betas = diffusion.linear_betas(40, 1e-3, 0.2)
    g = generator(60)
    cases = []
    for t in (25, 1, 0):
        n = size(3)
        x = torch.randn(n, 1, 5, 5, generator=g, dtype=torch.float64)
        eps = torch.randn(n, 1, 5, 5, generator=g, dtype=torch.float64)
        z = torch.randn(n, 1, 5, 5, generator=g, dtype=torch.float64)
        last = " (the last: no noise)" if t == 0 else ""
        cases.append((f"{n} images at step {t} of 40{last}", (x, t, eps, betas, z)))
    return cases


def _reverse_diagnoses(args, out, ref) -> str | None:
    x, t, eps, betas, z = args
    if not torch.is_tensor(out) or out.shape != ref.shape:
        return "return x_{t-1} with x_t's shape."
    out = out.detach().double()
    b = betas[t]
    a = diffusion.alpha_bars(betas)[t]
    mean = (x - b / (1 - a).sqrt() * eps) / (1 - b).sqrt()
    noise = b.sqrt() * z if t > 0 else 0.0
    if t == 0 and torch.allclose(out, mean + b.sqrt() * z):
        return "add no noise at the last step (t = 0): return the mean."
    if torch.allclose(out, mean + b * z):
        return "the noise's standard deviation is sqrt(beta_t), its variance beta_t."
    if torch.allclose(out, x - b / (1 - a).sqrt() * eps + noise):
        return (
            "divide by sqrt(1 - beta_t) = sqrt(alpha_t): the mean is (x_t - ...) / sqrt(alpha_t)."
        )
    if torch.allclose(out, (x - b / (1 - a) * eps) / (1 - b).sqrt() + noise):
        return "eps's weight is beta_t / sqrt(1 - abar_t): take the square root."
    if torch.allclose(out, (x - (1 - a).sqrt() * eps) / a.sqrt() + noise):
        return (
            "that is the predicted x_0 (DDIM's first half), a jump to the data: one ancestral "
            "step only removes beta_t / sqrt(1 - abar_t) of the noise."
        )
    return (
        "x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) * eps) / sqrt(1 - beta_t) + sqrt(beta_t) * z,"
        " without z at t = 0."
    )


@exercise(diffusion.ddpm_step)
def ddpm_step(fn: Callable) -> Judging:
    """Check ``fn(x_t, t, eps, betas, noise) -> x_{t-1}``: one ancestral step of Ho et al.
    with ``sigma_t^2 = beta_t``, no noise at ``t = 0``."""
    return Judging(_reverse_cases(), Exact(["x_prev"], rtol=1e-6, atol=1e-9), [_reverse_diagnoses])
