"""DDL on a big table in a 3-node cluster: latency, event-loop responsiveness, write dip.

Theory of operation: starts three ``marmotdb serve`` processes on free loopback ports
(``marmotdb/torture/cluster.LocalCluster``), fills ``big`` with --rows rows through node 1
(10,000-row INSERT … SELECT statements, replicated like any write), then starts the load of
``tests/runtime/test_large_ddl.Load``: a writer on every node (INSERT into ``w`` and UPDATE of
``big`` by key, retrying 1213/1205/1047), a ``SELECT 1`` prober on nodes 1 and 2, a PROCESSLIST
poller on node 1. After --settle-s of load alone it runs on node 1, one after the other:

    rebuild      ALTER TABLE big MODIFY b VARCHAR(40) NOT NULL   (copies every row)
    index        ALTER TABLE big ADD INDEX ia (a)                (sorts every row)
    add column   ALTER TABLE big ADD COLUMN c INT DEFAULT 7      (SQLite: O(1))

and reports per DDL: its latency at the client (the coordinator answers once the DDL is
committed at QUORUM and applied by every live node: participant learn), the time until every
node's SHOW CREATE TABLE shows it, ``SELECT 1`` p50/p99/max on node 1 (the coordinator: the
DDL runs on a writer thread) and node 2 (a replica: it applies on a host worker) while the DDL
ran, and the writers' commits per second during the DDL against the --settle-s before it.

    python bench/ddl_large_bench.py --rows 1000000

Numbers are indicative only on a shared machine (other processes compete for the 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marmotdb.torture.cluster import LocalCluster  # noqa: E402
from tests.runtime.test_large_ddl import Load, connect, fill  # noqa: E402

DDLS = (("rebuild", "ALTER TABLE big MODIFY b VARCHAR(40) NOT NULL"),
        ("index", "ALTER TABLE big ADD INDEX ia (a)"),
        ("add column", "ALTER TABLE big ADD COLUMN c INT DEFAULT 7"))


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def everywhere(cluster: LocalCluster, marker: str, timeout_s: float = 600) -> float:
    """Seconds until every node's SHOW CREATE TABLE big contains ``marker``."""
    started = time.monotonic()
    waiting = set(cluster.ids())
    while waiting and time.monotonic() - started < timeout_s:
        for node_id in list(waiting):
            with connect(cluster, node_id, database="app") as conn, conn.cursor() as cur:
                cur.execute("SHOW CREATE TABLE big")
                if marker in cur.fetchall()[0][1]:
                    waiting.discard(node_id)
        time.sleep(0.05)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--settle-s", type=float, default=3.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ddl-large-bench-"))
    cluster = LocalCluster(root, 3)
    markers = {"rebuild": "varchar(40) NOT NULL", "index": "KEY `ia`", "add column": "`c` int"}
    try:
        cluster.start()
        for node_id in cluster.ids():
            with connect(cluster, node_id) as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS app")
        started = time.monotonic()
        fill(cluster, args.rows)
        print(f"filled {args.rows} rows in {time.monotonic() - started:.1f} s")
        everywhere(cluster, "`big`")
        with Load(cluster) as load, connect(cluster, 1, database="app") as conn, \
                conn.cursor() as cur:
            time.sleep(args.settle_s)
            for name, ddl in DDLS:
                before = time.monotonic()
                base = sum(1 for t in load.commit_times if before - args.settle_s <= t < before)
                cur.execute(ddl)
                after = time.monotonic()
                spread = everywhere(cluster, markers[name])
                during = sum(1 for t in load.commit_times if before <= t <= after)
                lines = [f"{name:10s} latency {after - before:7.2f} s, on every node after "
                         f"{after - before + spread:7.2f} s; writes {base / args.settle_s:6.1f}/s "
                         f"before, {during / max(after - before, 1e-9):6.1f}/s during"]
                polls = [took for sent, took in load.polls if before <= sent <= after]
                lines.append(f"    PROCESSLIST polls on node 1 during it: n={len(polls)}, "
                             f"max {1000 * max(polls or [0]):.1f} ms")
                for node_id in (1, 2):
                    probes = load.during(node_id, before, after)
                    lines.append(f"    SELECT 1 on node {node_id} during it: n={len(probes)} "
                                 f"p50 {1000 * statistics.median(probes or [0]):.1f} ms, "
                                 f"p99 {1000 * percentile(probes, 0.99):.1f} ms, "
                                 f"max {1000 * max(probes or [0]):.1f} ms")
                print("\n".join(lines), flush=True)
                time.sleep(args.settle_s)
        states = sorted(s for s in load.states if s.startswith("altering"))
        print("PROCESSLIST states seen:", "; ".join(states[:8]))
        if load.errors:
            print("writer errors:", load.errors)
            return 1
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
