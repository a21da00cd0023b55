"""A column DEFAULT written with a time zone offset, in the session's time zone.

MySQL 8.0.19 accepts a datetime literal with an offset (``DEFAULT '2020-05-20T00:00:00+00:00'``,
what Tortoise ORM generates for a timezone-aware default) and keeps the moment it names in the
session's time zone: SHOW CREATE TABLE shows ``'2020-05-20 00:00:00'`` under ``+00:00``. The
DDL readers have no session, and a table's stored text is read again by the catalog and by
replicas, so the session rewrites such a literal before the statement is translated: what is
stored is the converted value, the same wherever it is read. A value that is not a valid
offset literal is left as written (and refused with 1067 as before).
"""

from __future__ import annotations

import datetime as _dt
import re

from marmotdb import errors
from marmotdb.sql.text import lexer
from marmotdb.sql.types.coltypes import format_datetime, parse_datetime, parse_offset_datetime

# The cheap test first: DDL without a time-with-offset literal is returned untouched.
_MAYBE_OFFSET = re.compile(r"\d:\d\d(?:\.\d*)?[+-]\d\d:\d\d['\"]")


def with_session_defaults(sql: str, zone: _dt.tzinfo, *, backslash_escapes: bool) -> str:
    """``sql`` with every ``DEFAULT '<datetime with offset>'`` converted to ``zone``."""
    if _MAYBE_OFFSET.search(sql) is None:
        return sql
    pieces: list[str] = []
    after_default = False
    for token in lexer.tokens(sql, backslash_escapes=backslash_escapes):
        text = token.text
        if token.kind == lexer.STRING and after_default:
            value = lexer.string_value(text, backslash_escapes=backslash_escapes)
            stamp = parse_offset_datetime(value, zone)
            if stamp is not None:
                text = f"'{format_datetime(stamp, 6)}'"
        if token.kind not in lexer.BLANK_KINDS:
            after_default = token.kind == lexer.WORD and text.upper() == "DEFAULT"
        pieces.append(text)
    return "".join(pieces)


# The cheap test first: DDL without DEFAULT and a quoted or numeric literal is returned at once.
_MAYBE_LITERAL_DEFAULT = re.compile(r"\bDEFAULT\s*['\"0-9]", re.IGNORECASE)
_TYPE_WORDS = frozenset({"TIMESTAMP", "DATETIME", "DATE", "TIME", "YEAR", "CHAR", "VARCHAR",
                         "TEXT", "INT", "INTEGER", "BIGINT", "DECIMAL"})


def refuse_timestamp_literal_defaults(sql: str, *, backslash_escapes: bool) -> None:
    """1235 for a constant DEFAULT of a TIMESTAMP column (or of a column whose type the
    statement does not name: ``ALTER COLUMN c SET DEFAULT '…'``) given by a session whose time
    zone is not UTC. MySQL keeps such a default as a UTC moment, converted from the creating
    session's zone; the stored definition here holds the text, which rows take as UTC
    (rewrites/timestamps.py), so it would name another moment. Zero dates are fine."""
    if _MAYBE_LITERAL_DEFAULT.search(sql) is None:
        return
    column_type: str | None = None
    after_default = False
    for token in lexer.tokens(sql, backslash_escapes=backslash_escapes):
        if token.kind in lexer.BLANK_KINDS:
            continue
        text = token.text
        if token.kind == lexer.WORD and text.upper() in _TYPE_WORDS:
            column_type = text.upper()
        elif text == ",":
            column_type = None
        elif after_default and token.kind in (lexer.STRING, lexer.NUMBER) and \
                column_type in ("TIMESTAMP", None):
            value = lexer.string_value(text, backslash_escapes=backslash_escapes) \
                if token.kind == lexer.STRING else text
            stamp = parse_datetime(value) or parse_offset_datetime(value, _dt.UTC)
            if stamp is not None and stamp[:3] != (0, 0, 0):
                raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb "
                                   "doesn't yet support 'a constant DEFAULT of a TIMESTAMP "
                                   "column in a session whose time_zone is not UTC'")
        after_default = token.kind == lexer.WORD and text.upper() == "DEFAULT"
