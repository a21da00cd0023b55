"""Results bigger than memory, clients that read slowly or not at all, against a real
``marmotdb serve`` process: rows stream in batches as the socket drains, a client that does
not read stops being served (and is closed after net_write_timeout), and a streaming read
can be stopped with MySQL's codes."""

from __future__ import annotations

import threading
import time

import pymysql
import pytest

from tests.hostile.wire import MIB, ReplyReader, rss_bytes, send_query
from tests.integration.server import MarmotServer

pytestmark = pytest.mark.integration
HUGE_ROWS = 300_000
ROW_CHARS = 1000  # ~300 MB of rows in all
HUGE = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < "
        f"{HUGE_ROWS}) SELECT n, REPEAT('x', {ROW_CHARS}) AS pad FROM c")
GROWTH_MAX = 48 * MIB  # a materialised result would cost the server ~10x the result


def connect(marmot: MarmotServer, **kwargs) -> pymysql.connections.Connection:
    return pymysql.connect(host=marmot.host, port=marmot.port, user=marmot.user,
                           password=marmot.password, ssl_disabled=True, connect_timeout=5,
                           read_timeout=30, **kwargs)


def connection_ids(marmot: MarmotServer) -> set[int]:
    with connect(marmot) as conn, conn.cursor() as cur:
        cur.execute("SHOW PROCESSLIST")
        return {row[0] for row in cur.fetchall()}


def wait_until(check, timeout_s: float = 10) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_huge_result_read_slowly_keeps_the_server_small(marmot):
    with connect(marmot) as conn:
        base = rss_bytes(marmot.pid)
        reader = ReplyReader(send_query(conn, HUGE))
        peak = base
        for _ in range(10):  # a slow client: ~1 MB every 0.15 s
            reader.read_some(100_000)
            time.sleep(0.15)
            peak = max(peak, rss_bytes(marmot.pid))
        assert peak - base < GROWTH_MAX, f"server grew {(peak - base) / MIB:.0f} MiB"
        reply = reader.read_all()
        peak = max(peak, rss_bytes(marmot.pid))
        assert reply.error_code is None and reply.rows == HUGE_ROWS
        assert reply.bytes_read > HUGE_ROWS * ROW_CHARS
        assert peak - base < GROWTH_MAX, f"server grew {(peak - base) / MIB:.0f} MiB"
        with conn.cursor() as cur:  # the connection goes on
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)


def test_a_client_that_does_not_read_is_closed_after_net_write_timeout(marmot):
    conn = connect(marmot)
    with conn.cursor() as cur:
        cur.execute("SET net_write_timeout = 1")
        cur.execute("SELECT CONNECTION_ID()")
        (connection_id,), = cur.fetchall()
    base = rss_bytes(marmot.pid)
    send_query(conn, HUGE)  # and never read
    assert wait_until(lambda: connection_id not in connection_ids(marmot), 8)
    assert rss_bytes(marmot.pid) - base < GROWTH_MAX
    conn.close()
    with connect(marmot) as other, other.cursor() as cur:  # the worker was given back
        cur.execute("SELECT COUNT(*) FROM (" + HUGE.replace("1000", "1") + ") AS t")
        assert cur.fetchall() == ((HUGE_ROWS,),)


def test_kill_query_stops_a_streaming_read_with_1317(marmot):
    with connect(marmot) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            (connection_id,), = cur.fetchall()
        reader = ReplyReader(send_query(conn, HUGE))
        reader.read_some(100_000)  # it has started, and the client is slow
        time.sleep(0.3)
        with connect(marmot) as admin, admin.cursor() as cur:
            cur.execute(f"KILL QUERY {connection_id}")
        reply = reader.read_all()
        assert reply.error_code == 1317 and 0 < reply.rows < HUGE_ROWS
        with conn.cursor() as cur:  # KILL QUERY leaves the connection usable
            cur.execute("SELECT 2")
            assert cur.fetchall() == ((2,),)


def test_max_execution_time_stops_a_streaming_read_with_3024(marmot):
    with connect(marmot) as conn:
        with conn.cursor() as cur:
            cur.execute("SET max_execution_time = 500")
        reader = ReplyReader(send_query(conn, HUGE))
        reader.read_some(100_000)
        time.sleep(1.0)  # the client dawdles past the limit
        reply = reader.read_all()
        assert reply.error_code == 3024 and 0 < reply.rows < HUGE_ROWS  # rows went out first
        with conn.cursor() as cur:
            cur.execute("SELECT 3")
            assert cur.fetchall() == ((3,),)


def test_a_client_that_sends_without_reading_is_not_served_unboundedly(marmot):
    conn = connect(marmot)
    base = rss_bytes(marmot.pid)
    sock = send_query(conn, "SELECT REPEAT('y', 100000)")
    query = b"SELECT REPEAT('y', 100000)"
    packet = (len(query) + 1).to_bytes(3, "little") + b"\x00\x03" + query
    sock.setblocking(False)
    sent = 0
    try:
        for _ in range(2000):  # 200 MB of replies asked for, none read
            sent += sock.send(packet)
    except BlockingIOError:
        pass  # the server stopped reading: TCP pushes back
    time.sleep(1.0)
    assert rss_bytes(marmot.pid) - base < GROWTH_MAX
    conn.close()


def test_a_pipelining_client_does_not_hold_the_loop(marmot):
    query = b"SELECT REPEAT('y', 1000)"
    packet = (len(query) + 1).to_bytes(3, "little") + b"\x00\x03" + query
    commands = 40_000
    noisy = connect(marmot)
    sock = noisy._sock
    done = threading.Event()

    def reader() -> None:  # takes every reply as fast as it comes
        sock.settimeout(30)
        received = 0
        while received < commands * 1000:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    latencies_s = []
    with connect(marmot) as watch, watch.cursor() as cur:
        sock.sendall(packet * commands)
        while not done.is_set() and len(latencies_s) < 200:
            started = time.monotonic()
            cur.execute("SELECT 1")
            cur.fetchall()
            latencies_s.append(time.monotonic() - started)
    thread.join(60)
    noisy.close()
    assert len(latencies_s) >= 5
    # Each SELECT 1 waits for at most a few of the other client's commands, never for all
    # those that arrived together (~2.7 s here when one connection ran them all at once).
    assert max(latencies_s) < 0.5, sorted(latencies_s)[-5:]
