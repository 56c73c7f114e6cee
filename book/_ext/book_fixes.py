"""Small Sphinx fixes for the book's HTML, found by the browser test (`make test-browser`).

- sphinx-thebe is set up twice under Jupyter Book 1 (by Jupyter Book and by sphinx-book-theme), so
  every page declared ``const THEBE_JS_URL`` twice: an uncaught SyntaxError on every page. Keep
  the first copy of each script.
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = (str(script), tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    # Early: html-page-context stops at the first handler that returns a template name.
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
