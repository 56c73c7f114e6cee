"""The results store (lecturelib.store): atomic and exclusive writes with and without hard links, group-readable
files, paths confined to the folder, corrupt records moved aside, claims."""

import json
import os
import platform
import re
import stat
import subprocess
import sys
import threading
import time

import pytest
import torch

from lecturelib.store import (Claim, CorruptRecordWarning, RecordStore, atomic_write, confined, create_exclusive,
                              file_mode)


@pytest.fixture
def no_hard_links(monkeypatch):
    """A file system like Google Drive on Colab, SMB or FAT: os.link raises PermissionError."""
    def refuse(src, dst, *args, **kwargs):
        raise PermissionError(1, "Operation not permitted", str(src))

    monkeypatch.setattr(os, "link", refuse)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob(".*"))


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "value.json"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two" and _leftovers(tmp_path) == []


def test_files_are_readable_by_the_group_under_a_usual_umask(tmp_path):
    previous = os.umask(0o022)
    file_mode.cache_clear()
    try:
        store = RecordStore(tmp_path)
        store.write("job", {"status": "ok", "scores": {}})
        paths = store.write_artifacts("job", {"encoder": {"w": torch.zeros(2)}})
        for path in (store.path("job"), tmp_path / paths["encoder"]):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path  # mkstemp alone would give 0o600
    finally:
        os.umask(previous)
        file_mode.cache_clear()


@pytest.mark.parametrize("links", [True, False], ids=["hard links", "no hard links"])
def test_create_exclusive_lets_exactly_one_of_many_racing_writers_win(tmp_path, monkeypatch, links):
    if not links:
        monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(PermissionError(1, "no links")))
    path = tmp_path / "record.json"
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(create_exclusive(path, b"%d" % i + b"x" * 100_000)))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 1
    assert len(path.read_bytes()) > 100_000 and _leftovers(tmp_path) == []


def test_records_are_stored_on_a_file_system_without_hard_links(tmp_path, no_hard_links):
    store = RecordStore(tmp_path)
    assert store.write("job", {"status": "error", "error": "first try"})
    assert store.write("job", {"status": "ok", "scores": {"a": 1.0}})
    assert not store.write("job", {"status": "ok", "scores": {"a": 2.0}})  # first finisher wins
    assert store.get("job")["scores"] == {"a": 1.0} and not store.error_path("job").exists()


def test_a_corrupt_record_is_named_moved_aside_and_skipped(tmp_path):
    store = RecordStore(tmp_path)
    store.write("good", {"status": "ok", "scores": {}})
    store.folder.joinpath("truncated.json").write_text('{"status": "ok", "sco')
    with pytest.warns(CorruptRecordWarning, match=r"truncated\.json is not a readable record .*moved to "
                                                  r"truncated\.json\.corrupt"):
        records = list(store.records())
    assert [r.get("status") for r in records] == ["ok"]
    assert (store.folder / "truncated.json.corrupt").exists() and not store.is_done("truncated")


def test_reading_a_missing_study_folder_creates_nothing(tmp_path):
    store = RecordStore(tmp_path / "missing")
    assert list(store.records()) == [] and store.get("job") is None and store.claimed() == {}
    assert not (tmp_path / "missing").exists()


def test_paths_named_in_a_record_are_confined_to_the_study_folder(tmp_path):
    root, outside = tmp_path / "study", tmp_path / "precious.pt"
    outside.write_bytes(b"keep me")
    store = RecordStore(root)
    store.write("job", {"status": "ok", "scores": {}, "artifacts": {"encoder": "../precious.pt"}})
    with pytest.raises(ValueError, match=r"'\.\./precious\.pt' leaves the folder"):
        store.discard("job")
    with pytest.raises(ValueError, match="leaves the folder"):
        store.load_artifact(store.get("job"), "encoder")
    with pytest.raises(ValueError, match="leaves the folder"):
        confined(root, str(outside))  # an absolute path
    assert outside.read_bytes() == b"keep me" and store.is_done("job")


def test_a_claim_is_exclusive_until_released(tmp_path):
    store = RecordStore(tmp_path)
    claim = store.claim("job")
    assert isinstance(claim, Claim)
    assert store.claim("job") is None  # held by a live process (this one)
    assert store.claimed()["job"]["pid"] == os.getpid()
    claim.release()
    assert store.claimed() == {}
    with store.claim("job"):
        pass
    assert store.claimed() == {}


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    store = RecordStore(tmp_path)
    atomic_write(store.claim_path("job"), json.dumps({"host": platform.node(), "pid": _dead_pid(),
                                                      "token": "old"}).encode())
    claim = store.claim("job")
    assert claim is not None and store.claimed()["job"]["token"] == claim.token
    claim.release()


def test_a_claim_from_another_host_is_taken_over_only_when_no_longer_refreshed(tmp_path):
    store = RecordStore(tmp_path)
    path = store.claim_path("job")
    atomic_write(path, json.dumps({"host": "elsewhere", "pid": 1, "token": "theirs"}).encode())
    assert store.claim("job", stale_after=60) is None
    os.utime(path, (time.time() - 120, time.time() - 120))
    claim = store.claim("job", stale_after=60)
    assert claim is not None
    claim.release()


def test_a_held_claim_is_refreshed(tmp_path):
    store = RecordStore(tmp_path)
    claim = store.claim("job", heartbeat=0.05)
    os.utime(claim.path, (0, 0))
    time.sleep(0.3)
    assert time.time() - claim.path.stat().st_mtime < 5
    claim.release()


def test_clean_temporaries_removes_those_of_dead_processes_only(tmp_path, monkeypatch):
    store = RecordStore(tmp_path)
    store.folder.mkdir(parents=True)
    host = re.sub(r"[^A-Za-z0-9_-]", "_", platform.node())  # how temporaries name their host
    dead = store.folder / f".job.json.{host}.{_dead_pid()}.abc123.tmp"
    alive = store.folder / f".job.json.{host}.{os.getpid()}.def456.tmp"
    dead.write_bytes(b"")
    alive.write_bytes(b"")
    assert store.clean_temporaries() == 1
    assert not dead.exists() and alive.exists()
