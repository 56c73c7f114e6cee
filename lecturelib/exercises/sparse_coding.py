"""Checks of the code exercises of the chapter "Sparse coding" (01).

Each check runs the student's function on small cases whose answers are known in closed form
(soft-thresholding, a dictionary equal to the identity) or come from :mod:`lecturelib.sparse_coding`,
which ``tests/test_sparse_coding.py`` tests against scikit-learn.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lecturelib import sparse_coding
from lecturelib.exercises.checks import CheckFailed, exercise_check, expect_close, expect_shape

__all__ = ["check_soft_threshold", "check_fista"]


def _close(value: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    return value.shape == expected.shape and bool(np.allclose(value, expected, rtol=rtol, atol=atol))


@exercise_check("ex-sparse-soft-threshold", "my_soft_threshold(z, t): soft-thresholding, elementwise")
def check_soft_threshold(my_soft_threshold: Callable) -> str:
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    expected = np.array([-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    what = "my_soft_threshold(z, t=1) for z = [-3, -1, -0.5, 0, 0.5, 1, 3]"
    value = expect_shape(my_soft_threshold(z.copy(), 1.0), z.shape, what)
    if _close(value, np.maximum(z - 1.0, 0.0), 0, 1e-12):
        raise CheckFailed(f"{what} gave {value.tolist()}: negative inputs must shrink towards zero too "
                          "(S_t(-3) = -2 for t = 1); use sign(z) * max(|z| - t, 0)")
    if _close(value, np.sign(z) * np.abs(z), 0, 1e-12):
        raise CheckFailed(f"{what} returned z unchanged: subtract t from |z| and clip at zero")
    expect_close(value, expected, what, rtol=0, atol=1e-12)
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((4, 5))
    expect_close(my_soft_threshold(matrix.copy(), 0.3), sparse_coding.soft_threshold(matrix, 0.3),
                 "my_soft_threshold(z, t=0.3) on a random 4x5 matrix (it must work elementwise on any shape)",
                 rtol=0, atol=1e-12)
    expect_close(my_soft_threshold(matrix.copy(), 0.0), matrix,
                 "my_soft_threshold(z, t=0) (t = 0 must leave z unchanged)", rtol=0, atol=1e-12)
    return "3 cases: a hand-worked vector, a random 4x5 matrix, and t = 0."


def _fista_case(n_samples: int, n_features: int, n_atoms: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.standard_normal((n_samples, n_features)), D


def _diagnose_fista(value: np.ndarray, X: np.ndarray, D: np.ndarray, lam: float, n_iter: int, what: str) -> None:
    """Raise a specific message when ``value`` matches a typical mistake: ISTA, or a Frobenius step."""
    if n_iter > 1 and _close(value, sparse_coding.ista(X, D, lam, max_iter=n_iter, stop="none"), 1e-6, 1e-8):
        raise CheckFailed(f"{what} gives ISTA's codes: take the step from the extrapolated point "
                          "Y = H_k + (t_k - 1) / t_(k+1) * (H_k - H_(k-1)), not from H_k")
    frobenius = float(np.sum(D**2))
    if not np.isclose(frobenius, sparse_coding.lipschitz_constant(D)) and _close(
            value, sparse_coding.fista(X, D, lam, max_iter=n_iter, stop="none", lipschitz=frobenius), 1e-6, 1e-8):
        raise CheckFailed(f"{what}: your step uses the Frobenius norm of D; L_D is the largest singular value of D "
                          "squared, np.linalg.norm(D, 2) ** 2 (sparse_coding.lipschitz_constant)")


@exercise_check("ex-sparse-fista", "my_fista(X, D, lam, n_iter): FISTA's codes after n_iter iterations from zero")
def check_fista(my_fista: Callable) -> str:
    # 1. D = I: L_D = 1 and one step from any point lands on S_lam(X), the optimum, and stays there.
    X = np.array([[2.0, -0.3, 0.7, -1.5], [0.1, 0.0, -2.5, 0.6], [1.0, 1.0, -1.0, 0.2]])
    what = "my_fista(X, D=I, lam=0.5, n_iter=5) for a 3x4 X (the answer is the soft-threshold S_0.5(X))"
    value = expect_shape(my_fista(X.copy(), np.eye(4), 0.5, 5), X.shape, what)
    expected = np.sign(X) * np.maximum(np.abs(X) - 0.5, 0)
    if not _close(value, expected, 1e-9, 1e-9):
        _diagnose_fista(value, X, np.eye(4), 0.5, 5, what)
        expect_close(value, expected, what, rtol=1e-9, atol=1e-9)

    # 2. One iteration from zero: a gradient step of size 1/L_D, then the soft-threshold at lam/L_D.
    X, D = _fista_case(5, 4, 6, seed=1)
    what = "my_fista(X, D, lam=0.2, n_iter=1) for X 5x4 and a 6x4 dictionary"
    value = expect_shape(my_fista(X.copy(), D.copy(), 0.2, 1), (5, 6), what)
    reference = sparse_coding.fista(X, D, 0.2, max_iter=1, stop="none")
    if not _close(value, reference, 1e-6, 1e-9):
        _diagnose_fista(value, X, D, 0.2, 1, what)
        expect_close(value, reference, what + " (one step from H = 0: S_{lam/L_D}(X D^T / L_D))",
                     rtol=1e-6, atol=1e-9)

    # 3. Thirty iterations: the momentum must match Beck & Teboulle's t_k sequence exactly.
    X, D = _fista_case(8, 5, 10, seed=2)
    what = "my_fista(X, D, lam=0.1, n_iter=30) for X 8x5 and a 10x5 dictionary"
    value = expect_shape(my_fista(X.copy(), D.copy(), 0.1, 30), (8, 10), what)
    reference = sparse_coding.fista(X, D, 0.1, max_iter=30, stop="none")
    if not _close(value, reference, 1e-6, 1e-8):
        _diagnose_fista(value, X, D, 0.1, 30, what)
        raise CheckFailed(f"{what} differs from FISTA's iterates (largest difference "
                          f"{np.max(np.abs(value - reference)):.3g}); check t_1 = 1, Y_1 = H_0 = 0, "
                          "t_(k+1) = (1 + sqrt(1 + 4 t_k^2)) / 2 and the momentum (t_k - 1) / t_(k+1), and "
                          "that you return H_k, not the extrapolated Y")
    objective = sparse_coding.lasso_objective(X, D, value, 0.1)
    return (f"3 cases: D = I (closed form), one step, 30 iterations (objective {objective:.4f}, "
            "equal to the library's FISTA).")
