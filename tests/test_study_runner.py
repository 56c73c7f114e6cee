"""The study runner as an adversarial user meets it: Ctrl-C, SIGTERM, kill -9, two runners on one folder,
corrupt records, bad command-line values. Runners run in their own session so that a test can signal
their process group, as a terminal does, and check that no process of theirs is left."""

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lecturelib.store import CorruptRecordWarning, RecordStore, pid_alive
from lecturelib.study import load_records, make_grid, run_study
from lecturelib.study.__main__ import main as cli

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # worker processes import the job functions from tests/study_jobs.py
from study_jobs import cheap_job, failing_job  # noqa: E402

BETAS = (1.0, 2.0, 4.0, 8.0)


def _environment(log: Path, sleep: float) -> dict[str, str]:
    return {**os.environ, "STUDY_TEST_LOG": str(log), "STUDY_TEST_SLEEP": str(sleep),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}


def _start_cli(out: Path, log: Path, sleep: float, stderr: Path, *extra: str) -> subprocess.Popen:
    """``python -m lecturelib.study run`` on 4 tiny jobs of ``study_jobs.keeping_job``, in a session of its own.

    Its output goes to files: a pipe would stay open as long as any worker holds it.
    """
    command = [sys.executable, "-m", "lecturelib.study", "run", "--scale", "tiny", "--out", str(out),
               "--methods", "beta_vae", "beta_tcvae", "--job", "study_jobs:keeping_job", *extra]
    with open(stderr, "w") as errors:
        return subprocess.Popen(command, env=_environment(log, sleep), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=errors)


def _start_runner(out: Path, log: Path, sleep: float, workers: int = 2, backend: str = "local",
                  address: str | None = None) -> subprocess.Popen:
    """``run_study`` on 8 jobs of ``study_jobs.keeping_job``, in a session of its own."""
    script = ("from study_jobs import keeping_job; from lecturelib.study import make_grid, run_study; "
              f"jobs = make_grid(['toy'], {{'beta_vae': [{{'beta': b}} for b in {BETAS}]}}, (0, 1), {{}}); "
              f"print(run_study(jobs, keeping_job, {str(out)!r}, workers={workers}, backend={backend!r}, "
              f"address={address!r}))")
    return subprocess.Popen([sys.executable, "-c", script], env=_environment(log, sleep), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (Linux /proc), zombies excluded."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat_file.parent.name))
    return found


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _claims(out: Path) -> list[Path]:
    return sorted((out / "claims").glob("*.claim"))


def _check_invariants(out: Path, job_ids: list[str]) -> None:
    """Every job has exactly one finished record, whose artifact is the one its attempt wrote; no leftovers."""
    store = RecordStore(out)
    assert sorted(p.name for p in store.folder.glob("*.json")) == sorted(f"{j}.json" for j in job_ids)
    for job_id in job_ids:
        record = store.get(job_id)
        assert record["status"] == "ok"
        kept = store.load_artifact(record, "encoder")
        assert float(kept["attempt"]) == record["scores"]["attempt"], job_id
    assert store.claimed() == {}
    assert list(out.rglob(".*.tmp")) == []


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_process_group_stops_the_run_within_seconds_with_one_line(tmp_path, signum):
    out, errors = tmp_path / "study", tmp_path / "stderr"
    runner = _start_cli(out, tmp_path / "log", 120.0, errors, "--workers", "2")  # jobs far longer than the test
    assert _wait_for(lambda: len(_claims(out)) == 2, 120), errors.read_text()
    os.killpg(runner.pid, signum)  # as Ctrl-C does (SIGINT), or a scheduler ending a job (SIGTERM)
    start = time.monotonic()
    runner.wait(timeout=60)
    assert time.monotonic() - start < 30  # seconds on an idle machine; far less than the jobs left to run
    assert runner.returncode == 128 + signum
    stderr = errors.read_text()
    assert "Traceback" not in stderr
    assert f"stopped by {signal.Signals(signum).name}: 0 done" in stderr and "rerun the same command" in stderr
    assert _wait_for(lambda: not _session(runner.pid), 30)
    assert _claims(out) == [] and list(out.rglob(".*.tmp")) == []


def test_kill_9_of_the_runner_leaves_no_worker_behind(tmp_path):
    out = tmp_path / "study"
    runner = _start_runner(out, tmp_path / "log", sleep=120.0)
    assert _wait_for(lambda: len(_claims(out)) == 2, 120)
    assert len(_session(runner.pid)) >= 3  # the runner, its fork server and two workers
    runner.kill()  # as the out-of-memory killer or `kill -9` does: nothing of the runner runs afterwards
    runner.wait()
    assert _wait_for(lambda: not _session(runner.pid), 30), _session(runner.pid)


WATCHER = """
import sys, time
from lecturelib.store import take_claim
from lecturelib.study.runner import exit_when_released

path, case = sys.argv[1], sys.argv[2]
if case == "watch":  # the runner is another process
    with exit_when_released(path, interval=0.05):
        print("watching", flush=True)
        time.sleep(120)
elif case == "released":  # the runner stops (Ctrl-C, an error) while the task runs
    claim = take_claim(path)
    with exit_when_released(path, interval=0.05):
        print("watching", flush=True)
        claim.release()
        time.sleep(120)
else:  # the task ended first: the watch ends with it, and the process goes on
    claim = take_claim(path)
    with exit_when_released(path, interval=0.05):
        pass
    claim.release()
    time.sleep(1.0)
    print("alive", flush=True)
"""


def _watcher(folder: Path, case: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WATCHER, str(folder / "runner.claim"), case],
                            env=_environment(folder / "log", 0.0), stdout=subprocess.PIPE, text=True)


def test_a_dask_task_exits_its_worker_when_the_runner_is_killed(tmp_path):
    """What a Dask worker's task does (:func:`exit_when_released`) when its runner dies by ``kill -9``."""
    runner = subprocess.Popen([sys.executable, "-c", "import sys, time; from lecturelib.store import take_claim; "
                               "claim = take_claim(sys.argv[1]); print('held', flush=True); time.sleep(300)",
                               str(tmp_path / "runner.claim")], env=_environment(tmp_path / "log", 0.0),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout.readline() == "held\n"
        task = _watcher(tmp_path, "watch")
        assert task.stdout.readline() == "watching\n"
        runner.kill()  # its claim file stays; its pid is gone
        runner.wait()
        assert task.wait(timeout=30) == 1
    finally:
        runner.kill()


def test_a_dask_task_exits_its_worker_when_the_runner_stops_and_not_after_it_ended(tmp_path):
    released, ended = _watcher(tmp_path / "released", "released"), _watcher(tmp_path / "ended", "ended")
    assert released.stdout.readline() == "watching\n"  # imports done (slow on a loaded machine)
    assert released.wait(timeout=30) == 1
    assert ended.stdout.readline() == "alive\n" and ended.wait(timeout=30) == 0


def test_kill_9_of_a_dask_runner_stops_the_workers_of_its_local_cluster(tmp_path):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "study"
    runner = _start_runner(out, tmp_path / "log", sleep=120.0, backend="dask")
    assert _wait_for(lambda: len(_claims(out)) == 2, 300)
    runner.kill()
    runner.wait()
    assert _wait_for(lambda: not _session(runner.pid), 60), _session(runner.pid)


def test_kill_9_of_a_dask_runner_stops_its_tasks_on_a_cluster_it_does_not_own(tmp_path):
    """A scheduler and worker started apart from the runner (as on Slurm): the worker training the dead
    runner's job exits (its nanny starts a fresh one), and the cluster goes on.

    The job runs in the cluster's worker, so the cluster's environment (``STUDY_TEST_SLEEP``) sets how long
    it trains: it must outlast the watch's first look, else the task ends first and the idle worker rightly stays.
    """
    pytest.importorskip("dask.distributed")
    out, address_file = tmp_path / "study", tmp_path / "address"
    cluster_script = ("import sys, time; from pathlib import Path; from dask.distributed import LocalCluster; "
                      "cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None); "
                      "Path(sys.argv[1]).write_text(cluster.scheduler_address); time.sleep(600)")
    cluster = subprocess.Popen([sys.executable, "-c", cluster_script, str(address_file)],
                               env=_environment(tmp_path / "log", 120.0), start_new_session=True)
    runner = None
    try:
        assert _wait_for(lambda: address_file.exists() and address_file.read_text(), 300)
        runner = _start_runner(out, tmp_path / "log", sleep=120.0, backend="dask", address=address_file.read_text())
        assert _wait_for(lambda: len(_claims(out)) == 1, 300)
        job_id, held = RecordStore(out).claimed().popitem()
        worker = held["pid"]
        runner.kill()
        runner.wait()
        assert _wait_for(lambda: not pid_alive(worker), 60), "the worker training the dead runner's job still runs"
        assert not RecordStore(out).is_done(job_id)  # stopped while training, not after finishing
        assert cluster.poll() is None  # the cluster itself is not the runner's
    finally:
        for process in (runner, cluster):
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_chaos_kills_at_random_moments_then_two_runners_finish_the_study(tmp_path):
    """SIGINT, SIGTERM and SIGKILL at random moments of a run, then two runners at once on one folder."""
    out, rng = tmp_path / "study", random.Random(24)
    job_ids = [job.job_id for job in make_grid(["toy"], {"beta_vae": [{"beta": b} for b in BETAS]}, (0, 1), {})]
    for signum in (signal.SIGINT, signal.SIGKILL, signal.SIGTERM):
        runner = _start_runner(out, tmp_path / "log", sleep=0.4)
        started = _wait_for(lambda: _claims(out) or runner.poll() is not None, 120)
        assert started
        time.sleep(rng.uniform(0.0, 1.5))
        if signum == signal.SIGKILL:
            runner.kill()
        else:
            os.killpg(runner.pid, signum)
        runner.communicate(timeout=60)
        assert _wait_for(lambda: not _session(runner.pid), 30), (signum, _session(runner.pid))
    log = tmp_path / "final.log"
    runners = [_start_runner(out, log, sleep=0.4) for _ in range(2)]
    for runner in runners:
        _, stderr = runner.communicate(timeout=300)
        assert runner.returncode == 0, stderr
    for runner in runners:
        assert _wait_for(lambda: not _session(runner.pid), 30)
    _check_invariants(out, job_ids)
    trained = log.read_text().split() if log.exists() else []
    assert len(trained) == len(set(trained))  # the two runners shared the work: no job trained twice


def test_a_corrupt_record_is_named_and_the_run_and_the_report_go_on(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    args = ["--scale", "tiny", "--out", str(tmp_path)]
    assert cli(["run", *args, "--workers", "1", "--methods", "beta_vae", "--job", "study_jobs:cheap_job"]) == 0
    record = RecordStore(tmp_path).path("dsprites-beta_vae-beta=1-seed0")
    record.write_bytes(record.read_bytes()[:40])  # a record cut short (a full disk, a sync client)
    with pytest.warns(CorruptRecordWarning, match=record.name):
        assert cli(["report", *args]) == 0
    assert "1 records" in capsys.readouterr().out
    assert cli(["run", *args, "--workers", "1", "--methods", "beta_vae", "--job", "study_jobs:cheap_job"]) == 0
    assert "1 done, 0 failed, 1 already finished" in capsys.readouterr().out
    assert len(load_records(tmp_path)) == 2 and record.with_name(record.name + ".corrupt").exists()


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "argument --workers: expected an int >= 1, got '0'"),
    (["--num-steps", "0"], "argument --num-steps: expected an int >= 1, got '0'"),
    (["--group-size", "-1"], "argument --group-size: expected an int >= 1, got '-1'"),
    (["--seeds", "-1"], "argument --seeds: expected an int >= 0, got '-1'"),
    (["--annealed-threshold", "x"], "argument --annealed-threshold: expected an int >= 1, got 'x'"),
    (["--methods", "vae"], "methods ['vae'] are not known"),
    (["--job", "nocolon"], "--job must look like 'package.module:function'"),
    (["--job", "no_such_module:job"], "--job 'no_such_module:job' cannot be loaded"),
    (["--address", "tcp://x:1"], "--address needs --backend dask"),
])
def test_cli_rejects_a_bad_value_with_one_line_before_writing_anything(tmp_path, capsys, flags, message):
    out = tmp_path / "study"
    with pytest.raises(SystemExit) as exit_:
        cli(["run", "--scale", "tiny", "--out", str(out), *flags])
    assert exit_.value.code == 2
    error = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error) == 1 and message in error[0]
    assert not out.exists()


@pytest.mark.parametrize("command", [["report"], ["report", "--mean"], ["agreement"], ["rescore", "--metrics", "mig"]])
def test_cli_commands_that_read_a_study_never_create_its_folder(tmp_path, capsys, command):
    with pytest.raises(SystemExit):
        cli([*command, "--out", str(tmp_path / "doesnotexist")])
    assert "no such study folder" in capsys.readouterr().err
    assert not (tmp_path / "doesnotexist").exists()


def test_a_record_of_another_config_is_named_with_the_command_that_clears_it(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    args = ["run", "--scale", "tiny", "--out", str(tmp_path), "--workers", "1", "--methods", "beta_vae",
            "--job", "study_jobs:cheap_job"]
    assert cli([*args, "--num-steps", "5"]) == 0
    with pytest.raises(SystemExit):
        cli(args)
    error = capsys.readouterr().err
    path = RecordStore(tmp_path).path("dsprites-beta_vae-beta=1-seed0")
    assert "2 records" in error and "another config" in error and f"rm {path}" in error


def test_an_error_record_of_another_config_is_retried_and_reported(tmp_path, capsys, monkeypatch):
    jobs = make_grid(["toy"], {"beta_vae": [{"beta": 4.0}]}, [0], {"num_steps": 0})
    assert run_study(jobs, failing_job, tmp_path, workers=1).failed == [jobs[0].job_id]  # a bad flag's error record
    fixed = make_grid(["toy"], {"beta_vae": [{"beta": 4.0}]}, [0], {"num_steps": 5})
    summary = run_study(fixed, cheap_job, tmp_path, workers=1)
    assert summary.done == summary.stale == [fixed[0].job_id]
    assert load_records(tmp_path)[0]["config"]["settings"] == {"num_steps": 5}
    with pytest.raises(ValueError, match="another config"):  # kept on purpose (no retry): named, not used
        run_study(jobs, failing_job, tmp_path, workers=1, retry_failed=False)


def test_an_attempt_that_loses_the_race_removes_its_artifacts(tmp_path):
    from lecturelib.study.runner import run_task

    job = make_grid(["toy"], {"beta_vae": [{"beta": 1.0}]}, [0], {})[0]
    store = RecordStore(tmp_path)

    def overtaken(job):  # another runner (which took over a stale claim) finishes first
        result = {**cheap_job(job), "artifacts": {"encoder": {"w": torch.ones(2)}}}
        winner = store.write_artifacts(job.job_id, {"encoder": {"w": torch.zeros(2)}})
        store.write(job.job_id, {"status": "ok", "scores": {"winner": 1.0}, "artifacts": winner})
        return result

    assert run_task([job.to_dict()], overtaken, str(tmp_path)) == [(job.job_id, "dropped")]
    record = store.get(job.job_id)
    assert record["scores"] == {"winner": 1.0}
    assert torch.equal(store.load_artifact(record, "encoder")["w"], torch.zeros(2))
    assert [p.name for p in (tmp_path / "artifacts").glob("*.pt")] == [Path(record["artifacts"]["encoder"]).name]


def test_a_study_runs_on_a_file_system_without_hard_links(tmp_path, monkeypatch):
    """Google Drive on Colab, SMB or FAT: os.link raises PermissionError; claims and records still work."""
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    jobs = make_grid(["toy"], {"beta_vae": [{"beta": b} for b in BETAS]}, [0], {})
    summary = run_study(jobs, cheap_job, tmp_path, workers=1)
    assert len(summary.done) == len(jobs) and not summary.failed
    assert len(load_records(tmp_path)) == len(jobs) and RecordStore(tmp_path).claimed() == {}


def test_cli_report_refuses_a_csv_file_in_a_missing_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    assert cli(["run", "--scale", "tiny", "--out", str(tmp_path), "--workers", "1", "--methods", "beta_vae",
                "--job", "study_jobs:cheap_job"]) == 0
    with pytest.raises(SystemExit):
        cli(["report", "--scale", "tiny", "--out", str(tmp_path), "--csv", str(tmp_path / "missing" / "t.csv")])
    assert "no such folder" in capsys.readouterr().err and not (tmp_path / "missing").exists()
