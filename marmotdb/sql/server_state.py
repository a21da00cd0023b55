"""Node-wide state the sessions share: databases, users, connections' bindings, counters.

The clock is passed in (a callable returning epoch seconds as float): the core never reads
the real clock itself.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from marmotdb import errors
from marmotdb.accounts.store import ACCOUNTS_DATABASE
from marmotdb.ddl import database_records, lease
from marmotdb.hlc import HLC
from marmotdb.mysql.connection import ProtocolSettings
from marmotdb.mysql.types import Column, ColumnFlag
from marmotdb.sql import schema, translate
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.functions.context import sql_mode_of
from marmotdb.sql.functions.store import register_schema_functions
from marmotdb.sql.types import coltypes
from marmotdb.sql.binding import ConnectionBinding
from marmotdb.sql.foreign_keys_across import ChildKey, ForeignKeysAcross, UnfinishedKeys
from marmotdb.sql.key_readers import KeyReaderPool, open_reader
from marmotdb.sql.results import RowSink, Rows, column_for_value
from marmotdb.sql.schema import CreationCharsets, TableDef
from marmotdb.sql.variables.scopes import GlobalVariables
from marmotdb.storage.databases import Database, Databases, configure
from marmotdb.storage.internal_tables import ensure_internal_tables
from marmotdb.storage import reemit
from marmotdb.txn import auto_increment
from marmotdb.txn.branch_redo import redo_pending_branches
from marmotdb.txn.reemit import Reemits
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.pipeline import (
    BATCH_TXNS_MAX,
    CommitPipeline,
    Host,
    InlineHost,
    Mode,
    Replicator,
)
from marmotdb.users import User, Users

if TYPE_CHECKING:
    from marmotdb.sql.session import Session

SCRATCH = "__scratch__"
_COLUMN_CACHE_MAX = 4096
# A result set a worker streams goes to the client in batches of about this many bytes.
RESULT_BATCH_BYTES = 256 << 10
# An in-loop read whose rows pass this size is handed to a worker, which streams it.
IN_LOOP_RESULT_BYTES_MAX = 1 << 20
_UNMEASURED_ROWS = 64  # a result this short is taken whole (a point select pays nothing)
_MEASURED_CHUNK_ROWS = 256
_SIZED = (str, bytes)


class ResultTooLarge(Exception):
    """An in-loop read's rows passed ``IN_LOOP_RESULT_BYTES_MAX``."""


def _row_bytes(row: tuple[Any, ...]) -> int:
    """About what a row costs to hold: text and blobs by length, anything else 8 bytes."""
    return sum(len(v) if type(v) in _SIZED else 8 for v in row)


def _fetched(cursor: apsw.Cursor, bytes_max: int) -> list[tuple[Any, ...]]:
    """All rows, but ``ResultTooLarge`` as soon as they pass ``bytes_max``."""
    rows = list(islice(cursor, _UNMEASURED_ROWS))
    if len(rows) < _UNMEASURED_ROWS:
        return rows
    size = sum(map(_row_bytes, rows))
    while size <= bytes_max:
        chunk = list(islice(cursor, _MEASURED_CHUNK_ROWS))
        rows.extend(chunk)
        size += sum(map(_row_bytes, chunk))
        if len(chunk) < _MEASURED_CHUNK_ROWS:
            if size <= bytes_max:
                return rows
            break
    raise ResultTooLarge(f"more than {bytes_max} bytes of rows")


class SchemaView:
    """What the translator may ask about the current database (sql.translate.SchemaView).

    Its look-ups read SQLite's catalog and ``__marmot_schema``, which user statements may not:
    they run with the connection's binding marked trusted. ``schema``: the SQLite schema whose
    tables it sees (``temp``: a session's temporary tables, sql/temporary.py)."""

    __slots__ = ("conn", "database", "foreign_key_checks", "creation_charsets",
                 "timestamps_local", "_key",
                 "_binding", "_schema", "_across")

    def __init__(self, conn: apsw.Connection, database: Database, binding: ConnectionBinding,
                 writer: bool = False, schema: str = "main", across: ServerState | None = None):
        self.conn = conn
        self._across = across  # the other databases (FOREIGN KEYs across them)
        self._schema = schema
        self.foreign_key_checks = True  # the session's variable (set by Session._schema_view)
        self.creation_charsets: CreationCharsets | None = None  # the session's (likewise)
        self.timestamps_local = False  # the session's time zone is not UTC (likewise)
        self._binding = binding
        self.database = "" if database.name == SCRATCH else database.name
        # A new Database object per (re)creation, and a generation bumped by every DDL.
        # A new Database object per (re)creation, a generation bumped by every DDL (when it
        # runs and again when its batch commits), and which side it reads: the write
        # connection sees DDL of the open batch that pooled connections do not see yet.
        self._key = (database.name, id(database), database.schema_generation, writer)

    def schema_key(self) -> tuple[str, int, int, bool]:
        return self._key

    def _trusted(self, read: Callable[[], Any]) -> Any:
        with self._binding.trusted_scope():
            return read()

    def table_sql(self, table: str) -> str | None:
        found = self._trusted(lambda: self.conn.execute(
            f"SELECT sql FROM {self._schema}.sqlite_schema WHERE type IN ('table','view') "
            "AND name = ? COLLATE NOCASE", (table,)).fetchall())
        return found[0][0] if found else None

    def foreign_key_owner(self, name: str) -> str | None:
        return self._trusted(lambda: schema.foreign_key_owner(self.conn, name))

    def sqlite_index_taken(self, name: str, table: str) -> bool:
        return bool(self._trusted(lambda: schema.sqlite_index_taken(self.conn, name, table,
                                                                      self._schema)))

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        found = self._trusted(lambda: [(row[1], row[2]) for row in self.conn.execute(
            "SELECT * FROM pragma_table_info(?, ?)", (table, self._schema))])
        return found or None

    def mysql_ddl(self, table: str) -> str | None:
        return self._trusted(lambda: schema.mysql_ddl(self.conn, table))

    def table_meta(self, table: str) -> dict[str, Any] | None:
        return self._trusted(lambda: schema.table_meta(self.conn, table))

    def database_charset(self) -> tuple[str, str]:
        return self._trusted(lambda: schema.database_charset(self.conn))

    def sqlite_triggers(self, table: str) -> list[str]:
        return self._trusted(lambda: [row[0] for row in self.conn.execute(
            f"SELECT sql FROM {self._schema}.sqlite_schema WHERE type = 'trigger' AND "
            "tbl_name = ? COLLATE NOCASE", (table,))])

    def child_tables(self, table: str) -> list[str]:
        return self._trusted(lambda: schema.child_tables(self.conn, table))

    def other_table_def(self, database: str, table: str) -> TableDef | None:
        """Another database's table (a FOREIGN KEY's parent or child there)."""
        return None if self._across is None else self._across.other_table_def(database, table)

    def children_elsewhere(self, table: str) -> list[ChildKey]:
        """(database, table, key) of the FOREIGN KEYs of other databases' tables to ``table``."""
        if self._across is None or not self.database:
            return []
        return [c for c in self._across.keys_across().of_parent(self.database, table)
                if c[0].lower() != self.database.lower()]


class ServerState:
    """Shared by every session of one node."""

    def __init__(self, data_dir: Path, *, clock: Callable[[], float], version: str,
                 users: Users, rng: random.Random | None = None, durability: str = "normal",
                 cache_size_mb: int = 64, busy_timeout_ms: int = 5000,
                 global_defaults: dict[str, Any] | None = None, node_id: int = 1,
                 host: Host | None = None, batch_txns_max: int = BATCH_TXNS_MAX,
                 fault: Callable[..., None] | None = None,
                 wal_sync: Callable[[str], None] | None = None,
                 translation_cache_entries_max: int | None = None,
                 auto_increment_block_size: int = auto_increment.BLOCK_SIZE_DEFAULT,
                 ddl_lock_lease_ms: int = lease.LEASE_MS_DEFAULT,
                 ddl_implicit_commit: bool = True):
        if translation_cache_entries_max is not None:  # config sql.statement_cache_size
            translate.cache().resize(translation_cache_entries_max)  # one cache per process
        self.clock = clock
        self.node_id = node_id
        self.hlc = HLC(node_id, lambda: int(clock() * 1000))
        self.host: Host = host or InlineHost()
        self.batch_txns_max = batch_txns_max
        # the simulator's crash points (txn.pipeline.FAULT_POINTS): fault(point, database=)
        self.fault = fault
        self.wal_sync = wal_sync  # the simulator's model of fdatasync (None: the real one)
        self.pipelines: dict[str, CommitPipeline] = {}
        # the distributed commit (txn.cluster.ClusterCommit) once the node joins a cluster
        self.replicator: Replicator | None = None
        self.origin_seq_floor: Callable[[str], int] = lambda database: 0
        self.read_barrier: Any = None  # replication.read_barrier.ReadBarrier in a cluster
        # AUTO_INCREMENT ranges per database, used once a cluster is attached (txn/DESIGN §9)
        self.auto_increment_ranges: dict[str, auto_increment.Ranges] = {}
        self.auto_increment_block_size = auto_increment_block_size  # cluster.* setting
        # MARMOT_CLUSTER_NODES' replication columns per node id (catch-up's view in a cluster)
        self.replication_view: Callable[[int], tuple[Any, ...]] = \
            lambda node_id: (None, 0, 0, False, "", None, None)
        self.catching_up: Callable[[], bool] = lambda: False  # LOCAL reads wait meanwhile
        self.durability = durability
        self.rng = rng or random.Random(0)  # RAND(), UUID(); the runtime passes SystemRandom
        self.version = version
        # This node's view: the config accounts, and the stored ones read from its own store
        # (sims share one Users between nodes, so each node gets its own copy).
        self.users = users.reading(self._accounts_reader)
        self._accounts_absent = False  # no store file at the first look: only dicts after
        self._accounts_store: tuple[apsw.Connection, ConnectionBinding, Database] | None = None
        self.sessions: dict[int, Session] = {}
        self.status: Counter[str] = Counter()
        # long DDLs on a writer thread, by database: each one's stop, called when a peer's
        # write of its database is prepared here meanwhile (peer_write_prepared)
        self.long_ddls: dict[str, Callable[[], None]] = {}
        self.global_variables = GlobalVariables(global_defaults or {})
        # protocol_settings() for (global_variables.generation, base)
        self._protocol_settings: tuple[int, ProtocolSettings, ProtocolSettings] | None = None
        self._listener_cache: tuple[int, tuple[int, int]] = (-1, (0, 0))  # _listener_ints()
        # Pooled connections close when their database is dropped: weak keys forget them.
        self._bindings: weakref.WeakKeyDictionary[apsw.Connection, ConnectionBinding] = \
            weakref.WeakKeyDictionary()
        self._columns: dict[tuple[Any, ...], list[Column]] = {}
        # (database file, statement[, scope]) -> SQLite's description; cleared by every DDL
        self._descriptions: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._meta: dict[str, apsw.Connection] = {}
        # bumped by every schema change of any database here (and a database dropped): keys
        # the index of FOREIGN KEYs across databases
        self.schema_epoch = 0
        self._keys_across = ForeignKeysAcross(lambda: self.databases.names(), self.lend)
        self.keys_unfinished = UnfinishedKeys()  # what their checks hold until a txn ends
        self.closing = False  # close() began: no pipeline opens any more
        self.host_runs_writes = False  # a host with writer threads takes long writes (§9)
        self.kill_hook: Callable[[int, bool], None] | None = None
        self.started_at = clock()
        # Rows of MARMOT_CLUSTER_NODES; the cluster runtime replaces this with the member list.
        self.cluster_nodes: Callable[[], list[tuple[Any, ...]]] = lambda: []
        setup = configure(durability, cache_size_mb, busy_timeout_ms, self._bind)
        self.databases = Databases(data_dir, setup, on_open=self._open_database)
        self.scratch = Database(SCRATCH, Path(":memory:"), self._bind, pool_max=64)
        # a long write's FOREIGN KEY checks read other databases on connections of their own
        self.key_readers = KeyReaderPool(self.databases.directory, lambda path: open_reader(
            path, busy_timeout_ms, version))
        # DDL in an open transaction: commit it first (MySQL) or refuse 1179 (sql.* setting)
        self.ddl_implicit_commit = ddl_implicit_commit
        # the per-database cluster DDL locks (marmotdb/ddl/), rows of __marmot_system
        self.ddl_locks = lease.DdlLocks(
            node_id=node_id, pipeline=lambda: self.pipeline(self.accounts_database()),
            reader=self._accounts_reader, host=self.host,
            now_ms=lambda: int(self.clock() * 1000),
            clustered=lambda: self.replicator is not None,
            token=lambda: self.hlc.now().pack(), rng=self.rng, lease_ms=ddl_lock_lease_ms,
            schema_version=self._schema_version_of,
            can_gather=lambda level: self.replicator is None or
            self.replicator.can_gather(level))
        # CREATE/DROP DATABASE cluster-wide: rows of __marmot_system (ddl/database_records.py)
        self.database_records = database_records.DatabaseRecords(
            pipeline=lambda: self.pipeline(self.accounts_database()),
            reader=self._accounts_reader, host=self.host,
            clustered=lambda: self.replicator is not None, rng=self.rng,
            exists=self.databases.exists,
            create=lambda name: self.databases.create(name, if_not_exists=True),
            drop=self.drop_database_here)
        # a two-database transaction's branches a crash left unfinished (txn/DESIGN.md §10.2
        # step 4): before any pipeline opens and before the runtime accepts clients
        self.status["Marmot_branches_redone"] = redo_pending_branches(self.databases.names(),
                                                                      self.lend)
        # rows to ship again after a peer's DDL this node's late writes raced (ddl/DESIGN.md
        # §11): looked at after each DDL applied here and, in a cluster, at start
        self.reemits = Reemits(node_id=node_id, pipeline=self._pipeline_of, obliged=self._obliged,
                               defer=self.host.defer, call_later=self.host.call_later,
                               barrier=lambda name: None if self.read_barrier is None
                               else self.read_barrier.wait(name),
                               active=lambda: self.replicator is not None, status=self.status)

    # ------------------------------------------------------------------ the listener's limits
    # Read by the runtime when it accepts a connection, so that SET GLOBAL applies to the
    # connections accepted afterwards (MySQL's rule); the config only sets the start values.
    def protocol_settings(self, base: ProtocolSettings) -> ProtocolSettings:
        """``base`` with the @@global max_allowed_packet, max_prepared_stmt_count and
        require_secure_transport in force now (derived again only after a SET GLOBAL: every
        connect asks)."""
        generation = self.global_variables.generation
        cached = self._protocol_settings
        if cached is not None and cached[0] == generation and cached[1] is base:
            return cached[2]
        settings = dataclasses.replace(
            base, max_allowed_packet_bytes=self._global_int("max_allowed_packet"),
            max_prepared_stmt_count=self._global_int("max_prepared_stmt_count"),
            require_secure_transport=bool(self._global_int("require_secure_transport")))
        self._protocol_settings = (generation, base, settings)
        return settings

    @property
    def connect_timeout_s(self) -> float:
        """@@global.connect_timeout: a client must finish its login within this."""
        return float(self._listener_ints()[0])

    def admits_connection(self, connections_open: int) -> bool:
        """May one more connection be accepted (before login)? ``max_connections`` plus the
        one MySQL keeps for an administrator (checked by ``admits_login``)."""
        return connections_open < self._max_connections + 1

    def within_max_connections(self, connections_open: int) -> bool:
        """``connections_open`` counts this one: any account may log in (``admits_login``
        needs to be asked only past it)."""
        return connections_open <= self._max_connections

    def admits_login(self, connections_open: int, user: User) -> bool:
        """``connections_open`` counts this one: past ``max_connections`` only an
        administrator (MySQL: CONNECTION_ADMIN or SUPER) gets the reserved slot."""
        return connections_open <= self._max_connections or user.can(None, "admin")

    @property
    def _max_connections(self) -> int:
        return self._listener_ints()[1]

    def _listener_ints(self) -> tuple[int, int]:
        """(connect_timeout, max_connections), read again only after a SET GLOBAL."""
        generation = self.global_variables.generation
        cached = self._listener_cache
        if cached[0] != generation:
            cached = self._listener_cache = (generation, (
                self._global_int("connect_timeout"), self._global_int("max_connections")))
        return cached[1]

    def _global_int(self, name: str) -> int:
        return int(self.global_variables.get(name))  # type: ignore[call-overload]

    # ------------------------------------------------------------------ connections
    def _bind(self, conn: apsw.Connection) -> None:
        binding = ConnectionBinding(self.version)
        binding.replay_counts = self.status
        register_schema_functions(conn)
        functions.register_functions(conn, binding)
        binding.install(conn)
        self._bindings[conn] = binding

    def _open_database(self, database: Database) -> None:
        conn = database.checkout()
        try:
            with self._bindings[conn].trusted_scope():
                schema.ensure_schema_table(conn)
                ensure_internal_tables(conn)
        finally:
            database.checkin(conn)

    def pipeline(self, database: Database) -> CommitPipeline:
        """The database's commit pipeline, which owns its one write connection."""
        pipeline = self.pipelines.get(database.name)
        if pipeline is None or pipeline.closed:
            if self.closing:  # a callback run by the shutdown itself (a DDL lock's release)
                raise errors.error(errors.ER_SERVER_SHUTDOWN, "Server shutdown in progress")
            conn = database.checkout()
            pipeline = CommitPipeline(database.name, conn, hlc=self.hlc, host=self.host,
                                      batch_txns_max=self.batch_txns_max,
                                      fault=None if self.fault is None else functools.partial(
                                          self.fault, database=database.name),
                                      trusted=self._bindings[conn].trusted_scope,
                                      sync_wal=self.durability == "fsync",
                                      wal_sync=self.wal_sync,
                                      checkpoint_connection=lambda: self._checkpoint_conn(
                                          database),
                                      replicator=self.replicator,
                                      origin_seq_floor=self.origin_seq_floor(database.name))
            self.pipelines[database.name] = pipeline
            self._attach_ranges(database, pipeline)
        return pipeline

    def _attach_ranges(self, database: Database, pipeline: CommitPipeline) -> None:
        """The database's AUTO_INCREMENT ranges, handed out on its write connection (a new
        pipeline after DROP DATABASE starts with none: its claims went with the file)."""
        def current() -> CommitPipeline:
            return self.pipeline(database)
        ranges = auto_increment.Ranges(current, node_id=self.node_id, host=self.host,
                                       clustered=lambda: self.replicator is not None,
                                       rng=self.rng, block_size=self.auto_increment_block_size)
        self.auto_increment_ranges[database.name] = ranges
        binding = self._bindings[pipeline.conn]
        auto_increment.register(pipeline.conn, lambda: sql_mode_of(binding), ranges,
                                binding.trusted_scope)

    def ranges(self, database: Database) -> auto_increment.Ranges | None:
        """The database's AUTO_INCREMENT ranges when ids come from claims (a cluster is
        attached), else None (SQLite numbers rows)."""
        if self.replicator is None:
            return None
        self.pipeline(database)
        return self.auto_increment_ranges.get(database.name)

    def _checkpoint_conn(self, database: Database) -> apsw.Connection:
        """A connection of the database's own for its checkpoints (used on a worker)."""
        conn = apsw.Connection(str(database.path))
        conn.set_busy_timeout(0)  # PASSIVE: take what is free, never wait
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # open the WAL: a fresh
        return conn  # connection's wal_checkpoint does nothing before its first statement

    def close_pipeline(self, name: str) -> None:
        """Before a database is dropped: its batch is committed and its connection closed."""
        pipeline = self.pipelines.pop(name, None)
        if pipeline is not None:
            pipeline.flush_now()
            pipeline.close()
            self.auto_increment_ranges.pop(name, None)
            database = self.databases.get(name)
            database.open_count -= 1

    def drop_database_here(self, name: str, owner: int,
                           timeout_s: Callable[[], float] = lambda: 50.0) -> Pending | None:
        """Drop a database's file here once ``owner`` has its write turn (the open batch
        committed, transactions before it finished): CREATE/DROP DATABASE's local half."""
        if not self.databases.exists(name):
            return None
        pipeline = self.pipeline(self.databases.get(name))
        turn = pipeline.acquire(owner, Mode(), spans_round_trips=True, timeout_s=timeout_s)

        def drop(_: Any) -> bool:
            if not self.databases.exists(name):
                return False
            self.forget(name.lower())
            self.close_pipeline(name.lower())
            self.schema_epoch += 1
            return self.databases.drop(name, if_exists=True)
        return chain(turn, drop)

    def private_connection(self) -> apsw.Connection:
        """A fresh in-memory connection with MySQL functions and the authorizer."""
        conn = apsw.Connection(":memory:")
        self._bind(conn)
        return conn

    def session_connection(self, database: Database) -> apsw.Connection:
        """A connection of one session's own to a database's file, outside its pool (the
        session's temporary tables live in its TEMP schema: sql/temporary.py). Its binding
        lets user statements write the TEMP schema only; its owner closes it."""
        conn = apsw.Connection(str(database.path))
        database.setup(conn)
        self._bindings[conn].writable_schema = "temp"
        return conn

    def binding(self, conn: apsw.Connection) -> ConnectionBinding:
        return self._bindings[conn]

    def accounts_database(self) -> Database:
        """The hidden database holding accounts and grants (created at first use; a node
        that receives a write set of it creates it the same way)."""
        self.databases.create(ACCOUNTS_DATABASE, if_not_exists=True)
        return self.databases.get(ACCOUNTS_DATABASE)

    def _schema_version_of(self, name: str, committed: bool) -> int | None:
        """A database's schema version (DDL count) here: committed (its look-up connection),
        or as its write connection has it (None: no pipeline yet, or no such database)."""
        if not committed:
            pipeline = self.pipelines.get(name)
            return pipeline.schema_version if pipeline is not None else None
        if not self.databases.exists(name):
            return None
        conn = self.read_connection(self.databases.get(name))
        with self.binding(conn).trusted_scope():
            return int(conn.execute("PRAGMA user_version").fetchall()[0][0])

    def _accounts_reader(self) -> tuple[apsw.Connection, ConnectionBinding, object] | None:
        """The store's look-up connection, its binding (for a trusted read) and a token that
        changes whenever the store may have: every write to it, local or applied from another
        node, goes through its pipeline's one write connection (whose change counter moves),
        and a snapshot restore bumps its schema generation. The token is None while that
        connection holds an open transaction (nothing committed yet: keep what you have).
        None altogether until an account was written (here, or by a write set from another
        node): no file for a node without accounts. Asked once per statement: a few dict
        look-ups, no SQL (PRAGMA data_version on a WAL file costs ~5 µs)."""
        found = self._accounts_store
        if found is None or self._meta.get(ACCOUNTS_DATABASE) is not found[0]:
            database = self.databases.opened(ACCOUNTS_DATABASE)
            if database is None:
                if self._accounts_absent or not self.databases.exists(ACCOUNTS_DATABASE):
                    self._accounts_absent = True  # until a write set or a statement makes it
                    return None
                database = self.databases.get(ACCOUNTS_DATABASE)
            conn = self.read_connection(database)
            found = self._accounts_store = conn, self._bindings[conn], database
        conn, binding, database = found
        pipeline = self.pipelines.get(ACCOUNTS_DATABASE)
        writer = pipeline.conn if pipeline is not None else None
        if writer is not None and writer.in_transaction:
            return conn, binding, None
        changes = writer.total_changes() if writer is not None else 0
        return conn, binding, (id(writer), changes, database.schema_generation)

    def read_connection(self, database: Database) -> apsw.Connection:
        """A long-lived connection per database for catalog and schema look-ups. It runs users'
        reads too (INFORMATION_SCHEMA, prepared-statement descriptions), so it has no trust of
        its own: internal look-ups enter ``trusted_scope()``."""
        conn = self._meta.get(database.name)
        if conn is None:
            conn = database.checkout()
            self._meta[database.name] = conn
        return conn

    def forget(self, name: str) -> None:
        """Give back the look-up connection of a database (before it is dropped)."""
        conn = self._meta.pop(name, None)
        if conn is not None:
            self.databases.get(name).checkin(conn)

    def schema_view(self, conn: apsw.Connection, database: Database) -> SchemaView:
        pipeline = self.pipelines.get(database.name)
        writer = pipeline is not None and pipeline.conn is conn
        return SchemaView(conn, database, self._bindings[conn], writer, across=self)

    # ------------------------------------------------------------------ other databases
    def keys_across(self) -> ForeignKeysAcross:
        """The FOREIGN KEYs between databases of this node, as of the last schema change."""
        return self._keys_across.current(self.schema_epoch)

    def lend(self, name: str) -> tuple[apsw.Connection, Callable[[], None]] | None:
        """A pooled connection to read database ``name`` with the server's trust (catalog and
        FOREIGN KEY look-ups), and how to give it back; None if there is no such database."""
        if not self.databases.exists(name):
            return None
        database = self.databases.get(name)
        conn = database.checkout()
        scope = self._bindings[conn].trusted_scope()
        scope.__enter__()

        def give_back() -> None:
            scope.__exit__(None, None, None)
            database.checkin(conn)
        return conn, give_back

    def other_table_def(self, name: str, table: str) -> TableDef | None:
        """The stored MySQL definition of ``table`` in database ``name`` (committed)."""
        lent = self.lend(name)
        if lent is None:
            return None
        conn, give_back = lent
        try:
            return schema.table_def(conn, table)
        finally:
            give_back()

    # ------------------------------------------------------------------ results
    def query(self, conn: apsw.Connection, statement: str, params: Any,
              decltypes: tuple[str | None, ...] = (), scope: Any = None,
              bytes_max: int | None = None) -> Rows:
        """Run a row-returning statement and build its MySQL columns (cached by statement).
        ``decltypes``: the translator's declarations for columns SQLite cannot type.
        ``scope``: set when a name in the statement may mean another table than on the
        database's shared connections (a session's temporary table): the description is
        cached under it, not shared. ``bytes_max``: a result bigger than this raises
        ``ResultTooLarge`` (an in-loop read goes to a worker, which streams it)."""
        key = (conn.filename, statement) if scope is None else (conn.filename, statement, scope)
        cursor = conn.execute(statement, params, prepare_flags=self.binding(conn).prepare_flags)
        try:
            described = self._descriptions.get(key)
            if described is None:
                described = self._described(conn, cursor, statement, decltypes, key)
            rows = cursor.fetchall() if bytes_max is None else _fetched(cursor, bytes_max)
        finally:
            cursor.close()
        return Rows(self._columns_for(described, rows[0] if rows else None), rows)

    def query_batches(self, conn: apsw.Connection, statement: str, params: Any,
                      decltypes: tuple[str | None, ...], scope: Any, sink: RowSink,
                      batch_bytes: int = RESULT_BATCH_BYTES) -> tuple[list[Column], int]:
        """``query`` for a worker: the rows go to ``sink`` in batches of about
        ``batch_bytes`` as they are read (the sink blocks while the client is behind), so a
        result of any size holds about one batch in memory. Returns (columns, row count)."""
        key = (conn.filename, statement) if scope is None else (conn.filename, statement, scope)
        cursor = conn.execute(statement, params, prepare_flags=self.binding(conn).prepare_flags)
        try:
            described = self._descriptions.get(key)
            if described is None:
                described = self._described(conn, cursor, statement, decltypes, key)
            columns: list[Column] | None = None
            count, size, batch = 0, 0, []
            for row in cursor:
                batch.append(row)
                size += _row_bytes(row)
                if size >= batch_bytes:
                    columns = columns or self._columns_for(described, batch[0])
                    sink.send(columns, batch)
                    count, size, batch = count + len(batch), 0, []
            if columns is None or batch:
                columns = columns or self._columns_for(described, batch[0] if batch else None)
                sink.send(columns, batch)
                count += len(batch)
        finally:
            cursor.close()
        return columns, count

    def _described(self, conn: apsw.Connection, cursor: apsw.Cursor, statement: str,
                   decltypes: tuple[str | None, ...], key: tuple[Any, ...]) -> tuple[Any, ...]:
        try:  # after the first step, so a statement a DDL made stale is already re-prepared
            full = cursor.description_full
        except apsw.ExecutionCompleteError:  # no rows: describe it without running it
            full = self._peek(conn, statement, self.binding(conn).prepare_flags)
        description = _typed(self._origins(conn, full), decltypes)
        if len(self._descriptions) >= _COLUMN_CACHE_MAX:
            self._descriptions.clear()
        self._descriptions[key] = description
        return description

    @staticmethod
    def _peek(conn: apsw.Connection, statement: str, prepare_flags: int) -> tuple[Any, ...]:
        """SQLite's description of a statement, taken before it would run (it never runs)."""
        described: list[Any] = []

        def trace(cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
            described.append(cursor.description_full)
            return False

        cursor = conn.cursor()
        cursor.exec_trace = trace
        try:
            cursor.execute(statement, defaultdict(lambda: None), prepare_flags=prepare_flags)
        except apsw.ExecTraceAbort:
            pass
        return described[-1] if described else ()

    def _origins(self, conn: apsw.Connection, full: tuple[Any, ...]) -> tuple[Any, ...]:
        """(name, decltype, table, origin column, flags) per result column: NOT NULL and key
        flags come from the table a column was read from, as MySQL reports them."""
        with self._bindings[conn].trusted_scope():
            tables: dict[str, dict[str, tuple[int, int]]] = {}
            out = []
            for name, decltype, _db, table, origin in full:
                flags = 0
                if table and not table.startswith("__marmot_"):
                    if table not in tables:
                        tables[table] = {row[1]: (row[3], row[5]) for row in conn.execute(
                            "SELECT * FROM pragma_table_info(?)", (table,))}
                    notnull, pk = tables[table].get(origin, (0, 0))
                    flags = (int(ColumnFlag.NOT_NULL) if notnull or pk else 0) | \
                        (int(ColumnFlag.PRI_KEY) if pk else 0)
                    if pk and decltype and decltype.upper() == "INTEGER":
                        decltype, flags = _rowid_alias_type(conn, table, origin, decltype, flags)
                out.append((name, decltype, table or "", origin or "", flags))
            return tuple(out)

    def describe(self, database: Database, statement: str,
                 decltypes: tuple[str | None, ...] = (),
                 conn: apsw.Connection | None = None) -> list[Column]:
        """Columns of a statement without running it (COM_STMT_PREPARE), on ``conn`` or the
        database's look-up connection."""
        conn = conn or self.read_connection(database)
        description = _typed(self._origins(conn, self._peek(
            conn, statement, self.binding(conn).prepare_flags)), decltypes)
        return self._columns_for(description, None)

    def _columns_for(self, description: tuple[Any, ...], first: tuple[Any, ...] | None
                     ) -> list[Column]:
        probe = tuple(type(v) for v in first) if first is not None else None
        key = (description, probe)
        columns = self._columns.get(key)
        if columns is None:
            columns = []
            for i, (name, decl, table, origin, flags) in enumerate(description):
                if decl:
                    column = coltypes.column_for_decltype(name, decl, table, org_name=origin,
                                                          flags=flags)
                else:
                    column = column_for_value(name, first[i] if first is not None else "")
                columns.append(column)
            if len(self._columns) >= _COLUMN_CACHE_MAX:
                self._columns.clear()
            self._columns[key] = columns
        return columns

    # ------------------------------------------------------------------ writes
    def peer_write_prepared(self, database: str) -> None:
        """A peer's write set of ``database`` was prepared here (txn/participant.py). A long
        DDL of that database running here cannot have it in its ``ordered_after``: it would
        be refused for it at its end (ddl/DESIGN.md §11, rule 3), so it stops now and runs
        again once the write is applied ("A write prepared during the rebuild")."""
        stop = self.long_ddls.get(database)
        if stop is not None:
            stop()

    def schema_changed(self, database: Database) -> None:
        database.schema_generation += 1
        self.schema_epoch += 1
        self._columns.clear()
        self._descriptions.clear()
        self.reemits.look(database.name)

    def _pipeline_of(self, name: str) -> CommitPipeline | None:
        """The pipeline of database ``name`` (None: it is gone, or the node is closing)."""
        if self.closing or not self.databases.exists(name):
            return None
        return self.pipeline(self.databases.get(name))

    def _obliged(self, name: str) -> bool:
        """Does database ``name`` hold re-emit obligations (committed; txn/reemit.py)?"""
        lent = self.lend(name)
        if lent is None:
            return False
        conn, give_back = lent
        try:
            return reemit.pending(conn)
        finally:
            give_back()

    def status_values(self) -> dict[str, object]:
        """SHOW STATUS: the counters plus what is derived on demand."""
        values: dict[str, object] = dict(self.status)
        values.update(Marmot_commit_batches=sum(p.batches for p in self.pipelines.values()),
                      Marmot_batched_transactions=sum(
                          p.batched_txns for p in self.pipelines.values()),
                      Marmot_wal_syncs=sum(p.wal_syncs for p in self.pipelines.values()),
                      Marmot_wal_checkpoints=sum(
                          p.checkpoints for p in self.pipelines.values()),
                      Marmot_auto_increment_claims=sum(
                          r.claims for r in self.auto_increment_ranges.values()),
                      Uptime=int(self.clock() - self.started_at),
                      Threads_connected=len(self.sessions), Threads_running=sum(
                          1 for s in self.sessions.values() if s.command != "Sleep"))
        return values

    # ------------------------------------------------------------------ sessions
    def processlist(self, viewer: User) -> list[tuple[Any, ...]]:
        """SHOW PROCESSLIST / INFORMATION_SCHEMA.PROCESSLIST for ``viewer``: every thread with
        the PROCESS privilege (global admin here), else only the viewer's own (MySQL)."""
        now = self.clock()
        every = viewer.has("PROCESS")
        return [(s.connection_id, s.user, s.host, s.current_database, s.command,
                 int(now - s.statement_started) if s.statement_started else 0,
                 "" if s.command == "Sleep" else
                 s.ddl_progress.state if s.ddl_progress is not None else "executing",
                 s.info if s.command != "Sleep" else None)
                for s in sorted(self.sessions.values(), key=lambda s: s.connection_id)
                if every or s.user == viewer.name]

    def kill(self, connection_id: int, query_only: bool) -> None:
        session = self.sessions.get(connection_id)
        if session is None:
            return
        session.interrupt()
        if not query_only:
            session.killed = True
        if self.kill_hook is not None:
            self.kill_hook(connection_id, query_only)

    def close(self) -> None:
        """Shut down: commit what is batched (its clients are answered), close every file."""
        self.closing = True
        for pipeline in list(self.pipelines.values()):
            pipeline.flush_now()  # a failed COMMIT fails its members; nothing half-done
            pipeline.close()
        self.pipelines.clear()
        for name in list(self._meta):
            self._meta.pop(name).close()
        self.databases.close()
        self.scratch.close()
        self.key_readers.close()


def _rowid_alias_type(conn: apsw.Connection, table: str, origin: str, decltype: str,
                      flags: int) -> tuple[str, int]:
    """An AUTO_INCREMENT primary key is SQLite's ``INTEGER`` rowid alias whatever its MySQL
    type: announce the type it was declared with (INT is LONG, not LONGLONG: Django's
    introspection tells AutoField from BigAutoField and SmallAutoField by it)."""
    definition = schema.table_def(conn, table)
    column = definition.column(origin) if definition is not None else None
    if column is None or not column.auto_increment or column.type.family != "int":
        return decltype, flags
    return column.type.sqlite_decltype(), flags | int(ColumnFlag.AUTO_INCREMENT)


def _typed(description: tuple[Any, ...], decltypes: tuple[str | None, ...]
           ) -> tuple[Any, ...]:
    """SQLite's description with the translator's declaration wherever SQLite had none."""
    if not decltypes:
        return description
    return tuple((name, decltypes[i] if not decl and i < len(decltypes) and decltypes[i]
                  else decl, *rest) for i, (name, decl, *rest) in enumerate(description))
