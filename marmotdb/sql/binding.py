"""What ties a pooled SQLite connection to the session currently using it.

Pooled connections outlive sessions, but MySQL functions (NOW(), LAST_INSERT_ID(), DATABASE()),
the authorizer and the read budget are per session. Each connection gets one
``ConnectionBinding`` at open time; a session sets ``binding.session`` when it checks the
connection out and clears it on check-in. The binding is also the function context handed to
``sql.functions.registry.register_functions``: attribute reads fall through to the bound session.

Rows written are counted (and captured) by the commit pipeline's change capture on the one
connection that writes (txn/pipeline.py), not here.

The closed SQL surface
----------------------
Three levels of trust decide what the authorizer lets through:

* **user** (``trusted`` False): the statements translated from a client's SQL. Internal tables
  (``__marmot_*``), SQLite's catalogue and sequence table (``sqlite_*``), the table-valued
  ``pragma_*`` functions and ``dbstat`` are unreachable however they are named: plainly,
  qualified, inside a CTE or subquery, through a view or a trigger (SQLite reports those in
  the ``trigger`` argument; no exemption is made for them).
* **DDL** (``trusted`` True, set by the session around a translated DDL): the translation
  carries its own bookkeeping (``__marmot_schema`` rows, ``sqlite_sequence``), so internal
  tables may be written, but never altered, dropped, indexed, given a trigger or created by a
  user's name, no view or trigger may read or write them, and ``pragma_*``/``dbstat`` are
  not read at all (``CREATE TABLE … AS SELECT`` from them). The authorizer cannot see a
  statement's text, so an execution guard checks it: a DDL statement naming an internal table
  outside the bookkeeping shapes (``TRUNCATE __marmot_schema``, ``CREATE VIEW … FROM
  sqlite_master``, a trigger body writing ``__marmot_schema``) is refused before it runs.
* **internal** (``trusted_scope()``): the server's own statements; everything passes.

Whatever the trust, a statement that is not internal writes one schema only,
``writable_schema``: ``main`` on the database's own connections (an ATTACHed database is read,
never written: a write goes through its own database's write connection), ``temp`` on a
session's private connection (sql/temporary.py: its temporary tables, never the shared file).

A session holding LOCK TABLES locks is also asked about every user table a statement touches
(``sql/table_locks.py``): 1100 for a table it did not lock, 1099 for writing a READ-locked one.
The database asked about is the one SQLite names (an ATTACHed one), else this connection's
file's; the TEMP schema (the session's temporary tables) is never asked about, as in MySQL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.sql.written_row import WrittenRow

# APSW's statement cache keys on the text AND the prepare flags, and SQLite asks the authorizer
# only when a statement is prepared: a client's statement whose text equalled one the server
# had prepared in ``trusted_scope()`` (authorized "everything passes") would reuse it. So each
# trust level prepares with flags of its own and never shares a cache entry with another:
# internal statements 0, a client's PERSISTENT, a client's DDL (its bookkeeping may write
# internal tables) PERSISTENT | DONT_LOG. Neither flag changes what a statement does:
# PERSISTENT tells SQLite it is kept for reuse (it is, in the cache), DONT_LOG keeps prepare
# errors out of sqlite3_log (not used here).
USER_PREPARE_FLAGS = apsw.SQLITE_PREPARE_PERSISTENT
DDL_PREPARE_FLAGS = apsw.SQLITE_PREPARE_PERSISTENT | apsw.SQLITE_PREPARE_DONT_LOG

_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
                               "sqlite_compileoption_get", "zipfile", "sqlar_uncompress"})
_READ_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                           "foreign_key_list", "schema_version", "data_version", "page_count",
                           "page_size", "freelist_count", "table_list", "collation_list",
                           "function_list", "compile_options", "foreign_key_check",
                           "integrity_check", "quick_check"})
_TABLE_OPS = frozenset({apsw.SQLITE_READ, apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE,
                        apsw.SQLITE_DELETE, apsw.SQLITE_CREATE_TABLE, apsw.SQLITE_DROP_TABLE,
                        apsw.SQLITE_ALTER_TABLE, apsw.SQLITE_CREATE_INDEX,
                        apsw.SQLITE_DROP_INDEX})
_TRIGGER_OPS = frozenset({apsw.SQLITE_CREATE_TRIGGER, apsw.SQLITE_CREATE_TEMP_TRIGGER,
                          apsw.SQLITE_DROP_TRIGGER, apsw.SQLITE_DROP_TEMP_TRIGGER})
_TABLE_SECOND = frozenset({apsw.SQLITE_ALTER_TABLE, apsw.SQLITE_CREATE_INDEX,
                           apsw.SQLITE_DROP_INDEX})
_REBUILD_OPS = frozenset({apsw.SQLITE_READ, apsw.SQLITE_DELETE, apsw.SQLITE_DROP_TABLE})
_WRITE_OPS = frozenset({apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE, apsw.SQLITE_DELETE})
# SQLite maintains both catalogues itself (a RENAME COLUMN rewrites temp objects' text too).
_CATALOGUES = frozenset({"sqlite_master", "sqlite_temp_master"})
# Operations that change a schema's rows or objects; the 4th authorizer argument names it.
_SCHEMA_WRITES = _WRITE_OPS | frozenset({
    apsw.SQLITE_CREATE_INDEX, apsw.SQLITE_CREATE_TABLE, apsw.SQLITE_CREATE_TRIGGER,
    apsw.SQLITE_CREATE_VIEW, apsw.SQLITE_CREATE_TEMP_INDEX, apsw.SQLITE_CREATE_TEMP_TABLE,
    apsw.SQLITE_CREATE_TEMP_TRIGGER, apsw.SQLITE_CREATE_TEMP_VIEW, apsw.SQLITE_DROP_INDEX,
    apsw.SQLITE_DROP_TABLE, apsw.SQLITE_DROP_TRIGGER, apsw.SQLITE_DROP_VIEW,
    apsw.SQLITE_DROP_TEMP_INDEX, apsw.SQLITE_DROP_TEMP_TABLE, apsw.SQLITE_DROP_TEMP_TRIGGER,
    apsw.SQLITE_DROP_TEMP_VIEW})
# Table-valued functions and virtual tables that expose SQLite internals by name.
_INTERNAL_PREFIXES = ("__marmot_", "sqlite_", "pragma_")
_INTERNAL_NAMES = frozenset({"dbstat"})
_REBUILD_PREFIX = "__marmot_old_"  # ALTER TABLE's rebuild renames the user's table to this
# DDL statements that may name an internal table: the translator's own bookkeeping.
_BOOKKEEPING = re.compile(
    r'^\s*(?:INSERT\s+OR\s+REPLACE\s+INTO\s+"__marmot_schema"\s*\(kind, name, mysql_sql, meta\)'
    r'\s+VALUES|DELETE\s+FROM\s+"__marmot_schema"\s+WHERE\s+kind\s*=|'
    r'DELETE\s+FROM\s+sqlite_sequence\s+WHERE\s+name\s*=|INSERT\s+INTO\s+sqlite_sequence\s*\(|'
    r'UPDATE\s+sqlite_sequence\s+SET\s+name\s*=)', re.IGNORECASE)
_RECORDED_NAME = re.compile(r"^\s*INSERT\s+OR\s+REPLACE\b[^(]*\([^)]*\)\s*VALUES\s*\(\s*'[^']*'"
                            r"\s*,\s*'((?:[^']|'')*)'", re.IGNORECASE)
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
# SQLite's own objects by name (a user column may well be called sqlite_version).
_INTERNAL_MENTION = re.compile(
    r'(?<![\w$])(?:__marmot_(?!old_)\w*|sqlite_(?:master|schema|temp_master|temp_schema|sequence'
    r'|stat\d|dbpage|stmt))\b', re.IGNORECASE)
_FALLBACK: dict[str, Any] = {"statement_time": 0.0, "time_zone": "SYSTEM", "last_insert_id": 0,
                             "row_count": -1, "found_rows": 0, "database": None, "user": "",
                             "connection_id": 0, "version": ""}


class ConnectionBinding:
    """Per-connection state: bound session, trust and read budget."""

    __slots__ = ("session", "_trusted", "_internal", "_conn", "budget", "budget_spent", "_steps",
                 "version", "foreign_keys", "writable_schema", "attached", "written_row",
                 "replay_counts")

    def __init__(self, version: str = ""):
        self.session: Any = None
        self._trusted = False
        self._internal = 0  # depth of trusted_scope()
        self._conn: apsw.Connection | None = None
        self.budget: int | None = None
        self.budget_spent = False
        self._steps = 0
        self.version = version
        self.foreign_keys = True  # PRAGMA foreign_keys as set on this connection
        self.writable_schema = "main"  # the one schema user statements may change
        self.attached: dict[str, Any] = {}  # ATTACHed databases: name -> its Database
        self.written_row = WrittenRow()  # what MYSQL_STORE last stored (sql/written_row.py)
        # the node's SHOW STATUS counters: a replayed ALTER's conversions (functions/store.py)
        self.replay_counts: Any = None

    @property
    def trusted(self) -> bool:
        """DDL trust (see the module docstring); the session sets it around a translated DDL."""
        return self._trusted

    @trusted.setter
    def trusted(self, value: bool) -> None:
        self._trusted = value
        conn = self._conn
        if conn is not None:  # the statement guard runs only while DDL-trusted: no hot-path cost
            conn.exec_trace = self._guard_ddl if value else None

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not in __slots__: the function-context fields.
        session = object.__getattribute__(self, "session")
        if session is not None:
            return getattr(session, name)
        if name == "version":
            return object.__getattribute__(self, "version")
        try:
            return _FALLBACK[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def prepare_flags(self) -> int:
        """The prepare flags of a statement run now (see ``USER_PREPARE_FLAGS``)."""
        if self._internal:
            return 0
        return DDL_PREPARE_FLAGS if self._trusted else USER_PREPARE_FLAGS

    def trusted_scope(self) -> _TrustedScope:
        """Internal statements (catalog rows, PRAGMAs, schema look-ups) pass the authorizer.
        A plain object, not @contextmanager: the write path enters it several times per
        commit, and a generator-based one costs ~1 µs a time."""
        return _TrustedScope(self)

    def install(self, conn: apsw.Connection) -> None:
        self._conn = conn
        conn.authorizer = self.authorize
        conn.set_progress_handler(self.progress, 1000)

    @property
    def connection(self) -> apsw.Connection | None:
        """The connection this binding is installed on (a stored function with loops polls
        its interrupt flag: sql/routines/function_calls.py)."""
        return self._conn

    def _holds_user_tables(self) -> bool:
        """A database file, not one of the server's in-memory connections (the scratch
        database, MARMOT_CLUSTER_NODES) whose tables no LOCK TABLES can name."""
        return self._conn is not None and bool(self._conn.filename)

    def _database_of(self, schema: str | None) -> str:
        """The MySQL database behind a schema name SQLite reports: an ATTACHed one's own name,
        else the database whose file this connection opened (``<name>.db``)."""
        if schema is not None and schema != "main":
            return schema
        assert self._conn is not None
        return Path(self._conn.filename).stem

    def expire_statements(self) -> None:
        """Make every cached statement of the connection be authorized again before it
        runs (re-installing the authorizer expires them): a session holding table locks
        must not reuse a statement prepared for another session."""
        if self._conn is not None:
            self._conn.authorizer = self.authorize

    def progress(self) -> bool:
        """True aborts the running statement: the in-loop read budget ran out."""
        if self.budget is None:
            return False
        self._steps += 1
        if self._steps > self.budget:
            self.budget_spent = True
            return True
        return False

    def start_budget(self, steps: int | None) -> None:
        self.budget = steps
        self.budget_spent = False
        self._steps = 0

    def authorize(self, op: int, p1: str | None, p2: str | None, db: str | None,
                  trigger: str | None) -> int:
        if self._internal:
            return apsw.SQLITE_OK
        written = p1 if op == apsw.SQLITE_ALTER_TABLE else db
        if written is not None and written != self.writable_schema and (
                op in _SCHEMA_WRITES or op == apsw.SQLITE_ALTER_TABLE) and (
                    p1 is None or p1.lower() not in _CATALOGUES):
            return apsw.SQLITE_DENY
        if op in _TABLE_OPS:
            return self._authorize_table(op, p1, p2, written, trigger)
        if op == apsw.SQLITE_FUNCTION and p2 and p2.lower() in _DENIED_FUNCTIONS:
            return apsw.SQLITE_DENY
        if op in (apsw.SQLITE_ATTACH, apsw.SQLITE_DETACH):
            return apsw.SQLITE_DENY
        if self._trusted:
            return self._authorize_ddl(op, p1, p2)
        if op == apsw.SQLITE_PRAGMA and (p2 is not None or (p1 or "").lower() not in _READ_PRAGMAS):
            return apsw.SQLITE_DENY
        return apsw.SQLITE_OK

    def _authorize_table(self, op: int, p1: str | None, p2: str | None, schema: str | None,
                         trigger: str | None) -> int:
        # ALTER TABLE reports (database, table), index ops (index, table), the rest (table, _).
        table = p2 if op in _TABLE_SECOND else p1
        if not table or not _internal(table):
            locks = getattr(self.session, "table_locks", None)
            if locks and op != apsw.SQLITE_CREATE_TABLE and schema != "temp" and \
                    self._holds_user_tables():  # a temporary table is never locked (MySQL)
                locks.authorize(self._database_of(schema), table, op != apsw.SQLITE_READ,
                                trigger)  # LOCK TABLES: raises 1100 / 1099
            return apsw.SQLITE_OK
        if self._trusted and _rebuild(table) and op in _REBUILD_OPS and trigger is None:
            return apsw.SQLITE_OK  # ALTER TABLE's copy: read, emptied and dropped
        if not self._trusted or trigger is not None:  # a user statement, view or trigger
            return apsw.SQLITE_DENY
        if table[:7].lower() == "pragma_" or table.lower() in _INTERNAL_NAMES:
            return apsw.SQLITE_DENY  # no bookkeeping reads these: a CTAS or INSERT … SELECT
        if op in _WRITE_OPS or op == apsw.SQLITE_READ:
            return apsw.SQLITE_OK  # the translation's own bookkeeping (the guard checks it)
        if table[:7].lower() == "sqlite_":  # SQLite's own DDL (sqlite_sequence); it reserves
            return apsw.SQLITE_OK           # the prefix against users itself
        return apsw.SQLITE_DENY  # CREATE/DROP/ALTER of an internal table by a user's DDL

    def _authorize_ddl(self, op: int, p1: str | None, p2: str | None) -> int:
        if op in (apsw.SQLITE_CREATE_VIEW, apsw.SQLITE_CREATE_TEMP_VIEW) and p1 and _internal(p1):
            return apsw.SQLITE_DENY
        if op == apsw.SQLITE_DROP_TRIGGER and p2 and _rebuild(p2):
            return apsw.SQLITE_OK  # a rebuilt table's old copy takes its triggers with it
        if op in _TRIGGER_OPS and p2 and _internal(p2):  # a trigger on an internal table
            return apsw.SQLITE_DENY
        return apsw.SQLITE_OK

    def _guard_ddl(self, cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
        """Execution guard while DDL-trusted: a statement naming an internal table must be the
        translator's bookkeeping (see the module docstring)."""
        if self._internal or cursor.connection.authorizer is None:  # catalog reads
            return True
        if _BOOKKEEPING.match(sql):
            named = _RECORDED_NAME.search(sql)  # a user object may not take an internal name
            if named is None or not _internal(named.group(1).replace("''", "'")):
                return True
        elif _INTERNAL_MENTION.search(_STRING_LITERAL.sub("''", sql)) is None:
            return True
        raise errors.error(errors.ER_TABLEACCESS_DENIED_ERROR,
                           "Access to the server's internal tables is denied")


class _TrustedScope:
    __slots__ = ("_binding",)

    def __init__(self, binding: ConnectionBinding):
        self._binding = binding

    def __enter__(self) -> None:
        self._binding._internal += 1

    def __exit__(self, *exc: object) -> None:
        self._binding._internal -= 1


def _internal(table: str) -> bool:
    lowered = table.lower()
    return lowered.startswith(_INTERNAL_PREFIXES) or lowered in _INTERNAL_NAMES


def _rebuild(table: str) -> bool:
    return table.lower().startswith(_REBUILD_PREFIX)
