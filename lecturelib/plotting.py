"""One plot style for the whole book, and the figure helpers that several chapters share.

Figures are drawn on an opaque white card so they stay readable in the site's dark mode.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

PALETTE: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
)
"""Okabe-Ito colour-blind-safe colours, used in this order by every figure."""

BOOK_STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "#222222",
    "text.color": "#222222",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.frameon": False,
    "image.cmap": "gray",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (called by :func:`lecturelib.setup_notebook`)."""
    mpl.rcParams.update(BOOK_STYLE)


def image_grid(images: np.ndarray, ncols: int | None = None, *, titles: list[str] | None = None,
               cmap: str = "gray", symmetric: bool = False, ax_size: float = 1.0,
               suptitle: str | None = None) -> plt.Figure:
    """Draw ``images`` as a grid: ``(n, height, width)``, ``(n, features)`` with a square side, or
    colour/channel images ``(n, 1 or 3, height, width)`` / ``(n, height, width, 3)``.

    ``symmetric=True`` centres each image's colour scale on zero (for filters and atoms).
    """
    images = np.asarray(images, dtype=float)
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"images of shape {images.shape} are not square: pass (n, height, width)")
        images = images.reshape(-1, side, side)
    if images.ndim == 4 and images.shape[1] in (1, 3):  # channels first -> last
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(f"images must have shape (n, height, width) or (n, height, width, 3), got {images.shape}")
    n = images.shape[0]
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * ax_size, nrows * ax_size + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = images[i]
        if image.ndim == 3:
            ax.imshow(np.clip(image, 0, 1))
        elif symmetric:
            bound = np.abs(image).max() or 1.0
            ax.imshow(image, cmap="RdBu_r" if cmap == "gray" else cmap, vmin=-bound, vmax=bound)
        else:
            ax.imshow(image, cmap=cmap)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(history, names: tuple[str, ...] = ("loss",), *, ax: plt.Axes | None = None,
                 logy: bool = False, title: str | None = None) -> plt.Axes:
    """Training (solid) and evaluation (dashed) curves of a :class:`lecturelib.training.History`."""
    if ax is None:
        _, ax = plt.subplots()
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        if name in history.train:
            ax.plot(history.steps, history.train[name], color=color, label=f"{name} (train)")
        if name in history.eval:
            ax.plot(history.steps, history.eval[name], color=color, linestyle="--", label=f"{name} (test)")
    ax.set_xlabel("step")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def annotated_heatmap(matrix: np.ndarray, row_labels: list[str], col_labels: list[str] | None = None, *,
                      ax: plt.Axes | None = None, vmin: float = -1.0, vmax: float = 1.0, cmap: str = "RdBu_r",
                      digits: int = 2, title: str | None = None) -> plt.Axes:
    """A matrix ``(n_rows, n_cols)`` as a heatmap with each value written in its cell (``nan``: "n/a").

    Made for correlation matrices (chapter 9: rank correlations between metrics): a diverging colour
    map centred on 0, text white on dark cells and dark on light ones.
    """
    matrix = np.asarray(matrix, dtype=float)
    col_labels = list(row_labels if col_labels is None else col_labels)
    if matrix.ndim != 2 or matrix.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"matrix must have shape ({len(row_labels)}, {len(col_labels)}), got {matrix.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.75 * len(col_labels) + 2.2, 0.6 * len(row_labels) + 1.2))
    colormap = plt.get_cmap(cmap).with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=colormap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    norm = mpl.colors.Normalize(vmin, vmax)
    for (i, j), value in np.ndenumerate(matrix):
        dark = np.isfinite(value) and abs(norm(value) - 0.5) > 0.3
        ax.text(j, i, "n/a" if not np.isfinite(value) else f"{value:.{digits}f}", ha="center", va="center",
                fontsize=8, color="white" if dark else "#222222")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=40, ha="right")
    ax.set_yticks(range(len(row_labels)), row_labels)
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax
