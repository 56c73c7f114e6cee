"""Train or load: expensive results computed once, saved with their provenance, loaded by chapters.

A function decorated with :func:`artifact` caches its return value on disk, keyed by its name,
the compute scale and its keyword arguments. Calling it again with the same arguments loads the
saved value and prints where it came from (command, scale, hardware, date); otherwise it computes,
saves and says so. Values are anything :func:`torch.save` can write (tensors, arrays, dicts).

Where results live, in the order they are searched:

1. ``lecturelib/results/`` -- results shipped with the package (committed to the repository).
   They are written by one documented command that executes a chapter at a given scale::

       python -m lecturelib.artifacts publish notebooks/07_disentanglement_beta_vae.ipynb --scale default

2. the user cache (``$LECTURELIB_CACHE`` or ``~/.cache/lecturelib``), where results computed while
   reading a chapter go.

``python -m lecturelib.artifacts list`` prints every stored result with its provenance.
Set ``LECTURELIB_RECOMPUTE=1`` to ignore stored results and compute afresh.

Two processes asking for one result at once (two chapters executed in parallel) compute it once:
the first takes the result's claim file (:mod:`lecturelib.store`), the second waits and loads it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import io
import json
import os
import pickle
import sys
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from lecturelib.config import SCALES, check_scale, get_scale
from lecturelib.store import atomic_write, file_lock, hardware, read_json_object, take_claim, versions

SHIPPED_DIR = Path(__file__).resolve().parent / "results"
CACHE_ENV = "LECTURELIB_CACHE"
WRITE_ENV = "LECTURELIB_ARTIFACT_DIR"  # set by `publish` so results land in SHIPPED_DIR
COMMAND_ENV = "LECTURELIB_COMMAND"  # the command recorded in the provenance
RECOMPUTE_ENV = "LECTURELIB_RECOMPUTE"
CLAIM_POLL = 1.0  # seconds between looks for a result another process is computing

F = TypeVar("F", bound=Callable[..., Any])

_CHECKPOINT: ContextVar[Path | None] = ContextVar("lecturelib_artifact_checkpoint", default=None)


@dataclass(frozen=True)
class Provenance:
    """Where a stored result came from."""

    name: str
    key: str
    scale: str
    params: dict[str, Any]
    command: str
    date: str
    seconds: float
    versions: dict[str, str]
    hardware: str

    def describe(self) -> str:
        """One sentence for the reader: what, at which scale, when, on what, by which command."""
        return (f"'{self.name}' at scale {self.scale}, computed {self.date[:16].replace('T', ' ')} UTC "
                f"in {self.seconds:.0f} s on {self.hardware} by `{self.command}`")


def cache_dir() -> Path:
    """The user cache for results computed while reading (``$LECTURELIB_CACHE`` or ``~/.cache/lecturelib``)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "lecturelib")


def search_dirs() -> list[Path]:
    """Directories searched for stored results, shipped results first."""
    dirs = [SHIPPED_DIR, cache_dir()]
    if os.environ.get(WRITE_ENV):
        dirs.insert(0, Path(os.environ[WRITE_ENV]))
    return dirs


def artifact_key(name: str, params: dict[str, Any], scale: str) -> str:
    """File stem for a result: ``<name>-<scale>-<hash of params>``."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return f"{name}-{scale}-{hashlib.sha256(blob).hexdigest()[:10]}"


def _numpy_globals() -> list[Any]:
    """What ``torch.load(weights_only=True)`` needs besides tensors to read numpy arrays and scalars (data, no code)."""
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    dtypes = {type(np.dtype(code)) for code in np.typecodes["All"] if code != "O"}  # object arrays stay refused
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtypes]


def find(name: str, params: dict[str, Any], scale: str | None = None) -> Path | None:
    """Path of the stored value for ``name`` with ``params`` at ``scale``, or ``None``."""
    key = artifact_key(name, params, scale or get_scale())
    for directory in search_dirs():
        path = directory / f"{key}.pt"
        if path.exists() and path.with_suffix(".json").exists():
            return path
    return None


def load(path: Path) -> tuple[Any, Provenance]:
    """Load a stored value and its provenance.

    The value is read with ``torch.load(weights_only=True)``, which runs no code from the file:
    tensors, numbers, strings, lists, tuples, dicts and numpy arrays come back; a file that holds
    anything else is refused with a ``ValueError`` naming it.
    """
    provenance = Provenance(**json.loads(path.with_suffix(".json").read_text()))
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            value = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path} holds more than data (tensors, arrays, numbers, containers), so it is not "
                         f"loaded: {str(error).splitlines()[-1]}") from None
    return value, provenance


def train_or_load(name: str, compute: Callable[[], Any], params: dict[str, Any], *,
                  scale: str | None = None, verbose: bool = True) -> tuple[Any, Provenance]:
    """Return the stored result for ``(name, params, scale)`` or compute, save and return it.

    Prints one line saying which happened, with the provenance. ``params`` must be JSON-serialisable
    and determine the result (seeds included). A process computes a result only while it holds the
    result's claim file (:func:`lecturelib.store.take_claim`, ``<key>.claim`` in the folder it writes
    to): a second process asking for the same result meanwhile waits and loads the first one's, so
    the result is computed once and its value always comes with its own provenance.
    """
    scale = check_scale(scale) if scale else get_scale()
    recompute = os.environ.get(RECOMPUTE_ENV) == "1"
    directory = Path(os.environ.get(WRITE_ENV) or cache_dir())
    key = artifact_key(name, params, scale)
    claim_file = directory / f"{key}.claim"  # removed when released
    waiting = False
    while True:
        path = None if recompute else find(name, params, scale)
        if path is not None:
            return _loaded(path, verbose)
        claim = take_claim(claim_file, {"name": name, "key": key})
        if claim is not None:
            break
        if verbose and not waiting:  # say once who computes it; a dead holder's claim is taken over
            held = read_json_object(claim_file)
            print(f"Another process (pid {held.get('pid', '?')} on {held.get('host', '?')}) is computing "
                  f"'{name}'; waiting for its result ({claim_file}).", flush=True)
        waiting = True
        time.sleep(CLAIM_POLL)
    with claim:
        path = None if recompute else find(name, params, scale)  # stored between the search and the claim
        if path is not None:
            return _loaded(path, verbose)
        return _compute_and_store(name, compute, params, scale, directory, verbose)


def _loaded(path: Path, verbose: bool) -> tuple[Any, Provenance]:
    value, provenance = load(path)
    if verbose:
        print(f"Loaded {provenance.describe()} (from {path.parent.name}/{path.name}).")
    return value, provenance


def _compute_and_store(name: str, compute: Callable[[], Any], params: dict[str, Any], scale: str,
                       directory: Path, verbose: bool) -> tuple[Any, Provenance]:
    """Compute a result (its claim held by the caller) and write its value and provenance as a pair."""
    start = time.perf_counter()
    token = _CHECKPOINT.set(directory / f"{artifact_key(name, params, scale)}.checkpoint.pt")
    try:
        value = compute()
    finally:
        _CHECKPOINT.reset(token)
    seconds = time.perf_counter() - start
    command = os.environ.get(COMMAND_ENV) or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) or "python"
    if "ipykernel" in command or "pytest" in command:
        command = "a notebook run"
    provenance = Provenance(name=name, key=artifact_key(name, params, scale), scale=scale, params=params,
                            command=command, date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            seconds=round(seconds, 2), versions=versions(), hardware=hardware())
    target = directory / f"{provenance.key}.pt"
    buffer = io.BytesIO()  # serialise first, so the file on disk is written atomically
    torch.save(value, buffer)
    meta = target.with_suffix(".json")
    directory.mkdir(parents=True, exist_ok=True)
    # The claim makes this the only writer, unless it was taken over from a holder on another host
    # that stopped refreshing it (a suspended laptop) and then woke: the lock keeps value and provenance a pair.
    with file_lock(directory / f".{provenance.key}.lock"):
        stored = meta.exists() and os.environ.get(RECOMPUTE_ENV) != "1"  # another process finished first
        if not stored:
            atomic_write(target, buffer.getvalue())
            atomic_write(meta, json.dumps(asdict(provenance), indent=1).encode())
    if verbose:
        print(f"Computed {provenance.describe()}; " + (f"another run had stored it first in {target}, which is kept."
                                                       if stored else f"saved to {target}."))
    return value, provenance


def checkpoint_path() -> Path | None:
    """Where the result being computed by :func:`train_or_load` may keep a training checkpoint, else ``None``.

    ``<folder the result will be written to>/<key>.checkpoint.pt``: a long training run that is
    interrupted (Ctrl-C, a closed laptop, a Colab timeout) resumes from it when the same result is
    asked for again (see the ``checkpoint`` argument of :func:`lecturelib.training.train`).
    """
    return _CHECKPOINT.get()


def artifact(name: str) -> Callable[[F], F]:
    """Decorate a keyword-only function so its result is trained once and loaded afterwards.

    The decorated function is called as ``fn(**params)``; the last provenance is kept on
    ``fn.last_provenance`` so a chapter can show it.
    """
    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(**params: Any) -> Any:
            value, provenance = train_or_load(name, lambda: function(**params), params)
            wrapper.last_provenance = provenance  # type: ignore[attr-defined]
            return value

        wrapper.last_provenance = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def stored() -> list[tuple[Path, Provenance]]:
    """Every stored result in the search directories, with its provenance."""
    found = []
    for directory in search_dirs():
        for meta in sorted(directory.glob("*.json")) if directory.exists() else []:
            if meta.with_suffix(".pt").exists():
                found.append((meta.with_suffix(".pt"), Provenance(**json.loads(meta.read_text()))))
    return found


def publish(notebook: Path, scale: str, timeout: int = 6 * 3600) -> None:
    """Execute ``notebook`` at ``scale`` so every result it trains is written to the shipped results."""
    import nbformat
    from nbclient import NotebookClient

    check_scale(scale)
    os.environ.update({"LECTURELIB_SCALE": scale, WRITE_ENV: str(SHIPPED_DIR),
                       COMMAND_ENV: f"python -m lecturelib.artifacts publish {notebook} --scale {scale}"})
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(Path(notebook).parent)}}).execute()
    print(f"Executed {notebook} at scale {scale}; results are in {SHIPPED_DIR}.")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``list`` stored results, or ``publish`` a chapter's results at a scale."""
    parser = argparse.ArgumentParser(prog="python -m lecturelib.artifacts", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="print every stored result with its provenance")
    pub = commands.add_parser("publish", help="execute a chapter and ship the results it trains")
    pub.add_argument("notebook", type=Path)
    pub.add_argument("--scale", default="default", choices=SCALES)
    args = parser.parse_args(argv)
    if args.command == "list":
        for path, provenance in stored():
            print(f"{path}: {provenance.describe()}")
    else:
        publish(args.notebook, args.scale)


if __name__ == "__main__":
    main()
