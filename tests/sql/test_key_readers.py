"""A long write to a database with FOREIGN KEYs across databases runs on a writer thread, its
checks too, through read connections of its own (sql/key_readers.py, txn/DESIGN.md §2.1 and
§10.1). The host's part is played here: the job runs on a thread, then ``finish`` and
``resume`` on this one, as ``Node.finish_offloaded`` does."""

from __future__ import annotations

import threading
from typing import Any

import apsw
import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql import session as session_module
from marmotdb.sql.key_readers import KeyReaderPool, KeyReaders, open_reader
from marmotdb.sql.results import LongWrite
from marmotdb.users import User
from tests.sql.sessions import new_server, rows, session

SOURCE_ROWS = 40


@pytest.fixture
def server(tmp_path, monkeypatch):
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"})])
    s = session(state)
    for statement in ("CREATE DATABASE test", "CREATE DATABASE test_schema",
                      "CREATE TABLE test.local_table (id INT PRIMARY KEY, data VARCHAR(20))",
                      "CREATE TABLE test_schema.remote_table (id INT PRIMARY KEY, local_id INT, "
                      "FOREIGN KEY (local_id) REFERENCES test.local_table (id))",
                      "CREATE TABLE test_schema.source (id INT PRIMARY KEY)",
                      "INSERT INTO test.local_table WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
                      f"SELECT i + 1 FROM c WHERE i < {SOURCE_ROWS}) SELECT i, 'p' FROM c",
                      "INSERT INTO test_schema.source SELECT id FROM test.local_table"):
        s.execute(statement)
    # writes scanning more than 10 rows are long, and a host with writer threads takes them
    monkeypatch.setattr(session_module._WEIGHTS, "rows_min", 10)
    state.host_runs_writes = True
    yield state
    state.close()


def offloaded(s: Any, sql: str, on_thread: Any = None) -> Any:
    """``sql``, which must be handed to a writer thread: its job runs on one, then it is
    finished and resumed here. Its result, or raises its error."""
    try:
        s.execute(sql)
    except LongWrite as long_write:
        job = long_write.job
    except BaseException as exc:  # noqa: BLE001 - ran on this thread and failed here
        pytest.fail(f"not handed to a writer thread: {exc!r}")
    else:
        pytest.fail("not handed to a writer thread")
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(job.run(None))
        except BaseException as exc:  # noqa: BLE001 - the host hands it to resume
            outcome.append(exc)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    job.finish()
    return job.resume(outcome[0])


def children(s: Any) -> int:
    return rows(s.execute("SELECT COUNT(*) FROM test_schema.remote_table"))[0][0]


def test_a_long_write_checks_its_keys_on_its_thread(server):
    s = session(server, database="test_schema")
    offloaded(s, "INSERT INTO remote_table SELECT id, id FROM source")
    assert children(s) == SOURCE_ROWS
    assert server.key_readers.connections() == 1  # to `test`, kept for the next long write
    offloaded(s, "UPDATE remote_table SET local_id = 41 - local_id")
    assert server.key_readers.connections() == 1
    # the parent side: a long DELETE of parents still used, checked on its thread
    deleter = session(server, database="test")
    with pytest.raises(MarmotError) as info:
        offloaded(deleter, "DELETE FROM local_table WHERE id > 5")
    assert info.value.code == 1451
    assert rows(deleter.execute("SELECT COUNT(*) FROM local_table")) == [(SOURCE_ROWS,)]


def test_a_check_failing_in_a_long_write_keeps_nothing_of_it(server):
    s = session(server, database="test_schema")
    with pytest.raises(MarmotError) as info:
        offloaded(s, "INSERT INTO remote_table SELECT id, CASE WHEN id = 30 THEN 99 ELSE id END "
                  "FROM source")
    assert info.value.code == 1452
    assert children(s) == 0
    # what its rows took before the failing one is not held any more
    session(server, database="test").execute("DELETE FROM local_table WHERE id = 1")


def test_kill_query_stops_a_long_writes_checks(server):
    """KILL QUERY arrives while the checks run (here: as they open their connection); the
    SQLite statement is done by then, so only the checks can notice it: 1317, and the
    statement is undone — in an explicit transaction the statement alone, as in MySQL."""
    s = session(server, database="test_schema")
    real = server.key_readers

    def killed_when_opened(path: Any) -> Any:
        s.interrupt()
        return open_reader(path, 5000, server.version)

    def kill_in_checks(sql: str) -> int:
        server.key_readers = KeyReaderPool(real._directory, killed_when_opened)
        try:
            with pytest.raises(MarmotError) as info:
                offloaded(s, sql)
        finally:
            server.key_readers.close()
            server.key_readers = real
        return info.value.code
    s.execute("BEGIN")
    s.execute("INSERT INTO remote_table VALUES (-1, 1)")
    assert kill_in_checks("INSERT INTO remote_table SELECT id, id FROM source") == 1317
    s.execute("COMMIT")
    assert rows(s.execute("SELECT id FROM remote_table")) == [(-1,)]
    # autocommit: nothing of it
    assert kill_in_checks("INSERT INTO remote_table SELECT id, id FROM source") == 1317
    assert children(s) == 1


def test_checks_off_reads_nothing(server):
    s = session(server, database="test_schema")
    s.execute("SET foreign_key_checks = 0")
    offloaded(s, "INSERT INTO remote_table SELECT id, id + 100 FROM source")
    assert children(s) == SOURCE_ROWS
    assert server.key_readers.connections() == 0


def test_a_database_dropped_and_created_again_is_read_anew(server):
    s = session(server)
    readers = KeyReaders(server.databases.directory,
                         lambda path: open_reader(path, 5000, server.version))
    try:
        lent = readers.lend("test")
        assert lent is not None
        assert lent[0].execute("SELECT COUNT(*) FROM local_table").fetchall() == [(40,)]
        assert readers.lend("nope") is None and readers.lend("../test") is None
        s.execute("DROP DATABASE test_schema")
        s.execute("DROP DATABASE test")
        readers.start()  # the next long write
        assert readers.lend("test") is None and len(readers) == 0
        s.execute("CREATE DATABASE test")
        s.execute("CREATE TABLE test.local_table (id INT PRIMARY KEY)")
        readers.start()
        lent = readers.lend("test")
        assert lent is not None
        assert lent[0].execute("SELECT COUNT(*) FROM local_table").fetchall() == [(0,)]
        with pytest.raises(apsw.ReadOnlyError):
            lent[0].execute("INSERT INTO local_table VALUES (1)")
    finally:
        readers.close()
