"""What executing one statement produces, and how SQLite columns become MySQL columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marmotdb.mysql.types import CHARSET_BINARY, Column, ColumnFlag, FieldType


@dataclass(slots=True)
class Ok:
    """A statement without a result set."""

    affected_rows: int = 0
    last_insert_id: int = 0
    warnings: int = 0
    info: str = ""


@dataclass(slots=True)
class Rows:
    """A result set, complete."""

    columns: list[Column]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    warnings: int = 0


@dataclass(slots=True)
class CallResult:
    """A CALL's answer: the result sets its statements produced, then its OK (MySQL sends
    them as several results, CLIENT_MULTI_RESULTS)."""

    results: list[Rows]
    ok: Ok
    warnings: int = 0


class LongRead(Exception):
    """A read ran past its in-loop budget. ``job`` finishes it in a worker thread."""

    def __init__(self, job: ReadJob):
        super().__init__("long read")
        self.job = job


@dataclass(slots=True)
class ReadJob:
    """A read to run off the event loop: ``run`` in a worker thread, then ``finish`` on the
    loop. ``interrupt`` is safe from any thread (max_execution_time, KILL QUERY)."""

    run: Callable[[], Rows]
    finish: Callable[[], None]
    interrupt: Callable[[], None]


Result = Ok | Rows

_VALUE_TYPES: dict[type, tuple[FieldType, int, int]] = {
    int: (FieldType.LONGLONG, 21, CHARSET_BINARY),
    bool: (FieldType.LONGLONG, 1, CHARSET_BINARY),
    float: (FieldType.DOUBLE, 22, CHARSET_BINARY),
    Decimal: (FieldType.NEWDECIMAL, 65, CHARSET_BINARY),
    bytes: (FieldType.BLOB, 65535, CHARSET_BINARY),
}


def column_for_value(name: str, value: Any) -> Column:
    """A column for an expression SQLite gave no declared type for, from its first value."""
    type_code, length, charset = _VALUE_TYPES.get(type(value), (FieldType.VAR_STRING, 1024, 255))
    flags = int(ColumnFlag.BINARY) if charset == CHARSET_BINARY else 0
    if value is None:
        type_code, length, charset = FieldType.NULL, 0, CHARSET_BINARY
    return Column(name=name, type=type_code, length=length, flags=flags, charset=charset,
                  decimals=31 if type_code == FieldType.DOUBLE else 0)
