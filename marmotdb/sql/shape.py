"""Statement shapes: literal-free MySQL text, the key of the translation cache.

Theory of operation
-------------------
Translating MySQL to SQLite with sqlglot costs 60-110 µs per statement; applications send the
same few statements over and over with different literals. ``normalise`` makes one regex pass
over the MySQL text that

* replaces every string and decimal-number literal with a named placeholder ``:p0, :p1 …``
  (named, never positional: sqlglot turns ``LIMIT a, b`` into ``LIMIT b OFFSET a``),
* drops ordinary comments (so tracing comments do not defeat the cache) and unwraps MySQL
  versioned comments ``/*!40101 … */`` into their content (``/*M!…*/`` is MariaDB-only and is
  dropped, as MySQL does),
* leaves backtick identifiers, hex/bit literals and ``?`` markers (prepared mode converts
  these) untouched.

The values come back as Python objects typed exactly as SQLite would type the inline literal
(``int``, ``float``, ``str``), so a statement run through the cache behaves the same as the
literal text run directly. Whether a placeholder may stand where a literal stood (not in an
``ORDER BY`` ordinal or a type parameter, say) is decided after parsing, by the translator.

``split_statements`` cuts a multi-statement COM_QUERY on top-level semicolons, aware of quotes,
backticks, comments and ``BEGIN … END`` bodies of stored-program DDL.

``ShapeCache`` is a bounded LRU (``entries_max``) from a hashable key to a translation.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

# The MySQL version we claim; versioned comments newer than this are ignored, like MySQL does.
SERVER_VERSION_ID = 80036

SHAPE_CACHE_ENTRIES_MAX_DEFAULT = 10_000

_ESCAPES = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t",
            "Z": "\x1a", "\\": "\\", "%": "\\%", "_": "\\_"}

# Alternatives are tried left to right at each position; anything else is skipped by the regex
# engine without a Python callback, which is what keeps a cache hit cheap. The leading
# lookahead lists every character an alternative can start with: without it the engine tries
# all alternatives (and their lookbehinds) at every position, 5x slower.
_LITERAL_RE = re.compile(
    r"""(?=[`'"/#\-0-9.?xXbBnN_])(?:"""
    r"""(?P<bq>`(?:[^`]|``)*`)"""
    r"""|(?P<vc>/\*(?P<vm>M?)!(?P<ver>\d{5,6})?(?P<vbody>[\s\S]*?)\*/)"""
    r"""|(?P<cm>/\*[\s\S]*?\*/|--(?=[ \t\r\n]|$)[^\n]*|\#[^\n]*)"""
    r"""|(?P<hex>(?<![\w$])(?:[xXbB]'[0-9a-fA-F]*'|0[xb][0-9a-fA-F]+(?![\w$])))"""
    r"""|(?P<sq>(?:(?<![\w$])(?:_[a-zA-Z0-9]+[ \t]*|[nN]))?'[^'\\]*(?:(?:\\[\s\S]|'')[^'\\]*)*'"""
    r"""(?:[ \t\r\n]*'[^'\\]*(?:(?:\\[\s\S]|'')[^'\\]*)*')*)"""
    r"""|(?P<dq>(?:(?<![\w$])_[a-zA-Z0-9]+[ \t]*)?"[^"\\]*(?:(?:\\[\s\S]|"")[^"\\]*)*")"""
    r"""|(?P<num>(?<![\w$@.:])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w$]))"""
    r"""|(?P<qm>\?))"""
)

_ESCAPE_RE = re.compile(r"\\([\s\S])")


_PIECE_RE = re.compile(r"'([^'\\]*(?:(?:\\[\s\S]|'')[^'\\]*)*)'"
                       r"|\"([^\"\\]*(?:(?:\\[\s\S]|\"\")[^\"\\]*)*)\"")


def unescape_string(token: str) -> str | bytes:
    """The value of a MySQL quoted string token ('…' or "…", backslash escapes, doubled quotes,
    optional ``N`` or ``_charset`` introducer; ``_binary'…'`` gives bytes). Adjacent quoted
    pieces ('a' 'b') concatenate, as in MySQL."""
    first = token[0]
    if (first == "'" or first == '"') and token.count(first) == 2 and "\\" not in token:
        return token[1:-1]  # the common case: one plain quoted string
    opening = min(i for i in (token.find("'"), token.find('"')) if i >= 0)
    introducer = token[:opening].strip().lower()
    pieces = []
    for single, double in _PIECE_RE.findall(token[opening:]):
        quote, text = ("'", single) if token[opening] == "'" else ('"', double)
        pieces.append(text.replace(quote + quote, quote))
    body = "".join(pieces)
    if "\\" in body:
        body = _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)
    if introducer == "_binary":
        return body.encode("utf-8", "surrogateescape")
    return body


EXACT_DIGITS_MAX = 15  # a double holds 15 significant decimal digits exactly


def number_value(token: str) -> int | float | str:
    """Type a numeric literal the way SQLite types it inline: int if it fits 64 bits, else
    float; except a decimal literal with more digits than a double holds, which MySQL keeps
    exact (DECIMAL): it stays text, which SQLite converts wherever it needs a number and a
    DECIMAL column stores digit for digit."""
    if "e" in token or "E" in token:
        return float(token)
    if "." in token:
        digits = len(token.replace(".", "").lstrip("0"))
        return token if digits > EXACT_DIGITS_MAX else float(token)
    value = int(token)
    return value if value <= 0x7FFF_FFFF_FFFF_FFFF else float(value)


@dataclass(slots=True)
class Shape:
    """A statement with its literals lifted out.

    ``text``: the shape (placeholders ``:pN``); ``params``: the values in placeholder order;
    ``literals``: the original token text of each value (for MySQL-style column names);
    ``markers``: number of ``?`` markers converted (prepared mode only)."""

    text: str
    params: tuple[object, ...]
    literals: tuple[str, ...]
    markers: int = 0


def _versioned_body(match: re.Match[str]) -> str:
    if match.group("vm"):
        return " "  # /*M!… */ is MariaDB's; MySQL treats it as a comment.
    version = match.group("ver")
    if version and int(version) > SERVER_VERSION_ID:
        return " "
    return " " + match.group("vbody") + " "


def normalise(sql: str, *, prepared: bool = False) -> Shape:
    """Lift literals out of ``sql`` (text protocol) or turn ``?`` markers into ``:pN`` (prepared).

    In prepared mode literals stay inline: the statement is already a shape, and its ``?``
    markers must keep their order, so markers alone become placeholders."""
    params: list[object] = []
    literals: list[str] = []
    markers = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal markers
        kind = match.lastgroup
        token = match.group(0)
        if kind == "cm":
            return " "
        if kind == "vc":
            return _versioned_body(match)
        if kind == "qm":
            if not prepared:
                return token
            markers += 1
            return f":p{markers - 1}"
        if prepared or kind not in ("sq", "dq", "num"):
            return token
        value = number_value(token) if kind == "num" else unescape_string(token)
        params.append(value)
        literals.append(token)
        return f":p{len(params) - 1}"

    text = _LITERAL_RE.sub(replace, sql)
    if "/*" in text:  # content unwrapped from a versioned comment may hold comments itself
        text = _LITERAL_RE.sub(lambda m: " " if m.lastgroup in ("cm", "vc") else m.group(0), text)
    return Shape(text.strip().rstrip(";").strip(), tuple(params), tuple(literals), markers)


def strip_comments(sql: str) -> str:
    """``sql`` with comments removed and versioned comments unwrapped; literals untouched."""
    def replace(match: re.Match[str]) -> str:
        if match.lastgroup == "cm":
            return " "
        if match.lastgroup == "vc":
            return strip_comments(_versioned_body(match))
        return match.group(0)

    return _LITERAL_RE.sub(replace, sql).strip().rstrip(";").strip()


# ---------------------------------------------------------------- multi-statement splitting

_SPLIT_RE = re.compile(
    r"""`(?:[^`]|``)*`|'(?:[^'\\]|\\[\s\S]|'')*'|"(?:[^"\\]|\\[\s\S]|"")*\""""
    r"""|/\*[\s\S]*?\*/|--(?=[ \t\r\n]|$)[^\n]*|\#[^\n]*"""
    r"""|(?P<word>\b(?:BEGIN|END|CASE|IF|LOOP|WHILE|REPEAT)\b)|(?P<semi>;)""",
    re.IGNORECASE,
)
_COMPOUND_DDL_RE = re.compile(
    r"^\s*CREATE\b[^;]*?\b(?:TRIGGER|PROCEDURE|FUNCTION|EVENT)\b", re.IGNORECASE)
_END_QUALIFIER_RE = re.compile(r"\s*(IF|LOOP|WHILE|REPEAT|CASE)\b", re.IGNORECASE)


def split_statements(sql: str) -> list[str]:
    """Split a multi-statement query on top-level ``;``. Empty statements are dropped.

    Inside ``CREATE TRIGGER/PROCEDURE/FUNCTION/EVENT`` a ``BEGIN … END`` block may contain
    semicolons; they do not end the statement."""
    statements: list[str] = []
    start = 0
    depth = 0
    for match in _SPLIT_RE.finditer(sql):
        word = match.group("word")
        if word is not None:
            depth += _block_delta(sql, start, match, word.upper(), depth)
            continue
        if match.group("semi") is None or depth > 0:
            continue
        _append_statement(statements, sql[start:match.start()])
        start = match.end()
    _append_statement(statements, sql[start:])
    return statements


def _block_delta(sql: str, start: int, match: re.Match[str], word: str, depth: int) -> int:
    if not _COMPOUND_DDL_RE.match(sql[start:match.start()] + " "):
        return 0
    if word == "BEGIN":
        return 1
    if word == "END" and depth > 0 and not _END_QUALIFIER_RE.match(sql, match.end()):
        return -1
    return 0


def _append_statement(statements: list[str], piece: str) -> None:
    if strip_comments(piece):
        statements.append(piece.strip())


# ---------------------------------------------------------------- bounded LRU

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ShapeCache(Generic[K, V]):
    """A bounded LRU map. ``entries_max`` bounds memory; the least recently used entry goes."""

    def __init__(self, entries_max: int = SHAPE_CACHE_ENTRIES_MAX_DEFAULT) -> None:
        if entries_max < 1:
            raise ValueError("entries_max must be >= 1")
        self.entries_max = entries_max
        self._entries: OrderedDict[K, V] = OrderedDict()
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
        while len(self._entries) > self.entries_max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
