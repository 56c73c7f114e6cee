"""Write a variant of the book's _config.yml (used by `make test-book` and `make book-nosolutions`).

By default notebook execution is turned off: the warning-free Sphinx build in the tests checks
structure (TOC, cross-references, citations) while nbval executes the notebooks in the same test
run, so executing them twice would only double the time.

usage: check_config.py SOURCE TARGET [--execute MODE] [--hide-solutions]
"""

import argparse
from pathlib import Path

import yaml

parser = argparse.ArgumentParser()
parser.add_argument("source", type=Path)
parser.add_argument("target", type=Path)
parser.add_argument("--execute", default="off", choices=("off", "cache", "force", "auto"))
parser.add_argument("--hide-solutions", action="store_true")
args = parser.parse_args()
config = yaml.safe_load(args.source.read_text())
config.setdefault("execute", {})["execute_notebooks"] = args.execute
# local extension paths are relative to the config file: keep them pointing at the book's folder
extensions = config.get("sphinx", {}).get("local_extensions") or {}
for name, path in extensions.items():
    extensions[name] = str((args.source.resolve().parent / path).resolve())
if args.hide_solutions:
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
args.target.parent.mkdir(parents=True, exist_ok=True)
args.target.write_text(yaml.safe_dump(config, sort_keys=False))
print(f"wrote {args.target} (execution {args.execute}{', no solutions' if args.hide_solutions else ''})")
