"""Checks of the code exercises of chapter 09, "The Locatello et al. study".

- :data:`check_bootstrap_rank_correlation` -- ``ex-study-bootstrap``: Spearman's rank correlation
  over bootstrap resamples of the models. Statistical: the spread is compared with a reference
  bootstrap (seeded) within several standard errors.
- :data:`check_efficiency` -- ``ex-study-efficiency``: statistical efficiency from a record's scores.
- :data:`check_grouped_mean_image_loss` -- ``ex-study-one-bit``: the reconstruction loss of the best
  factorised Bernoulli decoder that knows only each image's group, against a closed form.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.stats

from lecturelib.exercises.checks import CheckFailed, as_numpy, exercise_check, expect_number, expect_shape
from lecturelib.study.tables import pixel_entropy_sum

__all__ = ["check_bootstrap_rank_correlation", "check_efficiency", "check_grouped_mean_image_loss"]


def _reference_bootstrap(x: np.ndarray, y: np.ndarray, num_resamples: int, seed: int) -> np.ndarray:
    """Spearman's rho of ``num_resamples`` resamples of the pairs, vectorised (ranks, then Pearson)."""
    picks = np.random.default_rng(seed).integers(0, len(x), size=(num_resamples, len(x)))
    rx, ry = scipy.stats.rankdata(x[picks], axis=1), scipy.stats.rankdata(y[picks], axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    return (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))


@exercise_check("ex-study-bootstrap",
                "bootstrap_rank_correlation(x, y, num_resamples, seed) -> (num_resamples,) Spearman's rho")
def check_bootstrap_rank_correlation(bootstrap_rank_correlation: Callable) -> str:
    # 1. A monotone but non-linear relation: every resample has rank correlation exactly 1.
    x = np.linspace(0.1, 1.0, 30)
    y = x**9
    what = "bootstrap_rank_correlation(x, y = x^9, 50, seed=0) for 30 points"
    values = expect_shape(bootstrap_rank_correlation(x.copy(), y.copy(), 50, 0), (50,), what)
    finite = values[np.isfinite(values)]
    if finite.size < 45:
        raise CheckFailed(f"{what} gave {values.size - finite.size} NaN of 50; a resample of 30 points is "
                          "almost never constant")
    if not np.allclose(finite, 1.0, atol=1e-9):
        pearson = scipy.stats.pearsonr(x, y).statistic
        if abs(np.median(finite) - pearson) < 0.1:
            raise CheckFailed(f"{what} has median {np.median(finite):.3f}, near Pearson's correlation {pearson:.3f}; "
                              "y is an increasing function of x, so Spearman's (rank) correlation is 1 on every "
                              "resample: correlate the ranks (scipy.stats.spearmanr or cross_rank_correlation)")
        if np.mean(np.abs(finite)) < 0.5:
            raise CheckFailed(f"{what} has values around {np.mean(finite):.2f}, not 1: resample the *pairs*, with "
                              "the same indices for x and y; independent indices destroy the relation")
        raise CheckFailed(f"{what} should be 1 on every resample (y is an increasing function of x), got values "
                          f"from {finite.min():.3f} to {finite.max():.3f}")
    # 2. Seeds: the same seed gives the same resamples, another seed others.
    rng = np.random.default_rng(7)
    x = rng.standard_normal(40)
    y = 0.6 * x + 0.8 * rng.standard_normal(40)
    what = "bootstrap_rank_correlation(x, y, 20, seed) for 40 noisy pairs"
    first = expect_shape(bootstrap_rank_correlation(x.copy(), y.copy(), 20, 1), (20,), what)
    sample = scipy.stats.spearmanr(x, y).statistic
    if np.allclose(first, sample, atol=1e-9):
        raise CheckFailed(f"{what}: every value is the correlation of the data itself ({sample:.3f}); draw "
                          "len(x) indices *with replacement* for each resample")
    if not np.array_equal(first, as_numpy(bootstrap_rank_correlation(x.copy(), y.copy(), 20, 1), what)):
        raise CheckFailed(f"{what} gave different values for the same seed: draw the indices from "
                          "np.random.default_rng(seed)")
    if np.array_equal(first, as_numpy(bootstrap_rank_correlation(x.copy(), y.copy(), 20, 2), what)):
        raise CheckFailed(f"{what} gave the same values for seeds 1 and 2: draw the indices from "
                          "np.random.default_rng(seed)")
    # 3. The spread of the bootstrap distribution, against a reference bootstrap of 4,000 resamples.
    num = 300
    values = expect_shape(bootstrap_rank_correlation(x.copy(), y.copy(), num, 3), (num,), what)
    reference = _reference_bootstrap(x, y, 4_000, seed=12345)
    mean, std = float(np.nanmean(values)), float(np.nanstd(values))
    ref_mean, ref_std = float(reference.mean()), float(reference.std())
    if abs(mean - ref_mean) > 5 * ref_std / math.sqrt(num) or abs(std / ref_std - 1) > 5 / math.sqrt(2 * num):
        raise CheckFailed(f"{what}: the {num} bootstrap values have mean {mean:.3f} and standard deviation "
                          f"{std:.3f}; a bootstrap of the 40 pairs has {ref_mean:.3f} and {ref_std:.3f}. Draw "
                          "exactly len(x) indices with replacement, the same for x and y, for each resample")
    return (f"3 cases: a monotone relation (rho = 1 on every resample), seeds, and the spread on 40 pairs "
            f"(std {std:.3f}, reference {ref_std:.3f}).")


def _scores(accuracies: dict[tuple[str, int], float]) -> dict[str, float]:
    scores = {}
    for (model, size), accuracy in accuracies.items():
        scores[f"downstream_{model}.{size}.mean_test_accuracy"] = accuracy
        scores[f"downstream_{model}.{size}.mean_train_accuracy"] = min(1.0, accuracy + 0.2)
    return scores


@exercise_check("ex-study-efficiency", "efficiency_by_hand(scores, model, small, large) -> float")
def check_efficiency(efficiency_by_hand: Callable) -> str:
    scores = _scores({("gbt", 100): 0.6, ("gbt", 10_000): 0.8, ("lr", 100): 0.3, ("lr", 10_000): 0.9})
    scores["mig"] = 0.25
    what = "efficiency_by_hand(scores, 'gbt', 100, 10000) with test accuracies 0.6 (100) and 0.8 (10,000)"
    value = expect_number(efficiency_by_hand(dict(scores), "gbt", 100, 10_000), what)
    mistakes = {
        0.8 / 0.6: "you divided the large-sample accuracy by the small-sample one; efficiency is small / large",
        0.6 - 0.8: "you subtracted the accuracies; efficiency is their ratio",
        0.8 - 0.6: "you subtracted the accuracies; efficiency is their ratio",
        0.8 / 1.0: "you used the training accuracies (mean_train_accuracy); use the test accuracies",
        0.3 / 0.9: "you read the lr scores; use the downstream model passed as `model`",
    }
    for wrong, message in mistakes.items():
        if abs(value - wrong) < 1e-9:
            raise CheckFailed(f"{what} is {value:.4g}: {message} (the answer is 0.75)")
    if abs(value - 0.75) > 1e-9:
        raise CheckFailed(f"{what} should be 0.6 / 0.8 = 0.75, got {value:.6g}")
    scores = _scores({("lr", 50): 0.45, ("lr", 500): 0.4})
    what = "efficiency_by_hand(scores, 'lr', 50, 500) with test accuracies 0.45 (50) and 0.4 (500)"
    value = float(as_numpy(efficiency_by_hand(dict(scores), "lr", 50, 500), what).reshape(-1)[0])
    if abs(value - 1.125) > 1e-9:
        raise CheckFailed(f"{what} should be 0.45 / 0.4 = 1.125 (an efficiency above 1 is possible), got "
                          f"{value:.6g}; build the keys from model and sizes: f'downstream_{{model}}.{{small}}."
                          "mean_test_accuracy'")
    return "2 cases: gbt 100 / 10,000 (0.75) and lr 50 / 500 (1.125, above 1)."


@exercise_check("ex-study-one-bit", "grouped_mean_image_loss(images, groups) -> float, nats per image")
def check_grouped_mean_image_loss(grouped_mean_image_loss: Callable) -> str:
    # 1. Four 2-pixel images; group 0 holds three of them, group 1 one. Closed form by hand.
    images = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], dtype=np.float64)
    groups = np.array([0, 0, 0, 1])
    what = "grouped_mean_image_loss(images, groups) for four 2-pixel images in groups of 3 and 1"
    value = expect_number(grouped_mean_image_loss(images.copy(), groups.copy()), what)
    group_0 = pixel_entropy_sum([2 / 3, 1 / 3])  # the lone image of group 1 is reconstructed exactly: 0 nats
    answer = 0.75 * group_0
    mistakes = {
        0.5 * group_0: "you averaged the groups' losses with equal weights; weight each group by its share of the "
                       "images",
        answer / math.log(2): "you measured in bits; use natural logarithms (nats)",
        4 * answer: "you summed over the images; average over them (nats per image)",
        pixel_entropy_sum(images.mean(0)): "you ignored the groups: that is the mean image's loss",
    }
    for wrong, message in mistakes.items():
        if abs(value - wrong) < 1e-6:
            raise CheckFailed(f"{what} is {value:.4f}: {message} (the answer is {answer:.4f})")
    if abs(value - answer) > 1e-6:
        raise CheckFailed(f"{what} should be 3/4 x (H(2/3) + H(1/3)) = {answer:.4f} nats (H the Bernoulli entropy; "
                          f"the lone image of group 1 costs 0), got {value:.6g}")
    # 2. Grey levels (noisy images) and one group: the mean image's loss, sum of the pixel entropies.
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(50, 3, 4, 4))
    what = "grouped_mean_image_loss(images (50, 3, 4, 4) in [0, 1], one group)"
    value = expect_number(grouped_mean_image_loss(images.copy(), np.zeros(50, dtype=int)), what)
    answer = pixel_entropy_sum(images.mean(0))
    if abs(value - answer) > 1e-6 * answer:
        raise CheckFailed(f"{what} should be the mean image's loss {answer:.4f} nats (a cross-entropy: pixel values "
                          f"need not be 0 or 1; images may have any shape after the first axis), got {value:.6g}")
    # 3. One group per image: a binary image known exactly costs nothing.
    images = (rng.uniform(size=(6, 8)) < 0.5).astype(np.float64)
    what = "grouped_mean_image_loss(6 binary images, one group each)"
    value = expect_number(grouped_mean_image_loss(images.copy(), np.arange(6)), what)
    if abs(value) > 1e-6:
        raise CheckFailed(f"{what} should be 0 (each decoder knows its image exactly), got {value:.6g}; clip the "
                          "means away from 0 and 1 before the logarithm, not the pixels")
    return "3 cases: groups of 3 and 1 by hand, grey levels in one group, and one group per image (0 nats)."
