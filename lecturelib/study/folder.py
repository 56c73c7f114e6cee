"""A study folder as one handle: its records, the finished ones, the kept encoders, the agreement records.

Used by chapters 8 and 9 and by :mod:`~lecturelib.study.agreement` and :mod:`~lecturelib.study.rescore`,
so that the folder is opened once. The files themselves are :class:`lecturelib.store.RecordStore`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from lecturelib.store import RecordStore

if TYPE_CHECKING:  # the encoder class needs torch models; imported when an encoder is asked for
    from torch import nn

AGREEMENT = "agreement"
"""Sub-folder of a study folder holding the agreement records (fast against reference mode, chapter 8)."""


class Study:
    """The study in ``folder`` (records in ``folder/records``, agreement records in ``folder/agreement``).

    Reading never creates the folder; a record that cannot be read is named, moved aside and skipped.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.store = RecordStore(self.folder)
        self.agreement_store = RecordStore(self.folder / AGREEMENT)

    def __repr__(self) -> str:
        return f"Study({str(self.folder)!r})"

    def records(self) -> list[dict[str, Any]]:
        """Every record (finished or failed), one per job, sorted by job id."""
        return list(self.store.records())

    def finished(self) -> list[dict[str, Any]]:
        """The finished records (``status == "ok"``), sorted by job id."""
        return [r for r in self.store.records() if r["status"] == "ok"]

    def record(self, job_id: str) -> dict[str, Any] | None:
        """The record of ``job_id`` (finished, else its last error), or ``None``."""
        return self.store.get(job_id)

    def encoder(self, record: Mapping[str, Any]) -> "nn.Module":
        """The kept encoder of a finished ``record`` (CPU, eval mode); ``KeyError`` if it kept none."""
        from lecturelib.study.jobs import load_encoder

        return load_encoder(self.folder, record)

    def agreement_records(self) -> list[dict[str, Any]]:
        """The finished agreement records (one per scored model), sorted by job id."""
        return [r for r in self.agreement_store.records() if r["status"] == "ok"]
