"""Figures of the course: image grids, 2-D samples and densities, training curves.

Every function takes an optional ``ax`` (so figures can be composed), accepts tensors on
any device, and sets a title, axis labels and, where there is more than one series, a
legend. Each returns the ``Axes`` it drew on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Ellipse


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _axes(ax: Axes | None, figsize=(5, 5)) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def image_grid(
    images,
    nrow: int | None = None,
    title: str = "",
    ax: Axes | None = None,
    cmap: str = "gray",
    labels: Sequence | None = None,
) -> Axes:
    """Tile images (N, H, W), (N, 1, H, W) or flattened square (N, H*W) into one picture.

    ``labels`` (one per image) are written in the corner of each tile.
    """
    x = _np(images).astype(np.float32)
    if x.ndim == 2:  # (N, H*W): flattened square images
        side = int(round(math.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"image_grid: cannot unflatten images of {x.shape[1]} pixels")
        x = x.reshape(-1, side, side)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"image_grid: expected one channel, got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"image_grid: expected (N, H, W) images, got shape {x.shape}")
    n, h, w = x.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    ncol = int(math.ceil(n / nrow))
    canvas = np.ones((ncol * (h + 1) + 1, nrow * (w + 1) + 1), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = x[i]
    ax = _axes(ax, figsize=(0.6 * nrow + 1, 0.6 * ncol + 1))
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    if labels is not None:
        for i, label in enumerate(labels):
            r, c = divmod(i, nrow)
            ax.text(2 + c * (w + 1), 6 + r * (h + 1), str(label), color="tab:orange", fontsize=8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def scatter_2d(
    x,
    title: str = "",
    ax: Axes | None = None,
    label: str = "samples",
    centres=None,
    color=None,
    s: float = 4,
    alpha: float = 0.5,
    lim: float | None = None,
    legend: bool = True,
) -> Axes:
    """2-D points, optionally with the true mode ``centres`` marked; ``lim`` fixes the view
    to the square ``[-lim, lim]^2`` (the same for every panel of a comparison). In a row of
    panels, ``legend=False`` on all but one keeps the legends off the data."""
    x = _np(x)
    ax = _axes(ax)
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, c=color, label=label)
    if centres is not None:
        c = _np(centres)
        ax.scatter(c[:, 0], c[:, 1], marker="x", c="k", s=40, label="mode centres")
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if lim is None:
        ax.set_aspect("equal", adjustable="datalim")
    else:
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    if legend:
        ax.legend(loc="upper right", fontsize=8)
    return ax


def covariance_ellipse(ax: Axes, mean, cov, n_std: float = 2.0, **kwargs) -> Ellipse:
    """Draw the ``n_std``-sigma ellipse of a 2-D Gaussian (axes along the eigenvectors)."""
    values, vectors = np.linalg.eigh(_np(cov))
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    width, height = 2 * n_std * np.sqrt(np.maximum(values[::-1], 0))
    ellipse = Ellipse(_np(mean), width, height, angle=angle, fill=False, **kwargs)
    ax.add_patch(ellipse)
    return ellipse


def gmm_2d(x, weights, means, covs, title: str = "", ax: Axes | None = None, r=None) -> Axes:
    """Data and a 2-D Gaussian mixture: 2-sigma ellipses, line width by mixing weight.

    If responsibilities ``r`` (N, K) are given, each point takes the colour of its most
    responsible component.
    """
    x, w, mu, cov = _np(x), _np(weights), _np(means), _np(covs)
    ax = _axes(ax)
    colors = plt.cm.tab10(np.arange(len(w)) % 10)
    point_colors = colors[_np(r).argmax(1)] if r is not None else "0.6"
    ax.scatter(x[:, 0], x[:, 1], s=3, c=point_colors, alpha=0.4)
    many = len(w) > 10  # then one legend entry for all, not one per component
    for k in range(len(w)):
        label = f"component {k}: $\\pi$={w[k]:.2f}"
        if many:
            label = f"{len(w)} components (2-sigma)" if k == 0 else None
        covariance_ellipse(
            ax, mu[k], cov[k], edgecolor=colors[k], linewidth=1 + 6 * w[k], label=label
        )
        ax.plot(*mu[k], marker="+", color=colors[k], markersize=10)
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.autoscale_view()
    ax.legend(loc="upper right", fontsize=7)
    return ax


def density_2d(
    log_density: Callable[[torch.Tensor], torch.Tensor],
    xlim=(-3, 3),
    ylim=(-3, 3),
    title: str = "",
    ax: Axes | None = None,
    resolution: int = 200,
    samples=None,
) -> Axes:
    """A 2-D density ``exp(log_density(points))`` on a grid, with optional samples on top."""
    gx, gy = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    with torch.no_grad():
        z = _np(log_density(grid)).reshape(gx.shape)
    ax = _axes(ax)
    mesh = ax.pcolormesh(gx, gy, np.exp(z), shading="auto", cmap="viridis")
    plt.colorbar(mesh, ax=ax, label="density")
    if samples is not None:
        s = _np(samples)
        ax.scatter(s[:, 0], s[:, 1], s=2, c="w", alpha=0.5, label="samples")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    return ax


def curves(
    series: Mapping[str, Sequence],
    title: str = "",
    xlabel: str = "step",
    ylabel: str = "",
    ax: Axes | None = None,
    logy: bool = False,
) -> Axes:
    """Line plot of named series: each value a list of y values or of ``(x, y)`` pairs.

    A ``dgm.train.History`` can be passed as ``history.records``.
    """
    ax = _axes(ax, figsize=(6, 4))
    for name, values in series.items():
        v = _np(values)
        if v.ndim == 2:
            ax.plot(v[:, 0], v[:, 1], label=name)
        else:
            ax.plot(np.arange(len(v)), v, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def latent_scatter(z, labels, title: str = "", ax: Axes | None = None) -> Axes:
    """2-D latent codes coloured by class (e.g. the digit), one legend entry per class."""
    z, labels = _np(z), _np(labels)
    ax = _axes(ax, figsize=(6, 5))
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(
            z[sel, 0], z[sel, 1], s=3, alpha=0.6, label=str(c), color=plt.cm.tab10(int(c) % 10)
        )
    ax.set_title(title)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(title="digit", markerscale=4, fontsize=8, loc="upper right")
    return ax


def latent_manifold(
    decode: Callable[[torch.Tensor], torch.Tensor],
    lim: float = 2.5,
    n: int = 15,
    title: str = "",
    ax: Axes | None = None,
    device=None,
) -> Axes:
    """Decode an ``n`` x ``n`` grid of 2-D latent points in ``[-lim, lim]^2`` into one image.

    ``decode(z)`` takes (m, 2) codes and returns (m, 784) pixel probabilities.
    """
    ticks = torch.linspace(-lim, lim, n)
    z1, z2 = torch.meshgrid(ticks, ticks.flip(0), indexing="xy")  # z2 grows upwards
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1).to(device)  # (n*n, 2)
    with torch.no_grad():
        images = _np(decode(z)).reshape(n, n, 28, 28)
    canvas = images.transpose(0, 2, 1, 3).reshape(n * 28, n * 28)
    ax = _axes(ax, figsize=(6, 6))
    ax.imshow(canvas, cmap="gray", extent=(-lim, lim, -lim, lim), vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return ax
