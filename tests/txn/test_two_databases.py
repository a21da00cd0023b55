"""A transaction writing two databases on one node (txn/DESIGN.md §10.2): branches per
database, turns with deadlock detection, COMMIT through the first branch's promise, the redo
of a branch a crash left unfinished."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from marmotdb.errors import MarmotError
from marmotdb.sim.sql_disk import SimDisk, installed
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.storage.commitlog import applied_vector, iter_log
from marmotdb.storage.internal_tables import PENDING_BRANCHES
from marmotdb.storage.writeset import decode_write_set
from marmotdb.txn.pending import Pending
from marmotdb.txn.pipeline import BRANCH_FAULT_POINT
from marmotdb.users import User, Users
from tests.sql.sessions import error_code, new_server, rows, session

USERS = [User("root", "x", {"*": "admin"})]


def with_two_databases(state: ServerState) -> Session:
    """Databases a and b, each with t (id INT PRIMARY KEY, v INT); returns the session."""
    s = session(state)
    for name in ("a", "b"):
        s.execute(f"CREATE DATABASE {name}")
        s.execute(f"CREATE TABLE {name}.t (id INT PRIMARY KEY, v INT)")
    return s


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerState]:
    state = new_server(tmp_path, USERS)
    with_two_databases(state)
    yield state
    state.close()


def _ids(state: ServerState, database: str) -> list[int]:
    return [r[0] for r in rows(session(state).execute(f"SELECT id FROM {database}.t ORDER BY id"))]


def _promises(path: Path) -> list[tuple]:
    conn = apsw.Connection(str(path))
    try:
        return conn.execute(f"SELECT * FROM {PENDING_BRANCHES}").fetchall()
    finally:
        conn.close()


def _db_file(data_dir: Path, name: str) -> Path:
    return data_dir / "databases" / f"{name}.db"


def test_a_transaction_commits_both_databases_and_logs_each_branch(server, tmp_path):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    s.execute("UPDATE a.t SET v = 2 WHERE id = 1")
    assert rows(s.execute("SELECT v FROM b.t")) == [(1,)]  # its own writes, in either one
    assert rows(s.execute("SELECT v FROM a.t")) == [(2,)]
    assert _ids(server, "b") == []  # nobody else sees them before COMMIT
    s.execute("COMMIT")
    assert _ids(server, "a") == [1] and _ids(server, "b") == [1]
    assert _promises(_db_file(tmp_path, "a")) == []  # forgotten once B held the branch
    for name in ("a", "b"):
        conn = apsw.Connection(str(_db_file(tmp_path, name)))
        last = list(iter_log(conn))[-1]
        changes = decode_write_set(last.write_set).changes
        assert [c.table for c in changes] == ["t"] * (2 if name == "a" else 1)
        assert applied_vector(conn) == {1: last.origin_seq}  # no gap in either origin
        conn.close()


def test_rollback_undoes_both_branches(server):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    s.execute("ROLLBACK")
    assert _ids(server, "a") == [] and _ids(server, "b") == []
    other = session(server)  # both turns were given back
    other.execute("INSERT INTO a.t VALUES (2, 2)")
    other.execute("INSERT INTO b.t VALUES (2, 2)")
    assert _ids(server, "a") == [2] and _ids(server, "b") == [2]


def test_savepoints_are_mirrored_on_every_branch(server):
    s = session(server)
    s.execute("BEGIN")
    s.execute("SAVEPOINT before_any")        # taken before either branch existed
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("SAVEPOINT one")
    s.execute("INSERT INTO b.t VALUES (1, 1)")  # B opens with both savepoints
    s.execute("INSERT INTO a.t VALUES (2, 2)")
    s.execute("ROLLBACK TO one")             # undoes B's row and A's second row
    s.execute("INSERT INTO b.t VALUES (3, 3)")
    s.execute("SAVEPOINT two")
    s.execute("INSERT INTO a.t VALUES (4, 4)")
    s.execute("RELEASE SAVEPOINT two")
    s.execute("COMMIT")
    assert _ids(server, "a") == [1, 4] and _ids(server, "b") == [3]
    s.execute("BEGIN")
    s.execute("SAVEPOINT start")
    s.execute("INSERT INTO a.t VALUES (5, 5)")
    s.execute("INSERT INTO b.t VALUES (5, 5)")
    s.execute("ROLLBACK TO start")           # nothing left in either: commits nothing
    s.execute("COMMIT")
    assert _ids(server, "a") == [1, 4] and _ids(server, "b") == [3]


@pytest.mark.parametrize("failing", ["a", "b"])
def test_a_failing_statement_in_either_branch_undoes_only_itself(server, failing):
    session(server).execute(f"INSERT INTO {failing}.t VALUES (7, 7)")
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    assert error_code(lambda: s.execute(
        f"INSERT INTO {failing}.t VALUES (8, 8), (7, 7)")) == 1062
    s.execute("COMMIT")
    assert _ids(server, failing) == [1, 7]
    assert _ids(server, "b" if failing == "a" else "a") == [1]


def test_only_one_database_changed_commits_as_one(server, tmp_path):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("UPDATE b.t SET v = 9 WHERE id = 99")  # took B's turn, changed nothing
    s.execute("COMMIT")
    assert _ids(server, "a") == [1]
    assert _promises(_db_file(tmp_path, "a")) == []


def test_crossing_transactions_get_1213_at_once_and_the_other_goes_on(server):
    one, two = session(server), session(server)
    one.execute("BEGIN")
    one.execute("INSERT INTO a.t VALUES (1, 1)")
    two.execute("BEGIN")
    two.execute("INSERT INTO b.t VALUES (2, 2)")
    waiting = one.execute("INSERT INTO b.t VALUES (1, 1)")  # waits for two's turn of b
    assert isinstance(waiting, Pending) and not waiting.done()
    with pytest.raises(MarmotError) as info:
        two.execute("INSERT INTO a.t VALUES (2, 2)")  # closes the cycle: a deadlock
    assert (info.value.code, info.value.sqlstate) == (1213, "40001")
    assert two.txn is None  # the victim was rolled back, as InnoDB does
    assert waiting.done() and waiting.result().affected_rows == 1
    one.execute("COMMIT")
    assert _ids(server, "a") == [1] and _ids(server, "b") == [1]


def test_a_wait_that_closes_no_cycle_still_waits(server):
    one, two = session(server), session(server)
    two.execute("BEGIN")
    two.execute("INSERT INTO b.t VALUES (2, 2)")
    one.execute("BEGIN")
    one.execute("INSERT INTO a.t VALUES (1, 1)")
    waiting = one.execute("INSERT INTO b.t VALUES (1, 1)")
    assert isinstance(waiting, Pending) and not waiting.done()
    two.execute("COMMIT")
    assert waiting.done() and waiting.result().affected_rows == 1
    one.execute("COMMIT")
    assert _ids(server, "b") == [1, 2]


class _Crash(BaseException):
    """The process dies here (the simulator's crash: nothing after it runs)."""


def _crash_at(state: ServerState, database: str, point: str) -> None:
    def fault(name: str) -> None:
        if name == point:
            raise _Crash(name)
    state.pipelines[database]._fault = fault


def _reopen_copy(tmp_path: Path) -> ServerState:
    """The files as a kill -9 leaves them (open SQLite transactions are not in them), opened
    by a new process."""
    copy = tmp_path / "after-crash"
    shutil.copytree(tmp_path / "databases", copy / "databases")
    return new_server(copy, USERS)


def test_a_crash_after_the_first_branch_committed_is_redone_at_start(server, tmp_path):
    s = session(server)
    s.execute("INSERT INTO b.t VALUES (5, 5)")
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    s.execute("DELETE FROM b.t WHERE id = 5")
    _crash_at(server, "b", BRANCH_FAULT_POINT)
    with pytest.raises(_Crash):
        s.execute("COMMIT")
    promised = _promises(_db_file(tmp_path, "a"))
    assert [(db) for _, db, _ in promised] == ["b"]  # A holds the rows and the promise
    reopened = _reopen_copy(tmp_path)
    try:
        assert reopened.status["Marmot_branches_redone"] == 1
        assert _ids(reopened, "a") == [1] and _ids(reopened, "b") == [1]
        assert _promises(_db_file(tmp_path / "after-crash", "a")) == []
        conn = apsw.Connection(str(_db_file(tmp_path / "after-crash", "b")))
        entries = list(iter_log(conn))
        assert [e.origin_seq for e in entries] == list(range(1, len(entries) + 1))
        assert applied_vector(conn) == {1: len(entries)}
        conn.close()
        after = session(reopened)  # B goes on numbering above the redone branch
        after.execute("INSERT INTO b.t VALUES (2, 2)")
        assert _ids(reopened, "b") == [1, 2]
    finally:
        reopened.close()
    second = _reopen_copy_again(tmp_path)
    try:  # nothing left to redo: the promise was deleted with the redo
        assert second.status["Marmot_branches_redone"] == 0
        assert _ids(second, "b") == [1, 2]
    finally:
        second.close()


def _reopen_copy_again(tmp_path: Path) -> ServerState:
    return new_server(tmp_path / "after-crash", USERS)


def test_a_crash_before_the_first_branch_committed_leaves_neither(server, tmp_path):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    _crash_at(server, "a", "before_batch_commit")
    with pytest.raises(_Crash):
        s.execute("COMMIT")
    reopened = _reopen_copy(tmp_path)
    try:
        assert reopened.status["Marmot_branches_redone"] == 0
        assert _ids(reopened, "a") == [] and _ids(reopened, "b") == []
    finally:
        reopened.close()


def test_a_failed_first_commit_leaves_nothing_anywhere(server):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")

    def broken(point: str) -> None:
        if point == "before_batch_commit":
            raise apsw.IOError("disk I/O error")  # what a failing COMMIT raises
    server.pipelines["a"]._fault = broken
    with pytest.raises(MarmotError):
        s.execute("COMMIT")
    server.pipelines["a"]._fault = None
    assert _ids(server, "a") == [] and _ids(server, "b") == []
    session(server).execute("INSERT INTO b.t VALUES (2, 2)")  # B's turn was given back
    assert _ids(server, "b") == [2]


def test_a_failed_second_commit_is_redone_on_the_spot(server, tmp_path):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    failures = [1]

    def broken_once(point: str) -> None:
        if point == "before_batch_commit" and failures:
            failures.pop()
            raise apsw.IOError("disk I/O error")
    server.pipelines["b"]._fault = broken_once
    s.execute("COMMIT")  # B's batch failed; its branch was applied from the write set
    assert _ids(server, "a") == [1] and _ids(server, "b") == [1]
    assert _promises(_db_file(tmp_path, "a")) == []


def test_a_branch_that_failed_twice_fences_its_database_until_the_next_start(tmp_path):
    # Found by the simulator (sql-crash seed 34, ioerr#186x2): B's batch COMMIT and the redo
    # on the spot both failed (1180); B's next transaction took the branch's origin sequence
    # (and wrote over its rows), so the next start's redo found that sequence logged, skipped
    # the branch, and the transaction stayed in A only. Now B refuses writes until then.
    disk = SimDisk(tmp_path / "m", random.Random(0), wal_autocheckpoint_pages=0)
    disk.root.mkdir()
    with installed() as vfs:
        vfs.disks.append(disk)
        state = new_server(disk.root, USERS)
        s = with_two_databases(state)
        s.execute("BEGIN")
        s.execute("INSERT INTO a.t VALUES (1, 1)")
        s.execute("INSERT INTO b.t VALUES (1, 1)")

        def disk_full(point: str) -> None:  # from B's batch COMMIT on, B's writes fail
            if point == "before_batch_commit":
                disk.fail_at_io, disk.fail_ios = disk.io_count + 1, 1000
        state.pipelines["b"]._fault = disk_full
        with pytest.raises(MarmotError) as info:
            s.execute("COMMIT")
        assert info.value.code == 1180
        state.pipelines["b"]._fault, disk.fail_at_io = None, None  # the disk has room again
        other = session(state)
        assert error_code(lambda: other.execute("INSERT INTO b.t VALUES (2, 2)")) == 1290
        other.execute("INSERT INTO a.t VALUES (2, 2)")  # A is not fenced
        state.close()
        again = new_server(disk.root, USERS)  # the next start
        try:
            assert again.status["Marmot_branches_redone"] == 1
            assert _ids(again, "a") == [1, 2] and _ids(again, "b") == [1]
            session(again).execute("INSERT INTO b.t VALUES (2, 2)")
            assert _ids(again, "b") == [1, 2]
        finally:
            again.close()
        vfs.disks.remove(disk)


def test_a_branch_redone_on_the_spot_goes_ahead_of_the_writers_waiting(server):
    # A writer granted first would write over the branch's rows (its row images stale) or
    # take its origin sequence (the redo would skip it): seed 34 of the sql-crash sweep.
    b, order = server.pipelines["b"], []
    mode = b._mode
    assert b.acquire(-101, mode, spans_round_trips=True, timeout_s=lambda: 50) is None
    waiting = b.acquire(-102, mode, spans_round_trips=True, timeout_s=lambda: 50)
    assert waiting is not None
    waiting.add_done_callback(lambda _: order.append("writer"))
    b.redo_first(lambda conn: order.append("redo"))
    b.release(-101)
    assert order == ["redo", "writer"]
    b.release(-102)


def test_a_first_commit_whose_wal_sync_failed_still_finishes_the_other_branch(tmp_path):
    # Found by the simulator (sql-crash seed 98, ioerr#251x2, durability "fsync"): A's COMMIT
    # returned and its WAL sync failed (1180: committed, durability unknown); the commit took
    # that for a failed COMMIT and rolled B back, so the transaction stayed in A with its
    # promise, B's next write took the branch's origin sequence, and the next start's redo
    # skipped it.
    armed, failed = [], []

    def wal_sync(path: str) -> None:  # once armed, the fdatasync of A's WAL fails once
        if armed and path.endswith("a.db-wal") and not failed:
            failed.append(path)
            raise OSError(5, "Input/output error")
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=Users(USERS), durability="fsync", wal_sync=wal_sync)
    s = with_two_databases(state)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    armed.append(True)
    assert error_code(lambda: s.execute("COMMIT")) == 1180 and failed
    assert _ids(state, "a") == [1] and _ids(state, "b") == [1]  # both, as readers see them
    session(state).execute("INSERT INTO b.t VALUES (2, 2)")
    state.close()
    again = new_server(tmp_path, USERS)
    try:
        assert again.status["Marmot_branches_redone"] == 0
        assert _ids(again, "a") == [1] and _ids(again, "b") == [1, 2]
        assert _promises(_db_file(tmp_path, "a")) == []
    finally:
        again.close()


def test_a_foreign_key_across_the_branches_sees_the_transactions_own_rows(server):
    s = session(server)
    s.execute("CREATE TABLE b.child (id INT PRIMARY KEY, t_id INT, "
              "FOREIGN KEY (t_id) REFERENCES a.t (id))")
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.child VALUES (10, 1)")  # its parent: this transaction's, in A
    assert error_code(lambda: s.execute("INSERT INTO b.child VALUES (11, 2)")) == 1452
    assert error_code(lambda: s.execute("DELETE FROM a.t WHERE id = 1")) == 1451
    s.execute("COMMIT")
    assert rows(session(server).execute("SELECT id, t_id FROM b.child")) == [(10, 1)]
    s.execute("BEGIN")
    s.execute("DELETE FROM b.child")
    s.execute("DELETE FROM a.t WHERE id = 1")  # its child is gone in this transaction's B
    s.execute("COMMIT")
    assert _ids(server, "a") == []


def test_a_branch_that_cannot_be_finished_answers_1180_and_the_next_start_finishes_it(
        server, tmp_path):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    def close_b(point: str) -> None:  # B's file goes away (shutdown) while A commits
        if point == "before_batch_commit" and "b" in server.pipelines:
            server.close_pipeline("b")
    server.pipelines["a"]._fault = close_b
    with pytest.raises(MarmotError) as info:
        s.execute("COMMIT")
    assert info.value.code == 1180  # A holds it, B does not yet: outcome unknown to it
    server.pipelines["a"]._fault = None
    assert [db for _, db, _ in _promises(_db_file(tmp_path, "a"))] == ["b"]
    again = _reopen_copy(tmp_path)  # the next start
    try:
        assert again.status["Marmot_branches_redone"] == 1
        assert _ids(again, "a") == [1] and _ids(again, "b") == [1]
    finally:
        again.close()


def test_a_client_leaving_while_it_waits_for_its_second_branch_gives_the_first_back(server):
    one, two = session(server), session(server)
    one.execute("BEGIN")
    one.execute("INSERT INTO b.t VALUES (1, 1)")
    two.execute("BEGIN")
    two.execute("INSERT INTO a.t VALUES (2, 2)")
    waiting = two.execute("INSERT INTO b.t VALUES (2, 2)")
    assert isinstance(waiting, Pending) and not waiting.done()
    two.close()  # the client went away: its transaction rolls back, a's turn is free
    assert one.execute("INSERT INTO a.t VALUES (1, 1)").affected_rows == 1
    one.execute("COMMIT")
    assert _ids(server, "a") == [1] and _ids(server, "b") == [1]


def test_kill_query_of_the_wait_leaves_the_transaction_with_its_first_branch(server):
    one, two = session(server), session(server)
    one.execute("BEGIN")
    one.execute("INSERT INTO b.t VALUES (1, 1)")
    two.execute("BEGIN")
    two.execute("INSERT INTO a.t VALUES (2, 2)")
    waiting = two.execute("INSERT INTO b.t VALUES (2, 2)")
    two.interrupt()
    assert waiting.done() and waiting.error().code == 1317
    one.execute("COMMIT")
    two.execute("INSERT INTO b.t VALUES (3, 3)")  # now it gets b too
    two.execute("COMMIT")
    assert _ids(server, "a") == [2] and _ids(server, "b") == [1, 3]


def test_autocommit_off_writes_two_databases_until_commit(server):
    s = session(server)
    s.execute("SET autocommit = 0")
    s.execute("INSERT INTO a.t VALUES (1, 1)")
    s.execute("INSERT INTO b.t VALUES (1, 1)")
    assert _ids(server, "a") == [] and _ids(server, "b") == []
    s.execute("COMMIT")
    assert _ids(server, "a") == [1] and _ids(server, "b") == [1]
