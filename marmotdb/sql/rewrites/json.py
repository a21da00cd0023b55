"""JSON expressions: MySQL's JSON operators and types on sqlglot's AST (see functions/json.py
for the values themselves).

Theory of operation
-------------------
Two kinds of rewrite, like the rest of the translator:

* context-free node rewrites, merged into ``rewrites.EXPRESSION_REWRITES``: ``->`` / ``->>``,
  ``x MEMBER OF(doc)``, ``JSON_VALUE(doc, path [RETURNING type])``, and JSON-typed arguments
  of functions that take JSON values (``mark_json``); a comparison of a JSON expression with
  an SQL value compares the JSON scalar (``j->'$.name' = 'x'`` is true for ``"x"``, as in
  MySQL, where SQLite would compare the quoted text);
* ``type_json_select`` on a SELECT whose column types are known (dml.py calls it):
  a JSON *column* passed where a JSON value is taken nests as a document, not a string, and
  result columns that MySQL types JSON (``->``, JSON_OBJECT, CAST(… AS JSON) …) are declared
  JSON so the client gets MySQL's column type 245, and JSON_TABLE columns
  (functions/json_table.py) are declared with the type their COLUMNS clause gives.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from marmotdb.sql.functions import json as json_functions
from marmotdb.sql.types.coltypes import MySqlType, cached_type
from marmotdb.sql.functions.json_table import CELL_TYPE

JSON_DECLTYPE = MySqlType("json").sqlite_decltype()
# How a column reference of a SELECT resolves to its MySQL type (None: unknown).
ColumnTyper = Callable[[exp.Column, exp.Select], MySqlType | None]


def _call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def json_function(node: exp.Expression) -> bool:
    """A call whose MySQL result type is JSON (in parentheses too: ``j = (JSON_EXTRACT(…))``
    is Django's spelling)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        if name == "MYSQL_CAST":  # CAST(x AS JSON), already rewritten (children go first)
            kind = node.expressions[1] if len(node.expressions) > 1 else None
            return isinstance(kind, exp.Literal) and kind.this == "JSON"
        return name.startswith("MYSQL_") and name[6:] in json_functions.JSON_RESULT_FUNCTIONS
    return isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON)


def mark_json(node: exp.Expression) -> exp.Expression:
    """Wrap a JSON-typed argument so the consuming JSON function nests it, not quotes it
    (TRUE/FALSE become JSON booleans, as in MySQL)."""
    if isinstance(node, exp.Boolean):
        return _call("MYSQL_JSON_ARG", exp.Literal.string("true" if node.this else "false"))
    return _call("MYSQL_JSON_ARG", node) if json_function(node) else node


def json_extract(node: exp.JSONExtract) -> exp.Expression:
    path = node.expression
    path_sql = exp.Literal.string(path.sql(dialect="mysql").strip("'")) \
        if isinstance(path, exp.JSONPath) else path
    return _call("MYSQL_JSON_EXTRACT", node.this, path_sql)


def json_extract_scalar(node: exp.JSONExtractScalar) -> exp.Expression:
    return _call("MYSQL_JSON_UNQUOTE", json_extract(node))  # type: ignore[arg-type]


def member_of(node: exp.JSONArrayContains) -> exp.Expression:
    return _call("MYSQL_JSON_MEMBER_OF", mark_json(node.this), node.expression)


def json_value(node: exp.JSONValue) -> exp.Expression:
    """JSON_VALUE(doc, path [RETURNING type]): the scalar, then MySQL's CAST to the type."""
    path = node.args["path"]
    path_sql = exp.Literal.string(path.sql(dialect="mysql").strip("'")) \
        if isinstance(path, exp.JSONPath) else path
    value: exp.Expression = _call("MYSQL_JSON_VALUE_OF", node.this, path_sql)
    returning = node.args.get("returning")
    if isinstance(returning, exp.DataType):
        value = exp.Cast(this=value, to=returning)
    return value


def _json_boolean(node: exp.Boolean) -> exp.Literal:
    return exp.Literal.string("true" if node.this else "false")


def compare_json(node: exp.Expression) -> exp.Expression:
    """``json_expr <op> sql_value``: compare the JSON scalar (MYSQL_JSON_SCALAR) with the SQL
    value; two JSON operands compare as canonical text, which equality needs. TRUE and FALSE
    are JSON booleans there (MySQL converts a boolean literal so), compared as JSON text."""
    left, right = node.this, node.expression
    if json_function(left) == json_function(right):
        return node
    if isinstance(right, exp.Boolean) or isinstance(left, exp.Boolean):
        side = "expression" if isinstance(right, exp.Boolean) else "this"
        node.set(side, _json_boolean(node.args[side]))
        return node
    if json_function(left):
        node.set("this", _call("MYSQL_JSON_SCALAR", left))
    else:
        node.set("expression", _call("MYSQL_JSON_SCALAR", right))
    return node


def json_case(node: exp.Case) -> exp.Expression:
    """``CASE json_expr WHEN TRUE …``: the WHEN booleans are JSON booleans, as in a
    comparison (above); the JSON text is what SQLite's CASE compares."""
    if node.this is not None and json_function(node.this):
        for branch in node.args.get("ifs") or []:
            if isinstance(branch.this, exp.Boolean):
                branch.set("this", _json_boolean(branch.this))
    return node


def json_order(node: exp.Ordered) -> exp.Expression:
    """``ORDER BY json_expr``: MySQL sorts JSON values (numbers as numbers), not their text."""
    if json_function(node.this):
        node.set("this", _call("MYSQL_JSON_SORT_KEY", node.this))
    return node


# CAST targets that read a JSON string's contents (and true/false as 1/0), not its JSON text.
JSON_CAST_BY_VALUE = frozenset({"SIGNED", "UNSIGNED", "DECIMAL", "DOUBLE", "FLOAT", "DATE",
                                "DATETIME", "TIME", "YEAR"})


def json_cast_operand(node: exp.Expression, kind: str) -> exp.Expression:
    """The operand of ``CAST(node AS kind)``, wrapped when a JSON value needs it."""
    if kind in JSON_CAST_BY_VALUE and json_function(node):
        return _call("MYSQL_JSON_CAST_OPERAND", node)
    return node


JSON_EXPRESSION_REWRITES: dict[type[exp.Expression], Callable[..., exp.Expression]] = {
    exp.JSONExtract: json_extract, exp.JSONExtractScalar: json_extract_scalar,
    exp.JSONArrayContains: member_of, exp.JSONValue: json_value, exp.Case: json_case,
    exp.Ordered: json_order,
}


# ---------------------------------------------------------------- with column types

def type_json_select(select: exp.Select, column_type: ColumnTyper) -> tuple[str | None, ...]:
    """Mark JSON columns passed as JSON values, and return a declaration per result column
    (JSON for JSON-typed expressions, None otherwise)."""
    for call in select.find_all(exp.Anonymous):
        name = str(call.this).upper()
        if not (name.startswith("MYSQL_JSON_") and name[6:] in
                json_functions.JSON_VALUE_ARGUMENTS):
            continue
        for arg in list(call.expressions):
            if isinstance(arg, exp.Column) and _is_json(column_type(arg, select)):
                arg.replace(_call("MYSQL_JSON_ARG", arg.copy()))
    decltypes: list[str | None] = []
    for projection in select.expressions:
        target = projection.this if isinstance(projection, exp.Alias) else projection
        declared = target.meta.get(CELL_TYPE) if target.meta else None  # a JSON_TABLE column
        decltypes.append(JSON_DECLTYPE if json_function(target) else
                         cached_type(declared).sqlite_decltype() if declared else None)
    return tuple(decltypes)


def _is_json(t: MySqlType | None) -> bool:
    return t is not None and t.name == "json"
