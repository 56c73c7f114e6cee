"""``python -m lecturelib.exercises {student,nbgrader} [NOTEBOOK ...] --out DIR``."""

import argparse
from pathlib import Path

from lecturelib.exercises.notebooks import write_versions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lecturelib.exercises",
                                     description="Write student notebooks (solutions replaced by stubs) "
                                                 "or nbgrader source notebooks from the chapters.")
    parser.add_argument("kind", choices=("student", "nbgrader"))
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="chapter notebooks (default: every notebooks/*.ipynb)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    if not notebooks:
        parser.error("no notebooks given and none found in ./notebooks")
    for path in write_versions(notebooks, args.out, args.kind):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
