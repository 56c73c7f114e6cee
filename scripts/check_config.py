"""Write a copy of the book's _config.yml with notebook execution off (used by `make test-book`).

The warning-free Sphinx build in the tests checks structure (TOC, cross-references, citations);
the notebooks themselves are executed by nbval in the same test run, so executing them twice
would only double the time.
"""

import sys
from pathlib import Path

import yaml

source, target = Path(sys.argv[1]), Path(sys.argv[2])
config = yaml.safe_load(source.read_text())
config.setdefault("execute", {})["execute_notebooks"] = "off"
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(yaml.safe_dump(config, sort_keys=False))
print(f"wrote {target} (execution off)")
