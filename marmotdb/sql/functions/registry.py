"""MySQL functions as SQLite user functions, bound to one session.

Theory of operation
-------------------
SQLite has no NOW(), DATE_FORMAT(), SUBSTRING_INDEX() …, and where it has a function of the
same name it often means something else (LENGTH counts characters, LOG is base 10, CEIL returns
REAL, QUOTE quotes differently). The translator renames every MySQL function listed in
``RENAMED_FUNCTIONS`` to ``MYSQL_<NAME>`` before parsing, so sqlglot passes the call through
untouched and no SQLite built-in is ever shadowed; this module registers those ``MYSQL_*``
names, plus a few helpers the rewrites emit (``MYSQL_STORE`` for value coercion,
``MYSQL_CAST``, ``MYSQL_USER_VAR`` …) and ``regexp`` for the REGEXP operator.

``register_functions(conn, session)`` binds them to a function context: any object with the
attributes of ``FunctionContext`` (the executor passes its per-connection binding).
``statement_time`` (epoch seconds) is set by the executor before each statement, so NOW(),
SYSDATE() and CURRENT_TIMESTAMP are fixed per statement; session values (LAST_INSERT_ID,
ROW_COUNT, FOUND_ROWS, DATABASE, USER, time_zone, sql_mode) are read at call time, so cached
translations stay valid across sessions. Optional attributes are read with defaults:
``variables`` (SessionVariables: sql_mode, @x, @@x), ``warnings`` (a list the function appends
(level, code, message) to), ``rng`` (a ``random.Random`` for RAND/UUID).

``register_schema_functions(conn)`` registers what the *stored schema* needs: the
``mysql_decimal`` collation of DECIMAL columns and ``mysql_time`` of TIME columns. Every connection that opens a marmotdb database
file must call it (executor, replication apply, snapshots, audits) or SQLite reports
"no such collation sequence".

Functions are registered deterministic only when they are (NOW() is not: it depends on the
session). This module only composes and registers; the functions live by family, each module
with its table of ``(name, function, nargs, deterministic)`` entries: strings.py, regex.py,
numbers.py, bits.py, dates.py, decimal.py, aggregates.py, json.py (and json_table.py),
store.py (MYSQL_STORE, CAST, the schema collations), information.py (DATABASE(), USER(),
RAND() …), internal.py (helpers only generated SQL calls), over context.py (the session a
function reads, argument coercion).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import apsw

from marmotdb.sql.functions import fulltext
from marmotdb.sql.functions.json import (
    JSON_AGGREGATES,
    JSON_INTERNAL_FUNCTIONS,
    JSON_SCALARS,
    UNSUPPORTED_JSON_FUNCTIONS,
)
from marmotdb.sql.rewrites.temporal import TEMPORAL_INTERNAL_FUNCTIONS, TEMPORAL_SCALARS
from marmotdb.sql.types.int64 import INT64_INTERNAL_FUNCTIONS, INT64_SCALARS
from marmotdb.sql.types.uint64 import UINT64_INTERNAL_FUNCTIONS, UINT64_SCALARS
from marmotdb.txn import auto_increment
from marmotdb.sql.functions.aggregates import AGGREGATES
from marmotdb.sql.functions.bits import BIT_AGGREGATES, BIT_OPERATORS, BIT_SCALARS
from marmotdb.sql.functions.information import CONSTANT_SCALARS, INFORMATION_SCALARS
from marmotdb.sql.functions.dates import DATE_SESSION_SCALARS, TIME_SCALARS
from marmotdb.sql.functions.decimal import DECIMAL_AGGREGATES, DECIMAL_SCALARS
from marmotdb.sql.functions.internal import INTERNAL_SCALARS
from marmotdb.sql.functions.numbers import NUMBER_SCALARS
from marmotdb.sql.functions.regex import REGEX_SCALARS, sqlite_regexp
from marmotdb.sql.functions.store import STORE_SESSION_SCALARS, register_schema_functions
from marmotdb.sql.functions.strings import STRING_SCALARS
from marmotdb.sql.functions.context import Scalar, SessionScalar, sql_mode_of

_PURE_SCALARS: list[Scalar] = (
    STRING_SCALARS + REGEX_SCALARS + NUMBER_SCALARS + BIT_SCALARS + INTERNAL_SCALARS
    + [("MATCH_AGAINST", fulltext.match_against, -1, True)])
_SESSION_SCALARS: list[SessionScalar] = (DATE_SESSION_SCALARS + INFORMATION_SCALARS
                                         + STORE_SESSION_SCALARS)
_AGGREGATES: list[tuple[str, Callable[[], Any]]] = (AGGREGATES + BIT_AGGREGATES
                                                    + DECIMAL_AGGREGATES + JSON_AGGREGATES)

# Names the translator must not rename from user SQL: helpers only the rewrites emit.
INTERNAL_FUNCTIONS = frozenset({"REFUSE", "FK_FAILS", "CMP", "TABLE_CHECKSUM", "XOR",
                                "STORED_FUNCTION", "INT_DIV",
                                "SUM_DECIMAL", "AVG_DECIMAL",
                                "DEC_ADD", "DEC_SUB", "DEC_MUL", "DEC_DIV", "DEC_FORMAT",
                                "LIKE_BINARY",
                                "USER_VAR", "SYSVAR", "STORE", "NO_DEFAULT", "GENERATED_IGNORED", "CAST", "EXTRACT", "TIMESTAMP_LOCAL", "TIMESTAMP_UTC",
                                "TRIM", "SUBSTRING", "SUBSTR", "POSITION", "MATCH_AGAINST"}
                               ) | {name for name, *_ in BIT_OPERATORS} \
    | JSON_INTERNAL_FUNCTIONS | UINT64_INTERNAL_FUNCTIONS | INT64_INTERNAL_FUNCTIONS \
    | TEMPORAL_INTERNAL_FUNCTIONS
# MySQL functions marmotdb refuses with 1235 rather than answer wrongly.
UNSUPPORTED_FUNCTIONS = frozenset({"GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS",
                                   "IS_FREE_LOCK", "IS_USED_LOCK", "BENCHMARK", "LOAD_FILE",
                                   "MASTER_POS_WAIT", "SOURCE_POS_WAIT", "WEIGHT_STRING",
                                   "AES_ENCRYPT", "AES_DECRYPT", "COMPRESS", "UNCOMPRESS",
                                   "ST_ASTEXT", "ST_GEOMFROMTEXT", "POINT", "MATCH",
                                   "EXPORT_SET", "MAKE_SET", "GTID_SUBSET", "NAME_CONST",
                                   "VALIDATE_PASSWORD_STRENGTH", "STATEMENT_DIGEST"}
                                  ) | UNSUPPORTED_JSON_FUNCTIONS

_ALL_PURE: list[Scalar] = (_PURE_SCALARS + TIME_SCALARS + JSON_SCALARS + UINT64_SCALARS
                           + INT64_SCALARS + CONSTANT_SCALARS + DECIMAL_SCALARS
                           + TEMPORAL_SCALARS)


def _arities(fn: Callable[..., object]) -> tuple[int, ...] | None:
    """The argument counts a variadic (-1) function takes, from its signature: registered one
    by one, so SQLite itself refuses another count (1582), not a Python TypeError."""
    parameters = inspect.signature(fn).parameters.values()
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None
    required = sum(1 for p in parameters if p.default is p.empty)
    return tuple(range(required, len(parameters) + 1))


_ARITIES: dict[Callable[..., object], tuple[int, ...]] = {
    fn: counts for _, fn, nargs, _ in _ALL_PURE
    if nargs == -1 and (counts := _arities(fn)) is not None}

RENAMED_FUNCTIONS: frozenset[str] = frozenset(
    {name for name, *_ in _ALL_PURE} | {name for name, *_ in _SESSION_SCALARS}
    | {name for name, _ in _AGGREGATES}) - INTERNAL_FUNCTIONS


# Session functions whose value depends on their arguments alone (the session only receives
# their warnings): deterministic to SQLite, so a functional index may use them.
_ARGUMENTS_ONLY = frozenset({"CAST"})


def _bind(fn: Callable[..., object], ctx: Any) -> Callable[..., object]:
    def bound(*args: object) -> object:
        return fn(ctx, *args)
    return bound


def _stored_function(session: Any, key: object, *args: object) -> object:
    """MYSQL_STORED_FUNCTION: a stored function with loops (sql/routines/function_calls.py)."""
    from marmotdb.sql.routines.function_calls import stored_function
    return stored_function(session, key, *args)


def register_functions(conn: apsw.Connection, session: Any) -> None:
    """Register every MySQL function (and the schema collations) on ``conn`` for ``session``
    (any object with FunctionContext's attributes, read at call time)."""
    register_schema_functions(conn)
    for name, fn, nargs, deterministic in _ALL_PURE:
        for count in _ARITIES.get(fn, (nargs,)):
            conn.create_scalar_function("MYSQL_" + name, fn, count, deterministic=deterministic)
    for name, fn, nargs in _SESSION_SCALARS:
        conn.create_scalar_function("MYSQL_" + name, _bind(fn, session), nargs,
                                    deterministic=name in _ARGUMENTS_ONLY)
    for name, make in _AGGREGATES:
        conn.create_aggregate_function("MYSQL_" + name, _aggregate_factory(make))
    conn.create_scalar_function("regexp", sqlite_regexp, 2, deterministic=True)
    conn.create_scalar_function("MYSQL_STORED_FUNCTION", _bind(_stored_function, session), -1)
    # an INSERT's AUTO_INCREMENT value; a write connection in a cluster registers it again
    # with the node's claimed ranges (txn/auto_increment.py)
    auto_increment.register(conn, lambda: sql_mode_of(session))


def _aggregate_factory(make: Callable[[], Any]) -> Callable[[], tuple[Any, Any, Any]]:
    def factory() -> tuple[Any, Any, Any]:
        state = make()
        return (None, lambda _ctx, *args: state.step(*args), lambda _ctx: state.final())
    return factory
