"""One plot style for the whole book, and the figure helpers that several chapters share.

Figures are drawn on an opaque white card so they stay readable in the site's dark mode.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from lecturelib.validation import check_array, check_int, check_number

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
    images = check_array(images, "images", ndim=(2, 3, 4), layout="(n, height, width)")
    ax_size = check_number(ax_size, "ax_size", minimum=0, strict=True)
    if len(images) == 0:
        raise ValueError("images must hold at least one image, got none")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must give one title per image ({len(images)}), got {len(titles)}")
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
    ncols = int(np.ceil(np.sqrt(n))) if ncols is None else check_int(ncols, "ncols", minimum=1)
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
    if not all(hasattr(history, a) for a in ("steps", "train", "eval")):
        raise ValueError(f"history must be a lecturelib.training.History, got {type(history).__name__}")
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in history.train and n not in history.eval]
    if unknown:
        raise ValueError(f"names {unknown} were not logged; history has {sorted({*history.train, *history.eval})}")
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


def plot_probe_curves(curves: dict, *, chance: float | None = None, ax: plt.Axes | None = None,
                      level: float = 0.95, title: str | None = None) -> plt.Axes:
    """Probe accuracy against the number of labels, one line per representation, with its
    confidence band over repeats (``curves``: name -> :class:`lecturelib.evaluation.ProbeCurve`).

    The x axis is logarithmic; ``chance`` draws a dotted line at the chance accuracy. Chapter
    "Evaluating representations".
    """
    if not curves:
        raise ValueError("curves must name at least one representation")
    if not all(hasattr(c, "confidence_interval") and hasattr(c, "num_labels") for c in curves.values()):
        raise ValueError("curves must map names to lecturelib.evaluation.ProbeCurve objects")
    level = check_number(level, "level", minimum=0, maximum=1, strict=True)
    if chance is not None:
        chance = check_number(chance, "chance", minimum=0, maximum=1)
    if ax is None:
        _, ax = plt.subplots()
    for i, (name, curve) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        low, high = curve.confidence_interval(level)
        ax.plot(curve.num_labels, curve.mean, "o-", color=color, label=name, markersize=4)
        ax.fill_between(curve.num_labels, low, high, color=color, alpha=0.2, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="#666666", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("number of labelled training samples")
    ax.set_ylabel("test accuracy of the linear probe")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_embedding(embedding: np.ndarray, labels: np.ndarray, *, ax: plt.Axes | None = None,
                   title: str | None = None, point_size: float = 6.0) -> plt.Axes:
    """Scatter a 2-D embedding ``(n_samples, 2)`` coloured by integer class ``labels`` ``(n_samples,)``,
    each class's label written at its median (the t-SNE figure of chapter "Evaluating representations")."""
    embedding = check_array(embedding, "embedding", ndim=2, layout="(n_samples, 2)")
    labels = np.asarray(labels)
    point_size = check_number(point_size, "point_size", minimum=0, strict=True)
    if embedding.shape[1] != 2:
        raise ValueError(f"embedding must have shape (n_samples, 2), got {embedding.shape}")
    if labels.shape != (len(embedding),):
        raise ValueError(f"labels must have shape ({len(embedding)},), got {labels.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        points = embedding[labels == c]
        ax.scatter(points[:, 0], points[:, 1], s=point_size, color=cmap(i % cmap.N), alpha=0.7, linewidths=0)
        ax.text(*np.median(points, axis=0), str(c), fontsize=12, fontweight="bold", ha="center", va="center",
                color="#222222", bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7,
                                       "edgecolor": "none"})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def image_rows(rows: list[np.ndarray], row_labels: list[str], *, ax_size: float = 0.8,
               suptitle: str | None = None) -> plt.Figure:
    """Draw strips of square grey images, one row per array ``(n_images, side * side)`` (all rows the
    same length), each row named on its left (interpolation paths, chapter "Evaluating representations")."""
    if len(rows) != len(row_labels) or not rows:
        raise ValueError(f"give one label per row, got {len(rows)} rows and {len(row_labels)} labels")
    rows = [check_array(r, f"rows[{i}]", ndim=2, layout="(n_images, side * side)") for i, r in enumerate(rows)]
    ax_size = check_number(ax_size, "ax_size", minimum=0, strict=True)
    ncols = rows[0].shape[0]
    if any(r.ndim != 2 or r.shape[0] != ncols for r in rows):
        raise ValueError(f"every row must have shape ({ncols}, side * side), got {[r.shape for r in rows]}")
    side = int(round(np.sqrt(rows[0].shape[1])))
    if side * side != rows[0].shape[1]:
        raise ValueError(f"images with {rows[0].shape[1]} pixels are not square")
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * ax_size + 1.4, len(rows) * ax_size
                                                         + (0.4 if suptitle else 0)), squeeze=False)
    for r, (row, label) in enumerate(zip(rows, row_labels)):
        for c in range(ncols):
            ax = axes[r, c]
            ax.imshow(row[c].reshape(side, side), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def traversal_grid(traversal: np.ndarray, values: np.ndarray, *, row_labels: list[str] | None = None,
                   ax_size: float = 0.7, title: str | None = None) -> plt.Figure:
    """Latent traversals: ``traversal`` ``(n_rows, n_values, C, H, W)`` or ``(n_rows, n_values, H, W)``,
    one row per latent, columns the offsets ``values`` ``(n_values,)`` (chapter 7)."""
    traversal = check_array(traversal, "traversal", ndim=(4, 5), layout="(n_rows, n_values, [C,] H, W)")
    values = check_array(values, "values", ndim=1, layout="(n_values,)")
    ax_size = check_number(ax_size, "ax_size", minimum=0, strict=True)
    if traversal.ndim == 5:
        traversal = traversal[:, :, 0] if traversal.shape[2] == 1 else traversal.transpose(0, 1, 3, 4, 2)
    if traversal.ndim not in (4, 5) or traversal.shape[1] != len(values):
        raise ValueError(f"traversal must be (n_rows, {len(values)}, [C,] H, W), got {traversal.shape}")
    n_rows, n_cols = traversal.shape[:2]
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"row_labels must give one label per row: {n_rows} rows, {len(row_labels)} labels")
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * ax_size + 1.0, n_rows * ax_size + 0.5), squeeze=False)
    for i in range(n_rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.imshow(np.clip(traversal[i, j], 0, 1), cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([]); ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
            if i == 0:
                ax.set_title(f"{values[j]:+.1f}", fontsize=7)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def traversal_animation(traversal: np.ndarray, values: np.ndarray, *, row_labels: list[str] | None = None,
                        ax_size: float = 1.3, interval: int = 350) -> str:
    """Latent traversals as an animation with a slider that works on a static web page (no kernel).

    ``traversal`` ``(n_rows, n_values, C, H, W)`` or ``(n_rows, n_values, H, W)`` as for
    :func:`traversal_grid`; frame ``j`` shows every row's image at offset ``values[j]`` side by side.
    Returns the HTML of :meth:`matplotlib.animation.Animation.to_jshtml` (every frame pre-rendered as
    a PNG, stepped by JavaScript): show it with ``IPython.display.HTML``.
    """
    from matplotlib import animation

    traversal = check_array(traversal, "traversal", ndim=(4, 5), layout="(n_rows, n_values, [C,] H, W)")
    values = check_array(values, "values", ndim=1, layout="(n_values,)")
    ax_size = check_number(ax_size, "ax_size", minimum=0, strict=True)
    interval = check_int(interval, "interval", minimum=1)
    if traversal.ndim == 5:
        traversal = traversal[:, :, 0] if traversal.shape[2] == 1 else traversal.transpose(0, 1, 3, 4, 2)
    if traversal.ndim not in (4, 5) or traversal.shape[1] != len(values) or len(values) < 2:
        raise ValueError(f"traversal must be (n_rows, n_values={len(values)} >= 2, [C,] H, W), got {traversal.shape}")
    n_rows = traversal.shape[0]
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"give one label per row: {n_rows} rows, {len(row_labels)} labels")
    fig, axes = plt.subplots(1, n_rows, figsize=(n_rows * ax_size + 0.2, ax_size + 0.6), squeeze=False)
    shown = []
    for i, ax in enumerate(axes[0]):
        shown.append(ax.imshow(np.clip(traversal[i, 0], 0, 1), cmap="gray", vmin=0.0, vmax=1.0))
        ax.set_xticks([]); ax.set_yticks([]); ax.grid(False)
        if row_labels is not None:
            ax.set_title(row_labels[i], fontsize=8)
    heading = fig.suptitle("", fontsize=9)

    def draw(j: int):
        for i, image in enumerate(shown):
            image.set_data(np.clip(traversal[i, j], 0, 1))
        heading.set_text(f"offset t = {values[j]:+.2f}")
        return [*shown, heading]

    draw(0)
    anim = animation.FuncAnimation(fig, draw, frames=len(values), interval=interval, blit=False)
    html = anim.to_jshtml(default_mode="reflect")
    plt.close(fig)
    return html


def mi_heatmap(mi: np.ndarray, factor_names: list[str] | tuple[str, ...], *, ax: plt.Axes | None = None,
               normalizer: np.ndarray | None = None, title: str | None = None) -> plt.Axes:
    """Heat map of a latent x factor matrix ``mi`` ``(n_latents, n_factors)``, values printed in each cell.

    ``normalizer`` ``(n_factors,)`` (e.g. the factor entropies) divides each column (chapter 7).
    """
    mi = check_array(mi, "mi", ndim=2, layout="(n_latents, n_factors)")
    if mi.shape[1] != len(factor_names):
        raise ValueError(f"mi must be (n_latents, {len(factor_names)}), got {mi.shape}")
    if normalizer is not None:
        normalizer = check_array(normalizer, "normalizer", ndim=1, layout="(n_factors,)")
        if normalizer.shape != (mi.shape[1],) or np.any(normalizer <= 0):
            raise ValueError(f"normalizer must hold {mi.shape[1]} positive values, got {normalizer}")
    shown = mi / normalizer[None, :] if normalizer is not None else mi
    if ax is None:
        _, ax = plt.subplots(figsize=(0.9 * mi.shape[1] + 1.5, 0.35 * mi.shape[0] + 1.0))
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=max(float(shown.max()), 1e-12), aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(mi.shape[1]), factor_names)
    ax.set_yticks(range(mi.shape[0]), [f"z{j}" for j in range(mi.shape[0])])
    threshold = 0.6 * shown.max()
    for (j, k), value in np.ndenumerate(shown):
        ax.text(k, j, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="white" if value > threshold else "#222222")
    ax.figure.colorbar(image, ax=ax, fraction=0.05)
    if title:
        ax.set_title(title)
    return ax


def annotated_heatmap(matrix: np.ndarray, row_labels: list[str], col_labels: list[str] | None = None, *,
                      ax: plt.Axes | None = None, vmin: float = -1.0, vmax: float = 1.0, cmap: str = "RdBu_r",
                      digits: int = 2, title: str | None = None) -> plt.Axes:
    """A matrix ``(n_rows, n_cols)`` as a heatmap with each value written in its cell (``nan``: "n/a").

    Made for correlation matrices (chapter 9: rank correlations between metrics): a diverging colour
    map centred on 0, text white on dark cells and dark on light ones.
    """
    matrix = check_array(matrix, "matrix", ndim=2, layout="(n_rows, n_cols)", finite=False)  # NaN: "n/a"
    col_labels = list(row_labels if col_labels is None else col_labels)
    vmin, vmax = check_number(vmin, "vmin"), check_number(vmax, "vmax")
    if vmin >= vmax:
        raise ValueError(f"vmin must be below vmax, got vmin={vmin} and vmax={vmax}")
    digits = check_int(digits, "digits", minimum=0)
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


def posterior_ellipses(mu: np.ndarray, sigma: np.ndarray, *, colors=None, n_std: float = 1.0,
                       ax: plt.Axes | None = None, **ellipse_options) -> plt.Axes:
    """Draw each diagonal Gaussian q(h|x) = N(mu, diag sigma^2) of a 2-D latent space as an ellipse.

    ``mu``, ``sigma`` ``(n_samples, 2)``: means and standard deviations; the ellipse has half-axes
    ``n_std * sigma`` along the coordinate axes (a diagonal covariance is axis-aligned). ``colors``:
    one colour per sample, or ``None`` for the first of the palette. Chapter "Variational autoencoders".
    """
    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    if mu.ndim != 2 or mu.shape[1] != 2 or sigma.shape != mu.shape:
        raise ValueError(f"mu and sigma must have one shape (n_samples, 2), got {mu.shape} and {sigma.shape}")
    if not np.all(sigma > 0):
        raise ValueError("sigma must be positive")
    if ax is None:
        _, ax = plt.subplots()
    colors = [PALETTE[0]] * len(mu) if colors is None else list(colors)
    options = {"fill": False, "linewidth": 1.0, "alpha": 0.8} | ellipse_options
    for (x, y), (sx, sy), color in zip(mu, sigma, colors):
        ax.add_patch(Ellipse((x, y), 2 * n_std * sx, 2 * n_std * sy, edgecolor=color, **options))
    ax.update_datalim(np.concatenate([mu - n_std * sigma, mu + n_std * sigma]))
    ax.autoscale_view()
    return ax
