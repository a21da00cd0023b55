"""MySQL functions registered on SQLite, and the value coercion behind MYSQL_STORE."""

from __future__ import annotations

import random
from decimal import Decimal

import apsw
import pytest

from marmotdb import errors
from marmotdb.mysql.types import ColumnFlag, FieldType
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.functions.context import FunctionContext
from marmotdb.sql.functions.dates import (
    date_add,
    date_format,
    str_to_date,
    timestampdiff,
    week,
    yearweek,
)
from marmotdb.sql.functions.internal import compare
from marmotdb.sql.functions.numbers import mysql_round, truncate_number
from marmotdb.sql.functions.store import register_schema_functions
from marmotdb.sql.types import coltypes
from marmotdb.sql.types.coltypes import MySqlType, StoreContext, coerce_for_store, parse_type


@pytest.fixture
def ctx() -> FunctionContext:
    return FunctionContext(statement_time=1_709_647_629.5, time_zone="+00:00",
                                     database="shop", user="ann", connection_id=12,
                                     rng=random.Random(5))


@pytest.fixture
def conn(ctx: FunctionContext) -> apsw.Connection:
    connection = apsw.Connection(":memory:")
    functions.register_functions(connection, ctx)
    return connection


def one(conn: apsw.Connection, sql: str) -> object:
    return conn.execute(sql).fetchall()[0][0]


# ---------------------------------------------------------------- session-bound

def test_now_is_the_statement_time_in_the_session_zone(conn: apsw.Connection,
                                                       ctx: FunctionContext) -> None:
    assert one(conn, "SELECT MYSQL_NOW()") == "2024-03-05 14:07:09"
    assert one(conn, "SELECT MYSQL_NOW(3)") == "2024-03-05 14:07:09.500"
    ctx.time_zone = "+05:30"
    assert one(conn, "SELECT MYSQL_NOW()") == "2024-03-05 19:37:09"
    ctx.time_zone = "Europe/Paris"
    assert one(conn, "SELECT MYSQL_CURDATE() || ' ' || MYSQL_CURTIME()") == "2024-03-05 15:07:09"
    assert one(conn, "SELECT MYSQL_UTC_TIMESTAMP()") == "2024-03-05 14:07:09"


def test_now_does_not_move_within_a_statement(conn: apsw.Connection,
                                              ctx: FunctionContext) -> None:
    rows = conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                        "WHERE i < 50) SELECT DISTINCT MYSQL_NOW(6) FROM n").fetchall()
    assert len(rows) == 1
    ctx.statement_time += 1
    assert one(conn, "SELECT MYSQL_NOW()") == "2024-03-05 14:07:10"


def test_unknown_time_zone_is_an_error(conn: apsw.Connection,
                                       ctx: FunctionContext) -> None:
    ctx.time_zone = "Mars/Olympus"
    with pytest.raises(errors.MarmotError) as caught:
        one(conn, "SELECT MYSQL_NOW()")
    assert caught.value.code == errors.ER_UNKNOWN_TIME_ZONE


def test_session_information(conn: apsw.Connection, ctx: FunctionContext) -> None:
    assert one(conn, "SELECT MYSQL_DATABASE()") == "shop"
    assert one(conn, "SELECT MYSQL_USER()") == "ann@localhost"
    assert one(conn, "SELECT MYSQL_CURRENT_USER()") == "ann@%"
    assert one(conn, "SELECT MYSQL_CONNECTION_ID()") == 12
    ctx.last_insert_id, ctx.found_rows, ctx.row_count = 7, 30, 2
    assert one(conn, "SELECT MYSQL_LAST_INSERT_ID()") == 7
    assert one(conn, "SELECT MYSQL_FOUND_ROWS() + MYSQL_ROW_COUNT()") == 32
    assert one(conn, "SELECT MYSQL_LAST_INSERT_ID(99)") == 99 and ctx.last_insert_id == 99


def test_randomness_comes_from_the_session_rng(ctx: FunctionContext) -> None:
    values = []
    for _ in range(2):
        ctx.rng = random.Random(5)
        connection = apsw.Connection(":memory:")
        functions.register_functions(connection, ctx)
        values.append((one(connection, "SELECT MYSQL_RAND()"),
                       one(connection, "SELECT MYSQL_UUID()")))
    assert values[0] == values[1]
    assert str(values[0][1])[14] == "1"  # a version-1 UUID, like MySQL's


def test_sleep_asks_the_runtime_instead_of_blocking(conn: apsw.Connection,
                                                    ctx: FunctionContext) -> None:
    assert one(conn, "SELECT MYSQL_SLEEP(1.5)") == 0
    assert ctx.sleep_requested_s == 1.5


def test_store_follows_sql_mode(conn: apsw.Connection, ctx: FunctionContext) -> None:
    with pytest.raises(errors.MarmotError) as caught:
        one(conn, "SELECT MYSQL_STORE(300, 'tinyint', 'a', 4)")
    assert caught.value.code == errors.ER_WARN_DATA_OUT_OF_RANGE
    assert "at row 4" in caught.value.message
    ctx.sql_mode = ""
    assert one(conn, "SELECT MYSQL_STORE(300, 'tinyint', 'a', 1)") == 127
    assert ctx.warnings == [("Warning", 1264, "Out of range value for column 'a' at row 1")]


def test_store_ignore_mode_warns_even_in_strict_mode(conn: apsw.Connection,
                                                     ctx: FunctionContext) -> None:
    assert one(conn, "SELECT MYSQL_STORE(NULL, 'int not null', 'a', 1, 1)") == 0
    assert ctx.warnings[0][1] == errors.ER_BAD_NULL_ERROR


def test_decimal_collation_orders_numerically() -> None:
    connection = apsw.Connection(":memory:")
    register_schema_functions(connection)
    connection.execute("CREATE TABLE t (d DECIMAL TEXT(10,2) COLLATE mysql_decimal)")
    connection.execute("INSERT INTO t VALUES ('10.00'), ('9.50'), ('-1.00'), ('100.00')")
    assert [r[0] for r in connection.execute("SELECT d FROM t ORDER BY d")] == \
        ["-1.00", "9.50", "10.00", "100.00"]
    assert connection.execute("SELECT COUNT(*) FROM t WHERE d > 9.6").fetchall() == [(2,)]


def test_double_quoted_strings_are_identifiers_only() -> None:
    connection = apsw.Connection(":memory:")
    register_schema_functions(connection)
    connection.execute("CREATE TABLE t (a INT)")
    with pytest.raises(apsw.SQLError):
        connection.execute('SELECT "nope" FROM t').fetchall()


# ---------------------------------------------------------------- pure functions

@pytest.mark.parametrize("value,unit,amount,expected", [
    ("2024-01-31", "MONTH", 1, "2024-02-29"),
    ("2024-02-29", "YEAR", 1, "2025-02-28"),
    ("2024-01-01 10:00:00", "HOUR_MINUTE", "-1:30", "2024-01-01 08:30:00"),
    ("2024-01-01", "SECOND", 1.5, "2024-01-01 00:00:01.500000"),
    ("2024-01-01 00:00:00.25", "MICROSECOND", 10, "2024-01-01 00:00:00.250010"),
    ("10:00:00", "MINUTE", 30, "10:30:00"),
    ("9999-12-31", "DAY", 1, None),
])
def test_date_add(value: str, unit: str, amount: object, expected: str | None) -> None:
    assert date_add(value, amount, unit) == expected


@pytest.mark.parametrize("mode,expected", [(0, 0), (1, 1), (2, 53), (3, 1), (4, 1), (5, 1),
                                           (6, 1), (7, 1)])
def test_week_modes_on_new_year_2024(mode: int, expected: int) -> None:
    assert week("2024-01-01", mode) == expected


def test_week_modes_around_year_end() -> None:
    # Values checked against MariaDB 10.11 (same algorithm as MySQL's calc_week).
    assert [week("2021-01-02", m) for m in range(8)] == [0, 0, 52, 53, 0, 0, 53, 52]
    assert yearweek("2021-01-02", 3) == 202053


def test_timestampdiff_counts_whole_units() -> None:
    assert timestampdiff("MONTH", "2024-01-31", "2024-02-29") == 0
    assert timestampdiff("MONTH", "2024-02-29", "2024-01-31") == 0
    assert timestampdiff("QUARTER", "2024-01-01", "2024-12-31") == 3
    assert timestampdiff("SECOND", "2024-01-01 00:00:01", "2024-01-01") == -1


def test_str_to_date_and_date_format_invert() -> None:
    formatted = date_format("2024-03-05 14:07:09", "%d/%m/%Y %H:%i:%s")
    assert formatted == "05/03/2024 14:07:09"
    assert str_to_date(formatted, "%d/%m/%Y %H:%i:%s") == "2024-03-05 14:07:09"
    assert str_to_date("31/02/2024", "%d/%m/%Y") is None


def test_round_and_truncate_keep_mysql_types() -> None:
    assert mysql_round(2.5) == 3 and mysql_round(-2.5) == -3
    assert mysql_round("1.005", 2) == 1.01
    assert mysql_round(1234, -2) == 1200
    assert truncate_number(-1.999, 1) == -1.9


def test_compare_follows_mysql() -> None:
    assert compare("abc", "ABC") == 0
    assert compare(1, "1") == 0 and compare("10", 9) == 1
    assert compare(None, 1) is None


def test_aggregates_through_sqlite(conn: apsw.Connection) -> None:
    conn.execute("CREATE TABLE t (d TEXT, v INT)")
    conn.execute("INSERT INTO t VALUES ('0.10', 5), ('0.20', 3), ('0.30', NULL)")
    assert conn.execute("SELECT MYSQL_SUM_DECIMAL(d), MYSQL_AVG_DECIMAL(d), MYSQL_BIT_OR(v), "
                        "MYSQL_JSON_ARRAYAGG(v) FROM t").fetchall() == \
        [("0.60", "0.200000", 7, "[5, 3, null]")]


# ---------------------------------------------------------------- coltypes

@pytest.mark.parametrize("text,column_type,decltype", [
    ("INT(11)", "int", "INT"),
    ("int(10) unsigned zerofill", "int(10) unsigned zerofill", "INT UNSIGNED ZEROFILL(10)"),
    ("TINYINT(1)", "tinyint(1)", "TINYINT(1)"),
    ("bool", "tinyint(1)", "TINYINT(1)"),
    ("DECIMAL(10,2) UNSIGNED", "decimal(10,2) unsigned", "DECIMAL UNSIGNED TEXT(10,2)"),
    ("numeric", "decimal(10,0)", "DECIMAL TEXT(10,0)"),
    ("FLOAT(30)", "double", "DOUBLE"),
    ("varchar(255)", "varchar(255)", "VARCHAR(255)"),
    ("BINARY(16)", "binary(16)", "BINARY BLOB(16)"),
    ("TEXT(70000)", "mediumtext", "MEDIUMTEXT"),
    ("ENUM('a','it''s')", "enum('a','it''s')", "ENUM TEXT"),
    ("SET('x','y')", "set('x','y')", "SET_TEXT"),
    ("DATETIME(6)", "datetime(6)", "DATETIME(6)"),
    ("JSON", "json", "JSON TEXT"),
    ("BIT(8)", "bit(8)", "BIT(8)"),
])
def test_type_spellings(text: str, column_type: str, decltype: str) -> None:
    parsed = parse_type(text)
    assert parsed.column_type() == column_type
    assert parsed.sqlite_decltype() == decltype
    back = coltypes.from_decltype(decltype)
    assert back is not None and back.name == parsed.name


def test_spatial_types_are_refused() -> None:
    with pytest.raises(errors.NotSupportedError):
        parse_type("POINT")


def test_column_metadata_from_declarations() -> None:
    decimal = coltypes.column_for_decltype("p", "DECIMAL TEXT(10,2)", "t")
    assert (decimal.type, decimal.decimals, decimal.length) == (FieldType.NEWDECIMAL, 2, 12)
    unsigned = coltypes.column_for_decltype("n", "INT UNSIGNED")
    assert unsigned.type == FieldType.LONG and unsigned.flags & ColumnFlag.UNSIGNED
    assert unsigned.length == 10 and unsigned.charset == 63
    text = coltypes.column_for_decltype("s", "VARCHAR(20)")
    assert (text.type, text.length, text.charset) == (FieldType.VAR_STRING, 80, 255)
    blob = coltypes.column_for_decltype("b", "LONGBLOB")
    assert blob.type == FieldType.BLOB and blob.flags & ColumnFlag.BINARY
    rowid = coltypes.column_for_decltype("id", "INTEGER")
    assert rowid.type == FieldType.LONGLONG and rowid.flags & ColumnFlag.AUTO_INCREMENT
    plain = coltypes.column_for_decltype("x", "REAL")
    assert plain.type == FieldType.DOUBLE


@pytest.mark.parametrize("value,type_text,expected", [
    ("12", "int", 12), (2.5, "int", 3), (Decimal("-2.5"), "int", -3),
    ("3.14159", "decimal(6,3)", "3.142"), (0.1, "decimal(5,2)", "0.10"),
    ("-0.001", "decimal(5,2)", "0.00"), (1, "varchar(3)", "1"),
    (b"ab", "char(4)", "ab"), ("ab", "varbinary(4)", b"ab"),
    ("b", "enum('a','b')", "b"), ("B,a", "set('a','b')", "a,b"), (3, "set('a','b')", "a,b"),
    ("2024-3-5 1:2:3", "datetime", "2024-03-05 01:02:03"), (20240305, "date", "2024-03-05"),
    ("2024-03-05 10:00:00.123456", "timestamp(2)", "2024-03-05 10:00:00.12"),
    ("-838:59:59", "time", "-838:59:59"), ("2005", "year", 2005), (5, "bit(3)", 5),
    (b"\x01\x00", "bit(16)", 256), ('[1,{"b":2,"a":1}]', "json", '[1, {"a": 1, "b": 2}]'),
])
def test_coerce_for_store(value: object, type_text: str, expected: object) -> None:
    assert coerce_for_store(value, parse_type(type_text), "c", 1, StoreContext(True)) == expected


@pytest.mark.parametrize("value,type_text,code", [
    ("x", "int", 1366), ("1x", "int", 1265), (256, "tinyint unsigned", 1264),
    (1000, "decimal(4,1)", 1264), ("abcd", "varchar(3)", 1406), ("z", "enum('a')", 1265),
    ("2024-02-30", "date", 1292), ("0000-00-00", "datetime", 1292), (8, "bit(3)", 1406),
    ("{", "json", 3140), (1, "year", 1264) if False else (1800, "year", 1264),
])
def test_strict_store_errors(value: object, type_text: str, code: int) -> None:
    with pytest.raises(errors.MarmotError) as caught:
        coerce_for_store(value, parse_type(type_text), "c", 1, StoreContext(True))
    assert caught.value.code == code


def test_non_strict_store_clamps_and_warns() -> None:
    seen: list[tuple[str, int, str]] = []
    store = StoreContext(False, lambda *w: seen.append(w))
    assert coerce_for_store("99999", MySqlType("smallint"), "c", 2, store) == 32767
    assert coerce_for_store("abc", MySqlType("varchar", 2), "c", 2, store) == "ab"
    assert [code for _, code, _ in seen] == [1264, 1406]
    assert seen[0][2].endswith("at row 2")


def test_time_sort_key_orders_like_mysql() -> None:
    values = ["100:00:00", "-01:00:00", "10:11:12", "-10:00:00"]
    assert sorted(values, key=coltypes.time_sort_key) == \
        ["-10:00:00", "-01:00:00", "10:11:12", "100:00:00"]


def test_rename_functions_renames_calls_only() -> None:
    from marmotdb.sql.rewrites.expressions import rename_functions
    assert rename_functions("SELECT NOW(), now (), db.NOW(), 'NOW()', `NOW`(), /* NOW() */ "
                            "@NOW(), x--NOW()\n") == (
        "SELECT MYSQL_NOW(), now (), db.NOW(), 'NOW()', `NOW`(), /* NOW() */ @NOW(), "
        "x--MYSQL_NOW()\n")
    # A type after AS is no call, though TIME() is a function (Django's CAST(… AS time(6))).
    assert rename_functions("SELECT CAST(m AS TIME(6)), TIME(m), CAST(d AS date)") == \
        "SELECT CAST(m AS TIME(6)), MYSQL_TIME(m), CAST(d AS date)"


def test_parse_type_is_linear_on_runs_of_quotes() -> None:
    import time

    from marmotdb.sql.types.coltypes import parse_type
    assert parse_type("enum('a''b','c\\\\d')").values == ("a'b", "c\\d")
    start = time.perf_counter()
    for _ in range(10):  # was exponential in the run: 38 quotes took 0.2 s, 60 took minutes
        parse_type("enum(" + "'" * 5000 + " x")
    assert time.perf_counter() - start < 2.0
