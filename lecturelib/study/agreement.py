"""Fast mode against reference mode on the study's own trained models (chapter 8).

``evaluate_all(fast=True)`` replaces the slow classifiers of the reference implementation
(:mod:`lecturelib.metrics.classifier_based`). Whether that changes how the *models* rank is measured
here on the encoders the study keeps (:data:`lecturelib.study.jobs.ENCODER_SEEDS`): each is scored
in both modes on the same samples (same seed, so the same pool of images), and per score the
Spearman correlation over models says whether the two modes order them alike.

Only the scores whose classifiers differ between the modes are computed
(:data:`AGREEMENT_METRICS`); BetaVAE, FactorVAE, MIG and Modularity are identical in both modes.
Results are one JSON record per model in ``<study>/agreement/records/``, written atomically by
:class:`~lecturelib.store.RecordStore`, so a run can be stopped and resumed::

    python -m lecturelib.study agreement --out lecturelib/results/study_default [--seconds 3600]
"""

from __future__ import annotations

import os
import time
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import torch

from lecturelib.store import environment, now
from lecturelib.study.folder import Study
from lecturelib.study.runner import run_processes, stop_on_signals
from lecturelib.study.tables import cross_rank_correlation

AGREEMENT_METRICS: tuple[str, ...] = ("explicitness", "sap", "dci", "downstream_lr", "downstream_gbt")
"""The metrics of :func:`~lecturelib.metrics.evaluate_all` whose fast mode uses other classifiers."""

AGREEMENT_SIZES: dict[str, Any] = {"num_train": 2_000, "num_test": 1_000, "downstream_sizes": (100, 1_000),
                                   "boosting_rounds": 100}
"""Default sample sizes. Smaller than the study's (5,000 / 2,500, downstream up to 10,000): reference
mode's classifiers are single-threaded scikit-learn, minutes per model on one core at these sizes
(each record's timings say how many) and about 20 min at the study's. ``boosting_rounds`` is the
reference's 100; fewer only make a test affordable."""

LAYOUT = torch.contiguous_format
"""Memory layout of the images the kept encoders see here: the standard one, the layout of the
shipped agreement records (the study itself scores in channels-last on a CPU); see ``jobs.kept_encode``."""

DCI_CHOICE_MODELS: tuple[str, ...] = tuple(
    f"dsprites-{m}-seed0" for m in (
        "annealed_vae-c_max=25", "annealed_vae-c_max=5", "beta_tcvae-beta=1", "beta_vae-beta=1", "beta_vae-beta=16",
        "beta_vae-beta=4", "dip_vae_i-lambda_d=10,lambda_od=1", "dip_vae_ii-lambda_d=1,lambda_od=1",
        "factor_vae-gamma=10"))
"""The study models whose agreement records chose fast DCI's classifier (see
:mod:`lecturelib.metrics.classifier_based`); the agreement on the others is a held-out check."""

AGREEMENT_SCORES: dict[str, str] = {
    "Explicitness": "explicitness.test",
    "SAP": "sap",
    "DCI Disentanglement": "dci.disentanglement",
    "DCI Completeness": "dci.completeness",
    "DCI Informativeness": "dci.informativeness_test",
}
"""Scores compared, by label (the downstream accuracies are added per training size)."""


def rank_agreement(fast: Sequence[float], reference: Sequence[float]) -> float:
    """Spearman correlation of two modes' scores over models: 1.0 if they are equal, ``nan`` if one is constant."""
    fast, reference = np.asarray(fast, dtype=float), np.asarray(reference, dtype=float)
    if fast.ndim != 1 or fast.shape != reference.shape or fast.size < 2:
        raise ValueError(f"fast and reference must be 1-D with one score per model, at least 2 models, "
                         f"got shapes {fast.shape} and {reference.shape}")
    if np.allclose(fast, reference, equal_nan=True):
        return 1.0
    return float(cross_rank_correlation(fast[:, None], reference[:, None])[0, 0])


def _sizes(sizes: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {**AGREEMENT_SIZES, **(sizes or {})}
    unknown = set(out) - set(AGREEMENT_SIZES)
    if unknown:
        raise ValueError(f"sizes has unknown keys {sorted(unknown)}; expected some of {sorted(AGREEMENT_SIZES)}")
    out["downstream_sizes"] = [int(n) for n in out["downstream_sizes"]]
    return out


def score_both_modes(study_folder: str | os.PathLike, record: Mapping[str, Any], sizes: Mapping[str, Any] | None = None,
                     device: str = "cpu", metrics: Sequence[str] = AGREEMENT_METRICS,
                     modes: Sequence[str] = ("fast", "reference")) -> dict[str, Any]:
    """Score a study model's kept encoder in fast and reference mode on the same samples.

    Returns ``{"fast": scores, "reference": scores, "timings": {"fast_s", "reference_s"}}``, where
    ``scores`` are :func:`~lecturelib.metrics.evaluate_all`'s for ``metrics``; ``modes`` chooses
    which of the two are computed (re-scoring recomputes only the fast half).
    Raises ``KeyError`` if the record kept no encoder.
    """
    from lecturelib.metrics import evaluate_all
    from lecturelib.study.jobs import kept_encode, make_dataset

    encode = kept_encode(study_folder, record, device, layout=LAYOUT)
    data = make_dataset(record["config"]["dataset"])
    out: dict[str, Any] = {"timings": {}}
    for mode in modes:
        start = time.perf_counter()
        out[mode] = evaluate_all(data, encode, random_state=int(record["config"]["seed"]), fast=mode == "fast",
                                 metrics=metrics, device=device, **_sizes(sizes))
        out["timings"][f"{mode}_s"] = round(time.perf_counter() - start, 3)
    return out


def _score_and_store(study_folder: str, record: Mapping[str, Any], config: Mapping[str, Any], device: str,
                     threads: int | None, progress: bool = False) -> str:
    """Score one model in both modes and write its agreement record (what a worker process runs)."""
    if progress:
        print(f"scoring {record['job_id']} in fast and reference mode ...", flush=True)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    started = now()
    result = score_both_modes(study_folder, record, config["sizes"], device, config["metrics"])
    Study(study_folder).agreement_store.write(record["job_id"], {
        "job_id": record["job_id"], "status": "ok", "config": dict(config), "started": started,
        "scores": {m: result[m] for m in ("fast", "reference")}, "timings": result["timings"], **environment()})
    return record["job_id"]


def run_agreement(study_folder: str | os.PathLike, sizes: Mapping[str, Any] | None = None, *,
                  seconds: float | None = None, device: str = "cpu", metrics: Sequence[str] = AGREEMENT_METRICS,
                  workers: int = 1, progress: bool = False) -> list[str]:
    """Score every kept encoder of a study in both modes; return the job ids scored by this call.

    Models already scored (a record in ``<study_folder>/agreement``) are skipped, so rerunning
    resumes; they must have been scored at the same ``sizes`` and ``metrics`` (else ``ValueError``).
    With ``seconds``, no new model is started once that much time has passed. ``workers > 1``
    scores that many models at once in worker processes of one thread each (reference mode's
    scikit-learn classifiers use one core each); SIGINT or SIGTERM stops them within seconds
    (:class:`~lecturelib.study.runner.Interrupted`).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    sizes, start = _sizes(sizes), time.perf_counter()
    study = Study(study_folder)
    store = study.agreement_store
    todo = []
    for record in study.finished():
        if "encoder" not in record.get("artifacts", {}):
            continue
        config = {"job_id": record["job_id"], "sizes": sizes, "metrics": list(metrics)}
        previous = store.get(record["job_id"])
        if previous is None or previous.get("status") != "ok":
            todo.append((record, config))
        elif previous["config"] != config:
            raise ValueError(f"{store.folder} scored {record['job_id']} with {previous['config']}, not {config}; "
                             "use the same sizes and metrics, or remove that folder")

    def time_left() -> bool:
        return seconds is None or time.perf_counter() - start <= seconds

    done: list[str] = []
    if workers == 1:
        with stop_on_signals():
            for record, config in todo:
                if not time_left():
                    break
                done.append(_score_and_store(str(study_folder), record, config, device, None, progress))
        return done
    # A model whose worker died (or was stopped by Ctrl-C) is left out of the result; rerunning scores it.
    calls = [(_score_and_store, (str(study_folder), record, config, device, 1, progress)) for record, config in todo]
    run_processes(calls, workers, lambda index, job_id: done.append(job_id), lambda index, pid: None,
                  may_start=time_left)
    return done


def agreement_table(study_folder: str | os.PathLike, exclude: Collection[str] = ()) -> list[dict[str, Any]]:
    """Per score: models, Spearman correlation fast vs reference over them, and mean |fast - reference|.

    Rows follow :data:`AGREEMENT_SCORES`, then the downstream mean test accuracies per training
    size, for the scores the records have. Spearman is 1.0 where both modes give the same numbers,
    ``nan`` where a mode is constant over the models. Models whose job id is in ``exclude`` are
    left out (e.g. :data:`DCI_CHOICE_MODELS`, for a held-out check). An empty list if no model is left.
    """
    exclude = set(exclude)
    records = [r for r in Study(study_folder).agreement_records() if r["job_id"] not in exclude]
    if not records:
        return []
    sizes = records[0]["config"]["sizes"]["downstream_sizes"]
    scores = dict(AGREEMENT_SCORES)
    for model in ("lr", "gbt"):
        scores.update({f"{model.upper()} accuracy ({n})": f"downstream_{model}.{n}.mean_test_accuracy" for n in sizes})
    rows = []
    for label, key in scores.items():
        if key not in records[0]["scores"]["fast"]:
            continue
        fast = np.array([r["scores"]["fast"].get(key, np.nan) for r in records], dtype=float)
        reference = np.array([r["scores"]["reference"].get(key, np.nan) for r in records], dtype=float)
        rows.append({"score": label, "models": len(records), "spearman": rank_agreement(fast, reference),
                     "mean_abs_difference": float(np.nanmean(np.abs(fast - reference)))})
    return rows


def agreement_summary(study_folder: str | os.PathLike) -> dict[str, Any]:
    """Sizes, hardware and the median seconds per model in each mode of the agreement records."""
    records = Study(study_folder).agreement_records()
    if not records:
        return {"models": 0}
    return {"models": len(records), "sizes": records[0]["config"]["sizes"],
            "hardware": sorted({str(r.get("hardware", "?")) for r in records}),
            "median_fast_s": float(np.median([r["timings"]["fast_s"] for r in records])),
            "median_reference_s": float(np.median([r["timings"]["reference_s"] for r in records]))}


def format_agreement(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`agreement_table` as an aligned text table."""
    lines = [f"{'score':<24} {'models':>6} {'Spearman':>9} {'mean |fast - ref|':>18}"]
    lines += [f"{r['score']:<24} {r['models']:>6d} {r['spearman']:>9.3f} {r['mean_abs_difference']:>18.4f}" for r in rows]
    return "\n".join(lines)
