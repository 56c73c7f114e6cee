"""The one-line set-up that opens every chapter: ``ctx = lecturelib.setup_notebook()``."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import numpy as np
import torch

from lecturelib.config import get_scale, resolve_device, seed_everything, set_threads
from lecturelib.plotting import use_book_style


@dataclass(frozen=True)
class NotebookContext:
    """What :func:`setup_notebook` chose: scale, device, seed and thread count."""

    scale: str
    device: torch.device
    seed: int
    num_threads: int

    def summary(self) -> str:
        """One line with scale, device, threads, seed and library versions."""
        import sklearn

        import lecturelib

        device = str(self.device)
        if self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)})"
        return (
            f"scale={self.scale} | device={device} | threads={self.num_threads} | seed={self.seed} | "
            f"lecturelib {lecturelib.__version__}, python {platform.python_version()}, "
            f"torch {torch.__version__}, numpy {np.__version__}, scikit-learn {sklearn.__version__}"
        )


def setup_notebook(seed: int = 0, device: str | None = None, num_threads: int | None = None,
                   verbose: bool = True) -> NotebookContext:
    """Prepare a chapter: seed everything, pick the device, set threads and the book's plot style.

    ``device=None`` reads ``LECTURELIB_DEVICE`` (default ``"auto"``: CUDA if present, else CPU).
    Prints one line (scale, device, versions) unless ``verbose=False``; returns the choices.
    """
    scale = get_scale()
    chosen_device = resolve_device(device)
    threads = set_threads(num_threads)
    seed_everything(seed)
    use_book_style()
    context = NotebookContext(scale=scale, device=chosen_device, seed=seed, num_threads=threads)
    if verbose:
        print(context.summary())
    return context
