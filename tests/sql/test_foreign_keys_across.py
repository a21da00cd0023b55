"""FOREIGN KEYs to a table of another database (txn/DESIGN.md §10.1,
sql/foreign_keys_across.py): kept in our catalog, shown as MySQL shows them, and enforced from
the rows each statement changed while foreign_key_checks = 1 (the CASCADE / SET NULL actions:
tests/sql/test_cascades_across.py)."""

from __future__ import annotations

import pytest

from marmotdb.users import User
from tests.sql.sessions import error_code, new_server, rows, session

KEY = ("(`test_schema`.`remote_table`, CONSTRAINT `remote_table_ibfk_1` FOREIGN KEY "
       "(`local_id`) REFERENCES `test`.`local_table` (`id`))")


@pytest.fixture
def server(tmp_path):
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"})])
    s = session(state)
    for statement in ("CREATE DATABASE test", "CREATE DATABASE test_schema",
                      "CREATE TABLE test.local_table (id INT PRIMARY KEY, data VARCHAR(20))",
                      "CREATE TABLE test_schema.remote_table (id INT PRIMARY KEY, local_id INT, "
                      "FOREIGN KEY (local_id) REFERENCES test.local_table (id))",
                      "INSERT INTO test.local_table VALUES (1, 'a'), (2, 'b')",
                      "INSERT INTO test_schema.remote_table VALUES (10, 1)"):
        s.execute(statement)
    yield state
    state.close()


def message(call) -> tuple[int, str]:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the MarmotError's code and text
        return exc.code, str(exc)  # type: ignore[attr-defined]
    raise AssertionError("no error")


def test_the_key_is_shown_as_mysql_shows_it(server):
    s = session(server, database="test")
    created = rows(s.execute("SHOW CREATE TABLE test_schema.remote_table"))[0][1]
    assert "  CONSTRAINT `remote_table_ibfk_1` FOREIGN KEY (`local_id`) REFERENCES " \
           "`test`.`local_table` (`id`)\n" in created
    assert rows(s.execute(
        "SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, "
        "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE "
        "TABLE_SCHEMA = 'test_schema' AND REFERENCED_TABLE_NAME IS NOT NULL")) == [
        ("remote_table_ibfk_1", "local_id", "test", "local_table", "id")]
    assert rows(s.execute(
        "SELECT CONSTRAINT_SCHEMA, UNIQUE_CONSTRAINT_SCHEMA, UNIQUE_CONSTRAINT_NAME, TABLE_NAME, "
        "REFERENCED_TABLE_NAME, DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS")) == [
        ("test_schema", "test", "PRIMARY", "remote_table", "local_table", "NO ACTION")]
    assert rows(s.execute(
        "SELECT CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS WHERE "
        "CONSTRAINT_NAME = 'remote_table_ibfk_1'")) == [("FOREIGN KEY",)]


def test_a_child_row_needs_its_parent_in_the_other_database(server):
    s = session(server, database="test_schema")
    assert message(lambda: s.execute("INSERT INTO remote_table VALUES (11, 3)")) == (
        1452, "Cannot add or update a child row: a foreign key constraint fails " + KEY)
    assert message(lambda: s.execute("UPDATE remote_table SET local_id = 3")) [0] == 1452
    s.execute("INSERT INTO remote_table VALUES (11, NULL)")  # MATCH SIMPLE: not checked
    s.execute("INSERT INTO remote_table VALUES (12, 2)")
    s.execute("UPDATE remote_table SET id = id + 100 WHERE id = 12")  # the key is unchanged
    s.execute("BEGIN")
    s.execute("INSERT INTO remote_table VALUES (13, 1)")
    assert error_code(lambda: s.execute("INSERT INTO remote_table VALUES (14, 9), (15, 1)")) \
        == 1452
    s.execute("COMMIT")  # the failed statement alone was undone
    assert rows(s.execute("SELECT id, local_id FROM remote_table ORDER BY id")) == [
        (10, 1), (11, None), (13, 1), (112, 2)]


def test_a_parent_row_with_children_in_the_other_database_stays(server):
    s = session(server, database="test")
    parent = ("Cannot delete or update a parent row: a foreign key constraint fails " + KEY)
    assert message(lambda: s.execute("DELETE FROM local_table WHERE id = 1")) == (1451, parent)
    assert error_code(lambda: s.execute("UPDATE local_table SET id = 5 WHERE id = 1")) == 1451
    assert error_code(lambda: s.execute("REPLACE INTO local_table VALUES (1, 'z')")) == 1451
    s.execute("UPDATE local_table SET data = 'x' WHERE id = 1")  # not the referenced column
    s.execute("DELETE FROM local_table WHERE id = 2")  # no child
    s.execute("DELETE FROM test_schema.remote_table")
    s.execute("DELETE FROM local_table")
    assert rows(s.execute("SELECT COUNT(*) FROM local_table")) == [(0,)]


def test_ddl_keeps_the_parent_while_the_checks_are_on(server):
    s = session(server, database="test")
    assert error_code(lambda: s.execute("DROP TABLE local_table")) == 3730
    assert error_code(lambda: s.execute("TRUNCATE TABLE local_table")) == 1701
    assert error_code(lambda: s.execute("ALTER TABLE local_table DROP PRIMARY KEY")) == 1553
    assert error_code(lambda: s.execute("ALTER TABLE local_table DROP COLUMN id")) == 1829
    assert error_code(lambda: s.execute("ALTER TABLE local_table MODIFY id BIGINT")) == 3780
    s.execute("ALTER TABLE local_table MODIFY data VARCHAR(40)")  # not a key's column
    assert error_code(lambda: s.execute(
        "CREATE TABLE test_schema.t (a INT, FOREIGN KEY (a) REFERENCES test.nope (id))")) == 1824
    for rename in ("RENAME TABLE local_table TO lt", "ALTER TABLE local_table RENAME TO lt"):
        code, text = message(lambda: s.execute(rename))  # noqa: B023 - called at once
        assert code == 1235 and "RENAME of a table a FOREIGN KEY of another database refers " \
            "to (`test_schema`.`remote_table`, CONSTRAINT `remote_table_ibfk_1`)" in text
    s.execute("RENAME TABLE test_schema.remote_table TO test_schema.rt")  # the child may
    assert error_code(lambda: s.execute("INSERT INTO test_schema.rt VALUES (11, 3)")) == 1452
    s.execute("DROP TABLE test_schema.rt")
    s.execute("DROP TABLE local_table")  # its child is gone


def test_set_default_to_another_database_is_refused_by_name(server):
    """CASCADE and SET NULL work (tests/sql/test_cascades_across.py); InnoDB has no SET
    DEFAULT action."""
    s = session(server, database="test_schema")
    code, text = message(lambda: s.execute(
        "CREATE TABLE t (a INT, FOREIGN KEY (a) REFERENCES test.local_table (id) "
        "ON DELETE SET DEFAULT)"))
    assert code == 1235 and "FOREIGN KEY … ON DELETE SET DEFAULT to a table of another " \
        "database" in text
    s.execute("CREATE TABLE t (a INT, FOREIGN KEY (a) REFERENCES test.local_table (id) "
              "ON DELETE RESTRICT ON UPDATE NO ACTION)")
    assert error_code(lambda: s.execute("INSERT INTO t VALUES (7)")) == 1452


def test_checks_off_checks_nothing(server):
    s = session(server, database="test_schema")
    s.execute("SET foreign_key_checks = 0")
    s.execute("CREATE TABLE t (a INT, FOREIGN KEY (a) REFERENCES test.later (id))")
    s.execute("INSERT INTO remote_table VALUES (11, 99)")
    s.execute("DELETE FROM test.local_table WHERE id = 1")
    s.execute("SET foreign_key_checks = 1")
    assert error_code(lambda: s.execute("INSERT INTO remote_table VALUES (12, 98)")) == 1452


def test_alter_table_adds_checks_and_drops_a_key_across_databases(server):
    s = session(server, database="test_schema")
    s.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    s.execute("INSERT INTO t VALUES (1, 1), (2, 7)")
    assert error_code(lambda: s.execute(
        "ALTER TABLE t ADD CONSTRAINT fk_a FOREIGN KEY (a) REFERENCES test.local_table (id)")) \
        == 1452  # the existing row (2, 7) has no parent
    s.execute("DELETE FROM t WHERE id = 2")
    s.execute("ALTER TABLE t ADD CONSTRAINT fk_a FOREIGN KEY (a) REFERENCES test.local_table (id)")
    s.execute("ALTER TABLE t ADD COLUMN note VARCHAR(5)")  # a rebuild keeps the key
    assert "REFERENCES `test`.`local_table` (`id`)" in rows(
        s.execute("SHOW CREATE TABLE t"))[0][1]
    assert error_code(lambda: s.execute("INSERT INTO t VALUES (3, 7, 'x')")) == 1452
    assert error_code(lambda: s.execute("DELETE FROM test.local_table WHERE id = 1")) == 1451
    s.execute("ALTER TABLE t DROP FOREIGN KEY fk_a")
    s.execute("INSERT INTO t VALUES (3, 7, 'x')")


def test_the_keys_are_known_again_after_a_restart(tmp_path, server):
    server.close()
    again = new_server(tmp_path, [User("root", "x", {"*": "admin"})])
    try:
        s = session(again, database="test")
        assert error_code(lambda: s.execute("DELETE FROM local_table WHERE id = 1")) == 1451
        assert error_code(lambda: s.execute(
            "INSERT INTO test_schema.remote_table VALUES (11, 3)")) == 1452
    finally:
        again.close()


def test_a_child_row_cannot_take_a_parent_an_unfinished_transaction_removed(server):
    deleter, writer = session(server, database="test"), session(server, database="test_schema")
    deleter.execute("BEGIN")
    deleter.execute("DELETE FROM local_table WHERE id = 2")  # no child: allowed, not committed
    # its parent is still committed, but would be gone once the DELETE commits: an orphan
    assert error_code(lambda: writer.execute("INSERT INTO remote_table VALUES (11, 2)")) == 1452
    deleter.execute("ROLLBACK")
    writer.execute("INSERT INTO remote_table VALUES (11, 2)")
    assert rows(writer.execute("SELECT local_id FROM remote_table WHERE id = 11")) == [(2,)]


def test_a_parent_cannot_be_removed_under_an_unfinished_transactions_child(server):
    writer, deleter = session(server, database="test_schema"), session(server, database="test")
    writer.execute("BEGIN")
    writer.execute("INSERT INTO remote_table VALUES (11, 2)")  # not committed yet
    assert error_code(lambda: deleter.execute("DELETE FROM local_table WHERE id = 2")) == 1451
    assert error_code(lambda: deleter.execute("UPDATE local_table SET id = 7 WHERE id = 2")) \
        == 1451
    writer.execute("COMMIT")
    assert rows(deleter.execute(
        "SELECT COUNT(*) FROM test_schema.remote_table r LEFT JOIN local_table l "
        "ON l.id = r.local_id WHERE r.local_id IS NOT NULL AND l.id IS NULL")) == [(0,)]
    writer.execute("BEGIN")
    writer.execute("DELETE FROM remote_table WHERE id = 11")
    writer.execute("ROLLBACK")
    assert error_code(lambda: deleter.execute("DELETE FROM local_table WHERE id = 2")) == 1451
    writer.execute("DELETE FROM remote_table WHERE id = 11")
    deleter.execute("DELETE FROM local_table WHERE id = 2")  # its child is gone, committed


def test_what_unfinished_transactions_hold_is_dropped_once_they_finish(server):
    writer = session(server, database="test_schema")
    for n in range(20):
        writer.execute(f"INSERT INTO remote_table VALUES ({100 + n}, 1)")
        writer.execute(f"DELETE FROM remote_table WHERE id = {100 + n}")
    session(server, database="test").execute("DELETE FROM local_table WHERE id = 2")
    unfinished = server.keys_unfinished
    assert len(unfinished) == 2  # the last insert that took key 1 (each hold drops the
    # finished holders of its key), the DELETE that removed key 2: both finished
    unfinished.sweep()
    assert len(unfinished) == 0


def test_the_key_replicates_and_every_node_enforces_it(tmp_path):
    """Three in-memory nodes: the child's DDL made on node 1 is known on the others (their
    index is rebuilt when the replicated DDL lands) and checked where each write runs."""
    from tests.txn.test_cluster_commit import Cluster
    from tests.txn.test_cluster_commit import rows as cluster_rows

    cluster = Cluster(tmp_path).in_database("test")
    try:
        cluster.in_database("test_schema")
        cluster.ok(1, "CREATE TABLE test.p (id INT PRIMARY KEY)")
        cluster.ok(1, "CREATE TABLE test_schema.c (id INT PRIMARY KEY, pid INT, "
                   "FOREIGN KEY (pid) REFERENCES test.p (id))")
        cluster.ok(2, "INSERT INTO test.p VALUES (1)")
        cluster.ok(3, "INSERT INTO test_schema.c VALUES (1, 1)")
        assert cluster.run(2, "INSERT INTO test_schema.c VALUES (2, 9)").error.code == 1452
        assert cluster.run(3, "DELETE FROM test.p WHERE id = 1").error.code == 1451
        assert cluster.run(2, "DROP TABLE test.p").error.code == 3730
        shown = cluster_rows(cluster, 3, "SHOW CREATE TABLE test_schema.c")[0][1]
        assert "REFERENCES `test`.`p` (`id`)" in str(shown)
    finally:
        cluster.close()


class _Open:
    finished = False


def test_a_transaction_holding_many_keys_costs_each_hold_little():
    """A long statement's rows each hold a key until its transaction ends: 100 000 of one
    unfinished transaction. The periodic sweep walked every entry each 1,024 holds
    (quadratic: ~15 s here, the writer of a 200 000-row INSERT … SELECT spent most of its
    time there); it walks transactions now, and drops what finished ones held."""
    import time

    from marmotdb.sql.foreign_keys_across import UnfinishedKeys, parent_key
    unfinished, big, done = UnfinishedKeys(), _Open(), _Open()
    started = time.monotonic()
    for n in range(100_000):
        assert unfinished.take(parent_key("p", "t", ("id",), (n,)), big)
    unfinished.take(parent_key("p", "t", ("id",), (-1,)), done)
    assert time.monotonic() - started < 3.0
    assert len(unfinished) == 100_001
    done.finished = True
    unfinished.sweep()
    assert len(unfinished) == 100_000
    assert unfinished.taken_by_other(parent_key("p", "t", ("id",), (5,)), done)
    big.finished = True
    unfinished.sweep()
    assert len(unfinished) == 0


def test_a_failed_statement_gives_back_the_keys_it_took(server):
    """A statement holds each parent key as its row is checked; when a later row fails, the
    keys it took are given back (its rows are undone), not held until its transaction ends."""
    writer, deleter = session(server, database="test_schema"), session(server, database="test")
    writer.execute("BEGIN")
    writer.execute("INSERT INTO remote_table VALUES (11, 1)")
    assert error_code(lambda: writer.execute("INSERT INTO remote_table VALUES (12, 2), (13, 9)")
                      ) == 1452
    deleter.execute("DELETE FROM local_table WHERE id = 2")  # no child took it in the end
    assert error_code(lambda: deleter.execute("DELETE FROM local_table WHERE id = 1")) == 1451
    writer.execute("COMMIT")


def test_crossing_checks_one_sees_the_others_hold(server, monkeypatch):
    """A child row's check holds its parent key before it reads the other database, so a
    DELETE of that parent checked meanwhile (a long write's checks run on a writer thread
    while the loop runs others': sql/foreign_keys_across.py) is refused. Here the DELETE runs
    right after the INSERT's first read; if the key were held only once the INSERT passed,
    both would commit and leave an orphan."""
    writer, deleter = session(server, database="test_schema"), session(server, database="test")
    lend, reads, refused = server.lend, [], []

    def lend_then_delete(name):
        reads.append(name)
        if len(reads) == 2:  # the first row (11, 2) was checked: delete its parent now
            refused.append(error_code(lambda: deleter.execute(
                "DELETE FROM local_table WHERE id = 2")))
        return lend(name)
    monkeypatch.setattr(server, "lend", lend_then_delete)
    writer.execute("INSERT INTO remote_table VALUES (11, 2), (12, 1)")
    monkeypatch.setattr(server, "lend", lend)
    assert refused == [1451]
    assert rows(writer.execute(
        "SELECT COUNT(*) FROM remote_table r LEFT JOIN test.local_table l ON l.id = r.local_id "
        "WHERE r.local_id IS NOT NULL AND l.id IS NULL")) == [(0,)]


def test_crossing_checks_the_parent_side_holds_first_too(server, monkeypatch):
    """The other way round: a DELETE of parents holds each removed key before it reads the
    child database, so a child row taking that key meanwhile is refused (1452)."""
    writer, deleter = session(server, database="test_schema"), session(server, database="test")
    deleter.execute("INSERT INTO local_table VALUES (3, 'c')")
    lend, reads, refused = server.lend, [], []

    def lend_then_insert(name):
        reads.append(name)
        if len(reads) == 2:  # the first parent (2) was checked: a child takes it now
            refused.append(error_code(lambda: writer.execute(
                "INSERT INTO remote_table VALUES (11, 2)")))
        return lend(name)
    monkeypatch.setattr(server, "lend", lend_then_insert)
    deleter.execute("DELETE FROM local_table WHERE id IN (2, 3)")
    monkeypatch.setattr(server, "lend", lend)
    assert refused == [1452]
    assert rows(writer.execute("SELECT COUNT(*) FROM remote_table")) == [(1,)]


def test_a_held_key_keeps_one_object_for_the_collector():
    """A long write holds a key per row until its transaction ends, and the cycle collector,
    paused while it runs, walks every object it left once the pause ends (txn/DESIGN.md §2.1):
    one flat tuple per key, no list or entry tuple beside it (five objects each before: a young
    collection of ~300 ms after a 200 000-row INSERT … SELECT, on the loop)."""
    import gc

    from marmotdb.sql.foreign_keys_across import UnfinishedKeys, parent_key
    unfinished, txn = UnfinishedKeys(), _Open()
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects(0))
        for n in range(10_000):
            unfinished.take(parent_key("p", "t", ["id"], (n,)), txn)
        kept = len(gc.get_objects(0)) - before
    finally:
        if enabled:
            gc.enable()
    assert kept < 10_100, kept


def test_a_finished_long_writes_keys_are_dropped_a_little_at_each_sweep():
    """The sweep every 1,024 holds may run on the loop (a short statement's hold): it drops at
    most SWEEP_DROPS_MAX keys of finished transactions, never a long write's 200 000 at once."""
    from marmotdb.sql.foreign_keys_across import (SWEEP_DROPS_MAX, SWEEP_EVERY_HOLDS,
                                                  UnfinishedKeys, parent_key)
    unfinished, big, small = UnfinishedKeys(), _Open(), _Open()
    for n in range(3 * SWEEP_DROPS_MAX):
        unfinished.take(parent_key("p", "t", ["id"], (n,)), big)
    big.finished = True
    for n in range(SWEEP_EVERY_HOLDS - (3 * SWEEP_DROPS_MAX) % SWEEP_EVERY_HOLDS):
        unfinished.take(parent_key("p", "u", ["id"], (n,)), small)  # the last one sweeps
    held_by_small = SWEEP_EVERY_HOLDS - (3 * SWEEP_DROPS_MAX) % SWEEP_EVERY_HOLDS
    assert len(unfinished) == held_by_small + 2 * SWEEP_DROPS_MAX
    for n in range(2 * SWEEP_EVERY_HOLDS):  # two sweeps more: big's keys are all gone
        unfinished.take(parent_key("p", "v", ["id"], (n,)), small)
    assert len(unfinished) == held_by_small + 2 * SWEEP_EVERY_HOLDS
