"""Typical wrong answers to the checks of chapter 07 (``lecturelib.exercises.disentanglement``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check) and other correct ways of writing a solution."""

import numpy as np

from lecturelib.exercises import all_checks
from lecturelib.metrics import gaussian_total_correlation


def log_det_correlation(codes, factor=-0.5):
    return factor * np.linalg.slogdet(np.corrcoef(codes, rowvar=False))[1]


WRONG_ANSWERS = [
    ("ex-disentangle-gaussian-tc", lambda codes: log_det_correlation(codes, 0.5), r"is -0\.2231, negative.*minus sign"),
    ("ex-disentangle-gaussian-tc", lambda codes: log_det_correlation(codes, -1.0), r"twice the answer 0\.2231.*1/2"),
    ("ex-disentangle-gaussian-tc", lambda codes: -0.5 * np.linalg.slogdet(np.cov(codes, rowvar=False))[1],
     r"scaled by 2 and 0\.1 should still be 0\.223144 .*You used the covariance matrix.*np\.corrcoef"),
    ("ex-disentangle-gaussian-tc", lambda codes: -0.5 * np.log(1 - np.corrcoef(codes, rowvar=False)[0, 1] ** 2),
     r"5 correlated latents should be \d+\.\d+ \(lecturelib\.metrics\.gaussian_total_correlation\)"),
    ("ex-disentangle-gaussian-tc", lambda codes: np.full(codes.shape[1], 0.2),
     r"one number, got an array of shape \(2,\)"),
]


def test_correct_alternatives_pass():
    """The library's estimator, and the entropy form 1/2 (sum log var - log det cov), pass."""
    all_checks()["ex-disentangle-gaussian-tc"](gaussian_total_correlation)
    all_checks()["ex-disentangle-gaussian-tc"](lambda codes: 0.5 * (
        np.log(np.var(codes, axis=0)).sum() - np.linalg.slogdet(np.cov(codes, rowvar=False, bias=True))[1]))
