"""The head of a statement: its leading keywords, found without parsing.

The executor dispatches on these before any translation. Both functions read the statement
through the MySQL lexer (``sql.text.lexer``), so they agree with it on what a comment is: leading
comments, MariaDB-only ``/*M! … */`` and versioned comments for a newer server are skipped; a
statement that is wholly a MySQL versioned comment (``/*!40101 SET NAMES utf8 */`` from
mysqldump) is unwrapped, since MySQL executes its body.
"""

from __future__ import annotations

import functools

from marmotdb.sql.text import lexer

_LEADING_JUNK = frozenset({lexer.SPACE, lexer.COMMENT, lexer.HINT})
_TRAILING_JUNK = frozenset({lexer.SPACE, lexer.COMMENT, lexer.SEMICOLON})


def strip_leading(sql: str) -> str:
    """Drop leading whitespace and comments; unwrap a statement-wide versioned comment; drop
    trailing whitespace and semicolons."""
    if sql[:1].isalpha():  # the common case: nothing to skip
        return sql.rstrip().rstrip(";").rstrip()
    stream = lexer.tokens(sql)
    for token in stream:
        if token.kind not in _LEADING_JUNK:
            break
    else:
        return ""
    if token.kind == lexer.VERSION_OPEN:
        body = _whole_versioned_body(sql, token)
        if body is not None:
            return strip_leading(body)
    return sql[token.start:].rstrip().rstrip(";").rstrip()


def _whole_versioned_body(sql: str, opener: lexer.Token) -> str | None:
    """The body of the versioned comment opened by ``opener`` if nothing but blanks and
    semicolons follow its ``*/``; None otherwise."""
    depth = 0
    close: lexer.Token | None = None
    stream = lexer.tokens(sql, opener.start)
    next(stream)  # the opener itself: the walk must see it to pair its */
    for token in stream:
        if close is not None:
            if token.kind not in _TRAILING_JUNK:
                return None
        elif token.kind == lexer.VERSION_OPEN:
            depth += 1
        elif token.kind == lexer.VERSION_CLOSE:
            if depth == 0:
                close = token
            depth -= 1
    if close is None:
        return None
    return sql[opener.end:close.start]


# Short statements come back (a client's SET NAMES and SELECT 1 on every connect, an app's
# fixed queries): their heads are remembered. Longer ones are looked at afresh, since hashing
# a long text would cost more than the lexer's few steps.
KEYWORDS_REMEMBERED_CHARS_MAX = 160
KEYWORDS_REMEMBERED_MAX = 4096


def keywords(sql: str, count: int = 2) -> tuple[str, ...]:
    """The first ``count`` words of a statement, upper-cased; comments between them are
    skipped and the first token that is not a word ends the list."""
    if len(sql) <= KEYWORDS_REMEMBERED_CHARS_MAX:
        return _remembered_keywords(sql, count)
    return tuple(lexer.words(sql, count))


@functools.lru_cache(maxsize=KEYWORDS_REMEMBERED_MAX)
def _remembered_keywords(sql: str, count: int) -> tuple[str, ...]:
    return tuple(lexer.words(sql, count))


def marker_count(sql: str) -> int:
    """How many ``?`` parameter markers the statement has (not those in strings, names or
    comments)."""
    if "?" not in sql:
        return 0
    return sum(1 for token in lexer.scan(sql) if token.kind == lexer.MARKER)


_LOCKING_CLAUSES = (("FOR", "UPDATE"), ("FOR", "SHARE"), ("LOCK", "IN", "SHARE", "MODE"))


def is_locking_read(sql: str) -> bool:
    """Whether a SELECT has ``FOR UPDATE``, ``FOR SHARE`` or ``LOCK IN SHARE MODE`` as words
    of the statement (not inside a string, name or comment)."""
    lower = sql.lower()  # (faster than upper() on long text)
    if "update" not in lower and "share" not in lower:
        return False
    words = _words(sql)
    return any(tuple(words[i:i + len(clause)]) == clause
               for i, word in enumerate(words) if word in ("FOR", "LOCK")
               for clause in _LOCKING_CLAUSES)


def lock_wait_option(sql: str) -> str | None:
    """``NOWAIT`` or ``SKIP LOCKED`` when a locking read says so (``FOR UPDATE [OF t, …]
    NOWAIT``), else None. Call it only for a locking read."""
    lower = sql.lower()
    if "nowait" not in lower and "skip" not in lower:
        return None
    words = _words(sql)
    if "NOWAIT" in words:
        return "NOWAIT"
    found = any(words[i:i + 2] == ["SKIP", "LOCKED"] for i in range(len(words)))
    return "SKIP LOCKED" if found else None


def _words(sql: str) -> list[str]:
    """The statement's tokens upper-cased, "" for what is not a word (strings, names, …)."""
    return [token.text.upper() if token.kind == lexer.WORD else ""
            for token in lexer.tokens(sql) if token.kind not in lexer.BLANK_KINDS]
