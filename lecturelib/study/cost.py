"""What a study costs: its records' timings, and the training rates ``benchmarks/study.py`` measured.

Used by chapter 9 (the Locatello et al. study): :func:`timing_summary` sums and medians the
records' timings; :func:`training_time_estimate` extrapolates a grid's training time from the recorded
rates of ``benchmarks/study.py`` (:func:`lecturelib.benchmarks.recorded`).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from lecturelib.study.tables import finished

def timing_summary(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Median seconds per finished job (``train_s``, ``eval_s``, ``total_s``), their sums, and where they ran.

    ``median_eval_parts`` maps each part of the scoring (the records' ``eval.<part>_s`` timings, e.g.
    ``beta_vae``, ``dci``) to its median seconds, largest first. ``hardware`` and ``devices`` list the
    distinct values of the records' ``hardware`` and ``extra.device``.
    """
    ok = finished(records)
    out: dict[str, Any] = {"n": len(ok)}

    def timed(key: str) -> np.ndarray:  # the finite values of one timing over the records
        values = np.array([r.get("timings", {}).get(key, np.nan) for r in ok], dtype=float)
        return values[np.isfinite(values)]

    for key in ("train_s", "eval_s", "total_s"):
        values = timed(key)
        out[f"median_{key}"] = float(np.median(values)) if values.size else math.nan
        out[f"sum_{key}"] = float(values.sum())
    parts = {k for r in ok for k in r.get("timings", {}) if k.startswith("eval.") and k.endswith("_s")}
    medians = {k[len("eval."):-len("_s")]: float(np.median(timed(k))) for k in parts}
    out["median_eval_parts"] = dict(sorted(medians.items(), key=lambda kv: -kv[1]))
    out["hardware"] = sorted({str(r.get("hardware", "?")) for r in ok})
    out["devices"] = sorted({str(r.get("extra", {}).get("device", "?")) for r in ok})
    return out


def training_time_estimate(benchmark: Mapping[str, Any], images: int, group_size: int) -> dict[str, Any]:
    """Seconds to train on ``images`` images at the rates ``benchmarks/study.py`` measured.

    ``benchmark`` is its recorded result (:func:`lecturelib.benchmarks.recorded`, e.g. ``"study-gpu"``),
    whose ``values["throughput"]`` lists, per number of stacked models, the images/s of all of them
    trained one after another (``alone``) and stacked as the runner's trainer stacks them on that
    device (``stacked``). Uses the largest number of stacked models ``M <= group_size`` measured (the
    runner stacks ``group_size`` models of a grid row). Returns ``device``, ``M``, the rates
    ``stacked_rate`` and ``alone_rate`` (images/s) and the times ``stacked_s`` and ``alone_s``.
    Training only: the benchmark leaves rendering and scoring out.
    """
    for name, value in (("images", images), ("group_size", group_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    values = benchmark.get("values") if isinstance(benchmark, Mapping) else None
    rows = values.get("throughput") if isinstance(values, Mapping) else None
    if not rows:
        raise ValueError("benchmark must be a recorded result of benchmarks/study.py "
                         "(lecturelib.benchmarks.recorded('study-gpu')), with rates in values['throughput']")
    rates = {int(row["models"]): row for row in rows}
    sizes = [m for m in rates if m <= group_size]
    if not sizes:
        raise ValueError(f"benchmark measures M = {sorted(rates)}, none <= group_size = {group_size}")
    m = max(sizes)
    stacked, alone = float(rates[m]["stacked"]), float(rates[m]["alone"])
    return {"device": str(values.get("device", "?")), "M": m, "stacked_rate": stacked, "alone_rate": alone,
            "stacked_s": images / stacked, "alone_s": images / alone}
