"""FOREIGN KEYs that follow a renamed column or table (sql/rewrites/ddl/referencing.py) in a
cluster: the children's stored definitions change with the DDL, so SHOW CREATE TABLE is the
same on every node, a node that missed the DDL included; and a replica that applies the DDL's
entry twice (ddl/DESIGN.md §8) ends where it was after the first time."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from marmotdb.node import Node
from marmotdb.storage import schema_guard
from marmotdb.storage.apply import ApplyTransaction
from marmotdb.storage.writeset import WriteSet
from tests.storage.test_schema_replay import (
    T0,
    USERS,
    _replay_copy,
    _run,
    _state,
    closed_log,
)
from tests.txn.test_cluster_commit import Cluster
from tests.txn.test_cluster_ddl import show_create

SCHEMA = ["CREATE TABLE p (id INT PRIMARY KEY, code INT UNIQUE)",
          "CREATE TABLE c (id INT PRIMARY KEY, pc INT, pid INT, "
          "CONSTRAINT fk_code FOREIGN KEY (pc) REFERENCES p (code), "
          "CONSTRAINT fk_id FOREIGN KEY (pid) REFERENCES p (id))",
          "CREATE TABLE node (node_id INT PRIMARY KEY, parent INT, "
          "FOREIGN KEY (parent) REFERENCES node (node_id))"]
RENAMES = ["ALTER TABLE p RENAME COLUMN code TO code2",
           "ALTER TABLE p CHANGE id pk INT COMMENT 'rebuilt'",  # a rebuild renaming a key
           "ALTER TABLE node CHANGE node_id id INT",
           "RENAME TABLE p TO parent"]


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(tmp_path).in_database()
    for statement in SCHEMA:
        c.ok(1, statement)
    yield c
    c.close()


def test_every_node_shows_the_children_naming_the_new_names(cluster: Cluster) -> None:
    cluster.cut = {3}
    for node_id, statement in enumerate(RENAMES):
        cluster.ok(1 + node_id % 2, statement)
    cluster.advance(1000)
    cluster.restart(3)
    cluster.cut = set()
    for _ in range(6):
        cluster.advance(1000)
    for table in ("c", "node", "parent"):
        assert show_create(cluster, 1, table) == show_create(cluster, 2, table) == \
            show_create(cluster, 3, table), table
    child = show_create(cluster, 3, "c")
    assert "FOREIGN KEY (`pc`) REFERENCES `parent` (`code2`)" in child
    assert "FOREIGN KEY (`pid`) REFERENCES `parent` (`pk`)" in child
    assert "REFERENCES `node` (`id`)" in show_create(cluster, 3, "node")


def _origin_log(path: Path) -> list[WriteSet]:
    node = Node(path, users=USERS, node_id=1, now_ms=T0, rng=random.Random(1))
    session = node.open_session("root", now_ms=T0)
    for statement in ["CREATE DATABASE d", "USE d", *SCHEMA, *RENAMES]:
        _run(node, session, statement)
    return closed_log(node)


def test_the_renames_replayed_twice_change_nothing(tmp_path: Path) -> None:
    log = _origin_log(tmp_path / "origin")
    replica = Node(tmp_path / "replica", users=USERS, node_id=2, now_ms=T0,
                   rng=random.Random(2))
    session = replica.open_session("root", now_ms=T0)
    _run(replica, session, "CREATE DATABASE d")
    state = replica.state
    conn = state.pipeline(state.databases.get("d")).conn
    with state.binding(conn).trusted_scope():
        for seq, write_set in enumerate(log, start=1):
            with ApplyTransaction(conn, [write_set]) as txn:
                assert txn.apply(write_set).applied
            once = _state(conn)
            with ApplyTransaction(conn, [write_set]) as txn:  # from another origin
                assert txn.apply(_replay_copy(write_set, seq)).applied
            assert _state(conn) == once, write_set.schema_changes[0].mysql
        catalog = dict(schema_guard.catalog_objects(conn))
    child = str(catalog[("marmot:table", "c")])
    assert "REFERENCES `parent` (`code2`)" in child and "REFERENCES `parent` (`pk`)" in child
    replica.close()
