"""Binary-protocol parameter values of COM_STMT_EXECUTE, decoded to Python values.

    TINY/SHORT/YEAR/INT24/LONG/LONGLONG -> int (signed, or unsigned when flag 0x80 is set)
    FLOAT/DOUBLE                        -> float
    DECIMAL/NEWDECIMAL                  -> Decimal (str if the client sent something else)
    DATE                                -> 'YYYY-MM-DD'
    DATETIME/TIMESTAMP                  -> 'YYYY-MM-DD HH:MM:SS[.ffffff]'
    TIME                                -> '[-]HH:MM:SS[.ffffff]' (days folded into hours)
    VARCHAR/VAR_STRING/STRING/ENUM/SET/JSON/NEWDATE -> str (bytes if not valid UTF-8)
    BLOB types/GEOMETRY/BIT             -> bytes
    NULL (type or bitmap)               -> None

Every reader takes (payload, pos) and returns (value, new pos); truncated input raises
ProtocolError 1835 through ``packets``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from marmotdb.mysql.packets import malformed, read_lenenc_bytes
from marmotdb.mysql.types import FieldType

UNSIGNED_FLAG = 0x80
Reader = Callable[[bytes, int], tuple[Any, int]]


def _fixed(fmt: str) -> Reader:
    packer = struct.Struct(fmt)
    size = packer.size
    unpack_from = packer.unpack_from

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        if pos + size > len(buf):
            raise malformed("truncated parameter")
        return unpack_from(buf, pos)[0], pos + size
    return read


def _read_text(buf: bytes, pos: int) -> tuple[Any, int]:
    raw, pos = read_lenenc_bytes(buf, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError:
        return raw, pos


def _read_blob(buf: bytes, pos: int) -> tuple[Any, int]:
    return read_lenenc_bytes(buf, pos)


def _read_decimal(buf: bytes, pos: int) -> tuple[Any, int]:
    text, pos = _read_text(buf, pos)
    try:
        return Decimal(text), pos
    except (InvalidOperation, TypeError, ValueError):
        return text, pos


def _temporal_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos >= len(buf):
        raise malformed("truncated temporal parameter")
    n = buf[pos]
    end = pos + 1 + n
    if end > len(buf):
        raise malformed("truncated temporal parameter")
    return buf[pos + 1:end], end


def _date_text(raw: bytes, with_time: bool) -> str:
    if len(raw) not in (0, 4, 7, 11):
        raise malformed("bad date length")
    y, mo, d = (int.from_bytes(raw[0:2], "little"), raw[2], raw[3]) if raw else (0, 0, 0)
    if not with_time:
        return f"{y:04d}-{mo:02d}-{d:02d}"
    h, mi, s = (raw[4], raw[5], raw[6]) if len(raw) >= 7 else (0, 0, 0)
    text = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"
    if len(raw) == 11:
        text += f".{int.from_bytes(raw[7:11], 'little'):06d}"
    return text


def _read_date(buf: bytes, pos: int) -> tuple[Any, int]:
    raw, pos = _temporal_bytes(buf, pos)
    return _date_text(raw, with_time=False), pos


def _read_datetime(buf: bytes, pos: int) -> tuple[Any, int]:
    raw, pos = _temporal_bytes(buf, pos)
    return _date_text(raw, with_time=True), pos


def _read_time(buf: bytes, pos: int) -> tuple[Any, int]:
    raw, pos = _temporal_bytes(buf, pos)
    if len(raw) not in (0, 8, 12):
        raise malformed("bad time length")
    if not raw:
        return "00:00:00", pos
    sign = "-" if raw[0] else ""
    hours = int.from_bytes(raw[1:5], "little") * 24 + raw[5]
    text = f"{sign}{hours:02d}:{raw[6]:02d}:{raw[7]:02d}"
    if len(raw) == 12:
        text += f".{int.from_bytes(raw[8:12], 'little'):06d}"
    return text, pos


def _read_null(buf: bytes, pos: int) -> tuple[Any, int]:
    return None, pos


_TEXT_TYPES = (FieldType.VARCHAR, FieldType.VAR_STRING, FieldType.STRING, FieldType.ENUM,
               FieldType.SET, FieldType.JSON, FieldType.NEWDATE)
_BLOB_TYPES = (FieldType.TINY_BLOB, FieldType.MEDIUM_BLOB, FieldType.LONG_BLOB, FieldType.BLOB,
               FieldType.GEOMETRY, FieldType.BIT)

# (type code, unsigned) -> reader
READERS: dict[tuple[int, bool], Reader] = {}
for _unsigned in (False, True):
    _u = _unsigned
    READERS.update({
        (FieldType.TINY, _u): _fixed("<B" if _u else "<b"),
        (FieldType.SHORT, _u): _fixed("<H" if _u else "<h"),
        (FieldType.YEAR, _u): _fixed("<H" if _u else "<h"),
        (FieldType.INT24, _u): _fixed("<I" if _u else "<i"),
        (FieldType.LONG, _u): _fixed("<I" if _u else "<i"),
        (FieldType.LONGLONG, _u): _fixed("<Q" if _u else "<q"),
        (FieldType.FLOAT, _u): _fixed("<f"),
        (FieldType.DOUBLE, _u): _fixed("<d"),
        (FieldType.DECIMAL, _u): _read_decimal, (FieldType.NEWDECIMAL, _u): _read_decimal,
        (FieldType.DATE, _u): _read_date,
        (FieldType.DATETIME, _u): _read_datetime, (FieldType.TIMESTAMP, _u): _read_datetime,
        (FieldType.TIME, _u): _read_time,
        (FieldType.NULL, _u): _read_null,
        **{(t, _u): _read_text for t in _TEXT_TYPES},
        **{(t, _u): _read_blob for t in _BLOB_TYPES},
    })


def is_text_type(type_code: int) -> bool:
    return type_code in _TEXT_TYPES


def decode_params(payload: bytes, pos: int, types: list[tuple[int, bool]], null_bitmap: bytes,
                  long_data: dict[int, bytearray]) -> list[Any]:
    """The parameter values that follow the type list of an execute payload.

    Parameters with long data are not in the packet (the client sent them before with
    COM_STMT_SEND_LONG_DATA); text types among them become str like inline ones."""
    values: list[Any] = []
    for i, key in enumerate(types):
        if null_bitmap[i >> 3] & (1 << (i & 7)):
            values.append(None)
        elif i in long_data:
            values.append(_long_value(key[0], bytes(long_data[i])))
        else:
            reader = READERS.get(key)
            if reader is None:
                raise malformed(f"unknown parameter type {key[0]}")
            value, pos = reader(payload, pos)
            values.append(value)
    return values


def _long_value(type_code: int, raw: bytes) -> Any:
    if is_text_type(type_code):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
    return raw
