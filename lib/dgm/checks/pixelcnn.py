"""Checks of lecture 08 (PixelCNN): the causal mask, the sampling loop, bits per dimension,
and the build assignment (a PixelCNN from masked convolutions, and its training loop).

The mask is compared entry for entry on every kernel size and type; the sampling loop on a
small random PixelCNN (float64, so no rounding flips a pixel), with the uniforms the
exercise prescribes; the conversion on nats of several sizes, floats and tensors alike. The
build is judged by what its model computes: which pixels each logit reads (every pixel of a
small image flipped in turn), the losses it reports, and the exact likelihood of held-out
images of a hidden autoregressive texture after a fixed budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import pixelcnn
from .harness import (
    Build,
    Exact,
    Judging,
    Property,
    exercise,
    generator,
    measured,
    seeded,
    size,
)

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


@exercise(pixelcnn.sample_naive, pixelcnn.sample_fast, pixelcnn.sample, pixelcnn.complete)
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


# ------------------------------------------------------------------------ train_pixelcnn (build)

# the thresholds, calibrated by ``python -m benchmarks.assignments`` (the reference build on 20
# hidden variants and every recorded wrong build: benchmarks/results/assignments.json)
READ_TOL = 1e-5  # a logit that moves more than this when a later pixel flips reads it
WINDOW_TOL = 1e-9  # a logit that moves more than this when a pixel of its window flips reads it
LOSS_RTOL = 1e-3  # the losses returned against the NLL of the logits returned, relative
EXCESS_TOL = 2.0  # nats per image above the hidden texture's exact NLL
# the steps before the completion case samples: a trained model leans on its neighbours, so a
# sampler that reads the wrong context draws many pixels wrong, not a handful
COMPLETION_STEPS = 150
SAMPLE_TOL = 1e-6  # a drawn pixel whose uniform is this close to p is not judged
BELOW_TOL = 0.5  # nats per image below it: only a model that reads what it predicts gets there
WINDOW = 3  # the first layer's 7x7 type-A window: 3 rows above, 3 columns either side
CLASSES = 3  # the hidden textures' classes


def texture(g: torch.Generator, height: int, width: int, n_classes: int = 1):
    """A hidden class-conditional autoregressive texture: in an image of class ``y``, pixel
    (r, c) is 1 with probability ``sigmoid(b_y + w_y . f)``, ``f`` the six pixels left, two
    left, above, above-left, above-right and two above (0 outside the image) and the product
    of the left and above ones. Each class's ``w_y`` and ``b_y`` are drawn from ``g`` until
    its pixels' mean lies in the class's own band (classes apart: 0.15-0.35, 0.40-0.60,
    0.65-0.85 for three; 0.2-0.8 for one). Returns a function that draws ``n`` images
    (n, 1, H, W) and their labels (n,), uniform over the classes, and the exact
    log-likelihood ``log p(x | y)`` of images given labels (one value each, nats)."""

    def features(x, r, c):  # x: (n, H, W) -> (n, 7), the pixels pixel (r, c) depends on
        pad = F.pad(x, (2, 2, 2, 0))  # x[:, r, c] is pad[:, r + 2, c + 2]
        left, above = pad[:, r + 2, c + 1], pad[:, r + 1, c + 2]
        return torch.stack(
            [left, pad[:, r + 2, c], above, pad[:, r + 1, c + 1], pad[:, r + 1, c + 3]]
            + [pad[:, r, c + 2], left * above],
            -1,
        )

    def logits(x, w, b):  # x: (n, 1, H, W), w (n, 7), b (n,) -> (n, H, W), each pixel's logit
        x = x[:, 0]
        return torch.stack(
            [
                torch.stack([b + (features(x, r, c) * w).sum(-1) for c in range(width)], -1)
                for r in range(height)
            ],
            1,
        )

    def sample(w, b):  # w (n, 7), b (n,): one image per row
        x = torch.zeros(len(b), 1, height, width)
        for r in range(height):
            for c in range(width):
                p = torch.sigmoid(b + (features(x[:, 0], r, c) * w).sum(-1))
                x[:, 0, r, c] = torch.bernoulli(p, generator=g)
        return x

    ws, bs = [], []
    for k in range(n_classes):
        centre = 0.5 if n_classes == 1 else 0.25 + 0.5 * k / (n_classes - 1)
        band = 0.3 if n_classes == 1 else 0.1
        while True:
            w = 2 * torch.randn(7, generator=g)
            b = torch.randn((), generator=g) - w[:6].sum() / 2
            if abs(sample(w.expand(200, -1), b.expand(200)).mean() - centre) <= band:
                break
        ws.append(w)
        bs.append(b)
    W_, B_ = torch.stack(ws), torch.stack(bs)  # (classes, 7), (classes,)

    def draw(n):
        y = torch.randint(n_classes, (n,), generator=g)
        return sample(W_[y], B_[y]), y

    def log_lik(x, y):
        bce = F.binary_cross_entropy_with_logits(logits(x, W_[y], B_[y]), x[:, 0], reduction="none")
        return -bce.sum((1, 2))

    return draw, log_lik


def flipped(base: torch.Tensor) -> torch.Tensor:
    """Each image of ``base`` (R, 1, H, W), then that image with pixel j flipped, for every j
    in raster order: (R * (1 + H * W), 1, H, W)."""
    R, _, H, W = base.shape
    flat = base.reshape(R, 1, H * W)
    flips = (flat + torch.eye(H * W)) % 2  # (R, HW, HW): row j has pixel j flipped
    return torch.cat([flat, flips], 1).reshape(-1, 1, H, W)


def reads(logits: torch.Tensor, R: int, H: int, W: int) -> torch.Tensor:
    """``reads[i, j]``: how far the logit of pixel ``i`` moved when pixel ``j`` flipped, the
    largest over the ``R`` images of ``flipped``; a (HW, HW) matrix."""
    out = logits.detach().double().reshape(R, 1 + H * W, H * W)
    change = (out[:, 1:] - out[:, :1]).abs()  # (R, j, i)
    return change.amax(0).T


def window(H: int, W: int) -> torch.Tensor:
    """The pixels a PixelCNN's first layer reads, (HW, HW) bool: ``[i, j]`` for the pixels j
    before i in raster order at most ``WINDOW`` rows above and ``WINDOW`` columns aside."""
    r, c = torch.arange(H * W) // W, torch.arange(H * W) % W
    dr, dc = r[:, None] - r[None, :], (c[:, None] - c[None, :]).abs()
    earlier = torch.arange(H * W)[:, None] > torch.arange(H * W)[None, :]
    return earlier & (dr <= WINDOW) & (dc <= WINDOW)


def _pixel(i: int, W: int) -> str:
    return f"({i // W}, {i % W})"


def _as_output(out, n: int, H: int, W: int, steps: int, S: int):
    """The build's ``(losses, logits, samples)``, checked and shaped; else what it should
    return."""
    if not isinstance(out, tuple) or len(out) != 3 or not all(torch.is_tensor(t) for t in out):
        return None, (
            "return a tuple of three tensors, (losses, logits, samples): the (steps,) losses, "
            "the trained model's logits on x_eval, (M, 1, H, W), and its samples from the "
            "uniforms, (S, 1, H, W)"
        )
    losses, logits, samples = out
    if tuple(losses.shape) != (steps,):
        return None, f"return the loss of each step, shape {(steps,)}; got {tuple(losses.shape)}"
    if logits.numel() != n * H * W:
        return None, (
            f"return the logits of x_eval, shape {(n, 1, H, W)}; got {tuple(logits.shape)}"
        )
    if not torch.isfinite(logits).all():
        return None, "some logits are not finite (nan or inf): check the model and its training"
    if samples.numel() != S * H * W:
        return None, (
            f"return the samples, one image per row of uniforms, shape {(S, 1, H, W)}; got "
            f"{tuple(samples.shape)}"
        )
    samples = samples.detach().double().reshape(S, 1, H, W)
    if not ((samples == 0) | (samples == 1)).all():
        return None, "the samples must be binary images (every pixel 0 or 1)"
    return (losses.detach().double(), logits.detach().double().reshape(n, 1, H, W), samples), None


IN_PLACE = (
    "your function changed the images of x_eval in place: draw on a copy (given.clone()) and "
    "return new tensors, leaving x_eval as it was."
)


def _uniforms(g: torch.Generator, S: int, H: int, W: int) -> torch.Tensor:
    return torch.rand(S, H * W, generator=g)


def _completion_probes(images: torch.Tensor, u: torch.Tensor, start: int):
    """Each image four times, with pixels ``start - 1`` and ``start`` set to (0, 0), (0, 1),
    (1, 0) and (1, 1), each copy with its image's uniforms: ``(4R, 1, H, W)`` and
    ``(4R, HW)``. The right sampler keeps pixel ``start - 1`` and redraws pixel ``start``
    (the same value in the two copies that share pixel ``start - 1``), so a sampler that
    starts a pixel early or late meets a copy where that pixel is wrong, whatever the
    draws."""
    R, _, H, W = images.shape
    flat = images.reshape(R, 1, H * W).repeat(1, 4, 1)  # (R, 4, HW)
    flat[:, :, start - 1] = torch.tensor([0.0, 0.0, 1.0, 1.0])
    flat[:, :, start] = torch.tensor([0.0, 1.0, 0.0, 1.0])
    return flat.reshape(4 * R, 1, H, W), u.repeat_interleave(4, 0)


def _image_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, x.to(logits), reduction="none")
    return bce.sum((1, 2, 3))  # nats per image


def _causal(run, args) -> str | None:
    """Each logit reads no pixel at or after its own in raster order, every pixel of its
    7x7 type-A window before it, and the label. At ``lr`` 0 the model is the one before
    training."""
    x, y, C, base, labels, u, steps, lr, batch, seed = args
    R, _, H, W = base.shape
    torch.manual_seed(seeded(seed))
    probes = torch.cat([flipped(base), base.repeat_interleave(C, 0)])  # then each in every class
    probe_labels = torch.cat([labels.repeat_interleave(1 + H * W), torch.arange(C).repeat(R)])
    got, problem = _as_output(
        run(x, y, C, steps, lr, batch, probes.clone(), probe_labels, u),
        len(probes),
        H,
        W,
        steps,
        len(u),
    )
    if problem:
        return problem + "."
    flips, classes = got[1][: R * (1 + H * W)], got[1][R * (1 + H * W) :]
    change = reads(flips, R, H, W)
    later = torch.ones(H * W, H * W).triu().bool()  # [i, j]: j at or after i
    needed = window(H, W)
    by_class = classes.reshape(R, C, H * W)
    moves = (by_class.amax(1) - by_class.amin(1)).amin(0)  # (HW,): the least any image moved
    measured(noncausal=change[later].max(), window=change[needed].min())
    if lr:  # class vectors started at 0 read nothing before training, and are right
        measured(label=moves.min())
    when = "after training" if lr else "before training"
    (bad,) = (later & (change > READ_TOL)).nonzero()[:1].tolist() or [None]
    if bad is not None:
        i, j = bad
        if i == j:
            return (
                f"{when}, the logit of pixel {_pixel(i, W)} (row, column) moves when that pixel "
                "flips: it reads the pixel it predicts. The first layer's mask is type A (no "
                "centre); only the later layers' (type B) keep the centre." + _after_training(lr)
            )
        return (
            f"{when}, the logit of pixel {_pixel(i, W)} (row, column) moves when pixel "
            f"{_pixel(j, W)} flips, which comes after it in raster order (row by row): every "
            "mask must zero the centre row right of the centre and every row below it."
            + _after_training(lr)
        )
    (gap,) = (needed & (change <= WINDOW_TOL)).nonzero()[:1].tolist() or [None]
    if gap is not None:
        i, j = gap
        return (
            f"{when}, the logit of pixel {_pixel(i, W)} (row, column) never reads pixel "
            f"{_pixel(j, W)}, which is before it and within its first layer's 7x7 window: the "
            "first layer is a 7x7 masked convolution of type A, the blocks' 3x3 convolutions "
            "type B, each block adding its input back."
        )
    deaf = (moves <= WINDOW_TOL).nonzero()[:, 0].tolist() if lr else []
    if deaf:
        which = (
            "no logit moves: your model ignores the labels (or the logits you return were "
            "computed without y_eval)"
            if len(deaf) == H * W
            else f"the logit of pixel {_pixel(deaf[0], W)} (row, column) does not move"
        )
        plane = (
            " A label fed as an extra input channel of the masked first layer is hidden from "
            "pixel (0, 0) by the type-A mask, which hides every input at a pixel from it."
            if deaf == [0]
            else ""
        )
        return (
            f"{when}, each of 3 images given each of the {C} labels in turn: {which}. Every "
            "logit must read the label: add the class's learned vector (an nn.Embedding) "
            "after the first layer and in each block, the same at every pixel." + plane
        )
    return None


def _after_training(lr: float) -> str:
    if not lr:
        return ""
    return (
        " The model passed this test before training: multiply the weights by the mask in "
        "forward, on every call, since the optimiser moves the weights a mask zeroed once."
    )


def _losses(run, args) -> str | None:
    """With lr 0 on copies of one image (one label), every loss returned is that image's NLL
    under the (unchanged) model, from the logits returned."""
    x, y, C, u, steps, batch, seed = args
    H, W = x.shape[-2:]
    torch.manual_seed(seeded(seed))
    got, problem = _as_output(
        run(x, y, C, steps, 0.0, batch, x[:1].clone(), y[:1], u), 1, H, W, steps, len(u)
    )
    if problem:
        return problem + "."
    losses, logits, _ = got
    nll = _image_nll(logits, x[:1]).item()
    error = ((losses - nll).abs() / nll).max().item()
    measured(loss_error=error)
    if error <= LOSS_RTOL:
        return None
    ratio = (losses / nll).mean().item()
    found = ", ".join(f"{v:.4g}" for v in losses.tolist())
    why = (
        " (that is nats per pixel: sum the pixels' terms)"
        if abs(ratio * H * W - 1) < 0.01
        else f" (that is the batch's sum: average over the {batch} images)"
        if abs(ratio / batch - 1) < 0.01
        else " (a loss of exactly 0: a step not run, or its loss not stored)"
        if (losses == 0).any()
        else " (those are not log-probabilities: are the logits you return probabilities, "
        "sigmoid already applied?)"
        if logits.min() >= 0 and logits.max() <= 1
        else ""
    )
    return (
        f"at lr 0 on {batch}-image batches of one image repeated (one label), the model never "
        f"changes, so "
        f"every loss should be that image's NLL, {nll:.4g} nats (from the logits you "
        f"returned); yours were {found}{why}. Each loss is the batch's mean over images of "
        "-log p(x) = sum over pixels of binary_cross_entropy_with_logits(logit, pixel)."
    )


def _samples(run, args) -> str | None:
    """The samples are the model's own: the first ``start`` pixels of the images given, and
    every later pixel ``i`` is 1 exactly when ``u_i < sigmoid(l_i)``, ``l_i`` the logit the
    same model gives the finished sample with its label (a causal model's logit at ``i``
    reads only the pixels before ``i``, which are final when ``i`` is drawn). Two calls with
    the same seed train the same model: the first draws the samples, the second's ``x_eval``
    is them."""
    x, y, C, given, labels, u, start, steps, lr, batch, seed = args
    S, _, H, W = given.shape
    # x_eval holds two more images than there are samples, of other classes: the samples
    # complete the first S, given the first S labels
    extra, extra_labels = given[-2:].clone(), (labels[-2:] + 1) % C
    x_eval, y_eval = torch.cat([given, extra]), torch.cat([labels, extra_labels])
    original = x_eval.clone()
    torch.manual_seed(seeded(seed))
    got, problem = _as_output(
        run(x, y, C, steps, lr, batch, x_eval, y_eval, u, start), S + 2, H, W, steps, S
    )
    if problem:
        return problem + "."
    if not torch.equal(x_eval, original):
        return IN_PLACE
    drawn = got[2]
    kept = drawn.reshape(S, -1)[:, :start] != given.reshape(S, -1)[:, :start].to(drawn)
    if kept.any():
        s, i = kept.nonzero()[0].tolist()
        return (
            f"sample {s}'s pixel {_pixel(i, W)} (row, column) differs from the image it "
            f"completes, but only pixels from start={start} on (raster order) are drawn: keep "
            "the first start pixels of each image as they are."
        )
    torch.manual_seed(seeded(seed))
    again, problem = _as_output(
        run(x, y, C, steps, lr, batch, torch.cat([drawn.to(given), extra]), y_eval, u, start),
        S + 2,
        H,
        W,
        steps,
        S,
    )
    if problem:
        return problem + "."
    if not torch.equal(again[0], got[0]):
        return (
            "called twice with the same torch.manual_seed, your function returned different "
            "losses, so it trained two different models: draw every random number (the "
            "batches' indices, the initialisation) from torch's generator, not numpy's or "
            "random's, and train on x only (the grader's second call changes x_eval), so "
            "that the grader can train your model twice and get the same one."
        )
    p = torch.sigmoid(again[1][:S]).reshape(S, -1)
    flat, u = drawn.reshape(S, -1), u.double()
    want = (u < p).double()
    judged = (u - p).abs() > SAMPLE_TOL  # a uniform within float error of p could go either way
    judged[:, :start] = False  # the kept pixels were checked above
    wrong = (flat != want) & judged
    measured(sample_mismatches=wrong.sum())
    if wrong.any() and (flat == (u > p).double())[judged].all():
        return (
            "every drawn pixel is 1 exactly when its uniform is above p(x_i = 1 | x_<i): that "
            "draws 1 with probability 1 - p. Set pixel i to 1 when uniforms[:, i] < p."
        )
    if wrong.any() and (wrong.nonzero()[:, 1] == start).all():
        kept = f"pixels 0 to {start - 1}" if start else "no pixel"
        return (
            f"every pixel drawn wrongly is pixel {start}, the first one to draw: start={start} "
            f"keeps {kept} and draws pixel {start} itself, from its logit on the canvas whose "
            "earlier pixels are the given ones."
        )
    if wrong.any():
        s, i = wrong.nonzero()[0].tolist()
        return (
            f"{'after' if lr else 'before'} training, sample {s}'s pixel {_pixel(i, W)} (row, "
            f"column) is {flat[s, i]:.0f}, but the model gives it p(x_i = 1 | "
            f"x_<i) = {p[s, i]:.4f} given the sample's earlier pixels and its uniform is "
            f"{u[s, i]:.4f}, so it should be {want[s, i]:.0f}. Draw the pixels one at a time in "
            "raster order (row by row), each from the model's logit at its position on the "
            "canvas as it stands then, given the image's label (the first S of y_eval, one "
            "per row of uniforms): 1 when "
            "uniforms[:, i] < sigmoid(logit), pixel i = "
            "row * W + column, and with the model you trained, whose logits you return (the "
            "check calls your function twice with the same seed, so the same model: once for "
            "the samples, once for their logits)."
        )
    if not torch.equal(again[2], drawn):
        return (
            "called twice with the same seed, the second time on the first call's samples, "
            "your function drew different samples from the same uniforms: they should depend "
            "only on the uniforms and the pixels kept, not on the values the later pixels had."
        )
    return None


def _learns_the_texture(run, args) -> str | None:
    """After the budget, the exact NLL of held-out images given their labels is near the
    hidden texture's own. (Given another class's label it is recorded, not judged: every
    recorded wrong build that misreads the labels is already far from the texture's NLL.)"""
    x, y, C, x_test, y_test, u, log_lik, steps, lr, batch, seed = args
    H, W, M = x.shape[-2], x.shape[-1], len(x_test)
    other = (y_test + 1) % C  # every image with another class's label
    torch.manual_seed(seeded(seed))
    got, problem = _as_output(
        run(x, y, C, steps, lr, batch, x_test.repeat(2, 1, 1, 1), torch.cat([y_test, other]), u),
        2 * M,
        H,
        W,
        steps,
        len(u),
    )
    if problem:
        return problem + "."
    nll = _image_nll(got[1][:M], x_test).mean().item()
    nll_other = _image_nll(got[1][M:], x_test).mean().item()
    truth = -log_lik(x_test, y_test).mean().item()
    measured(excess_nll=nll - truth, label_gain=nll_other - nll)
    if nll - truth < -BELOW_TOL:
        return (
            f"the held-out NLL is {nll:.2f} nats, {truth - nll:.2f} below the texture's own "
            f"{truth:.2f}: no causal model gets there, so yours reads the pixel it predicts or "
            "later ones (after training, if the properties passed before it)."
        )
    if not nll - truth <= EXCESS_TOL:
        return (
            f"after {steps} steps the held-out NLL given the labels is {nll:.2f} nats, the "
            f"hidden texture's own {truth:.2f}: more than {EXCESS_TOL:g} above (or not a "
            "number). Check the loss (the mean over the batch of the summed binary "
            "cross-entropy with the logits), the batches (drawn at random each step, each "
            "image with its own label: one index for both, x[idx] and y[idx]), the gradients "
            "zeroed, that the logits returned are the trained model's, and that the class "
            "enters the network before the head (after the first layer and in each block): a "
            "class's bias added to the logits cannot change how a pixel depends on the pixels "
            "before it, and the hidden classes differ in that."
        )
    return None


_PROPERTIES = {"reads": _causal, "losses": _losses, "samples": _samples}


@exercise(
    pixelcnn.train_pixelcnn,
    pixelcnn.fit,
    pixelcnn.training_step,
    pixelcnn.log_prob,
    pixelcnn.nll,
    pixelcnn.MaskedConv2d.forward,
    pixelcnn.ResidualBlock.forward,
    pixelcnn.PixelCNN.forward,
    pixelcnn.GatedLayer.forward,
    pixelcnn.GatedPixelCNN.forward,
    pixelcnn.complete,
    pixelcnn.sample_naive,
    pixelcnn.sample_fast,
    pixelcnn.sample,
)
def train_pixelcnn(fn: Callable) -> Build:
    """Check the build ``fn(x, y, n_classes, steps, lr, batch_size, x_eval, y_eval, uniforms,
    start=0) -> ((steps,) losses, logits, samples)``: a class-conditional PixelCNN (16
    channels, 2 blocks, a learned vector per class after the first layer and in each block)
    built from masked convolutions, trained by Adam on labelled binary images of any size,
    and its ancestral sampler.

    Properties (half the points): which pixels each logit reads, before training (one step
    at lr 0) and after 20 steps, every pixel of three small images flipped in turn (none at
    or after its own in raster order, every one of its 7x7 type-A window before it), and,
    after the 20 steps, that every logit moves when the label changes (class vectors started
    at 0 may read nothing before training); with lr 0 on one image repeated, every
    loss returned is that image's NLL from the logits returned; and the samples, drawn from
    scratch before training and completing images from their middle pixel after
    ``COMPLETION_STEPS`` steps, are the model's own: the given pixels kept, and each later
    pixel 1 exactly when its uniform is below ``sigmoid`` of the logit the same model (a
    second call with the same seed) gives the finished sample with its label. The type of
    each block's mask, the blocks' residual connections and where before the head the class
    vectors are added are not checked apart: other choices read the same pixels and the
    label, weaker
    models but causal ones. Outcome (the other half): 300 steps (lr 0.01, batches of 32) on
    2,000 labelled images 12x12 of a hidden texture of 3 classes; the exact NLL of 1,000
    held-out images given their labels within ``EXCESS_TOL`` nats above the texture's own
    (and no more than ``BELOW_TOL`` below it). The library's PixelCNN (its layers'
    ``forward``), ``fit``, ``training_step``, ``log_prob``, ``nll``, ``train_pixelcnn`` and
    its samplers are refused; ``causal_mask`` (exercise 1) is not.
    """
    C = CLASSES
    g = generator(140)
    H, W = size(9), size(9) + 2  # not square: rows and columns cannot be swapped unnoticed
    draw, _ = texture(g, H, W, C)
    x, y = draw(256)
    base = torch.bernoulli(torch.full((3, 1, H, W), 0.5), generator=g)
    base_labels = torch.randint(C, (3,), generator=g)
    one, one_label = draw(1)
    one, one_y = one.expand(8, -1, -1, -1).clone(), one_label.expand(8).clone()
    u = _uniforms(g, 1, H, W)
    given6, labels6 = draw(6)
    u6 = _uniforms(g, 6, H, W)
    middle = (H // 2) * W + W // 2  # the middle of the middle row, never a row's first pixel
    completed, u_completed = _completion_probes(given6[:3], u6[:3], middle)
    completed_labels = labels6[:3].repeat_interleave(4)
    side = f"{H}x{W}"
    properties = Judging(
        [
            (
                f"which pixels and labels each logit reads before training (one step at lr 0): "
                f"3 images {side}, every pixel flipped in turn, then each given each of the "
                f"{C} labels",
                ("reads", x, y, C, base, base_labels, u, 1, 0.0, 16, 141),
            ),
            (
                f"which pixels and labels each logit reads after 20 steps (lr 0.01, batches of "
                f"16 of 256 labelled texture images {side}): 3 images, every pixel flipped in "
                f"turn, then each given each of the {C} labels",
                ("reads", x, y, C, base, base_labels, u, 20, 0.01, 16, 142),
            ),
            (
                f"the losses of 3 steps at lr 0, batches of 4 of one {side} image repeated "
                "(one label)",
                ("losses", one, one_y, C, u, 3, 4, 143),
            ),
            (
                f"6 samples {side} of given classes (start=0) before training (one step at lr "
                "0), each pixel against the model's logit on the finished sample",
                ("samples", x, y, C, given6, labels6, u6, 0, 1, 0.0, 16, 146),
            ),
            (
                f"3 labelled texture images {side}, each in 4 copies with pixels {middle - 1} "
                f"and {middle} set to 00, 01, 10 and 11, completed from pixel {middle} "
                f"(start={middle}) after {COMPLETION_STEPS} steps (lr 0.01, batches of 16), "
                "each pixel drawn against the model's logit on the finished sample",
                (
                    "samples",
                    x,
                    y,
                    C,
                    completed,
                    completed_labels,
                    u_completed,
                    middle,
                    COMPLETION_STEPS,
                    0.01,
                    16,
                    147,
                ),
            ),
        ],
        [Property(lambda run, args: _PROPERTIES[args[0]](run, args[1:]))],
    )
    draw, log_lik = texture(generator(144), 12, 12, C)
    x_big, y_big = draw(2000)
    x_test, y_test = draw(1000)
    outcome = Judging(
        [
            (
                f"300 steps (lr 0.01, batches of 32) on 2,000 labelled images 12x12 of a hidden "
                f"texture of {C} classes; the exact NLL of 1,000 held-out images given their "
                "labels",
                (
                    x_big,
                    y_big,
                    C,
                    x_test,
                    y_test,
                    _uniforms(g, 2, 12, 12),
                    log_lik,
                    300,
                    0.01,
                    32,
                    145,
                ),
            )
        ],
        [Property(_learns_the_texture)],
    )
    return Build(properties, outcome)
