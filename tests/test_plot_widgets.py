import matplotlib.pyplot as plt
import pytest
import torch

from dgm import data, plot, widgets


def test_image_grid_accepts_the_usual_layouts():
    for images in (torch.rand(6, 28, 28), torch.rand(6, 1, 28, 28), torch.rand(6, 784)):
        ax = plot.image_grid(images, nrow=3, title="digits")
        assert ax.get_title() == "digits"
        assert ax.images[0].get_array().shape == (2 * 29 + 1, 3 * 29 + 1)
    with pytest.raises(ValueError, match="unflatten"):
        plot.image_grid(torch.rand(2, 10))


def test_figures_are_titled_and_labelled():
    w, mu, cov = data.blobs_params()
    x, _ = data.blobs(100)
    for ax in (
        plot.gmm_2d(x, w, mu, cov, title="fit"),
        plot.scatter_2d(x, title="data", centres=mu),
        plot.curves({"a": [1, 2, 3], "b": [(0, 1), (5, 2)]}, title="curves", ylabel="loss"),
        plot.density_2d(lambda g: -(g**2).sum(1), title="density", resolution=20),
    ):
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert len(plot.gmm_2d(x, w, mu, cov, title="fit").get_legend().get_texts()) == 3


def test_covariance_ellipse_has_the_right_axes():
    fig, ax = plt.subplots()
    e = plot.covariance_ellipse(ax, [0, 0], [[4.0, 0.0], [0.0, 1.0]], n_std=1)
    assert sorted([e.width, e.height]) == pytest.approx([2.0, 4.0])


def test_static_slider_draws_the_chosen_frames():
    drawn = []
    assert widgets.slider(lambda i, ax: drawn.append(i) or ax.set_title(str(i)), 20) is None
    assert drawn == [0, 4, 8, 11, 15, 19] and len(plt.gcf().axes) == 6
    drawn.clear()
    widgets.slider(lambda i, ax: drawn.append(i), 5, frames=[0, 4])
    assert drawn == [0, 4]
    with pytest.raises(ValueError, match="outside"):
        widgets.slider(lambda i, ax: None, 5, frames=[7])


def test_slider_widget_spans_all_frames():
    view = widgets.slider_widget(lambda i, ax: None, 12, description="iteration")
    slider = view.children[0]
    assert (slider.min, slider.max, slider.description) == (0, 11, "iteration")


@pytest.mark.parametrize("static", [False, True])
def test_in_a_kernel_the_slider_is_a_widget_unless_static(static, monkeypatch, tmp_path):
    """A live kernel gets an ipywidgets view; DGM_STATIC=1 (headless runs) gets a PNG."""
    import nbformat

    from dgm.course import execute

    if static:
        monkeypatch.setenv("DGM_STATIC", "1")
    else:
        monkeypatch.delenv("DGM_STATIC", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import dgm\ndgm.widgets.slider(lambda i, ax: ax.set_title(str(i)), 5)"
        )
    ]
    execute.notebook_client(nb, tmp_path, timeout=120).execute()
    kinds = {k for o in nb.cells[0].outputs for k in o.get("data", {})}
    if static:
        assert "image/png" in kinds and "application/vnd.jupyter.widget-view+json" not in kinds
    else:
        assert "application/vnd.jupyter.widget-view+json" in kinds


def test_latent_plots_and_static_explorer():
    calls = []

    def decode(z):
        calls.append(z.shape)
        return torch.sigmoid(z.sum(1, keepdim=True)).expand(-1, 784)

    ax = plot.latent_manifold(decode, lim=2, n=5, title="grid")
    assert ax.images[0].get_array().shape == (140, 140) and calls == [(25, 2)]
    ax = plot.latent_scatter(torch.randn(50, 2), torch.arange(50) % 3, title="codes")
    assert len(ax.get_legend().get_texts()) == 3 and ax.get_xlabel() == "$z_1$"
    assert widgets.latent_explorer(decode, lim=2) is None and calls[-1] == (225, 2)
