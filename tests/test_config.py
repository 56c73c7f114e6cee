import pytest
import torch

import lecturelib
from lecturelib import config


def test_scale_defaults_to_default(monkeypatch):
    monkeypatch.delenv("LECTURELIB_SCALE", raising=False)
    assert config.get_scale() == "default"


@pytest.mark.parametrize("value", ["tiny", "default", "paper", " TINY "])
def test_known_scales(monkeypatch, value):
    monkeypatch.setenv("LECTURELIB_SCALE", value)
    assert config.get_scale() == value.strip().lower()


def test_unknown_scale_names_allowed_values(monkeypatch):
    monkeypatch.setenv("LECTURELIB_SCALE", "huge")
    with pytest.raises(ValueError, match=r"LECTURELIB_SCALE='huge'.*tiny, default, paper"):
        config.get_scale()


def test_scaled_picks_value_for_scale(monkeypatch):
    monkeypatch.setenv("LECTURELIB_SCALE", "tiny")
    assert config.scaled(tiny=1, default=2, paper=3) == 1
    assert config.scaled(tiny=1, default=2, paper=3, scale="paper") == 3
    assert config.scaled(tiny=1, default=2, scale="paper") == 2  # paper falls back to default
    with pytest.raises(ValueError, match="expected one of"):
        config.scaled(tiny=1, default=2, scale="big")


def test_resolve_device():
    assert config.resolve_device("cpu") == torch.device("cpu")
    assert config.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"device='gpu0'.*auto, cpu, cuda"):
        config.resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on CPU-only machines")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        config.resolve_device("cuda")


def test_device_from_environment(monkeypatch):
    monkeypatch.setenv("LECTURELIB_DEVICE", "cpu")
    assert config.resolve_device(None) == torch.device("cpu")
    monkeypatch.setenv("LECTURELIB_DEVICE", "tpu")
    with pytest.raises(ValueError, match="tpu"):
        config.resolve_device(None)


def test_seed_everything_is_reproducible():
    config.seed_everything(3)
    a = torch.randn(4)
    config.seed_everything(3)
    assert torch.equal(a, torch.randn(4))
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-1)


def test_setup_notebook_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv("LECTURELIB_SCALE", "tiny")
    ctx = lecturelib.setup_notebook(seed=1, device="cpu", num_threads=1)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "scale=tiny" in out[0] and "device=cpu" in out[0] and "torch" in out[0]
    assert ctx.scale == "tiny" and ctx.device == torch.device("cpu") and ctx.seed == 1


def test_set_threads_rejects_zero():
    with pytest.raises(ValueError, match="num_threads"):
        config.set_threads(0)
    assert config.set_threads(1) == 1


def test_threads_follow_omp_num_threads_when_lecturelib_threads_is_unset(monkeypatch):
    monkeypatch.delenv("LECTURELIB_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert config.set_threads() == 1
    monkeypatch.setenv("LECTURELIB_THREADS", "2")
    assert config.set_threads() == 2
    config.set_threads(1)


@pytest.mark.parametrize("variable", ["LECTURELIB_THREADS", "OMP_NUM_THREADS"])
@pytest.mark.parametrize("value", ["abc", "-2", "1.5"])
def test_a_bad_thread_count_in_the_environment_names_the_variable(monkeypatch, variable, value):
    monkeypatch.delenv("LECTURELIB_THREADS", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"{variable}='{value}'"):
        config.set_threads()


@pytest.mark.parametrize("bad", [1.5, "2", True])
def test_set_threads_rejects_a_count_that_is_not_an_int(bad):
    with pytest.raises(ValueError, match="num_threads"):
        config.set_threads(bad)
