"""MySQL 8.0's error texts where tools parse them, through a real client (PyMySQL).

Every case is a statement that fails on the schema below, with the code and the whole message
MySQL 8.0 gives (marmotdb announces 8.0): duplicate entries with the value and the key, foreign
key failures naming the constraint, unknown columns with their clause, unknown tables with the
database, data too long and out of range. The same cases run against MariaDB in the
differential group (the session's private MariaDB, tests/differential.py): MariaDB names a key
without its table ('PRIMARY', not 't.PRIMARY') and its clauses differently ('WHERE', not 'where
clause'); those differences are written out per case, every other word must be the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.differential import MariaDBEndpoint

SCHEMA = [
    "CREATE TABLE t (id INT PRIMARY KEY, u INT, v INT, name VARCHAR(3), small TINYINT, "
    "d DATE, dec1 DECIMAL(5,2), b VARBINARY(4), UNIQUE KEY uk (u, v), UNIQUE KEY nk (name), "
    "UNIQUE KEY dk (dec1), UNIQUE KEY bk (b), UNIQUE KEY dtk (d))",
    "CREATE TABLE p (id INT PRIMARY KEY, k INT UNIQUE)",
    "CREATE TABLE c (id INT PRIMARY KEY, pid INT, CONSTRAINT fk FOREIGN KEY (pid) "
    "REFERENCES p (id))",
    "CREATE TABLE two (id INT PRIMARY KEY, a INT, b INT, CONSTRAINT two_a FOREIGN KEY (a) "
    "REFERENCES p (id), CONSTRAINT two_b FOREIGN KEY (b) REFERENCES p (k) ON DELETE CASCADE)",
    "CREATE TABLE tree (id INT PRIMARY KEY, parent INT, CONSTRAINT tree_up FOREIGN KEY "
    "(parent) REFERENCES tree (id))",
    "CREATE TABLE cs (a INT, b VARCHAR(5), PRIMARY KEY (a, b))",
    "INSERT INTO p VALUES (1, 10)",
    "INSERT INTO c VALUES (1, 1)",
    "INSERT INTO tree VALUES (1, NULL), (2, 1)",
    "INSERT INTO cs VALUES (1, 'x')",
    "INSERT INTO t VALUES (5, 1, 2, 'ann', 1, '2020-01-01', 1.5, x'00ff')",
    "CREATE TABLE big (id INT PRIMARY KEY, n BIGINT, un BIGINT UNSIGNED)",
    "INSERT INTO big VALUES (1, 9223372036854775807, 18446744073709551615)",
]
BIG_N, BIG_UN = "`error_texts`.`big`.`n`", "`error_texts`.`big`.`un`"
SIGNED, UNSIGNED = "BIGINT value is out of range in", "BIGINT UNSIGNED value is out of range in"
CHILD = "Cannot add or update a child row: a foreign key constraint fails"
PARENT = "Cannot delete or update a parent row: a foreign key constraint fails"
FK = "(`error_texts`.`c`, CONSTRAINT `fk` FOREIGN KEY (`pid`) REFERENCES `p` (`id`))"
TREE = ("(`error_texts`.`tree`, CONSTRAINT `tree_up` FOREIGN KEY (`parent`) REFERENCES "
        "`tree` (`id`))")

# (statement, code, MySQL 8.0's message, MariaDB's message where it differs in more than
# the key's table prefix)
CASES: list[tuple[str, int, str, str | None]] = [
    ("INSERT INTO t (id) VALUES (5)", 1062, "Duplicate entry '5' for key 't.PRIMARY'", None),
    ("INSERT INTO t (id, u, v) VALUES ('05', 9, 9)", 1062,
     "Duplicate entry '5' for key 't.PRIMARY'", None),
    ("INSERT INTO t (id, u, v) VALUES (6, 1, 2)", 1062, "Duplicate entry '1-2' for key 't.uk'",
     None),
    ("INSERT INTO t (id, name) VALUES (7, 'c'), (8, 'ANN')", 1062,
     "Duplicate entry 'ANN' for key 't.nk'", None),
    ("INSERT INTO t (id, u, v) VALUES (10, 3, 3), (11, 3, 3)", 1062,
     "Duplicate entry '3-3' for key 't.uk'", None),
    ("INSERT INTO t (id, dec1) VALUES (71, '1.500')", 1062,
     "Duplicate entry '1.50' for key 't.dk'", None),
    ("INSERT INTO t (id, b) VALUES (72, x'00ff')", 1062,
     "Duplicate entry '\\x00\\xFF' for key 't.bk'", None),
    ("INSERT INTO t (id, d) VALUES (73, '2020-1-1')", 1062,
     "Duplicate entry '2020-01-01' for key 't.dtk'", None),
    ("INSERT INTO t (id, u, v) SELECT 6, 1, 2", 1062, "Duplicate entry '1-2' for key 't.uk'",
     None),
    ("INSERT INTO cs VALUES (1, 'X')", 1062, "Duplicate entry '1-X' for key 'cs.PRIMARY'", None),
    ("INSERT INTO c VALUES (2, 9)", 1452, f"{CHILD} {FK}", None),
    ("UPDATE c SET pid = 2", 1452, f"{CHILD} {FK}", None),
    ("INSERT INTO two VALUES (1, 99, 10)", 1452,
     f"{CHILD} (`error_texts`.`two`, CONSTRAINT `two_a` FOREIGN KEY (`a`) REFERENCES `p` "
     "(`id`))", None),
    ("INSERT INTO two VALUES (1, 1, 99)", 1452,
     f"{CHILD} (`error_texts`.`two`, CONSTRAINT `two_b` FOREIGN KEY (`b`) REFERENCES `p` "
     "(`k`) ON DELETE CASCADE)", None),
    ("DELETE FROM p", 1451, f"{PARENT} {FK}", None),
    ("UPDATE p SET id = 2", 1451, f"{PARENT} {FK}", None),
    ("UPDATE tree SET id = 9 WHERE id = 1", 1451, f"{PARENT} {TREE}", None),
    ("UPDATE tree SET parent = 9 WHERE id = 2", 1452, f"{CHILD} {TREE}", None),
    ("INSERT INTO t (id, name) VALUES (8, 'abcdef')", 1406,
     "Data too long for column 'name' at row 1", None),
    ("INSERT INTO t (id, small) VALUES (8, 300)", 1264,
     "Out of range value for column 'small' at row 1", None),
    ("SELECT nope FROM t", 1054, "Unknown column 'nope' in 'field list'",
     "Unknown column 'nope' in 'SELECT'"),
    ("SELECT id FROM t WHERE nope = 1", 1054, "Unknown column 'nope' in 'where clause'",
     "Unknown column 'nope' in 'WHERE'"),
    ("SELECT nope FROM t WHERE nope = 1", 1054, "Unknown column 'nope' in 'field list'",
     "Unknown column 'nope' in 'SELECT'"),
    ("SELECT id FROM t ORDER BY nope", 1054, "Unknown column 'nope' in 'order clause'",
     "Unknown column 'nope' in 'ORDER BY'"),
    ("SELECT id FROM t GROUP BY nope", 1054, "Unknown column 'nope' in 'group statement'",
     "Unknown column 'nope' in 'GROUP BY'"),
    ("SELECT t.id FROM t JOIN p ON t.nope = p.id", 1054,
     "Unknown column 't.nope' in 'on clause'", "Unknown column 't.nope' in 'ON'"),
    ("UPDATE t SET u = 1 WHERE nope = 2", 1054, "Unknown column 'nope' in 'where clause'",
     "Unknown column 'nope' in 'WHERE'"),
    ("SELECT * FROM nope", 1146, "Table 'error_texts.nope' doesn't exist", None),
    ("INSERT INTO nope VALUES (1)", 1146, "Table 'error_texts.nope' doesn't exist", None),
    # 1690: MySQL 8 prints each operation in parentheses, MariaDB without
    ("SELECT 9223372036854775807 + 1", 1690, f"{SIGNED} '(9223372036854775807 + 1)'",
     f"{SIGNED} '9223372036854775807 + 1'"),
    ("SELECT CAST(1 AS UNSIGNED) - 2", 1690, f"{UNSIGNED} '(cast(1 as unsigned) - 2)'",
     f"{UNSIGNED} 'cast(1 as unsigned) - 2'"),
    ("SELECT 18446744073709551615 + 1", 1690, f"{UNSIGNED} '(18446744073709551615 + 1)'",
     f"{UNSIGNED} '18446744073709551615 + 1'"),
    ("SELECT n * 2 FROM big", 1690, f"{SIGNED} '({BIG_N} * 2)'", f"{SIGNED} '{BIG_N} * 2'"),
    ("SELECT n + 1 - 1 FROM big", 1690, f"{SIGNED} '({BIG_N} + 1)'", f"{SIGNED} '{BIG_N} + 1'"),
    ("UPDATE big SET n = n + 1", 1690, f"{SIGNED} '({BIG_N} + 1)'", f"{SIGNED} '{BIG_N} + 1'"),
    ("UPDATE big SET un = un + 1", 1690, f"{UNSIGNED} '({BIG_UN} + 1)'",
     f"{UNSIGNED} '{BIG_UN} + 1'"),
    ("SELECT 1e20 DIV 3", 1690, f"{SIGNED} '(1e20 DIV 3)'", f"{SIGNED} '1e20 DIV 3'"),
]


def _failure(cursor: Any, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        cursor.execute(sql)
    return info.value.args[0], info.value.args[1]


def _schema(conn: Any) -> Any:
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS error_texts")
    cursor.execute("CREATE DATABASE error_texts")
    cursor.execute("USE error_texts")
    for statement in SCHEMA:
        cursor.execute(statement)
    return cursor


@pytest.fixture(scope="module")
def marmot_cursor(marmot_server: Any) -> Iterator[Any]:
    conn = marmot_server.connect(autocommit=True)
    yield _schema(conn)
    conn.close()


@pytest.mark.parametrize("sql, code, text, _", CASES, ids=[c[0] for c in CASES])
def test_error_text_through_pymysql(marmot_cursor: Any, sql: str, code: int, text: str,
                                    _: str | None) -> None:
    assert _failure(marmot_cursor, sql) == (code, text)


@pytest.fixture(scope="module")
def mariadb_cursor(differential_mariadb: MariaDBEndpoint) -> Iterator[Any]:
    conn = differential_mariadb.connect(autocommit=True)
    cursor = _schema(conn)
    yield cursor
    cursor.execute("DROP DATABASE error_texts")
    conn.close()


@pytest.mark.differential
@pytest.mark.parametrize("sql, code, text, mariadb", CASES, ids=[c[0] for c in CASES])
def test_error_text_is_mariadbs_too(mariadb_cursor: Any, sql: str, code: int, text: str,
                                    mariadb: str | None) -> None:
    expected = mariadb or re.sub(r"for key '\w+\.(\w+)'$", r"for key '\1'", text)
    assert _failure(mariadb_cursor, sql) == (code, expected)
