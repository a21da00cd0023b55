"""Change capture: what the preupdate hook sees, and the statement/savepoint buffer."""

from __future__ import annotations

import math

import apsw
import pytest

from marmotdb import errors
from marmotdb.storage.capture import ChangeCapture, StatementOps
from marmotdb.storage.writeset import ChangeOp, RowChange
from tests.storage.origin import open_database

SCHEMA = """
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT UNIQUE, score REAL);
CREATE TABLE child(id INTEGER PRIMARY KEY,
                   parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE, note TEXT);
CREATE TABLE loose(a, b);
CREATE TABLE pairs(k TEXT, n INTEGER, v, PRIMARY KEY (n, k)) WITHOUT ROWID;
CREATE TABLE audit(msg TEXT);
CREATE TRIGGER parent_audit AFTER INSERT ON parent BEGIN
    INSERT INTO audit(msg) VALUES ('new ' || NEW.name);
END;
CREATE TABLE __marmot_private(x);
"""


@pytest.fixture
def db():
    conn = open_database(SCHEMA)
    capture = ChangeCapture(conn)
    yield conn, capture
    capture.close()


def run(conn, capture, sql, params=(), ok=True):
    capture.statement_begin()
    try:
        conn.execute(sql, params)
    except apsw.Error:
        capture.statement_end(False)
        if ok:
            raise
        return False
    capture.statement_end(True)
    return True


def summary(changes: list[RowChange]):
    return [(c.table, c.op.name, c.old_key, c.new_key) for c in changes]


def test_insert_update_delete_in_statement_order_with_full_images(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO parent VALUES (1, 'a', 1.5), (2, 'b', 2.5)")
    run(conn, capture, "UPDATE parent SET score = score * 2 WHERE id = 2")
    run(conn, capture, "DELETE FROM parent WHERE id = 1")
    changes = capture.commit()
    ours = [c for c in changes if c.table == "parent"]
    assert summary(ours) == [("parent", "INSERT", None, (1,)), ("parent", "INSERT", None, (2,)),
                             ("parent", "UPDATE", (2,), (2,)), ("parent", "DELETE", (1,), None)]
    assert ours[2].before == (2, "b", 2.5) and ours[2].after == (2, "b", 5.0)
    assert ours[3].before == (1, "a", 1.5) and ours[3].after is None
    assert capture.commit() == []


def test_trigger_rows_and_fk_cascade_are_captured(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO parent VALUES (1, 'a', 0)")
    run(conn, capture, "INSERT INTO child VALUES (10, 1, 'x'), (11, 1, 'y')")
    assert capture.last_statement_ops() == StatementOps(2, 0, 0)
    run(conn, capture, "DELETE FROM parent WHERE id = 1")
    assert capture.last_statement_ops() == StatementOps(0, 0, 1)  # cascades not counted
    assert summary(capture.commit()) == [
        ("parent", "INSERT", None, (1,)), ("audit", "INSERT", None, (1,)),
        ("child", "INSERT", None, (10,)), ("child", "INSERT", None, (11,)),
        ("parent", "DELETE", (1,), None), ("child", "DELETE", (10,), None),
        ("child", "DELETE", (11,), None)]


def test_replace_captures_delete_then_insert_including_unique_victims(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO parent VALUES (1, 'a', 0), (2, 'b', 0)")
    capture.commit()
    run(conn, capture, "REPLACE INTO parent VALUES (3, 'a', 9)")  # evicts id 1 via UNIQUE(name)
    assert capture.last_statement_ops() == StatementOps(1, 0, 1)
    run(conn, capture, "REPLACE INTO parent VALUES (2, 'bb', 9)")
    changes = [c for c in capture.commit() if c.table == "parent"]
    assert summary(changes) == [("parent", "DELETE", (1,), None), ("parent", "INSERT", None, (3,)),
                                ("parent", "DELETE", (2,), None), ("parent", "INSERT", None, (2,))]


def test_upsert_paths_and_affected_row_counts(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO parent VALUES (1, 'a', 1)")
    upsert = ("INSERT INTO parent VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
              "score = excluded.score")
    run(conn, capture, upsert, (1, "a", 2))
    assert capture.last_statement_ops() == StatementOps(0, 1, 0)
    run(conn, capture, upsert, (1, "a", 2))  # matched but unchanged: not captured
    assert capture.last_statement_ops() == StatementOps(0, 0, 0)
    assert capture.last_statement_unchanged() == 1
    run(conn, capture, upsert, (5, "e", 1))
    assert capture.last_statement_ops() == StatementOps(1, 0, 0)
    run(conn, capture, "INSERT OR IGNORE INTO parent VALUES (1, 'zzz', 0)")
    assert capture.last_statement_ops() == StatementOps(0, 0, 0)
    changes = [c for c in capture.commit() if c.table == "parent"]
    assert [c.op for c in changes] == [ChangeOp.INSERT, ChangeOp.UPDATE, ChangeOp.INSERT]
    assert changes[1].before == (1, "a", 1.0) and changes[1].after == (1, "a", 2.0)


def test_failed_statement_rows_are_discarded(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO parent VALUES (1, 'a', 0)")
    # Row 2 is inserted (and reported to the hook) before row 3 hits UNIQUE(name).
    assert not run(conn, capture, "INSERT INTO parent VALUES (2, 'b', 0), (3, 'a', 0)", ok=False)
    assert capture.last_statement_ops() == StatementOps(0, 0, 0)
    run(conn, capture, "INSERT INTO loose VALUES (1, 2)")
    assert summary(capture.commit()) == [("parent", "INSERT", None, (1,)),
                                         ("audit", "INSERT", None, (1,)),
                                         ("loose", "INSERT", None, (1,))]


def test_savepoints_rollback_to_and_release(db):
    conn, capture = db
    conn.execute("BEGIN")
    run(conn, capture, "INSERT INTO loose VALUES (1, 1)")
    conn.execute("SAVEPOINT s1")
    capture.savepoint("s1")
    run(conn, capture, "INSERT INTO loose VALUES (2, 2)")
    conn.execute("SAVEPOINT s2")
    capture.savepoint("S2")  # names are case-insensitive, like SQLite's
    run(conn, capture, "INSERT INTO loose VALUES (3, 3)")
    conn.execute("ROLLBACK TO s1")
    capture.rollback_to("s1")
    with pytest.raises(errors.MarmotError) as caught:
        capture.rollback_to("s2")  # cancelled by rolling back to s1
    assert caught.value.code == errors.ER_SP_DOES_NOT_EXIST
    run(conn, capture, "INSERT INTO loose VALUES (4, 4)")
    capture.rollback_to("s1")  # s1 survives its own ROLLBACK TO
    conn.execute("ROLLBACK TO s1")
    run(conn, capture, "INSERT INTO loose VALUES (5, 5)")
    conn.execute("RELEASE s1")
    capture.release("s1")
    with pytest.raises(errors.MarmotError):
        capture.release("s1")
    changes = capture.commit()
    conn.execute("COMMIT")
    assert [c.after for c in changes] == [(1, 1), (5, 5)]
    assert conn.execute("SELECT a FROM loose ORDER BY a").fetchall() == [(1,), (5,)]


def test_rollback_drops_everything(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO loose VALUES (1, 1)")
    capture.savepoint("x")
    capture.rollback()
    assert capture.pending_rows() == 0
    assert capture.commit() == []
    with pytest.raises(errors.MarmotError):
        capture.rollback_to("x")


def test_primary_key_changes_carry_old_and_new_key(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO parent VALUES (1, 'a', 0)")
    run(conn, capture, "INSERT INTO pairs VALUES ('k', 1, 'v')")
    run(conn, capture, "INSERT INTO loose VALUES ('x', 'y')")
    capture.commit()
    run(conn, capture, "UPDATE parent SET id = 7")
    run(conn, capture, "UPDATE pairs SET k = 'j', n = 2")
    run(conn, capture, "UPDATE loose SET rowid = 42")  # same image, new rowid: still a change
    changes = capture.commit()
    assert summary(changes) == [("parent", "UPDATE", (1,), (7,)),
                                ("pairs", "UPDATE", (1, "k"), (2, "j")),
                                ("loose", "UPDATE", (1,), (42,))]
    assert changes[1].after == ("j", 2, "v")


def test_internal_temp_and_outside_statement_rows_are_ignored(db):
    conn, capture = db
    conn.execute("CREATE TEMP TABLE scratch(x)")
    run(conn, capture, "INSERT INTO __marmot_private VALUES (1)")
    run(conn, capture, "INSERT INTO __marmot_row_versions VALUES ('t', x'00', 1, 1, 0)")
    run(conn, capture, "INSERT INTO scratch VALUES (1)")
    conn.execute("INSERT INTO loose VALUES (1, 1)")  # no statement_begin: e.g. apply()
    assert capture.commit() == []


def test_custom_exclude_predicate():
    conn = open_database(SCHEMA)
    capture = ChangeCapture(conn, exclude=lambda table: table == "loose")
    run(conn, capture, "INSERT INTO loose VALUES (1, 1)")
    run(conn, capture, "INSERT INTO pairs VALUES ('a', 1, 1)")
    assert [c.table for c in capture.commit()] == ["pairs"]


@pytest.mark.parametrize("value", [
    2**63 - 1, -(2**63), 2**53 + 1, -(2**53) - 1, 0, 1.5, -0.0, math.inf, -math.inf,
    "text ☃", "", b"\x00\xffblob", b"", None,
])
def test_value_types_survive_exactly(db, value):
    conn, capture = db
    run(conn, capture, "INSERT INTO loose VALUES (?, 'tag')", (value,))
    (change,) = capture.commit()
    got = change.after[0]
    assert type(got) is type(value) and got == value
    if isinstance(value, float):
        assert math.copysign(1, got) == math.copysign(1, value)


def test_nan_becomes_null_in_sqlite(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO loose VALUES (?, 1)", (math.nan,))
    assert capture.commit()[0].after == (None, 1)


def test_update_changing_only_type_or_sign_is_captured(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO loose VALUES (1, 0.0)")
    capture.commit()
    run(conn, capture, "UPDATE loose SET a = 1.0")
    run(conn, capture, "UPDATE loose SET b = -0.0")
    run(conn, capture, "UPDATE loose SET b = -0.0")
    assert capture.last_statement_unchanged() == 1
    changes = capture.commit()
    assert [c.after for c in changes] == [(1.0, 0.0), (1.0, -0.0)]
    assert type(changes[0].after[0]) is float


def test_schema_cache_is_invalidated_on_ddl(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO loose VALUES (1, 2)")
    conn.execute("ALTER TABLE loose ADD COLUMN c DEFAULT 'z'")
    capture.invalidate_schema()
    run(conn, capture, "INSERT INTO loose VALUES (3, 4, 5)")
    changes = capture.commit()
    assert changes[1].after == (3, 4, 5)
    assert capture.table_schema("loose").columns == ("a", "b", "c")


def test_virtual_generated_columns_fail_the_statement_instead_of_losing_rows(db):
    conn, capture = db
    conn.execute("CREATE TABLE gen(id INTEGER PRIMARY KEY, v, doubled AS (v * 2))")
    capture.statement_begin()
    with pytest.raises(errors.NotSupportedError):
        conn.execute("INSERT INTO gen(id, v) VALUES (1, 2)")
    capture.statement_end(False)
    assert capture.commit() == []


def test_stored_generated_columns_are_in_images(db):
    conn, capture = db
    conn.execute("CREATE TABLE gen(id INTEGER PRIMARY KEY, v, doubled AS (v * 2) STORED)")
    run(conn, capture, "INSERT INTO gen(id, v) VALUES (1, 2)")
    (change,) = capture.commit()
    assert change.after == (1, 2, 4)
    assert capture.table_schema("gen").generated == (2,)


def test_hook_error_reported_even_if_caller_claims_success(db):
    conn, capture = db
    capture.txn_rows_max = 2
    capture.statement_begin()
    with pytest.raises(errors.MarmotError) as caught:
        conn.execute("INSERT INTO loose VALUES (1, 1), (2, 2), (3, 3)")
    assert caught.value.code == 1197
    with pytest.raises(errors.MarmotError):
        capture.statement_end(True)
    assert capture.pending_rows() == 0


def test_boundary_misuse_is_an_error(db):
    _, capture = db
    with pytest.raises(errors.MarmotError):
        capture.statement_end(True)
    capture.statement_begin()
    with pytest.raises(errors.MarmotError):
        capture.statement_begin()
    with pytest.raises(errors.MarmotError):
        capture.commit()


def test_schemas_for_lists_tables_in_first_use_order(db):
    conn, capture = db
    run(conn, capture, "INSERT INTO pairs VALUES ('a', 1, 1)")
    run(conn, capture, "INSERT INTO loose VALUES (1, 1)")
    run(conn, capture, "INSERT INTO pairs VALUES ('b', 1, 1)")
    schemas = capture.schemas_for(capture.commit())
    assert [s.name for s in schemas] == ["pairs", "loose"]
    assert schemas[0].key_columns == ("n", "k")
    assert schemas[1].keyed_by_rowid


def test_close_detaches_the_hook(db):
    conn, capture = db
    capture.close()
    capture.statement_begin()
    conn.execute("INSERT INTO loose VALUES (1, 1)")
    capture.statement_end(True)
    assert capture.commit() == []
    capture.close = lambda: None  # fixture teardown: already closed
