"""SHOW statements about the server and the session rather than about a database.

VARIABLES, STATUS, WARNINGS / ERRORS / COUNT(*), ENGINES, CHARACTER SET, COLLATION, PLUGINS,
PROCESSLIST, GRANTS, FUNCTION / PROCEDURE STATUS and the replication and profiling SHOWs that
have nothing to report on marmotdb (they answer MySQL's columns with no rows, or MySQL's error
where MySQL gives one without binary logging).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.mysql.types import CHARSET_BINARY, Column, ColumnFlag, FieldType, ResultSet
from marmotdb.sql.variables import scopes as sysvars
from marmotdb.sql.catalog.charsets import CHARSETS, COLLATIONS
from marmotdb.sql.catalog.expr import TokenStream, syntax_error, system_variable
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
from marmotdb.sql.catalog.snapshot import snapshot
from marmotdb.sql.catalog.information_schema import ENGINES, PLUGINS
from marmotdb.sql.routines import catalog as routine_catalog

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext


def _variables(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = filter_clause(stream)
    finish(stream)
    rows = [(name, sysvars.render_spec(sysvars.spec_for(name), _live(ctx, name, value)))
            for name, value in ctx.variables.items(flags.scope)]
    return filtered([show_text("Variable_name"), show_text("Value", 1024)], rows, clause, ctx)


def _live(ctx: CatalogContext, name: str, value: object) -> object:
    if name in sysvars.DYNAMIC and name != "timestamp":
        return system_variable(ctx, name, "session")
    return value


def _status(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = filter_clause(stream)
    finish(stream)
    rows = sorted((str(k), sysvars.render(v)) for k, v in ctx.status.items())
    return filtered([show_text("Variable_name"), show_text("Value", 1024)], rows, clause, ctx)


def _diagnostics(errors_only: bool) -> Handler:
    def handler(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
        offset, limit = _limit(stream)
        finish(stream)
        rows = [tuple(w) for w in ctx.warnings if not errors_only or w[0] == "Error"]
        rows = rows[offset:offset + limit] if limit is not None else rows[offset:]
        columns = [show_text("Level", 7), Column("Code", FieldType.LONG, 4,
                                          int(ColumnFlag.NUM | ColumnFlag.UNSIGNED),
                                          charset=CHARSET_BINARY), show_text("Message", 512)]
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
    finish(stream)
    if kind == "WARNINGS":
        return ResultSet([show_int("@@session.warning_count", 10, True)], [(len(ctx.warnings),)])
    count = sum(1 for w in ctx.warnings if w[0] == "Error")
    return ResultSet([show_int("@@session.error_count", 10, True)], [(count,)])


def _engines(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    finish(stream)
    columns = [show_text("Engine"), show_text("Support", 8), show_text("Comment", 80), show_text("Transactions", 3),
               show_text("XA", 3), show_text("Savepoints", 3)]
    return ResultSet(columns, list(ENGINES))


def _storage(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("ENGINES")
    return _engines(stream, ctx, flags)


def _charset(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = filter_clause(stream)
    finish(stream)
    rows = [(c.name, c.description, c.default_collation, c.maxlen)
            for c in sorted(CHARSETS.values(), key=lambda c: c.name)]
    columns = [show_text("Charset"), show_text("Description", 2048), show_text("Default collation"),
               show_int("Maxlen", 10, True)]
    return filtered(columns, rows, clause, ctx)


def _character(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    stream.expect_word("SET")
    return _charset(stream, ctx, flags)


def _collation(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    clause = filter_clause(stream)
    finish(stream)
    rows = [(c.name, c.charset, c.id, "Yes" if c.is_default else "", "Yes", c.sortlen,
             c.pad_attribute) for c in sorted(COLLATIONS.values(), key=lambda c: c.name)]
    columns = [show_text("Collation"), show_text("Charset"), show_int("Id", 20, True), show_text("Default", 3),
               show_text("Compiled", 3), show_int("Sortlen", 10, True), show_text("Pad_attribute", 9)]
    return filtered(columns, rows, clause, ctx)


def _plugins(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    finish(stream)
    columns = [show_text("Name"), show_text("Status", 10), show_text("Type", 80), show_text("Library", 1024),
               show_text("License", 80)]
    return ResultSet(columns, list(PLUGINS))


def _processlist(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    finish(stream)
    rows = []
    for row in ctx.processlist():
        info = row[7]
        if isinstance(info, str) and not flags.full:
            info = info[:100]
        rows.append(tuple(row[:7]) + (info,))
    columns = [show_int("Id", 21, True), show_text("User", 32), show_text("Host", 261), show_text("db"), show_text("Command", 16),
               Column("Time", FieldType.LONG, 7, int(ColumnFlag.NUM), charset=CHARSET_BINARY),
               show_text("State", 30), show_text("Info", 100)]
    return ResultSet(columns, rows)


def _grants(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    user, host = _account(stream, ctx)
    if stream.accept_word("USING"):
        raise errors.not_supported("roles")
    finish(stream)
    lines = ctx.grants(user, host)  # the current account's when (user, host) is (None, None)
    user, host = user or ctx.user, host or getattr(ctx, "account_host", "%")
    return ResultSet([show_text(f"Grants for {user}@{host}", 1024)], [(g,) for g in lines])


def _account(stream: TokenStream, ctx: CatalogContext) -> tuple[str | None, str | None]:
    """FOR 'user'@'host' | FOR CURRENT_USER[()] | nothing: (None, None) is the current one."""
    if not stream.accept_word("FOR") or stream.accept_word("CURRENT_USER"):
        if stream.accept_op("("):
            stream.accept_op(")")
        return None, None
    user, host = stream.identifier(), "%"
    if stream.peek().kind == "uservar":  # 'user'@'host' lexes the host as a variable
        host = str(stream.next().value)
    return user, host


_ROUTINE_COLUMNS = ["Db", "Name", "Type", "Definer", "Modified", "Created", "Security_type",
                    "Comment", "character_set_client", "collation_connection",
                    "Database Collation"]


def _routine_status(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    kind = str(stream.tokens[stream.index - 1].value).upper()  # PROCEDURE | FUNCTION
    word = stream.expect_word("STATUS", "CODE")
    if word == "CODE":
        name = stream.identifier()
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           f"support 'SHOW {kind} CODE' ({name})")
    clause = filter_clause(stream)
    finish(stream)
    rows = []
    for db in sorted(ctx.databases()):
        for routine in snapshot(ctx.connection_for(db), db).routines:
            if routine.kind == kind:
                rows.append(routine_catalog.status_row(db, routine))
    columns = [show_text(c) for c in _ROUTINE_COLUMNS]
    columns[4], columns[5] = show_datetime("Modified"), show_datetime("Created")
    return filtered(columns, rows, clause, ctx, like_column=1)


def _empty(names: list[str]) -> Handler:
    def handler(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
        while not stream.at_end():  # FROM db / LIKE / WHERE: nothing to filter
            stream.next()
        return ResultSet([show_text(n) for n in names], [])
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
    finish(stream)
    rows = [("Alter", "Tables", "To alter the table"),
            ("Create", "Databases,Tables,Indexes", "To create new databases and tables"),
            ("Delete", "Tables", "To delete existing rows"),
            ("Drop", "Databases,Tables", "To drop databases, tables, and views"),
            ("Index", "Tables", "To create or drop indexes"),
            ("Insert", "Tables", "To insert data into tables"),
            ("Select", "Tables", "To retrieve rows from table"),
            ("Update", "Tables", "To update existing rows")]
    return ResultSet([show_text("Privilege", 10), show_text("Context", 15), show_text("Comment")], rows)


def _engine(stream: TokenStream, ctx: CatalogContext, flags: ShowFlags) -> ResultSet:
    raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                       "support 'SHOW ENGINE ... STATUS' (storage is SQLite)")


SERVER_HANDLERS: dict[str, Handler] = {
    "VARIABLES": _variables, "STATUS": _status,
    "WARNINGS": _diagnostics(False), "ERRORS": _diagnostics(True), "COUNT": _count,
    "ENGINES": _engines, "STORAGE": _storage, "CHARSET": _charset, "CHARACTER": _character,
    "COLLATION": _collation, "PLUGINS": _plugins, "PROCESSLIST": _processlist,
    "GRANTS": _grants, "FUNCTION": _routine_status, "PROCEDURE": _routine_status,
    "EVENTS": _empty(["Db", "Name", "Definer", "Time zone", "Type", "Execute at",
                      "Interval value", "Interval field", "Starts", "Ends", "Status",
                      "Originator", "character_set_client", "collation_connection",
                      "Database Collation"]),
    "OPEN": _empty(["Database", "Table", "In_use", "Name_locked"]),
    "PROFILES": _empty(["Query_ID", "Duration", "Query"]),
    "MASTER": _master, "BINARY": _binary, "SLAVE": _replica, "REPLICA": _replica,
    "REPLICAS": _replica, "PRIVILEGES": _privileges, "ENGINE": _engine,
}
