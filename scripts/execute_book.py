"""Execute the book's chapters before Sphinx, with progress, bounded waits and a shared cache.

Usage: .venv/bin/python scripts/execute_book.py CONFIG.yml --cache DIR [--jobs N] [--scale NAME]
       [--cell-timeout S] [--idle-timeout S] [--retries N] [--record-times] [NOTEBOOK ...]

`make book` runs this step first and `jupyter-book build` second. Each chapter of `_toc.yml`
(or each NOTEBOOK named) whose code is not yet in the jupyter-cache at DIR is executed with
nbclient, up to N at a time (longest first, by the times recorded at the last build), and its
executed notebook is stored in that cache exactly as myst-nb stores it (``execute_notebooks:
cache``), so Sphinx then finds every chapter cached and executes nothing itself. A chapter whose
code did not change is not executed again.

What it guarantees that a plain `jupyter-book build` does not:

* **Progress.** One line when a chapter starts, one when it ends (with its time and slowest
  cell), and a line every ``--progress`` seconds naming the cell each running chapter is in.
* **No silent wait.** A cell that runs past its chapter's budget fails the build, naming the
  chapter, the cell and the budget. The budget is sized from the chapter's measured time: each
  cell may take ``BUDGET_FACTOR`` times what the whole chapter took when last measured at this
  scale (at least ``BUDGET_MINIMUM`` seconds), as recorded in ``scripts/chapter_times.yml``; a
  chapter without a measurement at this scale gets ``execute.timeout`` of CONFIG.yml, and
  ``--cell-timeout`` sets one limit for every cell. While the client waits for a cell, a watchdog
  samples the CPU time of the kernel and its child processes: a kernel that has used (almost) no CPU and sent no message
  for ``--idle-timeout`` seconds is stalled (the reply to the cell was lost, or the kernel
  stopped). The chapter is then executed again from the start, up to ``--retries`` times, and
  after that the build fails with a message naming the chapter, the cell, and whether the kernel
  had reported the cell finished (its ``status: idle`` arrived but the ``execute_reply`` did
  not). A ``py-spy dump`` of the kernel is saved beside the cache when py-spy is installed.
* **Parallel chapters.** ``--jobs N`` kernels at a time; each gets ``cores // N`` threads
  (``LECTURELIB_THREADS``), unless the caller set ``LECTURELIB_THREADS`` or ``OMP_NUM_THREADS``.

The time of every cell is recorded in ``DIR/../execution_times.json`` (the same folder as the
cache), for the next build's order and for profiling the chapters. ``--record-times`` also writes
the time of each chapter executed into ``scripts/chapter_times.yml`` (with the date and the
hardware), which sets the budgets of later builds: run it on a build from an empty cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import yaml
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.output_widget import OutputWidget

TIMES_FILE = "execution_times.json"
BUDGETS_FILE = Path(__file__).resolve().parent / "chapter_times.yml"
# A cell may take this many times its whole chapter's measured time. The times are measured on 2
# quiet cores, two chapters at a time; on cores shared with as many busy processes (the stall's
# reproduction) each kernel runs about twice as slowly, and the factor leaves a margin above that.
BUDGET_FACTOR = 3.0
BUDGET_MINIMUM = 300.0  # seconds: a kernel start or an import on a starved machine can take minutes
BUDGETS_HEADER = """\
# Measured time of each chapter in `make book`, per scale: seconds for the whole chapter, executed
# from an empty cache by scripts/execute_book.py (two chapters at a time), with the date and the
# hardware. The execution step lets each cell of a chapter run for at most BUDGET_FACTOR (3) times
# the chapter's time here, and at least BUDGET_MINIMUM (300) seconds; a chapter without a time at
# the build's scale gets execute.timeout of _config.yml. Written by
#   .venv/bin/python scripts/execute_book.py CONFIG --cache DIR --scale NAME --record-times
# (make book BOOK_RECORD_TIMES=1); `note` says how a time was obtained when not by that command.
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of IPython's tracebacks


@dataclass(frozen=True)
class Budget:
    """How long each cell of one chapter may run, and why (for the log and the failure message)."""

    seconds: float | None  # None: no limit
    reason: str


def chapter_budgets(table: dict, scale: str, names: list[str], *, fallback: float | None,
                    factor: float = BUDGET_FACTOR, minimum: float = BUDGET_MINIMUM) -> dict[str, Budget]:
    """Each chapter's per-cell limit: ``factor`` x its measured time at ``scale`` in ``table``, at least ``minimum``.

    ``table`` is the content of ``chapter_times.yml`` (``{scale: {chapter: {"seconds": ...}}}``);
    a chapter without a measured time at ``scale`` gets ``fallback`` (``execute.timeout``).
    """
    measured = (table or {}).get(scale) or {}
    budgets = {}
    for name in names:
        seconds = (measured.get(name) or {}).get("seconds")
        if seconds is None:
            budgets[name] = Budget(fallback, f"no measured time of {name} at the {scale} scale in "
                                             f"{BUDGETS_FILE.name}, so execute.timeout")
        else:
            limit = max(minimum, factor * float(seconds))
            budgets[name] = Budget(limit, f"{factor:g} x {float(seconds):.0f} s, the chapter's time at the {scale} "
                                          f"scale in {BUDGETS_FILE.name}" + (f", or at least {minimum:.0f} s"
                                                                             if limit == minimum else ""))
    return budgets


def record_times(path: Path, scale: str, seconds: dict[str, float]) -> None:
    """Write the measured ``seconds`` of chapters at ``scale`` into the table at ``path`` (date and hardware)."""
    try:
        table = yaml.safe_load(path.read_text()) or {}
    except OSError:
        table = {}
    hardware = f"{os.cpu_count()} CPU cores ({platform.machine()})"
    date = time.strftime("%Y-%m-%d")
    for name, value in seconds.items():
        table.setdefault(scale, {})[name] = {"seconds": round(value), "date": date, "hardware": hardware}
    path.write_text(BUDGETS_HEADER + yaml.safe_dump(table, sort_keys=True))


class KernelStalled(Exception):
    """The kernel used no CPU and sent nothing for ``idle_timeout`` seconds while a cell ran."""


@dataclass
class CellFailure(Exception):
    """A chapter that could not be executed, with the cell where it stopped."""

    notebook: str
    cell_index: int | None
    cell_source: str
    reason: str

    def __str__(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "before its first cell"
        first_line = next((line for line in self.cell_source.splitlines() if line.strip()), "")
        code = f" (`{first_line.strip()[:70]}`)" if first_line else ""
        return f"{self.notebook}: {where}{code}: {self.reason}"


@dataclass
class Watch:
    """What the client has seen of the cell it is waiting for (read by the watchdog)."""

    cell_index: int | None = None  # the cell running, or the last one run
    cell_source: str = ""
    running: bool = False  # the client is waiting for the cell's reply
    cell_start: float = 0.0
    last_message: float = 0.0
    saw_idle: bool = False
    cell_times: list[tuple[int, float, str]] = field(default_factory=list)


class DeferredOutputWidget(OutputWidget):
    """nbclient's stand-in for an ipywidgets ``Output``, sending its state to the kernel between cells.

    nbclient's own ``OutputWidget`` sends a ``comm_msg`` on the shell channel for every output
    captured inside the widget (``interact`` prints and draws there), while the client waits on
    that same socket for the cell's ``execute_reply``. On busy cores that reply then sometimes
    lies unread in the socket while the client's event loop sleeps: the readiness of the ZeroMQ
    socket, signalled once (edge-triggered), is consumed without waking the pending poll, and the
    client waits until the cell timeout. This is the stall of `make book` in chapter 3 (the first
    ``interact``). The kernel handles shell messages one at a time, so it reads these updates only
    after the cell anyway: sending them once the reply has arrived changes nothing it sees.
    """

    def sync_state(self) -> None:
        self.executor.deferred_widget_syncs[self.comm_id] = self

    def send_state_now(self) -> None:
        OutputWidget.sync_state(self)


class WatchedClient(NotebookClient):
    """An nbclient ``NotebookClient`` that tells a :class:`Watch` which cell runs and what arrives.

    It also sends the state of ``Output`` widgets between cells (:class:`DeferredOutputWidget`).
    """

    def __init__(self, nb, watch: Watch, **kwargs):
        self.watch = watch
        self.deferred_widget_syncs: dict[str, DeferredOutputWidget] = {}
        super().__init__(nb, on_cell_execute=self._cell_started, on_cell_executed=self._cell_done,
                         **kwargs)
        self.widget_registry["@jupyter-widgets/output"]["OutputModel"] = DeferredOutputWidget

    def _cell_started(self, cell, cell_index):
        now = time.monotonic()
        self.watch.cell_index, self.watch.cell_source = cell_index, cell.source
        self.watch.cell_start = self.watch.last_message = now
        self.watch.saw_idle = False
        self.watch.running = True

    def _cell_done(self, cell, cell_index, execute_reply):
        self.watch.cell_times.append((cell_index, time.monotonic() - self.watch.cell_start, cell.source))
        self.watch.running = False
        syncs, self.deferred_widget_syncs = self.deferred_widget_syncs, {}
        for widget in syncs.values():  # no poll is waiting on the shell socket now
            widget.send_state_now()

    def process_message(self, msg, cell, cell_index):
        self.watch.last_message = time.monotonic()
        content = msg.get("content", {})
        if msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
            self.watch.saw_idle = True
        return super().process_message(msg, cell, cell_index)


def kernel_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and all its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def kernel_busy(pid: int) -> bool:
    """Whether a thread of process ``pid`` or of a descendant is running, runnable or in disk I/O.

    A kernel starved of CPU by other processes, or importing from a slow disk, uses little CPU
    but is not stalled; a stalled one sleeps in its event loop (or is stopped).
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for process in processes:
        tasks = Path(f"/proc/{process.pid}/task")
        try:
            if tasks.is_dir():  # Linux: every thread's state (R running/runnable, D disk wait)
                for stat in tasks.glob("*/stat"):
                    if stat.read_text().rpartition(")")[2].split()[0] in ("R", "D"):
                        return True
            elif process.status() in (psutil.STATUS_RUNNING, psutil.STATUS_DISK_SLEEP):
                return True
        except (OSError, IndexError, psutil.NoSuchProcess):
            continue
    return False


def kernel_pid(client: NotebookClient) -> int | None:
    provisioner = getattr(client.km, "provisioner", None) if client.km is not None else None
    return getattr(provisioner, "pid", None)


def unread_channels(client: NotebookClient) -> list[str]:
    """The client's channels (shell, iopub) with a message received but not yet read.

    A message waiting there while the client sleeps means the client's event loop missed the
    socket's wake-up (ZeroMQ signals readiness edge-triggered); none means the message never came.
    """
    import zmq

    unread = []
    for name in ("shell", "iopub"):
        channel = getattr(client.kc, f"{name}_channel", None) if client.kc is not None else None
        socket = getattr(channel, "socket", None)
        try:
            if socket is not None and socket.get(zmq.EVENTS) & zmq.POLLIN:
                unread.append(name)
        except zmq.ZMQError:
            pass
    return unread


def py_spy_dump(pid: int, target: Path) -> Path | None:
    """Save ``py-spy dump`` of ``pid`` to ``target`` if py-spy is installed; return the path."""
    py_spy = shutil.which("py-spy")
    if py_spy is None or pid is None:
        return None
    try:
        result = subprocess.run([py_spy, "dump", "--pid", str(pid)], capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        text = f"py-spy failed: {error}"
    else:
        text = result.stdout + result.stderr
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


async def watchdog(client: WatchedClient, task: asyncio.Task, *, idle_timeout: float,
                   poll: float, cpu_fraction: float, stall_dir: Path | None, name: str) -> None:
    """Cancel ``task`` (with :class:`KernelStalled` recorded on ``client``) if the kernel stalls.

    Stalled: during the last ``idle_timeout`` seconds of a running cell, no message arrived for
    the cell, the kernel and its children used less than ``cpu_fraction`` of one core, and at no
    sample was any of their threads running, runnable or waiting for the disk.
    """
    samples: list[tuple[float, float]] = []  # (time, cpu seconds), the last idle_timeout seconds
    last_busy = 0.0
    while not task.done():
        await asyncio.sleep(poll)
        watch, pid = client.watch, kernel_pid(client)
        if not watch.running or pid is None:
            samples.clear()
            continue
        now = time.monotonic()
        samples.append((now, kernel_cpu_seconds(pid)))
        samples = [s for s in samples if s[0] >= now - idle_timeout - poll]
        if kernel_busy(pid):
            last_busy = now
        quiet_since = max(watch.cell_start, watch.last_message, last_busy)
        if now - quiet_since < idle_timeout or now - samples[0][0] < idle_timeout:
            continue
        used = samples[-1][1] - samples[0][1]
        if used >= cpu_fraction * (samples[-1][0] - samples[0][0]):
            continue
        unread = unread_channels(client)
        dump = py_spy_dump(pid, stall_dir / f"{name}-cell{watch.cell_index}-{int(time.time())}.txt") \
            if stall_dir is not None else None
        client.stall = (
            f"kernel stalled: asleep, {used:.2f} s of CPU and no message in the last {now - samples[0][0]:.0f} s "
            f"while waiting for the cell's reply; the kernel had "
            f"{'reported the cell finished (status idle) but its execute_reply never arrived' if watch.saw_idle else 'not reported the cell finished'}"
            + (f"; unread messages in the client's {' and '.join(unread)} socket(s)" if unread
               else "; no unread message in the client's sockets")
            + (f"; py-spy dump of the kernel in {dump}" if dump else "")
        )
        kill_tree(pid)  # a stopped kernel ignores the polite shutdown nbclient would try first
        task.cancel()
        return


def kill_tree(pid: int) -> None:
    """SIGKILL process ``pid`` and its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


async def execute_once(path: Path, *, cwd: Path, budget: Budget, idle_timeout: float,
                       poll: float, cpu_fraction: float, stall_dir: Path | None,
                       env: dict[str, str] | None, progress: dict) -> tuple[nbformat.NotebookNode, Watch]:
    """Execute the notebook at ``path`` once; raise :class:`CellFailure` naming the cell on failure."""
    nb = nbformat.read(path, as_version=4)
    watch = Watch()
    # record_timing=False, as jupyter-cache's own executor: timestamps in the cells' metadata would
    # change the hash under which myst-nb looks the notebook up.
    client = WatchedClient(nb, watch, timeout=budget.seconds, allow_errors=False, record_timing=False,
                           resources={"metadata": {"path": str(cwd)}})
    client.stall = None
    progress[path.stem] = watch
    start_kwargs = {"env": env} if env is not None else {}
    task = asyncio.ensure_future(client.async_execute(**start_kwargs))
    dog = asyncio.ensure_future(watchdog(client, task, idle_timeout=idle_timeout, poll=poll,
                                         cpu_fraction=cpu_fraction, stall_dir=stall_dir, name=path.stem))
    try:
        await task
    except (asyncio.CancelledError, DeadKernelError) as error:
        # nbclient turns the watchdog's cancellation into DeadKernelError("Kernel died")
        if client.stall is None:
            if isinstance(error, asyncio.CancelledError):
                raise
            raise CellFailure(path.stem, watch.cell_index, watch.cell_source,
                              f"the kernel died ({error})") from None
        failure = CellFailure(path.stem, watch.cell_index, watch.cell_source, client.stall)
        await shutdown(client)
        raise KernelStalled(failure) from None
    except CellTimeoutError as error:
        raise CellFailure(path.stem, watch.cell_index, watch.cell_source,
                          f"the cell ran past its budget of {budget.seconds:.0f} s ({budget.reason}). "
                          "If it computes a result that is normally loaded (lecturelib.artifacts), publish "
                          f"that result (python -m lecturelib.artifacts publish {path.parent.name}/{path.name} "
                          "--scale SCALE); if the chapter now needs longer, record its time "
                          "(BOOK_RECORD_TIMES=1) or set BOOK_CELL_TIMEOUT=SECONDS") from None
    except CellExecutionError as error:
        raise CellFailure(path.stem, watch.cell_index, watch.cell_source,
                          f"the cell raised an error:\n{ANSI.sub('', str(error))}") from None
    finally:
        dog.cancel()
        progress.pop(path.stem, None)
    return nb, watch


async def shutdown(client: NotebookClient) -> None:
    """Kill a stalled kernel (it may be stopped: no polite shutdown request)."""
    try:
        if client.km is not None and client.km.has_kernel:
            await ensure_async(client.km.shutdown_kernel(now=True))
    except Exception as error:  # noqa: BLE001 - best effort; the kernel may already be gone
        print(f"  (could not shut the stalled kernel down: {error})", flush=True)
    try:
        if client.kc is not None:
            client.kc.stop_channels()
    except Exception:  # noqa: BLE001
        pass


def log(message: str) -> None:
    print(f"[execute {time.strftime('%H:%M:%S')}] {message}", flush=True)


def toc_notebooks(root: Path) -> list[Path]:
    """The ``.ipynb`` files named in ``root/_toc.yml``, in reading order."""
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            name = node.get("file")
            if isinstance(name, str) and (root / f"{name}.ipynb").is_file():
                found.append(root / f"{name}.ipynb")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    walk({"file": toc.get("root")})
    walk(toc)
    return found


def kernel_env(jobs: int) -> dict[str, str] | None:
    """The kernels' environment: ``cores // jobs`` threads each unless the caller chose a number."""
    if "LECTURELIB_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return None
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    return {**os.environ, "LECTURELIB_THREADS": threads, "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads}


async def execute_book(notebooks: list[Path], cache_dir: Path, *, jobs: int, cell_timeout: float | None,
                       idle_timeout: float, retries: int, poll: float = 5.0, cpu_fraction: float = 0.01,
                       progress_every: float = 60.0, budgets: dict[str, Budget] | None = None,
                       executed: dict[str, float] | None = None) -> list[CellFailure]:
    """Execute every notebook not yet in the jupyter-cache at ``cache_dir``; return the failures.

    Each chapter's cells may run for ``budgets[chapter]`` (:func:`chapter_budgets`), or else for
    ``cell_timeout`` seconds. ``executed``, if given, receives the seconds of each chapter executed.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    quiet_orphaned_kernel_checks()
    cache = get_cache(str(cache_dir))
    times_path = cache_dir.parent / TIMES_FILE
    try:
        times = json.loads(times_path.read_text())
    except (OSError, ValueError):
        times = {}
    todo = []
    for path in notebooks:
        try:
            record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
        else:
            log(f"{path.stem}: unchanged, executed {record.created:%Y-%m-%d %H:%M} (cache)")
    if not todo:
        log("every chapter is in the cache; nothing to execute")
        return []
    todo.sort(key=lambda p: -times.get(p.stem, {}).get("seconds", 0.0))  # longest first
    env = kernel_env(jobs)
    threads = env["LECTURELIB_THREADS"] if env else os.environ.get("LECTURELIB_THREADS") or os.environ.get("OMP_NUM_THREADS")
    log(f"executing {len(todo)} chapter(s), {jobs} at a time ({threads} thread(s) each): "
        + ", ".join(p.stem for p in todo))
    semaphore = asyncio.Semaphore(jobs)
    progress: dict[str, Watch] = {}
    failures: list[CellFailure] = []
    stall_dir = cache_dir.parent / "stalls"

    async def one(path: Path) -> None:
        budget = (budgets or {}).get(path.stem) or Budget(cell_timeout, "the cell timeout")
        async with semaphore:
            for attempt in range(retries + 1):
                limit = f"{budget.seconds:.0f} s per cell" if budget.seconds is not None else "no cell limit"
                log(f"{path.stem}: started" + (f" (attempt {attempt + 1})" if attempt else "")
                    + f", {limit} ({budget.reason})")
                start = time.monotonic()
                try:
                    nb, watch = await execute_once(path, cwd=path.parent, budget=budget,
                                                   idle_timeout=idle_timeout, poll=poll,
                                                   cpu_fraction=cpu_fraction, stall_dir=stall_dir,
                                                   env=env, progress=progress)
                except KernelStalled as stalled:
                    failure = stalled.args[0]
                    if attempt < retries:
                        log(f"{failure}; executing {path.stem} again")
                        continue
                    failures.append(failure)
                    log(f"FAILED {failure}")
                    return
                except CellFailure as failure:
                    failures.append(failure)
                    log(f"FAILED {failure}")
                    return
                seconds = time.monotonic() - start
                if executed is not None:
                    executed[path.stem] = seconds
                cache.cache_notebook_bundle(
                    CacheBundleIn(nb, str(path.resolve()), data={"execution_seconds": seconds}),
                    check_validity=False, overwrite=True)
                slowest = max(watch.cell_times, key=lambda t: t[1], default=None)
                times[path.stem] = {"seconds": round(seconds, 1), "date": time.strftime("%Y-%m-%d %H:%M"),
                                    "cells": {str(i): round(s, 2) for i, s, _ in watch.cell_times}}
                times_path.parent.mkdir(parents=True, exist_ok=True)
                times_path.write_text(json.dumps(times, indent=1, sort_keys=True))
                log(f"{path.stem}: done in {seconds:.0f} s"
                    + (f" (slowest: cell {slowest[0]}, {slowest[1]:.0f} s)" if slowest else ""))
                return

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(progress_every)
            now = time.monotonic()
            running = [f"{name} cell {w.cell_index} ({now - w.cell_start:.0f} s)"
                       for name, w in sorted(progress.items()) if w.running]
            if running:
                log("running: " + "; ".join(running))

    reporter = asyncio.ensure_future(report_progress())
    try:
        await asyncio.gather(*(one(path) for path in todo))
    finally:
        reporter.cancel()
    return failures


def quiet_orphaned_kernel_checks() -> None:
    """Spare the log asyncio's report of nbclient's orphaned kernel-alive checks.

    When a cell fails or a stalled kernel is killed, nbclient's ``_async_poll_kernel_alive`` task
    of that cell can find the client closed and end with an AssertionError nobody awaits, which
    asyncio would print as "Task exception was never retrieved".
    """
    loop = asyncio.get_running_loop()

    def handler(loop, context):
        if "_async_poll_kernel_alive" not in repr(context.get("future")):
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the build's _config.yml (execute.timeout)")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to execute (default: every .ipynb of _toc.yml beside CONFIG's "
                             "source, the current folder)")
    parser.add_argument("--cache", type=Path, required=True, help="the jupyter-cache folder myst-nb reads")
    parser.add_argument("--jobs", type=int, default=1, help="chapters executed at a time")
    parser.add_argument("--scale", default=os.environ.get("LECTURELIB_SCALE") or "default",
                        help="the scale the chapters run at, for their measured times (default: $LECTURELIB_SCALE)")
    parser.add_argument("--cell-timeout", type=float,
                        help=f"seconds any cell may run (default: each chapter's budget from {BUDGETS_FILE.name})")
    parser.add_argument("--record-times", action="store_true",
                        help=f"write the time of each chapter executed into {BUDGETS_FILE.name}")
    parser.add_argument("--idle-timeout", type=float, default=180.0,
                        help="seconds of an idle kernel, while a cell waits for its reply, before a retry")
    parser.add_argument("--retries", type=int, default=1, help="re-executions of a chapter whose kernel stalled")
    parser.add_argument("--progress", type=float, default=60.0, help="seconds between progress lines")
    args = parser.parse_intermixed_args(argv)  # notebooks may follow the options
    config = yaml.safe_load(args.config.read_text()) or {}
    execute = config.get("execute", {})
    if execute.get("execute_notebooks") in ("off", False):
        log("execution is off in the configuration; nothing to execute")
        return 0
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks(Path.cwd())
    if args.cell_timeout is not None:
        budgets = {p.stem: Budget(args.cell_timeout, "--cell-timeout") for p in notebooks}
    else:
        table = yaml.safe_load(BUDGETS_FILE.read_text()) if BUDGETS_FILE.is_file() else {}
        budgets = chapter_budgets(table, args.scale, [p.stem for p in notebooks], fallback=execute.get("timeout"))
    start = time.monotonic()
    executed: dict[str, float] = {}
    failures = asyncio.run(execute_book(notebooks, args.cache.resolve(), jobs=max(1, args.jobs),
                                        cell_timeout=execute.get("timeout"), idle_timeout=args.idle_timeout,
                                        retries=args.retries, progress_every=args.progress, budgets=budgets,
                                        executed=executed))
    if args.record_times and executed:
        record_times(BUDGETS_FILE, args.scale, executed)
        log(f"recorded the times of {', '.join(sorted(executed))} at the {args.scale} scale in {BUDGETS_FILE}")
    if failures:
        print("\nThe book was not built; these chapters could not be executed:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    log(f"finished in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
