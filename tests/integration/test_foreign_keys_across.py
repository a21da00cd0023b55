"""A FOREIGN KEY to a table of another database through a real client (PyMySQL), on a real
server, and the same script on MariaDB in the differential group: the error codes and texts,
the SHOW CREATE TABLE line and INFORMATION_SCHEMA rows reflection tools read
(txn/DESIGN.md §10.1, sql/foreign_keys_across.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.differential import MariaDBEndpoint

SCHEMA = [
    "DROP DATABASE IF EXISTS fkx_child",
    "DROP DATABASE IF EXISTS fkx_parent",
    "CREATE DATABASE fkx_parent",
    "CREATE DATABASE fkx_child",
    "CREATE TABLE fkx_parent.p (id INT PRIMARY KEY, k INT)",
    "CREATE TABLE fkx_child.c (id INT PRIMARY KEY, pid INT, CONSTRAINT c_p FOREIGN KEY (pid) "
    "REFERENCES fkx_parent.p (id))",
    "INSERT INTO fkx_parent.p VALUES (1, 1), (2, 2)",
    "INSERT INTO fkx_child.c VALUES (1, 1)",
]
KEY = ("(`fkx_child`.`c`, CONSTRAINT `c_p` FOREIGN KEY (`pid`) REFERENCES `fkx_parent`.`p` "
       "(`id`))")
CHILD = f"Cannot add or update a child row: a foreign key constraint fails {KEY}"
PARENT = f"Cannot delete or update a parent row: a foreign key constraint fails {KEY}"
FAILURES = [
    ("INSERT INTO fkx_child.c VALUES (2, 9)", 1452, CHILD),
    ("UPDATE fkx_child.c SET pid = 9", 1452, CHILD),
    ("DELETE FROM fkx_parent.p WHERE id = 1", 1451, PARENT),
    ("UPDATE fkx_parent.p SET id = 5 WHERE id = 1", 1451, PARENT),
]
PASSES = [  # each leaves the tables as SCHEMA made them
    "INSERT INTO fkx_child.c VALUES (3, NULL)", "DELETE FROM fkx_child.c WHERE id = 3",
    "INSERT INTO fkx_child.c VALUES (3, 2)", "DELETE FROM fkx_child.c WHERE id = 3",
    "UPDATE fkx_parent.p SET k = 7 WHERE id = 1", "DELETE FROM fkx_parent.p WHERE id = 2",
    "INSERT INTO fkx_parent.p VALUES (2, 2)",
]
REFLECTED = [
    ("SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, "
     "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = "
     "'fkx_child' AND REFERENCED_TABLE_NAME IS NOT NULL",
     [("c_p", "pid", "fkx_parent", "p", "id")]),
    ("SELECT CONSTRAINT_SCHEMA, CONSTRAINT_NAME, UNIQUE_CONSTRAINT_SCHEMA, "
     "UNIQUE_CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE, TABLE_NAME, REFERENCED_TABLE_NAME FROM "
     "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'fkx_child'",
     [("fkx_child", "c_p", "fkx_parent", "PRIMARY", "RESTRICT", "RESTRICT", "c", "p")]),
    ("SELECT CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS WHERE "
     "CONSTRAINT_SCHEMA = 'fkx_child' AND CONSTRAINT_NAME = 'c_p'", [("FOREIGN KEY",)]),
]


def _schema(conn: Any) -> Any:
    cursor = conn.cursor()
    for statement in SCHEMA:
        cursor.execute(statement)
    return cursor


def _script(cursor: Any) -> dict[str, Any]:
    """What a client sees of the key, the same on either server."""
    seen: dict[str, Any] = {}
    for sql, _, _ in FAILURES:
        with pytest.raises(pymysql.MySQLError) as info:
            cursor.execute(sql)
        seen[sql] = (info.value.args[0], info.value.args[1])
    for sql in PASSES:
        cursor.execute(sql)
    cursor.execute("SHOW CREATE TABLE fkx_child.c")
    seen["constraint"] = [line.strip().rstrip(",") for line in cursor.fetchone()[1].split("\n")
                          if "FOREIGN KEY" in line]
    for sql, _ in REFLECTED:
        cursor.execute(sql)
        seen[sql] = [tuple(row) for row in cursor.fetchall()]
    return seen


def _expected(rules: str) -> dict[str, Any]:
    expected: dict[str, Any] = {sql: (code, text) for sql, code, text in FAILURES}
    expected["constraint"] = ["CONSTRAINT `c_p` FOREIGN KEY (`pid`) REFERENCES `fkx_parent`.`p` "
                              "(`id`)"]
    for sql, rows in REFLECTED:
        expected[sql] = [tuple(rules if v == "RESTRICT" else v for v in row) for row in rows]
    return expected


@pytest.fixture(scope="module")
def marmot_cursor(marmot_server: Any) -> Iterator[Any]:
    conn = marmot_server.connect(autocommit=True)
    yield _schema(conn)
    conn.close()


def test_a_key_to_another_database_through_pymysql(marmot_cursor: Any) -> None:
    # MySQL 8 reports the rules of a key declared without them as NO ACTION
    assert _script(marmot_cursor) == _expected("NO ACTION")


def test_a_cascading_key_to_another_database_acts_through_pymysql(marmot_cursor: Any) -> None:
    # one node: the child rows change with the parent's, in the same transaction
    marmot_cursor.execute("CREATE TABLE fkx_parent.q (id INT PRIMARY KEY)")
    marmot_cursor.execute("CREATE TABLE fkx_child.d (id INT PRIMARY KEY, a INT, FOREIGN KEY (a) "
                          "REFERENCES fkx_parent.q (id) ON DELETE CASCADE ON UPDATE SET NULL)")
    marmot_cursor.execute("INSERT INTO fkx_parent.q VALUES (1), (2)")
    marmot_cursor.execute("INSERT INTO fkx_child.d VALUES (1, 1), (2, 2), (3, 2)")
    marmot_cursor.execute("DELETE FROM fkx_parent.q WHERE id = 2")
    marmot_cursor.execute("UPDATE fkx_parent.q SET id = 5 WHERE id = 1")
    marmot_cursor.execute("SELECT id, a FROM fkx_child.d ORDER BY id")
    assert marmot_cursor.fetchall() == ((1, None),)
    with pytest.raises(pymysql.MySQLError) as info:  # InnoDB has no SET DEFAULT either
        marmot_cursor.execute("CREATE TABLE fkx_child.e (a INT, FOREIGN KEY (a) REFERENCES "
                              "fkx_parent.q (id) ON DELETE SET DEFAULT)")
    assert info.value.args[0] == 1235 and "SET DEFAULT" in info.value.args[1]


@pytest.fixture(scope="module")
def mariadb_cursor(differential_mariadb: MariaDBEndpoint) -> Iterator[Any]:
    conn = differential_mariadb.connect(autocommit=True)
    cursor = _schema(conn)
    yield cursor
    cursor.execute("DROP DATABASE fkx_child")
    cursor.execute("DROP DATABASE fkx_parent")
    conn.close()


@pytest.mark.differential
def test_a_key_to_another_database_is_mariadbs_too(mariadb_cursor: Any) -> None:
    assert _script(mariadb_cursor) == _expected("RESTRICT")  # MariaDB's spelling of the default
