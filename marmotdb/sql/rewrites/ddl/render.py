"""A ``TableDef`` as SQLite DDL: column declarations (types per ``coltypes``, the collation
that gives MySQL's comparisons), the PRIMARY KEY or the AUTO_INCREMENT rowid alias, FOREIGN KEY
and CHECK clauses, and one ``CREATE INDEX "<table>.<index>"`` per secondary key (SQLite index
names are global). Also the value an INSERT stores for an omitted column (``default_expression``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.sql.rewrites import foreign_keys as rewrites_fk
from marmotdb.sql.schema import ColumnDef, ForeignKeyDef, IndexDef, TableDef, sql_literal
from marmotdb.sql.definition.keys import (
    check_implicit_primary_visible,
    is_functional,
    stored_expression,
)
from marmotdb.sql.definition.shown_expression import shown_expression
from marmotdb.sql.rewrites.ddl.context import DdlContext

if TYPE_CHECKING:
    from sqlglot import exp

    from marmotdb.sql.types.coltypes import MySqlType


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_collation(column: ColumnDef) -> str:
    family = column.type.family
    if family == "decimal":
        return " COLLATE mysql_decimal"
    if column.type.name == "time":
        return " COLLATE mysql_time"
    if family in ("text", "enum", "set"):
        binary = column.type.binary_collation or (column.collation or "").endswith("_bin") \
            or column.charset == "binary"
        return "" if binary else " COLLATE NOCASE"
    return ""


def default_expression(column: ColumnDef) -> exp.Expression:
    """The value an INSERT that omits ``column`` stores (session-aware, see rewrites_dml)."""
    from sqlglot import exp as sqlexp

    from marmotdb.sql.rewrites.expressions import call, number
    kind, value = column.default_kind, column.default_value
    if kind == "now":  # a TIMESTAMP stores UTC (rewrites/timestamps.py)
        clock = "MYSQL_UTC_TIMESTAMP" if column.type.name == "timestamp" else "MYSQL_NOW"
        return call(clock, number(value)) if value else call(clock)
    if kind == "expr":
        return _EXPRESSION_PARSER(value)
    if kind == "value":
        return _literal_node(value)
    if column.generated is None and not column.nullable:
        from marmotdb.sql.functions.store import implicit_default
        return _literal_node(implicit_default(column.type))
    return sqlexp.Null()


def _literal_node(value: object) -> exp.Expression:
    from sqlglot import exp as sqlexp
    if value is None:
        return sqlexp.Null()
    if isinstance(value, bytes):
        return sqlexp.HexString(this=value.hex())
    if isinstance(value, (int, float)):
        return sqlexp.Literal.number(value)
    return sqlexp.Literal.string(str(value))


_EXPRESSION_PARSER: Callable[[str], exp.Expression] = lambda text: None  # type: ignore


def set_expression_parser(parser: Callable[[str], exp.Expression]) -> None:
    """translate.py installs the MySQL-expression -> rewritten-AST function (avoids a cycle)."""
    global _EXPRESSION_PARSER
    _EXPRESSION_PARSER = parser


def _sqlite_default(column: ColumnDef) -> str:
    if column.default_kind == "value":
        return " DEFAULT " + sql_literal(column.default_value)
    if column.default_kind == "now" and column.type.name in ("datetime", "timestamp"):
        return " DEFAULT CURRENT_TIMESTAMP"
    return ""


def _rowid_column(table: TableDef) -> ColumnDef | None:
    return table.auto_increment_column


def sqlite_column(column: ColumnDef, table: TableDef, ctx: DdlContext) -> str:
    if column is _rowid_column(table):
        return f"{q(column.name)} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"
    text = f"{q(column.name)} {column.type.sqlite_decltype()}"
    if column.generated is not None:
        # STORED in SQLite whatever MySQL's kind: SQLite's preupdate hook cannot report a row
        # of a table with VIRTUAL columns (storage/schema.py), so capture could not replicate
        # it; MySQL's VIRTUAL/STORED only changes where the value lives, not what it is. The
        # MySQL definition (SHOW CREATE TABLE, information_schema) keeps the kind written.
        text += f" GENERATED ALWAYS AS ({_generated_value(column, table, ctx)}) STORED"
    elif column.default_kind is not None:
        text += _sqlite_default(column)
    if not column.nullable:
        text += " NOT NULL"
    return text + sqlite_collation(column)


def _generated_value(column: ColumnDef, table: TableDef, ctx: DdlContext) -> str:
    """The SQLite expression of a generated column; a DECIMAL one exact and at its scale
    (rewrites/decimal.py), as MySQL stores it."""
    assert column.generated is not None
    if column.type.family != "decimal":
        return ctx.expression(column.generated)
    from marmotdb.sql.rewrites.decimal import exact_generated

    def column_type(name: str) -> MySqlType | None:
        found = table.column(name)
        return found.type if found is not None else None
    value = exact_generated(_EXPRESSION_PARSER(column.generated), column_type,
                            column.type.scale or 0)
    return value.sql(dialect="sqlite", identify=True)


def _primary_in_table(table: TableDef) -> bool:
    """The PRIMARY KEY is written in CREATE TABLE (no AUTO_INCREMENT rowid alias)."""
    return table.primary_key is not None and _rowid_column(table) is None


def _pk_needs_index(table: TableDef) -> bool:
    """With an AUTO_INCREMENT rowid alias, a PRIMARY KEY other than that column alone becomes
    a UNIQUE index (SQLite allows one INTEGER PRIMARY KEY per table)."""
    primary, rowid = table.primary_key, _rowid_column(table)
    return primary is not None and rowid is not None and \
        [c.lower() for c, _, _ in primary.columns] != [rowid.name.lower()]


def sqlite_indexes(table: TableDef) -> list[IndexDef]:
    """The keys SQLite holds: a FULLTEXT index is marmotdb's catalog only
    (sql/functions/fulltext.py)."""
    return [i for i in table.indexes if (i.kind != "PRIMARY" or _pk_needs_index(table))
            and i.kind != "FULLTEXT"]


def sequence_statements(table: TableDef, start: int | None) -> list[str]:
    """AUTO_INCREMENT=n: the next generated id is n, or the highest id + 1 when that is larger
    (SQLite stores the last one used). n = 1 too: ALTER TABLE … AUTO_INCREMENT = 1 starts an
    emptied table from 1 again (Django's reset_sequences)."""
    if not start or table.auto_increment_column is None:
        return []
    name = sql_literal(table.name)
    return [f"DELETE FROM sqlite_sequence WHERE name = {name}",
            (f"INSERT INTO sqlite_sequence (name, seq) SELECT {name}, max({start - 1}, "
             f"coalesce((SELECT max(rowid) FROM {q(table.name)}), 0))")]


def sqlite_create_table(table: TableDef, ctx: DdlContext, *, if_not_exists: bool = False
                        ) -> list[str]:
    """CREATE TABLE plus its CREATE INDEX statements for ``table``."""
    lines = [sqlite_column(c, table, ctx) for c in table.columns]
    primary = table.primary_key
    if primary is not None and _primary_in_table(table):
        lines.append("PRIMARY KEY (" + ", ".join(q(c) for c, _, _ in primary.columns) + ")")
    for fk in table.foreign_keys:
        if fk.ref_database:  # another database's table: kept in our catalog only
            continue
        text = (f"CONSTRAINT {q(fk.name)} FOREIGN KEY ({', '.join(q(c) for c in fk.columns)}) "
                f"REFERENCES {q(fk.ref_table)} ({', '.join(q(c) for c in fk.ref_columns)})")
        for event, action in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update)):
            if action:
                text += f" ON {event} {action}"
        lines.append(text)
    for check in table.checks:
        if check.enforced:
            lines.append(f"CONSTRAINT {q(check.name)} CHECK ({ctx.expression(check.expression)})")
    guard = "IF NOT EXISTS " if if_not_exists else ""
    statements = [f"CREATE TABLE {guard}{q(table.name)} (\n  " + ",\n  ".join(lines) + "\n)"]
    statements += [sqlite_create_index(table, i, if_not_exists=if_not_exists, ctx=ctx)
                   for i in sqlite_indexes(table)]
    return statements


def index_sqlite_name(table: TableDef, index: IndexDef, ctx: DdlContext | None = None) -> str:
    """``<table>.<key>``, the first time. An index keeps its SQLite name through RENAME TABLE
    (SQLite cannot rename one), so a new table under the old name may find it taken by the
    renamed table's index: then ``<table>.<key>#<n>`` (the DdlContext's optional
    ``sqlite_index_taken(name, table)`` says so; SQLite's index names are internal)."""
    if not index.sqlite_name:
        base = name = f"{table.name}.{index.name}"
        taken = getattr(ctx, "sqlite_index_taken", None)
        number = 1
        while taken is not None and taken(name, table.name):
            number += 1
            name = f"{base}#{number}"
        index.sqlite_name = name
    return index.sqlite_name


def sqlite_create_index(table: TableDef, index: IndexDef, *, if_not_exists: bool = False,
                        ctx: DdlContext | None = None) -> str:
    parts = [_sqlite_key_part(table, index, name, length) + (" DESC" if descending else "")
             for name, length, descending in index.columns]
    unique = "UNIQUE " if index.kind in ("UNIQUE", "PRIMARY") else ""
    guard = "IF NOT EXISTS " if if_not_exists else ""
    return (f"CREATE {unique}INDEX {guard}{q(index_sqlite_name(table, index, ctx))} ON "
            f"{q(table.name)} ({', '.join(parts)})")


def _sqlite_key_part(table: TableDef, index: IndexDef, name: str, length: int | None) -> str:
    """A column, an expression (SQLite indexes expressions of deterministic functions), or
    the prefix of a column for a unique key: MySQL compares only the prefix there."""
    if is_functional(name):
        return "(" + _EXPRESSION_PARSER(name).sql(dialect="sqlite", identify=True) + ")"
    column = table.column(name)
    part = q(column.name if column else name)
    if length and index.kind != "INDEX" and column is not None and \
            column.type.family in ("text", "binary"):
        part = f"substr({part}, 1, {length}){sqlite_collation(column)}"
    return part


def finish_for_storage(table: TableDef, ctx: DdlContext) -> TableDef:
    """Give every index its SQLite name and keep a CHECK's and a generated column's expression
    as MySQL prints it back (which is what it stores, shows in
    SHOW CREATE TABLE and INFORMATION_SCHEMA, and what SQLite's column is translated from)."""
    check_implicit_primary_visible(table)
    for index in sqlite_indexes(table):
        index_sqlite_name(table, index, ctx)
    for check in table.checks:
        check.expression = stored_expression(check.expression)
    for column in table.columns:
        if column.generated is not None:
            column.generated = shown_expression(column.generated)
    return table


def check_parent_tables(table: TableDef, foreign_keys: list[ForeignKeyDef],
                        ctx: DdlContext) -> None:
    """With foreign_key_checks=1 MySQL refuses a FOREIGN KEY whose parent table does not exist
    (1824); with 0 (how mysqldump restores, tables in alphabetical order) it is accepted and
    enforced once the parent exists."""
    if not getattr(ctx, "foreign_key_checks", True):
        return
    for fk in foreign_keys:
        if fk.ref_database:
            if not rewrites_fk.parent_elsewhere_exists(fk, ctx):
                raise errors.error(errors.ER_FK_CANNOT_OPEN_PARENT, "Failed to open the "
                                   f"referenced table '{fk.ref_database}.{fk.ref_table}'")
        elif fk.ref_table.lower() != table.name.lower() and not ctx.exists(fk.ref_table):
            raise errors.error(errors.ER_FK_CANNOT_OPEN_PARENT,
                               f"Failed to open the referenced table '{fk.ref_table}'")
