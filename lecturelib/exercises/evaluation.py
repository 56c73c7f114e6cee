"""Checks of the code exercises of chapter 6, "Evaluating representations".

- :data:`check_nearest_centroid` -- ``ex-eval-nearest-centroid``: the accuracy of a
  nearest-class-mean classifier, a probe that only works when classes form clusters.
- :data:`check_slerp` -- ``ex-eval-slerp``: spherical interpolation between two latent codes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.neighbors import NearestCentroid

from lecturelib.evaluation import interpolate
from lecturelib.exercises.checks import CheckFailed, exercise_check, expect_close, expect_number, expect_shape

__all__ = ["check_nearest_centroid", "check_slerp"]


def _accuracy(function: Callable, train_features, train_labels, test_features, test_labels, case: str) -> float:
    value = function(train_features, train_labels, test_features, test_labels)
    accuracy = expect_number(value, f"the accuracy on {case}")
    if not 0.0 <= accuracy <= 1.0:
        raise CheckFailed(f"the accuracy on {case} should be a fraction in [0, 1], got {accuracy:.4g}")
    return accuracy


@exercise_check("ex-eval-nearest-centroid",
                "nearest_centroid_accuracy(train_features, train_labels, test_features, test_labels) -> float")
def check_nearest_centroid(function: Callable) -> str:
    # 1-D, classes labelled 3 and 7: the centroids are -4 (class 3) and 5 (class 7).
    train = np.array([[-10.0], [2.0], [5.0]])
    train_labels = np.array([3, 3, 7])
    test = np.array([[-5.0], [1.5], [6.0]])
    test_labels = np.array([3, 7, 7])
    accuracy = _accuracy(function, train, train_labels, test, test_labels, "a 1-D case")
    if accuracy == 0.0:
        raise CheckFailed("on a 1-D case with class means -4 (label 3) and 5 (label 7), every test point was "
                          "misclassified. Return the class *labels* (3 and 7, not the centroid indices 0 and 1), "
                          "and pick the nearest centroid (argmin of the distance, not argmax).")
    if abs(accuracy - 1 / 3) < 1e-9 or abs(accuracy - 2 / 3) < 1e-9:
        raise CheckFailed(f"on a 1-D case with class means -4 (label 3) and 5 (label 7) and test points -5, 1.5, "
                          f"6 (labels 3, 7, 7) the accuracy should be 1, got {accuracy:.3f}. The point 1.5 is "
                          "nearest to the *training sample* 2 (label 3) but to the *class mean* 5 (label 7): "
                          "compare with the mean of each class, not with single samples.")
    expect_close(accuracy, 1.0, "the accuracy on a 1-D case")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    centres = rng.normal(size=(4, 6)) * 1.5
    features = centres[labels] + rng.normal(size=(400, 6))
    expected = NearestCentroid().fit(features[:300], labels[:300]).score(features[300:], labels[300:])
    accuracy = _accuracy(function, features[:300], labels[:300], features[300:], labels[300:],
                         "4 Gaussian classes in 6-D")
    expect_close(accuracy, expected, "the accuracy on 4 Gaussian classes in 6-D (scikit-learn's NearestCentroid)",
                 atol=1e-9)
    return f"the nearest-centroid accuracy matches scikit-learn's NearestCentroid ({expected:.3f} on blobs)."


@exercise_check("ex-eval-slerp", "slerp(start, end, num_steps) -> array (num_steps, n_features)")
def check_slerp(function: Callable) -> str:
    a, b = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    points = expect_shape(function(a, b, 3), (3, 2), "slerp(start, end, 3) for 2-D vectors")
    if np.allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-6):
        raise CheckFailed("every point of slerp([2, 0], [0, 2], 3) has norm 1: you returned the unit direction. "
                          "Scale it by the norm interpolated linearly between |start| and |end| (here 2).")
    expect_close(points[[0, -1]], np.stack([a, b]), "the endpoints of slerp([2, 0], [0, 2], 3)")
    middle = np.linalg.norm(points[1])
    if abs(middle - np.sqrt(2)) < 1e-6:
        raise CheckFailed("the midpoint of slerp([2, 0], [0, 2], 3) has norm 1.414, that of the *linear* path "
                          "[1, 1]; along the great circle the norm should stay 2: the midpoint is [1.414, 1.414].")
    expect_close(points[1], [np.sqrt(2), np.sqrt(2)], "the midpoint of slerp([2, 0], [0, 2], 3)")
    rng = np.random.default_rng(1)
    start, end = rng.normal(size=8), 3 * rng.normal(size=8)
    points = expect_shape(function(start, end, 7), (7, 8), "slerp(start, end, 7) for 8-D vectors")
    norms = np.linalg.norm(points, axis=1)
    expected_norms = np.linspace(np.linalg.norm(start), np.linalg.norm(end), 7)
    expect_close(norms, expected_norms, "the norms along slerp(start, end, 7) (linear from |start| to |end|)",
                 rtol=1e-6)
    expect_close(points, interpolate(start, end, 7, path="spherical"), "slerp(start, end, 7) for 8-D vectors",
                 rtol=1e-6, atol=1e-8)
    return "slerp follows the great circle with linearly interpolated norm, endpoints included."
