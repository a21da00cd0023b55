"""Exact DECIMAL arithmetic as MySQL does it: ``+ - * /`` at MySQL's result scale (the rewrites
emit ``MYSQL_DEC_*`` for DECIMAL operands, see rewrites/decimal.py) and SUM / AVG of DECIMAL
columns without going through doubles."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from marmotdb.sql.types import coltypes
from marmotdb.sql.functions.context import Scalar, to_int
from marmotdb.sql.functions.numbers import exact_decimal

DECIMAL_SCALE_MAX = 30
DIV_PRECISION_INCREMENT = 4  # MySQL's default div_precision_increment
DIGITS_PER_WORD = 9  # MySQL's decimal arithmetic works in words of 9 digits
_DECIMAL_CONTEXT = coltypes.DECIMAL_CONTEXT  # 140 digits: the default context keeps 28


def _scale(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _decimal_text(number: Decimal, scale: int) -> str:
    scale = min(scale, DECIMAL_SCALE_MAX)
    rounded = number.quantize(Decimal(1).scaleb(-scale), context=_DECIMAL_CONTEXT)
    return coltypes.format_decimal(rounded, scale)


def _decimal_operation(operate: Callable[[Decimal, Decimal], Decimal],
                       scale_of: Callable[[int, int], int]) -> Callable[[object, object],
                                                                         str | None]:
    """An exact DECIMAL operator: text in any numeric form, text out at MySQL's scale."""
    def operator(a: object, b: object) -> str | None:
        left, right = exact_decimal(a), exact_decimal(b)
        if left is None or right is None:
            return None
        return _decimal_text(operate(left, right), scale_of(_scale(left), _scale(right)))
    return operator


def decimal_divide(a: object, b: object) -> str | None:
    """MySQL ``/`` with a DECIMAL result, as an intermediate value: MySQL divides to whole
    9-digit words of fraction (scale1 + scale2 + div_precision_increment, rounded up to a
    multiple of 9), truncating, and rounds to the result's scale only at the end (so 1/3*3
    is 1.0000, not 0.9999); the translator wraps the result column in MYSQL_DEC_FORMAT.
    NULL for a zero divisor (as MySQL's SELECT gives)."""
    left, right = exact_decimal(a), exact_decimal(b)
    if left is None or right is None or right == 0:
        return None
    words = -(-(_scale(left) + _scale(right) + DIV_PRECISION_INCREMENT) // DIGITS_PER_WORD)
    scale = min(words * DIGITS_PER_WORD, DECIMAL_SCALE_MAX)
    quotient = _DECIMAL_CONTEXT.divide(left, right).quantize(
        Decimal(1).scaleb(-scale), rounding=ROUND_DOWN, context=_DECIMAL_CONTEXT)
    return coltypes.format_decimal(quotient, scale)


def decimal_format(value: object, scale: object) -> str | None:
    """A DECIMAL-typed result computed in floating point, shown at its scale."""
    number = exact_decimal(value)
    if number is None:
        return None
    return _decimal_text(number, to_int(scale) or 0)


DECIMAL_SCALARS: list[Scalar] = [
    ("DEC_ADD", _decimal_operation(_DECIMAL_CONTEXT.add, max), 2, True),
    ("DEC_SUB", _decimal_operation(_DECIMAL_CONTEXT.subtract, max), 2, True),
    ("DEC_MUL", _decimal_operation(_DECIMAL_CONTEXT.multiply, lambda x, y: x + y), 2, True),
    ("DEC_DIV", decimal_divide, 2, True), ("DEC_FORMAT", decimal_format, 2, True),
]


class _DecimalSum:
    """SUM/AVG over DECIMAL columns: exact, like MySQL (SQLite would sum doubles)."""

    def __init__(self, average: bool):
        self.average, self.total, self.count = average, Decimal(0), 0
        self.scale = 0

    def step(self, value: object) -> None:
        exact = exact_decimal(value)
        if exact is not None:
            self.total = _DECIMAL_CONTEXT.add(self.total, exact)
            self.count += 1
            self.scale = max(self.scale, -int(exact.as_tuple().exponent))

    def final(self) -> str | None:
        if not self.count:
            return None
        if not self.average:
            return coltypes.format_decimal(self.total, self.scale)
        mean = _DECIMAL_CONTEXT.divide(self.total, self.count).quantize(
            Decimal(1).scaleb(-(self.scale + 4)), context=_DECIMAL_CONTEXT)
        return coltypes.format_decimal(mean, self.scale + 4)


DECIMAL_AGGREGATES: list[tuple[str, Callable[[], Any]]] = [
    ("SUM_DECIMAL", lambda: _DecimalSum(False)),
    ("AVG_DECIMAL", lambda: _DecimalSum(True)),
]
