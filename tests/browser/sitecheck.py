"""Serve a built site on 127.0.0.1 and check its pages in headless Chromium (Playwright).

Used by `make test-browser` (tests/browser/test_site.py, on the real book built at the tiny scale)
and by tests/browser/test_throwaway_book.py (a small book built in a temporary folder).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

# The one request a page may make beyond the site: the "Open in Colab" badge at the top of each
# chapter, an image on Colab's site. Its link leads to Colab, which needs the internet anyway, and
# without internet the badge shows its alt text ("Open In Colab"). The test still blocks it, so no
# page can depend on it; it is only not reported. Nothing else may leave the site.
OFFLINE_EXCEPTIONS = frozenset({"https://colab.research.google.com/assets/colab-badge.svg"})

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """The system Chromium ($CHROMIUM, else chromium / chromium-browser / google-chrome on PATH)."""
    candidates = [os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    for candidate in filter(None, candidates):
        found = shutil.which(candidate)
        if found:
            return found
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class PageReport:
    """What one page did in the browser."""

    url: str
    problems: list[str] = field(default_factory=list)
    widgets: int = 0  # widget views rendered
    maths: int = 0  # MathJax-typeset formulas
    images: int = 0  # images of the content (figures, badges) that loaded
    solutions_opened: int = 0


# Runs in the page: wait for MathJax, then report maths, images and widgets.
_INSPECT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const raw = [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'))
      .map(e => e.textContent.slice(0, 60));
  const loaded = i => i.complete && i.naturalWidth > 0;
  return {
    mathSource: document.querySelectorAll('.math').length,
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
    raw: raw,
    // Figures: images of the page's content that loaded (not the theme's logos and launch icons).
    images: [...document.querySelectorAll('article img')].filter(loaded).length,
    broken: [...document.querySelectorAll('img')].filter(i => !loaded(i)).map(i => i.getAttribute('src')),
    widgetScripts: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets: document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets.widget-inline-hbox, .widget-slider, .widget-interact').length,
    // A cell's printed lines in one box (myst-nb's nb_merge_streams), not one box per print.
    splitStreams: [...document.querySelectorAll('.cell_output')].filter(out => [...out.children].some(
        (e, i, all) => i > 0 && e.matches('.output.stream') && all[i - 1].matches('.output.stream')))
        .map(out => out.textContent.trim().slice(0, 60)),
  };
}"""


def check_page(page, url: str, screenshot: Path | None = None) -> PageReport:
    """Open ``url`` in the Playwright ``page``; every problem found is listed in the report.

    Problems: console errors, uncaught exceptions, failed or non-local requests (the site must
    work offline; only OFFLINE_EXCEPTIONS may fail), maths left untypeset or with TeX errors,
    images that did not load, a cell's printed output split into several boxes, widget views
    that did not render, solutions that do not open.
    """
    report = PageReport(url)
    host = urlparse(url).netloc

    def console(message) -> None:
        if message.type == "error" and message.location.get("url") not in OFFLINE_EXCEPTIONS:
            report.problems.append(f"console error: {message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda e: report.problems.append(f"uncaught exception: {e}"))
    page.on("requestfailed", lambda r: r.url in OFFLINE_EXCEPTIONS
            or report.problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and report.problems.append(f"HTTP {r.status}: {r.url}"))

    def route(request_route):
        url = request_route.request.url
        target = urlparse(url)
        if target.scheme in ("http", "https") and target.netloc != host:
            if url not in OFFLINE_EXCEPTIONS:
                report.problems.append(f"requested a non-local URL (breaks offline use): {url}")
            return request_route.abort()
        return request_route.continue_()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    found = page.evaluate(_INSPECT)
    report.maths, report.images = found["typeset"], found["images"]
    if found["mathSource"] and not found["typeset"]:
        report.problems.append(f"{found['mathSource']} formulas, none typeset by MathJax")
    report.problems += [f"maths not typeset: {r!r}" for r in found["raw"]]
    report.problems += [f"TeX error: {e}" for e in found["mathErrors"]]
    report.problems += [f"image did not load: {src}" for src in found["broken"] if src not in OFFLINE_EXCEPTIONS]
    report.problems += [f"printed output split into one box per print: {text!r}" for text in found["splitStreams"]]
    if found["widgetScripts"]:
        # The widget manager replaces each saved view with live DOM; give it a moment.
        page.wait_for_timeout(500)
        report.widgets = page.evaluate(
            "() => document.querySelectorAll('.widget-slider, .widget-interact, .jupyter-widgets.widget-box').length")
        if not report.widgets:
            report.problems.append(f"{found['widgetScripts']} saved widget views, none rendered")
    report.solutions_opened = _open_solutions(page, report)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    return report


def _open_solutions(page, report: PageReport) -> int:
    """Click the first collapsed solution's toggle and check its content appears."""
    solutions = page.locator("div.solution.dropdown, details.solution")
    if not solutions.count():
        return 0
    first = solutions.first
    body = first.locator(".solution-content, section, p:not(.admonition-title)").first
    if body.is_visible():
        report.problems.append("a solution is open before it is clicked (should be a collapsed dropdown)")
        return 0
    first.locator("button.toggle-button, .admonition-title, summary").first.click()
    page.wait_for_timeout(300)
    if not body.is_visible():
        report.problems.append("clicking a solution's toggle did not open it")
        return 0
    return 1
