"""SET statements: system and user variables, NAMES, CHARACTER SET, TRANSACTION.

``answer_set`` parses one SET statement (a comma-separated list whose items may each carry a
scope; a scope keyword sticks to the items after it, as in MySQL) and applies it to the
session's ``SessionVariables``. Values are computed here when they are literals, bare words
(``SET sql_mode = TRADITIONAL``), variables or the few functions ``catalog_expr`` knows;
anything else (``SET @n = (SELECT COUNT(*) FROM t)``) is handed to the executor as
``SELECT <expr>`` with the variables inlined. SET GLOBAL requires admin (1227).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.sql.catalog.expr import (
    NotSimple,
    Token,
    TokenStream,
    evaluate,
    inline_variables,
    stream_of,
    syntax_error,
)
from marmotdb.sql.variables.scopes import DEFAULT

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext


def answer_set(sql: str, ctx: CatalogContext) -> None:
    """Apply one SET statement to ``ctx.variables``.

    Clients send the same few SETs on every connect (``SET NAMES utf8mb4``, ``SET
    autocommit=0``, an ORM's sql_mode): the first run of a text records the calls it makes on
    the session's variables, and when nothing else of the session was read (no variable, no
    function of the session, no privilege, no transaction state) later runs replay them
    without parsing (``_Recording``)."""
    calls = _REPLAYS.get(sql)
    if calls is not None:
        variables = ctx.variables
        for method, args in calls:
            getattr(variables, method)(*args)
        return
    recording = _Recording(ctx)
    _parse_and_apply(sql, recording, ctx.variables.backslash_escapes)  # type: ignore[arg-type]
    # a backslash's meaning depends on sql_mode (NO_BACKSLASH_ESCAPES): such a text is parsed
    if recording.pure and "\\" not in sql and len(_REPLAYS) < REPLAYED_SETS_MAX:
        _REPLAYS[sql] = tuple(recording.calls)


REPLAYED_SETS_MAX = 512  # distinct SET texts whose effect is remembered
_REPLAYS: dict[str, tuple[tuple[str, tuple[object, ...]], ...]] = {}
# SessionVariables methods whose effect depends only on their arguments (and, for DEFAULT,
# on the global value, which the replay reads again).
_REPLAYABLE = frozenset({"set", "set_names", "set_character_set", "set_user"})


class _Recording:
    """The session as one SET's first run sees it: every read passes through, and any read
    but a replayable call on ``variables`` makes the statement not replayable."""

    __slots__ = ("_ctx", "calls", "pure")

    def __init__(self, ctx: CatalogContext) -> None:
        self._ctx = ctx
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.pure = True

    @property
    def variables(self) -> _RecordedVariables:
        return _RecordedVariables(self)

    def __getattr__(self, name: str) -> object:
        self.pure = False
        return getattr(self._ctx, name)


class _RecordedVariables:
    __slots__ = ("_recording",)

    def __init__(self, recording: _Recording) -> None:
        self._recording = recording

    def __getattr__(self, name: str) -> object:
        recording = self._recording
        real = getattr(recording._ctx.variables, name)
        if name not in _REPLAYABLE:
            recording.pure = False
            return real

        def call(*args: object) -> None:
            real(*args)
            recording.calls.append((name, args))
        return call


def _parse_and_apply(sql: str, ctx: CatalogContext, backslash_escapes: bool) -> None:
    stream = stream_of(sql, backslash_escapes)
    stream.next()
    second = stream.peek(1)
    if stream.at_word("PASSWORD") or (stream.at_word("ROLE") and second.kind != "op") or (
            stream.at_word("RESOURCE", "DEFAULT") and second.kind == "word"
            and second.value in ("GROUP", "ROLE")):
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           f"support 'SET {stream.peek().text.upper()}' (roles and resource "
                           "groups)")
    scope: str | None = None
    while True:
        scope = _set_item(stream, ctx, scope)
        if stream.accept_op(",") is None:
            break
    if not stream.at_end():
        raise syntax_error(stream)


_SCOPE_WORDS = {"GLOBAL": "global", "SESSION": "session", "LOCAL": "session",
                "PERSIST": "global", "PERSIST_ONLY": "global"}


def _set_item(stream: TokenStream, ctx: CatalogContext, scope: str | None) -> str | None:
    """One assignment of a SET list; returns the scope later items inherit."""
    word = stream.accept_word(*_SCOPE_WORDS)
    if word is not None:
        scope = _SCOPE_WORDS[word]
        explicit: str | None = scope
    else:
        explicit = scope
    if stream.accept_word("TRANSACTION"):
        _set_transaction(stream, ctx, explicit if word is not None else None)
        return scope
    if word is None and stream.accept_word("NAMES"):
        _set_names(stream, ctx)
        return scope
    if word is None and (stream.accept_words("CHARACTER", "SET") or stream.accept_word("CHARSET")):
        value = None if stream.accept_word("DEFAULT") else stream.identifier()
        ctx.variables.set_character_set(value)
        return scope
    token = stream.next()
    if token.kind == "uservar":
        _expect_assign(stream)
        ctx.variables.set_user(str(token.value), _set_value(stream, ctx, user=True))
        return scope
    if token.kind == "sysvar":
        name, item_scope = str(token.value), token.scope or explicit
    elif token.kind in ("word", "quoted"):
        name, item_scope = token.text if token.kind == "word" else str(token.value), explicit
        if stream.accept_op("."):  # SET session.x / SET @@x.y style component names
            name = f"{name}.{stream.identifier()}"
    else:
        raise syntax_error(stream)
    _expect_assign(stream)
    value = _set_value(stream, ctx, user=False)
    if item_scope == "global":
        _require_admin(ctx)
    ctx.variables.set(name.lower(), value, item_scope)
    return scope


def _require_admin(ctx: CatalogContext) -> None:
    """SET GLOBAL changes the node for every session: MySQL asks for SYSTEM_VARIABLES_ADMIN."""
    allowed = getattr(ctx, "is_admin", None)
    if allowed is None:
        record = getattr(ctx, "user_record", None)
        allowed = record is None or record.has("SUPER")  # ALL on *.* holds it
    if not allowed:
        raise errors.error(errors.ER_SPECIFIC_ACCESS_DENIED_ERROR, "Access denied; you need (at "
                           "least one of) the SUPER or SYSTEM_VARIABLES_ADMIN privilege(s) for "
                           "this operation")


def _expect_assign(stream: TokenStream) -> None:
    if stream.accept_op("=", ":=") is None:
        raise syntax_error(stream)


_VALUE_WORDS: dict[str, object] = {"ON": "ON", "OFF": "OFF", "NULL": None, "TRUE": 1,
                                   "FALSE": 0}


def _set_value(stream: TokenStream, ctx: CatalogContext, user: bool) -> object:
    """The value of one assignment: evaluated here when simple, else by the executor."""
    start = stream.index
    first = stream.peek()
    if first.kind == "word" and _ends_item(stream.peek(1)):
        stream.next()
        if first.value == "DEFAULT" and not user:
            return DEFAULT
        if first.value in _VALUE_WORDS:
            return _VALUE_WORDS[str(first.value)]
        if not user and str(first.value) not in _EXPRESSION_WORDS:
            return first.text  # SET sql_mode = TRADITIONAL, SET character_set_client = utf8mb4
        stream.index = start
    try:
        value = evaluate(stream, ctx)
        if _ends_item(stream.peek()):
            return value
    except NotSimple:
        pass
    stream.index = start
    return _evaluate_elsewhere(stream, ctx)


_EXPRESSION_WORDS = frozenset({"CURRENT_USER", "CURRENT_TIMESTAMP", "NOW", "LOCALTIME",
                               "LOCALTIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "UTC_TIMESTAMP"})


def _ends_item(token: Token) -> bool:
    return token.kind == "end" or (token.kind == "op" and token.value in (",", ";"))


def _evaluate_elsewhere(stream: TokenStream, ctx: CatalogContext) -> object:
    """Hand ``SELECT <expr>`` (variables inlined) to the executor's normal query path."""
    depth = 0
    begin = stream.peek()
    end = begin
    while True:
        token = stream.peek()
        if token.kind == "end" or (depth == 0 and _ends_item(token)):
            break
        if token.kind == "op" and token.value == "(":
            depth += 1
        elif token.kind == "op" and token.value == ")":
            depth -= 1
        end = stream.next()
    if end is begin and begin.kind == "end":
        raise syntax_error(stream)
    text = stream.sql[begin.start:end.end]
    return ctx.evaluate("SELECT " + inline_variables(text, ctx))


def _set_names(stream: TokenStream, ctx: CatalogContext) -> None:
    charset = None if stream.accept_word("DEFAULT") else stream.identifier()
    collation = None
    if stream.accept_word("COLLATE"):
        collation = None if stream.accept_word("DEFAULT") else stream.identifier()
    ctx.variables.set_names(charset, collation)


_ISOLATION = {("READ", "UNCOMMITTED"): "READ-UNCOMMITTED", ("READ", "COMMITTED"): "READ-COMMITTED",
              ("REPEATABLE", "READ"): "REPEATABLE-READ", ("SERIALIZABLE",): "SERIALIZABLE"}


def _set_transaction(stream: TokenStream, ctx: CatalogContext, scope: str | None) -> None:
    isolation: str | None = None
    read_only: bool | None = None
    while True:
        if stream.accept_words("ISOLATION", "LEVEL"):
            isolation = next((level for words, level in _ISOLATION.items()
                              if stream.accept_words(*words)), None)
            if isolation is None:
                raise syntax_error(stream)
        elif stream.accept_words("READ", "ONLY"):
            read_only = True
        elif stream.accept_words("READ", "WRITE"):
            read_only = False
        else:
            raise syntax_error(stream)
        if not (stream.peek().text == "," and stream.peek(1).kind == "word"
                and stream.peek(1).value in ("ISOLATION", "READ")):
            break
        stream.next()
    _apply_transaction(ctx, scope, isolation, read_only)


def _apply_transaction(ctx: CatalogContext, scope: str | None, isolation: str | None,
                       read_only: bool | None) -> None:
    if scope is None:
        if getattr(ctx, "in_transaction", False):
            raise errors.error(errors.ER_CANT_CHANGE_TX_CHARACTERISTICS, "Transaction "
                               "characteristics can't be changed while a transaction is in "
                               "progress")
        ctx.variables.set_next_transaction(isolation, read_only)
        return
    if scope == "global":
        _require_admin(ctx)
    if isolation is not None:
        ctx.variables.set("transaction_isolation", isolation, scope)
    if read_only is not None:
        ctx.variables.set("transaction_read_only", int(read_only), scope)
