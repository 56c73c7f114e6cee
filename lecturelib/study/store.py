"""One JSON record per job, safe against crashes and races.

Used by :mod:`lecturelib.study.runner` (chapter 9). Layout of a study folder::

    <root>/records/<job_id>.json        a finished job (status "ok"), written once, replaced only by re-scoring
    <root>/records/<job_id>.error.json  the last failure of a job (status "error"), replaced on retry
    <root>/artifacts/<job_id>.<name>.pt  objects a job keeps besides its scores (e.g. its encoder)

A record is first written to a temporary file in the same folder, flushed and fsynced, then
*linked* to its final name with :func:`os.link`, which fails if the name exists: when two workers
finish the same job, the first one wins and the second one's record is dropped, so a finished
record is never half-written, replaced or duplicated. Error records are replaced atomically
with :func:`os.replace` (a later failure overwrites an earlier one) and removed once the job succeeds.
Artifacts are written (atomically, with :func:`os.replace`) before their record, so a finished
record's artifacts always exist. Re-scoring (:mod:`lecturelib.study.rescore`) is the one writer that
replaces a finished record on purpose, also atomically (:meth:`RecordStore.replace`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

RECORDS = "records"
ARTIFACTS = "artifacts"
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
ERROR_SUFFIX = ".error.json"


class RecordStore:
    """The records of one study in folder ``root`` (created if missing)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.folder = self.root / RECORDS
        self.folder.mkdir(parents=True, exist_ok=True)

    # -- paths
    def path(self, job_id: str) -> Path:
        """Where the finished record of ``job_id`` lives."""
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise ValueError(f"job_id must be a non-empty file name, got {job_id!r}")
        return self.folder / f"{job_id}.json"

    def error_path(self, job_id: str) -> Path:
        return self.path(job_id).with_suffix("").with_name(f"{job_id}{ERROR_SUFFIX}")

    # -- queries
    def is_done(self, job_id: str) -> bool:
        """Whether ``job_id`` has a finished (status "ok") record."""
        return self.path(job_id).exists()

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The finished record of ``job_id``, else its error record, else ``None``."""
        for path in (self.path(job_id), self.error_path(job_id)):
            if path.exists():
                return json.loads(path.read_text())
        return None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, one per job id (finished ones take precedence over errors), sorted by id."""
        done = {p.name[:-len(".json")] for p in self.folder.glob("*.json") if not p.name.endswith(ERROR_SUFFIX)}
        failed = {p.name[:-len(ERROR_SUFFIX)] for p in self.folder.glob(f"*{ERROR_SUFFIX}")}
        for job_id in sorted(done | failed):
            record = self.get(job_id)
            if record is not None:
                yield record

    # -- writes
    def _temp(self, job_id: str, record: Mapping[str, Any]) -> str:
        data = json.dumps(record, indent=1, sort_keys=True, default=_json_default).encode()
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{job_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp

    def write(self, job_id: str, record: Mapping[str, Any]) -> bool:
        """Store a record: finished ones (``status == "ok"``) exactly once, errors replacing errors.

        Returns ``True`` if this record was stored, ``False`` if a finished record was already
        there (another worker finished first; this one is dropped).
        """
        status = record.get("status")
        if status not in ("ok", "error"):
            raise ValueError(f"record['status'] must be 'ok' or 'error', got {status!r}")
        if status == "error":
            if self.is_done(job_id):
                return False
            os.replace(self._temp(job_id, record), self.error_path(job_id))
            return True
        tmp = self._temp(job_id, record)
        try:
            os.link(tmp, self.path(job_id))  # atomic; fails if the name exists
            stored = True
        except FileExistsError:
            stored = False
        finally:
            os.unlink(tmp)
        if stored:
            try:
                os.unlink(self.error_path(job_id))
            except FileNotFoundError:
                pass
        return stored

    def replace(self, job_id: str, record: Mapping[str, Any]) -> None:
        """Replace the finished record of ``job_id`` atomically (re-scoring); ``KeyError`` if there is none."""
        if not self.is_done(job_id):
            raise KeyError(f"no finished record {job_id!r} in {self.folder} to replace")
        if record.get("status") != "ok" or record.get("job_id", job_id) != job_id:
            raise ValueError(f"a replacement must be a finished record of {job_id!r}")
        os.replace(self._temp(job_id, record), self.path(job_id))

    def discard(self, job_id: str) -> None:
        """Remove the finished record of ``job_id`` and its artifacts, so that the runner trains it again."""
        record = self.get(job_id)
        for path in (record or {}).get("artifacts", {}).values():
            (self.root / path).unlink(missing_ok=True)
        self.path(job_id).unlink(missing_ok=True)

    def artifact_path(self, job_id: str, name: str) -> Path:
        """Where artifact ``name`` of ``job_id`` lives (``name``: letters, digits and underscores)."""
        if not isinstance(name, str) or not _ARTIFACT_NAME.match(name):
            raise ValueError(f"artifact name must be letters, digits and underscores, got {name!r}")
        return self.root / ARTIFACTS / f"{self.path(job_id).stem}.{name}.pt"

    def write_artifacts(self, job_id: str, artifacts: Mapping[str, Any]) -> dict[str, str]:
        """Save each object of ``artifacts`` with :func:`torch.save`; return ``{name: path relative to root}``.

        Each file is replaced atomically, so a reader never sees half of one.
        """
        import torch

        paths = {}
        for name, obj in artifacts.items():
            path = self.artifact_path(job_id, name)
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    torch.save(obj, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            paths[name] = path.relative_to(self.root).as_posix()
        return paths

    def load_artifact(self, record: Mapping[str, Any], name: str) -> Any:
        """Artifact ``name`` of a finished ``record`` (tensors on the CPU); ``KeyError`` if it kept none."""
        import torch

        stored = record.get("artifacts", {})
        if name not in stored:
            raise KeyError(f"record {record.get('job_id')!r} has no artifact {name!r} (it has: {sorted(stored) or 'none'})")
        return torch.load(self.root / stored[name], map_location="cpu", weights_only=True)

    def clean_temporaries(self, older_than: float = 3600.0) -> int:
        """Remove temporary files left by killed workers, untouched for ``older_than`` seconds."""
        count = 0
        now = time.time()
        for tmp in [*self.folder.glob(".*.tmp"), *(self.root / ARTIFACTS).glob(".*.tmp")]:
            try:
                if now - tmp.stat().st_mtime >= older_than:
                    tmp.unlink()
                    count += 1
            except FileNotFoundError:
                pass
        return count


def _json_default(value: Any) -> Any:
    """Numpy/torch scalars and arrays as plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
