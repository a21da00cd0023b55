"""``/*+ CONSISTENCY(level) */``: where the hint counts, and bad levels."""

from __future__ import annotations

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.text.hints import consistency_hint, statement_hints


@pytest.mark.parametrize("sql, level", [
    ("INSERT INTO t VALUES (1)", None),
    ("INSERT /*+ CONSISTENCY(ALL) */ INTO t VALUES (1)", "ALL"),
    ("/*+ consistency( one ) */ UPDATE t SET a = 1", "ONE"),
    ("UPDATE /*+ BKA(t) CONSISTENCY(QUORUM) */ t SET a = 1", "QUORUM"),
    ("UPDATE t /*+ CONSISTENCY(ALL) */ SET a = 1", None),   # not after the first keyword
    ("INSERT INTO t VALUES ('/*+ CONSISTENCY(ALL) */')", None),  # inside a string
    ("DELETE /* CONSISTENCY(ALL) */ FROM t", None),          # a comment, not a hint
])
def test_where_the_hint_counts(sql: str, level: str | None) -> None:
    assert consistency_hint(sql) == level


def test_an_unknown_level_is_refused_like_the_variable() -> None:
    with pytest.raises(MarmotError) as caught:
        consistency_hint("INSERT /*+ CONSISTENCY(TWO) */ INTO t VALUES (1)")
    assert caught.value.code == 1231


@pytest.mark.parametrize("sql, limit_ms", [
    ("SELECT /*+ MAX_EXECUTION_TIME(1500) */ a FROM t", 1500),
    ("SELECT /*+ BKA(t) max_execution_time( 0 ) */ a FROM t", 0),   # 0: no limit
    ("SELECT a FROM t", None),
    ("SELECT a /*+ MAX_EXECUTION_TIME(10) */ FROM t", None),    # not after the first keyword
    ("/*+ MAX_EXECUTION_TIME(10) */ SELECT a FROM t", None),    # MySQL: only after SELECT
    ("UPDATE /*+ MAX_EXECUTION_TIME(10) */ t SET a = 1", None),  # SELECTs only, as in MySQL
    ("SELECT /*+ MAX_EXECUTION_TIME(99999999999) */ 1", None),  # beyond the variable's range
    ("SELECT '/*+ MAX_EXECUTION_TIME(10) */'", None),           # inside a string
])
def test_where_a_max_execution_time_hint_counts(sql: str, limit_ms: int | None) -> None:
    assert statement_hints(sql).max_execution_time_ms == limit_ms


def test_both_hints_in_one_comment() -> None:
    hints = statement_hints("SELECT /*+ CONSISTENCY(ALL) MAX_EXECUTION_TIME(7) */ 1")
    assert hints == ("ALL", 7)
