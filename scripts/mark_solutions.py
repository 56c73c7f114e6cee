"""Give every written solution of the chapters a markdown cell of its own, tagged ``solution``.

nbgrader clears a solution only in a cell marked as one, and a marked markdown cell is cleared
whole: a ``{solution}`` directive that shares its cell with the exercise would either reach the
students or take the exercise with it. This script splits such cells (text before, directive,
text after) and tags the directive's cell ``solution``
(:func:`lecturelib.exercises.notebooks.mark_written_solutions`). The rendered book is unchanged.
Running it again changes nothing.

Usage: python scripts/mark_solutions.py [--check] [NOTEBOOK ...]   (default: notebooks/*.ipynb)
--check   change nothing; list the notebooks that need marking and exit with status 1 if any
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lecturelib.exercises.notebooks import mark_written_solutions, unmarked_written_solutions  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    pending = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        unmarked = unmarked_written_solutions(nb)
        if not unmarked:
            continue
        pending.append(path)
        if args.check:
            print(f"{path}: written solutions to mark in cells {unmarked}")
        else:
            marked = mark_written_solutions(nb)
            nbformat.validate(marked)
            nbformat.write(marked, path)
            print(f"{path}: marked the written solutions of cells {unmarked}")
    if args.check and pending:
        print("run: python scripts/mark_solutions.py")
    return 1 if args.check and pending else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
