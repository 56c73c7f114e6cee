"""Saved results: atomic files, one JSON record per job, claims, provenance.

Used by train-or-load (:mod:`lecturelib.artifacts`, chapter 7: :func:`atomic_write`, claims with
:func:`take_claim`, and the provenance helpers :func:`versions`, :func:`hardware`) and by the study (:mod:`lecturelib.study`, chapters 8 and 9,
all of it). Layout of a study folder::

    <root>/records/<job_id>.json          a finished job (status "ok"), written once, replaced only by re-scoring
    <root>/records/<job_id>.error.json    the last failure of a job (status "error"), replaced on retry
    <root>/records/<name>.corrupt         a record that could not be read, moved aside (the job runs again)
    <root>/artifacts/<job_id>.<name>[.<token>].pt  objects a job keeps besides its scores (e.g. its encoder)
    <root>/claims/<job_id>.claim          the process training a job now (host, pid, token)

Why it is safe:

- Every file is written to a temporary file in its folder, flushed and fsynced, then renamed: a
  reader never sees half a file, whatever kills the writer.
- A finished record is created *exclusively* (:func:`create_exclusive`): when two processes finish
  the same job, the first one wins and the second one's record is dropped.
- Each attempt names its artifacts with its own token and writes them before its record, so the
  artifacts a record names are the ones its own job wrote (a loser deletes its own).
- A process takes a job's claim before training it, so two runners (or Dask workers) on one folder
  share the work; a claim whose process died (or, on another host, that has not been refreshed for
  :data:`STALE_AFTER` seconds) is taken over.
- Files are created with the permissions an ordinary ``open`` gives (``0o666`` less the umask), so
  a group shares a cluster's study folder; paths named in records are confined to the folder.
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import os
import platform
import re
import secrets
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

RECORDS = "records"
ARTIFACTS = "artifacts"
CLAIMS = "claims"
ERROR_SUFFIX = ".error.json"
CORRUPT_SUFFIX = ".corrupt"
STALE_AFTER = 600.0
"""Seconds after which a claim from another host that is no longer refreshed is taken over."""
HEARTBEAT = 30.0
"""Seconds between refreshes of a held claim."""
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_LOCK_STALE = 60.0  # a record lock is held for milliseconds; one this old was left by a killed process


class CorruptRecordWarning(UserWarning):
    """A record file could not be read; it was moved aside and its job counts as not run."""


# ----------------------------------------------------------------------------- provenance
def now() -> str:
    """The current UTC time, ISO 8601 to the second (the dates of records and provenance)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of Python and the main packages, and the git commit when run from a checkout (provenance)."""
    import numpy
    import sklearn
    import torch

    import lecturelib

    found = {"python": platform.python_version(), "torch": torch.__version__,
             "numpy": numpy.__version__, "scikit-learn": sklearn.__version__,
             "lecturelib": lecturelib.__version__}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip()
        if commit:
            found["git"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return found


def hardware() -> str:
    """One line naming the GPU (if torch sees one) and the CPU core count (provenance)."""
    import torch

    cpu = f"{os.cpu_count()} CPU cores ({platform.machine()})"
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} GPU + {cpu}"
    return cpu


@functools.lru_cache(maxsize=None)
def _static_environment() -> tuple[tuple[str, Any], ...]:
    return (("versions", versions()), ("hardware", hardware()), ("host", platform.node()))


def environment() -> dict[str, Any]:
    """Provenance of this process: ``versions``, ``hardware``, ``host`` and ``pid`` (computed once per process)."""
    return {**dict(_static_environment()), "pid": os.getpid()}


def json_default(value: Any) -> Any:
    """Numpy/torch scalars and arrays, sets, tuples and paths as plain JSON (``json.dumps(default=...)``)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


# ----------------------------------------------------------------------------- files
@functools.lru_cache(maxsize=None)
def file_mode() -> int:
    """Permissions of the files written here: what ``open`` gives (``0o666`` less the umask), e.g. ``0o644``."""
    mask = os.umask(0)  # Python has no getter; read once and put back
    os.umask(mask)
    return 0o666 & ~mask


def _temporary(path: Path, data: bytes) -> Path:
    """``data`` in a fsynced hidden temporary file beside ``path``, named for this host and process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_host_tag()}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())  # mkstemp makes 0o600: a group could not read a shared folder
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a mix."""
    path = Path(path)
    tmp = _temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_exclusive(path: str | os.PathLike, data: bytes) -> bool:
    """Create ``path`` with ``data`` atomically unless it exists; return whether this call created it.

    Uses a hard link (atomic, fails if the name exists). Where the file system has no hard links
    (Google Drive on Colab, SMB, FAT), a lock file created with ``O_EXCL`` guards a check and a rename.
    """
    path = Path(path)
    tmp = _temporary(path, data)
    try:
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                                   errno.ENOSYS, errno.EXDEV):
                raise
        with file_lock(path.with_name(f".{path.name}.lock")):
            if path.exists():
                return False
            os.replace(tmp, path)
            return True
    finally:
        tmp.unlink(missing_ok=True)


class file_lock:
    """Hold the lock file ``path`` (created with ``O_EXCL``) for a few quick writes; one older than a
    minute was left by a killed process and is broken."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        while True:
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode()))
                return
            except FileExistsError:
                try:
                    if time.time() - self.path.stat().st_mtime > _LOCK_STALE:
                        self.path.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
                time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def confined(root: str | os.PathLike, relative: str | os.PathLike) -> Path:
    """``root / relative``, or ``ValueError`` if that leaves ``root`` (an absolute path, ``..``, a link out)."""
    root = Path(root).resolve()
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root):
        raise ValueError(f"path {os.fspath(relative)!r} leaves the folder {root}; expected a path inside it")
    return path


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", platform.node()) or "host"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


# ----------------------------------------------------------------------------- claims
class Claim:
    """The right to train one job, held by this process until :meth:`release`; refreshed by a thread."""

    def __init__(self, path: Path, token: str, heartbeat: float = HEARTBEAT) -> None:
        self.path, self.token = path, token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True)
        self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Stop refreshing and remove the claim file if it is still this one."""
        self._stop.set()
        if read_json_object(self.path).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def take_claim(path: str | os.PathLike, about: Mapping[str, Any] | None = None, *, stale_after: float = STALE_AFTER,
               heartbeat: float = HEARTBEAT) -> Claim | None:
    """Create the claim file ``path`` for this process; ``None`` if a live process holds it.

    The file records ``about`` (e.g. the job id), this host, pid, a token and the date. A claim is
    stale, and taken over, when its process has died (same host) or when it has not been refreshed
    for ``stale_after`` seconds (another host, whose processes cannot be seen).
    """
    path = Path(path)
    token = secrets.token_hex(8)
    data = json.dumps({**(about or {}), "host": platform.node(), "pid": os.getpid(), "token": token,
                       "date": now()}).encode()
    for _ in range(3):
        if create_exclusive(path, data):
            return Claim(path, token, heartbeat)
        held = read_json_object(path)
        if not claim_is_stale(path, held, stale_after):
            return None
        # Move the stale claim aside, then check that it is the one judged stale (not a fresh one
        # another process made meanwhile); if two processes take it over at once, the first record wins.
        aside = path.with_name(f".{path.name}.{token}.stale")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            continue
        if read_json_object(aside) != held:
            create_exclusive(path, aside.read_bytes())
        aside.unlink(missing_ok=True)
    return None


def claim_is_stale(path: Path, held: Mapping[str, Any], stale_after: float = STALE_AFTER) -> bool:
    """Whether the claim file ``path``, holding ``held``, may be taken over (see :func:`take_claim`)."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    dead = held.get("host") == platform.node() and isinstance(held.get("pid"), int) and not pid_alive(held["pid"])
    return dead or age > stale_after  # a live holder refreshes its claim every HEARTBEAT seconds


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` if it is missing, unreadable or not an object (e.g. a claim file)."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# ----------------------------------------------------------------------------- records
class RecordStore:
    """The records of one study in folder ``root`` (created by the first write, not by reading)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.folder = self.root / RECORDS
        self.claims = self.root / CLAIMS

    # -- paths
    def path(self, job_id: str) -> Path:
        """Where the finished record of ``job_id`` lives."""
        if not isinstance(job_id, str) or not job_id or "/" in job_id or "\\" in job_id or job_id.startswith("."):
            raise ValueError(f"job_id must be a non-empty file name, got {job_id!r}")
        return self.folder / f"{job_id}.json"

    def error_path(self, job_id: str) -> Path:
        """Where the last failure of ``job_id`` is recorded."""
        return self.path(job_id).with_name(f"{job_id}{ERROR_SUFFIX}")

    def claim_path(self, job_id: str) -> Path:
        """Where the claim of ``job_id`` lives while a process trains it."""
        return self.claims / f"{self.path(job_id).stem}.claim"

    def resolve(self, relative: str | os.PathLike) -> Path:
        """A path named in a record, inside the study folder (``ValueError`` if it leaves it)."""
        return confined(self.root, relative)

    # -- queries
    def is_done(self, job_id: str) -> bool:
        """Whether ``job_id`` has a finished (status "ok") record."""
        return self.path(job_id).exists()

    def _read(self, path: Path) -> dict[str, Any] | None:
        """The record at ``path``; ``None`` if it is missing, or unreadable (then moved aside, with a warning)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(data)
            if not isinstance(record, dict) or record.get("status") not in ("ok", "error"):
                raise ValueError("not a record (a JSON object with status 'ok' or 'error')")
            return record
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            aside = path.with_name(path.name + CORRUPT_SUFFIX)
            try:
                os.replace(path, aside)
                where = f"moved to {aside.name}; its job counts as not run"
            except OSError as move_error:
                where = f"could not be moved aside ({move_error}); it is skipped"
            warnings.warn(f"{path} is not a readable record ({type(error).__name__}: {error}); {where}",
                          CorruptRecordWarning, stacklevel=3)
            return None

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The finished record of ``job_id``, else its error record, else ``None``."""
        for path in (self.path(job_id), self.error_path(job_id)):
            record = self._read(path)
            if record is not None:
                return record
        return None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record, one per job id (finished ones take precedence over errors), sorted by id."""
        if not self.folder.is_dir():
            return
        names = [p.name for p in self.folder.glob("*.json")]
        ids = {n[:-len(ERROR_SUFFIX)] if n.endswith(ERROR_SUFFIX) else n[:-len(".json")] for n in names}
        for job_id in sorted(ids):
            record = self.get(job_id)
            if record is not None:
                yield record

    # -- claims
    def claim(self, job_id: str, *, stale_after: float = STALE_AFTER, heartbeat: float = HEARTBEAT) -> Claim | None:
        """Claim ``job_id`` for this process; ``None`` if a live process holds it (:func:`take_claim`)."""
        return take_claim(self.claim_path(job_id), {"job_id": job_id}, stale_after=stale_after, heartbeat=heartbeat)

    def claimed(self) -> dict[str, dict[str, Any]]:
        """The claims present now: ``{job_id: {"host", "pid", "token", "date"}}``."""
        if not self.claims.is_dir():
            return {}
        return {p.name[:-len(".claim")]: read_json_object(p) for p in self.claims.glob("*.claim")}

    def release_claims_of(self, pid: int) -> int:
        """Remove the claims of process ``pid`` on this host (a worker the runner stopped); return how many."""
        count = 0
        for job_id, held in self.claimed().items():
            if held.get("pid") == pid and held.get("host") == platform.node():
                self.claim_path(job_id).unlink(missing_ok=True)
                count += 1
        return count

    # -- writes
    def _encode(self, record: Mapping[str, Any]) -> bytes:
        return json.dumps(record, indent=1, sort_keys=True, default=json_default).encode()

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
            atomic_write(self.error_path(job_id), self._encode(record))
            return True
        stored = create_exclusive(self.path(job_id), self._encode(record))
        if stored:
            self.error_path(job_id).unlink(missing_ok=True)
        return stored

    def replace(self, job_id: str, record: Mapping[str, Any]) -> None:
        """Replace the finished record of ``job_id`` atomically (re-scoring); ``KeyError`` if there is none."""
        if not self.is_done(job_id):
            raise KeyError(f"no finished record {job_id!r} in {self.folder} to replace")
        if record.get("status") != "ok" or record.get("job_id", job_id) != job_id:
            raise ValueError(f"a replacement must be a finished record of {job_id!r}")
        atomic_write(self.path(job_id), self._encode(record))

    def discard(self, job_id: str) -> None:
        """Remove the finished record of ``job_id`` and its artifacts, so that the runner trains it again.

        Artifact paths that leave the study folder raise ``ValueError`` and nothing is removed.
        """
        record = self.get(job_id) or {}
        paths = [self.resolve(p) for p in record.get("artifacts", {}).values()]
        for path in paths:
            path.unlink(missing_ok=True)
        self.path(job_id).unlink(missing_ok=True)

    def artifact_path(self, job_id: str, name: str, token: str | None = None) -> Path:
        """Where artifact ``name`` (letters, digits, underscores) of ``job_id`` lives, for the attempt ``token``."""
        if not isinstance(name, str) or not _ARTIFACT_NAME.match(name):
            raise ValueError(f"artifact name must be letters, digits and underscores, got {name!r}")
        suffix = f".{token}" if token else ""
        return self.root / ARTIFACTS / f"{self.path(job_id).stem}.{name}{suffix}.pt"

    def write_artifacts(self, job_id: str, artifacts: Mapping[str, Any]) -> dict[str, str]:
        """Save each object of ``artifacts`` with :func:`torch.save`; return ``{name: path relative to root}``.

        Each file is written atomically under a name of its own (a fresh token per call), so the
        record that names it was written by the same attempt.
        """
        import io

        import torch

        token, paths = secrets.token_hex(4), {}
        for name, obj in artifacts.items():
            path = self.artifact_path(job_id, name, token)
            buffer = io.BytesIO()
            torch.save(obj, buffer)
            atomic_write(path, buffer.getvalue())
            paths[name] = path.relative_to(self.root).as_posix()
        return paths

    def remove_artifacts(self, paths: Mapping[str, str]) -> None:
        """Remove artifacts written by :meth:`write_artifacts` whose record was not stored."""
        for relative in paths.values():
            self.resolve(relative).unlink(missing_ok=True)

    def load_artifact(self, record: Mapping[str, Any], name: str) -> Any:
        """Artifact ``name`` of a finished ``record`` (tensors on the CPU); ``KeyError`` if it kept none."""
        import torch

        stored = record.get("artifacts", {})
        if name not in stored:
            raise KeyError(f"record {record.get('job_id')!r} has no artifact {name!r} "
                           f"(it has: {sorted(stored) or 'none'})")
        return torch.load(self.resolve(stored[name]), map_location="cpu", weights_only=True)

    def clean_temporaries(self, older_than: float = 3600.0) -> int:
        """Remove temporary files left by dead processes of this host, or untouched for ``older_than`` seconds."""
        count, current = 0, time.time()
        host = _host_tag()
        for folder in (self.folder, self.root / ARTIFACTS, self.claims):
            found = [*folder.glob(".*.tmp"), *folder.glob(".*.stale"), *folder.glob(".*.lock")] if folder.is_dir() else []
            for tmp in found:
                parts = tmp.name.split(".")
                dead = (tmp.suffix == ".tmp" and len(parts) > 4 and parts[-4] == host and parts[-3].isdigit()
                        and not pid_alive(int(parts[-3])))
                try:
                    if dead or current - tmp.stat().st_mtime >= older_than:
                        tmp.unlink()
                        count += 1
                except FileNotFoundError:
                    pass
        return count
