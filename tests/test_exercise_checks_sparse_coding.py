"""Typical wrong answers to the checks of chapter 01 (``lecturelib.exercises.sparse_coding``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check) and other correct ways of writing a solution."""

import math

import numpy as np

from lecturelib.exercises import all_checks


def fista_variant(momentum: bool = True, frobenius: bool = False, return_y: bool = False):
    def my_fista(X, D, lam, n_iter):
        lipschitz = np.sum(D**2) if frobenius else np.linalg.norm(D, 2) ** 2
        H = np.zeros((X.shape[0], D.shape[0]))
        Y, t = H, 1.0
        for _ in range(n_iter):
            H_next = np.sign(Y - (Y @ D - X) @ D.T / lipschitz) * np.maximum(
                np.abs(Y - (Y @ D - X) @ D.T / lipschitz) - lam / lipschitz, 0)
            t_next = (1 + math.sqrt(1 + 4 * t**2)) / 2
            Y = H_next + ((t - 1) / t_next if momentum else 0.0) * (H_next - H)
            H, t = H_next, t_next
        return Y if return_y else H
    return my_fista


WRONG_ANSWERS = [
    ("ex-sparse-soft-threshold", lambda z, t: np.maximum(z - t, 0), r"negative inputs must shrink towards zero"),
    ("ex-sparse-soft-threshold", lambda z, t: z, r"returned z unchanged"),
    ("ex-sparse-soft-threshold", lambda z, t: np.where(np.abs(z) > t, z, 0.0),  # hard thresholding
     r"wrong at index \(0,\): expected -2, got -3"),
    ("ex-sparse-soft-threshold", lambda z, t: float(np.sum(np.sign(z) * np.maximum(np.abs(z) - t, 0))),
     r"should have shape \(7,\), got \(\)"),
    ("ex-sparse-fista", fista_variant(momentum=False), r"gives ISTA's codes: take the step from the extrapolated"),
    ("ex-sparse-fista", fista_variant(frobenius=True), r"Frobenius norm of D"),
    ("ex-sparse-fista", fista_variant(return_y=True),
     r"differs from FISTA's iterates .*return H_k, not the extrapolated Y"),
    ("ex-sparse-fista", lambda X, D, lam, n_iter: fista_variant()(X, D, lam, n_iter).T,
     r"should have shape \(3, 4\), got \(4, 3\)"),
]


def test_correct_alternatives_pass():
    """Other correct ways of writing a solution pass too (the checks test behaviour, not the code)."""
    all_checks()["ex-sparse-soft-threshold"](lambda z, t: z - np.clip(z, -t, t))
