"""Tests for lecturelib.recipe_search: candidates, their table rows, and the resumable command."""

import json

import numpy as np
import pytest
import torch

from lecturelib import recipe_search as rs
from lecturelib.models import dsprites_vae

torch.set_num_threads(1)

NAMES = ("shape", "scale", "orientation", "posX", "posY")


def fake_result(top, ratio):
    n = 3
    return {"images_per_second": 1000.0, "threads": 1,
            "checks": {"images": [100, 200, 300], "seconds": [1.0, 2.0, 60.0], "mig": [0.0, 0.1, 0.25],
                       "top": [top] * n, "ratio": [ratio] * n, "n_active": [2, 4, 4],
                       "reconstruction": [300.0, 100.0, 40.0], "kl": [1.0, 10.0, 20.0]}}


def test_candidates_are_complete_train_beta_vae_parameters():
    import inspect

    from lecturelib.disentanglement import train_beta_vae

    accepted = set(inspect.signature(train_beta_vae.__wrapped__).parameters)
    for name in rs.CANDIDATES:
        params = rs.candidate_params(name)
        assert set(params) <= accepted and params["num_checks"] > 0
        dsprites_vae(params["architecture"])  # a known architecture
    with pytest.raises(ValueError, match="candidate"):
        rs.candidate_params("nope")


def test_summarize_reads_the_last_check_and_tells_a_split():
    row = rs.summarize(fake_result([0, 1, 2, 3, 4], [1.0, 3.0, 1.0, 2.5, 2.0]), NAMES)
    assert row["minutes"] == 1.0 and row["mig"] == 0.25 and row["n_active"] == 4
    assert row["top"] == {"posX": 3, "posY": 4, "scale": 1} and row["separated"]
    assert row["curve"]["images"] == [100, 200, 300]
    assert not rs.summarize(fake_result([0, 1, 2, 3, 4], [1.0, 3.0, 1.0, 2.5, 1.9]), NAMES)["separated"]
    assert not rs.summarize(fake_result([0, 3, 2, 3, 4], [1.0, 3.0, 1.0, 2.5, 2.0]), NAMES)["separated"]
    text = rs.format_table({"a": row})
    assert "a " in text and "yes" in text and "0.250" in text
    frame = rs.table_frame({"a": {**row, "params": {"objective": "beta_vae", "beta": 4.0, "batch_size": 64, "lr": 1e-3}}})
    assert frame.loc["a", "MIG"] == 0.25 and frame.loc["a", "posY ratio"] == 2.0 and frame.loc["a", "warm-up steps"] == 0
    assert frame["MIG"].dtype == float and bool(frame.loc["a", "split"])


def test_run_then_table_resumes_from_stored_results(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rs, "CANDIDATES", {"tiny-mlp": {"architecture": "mlp", "objective": "beta_vae", "beta": 4.0,
                                                        "num_steps": 6, "batch_size": 8, "lr": 1e-3}})
    monkeypatch.setattr(rs, "_CHECKS", {**rs._CHECKS, "num_checks": 2, "check_size": 50})
    for name in ("LECTURELIB_ARTIFACT_DIR", "LECTURELIB_SCALE", "LECTURELIB_COMMAND"):
        monkeypatch.setenv(name, "")  # restored after the test
    rs.main(["run", "--out", str(tmp_path), "--threads", "1"])
    assert "tiny-mlp: " in capsys.readouterr().out
    stored = sorted(tmp_path.glob("*.pt"))
    assert len(stored) == 1
    mtime = stored[0].stat().st_mtime_ns
    rs.main(["run", "--out", str(tmp_path), "--threads", "1"])  # stored: loaded, not retrained
    assert stored[0].stat().st_mtime_ns == mtime
    rs.main(["table", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "table.json").read_text())
    assert list(rows) == ["tiny-mlp"] and rows["tiny-mlp"]["images"] == 48
    assert np.isfinite(rows["tiny-mlp"]["mig"]) and "tiny-mlp" in capsys.readouterr().out


def test_command_line_errors(tmp_path):
    with pytest.raises(SystemExit):
        rs.main(["table", "--out", str(tmp_path / "missing")])
    with pytest.raises(SystemExit):
        rs.main(["run", "--out", str(tmp_path), "--threads", "0"])
    with pytest.raises(SystemExit):
        rs.main(["run", "--out", str(tmp_path), "--names", "nope"])
