"""The figure helpers of chapter 6 (evaluating representations) in lecturelib.plotting."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecturelib.evaluation import ProbeCurve  # noqa: E402
from lecturelib.plotting import image_rows, plot_embedding, plot_probe_curves  # noqa: E402


def test_plot_probe_curves_draws_one_line_per_representation_and_chance():
    curve = ProbeCurve(num_labels=np.array([10, 100]), accuracy=np.array([[0.3, 0.4], [0.8, 0.9]]))
    ax = plot_probe_curves({"a": curve, "b": curve}, chance=0.1)
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.35, 0.85])
    with pytest.raises(ValueError, match="at least one"):
        plot_probe_curves({})
    plt.close("all")


def test_plot_embedding_labels_each_class_and_validates():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 10)
    ax = plot_embedding(rng.normal(size=(30, 2)), labels)
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2"]
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        plot_embedding(np.zeros((30, 3)), labels)
    with pytest.raises(ValueError, match=r"labels must have shape \(30,\)"):
        plot_embedding(np.zeros((30, 2)), labels[:5])
    plt.close("all")


def test_image_rows_shape_and_validation():
    fig = image_rows([np.zeros((4, 16)), np.ones((4, 16))], ["pixels", "latent"])
    assert len(fig.axes) == 8 and fig.axes[0].get_ylabel() == "pixels"
    with pytest.raises(ValueError, match="one label per row"):
        image_rows([np.zeros((4, 16))], ["a", "b"])
    with pytest.raises(ValueError, match="every row must have shape"):
        image_rows([np.zeros((4, 16)), np.zeros((3, 16))], ["a", "b"])
    with pytest.raises(ValueError, match="not square"):
        image_rows([np.zeros((4, 15))], ["a"])
    plt.close("all")
