"""The Colab install cell of every chapter (and of the template), executed as IPython would run it.

Colab itself is out of reach, so each first code cell is transformed by IPython's own input
transformer (``%pip`` becomes ``get_ipython().run_line_magic(...)``) and run twice: with a
stand-in ``google.colab`` module, where it must ask for exactly one ``pip install`` of
``lecturelib`` from the repository in ``_config.yml`` and never name torch (Colab's CUDA build must
stay); and without it, where it must do nothing.
"""

from __future__ import annotations

import shlex
import tomllib
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TEMPLATE = ROOT / "book" / "templates" / "chapter_template.ipynb"
REPO_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
PYPROJECT = (ROOT / "pyproject.toml").read_text()


class FakeShell:
    """Records the magics a cell asks for instead of running them."""

    def __init__(self) -> None:
        self.magics: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> None:
        self.magics.append((name, line))

    def system(self, command: str) -> None:  # `!pip ...` would land here
        self.magics.append(("!", command))


def install_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def run_cell(source: str, on_colab: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Run ``source`` as IPython would, on Colab or not; return the magics it called."""
    code = TransformerManager().transform_cell(source)
    shell = FakeShell()
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: shell, "__name__": "__main__"})
    return shell.magics


CELLS = [TEMPLATE, *NOTEBOOKS]


@pytest.mark.parametrize("path", CELLS, ids=lambda p: p.name)
def test_install_cell_installs_lecturelib_from_the_repository_on_colab_only(path, monkeypatch):
    source = install_cell(path)
    assert run_cell(source, on_colab=False, monkeypatch=monkeypatch) == [], \
        f"{path.name}: the install cell must do nothing outside Colab"
    magics = run_cell(source, on_colab=True, monkeypatch=monkeypatch)
    assert len(magics) == 1, f"{path.name}: expected exactly one install on Colab, got {magics}"
    name, line = magics[0]
    assert name == "pip", f"{path.name}: install with %pip (installs into the running kernel), got {name}"
    words = shlex.split(line)
    assert words[0] == "install", words
    requirements = [Requirement(w) for w in words[1:] if not w.startswith("-")]
    assert [r.name for r in requirements] == ["lecturelib"], f"{path.name}: installs {requirements}"
    assert requirements[0].url == f"git+{REPO_URL}", \
        f"{path.name}: must install from git+{REPO_URL} (repository.url in _config.yml)"
    assert "torch" not in line, f"{path.name}: must not touch Colab's own torch"
    for flag in ("--upgrade", "-U", "--force-reinstall", "--no-deps"):
        assert flag not in words, f"{path.name}: {flag} would replace Colab's packages or skip ours"


def test_stand_in_is_what_the_cell_checks():
    """The cell keys on ``google.colab`` being imported, which Colab's kernel always does."""
    assert '"google.colab" in sys.modules' in install_cell(TEMPLATE)


def test_the_installed_package_is_lecturelib_and_leaves_colab_torch_alone():
    """pip keeps an installed torch only if lecturelib's requirements are ranges, never pins."""
    pyproject = tomllib.loads(PYPROJECT)
    assert pyproject["project"]["name"] == "lecturelib"
    for dependency in map(Requirement, pyproject["project"]["dependencies"]):
        operators = {spec.operator for spec in dependency.specifier}
        assert operators <= {">="}, f"{dependency}: only lower bounds, so Colab's versions satisfy it"
    torch = next(Requirement(d) for d in pyproject["project"]["dependencies"] if d.startswith("torch"))
    for colab_torch in ("2.4.1+cu121", "2.6.0+cu124", "2.8.0+cu126"):
        assert torch.specifier.contains(colab_torch.split("+")[0]), colab_torch
