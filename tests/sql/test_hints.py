"""``/*+ CONSISTENCY(level) */``: where the hint counts, and bad levels."""

from __future__ import annotations

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.hints import consistency_hint


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
