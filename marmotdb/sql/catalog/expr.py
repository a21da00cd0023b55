"""Tokens and tiny expressions of the catalog's own statements (SET, SELECT @@x, SHOW).

These statements are too simple, and too frequent (every client sends several at connect),
to pay for a sqlglot parse. The MySQL lexer (``sql.text.lexer``) splits a statement into tokens
that keep their source span (MySQL names an unaliased result column after the item's source text);
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
from marmotdb.sql.text import lexer

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext


class NotSimple(Exception):
    """The expression is beyond this module; the caller falls back."""


class Token(NamedTuple):
    kind: str  # word | quoted | string | number | bits | sysvar | uservar | op | end
    text: str  # source text
    value: Any  # word: upper-cased; quoted: the name; string/number: the value; vars: name
    start: int
    end: int
    scope: str | None = None  # sysvar only: None | 'session' | 'global'


TOKEN_CACHE_MAX = 512  # tokenised statements kept, keyed by their text (connect-time repeats)
TOKEN_CACHE_TEXT_MAX = 4096  # longer statements are not cached
_token_cache: dict[str, list[Token]] = {}


def tokenize(sql: str, backslash_escapes: bool = True) -> list[Token]:
    """All tokens of ``sql`` (cached by text); raises NotSimple on a character no token
    matches. Callers must not mutate the list. ``backslash_escapes=False``: the session's
    sql_mode has NO_BACKSLASH_ESCAPES (a backslash in a string is itself)."""
    if not backslash_escapes and "\\" in sql:
        return _tokenize(sql, backslash_escapes)  # rare: not cached (the text alone is no key)
    cached = _token_cache.get(sql)
    if cached is not None:
        return cached
    tokens = _tokenize(sql)
    if len(sql) <= TOKEN_CACHE_TEXT_MAX:
        if len(_token_cache) >= TOKEN_CACHE_MAX:
            _token_cache.pop(next(iter(_token_cache)))  # oldest first: dicts keep order
        _token_cache[sql] = tokens
    return tokens


def _tokenize(sql: str, backslash_escapes: bool = True) -> list[Token]:
    """The MySQL lexer's tokens (``sql.text.lexer``) as this module's kinds and values; blanks,
    comments and versioned-comment markers dropped."""
    tokens: list[Token] = []
    for token in lexer.tokens(sql, backslash_escapes=backslash_escapes):
        if token.kind == lexer.STRING and not backslash_escapes:
            tokens.append(_string(token.text, token.start, backslash_escapes))
            continue
        build = _BUILDERS.get(token.kind)
        if build is None:
            if token.kind in lexer.BLANK_KINDS:
                continue
            raise NotSimple(token.text[:20])  # ? markers, unclosed strings and comments
        tokens.append(build(token.text, token.start))
    tokens.append(Token("end", "", None, len(sql), len(sql)))
    return tokens


_SCOPES = {"global": "global", "session": "session", "local": "session", "persist": "global",
           "persist_only": "global"}
_OPS = frozenset(":= <=> <> != <= >= || && - + * / % = < > ( ) , . ; ! ~ ^ & |".split())


def _var(text: str, start: int) -> Token:
    end = start + len(text)
    if not text.startswith("@@"):
        name = text[1:]
        if name[:1] in ("'", '"'):
            name = str(lexer.string_value(name))
        elif name[:1] == "`":
            name = lexer.quoted_name(name)
        if not name:
            raise NotSimple(text)
        return Token("uservar", text, name.lower(), start, end)
    scope, dot, name = text[2:].partition(".") if text[2:3] != "`" else ("", "", text[2:])
    if not dot:
        scope, name = "", scope
    if scope and scope.lower() not in _SCOPES or not name or name[0] in "'\"":
        raise NotSimple(text)
    if name[0] == "`":
        name = lexer.quoted_name(name)
    return Token("sysvar", text, name.lower(), start, end,
                 _SCOPES[scope.lower()] if scope else None)


def _string(text: str, start: int, backslash_escapes: bool = True) -> Token:
    value = lexer.string_value(text, backslash_escapes=backslash_escapes)
    if isinstance(value, bytes):  # _binary'…': the catalog compares text
        value = value.decode("utf-8", "surrogateescape")
    return Token("string", text, value, start, start + len(text))


def _hex(text: str, start: int) -> Token:
    try:
        value = lexer.hex_value(text)
    except ValueError:
        raise NotSimple(text) from None
    return Token("string", text, value, start, start + len(text))


def _bits(text: str, start: int) -> Token:
    try:
        value = lexer.bits_value(text)
    except ValueError:
        raise NotSimple(text) from None
    return Token("bits", text, value, start, start + len(text))


def _op(text: str, start: int) -> Token:
    if text not in _OPS:
        raise NotSimple(text)
    return Token("op", text, text, start, start + len(text))


def _number(text: str) -> int | float | Decimal:
    if "e" in text or "E" in text:
        return float(text)
    if "." in text:
        return Decimal(text)
    return int(text)


_BUILDERS: dict[str, Callable[[str, int], Token]] = {
    lexer.VAR: _var, lexer.HEX: _hex, lexer.BITS: _bits, lexer.STRING: _string,
    lexer.NUMBER: lambda text, start: Token("number", text, _number(text), start,
                                            start + len(text)),
    lexer.QUOTED: lambda text, start: Token("quoted", text, lexer.quoted_name(text), start,
                                            start + len(text)),
    lexer.WORD: lambda text, start: Token("word", text, text.upper(), start, start + len(text)),
    lexer.OP: _op, lexer.SEMICOLON: _op,
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


def stream_of(sql: str, backslash_escapes: bool = True) -> TokenStream:
    """A token stream over ``sql``; 1064 when it does not even tokenize."""
    try:
        return TokenStream(sql, tokenize(sql, backslash_escapes))
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
    if kind == "string" and isinstance(token.value, str) and \
            lexer.introducer(token.text) == "binary":  # a binary string in a result
        return token.value.encode("utf-8", "surrogateescape")
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
    "timestamp": lambda ctx: float(getattr(ctx, "statement_time", 0.0) or 0.0),
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
    tokens = tokens if tokens is not None else tokenize(sql, ctx.variables.backslash_escapes)
    parts: list[str] = []
    position = 0
    listing = tokens[0].kind == "word" and tokens[0].value == "SELECT"  # in its outer list
    depth = 0
    for index, token in enumerate(tokens):
        if token.kind == "op" and token.value in ("(", ")"):
            depth += 1 if token.value == "(" else -1
        elif token.kind == "word" and depth == 0 and token.value in _LIST_ENDS:
            listing = False
        if token.kind not in ("sysvar", "uservar") or _definer_host(tokens, index):
            continue
        following = tokens[index + 1]
        if following.kind == "op" and following.value == ":=":
            raise NotSimple("user variable assignment")
        value = system_variable(ctx, str(token.value), token.scope) if token.kind == "sysvar" \
            else ctx.variables.user(str(token.value))
        parts.append(sql[position:token.start])
        parts.append(sql_literal(value))
        if listing and depth == 0 and _lone_item(tokens[index - 1], following):
            parts.append(" AS `" + token.text.replace("`", "``") + "`")  # MySQL's column name
        position = token.end
    parts.append(sql[position:])
    return "".join(parts)


def _definer_host(tokens: list[Token], index: int) -> bool:
    """``DEFINER=`u`@`host``` (a view's, a trigger's, a routine's, as every dump writes it):
    the ``@`host``` right after the user name is the account's host, not a user variable."""
    if index < 3 or tokens[index].kind != "uservar":
        return False
    user, equals, keyword = tokens[index - 1], tokens[index - 2], tokens[index - 3]
    return user.end == tokens[index].start and user.kind in ("word", "quoted", "string") \
        and equals.kind == "op" and equals.value == "=" \
        and keyword.kind == "word" and keyword.value == "DEFINER"


_LIST_ENDS = frozenset({"FROM", "INTO", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION",
                        "EXCEPT", "INTERSECT", "WINDOW", "FOR", "LOCK"})
_LIST_STARTS = frozenset({"SELECT", "ALL", "DISTINCT", "DISTINCTROW", "HIGH_PRIORITY",
                          "STRAIGHT_JOIN", "SQL_SMALL_RESULT", "SQL_BIG_RESULT",
                          "SQL_BUFFER_RESULT", "SQL_NO_CACHE", "SQL_CACHE",
                          "SQL_CALC_FOUND_ROWS"})


def _lone_item(before: Token, after: Token) -> bool:
    """A variable between these tokens of the outer SELECT list is a whole, unaliased item
    (``SELECT @@x, @y FROM t``)."""
    return ((before.kind == "op" and before.value == ",") or
            (before.kind == "word" and before.value in _LIST_STARTS)) and \
        (after.kind == "end" or (after.kind == "op" and after.value in (",", ";")) or
         (after.kind == "word" and after.value in _LIST_ENDS))
