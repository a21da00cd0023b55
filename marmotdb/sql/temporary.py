"""A session's temporary tables (CREATE TEMPORARY TABLE), with MySQL's semantics.

Theory of operation
-------------------
A MySQL temporary table belongs to one session: other sessions never see it, it shadows a
base table of the same name, it is gone when the session ends (disconnect,
COM_RESET_CONNECTION, COM_CHANGE_USER), and it is never replicated. Its DDL does not commit
the open transaction; its rows are InnoDB rows, so ROLLBACK undoes them.

**Where they live.** Sessions share SQLite connections (each database has one write
connection, owned by its CommitPipeline and shared by every writer, and a pool of read
connections), so SQLite's per-connection TEMP schema is shared too. A session that creates a
temporary table in database D gets a *space*: a connection of its own to D's file, outside
the pool (``ServerState.session_connection``). The space's TEMP schema holds the session's
temporary tables of D under their own names, and a TEMP ``__marmot_schema`` their MySQL
definitions (the translator's bookkeeping statements, run there, resolve to it). From then on
the space is the session's read connection for D:

* SQLite resolves an unqualified name in TEMP before MAIN: a temporary table shadows a base
  table natively, and a join of temporary and base tables is an ordinary join;
* in a transaction the space is pinned like any read connection (``BEGIN``: the snapshot of
  D's base tables), so temporary rows written in the transaction commit or roll back with it
  and user savepoints cover them (it sits in ``Transaction.reads`` under ``read_key``);
* its binding lets user statements write the TEMP schema only (``writable_schema``): nothing
  run on it can write D's file.

**Writes.** A statement that writes only temporary tables runs on the space: no write turn,
no batch, nothing captured into a write set, no row versions, no commit-log record, so
nothing of it can reach another node. Affected rows come from a capture of the TEMP schema
that counts rows without keeping them. A statement that writes a base table runs on D's write
connection as always; the temporary tables it names are copied into that connection's TEMP
schema for the statement (inside its savepoint, dropped after it), so ``INSERT INTO base
SELECT … FROM tmp`` and ``UPDATE base JOIN tmp`` work and their base rows are captured as row
images like any others. A read in a transaction that already wrote D runs on the write
connection the same way (it reads its own writes). A DDL on a base table never sees
temporary tables: its SQL is replayed on other nodes, which have none.

**Temporary DDL** (CREATE TEMPORARY TABLE … [LIKE | AS SELECT], DROP [TEMPORARY] TABLE, and
ALTER, CREATE/DROP INDEX, TRUNCATE, RENAME of a temporary table) is translated by the
ordinary translator against a view that sees the space's tables first, and runs on the space
with every ``CREATE TABLE`` made ``CREATE TEMP TABLE``. As in MySQL it neither commits the
session's transaction nor is undone by its ROLLBACK: the space commits what the transaction
wrote to its temporary tables so far, runs the DDL, and begins again with the savepoints.

**Caches.** Translations are cached by statement shape and schema key, SELECT descriptions by
statement text: a space adds its ``key``, the names and MySQL definitions of its tables. What
was built with a temporary table in view serves only a session whose temporary tables are the
same, and a table dropped and created again as before (a test suite's setUp) finds its
translations, and its CREATE its own, still cached.

**Cleanup.** The session closes its spaces when it ends or is reset, and SQLite frees a TEMP
schema with its connection. A space whose database was dropped is closed when next looked at.

Rejected: one private database per session ATTACHed to whichever connection runs the
statement (a pinned read snapshot of it would not see the session's own later temporary
writes, and attaching per statement opens a file per statement); name-mangled tables in the
TEMP schema of the shared connections (the write connection's TEMP schema lives inside every
batch transaction: another session's rolled-back savepoint or a failed batch would undo
temporary rows, and temporary writes would need the write turn and group commit).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import apsw

from marmotdb import errors
from marmotdb.sql import schema
from marmotdb.sql.text import lexer
from marmotdb.sql.catalog.model import TableModel
from marmotdb.sql.catalog.snapshot import next_auto_increment, table_model, trusted
from marmotdb.sql.rewrites.ddl_target import DdlTarget, Name
from marmotdb.sql.server_state import SchemaView
from marmotdb.storage.capture import ChangeCapture
from marmotdb.storage.databases import Database
from marmotdb.txn.transaction import Transaction, begin_reading, run_statement

if TYPE_CHECKING:
    from marmotdb.sql.server_state import ServerState

_MOVABLE = frozenset({"ALTER", "RENAME", "TRUNCATE"})  # DDL that may name a temporary table


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def as_temporary(statement: str) -> str:
    """A translated DDL statement, creating its table in the TEMP schema."""
    if statement.startswith("CREATE TABLE "):
        return "CREATE TEMP TABLE " + statement[len("CREATE TABLE "):]
    return statement


class TempSpace:
    """One session's temporary tables of one database (see the module docstring)."""

    __slots__ = ("database", "conn", "binding", "capture", "names", "key")

    def __init__(self, server: ServerState, database: Database):
        self.database = database
        self.conn = server.session_connection(database)
        self.binding = server.binding(self.conn)
        with self.binding.trusted_scope():
            schema.ensure_schema_table(self.conn, temporary=True)
        self.capture = ChangeCapture(self.conn, trusted=self.binding.trusted_scope,
                                     schema_name="temp", keep_rows=False)
        self.names: frozenset[str] = frozenset()  # lower-case names of its tables
        self.key: tuple[Any, ...] = ("temporary",)  # + (name, MySQL DDL) of each table

    @property
    def read_key(self) -> str:
        """Its entry in ``Transaction.reads`` (no database name has a '#')."""
        return f"{self.database.name}#temporary"

    def holds(self, name: Name) -> bool:
        db, table = name
        return table.lower() in self.names and (db is None or db.lower() == self.database.name)

    def refresh(self) -> None:
        """Re-read which tables exist (after a temporary DDL ran, or failed)."""
        with self.binding.trusted_scope():
            rows = self.conn.execute('SELECT name, mysql_sql FROM temp."__marmot_schema" '
                                     "WHERE kind = 'table' ORDER BY name").fetchall()
        self.names = frozenset(str(name).lower() for name, _ in rows)
        self.key = ("temporary", *(tuple(row) for row in rows))
        self.capture.invalidate_schema()

    def referenced(self, statements: tuple[str, ...]) -> list[str]:
        """The temporary tables named in translated SQL (every name is double-quoted)."""
        text = " ".join(statements).lower()
        return [name for name in self.names if quoted(name) in text]

    def model(self, name: str) -> TableModel | None:
        """The catalog's model of one temporary table (DESCRIBE, SHOW CREATE TABLE …)."""
        if name.lower() not in self.names:
            return None
        with self.binding.trusted_scope():
            found = self.conn.execute("SELECT name, sql FROM sqlite_temp_schema WHERE "
                                      "type = 'table' AND name = ? COLLATE NOCASE",
                                      (name,)).fetchall()
            model = table_model(self.conn, found[0][0], found[0][1],
                                schema.mysql_ddl(self.conn, name))
            model.temporary = True
            model.auto_increment = next_auto_increment(self.conn, model)
        return model

    def run_ddl(self, run: Callable[[apsw.Connection], Any], txn: Transaction | None) -> None:
        """Run a temporary DDL atomically, outside the session's transaction (see the module
        docstring), and re-read the tables."""
        conn = self.conn
        in_transaction = not conn.get_autocommit()
        if in_transaction:
            conn.execute("COMMIT")
        try:
            run_statement(conn, None, run)
        finally:
            self.refresh()
            if in_transaction:
                begin_reading(conn, txn.savepoints if txn is not None else [])

    def drop(self, names: list[str]) -> Callable[[apsw.Connection], None]:
        """The statements of DROP TEMPORARY TABLE ``names``, as a run for ``run_ddl``."""
        def run(conn: apsw.Connection) -> None:
            with self.binding.trusted_scope():
                for name in names:
                    conn.execute(f"DROP TABLE temp.{quoted(name)}")
                    conn.execute(schema.delete_statement("table", name))
        return run

    @contextmanager
    def copied_to(self, conn: apsw.Connection, statements: tuple[str, ...]) -> Iterator[None]:
        """The temporary tables ``statements`` name, copied into ``conn``'s TEMP schema while
        they run (``conn``: the database's write connection, inside the statement's
        savepoint). The copies keep columns, keys and collations, not AUTOINCREMENT: a TEMP
        ``sqlite_sequence`` there would shadow the database's own for later statements."""
        names = self.referenced(statements) if conn is not self.conn else []
        with self.binding.trusted_scope():
            for name in names:
                self._copy(conn, name)
        try:
            yield
        finally:
            for name in names:
                with trusted(conn):
                    conn.execute(f"DROP TABLE IF EXISTS temp.{quoted(name)}")

    def _copy(self, target: apsw.Connection, name: str) -> None:
        source = self.conn
        sql = source.execute("SELECT sql FROM sqlite_temp_schema WHERE type = 'table' AND "
                             "name = ? COLLATE NOCASE", (name,)).fetchall()[0][0]
        columns = [quoted(column) for column, hidden in source.execute(
            "SELECT name, hidden FROM pragma_table_xinfo(?, 'temp')", (name,)) if hidden == 0]
        listed = ", ".join(columns)
        rows = source.execute(f"SELECT {listed} FROM temp.{quoted(name)}").fetchall()
        with trusted(target):
            target.execute(as_temporary(_without_autoincrement(sql)))
            target.executemany(f"INSERT INTO temp.{quoted(name)} ({listed}) VALUES "
                               f"({', '.join('?' for _ in columns)})", rows)

    def close(self) -> None:
        self.capture.close()
        self.conn.close()


class TemporaryTables:
    """The spaces of one session, by database name."""

    def __init__(self, server: ServerState, session: Any):
        self._server = server
        # MySQL functions on the spaces read it, as on any connection. Weak: the session holds
        # this, and a cycle would leave every closed session to the garbage collector.
        self._session = weakref.ref(session)
        self.spaces: dict[str, TempSpace] = {}  # by database name; empty: nothing to do

    def space(self, database: Database) -> TempSpace | None:
        space = self.spaces.get(database.name)
        if space is not None and space.database is not database:  # dropped (and re-created)
            self.spaces.pop(database.name).close()
            return None
        return space

    def open(self, database: Database) -> TempSpace:
        space = self.space(database)
        if space is None:
            space = TempSpace(self._server, database)
            space.binding.session = self._session()
            self.spaces[database.name] = space
        return space

    def routes(self, target: DdlTarget, database: Database) -> bool:
        """Whether a DDL is about a temporary table (so it runs on the space)."""
        if target.temporary:
            return True
        space = self.space(database) if self.spaces else None
        if space is None or not target.tables:
            return False
        if target.verb == "DROP" and target.kind == "TABLE":
            return any(space.holds(name) for name in target.tables)
        movable = target.verb in _MOVABLE or (target.kind == "INDEX"
                                              and target.verb in ("CREATE", "DROP"))
        return movable and target.kind in ("TABLE", "INDEX") and space.holds(target.tables[0])

    def refuse_base_ddl(self, target: DdlTarget, database: Database, text: str) -> None:
        """MySQL's errors for a trigger on, or a view of, a temporary table."""
        space = self.space(database) if self.spaces else None
        if space is None:
            return
        if target.kind == "TRIGGER" and target.verb == "CREATE" and target.tables and \
                space.holds(target.tables[0]):
            raise errors.error(errors.ER_TRG_ON_VIEW_OR_TEMP_TABLE, f"Trigger's "
                               f"'{target.tables[0][1]}' is view or temporary table")
        if target.kind == "VIEW" and target.verb in ("CREATE", "ALTER"):
            named = {token.text.strip("`").lower() for token in lexer.tokens(text)
                     if token.kind in (lexer.WORD, lexer.QUOTED)}
            used = sorted(named & space.names)
            if used:
                raise errors.error(errors.ER_VIEW_SELECT_TMPTABLE,
                                   f"View's SELECT refers to a temporary table '{used[0]}'")

    def release(self, key: str, conn: apsw.Connection, commit: bool) -> bool:
        """End a space's part of a transaction (``key`` from ``Transaction.reads``); False
        when ``key`` is not a space's."""
        if not key.endswith("#temporary"):
            return False
        try:
            if not conn.get_autocommit():
                conn.execute("COMMIT" if commit else "ROLLBACK")
        except apsw.ConnectionClosedError:  # its database was dropped: the space is gone
            pass
        return True

    def pin(self, space: TempSpace, txn: Transaction) -> apsw.Connection:
        """The space as the transaction's connection: begun, with its savepoints."""
        if space.read_key not in txn.reads:
            begin_reading(space.conn, txn.savepoints)
            txn.reads[space.read_key] = space.conn
        return space.conn

    def close(self) -> None:
        spaces, self.spaces = self.spaces, {}
        for space in spaces.values():
            space.close()


class TemporarySchemaView:
    """The translator's view of a database as a session with temporary tables sees it: its
    temporary tables first, then the base tables (``hidden``: names to see as absent, the
    table a CREATE TEMPORARY TABLE is about to make)."""

    def __init__(self, base: SchemaView, space: TempSpace, hidden: frozenset[str] = frozenset()):
        self.base = base
        self.space = space
        self.hidden = hidden
        self.database = base.database
        self.foreign_key_checks = base.foreign_key_checks
        self.timestamps_local = base.timestamps_local
        # its temporary tables (their ``__marmot_schema`` shadows the database's there)
        self._temporary = SchemaView(space.conn, space.database, space.binding, schema="temp")

    def schema_key(self) -> tuple[Any, ...]:
        return (self.base.schema_key(), self.space.key, self.hidden)

    def _side(self, table: str) -> SchemaView | None:
        lowered = table.lower()
        if lowered in self.space.names:
            return self._temporary
        return None if lowered in self.hidden else self.base

    def database_charset(self) -> tuple[str, str]:
        """A temporary table's default character set is its database's, as a base table's."""
        return self.base.database_charset()

    def is_temporary(self, table: str) -> bool:
        return table.lower() in self.space.names

    def table_sql(self, table: str) -> str | None:
        side = self._side(table)
        return side.table_sql(table) if side is not None else None

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        side = self._side(table)
        return side.columns(table) if side is not None else None

    def foreign_key_owner(self, name: str) -> str | None:
        return self.base.foreign_key_owner(name)  # temporary tables have no FOREIGN KEYs

    def sqlite_index_taken(self, name: str, table: str) -> bool:
        side = self._side(table) or self._temporary  # a table about to be made is temporary
        return side.sqlite_index_taken(name, table)

    def mysql_ddl(self, table: str) -> str | None:
        side = self._side(table)
        return side.mysql_ddl(table) if side is not None else None

    def table_meta(self, table: str) -> dict[str, Any] | None:
        side = self._side(table)
        return side.table_meta(table) if side is not None else None

    def sqlite_triggers(self, table: str) -> list[str]:
        side = self._side(table)
        return side.sqlite_triggers(table) if side is not None else []


def _without_autoincrement(sql: str) -> str:
    return "".join(token.text for token in lexer.tokens(sql)
                   if not (token.kind == lexer.WORD and token.text.upper() == "AUTOINCREMENT"))
