"""Replicated writes between real ``marmotdb serve`` processes (txn/DESIGN.md §7).

Three nodes on loopback: DDL and rows written on any node reach every node; AUTO_INCREMENT
inserts from every node at once get distinct small ids; two nodes writing one row at once
never both commit; a node cut off from the others refuses QUORUM writes with
1047 and takes ONE writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from marmotdb.runtime import cluster_cli
from marmotdb.torture.cluster import HOST, LocalCluster
from tests.runtime import process_cluster
from tests.runtime.process_cluster import connect, kill9_under_writers, read_or_retry, running_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    for cluster in running_cluster(tmp_path_factory.mktemp("replicated")):
        for node_id in cluster.ids():  # databases are node-local until issue 13
            with connect(cluster, node_id) as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS app")
        yield cluster


def query(cluster: LocalCluster, node_id: int, sql: str) -> list[tuple[Any, ...]]:
    return process_cluster.query(cluster, node_id, sql, "app")


def everywhere(cluster: LocalCluster, sql: str, expected: list[tuple[Any, ...]]) -> None:
    process_cluster.everywhere(cluster, sql, expected, "app", timeout_s=10)


def test_ddl_and_rows_written_anywhere_reach_every_node(trio: LocalCluster) -> None:
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(20))")
    for node_id in trio.ids():  # at once: a DDL is answered once every live node has it
        with connect(trio, node_id, database="app") as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO kv VALUES (%s, %s)", (node_id, f"from {node_id}"))
    everywhere(trio, "SELECT k, v FROM kv ORDER BY k",
               [(1, "from 1"), (2, "from 2"), (3, "from 3")])


def test_virtual_generated_and_bit_64_columns_replicate(trio: LocalCluster) -> None:
    """Issue 15: a table with a VIRTUAL generated column is captured (SQLite holds it STORED),
    and BIT(64) values from 2^63 replicate as their 8-byte form, sorting as unsigned."""
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE gen (id INT PRIMARY KEY, a INT, b INT, "
                    "s INT AS (a + b) VIRTUAL, f BIT(64))")
    with connect(trio, 2, database="app") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO gen (id, a, b, f) VALUES (1, 2, 3, ~0), (2, 1, 1, 5)")
        cur.execute("UPDATE gen SET a = 10 WHERE id = 2")
    everywhere(trio, "SELECT id, s, f + 0 FROM gen ORDER BY f",
               [(2, 11, 5), (1, 5, 18446744073709551615)])


def test_auto_increment_inserts_from_every_node_at_once_get_distinct_small_ids(
        trio: LocalCluster) -> None:
    """Per-node ranges claimed through committed transactions (txn/DESIGN.md §9): PyMySQL
    clients on all three nodes insert multi-row batches into an INT AUTO_INCREMENT table at
    once, and a prepared statement (binary protocol) inserts too; no insert fails, no id is
    given twice, ids stay small, LAST_INSERT_ID() is each statement's first id, and every
    node ends with every row."""
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE ticket (id INT AUTO_INCREMENT PRIMARY KEY, node INT, "
                    "writer INT, n INT)")
    firsts: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def writer(node_id: int, w: int) -> None:
        try:
            with connect(trio, node_id, database="app") as conn, conn.cursor() as cur:
                for n in range(20):
                    cur.execute("INSERT INTO ticket (node, writer, n) VALUES "
                                "(%s, %s, %s), (%s, %s, %s), (%s, %s, %s)",
                                (node_id, w, n) * 3)
                    first = cur.lastrowid  # the OK packet's insert id
                    cur.execute("SELECT LAST_INSERT_ID()")
                    (last,) = cur.fetchone()
                    assert last == first > 0, (last, first)
                    with lock:
                        firsts.append(last)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i, w)) for i in trio.ids()
               for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == [] and len(firsts) == 180
    mysql_connector = pytest.importorskip("mysql.connector")
    conn = mysql_connector.connect(host=HOST, port=trio.record(2).mysql_port, user="root",
                                   password=trio.state.root_password, database="app",
                                   use_pure=True, ssl_disabled=True, autocommit=True)
    try:
        cur = conn.cursor(prepared=True)
        for n in range(3):
            cur.execute("INSERT INTO ticket (node, writer, n) VALUES (?, ?, ?)", (2, 99, n))
            assert cur.lastrowid > 0
    finally:
        conn.close()
    ids = [r[0] for r in query(trio, 1, "SELECT id FROM ticket ORDER BY id")]
    assert len(ids) == len(set(ids)) == 543 and max(ids) < 10_000
    assert len(set(firsts)) == 180
    everywhere(trio, "SELECT COUNT(*), COUNT(DISTINCT id), SUM(id) FROM ticket",
               [(543, 543, sum(ids))])


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


def test_a_minority_refuses_quorum_writes_takes_one_writes_and_converges(
        trio: LocalCluster) -> None:
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS notes (id INT PRIMARY KEY, side TEXT)")
    trio.set_faults(3, [{"peer": str(o), "partition": True} for o in (1, 2)])
    try:
        with connect(trio, 3, database="app") as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cur.execute("INSERT INTO notes VALUES (1, 'minority at QUORUM')")
            assert refused.value.args[0] == 1047
            cur.execute("SET marmot_write_consistency = 'ONE'")
            cur.execute("INSERT INTO notes VALUES (2, 'minority at ONE')")
        with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO notes VALUES (3, 'majority')")
    finally:
        trio.heal([3])
    trio.until(trio.converged, 30, "one cluster again")
    everywhere(trio, "SELECT id, side FROM notes ORDER BY id",
               [(2, "minority at ONE"), (3, "majority")])


def test_kill9_of_the_coordinator_under_load_loses_no_acknowledged_write(
        trio: LocalCluster) -> None:
    with connect(trio, 2, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS acked (id INT PRIMARY KEY, writer INT)")
    expected = kill9_under_writers(
        trio, 1, 8, 200, lambda cur, key, w: cur.execute("INSERT INTO acked VALUES (%s, %s)",
                                                         (key, w)), database="app")

    def settled() -> bool:
        seen = [set(r[0] for r in query(trio, i, "SELECT id FROM acked")) for i in trio.ids()]
        return seen[0] == seen[1] == seen[2] and expected <= seen[0]
    trio.until(lambda: read_or_retry(settled), 60,
               "every acknowledged write on every node, nodes identical")


def test_admin_api_metrics_and_status_show_replication(trio: LocalCluster) -> None:
    with connect(trio, 1, database="app") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS seen (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO seen VALUES (1)")

    def me() -> dict[str, Any]:
        return next(m for m in trio.admin(1, "GET", "/cluster/members") if m["is_self"])
    # batches left undecided by an earlier test's kill -9 are recovered within seconds
    trio.until(lambda: me()["in_doubt"] == 0, 30, "no batch in doubt on node 1")
    assert me()["applied"]["app"]["1"] >= 1
    trio.until(lambda: me()["catching_up"] is False, 30,
               "node 1 caught up after its restart: " + str([trio.admin(i, "GET", "/cluster/members") for i in trio.ids()]))
    metrics = trio.metrics(1)
    assert metrics["marmotdb_txn_rounds_total"] >= 1
    assert metrics["marmotdb_txn_in_doubt"] == 0
    status = cluster_cli.node_status(trio.state, trio.record(1))
    assert status["in_doubt"] == 0 and status["applied"]["app"]["1"] >= 1

    def lag() -> dict[str, Any]:  # why a node is behind: nothing, once it has settled (an
        return trio.admin(1, "GET", "/cluster/lag")  # earlier test's kill leaves some work)
    trio.until(lambda: lag()["txn"]["waiting_for_bases"] == 0, 30, "no outcome waiting")
    found = lag()
    assert found["node_id"] == 1 and found["txn"]["in_doubt"] == 0
    assert found["txn"]["waiting_for_bases"] == 0 and found["txn"]["examples"] == []
    assert found["catch_up"]["catching_up"] is False and found["catch_up"]["snapshot"] == ""
