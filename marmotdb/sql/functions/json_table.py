"""JSON_TABLE: MySQL's table function, as SQLite's ``json_each`` over rows computed in Python.

Theory of operation
-------------------
sqlglot reads only part of JSON_TABLE's grammar (no ``EXISTS PATH``, no ``ON EMPTY`` /
``ON ERROR``), and SQLite has no table function with declared columns, so JSON_TABLE is
handled in two steps around the parse:

1. ``expand_json_tables(sql)`` (text, before sqlglot) reads each
   ``JSON_TABLE(doc, path COLUMNS (…))`` with the lexer and writes in its place
   ``json_each(MYSQL_JSON_TABLE_ROWS(doc, path, '<hex of the column list>'))``. The
   function (json_functions.json_table_rows) returns one JSON array per row with every
   column already converted to its type, ON EMPTY / ON ERROR applied; ``json_each`` turns
   those into rows. ``doc`` stays an expression, so the lateral form
   ``FROM t, JSON_TABLE(t.doc, …)`` works: SQLite lets a table function's argument refer to
   a table to its left.
2. ``rewrite_json_table_columns(tree)`` (AST, after the parse) replaces every reference to
   a JSON_TABLE column (``jt.name`` or a bare ``name``) with its cell,
   ``json_extract(jt.value, '$[i]')``, and expands ``*`` / ``jt.*`` to the declared columns.

The column list travels inside the SQL text (hex, so no quoting rule can break it) rather
than beside it, so a cached translation needs nothing else. Paths are literals, so a
statement with JSON_TABLE is translated with its literals inline (not shape-cached with
parameters). ``NESTED PATH`` is refused with 1235.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlglot import exp

from marmotdb import errors
from marmotdb.sql.text import lexer

ROWS_FUNCTION = "MYSQL_JSON_TABLE_ROWS"


def _not_supported(construct: str) -> errors.MarmotError:
    return errors.error(errors.ER_NOT_SUPPORTED_YET,
                        f"This version of marmotdb doesn't yet support '{construct}'")


def _syntax(near: str) -> errors.MarmotError:
    return errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check the "
                        "manual that corresponds to your MySQL server version for the right "
                        f"syntax to use near '{near[:80]}'")


def mentions_json_table(sql: str) -> bool:
    return "JSON_TABLE" in sql.upper()


# ---------------------------------------------------------------- text: JSON_TABLE(...) -> json_each

def expand_json_tables(sql: str) -> str:
    """Every ``JSON_TABLE(…)`` call in ``sql`` written as ``json_each(MYSQL_JSON_TABLE_ROWS(…))``."""
    if not mentions_json_table(sql):
        return sql
    tokens = [t for t in lexer.tokens(sql) if t.kind not in lexer.BLANK_KINDS]
    pieces: list[str] = []
    copied = 0
    i = 0
    while i < len(tokens) - 1:
        token = tokens[i]
        if token.kind == lexer.WORD and token.text.upper() == "JSON_TABLE" and \
                tokens[i + 1].text == "(":
            close = _matching(tokens, i + 1)
            pieces.append(sql[copied:token.start])
            pieces.append(_json_each(sql, tokens[i + 2:close]))
            copied = tokens[close].end
            i = close
        i += 1
    pieces.append(sql[copied:])
    return "".join(pieces)


def _matching(tokens: list[lexer.Token], opening: int) -> int:
    depth = 0
    for index in range(opening, len(tokens)):
        text = tokens[index].text
        if tokens[index].kind == lexer.OP and text == "(":
            depth += 1
        elif tokens[index].kind == lexer.OP and text == ")":
            depth -= 1
            if depth == 0:
                return index
    raise _syntax(tokens[opening].text)


def _split(tokens: list[lexer.Token]) -> list[list[lexer.Token]]:
    """Tokens split at commas outside parentheses."""
    parts: list[list[lexer.Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == lexer.OP and token.text == "(":
            depth += 1
        elif token.kind == lexer.OP and token.text == ")":
            depth -= 1
        if depth == 0 and token.kind == lexer.OP and token.text == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _json_each(sql: str, inner: list[lexer.Token]) -> str:
    parts = _split(inner)  # the column list's commas are inside parentheses
    if len(parts) != 2 or not parts[0]:
        raise _syntax(sql[inner[0].start:] if inner else ")")
    doc, rest = parts
    if len(rest) < 4 or rest[0].kind != lexer.STRING or rest[1].text.upper() != "COLUMNS" or \
            rest[2].text != "(" or _matching(rest, 2) != len(rest) - 1:
        raise _syntax(sql[rest[0].start:] if rest else ")")
    columns = [_column(sql, part) for part in _split(rest[3:-1])]
    spec = json.dumps([c.spec() for c in columns]).encode().hex()
    doc_text = sql[doc[0].start:doc[-1].end]
    return f"json_each({ROWS_FUNCTION}({doc_text}, {rest[0].text}, '{spec}'))"


@dataclass(slots=True)
class _Column:
    kind: str  # 'ordinality' | 'path' | 'exists'
    name: str
    type_text: str = ""
    path: str = "$"
    on_empty: str = "NULL"
    on_error: str = "NULL"

    def spec(self) -> list[str]:
        return [self.kind, self.name, self.type_text, self.path, self.on_empty, self.on_error]


def _column(sql: str, tokens: list[lexer.Token]) -> _Column:
    if not tokens:
        raise _syntax(")")
    words = [t.text.upper() for t in tokens]
    if words[0] == "NESTED":
        raise _not_supported("JSON_TABLE … NESTED PATH")
    name = lexer.quoted_name(tokens[0].text) if tokens[0].kind == lexer.QUOTED \
        else tokens[0].text
    if words[1:] == ["FOR", "ORDINALITY"]:
        return _Column("ordinality", name)
    if "PATH" not in words or words.index("PATH") + 1 >= len(tokens):
        raise _syntax(sql[tokens[0].start:tokens[-1].end])
    at = words.index("PATH")
    exists = words[at - 1] == "EXISTS"
    type_end = at - 1 if exists else at
    if type_end <= 1 or tokens[at + 1].kind != lexer.STRING:
        raise _syntax(sql[tokens[0].start:tokens[-1].end])
    column = _Column("exists" if exists else "path", name,
                     sql[tokens[1].start:tokens[type_end - 1].end],
                     str(lexer.string_value(tokens[at + 1].text)))
    _clauses(sql, tokens[at + 2:], column)
    return column


def _clauses(sql: str, tokens: list[lexer.Token], column: _Column) -> None:
    """``{NULL | ERROR | DEFAULT 'json'} ON {EMPTY | ERROR}``, each at most once."""
    i = 0
    while i < len(tokens):
        word = tokens[i].text.upper()
        if word == "DEFAULT" and i + 1 < len(tokens) and tokens[i + 1].kind == lexer.STRING:
            action = "DEFAULT:" + _default_json(str(lexer.string_value(tokens[i + 1].text)))
            i += 2
        elif word in ("NULL", "ERROR"):
            action = word
            i += 1
        else:
            raise _syntax(sql[tokens[i].start:])
        if i + 1 >= len(tokens) or tokens[i].text.upper() != "ON" or \
                tokens[i + 1].text.upper() not in ("EMPTY", "ERROR"):
            raise _syntax(sql[tokens[min(i, len(tokens) - 1)].start:])
        if tokens[i + 1].text.upper() == "EMPTY":
            column.on_empty = action
        else:
            column.on_error = action
        i += 2


def _default_json(text: str) -> str:
    """A DEFAULT value is JSON text; a bare word that is not JSON stands for a string."""
    try:
        json.loads(text)
        return text
    except ValueError:
        return json.dumps(text)


# ---------------------------------------------------------------- AST: column references

def _json_table_columns(table: exp.Table) -> list[list[str]] | None:
    """The JSON_TABLE column list (``_Column.spec()`` each) of a rewritten ``json_each``."""
    function = table.this
    if not (isinstance(function, exp.Anonymous) and str(function.this).lower() == "json_each"
            and function.expressions and isinstance(function.expressions[0], exp.Anonymous)
            and str(function.expressions[0].this).upper() == ROWS_FUNCTION):
        return None
    spec = function.expressions[0].expressions[2]
    if not isinstance(spec, exp.Literal):
        return None
    return list(json.loads(bytes.fromhex(spec.this).decode()))


CELL_TYPE = "mysql_type"  # meta key: the MySQL type a cell was declared with


def _cell(alias: str, position: int, column: list[str]) -> exp.Expression:
    """Column ``position`` of a row; its declared type rides along in ``meta`` so the result
    column is announced as declared (rewrites_json.type_json_select)."""
    value = exp.Column(this=exp.to_identifier("value"), table=exp.to_identifier(alias))
    cell = exp.Anonymous(this="json_extract",
                         expressions=[value, exp.Literal.string(f"$[{position}]")])
    cell.meta[CELL_TYPE] = "int unsigned" if column[0] == "ordinality" else column[2]
    return cell


def rewrite_json_table_columns(tree: exp.Expression) -> None:
    """References to JSON_TABLE columns become their cells (see the module docstring)."""
    for table in list(tree.find_all(exp.Table)):
        columns = _json_table_columns(table)
        select = table.find_ancestor(exp.Select)
        if columns is None or select is None:
            continue
        alias = table.alias_or_name
        if not table.alias:
            raise errors.error(3667, "Every table function must have an alias.")
        _expand_stars(select, alias, columns)
        _replace_references(select, table, alias, columns)


def _expand_stars(select: exp.Select, alias: str, columns: list[list[str]]) -> None:
    cells = [exp.alias_(_cell(alias, i, column), column[1], quoted=True)
             for i, column in enumerate(columns)]
    projections: list[exp.Expression] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Star):
            projections.extend(_sources_star(select, alias, cells))
        elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star) \
                and projection.table.lower() == alias.lower():
            projections.extend(c.copy() for c in cells)
        else:
            projections.append(projection)
    select.set("expressions", projections)


def _sources_star(select: exp.Select, alias: str, cells: list[exp.Expression]
                  ) -> list[exp.Expression]:
    """``*`` over several sources: each source's columns in FROM order."""
    expanded: list[exp.Expression] = []
    for source in _sources(select):
        if source.alias_or_name.lower() == alias.lower():
            expanded.extend(c.copy() for c in cells)
        else:
            expanded.append(exp.Column(this=exp.Star(),
                                       table=exp.to_identifier(source.alias_or_name)))
    return expanded


# json_each's own columns: a bare name among them means another table's column in MySQL
_JSON_EACH_COLUMNS = frozenset({"key", "value", "type", "atom", "id", "parent", "fullkey",
                                "path", "json", "root"})


def _sources(select: exp.Select) -> list[exp.Expression]:
    from_ = select.args.get("from_") or select.args.get("from")
    return ([from_.this] if from_ is not None else []) + \
        [join.this for join in select.args.get("joins") or []]


def _replace_references(select: exp.Select, table: exp.Table, alias: str,
                        columns: list[list[str]]) -> None:
    positions = {column[1].lower(): i for i, column in enumerate(columns)}
    others = [s for s in _sources(select) if s is not table]
    for column in list(select.find_all(exp.Column)):
        if isinstance(column.this, exp.Star) or column.find_ancestor(exp.Table) is table:
            continue
        position = positions.get(column.name.lower())
        if position is None and not column.table and len(others) == 1 and \
                column.name.lower() in _JSON_EACH_COLUMNS and \
                column.find_ancestor(exp.Select) is select:
            column.set("table", exp.to_identifier(others[0].alias_or_name))
            continue
        if position is None or (column.table and column.table.lower() != alias.lower()):
            continue
        if not column.table and column.find_ancestor(exp.Select) is not select:
            continue
        cell = _cell(alias, position, columns[position])
        if column.parent is select and column.arg_key == "expressions":
            cell = exp.alias_(cell, column.name, quoted=True)
        column.replace(cell)
