"""Evaluating representations: label efficiency, semantic clustering, interpolation.

Every function takes features as arrays ``(n_samples, n_features)`` (scikit-learn's layout) or a
``decode`` function, so it evaluates any representation: raw pixels, PCA, sparse codes,
autoencoders, VAEs. Used by the chapter "Evaluating representations".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_mutual_info_score, silhouette_score
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lecturelib.validation import (check_array, check_callable, check_choice, check_int, check_number,
                                  check_rng)


@dataclass(frozen=True)
class ProbeCurve:
    """Linear-probe test accuracy against the number of labelled training samples.

    ``accuracy[i, r]`` is the accuracy with ``num_labels[i]`` labels in repeat ``r``.
    """

    num_labels: np.ndarray
    accuracy: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.accuracy.mean(axis=1)

    def confidence_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Student-t interval of the mean accuracy over repeats, ``(low, high)``, each ``(n_points,)``.

        ``level`` in (0, 1). One repeat gives no interval: both bounds are ``nan``.
        """
        level = check_number(level, "level", minimum=0, strict=True)
        if level >= 1:
            raise ValueError(f"level must be a number > 0 and < 1, got {level!r}")
        repeats = self.accuracy.shape[1]
        if repeats < 2:
            return np.full_like(self.mean, np.nan), np.full_like(self.mean, np.nan)
        half = stats.t.ppf(0.5 + level / 2, repeats - 1) * self.accuracy.std(axis=1, ddof=1) / np.sqrt(repeats)
        return self.mean - half, self.mean + half


def linear_probe_curve(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                       test_labels: np.ndarray, num_labels: Sequence[int], *, repeats: int = 5,
                       C: float = 1.0, max_iter: int = 2000, random_state: int = 0) -> ProbeCurve:
    """Accuracy of a logistic-regression probe on frozen features, trained on ``n`` labels each.

    For every ``n`` in ``num_labels`` and every repeat, ``n`` training samples are drawn (stratified
    when ``n`` allows one per class), features standardised on them, and the probe scored on the
    whole test set. Classes absent from a small draw simply cannot be predicted (honest at 10 labels).
    The same ``random_state`` draws the same labelled samples for every representation (the draws
    depend on the labels only), so curves of different features are paired comparisons. With
    ``n == n_samples`` every repeat would fit the same set, so it is fitted once.
    """
    train_features = check_array(train_features, "train_features", ndim=2, layout="(n_samples, n_features)", dtype=None)
    test_features = check_array(test_features, "test_features", ndim=2, layout="(n_samples, n_features)", dtype=None)
    train_labels = _check_labels(train_labels, len(train_features), "train_labels")
    test_labels = _check_labels(test_labels, len(test_features), "test_labels")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"train_features and test_features must have the same number of features, "
                         f"got {train_features.shape[1]} and {test_features.shape[1]}")
    num_labels = np.array([check_int(n, "num_labels", minimum=2, maximum=len(train_features))
                           for n in np.ravel(np.asarray(num_labels, dtype=object))], dtype=int)
    if num_labels.size == 0:
        raise ValueError("num_labels must list at least one number of labels")
    repeats = check_int(repeats, "repeats", minimum=1)
    C = check_number(C, "C", minimum=0, strict=True)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    classes = np.unique(train_labels)
    rng = check_rng(random_state)
    accuracy = np.zeros((len(num_labels), repeats))
    for i, n in enumerate(num_labels):
        for r in range(repeats):
            if n == len(train_features) and r > 0:  # every draw of all samples is the same set: one fit
                accuracy[i, r] = accuracy[i, 0]
                continue
            index = _draw_labelled(train_labels, classes, n, rng)
            if len(np.unique(train_labels[index])) < 2:  # a one-class draw: the probe predicts that class
                accuracy[i, r] = np.mean(test_labels == train_labels[index][0])
                continue
            probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
            probe.fit(train_features[index], train_labels[index])
            accuracy[i, r] = probe.score(test_features, test_labels)
    return ProbeCurve(num_labels=num_labels, accuracy=accuracy)


def _check_labels(labels: object, n_samples: int, name: str) -> np.ndarray:
    """Class labels ``(n_samples,)`` for features of ``n_samples`` rows."""
    labels = np.asarray(labels)
    if labels.shape != (n_samples,):
        raise ValueError(f"{name} must have shape ({n_samples},) to match the features, got {labels.shape}")
    return labels


def _draw_labelled(labels: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices, one per class first when ``n`` >= number of classes, the rest at random."""
    if n >= len(classes):
        first = np.array([rng.choice(np.flatnonzero(labels == c)) for c in classes])
        rest = rng.choice(np.setdiff1d(np.arange(len(labels)), first), size=n - len(first), replace=False)
        return np.concatenate([first, rest])
    return rng.choice(len(labels), size=n, replace=False)


def clustering_scores(embedding: np.ndarray, labels: np.ndarray, *, n_neighbors: int = 5,
                      random_state: int = 0) -> dict[str, float]:
    """How well an embedding clusters by class.

    - ``silhouette``: mean silhouette of the true classes (in [-1, 1], higher is better),
    - ``knn_accuracy``: 5-fold cross-validated k-nearest-neighbour accuracy,
    - ``kmeans_ami``: adjusted mutual information between k-means clusters (k = number of
      classes) and the classes (0 for chance, 1 for perfect agreement).
    """
    embedding = check_array(embedding, "embedding", ndim=2, layout="(n_samples, n_features)", dtype=None)
    labels = _check_labels(labels, len(embedding), "labels")
    n_neighbors = check_int(n_neighbors, "n_neighbors", minimum=1)
    random_state = check_int(random_state, "random_state", minimum=0)
    n_classes = len(np.unique(labels))
    if n_classes < 2:
        raise ValueError("labels must contain at least two classes")
    knn = KNeighborsClassifier(n_neighbors=n_neighbors)
    clusters = KMeans(n_clusters=n_classes, n_init=10, random_state=random_state).fit_predict(embedding)
    return {
        "silhouette": float(silhouette_score(embedding, labels, random_state=random_state,
                                             sample_size=min(len(labels), 5000))),
        "knn_accuracy": float(cross_val_score(knn, embedding, labels, cv=5).mean()),
        "kmeans_ami": float(adjusted_mutual_info_score(labels, clusters)),
    }


def tsne(features: np.ndarray, *, perplexity: float = 30.0, random_state: int = 0) -> np.ndarray:
    """2-D t-SNE embedding ``(n_samples, 2)`` through scikit-learn, PCA-initialised and seeded."""
    features = check_array(features, "features", ndim=2, layout="(n_samples, n_features)", dtype=None)
    if len(features) < 2:
        raise ValueError(f"features needs at least 2 samples for t-SNE, got shape {features.shape}")
    perplexity = min(check_number(perplexity, "perplexity", minimum=0, strict=True), (len(features) - 1) / 3)
    random_state = check_int(random_state, "random_state", minimum=0)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(
        features.astype(np.float32))


def interpolate(start: np.ndarray | torch.Tensor, end: np.ndarray | torch.Tensor, num_steps: int,
                path: str = "linear") -> np.ndarray | torch.Tensor:
    """Points from ``start`` to ``end`` (both ``(n_features,)``): shape ``(num_steps, n_features)``.

    ``path="linear"``: ``(1 - t) start + t end``. ``path="spherical"`` (slerp): along the great
    circle with linearly interpolated norm, which keeps the norm typical of a high-dimensional
    Gaussian latent instead of shrinking towards the origin mid-way. Endpoints are exact.
    """
    is_torch = isinstance(start, torch.Tensor)
    a = start.detach().cpu().double().numpy() if is_torch else np.asarray(start, dtype=np.float64)
    b = end.detach().cpu().double().numpy() if isinstance(end, torch.Tensor) else np.asarray(end, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"start and end must be vectors of the same shape, got {a.shape} and {b.shape}")
    check_array(a, "start")
    check_array(b, "end")
    num_steps = check_int(num_steps, "num_steps", minimum=2)
    check_choice(path, "path", ("linear", "spherical"))
    t = np.linspace(0.0, 1.0, num_steps)[:, None]
    if path == "linear":
        points = (1 - t) * a + t * b
    else:
        norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
        if norm_a == 0 or norm_b == 0:
            raise ValueError("spherical interpolation needs non-zero start and end")
        cos = np.clip(a @ b / (norm_a * norm_b), -1.0, 1.0)
        omega = np.arccos(cos)
        if omega < 1e-6:
            points = (1 - t) * a + t * b
        else:
            directions = (np.sin((1 - t) * omega) * a / norm_a + np.sin(t * omega) * b / norm_b) / np.sin(omega)
            points = directions * ((1 - t) * norm_a + t * norm_b)
        points[0], points[-1] = a, b
    if is_torch:
        return torch.as_tensor(points, dtype=start.dtype, device=start.device)
    return points.astype(np.result_type(start, end, np.float32))


def latent_grid(decode: Callable[[torch.Tensor], torch.Tensor], *, num_per_axis: int = 15,
                bound: float = 2.0, use_gaussian_quantiles: bool = True,
                device: str | torch.device = "cpu") -> np.ndarray:
    """Decode a regular grid over a 2-D latent space: the "manifold" figure of a 2-D VAE.

    Returns images ``(num_per_axis, num_per_axis, ...)`` where row ``i`` has ``h_2`` decreasing and
    column ``j`` has ``h_1`` increasing. With ``use_gaussian_quantiles`` the grid is evenly spaced in
    probability under N(0, 1) (``bound`` is then ignored), as in Kingma & Welling's figure.
    """
    check_callable(decode, "decode", "a function (n, 2) codes -> (n, ...) images")
    num_per_axis = check_int(num_per_axis, "num_per_axis", minimum=2)
    bound = check_number(bound, "bound", minimum=0, strict=True)
    if use_gaussian_quantiles:
        axis = stats.norm.ppf(np.linspace(0.05, 0.95, num_per_axis))
    else:
        axis = np.linspace(-bound, bound, num_per_axis)
    h1, h2 = np.meshgrid(axis, axis[::-1])
    codes = torch.as_tensor(np.stack([h1.ravel(), h2.ravel()], axis=1), dtype=torch.float32, device=device)
    with torch.no_grad():
        images = decode(codes)
    images = images.detach().cpu().numpy()
    if images.shape[0] != num_per_axis ** 2:
        raise ValueError(f"decode must return one image per code, got {images.shape[0]} for {num_per_axis ** 2}")
    return images.reshape(num_per_axis, num_per_axis, *images.shape[1:])


PATHS: tuple[str, ...] = ("linear", "spherical", "pixel")
"""Interpolation paths of :func:`interpolation_images`: two in latent space, one in pixel space."""


@torch.no_grad()
def interpolation_images(x_start: np.ndarray, x_end: np.ndarray, num_steps: int, path: str = "linear", *,
                         encode: Callable[[torch.Tensor], torch.Tensor] | None = None,
                         decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
                         device: str | torch.device = "cpu") -> np.ndarray:
    """Images along a path between two inputs ``(n_features,)``: shape ``(num_steps, n_features)``.

    ``path="pixel"`` cross-fades the inputs, ``(1 - t) x_start + t x_end`` (endpoints are the inputs).
    ``path="linear"`` or ``"spherical"`` encodes both inputs with ``encode`` (``(n, n_features) ->
    (n, n_latents)``, e.g. a VAE's mean), interpolates the codes with :func:`interpolate` and decodes
    every point with ``decode`` (``(n, n_latents) -> (n, n_features)``, e.g. the decoder's mean), so
    the endpoints are the reconstructions ``decode(encode(x))``. Chapter "Evaluating representations".
    """
    a = check_array(x_start, "x_start", ndim=1, layout="(n_features,)", dtype=np.float32)
    b = check_array(x_end, "x_end", ndim=1, layout="(n_features,)", dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"x_start and x_end must be vectors (n_features,) of the same shape, "
                         f"got {a.shape} and {b.shape}")
    check_choice(path, "path", PATHS)
    num_steps = check_int(num_steps, "num_steps", minimum=2)
    if path == "pixel":
        return interpolate(a, b, num_steps, path="linear").astype(np.float32)
    if encode is None or decode is None:
        raise ValueError(f"path={path!r} interpolates in latent space and needs both encode and decode")
    check_callable(encode, "encode", "a function (n, n_features) -> (n, n_latents)")
    check_callable(decode, "decode", "a function (n, n_latents) -> (n, n_features)")
    x = torch.as_tensor(np.stack([a, b]), device=device)
    codes = encode(x)
    if codes.ndim != 2 or codes.shape[0] != 2:
        raise ValueError(f"encode must return codes of shape (n_samples, n_latents), got {tuple(codes.shape)}")
    images = decode(interpolate(codes[0], codes[1], num_steps, path=path))
    return images.reshape(num_steps, -1).detach().cpu().numpy()
