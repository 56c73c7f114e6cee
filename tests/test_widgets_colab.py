"""Every chapter's widgets work with the ipywidgets that Colab ships (7.7.1) and with the pinned 8.x.

Colab has not supported ipywidgets 8 (googlecolab/colabtools#4525), so lecturelib asks for
``ipywidgets>=7.7`` and the Colab install cell keeps Colab's copy. ipywidgets 7.7.1
(requirements-colab-widgets.txt) is installed into ``_build/ipywidgets7`` on first use, and
tests/widget_cells.py builds each chapter's widgets with it, as the chapter's own code does, and
again with the pinned ipywidgets as a control: the same widgets must come out of both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements-colab-widgets.txt"
TARGET = ROOT / "_build" / "ipywidgets7"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COLAB = next(Requirement(line) for line in REQUIREMENTS.read_text().splitlines() if line.startswith("ipywidgets=="))
COLAB_VERSION = str(COLAB.specifier).removeprefix("==")


def install_colab_widgets() -> Path:
    """``_build/ipywidgets7`` with requirements-colab-widgets.txt, installed once (again if it changes)."""
    stamp = TARGET / "requirements-colab-widgets.txt"
    if not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
                        "--target", str(TARGET), "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(REQUIREMENTS.read_text())
    return TARGET


def build_widgets(extra_path: Path | None) -> dict:
    """Run tests/widget_cells.py in a fresh interpreter, with ``extra_path`` first on sys.path."""
    paths = [str(p) for p in (extra_path, ROOT) if p] + [os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "widget_cells.py")], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def colab_report() -> dict:
    report = build_widgets(install_colab_widgets())
    assert report["ipywidgets"] == COLAB_VERSION and str(TARGET) in report["ipywidgets_file"]
    return report


@pytest.fixture(scope="module")
def pinned_report() -> dict:
    return build_widgets(None)


def test_lecturelib_accepts_colabs_ipywidgets_and_the_pinned_one():
    """pip keeps an installed ipywidgets that satisfies lecturelib's range: Colab's is never upgraded."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    widgets = next(Requirement(d) for d in dependencies if Requirement(d).name == "ipywidgets")
    pinned = next(line.split("==")[1] for line in (ROOT / "requirements.txt").read_text().splitlines()
                  if line.startswith("ipywidgets=="))
    assert widgets.specifier.contains(COLAB_VERSION) and widgets.specifier.contains(pinned)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_widgets_build_with_colabs_ipywidgets(path, colab_report):
    chapter = colab_report["chapters"][path.name]
    assert chapter["error"] is None, f"{path.name} with ipywidgets {COLAB_VERSION}: {chapter['error']}"
    if chapter["statements"]:
        assert "interactive" in chapter["built"], f"{path.name}: no interact() was built"


def test_the_skeletons_reach_every_chapter_with_widgets(colab_report):
    """Control: the chapters that use ipywidgets are found (every chapter has a widget)."""
    with_widgets = {name for name, chapter in colab_report["chapters"].items() if chapter["statements"]}
    assert with_widgets == {path.name for path in NOTEBOOKS}, sorted(with_widgets)


def test_pinned_ipywidgets_builds_the_same_widgets(colab_report, pinned_report):
    """Control: the pinned ipywidgets 8 builds the same widgets from the same code."""
    assert pinned_report["ipywidgets"] != colab_report["ipywidgets"]
    for name, chapter in pinned_report["chapters"].items():
        assert chapter["error"] is None, f"{name}: {chapter['error']}"
        assert [c for c in chapter["built"] if not c.endswith(("Layout", "Style"))] == \
            [c for c in colab_report["chapters"][name]["built"] if not c.endswith(("Layout", "Style"))], name
