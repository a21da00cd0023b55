"""Locking reads with NOWAIT and SKIP LOCKED: the database's write turn is the lock they meet."""

from __future__ import annotations

import itertools

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.results import Rows
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.sql.statement import lock_wait_option
from marmotdb.txn.pending import Pending
from marmotdb.users import User, Users

_ids = itertools.count(1)


@pytest.fixture
def server(tmp_path):
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=Users([User("root", "x", {"*": "admin"})]))
    first = Session(state, state.users.get("root"), next(_ids))
    first.execute("CREATE DATABASE q")
    first.use("q")
    first.execute("CREATE TABLE job (id INT PRIMARY KEY, state VARCHAR(9))")
    first.execute("INSERT INTO job VALUES (1, 'new'), (2, 'new')")
    yield state
    state.close()


def session(server) -> Session:
    s = Session(server, server.users.get("root"), next(_ids))
    s.use("q")
    return s


def test_nowait_and_skip_locked_without_a_holder_read_as_usual(server):
    worker = session(server)
    worker.execute("BEGIN")
    result = worker.execute("SELECT id FROM job ORDER BY id FOR UPDATE NOWAIT")
    assert isinstance(result, Rows) and result.rows == [(1,), (2,)]
    assert worker.execute("SELECT id FROM job FOR UPDATE SKIP LOCKED").rows == [(1,), (2,)]
    worker.execute("COMMIT")


def test_nowait_fails_at_once_while_another_transaction_holds_the_lock(server):
    holder, worker = session(server), session(server)
    holder.execute("BEGIN")
    holder.execute("UPDATE job SET state = 'taken' WHERE id = 1")
    with pytest.raises(MarmotError) as info:
        worker.execute("SELECT id FROM job FOR UPDATE NOWAIT")
    assert (info.value.code, info.value.sqlstate) == (3572, "HY000")
    worker.execute("BEGIN")
    assert worker.execute("SELECT id FROM job FOR SHARE SKIP LOCKED").rows == []
    assert [c.name for c in worker.execute("SELECT id FROM job FOR UPDATE SKIP LOCKED").columns] \
        == ["id"]
    waiting = worker.execute("SELECT id FROM job FOR UPDATE")  # no option: it waits
    assert isinstance(waiting, Pending) and not waiting.done()
    holder.execute("COMMIT")
    assert waiting.done() and waiting.result().rows == [(1,), (2,)]
    worker.execute("COMMIT")


def test_lock_wait_option_reads_words_not_strings():
    assert lock_wait_option("SELECT * FROM t FOR UPDATE OF t NOWAIT") == "NOWAIT"
    assert lock_wait_option("SELECT * FROM t FOR SHARE SKIP LOCKED") == "SKIP LOCKED"
    assert lock_wait_option("SELECT 'NOWAIT' FROM t FOR UPDATE") is None
    assert lock_wait_option("SELECT `skip` FROM t FOR UPDATE") is None
