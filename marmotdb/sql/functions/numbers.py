"""MySQL's numeric functions: ROUND and TRUNCATE exact on DECIMAL text, CEIL/FLOOR keeping
integers integral, MOD, LOG with MySQL's base order and NULL for a non-positive argument, COT,
SIGN."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from marmotdb import errors
from marmotdb.sql.types import int64, uint64
from marmotdb.sql.types.coltypes import parse_number_prefix, to_text
from marmotdb.sql.functions.context import Scalar, nulls, to_int, to_number

def exact_decimal(value: object) -> Decimal | None:
    """The exact decimal value (DECIMAL columns are stored as text: keep every digit)."""
    if isinstance(value, (str, bytes)):
        number, _ = parse_number_prefix(to_text(value) or "")
        return number if number is not None else Decimal(0)
    number = to_number(value)
    if number is None:
        return None
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def mysql_round(value: object, places: object = 0) -> object:
    if value is None or places is None:
        return None
    digits = to_int(places) or 0
    number = to_number(value)
    if isinstance(number, float):
        if digits <= 0:
            return int(round(Decimal(repr(number)).scaleb(digits), 0).scaleb(-digits)) \
                if digits < 0 else int(Decimal(repr(number)).quantize(1, ROUND_HALF_UP))
        return float(Decimal(repr(number)).quantize(Decimal(1).scaleb(-digits),
                                                    rounding=ROUND_HALF_UP))
    exact = exact_decimal(value) or Decimal(0)
    rounded_exact = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP) \
        if digits >= 0 else (exact.scaleb(digits).quantize(1, ROUND_HALF_UP)).scaleb(-digits)
    if isinstance(number, int) or digits <= 0:
        return int(rounded_exact)
    return _decimal_result(rounded_exact)


def _decimal_result(value: Decimal) -> object:
    """A DECIMAL result: int when whole and scale 0, else its exact text."""
    if value == value.to_integral_value() and value.as_tuple().exponent >= 0:
        return int(value)
    return str(value)


def truncate_number(value: object, places: object) -> object:
    if value is None or places is None:
        return None
    digits = to_int(places) or 0
    number = to_number(value)
    exact = exact_decimal(value) or Decimal(0)
    cut = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN) if digits >= 0 \
        else exact.scaleb(digits).quantize(1, ROUND_DOWN).scaleb(-digits)
    if isinstance(number, float):
        return float(cut)
    if isinstance(number, int) or digits <= 0:
        return int(cut)
    return _decimal_result(cut)


@nulls
def ceil(value: object) -> object:
    number = to_number(value)
    return number if isinstance(number, int) else math.ceil(number)  # type: ignore


@nulls
def floor(value: object) -> object:
    number = to_number(value)
    return number if isinstance(number, int) else math.floor(number)  # type: ignore


def mod(a: object, b: object) -> object:
    x, y = to_number(a), to_number(b)
    if x is None or y is None or y == 0:
        return None
    if isinstance(x, int) and isinstance(y, int):  # exact to 2^64 (sign of the dividend)
        remainder = abs(x) % abs(y)
        return -remainder if x < 0 else remainder
    return float(Decimal(repr(float(x))) % Decimal(repr(float(y))))


def integer_division(a: object, b: object, a_text: str, b_text: str) -> int | str | None:
    """``a DIV b`` (MYSQL_INT_DIV): exact, truncated toward zero, BIGINT (BIGINT UNSIGNED with
    an operand from 2^63), 1690 out of that range; NULL when ``b`` is 0. ``a_text``/``b_text``:
    the operands as MySQL prints them, '' for a value bound in (printed from the value)."""
    x, y = to_number(a), to_number(b)
    if x is None or y is None or y == 0:
        return None
    text = f"({a_text or uint64.printed(a)} DIV {b_text or uint64.printed(b)})"
    if isinstance(x, int) and isinstance(y, int):
        quotient = abs(x) // abs(y)
        unsigned = max(x, y) > int64.INT64_MAX
        return uint64.in_flight(int64.checked(-quotient if (x < 0) != (y < 0) else quotient,
                                              unsigned, text))
    exact = Decimal(repr(x) if isinstance(x, float) else x) / \
        Decimal(repr(y) if isinstance(y, float) else y)
    return uint64.in_flight(int64.checked(int(exact.to_integral_value(ROUND_DOWN)), False,
                                          text))


_ONE_ARGUMENT = object()  # LOG(x): no base given (LOG(b, NULL) is NULL, not LOG(b))


def log(a: object, b: object = _ONE_ARGUMENT) -> float | None:
    if b is _ONE_ARGUMENT:
        x = to_number(a)
        return math.log(x) if x is not None and x > 0 else None
    base, x = to_number(a), to_number(b)
    if base is None or x is None or base <= 0 or base == 1 or x <= 0:
        return None
    return math.log(x) / math.log(base)


def cot(a: object) -> float | None:
    """COT(x): 1 / TAN(x); MySQL refuses COT(0) as out of the DOUBLE range (1690)."""
    x = to_number(a)
    if x is None:
        return None
    tangent = math.tan(x)
    if tangent == 0:
        raise errors.error(errors.ER_DATA_OUT_OF_RANGE,
                           f"DOUBLE value is out of range in 'cot({to_text(a)})'")
    return 1 / tangent


def _log_with(fn: Callable[[float], float]) -> Callable[[object], float | None]:
    def compute(a: object) -> float | None:
        x = to_number(a)
        return fn(float(x)) if x is not None and x > 0 else None
    return compute


@nulls
def sign(value: object) -> int:
    x = to_number(value) or 0
    return (x > 0) - (x < 0)


NUMBER_SCALARS: list[Scalar] = [
    ("ROUND", mysql_round, -1, True),
    ("TRUNCATE", truncate_number, 2, True),
    ("CEIL", ceil, 1, True),
    ("CEILING", ceil, 1, True),
    ("FLOOR", floor, 1, True),
    ("MOD", mod, 2, True),
    ("INT_DIV", integer_division, 4, True),
    ("LOG", log, -1, True),
    ("LN", log, 1, True),
    ("COT", cot, 1, True),
    ("LOG2", _log_with(math.log2), 1, True),
    ("LOG10", _log_with(math.log10), 1, True),
    ("SIGN", sign, 1, True),
]
