"""Every metric of the Locatello et al. study at once, sharing the encoded samples (chapters 8, 9)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from lecturelib.validation import check_int, check_rng, child_seed
from lecturelib.metrics.classifier_based import dci, explicitness, sap
from lecturelib.metrics.information import mig, modularity, unsupervised_scores
from lecturelib.metrics.sampling import (
    CodeCache,
    Encoder,
    beta_vae_score,
    downstream,
    encode_factors,
    factor_vae_score,
    statistical_efficiency,
)

__all__ = ["METRICS", "evaluate_all"]

METRICS: tuple[str, ...] = (
    "beta_vae", "factor_vae", "mig", "modularity", "explicitness", "sap", "dci",
    "unsupervised", "downstream_lr", "downstream_gbt",
)
"""Names accepted by ``evaluate_all(metrics=...)``, in the order they are computed."""


def evaluate_all(
    data,
    encode: Encoder,
    random_state: int | np.random.Generator = 0,
    fast: bool = False,
    metrics: Sequence[str] | None = None,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = 64,
    num_variance_estimate: int = 10_000,
    downstream_sizes: Sequence[int] = (10, 100, 1000, 10_000),
    num_bins: int = 20,
    prune_threshold: float = 0.05,
    encode_batch_size: int = 1024,
    device: str | None = "auto",
    timings: dict[str, float] | None = None,
    boosting_rounds: int = 100,
) -> dict[str, float]:
    """Evaluate one representation with every metric; returns a flat ``{name: float}`` dict.

    The defaults are the sample sizes of disentanglement_lib's ``unsupervised_study_v1``: one
    shared pool of ``max(num_train, max(downstream_sizes))`` training and ``num_test`` test
    samples is encoded once and used by MIG (its first ``num_train``), modularity, explicitness,
    SAP, DCI, the unsupervised scores and both downstream tasks; BetaVAE and FactorVAE draw their
    own structured batches. Each metric gets its own seed spawned from ``random_state``, so
    leaving a metric out does not change the others.

    ``fast=True`` replaces the slow classifiers: extra trees for DCI's importances, LightGBM for
    the downstream gradient boosting, faster solvers of the same objectives (and the same
    cross-validation of ``C``) for explicitness, SAP and the downstream logistic regression; see
    :mod:`lecturelib.metrics.classifier_based` for what changes and the measured rank agreement.
    BetaVAE, FactorVAE, MIG, modularity and the unsupervised scores are the same in both modes.
    Their cost is rendering and encoding about 3 million images (at the default sizes), most of
    them repeats of the 737,280 grid points of dSprites: on deterministic data
    (``data.deterministic``) fast mode encodes each grid point once (:class:`CodeCache`), which
    gives the same codes when ``encode`` is deterministic, as posterior means are.
    ``timings``, if given, receives the seconds each metric took (``"encode"`` for the pool).
    ``boosting_rounds`` sets the trees per class of every gradient boosting (DCI and the GBT
    downstream task); keep the reference's 100 except to make a CI-sized run affordable.

    Keys: ``beta_vae.{train,eval}_accuracy``, ``factor_vae.{train,eval}_accuracy``,
    ``factor_vae.num_active``, ``mig``, ``modularity``, ``explicitness.{train,test}``, ``sap``,
    ``dci.{disentanglement,completeness,informativeness_train,informativeness_test}``,
    ``unsupervised.*``, ``downstream_{lr,gbt}.{n}.*`` and ``downstream_{lr,gbt}.statistical_efficiency``
    (100 vs 10,000 samples when both sizes are present).
    """
    chosen = METRICS if metrics is None else tuple(metrics)
    unknown = sorted(set(chosen) - set(METRICS))
    if unknown:
        raise ValueError(f"metrics={unknown} are not known; expected a subset of {METRICS}")
    num_train = check_int(num_train, "num_train", minimum=2)
    num_test = check_int(num_test, "num_test", minimum=1)
    sizes = [check_int(n, "downstream_sizes", minimum=1) for n in downstream_sizes]
    root = check_rng(random_state)
    seeds = dict(zip(("pool",) + METRICS, np.random.SeedSequence(child_seed(root)).spawn(len(METRICS) + 1)))
    rng = {name: np.random.default_rng(seq) for name, seq in seeds.items()}
    timings = {} if timings is None else timings
    scores: dict[str, float] = {}

    def timed(name: str, fn):
        start = time.perf_counter()
        out = fn()
        timings[name] = time.perf_counter() - start
        return out

    cache = CodeCache.for_data(data, encode, device, encode_batch_size) if fast else None
    needs_pool = set(chosen) - {"beta_vae", "factor_vae"}
    if needs_pool:
        # The pool's factors are drawn at full size whatever the metrics, so that leaving the
        # downstream tasks out changes no other metric's samples; only the rows used are encoded.
        pool_size = max([num_train] + sizes)
        encoded = pool_size if {"downstream_lr", "downstream_gbt"} & set(chosen) else num_train

        def encode_pool():
            f_train = np.asarray(data.sample_factors(pool_size, rng["pool"]), dtype=np.int64)[:encoded]
            f_test = np.asarray(data.sample_factors(num_test, rng["pool"]), dtype=np.int64)
            return (encode_factors(data, encode, f_train, encode_batch_size, device, cache), f_train,
                    encode_factors(data, encode, f_test, encode_batch_size, device, cache), f_test)

        codes_pool, factors_pool, codes_test, factors_test = timed("encode", encode_pool)
        codes_train, factors_train = codes_pool[:num_train], factors_pool[:num_train]

    for name in chosen:
        r = rng[name]
        if name == "beta_vae":
            out = timed(name, lambda: beta_vae_score(
                data, encode, batch_size, num_train, num_test, r, encode_batch_size, device, cache))
            scores.update({f"beta_vae.{k}": v for k, v in out.items()})
        elif name == "factor_vae":
            out = timed(name, lambda: factor_vae_score(
                data, encode, batch_size, num_train, num_test, num_variance_estimate, prune_threshold,
                r, encode_batch_size, device, cache))
            scores.update({f"factor_vae.{k}": float(v) for k, v in out.items()})
        elif name == "mig":
            scores["mig"] = timed(name, lambda: mig(codes_train, factors_train, num_bins))
        elif name == "modularity":
            scores["modularity"] = timed(name, lambda: modularity(codes_train, factors_train, num_bins))
        elif name == "explicitness":
            out = timed(name, lambda: explicitness(codes_train, factors_train, codes_test, factors_test, r, fast=fast))
            scores.update({f"explicitness.{k}": v for k, v in out.items()})
        elif name == "sap":
            scores["sap"] = timed(name, lambda: sap(codes_train, factors_train, codes_test, factors_test, random_state=r, fast=fast))
        elif name == "dci":
            importance = "extra_trees" if fast else "gbt"
            out = timed(name, lambda: dci(
                codes_train, factors_train, codes_test, factors_test, importance=importance, random_state=r,
                boosting_rounds=boosting_rounds))
            scores.update({f"dci.{k}": v for k, v in out.items()})
        elif name == "unsupervised":
            out = timed(name, lambda: unsupervised_scores(codes_train, num_bins))
            scores.update({f"unsupervised.{k}": v for k, v in out.items()})
        else:  # downstream_lr / downstream_gbt
            model = "lr" if name == "downstream_lr" else "gbt"
            pool = (codes_pool, factors_pool, codes_test, factors_test)
            out = timed(name, lambda: downstream(
                data, encode, sizes, num_test, model=model, fast=fast, random_state=r, pool=pool,
                boosting_rounds=boosting_rounds))
            scores.update({f"{name}.{k}": v for k, v in out.items()})
            if 100 in sizes and 10_000 in sizes:
                scores[f"{name}.statistical_efficiency"] = statistical_efficiency(out)
    return scores
