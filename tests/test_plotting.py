import matplotlib
import numpy as np
import pytest

from lecturelib.plotting import BOOK_STYLE, image_grid, use_book_style


@pytest.mark.parametrize("shape", [(5, 4, 4), (5, 16), (5, 1, 4, 4), (5, 3, 4, 4), (5, 4, 4, 3)])
def test_image_grid_accepts_grey_flat_and_colour_images(shape):
    fig = image_grid(np.random.default_rng(0).random(shape), ncols=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5 and len(fig.axes) == 6  # 2 rows x 3 columns, the last one blank


def test_image_grid_rejects_other_shapes():
    with pytest.raises(ValueError, match="not square"):
        image_grid(np.zeros((2, 15)))
    with pytest.raises(ValueError, match=r"\(n, height, width\)"):
        image_grid(np.zeros((2, 4, 4, 5)))


def test_book_style_is_opaque_for_dark_mode():
    use_book_style()
    assert matplotlib.rcParams["figure.facecolor"] == BOOK_STYLE["figure.facecolor"] == "white"
    assert matplotlib.rcParams["savefig.facecolor"] == "white"


def test_posterior_ellipses_draws_one_axis_aligned_ellipse_per_sample():
    import matplotlib.pyplot as plt

    from lecturelib.plotting import posterior_ellipses

    mu, sigma = np.array([[0.0, 0.0], [3.0, 1.0]]), np.array([[0.5, 0.1], [0.2, 0.4]])
    fig, ax = plt.subplots()
    posterior_ellipses(mu, sigma, n_std=2.0, ax=ax, colors=["red", "blue"])
    assert len(ax.patches) == 2
    assert (ax.patches[1].width, ax.patches[1].height) == pytest.approx((0.8, 1.6))  # 2 * n_std * sigma
    assert ax.get_xlim()[1] >= 3.4 and ax.get_ylim()[0] <= -0.2  # the view holds every ellipse
    plt.close(fig)
    with pytest.raises(ValueError, match="sigma"):
        posterior_ellipses(mu, -sigma)
    with pytest.raises(ValueError, match="mu and sigma"):
        posterior_ellipses(mu[:, :1], sigma[:, :1])
