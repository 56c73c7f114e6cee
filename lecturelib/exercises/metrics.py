"""Checks of the code exercises of chapter 08, "Disentanglement metrics".

- :data:`check_mig_from_mi` -- ``ex-metrics-mig-duplicate``: the mutual information gap from a
  matrix of mutual informations and the factors' entropies, checked on a hand-worked matrix and
  against :func:`lecturelib.metrics.mig` (which ``tests/test_metrics.py`` tests).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lecturelib.exercises.checks import CheckFailed, exercise_check, expect_number
from lecturelib.metrics import factor_entropy, mig, mutual_info_matrix

__all__ = ["check_mig_from_mi"]

MEAN_OVER_FACTORS = " (the mean over the factors)"


@exercise_check("ex-metrics-mig-duplicate",
                "mig_from_mi(mi, entropies) -> float: MIG from I(z_j; v_k) (n_latents, n_factors) and H(v_k)")
def check_mig_from_mi(mig_from_mi: Callable) -> str:
    # 1. By hand: factor 0 has gap (1.0 - 0.4) / 2 = 0.3, factor 1 (0.5 - 0.3) / 0.5 = 0.4: MIG = 0.35.
    mi = np.array([[1.0, 0.1], [0.2, 0.5], [0.4, 0.3]])
    entropies = np.array([2.0, 0.5])
    what = "mig_from_mi(mi, entropies) for mi = [[1.0, 0.1], [0.2, 0.5], [0.4, 0.3]], entropies = [2.0, 0.5]"
    value = expect_number(mig_from_mi(mi.copy(), entropies.copy()), what, meaning=MEAN_OVER_FACTORS)
    mistakes = {
        0.4: "you did not divide each factor's gap by its entropy H(v_k)",
        0.75: "you divided the largest MI by H(v_k), without subtracting the second largest",
        0.6: "you subtracted the smallest MI; the gap is to the *second largest* MI with the same factor",
        0.7: "you summed the normalised gaps over the factors; MIG is their mean",
    }
    for wrong, message in mistakes.items():
        if abs(value - wrong) < 1e-9:
            raise CheckFailed(f"{what} is {value:.4g}: {message} (the answer is 0.35)")
    if abs(value - 0.35) > 1e-9:
        raise CheckFailed(f"{what} should be 0.35: for each factor (column) take the largest and second-largest "
                          "MI over the latents (rows), divide the gap by H(v_k), average over the factors; got "
                          f"{value:.6g}")
    # 2. A single latent: the second largest MI is taken as 0.
    what = "mig_from_mi(mi, entropies) for one latent, mi = [[0.5, 0.2]], entropies = [1.0, 0.4]"
    try:
        value = expect_number(mig_from_mi(np.array([[0.5, 0.2]]), np.array([1.0, 0.4])), what,
                              meaning=MEAN_OVER_FACTORS)
    except IndexError as error:
        raise CheckFailed(f"{what} raised IndexError ({error}): with a single latent there is no second-largest "
                          "MI; take it as 0") from None
    if abs(value - 0.5) > 1e-9:
        raise CheckFailed(f"{what} should be (0.5 / 1.0 + 0.2 / 0.4) / 2 = 0.5 (the second largest MI is 0), "
                          f"got {value:.6g}")
    # 3. Codes with a duplicated latent against the library's MIG on the same samples.
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(600, 3))
    codes = factors + 0.3 * rng.standard_normal((600, 3))
    codes = np.c_[codes, codes[:, 0]]
    mi, entropies = mutual_info_matrix(codes, factors), factor_entropy(factors)
    what = "mig_from_mi on 600 samples of 3 factors, the first encoded twice"
    value = expect_number(mig_from_mi(mi.copy(), entropies.copy()), what, meaning=MEAN_OVER_FACTORS)
    reference = mig(codes, factors)
    if abs(value - reference) > 1e-9:
        raise CheckFailed(f"{what} should be {reference:.6f} (lecturelib.metrics.mig on the same codes), got "
                          f"{value:.6f}")
    return f"3 cases: a hand-worked matrix (0.35), a single latent, and a duplicated latent (MIG {reference:.4f})."
