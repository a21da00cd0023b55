"""``marmotdb torture`` / ``python -m marmotdb.torture``: the command line of the runner.

``--workload all`` runs every workload one after another and ``--galera`` adds, for each, the
same run against a 3-node MariaDB Galera cluster; each run gets its own directory under
``--out`` (``<workload>-<faults>/`` and ``galera-<workload>-<faults>/``). Exit status: 0 when
every run completed and the checker (if present) passed, 1 when a checker found something or a
run had problems, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

# The choices, spelled out so that `marmotdb serve` (whose parser this joins) does not import
# the runner and PyMySQL; a test holds them equal to workloads.WORKLOADS and nemesis.CLASSES.
WORKLOAD_NAMES = ("list-append", "bank", "set", "register", "counter", "ddl", "bank2")
FAULT_CLASSES = ("partition", "kill", "pause", "clock", "disk-full", "loss")
DESCRIPTION = ("Run a Jepsen-style workload from many clients against real marmotdb nodes under "
               "a fault schedule, heal, converge, and write a history for the checker "
               "(marmotdb/torture/DESIGN.md).")
LEVELS = ("ONE", "QUORUM", "ALL")
READ_LEVELS = ("LOCAL", "QUORUM", "STALE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    parser.add_argument("--workload", default="list-append", choices=[*WORKLOAD_NAMES, "all"])
    parser.add_argument("--faults", default="none", type=_faults, metavar="CLASSES",
                        help=f"none, all, or classes joined by commas: "
                             f"{', '.join(FAULT_CLASSES)} (default none)")
    parser.add_argument("--time", type=float, default=60.0, dest="time_s",
                        help="seconds of load (default 60)")
    parser.add_argument("--clients", type=int, default=10, help="client threads (default 10)")
    parser.add_argument("--consistency", default="QUORUM", choices=LEVELS,
                        help="marmot_write_consistency of every client (default QUORUM)")
    parser.add_argument("--read-consistency", choices=READ_LEVELS, default=None,
                        help="marmot_read_consistency (default LOCAL; QUORUM for register)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the run dirs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-s", type=float, default=5.0, help="length of each fault")
    parser.add_argument("--quiet-s", type=float, default=5.0, help="pause between faults")
    parser.add_argument("--loopback", action="store_true",
                        help="loopback + transport fault layer even where netns works")
    parser.add_argument("--galera", action="store_true",
                        help="also run each workload against a 3-node MariaDB Galera cluster")
    parser.add_argument("--converge-s", type=float, default=120.0, dest="converge_s",
                        help="seconds the healed cluster has to settle (default 120)")
    parser.add_argument("--no-check", action="store_true", help="do not run the checker")


def _faults(text: str) -> str:
    if text in ("none", "all") or set(text.split(",")) <= set(FAULT_CLASSES):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: want none, all or some of "
                                     f"{', '.join(FAULT_CLASSES)} joined by commas")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("torture", help="Jepsen-style workloads under faults",
                                 description=DESCRIPTION)
    add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    if args.nodes < 1 or args.clients < 1 or args.time_s <= 0:
        print("marmotdb torture: --nodes, --clients and --time must be positive",
              file=sys.stderr)
        return 2
    from marmotdb.torture import summary
    from marmotdb.torture.run import RunOptions, check, run
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the nodes are stopped and the network
    # namespaces, routes and tmpfs mounts removed instead of left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    workloads = list(WORKLOAD_NAMES) if args.workload == "all" else [args.workload]
    worst = 0
    for workload in workloads:
        dirs: list[Path] = []
        for galera in (False, True) if args.galera else (False,):
            options = RunOptions(workload, args.faults, args.nodes, args.time_s, args.clients,
                                 args.consistency, args.read_consistency, args.seed,
                                 args.quiet_s, args.fault_s, galera, not args.loopback,
                                 not args.no_check, args.converge_s)
            name = f"{'galera-' if galera else ''}{workload}-{args.faults.replace(',', '+')}"
            result = run(options, args.out / name)
            print(f"{name}: {result.run_dir}\n{summary.render(result.summary)}"
                  f"  problems: {result.meta['problems'] or 'none'}\n"
                  f"  file audit: {result.meta.get('file_audit', '-')}\n"
                  f"  checker: {result.check_output.strip()[-2000:]}", flush=True)
            if result.meta["problems"] or (result.check_status not in (None, 0)):
                worst = 1
            dirs.append(result.run_dir)
        if len(dirs) == 2 and not args.no_check:  # marmotdb beside Galera, one report
            status, output = check(*dirs)
            print(f"side by side: {dirs[0] / 'check.txt'}\n{output.strip()[-3000:]}", flush=True)
    return worst


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def entry(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marmotdb.torture", description=DESCRIPTION)
    add_arguments(parser)
    return main(parser.parse_args(argv))
