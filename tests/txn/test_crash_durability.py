"""kill -9 of a real server under 16 concurrent writers: nothing acknowledged is lost.

Theory of operation: a real ``python -m marmotdb serve`` with ``durability = "fsync"`` runs
16 PyMySQL writer threads. Each writer commits small transactions, each identified by a unique
``txn`` number stamped into all its rows: one-row INSERTs in autocommit, and explicit
transactions of 2-4 rows (BEGIN, one INSERT per row, COMMIT). A writer records a transaction
as *acknowledged* only once its COMMIT (or its autocommit INSERT) answered OK, and as
*attempted* as soon as it sent the first row. After a random delay the server gets SIGKILL in
the middle of the load; it is restarted on the same data directory and checked:

* every acknowledged transaction is there, whole;
* every transaction that is there is whole (all its rows or none), and was attempted;
* then, with the server stopped cleanly, the SQLite file itself: the commit log has one
  record per transaction found (its rows, nothing else), origin sequences 1..n, the applied
  vector at n, every row a live row version and no version without its row, and
  ``PRAGMA integrity_check`` is ok.

Rounds repeat on the same data directory with the kill at different moments, so later rounds
also crash a database that already went through a crash recovery. kill -9 loses the process,
not the page cache: this proves atomicity and "acknowledged only after COMMIT" under a process
crash; ``fsync`` (``synchronous=FULL``) is what extends it to power loss, which a test cannot
pull.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import apsw
import pymysql
import pytest

from marmotdb.storage.commitlog import applied_vector, iter_log
from marmotdb.storage.internal_tables import ROW_VERSIONS
from marmotdb.storage.versions import encode_key
from marmotdb.storage.writeset import ChangeOp, decode_write_set
from tests.integration.server import MarmotServer, start_marmot_server

pytestmark = pytest.mark.integration

WRITERS = 16
DATABASE = "crash"
ENV = {"MARMOTDB_STORAGE_DURABILITY": "fsync"}
KILL_AFTER_S = (0.1, 1.5)       # random moment of the kill, after every writer connected
CONNECT_TIMEOUT_S = 30
WRITER_TIMEOUT_S = 10           # PyMySQL read/write timeout: a dead server answers nothing


@dataclass
class Ledger:
    """What the writers know: transactions attempted (txn -> rows) and acknowledged."""

    attempted: dict[int, int] = field(default_factory=dict)
    acknowledged: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, txn: int, rows: int) -> None:
        with self.lock:
            self.attempted[txn] = rows

    def acknowledge(self, txn: int) -> None:
        with self.lock:
            self.acknowledged.add(txn)


def _writer(server: MarmotServer, writer: int, txns: Iterator[int], ledger: Ledger,
            rng: random.Random, stop: threading.Event, ready: threading.Semaphore) -> None:
    try:
        conn = server.connect(database=DATABASE, autocommit=True,
                              read_timeout=WRITER_TIMEOUT_S, write_timeout=WRITER_TIMEOUT_S)
    except pymysql.MySQLError:
        return  # killed before this writer got in
    finally:
        ready.release()
    try:
        with conn.cursor() as cursor:
            while not stop.is_set():
                txn = next(txns)
                rows = 1 if rng.random() < 0.5 else rng.randint(2, 4)
                ledger.attempt(txn, rows)
                if rows == 1:
                    cursor.execute("INSERT INTO t (txn, part, writer, note) VALUES "
                                   "(%s, 0, %s, 'autocommit')", (txn, writer))
                else:
                    cursor.execute("BEGIN")
                    for part in range(rows):
                        cursor.execute("INSERT INTO t (txn, part, writer, note) VALUES "
                                       "(%s, %s, %s, 'explicit')", (txn, part, writer))
                    cursor.execute("COMMIT")
                ledger.acknowledge(txn)
    except (pymysql.MySQLError, OSError):
        return  # the server died under us: the transaction in flight is unknown
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the socket is already gone
            pass


class _Counter:
    """Transaction numbers unique across writers and rounds."""

    def __init__(self, start: int):
        self._next = start
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        with self._lock:
            self._next += 1
            return self._next


# a writer thread's body: (writer number, its random source, stop, signal once connected)
Writer = Callable[[int, random.Random, threading.Event, threading.Semaphore], None]


def load_then_kill(server: MarmotServer, writer: Writer, writers: int,
                   kill_after_s: tuple[float, float], rng: random.Random) -> float:
    """Starts ``writers`` threads of ``writer``, kills the server (SIGKILL) at a random moment
    of ``kill_after_s`` once they all connected, and waits for them; returns that moment."""
    stop = threading.Event()
    ready = threading.Semaphore(0)
    threads = [threading.Thread(target=writer, args=(w, random.Random(rng.random()), stop,
                                                     ready), daemon=True)
               for w in range(writers)]
    for thread in threads:
        thread.start()
    for _ in threads:  # every writer connected (or failed to): the load is on
        assert ready.acquire(timeout=CONNECT_TIMEOUT_S), "writers could not connect"
    delay_s = rng.uniform(*kill_after_s)
    time.sleep(delay_s)
    server.kill()  # SIGKILL, mid-load
    stop.set()
    for thread in threads:
        thread.join(WRITER_TIMEOUT_S + 5)
    assert not any(thread.is_alive() for thread in threads)
    return delay_s


def _check_through_sql(server: MarmotServer, ledger: Ledger) -> dict[int, int]:
    conn = server.connect(database=DATABASE)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT txn, COUNT(*), COUNT(DISTINCT part) FROM t GROUP BY txn")
            found = {txn: count for txn, count, distinct in cursor.fetchall()
                     if count == distinct}
            cursor.execute("SELECT COUNT(*) FROM t")
            (total,) = cursor.fetchone()
    finally:
        conn.close()
    assert sum(found.values()) == total, "a transaction has duplicate parts"
    missing = sorted(txn for txn in ledger.acknowledged if found.get(txn) != ledger.attempted[txn])
    assert not missing, f"acknowledged transactions lost or partial: {missing[:20]}"
    unknown = sorted(set(found) - set(ledger.attempted))
    assert not unknown, f"rows of transactions nobody sent: {unknown[:20]}"
    partial = sorted(txn for txn, count in found.items() if count != ledger.attempted[txn])
    assert not partial, f"transactions half present: {partial[:20]}"
    return found


def _check_the_file(path: Path, found: dict[int, int], schema_records: int) -> None:
    """Server stopped: data, row versions and commit log agree inside the SQLite file."""
    conn = apsw.Connection(str(path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        entries = list(iter_log(conn))
        origin_seqs = [e.origin_seq for e in entries]
        assert origin_seqs == list(range(1, len(entries) + 1))
        assert applied_vector(conn) == {entries[0].origin: len(entries)}
        logged: dict[int, int] = {}
        for entry in entries[schema_records:]:
            write_set = decode_write_set(entry.write_set)
            txn_column = write_set.tables[0].columns.index("txn")
            txns = {change.after[txn_column] for change in write_set.changes}
            assert len(txns) == 1, f"record {entry.origin_seq} holds transactions {txns}"
            assert all(change.op is ChangeOp.INSERT for change in write_set.changes)
            (txn,) = txns
            assert txn not in logged, f"transaction {txn} logged twice"
            logged[txn] = len(write_set.changes)
        assert logged == found, "commit log and rows disagree"
        keys = {encode_key((row_id,)) for (row_id,) in conn.execute("SELECT id FROM t")}
        versions = {pk: deleted for pk, deleted in conn.execute(
            f"SELECT pk, deleted FROM {ROW_VERSIONS} WHERE tbl = 't'")}
        assert set(versions) == keys and not any(versions.values()), \
            "row versions and rows disagree"
    finally:
        conn.close()


def _crash_rounds(base: Path, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    server = start_marmot_server(base, env=ENV)
    try:
        conn = server.connect()
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
            cursor.execute(f"USE {DATABASE}")
            cursor.execute("CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                           "txn BIGINT NOT NULL, part INT NOT NULL, writer INT NOT NULL, "
                           "note VARCHAR(20), UNIQUE KEY txn_part (txn, part))")
        conn.close()
        schema_records = 1  # the CREATE TABLE
        ledger = Ledger()
        counter = _Counter(0)
        for round_number in range(rounds):
            delay_s = load_then_kill(
                server, lambda w, r, stop, ready: _writer(server, w, counter, ledger, r, stop,
                                                          ready), WRITERS, KILL_AFTER_S, rng)
            server = start_marmot_server(base, env=ENV)  # same data directory
            try:
                found = _check_through_sql(server, ledger)
            except AssertionError as exc:
                raise AssertionError(f"round {round_number} (kill after {delay_s:.2f} s, seed "
                                     f"{seed}): {exc}") from None
            assert ledger.acknowledged, "no transaction was acknowledged before the kill"
        server.stop()
        _check_the_file(server.data_dir / "databases" / f"{DATABASE}.db", found,
                        schema_records)
    except BaseException:
        server.kill()
        raise


def test_kill_9_under_16_writers_loses_nothing_acknowledged(tmp_path):
    _crash_rounds(tmp_path, rounds=3, seed=random.randrange(1 << 30))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_many_rounds(tmp_path):
    _crash_rounds(tmp_path, rounds=20, seed=random.randrange(1 << 30))
