"""Tokens and small expressions of the catalog's own statements."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marmotdb.sql.catalog.expr import NotSimple, sql_literal, tokenize
from marmotdb.sql.text.lexer import string_value

try:
    from tests.sql.test_catalog_context import CatalogTestContext
except ImportError:  # tests/sql is not a package: pytest puts this directory on sys.path
    from test_catalog_context import CatalogTestContext  # type: ignore[no-redef]


def kinds(sql: str) -> list[tuple[str, object]]:
    return [(t.kind, t.value) for t in tokenize(sql)[:-1]]


def test_token_kinds() -> None:
    assert kinds("SELECT @@session.sql_mode, @@GLOBAL.`odd`, @x, @'q y', `col`, 1.5, 2e3, 7") == [
        ("word", "SELECT"), ("sysvar", "sql_mode"), ("op", ","), ("sysvar", "odd"), ("op", ","),
        ("uservar", "x"), ("op", ","), ("uservar", "q y"), ("op", ","), ("quoted", "col"),
        ("op", ","), ("number", Decimal("1.5")), ("op", ","), ("number", 2000.0), ("op", ","),
        ("number", 7)]
    assert [t.scope for t in tokenize("@@local.a @@persist.b @@c")[:-1]] == [
        "session", "global", None]


def test_literals() -> None:
    assert [k for k in kinds(r"'it''s', 'a\nb', ""\"dq\"""" + r", _utf8mb4'x', N'y', X'4142' "
                             r"0x0a b'101' 0b11") if k != ("op", ",")] == [
        ("string", "it's"), ("string", "a\nb"), ("string", "dq"), ("string", "x"),
        ("string", "y"), ("string", b"AB"), ("string", b"\n"), ("bits", 5), ("bits", 3)]
    # Adjacent strings are one literal in MySQL; X'..' with a non-hex digit is not simple.
    assert kinds("SET @a = 'x' \"y\"  'z'") == [("word", "SET"), ("uservar", "a"), ("op", "="),
                                               ("string", "xyz")]
    with pytest.raises(NotSimple):
        tokenize("SELECT X'4G'")
    assert string_value(r"'100\%'") == r"100\%"  # kept for LIKE, as MySQL does
    assert string_value(r"'tab\there'") == "tab\there"


def test_comments() -> None:
    assert kinds("SET /* a */ x = 1 -- tail\n# more\n") == [
        ("word", "SET"), ("word", "X"), ("op", "="), ("number", 1)]
    assert kinds("/*!40101 SET x = 1 */") == [("word", "SET"), ("word", "X"), ("op", "="),
                                               ("number", 1)]
    assert kinds("/*!90000 SET x = 1 */ SELECT 2") == [("word", "SELECT"), ("number", 2)]
    assert kinds("/*M!100100 SET x = 1 */ SELECT 3") == [("word", "SELECT"), ("number", 3)]


def test_untokenizable_text() -> None:
    with pytest.raises(NotSimple):
        tokenize("SELECT 'unterminated")
    with pytest.raises(NotSimple):
        tokenize("SELECT \x00")


def test_sql_literal() -> None:
    assert [sql_literal(v) for v in (None, True, 3, Decimal("1.50"), 0.5, b"\x01", "O'k\\")] == [
        "NULL", "1", "3", "1.50", "0.5", "X'01'", "'O''k\\\\'"]


def test_expressions_through_select() -> None:
    ctx = CatalogTestContext()
    ctx.q("SET @n = 4, @s = 'x'")
    assert ctx.rows("SELECT -@n, (@s), @nope IS NULL, @n IS NOT NULL, -(-2)") == [
        (-4, "x", 1, 1, 2)]
