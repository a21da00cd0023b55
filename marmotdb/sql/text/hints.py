"""Optimizer hints a statement carries that marmotdb acts on: ``/*+ CONSISTENCY(level) */`` and
``/*+ MAX_EXECUTION_TIME(ms) */``.

MySQL honours ``/*+ … */`` right after the statement's first keyword; marmotdb also takes a
CONSISTENCY hint right before it (where Marmot v2's documentation puts it). MAX_EXECUTION_TIME
counts only after SELECT, as in MySQL (a top-level SELECT's own limit, replacing the session's
``max_execution_time`` for that statement; 0 means none). Hints marmotdb does not know are
ignored, as MySQL ignores (with a warning) hints it cannot apply.
The hint comments are found with the one MySQL lexer, and only when the text contains ``/*+``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from marmotdb import errors
from marmotdb.sql.text.lexer import BLANK_KINDS, HINT, tokens

WRITE_LEVELS = ("ONE", "QUORUM", "ALL")
_CONSISTENCY = re.compile(r"\bCONSISTENCY\s*\(\s*(\w+)\s*\)", re.IGNORECASE)
_MAX_EXECUTION_TIME = re.compile(r"\bMAX_EXECUTION_TIME\s*\(\s*(\d{1,10})\s*\)", re.IGNORECASE)
_MAX_EXECUTION_TIME_MS_MAX = 4294967295  # the variable's range: a larger hint is ignored


class StatementHints(NamedTuple):
    consistency: str | None = None  # the statement's write level
    max_execution_time_ms: int | None = None  # its own limit; None: the session's applies


NO_HINTS = StatementHints()


def statement_hints(sql: str) -> StatementHints:
    """The hints of ``sql`` that marmotdb acts on (the comments before its second keyword).
    An unknown level is refused with 1231, as ``SET marmot_write_consistency`` refuses it."""
    if "/" not in sql or "/*+" not in sql:  # one character: memchr, ~100× faster on long text
        return NO_HINTS
    first: str | None = None
    consistency: str | None = None
    limit_ms: int | None = None
    for token in tokens(sql):
        if token.kind == HINT:
            consistency = consistency or _level(token.text)
            if first == "SELECT" and limit_ms is None:
                limit_ms = _limit_ms(token.text)
        elif token.kind not in BLANK_KINDS:
            if first is not None:
                break
            first = token.text.upper()
    return StatementHints(consistency, limit_ms)


def consistency_hint(sql: str) -> str | None:
    """The write level named by a CONSISTENCY hint, or None."""
    return statement_hints(sql).consistency


def _level(hint: str) -> str | None:
    found = _CONSISTENCY.search(hint)
    if found is None:
        return None
    level = found.group(1).upper()
    if level not in WRITE_LEVELS:
        raise errors.error(errors.ER_WRONG_VALUE_FOR_VAR, "Variable 'marmot_write_consistency'"
                           f" can't be set to the value of '{found.group(1)[:64]}'")
    return level


def _limit_ms(hint: str) -> int | None:
    found = _MAX_EXECUTION_TIME.search(hint)
    if found is None or int(found.group(1)) > _MAX_EXECUTION_TIME_MS_MAX:
        return None
    return int(found.group(1))
