"""Integer + - * and unary minus with MySQL's range rules (sql/types/int64.py and the rewrite
in sql/rewrites/unsigned.py), through marmotdb's translation on a real SQLite: the slow path
only where SQLite's value was not an integer, values bound in (text and binary protocol) as
well as literals. The MySQL answers themselves are checked against MariaDB by the fixtures
(tests/fixtures/translate/unsigned.sql)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from marmotdb import errors
from marmotdb.sql.translate import translate
from marmotdb.sql.types import int64
from tests.sql.test_translate_support import MiniExecutor

MAX = 9223372036854775807


@pytest.fixture()
def db() -> MiniExecutor:
    executor = MiniExecutor()
    executor.run("CREATE TABLE t (id INT PRIMARY KEY, n BIGINT, f DOUBLE)")
    executor.run(f"INSERT INTO t VALUES (1, {MAX}, 1.5), (2, NULL, NULL)")
    return executor


def _error(db: MiniExecutor, sql: str, params: list[Any] | None = None) -> str:
    with pytest.raises(errors.MarmotError) as info:
        db.run(sql, params)
    assert info.value.code == 1690
    return str(info.value)


def test_a_bound_value_is_printed_from_its_value(db: MiniExecutor) -> None:
    assert _error(db, "SELECT n + ? FROM t WHERE id = 1", [1]) == \
        "BIGINT value is out of range in '(`test`.`t`.`n` + 1)'"
    assert _error(db, "UPDATE t SET n = n * 2 WHERE id = 1") == \
        "BIGINT value is out of range in '(`test`.`t`.`n` * 2)'"
    assert "BIGINT UNSIGNED" in _error(db, "SELECT ? + 1", ["18446744073709551615"])


def test_the_failing_operation_is_named(db: MiniExecutor) -> None:
    assert _error(db, "SELECT (n + 1) - 4611686018427387904 FROM t WHERE id = 1") == \
        "BIGINT value is out of range in '(`test`.`t`.`n` + 1)'"


def test_null_and_non_integer_operands_keep_sqlites_answer(db: MiniExecutor) -> None:
    assert db.run("SELECT n + 1, n * f, n + ? FROM t WHERE id = 2", [1]).rows == \
        [(None, None, None)]
    assert db.run("SELECT n + f, n + ? FROM t WHERE id = 1", [1.5]).rows == \
        [(float(MAX) + 1.5, float(MAX) + 1.5)]
    assert db.run("SELECT n - 1 + 1 FROM t WHERE id = 1").rows == [(MAX,)]


def test_a_value_from_two_to_the_63_bound_in_is_unsigned(db: MiniExecutor) -> None:
    assert db.run("SELECT ? - 1", ["18446744073709551615"]).rows == [("18446744073709551614",)]
    assert db.run("SELECT ? DIV 3", ["18446744073709551615"]).rows == [(6148914691236517205,)]


def test_no_placeholder_name_in_a_string_literal(db: MiniExecutor) -> None:
    """The translation may splice values back into its text (translate._inlined): a ':p0'
    inside a 1690 text would be replaced too."""
    translation, _ = translate("UPDATE t SET n = n + (CAST(5 AS UNSIGNED) - 1) WHERE id = 2",
                               db.view)
    strings = re.findall(r"'(?:[^']|'')*'", " ".join(translation.statements))
    assert strings and not any(":p" in s for s in strings)


def test_evaluator_types_minus_a_constant_beyond_bigint_decimal() -> None:
    template = '[["neg", 0], [["18446744073709551615", "c"]]]'
    assert int64.exact_arithmetic(template, "18446744073709551615") == "-18446744073709551615"
    column = '[["neg", 0], [["`n`", "v"]]]'
    with pytest.raises(errors.MarmotError):
        int64.exact_arithmetic(column, -MAX - 1)
