"""Aggregate a study's records into one table (list of dicts, numpy structured array, or text).

Used by chapter 9 (the Locatello et al. study) and ``python -m lecturelib.study report``.
One row per job: its config (data set, method, hyperparameters, seed), status, training time,
the last logged training loss and every score, as flat columns ``score.<name>``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from lecturelib.store import RecordStore
from lecturelib.study.grid import format_hparams
from lecturelib.study.tables import check_records

BASE_COLUMNS = ("job_id", "dataset", "model", "hparams", "seed", "status", "seconds", "final_loss", "error")


def load_records(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of the study folder ``root``, sorted by job id."""
    if not Path(root).is_dir():
        raise ValueError(f"root={str(root)!r} is not a study folder (no such directory)")
    return list(RecordStore(root).records())


def aggregate(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per record: the :data:`BASE_COLUMNS` then ``score.<name>`` for every score seen.

    A score missing from a record (e.g. a failed job) is ``nan``.
    """
    records = check_records(records, ("job_id", "config", "status"))
    score_names = sorted({name for r in records for name in r.get("scores", {})})
    rows = []
    for r in records:
        config = r["config"]
        curves = r.get("curves", {})
        loss = curves.get("loss") if isinstance(curves, Mapping) else None
        row = {"job_id": r["job_id"], "dataset": config["dataset"], "model": config["model"],
               "hparams": format_hparams(config["hparams"]), "seed": int(config["seed"]), "status": r["status"],
               "seconds": float(r.get("timings", {}).get("total_s", math.nan)),
               "final_loss": float(loss[-1]) if loss else math.nan,
               "error": r.get("error", "")}
        for name in score_names:
            value = r.get("scores", {}).get(name, math.nan)
            row[f"score.{name}"] = math.nan if value is None else float(value)
        rows.append(row)
    return rows


def to_structured(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The rows of :func:`aggregate` as a numpy structured array (strings, ints and floats)."""
    if not rows:
        return np.zeros(0, dtype=[("job_id", "U1")])
    columns = list(rows[0])
    dtype = []
    for c in columns:
        values = [row[c] for row in rows]
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            dtype.append((c, np.int64))
        elif all(isinstance(v, (int, float, np.floating, np.integer)) for v in values):
            dtype.append((c, np.float64))
        else:
            dtype.append((c, f"U{max(1, max(len(str(v)) for v in values))}"))
    return np.array([tuple(row[c] for c in columns) for row in rows], dtype=dtype)


def group_mean(rows: Sequence[Mapping[str, Any]], by: Sequence[str] = ("dataset", "model", "hparams"),
               ) -> list[dict[str, Any]]:
    """Mean and standard deviation over the rows sharing ``by`` (e.g. over seeds) of every numeric column.

    Only finished jobs count; ``n`` is how many. Columns ``<name>`` hold means, ``<name>.std`` the
    standard deviations (``ddof=0``).
    """
    missing = sorted({c for c in by for row in rows if c not in row})
    if missing:
        raise ValueError(f"by names columns {missing} that the rows lack; the rows have {list(rows[0])}")
    ok = [row for row in rows if row.get("status") == "ok"]
    numeric = [c for c in (ok[0] if ok else {}) if c not in by and c != "seed"
               and all(isinstance(row[c], (int, float)) for row in ok)]
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in ok:
        groups.setdefault(tuple(row[c] for c in by), []).append(row)
    out = []
    for key, members in groups.items():
        entry: dict[str, Any] = dict(zip(by, key))
        entry["n"] = len(members)
        for c in numeric:
            values = np.array([m[c] for m in members], dtype=float)
            entry[c] = float(np.mean(values))
            entry[f"{c}.std"] = float(np.std(values))
        out.append(entry)
    return out


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
                 digits: int = 3, max_width: int = 40) -> str:
    """A plain-text table of ``rows`` (a header, a rule, one line per row), columns left-aligned."""
    if not rows:
        return "(no records)"
    columns = list(columns) if columns is not None else [c for c in rows[0] if c != "error"
                                                       or any(row.get("error") for row in rows)]
    unknown = [c for c in columns if not any(c in row for row in rows)]
    if unknown:
        raise ValueError(f"columns {unknown} are in no row; the rows have {list(rows[0])}")
    cells = [[_cell(row.get(c, ""), digits)[:max_width] for c in columns] for row in rows]
    headers = [c.removeprefix("score.") for c in columns]
    widths = [max(len(h), *(len(line[i]) for line in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(lines)
