"""Statements that can be stopped, and connections that end cleanly, against a real
``marmotdb serve`` process: KILL QUERY and max_execution_time stop SLEEP with MySQL's
answers, a client gone mid-transaction releases its database's write turn at once, an idle
connection gets MySQL 8.0.24's 4031 before it is closed, and FLUSH TABLES WITH READ LOCK is
refused rather than answered with an OK that locks nothing."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pymysql
import pytest

from tests.integration.server import MarmotServer, start_marmot_server

pytestmark = pytest.mark.integration


def connect(marmot: MarmotServer, **kwargs) -> pymysql.connections.Connection:
    return pymysql.connect(host=marmot.host, port=marmot.port, user=marmot.user,
                           password=marmot.password, ssl_disabled=True, connect_timeout=5,
                           read_timeout=30, **kwargs)


@pytest.fixture(scope="module")
def db(marmot):
    with connect(marmot) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS stops")
        cur.execute("CREATE TABLE stops.t (id INT PRIMARY KEY, n INT)")
    return "stops"


def own_id(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        return cur.fetchall()[0][0]


def kill_query_later(marmot, connection_id: int, delay_s: float) -> threading.Thread:
    def kill() -> None:
        time.sleep(delay_s)
        with connect(marmot) as admin, admin.cursor() as cur:
            cur.execute(f"KILL QUERY {connection_id}")
    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def test_kill_query_stops_sleep(marmot):
    with connect(marmot) as conn, conn.cursor() as cur:
        killer = kill_query_later(marmot, own_id(conn), 0.5)
        started = time.monotonic()
        cur.execute("SELECT SLEEP(20)")  # only SLEEP: MySQL answers 1, no error
        assert cur.fetchall() == ((1,),) and time.monotonic() - started < 5
        killer.join()
        killer = kill_query_later(marmot, own_id(conn), 0.5)
        started = time.monotonic()
        with pytest.raises(pymysql.MySQLError) as info:
            cur.execute("SELECT SLEEP(20), 2")
        assert info.value.args[0] == 1317 and time.monotonic() - started < 5
        killer.join()
        cur.execute("SELECT 3")  # the connection goes on
        assert cur.fetchall() == ((3,),)


def test_max_execution_time_stops_sleep(marmot):
    with connect(marmot) as conn, conn.cursor() as cur:
        cur.execute("SET max_execution_time = 300")
        started = time.monotonic()
        cur.execute("SELECT SLEEP(20)")
        assert cur.fetchall() == ((1,),) and time.monotonic() - started < 5
        with pytest.raises(pymysql.MySQLError) as info:
            cur.execute("SELECT SLEEP(10) FROM (SELECT 1 UNION ALL SELECT 2) AS two")
        assert info.value.args[0] == 3024 and time.monotonic() - started < 5


def test_a_max_execution_time_hint_limits_one_select(marmot):
    with connect(marmot) as conn, conn.cursor() as cur:
        started = time.monotonic()
        with pytest.raises(pymysql.MySQLError) as info:
            cur.execute("SELECT /*+ MAX_EXECUTION_TIME(300) */ SLEEP(10) "
                        "FROM (SELECT 1 UNION ALL SELECT 2) AS two")
        assert info.value.args[0] == 3024 and time.monotonic() - started < 5
        cur.execute("SET max_execution_time = 300")  # the hint replaces the session's limit
        started = time.monotonic()
        cur.execute("SELECT /*+ MAX_EXECUTION_TIME(0) */ SLEEP(1)")
        assert cur.fetchall() == ((0,),) and time.monotonic() - started >= 0.9


def test_a_client_gone_mid_transaction_releases_its_write_turn_at_once(marmot, db):
    gone = connect(marmot, database=db)
    with gone.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO t VALUES (1, 1)")
    gone._execute_command(3, "SELECT SLEEP(60)")  # and the client vanishes mid-statement
    gone._sock.shutdown(socket.SHUT_RDWR)  # (PyMySQL's reader file keeps the fd open)
    gone._sock.close()
    with connect(marmot, database=db) as other, other.cursor() as cur:
        cur.execute("SET innodb_lock_wait_timeout = 3")
        started = time.monotonic()
        cur.execute("INSERT INTO t VALUES (1, 2)")  # id 1 was never committed: no duplicate
        other.commit()
        assert time.monotonic() - started < 2
        cur.execute("SELECT n FROM t WHERE id = 1")
        assert cur.fetchall() == ((2,),)


def test_idle_connection_gets_4031_before_it_is_closed(marmot):
    conn = connect(marmot)
    with conn.cursor() as cur:
        cur.execute("SET SESSION wait_timeout = 1")
    sock: socket.socket = conn._sock
    sock.settimeout(5)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    length = struct.unpack("<I", data[:4])[0] & 0xFFFFFF
    payload = data[4:4 + length]
    assert payload[0] == 0xFF and struct.unpack("<H", payload[1:3])[0] == 4031
    assert b"inactivity" in payload and data[3] == 0  # sequence id 0, then the close
    sock.close()


def test_flush_tables_with_read_lock_is_refused_not_faked(marmot):
    with connect(marmot) as conn, conn.cursor() as cur:
        for statement in ("FLUSH TABLES WITH READ LOCK", "flush tables stops.t with read lock",
                          "FLUSH TABLES stops.t FOR EXPORT"):
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute(statement)
            assert info.value.args[0] == 1235, statement
        cur.execute("FLUSH TABLES")  # no cache to flush: still an OK
        cur.execute("FLUSH PRIVILEGES")


@pytest.fixture(scope="module")
def one_reader(tmp_path_factory):
    """A server with one read thread, so a second long read waits for it."""
    server = start_marmot_server(tmp_path_factory.mktemp("one-reader"),
                                 env={"MARMOTDB_SQL_READ_THREADS": "1"})
    yield server
    server.stop()


LONG_READ = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE "
             "x < 30000000) SELECT COUNT(*) FROM c")


def test_kill_query_stops_a_read_still_waiting_for_a_worker(one_reader):
    outcomes: dict[str, object] = {}

    def run(name: str, conn) -> None:
        started = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute(LONG_READ)
                outcomes[name] = cur.fetchall()
        except pymysql.MySQLError as exc:
            outcomes[name] = exc.args[0]
        outcomes[name + "_s"] = time.monotonic() - started

    first, second = connect(one_reader), connect(one_reader)
    first_id, second_id = own_id(first), own_id(second)
    threads = [threading.Thread(target=run, args=("first", first)),
               threading.Thread(target=run, args=("second", second))]
    threads[0].start()
    time.sleep(0.5)  # the first holds the only read thread
    threads[1].start()
    time.sleep(0.3)  # the second waits for it
    with connect(one_reader) as admin, admin.cursor() as cur:
        cur.execute(f"KILL QUERY {second_id}")
        cur.execute(f"KILL QUERY {first_id}")  # (ends the first too: be quick)
    for thread in threads:
        thread.join(60)
    assert outcomes["second"] == 1317, outcomes
    assert outcomes["first"] == 1317
    assert outcomes["second_s"] < 5, outcomes  # it never ran its 30M-row count
    first.close()
    second.close()
