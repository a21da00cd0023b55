"""Other databases a statement reads, ATTACHed to the connection it runs on.

A statement runs on a connection of its home database (sql/translate.py: the database it
writes, else the current one, else the one database it reads); its SQL names the tables of
any other database ``"otherdb"."t"``, so ``otherdb`` must be ATTACHed to that connection under
its own name. ``attach`` does it before the statement runs, under the server's trust (clients
may not ATTACH). Attachments stay on the connection for the next statement that needs them:
pooled connections are shared, so the file is opened once per connection and database, not
per statement. One made stale by DROP DATABASE (a new ``Database`` object under the name) is
detached and attached again. At most ``ATTACHED_MAX`` per connection: beyond it, those the
statement does not need are detached first (one read by the connection's open transaction
cannot be until it ends; SQLite's own limit is 125).

An attached database is only ever read: ``binding.writable_schema`` refuses a user statement
that would write it, and a transaction writes one database (1235). In a transaction the
attached database is read at the snapshot its first read took, like a pinned connection.

SQLite looks an unqualified name up in TEMP, MAIN, then every attached database: on a
connection with attachments, a table missing from the home database would be found in
another one (a shared connection: one the session may not even read). So there, before a
statement runs, ``require_home_tables`` checks that the unqualified tables it names exist in
the home database (1146 otherwise). Connections without attachments pay nothing.
"""

from __future__ import annotations

import apsw

from marmotdb import errors
from marmotdb.sql.binding import ConnectionBinding
from marmotdb.storage.databases import Database

ATTACHED_MAX = 16  # databases attached to one connection at a time
_RESERVED = frozenset({"main", "temp"})  # SQLite's own schema names


def attach(conn: apsw.Connection, binding: ConnectionBinding, databases: list[Database]) -> None:
    """Make every database of ``databases`` readable on ``conn`` under its name."""
    attached: dict[str, Database] = binding.attached
    wanted = {database.name for database in databases}
    for database in databases:
        current = attached.get(database.name)
        if current is database:
            continue
        if database.name in _RESERVED:
            raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't "
                               f"yet support 'reading database {database.name} from another'")
        with binding.trusted_scope():
            if current is not None:
                _detach(conn, attached, database.name, required=True)
            elif len(attached) >= ATTACHED_MAX:
                for name in [n for n in attached if n not in wanted]:
                    _detach(conn, attached, name, required=False)
            conn.execute(f"ATTACH DATABASE ? AS {_quoted(database.name)}",
                         (str(database.path),))
        attached[database.name] = database


def require_home_tables(conn: apsw.Connection, binding: ConnectionBinding,
                        names: list[str], database: str | None) -> None:
    """1146 unless every table of ``names`` is in ``conn``'s MAIN or TEMP schema (1046 when
    the statement has no home: no database selected)."""
    if not binding.attached:
        return
    with binding.trusted_scope():
        for name in names:
            if conn.execute(_EXISTS, (name, name)).fetchall():
                continue
            if database is None:
                raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
            raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{database}.{name}' doesn't exist")


_EXISTS = ("SELECT 1 FROM main.sqlite_schema WHERE type IN ('table', 'view') AND name = ? "
           "COLLATE NOCASE UNION ALL SELECT 1 FROM temp.sqlite_schema WHERE type = 'table' "
           "AND name = ? COLLATE NOCASE")


def _detach(conn: apsw.Connection, attached: dict[str, Database], name: str,
            required: bool) -> None:
    try:
        conn.execute(f"DETACH DATABASE {_quoted(name)}")
    except apsw.SQLError:  # read by the connection's open transaction
        if required:
            raise errors.error(errors.ER_LOCK_WAIT_TIMEOUT, f"Database '{name}' was dropped "
                               "and created again during this transaction; try again") from None
        return
    del attached[name]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
