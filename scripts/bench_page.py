"""Run the benchmarks and (re)write the performance appendix from the tables they printed.

Usage: .venv/bin/python scripts/bench_page.py run      # `make bench`: every benchmarks/*.py, then page
       .venv/bin/python scripts/bench_page.py page     # only rewrite book/performance.md
       .venv/bin/python scripts/bench_page.py check    # exit 1 if book/performance.md is stale
       .venv/bin/python scripts/bench_page.py record NAME -- COMMAND...   # one run, e.g. on a GPU:
           record sparse_coding-gpu -- python benchmarks/sparse_coding.py --skip-dl --full

Each benchmark's printed table is stored, with the command, date and hardware, in
book/benchmarks/NAME.txt (committed, so the site shows measured numbers without re-running them);
book/performance.md includes every table present, so it follows whichever benchmarks exist. The
values the script measured (:func:`lecturelib.benchmarks.save_values`) are stored from the same run,
with the same provenance, in lecturelib/results/benchmarks/NAME.json, which ships with the package
and is what chapters read (:func:`lecturelib.benchmarks.recorded`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from lecturelib.benchmarks import RESULTS_DIR, VALUES_ENV

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
TABLES = ROOT / "book" / "benchmarks"
VALUES = RESULTS_DIR
PAGE = ROOT / "book" / "performance.md"

INTRO = """\
# Performance appendix

Speed claims in the chapters are measured by the scripts in `benchmarks/`, each of which prints
the baseline beside the book's implementation from one run. The tables below are what they
printed, never typed by hand; the first lines of each give the exact command, the date and the
hardware of that run. `make bench` runs every script at its small default size on the machine at
hand and records `NAME.txt`, and the values it measured, with the same provenance, in
`lecturelib/results/benchmarks/NAME.json`, which chapters read. The `-full` tables use each
script's `--full` sizes (the literature's sample sizes, e.g. 10,000 training points for the
metrics) and the `-gpu` tables were run on a GPU; both are recorded with `scripts/bench_page.py record NAME -- COMMAND`, the GPU ones by
`scripts/gpu_checks.sh`.
"""


def hardware() -> str:
    """One line naming the CPU, core count and GPU (if torch sees one) of this machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    except ImportError:  # pragma: no cover - torch is a requirement
        pass
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, Python {platform.python_version()}"


def _command(script: Path | str) -> str:
    if isinstance(script, Path):
        return f"python {script.relative_to(ROOT) if script.is_absolute() else script}"
    return script


def record(script: Path | str, output: str, when: dt.datetime | None = None, machine: str | None = None) -> str:
    """The stored form of one benchmark's printed table: a header, then the output as printed.

    ``script`` is a benchmark script (its command is ``python SCRIPT``) or a whole command line.
    """
    when = when or dt.datetime.now(dt.timezone.utc)
    header = (f"# {_command(script)}\n"
              f"# date: {when:%Y-%m-%d %H:%M} UTC\n# hardware: {machine or hardware()}\n")
    return header + output.rstrip() + "\n"


def stored_values(name: str, script: Path | str, values: dict, when: dt.datetime | None = None,
           machine: str | None = None) -> dict:
    """The stored form of one benchmark's measured values: name, provenance (as in its table's header), values."""
    when = when or dt.datetime.now(dt.timezone.utc)
    provenance = {"command": _command(script), "date": f"{when:%Y-%m-%d %H:%M} UTC",
                  "hardware": machine or hardware(), "table": f"book/benchmarks/{name}.txt"}
    return {"name": name, "provenance": provenance, "values": values}


def measure(name: str, command: list[str], shown: Path | str) -> tuple[subprocess.CompletedProcess, bool]:
    """Run one benchmark; on success store its table and its values (one run, one provenance).

    Returns the finished process and whether both were stored: a script that exits 0 without
    handing over its values (:func:`lecturelib.benchmarks.save_values`) stores neither.
    """
    with tempfile.TemporaryDirectory() as folder:
        values_file = Path(folder) / "values.json"
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, VALUES_ENV: str(values_file)})
        if done.returncode != 0:
            return done, False
        if not values_file.is_file():
            print(f"!! {shown} saved no values (lecturelib.benchmarks.save_values); nothing is recorded",
                  file=sys.stderr)
            return done, False
        values = json.loads(values_file.read_text())
    when, machine = dt.datetime.now(dt.timezone.utc), hardware()
    TABLES.mkdir(parents=True, exist_ok=True)
    VALUES.mkdir(parents=True, exist_ok=True)
    (TABLES / f"{name}.txt").write_text(record(shown, done.stdout, when, machine))
    (VALUES / f"{name}.json").write_text(json.dumps(stored_values(name, shown, values, when, machine), indent=1) + "\n")
    return done, True


def page(tables: list[Path]) -> str:
    """The appendix: the intro and one section per stored table (sorted by name)."""
    parts = [INTRO]
    if not tables:
        parts.append("\nNo benchmark has been recorded yet: `make bench` records every script in "
                     "`benchmarks/`.\n")
    for table in sorted(tables):
        parts.append(f"\n## `{table.stem}`\n\n```{{literalinclude}} benchmarks/{table.name}\n"
                     f":language: text\n```\n")
    return "".join(parts)


def write_page() -> Path:
    PAGE.write_text(page(sorted(TABLES.glob("*.txt"))))
    return PAGE


def run() -> int:
    """Run every benchmark, store its table and values, rewrite the page; the exit status counts failures."""
    failures = 0
    for script in sorted(BENCHMARKS.glob("*.py")):
        if script.name.startswith("_"):
            continue
        print(f"== {script.relative_to(ROOT)}", flush=True)
        done, stored = measure(script.stem, [sys.executable, str(script)], script)
        print(done.stdout, end="")
        if not stored:
            print(done.stderr, file=sys.stderr)
            print(f"!! {script.name} failed (exit {done.returncode}); its old table is kept", file=sys.stderr)
            failures += 1
    print(f"wrote {write_page().relative_to(ROOT)}")
    return failures


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command == "run":
        return 1 if run() else 0
    if command == "page":
        print(f"wrote {write_page().relative_to(ROOT)}")
        return 0
    if command == "record":
        if len(argv) < 4 or argv[2] != "--":
            raise SystemExit("usage: bench_page.py record NAME -- COMMAND...")
        name, cmd = argv[1], argv[3:]
        shown = " ".join(["python" if c == sys.executable else c for c in cmd])
        done, stored = measure(name, cmd, shown)
        print(done.stdout, end="")
        if not stored:
            print(done.stderr, file=sys.stderr)
            return done.returncode or 1
        print(f"wrote {TABLES / name}.txt, {VALUES / name}.json and {write_page()}")
        return 0
    if command == "check":
        stale = not PAGE.is_file() or PAGE.read_text() != page(sorted(TABLES.glob("*.txt")))
        if stale:
            print(f"{PAGE.relative_to(ROOT)} is stale: run `python scripts/bench_page.py page`")
        return int(stale)
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
