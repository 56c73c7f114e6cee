"""lecturelib.metric_scores: chapter 8's score table, stored and keyed by its settings, weights and code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lecturelib import artifacts, metric_scores
from lecturelib.metric_scores import (SCORED_WITH, STORAGE, _code_of, code_fingerprint, code_modules, score_representations,
                                      weights_fingerprint)

TINY = dict(subset={"scale": [0, 5], "orientation": [0, 8], "posX": [0, 16], "posY": [0, 16]}, metrics=["mig"],
            sizes=dict(num_train=60, num_test=30, batch_size=2, num_variance_estimate=60))


def test_the_code_of_the_table_includes_what_the_modules_import_even_inside_functions_but_not_storage():
    modules = code_modules(SCORED_WITH, STORAGE)
    assert {"lecturelib.metrics.evaluate", "lecturelib.metrics.information", "lecturelib.validation",
            "lecturelib.metric_scores"} <= set(modules)
    assert not set(STORAGE) & set(modules)
    assert "lecturelib" not in modules  # the package's __init__ (the whole library) is not followed
    assert code_fingerprint() == code_fingerprint(SCORED_WITH, STORAGE)
    assert code_fingerprint() != code_fingerprint(SCORED_WITH, (*STORAGE, "lecturelib.metrics.information"))
    with pytest.raises(ValueError, match="modules"):
        code_modules(["lecturelib.no_such_module"])


def test_the_code_of_a_module_ignores_docstrings_comments_and_layout_but_not_what_it_computes(tmp_path):
    def code(text):
        path = tmp_path / "module.py"
        path.write_text(text)
        return _code_of(path)

    plain = code('def f(x):\n    return x + 1\n')
    assert code('"""A module."""\n\n\ndef f(x):  # add one\n    """One more."""\n    return (x\n            + 1)\n') == plain
    assert code('def f(x):\n    """Only a docstring."""\n') == code('def f(x):\n    pass\n')
    assert code('def f(x):\n    return x + 2\n') != plain
    assert code('def f(x):\n    return "x + 1"\n') != plain


def test_weights_fingerprint_changes_with_any_weight():
    model = torch.nn.Linear(3, 2)
    before = weights_fingerprint(model)
    assert weights_fingerprint(model) == before
    with torch.no_grad():
        model.bias[0] += 1e-6
    assert weights_fingerprint(model) != before
    with pytest.raises(ValueError, match="model"):
        weights_fingerprint("not a model")


def test_the_table_is_computed_once_then_loaded_and_recomputed_when_its_code_changes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(artifacts.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(artifacts.WRITE_ENV, raising=False)
    monkeypatch.delenv(artifacts.RECOMPUTE_ENV, raising=False)
    first, computed = score_representations({}, fast=True, **TINY)
    assert list(first) == ["true factors", "rotation", "noise", "duplicated", "missing"]
    assert first["true factors"]["mig"] > first["noise"]["mig"]
    assert "Computed 'metric_scores'" in capsys.readouterr().out
    again, loaded = score_representations({}, fast=True, **TINY)
    assert again == first and loaded.key == computed.key
    assert "Loaded 'metric_scores'" in capsys.readouterr().out
    monkeypatch.setattr(metric_scores, "code_fingerprint", lambda: "changed code")
    _, changed = score_representations({}, fast=True, **TINY)
    assert changed.key != computed.key and "Computed 'metric_scores'" in capsys.readouterr().out


def test_bad_settings_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="fast"):
        score_representations({}, fast=1, **TINY)
    with pytest.raises(ValueError, match="sizes"):
        score_representations({}, fast=True, **{**TINY, "sizes": {"num_trian": 10}})
    with pytest.raises(ValueError, match="vaes"):
        score_representations({"noise": torch.nn.Linear(1, 1)}, fast=True, **TINY)


def test_shipped_tables_were_computed_by_the_current_code():
    # A stale shipped table is never loaded (its key differs), but the book would then compute the
    # table during the build: publish it again after changing the code it depends on.
    for meta in sorted(artifacts.SHIPPED_DIR.glob("metric_scores-*.json")):
        params = json.loads(meta.read_text())["params"]
        assert params["code"] == code_fingerprint(), (
            f"{meta.name} was computed by other code than today's; run "
            "python -m lecturelib.artifacts publish notebooks/08_disentanglement_metrics.ipynb --scale default")
        assert Path(meta.with_suffix(".pt")).is_file()
