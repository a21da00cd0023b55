"""A DDL over a big table in a three-process cluster, under a write load on every node
(ddl/DESIGN.md "Large tables"): the rebuild and the index build run on writer threads (the
coordinator) and host workers (the replicas), so a ``SELECT 1`` sent meanwhile is answered
at once; PROCESSLIST shows the DDL's step; the write set carries the DDL, never a row image
per row; afterwards every node has the same schema (SHOW CREATE TABLE) and the same rows,
row versions and commit logs (replica audit, read from the stopped nodes' files).

The default suite uses 25,000 rows (above LONG_WRITE_ROWS_MIN); the slow variant a million.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest

from marmotdb.storage.writeset import decode_write_set
from marmotdb.torture.cluster import HOST, LocalCluster
from marmotdb.torture.audit import AUDITED_SERVE_ARGS, audit

pytestmark = pytest.mark.integration
RETRYABLE = {1205, 1213, 1047, 1180}
INSERT_ROWS = 5_000  # rows per INSERT while filling (one write set each)
FILL_ATTEMPTS = 5  # an INSERT not committed (1047, 1213) or of unknown outcome runs again


def connect(cluster: LocalCluster, node_id: int, **options: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(host=HOST, port=cluster.record(node_id).mysql_port, user="root",
                           password=cluster.state.root_password, autocommit=True,
                           connect_timeout=10, read_timeout=600, **options)


def fill(cluster: LocalCluster, rows: int) -> None:
    with connect(cluster, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, a INT, b VARCHAR(20))")
        cur.execute("CREATE TABLE w (id INT PRIMARY KEY, node INT)")
        for start in range(1, rows + 1, INSERT_ROWS):  # one SQL statement per INSERT_ROWS
            for attempt in range(FILL_ATTEMPTS):  # a busy machine may miss a prepare timeout
                try:
                    cur.execute("INSERT IGNORE INTO big WITH RECURSIVE seq(i) AS (SELECT %s "
                                "UNION ALL SELECT i + 1 FROM seq WHERE i < %s) "
                                "SELECT i, i %% 1000, CONCAT('row', i) FROM seq",
                                (start, min(start + INSERT_ROWS, rows + 1) - 1))
                    break
                except pymysql.MySQLError as exc:
                    if exc.args[0] not in RETRYABLE or attempt == FILL_ATTEMPTS - 1:
                        raise


class Load:
    """Writers on every node (new rows of ``w``, updates of ``big`` by key) and a prober
    timing ``SELECT 1`` on node 1 and node 2, until stopped."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster
        self.stop = threading.Event()
        self.committed = 0
        self.commit_times: list[float] = []  # when each writer round trip committed
        self.latencies_s: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        self.states: set[str] = set()
        self.polls: list[tuple[float, float]] = []  # PROCESSLIST polls: (sent, took)
        self.errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._writer, args=(n,)) for n in (1, 2, 3)]
        self._threads += [threading.Thread(target=self._probe, args=(n,)) for n in (1, 2)]
        self._threads.append(threading.Thread(target=self._processlist))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(60)

    def _writer(self, node_id: int) -> None:
        try:
            with connect(self.cluster, node_id, database="app") as conn, conn.cursor() as cur:
                i = 0
                while not self.stop.is_set():
                    i += 1
                    try:
                        cur.execute("INSERT INTO w VALUES (%s, %s)", (node_id * 1_000_000 + i,
                                                                       node_id))
                        cur.execute("UPDATE big SET a = a + 1 WHERE id = %s", (i * 7 + node_id,))
                        self.committed += 1
                        self.commit_times.append(time.monotonic())
                    except pymysql.MySQLError as exc:
                        if exc.args[0] not in RETRYABLE:
                            raise
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def _probe(self, node_id: int) -> None:
        with connect(self.cluster, node_id) as conn, conn.cursor() as cur:
            while not self.stop.is_set():
                sent = time.monotonic()
                cur.execute("SELECT 1")
                cur.fetchall()
                self.latencies_s[node_id].append((sent, time.monotonic() - sent))
                time.sleep(0.01)

    def _processlist(self) -> None:
        with connect(self.cluster, 1) as conn, conn.cursor() as cur:
            while not self.stop.is_set():
                sent = time.monotonic()
                cur.execute("SHOW PROCESSLIST")
                self.states |= {str(row[6]) for row in cur.fetchall() if row[6]}
                self.polls.append((sent, time.monotonic() - sent))
                time.sleep(0.02)

    def during(self, node_id: int, start: float, end: float) -> list[float]:
        return [took for sent, took in self.latencies_s[node_id] if start <= sent <= end]


def run_large_ddl(tmp_path: Path, rows: int) -> dict[str, Any]:
    cluster = LocalCluster(tmp_path, 3, serve_args=AUDITED_SERVE_ARGS)
    try:
        cluster.start()
        for node_id in cluster.ids():  # databases are node-local (issue 13, part 1)
            with connect(cluster, node_id) as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS app")
        fill(cluster, rows)
        timings: dict[str, float] = {}
        with Load(cluster) as load:
            time.sleep(0.5)
            with connect(cluster, 1, database="app") as conn, conn.cursor() as cur:
                for name, ddl in (("rebuild", "ALTER TABLE big MODIFY b VARCHAR(40) NOT NULL"),
                                  ("index", "ALTER TABLE big ADD INDEX ia (a)"),
                                  ("add column", "ALTER TABLE big ADD COLUMN c INT DEFAULT 7")):
                    start = time.monotonic()
                    cur.execute(ddl)
                    timings[name] = time.monotonic() - start
                    timings[name + " start"] = start
            time.sleep(0.5)
        assert not load.errors, load.errors
        creates = set()
        for node_id in cluster.ids():
            with connect(cluster, node_id, database="app") as conn, conn.cursor() as cur:
                cluster.until(lambda: _has_column_c(cur), 60, f"node {node_id} has column c")
                cur.execute("SHOW CREATE TABLE big")
                creates.add(cur.fetchall()[0][1])
        assert len(creates) == 1, creates
        cluster.until(lambda: _no_drift(cluster), 30, "/cluster/members: no schema drift")
        replicas = audit(cluster, tables=())
        ddl_sets = [ws for ws in map(decode_write_set, replicas[0].log.values())
                    if ws.schema_changes]
        assert ddl_sets and all(not ws.changes for ws in ddl_sets)  # the DDL, not its rows
        start = timings["rebuild start"]
        end = start + timings["rebuild"]
        return {"timings": timings, "states": load.states, "committed": load.committed,
                "probe_1": load.during(1, start, end), "probe_2": load.during(2, start, end)}
    finally:
        cluster.stop()


def _no_drift(cluster: LocalCluster) -> bool:
    """Every node, as every node last heard it, on one schema version of ``app``."""
    seen = [(m["schema_versions"] or {}).get("app") for node_id in cluster.ids()
            for m in cluster.admin(node_id, "GET", "/cluster/members")]
    drift = [m["schema_drift"] for node_id in cluster.ids()
             for m in cluster.admin(node_id, "GET", "/cluster/members")]
    return len(set(seen)) == 1 and seen[0] is not None and all(d == [] for d in drift)


def _has_column_c(cur: Any) -> bool:
    cur.execute("SHOW COLUMNS FROM big")
    return "c" in {row[0] for row in cur.fetchall()}


def _check(result: dict[str, Any]) -> None:
    timings = result["timings"]
    assert any("copying rows" in s for s in result["states"]), result["states"]
    assert result["committed"] > 0
    # On the loop, a SELECT 1 sent during the rebuild would wait for the rest of it; off the
    # loop it is answered between the writer thread's GIL slices: on node 1 (the
    # coordinator: a writer thread) and node 2 (a replica: a host worker applies it before
    # the coordinator answers its client)
    for probes in (result["probe_1"], result["probe_2"]):
        if timings["rebuild"] > 0.4 and len(probes) >= 3:
            assert max(probes) < timings["rebuild"] / 2, (max(probes), timings)


def test_a_large_table_alter_under_writes_stays_off_the_loop_and_converges(
        tmp_path: Path) -> None:
    _check(run_large_ddl(tmp_path, 25_000))  # above LONG_WRITE_ROWS_MIN (20,000)


@pytest.mark.slow
def test_a_million_row_alter_under_writes(tmp_path: Path) -> None:
    result = run_large_ddl(tmp_path, 1_000_000)
    _check(result)
    print({k: round(v, 3) for k, v in result["timings"].items() if "start" not in k},
          "SELECT 1 during rebuild p50/max s:",
          statistics.median(result["probe_1"] or [0]), max(result["probe_1"] or [0]))
