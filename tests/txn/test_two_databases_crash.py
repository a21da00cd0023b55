"""kill -9 of a real server under writers of transactions that write two databases
(txn/DESIGN.md §10.2): every acknowledged transaction is in both databases, none in one only.

The shape of ``test_crash_durability.py``: a real ``python -m marmotdb serve`` with
``durability = "fsync"`` and 8 PyMySQL writer threads. Each transaction, identified by a
unique ``txn`` number, inserts 1-3 rows into ``left_db.t`` and 1-3 into ``right_db.t``
(BEGIN … COMMIT); half of the writers write ``right_db`` first, so transactions cross and some
get 1213 at once (recorded: not acknowledged, retried as a new transaction). After a random
delay the server gets SIGKILL; it is restarted on the same data directory (the redo of §10.2
step 4 runs before it accepts clients) and checked:

* every acknowledged transaction is in both databases, whole;
* every transaction found in either database is whole in both (never in one only), and was
  attempted.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import pytest

from tests.integration.server import MarmotServer, start_marmot_server
from tests.txn.test_crash_durability import _Counter, load_then_kill

pytestmark = pytest.mark.integration

WRITERS = 8
DATABASES = ("left_db", "right_db")
ENV = {"MARMOTDB_STORAGE_DURABILITY": "fsync"}
KILL_AFTER_S = (0.3, 1.5)
WRITER_TIMEOUT_S = 10


@dataclass
class Ledger:
    """txn -> rows per database, as attempted; the acknowledged ones; the 1213s seen."""

    attempted: dict[int, tuple[int, int]] = field(default_factory=dict)
    acknowledged: set[int] = field(default_factory=set)
    deadlocks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _one_transaction(cursor: pymysql.cursors.Cursor, txn: int, writer: int,
                     shape: tuple[int, int], order: tuple[int, int]) -> None:
    cursor.execute("BEGIN")
    for index in order:
        for part in range(shape[index]):
            cursor.execute(f"INSERT INTO {DATABASES[index]}.t (txn, part, writer) "
                           "VALUES (%s, %s, %s)", (txn, part, writer))
    cursor.execute("COMMIT")


def _writer(server: MarmotServer, writer: int, txns: Iterator[int], ledger: Ledger,
            rng: random.Random, stop: threading.Event, ready: threading.Semaphore) -> None:
    try:
        conn = server.connect(autocommit=True, read_timeout=WRITER_TIMEOUT_S,
                              write_timeout=WRITER_TIMEOUT_S)
    except pymysql.MySQLError:
        return
    finally:
        ready.release()
    order = (0, 1) if writer % 2 == 0 else (1, 0)  # half of them cross the other half
    try:
        with conn.cursor() as cursor:
            while not stop.is_set():
                txn = next(txns)
                shape = (rng.randint(1, 3), rng.randint(1, 3))
                with ledger.lock:
                    ledger.attempted[txn] = shape
                try:
                    _one_transaction(cursor, txn, writer, shape, order)
                except pymysql.err.OperationalError as exc:
                    if exc.args[0] != 1213:
                        raise
                    with ledger.lock:  # rolled back whole: a new transaction next
                        ledger.deadlocks += 1
                    continue
                with ledger.lock:
                    ledger.acknowledged.add(txn)
    except (pymysql.MySQLError, OSError):
        return  # the server died under us: the transaction in flight is unknown
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the socket is already gone
            pass


def _found(server: MarmotServer) -> list[dict[int, int]]:
    conn = server.connect()
    try:
        found = []
        with conn.cursor() as cursor:
            for name in DATABASES:
                cursor.execute(f"SELECT txn, COUNT(*), COUNT(DISTINCT part) FROM {name}.t "
                               "GROUP BY txn")
                counted = cursor.fetchall()
                assert all(count == distinct for _, count, distinct in counted)
                found.append({txn: count for txn, count, _ in counted})
        return found
    finally:
        conn.close()


def _redone(server: MarmotServer) -> int:
    """Branches the restart's redo applied (a kill between A's and B's COMMIT)."""
    conn = server.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Marmot_branches_redone'")
            row = cursor.fetchone()
        return int(row[1]) if row else 0
    finally:
        conn.close()


def _check(server: MarmotServer, ledger: Ledger) -> int:
    left, right = _found(server)
    lost = sorted(txn for txn in ledger.acknowledged
                  if (left.get(txn), right.get(txn)) != ledger.attempted[txn])
    assert not lost, f"acknowledged transactions lost or partial: {lost[:20]}"
    for txn in set(left) | set(right):
        assert txn in ledger.attempted, f"rows of transaction {txn} nobody sent"
        assert (left.get(txn), right.get(txn)) == ledger.attempted[txn], \
            f"transaction {txn} is {left.get(txn)}/{right.get(txn)} rows, sent " \
            f"{ledger.attempted[txn]}: in one database only, or partial"
    return len(set(left))


def _crash_rounds(base: Path, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    server = start_marmot_server(base, env=ENV)
    try:
        conn = server.connect()
        with conn.cursor() as cursor:
            for name in DATABASES:
                cursor.execute(f"CREATE DATABASE {name}")
                cursor.execute(f"CREATE TABLE {name}.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                               "txn BIGINT NOT NULL, part INT NOT NULL, writer INT NOT NULL, "
                               "UNIQUE KEY txn_part (txn, part))")
        conn.close()
        ledger = Ledger()
        counter = _Counter(0)
        redone = 0
        for round_number in range(rounds):
            delay_s = load_then_kill(
                server, lambda w, r, stop, ready: _writer(server, w, counter, ledger, r, stop,
                                                          ready), WRITERS, KILL_AFTER_S, rng)
            server = start_marmot_server(base, env=ENV)
            try:
                _check(server, ledger)
                redone += _redone(server)
            except AssertionError as exc:
                raise AssertionError(f"round {round_number} (kill after {delay_s:.2f} s, seed "
                                     f"{seed}): {exc}") from None
        assert ledger.acknowledged, "no transaction was acknowledged before the kill"
        assert ledger.deadlocks, "no crossing transactions met (1213)"
        print(f"acknowledged {len(ledger.acknowledged)}, 1213 {ledger.deadlocks}, "
              f"branches redone at restart {redone}")
        server.stop()
    except BaseException:
        server.kill()
        raise


def test_kill_9_under_writers_of_two_databases_leaves_none_in_one_only(tmp_path):
    _crash_rounds(tmp_path, rounds=3, seed=random.randrange(1 << 30))
