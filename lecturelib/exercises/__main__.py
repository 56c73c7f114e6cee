"""``python -m lecturelib.exercises {student,nbgrader} [NOTEBOOK ...] --out DIR`` and ``... scan SITE``."""

import argparse
import sys
from pathlib import Path

from lecturelib.exercises.notebooks import write_versions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lecturelib.exercises",
                                     description="Write student notebooks (solutions replaced by stubs) "
                                                 "or nbgrader source notebooks from the chapters, or scan a "
                                                 "built site for solutions.")
    commands = parser.add_subparsers(dest="kind", required=True)
    for kind, text in (("student", "solutions replaced by stubs, outputs cleared"),
                       ("nbgrader", "nbgrader's source notebooks (solution cells marked)")):
        command = commands.add_parser(kind, help=text)
        command.add_argument("notebooks", nargs="*", type=Path,
                             help="chapter notebooks (default: every notebooks/*.ipynb)")
        command.add_argument("--out", type=Path, required=True, help="folder to write into")
    scan = commands.add_parser("scan", help="list every solution line found in any file under SITE "
                                            "(exit status 1 if there is one)")
    scan.add_argument("site", type=Path, help="the built site, e.g. _build/nosolutions/_build/html")
    scan.add_argument("notebooks", nargs="*", type=Path,
                      help="chapter notebooks whose solutions to look for (default: every notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    if not notebooks:
        parser.error("no notebooks given and none found in ./notebooks")
    if args.kind == "scan":
        from lecturelib.exercises.leaks import scan as scan_site

        if not args.site.is_dir():
            parser.error(f"{args.site} is not a folder")
        leaks = scan_site(args.site, notebooks)
        for leak in leaks:
            print(leak)
        files = sum(1 for p in args.site.rglob("*") if p.is_file())
        print(f"{len(leaks)} solution lines found in {len({leak.path for leak in leaks})} of the {files} files "
              f"under {args.site} ({len(notebooks)} chapters)")
        sys.exit(1 if leaks else 0)
    for path in write_versions(notebooks, args.out, args.kind):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
