"""Locking reads with NOWAIT and SKIP LOCKED: the database's write turn is the lock they meet."""

from __future__ import annotations

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.results import Rows
from marmotdb.sql.session import Session
from marmotdb.sql.statement import lock_wait_option
from marmotdb.txn.pending import Pending
from tests.sql.session_support import database_session, new_session, server_state


@pytest.fixture
def server(tmp_path):
    state = server_state(tmp_path)
    database_session(state, "q", "CREATE TABLE job (id INT PRIMARY KEY, state VARCHAR(9))",
                     "INSERT INTO job VALUES (1, 'new'), (2, 'new')")
    yield state
    state.close()


def session(server) -> Session:
    return new_session(server, database="q")


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
