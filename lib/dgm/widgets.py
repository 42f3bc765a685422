"""Interactive views (ipywidgets) that fall back to static figures.

In a live Jupyter front end (JupyterLab, VS Code, Colab once its custom widget manager is
on, which ``dgm.config.setup`` does) a view is a slider that redraws a figure. Where no
widget front end is present (``DGM_STATIC=1`` as in tests and in the committed solution
notebooks, or a plain Python process) the same drawing function is called for a few
chosen values and shown as one static figure, so the notebook still tells its story.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from . import config

Draw = Callable[[int, Axes], None]


def slider_widget(draw: Draw, n: int, description: str = "step", value: int = 0, figsize=(5, 5)):
    """An ipywidgets view: an integer slider over ``0..n-1`` redrawing ``draw(i, ax)``."""
    import ipywidgets

    def show(i: int) -> None:
        fig, ax = plt.subplots(figsize=figsize)
        draw(i, ax)
        plt.show()

    slider = ipywidgets.IntSlider(
        min=0, max=n - 1, value=value, description=description, continuous_update=False
    )
    return ipywidgets.interactive(show, i=slider)


def small_multiples(draw: Draw, frames: Sequence[int], ncols: int = 3, size: float = 4) -> Figure:
    """The static version of a slider: ``draw(i, ax)`` for each ``i`` in ``frames``."""
    frames = list(frames)
    ncols = min(ncols, len(frames))
    nrows = math.ceil(len(frames) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax, i in zip(axes.flat, frames):
        draw(i, ax)
    for ax in list(axes.flat)[len(frames) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def slider(
    draw: Draw,
    n: int,
    description: str = "step",
    frames: Sequence[int] | None = None,
    value: int | None = None,
) -> None:
    """A slider over ``0..n-1`` in a live front end, else a static figure of ``frames``.

    Parameters
    ----------
    draw : callable ``draw(i, ax)``
        Draws frame ``i`` on ``ax`` (with its title and labels).
    n : int
        Number of frames.
    frames : list of int, optional
        Which frames the static figure shows (default: up to 6, spread over ``0..n-1``).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"slider: n must be a positive int, got {n!r}")
    if config.interactive():
        from IPython.display import display

        display(slider_widget(draw, n, description, value if value is not None else n - 1))
        return None
    if frames is None:
        count = min(n, 6)
        frames = sorted({round(j * (n - 1) / max(count - 1, 1)) for j in range(count)})
    bad = [i for i in frames if not 0 <= i < n]
    if bad:
        raise ValueError(f"slider: frames {bad} are outside 0..{n - 1}")
    small_multiples(draw, frames)
    plt.show()
    return None  # displayed already; returning the figure would show it twice


def latent_explorer(decode: Callable, lim: float = 2.5, device=None) -> None:
    """Two sliders ``(z_1, z_2)`` that decode one image live; statically, the decoded grid.

    ``decode(z)`` takes (m, 2) codes and returns (m, 784) pixel probabilities.
    """
    import torch

    from . import plot

    if not config.interactive():
        plot.latent_manifold(
            decode, lim=lim, device=device, title="Decoded grid of the 2-D latent space"
        )
        plt.show()
        return None
    import ipywidgets
    from IPython.display import display

    def show(z1: float, z2: float) -> None:
        with torch.no_grad():
            image = decode(torch.tensor([[z1, z2]], device=device)).reshape(28, 28).cpu()
        fig, ax = plt.subplots(figsize=(3, 3))
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"decoded z = ({z1:+.2f}, {z2:+.2f})")
        ax.axis("off")
        plt.show()

    def slider(name: str):
        return ipywidgets.FloatSlider(min=-lim, max=lim, step=0.05, value=0.0, description=name)

    display(ipywidgets.interactive(show, z1=slider("z_1"), z2=slider("z_2")))
    return None
