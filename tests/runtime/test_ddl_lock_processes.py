"""Concurrent DDL from every node of three real ``marmotdb serve`` processes, under a write
load on every node (marmotdb/ddl/DESIGN.md).

Each node's client runs ALTER TABLE / CREATE INDEX on two databases at once (the same one as
the other nodes, and a second), while writers insert into the first on every node. Every DDL
must succeed (the cluster DDL lock orders them; none may lose to another's schema version),
writes keep being acknowledged, and afterwards every node shows the same SHOW CREATE TABLE
and, read from the stopped nodes' files, the same tables, versions and commit logs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.runtime.client_load import KEY_SPAN, Writers, connect
from marmotdb.torture.cluster import LocalCluster
from marmotdb.torture.audit import AUDITED_SERVE_ARGS, read_files, settle, settled

pytestmark = pytest.mark.integration

DDL_ROUNDS = 2  # per node and database


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path, 3, serve_args=AUDITED_SERVE_ARGS)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def run_ddl(cluster: LocalCluster, node_id: int, database: str, statements: list[str],
            failures: list[str]) -> None:
    try:
        with connect(cluster, node_id, database=database) as conn, conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    except pymysql.err.MySQLError as exc:
        failures.append(f"node {node_id} {database}: {exc.args}")


def show_create(cluster: LocalCluster, node_id: int, database: str, table: str) -> str:
    with connect(cluster, node_id, database=database) as conn, conn.cursor() as cur:
        cur.execute(f"SHOW CREATE TABLE {table}")
        return str(cur.fetchone()[1])


def statements(node_id: int, table: str) -> list[str]:
    done = []
    for k in range(DDL_ROUNDS):
        done.append(f"ALTER TABLE {table} ADD COLUMN c{node_id}_{k} INT DEFAULT {k}")
        done.append(f"CREATE INDEX i{node_id}_{k} ON {table} (c{node_id}_{k})")
    return done


def test_concurrent_ddl_from_every_node_under_a_write_load(trio: LocalCluster) -> None:
    with connect(trio, 1, database=None) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE app")  # replicated: no node creates it itself
        cur.execute("CREATE DATABASE other")
        cur.execute("CREATE TABLE app.acked (id INT PRIMARY KEY, writer INT)")
        cur.execute("CREATE TABLE other.u (id INT PRIMARY KEY, v INT)")
    trio.until(lambda: all(settled(trio, db) for db in ("app", "other")), 20,
               "both databases on every node")
    writers = Writers(trio, trio.ids(), lambda key: f"INSERT INTO acked (id, writer) VALUES "
                      f"({key}, {key // KEY_SPAN})", per_node=1).start()
    try:
        writers.wait_acked(30, 30, "before the DDL")
        failures: list[str] = []
        threads = [threading.Thread(target=run_ddl, args=(trio, i, db, statements(i, table),
                                                          failures))
                   for i in trio.ids() for db, table in (("app", "acked"), ("other", "u"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        acked_during = writers.outcomes.acked_count()
        writers.wait_acked(acked_during + 30, 30, "after the DDL")
    finally:
        outcomes = writers.stop()
    assert failures == []
    for db, table in (("app", "acked"), ("other", "u")):
        shown = [show_create(trio, i, db, table) for i in trio.ids()]
        assert shown[0] == shown[1] == shown[2], (db, shown)
        assert all(f"`c{i}_{k}`" in shown[0] for i in trio.ids() for k in range(DDL_ROUNDS))
    views = {i: trio.admin(i, "GET", "/cluster/ddl-locks") for i in trio.ids()}
    assert all(v["locks"] == [] and v["held_here"] == [] and v["lease_ms"] == 30_000
               for v in views.values()), views  # every lock released, on every node
    assert sum(v["counts"]["acquired"] for v in views.values()) >= 2 * 3 * 2 * DDL_ROUNDS
    audited = audit_databases(trio, ("app", "other", "__marmot_system"))
    rows = {r[0] for r in audited["app"][0].tables["acked"]}
    assert outcomes.acked <= rows <= outcomes.acked | outcomes.unknown
    assert not rows & outcomes.refused
    print(f"writes acknowledged {len(outcomes.acked)}, errors {dict(outcomes.codes)}")


def audit_databases(cluster: LocalCluster, databases: tuple[str, ...]
                    ) -> dict[str, list[Any]]:
    """replica_audit.audit for several databases: settled, stopped, the files compared."""
    settle(cluster)
    cluster.until(lambda: all(settled(cluster, db) for db in databases), 30,
                  "every database settled")
    codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), f"unclean exits {codes}"
    found: dict[str, list[Any]] = {}
    for db in databases:
        tables = ("acked",) if db == "app" else ()
        replicas = [read_files(Path(cluster.record(i).data_dir), i, tables, db)
                    for i in cluster.ids()]
        first = replicas[0]
        for replica in replicas[1:]:
            assert replica.checksums == first.checksums, (db, replica.node_id)
            assert replica.log == first.log, (db, replica.node_id)
        assert not any(r.txn_store_rows for r in replicas)
        found[db] = replicas
    return found
