"""Statement shapes: literal-free MySQL text, the key of the translation cache.

Theory of operation
-------------------
Translating MySQL to SQLite with sqlglot costs 60-110 µs per statement; applications send the
same few statements over and over with different literals. ``normalise`` makes one pass of the
MySQL lexer (``sql.text.lexer``, its significant-token scanner) over the text that

* replaces every string and decimal-number literal with a named placeholder ``:p0, :p1 …``
  (named, never positional: sqlglot turns ``LIMIT a, b`` into ``LIMIT b OFFSET a``),
* drops comments and optimizer hints (so tracing comments do not defeat the cache; the hints
  come back in ``Shape.hints``) and unwraps MySQL versioned comments ``/*!40101 … */`` whose
  version we meet (newer ones and MariaDB's ``/*M!…*/`` are comments, as in MySQL),
* leaves backtick identifiers, variables, hex/bit literals and ``?`` markers (prepared mode
  converts these) untouched; an unclosed string or comment is left as it is, for the parser
  to refuse.

The values come back as Python objects typed exactly as SQLite would type the inline literal
(``int``, ``float``, ``str``), so a statement run through the cache behaves the same as the
literal text run directly. Whether a placeholder may stand where a literal stood (not in an
``ORDER BY`` ordinal or a type parameter, say) is decided after parsing, by the translator.

``split_statements`` cuts a multi-statement COM_QUERY on top-level semicolons with the same
scanner, switching to the full token walk only for ``CREATE`` statements, whose ``BEGIN … END``
bodies (stored programs) may hold semicolons.

Long value lists: an ``IN (…)`` list of at least ``VALUE_LIST_MIN`` plain literals (numbers,
strings, NULL) becomes ONE placeholder whose value is a ``ValueList``: the list already written
in SQLite's literal syntax. It is matched by one regex call (C speed, no Python work per
number), sqlglot sees one node instead of 100,000, every length shares one shape, and the
translator splices the list back into the SQLite text (``ValueList.sql``) instead of binding
it, so SQLite's variable limit is never reached and IN/NOT IN keep SQLite's (= MySQL's) NULL
semantics of an inline list.

``ShapeCache`` is a bounded LRU (``entries_max``) from a hashable key to a translation.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from marmotdb.sql.text import lexer
from marmotdb.sql.text.lexer import (
    EXACT_DIGITS_MAX,
    SERVER_VERSION_ID,
    number_value,
    significant_pattern,
    string_value,
)

__all__ = ["EXACT_DIGITS_MAX", "SERVER_VERSION_ID", "SHAPE_CACHE_ENTRIES_MAX_DEFAULT", "Shape",
           "ShapeCache", "VALUE_LIST_MIN", "ValueList", "normalise", "sqlite_literal", "number_value", "split_statements", "strip_comments",
           "unescape_string"]

SHAPE_CACHE_ENTRIES_MAX_DEFAULT = 10_000

_STRING = lexer.STRING
_INTRODUCED_STRING = lexer.INTRODUCED_STRING
_NUMBER = lexer.NUMBER
_MARKER = lexer.MARKER
_COMMENT = lexer.COMMENT
_HINT = lexer.HINT
_VERSION_OPEN = lexer.VERSION_OPEN
_VERSION_CLOSE = lexer.VERSION_CLOSE
_SEMICOLON = lexer.SEMICOLON
_UNTERMINATED = lexer.UNTERMINATED


def unescape_string(token: str, *, backslash_escapes: bool = True) -> str | bytes:
    """The value of a MySQL quoted string token (see ``lexer.string_value``)."""
    return string_value(token, backslash_escapes=backslash_escapes)


@dataclass(slots=True)
class Shape:
    """A statement with its literals lifted out.

    ``text``: the shape (placeholders ``:pN``); ``params``: the values in placeholder order;
    ``literals``: the original text of each value (for MySQL-style column names): its token,
    or a long IN list's elements;
    ``markers``: number of ``?`` markers converted (prepared mode only); ``hints``: the
    optimizer-hint comments ``/*+ … */`` that were dropped from the text."""

    text: str
    params: tuple[object, ...]
    literals: tuple[str, ...]
    markers: int = 0
    hints: tuple[str, ...] = ()


VALUE_LIST_MIN = 64  # shorter IN lists keep one placeholder per value (ordinary statements)


@dataclass(frozen=True, slots=True)
class ValueList:
    """A long ``IN`` list lifted as one value: ``sql`` is its elements in SQLite literal syntax
    (comma-separated, no parentheses), ``count`` how many there are."""

    sql: str
    count: int


# ``IN (`` just before a literal: the window looked at is bounded (``_IN_WINDOW`` characters).
_IN_OPEN = re.compile(rf"(?<![{lexer._W}@.`])[iI][nN]\s*+\(\s*+\Z")
_IN_WINDOW = 40


def _list_pattern(backslash_escapes: bool) -> re.Pattern[str]:
    # Numbers: at most 15 digits before the point, so an integer is always an int (an exact
    # DECIMAL or BIGINT UNSIGNED literal, which number_value keeps as text, ends the list).
    number = rf"-?+(?:\d{{1,15}}+(?:\.\d*+)?+|\.\d++)(?:[eE][+-]?+\d++)?+(?![{lexer._W}.])"
    element = (rf"(?:{number}|{lexer._quoted_string(chr(39), backslash_escapes)}"
               rf"|{lexer._quoted_string(chr(34), backslash_escapes)}|(?i:NULL)(?![{lexer._W}]))")
    return re.compile(rf"{element}(?:\s*+,\s*+{element}){{{VALUE_LIST_MIN - 1},}}+(?=\s*+\))")


_LISTS = {escapes: _list_pattern(escapes) for escapes in (True, False)}
_LIST_STRING = {escapes: re.compile(f"{lexer._quoted_string(chr(39), escapes)}"
                                    f"|{lexer._quoted_string(chr(34), escapes)}")
                for escapes in (True, False)}


def _value_list(sql: str, start: int, backslash_escapes: bool) -> tuple[ValueList, int] | None:
    """The long literal list starting at ``start`` right after ``IN (``, and where it ends."""
    if not _IN_OPEN.search(sql, max(0, start - _IN_WINDOW), start):
        return None
    found = _LISTS[backslash_escapes].match(sql, start)
    if found is None:
        return None
    body = found.group()
    strings = _LIST_STRING[backslash_escapes]
    bare = strings.sub("''", body) if "'" in body or '"' in body else body
    if "." in bare and _EXACT_NUMBER.search(bare):  # number_value keeps it exact: not here
        return None
    count = bare.count(",") + 1
    if bare is not body:
        body = strings.sub(
            lambda m: _sqlite_string(string_value(m.group(), backslash_escapes=backslash_escapes)),
            body)
    return ValueList(body, count), found.end()


_EXACT_NUMBER = re.compile(rf"[\d.]{{{EXACT_DIGITS_MAX + 1},}}")


def sqlite_literal(value: object) -> str:
    """A lifted value (``normalise``'s params) as SQLite literal text that SQLite types as it
    types the bound value."""
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return repr(value) if value == value and abs(value) != float("inf") else \
            ("9e999" if value > 0 else "-9e999")
    if isinstance(value, (str, bytes)):
        return _sqlite_string(value)
    raise TypeError(f"not a lifted value: {type(value).__name__}")


def _sqlite_string(value: str | bytes) -> str:
    """A string value as SQLite literal text typed as binding it would type it: text, or a
    blob for ``_binary`` and non-UTF-8 bytes (surrogate escapes)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogateescape")
        else:
            if "\x00" not in value:
                return "'" + value.replace("'", "''") + "'"
            return f"CAST(X'{value.encode('utf-8').hex()}' AS TEXT)"  # NUL ends SQL text
    return f"X'{value.hex()}'"


_PLACEHOLDERS = tuple(f":p{index}" for index in range(64))  # the usual ones, made once


def normalise(sql: str, *, prepared: bool = False, backslash_escapes: bool = True,
              value_lists: bool = True) -> Shape:
    """Lift literals out of ``sql`` (text protocol) or turn ``?`` markers into ``:pN`` (prepared).

    In prepared mode literals stay inline: the statement is already a shape, and its ``?``
    markers must keep their order, so markers alone become placeholders. ``value_lists``:
    lift long IN lists as one ``ValueList`` each (see the module docstring)."""
    finditer = significant_pattern(backslash_escapes).finditer
    pieces: list[str] = []
    params: list[object] = []
    literals: list[str] = []
    hints: list[str] = []
    markers = 0
    depth = 0  # open versioned comments
    copied = 0
    restart: int | None = 0
    while restart is not None:
        scanning_from, restart = restart, None
        for found in finditer(sql, scanning_from):
            kind = found.lastgroup
            if kind == _STRING or kind == _NUMBER or kind == _INTRODUCED_STRING:
                if prepared:
                    continue
                listed = _value_list(sql, found.start(), backslash_escapes) \
                    if value_lists else None
                if listed is not None:
                    params.append(listed[0])
                    literals.append(sql[found.start():listed[1]])
                    index = len(params) - 1
                    pieces.append(sql[copied:found.start()])
                    pieces.append(_PLACEHOLDERS[index] if index < 64 else f":p{index}")
                    copied = restart = listed[1]
                    break
                token = found.group()
                value = number_value(token) if kind == _NUMBER \
                    else string_value(token, backslash_escapes=backslash_escapes)
                if token == _BIGINT_MIN_DIGITS:
                    minus = _unary_minus(sql, copied, found.start(), pieces)
                    if minus is not None:  # -9223372036854775808 is BIGINT's minimum
                        pieces.append(sql[copied:minus])
                        copied, token, value = found.start(), "-" + token, -(1 << 63)
                params.append(value)
                literals.append(token)
                index = len(params) - 1
                replacement = _PLACEHOLDERS[index] if index < 64 else f":p{index}"
            elif kind == _MARKER:
                if not prepared:
                    continue
                replacement = _PLACEHOLDERS[markers] if markers < 64 else f":p{markers}"
                markers += 1
            elif kind == _COMMENT or kind == _HINT or kind == _VERSION_OPEN:
                if kind == _HINT:
                    hints.append(found.group())
                elif kind == _VERSION_OPEN:
                    depth += 1
                replacement = " "
            elif kind == _VERSION_CLOSE:
                if depth == 0:  # a stray */ is the operator * followed by whatever / starts
                    restart = found.start() + 1
                    break
                depth -= 1
                replacement = " "
            elif kind == _UNTERMINATED:
                break
            else:
                continue
            start, end = found.span()
            pieces.append(sql[copied:start])
            pieces.append(replacement)
            copied = end
    if copied:
        pieces.append(sql[copied:])
        text = "".join(pieces)
    else:
        text = sql
    return Shape(text.strip().rstrip(";").strip(), tuple(params), tuple(literals), markers,
                 tuple(hints))


_BIGINT_MIN_DIGITS = "9223372036854775808"
# What may stand before a unary minus: an operator, an opening parenthesis or comma, or a word
# that ends an operand's place (SELECT -1, WHERE a = -1 AND b > -1, VALUES (-1), THEN -1).
_BEFORE_UNARY = frozenset("(,=<>+-*/%&|^~!")
_WORDS_BEFORE_UNARY = frozenset({"SELECT", "WHERE", "AND", "OR", "NOT", "XOR", "WHEN", "THEN",
                                 "ELSE", "BETWEEN", "DEFAULT", "RETURN", "LIKE", "IN", "IS",
                                 "DIV", "MOD", "HAVING", "ON", "SET", "LIMIT", "OFFSET"})


def _unary_minus(sql: str, copied: int, start: int, pieces: list[str]) -> int | None:
    """Where the ``-`` just before the literal at ``start`` is, if it is a unary minus
    (MySQL reads ``-9223372036854775808`` as one BIGINT literal, not as minus a number that
    does not fit one); None otherwise."""
    before = sql[copied:start].rstrip()
    if not before.endswith("-") or before.endswith("--"):
        return None
    minus = copied + len(before) - 1
    preceding = (("".join(pieces[-2:]) if pieces else "") + sql[copied:minus]).rstrip()
    if not preceding or preceding[-1] in _BEFORE_UNARY:
        return minus
    word = re.search(r"[A-Za-z_]+$", preceding)
    if word is not None and word.group().upper() in _WORDS_BEFORE_UNARY and \
            not re.search(r"[.`:\w]$", preceding[:word.start()]):
        return minus
    return None


def strip_comments(sql: str, *, backslash_escapes: bool = True) -> str:
    """``sql`` with comments and hints removed and versioned comments unwrapped; literals
    untouched."""
    # one-character scans first: memchr speed, where "/*" in an 8 MB text costs ~7 ms
    if ("/" not in sql or "/*" not in sql) and "#" not in sql and (
            "-" not in sql or "--" not in sql):
        return sql.strip().rstrip(";").strip()
    pieces: list[str] = []
    copied = 0
    depth = 0
    for token in lexer.scan(sql, backslash_escapes=backslash_escapes):
        kind = token.kind
        if kind == _VERSION_OPEN:
            depth += 1
        elif kind == _VERSION_CLOSE:
            depth -= 1
        elif kind != _COMMENT and kind != _HINT:
            continue
        pieces.append(sql[copied:token.start])
        pieces.append(" ")
        copied = token.end
    pieces.append(sql[copied:])
    return "".join(pieces).strip().rstrip(";").strip()


# ---------------------------------------------------------------- multi-statement splitting

def split_statements(sql: str, *, backslash_escapes: bool = True) -> list[str]:
    """Split a multi-statement query on top-level ``;``. Empty statements are dropped.

    A ``;`` inside a string, name, comment or open versioned comment does not split; inside
    ``CREATE TRIGGER/PROCEDURE/FUNCTION/EVENT`` a ``BEGIN … END`` block may contain
    semicolons, which do not end the statement either."""
    statements: list[str] = []
    if ";" not in sql:
        _append_statement(statements, sql, backslash_escapes)
        return statements
    search = significant_pattern(backslash_escapes).search
    start = position = depth = 0
    while (found := search(sql, position)) is not None:
        kind = found.lastgroup
        position = found.end()
        if kind == _VERSION_OPEN:
            depth += 1
        elif kind == _VERSION_CLOSE:
            if depth:
                depth -= 1
            else:
                position = found.start() + 1
        elif kind == _SEMICOLON and depth == 0:
            end = found.start()
            if lexer.words(sql, 1, start) == ["CREATE"]:
                end = _create_statement_end(sql, start, backslash_escapes)
            _append_statement(statements, sql[start:end], backslash_escapes)
            start = position = end + 1
        elif kind == _UNTERMINATED:
            break
    _append_statement(statements, sql[start:], backslash_escapes)
    return statements


_BLOCK_OPENERS = frozenset({"BEGIN", "CASE"})
_END_QUALIFIERS = frozenset({"IF", "LOOP", "WHILE", "REPEAT"})
_STORED_PROGRAMS = frozenset({"TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"})


def _create_statement_end(sql: str, start: int, backslash_escapes: bool) -> int:
    """Where the CREATE statement at ``start`` ends: its first ``;`` outside a versioned
    comment and, for a stored program, outside ``BEGIN … END`` (``CASE … END [CASE]`` nests
    too; ``END IF/LOOP/WHILE/REPEAT`` close blocks that never opened one)."""
    stored_program = False
    blocks = versions = 0
    pending_end = False
    for token in lexer.tokens(sql, start, backslash_escapes=backslash_escapes):
        kind = token.kind
        if kind == _VERSION_OPEN:
            versions += 1
            continue
        if kind == _VERSION_CLOSE:
            versions -= 1
            continue
        if kind in lexer.BLANK_KINDS:
            continue
        word = token.text.upper() if kind == lexer.WORD else ""
        if pending_end:
            pending_end = False
            if word in _END_QUALIFIERS:
                continue
            blocks -= 1
            if word == "CASE":
                continue
        if kind == _SEMICOLON and blocks <= 0 and versions == 0:
            return token.start
        if not word:
            continue
        if word in _STORED_PROGRAMS and blocks == 0:
            stored_program = True
        elif stored_program and word in _BLOCK_OPENERS:
            blocks += 1
        elif stored_program and word == "END" and blocks > 0:
            pending_end = True
    return len(sql)


def _append_statement(statements: list[str], piece: str, backslash_escapes: bool) -> None:
    piece = piece.strip()
    if piece and strip_comments(piece, backslash_escapes=backslash_escapes):
        statements.append(piece)


# ---------------------------------------------------------------- bounded LRU

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ShapeCache(Generic[K, V]):
    """A bounded LRU map. ``entries_max`` bounds memory; the least recently used entry goes."""

    def __init__(self, entries_max: int = SHAPE_CACHE_ENTRIES_MAX_DEFAULT) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.resize(entries_max)
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        self._evict()

    def resize(self, entries_max: int) -> None:
        """A new bound (config ``sql.statement_cache_size``); the oldest entries go first."""
        if entries_max < 1:
            raise ValueError("entries_max must be >= 1")
        self.entries_max = entries_max
        self._evict()

    def _evict(self) -> None:
        while len(self._entries) > self.entries_max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
