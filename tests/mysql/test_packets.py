"""Framing, the packet reader, length-encoded values and generic payloads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marmotdb.errors import PacketTooLarge, ProtocolError
from marmotdb.mysql import events as ev
from marmotdb.mysql import packets as p
from marmotdb.mysql.connection import ConnectionState, ProtocolSettings
from tests.mysql import wire_client as wc
from tests.mysql.wire_client import logged_in_pair, parse_err


@pytest.mark.parametrize("size", [0, 1, 250, 0xFFFFFE, 0xFFFFFF, 0xFFFFFF + 1,
                                  2 * 0xFFFFFF, 2 * 0xFFFFFF + 7])
def test_frame_and_reader_round_trip(size):
    payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    data, next_seq = p.frame(payload, 250)
    packets = size // 0xFFFFFF + 1
    assert next_seq == (250 + packets) & 0xFF
    assert len(data) == size + 4 * packets
    assert data == wc.frame(payload, 250)  # the independent client framing agrees
    reader = p.PacketReader(max_allowed_packet_bytes=64 << 20)
    reader.feed(data)
    assert reader.next_packet() == (250, (250 + packets - 1) & 0xFF, payload)
    assert reader.next_packet() is None


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.data())
@settings(max_examples=100, deadline=None)
def test_reader_reassembles_arbitrary_chunking(payloads, data):
    stream = b"".join(p.frame(pl, i)[0] for i, pl in enumerate(payloads))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = p.PacketReader()
    got = []
    start = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[start:cut])
        start = cut
        while (packet := reader.next_packet()) is not None:
            got.append(packet[2])
    assert got == payloads


def test_max_allowed_packet_is_enforced_from_the_header():
    reader = p.PacketReader(max_allowed_packet_bytes=1000)
    reader.feed(b"\xe9\x03\x00\x00")  # announces 1001 bytes; none of them sent yet
    with pytest.raises(PacketTooLarge) as info:
        reader.next_packet()
    assert info.value.code == 1153
    assert "max_allowed_packet" in info.value.message


def test_max_allowed_packet_counts_all_fragments():
    reader = p.PacketReader(max_allowed_packet_bytes=0xFFFFFF + 10)
    data, _ = p.frame(b"a" * (0xFFFFFF + 11), 0)
    reader.feed(data)
    with pytest.raises(PacketTooLarge):
        reader.next_packet()


def test_fragments_out_of_sequence_are_refused():
    reader = p.PacketReader()
    reader.feed(b"\xff\xff\xff\x00" + bytes(0xFFFFFF) + b"\x01\x00\x00\x05x")
    with pytest.raises(ProtocolError):
        reader.next_packet()


def test_over_16mib_query_round_trips_through_the_connection():
    pair = logged_in_pair(settings=ProtocolSettings(max_allowed_packet_bytes=40 << 20))
    sql = "SELECT '" + "x" * (0xFFFFFF * 2) + "'"
    assert pair.command(b"\x03" + sql.encode()) == [ev.Query(sql)]
    pair.server.send_ok()
    assert pair.read_result().kind == "ok"  # sequence ids continued across the fragments


def test_query_bigger_than_max_allowed_packet_gets_1153_and_closes():
    pair = logged_in_pair(settings=ProtocolSettings(max_allowed_packet_bytes=1 << 20))
    events = pair.command(b"\x03" + b"x" * (2 << 20))
    assert isinstance(events[-1], ev.ConnectionClosed)
    err = parse_err(pair.read())
    assert err.error_code == 1153 and err.sqlstate == "08S01"
    assert pair.server.state is ConnectionState.ERROR


def test_wrong_sequence_id_is_an_error():
    pair = logged_in_pair()
    events = pair.to_server(wc.frame(b"\x03SELECT 1", 5))
    assert isinstance(events[-1], ev.ConnectionClosed)
    pair.client.seq = 6  # the ERR answers the offending packet
    err = parse_err(pair.read())
    assert err.error_code == 1156
    assert pair.server.should_close


@given(st.integers(0, 2**64 - 1))
def test_lenenc_int_round_trip(n):
    encoded = p.lenenc_int(n)
    assert encoded == wc.lenenc(n)
    assert p.read_lenenc_int(encoded + b"rest", 0) == (n, len(encoded))


@given(st.binary(max_size=70000))
@settings(max_examples=30)
def test_lenenc_bytes_round_trip(b):
    encoded = p.lenenc_bytes(b)
    assert p.read_lenenc_bytes(encoded, 0) == (b, len(encoded))


@pytest.mark.parametrize("buf", [b"", b"\xfc\x01", b"\xfd\x01\x02", b"\xfe" + bytes(7), b"\xff",
                                 b"\x05abc"])
def test_truncated_lenenc_is_malformed(buf):
    with pytest.raises(ProtocolError) as info:
        p.read_lenenc_bytes(buf, 0)
    assert info.value.code == 1835


def test_ok_err_eof_layouts():
    assert p.ok_payload(1, 2, 3, 4) == b"\x00\x01\x02\x03\x00\x04\x00"
    # info is length-encoded, as MySQL and MariaDB send it (libmariadb reads the length)
    assert p.ok_payload(300, 0, 2, 0, "hi") == b"\x00\xfc\x2c\x01\x00\x02\x00\x00\x00\x02hi"
    assert p.ok_payload(0, 0, 2, 0, header=0xFE)[0] == 0xFE
    assert p.err_payload(1064, "42000", "bad") == b"\xff\x28\x04#42000bad"
    assert p.eof_payload(2, 1) == b"\xfe\x01\x00\x02\x00"
    # an explicit negative AUTO_INCREMENT value: MySQL's unsigned 64-bit two's complement
    assert p.ok_payload(1, -32768, 2, 0) == b"\x00\x01\xfe" + (2**64 - 32768).to_bytes(
        8, "little") + b"\x02\x00\x00\x00"
