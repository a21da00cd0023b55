"""The executor: one client session running MySQL statements against the node's SQLite files.

Theory of operation
-------------------
``Session.execute(sql)`` takes ONE statement (the runtime splits multi-statement queries) and
returns an ``Ok`` or a ``Rows``. Dispatch is on the leading keywords, found without parsing:

* transaction control (BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) and
  USE, CREATE/DROP DATABASE, LOCK/UNLOCK TABLES, KILL are handled here;
* SET, SHOW, DESCRIBE and SELECTs of variables or INFORMATION_SCHEMA go to the catalog;
* everything else is translated (``sql.translate``, cached by statement shape) and run on the
  session's current database.

Transactions are ``txn.Transaction`` objects (txn/DESIGN.md). Outside a transaction a read
borrows any pooled connection. Inside one (BEGIN, or autocommit=0) reads pin one pooled
connection per database, opened with a deferred ``BEGIN``. Every write — autocommit or not —
runs on the database's ``CommitPipeline`` write connection once the transaction holds its turn,
and commits through it (group commit). A statement that must wait (for the turn, or for the
batch COMMIT that makes it durable) returns a ``txn.Pending``; the runtime sends the answer
when it resolves. Nothing is ever re-run because of a wait.

A statement runs in its *home* database: the one it writes (``INSERT INTO otherdb.t`` goes
through otherdb's pipeline), else the current one, else the one database it reads
(translate.OtherDatabase); the other databases it reads are ATTACHed to the connection it runs
on (sql/attachments.py). A session's temporary tables live on a connection of its own per
database (sql/temporary.py): DDL about them, writes to them and its reads of that database
run there, without the write turn.

Reads run in the event loop under a VM-step budget (SQLite progress handler). A read that
exceeds it is interrupted before any row was sent and handed back as ``LongRead``, whose job
the runtime re-runs in a worker thread on the same pinned connection.

Security: every connection carries an authorizer that refuses ATTACH/DETACH, PRAGMA writes,
load_extension and file functions, and any user access to ``__marmot_*``/``sqlite_*`` tables.
Internal bookkeeping statements (DDL catalog rows) run with the session marked trusted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.accounts.store import ACCOUNTS_DATABASE
from marmotdb.ddl.progress import DdlProgress
from marmotdb.errors import AutoIncrementExhausted, MarmotError, TransientError
from marmotdb.mysql.packets import (
    SERVER_STATUS_AUTOCOMMIT,
    SERVER_STATUS_IN_TRANS,
    SERVER_STATUS_NO_BACKSLASH_ESCAPES,
)
from marmotdb.mysql.types import Column, ResultSet
from marmotdb.sql import column_clause, multi_target, table_locks, written_row
from marmotdb.sql.accounts import (
    statements as account_statements,
    privileges as statement_privileges,
)
from marmotdb.sql.catalog import dispatch as catalog
from marmotdb.sql.explain import statement as explain
from marmotdb.sql.attachments import attach, require_home_tables
from marmotdb.sql.binding import USER_PREPARE_FLAGS, ConnectionBinding
from marmotdb.sql.cascades_across import Cascades
from marmotdb.sql.catalog.model import TableModel
from marmotdb.sql.foreign_keys_across import ForeignKeysAcross
from marmotdb.sql.key_readers import KeyReaders
from marmotdb.sql.rewrites.ddl_target import DdlTarget, ddl_target
from marmotdb.sql.text.hints import statement_hints
from marmotdb.sql.load_data.statement import (
    ER_CLIENT_LOCAL_FILES_DISABLED,
    ER_OPTION_PREVENTS_STATEMENT,
    Loader,
    LocalInfile,
    parse_load_data,
)
from marmotdb.sql.results import (
    LongRead,
    LongWrite,
    Ok,
    ReadJob,
    Result,
    Rows,
    RowSink,
    StreamCancelled,
    Streamed,
    WriteJob,
)
from marmotdb.sql.server_state import (
    IN_LOOP_RESULT_BYTES_MAX,
    ResultTooLarge,
    SchemaView,
    ServerState,
)
from marmotdb.sql.text.shape import strip_comments
from marmotdb.sql.rewrites.expressions import not_supported
from marmotdb.sql.routines import inlining as routine_functions
from marmotdb.sql.routines import statements as routine_statements
from marmotdb.sql.routines.definition import routine_kind
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.functions.context import zone, zone_is_utc
from marmotdb.sql.rewrites.ddl import DDL_HEADS
from marmotdb.sql.rewrites.ddl.databases import parse_database_options
from marmotdb.sql.rewrites.ddl.offset_defaults import (
    refuse_timestamp_literal_defaults,
    with_session_defaults,
)
from marmotdb.sql.rewrites.dml import ROWID_PARAMETER, MultipleTargets, OtherDatabase
from marmotdb.sql.schema import CreationCharsets, TableDef, database_charset, quote_ident
from marmotdb.sql.statement import (
    keywords,
    marker_count,
    strip_leading,
)
from marmotdb.sql.table_locks import LockKind, TableLocks
from marmotdb.sql.temporary import (
    TemporarySchemaView,
    TemporaryTables,
    TempSpace,
    as_temporary,
)
from marmotdb.sql.translate import (
    Kind,
    Translation,
    table_definitions,
    translate,
    translate_prepared,
    translate_temporary_ddl,
)
from marmotdb.sql.variables.scopes import SessionVariables
from marmotdb.sql.write_weight import WriteWeights
from marmotdb.storage.capture import ChangeCapture
from marmotdb.storage.databases import (
    SELECTABLE_SYSTEM_DATABASES,
    SYSTEM_DATABASES,
    Database,
    normalize_name,
)
from marmotdb.txn import auto_increment
from marmotdb.txn.pending import Pending, chain, on_failure
from marmotdb.txn.pipeline import CommitPipeline, Mode, ReadView
from marmotdb.txn.transaction import Transaction, TxnState, begin_reading, run_statement
from marmotdb.users import User

_WRITE_KINDS = frozenset({Kind.INSERT, Kind.REPLACE, Kind.UPDATE, Kind.DELETE, Kind.DDL})
_IDENT = r"`(?:[^`]|``)+`|[A-Za-z0-9_$]+"
_CREATE_DB = re.compile(
    rf"^CREATE\s+(?:DATABASE|SCHEMA)\s+(IF\s+NOT\s+EXISTS\s+)?({_IDENT})(?:\s+.*)?$", re.I | re.S)
_DROP_DB = re.compile(rf"^DROP\s+(?:DATABASE|SCHEMA)\s+(IF\s+EXISTS\s+)?({_IDENT})\s*$", re.I)
_USE = re.compile(rf"^USE\s+({_IDENT})\s*$", re.I)
_SAVEPOINT = re.compile(rf"^SAVEPOINT\s+({_IDENT})\s*$", re.I)
_ROLLBACK_TO = re.compile(rf"^ROLLBACK\s+(?:WORK\s+)?TO\s+(?:SAVEPOINT\s+)?({_IDENT})\s*$", re.I)
_RELEASE = re.compile(rf"^RELEASE\s+SAVEPOINT\s+({_IDENT})\s*$", re.I)
_START = re.compile(r"^(?:BEGIN(?:\s+WORK)?|START\s+TRANSACTION(?P<opts>(?:\s*,?\s*(?:READ\s+ONLY|"
                    r"READ\s+WRITE|WITH\s+CONSISTENT\s+SNAPSHOT))*))\s*$", re.I)
_END = re.compile(r"^(COMMIT|ROLLBACK)(?:\s+WORK)?(?:\s+AND\s+(?:NO\s+)?CHAIN)?"
                  r"(?:\s+(?:NO\s+)?RELEASE)?\s*$", re.I)
_FLUSH_LOCKING = re.compile(r"\b(?:WITH\s+READ\s+LOCK|FOR\s+EXPORT)\b", re.I)
_KILL = re.compile(r"^KILL\s+(?:(QUERY|CONNECTION)\s+)?(\d+)\s*$", re.I)
# First words of the statements MySQL has; anything else is a syntax error (1064).
_STATEMENT_KEYWORDS = frozenset(
    "SELECT INSERT UPDATE DELETE REPLACE WITH CREATE ALTER DROP RENAME TRUNCATE SET SHOW DESC "
    "DESCRIBE EXPLAIN USE BEGIN START COMMIT ROLLBACK SAVEPOINT RELEASE LOCK UNLOCK KILL GRANT "
    "REVOKE FLUSH ANALYZE OPTIMIZE CHECK CHECKSUM REPAIR DO CALL HANDLER LOAD PREPARE EXECUTE "
    "DEALLOCATE XA HELP INSTALL UNINSTALL RESET PURGE CHANGE SIGNAL RESIGNAL GET TABLE VALUES "
    "IMPORT CACHE BINLOG SHUTDOWN RESTART CLONE PRAGMA ATTACH DETACH".split())
# READ COMMITTED reads see what is committed when the statement starts; READ UNCOMMITTED gets
# the same (never another transaction's uncommitted rows). The other levels keep one snapshot.
_FRESH_SNAPSHOTS = frozenset({"READ-COMMITTED", "READ-UNCOMMITTED"})
# An autocommit write that lost a conflict in the cluster (1213) runs again on fresh data,
# this many times at most, after a growing, jittered pause (txn/DESIGN.md §7.5).
CONFLICT_BACKOFF_MS = (1, 3, 8, 20, 50, 120, 250, 500, 1000)  # ~2 s: past a catch-up interval
CONFLICT_RETRIES_MAX = len(CONFLICT_BACKOFF_MS)
# A DDL refused because its node had not applied writes its peers logged (ddl/DESIGN.md §11:
# ordered_after) wins once catch-up brings them: it goes on retrying, holding its lock, every
# DDL_BEHIND_RETRY_MS for as long as a metadata-lock wait (lock_wait_timeout, at most
# DDL_BEHIND_RETRY_S_MAX), as MySQL's DDL waits for its lock rather than failing.
DDL_BEHIND_RETRY_MS = 1000
DDL_BEHIND_RETRY_S_MAX = 60
# A DDL, holding its lock, first waits (at most this long, looking every DDL_SETTLE_POLL_MS)
# until this node applied the writes of its database it voted on that are being decided: the
# DDL holds the turn, so they would be applied only after it, miss its ordered_after and
# refuse it (ddl/DESIGN.md §11, "Settling")
DDL_SETTLE_MS = 1000
DDL_SETTLE_POLL_MS = 5
AUTO_ID_RUNS_MAX = 6  # a statement that ran out of AUTO_INCREMENT ids runs again this often
_READ_BUDGET_STEPS = 200  # progress-handler calls (x1000 VM steps) a read may take in the loop
_DML_KINDS = frozenset({Kind.INSERT, Kind.REPLACE, Kind.UPDATE, Kind.DELETE})
_WEIGHTS = WriteWeights()  # which writes run on a writer thread (sql/write_weight.py)


def _rebuild_stopped() -> MarmotError:
    return TransientError("Deadlock found when trying to get lock; try restarting transaction "
                          "(a write of the database was prepared during the DDL's rebuild: "
                          "the DDL would be refused for it)", code=errors.ER_LOCK_DEADLOCK,
                          sqlstate="40001")


def _syntax_error(text: str) -> MarmotError:
    return errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check the "
                        "manual that corresponds to your MySQL server version for the right "
                        f"syntax to use near '{text[:80]}' at line 1")


def unquote(identifier: str) -> str:
    if identifier.startswith("`"):
        return identifier[1:-1].replace("``", "`")
    return identifier


class PreparedPlan:
    """A COM_STMT_PREPARE'd statement: translated once, executed many times. ``home``: the
    database it runs in when that is not the current one, and ``default`` then the database
    its unqualified names mean (translate.OtherDatabase)."""

    __slots__ = ("sql", "translation", "param_count", "columns", "passthrough", "schema_key",
                 "home", "default")

    def __init__(self, sql: str, translation: Translation | None, param_count: int,
                 columns: list[Column], schema_key: Any = None, home: str | None = None,
                 default: str | None = None):
        self.sql = sql
        self.schema_key = schema_key
        self.home = home
        self.default = default
        self.translation = translation
        self.param_count = param_count
        self.columns = columns
        self.passthrough = translation is None  # executed as text (BEGIN, SET, SHOW ...)


def _plan_key(view: SchemaView | TemporarySchemaView) -> Hashable:
    """What a prepared statement's translation depends on: the schema, and whether the session's
    time zone makes it convert TIMESTAMP columns (rewrites/timestamps.py): SET time_zone
    between PREPARE and EXECUTE translates it again."""
    return (view.schema_key(), view.timestamps_local)


class Session:
    """One client's session. Not thread-safe; the runtime runs one command at a time."""

    def __init__(self, server: ServerState, user: User, connection_id: int, host: str = "localhost"):
        self.server = server
        self.user_record = user
        self.user = user.name
        self.host = host
        self.connection_id = connection_id
        self.current_database: str | None = None
        self.variables = SessionVariables(server.global_variables)
        self.warnings: list[tuple[str, int, str]] = []
        self.txn: Transaction | None = None
        self.last_insert_id = 0
        self.row_count = -1
        self.found_rows = 0
        self.statement_time = 0.0  # NOW() of the running statement (SET timestamp fixes it)
        self.statement_started = 0.0  # when it started, for PROCESSLIST's Time
        self.write_level = "QUORUM"  # of the running statement: its hint, or the session's
        self.execution_limit_ms: int | None = None  # its MAX_EXECUTION_TIME hint, if any
        self.command = "Sleep"
        self.info: str | None = None
        self.ddl_progress: DdlProgress | None = None  # a long DDL's steps, for PROCESSLIST
        self._on_statement: Callable[[int, int, str], None] | None = None
        self.killed = False
        self.call_interrupted = False  # KILL QUERY of a running CALL (sql/routines/)
        self.lock_wait_stopped = False  # KILL QUERY of a wait for a cluster DDL lock
        self.found_rows_flag = False  # CLIENT_FOUND_ROWS: UPDATE counts matched rows
        self.local_files_flag = False  # CLIENT_LOCAL_FILES: the client opts in to LOAD DATA LOCAL
        self.multi_results_flag = True  # CLIENT_MULTI_RESULTS: a CALL may send result sets
        self.sleep_requested_s = 0.0  # SLEEP(n) in the last statement: the runtime waits
        self.rng = server.rng
        self._active_conn: apsw.Connection | None = None
        self._active_sink: RowSink | None = None  # a worker streaming this session's rows
        self._offload_stopped = False  # KILL QUERY / timeout before its job reached a worker
        self._long_ddl_stopped = False  # a peer's write was prepared during its rebuild
        self._statement_txn: Transaction | None = None  # an autocommit statement's, while it runs
        self._current_db: Database | None = None
        self._isolation = "REPEATABLE-READ"  # of the open transaction
        self.table_locks: TableLocks | None = None  # LOCK TABLES (sql/table_locks.py)
        self._lock_wait: Pending | None = None  # a LOCK TABLES waiting for its reservations
        # Checks already passed or failed, until the stored grants change (generation).
        self._allowed: dict[tuple[str | None, str, tuple[str, ...]], bool] = {}
        self._grants_generation = -1
        self._grants_questions = -1  # the statement count when the store was last looked at
        self._temp = TemporaryTables(server, self)  # its temporary tables (sql/temporary.py)
        self.tls = ("", "")  # the connection's TLS version and cipher, as the runtime sets them
        server.sessions[connection_id] = self

    # ------------------------------------------------------------------ context for others
    @property
    def status(self) -> dict[str, object]:
        """SHOW STATUS: the server's values and this connection's Ssl_version / Ssl_cipher
        (empty without TLS, as MySQL; clients check them to know the link is encrypted)."""
        return {**self.server.status_values(), "Ssl_version": self.tls[0],
                "Ssl_cipher": self.tls[1]}

    @property
    def time_zone(self) -> str:
        return str(self.variables.get("time_zone"))

    @property
    def database(self) -> str | None:
        return self.current_database

    @property
    def version(self) -> str:
        return self.server.version

    def databases(self) -> list[str]:
        return [name for name in self._fresh_grants().visible(self.server.databases.names())
                if name != ACCOUNTS_DATABASE]

    def system_databases(self) -> list[str]:
        return ["information_schema", *self._fresh_grants().visible(
            SELECTABLE_SYSTEM_DATABASES[1:])]

    def connection_for(self, db: str) -> apsw.Connection:
        database = self._database(db)
        return self._txn_connection(database) or self.server.read_connection(database)

    def auto_increment_next(self, conn: apsw.Connection, table: str, computed: int) -> int:
        """What SHOW CREATE TABLE and INFORMATION_SCHEMA report as AUTO_INCREMENT: single node,
        ``computed`` (the table's highest id + 1); in a cluster, the next id of this node's
        range, or where the next claim would start when it has none (txn/DESIGN.md §9)."""
        if self.server.replicator is None:
            return computed
        ranges = self.server.auto_increment_ranges.get(Path(conn.filename).stem)
        found = ranges.next_id(table) if ranges is not None else None
        if found is not None:
            return found
        with self.server.binding(conn).trusted_scope():
            return max(computed, auto_increment.claimed_top(conn, table) + 1)

    def _txn_connection(self, database: Database) -> apsw.Connection | None:
        """The connection the open transaction reads ``database`` on, if it has one."""
        txn = self.txn
        if txn is None:
            return None
        writing = txn.branches.get(database.name)
        if writing is not None:
            return writing.conn
        return txn.reads.get(database.name)

    def processlist(self) -> list[tuple[Any, ...]]:
        return self.server.processlist(self.user_record)

    def temporary_table(self, db: str, name: str) -> TableModel | None:
        """This session's temporary table ``db.name`` for the catalog, or None."""
        space = self._space_named(db)
        return space.model(name) if space is not None else None

    def _temporary(self, db: str, name: str) -> bool:
        """Whether ``db.name`` is one of this session's temporary tables. LOCK TABLES of one
        is accepted and ignored, as in MySQL: no other session can use it, and its holder
        uses it freely whatever it locked (the authorizer never asks about the TEMP schema)."""
        space = self._space_named(db)
        return space is not None and space.holds((db, name))

    def _space_named(self, db: str) -> TempSpace | None:
        if not self._temp.spaces or not self.server.databases.exists(db):
            return None
        return self._temp.space(self.server.databases.get(db))

    @property
    def account_host(self) -> str:
        """The host part of the account the session logged in as (SHOW GRANTS' title)."""
        return self.user_record.host

    def grants(self, user: str | None = None, host: str | None = None) -> list[str]:
        return account_statements.shown(self, user, host).grant_lines()

    def create_user(self, user: str, host: str) -> str:
        return account_statements.create_user_statement(account_statements.shown(
            self, user, host))

    def privilege_rows(self, level: str) -> list[tuple[str, ...]]:
        return account_statements.privilege_rows(self, level)

    def evaluate(self, select_sql: str) -> object:
        result = self.execute(select_sql)
        if isinstance(result, Rows) and result.rows:
            return result.rows[0][0]
        return None

    @property
    def autocommit(self) -> bool:
        return bool(self.variables.autocommit)

    @property
    def in_transaction(self) -> bool:
        return self.txn is not None

    # ------------------------------------------------------------------ entry points
    def execute(self, sql: str) -> Result | Pending:
        """Run one statement: its result, or a Pending of it. Raises MarmotError or LongRead."""
        text = strip_leading(sql)
        if not text:
            if "/*" in sql:  # only comments for another server version: nothing to run
                return Ok()
            raise errors.error(1065, "Query was empty")
        self._start_statement(text, sql)
        head = keywords(text)
        if not _diagnostic(head, text):  # every other statement starts with no warnings
            self.warnings = []
        if not head and not text.startswith("("):
            raise _syntax_error(text)
        if head and head[0] not in _STATEMENT_KEYWORDS:
            raise _syntax_error(text)
        if head and head[0] in account_statements.HEADS and account_statements.handles(head):
            return self._after(account_statements.run(self, strip_comments(text), head))
        if head and routine_kind(head, text) is not None:  # sql/routines/
            routine_ddl = routine_statements.create if head[0] == "CREATE" else \
                routine_statements.drop
            return self._after(routine_ddl(self, text))
        handler = _HANDLERS.get(head[0]) if head else None
        if handler is not None and (result := handler(self, strip_comments(text), head)) \
                is not None:
            return self._after(result)
        # one lower() and only when an underscore is there (a one-character scan is memchr
        # speed; a multi-megabyte literal would otherwise be copied here for nothing)
        lowered = text.lower() if "_" in text else ""
        if "marmot_cluster_nodes" in lowered:
            return self._after(self._cluster_nodes(text))
        if "marmot_ddl_locks" in lowered:
            return self._after(self._ddl_locks(text))
        text = self._with_functions(text, head)
        was_autocommit = self.autocommit
        answered = catalog.answer(text, self, head[0]) if head else catalog.UNHANDLED
        if answered is not catalog.UNHANDLED:
            return self._after(self._from_catalog(answered, was_autocommit))
        if "@" in text:  # @x / @@x inside an ordinary statement: bind their values now
            text = catalog.inline_session_variables(text, self)
        if head and head[0] in DDL_HEADS:
            return self._after(self._ddl(text))
        escapes = self.variables.backslash_escapes
        try:
            (translation, params), database, _ = self._placed(
                lambda view, default: translate(text, view, backslash_escapes=escapes,
                                                default_database=default))
        except MultipleTargets:  # several tables changed: sql/multi_target.py
            return self._after(multi_target.run(self, text))
        return self._after(self._run(translation, params, text, database))

    def _with_functions(self, text: str, head: list[str] | tuple[str, ...]) -> str:
        """``text`` with the current database's stored functions inlined (or made calls of
        MYSQL_STORED_FUNCTION: sql/routines/inlining.py)."""
        if "(" in text and head and head[0] not in DDL_HEADS and self.current_database \
                and self.current_database not in SELECTABLE_SYSTEM_DATABASES:
            known = routine_functions.functions(self, self._current())
            if known:
                return routine_functions.inline(routine_functions.named_calls(text, known),
                                                known)
        return text

    def prepare(self, sql: str) -> PreparedPlan:
        text = strip_leading(sql)
        head = keywords(text)
        markers = marker_count(text)
        if head and head[0] == "LOAD":  # MySQL's rule: LOAD DATA is a COM_QUERY only
            raise errors.error(1295, "This command is not supported in the prepared statement "
                               "protocol yet")
        if (not head or head[0] in _HANDLERS or head[0] in ("DESC", "DESCRIBE", "EXPLAIN")
                or account_statements.handles(head)
                or "@" in text or catalog.handles(text, self)
                or (head[0] in DDL_HEADS and not markers)):  # DDL runs as text (TEMPORARY …)
            return PreparedPlan(text, None, markers, [])
        functional = self._with_functions(text, head)  # a stored function's call inlined
        try:
            (translation, param_count), database, default = self._placed(
                lambda view, default: translate_prepared(functional, view, default))
        except MultipleTargets:  # several tables changed: run as text (sql/multi_target.py)
            return PreparedPlan(text, None, markers, [])
        columns: list[Column] = []
        if translation.returns_rows:
            space = self._temp.space(database) if self._temp.spaces else None
            columns = self._describe(database, translation, space)
        home = database.name if default is not None else None
        return PreparedPlan(text, translation, param_count, columns,
                            _plan_key(self._schema_view(database)), home, default)

    def execute_prepared(self, plan: PreparedPlan, values: list[Any]) -> Result | Pending:
        if len(values) != plan.param_count:
            raise errors.error(errors.ER_WRONG_ARGUMENTS,
                               "Incorrect arguments to mysqld_stmt_execute")
        if plan.passthrough:
            return self.execute(_inline_params(plan.sql, values))
        self._start_statement(plan.sql, plan.sql)
        database = self._database(plan.home) if plan.home is not None else self._current()
        view = self._schema_view(database)
        if _plan_key(view) != plan.schema_key:  # DDL since prepare: re-prepare, as MySQL does
            functional = self._with_functions(plan.sql, keywords(plan.sql))
            plan.translation = translate_prepared(functional, view, plan.default)[0]
            plan.schema_key = _plan_key(view)
        params = {f"p{i}": _bindable(v) for i, v in enumerate(values)}
        return self._after(self._run(plan.translation, params,  # type: ignore[arg-type]
                                     plan.sql, database))

    def _start_statement(self, text: str, sql: str) -> None:
        self.statement_started = self.server.clock()
        fixed = self.variables.timestamp_s  # SET timestamp = N: NOW() is N until DEFAULT
        self.statement_time = fixed if fixed else self.statement_started
        hints = statement_hints(sql)
        self.write_level = hints.consistency or self.variables.write_consistency
        self.execution_limit_ms = hints.max_execution_time_ms
        self.server.status["Questions"] += 1
        self.info = text[:1000]
        self.lock_wait_stopped = False

    def use(self, database: str) -> None:
        name = unquote(database)
        if name.lower() in SELECTABLE_SYSTEM_DATABASES:
            if name.lower() not in self.system_databases():
                raise errors.error(errors.ER_DBACCESS_DENIED_ERROR, f"Access denied for user "
                                   f"'{self.user}'@'{self.host}' to database '{name}'")
            self.current_database = name.lower()
            return
        database = self._database(name)
        self.current_database = name.lower()
        self._use_database_charset(database)

    def _use_database_charset(self, database: Database) -> None:
        """character_set_database / collation_database: the current database's (USE, and an
        ALTER DATABASE of it), as in MySQL."""
        conn = self.server.read_connection(database)
        with self.server.binding(conn).trusted_scope():
            self.variables.use_database_charset(*database_charset(conn))

    def reset(self) -> None:
        """COM_RESET_CONNECTION / COM_CHANGE_USER: roll back and forget session state."""
        self._end(commit=False)  # a rollback never waits
        self._release_table_locks()
        self._temp.close()  # temporary tables vanish, as in MySQL
        self.variables = SessionVariables(self.server.global_variables)
        self.warnings = []
        self.last_insert_id = 0

    def close(self) -> None:
        """The client went away: its open transaction is rolled back, nothing else is lost."""
        waiting, self._statement_txn = self._statement_txn, None
        if waiting is not None and waiting.state is TxnState.IDLE:
            waiting.rollback()  # still waiting for the turn: it must not run for nobody
        try:
            self._end(commit=False)
        finally:
            self._temp.close()
            self.server.sessions.pop(self.connection_id, None)
            self._release_table_locks()

    def interrupt(self) -> None:
        """KILL QUERY: the running statement stops (SQLite interrupt), or, if it still waits
        for a write turn, it fails without running."""
        self.call_interrupted = True  # a running CALL stops at its next step
        self.lock_wait_stopped = True  # a wait for a cluster DDL lock fails (1317)
        self.interrupt_running()
        for txn in (self._statement_txn, self.txn):
            if txn is not None and txn.interrupt_wait():
                if txn is self._statement_txn:  # an autocommit statement is its transaction
                    txn.rollback()
                    self._statement_txn = None
        if self._lock_wait is not None:  # LOCK TABLES still waiting: it fails with 1317
            self._release_table_locks()

    def status_flags(self) -> int:
        """The OK/EOF status bits: in a transaction, autocommit, and NO_BACKSLASH_ESCAPES
        (clients that quote values themselves, PyMySQL and aiomysql, escape by it)."""
        return (SERVER_STATUS_IN_TRANS if self.txn is not None else 0) | \
            (SERVER_STATUS_AUTOCOMMIT if self.autocommit else 0) | \
            (0 if self.variables.backslash_escapes else SERVER_STATUS_NO_BACKSLASH_ESCAPES)

    # ------------------------------------------------------------------ statement kinds
    def _after(self, result: Result | Pending) -> Result | Pending:
        if isinstance(result, Pending):
            return chain(result, self._after)
        if self.warnings and not self.variables.sql_notes:  # SET sql_notes = 0: no Notes
            self.warnings = [w for w in self.warnings if w[0] != "Note"]
        if isinstance(result, Ok):
            self.row_count = result.affected_rows
            if result.last_insert_id:
                self.last_insert_id = result.last_insert_id
        else:
            self.row_count = -1
        result.warnings = len(self.warnings)
        return result

    def _from_catalog(self, answered: ResultSet | None, was_autocommit: bool
                      ) -> Result | Pending:
        if answered is None:  # a SET: only autocommit 0 -> 1 commits (MySQL fix_autocommit)
            if self.txn is not None and self.autocommit and not was_autocommit:
                return chain(self._end(commit=True), lambda _: Ok())
            return Ok()
        return Rows(answered.columns, answered.rows)

    def _begin(self, text: str, head: tuple[str, ...]) -> Result | Pending | None:
        found = _START.match(text)
        if found is None:
            if head[0] == "BEGIN":
                raise _syntax_error(text)
            return None  # START SLAVE and friends: not ours
        options = (found.group("opts") or "").upper()
        read_only = True if "ONLY" in options else False if "WRITE" in options else None

        def start(_: Any) -> Ok:
            self._release_table_locks()  # START TRANSACTION ends LOCK TABLES, as in MySQL
            self._open_transaction(read_only)
            return Ok()
        return chain(self._end(commit=True), start)  # BEGIN commits an open transaction

    def _finish(self, text: str, head: tuple[str, ...]) -> Result | Pending:
        if _END.match(text) is None:
            raise _syntax_error(text)
        return chain(self._end(commit=text[:6].upper() == "COMMIT"), lambda _: Ok())

    def _rollback_statement(self, text: str, head: tuple[str, ...]) -> Result | Pending:
        found = _ROLLBACK_TO.match(text)
        if found is None:
            return self._finish(text, head)
        name = unquote(found.group(1)).lower()
        if self.txn is None:
            raise errors.error(errors.ER_SP_DOES_NOT_EXIST, f"SAVEPOINT {name} does not exist")
        self.txn.rollback_to(name)
        return Ok()

    def _savepoint(self, text: str, head: tuple[str, ...]) -> Result:
        found = _SAVEPOINT.match(text)
        if found is None:
            raise _syntax_error(text)
        if self.txn is None:
            if self.autocommit:
                return Ok()  # MySQL accepts and forgets a savepoint outside a transaction
            self._open_transaction()
        assert self.txn is not None
        self.txn.savepoint(unquote(found.group(1)).lower())
        return Ok()

    def _release(self, text: str, head: tuple[str, ...]) -> Result:
        found = _RELEASE.match(text)
        if found is None:
            raise _syntax_error(text)
        name = unquote(found.group(1)).lower()
        if self.txn is None:
            raise errors.error(errors.ER_SP_DOES_NOT_EXIST, f"SAVEPOINT {name} does not exist")
        self.txn.release(name)
        return Ok()

    def _use(self, text: str, head: tuple[str, ...]) -> Result:
        found = _USE.match(text)
        if found is None:
            raise _syntax_error(text)
        self.use(found.group(1))
        return Ok()

    def _kill(self, text: str, head: tuple[str, ...]) -> Result:
        found = _KILL.match(text)
        if found is None:
            raise _syntax_error(text)
        target = int(found.group(2))
        if target not in self.server.sessions:
            raise errors.error(errors.ER_NO_SUCH_THREAD, f"Unknown thread id: {target}")
        other = self.server.sessions[target]
        if other.user != self.user and not self.user_record.can(None, "admin"):
            # another user's thread needs CONNECTION_ADMIN or SUPER (global admin here)
            raise errors.error(errors.ER_KILL_DENIED_ERROR,
                               f"You are not owner of thread {target}")
        self.server.kill(target, query_only=(found.group(1) or "").upper() == "QUERY")
        return Ok()

    # ------------------------------------------------------------------ LOCK TABLES
    def _lock_tables(self, text: str, head: tuple[str, ...]) -> Result | Pending:
        if head[1:2] == ("INSTANCE",):
            raise not_supported("LOCK INSTANCE FOR BACKUP")
        requests = [request for request in table_locks.parse(text, self.current_database)
                    if not self._temporary(request.database, request.table)]
        for request in requests:
            self._require(request.database, "LOCK TABLES")  # MySQL: LOCK TABLES and SELECT
            self._require(request.database, "SELECT", (request.table,))
            if request.kind is LockKind.WRITE:  # it holds the write turn: a writer's only
                self._require(request.database, "rw")
            database = self._database(request.database)
            view = self.server.schema_view(self.server.read_connection(database), database)
            if view.table_sql(request.table) is None:
                raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{request.database}."
                                   f"{request.table}' doesn't exist")
        locks = TableLocks.of(requests)

        def take(_: Any) -> Result | Pending:
            self._release_table_locks()  # LOCK TABLES gives back the locks held before
            self.table_locks = locks
            mode = Mode(self._fk_checks())
            waiting = locks.reserve(self._pipeline_named, lambda pipeline: pipeline.reserve(
                self.connection_id, mode, timeout_s=self._metadata_lock_wait_timeout_s))
            return self._locked(chain(waiting, lambda _: self._hold(locks)))
        return chain(self._end(commit=True), take)  # it commits an open transaction

    def _locked(self, outcome: Result | Pending) -> Result | Pending:
        """While LOCK TABLES waits, KILL or the client leaving gives its reservations back;
        so does a failure (1205 after lock_wait_timeout)."""
        if not isinstance(outcome, Pending) or outcome.done():
            return outcome
        self._lock_wait = outcome

        def settled(done: Pending) -> None:
            self._lock_wait = None
            try:
                done.result()
            except BaseException:  # noqa: BLE001 - the client gets it through the Pending
                self._release_table_locks()
        outcome.add_done_callback(settled)
        return outcome

    def _hold(self, locks: TableLocks) -> Ok:
        """Reserved: open the READ snapshots; note the triggers, whose accesses are allowed."""
        def begin(conn: apsw.Connection) -> None:
            with self.server.binding(conn).trusted_scope():
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # the snapshot
        locks.open_snapshots(lambda name: self._checkout(self._database(name)), begin)
        for name in locks.databases():
            conn = locks.snapshots.get(name) or self.server.read_connection(self._database(name))
            with self.server.binding(conn).trusted_scope():
                locks.triggers[name] = frozenset(row[0].lower() for row in conn.execute(
                    "SELECT name FROM sqlite_schema WHERE type = 'trigger'"))
        return Ok()

    def _flush(self, text: str, head: tuple[str, ...]) -> Result | None:
        """FLUSH TABLES … WITH READ LOCK / FOR EXPORT would promise a global read lock (or a
        quiesced table) that nothing here provides: refused, never a silent OK. The other
        FLUSH statements (caches SQLite does not have) stay no-ops (translate.py)."""
        found = _FLUSH_LOCKING.search(text)
        if found is not None:
            raise not_supported("FLUSH TABLES " + " ".join(found.group(0).upper().split()))
        return None

    def _unlock_tables(self, text: str, head: tuple[str, ...]) -> Result | Pending:
        if head[1:2] == ("INSTANCE",):
            raise not_supported("UNLOCK INSTANCE")
        if head[1:] not in (("TABLES",), ("TABLE",)):
            raise _syntax_error(text)
        if self.table_locks is None:
            return Ok()

        def unlocked(_: Any) -> Ok:
            self._release_table_locks()
            return Ok()
        return chain(self._end(commit=True), unlocked)  # commits, as with locks in MySQL

    def _release_table_locks(self) -> None:
        locks, self.table_locks = self.table_locks, None
        if locks is not None:
            locks.release(self.connection_id, lambda name, conn: self._checkin(
                self.server.databases.get(name), conn))

    def _refuse_under_table_locks(self) -> None:
        if self.table_locks is not None:
            raise errors.error(errors.ER_LOCK_OR_ACTIVE_TRANSACTION, "Can't execute the given "
                               "command because you have active locked tables or an active "
                               "transaction")

    def _require_database_privilege(self, name: str, privilege: str) -> None:
        """CREATE/DROP DATABASE: the privilege on that database (1044, as MySQL); the
        accounts' own database is never a user's to create or drop."""
        if name.lower() == ACCOUNTS_DATABASE:
            raise self._denied(name, privilege, ())
        self._require(name.lower(), privilege)

    def _pipeline_named(self, name: str) -> CommitPipeline:
        return self.server.pipeline(self._database(name))

    def _create(self, text: str, head: tuple[str, ...]) -> Result | Pending | None:
        if head[1:2] not in (("DATABASE",), ("SCHEMA",)):
            return None
        found = _CREATE_DB.match(text)
        if found is None:
            raise _syntax_error(text)
        name = unquote(found.group(2))
        options = parse_database_options(DdlParser(text[found.end(2):]))
        charset = options.resolved() if not options.empty else None  # checked before it runs
        self._require_database_privilege(name, "CREATE")
        self._refuse_under_table_locks()

        def create(_: Any) -> Ok:
            created = self.server.databases.create(name, bool(found.group(1)))
            if not created:
                self.warnings = [("Note", errors.ER_DB_CREATE_EXISTS, f"Can't create database "
                                  f"'{name}'; database exists")]
            return Ok(affected_rows=1 if created else 0)

        def recorded() -> Ok | Pending:
            """In a cluster the database's row is written first (ddl/database_records.py):
            every node makes the file; one that exists already is answered as here."""
            records = self.server.database_records
            if not records.active or self.server.databases.exists(name) or \
                    normalize_name(name) in SYSTEM_DATABASES:
                return create(None)

            def made(written: bool) -> Ok:
                self.server.databases.create(name, if_not_exists=True)
                return Ok(affected_rows=1) if written else create(None)  # 1007 if it was
            return chain(records.record(name, dropped=False), made)

        def with_charset(done: Ok) -> Result | Pending:
            """The options of a database it made: its ALTER DATABASE (rewrites/ddl/databases.py),
            after the lock of the CREATE is released."""
            if charset is None or not done.affected_rows:
                return done
            return chain(self._ddl(f"ALTER DATABASE {quote_ident(name)} CHARACTER SET "
                                   f"{charset[0]} COLLATE {charset[1]}"), lambda _: done)
        return chain(chain(self._implicit_commit(), lambda _: self.server.ddl_locks.run_locked(
            name, self.connection_id, text, self._metadata_lock_wait_timeout_s(),
            recorded, self._connected)), with_charset)

    def _drop(self, text: str, head: tuple[str, ...]) -> Result | Pending | None:
        if head[1:2] not in (("DATABASE",), ("SCHEMA",)):
            return None
        found = _DROP_DB.match(text)
        if found is None:
            raise _syntax_error(text)
        name = unquote(found.group(2))
        self._require_database_privilege(name, "DROP")
        self._refuse_under_table_locks()

        def take_turn(_: Any) -> Pending | None:
            if not self.server.databases.exists(name):
                return None
            pipeline = self.server.pipeline(self.server.databases.get(name))
            return pipeline.acquire(self.connection_id, Mode(), spans_round_trips=True,
                                    timeout_s=self._metadata_lock_wait_timeout_s)

        def drop(_: Any) -> Ok:
            if self.server.databases.exists(name):
                self.server.forget(name.lower())
                self.server.close_pipeline(name.lower())
            dropped = self.server.databases.drop(name, bool(found.group(1)))
            if dropped and self.current_database == name.lower():
                self.current_database = None
            return Ok()

        def recorded() -> Result | Pending:
            """In a cluster the database's row says "dropped" first: every node drops the
            file (ddl/database_records.py); one not here yet is dropped where it is."""
            records = self.server.database_records
            if not records.active:
                return chain(take_turn(None), drop)
            return chain(records.record(name, dropped=True), lambda written: chain(
                take_turn(None), lambda _: Ok() if written and not self.server.databases.exists(
                    name) else drop(None)))
        return chain(self._implicit_commit(), lambda _: self.server.ddl_locks.run_locked(
            name, self.connection_id, text, self._metadata_lock_wait_timeout_s(),
            recorded, self._connected))

    def _explain(self, text: str, head: tuple[str, ...]) -> Result | Pending | None:
        """EXPLAIN of a statement (explain.py); ``EXPLAIN <table>`` is the catalog's."""
        request = explain.parse_request(text)
        if request is None:
            return None
        inner = request.statement
        if "@" in inner:
            inner = catalog.inline_session_variables(inner, self)
        if catalog.handles(inner, self):
            return self._rows(explain.no_tables(request))
        escapes = self.variables.backslash_escapes
        (translation, params), database, _ = self._placed(
            lambda view, default: translate(inner, view, backslash_escapes=escapes,
                                            default_database=default))
        explain.check_explainable(request, translation)
        self._require(database.name, "rw" if translation.kind in _WRITE_KINDS else "r")
        current = None if database is self.server.scratch else database.name
        tables = self._table_definitions(database, translation)
        roots = self._planned(database, translation, inner, lambda conn: explain.plan(
            translation, params, conn, tables, current))
        if not request.analyze:
            return self._rows(explain.RENDERERS[request.format](roots))
        return self._explain_analyze(roots, translation, params, inner, database)

    def _table_definitions(self, database: Database, translation: Translation
                           ) -> Callable[[str], TableDef | None]:
        """EXPLAIN's look-up of a table's MySQL definition by name: the home database's (its
        temporary tables first), or "db.table" of another database the statement reads."""
        home = table_definitions(self._schema_view(database))
        others = {name for name, _ in translation.other_tables}
        found: dict[str, Callable[[str], TableDef | None]] = {}

        def definition(name: str) -> TableDef | None:
            db, dot, table = name.partition(".")
            if not dot or db.lower() not in others:
                return home(name)
            if db not in found:
                view = self._schema_view(self._database(db), temporary=False)
                found[db] = table_definitions(view)
            return found[db](table)
        return definition

    def _planned(self, database: Database, translation: Translation, text: str,
                 plan: Callable[[apsw.Connection], list[Any]]) -> list[Any]:
        """``plan`` run on the connection the statement ``text`` would run on, with the
        session's temporary tables and the other databases it reads in view."""
        space = self._temp.space(database) if self._temp.spaces else None
        if space is not None and translation.kind in _WRITE_KINDS and \
                _writes_temporary(space, translation):
            conn: apsw.Connection | None = space.conn
        else:
            conn = self._held_connection(database, space, translation)
        held = conn is not None
        if conn is None:
            conn = self._read_checkout(database, space, translation)
        binding = self.server.binding(conn)
        try:
            if translation.other_tables or binding.attached:
                self._attach(conn, binding, translation, database, space)
            if space is None:
                return plan(conn)
            with _visible(space, conn, translation):
                return plan(conn)
        except apsw.Error as exc:
            raise self._read_error(exc, conn, database, translation, text) from None
        finally:
            if not held:
                self._checkin(database, conn)

    def _explain_analyze(self, roots: list[Any], translation: Translation,
                         params: dict[str, Any], text: str, database: Database
                         ) -> Result | Pending:
        """Run the SELECT as usual; its rows are counted and timed, not sent."""
        started = self.server.clock()

        def measured(result: Result) -> Result:
            rows = len(result.rows) if isinstance(result, Rows) else 0
            return self._rows(explain.analyzed(roots, rows, self.server.clock() - started))
        try:
            return chain(self._run(translation, params, text, database), measured)
        except LongRead as long:
            job = long.job
            raise LongRead(ReadJob(run=lambda sink=None: measured(job.run(None)),  # type: ignore
                                   finish=job.finish, interrupt=job.interrupt,
                                   expire=job.expire)) from None

    @staticmethod
    def _rows(answer: ResultSet) -> Rows:
        return Rows(answer.columns, answer.rows)

    def _cluster_nodes(self, text: str) -> Result:
        """Queries over the virtual table MARMOT_CLUSTER_NODES, with any SQL around it."""
        view_of = self.server.replication_view
        return self._virtual_table(
            text, "marmot_cluster_nodes", "node_id INTEGER, mysql_address TEXT, "
            "peer_address TEXT, admin_address TEXT, state TEXT, incarnation INTEGER, "
            "applied TEXT, behind_txns INTEGER, in_doubt INTEGER, catching_up INTEGER, "
            "snapshot TEXT, schema_versions TEXT, schema_drift TEXT",
            [(*row, *view_of(row[0])) for row in self.server.cluster_nodes()])

    def _ddl_locks(self, text: str) -> Result:
        """Queries over MARMOT_DDL_LOCKS: the cluster DDL locks held, as this node's copy
        of them shows (marmotdb/ddl/DESIGN.md); ``expires_in_ms`` by this node's clock."""
        now_ms = int(self.server.clock() * 1000)
        return self._virtual_table(
            text, "marmot_ddl_locks", "db TEXT, node_id INTEGER, connection_id INTEGER, "
            "expires_ms INTEGER, expires_in_ms INTEGER, statement TEXT",
            [(h.database, h.node, h.owner, h.expires_ms, h.expires_ms - now_ms, h.statement)
             for h in self.server.ddl_locks.holders().values()])

    def _virtual_table(self, text: str, name: str, columns: str,
                       values: list[tuple[Any, ...]]) -> Result:
        """``text`` (a SELECT, with any SQL around it) over a table ``name`` made of
        ``values`` on a private in-memory connection."""
        conn = self.server.private_connection()
        binding = self.server.binding(conn)
        binding.session, binding.trusted = self, True
        try:
            conn.execute(f"CREATE TABLE {name} ({columns})")
            if values:
                conn.executemany(f"INSERT INTO {name} VALUES "
                                 f"({', '.join('?' * len(values[0]))})", values)
            binding.trusted = False
            view = self.server.schema_view(conn, self.server.scratch)
            translation, params = translate(text, view,
                                           backslash_escapes=self.variables.backslash_escapes)
            if translation.kind is not Kind.SELECT:
                raise errors.error(errors.ER_TABLEACCESS_DENIED_ERROR,
                                   f"{name.upper()} is read-only")
            rows: Rows | None = None
            for statement in translation.statements:
                rows = self.server.query(conn, statement, params)
            assert rows is not None
            return rows
        except apsw.Error as exc:
            raise errors.from_sqlite(exc) from None
        finally:
            conn.close()

    # ------------------------------------------------------------------ DDL
    def _ddl(self, text: str) -> Result | Pending:
        """A DDL statement, in its home database; about a temporary table, on the session's
        space of that database (sql/temporary.py)."""
        if not zone_is_utc(self.variables.time_zone_setting):  # rewrites/timestamps.py
            refuse_timestamp_literal_defaults(
                text, backslash_escapes=self.variables.backslash_escapes)
        text = with_session_defaults(text, zone(self.time_zone),
                                     backslash_escapes=self.variables.backslash_escapes)
        target = ddl_target(text)
        database = self._ddl_home(target)
        if target is not None and database is not self.server.scratch:
            if self._temp.routes(target, database):
                return self._temporary_ddl(target, database, text)
            self._temp.refuse_base_ddl(target, database, text)
        view = self._schema_view(database, temporary=False)
        view.creation_charsets = self._creation_charsets()  # (not on DML's path: DDL only)
        translation, params = translate(text, view,
                                        backslash_escapes=self.variables.backslash_escapes,
                                        default_database=self._ddl_default(database))
        notes = _guard_notes(target, view, database.name)
        result = self._run(translation, params, text, database)
        if target is not None and target.kind in ("DATABASE", "SCHEMA"):
            result = chain(result, lambda _: self._database_altered(database))
        if translation.rows_from is not None and target is not None:
            insert, table = translation.rows_from, target.name[1]
            result = chain(result, lambda _: self._filled(insert, database, table))
        return chain(result, lambda done: self._noted(done, notes)) if notes else result

    def _database_altered(self, database: Database) -> Ok:
        """ALTER DATABASE done: one row affected, as in MySQL; the session's
        character_set_database follows when it is the current database."""
        if database.name == self.current_database:
            self._use_database_charset(database)
        return Ok(affected_rows=1)

    def _ddl_default(self, database: Database) -> str | None:
        """What the unqualified names of a CREATE TABLE … SELECT in ``database`` mean, when
        that is not the current database: the current one's ('' for none), as in MySQL."""
        if database.name == self.current_database:
            return None
        current = self.current_database
        return current if current and current not in SELECTABLE_SYSTEM_DATABASES else ""

    def _filled(self, insert: str, database: Database, table: str) -> Result | Pending:
        """The rows of a CREATE TABLE … SELECT that reads another database
        (rewrites/ddl.py ``DdlResult.rows_from``): an INSERT … SELECT of its own, committed
        as MySQL commits CREATE … SELECT; if it fails the table is dropped again (MySQL's
        CREATE … SELECT is atomic: it leaves no table behind)."""
        escapes = self.variables.backslash_escapes

        def drop(error: BaseException) -> Result | Pending:
            dropped = self._ddl(f"DROP TABLE IF EXISTS {quote_ident(database.name)}."
                                f"{quote_ident(table)}")
            return chain(dropped, lambda _: _raise(error))

        def committed(done: Result) -> Result | Pending:
            if self.txn is None:
                return done
            return chain(self._end(commit=True), lambda _: done)  # autocommit=0

        try:
            (translation, params), home, _ = self._placed(
                lambda view, default: translate(insert, view, backslash_escapes=escapes,
                                                default_database=default))
            outcome = chain(self._run(translation, params, insert, home), committed)
        except errors.MarmotError as exc:
            return drop(exc)
        return on_failure(outcome, drop)

    def _noted(self, result: Result, notes: list[tuple[str, int, str]]) -> Result:
        self.warnings = [*self.warnings, *notes]
        return result

    def _ddl_home(self, target: DdlTarget | None) -> Database:
        """The database a DDL runs in: its first object's (``CREATE TABLE otherdb.t``), else
        the current one. Other names in it mean that database too."""
        name = target.home(self.current_database) if target is not None else None
        if name is None or name == self.current_database:
            return self._current()
        return self._database(name)

    def _temporary_ddl(self, target: DdlTarget, database: Database, text: str
                       ) -> Result | Pending:
        self.warnings = []
        if target.verb == "DROP" and target.kind == "TABLE":
            return self._drop_temporary(target, database)
        if target.verb == "CREATE" and target.kind == "TABLE":
            self._require(database.name, "CREATE TEMPORARY TABLES")
            space = self._temp.open(database)
            if space.holds(target.name):
                message = f"Table '{target.name[1]}' already exists"
                if not target.guarded:
                    raise errors.error(errors.ER_TABLE_EXISTS_ERROR, message)
                self.warnings = [("Note", errors.ER_TABLE_EXISTS_ERROR, message)]
                return Ok()
            hidden = frozenset({target.name[1].lower()})  # a base table of that name stays
        else:
            space, hidden = self._temp.open(database), frozenset()
        view = TemporarySchemaView(self._schema_view(database, temporary=False), space, hidden)
        translation = translate_temporary_ddl(text, view)
        statements = tuple(as_temporary(statement) for statement in translation.statements)
        try:
            space.run_ddl(lambda conn: self._execute_write(conn, Translation(
                Kind.DDL, statements, False), {}), self.txn)
        except apsw.Error as exc:
            raise self._sqlite_error(exc, space.conn, database, translation, text) from None
        return Ok()

    def _drop_temporary(self, target: DdlTarget, database: Database) -> Result | Pending:
        """DROP [TEMPORARY] TABLE: the session's temporary tables named; without TEMPORARY
        the statement commits (as in MySQL) and drops the base tables named too."""
        space = self._temp.open(database)
        dropped = [name for db, name in target.tables if space.holds((db, name))]
        others = [(db, name) for db, name in target.tables if not space.holds((db, name))]
        if target.temporary and others:
            unknown = [f"{db or database.name}.{name}" for db, name in others]
            if not target.guarded:
                raise errors.error(errors.ER_BAD_TABLE_ERROR,
                                   f"Unknown table '{','.join(unknown)}'")
            self.warnings = [("Note", errors.ER_BAD_TABLE_ERROR, f"Unknown table '{name}'")
                             for name in unknown]
        if dropped:
            space.run_ddl(space.drop(dropped), self.txn)
        if target.temporary:
            return Ok()
        if not others:
            return chain(self._end(commit=True), lambda _: Ok())
        names = ", ".join(".".join(quote_ident(part) for part in (db, name) if part)
                          for db, name in others)
        return self._ddl(f"DROP TABLE {'IF EXISTS ' if target.guarded else ''}{names}")

    # ------------------------------------------------------------------ running translations
    def _placed(self, run: Callable[[Any, str | None], Any]) -> tuple[Any, Database, str | None]:
        """``run(view, default_database)`` (a translation) in the statement's home database:
        the current one, unless the statement writes a table of another database or reads
        only tables of one other (translate.OtherDatabase), or reads the database its
        transaction writes (its own writes are on that database's write connection). Returns
        its result, the home and the default database it was translated with."""
        database = self._current()
        try:
            result = run(self._schema_view(database), None)
        except OtherDatabase as moved:
            return self._placed_in(run, moved.database, moved.table)
        writing = self.txn.branches if self.txn is not None else None
        if writing and database.name not in writing:  # (written in both: one is read as
            for db, _ in result[0].other_tables:       # committed, txn/DESIGN.md §10.2)
                if db in writing:
                    return self._placed_in(run, db, "")
        return result, database, None

    def _placed_in(self, run: Callable[[Any, str | None], Any], name: str, table: str
                   ) -> tuple[Any, Database, str]:
        if not self.server.databases.exists(name):
            raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{name}.{table}' doesn't exist")
        home = self._database(name)
        default = self.current_database \
            if self.current_database not in SELECTABLE_SYSTEM_DATABASES else None
        return run(self._schema_view(home), default or ""), home, default or ""

    def _others(self, translation: Translation) -> list[Database]:
        """The other databases a statement reads (1146 for a missing one, as MySQL)."""
        found: dict[str, Database] = {}
        for name, table in translation.other_tables:
            if name not in found:
                if not self.server.databases.exists(name):
                    raise errors.error(errors.ER_NO_SUCH_TABLE,
                                       f"Table '{name}.{table}' doesn't exist")
                found[name] = self._database(name)
            self._require(name, "SELECT", (table,))
        return list(found.values())

    def _attach(self, conn: apsw.Connection, binding: ConnectionBinding,
                translation: Translation, database: Database, space: TempSpace | None) -> None:
        """The other databases a statement reads, attached to ``conn``; with attachments
        there, its unqualified tables must be the home database's (sql/attachments.py)."""
        if translation.other_tables:
            attach(conn, binding, self._others(translation))
        if binding.attached and translation.home_tables:
            local = space.names if space is not None else frozenset()
            require_home_tables(conn, binding, [name for name in translation.home_tables
                                                if name not in local],
                                None if database is self.server.scratch else database.name)

    def _run(self, translation: Translation, params: dict[str, Any], text: str,
             database: Database | None = None) -> Result | Pending:
        self.warnings = []
        self.sleep_requested_s = 0.0
        if not translation.statements:  # FLUSH, DROP PROCEDURE IF EXISTS …: nothing to run
            return Ok()
        database = database or self._current()
        write = translation.kind in _WRITE_KINDS
        if translation.other_tables:
            self._others(translation)  # exists, readable: before waiting for any turn
        space = self._temp.space(database) if self._temp.spaces else None
        if write and space is not None and translation.kind is not Kind.DDL and \
                _writes_temporary(space, translation):
            return self._write_temporary(space, translation, params, text)
        if write and database is self.server.scratch:
            raise self._no_database()
        if translation.kind is Kind.DDL:
            self._require(database.name, "rw" if translation.maintenance else
                          statement_privileges.ddl_privilege(text), translation.tables)
            return chain(self._implicit_commit(), lambda _: self.server.ddl_locks.run_locked(
                database.name, self.connection_id, text, self._metadata_lock_wait_timeout_s(),
                lambda: self._write(database, translation, params, text), self._connected))
        if write:
            for privilege in statement_privileges.WRITE_PRIVILEGES[translation.kind]:
                self._require(database.name, privilege, translation.tables[:1])
            if self.table_locks is not None:  # before taking the turn: 1099 / 1100
                for table in translation.tables:
                    self.table_locks.check_write(database.name, table)
            return self._write(database, translation, params, text)
        self._require(database.name, "r", translation.tables or translation.home_tables)
        if self.txn is None and not self.autocommit:
            self._open_transaction()
        if _temporary_only(space, translation):
            # no other session locks, writes or replicates the session's temporary tables:
            # no lock to wait for (FOR UPDATE, SERIALIZABLE, NOWAIT), no read barrier
            return self._run_read(database, translation, params, text)
        locking = translation.locking_read
        if locking and self._locked_by_another(database):
            option = translation.lock_wait
            if option == "NOWAIT":
                raise errors.error(errors.ER_LOCK_NOWAIT, "Statement aborted because lock(s) "
                                   "could not be acquired immediately and NOWAIT is set.")
            if option == "SKIP LOCKED":  # every row is under the other's lock: none is read
                return Rows(self._describe(database, translation, space))
        if self._reads_lock(translation, database):
            # FOR UPDATE / LOCK IN SHARE MODE, or any read of a SERIALIZABLE transaction:
            # the turn, so no one writes what was read
            return chain(self._begin_write(self.txn, database, Mode(self._fk_checks())),
                         lambda _: self._run_read(database, translation, params, text))
        barrier = self.server.read_barrier
        level = self.variables.read_consistency
        if barrier is not None and database is not self.server.scratch and (
                level == "QUORUM" or level == "LOCAL" and self.server.catching_up()):
            # DESIGN §4.4; a LOCAL read waits the same way while this node catches up
            return chain(barrier.wait(database.name),
                         lambda _: self._run_read(database, translation, params, text))
        return self._run_read(database, translation, params, text)

    def _describe(self, database: Database, translation: Translation,
                  space: TempSpace | None) -> list[Column]:
        """The columns of a read's result without running it; with the session's temporary
        tables in view (on its space) when it has some there."""
        return self.server.describe(database, translation.statements[-1],
                                    translation.result_decltypes,
                                    space.conn if space is not None else None)

    def _locked_by_another(self, database: Database) -> bool:
        """Another transaction holds the database's turn: every row is under its lock (writers
        are serialised per database, so the turn is the lock a locking read waits for). Then
        NOWAIT fails at once (3572) and SKIP LOCKED skips every row; without them the read
        waits for the turn as usual."""
        pipeline = self.server.pipelines.get(database.name)
        owner = pipeline.owner if pipeline is not None else None
        return owner is not None and owner != self.connection_id

    def _open_transaction(self, read_only: bool | None = None) -> Transaction:
        """A transaction over several statements (BEGIN, or autocommit=0) with the
        characteristics of SET TRANSACTION (once) or of the session, unless START TRANSACTION
        named its access mode."""
        isolation, session_read_only = self.variables.take_next_transaction()
        self.txn = Transaction(self.connection_id, explicit=True,
                               read_only=session_read_only if read_only is None else read_only)
        self._isolation = isolation
        return self.txn

    def _reads_lock(self, translation: Translation, database: Database) -> bool:
        """Does this read take the database's turn? A locking read, or every read of a
        SERIALIZABLE transaction (InnoDB reads LOCK IN SHARE MODE there), by a user who may
        write (a read-only user cannot hold others' writes back: a snapshot read)."""
        txn = self.txn
        return (txn is not None and not txn.read_only
                and (self._isolation == "SERIALIZABLE" or translation.locking_read)
                and self.user_record.can(database.name, "rw"))

    def _fk_checks(self) -> bool:
        return bool(self.variables.foreign_key_checks)

    def _write_temporary(self, space: TempSpace, translation: Translation,
                         params: dict[str, Any], text: str) -> Result:
        """A DML statement writing temporary tables only: on the session's space, without the
        write turn (sql/temporary.py); in a transaction, inside it."""
        if self.txn is None and not self.autocommit:
            self.txn = Transaction(self.connection_id, explicit=True)
        txn = self.txn
        if txn is not None:
            self._refuse_unseen_writes(space, txn, translation)
        conn = self._temp.pin(space, txn) if txn is not None else space.conn
        try:
            self._attach(conn, space.binding, translation, space.database, space)
            rows = run_statement(conn, space.capture, lambda c: self._execute_write(
                c, translation, params, space))
        except apsw.Error as exc:
            raise self._sqlite_error(exc, conn, space.database, translation, text,
                                     space.capture.last_statement_rows()) from None
        return rows if rows is not None else self._ok(space.capture, translation)

    def _refuse_unseen_writes(self, space: TempSpace, txn: Transaction,
                              translation: Translation) -> None:
        """A temporary-table write runs on the space, which cannot see the rows this
        transaction wrote to the database's base tables: one that reads them is refused."""
        if space.database.name not in txn.branches:
            return
        if set(translation.home_tables) - space.names:
            raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't "
                               "yet support 'writing a temporary table from base tables this "
                               "transaction changed'")

    def _lock_wait_timeout_s(self) -> float:
        """Row writes wait for the turn this long (innodb_lock_wait_timeout), then 1205."""
        try:
            return float(self.variables.get("innodb_lock_wait_timeout"))
        except (MarmotError, TypeError, ValueError):
            return 50.0

    def _metadata_lock_wait_timeout_s(self) -> float:
        """DDL, DROP DATABASE and LOCK TABLES wait this long (lock_wait_timeout: MySQL's
        metadata-lock wait), then 1205."""
        return float(self.variables.lock_wait_timeout_s)

    def _begin_write(self, txn: Transaction, database: Database, mode: Mode,
                     timeout_s: Callable[[], float] | None = None, alone: bool = False
                     ) -> Pending | None:
        """Take the database's turn for ``txn``; its read snapshot there is dropped (InnoDB:
        writes and locking reads see the latest committed rows). ``alone``: the open batch is
        committed first (a long write, which a KILL may roll back with its SQLite
        transaction)."""
        pipeline = self.server.pipeline(database)

        def entered(_: Any) -> None:
            pinned = txn.reads.pop(database.name, None)
            if pinned is None:
                return
            if pipeline.replicator is None:  # a single node: writes see the latest rows
                self._checkin(database, pinned)
                return
            # in a cluster it is kept to COMMIT: rows changed after it are a conflict
            txn.read_views[database.name] = ReadView(
                pinned, self.server.binding(pinned).trusted_scope,
                lambda: self._checkin(database, pinned))
        try:
            waiting = txn.begin_write(pipeline, mode, timeout_s or self._lock_wait_timeout_s,
                                      alone=alone, pipelines=self.server.pipelines.values)
        except MarmotError as exc:
            if exc.code == errors.ER_LOCK_DEADLOCK and txn is self.txn:
                self._end(commit=False)  # InnoDB's deadlock victim: its transaction rolled back
            raise
        return chain(waiting, entered)

    def _long_write(self, database: Database, translation: Translation,
                    params: dict[str, Any]) -> bool:
        """Does this DML run on a writer thread (sql/write_weight.py)? Not with a host that
        has none (the simulator), nor a session's temporary tables. A DDL does when a table
        it names holds more than LONG_WRITE_ROWS_MIN rows (a rebuild copies them, an index
        sorts them: ddl/DESIGN.md "Large tables")."""
        if translation.kind is Kind.DDL and self.server.host_runs_writes and \
                not self._temp.spaces and not translation.maintenance and \
                not translation.returns_rows:
            return self._ddl_rows(database, translation) > _WEIGHTS.rows_min
        if translation.kind not in _DML_KINDS or not self.server.host_runs_writes or \
                self._temp.spaces:
            return False
        if translation.heavy:  # a huge statement (translate.py): its prepare alone is long
            return True

        def lend() -> tuple[Any, Callable[[], None]]:
            conn = self._checkout(database)
            return conn, lambda: self._checkin(database, conn)
        # an UPDATE … ORDER BY weighs what its read of the rows scans: each row's UPDATE
        # that follows is by rowid (and has its own parameter)
        statements = translation.statements[:1] if translation.row_by_row \
            else translation.statements
        return _WEIGHTS.is_long((str(database.path), database.schema_generation),
                                statements, params, lend)

    def _ddl_rows(self, database: Database, translation: Translation) -> int:
        conn = self._checkout(database)
        try:
            return _WEIGHTS.rows_of(conn, translation.tables)
        finally:
            self._checkin(database, conn)

    def _write(self, database: Database, translation: Translation, params: dict[str, Any],
               text: str, attempt: int = 0) -> Result | Pending:
        """A DML or DDL statement: on the write connection, then committed if autocommit."""
        ddl = translation.kind is Kind.DDL
        autocommit = ddl or (self.txn is None and self.autocommit)
        if autocommit:
            txn = self._statement_txn = Transaction(
                self.connection_id, explicit=False,
                read_only=self.variables.transaction_read_only)
        else:  # autocommit=0: the first statement opens a transaction
            txn = self.txn or self._open_transaction()
        # A table rebuild or DROP runs with foreign keys off (it must not cascade); the
        # translation itself refuses or checks what MySQL would (rewrites_fk.py).
        mode = Mode(foreign_keys=self._fk_checks() and not translation.foreign_keys_off)
        timeout_s = self._metadata_lock_wait_timeout_s if ddl else None
        ranges = self._auto_id_ranges(database, translation)
        # AUTO_INCREMENT ids: wait for a claim only when this node's ranges are empty
        claimed = ranges.ready(translation.tables[0], translation.auto_increment_column,
                               translation.auto_increment_max, txn) \
            if ranges is not None and translation.auto_increment_column else None
        cascading = [] if ddl else self._cascade_targets(database, translation)
        # a long write runs on a writer thread: not one taking ids from this node's ranges
        # (it may run out and run again, on the loop: _run_taking_ids), nor one whose key
        # actions may write other databases' branches (sql/cascades_across.py)
        long = not (ranges is not None and translation.auto_increment_column) \
            and not cascading and self._long_write(database, translation, params)

        # an autocommit write that looked for the DDL lock before it took the turn looks
        # again once it has it (_lock_taken_meanwhile)
        looked = not ddl and autocommit and self.table_locks is None

        def turns(_: Any) -> Pending | None:
            taken = self._begin_write(txn, database, mode, timeout_s, alone=long)
            if not cascading:
                return taken
            try:
                for other in cascading:  # it may write them: a branch each (DESIGN.md §10.2)
                    taken = chain(taken, lambda _, other=other: self._begin_write(
                        txn, other, mode))
                # the statement runs on its own database's branch
                taken = chain(taken, lambda _: self._begin_write(txn, database, mode))
            except BaseException:
                if autocommit and not txn.finished:
                    txn.rollback()
                raise
            return _undone_on_failure(taken, txn if autocommit else None)

        def run() -> Result | Pending:
            return chain(claimed, lambda _: chain(chain(
                self._outcomes_settled(database) if ddl
                else self._ddl_lock_free(database, txn), turns),
                lambda _: self._write(database, translation, params, text, attempt)
                if looked and self._lock_taken_meanwhile(txn, database)
                else self._write_now(txn, database, translation, params, text, autocommit,
                                     long, attempt)))

        def again() -> Result | Pending:
            return self._write(database, translation, params, text, attempt + 1)
        if ranges is not None and autocommit:
            outcome = self._claimed_when_exhausted(run, ranges, attempt, again)
        else:
            outcome = run()
        if not autocommit or not isinstance(outcome, Pending):
            return outcome
        return self._retried_on_conflict(outcome, attempt, again,
                                         ddl=translation.kind is Kind.DDL)

    def _ddl_lock_free(self, database: Database, txn: Transaction) -> Pending | None:
        """A write about to take the turn waits while another session, on any node, holds
        the database's cluster DDL lock (up to innodb_lock_wait_timeout, then 1205): it
        would only lose to the DDL's new schema version (1213). Not a DDL (its lease is
        taken already: it settles instead), nor a transaction that holds the turn, nor a
        session under LOCK TABLES (its reservation of the turn would keep the DDL waiting
        for it in turn)."""
        if database.name in txn.branches or self.table_locks is not None:
            return None
        return self.server.ddl_locks.wait_free(database.name, self.connection_id,
                                               self._lock_wait_timeout_s(), self._connected,
                                               self.write_level)

    def _lock_taken_meanwhile(self, txn: Transaction, database: Database) -> bool:
        """An autocommit write that has just got the turn: did its node learn, while it
        waited for the turn, of a DDL lock it must not write past (``wait_free`` would hold
        it now)? Then it gives the turn back (True) and starts again, waiting for the lock:
        built on the old schema, it would only be refused (1213) or, committed first, have
        the DDL refused (ddl/DESIGN.md §11, "What remains")."""
        if not self.server.ddl_locks.holds_back(database.name, self.connection_id,
                                                self.write_level):
            return False
        txn.rollback()
        self.server.ddl_locks.counts["turns_given_back"] += 1
        return True

    def _outcomes_settled(self, database: Database) -> Pending | None:
        """A DDL (its lock held, before it takes the turn): None at once, or a Pending
        resolved once this node has applied every write of ``database`` it voted on in the
        last DDL_SETTLE_MS — or DDL_SETTLE_MS after it began, or once the client left (the
        DDL then fails as it would have). An instance in doubt is waited for at most that
        long; its refusal and the retry remain (ddl/DESIGN.md §11, "Settling")."""
        replicator = self.server.replicator
        if replicator is None or not replicator.outcomes_awaited(database.name, DDL_SETTLE_MS):
            return None
        self.server.status["Marmot_ddl_settle_waits"] += 1
        deadline = self.server.clock() + DDL_SETTLE_MS / 1000
        done = Pending()

        def look() -> None:
            if not self._connected() or self.server.clock() >= deadline or \
                    not replicator.outcomes_awaited(database.name, DDL_SETTLE_MS):
                done.resolve(None)
                return
            self.server.host.call_later(DDL_SETTLE_POLL_MS / 1000, look)
        self.server.host.call_later(DDL_SETTLE_POLL_MS / 1000, look)
        return done

    def _connected(self) -> bool:
        """Does this session still want its statement (its client has not left, nor been
        killed, nor its query killed)?"""
        return self.server.sessions.get(self.connection_id) is self and \
            not self.lock_wait_stopped

    def _implicit_commit(self) -> Pending | None:
        """DDL and CREATE/DROP DATABASE commit an open transaction first, as in MySQL; with
        ``sql.ddl_implicit_commit = false`` they are refused inside one (1179)."""
        if self.txn is not None and not self.server.ddl_implicit_commit:
            raise errors.error(errors.ER_CANT_DO_THIS_DURING_AN_TRANSACTION,
                               "You are not allowed to execute this command in a transaction")
        return self._end(commit=True)

    def _auto_id_ranges(self, database: Database, translation: Translation
                        ) -> auto_increment.Ranges | None:
        """The node's AUTO_INCREMENT ranges a write takes ids from (a cluster), or None: an
        INSERT's own, or a trigger's INSERT of any row change."""
        if translation.kind is Kind.DDL or not translation.tables:
            return None
        return self.server.ranges(database)

    def _claimed_when_exhausted(self, run: Callable[[], Result | Pending],
                                ranges: auto_increment.Ranges, attempt: int,
                                again: Callable[[], Result | Pending]) -> Result | Pending:
        """An autocommit INSERT that ran out of claimed ids was rolled back, unanswered:
        wait for a claim of what it needed and run it again (bounded, txn/DESIGN.md §9)."""
        first = Pending()
        first.settle(run)
        error = first.error()
        if first.done() and not isinstance(error, AutoIncrementExhausted):
            return first.result()
        result = Pending()

        def settled(done: Pending) -> None:
            exhausted = done.error()
            if isinstance(exhausted, AutoIncrementExhausted) and attempt < AUTO_ID_RUNS_MAX:
                wanted = 2 * exhausted.handed + 1  # the target's ids, or a trigger's table's
                result.settle(lambda: chain(ranges.claim(exhausted.table, "", wanted),
                                            lambda _: again()))
                return
            result.follow(done)
        first.add_done_callback(settled)
        return result

    def _retried_on_conflict(self, outcome: Pending, attempt: int,
                             again: Callable[[], Result | Pending], ddl: bool = False
                             ) -> Pending:
        """An autocommit statement that lost a cluster conflict was not committed, and its
        client has no answer yet: run it again (bounded) instead of returning 1213. A DDL
        goes on longer (DDL_BEHIND_RETRY_MS apart), as long as a metadata-lock wait."""
        result = Pending()
        retries = CONFLICT_RETRIES_MAX
        if ddl:
            retries += int(min(self._metadata_lock_wait_timeout_s(), DDL_BEHIND_RETRY_S_MAX)
                           * 1000 / DDL_BEHIND_RETRY_MS)

        def done(first: Pending) -> None:
            try:
                first.result()
            except MarmotError as exc:
                if exc.code == errors.ER_LOCK_DEADLOCK and attempt < retries:
                    pause_ms = CONFLICT_BACKOFF_MS[attempt] if attempt < CONFLICT_RETRIES_MAX \
                        else DDL_BEHIND_RETRY_MS
                    delay_ms = pause_ms * (0.5 + self.server.rng.random())
                    self.server.host.call_later(delay_ms / 1000, rerun)
                    return
            except BaseException:  # noqa: BLE001 - handed on below
                pass
            result.follow(first)

        def rerun() -> None:
            if self.server.sessions.get(self.connection_id) is not self or \
                    self.lock_wait_stopped:  # gone, or KILL QUERY meanwhile
                result.fail(errors.error(errors.ER_QUERY_INTERRUPTED,
                                         "Query execution was interrupted"))
                return
            self.server.status["Marmot_conflict_retries"] += 1
            result.settle(again)

        outcome.add_done_callback(done)
        return result

    def _write_now(self, txn: Transaction, database: Database, translation: Translation,
                   params: dict[str, Any], text: str, autocommit: bool, long: bool = False,
                   attempt: int = 0) -> Result | Pending:
        assert txn.pipeline is not None
        capture = txn.pipeline.capture
        binding = self.server.binding(txn.pipeline.conn)
        binding.session = self  # MySQL functions read it, and the authorizer (table locks)
        if self.table_locks is not None:
            binding.expire_statements()
        ddl = translation.kind is Kind.DDL
        if ddl and marker_count(text) == 0:
            # Translated against the committed schema; the write connection may hold newer
            # DDL of the open batch (another client's ALTER): translate against what it runs on
            try:  # it may fail now (its table was dropped since): the turn must go back
                view = self.server.schema_view(txn.pipeline.conn, database)
                view.foreign_key_checks = self._fk_checks()
                view.creation_charsets = self._creation_charsets()
                seen = self._with_temporary(view, database) if translation.maintenance \
                    else view
                translation, params = translate(
                    text, seen, backslash_escapes=self.variables.backslash_escapes,
                    default_database=self._ddl_default(database))
            except BaseException:
                if autocommit:
                    txn.rollback()
                raise
        truncate = ddl and text[:8].upper() == "TRUNCATE"
        if long:
            self._attach_for_write(txn, database, translation, autocommit)
            raise LongWrite(self._write_job(txn, database, translation, params, text,
                                            autocommit, attempt))
        try:
            space = self._temp.space(database) if self._temp.spaces and not ddl else None
            if translation.other_tables or binding.attached:
                self._attach(txn.pipeline.conn, binding, translation, database, space)
            if ddl:
                txn.note_catalog()  # its entry ships what it changed (idempotent replay)
            rows = self._run_taking_ids(
                txn, database, translation,
                lambda conn: self._checked_write(conn, txn, database, translation, params,
                                                 space),
                capture=truncate or not ddl)
            if ddl:
                self._record_ddl(txn, database, translation, params, text, truncate)
        except apsw.Error as exc:
            if autocommit:
                txn.rollback()
            raise self._sqlite_error(exc, txn.pipeline.conn, database, translation, text,
                                     None if ddl else capture.last_statement_rows()) from None
        except BaseException:
            if autocommit:
                txn.rollback()
            raise
        result = rows if rows is not None else self._ok(
            capture, translation, self._generated_id(database, translation))
        if not autocommit:
            return result
        level = self.write_level
        if not ddl:
            return txn.commit(result, level)

        def committed(value: Result) -> Result:
            # Pooled connections see the new schema only now: translations cached against
            # the old one since the DDL ran must not be reused.
            self.server.schema_changed(database)
            return value
        return chain(txn.commit(result, level), committed)

    def _run_taking_ids(self, txn: Transaction, database: Database, translation: Translation,
                        statement: Callable[[apsw.Connection], Any], capture: bool) -> Any:
        """``txn.run(statement)``; an explicit transaction whose INSERT ran out of claimed
        AUTO_INCREMENT ids claims inside itself (it holds the turn a separate claim would
        need) and runs the statement again: its savepoint undid the first run."""
        ranges = self._auto_id_ranges(database, translation)
        if ranges is None:
            return txn.run(statement, capture=capture)
        for _ in range(AUTO_ID_RUNS_MAX):
            ranges.start_statement(translation.tables[0])
            try:
                return txn.run(statement, capture=capture)
            except AutoIncrementExhausted as exc:  # exc.table: the target's, or a trigger's
                ranges.give_back()  # the statement is undone (or about to be, autocommit)
                if not txn.explicit:
                    raise
                ranges.ride(txn, exc.table, 2 * exc.handed + 1)
        ranges.start_statement(translation.tables[0])
        return txn.run(statement, capture=capture)

    def _generated_id(self, database: Database, translation: Translation) -> int:
        """The first id the statement generated from claimed ranges (0: none, or SQLite
        numbered the rows)."""
        ranges = self._auto_id_ranges(database, translation)
        return ranges.statement.first_id if ranges is not None else 0

    def _attach_for_write(self, txn: Transaction, database: Database,
                          translation: Translation, autocommit: bool) -> None:
        """A long write's other databases, attached on the loop before it leaves."""
        assert txn.pipeline is not None
        conn = txn.pipeline.conn
        binding = self.server.binding(conn)
        try:
            if translation.other_tables or binding.attached:
                self._attach(conn, binding, translation, database, None)
        except BaseException:
            if autocommit:
                txn.rollback()
            raise

    def _write_job(self, txn: Transaction, database: Database, translation: Translation,
                   params: dict[str, Any], text: str, autocommit: bool, attempt: int
                   ) -> WriteJob:
        """A long DML for a writer thread. It holds the turn, alone in its SQLite transaction
        (``_begin_write(alone=True)``), so KILL QUERY / a client gone can interrupt it: SQLite
        then rolls back that transaction, which is only this one's."""
        assert txn.pipeline is not None
        conn, capture = txn.pipeline.conn, txn.pipeline.capture

        level = self.write_level

        self._offload_stopped = False

        ddl = translation.kind is Kind.DDL
        if ddl:  # PROCESSLIST's State and the log follow its steps (ddl/progress.py)
            self.ddl_progress = DdlProgress(self.connection_id, text,
                                            self._ddl_rows(database, translation),
                                            self.server.clock)
            self._long_ddl_stopped = False
            self.server.long_ddls[database.name] = self._stop_long_ddl
            # a peer's write prepared here while it waited for the turn, not applied (the
            # turn is the DDL's now): it would be refused for it just the same (§11)
            replicator = self.server.replicator
            if replicator is not None and \
                    replicator.outcomes_awaited(database.name, DDL_SETTLE_MS):
                self._stop_long_ddl()

        # FOREIGN KEYs to or from other databases: checked on the thread, through
        # connections of its own (sql/key_readers.py), given back when the job is finished
        keys = self.server.keys_across()
        off_loop = (keys, self.server.key_readers.take()) \
            if not ddl and self._fk_checks() and keys.involves(database.name) else None

        def again() -> Result | Pending:
            return self._write(database, translation, params, text, attempt + 1)

        def run(sink: RowSink | None = None) -> tuple[Result, Any]:
            """On the writer thread: the statement, and an autocommit one's commit record
            (the write set of every row it changed: as long as the statement itself; a
            DDL's: its entry, never its rows)."""
            if self._offload_stopped:  # KILL QUERY while it waited for a writer thread
                raise errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was "
                                   "interrupted")
            if ddl:
                return self._long_ddl(txn, translation, params, text, level)
            rows = txn.run(lambda c: self._checked_write(c, txn, database, translation, params,
                                                         None, off_loop))
            result = rows if rows is not None else self._ok(capture, translation)
            return result, txn.record_commit(level) if autocommit else None

        def finish() -> None:
            if off_loop is not None:
                self.server.key_readers.give_back(off_loop[1])

        def resume(outcome: tuple[Result, Any] | BaseException) -> Result | Pending:
            stopped = ddl and self._long_ddl_over(database, outcome)
            if isinstance(outcome, BaseException):
                failed = self._failed_long_write(outcome, txn, database, translation, text,
                                                 autocommit)
                if not stopped:
                    raise failed
                # stopped for a peer's write it would be refused for: again, after settling
                self.server.status["Marmot_ddl_rebuilds_stopped"] += 1
                refused = Pending()
                refused.fail(_rebuild_stopped())
                return self._after(self._retried_on_conflict(refused, attempt, again, ddl))
            result, recorded = outcome
            if not autocommit:
                return self._after(result)
            committed = txn.finish_commit(recorded, level, result)
            if isinstance(committed, Pending):
                committed = self._retried_on_conflict(committed, attempt, again, ddl=ddl)
            if ddl:  # pooled connections see the new schema once it is committed
                committed = chain(committed, lambda value: self._schema_committed(database,
                                                                                  value))
            return self._after(committed)

        return WriteJob(run=run, finish=finish, interrupt=conn.interrupt,
                        expire=lambda: None, resume=resume)

    def _long_ddl(self, txn: Transaction, translation: Translation, params: dict[str, Any],
                  text: str, level: str) -> tuple[Result, Any]:
        """On the writer thread: a DDL over a big table, its entry and its commit record. Its
        rows are never captured (a rebuild's copy is not a change storm: the entry replays
        it), only TRUNCATE's deletes, as on the loop."""
        truncate = text[:8].upper() == "TRUNCATE"
        progress = self.ddl_progress
        txn.note_catalog()

        def step(index: int, count: int, statement: str) -> None:
            if self._long_ddl_stopped:  # between two statements SQLite's interrupt is lost
                raise errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was "
                                   "interrupted")
            if progress is not None:
                progress.step(index, count, statement)
        self._on_statement = step
        try:
            txn.run(lambda c: self._execute_write(c, translation, params, None),
                    capture=truncate)
        finally:
            self._on_statement = None
        self._ddl_entry(txn, translation, params, text, truncate)
        return self._ok(txn.pipeline.capture, translation), txn.record_commit(level)  # type: ignore[union-attr]

    def _schema_committed(self, database: Database, value: Result) -> Result:
        self.server.schema_changed(database)
        return value

    def _long_ddl_over(self, database: Database, outcome: Any) -> bool:
        """Back on the loop after a long DDL: the new schema is visible to translations.
        True when it failed because ``_stop_long_ddl`` stopped it."""
        if self.ddl_progress is not None:
            self.ddl_progress.finished(not isinstance(outcome, BaseException))
            self.ddl_progress = None
        if self.server.long_ddls.get(database.name) == self._stop_long_ddl:
            del self.server.long_ddls[database.name]
        self.server.schema_changed(database)
        stopped, self._long_ddl_stopped = self._long_ddl_stopped, False
        return stopped and isinstance(outcome, BaseException) and self._connected()

    def _stop_long_ddl(self) -> None:
        """A peer's write of this long DDL's database was prepared here while it runs (its
        node had not applied the lock row when the write took its turn): the DDL's
        ``ordered_after`` cannot include it, so every member would refuse the DDL at its end
        (ddl/DESIGN.md §11). Stop the rebuild now (as KILL QUERY does: SQLite rolls it back,
        or the job stops as it starts); ``resume`` runs it again, which first waits for the
        write to be applied here (``_outcomes_settled``)."""
        if not self._long_ddl_stopped:
            self._long_ddl_stopped = True
            self.interrupt_running()

    def _failed_long_write(self, exc: BaseException, txn: Transaction, database: Database,
                           translation: Translation, text: str, autocommit: bool
                           ) -> BaseException:
        """A long write that failed on its thread. Interrupted (KILL QUERY, the client gone),
        SQLite rolled back its whole SQLite transaction: an explicit transaction ends with
        it (MySQL would undo the statement only; docs/limits.md)."""
        assert txn.pipeline is not None
        interrupted = isinstance(exc, apsw.InterruptError)
        if autocommit:
            txn.rollback()
        elif interrupted:
            self._end(commit=False)
        if interrupted:
            return errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted")
        if isinstance(exc, apsw.Error):
            return self._sqlite_error(exc, txn.pipeline.conn, database, translation, text,
                                      txn.pipeline.capture.last_statement_rows())
        return exc

    def _record_ddl(self, txn: Transaction, database: Database, translation: Translation,
                    params: dict[str, Any], text: str, truncate: bool) -> None:
        """A DDL's write-set entry: the SQLite statements that replay it (TRUNCATE's rows were
        captured as deletes; its entry replays only its AUTO_INCREMENT reset, if any, and
        marks the deletes as a truncate; ANALYZE's result set is not replayed)."""
        self._ddl_entry(txn, translation, params, text, truncate)
        self.server.schema_changed(database)

    @staticmethod
    def _ddl_entry(txn: Transaction, translation: Translation, params: dict[str, Any],
                   text: str, truncate: bool) -> None:
        ran = translation.statements[:-1] if translation.returns_rows else translation.statements
        statements = [s for s in ran if not truncate or "sqlite_sequence" in s]
        if statements or truncate:  # a TRUNCATE is always marked (CDC's op "t", cdc/)
            txn.add_schema_change(text, statements, params, translation.tables)

    def _checked_write(self, conn: apsw.Connection, txn: Transaction, database: Database,
                       translation: Translation, params: dict[str, Any],
                       space: TempSpace | None,
                       off_loop: tuple[ForeignKeysAcross, KeyReaders] | None = None
                       ) -> Rows | None:
        """``_execute_write``, then the FOREIGN KEYs to and from other databases' tables
        checked against the rows it changed, inside its statement savepoint (1452/1451 undo
        it: sql/foreign_keys_across.py). A long write's checks run on its writer thread
        (``off_loop``: the node's index of keys, taken on the loop, which alone rebuilds it;
        its own connections to the other databases), and KILL QUERY stops them (1317)."""
        rows = self._execute_write(conn, translation, params, space)
        if translation.kind is Kind.DDL or not self._fk_checks():
            return rows
        keys, lend = (self.server.keys_across(), self.server.lend) if off_loop is None \
            else (off_loop[0], off_loop[1].lend)
        if keys.involves(database.name):
            assert txn.pipeline is not None
            capture = txn.pipeline.capture
            cascades = Cascades(keys, txn, self._lend_seeing(txn, lend),
                                self.server.keys_unfinished,
                                stopped=lambda: off_loop is not None and self._offload_stopped)
            with cascades.around(database.name):  # (sql/cascades_across.py)
                cascades.check(database.name, lambda table: capture.table_schema(table).columns,
                               capture.statement_changes())
        return rows

    def _cascade_targets(self, database: Database, translation: Translation) -> list[Database]:
        """The databases a write may change through ON DELETE / ON UPDATE CASCADE or SET NULL
        keys of other databases (their turns are taken before it runs)."""
        if translation.kind not in (Kind.UPDATE, Kind.DELETE, Kind.REPLACE) and \
                not translation.upsert or not self._fk_checks():
            return []
        keys = self.server.keys_across()
        if not keys.involves(database.name):
            return []
        return [self._database(name) for name in keys.cascades_into(database.name)
                if self.server.databases.exists(name)]

    def _lend_seeing(self, txn: Transaction, base: Callable[[str], Any]
                     ) -> Callable[[str], Any]:
        """``base`` (the pool's or a writer thread's readers), except that a database the
        transaction writes is read on its branch's write connection: its own uncommitted
        rows count (txn/DESIGN.md §10.2)."""
        if len(txn.branches) < 2:
            return base

        def lend(name: str) -> tuple[apsw.Connection, Callable[[], None]] | None:
            branch = txn.branches.get(name.lower())
            if branch is None:
                return base(name)
            scope = branch.trusted()
            scope.__enter__()
            return branch.conn, lambda: scope.__exit__(None, None, None)
        return lend

    def _execute_write(self, conn: apsw.Connection, translation: Translation,
                       params: dict[str, Any], space: TempSpace | None = None) -> Rows | None:
        """Run a write's statements; the rows of a RETURNING-style last statement, or None.
        A DDL runs with DDL trust: its own bookkeeping rows, nothing else internal. The
        session's temporary tables (``space``) are visible to it (sql/temporary.py). A DML
        runs with the session's foreign_key_checks as they are now (``_foreign_key_checks``),
        whatever they were when its transaction began."""
        self._active_conn = conn
        binding = self.server.binding(conn)
        binding.trusted = translation.kind is Kind.DDL
        checks = nullcontext() if translation.kind is Kind.DDL else \
            _foreign_key_checks(conn, self._fk_checks())
        try:
            with checks:
                if space is None:
                    return self._statements(conn, translation, params, None)
                with _visible(space, conn, translation):
                    return self._statements(conn, translation, params, space)
        finally:
            binding.trusted = False
            self._active_conn = None

    def _statements(self, conn: apsw.Connection, translation: Translation,
                    params: dict[str, Any], space: TempSpace | None) -> Rows | None:
        binding = self.server.binding(conn)
        written, flags = binding.written_row, binding.prepare_flags
        if translation.row_by_row:  # a failure names its row's values (sql/written_row.py)
            update_in_order(conn, translation, params, written.start, flags)
            return None
        rows: Rows | None = None
        last = len(translation.statements) - 1
        for i, statement in enumerate(translation.statements):
            if self._on_statement is not None:  # a long DDL's progress (ddl/progress.py)
                self._on_statement(i, last + 1, statement)
            written.start()  # what MYSQL_STORE records is this statement's (sql/written_row.py)
            if translation.returns_rows and i == last:
                rows = self.server.query(conn, statement, params, translation.result_decltypes,
                                         _scope(space))
            else:
                conn.execute(statement, params, prepare_flags=flags)
        return rows

    def _ok(self, capture: ChangeCapture, translation: Translation, generated_id: int = 0
            ) -> Ok:
        """MySQL's affected rows: REPLACE counts its delete too, an upsert's update counts 2,
        an UPDATE counts changed rows unless the client asked for found rows
        (CLIENT_FOUND_ROWS); DDL counts none. The insert id is the first id the statement
        generated (``generated_id``, from claimed ranges) or else the first row SQLite
        numbered."""
        kind = translation.kind
        inserts, updates, deletes = capture.last_statement_ops()
        if kind is Kind.DDL:
            affected = 0
        elif kind is Kind.UPDATE:
            affected = updates + (capture.last_statement_unchanged()
                                  if self.found_rows_flag else 0)
        elif kind is Kind.DELETE:
            affected = deletes
        elif translation.upsert:
            affected = inserts + 2 * updates
        else:
            affected = inserts + deletes + updates + capture.last_statement_unchanged()
        insert_id = (generated_id or capture.last_statement_first_rowid()) \
            if translation.auto_increment and inserts else 0
        return Ok(affected_rows=affected, last_insert_id=insert_id)

    def _run_read(self, database: Database, translation: Translation,
                  params: dict[str, Any], text: str) -> Result:
        space = self._temp.space(database) if self._temp.spaces else None
        conn = self._held_connection(database, space, translation)
        pinned = conn is not None
        if conn is None:
            conn = self._read_checkout(database, space, translation)
        binding = self.server.binding(conn)
        self._active_conn = conn
        binding.start_budget(_READ_BUDGET_STEPS)
        released = False
        try:
            if translation.other_tables or binding.attached:
                self._attach(conn, binding, translation, database, space)
            if translation.heavy and not self.killed:  # its prepare alone: a worker's job
                released = True
                raise LongRead(self._read_job(database, conn, translation, params, pinned,
                                              space, text))
            result = self._read_on(conn, translation, params, space, IN_LOOP_RESULT_BYTES_MAX)
        except (apsw.InterruptError, ResultTooLarge) as stopped:
            if (binding.budget_spent or isinstance(stopped, ResultTooLarge)) and not self.killed:
                released = True  # the job owns the connection now
                raise LongRead(self._read_job(database, conn, translation, params, pinned,
                                              space, text)) from None
            raise errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted") \
                from None
        except apsw.Error as exc:
            raise self._read_error(exc, conn, database, translation, text) from None
        finally:
            binding.start_budget(None)
            self._active_conn = None
            if not pinned and not released:
                self._checkin(database, conn)
        return result

    def _read_on(self, conn: apsw.Connection, translation: Translation,
                 params: dict[str, Any], space: TempSpace | None,
                 bytes_max: int | None = None, sink: RowSink | None = None) -> Rows | Streamed:
        if space is None:
            return self._read_statements(conn, translation, params, None, bytes_max, sink)
        with _visible(space, conn, translation):
            return self._read_statements(conn, translation, params, space, bytes_max, sink)

    def _read_statements(self, conn: apsw.Connection, translation: Translation,
                         params: dict[str, Any], space: TempSpace | None,
                         bytes_max: int | None, sink: RowSink | None) -> Rows | Streamed:
        """The read's statements; the last one's rows are the result: collected (at most
        ``bytes_max`` of them, in the loop), or sent to ``sink`` as they come (on a worker)."""
        rows: Rows | Streamed | None = None
        *first, last = translation.statements
        decltypes, scope = translation.result_decltypes, _scope(space)
        with self.server.binding(conn).trusted_scope() if translation.reads_catalogue \
                else nullcontext():  # CHECK TABLE: the translator's own pragma reads
            for statement in first:
                self.server.query(conn, statement, params, decltypes, scope)
            if sink is None:
                rows = self.server.query(conn, last, params, decltypes, scope, bytes_max)
                count = len(rows.rows)
            else:
                columns, count = self.server.query_batches(conn, last, params, decltypes,
                                                           scope, sink)
                rows = Streamed(columns, count)
        if translation.calc_found_rows and translation.found_rows_sql:
            self.found_rows = conn.execute(translation.found_rows_sql, params,
                                           prepare_flags=USER_PREPARE_FLAGS).fetchall()[0][0]
        else:
            self.found_rows = count
        return rows

    def _read_job(self, database: Database, conn: apsw.Connection, translation: Translation,
                  params: dict[str, Any], pinned: bool, space: TempSpace | None,
                  text: str) -> ReadJob:
        expired = [False]  # max_execution_time ran out (3024), rather than KILL QUERY (1317)
        self._offload_stopped = False

        def run(sink: RowSink | None = None) -> Rows | Streamed:
            self._active_conn, self._active_sink = conn, sink  # so KILL QUERY can stop it
            try:
                if self._offload_stopped:  # stopped while it waited for a worker
                    raise StreamCancelled("stopped before it started")
                return self._read_on(conn, translation, params, space, None, sink)
            except (apsw.InterruptError, StreamCancelled):
                if expired[0]:
                    raise errors.error(errors.ER_QUERY_TIMEOUT, "Query execution was "
                                       "interrupted, maximum statement execution time "
                                       "exceeded") from None
                raise errors.error(errors.ER_QUERY_INTERRUPTED,
                                   "Query execution was interrupted") from None
            except apsw.Error as exc:
                raise self._read_error(exc, conn, database, translation, text) from None
            finally:
                self._active_conn = self._active_sink = None
                sink = None

        def finish() -> None:
            if not pinned:
                self._checkin(database, conn)

        def expire() -> None:
            expired[0] = True
            self.interrupt_running()

        return ReadJob(run=run, finish=finish, interrupt=self.interrupt_running, expire=expire)

    def max_execution_time_ms(self) -> int:
        """The running SELECT's time limit: its MAX_EXECUTION_TIME hint, else the session's
        ``max_execution_time`` (0: none)."""
        limit = self.execution_limit_ms
        return self.variables.max_execution_time_ms if limit is None else limit

    def interrupt_running(self) -> None:
        """Stop what runs on a worker for this session: its SQLite statement, its rows — or
        a job still waiting for a worker, which then stops as it starts."""
        self._offload_stopped = True
        conn, sink = self._active_conn, self._active_sink
        if conn is not None:
            conn.interrupt()
        if sink is not None:  # a worker blocked on a client that does not read
            sink.cancel()

    def _read_error(self, exc: apsw.Error, conn: apsw.Connection, database: Database,
                    translation: Translation, text: str) -> MarmotError:
        converted = self._sqlite_error(exc, conn, database, translation, text)
        if converted.code == errors.ER_NO_SUCH_TABLE and database is self.server.scratch:
            return self._no_database()
        return converted

    def _no_database(self) -> MarmotError:
        """An unqualified table with no database of ours selected: 1046, or in the mysql
        schema (its grant tables are not marmotdb's: storage/databases.py) 1235."""
        if self.current_database == "mysql":
            return errors.not_supported("the tables of the mysql system schema")
        return errors.error(errors.ER_NO_DB_ERROR, "No database selected")

    def _sqlite_error(self, exc: apsw.Error, conn: apsw.Connection, database: Database,
                      translation: Translation, text: str,
                      rows_written: int | None = None) -> MarmotError:
        """SQLite's error as MySQL words it: key and constraint names read from the schema
        (the failed statement changed none of it), the failing row's values (a write that had
        written ``rows_written`` rows), the database of a missing table, the clause of an
        unknown column."""
        binding = self.server.binding(conn)
        with binding.trusted_scope():
            context = written_row.statement_context(
                conn, None if database is self.server.scratch else database.name, translation,
                binding.written_row, rows_written)
            converted = errors.from_sqlite(exc, deleting=translation.kind is Kind.DELETE,
                                           context=context)
        return column_clause.name_clause(converted, text)

    # ------------------------------------------------------------------ helpers
    def _database(self, name: str) -> Database:
        if not self._fresh_grants().held.any_in(name) or name.lower() == ACCOUNTS_DATABASE:
            raise errors.error(errors.ER_DBACCESS_DENIED_ERROR, f"Access denied for user "
                               f"'{self.user}'@'{self.host}' to database '{name}'")
        return self.server.databases.get(name)

    def _current(self) -> Database:
        cached = self._current_db
        if cached is not None and cached.name == self.current_database and not cached.dropped:
            return cached
        if self.current_database is None or \
                self.current_database in SELECTABLE_SYSTEM_DATABASES:
            return self.server.scratch
        self._current_db = self._database(self.current_database)
        return self._current_db

    def _schema_view(self, database: Database | None = None, temporary: bool = True
                     ) -> SchemaView | TemporarySchemaView:
        """What the translator sees of ``database`` (the current one): with ``temporary``, the
        session's temporary tables there first (a DDL on base tables sees none)."""
        database = database or self._current()
        conn = self._txn_connection(database) or self.server.read_connection(database)
        view = self.server.schema_view(conn, database)
        view.foreign_key_checks = bool(self.variables.foreign_key_checks)
        # a session not in UTC gets translations converting TIMESTAMP columns (timestamps.py)
        view.timestamps_local = not zone_is_utc(self.variables.time_zone_setting)
        return self._with_temporary(view, database) if temporary else view

    def _creation_charsets(self) -> CreationCharsets:
        """What a view, trigger or routine this session creates records (schema.py)."""
        get = self.variables.get
        return CreationCharsets(str(get("character_set_client")),
                                str(get("collation_connection")),
                                str(get("collation_database")))

    def _with_temporary(self, view: SchemaView, database: Database
                        ) -> SchemaView | TemporarySchemaView:
        """``view`` of ``database`` with the session's temporary tables there seen first."""
        space = self._temp.space(database) if self._temp.spaces else None
        return view if space is None else TemporarySchemaView(view, space)

    def _require(self, database: str | None, needed: str, tables: tuple[str, ...] = ()
                 ) -> None:
        """Refuse unless the account holds ``needed`` (a privilege, or a level r/rw/admin)
        on ``database`` or on each of ``tables`` there: 1142 naming a table, 1044 a
        database, 1227 a global privilege (MySQL's errors)."""
        if database == self.server.scratch.name:
            return
        record = self._fresh_grants()
        privilege = statement_privileges.LEVEL_PRIVILEGE.get(needed, needed)
        key = (database, privilege, tables)
        allowed = self._allowed.get(key)
        if allowed is None:
            allowed = self._allowed[key] = statement_privileges.holds(record, database,
                                                                      privilege, tables)
        if not allowed:
            raise self._denied(database, privilege, tables)

    def _fresh_grants(self) -> User:
        """The session's account as stored now: GRANT/REVOKE take effect for new statements.
        The store is looked at once per statement (Questions counts them on this node)."""
        questions = self.server.status["Questions"]
        if questions == self._grants_questions:
            return self.user_record
        self._grants_questions = questions
        generation = self.server.users.refresh()
        if generation != self._grants_generation:
            self._grants_generation = generation
            self._allowed.clear()
            record = self.server.users.exact(self.user_record.name, self.user_record.host)
            self.user_record = record or self.user_record  # dropped: the session keeps going
        return self.user_record

    def _denied(self, database: str | None, privilege: str, tables: tuple[str, ...]
                ) -> errors.MarmotError:
        return statement_privileges.denial(self.user_record, f"'{self.user}'@'{self.host}'",
                                           database, privilege, tables)

    def _checkout(self, database: Database, space: TempSpace | None = None) -> apsw.Connection:
        """A connection to read ``database``: the session's space there when given, else a
        pooled one."""
        conn = space.conn if space is not None else database.checkout()
        binding = self.server.binding(conn)
        binding.session = self
        if self.table_locks is not None:  # its statements are authorized for this session
            binding.expire_statements()
        wanted = self.variables.foreign_key_checks
        if binding.foreign_keys != wanted:  # SET foreign_key_checks (dumps restore with 0)
            with binding.trusted_scope():
                conn.execute(f"PRAGMA foreign_keys={'ON' if wanted else 'OFF'}")
            binding.foreign_keys = wanted
        return conn

    def _checkin(self, database: Database, conn: apsw.Connection) -> None:
        binding = self.server.binding(conn)
        if binding.writable_schema == "temp":  # a space: the session's own, kept open
            return
        binding.session = None
        database.checkin(conn)

    def _held_connection(self, database: Database, space: TempSpace | None,
                         translation: Translation) -> apsw.Connection | None:
        """The connection a read of ``database`` must use, or None for one checked out for
        it (``_read_checkout``): the transaction's write connection once it wrote there, else
        its read snapshot (one per transaction; READ COMMITTED takes a fresh one per
        statement; the session's space there if it has one: sql/temporary.py)."""
        if _temporary_only(space, translation):
            return None  # read on the space, where they live: no base snapshot to hold
        locks = self.table_locks
        locked = locks.snapshots.get(database.name) if locks is not None else None
        if locked is not None:  # LOCK TABLES … READ: the snapshot taken then
            return locked
        if self.txn is None:
            return None
        if self._isolation in _FRESH_SNAPSHOTS:
            return self._txn_connection(database)
        return self._pin(database)

    def _read_checkout(self, database: Database, space: TempSpace | None,
                       translation: Translation) -> apsw.Connection:
        """A connection for one read: the session's space if it has one, unless the open
        transaction's snapshot is held there (its temporary writes) and the read needs base
        rows committed since (READ COMMITTED): then a pooled connection, the temporary tables
        it names copied in (``_visible``)."""
        txn = self.txn
        if space is not None and txn is not None and space.read_key in txn.reads and \
                not _temporary_only(space, translation):
            space = None
        return self._checkout(database, space)

    def _pin(self, database: Database) -> apsw.Connection:
        """The open transaction's connection for ``database``: the write connection once it
        wrote there, else a pooled connection holding its read snapshot."""
        txn = self.txn
        assert txn is not None
        space = self._temp.space(database) if self._temp.spaces else None
        if space is not None and database.name not in txn.branches:
            return self._temp.pin(space, txn)  # its temporary tables are read there
        conn = self._txn_connection(database)
        if conn is None:
            conn = self._checkout(database)
            begin_reading(conn, txn.savepoints)
            txn.reads[database.name] = conn
        return conn

    def _end(self, commit: bool) -> Pending | None:
        """COMMIT or ROLLBACK the open transaction (if any): read snapshots are given back at
        once; a commit that must wait for its batch returns the Pending of it."""
        txn, self.txn = self.txn, None
        if txn is None:
            return None
        for name, conn in txn.reads.items():
            if not self._temp.release(name, conn, commit):
                self._checkin(self.server.databases.get(name) if name != self.server.scratch.name
                              else self.server.scratch, conn)
        txn.reads.clear()
        try:
            if not commit:
                txn.rollback()
                return None
            self.server.status["Com_commit"] += 1
            outcome = txn.commit(None, self.write_level)
            return outcome if isinstance(outcome, Pending) else None
        finally:  # the commit's write set was checked against it (or there is none)
            if txn.read_views:
                views, txn.read_views = txn.read_views, {}
                for view in views.values():
                    view.give_back()


    def _load_data(self, text: str, head: tuple[str, ...]) -> LocalInfile:
        """LOAD DATA (sql/load_data/statement.py): checked here, before the client sends its
        file."""
        spec = parse_load_data(text)
        if not spec.local:
            raise errors.error(ER_OPTION_PREVENTS_STATEMENT, "The MySQL server is running with "
                               "the --secure-file-priv option so it cannot execute this "
                               "statement")
        if not (self.local_files_flag and self.variables.get("local_infile")):
            raise errors.error(ER_CLIENT_LOCAL_FILES_DISABLED, "Loading local data is "
                               "disabled; this must be enabled on both the client and server "
                               "sides")
        database = self._database(spec.database) if spec.database else self._current()
        if database is self.server.scratch:
            raise self._no_database()
        self._require(database.name, "INSERT", (spec.table,))
        table = table_definitions(self._schema_view(database))(spec.table)
        if table is None:
            raise errors.error(errors.ER_NO_SUCH_TABLE,
                               f"Table '{database.name}.{spec.table}' doesn't exist")
        loader = Loader(spec, [c.name for c in table.columns],
                        wrap_transaction=self.txn is None and self.autocommit,
                        backslash_escapes=self.variables.backslash_escapes,
                        record_bytes_max=int(self.variables.get("max_allowed_packet")))  # type: ignore[call-overload]
        return LocalInfile(spec.filename, loader)


# Statements the session answers itself, by first word (None from a handler: not its own).
_Handler = Callable[[Session, str, tuple[str, ...]], "Result | Pending | None"]
_HANDLERS: dict[str, _Handler] = {
    "BEGIN": Session._begin, "START": Session._begin, "COMMIT": Session._finish,
    "ROLLBACK": Session._rollback_statement, "SAVEPOINT": Session._savepoint,
    "RELEASE": Session._release, "USE": Session._use, "LOCK": Session._lock_tables,
    "UNLOCK": Session._unlock_tables, "FLUSH": Session._flush, "KILL": Session._kill, "CREATE": Session._create,
    "DROP": Session._drop,
    "EXPLAIN": Session._explain, "DESCRIBE": Session._explain, "DESC": Session._explain,
    "LOAD": Session._load_data,
    "CALL": lambda session, text, head: routine_statements.call(session, text),
}


def _writes_temporary(space: TempSpace, translation: Translation) -> bool:
    """Whether a DML statement writes the session's temporary tables (1235 if it writes a
    base table too: the two are committed on different connections)."""
    written = [table for table in translation.tables if table in space.names]
    if written and len(written) != len(translation.tables):
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'writing temporary and base tables in one statement'")
    return bool(written)


def _temporary_only(space: TempSpace | None, translation: Translation) -> bool:
    """Whether a statement names the session's temporary tables and nothing else."""
    return space is not None and not translation.other_tables and bool(
        translation.home_tables) and set(translation.home_tables) <= space.names


def _visible(space: TempSpace, conn: apsw.Connection, translation: Translation
             ) -> AbstractContextManager[None]:
    """The session's temporary tables a statement names, visible on ``conn`` while it runs."""
    if translation.kind is Kind.DDL:
        return nullcontext()
    return space.copied_to(conn, translation.statements)


def _scope(space: TempSpace | None) -> Any:
    """The description-cache scope of a statement that may see temporary tables."""
    return space.key if space is not None else None


def update_in_order(conn: apsw.Connection, translation: Translation, params: dict[str, Any],
                    before_row: Callable[[], None], prepare_flags: int = 0) -> None:
    """UPDATE … ORDER BY (Translation.row_by_row): the rowids read in MySQL's order first
    (as MySQL sorts before it changes anything), then one row changed at a time, each after
    ``before_row()``."""
    select, update = translation.statements
    rowids = [row[0] for row in conn.execute(select, params, prepare_flags=prepare_flags)]
    bound = dict(params)
    for rowid in rowids:
        before_row()
        bound[ROWID_PARAMETER] = rowid
        conn.execute(update, bound, prepare_flags=prepare_flags)


@contextmanager
def _foreign_key_checks(conn: apsw.Connection, on: bool) -> Iterator[None]:
    """SQLite's foreign key enforcement set to ``on`` for one statement, then back to what the
    connection's batch began with (txn/pipeline.py's ``Mode``). MySQL's foreign_key_checks
    applies to each statement from the moment it is set, also inside a transaction that has
    written; ``PRAGMA foreign_keys`` is a no-op inside a SQLite transaction, but
    ``SQLITE_DBCONFIG_ENABLE_FKEY`` is not (and SQLite's checks of immediate keys finish with
    each statement, so switching between statements leaves nothing pending). Off, as in MySQL,
    nothing is checked and no ON DELETE/UPDATE action runs; switched back on, rows written
    meanwhile are not checked again."""
    before = bool(conn.config(apsw.SQLITE_DBCONFIG_ENABLE_FKEY, -1))
    if before == on:
        yield
        return
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_FKEY, int(on))
    try:
        yield
    finally:
        conn.config(apsw.SQLITE_DBCONFIG_ENABLE_FKEY, int(before))


def _raise(error: BaseException) -> Any:
    raise error


def _undone_on_failure(outcome: Any, txn: Transaction | None) -> Any:
    """``outcome`` (turns being taken), with ``txn`` rolled back if it fails: an autocommit
    statement that holds one turn and cannot get the next gives the first back."""
    if txn is None:
        return outcome

    def undo(error: BaseException) -> Any:
        if not txn.finished:
            txn.rollback()
        raise error
    return on_failure(outcome, undo)


def _bindable(value: Any) -> Any:
    """SQLite binds int, float, str, bytes and NULL; DECIMAL parameters travel as exact text,
    and so do unsigned BIGINTs from 2^63 (sql/types/uint64.py's in-flight form)."""
    if isinstance(value, Decimal) or (type(value) is int and value >= 1 << 63):
        return str(value)
    return value


def _inline_params(sql: str, values: list[Any]) -> str:
    """Substitute '?' markers of a passthrough prepared statement (SET, SHOW ...) with literals."""
    if not values:
        return sql
    parts = sql.split("?")
    if len(parts) != len(values) + 1:
        raise errors.error(errors.ER_WRONG_ARGUMENTS, "Incorrect arguments to mysqld_stmt_execute")
    out = [parts[0]]
    for value, tail in zip(values, parts[1:]):
        out.append(_literal(value))
        out.append(tail)
    return "".join(out)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def _guard_notes(target: DdlTarget | None, view: Any, database: str
                 ) -> list[tuple[str, int, str]]:
    """MySQL's Notes for what ``IF [NOT] EXISTS`` skipped: DROP TABLE IF EXISTS of a missing
    table (1051), CREATE TABLE IF NOT EXISTS of an existing one (1050); clients read them
    (mysqlclient's warning_count, migration tools)."""
    if target is None or not target.guarded or target.kind != "TABLE":
        return []
    if target.verb == "DROP":
        return [("Note", errors.ER_BAD_TABLE_ERROR, f"Unknown table '{db or database}.{name}'")
                for db, name in target.tables if view.table_sql(name) is None]
    if target.verb == "CREATE" and view.table_sql(target.name[1]) is not None:
        return [("Note", errors.ER_TABLE_EXISTS_ERROR,
                 f"Table '{target.name[1]}' already exists")]
    return []


def _diagnostic(head: tuple[str, ...] | list[str], text: str) -> bool:
    """SHOW WARNINGS / ERRORS / COUNT(*) …, GET DIAGNOSTICS and reads of @@warning_count /
    @@error_count: the statements that read the last statement's warnings, not clear them."""
    if head and head[0] == "SHOW" and len(head) > 1 and head[1] in ("WARNINGS", "ERRORS",
                                                                   "COUNT"):
        return True
    if head and head[0] == "GET":
        return True
    if "@" not in text:  # (a one-character scan is memchr speed; upper() copies the text)
        return False
    upper = text.upper()
    return "@@WARNING_COUNT" in upper or "@@ERROR_COUNT" in upper or \
        "@@SESSION.WARNING_COUNT" in upper
