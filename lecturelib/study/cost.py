"""What a study costs: its records' timings, and the training rates ``benchmarks/study.py`` measured.

Used by chapter 9 (the Locatello et al. study): :func:`timing_summary` sums and medians the
records' timings; :func:`stacked_throughput` and :func:`training_time_estimate` read a benchmark
table and extrapolate a grid's training time from it.
"""

from __future__ import annotations

import math
import re
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


def stacked_throughput(table: str) -> dict[int, dict[str, float]]:
    """Training rates of a ``benchmarks/study.py`` table: ``{M: {column: images/s of all M models}}``.

    ``table`` is the benchmark's printed output (``book/benchmarks/study*.txt``); its header row
    starts with ``M`` and names the columns (``"one after another"``, ``"stacked (vmap)"``, ...),
    separated by two spaces or more; each row below it gives M and one number per column.
    """
    lines = table.splitlines()
    header = next((i for i, line in enumerate(lines) if re.match(r"\s*M\s{2,}", line)), None)
    if header is None:
        raise ValueError("table has no header row starting with 'M' (is it benchmarks/study.py's output?)")
    columns = re.split(r"\s{2,}", lines[header].strip())[1:]
    rates: dict[int, dict[str, float]] = {}
    for line in lines[header + 1:]:
        cells = line.split()  # the values hold no spaces, unlike the column names
        if not cells or not cells[0].isdigit():
            break
        if len(cells) != len(columns) + 1:
            raise ValueError(f"row {line.strip()!r} has {len(cells) - 1} values for the columns {columns}")
        rates[int(cells[0])] = {c: float(v.rstrip("x").replace(",", "")) for c, v in zip(columns, cells[1:])}
    if not rates:
        raise ValueError("table has a header row but no rows of rates below it")
    return rates


def training_time_estimate(table: str, images: int, group_size: int) -> dict[str, Any]:
    """Seconds to train on ``images`` images at the rates of a ``benchmarks/study.py`` table.

    Uses the table's largest number of stacked models ``M <= group_size`` (the runner stacks
    ``group_size`` models of a grid row). Returns ``device`` (the table's ``device:`` line), ``M``,
    the rates ``stacked_rate`` and ``alone_rate`` (images/s of all models together, column
    ``stacked (vmap)`` and ``one after another``) and the times ``stacked_s`` and ``alone_s``.
    Training only: the benchmark leaves rendering and scoring out.
    """
    for name, value in (("images", images), ("group_size", group_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    rates = stacked_throughput(table)
    sizes = [m for m in rates if m <= group_size]
    if not sizes:
        raise ValueError(f"table measures M = {sorted(rates)}, none <= group_size = {group_size}")
    m = max(sizes)
    missing = {"stacked (vmap)", "one after another"} - set(rates[m])
    if missing:
        raise ValueError(f"table lacks the column(s) {sorted(missing)}")
    device = re.search(r"^device: ([^;\n]+)", table, re.M)
    stacked, alone = rates[m]["stacked (vmap)"], rates[m]["one after another"]
    return {"device": device.group(1).strip() if device else "?", "M": m, "stacked_rate": stacked,
            "alone_rate": alone, "stacked_s": images / stacked, "alone_s": images / alone}
