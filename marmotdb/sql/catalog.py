"""The catalog: answers the statements that are about the server rather than about data.

Theory of operation
-------------------
The executor calls ``answer(sql, ctx)`` for EVERY statement before translating it, so the
first look must be cheap: one regex match on the first keyword (after leading comments) decides
whether the statement can be ours at all. Only four families are:

* ``SET ...``          -> applied to ``ctx.variables`` (session/global system variables, user
                          variables, NAMES, CHARACTER SET, TRANSACTION); returns ``None``.
* ``SHOW ...``, ``DESCRIBE/DESC t``, ``EXPLAIN t``  -> a ``ResultSet`` (catalog_show.py).
* ``SELECT`` whose select list is only ``@@vars``, ``@user_vars``, literals and the connection
  functions (VERSION(), DATABASE(), USER(), CONNECTION_ID(), CONVERT_TZ(...) ...) with no FROM
  (or FROM DUAL) -> a ``ResultSet`` computed here without SQLite (catalog_expr.py).
* any ``SELECT`` touching ``INFORMATION_SCHEMA`` -> run on a private in-memory SQLite database
  into which the referenced INFORMATION_SCHEMA tables were materialised
  (information_schema.py).

Everything else returns the ``UNHANDLED`` sentinel and goes to the translator.
Errors are ``MarmotError`` subclasses with MySQL codes (1193 unknown system variable, 1231
wrong value, 1146 no such table, 1049 unknown database, ...).

The catalog never writes to a database and never sees the internal ``__marmot_*`` /
``sqlite_*`` tables' names leak into any answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol, Self

from marmotdb import errors
from marmotdb.mysql.types import CHARSET_BINARY, Column, ColumnFlag, FieldType, ResultSet
from marmotdb.sql import coltypes
from marmotdb.sql.catalog_expr import (
    NotSimple,
    Token,
    TokenStream,
    evaluate,
    inline_variables,
    syntax_error,
    system_variable,
    tokenize,
)
from marmotdb.sql.catalog_show import describe, show
from marmotdb.sql.catalog_workspace import column_for_value, workspace
from marmotdb.sql.variables import DEFAULT

if TYPE_CHECKING:
    import apsw

    from marmotdb.sql.variables import SessionVariables


class _Unhandled:
    """Sentinel type: the statement is not the catalog's."""

    _instance: _Unhandled | None = None

    def __new__(cls) -> Self:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNHANDLED"

    def __bool__(self) -> bool:
        return False


UNHANDLED = _Unhandled()


class CatalogContext(Protocol):
    """What the catalog needs from the executor's session (implemented by the executor).

    Attributes
      current_database  the session's default database (USE), or None
      user              the authenticated user name (without host)
      host              the client host as MySQL shows it in USER() / PROCESSLIST
      connection_id     CONNECTION_ID()
      variables         this session's SessionVariables (marmotdb.sql.variables)
      status            server status counters for SHOW STATUS (name -> value)
      warnings          the last statement's diagnostics: (level, code, message), level one of
                        'Note' | 'Warning' | 'Error' (SHOW ERRORS shows the 'Error' ones)

    Read when present (``getattr`` with a default): ``in_transaction`` (bool; SET TRANSACTION
    without a scope is refused with 1568 inside one), ``last_insert_id`` (int; for
    ``@@last_insert_id`` / ``@@identity``) and ``is_admin`` (bool; SET GLOBAL needs it, else
    1227; without it, ``user_record.can(None, "admin")`` of marmotdb.users.User is asked).
    """

    current_database: str | None
    user: str
    host: str
    connection_id: int
    variables: SessionVariables
    status: dict[str, object]
    warnings: list[tuple[str, int, str]]

    def databases(self) -> list[str]:
        """Databases visible to this user, sorted (never information_schema: added here)."""
        ...

    def connection_for(self, db: str) -> apsw.Connection:
        """A read connection of a database; raises MarmotError 1049 when it does not exist."""
        ...

    def processlist(self) -> list[tuple]:
        """(id, user, host, db, command, time_s, state, info) for every client connection."""
        ...

    def grants(self) -> list[str]:
        """The GRANT lines of the current user, as SHOW GRANTS prints them."""
        ...

    def evaluate(self, select_sql: str) -> object:
        """Run ``SELECT <expr>`` through the normal query path and return its single value.

        Used only for SET values that are not plain literals / variables (e.g.
        ``SET @n = (SELECT COUNT(*) FROM t)`` or ``SET @t = NOW()``)."""
        ...


# ---------------------------------------------------------------------------------- dispatch
# Leading blanks and comments, as the tokenizer treats them: a versioned comment /*!NNNNN is
# opened when NNNNN <= 80036 (MySQL runs its body) and skipped whole otherwise; /*M! is a comment.
_HEAD = re.compile(r"(?:\s|/\*(?!!).*?\*/|--[ \t][^\n]*\n|#[^\n]*\n"
                   r"|/\*!(?:[0-7]\d{4}|800[0-2]\d|8003[0-6])?(?!\d)|/\*!\d+.*?\*/)*([A-Za-z]+)",
                   re.DOTALL)
_FROM = re.compile(r"\bfrom\s+(?!dual\b)", re.IGNORECASE)
# A reference to a table of information_schema / performance_schema (not @@performance_schema).
_SYSTEM_SCHEMA = re.compile(r"(?<![@.\w])`?(?:information_schema|performance_schema)`?\s*\.",
                            re.IGNORECASE)
_NOT_A_TABLE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "TABLE",
                          "FORMAT", "ANALYZE", "EXTENDED", "PARTITIONS", "FOR"})


def answer(sql: str, ctx: CatalogContext) -> ResultSet | None | _Unhandled:
    """Answer one statement if it is the catalog's.

    Returns a ResultSet (SHOW, DESCRIBE, SELECT of @@vars/constants, INFORMATION_SCHEMA
    queries), None (SET statements, after applying them to ``ctx.variables``) or UNHANDLED.
    """
    found = _HEAD.match(sql)
    if found is None:
        return UNHANDLED
    handler = _DISPATCH.get(found.group(1).upper())
    if handler is None:
        return UNHANDLED
    return handler(sql, ctx)


def _stream(sql: str) -> TokenStream:
    try:
        return TokenStream(sql, tokenize(sql))
    except NotSimple:
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax near "
                           f"'{sql[:80]}'") from None


def _answer_show(sql: str, ctx: CatalogContext) -> ResultSet:
    stream = _stream(sql)
    stream.next()
    return show(stream, ctx)


def _answer_describe(sql: str, ctx: CatalogContext) -> ResultSet | _Unhandled:
    try:
        stream = TokenStream(sql, tokenize(sql))
    except NotSimple:
        return UNHANDLED
    stream.next()
    token = stream.peek()
    if token.kind == "op" or (token.kind == "word" and token.value in _NOT_A_TABLE):
        return UNHANDLED  # EXPLAIN SELECT ..., DESCRIBE (SELECT ...): the executor's
    return describe(stream, ctx)


# ---------------------------------------------------------------------------------- SELECT
def _answer_select(sql: str, ctx: CatalogContext) -> ResultSet | _Unhandled:
    lowered = sql.lower()  # substring tests first: the regexes cost ~10 µs on long text
    if ctx.current_database == "information_schema" or (
            "_schema" in lowered and _SYSTEM_SCHEMA.search(sql)):
        return workspace().query(sql, ctx)
    if "from" in lowered and _FROM.search(sql):
        return UNHANDLED
    try:
        return _select_values(TokenStream(sql, tokenize(sql)), ctx)
    except NotSimple:
        return UNHANDLED


class _SelectPlan(NamedTuple):
    """Where each item of a catalog SELECT starts, its column name, and the LIMIT window."""

    items: tuple[tuple[int, str, bool], ...]  # (token index, column name, is a number literal)
    offset: int
    count: int | None


SELECT_PLANS_MAX = 256  # parsed variable SELECTs kept, keyed by statement text
_select_plans: dict[str, _SelectPlan] = {}


def _select_values(stream: TokenStream, ctx: CatalogContext) -> ResultSet | _Unhandled:
    """SELECT item [[AS] alias], ... [FROM DUAL] [LIMIT n] with items ``evaluate`` knows."""
    plan = _select_plans.get(stream.sql)
    if plan is None:
        return _plan_select(stream, ctx)
    values = []
    for index, _, _ in plan.items:
        stream.index = index
        values.append(evaluate(stream, ctx))
    return _select_result(plan, values)


def _plan_select(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    stream.next()
    stream.accept_word("SQL_NO_CACHE", "SQL_CACHE")
    items: list[tuple[int, str, bool]] = []
    values: list[object] = []
    while True:
        index, start = stream.index, stream.peek()
        values.append(evaluate(stream, ctx))
        end = stream.tokens[stream.index - 1]
        name = _alias(stream) or _item_name(stream.sql, start, end)
        items.append((index, name, start is end and start.kind == "number"))
        if stream.accept_op(",") is None:
            break
    if stream.accept_word("FROM"):
        stream.expect_word("DUAL")
    offset, count = _limit_values(stream) if stream.accept_word("LIMIT") else (0, None)
    if not stream.at_end():
        raise NotSimple("trailing clause")
    plan = _SelectPlan(tuple(items), offset, count)
    if len(_select_plans) >= SELECT_PLANS_MAX:
        _select_plans.pop(next(iter(_select_plans)))
    _select_plans[stream.sql] = plan
    return _select_result(plan, values)


def _select_result(plan: _SelectPlan, values: list[object]) -> ResultSet:
    rows = [tuple(values)]
    if plan.offset or plan.count is not None:
        end = None if plan.count is None else plan.offset + plan.count
        rows = rows[plan.offset:end]
    columns = [_value_column(name, value, number)
               for (_, name, number), value in zip(plan.items, values)]
    return ResultSet(columns, rows)


def _alias(stream: TokenStream) -> str | None:
    if stream.accept_word("AS"):
        return stream.identifier()
    token = stream.peek()
    if token.kind in ("quoted", "string") or (token.kind == "word" and token.value not in (
            "FROM", "LIMIT", "INTO", "WHERE", "FOR", "LOCK", "UNION", "ORDER", "GROUP")):
        return stream.identifier()
    return None


def _item_name(sql: str, start: Token, end: Token) -> str:
    if start is end and start.kind == "string" and isinstance(start.value, str):
        return start.value  # MySQL names a string literal column after its value
    return sql[start.start:end.end]


def _limit_values(stream: TokenStream) -> tuple[int, int]:
    first = stream.next()
    if first.kind != "number":
        raise NotSimple("LIMIT")
    if stream.accept_op(","):
        return int(first.value), int(stream.next().value)
    if stream.accept_word("OFFSET"):
        return int(stream.next().value), int(first.value)
    return 0, int(first.value)


def _value_column(name: str, value: object, number_literal: bool) -> Column:
    if value is None:
        return Column(name, FieldType.VAR_STRING, 0, charset=CHARSET_BINARY)
    column = column_for_value(name, value)
    if number_literal and isinstance(value, int):
        column.length = max(len(str(value)), 1)  # MySQL: SELECT 1 has length 1
    return column


# ---------------------------------------------------------------------------------- SET
def _answer_set(sql: str, ctx: CatalogContext) -> None | _Unhandled:
    stream = _stream(sql)
    stream.next()
    second = stream.peek(1)
    if stream.at_word("PASSWORD") or (stream.at_word("ROLE") and second.kind != "op") or (
            stream.at_word("RESOURCE", "DEFAULT") and second.kind == "word"
            and second.value in ("GROUP", "ROLE")):
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           f"support 'SET {stream.peek().text.upper()}' (users and roles come "
                           "from the configuration)")
    scope: str | None = None
    while True:
        scope = _set_item(stream, ctx, scope)
        if stream.accept_op(",") is None:
            break
    if not stream.at_end():
        raise syntax_error(stream)
    return None


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
        allowed = record is None or record.can(None, "admin")
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


_DISPATCH: dict[str, Callable[[str, CatalogContext], ResultSet | None | _Unhandled]] = {
    "SET": _answer_set, "SHOW": _answer_show, "SELECT": _answer_select,
    "DESCRIBE": _answer_describe, "DESC": _answer_describe, "EXPLAIN": _answer_describe,
}


# ---------------------------------------------------------------------------------- helpers
def handles(sql: str, ctx: CatalogContext) -> bool:
    """Whether ``answer`` would take this statement, without running it: for the executor's
    COM_STMT_PREPARE, which must not send these to the translator. SELECTs count when they
    read INFORMATION_SCHEMA / performance_schema, or have no FROM and mention a variable or
    are a plan already seen."""
    found = _HEAD.match(sql)
    word = found.group(1).upper() if found else ""
    if word in ("SET", "SHOW"):
        return True
    if word in ("DESCRIBE", "DESC", "EXPLAIN"):
        try:
            token = TokenStream(sql, tokenize(sql)).peek(1)
        except NotSimple:
            return False
        return not (token.kind == "op" or (token.kind == "word" and token.value in _NOT_A_TABLE))
    if word != "SELECT":
        return False
    lowered = sql.lower()
    if ctx.current_database == "information_schema" or (
            "_schema" in lowered and _SYSTEM_SCHEMA.search(sql)):
        return True
    if "from" in lowered and _FROM.search(sql):
        return False
    return "@" in sql or sql in _select_plans


def field_list(table: str, ctx: CatalogContext, wildcard: str | None = None) -> list[Column]:
    """COM_FIELD_LIST: the column definitions of ``table`` in the current database.

    ``wildcard`` is the optional LIKE pattern the command carries."""
    from marmotdb.sql.catalog_show import _object, like_pattern

    if ctx.current_database is None:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    model = _object(ctx, ctx.current_database, table)
    pattern = like_pattern(wildcard) if wildcard else None
    columns = []
    for column in model.columns:
        if pattern is not None and not pattern.match(column.name):
            continue
        mysql_type = coltypes.parse_type(column.column_type)
        flags = 0 if column.nullable else int(ColumnFlag.NOT_NULL)
        flags |= {"PRI": ColumnFlag.PRI_KEY, "UNI": ColumnFlag.UNIQUE_KEY,
                  "MUL": ColumnFlag.MULTIPLE_KEY}.get(column.key, 0)
        if column.auto_increment:
            flags |= ColumnFlag.AUTO_INCREMENT
        columns.append(coltypes.column_for_type(column.name, mysql_type, model.name,
                                                org_name=column.name,
                                                schema=ctx.current_database, flags=int(flags)))
    return columns


def variable_value(ctx: CatalogContext, name: str, scope: str | None = None) -> object:
    """@@[scope.]name including the live ones (warning_count, ...): for the executor."""
    return system_variable(ctx, name, scope)


def inline_session_variables(sql: str, ctx: CatalogContext) -> str:
    """``sql`` with @@vars and @user vars replaced by literals (for statements the catalog
    returned UNHANDLED but that mention variables, e.g. ``SELECT * FROM t WHERE id = @x``).
    Raises SqlError 1235 for a user-variable assignment inside a query."""
    try:
        return inline_variables(sql, ctx)
    except NotSimple as exc:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           f"support '{exc}'") from None
