"""Replicated writes between real ``marmotdb serve`` processes (txn/DESIGN.md §7).

Three nodes on loopback: DDL and rows written on any node reach every node; two nodes writing
one row at once never both commit; a node cut off from the others refuses QUORUM writes with
1047 and takes ONE writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.runtime.local_cluster import HOST, LocalCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("replicated"), 3)
    try:
        cluster.start()
        yield cluster
    finally:
        codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), f"unclean exits {codes}"


def connect(cluster: LocalCluster, node_id: int, **options: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(host=HOST, port=cluster.record(node_id).mysql_port, user="root",
                           password=cluster.state.root_password, autocommit=True,
                           connect_timeout=10, read_timeout=30, **options)


def query(cluster: LocalCluster, node_id: int, sql: str) -> list[tuple[Any, ...]]:
    with connect(cluster, node_id, database="app") as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def everywhere(cluster: LocalCluster, sql: str, expected: list[tuple[Any, ...]]) -> None:
    """Every node answers ``expected`` (learns are asynchronous: wait a little)."""
    cluster.until(lambda: all(query(cluster, i, sql) == expected for i in cluster.ids()),
                  10, f"{sql} = {expected} on every node")


def test_ddl_and_rows_written_anywhere_reach_every_node(trio: LocalCluster) -> None:
    for node_id in trio.ids():  # databases are node-local until issue 13
        with connect(trio, node_id) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS app")
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(20))")
    for node_id in trio.ids():  # at once: a DDL is answered once every live node has it
        with connect(trio, node_id, database="app") as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO kv VALUES (%s, %s)", (node_id, f"from {node_id}"))
    everywhere(trio, "SELECT k, v FROM kv ORDER BY k",
               [(1, "from 1"), (2, "from 2"), (3, "from 3")])


def test_one_row_written_from_two_nodes_at_once_never_both_commit(trio: LocalCluster) -> None:
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS counter (id INT PRIMARY KEY, n INT)")
        cur.execute("INSERT INTO counter VALUES (1, 0)")
    everywhere(trio, "SELECT n FROM counter", [(0,)])
    acknowledged, lock = [0], threading.Lock()

    def bump(node_id: int) -> None:
        with connect(trio, node_id, database="app") as conn, conn.cursor() as cur:
            for _ in range(30):
                try:
                    cur.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
                except pymysql.err.OperationalError as exc:
                    assert exc.args[0] == 1213, exc  # a conflict: not committed
                    continue
                with lock:
                    acknowledged[0] += 1

    threads = [threading.Thread(target=bump, args=(i,)) for i in trio.ids()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert acknowledged[0] > 0
    everywhere(trio, "SELECT n FROM counter", [(acknowledged[0],)])  # no lost update


def test_a_node_killed_while_others_write_catches_up_after_restart(trio: LocalCluster) -> None:
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS events (id INT PRIMARY KEY, note TEXT)")
    trio.kill9(3)
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        for i in range(50):  # QUORUM: nodes 1 and 2 suffice
            cur.execute("INSERT INTO events VALUES (%s, %s)", (i, f"while 3 was down {i}"))
    trio.restart(3)
    trio.until(trio.converged, 30, "node 3 back in the membership")
    everywhere(trio, "SELECT COUNT(*), SUM(id) FROM events", [(50, sum(range(50)))])
