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
  type, not only BIGINT's, ``CAST(… AS UNSIGNED)``, an integer literal from 2^63, a bit
  operator's result): ``MYSQL_UADD/USUB/UMUL(a, b, a_text, b_text)``, exact, 1690 when the
  result leaves 0 … 2^64-1 (MySQL's rule: a result with an unsigned operand is unsigned);
* any other tree of ``+ - *`` and unary minus over columns, literals and placeholders:
  ``CASE WHEN <SQLite's value may not be MySQL's> THEN MYSQL_INT_EXACT(…) ELSE <tree> END``
  (``_checked``; types/int64.py has the theory), so signed overflow is 1690, not a REAL;
* ``IN``/``BETWEEN`` with an integer literal from 2^63 compare stored forms (exact text
  would compare as text); 1690's message names the expression as MySQL 8 prints it
  (``mysql_text``: ``(`db`.`t`.`n` + 1)``, ``cast(1 as unsigned)``);
* ``SUM``/``AVG`` of the column: MYSQL_SUM_DECIMAL/AVG_DECIMAL over ``MYSQL_UINT_VALUE``
  (exact text for the BLOBs; SQLite's SUM would read a BLOB as 0);
* result columns ``MIN``/``MAX``/plain arithmetic of such a column are declared BIGINT
  UNSIGNED, so the client gets the number and the UNSIGNED flag (mysql/rows.py decodes the
  BLOB).

Also context-free: an integer literal in the upper half (kept inline by a literal
translation) becomes its exact text, as the shape cache's lifted literals are.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlglot import exp

from marmotdb.sql.types import int64, uint64
from marmotdb.sql.types.coltypes import MySqlType

ColumnType = Callable[[exp.Column], MySqlType | None]
# A column as MySQL prints it in an error's expression (`db`.`t`.`c`); None: as written.
ColumnName = Callable[[exp.Column], str | None]
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
_SIGNED_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Neg)
_INTEGER_FUNCTIONS = (exp.Abs, exp.Max, exp.Min, exp.Count)
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
    def __init__(self, column_type: ColumnType, column_name: ColumnName | None = None):
        self.column_type = column_type
        self.column_name = column_name

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
        if isinstance(node, exp.Literal):  # 2^63 … 2^64-1 (big_literal)
            return is_big_literal(node)
        return self.stored_column(node) or self.unsigned_integer_column(node) or (
            isinstance(node, exp.Anonymous) and (str(node.this).upper() in _UNSIGNED_RESULTS
                                                 or _unsigned_cast(node)))

    def rewrite(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return self._column(node)
        if isinstance(node, _COMPARISONS):
            return self._comparison(node)
        if isinstance(node, (exp.In, exp.Between)) and (
                self.stored_column(node.this) or _compares_big_literal(node)):
            for key in ("this", "expressions", "low", "high"):
                self._wrap_arg(node, key)  # as stored, numbers from 2^63 order as numbers
            return node
        found = _ARITHMETIC.get(type(node))
        if found is not None and (self.unsigned(node.this) or self.unsigned(node.expression)):
            texts = operand_texts(node.this, node.expression, column_name=self.column_name)
            return _call(found[0], self._checked(self._value(node.this)),
                         self._checked(self._value(node.expression)), *texts)
        if isinstance(node, _SIGNED_ARITHMETIC) and not _in_arithmetic(node):
            return self._checked(node)
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

    def _checked(self, node: exp.Expression) -> exp.Expression:
        """A tree of integer ``+ - *`` and unary minus, as SQLite computes it while the result
        is an integer, and exactly with MySQL's range check (1690) when it is not
        (types/int64.py's theory of operation). Unchanged when it is not such a tree or an
        operand is known not to be an integer (a DOUBLE or DECIMAL is computed elsewhere)."""
        leaves: list[exp.Expression] = []
        tree = self._arithmetic_tree(node, leaves)
        if tree is None or not isinstance(tree, list):
            return node
        template = json.dumps([tree, [(mysql_text(leaf, self.column_name), _leaf_kind(leaf))
                                      for leaf in leaves]])
        exact = _call("MYSQL_INT_EXACT", exp.Literal.string(template),
                      *(leaf.copy() for leaf in leaves))
        checked = exp.Case(ifs=[exp.If(this=_not_integer(node, tree), true=exact)],
                           default=node.copy())
        checked.meta["checked"] = True  # printed as its default (mysql_text)
        return checked

    def _arithmetic_tree(self, node: exp.Expression, leaves: list[exp.Expression]
                         ) -> object | None:
        """``node`` as types/int64.py's JSON tree, its leaves appended to ``leaves``; None
        if a part is not integer arithmetic over columns, literals and placeholders."""
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Neg) and not _bigint_minimum(node):
            operand = self._arithmetic_tree(node.this, leaves)
            return None if operand is None else ["neg", operand]
        found = _ARITHMETIC.get(type(node))
        if found is not None:
            left = self._arithmetic_tree(node.this, leaves)
            right = self._arithmetic_tree(node.expression, leaves) if left is not None \
                else None
            return None if right is None else [found[1], left, right]
        if not self._integer_leaf(node):
            return None
        leaves.append(node)
        return len(leaves) - 1

    def _integer_leaf(self, node: exp.Expression) -> bool:
        if isinstance(node, exp.Placeholder) or _bigint_minimum(node):
            return True
        if isinstance(node, exp.Literal):
            return node.this.isdigit() and (not node.is_string or
                                            bool(node.meta.get("uint64_literal")))
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            t = self.column_type(node)
            return t is None or (t.family == "int" and not t.unsigned)
        if isinstance(node, _INTEGER_FUNCTIONS) and not isinstance(node.parent, exp.Window):
            operand = node.this  # ABS/MIN/MAX of an integer are integers; cheap to compute
            return isinstance(node, exp.Count) or (  # twice (aggregates: once per group)
                not isinstance(operand, exp.Placeholder) and self._integer_leaf(operand))
        return False

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


_PRINTED_OPERATORS: dict[type[exp.Expression], str] = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.IntDiv: "DIV", exp.Mod: "%",
    exp.BitwiseXor: "^", exp.BitwiseOr: "|", exp.BitwiseAnd: "&", exp.BitwiseLeftShift: "<<",
    exp.BitwiseRightShift: ">>"}
_PRINTED_CALLS = {"MYSQL_UADD": "+", "MYSQL_USUB": "-", "MYSQL_UMUL": "*", "MYSQL_MOD": "%",
                  "MYSQL_INT_DIV": "DIV",
                  **{name: _PRINTED_OPERATORS.get(operator, "~")
                     for name, operator in _OPERATOR_OF.items()}}


def operand_texts(*operands: exp.Expression, column_name: ColumnName | None = None
                  ) -> list[exp.Literal]:
    """The operands of an operator as ``mysql_text`` prints them, for a function that names
    the operation in 1690; '' for a value bound in, which the function prints itself."""
    return [exp.Literal.string("" if isinstance(o, exp.Placeholder) else
                               mysql_text(o, column_name)) for o in operands]


def mysql_text(node: exp.Expression, column_name: ColumnName | None = None) -> str:
    """``node`` as MySQL 8 prints an expression in an error message (1690): each operator's
    operation in parentheses (``(a + b)``, ``-(a)``, ``~(a)``), ``cast(x as unsigned)``,
    marmotdb's own functions written back as the operators they compute, columns as
    ``column_name`` prints them."""
    return _Printer(column_name).text(node)


class _Printer:
    def __init__(self, column_name: ColumnName | None):
        self.column_name = column_name

    def text(self, node: exp.Expression) -> str:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Case) and node.meta.get("checked"):
            return self.text(node.args["default"])
        if isinstance(node, exp.Placeholder):  # never ':p0' in a string: the translation
            return "?"  # may splice values back into its text (translate._inlined)
        if isinstance(node, exp.Literal) and (not node.is_string or
                                              node.meta.get("uint64_literal")):
            return node.this
        if isinstance(node, (exp.Neg, exp.BitwiseNot)):
            return self.operation("-" if isinstance(node, exp.Neg) else "~", node.this)
        operator = _PRINTED_OPERATORS.get(type(node))
        if operator is not None:
            return self.operation(operator, node.this, node.expression)
        if isinstance(node, exp.Anonymous):
            return self.call(node)
        if isinstance(node, _INTEGER_FUNCTIONS) and not isinstance(node.this, exp.Star):
            return f"{type(node).__name__.lower()}({self.text(node.this)})"
        if isinstance(node, exp.Column) and self.column_name is not None:
            return self.column_name(node) or node.sql(dialect="mysql")
        return node.sql(dialect="mysql")

    def operation(self, operator: str, *operands: exp.Expression) -> str:
        if len(operands) == 1:
            return f"{operator}({self.text(operands[0])})"
        return f"({self.text(operands[0])} {operator} {self.text(operands[1])})"

    def call(self, node: exp.Anonymous) -> str:
        name, args = str(node.this).upper(), node.expressions
        operator = _PRINTED_CALLS.get(name)
        if operator is not None:
            return self.operation(operator, *args[:1 if operator == "~" else 2])
        if name == "MYSQL_UINT_VALUE":
            return self.text(args[0])
        if _unsigned_cast(node):
            return f"cast({self.text(args[0])} as unsigned)"
        return node.sql(dialect="mysql")


def _not_integer(node: exp.Expression, tree: list[object]) -> exp.Expression:
    """When SQLite's value of ``node`` may not be MySQL's (types/int64.py). One operation
    over leaves overflows into a REAL beyond -2^63 … 2^63-1 (its exact result is out there,
    and 2^63 is a REAL exactly): a range check, half the cost of ``typeof``, is enough (the
    integer -2^63 itself takes the exact path too). Deeper, an overflowed REAL could come back
    into range (``(n + 1) - n``), so the result's type is looked at."""
    if all(isinstance(operand, int) for operand in tree[1:]):
        inside = exp.Between(this=node.copy(), low=exp.Literal.number(-int64.INT64_MAX),
                             high=exp.Literal.number(int64.INT64_MAX))
        return exp.Not(this=exp.Paren(this=inside))
    return exp.EQ(this=_call("typeof", node.copy()), expression=exp.Literal.string("real"))


def _in_arithmetic(node: exp.Expression) -> bool:
    """Whether ``node`` is an operand of a larger ``+ - *`` / unary minus tree (which checks
    it as a whole)."""
    parent = node.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    return isinstance(parent, _SIGNED_ARITHMETIC)


def _compares_big_literal(node: exp.In | exp.Between) -> bool:
    operands = [node.this, node.args.get("low"), node.args.get("high"),
                *(node.args.get("expressions") or [])]
    return any(o is not None and is_big_literal(o) for o in operands)


def is_big_literal(node: exp.Expression) -> bool:
    """An integer literal from 2^63 (big_literal's exact text)."""
    return isinstance(node, exp.Literal) and bool(node.meta.get("uint64_literal"))


def _bigint_minimum(node: exp.Expression) -> bool:
    """``-9223372036854775808`` as negative_literal writes it: one integer to SQLite."""
    return isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and \
        not node.this.is_string and node.this.this == str(uint64.HIGH_MIN)


def _leaf_kind(leaf: exp.Expression) -> str:
    """A leaf of a checked tree as types/int64.py tells them apart (LEAF_*)."""
    if isinstance(leaf, exp.Placeholder):
        return int64.LEAF_PARAMETER
    if isinstance(leaf, exp.Literal) or _bigint_minimum(leaf):
        return int64.LEAF_CONSTANT
    return int64.LEAF_COLUMN  # a column, or a function of one


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


def rewrite_unsigned(tree: exp.Expression, column_type: ColumnType,
                     column_name: ColumnName | None = None) -> exp.Expression:
    """Apply the rewrites above to every node of ``tree``, children first; returns the root.
    ``column_name`` prints a column in 1690's message as MySQL does."""
    rewriter = _Rewriter(column_type, column_name)
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
