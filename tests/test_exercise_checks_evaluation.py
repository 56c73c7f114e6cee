"""The checks of chapter 6's code exercises: the solution passes, a stub and typical mistakes fail
with messages that say what to fix."""

import numpy as np
import pytest

from lecturelib.evaluation import interpolate
from lecturelib.exercises.checks import CheckFailed, all_checks
from lecturelib.exercises.evaluation import check_nearest_centroid, check_slerp


def nearest_centroid_accuracy(train_features, train_labels, test_features, test_labels):  # the solution
    classes = np.unique(train_labels)
    centroids = np.stack([train_features[train_labels == c].mean(0) for c in classes])
    distances = ((test_features[:, None, :] - centroids[None]) ** 2).sum(-1)
    return float(np.mean(classes[distances.argmin(1)] == test_labels))


def slerp(start, end, num_steps):  # the solution
    t = np.linspace(0, 1, num_steps)[:, None]
    norm_a, norm_b = np.linalg.norm(start), np.linalg.norm(end)
    omega = np.arccos(np.clip(start @ end / (norm_a * norm_b), -1, 1))
    direction = (np.sin((1 - t) * omega) * start / norm_a + np.sin(t * omega) * end / norm_b) / np.sin(omega)
    return direction * ((1 - t) * norm_a + t * norm_b)


def stub(*args):
    raise NotImplementedError("Exercise: replace this line with your solution")


def test_checks_are_registered():
    assert {"ex-eval-nearest-centroid", "ex-eval-slerp"} <= set(all_checks())


def test_solutions_pass(capsys):
    assert "passed" in check_nearest_centroid(nearest_centroid_accuracy)
    assert "passed" in check_slerp(slerp)
    assert "ex-eval-slerp: passed" in capsys.readouterr().out


@pytest.mark.parametrize("check", [check_nearest_centroid, check_slerp])
def test_stub_is_not_implemented_yet(check):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(stub)


def test_nearest_centroid_mistakes_are_explained():
    def nearest_sample(train_features, train_labels, test_features, test_labels):  # 1-NN, not centroids
        d = ((test_features[:, None] - train_features[None]) ** 2).sum(-1)
        return float(np.mean(train_labels[d.argmin(1)] == test_labels))

    def centroid_index(train_features, train_labels, test_features, test_labels):  # index, not label
        classes = np.unique(train_labels)
        centroids = np.stack([train_features[train_labels == c].mean(0) for c in classes])
        return float(np.mean(((test_features[:, None] - centroids[None]) ** 2).sum(-1).argmin(1) == test_labels))

    def farthest(train_features, train_labels, test_features, test_labels):
        classes = np.unique(train_labels)
        centroids = np.stack([train_features[train_labels == c].mean(0) for c in classes])
        return float(np.mean(classes[((test_features[:, None] - centroids[None]) ** 2).sum(-1).argmax(1)]
                             == test_labels))

    with pytest.raises(CheckFailed, match="not with single samples"):
        check_nearest_centroid(nearest_sample)
    with pytest.raises(CheckFailed, match="class \\*labels\\*"):
        check_nearest_centroid(centroid_index)
    with pytest.raises(CheckFailed, match="argmin"):
        check_nearest_centroid(farthest)
    with pytest.raises(CheckFailed, match="one number"):
        check_nearest_centroid(lambda *a: np.ones(3))
    with pytest.raises(CheckFailed, match=r"fraction in \[0, 1\]"):
        check_nearest_centroid(lambda *a: 42.0)


def test_slerp_mistakes_are_explained():
    with pytest.raises(CheckFailed, match="linear\\* path"):
        check_slerp(lambda a, b, n: interpolate(a, b, n, path="linear"))

    def unit(a, b, n):
        points = slerp(a, b, n)
        return points / np.linalg.norm(points, axis=1, keepdims=True)

    with pytest.raises(CheckFailed, match="unit direction"):
        check_slerp(unit)
    with pytest.raises(CheckFailed, match=r"should have shape \(3, 2\)"):
        check_slerp(lambda a, b, n: slerp(a, b, n).T)
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        check_slerp(lambda a, b, n: 1 / 0)
