"""Re-emit obligations (storage/reemit.py, ddl/DESIGN.md §11): what a peer's DDL not ordered
after this node's own entries leaves to ship again, following renames and drops."""

from __future__ import annotations

import apsw
import msgspec

from marmotdb.hlc import Timestamp
from marmotdb.storage import reemit, versions
from marmotdb.storage.apply import ApplyTransaction, record_local_commit
from marmotdb.storage.schema import TableSchema
from marmotdb.storage.writeset import ChangeOp, RowChange, SchemaChange, WriteSet
from tests.storage.origin import open_database

W = TableSchema("w", ("id", "b"), (0,))
SELF, PEER = 3, 1


def own_write(conn: apsw.Connection, seq: int, wall_ms: int, *changes: RowChange) -> None:
    """This node's own write (at ONE) on schema version 0, committed here."""
    commit = Timestamp(wall_ms, 0, SELF)
    with conn:
        for change in changes:
            if change.after is not None:
                conn.execute("INSERT OR REPLACE INTO w VALUES (?, ?)", change.after)
            else:
                conn.execute("DELETE FROM w WHERE id = ?", change.old_key)
        record_local_commit(conn, WriteSet(commit, SELF, seq, commit, "d", 0, [W],
                                           list(changes)))


def peer_ddl(statements: list[str], ordered_after: dict[int, int] | None) -> WriteSet:
    commit = Timestamp(500, 0, PEER)
    entry = SchemaChange(0, "DDL", statements, {}, [])
    return WriteSet(commit, PEER, 1, commit, "d", 1, [], [], [entry], ordered_after)


def obligations(conn: apsw.Connection) -> list[tuple]:
    return conn.execute(f"SELECT tbl, pk FROM {reemit.REEMIT} ORDER BY tbl, pk").fetchall()


def test_a_peer_ddl_not_ordered_after_own_writes_obliges_and_the_rows_follow_a_rename():
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b);")
    own_write(conn, 1, 100, RowChange("w", ChangeOp.INSERT, None, (10,), None, (10, 10)))
    own_write(conn, 2, 110, RowChange("w", ChangeOp.INSERT, None, (11,), None, (11, 11)))
    own_write(conn, 3, 120, RowChange("w", ChangeOp.DELETE, (11,), None, (11, 11), None))
    ddl = peer_ddl(['ALTER TABLE "w" RENAME TO "w2"'], {SELF: 0})
    with ApplyTransaction(conn, [ddl], local_origin=SELF) as txn:
        txn.apply(ddl)
    assert txn.reemits_obliged == 2
    keys = [versions.encode_key((10,)), versions.encode_key((11,))]
    assert obligations(conn) == [("w2", keys[0]), ("w2", keys[1])]
    changes, kept = reemit.collect(conn, SELF, 1000)
    assert kept == [("w2", keys[0]), ("w2", keys[1])]
    # row 10 as it is now, row 11 deleted (its before image: the key, the rest NULL)
    assert [(c.table, c.op, c.old_key, c.new_key, c.after) for c in changes] == [
        ("w2", ChangeOp.UPDATE, (10,), (10,), (10, 10)),
        ("w2", ChangeOp.DELETE, (11,), None, None)]
    assert changes[1].before == (11, None)
    assert obligations(conn) == []


def test_no_obligation_when_ordered_after_covers_them_or_for_an_older_nodes_ddl():
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b);")
    own_write(conn, 1, 100, RowChange("w", ChangeOp.INSERT, None, (10,), None, (10, 10)))
    for ordered_after in ({SELF: 1}, None):
        ddl = peer_ddl(['ALTER TABLE "w" ADD COLUMN "c"'], ordered_after)
        assert reemit.oblige(conn, ddl, SELF) == 0
    own = peer_ddl(['ALTER TABLE "w" ADD COLUMN "c"'], {})
    assert reemit.oblige(conn, own, SELF) == 1  # not covered: obliged
    own.origin = SELF
    assert reemit.oblige(conn, own, SELF) == 0  # this node's own DDL: never


def test_obligations_go_with_a_dropped_table_and_skip_rows_another_node_won():
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b); CREATE TABLE v(id INTEGER "
                         "PRIMARY KEY);")
    own_write(conn, 1, 100, RowChange("w", ChangeOp.INSERT, None, (10,), None, (10, 10)),
              RowChange("w", ChangeOp.INSERT, None, (12,), None, (12, 12)))
    with conn:  # a later write of another node won row 12 here
        versions.claim_version(conn, "w", versions.encode_key((12,)), Timestamp(900, 0, PEER),
                               False)
    assert reemit.oblige(conn, peer_ddl(['ALTER TABLE "w" ADD COLUMN "c"'], {}), SELF) == 2
    assert [c.new_key for c in reemit.collect(conn, SELF, 1000)[0]] == [(10,)]
    assert reemit.oblige(conn, peer_ddl(['DROP TABLE "w"'], {}), SELF) == 2
    conn.execute("DROP TABLE w")
    reemit.follow(conn, ['DROP TABLE "w"'])
    assert obligations(conn) == []


def key_columns(conn: apsw.Connection) -> list[tuple]:
    return conn.execute(f"SELECT tbl, key_columns FROM {reemit.REEMIT} ORDER BY pk").fetchall()


def test_obligations_carry_the_key_columns_and_follow_a_renamed_key_column():
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b);")
    own_write(conn, 1, 100, RowChange("w", ChangeOp.INSERT, None, (10,), None, (10, 10)))
    assert reemit.oblige(conn, peer_ddl(['ALTER TABLE "w" RENAME COLUMN "id" TO "id2"'], {}),
                         SELF) == 1
    assert key_columns(conn) == [("w", '["id"]')]
    conn.execute('ALTER TABLE "w" RENAME COLUMN "id" TO "id2"')
    reemit.follow(conn, ['ALTER TABLE "w" RENAME COLUMN "id" TO "id2"'])
    assert key_columns(conn) == [("w", '["id2"]')]
    changes, _ = reemit.collect(conn, SELF, 1000)  # the key is the table's: named as before
    assert [(c.op, c.new_key, c.after) for c in changes] == [(ChangeOp.UPDATE, (10,), (10, 10))]


def test_a_rebuilds_copy_renames_the_columns_it_copies_and_drops_the_others():
    copy = ('INSERT INTO "w" ("id2", "a", "c", "b") SELECT NULLIF(MYSQL_STORE("id", '
            "'bigint not null', 'id2', 1, 2), 0), \"a\", 'x, \"y\"', \"b\" FROM \"__marmot_old_w\"")
    assert reemit.renamed_columns(copy) == ("w", {"id": "id2", "a": "a", "b": "b"}, True,
                                            {"c": "'x, \"y\"'"})
    assert reemit.renamed_columns('ALTER TABLE "w" RENAME COLUMN "a" TO "b"') == (
        "w", {"a": "b"}, False, {})
    assert reemit.renamed_columns('ALTER TABLE "w" RENAME TO "v"') is None
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b);")
    own_write(conn, 1, 100, RowChange("w", ChangeOp.INSERT, None, (10,), None, (10, 10)))
    reemit.oblige(conn, peer_ddl(["SELECT 1"], {}), SELF)
    reemit.follow(conn, [copy])
    assert key_columns(conn) == [("w", '["id2"]')]
    reemit.follow(conn, ['INSERT INTO "w" ("b", "x") SELECT "b", 7 FROM "__marmot_old_w"'])
    # the key column was not copied: no name for it, and it left the image (the image's
    # other columns name the row, if they hold the new key); the added x holds its default
    assert key_columns(conn) == [("w", '[""]')]
    (image,), = conn.execute(f"SELECT image FROM {reemit.REEMIT}").fetchall()
    assert msgspec.msgpack.decode(image) == {"b": 10, "x": 7}


def test_a_changed_primary_key_names_the_rows_by_the_old_keys_columns():
    """``DROP PRIMARY KEY, ADD PRIMARY KEY (id, b)`` since the own writes: the obligation
    (named by ``id``) finds the row by its id and states it under the key (id, b)."""
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b);")
    own_write(conn, 1, 100, RowChange("w", ChangeOp.INSERT, None, (10,), None, (10, 10)),
              RowChange("w", ChangeOp.INSERT, None, (11,), None, (11, 11)))
    reemit.oblige(conn, peer_ddl(["SELECT 1"], {}), SELF)
    with conn:
        conn.execute("CREATE TABLE w2(id INTEGER, b, PRIMARY KEY (id, b))")
        conn.execute("INSERT INTO w2 SELECT * FROM w")
        conn.execute("DROP TABLE w")
        conn.execute("ALTER TABLE w2 RENAME TO w")
        versions.claim_version(conn, "w", versions.encode_key((11, 11)),
                               Timestamp(900, 0, PEER), False)  # another node won (11, 11)
    changes, kept = reemit.collect(conn, SELF, 1000)
    assert len(kept) == 2
    assert [(c.op, c.old_key, c.new_key, c.after) for c in changes] == [
        (ChangeOp.UPDATE, (10, 10), (10, 10), (10, 10))]


def test_a_row_deleted_by_the_late_writes_is_named_under_the_changed_key_by_its_image():
    """The late writes deleted row 11: the obligation keeps the image they deleted, its
    columns follow a rename, and under the key (id, b2) it names the row to delete."""
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b);")
    own_write(conn, 1, 100, RowChange("w", ChangeOp.INSERT, None, (11,), None, (11, 7)))
    own_write(conn, 2, 110, RowChange("w", ChangeOp.DELETE, (11,), None, (11, 7), None))
    reemit.oblige(conn, peer_ddl(["SELECT 1"], {}), SELF)
    with conn:
        conn.execute("CREATE TABLE w2(id INTEGER, b2, PRIMARY KEY (id, b2))")
        conn.execute("DROP TABLE w")
        conn.execute("ALTER TABLE w2 RENAME TO w")
    reemit.follow(conn, ['INSERT INTO "w" ("id", "b2") SELECT "id", "b" FROM "__marmot_old_w"'])
    changes, _ = reemit.collect(conn, SELF, 1000)
    assert [(c.op, c.old_key, c.before) for c in changes] == [(ChangeOp.DELETE, (11, 7),
                                                                (11, 7))]


def test_an_older_files_obligation_table_gets_the_key_columns_and_image():
    """Obligations of a file from before the two columns: '' and NULL (named by the table's
    key now, as before)."""
    from marmotdb.storage.internal_tables import ensure_internal_tables
    conn = open_database("CREATE TABLE w(id INTEGER PRIMARY KEY, b);")
    conn.execute(f"DROP TABLE {reemit.REEMIT}")
    conn.execute(f"CREATE TABLE {reemit.REEMIT}(tbl TEXT NOT NULL, pk BLOB NOT NULL, "
                 "PRIMARY KEY (tbl, pk)) WITHOUT ROWID")
    conn.execute(f"INSERT INTO {reemit.REEMIT} VALUES ('w', ?)", (versions.encode_key((1,)),))
    ensure_internal_tables(conn)
    assert reemit.obligations(conn) == [("w", versions.encode_key((1,)), "", None)]
