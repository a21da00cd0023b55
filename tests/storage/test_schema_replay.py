"""Idempotent replay of DDL (storage/DESIGN.md §4 "Idempotent replay", ddl/DESIGN.md).

Every kind of DDL the SQL layer ships is run on a real origin node; its write sets are applied
on a replica, and then each one is applied *again as if from another origin* (so the
duplicate check of the commit log cannot catch it: the same DDL arriving by another way).
The second apply must succeed and change nothing: catalog, rows, row versions.
"""

from __future__ import annotations

import random
from pathlib import Path

import apsw
import pytest

from marmotdb.node import Node, Reply
from marmotdb.storage import schema_guard
from marmotdb.storage.apply import ApplyTransaction, apply
from marmotdb.storage.checksum import database_checksums
from marmotdb.storage.writeset import SchemaChange, WriteSet, decode_write_set
from marmotdb.users import User, Users
from tests.storage.origin import open_database
from tests.storage.test_commitlog import ws as commitlog_ws

T0 = 1_700_000_000_000
USERS = Users([User("root", "x", {"*": "admin"})])

# (DDL, DML run after it so later DDL has rows and row versions to carry)
SCRIPT: list[tuple[str, str | None]] = [
    ("CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10))",
     "INSERT INTO t VALUES (1, 10, 'x'), (2, 20, 'y'), (3, 30, 'z')"),
    ("CREATE TABLE IF NOT EXISTS t2 (id INT PRIMARY KEY)", None),
    ("ALTER TABLE t ADD COLUMN c INT DEFAULT 5", "UPDATE t SET c = id WHERE id = 1"),
    ("ALTER TABLE t ADD INDEX ia (a)", None),
    ("CREATE UNIQUE INDEX ib ON t (b)", None),
    ("ALTER TABLE t DROP INDEX ia", None),
    ("DROP INDEX ib ON t", None),
    ("ALTER TABLE t DROP COLUMN c", None),
    ("ALTER TABLE t MODIFY b VARCHAR(20) NOT NULL", None),          # a table rebuild
    ("ALTER TABLE t CHANGE a a2 BIGINT", "INSERT INTO t VALUES (4, 40, 'w')"),  # rebuild+rename
    ("ALTER TABLE t RENAME COLUMN a2 TO a3", None),
    ("ALTER TABLE t ADD COLUMN d INT FIRST", None),                 # rebuild: new order
    ("CREATE VIEW v AS SELECT id FROM t", None),
    ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a3 = 1", None),
    ("DROP TRIGGER tr", None),
    ("DROP VIEW v", None),
    ("RENAME TABLE t TO t_renamed", "UPDATE t_renamed SET b = 'q' WHERE id = 2"),
    ("ALTER TABLE t_renamed RENAME TO t3", None),
    ("CREATE TABLE u (id INT AUTO_INCREMENT PRIMARY KEY, n INT)", "INSERT INTO u (n) VALUES (1)"),
    ("ALTER TABLE u COMMENT 'commented'", None),
    ("TRUNCATE TABLE u", None),
    ("CREATE PROCEDURE p() SELECT 1", None),
    ("DROP PROCEDURE p", None),
    ("DROP TABLE t2", None),
    ("DROP TABLE IF EXISTS t3, nothing_here", None),
]


def _node(path: Path, node_id: int) -> tuple[Node, int]:
    node = Node(path, users=USERS, node_id=node_id, now_ms=T0, rng=random.Random(node_id))
    session = node.open_session("root", now_ms=T0)
    return node, session


def _run(node: Node, session: int, sql: str) -> None:
    node.submit(session, 1, sql, now_ms=T0)
    (reply,) = [o for o in node.take_outputs() if isinstance(o, Reply)]
    assert reply.error is None, (sql, reply.error)


@pytest.fixture(scope="module")
def origin_log(tmp_path_factory: pytest.TempPathFactory) -> list[WriteSet]:
    """The origin's commit log after the script: one write set per DDL and per DML (the
    tests never change the decoded write sets)."""
    node, session = _node(tmp_path_factory.mktemp("origin"), 1)
    for sql in ["CREATE DATABASE d", "USE d"]:
        _run(node, session, sql)
    for ddl, dml in SCRIPT:
        _run(node, session, ddl)
        if dml:
            _run(node, session, dml)
    return closed_log(node)


def closed_log(node: Node, database: str = "d") -> list[WriteSet]:
    """The database's commit log as decoded write sets, in local order; the node is closed."""
    state = node.state
    conn = state.read_connection(state.databases.get(database))
    with state.binding(conn).trusted_scope():
        log = [decode_write_set(ws) for (ws,) in conn.execute(
            "SELECT write_set FROM __marmot_commit_log ORDER BY seq")]
    node.close()
    return log


def _state(conn: apsw.Connection) -> tuple[object, ...]:
    """What a replay must not change: catalog, rows and row versions (not the applied vector
    or the log, which record the replay itself)."""
    sums = database_checksums(conn)
    sums.pop("__marmot_applied", None)
    return (sorted(schema_guard.catalog_objects(conn).items()), sorted(sums.items()),
            conn.execute("PRAGMA user_version").fetchall())


def _replay_copy(write_set: WriteSet, seq: int) -> WriteSet:
    """The same write set from another origin: the commit log's duplicate check lets it in."""
    return WriteSet(write_set.txn_id, 99, seq, write_set.commit_ts, write_set.database,
                    write_set.schema_version, write_set.tables, write_set.changes,
                    write_set.schema_changes)


def test_every_kind_of_ddl_replayed_twice_is_a_no_op(origin_log: list[WriteSet],
                                                     tmp_path: Path) -> None:
    replica, session = _node(tmp_path / "replica", 2)
    _run(replica, session, "CREATE DATABASE d")
    state = replica.state
    conn = state.pipeline(state.databases.get("d")).conn
    kinds = [ws.schema_changes[0].mysql for ws in origin_log if ws.schema_changes]
    assert len(kinds) >= len(SCRIPT) - 1  # every DDL shipped an entry (TRUNCATE: the reset)
    with state.binding(conn).trusted_scope():
        for seq, write_set in enumerate(origin_log, start=1):
            with ApplyTransaction(conn, [write_set]) as txn:
                assert txn.apply(write_set).applied
            applied_once = _state(conn)
            with ApplyTransaction(conn, [write_set]) as txn:  # the same origin: the log's check
                assert not txn.apply(write_set).applied
            with ApplyTransaction(conn, [write_set]) as txn:  # another way in: the guards
                assert txn.apply(_replay_copy(write_set, seq)).applied
                if any(entry.objects for entry in write_set.schema_changes):
                    assert txn.schema_changes_skipped == len(write_set.schema_changes)
            what = write_set.schema_changes[0].mysql if write_set.schema_changes else "DML"
            assert _state(conn) == applied_once, f"replaying {what!r} changed the replica"
        # the replica ended exactly where the origin did (SHOW CREATE TABLE reads these rows)
        final = dict(schema_guard.catalog_objects(conn))
    assert ("marmot:procedure", "p") not in final and ("table", "t3") not in final
    assert ("table", "u") in final and "commented" in final[("marmot:table", "u")]
    replica.close()


def test_an_alter_whose_column_is_there_already_is_skipped_statement_by_statement(
        origin_log: list[WriteSet], tmp_path: Path) -> None:
    """Without the entry's objects (a write set from before they were shipped) the per
    statement guards still make ADD/DROP/RENAME COLUMN replays no-ops instead of failures."""
    replica, session = _node(tmp_path / "replica", 2)
    _run(replica, session, "CREATE DATABASE d")
    state = replica.state
    conn = state.pipeline(state.databases.get("d")).conn
    stripped = [WriteSet(ws.txn_id, ws.origin, ws.origin_seq, ws.commit_ts, ws.database,
                         ws.schema_version, ws.tables, ws.changes,
                         [SchemaChange(e.position, e.mysql, e.statements, e.params)
                          for e in ws.schema_changes]) for ws in origin_log]
    simple = [ws for ws in stripped if ws.schema_changes and ws.schema_changes[0].mysql in (
        "ALTER TABLE t ADD COLUMN c INT DEFAULT 5", "ALTER TABLE t DROP COLUMN c",
        "ALTER TABLE t RENAME COLUMN a2 TO a3")]
    assert len(simple) == 3
    with state.binding(conn).trusted_scope():
        for seq, write_set in enumerate(stripped, start=1):
            with ApplyTransaction(conn, [write_set]) as txn:
                txn.apply(write_set)
            if write_set in simple:
                before = _state(conn)
                with ApplyTransaction(conn, [write_set]) as txn:
                    txn.apply(_replay_copy(write_set, seq))
                    assert txn.schema_changes_skipped == 0  # no objects: statement guards
                assert _state(conn) == before
    replica.close()


def test_the_shipped_statements_are_guarded_with_if_exists(origin_log: list[WriteSet]) -> None:
    shipped = [s for ws in origin_log for e in ws.schema_changes for s in e.statements]
    creates = [s for s in shipped if s.startswith("CREATE ")]
    drops = [s for s in shipped if s.startswith("DROP ")]
    assert creates and all(" IF NOT EXISTS " in s for s in creates), creates
    assert drops and all(" IF EXISTS " in s for s in drops), drops
    # a rebuild's copy converts non-strictly on replicas (ddl/DESIGN.md §11 rule 5): the
    # MODIFY to NOT NULL and the CHANGE to BIGINT convert through MYSQL_STORE in mode 3
    copies = [s for s in shipped if "MYSQL_STORE(" in s]
    assert copies and all(", 1, 3)" in s and ", 1, 2)" not in s for s in copies), copies


def test_without_the_entry_guard_a_replayed_rebuild_fails(origin_log: list[WriteSet],
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """What the entry guard is for: a rebuild that renamed a column copies from the old name,
    which is gone once it ran (Marmot v2's unguarded ALTER replay stops a replica here)."""
    replica, session = _node(tmp_path / "replica", 2)
    _run(replica, session, "CREATE DATABASE d")
    state = replica.state
    conn = state.pipeline(state.databases.get("d")).conn
    change = next(i for i, ws in enumerate(origin_log) if ws.schema_changes and
                  ws.schema_changes[0].mysql == "ALTER TABLE t CHANGE a a2 BIGINT")
    with state.binding(conn).trusted_scope():
        for write_set in origin_log[:change + 1]:
            with ApplyTransaction(conn, [write_set]) as txn:
                txn.apply(write_set)
        monkeypatch.setattr(schema_guard, "entry_applied", lambda conn, objects: False)
        with pytest.raises(apsw.SQLError, match='no such column: "a"'):
            with ApplyTransaction(conn, [origin_log[change]]) as txn:
                txn.apply(_replay_copy(origin_log[change], 1))
    replica.close()


def test_a_rebuild_ships_its_statements_not_its_rows(origin_log: list[WriteSet]) -> None:
    """The preupdate hook sees every row a rebuild copies; capture is off for DDL, so the
    write set is the entry alone (no change storm on a big table)."""
    rebuilds = [ws for ws in origin_log if ws.schema_changes and any(
        "__marmot_old_" in s for s in ws.schema_changes[0].statements)]
    assert len(rebuilds) >= 3
    assert all(not ws.changes for ws in rebuilds)


def test_a_drop_table_applies_on_a_replica_with_a_gap_in_the_log() -> None:
    """Found by the cluster-ddl simulation: with an origin's entries logged above a gap, the
    commit-log writer left a statement unfinished on its cursor, and every DROP TABLE (a
    rebuild's too) applied in the same transaction failed with "database table is locked"
    until the gap filled."""
    conn = open_database("CREATE TABLE kv(k TEXT PRIMARY KEY, v); CREATE TABLE gone(x)")
    apply(conn, commitlog_ws(1, 2))  # origin 1's seq 1 is missing: 2 is logged above a gap
    drop = commitlog_ws(1, 3)
    drop.changes, drop.tables = [], []
    drop.schema_changes = [SchemaChange(0, "DROP TABLE gone", ['DROP TABLE IF EXISTS "gone"'])]
    assert apply(conn, drop).applied
    assert not conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'gone'").fetchall()
