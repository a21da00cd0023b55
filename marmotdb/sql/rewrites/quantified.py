"""Quantified comparisons: ``x op ANY (subquery)``, ``SOME``, ``ALL`` with MySQL's meaning.

Theory of operation
-------------------
SQLite has no quantified comparisons. MySQL's, with three-valued logic, over the rows ``s`` of
the subquery:

* ``x op ANY (S)`` (``SOME`` is the same) is TRUE if ``x op s`` is TRUE for some row; FALSE if
  S is empty or ``x op s`` is FALSE for every row; otherwise (no TRUE, some UNKNOWN) NULL;
* ``x op ALL (S)`` is FALSE if ``x op s`` is FALSE for some row; TRUE if S is empty or it is
  TRUE for every row; otherwise NULL.

Both become one aggregate over the subquery's rows, read through a CTE that names its single
column (so any select list, ``*`` and set operations included, works, and an outer column
inside the subquery still correlates)::

    x op ANY (S)  ->  (WITH __marmot_any(__marmot_v) AS (S)
                       SELECT CASE WHEN MAX(c) THEN 1 WHEN COUNT(*) > COUNT(c) THEN NULL
                                   ELSE 0 END FROM __marmot_any)     -- c = (x op __marmot_v)
    x op ALL (S)  ->  … CASE WHEN MIN(c) = 0 THEN 0 WHEN COUNT(*) > COUNT(c) THEN NULL
                             ELSE 1 END …

``COUNT(*) > COUNT(c)``: some comparison was UNKNOWN. ``x`` is evaluated once per row of S
(MySQL evaluates it once; only a non-deterministic ``x`` such as ``RAND()`` can tell).

A row on the left, ``(a, b) = ANY (S)`` / ``(a, b) <> ALL (S)``, is ``IN`` / ``NOT IN``, which
SQLite evaluates with the same logic; other operators with a row are 1235. A subquery with more
than one column is 1241 and one with LIMIT is 1235, as in MySQL.
"""

from __future__ import annotations

from sqlglot import exp

from marmotdb import errors

_CTE = "__marmot_any"
_VALUE = "__marmot_v"


def not_supported(construct: str) -> errors.MarmotError:
    return errors.error(errors.ER_NOT_SUPPORTED_YET,
                        f"This version of marmotdb doesn't yet support '{construct}'")


def is_quantified(node: exp.Expression) -> bool:
    """``node`` is a comparison whose right side is ``ANY``/``SOME``/``ALL (…)``."""
    return isinstance(node.args.get("expression"), (exp.Any, exp.All))


def rewrite_quantified(node: exp.Expression) -> exp.Expression:
    """The comparison ``node`` (``x op ANY|ALL (S)``) as SQLite can run it."""
    quantifier = node.expression
    query = quantifier.this.this if isinstance(quantifier.this, exp.Subquery) \
        else quantifier.this
    if not isinstance(query, exp.Query):
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; "
                           "ANY/SOME/ALL takes a subquery")
    if query.args.get("limit") is not None:
        raise not_supported("LIMIT & IN/ALL/ANY/SOME subquery")
    is_any = isinstance(quantifier, exp.Any)
    if isinstance(node.this, exp.Tuple):
        return _row_comparison(node, query, is_any)
    if _width(query) > 1:
        raise errors.error(errors.ER_OPERAND_COLUMNS, "Operand should contain 1 column(s)")
    comparison = type(node)(this=node.this, expression=exp.column(_VALUE, _CTE))
    unknown = exp.GT(this=exp.Count(this=exp.Star()),
                     expression=exp.Count(this=comparison.copy()))
    if is_any:
        decided = exp.Max(this=comparison)
        case = exp.Case(ifs=[exp.If(this=decided, true=exp.Literal.number(1)),
                             exp.If(this=unknown, true=exp.null())],
                        default=exp.Literal.number(0))
    else:
        decided = exp.EQ(this=exp.Min(this=comparison), expression=exp.Literal.number(0))
        case = exp.Case(ifs=[exp.If(this=decided, true=exp.Literal.number(0)),
                             exp.If(this=unknown, true=exp.null())],
                        default=exp.Literal.number(1))
    cte = exp.CTE(this=query, alias=exp.TableAlias(this=exp.to_identifier(_CTE),
                                                   columns=[exp.to_identifier(_VALUE)]))
    select = exp.Select(expressions=[case])
    select.set("from_", exp.From(this=exp.Table(this=exp.to_identifier(_CTE))))
    select.set("with_", exp.With(expressions=[cte]))
    return exp.Subquery(this=select)


def _row_comparison(node: exp.Expression, query: exp.Query, is_any: bool) -> exp.Expression:
    """``(a, b) = ANY (S)`` is ``IN``, ``(a, b) <> ALL (S)`` is ``NOT IN``."""
    if is_any and isinstance(node, exp.EQ):
        return exp.In(this=node.this, query=exp.Subquery(this=query))
    if not is_any and isinstance(node, exp.NEQ):
        return exp.Not(this=exp.In(this=node.this, query=exp.Subquery(this=query)))
    raise not_supported("a row compared with ANY/SOME/ALL other than = ANY and <> ALL")


def _width(query: exp.Query) -> int:
    """The number of columns ``query`` returns, 1 when a ``*`` hides it (SQLite then checks)."""
    selects = query.selects
    if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star))
           for s in selects):
        return 1
    return len(selects)
