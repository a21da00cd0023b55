"""Property: the commit log of a node reproduces its database, byte for byte.

Random statement mixes run through the product's executor (``Session`` over a ``ServerState``
in a temporary directory, on the default ``InlineHost``): three sessions interleave autocommit
statements and explicit transactions (BEGIN, ``autocommit = 0``), savepoints (SAVEPOINT,
ROLLBACK TO, RELEASE), statements that fail half way (duplicate keys, NOT NULL, foreign keys),
an AFTER INSERT trigger writing another table, ON DELETE CASCADE, REPLACE (also evicting through
a secondary UNIQUE key), INSERT … ON DUPLICATE KEY UPDATE, INSERT … SELECT, multi-row and
multi-table UPDATE/DELETE, TRUNCATE, DDL (CREATE/DROP TABLE, ALTER TABLE ADD/DROP COLUMN,
CREATE INDEX), ``foreign_key_checks`` switches (a connection-mode change between batches), lock
waits that time out (``host.fire_timers()``) and group-commit batches of several sessions.

Then every write set of the node's commit log is applied, through ``storage.apply``, to a fresh
replica that starts empty (the schema itself arrives as DDL write sets), and:

* the replica equals the primary per table (``database_checksums`` with row versions and the
  applied vector), and so do ``__marmot_schema``, SQLite's schema, ``sqlite_sequence`` and the
  schema version;
* every statement stamps a unique ``tag`` into the rows it writes: no tag of a failed statement,
  of a rolled-back savepoint or of a rolled-back transaction appears anywhere in the log; every
  committed transaction's tags are in exactly one log record, and no record mixes two
  transactions;
* the log has exactly one record per committed transaction that changed rows, plus one per DDL
  that succeeded, and none for transactions without changes; origin sequences are 1..n in log
  order and commit timestamps increase;
* row versions agree with the rows: every live row of every table has a live version, every
  live version of an existing table has its row.

The oracle for "changed rows" is the executor's own answer to the client (affected rows > 0),
tracked per session through savepoints, so it is independent of capture.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marmotdb.errors import MarmotError
from marmotdb.sql.results import Ok
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.storage.apply import apply, apply_many
from marmotdb.storage.checksum import database_checksums, table_checksum
from marmotdb.storage.commitlog import LogEntry, applied_vector, iter_log
from marmotdb.storage.internal_tables import ROW_VERSIONS
from marmotdb.storage.schema import is_internal_table, load_table_schema
from marmotdb.storage.versions import encode_key
from marmotdb.storage.writeset import WriteSet, decode_write_set
from marmotdb.txn.pending import Pending
from marmotdb.users import User, Users

DATABASE = "shop"
NODE_ID = 1
SESSIONS = 3
TAG_BASE = 10_000

SCHEMA = [
    "CREATE TABLE parent (id INT PRIMARY KEY, u INT UNIQUE, n INT NOT NULL, tag INT)",
    "CREATE TABLE child (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT NOT NULL, v INT, "
    "tag INT, FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)",
    "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT, tag INT)",
    "CREATE TABLE notes (k INT, tag INT)",  # no primary key: rows keyed by rowid
    "CREATE TRIGGER parent_ai AFTER INSERT ON parent FOR EACH ROW "
    "INSERT INTO audit (parent_id, tag) VALUES (NEW.id, NEW.tag)",
]


def _n(value: int | None) -> str:
    return "NULL" if value is None else str(value)


keys = st.integers(0, 5)
smalls = st.integers(0, 3)
maybe_null = st.one_of(st.none(), smalls, smalls, smalls, smalls, smalls)
slot = st.integers(0, 1)

# (template, parameter strategy). ``{t}`` is the statement's unique tag.
DML = [
    ("INSERT INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t})",
     st.tuples(keys, keys, maybe_null)),
    ("INSERT INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t}), ({}, {}, {}, {t})",
     st.tuples(keys, keys, maybe_null, keys, keys, maybe_null)),
    ("REPLACE INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t})", st.tuples(keys, keys, smalls)),
    ("INSERT INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t}) "
     "ON DUPLICATE KEY UPDATE n = n + 1, tag = {t}", st.tuples(keys, keys, smalls)),
    ("UPDATE parent SET n = n + 1, tag = {t} WHERE id >= {}", st.tuples(keys)),
    ("UPDATE parent SET u = u + 1, tag = {t} WHERE id >= {}", st.tuples(keys)),
    ("UPDATE parent SET n = NULL, tag = {t} WHERE id = {}", st.tuples(keys)),
    ("UPDATE parent SET id = id + 1, tag = {t} WHERE id = {}", st.tuples(keys)),
    ("DELETE FROM parent WHERE id = {}", st.tuples(keys)),
    ("DELETE FROM parent WHERE id >= {}", st.tuples(keys)),
    ("INSERT INTO child (id, parent_id, v, tag) VALUES ({}, {}, {}, {t})",
     st.tuples(keys, keys, smalls)),
    ("INSERT INTO child (parent_id, v, tag) VALUES ({}, {}, {t}), ({}, {}, {t})",
     st.tuples(keys, smalls, keys, smalls)),
    ("INSERT INTO child (parent_id, v, tag) SELECT id, n, {t} FROM parent WHERE id >= {}",
     st.tuples(keys)),
    ("UPDATE child c JOIN parent p ON c.parent_id = p.id SET c.v = c.v + p.n, c.tag = {t} "
     "WHERE p.id >= {}", st.tuples(keys)),
    ("DELETE c FROM child c JOIN parent p ON c.parent_id = p.id WHERE p.n = {}", st.tuples(smalls)),
    ("DELETE FROM child WHERE v <= {}", st.tuples(smalls)),
    ("INSERT INTO notes (k, tag) VALUES ({}, {t}), ({}, {t})", st.tuples(keys, keys)),
    ("UPDATE notes SET tag = {t} WHERE k = {}", st.tuples(keys)),
    ("DELETE FROM notes WHERE k = {}", st.tuples(keys)),
    ("INSERT INTO extra{} (id, tag) VALUES ({}, {t})", st.tuples(slot, keys)),
    ("UPDATE extra{} SET tag = {t} WHERE id <= {}", st.tuples(slot, keys)),
]
DDL = [
    # TRUNCATE only on AUTO_INCREMENT tables: their sqlite_sequence reset is always a schema
    # entry, so a TRUNCATE that succeeded always has its record (the oracle stays exact).
    ("TRUNCATE TABLE child", st.just(())),
    ("TRUNCATE TABLE audit", st.just(())),
    ("CREATE TABLE extra{} (id INT PRIMARY KEY, tag INT)", st.tuples(slot)),
    ("DROP TABLE extra{}", st.tuples(slot)),
    ("ALTER TABLE notes ADD COLUMN c{} INT DEFAULT 7", st.tuples(slot)),
    ("ALTER TABLE notes DROP COLUMN c{}", st.tuples(slot)),
    ("CREATE INDEX ix{} ON parent (n)", st.tuples(slot)),
    # Table rebuilds (a connection-mode change: foreign keys off for the rebuild).
    ("ALTER TABLE parent MODIFY COLUMN n BIGINT NOT NULL", st.just(())),
    ("ALTER TABLE notes MODIFY COLUMN tag BIGINT", st.just(())),
    ("RENAME TABLE extra{} TO extra{}", st.tuples(slot, slot)),
]
CONTROL = [
    ("BEGIN", st.just(())), ("COMMIT", st.just(())), ("ROLLBACK", st.just(())),
    ("SAVEPOINT s{}", st.tuples(slot)), ("ROLLBACK TO SAVEPOINT s{}", st.tuples(slot)),
    ("RELEASE SAVEPOINT s{}", st.tuples(slot)),
    ("SET autocommit = {}", st.tuples(st.integers(0, 1))),
    ("SET foreign_key_checks = {}", st.tuples(st.integers(0, 1))),
]


DDL_HEADS = ("TRUNCATE", "CREATE", "DROP", "ALTER", "RENAME")


def _statement(templates: list[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, tuple]]:
    return st.one_of([st.tuples(st.just(t), params) for t, params in templates])


actions = st.one_of(
    st.tuples(st.just("sql"), st.integers(0, SESSIONS - 1), _statement(DML)),
    st.tuples(st.just("sql"), st.integers(0, SESSIONS - 1), _statement(DML)),
    st.tuples(st.just("sql"), st.integers(0, SESSIONS - 1), _statement(DML)),
    st.tuples(st.just("sql"), st.integers(0, SESSIONS - 1), _statement(CONTROL)),
    st.tuples(st.just("sql"), st.integers(0, SESSIONS - 1), _statement(CONTROL)),
    st.tuples(st.just("sql"), st.integers(0, SESSIONS - 1), _statement(DDL)),
    st.tuples(st.just("tick"), st.just(0), st.just(("", ()))),
    # Statements of several sessions arriving in one event-loop iteration (one host callback):
    # their commits share one batch COMMIT (group commit).
    st.tuples(st.just("together"), st.just(0), st.lists(
        st.tuples(st.integers(0, SESSIONS - 1), _statement(DML + CONTROL[:3])),
        min_size=2, max_size=SESSIONS)),
    st.tuples(st.just("together"), st.just(0), st.lists(
        st.tuples(st.integers(0, SESSIONS - 1), _statement(DML + CONTROL[:3])),
        min_size=2, max_size=SESSIONS)),
)


SEED = [
    ("INSERT INTO parent (id, u, n, tag) VALUES (1, 1, 1, {t}), (2, 2, 2, {t}), (3, 3, 3, {t}), "
     "(4, 4, 0, {t})", ()),
    ("INSERT INTO child (id, parent_id, v, tag) VALUES (1, 1, 1, {t}), (2, 2, 2, {t}), "
     "(3, 2, 0, {t}), (4, 4, 3, {t})", ()),
    ("INSERT INTO notes (k, tag) VALUES (1, {t}), (2, {t}), (3, {t})", ()),
]


def _examples(local: int, ci: int) -> int:
    configured = os.environ.get("MARMOT_TXN_PROPERTY_EXAMPLES")
    if configured:
        return int(configured)
    return ci if os.environ.get("CI") else local


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------- the oracle
@dataclass
class Txn:
    """What the client was told about one open transaction of a session."""

    number: int
    events: list[tuple[str, Any]] = field(default_factory=list)  # ("mark", name) | ("change", tag)

    def changed(self) -> bool:
        return any(kind == "change" for kind, _ in self.events)

    def tags(self) -> set[int]:
        return {tag for kind, tag in self.events if kind == "change" and tag is not None}


@dataclass
class Oracle:
    txn_numbers: itertools.count = field(default_factory=lambda: itertools.count(1))
    expected_records: int = 0
    committed_tags: dict[int, int] = field(default_factory=dict)  # tag -> transaction number
    tag_writers: set[int] = field(default_factory=set)  # committed txns that wrote tags
    dead_tags: set[int] = field(default_factory=set)

    def new_txn(self) -> Txn:
        return Txn(next(self.txn_numbers))

    def commit(self, txn: Txn | None) -> None:
        if txn is None or not txn.changed():
            return
        self.expected_records += 1
        for tag in txn.tags():
            self.committed_tags[tag] = txn.number
        if txn.tags():
            self.tag_writers.add(txn.number)

    def rollback(self, txn: Txn | None) -> None:
        if txn is not None:
            self.dead_tags |= txn.tags()


def _mark_index(txn: Txn, name: str) -> int | None:
    for i in range(len(txn.events) - 1, -1, -1):
        if txn.events[i] == ("mark", name):
            return i
    return None


class Client:
    """One session and the oracle's view of it."""

    def __init__(self, session: Session, oracle: Oracle):
        self.session = session
        self.oracle = oracle
        self.txn: Txn | None = None  # mirrors session.in_transaction
        self.waiting: Pending | None = None

    @property
    def blocked(self) -> bool:
        return self.waiting is not None and not self.waiting.done()

    def run(self, sql: str, tag: int | None) -> None:
        was_in_txn = self.session.in_transaction
        try:
            outcome: Any = self.session.execute(sql)
        except MarmotError as exc:
            self._finish(sql, tag, was_in_txn, None, exc)
            return
        if isinstance(outcome, Pending):
            self.waiting = outcome
            outcome.add_done_callback(lambda done: self._resolved(done, sql, tag, was_in_txn))
        else:
            self._finish(sql, tag, was_in_txn, outcome, None)

    def _resolved(self, done: Pending, sql: str, tag: int | None, was_in_txn: bool) -> None:
        try:
            result = done.result()
        except MarmotError as exc:
            self._finish(sql, tag, was_in_txn, None, exc)
            return
        self._finish(sql, tag, was_in_txn, result, None)

    def _finish(self, sql: str, tag: int | None, was_in_txn: bool, result: Any,
                error: MarmotError | None) -> None:
        oracle = self.oracle
        head = sql.split()[0].upper()
        in_txn = self.session.in_transaction
        assert was_in_txn == (self.txn is not None), sql
        ok = error is None
        if head in ("BEGIN", "COMMIT") or (head in ("SET", *DDL_HEADS)
                                          and was_in_txn and not in_txn):
            oracle.commit(self.txn)      # BEGIN, COMMIT, SET autocommit=1, DDL: implicit commit
            self.txn = None
        elif head == "ROLLBACK" and "TO SAVEPOINT" not in sql:
            oracle.rollback(self.txn)
            self.txn = None
        if in_txn and self.txn is None:
            self.txn = oracle.new_txn()  # BEGIN, or the first statement with autocommit = 0
        affected = isinstance(result, Ok) and result.affected_rows > 0
        if head in DDL_HEADS:
            if ok:
                oracle.expected_records += 1  # a DDL is a transaction of its own
        elif head == "SAVEPOINT" and self.txn is not None:
            name = sql.split()[1]
            index = _mark_index(self.txn, name)
            if index is not None:
                del self.txn.events[index]
            self.txn.events.append(("mark", name))
        elif head == "ROLLBACK" and self.txn is not None and ok:
            index = _mark_index(self.txn, sql.split()[-1])
            assert index is not None, sql
            oracle.dead_tags |= {t for kind, t in self.txn.events[index + 1:]
                                 if kind == "change" and t is not None}
            del self.txn.events[index + 1:]
        elif head == "RELEASE" and self.txn is not None and ok:
            index = _mark_index(self.txn, sql.split()[-1])
            assert index is not None, sql
            self.txn.events[index:] = [e for e in self.txn.events[index:] if e[0] == "change"]
        elif head in ("INSERT", "REPLACE", "UPDATE", "DELETE"):
            if not (ok and affected):
                if tag is not None:
                    oracle.dead_tags.add(tag)
            elif self.txn is not None:
                self.txn.events.append(("change", tag))
            else:  # autocommit: a transaction of its own
                oracle.commit(Txn(next(oracle.txn_numbers), [("change", tag)]))
        if not in_txn:
            self.txn = None


# ---------------------------------------------------------------------------- running
USERS = Users([User("root", "x", {"*": "admin"})])


# Temporary directories in memory when the machine has one: the property is about what is
# written, not about the disk, and fsync waits would dominate the run time.
SCRATCH_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _server(path: Path) -> ServerState:
    return ServerState(path, clock=lambda: 1_700_000_000.0, version="8.0.36-test", users=USERS)


def run_workload(path: Path, program: list[tuple[str, int, tuple[str, tuple]]],
                 end_with_commit: list[bool]) -> Oracle:
    server = _server(path)
    oracle = Oracle()
    try:
        setup = Session(server, USERS.get("root"), 100)
        setup.execute(f"CREATE DATABASE {DATABASE}")
        setup.use(DATABASE)
        for ddl in SCHEMA:
            setup.execute(ddl)
            oracle.expected_records += 1
        setup.close()
        clients = []
        for i in range(SESSIONS):
            session = Session(server, USERS.get("root"), i + 1)
            session.use(DATABASE)
            clients.append(Client(session, oracle))
        tags = itertools.count(TAG_BASE)
        for template, params in SEED:  # rows for updates, deletes and cascades to act on
            tag = next(tags)
            clients[0].run(template.format(*params, t=tag), tag)

        def step(client: Client, template: str, params: tuple[Any, ...]) -> None:
            if client.blocked:
                return
            tag = next(tags) if "{t}" in template else None
            client.run(template.format(*(_n(p) for p in params), t=tag), tag)

        for kind, index, payload in program:
            if kind == "tick":
                server.host.fire_timers()  # every lock wait lasted too long: 1205
            elif kind == "together":
                server.host.defer(lambda payload=payload: [
                    step(clients[i], template, params) for i, (template, params) in payload])
            else:
                step(clients[index], *payload)
        for _ in range(2 * SESSIONS + 2):  # end every transaction, then every wait
            for client, commit in zip(clients, end_with_commit):
                if not client.blocked and client.session.in_transaction:
                    client.run("COMMIT" if commit else "ROLLBACK", None)
            if not any(client.blocked or client.session.in_transaction for client in clients):
                break
            server.host.fire_timers()
        assert not any(client.blocked for client in clients)
        assert not any(client.session.in_transaction for client in clients)
        for client in clients:
            client.session.close()
    finally:
        server.close()
    return oracle


def _database_path(data_dir: Path) -> Path:
    return data_dir / "databases" / f"{DATABASE}.db"


def _read_whole_log(conn: apsw.Connection) -> list[LogEntry]:
    return list(iter_log(conn))


def replay(path: Path, entries: list[LogEntry], batch: int) -> None:
    """Apply the primary's log, in order, to a fresh database (created as the product does)."""
    server = _server(path)
    try:
        server.databases.create(DATABASE)
        database = server.databases.get(DATABASE)
        conn = database.checkout()
        try:
            with server.binding(conn).trusted_scope():
                decoded = [(decode_write_set(e.write_set), e.write_set) for e in entries]
                for start in range(0, len(decoded), batch):
                    chunk = decoded[start:start + batch]
                    if batch == 1:
                        outcome = apply(conn, *chunk[0])
                        assert outcome.applied
                    else:
                        assert all(o.applied for o in apply_many(conn, chunk))
        finally:
            database.checkin(conn)
    finally:
        server.close()


# ---------------------------------------------------------------------------- checking
def _tag_columns(write_set: WriteSet) -> dict[str, int]:
    return {t.name: t.columns.index("tag") for t in write_set.tables if "tag" in t.columns}


def _tags(write_set: WriteSet) -> tuple[set[int], set[int]]:
    """Tags in the write set's after images, and in its before images."""
    columns = _tag_columns(write_set)
    after: set[int] = set()
    before: set[int] = set()
    for change in write_set.changes:
        index = columns.get(change.table)
        if index is None:
            continue
        for image, into in ((change.after, after), (change.before, before)):
            if image is not None and isinstance(image[index], int) and image[index] >= TAG_BASE:
                into.add(image[index])
    return after, before


def check_log(entries: list[LogEntry], oracle: Oracle) -> None:
    write_sets = [decode_write_set(e.write_set) for e in entries]
    assert [ws.origin for ws in write_sets] == [NODE_ID] * len(write_sets)
    assert [ws.origin_seq for ws in write_sets] == list(range(1, len(write_sets) + 1))
    assert [e.origin_seq for e in entries] == list(range(1, len(entries) + 1))
    stamps = [ws.commit_ts for ws in write_sets]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(ws.changes or ws.schema_changes for ws in write_sets)  # no empty records
    assert len(entries) == oracle.expected_records
    seen_txns: set[int] = set()
    for ws in write_sets:
        after, before = _tags(ws)
        leaked = (after | before) & oracle.dead_tags
        assert not leaked, f"tags of failed or rolled-back statements in the log: {leaked}"
        unknown = (after | before) - set(oracle.committed_tags)
        assert not unknown, f"tags no committed statement wrote: {unknown}"
        owners = {oracle.committed_tags[tag] for tag in after}
        assert len(owners) <= 1, f"one record holds several transactions: {owners}"
        if owners:
            (owner,) = owners
            assert owner not in seen_txns, f"transaction {owner} has two records"
            seen_txns.add(owner)
            wanted = {tag for tag, number in oracle.committed_tags.items() if number == owner}
            assert wanted == after, f"transaction {owner}: tags {wanted - after} missing"
    assert seen_txns == oracle.tag_writers


def _schema_rows(conn: apsw.Connection) -> list[tuple[Any, ...]]:
    return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema").fetchall(),
                  key=repr)


def snapshot(conn: apsw.Connection) -> dict[str, Any]:
    return {
        "tables": database_checksums(conn, include_internal=True),
        "catalog": table_checksum(conn, "__marmot_schema"),
        "schema": _schema_rows(conn),
        # seq 0 means the same as no row (next id = max(seq, max rowid) + 1). SQLite writes
        # (table, 0) when a statement could insert into an AUTO_INCREMENT table through a
        # trigger that did not fire (an upsert's update path); replicas run without triggers.
        "sequences": sorted(conn.execute(
            "SELECT name, seq FROM sqlite_sequence WHERE seq <> 0").fetchall()),
        "schema_version": conn.execute("PRAGMA user_version").fetchall()[0][0],
        "applied": applied_vector(conn),
    }


def check_versions_match_rows(conn: apsw.Connection, skip: tuple[str, ...] = ("extra",)
                              ) -> None:
    """Every live row has a live version and every live version of a table has its row.

    ``extra*`` tables are skipped in the random mixes: DROP TABLE and RENAME TABLE do not
    carry their row versions along (see the two xfail tests at the end of this file)."""
    tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = "
                                               "'table'")
              if not is_internal_table(name) and not name.startswith(skip)]
    for table in tables:
        schema = load_table_schema(conn, table)
        assert schema is not None
        key = ", ".join(f'"{c}"' for c in schema.key_columns) or "rowid"
        rows = {encode_key(tuple(row)) for row in conn.execute(f'SELECT {key} FROM "{table}"')}
        live = {pk for (pk,) in conn.execute(
            f"SELECT pk FROM {ROW_VERSIONS} WHERE tbl = ? AND deleted = 0", (table,))}
        dead = {pk for (pk,) in conn.execute(
            f"SELECT pk FROM {ROW_VERSIONS} WHERE tbl = ? AND deleted = 1", (table,))}
        assert rows == live, f"{table}: rows without versions or versions without rows"
        assert not rows & dead, f"{table}: a live row holds a tombstone"


def check_program(program, end_with_commit, batch, versions_skip=("extra",)) -> None:
    with tempfile.TemporaryDirectory(prefix="txnproof-", dir=SCRATCH_DIR) as tmp:
        primary_dir, replica_dir = Path(tmp, "primary"), Path(tmp, "replica")
        oracle = run_workload(primary_dir, program, end_with_commit)
        primary = apsw.Connection(str(_database_path(primary_dir)))
        try:
            entries = _read_whole_log(primary)
            check_log(entries, oracle)
            check_versions_match_rows(primary, versions_skip)
            expected = snapshot(primary)
        finally:
            primary.close()
        assert expected["applied"] == ({NODE_ID: len(entries)} if entries else {})
        replay(replica_dir, entries, batch)
        replica = apsw.Connection(str(_database_path(replica_dir)))
        try:
            got = snapshot(replica)
            assert [e.write_set for e in _read_whole_log(replica)] == \
                [e.write_set for e in entries]
        finally:
            replica.close()
        for part in expected:
            assert got[part] == expected[part], part


programs = st.lists(actions, min_size=15, max_size=60)
endings = st.lists(st.booleans(), min_size=SESSIONS, max_size=SESSIONS)
batches = st.sampled_from([1, 1, 3, 50])


# A failure shrinks for up to 5 minutes (hypothesis' own limit): longer than the suite's
# default timeout, which would otherwise hide the falsifying example.
@pytest.mark.timeout(900)
@_settings(_examples(local=200, ci=500))  # the long one below: --run-slow
@given(program=programs, end_with_commit=endings, batch=batches)
def test_property_commit_log_reproduces_the_database(program, end_with_commit, batch):
    check_program(program, end_with_commit, batch)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@_settings(_examples(local=2000, ci=5000))
@given(program=st.lists(actions, min_size=20, max_size=150), end_with_commit=endings,
       batch=batches)
def test_property_commit_log_reproduces_the_database_long(program, end_with_commit, batch):
    check_program(program, end_with_commit, batch)


# Each template once, with values that make it succeed, in an order where each can.
SANITY = [
    ("CREATE TABLE extra{} (id INT PRIMARY KEY, tag INT)", (0,)),
    ("CREATE TABLE extra{} (id INT PRIMARY KEY, tag INT)", (1,)),
    ("INSERT INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t})", (1, 1, 1)),
    ("INSERT INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t}), ({}, {}, {}, {t})",
     (2, 2, 2, 3, 3, 3)),
    ("REPLACE INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t})", (4, 4, 1)),
    ("INSERT INTO parent (id, u, n, tag) VALUES ({}, {}, {}, {t}) "
     "ON DUPLICATE KEY UPDATE n = n + 1, tag = {t}", (4, 4, 1)),
    ("UPDATE parent SET n = n + 1, tag = {t} WHERE id >= {}", (0,)),
    ("UPDATE parent SET u = u + 1, tag = {t} WHERE id >= {}", (4,)),
    ("UPDATE parent SET id = id + 1, tag = {t} WHERE id = {}", (4,)),
    ("UPDATE parent SET n = NULL, tag = {t} WHERE id = {}", (99,)),  # matches nothing
    ("INSERT INTO child (id, parent_id, v, tag) VALUES ({}, {}, {}, {t})", (1, 1, 1)),
    ("INSERT INTO child (parent_id, v, tag) VALUES ({}, {}, {t}), ({}, {}, {t})", (1, 1, 2, 2)),
    ("INSERT INTO child (parent_id, v, tag) SELECT id, n, {t} FROM parent WHERE id >= {}", (2,)),
    ("UPDATE child c JOIN parent p ON c.parent_id = p.id SET c.v = c.v + p.n, c.tag = {t} "
     "WHERE p.id >= {}", (0,)),
    ("DELETE c FROM child c JOIN parent p ON c.parent_id = p.id WHERE p.n = {}", (3,)),
    ("DELETE FROM child WHERE v <= {}", (3,)),
    ("INSERT INTO notes (k, tag) VALUES ({}, {t}), ({}, {t})", (1, 2)),
    ("UPDATE notes SET tag = {t} WHERE k = {}", (1,)),
    ("DELETE FROM notes WHERE k = {}", (2,)),
    ("INSERT INTO extra{} (id, tag) VALUES ({}, {t})", (0, 1)),
    ("UPDATE extra{} SET tag = {t} WHERE id <= {}", (0, 1)),
    ("DELETE FROM parent WHERE id = {}", (1,)),
    ("DELETE FROM parent WHERE id >= {}", (5,)),
    ("TRUNCATE TABLE child", ()),
    ("TRUNCATE TABLE audit", ()),
    ("DROP TABLE extra{}", (1,)),
    ("ALTER TABLE notes ADD COLUMN c{} INT DEFAULT 7", (0,)),
    ("ALTER TABLE notes DROP COLUMN c{}", (0,)),
    ("CREATE INDEX ix{} ON parent (n)", (0,)),
    ("ALTER TABLE parent MODIFY COLUMN n BIGINT NOT NULL", ()),
    ("ALTER TABLE notes MODIFY COLUMN tag BIGINT", ()),
    ("RENAME TABLE extra{} TO extra{}", (0, 1)),
    ("SET autocommit = {}", (0,)),
    ("SET autocommit = {}", (1,)),
    ("BEGIN", ()),
    ("SAVEPOINT s{}", (0,)),
    ("ROLLBACK TO SAVEPOINT s{}", (0,)),
    ("RELEASE SAVEPOINT s{}", (0,)),
    ("COMMIT", ()),
    ("BEGIN", ()),
    ("ROLLBACK", ()),
    ("SET foreign_key_checks = {}", (0,)),
    ("SET foreign_key_checks = {}", (1,)),
]


def test_every_statement_template_can_succeed():
    """The mixes are only as good as their statements: a template that always failed (a typo,
    an unsupported form) would silently test nothing."""
    assert {t for t, _ in SANITY} == {t for t, _ in DML + DDL + CONTROL}
    program = [("sql", 0, (template, values)) for template, values in SANITY]
    failures: list[tuple[str, int]] = []
    with tempfile.TemporaryDirectory(prefix="txnproof-", dir=SCRATCH_DIR) as tmp:
        server = _server(Path(tmp))
        try:
            session = Session(server, USERS.get("root"), 100)
            session.execute(f"CREATE DATABASE {DATABASE}")
            session.use(DATABASE)
            for ddl in SCHEMA:
                session.execute(ddl)
            tags = itertools.count(TAG_BASE)
            for _, _, (template, values) in program:
                sql = template.format(*values, t=next(tags))
                try:
                    outcome = session.execute(sql)
                    if isinstance(outcome, Pending):
                        outcome.result()
                except MarmotError as exc:
                    failures.append((sql, exc.code))
        finally:
            server.close()
    assert not failures
    # and the whole sequence passes the property
    check_program(program, [True] * SESSIONS, 1)


def test_table_rebuild_keeps_the_rowids_of_a_table_without_primary_key():
    """Found by the property: rows of a table without a primary key are keyed by rowid, so a
    rebuild (ALTER … MODIFY COLUMN) that renumbered them left row versions on the wrong rows."""
    program = [("sql", 0, ("DELETE FROM notes WHERE k = {}", (1,))),
               ("sql", 0, ("ALTER TABLE notes MODIFY COLUMN tag BIGINT", ()))]
    check_program(program, [True] * SESSIONS, 1)


EXTRA = "CREATE TABLE extra{} (id INT PRIMARY KEY, tag INT)"
INSERT_EXTRA = "INSERT INTO extra{} (id, tag) VALUES ({}, {t})"


def test_drop_table_takes_its_row_versions_along():
    program = [("sql", 0, (EXTRA, (0,))), ("sql", 0, (INSERT_EXTRA, (0, 1))),
               ("sql", 0, ("DROP TABLE extra{}", (0,))), ("sql", 0, (EXTRA, (0,)))]
    check_program(program, [True] * SESSIONS, 1, versions_skip=())


def test_rename_table_takes_its_row_versions_along():
    program = [("sql", 0, (EXTRA, (0,))), ("sql", 0, (INSERT_EXTRA, (0, 1))),
               ("sql", 0, ("RENAME TABLE extra{} TO extra{}", (0, 1)))]
    check_program(program, [True] * SESSIONS, 1, versions_skip=())
