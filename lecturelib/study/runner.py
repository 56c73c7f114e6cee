"""Run a job function over a grid: local processes or a Dask cluster, resumable, failure-tolerant.

Used by chapter 9 (the Locatello et al. study) and ``python -m lecturelib.study run``.

A *job function* ``job_fn(job) -> {"scores": {...}, ...}`` trains and evaluates one cell of the
grid (:class:`~lecturelib.study.grid.Job`); it must be importable by worker processes (a module-level
function). The optional keys ``"curves"``, ``"timings"`` and anything else it returns go into
the record, except ``"artifacts"`` (``{name: object}``, e.g. an encoder's weights), which are saved
beside the records (:meth:`~lecturelib.study.store.RecordStore.write_artifacts`) and named in it. If ``job_fn`` also has a ``run_group(jobs) -> list[result or exception]`` attribute,
jobs of one grid row (same data set and method) can be given to it together (``group_size > 1``),
e.g. to train them in one vmapped step on a GPU (:mod:`lecturelib.study.batched`).

The backend is chosen by the ``backend`` argument or ``$LECTURELIB_STUDY_BACKEND``:

- ``"local"`` (default): a pool of ``workers`` processes (all cores by default), one job at a
  time per process; ``workers=1`` runs the jobs in this process.
- ``"dask"``: the same tasks on a ``dask.distributed`` cluster at ``address`` (or
  ``$LECTURELIB_DASK_SCHEDULER``), else on a ``LocalCluster`` of ``workers`` processes. The same
  code reaches Slurm/PBS (``dask_jobqueue``) or Kubernetes by starting a scheduler there and passing its
  address. Workers write the records themselves, so the study folder must be on a file system
  they share.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import multiprocessing
import os
import platform
import time
import traceback
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from lecturelib.study.grid import Job
from lecturelib.study.store import RecordStore, _json_default

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
    dropped: list[str] = field(default_factory=list)  # finished, but another worker stored it first
    seconds: float = 0.0

    def __str__(self) -> str:
        return (f"{len(self.done)} done, {len(self.failed)} failed, {len(self.skipped)} already finished, "
                f"{len(self.lost)} lost, {len(self.dropped)} raced in {self.seconds:.1f} s")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=None)
def _static_environment() -> tuple[tuple[str, Any], ...]:
    from lecturelib.artifacts import hardware, versions  # the provenance helpers of train-or-load

    return (("versions", versions()), ("hardware", hardware()), ("host", platform.node()))


def _environment() -> dict[str, Any]:
    """Versions, hardware, host and process of this worker (computed once per process)."""
    return {**dict(_static_environment()), "pid": os.getpid()}


def _process_context() -> multiprocessing.context.BaseContext:
    """Fresh worker processes: a fork server that has imported the runner (and torch) once, else spawn.

    Plain ``fork`` of a process that has used torch's thread pools can deadlock; the fork server
    is a clean process, and forking it is much cheaper than spawning an interpreter per worker.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["lecturelib.study.runner"])
        return context
    return multiprocessing.get_context("spawn")


def make_record(job: Job, result: Mapping[str, Any] | BaseException, *, started: str,
                seconds: float, environment: Mapping[str, Any] | None = None,
                artifacts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The record of one job: config, scores (or error and traceback), curves, timings, versions, hardware.

    ``artifacts`` maps the names of the job's saved artifacts to their paths (relative to the study folder).
    """
    record: dict[str, Any] = {"job_id": job.job_id, "config": job.to_dict(), "started": started,
                              "finished": _now(), **(environment or _environment())}
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
             threads: int | None = None) -> list[tuple[str, str]]:
    """Run one task (one job, or a group for ``job_fn.run_group``) in this process; write its records.

    Returns ``(job_id, outcome)`` pairs, outcome one of ``"ok"``, ``"error"``, ``"dropped"``.
    This is what worker processes (local pool or Dask) execute.
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    store = RecordStore(root)
    jobs = [Job.from_dict(c) for c in configs]
    env = _environment()
    started, start = _now(), time.perf_counter()
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
                if result.get("artifacts") and not store.is_done(job.job_id):  # saved before the record
                    artifacts = store.write_artifacts(job.job_id, result["artifacts"])
            except Exception as error:  # a bad result or an unsaveable artifact: recorded as the job's error
                result = error
        record = make_record(job, result, started=started, seconds=secs, environment=env, artifacts=artifacts)
        stored = store.write(job.job_id, record)
        outcomes.append((job.job_id, record["status"] if stored else "dropped"))
    return outcomes


def _normalised(config: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps(config, sort_keys=True, default=_json_default))


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
    """
    backend = (backend or os.environ.get(BACKEND_ENV) or "local").strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not known; expected one of: {', '.join(BACKENDS)}")
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    ids = [job.job_id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("jobs must have unique job ids")
    store = RecordStore(root)
    store.clean_temporaries()
    summary = RunSummary()
    start = time.perf_counter()
    pending = []
    for job in jobs:
        record = store.get(job.job_id)
        if record is not None and _normalised(record["config"]) != _normalised(job.to_dict()):
            raise ValueError(f"{store.folder} holds a record of {job.job_id} with another config; "
                             "use another study folder for another grid or scale")
        if store.is_done(job.job_id) or (record is not None and not retry_failed):
            summary.skipped.append(job.job_id)
        else:
            pending.append(job)
    tasks = _tasks(pending, job_fn, group_size)
    configs = [[job.to_dict() for job in task] for task in tasks]

    from tqdm.auto import tqdm

    bar = tqdm(total=len(pending), desc=f"study ({backend})", disable=not progress, unit="job")

    def collect(outcomes: list[tuple[str, str]]) -> None:
        for job_id, outcome in outcomes:
            {"ok": summary.done, "error": summary.failed, "dropped": summary.dropped}[outcome].append(job_id)
        bar.update(len(outcomes))
        bar.set_postfix(failed=len(summary.failed))

    try:
        if backend == "dask":
            def lose(task: list[dict]) -> None:
                summary.lost.extend(c["job_id"] for c in task)
                bar.update(len(task))

            _run_dask(configs, job_fn, str(root), workers, address or os.environ.get(ADDRESS_ENV), collect, lose)
        elif workers == 1 or len(configs) <= 1:
            for task in configs:
                collect(run_task(task, job_fn, str(root)))
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            with ProcessPoolExecutor(max_workers=min(workers, len(configs)),
                                     mp_context=_process_context()) as pool:
                futures = {pool.submit(run_task, task, job_fn, str(root), threads): task for task in configs}
                for future in as_completed(futures):
                    try:
                        collect(future.result())
                    except BrokenProcessPool:
                        summary.lost.extend(c["job_id"] for c in futures[future])
                        bar.update(len(futures[future]))
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _run_dask(configs: list[list[dict]], job_fn: JobFn, root: str, workers: int, address: str | None,
              collect: Callable[[list[tuple[str, str]]], None], lose: Callable[[list[dict]], None]) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("backend='dask' needs dask.distributed: pip install 'lecturelib[study]'") from error
    cluster = None
    if address:
        client = Client(address)
        threads = None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        threads = max(1, (os.cpu_count() or 1) // workers)
    try:
        futures = client.map(run_task, configs, job_fn=job_fn, root=root, threads=threads, pure=False)
        tasks = {future.key: task for future, task in zip(futures, configs)}
        for future in dask_completed(futures):
            try:
                outcomes = future.result()
            except Exception:  # the worker died (KilledWorker, lost connection): rerun to retry
                lose(tasks[future.key])
            else:
                collect(outcomes)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
