"""PixelCNN and gated PixelCNN (lecture 08): an exact likelihood by the chain rule.

An image ``x`` of ``D = 28 x 28`` binary pixels, read in raster order, factorises as

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

each factor a Bernoulli whose logit a convolutional network computes from the pixels before
``i``. Causality is enforced by masking the convolution weights (``causal_mask``): the first
layer (type A) excludes the centre pixel, every later one (type B) may read its own
position, which by then only carries information about earlier pixels. ``log p(x)`` is one
forward pass, so training is plain maximum likelihood; sampling is sequential, 784 passes
(``sample_naive``), or one pass's arithmetic when each activation is computed once, when its
pixel comes (``sample_fast``).

The plain PixelCNN (van den Oord et al. 2016a) has a blind spot: stacked masked 3x3
kernels never reach part of the region above and to the right of a pixel. The gated
PixelCNN (van den Oord et al. 2016b) splits the network into a vertical stack (all rows
above) and a horizontal stack (the row so far), which removes it (``GatedPixelCNN``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SIDE = 28  # MNIST images are SIDE x SIDE


def causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The (k, k) mask of a masked convolution: 1 where the kernel may read.

    Rows above the centre, and the centre row left of the centre, come before the output
    pixel in raster order; type ``"B"`` also keeps the centre itself, type ``"A"`` does not.
    """
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"causal_mask: kernel_size must be an odd int >= 1, got {kernel_size!r}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"causal_mask: mask_type must be 'A' or 'B', got {mask_type!r}")
    k, c = kernel_size, kernel_size // 2
    mask = torch.zeros(k, k)
    mask[:c, :] = 1  # every row above the centre
    mask[c, :c] = 1  # the centre row, left of the centre
    if mask_type == "B":
        mask[c, c] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """A square ``k x k`` convolution (same padding) that reads only earlier pixels."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, mask_type: str):
        super().__init__(c_in, c_out, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, c_in, H, W) -> (B, c_out, H, W); the masked weights see no later pixel
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ResidualBlock(nn.Module):
    """PixelRNN's residual block: ReLU, 1x1 (2h to h), ReLU, masked 3x3 (type B), ReLU,
    1x1 (h to 2h), added to the input. With ``n_classes``, a learned vector for the image's
    class is added to the masked convolution's input (class-conditional)."""

    def __init__(self, channels: int, n_classes: int = 0):
        super().__init__()
        h = channels // 2
        self.conv_in = nn.Conv2d(channels, h, 1)
        self.conv = MaskedConv2d(h, h, 3, "B")
        self.conv_out = nn.Conv2d(h, channels, 1)
        self.embed = nn.Embedding(n_classes, h) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, H, W), y: (B,) labels -> (B, C, H, W); 1x1 to C/2, masked 3x3, 1x1 back to C
        t = F.relu(self.conv_in(F.relu(x)))  # (B, C/2, H, W)
        if self.embed is not None:
            t = t + self.embed(y)[:, :, None, None]  # the class, the same at every pixel
        return x + self.conv_out(F.relu(self.conv(t)))


def _check_images(who: str, x: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(x):
        raise TypeError(f"{who}: x must be a tensor, got {type(x).__name__}")
    if x.dim() == 2 and x.shape[1] == SIDE * SIDE:
        x = x.reshape(-1, 1, SIDE, SIDE)
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"{who}: x must be (B, 784) or (B, 1, H, W), got {tuple(x.shape)}")
    return x


class PixelCNN(nn.Module):
    """A 7x7 type-A masked convolution, ``blocks`` residual blocks, a 1x1 head; one Bernoulli
    logit per pixel. ``channels=32, blocks=5``: 19,649 parameters.

    With ``n_classes``, the model is class-conditional, ``p(x | y) = prod_i p(x_i | x_<i,
    y)`` (the conditional PixelCNN of van den Oord et al. 2016b, without its gates): a
    learned vector for the class ``y`` is added after the first layer and inside each block,
    the same at every pixel, so every logit reads the class and causality is untouched.
    """

    def __init__(
        self, channels: int = 32, blocks: int = 5, kernel_size: int = 7, n_classes: int = 0
    ):
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"PixelCNN: channels must be an even int >= 2, got {channels!r}")
        if not isinstance(n_classes, int) or n_classes < 0:
            raise ValueError(f"PixelCNN: n_classes must be an int >= 0, got {n_classes!r}")
        self.n_classes = n_classes
        self.first = MaskedConv2d(1, channels, kernel_size, "A")
        self.embed = nn.Embedding(n_classes, channels) if n_classes else None
        self.blocks = nn.ModuleList(ResidualBlock(channels, n_classes) for _ in range(blocks))
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, 1, 1)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, 1, H, W) of ``p(x_i = 1 | x_<i)`` (``p(x_i = 1 | x_<i, y)`` for a
        class-conditional model, ``y`` (B,) the labels) for binary images ``x`` (28 x 28
        digits, or images of any size: the network is convolutional)."""
        x = _check_images("PixelCNN", x).to(self.first.weight.dtype)
        a = self.first(x)  # (B, C, H, W)
        if self.embed is not None:
            y = _check_labels("PixelCNN", y, len(x), self.n_classes)
            a = a + self.embed(y)[:, :, None, None]  # the class, the same at every pixel
        elif y is not None:
            raise ValueError("PixelCNN: y given to a model made without n_classes")
        for block in self.blocks:
            a = block(a, y)  # (B, C, H, W)
        return self.head(a)  # (B, 1, H, W)


def _check_labels(who: str, y, n: int, n_classes: int) -> torch.Tensor:
    if not torch.is_tensor(y) or y.shape != (n,) or y.dtype.is_floating_point:
        got = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
        raise ValueError(f"{who}: y must be ({n},) integer labels (one per image), got {got}")
    if len(y) and not 0 <= int(y.min()) <= int(y.max()) < n_classes:
        raise ValueError(
            f"{who}: labels must be in [0, {n_classes}), got {int(y.min())}..{int(y.max())}"
        )
    return y


class GatedLayer(nn.Module):
    """One layer of the gated PixelCNN: a vertical and a horizontal stack, ``tanh * sigmoid``.

    The vertical convolution (``k//2 + 1`` rows by ``k`` columns, padded on top) sees the
    rows up to the current one; shifted down one row it reaches the horizontal stack, which
    then only learns about rows strictly above. The horizontal convolution (one row,
    ``k//2 + 1`` columns, padded on the left) sees the current row up to the pixel, the
    pixel itself excluded in the first layer (``first=True``, type A).
    """

    def __init__(self, c_in: int, channels: int, kernel_size: int, first: bool = False):
        super().__init__()
        k, self.first = kernel_size, first
        self.vertical = nn.Conv2d(c_in, 2 * channels, (k // 2 + 1, k))
        self.horizontal = nn.Conv2d(c_in, 2 * channels, (1, k // 2 + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        hmask = torch.ones(1, k // 2 + 1)
        if first:
            hmask[0, -1] = 0  # type A: not the pixel itself
        self.register_buffer("hmask", hmask)
        self.k = k

    @staticmethod
    def gate(a: torch.Tensor) -> torch.Tensor:
        value, gate = a.chunk(2, dim=1)
        return torch.tanh(value) * torch.sigmoid(gate)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # v, h: (B, C_in, 28, 28), the vertical and horizontal stacks -> two (B, C, 28, 28)
        p = self.k // 2
        v_conv = self.vertical(F.pad(v, (p, p, p, 0)))  # rows i - p .. i
        h_conv = F.conv2d(
            F.pad(h, (p, 0, 0, 0)), self.horizontal.weight * self.hmask, self.horizontal.bias
        )
        down = F.pad(v_conv, (0, 0, 1, 0))[:, :, :-1]  # row i gets row i - 1: strictly above
        h_new = self.h_out(self.gate(h_conv + self.v_to_h(down)))
        return self.gate(v_conv), h_new if self.first else h + h_new


class GatedPixelCNN(nn.Module):
    """``layers`` gated layers (the first 7x7, then 3x3) and a 1x1 head on the horizontal
    stack: no blind spot."""

    def __init__(self, channels: int = 32, layers: int = 6, kernel_size: int = 7):
        super().__init__()
        self.layers = nn.ModuleList(
            GatedLayer(1 if i == 0 else channels, channels, kernel_size if i == 0 else 3, i == 0)
            for i in range(layers)
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1, 28, 28) of ``p(x_i = 1 | x_<i)`` for binary images ``x``."""
        x = _check_images("GatedPixelCNN", x).to(self.head[1].weight.dtype)
        v = h = x  # (B, 1, 28, 28)
        for layer in self.layers:
            v, h = layer(v, h)  # (B, C, 28, 28) each
        return self.head(h)  # (B, 1, 28, 28)


# --------------------------------------------------------------------------- likelihood


def log_prob(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """``log p(x) = sum_i log p(x_i | x_<i)`` in nats, one value per image (B,); for a
    class-conditional model, ``log p(x | y)`` given the labels ``y`` (B,)."""
    x = _check_images("log_prob", x)
    logits = model(x) if y is None else model(x, y)
    return -F.binary_cross_entropy_with_logits(logits, x.to(logits), reduction="none").sum(
        (1, 2, 3)
    )


@torch.no_grad()
def nll(
    model: nn.Module, x: torch.Tensor, batch_size: int = 500, y: torch.Tensor | None = None
) -> float:
    """Mean negative log-likelihood (nats per image) of binary images ``x``, exactly (given
    their labels ``y``, for a class-conditional model)."""
    from .nets import evaluating

    with evaluating(model):
        total = sum(
            -log_prob(model, x[i : i + batch_size], None if y is None else y[i : i + batch_size])
            .sum()
            .item()
            for i in range(0, len(x), batch_size)
        )
    return total / len(x)


def bits_per_dim(nats: float, dims: int = SIDE * SIDE) -> float:
    """Nats per image to bits per dimension: divide by ``dims`` and by ``ln 2``."""
    return nats / (dims * math.log(2))


def dependence(model: nn.Module, row: int, col: int) -> torch.Tensor:
    """``|d logit(row, col) / d x|`` (28, 28): which input pixels the logit at (row, col)
    reads. Causality: zero at (row, col) and after it in raster order."""
    p = next(model.parameters())
    x = torch.bernoulli(torch.full((1, 1, SIDE, SIDE), 0.5, dtype=p.dtype, device=p.device))
    x.requires_grad_(True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0].abs()


def blind_spot(reach: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """Earlier pixels the logit at (row, col) does not read although a pixel above them in
    their column, or pixels on both sides in their row, are read: a (28, 28) bool map.

    A receptive field without a blind spot is a stack of nested intervals, each row's
    reach containing the one above; the plain PixelCNN's reaches further right the higher
    the row, leaving unread pixels in the shadow of read ones.
    """
    read = reach > 0
    earlier = torch.zeros_like(read)
    earlier[:row] = True
    earlier[row, :col] = True
    # read somewhere above in the same column (rows above the output's own row)
    shadow = torch.zeros_like(read)
    shadow[:row] = read[:row].int().cummax(0).values.bool()
    # read on both sides within the same row
    left = read.int().cummax(1).values.bool()
    right = read.flip(1).int().cummax(1).values.bool().flip(1)
    return earlier & ~read & (shadow | (left & right))


# --------------------------------------------------------------------------- sampling


def _uniforms(who: str, uniforms, like: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(uniforms):
        raise TypeError(f"{who}: uniforms must be a tensor, got {type(uniforms).__name__}")
    if uniforms.dim() != 2 or uniforms.shape[1] != SIDE * SIDE:
        raise ValueError(f"{who}: uniforms must be (n, 784), got {tuple(uniforms.shape)}")
    return uniforms.to(like)


def _start(given, start: int, B: int, like: torch.Tensor) -> torch.Tensor:
    """The canvas: zeros, or ``given``'s first ``start`` pixels (raster order) for completions."""
    x = torch.zeros(B, 1, SIDE, SIDE, dtype=like.dtype, device=like.device)
    if given is not None:
        if not 0 <= start <= SIDE * SIDE:
            raise ValueError(f"sample: start must be in [0, 784], got {start!r}")
        given = _check_images("sample", given)
        if len(given) != B:
            raise ValueError(
                f"sample: given must hold {B} images (one per row of uniforms), got {len(given)}"
            )
        x.view(B, -1)[:, :start] = given.reshape(B, -1)[:, :start].to(x)
    return x


@torch.no_grad()
def sample_naive(
    model: nn.Module, uniforms: torch.Tensor, given=None, start: int = 0, y=None
) -> torch.Tensor:
    """Sample pixel by pixel, re-running the whole network for each of the 784 pixels.

    Pixel ``i`` is 1 when ``uniforms[:, i] < p(x_i = 1 | x_<i)``, so the same uniforms give
    the same images whatever sampler draws them. With ``given`` (B, 784), its first
    ``start`` pixels are kept and the rest completed; ``y`` (B,): the labels, for a
    class-conditional model.
    """
    like = next(model.parameters())
    u = _uniforms("sample_naive", uniforms, like)
    x = _start(given, start, len(u), like)
    return complete(model, u, x, start if given is not None else 0, y)


@torch.no_grad()
def complete(
    model: nn.Module, uniforms: torch.Tensor, given: torch.Tensor, start: int = 0, y=None
) -> torch.Tensor:
    """``given`` (B, 1, H, W) completed from pixel ``start`` on, re-running the network for each.

    Images of any size: the first ``start`` pixels (raster order) of ``given`` are kept and
    pixel ``i >= start`` is set to 1 when ``uniforms[:, i] < p(x_i = 1 | x_<i)``, in order.
    The later pixels' values in ``given`` are never read by a causal model, so they need no
    clearing. ``start=0`` draws whole samples. ``y`` (B,): the labels, for a
    class-conditional model (``p(x_i = 1 | x_<i, y)``).
    """
    x = given.clone()
    H, W = x.shape[-2:]
    if uniforms.shape != (len(x), H * W):
        raise ValueError(
            f"complete: uniforms must be {(len(x), H * W)} for given {tuple(x.shape)}, "
            f"got {tuple(uniforms.shape)}"
        )
    if not isinstance(start, int) or not 0 <= start <= H * W:
        raise ValueError(f"complete: start must be an int in [0, {H * W}], got {start!r}")
    for i in range(start, H * W):
        r, c = divmod(i, W)
        logits = model(x) if y is None else model(x, y)  # (B, 1, H, W), from the canvas
        p = torch.sigmoid(logits[:, 0, r, c])  # the conditional of pixel i
        x[:, 0, r, c] = (uniforms[:, i] < p).to(x)
    return x


def _as_matrix(conv: nn.Conv2d, mask=None) -> torch.Tensor:
    """A convolution's (masked) weights as a (C_out, C_in * k * k) matrix."""
    w = conv.weight if mask is None else conv.weight * mask
    return w.reshape(w.shape[0], -1)


def _conv_at(w: torch.Tensor, bias: torch.Tensor, patch: torch.Tensor) -> torch.Tensor:
    """One output position of a convolution: its (B, C, k, k) input patch to (B, C_out)."""
    return F.linear(patch.reshape(len(patch), -1), w, bias)


def _pointwise(conv: nn.Conv2d, a: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution at one position: a linear map of the (B, C) activations there."""
    return F.linear(a, conv.weight[:, :, 0, 0], conv.bias)


@torch.no_grad()
def sample_fast(model: PixelCNN, uniforms: torch.Tensor, given=None, start: int = 0, y=None):
    """``sample_naive``'s images, computing each activation once, when its pixel comes.

    In a causal network the activation of any layer at pixel ``i`` depends on pixels before
    ``i`` only, so it can be computed as soon as they are known and never changes after.
    Going through the pixels in raster order, each layer is evaluated at the current
    position alone, reading its (cached) input activations at earlier positions: one pass's
    arithmetic in all instead of 784 passes. ``y``: the labels, for a class-conditional
    model (its class vectors are the same at every pixel, added where ``forward`` adds them).
    """
    if not isinstance(model, PixelCNN):
        raise TypeError(f"sample_fast: model must be a PixelCNN, got {type(model).__name__}")
    like = next(model.parameters())
    u = _uniforms("sample_fast", uniforms, like)
    B, k, p = len(u), model.first.kernel_size[0], model.first.kernel_size[0] // 2
    x = _start(given, start, B, like)
    x_pad = F.pad(x, (p, p, p, p))  # the canvas, padded as the first convolution pads it
    # each block's input to its 3x3 convolution, padded by 1: filled in as pixels come
    caches = [x.new_zeros(B, blk.conv.in_channels, SIDE + 2, SIDE + 2) for blk in model.blocks]
    w_first = _as_matrix(model.first, model.first.mask)
    w_blocks = [_as_matrix(blk.conv, blk.conv.mask) for blk in model.blocks]
    fixed = start if given is not None else 0
    if model.n_classes:  # the class vectors: (B, C) after the first layer, (B, C/2) a block
        y = _check_labels("sample_fast", y, B, model.n_classes)
        first_class, block_class = model.embed(y), [blk.embed(y) for blk in model.blocks]
    else:
        first_class, block_class = 0.0, [0.0] * len(model.blocks)
    for i in range(SIDE * SIDE):
        r, c = divmod(i, SIDE)
        a = _conv_at(w_first, model.first.bias, x_pad[:, :, r : r + k, c : c + k]) + first_class
        for blk, cache, w, e in zip(model.blocks, caches, w_blocks, block_class):
            cache[:, :, r + 1, c + 1] = F.relu(_pointwise(blk.conv_in, F.relu(a))) + e
            t = _conv_at(w, blk.conv.bias, cache[:, :, r : r + 3, c : c + 3])
            a = a + _pointwise(blk.conv_out, F.relu(t))
        logit = _pointwise(model.head[3], F.relu(_pointwise(model.head[1], F.relu(a))))
        if i >= fixed:  # sample; the given pixels of a completion stay as they are
            x_pad[:, 0, r + p, c + p] = (u[:, i] < torch.sigmoid(logit[:, 0])).to(x)
    return x_pad[:, :, p : p + SIDE, p : p + SIDE].clone()


def sample(model: nn.Module, n: int, given=None, start: int = 0, generator=None, y=None):
    """``n`` images (n, 1, 28, 28): ``sample_fast`` for a ``PixelCNN``, else ``sample_naive``
    (``y`` (n,): the labels, for a class-conditional model)."""
    p = next(model.parameters())
    u = torch.rand(n, SIDE * SIDE, generator=generator, device=p.device, dtype=p.dtype)
    sampler = sample_fast if isinstance(model, PixelCNN) else sample_naive
    return sampler(model, u, given, start, y)


# --------------------------------------------------------------------------- training


@dataclass
class FitConfig:
    """How ``fit`` trains a PixelCNN: Adam at ``lr`` on batches of ``batch_size`` dynamically
    binarized digits, the learning rate cosine-decayed to 0 over the steps after
    ``decay_from`` of the run. ``mode``: ``"auto"`` captures the whole step as one CUDA graph
    on a GPU and runs eagerly elsewhere (``dgm.train.make_step``)."""

    lr: float = 1e-3
    batch_size: int = 64
    decay_from: float = 2 / 3
    mode: str = "auto"

    def __post_init__(self):
        if not 0 <= self.decay_from < 1:
            raise ValueError(f"FitConfig: decay_from must be in [0, 1), got {self.decay_from!r}")
        if self.mode not in ("auto", "eager", "graph"):
            raise ValueError(f"FitConfig: mode must be auto, eager or graph, got {self.mode!r}")


def training_step(
    model: nn.Module, x: torch.Tensor, opt: torch.optim.Optimizer, y: torch.Tensor | None = None
) -> torch.Tensor:
    """One update of ``opt`` on the mean NLL (nats per image) of the binary images ``x``
    (given their labels ``y``, for a class-conditional model); returns it, detached. The
    step ``fit`` repeats (on a GPU, captured as one CUDA graph)."""
    nll = -log_prob(model, x, y).mean()
    opt.zero_grad(set_to_none=True)
    nll.backward()
    opt.step()
    return nll.detach()


def fit(model: nn.Module, x: torch.Tensor, steps: int, config: FitConfig | None = None, **kwargs):
    """Maximum likelihood on dynamically binarized images ``x`` (N, 784) in [0, 1] for
    ``steps`` steps of ``training_step``.

    The settings come from ``config`` (a ``FitConfig``); a keyword argument that names one of
    its fields overrides it (``fit(model, x, 1000, batch_size=32)``). The other keyword
    arguments go to ``dgm.train.train`` (``checkpoint``, ``time_limit``, ``evaluate``...),
    which returns the ``History``.
    """
    from . import data, train

    cfg = train.configure(FitConfig, config, kwargs, "fit", steps)
    opt, update, mode = train.adam_step(
        model, lambda xb, opt: training_step(model, xb, opt), cfg.mode, lr=cfg.lr
    )
    steps_ = max(steps, 1)
    schedule = train.cosine_decay(opt, steps_, start=min(int(cfg.decay_from * steps), steps_ - 1))
    stream = data.binarized_stream(x.reshape(len(x), -1), cfg.batch_size)

    def step(i):
        nll = update(next(stream))
        schedule.step()
        return {"nll": nll}

    kwargs.setdefault("desc", f"{type(model).__name__}, {mode} step")
    state = {"model": model, "opt": opt, "schedule": schedule}
    return train.train(step, steps, state=state, **kwargs)


def train_pixelcnn(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    steps: int,
    lr: float,
    batch_size: int,
    x_eval: torch.Tensor,
    y_eval: torch.Tensor,
    uniforms: torch.Tensor,
    start: int = 0,
    channels: int = 16,
    blocks: int = 2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lecture 08's build assignment, answered: a class-conditional ``PixelCNN(channels,
    blocks, n_classes=n_classes)`` made afresh and trained by one Adam (its defaults, at
    ``lr``) for ``steps`` steps, each on ``batch_size`` binary images of ``x`` (N, 1, H, W)
    drawn with replacement, with their labels ``y`` (N,).

    Returns the loss of every step (steps,), the batch's mean NLL in nats per image; the
    trained model's logits on ``x_eval`` (M, 1, H, W) given ``y_eval`` (M,), computed without
    autograd; and its samples (S, 1, H, W) from ``uniforms`` (S, H * W): the first ``S``
    images of ``x_eval`` completed from pixel ``start`` on given their labels (``complete``;
    ``start=0``: whole samples of those classes).
    """
    model = PixelCNN(channels, blocks, n_classes=n_classes).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = torch.zeros(steps)
    for t in range(steps):
        idx = torch.randint(len(x), (batch_size,), device=x.device)  # images and their labels
        losses[t] = training_step(model, x[idx], opt, y[idx])
    with torch.no_grad():
        logits = model(x_eval, y_eval)
    S = len(uniforms)
    return losses, logits, complete(model, uniforms, x_eval[:S], start, y_eval[:S])
