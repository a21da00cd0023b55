"""Bit functions and operators over MySQL's unsigned 64-bit operands: BIT_COUNT, XOR, ``& | ^
~ << >>`` (the rewrites emit ``MYSQL_BIT_*_OP``), and the BIT_AND / BIT_OR / BIT_XOR
aggregates; results from 2^63 travel in uint64.py's in-flight form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marmotdb.sql.types import uint64
from marmotdb.sql.functions.context import Scalar, nulls, to_int, to_number

@nulls
def bit_count(value: object) -> int:
    return (bit_operand(value) or 0).bit_count()


def mysql_xor(a: object, b: object) -> int | None:
    if a is None or b is None:
        return None
    return int(bool(to_number(a)) != bool(to_number(b)))


def bit_operand(value: object) -> int | None:
    """A bit operator's operand as MySQL reads it: an unsigned 64-bit number. Integers keep
    their two's-complement bits (-1 is 2^64-1), other numbers are rounded and saturate at the
    signed/unsigned 64-bit limits first (``1e20 | 0`` is 2^64-1, ``-1e20 | 0`` is 2^63), a
    stored BIGINT UNSIGNED from 2^63 (uint64.py's BLOB) is its number."""
    if value is None:
        return None
    if uint64.is_high_blob(value):
        return int.from_bytes(value, "big")  # type: ignore[arg-type]
    number = to_int(value) or 0
    return max(uint64.INT64_MIN, min(number, uint64.UINT64_MAX)) & uint64.UINT64_MAX


def _unsigned_bits(operation: Callable[[int, int], int]) -> Callable[[object, object],
                                                                      int | str | None]:
    """A two-operand bit operator over bit_operand's numbers; its result is unsigned 64-bit,
    from 2^63 on exact decimal text (uint64.py: SQLite has no integer for it)."""
    def compute(a: object, b: object) -> int | str | None:
        x, y = bit_operand(a), bit_operand(b)
        if x is None or y is None:
            return None
        return uint64.in_flight(operation(x, y) & uint64.UINT64_MAX)
    return compute


def _shift(x: int, count: int, left: bool) -> int:
    """MySQL shifts by an unsigned count: 64 or more (a negative count too) gives 0."""
    if count >= 64:
        return 0
    return x << count if left else x >> count


def bitwise_not(a: object) -> int | str | None:
    x = bit_operand(a)
    return None if x is None else uint64.in_flight(x ^ uint64.UINT64_MAX)


bitwise_xor = _unsigned_bits(lambda x, y: x ^ y)
BIT_OPERATORS: list[Scalar] = [
    ("BIT_XOR_OP", bitwise_xor, 2, True), ("BIT_OR_OP", _unsigned_bits(lambda x, y: x | y), 2,
                                           True),
    ("BIT_AND_OP", _unsigned_bits(lambda x, y: x & y), 2, True),
    ("BIT_NOT_OP", bitwise_not, 1, True),
    ("SHIFT_LEFT_OP", _unsigned_bits(lambda x, y: _shift(x, y, True)), 2, True),
    ("SHIFT_RIGHT_OP", _unsigned_bits(lambda x, y: _shift(x, y, False)), 2, True),
]


class _BitAggregate:
    def __init__(self, operation: Callable[[int, int], int], start: int):
        self.operation, self.value = operation, start

    def step(self, value: object) -> None:
        if value is not None:
            self.value = self.operation(self.value, bit_operand(value) or 0)

    def final(self) -> int | str:
        """Unsigned, as MySQL's (BIT_AND of no rows is 2^64-1): in flight (uint64.py)."""
        return uint64.in_flight(self.value)


BIT_SCALARS: list[Scalar] = [
    ("BIT_COUNT", bit_count, 1, True),
    ("XOR", mysql_xor, 2, True),
    *BIT_OPERATORS,
]


BIT_AGGREGATES: list[tuple[str, Callable[[], Any]]] = [
    ("BIT_AND", lambda: _BitAggregate(lambda a, b: a & b, 0xFFFF_FFFF_FFFF_FFFF)),
    ("BIT_OR", lambda: _BitAggregate(lambda a, b: a | b, 0)),
    ("BIT_XOR", lambda: _BitAggregate(lambda a, b: a ^ b, 0)),
]
