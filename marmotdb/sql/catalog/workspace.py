"""The catalog's private SQLite database, where INFORMATION_SCHEMA queries actually run.

Theory of operation
-------------------
A client may query INFORMATION_SCHEMA with any SQL (joins, subqueries, GROUP BY, LIKE ...), so
rather than interpret queries, the catalog materialises the INFORMATION_SCHEMA tables a query
names into an in-memory SQLite database that has ``information_schema`` and
``performance_schema`` attached, and runs the query there after translating it with sqlglot
(MySQL -> SQLite). The pieces:

* ``prepare(sql)``: translation, cached by statement text in a bounded LRU: the SQLite SQL,
  the (schema, table) pairs it reads, and the databases a ``TABLE_SCHEMA = '...'`` filter
  restricts it to (so a query about one database does not describe all of them).
* ``materialise``: for each table read, a *token* says what its rows were built from
  (the snapshots of the databases involved, for per-database tables; nothing for static
  ones; a fresh object for per-session ones). Rows are replaced only when the token changed,
  and per-database rows are cached inside the snapshot, so after the first query about a
  schema version, later queries cost a dict lookup per table.
* The session's functions (DATABASE(), USER(), VERSION(), CONNECTION_ID() ...) are SQLite
  functions reading the session that is currently asking (``_current``): the workspace is
  used from one thread at a time, as the event loop does.

Text columns are declared ``COLLATE NOCASE`` because MySQL compares INFORMATION_SCHEMA names
case-insensitively here (SQLite table names are case-insensitive too).
``filter_rows`` reuses the workspace for ``SHOW ... WHERE expr``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import apsw
import sqlglot
from sqlglot import exp

from marmotdb import errors
from marmotdb.mysql.types import (
    CHARSET_BINARY,
    Column,
    ColumnFlag,
    FieldType,
    ResultSet,
    text_column,
)
from marmotdb.sql.text import lexer
from marmotdb.sql.types import coltypes
from marmotdb.sql.catalog.expr import FUNCTIONS, NotSimple, tokenize
from marmotdb.sql.catalog.snapshot import DatabaseSnapshot, TableStats, snapshot, table_stats
from marmotdb.sql.catalog.information_schema import SCHEMAS, InfoTable, self_description

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext

PREPARED_QUERIES_MAX = 256  # translated INFORMATION_SCHEMA statements kept (LRU)
_SCHEMA_COLUMNS = frozenset({"table_schema", "constraint_schema", "trigger_schema",
                             "event_object_schema", "index_schema", "schema_name",
                             "routine_schema", "specific_schema", "event_schema"})
_NAME_COLUMNS = frozenset({"table_name", "event_object_table"})
# SELECT modifiers sqlglot does not read and SQLite has no use for; reserved words, so never
# names. STRAIGHT_JOIN only as a modifier (after SELECT or another modifier), not as a join.
_DROPPED_MODIFIERS = frozenset({"SQL_NO_CACHE", "SQL_CACHE", "SQL_BUFFER_RESULT", "HIGH_PRIORITY"})
_MODIFIER_CONTEXT = frozenset({"SELECT", "DISTINCT", "DISTINCTROW", "ALL", "SQL_CALC_FOUND_ROWS",
                               "SQL_SMALL_RESULT", "SQL_BIG_RESULT", *_DROPPED_MODIFIERS})


@dataclass(frozen=True, slots=True)
class PreparedQuery:
    sqlite_sql: str
    tables: tuple[tuple[str, str], ...]  # (schema, TABLE) read by the query
    schemas: tuple[str, ...] | None  # databases a schema filter restricts it to, or None
    names: tuple[str, ...] | None  # lower-case tables a TABLE_NAME filter restricts it to


class Workspace:
    """The private database; one per process (see module docstring)."""

    def __init__(self) -> None:
        self.conn = apsw.Connection(":memory:")
        for schema in SCHEMAS:
            self.conn.execute(f"ATTACH DATABASE ':memory:' AS {schema}")
        self._created: set[tuple[str, str]] = set()
        self._tokens: dict[tuple[str, str], object] = {}
        self._prepared: OrderedDict[str, PreparedQuery] = OrderedDict()
        self._current: CatalogContext | None = None
        self._register_functions()

    # ------------------------------------------------------------------ queries
    def query(self, sql: str, ctx: CatalogContext) -> ResultSet:
        """Run one SELECT that reads INFORMATION_SCHEMA / performance_schema."""
        prepared = self.prepare(sql, ctx)
        self._current = ctx
        try:
            for schema, table in prepared.tables:
                self._materialise(schema, table, ctx, prepared)
            rows, description = _run(self.conn, prepared.sqlite_sql)
        except apsw.Error as exc:
            raise errors.from_sqlite(exc) from None
        finally:
            self._current = None
        return ResultSet(_columns(description, rows), rows)

    def prepare(self, sql: str, ctx: CatalogContext) -> PreparedQuery:
        key = f"{ctx.current_database}\0{sql}"
        found = self._prepared.get(key)
        if found is not None:
            self._prepared.move_to_end(key)
            return found
        found = _translate(sql, ctx.current_database)
        self._prepared[key] = found
        if len(self._prepared) > PREPARED_QUERIES_MAX:
            self._prepared.popitem(last=False)
        return found

    def filter_rows(self, columns: Sequence[str], rows: list[tuple], where_sql: str,
                    ctx: CatalogContext) -> list[tuple]:
        """The rows for which the MySQL expression ``where_sql`` (over ``columns``) holds."""
        try:
            condition = sqlglot.parse_one(_quote_columns(where_sql, columns), read="mysql")
        except sqlglot.errors.ParseError as exc:
            raise errors.error(errors.ER_PARSE_ERROR, f"You have an error in your SQL syntax "
                               f"near '{where_sql[:80]}'") from exc
        condition = _rewrite_functions(condition)
        names = ", ".join(f'"{c}" COLLATE NOCASE' for c in columns)
        self._current = ctx
        try:
            self.conn.execute("DROP TABLE IF EXISTS temp.show_rows")
            self.conn.execute(f"CREATE TEMP TABLE show_rows({names})")
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(f"INSERT INTO temp.show_rows VALUES ({marks})", rows)
            kept = self.conn.execute("SELECT * FROM temp.show_rows WHERE "
                                     + condition.sql(dialect="sqlite")).fetchall()
        except apsw.Error as exc:
            raise errors.from_sqlite(exc) from None
        finally:
            self._current = None
        return [tuple(r) for r in kept]

    def clear(self) -> None:
        """Forget translated statements and materialised rows (cold-path benchmarks)."""
        self._prepared.clear()
        self._tokens.clear()

    # ------------------------------------------------------------------ materialisation
    def _materialise(self, schema: str, name: str, ctx: CatalogContext,
                     prepared: PreparedQuery) -> None:
        table = SCHEMAS[schema][name]
        key = (schema, name)
        if key not in self._created:
            columns = ", ".join(f'"{n}" {d} COLLATE NOCASE' if _is_text(d) else f'"{n}" {d}'
                                for n, d in table.columns)
            self.conn.execute(f'CREATE TABLE {schema}."{name}" ({columns})')
            self._created.add(key)
        token, produce = self._source(table, ctx, prepared.schemas, prepared.names)
        if key in self._tokens and _same(self._tokens[key], token):
            return
        rows = produce()
        self.conn.execute(f'DELETE FROM {schema}."{name}"')
        if rows:
            marks = ", ".join("?" for _ in table.columns)
            self.conn.executemany(f'INSERT INTO {schema}."{name}" VALUES ({marks})', rows)
        self._tokens[key] = token

    def _source(self, table: InfoTable, ctx: CatalogContext, schemas: tuple[str, ...] | None,
                names: tuple[str, ...] | None) -> tuple[object, Callable[[], list[tuple]]]:
        if table.scope == "empty":
            return ("empty",), list
        if table.scope == "static":
            return ("static",), table.provider  # type: ignore[return-value]
        if table.scope == "session":
            return (object(),), lambda: table.provider(ctx)  # type: ignore[misc]
        snaps = _snapshots(ctx, schemas)
        fresh = table.stats and ctx.variables.get("information_schema_stats_expiry") == 0
        token = (object(),) if fresh else (*snaps, names)
        return token, lambda: _database_rows(table, snaps, ctx, fresh, names)

    # ------------------------------------------------------------------ functions
    def _register_functions(self) -> None:
        def bound(name: str) -> Callable[..., Any]:
            def call(*args: Any) -> Any:
                if self._current is None:
                    return None
                value = FUNCTIONS[name](self._current, list(args))
                return value
            return call

        for name, sqlite_name in (("DATABASE", "MARMOT_DATABASE"), ("VERSION", "MARMOT_VERSION"),
                                  ("CURRENT_USER", "MARMOT_CURRENT_USER"), ("USER", "USER"),
                                  ("CONNECTION_ID", "CONNECTION_ID"),
                                  ("CONVERT_TZ", "CONVERT_TZ")):
            # Deterministic lets SQLite evaluate DATABASE() once per statement, not per row;
            # true here since one statement runs for one session.
            self.conn.create_scalar_function(sqlite_name, bound(name), deterministic=True)
        self.conn.create_scalar_function("regexp", _regexp, 2, deterministic=True)
        self.conn.create_scalar_function("SUBSTRING_INDEX", _substring_index, 3,
                                         deterministic=True)
        self.conn.create_scalar_function("FIND_IN_SET", _find_in_set, 2, deterministic=True)


def _quote_columns(where_sql: str, columns: Sequence[str]) -> str:
    """Backquote bare references to SHOW's columns: some (Charset, Collation) are keywords to
    sqlglot's parser."""
    wanted = {c.lower() for c in columns}
    try:
        tokens = tokenize(where_sql)
    except NotSimple:
        return where_sql
    parts, position = [], 0
    for token in tokens:
        if token.kind == "word" and token.text.lower() in wanted:
            parts += [where_sql[position:token.start], f"`{token.text}`"]
            position = token.end
    parts.append(where_sql[position:])
    return "".join(parts)


def _same(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(x is y or (isinstance(x, (str, tuple)) and x == y) for x, y in zip(a, b))
    return False


def _is_text(decl: str) -> bool:
    upper = decl.upper()
    return any(word in upper for word in ("CHAR", "TEXT", "JSON"))


def _snapshots(ctx: CatalogContext, schemas: tuple[str, ...] | None) -> list[DatabaseSnapshot]:
    visible = ["information_schema", *ctx.databases()]
    if schemas is not None:
        wanted = {s.lower() for s in schemas}
        visible = [db for db in visible if db.lower() in wanted]
    result = []
    for db in visible:
        if db == "information_schema":
            result.append(_SELF)
        else:
            result.append(snapshot(ctx.connection_for(db), db))
    return result


_SELF = self_description()


ROW_SETS_PER_SNAPSHOT_MAX = 512  # cached row sets per database snapshot (per table filter)


def _database_rows(table: InfoTable, snaps: list[DatabaseSnapshot], ctx: CatalogContext,
                   fresh: bool, names: tuple[str, ...] | None) -> list[tuple]:
    rows: list[tuple] = []
    key = table.name if names is None else f"{table.name}\0" + "\0".join(names)
    for snap in snaps:
        cached = None if fresh else snap.rows.get(key)
        if cached is None:
            cached = _rows_of(table, snap if names is None else snap.restricted(names), ctx)
            if not fresh:
                if len(snap.rows) >= ROW_SETS_PER_SNAPSHOT_MAX:
                    snap.rows.clear()
                snap.rows[key] = cached
        rows.extend(cached)
    return rows


def _rows_of(table: InfoTable, snap: DatabaseSnapshot, ctx: CatalogContext) -> list[tuple]:
    assert table.provider is not None
    if snap.name == "information_schema":
        if table.name == "TABLES":
            return [("def", "information_schema", name, "SYSTEM VIEW") + (None,) * 16 + ("",)
                    for name, _ in snap.object_names()]
        if table.name != "COLUMNS":
            return []
        return [row for row in table.provider(snap)]
    if table.stats:
        conn = ctx.connection_for(snap.name)
        stats: Callable[[Any], TableStats] = lambda model: table_stats(conn, model, ctx)
        return table.provider(snap, stats)
    if table.other_databases:
        return table.provider(snap, lambda db: _other_snapshot(ctx, db))
    return table.provider(snap)


def _other_snapshot(ctx: CatalogContext, database: str) -> DatabaseSnapshot | None:
    """Another database's snapshot (a FOREIGN KEY's parent there), None if it is gone."""
    try:
        return snapshot(ctx.connection_for(database), database)
    except errors.MarmotError:
        return None


# ---------------------------------------------------------------------------------- translation
def _without_modifiers(sql: str) -> str:
    """``sql`` without comments, with versioned comments unwrapped (as MySQL reads it) and
    without the SELECT modifiers that only tune MySQL's own execution."""
    pieces: list[str] = []
    previous = ""
    for token in lexer.tokens(sql):
        kind = token.kind
        if kind in lexer.BLANK_KINDS:
            pieces.append(token.text if kind == lexer.SPACE else " ")
            continue
        word = token.text.upper() if kind == lexer.WORD else ""
        if word in _DROPPED_MODIFIERS or (word == "STRAIGHT_JOIN"
                                          and previous in _MODIFIER_CONTEXT):
            pieces.append(" ")
        else:
            pieces.append(token.text)
        previous = word
    return "".join(pieces).strip().rstrip(";").strip()


def _translate(sql: str, current_database: str | None) -> PreparedQuery:
    cleaned = _without_modifiers(sql)
    try:
        tree = sqlglot.parse_one(cleaned, read="mysql")
    except sqlglot.errors.ParseError as exc:
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check "
                           f"the manual near '{sql[:80]}'") from exc
    tables = _tables_read(tree, current_database)
    tree = _rewrite_functions(tree)
    _uppercase_projection(tree, tables)
    schemas, names = _filters(tree, tables, current_database)
    return PreparedQuery(tree.sql(dialect="sqlite"), tuple(tables), schemas, names)


def _tables_read(tree: exp.Expression, current_database: str | None) -> list[tuple[str, str]]:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found: list[tuple[str, str]] = []
    for table in tree.find_all(exp.Table):
        schema = (table.db or current_database or "").lower()
        name = table.name.upper()
        if not table.db and table.name.lower() in ctes:
            continue
        if schema not in SCHEMAS:
            raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't "
                               "yet support 'queries joining INFORMATION_SCHEMA with user tables'")
        if name not in SCHEMAS[schema]:
            raise errors.error(errors.ER_NO_SUCH_TABLE,
                               f"Table '{schema}.{table.name}' doesn't exist")
        table.set("db", exp.to_identifier(schema))
        if (schema, name) not in found:
            found.append((schema, name))
    return found


_FUNCTION_REWRITES: dict[type, Callable[[exp.Expression], exp.Expression]] = {
    exp.CurrentSchema: lambda node: exp.Anonymous(this="MARMOT_DATABASE"),
    exp.CurrentVersion: lambda node: exp.Anonymous(this="MARMOT_VERSION"),
    exp.CurrentUser: lambda node: exp.Anonymous(this="MARMOT_CURRENT_USER"),
    exp.SessionUser: lambda node: exp.Anonymous(this="USER"),
    exp.Collate: lambda node: node.this,
}


def _rewrite_functions(tree: exp.Expression) -> exp.Expression:
    def rewrite(node: exp.Expression) -> exp.Expression:
        handler = _FUNCTION_REWRITES.get(type(node))
        if handler is not None:
            return handler(node)
        if isinstance(node, exp.Like) and not isinstance(node.parent, exp.Escape):
            # MySQL's LIKE escapes with a backslash by default; SQLite's has no escape.
            return exp.Escape(this=node.copy(), expression=exp.Literal.string("\\"))
        return node

    return tree.transform(rewrite)


def _uppercase_projection(tree: exp.Expression, tables: list[tuple[str, str]]) -> None:
    """MySQL 8.0 names an unaliased INFORMATION_SCHEMA column by its (upper-case) name."""
    if not isinstance(tree, exp.Select):
        return
    known = {name.lower(): name for schema, table in tables
             for name, _ in SCHEMAS[schema][table].columns}
    for index, projection in enumerate(tree.expressions):
        if isinstance(projection, exp.Column) and projection.name.lower() in known:
            tree.expressions[index] = exp.alias_(projection, known[projection.name.lower()],
                                                 quoted=True)


def _filters(tree: exp.Expression, tables: list[tuple[str, str]], current_database: str | None
             ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """(databases, lower-case table names) a lone per-database table is restricted to by
    top-level ``<schema col> = 'x'`` / ``= DATABASE()`` / ``IN (...)`` and ``TABLE_NAME = 'x'``
    conditions, so only those are described (prepared queries are cached per current
    database, so DATABASE() is resolved here)."""
    if len(tables) != 1 or not isinstance(tree, exp.Select):
        return None, None
    info = SCHEMAS[tables[0][0]][tables[0][1]]
    where = tree.args.get("where")
    if info.scope != "database" or where is None or any(tree.find_all(exp.Subquery)):
        return None, None
    has = {name.lower() for name, _ in info.columns}
    schemas = names = None
    for condition in _conjuncts(where.this):
        if schemas is None:
            schemas = _literal_values(condition, _SCHEMA_COLUMNS & has, current_database)
        if names is None:
            found = _literal_values(condition, _NAME_COLUMNS & has, None)
            names = tuple(sorted({n.lower() for n in found})) if found is not None else None
    return schemas, names


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


def _literal_values(condition: exp.Expression, columns: set[str] | frozenset[str],
                    current_database: str | None) -> tuple[str, ...] | None:
    """The string values ``condition`` pins one of ``columns`` to, or None."""
    if isinstance(condition, exp.EQ):
        column, value = condition.this, condition.expression
        if isinstance(value, exp.Column):
            column, value = value, column
        if not (isinstance(column, exp.Column) and column.name.lower() in columns):
            return None
        if isinstance(value, exp.Literal) and value.is_string:
            return (value.this,)
        if isinstance(value, exp.Anonymous) and value.name == "MARMOT_DATABASE":
            return (current_database,) if current_database else ()
    if isinstance(condition, exp.In) and isinstance(condition.this, exp.Column) \
            and condition.this.name.lower() in columns:
        values = condition.expressions
        if values and all(isinstance(v, exp.Literal) and v.is_string for v in values):
            return tuple(v.this for v in values)
    return None


# ---------------------------------------------------------------------------------- results
def _run(conn: apsw.Connection, sql: str) -> tuple[list[tuple], list[tuple[str, str | None]]]:
    """Rows and (name, declared type) of each result column, also for an empty result: the
    description is taken by the execution tracer, before the first step completes it."""
    description: list[tuple[str, str | None]] = []

    def capture(cursor: apsw.Cursor, statement: str, bindings: object) -> bool:
        description[:] = cursor.getdescription()
        return True

    cursor = conn.cursor()
    cursor.exec_trace = capture
    rows = [tuple(r) for r in cursor.execute(sql)]
    return rows, description


def _columns(description: list[tuple[str, str | None]], rows: list[tuple]) -> list[Column]:
    columns = []
    for index, (name, decl) in enumerate(description):
        if decl:
            columns.append(coltypes.column_for_decltype(name, decl))
        else:
            sample = next((row[index] for row in rows if row[index] is not None), None)
            columns.append(column_for_value(name, sample))
    return columns


_NUMERIC_FLAGS = int(ColumnFlag.NUM | ColumnFlag.BINARY)
_BINARY_FLAG = int(ColumnFlag.BINARY)


def column_for_value(name: str, value: object) -> Column:
    """Column metadata for a computed value (no declared type)."""
    if isinstance(value, str):
        return text_column(name, max(len(value), 1))
    if isinstance(value, int):
        return Column(name, FieldType.LONGLONG, 21, _NUMERIC_FLAGS, charset=CHARSET_BINARY)
    if isinstance(value, float):
        return Column(name, FieldType.DOUBLE, 23, _NUMERIC_FLAGS, 31, charset=CHARSET_BINARY)
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return Column(name, FieldType.NEWDECIMAL, len(str(value)) + 1, _NUMERIC_FLAGS, scale,
                      charset=CHARSET_BINARY)
    if isinstance(value, (bytes, bytearray)):
        return Column(name, FieldType.VAR_STRING, max(len(value), 1), _BINARY_FLAG,
                      charset=CHARSET_BINARY)
    return text_column(name, 1)


# ---------------------------------------------------------------------------------- SQL functions
def _regexp(pattern: object, value: object) -> int | None:
    if pattern is None or value is None:
        return None
    return int(re.search(str(pattern), str(value), re.IGNORECASE) is not None)


def _substring_index(value: object, delimiter: object, count: object) -> object:
    if value is None or delimiter is None or count is None:
        return None
    text, sep, n = str(value), str(delimiter), int(count)  # type: ignore[call-overload]
    if not sep or n == 0:
        return ""
    parts = text.split(sep)
    return sep.join(parts[:n]) if n > 0 else sep.join(parts[n:])


def _find_in_set(needle: object, haystack: object) -> int | None:
    if needle is None or haystack is None:
        return None
    items = str(haystack).split(",") if haystack != "" else []
    lowered = str(needle).lower()
    return next((i for i, item in enumerate(items, 1) if item.lower() == lowered), 0)


_WORKSPACE: Workspace | None = None


def workspace() -> Workspace:
    """The process's workspace, created on first use."""
    global _WORKSPACE
    if _WORKSPACE is None:
        _WORKSPACE = Workspace()
    return _WORKSPACE
