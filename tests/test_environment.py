"""The documented set-up matches the pins: Python version, torch floor, the CPU wheel in CI."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PINS = [Requirement(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def lowest_python() -> Version:
    """The lowest Python that ``requires-python`` admits (a ``>=X.Y`` range)."""
    (spec,) = SpecifierSet(PYPROJECT["requires-python"])
    assert spec.operator == ">=", "requires-python should be a lower bound"
    return Version(spec.version)


def floor(name: str) -> Version:
    requirement = next(Requirement(d) for d in PYPROJECT["dependencies"] if Requirement(d).name == name)
    (spec,) = requirement.specifier
    return Version(spec.version)


@pytest.mark.parametrize("pin", PINS, ids=lambda r: r.name)
def test_every_pin_installs_on_the_lowest_supported_python(pin):
    """Each pinned distribution's own Requires-Python admits requires-python's lower bound
    (numpy 2.4, scipy 1.17, pandas 3.1 and scikit-learn 1.9 need 3.11, soupsieve 4.1 3.11.5)."""
    try:
        installed = metadata.metadata(pin.name)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{pin.name} is not installed here")
    assert pin.specifier.contains(installed["Version"].split("+")[0]), \
        f"{pin.name}: the environment has {installed['Version']}, requirements.txt pins {pin.specifier}"
    needs = installed.get("Requires-Python")
    if needs:
        assert SpecifierSet(needs).contains(lowest_python()), \
            f"{pin} needs Python {needs}, but pyproject.toml says {PYPROJECT['requires-python']}"


def test_docs_name_the_supported_python():
    assert f"Python {lowest_python()}+" in (ROOT / "README.md").read_text()
    assert f"Python {lowest_python()} or newer" in (ROOT / "book" / "how_to_use.md").read_text()
    version = f"{lowest_python().major}.{lowest_python().minor}"  # the newest release of that minor version
    assert f"python={version}" in (ROOT / "environment.yml").read_text()
    for path in WORKFLOWS:
        for step in yaml.safe_load(path.read_text())["jobs"]["build" if "book" in path.name else "test"]["steps"]:
            if "setup-python" in step.get("uses", ""):
                assert step["with"]["python-version"] == version, f"{path.name} tests another Python"


def test_torch_floor_has_the_features_lecturelib_uses():
    """training.adam asks for the fused Adam step on CPU parameters, which torch has from 2.4."""
    assert "fused=fused" in (ROOT / "lecturelib" / "training.py").read_text()
    assert floor("torch") >= Version("2.4")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_install_the_cpu_torch_wheel(path):
    """Every make call that creates the environment in CI names PyTorch's CPU index."""
    runs = [step["run"] for job in yaml.safe_load(path.read_text())["jobs"].values()
            for step in job["steps"] if "run" in step]
    makes = [run for run in runs if re.match(r"make\b", run)]
    assert makes, f"{path.name} runs no make target"
    for run in makes:
        assert f"TORCH_INDEX={CPU_INDEX}" in run, f"{path.name}: `{run}` would install PyPI's CUDA torch"


def test_makefile_installs_torch_from_torch_index_first():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): requirements.txt pyproject.toml", 1)[1].split("\n\n", 1)[0]
    torch_line = recipe.index("--index-url $(TORCH_INDEX)")
    assert torch_line < recipe.index("-r requirements.txt"), "torch must come from TORCH_INDEX before the pins"
