"""Write the configuration a `make` target builds the book with: `_config.yml` plus a few switches.

Usage: .venv/bin/python scripts/book_config.py _config.yml OUT.yml [--no-execute] [--offline DIR]
       [--scale NAME] [--cache DIR] [--hide-solutions]

--no-execute   notebook execution off (`make test-book`: nbval already executes every chapter,
               so the warning-free Sphinx build only checks structure, TOC, references, citations).
--offline DIR  serve MathJax, require.js and the widget manager from the site itself instead of
               CDNs (DIR filled by scripts/offline_assets.py, relative to the repository root), so
               the book works in a classroom without internet. On by default for `make book`.
--cache DIR    reuse the execution cache of another build (e.g. the default site's), so a
               variant of the site does not execute the chapters again.
--hide-solutions  build without any exercise solution (`make book-nosolutions`, graded courses).
--scale NAME   the compute scale the chapters are executed at, shown on the execution-statistics
               page (substitution {{ scale }}); default: $LECTURELIB_SCALE or "default".

Keeping `_config.yml` free of these keeps a plain `jupyter-book build .` working anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline_assets import MATHJAX_PATH, REQUIRE_PATH, WIDGETS_PATH  # noqa: E402


def book_config(config: dict, *, execute: bool = True, offline: str | None = None,
                scale: str = "default", hide_solutions: bool = False, cache: str | None = None,
                root: Path | None = None) -> dict:
    """Return a copy of the Jupyter Book ``config`` with the switches applied (see the module doc).

    ``root``: the folder of the source ``_config.yml``; local extension paths, which Jupyter Book
    reads relative to the config file, are made absolute against it.
    """
    config = yaml.safe_load(yaml.safe_dump(config))  # deep copy
    if root is not None:
        extensions = config.get("sphinx", {}).get("local_extensions") or {}
        for name, path in extensions.items():
            extensions[name] = str((root / path).resolve())
    if not execute:
        config.setdefault("execute", {})["execute_notebooks"] = "off"
    if cache:
        config.setdefault("execute", {})["cache"] = str(Path(cache).resolve())
    if hide_solutions:
        config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    parse = config.setdefault("parse", {})
    parse.setdefault("myst_substitutions", {})["scale"] = scale
    if offline:
        sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
        sphinx["html_static_path"] = [*sphinx.get("html_static_path", []), offline]
        # Relative paths below are relative to the built site's _static/ folder, where Sphinx
        # copies the contents of html_static_path.
        sphinx["mathjax_path"] = MATHJAX_PATH
        sphinx["nb_ipywidgets_js"] = {
            REQUIRE_PATH: {},
            # The core widgets (sliders, dropdowns, outputs) are inside embed-amd.js; the "CDN" is
            # only asked for third-party widget modules, which the book does not use.
            WIDGETS_PATH: {"data-jupyter-widgets-cdn": "_static/widgets/"},
        }
    return config


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--no-execute", action="store_true")
    parser.add_argument("--offline", metavar="DIR")
    parser.add_argument("--scale", default=os.environ.get("LECTURELIB_SCALE") or "default")
    parser.add_argument("--hide-solutions", action="store_true")
    parser.add_argument("--cache", metavar="DIR")
    args = parser.parse_args(argv)
    config = book_config(yaml.safe_load(args.source.read_text()), execute=not args.no_execute,
                         offline=args.offline, scale=args.scale,
                         hide_solutions=args.hide_solutions, cache=args.cache, root=args.source.resolve().parent)
    args.target.parent.mkdir(parents=True, exist_ok=True)
    args.target.write_text(yaml.safe_dump(config, sort_keys=False))
    switches = [s for s in ("execution off" if args.no_execute else "", f"offline assets from {args.offline}"
                            if args.offline else "", f"scale {args.scale}", "no solutions" if args.hide_solutions else "") if s]
    print(f"wrote {args.target} ({', '.join(switches)})")


if __name__ == "__main__":
    main(sys.argv[1:])
