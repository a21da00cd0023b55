"""Comparisons of DATE / DATETIME / TIMESTAMP columns with other values, as MySQL makes them.

Theory of operation
-------------------
A temporal column stores MySQL's canonical text (types/coltypes.py: ``2007-12-19``,
``2007-12-19 22:25:00`` or, for DATETIME(6), ``2007-12-19 22:25:00.000000``), and SQLite
compares text. MySQL compares temporal values: ``m = '2007-12-19 22:25:00'`` is true for a
DATETIME(6) column holding ``22:25:00.000000`` (Django's and SQLAlchemy's filters send such
strings), ``d >= '2007-12-19 00:00:00'`` is true for a DATE of that day. So the other side of
such a comparison (``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``<=>``, ``IN``, ``BETWEEN``) is
read through ``MYSQL_TEMPORAL_KEY(value, 'date'|'datetime', fsp)``, which writes a value MySQL
reads as a date/datetime in the column's stored form. A value with more precision than the
column keeps it (all six digits: ``22:25:00.5`` is not equal to a DATETIME(0)'s ``22:25:00``
and sorts after it, as in MySQL); a DATE compared with a time of day other than midnight
stays a datetime, which orders after the date's own text exactly as MySQL's comparison as
DATETIME does. What is not a date at all stays as it was (SQLite compares the text, MySQL
warns and compares too). Columns on both sides and subqueries are left alone.

``temporal_decltypes`` types the result columns MySQL sends as DATE / DATETIME / TIME although
they are computed (``CAST(… AS DATETIME)``, ``DATE(…)``, ``NOW()``, ``MAX(a_datetime)``,
``LAST_VALUE(a_date) OVER …`` …), so
drivers decode them as dates (Django's Trunc reads ``CAST(DATE_FORMAT(…) AS DATETIME)``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from marmotdb.sql.types.coltypes import MySqlType, format_date, format_datetime, parse_datetime

ColumnType = Callable[[exp.Column], MySqlType | None]
_TEMPORAL = frozenset({"date", "datetime", "timestamp"})
_RESULT_TEMPORAL = _TEMPORAL | {"time"}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ)
_MICRO_DIGITS = 6


def temporal_key(value: object, kind: object, fsp: object) -> object:
    """MYSQL_TEMPORAL_KEY: ``value`` as a ``kind`` column with ``fsp`` digits stores it."""
    if value is None or isinstance(value, bytes):
        return value
    stamp = parse_datetime(value)
    if stamp is None:
        return value
    if kind == "date" and not any(stamp[3:]):
        return format_date(stamp)
    digits = int(fsp or 0)  # type: ignore[call-overload]
    if kind == "date" or stamp[6] % 10 ** (_MICRO_DIGITS - digits):
        digits = _MICRO_DIGITS if stamp[6] else 0
    return format_datetime(stamp, digits)


TEMPORAL_SCALARS = [("TEMPORAL_KEY", temporal_key, 3, True)]
TEMPORAL_INTERNAL_FUNCTIONS = frozenset({"TEMPORAL_KEY"})


# Calls (as the translator renames them) whose MySQL result type is fixed.
_RESULT_TYPES = {
    "MYSQL_DATE": "date", "MYSQL_CURDATE": "date", "MYSQL_CURRENT_DATE": "date",
    "MYSQL_UTC_DATE": "date", "MYSQL_FROM_DAYS": "date", "MYSQL_MAKEDATE": "date",
    "MYSQL_LAST_DAY": "date",
    "MYSQL_TIMESTAMP": "datetime", "MYSQL_TIME": "time",
    "MYSQL_NOW": "datetime", "MYSQL_SYSDATE": "datetime", "MYSQL_LOCALTIME": "datetime",
    "MYSQL_LOCALTIMESTAMP": "datetime", "MYSQL_CURRENT_TIMESTAMP": "datetime",
    "MYSQL_UTC_TIMESTAMP": "datetime",
    "MYSQL_CURTIME": "time", "MYSQL_CURRENT_TIME": "time", "MYSQL_UTC_TIME": "time",
}
_FSP_ARGUMENT = frozenset({"MYSQL_NOW", "MYSQL_SYSDATE", "MYSQL_LOCALTIME",
                           "MYSQL_LOCALTIMESTAMP", "MYSQL_CURRENT_TIMESTAMP",
                           "MYSQL_UTC_TIMESTAMP", "MYSQL_CURTIME", "MYSQL_CURRENT_TIME",
                           "MYSQL_UTC_TIME"})
_CAST_TYPES = {"DATE": "date", "DATETIME": "datetime", "TIME": "time"}
# Window functions whose value is their first argument's (or, for LAG / LEAD, their default's).
_VALUE_WINDOW_FUNCTIONS = (exp.FirstValue, exp.LastValue, exp.NthValue, exp.Lag, exp.Lead)
_DATE_ARITHMETIC = frozenset({"MYSQL_DATE_ADD", "MYSQL_DATE_SUB", "MYSQL_ADDDATE",
                              "MYSQL_SUBDATE"})
_DATE_UNITS = frozenset({"DAY", "WEEK", "MONTH", "QUARTER", "YEAR", "YEAR_MONTH"})


def temporal_decltypes(select: exp.Select, column_type: ColumnType) -> tuple[str | None, ...]:
    """A DATE / DATETIME / TIME declaration per result column MySQL types so, else None."""
    decltypes: list[str | None] = []
    for projection in select.expressions:
        target = projection.this if isinstance(projection, exp.Alias) else projection
        found = _result_type(target, column_type)
        decltypes.append(found.sqlite_decltype() if found is not None else None)
    return tuple(decltypes)


def _result_type(node: exp.Expression, column_type: ColumnType) -> MySqlType | None:
    while isinstance(node, exp.Paren):  # Django: (`start` + INTERVAL `d` MICROSECOND)
        node = node.this
    if isinstance(node, exp.Window):  # MAX(d) OVER (…) is typed as MAX(d) is
        node = node.this
    if isinstance(node, _VALUE_WINDOW_FUNCTIONS):  # Django's Window(LastValue("hire_date"))
        default = node.args.get("default")
        return _common_type([node.this, *([default] if default is not None else [])],
                            column_type)
    if isinstance(node, (exp.Max, exp.Min, exp.AnyValue)) and \
            not isinstance(node.this, exp.Distinct):
        return _temporal(node.this, column_type, _RESULT_TEMPORAL) or (
            _result_type(node.this, column_type) if isinstance(node.this, exp.Case) else None)
    if isinstance(node, (exp.Greatest, exp.Least, exp.Coalesce)):
        return _common_type([node.this, *node.expressions], column_type)
    if isinstance(node, exp.Case):  # Django's aggregate filters: MIN(CASE WHEN … THEN col END)
        branches = [i.args.get("true") for i in node.args.get("ifs") or []]
        return _common_type([b for b in (*branches, node.args.get("default")) if b is not None],
                            column_type)
    if not isinstance(node, exp.Anonymous):
        return None
    name, args = str(node.this).upper(), node.expressions
    if name == "MYSQL_CAST" and len(args) >= 2 and isinstance(args[1], exp.Literal):
        kind = _CAST_TYPES.get(args[1].this)
        return None if kind is None else MySqlType(kind, fsp=_fsp(args, 2) if kind != "date"
                                                   else 0)
    if name in _DATE_ARITHMETIC and len(args) == 3:
        return _arithmetic_type(args, column_type)
    kind = _RESULT_TYPES.get(name)
    if kind is None or (name == "MYSQL_TIMESTAMP" and len(args) != 1):
        return None
    return MySqlType(kind, fsp=_fsp(args, 0) if name in _FSP_ARGUMENT else 0)


def _common_type(operands: list[exp.Expression], column_type: ColumnType) -> MySqlType | None:
    """GREATEST / LEAST / COALESCE / CASE of temporal operands only (NULLs aside): their type, a
    DATETIME when DATEs and DATETIMEs mix (Django's Greatest of two DateTimeFields)."""
    found = [_temporal(o, column_type, _RESULT_TEMPORAL) or _result_type(o, column_type)
             for o in operands if not isinstance(o, exp.Null)]
    if not found or any(t is None for t in found):
        return None
    names = {t.name for t in found if t is not None}
    if names == {"time"} or "time" not in names and len(names) == 1:
        return found[0]
    if "time" in names:
        return None
    return MySqlType("datetime", fsp=max(t.fsp for t in found if t is not None))


def _arithmetic_type(args: list[exp.Expression], column_type: ColumnType) -> MySqlType | None:
    """DATE_ADD / DATE_SUB / ``± INTERVAL``: a DATE stays a DATE for day-or-longer units and
    becomes a DATETIME for shorter ones; a DATETIME stays one; a string gives a string."""
    base = _temporal(args[0], column_type) or _result_type(args[0], column_type)
    if base is None or base.name == "time":
        return None
    if base.name != "date":
        return MySqlType("datetime", fsp=base.fsp)
    unit = args[2].this.upper() if isinstance(args[2], exp.Literal) else ""
    return base if unit in _DATE_UNITS else MySqlType("datetime")


def _fsp(args: list[exp.Expression], position: int) -> int:
    """A literal fractional-seconds precision argument (0 when absent or not a literal)."""
    if len(args) > position and isinstance(args[position], exp.Literal) and \
            args[position].this.isdigit():
        return min(int(args[position].this), 6)
    return 0


def rewrite_temporal_comparisons(tree: exp.Expression, column_type: ColumnType) -> None:
    """Wrap the non-column side of every comparison with a temporal column (in place)."""
    for node in list(tree.find_all(*_COMPARISONS, exp.In, exp.Between)):
        if isinstance(node, _COMPARISONS):
            left, right = node.this, node.expression
            for column, side in ((left, "expression"), (right, "this")):
                found = _temporal(column, column_type)
                if found is not None:
                    node.set(side, _key(node.args[side], found))
                    break
            else:
                _compare_as_time(node, column_type)
        else:
            found = _temporal(node.this, column_type)
            if found is not None:
                for key in ("expressions", "low", "high"):
                    value = node.args.get(key)
                    if isinstance(value, list):
                        node.set(key, [_key(v, found) for v in value])
                    elif isinstance(value, exp.Expression):
                        node.set(key, _key(value, found))


def _compare_as_time(node: exp.Expression, column_type: ColumnType) -> None:
    """``MYSQL_CMP(a, b) <op> 0`` (rewrites.py's comparison of two non-columns) where ``a`` or
    ``b`` is a computed TIME (``TIME(dt)``, ``CAST(… AS TIME)``) compares as times, through the
    TIME columns' collation: ``TIME(dt6) = '14:30:26.000000'`` holds for 14:30:26 (Django's
    ``__time`` lookups send six fraction digits)."""
    cmp = node.this
    if not (isinstance(cmp, exp.Anonymous) and str(cmp.this).upper() == "MYSQL_CMP"
            and len(cmp.expressions) == 2 and isinstance(node.expression, exp.Literal)):
        return
    left, right = cmp.expressions
    if any((t := _result_type(o, column_type)) is not None and t.name == "time"
           for o in (left, right)):
        node.set("this", exp.Collate(this=left, expression=exp.Var(this="mysql_time")))
        node.set("expression", right)


def _temporal(node: exp.Expression, column_type: ColumnType,
              names: frozenset[str] = _TEMPORAL) -> MySqlType | None:
    """The type of a column of one of ``names`` (TIME columns compare through their own
    collation, so comparisons leave them alone; results are typed TIME)."""
    if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
        return None
    found = column_type(node)
    return found if found is not None and found.name in names else None


def _key(node: exp.Expression, t: MySqlType) -> exp.Expression:
    if isinstance(node, (exp.Column, exp.Null, exp.Query, exp.Subquery)) or (
            isinstance(node, exp.Anonymous) and str(node.this).upper() == "MYSQL_TEMPORAL_KEY"):
        return node
    kind = "date" if t.name == "date" else "datetime"
    return exp.Anonymous(this="MYSQL_TEMPORAL_KEY", expressions=[
        node, exp.Literal.string(kind), exp.Literal.number(t.fsp or 0)])
