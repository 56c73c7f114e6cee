"""scripts/execute_book.py, the step of `make book` that executes the chapters before Sphinx.

The failure mode it exists for: a kernel that goes silent while the client waits for a cell's
reply (seen as an hour-long stall of `make book` on busy cores). Here a cell stops its own kernel
(SIGSTOP), which looks the same from the client: no reply, no message, no CPU.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_cache import get_cache
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from execute_book import (BUDGETS_FILE, chapter_budgets, execute_book, kernel_env,  # noqa: E402
                          record_times, toc_notebooks)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")

STOP_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)  # the kernel goes silent"


def notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# A chapter"), *(new_code_cell(s) for s in sources)])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def run(paths: list[Path], cache: Path, **kwargs):
    options = dict(jobs=2, cell_timeout=120, idle_timeout=4, retries=0, poll=1.0, progress_every=5.0)
    options.update(kwargs)
    return asyncio.run(execute_book(paths, cache, **options))


def test_a_silent_kernel_fails_the_chapter_fast_naming_the_notebook_and_the_cell(tmp_path):
    path = notebook(tmp_path / "03_stalls.ipynb", "x = 1", STOP_KERNEL, "print('never')")
    start = time.monotonic()
    failures = run([path], tmp_path / ".jupyter_cache", retries=1)
    assert time.monotonic() - start < 90  # not the hour of execute.timeout
    assert len(failures) == 1
    message = str(failures[0])
    assert message.startswith("03_stalls: cell 2 (`import os, signal`)")  # cell 0 is markdown
    assert "kernel stalled" in message
    assert "had not reported the cell finished; no unread message in the client's sockets" in message
    assert not get_cache(str(tmp_path / ".jupyter_cache")).list_cache_records()


def test_a_kernel_that_stalls_once_is_executed_again_and_the_chapter_succeeds(tmp_path):
    marker = tmp_path / "stalled-once"
    path = notebook(tmp_path / "stalls_once.ipynb",
                    f"import os, pathlib, signal\nmarker = pathlib.Path({str(marker)!r})\n"
                    "if not marker.exists():\n    marker.touch()\n    os.kill(os.getpid(), signal.SIGSTOP)",
                    "print('done')")
    failures = run([path], tmp_path / ".jupyter_cache", retries=1)
    assert failures == []
    record = get_cache(str(tmp_path / ".jupyter_cache")).match_cache_notebook(nbformat.read(path, 4))
    assert record.uri == str(path.resolve())


def test_a_cell_error_fails_the_chapter_naming_the_cell_and_the_error(tmp_path):
    path = notebook(tmp_path / "errors.ipynb", "x = 1", "raise ValueError('no such factor')")
    failures = run([path], tmp_path / ".jupyter_cache", retries=1)
    assert len(failures) == 1
    assert str(failures[0]).startswith("errors: cell 2 (`raise ValueError('no such factor')`)")
    assert "no such factor" in str(failures[0])


def test_only_chapters_whose_code_changed_are_executed_and_myst_nb_finds_them_cached(tmp_path, capsys):
    cache = tmp_path / ".jupyter_cache"
    first = notebook(tmp_path / "first.ipynb", "print('a')")
    second = notebook(tmp_path / "second.ipynb", "for i in range(3):\n    print(i)")
    assert run([first, second], cache) == []
    # myst-nb's `execute_notebooks: cache` looks notebooks up this way (myst_nb/core/execute/cache.py)
    records = {Path(get_cache(str(cache)).match_cache_notebook(nbformat.read(p, 4)).uri).name
               for p in (first, second)}
    assert records == {"first.ipynb", "second.ipynb"}
    executed = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(second, 4))[1]
    assert executed.cells[1].outputs[0]["text"] == "0\n1\n2\n"
    capsys.readouterr()

    assert run([first, second], cache) == []
    assert "nothing to execute" in capsys.readouterr().out

    nb = nbformat.read(second, 4)
    nb.cells[1].source = "print('changed')"
    nbformat.write(nb, second)
    assert run([first, second], cache) == []
    out = capsys.readouterr().out
    assert "first: unchanged" in out
    assert "executing 1 chapter(s)" in out and "second: done in" in out


def test_the_book_executes_the_notebooks_of_the_table_of_contents_in_reading_order():
    chapters = toc_notebooks(ROOT)
    assert [p.name for p in chapters] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_parallel_kernels_share_the_cores_unless_the_caller_chose_threads(monkeypatch):
    monkeypatch.delenv("LECTURELIB_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert kernel_env(2)["LECTURELIB_THREADS"] == "2"
    assert kernel_env(8)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("LECTURELIB_THREADS", "3")
    assert kernel_env(2) is None  # the kernels inherit the caller's environment


def test_output_widgets_send_their_state_to_the_kernel_only_between_cells(tmp_path, monkeypatch):
    # nbclient's OutputWidget sends on the shell socket while the client polls it for the cell's
    # reply, which on busy cores sometimes leaves the reply unread (chapter 3's stall, at interact).
    from nbclient.output_widget import OutputWidget

    sent_while_waiting = []
    original = OutputWidget.sync_state

    def recording_sync_state(self):
        sent_while_waiting.append(self.executor.watch.running)
        original(self)

    monkeypatch.setattr(OutputWidget, "sync_state", recording_sync_state)
    path = notebook(tmp_path / "widgets.ipynb",
                    "from ipywidgets import IntSlider, interact\n\n"
                    "@interact(x=IntSlider(value=3, min=0, max=9))\ndef show(x):\n    print('x is', x)",
                    "print('next cell')")
    assert run([path], tmp_path / ".jupyter_cache") == []
    assert sent_while_waiting and not any(sent_while_waiting)
    nb = get_cache(str(tmp_path / ".jupyter_cache")).merge_match_into_notebook(nbformat.read(path, 4))[1]
    states = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"].values()
    outputs = [o for s in states if s["model_name"] == "OutputModel" for o in s["state"]["outputs"]]
    assert any("x is 3" in o.get("text", "") for o in outputs)  # the saved page still shows the output


def test_a_cell_past_its_chapters_budget_fails_fast_naming_the_chapter_the_cell_and_the_budget(tmp_path):
    path = notebook(tmp_path / "08_slow.ipynb", "x = 1", "import time\ntime.sleep(600)", "print('never')")
    budgets = chapter_budgets({"default": {"08_slow": {"seconds": 1}}}, "default", ["08_slow"],
                              fallback=3600, factor=2, minimum=5)
    start = time.monotonic()
    # a sleeping kernel is not stalled within the idle timeout here: only the budget can stop it
    failures = run([path], tmp_path / ".jupyter_cache", budgets=budgets, idle_timeout=600)
    assert time.monotonic() - start < 90
    assert len(failures) == 1
    message = str(failures[0])
    assert message.startswith("08_slow: cell 2 (`import time`): the cell ran past its budget of 5 s")
    assert "the chapter's time at the default scale" in message and "BOOK_CELL_TIMEOUT" in message


def test_budgets_are_sized_from_each_chapters_measured_time_at_the_scale():
    table = {"default": {"08_x": {"seconds": 200}, "02_y": {"seconds": 10}}, "tiny": {"08_x": {"seconds": 40}}}
    names = ["08_x", "02_y", "05_z"]
    default = chapter_budgets(table, "default", names, fallback=3600, factor=3, minimum=300)
    assert default["08_x"].seconds == 600 and "3 x 200 s" in default["08_x"].reason
    assert default["02_y"].seconds == 300 and "at least 300 s" in default["02_y"].reason
    assert default["05_z"].seconds == 3600 and "no measured time of 05_z" in default["05_z"].reason
    assert chapter_budgets(table, "tiny", names, fallback=None)["08_x"].seconds == 300
    assert chapter_budgets(table, "paper", names, fallback=None)["08_x"].seconds is None


def test_recorded_times_keep_the_other_measurements_and_set_the_next_budgets(tmp_path):
    path = tmp_path / "chapter_times.yml"
    path.write_text(yaml.safe_dump({"default": {"01_a": {"seconds": 50, "note": "by hand"}}}))
    record_times(path, "default", {"02_b": 123.4})
    record_times(path, "tiny", {"01_a": 12.0})
    table = yaml.safe_load(path.read_text())
    assert table["default"]["01_a"] == {"seconds": 50, "note": "by hand"}
    assert table["default"]["02_b"]["seconds"] == 123 and table["default"]["02_b"]["hardware"]
    assert table["tiny"]["01_a"]["seconds"] == 12
    assert path.read_text().startswith("# Measured time of each chapter")
    assert chapter_budgets(table, "default", ["02_b"], fallback=None, factor=3, minimum=1)["02_b"].seconds == 369


def test_the_table_of_chapter_times_names_chapters_of_the_book_at_known_scales():
    from lecturelib.config import SCALES

    table = yaml.safe_load(BUDGETS_FILE.read_text())
    chapters = {p.stem for p in toc_notebooks(ROOT)}
    for scale, measured in table.items():
        assert scale in SCALES, scale
        assert set(measured) <= chapters, sorted(set(measured) - chapters)
        assert all(entry["seconds"] > 0 and entry["date"] and entry["hardware"] for entry in measured.values())
