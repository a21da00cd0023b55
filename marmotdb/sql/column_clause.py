"""Which clause of a statement an unknown column is in, for MySQL's 1054 text.

MySQL says where it met the column: ``Unknown column 'x' in 'where clause'``; SQLite only says
``no such column: x``, which errors.from_sqlite turns into MySQL's words with 'field list'.
Tools and people read the clause to find the typo, so on that error (never on the hot path)
the MySQL statement is parsed again and the column looked up. A column met in several clauses
gets the first in MySQL's resolution order (the select list first); one inside a subquery
gets the subquery's clause. When the statement does not parse, is longer than
``PARSED_CHARS_MAX`` (a bulk load is not parsed twice to name a clause) or the column is not
found (it came from a view or a trigger), the text stays 'field list'.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.errors import SqlglotError

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.sql.translate import MYSQL

PARSED_CHARS_MAX = 64 << 10
_FIELD_LIST = "field list"
# The nearest enclosing clause -> MySQL 8.0's name for it; anything else is the field list
# (select list, SET, VALUES, ON DUPLICATE KEY UPDATE).
_CLAUSES: dict[type[exp.Expression], str] = {
    exp.Where: "where clause", exp.Group: "group statement", exp.Having: "having clause",
    exp.Order: "order clause",
}
_ORDER = (_FIELD_LIST, "on clause", "where clause", "group statement", "having clause",
          "order clause")
_STATEMENTS = (exp.Select, exp.Update, exp.Delete, exp.Insert)
_UNKNOWN = re.compile(r"Unknown column '([^']+)' in 'field list'")


def name_clause(converted: MarmotError, sql: str) -> MarmotError:
    """A 1054 from SQLite with the clause ``sql`` has the column in; anything else as is."""
    if converted.code != errors.ER_BAD_FIELD_ERROR:
        return converted
    found = _UNKNOWN.fullmatch(converted.message)
    if found is None:
        return converted
    clause = clause_of(sql, found.group(1))
    if clause == _FIELD_LIST:
        return converted
    return errors.error(errors.ER_BAD_FIELD_ERROR,
                        f"Unknown column '{found.group(1)}' in '{clause}'")


def clause_of(sql: str, column: str) -> str:
    """MySQL's name of the clause of ``sql`` that holds ``column`` ('t.c' or 'c')."""
    if len(sql) > PARSED_CHARS_MAX:
        return _FIELD_LIST
    try:
        tree = MYSQL.parse(sql)[0]
    except (SqlglotError, IndexError):
        return _FIELD_LIST
    if tree is None:
        return _FIELD_LIST
    table, _, name = column.rpartition(".")
    clauses = {_clause(node) for node in tree.find_all(exp.Column)
               if node.name.lower() == name.lower()
               and (not table or node.table.lower() == table.lower())}
    return next((c for c in _ORDER if c in clauses), _FIELD_LIST)


def _clause(node: exp.Expression) -> str:
    while node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.Join) and node.arg_key == "on":
            return "on clause"
        if type(parent) in _CLAUSES:
            return _CLAUSES[type(parent)]
        if isinstance(parent, _STATEMENTS):
            return _FIELD_LIST
        node = parent
    return _FIELD_LIST
