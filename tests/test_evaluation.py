import numpy as np
import pytest
import scipy.stats
import torch

from lecturelib import evaluation as ev


def blobs(n=300, classes=3, dim=5, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, dim)) * 4
    return centres[labels] + spread * rng.normal(size=(n, dim)), labels


def test_probe_is_near_chance_on_random_features_and_near_one_on_informative_ones():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 800)
    noise = rng.normal(size=(800, 10))
    informative = np.c_[np.eye(4)[labels] * 3, noise[:, :2]]
    random_curve = ev.linear_probe_curve(noise[:600], labels[:600], noise[600:], labels[600:], [40, 400], repeats=3)
    good_curve = ev.linear_probe_curve(informative[:600], labels[:600], informative[600:], labels[600:], [40, 400],
                                       repeats=3)
    assert np.all(np.abs(random_curve.mean - 0.25) < 0.1)
    assert np.all(good_curve.mean > 0.97)
    low, high = good_curve.confidence_interval()
    assert np.all(low <= good_curve.mean) and np.all(good_curve.mean <= high)
    assert good_curve.accuracy.shape == (2, 3)


def test_probe_is_deterministic_and_validates():
    X, y = blobs()
    a = ev.linear_probe_curve(X[:200], y[:200], X[200:], y[200:], [5, 50], repeats=2, random_state=1)
    b = ev.linear_probe_curve(X[:200], y[:200], X[200:], y[200:], [5, 50], repeats=2, random_state=1)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    with pytest.raises(ValueError, match=r"num_labels must be an int >= 2 and <= 200"):
        ev.linear_probe_curve(X[:200], y[:200], X[200:], y[200:], [1000])
    with pytest.raises(ValueError, match="same number of features"):
        ev.linear_probe_curve(X[:200], y[:200], X[200:, :3], y[200:], [10])
    with pytest.raises(ValueError, match=r"labels must have shape \(200,\)"):
        ev.linear_probe_curve(X[:200], y[:100], X[200:], y[200:], [10])
    with pytest.raises(ValueError, match="NaN"):
        ev.linear_probe_curve(np.full((10, 2), np.nan), y[:10], X[:5, :2], y[:5], [5])


def test_clustering_scores_rank_clustered_above_shuffled():
    X, y = blobs()
    good = ev.clustering_scores(X, y)
    shuffled = ev.clustering_scores(X, np.random.default_rng(1).permutation(y))
    for name in ("silhouette", "knn_accuracy", "kmeans_ami"):
        assert good[name] > shuffled[name] + 0.3, name
    assert good["kmeans_ami"] > 0.95 and abs(shuffled["kmeans_ami"]) < 0.05
    with pytest.raises(ValueError, match="at least two classes"):
        ev.clustering_scores(X, np.zeros(len(X), dtype=int))


def test_tsne_is_deterministic_under_a_seed():
    X, _ = blobs(n=120)
    a = ev.tsne(X, random_state=3)
    b = ev.tsne(X, random_state=3)
    assert a.shape == (120, 2)
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_features\)"):
        ev.tsne(X[0])


@pytest.mark.parametrize("path", ["linear", "spherical"])
def test_interpolation_endpoints_are_exact(path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8), rng.normal(size=8)
    points = ev.interpolate(a, b, 7, path=path)
    assert points.shape == (7, 8)
    np.testing.assert_array_equal(points[0], a)
    np.testing.assert_array_equal(points[-1], b)
    tensor = ev.interpolate(torch.as_tensor(a), torch.as_tensor(b), 5, path=path)
    assert isinstance(tensor, torch.Tensor) and torch.equal(tensor[-1], torch.as_tensor(b))


def test_linear_midpoint_and_spherical_norm():
    a, b = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(ev.interpolate(a, b, 3)[1], [1.0, 1.0])
    mid = ev.interpolate(a, b, 3, path="spherical")[1]
    np.testing.assert_allclose(mid, [np.sqrt(2), np.sqrt(2)])  # keeps the norm 2 along the arc
    with pytest.raises(ValueError, match="path='cubic' is not known; expected one of: 'linear', 'spherical'"):
        ev.interpolate(a, b, 3, path="cubic")
    with pytest.raises(ValueError, match="same shape"):
        ev.interpolate(a, np.zeros(3), 3)
    with pytest.raises(ValueError, match="num_steps"):
        ev.interpolate(a, b, 1)


def test_latent_grid_orders_axes():
    def decode(codes):  # an "image" that records its code
        return codes[:, :, None].repeat(1, 1, 3)

    grid = ev.latent_grid(decode, num_per_axis=4, use_gaussian_quantiles=False, bound=1.5)
    assert grid.shape == (4, 4, 2, 3)
    assert grid[0, 0, 0, 0] == -1.5 and grid[0, -1, 0, 0] == 1.5  # h_1 increases along a row
    assert grid[0, 0, 1, 0] == 1.5 and grid[-1, 0, 1, 0] == -1.5  # h_2 decreases down a column
    with pytest.raises(ValueError, match="one image per code"):
        ev.latent_grid(lambda c: c[:3], num_per_axis=3)


def test_probe_fits_all_labels_once_and_pairs_draws():
    X, y = blobs()
    curve = ev.linear_probe_curve(X[:200], y[:200], X[200:], y[200:], [10, 200], repeats=3)
    assert np.all(curve.accuracy[1] == curve.accuracy[1, 0])  # all 200 samples: the same set every repeat
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    direct = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[:200], y[:200])
    assert curve.accuracy[1, 0] == pytest.approx(direct.score(X[200:], y[200:]))
    # the draws depend on the labels only: a representation that is the label scores 1 on every draw
    # that sees every class, whatever the other representation was
    onehot = np.eye(3)[y] + 0.01 * np.random.default_rng(0).normal(size=(len(y), 3))
    perfect = ev.linear_probe_curve(onehot[:200], y[:200], onehot[200:], y[200:], [10, 200], repeats=3)
    assert np.all(perfect.accuracy == 1.0)


def _toy_autoencoder():
    W = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # codes (n, 2) from inputs (n, 3)

    def encode(x):
        return x @ W.T

    def decode(h):
        return torch.sigmoid(h @ W)

    return encode, decode


@pytest.mark.parametrize("path", ["linear", "spherical"])
def test_latent_interpolation_endpoints_are_reconstructions(path):
    encode, decode = _toy_autoencoder()
    a, b = np.array([0.2, 0.9, 0.5], np.float32), np.array([0.8, 0.1, 0.3], np.float32)
    images = ev.interpolation_images(a, b, 6, path, encode=encode, decode=decode)
    assert images.shape == (6, 3)
    recon = decode(encode(torch.as_tensor(np.stack([a, b])))).numpy()
    np.testing.assert_allclose(images[[0, -1]], recon, rtol=1e-6)
    assert not np.allclose(images[0], a)  # reconstructions, not the inputs
    if path == "linear":  # decoded midpoint of the linear path = decode of the mean code
        mid = ev.interpolation_images(a, b, 3, path, encode=encode, decode=decode)[1]
        np.testing.assert_allclose(mid, decode(encode(torch.as_tensor((a + b)[None] / 2)))[0].numpy(), rtol=1e-6)


def test_pixel_interpolation_and_validation():
    a, b = np.zeros(4, np.float32), np.ones(4, np.float32)
    images = ev.interpolation_images(a, b, 5, "pixel")
    np.testing.assert_array_equal(images[0], a)
    np.testing.assert_array_equal(images[-1], b)
    np.testing.assert_allclose(images[2], 0.5)
    with pytest.raises(ValueError, match="needs both encode and decode"):
        ev.interpolation_images(a, b, 5, "linear")
    with pytest.raises(ValueError, match="expected one of"):
        ev.interpolation_images(a, b, 5, "bezier")
    with pytest.raises(ValueError, match="same shape"):
        ev.interpolation_images(a, np.ones(3), 5, "pixel")
    with pytest.raises(ValueError, match="codes of shape"):
        ev.interpolation_images(a, b, 5, "linear", encode=lambda x: x.sum(), decode=lambda h: h)


def test_confidence_interval_against_scipy_and_its_bad_input():
    accuracy = np.array([[0.5, 0.6, 0.7], [0.8, 0.8, 0.9]])
    curve = ev.ProbeCurve(num_labels=np.array([10, 100]), accuracy=accuracy)
    low, high = curve.confidence_interval(0.9)
    for i, row in enumerate(accuracy):
        expected = scipy.stats.t.interval(0.9, len(row) - 1, loc=row.mean(), scale=scipy.stats.sem(row))
        assert (low[i], high[i]) == pytest.approx(expected)
    one_repeat = ev.ProbeCurve(num_labels=np.array([10]), accuracy=np.array([[0.5]]))
    assert np.isnan(one_repeat.confidence_interval()).all()  # one repeat gives no interval, not a zero-width one
    for level in (0, 1, 1.5, np.nan, "high"):
        with pytest.raises(ValueError, match=r"level must be a (finite )?number > 0"):
            curve.confidence_interval(level)
