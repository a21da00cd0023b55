"""ENUM, SET and temporal columns in numeric context, as MySQL reads them there.

Theory of operation
-------------------
ENUM and SET columns store their text, DATE/DATETIME/TIMESTAMP/TIME columns their canonical
text (coltypes.py). In numeric context MySQL reads them as numbers of their own: an ENUM as its
member's position (1-based; 0 for the invalid ''), a SET as its members' bitmask (bit i for the
i-th member), a DATE as YYYYMMDD, a DATETIME/TIMESTAMP as YYYYMMDDhhmmss, a TIME as [-]hhmmss.
SQLite would take the text's leading number (``'x,y' + 0`` is 0, ``'2024-02-29' + 0`` 2024), so
such a column that is an operand of arithmetic (``+ - * / DIV %``, unary minus) or of a bitwise
operator (``& | ^ ~ << >>``; ``st & 2`` is how a SET's membership is tested) is replaced by that
number, written in plain SQL from the column's definition (no function call: the planner still
sees the column). ``ORDER BY`` a SET column sorts by the bitmask, as MySQL does (ENUM's order
is rewrite_enum_order's). ``dt + INTERVAL n unit`` is date arithmetic, not numeric context, and
stays as it is; temporal columns with fractional seconds (MySQL gives a DECIMAL there) too.

Only what a SELECT reads is rewritten (the column's type comes from the statement's own
tables, ``ColumnType``): comparisons such as ``e = 2`` and aggregates such as ``SUM(e)`` keep
SQLite's reading.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from marmotdb.sql.types.coltypes import MySqlType
from marmotdb.sql.rewrites.expressions import number, string

ColumnType = Callable[[exp.Column], MySqlType | None]
_NUMERIC_OPERATORS = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg,
                      exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor)
_NUMERIC_CALLS = frozenset({"MYSQL_BIT_AND_OP", "MYSQL_BIT_OR_OP", "MYSQL_BIT_XOR_OP",
                            "MYSQL_BIT_NOT_OP", "MYSQL_SHIFT_LEFT_OP", "MYSQL_SHIFT_RIGHT_OP"})
_DIGITS_ONLY = {"date": ("-",), "datetime": ("-", " ", ":"), "timestamp": ("-", " ", ":"),
                "time": (":",)}


def rewrite_numeric_context(tree: exp.Expression, column_type: ColumnType) -> None:
    """Every ENUM/SET/temporal column operand of arithmetic in ``tree``, and every ORDER BY of
    a SET column, replaced by the number MySQL reads there (in place)."""
    for column in list(tree.find_all(exp.Column)):
        parent = column.parent
        if _numeric_operator(parent) and not _date_arithmetic(parent):
            replacement = _as_number(column, column_type(column))
        elif isinstance(parent, exp.Ordered) and parent.this is column:
            t = column_type(column)
            replacement = _set_bitmask(column, t) if t is not None and t.name == "set" else None
        else:
            continue
        if replacement is not None:
            column.replace(replacement)


def _numeric_operator(node: exp.Expression | None) -> bool:
    """Arithmetic or a bitwise operator (unsigned.py turns these into calls)."""
    return isinstance(node, _NUMERIC_OPERATORS) or (
        isinstance(node, exp.Anonymous) and str(node.this).upper() in _NUMERIC_CALLS)


def _date_arithmetic(operator: exp.Expression) -> bool:
    return any(isinstance(operand, exp.Interval) for operand in operator.iter_expressions())


def _as_number(column: exp.Column, t: MySqlType | None) -> exp.Expression | None:
    if t is None:
        return None
    if t.name == "enum":
        return enum_position(column, t)
    if t.name == "set":
        return _set_bitmask(column, t)
    if t.name in _DIGITS_ONLY and not t.fsp:
        return _digits(column, _DIGITS_ONLY[t.name])
    return None


def enum_position(column: exp.Expression, t: MySqlType) -> exp.Expression:
    """The member's 1-based position; 0 for anything else (the invalid ''); NULL stays NULL."""
    cases = [exp.If(this=string(v), true=number(i + 1)) for i, v in enumerate(t.values)]
    return exp.Paren(this=exp.Case(ifs=[exp.If(this=exp.Is(this=column.copy(),
                                                            expression=exp.Null()),
                                               true=exp.Null())],
                                   default=exp.Case(this=column.copy(), ifs=cases,
                                                    default=number(0))))


def _set_bitmask(column: exp.Column, t: MySqlType) -> exp.Expression:
    """Sum of 2^i over the members the stored list names (members hold no comma; NULL stays
    NULL)."""
    wrapped = exp.DPipe(this=exp.DPipe(this=string(","), expression=column.copy()),
                        expression=string(","))
    bits: exp.Expression = number(0)
    for i, member in enumerate(t.values):
        found = exp.GT(this=exp.Anonymous(this="INSTR", expressions=[
            wrapped.copy(), string(f",{member},")]), expression=number(0))
        bits = exp.Add(this=bits, expression=exp.Case(
            ifs=[exp.If(this=found, true=number(1 << i))], default=number(0)))
    return exp.Paren(this=exp.Case(
        ifs=[exp.If(this=exp.Is(this=column.copy(), expression=exp.Null()), true=exp.Null())],
        default=bits))


def _digits(column: exp.Column, separators: tuple[str, ...]) -> exp.Expression:
    """The stored text without its separators, as an integer (``-12:30:00`` is -123000)."""
    text: exp.Expression = column.copy()
    for separator in separators:
        text = exp.Anonymous(this="REPLACE", expressions=[text, string(separator), string("")])
    return exp.Cast(this=text, to=exp.DataType.build("BIGINT"))
