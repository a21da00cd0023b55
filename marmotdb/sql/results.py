"""What executing one statement produces, and how SQLite columns become MySQL columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

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
class Streamed:
    """A result set whose rows were already sent to the client through a ``RowSink``: only
    its end (status, warnings) is left to send."""

    columns: list[Column]
    row_count: int
    warnings: int = 0


class RowSink(Protocol):
    """Where a worker sends a long read's rows, batch by batch (runtime/row_stream.py)."""

    def send(self, columns: list[Column], rows: list[tuple[Any, ...]]) -> None:
        """Blocks the worker until the client has taken the previous batches; raises
        ``StreamCancelled`` when the statement was stopped or its client went away."""

    def cancel(self) -> None:
        """From any thread: the rows are not wanted any more (KILL QUERY, timeout, gone)."""


class StreamCancelled(Exception):
    """The rows' client went away or the statement was stopped while rows were being sent."""


@dataclass(slots=True)
class ReadJob:
    """A read to run off the event loop: ``run(sink)`` in a worker thread (rows sent through
    ``sink`` as they come, or collected when it is None), then ``finish`` on the loop.
    ``interrupt`` (KILL QUERY: 1317) and ``expire`` (max_execution_time: 3024) are safe from
    any thread."""

    run: Callable[[RowSink | None], Rows | Streamed]
    finish: Callable[[], None]
    interrupt: Callable[[], None]
    expire: Callable[[], None]


@dataclass(slots=True)
class WriteJob:
    """A long write for a writer thread: ``run`` there (its result and commit record), then
    on the loop
    ``resume(outcome)`` — the outcome or the exception ``run`` raised — commits it (or rolls
    it back) and gives the client's result or a Pending of it. ``interrupt`` from any thread
    (KILL QUERY, the client gone); ``expire`` does nothing (max_execution_time is for
    SELECTs, as in MySQL)."""

    run: Callable[[RowSink | None], Any]
    finish: Callable[[], None]
    interrupt: Callable[[], None]
    expire: Callable[[], None]
    resume: Callable[[Any], Any]


class LongWrite(LongRead):
    """A write weighed long before it ran (sql/write_weight.py): ``job`` is a ``WriteJob``."""


Result = Ok | Rows | Streamed

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
