"""Compute scale, device, seeds and the one-line notebook set-up.

Every chapter sizes its work with :func:`scaled` instead of hard-coding numbers, so the same
notebook runs in CI (``tiny``), on the rendered site or a laptop (``default``) and on a GPU or a
cluster (``paper``). The scale comes from the environment variable ``LECTURELIB_SCALE``.

This module imports nothing else from :mod:`lecturelib`; every other module may import it.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

SCALES: tuple[str, ...] = ("tiny", "default", "paper")
"""Allowed values of ``LECTURELIB_SCALE``, from cheapest to most expensive."""

SCALE_ENV = "LECTURELIB_SCALE"
DEVICE_ENV = "LECTURELIB_DEVICE"
THREADS_ENV = "LECTURELIB_THREADS"

T = TypeVar("T")


def get_scale() -> str:
    """Return the compute scale named by ``LECTURELIB_SCALE`` (default ``"default"``).

    Raises ``ValueError`` naming the allowed values for anything else.
    """
    return check_scale(os.environ.get(SCALE_ENV, "default").strip().lower() or "default", SCALE_ENV)


def check_scale(scale: object, name: str = "scale") -> str:
    """Return ``scale`` if it names a compute scale (``SCALES``), else raise ``ValueError`` naming ``name``."""
    if scale not in SCALES:
        raise ValueError(f"{name}={scale!r} is not a known scale; expected one of: {', '.join(SCALES)}")
    return scale


def scaled(*, tiny: T, default: T, paper: T | None = None, scale: str | None = None) -> T:
    """Pick the value for the current (or given) scale; ``paper`` falls back to ``default``.

    Example: ``num_steps = scaled(tiny=50, default=2_000, paper=20_000)``.
    """
    scale = get_scale() if scale is None else check_scale(scale)
    if scale == "tiny":
        return tiny
    if scale == "paper" and paper is not None:
        return paper
    return default


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a device.

    ``None`` means the value of ``LECTURELIB_DEVICE``, or ``"auto"`` when it is unset.
    """
    if isinstance(device, torch.device):
        return device
    if device is None:
        device = os.environ.get(DEVICE_ENV, "auto")
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
        return torch.device(name)
    raise ValueError(f"device={device!r} is not a known device; expected one of: auto, cpu, cuda, cuda:N")


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) random number generators."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def set_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads; return the number.

    ``None`` means ``LECTURELIB_THREADS``, else ``OMP_NUM_THREADS``, else all cores (a variable that is
    unset, empty or ``0`` passes to the next). Anything else but a positive int in either variable
    raises ``ValueError`` naming the variable.
    """
    if num_threads is None:
        num_threads = _threads_from_env(THREADS_ENV) or _threads_from_env("OMP_NUM_THREADS") or (os.cpu_count() or 1)
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) or num_threads < 1:
        raise ValueError(f"num_threads must be an int >= 1, got {num_threads!r}")
    torch.set_num_threads(int(num_threads))
    return int(num_threads)


def _threads_from_env(name: str) -> int | None:
    """The positive int in environment variable ``name``; ``None`` when unset, empty or ``0``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number == 0:
        return None
    if number < 1:
        raise ValueError(f"{name}={value!r} is not a number of threads; expected an int >= 1")
    return number
