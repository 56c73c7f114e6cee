"""The study's grid, record store, runner (local processes and a real Dask LocalCluster), report and CLI,
and the stacked (vmapped) trainer."""

import json
import math
import re
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lecturelib.models import regularizers as R
from lecturelib.study import Job, RecordStore, aggregate, format_table, load_records, make_grid, run_study, study_grid
from lecturelib.study.__main__ import main as cli
from lecturelib.study.batched import single_loss, train_stacked
from lecturelib.study.agreement import rank_agreement
from lecturelib.study.cost import timing_summary
from lecturelib.study.grid import format_hparams
from lecturelib.study.report import group_mean, to_structured
from lecturelib.study.runner import run_task
from lecturelib.training import train

HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- cheap job functions
sys.path.insert(0, str(HERE))  # worker processes import the job functions from tests/study_jobs.py
from study_jobs import cheap_job, counting_job, failing_job  # noqa: E402


def _grid(betas=(1.0, 2.0, 4.0), seeds=(0, 1)):
    return make_grid(["toy"], {"beta_vae": [{"beta": b} for b in betas]}, seeds, {"num_steps": 1})


def _comparable(record):
    return {k: record[k] for k in ("job_id", "status", "config", "scores", "curves")}


# ----------------------------------------------------------------------------- grid
def test_study_grid_ids_are_stable_readable_and_unique():
    jobs = study_grid("tiny")
    ids = [j.job_id for j in jobs]
    assert len(ids) == len(set(ids)) == 6 * 2  # six methods x two values x one seed x one data set
    assert "dsprites-beta_vae-beta=1-seed0" in ids
    assert "dsprites-annealed_vae-c_max=5-seed0" in ids  # only the swept hyperparameter is named
    assert "dsprites-dip_vae_i-lambda_d=10,lambda_od=1-seed0" in ids
    assert [j.job_id for j in study_grid("tiny")] == ids  # stable
    annealed = next(j for j in jobs if j.model == "annealed_vae")
    assert annealed.hparams["iteration_threshold"] == jobs[0].settings["num_steps"] // 3
    assert Job.from_dict(jobs[0].to_dict()).to_dict() == jobs[0].to_dict()
    paper = study_grid("paper")
    assert len(paper) == 3 * 6 * 6 * 50
    assert {j.settings["num_steps"] for j in paper} == {300_000}
    with pytest.raises(ValueError, match="duplicate job ids"):
        make_grid(["toy"], {"m": [{"a": 1}, {"a": 1}]}, [0])
    with pytest.raises(ValueError, match="methods"):
        study_grid("tiny", methods=["vae"])


def test_annealed_threshold_sets_the_capacity_ramp_of_annealed_vae_only():
    slow = study_grid("default", methods=("annealed_vae", "beta_vae"), seeds=(0,), annealed_threshold=100_000)
    assert {j.hparams["iteration_threshold"] for j in slow if j.model == "annealed_vae"} == {100_000}
    assert all("iteration_threshold" not in j.hparams for j in slow if j.model == "beta_vae")
    assert [j.job_id for j in slow] == [j.job_id for j in study_grid("default", methods=("annealed_vae", "beta_vae"),
                                                                     seeds=(0,))]  # the config says which ramp
    assert {j.hparams["iteration_threshold"] for j in study_grid("paper", methods=("annealed_vae",), seeds=(0,),
                                                                 annealed_threshold=7)} == {7}
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="annealed_threshold must be an int >= 1"):
            study_grid("tiny", annealed_threshold=bad)
    with pytest.raises(ValueError, match="annealed_threshold"):  # even where no AnnealedVAE job uses it
        study_grid("tiny", methods=("beta_vae",), annealed_threshold=-1)


# ----------------------------------------------------------------------------- store
def test_store_writes_once_first_finisher_wins(tmp_path):
    store = RecordStore(tmp_path)
    first = {"status": "ok", "config": {}, "scores": {"a": 1.0}}
    assert store.write("job", first)
    assert not store.write("job", {**first, "scores": {"a": 2.0}})  # a racing duplicate is dropped
    assert store.get("job")["scores"] == {"a": 1.0}
    # many threads racing on one job: exactly one wins, the record is whole, no temporaries remain
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(
        store.write("raced", {"status": "ok", "scores": {"i": i}, "payload": "x" * 100_000}))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 1
    assert len(json.loads(store.path("raced").read_text())["payload"]) == 100_000
    assert list(store.folder.glob(".*.tmp")) == []
    # an error is replaced by a later error, and removed by a success; never replaces a success
    assert store.write("e", {"status": "error", "error": "one"})
    assert store.write("e", {"status": "error", "error": "two"})
    assert store.get("e")["error"] == "two"
    assert store.write("e", {"status": "ok", "scores": {}})
    assert not store.error_path("e").exists()
    assert not store.write("e", {"status": "error", "error": "late"})
    assert [r["status"] for r in store.records()] == ["ok", "ok", "ok"]
    with pytest.raises(ValueError, match="status"):
        store.write("x", {"status": "running"})


def test_run_task_race_drops_the_second_record(tmp_path):
    job = _grid()[0]
    assert run_task([job.to_dict()], cheap_job, str(tmp_path)) == [(job.job_id, "ok")]
    assert run_task([job.to_dict()], cheap_job, str(tmp_path)) == [(job.job_id, "dropped")]
    assert len(list((tmp_path / "records").glob("*.json"))) == 1


# ----------------------------------------------------------------------------- runner
def test_local_and_dask_local_cluster_give_the_same_records(tmp_path):
    jobs = _grid()
    serial = run_study(jobs, cheap_job, tmp_path / "serial", workers=1)
    assert len(serial.done) == 6 and not serial.failed
    pool = run_study(jobs, cheap_job, tmp_path / "pool", workers=2)
    assert sorted(pool.done) == sorted(serial.done)
    pytest.importorskip("dask.distributed")
    dask = run_study(jobs, cheap_job, tmp_path / "dask", workers=2, backend="dask")  # real worker processes
    assert sorted(dask.done) == sorted(serial.done)
    reference = [_comparable(r) for r in load_records(tmp_path / "serial")]
    for name in ("pool", "dask"):
        records = load_records(tmp_path / name)
        assert [_comparable(r) for r in records] == reference
        assert len({r["pid"] for r in records}) >= 1 and all(r["pid"] != os.getpid() for r in records)
    record = load_records(tmp_path / "dask")[0]
    for key in ("versions", "hardware", "timings", "started", "finished", "host"):
        assert record[key]
    assert record["versions"]["torch"] == torch.__version__


def test_failing_job_is_recorded_and_does_not_stop_the_sweep(tmp_path):
    jobs = _grid()
    summary = run_study(jobs, failing_job, tmp_path, workers=1)
    assert len(summary.failed) == 2 and len(summary.done) == 4
    failed = RecordStore(tmp_path).get("toy-beta_vae-beta=4-seed0")
    assert failed["status"] == "error"
    assert failed["error"] == "RuntimeError: diverged at beta=4.0"
    assert "failing_job" in failed["traceback"]
    # resuming without retry keeps the error; with retry (a fixed job) it is replaced
    again = run_study(jobs, failing_job, tmp_path, workers=1, retry_failed=False)
    assert len(again.skipped) == 6 and not again.done
    fixed = run_study(jobs, cheap_job, tmp_path, workers=1)
    assert len(fixed.done) == 2 and len(fixed.skipped) == 4
    assert all(r["status"] == "ok" for r in load_records(tmp_path))
    with pytest.raises(ValueError, match="another config"):  # same ids, different grid: refuse
        run_study(make_grid(["toy"], {"beta_vae": [{"beta": 1.0}]}, [0], {"num_steps": 2}), cheap_job, tmp_path)


def test_resume_after_a_killed_run_loses_nothing_and_duplicates_nothing(tmp_path):
    log = tmp_path / "executions.log"
    out = tmp_path / "study"
    env = {**os.environ, "STUDY_TEST_LOG": str(log), "STUDY_TEST_SLEEP": "0.3",
           "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    script = ("from study_jobs import counting_job; from lecturelib.study import make_grid, run_study; "
              "jobs = make_grid(['toy'], {'beta_vae': [{'beta': b} for b in (1.0, 2.0, 4.0, 8.0)]}, (0, 1), "
              "{'num_steps': 1}); "
              f"run_study(jobs, counting_job, {str(out)!r}, workers=1)")
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "records").glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # killed midway, as by a scheduler or a power cut
    proc.wait()
    before = {r["job_id"]: r for r in load_records(out)}
    assert 2 <= len(before) < 8
    os.environ["STUDY_TEST_LOG"] = str(log)
    try:
        summary = run_study(_grid(betas=(1.0, 2.0, 4.0, 8.0)), counting_job, out, workers=1)
    finally:
        del os.environ["STUDY_TEST_LOG"]
    after = {r["job_id"]: r for r in load_records(out)}
    assert len(after) == 8 and all(r["status"] == "ok" for r in after.values())
    for job_id, record in before.items():  # finished records kept as they were, not recomputed
        assert after[job_id] == record
        assert job_id in summary.skipped
    executions = log.read_text().split()
    assert all(executions.count(job_id) == 1 for job_id in before)
    assert len(list((out / "records").glob("*.json"))) == 8


# ----------------------------------------------------------------------------- report and CLI
def test_report_aggregates_records(tmp_path):
    run_study(_grid(), failing_job, tmp_path, workers=1)
    rows = aggregate(load_records(tmp_path))
    assert len(rows) == 6
    row = next(r for r in rows if r["job_id"] == "toy-beta_vae-beta=2-seed1")
    expected = cheap_job(_grid()[3])["scores"]
    assert row["score.mean"] == pytest.approx(expected["mean"]) and row["final_loss"] == 2.0
    assert row["status"] == "ok" and row["hparams"] == "beta=2" and row["seed"] == 1
    bad = next(r for r in rows if r["status"] == "error")
    assert math.isnan(bad["score.mean"]) and "diverged" in bad["error"]
    table = to_structured(rows)
    assert table.dtype["seed"] == np.int64 and table.dtype["score.mean"] == np.float64
    assert table["score.std"][table["status"] == "ok"].min() > 0
    means = group_mean(rows)
    assert len(means) == 2 and all(m["n"] == 2 for m in means)  # beta=4 failed for both seeds
    beta1 = next(m for m in means if m["hparams"] == "beta=1")
    ok1 = [r["score.mean"] for r in rows if r["hparams"] == "beta=1"]
    assert beta1["score.mean"] == pytest.approx(np.mean(ok1)) and beta1["score.mean.std"] == pytest.approx(np.std(ok1))
    text = format_table(rows, ["job_id", "status", "score.mean"])
    lines = text.splitlines()
    assert lines[0].split() == ["job_id", "status", "mean"] and len(lines) == 2 + 6
    assert f"{row['score.mean']:.3g}" in text


def test_cli_run_and_report(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    out = tmp_path / "cli"
    code = cli(["run", "--scale", "tiny", "--workers", "1", "--out", str(out), "--methods", "beta_vae", "beta_tcvae",
                "--job", "study_jobs:cheap_job"])
    assert code == 0
    assert "4 done, 0 failed" in capsys.readouterr().out
    assert cli(["run", "--scale", "tiny", "--workers", "1", "--out", str(out), "--methods", "beta_vae", "beta_tcvae",
                "--job", "study_jobs:cheap_job"]) == 0
    assert "0 done, 0 failed, 4 already finished" in capsys.readouterr().out
    csv = tmp_path / "table.csv"
    assert cli(["report", "--scale", "tiny", "--out", str(out), "--csv", str(csv)]) == 0
    printed = capsys.readouterr().out
    assert "4 records" in printed and "dsprites-beta_tcvae-beta=10-seed0" in printed
    assert len(csv.read_text().splitlines()) == 5
    with pytest.raises(SystemExit):  # a one-line error (tests/test_study_runner.py checks the message)
        cli(["run", "--scale", "tiny", "--out", str(out), "--job", "nocolon"])


# ----------------------------------------------------------------------------- stacked trainer
class TinyVAE(nn.Module):
    def __init__(self, n_features=12, n_latents=3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_features, 16), nn.ReLU(), nn.Linear(16, 2 * n_latents))
        self.decoder = nn.Sequential(nn.Linear(n_latents, 16), nn.ReLU(), nn.Linear(16, n_features))

    def encode(self, x):
        return self.encoder(x).chunk(2, dim=-1)


def tiny_vae_loss(model, batch, hparams, step):
    """Bernoulli VAE loss + β-TCVAE, AnnealedVAE and DIP-VAE-II terms, noise from the batch."""
    x, eps = batch
    mu, log_var = model.encode(x)
    z = mu + (0.5 * log_var).exp() * eps
    rec = nn.functional.binary_cross_entropy_with_logits(model.decoder(z), x, reduction="none").sum(1).mean()
    reg = (R.beta_tcvae(mu, log_var, z, beta=hparams["beta"])
           + R.annealed_vae(mu, log_var, z, gamma=hparams["gamma"], c_max=5.0, iteration_threshold=10, step=step)
           + R.dip_vae_ii(mu, log_var, z, lambda_od=hparams["beta"], lambda_d=1.0))
    return {"loss": rec + reg, "reconstruction": rec}


def tiny_data(batch_size, generator):
    return ((torch.rand(batch_size, 12, generator=generator) > 0.5).float(), torch.randn(batch_size, 3, generator=generator))


@pytest.mark.parametrize("vectorize", [True, False])  # vmap (the CUDA default) and the loop (CPU default)
def test_stacked_models_match_models_trained_alone(vectorize):
    seeds, hparams = [0, 1, 2], [{"beta": 1.0, "gamma": 0.5}, {"beta": 4.0, "gamma": 1.0}, {"beta": 8.0, "gamma": 2.0}]

    def models():
        out = []
        for s in seeds:
            torch.manual_seed(100 + s)
            out.append(TinyVAE())
        return out

    stacked = models()
    histories = train_stacked(stacked, tiny_vae_loss, tiny_data, hparams=hparams, seeds=seeds, num_steps=25,
                              batch_size=16, lr=1e-2, num_logs=5, device="cpu", vectorize=vectorize)
    alone = models()
    for model, hp, seed, history in zip(alone, hparams, seeds, histories):
        solo = train(model, single_loss(tiny_vae_loss, hp), tiny_data, num_steps=25, batch_size=16, lr=1e-2,
                     seed=seed, num_logs=5, device="cpu")
        assert history.steps == solo.steps
        assert np.allclose(history.train["loss"], solo.train["loss"], rtol=1e-4)
    for a, b in zip(stacked, alone):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.allclose(p, q, atol=1e-5), name
    before = models()[0]
    assert not torch.allclose(next(before.parameters()), next(stacked[0].parameters()))  # it did train
    with pytest.raises(ValueError, match="one architecture"):
        train_stacked([TinyVAE(), TinyVAE(n_latents=2)], tiny_vae_loss, tiny_data, hparams=hparams[:2],
                      seeds=seeds[:2], num_steps=1)
    with pytest.raises(ValueError, match="one entry per model"):
        train_stacked(models(), tiny_vae_loss, tiny_data, hparams=hparams[:2], seeds=seeds, num_steps=1)
    with pytest.raises(ValueError, match="scalar tensor under 'loss'"):
        train_stacked(models(), lambda *a: {"objective": tiny_vae_loss(*a)["loss"]}, tiny_data, hparams=hparams,
                      seeds=seeds, num_steps=1, device="cpu", vectorize=vectorize)


# ----------------------------------------------------------------------------- the study's job function
def test_job_trains_every_method_alone_or_stacked_with_the_same_curves(monkeypatch):
    from lecturelib.study import jobs as J

    # the metrics are tested in tests/test_metrics.py; here only the training wiring is checked
    monkeypatch.setattr(J, "_evaluate", lambda job, model, data, device: (
        {"mean_code": float(model.encode(data.render(torch.zeros(4, 5, dtype=torch.long)))[0].mean().detach())},
        {"eval_s": 0.0}))
    grid = study_grid("tiny", num_steps=3, batch_size=4)
    for method in ("beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "dip_vae_i", "dip_vae_ii"):
        job = next(j for j in grid if j.model == method)
        out = J.train_and_evaluate(job, device="cpu")
        assert set(out["curves"]) >= {"steps", "loss", "reconstruction", "kl", "regularizer"}
        assert out["curves"]["steps"][-1] == 3 and all(math.isfinite(v) for v in out["curves"]["loss"])
        if method == "factor_vae":
            assert "discriminator" in out["curves"]
    row = [j for j in grid if j.model == "dip_vae_ii"]
    stacked = J.train_and_evaluate.run_group(row, device="cpu")
    for job, result in zip(row, stacked):
        alone = J.train_and_evaluate(job, device="cpu")
        assert result["timings"]["stacked"] == 2
        assert np.allclose(result["curves"]["loss"], alone["curves"]["loss"], rtol=1e-4)
        assert result["scores"]["mean_code"] == pytest.approx(alone["scores"]["mean_code"], rel=1e-4, abs=1e-6)
    with pytest.raises(ValueError, match="dataset='mnist'"):
        J.make_dataset("mnist")


def test_tasks_cover_every_row_and_setting_before_extra_seeds():
    from lecturelib.study.runner import _tasks

    grid = make_grid(["toy"], {"a": [{"beta": 1}, {"beta": 2}], "b": [{"beta": 1}, {"beta": 2}]}, (0, 1), {})
    order = [task[0].job_id for task in _tasks(grid, cheap_job, 1)]
    assert order == ["toy-a-beta=1-seed0", "toy-b-beta=1-seed0", "toy-a-beta=2-seed0", "toy-b-beta=2-seed0",
                     "toy-a-beta=1-seed1", "toy-b-beta=1-seed1", "toy-a-beta=2-seed1", "toy-b-beta=2-seed1"]
    assert sorted(order) == sorted(j.job_id for j in grid)  # every job exactly once


def test_store_saves_and_loads_artifacts_atomically(tmp_path):
    store = RecordStore(tmp_path)
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    paths = store.write_artifacts("toy-a-seed0", {"encoder": state})
    assert list(paths) == ["encoder"]  # named for this attempt, so that a record names its own job's file
    assert re.fullmatch(r"artifacts/toy-a-seed0\.encoder\.[0-9a-f]{8}\.pt", paths["encoder"])
    assert not list((tmp_path / "artifacts").glob(".*.tmp"))
    loaded = store.load_artifact({"job_id": "toy-a-seed0", "artifacts": paths}, "encoder")
    assert torch.equal(loaded["w"], state["w"])
    with pytest.raises(KeyError, match="no artifact 'decoder'"):
        store.load_artifact({"job_id": "toy-a-seed0", "artifacts": paths}, "decoder")
    with pytest.raises(ValueError, match="artifact name"):
        store.artifact_path("toy-a-seed0", "../escape")


def test_study_keeps_the_encoders_of_chosen_seeds_and_they_reproduce_the_codes(tmp_path, monkeypatch):
    from lecturelib.study import jobs as J

    images = J.make_dataset("dsprites").render(torch.tensor([[0, 1, 2, 3, 4], [2, 5, 39, 31, 0]]))
    monkeypatch.setattr(J, "_evaluate", lambda job, model, data, device: (
        {"code_sum": float(model.encode(images)[0].detach().double().sum())}, {"eval_s": 0.0}))
    grid = study_grid("tiny", methods=("beta_vae",), seeds=(0, 1), num_steps=3, batch_size=4)
    summary = run_study(grid, J.train_and_evaluate, tmp_path, workers=1)
    assert len(summary.done) == len(grid)
    for record in load_records(tmp_path):
        if record["config"]["seed"] in J.ENCODER_SEEDS:
            assert (tmp_path / record["artifacts"]["encoder"]).is_file()
            with torch.no_grad():
                codes = J.load_encoder(tmp_path, record)(images)[0]
            assert float(codes.double().sum()) == pytest.approx(record["scores"]["code_sum"], rel=1e-6)
            mu, log_var = J.kept_posteriors(tmp_path, record, images, batch_size=1)
            assert mu.shape == log_var.shape == (2, 10) and mu.dtype == np.float64
            np.testing.assert_allclose(mu, codes.double().numpy(), rtol=1e-5, atol=1e-6)
            with pytest.raises(ValueError, match=r"images must have shape \(n, C, 64, 64\)"):
                J.kept_posteriors(tmp_path, record, images[0])
            with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
                J.kept_posteriors(tmp_path, record, images, batch_size=0)
        else:
            assert "artifacts" not in record
            with pytest.raises(KeyError, match="no artifact 'encoder'"):
                J.load_encoder(tmp_path, record)


def test_a_job_whose_artifact_cannot_be_saved_is_recorded_as_failed(tmp_path):
    job = _grid(betas=(1.0,), seeds=(0,))[0]

    def unsaveable(job):
        return {**cheap_job(job), "artifacts": {"bad name": 1}}

    assert run_task([job.to_dict()], unsaveable, str(tmp_path)) == [(job.job_id, "error")]
    assert "artifact name" in RecordStore(tmp_path).get(job.job_id)["error"]


def _study_with_random_encoders(folder, n_models=3):
    """A study folder whose finished records keep untrained encoders (stands in for trained models)."""
    from lecturelib.models.dsprites_conv import ConvEncoder
    from lecturelib.study.runner import make_record

    store = RecordStore(folder)
    for job in study_grid("tiny", methods=("beta_vae",), seeds=tuple(range(n_models)))[:n_models]:
        torch.manual_seed(job.seed)
        paths = store.write_artifacts(job.job_id, {"encoder": ConvEncoder(10, 1).state_dict()})
        store.write(job.job_id, make_record(job, {"scores": {}}, started="now", seconds=0.0, artifacts=paths))
    return store


def test_agreement_scores_kept_encoders_in_both_modes_resumably(tmp_path):
    from lecturelib.study.agreement import AGREEMENT_SCORES, agreement_summary, agreement_table, run_agreement

    _study_with_random_encoders(tmp_path)
    sizes = {"num_train": 60, "num_test": 40, "downstream_sizes": (10, 60), "boosting_rounds": 3}
    metrics = ("explicitness", "sap", "dci", "downstream_gbt")  # reference LR's 10 x 5-fold CV takes ~40 s
    assert run_agreement(tmp_path, sizes, seconds=0.0, metrics=metrics) == []  # time box: no model is started
    scored = run_agreement(tmp_path, sizes, metrics=metrics)
    assert len(scored) == 3 and run_agreement(tmp_path, sizes, metrics=metrics) == []  # resumed: nothing left
    record = RecordStore(tmp_path / "agreement").get(scored[0])
    assert set(record["scores"]) == {"fast", "reference"} and "hardware" in record
    assert "dci.disentanglement" in record["scores"]["reference"] and "mig" not in record["scores"]["fast"]
    rows = agreement_table(tmp_path)
    assert [r["score"] for r in rows[:len(AGREEMENT_SCORES)]] == list(AGREEMENT_SCORES)
    assert {r["score"] for r in rows} == set(AGREEMENT_SCORES) | {"GBT accuracy (10)", "GBT accuracy (60)"}
    for row in rows:
        assert row["models"] == 3 and row["mean_abs_difference"] >= 0
        assert np.isnan(row["spearman"]) or -1 <= row["spearman"] <= 1
    assert agreement_summary(tmp_path)["models"] == 3
    assert all(r["models"] == 2 for r in agreement_table(tmp_path, exclude=scored[:1]))  # a held-out check
    assert agreement_table(tmp_path, exclude=scored) == []
    with pytest.raises(ValueError, match="not .*sizes"):
        run_agreement(tmp_path, {**sizes, "num_train": 80}, metrics=metrics)
    with pytest.raises(ValueError, match="unknown keys"):
        run_agreement(tmp_path, {"num_samples": 5})


def test_cli_agreement_prints_the_table(tmp_path, capsys):
    _study_with_random_encoders(tmp_path, n_models=2)
    args = ["agreement", "--out", str(tmp_path), "--num-train", "40", "--num-test", "30", "--downstream-sizes", "10",
            "--boosting-rounds", "2", "--metrics", "sap", "dci", "--workers", "2"]  # worker processes
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert "scored 2 models now" in out and "DCI Disentanglement" in out and "SAP" in out and "GBT" not in out
    assert cli(args) == 0 and "scored 0 models now" in capsys.readouterr().out
    from lecturelib.study.agreement import run_agreement

    _study_with_random_encoders(tmp_path / "serial", n_models=2)
    run_agreement(tmp_path / "serial", {"num_train": 40, "num_test": 30, "downstream_sizes": (10,), "boosting_rounds": 2},
                  metrics=("sap", "dci"))
    for record in load_records(tmp_path / "agreement"):  # worker processes score as this process does
        assert RecordStore(tmp_path / "serial" / "agreement").get(record["job_id"])["scores"] == record["scores"]


def test_study_batches_and_models_are_channels_last_on_a_cpu():
    from lecturelib.study import jobs as J

    cpu = torch.device("cpu")
    images, eps = J.make_stream(J.make_dataset("dsprites"), 10, cpu)(8, torch.Generator().manual_seed(0))
    assert images.shape == (8, 1, 64, 64) and eps.shape == (8, 10)
    assert images.is_contiguous(memory_format=torch.channels_last)
    assert J.memory_format(cpu) is torch.channels_last
    assert J.memory_format(torch.device("cuda")) is torch.contiguous_format  # the vmapped GPU path


def test_a_job_keeps_its_id_through_its_config_when_some_hyperparameters_are_fixed(tmp_path):
    # AnnealedVAE's grid varies c_max only: ids name c_max, and a worker must store the record under that id
    grid = make_grid(["toy"], {"annealed_vae": [{"c_max": c, "gamma": 1000.0} for c in (5.0, 25.0)]}, (0,), {})
    assert [j.job_id for j in grid] == ["toy-annealed_vae-c_max=5-seed0", "toy-annealed_vae-c_max=25-seed0"]
    assert all(Job.from_dict(j.to_dict()).job_id == j.job_id for j in grid)
    jobs = [Job(j.dataset, j.model, {**j.hparams, "beta": 1.0}, j.seed, j.settings, j.id_keys) for j in grid]
    assert len(run_study(jobs, cheap_job, tmp_path, workers=1).done) == 2
    assert sorted(r["job_id"] for r in load_records(tmp_path)) == sorted(j.job_id for j in jobs)
    assert len(run_study(jobs, cheap_job, tmp_path, workers=1).skipped) == 2  # resumed: nothing reruns


def test_rank_agreement_is_one_for_equal_scores_and_spearman_otherwise():
    from lecturelib.study.agreement import rank_agreement

    assert rank_agreement([0.1, 0.5, 0.3], [0.1, 0.5, 0.3]) == 1.0
    assert rank_agreement([1.0, 2.0, 3.0], [30.0, 20.0, 10.0]) == pytest.approx(-1.0)
    assert np.isnan(rank_agreement([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))  # a constant mode ranks nothing


# ----------------------------------------------------------------------------- re-scoring from kept encoders
def test_store_replaces_and_discards_finished_records(tmp_path):
    store = RecordStore(tmp_path)
    with pytest.raises(KeyError, match="no finished record"):
        store.replace("toy-a-seed0", {"job_id": "toy-a-seed0", "status": "ok"})
    paths = store.write_artifacts("toy-a-seed0", {"encoder": {"w": torch.zeros(2)}})
    store.write("toy-a-seed0", {"job_id": "toy-a-seed0", "status": "ok", "scores": {"x": 1.0}, "artifacts": paths})
    store.replace("toy-a-seed0", {"job_id": "toy-a-seed0", "status": "ok", "scores": {"x": 2.0}, "artifacts": paths})
    assert store.get("toy-a-seed0")["scores"] == {"x": 2.0} and not list(store.folder.glob(".*.tmp"))
    with pytest.raises(ValueError, match="finished record"):
        store.replace("toy-a-seed0", {"job_id": "toy-a-seed0", "status": "error"})
    store.discard("toy-a-seed0")
    assert store.get("toy-a-seed0") is None and not (tmp_path / paths["encoder"]).exists()


def test_rescore_reproduces_the_scores_and_replaces_only_the_changed_metric(tmp_path, monkeypatch, capsys):
    from lecturelib.metrics import evaluate as E
    from lecturelib.study import jobs as J
    from lecturelib.study.agreement import run_agreement
    from lecturelib.study.rescore import rescore

    grid = study_grid("tiny", methods=("beta_vae",), seeds=(0, 1), num_steps=3, batch_size=4)
    run_study(grid, J.train_and_evaluate, tmp_path, workers=1)
    sizes = {"num_train": 40, "num_test": 30, "downstream_sizes": (10,), "boosting_rounds": 2}
    run_agreement(tmp_path, sizes, metrics=("sap", "dci"))
    before = {r["job_id"]: r for r in load_records(tmp_path)}
    agreement_before = {r["job_id"]: r for r in load_records(tmp_path / "agreement")}
    kept = sorted(i for i, r in before.items() if "artifacts" in r)
    assert len(kept) == 2 and len(agreement_before) == 2

    # unchanged code: the same samples give the same scores (MIG is checked inside, DCI compared here)
    result = rescore(tmp_path, ["dci"])
    assert result["rescored"] == kept and result["agreement"] == kept and len(result["stale"]) == 2
    for job_id in kept:
        after = RecordStore(tmp_path).get(job_id)
        assert after["scores"] == before[job_id]["scores"]
        assert after["rescored"][0]["metrics"] == ["dci"] and "hardware" in after["rescored"][0]
        assert after["rescored"][0]["layout"] == "channels_last"  # the layout this CPU study scored in
        assert RecordStore(tmp_path / "agreement").get(job_id)["scores"] == agreement_before[job_id]["scores"]

    # a changed DCI: only the dci.* scores move, in the study records and in the agreement records' fast half
    original = E.dci
    monkeypatch.setattr(E, "dci", lambda *a, **k: {**original(*a, **k), "disentanglement": 0.123})
    assert cli(["rescore", "--out", str(tmp_path), "--metrics", "dci", "--drop-stale"]) == 0
    assert "re-scored 2 records and 2 agreement records" in capsys.readouterr().out
    for job_id in kept:
        after = RecordStore(tmp_path).get(job_id)
        assert after["scores"]["dci.disentanglement"] == 0.123 and len(after["rescored"]) == 2
        assert {k: v for k, v in after["scores"].items() if k != "dci.disentanglement"} == \
            {k: v for k, v in before[job_id]["scores"].items() if k != "dci.disentanglement"}
        agreement = RecordStore(tmp_path / "agreement").get(job_id)
        assert agreement["scores"]["fast"]["dci.disentanglement"] == 0.123
        assert agreement["scores"]["fast"]["sap"] == agreement_before[job_id]["scores"]["fast"]["sap"]
        assert agreement["scores"]["reference"] == agreement_before[job_id]["scores"]["reference"]
    # the stale records (no encoder) were dropped, so the runner trains them again
    assert sorted(r["job_id"] for r in load_records(tmp_path)) == kept
    assert len(run_study(grid, J.train_and_evaluate, tmp_path, workers=1).done) == 2

    # other samples than the record's are detected, not silently mixed in
    store = RecordStore(tmp_path)
    tampered = store.get(kept[0])
    store.replace(kept[0], {**tampered, "scores": {**tampered["scores"], "mig": tampered["scores"]["mig"] + 0.5}})
    with pytest.raises(RuntimeError, match="samples differ"):
        rescore(tmp_path, ["dci"])
    with pytest.raises(ValueError, match="subset of"):
        rescore(tmp_path, ["nope"])


# ----------------------------------------------------------------------------- settings per scale
def test_every_compute_scale_has_one_settings_entry_for_training_evaluation_and_grid():
    from lecturelib.config import SCALES
    from lecturelib.study.settings import STUDY_SCALES

    assert tuple(STUDY_SCALES) == SCALES
    for scale, settings in STUDY_SCALES.items():
        jobs = study_grid(scale, seeds=(0,))
        assert {j.settings["num_steps"] for j in jobs} == {settings.train["num_steps"]}
        assert {j.dataset for j in jobs} == set(settings.datasets)


def test_a_job_that_names_no_scale_is_an_error_not_the_paper_settings():
    from lecturelib.study import jobs as J

    job = make_grid(["dsprites"], {"beta_vae": [{"beta": 1.0}]}, [0], {"num_steps": 1})[0]
    with pytest.raises(ValueError, match="has no 'scale' in its settings"):
        J.train_and_evaluate(job, device="cpu")
    with pytest.raises(ValueError, match="scale='huge' is not a known scale"):
        J.evaluate_job(Job.from_dict({**job.to_dict(), "settings": {"scale": "huge"}}), None, None, "cpu")


def test_a_study_handle_serves_records_finished_ones_encoders_and_agreement_records(tmp_path, monkeypatch):
    from lecturelib.study import Study
    from lecturelib.study import jobs as J

    monkeypatch.setattr(J, "_evaluate", lambda job, model, data, device: ({"x": 1.0}, {"eval_s": 0.0}))
    grid = study_grid("tiny", methods=("beta_vae",), seeds=(0,), num_steps=2, batch_size=4)
    run_study(grid[:1], J.train_and_evaluate, tmp_path, workers=1)
    failed = {"status": "error", "job_id": grid[1].job_id, "config": grid[1].to_dict()}
    RecordStore(tmp_path).write(grid[1].job_id, failed)
    study = Study(tmp_path)
    assert [r["status"] for r in study.records()] == ["ok", "error"]
    (record,) = study.finished()
    assert study.record(record["job_id"]) == record
    images = J.make_dataset("dsprites").render(torch.zeros(2, 5, dtype=torch.long))
    assert study.encoder(record)(images)[0].shape == (2, 10)
    assert study.agreement_records() == []
    study.agreement_store.write(record["job_id"], {"status": "ok", "job_id": record["job_id"], "scores": {}})
    assert [r["job_id"] for r in study.agreement_records()] == [record["job_id"]]


def test_hyperparameters_are_spelled_one_way_in_ids_reports_and_tables(tmp_path):
    from lecturelib.study.analysis import score_table
    from lecturelib.study.grid import format_hparams

    assert format_hparams({"gamma": 0.5, "beta": 4.0, "n": 3}) == "beta=4,gamma=0.5,n=3"
    assert format_hparams({"gamma": 0.5, "beta": 4.0}, ["gamma"]) == "gamma=0.5"
    job = make_grid(["toy"], {"m": [{"beta": 4.0, "gamma": 0.5}]}, [0])[0]
    assert job.job_id == "toy-m-beta=4,gamma=0.5-seed0"
    run_study([job], cheap_job, tmp_path, workers=1)
    records = load_records(tmp_path)
    assert aggregate(records)[0]["hparams"] == score_table(records, {"mean": "mean"}).hparams[0] == "beta=4,gamma=0.5"


def test_a_job_trains_the_architecture_and_warm_up_its_settings_name(monkeypatch, tmp_path):
    from lecturelib.models import MLPEncoder
    from lecturelib.models.dsprites_conv import ConvEncoder
    from lecturelib.study import jobs as J

    grid = study_grid("tiny", methods=("beta_vae", "annealed_vae"), seeds=(0,), num_steps=4, batch_size=4,
                      architecture="mlp", warmup_steps=4)
    model, loss, stream, settings = J.training_setup(grid[0], "cpu")
    assert isinstance(model.encoder, MLPEncoder) and settings["warmup_steps"] == 4
    history = train(model, loss, stream, num_steps=4, batch_size=4, seed=0, device="cpu", num_logs=4)
    assert history.train["warmup"] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # min(1, step / warmup_steps)
    annealed = next(j for j in grid if j.model == "annealed_vae")
    model, loss, stream, _ = J.training_setup(annealed, "cpu")
    history = train(model, loss, stream, num_steps=2, batch_size=4, seed=0, device="cpu", num_logs=2)
    assert "warmup" not in history.train  # its capacity ramp is its warm-up
    # a job that names no architecture is the conv net the study trained first (its records name none)
    unnamed = make_grid(["dsprites"], {"beta_vae": [{"beta": 1.0}]}, (0,), {"scale": "tiny"})[0]
    model, *_ = J.training_setup(unnamed, "cpu")
    assert isinstance(model.encoder, ConvEncoder)
    # the kept encoder of an MLP job is rebuilt as an MLP encoder and reproduces the codes
    images = J.make_dataset("dsprites").render(torch.tensor([[0, 1, 2, 3, 4], [2, 5, 39, 31, 0]]))
    monkeypatch.setattr(J, "_evaluate", lambda job, model, data, device: (
        {"code_sum": float(model.encode(images)[0].detach().double().sum())}, {"eval_s": 0.0}))
    run_study(grid[:1], J.train_and_evaluate, tmp_path, workers=1)
    record = load_records(tmp_path)[0]
    encoder = J.load_encoder(tmp_path, record)
    assert isinstance(encoder, MLPEncoder)
    with torch.no_grad():
        assert float(encoder(images)[0].double().sum()) == pytest.approx(record["scores"]["code_sum"], rel=1e-6)


def test_factor_vae_trains_its_discriminator_on_the_first_discriminator_batch_latents(monkeypatch):
    from lecturelib.study import jobs as J

    seen = []
    original = R.discriminator_loss
    monkeypatch.setattr(R, "discriminator_loss", lambda d, z, g=None: seen.append(len(z)) or original(d, z, g))
    grid = study_grid("tiny", methods=("factor_vae",), seeds=(0,), num_steps=2, batch_size=6, discriminator_batch=4)
    model, loss, stream, settings = J.training_setup(grid[0], "cpu")
    train(model, loss, stream, num_steps=2, batch_size=6, seed=0, device="cpu", num_logs=2)
    assert seen == [4, 4]
    with pytest.raises(ValueError, match="discriminator_batch must be an int >= 2"):
        J.factor_vae_loss({"gamma": 10.0}, 10, torch.device("cpu"), 0, discriminator_batch=1)


def test_report_functions_name_bad_input():
    with pytest.raises(ValueError, match="root='.*' is not a study folder"):
        load_records("/no/such/study/folder")
    with pytest.raises(ValueError, match="records must be an iterable of study records"):
        aggregate(None)
    with pytest.raises(ValueError, match=r"records\[1\] must be a study record, a mapping with the keys"):
        aggregate([{"job_id": "a", "config": {}, "status": "ok"}, {"job_id": "b"}])
    with pytest.raises(ValueError, match=r"columns \['b'\] are in no row"):
        format_table([{"a": 1}], columns=["b"])
    with pytest.raises(ValueError, match=r"by names columns \['zz'\]"):
        group_mean([{"a": 1, "status": "ok"}], by=("zz",))
    with pytest.raises(ValueError, match="hparams must be a mapping"):
        format_hparams(None)
    with pytest.raises(ValueError, match=r"keys \['gamma'\] are not in hparams"):
        format_hparams({"beta": 1.0}, keys=["gamma"])
    with pytest.raises(ValueError, match="records must be an iterable"):
        timing_summary("records")
    with pytest.raises(ValueError, match="fast and reference must be 1-D"):
        rank_agreement([1.0, 2.0, 3.0], [1.0, 2.0])


@pytest.mark.parametrize("setting, value, message", [
    ("num_steps", 2.5, "num_steps must be an int >= 1"), ("batch_size", 0, "batch_size must be an int >= 1"),
    ("lr", float("nan"), "lr must be a finite number > 0"), ("betas", (0.9,), "betas must be a pair"),
    ("betas", (0.9, 1.5), r"betas\[1\] must be a finite number >= 0 and <= 1")])
def test_train_stacked_names_a_bad_setting(setting, value, message):
    settings = {"num_steps": 2, "batch_size": 4, "lr": 1e-3, "betas": (0.9, 0.999), setting: value}
    with pytest.raises(ValueError, match=message):
        train_stacked([TinyVAE()], tiny_vae_loss, tiny_data, hparams=[{"beta": 1.0}], seeds=[0], device="cpu",
                      **settings)


def test_job_from_dict_names_what_a_config_lacks():
    job = make_grid(["dsprites"], {"beta_vae": [{"beta": 1.0}, {"beta": 4.0}]}, [0])[0]
    assert Job.from_dict(job.to_dict()) == job
    with pytest.raises(ValueError, match=r"it lacks \['hparams', 'seed'\]"):
        Job.from_dict({"dataset": "dsprites", "model": "beta_vae"})
    with pytest.raises(ValueError, match="config must be a job's config"):
        Job.from_dict(None)
