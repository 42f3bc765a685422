"""``python -m dgm.course``: the instructor's commands (see ``dgm.course``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import execute, grade, notebooks, site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm.course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("notebooks", help="regenerate notebooks/ and the README tables from solutions/")
    sub.add_parser("check", help="exit 1 if anything generated is out of date")
    sub.add_parser("sync", help="sync solutions/*.ipynb with their jupytext .py twins")
    ex = sub.add_parser("execute", help="execute notebooks in place and record their run time")
    ex.add_argument("paths", nargs="+", type=Path)
    ex.add_argument("--fast", action="store_true", help="fast mode (DGM_FAST=1)")
    ex.add_argument("--timeout", type=int, default=3600, help="seconds a cell may run")
    ex.add_argument(
        "--time-only", action="store_true", help="record the time, leave the file as it is"
    )
    sub.add_parser("grade", help="grade a folder of submissions (python -m dgm.grade --help)")
    sub.add_parser("site", help="build the course website offline (--out DIR, default build/site)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "grade":
        return grade.main(rest)
    if args.command == "site":
        return site.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "notebooks":
        for path in notebooks.build_notebooks():
            print(f"wrote {path.relative_to(notebooks.ROOT)}")
    elif args.command == "check":
        found = notebooks.problems()
        for p in found:
            print(p)
        return 1 if found else 0
    elif args.command == "sync":
        notebooks.sync()
    elif args.command == "execute":
        execute.execute(args.paths, fast=args.fast, write=not args.time_only, timeout=args.timeout)
        notebooks.build_notebooks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
