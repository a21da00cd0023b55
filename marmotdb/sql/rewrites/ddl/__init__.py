"""MySQL DDL -> SQLite DDL plus the ``__marmot_schema`` bookkeeping, in one statement list.

Theory of operation
-------------------
sqlglot falls back to an opaque "Command" for much of MySQL's DDL (REPLACE, prefix indexes,
ALTER … FIRST, CREATE OR REPLACE VIEW, triggers), so DDL is read by marmotdb's own small
recursive-descent readers over the MySQL lexer (definition/cursor.py). Tables are read by the
one CREATE TABLE reader (definition/create_table.py) into the MySQL model of ``schema.py``
(``TableDef`` …); expressions inside DDL (DEFAULT (…), CHECK, generated columns, view bodies,
trigger bodies) keep their MySQL text and go through the normal expression path.

``translate_ddl`` dispatches on the statement's first words to one module per family:

| module | statements |
|---|---|
| ``create_table.py`` | CREATE [TEMPORARY] TABLE, … LIKE, … SELECT |
| ``alter_table.py`` | ALTER TABLE's actions |
| ``alter_plan.py`` | its plan (SQLite ALTERs or a rebuild), shared by CREATE/DROP INDEX |
| ``indexes.py`` | CREATE [UNIQUE|FULLTEXT] INDEX, DROP INDEX |
| ``tables.py`` | DROP TABLE, RENAME TABLE, TRUNCATE TABLE |
| ``views.py``, ``triggers.py`` | CREATE/ALTER/DROP VIEW; CREATE/DROP TRIGGER |
| ``databases.py`` | ALTER DATABASE (and CREATE DATABASE's options): its character set |
| ``referencing.py`` | the children's stored FOREIGN KEYs follow a renamed parent table or column |
| ``render.py`` | a ``TableDef`` as SQLite DDL |
| ``context.py`` | ``DdlContext`` / ``DdlResult``, the bookkeeping write |
| ``offset_defaults.py`` | a DEFAULT datetime with a time zone offset, converted by the session first |

Stored routines are sql/routines/ddl.py's; CREATE/DROP DATABASE is the session's (which runs
CREATE DATABASE's character set options as ALTER DATABASE).
"""

from __future__ import annotations

from collections.abc import Callable

from marmotdb.errors import not_supported
from marmotdb.sql.routines import ddl as routine_ddl
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.rewrites.ddl.alter_table import alter_table
from marmotdb.sql.rewrites.ddl.context import DdlContext, DdlResult
from marmotdb.sql.rewrites.ddl.create_table import create_table
from marmotdb.sql.rewrites.ddl.databases import alter_database
from marmotdb.sql.rewrites.ddl.indexes import create_index, drop_index
from marmotdb.sql.rewrites.ddl.tables import drop_table, rename_table, truncate_table
from marmotdb.sql.rewrites.ddl.triggers import create_trigger, drop_trigger
from marmotdb.sql.rewrites.ddl.views import create_view, drop_view, skip_view_attributes


_NOT_SUPPORTED_OBJECTS = ("PROCEDURE", "FUNCTION", "EVENT", "USER", "ROLE", "SERVER",
                          "TABLESPACE", "LOGFILE", "SPATIAL", "AGGREGATE", "RESOURCE")


def _create(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    replace = parser.accept_seq("OR", "REPLACE")
    if parser.at("TABLE", "TEMPORARY") and not replace:
        return create_table(parser, ctx)
    if parser.accept("UNIQUE"):
        return create_index(parser, ctx, "UNIQUE")
    if parser.at("INDEX"):
        return create_index(parser, ctx, "INDEX")
    if parser.accept("FULLTEXT"):
        return create_index(parser, ctx, "FULLTEXT")
    attributes = skip_view_attributes(parser)
    if parser.at("VIEW"):
        return create_view(parser, ctx, replace, attributes)
    if parser.at("TRIGGER"):
        return create_trigger(parser, ctx, original)
    if parser.at("PROCEDURE", "FUNCTION") and not replace:  # stored routines (sql/routines/)
        return DdlResult(routine_ddl.create_statements(original, ctx.database, ctx))
    if parser.at(*_NOT_SUPPORTED_OBJECTS):
        raise not_supported(f"CREATE {parser.token.upper}")
    parser.fail()
    return DdlResult([])


def _alter(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    if parser.at("TABLE", "ONLINE", "OFFLINE", "IGNORE"):
        return alter_table(parser, ctx)
    if parser.at("DATABASE", "SCHEMA"):
        return alter_database(parser, ctx)
    attributes = skip_view_attributes(parser)
    if parser.at("VIEW"):
        return create_view(parser, ctx, True, attributes)
    raise not_supported(f"ALTER {parser.token.upper}")


def _drop(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    if parser.at("TABLE", "TABLES", "TEMPORARY"):
        return drop_table(parser, ctx)
    if parser.accept("VIEW"):
        return drop_view(parser, ctx)
    if parser.accept("INDEX"):
        return drop_index(parser, ctx)
    if parser.accept("TRIGGER"):
        return drop_trigger(parser, ctx)
    if parser.at("PROCEDURE", "FUNCTION"):
        return DdlResult(routine_ddl.drop_statements(original, ctx.database))
    if parser.at(*_NOT_SUPPORTED_OBJECTS):
        word = parser.token.upper
        parser.pos += 1
        if parser.accept_seq("IF", "EXISTS"):
            return DdlResult([])  # nothing of that kind can exist here
        raise not_supported(f"DROP {word}")
    parser.fail()
    return DdlResult([])


_DDL_HEADS: dict[str, Callable[[DdlParser, DdlContext, str], DdlResult]] = {
    "CREATE": _create, "ALTER": _alter, "DROP": _drop,
    "RENAME": lambda p, c, o: rename_table(p, c),
    "TRUNCATE": lambda p, c, o: truncate_table(p, c),
}
DDL_HEADS = frozenset(_DDL_HEADS)


def translate_ddl(sql: str, ctx: DdlContext) -> DdlResult:
    """One MySQL DDL statement -> SQLite statements (schema + bookkeeping), in order."""
    parser = DdlParser(sql)
    parser.database = ctx.database
    head = parser.token.upper
    handler = _DDL_HEADS.get(head)
    if handler is None:
        parser.fail()
    parser.pos += 1
    return handler(parser, ctx, sql)  # type: ignore[misc]
