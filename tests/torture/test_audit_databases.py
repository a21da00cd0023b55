"""The replica audit over several databases (what a bank2 run settles and audits: its own two
databases beside ``app``): real ``marmotdb serve`` processes, writes in two databases, then
``audit.audit`` with ``databases`` compares each database's files and reads ``db.table``
rows from the right file."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from marmotdb.torture import audit
from marmotdb.torture.cluster import HOST, LocalCluster

pytestmark = pytest.mark.integration


def test_tables_are_read_from_their_own_database() -> None:
    tables = ("t", "x.accounts", "y.ledger", "xx.t")
    assert audit._tables_of(tables, "app", True) == ("t",)
    assert audit._tables_of(tables, "x", False) == ("accounts",)
    assert audit._tables_of(tables, "y", False) == ("ledger",)


def test_an_audit_of_two_databases_settles_and_compares_each(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, 3, serve_args=audit.AUDITED_SERVE_ARGS)
    try:
        cluster.start()
        for node_id, database in ((1, "x"), (2, "y")):
            with pymysql.connect(host=HOST, port=cluster.record(node_id).mysql_port,
                                 user="root", password=cluster.state.root_password,
                                 autocommit=True, read_timeout=30) as conn, \
                    conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
                cur.execute(f"CREATE TABLE {database}.t (id INT PRIMARY KEY, v INT)")
                for i in range(5):
                    cur.execute(f"INSERT INTO {database}.t VALUES ({i}, {node_id})")
        replicas = audit.audit(cluster, ("x.t", "y.t"), ("x", "y"))
    finally:
        cluster.stop()
    assert [r.tables["t"] for r in replicas] == [[(i, 1) for i in range(5)]] * 3
    assert all(r.log for r in replicas)
