"""SHOW statements and DESCRIBE, answered with MySQL 8.0's exact column names and order.

``show(stream, ctx)`` is called with the stream positioned after SHOW. A table of handlers
keyed by the first keyword(s) parses the rest; every handler builds its rows and passes them
through ``filtered`` (show_filters.py) for the ``LIKE 'pattern'`` or ``WHERE expr``
MySQL allows on that statement. This module answers the SHOWs about databases and their
objects; show_server.py those about the server and the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.mysql.types import Column, ResultSet
from marmotdb.sql.routines import catalog as routine_catalog
from marmotdb.sql.variables import scopes as sysvars
from marmotdb.sql.catalog.expr import TokenStream, syntax_error
from marmotdb.sql.catalog.model import TableModel
from marmotdb.sql.catalog.render import quote_name, render_create_table, render_create_view
from marmotdb.sql.catalog.show_filters import (
    Handler,
    ShowFlags,
    filter_clause,
    filtered,
    finish,
    show_datetime,
    show_int,
    show_text,
)
from marmotdb.sql.catalog.show_server import SERVER_HANDLERS
from marmotdb.sql.catalog.snapshot import (
    DatabaseSnapshot,
    ViewInfo,
    next_auto_increment,
    shown_auto_increment,
    snapshot,
    table_stats,
)
from marmotdb.sql.catalog.information_schema import (
    PRIVILEGES,
    column_extra,
    index_rows,
    self_description,
)

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext



def _from_database(stream: TokenStream, ctx: CatalogContext) -> str:
    if stream.accept_word("FROM", "IN"):
        return stream.identifier()
    if ctx.current_database is None:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    return ctx.current_database


def _database_snapshot(ctx: CatalogContext, db: str) -> DatabaseSnapshot:
    if db.lower() == "information_schema":
        return _INFORMATION_SCHEMA_SELF
    if db.lower() == "mysql":  # selectable (storage/databases.py), its tables are not ours
        raise errors.not_supported("the tables of the mysql system schema")
    if db.lower() not in {d.lower() for d in ctx.databases()}:
        raise errors.error(errors.ER_BAD_DB_ERROR, f"Unknown database '{db}'")
    return snapshot(ctx.connection_for(db), db)


_INFORMATION_SCHEMA_SELF = self_description()


def _table_name(stream: TokenStream, ctx: CatalogContext) -> tuple[str, str]:
    """``[db.]table [FROM|IN db]`` -> (db, table)."""
    name = stream.identifier()
    db = None
    if stream.accept_op("."):
        db, name = name, stream.identifier()
    if stream.accept_word("FROM", "IN"):
        db = stream.identifier()
    if db is None:
        if ctx.current_database is None:
            raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
        db = ctx.current_database
    return db, name


def table_or_view(ctx: CatalogContext, db: str, name: str) -> TableModel | ViewInfo:
    """The table or view ``db.name``; 1146 when neither exists. A temporary table of the
    session (``ctx.temporary_table``, when the context has it) shadows a base table."""
    temporary = getattr(ctx, "temporary_table", None)
    model = temporary(db, name) if temporary is not None else None
    if model is not None:
        return model
    snap = _database_snapshot(ctx, db)
    found: TableModel | ViewInfo | None = snap.table(name) or snap.view(name)
    if found is None:
        raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{db}.{name}' doesn't exist")
    return found


def _describable(ctx: CatalogContext, db: str, name: str) -> TableModel | ViewInfo:
    """``table_or_view`` for SHOW COLUMNS / DESCRIBE: a view reading a dropped table or
    column is 1356, as in MySQL (drivers' reflection skips such a view on that code)."""
    found = table_or_view(ctx, db, name)
    if isinstance(found, ViewInfo) and not found.valid:
        raise errors.error(errors.ER_VIEW_INVALID, f"View '{db}.{name}' references invalid "
                           "table(s) or column(s) or function(s) or definer/invoker of view "
                           "lack rights to use them")
    return found


# ---------------------------------------------------------------------------------- handlers
def _databases(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = filter_clause(stream)
    finish(stream)
    header = "Database" + (f" ({clause[1]})" if clause and clause[0] == "like" else "")
    names = sorted([*ctx.system_databases(), *ctx.databases()])
    return filtered([show_text(header)], [(n,) for n in names], clause, ctx)


def _tables(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    db = _from_database(stream, ctx)
    clause = filter_clause(stream)
    finish(stream)
    snap = _database_snapshot(ctx, db)
    header = f"Tables_in_{db}" + (f" ({clause[1]})" if clause and clause[0] == "like" else "")
    system = snap is _INFORMATION_SCHEMA_SELF
    if flags.full:
        rows = [(n, "SYSTEM VIEW" if system else kind) for n, kind in snap.object_names()]
        return filtered([show_text(header), show_text("Table_type")], rows, clause, ctx)
    return filtered([show_text(header)], [(n,) for n, _ in snap.object_names()], clause, ctx)


def _columns(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("FROM", "IN")
    db, name = _table_name(stream, ctx)
    clause = filter_clause(stream)
    finish(stream)
    return filtered(*column_rows(_describable(ctx, db, name), flags.full), clause, ctx)


def column_rows(model: TableModel | ViewInfo, full: bool) -> tuple[list[Column], list[tuple]]:
    """SHOW [FULL] COLUMNS / DESCRIBE of a table or view."""
    columns = [show_text("Field"), show_text("Type", 256)]
    if full:
        columns.append(show_text("Collation"))
    columns += [show_text("Null", 3), show_text("Key", 3), show_text("Default", 256), show_text("Extra", 256)]
    if full:
        columns += [show_text("Privileges", 80), show_text("Comment", 1024)]
    rows = []
    for column in model.columns:
        row: list[object] = [column.name, column.column_type]
        if full:
            row.append(column.collation)
        row += ["YES" if column.nullable else "NO", column.key, column.default,
                column_extra(column)]
        if full:
            row += [PRIVILEGES, column.comment]
        rows.append(tuple(row))
    return columns, rows


def describe(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    """DESCRIBE/DESC/EXPLAIN table [column | 'pattern']."""
    db, name = _table_name(stream, ctx)
    clause = None
    token = stream.peek()
    if token.kind in ("word", "quoted", "string"):
        stream.next()
        clause = ("like", token.text if token.kind == "word" else str(token.value))
    finish(stream)
    return filtered(*column_rows(_describable(ctx, db, name), False), clause, ctx)


_INDEX_COLUMNS = [show_text("Table"), show_int("Non_unique", 1), show_text("Key_name"), show_int("Seq_in_index", 10, True),
                  show_text("Column_name"), show_text("Collation", 1), show_int("Cardinality"), show_int("Sub_part"),
                  show_text("Packed", 0), show_text("Null", 3), show_text("Index_type", 11), show_text("Comment", 8),
                  show_text("Index_comment", 2048), show_text("Visible", 3), show_text("Expression", 1024)]


def _index(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("FROM", "IN")
    db, name = _table_name(stream, ctx)
    clause = filter_clause(stream)
    finish(stream)
    model = table_or_view(ctx, db, name)
    rows = []
    if isinstance(model, TableModel):
        for row in index_rows(db, model):
            rows.append((row[2], row[3], row[5], row[6], row[7], row[8], row[9], row[10],
                         row[11], row[12], row[13], row[14], row[15], row[16], row[17]))
    return filtered(_INDEX_COLUMNS, rows, clause, ctx)


def _create(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    kind = stream.expect_word("TABLE", "VIEW", "DATABASE", "SCHEMA", "TRIGGER", "PROCEDURE",
                              "FUNCTION", "EVENT", "USER")
    return _CREATE_HANDLERS[kind](stream, ctx)


def _create_table(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    db, name = _table_name(stream, ctx)
    finish(stream)
    found = table_or_view(ctx, db, name)
    if isinstance(found, ViewInfo):
        return _view_result(found, ctx)
    quote = bool(ctx.variables.get("sql_quote_show_create"))
    auto_increment = found.auto_increment
    if not found.temporary:
        conn = ctx.connection_for(db)
        auto_increment = shown_auto_increment(ctx, conn, found, next_auto_increment(conn, found))
    text = render_create_table(found, auto_increment, quote)
    return ResultSet([show_text("Table"), show_text("Create Table", 1024)], [(found.name, text)])


def _create_view(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    db, name = _table_name(stream, ctx)
    finish(stream)
    found = table_or_view(ctx, db, name)
    if not isinstance(found, ViewInfo):
        raise errors.error(errors.ER_WRONG_OBJECT, f"'{db}.{name}' is not VIEW")
    return _view_result(found, ctx)


def _view_result(view: ViewInfo, ctx: CatalogContext) -> ResultSet:
    quote = bool(ctx.variables.get("sql_quote_show_create"))
    columns = [show_text("View"), show_text("Create View", 1024), show_text("character_set_client", 32),
               show_text("collation_connection", 32)]
    return ResultSet(columns, [(view.name, render_create_view(view, quote), view.charsets.client,
                                view.charsets.connection)])


def _create_database(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    if_not_exists = stream.accept_words("IF", "NOT", "EXISTS")
    db = stream.identifier()
    finish(stream)
    snap = _database_snapshot(ctx, db)
    guard = "/*!32312 IF NOT EXISTS*/ " if if_not_exists else ""
    text = (f"CREATE DATABASE {guard}{quote_name(snap.name)} /*!40100 DEFAULT CHARACTER SET "
            f"{snap.charset} COLLATE {snap.collation} */ /*!80016 DEFAULT ENCRYPTION='N' */")
    return ResultSet([show_text("Database"), show_text("Create Database", 1024)], [(snap.name, text)])


def _create_trigger(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    name = stream.identifier()
    db = ctx.current_database
    if stream.accept_op("."):
        db, name = name, stream.identifier()
    finish(stream)
    if db is None:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    snap = _database_snapshot(ctx, db)
    trigger = next((t for t in snap.triggers if t.name.lower() == name.lower()), None)
    if trigger is None:
        raise errors.error(errors.ER_TRG_DOES_NOT_EXIST, "Trigger does not exist")
    columns = [show_text("Trigger"), show_text("sql_mode", 520), show_text("SQL Original Statement", 1024),
               show_text("character_set_client", 32), show_text("collation_connection", 32),
               show_text("Database Collation", 32), show_datetime("Created")]
    charsets = trigger.charsets
    return ResultSet(columns, [(trigger.name, sysvars.DEFAULT_SQL_MODE, trigger.mysql_sql,
                                charsets.client, charsets.connection, charsets.database, None)])


def _create_routine(kind: str) -> Callable[[TokenStream, CatalogContext], ResultSet]:
    def handler(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
        name = stream.identifier()
        db = ctx.current_database
        if stream.accept_op("."):
            db, name = name, stream.identifier()
        finish(stream)
        if db is None:
            raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
        snap = _database_snapshot(ctx, db)
        found = next((r for r in snap.routines if r.kind == kind
                      and r.name.lower() == name.lower()), None)
        if found is None:
            raise errors.error(errors.ER_SP_DOES_NOT_EXIST, f"{kind} {name} does not exist")
        columns = [show_text(c.format(kind=kind.capitalize()), 1024 if "Create" in c else 64)
                   for c in routine_catalog.SHOW_CREATE_COLUMNS]
        return ResultSet(columns, [routine_catalog.show_create_row(found)])
    return handler


def _create_unsupported(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                       "support 'SHOW CREATE EVENT'")


def _create_user(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    user, host = stream.identifier(), "%"
    if stream.peek().kind == "uservar":  # 'user'@'host' lexes the host as a variable
        host = str(stream.next().value)
    return ResultSet([show_text(f"CREATE USER for {user}@{host}", 1024)],
                     [(ctx.create_user(user, host),)])


_CREATE_HANDLERS: dict[str, Callable[[TokenStream, CatalogContext], ResultSet]] = {
    "TABLE": _create_table, "VIEW": _create_view, "DATABASE": _create_database,
    "SCHEMA": _create_database, "TRIGGER": _create_trigger,
    "PROCEDURE": _create_routine("PROCEDURE"), "FUNCTION": _create_routine("FUNCTION"),
    "EVENT": _create_unsupported, "USER": _create_user,
}

_STATUS_COLUMNS = [show_text("Name"), show_text("Engine"), show_int("Version", 2), show_text("Row_format", 10),
                   show_int("Rows", 21, True), show_int("Avg_row_length", 21, True),
                   show_int("Data_length", 21, True), show_int("Max_data_length", 21, True),
                   show_int("Index_length", 21, True), show_int("Data_free", 21, True),
                   show_int("Auto_increment", 21, True), show_datetime("Create_time"), show_datetime("Update_time"),
                   show_datetime("Check_time"), show_text("Collation"), show_int("Checksum"),
                   show_text("Create_options", 256), show_text("Comment", 2048)]


def _table_status(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("STATUS")
    db = _from_database(stream, ctx)
    clause = filter_clause(stream)
    finish(stream)
    snap = _database_snapshot(ctx, db)
    rows = []
    for name, kind in snap.object_names():
        model = snap.table(name)
        if model is None or snap is _INFORMATION_SCHEMA_SELF:
            rows.append((name,) + (None,) * 16 + ("VIEW" if kind == "VIEW" else "",))
            continue
        s = table_stats(ctx.connection_for(db), model, ctx)
        rows.append((model.name, model.engine, 10, model.row_format, s.rows, s.avg_row_length,
                     s.data_length, 0, s.index_length, 0, s.auto_increment, None, None, None,
                     model.collation, None, model.create_options, model.comment))
    return filtered(_STATUS_COLUMNS, rows, clause, ctx)


def _triggers(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    db = _from_database(stream, ctx)
    clause = filter_clause(stream)
    finish(stream)
    snap = _database_snapshot(ctx, db)
    rows = [(t.name, t.event, t.table, t.statement, t.timing, None, sysvars.DEFAULT_SQL_MODE,
             "root@%", t.charsets.client, t.charsets.connection, t.charsets.database)
            for t in snap.triggers]
    columns = [show_text("Trigger"), show_text("Event", 6), show_text("Table"), show_text("Statement", 1024),
               show_text("Timing", 6), show_datetime("Created"), show_text("sql_mode", 520), show_text("Definer", 288),
               show_text("character_set_client", 32), show_text("collation_connection", 32),
               show_text("Database Collation", 32)]
    return filtered(columns, rows, clause, ctx, like_column=2)


_HANDLERS: dict[str, Handler] = {
    "DATABASES": _databases, "SCHEMAS": _databases, "TABLES": _tables, "COLUMNS": _columns,
    "FIELDS": _columns, "INDEX": _index, "INDEXES": _index, "KEYS": _index, "CREATE": _create,
    "TABLE": _table_status, "TRIGGERS": _triggers, **SERVER_HANDLERS,
}


def show(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    """Answer the SHOW statement whose tokens follow the SHOW keyword."""
    full = stream.accept_word("FULL") is not None
    stream.accept_word("EXTENDED")
    full = full or stream.accept_word("FULL") is not None
    scope_word = stream.accept_word("GLOBAL", "SESSION", "LOCAL")
    scope = {"GLOBAL": "global", "SESSION": "session", "LOCAL": "session"}.get(scope_word or "")
    word = stream.accept_word(*_HANDLERS)
    if word is None:
        raise syntax_error(stream)
    if word == "OPEN":
        stream.expect_word("TABLES")
    return _HANDLERS[word](stream, ctx, ShowFlags(full, scope))

