"""DROP TABLE, RENAME TABLE and TRUNCATE TABLE: SQLite statements plus the bookkeeping rows
that follow the table (and MySQL's foreign key rules for each, rewrites/foreign_keys.py).
"""

from __future__ import annotations

import copy

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql import schema
from marmotdb.sql.rewrites import foreign_keys as rewrites_fk
from marmotdb.sql.schema import TableDef, sql_literal
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.rewrites.ddl import referencing
from marmotdb.sql.rewrites.ddl.context import DdlContext, DdlResult, bookkeeping, check_database
from marmotdb.sql.rewrites.ddl.render import q


def name_list_plain(parser: DdlParser, ctx: DdlContext) -> list[str]:
    names = []
    while True:
        db, name = parser.qualified_name()
        check_database(db, ctx)
        names.append(name)
        if not parser.accept_op(","):
            return names


def drop_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    if parser.accept("TEMPORARY"):
        raise not_supported("DROP TEMPORARY TABLE")
    parser.expect("TABLE", "TABLES")
    if_exists = parser.accept_seq("IF", "EXISTS")
    names = name_list_plain(parser, ctx)
    parser.accept("RESTRICT", "CASCADE")
    missing = [n for n in names if not ctx.exists(n) or ctx.is_view(n)]
    if missing and not if_exists:
        listed = ",".join(f"{ctx.database or 'marmot'}.{n}" for n in missing)
        raise errors.error(errors.ER_BAD_TABLE_ERROR, f"Unknown table '{listed}'")
    rewrites_fk.check_drop([n for n in names if n not in missing], ctx)
    statements: list[str] = []
    for name in names:
        if name in missing:
            continue
        statements += [f"DROP TABLE IF EXISTS {q(name)}", schema.delete_statement("table", name),
                       schema.delete_triggers_of_statement(name)]
    return DdlResult(statements, tables=tuple(n.lower() for n in names if n not in missing),
                     foreign_keys_off=True)


def rename_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.expect("TABLE", "TABLES")
    statements: list[str] = []
    tables: list[str] = []
    pending: dict[str, TableDef | None] = {}
    origins: dict[str, str] = {}  # a renamed table's new name (lower) -> its name before
    finals: dict[str, str] = {}  # a renamed table's name before (lower) -> its new name
    gone: set[str] = set()
    while True:
        db, old = parser.qualified_name()
        check_database(db, ctx)
        parser.expect("TO")
        db, new = parser.qualified_name()
        check_database(db, ctx)
        in_flight = old.lower() in pending
        definition = pending.pop(old.lower()) if in_flight else ctx.table_def(old)
        if in_flight:
            gone.discard(old.lower())
        if old.lower() in gone or (definition is None and not ctx.exists(old)):
            raise errors.error(errors.ER_NO_SUCH_TABLE,
                               f"Table '{ctx.database or 'marmot'}.{old}' doesn't exist")
        if new.lower() in pending or (ctx.exists(new) and new.lower() not in gone):
            raise errors.error(errors.ER_TABLE_EXISTS_ERROR, f"Table '{new}' already exists")
        if not in_flight:
            rewrites_fk.check_rename(old, ctx)
        gone.add(old.lower())
        gone.discard(new.lower())
        statements.append(f"ALTER TABLE {q(old)} RENAME TO {q(new)}")
        statements.append(schema.delete_statement("table", old))
        if definition is not None:
            definition = copy.deepcopy(definition)
            definition.name = new
            referencing.rename_generated_keys(definition, old)
        pending[new.lower()] = definition
        origins[new.lower()] = origins.pop(old.lower(), old) if in_flight else old
        finals[origins[new.lower()].lower()] = new
        tables += [old.lower(), new.lower()]
        if not parser.accept_op(","):
            break
    statements += _keys_follow(ctx, pending, origins, finals)
    return DdlResult(statements, tables=tuple(tables))


def _keys_follow(ctx: DdlContext, pending: dict[str, TableDef | None], origins: dict[str, str],
                 finals: dict[str, str]) -> list[str]:
    """The bookkeeping of the renamed tables and of the other children of renamed parents,
    every FOREIGN KEY naming a parent by its new name (rewrites/ddl/referencing.py)."""
    statements: list[str] = []
    children: dict[str, TableDef] = {}
    for origin in origins.values():
        for child in ctx.child_tables(origin):
            if child.name.lower() not in finals and child.name.lower() not in children:
                children[child.name.lower()] = copy.deepcopy(child)
    for definition in pending.values():
        if definition is not None:
            referencing.follow_tables(definition, finals)
            statements += bookkeeping(definition)
    for child in children.values():
        if referencing.follow_tables(child, finals):
            statements += bookkeeping(child)
    return statements


def truncate_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.accept("TABLE")
    db, name = parser.qualified_name()
    check_database(db, ctx)
    if not ctx.exists(name) or ctx.is_view(name):
        raise errors.error(errors.ER_NO_SUCH_TABLE,
                           f"Table '{ctx.database or 'marmot'}.{name}' doesn't exist")
    rewrites_fk.check_truncate(name, ctx)
    table = ctx.table_def(name)
    statements = [f"DELETE FROM {q(name)}"]
    if table is not None and table.auto_increment_column is not None:
        statements.append(f"DELETE FROM sqlite_sequence WHERE name = {sql_literal(name)}")
    return DdlResult(statements, tables=(name.lower(),))


# ---------------------------------------------------------------- views and triggers
