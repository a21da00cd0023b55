"""TIMESTAMP columns in a session whose time_zone is not UTC.

Theory of operation
-------------------
MySQL stores a TIMESTAMP in UTC: a value written is converted from the session's time_zone,
a value read is converted to it (DATETIME never is). marmotdb stores a TIMESTAMP column's
value as UTC text. A session whose time zone is UTC (offset zero: the default, SYSTEM of a UTC
machine) reads and writes that text as it is, so its translations are exactly what they were
and nothing here runs for it. A session in another time zone gets translations of its own
(translate.py keys its cache on ``SchemaView.timestamps_local``), in which:

* every value stored into a TIMESTAMP column is converted to UTC by MYSQL_STORE: its last
  argument, ``local`` 1 (functions/store.py, ``_LocalStore``);
* every TIMESTAMP column read (the select list, WHERE, ON, GROUP BY, ORDER BY, HAVING, function
  arguments, the values an UPDATE assigns) is read through MYSQL_TIMESTAMP_LOCAL, UTC text to
  the session's. A value copied from one TIMESTAMP column to another goes there and back.

NOW() / CURRENT_TIMESTAMP defaults and ON UPDATE values of a TIMESTAMP column are UTC_TIMESTAMP()
in every session (rewrites/ddl/render.py, rewrites/dml.py), so they need no conversion.

Comparisons are made on the session's text: right for a fixed offset; for a named zone with a
daylight-saving change, the hour that repeats in autumn compares and sorts by its local text
(MySQL compares the UTC values). A comparison with a TIMESTAMP column reads the column through
a function, so no index on it is used in such a session (converting the literal side instead
is the next step). Statements this does not convert in such a session are refused with 1235
by ``refuse_unconverted`` rather than answered in the wrong zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp

from marmotdb.sql.rewrites.expressions import call, not_supported, number
from marmotdb.sql.schema import TableDef
from marmotdb.sql.types.coltypes import MySqlType

ColumnType = Callable[[exp.Column], MySqlType | None]
TableOf = Callable[[str], TableDef | None]
LOCAL = "MYSQL_TIMESTAMP_LOCAL"
_STORE_LENIENT_ARG = 4  # MYSQL_STORE(value, type, column, row, lenient, local)


def is_timestamp(found: MySqlType | None) -> bool:
    return found is not None and found.name == "timestamp"


def localize_select(select: exp.Expression, column_type: ColumnType,
                    decltypes: tuple[str | None, ...]) -> tuple[str | None, ...]:
    """``localize_reads`` of a SELECT; the result columns that were bare TIMESTAMP columns
    keep their type, which SQLite no longer sees through the function."""
    if isinstance(select, exp.Select):
        found = []
        for projection in select.expressions:
            target = projection.this if isinstance(projection, exp.Alias) else projection
            column = column_type(target) if isinstance(target, exp.Column) else None
            found.append(column.sqlite_decltype() if is_timestamp(column) else None)  # type: ignore[union-attr]
        if any(found):
            decltypes = tuple(d or f for d, f in zip(decltypes or found, found))
    localize_reads(select, column_type)
    return decltypes


def localized(value: exp.Expression, column_type: ColumnType) -> exp.Expression:
    """``value`` (an expression with no parent: a value an UPDATE assigns) read in the
    session's time zone."""
    if isinstance(value, exp.Column):
        return call(LOCAL, value) if is_timestamp(column_type(value)) else value
    localize_reads(value, column_type)
    return value


def localize_reads(tree: exp.Expression, column_type: ColumnType) -> None:
    """Read every TIMESTAMP column of ``tree`` in the session's time zone. A bare column in a
    select list keeps its name (MySQL names ``t.ts`` ``ts``)."""
    for column in list(tree.find_all(exp.Column)):
        parent = column.parent
        if isinstance(parent, exp.Anonymous) and str(parent.this).upper() == LOCAL:
            continue  # read already (INSERT … SELECT's SELECT)
        if not is_timestamp(column_type(column)):
            continue
        local = call(LOCAL, column.copy())
        if isinstance(parent, exp.Select) and column.arg_key == "expressions":
            local = exp.alias_(local, column.name, quoted=True)
        column.replace(local)


def localize_stores(tree: exp.Expression) -> None:
    """Make every MYSQL_STORE into a TIMESTAMP column read its value in the session's zone."""
    for node in tree.find_all(exp.Anonymous):
        if str(node.this).upper() != "MYSQL_STORE":
            continue
        args = node.expressions
        kind = args[1] if len(args) > 1 else None
        if not (isinstance(kind, exp.Literal) and kind.is_string
                and kind.this.lower().startswith("timestamp")):
            continue
        if len(args) == _STORE_LENIENT_ARG:
            args.append(number(0))
        args.append(number(1))
        node.set("expressions", args)


def stored_as_is(column: exp.Column) -> exp.Column:
    """Mark a column whose stored value is written back as it is (an ON UPDATE column a
    statement leaves unchanged): UTC to UTC, never read in the session's time zone."""
    column.meta[_AS_IS] = True
    return column


_AS_IS = "marmot_stored_as_is"


def has_timestamps(table: TableDef) -> bool:
    return any(is_timestamp(c.type) for c in table.columns)


def refuse_unconverted(tree: exp.Expression, table_of: TableOf,
                       view_sql: Callable[[str], str | None],
                       other_of: Callable[[str, str], TableDef | None] | None) -> None:
    """1235 where a TIMESTAMP value could still be read unconverted: a column of such a name
    left bare (one the rewrites could not place), a view over TIMESTAMP columns (kept and run
    without a session), another database's table with TIMESTAMP columns or not known as a
    table (``other_of(database, table)``; its columns are not typed here)."""
    names: set[str] = set()
    for table in tree.find_all(exp.Table):
        if table.db:
            other = other_of(table.db, table.name) if other_of is not None else None
            if other is None or has_timestamps(other):
                raise _refused("another database's table with TIMESTAMP columns (or a view)")
            continue
        found = table_of(table.name)
        if found is not None:
            names |= {c.name.lower() for c in found.columns if is_timestamp(c.type)}
        elif _view_reads_timestamps(table.name, table_of, view_sql, _VIEW_DEPTH_MAX):
            raise _refused(f"the view '{table.name}' over TIMESTAMP columns")
    for column in tree.find_all(exp.Column):
        parent = column.parent
        read = isinstance(parent, exp.Anonymous) and str(parent.this).upper() == LOCAL or \
            column.meta.get(_AS_IS)
        if not read and column.name.lower() in names and not _is_target(column) and \
                _may_be_timestamp(column, table_of):
            raise _refused(f"this use of the TIMESTAMP column '{column.name}'")


_SCOPES = (exp.Select, exp.Update, exp.Delete, exp.Insert)


def _may_be_timestamp(column: exp.Column, table_of: TableOf) -> bool:
    """Whether ``column`` names a TIMESTAMP column of a table its statement reads: the first
    table of its scope, or of the scopes around it, that has a column of that name."""
    scope = column.find_ancestor(*_SCOPES)
    unplaced = scope is None
    while scope is not None:
        for alias, name in _scope_tables(scope):
            if column.table and column.table.lower() not in (alias, "excluded"):
                continue
            found = table_of(name)
            named = found.column(column.name) if found is not None else None
            if named is not None:
                return is_timestamp(named.type)
        scope = scope.find_ancestor(*_SCOPES)
    return unplaced  # a column outside any scope (a node built without its parent): refuse


def _scope_tables(scope: exp.Expression) -> list[tuple[str, str]]:
    """(alias, name) of the tables a SELECT / UPDATE / DELETE / INSERT reads directly."""
    nodes = [scope.this] if not isinstance(scope, exp.Select) else []
    source = scope.args.get("from_")
    nodes += [source.this] if source is not None else []
    nodes += [j.this for j in scope.args.get("joins") or []]
    nodes = [n.this if isinstance(n, exp.Schema) else n for n in nodes]
    return [(n.alias_or_name.lower(), n.name) for n in nodes if isinstance(n, exp.Table)]


_VIEW_DEPTH_MAX = 16  # views over views followed this deep; deeper ones are refused


def _view_reads_timestamps(name: str, table_of: TableOf, view_sql: Callable[[str], str | None],
                           depth: int) -> bool:
    text = view_sql(name) or ""
    if not text.lstrip().upper().startswith("CREATE VIEW"):
        return False
    if depth == 0:
        return True
    try:
        body = sqlglot.parse_one(text, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return True
    query = body.expression if isinstance(body, exp.Create) else body
    for table in query.find_all(exp.Table) if query is not None else ():
        found = table_of(table.name)
        if found is not None and has_timestamps(found) or found is None and \
                _view_reads_timestamps(table.name, table_of, view_sql, depth - 1):
            return True
    return False


def refuse_triggers(tables: tuple[str, ...], table_of: TableOf,
                    triggers_of: Callable[[str], list[str]] | None) -> None:
    """1235 for a write to a table with triggers that could store or read a TIMESTAMP value:
    SQLite runs their bodies as translated once, for no session."""
    for name in tables if triggers_of is not None else ():
        bodies = triggers_of(name)  # type: ignore[misc]
        named = {n.replace('""', '"') for body in bodies for n in _QUOTED.findall(body)}
        if bodies and (any("'timestamp" in body.lower() for body in bodies)
                       or any((d := table_of(n)) is not None and has_timestamps(d)
                              for n in named | {name})):
            raise _refused(f"a write to '{name}', whose triggers use TIMESTAMP values,")


_QUOTED = re.compile(r'"((?:[^"]|"")+)"')  # the identifiers of generated SQL


def _is_target(column: exp.Column) -> bool:
    """A column named as a place to write (an INSERT's column list, an assignment's left
    side), not read."""
    parent = column.parent
    if isinstance(parent, exp.Schema):
        return True
    return isinstance(parent, exp.EQ) and column.arg_key == "this" and isinstance(
        parent.parent, (exp.Update, exp.OnConflict))


def _refused(what: str) -> Exception:
    return not_supported(f"{what} in a session whose time_zone is not UTC")
