"""Stored functions in expressions: each call replaced by the function's expression.

``f(a, b)`` in a statement becomes ``(<f's expression>)`` with every parameter name replaced
by ``(a)`` / ``(b)`` before the statement is translated, so SQLite evaluates it per row like
any expression (routines/__init__.py says why this and not SQLite functions). A body inlines
when it is ``RETURN expr``, or a BEGIN … END of DECLARE … DEFAULT, SETs of its locals and
IFs whose every branch ends in RETURN (a CASE), ending in RETURN. The declared return type is
applied (integers: CAST AS SIGNED, DECIMAL(m,d): CAST). Recursion is refused as in MySQL
(1424). A body with loops that touches no table becomes a call of MYSQL_STORED_FUNCTION, run by
the interpreter (function_calls.py); any other body is refused with 1235 when called.
"""

from __future__ import annotations

from typing import Any

from marmotdb import errors
from marmotdb.sql.text import lexer
from marmotdb.sql.routines import function_calls, store
from marmotdb.sql.routines import program as p
from marmotdb.sql.routines.definition import Routine

ER_SP_NO_RECURSION = 1424
_FUNCTIONS: dict[tuple[int, str], tuple[tuple[int, int], dict[str, Routine]]] = {}
_FUNCTIONS_MAX = 4096  # (server, database) entries kept; cleared past it
_INTEGER = ("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "MEDIUMINT", "BOOL", "BOOLEAN")


def functions(session: Any, database: Any) -> dict[str, Routine]:
    """The stored functions of ``database`` by lower-case name, cached per schema generation
    (every DDL, CREATE/DROP FUNCTION included, bumps it)."""
    key = (id(database), database.schema_generation)
    place = (id(session.server), database.name)
    found = _FUNCTIONS.get(place)
    if found is None or found[0] != key:
        if len(_FUNCTIONS) > _FUNCTIONS_MAX:
            _FUNCTIONS.clear()
        conn = session.server.read_connection(database)
        with session.server.binding(conn).trusted_scope():
            routines = {r.name.lower(): r for r in store.load_all(conn) if r.kind == "FUNCTION"}
        found = _FUNCTIONS[place] = (key, routines)
    return found[1]


def inline(text: str, known: dict[str, Routine], active: tuple[str, ...] = ()) -> str:
    """``text`` with every call of a function in ``known`` replaced by its expression."""
    lowered = text.lower()
    if not any(name in lowered for name in known):  # the common case: no tokenising
        return text
    toks = list(lexer.tokens(text))
    out: list[str] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        name = tok.text.lower() if tok.kind == lexer.WORD else \
            lexer.quoted_name(tok.text).lower() if tok.kind == lexer.QUOTED else ""
        routine = known.get(name) if name else None
        if routine is not None and _call_at(toks, i) and not _qualified(out):
            args, end = _arguments(toks, i + 1)
            if name in active:
                raise errors.error(ER_SP_NO_RECURSION, "Recursive stored functions and "
                                   "triggers are not allowed.")
            args = [inline(arg, known, active) for arg in args]
            out.append(expression(routine, args, known, active + (name,)))
            i = end + 1
            continue
        out.append(tok.text)
        i += 1
    return "".join(out)


_ITEMS_END = frozenset({"FROM", "INTO", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION",
                        "EXCEPT", "INTERSECT", "WINDOW", "FOR", "LOCK"})
_MODIFIERS = frozenset({"ALL", "DISTINCT", "DISTINCTROW", "HIGH_PRIORITY", "STRAIGHT_JOIN",
                        "SQL_SMALL_RESULT", "SQL_BIG_RESULT", "SQL_BUFFER_RESULT", "SQL_NO_CACHE",
                        "SQL_CACHE", "SQL_CALC_FOUND_ROWS"})


def named_calls(text: str, known: dict[str, Routine]) -> str:
    """A SELECT whose list items call stored functions, each such item without an alias given
    one: its own text, the name MySQL gives the column (``f(id + 2)``), which the inlined
    expression would otherwise replace."""
    lowered = text.lower()
    if not any(name in lowered for name in known):
        return text
    toks = [t for t in lexer.tokens(text) if t.kind not in lexer.BLANK_KINDS]
    if not toks or toks[0].text.upper() != "SELECT":
        return text
    index = 1
    while index < len(toks) and toks[index].text.upper() in _MODIFIERS:
        index += 1
    inserts: list[tuple[int, str]] = []
    for first, last in _item_spans(toks, index):
        item = toks[first:last + 1]
        calls = any(_call_at(item, i) and _name(t) in known for i, t in enumerate(item))
        if calls and not _aliased(item):
            written = text[item[0].start:item[-1].end]
            inserts.append((item[-1].end, " AS `" + written.replace("`", "``") + "`"))
    for position, alias in reversed(inserts):
        text = text[:position] + alias + text[position:]
    return text


def _item_spans(toks: list[lexer.Token], index: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    depth, start = 0, index
    for i in range(index, len(toks)):
        tok = toks[i]
        if depth == 0 and (tok.text.upper() in _ITEMS_END and tok.kind == lexer.WORD
                           or tok.text in (";", ")")):
            break
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        elif depth == 0 and tok.text == ",":
            if i > start:
                spans.append((start, i - 1))
            start = i + 1
    else:
        i = len(toks)
    if i > start:
        spans.append((start, i - 1))
    return spans


def _aliased(item: list[lexer.Token]) -> bool:
    """``expr AS name`` / ``expr name``: the last token a name after a value, not after an
    operator."""
    if len(item) < 2 or item[-1].kind not in (lexer.WORD, lexer.QUOTED, lexer.STRING):
        return False
    before = item[-2]
    return before.text.upper() == "AS" or before.text == ")" or before.kind in (
        lexer.WORD, lexer.QUOTED, lexer.NUMBER, lexer.STRING)


def _name(tok: lexer.Token) -> str:
    if tok.kind == lexer.WORD:
        return tok.text.lower()
    return lexer.quoted_name(tok.text).lower() if tok.kind == lexer.QUOTED else ""


def _call_at(toks: list[lexer.Token], i: int) -> bool:
    j = i + 1
    while j < len(toks) and toks[j].kind in lexer.BLANK_KINDS:
        j += 1
    return j < len(toks) and toks[j].text == "("


def _qualified(out: list[str]) -> bool:
    for piece in reversed(out):
        if piece.strip():
            return piece == "."
    return False


def _arguments(toks: list[lexer.Token], start: int) -> tuple[list[str], int]:
    """The argument texts of the call whose '(' is at or after ``start``, and the ')' index."""
    i = start
    while toks[i].text != "(":
        i += 1
    depth, args, current = 0, [], []
    for j in range(i, len(toks)):
        text = toks[j].text
        if text == "(":
            depth += 1
            if depth == 1:
                continue
        elif text == ")":
            depth -= 1
            if depth == 0:
                arg = "".join(current).strip()
                if arg or args:
                    args.append(arg)
                return args, j
        elif text == "," and depth == 1:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(text)
    raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check the "
                       "manual that corresponds to your MySQL server version for the right "
                       "syntax to use near '' at line 1")


def expression(routine: Routine, args: list[str], known: dict[str, Routine],
               active: tuple[str, ...]) -> str:
    if len(args) != len(routine.params):
        raise errors.error(1318, f"Incorrect number of arguments for FUNCTION {routine.name}; "
                           f"expected {len(routine.params)}, got {len(args)}")
    env = {param.name.lower(): f"({arg})" for param, arg in zip(routine.params, args)}
    body = _returned(p.parse_body(routine.body), env)
    if body is None:
        if not function_calls.computable(routine):
            raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't "
                               "yet support 'calling a stored function that reads tables, "
                               "writes, CALLs or uses @variables or cursors'")
        body = function_calls.call_text(routine, args, known)  # loops: function_calls.py
        return "(" + _typed(body, routine.returns or "") + ")"
    return "(" + _typed(inline(body, known, active), routine.returns or "") + ")"


def _returned(node: p.Node, env: dict[str, str]) -> str | None:
    if isinstance(node, p.Return):
        return _bind(node.expression, env)
    if isinstance(node, p.Block):
        return _sequence(node.body, dict(env))
    return None


def _sequence(body: list[p.Node], env: dict[str, str]) -> str | None:
    for index, node in enumerate(body):
        last = index == len(body) - 1
        if isinstance(node, p.Declare):
            for name in node.names:
                env[name.lower()] = f"({_bind(node.default, env)})" if node.default else "(NULL)"
        elif isinstance(node, p.Assign):
            for target, value in node.pairs:
                if target.lower() not in env:
                    return None
                env[target.lower()] = f"({_bind(value, env)})"
        elif isinstance(node, (p.Return, p.Block)) and last:
            return _returned(node, env)
        elif isinstance(node, p.If):
            case = _if_case(node, env, body[index + 1:])
            return case
        else:
            return None
    return None


def _if_case(node: p.If, env: dict[str, str], rest: list[p.Node]) -> str | None:
    """IF … THEN … RETURN … [ELSE …] END IF [then the rest]: a CASE with a branch each."""
    parts = []
    has_else = False
    for condition, body in node.branches:
        value = _sequence(list(body) if body and isinstance(body[-1], p.Return)
                          else list(body) + rest, dict(env))
        if value is None:
            return None
        if condition is None:
            has_else = True
            parts.append(f"ELSE {value}")
        else:
            parts.append(f"WHEN {_bind(condition, env)} THEN {value}")
    if not has_else:
        tail = _sequence(rest, dict(env))
        if tail is None:
            return None
        parts.append(f"ELSE {tail}")
    return "CASE " + " ".join(parts) + " END"


def _bind(text: str, env: dict[str, str]) -> str:
    toks = list(lexer.tokens(text))
    significant = [t for t in toks if t.kind not in lexer.BLANK_KINDS]
    replace: dict[int, str] = {}
    for i, tok in enumerate(significant):
        if tok.kind not in (lexer.WORD, lexer.QUOTED):
            continue
        name = (lexer.quoted_name(tok.text) if tok.kind == lexer.QUOTED else tok.text).lower()
        before = significant[i - 1].text if i else ""
        after = significant[i + 1].text if i + 1 < len(significant) else ""
        if name in env and before != "." and after not in ("(", "."):
            replace[tok.start] = env[name]
    return "".join(replace.get(t.start, t.text) for t in toks)


def _typed(expression: str, returns: str) -> str:
    word = returns.split("(")[0].split()[0].upper() if returns.strip() else ""
    if word in _INTEGER:
        unsigned = "UNSIGNED" in returns.upper()
        return f"CAST({expression} AS {'UNSIGNED' if unsigned else 'SIGNED'})"
    if word in ("DECIMAL", "NUMERIC", "DEC", "FIXED"):
        size = returns[returns.find("("):returns.find(")") + 1] if "(" in returns else ""
        return f"CAST({expression} AS DECIMAL{size})"
    return expression
