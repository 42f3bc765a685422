"""Lecture 08: masks, causality, the blind spot, an exact and normalised likelihood, and two
samplers that agree pixel for pixel."""

import math

import pytest
import torch

from dgm import pixelcnn as P


def small(kind="plain", seed=0):
    torch.manual_seed(seed)
    model = P.PixelCNN(8, 2) if kind == "plain" else P.GatedPixelCNN(8, 3)
    return model.double().eval()


def test_causal_mask_types():
    a, b = P.causal_mask(3, "A"), P.causal_mask(3, "B")
    torch.testing.assert_close(a, torch.tensor([[1.0, 1, 1], [1, 0, 0], [0, 0, 0]]))
    torch.testing.assert_close(b - a, torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]))
    assert P.causal_mask(7, "A").sum() == 24 and P.causal_mask(1, "B").item() == 1
    with pytest.raises(ValueError, match="kernel_size must be an odd"):
        P.causal_mask(4, "A")
    with pytest.raises(ValueError, match="mask_type must be 'A' or 'B'"):
        P.causal_mask(3, "C")


def test_the_calibrated_sizes():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(P.PixelCNN(32, 5)) == 19_649 and count(P.PixelCNN(64, 7)) == 101_505


def jacobian_rows(model):
    """d logit_i / d x_j for every output i (784 x 784), by one backward pass on a batch of
    784 copies of one image, copy i carrying the gradient of output i."""
    x = torch.bernoulli(torch.full((1, 1, 28, 28), 0.5, dtype=torch.float64))
    xs = x.repeat(784, 1, 1, 1).requires_grad_(True)
    out = model(xs).reshape(784, 784)
    out.diagonal().sum().backward()
    return xs.grad.reshape(784, 784)


@pytest.mark.parametrize("kind", ["plain", "gated"])
def test_no_output_reads_its_own_pixel_or_a_later_one(kind):
    J = jacobian_rows(small(kind))
    later = torch.ones(784, 784).triu().bool()  # j >= i in raster order
    assert (J[later] == 0).all()
    assert ((J != 0) & ~later).any(1)[1:].all()  # every output after the first reads something


def test_the_plain_model_has_a_blind_spot_and_the_gated_one_has_none():
    for kind, blind in (("plain", True), ("gated", False)):
        model = small(kind)
        for r, c in ((14, 14), (10, 5), (27, 13)):
            spot = P.blind_spot(P.dependence(model, r, c), r, c)
            assert bool(spot.any()) is blind, (kind, r, c)
    # the plain model's spot lies above and to the right, inside the rows it reads
    spot = P.blind_spot(P.dependence(small("plain"), 14, 14), 14, 14)
    rows, cols = spot.nonzero().T
    assert (rows < 14).all() and (cols > 14).all()


def test_the_likelihood_is_normalised_over_the_last_pixels():
    # summing p(x) over the 4 values of the last two pixels leaves p(x_<782): the product
    # of the first 782 conditionals, read from the same logits
    model = small("gated")
    x = torch.bernoulli(torch.full((1, 784), 0.4, dtype=torch.float64)).repeat(4, 1)
    x[:, 782:] = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    with torch.no_grad():
        total = torch.logsumexp(P.log_prob(model, x), 0)
        logits = model(x[:1]).reshape(-1)[:782]
        prefix = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x[0, :782], reduction="sum"
        )
    torch.testing.assert_close(total, prefix)


def test_nll_and_bits_per_dim():
    model = small()
    x = torch.bernoulli(torch.full((6, 784), 0.3, dtype=torch.float64))
    assert P.nll(model, x, batch_size=4) == pytest.approx(-P.log_prob(model, x).mean().item())
    assert P.bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)
    assert P.bits_per_dim(3072 * math.log(2), dims=3072) == pytest.approx(1.0)


@pytest.mark.parametrize("given", [False, True])
def test_fast_and_naive_samplers_agree_pixel_for_pixel(given):
    model = small()
    with torch.no_grad():
        model.head[3].bias.fill_(-0.5)
    g = torch.Generator().manual_seed(3)
    u = torch.rand(3, 784, generator=g, dtype=torch.float64)
    kw = {}
    if given:
        kw = dict(given=torch.bernoulli(torch.full((3, 784), 0.5, dtype=torch.float64)), start=392)
    naive, fast = P.sample_naive(model, u, **kw), P.sample_fast(model, u, **kw)
    assert torch.equal(naive, fast) and 0.05 < naive.mean() < 0.95
    if given:  # the top half is kept, the bottom half completed
        assert torch.equal(naive.reshape(3, -1)[:, :392], kw["given"][:, :392])
    # the pixels are the model's draws: a fixed point of "re-draw every pixel from p(x_i|x_<i)"
    p = torch.sigmoid(model(naive)).reshape(3, -1)
    redrawn = (u < p).double()
    first = 392 if given else 0
    assert torch.equal(redrawn[:, first:], naive.reshape(3, -1)[:, first:])


def test_complete_draws_the_models_pixels_in_images_of_any_size():
    model = small()
    g = torch.Generator().manual_seed(4)
    H, W, start = 6, 5, 7  # not square: rows and columns cannot be swapped unnoticed
    given = torch.bernoulli(torch.full((4, 1, H, W), 0.5), generator=g)
    u = torch.rand(4, H * W, generator=g)
    out = P.complete(model, u, given, start)
    assert out.shape == given.shape and torch.equal(
        out.flatten(1)[:, :start], given.flatten(1)[:, :start]
    )
    p = torch.sigmoid(model(out)).flatten(1)  # each logit reads only the pixels before it
    assert torch.equal((u < p).float()[:, start:], out.flatten(1)[:, start:])
    assert not torch.equal(out, given)  # the later pixels were drawn, not copied
    # at 28x28 from a blank canvas, exercise 4's sampler
    u784 = torch.rand(2, 784, generator=g)
    assert torch.equal(
        P.complete(model, u784, torch.zeros(2, 1, 28, 28)), P.sample_naive(model, u784)
    )
    with pytest.raises(ValueError, match=r"complete: uniforms must be \(4, 30\)"):
        P.complete(model, u[:, :-1], given)
    for start in (-1, 31, 2.0):
        with pytest.raises(ValueError, match=r"complete: start must be an int in \[0, 30\]"):
            P.complete(model, u, given, start)


def test_a_class_conditional_pixelcnn_reads_its_class_everywhere_and_stays_causal():
    """Every logit moves with the label (pixel (0, 0) included, which reads no pixel), no
    logit reads its own pixel or a later one, the two samplers agree given the labels, and
    the model draws what its logits say; an unconditional model keeps its weights."""
    torch.manual_seed(0)
    model = P.PixelCNN(8, 2, n_classes=3).double().eval()
    g = torch.Generator().manual_seed(5)
    x = torch.bernoulli(torch.full((1, 1, 28, 28), 0.5, dtype=torch.float64), generator=g)
    by_class = model(x.expand(3, -1, -1, -1), torch.arange(3))  # (3, 1, 28, 28)
    assert ((by_class[0] - by_class[1]).abs() > 1e-6).all()
    xs = x.repeat(784, 1, 1, 1).requires_grad_(True)
    out = model(xs, torch.full((784,), 2)).reshape(784, 784)
    out.diagonal().sum().backward()
    later = torch.ones(784, 784).triu().bool()  # [i, j]: j at or after i
    assert xs.grad.reshape(784, 784)[later].abs().max() == 0
    u = torch.rand(3, 784, generator=g, dtype=torch.float64)
    y = torch.tensor([2, 0, 1])
    naive, fast = P.sample_naive(model, u, y=y), P.sample_fast(model, u, y=y)
    assert torch.equal(naive, fast)
    p = torch.sigmoid(model(naive, y)).reshape(3, -1)
    assert torch.equal((u < p).double(), naive.reshape(3, -1))
    assert not torch.equal(naive, P.sample_naive(model, u, y=torch.tensor([0, 1, 2])))
    torch.manual_seed(0)
    plain = P.PixelCNN(8, 2)
    torch.manual_seed(0)
    assert torch.equal(P.PixelCNN(8, 2, n_classes=3).first.weight, plain.first.weight)
    for bad in (None, torch.tensor([0, 3, 1]), torch.zeros(3), torch.zeros(2, dtype=torch.long)):
        with pytest.raises(ValueError, match=r"y must be \(3,\) integer labels|labels must be in"):
            model(naive, bad)
    nats = -P.log_prob(model, naive, y)  # (3,)
    assert P.nll(model, naive, 2, y) == pytest.approx(nats.mean().item())
    with pytest.raises(ValueError, match="y given to a model made without n_classes"):
        plain(naive.float(), y)
    with pytest.raises(ValueError, match="n_classes must be an int"):
        P.PixelCNN(8, 2, n_classes=-1)


def test_sample_picks_a_sampler_and_bad_input_is_named():
    assert P.sample(small(), 2).shape == (2, 1, 28, 28)
    assert P.sample(small("gated"), 1, generator=torch.Generator().manual_seed(0)).shape[0] == 1
    with pytest.raises(TypeError, match="sample_fast: model must be a PixelCNN"):
        P.sample_fast(small("gated"), torch.rand(1, 784))
    with pytest.raises(ValueError, match=r"uniforms must be \(n, 784\)"):
        P.sample_naive(small(), torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="x must be"):
        small()(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match="given must hold 2 images"):
        P.sample_naive(small(), torch.rand(2, 784), given=torch.zeros(3, 784), start=10)


def test_training_step_is_one_update_on_the_mean_nll():
    torch.manual_seed(0)
    model = P.PixelCNN(8, 1)
    x = (torch.rand(4, 784) < 0.3).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    expected = -P.log_prob(model, x).mean()
    got = P.training_step(model, x, opt)
    assert not got.requires_grad
    torch.testing.assert_close(got, expected.detach())
    assert all(int(s["step"]) == 1 for s in opt.state.values())
    assert -P.log_prob(model, x).mean() < expected  # a step downhill on this batch


def test_fit_lowers_the_nll():
    from dgm import data

    x = data.load_mnist("test")[0][:512].flatten(1)
    torch.manual_seed(0)
    model = P.PixelCNN(8, 1)
    binary = (x[:256] > 0.5).float()
    before = P.nll(model, binary)
    history = P.fit(model, x, 60, lr=3e-3, batch_size=32, progress=False, log_every=10)
    after = P.nll(model, binary)
    assert after < before - 100, (before, after)
    assert history.last("nll") < history["nll"][0][1]
