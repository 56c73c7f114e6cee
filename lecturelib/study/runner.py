"""Run a job function over a grid: local processes or a Dask cluster, resumable, failure-tolerant.

Used by chapter 9 (the Locatello et al. study) and ``python -m lecturelib.study run``.

A *job function* ``job_fn(job) -> {"scores": {...}, ...}`` trains and evaluates one cell of the
grid (:class:`~lecturelib.study.grid.Job`); it must be importable by worker processes (a module-level
function). The optional keys ``"curves"``, ``"timings"`` and anything else it returns go into
the record, except ``"artifacts"`` (``{name: object}``, e.g. an encoder's weights), which are saved
beside the records (:meth:`~lecturelib.store.RecordStore.write_artifacts`) and named in it. If
``job_fn`` also has a ``run_group(jobs) -> list[result or exception]`` attribute,
jobs of one grid row (same data set and method) can be given to it together (``group_size > 1``),
e.g. to train them in one vmapped step on a GPU (:mod:`lecturelib.study.batched`).

The backend is chosen by the ``backend`` argument or ``$LECTURELIB_STUDY_BACKEND``:

- ``"local"`` (default): up to ``workers`` processes at once (all cores by default), a fresh one
  per task; ``workers=1`` runs the jobs in this process.
- ``"dask"``: the same tasks on a ``dask.distributed`` cluster at ``address`` (or
  ``$LECTURELIB_DASK_SCHEDULER``), else on a ``LocalCluster`` of ``workers`` processes. The same
  code reaches Slurm/PBS (``dask_jobqueue``) or Kubernetes by starting a scheduler there and passing its
  address. Workers write the records themselves, so the study folder must be on a file system
  they share.

Workers claim each job before training it (:meth:`lecturelib.store.RecordStore.claim`), so several
runners, or the workers of a cluster, can work on one folder and no job is trained twice. SIGINT
or SIGTERM stops the workers within seconds (:class:`Interrupted`), and a worker exits as soon as
its runner ends, however it ends: a local worker watches the runner's process (:func:`exit_with`), a
Dask worker the runner's claim file in the study folder (:func:`exit_when_released`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import platform
import select
import signal
import threading
import time
import traceback
from collections import defaultdict, deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from lecturelib.store import (CLAIMS, HEARTBEAT, STALE_AFTER, RecordStore, claim_is_stale, json_default, now,
                              pid_alive, read_json_object, take_claim)
from lecturelib.store import environment as this_environment
from lecturelib.study.grid import Job
from lecturelib.validation import check_callable, check_int

BACKEND_ENV = "LECTURELIB_STUDY_BACKEND"
ADDRESS_ENV = "LECTURELIB_DASK_SCHEDULER"
BACKENDS = ("local", "dask")

JobFn = Callable[[Job], Mapping[str, Any]]


@dataclass
class RunSummary:
    """What :func:`run_study` did: job ids by outcome."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # a worker process died; rerun to retry
    dropped: list[str] = field(default_factory=list)  # finished by another process first
    busy: list[str] = field(default_factory=list)  # claimed by another runner, which trains them
    stale: list[str] = field(default_factory=list)  # error records of another config, retried with this one
    seconds: float = 0.0

    def __str__(self) -> str:
        text = (f"{len(self.done)} done, {len(self.failed)} failed, {len(self.skipped)} already finished, "
                f"{len(self.lost)} lost, {len(self.dropped)} raced in {self.seconds:.1f} s")
        return text + (f"; {len(self.busy)} being trained by another runner" if self.busy else "")


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped :func:`run_study`; ``signum`` says which, ``summary`` what was done."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.summary: RunSummary | None = None


def _interrupt(signum: int, frame: object) -> None:
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within this context, in the main thread, the first SIGINT or SIGTERM raises :class:`Interrupted`.

    Later signals are ignored so that stopping the workers and tidying the folder is not cut short.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is _interrupt:
        yield  # signals are delivered to the main thread only, or an enclosing call already handles them
        return
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def process_context() -> multiprocessing.context.BaseContext:
    """Fresh worker processes: a fork server that has imported the runner (and torch) once, else spawn.

    Plain ``fork`` of a process that has used torch's thread pools can deadlock; the fork server
    is a clean process, and forking it is much cheaper than spawning an interpreter per worker.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["lecturelib.study.runner"])
        return context
    return multiprocessing.get_context("spawn")


def exit_with(pid: int) -> None:
    """Make this process exit as soon as process ``pid`` (its runner) ends, however it ends (a daemon thread).

    A worker forked by the fork server is not the runner's child, so the operating system would
    not end it with the runner: without this, ``kill -9`` of the runner leaves workers training.
    """
    def watch() -> None:
        try:
            handle = os.pidfd_open(pid)  # Linux: readable when the process ends
        except (AttributeError, OSError):
            while pid_alive(pid):
                time.sleep(1.0)
        else:
            select.select([handle], [], [])
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name=f"exit-with-{pid}").start()


@contextlib.contextmanager
def exit_when_released(path: str | os.PathLike, *, interval: float = 1.0,
                       stale_after: float = STALE_AFTER) -> Iterator[None]:
    """Within this context, exit this process as soon as the runner's claim file ``path`` is gone or stale.

    The watch of a Dask worker, which is not the runner's process and may be on another host: the
    runner holds ``path`` (:func:`lecturelib.store.take_claim`, refreshed every ``HEARTBEAT`` seconds)
    while it runs, and removes it when it stops. When it is removed (the runner stopped: Ctrl-C, an
    error), or is stale (the runner died: within ``interval`` seconds on the runner's host, where a dead
    pid is seen; after ``stale_after`` seconds elsewhere), the worker process exits at once, since a
    thread running a training step cannot be stopped; the cluster's nanny starts a fresh worker.
    """
    path = Path(path)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(interval):
            held = read_json_object(path)
            if not held or claim_is_stale(path, held, stale_after):
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-when-runner-ends").start()
    try:
        yield
    finally:
        stop.set()  # the task is over: the worker process runs other tasks, this watch must not end it


def make_record(job: Job, result: Mapping[str, Any] | BaseException, *, started: str,
                seconds: float, environment: Mapping[str, Any] | None = None,
                artifacts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The record of one job: config, scores (or error and traceback), curves, timings, versions, hardware.

    ``artifacts`` maps the names of the job's saved artifacts to their paths (relative to the study folder).
    """
    record: dict[str, Any] = {"job_id": job.job_id, "config": job.to_dict(), "started": started,
                              "finished": now(), **(environment or this_environment())}
    timings = {"total_s": round(seconds, 3)}
    if isinstance(result, BaseException):
        record.update(status="error", error=f"{type(result).__name__}: {result}",
                      traceback="".join(traceback.format_exception(type(result), result, result.__traceback__)))
    else:
        extra = {k: v for k, v in result.items() if k not in ("scores", "curves", "timings", "artifacts")}
        timings.update(result.get("timings", {}))
        record.update(status="ok", scores=dict(result["scores"]), curves=dict(result.get("curves", {})))
        if extra:
            record["extra"] = extra
        if artifacts:
            record["artifacts"] = dict(artifacts)
    record["timings"] = timings
    return record


def _check_result(result: object) -> Mapping[str, Any]:
    if not isinstance(result, Mapping) or not isinstance(result.get("scores"), Mapping):
        raise TypeError(f"the job function must return a mapping with a 'scores' mapping, got {type(result).__name__}")
    return result


def run_task(configs: Sequence[Mapping[str, Any]], job_fn: JobFn, root: str,
             threads: int | None = None, runner: str | None = None) -> list[tuple[str, str]]:
    """Run one task (one job, or a group for ``job_fn.run_group``) in this process; write its records.

    Returns ``(job_id, outcome)`` pairs, outcome one of ``"ok"``, ``"error"``, ``"dropped"`` (another
    process finished it first) or ``"busy"`` (another process holds its claim and trains it).
    Each job is claimed before it is trained and released after its record is written.
    This is what worker processes (local or Dask) execute. ``runner``: the runner's claim file, relative to
    ``root``; this process exits when it is released or stale (:func:`exit_when_released`).
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    store = RecordStore(root)
    with exit_when_released(store.resolve(runner)) if runner else contextlib.nullcontext():
        return _claim_and_run(configs, job_fn, store)


def _claim_and_run(configs: Sequence[Mapping[str, Any]], job_fn: JobFn, store: RecordStore) -> list[tuple[str, str]]:
    outcomes: list[tuple[str, str]] = []
    claims, jobs = [], []
    try:
        for job in map(Job.from_dict, configs):
            claim = None if store.is_done(job.job_id) else store.claim(job.job_id)
            if claim is not None and store.is_done(job.job_id):  # finished between the check and the claim
                claim.release()
                claim = None
            if claim is None:
                outcomes.append((job.job_id, "dropped" if store.is_done(job.job_id) else "busy"))
            else:
                claims.append(claim)
                jobs.append(job)
        if jobs:
            outcomes += _run_claimed(jobs, job_fn, store)
    finally:
        for claim in claims:
            claim.release()
    return outcomes


def _run_claimed(jobs: list[Job], job_fn: JobFn, store: RecordStore) -> list[tuple[str, str]]:
    env = this_environment()
    started, start = now(), time.perf_counter()
    results: list[Mapping[str, Any] | BaseException]
    if len(jobs) > 1:
        try:
            results = list(job_fn.run_group(jobs))  # type: ignore[attr-defined]
            if len(results) != len(jobs):
                raise RuntimeError(f"run_group returned {len(results)} results for {len(jobs)} jobs")
        except Exception as error:  # the whole group failed: record it for every job
            results = [error] * len(jobs)
        per_job = (time.perf_counter() - start) / len(jobs)
        seconds = [per_job] * len(jobs)
    else:
        try:
            results = [_check_result(job_fn(jobs[0]))]
        except Exception as error:
            results = [error]
        seconds = [time.perf_counter() - start]
    outcomes = []
    for job, result, secs in zip(jobs, results, seconds):
        artifacts = None
        if not isinstance(result, BaseException):
            try:
                result = _check_result(result)
                if result.get("artifacts"):  # saved before the record, under names of this attempt
                    artifacts = store.write_artifacts(job.job_id, result["artifacts"])
            except Exception as error:  # a bad result or an unsaveable artifact: recorded as the job's error
                result = error
        record = make_record(job, result, started=started, seconds=secs, environment=env, artifacts=artifacts)
        stored = store.write(job.job_id, record)
        if artifacts and not stored:
            store.remove_artifacts(artifacts)
        outcomes.append((job.job_id, record["status"] if stored else "dropped"))
    return outcomes


def _normalised(config: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps(config, sort_keys=True, default=json_default))


def _tasks(jobs: Sequence[Job], job_fn: JobFn, group_size: int) -> list[list[Job]]:
    """The jobs as tasks, in an order in which any prefix of a sweep covers the grid evenly.

    Within a grid row (data set, method) the jobs go seed by seed (every setting's first seed
    before any second seed); the rows then take turns (task ``i`` of every row before task ``i + 1``
    of any). So a sweep cut short (a time-boxed session) has every method with several settings,
    rather than a few methods complete. Groups (``group_size > 1``) are consecutive jobs of one row.
    """
    if group_size <= 1 or not hasattr(job_fn, "run_group"):
        group_size = 1
    rows: dict[tuple, list[Job]] = defaultdict(list)
    for job in jobs:
        rows[job.row_key].append(job)
    by_row = []
    for row in rows.values():
        row = sorted(row, key=lambda job: job.seed)  # stable: the grid's setting order within a seed
        by_row.append([row[i:i + group_size] for i in range(0, len(row), group_size)])
    return [tasks[i] for i in range(max(map(len, by_row), default=0)) for tasks in by_row if i < len(tasks)]


def _conflicts(store: RecordStore, jobs: Sequence[Job], retry_failed: bool) -> tuple[list[str], list[str]]:
    """The records of ``jobs`` made with another config: ``(finished or kept errors, errors to retry)`` as paths."""
    blocking, stale = [], []
    for job in jobs:
        record = store.get(job.job_id)
        if record is None or _normalised(record.get("config")) == _normalised(job.to_dict()):
            continue
        if record["status"] == "error" and retry_failed:
            stale.append(job.job_id)
        else:
            blocking.append(str(store.path(job.job_id) if record["status"] == "ok" else store.error_path(job.job_id)))
    return blocking, stale


def run_study(jobs: Sequence[Job], job_fn: JobFn, root: str | os.PathLike, *, workers: int | None = None,
              backend: str | None = None, address: str | None = None, group_size: int = 1,
              retry_failed: bool = True, progress: bool = False) -> RunSummary:
    """Run ``job_fn`` on every job of ``jobs`` without a finished record in ``root``; return a summary.

    Parameters
    ----------
    jobs : the grid (:func:`~lecturelib.study.grid.study_grid`); ids must be unique.
    job_fn : module-level function ``job -> {"scores": {...}, ...}`` (see the module docstring).
    root : the study folder (records in ``root/records``); rerunning resumes where it stopped.
    workers : processes (local) or LocalCluster workers (Dask); default: all cores.
    backend : ``"local"`` or ``"dask"``; default ``$LECTURELIB_STUDY_BACKEND`` or ``"local"``.
    address : Dask scheduler address; default ``$LECTURELIB_DASK_SCHEDULER``, else a LocalCluster.
    group_size : jobs of one grid row given together to ``job_fn.run_group`` (1: one job per task).
    retry_failed : rerun jobs whose last attempt failed (else keep their error records).
    progress : show a progress bar (tqdm).

    A finished record made with another config (another grid or scale) is a ``ValueError`` naming
    its file, raised before anything is written; an error record of another config is retried.
    SIGINT or SIGTERM (in the main thread) stops the workers within seconds and raises
    :class:`Interrupted`, whose ``summary`` says what was done; the folder stays consistent
    (records are whole, claims of stopped workers are removed) and rerunning resumes.
    """
    backend = (backend or os.environ.get(BACKEND_ENV) or "local").strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not known; expected one of: {', '.join(BACKENDS)}")
    workers = check_int(workers if workers is not None else (os.cpu_count() or 1), "workers", minimum=1)
    group_size = check_int(group_size, "group_size", minimum=1)
    check_callable(job_fn, "job_fn", "a module-level function job -> result dict")
    if not all(isinstance(job, Job) for job in jobs):
        raise ValueError("jobs must be lecturelib.study.grid.Job objects (see study_grid)")
    ids = [job.job_id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("jobs must have unique job ids")
    store = RecordStore(root)
    blocking, stale = _conflicts(store, jobs, retry_failed)
    if blocking:
        raise ValueError(f"{len(blocking)} records in {store.folder} were made with another config (another grid "
                         f"or scale): use another study folder, or delete them to run these jobs again: "
                         f"rm {' '.join(blocking[:3])}{' ...' if len(blocking) > 3 else ''}")
    store.clean_temporaries()
    summary = RunSummary(stale=stale)
    start = time.perf_counter()
    pending = []
    for job in jobs:
        if store.is_done(job.job_id) or (not retry_failed and store.get(job.job_id) is not None):
            summary.skipped.append(job.job_id)
        else:
            pending.append(job)
    tasks = _tasks(pending, job_fn, group_size)
    configs = [[job.to_dict() for job in task] for task in tasks]

    from tqdm.auto import tqdm

    bar = tqdm(total=len(pending), desc=f"study ({backend})", disable=not progress, unit="job")

    def collect(outcomes: list[tuple[str, str]]) -> None:
        for job_id, outcome in outcomes:
            {"ok": summary.done, "error": summary.failed, "dropped": summary.dropped,
             "busy": summary.busy}[outcome].append(job_id)
        bar.update(len(outcomes))
        bar.set_postfix(failed=len(summary.failed))

    def lose(task: list[dict]) -> None:
        summary.lost.extend(c["job_id"] for c in task)
        bar.update(len(task))

    try:
        with stop_on_signals():
            if backend == "dask":
                _run_dask(configs, job_fn, str(root), workers, address or os.environ.get(ADDRESS_ENV), collect, lose)
            elif workers == 1 or len(configs) <= 1:
                for task in configs:
                    collect(run_task(task, job_fn, str(root)))
            else:
                _run_local(configs, job_fn, str(root), workers, collect, lose)
    except Interrupted as stop:
        stop.summary = summary
        raise
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - start
    return summary


def _worker(function: Callable[..., Any], args: tuple, runner: int, conn: Any) -> None:
    """A worker process: call ``function(*args)``, send the result (or why it failed) to the runner."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the runner stops us
    exit_with(runner)
    try:
        message: tuple[str, Any] = ("ok", function(*args))
    except BaseException as error:
        message = ("crash", f"{type(error).__name__}: {error}")
    conn.send(message)
    conn.close()


def run_processes(calls: Sequence[tuple[Callable[..., Any], tuple]], workers: int,
                  on_result: Callable[[int, Any], None], on_lost: Callable[[int, int], None], *,
                  may_start: Callable[[], bool] = lambda: True) -> None:
    """Call each ``function(*args)`` of ``calls`` in a fresh worker process, at most ``workers`` at once.

    ``on_result(i, value)`` gets what call ``i`` returned; ``on_lost(i, pid)`` is told when the process
    of call ``i`` died without a result (killed, out of memory), and when the runner stopped it.
    No call starts once ``may_start()`` is false. An exception raised by a call is re-raised here as a
    ``RuntimeError`` after the other workers are stopped; so is SIGINT or SIGTERM (:class:`Interrupted`,
    in the main thread). ``function`` must be importable by the worker (a module-level function).

    A process per call (forked from the preloaded fork server, cheap next to a training run) lets the
    runner stop any of them at once, and its memory goes back when the call ends. Workers ignore
    SIGINT and exit as soon as the runner ends (:func:`exit_with`), however it ends.
    """
    context = process_context()
    queue, running = deque(enumerate(calls)), {}
    with stop_on_signals():
        try:
            while running or (queue and may_start()):
                while queue and len(running) < workers and may_start():
                    index, (function, args) = queue.popleft()
                    reader, writer = context.Pipe(duplex=False)
                    process = context.Process(target=_worker, args=(function, args, os.getpid(), writer), daemon=True)
                    process.start()
                    writer.close()
                    running[reader] = (process, index)
                for reader in wait(list(running)):  # a message, or end of file when the process died
                    process, index = running.pop(reader)
                    try:
                        message = reader.recv()
                    except EOFError:
                        message = None
                    reader.close()
                    process.join(10.0)  # it exits after sending; a stuck exit is not worth waiting for
                    if process.is_alive():
                        process.kill()
                        process.join()
                    if message is None:
                        on_lost(index, process.pid)
                    elif message[0] == "crash":
                        raise RuntimeError(f"a worker process failed: {message[1]}")
                    else:
                        on_result(index, message[1])
        finally:
            stopped = [(process, index) for process, index in running.values()]
            for process, _ in stopped:
                process.terminate()
            for process, index in stopped:
                process.join(5.0)
                if process.is_alive():
                    process.kill()
                    process.join()
                on_lost(index, process.pid)


def _run_local(configs: list[list[dict]], job_fn: JobFn, root: str, workers: int,
               collect: Callable[[list[tuple[str, str]]], None], lose: Callable[[list[dict]], None]) -> None:
    """Run the tasks in worker processes (:func:`run_processes`); a stopped or dead worker's claims are removed."""
    store = RecordStore(root)
    threads = max(1, (os.cpu_count() or 1) // workers)
    stopped = []

    def lost(index: int, pid: int) -> None:
        store.release_claims_of(pid)
        stopped.append(pid)
        lose(configs[index])

    try:
        run_processes([(run_task, (task, job_fn, root, threads)) for task in configs], workers,
                      lambda index, outcomes: collect(outcomes), lost)
    finally:
        if stopped:
            store.clean_temporaries()  # those of the dead workers


def _run_dask(configs: list[list[dict]], job_fn: JobFn, root: str, workers: int, address: str | None,
              collect: Callable[[list[tuple[str, str]]], None], lose: Callable[[list[dict]], None]) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("backend='dask' needs dask.distributed: pip install 'lecturelib[study]'") from error
    # Held while this runner runs; the tasks watch it, so a worker stops when the runner does, however it ends.
    for left in (Path(root) / CLAIMS).glob("*.runner"):  # by runners that were killed
        if claim_is_stale(left, read_json_object(left)):
            left.unlink(missing_ok=True)
    beacon = take_claim(Path(root) / CLAIMS / f"runner.{platform.node()}.{os.getpid()}.runner", {"runner": True},
                        heartbeat=HEARTBEAT)
    if beacon is None:  # pragma: no cover - the name holds this process's pid
        raise RuntimeError(f"another runner with pid {os.getpid()} holds this runner's claim in {root}")
    runner = beacon.path.relative_to(root).as_posix()
    cluster = None
    if address:
        client = Client(address)
        threads = None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        threads = max(1, (os.cpu_count() or 1) // workers)
    futures = []
    try:
        futures = client.map(run_task, configs, job_fn=job_fn, root=root, threads=threads, runner=runner, pure=False)
        tasks = {future.key: task for future, task in zip(futures, configs)}
        for future in dask_completed(futures):
            try:
                outcomes = future.result()
            except Exception:  # the worker died (KilledWorker, lost connection): rerun to retry
                lose(tasks[future.key])
            else:
                collect(outcomes)
    except BaseException:
        client.cancel(futures)  # a shared cluster keeps running; our queued tasks must not
        raise
    finally:
        beacon.release()  # tasks still running (Ctrl-C) see it gone and stop their workers
        client.close()
        if cluster is not None:
            cluster.close()
