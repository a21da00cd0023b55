"""Deterministic last-write-wins apply, tombstones, local commits, base versions, GC."""

from __future__ import annotations

import gc

import apsw
import pytest

from marmotdb.errors import StorageError
from marmotdb.hlc import Timestamp
from marmotdb.storage import versions
from marmotdb.storage.apply import ApplyTransaction, apply, apply_many, record_local_commit
from marmotdb.storage.commitlog import applied_vector
from marmotdb.storage.schema import TableSchema
from marmotdb.storage.writeset import (
    ChangeOp,
    RowChange,
    WriteSet,
    decode_write_set,
    encode_write_set,
)
from tests.storage.origin import Origin, dump, open_database

SCHEMA = """
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT UNIQUE, qty INTEGER);
CREATE TABLE note(item_id INTEGER REFERENCES item(id) ON DELETE CASCADE, body TEXT);
CREATE TABLE log(msg TEXT);
CREATE TRIGGER item_log AFTER INSERT ON item BEGIN INSERT INTO log VALUES (NEW.name); END;
"""
ITEM = TableSchema("item", ("id", "name", "qty"), (0,))


def ws(origin: int, seq: int, wall_ms: int, *changes: RowChange,
       tables: list[TableSchema] | None = None) -> WriteSet:
    commit = Timestamp(wall_ms, 0, origin)
    # schema version 0: the replica's, made without DDL (a newer one would wait for its DDL)
    return WriteSet(commit, origin, seq, commit, "db", 0, tables or [ITEM], list(changes))


def upsert(key: int, name: str, qty: int, op: ChangeOp = ChangeOp.INSERT) -> RowChange:
    image = (key, name, qty)
    if op == ChangeOp.INSERT:
        return RowChange("item", op, None, (key,), None, image)
    return RowChange("item", op, (key,), (key,), image, image)


def delete(key: int) -> RowChange:
    return RowChange("item", ChangeOp.DELETE, (key,), None, (key, "?", 0), None)


def items(conn: apsw.Connection) -> list[tuple]:
    return conn.execute("SELECT * FROM item ORDER BY id").fetchall()


@pytest.fixture
def replica() -> apsw.Connection:
    return open_database(SCHEMA)


def test_newer_write_wins_in_either_order(replica):
    old, new = ws(1, 1, 100, upsert(1, "old", 1)), ws(2, 1, 200, upsert(1, "new", 2))
    other = open_database(SCHEMA)
    for conn, order in ((replica, (old, new)), (other, (new, old))):
        outcomes = [apply(conn, w) for w in order]
        assert items(conn) == [(1, "new", 2)]
        assert all(o.applied for o in outcomes)
    assert dump(replica) == dump(other)
    assert apply(other, ws(3, 1, 150, upsert(1, "mid", 3))).rows_skipped == 1


def test_equal_wall_time_tie_broken_by_node_id(replica):
    low, high = ws(1, 1, 100, upsert(1, "low", 1)), ws(2, 1, 100, upsert(1, "high", 1))
    apply(replica, high)
    apply(replica, low)
    assert items(replica) == [(1, "high", 1)]


def test_tombstone_prevents_older_insert_from_resurrecting(replica):
    apply(replica, ws(1, 1, 100, upsert(1, "a", 1)))
    apply(replica, ws(2, 1, 300, delete(1)))
    outcome = apply(replica, ws(3, 1, 200, upsert(1, "zombie", 9)))
    assert outcome.applied and outcome.rows_skipped == 1 and outcome.rows_written == 0
    assert items(replica) == []
    found = versions.read_version(replica, "item", (1,))
    assert found == versions.RowVersion(Timestamp(300, 0, 2), True)
    apply(replica, ws(3, 2, 400, upsert(1, "reborn", 1)))  # a newer insert may
    assert items(replica) == [(1, "reborn", 1)]


def test_delete_arriving_before_the_insert_it_follows(replica):
    apply(replica, ws(2, 1, 300, delete(1)))
    apply(replica, ws(1, 1, 100, upsert(1, "a", 1)))
    assert items(replica) == []


def test_applying_twice_is_a_no_op(replica):
    write_set = ws(1, 1, 100, upsert(1, "a", 1), upsert(2, "b", 2))
    first, second = apply(replica, write_set), apply(replica, write_set)
    assert first.rows_written == 2 and not second.applied
    before = dump(replica)
    # Even with the log trimmed away, LWW alone keeps a re-apply from changing anything.
    replica.execute("DELETE FROM __marmot_commit_log; DELETE FROM __marmot_applied")
    again = apply(replica, write_set)
    assert again.applied and again.rows_written == 0 and again.rows_skipped == 2
    assert items(replica) == [(1, "a", 1), (2, "b", 2)]
    assert dump(replica)["__versions"] == before["__versions"]


def test_primary_key_move_is_two_rows_each_decided_alone(replica):
    apply(replica, ws(1, 1, 100, upsert(1, "a", 1)))
    apply(replica, ws(2, 1, 500, upsert(2, "b", 2)))  # newer row already at the target key
    move = RowChange("item", ChangeOp.UPDATE, (1,), (2,), (1, "a", 1), (2, "a", 1))
    outcome = apply(replica, ws(1, 2, 300, move))
    assert (outcome.rows_written, outcome.rows_skipped) == (1, 1)
    assert items(replica) == [(2, "b", 2)]  # old key deleted, target kept its newer row
    assert versions.read_version(replica, "item", (1,)).deleted


def test_statement_order_replay_avoids_spurious_unique_conflicts(replica):
    apply(replica, ws(1, 1, 100, upsert(1, "x", 0), upsert(2, "y", 0)))
    swap = ws(1, 2, 200,
              RowChange("item", ChangeOp.UPDATE, (1,), (1,), (1, "x", 0), (1, "tmp", 0)),
              RowChange("item", ChangeOp.UPDATE, (2,), (2,), (2, "y", 0), (2, "x", 0)),
              RowChange("item", ChangeOp.UPDATE, (1,), (1,), (1, "tmp", 0), (1, "y", 0)))
    apply(replica, swap)
    assert items(replica) == [(1, "y", 0), (2, "x", 0)]


def test_replicas_do_not_rerun_cascades_or_triggers(replica):
    origin = Origin(1, SCHEMA)
    shipped = [origin.run(["INSERT INTO item VALUES (1, 'a', 1)",
                           "INSERT INTO note VALUES (1, 'n1'), (1, 'n2')"]),
               origin.run(["DELETE FROM item WHERE id = 1"])]
    for encoded in shipped:
        apply(replica, decode_write_set(encoded), encoded)
    assert dump(replica) == dump(origin.conn)
    assert replica.execute("SELECT msg FROM log").fetchall() == [("a",)]  # once, from origin
    assert replica.config(apsw.SQLITE_DBCONFIG_ENABLE_FKEY, -1) == 1
    assert replica.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, -1) == 1


def test_columns_are_matched_by_name_after_ddl(replica):
    replica.execute("ALTER TABLE item ADD COLUMN color TEXT DEFAULT 'red'")
    old_shape = TableSchema("item", ("id", "qty", "name", "gone"), (0,))
    change = RowChange("item", ChangeOp.INSERT, None, (1,), None, (1, 5, "a", "x"))
    apply(replica, ws(1, 1, 100, change, tables=[old_shape]))
    assert replica.execute("SELECT * FROM item").fetchall() == [(1, "a", 5, "red")]
    replica.execute("DROP TABLE note")  # schema cookie changes: plans are rebuilt
    apply(replica, ws(1, 2, 200, upsert(1, "b", 6, ChangeOp.UPDATE)))
    assert replica.execute("SELECT * FROM item").fetchall() == [(1, "b", 6, "red")]


def test_missing_table_or_different_key_is_an_error_and_rolls_back(replica):
    ghost = TableSchema("ghost", ("id",), (0,))
    change = RowChange("ghost", ChangeOp.INSERT, None, (1,), None, (1,))
    with pytest.raises(StorageError, match="does not exist"):
        apply(replica, ws(1, 1, 100, upsert(1, "a", 1), change, tables=[ITEM, ghost]))
    rekeyed = TableSchema("item", ("id", "name", "qty"), (1,))
    with pytest.raises(StorageError, match="primary key"):
        apply(replica, ws(1, 1, 100, RowChange("item", ChangeOp.INSERT, None, ("a",), None,
                                               (1, "a", 1)), tables=[rekeyed]))
    assert items(replica) == [] and applied_vector(replica) == {}
    assert replica.get_autocommit()
    assert replica.config(apsw.SQLITE_DBCONFIG_ENABLE_FKEY, -1) == 1


def test_apply_many_is_all_or_nothing(replica):
    good, clash = ws(1, 1, 100, upsert(1, "a", 1)), ws(2, 1, 200, upsert(2, "a", 2))
    with pytest.raises(apsw.ConstraintError):  # UNIQUE(name): see DESIGN.md limits
        apply_many(replica, [good, clash])
    assert items(replica) == []
    outcomes = apply_many(replica, [good, (good, None), ws(1, 2, 150, upsert(2, "b", 2))])
    assert [o.applied for o in outcomes] == [True, False, True]
    assert applied_vector(replica) == {1: 2}


def test_apply_transaction_lets_the_caller_add_writes(replica):
    replica.execute("CREATE TABLE outbox(n)")
    with ApplyTransaction(replica) as txn:
        txn.apply(ws(1, 1, 100, upsert(1, "a", 1)))
        replica.execute("INSERT INTO outbox VALUES (1)")
    assert replica.execute("SELECT * FROM outbox").fetchall() == [(1,)]
    with pytest.raises(StorageError, match="no open transaction"):
        replica.execute("BEGIN")
        try:
            apply(replica, ws(1, 2, 200, upsert(2, "b", 1)))
        finally:
            replica.execute("ROLLBACK")


def test_record_local_commit_refuses_a_commit_timestamp_not_above_row_versions():
    origin = Origin(1, SCHEMA)
    origin.receive(encode_write_set(ws(2, 1, 5_000_000, upsert(1, "r", 1))))
    origin.conn.execute("BEGIN")
    origin.statement("UPDATE item SET qty = 2 WHERE id = 1")
    changes = origin.capture.commit()
    versions.fill_base_versions(origin.conn, changes)
    assert changes[0].base_version == Timestamp(5_000_000, 0, 2)
    stale_ts = Timestamp(4_000_000, 0, 1)
    write_set = WriteSet(stale_ts, 1, 1, stale_ts, "db", 1, [ITEM], changes)
    with pytest.raises(StorageError, match="not newer"):
        record_local_commit(origin.conn, write_set)
    origin.conn.execute("ROLLBACK")
    with pytest.raises(StorageError, match="inside the writing transaction"):
        record_local_commit(origin.conn, write_set)


def test_base_versions_and_stale_changes():
    a, b = Origin(1, SCHEMA), Origin(2, SCHEMA)
    first = a.run(["INSERT INTO item VALUES (1, 'a', 1)"])
    b.receive(first)
    a.clock.ms += 10
    second = a.run(["UPDATE item SET qty = 2 WHERE id = 1"])
    assert decode_write_set(second).changes[0].base_version == decode_write_set(first).version
    # b has not seen `second`; a write by b based on the first version is stale on a.
    b.conn.execute("BEGIN")
    b.statement("UPDATE item SET qty = 3 WHERE id = 1")
    b.statement("INSERT INTO item VALUES (2, 'fresh', 0)")
    changes = b.capture.commit()
    versions.fill_base_versions(b.conn, changes)
    b.conn.execute("ROLLBACK")
    commit = b.hlc.now()
    proposal = WriteSet(commit, 2, 1, commit, "db", 1, [ITEM], changes)
    assert versions.stale_changes(a.conn, proposal) == [0]
    assert versions.stale_changes(b.conn, proposal) == []


def test_gc_tombstones_below_watermark_only(replica):
    apply(replica, ws(1, 1, 100, upsert(1, "a", 1), upsert(2, "b", 1), upsert(3, "c", 1)))
    apply(replica, ws(1, 2, 200, delete(1)))
    apply(replica, ws(1, 3, 300, delete(2)))
    assert versions.gc_tombstones(replica, Timestamp(300, 0, 1)) == 1
    assert versions.read_version(replica, "item", (1,)) is None
    assert versions.read_version(replica, "item", (2,)).deleted
    assert versions.read_version(replica, "item", (3,)) == versions.RowVersion(
        Timestamp(100, 0, 1), False)  # live rows keep their version
    assert versions.gc_tombstones(replica, Timestamp(10**6, 0, 0), rows_max=5) == 1


def test_below_the_collection_horizon_a_missing_version_and_a_tombstone_agree(replica):
    apply(replica, ws(1, 1, 100, upsert(1, "a", 1), upsert(2, "b", 1)))
    apply(replica, ws(1, 2, 200, delete(1), delete(2)))
    assert versions.collection_horizon(replica) is None
    collected = versions.gc_tombstones(replica, Timestamp(300, 0, 1), rows_max=1)
    assert collected == 1  # bounded: one tombstone left, one collected
    assert versions.collection_horizon(replica) == Timestamp(300, 0, 1)
    versions.gc_tombstones(replica, Timestamp(250, 0, 1), rows_max=0)
    assert versions.collection_horizon(replica) == Timestamp(300, 0, 1)  # never lowered
    on_tombstone = upsert(1, "again", 2)
    on_tombstone.base_version = Timestamp(200, 0, 1)  # built where the tombstone still was
    built_on_it = ws(2, 1, 400, on_tombstone)
    assert not versions.lacks_bases(replica, built_on_it)  # its base was applied here
    on_nothing = ws(3, 1, 400, upsert(2, "fresh", 3), upsert(1, "fresh", 3))
    assert versions.stale_changes(replica, on_nothing) == []  # "no row" = old tombstone
    newer = upsert(5, "x", 1)
    newer.base_version = Timestamp(350, 0, 1)  # above the horizon: still missing here
    assert versions.lacks_bases(replica, ws(2, 2, 400, newer))
    apply(replica, ws(1, 3, 500, upsert(3, "c", 1)))
    apply(replica, ws(1, 4, 600, delete(3)))
    assert versions.stale_changes(replica, ws(3, 2, 700, upsert(3, "d", 1))) == [0]


def test_canonical_keys_treat_negative_zero_as_zero():
    assert versions.encode_key((-0.0, "a")) == versions.encode_key((0.0, "a"))
    assert versions.encode_key((1,)) != versions.encode_key((1.0,))


def test_a_big_write_holds_one_base_version_object_per_version_and_untracked_changes():
    """A big write keeps its changes alive until it commits: RowChanges are invisible to the
    cycle collector and rows last written together share one Timestamp object, so a full
    collection has little to walk (runtime/collector_pause.py)."""
    origin = Origin(1, SCHEMA)
    origin.run(["INSERT INTO item VALUES (1, 'a', 1), (2, 'b', 1), (3, 'c', 1)"])
    origin.conn.execute("BEGIN")
    origin.statement("UPDATE item SET qty = qty + 1")
    changes = origin.capture.commit()
    versions.fill_base_versions(origin.conn, changes)
    origin.conn.execute("ROLLBACK")
    assert len(changes) == 3 and changes[0].base_version is not None
    assert all(change.base_version is changes[0].base_version for change in changes)
    assert not any(gc.is_tracked(change) for change in changes)


def test_an_old_schema_write_sets_rows_of_a_table_gone_since_are_skipped_not_waited_for(replica):
    """ddl/DESIGN.md §11 rule 1: built on schema version 0, applied on version 1 where its
    table ``ghost`` is gone (a DDL renamed or dropped it since): ghost's rows are skipped and
    counted, its base versions are not waited for, the rest applies and the entry is logged.
    The same write set on the current version stays an error."""
    ghost = TableSchema("ghost", ("id",), (0,))
    based = RowChange("ghost", ChangeOp.UPDATE, (1,), (1,), (1,), (1,),
                      base_version=Timestamp(50, 0, 1))
    late = ws(1, 1, 100, upsert(1, "a", 1), based, tables=[ITEM, ghost])
    with pytest.raises(StorageError, match="does not exist"):  # current version (0): a bug
        apply(replica, late)
    assert versions.lacks_bases(replica, late)  # and its base is waited for
    replica.execute("PRAGMA user_version=1")  # a DDL applied here since the write was built
    assert not versions.lacks_bases(replica, late)
    with ApplyTransaction(replica, [late]) as txn:
        assert txn.apply(late).applied
        assert txn.rows_skipped_schema == 1
    assert items(replica) == [(1, "a", 1)] and applied_vector(replica) == {1: 1}
    assert versions.read_version(replica, "ghost", (1,)) is None  # nothing under a gone name


def test_an_old_schema_write_sets_rows_of_a_table_whose_key_changed_since_are_skipped(replica):
    """ddl/DESIGN.md §11 rule 1, a primary key a DDL changed since (``DROP PRIMARY KEY, ADD
    PRIMARY KEY (id, name)``, a renamed key column): the write set's rows cannot be named on
    the key here; built on an older version they are skipped (their origin re-emits them
    under the new key) and their base is not waited for. On the current version the
    different key stays an error."""
    replica.execute("CREATE TABLE keyed(id INT, name TEXT, PRIMARY KEY (id, name))")
    old_key = TableSchema("keyed", ("id", "name"), (0,))
    based = RowChange("keyed", ChangeOp.UPDATE, (1,), (1,), (1, "x"), (1, "y"),
                      base_version=Timestamp(50, 0, 1))
    late = ws(1, 1, 100, upsert(1, "a", 1), based, tables=[ITEM, old_key])
    with pytest.raises(StorageError, match=r"primary key \(id, name\) differs from the write "
                                           r"set's \(id\)"):
        apply(replica, late)  # current version (0): a bug, not a race
    assert versions.lacks_bases(replica, late)
    replica.execute("PRAGMA user_version=1")  # the DDL that changed the key, applied here
    assert not versions.lacks_bases(replica, late)
    with ApplyTransaction(replica, [late]) as txn:
        assert txn.apply(late).applied
        assert txn.rows_skipped_schema == 1
    assert items(replica) == [(1, "a", 1)] and applied_vector(replica) == {1: 1}
    assert replica.execute("SELECT count(*) FROM keyed").fetchall() == [(0,)]
