"""Log trimming and snapshot transfer between real ``marmotdb serve`` processes
(replication/DESIGN.md): three nodes with a short ``log_retention_max_hours``; one is stopped,
the others write and trim the entries it missed, and once restarted it restores a snapshot
from a peer and converges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from marmotdb.torture.cluster import FAST_TIMINGS, HOST, LocalCluster

pytestmark = pytest.mark.integration

RETENTION_HOURS = 6 / 3600  # six seconds
SETTINGS: dict[str, Any] = dict(FAST_TIMINGS, log_retention_max_hours=RETENTION_HOURS,
                                log_trim_interval_ms=500, catch_up_interval_ms=300)


@pytest.fixture
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("snapshot"), 3, timings=SETTINGS)
    try:
        cluster.start()
        for node_id in cluster.ids():
            run(cluster, node_id, "CREATE DATABASE IF NOT EXISTS app", database=None)
        yield cluster
    finally:
        cluster.stop()


def run(cluster: LocalCluster, node_id: int, sql: str, database: str | None = "app"
        ) -> list[tuple[Any, ...]]:
    with pymysql.connect(host=HOST, port=cluster.record(node_id).mysql_port, user="root",
                         password=cluster.state.root_password, autocommit=True,
                         database=database, connect_timeout=10, read_timeout=30) as conn, \
            conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def counter(cluster: LocalCluster, node_id: int, name: str) -> float:
    return cluster.metrics(node_id).get(name, 0.0)


def test_a_node_restarted_after_its_gap_was_trimmed_restores_a_snapshot(
        trio: LocalCluster) -> None:
    run(trio, 1, "CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(40))")
    run(trio, 2, "INSERT INTO kv VALUES (0, 'before')")
    trio.until(lambda: run(trio, 3, "SELECT v FROM kv") == [("before",)], 10, "row on node 3")
    process = trio.processes[3]
    process.terminate()
    assert process.wait(15) == 0
    for k in range(1, 41):
        run(trio, 1 + k % 2, f"INSERT INTO kv VALUES ({k}, 'while node 3 was down {k}')")
    run(trio, 1, "DELETE FROM kv WHERE k <= 5")
    run(trio, 2, "CREATE TABLE later (id INT PRIMARY KEY)")
    # past the retention limit the entries node 3 lacks are trimmed on both others
    trio.until(lambda: all(counter(trio, i, "marmotdb_replication_log_trimmed_total") >= 40
                           for i in (1, 2)), 40, "the log trimmed past node 3's position")
    trio.restart(3)
    # the hidden system database's DDL-lock rows were trimmed too: it may restore that one
    trio.until(lambda: counter(trio, 3, "marmotdb_snapshots_restored_total") >= 1, 60,
               "node 3 restored a snapshot")
    run(trio, 3, "INSERT INTO kv VALUES (100, 'after')")
    expected = run(trio, 1, "SELECT k, v FROM kv ORDER BY k")
    assert len(expected) == 36 and expected[-1] == (100, "after")
    trio.until(lambda: all(run(trio, i, "SELECT k, v FROM kv ORDER BY k") == expected
                           for i in trio.ids()), 20, "every node has the same rows")
    assert run(trio, 3, "SHOW TABLES") == [("kv",), ("later",)]
    log = trio.log(3)
    assert "asking node" in log and "restored" in log and " / " in log  # progress lines
