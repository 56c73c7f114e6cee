"""Input checks shared by the metrics: one place that names the argument and what was expected."""

from __future__ import annotations

import numpy as np


def check_codes(codes: object, name: str = "codes", min_samples: int = 2) -> np.ndarray:
    """Return ``codes`` as a finite float64 array ``(n_samples, n_latents)`` or raise ``ValueError``."""
    try:
        array = np.asarray(codes, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array (n_samples, n_latents): {err}") from None
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, n_latents), got shape {array.shape}")
    if array.shape[0] < min_samples or array.shape[1] < 1:
        raise ValueError(
            f"{name} needs at least {min_samples} samples and 1 latent, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(f"{name} contains {bad} NaN or infinite values; every metric needs finite codes")
    return array


def check_factors(factors: object, n_samples: int | None = None, name: str = "factors") -> np.ndarray:
    """Return ``factors`` as an int64 array ``(n_samples, n_factors)`` of class indices >= 0."""
    array = np.asarray(factors)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, n_factors), got shape {array.shape}")
    if array.shape[1] < 1:
        raise ValueError(f"{name} needs at least one factor column, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_)):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)) or np.any(
            array != np.round(array)
        ):
            raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if np.any(array < 0):
        raise ValueError(f"{name} must hold non-negative class indices, found {array.min()}")
    if n_samples is not None and array.shape[0] != n_samples:
        raise ValueError(f"{name} has {array.shape[0]} samples but the codes have {n_samples}")
    return array


def check_pair(codes: object, factors: object, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Check a ``(codes, factors)`` pair with matching sample counts."""
    codes = check_codes(codes, name=f"codes{suffix}")
    factors = check_factors(factors, n_samples=codes.shape[0], name=f"factors{suffix}")
    return codes, factors


def check_train_test(
    codes_train: object, factors_train: object, codes_test: object, factors_test: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check train and test pairs, with the same number of latents and factors."""
    codes_train, factors_train = check_pair(codes_train, factors_train, "_train")
    codes_test = check_codes(codes_test, name="codes_test", min_samples=1)
    factors_test = check_factors(factors_test, n_samples=codes_test.shape[0], name="factors_test")
    if codes_test.shape[1] != codes_train.shape[1]:
        raise ValueError(
            f"codes_test has {codes_test.shape[1]} latents but codes_train has {codes_train.shape[1]}"
        )
    if factors_test.shape[1] != factors_train.shape[1]:
        raise ValueError(
            f"factors_test has {factors_test.shape[1]} factors but factors_train has {factors_train.shape[1]}"
        )
    return codes_train, factors_train, codes_test, factors_test


def varying_factors(factors: np.ndarray, name: str = "factors") -> np.ndarray:
    """Indices of the factor columns that take at least two values; ``ValueError`` if none does.

    A factor with a single value carries no information (its entropy is 0), so every supervised
    metric leaves it out, as disentanglement_lib leaves out dSprites' constant colour.
    """
    keep = np.flatnonzero(factors.max(axis=0) != factors.min(axis=0))
    if keep.size == 0:
        raise ValueError(
            f"every column of {name} takes a single value; a supervised metric needs a factor that varies"
        )
    return keep


def check_rng(random_state: int | np.random.Generator | None, name: str = "random_state") -> np.random.Generator:
    """A numpy ``Generator`` from a seed or a generator (``None`` is refused: results must be reproducible)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and random_state >= 0:
        return np.random.default_rng(int(random_state))
    raise ValueError(f"{name} must be a non-negative int or a numpy Generator, got {random_state!r}")


def child_seed(rng: np.random.Generator) -> int:
    """A seed for a scikit-learn estimator, drawn from ``rng`` (so one seed fixes everything)."""
    return int(rng.integers(0, 2**31 - 1))


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise ``ValueError`` naming it."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
