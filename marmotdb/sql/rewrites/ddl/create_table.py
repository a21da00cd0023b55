"""CREATE [TEMPORARY] TABLE, CREATE TABLE … LIKE and CREATE TABLE … SELECT: the definition read
by definition/create_table.py, the SQLite DDL rendered from it, the bookkeeping row, and for
… SELECT the columns MySQL infers from the projections.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql import schema
from marmotdb.sql.schema import ColumnDef, TableDef
from marmotdb.sql.types.coltypes import MySqlType
from marmotdb.sql.definition.create_table import parse_table_body
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.definition.keys import TableBuilder
from marmotdb.sql.definition.table_options import parse_table_options
from marmotdb.sql.rewrites.ddl.context import (
    DdlContext,
    DdlResult,
    bookkeeping,
    check_database,
    check_foreign_key_names,
)
from marmotdb.sql.rewrites.ddl.render import (
    check_parent_tables,
    finish_for_storage,
    q,
    sequence_statements,
    sqlite_create_table,
)

if TYPE_CHECKING:
    from sqlglot import exp


def create_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    """CREATE [TEMPORARY] TABLE. A temporary table is translated as any other, marked
    ``temporary`` (the session runs it in its own TEMP schema, sql/temporary.py); it may have
    no FOREIGN KEY."""
    temporary = parser.accept("TEMPORARY") is not None
    result = _create_table(parser, ctx, temporary)
    result.temporary = temporary
    return result


def _create_table(parser: DdlParser, ctx: DdlContext, temporary: bool) -> DdlResult:
    parser.expect("TABLE")
    if_not_exists = parser.accept_seq("IF", "NOT", "EXISTS")
    db, name = parser.qualified_name()
    check_database(db, ctx)
    if ctx.exists(name):
        if if_not_exists:
            return DdlResult([])
        raise errors.error(errors.ER_TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
    if parser.accept("LIKE") or (parser.at_op("(") and parser.peek().upper == "LIKE"
                                 and parser.accept_op("(") and parser.accept("LIKE")):
        return _create_like(parser, ctx, name)
    charset, collation = ctx.database_charset  # the default of a table that names none
    table = TableDef(name=name, charset=charset, collation=collation)
    if parser.at_op("(") and parser.peek().upper != "SELECT":
        table = parse_table_body(parser, name, table)
    if table.columns:
        parse_table_options(parser, table)
    else:
        parse_table_options(parser, table)
    parser.accept("IGNORE", "REPLACE")
    parser.accept("AS")
    if parser.at("SELECT", "WITH") or parser.at_op("("):
        return _create_as_select(parser.rest(), table, ctx)
    if not parser.done():
        parser.fail()
    table = finish_for_storage(table, ctx)
    if temporary and table.foreign_keys:
        raise errors.error(errors.ER_CANNOT_ADD_FOREIGN, "Cannot add foreign key constraint")
    check_parent_tables(table, table.foreign_keys, ctx)
    check_foreign_key_names(ctx, table.name, [f.name for f in table.foreign_keys])
    statements = sqlite_create_table(table, ctx) + sequence_statements(table,
                                                                        table.auto_increment)
    return DdlResult(statements + bookkeeping(table), tables=(name.lower(),))


def _create_like(parser: DdlParser, ctx: DdlContext, name: str) -> DdlResult:
    db, source = parser.qualified_name()
    check_database(db, ctx)
    parser.accept_op(")")
    original = ctx.table_def(source)
    if original is None:
        raise errors.error(errors.ER_NO_SUCH_TABLE,
                           f"Table '{ctx.database or 'marmot'}.{source}' doesn't exist")
    table = copy.deepcopy(original)
    table.name, table.foreign_keys, table.auto_increment = name, [], None
    for index in table.indexes:
        index.sqlite_name = None
    table = finish_for_storage(table, ctx)
    return DdlResult(sqlite_create_table(table, ctx) + bookkeeping(table),
                     tables=(name.lower(),))


def _create_as_select(select_sql: str, table: TableDef, ctx: DdlContext) -> DdlResult:
    import sqlglot
    from sqlglot import exp as sqlexp

    from marmotdb.sql.rewrites.expressions import rename_functions
    tree = sqlglot.parse_one(rename_functions(select_sql), read="mysql")
    elsewhere = _reads_elsewhere(tree, ctx)
    selects = list(tree.find_all(sqlexp.Select))
    first = selects[0] if selects else None
    builder = TableBuilder(table)
    names = []
    for projection in (first.expressions if first is not None else []):
        if isinstance(projection, sqlexp.Star):
            raise not_supported("CREATE TABLE … SELECT * (list the columns)")
        name = projection.alias_or_name
        names.append(name)
        if table.column(name) is None:
            builder.table.columns.append(_inferred_column(name, projection, first, ctx))
    table = finish_for_storage(builder.finish(), ctx)
    if elsewhere:  # filled by the executor (DdlResult.rows_from), in MySQL's name resolution
        target = f"{schema.quote_ident(ctx.database)}.{schema.quote_ident(table.name)}"
        return DdlResult(sqlite_create_table(table, ctx) + bookkeeping(table),
                         tables=(table.name.lower(),),
                         rows_from=f"INSERT INTO {target} "
                                   f"({', '.join(schema.quote_ident(n) for n in names)}) "
                                   f"{select_sql}")
    insert = (f"INSERT INTO {q(table.name)} ({', '.join(q(n) for n in names)}) "
              f"{ctx.select(select_sql)}")
    return DdlResult(sqlite_create_table(table, ctx) + [insert] + bookkeeping(table),
                     tables=(table.name.lower(),))


def _reads_elsewhere(tree: exp.Expression, ctx: DdlContext) -> bool:
    """Whether a CREATE TABLE … SELECT reads a table of another database than the new
    table's. In MySQL its unqualified names are the current database's, which is another one
    when the table is created there (``CREATE TABLE otherdb.t AS SELECT … FROM s``); they are
    qualified with it here."""
    from sqlglot import exp as sqlexp

    from marmotdb.sql.rewrites.dml import qualify_tables
    default = getattr(ctx, "ddl_default_database", None)
    if default is not None:
        qualify_tables(tree, default)
    home = (ctx.database or "").lower()
    return any(table.db and table.db.lower() != home for table in tree.find_all(sqlexp.Table))


def _source_def(table_node: exp.Table, ctx: DdlContext) -> TableDef | None:
    """The definition of a table a CREATE TABLE … SELECT reads, in its own database."""
    if table_node.db and table_node.db.lower() != (ctx.database or "").lower():
        other = getattr(ctx, "other_table_def", None)
        return other(table_node.db, table_node.name) if other is not None else None
    return ctx.table_def(table_node.name)


def _inferred_column(name: str, projection: exp.Expression, select: exp.Expression,
                     ctx: DdlContext) -> ColumnDef:
    """The column CREATE TABLE … SELECT makes for one projection (MySQL keeps a source
    column's type and NULL-ness; literals and expressions get a type from their value)."""
    from sqlglot import exp as sqlexp
    node = projection.this if isinstance(projection, sqlexp.Alias) else projection
    if isinstance(node, sqlexp.Column):
        for table_node in select.find_all(sqlexp.Table):
            source = _source_def(table_node, ctx)
            column = source.column(node.name) if source else None
            if column is not None and (not node.table or node.table.lower() in (
                    table_node.alias_or_name.lower(), table_node.name.lower())):
                found = copy.deepcopy(column)
                found.name, found.auto_increment = name, False
                return found
    if isinstance(node, sqlexp.Literal):
        if node.is_string:
            return ColumnDef(name, MySqlType("varchar", max(len(node.this), 1)), nullable=False,
                             default_kind="value", default_value="")
        if "." in node.this:
            whole, _, fraction = node.this.partition(".")
            return ColumnDef(name, MySqlType("decimal", len(whole) + len(fraction),
                                             len(fraction)), nullable=False)
        return ColumnDef(name, MySqlType("bigint" if len(node.this) > 9 else "int"),
                         nullable=False, default_kind="value", default_value=0)
    if isinstance(node, sqlexp.Count):
        return ColumnDef(name, MySqlType("bigint"), nullable=False, default_kind="value",
                         default_value=0)
    return ColumnDef(name, MySqlType("longtext"))


# ---------------------------------------------------------------- ALTER TABLE
