"""The reader's-experience machinery on a small book built in a temporary folder.

The book holds the chapter template and a throw-away notebook with a slider, maths and an image;
it is built with the repository's configuration (offline assets on) and every page is checked in
headless Chromium. Skipped without Playwright/Chromium; `make test-browser` runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from tests.browser.sitecheck import check_page, serve

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from book_config import book_config  # noqa: E402
from offline_assets import fetch  # noqa: E402

WIDGET_NOTEBOOK = [
    ("markdown", "# Throw-away\n\nInline $\\beta$ and display maths:\n\n$$\n\\mathcal{L}(\\theta) = "
                 "\\mathbb{E}_{q}\\left[\\log p_\\theta(x \\mid z)\\right]\n$$"),
    ("code", "import ipywidgets as widgets\nwidgets.IntSlider(value=3, min=0, max=10, description=r'$\\beta$')"),
    ("code", "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"),
]


def build_throwaway_book(folder: Path, assets: Path) -> Path:
    """Write and build the small book in ``folder``; return its HTML folder."""
    (folder / "notebooks").mkdir(parents=True)
    (folder / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", folder / "book" / "references.bib")
    shutil.copy(ROOT / "book" / "templates" / "chapter_template.ipynb", folder / "notebooks" / "01_template.ipynb")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell(s) if kind == "markdown" else nbformat.v4.new_code_cell(s)
                for kind, s in WIDGET_NOTEBOOK]
    nbformat.write(nb, folder / "notebooks" / "02_throwaway.ipynb")
    (folder / "index.md").write_text("# Index\n\nThe maths $x^2$ of the index page.\n")
    shutil.copy(ROOT / "book" / "references.md", folder / "references.md")
    toc = {"format": "jb-book", "root": "index", "chapters": [{"file": "notebooks/01_template"},
                                                              {"file": "notebooks/02_throwaway"}, {"file": "references"}]}
    (folder / "_toc.yml").write_text(yaml.safe_dump(toc))
    config = book_config(yaml.safe_load((ROOT / "_config.yml").read_text()), offline=str(assets), scale="tiny", root=ROOT)
    (folder / "_config.yml").write_text(yaml.safe_dump(config))
    # The kernel draws figures with matplotlib's inline backend, as `make book` has it; under the
    # Agg backend the tests set (tests/conftest.py), plt.show() would leave no figure on the page.
    env = {**os.environ, "LECTURELIB_SCALE": "tiny", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(folder), "-W", "--keep-going", "-q"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "_build" / "html"


@pytest.fixture(scope="module")
def site(tmp_path_factory, browser):  # browser first: skip before building when there is none
    assets = fetch(ROOT / "_build" / "offline_assets")
    return build_throwaway_book(tmp_path_factory.mktemp("book"), assets)


def test_widget_state_is_saved_and_assets_are_local(site):
    html = (site / "notebooks" / "02_throwaway.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in html, "widget state was not saved at execution"
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html, "a page still loads scripts from a CDN"
    assert (site / "_static" / "widgets" / "embed-amd.js").is_file()
    shipped = {p.relative_to(site / "_static").parts[0] for p in (site / "_static").rglob("*")}
    assert ".pins.json" not in shipped


# What each page must show. The template has no maths in its prose (only in figure labels, which
# matplotlib draws), so MathJax is not even loaded there; the throw-away notebook has no solution.
EXPECTED = {
    "index": {"maths": 1},
    "notebooks/01_template": {"images": 1, "widgets": 1, "solutions_opened": 1},
    "notebooks/02_throwaway": {"maths": 2, "images": 1, "widgets": 1},
}


@pytest.mark.parametrize("name", EXPECTED)
def test_page_in_chromium(site, page, name, tmp_path):
    with serve(site) as base:
        report = check_page(page, f"{base}{name}.html", screenshot=tmp_path / "shot.png")
    assert not report.problems, "\n".join(report.problems)
    assert (tmp_path / "shot.png").stat().st_size > 10_000
    for what, least in EXPECTED[name].items():
        assert getattr(report, what) >= least, f"{what}: {getattr(report, what)} < {least}; {report}"
    if name == "notebooks/02_throwaway":  # the widget manager asks MathJax to typeset its labels
        assert page.locator(".widget-label mjx-container").count() == 1, "the slider's label $\\beta$ is not typeset"
