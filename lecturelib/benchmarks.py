"""Recorded benchmark results, as data: what ``benchmarks/*.py`` measured, with its provenance.

Each benchmark script prints a table for the reader and hands its measured values to
:func:`save_values`. ``scripts/bench_page.py`` (``make bench``, or ``record NAME -- COMMAND`` for a
run on a GPU) stores the printed table in ``book/benchmarks/NAME.txt`` for the performance
appendix and, from the same run, the values in ``lecturelib/results/benchmarks/NAME.json``::

    {"name": NAME, "provenance": {"command", "date", "hardware", "table"}, "values": {...}}

The JSON ships with the package, so a chapter reads a measurement with :func:`recorded` wherever
it runs (Colab has the installed package, not the repository), and never parses printed text.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from lecturelib.store import atomic_write, json_default

RESULTS_DIR = Path(__file__).resolve().parent / "results" / "benchmarks"
VALUES_ENV = "LECTURELIB_BENCH_VALUES"
"""Set by ``scripts/bench_page.py``: the file a benchmark script writes its values to."""


def names() -> list[str]:
    """The names of the recorded benchmarks (e.g. ``"study-gpu"``), sorted."""
    return sorted(p.stem for p in RESULTS_DIR.glob("*.json"))


def recorded(name: str) -> dict[str, Any]:
    """The recorded result ``name``: ``{"name", "provenance", "values"}`` (see the module docstring).

    ``provenance`` holds the ``command`` that measured it, its ``date`` (UTC), the ``hardware`` and
    the ``table`` it printed; ``values`` what the script passed to :func:`save_values`.
    """
    path = RESULTS_DIR / f"{name}.json"
    if not isinstance(name, str) or "/" in name or not path.is_file():
        raise ValueError(f"name={name!r} is not a recorded benchmark; recorded: {', '.join(names()) or 'none'}")
    return json.loads(path.read_text())


def save_values(values: Mapping[str, Any]) -> Path | None:
    """Hand a benchmark's measured values (JSON-serialisable) to ``scripts/bench_page.py``.

    Written to the file named by ``$LECTURELIB_BENCH_VALUES``, which the recording sets; a script run
    by hand only prints its table, and this returns ``None``.
    """
    if not isinstance(values, Mapping):
        raise ValueError(f"values must be a mapping, got {type(values).__name__}")
    target = os.environ.get(VALUES_ENV)
    if not target:
        return None
    atomic_write(target, json.dumps(values, indent=1, default=json_default).encode())
    return Path(target)
