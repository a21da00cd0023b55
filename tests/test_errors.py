"""SQLite errors become MySQL 8.0's error texts (errors.from_sqlite), on a real SQLite schema
shaped as the translator writes it (indexes named '<table>.<key>', named FOREIGN KEYs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apsw
import pytest

from marmotdb import errors
from marmotdb.errors import StatementContext

SCHEMA = """
CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "u" INT, "v" INT, "name" TEXT, "b" TEXT);
CREATE UNIQUE INDEX "t.uk" ON "t" ("u", "v");
CREATE UNIQUE INDEX "t.name" ON "t" ("name");
CREATE UNIQUE INDEX "t.b_prefix" ON "t" (substr("b", 1, 3));
CREATE TABLE "s" ("code" TEXT PRIMARY KEY);
CREATE TABLE "p" ("id" INTEGER PRIMARY KEY, "k" INT UNIQUE);
CREATE TABLE "ch" ("id" INTEGER PRIMARY KEY, "pid" INT,
  CONSTRAINT "fk_ch_p" FOREIGN KEY ("pid") REFERENCES "p" ("id") ON DELETE RESTRICT);
CREATE TABLE "two" ("id" INTEGER PRIMARY KEY, "a" INT, "b" INT,
  CONSTRAINT "two_a" FOREIGN KEY ("a") REFERENCES "p" ("id"),
  CONSTRAINT "two_b" FOREIGN KEY ("b") REFERENCES "s" ("code"));
INSERT INTO t VALUES (5, 1, 1, 'ann', 'abcdef');
INSERT INTO s VALUES ('x');
INSERT INTO p VALUES (1, 10);
INSERT INTO ch VALUES (1, 1);
"""


@pytest.fixture
def conn() -> Iterator[apsw.Connection]:
    connection = apsw.Connection(":memory:")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute(SCHEMA)
    yield connection
    connection.close()


def failure(conn: apsw.Connection, sql: str) -> apsw.Error:
    with pytest.raises(apsw.Error) as info:
        conn.execute(sql)
    return info.value


def convert(conn: apsw.Connection, sql: str, table: str, row: dict[str, Any] | None = None,
            deleting: bool = False, updating: bool = False) -> tuple[int, str]:
    context = StatementContext(conn, "d", table, row, every_row=row is not None,
                               updating=updating)
    converted = errors.from_sqlite(failure(conn, sql), deleting=deleting, context=context)
    return converted.code, converted.message


@pytest.mark.parametrize("sql, table, row, expected", [
    ("INSERT INTO t (id) VALUES (5)", "t", {"id": 5}, "Duplicate entry '5' for key 't.PRIMARY'"),
    ("INSERT INTO t VALUES (6, 1, 1, 'x', 'q')", "t", {"id": 6, "u": 1, "v": 1},
     "Duplicate entry '1-1' for key 't.uk'"),
    ("INSERT INTO t VALUES (6, 2, 2, 'ann', 'q')", "t", {"name": "ann"},
     "Duplicate entry 'ann' for key 't.name'"),
    ("INSERT INTO t VALUES (6, 2, 2, 'bob', 'abcxyz')", "t", {"b": "abcxyz"},
     "Duplicate entry 'abc' for key 't.b_prefix'"),
    ("INSERT INTO s VALUES ('x')", "s", {"code": "x"}, "Duplicate entry 'x' for key 's.PRIMARY'"),
    # Without the failing row: the key, never a guessed value.
    ("INSERT INTO t VALUES (6, 1, 1, 'x', 'q')", "t", None, "Duplicate entry for key 't.uk'"),
    # An inline UNIQUE (an autoindex, not the translator's): the columns, no made-up name.
    ("INSERT INTO p VALUES (2, 10)", "p", None,
     "Duplicate entry for key 'p' (k): a unique key"),
])
def test_duplicate_entry_is_mysql_8s_text(conn: apsw.Connection, sql: str, table: str,
                                          row: dict[str, Any] | None, expected: str) -> None:
    assert convert(conn, sql, table, row) == (1062, expected)


def test_duplicate_primary_key_without_any_context() -> None:
    connection = apsw.Connection(":memory:")
    connection.execute(SCHEMA)
    converted = errors.from_sqlite(failure(connection, "INSERT INTO t (id) VALUES (5)"))
    assert (converted.code, converted.message) == (1062, "Duplicate entry for key 't.PRIMARY'")


def test_foreign_key_failures_name_the_constraint(conn: apsw.Connection) -> None:
    assert convert(conn, "INSERT INTO ch VALUES (2, 99)", "ch") == (
        1452, "Cannot add or update a child row: a foreign key constraint fails (`d`.`ch`, "
              "CONSTRAINT `fk_ch_p` FOREIGN KEY (`pid`) REFERENCES `p` (`id`) "
              "ON DELETE RESTRICT)")
    conn.execute("INSERT INTO two VALUES (1, NULL, 'x')")
    assert convert(conn, "DELETE FROM s", "s", deleting=True) == (
        1451, "Cannot delete or update a parent row: a foreign key constraint fails (`d`.`two`, "
              "CONSTRAINT `two_b` FOREIGN KEY (`b`) REFERENCES `s` (`code`))")
    # Two tables reference p, but only ch has child rows: it refused.
    assert convert(conn, "DELETE FROM p WHERE id = 1", "p", deleting=True)[1].endswith(
        "CONSTRAINT `fk_ch_p` FOREIGN KEY (`pid`) REFERENCES `p` (`id`) ON DELETE RESTRICT)")
    # Both have: which one refused is not in SQLite's message, so none is named.
    conn.execute("INSERT INTO two VALUES (2, 1, NULL)")
    assert convert(conn, "DELETE FROM p WHERE id = 1", "p", deleting=True) == (
        1451, "Cannot delete or update a parent row: a foreign key constraint fails")


def test_a_cascading_key_never_refuses_a_parent_delete() -> None:
    connection = apsw.Connection(":memory:")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("""
        CREATE TABLE p ("id" INTEGER PRIMARY KEY);
        CREATE TABLE gone ("id" INTEGER PRIMARY KEY, "pid" INT,
          CONSTRAINT "gone_p" FOREIGN KEY ("pid") REFERENCES "p" ("id") ON DELETE CASCADE);
        CREATE TABLE kept ("id" INTEGER PRIMARY KEY, "pid" INT,
          CONSTRAINT "kept_p" FOREIGN KEY ("pid") REFERENCES "p" ("id"));
        INSERT INTO p VALUES (1); INSERT INTO gone VALUES (1, 1); INSERT INTO kept VALUES (1, 1);
    """)
    assert convert(connection, "DELETE FROM p", "p", deleting=True)[1].endswith(
        "CONSTRAINT `kept_p` FOREIGN KEY (`pid`) REFERENCES `p` (`id`))")
    # The update of the key is refused by both (neither cascades on update): none named.
    assert convert(connection, "UPDATE p SET id = 2", "p", {"id": 2}, updating=True) == (
        1451, "Cannot delete or update a parent row: a foreign key constraint fails")


def test_an_update_fails_on_the_side_whose_columns_it_set() -> None:
    connection = apsw.Connection(":memory:")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("""
        CREATE TABLE tree ("id" INTEGER PRIMARY KEY, "up" INT,
          CONSTRAINT "tree_up" FOREIGN KEY ("up") REFERENCES "tree" ("id"));
        INSERT INTO tree VALUES (1, NULL), (2, 1);
    """)
    clause = "(`d`.`tree`, CONSTRAINT `tree_up` FOREIGN KEY (`up`) REFERENCES `tree` (`id`))"
    assert convert(connection, "UPDATE tree SET id = 9 WHERE id = 1", "tree", {"id": 9},
                   updating=True) == (
        1451, f"Cannot delete or update a parent row: a foreign key constraint fails {clause}")
    assert convert(connection, "UPDATE tree SET up = 9 WHERE id = 2", "tree", {"up": 9},
                   updating=True) == (
        1452, f"Cannot add or update a child row: a foreign key constraint fails {clause}")
    # Without the columns the UPDATE set, SQLite's message does not tell the side.
    assert convert(connection, "UPDATE tree SET up = 9 WHERE id = 2", "tree",
                   updating=True)[0] == 1452


def test_two_foreign_keys_need_the_row_to_tell_which_failed(conn: apsw.Connection) -> None:
    sql = "INSERT INTO two VALUES (1, 1, 'nope')"
    assert convert(conn, sql, "two", {"a": 1, "b": "nope"})[1].endswith(
        "CONSTRAINT `two_b` FOREIGN KEY (`b`) REFERENCES `s` (`code`))")
    assert convert(conn, sql, "two") == (
        1452, "Cannot add or update a child row: a foreign key constraint fails")
    # The last row of several is not known to be the refused one (checked at statement end).
    context = StatementContext(conn, "d", "two", {"a": 1, "b": "nope"}, every_row=False)
    assert errors.from_sqlite(failure(conn, sql), context=context).message == (
        "Cannot add or update a child row: a foreign key constraint fails")


def test_a_row_of_another_table_names_no_value(conn: apsw.Connection) -> None:
    """A trigger's write failed, not the statement's row: the key, never a wrong value."""
    assert convert(conn, "INSERT INTO s VALUES ('x')", "t", {"code": "y"}) == (
        1062, "Duplicate entry for key 's.PRIMARY'")


def test_binary_values_are_shown_as_mysql_does() -> None:
    connection = apsw.Connection(":memory:")
    connection.execute("CREATE TABLE \"b\" (\"k\" BLOB PRIMARY KEY); "
                       "INSERT INTO b VALUES (x'00ff41')")
    assert convert(connection, "INSERT INTO b VALUES (x'00ff41')", "b", {"k": b"\x00\xffA"}) == (
        1062, "Duplicate entry '\\x00\\xFFA' for key 'b.PRIMARY'")


def test_unknown_table_names_the_database(conn: apsw.Connection) -> None:
    assert convert(conn, "SELECT * FROM nope", "") == (1146, "Table 'd.nope' doesn't exist")
    converted = errors.from_sqlite(failure(conn, "SELECT * FROM nope"))
    assert converted.message == "Table 'nope' doesn't exist"
    conn.execute("ATTACH ':memory:' AS other")
    assert convert(conn, "SELECT * FROM other.nope", "") == (
        1146, "Table 'other.nope' doesn't exist")


def test_unknown_column_keeps_mysqls_words(conn: apsw.Connection) -> None:
    assert convert(conn, "SELECT nope FROM t", "t") == (
        1054, "Unknown column 'nope' in 'field list'")
