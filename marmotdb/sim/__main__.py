"""``python -m marmotdb.sim``: run simulator scenarios by seed, report, and give replay commands.

    python -m marmotdb.sim --seed 42                      every scenario with seed 42
    python -m marmotdb.sim --seed 42 --scenario loss-30   one scenario
    python -m marmotdb.sim --seeds 1..200 --scenario all  a sweep
    python -m marmotdb.sim --seed 42 --scenario loss-30 --trace   every membership event
    python -m marmotdb.sim --seeds 1..300 --scenario sql-crash     one SQL node, crash, restart
    python -m marmotdb.sim --seed 7 --scenario sql-crash --crash recorded#3/power
    python -m marmotdb.sim --seeds 1..100 --scenario cluster-lossy  the distributed commit
    python -m marmotdb.sim --seeds 1..20 --scenario cluster-all     every cluster scenario
    python -m marmotdb.sim --seeds 1..10000 --scenario cluster-all --jobs 2 --quiet   the long one

Exit status 1 if any run violated an invariant; each failure prints its seed and the exact
command that replays it.
"""

from __future__ import annotations

import argparse
import sys

from marmotdb.cluster.membership import MemberEvent
from marmotdb.sim.cluster_nemesis import SCENARIOS as CLUSTER_SCENARIOS
from marmotdb.sim.runner import parse_seeds, report, run_one
from marmotdb.sim.scenarios import SCENARIOS
from marmotdb.sim.sql_world import SCENARIO as SQL_SCENARIO


def print_event(observer_id: int, event: MemberEvent, now_us: int) -> None:
    previous = event.previous.name if event.previous else "-"
    current = event.current.name if event.current else "forgotten"
    print(f"{now_us / 1e6:10.3f}s  {observer_id:>4} sees {event.node_id:<4} "
          f"{previous} -> {current} (incarnation {event.incarnation})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marmotdb.sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", type=int, help="one seed")
    which.add_argument("--seeds", type=parse_seeds, help="inclusive range A..B")
    parser.add_argument("--scenario", default="all",
                        help=f"one of: {', '.join(SCENARIOS)}, or all (default: the "
                        f"membership ones); {SQL_SCENARIO}: one SQL node crashed and restarted; "
                        f"{', '.join(CLUSTER_SCENARIOS)} or cluster-all: the distributed "
                        "commit between 3 or 5 nodes")
    parser.add_argument("--nodes", type=int, default=None,
                        help="cluster size (default: drawn from the seed: 3-7 for the "
                        "membership scenarios, 3 or 5 for the cluster ones)")
    parser.add_argument("--quiet", action="store_true", help="print failures and the total only")
    parser.add_argument("--trace", action="store_true",
                        help="print every membership event (time, observer, member, change)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="cluster scenarios only: worker processes running seeds side by "
                        "side (default: one per core; 1: in this process)")
    parser.add_argument("--crash", default=None, help=f"{SQL_SCENARIO} only: force the crash "
                        "point, e.g. recorded#3, io#120, before_batch_commit#2/power")
    args = parser.parse_args(argv)
    seeds = range(args.seed, args.seed + 1) if args.seed is not None else args.seeds
    if args.scenario == SQL_SCENARIO:
        from marmotdb.sim.sql_runner import main as sql_main
        return sql_main(seeds, args.crash, args.quiet)
    if args.scenario == "cluster-all" or args.scenario in CLUSTER_SCENARIOS:
        from marmotdb.sim.cluster_sweep import sweep as cluster_sweep
        which = list(CLUSTER_SCENARIOS) if args.scenario == "cluster-all" else [args.scenario]
        return report(cluster_sweep(seeds, which, args.nodes, args.jobs), args.quiet)
    if args.scenario != "all" and args.scenario not in SCENARIOS:
        parser.error(f"unknown scenario {args.scenario!r}")
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    on_event = print_event if args.trace else None
    return report((run_one(seed, scenario, args.nodes, on_event=on_event)
                   for seed in seeds for scenario in scenarios), args.quiet)


if __name__ == "__main__":
    sys.exit(main())
