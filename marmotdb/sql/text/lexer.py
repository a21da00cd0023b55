"""The MySQL lexer: one definition of MySQL's tokens for every part of marmotdb that needs them.

Theory of operation
-------------------
MySQL's lexical rules (reference manual §11.1 literals, §11.2 identifiers, §11.7 comments) are
written down once, below, as regex fragments, one per token kind. Two scanners are compiled
from the same fragments:

* ``tokens(sql)`` walks the text token by token, every character in exactly one token
  (``space``, ``comment``, ``hint``, ``version_open``/``version_close``, ``var``, ``quoted``,
  ``string``, ``hex``, ``bits``, ``number``, ``word``, ``marker``, ``semicolon``, ``op``,
  ``unterminated``). Used where words matter: statement heads, ``BEGIN … END`` bodies, the
  catalog's small parsers.
* ``scan(sql)`` finds only the *significant* tokens, the ones that are not words, blanks or
  operators, and lets the regex engine skip everything else in C. The shape cache runs it on
  every statement, so it is the hot path; ``shape.normalise`` and ``shape.split_statements``
  are built on it. A test checks that both scanners agree on every fixture.

Rules worth knowing (each one has a golden fixture in ``tests/fixtures/lexer``):

* Strings: ``'…'`` and ``"…"`` (no ANSI_QUOTES), a doubled quote stands for itself, backslash
  escapes unless NO_BACKSLASH_ESCAPES (``backslash_escapes=False``). Adjacent strings separated
  by blanks are one literal (``'a' 'b'`` is ``'ab'``), as in MySQL. A charset introducer
  (``_utf8mb4'…'``, ``_binary '…'``, only for charsets MySQL has) or ``N'…'`` belongs to the
  string token. ``X'…'``, ``0x…``, ``B'…'``, ``0b…`` are ``hex``/``bits``.
* Identifiers: backquoted with doubled backquotes; unquoted ones may start with a digit but
  are not all digits (``1e5`` is a number, ``1e5x`` a word).
* Comments: ``#`` to end of line; ``--`` only when followed by a blank or control character
  (or the end), so ``1--1`` is arithmetic; ``/* … */`` not nested. ``/*+ … */`` is a ``hint``
  token (MySQL honours it only right after the statement keyword; callers decide).
* Versioned comments: ``/*!`` optionally followed by a 5- or 6-digit version. If the version
  is at most ``SERVER_VERSION_ID`` (or absent) the opener is a ``version_open`` token, the body
  is lexed as ordinary SQL and its ``*/`` is a ``version_close`` token; otherwise the whole
  comment is a ``comment`` (MySQL's skip allows one level of nested ``/* */`` there).
  ``/*M!…*/`` is MariaDB's and an ordinary comment to MySQL.
* An unclosed string, backquoted name or comment is one ``unterminated`` token to the end.

Linear time: every repetition is possessive or atomic (Python 3.11), every token either
matches or fails after looking at a bounded number of characters, and an unclosed construct
ends the scan, so no character is examined more than a constant number of times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

# The MySQL version marmotdb reports; versioned comments for newer servers are comments.
SERVER_VERSION_ID = 80036

SPACE = "space"
COMMENT = "comment"
HINT = "hint"
VERSION_OPEN = "version_open"
VERSION_CLOSE = "version_close"
VAR = "var"
QUOTED = "quoted"
STRING = "string"
HEX = "hex"
BITS = "bits"
NUMBER = "number"
WORD = "word"
MARKER = "marker"
SEMICOLON = "semicolon"
OP = "op"
UNTERMINATED = "unterminated"

INTRODUCED_STRING = "introduced_string"  # only from ``significant_pattern`` (see there)

# Kinds that carry no SQL: skipped by ``words``, dropped from shapes.
BLANK_KINDS = frozenset({SPACE, COMMENT, HINT, VERSION_OPEN, VERSION_CLOSE})


class Token(NamedTuple):
    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


# ---------------------------------------------------------------------------------- fragments
# Characters of an unquoted identifier: MySQL allows [0-9a-zA-Z$_] and U+0080 .. U+FFFF.
_W = "0-9A-Za-z_$\u0080-\U0010ffff"
# Literals (numbers, hex/bit values, introducers) never start inside a word, a variable name,
# a qualified name or a named placeholder: ``t1``, ``@v2``, ``t.1e``, ``:p0``.
_LITERAL_START = rf"(?<![{_W}@.:])"
CHARSETS = ("armscii8 ascii big5 binary cp1250 cp1251 cp1256 cp1257 cp850 cp852 cp866 cp932 "
            "dec8 eucjpms euckr gb18030 gb2312 gbk geostd8 greek hebrew hp8 keybcs2 koi8r koi8u "
            "latin1 latin2 latin5 latin7 macce macroman sjis swe7 tis620 ucs2 ujis utf16le utf16 "
            "utf32 utf8mb3 utf8mb4 utf8").split()


def _greater_than(version: int, width: int) -> str:
    """A regex for the ``width``-digit numbers greater than ``version``."""
    digits = str(version).zfill(width)
    if len(digits) > width:
        return "(?!)"
    alternatives = [f"{digits[:i]}[{int(d) + 1}-9]" + (rf"\d{{{width - i - 1}}}" if i < width - 1
                                                       else "")
                    for i, d in enumerate(digits) if d != "9"]
    return "(?:" + "|".join(alternatives) + ")" if alternatives else "(?!)"


def _all_but(*excluded: str) -> str:
    """A character class of every code point except ``excluded``, written as positive ranges:
    the regex engine tests ``[^'\\]`` item by item but ranges 2-3x faster, and string
    bodies are most of the text it scans."""
    ranges = []
    low = 0
    for code in sorted(map(ord, excluded)):
        if code > low:
            ranges.append(f"\\U{low:08x}-\\U{code - 1:08x}")
        low = code + 1
    ranges.append(f"\\U{low:08x}-\\U0010ffff")
    return "[" + "".join(ranges) + "]"


def _quoted_string(quote: str, backslash_escapes: bool) -> str:
    if backslash_escapes:
        body = _all_but(quote, "\\")
        return rf"{quote}{body}*+(?:(?:\\[\s\S]|{quote}{quote}){body}*+)*+{quote}"
    return rf"{quote}[^{quote}]*+(?:{quote}{quote}[^{quote}]*+)*+{quote}"


_NUMBER_BODY = rf"(?:\d++(?:\.\d*+)?+|\.\d++)(?:[eE][+-]?+\d++)?+(?![{_W}])"
_INTRODUCER = rf"_(?i:{'|'.join(CHARSETS)})(?![{_W}])\s*+"
_NEWER_VERSION = (f"(?:{_greater_than(SERVER_VERSION_ID, 6)}"
                  rf"|{_greater_than(SERVER_VERSION_ID, 5)}(?!\d))")
_BLOCK_BODY = r"(?:[^*]++|\*(?!/))*+\*/"


Alternative = tuple[bool, str, str]  # (a literal: not inside a word?, first character, rest)


def _fragments(backslash_escapes: bool) -> list[tuple[str, list[Alternative]]]:
    """The significant tokens, each as alternatives split at their first character, in the
    order they are tried; both scanners are built from these. Most frequent first; where two
    could match at one position the earlier one wins (HEX/BITS before NUMBER, STRING, QUOTED
    and comments before UNTERMINATED)."""
    sq = _quoted_string("'", backslash_escapes)
    dq = _quoted_string('"', backslash_escapes)
    one = f"(?:{sq}|{dq})"
    more = rf"(?:\s*+{one})*+"  # adjacent strings are one literal
    quoted_rest = r"[^`]*+(?:``[^`]*+)*+`"
    exponent = rf"(?:[eE][+-]?+\d++)?+(?![{_W}])"
    return [
        (STRING, [(False, "'", sq[1:] + more), (False, '"', dq[1:] + more),
                  (True, "[nN]", sq + more), (True, "_", _INTRODUCER[1:] + one + more)]),
        (HEX, [(True, "[xX]", "'[^']*+'"), (True, "0", rf"x[0-9a-fA-F]++(?![{_W}])")]),
        (BITS, [(True, "[bB]", "'[^']*+'"), (True, "0", rf"b[01]++(?![{_W}])")]),
        (NUMBER, [(True, "[0-9]", r"\d*+(?:\.\d*+)?+" + exponent),
                  (True, r"\.", r"\d++" + exponent)]),
        (MARKER, [(False, r"\?", "")]),
        (SEMICOLON, [(False, ";", "")]),
        (QUOTED, [(False, "`", quoted_rest)]),
        (VAR, [(False, "@", rf"@?+(?:`{quoted_rest}|{one}|[{_W}.]*+(?<=\.)`{quoted_rest}"
                            rf"|[{_W}.]*+)")]),
        (COMMENT, [(False, r"\#", r"[^\n]*+"), (False, "-", r"-(?=[\x00-\x20]|\Z)[^\n]*+"),
                   (False, "/", rf"\*!{_NEWER_VERSION}(?:[^*/]++|\*(?!/)|/(?!\*)"
                                rf"|/\*{_BLOCK_BODY})*+\*/"),
                   (False, "/", rf"\*(?![!+]){_BLOCK_BODY}")]),
        (HINT, [(False, "/", rf"\*\+{_BLOCK_BODY}")]),
        (VERSION_OPEN, [(False, "/", r"\*!(?:\d{5}\d?+)?+")]),
        (VERSION_CLOSE, [(False, r"\*", "/")]),
        (UNTERMINATED, [(False, "['\"`]", r"[\s\S]*+"), (False, "/", r"\*[\s\S]*+")]),
    ]


def _whole(alternatives: list[Alternative]) -> str:
    return "|".join(f"{_LITERAL_START if literal else ''}{first}{rest}"
                    for literal, first, rest in alternatives)


def _after_first(alternatives: list[Alternative]) -> str:
    """The alternatives for a pattern whose leading character class already took the first
    character: each checks which one it was, looking back (literals are guarded once, for
    their whole group, by ``_compile``)."""
    return "|".join(f"(?<={first}){rest}" for _, first, rest in alternatives)


# The full walk tries blanks, words and operators first (most tokens are these), so a word
# or operator must not start where a significant token does; what is left over (the x of an
# unclosed x'…', the dot of t.5) is matched last, by the LATE_ kinds.
_LITERAL_AHEAD = (rf"{_LITERAL_START}(?:{_NUMBER_BODY}|0x[0-9a-fA-F]++(?![{_W}])"
                  rf"|0b[01]++(?![{_W}])|[nNxXbB]'|{_INTRODUCER}['\"])")
_FULL_FIRST = [
    (SPACE, r"\s++"),
    (WORD, rf"(?!{_LITERAL_AHEAD})[{_W}]++"),
    (OP, r"->>|->|:=|<=>|<>|!=|<=|>=|<<|>>|\|\||&&|[^\s#\-/@`'\"?;*.{_W}]"
         r"|-(?!-(?:[\x00-\x20]|\Z))|/(?!\*)|\*(?!/)|\.(?!\d)".replace("{_W}", _W)),
]
_LATE_WORD = "late_word"
_LATE_OP = "late_op"
_FULL_LAST = [(_LATE_WORD, rf"[{_W}]++"), (_LATE_OP, r"[\s\S]")]
# A string with an introducer (N'x', _utf8mb4'x') as the significant scanner names it.
_INTRODUCED_STRING = INTRODUCED_STRING
_ALIASES = {_LATE_WORD: WORD, _LATE_OP: OP, _INTRODUCED_STRING: STRING}


def _compile(backslash_escapes: bool, full: bool) -> re.Pattern[str]:
    fragments = _fragments(backslash_escapes)
    if full:
        kinds = [*_FULL_FIRST, *((kind, _whole(alts)) for kind, alts in fragments), *_FULL_LAST]
        return re.compile("|".join(f"(?P<{kind}>{regex})" for kind, regex in kinds))
    # The significant scanner starts with one character class, the union of every token's
    # first character: the regex engine then skips all other characters in a tight C loop
    # instead of trying the whole pattern at each position (10x faster over plain text).
    # Characters that start literals (digits, n, x, b, _, .) are mostly inside words (t1,
    # INSERT): one look back rejects those before any alternative is tried. The two groups
    # never compete for a position, so splitting them keeps every token's priority.
    firsts: set[str] = set()
    groups: dict[bool, list[str]] = {False: [], True: []}
    for kind, alts in fragments:
        for literal in (False, True):
            chosen = [alt for alt in alts if alt[0] == literal]
            if chosen:
                name = kind if literal == alts[0][0] else _INTRODUCED_STRING
                groups[literal].append(f"(?P<{name}>{_after_first(chosen)})")
                firsts.update(_class_items(first) for _, first, _ in chosen)
    literal_firsts = "".join(sorted({_class_items(first) for _, alts in fragments
                                     for literal, first, _ in alts if literal}))
    return re.compile(f"[{''.join(sorted(firsts))}]"
                      f"(?:(?<![{_W}@.:][{literal_firsts}])(?:{'|'.join(groups[True])})"
                      f"|{'|'.join(groups[False])})")


def _class_items(first: str) -> str:
    """A first-character regex as character-class content."""
    return first[1:-1] if first.startswith("[") else re.escape(first.replace("\\", ""))


_FULL = {escapes: _compile(escapes, full=True) for escapes in (True, False)}
_SIGNIFICANT = {escapes: _compile(escapes, full=False) for escapes in (True, False)}


# ---------------------------------------------------------------------------------- scanners
def _walk(pattern: re.Pattern[str], sql: str, start: int) -> Iterator[Token]:
    """Tokens from ``pattern``, with the one piece of state MySQL's lexer keeps: how many
    versioned comments are open (a ``*/`` outside one is the operator ``*``, and the scan
    starts again at its ``/``)."""
    new = tuple.__new__  # Token(...) without NamedTuple's Python-level __new__
    depth = 0
    position: int | None = start
    while position is not None:
        scanning_from, position = position, None
        for found in pattern.finditer(sql, scanning_from):
            kind = found.lastgroup
            if kind == VERSION_OPEN:
                depth += 1
            elif kind == VERSION_CLOSE:
                if depth == 0:
                    position = found.start() + 1
                    yield new(Token, (OP, "*", found.start()))
                    break
                depth -= 1
            elif kind in _ALIASES:
                kind = _ALIASES[kind]
            yield new(Token, (kind, found.group(), found.start()))


def tokens(sql: str, start: int = 0, *, backslash_escapes: bool = True) -> Iterator[Token]:
    """Every token of ``sql`` from ``start``: the concatenated texts are ``sql[start:]``."""
    return _walk(_FULL[backslash_escapes], sql, start)


def scan(sql: str, start: int = 0, *, backslash_escapes: bool = True) -> Iterator[Token]:
    """The significant tokens of ``sql``: everything ``tokens`` yields except ``space``,
    ``word`` and ``op`` (a ``*`` from a stray ``*/`` still comes as ``op``)."""
    return _walk(_SIGNIFICANT[backslash_escapes], sql, start)


def significant_pattern(backslash_escapes: bool = True) -> re.Pattern[str]:
    """The compiled pattern behind ``scan``, for hot loops that drive it themselves: a match's
    ``lastgroup`` is the token kind, except that a string with an introducer is
    ``INTRODUCED_STRING``."""
    return _SIGNIFICANT[backslash_escapes]


def words(sql: str, count: int, start: int = 0) -> list[str]:
    """The first ``count`` words from ``start``, upper-cased, skipping blanks, comments, hints
    and versioned-comment markers; stops at the first token that is not a word.

    The same walk as ``tokens``, unrolled: the executor calls this on every statement."""
    match = _FULL[True].match  # escapes cannot matter: the walk stops at the first string
    found: list[str] = []
    depth = 0
    position = start
    length = len(sql)
    while len(found) < count and position < length:
        token = match(sql, position)
        kind = token.lastgroup  # type: ignore[union-attr]
        position = token.end()  # type: ignore[union-attr]
        if kind == WORD or kind == _LATE_WORD:
            found.append(token.group().upper())  # type: ignore[union-attr]
        elif kind == VERSION_OPEN:
            depth += 1
        elif kind == VERSION_CLOSE and depth:
            depth -= 1
        elif kind != SPACE and kind != COMMENT and kind != HINT:
            break
    return found


# ---------------------------------------------------------------------------------- values
_ESCAPES = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t",
            "Z": "\x1a", "\\": "\\", "%": "\\%", "_": "\\_"}
_ESCAPE = re.compile(r"\\([\s\S])")
_PIECES = {escapes: re.compile(f"{_quoted_string(chr(39), escapes)}"
                               f"|{_quoted_string(chr(34), escapes)}")
           for escapes in (True, False)}


def introducer(token: str) -> str:
    """The lower-cased charset introducer of a string token (``n`` for N'…'), or ''."""
    first = token[0]
    if first == "'" or first == '"':
        return ""
    quote = min(i for i in (token.find("'"), token.find('"')) if i >= 0)
    return token[:quote].strip().lower().lstrip("_")


def string_value(token: str, *, backslash_escapes: bool = True) -> str | bytes:
    """The value of a ``string`` token: pieces concatenated, doubled quotes and (unless
    NO_BACKSLASH_ESCAPES) backslash escapes resolved; ``_binary'…'`` gives bytes."""
    first = token[0]
    if (first == "'" or first == '"') and "\\" not in token and \
            token.find(first, 1) == len(token) - 1:  # (single-character scans: memchr)
        return token[1:-1]  # the common case: one plain quoted string
    charset = introducer(token)
    body = "".join(piece.group()[1:-1].replace(piece.group()[0] * 2, piece.group()[0])
                   for piece in _PIECES[backslash_escapes].finditer(token))
    if backslash_escapes and "\\" in body:
        body = _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)
    if charset == "binary":
        return body.encode("utf-8", "surrogateescape")
    return body


EXACT_DIGITS_MAX = 15  # a double holds 15 significant decimal digits exactly


def number_value(token: str) -> int | float | str:
    """Type a numeric literal the way SQLite types it inline: int if it fits 64 bits, else
    float; except a decimal literal with more digits than a double holds, which MySQL keeps
    exact (DECIMAL), and an integer in BIGINT UNSIGNED's upper half (sql/types/uint64.py): it stays
    text, which SQLite converts wherever it needs a number and a
    DECIMAL column stores digit for digit."""
    if "e" in token or "E" in token:
        return float(token)
    if "." in token:
        digits = len(token.replace(".", "").lstrip("0"))
        return token if digits > EXACT_DIGITS_MAX else float(token)
    value = int(token)
    if value <= 0x7FFF_FFFF_FFFF_FFFF:
        return value
    return token if value <= 0xFFFF_FFFF_FFFF_FFFF else float(value)  # BIGINT UNSIGNED: exact


def hex_value(token: str) -> bytes:
    """The bytes of a ``hex`` token (X'4142' or 0x4142; an odd digit count gets a leading 0)."""
    digits = token[2:-1] if token[1] == "'" else token[2:]
    return bytes.fromhex("0" + digits if len(digits) % 2 else digits)


def bits_value(token: str) -> int:
    """The integer of a ``bits`` token (B'101' or 0b101)."""
    digits = token[2:-1] if token[1] == "'" else token[2:]
    return int(digits or "0", 2)


def quoted_name(token: str) -> str:
    """The identifier of a ``quoted`` token: backquotes removed, doubled ones resolved."""
    return token[1:-1].replace("``", "`")
