"""A study's records as tables, and the statistics of the chapter: rank correlations, downstream
efficiency, variance decomposition, collapse diagnostics.

Used by chapter 9 (the Locatello et al. study) to compute the analogues of the paper's Figures 2, 5
and 6 {cite}`locatello2019challenging` from the records of :func:`lecturelib.study.run_study`:

- :func:`score_table`: the finished records as one ``(n_models, n_columns)`` array of scores, with
  each model's method, hyperparameters and seed;
- :func:`rank_correlation` (Fig. 2) and :func:`cross_rank_correlation` (Fig. 5): Spearman rank
  correlations (:func:`scipy.stats.spearmanr`) between metrics, and between metrics and downstream
  accuracies;
- :func:`efficiency`: statistical efficiency, mean downstream test accuracy with few samples over
  that with many (Fig. 6: 100 and 10,000);
- :func:`variance_decomposition`: how much of a score's spread is explained by the method, by the
  hyperparameter within a method and by the seed within a hyperparameter (a nested
  sum-of-squares split, see its docstring);
- :func:`completion`: how much of a grid is done;
- :func:`mean_image_reconstruction` (from :func:`pixel_entropy_sum`) and :func:`collapsed`: which
  models' decoders ignore the code.

The figures are in :mod:`lecturelib.study.figures`, the cost of a study in :mod:`lecturelib.study.cost`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import scipy.stats

from lecturelib.data.ground_truth import check_ground_truth_data
from lecturelib.study.grid import Job, format_hparams
from lecturelib.validation import check_array, check_int, check_number

HEADLINE_METRICS: dict[str, str] = {
    "BetaVAE": "beta_vae.eval_accuracy",
    "FactorVAE": "factor_vae.eval_accuracy",
    "MIG": "mig",
    "DCI Disentanglement": "dci.disentanglement",
    "Modularity": "modularity",
    "SAP": "sap",
}
"""The six disentanglement scores of the paper's Fig. 2, by label, as keys of a record's ``scores``."""

_DOWNSTREAM = re.compile(r"^downstream_(lr|gbt)\.(\d+)\.mean_test_accuracy$")


@dataclass(frozen=True)
class StudyTable:
    """Finished models of a study as arrays (one row per model).

    Attributes
    ----------
    job_ids : ``(n_models,)`` job ids
    methods : ``(n_models,)`` method names
    hparams : ``(n_models,)`` hyperparameters as ``key=value,...`` strings (unique within a method)
    seeds : ``(n_models,)`` int seeds
    columns : labels of the score columns
    values : ``(n_models, n_columns)`` float scores, ``nan`` where a record lacks one
    """

    job_ids: np.ndarray
    methods: np.ndarray
    hparams: np.ndarray
    seeds: np.ndarray
    columns: tuple[str, ...]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.job_ids)

    def column(self, label: str) -> np.ndarray:
        """The scores of column ``label``, ``(n_models,)``."""
        if label not in self.columns:
            raise ValueError(f"label={label!r} is not a column; expected one of: {', '.join(self.columns)}")
        return self.values[:, self.columns.index(label)]


def finished(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records with ``status == "ok"`` (failed jobs carry no scores)."""
    return [r for r in records if r.get("status") == "ok"]


def score_table(records: Iterable[Mapping[str, Any]], columns: Mapping[str, str] | None = None) -> StudyTable:
    """The finished records as a :class:`StudyTable`.

    ``columns`` maps a label to a key of the records' ``scores`` (default :data:`HEADLINE_METRICS`);
    a missing score is ``nan``. Records that are not finished are left out.
    """
    columns = dict(HEADLINE_METRICS if columns is None else columns)
    if not columns:
        raise ValueError("columns must name at least one score")
    ok = finished(records)
    values = np.full((len(ok), len(columns)), np.nan)
    for i, record in enumerate(ok):
        scores = record.get("scores", {})
        for j, key in enumerate(columns.values()):
            value = scores.get(key)
            values[i, j] = np.nan if value is None else float(value)
    config = [r["config"] for r in ok]
    return StudyTable(
        job_ids=np.array([r["job_id"] for r in ok], dtype=str),
        methods=np.array([c["model"] for c in config], dtype=str),
        hparams=np.array([format_hparams(c["hparams"]) for c in config], dtype=str),
        seeds=np.array([int(c["seed"]) for c in config], dtype=np.int64),
        columns=tuple(columns), values=values)


def downstream_sizes(records: Iterable[Mapping[str, Any]], model: str = "gbt") -> list[int]:
    """Training sizes of the ``model`` (``"lr"`` or ``"gbt"``) downstream task present in every finished record."""
    if model not in ("lr", "gbt"):
        raise ValueError(f"model={model!r} is not known; expected 'lr' or 'gbt'")
    common: set[int] | None = None
    for record in finished(records):
        sizes = {int(m.group(2)) for key in record.get("scores", {})
                 if (m := _DOWNSTREAM.match(key)) and m.group(1) == model}
        common = sizes if common is None else common & sizes
    return sorted(common or ())


def downstream_columns(records: Iterable[Mapping[str, Any]], models: Sequence[str] = ("lr", "gbt")
                       ) -> dict[str, str]:
    """Labels (``"LR 100"``, ``"GBT 10000"``, ...) to score keys of the mean downstream test accuracy."""
    records = list(records)
    return {f"{model.upper()} {n}": f"downstream_{model}.{n}.mean_test_accuracy"
            for model in models for n in downstream_sizes(records, model)}


def efficiency_sizes(sizes: Sequence[int], small: int = 100, large: int = 10_000) -> tuple[int, int]:
    """``(small, large)`` if both are in ``sizes``, else the smallest and largest size (fewer than 2: error)."""
    sizes = sorted(set(int(n) for n in sizes))
    if len(sizes) < 2:
        raise ValueError(f"statistical efficiency needs two downstream sizes, got {sizes}")
    if small in sizes and large in sizes:
        return small, large
    return sizes[0], sizes[-1]


def efficiency(records: Iterable[Mapping[str, Any]], model: str = "gbt", small: int | None = None,
               large: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Statistical efficiency of every finished record: accuracy with ``small`` / with ``large`` samples.

    The paper's Fig. 6 uses 100 and 10,000 samples; by default those are used when present, else the
    smallest and largest sizes the records have (:func:`efficiency_sizes`). Returns the
    ``(n_models,)`` ratios (in the order of :func:`score_table`) and the sizes used.
    """
    records = finished(records)
    if small is None or large is None:
        small, large = efficiency_sizes(downstream_sizes(records, model))
    num, den = f"downstream_{model}.{small}.mean_test_accuracy", f"downstream_{model}.{large}.mean_test_accuracy"
    ratios = np.full(len(records), np.nan)
    for i, record in enumerate(records):
        scores = record.get("scores", {})
        if num not in scores or den not in scores:
            raise ValueError(f"record {record['job_id']} has no {model} downstream accuracy at {small} and {large}")
        if scores[den] > 0:
            ratios[i] = scores[num] / scores[den]
    return ratios, (small, large)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(scipy.stats.spearmanr(a, b).statistic)


def rank_correlation(scores: object) -> np.ndarray:
    """Spearman rank correlation between the columns of ``scores`` ``(n_models, n_metrics)``.

    Each pair uses the models where both scores are finite; an entry is ``nan`` where fewer than 3
    such models exist or a score is constant over them (a rank correlation is undefined), the
    diagonal included. Returns ``(n_metrics, n_metrics)``, symmetric.
    """
    x = check_array(scores, "scores", ndim=2, layout="(n_models, n_metrics)", finite=False)  # NaN: a missing score
    return cross_rank_correlation(x, x)


def cross_rank_correlation(scores: object, targets: object) -> np.ndarray:
    """Spearman rank correlation of each column of ``scores`` ``(n, p)`` with each of ``targets`` ``(n, q)``.

    Same conventions as :func:`rank_correlation`; returns ``(p, q)``. Fig. 5 of the paper is this
    with the six metrics as ``scores`` and downstream accuracies and efficiencies as ``targets``.
    """
    x = check_array(scores, "scores", ndim=2, layout="(n_models, n_scores)", finite=False)  # NaN: a missing score
    y = check_array(targets, "targets", ndim=2, layout="(n_models, n_targets)", finite=False)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"targets must have {x.shape[0]} rows like scores, got {y.shape[0]}")
    return np.array([[_spearman(x[:, i], y[:, j]) for j in range(y.shape[1])] for i in range(x.shape[1])])


def variance_decomposition(values: object, methods: Sequence[Any], hparams: Sequence[Any]) -> dict[str, float]:
    """Split the spread of a score over models into method, hyperparameter and seed (nested sums of squares).

    With :math:`y_{mhs}` the score of seed :math:`s` of hyperparameter setting :math:`h` of method
    :math:`m`, and bars for means over the missing indices, the total sum of squares splits exactly
    (balanced or not) into

    .. math::
        \\sum (y_{mhs} - \\bar y)^2 = \\underbrace{\\sum_m n_m (\\bar y_m - \\bar y)^2}_{\\text{method}}
        + \\underbrace{\\sum_{m,h} n_{mh} (\\bar y_{mh} - \\bar y_m)^2}_{\\text{hyperparameter}}
        + \\underbrace{\\sum (y_{mhs} - \\bar y_{mh})^2}_{\\text{seed}},

    the sums of squares of a nested (hierarchical) one-way ANOVA. Returned as fractions of the total
    (``"method"``, ``"hyperparameter"``, ``"seed"``, summing to 1) with ``"total_ss"`` and ``"n"``.
    These are descriptive shares, not variance-component estimates: seed noise also moves the group
    means, so even a score that is pure seed noise gives the method and hyperparameter terms a share
    (on average ``(M - 1)/(N - 1)`` and ``(G - M)/(N - 1)`` for ``M`` methods, ``G`` settings, ``N``
    models). Models with a non-finite score are left out; a constant score gives ``nan`` shares.
    """
    y = check_array(values, "values", ndim=1, layout="(n_models,)", finite=False)  # non-finite: left out
    methods, hparams = np.asarray(methods, dtype=str), np.asarray(hparams, dtype=str)
    if methods.shape != y.shape or hparams.shape != y.shape:
        raise ValueError(f"methods and hparams must have shape {y.shape} like values, "
                         f"got {methods.shape} and {hparams.shape}")
    keep = np.isfinite(y)
    y, methods, hparams = y[keep], methods[keep], hparams[keep]
    if y.size < 2:
        raise ValueError(f"variance_decomposition needs at least 2 finite values, got {y.size}")
    _, m_idx = np.unique(methods, return_inverse=True)
    _, g_idx = np.unique(np.char.add(np.char.add(methods, "\x00"), hparams), return_inverse=True)

    def group_means(index: np.ndarray) -> np.ndarray:
        return (np.bincount(index, weights=y) / np.bincount(index))[index]

    mean_m, mean_g = group_means(m_idx), group_means(g_idx)
    ss = {"method": float(np.sum((mean_m - y.mean()) ** 2)),
          "hyperparameter": float(np.sum((mean_g - mean_m) ** 2)),
          "seed": float(np.sum((y - mean_g) ** 2))}
    total = float(np.sum((y - y.mean()) ** 2))
    shares = {k: (v / total if total > 0 else math.nan) for k, v in ss.items()}
    return {**shares, "total_ss": total, "n": int(y.size)}


def variance_table(table: StudyTable) -> np.ndarray:
    """:func:`variance_decomposition` of every column: ``(n_columns, 3)`` shares (method, hyperparameter, seed)."""
    rows = []
    for label in table.columns:
        out = variance_decomposition(table.column(label), table.methods, table.hparams)
        rows.append([out["method"], out["hyperparameter"], out["seed"]])
    return np.array(rows)


def seed_outweighs_method(table: StudyTable, shares: np.ndarray | None = None) -> list[str]:
    """Columns of ``table`` whose seed share exceeds their method share (columns with a defined split).

    ``shares`` is :func:`variance_table` of ``table``, computed here when not given.
    """
    shares = variance_table(table) if shares is None else np.asarray(shares)
    if shares.shape != (len(table.columns), 3):
        raise ValueError(f"shares must have shape ({len(table.columns)}, 3) for this table, got {shares.shape}")
    return [c for c, row in zip(table.columns, shares) if np.isfinite(row).all() and row[2] > row[0]]


def completion(records: Iterable[Mapping[str, Any]], jobs: Sequence[Job]) -> tuple[int, int]:
    """``(finished, total)``: how many jobs of the grid ``jobs`` have a finished record."""
    done = {r["job_id"] for r in finished(records)}
    return sum(job.job_id in done for job in jobs), len(jobs)


def pixel_entropy_sum(p: object) -> float:
    """Sum over pixels of the Bernoulli entropies (nats) of the pixel means ``p`` (any shape, in [0, 1]).

    This is the reconstruction loss, per image, of a decoder that outputs ``p`` for every image whose
    pixel means are ``p``.
    """
    p = check_array(p, "p")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError(f"p must hold pixel means in [0, 1], got values in [{p.min()}, {p.max()}]")
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-(p * np.log(p) + (1 - p) * np.log1p(-p)).sum())


def mean_image_reconstruction(data, num_samples: int = 20_000, seed: int = 0) -> float:
    """Reconstruction loss (nats per image) of the best decoder that ignores the code.

    Such a decoder outputs one Bernoulli image: the pixels' marginal means, estimated on
    ``num_samples`` images of ``data`` (a :class:`~lecturelib.data.dsprites.DSprites`) drawn with
    ``seed``; its loss is the sum of the pixels' entropies. A model that does no better has
    collapsed: its codes tell the decoder nothing about the image.
    """
    check_ground_truth_data(data, needs=("sample_factors", "render"))
    num_samples = check_int(num_samples, "num_samples", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    images = np.asarray(data.render(data.sample_factors(num_samples, seed)), dtype=np.float64)
    if images.min() < 0 or images.max() > 1:
        raise ValueError("data must render images with pixel values in [0, 1] (a Bernoulli likelihood)")
    return pixel_entropy_sum(images.mean(axis=0))


def collapsed(records: Iterable[Mapping[str, Any]], baseline: float, tolerance: float = 0.01) -> list[dict[str, Any]]:
    """The finished models whose final training reconstruction is within ``tolerance`` (relative) of ``baseline``.

    ``baseline``: :func:`mean_image_reconstruction` of the records' data set. Returns one dict per
    such model: ``job_id``, ``model``, ``reconstruction`` and ``kl`` (the last logged training means).
    """
    baseline = check_number(baseline, "baseline", minimum=0, strict=True)
    tolerance = check_number(tolerance, "tolerance", minimum=0, maximum=1)
    if tolerance == 1:
        raise ValueError(f"tolerance must be below 1, got {tolerance}")
    out = []
    for record in finished(records):
        curves = record.get("curves", {})
        if not curves.get("reconstruction"):
            continue
        reconstruction = float(curves["reconstruction"][-1])
        if reconstruction >= (1 - tolerance) * baseline:
            out.append({"job_id": record["job_id"], "model": record["config"]["model"],
                        "reconstruction": reconstruction, "kl": float(curves.get("kl", [math.nan])[-1])})
    return out
