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
  sum-of-squares split, see its docstring), and :func:`variance_test` / :func:`variance_tests`, its
  method and hyperparameter terms tested against their noise level by permutation;
- :func:`seed_effect`: Friedman's test of the seed main effect (the study's seeds are crossed with the
  settings); :func:`spearman_test`: one rank correlation with its p-value;
- :func:`completion`: how much of a grid is done;
- :func:`mean_image_reconstruction` (from :func:`pixel_entropy_sum`) and :func:`collapsed`: which
  models' decoders ignore the code; :func:`degenerate`: the study's rule for the models left out of
  the figures' second version (final reconstruction above three times the grid's median).

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


def check_records(records: object, keys: Sequence[str] = ("status",), name: str = "records") -> list[Mapping[str, Any]]:
    """``records`` as a list, or ``ValueError`` unless each is a mapping holding ``keys`` (a study record)."""
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Iterable):
        raise ValueError(f"{name} must be an iterable of study records (mappings), got {type(records).__name__}")
    records = list(records)
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or any(key not in record for key in keys):
            raise ValueError(f"{name}[{i}] must be a study record, a mapping with the keys {list(keys)}; "
                             f"got {type(record).__name__}")
    return records


def finished(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records with ``status == "ok"`` (failed jobs carry no scores)."""
    return [r for r in check_records(records) if r["status"] == "ok"]


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


@dataclass(frozen=True)
class VarianceTests:
    """:func:`variance_tests` of a table's columns: the nested split with permutation tests of its terms.

    Attributes
    ----------
    columns : labels of the scores
    shares : ``(n_columns, 3)`` observed shares of the sum of squares: method, hyperparameter, seed
    noise : ``(n_columns, 2)`` mean method and hyperparameter shares under their null hypotheses
        (the noise baseline drawn on the bars)
    p_values : ``(n_columns, 2)`` permutation p-values of the method and hyperparameter terms
    f_p_values : ``(n_columns, 2)`` the same hypotheses by the F-tests of the nested ANOVA (method
        against hyperparameter, hyperparameter against seed), which assume normal errors
    num_permutations : permutations drawn per test
    """

    columns: tuple[str, ...]
    shares: np.ndarray
    noise: np.ndarray
    p_values: np.ndarray
    f_p_values: np.ndarray
    num_permutations: int


def _nested_sums(y: np.ndarray, method_idx: np.ndarray, setting_idx: np.ndarray, n_methods: int,
                 n_settings: int) -> tuple[np.ndarray, np.ndarray]:
    """Method and hyperparameter sums of squares of each row of ``y`` ``(P, n)`` with labels ``(P, n)`` or ``(n,)``."""
    p, n = y.shape
    offsets = np.arange(p)[:, None]

    def between(index: np.ndarray, size: int) -> np.ndarray:
        # sum over groups of n_g * mean_g^2, from one bincount over (row, group) pairs
        flat = (offsets * size + np.broadcast_to(index, (p, n))).ravel()
        sums = np.bincount(flat, weights=y.ravel(), minlength=p * size).reshape(p, size)
        counts = np.bincount(flat, minlength=p * size).reshape(p, size)
        return np.sum(np.divide(sums ** 2, counts, out=np.zeros_like(sums), where=counts > 0), axis=1)

    grand = y.sum(axis=1) ** 2 / n
    by_method, by_setting = between(method_idx, n_methods), between(setting_idx, n_settings)
    return by_method - grand, by_setting - by_method


def variance_test(values: object, methods: Sequence[Any], hparams: Sequence[Any], num_permutations: int = 9_999,
                  seed: int = 0) -> dict[str, float]:
    """:func:`variance_decomposition` of one score with a permutation test of its method and hyperparameter terms.

    Null hypotheses, each tested by permuting what it declares exchangeable (``num_permutations``
    draws from ``np.random.default_rng(seed)``):

    - *no method effect*: the settings are exchangeable between methods. Whole settings (all their
      seeds together) are shuffled among the methods, keeping each method's number of settings;
      the statistic is the method's share. The method is thus judged against the spread between
      settings, as in a nested ANOVA with random settings.
    - *no hyperparameter effect*: within each method the models are exchangeable. Models are
      shuffled within their method; the statistic is the hyperparameter's share.

    The p-value is ``(1 + #{null >= observed}) / (1 + num_permutations)``. ``"noise_method"`` and
    ``"noise_hyperparameter"`` are the mean shares under the nulls: for pure noise they are the
    ``(M - 1)/(N - 1)`` and ``(G - M)/(N - 1)`` of :func:`variance_decomposition`. ``"f_p_method"``
    and ``"f_p_hyperparameter"`` are the nested ANOVA's F-tests (``scipy.stats.f``), for comparison.
    Returns those with the shares, ``"total_ss"`` and ``"n"``; a constant score gives ``nan``.
    """
    if num_permutations < 1:
        raise ValueError(f"num_permutations must be >= 1, got {num_permutations}")
    out = variance_decomposition(values, methods, hparams)
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(y)
    y, methods, hparams = y[keep], np.asarray(methods, dtype=str)[keep], np.asarray(hparams, dtype=str)[keep]
    method_names, m_idx = np.unique(methods, return_inverse=True)
    settings, g_idx = np.unique(np.char.add(np.char.add(methods, "\x00"), hparams), return_inverse=True)
    n, n_m, n_g = y.size, len(method_names), len(settings)
    nan_keys = ("p_method", "p_hyperparameter", "noise_method", "noise_hyperparameter", "f_p_method",
                "f_p_hyperparameter")
    if not out["total_ss"] > 0:
        return {**out, **dict.fromkeys(nan_keys, math.nan)}
    rng = np.random.default_rng(seed)
    # method null: shuffle the settings' method labels
    setting_method = np.zeros(n_g, dtype=np.int64)
    setting_method[g_idx] = m_idx
    shuffled = setting_method[np.argsort(rng.random((num_permutations, n_g)), axis=1)]
    null_method, _ = _nested_sums(np.broadcast_to(y, (num_permutations, n)), shuffled[:, g_idx], g_idx, n_m, n_g)
    # hyperparameter null: shuffle the models within each method
    by_method = np.argsort(m_idx, kind="stable")
    within = np.argsort(m_idx[None, :] + rng.random((num_permutations, n)), axis=1)
    permuted = np.empty((num_permutations, n))
    permuted[:, by_method] = y[within]
    _, null_hp = _nested_sums(permuted, m_idx, g_idx, n_m, n_g)
    total = out["total_ss"]
    observed = np.array([out["method"], out["hyperparameter"]]) * total
    tol = 1e-9 * total  # ties up to rounding count as at least as large
    p_values = [(1 + np.sum(null >= obs - tol)) / (1 + num_permutations)
                for null, obs in zip((null_method, null_hp), observed)]
    ss_seed = out["seed"] * total
    df = (n_m - 1, n_g - n_m, n - n_g)

    def f_p(num: float, df_num: int, den: float, df_den: int) -> float:
        if df_num < 1 or df_den < 1 or not den > 0:
            return math.nan
        return float(scipy.stats.f.sf((num / df_num) / (den / df_den), df_num, df_den))

    return {**out, "p_method": float(p_values[0]), "p_hyperparameter": float(p_values[1]),
            "noise_method": float(null_method.mean() / total), "noise_hyperparameter": float(null_hp.mean() / total),
            "f_p_method": f_p(observed[0], df[0], observed[1], df[1]),
            "f_p_hyperparameter": f_p(observed[1], df[1], ss_seed, df[2])}


def variance_tests(table: StudyTable, num_permutations: int = 9_999, seed: int = 0) -> VarianceTests:
    """:func:`variance_test` of every column of ``table`` (chapter 9's variance-share figure)."""
    rows = [variance_test(table.column(label), table.methods, table.hparams, num_permutations, seed)
            for label in table.columns]
    return VarianceTests(
        columns=tuple(table.columns),
        shares=np.array([[r["method"], r["hyperparameter"], r["seed"]] for r in rows]),
        noise=np.array([[r["noise_method"], r["noise_hyperparameter"]] for r in rows]),
        p_values=np.array([[r["p_method"], r["p_hyperparameter"]] for r in rows]),
        f_p_values=np.array([[r["f_p_method"], r["f_p_hyperparameter"]] for r in rows]),
        num_permutations=num_permutations)


def seed_effect(table: StudyTable, label: str) -> dict[str, Any]:
    """Is one seed systematically better? The seed main effect of a crossed design, by Friedman's test.

    In the study a seed fixes the initial weights and the batch stream for every method, so seeds
    are crossed with the settings, not nested in them. Each setting (method, hyperparameters) that
    has a finite score for every seed of the table is a block; the seeds are the treatments, ranked
    within each block (:func:`scipy.stats.friedmanchisquare`). Blocks where all seeds tie carry no
    information on the order and are left out. Returns ``seeds`` ``(k,)``, ``n_blocks``,
    ``best_counts`` ``(k,)`` (blocks in which each seed scores highest; a tie counts for each tied
    seed), ``mean_ranks`` ``(k,)`` (1 = lowest score) and the test's ``statistic`` and ``p_value``
    (``nan`` with fewer than 3 seeds or 2 blocks, which the test needs).
    """
    y = table.column(label)
    seeds = np.unique(table.seeds)
    settings = sorted(set(zip(table.methods, table.hparams)))
    blocks = []
    for method, hp in settings:
        row = np.full(len(seeds), np.nan)
        mask = (table.methods == method) & (table.hparams == hp)
        row[np.searchsorted(seeds, table.seeds[mask])] = y[mask]
        if np.isfinite(row).all() and np.ptp(row) > 0:
            blocks.append(row)
    blocks = np.array(blocks).reshape(-1, len(seeds))
    statistic = p_value = math.nan
    if len(seeds) >= 3 and len(blocks) >= 2:
        result = scipy.stats.friedmanchisquare(*blocks.T)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return {"seeds": seeds, "n_blocks": len(blocks),
            "best_counts": np.sum(blocks == blocks.max(axis=1, keepdims=True), axis=0) if len(blocks) else
            np.zeros(len(seeds), dtype=int),
            "mean_ranks": scipy.stats.rankdata(blocks, axis=1).mean(axis=0) if len(blocks) else
            np.full(len(seeds), np.nan),
            "statistic": statistic, "p_value": p_value}


def spearman_test(a: object, b: object) -> tuple[float, float]:
    """Spearman's rho of two scores ``(n_models,)`` over the models where both are finite, and its two-sided p-value.

    ``(nan, nan)`` where fewer than 3 such models exist or a score is constant over them.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D of one length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan
    result = scipy.stats.spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def degenerate(records: Iterable[Mapping[str, Any]], factor: float = 3.0) -> list[str]:
    """Job ids of the finished models whose final reconstruction exceeds ``factor`` times the median over them.

    The study's rule for a degenerate (collapsed) model: it needs no data-set baseline, only the
    records. A model whose reconstruction loss (nats per image, the last logged training mean) is
    several times that of the typical model of its grid reconstructs next to nothing; chapter 9
    reports its figures with and without such models. Records without a reconstruction curve are
    never listed.
    """
    if not factor > 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    final = {r["job_id"]: float(r["curves"]["reconstruction"][-1]) for r in finished(records)
             if r.get("curves", {}).get("reconstruction")}
    if not final:
        return []
    median = float(np.median(list(final.values())))
    return [job_id for job_id, value in final.items() if value > factor * median]
