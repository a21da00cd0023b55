"""The catalog: answers the statements that are about the server rather than about data.

Theory of operation
-------------------
The executor calls ``answer(sql, ctx)`` for EVERY statement before translating it, so the
first look must be cheap: one regex match on the first keyword (after leading comments) decides
whether the statement can be ours at all. Only four families are:

* ``SET ...``          -> applied to ``ctx.variables`` (session/global system variables, user
                          variables, NAMES, CHARACTER SET, TRANSACTION); returns ``None``.
* ``SHOW ...``, ``DESCRIBE/DESC t``, ``EXPLAIN t``  -> a ``ResultSet`` (show.py).
* ``SELECT`` whose select list is only ``@@vars``, ``@user_vars``, literals and the connection
  functions (VERSION(), DATABASE(), USER(), CONNECTION_ID(), CONVERT_TZ(...) ...) with no FROM
  (or FROM DUAL) -> a ``ResultSet`` computed here without SQLite (select.py).
* any ``SELECT`` touching ``INFORMATION_SCHEMA`` (or the variable/status tables of
  ``performance_schema``) -> run on a private in-memory SQLite database into which the
  referenced tables were materialised (workspace.py, information_schema.py).

Everything else returns the ``UNHANDLED`` sentinel and goes to the translator: about 1-2 µs
for an ordinary statement. A SELECT that mixes variables with tables
(``... WHERE id = @x``) is also UNHANDLED; ``inline_session_variables`` turns it into text the
translator can run. ``handles`` says, without running anything, whether ``answer`` would
take a statement (for COM_STMT_PREPARE); ``field_list`` answers COM_FIELD_LIST.

Caches, all bounded: token lists and variable-SELECT plans by statement text, translated
INFORMATION_SCHEMA queries (LRU), one schema snapshot per database connection (reused while
``PRAGMA schema_version`` and the stored DDL are unchanged), materialised rows per snapshot.
The workspace is one per process and must be used from one thread at a time (the event loop).
Errors are ``MarmotError`` subclasses with MySQL codes (1193 unknown system variable, 1231
wrong value, 1146 no such table, 1049 unknown database, ...).

The catalog never writes to a database and never lets the internal ``__marmot_*`` /
``sqlite_*`` tables appear in any answer. Module map: set_statement.py (SET), select.py
(variable SELECTs), show.py / show_server.py / show_filters.py (SHOW/DESCRIBE), workspace.py
and information_schema.py (INFORMATION_SCHEMA), snapshot.py / model.py / declared.py /
render.py (what a database holds, as MySQL describes it; a table's stored DDL is read by the
translation's own reader, ../definition/), expr.py (tokens and small
expressions), context.py (what the catalog needs from the session), ../variables/ (system
variables).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Self

from marmotdb import errors
from marmotdb.mysql.types import Column, ColumnFlag, ResultSet
from marmotdb.sql.text import lexer
from marmotdb.sql.types import coltypes
from marmotdb.sql.catalog.context import CatalogContext
from marmotdb.sql.catalog.expr import (
    NotSimple,
    TokenStream,
    inline_variables,
    stream_of,
    system_variable,
    tokenize,
)
from marmotdb.sql.catalog.select import is_planned, select_values
from marmotdb.sql.catalog.set_statement import answer_set
from marmotdb.sql.catalog.show import describe, show, table_or_view
from marmotdb.sql.catalog.show_filters import like_pattern
from marmotdb.sql.catalog.workspace import workspace

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


# ---------------------------------------------------------------------------------- dispatch
_FROM = re.compile(r"\bfrom\s+(?!dual\b)", re.IGNORECASE)
# A reference to a table of information_schema / performance_schema (not @@performance_schema).
_SYSTEM_SCHEMA = re.compile(r"(?<![@.\w])`?(?:information_schema|performance_schema)`?\s*\.",
                            re.IGNORECASE)
# A FROM-less SELECT longer than this goes to SQLite instead of the catalog's evaluator: the
# catalog answers what clients send at connect (``SELECT @@version_comment LIMIT 1``), and
# tokenising a multi-megabyte literal in full on the event loop only to give up on it is not
# free (the translator lifts its literals in one pass).
SELECT_VALUES_TEXT_MAX = 16_384
_NOT_A_TABLE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "TABLE",
                          "FORMAT", "ANALYZE", "EXTENDED", "PARTITIONS", "FOR"})


def answer(sql: str, ctx: CatalogContext, first_word: str | None = None
           ) -> ResultSet | None | _Unhandled:
    """Answer one statement if it is the catalog's.

    Returns a ResultSet (SHOW, DESCRIBE, SELECT of @@vars/constants, INFORMATION_SCHEMA
    queries), None (SET statements, after applying them to ``ctx.variables``) or UNHANDLED.
    ``first_word``: the statement's first word upper-cased, when the caller has it already.
    """
    if first_word is None:
        head = lexer.words(sql, 1)
        if not head:
            return UNHANDLED
        first_word = head[0]
    handler = _DISPATCH.get(first_word)
    if handler is None:
        return UNHANDLED
    return handler(sql, ctx)


def _answer_show(sql: str, ctx: CatalogContext) -> ResultSet:
    stream = stream_of(sql, ctx.variables.backslash_escapes)
    stream.next()
    return show(stream, ctx)


def _answer_describe(sql: str, ctx: CatalogContext) -> ResultSet | _Unhandled:
    try:
        stream = TokenStream(sql, tokenize(sql, ctx.variables.backslash_escapes))
    except NotSimple:
        return UNHANDLED
    stream.next()
    token = stream.peek()
    if token.kind == "op" or (token.kind == "word" and token.value in _NOT_A_TABLE):
        return UNHANDLED  # EXPLAIN SELECT ..., DESCRIBE (SELECT ...): the executor's
    return describe(stream, ctx)


# ---------------------------------------------------------------------------------- SELECT
def _answer_select(sql: str, ctx: CatalogContext) -> ResultSet | _Unhandled:
    # substring tests first: the regexes cost ~10 µs on long text; lower() copies the text,
    # so a long one is lowered only when an underscore (a one-character scan) is there
    lowered = sql.lower() if len(sql) <= SELECT_VALUES_TEXT_MAX or "_" in sql else ""
    if ctx.current_database == "information_schema" or (
            "_schema" in lowered and _SYSTEM_SCHEMA.search(sql)):
        return workspace().query(sql, ctx)
    if len(sql) > SELECT_VALUES_TEXT_MAX or ("from" in lowered and _FROM.search(sql)):
        return UNHANDLED
    try:
        return select_values(TokenStream(sql, tokenize(sql, ctx.variables.backslash_escapes)),
                             ctx)
    except NotSimple:
        return UNHANDLED


_DISPATCH: dict[str, Callable[[str, CatalogContext], ResultSet | None | _Unhandled]] = {
    "SET": answer_set, "SHOW": _answer_show, "SELECT": _answer_select,
    "DESCRIBE": _answer_describe, "DESC": _answer_describe, "EXPLAIN": _answer_describe,
}


# ---------------------------------------------------------------------------------- helpers
def handles(sql: str, ctx: CatalogContext) -> bool:
    """Whether ``answer`` would take this statement, without running it: for the executor's
    COM_STMT_PREPARE, which must not send these to the translator. SELECTs count when they
    read INFORMATION_SCHEMA / performance_schema, or have no FROM and mention a variable or
    are a plan already seen."""
    word = next(iter(lexer.words(sql, 1)), "")
    if word in ("SET", "SHOW"):
        return True
    if word in ("DESCRIBE", "DESC", "EXPLAIN"):
        try:
            token = TokenStream(sql, tokenize(sql, ctx.variables.backslash_escapes)).peek(1)
        except NotSimple:
            return False
        return not (token.kind == "op" or (token.kind == "word" and token.value in _NOT_A_TABLE))
    if word != "SELECT":
        return False
    lowered = sql.lower()
    if ctx.current_database == "information_schema" or (
            "_schema" in lowered and _SYSTEM_SCHEMA.search(sql)):
        return True
    if ("from" in lowered and _FROM.search(sql)) or len(sql) > SELECT_VALUES_TEXT_MAX:
        return False
    return "@" in sql or is_planned(sql)


def field_list(table: str, ctx: CatalogContext, wildcard: str | None = None) -> list[Column]:
    """COM_FIELD_LIST: the column definitions of ``table`` in the current database.

    ``wildcard`` is the optional LIKE pattern the command carries."""
    if ctx.current_database is None:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    model = table_or_view(ctx, ctx.current_database, table)
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
