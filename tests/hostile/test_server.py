"""Hostile clients against a real ``marmotdb serve`` process: the multi-statement rule,
errors that never carry Python text, throttled logins that do not stall other clients, and
unauthenticated sockets that cannot make the server buffer."""

from __future__ import annotations

import re
import socket
import struct
import threading
import time

import pymysql
import pytest
from pymysql.constants import CLIENT, COMMAND

from tests.integration.server import MarmotServer

pytestmark = pytest.mark.integration
INCIDENT = re.compile(r"incident (\d+-\d+)\)")


def connect(marmot: MarmotServer, **kwargs) -> pymysql.connections.Connection:
    kwargs.setdefault("user", marmot.user)
    kwargs.setdefault("password", marmot.password)
    return pymysql.connect(host=marmot.host, port=marmot.port, ssl_disabled=True,
                           connect_timeout=5, read_timeout=20, **kwargs)


def error_of(cursor, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        cursor.execute(sql)
    return info.value.args[0], info.value.args[1]


@pytest.fixture(scope="module")
def shop(marmot):
    with connect(marmot) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS shop")
        cur.execute("USE shop")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, n INT)")
    return "shop"


def test_several_statements_need_client_multi_statements(marmot, shop):
    with connect(marmot, database=shop) as conn, conn.cursor() as cur:
        code, message = error_of(cur, "SELECT 1; DROP TABLE t")
        assert code == 1064 and "DROP TABLE t" in message
        cur.execute("SELECT COUNT(*) FROM t")  # the table is still there
        cur.execute("SELECT 1;")  # one statement with a trailing ';' is fine
        conn._execute_command(COMMAND.COM_SET_OPTION, b"\x00\x00")  # MULTI_STATEMENTS_ON
        assert conn._read_packet().is_eof_packet()
        cur.execute("SELECT 1; SELECT 2")
        assert cur.fetchall() == ((1,),) and cur.nextset() and cur.fetchall() == ((2,),)
        conn._execute_command(COMMAND.COM_SET_OPTION, b"\x01\x00")  # MULTI_STATEMENTS_OFF
        assert conn._read_packet().is_eof_packet()
        assert error_of(cur, "SELECT 1; SELECT 2")[0] == 1064
    with connect(marmot, database=shop, client_flag=CLIENT.MULTI_STATEMENTS) as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT 3; SELECT 4")
        assert cur.fetchall() == ((3,),)


def test_internal_errors_reach_the_client_as_1105_with_an_incident_id(marmot, shop):
    with connect(marmot, database=shop) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, b BIGINT)")
        cur.execute("SELECT CAST('1e400' AS SIGNED)")  # clamped with a warning, as MySQL does
        assert cur.fetchall() == ((2**63 - 1,),)
        cases = ["INSERT INTO big VALUES (1, 1e309)",  # an overflowing float into an INT column
                 "SELECT " + "(" * 1000 + "1" + ")" * 1000,  # 1,000-deep nesting
                 "SELECT " + "1+" * 1000 + "1"]
        for sql in cases:
            code, message = error_of(cur, sql)
            assert code in (1105, 1264, 1436, 1064, 1690), (sql, code, message)
            assert "Traceback" not in message and "Error:" not in message
            assert "Infinity" not in message and "recursion" not in message.lower()
            found = INCIDENT.search(message)
            if code in (1105, 1436):
                assert found, message
                log = marmot.stderr_path.read_text(errors="replace")
                assert f"incident {found.group(1)} " in log  # logged, with its traceback
        cur.execute("SELECT 1")  # the connection is still usable
        assert cur.fetchall() == ((1,),)


def test_throttled_login_does_not_stall_other_clients(marmot):
    # Guesses at an account that does not exist: throttled all the same (and a success of
    # root's own would reset root's counter, as in MySQL).
    for _ in range(3):
        with pytest.raises(pymysql.OperationalError) as info:
            connect(marmot, user="mallory", password="guess")
        assert info.value.args[0] == 1045
    latencies: list[float] = []
    stop = threading.Event()

    def watchdog() -> None:
        with connect(marmot) as conn, conn.cursor() as cur:
            while not stop.is_set():
                started = time.perf_counter()
                cur.execute("SELECT 1")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.01)

    thread = threading.Thread(target=watchdog)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(pymysql.OperationalError) as info:
            connect(marmot, user="mallory", password="guess")  # the fourth: after 1 s
        waited = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
    assert info.value.args[0] == 1045
    assert waited >= 0.9
    assert latencies and max(latencies) < 0.25  # the event loop kept serving meanwhile
    connect(marmot).close()  # root from this host is not locked out by another account


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_unauthenticated_sockets_cannot_make_the_server_buffer(marmot):
    before = rss_kib(marmot.pid)
    socks = []
    for _ in range(10):
        sock = socket.create_connection((marmot.host, marmot.port))
        sock.recv(4096)  # the greeting
        sock.sendall(struct.pack("<I", ((16 << 20) - 1) | (1 << 24)))  # announce 16 MiB
        socks.append(sock)
    for sock in socks:
        try:
            for _ in range(16):
                sock.sendall(b"x" * (64 << 10))  # 1 MiB each, if the server took it
        except OSError:
            pass  # reset: the server closed it already
    assert rss_kib(marmot.pid) - before < 8 << 10  # far below 10 x 1 MiB (let alone 16 MiB)
    for sock in socks:  # each got an ERR (or a reset) and was closed
        sock.settimeout(5)
        try:
            answer = sock.recv(4096)
            assert answer == b"" or answer[4] == 0xFF, answer[:16]
        except ConnectionResetError:
            pass
        finally:
            sock.close()
