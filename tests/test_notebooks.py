"""Every chapter notebook: stored without outputs, opens with the standard header, ends with the
standard closing sections, and is listed in _toc.yml (and every TOC entry exists).

The notebooks themselves are executed by `pytest --nbval-lax notebooks` (see the Makefile).
"""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TEMPLATE = ROOT / "book" / "templates" / "chapter_template.ipynb"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"].removeprefix("https://github.com/")
BRANCH = CONFIG["repository"].get("branch", "main")


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters") or []]
    return files


def header_problems(path: Path, relative: str) -> list[str]:
    """What is missing from the standard header and closing of a chapter notebook."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.startswith("# "):
        return ["first cell must be markdown starting with the '# ' title"]
    head = cells[0].source
    badge = f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{relative}"
    if badge not in head:
        problems.append(f"Colab badge must link to {badge}")
    if "colab-badge.svg" not in head:
        problems.append("Colab badge image missing")
    if "**What you will learn**" not in head:
        problems.append("'**What you will learn**' list missing")
    if "**Lecture slides:**" not in head:
        problems.append("'**Lecture slides:**' line missing")
    code = [c for c in cells if c.cell_type == "code"]
    if len(code) < 2:
        return problems + ["needs the Colab install cell and the setup cell"]
    install = code[0].source
    if '"google.colab" in sys.modules' not in install or "pip install" not in install:
        problems.append("first code cell must install lecturelib only on Colab")
    if "lecturelib.setup_notebook(" not in code[1].source:
        problems.append("second code cell must call lecturelib.setup_notebook(...)")
    headings = [line for c in cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    for section in ("## Summary", "## Exercises", "## References"):
        if section not in headings:
            problems.append(f"closing section '{section}' missing")
    return problems


def test_there_are_chapters():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_standard_header_and_closing(path):
    problems = header_problems(path, f"notebooks/{path.name}")
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_name_has_numeric_prefix(path):
    assert re.fullmatch(r"\d{2}_[a-z0-9_]+\.ipynb", path.name), path.name


def test_notebooks_numbered_in_reading_order_and_listed_in_toc():
    listed = [f for f in toc_files() if f.startswith("notebooks/")]
    on_disk = [f"notebooks/{p.stem}" for p in NOTEBOOKS]
    assert [f.removesuffix(".ipynb") for f in listed] == on_disk, "_toc.yml must list every chapter, in order"
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == sorted(set(numbers)), "chapter numbers must be unique"


def test_every_toc_entry_exists():
    for entry in toc_files():
        candidates = [ROOT / f"{entry}{ext}" for ext in ("", ".md", ".ipynb")]
        assert any(c.is_file() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


def test_template_passes_the_header_checks():
    assert header_problems(TEMPLATE, "notebooks/NN_chapter.ipynb") == []
