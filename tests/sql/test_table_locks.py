"""LOCK TABLES / UNLOCK TABLES: what the holder may touch (1100, 1099), writers held back by a
WRITE lock (the database's reserved turn), the snapshot a READ lock reads, and every way the
locks end (UNLOCK, START TRANSACTION, a new LOCK, the client leaving, KILL)."""

from __future__ import annotations

import pytest

from marmotdb.txn.pending import Pending
from tests.sql.sessions import error_code, rows, session
from tests.sql.test_session import shop  # noqa: F401


@pytest.fixture
def two(shop):
    shop.execute("CREATE TABLE other (id INT PRIMARY KEY)")
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    return shop


def test_the_holder_uses_only_the_tables_it_locked(two):
    two.execute("SELECT * FROM other")  # prepared and cached before the lock
    two.execute("LOCK TABLES item WRITE")
    assert rows(two.execute("SELECT name FROM item")) == [("a",)]
    for sql in ("SELECT * FROM other", "SELECT * FROM item JOIN other ON other.id = item.id",
                "WITH c AS (SELECT * FROM other) SELECT * FROM c",
                "SELECT (SELECT COUNT(*) FROM other)", "INSERT INTO other VALUES (1)",
                "DELETE FROM other"):
        assert error_code(lambda: two.execute(sql)) == 1100, sql
    two.execute("UPDATE item SET n = 2")
    for sql in ("SELECT * FROM MARMOT_CLUSTER_NODES", "SELECT NOW()", "SHOW TABLES",
                "SELECT COUNT(*) FROM information_schema.TABLES"):  # not tables of a database
        two.execute(sql)
    two.execute("UNLOCK TABLES")
    two.execute("INSERT INTO other VALUES (1)")


def test_a_read_lock_may_not_be_written(two):
    two.execute("LOCK TABLES item READ, other WRITE")
    assert error_code(lambda: two.execute("UPDATE item SET n = 3")) == 1099
    two.execute("INSERT INTO other SELECT id FROM item")  # read one, write the other
    assert rows(two.execute("SELECT COUNT(*) FROM other")) == [(1,)]
    two.execute("UNLOCK TABLES")


def test_a_write_lock_holds_other_writers_back_until_unlock(server, two):
    other = session(server, database="shop")
    two.execute("LOCK TABLES item WRITE")
    two.execute("INSERT INTO item (name, n) VALUES ('b', 2)")  # commits at once (autocommit)
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(2,)]  # reads not blocked
    waiting = other.execute("INSERT INTO other VALUES (7)")
    assert isinstance(waiting, Pending) and not waiting.done()
    two.execute("ROLLBACK")  # nothing to roll back: each statement committed
    two.execute("UNLOCK TABLES")
    assert waiting.done() and waiting.result().affected_rows == 1
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(2,)]


def test_a_writer_waiting_for_a_write_lock_times_out_with_1205(server, two):
    other = session(server, database="shop")
    two.execute("LOCK TABLES item WRITE")
    waiting = other.execute("UPDATE item SET n = 9")
    server.host.fire_timers()  # innodb_lock_wait_timeout has passed
    assert error_code(waiting.result) == 1205
    two.execute("UNLOCK TABLES")
    assert rows(other.execute("SELECT n FROM item")) == [(1,)]


def test_a_read_lock_reads_one_snapshot_and_holds_no_one_back(server, two):
    other = session(server, database="shop")
    two.execute("LOCK TABLES item READ LOCAL, other READ")
    assert other.execute("INSERT INTO item (name, n) VALUES ('b', 2)").affected_rows == 1
    assert rows(two.execute("SELECT name FROM item")) == [("a",)]  # as it was at LOCK
    two.execute("UNLOCK TABLES")
    assert rows(two.execute("SELECT name FROM item ORDER BY id")) == [("a",), ("b",)]


def test_lock_tables_waits_for_an_open_transaction_and_can_be_killed(server, two):
    other = session(server, database="shop")
    other.execute("BEGIN")
    other.execute("UPDATE item SET n = 5")
    waiting = two.execute("LOCK TABLES item WRITE")
    assert not waiting.done()
    two.interrupt()  # KILL QUERY
    assert error_code(waiting.result) == 1317 and two.table_locks is None
    waiting = two.execute("LOCK TABLES item WRITE")
    other.execute("COMMIT")
    assert waiting.done() and waiting.result() is not None
    assert rows(two.execute("SELECT n FROM item")) == [(5,)]
    two.execute("UNLOCK TABLES")


def test_the_locks_end_with_start_transaction_a_new_lock_or_the_client(server, two):
    other = session(server, database="shop")
    for end in ("START TRANSACTION", "LOCK TABLES other READ", "close"):
        two.execute("LOCK TABLES item WRITE")
        waiting = other.execute("INSERT INTO other VALUES (1)")
        assert not waiting.done()
        if end == "close":
            two.close()
        else:
            two.execute(end)
        assert waiting.done() and waiting.result().affected_rows == 1, end
        other.execute("DELETE FROM other")
        if end != "close":
            two.execute("ROLLBACK" if end.startswith("START") else "UNLOCK TABLES")


def test_triggers_of_a_locked_table_reach_their_tables(two):
    two.execute("CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(20))")
    two.execute("CREATE TRIGGER item_ins AFTER INSERT ON item FOR EACH ROW "
                "INSERT INTO audit (what) VALUES (NEW.name)")
    two.execute("LOCK TABLES item WRITE")
    two.execute("INSERT INTO item (name, n) VALUES ('t', 1)")
    two.execute("UNLOCK TABLES")
    assert rows(two.execute("SELECT what FROM audit")) == [("t",)]


def test_a_dump_restores_under_write_locks(server, two):
    for sql in ("DROP TABLE IF EXISTS other", "CREATE TABLE other (id INT PRIMARY KEY)",
                "LOCK TABLES `other` WRITE", "/*!40000 ALTER TABLE `other` DISABLE KEYS */",
                "INSERT INTO `other` VALUES (1),(2),(3)",
                "/*!40000 ALTER TABLE `other` ENABLE KEYS */", "UNLOCK TABLES"):
        two.execute(sql)
    assert rows(session(server, database="shop").execute("SELECT COUNT(*) FROM other")) == [(3,)]


def test_bad_lock_requests(server, two):
    reader = session(server, "reader", database="shop")
    assert error_code(lambda: two.execute("LOCK TABLES nope READ")) == 1146
    assert error_code(lambda: reader.execute("LOCK TABLES item WRITE")) == 1044
    reader.execute("LOCK TABLES item READ")  # SELECT is enough for a READ lock
    reader.execute("UNLOCK TABLES")
    assert error_code(lambda: session(server).execute("LOCK TABLES item READ")) == 1046
    assert error_code(lambda: two.execute("LOCK TABLES item SHARED")) == 1064
    assert error_code(lambda: two.execute("LOCK INSTANCE FOR BACKUP")) == 1235
    two.execute("LOCK TABLES item AS i READ")
    assert error_code(lambda: two.execute("CREATE DATABASE more")) == 1192
    assert error_code(lambda: two.execute("DROP DATABASE shop")) == 1192
    two.execute("UNLOCK TABLES")
    two.execute("UNLOCK TABLES")  # without locks: nothing to do
