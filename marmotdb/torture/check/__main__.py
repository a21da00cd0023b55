"""``python -m marmotdb.torture.check RUN_DIR [RUN_DIR2]``: check one run (or two side by side),
write the report files into RUN_DIR, print the summary. ``--all OUT``: every run under a torture
session's output directory, marmotdb beside Galera, and the matrix report (matrix.py). Exit 1
when any checker found a violation, 2 when a run directory cannot be read."""

from __future__ import annotations

import argparse
import pathlib
import sys

from marmotdb.torture.check import matrix, report
from marmotdb.torture.check.history import HistoryFormatError
from marmotdb.torture.check.suite import check_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marmotdb.torture.check",
                                     description=__doc__)
    parser.add_argument("run_dir", type=pathlib.Path)
    parser.add_argument("compare_dir", type=pathlib.Path, nargs="?",
                        help="a second run (e.g. Galera) reported side by side")
    parser.add_argument("--all", action="store_true",
                        help="RUN_DIR is a session's output directory: check every run in it")
    args = parser.parse_args(argv)
    try:
        if args.all:
            verdicts = matrix.check_all(args.run_dir)
            if not verdicts:
                raise HistoryFormatError(f"{args.run_dir}: no run directory in it")
            print(matrix.write(verdicts, args.run_dir), end="")
        else:
            verdicts = [check_run(d) for d in (args.run_dir, args.compare_dir) if d is not None]
            print(report.write(verdicts, args.run_dir), end="")
    except HistoryFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(v.valid for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
