"""Tokens and tiny expressions of the catalog's own statements (SET, SELECT @@x, SHOW).

These statements are too simple, and too frequent (every client sends several at connect),
to pay for a sqlglot parse. One compiled regex splits a statement into tokens that keep
their source span (MySQL names an unaliased result column after the item's source text);
a ``TokenStream`` walks them. ``evaluate`` computes the few expression shapes clients send:
literals, ``@@[scope.]var``, ``@user_var``, the connection functions (VERSION(),
DATABASE(), USER(), CONNECTION_ID(), CONVERT_TZ of literals ...), unary minus and
``IS [NOT] NULL``. Anything else raises ``NotSimple`` and the caller chooses a fallback
(``UNHANDLED`` for a SELECT, ``ctx.evaluate`` of the variable-inlined text for a SET value).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from marmotdb import errors

if TYPE_CHECKING:
    from marmotdb.sql.catalog import CatalogContext


class NotSimple(Exception):
    """The expression is beyond this module; the caller falls back."""


class Token(NamedTuple):
    kind: str  # word | quoted | string | number | bits | sysvar | uservar | op | end
    text: str  # source text
    value: Any  # word: upper-cased; quoted: the name; string/number: the value; vars: name
    start: int
    end: int
    scope: str | None = None  # sysvar only: None | 'session' | 'global'


# Comments are blanks. A MySQL versioned comment /*!NNNNN ... */ is opened (its body is SQL)
# when NNNNN <= 80036, the version marmotdb reports, and skipped whole otherwise; MariaDB's
# /*M!NNNNNN ... */ is an ordinary comment to MySQL, so it is skipped too.
_TOKEN = re.compile(r"""
    (?P<ws>\s+|--(?:\s[^\n]*)?(?:\n|$)|\#[^\n]*(?:\n|$)|/\*(?!!)(?:.|\n)*?\*/
        |/\*!(?:[0-7]\d{4}|800[0-2]\d|8003[0-6])?(?!\d)|/\*!\d+(?:.|\n)*?\*/|\*/)
  | (?P<sysvar>@@(?:(?P<scope>global|session|local|persist|persist_only)\.)?
        (?:`(?P<sysq>(?:[^`]|``)+)`|(?P<sysname>[A-Za-z0-9_$]+)))
  | (?P<uservar>@(?:`(?P<uq>(?:[^`]|``)*)`|'(?P<us>(?:[^'\\]|\\.|'')*)'|"(?P<ud>(?:[^"\\]|\\.|"")*)"
        |(?P<uname>[A-Za-z0-9_$.]+)))
  | (?P<hex>[xX]'(?P<hexv>[0-9A-Fa-f]*)'|0x(?P<hexn>[0-9A-Fa-f]+)\b)
  | (?P<bits>[bB]'(?P<bitv>[01]*)'|0b(?P<bitn>[01]+)\b)
  | (?P<string>(?:_[A-Za-z0-9]+\s*|[nN](?='))?
        (?:'(?P<sq>(?:[^'\\]|\\.|'')*)'|"(?P<dq>(?:[^"\\]|\\.|"")*)"))
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_$]))
  | (?P<quoted>`(?P<q>(?:[^`]|``)+)`)
  | (?P<word>[A-Za-z0-9_$]+)
  | (?P<op>:=|<=>|<>|!=|<=|>=|\|\||&&|[-+*/%=<>(),.;!~^&|])
""", re.VERBOSE | re.IGNORECASE)

_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "\\": "\\",
            "'": "'", '"': '"', "%": "\\%", "_": "\\_"}
_ESCAPE = re.compile(r"\\(.)|''|\"\"", re.DOTALL)


def unescape(body: str) -> str:
    """The value of a MySQL string literal body (backslash escapes, doubled quotes)."""
    if "\\" not in body and "''" not in body and '""' not in body:
        return body

    def one(found: re.Match[str]) -> str:
        if found.group(1) is None:
            return found.group(0)[0]
        return _ESCAPES.get(found.group(1), found.group(1))

    return _ESCAPE.sub(one, body)


TOKEN_CACHE_MAX = 512  # tokenised statements kept, keyed by their text (connect-time repeats)
TOKEN_CACHE_TEXT_MAX = 4096  # longer statements are not cached
_token_cache: dict[str, list[Token]] = {}


def tokenize(sql: str) -> list[Token]:
    """All tokens of ``sql`` (cached by text); raises NotSimple on a character no token
    matches. Callers must not mutate the list."""
    cached = _token_cache.get(sql)
    if cached is not None:
        return cached
    tokens = _tokenize(sql)
    if len(sql) <= TOKEN_CACHE_TEXT_MAX:
        if len(_token_cache) >= TOKEN_CACHE_MAX:
            _token_cache.pop(next(iter(_token_cache)))  # oldest first: dicts keep order
        _token_cache[sql] = tokens
    return tokens


def _tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    for found in _TOKEN.finditer(sql):
        if found.start() != position:
            raise NotSimple(sql[position:position + 20])
        position = found.end()
        kind = found.lastgroup
        if kind != "ws":
            tokens.append(_BUILDERS[kind](found))  # type: ignore[index]
    if position != len(sql):
        raise NotSimple(sql[position:position + 20])
    tokens.append(Token("end", "", None, position, position))
    return tokens


_SCOPES = {"global": "global", "session": "session", "local": "session", "persist": "global",
           "persist_only": "global"}


def _sysvar(found: re.Match[str]) -> Token:
    scope = found.group("scope")
    name = found.group("sysname") or found.group("sysq").replace("``", "`")
    return Token("sysvar", found.group(), name.lower(), found.start(), found.end(),
                 _SCOPES[scope.lower()] if scope else None)


def _uservar(found: re.Match[str]) -> Token:
    name = next(g for g in (found.group("uname"), found.group("uq"), found.group("us"),
                            found.group("ud")) if g is not None)
    return Token("uservar", found.group(), unescape(name).lower(), found.start(), found.end())


def _hex(found: re.Match[str]) -> Token:
    digits = found.group("hexv") if found.group("hexv") is not None else found.group("hexn")
    if len(digits) % 2:
        digits = "0" + digits
    return Token("string", found.group(), bytes.fromhex(digits), found.start(), found.end())


def _bits(found: re.Match[str]) -> Token:
    digits = found.group("bitv") if found.group("bitv") is not None else found.group("bitn")
    return Token("bits", found.group(), int(digits or "0", 2), found.start(), found.end())


def _string(found: re.Match[str]) -> Token:
    body = found.group("sq") if found.group("sq") is not None else found.group("dq")
    return Token("string", found.group(), unescape(body), found.start(), found.end())


def _simple(kind: str, value: Callable[[str], Any]) -> Callable[[re.Match[str]], Token]:
    def build(found: re.Match[str]) -> Token:
        text = found.group()
        return Token(kind, text, value(text), found.start(), found.end())
    return build


def _quoted(found: re.Match[str]) -> Token:
    return Token("quoted", found.group(), found.group("q").replace("``", "`"), found.start(),
                 found.end())


def _number(text: str) -> int | float | Decimal:
    if "e" in text or "E" in text:
        return float(text)
    if "." in text:
        return Decimal(text)
    return int(text)


_BUILDERS: dict[str, Callable[[re.Match[str]], Token]] = {
    "sysvar": _sysvar, "uservar": _uservar, "hex": _hex, "bits": _bits, "string": _string,
    "number": _simple("number", lambda text: _number(text)), "quoted": _quoted,
    "word": _simple("word", str.upper), "op": _simple("op", str),
}


class TokenStream:
    """A cursor over tokens with the small lookahead helpers the catalog's parsers need."""

    __slots__ = ("index", "sql", "tokens")

    def __init__(self, sql: str, tokens: list[Token] | None = None) -> None:
        self.sql = sql
        self.tokens = tokens if tokens is not None else tokenize(sql)
        self.index = 0

    def peek(self, offset: int = 0) -> Token:
        index = self.index + offset
        tokens = self.tokens
        return tokens[index] if index < len(tokens) else tokens[-1]

    def next(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.value in words

    def accept_word(self, *words: str) -> str | None:
        if self.at_word(*words):
            return str(self.next().value)
        return None

    def accept_words(self, *words: str) -> bool:
        """Consume the exact word sequence if it is next; nothing otherwise."""
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token.kind != "word" or token.value != word:
                return False
        self.index += len(words)
        return True

    def accept_op(self, *ops: str) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.value in ops:
            self.index += 1
            return str(token.value)
        return None

    def expect_word(self, *words: str) -> str:
        word = self.accept_word(*words)
        if word is None:
            raise syntax_error(self)
        return word

    def at_end(self) -> bool:
        token = self.peek()
        return token.kind == "end" or (token.kind == "op" and token.value == ";"
                                       and self.peek(1).kind == "end")

    def identifier(self) -> str:
        """A (possibly backquoted) identifier or a string used as one."""
        token = self.peek()
        if token.kind in ("word", "quoted"):
            self.index += 1
            return token.text if token.kind == "word" else str(token.value)
        if token.kind == "string" and isinstance(token.value, str):
            self.index += 1
            return token.value
        raise syntax_error(self)

    def rest_text(self) -> str:
        return self.sql[self.peek().start:].strip().rstrip(";").strip()


def stream_of(sql: str) -> TokenStream:
    """A token stream over ``sql``; 1064 when it does not even tokenize."""
    try:
        return TokenStream(sql, tokenize(sql))
    except NotSimple:
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax near "
                           f"'{sql[:80]}'") from None


def syntax_error(stream: TokenStream) -> errors.MarmotError:
    near = stream.sql[stream.peek().start:][:80]
    return errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check the "
                        f"manual that corresponds to your MySQL server version for the right "
                        f"syntax to use near '{near}' at line 1")


# ---------------------------------------------------------------------------------- evaluation
def _convert_tz(args: list[object]) -> object:
    """CONVERT_TZ(datetime, from, to) for literal arguments (named zones via zoneinfo)."""
    if len(args) != 3:
        raise NotSimple("CONVERT_TZ arity")
    value, source, target = args
    if not all(isinstance(a, str) for a in args):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
        shifted = moment.replace(tzinfo=_zone(str(source))).astimezone(_zone(str(target)))
    except (ValueError, KeyError):
        return None
    return shifted.replace(tzinfo=None).isoformat(sep=" ")


def _zone(name: str) -> Any:
    found = re.match(r"^([+-])(\d{1,2}):(\d{2})$", name)
    if found:
        delta = timedelta(hours=int(found.group(2)), minutes=int(found.group(3)))
        return timezone(-delta if found.group(1) == "-" else delta)
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise KeyError(name) from exc


def _user_at_host(ctx: CatalogContext) -> str:
    return f"{ctx.user}@{getattr(ctx, 'host', 'localhost')}"


def _current_user(ctx: CatalogContext) -> str:
    return f"{ctx.user}@%"


# Functions of the connection answered here; each takes (ctx, args).
FUNCTIONS: dict[str, Callable[[CatalogContext, list[object]], object]] = {
    "VERSION": lambda ctx, a: ctx.variables.get("version"),
    "DATABASE": lambda ctx, a: ctx.current_database,
    "SCHEMA": lambda ctx, a: ctx.current_database,
    "USER": lambda ctx, a: _user_at_host(ctx),
    "SESSION_USER": lambda ctx, a: _user_at_host(ctx),
    "SYSTEM_USER": lambda ctx, a: _user_at_host(ctx),
    "CURRENT_USER": lambda ctx, a: _current_user(ctx),
    "CONNECTION_ID": lambda ctx, a: ctx.connection_id,
    "CONVERT_TZ": lambda ctx, a: _convert_tz(a),
}
# Functions MySQL also accepts without parentheses.
_BARE_FUNCTIONS = frozenset({"CURRENT_USER"})
_CONSTANT_WORDS: dict[str, object] = {"NULL": None, "TRUE": 1, "FALSE": 0}


def evaluate(stream: TokenStream, ctx: CatalogContext) -> object:
    """One expression at the stream's position (see module docstring) -> its value."""
    value = _primary(stream, ctx)
    if stream.accept_word("IS"):
        negate = stream.accept_word("NOT") is not None
        if stream.accept_word("NULL") is None:
            raise NotSimple("IS without NULL")
        value = int((value is None) != negate)
    return value


def _primary(stream: TokenStream, ctx: CatalogContext) -> object:
    token = stream.next()
    kind = token.kind
    if kind in ("string", "number", "bits"):
        return token.value
    if kind == "sysvar":
        return system_variable(ctx, str(token.value), token.scope)
    if kind == "uservar":
        return ctx.variables.user(str(token.value))
    if kind == "op" and token.value == "-":
        operand = _primary(stream, ctx)
        if isinstance(operand, (int, float, Decimal)) and not isinstance(operand, bool):
            return -operand
        raise NotSimple("unary minus")
    if kind == "op" and token.value == "(":
        value = evaluate(stream, ctx)
        if stream.accept_op(")") is None:
            raise NotSimple("parenthesis")
        return value
    if kind == "word":
        return _word(stream, ctx, str(token.value))
    raise NotSimple(token.text)


def _word(stream: TokenStream, ctx: CatalogContext, word: str) -> object:
    if word in _CONSTANT_WORDS:
        return _CONSTANT_WORDS[word]
    function = FUNCTIONS.get(word)
    if function is None:
        raise NotSimple(word)
    if stream.accept_op("(") is None:
        if word in _BARE_FUNCTIONS:
            return function(ctx, [])
        raise NotSimple(word)
    args: list[object] = []
    if stream.accept_op(")") is None:
        while True:
            args.append(evaluate(stream, ctx))
            if stream.accept_op(")"):
                break
            if stream.accept_op(",") is None:
                raise NotSimple("argument list")
    if word != "CONVERT_TZ" and args:
        raise NotSimple(f"{word} arguments")
    return function(ctx, args)


def system_variable(ctx: CatalogContext, name: str, scope: str | None) -> object:
    """@@[scope.]name, including the variables that mirror the session's live state."""
    live = _LIVE_VARIABLES.get(name)
    if live is not None and scope != "global":
        return live(ctx)
    return ctx.variables.get(name, scope)


_LIVE_VARIABLES: dict[str, Callable[[CatalogContext], object]] = {
    "warning_count": lambda ctx: len(getattr(ctx, "warnings", ())),
    "error_count": lambda ctx: sum(1 for w in getattr(ctx, "warnings", ()) if w[0] == "Error"),
    "pseudo_thread_id": lambda ctx: ctx.connection_id,
    "last_insert_id": lambda ctx: int(getattr(ctx, "last_insert_id", 0) or 0),
    "identity": lambda ctx: int(getattr(ctx, "last_insert_id", 0) or 0),
}


# ---------------------------------------------------------------------------------- inlining
def sql_literal(value: object) -> str:
    """A Python value as a MySQL literal (for inlining variables into SQL text)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    text = str(value).replace("\\", "\\\\").replace("'", "''")
    return f"'{text}'"


def inline_variables(sql: str, ctx: CatalogContext, tokens: list[Token] | None = None) -> str:
    """``sql`` with every ``@@var`` and ``@user_var`` replaced by its current value as a
    literal, so the translator (which knows nothing of session variables) can run it.
    Assignments (``@x := ...``) are not supported and raise NotSimple."""
    tokens = tokens if tokens is not None else tokenize(sql)
    parts: list[str] = []
    position = 0
    for index, token in enumerate(tokens):
        if token.kind not in ("sysvar", "uservar"):
            continue
        following = tokens[index + 1]
        if following.kind == "op" and following.value == ":=":
            raise NotSimple("user variable assignment")
        value = system_variable(ctx, str(token.value), token.scope) if token.kind == "sysvar" \
            else ctx.variables.user(str(token.value))
        parts.append(sql[position:token.start])
        parts.append(sql_literal(value))
        position = token.end
    parts.append(sql[position:])
    return "".join(parts)
