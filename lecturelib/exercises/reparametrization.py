"""Checks of the code exercises of the chapter "The reparametrization trick" (05).

The sampler is checked on a 3-D Gaussian whose mean and covariance are known, and for the gradient
the trick exists for; the score-function estimator on the quadratic objective of the chapter,
whose expected gradient is closed form (:func:`lecturelib.estimators.quadratic_expectation_gradient`).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from lecturelib.estimators import quadratic_expectation_gradient, quadratic_objective
from lecturelib.exercises.checks import CheckFailed, as_numpy, exercise_check, expect_close, expect_shape

__all__ = ["check_sampler", "check_score_baseline"]


def _target() -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    F = torch.tensor([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [-0.3, 0.2, 0.7]], dtype=torch.float64)
    return mean, F @ F.T


@exercise_check("ex-reparam-sampler", "my_sampler(mean, cov, n, generator): n reparametrized draws of N(mean, cov)")
def check_sampler(my_sampler: Callable) -> str:
    mean, cov = _target()
    what = "my_sampler(mean, cov, n=10, generator) for a 3-D Gaussian"
    first = expect_shape(my_sampler(mean.clone(), cov.clone(), 10, torch.Generator().manual_seed(0)), (10, 3), what)
    second = as_numpy(my_sampler(mean.clone(), cov.clone(), 10, torch.Generator().manual_seed(0)), what)
    if not np.array_equal(first, second):
        raise CheckFailed(f"{what} gave different draws for two generators with the same seed: draw the noise "
                          "with torch.randn(..., generator=generator)")

    n = 200_000
    draws = as_numpy(my_sampler(mean.clone(), cov.clone(), n, torch.Generator().manual_seed(1)),
                     f"my_sampler(mean, cov, n={n}, generator)")
    if draws.shape != (n, 3):
        raise CheckFailed(f"my_sampler(mean, cov, n={n}, generator) should have shape ({n}, 3), got {draws.shape}")
    sigma = cov.numpy()
    sample_mean, sample_cov = draws.mean(0), np.cov(draws.T)
    mean_tolerance = 5 * np.sqrt(np.diag(sigma) / n)
    if np.any(np.abs(sample_mean - mean.numpy()) > mean_tolerance):
        raise CheckFailed(f"the mean of {n} draws is {sample_mean.round(3).tolist()}, expected "
                          f"{mean.numpy().tolist()} (within {mean_tolerance.max():.3f}): add the mean to every draw")
    cov_tolerance = 5 * np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / n)
    if np.any(np.abs(sample_cov - sigma) > cov_tolerance):
        L = np.linalg.cholesky(sigma)
        hint = ""
        if np.all(np.abs(sample_cov - L.T @ L) <= cov_tolerance):
            hint = ": you computed eps @ L, whose covariance is L^T L; rows are samples, so L eps becomes eps @ L.T"
        elif np.all(np.abs(sample_cov - sigma @ sigma) <= 2 * cov_tolerance):
            hint = ": you multiplied the noise by cov itself, whose covariance is cov^2; use its Cholesky factor L"
        i, j = np.unravel_index(np.argmax(np.abs(sample_cov - sigma) - cov_tolerance), sigma.shape)
        raise CheckFailed(f"the covariance of {n} draws is wrong at ({i}, {j}): expected {sigma[i, j]:.3f}, got "
                          f"{sample_cov[i, j]:.3f}{hint}")

    mean_param = mean.clone().requires_grad_(True)
    cov_param = cov.clone().requires_grad_(True)
    sample = my_sampler(mean_param, cov_param, 10, torch.Generator().manual_seed(2))
    if not isinstance(sample, torch.Tensor) or not sample.requires_grad:
        raise CheckFailed("no gradient flows from the draws to mean and cov (did you use .sample(), "
                          "torch.no_grad() or .detach()?): the point of the trick is a differentiable sample")
    grad_mean, grad_cov = torch.autograd.grad(sample.mean(0).sum(), (mean_param, cov_param), allow_unused=True)
    if grad_cov is None:
        raise CheckFailed("the draws do not depend on cov through autograd: compute L = torch.linalg.cholesky(cov) "
                          "from the cov you are given")
    expect_close(grad_mean, torch.ones(3), "the gradient of the sum of the sample mean with respect to mean "
                 "(each draw is mean + noise, so it is 1 for every coordinate)", rtol=1e-9, atol=1e-9)
    return f"shape, reproducible with a seeded generator, mean and covariance of {n} draws, gradients to mean and cov."


@exercise_check("ex-reparam-score-baseline",
                "score_gradient(f, mu, log_var, num_samples, baseline, generator): score-function estimates")
def check_score_baseline(score_gradient: Callable) -> str:
    g = torch.Generator().manual_seed(0)
    d = 3
    mu = torch.randn(d, generator=g, dtype=torch.float64)
    log_var = 0.5 * torch.randn(d, generator=g, dtype=torch.float64)
    a = torch.randn(d, generator=g, dtype=torch.float64) + 2.0
    f = quadratic_objective(a)
    exact = quadratic_expectation_gradient(mu, log_var, a).numpy()
    expected_f = float(((mu - a) ** 2).sum() + log_var.exp().sum())
    names = [f"d/dmu_{j}" for j in range(d)] + [f"d/dlog_var_{j}" for j in range(d)]

    what = "score_gradient(f, mu, log_var, num_samples=5, baseline=0, generator) with d = 3"
    expect_shape(score_gradient(f, mu.clone(), log_var.clone(), 5, 0.0, torch.Generator().manual_seed(1)), (5, 2 * d),
                 what + " (one row per draw: d columns for mu, then d for log_var)")

    n = 400_000
    variances = {}
    estimates = {}
    for baseline in (0.0, expected_f):
        what = f"score_gradient(f, mu, log_var, num_samples={n}, baseline={baseline:.3g}, generator)"
        rows = expect_shape(score_gradient(f, mu.clone(), log_var.clone(), n, baseline,
                                           torch.Generator().manual_seed(2)), (n, 2 * d), what)
        if not np.all(np.isfinite(rows)):
            raise CheckFailed(f"{what} contains NaN or infinite values")
        mean, se = rows.mean(0), rows.std(0) / math.sqrt(n)
        bad = np.abs(mean - exact) > 5 * se + 1e-12
        if np.any(bad):
            j = int(np.argmax(np.abs(mean - exact) / (se + 1e-300)))
            raise CheckFailed(f"{what} is biased: the mean of the draws for {names[j]} is {mean[j]:.4f} +- "
                              f"{se[j]:.4f}, the exact gradient is {exact[j]:.4f}. The score of the diagonal Gaussian "
                              "is d/dmu log q = (h - mu) / sigma^2 and d/dlog_var log q = ((h - mu)^2 / sigma^2 - 1) / 2")
        variances[baseline], estimates[baseline] = rows.var(0).sum(), rows
    plain, with_baseline = variances[0.0], variances[expected_f]
    if np.allclose(estimates[0.0], estimates[expected_f]):
        raise CheckFailed("the baseline changes nothing: with the same generator seed, baseline=0 and baseline=E_q[f] "
                          "gave the same estimates; multiply the score by f(h) - baseline")
    if not with_baseline < plain / 2:
        raise CheckFailed(f"with the baseline b = E_q[f] the total variance is {with_baseline:.3g}, without it "
                          f"{plain:.3g}: subtracting b from f(h) should cut it several-fold here")
    return (f"shape, unbiased with and without a baseline ({n} draws, all {2 * d} coordinates within 5 standard "
            f"errors), total variance {plain:.1f} -> {with_baseline:.1f} with b = E_q[f].")
