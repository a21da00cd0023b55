"""A stored expression as MySQL 8 prints it back (sql/definition/shown_expression.py): what
SHOW CREATE TABLE and INFORMATION_SCHEMA show for a generated column."""

from __future__ import annotations

import pytest

from marmotdb.sql.definition.shown_expression import printed_expression, shown_expression

PRINTED = [
    ("a + b", "(`a` + `b`)"),
    ("a", "`a`"),
    ("a - b - c", "((`a` - `b`) - `c`)"),
    ("a - (b - c)", "(`a` - (`b` - `c`))"),
    ("(a + b) * 2", "((`a` + `b`) * 2)"),
    ("a MOD 2", "(`a` % 2)"),
    ("a != b", "(`a` <> `b`)"),
    ("-a", "-(`a`)"),
    ("-5", "-5"),
    ("NOT a", "(not(`a`))"),
    ("a > 0 AND b < 1 AND c", "((`a` > 0) and (`b` < 1) and `c`)"),
    ("a OR b AND c", "(`a` or (`b` and `c`))"),
    ("CONCAT(a, '-', b)", "concat(`a`,_utf8mb4'-',`b`)"),
    ("SUBSTRING(s, 1, 2)", "substr(`s`,1,2)"),
    ("doc->>'$.n'", "json_unquote(json_extract(`doc`,_utf8mb4'$.n'))"),
    ("doc->'$.n'", "json_extract(`doc`,_utf8mb4'$.n')"),
    ("IF(a > 0, 1, 0)", "if((`a` > 0),1,0)"),
    ("CASE WHEN a = 1 THEN 'one' ELSE 'x' END",
     "(case when (`a` = 1) then _utf8mb4'one' else _utf8mb4'x' end)"),
    ("CAST(a AS UNSIGNED)", "cast(`a` as unsigned)"),
    ("CAST(a AS CHAR(3))", "cast(`a` as char(3) charset utf8mb4)"),
    ("CAST(a AS CHAR CHARACTER SET latin1)", "cast(`a` as char charset latin1)"),
    ("a IS NOT NULL", "(`a` is not null)"),
    ("a NOT IN (1, 2)", "(`a` not in (1,2))"),
    ("a BETWEEN 1 AND 2", "(`a` between 1 and 2)"),
    ("a NOT LIKE 'x%'", "(not((`a` like _utf8mb4'x%')))"),
    ("'it''s'", "_utf8mb4'it\\'s'"),
    ("_latin1'x'", "_latin1'x'"),
    ("NOW()", "now()"),
    ("TRUE", "true"),
]


@pytest.mark.parametrize("written, printed", PRINTED)
def test_printed_as_mysql_does(written: str, printed: str) -> None:
    assert shown_expression(written) == printed


@pytest.mark.parametrize("printed", [p for _, p in PRINTED])
def test_printing_a_printed_expression_changes_nothing(printed: str) -> None:
    # printed_expression: not the text kept as written because the printer gave up on it
    assert printed_expression(printed) == printed


@pytest.mark.parametrize("written", ["DATE_ADD(d, INTERVAL 1 DAY)", "TRIM(LEADING 'x' FROM s)",
                                     "a COLLATE utf8mb4_bin", "@v + 1", "(SELECT 1)",
                                     "a +", "(a, b)"])
def test_what_it_does_not_know_is_kept_as_written(written: str) -> None:
    assert shown_expression(written) == written
