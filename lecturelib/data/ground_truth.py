"""The interface shared by every data set with known factors of variation (dSprites and variants).

The disentanglement metrics (:mod:`lecturelib.metrics`) and the study (:mod:`lecturelib.study`)
need only this interface, so they evaluate any representation on any such data set.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class GroundTruthData(Protocol):
    """A data set generated from ``K`` discrete ground-truth factors (the slides' ``v``).

    Attributes
    ----------
    factor_names : tuple of K str
    factor_sizes : tuple of K int, the number of values of each factor
    deterministic : bool, optional
        True when ``render`` is a function of the factors (no random noise or colour); lets the
        metrics' fast mode encode each grid point once (:class:`lecturelib.metrics.CodeCache`).
        Taken as False when absent.
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        """``n`` factor vectors drawn uniformly over the grid: int64 array ``(n, K)`` of class indices."""
        ...

    def render(self, factors: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Images ``(n, channels, height, width)`` float32 in [0, 1] for factors ``(n, K)``.

        A numpy input gives a numpy output; a torch input gives a tensor on the input's device.
        """
        ...


GROUND_TRUTH_ATTRIBUTES: tuple[str, ...] = ("factor_names", "factor_sizes", "sample_factors", "render")
"""What :class:`GroundTruthData` requires of a data set."""


def check_ground_truth_data(data: object, needs: tuple[str, ...] = GROUND_TRUTH_ATTRIBUTES, name: str = "data") -> None:
    """Raise ``ValueError`` naming ``data`` if it lacks an attribute of :class:`GroundTruthData` in ``needs``.

    A function that uses only part of the interface (e.g. ``sample_factors`` and ``render``) asks only for it.
    """
    missing = [attribute for attribute in needs if not hasattr(data, attribute)]
    if missing:
        raise ValueError(f"{name} must be a ground-truth data set (lecturelib.data.ground_truth.GroundTruthData) "
                         f"with {', '.join(map(repr, missing))}; got {type(data).__name__}")
