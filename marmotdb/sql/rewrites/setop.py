"""Set operations (UNION, EXCEPT, INTERSECT) in SQLite's compound-SELECT grammar.

Theory of operation
-------------------
A MySQL 8 query expression nests: any operand may be parenthesised and carry its own ORDER BY,
LIMIT and WITH; a whole parenthesised expression may be ordered and limited again; INTERSECT
binds tighter than UNION and EXCEPT (sqlglot's MySQL parser already builds that tree, with
each parenthesised part an alias-less ``Subquery``). SQLite's compound SELECT is flat: its
operands are bare SELECTs without ORDER BY/LIMIT/WITH, every operator has the same precedence
and groups left to right, the ORDER BY of a compound names result columns only, and EXCEPT and
INTERSECT have no ALL.

``shape_set_operations`` runs over a finished statement just before SQLite generation (after
the result columns got MySQL's names), as a table of small rewrites keyed by node class,
children first:

* parentheses around a query (``unwrap``) go; parentheses that carried ORDER BY/LIMIT become
  ``SELECT * FROM (…) ORDER BY … LIMIT …``;
* an operand that is a bare SELECT, or a set operation on the left (SQLite groups left to
  right), is written bare; any other operand becomes ``SELECT * FROM (…)``;
* an ORDER BY of a set operation over anything but result columns sorts ``SELECT * FROM (…)``
  instead; one naming a table's column is MySQL's 1250;
* ``INTERSECT ALL`` / ``EXCEPT ALL`` compare numbered rows: each row gets ``ROW_NUMBER()`` over
  the partition of its equal rows, so the n-th copy of a row meets only the n-th copy on the
  other side, and the numbers are dropped after. The right side is read through
  ``SELECT * FROM (left) WHERE 0 UNION ALL SELECT * FROM (right)``, which gives it the left's
  column names and collations. This needs the left's result-column names: from its select list
  and, for ``*``, the table definitions; where they cannot be known the statement is refused
  (1235 naming the construct).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from marmotdb import errors
from marmotdb.sql.rewrites.expressions import not_supported, rewrite_tree

ColumnNames = Callable[[str], list[str] | None]  # table name -> its column names, or None

_ROW_NUMBER = "__marmot_copy"
_MODIFIERS = ("order", "limit", "offset")


def shape_set_operations(tree: exp.Expression, columns: ColumnNames) -> exp.Expression:
    """``tree`` with every query expression in SQLite's grammar (see the module docstring)."""
    if not any(isinstance(n, (exp.SetOperation, exp.Subquery)) for n in tree.walk()):
        return tree
    ctes = {cte.alias_or_name.lower(): cte for cte in tree.find_all(exp.CTE)}
    names = _NameReader(columns, ctes)

    def rewrite(node: exp.Expression) -> exp.Expression:
        handler = _SHAPES.get(type(node))
        return handler(node, names) if handler is not None else node
    return unwrap(rewrite_tree(tree, rewrite))


# ---------------------------------------------------------------- parentheses

def _modifiers(query: exp.Expression) -> bool:
    return any(query.args.get(key) for key in _MODIFIERS)


def select_star(query: exp.Expression) -> exp.Select:
    """``SELECT * FROM (query)``: a query wherever SQLite wants a bare SELECT."""
    return exp.Select(expressions=[exp.Star()]).from_(exp.Subquery(this=query), copy=False)


def unwrap(node: exp.Expression) -> exp.Expression:
    """The query a parenthesised query expression stands for, without parentheses:
    ``((q))`` is q, ``(q) ORDER BY x LIMIT n`` is ``SELECT * FROM (q) ORDER BY x LIMIT n``."""
    if not isinstance(node, exp.Subquery) or node.args.get("alias") is not None:
        return node
    inner = unwrap(node.this)
    if not _modifiers(node):
        return inner
    outer = select_star(inner)
    for key in _MODIFIERS:
        if node.args.get(key) is not None:
            outer.set(key, node.args[key])
    return outer


def _bare(query: exp.Expression, left: bool) -> bool:
    """Whether SQLite takes ``query`` as an operand as it is."""
    if query.args.get("with_") is not None or _modifiers(query):
        return False
    return isinstance(query, exp.Select) or (left and isinstance(query, exp.SetOperation))


def _operand(node: exp.Expression, left: bool) -> exp.Expression:
    query = unwrap(node)
    return query if _bare(query, left) else select_star(query)


# ---------------------------------------------------------------- the rewrites

def _set_operation(node: exp.SetOperation, names: _NameReader) -> exp.Expression:
    for operand in (node.this, node.expression):
        if isinstance(operand, exp.Select) and _modifiers(operand):
            raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; "
                               "an operand of UNION, EXCEPT or INTERSECT with ORDER BY or LIMIT "
                               "must be parenthesised")
    node.set("this", _operand(node.this, left=True))
    node.set("expression", _operand(node.expression, left=False))
    if node.args.get("order") is not None:
        _check_order(node, names)
    if node.args.get("distinct") is False and isinstance(node, (exp.Except, exp.Intersect)):
        return _ordered(_all_rows(node, names))
    return _ordered(node)


def _check_order(node: exp.SetOperation, names: _NameReader) -> None:
    """MySQL's errors for an ORDER BY of a set operation naming what is not a result column."""
    known = {n.lower() for n in names.known(node) or ()}
    for column in node.args["order"].find_all(exp.Column):
        if column.table:
            raise errors.error(errors.ER_TABLENAME_NOT_ALLOWED_HERE, f"Table '{column.table}' "
                               "from one of the SELECTs cannot be used in global ORDER clause")
        if known and column.name.lower() not in known:
            raise errors.error(errors.ER_BAD_FIELD_ERROR,
                               f"Unknown column '{column.name}' in 'order clause'")


def _ordered(node: exp.Expression) -> exp.Expression:
    """SQLite orders a compound by result columns only: sort anything else from outside."""
    order = node.args.get("order")
    if order is None or not isinstance(node, exp.SetOperation):
        return node
    terms = [o.this for o in order.expressions]
    if all(isinstance(t, exp.Column) or (isinstance(t, exp.Literal) and not t.is_string)
           for t in terms):
        return node
    outer = select_star(node)
    for key in _MODIFIERS:
        if node.args.get(key) is not None:
            outer.set(key, node.args[key].pop())
    return outer


def _subquery(node: exp.Subquery, names: _NameReader) -> exp.Expression:
    """``((q))`` as a derived table or an expression operand: one pair of parentheses."""
    inner = unwrap(node.this)
    if inner is not node.this:
        node.set("this", inner)
    return node


def _cte(node: exp.CTE, names: _NameReader) -> exp.Expression:
    node.set("this", unwrap(node.this))
    return node


_SHAPES: dict[type[exp.Expression], Callable[[exp.Expression, _NameReader], exp.Expression]]


# ---------------------------------------------------------------- INTERSECT/EXCEPT ALL

def _all_rows(node: exp.Except | exp.Intersect, names: _NameReader) -> exp.Expression:
    """``l EXCEPT ALL r`` / ``l INTERSECT ALL r`` on numbered rows (module docstring)."""
    construct = f"{node.key.upper()} ALL"
    left, right = node.this, node.expression
    columns = names.of(left, construct)
    empty_left = select_star(left.copy()).where(exp.Literal.number(0), copy=False)
    renamed = exp.Union(this=empty_left, expression=select_star(right), distinct=False)
    body = type(node)(this=_numbered(left, columns), expression=_numbered(renamed, columns),
                      distinct=True)
    result = exp.Select(expressions=[_column(c) for c in columns]).from_(
        exp.Subquery(this=body), copy=False)
    for key in ("with_", *_MODIFIERS):
        if node.args.get(key) is not None:
            result.set(key, node.args[key])
    return result


def _column(name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def _numbered(query: exp.Expression, columns: list[str]) -> exp.Select:
    """``SELECT *, ROW_NUMBER() OVER (PARTITION BY <every column>) FROM (query)``."""
    number = exp.Window(this=exp.RowNumber(), partition_by=[_column(c) for c in columns])
    projection = [exp.Star(), exp.alias_(number, _ROW_NUMBER, quoted=True)]
    return exp.Select(expressions=projection).from_(exp.Subquery(this=query), copy=False)


class _NameReader:
    """The result-column names of a query, as SQLite will name them."""

    def __init__(self, columns: ColumnNames, ctes: dict[str, exp.CTE]):
        self.columns = columns
        self.ctes = ctes

    def of(self, query: exp.Expression, construct: str) -> list[str]:
        """The names, an expression without one named by its MySQL text; refuses the
        construct when they cannot be known or are not distinct."""
        first = query
        while isinstance(first, (exp.Subquery, exp.SetOperation)):
            first = first.this
        for projection in first.expressions if isinstance(first, exp.Select) else ():
            if not isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
                name = projection.sql(dialect="mysql")
                projection.replace(exp.alias_(projection.copy(), name, quoted=True))
        found = self.known(query)
        if found is None or len({n.lower() for n in found}) != len(found):
            raise not_supported(f"{construct} where the result columns have no distinct names")
        return found

    def known(self, query: exp.Expression) -> list[str] | None:
        """The names, or None where SQLite would choose one."""
        while isinstance(query, (exp.Subquery, exp.SetOperation)):
            query = query.this
        if not isinstance(query, exp.Select):
            return None
        names: list[str] = []
        for projection in query.expressions:
            found = self._projection(projection, query)
            if found is None:
                return None
            names += found
        return names

    def _projection(self, projection: exp.Expression, select: exp.Select) -> list[str] | None:
        if isinstance(projection, exp.Star):
            return self._sources(select, None)
        if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            return self._sources(select, projection.table.lower())
        if isinstance(projection, (exp.Alias, exp.Column)):
            return [projection.alias_or_name]
        return None  # SQLite names it by its own text

    def _sources(self, select: exp.Select, only: str | None) -> list[str] | None:
        joins = select.args.get("joins") or []
        if any(j.args.get("using") or "NATURAL" in str(j.args.get("method") or "").upper()
               for j in joins):
            return None  # a USING/NATURAL star merges columns
        source = select.args.get("from_")
        tables = ([source.this] if source is not None else []) + [j.this for j in joins]
        names: list[str] = []
        for table in tables:
            if only is not None and table.alias_or_name.lower() != only:
                continue
            found = self._source(table)
            if found is None:
                return None
            names += found
        return names or None

    def _source(self, table: exp.Expression) -> list[str] | None:
        alias = table.args.get("alias")
        if alias is not None and alias.columns:
            return [c.name for c in alias.columns]
        if isinstance(table, exp.Subquery):
            return self.known(table.this)
        if not isinstance(table, exp.Table) or table.args.get("db") is not None:
            return None
        cte = self.ctes.get(table.name.lower())
        if cte is not None:
            listed = cte.args["alias"].columns
            return [c.name for c in listed] if listed else self.known(cte.this)
        return self.columns(table.name)


_SHAPES = {
    exp.Union: _set_operation, exp.Except: _set_operation,  # type: ignore[dict-item]
    exp.Intersect: _set_operation, exp.Subquery: _subquery,  # type: ignore[dict-item]
    exp.CTE: _cte,  # type: ignore[dict-item]
}
