"""BIGINT UNSIGNED beyond SQLite's integers: how values from 2^63 to 2^64-1 are held.

Theory of operation
-------------------
SQLite's INTEGER is a signed 64-bit number, so the upper half of MySQL's BIGINT UNSIGNED range
(2^63 … 2^64-1) has no SQLite integer. The representation:

* **stored** (in a BIGINT UNSIGNED column, so in row images, replicas and snapshots too):
  values below 2^63 are plain INTEGERs, as before; values from 2^63 are an 8-byte big-endian
  BLOB. SQLite orders every INTEGER before every BLOB and BLOBs by their bytes, and a fixed
  width big-endian number orders by its bytes, so ``ORDER BY``, ``MIN``/``MAX``, indexes and
  comparisons between stored values are exact without a collation. The common case (small
  values) costs nothing and stays an integer to every other part of marmotdb.
* **in flight** (a literal the shape cache lifted, a binary-protocol parameter, the result of
  unsigned arithmetic or ``CAST(… AS UNSIGNED)``): decimal text, exact, which SQLite converts
  to REAL where it needs a number, as it did before, and which prints as MySQL prints it.
  ``MYSQL_STORE`` turns text into the BLOB on the way into a column.
* **compared with a stored value**: ``rewrites/unsigned.py`` wraps the other side of a
  comparison with an unsigned column in ``MYSQL_UINT_KEY``, which gives the stored form (an
  integer, or the BLOB), so ``v = 18446744073709551615`` finds the row and ``v > 2^63`` orders
  right; arithmetic on an unsigned column goes through ``MYSQL_UADD``/``USUB``/``UMUL`` with
  MySQL's range check (1690); ``SUM``/``AVG`` read exact values through ``MYSQL_UINT_VALUE``.
* **to a client**: a result column typed BIGINT UNSIGNED (declared, or inferred for MIN/MAX
  and the unsigned operations) decodes the BLOB (mysql/rows.py ``as_int``), and is announced
  with the UNSIGNED flag, in the text and the binary protocol.

Rejected: storing every value offset by 2^63 (orders right, but every read, literal and
arithmetic would need converting, and small values would stop being what they are); REAL
(inexact above 2^53); zero-padded TEXT (INTEGER affinity turns digit strings into REALs).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from marmotdb import errors

HIGH_MIN = 1 << 63  # the first value that has no SQLite integer
UINT64_MAX = (1 << 64) - 1
INT64_MIN = -(1 << 63)
ER_DATA_OUT_OF_RANGE = 1690


def stored(number: int) -> int | bytes:
    """The stored form of an unsigned 64-bit value (0 <= number <= 2^64-1)."""
    return number if number < HIGH_MIN else number.to_bytes(8, "big")


def in_flight(number: int) -> int | str:
    """A value SQLite can carry between functions: an integer, or exact decimal text."""
    return number if INT64_MIN <= number < HIGH_MIN else str(number)


def is_high_blob(value: object) -> bool:
    return type(value) is bytes and len(value) == 8 and value[0] >= 0x80


def exact(value: object) -> int | Decimal | None:
    """The exact number of a stored, in-flight or SQL value (None for NULL or non-numbers)."""
    if value is None:
        return None
    if is_high_blob(value):
        return int.from_bytes(value, "big")  # type: ignore[arg-type]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value else None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else number


# ---------------------------------------------------------------- SQL functions

def uint_key(value: object) -> object:
    """MYSQL_UINT_KEY: the other side of a comparison with a BIGINT UNSIGNED column, in the
    stored form when it is a whole number in the unsigned upper range, unchanged otherwise."""
    number = exact(value)
    if isinstance(number, int) and HIGH_MIN <= number <= UINT64_MAX:
        return number.to_bytes(8, "big")
    if isinstance(number, int) and number > UINT64_MAX:
        return b"\xff" * 9  # orders after every stored value: a longer BLOB of the same bytes
    return value


def uint_value(value: object) -> object:
    """MYSQL_UINT_VALUE: a stored value as SQLite can compute with it (exact text above 2^63)."""
    if is_high_blob(value):
        return str(int.from_bytes(value, "big"))  # type: ignore[arg-type]
    return value


def _operate(a: object, b: object, a_text: str, b_text: str, operation: str
             ) -> int | str | None:
    left, right = exact(a), exact(b)
    if left is None or right is None:
        return None if a is None or b is None else 0
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        return str(_apply(Decimal(left), Decimal(right), operation))
    result = _apply(left, right, operation)
    if not 0 <= int(result) <= UINT64_MAX:
        raise errors.error(ER_DATA_OUT_OF_RANGE, "BIGINT UNSIGNED value is out of range in "
                           f"'({a_text or printed(a)} {operation} {b_text or printed(b)})'")
    return in_flight(int(result))


def printed(value: object) -> str:
    """A value bound in (not written in the statement) as MySQL prints its literal."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _apply(a: int | Decimal, b: int | Decimal, operation: str) -> int | Decimal:
    if operation == "+":
        return a + b
    if operation == "-":
        return a - b
    return a * b


def uint_add(a: object, b: object, a_text: str, b_text: str) -> int | str | None:
    return _operate(a, b, a_text, b_text, "+")


def uint_sub(a: object, b: object, a_text: str, b_text: str) -> int | str | None:
    return _operate(a, b, a_text, b_text, "-")


def uint_mul(a: object, b: object, a_text: str, b_text: str) -> int | str | None:
    return _operate(a, b, a_text, b_text, "*")


UINT64_SCALARS = [
    ("UINT_KEY", uint_key, 1, True), ("UINT_VALUE", uint_value, 1, True),
    ("UADD", uint_add, 4, True), ("USUB", uint_sub, 4, True), ("UMUL", uint_mul, 4, True),
]
UINT64_INTERNAL_FUNCTIONS = frozenset({name for name, *_ in UINT64_SCALARS})
