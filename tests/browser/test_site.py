"""Every page of the built book in headless Chromium (`make test-browser`; skipped without BOOK_SITE).

BOOK_SITE: the built HTML folder (make test-browser: the site at the tiny scale, offline assets);
SCREENSHOTS: where the screenshot of each page goes (default _build/screenshots).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.browser.sitecheck import check_page, serve

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ["BOOK_SITE"]) if os.environ.get("BOOK_SITE") else None
SHOTS = Path(os.environ.get("SCREENSHOTS", ROOT / "_build" / "screenshots"))
pytestmark = pytest.mark.skipif(SITE is None, reason="set BOOK_SITE to a built site (make test-browser)")


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters") or []]


REPORTS: dict[str, object] = {}


@pytest.fixture(scope="module")
def base_url():
    with serve(SITE) as url:
        yield url


@pytest.mark.parametrize("name", toc_pages())
def test_page(page, base_url, name):
    name = name.removesuffix(".ipynb").removesuffix(".md")
    assert (SITE / f"{name}.html").is_file(), f"{name}.html was not built"
    report = check_page(page, f"{base_url}{name}.html", screenshot=SHOTS / f"{name.replace('/', '__')}.png")
    REPORTS[name] = report
    assert not report.problems, "\n".join(report.problems)
    if name.startswith("notebooks/"):
        assert report.maths > 0, "a chapter without typeset maths"
        assert report.images > 0, "a chapter without a figure"


def test_site_has_a_widget_and_a_solution_that_opens():
    chapters = [r for n, r in REPORTS.items() if n.startswith("notebooks/")]
    if not chapters:
        pytest.skip("no chapter page was checked")
    assert any(r.widgets for r in chapters), "no chapter renders a widget"
    assert any(r.solutions_opened for r in chapters), "no chapter has a solution that opens"
