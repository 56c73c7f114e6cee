"""The figures of chapter 9 (the Locatello et al. study), one helper per kind.

:func:`plot_efficiency` (Fig. 6 analogue), :func:`plot_variance_decomposition` and
:func:`plot_record_curves`; the methods keep one colour and one label in every figure
(:data:`METHOD_COLORS`, :data:`METHOD_LABELS`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from lecturelib.models.regularizers import METHODS
from lecturelib.plotting import PALETTE

METHOD_LABELS: dict[str, str] = {
    "beta_vae": "β-VAE", "annealed_vae": "AnnealedVAE", "factor_vae": "FactorVAE",
    "beta_tcvae": "β-TCVAE", "dip_vae_i": "DIP-VAE-I", "dip_vae_ii": "DIP-VAE-II",
}
"""How the figures name the methods of :data:`lecturelib.models.regularizers.METHODS`."""

METHOD_COLORS: dict[str, str] = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(METHODS)}
"""One colour per method, the same in every figure of the chapter."""


def plot_efficiency(score: object, ratio: object, methods: Sequence[str], *, score_label: str = "FactorVAE score",
                    sizes: tuple[int, int] = (100, 10_000), model: str = "GBT",
                    ax: plt.Axes | None = None) -> plt.Axes:
    """Fig. 6 analogue: statistical efficiency against a metric, one point per model, coloured by method."""
    score, ratio = np.asarray(score, dtype=float), np.asarray(ratio, dtype=float)
    methods = np.asarray(methods, dtype=str)
    if score.shape != ratio.shape or methods.shape != score.shape or score.ndim != 1:
        raise ValueError(f"score, ratio and methods must be 1-D of one length, got {score.shape}, "
                         f"{ratio.shape}, {methods.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    for method in [m for m in METHODS if m in set(methods)] + sorted(set(methods) - set(METHODS)):
        mask = methods == method
        ax.scatter(score[mask], ratio[mask], s=30, alpha=0.85, color=METHOD_COLORS.get(method, "#777777"),
                   label=METHOD_LABELS.get(method, method), edgecolor="white", linewidth=0.5)
    ax.set_xlabel(score_label)
    ax.set_ylabel(f"{model} accuracy ({sizes[0]:,}) / ({sizes[1]:,})")
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_record_curves(records: Sequence[Mapping[str, Any]], key: str, labels: Sequence[str], *,
                       styles: Sequence[str] | None = None, colors: Sequence[str] | None = None,
                       ax: plt.Axes | None = None) -> plt.Axes:
    """One logged training curve per record, ``record["curves"][key]`` (nats) against the step.

    ``key``: a curve every record logged (``"reconstruction"``, ``"kl"``, ``"loss"``, ...);
    ``styles`` and ``colors``: one matplotlib line style and colour per record (default: solid lines,
    the book's palette in order).
    """
    for name, values in (("labels", labels), ("styles", styles), ("colors", colors)):
        if values is not None and len(values) != len(records):
            raise ValueError(f"{name} must have one entry per record ({len(records)}), got {len(values)}")
    for record in records:
        curves = record.get("curves", {})
        if key not in curves or "steps" not in curves:
            raise ValueError(f"key={key!r} is not a curve of {record.get('job_id')}; it has {sorted(curves)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, (record, label) in enumerate(zip(records, labels)):
        ax.plot(record["curves"]["steps"], record["curves"][key], styles[i] if styles else "-",
                color=colors[i] if colors else PALETTE[i % len(PALETTE)], label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_variance_decomposition(shares: object, labels: Sequence[str], *, ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal stacked bars: share of each score's sum of squares due to method, hyperparameter and seed."""
    shares = np.asarray(shares, dtype=float)
    if shares.ndim != 2 or shares.shape[1] != 3 or shares.shape[0] != len(labels):
        raise ValueError(f"shares must have shape ({len(labels)}, 3), got {shares.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 0.45 * len(labels) + 1.2))
    left = np.zeros(len(labels))
    rows = np.arange(len(labels))
    for j, (name, color) in enumerate(zip(("method", "hyperparameter", "seed"), PALETTE)):
        width = np.nan_to_num(shares[:, j])
        ax.barh(rows, width, left=left, color=color, label=name, edgecolor="white")
        for r in rows:
            if width[r] >= 0.08:
                ax.text(left[r] + width[r] / 2, r, f"{width[r]:.2f}", ha="center", va="center",
                        color="white", fontsize=8)
        left += width
    ax.set_yticks(rows, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the score's sum of squares")
    ax.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8)
    ax.grid(False)
    return ax
