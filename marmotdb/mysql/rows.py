"""Result rows on the wire: text rows (COM_QUERY) and binary rows (COM_STMT_EXECUTE).

Theory of operation
-------------------
Each column gets one encoder chosen by its MySQL type; an encoder turns a Python value into
the wire bytes of that column (length-encoded text, or the fixed binary form of the type).
NULL is handled by the row loop (0xFB in text rows, a bit in the binary NULL bitmap).

SQLite is dynamically typed, so a value need not fit its declared column type (a 'abc' in an
INT column, 2.5 from AVG in a BIGINT column, 300 in a TINYINT). Encoders convert where that
is lossless (2.0 -> 2, '42' -> 42, '1.5' -> 1.5, 300 -> widened to BIGINT). When they cannot,
they raise ``ValueMismatch`` naming a wider type; ``encode_rows`` then re-announces that
column with the wider type for this one result (DOUBLE for non-integral numbers, DECIMAL for
integers beyond 64 bits, otherwise VAR_STRING carrying the value's text) and encodes again.
Column definitions precede rows on the wire and the whole result is in hand, so the client
always sees a type that matches every value it decodes; this is the documented choice
instead of sending bytes a driver cannot parse. The common case pays nothing for this.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from marmotdb.mysql.columns import ColumnBlock, column_block
from marmotdb.mysql.packets import lenenc_int
from marmotdb.mysql.types import CHARSET_BINARY, CHARSET_UTF8MB4, Column, ColumnFlag, FieldType

NULL_TEXT = b"\xfb"
_NUM_FLAGS = int(ColumnFlag.NUM | ColumnFlag.BINARY)


class ValueMismatch(Exception):
    """A value that its column's type cannot carry; ``wider`` is the type to announce."""

    def __init__(self, wider: FieldType, unsigned: bool = False):
        super().__init__(wider)
        self.wider = wider
        self.unsigned = unsigned


# --- text forms of values ---------------------------------------------------------------------


def format_double(v: float) -> str:
    """MySQL prints doubles as the shortest round-trip form: 1 not 1.0, 1e20 not 1e+20."""
    text = repr(v)
    if text.endswith(".0"):
        return text[:-2]
    if "e" in text:
        mantissa, exp = text.split("e")
        return mantissa.removesuffix(".0") + "e" + exp.lstrip("+")
    return text


FLOAT_DIGITS = 6  # FLT_DIG: the significant digits MySQL prints of a FLOAT
FLOAT_TEXT_WIDTH = 15  # MAX_FLOAT_STR_LENGTH: wider than this, a FLOAT prints as 1e20


def format_float(v: float) -> str:
    """A FLOAT column's value as MySQL prints it (my_gcvt): 6 significant digits, in plain
    form when that fits 15 characters (15.7564, 123457000, 0.00000123457), else as 1e20,
    1.5e-7; trailing zeros dropped."""
    if v == 0 or v != v or v in (float("inf"), float("-inf")):
        return format_double(v)
    sign = "-" if v < 0 else ""
    mantissa, exponent = f"{abs(v):.{FLOAT_DIGITS - 1}e}".split("e")
    digits = mantissa.replace(".", "").rstrip("0")
    point = int(exponent) + 1  # digits before the decimal point (dtoa's decpt)
    count = len(digits)
    plain_length = count - point + 2 if point <= 0 else count + 1 if point < count else point
    exponent_length = 1 + (point >= 101 or point <= -99) + (point >= 11 or point <= -9)
    force_e = point <= 0 and FLOAT_TEXT_WIDTH <= 2 - point and \
        FLOAT_TEXT_WIDTH >= exponent_length + count + 2
    if not force_e and (plain_length <= FLOAT_TEXT_WIDTH or
                        -1 <= point <= FLOAT_TEXT_WIDTH):
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point < count:
            return f"{sign}{digits[:point]}.{digits[point:]}"
        return f"{sign}{digits}{'0' * (point - count)}"
    fraction = f".{digits[1:]}" if count > 1 else ""
    return f"{sign}{digits[0]}{fraction}e{point - 1}"


def format_timedelta(v: dt.timedelta) -> str:
    micros = (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, frac = divmod(micros, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{frac:06d}" if frac else text


def _datetime_text(v: dt.datetime) -> str:
    return v.replace(tzinfo=None).isoformat(" ")


_TEXT_OF: dict[type, Callable[[Any], str]] = {
    float: format_double,
    bool: lambda v: "1" if v else "0",
    Decimal: lambda v: format(v, "f"),
    dt.datetime: _datetime_text,
    dt.date: lambda v: v.isoformat(),
    dt.time: lambda v: v.replace(tzinfo=None).isoformat(),
    dt.timedelta: format_timedelta,
}


def text_of(v: Any) -> bytes:
    """The MySQL text form of any non-NULL value, as bytes."""
    t = type(v)
    if t is str:
        return v.encode("utf-8", "surrogateescape")
    if t is int:
        return str(v).encode()
    if t is bytes:
        return v
    fmt = _TEXT_OF.get(t)
    if fmt is not None:
        return fmt(v).encode()
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return str(v).encode("utf-8", "surrogateescape")


def _lenenc(b: bytes) -> bytes:
    n = len(b)
    return bytes((n,)) + b if n < 251 else lenenc_int(n) + b


# --- value checks shared by the text and binary encoders --------------------------------------

_INT_TEXT = re.compile(r"[+-]?\d+")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DATETIME_TEXT = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?)?")
_TIME_TEXT = re.compile(r"(-)?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?")


def as_int(v: Any) -> int:
    """A value as an int, losslessly, or ValueMismatch."""
    t = type(v)
    if t is int or t is bool:
        return int(v)
    if t is float and v.is_integer():
        return int(v)
    if t is str and _INT_TEXT.fullmatch(v):
        return int(v)
    if t is Decimal and v.is_finite() and v == v.to_integral_value():
        return int(v)
    if t is bytes and len(v) == 8 and v[0] >= 0x80:  # BIGINT UNSIGNED from 2^63 (sql/uint64)
        return int.from_bytes(v, "big")
    raise ValueMismatch(FieldType.DOUBLE if t in (float, Decimal) or _is_number_text(v)
                        else FieldType.VAR_STRING)


def _is_number_text(v: Any) -> bool:
    return type(v) is str and _NUMBER_TEXT.fullmatch(v) is not None


def as_float(v: Any) -> float:
    t = type(v)
    if t is float or t is int or t is bool or t is Decimal:
        return float(v)
    if t is str and _NUMBER_TEXT.fullmatch(v):
        return float(v)
    raise ValueMismatch(FieldType.VAR_STRING)


def as_decimal_text(v: Any) -> bytes:
    t = type(v)
    if t is int or t is Decimal or t is bool:
        return text_of(v)
    if t is float:
        return format(Decimal(repr(v)), "f").encode()
    if t is str and _NUMBER_TEXT.fullmatch(v):
        return v.encode()
    raise ValueMismatch(FieldType.VAR_STRING)


def datetime_parts(v: Any) -> tuple[int, int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second, microsecond) of a date/datetime value."""
    if isinstance(v, dt.datetime):
        return v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond
    if isinstance(v, dt.date):
        return v.year, v.month, v.day, 0, 0, 0, 0
    if type(v) is str:
        m = _DATETIME_TEXT.fullmatch(v)
        if m:
            y, mo, d, h, mi, s, frac = m.groups()
            return (int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                    int((frac or "0").ljust(6, "0")))
    raise ValueMismatch(FieldType.VAR_STRING)


def time_parts(v: Any) -> tuple[bool, int, int, int, int, int]:
    """(negative, days, hours, minutes, seconds, microseconds) of a TIME value."""
    if isinstance(v, dt.timedelta):
        micros = v // dt.timedelta(microseconds=1)
        neg, micros = micros < 0, abs(micros)
        seconds, frac = divmod(micros, 1_000_000)
        days, seconds = divmod(seconds, 86400)
        return neg, days, seconds // 3600, seconds // 60 % 60, seconds % 60, frac
    if isinstance(v, dt.time):
        return False, 0, v.hour, v.minute, v.second, v.microsecond
    if type(v) is str:
        m = _TIME_TEXT.fullmatch(v)
        if m and int(m.group(3)) < 60 and int(m.group(4)) < 60:
            sign, hh, mm, ss, fraction = m.groups()
            days, hours = divmod(int(hh), 24)
            return (sign is not None, days, hours, int(mm), int(ss),
                    int((fraction or "0").ljust(6, "0")))
    raise ValueMismatch(FieldType.VAR_STRING)


# --- text encoders (lenenc bytes per value) ---------------------------------------------------


def _text_int(v: Any) -> bytes:
    if type(v) is int:
        return _lenenc(str(v).encode())
    return _lenenc(str(as_int(v)).encode())


def _text_float(v: Any) -> bytes:
    if type(v) is float:
        return _lenenc(format_double(v).encode())
    if type(v) is int:
        return _lenenc(str(v).encode())
    return _lenenc(format_double(as_float(v)).encode())


def _text_single(v: Any) -> bytes:
    """A FLOAT column (single precision): MySQL's 6 digits, where a DOUBLE shows 17."""
    if type(v) is int:
        return _lenenc(str(v).encode())
    return _lenenc(format_float(v if type(v) is float else as_float(v)).encode())


def _text_decimal(v: Any) -> bytes:
    return _lenenc(as_decimal_text(v))


def _text_datetime(v: Any) -> bytes:
    if type(v) is str:
        datetime_parts(v)  # validate: a driver parses this column as a date
        return _lenenc(v.encode())
    if isinstance(v, (dt.date, dt.datetime)):
        return _lenenc(text_of(v))
    raise ValueMismatch(FieldType.VAR_STRING)


def _text_time(v: Any) -> bytes:
    if type(v) is str:
        time_parts(v)
        return _lenenc(v.encode())
    if isinstance(v, (dt.timedelta, dt.time)):
        return _lenenc(text_of(v))
    raise ValueMismatch(FieldType.VAR_STRING)


def _text_null(v: Any) -> bytes:
    raise ValueMismatch(FieldType.VAR_STRING)


def _text_any(v: Any) -> bytes:
    return _lenenc(text_of(v))


_INT_TYPES = (FieldType.TINY, FieldType.SHORT, FieldType.LONG, FieldType.INT24,
              FieldType.LONGLONG, FieldType.YEAR)
_TEXT_ENCODERS: dict[int, Callable[[Any], bytes]] = {
    **{t: _text_int for t in _INT_TYPES},
    FieldType.FLOAT: _text_single, FieldType.DOUBLE: _text_float,
    FieldType.DECIMAL: _text_decimal, FieldType.NEWDECIMAL: _text_decimal,
    FieldType.DATE: _text_datetime, FieldType.DATETIME: _text_datetime,
    FieldType.TIMESTAMP: _text_datetime, FieldType.NEWDATE: _text_datetime,
    FieldType.TIME: _text_time, FieldType.NULL: _text_null,
}


def _bit(bits: int) -> Callable[[Any], bytes]:
    """BIT(M) as MySQL sends it in both protocols: (M+7)//8 bytes, big-endian. A BIT(64)
    value of 2^63 or more arrives as SQLite's negative int64 with the same bits."""
    width = max(1, (bits + 7) // 8)

    def encode(v: Any) -> bytes:
        if type(v) is bytes and len(v) <= width:
            return _lenenc(v.rjust(width, b"\x00"))
        n = v if type(v) is int else as_int(v)
        if n < 0 and n >= -(1 << 63):
            n &= 0xFFFF_FFFF_FFFF_FFFF
        if not 0 <= n < 1 << (8 * width):
            raise ValueMismatch(FieldType.LONGLONG, unsigned=n >= 0)
        return _lenenc(n.to_bytes(width, "big"))
    return encode


def _text_encoder(column: Column) -> Callable[[Any], bytes]:
    if column.type == FieldType.BIT:
        return _bit(column.length)
    if column.type in (FieldType.FLOAT, FieldType.DOUBLE) and 0 < column.decimals < 31:
        return _fixed(column.decimals)  # FLOAT(M,D) / DOUBLE(M,D): D decimals, 1.500
    return _TEXT_ENCODERS.get(int(column.type), _text_any)


def _fixed(decimals: int) -> Callable[[Any], bytes]:
    def encode(v: Any) -> bytes:
        return _lenenc(f"{v if type(v) is float else as_float(v):.{decimals}f}".encode())
    return encode


def _encode_text(block: ColumnBlock, rows: Sequence[tuple]) -> list[bytes]:
    encoders = block.text_encoders
    if encoders is None:
        encoders = block.text_encoders = [_text_encoder(c) for c in block.columns]
    out = []
    for row in rows:
        parts = [NULL_TEXT if v is None else enc(v) for enc, v in zip(encoders, row)]
        out.append(b"".join(parts))
    return out


# --- binary encoders (fixed-size or lenenc per type) ------------------------------------------

_PACKERS = {
    (FieldType.TINY, False): struct.Struct("<b"), (FieldType.TINY, True): struct.Struct("<B"),
    (FieldType.SHORT, False): struct.Struct("<h"), (FieldType.SHORT, True): struct.Struct("<H"),
    (FieldType.YEAR, False): struct.Struct("<H"), (FieldType.YEAR, True): struct.Struct("<H"),
    (FieldType.INT24, False): struct.Struct("<i"), (FieldType.INT24, True): struct.Struct("<I"),
    (FieldType.LONG, False): struct.Struct("<i"), (FieldType.LONG, True): struct.Struct("<I"),
    (FieldType.LONGLONG, False): struct.Struct("<q"),
    (FieldType.LONGLONG, True): struct.Struct("<Q"),
}
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_DATE = struct.Struct("<BHBB")
_DATETIME = struct.Struct("<BHBBBBB")
_DATETIME_US = struct.Struct("<BHBBBBBI")
_TIME = struct.Struct("<BBIBBB")
_TIME_US = struct.Struct("<BBIBBBI")


def _binary_int(packer: struct.Struct) -> Callable[[Any], bytes]:
    pack = packer.pack

    def encode(v: Any) -> bytes:
        n = v if type(v) is int else as_int(v)
        try:
            return pack(n)
        except struct.error:
            if -(1 << 63) <= n < (1 << 64):
                raise ValueMismatch(FieldType.LONGLONG, unsigned=n >= (1 << 63)) from None
            raise ValueMismatch(FieldType.NEWDECIMAL) from None
    return encode


def _binary_float(v: Any) -> bytes:
    try:
        return _F32.pack(v if type(v) is float else as_float(v))
    except (struct.error, OverflowError):
        raise ValueMismatch(FieldType.DOUBLE) from None


def _binary_double(v: Any) -> bytes:
    return _F64.pack(v if type(v) is float else as_float(v))


def _binary_decimal(v: Any) -> bytes:
    return _lenenc(as_decimal_text(v))


def _binary_date(v: Any) -> bytes:
    y, mo, d, *_ = datetime_parts(v)
    return b"\x00" if (y, mo, d) == (0, 0, 0) else _DATE.pack(4, y, mo, d)


def _binary_datetime(v: Any) -> bytes:
    y, mo, d, h, mi, s, us = datetime_parts(v)
    if us:
        return _DATETIME_US.pack(11, y, mo, d, h, mi, s, us)
    if h or mi or s:
        return _DATETIME.pack(7, y, mo, d, h, mi, s)
    return b"\x00" if (y, mo, d) == (0, 0, 0) else _DATE.pack(4, y, mo, d)


def _binary_time(v: Any) -> bytes:
    neg, days, h, mi, s, us = time_parts(v)
    if us:
        return _TIME_US.pack(12, neg, days, h, mi, s, us)
    if days or h or mi or s:
        return _TIME.pack(8, neg, days, h, mi, s)
    return b"\x00"


_BINARY_ENCODERS: dict[tuple[int, bool], Callable[[Any], bytes]] = {
    key: _binary_int(packer) for key, packer in _PACKERS.items()}
for _unsigned in (False, True):
    _BINARY_ENCODERS.update({
        (FieldType.FLOAT, _unsigned): _binary_float, (FieldType.DOUBLE, _unsigned): _binary_double,
        (FieldType.DECIMAL, _unsigned): _binary_decimal,
        (FieldType.NEWDECIMAL, _unsigned): _binary_decimal,
        (FieldType.DATE, _unsigned): _binary_date, (FieldType.NEWDATE, _unsigned): _binary_date,
        (FieldType.DATETIME, _unsigned): _binary_datetime,
        (FieldType.TIMESTAMP, _unsigned): _binary_datetime,
        (FieldType.TIME, _unsigned): _binary_time, (FieldType.NULL, _unsigned): _text_null,
    })


def _binary_encoder(column: Column) -> Callable[[Any], bytes]:
    if column.type == FieldType.BIT:
        return _bit(column.length)
    return _BINARY_ENCODERS.get((int(column.type), bool(column.flags & ColumnFlag.UNSIGNED)),
                                _text_any)


def _encode_binary(block: ColumnBlock, rows: Sequence[tuple]) -> list[bytes]:
    encoders = block.binary_encoders
    if encoders is None:
        encoders = block.binary_encoders = [_binary_encoder(c) for c in block.columns]
    bitmap_bytes = (len(encoders) + 9) // 8
    empty_bitmap = bytes(bitmap_bytes)
    out = []
    for row in rows:
        if None in row:
            bits = 0
            for i, v in enumerate(row):
                if v is None:
                    bits |= 1 << (i + 2)
            bitmap = bits.to_bytes(bitmap_bytes, "little")
            values = [enc(v) for enc, v in zip(encoders, row) if v is not None]
        else:
            bitmap = empty_bitmap
            values = [enc(v) for enc, v in zip(encoders, row)]
        out.append(b"\x00" + bitmap + b"".join(values))
    return out


# --- entry point ----------------------------------------------------------------------------


def _widened(col: Column, mismatch: ValueMismatch) -> Column:
    wider = mismatch.wider
    if wider == FieldType.VAR_STRING:
        return replace(col, type=wider, flags=0, charset=CHARSET_UTF8MB4, decimals=0,
                       length=max(col.length, 1024))
    flags = _NUM_FLAGS | (int(ColumnFlag.UNSIGNED) if mismatch.unsigned else 0)
    decimals = 31 if wider == FieldType.DOUBLE else 0
    return replace(col, type=wider, flags=flags, charset=CHARSET_BINARY, decimals=decimals,
                   length=max(col.length, 22))


def encode_rows(columns: Sequence[Column], rows: Sequence[tuple],
                binary: bool) -> tuple[ColumnBlock, list[bytes]]:
    """Encode ``rows``; returns the column metadata actually announced and one payload per row."""
    block = column_block(columns)
    encode = _encode_binary if binary else _encode_text
    while True:
        try:
            return block, encode(block, rows)
        except ValueMismatch:
            index, mismatch = _mismatched_column(block, rows, binary)
            cols = list(block.columns)
            cols[index] = _widened(cols[index], mismatch)
            block = ColumnBlock(cols)


def _mismatched_column(block: ColumnBlock, rows: Sequence[tuple],
                       binary: bool) -> tuple[int, ValueMismatch]:
    """Which column raised: re-run column by column (only on the rare mismatch path)."""
    for index, column in enumerate(block.columns):
        enc = _binary_encoder(column) if binary else _text_encoder(column)
        try:
            for row in rows:
                if row[index] is not None:
                    enc(row[index])
        except ValueMismatch as mismatch:
            return index, mismatch
    raise AssertionError("a mismatch was raised but no column reproduces it")


def encode_more_rows(block: ColumnBlock, rows: Sequence[tuple], binary: bool) -> list[bytes]:
    """Rows of a streamed result set whose columns were already announced with ``block``.
    A value the announced type cannot carry: in the text protocol every value is text, so
    the widened encoder writes it; in the binary protocol the client would misread it, so
    the result set fails (ValueMismatch)."""
    encode = _encode_binary if binary else _encode_text
    try:
        return encode(block, rows)
    except ValueMismatch as mismatch:
        if binary:
            raise
        index, mismatch = _mismatched_column(block, rows, binary)
        cols = list(block.columns)
        cols[index] = _widened(cols[index], mismatch)
        return encode_more_rows(ColumnBlock(cols), rows, binary)
