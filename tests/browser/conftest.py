"""Headless Chromium for the browser tests, skipped where Playwright or Chromium is missing."""

from __future__ import annotations

import pytest

from tests.browser.sitecheck import CHROMIUM_ARGS, chromium_path


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-browser.txt")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium: apt-get install chromium, or set CHROMIUM=/path/to/chrome")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()
