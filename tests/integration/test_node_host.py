"""The served node: statements of many connections go through one hosted ``Node``.

What would break if the host's wiring broke: commits arriving in one event-loop iteration no
longer share a batch (group commit), the node's timers (lock-wait timeout, SLEEP) never fire,
a waiting statement's answer never reaches its connection.
"""

from __future__ import annotations

import threading
import time

import pymysql
import pytest

from tests.integration.server import MarmotServer

WRITERS = 16
INSERTS_EACH = 40


def _status(conn: pymysql.connections.Connection, name: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        return int(cur.fetchone()[1])


def test_concurrent_autocommit_writes_share_batches(marmot_server: MarmotServer) -> None:
    admin = marmot_server.connect(autocommit=True)
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS hosted")
        cur.execute("USE hosted")
        cur.execute("CREATE TABLE g (id INT PRIMARY KEY, w INT)")
    batches0 = _status(admin, "Marmot_commit_batches")
    txns0 = _status(admin, "Marmot_batched_transactions")
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            conn = marmot_server.connect(database="hosted", autocommit=True)
            with conn.cursor() as cur:
                for i in range(INSERTS_EACH):
                    cur.execute("INSERT INTO g VALUES (%s, %s)", (w * 1000 + i, w))
            conn.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with admin.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM hosted.g")
        assert cur.fetchone()[0] == WRITERS * INSERTS_EACH
    batches = _status(admin, "Marmot_commit_batches") - batches0
    txns = _status(admin, "Marmot_batched_transactions") - txns0
    assert txns >= WRITERS * INSERTS_EACH
    assert batches < txns, (batches, txns)  # some commits shared a SQLite transaction


def test_lock_wait_times_out_on_the_nodes_timer(marmot_server: MarmotServer) -> None:
    holder = marmot_server.connect(autocommit=True)
    with holder.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS hosted_wait")
        cur.execute("USE hosted_wait")
        cur.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)")
        cur.execute("BEGIN")
        cur.execute("INSERT INTO t VALUES (1)")
    waiter = marmot_server.connect(database="hosted_wait", autocommit=True)
    with waiter.cursor() as cur:
        cur.execute("SET innodb_lock_wait_timeout = 1")
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as caught:
            cur.execute("INSERT INTO t VALUES (2)")
        assert caught.value.args[0] == 1205
        assert 0.9 <= time.monotonic() - started < 10
        # the holder was served meanwhile and still commits
    with holder.cursor() as cur:
        cur.execute("COMMIT")
    with waiter.cursor() as cur:
        cur.execute("SELECT id FROM t")
        assert cur.fetchall() == ((1,),)


def test_sleep_answers_later_without_stopping_others(marmot_server: MarmotServer) -> None:
    sleeper = marmot_server.connect(autocommit=True)
    other = marmot_server.connect(autocommit=True)
    result: list[float] = []

    def sleep() -> None:
        started = time.monotonic()
        with sleeper.cursor() as cur:
            cur.execute("SELECT SLEEP(0.5)")
            cur.fetchall()
        result.append(time.monotonic() - started)

    thread = threading.Thread(target=sleep)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    with other.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    assert time.monotonic() - started < 0.3  # not queued behind the sleep
    thread.join(10)
    assert result and 0.45 <= result[0] < 5
