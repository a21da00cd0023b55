"""SHOW statements and DESCRIBE, answered with MySQL 8.0's exact column names and order.

``show(stream, ctx)`` is called with the stream positioned after SHOW. A table of handlers
keyed by the first keyword(s) parses the rest; every handler builds its rows and passes them
through ``_filtered`` for the ``LIKE 'pattern'`` (case-insensitive, on the first column, or on
the column MySQL documents) or ``WHERE expr`` (evaluated in the catalog workspace) that MySQL
allows on that statement. Statements that are valid MySQL but meaningless here (replication
status, profiles, open tables) answer with MySQL's columns and no rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.mysql.types import CHARSET_BINARY, Column, ColumnFlag, FieldType, ResultSet
from marmotdb.sql import variables as sysvars
from marmotdb.sql.catalog_charsets import CHARSETS, COLLATIONS
from marmotdb.sql.catalog_expr import TokenStream, syntax_error
from marmotdb.sql.catalog_model import ColumnModel, TableModel
from marmotdb.sql.catalog_render import quote_name, render_create_table, render_create_view
from marmotdb.sql.catalog_snapshot import (
    DatabaseSnapshot,
    ViewInfo,
    next_auto_increment,
    snapshot,
    table_stats,
)
from marmotdb.sql.catalog_workspace import workspace
from marmotdb.sql.information_schema import (
    ENGINES,
    PLUGINS,
    PRIVILEGES,
    column_extra,
    index_rows,
    self_description,
)

if TYPE_CHECKING:
    from marmotdb.sql.catalog import CatalogContext

Handler = Callable[[TokenStream, "CatalogContext", "ShowFlags"], ResultSet]
_DB_COLLATION = "utf8mb4_0900_ai_ci"


class ShowFlags:
    __slots__ = ("full", "scope")

    def __init__(self, full: bool, scope: str | None):
        self.full = full
        self.scope = scope


# ---------------------------------------------------------------------------------- columns
def _t(name: str, length: int = 64) -> Column:
    return Column(name, FieldType.VAR_STRING, length * 4)


def _n(name: str, length: int = 21, unsigned: bool = False) -> Column:
    flags = ColumnFlag.NUM | ColumnFlag.BINARY | (ColumnFlag.UNSIGNED if unsigned else 0)
    return Column(name, FieldType.LONGLONG, length, int(flags), charset=CHARSET_BINARY)


def _dt(name: str) -> Column:
    return Column(name, FieldType.DATETIME, 19, int(ColumnFlag.BINARY), charset=CHARSET_BINARY)


# ---------------------------------------------------------------------------------- filters
@lru_cache(maxsize=256)
def like_pattern(pattern: str) -> re.Pattern[str]:
    """A MySQL LIKE pattern (%, _, backslash escapes) as a case-insensitive regex."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL)


def _filter_clause(stream: TokenStream) -> tuple[str, str] | None:
    """('like', pattern) or ('where', expression text) or None; the stream must then end."""
    if stream.accept_word("LIKE"):
        token = stream.next()
        if token.kind != "string":
            raise syntax_error(stream)
        return "like", str(token.value)
    if stream.accept_word("WHERE"):
        text = stream.rest_text()
        stream.index = len(stream.tokens) - 1
        return "where", text
    return None


def _finish(stream: TokenStream) -> None:
    if not stream.at_end():
        raise syntax_error(stream)


def _filtered(columns: list[Column], rows: list[tuple], clause: tuple[str, str] | None,
              ctx: CatalogContext, like_column: int = 0) -> ResultSet:
    if clause is None:
        return ResultSet(columns, rows)
    kind, text = clause
    if kind == "like":
        pattern = like_pattern(text)
        kept = [r for r in rows if r[like_column] is not None
                and pattern.match(str(r[like_column]))]
        return ResultSet(columns, kept)
    names = [c.name for c in columns]
    return ResultSet(columns, workspace().filter_rows(names, rows, text, ctx))


def _from_database(stream: TokenStream, ctx: CatalogContext) -> str:
    if stream.accept_word("FROM", "IN"):
        return stream.identifier()
    if ctx.current_database is None:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    return ctx.current_database


def _database_snapshot(ctx: CatalogContext, db: str) -> DatabaseSnapshot:
    if db.lower() == "information_schema":
        return _INFORMATION_SCHEMA_SELF
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


def _object(ctx: CatalogContext, db: str, name: str) -> TableModel | ViewInfo:
    snap = _database_snapshot(ctx, db)
    found: TableModel | ViewInfo | None = snap.table(name) or snap.view(name)
    if found is None:
        raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{db}.{name}' doesn't exist")
    return found


# ---------------------------------------------------------------------------------- handlers
def _databases(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = _filter_clause(stream)
    _finish(stream)
    header = "Database" + (f" ({clause[1]})" if clause and clause[0] == "like" else "")
    names = sorted(["information_schema", *ctx.databases()])
    return _filtered([_t(header)], [(n,) for n in names], clause, ctx)


def _tables(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    db = _from_database(stream, ctx)
    clause = _filter_clause(stream)
    _finish(stream)
    snap = _database_snapshot(ctx, db)
    header = f"Tables_in_{db}" + (f" ({clause[1]})" if clause and clause[0] == "like" else "")
    system = snap is _INFORMATION_SCHEMA_SELF
    if flags.full:
        rows = [(n, "SYSTEM VIEW" if system else kind) for n, kind in snap.object_names()]
        return _filtered([_t(header), _t("Table_type")], rows, clause, ctx)
    return _filtered([_t(header)], [(n,) for n, _ in snap.object_names()], clause, ctx)


def _columns(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("FROM", "IN")
    db, name = _table_name(stream, ctx)
    clause = _filter_clause(stream)
    _finish(stream)
    return _filtered(*column_rows(_object(ctx, db, name), flags.full), clause, ctx)


def column_rows(model: TableModel | ViewInfo, full: bool) -> tuple[list[Column], list[tuple]]:
    """SHOW [FULL] COLUMNS / DESCRIBE of a table or view."""
    columns = [_t("Field"), _t("Type", 256)]
    if full:
        columns.append(_t("Collation"))
    columns += [_t("Null", 3), _t("Key", 3), _t("Default", 256), _t("Extra", 256)]
    if full:
        columns += [_t("Privileges", 80), _t("Comment", 1024)]
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
    _finish(stream)
    return _filtered(*column_rows(_object(ctx, db, name), False), clause, ctx)


_INDEX_COLUMNS = [_t("Table"), _n("Non_unique", 1), _t("Key_name"), _n("Seq_in_index", 10, True),
                  _t("Column_name"), _t("Collation", 1), _n("Cardinality"), _n("Sub_part"),
                  _t("Packed", 0), _t("Null", 3), _t("Index_type", 11), _t("Comment", 8),
                  _t("Index_comment", 2048), _t("Visible", 3), _t("Expression", 1024)]


def _index(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("FROM", "IN")
    db, name = _table_name(stream, ctx)
    clause = _filter_clause(stream)
    _finish(stream)
    model = _object(ctx, db, name)
    rows = []
    if isinstance(model, TableModel):
        for row in index_rows(db, model):
            rows.append((row[2], row[3], row[5], row[6], row[7], row[8], row[9], row[10],
                         row[11], row[12], row[13], row[14], row[15], row[16], row[17]))
    return _filtered(_INDEX_COLUMNS, rows, clause, ctx)


def _create(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    kind = stream.expect_word("TABLE", "VIEW", "DATABASE", "SCHEMA", "TRIGGER", "PROCEDURE",
                              "FUNCTION", "EVENT", "USER")
    return _CREATE_HANDLERS[kind](stream, ctx)


def _create_table(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    db, name = _table_name(stream, ctx)
    _finish(stream)
    found = _object(ctx, db, name)
    if isinstance(found, ViewInfo):
        return _view_result(found, ctx)
    quote = bool(ctx.variables.get("sql_quote_show_create"))
    text = render_create_table(found, next_auto_increment(ctx.connection_for(db), found), quote)
    return ResultSet([_t("Table"), _t("Create Table", 1024)], [(found.name, text)])


def _create_view(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    db, name = _table_name(stream, ctx)
    _finish(stream)
    found = _object(ctx, db, name)
    if not isinstance(found, ViewInfo):
        raise errors.error(errors.ER_WRONG_OBJECT, f"'{db}.{name}' is not VIEW")
    return _view_result(found, ctx)


def _view_result(view: ViewInfo, ctx: CatalogContext) -> ResultSet:
    quote = bool(ctx.variables.get("sql_quote_show_create"))
    columns = [_t("View"), _t("Create View", 1024), _t("character_set_client", 32),
               _t("collation_connection", 32)]
    return ResultSet(columns, [(view.name, render_create_view(view, quote), "utf8mb4",
                                "utf8mb4_0900_ai_ci")])


def _create_database(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    if_not_exists = stream.accept_words("IF", "NOT", "EXISTS")
    db = stream.identifier()
    _finish(stream)
    snap = _database_snapshot(ctx, db)
    guard = "/*!32312 IF NOT EXISTS*/ " if if_not_exists else ""
    charset, collation = ("utf8mb3", "utf8mb3_general_ci") if snap is _INFORMATION_SCHEMA_SELF \
        else ("utf8mb4", _DB_COLLATION)
    text = (f"CREATE DATABASE {guard}{quote_name(snap.name)} /*!40100 DEFAULT CHARACTER SET "
            f"{charset} COLLATE {collation} */ /*!80016 DEFAULT ENCRYPTION='N' */")
    return ResultSet([_t("Database"), _t("Create Database", 1024)], [(snap.name, text)])


def _create_trigger(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    name = stream.identifier()
    db = ctx.current_database
    if stream.accept_op("."):
        db, name = name, stream.identifier()
    _finish(stream)
    if db is None:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    snap = _database_snapshot(ctx, db)
    trigger = next((t for t in snap.triggers if t.name.lower() == name.lower()), None)
    if trigger is None:
        raise errors.error(errors.ER_TRG_DOES_NOT_EXIST, "Trigger does not exist")
    columns = [_t("Trigger"), _t("sql_mode", 520), _t("SQL Original Statement", 1024),
               _t("character_set_client", 32), _t("collation_connection", 32),
               _t("Database Collation", 32), _dt("Created")]
    return ResultSet(columns, [(trigger.name, sysvars.DEFAULT_SQL_MODE, trigger.mysql_sql,
                                "utf8mb4", _DB_COLLATION, _DB_COLLATION, None)])


def _create_routine(kind: str) -> Callable[[TokenStream, CatalogContext], ResultSet]:
    def handler(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
        name = stream.identifier()
        if stream.accept_op("."):
            name = stream.identifier()
        raise errors.error(errors.ER_SP_DOES_NOT_EXIST, f"{kind} {name} does not exist")
    return handler


def _create_unsupported(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                       "support 'SHOW CREATE USER/EVENT' (users come from the configuration)")


_CREATE_HANDLERS: dict[str, Callable[[TokenStream, CatalogContext], ResultSet]] = {
    "TABLE": _create_table, "VIEW": _create_view, "DATABASE": _create_database,
    "SCHEMA": _create_database, "TRIGGER": _create_trigger,
    "PROCEDURE": _create_routine("PROCEDURE"), "FUNCTION": _create_routine("FUNCTION"),
    "EVENT": _create_unsupported, "USER": _create_unsupported,
}

_STATUS_COLUMNS = [_t("Name"), _t("Engine"), _n("Version", 2), _t("Row_format", 10),
                   _n("Rows", 21, True), _n("Avg_row_length", 21, True),
                   _n("Data_length", 21, True), _n("Max_data_length", 21, True),
                   _n("Index_length", 21, True), _n("Data_free", 21, True),
                   _n("Auto_increment", 21, True), _dt("Create_time"), _dt("Update_time"),
                   _dt("Check_time"), _t("Collation"), _n("Checksum"),
                   _t("Create_options", 256), _t("Comment", 2048)]


def _table_status(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("STATUS")
    db = _from_database(stream, ctx)
    clause = _filter_clause(stream)
    _finish(stream)
    snap = _database_snapshot(ctx, db)
    rows = []
    for name, kind in snap.object_names():
        model = snap.table(name)
        if model is None or snap is _INFORMATION_SCHEMA_SELF:
            rows.append((name,) + (None,) * 16 + ("VIEW" if kind == "VIEW" else "",))
            continue
        s = table_stats(ctx.connection_for(db), model)
        rows.append((model.name, model.engine, 10, model.row_format, s.rows, s.avg_row_length,
                     s.data_length, 0, s.index_length, 0, s.auto_increment, None, None, None,
                     model.collation, None, model.create_options, model.comment))
    return _filtered(_STATUS_COLUMNS, rows, clause, ctx)


def _variables(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = _filter_clause(stream)
    _finish(stream)
    rows = [(name, sysvars.render_spec(sysvars.spec_for(name), _live(ctx, name, value)))
            for name, value in ctx.variables.items(flags.scope)]
    return _filtered([_t("Variable_name"), _t("Value", 1024)], rows, clause, ctx)


def _live(ctx: CatalogContext, name: str, value: object) -> object:
    from marmotdb.sql.catalog_expr import system_variable

    if name in sysvars.DYNAMIC and name != "timestamp":
        return system_variable(ctx, name, "session")
    return value


def _status(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = _filter_clause(stream)
    _finish(stream)
    rows = sorted((str(k), sysvars.render(v)) for k, v in ctx.status.items())
    return _filtered([_t("Variable_name"), _t("Value", 1024)], rows, clause, ctx)


def _diagnostics(errors_only: bool) -> Handler:
    def handler(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
        offset, limit = _limit(stream)
        _finish(stream)
        rows = [tuple(w) for w in ctx.warnings if not errors_only or w[0] == "Error"]
        rows = rows[offset:offset + limit] if limit is not None else rows[offset:]
        columns = [_t("Level", 7), Column("Code", FieldType.LONG, 4,
                                          int(ColumnFlag.NUM | ColumnFlag.UNSIGNED),
                                          charset=CHARSET_BINARY), _t("Message", 512)]
        return ResultSet(columns, rows)
    return handler


def _limit(stream: TokenStream) -> tuple[int, int | None]:
    if not stream.accept_word("LIMIT"):
        return 0, None
    first = int(stream.next().value)
    if stream.accept_op(","):
        return first, int(stream.next().value)
    if stream.accept_word("OFFSET"):
        return int(stream.next().value), first
    return 0, first


def _count(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    for expected in ("(", "*", ")"):
        if stream.accept_op(expected) is None:
            raise syntax_error(stream)
    kind = stream.expect_word("WARNINGS", "ERRORS")
    _finish(stream)
    if kind == "WARNINGS":
        return ResultSet([_n("@@session.warning_count", 10, True)], [(len(ctx.warnings),)])
    count = sum(1 for w in ctx.warnings if w[0] == "Error")
    return ResultSet([_n("@@session.error_count", 10, True)], [(count,)])


def _engines(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    _finish(stream)
    columns = [_t("Engine"), _t("Support", 8), _t("Comment", 80), _t("Transactions", 3),
               _t("XA", 3), _t("Savepoints", 3)]
    return ResultSet(columns, list(ENGINES))


def _storage(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("ENGINES")
    return _engines(stream, ctx, flags)


def _charset(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = _filter_clause(stream)
    _finish(stream)
    rows = [(c.name, c.description, c.default_collation, c.maxlen)
            for c in sorted(CHARSETS.values(), key=lambda c: c.name)]
    columns = [_t("Charset"), _t("Description", 2048), _t("Default collation"),
               _n("Maxlen", 10, True)]
    return _filtered(columns, rows, clause, ctx)


def _character(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("SET")
    return _charset(stream, ctx, flags)


def _collation(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = _filter_clause(stream)
    _finish(stream)
    rows = [(c.name, c.charset, c.id, "Yes" if c.is_default else "", "Yes", c.sortlen,
             c.pad_attribute) for c in sorted(COLLATIONS.values(), key=lambda c: c.name)]
    columns = [_t("Collation"), _t("Charset"), _n("Id", 20, True), _t("Default", 3),
               _t("Compiled", 3), _n("Sortlen", 10, True), _t("Pad_attribute", 9)]
    return _filtered(columns, rows, clause, ctx)


def _plugins(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    _finish(stream)
    columns = [_t("Name"), _t("Status", 10), _t("Type", 80), _t("Library", 1024),
               _t("License", 80)]
    return ResultSet(columns, list(PLUGINS))


def _processlist(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    _finish(stream)
    rows = []
    for row in ctx.processlist():
        info = row[7]
        if isinstance(info, str) and not flags.full:
            info = info[:100]
        rows.append(tuple(row[:7]) + (info,))
    columns = [_n("Id", 21, True), _t("User", 32), _t("Host", 261), _t("db"), _t("Command", 16),
               Column("Time", FieldType.LONG, 7, int(ColumnFlag.NUM), charset=CHARSET_BINARY),
               _t("State", 30), _t("Info", 100)]
    return ResultSet(columns, rows)


def _grants(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    user, host = ctx.user, "%"
    if stream.accept_word("FOR"):
        if stream.accept_word("CURRENT_USER"):
            if stream.accept_op("("):
                stream.accept_op(")")
        else:
            user = stream.identifier()
            if stream.peek().kind == "uservar":  # 'user'@'host' lexes the host as a variable
                host = str(stream.next().value)
            if user != ctx.user:
                raise errors.error(errors.ER_NONEXISTING_GRANT, f"There is no such grant "
                                   f"defined for user '{user}' on host '{host}'")
    _finish(stream)
    return ResultSet([_t(f"Grants for {user}@{host}", 1024)], [(g,) for g in ctx.grants()])


def _triggers(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    db = _from_database(stream, ctx)
    clause = _filter_clause(stream)
    _finish(stream)
    snap = _database_snapshot(ctx, db)
    rows = [(t.name, t.event, t.table, t.statement, t.timing, None, sysvars.DEFAULT_SQL_MODE,
             "root@%", "utf8mb4", _DB_COLLATION, _DB_COLLATION) for t in snap.triggers]
    columns = [_t("Trigger"), _t("Event", 6), _t("Table"), _t("Statement", 1024),
               _t("Timing", 6), _dt("Created"), _t("sql_mode", 520), _t("Definer", 288),
               _t("character_set_client", 32), _t("collation_connection", 32),
               _t("Database Collation", 32)]
    return _filtered(columns, rows, clause, ctx, like_column=2)


_ROUTINE_COLUMNS = ["Db", "Name", "Type", "Definer", "Modified", "Created", "Security_type",
                    "Comment", "character_set_client", "collation_connection",
                    "Database Collation"]


def _routine_status(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    word = stream.expect_word("STATUS", "CODE")
    if word == "CODE":
        name = stream.identifier()
        raise errors.error(errors.ER_SP_DOES_NOT_EXIST, f"PROCEDURE {name} does not exist")
    clause = _filter_clause(stream)
    _finish(stream)
    return _filtered([_t(c) for c in _ROUTINE_COLUMNS], [], clause, ctx, like_column=1)


def _empty(names: list[str]) -> Handler:
    def handler(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
        while not stream.at_end():  # FROM db / LIKE / WHERE: nothing to filter
            stream.next()
        return ResultSet([_t(n) for n in names], [])
    return handler


def _master(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    if stream.accept_word("LOGS"):
        raise errors.error(errors.ER_NO_BINARY_LOGGING, "You are not using binary logging")
    stream.expect_word("STATUS")
    return _empty(["File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB",
                   "Executed_Gtid_Set"])(stream, ctx, flags)


def _binary(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    if stream.accept_word("LOG"):
        return _master(stream, ctx, flags)
    raise errors.error(errors.ER_NO_BINARY_LOGGING, "You are not using binary logging")


def _replica(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.accept_word("STATUS", "HOSTS")
    return _empty(["Replica_IO_State", "Source_Host", "Source_User", "Source_Port"])(
        stream, ctx, flags)


def _privileges(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    _finish(stream)
    rows = [("Alter", "Tables", "To alter the table"),
            ("Create", "Databases,Tables,Indexes", "To create new databases and tables"),
            ("Delete", "Tables", "To delete existing rows"),
            ("Drop", "Databases,Tables", "To drop databases, tables, and views"),
            ("Index", "Tables", "To create or drop indexes"),
            ("Insert", "Tables", "To insert data into tables"),
            ("Select", "Tables", "To retrieve rows from table"),
            ("Update", "Tables", "To update existing rows")]
    return ResultSet([_t("Privilege", 10), _t("Context", 15), _t("Comment")], rows)


def _engine(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                       "support 'SHOW ENGINE ... STATUS' (storage is SQLite)")


_HANDLERS: dict[str, Handler] = {
    "DATABASES": _databases, "SCHEMAS": _databases, "TABLES": _tables, "COLUMNS": _columns,
    "FIELDS": _columns, "INDEX": _index, "INDEXES": _index, "KEYS": _index, "CREATE": _create,
    "TABLE": _table_status, "VARIABLES": _variables, "STATUS": _status,
    "WARNINGS": _diagnostics(False), "ERRORS": _diagnostics(True), "COUNT": _count,
    "ENGINES": _engines, "STORAGE": _storage, "CHARSET": _charset, "CHARACTER": _character,
    "COLLATION": _collation, "PLUGINS": _plugins, "PROCESSLIST": _processlist,
    "GRANTS": _grants, "TRIGGERS": _triggers, "FUNCTION": _routine_status,
    "PROCEDURE": _routine_status,
    "EVENTS": _empty(["Db", "Name", "Definer", "Time zone", "Type", "Execute at",
                      "Interval value", "Interval field", "Starts", "Ends", "Status",
                      "Originator", "character_set_client", "collation_connection",
                      "Database Collation"]),
    "OPEN": _empty(["Database", "Table", "In_use", "Name_locked"]),
    "PROFILES": _empty(["Query_ID", "Duration", "Query"]),
    "MASTER": _master, "BINARY": _binary, "SLAVE": _replica, "REPLICA": _replica,
    "REPLICAS": _replica, "PRIVILEGES": _privileges, "ENGINE": _engine,
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


def field_columns(model: TableModel | ViewInfo) -> list[ColumnModel]:
    return list(model.columns)
