"""Command line of the study (chapter 9)::

    python -m lecturelib.study run --scale tiny --workers 2 [--backend local|dask] [--address tcp://...] [--out DIR]
                                   [--methods NAME ...] [--seeds N ...] [--num-steps N] [--annealed-threshold N]
    python -m lecturelib.study report [--out DIR] [--scale tiny] [--mean] [--csv FILE]
    python -m lecturelib.study agreement [--out DIR] [--num-train N] [--num-test N] [--downstream-sizes N ...]
                                         [--metrics NAME ...] [--seconds S] [--workers N]
    python -m lecturelib.study rescore --metrics NAME ... [--out DIR] [--drop-stale]

``run`` trains and evaluates every job of the grid at the scale that has no finished record in
the study folder (rerun it to resume); ``report`` prints the records as one table; ``agreement``
scores the kept encoders in fast and reference mode (resumable) and prints how the two modes rank the
models (:mod:`lecturelib.study.agreement`); ``rescore`` scores the kept encoders again with metrics whose
code changed (:mod:`lecturelib.study.rescore`). The study folder defaults to ``study_results/<scale>``.

``run`` checks every value before it writes anything. Ctrl-C (or SIGTERM) stops it and its workers
within seconds; rerun the same command to resume. Two ``run`` commands on one folder (or on
machines sharing it) share the jobs between them. A record that cannot be read is named, moved
aside and trained again. ``report``, ``agreement`` and ``rescore`` never create a folder.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

from lecturelib.config import SCALES, get_scale
from lecturelib.metrics import METRICS
from lecturelib.study.agreement import AGREEMENT_METRICS, AGREEMENT_SIZES, agreement_summary, agreement_table, format_agreement, run_agreement
from lecturelib.study.grid import study_grid
from lecturelib.study.report import aggregate, format_table, group_mean, load_records
from lecturelib.study.rescore import rescore
from lecturelib.store import RecordStore
from lecturelib.study.runner import BACKENDS, Interrupted, run_study

DEFAULT_JOB = "lecturelib.study.jobs:train_and_evaluate"


def load_job(spec: str) -> Callable:
    """``"package.module:function"`` -> the job function of the study; ``ValueError`` if there is none."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"--job must look like 'package.module:function', got {spec!r}")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--job {spec!r} cannot be loaded: {error}") from None
    if not callable(function):
        raise ValueError(f"--job {spec!r} is not a function")
    return function


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int >= ``minimum``, else a one-line error naming the value."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}")
        return value

    return parse


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"warning: {message}\n"


def _out(args: argparse.Namespace) -> Path:
    return Path(args.out) if args.out else Path("study_results") / args.scale


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (errors in the values exit with status 2 and one line)."""
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _one_line_warning  # e.g. a corrupt record: named, moved aside, and the run goes on
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = formatwarning


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lecturelib.study", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run (or resume) the study's grid")
    report = commands.add_parser("report", help="print the records as one table")
    agree = commands.add_parser("agreement", help="score the kept encoders in fast and reference mode")
    again = commands.add_parser("rescore", help="score the kept encoders again with metrics whose code changed")
    for sub in (run, report, agree, again):
        sub.add_argument("--scale", choices=SCALES, default=None, help="compute scale (default: $LECTURELIB_SCALE)")
        sub.add_argument("--out", default=None, help="study folder (default: study_results/<scale>)")
    run.add_argument("--workers", type=_count(1), default=None, help="processes or Dask workers (default: all cores)")
    run.add_argument("--backend", choices=BACKENDS, default=None, help="default: $LECTURELIB_STUDY_BACKEND or local")
    run.add_argument("--address", default=None, help="Dask scheduler address (default: a LocalCluster)")
    run.add_argument("--methods", nargs="+", default=None, help="only these methods")
    run.add_argument("--seeds", type=_count(0), nargs="+", default=None, help="only these seeds")
    run.add_argument("--num-steps", type=_count(1), default=None, help="override the scale's training steps")
    run.add_argument("--annealed-threshold", type=_count(1), default=None,
                     help="AnnealedVAE: steps until C reaches c_max (default: a third of training; paper: 100000)")
    run.add_argument("--group-size", type=_count(1), default=1,
                     help="train this many jobs of one grid row together (vmapped on a GPU, looped on a CPU)")
    run.add_argument("--job", default=DEFAULT_JOB, help=f"job function, module:function (default {DEFAULT_JOB})")
    run.add_argument("--no-retry", action="store_true", help="keep failed jobs' error records instead of retrying")
    report.add_argument("--mean", action="store_true", help="mean and std over seeds instead of one row per job")
    report.add_argument("--csv", default=None, help="also write the table as CSV to this file")
    report.add_argument("--all", action="store_true", help="print every score (default: the headline ones)")
    for name, default in AGREEMENT_SIZES.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, tuple):
            agree.add_argument(flag, type=_count(1), nargs="+", default=list(default), help=f"default {list(default)}")
        else:
            agree.add_argument(flag, type=_count(1), default=default, help=f"default {default}")
    agree.add_argument("--metrics", nargs="+", choices=AGREEMENT_METRICS, default=list(AGREEMENT_METRICS),
                       help="the metrics to compare (default: every one whose fast mode differs)")
    agree.add_argument("--seconds", type=float, default=None, help="start no new model after this many seconds")
    agree.add_argument("--workers", type=_count(1), default=1, help="models scored at once, one process each")
    again.add_argument("--metrics", nargs="+", choices=METRICS, required=True, help="the metrics to score again")
    again.add_argument("--drop-stale", action="store_true",
                       help="remove the records that kept no encoder, so that `run` trains them again")
    args = parser.parse_args(argv)
    try:
        args.scale = args.scale or get_scale()
    except ValueError as error:
        parser.error(str(error))
    out = _out(args)
    if args.command != "run" and not out.is_dir():  # reading never creates a folder
        parser.error(f"--out {out}: no such study folder")

    if args.command == "run":
        return _run(parser, args, out)

    if args.command == "agreement":
        try:
            scored = run_agreement(out, {name: getattr(args, name) for name in AGREEMENT_SIZES},
                                   seconds=args.seconds, metrics=args.metrics, workers=args.workers, progress=True)
        except Interrupted as stop:
            print(f"stopped by {stop}; rerun the same command to resume", file=sys.stderr)
            return 128 + stop.signum
        print(f"scored {len(scored)} models now; {agreement_summary(out)}")
        print(format_agreement(agreement_table(out)))
        return 0

    if args.command == "rescore":
        result = rescore(out, args.metrics, drop_stale=args.drop_stale, progress=True)
        print(f"re-scored {len(result['rescored'])} records and {len(result['agreement'])} agreement records")
        if result["stale"]:
            print(f"{len(result['stale'])} records kept no encoder and " + ("were removed (run the study to train them "
                  "again)" if args.drop_stale else "keep their old scores (--drop-stale removes them)") + ":\n  "
                  + "\n  ".join(result["stale"]))
        return 0

    if args.csv and not Path(args.csv).parent.is_dir():
        parser.error(f"--csv {args.csv}: no such folder {Path(args.csv).parent}")
    rows = aggregate(load_records(out))
    table = group_mean(rows) if args.mean else rows
    print(f"{len(rows)} records in {out}")
    errors = any(row.get("error") for row in table)
    columns = None if args.all or not table else [c for c in table[0] if _headline(c) and (c != "error" or errors)]
    print(format_table(table, columns))
    if args.csv:
        import csv

        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]) if table else [])
            writer.writeheader()
            writer.writerows(table)
    return 0


def _headline(column: str) -> bool:
    """Columns printed by default: config, timings and each metric's main score (not per-factor details)."""
    details = (".test_accuracy.", "train_accuracy", "min_test_accuracy", "unsupervised.", "num_active", ".std")
    return not any(d in column for d in details)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, out: Path) -> int:
    """``run``: every value is checked before anything is written; Ctrl-C or SIGTERM ends with one line."""
    overrides = {} if args.num_steps is None else {"num_steps": args.num_steps}
    kwargs = {"methods": args.methods} if args.methods else {}
    try:
        job_fn = load_job(args.job)
        jobs = study_grid(args.scale, seeds=args.seeds, annealed_threshold=args.annealed_threshold, **kwargs,
                          **overrides)
    except ValueError as error:
        parser.error(str(error))
    if args.address and args.backend != "dask":
        parser.error("--address needs --backend dask")
    print(f"Study at scale {args.scale}: {len(jobs)} jobs, records in {out}", flush=True)
    try:
        summary = run_study(jobs, job_fn, out, workers=args.workers, backend=args.backend, address=args.address,
                            group_size=args.group_size, retry_failed=not args.no_retry, progress=True)
    except ValueError as error:  # the folder holds records of another grid: nothing was written
        parser.error(str(error))
    except Interrupted as stop:
        print(f"stopped by {stop}: {stop.summary}; rerun the same command to resume", file=sys.stderr)
        return 128 + stop.signum
    print(summary)
    if summary.stale:
        print(f"retried {len(summary.stale)} jobs whose error records came from another config: "
              + ", ".join(summary.stale))
    store = RecordStore(out)
    for job_id in summary.failed:
        record = store.get(job_id) or {}
        print(f"  failed: {job_id}: {record.get('error', '?')} (record: {store.error_path(job_id)})")
    return 1 if summary.failed or summary.lost else 0


if __name__ == "__main__":
    sys.exit(main())
