"""Statement rewrites for SELECT, INSERT/REPLACE, UPDATE and DELETE.

Theory of operation
-------------------
Each ``rewrite_<statement>`` takes the sqlglot AST of one MySQL statement (already through the
expression rewrites of ``expressions.py``) and a ``DmlContext`` that can load MySQL table
definitions, and returns ``DmlResult``: the SQLite AST(s) plus what the executor must know.

Writes go through the target table's ``TableDef`` (``schema.py``):

* every value written is wrapped ``MYSQL_STORE(value, '<type>[ not null]', '<column>', row
  [, 1])`` so MySQL's coercion and strict-mode errors apply (last argument 1 = IGNORE:
  problems become warnings); an INSERT's AUTO_INCREMENT column, given or omitted, is
  ``MARMOT_AUTO_ID(stored value, '<table>', '<column>')``, which turns 0/NULL into a generated
  id at run time (txn/auto_increment.py: the node's claimed range in a cluster, SQLite's own
  numbering otherwise);
* omitted columns with DEFAULT CURRENT_TIMESTAMP / expression defaults are filled explicitly
  (session time zone, statement time), omitted NOT NULL columns without a default get
  ``MYSQL_NO_DEFAULT`` (1364 in strict mode);
* a generated column takes DEFAULT only (SQLite computes it); a value an INSERT row gives it is
  dropped and checked at run time by ``MYSQL_GENERATED_IGNORED`` on the row's first value:
  MySQL 8's 3105 in strict mode, else MariaDB's rule (ignored, warning 1906), which is what
  restores mariadb-dump's dumps (every column listed, SQL_MODE='NO_AUTO_VALUE_ON_ZERO');
  UPDATE's SET and INSERT … SELECT still refuse with 3105 in every mode;
* ``ON UPDATE CURRENT_TIMESTAMP`` columns are set when, and only when, another column changes;
* single-table UPDATE assignments see the values assigned before them (MySQL evaluates left to
  right; SQLite would use the old row);
* ON DUPLICATE KEY UPDATE becomes SQLite's upsert with ``VALUES(c)``/row aliases →
  ``excluded.c``; UPDATE … LIMIT, DELETE … ORDER BY … LIMIT and multi-table UPDATE/DELETE
  become ``rowid IN (SELECT …)`` / ``UPDATE … FROM (SELECT …)`` because APSW's SQLite has no
  UPDATE/DELETE LIMIT; UPDATE … ORDER BY becomes the ordered SELECT of its rowids and the
  UPDATE of one rowid, which the executor runs per row (``row_by_row``): MySQL changes the
  rows in that order, checking unique keys row by row, where SQLite goes in rowid order;
* SELECT modifiers (SQL_CALC_FOUND_ROWS, SQL_NO_CACHE, HIGH_PRIORITY, STRAIGHT_JOIN, index
  hints, FOR UPDATE/SHARE locks, FROM DUAL) are dropped, SQL_CALC_FOUND_ROWS noted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from marmotdb import errors
from marmotdb.sql.types.coltypes import INTEGER_RANGES, MySqlType
from marmotdb.sql.rewrites.expressions import call, not_supported, number, string
from marmotdb.sql.rewrites.decimal import (ColumnTyper, rewrite_decimal_projection,
                                           rewrite_decimal_value)
from marmotdb.sql.rewrites.json import type_json_select
from marmotdb.sql.rewrites.numeric_context import enum_position, rewrite_numeric_context
from marmotdb.sql.rewrites.temporal import rewrite_temporal_comparisons, temporal_decltypes
from marmotdb.sql.rewrites.timestamps import (
    has_timestamps,
    stored_as_is,
    localize_reads,
    localize_select,
    localized,
)
from marmotdb.sql.rewrites.unsigned import (
    ColumnName,
    ColumnType,
    rewrite_unsigned,
    unsigned_decltypes,
)
from marmotdb.sql.schema import ColumnDef, TableDef

# Column types whose values need no coercion beyond NOT NULL (SQLite stores them as given;
# their MySQL size limits are beyond max_allowed_packet). BLOB (65535 bytes) is checked.
_PASSTHROUGH_TYPES = frozenset({"longtext", "mediumtext", "longblob", "mediumblob"})
_PASSTHROUGH_BINARY = frozenset({"longblob", "mediumblob"})


@dataclass(slots=True)
class DmlContext:
    """What the statement rewrites may ask: table definitions by (lower-case) name, and the
    current database name (qualifiers naming it are dropped)."""

    load_table: Callable[[str], TableDef | None]
    database: str = ""
    # False for the SELECT of a view or CREATE TABLE … SELECT: its result columns are read by
    # other statements, which must see numbers, not the exact text shown to clients
    typed_results: bool = True
    # False for a trigger's body, which SQLite runs itself: an UPDATE … ORDER BY there
    # cannot be run row by row by the executor (DmlResult.row_by_row) and keeps rowid order
    row_by_row: bool = True
    # a session whose time_zone is not UTC: TIMESTAMP columns are converted (timestamps.py)
    local_timestamps: bool = False
    _tables: dict[str, TableDef | None] = field(default_factory=dict)

    def table(self, name: str) -> TableDef | None:
        key = name.lower()
        if key not in self._tables:
            self._tables[key] = self.load_table(key)
        return self._tables[key]


@dataclass(slots=True)
class DmlResult:
    statements: list[exp.Expression]
    tables: tuple[str, ...] = ()
    upsert: bool = False
    insert_ignore: bool = False
    calc_found_rows: bool = False
    found_rows: exp.Expression | None = None
    auto_increment: bool = False
    auto_increment_column: str = ""  # an INSERT's AUTO_INCREMENT column (MARMOT_AUTO_ID)
    auto_increment_max: int = 0  # the largest id its type holds
    result_decltypes: tuple[str | None, ...] = ()
    # UPDATE … ORDER BY: ``statements`` are the SELECT of the rowids to change, in that
    # order, and the UPDATE of one of them (``:marmot_rowid``), run once per rowid
    row_by_row: bool = False


ROWID_PARAMETER = "marmot_rowid"  # the rowid a row-by-row UPDATE changes (DmlResult)


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column_ref(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


# ---------------------------------------------------------------- databases

class OtherDatabase(errors.NotSupportedError):
    """The statement belongs in another database (its *home*): it writes a table there, or
    reads only tables there. The executor translates it again with that database as the
    current one (and ``qualify_tables`` for names that meant the current one); escaping
    anywhere else, it is MySQL error 1235."""

    def __init__(self, database: str, table: str):
        super().__init__("This version of marmotdb doesn't yet support 'writing to a table "
                         "of another database here'", code=errors.ER_NOT_SUPPORTED_YET,
                         sqlstate="42000")
        self.database = database
        self.table = table


@dataclass(frozen=True)
class ChangedTable:
    """One table a multi-table UPDATE/DELETE changes: its database (None: the home one), name,
    the alias the statement gives it, and for an UPDATE its assignments (column, the index of
    the value among ``MultipleTargets.values``)."""

    database: str | None
    name: str
    alias: str
    assignments: tuple[tuple[str, int], ...] = ()


class MultipleTargets(errors.NotSupportedError):
    """A multi-table UPDATE or DELETE that changes more than one table, possibly of several
    databases: one SQLite statement changes one table, so the executor runs it as a read of
    the joined rows (``source``: the statement's FROM and WHERE, the assigned values as its
    columns) and a write per changed row (sql/multi_target.py). Escaping anywhere else, it is
    MySQL error 1235."""

    def __init__(self, what: str, source: exp.Select, targets: list[ChangedTable],
                 home: str):
        super().__init__(f"This version of marmotdb doesn't yet support '{what}'",
                         code=errors.ER_NOT_SUPPORTED_YET, sqlstate="42000")
        self.source = source
        self.targets = targets
        self.home = home  # the database unqualified names of ``source`` mean ("" for none)


def qualify_tables(tree: exp.Expression, database: str) -> None:
    """Unqualified tables are ``database``'s (the session's current one) in a statement that
    runs in another database; with no database selected they are an error (1046)."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name
        if table.args.get("db") is not None or not name or name.lower() in ctes or \
                name.upper() == "DUAL":
            continue
        if not database:
            raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
        table.set("db", exp.to_identifier(database))


def named_tables(tree: exp.Expression) -> list[tuple[str, str]]:
    """(database qualifier or '', name) of every table the statement names (not CTEs)."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return [(table.db, table.name) for table in tree.find_all(exp.Table)
            if table.name and table.name.lower() not in ctes and table.name.upper() != "DUAL"]


def only_database(tree: exp.Expression) -> tuple[str, str] | None:
    """(database, a table) when every table a query reads is qualified with one database."""
    found = named_tables(tree)
    databases = {db.lower() for db, _ in found}
    if len(databases) != 1 or not next(iter(databases)):
        return None
    return found[0]


def table_references(tree: exp.Expression
                     ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """After ``strip_database``: the home database's tables the statement names (lower-case)
    and (database, table) of the other databases' tables (still qualified)."""
    found = named_tables(tree)
    home = tuple(sorted({name.lower() for db, name in found if not db}))
    return home, tuple(sorted({(db.lower(), name) for db, name in found if db}))


# ---------------------------------------------------------------- shared pieces

NodeIndex = dict[type, list[exp.Expression]]


def node_index(tree: exp.Expression) -> NodeIndex:
    """Every node of ``tree`` by class, from one walk (each find_all would walk again)."""
    index: NodeIndex = defaultdict(list)
    for node in tree.walk():
        index[type(node)].append(node)
    return index


def strip_database(tree: exp.Expression, database: str, index: NodeIndex | None = None) -> None:
    """Drop ``db.`` qualifiers that name the current database (SQLite has one schema)."""
    index = index if index is not None else node_index(tree)
    lowered = database.lower()
    for table in index[exp.Table]:
        db = table.args.get("db")
        if db is not None and lowered and db.name.lower() == lowered:
            table.set("db", None)
    for column in index[exp.Column]:
        db = column.args.get("db")
        if db is not None and lowered and db.name.lower() == lowered:
            column.set("db", None)


def drop_select_noise(tree: exp.Expression, index: NodeIndex | None = None,
                      ctx: DmlContext | None = None) -> bool:
    """Remove MySQL-only SELECT decorations; True if SQL_CALC_FOUND_ROWS was present. Index
    hints go (SQLite plans alone), after checking that the keys they name exist (1176)."""
    index = index if index is not None else node_index(tree)
    found = False
    for select in index[exp.Select]:
        modifiers = select.args.get("operation_modifiers") or []
        names = {m.name.upper() for m in modifiers}
        found = found or "SQL_CALC_FOUND_ROWS" in names
        select.set("operation_modifiers", None)
        select.set("locks", None)
        if select.args.get("into") is not None:
            raise not_supported("SELECT … INTO")
        source = select.args.get("from_")
        if source is not None and isinstance(source.this, exp.Table) and \
                source.this.name.upper() == "DUAL" and not source.this.args.get("db"):
            select.set("from_", None)
    for table in index[exp.Table]:
        if table.args.get("hints") and ctx is not None:
            _check_index_hints(table, ctx)
        table.set("hints", None)
    for join in index[exp.Join]:
        if str(join.args.get("kind") or "").upper() == "STRAIGHT_JOIN":
            join.set("kind", None)
    for clause in index[exp.Limit] + index[exp.Offset]:
        _clamp_limit(clause)
    for group in index[exp.Group]:
        if group.args.get("rollup") or group.args.get("with_rollup"):
            raise not_supported("GROUP BY … WITH ROLLUP")
    return found


def _check_index_hints(table: exp.Table, ctx: DmlContext) -> None:
    definition = ctx.table(table.name) if table.args.get("db") is None else None
    if definition is None:
        return  # a CTE, a derived name, another database: nothing to check against
    keys = {i.name.lower() for i in definition.indexes}
    for hint in table.args["hints"]:
        for key in hint.expressions if isinstance(hint, exp.IndexTableHint) else ():
            if key.name.lower() not in keys:
                raise errors.error(errors.ER_KEY_DOES_NOT_EXIST, f"Key '{key.name}' doesn't exist in "
                                   f"table '{table.alias_or_name}'")


_INT64_MAX = 2**63 - 1


def _clamp_limit(clause: exp.Expression) -> None:
    """LIMIT 18446744073709551615 (MySQL's "all rows") is beyond SQLite's 64-bit integers."""
    value = clause.expression
    if isinstance(value, exp.Placeholder) or (isinstance(value, exp.Literal) and
                                              not value.is_string and
                                              int(float(value.this)) > _INT64_MAX):
        clause.set("expression", exp.Anonymous(this="min", expressions=[
            value.copy(), exp.Literal.number(_INT64_MAX)]))


def _table_name(node: exp.Expression) -> str:
    table = node.this if isinstance(node, exp.Schema) else node
    if not isinstance(table, exp.Table):
        raise not_supported(f"writing to {node.sql(dialect='mysql')}")
    if table.args.get("db") is not None:  # not stripped: not the home database
        raise OtherDatabase(table.db.lower(), table.name)
    return table.name


def _target(ctx: DmlContext, table: exp.Table) -> TableDef:
    """The definition of the table a statement writes, which must be in its home database."""
    return _require(ctx, _table_name(table))


def _require(ctx: DmlContext, name: str) -> TableDef:
    table = ctx.table(name)
    if table is None:
        database = ctx.database or "marmot"
        raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{database}.{name}' doesn't exist")
    return table


def store(value: exp.Expression, column: ColumnDef, row: int, ignore: bool,
          inserted_into: str | None = None) -> exp.Expression:
    """Wrap ``value`` in the coercion MySQL applies when storing it into ``column`` (of the
    table ``inserted_into`` when an INSERT writes it: AUTO_INCREMENT generates there)."""
    if column.auto_increment:
        stored = call("MYSQL_STORE", value, string(column.type.column_type()),
                      string(column.name), number(row), number(int(ignore)))
        if inserted_into is not None:
            return auto_id(stored, inserted_into, column)
        return exp.Nullif(this=stored, expression=number(0))
    if column.type.name in _PASSTHROUGH_TYPES and column.nullable:
        if column.type.name in _PASSTHROUGH_BINARY:  # a text literal is stored as its bytes
            return exp.Cast(this=value, to=exp.DataType.build("BLOB"))
        return value
    type_text = column.type.column_type() + ("" if column.nullable else " not null")
    args = [value, string(type_text), string(column.name), number(row)]
    if ignore:
        args.append(number(1))
    return call("MYSQL_STORE", *args)


def auto_id(value: exp.Expression, table: str, column: ColumnDef) -> exp.Expression:
    """The id an INSERT stores in ``table``'s AUTO_INCREMENT ``column`` for ``value`` (the
    last argument: the largest id the column's type holds)."""
    return call("MARMOT_AUTO_ID", value, string(table), string(column.name),
                number(auto_id_max(column)))


def auto_id_max(column: ColumnDef) -> int:
    """The largest value an AUTO_INCREMENT column's integer type holds."""
    t = column.type
    low_high = INTEGER_RANGES.get(t.name)
    if low_high is None:
        return INTEGER_RANGES["bigint"][1]
    return low_high[2] if t.unsigned else low_high[1]


def default_value(column: ColumnDef, inserted_into: str | None = None) -> exp.Expression:
    """The SQLite expression for a column's default (used for omitted and DEFAULT values)."""
    from marmotdb.sql.rewrites.ddl.render import default_expression
    if column.auto_increment:
        return auto_id(exp.Null(), inserted_into, column) if inserted_into else exp.Null()
    if column.default_kind is None and not column.nullable and column.type.name == "enum" \
            and column.type.values:
        return string(column.type.values[0])  # MySQL: a NOT NULL ENUM defaults to its first
    if column.default_kind is None and not column.nullable and column.generated is None:
        return call("MYSQL_NO_DEFAULT", string(column.name), string(column.type.column_type()))
    return default_expression(column)


def _changed_any(assignments: list[tuple[ColumnDef, exp.Expression]]) -> exp.Expression:
    tests = [exp.Not(this=exp.Is(this=column_ref(c.name), expression=v.copy()))
             for c, v in assignments]
    return exp.or_(*tests) if tests else exp.false()


def on_update_assignments(table: TableDef, assignments: list[tuple[ColumnDef, exp.Expression]]
                          ) -> list[tuple[ColumnDef, exp.Expression]]:
    """``ts = CASE WHEN <a column changes> THEN now ELSE ts END`` for ON UPDATE columns."""
    assigned = {c.name.lower() for c, _ in assignments}
    extra = []
    for column in table.columns:
        if column.on_update_fsp is None or column.name.lower() in assigned:
            continue
        fsp = column.on_update_fsp
        clock = "MYSQL_UTC_TIMESTAMP" if column.type.name == "timestamp" else "MYSQL_NOW"
        now = call(clock, number(fsp)) if fsp else call(clock)
        value = exp.Case(ifs=[exp.If(this=_changed_any(assignments), true=now)],
                         default=stored_as_is(column_ref(column.name)))
        extra.append((column, value))
    return extra


def _eq(column: ColumnDef, value: exp.Expression, table: str | None = None) -> exp.EQ:
    return exp.EQ(this=column_ref(column.name, table), expression=value)


ER_WRONG_VALUE_FOR_GENERATED = 3105


def _target_column(table: TableDef, node: exp.Expression, *,
                   generated_ok: bool = False) -> ColumnDef:
    """The column a value is written to; a generated one is 3105 unless ``generated_ok`` (an
    INSERT's column list: its values are DEFAULT or checked at run time, see _drop_generated)."""
    name = node.name if isinstance(node, (exp.Column, exp.Identifier)) else node.sql()
    column = table.column(name)
    if column is None:
        raise errors.error(errors.ER_BAD_FIELD_ERROR, f"Unknown column '{name}' in 'field list'")
    if column.generated is not None and not generated_ok:
        raise _generated_written(column, table)
    return column


def _generated_written(column: ColumnDef, table: TableDef) -> errors.MarmotError:
    return errors.error(ER_WRONG_VALUE_FOR_GENERATED, f"The value specified for generated "
                        f"column '{column.name}' in table '{table.name}' is not allowed.")


def _assignments(table: TableDef, equalities: list[exp.Expression]) -> list[exp.Expression]:
    """SET/ON DUPLICATE KEY UPDATE assignments without ``generated = DEFAULT`` (MySQL accepts
    it and keeps the generated value); any other value for a generated column is 3105."""
    kept = []
    for equality in equalities:
        column = table.column(equality.this.name) if isinstance(
            equality.this, (exp.Column, exp.Identifier)) else None
        value = equality.expression
        keyword = _is_default(value) or (isinstance(value, exp.Column) and not value.table
                                         and not value.this.quoted
                                         and value.name.upper() == "DEFAULT")
        if column is not None and column.generated is not None and keyword:
            continue
        kept.append(equality)
    if not kept and equalities:  # only DEFAULTs: the rows stay as they are
        writable = next(c for c in table.columns if c.generated is None)
        kept.append(exp.EQ(this=column_ref(writable.name), expression=column_ref(writable.name)))
    return kept


Ignored = list[list[tuple[ColumnDef, exp.Expression]]]  # per VALUES row: generated, given


def _drop_generated(columns: list[ColumnDef], source: exp.Expression | None, table: TableDef
                    ) -> tuple[list[ColumnDef], Ignored]:
    """An INSERT naming generated columns (every column when it has no column list, as MySQL
    wants) may give them DEFAULT, which is dropped here (SQLite computes them). Any other
    value in a VALUES row is dropped too and returned per row, for ``_value_rows`` to check
    at run time (MYSQL_GENERATED_IGNORED: 3105 in strict mode, else ignored with a warning);
    a query's value is 3105. Changes ``source``'s rows in place."""
    positions = [i for i, c in enumerate(columns) if c.generated is not None]
    kept = [c for c in columns if c.generated is None]
    if not positions:
        return columns, []
    if not isinstance(source, exp.Values):
        if source is None or (isinstance(source, exp.Tuple) and not source.expressions):
            return kept, []
        raise _generated_written(columns[positions[0]], table)
    ignored: Ignored = []
    for row in source.expressions:
        values = list(row.expressions) if isinstance(row, exp.Tuple) else []
        if len(values) != len(columns):
            raise errors.error(errors.ER_WRONG_VALUE_COUNT_ON_ROW, "Column count doesn't "
                               f"match value count at row {source.expressions.index(row) + 1}")
        given = [(columns[i], values[i]) for i in positions if not _is_default(values[i])]
        if given and not kept and not _fill_columns(table, []):
            raise _generated_written(given[0][0], table)  # no value left to carry the check
        ignored.append(given)
        row.set("expressions", [v for i, v in enumerate(values) if i not in positions])
    return kept, ignored


def _generated_ignored(row: list[exp.Expression], given: list[tuple[ColumnDef, exp.Expression]],
                       table: str) -> list[exp.Expression]:
    """The row's first value carries the run-time check of each value given for a generated
    column (the value stays in the SQL: its placeholder is bound like any other)."""
    if not given:
        return row
    carrier = row[0]
    for column, value in given:
        carrier = call("MYSQL_GENERATED_IGNORED", carrier, value, string(column.name),
                       string(table))
    return [carrier, *row[1:]]


def substitute_assigned(expression: exp.Expression, assigned: dict[str, exp.Expression],
                        aliases: set[str]) -> exp.Expression:
    """References to columns assigned earlier in the same SET take their new value."""
    if not assigned:
        return expression

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name.lower() in assigned and (
                not node.table or node.table.lower() in aliases):
            return exp.Paren(this=assigned[node.name.lower()].copy())
        return node
    return expression.transform(swap, copy=False)


# ---------------------------------------------------------------- SELECT

ER_SP_UNDECLARED_VAR = 1327


def refuse_returning(tree: exp.Expression) -> None:
    """MySQL 8 has no RETURNING (MariaDB's INSERT/DELETE … RETURNING is not MySQL's): 1064,
    rather than run the write and drop the clause (sqlglot and SQLite would take it)."""
    returning = tree.args.get("returning")
    if returning is not None:
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check "
                           "the manual that corresponds to your MySQL server version for the "
                           f"right syntax to use near '{returning.sql(dialect='mysql').strip()}'")


def check_limits(tree: exp.Expression) -> None:
    """MySQL's grammar takes only integer literals and ``?`` in LIMIT / OFFSET (1064 for an
    expression, a column, a subquery or a negative number); SQLite would take any."""
    for node in tree.find_all(exp.Limit, exp.Offset):
        value = node.expression
        if isinstance(value, exp.Column):  # a name there is a stored program's variable
            raise errors.error(ER_SP_UNDECLARED_VAR, f"Undeclared variable: {value.name}")
        if not (isinstance(value, exp.Placeholder) or
                isinstance(value, exp.Literal) and not value.is_string):
            raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; "
                               "check the manual that corresponds to your MySQL server version "
                               f"for the right syntax to use near '{value.sql(dialect='mysql')}'")


def rewrite_select(tree: exp.Expression, ctx: DmlContext) -> DmlResult:
    check_limits(tree)
    index = node_index(tree)
    strip_database(tree, ctx.database, index)
    if ctx.local_timestamps:  # timestamps.py: each TIMESTAMP column read through a function
        expand_stars(tree, ctx, has_timestamps)
        index = node_index(tree)
    calc = drop_select_noise(tree, index, ctx)
    rewrite_decimal_aggregates(index, ctx)
    rewrite_enum_order(index, ctx)
    rewrite_numeric_context(tree, _select_column_type(ctx))  # numeric_context.py
    check_fulltext_keys(tree, ctx)
    found_rows = found_rows_query(tree) if calc else None
    decltypes = rewrite_decimal_projection(tree, _column_typer(ctx)) \
        if ctx.typed_results else ()
    tree = rewrite_unsigned(tree, _select_column_type(ctx), _select_column_name(ctx))
    rewrite_temporal_comparisons(tree, _select_column_type(ctx))  # temporal.py
    if isinstance(tree, exp.Select):  # JSON (json.py) and BIGINT UNSIGNED results
        extra = [type_json_select(tree, _column_typer(ctx)),
                 unsigned_decltypes(tree, _select_column_type(ctx)),
                 temporal_decltypes(tree, _select_column_type(ctx))]
        for more in extra:
            if ctx.typed_results and any(more):
                decltypes = tuple(d or m for d, m in zip(decltypes or more, more))
    if ctx.local_timestamps:  # timestamps.py
        decltypes = localize_select(tree, _scoped_column_type(ctx), decltypes)
    return DmlResult([tree], calc_found_rows=calc, found_rows=found_rows,
                     result_decltypes=decltypes)


def _select_column_type(ctx: DmlContext) -> ColumnType:
    def column_type(column: exp.Column) -> MySqlType | None:
        select = column.find_ancestor(exp.Select)
        found = resolve_column(column, select, ctx) if select is not None else None
        return found.type if found is not None else None
    return column_type


def _select_column_name(ctx: DmlContext) -> ColumnName:
    """A column as MySQL prints it in an error's expression: `db`.`table`.`column`, or
    `alias`.`column` for an aliased table (unsigned.py, 1690)."""
    def column_name(column: exp.Column) -> str | None:
        select = column.find_ancestor(exp.Select)
        tables = source_tables(select) if select is not None else {}
        owners = [column.table.lower()] if column.table else [
            alias for alias, name in tables.items() if (d := ctx.table(name)) is not None
            and d.column(column.name) is not None]
        if len(owners) != 1 or owners[0] not in tables:
            return None
        table = ctx.table(tables[owners[0]])
        found = table.column(column.name) if table is not None else None
        return printed_column(ctx.database, table.name, owners[0], found.name) \
            if table is not None and found is not None else None
    return column_name


def printed_column(database: str, table: str, alias: str, column: str) -> str:
    if alias.lower() != table.lower():
        return f"`{alias}`.`{column}`"
    return f"`{database}`.`{table}`.`{column}`"


def _localize_clauses(tree: exp.Expression, column_type: ColumnType | None) -> None:
    """A single-table UPDATE / DELETE's WHERE and ORDER BY read in the session's time zone
    (timestamps.py), when ``column_type`` is given."""
    for clause in ("where", "order"):
        if column_type is not None and tree.args.get(clause) is not None:
            localize_reads(tree.args[clause], column_type)


def _local_column_type(ctx: DmlContext, table_type: ColumnType) -> ColumnType | None:
    """For a session whose time_zone is not UTC (timestamps.py): a single-table UPDATE /
    DELETE's column types, its subqueries' too; None otherwise."""
    if not ctx.local_timestamps:
        return None
    select_type = _select_column_type(ctx)
    return lambda column: table_type(column) or select_type(column)


def _table_column_type(table: TableDef, aliases: set[str]) -> ColumnType:
    """Column types of a single-table UPDATE/DELETE (a subquery's columns are not typed)."""
    def column_type(column: exp.Column) -> MySqlType | None:
        if (column.table and column.table.lower() not in aliases) or \
                column.find_ancestor(exp.Select) is not None:
            return None
        found = table.column(column.name)
        return found.type if found is not None else None
    return column_type


def _table_column_name(database: str, table: TableDef, target: exp.Table) -> ColumnName:
    """_select_column_name for a single-table UPDATE/DELETE."""
    alias = target.alias_or_name
    def column_name(column: exp.Column) -> str | None:
        if (column.table and column.table.lower() != alias.lower()) or \
                column.find_ancestor(exp.Select) is not None:
            return None
        found = table.column(column.name)
        return printed_column(database, table.name, alias, found.name) \
            if found is not None else None
    return column_name


def _column_typer(ctx: DmlContext) -> ColumnTyper:
    def column_type(column: exp.Column, select: exp.Select) -> MySqlType | None:
        found = resolve_column(column, select, ctx)
        return found.type if found is not None else None
    return column_type


def found_rows_query(tree: exp.Expression) -> exp.Expression:
    """SELECT COUNT(*) over the statement without its LIMIT/OFFSET (SQL_CALC_FOUND_ROWS)."""
    unlimited = tree.copy()
    unlimited.set("limit", None)
    unlimited.set("offset", None)
    unlimited.set("order", None)
    return exp.select(exp.Count(this=exp.Star())).from_(
        exp.Subquery(this=unlimited, alias=exp.TableAlias(this=ident("__marmot_found"))))


_DECIMAL_AGGREGATES = {exp.Sum: "MYSQL_SUM_DECIMAL", exp.Avg: "MYSQL_AVG_DECIMAL"}


def rewrite_decimal_aggregates(index: NodeIndex, ctx: DmlContext) -> None:
    """SUM/AVG of a DECIMAL column sum exactly (SQLite would add doubles)."""
    for node in index[exp.Sum] + index[exp.Avg]:
        argument = node.this
        if not isinstance(argument, exp.Column) or isinstance(node.parent, exp.Window):
            continue  # window aggregates stay SQLite's (a Python aggregate cannot be one)
        select = node.find_ancestor(exp.Select)
        column = resolve_column(argument, select, ctx) if select is not None else None
        if column is not None and column.type.family == "decimal":
            node.replace(call(_DECIMAL_AGGREGATES[type(node)], argument.copy()))


def rewrite_enum_order(index: NodeIndex, ctx: DmlContext) -> None:
    """ORDER BY an ENUM column sorts by member position in MySQL, not by the text."""
    for ordered in index[exp.Ordered]:
        column = ordered.this
        select = ordered.find_ancestor(exp.Select)
        if not isinstance(column, exp.Column) or select is None:
            continue
        definition = resolve_column(column, select, ctx)
        if definition is None or definition.type.name != "enum":
            continue
        ordered.set("this", enum_position(column, definition.type))


def check_fulltext_keys(tree: exp.Expression, ctx: DmlContext) -> None:
    """InnoDB runs MATCH (cols) only with a FULLTEXT key on exactly those columns (1191); a
    column this cannot place in one of the statement's own tables is left to run."""
    for node in tree.find_all(exp.Anonymous):
        if str(node.this).upper() != "MYSQL_MATCH_AGAINST":
            continue
        select = node.find_ancestor(exp.Select)
        found = [_column_table(c, select, ctx) if isinstance(c, exp.Column) else None
                 for c in node.expressions[2:]] if select is not None else [None]
        if any(f is None for f in found) or len({id(t) for t, _ in found}) != 1:
            continue
        table, names = found[0][0], {name.lower() for _, name in found}
        if not any(i.kind == "FULLTEXT" and {c.lower() for c, _, _ in i.columns} == names
                   for i in table.indexes):
            raise errors.error(errors.ER_FT_MATCHING_KEY_NOT_FOUND,
                               "Can't find FULLTEXT index matching the column list")


def _column_table(column: exp.Column, select: exp.Expression, ctx: DmlContext
                  ) -> tuple[TableDef, str] | None:
    tables = [t for alias, name in source_tables(select).items()
              if not column.table or alias == column.table.lower()
              if (t := ctx.table(name)) is not None and t.column(column.name) is not None]
    return (tables[0], column.name) if len(tables) == 1 else None


def source_tables(select: exp.Expression) -> dict[str, str]:
    """alias (lower-case) -> table name for the tables a SELECT reads directly."""
    found: dict[str, str] = {}
    source = select.args.get("from_")
    tables = [source.this] if source is not None else []
    tables += [j.this for j in select.args.get("joins") or []]
    for table in tables:
        if isinstance(table, exp.Table) and not table.db:  # another database's: not typed
            found[table.alias_or_name.lower()] = table.name
    return found


def resolve_column(column: exp.Column, select: exp.Expression, ctx: DmlContext
                   ) -> ColumnDef | None:
    tables = source_tables(select)
    if column.table:
        name = tables.get(column.table.lower())
        table = ctx.table(name) if name else None
        return table.column(column.name) if table else None
    matches = [c for t in tables.values() if (d := ctx.table(t)) is not None
               and (c := d.column(column.name)) is not None]
    return matches[0] if len(matches) == 1 else None


def _scoped_column_type(ctx: DmlContext) -> ColumnType:
    """A column's type looked up in its own SELECT, then in the SELECTs around it (a
    correlated subquery's outer columns): what timestamps.py must not miss."""
    def column_type(column: exp.Column) -> MySqlType | None:
        select = column.find_ancestor(exp.Select)
        while select is not None:
            tables = source_tables(select)
            if column.table and column.table.lower() in tables or not column.table and any(
                    (d := ctx.table(t)) is not None and d.column(column.name) is not None
                    for t in tables.values()):
                found = resolve_column(column, select, ctx)
                return found.type if found is not None else None
            select = select.find_ancestor(exp.Select)
        return None
    return column_type


def expand_stars(tree: exp.Expression, ctx: DmlContext,
                 wanted: Callable[[TableDef], bool]) -> None:
    """``*`` and ``t.*`` as the columns they stand for, in every SELECT of ``tree`` whose
    tables include one ``wanted`` says must be read column by column (timestamps.py); 1235
    where that cannot be done here (a derived table, USING / NATURAL joins)."""
    for select in list(tree.find_all(exp.Select)):
        stars = [p for p in select.expressions if isinstance(p, exp.Star) or (
            isinstance(p, exp.Column) and isinstance(p.this, exp.Star))]
        if not stars:
            continue
        order = _ordered_sources(select)
        defs = {alias: ctx.table(name) if name is not None else None
                for alias, name in order}
        if not any(d is not None and wanted(d) for d in defs.values()):
            continue
        if any(d is None for d in defs.values()) or any(
                j.args.get("using") or j.args.get("method") for j in
                select.args.get("joins") or []):
            raise not_supported("SELECT * over TIMESTAMP columns with a derived table or a "
                                "USING / NATURAL join in a session whose time_zone is not UTC")
        expanded: list[exp.Expression] = []
        for projection in select.expressions:
            if projection not in stars:
                expanded.append(projection)
                continue
            only = projection.table.lower() if isinstance(projection, exp.Column) else None
            expanded += [exp.column(c.name, table=ident(alias_name))
                         for alias_name, _ in order
                         if only is None or alias_name.lower() == only
                         for c in defs[alias_name].columns]  # type: ignore[union-attr]
        select.set("expressions", expanded)


def _ordered_sources(select: exp.Select) -> list[tuple[str, str | None]]:
    """(alias, table name or None for what is not a table of this database), in FROM order."""
    source = select.args.get("from_")
    nodes = [source.this] if source is not None else []
    nodes += [j.this for j in select.args.get("joins") or []]
    return [(n.alias_or_name, n.name if isinstance(n, exp.Table) and not n.db else None)
            for n in nodes]


# ---------------------------------------------------------------- INSERT / REPLACE

def _fill_columns(table: TableDef, given: list[ColumnDef]) -> list[tuple[ColumnDef,
                                                                          exp.Expression]]:
    named = {c.name.lower() for c in given}
    fill = []
    for column in table.columns:
        if column.name.lower() in named or column.generated is not None:
            continue
        # Every default is written explicitly, NULL too: the SQLite declaration's DEFAULT may
        # be stale (ALTER … SET/DROP DEFAULT changes only the MySQL definition) or
        # session-dependent.
        fill.append((column, default_value(column, table.name)))
    return fill


def _insert_columns(tree: exp.Insert, table: TableDef) -> list[ColumnDef]:
    target = tree.this
    if not isinstance(target, exp.Schema):
        return list(table.columns)  # generated ones too: their values must be DEFAULT
    columns = [_target_column(table, c, generated_ok=True) for c in target.expressions]
    seen: set[str] = set()
    for column in columns:
        if column.name.lower() in seen:
            raise errors.error(errors.ER_FIELD_SPECIFIED_TWICE,
                               f"Column '{column.name}' specified twice")
        seen.add(column.name.lower())
    return columns


def _exact_arithmetic(value: exp.Expression) -> exp.Expression:
    """A VALUES expression's integer + - * exact, 1690 out of range (unsigned.py); anything
    else (a literal, a placeholder, ``-5``) stays as it is, at no cost."""
    if not isinstance(value, (exp.Add, exp.Sub, exp.Mul)):
        return value
    return rewrite_unsigned(value, lambda column: None)


def _value_rows(source: exp.Values, columns: list[ColumnDef], fill: list[tuple[ColumnDef,
                exp.Expression]], ignore: bool, table: str, ignored: Ignored
                ) -> list[exp.Tuple]:
    rows = []
    for index, row in enumerate(source.expressions, start=1):
        values = row.expressions if isinstance(row, exp.Tuple) else [row]
        if len(values) != len(columns) and not (not values and not columns):
            raise errors.error(errors.ER_WRONG_VALUE_COUNT_ON_ROW,
                               f"Column count doesn't match value count at row {index}")
        stored = [default_value(c, table) if _is_default(v) else
                  store(_exact_arithmetic(v), c, index, ignore, table)
                  for v, c in zip(values, columns)]
        known = {c.name.lower(): v for c, v in zip(columns, stored)}
        row_values = stored + [bind_default(e, known) for _, e in fill]
        given = ignored[index - 1] if ignored else []
        rows.append(exp.Tuple(expressions=_generated_ignored(row_values, given, table)))
    return rows


def bind_default(default: exp.Expression, row: dict[str, exp.Expression]) -> exp.Expression:
    """A DEFAULT (expr) may read the row's other columns: replace them by this row's values
    (a column the row does not set reads as NULL)."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            value = row.get(node.name.lower())
            return exp.Paren(this=value.copy()) if value is not None else exp.Null()
        return node
    return default.copy().transform(swap, copy=False)


def _is_default(value: exp.Expression) -> bool:
    return isinstance(value, exp.Var) and value.name.upper() == "DEFAULT"


def _wrap_query(query: exp.Expression, columns: list[ColumnDef],
                fill: list[tuple[ColumnDef, exp.Expression]], ignore: bool,
                upsert: bool, table: str) -> exp.Expression:
    names = [f"c{i}" for i in range(len(columns))]
    if isinstance(query, exp.Select) and not any(isinstance(p, exp.Star) or (
            isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
            for p in query.expressions) and len(query.expressions) != len(columns):
        raise errors.error(errors.ER_WRONG_VALUE_COUNT_ON_ROW,
                           "Column count doesn't match value count at row 1")
    cte = exp.CTE(this=query, alias=exp.TableAlias(this=ident("__marmot_src"),
                                                   columns=[ident(n) for n in names]))
    outer = exp.Select(expressions=[store(column_ref(n), c, 1, ignore, table)
                                    for n, c in zip(names, columns)]
                       + [bind_default(e, {c.name.lower(): column_ref(n) for n, c in
                                           zip(names, columns)}) for _, e in fill])
    outer.set("from_", exp.From(this=exp.Table(this=ident("__marmot_src"))))
    outer.set("with_", exp.With(expressions=[cte]))
    if upsert:
        outer.set("where", exp.Where(this=exp.true()))
    return outer


def rewrite_insert(tree: exp.Insert, ctx: DmlContext, *, replace: bool = False,
                   ignore: bool = False) -> DmlResult:
    refuse_returning(tree)
    strip_database(tree, ctx.database)
    name = _table_name(tree.this)
    table = _require(ctx, name)
    ignore = ignore or bool(tree.args.get("ignore"))
    columns = _insert_columns(tree, table)
    source = tree.expression
    if isinstance(source, exp.Values) and all(
            isinstance(r, exp.Tuple) and not r.expressions for r in source.expressions):
        columns = []  # VALUES () / () VALUES (): every column takes its default
    columns, ignored = _drop_generated(columns, source, table)
    fill = _fill_columns(table, columns)
    conflict = tree.args.get("conflict")
    upsert = conflict is not None and bool(conflict.args.get("duplicate"))
    drop_select_noise(source, ctx=ctx) if source is not None else None
    all_columns = columns + [c for c, _ in fill]
    statement = exp.Insert(this=exp.Schema(this=exp.Table(this=ident(table.name)),
                                           expressions=[ident(c.name) for c in all_columns]))
    if isinstance(source, exp.Values):
        if ctx.local_timestamps:  # timestamps.py: a subquery among the values
            localize_reads(source, _scoped_column_type(ctx))
        statement.set("expression", exp.Values(
            expressions=_value_rows(source, columns, fill, ignore, table.name, ignored)))
    elif source is None or (isinstance(source, exp.Tuple) and not source.expressions):
        statement.set("expression", exp.Values(expressions=[
            exp.Tuple(expressions=[bind_default(e, {}) for _, e in fill])]))
    else:  # INSERT … SELECT: the SELECT's arithmetic and comparisons as a SELECT's
        source = rewrite_unsigned(source, _select_column_type(ctx), _select_column_name(ctx))
        if ctx.local_timestamps:  # timestamps.py
            localize_reads(source, _select_column_type(ctx))
        statement.set("expression", _wrap_query(source, columns, fill, ignore, upsert,
                                                table.name))
    if not all_columns:
        return _default_values(table, replace, ignore)
    if replace:
        statement.set("alternative", "REPLACE")
    elif ignore:
        statement.set("alternative", "IGNORE")
    if upsert:
        statement.set("conflict", _upsert(conflict, source, table, ignore,
                                          ctx.local_timestamps))
    auto = table.auto_increment_column
    return DmlResult([statement], tables=(table.name.lower(),), upsert=upsert,
                     insert_ignore=ignore, auto_increment=auto is not None,
                     auto_increment_column=auto.name if auto is not None else "",
                     auto_increment_max=auto_id_max(auto) if auto is not None else 0)


def _default_values(table: TableDef, replace: bool, ignore: bool) -> DmlResult:
    verb = "REPLACE" if replace else "INSERT OR IGNORE" if ignore else "INSERT"
    sql = exp.Command(this=f'{verb} INTO "{table.name}"', expression=exp.var("DEFAULT VALUES"))
    return DmlResult([sql], tables=(table.name.lower(),), insert_ignore=ignore,
                     auto_increment=table.auto_increment_column is not None)


def _row_alias(source: exp.Expression | None) -> tuple[str | None, list[str]]:
    alias = source.args.get("alias") if isinstance(source, exp.Values) else None
    if alias is None:
        return None, []
    return alias.name.lower(), [c.name for c in alias.columns]


def _upsert(conflict: exp.OnConflict, source: exp.Expression | None, table: TableDef,
            ignore: bool, local_timestamps: bool = False) -> exp.OnConflict:
    alias, alias_columns = _row_alias(source)

    def new_values(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).upper() == "VALUES":
            return column_ref(node.expressions[0].name, "excluded")
        if isinstance(node, exp.Column) and alias and node.table.lower() == alias:
            name = node.name
            if alias_columns and name in alias_columns:
                name = tree_columns[alias_columns.index(name)]
            return column_ref(name, "excluded")
        return node
    tree_columns = [c.name for c in table.columns]
    assignments: list[tuple[ColumnDef, exp.Expression]] = []
    assigned: dict[str, exp.Expression] = {}
    for equality in _assignments(table, conflict.expressions):
        column = _target_column(table, equality.this)
        value = equality.expression.transform(new_values, copy=True)
        if local_timestamps:  # timestamps.py: the row's and the new row's values alike
            value = localized(value, _upsert_column_type(table))
        value = substitute_assigned(value, assigned, {table.name.lower()})
        value = store(value, column, 1, ignore)
        assigned[column.name.lower()] = value
        assignments.append((column, value))
    assignments += on_update_assignments(table, assignments)
    return exp.OnConflict(expressions=[_eq(c, v) for c, v in assignments],
                          action=exp.var("DO UPDATE"))


def _upsert_column_type(table: TableDef) -> ColumnType:
    """Column types in ON DUPLICATE KEY UPDATE values: the row's and ``excluded``'s columns
    (a subquery's are not typed)."""
    names = {table.name.lower(), "excluded", ""}

    def column_type(column: exp.Column) -> MySqlType | None:
        if column.table.lower() not in names or column.find_ancestor(exp.Select) is not None:
            return None
        found = table.column(column.name)
        return found.type if found is not None else None
    return column_type


# ---------------------------------------------------------------- UPDATE

def _limited(where: exp.Expression | None, tree: exp.Expression, source: exp.Expression
             ) -> exp.Expression | None:
    """``rowid IN (SELECT rowid … ORDER BY … LIMIT n)`` for UPDATE/DELETE … LIMIT."""
    order, limit = tree.args.get("order"), tree.args.get("limit")
    if order is None and limit is None:
        return where.this if where is not None else None
    inner = exp.Select(expressions=[exp.column("rowid")])
    inner.set("from_", exp.From(this=source.copy()))
    if where is not None:
        inner.set("where", where.copy())
    if order is not None:
        inner.set("order", order.copy())
    if limit is not None:
        inner.set("limit", limit.copy())
    return exp.In(this=exp.column("rowid"), query=exp.Subquery(this=inner))


def rewrite_update(tree: exp.Update, ctx: DmlContext, *, ignore: bool = False) -> DmlResult:
    refuse_returning(tree)
    strip_database(tree, ctx.database)
    drop_select_noise(tree, ctx=ctx)
    target = tree.this
    if not isinstance(target, exp.Table):
        raise not_supported("this form of UPDATE")
    if target.args.get("joins") or tree.args.get("from_"):
        return _update_joined(tree, ctx, ignore)
    table = _target(ctx, target)
    aliases = {target.name.lower(), target.alias_or_name.lower()}
    assignments: list[tuple[ColumnDef, exp.Expression]] = []
    assigned: dict[str, exp.Expression] = {}
    unsigned_types = _table_column_type(table, aliases)  # unsigned.py
    printed = _table_column_name(ctx.database, table, target)
    _rewrite_where_unsigned(tree, unsigned_types, printed)
    local_types = _local_column_type(ctx, unsigned_types)  # timestamps.py
    _localize_clauses(tree, local_types)
    for equality in _assignments(table, tree.expressions):
        column = _target_column(table, equality.this)
        value = rewrite_unsigned(equality.expression, unsigned_types, printed)
        value = rewrite_decimal_value(value, unsigned_types)  # rewrites_decimal.py
        if local_types is not None:
            value = localized(value, local_types)
        value = substitute_assigned(value, assigned, aliases)
        value = store(value, column, 1, ignore)
        assigned[column.name.lower()] = value
        assignments.append((column, value))
    assignments += on_update_assignments(table, assignments)
    statement = exp.Update(this=target.copy(), expressions=[_eq(c, v) for c, v in assignments])
    if tree.args.get("order") is not None and ctx.row_by_row:
        return _in_order(tree, statement, target, table)
    condition = _limited(tree.args.get("where"), tree, target)
    if condition is not None:
        statement.set("where", exp.Where(this=condition))
    return DmlResult([statement], tables=(table.name.lower(),))


def _in_order(tree: exp.Update, statement: exp.Update, target: exp.Table, table: TableDef
              ) -> DmlResult:
    """UPDATE … ORDER BY [LIMIT]: MySQL changes the rows one at a time in that order, each
    checked against the unique keys as it is changed, so ``SET n = n + 1 ORDER BY n DESC``
    never meets a transient duplicate. SQLite changes the rows of one UPDATE in rowid order
    (whatever an ``IN (SELECT … ORDER BY)`` says), so the executor reads the rowids in order
    first and runs the UPDATE once per rowid (DmlResult.row_by_row)."""
    rows = exp.Select(expressions=[exp.column("rowid", table=ident(target.alias_or_name))])
    rows.set("from_", exp.From(this=target.copy()))
    for clause in ("where", "order", "limit"):
        if tree.args.get(clause) is not None:
            rows.set(clause, tree.args[clause].copy())
    statement.set("where", exp.Where(this=exp.EQ(
        this=exp.column("rowid"), expression=exp.Placeholder(this=ROWID_PARAMETER))))
    return DmlResult([rows, statement], tables=(table.name.lower(),), row_by_row=True)


def _rewrite_where_unsigned(tree: exp.Expression, column_type: ColumnType,
                            column_name: ColumnName) -> None:
    """BIGINT UNSIGNED (unsigned.py) and temporal (temporal.py) comparisons
    of a single-table UPDATE/DELETE's WHERE."""
    where = tree.args.get("where")
    if where is not None:
        where.set("this", rewrite_unsigned(where.this, column_type, column_name))
        rewrite_temporal_comparisons(where, column_type)


def _all_tables(root: exp.Table) -> list[exp.Table]:
    tables = [root] + [j.this for j in root.args.get("joins") or [] if isinstance(j.this,
                                                                              exp.Table)]
    return tables


def _owner(column: exp.Column, tables: list[exp.Table], ctx: DmlContext) -> exp.Table:
    if column.table:
        for table in tables:
            if table.alias_or_name.lower() == column.table.lower():
                return table
        raise errors.error(errors.ER_BAD_FIELD_ERROR,
                           f"Unknown column '{column.table}.{column.name}' in 'field list'")
    owners = [t for t in tables if (d := ctx.table(t.name)) is not None and d.column(column.name)]
    if len(owners) != 1:
        raise errors.error(errors.ER_NON_UNIQ_ERROR if owners else errors.ER_BAD_FIELD_ERROR,
                           f"Column '{column.name}' in field list is ambiguous" if owners
                           else f"Unknown column '{column.name}' in 'field list'")
    return owners[0]


def _update_joined(tree: exp.Update, ctx: DmlContext, ignore: bool) -> DmlResult:
    root = tree.this
    tables = _all_tables(root)
    owners = {id(_owner(eq.this, tables, ctx)): _owner(eq.this, tables, ctx)
              for eq in tree.expressions}
    if len(owners) != 1:
        _several_updated(tree, root, list(owners.values()), ctx)
    target = next(iter(owners.values()))
    table = _target(ctx, target)
    key = target.alias_or_name
    inner = exp.Select(expressions=[exp.alias_(exp.column("rowid", table=ident(key)),
                                               "__marmot_rid", quoted=True)])
    assignments: list[tuple[ColumnDef, exp.Expression]] = []
    for index, equality in enumerate(tree.expressions):
        column = _target_column(table, equality.this)
        inner.expressions.append(exp.alias_(equality.expression.copy(), f"v{index}",
                                            quoted=True))
        assignments.append((column, store(column_ref(f"v{index}", "__marmot_src"), column, 1,
                                          ignore)))
    assignments += on_update_assignments(table, assignments)
    inner.set("from_", exp.From(this=root.copy()))
    if tree.args.get("where") is not None:
        inner.set("where", tree.args["where"].copy())
    inner = rewrite_unsigned(inner, _select_column_type(ctx), _select_column_name(ctx))
    if ctx.local_timestamps:  # timestamps.py (set again: the values appended have no parent)
        inner.set("expressions", list(inner.expressions))
        localize_reads(inner, _select_column_type(ctx))
    statement = exp.Update(this=exp.Table(this=ident(table.name)),
                           expressions=[_eq(c, v) for c, v in assignments])
    statement.set("from_", exp.From(this=exp.Subquery(
        this=inner, alias=exp.TableAlias(this=ident("__marmot_src")))))
    statement.set("where", exp.Where(this=exp.EQ(
        this=exp.column("rowid", table=ident(table.name)),
        expression=column_ref("__marmot_rid", "__marmot_src"))))
    return DmlResult([statement], tables=(table.name.lower(),))


def _several_updated(tree: exp.Update, root: exp.Table, owners: list[exp.Table],
                     ctx: DmlContext) -> None:
    """A multi-table UPDATE changing several tables: ``MultipleTargets`` for the executor."""
    values: list[exp.Expression] = []
    tables = _all_tables(root)
    assigned: dict[int, list[tuple[str, int]]] = {id(owner): [] for owner in owners}
    for equality in tree.expressions:
        index = len(values)
        assigned[id(_owner(equality.this, tables, ctx))].append((equality.this.name, index))
        values.append(exp.alias_(equality.expression.copy(), f"v{index}", quoted=True))
    source = exp.Select(expressions=values)
    targets = [ChangedTable(_database_of(owner), owner.name, owner.alias_or_name,
                            tuple(assigned[id(owner)])) for owner in owners]
    _multiple(source, tree, root, targets, ctx, "multi-table UPDATE that changes more than "
              "one table")


def _database_of(table: exp.Table) -> str | None:
    db = table.args.get("db")
    return db.name.lower() if db is not None else None


def _several_deleted(tree: exp.Delete, root: exp.Table, tables: list[exp.Table],
                     names: list[exp.Expression], ctx: DmlContext) -> None:
    """A DELETE from several tables of a join: ``MultipleTargets`` for the executor."""
    targets = []
    for name in names:
        wanted = name.name.lower()
        target = next((t for t in tables if t.alias_or_name.lower() == wanted), None)
        if target is None:
            raise errors.error(errors.ER_UNKNOWN_TABLE, f"Unknown table '{name.name}' in "
                               "MULTI DELETE")
        targets.append(ChangedTable(_database_of(target), target.name, target.alias_or_name))
    _multiple(exp.Select(), tree, root, targets, ctx,
              "DELETE from more than one table in one statement")


def _multiple(source: exp.Select, tree: exp.Expression, root: exp.Table,
              targets: list[ChangedTable], ctx: DmlContext, what: str) -> None:
    for clause, words in (("order", "ORDER BY"), ("limit", "LIMIT")):
        if tree.args.get(clause) is not None:  # MySQL refuses both in a multi-table one
            raise errors.error(errors.ER_WRONG_USAGE, "Incorrect usage of "
                               f"{'UPDATE' if isinstance(tree, exp.Update) else 'DELETE'} "
                               f"and {words}")
    source.set("from_", exp.From(this=root.copy()))
    if tree.args.get("where") is not None:
        source.set("where", tree.args["where"].copy())
    raise MultipleTargets(what, source, targets, ctx.database or "")


# ---------------------------------------------------------------- DELETE

def rewrite_delete(tree: exp.Delete, ctx: DmlContext) -> DmlResult:
    refuse_returning(tree)
    strip_database(tree, ctx.database)
    drop_select_noise(tree, ctx=ctx)
    target = tree.this
    using = tree.args.get("using")
    targets = tree.args.get("tables")
    if using or targets or (isinstance(target, exp.Table) and target.args.get("joins")):
        return _delete_joined(tree, ctx)
    if not isinstance(target, exp.Table):
        raise not_supported("this form of DELETE")
    table = _target(ctx, target)
    table_types = _table_column_type(table, {target.name.lower(),
                                             target.alias_or_name.lower()})
    _rewrite_where_unsigned(tree, table_types, _table_column_name(ctx.database, table, target))
    local_types = _local_column_type(ctx, table_types)  # timestamps.py
    _localize_clauses(tree, local_types)
    statement = exp.Delete(this=target.copy())
    condition = _limited(tree.args.get("where"), tree, target)
    if condition is not None:
        statement.set("where", exp.Where(this=condition))
    return DmlResult([statement], tables=(table.name.lower(),))


def _delete_joined(tree: exp.Delete, ctx: DmlContext) -> DmlResult:
    using = tree.args.get("using")
    root = using[0] if using else tree.this
    names = tree.args.get("tables") or [tree.this]
    if using and len(using) != 1:
        raise not_supported("DELETE from more than one table in one statement")
    tables = _all_tables(root)
    if len(names) != 1:
        _several_deleted(tree, root, tables, names, ctx)
    wanted = names[0].name.lower()
    target = next((t for t in tables if t.alias_or_name.lower() == wanted), None)
    if target is None:
        raise errors.error(errors.ER_UNKNOWN_TABLE, f"Unknown table '{names[0].name}' in "
                           "MULTI DELETE")
    table = _target(ctx, target)
    inner = exp.Select(expressions=[exp.column("rowid", table=ident(target.alias_or_name))])
    inner.set("from_", exp.From(this=root.copy()))
    if tree.args.get("where") is not None:
        inner.set("where", tree.args["where"].copy())
    inner = rewrite_unsigned(inner, _select_column_type(ctx), _select_column_name(ctx))
    if ctx.local_timestamps:  # timestamps.py
        localize_reads(inner, _select_column_type(ctx))
    statement = exp.Delete(this=exp.Table(this=ident(table.name)))
    statement.set("where", exp.Where(this=exp.In(this=exp.column("rowid"),
                                                 query=exp.Subquery(this=inner))))
    return DmlResult([statement], tables=(table.name.lower(),))
