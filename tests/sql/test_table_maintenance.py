"""CHECK / ANALYZE / OPTIMIZE / REPAIR TABLE do what they say, with MySQL's result set."""

from __future__ import annotations

import apsw

from marmotdb.storage.commitlog import iter_log
from marmotdb.storage.writeset import decode_write_set
from tests.sql.sessions import error_code, rows, session
from tests.sql.test_session import shop  # noqa: F401

COLUMNS = ["Table", "Op", "Msg_type", "Msg_text"]


def answer(s, sql: str) -> list[tuple]:
    result = s.execute(sql)
    assert [c.name for c in result.columns] == COLUMNS
    return rows(result)


def test_check_table_ok_missing_and_view(shop):
    shop.execute("CREATE VIEW v AS SELECT * FROM item")
    assert answer(shop, "CHECK TABLE item, nope, v EXTENDED") == [
        ("shop.item", "check", "status", "OK"),
        ("shop.nope", "check", "Error", "Table 'shop.nope' doesn't exist"),
        ("shop.nope", "check", "status", "Operation failed"),
        ("shop.v", "check", "status", "OK")]


def _corrupt_index(server, table: str, column: str) -> None:
    """Point the table's secondary index at another column without rebuilding it."""
    conn = apsw.Connection(str(server.databases.get("shop").path))
    index = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? "
                         "AND sql IS NOT NULL", (table,)).fetchall()[0][0]
    version = conn.execute("PRAGMA schema_version").fetchall()[0][0]
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("UPDATE sqlite_schema SET sql = ? WHERE name = ?",
                 (f'CREATE INDEX "{index}" ON "{table}" ("{column}")', index))
    conn.execute(f"PRAGMA schema_version={version + 1}")
    conn.close()


def test_check_table_finds_a_corrupt_index(server, shop):
    shop.execute("CREATE TABLE c (id INT PRIMARY KEY, b INT, KEY cb (b))")
    shop.execute("INSERT INTO c VALUES (1, 20), (2, 10)")
    _corrupt_index(server, "c", "id")
    found = answer(shop, "CHECK TABLE c")
    assert found[-1] == ("shop.c", "check", "error", "Corrupt")
    assert all(r[2] == "error" for r in found) and "missing from index" in found[0][3]
    assert answer(shop, "CHECK TABLE item") == [("shop.item", "check", "status", "OK")]


def test_analyze_writes_statistics_through_the_commit_pipeline(server, shop):
    shop.execute("CREATE INDEX by_n ON item (n)")
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1), ('b', 2)")
    assert answer(shop, "ANALYZE TABLE item, nope") == [
        ("shop.item", "analyze", "status", "OK"),
        ("shop.nope", "analyze", "Error", "Table 'shop.nope' doesn't exist"),
        ("shop.nope", "analyze", "status", "Operation failed")]
    path = str(server.databases.get("shop").path)
    conn = apsw.Connection(path)  # committed: another connection sees the statistics
    assert {r[0] for r in conn.execute("SELECT tbl FROM sqlite_stat1")} == {"item"}
    last = decode_write_set(list(iter_log(conn))[-1].write_set)
    assert [c.statements for c in last.schema_changes] == [['ANALYZE "item"']]  # replicated
    conn.close()


def test_optimize_analyzes_and_says_so(server, shop):
    assert answer(shop, "OPTIMIZE NO_WRITE_TO_BINLOG TABLE item") == [
        ("shop.item", "optimize", "note", "Table does not support optimize, doing analyze "
         "instead"), ("shop.item", "optimize", "status", "OK")]
    conn = apsw.Connection(str(server.databases.get("shop").path))
    assert conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'"
                        ).fetchall() == [(1,)]
    conn.close()


def test_repair_is_innodbs_answer(shop):
    shop.execute("CREATE VIEW v AS SELECT * FROM item")
    assert answer(shop, "REPAIR TABLE item, v QUICK") == [
        ("shop.item", "repair", "note", "The storage engine for the table doesn't support repair"),
        ("shop.v", "repair", "Error", "'shop.v' is not BASE TABLE"),
        ("shop.v", "repair", "status", "Operation failed")]


def test_privileges_and_bad_input(server, shop):
    reader = session(server, "reader", database="shop")
    writer = session(server, "writer", database="shop")
    assert answer(reader, "CHECK TABLE item")[0][3] == "OK"
    assert error_code(lambda: reader.execute("ANALYZE TABLE item")) == 1044
    assert answer(writer, "ANALYZE TABLE item")[0][3] == "OK"
    assert error_code(lambda: session(server).execute("CHECK TABLE item")) == 1046
    assert error_code(lambda: shop.execute("CHECK TABLE other.item")) == 1146  # no database
    assert error_code(lambda: shop.execute("CHECK TABLE item, shop2.item")) == 1235
    assert error_code(lambda: shop.execute("CHECK TABLE item BOGUS")) == 1064
