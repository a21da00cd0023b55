"""DECIMAL expressions in SELECT: their MySQL result types, and exact arithmetic.

Theory of operation
-------------------
DECIMAL columns are stored as text (``DECIMAL TEXT(p,s)``) and SQLite reports that declaration
for a result column that reads one directly, so the executor types it NEWDECIMAL. An expression
has no declaration: without help ``SUM(price)``, ``MAX(price)`` or ``price * 2`` would be typed
from their first value (VARCHAR or DOUBLE), and clients would get ``'22.49'`` or ``44.98``
where MySQL gives ``Decimal('22.49')``.

``rewrite_decimal_projection`` infers, for each result column of the outermost SELECT, the
type MySQL gives it, with MySQL's rules for precision and scale (``a+b``: the larger scale;
``a*b``: the sum of the scales; ``a/b``: the dividend's scale + ``div_precision_increment``;
SUM: precision + 22; AVG: scale + 4; an integer column or literal counts as DECIMAL(n,0); any
float makes the result DOUBLE). It returns the SQLite declarations the executor should assume
where SQLite reports none (``Translation.result_decltypes``), and rewrites the result column so
its value is what MySQL returns:

* ``+ - * /`` and unary minus with a DECIMAL result become ``MYSQL_DEC_ADD/SUB/MUL/DIV`` (exact
  ``decimal.Decimal`` arithmetic, text out), recursively through the arithmetic; a quotient
  keeps MySQL's extra digits (whole 9-digit words) and the result column is rounded to its
  scale at the end, as MySQL does (``1/3*3`` is 1.0000);
* ``SUM``/``AVG`` of such an expression (or AVG of an integer, which MySQL gives 4 decimals)
  becomes ``MYSQL_SUM_DECIMAL``/``MYSQL_AVG_DECIMAL``;
* anything else typed DECIMAL that yields a float (``MAX(price * 2)``, ``ROUND``…) is formatted
  at its scale by ``MYSQL_DEC_FORMAT``.

``rewrite_decimal_value`` does the same for the value a single-table UPDATE assigns.

Only the result columns are rewritten: in WHERE/ON/GROUP BY the arithmetic stays SQLite's
(numbers compare as numbers there; text would compare as text). ORDER BY and HAVING terms that
name a rewritten result column (by alias or position) sort and compare its numeric value.
Placeholders of prepared statements have no static type: the runtime functions take their
scale from the value, the declaration assumes scale 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from marmotdb.sql.types.coltypes import MySqlType
from marmotdb.sql.rewrites.expressions import call, number

# How a column reference of a SELECT resolves to its MySQL type (None: unknown).
ColumnTyper = Callable[[exp.Column, exp.Select], MySqlType | None]

DECIMAL_PRECISION_MAX = 65
DECIMAL_SCALE_MAX = 30
DIV_PRECISION_INCREMENT = 4  # MySQL's default; the session variable is not consulted
INTEGER_DIGITS = {"tinyint": 3, "smallint": 5, "mediumint": 8, "int": 10, "bigint": 19}
_EXACT_OUTPUTS = frozenset({"MYSQL_DEC_ADD", "MYSQL_DEC_SUB", "MYSQL_DEC_MUL", "MYSQL_DEC_DIV",
                            "MYSQL_SUM_DECIMAL", "MYSQL_AVG_DECIMAL", "MYSQL_DEC_FORMAT",
                            "MYSQL_CAST"})


@dataclass(frozen=True, slots=True)
class NumType:
    """A numeric expression type: 'int' and 'decimal' carry precision and scale."""

    kind: str  # 'int' | 'decimal' | 'float'
    precision: int = 0
    scale: int = 0

    def decimal(self) -> MySqlType:
        precision = max(1, min(self.precision, DECIMAL_PRECISION_MAX))
        return MySqlType("decimal", precision, min(self.scale, DECIMAL_SCALE_MAX))


FLOAT = NumType("float")


def _decimal(precision: int, scale: int) -> NumType:
    scale = min(scale, DECIMAL_SCALE_MAX)
    return NumType("decimal", min(max(precision, scale, 1), DECIMAL_PRECISION_MAX), scale)


def _column_type(t: MySqlType) -> NumType | None:
    if t.family == "decimal":
        return _decimal(t.length or 10, t.scale or 0)
    if t.family == "int":
        return NumType("int", INTEGER_DIGITS.get(t.name, 20))
    if t.name == "bit":  # an unsigned number in arithmetic and SUM/AVG
        return NumType("int", 20)
    if t.family == "float":
        return FLOAT
    return None


class DecimalTyper:
    """Infers NumTypes of expressions inside one SELECT."""

    def __init__(self, select: exp.Select, column_type: ColumnTyper):
        self.select = select
        self.column_type = column_type

    def infer(self, node: exp.Expression) -> NumType | None:
        handler = _INFER.get(type(node))
        return handler(self, node) if handler is not None else None

    def _column(self, node: exp.Expression) -> NumType | None:
        assert isinstance(node, exp.Column)
        found = self.column_type(node, self.select)
        return _column_type(found) if found is not None else None

    def _literal(self, node: exp.Expression) -> NumType | None:
        assert isinstance(node, exp.Literal)
        if node.is_string:
            return None
        text = node.this.lstrip("-")
        if "e" in text.lower():
            return FLOAT
        whole, _, fraction = text.partition(".")
        if not fraction and "." not in text:
            return NumType("int", max(1, len(whole.lstrip("0"))))
        return _decimal(len(whole.lstrip("0")) + len(fraction), len(fraction))

    def _placeholder(self, node: exp.Expression) -> NumType | None:
        return NumType("int", 1)  # unknown until bound: the runtime takes the value's scale

    def _inner(self, node: exp.Expression) -> NumType | None:
        return self.infer(node.this)

    def _distinct(self, node: exp.Expression) -> NumType | None:
        return self.infer(node.expressions[0]) if len(node.expressions) == 1 else None

    def _arithmetic(self, node: exp.Expression) -> NumType | None:
        left, right = self.infer(node.left), self.infer(node.right)
        if left is None or right is None:
            return None
        if FLOAT in (left, right):
            return FLOAT
        return _ARITHMETIC[type(node)](left, right)

    def _aggregate(self, node: exp.Expression) -> NumType | None:
        inner = self.infer(node.this)
        if inner is None or inner.kind == "float":
            return inner
        if isinstance(node, exp.Sum):
            return _decimal(inner.precision + 22, inner.scale)
        if isinstance(node, exp.Avg):
            return _decimal(inner.precision + 4, inner.scale + DIV_PRECISION_INCREMENT)
        return inner  # MIN / MAX

    def _anonymous(self, node: exp.Expression) -> NumType | None:
        name = str(node.this).upper()
        args = node.expressions
        if name == "MYSQL_CAST" and len(args) >= 2 and args[1].name.upper() == "DECIMAL":
            return _decimal(_int_arg(args, 2, 10), _int_arg(args, 3, 0))
        if name in ("MYSQL_SUM_DECIMAL", "MYSQL_AVG_DECIMAL") and args:
            inner = self.infer(args[0])
            if inner is None or inner.kind == "float":
                return None
            if name == "MYSQL_SUM_DECIMAL":
                return _decimal(inner.precision + 22, inner.scale)
            return _decimal(inner.precision + 4, inner.scale + DIV_PRECISION_INCREMENT)
        return None

    def _same_as_all(self, node: exp.Expression) -> NumType | None:
        return self._common([node.this, *node.expressions])

    def _branches(self, node: exp.Expression) -> NumType | None:
        """CASE / IF(): the type all result branches share; a NULL branch takes any type
        (``CASE … WHEN 'null' THEN NULL ELSE CAST(… AS DECIMAL(9,2)) END`` is DECIMAL)."""
        if isinstance(node, exp.Case):
            results = [branch.args.get("true") for branch in node.args.get("ifs") or []]
            results.append(node.args.get("default"))
        else:
            results = [node.args.get("true"), node.args.get("false")]
        return self._common([r for r in results if r is not None and not isinstance(r, exp.Null)])

    def _common(self, operands: list[exp.Expression]) -> NumType | None:
        types = [self.infer(a) for a in operands]
        if any(t is None for t in types) or not types:
            return None
        if FLOAT in types:
            return FLOAT
        kinds = [t for t in types if t is not None]
        if all(t.kind == "int" for t in kinds):
            return NumType("int", max(t.precision for t in kinds))
        scale = max(t.scale for t in kinds)
        return _decimal(max(t.precision - t.scale for t in kinds) + scale, scale)


def _int_arg(args: list[exp.Expression], position: int, default: int) -> int:
    """A type parameter of MYSQL_CAST (a placeholder while the statement is being shaped)."""
    if len(args) <= position or not args[position].name.isdigit():
        return default
    return int(args[position].name)


def _add(a: NumType, b: NumType) -> NumType:
    if a.kind == b.kind == "int":
        return NumType("int", max(a.precision, b.precision) + 1)
    scale = max(a.scale, b.scale)
    return _decimal(max(a.precision - a.scale, b.precision - b.scale) + scale + 1, scale)


def _mul(a: NumType, b: NumType) -> NumType:
    if a.kind == b.kind == "int":
        return NumType("int", a.precision + b.precision)
    return _decimal(a.precision + b.precision, a.scale + b.scale)


def _div(a: NumType, b: NumType) -> NumType:
    scale = a.scale + DIV_PRECISION_INCREMENT
    return _decimal(a.precision - a.scale + b.scale + scale, scale)


_ARITHMETIC = {exp.Add: _add, exp.Sub: _add, exp.Mul: _mul, exp.Div: _div}
_INFER = {
    exp.Column: DecimalTyper._column, exp.Literal: DecimalTyper._literal,
    exp.Placeholder: DecimalTyper._placeholder, exp.Paren: DecimalTyper._inner,
    exp.Neg: DecimalTyper._inner, exp.Abs: DecimalTyper._inner,
    exp.Alias: DecimalTyper._inner, exp.Add: DecimalTyper._arithmetic,
    exp.Sub: DecimalTyper._arithmetic, exp.Mul: DecimalTyper._arithmetic,
    exp.Div: DecimalTyper._arithmetic, exp.Sum: DecimalTyper._aggregate,
    exp.Avg: DecimalTyper._aggregate, exp.Min: DecimalTyper._aggregate,
    exp.Max: DecimalTyper._aggregate, exp.Anonymous: DecimalTyper._anonymous,
    exp.Coalesce: DecimalTyper._same_as_all, exp.Window: DecimalTyper._inner,
    exp.Distinct: DecimalTyper._distinct, exp.Case: DecimalTyper._branches,
    exp.If: DecimalTyper._branches,
}
_EXACT_CALLS = {exp.Add: "MYSQL_DEC_ADD", exp.Sub: "MYSQL_DEC_SUB", exp.Mul: "MYSQL_DEC_MUL",
                exp.Div: "MYSQL_DEC_DIV"}


class _Exact:
    """Rewrites one result column so a DECIMAL value comes out exact and at its scale."""

    def __init__(self, typer: DecimalTyper):
        self.typer = typer
        self.divided = False  # a division's value carries extra digits: round at the end

    def value(self, node: exp.Expression) -> exp.Expression:
        """``node`` rewritten to produce exact decimal text where its type is DECIMAL."""
        kind = self.typer.infer(node)
        if kind is None or kind.kind != "decimal":
            return node
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if type(node) in _EXACT_CALLS:
            self.divided = self.divided or isinstance(node, exp.Div)
            return call(_EXACT_CALLS[type(node)], self.value(node.left),
                        self.value(node.right))
        if isinstance(node, exp.Neg):
            return call("MYSQL_DEC_SUB", number(0), self.value(node.this))
        if isinstance(node, (exp.Sum, exp.Avg)) and not isinstance(node.parent, exp.Window):
            return self._aggregate(node, kind)
        if isinstance(node, (exp.Case, exp.If)):
            return self._branches(node)
        if _exact_output(node):
            return node
        if isinstance(node, exp.Literal):  # as written: SQLite's REAL would drop '2.50''s zero
            return exp.Literal.string(node.this)
        return call("MYSQL_DEC_FORMAT", node.copy(), number(kind.scale))

    def _branches(self, node: exp.Case | exp.If) -> exp.Expression:
        """Each result branch exact on its own (a CAST keeps its scale, NULL stays NULL)."""
        branches = [*(node.args.get("ifs") or []), node] if isinstance(node, exp.Case) \
            else [node]
        for branch in branches:
            for key in ("true", "false", "default"):
                result = branch.args.get(key)
                if result is not None:
                    branch.set(key, self.value(result))
        return node

    def _aggregate(self, node: exp.Sum | exp.Avg, kind: NumType) -> exp.Expression:
        argument = node.this
        if isinstance(argument, exp.Distinct):
            return call("MYSQL_DEC_FORMAT", node.copy(), number(kind.scale))
        name = "MYSQL_SUM_DECIMAL" if isinstance(node, exp.Sum) else "MYSQL_AVG_DECIMAL"
        inner = self.typer.infer(argument)
        if isinstance(node, exp.Sum) and inner is not None and inner.kind == "int":
            return node  # SQLite sums integers exactly; only the type changes
        return call(name, self.value(argument.copy()))


def _exact_output(node: exp.Expression) -> bool:
    if isinstance(node, exp.Column) or (isinstance(node, (exp.Min, exp.Max))
                                        and isinstance(node.this, exp.Column)):
        return True  # the stored text, already at the column's scale
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in _EXACT_OUTPUTS


def rewrite_decimal_projection(tree: exp.Expression, column_type: ColumnTyper
                               ) -> tuple[str | None, ...]:
    """Rewrite the outermost SELECT's DECIMAL result columns (see the module docstring) and
    return one SQLite declaration (or None: SQLite's own) per result column."""
    if not isinstance(tree, exp.Select) or any(isinstance(p, exp.Star) or (
            isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
            for p in tree.expressions):
        return ()
    typer = DecimalTyper(tree, column_type)
    exact = _Exact(typer)
    decltypes: list[str | None] = []
    for position, projection in enumerate(tree.expressions, start=1):
        target = projection.this if isinstance(projection, exp.Alias) else projection
        kind = typer.infer(target)
        if kind is None or kind.kind != "decimal" or isinstance(target, exp.Column):
            decltypes.append(None)
            continue
        decltypes.append(kind.decimal().sqlite_decltype())
        original = target.copy()
        exact.divided = False
        rewritten = exact.value(target)
        if exact.divided:
            rewritten = call("MYSQL_DEC_FORMAT", rewritten, number(kind.scale))
        if rewritten is not target:
            target.replace(rewritten)
        _numeric_references(tree, projection, position, original)
    return tuple(decltypes) if any(decltypes) else ()


def exact_generated(tree: exp.Expression, column_type: Callable[[str], MySqlType | None],
                    scale: int) -> exp.Expression:
    """A DECIMAL generated column's expression computed as MySQL computes it: exact arithmetic
    over the table's columns (``column_type`` by name), the value rounded to the column's
    ``scale`` as storing it does. SQLite alone would multiply doubles (12345678901234.123456 * 2
    is 24691357802468.246 there) and keep whatever scale came out."""
    select = exp.Select(expressions=[tree])
    typer = DecimalTyper(select, lambda c, _: None if c.table else column_type(c.name))
    return call("MYSQL_DEC_FORMAT", _Exact(typer).value(tree), number(scale))


def _numeric_references(select: exp.Select, projection: exp.Expression, position: int,
                        original: exp.Expression) -> None:
    """ORDER BY / HAVING naming a result column whose value is now text: use its number."""
    alias = projection.alias.lower() if isinstance(projection, exp.Alias) else ""
    order = select.args.get("order")
    for ordered in order.expressions if order is not None else []:
        term = ordered.this
        if (isinstance(term, exp.Literal) and not term.is_string
                and term.name == str(position)) or (alias and _names(term, alias)):
            # the expression, not the alias: inside an expression SQLite would take a
            # same-named table column first
            ordered.set("this", exp.cast(original.copy(), "REAL"))
    having = select.args.get("having")
    if alias and having is not None:
        for column in list(having.find_all(exp.Column)):
            if _names(column, alias):
                column.replace(exp.cast(original.copy(), "REAL"))


def _names(node: exp.Expression, alias: str) -> bool:
    return isinstance(node, exp.Column) and not node.table and node.name.lower() == alias


def rewrite_decimal_value(node: exp.Expression,
                          column_type: Callable[[exp.Column], MySqlType | None]
                          ) -> exp.Expression:
    """A single-table UPDATE's assigned value with its DECIMAL arithmetic exact, as MySQL
    computes it (``SET d = d - 0.4`` on 0.5 is 0.1, where SQLite's REAL gives
    0.09999999999999998; Django's ``F('d') - Decimal('0.4')``). Storing it into the column
    rounds it to the column's scale, so no formatting is added here."""
    typer = DecimalTyper(exp.Select(), lambda column, _select: column_type(column))
    kind = typer.infer(node)
    if kind is None or kind.kind != "decimal":
        return node
    return _Exact(typer).value(node)
