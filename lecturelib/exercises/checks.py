"""The autograding framework: each code exercise has one check that explains what is wrong.

A check runs the student's function on small cases with known answers. It passes with a one-line
message, or raises :class:`CheckFailed` whose message says what was expected and what came back
(wrong type or shape, a wrong value on a named case, not sparse enough, ...), never a bare
assertion. A stub that still raises ``NotImplementedError`` fails with a message saying so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

_REGISTRY: dict[str, "ExerciseCheck"] = {}


class CheckFailed(AssertionError):
    """A student's answer failed its check; the message says why and how to look for the bug."""


@dataclass(frozen=True)
class ExerciseCheck:
    """A named check of one code exercise (``label`` is the exercise's label in the book)."""

    label: str
    description: str
    run: Callable[[Callable[..., Any]], str]

    def __call__(self, function: Callable[..., Any]) -> str:
        if not callable(function):
            raise CheckFailed(f"{self.label}: expected a function, got {type(function).__name__}")
        try:
            summary = self.run(function)
        except NotImplementedError as error:
            raise CheckFailed(f"{self.label}: not implemented yet ({error}). Write your solution, then "
                              "run this check again.") from None
        except CheckFailed as error:
            raise CheckFailed(f"{self.label}: {error}") from None
        except Exception as error:  # a crash inside the student's code: say where it came from
            raise CheckFailed(f"{self.label}: your function raised {type(error).__name__}: {error}") from error
        message = f"{self.label}: passed. {summary}"
        print(message)
        return message


def exercise_check(label: str, description: str) -> Callable[[Callable[..., str]], ExerciseCheck]:
    """Register a check function ``run(student_function) -> summary`` under an exercise label."""
    def decorate(run: Callable[..., str]) -> ExerciseCheck:
        if label in _REGISTRY:
            raise ValueError(f"a check for {label} is registered already")
        check = ExerciseCheck(label=label, description=description, run=run)
        _REGISTRY[label] = check
        return check

    return decorate


def all_checks() -> dict[str, ExerciseCheck]:
    """Every registered check, by exercise label."""
    return dict(_REGISTRY)


def as_numpy(value: Any, what: str) -> np.ndarray:
    """The student's output as a float64 array, or a :class:`CheckFailed` naming ``what``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} should be an array, got {type(value).__name__}") from None
    return array


def expect_number(value: Any, what: str, *, meaning: str = "") -> float:
    """The student's output as one finite number, or a :class:`CheckFailed` naming ``what``.

    ``meaning`` says which number is meant, e.g. ``" (the mean over the factors)"``.
    """
    array = as_numpy(value, what)
    if array.size != 1:
        raise CheckFailed(f"{what} should be one number{meaning}, got an array of shape {array.shape}")
    number = float(array.reshape(()))
    if not math.isfinite(number):
        raise CheckFailed(f"{what} should be finite, got {number}")
    return number


def expect_shape(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Check the shape of an output; return it as an array."""
    array = as_numpy(value, what)
    if array.shape != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got {array.shape}")
    return array


def expect_close(value: Any, expected: Any, what: str, *, rtol: float = 1e-5, atol: float = 1e-6) -> np.ndarray:
    """Check shape and values of an output against the expected answer, naming the worst entry."""
    expected = np.asarray(expected, dtype=np.float64)
    array = expect_shape(value, expected.shape, what)
    if not np.all(np.isfinite(array)):
        raise CheckFailed(f"{what} contains NaN or infinite values")
    error = np.abs(array - expected) - (atol + rtol * np.abs(expected))
    if np.any(error > 0):
        worst = np.unravel_index(np.argmax(error), error.shape) if error.ndim else ()
        raise CheckFailed(f"{what} is wrong at index {tuple(int(i) for i in worst)}: expected "
                          f"{expected[worst]:.6g}, got {array[worst]:.6g}")
    return array
