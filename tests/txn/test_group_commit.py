"""The commit pipeline without sockets: turns, group-commit batches, holding a batch for an
explicit transaction and setting that transaction aside, through real sessions and SQLite."""

from __future__ import annotations

import itertools
import os
import threading

import apsw
import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql import schema
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.binding import ConnectionBinding
from marmotdb.sql.results import Rows
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.storage.apply import apply
from marmotdb.storage.checksum import database_checksums
from marmotdb.storage.commitlog import iter_log
from marmotdb.storage.internal_tables import ensure_internal_tables
from marmotdb.storage.writeset import decode_write_set
from marmotdb.txn import pipeline as pipeline_module
from marmotdb.txn.pending import Pending
from marmotdb.txn.pipeline import InlineHost
from marmotdb.users import User, Users

_ids = itertools.count(1)


@pytest.fixture
def server(tmp_path):
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=Users([User("root", "x", {"*": "admin"})]))
    yield state
    state.close()


def session(server: ServerState) -> Session:
    s = Session(server, server.users.get("root"), next(_ids))
    if "shop" in server.databases.names():
        s.use("shop")
    return s


def rows(result) -> list[tuple]:
    assert isinstance(result, Rows), result
    return [tuple(r) for r in result.rows]


@pytest.fixture
def shop(server):
    s = session(server)
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(10))")
    s.execute("CREATE TABLE child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) "
              "REFERENCES parent (id) ON DELETE CASCADE)")
    s.execute("CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(20))")
    s.execute("CREATE TRIGGER parent_ins AFTER INSERT ON parent FOR EACH ROW "
              "INSERT INTO audit (what) VALUES (NEW.name)")
    return s


def assert_log_reproduces_data(server: ServerState, tmp_path) -> None:
    """Applying the node's commit log to an empty database gives the node's rows and row
    versions, table for table."""
    primary = apsw.Connection(str(server.databases.get("shop").path))
    replica = apsw.Connection(str(tmp_path / "replica.db"))
    functions.register_functions(replica, ConnectionBinding())  # a node's connection setup
    schema.ensure_schema_table(replica)
    ensure_internal_tables(replica)
    for entry in iter_log(primary):
        apply(replica, decode_write_set(entry.write_set), entry.write_set)
    assert database_checksums(replica) == database_checksums(primary)


def test_the_batch_is_committed_before_an_explicit_transaction_takes_the_turn(server, shop,
                                                                              tmp_path):
    a, b, c = session(server), session(server), session(server)
    a.execute("BEGIN")
    a.execute("INSERT INTO parent VALUES (1, 'a')")
    b_write = b.execute("INSERT INTO parent VALUES (2, 'b')")  # autocommit, waits for the turn
    c.execute("BEGIN")
    c_first = c.execute("INSERT INTO parent VALUES (3, 'c')")  # explicit, waits for the turn
    assert not b_write.done() and not c_first.done()
    a_commit = a.execute("COMMIT")  # a and b share a batch; it commits before c may write
    assert not isinstance(a_commit, Pending) and b_write.result().affected_rows == 1
    assert c_first.done() and server.pipelines["shop"].owner == c.connection_id
    assert rows(session(server).execute("SELECT id FROM parent ORDER BY id")) == [(1,), (2,)]
    c.execute("INSERT INTO child VALUES (30, 3)")
    c.execute("SAVEPOINT s1")
    c.execute("DELETE FROM parent WHERE id = 1")
    c.execute("ROLLBACK TO SAVEPOINT s1")
    c.execute("COMMIT")
    check = session(server)
    assert rows(check.execute("SELECT id FROM parent ORDER BY id")) == [(1,), (2,), (3,)]
    assert rows(check.execute("SELECT what FROM audit ORDER BY id")) == [("a",), ("b",), ("c",)]
    pipeline = server.pipelines["shop"]
    assert (pipeline.batches, pipeline.batched_txns) == (6, 7)  # setup: 4 DDL + 1; then 2, 1
    assert_log_reproduces_data(server, tmp_path)


def test_a_failed_batch_commit_fails_every_member_and_nothing_is_half_done(server, shop):
    a, b = session(server), session(server)
    a.execute("BEGIN")
    a.execute("INSERT INTO parent VALUES (1, 'a')")
    b_write = b.execute("INSERT INTO parent VALUES (2, 'b')")
    pipeline = server.pipelines["shop"]

    def broken(point: str) -> None:
        if point == "before_batch_commit":
            raise apsw.IOError("disk I/O error")  # what a failing COMMIT raises
    pipeline._fault = broken
    with pytest.raises(MarmotError):  # the batch failed while a's COMMIT ran
        a.execute("COMMIT")
    assert b_write.done()
    with pytest.raises(MarmotError):
        b_write.result()
    pipeline._fault = None
    assert rows(session(server).execute("SELECT id FROM parent")) == []
    assert session(server).execute("INSERT INTO parent VALUES (3, 'c')").affected_rows == 1


def test_a_second_database_is_a_second_branch_of_the_transaction(server, shop):
    """Once refused with 1235; now both commit together (tests/txn/test_two_databases.py)."""
    shop.execute("CREATE DATABASE other")
    s = session(server)
    s.execute("USE other")
    s.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    s.execute("BEGIN")
    s.execute("USE shop")
    s.execute("INSERT INTO parent VALUES (1, 'a')")
    s.execute("USE other")
    s.execute("INSERT INTO t VALUES (1)")
    s.execute("COMMIT")
    assert rows(session(server).execute("SELECT id FROM parent")) == [(1,)]
    check = session(server)
    check.execute("USE other")
    assert rows(check.execute("SELECT id FROM t")) == [(1,)]


def test_fsync_durability_answers_after_the_wal_sync(tmp_path, monkeypatch):
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=Users([User("root", "x", {"*": "admin"})]), durability="fsync")
    try:
        s = session(state)
        s.execute("CREATE DATABASE shop")
        s.use("shop")
        s.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        synced: list[int] = []
        real = os.fdatasync
        monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
        assert s.execute("INSERT INTO t VALUES (1)").affected_rows == 1
        assert len(synced) == 1  # answered only after one sync of the WAL
        writer = state.pipelines["shop"].conn
        with state.binding(writer).trusted_scope():  # NORMAL: the COMMIT itself never waits
            assert writer.execute("PRAGMA synchronous").fetchall() == [(1,)]

        def failing(fd: int) -> None:
            raise OSError(5, "Input/output error")
        monkeypatch.setattr(os, "fdatasync", failing)
        with pytest.raises(MarmotError) as info:  # committed, durability unknown: never OK
            s.execute("INSERT INTO t VALUES (2)")
        assert info.value.code == 1180
    finally:
        state.close()


def test_checkpoints_run_off_the_commit_path(server, shop):
    pipeline = server.pipelines["shop"]
    pipeline._checkpointer.pages_max = 8
    path = server.databases.get("shop").path
    size_before = path.stat().st_size
    for i in range(300):
        shop.execute(f"INSERT INTO parent VALUES ({i}, 'n{i}')")
    assert pipeline.checkpoints > 0
    assert path.stat().st_size > size_before  # pages reached the database file
    wal_pages = len(path.with_name(path.name + "-wal").read_bytes()) // 4096
    assert rows(session(server).execute("SELECT COUNT(*) FROM parent")) == [(300,)]
    assert wal_pages < 300  # the WAL was reused, not grown by every commit


class HeldBlockingHost(InlineHost):
    """InlineHost whose blocking work waits until the test runs it (on a real thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple] = []

    def run_blocking(self, work, done) -> None:
        self.held.append((work, done))

    def finish_held(self) -> None:
        work, done = self.held.pop(0)
        errors_seen: list[BaseException] = []

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to done, as a worker does
                errors_seen.append(exc)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        done(errors_seen[0] if errors_seen else None)
        while self._queue:  # what the completion deferred, as the node's drain would run it
            self._queue.popleft()()


def test_a_batch_of_many_rows_commits_on_a_worker_and_holds_the_turn_meanwhile(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline_module, "COMMIT_OFF_LOOP_ROWS", 100)
    host = HeldBlockingHost()
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=Users([User("root", "x", {"*": "admin"})]), host=host)
    try:
        a, b = session(state), session(state)
        a.execute("CREATE DATABASE shop")
        for s in (a, b):
            s.use("shop")
        ddl = a.execute("CREATE TABLE t (id INT PRIMARY KEY)")  # a DDL commits on a worker
        assert isinstance(ddl, Pending) and not ddl.done() and len(host.held) == 1
        host.finish_held()
        assert ddl.done() and not host.held
        small = a.execute("INSERT INTO t VALUES (999)")
        assert not isinstance(small, Pending) and not host.held  # small batches: in place
        big = a.execute("INSERT INTO t WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
                        "SELECT i + 1 FROM c WHERE i < 150) SELECT i FROM c")
        assert isinstance(big, Pending) and not big.done() and len(host.held) == 1
        small = b.execute("INSERT INTO t VALUES (1000)")  # waits: the COMMIT has the connection
        assert isinstance(small, Pending) and not small.done()
        host.finish_held()
        assert big.result().affected_rows == 150
        assert small.done() and small.result().affected_rows == 1 and not host.held
        assert rows(b.execute("SELECT COUNT(*) FROM t")) == [(152,)]
    finally:
        state.close()
