"""Memory a client can make the server hold, before and after login (the protocol machine
alone, in memory: no sockets)."""

from __future__ import annotations

import struct

from marmotdb.mysql import auth
from marmotdb.mysql import events as ev
from marmotdb.mysql.connection import ConnectionState, ProtocolSettings
from tests.mysql.wire_client import Pair, execute_payload, frame, logged_in_pair, parse_err

KIB = 1024


def test_unauthenticated_client_cannot_announce_a_large_packet():
    pair = Pair({"app": auth.make_credential("pw", iterations=1000)})
    pair.greet()
    header = struct.pack("<I", (16 << 20) - 1 | (1 << 24))  # "16 MiB follow"
    events = pair.to_server(header + b"x" * (64 * KIB))
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert pair.server.should_close
    pair.client.seq = 2  # the ERR answers the offending packet (seq 1)
    assert parse_err(pair.read()).error_code in (1043, 1153)
    pair.server.receive_data(b"x" * (1 << 20))  # ignored once failed
    assert pair.server.inbound_buffered_bytes <= 80 * KIB


def test_unauthenticated_client_cannot_pile_up_small_packets():
    # Authenticated but not yet accepted (LOGIN_PENDING): nothing is parsed, so bytes pile up.
    pair = Pair({"app": auth.make_credential("pw", iterations=1000)})
    events = pair.login("app", "pw")
    assert isinstance(events[-1], ev.Authenticated)
    for _ in range(64):
        pair.server.receive_data(frame(b"\x03SELECT 1", 0) * 100)
    assert pair.server.inbound_buffered_bytes <= 32 * KIB
    pair.server.accept_login()
    closed = pair.drain()
    assert isinstance(closed[-1], ev.ConnectionClosed)
    assert pair.server.state is ConnectionState.ERROR


SMALL = ProtocolSettings(max_allowed_packet_bytes=64 * KIB, input_buffer_bytes_max=32 * KIB,
                         long_data_bytes_max=48 * KIB)


def test_pipelined_commands_behind_a_pending_answer_are_bounded():
    pair = logged_in_pair(settings=SMALL)
    assert isinstance(pair.command(b"\x03SELECT SLEEP(10)")[-1], ev.Query)  # answer pending
    query = frame(b"\x03SELECT 1", 0)
    pair.server.receive_data(query * 1000)  # 13 KB: under the bound
    assert not pair.server.input_buffer_full
    pair.server.receive_data(query * 2000)  # 39 KB: the runtime should stop reading
    assert pair.server.input_buffer_full
    for _ in range(100):  # a runtime that does not pause: the connection ends, memory doesn't grow
        pair.server.receive_data(query * 1000)
    assert pair.server.inbound_buffered_bytes <= SMALL.input_buffer_bytes_max \
        + SMALL.max_allowed_packet_bytes + 16 * KIB
    pair.server.send_ok()
    closed = pair.drain()
    assert isinstance(closed[-1], ev.ConnectionClosed)
    assert closed[-1].error.code == 1041


def test_input_buffer_full_clears_when_the_answer_is_sent():
    pair = logged_in_pair(settings=SMALL)
    pair.command(b"\x03SELECT SLEEP(10)")
    pair.server.receive_data(frame(b"\x0e", 0) * 7000)  # 35 KB of COM_PING
    assert pair.server.input_buffer_full
    pair.server.send_ok()
    for _ in range(7000):
        event = pair.server.next_event()
        assert isinstance(event, ev.Ping)
        pair.server.send_ok()
    assert not pair.server.input_buffer_full and pair.server.inbound_buffered_bytes == 0


def _prepared(pair: Pair, sql: bytes = b"\x16SELECT ?") -> int:
    event = pair.command(sql)[-1]
    pair.server.send_prepare_ok(event.stmt_id, [], 1)
    pair.server.data_to_send()
    return event.stmt_id


def test_long_data_is_bounded_per_connection():
    pair = logged_in_pair(settings=SMALL)
    first, second = _prepared(pair), _prepared(pair)
    chunk = b"y" * (30 * KIB)  # each under max_allowed_packet, together over long_data_bytes_max
    pair.command(b"\x18" + struct.pack("<IH", first, 0) + chunk)
    pair.command(b"\x18" + struct.pack("<IH", second, 0) + chunk)
    assert pair.server._statements.long_data_bytes <= SMALL.long_data_bytes_max
    assert isinstance(pair.command(execute_payload(first, [None]))[-1], ev.StmtExecute)
    pair.server.send_ok()
    pair.server.data_to_send()
    assert pair.command(execute_payload(second, [None])) == []
    err = parse_err(pair.read())
    assert err.error_code == 1153 and "max_allowed_packet" in err.message
    assert pair.server.state is ConnectionState.COMMAND  # the connection stays usable


def test_long_data_of_closed_statements_is_released():
    pair = logged_in_pair(settings=SMALL)
    for _ in range(10):  # 10 x 30 KB through one 48 KB budget: closing frees it
        stmt_id = _prepared(pair)
        pair.command(b"\x18" + struct.pack("<IH", stmt_id, 0) + b"z" * (30 * KIB))
        pair.command(b"\x19" + struct.pack("<I", stmt_id))
    assert pair.server._statements.long_data_bytes == 0


def test_max_allowed_packet_applies_after_login():
    pair = logged_in_pair(settings=SMALL)
    events = pair.command(b"\x03" + b"x" * (65 * KIB))
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(pair.read()).error_code == 1153
