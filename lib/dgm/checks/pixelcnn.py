"""Checks of lecture 08 (PixelCNN): the causal mask, the sampling loop, bits per dimension.

The mask is compared entry for entry on every kernel size and type; the sampling loop on a
small random PixelCNN (float64, so no rounding flips a pixel), with the uniforms the
exercise prescribes; the conversion on nats of several sizes, floats and tensors alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import pixelcnn
from .harness import Exact, Judging, Property, exercise, generator, seeded

# --------------------------------------------------------------------------- causal_mask


def _mask_diagnoses(args, out, ref) -> str | None:
    k, mask_type = args
    if not torch.is_tensor(out) or tuple(out.shape) != (k, k):
        return f"return a ({k}, {k}) tensor of 0s and 1s."
    out, c = out.detach().double(), k // 2
    other = pixelcnn.causal_mask(k, "B" if mask_type == "A" else "A").double()
    if torch.equal(out, other):
        return (
            "types A and B are swapped: A (the first layer) must not read the centre pixel, "
            "the pixel it predicts; B keeps the centre."
        )
    if torch.equal(out, ref.double().T):
        return (
            "that is column order (the mask transposed): the pixels before the centre in "
            "raster order are all the rows above it, and the centre row left of it."
        )
    if out[c, c + 1 :].any() or out[c + 1 :].any():
        return (
            "the mask reads pixels after the centre: the centre row right of it and every "
            "row below must be 0, or the model sees what it predicts."
        )
    if not out[:c].all():
        return "every row above the centre comes earlier in raster order: all of it is 1."
    return "1 for the rows above the centre and the centre row left of it; the centre for B."


@exercise(pixelcnn.causal_mask)
def causal_mask(fn: Callable) -> Judging:
    """Check ``fn(kernel_size, mask_type) -> (k, k)`` mask of types A and B, k = 1, 3, 5, 7."""
    cases = [(f"kernel {k}, type {t}", (k, t)) for k in (3, 1, 5, 7) for t in ("A", "B")]
    return Judging(cases, Exact(["mask"], rtol=0, atol=0), diagnoses=[_mask_diagnoses])


# --------------------------------------------------------------------------- sample_naive


def small_model(seed: int = 0) -> pixelcnn.PixelCNN:
    """A random PixelCNN of 8 channels and 2 blocks in float64, its output bias shifted so
    both pixel values are common."""
    torch.manual_seed(seeded(seed))
    model = pixelcnn.PixelCNN(8, 2).double().eval()
    with torch.no_grad():
        model.head[3].bias.fill_(-0.3)
    return model


def _sample_diagnoses(args, out, ref) -> str | None:
    model, u = args
    if not torch.is_tensor(out) or out.numel() != ref.numel():
        return f"return the images, shape {tuple(ref.shape)}."
    out = out.detach().double().reshape(ref.shape)
    if not torch.isin(out, torch.tensor([0.0, 1.0], dtype=out.dtype)).all():
        return "return the sampled pixels (0 or 1), not their probabilities."
    with torch.no_grad():
        once = (u < torch.sigmoid(model(torch.zeros_like(ref))).reshape(len(u), -1)).double()
    if torch.equal(out.reshape(len(u), -1), once):
        return (
            "every pixel was drawn from one pass on a blank canvas: run the model again "
            "after each pixel is set, so p(x_i | x_<i) sees the pixels drawn before it."
        )
    if (out != ref).double().mean() > 0.2:
        return (
            "pixel i is 1 when uniforms[:, i] < p(x_i = 1 | x_<i), i in raster order "
            "(row by row: i = 28 * row + col), p the sigmoid of the logit at (row, col)."
        )
    return (
        "some pixels differ: in raster order, take the logit at (row, col) of model(x) on the "
        "canvas so far, p = sigmoid(logit), and set x[:, 0, row, col] = (uniforms[:, i] < p), "
        "i = 28 * row + col."
    )


@exercise(pixelcnn.sample_naive, pixelcnn.sample_fast, pixelcnn.sample)
def sample_naive(fn: Callable) -> Judging:
    """Check ``fn(model, uniforms) -> (B, 1, 28, 28)``: the naive sampling loop, pixel ``i``
    being 1 when ``uniforms[:, i] < p(x_i = 1 | x_<i)``; two small random PixelCNNs.

    The reference images come from ``sample_fast`` (the same images, tested, in a fraction
    of the time); the student's loop runs without autograd, which it does not need.
    """
    cases = []
    for seed, n in ((0, 2), (1, 1)):
        g = generator(50 + seed)
        u = torch.rand(n, pixelcnn.SIDE**2, generator=g, dtype=torch.float64)
        cases.append((f"a random 8-channel PixelCNN, {n} images", (small_model(seed), u)))

    def without_autograd(model, u):
        with torch.no_grad():
            return fn(model, u)

    return Judging(
        cases,
        Exact(["images"], rtol=0, atol=0),
        diagnoses=[_sample_diagnoses],
        student=without_autograd,
        reference=pixelcnn.sample_fast,
    )


# --------------------------------------------------------------------------- bits_per_dim


def _bits(run, args) -> str | None:
    nats, dims = args
    out = run(nats, dims)
    try:
        value = torch.as_tensor(out, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return f"return a number (or a tensor like nats); got {type(out).__name__}."
    want = torch.as_tensor(nats, dtype=torch.float64) / (dims * math.log(2))
    if value.shape != want.shape:
        return f"return one value per value of nats, shape {tuple(want.shape)}."
    if torch.allclose(value, want, rtol=1e-6, atol=0):
        return None
    if torch.allclose(value, want * dims, rtol=1e-6, atol=0):
        return "that is bits per image: divide by the number of dimensions as well."
    if torch.allclose(value, want * math.log(2) ** 2, rtol=1e-6, atol=0):
        return "nats to bits divides by ln 2 (1 bit = ln 2 nats); you multiplied."
    if torch.allclose(value, want * math.log(2), rtol=1e-6, atol=0):
        return "that is nats per dimension: divide by ln 2 to get bits."
    return "bits per dimension = nats / (dims * ln 2)."


@exercise(pixelcnn.bits_per_dim)
def bits_per_dim(fn: Callable) -> Judging:
    """Check ``fn(nats, dims)``: nats per image to bits per dimension, for floats and tensors."""
    cases = [
        ("81.3 nats for a 28x28 image", (81.3, 784)),
        ("a tensor of three NLLs, 784 pixels", (torch.tensor([80.0, 95.5, 120.0]), 784)),
        ("6,000 nats for a 32x32x3 image", (6000.0, 3072)),
    ]
    return Judging(cases, [Property(_bits)])
