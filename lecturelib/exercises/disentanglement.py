"""Checks of the code exercises of chapter 07, "Disentanglement and the β-VAE".

- :data:`check_gaussian_tc` -- ``ex-disentangle-gaussian-tc``: the total correlation of a Gaussian
  fitted to codes, :math:`-\\tfrac12 \\log\\det R`, checked against the closed form of a bivariate
  Gaussian and against :func:`lecturelib.metrics.gaussian_total_correlation`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from lecturelib.exercises.checks import CheckFailed, exercise_check, expect_number
from lecturelib.metrics import gaussian_total_correlation

__all__ = ["check_gaussian_tc"]


def _with_correlation(rho: float, scales: tuple[float, float], n: int = 400) -> np.ndarray:
    """``n`` points in 2-D whose sample correlation is exactly ``rho`` and sample stds are ``scales``."""
    rng = np.random.default_rng(3)
    white = rng.standard_normal((n, 2))
    white -= white.mean(0)
    white = white @ np.linalg.inv(np.linalg.cholesky(np.cov(white, rowvar=False)).T)  # sample cov = I
    correlated = white @ np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]])).T
    return correlated * np.asarray(scales)


@exercise_check("ex-disentangle-gaussian-tc", "gaussian_tc(codes) -> float: -1/2 log det of the correlation matrix")
def check_gaussian_tc(gaussian_tc: Callable) -> str:
    # 1. Two latents with sample correlation 0.6 and unit variances: TC = -1/2 log(1 - 0.36).
    codes = _with_correlation(0.6, (1.0, 1.0))
    expected = -0.5 * math.log(1 - 0.6**2)
    what = "gaussian_tc(codes) for 2 unit-variance latents with correlation 0.6"
    value = expect_number(gaussian_tc(codes.copy()), what)
    if abs(value + expected) < 1e-6:
        raise CheckFailed(f"{what} is {value:.4f}, negative: TC = -1/2 log det R, and det R = 1 - rho^2 < 1, so "
                          "the total correlation is positive (mind the minus sign)")
    if abs(value - 2 * expected) < 1e-6:
        raise CheckFailed(f"{what} is {value:.4f}, twice the answer {expected:.4f}: the entropy of a Gaussian "
                          "has 1/2 log det, keep the factor 1/2")
    if abs(value - expected) > 1e-6:
        raise CheckFailed(f"{what} should be -1/2 log(1 - 0.6^2) = {expected:.6f}, got {value:.6f}")
    # 2. The same correlation with latents of variance 4 and 0.01: TC does not change with the scales.
    what = "gaussian_tc(codes) for the same codes with latents scaled by 2 and 0.1"
    value = expect_number(gaussian_tc(codes * np.array([2.0, 0.1])), what)
    if abs(value - expected) > 1e-6:
        logdet_cov = np.linalg.slogdet(np.cov(codes * np.array([2.0, 0.1]), rowvar=False))[1]
        hint = (" You used the covariance matrix: its log det changes with the scales; divide by the standard "
                "deviations (np.corrcoef) first." if abs(value + 0.5 * logdet_cov) < 1e-3 else "")
        raise CheckFailed(f"{what} should still be {expected:.6f} (the total correlation does not depend on the "
                          f"scale of each latent), got {value:.6f}.{hint}")
    # 3. Independent latents: about 0; 5 correlated latents: the library's value.
    rng = np.random.default_rng(4)
    mixed = rng.standard_normal((500, 5)) @ rng.standard_normal((5, 5))
    what = "gaussian_tc(codes) for 500 samples of 5 correlated latents"
    value = expect_number(gaussian_tc(mixed.copy()), what)
    reference = gaussian_total_correlation(mixed)
    if abs(value - reference) > 1e-6 * max(1.0, reference):
        raise CheckFailed(f"{what} should be {reference:.6f} (lecturelib.metrics.gaussian_total_correlation), "
                          f"got {value:.6f}")
    return (f"3 cases: the closed form -1/2 log(1 - rho^2) = {expected:.4f}, invariance to the scales, and 5 latents "
            "(equal to the library's value).")
