"""What every SHOW statement shares: its flags, column constructors, LIKE and WHERE.

``LIKE 'pattern'`` is matched here (MySQL's LIKE with %, _ and backslash escapes,
case-insensitive like the utf8 collations SHOW output uses), on the first column or the one
MySQL documents for that statement; ``WHERE expr`` is evaluated over the result rows in the
catalog workspace, so any MySQL expression works.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from marmotdb.mysql.types import CHARSET_BINARY, Column, ColumnFlag, FieldType, ResultSet
from marmotdb.sql.catalog.expr import TokenStream, syntax_error
from marmotdb.sql.catalog.workspace import workspace

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext

Handler = Callable[[TokenStream, "CatalogContext", "ShowFlags"], ResultSet]


class ShowFlags:
    __slots__ = ("full", "scope")

    def __init__(self, full: bool, scope: str | None):
        self.full = full
        self.scope = scope


# ---------------------------------------------------------------------------------- columns
def show_text(name: str, length: int = 64) -> Column:
    return Column(name, FieldType.VAR_STRING, length * 4)


def show_int(name: str, length: int = 21, unsigned: bool = False) -> Column:
    flags = ColumnFlag.NUM | ColumnFlag.BINARY | (ColumnFlag.UNSIGNED if unsigned else 0)
    return Column(name, FieldType.LONGLONG, length, int(flags), charset=CHARSET_BINARY)


def show_datetime(name: str) -> Column:
    return Column(name, FieldType.DATETIME, 19, int(ColumnFlag.BINARY), charset=CHARSET_BINARY)


# ---------------------------------------------------------------------------------- filters
@lru_cache(maxsize=256)
def like_pattern(pattern: str) -> re.Pattern[str]:
    """A MySQL LIKE pattern (%, _, backslash escapes) as a case-insensitive regex."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL)


def filter_clause(stream: TokenStream) -> tuple[str, str] | None:
    """('like', pattern) or ('where', expression text) or None; the stream must then end."""
    if stream.accept_word("LIKE"):
        token = stream.next()
        if token.kind != "string":
            raise syntax_error(stream)
        return "like", str(token.value)
    if stream.accept_word("WHERE"):
        text = stream.rest_text()
        stream.index = len(stream.tokens) - 1
        return "where", text
    return None


def finish(stream: TokenStream) -> None:
    if not stream.at_end():
        raise syntax_error(stream)


def filtered(columns: list[Column], rows: list[tuple], clause: tuple[str, str] | None,
              ctx: CatalogContext, like_column: int = 0) -> ResultSet:
    if clause is None:
        return ResultSet(columns, rows)
    kind, text = clause
    if kind == "like":
        pattern = like_pattern(text)
        kept = [r for r in rows if r[like_column] is not None
                and pattern.match(str(r[like_column]))]
        return ResultSet(columns, kept)
    names = [c.name for c in columns]
    return ResultSet(columns, workspace().filter_rows(names, rows, text, ctx))


