"""Typical wrong answers to the checks of chapter 09 (``lecturelib.exercises.study``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check) and other correct ways of writing a solution."""

import numpy as np
import scipy.stats

from lecturelib.exercises import all_checks


def bootstrap_variant(kind: str = "", correlation=lambda a, b: scipy.stats.spearmanr(a, b).statistic):
    def bootstrap_rank_correlation(x, y, num_resamples, seed):
        rng = np.random.default_rng(None if kind == "unseeded" else seed)
        n = len(x) // 2 if kind == "half" else len(x)
        out = []
        for _ in range(num_resamples):
            pick = rng.integers(0, len(x), n)
            if kind == "permutation":
                pick = rng.permutation(len(x))
            other = rng.integers(0, len(x), n) if kind == "independent" else pick
            out.append(correlation(x[pick], y[other]))
        return np.array(out)
    return bootstrap_rank_correlation


def efficiency_variant(numerator: str, denominator: str, combine=lambda a, b: a / b, fixed_model: str | None = None):
    def efficiency_by_hand(scores, model, small, large):
        model = fixed_model or model
        return combine(scores[f"downstream_{model}.{small}.mean_{numerator}_accuracy"],
                       scores[f"downstream_{model}.{large}.mean_{denominator}_accuracy"])
    return efficiency_by_hand


def grouped_variant(kind: str = ""):
    def grouped_mean_image_loss(images, groups):
        images = np.asarray(images, dtype=float).reshape(len(images), -1)
        labels = np.zeros(len(groups), dtype=int) if kind == "ignore groups" else np.asarray(groups)
        losses, weights = [], []
        for g in np.unique(labels):
            p = np.clip(images[labels == g].mean(0), 1e-12, 1 - 1e-12)
            log = np.log2 if kind == "bits" else np.log
            losses.append(-(p * log(p) + (1 - p) * log(1 - p)).sum())
            weights.append(1.0 if kind == "equal weights" else (labels == g).mean())
        total = float(np.dot(losses, weights) / (np.sum(weights) if kind == "equal weights" else 1.0))
        return total * len(images) if kind == "summed" else total
    return grouped_mean_image_loss


WRONG_ANSWERS = [
    ("ex-study-one-bit", grouped_variant("equal weights"), r"equal weights; weight each group by its share"),
    ("ex-study-one-bit", grouped_variant("bits"), r"you measured in bits"),
    ("ex-study-one-bit", grouped_variant("summed"), r"you summed over the images"),
    ("ex-study-one-bit", grouped_variant("ignore groups"), r"you ignored the groups"),
    ("ex-study-bootstrap", bootstrap_variant(correlation=lambda a, b: scipy.stats.pearsonr(a, b).statistic),
     r"near Pearson's correlation .*Spearman's \(rank\) correlation is 1"),
    ("ex-study-bootstrap", bootstrap_variant("independent"), r"resample the \*pairs\*, with the same indices"),
    ("ex-study-bootstrap", bootstrap_variant("permutation"), r"every value is the correlation of the data itself"),
    ("ex-study-bootstrap", bootstrap_variant("unseeded"), r"different values for the same seed"),
    ("ex-study-bootstrap", bootstrap_variant("half"), r"standard deviation .*Draw exactly len\(x\) indices"),
    ("ex-study-bootstrap", lambda x, y, num, seed: bootstrap_variant()(x, y, num, seed)[:-1],
     r"should have shape \(50,\), got \(49,\)"),
    ("ex-study-efficiency", efficiency_variant("test", "test", lambda a, b: b / a),
     r"is 1\.333: you divided the large"),
    ("ex-study-efficiency", efficiency_variant("test", "test", lambda a, b: a - b), r"subtracted the accuracies"),
    ("ex-study-efficiency", efficiency_variant("train", "train"), r"used the training accuracies"),
    ("ex-study-efficiency", efficiency_variant("test", "test", fixed_model="lr"), r"read the lr scores"),
    ("ex-study-efficiency", efficiency_variant("test", "test", fixed_model="gbt"), r"raised KeyError"),
]


def test_correct_alternatives_pass():
    """A loop with scipy's spearmanr, and one vectorised batch of indices, both pass."""
    all_checks()["ex-study-bootstrap"](bootstrap_variant())
    all_checks()["ex-study-efficiency"](efficiency_variant("test", "test"))
    all_checks()["ex-study-one-bit"](grouped_variant())
