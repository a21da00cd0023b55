"""MySQL column types as Debezium's MySQL connector presents them (Kafka Connect schemas).

Each column gets a ``FieldCodec``: the field's schema (``{"type", "optional", "field"}`` plus a
logical ``name`` and ``parameters`` where Debezium has one) and a function turning the value
SQLite stored into the JSON value Debezium would send. Debezium's defaults are followed
(peers.md §4.18; debezium ``connectors/mysql.adoc``, "Data type mappings"):

==========================  =========  ======================================  ==================
MySQL                       type       logical name                            JSON value
==========================  =========  ======================================  ==================
BOOLEAN / TINYINT(1)        boolean                                            true / false
TINYINT, SMALLINT           int16                                              number
MEDIUMINT, INT              int32      (INT UNSIGNED: int64)                    number
BIGINT [UNSIGNED]           int64      (bigint.unsigned.handling.mode=long)     number (≥2^63 wraps
                                                                               as Debezium's long)
FLOAT, DOUBLE               float64                                            number
DECIMAL(p,s)                bytes      org.apache.kafka.connect.data.Decimal   base64 of the
                                       {scale, connect.decimal.precision}      unscaled value
                                       (decimal.handling.mode=precise)         (two's complement)
CHAR … LONGTEXT             string                                             text
ENUM / SET                  string     io.debezium.data.Enum / EnumSet         text
                                       {allowed}
BINARY … LONGBLOB           bytes      (binary.handling.mode=bytes)            base64
BIT(1) / BIT(n)             boolean / bytes io.debezium.data.Bits {length}     bool / base64 LE
DATE                        int32      io.debezium.time.Date                   days since epoch
DATETIME(0-3) / (4-6)       int64      io.debezium.time.Timestamp / MicroTs    ms / µs since epoch
TIMESTAMP                   string     io.debezium.time.ZonedTimestamp         ISO-8601, UTC "Z"
TIME                        int64      io.debezium.time.MicroTime              µs
YEAR                        int32      io.debezium.time.Year                   number
JSON                        string     io.debezium.data.Json                   text
==========================  =========  ======================================  ==================

Zero dates (``0000-00-00``) become null, as in Debezium. BOOLEAN is stored by MySQL (and by
marmotdb's catalog) as TINYINT(1); Debezium can only tell them apart from DDL text, so every
TINYINT(1) is a boolean here. Stored TIMESTAMP text is UTC (MYSQL_STORE converts a value written
under another session time_zone: sql/rewrites/timestamps.py), so it is sent as it is, with "Z". A column the catalog does
not describe (its table was altered or dropped after the write set) is sent as a string. A
stored value that does not fit its declared type (SQLite accepts anything) is sent as text
rather than lost.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from marmotdb.sql.catalog.model import ColumnModel
from marmotdb.sql.types.coltypes import MySqlType, cached_type

Converter = Callable[[Any], Any]
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$")
_TIME_RE = re.compile(r"^(-)?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


class FieldCodec(NamedTuple):
    schema: dict[str, Any]   # without "field" and "optional": added per use
    convert: Converter
    # stored values of these Python types are sent as they are (no call): the common case
    passthrough: frozenset[type] = frozenset()


def _kept(convert: Converter) -> Converter:
    """``convert`` for non-null values; a value it cannot read is sent as text (never lost)."""
    def run(value: Any) -> Any:
        if value is None:
            return None
        try:
            return convert(value)
        except (ValueError, TypeError, InvalidOperation, OverflowError):
            return value if isinstance(value, str) else str(value)
    return run


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _signed64(value: Any) -> int:
    if isinstance(value, bytes):  # BIGINT UNSIGNED >= 2^63 is stored as 8 big-endian bytes
        return int.from_bytes(value, "big", signed=True)
    number = int(value)
    return number - (1 << 64) if number >= 1 << 63 else number


def _decimal(scale: int) -> Converter:
    def convert(value: Any) -> str:
        unscaled = int(Decimal(str(value)).scaleb(scale).to_integral_value())
        length = max(1, (unscaled.bit_length() + 8) // 8)
        return _b64(unscaled.to_bytes(length, "big", signed=True))
    return convert


def _stamp(value: Any) -> tuple[int, ...] | None:
    """(y, m, d, H, M, S, µs) of a stored DATE/DATETIME text; None for a zero date."""
    found = _DATETIME_RE.match(str(value).strip())
    if found is None:
        raise ValueError(f"not a date: {value!r}")
    y, m, d, hh, mm, ss, frac = found.groups()
    if int(y) == 0 or int(m) == 0 or int(d) == 0:
        return None
    micros = int((frac or "0").ljust(6, "0"))
    return (int(y), int(m), int(d), int(hh or 0), int(mm or 0), int(ss or 0), micros)


def _days(value: Any) -> int | None:
    parts = _stamp(value)
    return None if parts is None else (dt.date(*parts[:3]) - _EPOCH_DATE).days


def _epoch_micros(value: Any) -> int | None:
    parts = _stamp(value)
    if parts is None:
        return None
    delta = dt.datetime(*parts) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _epoch_millis(value: Any) -> int | None:
    micros = _epoch_micros(value)
    return None if micros is None else micros // 1000


def _zoned(value: Any) -> str | None:
    parts = _stamp(value)
    if parts is None:
        return None
    text = dt.datetime(*parts).isoformat()
    return text + "Z"


def _micro_time(value: Any) -> int:
    found = _TIME_RE.match(str(value).strip())
    if found is None:
        raise ValueError(f"not a time: {value!r}")
    sign, hh, mm, ss, frac = found.groups()
    seconds = (int(hh) * 60 + int(mm)) * 60 + int(ss)
    micros = seconds * 1_000_000 + int((frac or "0").ljust(6, "0"))
    return -micros if sign else micros


def _bits(length: int) -> Converter:
    width = max(1, (length + 7) // 8)
    def convert(value: Any) -> str:
        # BIT(64) from 2^63: sql/types/uint64.py's 8-byte BLOB, or (rows written before it) the
        # int64 with the same bits
        number = int.from_bytes(value, "big") if isinstance(value, bytes) \
            else int(value) & 0xFFFF_FFFF_FFFF_FFFF
        return _b64(number.to_bytes(width, "little"))  # Debezium's Bits: little-endian
    return convert


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _boolean(value: Any) -> bool:
    return bool(int(value))


def _integer(value: Any) -> int:
    return int(value)


def _float(value: Any) -> float:
    return float(value)


def _plain(kind: str, convert: Converter, name: str | None = None,
           parameters: dict[str, str] | None = None,
           passthrough: frozenset[type] = frozenset()) -> FieldCodec:
    schema: dict[str, Any] = {"type": kind}
    if name is not None:
        schema["name"] = name
        schema["version"] = 1
    if parameters:
        schema["parameters"] = parameters
    return FieldCodec(schema, _kept(convert), passthrough | {type(None)})


_INT, _STR, _FLOAT = frozenset({int}), frozenset({str}), frozenset({float})


def _int_codec(t: MySqlType) -> FieldCodec:
    if t.name == "tinyint" and t.length == 1:
        return _plain("boolean", _boolean)
    if t.name == "bigint":
        return _plain("int64", _signed64, passthrough=frozenset() if t.unsigned else _INT)
    kind = {"tinyint": "int16", "smallint": "int32" if t.unsigned else "int16",
            "mediumint": "int32", "int": "int64" if t.unsigned else "int32"}[t.name]
    return _plain(kind, _integer, passthrough=_INT)


def _decimal_codec(t: MySqlType) -> FieldCodec:
    scale = t.scale or 0
    return _plain("bytes", _decimal(scale), "org.apache.kafka.connect.data.Decimal",
                  {"scale": str(scale), "connect.decimal.precision": str(t.length or 10)})


def _temporal_codec(t: MySqlType) -> FieldCodec:
    if t.name == "date":
        return _plain("int32", _days, "io.debezium.time.Date")
    if t.name == "datetime":
        if t.fsp > 3:
            return _plain("int64", _epoch_micros, "io.debezium.time.MicroTimestamp")
        return _plain("int64", _epoch_millis, "io.debezium.time.Timestamp")
    if t.name == "timestamp":
        return _plain("string", _zoned, "io.debezium.time.ZonedTimestamp")
    if t.name == "time":
        return _plain("int64", _micro_time, "io.debezium.time.MicroTime")
    return _plain("int32", _integer, "io.debezium.time.Year")


def _bit_codec(t: MySqlType) -> FieldCodec:
    length = t.length or 1
    if length == 1:
        return _plain("boolean", _boolean)
    return _plain("bytes", _bits(length), "io.debezium.data.Bits", {"length": str(length)})


_BY_FAMILY: dict[str, Callable[[MySqlType], FieldCodec]] = {
    "int": _int_codec,
    "decimal": _decimal_codec,
    "float": lambda t: _plain("float64", _float, passthrough=_FLOAT),
    "text": lambda t: _plain("string", _text, passthrough=_STR),
    "binary": lambda t: _plain("bytes", lambda v: _b64(_as_bytes(v))),
    "enum": lambda t: _plain("string", _text, "io.debezium.data.Enum",
                             {"allowed": ",".join(t.values)}),
    "set": lambda t: _plain("string", _text, "io.debezium.data.EnumSet",
                            {"allowed": ",".join(t.values)}),
    "temporal": _temporal_codec,
    "json": lambda t: _plain("string", _text, "io.debezium.data.Json", passthrough=_STR),
    "bit": _bit_codec,
}


def codec_for_column(column: ColumnModel) -> FieldCodec:
    """The Debezium field of a catalog column."""
    try:
        t = cached_type(column.column_type)
    except Exception:  # noqa: BLE001 - an unreadable type is described as text
        return _plain("string", _text)
    return _BY_FAMILY.get(t.family, lambda _: _plain("string", _text))(t)


TEXT_CODEC = _plain("string", _text, passthrough=_STR)  # a column the catalog does not describe
