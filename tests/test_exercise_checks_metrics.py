"""Typical wrong answers to the checks of chapter 08 (``lecturelib.exercises.metrics``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check)."""

import numpy as np


def gaps(mi):
    top = np.sort(mi, axis=0)[::-1]
    return top[0], top[1] if len(top) > 1 else np.zeros(mi.shape[1])


WRONG_ANSWERS = [
    ("ex-metrics-mig-duplicate", lambda mi, h: np.mean(gaps(mi)[0] - gaps(mi)[1]),
     r"is 0\.4: you did not divide each factor's gap by its entropy"),
    ("ex-metrics-mig-duplicate", lambda mi, h: np.mean(gaps(mi)[0] / h), r"without subtracting the second largest"),
    ("ex-metrics-mig-duplicate", lambda mi, h: np.mean((mi.max(0) - mi.min(0)) / h), r"subtracted the smallest MI"),
    ("ex-metrics-mig-duplicate", lambda mi, h: np.sum((gaps(mi)[0] - gaps(mi)[1]) / h), r"summed .* MIG is their mean"),
    ("ex-metrics-mig-duplicate", lambda mi, h: (gaps(mi)[0] - gaps(mi)[1]) / h,
     r"one number \(the mean over the factors\), got an array of shape \(2,\)"),
    ("ex-metrics-mig-duplicate", lambda mi, h: np.mean((np.sort(mi, axis=0)[-1] - np.sort(mi, axis=0)[-2]) / h),
     r"for one latent.* raised IndexError.* take it as 0"),
    ("ex-metrics-mig-duplicate", lambda mi, h: np.mean((np.sort(mi, axis=1)[:, -1] - np.sort(mi, axis=1)[:, -2])),
     r"should be 0\.35: for each factor \(column\)"),  # gaps over the factors of each latent
]

