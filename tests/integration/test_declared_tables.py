"""What the catalog says of a table is what the one CREATE TABLE reader (sql/definition/) read
from its stored definition: the cases where the catalog's former parser and the translation's
disagreed, asked through INFORMATION_SCHEMA of marmotdb and, in the differential group, of
MariaDB (which reads them as MySQL 8 does)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.differential import MariaDBEndpoint

STATEMENTS = [
    "CREATE TABLE serial_t (g SERIAL, v INT)",
    "CREATE TABLE alias_t (a INT1, b INT2, c INT3, d INT8, e FLOAT8)",
    "CREATE TABLE utf8_t (a VARCHAR(5) CHARACTER SET utf8 COLLATE utf8_bin, b VARCHAR(5)) "
    "COLLATE=latin1_bin",
    "CREATE TABLE cp932_t (a VARCHAR(5)) DEFAULT CHARSET=cp932",
    # the national types are utf8mb3 (SQLAlchemy's NVARCHAR / NCHAR; Alembic compares them)
    "CREATE TABLE national_t (a NVARCHAR(5), b NCHAR(2), c NATIONAL VARCHAR(3))",
]
COLUMNS = ("SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE, EXTRA, COLUMN_KEY, "
           "CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE "
           "TABLE_SCHEMA = 'declared' ORDER BY TABLE_NAME, ORDINAL_POSITION")
TABLES = ("SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE "
          "TABLE_SCHEMA = 'declared' ORDER BY TABLE_NAME")
EXPECTED_COLUMNS = [
    ("alias_t", "a", "tinyint", "YES", "", "", None, None),
    ("alias_t", "b", "smallint", "YES", "", "", None, None),
    ("alias_t", "c", "mediumint", "YES", "", "", None, None),
    ("alias_t", "d", "bigint", "YES", "", "", None, None),
    ("alias_t", "e", "double", "YES", "", "", None, None),
    ("cp932_t", "a", "varchar", "YES", "", "", "cp932", "cp932_japanese_ci"),
    ("national_t", "a", "varchar", "YES", "", "", "utf8mb3", "utf8mb3_general_ci"),
    ("national_t", "b", "char", "YES", "", "", "utf8mb3", "utf8mb3_general_ci"),
    ("national_t", "c", "varchar", "YES", "", "", "utf8mb3", "utf8mb3_general_ci"),
    ("serial_t", "g", "bigint", "NO", "auto_increment", "PRI", None, None),
    ("serial_t", "v", "int", "YES", "", "", None, None),
    ("utf8_t", "a", "varchar", "YES", "", "", "utf8mb3", "utf8mb3_bin"),
    ("utf8_t", "b", "varchar", "YES", "", "", "latin1", "latin1_bin"),
]
EXPECTED_TABLES = [("alias_t", "utf8mb4_0900_ai_ci"), ("cp932_t", "cp932_japanese_ci"),
                   ("national_t", "utf8mb4_0900_ai_ci"),
                   ("serial_t", "utf8mb4_0900_ai_ci"), ("utf8_t", "latin1_bin")]


def _described(conn: Any) -> tuple[list[tuple], list[tuple]]:
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS declared")
    cursor.execute("CREATE DATABASE declared")
    cursor.execute("USE declared")
    for statement in STATEMENTS:
        cursor.execute(statement)
    cursor.execute(COLUMNS)
    columns = [tuple(row) for row in cursor.fetchall()]
    cursor.execute(TABLES)
    tables = [tuple(row) for row in cursor.fetchall()]
    cursor.execute("DROP DATABASE declared")
    return columns, tables


def test_marmotdb_describes_them_as_mysql(marmot_server: Any) -> None:
    conn = marmot_server.connect(autocommit=True)
    try:
        assert _described(conn) == (EXPECTED_COLUMNS, EXPECTED_TABLES)
    finally:
        conn.close()


@pytest.mark.differential
def test_mariadb_describes_them_alike(differential_mariadb: MariaDBEndpoint) -> None:
    conn = differential_mariadb.connect(autocommit=True)
    try:
        columns, tables = _described(conn)
    finally:
        conn.close()
    # MariaDB's default collation for utf8mb4 is not MySQL 8's utf8mb4_0900_ai_ci
    assert columns == EXPECTED_COLUMNS
    assert [t for t in tables if t[0] in ("cp932_t", "utf8_t")] == \
        [t for t in EXPECTED_TABLES if t[0] in ("cp932_t", "utf8_t")]


PARTITIONED = [
    "CREATE TABLE h (a INT) PARTITION BY LINEAR HASH (a) PARTITIONS 3",
    "CREATE TABLE r (a INT, d DATE) PARTITION BY RANGE (YEAR(d)) SUBPARTITION BY KEY (a) "
    "SUBPARTITIONS 2 (PARTITION p0 VALUES LESS THAN (1990), "
    "PARTITION p1 VALUES LESS THAN MAXVALUE COMMENT 'last')",
    "CREATE TABLE l (a INT) PARTITION BY LIST (a) (PARTITION odd VALUES IN (1, 3), "
    "PARTITION even VALUES IN (2, 4))",
    "CREATE TABLE plain (a INT)",
]
PARTITIONS = ("SELECT TABLE_NAME, PARTITION_NAME, SUBPARTITION_NAME, PARTITION_ORDINAL_POSITION, "
              "SUBPARTITION_ORDINAL_POSITION, PARTITION_METHOD, SUBPARTITION_METHOD, "
              "PARTITION_DESCRIPTION, PARTITION_COMMENT FROM information_schema.PARTITIONS "
              "WHERE TABLE_SCHEMA = 'declared' ORDER BY TABLE_NAME, "
              "PARTITION_ORDINAL_POSITION, SUBPARTITION_ORDINAL_POSITION")
EXPECTED_PARTITIONS = [
    ("h", "p0", None, 1, None, "LINEAR HASH", None, None, ""),
    ("h", "p1", None, 2, None, "LINEAR HASH", None, None, ""),
    ("h", "p2", None, 3, None, "LINEAR HASH", None, None, ""),
    ("l", "odd", None, 1, None, "LIST", None, "1,3", ""),
    ("l", "even", None, 2, None, "LIST", None, "2,4", ""),
    ("plain", None, None, None, None, None, None, None, ""),
    ("r", "p0", "p0sp0", 1, 1, "RANGE", "KEY", "1990", ""),
    ("r", "p0", "p0sp1", 1, 2, "RANGE", "KEY", "1990", ""),
    ("r", "p1", "p1sp0", 2, 1, "RANGE", "KEY", "MAXVALUE", "last"),
    ("r", "p1", "p1sp1", 2, 2, "RANGE", "KEY", "MAXVALUE", "last"),
]


def _partitions(conn: Any) -> list[tuple]:
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS declared")
    cursor.execute("CREATE DATABASE declared")
    cursor.execute("USE declared")
    for statement in PARTITIONED:
        cursor.execute(statement)
    cursor.execute(PARTITIONS)
    found = [tuple(row) for row in cursor.fetchall()]
    cursor.execute("DROP DATABASE declared")
    return found


def test_partitions_are_listed_as_mysql(each_server: Any) -> None:
    assert _partitions(each_server) == EXPECTED_PARTITIONS
