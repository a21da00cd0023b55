"""Value encoding (rows.py), parameter decoding (params.py), credentials (auth.py) and the
column-definition cache (columns.py), below the connection."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marmotdb.errors import ProtocolError
from marmotdb.mysql import auth, columns, params, rows
from marmotdb.mysql.types import Column, ColumnFlag, FieldType, int_column, text_column


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (0.5, "0.5"), (-2.25, "-2.25"), (1e20, "1e20"), (1.5e-7, "1.5e-07"),
    (0.1 + 0.2, "0.30000000000000004"), (123456789012345.0, "123456789012345"),
])
def test_format_double(value, text):
    assert rows.format_double(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_double_round_trips(value):
    assert float(rows.format_double(value)) == value


@pytest.mark.parametrize(("value", "text"), [
    (dt.timedelta(hours=1, minutes=2, seconds=3), "01:02:03"),
    (dt.timedelta(hours=-30, minutes=-5), "-30:05:00"),
    (dt.timedelta(days=34, hours=22, microseconds=5), "838:00:00.000005"),
    (dt.timedelta(0), "00:00:00"),
])
def test_format_timedelta(value, text):
    assert rows.format_timedelta(value) == text


@pytest.mark.parametrize(("value", "text"), [
    ("é", "é".encode()), (7, b"7"), (True, b"1"), (Decimal("1E+2"), b"100"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 6), b"2024-01-02 03:04:05.000006"),
    (dt.datetime(2024, 1, 2, tzinfo=dt.UTC), b"2024-01-02 00:00:00"),
    (dt.date(2024, 1, 2), b"2024-01-02"), (dt.time(1, 2, 3), b"01:02:03"),
    (bytearray(b"\x00"), b"\x00"), (memoryview(b"ab"), b"ab"),
])
def test_text_of(value, text):
    assert rows.text_of(value) == text


@pytest.mark.parametrize(("value", "wire"), [
    ("0000-00-00 00:00:00", b"\x00"),
    ("2024-02-29", b"\x04" + struct.pack("<HBB", 2024, 2, 29)),
    ("2024-02-29 01:02:03", b"\x07" + struct.pack("<HBBBBB", 2024, 2, 29, 1, 2, 3)),
    ("2024-02-29 01:02:03.000001",
     b"\x0b" + struct.pack("<HBBBBBI", 2024, 2, 29, 1, 2, 3, 1)),
])
def test_binary_datetime_forms(value, wire):
    _, encoded = rows.encode_rows([Column("d", FieldType.DATETIME)], [(value,)], binary=True)
    assert encoded[0] == b"\x00\x00" + wire


@pytest.mark.parametrize(("value", "wire"), [
    ("00:00:00", b"\x00"),
    ("-25:00:01", b"\x08" + struct.pack("<BIBBB", 1, 1, 1, 0, 1)),
    ("01:02:03.5", b"\x0c" + struct.pack("<BIBBBI", 0, 0, 1, 2, 3, 500000)),
    (dt.timedelta(days=-1), b"\x08" + struct.pack("<BIBBB", 1, 1, 0, 0, 0)),
])
def test_binary_time_forms(value, wire):
    _, encoded = rows.encode_rows([Column("t", FieldType.TIME)], [(value,)], binary=True)
    assert encoded[0] == b"\x00\x00" + wire


def test_null_bitmap_has_offset_two():
    cols = [int_column(f"c{i}") for i in range(7)]
    _, encoded = rows.encode_rows(cols, [(None, 1, None, 1, 1, 1, None)], binary=True)
    # bits 2, 4 and 8 (columns 0, 2, 6): 0b00010100, 0b00000001
    assert encoded[0][:3] == b"\x00\x14\x01"


@pytest.mark.parametrize(("value", "wider", "unsigned"), [
    (2**63, FieldType.LONGLONG, True), (-(2**40), FieldType.LONGLONG, False),
    (2**70, FieldType.NEWDECIMAL, False), (2.5, FieldType.DOUBLE, False),
    ("1.5", FieldType.DOUBLE, False), ("abc", FieldType.VAR_STRING, False),
    (b"\x01", FieldType.VAR_STRING, False),
])
def test_integer_column_widening(value, wider, unsigned):
    block, _ = rows.encode_rows([Column("i", FieldType.LONG)], [(value,)], binary=True)
    col = block.columns[0]
    assert col.type == wider
    assert bool(col.flags & ColumnFlag.UNSIGNED) == unsigned


def test_widening_keeps_the_callers_columns_untouched():
    cols = [int_column("i")]
    rows.encode_rows(cols, [("abc",)], binary=False)
    assert cols[0].type == FieldType.LONGLONG


def test_lossless_conversions_keep_the_declared_type():
    cols = [int_column("i"), Column("f", FieldType.FLOAT), Column("d", FieldType.NEWDECIMAL)]
    block, encoded = rows.encode_rows(cols, [(3.0, "2.5", 1.1)], binary=True)
    assert [c.type for c in block.columns] == [FieldType.LONGLONG, FieldType.FLOAT,
                                               FieldType.NEWDECIMAL]
    assert encoded[0] == (b"\x00\x00" + struct.pack("<q", 3) + struct.pack("<f", 2.5)
                          + b"\x031.1")


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize(("bits", "value", "wire"), [
    (1, 1, b"\x01\x01"), (8, 5, b"\x01\x05"), (10, 0x2FF, b"\x02\x02\xff"),
    (64, 1, b"\x08" + bytes(7) + b"\x01"),
    # 2^64-1 as rows written before sql/types/uint64.py's BLOB kept it
    (64, -1, b"\x08" + b"\xff" * 8),
    (64, -(2**63), b"\x08\x80" + bytes(7)), (16, b"\x01", b"\x02\x00\x01"),
    (64, b"\x80" + bytes(6) + b"\x01", b"\x08\x80" + bytes(6) + b"\x01"),  # stored from 2^63

])
def test_bit_values_are_big_endian_bytes_in_both_protocols(bits, value, wire, binary):
    block, encoded = rows.encode_rows([Column("b", FieldType.BIT, bits)], [(value,)], binary)
    assert block.columns[0].type == FieldType.BIT
    assert encoded[0] == (b"\x00\x00" + wire if binary else wire)


def test_bit_value_wider_than_its_column_is_announced_as_an_integer():
    block, encoded = rows.encode_rows([Column("b", FieldType.BIT, 8)], [(300,)], binary=False)
    assert block.columns[0].type == FieldType.LONGLONG and encoded[0] == b"\x03300"


# --- parameter decoding -----------------------------------------------------------------------


@pytest.mark.parametrize(("key", "raw", "value"), [
    ((FieldType.TINY, False), b"\xff", -1), ((FieldType.TINY, True), b"\xff", 255),
    ((FieldType.SHORT, False), b"\x00\x80", -32768), ((FieldType.YEAR, True), b"\xe8\x07", 2024),
    ((FieldType.LONG, True), b"\xff\xff\xff\xff", 2**32 - 1),
    ((FieldType.FLOAT, False), struct.pack("<f", 0.5), 0.5),
    ((FieldType.NEWDECIMAL, False), b"\x04-1.5", Decimal("-1.5")),
    ((FieldType.DECIMAL, False), b"\x03abc", "abc"),
    ((FieldType.DATE, False), b"\x00", "0000-00-00"),
    ((FieldType.DATETIME, False), b"\x04\xe8\x07\x01\x02", "2024-01-02 00:00:00"),
    ((FieldType.TIME, False), b"\x00", "00:00:00"),
    ((FieldType.STRING, False), b"\x02\xff\xfe", b"\xff\xfe"),  # not UTF-8: kept as bytes
    ((FieldType.JSON, False), b"\x02{}", "{}"),
    ((FieldType.BIT, False), b"\x01\x05", b"\x05"),
])
def test_param_readers(key, raw, value):
    assert params.READERS[key](raw + b"tail", 0) == (value, len(raw))


@pytest.mark.parametrize(("key", "raw"), [
    ((FieldType.LONGLONG, False), b"\x01\x02"), ((FieldType.DATE, False), b"\x05\x01"),
    ((FieldType.DATETIME, False), b"\x05" + bytes(5)), ((FieldType.TIME, False), b"\x03abc"),
    ((FieldType.VAR_STRING, False), b"\x09abc"),
])
def test_param_readers_refuse_truncated_or_malformed(key, raw):
    with pytest.raises(ProtocolError) as info:
        params.READERS[key](raw, 0)
    assert info.value.code == 1835


def test_unknown_parameter_type_is_malformed():
    with pytest.raises(ProtocolError):
        params.decode_params(b"\x00", 0, [(0x42, False)], b"\x00", {})


# --- credentials ------------------------------------------------------------------------------


def test_credential_holds_no_plaintext_and_verifies_every_form():
    text = auth.make_credential("hunter2", iterations=1000)
    assert "hunter2" not in text and b"hunter2".hex() not in text
    cred = auth.parse_credential(text)
    assert cred is not None and cred.accepts_plugin(auth.NATIVE)
    scramble = b"0123456789abcdefghij"
    assert auth.verify_native(cred, scramble, auth.scramble_native("hunter2", scramble))
    assert not auth.verify_native(cred, scramble, auth.scramble_native("hunter3", scramble))
    assert auth.verify_caching_sha2_fast(
        cred, scramble, auth.scramble_caching_sha2("hunter2", scramble))
    assert not auth.verify_caching_sha2_fast(cred, scramble, b"x" * 32)
    assert auth.verify_cleartext(cred, b"hunter2")
    assert not auth.verify_cleartext(cred, b"hunter")


def test_salts_differ_and_plugins_are_checked():
    assert auth.make_credential("pw", iterations=10) != auth.make_credential("pw", iterations=10)
    only_native = auth.parse_credential(auth.make_credential("pw", auth.NATIVE, iterations=10))
    assert only_native is not None
    assert only_native.accepts_plugin(auth.NATIVE)
    assert not only_native.accepts_plugin(auth.CACHING_SHA2)
    with pytest.raises(ValueError):
        auth.make_credential("pw", "dialog")


@pytest.mark.parametrize("text", ["", "plaintext", "marmot1$*$zz$$0$$", "marmot2$*$$$0$$"])
def test_malformed_credentials_mean_no_user(text):
    assert auth.parse_credential(text) is None


# --- the column-definition cache ----------------------------------------------------------------


def test_column_cache_by_identity_and_by_value():
    cols = [int_column("id"), text_column("name")]
    block = columns.column_block(cols)
    assert columns.column_block(cols) is block
    rebuilt = [int_column("id"), text_column("name")]
    assert columns.column_block(rebuilt) is block  # equal columns share the encoding
    other = columns.column_block([int_column("id"), text_column("other")])
    assert other is not block and other.definitions[1] != block.definitions[1]


def test_column_cache_is_bounded():
    for i in range(columns.COLUMN_CACHE_ENTRIES_MAX + 50):
        columns.column_block([int_column(f"c{i}")])
    assert len(columns._by_value) <= columns.COLUMN_CACHE_ENTRIES_MAX
    assert len(columns._by_identity) <= columns.COLUMN_CACHE_ENTRIES_MAX


def test_column_definition_layout():
    col = Column("name", FieldType.VAR_STRING, length=1020, flags=1, charset=255, table="t",
                 org_table="t", org_name="name", schema="db")
    payload = columns.encode_column(col)
    assert payload.startswith(b"\x03def\x02db\x01t\x01t\x04name\x04name\x0c")
    assert payload[-13:] == struct.pack("<BHIBHBxx", 0x0C, 255, 1020, 0xFD, 1, 0)


def test_a_column_name_keeps_the_clients_non_utf8_bytes():
    """``SELECT 'é'`` from a latin1 client: the name is the literal's text, decoded with
    surrogateescape like the whole query; its bytes go back unchanged (was an internal error)."""
    name = b"'\xe9'".decode("utf-8", "surrogateescape")
    payload = columns.encode_column(text_column(name))
    assert b"\x03'\xe9'" in payload


# A FLOAT column's text as MariaDB 10.11 / MySQL 8 send it (my_gcvt: FLT_DIG digits, plain form
# up to MAX_FLOAT_STR_LENGTH characters), for the single-precision value the column holds.
@pytest.mark.parametrize("stored, text", [
    (15.7563827, "15.7564"), (123456789, "123457000"), (1e20, "1e20"),
    (0.000001234567, "0.00000123457"), (1.1, "1.1"), (1e15, "1e15"), (1e14, "100000000000000"),
    (100000000000, "100000000000"), (1e-5, "0.00001"), (1e-7, "0.0000001"),
    (999999.5, "1000000"), (-123456.7, "-123457"), (99999.95, "100000"), (3.4e38, "3.4e38"),
    (12345678901, "12345700000"), (1e-20, "1e-20"), (0.0, "0"),
])
def test_float_text_has_six_significant_digits(stored, text):
    single = struct.unpack("<f", struct.pack("<f", stored))[0]
    assert rows.format_float(single) == text
