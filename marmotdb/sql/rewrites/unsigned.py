"""BIGINT UNSIGNED in expressions: comparisons, arithmetic and aggregates over the stored form
of sql/types/uint64.py (values from 2^63 are 8-byte BLOBs in the column).

Theory of operation
-------------------
Given the MySQL type of each column reference (``ColumnType``), and only for columns typed
BIGINT UNSIGNED or BIT (no other statement changes; a BIT column holds the same stored form,
its values from 2^63 being BIT(64)'s, and MySQL computes with BIT values as unsigned numbers):

* ``col <op> x``, ``col IN (x, …)``, ``col BETWEEN x AND y``: ``x`` becomes
  ``MYSQL_UINT_KEY(x)``, the stored form, so a literal 18446744073709551615 (text in flight)
  meets the BLOB it was stored as, and orders after every smaller value. A column on both
  sides compares stored forms already.
* ``a + b``, ``a - b``, ``a * b`` with an unsigned operand (a column of any UNSIGNED integer
  type, not only BIGINT's): ``MYSQL_UADD/USUB/UMUL(a, b, 'text')``, exact, 1690 when the
  result leaves 0 … 2^64-1 (MySQL's rule: a result with an unsigned operand is unsigned);
* ``SUM``/``AVG`` of the column: MYSQL_SUM_DECIMAL/AVG_DECIMAL over ``MYSQL_UINT_VALUE``
  (exact text for the BLOBs; SQLite's SUM would read a BLOB as 0);
* result columns ``MIN``/``MAX``/plain arithmetic of such a column are declared BIGINT
  UNSIGNED, so the client gets the number and the UNSIGNED flag (mysql/rows.py decodes the
  BLOB).

Also context-free: an integer literal in the upper half (kept inline by a literal
translation) becomes its exact text, as the shape cache's lifted literals are.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from marmotdb.sql.types import uint64
from marmotdb.sql.types.coltypes import MySqlType

ColumnType = Callable[[exp.Column], MySqlType | None]
UNSIGNED_DECLTYPE = MySqlType("bigint", unsigned=True).sqlite_decltype()
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint"})
_ARITHMETIC = {exp.Add: ("MYSQL_UADD", "+"), exp.Sub: ("MYSQL_USUB", "-"),
               exp.Mul: ("MYSQL_UMUL", "*")}
# MySQL's bit operators are unsigned 64-bit: marmotdb's functions compute them (expressions.py).
BIT_OPERATORS: dict[type[exp.Expression], str] = {
    exp.BitwiseXor: "MYSQL_BIT_XOR_OP", exp.BitwiseOr: "MYSQL_BIT_OR_OP",
    exp.BitwiseAnd: "MYSQL_BIT_AND_OP", exp.BitwiseNot: "MYSQL_BIT_NOT_OP",
    exp.BitwiseLeftShift: "MYSQL_SHIFT_LEFT_OP", exp.BitwiseRightShift: "MYSQL_SHIFT_RIGHT_OP"}
_OPERATOR_OF = {name: operator for operator, name in BIT_OPERATORS.items()}
_UNSIGNED_RESULTS = frozenset({"MYSQL_UADD", "MYSQL_USUB", "MYSQL_UMUL", *_OPERATOR_OF,
                               "MYSQL_BIT_AND", "MYSQL_BIT_OR", "MYSQL_BIT_XOR"})
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ)
_AGGREGATES = {exp.Sum: "MYSQL_SUM_DECIMAL", exp.Avg: "MYSQL_AVG_DECIMAL"}
# Where a stored value (maybe an 8-byte BLOB) may stay as it is: SQLite compares, sorts,
# groups and returns it right there, or a rewrite here handles it. Anywhere else (DIV, %,
# bit operators, other functions) it is read through MYSQL_UINT_VALUE, exact text.
_AS_STORED = (exp.Select, exp.Alias, exp.Ordered, exp.Group, exp.Max, exp.Min, exp.Count,
              exp.AnyValue, exp.Distinct, exp.In, exp.Between, exp.Where, exp.Having,
              exp.Paren, exp.Sum, exp.Avg, exp.Add, exp.Sub, exp.Mul, exp.Is, *_COMPARISONS)


def _call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def big_literal(node: exp.Literal) -> exp.Expression:
    """An integer literal from 2^63 to 2^64-1 as exact text (SQLite would read a REAL)."""
    text = node.this
    if node.is_string or not text.isdigit() or len(text) < 19:
        return node
    if not uint64.HIGH_MIN <= int(text) <= uint64.UINT64_MAX:
        return node
    exact = exp.Literal.string(text)
    exact.meta["uint64_literal"] = True  # a number still, for negative_literal
    return exact


def negative_literal(node: exp.Neg) -> exp.Expression:
    """``-9223372036854775808`` is BIGINT's minimum in MySQL, an integer (not minus a number
    beyond BIGINT, which SQLite would make a REAL)."""
    operand = node.this
    if isinstance(operand, exp.Literal) and operand.meta.get("uint64_literal") and \
            int(operand.this) == uint64.HIGH_MIN:
        return exp.Literal.number(uint64.INT64_MIN)
    return node


class _Rewriter:
    def __init__(self, column_type: ColumnType):
        self.column_type = column_type

    def stored_column(self, node: exp.Expression) -> bool:
        """A column holding types/uint64.py's stored form: BIGINT UNSIGNED, or BIT (BIT(64) values
        from 2^63 are the same 8-byte BLOB; MySQL computes with BIT values as unsigned)."""
        t = self._type(node)
        return t is not None and ((t.name == "bigint" and t.unsigned) or t.name == "bit")

    def unsigned_integer_column(self, node: exp.Expression) -> bool:
        """Any UNSIGNED integer column: MySQL's arithmetic with one is unsigned (1690 below 0;
        Django's PositiveIntegerField expects it from ``F('value') - 1``)."""
        t = self._type(node)
        return t is not None and t.unsigned and t.name in _INTEGER_TYPES

    def unsigned_bigint_column(self, node: exp.Expression) -> bool:
        t = self._type(node)
        return t is not None and t.name == "bigint" and t.unsigned

    def _type(self, node: exp.Expression) -> MySqlType | None:
        if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
            return None
        return self.column_type(node)

    def unsigned(self, node: exp.Expression) -> bool:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, (exp.Max, exp.Min, exp.AnyValue)):  # the stored form, maybe a BLOB
            return self.stored_column(node.this)
        return self.stored_column(node) or self.unsigned_integer_column(node) or (
            isinstance(node, exp.Anonymous) and str(
            node.this).upper() in _UNSIGNED_RESULTS)

    def rewrite(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return self._column(node)
        if isinstance(node, _COMPARISONS):
            return self._comparison(node)
        if isinstance(node, (exp.In, exp.Between)) and self.stored_column(node.this):
            for key in ("expressions", "low", "high"):
                self._wrap_arg(node, key)
            return node
        found = _ARITHMETIC.get(type(node))
        if found is not None and (self.unsigned(node.this) or self.unsigned(node.expression)):
            name, _ = found
            text = exp.Literal.string(_mysql_text(node))
            return _call(name, self._value(node.this), self._value(node.expression), text)
        aggregate = _AGGREGATES.get(type(node))
        if aggregate is not None and self.stored_column(node.this) and \
                not isinstance(node.parent, exp.Window):
            return _call(aggregate, _call("MYSQL_UINT_VALUE", node.this))
        return node

    def _column(self, node: exp.Column) -> exp.Expression:
        parent = node.parent
        if not self.stored_column(node) or parent is None or isinstance(parent, _AS_STORED) \
                or _is_uint_helper(parent) or _reads_stored(parent):
            return node
        if isinstance(parent, exp.Anonymous) and str(parent.this).upper().startswith(
                "MYSQL_JSON_"):  # a JSON number, not the BLOB's base64 (functions/json.py)
            return _call("MYSQL_JSON_ARG", _call("MYSQL_UINT_VALUE", node.copy()))
        return _call("MYSQL_UINT_VALUE", node.copy())

    def _value(self, node: exp.Expression) -> exp.Expression:
        return _call("MYSQL_UINT_VALUE", node) if self.stored_column(node) else node

    def _comparison(self, node: exp.Expression) -> exp.Expression:
        left, right = node.this, node.expression
        if self.stored_column(left) and not isinstance(right, exp.Column):
            node.set("expression", _key(right))
        elif self.stored_column(right) and not isinstance(left, exp.Column):
            node.set("this", _key(left))
        return node

    def _wrap_arg(self, node: exp.Expression, key: str) -> None:
        value = node.args.get(key)
        if isinstance(value, list):
            node.set(key, [v if isinstance(v, exp.Column) else _key(v) for v in value])
        elif isinstance(value, exp.Expression) and not isinstance(value, (exp.Column,
                                                                          exp.Query)):
            node.set(key, _key(value))


def _mysql_text(node: exp.Expression) -> str:
    """``node`` as MySQL names it in 1690's message: bit operators written back."""
    def operator(n: exp.Expression) -> exp.Expression:
        found = _OPERATOR_OF.get(str(n.this).upper()) if isinstance(n, exp.Anonymous) else None
        if found is None:
            return n
        args = n.expressions
        if found is exp.BitwiseNot:
            return exp.BitwiseNot(this=args[0])
        return found(this=args[0], expression=args[1])
    return node.copy().transform(operator).sql(dialect="mysql")


def _reads_stored(node: exp.Expression) -> bool:
    """HEX of the 8-byte BLOB is already the number's hex digits (its first byte is 0x80 or
    more); of the in-flight decimal text it would be the digits' codes."""
    return isinstance(node, exp.Anonymous) and str(node.this).upper() == "MYSQL_HEX"


def _is_uint_helper(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in (
        "MYSQL_UINT_VALUE", "MYSQL_UINT_KEY", *_UNSIGNED_RESULTS)


def _key(node: exp.Expression) -> exp.Expression:
    if isinstance(node, (exp.Null, exp.Query, exp.Subquery)):
        return node
    return _call("MYSQL_UINT_KEY", node)


def _unsigned_cast(node: exp.Anonymous) -> bool:
    args = node.expressions
    return str(node.this).upper() == "MYSQL_CAST" and len(args) == 2 and \
        isinstance(args[1], exp.Literal) and args[1].this == "UNSIGNED"


def rewrite_unsigned(tree: exp.Expression, column_type: ColumnType) -> exp.Expression:
    """Apply the rewrites above to every node of ``tree``, children first; returns the root."""
    rewriter = _Rewriter(column_type)
    for node in reversed(list(tree.walk(bfs=False))):
        replacement = rewriter.rewrite(node)
        if replacement is node:
            continue
        if node is tree:
            tree = replacement
        else:
            node.replace(replacement)
    return tree


def unsigned_decltypes(select: exp.Select, column_type: ColumnType) -> tuple[str | None, ...]:
    """BIGINT UNSIGNED for result columns MySQL types so (after ``rewrite_unsigned``)."""
    rewriter = _Rewriter(column_type)
    decltypes: list[str | None] = []
    for projection in select.expressions:
        target = projection.this if isinstance(projection, exp.Alias) else projection
        inner = target.this if isinstance(target, (exp.Max, exp.Min, exp.AnyValue)) else None
        computed = isinstance(target, exp.Anonymous) and (
            str(target.this).upper() in _UNSIGNED_RESULTS or _unsigned_cast(target))
        aggregated = inner is not None and rewriter.unsigned_bigint_column(inner)
        decltypes.append(UNSIGNED_DECLTYPE if computed or aggregated else None)
    return tuple(decltypes)
