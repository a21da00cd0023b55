"""DECIMAL result columns: the MySQL types the translator reports, and exact values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marmotdb.mysql.types import FieldType
from marmotdb.sql.functions.decimal import DECIMAL_SCALARS
from marmotdb.sql.types import coltypes
from marmotdb.sql.translate import translate
from tests.sql.test_translate_support import MiniExecutor


@pytest.fixture
def shop() -> MiniExecutor:
    executor = MiniExecutor()
    executor.run("CREATE TABLE item (g INT, qty INT, price DECIMAL(10,2), weight DOUBLE, "
                 "name VARCHAR(20))")
    executor.run("INSERT INTO item VALUES (1, 2, 5.50, 1.5, 'a'), (1, 3, 6.00, 2, 'b'), "
                 "(2, 1, 100.25, 3, 'c'), (3, 4, 20.00, 4, 'd')")
    return executor


def _decltypes(executor: MiniExecutor, sql: str) -> tuple[str | None, ...]:
    return translate(sql, executor.view)[0].result_decltypes


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT SUM(price), AVG(price), MIN(price), MAX(price) FROM item",
     ("DECIMAL TEXT(32,2)", "DECIMAL TEXT(14,6)", "DECIMAL TEXT(10,2)", "DECIMAL TEXT(10,2)")),
    ("SELECT price * 2, price + 1, price / 3, price * qty FROM item",
     ("DECIMAL TEXT(11,2)", "DECIMAL TEXT(11,2)", "DECIMAL TEXT(14,6)", "DECIMAL TEXT(20,2)")),
    ("SELECT SUM(qty), AVG(qty), qty / 2, 7 / 2 FROM item",
     ("DECIMAL TEXT(32,0)", "DECIMAL TEXT(14,4)", "DECIMAL TEXT(14,4)", "DECIMAL TEXT(5,4)")),
    ("SELECT CAST(price AS DECIMAL(12,3)), price * 2.50 FROM item",
     ("DECIMAL TEXT(12,3)", "DECIMAL TEXT(13,4)")),
])
def test_expression_columns_are_typed_decimal(shop: MiniExecutor, sql: str,
                                              expected: tuple[str, ...]) -> None:
    assert _decltypes(shop, sql) == expected
    for decltype in expected:
        column = coltypes.column_for_decltype("c", decltype)
        assert column.type is FieldType.NEWDECIMAL


@pytest.mark.parametrize("sql", [
    "SELECT price, qty, name FROM item",  # SQLite reports these declarations itself
    "SELECT price * weight, qty + 1, weight / 2, price * 1e0 FROM item",  # DOUBLE / BIGINT
    "SELECT * FROM item",
    "SELECT price FROM item UNION SELECT 1.5",
])
def test_other_columns_are_left_to_sqlite(shop: MiniExecutor, sql: str) -> None:
    assert not any(_decltypes(shop, sql))


def test_arithmetic_and_aggregates_are_exact(shop: MiniExecutor) -> None:
    assert shop.rows("SELECT g, price * 2, price - 0.001, price * 2.50, -price, price / qty "
                     "FROM item ORDER BY g, qty") == [
        (1, "11.00", "5.499", "13.7500", "-5.50", "2.750000"),
        (1, "12.00", "5.999", "15.0000", "-6.00", "2.000000"),
        (2, "200.50", "100.249", "250.6250", "-100.25", "100.250000"),
        (3, "40.00", "19.999", "50.0000", "-20.00", "5.000000")]
    assert shop.rows("SELECT SUM(price * qty), AVG(qty), SUM(DISTINCT price), "
                     "MAX(price * qty), COALESCE(SUM(price), 0) FROM item") == [
        ("209.25", "2.5000", "131.75", "100.25", "131.75")]


def test_many_small_decimals_sum_without_float_error() -> None:
    executor = MiniExecutor()
    executor.run("CREATE TABLE t (v DECIMAL(5,2), n INT)")
    executor.run("INSERT INTO t VALUES " + ", ".join(["(0.10, 3)"] * 1000))
    assert executor.rows("SELECT SUM(v * n), SUM(v) * 3 FROM t") == [("300.00", "300.00")]


def test_order_by_and_having_use_the_numeric_value(shop: MiniExecutor) -> None:
    # text would sort '100.25' < '11.50' < '20.00'
    assert shop.rows("SELECT g, SUM(price) AS s FROM item GROUP BY g ORDER BY s DESC") == [
        (2, "100.25"), (3, "20.00"), (1, "11.50")]
    assert shop.rows("SELECT g, SUM(price) FROM item GROUP BY g ORDER BY 2") == [
        (1, "11.50"), (3, "20.00"), (2, "100.25")]
    assert shop.rows("SELECT g, SUM(price * qty) AS total FROM item GROUP BY g "
                     "HAVING total > 30 ORDER BY total") == [(3, "80.00"), (2, "100.25")]
    # an alias equal to a table column's name still means the result column
    assert shop.rows("SELECT SUM(price) AS name FROM item GROUP BY g ORDER BY name") == [
        ("11.50",), ("20.00",), ("100.25",)]


def test_views_keep_numbers(shop: MiniExecutor) -> None:
    """A view's columns are read by other statements: they must stay numbers there."""
    shop.run("CREATE VIEW per_group AS SELECT g, AVG(qty) AS mean, qty / 2 AS half "
             "FROM item GROUP BY g")
    assert shop.rows("SELECT g FROM per_group WHERE mean > 2.5 ORDER BY g") == [(3,)]


def test_quotients_round_once_at_the_end(shop: MiniExecutor) -> None:
    assert shop.rows("SELECT 1/3*3, 2/3, price/3*3 FROM item WHERE g = 2") == [
        ("1.0000", "0.6667", "100.250000")]


def test_nullif_and_decimal_literals_stay_exact(shop: MiniExecutor) -> None:
    # SQLAlchemy's TrueDivTest hides the divisor's type behind NULLIF(x, 0)
    assert shop.rows("SELECT CAST(30000000000000000000000000000000000000 AS DECIMAL(38,0)) / "
                     "NULLIF(CAST(10000000000000000000000000000000000000 AS DECIMAL(38,0)), 0), "
                     "CAST(5.02797279921331664759 AS DECIMAL(22,20)) / "
                     "NULLIF(CAST(0.71828182845904523537 AS DECIMAL(22,20)), 0)") == [
        ("3.0000", "7.000000000000000000000000")]
    assert shop.rows("SELECT NULLIF(price, 100.25), price / NULLIF(price - 100.25, 0) FROM item "
                     "WHERE g = 2") == [(None, None)]


def test_division_by_zero_is_null(shop: MiniExecutor) -> None:
    assert shop.rows("SELECT price / 0, price / NULL FROM item WHERE g = 2") == [(None, None)]


@pytest.mark.parametrize(("name", "a", "b", "expected"), [
    ("DEC_ADD", "1.10", 2, "3.10"), ("DEC_SUB", 0, "5.50", "-5.50"),
    ("DEC_MUL", "0.10", "0.20", "0.0200"), ("DEC_MUL", "2.5", 1.5, "3.75"),
    ("DEC_DIV", 1, 3, "0.333333333"), ("DEC_DIV", "2.00", "3", "0.666666666"),
    ("DEC_DIV", "1.0000000", "3", "0.333333333333333333"),
    ("DEC_ADD", None, 1, None), ("DEC_FORMAT", 0.1 + 0.2, 2, "0.30"),
    ("DEC_MUL", "99999999999999999999.99", "99999999999999999999.99",
     "9999999999999999999998000000000000000000.0001"),
])
def test_decimal_functions(name: str, a: object, b: object, expected: str | None) -> None:
    functions_by_name = {n: fn for n, fn, *_ in DECIMAL_SCALARS}
    assert functions_by_name[name](a, b) == expected
    if expected is not None:
        assert Decimal(expected).is_finite()
