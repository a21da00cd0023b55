"""CREATE [UNIQUE|FULLTEXT] INDEX and DROP INDEX: ALTER TABLE's ADD / DROP of one key, planned
by alter_table.py.
"""

from __future__ import annotations



from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.definition.keys import index_definition
from marmotdb.sql.rewrites.ddl.alter_plan import load_for_alter, new_alter_state, plan_alter
from marmotdb.sql.rewrites.ddl.alter_table import drop_index_of
from marmotdb.sql.rewrites.ddl.context import DdlContext, DdlResult, check_database
from marmotdb.sql.rewrites.ddl.render import sqlite_create_index


def create_index(parser: DdlParser, ctx: DdlContext, kind: str) -> DdlResult:
    parser.expect("INDEX")
    name = parser.identifier()
    if parser.accept("USING"):
        parser.expect("BTREE", "HASH")
    parser.expect("ON")
    db, table_name = parser.qualified_name()
    check_database(db, ctx)
    state = new_alter_state(load_for_alter(ctx, table_name))
    state.builder.add_index(index_definition(parser, name, kind))
    while parser.accept("ALGORITHM", "LOCK"):
        parser.option_value()
    if not parser.done():
        parser.fail()
    index = state.new.indexes[-1]
    if index.kind != "FULLTEXT":
        state.native.append(sqlite_create_index(state.new, index, ctx=ctx))
    return plan_alter(state, ctx)


def drop_index(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    name = parser.identifier()
    parser.expect("ON")
    db, table_name = parser.qualified_name()
    check_database(db, ctx)
    state = new_alter_state(load_for_alter(ctx, table_name))
    drop_index_of(state.new, name, state)
    while parser.accept("ALGORITHM", "LOCK"):
        parser.option_value()
    return plan_alter(state, ctx)
