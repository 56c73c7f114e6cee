"""Typical wrong answers to the checks of chapter 06 (``lecturelib.exercises.evaluation``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check)."""

import numpy as np

from lecturelib.evaluation import interpolate


def centroids_of(train_features, train_labels):
    classes = np.unique(train_labels)
    return classes, np.stack([train_features[train_labels == c].mean(0) for c in classes])


def nearest_sample(train_features, train_labels, test_features, test_labels):  # 1-NN, not centroids
    d = ((test_features[:, None] - train_features[None]) ** 2).sum(-1)
    return float(np.mean(train_labels[d.argmin(1)] == test_labels))


def centroid_index(train_features, train_labels, test_features, test_labels):  # index, not label
    _, centroids = centroids_of(train_features, train_labels)
    return float(np.mean(((test_features[:, None] - centroids[None]) ** 2).sum(-1).argmin(1) == test_labels))


def farthest_centroid(train_features, train_labels, test_features, test_labels):  # argmax, not argmin
    classes, centroids = centroids_of(train_features, train_labels)
    return float(np.mean(classes[((test_features[:, None] - centroids[None]) ** 2).sum(-1).argmax(1)] == test_labels))


def slerp(start, end, num_steps):  # a correct slerp, to build the wrong ones from
    return interpolate(start, end, num_steps, path="spherical")


def unit_slerp(start, end, num_steps):  # the direction only, without the interpolated norm
    points = slerp(start, end, num_steps)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


WRONG_ANSWERS = [
    ("ex-eval-nearest-centroid", nearest_sample, "not with single samples"),
    ("ex-eval-nearest-centroid", centroid_index, r"class \*labels\*"),
    ("ex-eval-nearest-centroid", farthest_centroid, "argmin"),
    ("ex-eval-nearest-centroid", lambda *a: np.ones(3), "one number"),
    ("ex-eval-nearest-centroid", lambda *a: 42.0, r"fraction in \[0, 1\]"),
    ("ex-eval-slerp", lambda a, b, n: interpolate(a, b, n, path="linear"), r"linear\* path"),
    ("ex-eval-slerp", unit_slerp, "unit direction"),
    ("ex-eval-slerp", lambda a, b, n: slerp(a, b, n).T, r"should have shape \(3, 2\)"),
    ("ex-eval-slerp", lambda a, b, n: 1 / 0, "raised ZeroDivisionError"),
]

