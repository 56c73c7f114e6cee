"""Score a study's models again after a metric's implementation changed, from the encoders it kept.

Scores of different models can only be compared if one version of the code computed them all. When
a metric changes, the models whose encoder the study kept (:data:`~lecturelib.study.jobs.ENCODER_SEEDS`)
are scored again with that metric, on the same samples: the same seed and sizes, and
:func:`~lecturelib.metrics.evaluate_all` draws each metric's samples independently of which others run. As a check that the samples are the same,
MIG (never changed, on the shared pool) is computed again and must equal the record's. A model
without a kept encoder cannot be re-scored; it is reported as stale and, with ``drop_stale``,
its record is removed so that ``python -m lecturelib.study run`` trains it again.

The agreement records (:mod:`lecturelib.study.agreement`) hold both modes' scores; their fast half
is recomputed whole (every compared metric; the others must not move), in the layout of their
reference half (:data:`~lecturelib.study.agreement.LAYOUT`), which is kept.
Each re-scored record lists what was re-scored, when, and with which code under ``"rescored"``::

    python -m lecturelib.study rescore --out lecturelib/results/study_default --metrics dci [--drop-stale]
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import torch

from lecturelib.config import resolve_device
from lecturelib.metrics import METRICS
from lecturelib.study.folder import Study
from lecturelib.store import environment, now

CHECK_METRIC = "mig"
"""Recomputed with every re-scoring; it must match the record, else the samples differ."""


def _metric(key: str) -> str:
    """The metric a score belongs to: ``"dci.completeness"`` -> ``"dci"``."""
    return key.split(".", 1)[0]


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    metrics = list(metrics)
    unknown = sorted(set(metrics) - set(METRICS))
    if not metrics or unknown:
        raise ValueError(f"metrics must be a non-empty subset of {METRICS}, got {metrics}")
    return metrics


def _provenance(metrics: Sequence[str]) -> dict[str, Any]:
    env = environment()
    return {"metrics": list(metrics), "date": now(), "git": env["versions"].get("git"), "hardware": env["hardware"]}


def _moved(old: Mapping[str, float], new: Mapping[str, float], keys: Sequence[str]) -> dict[str, tuple[float, float]]:
    """The scores among ``keys`` that differ between ``old`` and ``new`` beyond rounding: ``{key: (old, new)}``."""
    return {k: (old[k], new[k]) for k in keys if not math.isclose(old[k], new[k], rel_tol=1e-6, abs_tol=1e-9)}


def _samples_differ(job_id: str, moved: Mapping[str, tuple[float, float]]) -> RuntimeError:
    return RuntimeError(f"{job_id}: scores that should not change did, so the samples differ from the record's "
                        f"(old, new): {dict(moved)}")


def rescore_record(study_folder: str | os.PathLike, record: Mapping[str, Any], metrics: Sequence[str],
                   device: str = "cpu") -> dict[str, Any]:
    """The study ``record`` with ``metrics`` scored again from its kept encoder (``KeyError`` if none).

    A record may have been scored with images in the standard memory layout or in channels-last
    (the study's layout on a CPU); codes differ between layouts in the last bits, which can move a
    tree's split. The layout whose codes reproduce the record's MIG is used, and named in the
    record's ``"rescored"`` entry.
    """
    from lecturelib.study.grid import Job
    from lecturelib.study.jobs import evaluate_job, kept_encode, make_dataset, memory_format

    metrics, device = _check_metrics(metrics), resolve_device(device)
    job = Job.from_dict(record["config"])
    data, checks = make_dataset(job.dataset), [CHECK_METRIC] if CHECK_METRIC not in metrics else []
    moved: dict[str, tuple[float, float]] = {}
    for layout in dict.fromkeys([memory_format(device), torch.contiguous_format]):
        scores, timings = evaluate_job(job, kept_encode(study_folder, record, device, layout), data, device,
                                       list(dict.fromkeys([*metrics, CHECK_METRIC])))
        moved = _moved(record["scores"], scores, checks)
        if not moved:
            break
    else:
        raise _samples_differ(record["job_id"], moved)
    kept = {k: v for k, v in record["scores"].items() if _metric(k) not in metrics}
    new = {**kept, **{k: v for k, v in scores.items() if _metric(k) in metrics}}
    new_timings = {**record.get("timings", {}), **{f"eval.{m}_s": timings[f"eval.{m}_s"] for m in metrics}}
    provenance = {**_provenance(metrics), "layout": str(layout).removeprefix("torch.")}
    return {**record, "scores": dict(sorted(new.items())), "timings": new_timings,
            "rescored": [*record.get("rescored", []), provenance]}


def rescore_agreement_record(study_folder: str | os.PathLike, study_record: Mapping[str, Any],
                             agreement_record: Mapping[str, Any], metrics: Sequence[str],
                             device: str = "cpu") -> dict[str, Any]:
    """``agreement_record`` with its fast half recomputed; the scores of metrics outside ``metrics`` must not move."""
    from lecturelib.study.agreement import score_both_modes

    metrics, config = _check_metrics(metrics), agreement_record["config"]
    result = score_both_modes(study_folder, study_record, config["sizes"], device, config["metrics"], modes=("fast",))
    old, fast = agreement_record["scores"]["fast"], result["fast"]
    moved = _moved(old, fast, [k for k in old if _metric(k) not in metrics])
    if moved:
        raise _samples_differ(agreement_record["job_id"], moved)
    return {**agreement_record, "scores": {**agreement_record["scores"], "fast": fast},
            "timings": {**agreement_record["timings"], **result["timings"]},
            "rescored": [*agreement_record.get("rescored", []), _provenance(metrics)]}


def rescore(study_folder: str | os.PathLike, metrics: Sequence[str], *, device: str = "cpu",
            drop_stale: bool = False, progress: bool = False) -> dict[str, list[str]]:
    """Re-score ``metrics`` in every finished record of a study and of its agreement records.

    Returns ``{"rescored": [...], "agreement": [...], "stale": [...]}`` (job ids): study records
    re-scored, agreement records re-scored, and study records without a kept encoder (removed if
    ``drop_stale``, so that the runner trains them again).
    """
    metrics = _check_metrics(metrics)
    study = Study(study_folder)
    store, agreement = study.store, study.agreement_store
    out: dict[str, list[str]] = {"rescored": [], "agreement": [], "stale": []}
    for record in study.finished():
        job_id = record["job_id"]
        if "encoder" not in record.get("artifacts", {}):
            out["stale"].append(job_id)
            if drop_stale:
                store.discard(job_id)
            continue
        if progress:
            print(f"re-scoring {', '.join(metrics)} of {job_id} ...", flush=True)
        store.replace(job_id, rescore_record(study_folder, record, metrics, device))
        out["rescored"].append(job_id)
        previous = agreement.get(job_id)
        if previous is not None and previous.get("status") == "ok" and set(metrics) & set(previous["config"]["metrics"]):
            agreement.replace(job_id, rescore_agreement_record(study_folder, record, previous, metrics, device))
            out["agreement"].append(job_id)
    return out
