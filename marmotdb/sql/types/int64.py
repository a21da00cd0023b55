"""BIGINT arithmetic as MySQL does it: exact, or 1690 — never SQLite's REAL.

Theory of operation
-------------------
SQLite computes ``a + b``, ``a - b``, ``a * b`` and ``-a`` on integers in 64 bits and, when the
result does not fit, gives a REAL (9223372036854775807 + 1 is 9.223372036854776e18). MySQL
gives error 1690 "BIGINT value is out of range in '(…)'", or, where an operand is unsigned (an
integer literal from 2^63, a value in flight from sql/types/uint64.py), computes in BIGINT
UNSIGNED. SQLite's REAL also comes back whenever an operand is not an integer, so a REAL is
the one sign that an integer expression may have gone wrong, and it costs nothing to look at:

* ``rewrites/unsigned.py`` (``checked_arithmetic``) turns a tree of ``+ - *`` and unary minus
  over columns, literals and placeholders into
  ``CASE WHEN typeof(T) = 'real' THEN MYSQL_INT_EXACT('<tree>', leaf…) ELSE T END``:
  SQLite keeps computing ``T`` in C; only a REAL result (an overflow somewhere in the tree,
  since a REAL stays REAL upwards, or a non-integer operand) calls Python.
* ``exact_arithmetic`` (MYSQL_INT_EXACT) evaluates the tree again from its leaves with MySQL's
  rules: integer nodes exact, signed unless an operand is unsigned, 1690 naming the node that
  left its range; a float operand makes the node a float, as SQLite made it; minus a constant
  -2^63 (or minus a constant unsigned beyond 2^63) is DECIMAL, as MySQL types it.

The tree travels as JSON text in the statement (``["+", 0, ["neg", 1]]``, leaves by index,
each with its MySQL text and kind), parsed once per distinct text (``_parsed``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from decimal import Decimal

from marmotdb import errors
from marmotdb.sql.types import uint64
from marmotdb.sql.types.coltypes import parse_number_prefix

INT64_MAX = (1 << 63) - 1
LEAF_COLUMN, LEAF_CONSTANT, LEAF_PARAMETER = "v", "c", "p"
_BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


class _Number:
    """An operand value: an exact integer (signed or unsigned), or a float as SQLite has it."""

    __slots__ = ("value", "unsigned", "constant")

    def __init__(self, value: int | float | Decimal, unsigned: bool = False, constant: bool = False):
        self.value = value
        self.unsigned = unsigned
        self.constant = constant


def out_of_range(text: str, unsigned: bool) -> errors.MarmotError:
    kind = "BIGINT UNSIGNED" if unsigned else "BIGINT"
    return errors.error(uint64.ER_DATA_OUT_OF_RANGE, f"{kind} value is out of range in '{text}'")


def checked(value: int, unsigned: bool, text: str) -> int:
    """``value`` if it fits BIGINT (or BIGINT UNSIGNED), else 1690 naming ``text``."""
    low, high = (0, uint64.UINT64_MAX) if unsigned else (uint64.INT64_MIN, INT64_MAX)
    if not low <= value <= high:
        raise out_of_range(text, unsigned)
    return value


@functools.lru_cache(maxsize=512)
def _parsed(template: str) -> tuple[object, tuple[tuple[str, str], ...]]:
    tree, leaves = json.loads(template)
    return tree, tuple((text, kind) for text, kind in leaves)


class _Evaluation:
    def __init__(self, leaves: Sequence[tuple[str, str]], values: Sequence[object]):
        self.leaves = leaves
        self.values = values

    def text(self, node: object) -> str:
        """MySQL 8's print of ``node``: ``(a + b)``, ``-(a)``."""
        if isinstance(node, int):
            text, kind = self.leaves[node]
            return uint64.printed(self.values[node]) if kind == LEAF_PARAMETER else text
        assert isinstance(node, list)
        if node[0] == "neg":
            return f"-({self.text(node[1])})"
        return f"({self.text(node[1])} {node[0]} {self.text(node[2])})"

    def number(self, node: object) -> _Number | None:
        if isinstance(node, int):
            return self._leaf(node)
        assert isinstance(node, list)
        if node[0] == "neg":
            return self._negative(node)
        left, right = self.number(node[1]), self.number(node[2])
        if left is None or right is None:
            return None
        constant = left.constant and right.constant
        if isinstance(left.value, int) and isinstance(right.value, int):
            unsigned = left.unsigned or right.unsigned
            value = checked(_BINARY[node[0]](left.value, right.value), unsigned, self.text(node))
            return _Number(value, unsigned, constant)
        if isinstance(left.value, float) or isinstance(right.value, float):
            return _Number(_BINARY[node[0]](float(left.value), float(right.value)), False,
                           constant)
        return _Number(_BINARY[node[0]](Decimal(left.value), Decimal(right.value)), False,
                       constant)

    def _negative(self, node: list[object]) -> _Number | None:
        operand = self.number(node[1])
        if operand is None:
            return None
        if not isinstance(operand.value, int):
            return _Number(-operand.value, False, operand.constant)
        negated = -operand.value
        if uint64.INT64_MIN <= negated <= INT64_MAX:
            return _Number(negated, False, operand.constant)
        if operand.constant:  # MySQL types minus such a constant DECIMAL
            return _Number(Decimal(negated), False, True)
        raise out_of_range(self.text(node), False)

    def _leaf(self, index: int) -> _Number | None:
        value = self.values[index]
        constant = self.leaves[index][1] != LEAF_COLUMN
        if value is None:
            return None
        if isinstance(value, bool) or isinstance(value, int):
            return _Number(int(value), False, constant)
        if isinstance(value, float):
            return _Number(value, False, constant)
        if constant:
            whole = _whole(value)
            if whole is not None and uint64.HIGH_MIN <= whole <= uint64.UINT64_MAX:
                return _Number(whole, True, constant)  # in flight: BIGINT UNSIGNED
        return _Number(_as_float(value), False, constant)


def _whole(value: object) -> int | None:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    return int(text) if text.isdigit() else None


def _as_float(value: object) -> float:
    """A text operand as SQLite read it: its numeric prefix, 0.0 for none."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    number, _ = parse_number_prefix(text)
    return float(number) if number is not None else 0.0


def exact_arithmetic(template: str, *values: object) -> object:
    """MYSQL_INT_EXACT: the tree of ``template`` over ``values``, MySQL's way (module doc)."""
    tree, leaves = _parsed(template)
    result = _Evaluation(leaves, values).number(tree)
    if result is None:
        return None
    if isinstance(result.value, int):
        return uint64.in_flight(result.value)
    return str(result.value) if isinstance(result.value, Decimal) else result.value


INT64_SCALARS = [("INT_EXACT", exact_arithmetic, -1, True)]
INT64_INTERNAL_FUNCTIONS = frozenset({name for name, *_ in INT64_SCALARS})
