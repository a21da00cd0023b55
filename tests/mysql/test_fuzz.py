"""Random, truncated and mutated bytes in every phase: ServerConnection never raises, never
loops, and either ends in ERROR/CLOSED or keeps serving (checked with a ping afterwards)."""

from __future__ import annotations

import os
import random
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marmotdb.mysql import auth
from marmotdb.mysql import events as ev
from marmotdb.mysql.connection import ConnectionState, ProtocolSettings, ServerConnection
from marmotdb.mysql.types import ResultSet, int_column, text_column
from tests.mysql.wire_client import (
    BASE_CAPS,
    CLIENT_SSL,
    Pair,
    execute_payload,
    frame,
    logged_in_pair,
)

# MARMOT_FUZZ_EXAMPLES scales every fuzz test up for a long run (default: fast suite).
EXAMPLES = int(os.environ.get("MARMOT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EVENTS_PER_CHUNK_MAX = 200  # far above anything legitimate: more means a loop
SETTINGS = ProtocolSettings(max_allowed_packet_bytes=64 * 1024, max_prepared_stmt_count=8)
COLUMNS = [int_column("id"), text_column("name")]


def answer(server: ServerConnection, event: ev.Event) -> None:
    """Answer like a plausible executor would."""
    if isinstance(event, ev.Authenticated):
        server.accept_login()
    elif isinstance(event, ev.StmtPrepare):
        server.send_prepare_ok(event.stmt_id, COLUMNS, 2)
    elif isinstance(event, ev.StmtExecute):
        server.send_result_set(ResultSet(COLUMNS, [(1, "a"), (None, "b")]), binary=True)
    elif isinstance(event, ev.Query):
        server.send_result_set(ResultSet(COLUMNS, [(2, event.sql[:10])]))
    elif isinstance(event, ev.FieldList):
        server.send_field_list(COLUMNS)
    elif isinstance(event, ev.Statistics):
        server.send_statistics("Uptime: 1")
    elif isinstance(event, (ev.InitDb, ev.Ping, ev.ResetConnection, ev.StmtReset)):
        server.send_ok()


def feed(server: ServerConnection, chunks: list[bytes]) -> None:
    for chunk in chunks:
        server.receive_data(chunk)
        for _ in range(EVENTS_PER_CHUNK_MAX):
            event = server.next_event()
            if event is None:
                break
            answer(server, event)
        else:
            raise AssertionError("next_event kept producing events: a loop")
        server.data_to_send()


def still_serving_or_closed(server: ServerConnection) -> None:
    state = server.state
    if state in (ConnectionState.ERROR, ConnectionState.CLOSED):
        assert server.should_close
        server.receive_data(b"more")  # ignored after the end, never raises
        assert server.next_event() is None
        return
    if state is ConnectionState.COMMAND and server.inbound_buffered_bytes == 0:
        server.receive_data(frame(b"\x0e", 0))
        assert server.next_event() == ev.Ping()
        server.send_ok()
        assert server.data_to_send().startswith(b"\x07\x00\x00\x01\x00")


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return [piece for piece in pieces if piece]


CUTS = st.lists(st.integers(0, 10_000), max_size=6)


@FUZZ
@given(st.binary(max_size=400), CUTS)
def test_garbage_before_the_handshake(data, cuts):
    server = ServerConnection(connection_id=1, rng=random.Random(0),
                              lookup_user={}.get, settings=SETTINGS)
    server.data_to_send()
    feed(server, chunked(data, cuts))
    assert server.state in (ConnectionState.GREETED, ConnectionState.ERROR,
                            ConnectionState.CLOSED, ConnectionState.AUTHENTICATING)
    still_serving_or_closed(server)


def _valid_login_body(scramble: bytes) -> bytes:
    answer_bytes = auth.scramble_caching_sha2("pw", scramble)
    return (struct.pack("<IIB", BASE_CAPS, 1 << 24, 255) + bytes(23) + b"app\x00"
            + bytes([len(answer_bytes)]) + answer_bytes + b"caching_sha2_password\x00"
            + b"\x0a\x03_os\x05linux")


def mutate(data: bytes, draw) -> bytes:
    """One of: truncate, flip bytes, insert bytes, or keep."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "keep"]))
    if not data or kind == "keep":
        return data
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return data[:pos]
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]
    return data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]


@FUZZ
@given(st.data())
def test_mutated_handshake_response(data):
    pair = Pair({"app": auth.make_credential("pw", iterations=1000)}, settings=SETTINGS)
    scramble = pair.greet().scramble
    body = mutate(_valid_login_body(scramble), data.draw)
    seq = data.draw(st.sampled_from([1, 1, 1, 0, 2]))
    feed(pair.server, chunked(frame(body, seq), data.draw(CUTS)))
    still_serving_or_closed(pair.server)


@settings(max_examples=max(60, EXAMPLES // 5), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=600), CUTS)
def test_garbage_inside_tls(tls_contexts, garbage, cuts):
    server_ctx, _ = tls_contexts
    pair = Pair({}, ssl_server=server_ctx, settings=SETTINGS)
    pair.greet()
    ssl_request = struct.pack("<IIB", BASE_CAPS | CLIENT_SSL, 1 << 24, 255) + bytes(23)
    feed(pair.server, chunked(frame(ssl_request, 1) + garbage, cuts))
    still_serving_or_closed(pair.server)


def command_corpus(stmt_id: int) -> list[bytes]:
    return [
        b"\x03SELECT 1", b"\x02db", b"\x0e", b"\x04tbl\x00%", b"\x09", b"\x1f", b"\x01",
        b"\x16SELECT ?, ?",
        execute_payload(stmt_id, [1, "two"]),
        execute_payload(stmt_id, [None, b"x"], send_types=False),
        b"\x18" + struct.pack("<IH", stmt_id, 1) + b"longdata",
        b"\x19" + struct.pack("<I", stmt_id), b"\x1a" + struct.pack("<I", stmt_id),
        b"\x1c" + struct.pack("<II", stmt_id, 1), b"\x1b\x00\x00",
        b"\x11app\x00\x14" + bytes(20) + b"db\x00\xff\x00caching_sha2_password\x00",
        b"\x05x", b"\xff",
    ]


@FUZZ
@given(st.data())
def test_mutated_commands(data):
    pair = logged_in_pair("pw", settings=SETTINGS)
    pair.command(b"\x16SELECT ?, ?")
    stmt_id = pair.events[-1].stmt_id
    pair.server.send_prepare_ok(stmt_id, COLUMNS, 2)
    pair.server.data_to_send()
    corpus = command_corpus(stmt_id)
    stream = b""
    for _ in range(data.draw(st.integers(1, 4))):
        body = mutate(data.draw(st.sampled_from(corpus)), data.draw)
        seq = data.draw(st.sampled_from([0, 0, 0, 0, 1, 255]))
        stream += frame(body, seq)
    if data.draw(st.booleans()):
        stream += data.draw(st.binary(max_size=40))
    feed(pair.server, chunked(stream, data.draw(CUTS)))
    still_serving_or_closed(pair.server)


@FUZZ
@given(st.binary(max_size=300), CUTS)
def test_raw_garbage_in_the_command_phase(garbage, cuts):
    pair = logged_in_pair("pw", settings=SETTINGS)
    feed(pair.server, chunked(garbage, cuts))
    still_serving_or_closed(pair.server)


@settings(max_examples=max(100, EXAMPLES // 3), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_garbage_during_rsa_full_auth(rsa_key, garbage):
    pair = Pair({"app": auth.make_credential("pw", iterations=1000)}, rsa_key=rsa_key,
                settings=ProtocolSettings(caching_sha2_fast_path=False))
    pair.login("app", "pw")
    pair.server.data_to_send()
    pair.client.seq = 3
    feed(pair.server, [frame(garbage, 3)])
    still_serving_or_closed(pair.server)
    assert pair.server.state is not ConnectionState.LOGIN_PENDING or garbage == b""
