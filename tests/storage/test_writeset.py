"""Write-set format: lossless round trip, clear errors for corrupt, truncated or foreign input."""

from __future__ import annotations

import math
import struct
import zlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marmotdb.errors import StorageError
from marmotdb.hlc import Timestamp
from marmotdb.storage.schema import TableSchema
from marmotdb.storage import writeset
from marmotdb.storage.writeset import (
    FORMAT_VERSION,
    ChangeOp,
    RowChange,
    SchemaChange,
    WriteSet,
    decode_write_set,
    encode_write_set,
)
from tests.storage.examples import property_settings

TABLE = TableSchema("t", ("id", "v", "w"), (0,))
LOOSE = TableSchema("loose", ("a", "b"), ())


def sample() -> WriteSet:
    changes = [
        RowChange("t", ChangeOp.INSERT, None, (1,), None, (1, "x", b"\x00")),
        RowChange("t", ChangeOp.UPDATE, (1,), (2,), (1, "x", b"\x00"), (2, -0.0, math.inf),
                  Timestamp(5, 1, 3)),
        RowChange("loose", ChangeOp.DELETE, (7,), None, (2**63 - 1, None), None),
    ]
    return WriteSet(Timestamp(100, 0, 2), 2, 41, Timestamp(101, 3, 2), "shop", 7,
                    [TABLE, LOOSE], changes)


def test_roundtrip_is_lossless():
    write_set = sample()
    decoded = decode_write_set(encode_write_set(write_set))
    assert decoded == write_set
    after = decoded.changes[1].after
    assert math.copysign(1, after[1]) == -1 and after[2] == math.inf
    assert decoded.changes[0].after[2] == b"\x00" and decoded.changes[0].after[1] == "x"
    assert decoded.changes[1].base_version == Timestamp(5, 1, 3)
    assert decoded.version == Timestamp(101, 3, 2)


def test_truncated_input_is_rejected_at_every_length():
    data = encode_write_set(sample())
    for length in range(len(data)):
        with pytest.raises(StorageError):
            decode_write_set(data[:length])


def test_single_bit_flips_are_rejected():
    data = bytearray(encode_write_set(sample()))
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        with pytest.raises(StorageError):
            decode_write_set(bytes(damaged))


def test_unknown_format_version_is_named():
    data = bytearray(encode_write_set(sample()))
    data[2] = FORMAT_VERSION + 1
    with pytest.raises(StorageError, match=f"format version {FORMAT_VERSION + 1} is not supported"):
        decode_write_set(bytes(data))


def test_bad_magic_is_named():
    with pytest.raises(StorageError, match="not a write set"):
        decode_write_set(b"XX" + encode_write_set(sample())[2:])


def _reframe(body: bytes) -> bytes:
    return struct.pack(">2sBI", b"MW", FORMAT_VERSION, zlib.crc32(body)) + body


def _body(write_set: WriteSet) -> bytes:
    return msgspec.msgpack.encode(write_set)


def test_structurally_invalid_sets_are_rejected_even_with_a_valid_checksum():
    cases = []
    bad = sample()
    bad.changes[0] = RowChange("t", ChangeOp.INSERT, (1,), (1,), None, (1, "x", b""))
    cases.append((bad, "wrong keys/images"))
    bad = sample()
    bad.changes[0] = RowChange("nope", ChangeOp.INSERT, None, (1,), None, (1, "x", b""))
    cases.append((bad, "undescribed table"))
    bad = sample()
    bad.changes[0] = RowChange("t", ChangeOp.INSERT, None, (1,), None, (1, "x"))
    cases.append((bad, "image does not hold 3"))
    bad = sample()
    bad.changes[0] = RowChange("t", ChangeOp.INSERT, None, (1, 2), None, (1, "x", b""))
    cases.append((bad, "key .* does not fit"))
    bad = sample()
    bad.commit_ts = Timestamp(101, 3, 9)
    cases.append((bad, "differs from origin"))
    bad = sample()
    bad.tables = [TABLE, TABLE, LOOSE]
    cases.append((bad, "described twice"))
    bad = sample()
    bad.tables = [TableSchema("t", ("id",), (3,)), LOOSE]
    cases.append((bad, "missing column"))
    for write_set, message in cases:
        with pytest.raises(StorageError, match=message):
            decode_write_set(_reframe(_body(write_set)))


def test_wrong_types_are_rejected():
    body = msgspec.msgpack.encode([[1, 2, 3], "not an int", 1])
    with pytest.raises(StorageError, match="write set corrupt"):
        decode_write_set(_reframe(body))
    nested = sample()
    payload = msgspec.to_builtins(nested)
    payload[7][0][5] = [1, {"a": [1]}, 3]  # a map where a SQL value belongs
    with pytest.raises(StorageError, match="does not hold"):
        decode_write_set(_reframe(msgspec.msgpack.encode(payload)))


def test_unknown_op_is_rejected():
    payload = msgspec.to_builtins(sample())
    payload[7][0][1] = 9
    with pytest.raises(StorageError, match="write set corrupt"):
        decode_write_set(_reframe(msgspec.msgpack.encode(payload)))


sql_values = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=20), st.binary(max_size=20))


@st.composite
def write_sets(draw):
    width = draw(st.integers(1, 4))
    key_width = draw(st.integers(0, width))
    schema = TableSchema("t", tuple(f"c{i}" for i in range(width)), tuple(range(key_width)))
    changes = []
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(ChangeOp))
        key = st.tuples(*[sql_values] * (key_width or 1))
        image = st.tuples(*[sql_values] * width)
        old_key = draw(key) if op != ChangeOp.INSERT else None
        new_key = draw(key) if op != ChangeOp.DELETE else None
        before = draw(image) if op != ChangeOp.INSERT else None
        after = draw(image) if op != ChangeOp.DELETE else None
        base = draw(st.none() | st.builds(Timestamp, st.integers(0, 2**40),
                                          st.integers(0, 65535), st.integers(0, 2**32)))
        changes.append(RowChange("t", op, old_key, new_key, before, after, base))
    origin = draw(st.integers(0, 2**63 - 1))
    commit = Timestamp(draw(st.integers(0, 2**47 - 1)), draw(st.integers(0, 65535)), origin)
    return WriteSet(Timestamp(1, 2, origin), origin, draw(st.integers(1, 2**63 - 1)), commit,
                    draw(st.text(max_size=10)), draw(st.integers(0, 2**31)), [schema], changes)


def _typed(write_set: WriteSet):
    def value(v):
        return ("f", v.hex()) if isinstance(v, float) else (type(v).__name__, v)

    return [[tuple(map(value, part)) if part is not None else None
             for part in (c.old_key, c.new_key, c.before, c.after)] for c in write_set.changes]


@property_settings(share=0.2)
@given(write_sets())
def test_property_roundtrip_keeps_every_value_and_type(write_set):
    decoded = decode_write_set(encode_write_set(write_set))
    assert decoded == write_set
    assert _typed(decoded) == _typed(write_set)


@pytest.mark.parametrize("rows", [4097, 9000, 70_000])
def test_a_big_write_set_is_encoded_in_chunks_to_the_same_bytes(rows, monkeypatch):
    changes = [RowChange("t", ChangeOp.UPDATE, (i,), (i,), (i, "a", None), (i, "b", 1.5),
                         Timestamp(5, 1, 3)) for i in range(rows)]
    write_set = WriteSet(Timestamp(100, 0, 2), 2, 41, Timestamp(101, 3, 2), "shop", 7, [TABLE],
                         changes, [SchemaChange(0, "x", ["y"])])
    body = msgspec.msgpack.encode(write_set)
    calls = []
    real = writeset._encoder
    monkeypatch.setattr(writeset, "_encoder", type("Spy", (), {
        "encode": lambda self, value: calls.append(value) or real.encode(value)})())
    encoded = encode_write_set(write_set)
    assert encoded[-len(body):] == body and decode_write_set(encoded) == write_set
    biggest = max(len(c) for c in calls if isinstance(c, list))
    assert biggest <= writeset.ENCODE_CHUNK_ROWS < rows  # never one call for all rows
