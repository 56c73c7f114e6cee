"""Input checks at the library's boundary: one place that names the argument and what was expected.

Every public function of :mod:`lecturelib` checks what a reader or a student may pass it with
these helpers, so that bad input gives a ``ValueError`` that names the argument and the expected
shape, dtype or range, never NaN, a wrong answer or a traceback from deep inside torch or numpy.
Numbers may be Python, numpy or 0-d torch scalars; ``bool`` is never taken for a number.

Like :mod:`lecturelib.config`, this module imports nothing else from :mod:`lecturelib`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

__all__ = [
    "check_int", "check_number", "check_hyperparameter", "check_rng", "child_seed", "check_finite", "check_array",
    "check_tensor", "check_choice", "check_callable",
    "check_codes", "check_factors", "check_pair", "check_train_test", "varying_factors",
]


def _range_phrase(minimum: float | None, maximum: float | None, strict: bool) -> str:
    low = "" if minimum is None else (f" > {minimum}" if strict else f" >= {minimum}")
    high = "" if maximum is None else f" <= {maximum}"
    return low + (" and" if low and high else "") + high


def check_int(value: object, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as a Python int in ``[minimum, maximum]`` or raise ``ValueError`` naming it.

    Accepts Python and numpy integers and 0-d integer tensors; refuses ``bool`` and floats (even
    ``2.0``: a count given as a float is usually a mistake, such as ``n / 2``).
    """
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point() \
            and value.dtype != torch.bool and not value.is_complex():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int{_range_phrase(minimum, maximum, False)}, got {value!r}")
    return int(value)


def check_number(value: object, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 strict: bool = False, finite: bool = True) -> float:
    """Return ``value`` as a Python float in range or raise ``ValueError`` naming it.

    Accepts Python and numpy real scalars and 0-d tensors or arrays. NaN is always refused (every
    comparison with NaN is False, so a range check alone lets it through); ``finite=False`` lets
    infinities through. ``strict=True`` makes ``minimum`` exclusive (``> minimum``).
    """
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0 and not value.dtype == bool \
            and not (value.is_complex() if isinstance(value, torch.Tensor) else np.iscomplexobj(value)):
        value = value.item()
    expected = f"a {'finite ' if finite else ''}number{_range_phrase(minimum, maximum, strict)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)) or \
            (minimum is not None and (number <= minimum if strict else number < minimum)) or \
            (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return number


def check_hyperparameter(value: object, name: str, *, minimum: float | None = None, maximum: float | None = None,
                         strict: bool = False) -> float | torch.Tensor:
    """A number checked as by :func:`check_number`, or a 0-d real tensor passed through as it is.

    The tensor may be one model's value inside ``torch.func.vmap`` (the study's stacked training),
    whose value cannot be read, so only its shape and dtype are checked.
    """
    if isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name} must be a number or a 0-d real tensor, got a tensor of shape "
                             f"{tuple(value.shape)} and dtype {value.dtype}")
        return value
    return check_number(value, name, minimum=minimum, maximum=maximum, strict=strict)


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


def check_finite(x: torch.Tensor | np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming ``x`` if it holds NaN or infinite values (a host sync on a GPU)."""
    bad = (~torch.isfinite(x)) if isinstance(x, torch.Tensor) else ~np.isfinite(x)
    count = int(bad.sum())
    if count:
        raise ValueError(f"{name} contains {count} NaN or infinite values; expected finite values")


def _shape_phrase(ndim: int | tuple[int, ...] | None, layout: str | None) -> str:
    if layout is not None:
        return f"shape {layout}"
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim or ())
    return " or ".join(f"{n} axes" for n in ndims)


def check_array(x: object, name: str, *, ndim: int | tuple[int, ...] | None = None, layout: str | None = None,
                dtype: type | None = np.float64, finite: bool = True) -> np.ndarray:
    """Return ``x`` as a numpy array with ``ndim`` axes or raise ``ValueError`` naming it.

    ``dtype=None`` keeps a numeric (or boolean) dtype as it is, otherwise the array is converted.
    Torch tensors are detached and copied to the CPU. ``layout`` (e.g. ``"(n_samples, n_features)"``)
    names the axes in the message; ``finite`` refuses NaN and infinities.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.float() if x.dtype == torch.bfloat16 else x  # numpy has no bfloat16
        x = x.numpy()
    expected = _shape_phrase(ndim, layout) or "any shape"
    if np.iscomplexobj(x):  # converting would drop the imaginary part with only a warning
        raise ValueError(f"{name} must be a real numeric array of {expected}, got complex values")
    try:
        array = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array of {expected}: {err}") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise ValueError(f"{name} must be a real numeric array of {expected}, got dtype {array.dtype}")
    if ndim is not None and array.ndim not in ((ndim,) if isinstance(ndim, int) else tuple(ndim)):
        raise ValueError(f"{name} must have {expected}, got shape {array.shape}")
    if finite:
        check_finite(array, name)
    return array


def check_tensor(x: object, name: str, *, ndim: int | tuple[int, ...] | None = None, layout: str | None = None,
                 floating: bool = True, finite: bool = False) -> torch.Tensor:
    """Check that ``x`` is a torch tensor with ``ndim`` axes (and a floating dtype) or raise ``ValueError``.

    ``finite=True`` also refuses NaN and infinities: a host synchronisation on a GPU, so for entry
    points, not for a function called at every training step.
    """
    expected = _shape_phrase(ndim, layout)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor{' of ' + expected if expected else ''}, "
                         f"got {type(x).__name__}")
    if ndim is not None and x.ndim not in ((ndim,) if isinstance(ndim, int) else tuple(ndim)):
        raise ValueError(f"{name} must have {expected}, got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if finite:
        check_finite(x, name)
    return x


def check_choice(value: object, name: str, choices: tuple | list) -> object:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` naming it and them."""
    if isinstance(value, (str, int, float, bool, type(None))) and value in choices:
        return value
    raise ValueError(f"{name}={value!r} is not known; expected one of: {', '.join(map(repr, choices))}")


def check_callable(value: object, name: str, expected: str = "a function") -> object:
    """Return ``value`` if it can be called, else raise ``ValueError`` naming it (``expected``: what it should be)."""
    if not callable(value):
        raise ValueError(f"{name} must be {expected}, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------------------------
# codes and factors, as the metrics take them
# --------------------------------------------------------------------------------------------

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
