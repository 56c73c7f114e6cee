import json
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from lecturelib import artifacts
from lecturelib.store import file_mode


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LECTURELIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LECTURELIB_ARTIFACT_DIR", raising=False)
    monkeypatch.delenv("LECTURELIB_RECOMPUTE", raising=False)
    monkeypatch.setattr(artifacts, "SHIPPED_DIR", tmp_path / "shipped")
    return tmp_path


def test_computes_once_then_loads(store, capsys):
    calls = []

    def compute():
        calls.append(1)
        return {"weights": torch.arange(3.0), "curve": np.linspace(0, 1, 4), "score": 0.5}

    value, prov = artifacts.train_or_load("demo", compute, {"seed": 0, "steps": 10}, scale="tiny")
    assert "Computed 'demo' at scale tiny" in capsys.readouterr().out
    again, prov2 = artifacts.train_or_load("demo", compute, {"seed": 0, "steps": 10}, scale="tiny")
    assert "Loaded 'demo' at scale tiny" in capsys.readouterr().out
    assert calls == [1]
    assert torch.equal(again["weights"], value["weights"])
    np.testing.assert_array_equal(again["curve"], value["curve"])
    assert prov2 == prov
    assert prov.params == {"seed": 0, "steps": 10}
    assert {"python", "torch", "numpy", "scikit-learn", "lecturelib"} <= set(prov.versions)
    assert prov.hardware and prov.date and prov.seconds >= 0


def test_other_params_or_scale_compute_again(store):
    calls = []

    def compute():
        calls.append(1)
        return 1

    artifacts.train_or_load("demo", compute, {"seed": 0}, scale="tiny")
    artifacts.train_or_load("demo", compute, {"seed": 1}, scale="tiny")
    artifacts.train_or_load("demo", compute, {"seed": 0}, scale="default")
    assert len(calls) == 3


def test_recompute_env_forces_compute(store, monkeypatch):
    calls = []
    artifacts.train_or_load("demo", lambda: calls.append(1), {}, scale="tiny")
    monkeypatch.setenv("LECTURELIB_RECOMPUTE", "1")
    artifacts.train_or_load("demo", lambda: calls.append(1), {}, scale="tiny")
    assert len(calls) == 2


def test_shipped_results_are_found_first(store, monkeypatch):
    monkeypatch.setenv("LECTURELIB_ARTIFACT_DIR", str(artifacts.SHIPPED_DIR))
    artifacts.train_or_load("demo", lambda: "shipped", {}, scale="tiny")
    monkeypatch.delenv("LECTURELIB_ARTIFACT_DIR")
    value, _ = artifacts.train_or_load("demo", lambda: "fresh", {}, scale="tiny")
    assert value == "shipped"
    listed = artifacts.stored()
    assert [p.name for _, p in listed] == ["demo"]


def test_decorator_keeps_provenance(store):
    @artifacts.artifact("square")
    def square(*, x: int) -> int:
        return x * x

    assert square(x=3) == 9
    assert square.last_provenance.params == {"x": 3}
    path = artifacts.find("square", {"x": 3})
    assert path is not None and json.loads(path.with_suffix(".json").read_text())["name"] == "square"


def test_bad_scale(store):
    with pytest.raises(ValueError, match="expected one of: tiny, default, paper"):
        artifacts.train_or_load("demo", lambda: 1, {}, scale="huge")


def test_no_partial_files_left(store):
    artifacts.train_or_load("demo", lambda: torch.zeros(10), {}, scale="tiny")
    leftovers = list((store / "cache").glob("*.tmp"))
    assert leftovers == []


def test_values_load_without_running_code_from_the_file(store):
    value = {"weights": torch.ones(2), "curve": np.arange(3.0), "best": np.float64(0.5), "name": "x", "pair": (1, 2)}
    artifacts.train_or_load("data", lambda: value, {}, scale="tiny")
    loaded, _ = artifacts.load(artifacts.find("data", {}, "tiny"))
    assert loaded["best"] == 0.5 and loaded["pair"] == (1, 2) and loaded["curve"].dtype == np.float64


class _Payload:
    """Stands in for a pickle that would run code when loaded."""


def test_a_stored_file_holding_more_than_data_is_refused_and_named(store):
    artifacts.train_or_load("code", lambda: {"obj": _Payload()}, {}, scale="tiny")
    path = artifacts.find("code", {}, "tiny")
    with pytest.raises(ValueError, match=f"{path.name} holds more than data"):
        artifacts.load(path)


def test_shipped_results_load_with_weights_only():
    shipped = sorted(artifacts.SHIPPED_DIR.glob("*.pt"))
    assert shipped
    for path in shipped:
        value, provenance = artifacts.load(path)
        assert isinstance(value, dict) and provenance.key == path.stem  # models and chapter 8's score tables


def test_stored_files_are_readable_by_the_group(store):
    previous = os.umask(0o022)
    file_mode.cache_clear()
    try:
        artifacts.train_or_load("demo", lambda: torch.zeros(2), {}, scale="tiny")
    finally:
        os.umask(previous)
        file_mode.cache_clear()
    for path in (store / "cache").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_a_result_stored_by_another_run_meanwhile_is_kept_with_its_own_provenance(store, monkeypatch, capsys):
    monkeypatch.setattr(artifacts, "find", lambda *args, **kwargs: None)  # both runs start before either stores
    first, first_provenance = artifacts.train_or_load("race", lambda: torch.ones(2), {}, scale="tiny")
    artifacts.train_or_load("race", lambda: torch.zeros(2), {}, scale="tiny")
    assert "another run had stored it first" in capsys.readouterr().out
    path = store / "cache" / f"{first_provenance.key}.pt"
    value, provenance = artifacts.load(path)
    assert torch.equal(value, first) and provenance == first_provenance
    assert sorted(p.name for p in (store / "cache").iterdir()) == sorted([path.name, path.with_suffix(".json").name])


TWO_PROCESSES = """
import os, sys, time
from pathlib import Path
import torch
from lecturelib import artifacts

folder = Path(sys.argv[1])

def compute():
    with open(folder / "computed", "a") as log:
        log.write(f"{os.getpid()}\\n")
    while not (folder / "go").exists():  # the test lets this finish once the other process waits
        time.sleep(0.05)
    return torch.tensor([os.getpid()])

value, provenance = artifacts.train_or_load("shared", compute, {"seed": 0}, scale="tiny")
print("value", int(value[0]), provenance.date, flush=True)
"""


def _wait_for(condition, what, seconds=300.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_two_processes_asking_for_one_result_compute_it_once(tmp_path):
    """The second process waits on the first one's claim and loads its result, value and provenance."""
    env = {**os.environ, "LECTURELIB_CACHE": str(tmp_path / "cache")}
    env.pop("LECTURELIB_ARTIFACT_DIR", None)
    env.pop("LECTURELIB_RECOMPUTE", None)
    command = [sys.executable, "-c", TWO_PROCESSES, str(tmp_path)]
    outputs = [tmp_path / "first.out", tmp_path / "second.out"]
    first = subprocess.Popen(command, env=env, stdout=outputs[0].open("w"), stderr=subprocess.STDOUT)
    processes = [first]
    try:
        _wait_for(lambda: (tmp_path / "computed").exists(), "the first process to compute")
        assert list((tmp_path / "cache").glob("*.claim")), "the computing process holds no claim"
        second = subprocess.Popen(command, env=env, stdout=outputs[1].open("w"), stderr=subprocess.STDOUT)
        processes.append(second)
        _wait_for(lambda: "waiting for its result" in outputs[1].read_text() or second.poll() is not None,
                  "the second process to wait")
        (tmp_path / "go").touch()
        for process in processes:
            assert process.wait(timeout=300) == 0, [o.read_text() for o in outputs]
    finally:
        for process in processes:
            process.kill()
    texts = [o.read_text() for o in outputs]
    assert f"pid {first.pid} on" in texts[1] and "Loaded 'shared'" in texts[1], texts[1]
    assert (tmp_path / "computed").read_text().split() == [str(first.pid)]  # computed once, by the first
    values = [next(line for line in text.splitlines() if line.startswith("value")) for text in texts]
    assert values[0] == values[1] and values[0].split()[1] == str(first.pid)  # same value, same provenance
    (stored,) = (tmp_path / "cache").glob("shared-*.pt")
    value, provenance = artifacts.load(stored)
    assert int(value[0]) == first.pid and provenance.date == values[0].split()[2]
    assert not list((tmp_path / "cache").glob("*.claim"))  # released
