"""Temporary tables and database-qualified names beside the other session features: LOCK
TABLES, EXPLAIN, table maintenance, isolation levels, NOWAIT / SKIP LOCKED and QUORUM reads."""

from __future__ import annotations

import pytest

from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from tests.sql.sessions import error_code, rows, session


@pytest.fixture
def shop(server: ServerState) -> Session:
    """A session in shop (item: 1, 2) with a temporary table tmp (1, 2, 3); stock.level: 1."""
    s = session(server)
    for statement in ("CREATE DATABASE shop", "CREATE DATABASE stock",
                      "CREATE TABLE shop.item (id INT PRIMARY KEY, name VARCHAR(10))",
                      "INSERT INTO shop.item VALUES (1, 'a'), (2, 'b')",
                      "CREATE TABLE stock.level (id INT PRIMARY KEY, n INT, KEY byn (n))",
                      "INSERT INTO stock.level VALUES (1, 10)"):
        s.execute(statement)
    s.use("shop")
    s.execute("CREATE TEMPORARY TABLE tmp (id INT PRIMARY KEY, v INT)")
    s.execute("INSERT INTO tmp VALUES (1, 5), (2, 6), (3, 7)")
    return s


def holding_turn(server: ServerState) -> Session:
    """Another session of shop in a transaction that holds shop's write turn."""
    other = session(server, database="shop")
    other.execute("BEGIN")
    other.execute("UPDATE item SET name = 'held' WHERE id = 2")
    return other


def test_lock_tables_never_applies_to_temporary_tables(shop):
    shop.execute("LOCK TABLES item READ, tmp WRITE")  # tmp: accepted and ignored, as MySQL
    assert shop.execute("INSERT INTO tmp VALUES (4, 8)").affected_rows == 1
    assert rows(shop.execute("SELECT COUNT(*) FROM item JOIN tmp USING (id)")) == [(2,)]
    assert error_code(lambda: shop.execute("INSERT INTO item VALUES (3, 'c')")) == 1099
    assert error_code(lambda: shop.execute("SELECT * FROM stock.level")) == 1100
    shop.execute("UNLOCK TABLES")
    shop.execute("LOCK TABLES item WRITE")  # tmp unlocked: still the session's to use
    shop.execute("INSERT INTO item SELECT id, v FROM tmp WHERE id = 3")
    shop.execute("UPDATE tmp SET v = 0")
    shop.execute("CREATE TEMPORARY TABLE more (n INT)")
    shop.execute("UNLOCK TABLES")
    assert rows(shop.execute("SELECT SUM(v) FROM tmp")) == [(0,)]


def test_lock_tables_checks_the_database_a_statement_runs_in(shop):
    shop.execute("LOCK TABLES stock.level WRITE")  # current database: shop
    assert shop.execute("INSERT INTO stock.level VALUES (2, 20)").affected_rows == 1
    assert rows(shop.execute("SELECT COUNT(*) FROM stock.level")) == [(2,)]
    assert error_code(lambda: shop.execute("SELECT * FROM item")) == 1100
    shop.execute("LOCK TABLES item READ")
    assert error_code(lambda: shop.execute("SELECT * FROM item JOIN stock.level USING (id)")) \
        == 1100
    shop.execute("UNLOCK TABLES")


def test_explain_of_temporary_tables_and_other_databases(server, shop):
    assert rows(shop.execute("EXPLAIN SELECT * FROM tmp WHERE id = 1")) == [
        (1, "SIMPLE", "tmp", None, "const", "PRIMARY", "PRIMARY", "4", "const", 1, 100.0, None)]
    assert rows(shop.execute("EXPLAIN UPDATE tmp SET v = 1 WHERE id = 1"))[0][1:3] == (
        "UPDATE", "tmp")
    joined = rows(shop.execute("EXPLAIN SELECT * FROM item JOIN stock.level AS l "
                               "ON l.id = item.id"))
    assert {r[2] for r in joined} == {"item", "l"}  # MySQL's labels, whatever the order
    assert all(r[9] is not None for r in joined)  # both tables' rows counted
    nowhere = session(server)  # no current database: the statement runs in stock
    assert [r[2:6] for r in rows(nowhere.execute("EXPLAIN SELECT * FROM stock.level WHERE "
                                                  "n = 5"))] == [("level", None, "ref", "byn")]
    assert "Table scan on tmp" in rows(shop.execute("EXPLAIN ANALYZE SELECT * FROM tmp"))[0][0]


def test_table_maintenance_of_temporary_tables_and_other_databases(server, shop):
    assert rows(shop.execute("CHECK TABLE tmp")) == [("shop.tmp", "check", "status", "OK")]
    assert rows(shop.execute("ANALYZE TABLE item, tmp")) == [
        ("shop.item", "analyze", "status", "OK"), ("shop.tmp", "analyze", "status", "OK")]
    assert rows(shop.execute("OPTIMIZE TABLE tmp"))[-1] == ("shop.tmp", "optimize", "status",
                                                            "OK")
    assert rows(shop.execute("CHECK TABLE stock.level")) == [
        ("stock.level", "check", "status", "OK")]
    nowhere = session(server)
    assert rows(nowhere.execute("ANALYZE TABLE stock.level")) == [
        ("stock.level", "analyze", "status", "OK")]
    assert rows(nowhere.execute("CHECKSUM TABLE stock.level")) == \
        rows(shop.execute("CHECKSUM TABLE stock.level"))
    assert error_code(lambda: shop.execute("CHECK TABLE item, stock.level")) == 1235
    assert error_code(lambda: nowhere.execute("CHECK TABLE level")) == 1046
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item VALUES (3, 'c')")  # the transaction writes shop
    assert rows(shop.execute("CHECK TABLE tmp")) == [("shop.tmp", "check", "status", "OK")]
    shop.execute("ROLLBACK")


def test_temporary_reads_wait_for_no_lock_and_no_read_barrier(server, shop):
    other = holding_turn(server)
    shop.execute("BEGIN")
    assert len(rows(shop.execute("SELECT * FROM tmp FOR UPDATE NOWAIT"))) == 3
    assert len(rows(shop.execute("SELECT * FROM tmp FOR UPDATE SKIP LOCKED"))) == 3
    assert error_code(lambda: shop.execute("SELECT * FROM item FOR UPDATE NOWAIT")) == 3572
    skipped = shop.execute("SELECT * FROM item JOIN tmp USING (id) FOR UPDATE SKIP LOCKED")
    assert rows(skipped) == [] and [c.name for c in skipped.columns] == ["id", "name", "v"]
    shop.execute("COMMIT")
    other.execute("COMMIT")
    waited: list[str] = []

    class Barrier:
        def wait(self, database: str) -> None:
            waited.append(database)

    server.read_barrier = Barrier()
    shop.execute("SET marmot_read_consistency = 'QUORUM'")
    shop.execute("SELECT * FROM tmp")
    assert waited == []
    shop.execute("SELECT * FROM item JOIN tmp USING (id)")
    assert waited == ["shop"]


def test_isolation_levels_with_temporary_tables(server, shop):
    other = session(server, database="shop")
    shop.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO tmp VALUES (10, 10)")  # the snapshot on the space is held
    other.execute("UPDATE item SET name = 'fresh' WHERE id = 2")
    assert rows(shop.execute("SELECT name FROM item WHERE id = 2")) == [("fresh",)]
    assert rows(shop.execute("SELECT item.name FROM item JOIN tmp USING (id) WHERE id = 2")) \
        == [("fresh",)]
    assert rows(shop.execute("SELECT COUNT(*) FROM tmp")) == [(4,)]
    shop.execute("ROLLBACK")
    assert rows(shop.execute("SELECT COUNT(*) FROM tmp")) == [(3,)]
    shop.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    shop.execute("BEGIN")
    shop.execute("SELECT * FROM tmp")  # takes no turn: no one else can write it
    assert server.pipelines["shop"].owner is None
    shop.execute("SELECT * FROM item")
    assert server.pipelines["shop"].owner == shop.connection_id
    shop.execute("COMMIT")
