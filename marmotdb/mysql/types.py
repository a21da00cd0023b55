"""Column types and result sets: the vocabulary shared by the protocol, the SQL layer and the
catalog.

A result set is a list of ``Column`` plus rows as plain tuples of Python values (int, float,
str, bytes, Decimal, None; temporal values may be str in MySQL's text form or datetime/date/
timedelta objects). The protocol layer encodes them to text or binary rows according to each
column's MySQL type; nothing else formats values for the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag


class FieldType(IntEnum):
    """MySQL column type codes (``enum_field_types``)."""

    DECIMAL = 0x00
    TINY = 0x01
    SHORT = 0x02
    LONG = 0x03
    FLOAT = 0x04
    DOUBLE = 0x05
    NULL = 0x06
    TIMESTAMP = 0x07
    LONGLONG = 0x08
    INT24 = 0x09
    DATE = 0x0A
    TIME = 0x0B
    DATETIME = 0x0C
    YEAR = 0x0D
    NEWDATE = 0x0E
    VARCHAR = 0x0F
    BIT = 0x10
    JSON = 0xF5
    NEWDECIMAL = 0xF6
    ENUM = 0xF7
    SET = 0xF8
    TINY_BLOB = 0xF9
    MEDIUM_BLOB = 0xFA
    LONG_BLOB = 0xFB
    BLOB = 0xFC
    VAR_STRING = 0xFD
    STRING = 0xFE
    GEOMETRY = 0xFF


class ColumnFlag(IntFlag):
    NOT_NULL = 1
    PRI_KEY = 2
    UNIQUE_KEY = 4
    MULTIPLE_KEY = 8
    BLOB = 16
    UNSIGNED = 32
    ZEROFILL = 64
    BINARY = 128
    ENUM = 256
    AUTO_INCREMENT = 512
    TIMESTAMP = 1024
    SET = 2048
    NO_DEFAULT_VALUE = 4096
    ON_UPDATE_NOW = 8192
    NUM = 32768


# Character set / collation ids used in column definitions.
CHARSET_UTF8MB4 = 255  # utf8mb4_0900_ai_ci
CHARSET_UTF8MB4_GENERAL = 45  # utf8mb4_general_ci
CHARSET_UTF8 = 33  # utf8mb3_general_ci
CHARSET_BINARY = 63


@dataclass(slots=True)
class Column:
    """One column definition as MySQL sends it (Protocol::ColumnDefinition41)."""

    name: str
    type: FieldType = FieldType.VAR_STRING
    length: int = 0
    flags: int = 0
    decimals: int = 0
    charset: int = CHARSET_UTF8MB4
    table: str = ""
    org_table: str = ""
    org_name: str = ""
    schema: str = ""


@dataclass(slots=True)
class ResultSet:
    """Columns plus rows (tuples, one value per column)."""

    columns: list[Column]
    rows: list[tuple] = field(default_factory=list)


def text_column(name: str, length: int = 256) -> Column:
    """A VARCHAR column, the shape of most SHOW/metadata output."""
    return Column(name=name, type=FieldType.VAR_STRING, length=length * 4)


def int_column(name: str, length: int = 21, unsigned: bool = False) -> Column:
    flags = ColumnFlag.NUM | (ColumnFlag.UNSIGNED if unsigned else 0)
    return Column(name=name, type=FieldType.LONGLONG, length=length, flags=int(flags),
                  charset=CHARSET_BINARY)
