"""A database's character set and collation through a real client: kept by CREATE/ALTER
DATABASE, shown by INFORMATION_SCHEMA.SCHEMATA, given to the session by USE and to the tables
created there without one; asked of marmotdb and, in the differential group, of MariaDB, which
answers these as MySQL 8 does (tests/sql/test_database_charset.py has the rest)."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest


pytestmark = pytest.mark.integration

DATABASES = ("charset_a", "charset_b")
QUERIES = [
    "CREATE DATABASE charset_a CHARACTER SET latin1",
    "CREATE DATABASE charset_b DEFAULT COLLATE utf8mb4_unicode_ci",
    "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
    "information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'charset\\_%' ORDER BY SCHEMA_NAME",
    "USE charset_b",
    "SELECT @@character_set_database, @@collation_database",
    "CREATE TABLE plain (a VARCHAR(3))",
    "CREATE TABLE own (a VARCHAR(3)) CHARSET latin1",
    "ALTER DATABASE COLLATE utf8mb4_bin",
    "SELECT @@collation_database",
    "CREATE TABLE later (a VARCHAR(3))",
    "ALTER DATABASE charset_a COLLATE latin1_bin",
    "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE "
    "TABLE_SCHEMA = 'charset_b' ORDER BY TABLE_NAME",
    "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE "
    "SCHEMA_NAME = 'charset_a'",
    "CREATE DATABASE charset_x CHARACTER SET nope",
    "CREATE DATABASE charset_x COLLATE nope",
    "CREATE DATABASE charset_x CHARSET latin1 COLLATE utf8mb4_bin",
]
EXPECTED = [
    ("rows", 1), ("rows", 1),
    (("charset_a", "latin1", "latin1_swedish_ci"), ("charset_b", "utf8mb4", "utf8mb4_unicode_ci")),
    (("utf8mb4", "utf8mb4_unicode_ci"),),
    ("rows", 1),
    (("utf8mb4_bin",),),
    ("rows", 1),
    (("later", "utf8mb4_bin"), ("own", "latin1_swedish_ci"), ("plain", "utf8mb4_unicode_ci")),
    (("latin1_bin",),),
    1115, 1273, 1253,
]


def _answers(conn: Any) -> list[Any]:
    answers: list[Any] = []
    with conn.cursor() as cur:
        for name in DATABASES:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        for query in QUERIES:
            try:
                cur.execute(query)
            except pymysql.err.MySQLError as exc:
                answers.append(exc.args[0])
                continue
            if query.startswith("SELECT"):
                answers.append(tuple(tuple(row) for row in cur.fetchall()))
            elif query.startswith(("CREATE DATABASE", "ALTER DATABASE")):
                answers.append(("rows", cur.rowcount))
        for name in DATABASES:
            cur.execute(f"DROP DATABASE {name}")
    return answers


def test_database_character_sets_answer_as_mysql(each_server: Any) -> None:
    assert _answers(each_server) == EXPECTED
