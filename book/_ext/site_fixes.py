"""Three fixes to the pages Jupyter Book 1.0 writes, all caught by the browser tests (tests/browser).

1. Inline scripts twice per page. Sphinx 7.4 keeps an inline script (``app.add_js_file(None,
   body=...)``) registered after the builder started once under the name ``None`` and once more,
   when it writes, under ``''``, so the two copies do not compare equal. sphinx-thebe's
   ``const THEBE_JS_URL = ...`` then throws "Identifier 'THEBE_JS_URL' has already been declared"
   on every page (sphinx-togglebutton's selector is doubled too, harmlessly). Each page keeps the
   first copy of identical scripts.
2. Pages with widgets: ``static/widgets_shim.js`` is loaded just before the widget manager
   (whatever ``nb_ipywidgets_js`` holds: the CDN by default, the site's copy with
   ``scripts/book_config.py --offline``), so its icon fonts load and widget labels do not throw
   under MathJax 3 (see that file).
3. Collapsed solutions: a click on the exercise link inside a solution's title threw in
   sphinx-togglebutton and left the solution shut; ``static/toggle_titles.css`` sends such clicks
   to the title.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

STATIC = Path(__file__).with_name("static")
SHIM = "widgets_shim.js"
TOGGLE_CSS = "toggle_titles.css"


def _script_key(script: Any) -> tuple:
    """What makes two script entries the same script (an unnamed one is ``None`` or ``''``)."""
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {})
    return (str(filename), getattr(script, "priority", 500), tuple(sorted(attributes.items())))


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder's own list: it restores it after each page


def add_widgets_shim(app: Sphinx, config: Config) -> None:
    """Put ``widgets_shim.js`` right before the widget manager in ``nb_ipywidgets_js``."""
    scripts = dict(config.nb_ipywidgets_js)
    manager = next((path for path in scripts if path.endswith("embed-amd.js")), None)
    if manager is None or SHIM in scripts:
        return
    # The fonts lie beside embed-amd.js: an absolute URL (CDN), or a path relative to _static/
    # like the shim's own, which the shim resolves against its URL.
    shim = {SHIM: {"data-assets-path": posixpath.dirname(manager) + "/"}}
    config.nb_ipywidgets_js = {**{k: v for k, v in scripts.items() if k != manager}, **shim,
                               manager: scripts[manager]}


def add_static(app: Sphinx, config: Config) -> None:
    """Serve ``static/`` (the widgets shim and the toggle-title stylesheet) from ``_static/``."""
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", add_static)
    app.connect("config-inited", add_widgets_shim)
    app.add_css_file(TOGGLE_CSS)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
