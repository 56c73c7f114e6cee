"""Create a new chapter notebook from the template, with its title and Colab badge filled in.

Usage: .venv/bin/python scripts/new_chapter.py 10 "Chapter title" my_topic
writes notebooks/10_my_topic.ipynb. Add it to _toc.yml once it is real (no placeholder chapters).
"""

import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "book" / "templates" / "chapter_template.ipynb"


def colab_url(notebook: str) -> str:
    """Colab address of ``notebook`` (a path relative to the repository root)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"].get("branch", "main")
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}"


def main(number: str, title: str, slug: str) -> None:
    if not re.fullmatch(r"\d{2}", number) or not re.fullmatch(r"[a-z0-9_]+", slug):
        raise SystemExit("usage: new_chapter.py NN 'Title' slug  (NN two digits, slug in [a-z0-9_])")
    path = f"notebooks/{number}_{slug}.ipynb"
    nb = nbformat.read(TEMPLATE, as_version=4)
    header = nb.cells[0].source
    header = header.replace("Chapter title", title).replace("notebooks/NN_chapter.ipynb", path)
    header = re.sub(r"https://colab\.research\.google\.com/github/\S+?\.ipynb", colab_url(path), header)
    nb.cells[0].source = header
    target = ROOT / path
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        raise SystemExit(f"{target} exists")
    nbformat.write(nb, target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
