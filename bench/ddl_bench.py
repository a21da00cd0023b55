"""DDL on a three-node marmotdb cluster: latency, and the write throughput dip while it runs.

Theory of operation: a real cluster of three ``marmotdb serve`` processes on loopback
(``marmotdb/torture/cluster.LocalCluster`` with ``cluster up``'s settings). Database
``bench`` holds ``empty_t`` (no rows) and ``big`` (``--rows`` rows, loaded in 10,000-row
INSERT … SELECT batches through the ordinary replicated write path); database ``other`` holds
a table of its own. Two client threads insert one row per statement (autocommit, QUORUM, a
sysbench ``oltp_insert``-like load) for the whole run, each on its own node: one into
``bench.load_t`` (the database the DDL locks) and one into ``other.load_t`` (a database it
does not). Each acknowledgement's time is recorded (client monotonic clock).

Then, one after the other, with a quiet ``--gap-s`` between them, each DDL below runs on node
1 and its client-side latency (send to OK: lock acquire, the DDL, its distributed commit, the
lock release) is measured:

    ALTER TABLE empty_t ADD COLUMN …          (``--repeat`` times; median and max)
    ALTER TABLE big ADD COLUMN … DEFAULT 0    (SQLite: schema only, whatever the row count)
    CREATE INDEX … ON big (v)                 (reads every row)
    ALTER TABLE big MODIFY COLUMN v BIGINT    (a table rebuild: every row copied)

For each DDL the load's throughput (acknowledged inserts/s) is reported in three windows:
``before`` (the ``--gap-s`` before it), ``during`` (its own duration) and ``after`` (the
``--gap-s`` after it), for both databases. Writes on ``bench`` wait while the DDL holds the
cluster DDL lock (marmotdb/ddl/DESIGN.md §2); writes on ``other`` should not.

    python bench/ddl_bench.py [--rows 1000000] [--repeat 5] [--gap-s 3]

Indicative only on a shared machine: other processes compete for the same cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

import pymysql

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from marmotdb.torture.cluster import HOST, LocalCluster  # noqa: E402

NODES = 3
BATCH_ROWS = 10_000


def connect(cluster: LocalCluster, node_id: int, database: str | None) -> Any:
    return pymysql.connect(host=HOST, port=cluster.record(node_id).mysql_port, user="root",
                           password=cluster.state.root_password, database=database,
                           autocommit=True, connect_timeout=10, read_timeout=600)


class Load(threading.Thread):
    """One client inserting a row per statement until stopped; ack times recorded."""

    def __init__(self, cluster: LocalCluster, node_id: int, database: str):
        super().__init__(daemon=True)
        self.cluster, self.node_id, self.database = cluster, node_id, database
        self.acks: list[float] = []
        self.errors: dict[int, int] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        with connect(self.cluster, self.node_id, self.database) as conn, \
                conn.cursor() as cur:
            key = 0
            while not self.stopping.is_set():
                key += 1
                try:
                    cur.execute("INSERT INTO load_t (id, v) VALUES (%s, %s)", (key, key))
                except pymysql.err.OperationalError as exc:
                    self.errors[exc.args[0]] = self.errors.get(exc.args[0], 0) + 1
                    continue
                self.acks.append(time.monotonic())

    def rate(self, start: float, end: float) -> float:
        """Acknowledged inserts per second in [start, end)."""
        if end <= start:
            return 0.0
        count = bisect_left(self.acks, end) - bisect_left(self.acks, start)
        return count / (end - start)


def load_big(cluster: LocalCluster, rows: int) -> float:
    started = time.monotonic()
    with connect(cluster, 1, "bench") as conn, conn.cursor() as cur:
        for lo in range(0, rows, BATCH_ROWS):
            hi = min(rows, lo + BATCH_ROWS)
            cur.execute(f"INSERT INTO big (id, v, pad) WITH RECURSIVE s(n) AS "
                        f"(SELECT {lo + 1} UNION ALL SELECT n + 1 FROM s WHERE n < {hi}) "
                        f"SELECT n, n % 1000, 'padding-padding-padding' FROM s")
    return time.monotonic() - started


def timed(cluster: LocalCluster, sql: str) -> tuple[float, float]:
    with connect(cluster, 1, "bench") as conn, conn.cursor() as cur:
        started = time.monotonic()
        cur.execute(sql)
        return started, time.monotonic()


def windows(loads: list[Load], start: float, end: float, gap_s: float) -> dict[str, Any]:
    return {load.database: {"before": load.rate(start - gap_s, start),
                            "during": load.rate(start, end),
                            "after": load.rate(end, end + gap_s)} for load in loads}


def run(args: argparse.Namespace) -> int:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    root = Path(tempfile.mkdtemp(prefix="marmot-ddlbench-"))
    cluster = LocalCluster(root / "cluster", NODES, timings={})
    results: list[tuple[str, float, dict[str, Any]]] = []
    try:
        cluster.start()
        with connect(cluster, 1, None) as conn, conn.cursor() as cur:
            for db in ("bench", "other"):
                cur.execute(f"CREATE DATABASE {db}")
                cur.execute(f"CREATE TABLE {db}.load_t (id INT PRIMARY KEY, v INT)")
            cur.execute("CREATE TABLE bench.empty_t (id INT PRIMARY KEY, v INT)")
            cur.execute("CREATE TABLE bench.big (id INT PRIMARY KEY, v INT, pad VARCHAR(40))")
        load_s = load_big(cluster, args.rows)
        print(f"loaded {args.rows} rows into bench.big in {load_s:.1f} s "
              f"({args.rows / load_s:,.0f} rows/s, replicated)")
        loads = [Load(cluster, 2, "bench"), Load(cluster, 3, "other")]
        for load in loads:
            load.start()
        time.sleep(args.gap_s)
        statements = [f"ALTER TABLE empty_t ADD COLUMN c{i} INT" for i in range(args.repeat)]
        statements += ["ALTER TABLE big ADD COLUMN c0 INT DEFAULT 0",
                       "CREATE INDEX big_v ON big (v)",
                       "ALTER TABLE big MODIFY COLUMN v BIGINT"]
        for sql in statements:
            start, end = timed(cluster, sql)
            time.sleep(args.gap_s)
            results.append((sql, end - start, windows(loads, start, end, args.gap_s)))
        for load in loads:
            load.stopping.set()
        for load in loads:
            load.join(60)
        report(results, loads, args)
        return 0
    finally:
        codes = cluster.stop()
        if any(code != 0 for code in codes.values()):
            print(f"nodes exited with {codes}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


def report(results: list[tuple[str, float, dict[str, Any]]], loads: list[Load],
           args: argparse.Namespace) -> None:
    empty = [latency for sql, latency, _ in results if "empty_t" in sql]
    print(f"\nALTER TABLE empty_t ADD COLUMN x{len(empty)}: median "
          f"{statistics.median(empty) * 1000:.1f} ms, max {max(empty) * 1000:.1f} ms")
    print(f"\n{'DDL (on node 1)':<48} {'latency':>9}   inserts/s before / during / after")
    for sql, latency, rates in results:
        cells = "   ".join(f"{db}: {r['before']:.0f} / {r['during']:.0f} / {r['after']:.0f}"
                           for db, r in rates.items())
        print(f"{sql[:48]:<48} {latency * 1000:>7.0f} ms   {cells}")
    for load in loads:
        print(f"load on {load.database}: {len(load.acks)} inserts, errors {load.errors}")
    print(f"\n({args.rows} rows in big; gap {args.gap_s} s; indicative on a shared machine)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gap-s", type=float, default=3.0)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
