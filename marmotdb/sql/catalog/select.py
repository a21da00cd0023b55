"""SELECTs the catalog computes without SQLite: variables, literals, connection functions.

``SELECT item [[AS] alias], ... [FROM DUAL] [LIMIT ...]`` where every item is something
``catalog_expr.evaluate`` knows (``@@var``, ``@var``, literals, VERSION(), DATABASE(), USER(),
CONNECTION_ID(), CONVERT_TZ of literals, ``IS [NOT] NULL``). Clients send the same few of these
at every connect, so the parse (where each item starts, its column name, the LIMIT window) is
kept per statement text in a bounded table and only the values are computed each time. MySQL
names an unaliased column after the item's source text, a string literal after its value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from marmotdb.mysql.types import CHARSET_BINARY, Column, FieldType, ResultSet
from marmotdb.sql.catalog.expr import NotSimple, Token, TokenStream, evaluate
from marmotdb.sql.catalog.workspace import column_for_value

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext


class _SelectPlan(NamedTuple):
    """Where each item of a catalog SELECT starts, its column name, and the LIMIT window."""

    items: tuple[tuple[int, str, bool], ...]  # (token index, column name, is a number literal)
    offset: int
    count: int | None
    # Every item a number literal (SELECT 1, a connection pool's validation query): the
    # answer never changes, so it is kept whole (its column list too, which the protocol
    # layer then finds encoded by identity).
    constant: ResultSet | None = None


SELECT_PLANS_MAX = 256  # parsed variable SELECTs kept, keyed by statement text
_select_plans: dict[str, _SelectPlan] = {}


def select_values(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    """SELECT item [[AS] alias], ... [FROM DUAL] [LIMIT n] with items ``evaluate`` knows."""
    plan = _select_plans.get(stream.sql)
    if plan is None:
        return _plan_select(stream, ctx)
    if plan.constant is not None:
        return ResultSet(plan.constant.columns, list(plan.constant.rows))
    values = []
    for index, _, _ in plan.items:
        stream.index = index
        values.append(evaluate(stream, ctx))
    return _select_result(plan, values)


def _plan_select(stream: TokenStream, ctx: CatalogContext) -> ResultSet:
    stream.next()
    stream.accept_word("SQL_NO_CACHE", "SQL_CACHE")
    items: list[tuple[int, str, bool]] = []
    values: list[object] = []
    while True:
        index, start = stream.index, stream.peek()
        values.append(evaluate(stream, ctx))
        end = stream.tokens[stream.index - 1]
        name = _alias(stream) or _item_name(stream.sql, start, end)
        items.append((index, name, start is end and start.kind == "number"))
        if stream.accept_op(",") is None:
            break
    if stream.accept_word("FROM"):
        stream.expect_word("DUAL")
    offset, count = _limit_values(stream) if stream.accept_word("LIMIT") else (0, None)
    if not stream.at_end():
        raise NotSimple("trailing clause")
    plan = _SelectPlan(tuple(items), offset, count)
    result = _select_result(plan, values)
    if all(number for _, _, number in items):
        plan = plan._replace(constant=ResultSet(result.columns, list(result.rows)))
    if len(_select_plans) >= SELECT_PLANS_MAX:
        _select_plans.pop(next(iter(_select_plans)))
    _select_plans[stream.sql] = plan
    return result


def _select_result(plan: _SelectPlan, values: list[object]) -> ResultSet:
    rows = [tuple(values)]
    if plan.offset or plan.count is not None:
        end = None if plan.count is None else plan.offset + plan.count
        rows = rows[plan.offset:end]
    columns = [_value_column(name, value, number)
               for (_, name, number), value in zip(plan.items, values)]
    return ResultSet(columns, rows)


def _alias(stream: TokenStream) -> str | None:
    if stream.accept_word("AS"):
        return stream.identifier()
    token = stream.peek()
    if token.kind in ("quoted", "string") or (token.kind == "word" and token.value not in (
            "FROM", "LIMIT", "INTO", "WHERE", "FOR", "LOCK", "UNION", "ORDER", "GROUP")):
        return stream.identifier()
    return None


def _item_name(sql: str, start: Token, end: Token) -> str:
    if start is end and start.kind == "string" and isinstance(start.value, str):
        return start.value  # MySQL names a string literal column after its value
    return sql[start.start:end.end]


def _limit_values(stream: TokenStream) -> tuple[int, int]:
    first = stream.next()
    if first.kind != "number":
        raise NotSimple("LIMIT")
    if stream.accept_op(","):
        return int(first.value), int(stream.next().value)
    if stream.accept_word("OFFSET"):
        return int(stream.next().value), int(first.value)
    return 0, int(first.value)


def _value_column(name: str, value: object, number_literal: bool) -> Column:
    if value is None:
        return Column(name, FieldType.VAR_STRING, 0, charset=CHARSET_BINARY)
    column = column_for_value(name, value)
    if number_literal and isinstance(value, int):
        column.length = max(len(str(value)), 1)  # MySQL: SELECT 1 has length 1
    return column


def is_planned(sql: str) -> bool:
    """Whether this exact SELECT text was answered before (its plan is kept)."""
    return sql in _select_plans
