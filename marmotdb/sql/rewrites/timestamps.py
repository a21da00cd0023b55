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

A comparison of a TIMESTAMP column with a constant (``ts >= '2020-01-01'``, BETWEEN, IN)
converts the constant to UTC instead (MYSQL_TIMESTAMP_UTC) and compares the column as stored,
as MySQL does, so an index on the column still serves it. Other comparisons, GROUP BY and ORDER
BY use the session's text: the same order for a fixed offset; for a named zone with a
daylight-saving change, the hour that repeats in autumn sorts by its local text (MySQL sorts
by the UTC values).

What is not converted in such a session is refused with 1235 rather than answered in the wrong
zone: a view over TIMESTAMP columns and a trigger body (both kept translated, and run, without
a session; ``refuse_unconverted``, ``refuse_triggers``), a row written where a generated
column or a CHECK reads a TIMESTAMP column (SQLite computes it from the UTC text), another
database's table with
TIMESTAMP columns, ``SELECT *`` over them from a derived table or a USING / NATURAL join
(dml.py ``expand_stars``), and a constant DEFAULT of a TIMESTAMP column in DDL
(ddl/offset_defaults.py: the stored definition holds text, which rows would take as UTC).
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
UTC = "MYSQL_TIMESTAMP_UTC"
_KEY = "MYSQL_TEMPORAL_KEY"
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
    """Read every TIMESTAMP column of ``tree`` in the session's time zone, except where it is
    compared with a constant (``_compare_in_utc``). A bare column in a select list keeps its
    name (MySQL names ``t.ts`` ``ts``)."""
    _compare_in_utc(tree, column_type)
    for column in list(tree.find_all(exp.Column)):
        parent = column.parent
        if isinstance(parent, exp.Anonymous) and str(parent.this).upper() == LOCAL or \
                column.meta.get(_AS_IS):
            continue  # read already (INSERT … SELECT's SELECT), or compared as stored
        if not is_timestamp(column_type(column)):
            continue
        local = call(LOCAL, column.copy())
        if isinstance(parent, exp.Select) and column.arg_key == "expressions":
            local = exp.alias_(local, column.name, quoted=True)
        column.replace(local)


_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ)


def _compare_in_utc(tree: exp.Expression, column_type: ColumnType) -> None:
    """``ts <op> constant``, ``ts BETWEEN c1 AND c2``, ``ts IN (c, …)``: the constants (the ones
    temporal.py made datetimes of, MYSQL_TEMPORAL_KEY) converted to UTC and the column compared
    as stored, as MySQL converts the constant: an index on the column serves the comparison."""
    for node in list(tree.find_all(*_COMPARISONS, exp.In, exp.Between)):
        if isinstance(node, _COMPARISONS):
            for column_key, other_key in (("this", "expression"), ("expression", "this")):
                column, other = node.args.get(column_key), node.args.get(other_key)
                if _stored_timestamp(column, column_type) and _constant(other):
                    stored_as_is(column)  # type: ignore[arg-type]
                    node.set(other_key, call(UTC, other))  # type: ignore[arg-type]
                    break
            continue
        listed = node.args.get("expressions") or []
        values = [node.args.get("low"), node.args.get("high"), *listed]
        values = [v for v in values if v is not None]
        if node.args.get("query") is None and values and all(map(_constant, values)) and \
                _stored_timestamp(node.this, column_type):
            stored_as_is(node.this)
            for key in ("low", "high"):
                if node.args.get(key) is not None:
                    node.set(key, call(UTC, node.args[key]))
            if node.args.get("expressions"):
                node.set("expressions", [call(UTC, v) for v in node.expressions])


def _stored_timestamp(node: exp.Expression | None, column_type: ColumnType) -> bool:
    return isinstance(node, exp.Column) and not node.meta.get(_AS_IS) and \
        is_timestamp(column_type(node))


def _constant(node: exp.Expression | None) -> bool:
    """A datetime temporal.py keyed (MYSQL_TEMPORAL_KEY) that reads no column."""
    return isinstance(node, exp.Anonymous) and str(node.this).upper() == _KEY and \
        node.find(exp.Column) is None and node.find(exp.Query) is None


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
    """Mark a column whose stored (UTC) value is used as it is: written back unchanged (an ON
    UPDATE column a statement leaves alone) or compared with a constant converted to UTC."""
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
                    triggers_of: Callable[[str], list[str]] | None, *,
                    stores_rows: bool = True) -> None:
    """1235 for a write to a table with triggers that could store or read a TIMESTAMP value
    (SQLite runs their bodies as translated once, for no session), or with a generated column
    or a CHECK reading one of its TIMESTAMP columns (SQLite computes them from the UTC text,
    MySQL from the session's value)."""
    for name in tables if stores_rows else ():  # a DELETE computes neither
        _refuse_expressions_over_timestamps(name, table_of(name))
    for name in tables if triggers_of is not None else ():
        bodies = triggers_of(name)  # type: ignore[misc]
        named = {n.replace('""', '"') for body in bodies for n in _QUOTED.findall(body)}
        if bodies and (any("'timestamp" in body.lower() for body in bodies)
                       or any((d := table_of(n)) is not None and has_timestamps(d)
                              for n in named | {name})):
            raise _refused(f"a write to '{name}', whose triggers use TIMESTAMP values,")


def _refuse_expressions_over_timestamps(name: str, table: TableDef | None) -> None:
    if table is None:
        return
    stamps = [c.name for c in table.columns if is_timestamp(c.type)]
    if not stamps:
        return
    mentions = re.compile(r"(?<![\w$])(?:" + "|".join(map(re.escape, stamps)) + r")(?![\w$])",
                          re.IGNORECASE)
    texts = [c.generated for c in table.columns if c.generated] + [
        c.expression for c in table.checks]
    if any(mentions.search(text) for text in texts):
        raise _refused(f"a write to '{name}', whose generated columns or CHECKs read its "
                       "TIMESTAMP columns,")


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
