"""The figures of chapter 9 (the Locatello et al. study), one helper per kind.

:func:`plot_efficiency` (Fig. 6 analogue), :func:`plot_variance_decomposition` and
:func:`plot_record_curves`; the methods keep one colour and one label in every figure
(:data:`METHOD_COLORS`, :data:`METHOD_LABELS`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import re

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
                    sizes: tuple[int, int] = (100, 10_000), model: str = "GBT", excluded: object | None = None,
                    ax: plt.Axes | None = None) -> plt.Axes:
    """Fig. 6 analogue: statistical efficiency against a metric, one point per model, coloured by method.

    ``excluded``: ``(n_models,)`` booleans, models drawn as hollow markers (chapter 9: the degenerate ones).
    """
    score, ratio = np.asarray(score, dtype=float), np.asarray(ratio, dtype=float)
    methods = np.asarray(methods, dtype=str)
    if score.shape != ratio.shape or methods.shape != score.shape or score.ndim != 1:
        raise ValueError(f"score, ratio and methods must be 1-D of one length, got {score.shape}, "
                         f"{ratio.shape}, {methods.shape}")
    excluded = np.zeros(score.shape, dtype=bool) if excluded is None else np.asarray(excluded, dtype=bool)
    if excluded.shape != score.shape:
        raise ValueError(f"excluded must have shape {score.shape} like score, got {excluded.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    for method in [m for m in METHODS if m in set(methods)] + sorted(set(methods) - set(METHODS)):
        color = METHOD_COLORS.get(method, "#777777")
        mask = (methods == method) & ~excluded
        ax.scatter(score[mask], ratio[mask], s=30, alpha=0.85, color=color,
                   label=METHOD_LABELS.get(method, method), edgecolor="white", linewidth=0.5)
        if np.any((methods == method) & excluded):
            mask = (methods == method) & excluded
            ax.scatter(score[mask], ratio[mask], s=30, facecolor="none", edgecolor=color, linewidth=1.0,
                       label=f"{METHOD_LABELS.get(method, method)} (degenerate)")
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


def plot_variance_decomposition(shares: object, labels: Sequence[str], *, noise: object | None = None,
                                p_values: object | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal stacked bars: share of each score's sum of squares due to method, hyperparameter and seed.

    ``noise`` ``(n_scores, 2)``: the method and hyperparameter shares expected under no effect
    (:class:`~lecturelib.study.tables.VarianceTests`), drawn as a black tick at the end each bar
    segment would reach if it were noise; ``p_values`` ``(n_scores, 2)``: their tests, written right of the bars.
    """
    shares = np.asarray(shares, dtype=float)
    if shares.ndim != 2 or shares.shape[1] != 3 or shares.shape[0] != len(labels):
        raise ValueError(f"shares must have shape ({len(labels)}, 3), got {shares.shape}")
    for name, extra in (("noise", noise), ("p_values", p_values)):
        if extra is not None and np.shape(extra) != (len(labels), 2):
            raise ValueError(f"{name} must have shape ({len(labels)}, 2), got {np.shape(extra)}")
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
    if noise is not None:
        noise = np.asarray(noise, dtype=float)
        # method segment starts at 0; the hyperparameter segment starts where the method's ends
        ends = np.column_stack([noise[:, 0], np.nan_to_num(shares[:, 0]) + noise[:, 1]])
        for j in range(2):
            ax.scatter(ends[:, j], rows, marker="|", s=260, color="black", linewidth=2, zorder=3,
                       label="noise level" if j == 0 else None)
    if p_values is not None:
        for r, (p_m, p_h) in zip(rows, np.asarray(p_values, dtype=float)):
            ax.text(1.02, r, f"p = {p_m:.3f} / {p_h:.3f}", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_yticks(rows, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the score's sum of squares")
    ax.legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8)
    ax.grid(False)
    return ax


def _setting_key(hparams: str) -> tuple[float, ...]:
    """Order of a ``key=value,...`` setting: its numeric values in turn (so that β = 4 comes before β = 16)."""
    return tuple(float(v) for v in re.findall(r"=([-+0-9.eE]+)", hparams))


def plot_hyperparameter_effect(values: object, methods: Sequence[str], hparams: Sequence[str], seeds: Sequence[int],
                               *, label: str, excluded: object | None = None,
                               axes: Sequence[plt.Axes] | None = None) -> np.ndarray:
    """One panel per method: a score ``(n_models,)`` against the method's settings, one point per seed.

    The settings (``key=value,...`` strings) are ordered by their values, equally spaced (the grids
    are logarithmic) and labelled by the hyperparameters that vary within the method; a line joins
    each seed's models across settings, since a seed gives every setting the same initial weights
    and batches, and a black bar marks each setting's mean.
    ``excluded`` ``(n_models,)`` booleans are drawn hollow (degenerate models). Returns the axes.
    """
    y = np.asarray(values, dtype=float)
    methods, hparams, seeds = np.asarray(methods, dtype=str), np.asarray(hparams, dtype=str), np.asarray(seeds)
    if y.ndim != 1 or not methods.shape == hparams.shape == seeds.shape == y.shape:
        raise ValueError(f"values, methods, hparams and seeds must be 1-D of one length, got {y.shape}, "
                         f"{methods.shape}, {hparams.shape}, {seeds.shape}")
    excluded = np.zeros(y.shape, dtype=bool) if excluded is None else np.asarray(excluded, dtype=bool)
    if excluded.shape != y.shape:
        raise ValueError(f"excluded must have shape {y.shape} like values, got {excluded.shape}")
    order = [m for m in METHODS if m in set(methods)] + sorted(set(methods) - set(METHODS))
    if axes is None:
        _, axes = plt.subplots(1, len(order), figsize=(2.3 * len(order) + 0.6, 2.9), sharey=True, squeeze=False)
        axes = axes[0]
    if len(axes) != len(order):
        raise ValueError(f"axes must hold one panel per method ({len(order)}), got {len(axes)}")
    markers = "osD^vP*X"
    for ax, method in zip(axes, order):
        in_method = methods == method
        settings = sorted(set(hparams[in_method]), key=_setting_key)
        x = np.array([settings.index(h) if m else -1 for m, h in zip(in_method, hparams)])
        for k, seed in enumerate(np.unique(seeds[in_method])):
            mask = in_method & (seeds == seed)
            line = np.argsort(x[mask])
            ax.plot(x[mask][line], y[mask][line], "-", color="#999999", lw=0.8, zorder=1)
            for hollow in (False, True):
                pick = mask & (excluded == hollow)
                ax.scatter(x[pick], y[pick], marker=markers[k % len(markers)], s=28, zorder=2,
                           color=METHOD_COLORS.get(method, "#777777") if not hollow else "none",
                           edgecolor=METHOD_COLORS.get(method, "#777777"),
                           label=f"seed {seed}" if not hollow and method == order[0] else None)
        means = [np.nanmean(y[in_method & (hparams == h)]) for h in settings]
        ax.scatter(range(len(settings)), means, marker="_", s=300, color="black", zorder=3,
                   label="mean" if method == order[0] else None)
        # label each setting by the hyperparameters that vary within the method (AnnealedVAE's fixed γ is noise)
        parts = [dict(p.split("=", 1) for p in h.split(",")) for h in settings]
        varying = [key for key in parts[0] if len({p.get(key) for p in parts}) > 1] or list(parts[0])
        ticks = ["\n".join(f"{key}={p[key]}" for key in varying) for p in parts]
        long = max(len(line) for t in ticks for line in t.split("\n")) > 9  # would overlap its neighbour
        ax.set_xticks(range(len(settings)), ticks, fontsize=7, rotation=35 if long else 0, ha="right" if long else "center")
        ax.set_xlim(-0.5, len(settings) - 0.5)
        ax.set_title(METHOD_LABELS.get(method, method), fontsize=10)
    axes[0].set_ylabel(label)
    axes[0].legend(fontsize=7, loc="best")
    return np.asarray(axes)
