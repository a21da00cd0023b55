"""Expression rewrites: MySQL expression semantics on sqlglot's AST, before SQLite generation.

Theory of operation
-------------------
Like sqlglot's own ``transforms.py``, this is a table of small named functions, each taking one
AST node and returning its replacement. ``rewrite_expressions`` walks a tree once and
dispatches on the node class through ``EXPRESSION_REWRITES``. The rewrites make sure SQLite
evaluates MySQL's meaning:

* calls renamed ``MYSQL_*`` at the text level (see ``rename_functions``) get their special
  arguments fixed (``INTERVAL n unit`` → ``n, 'UNIT'``; a unit keyword → a string; JSON values
  marked as JSON);
* syntax sqlglot parses into typed nodes is routed to marmotdb's functions: CAST/CONVERT,
  EXTRACT, TRIM, SUBSTRING, POSITION, ``x + INTERVAL``, ``->``/``->>``, MOD, XOR, the bit
  operators ``| & ^ ~ << >>`` (unsigned 64-bit),
  bare CURRENT_TIMESTAMP/CURRENT_DATE/CURRENT_USER, ``@x`` and ``@@x``;
* ``x op ANY|SOME|ALL (subquery)`` becomes an aggregate over the subquery
  (``quantified.py``);
* LIKE gets MySQL's default escape character ``\\``; COLLATE names map to SQLite collations;
  ``(a, b) IN ((1, 2), …)`` becomes row-value equalities; COUNT(DISTINCT a, b) and
  GROUP_CONCAT(DISTINCT … SEPARATOR s) get SQLite-compatible forms;
* constructs SQLite cannot express faithfully raise NotSupportedError naming them.

``rename_functions`` runs on MySQL text (cheap, cache misses only): ``NAME(`` → ``MYSQL_NAME(``
for every function in ``functions.RENAMED_FUNCTIONS``, skipping strings, identifiers and
comments, and only when the name is directly followed by ``(`` (as MySQL requires for
built-in functions). ``complete_coalesce`` is the other text pass: a one-argument
``COALESCE(x)`` (MySQL takes it, SQLite does not) gets a second argument ``NULL``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from marmotdb import errors
from marmotdb.sql.functions import fulltext, registry as functions, json as json_functions
from marmotdb.sql.text import lexer
from marmotdb.sql.rewrites.json import (
    JSON_EXPRESSION_REWRITES,
    compare_json,
    json_cast_operand,
    mark_json,
)
from marmotdb.sql.rewrites.quantified import is_quantified, rewrite_quantified
from marmotdb.sql.rewrites.unsigned import (
    BIT_OPERATORS,
    big_literal,
    is_big_literal,
    negative_literal,
    operand_texts,
)

_RENAMED = functions.RENAMED_FUNCTIONS
_UNSUPPORTED = functions.UNSUPPORTED_FUNCTIONS


def not_supported(construct: str) -> errors.MarmotError:
    return errors.error(errors.ER_NOT_SUPPORTED_YET,
                        f"This version of marmotdb doesn't yet support '{construct}'")


def rename_functions(sql: str) -> str:
    """``NOW(`` → ``MYSQL_NOW(`` for marmotdb's MySQL functions; refuse unsupported ones.

    A call is a word the lexer sees directly before ``(``, not qualified (``db.f(``), not a
    variable and not a type after ``AS`` (``CAST(x AS TIME(6))``: TIME is a function too);
    strings, names and comments are left alone."""
    pieces: list[str] = []
    copied = 0
    previous: lexer.Token | None = None
    keyword: lexer.Token | None = None  # the last token that is not space or a comment
    pending: lexer.Token | None = None  # a word that a '(' right after would make a call
    for token in lexer.tokens(sql):
        if pending is not None and token.text == "(" and token.kind == lexer.OP:
            renamed = _renamed(pending.text)
            if renamed is not None:
                pieces.append(sql[copied:pending.start])
                pieces.append(renamed)
                copied = pending.end
        pending = None
        if (token.kind == lexer.WORD and (token.text[0].isalpha() or token.text[0] == "_")
                and not (previous is not None and previous.text == "."
                         and previous.end == token.start)
                and not (keyword is not None and keyword.text.upper() == "AS")):
            pending = token
        previous = token
        if token.kind not in (lexer.SPACE, lexer.COMMENT, lexer.HINT):
            keyword = token
    pieces.append(sql[copied:])
    return "".join(pieces)


def unqualify_values_calls(sql: str) -> str:
    """``VALUES(t.c)`` / ``VALUES(db.t.c)`` after ON DUPLICATE KEY UPDATE → ``VALUES(c)``:
    MySQL takes a qualified name there (SQLAlchemy writes one), sqlglot's grammar does not,
    and the column can only be the inserted table's."""
    if "DUPLICATE" not in sql.upper():
        return sql
    significant = [t for t in lexer.tokens(sql) if t.kind not in lexer.BLANK_KINDS]
    words = [t.text.upper() if t.kind == lexer.WORD else "" for t in significant]
    if "DUPLICATE" not in words:
        return sql
    pieces, copied = [], 0
    for at in range(words.index("DUPLICATE"), len(significant) - 5):
        if words[at] != "VALUES" or significant[at + 1].text != "(":
            continue
        end = at + 2
        while end + 2 < len(significant) and _name(significant[end]) and \
                significant[end + 1].text == "." and _name(significant[end + 2]):
            end += 2
        if end > at + 2 and end + 1 < len(significant) and significant[end + 1].text == ")":
            pieces.append(sql[copied:significant[at + 2].start])
            copied = significant[end].start
    pieces.append(sql[copied:])
    return "".join(pieces)


def complete_coalesce(sql: str) -> str:
    """``COALESCE(x)`` → ``COALESCE(x, NULL)``: MySQL takes one argument (Tortoise ORM's
    ``posix_regex`` writes it), SQLite's coalesce at least two. It is done in the text because
    sqlglot reads ``IFNULL(x)``, which MySQL refuses with 1582, into the same node."""
    if "COALESCE" not in sql.upper():
        return sql
    significant = [t for t in lexer.tokens(sql) if t.kind not in lexer.BLANK_KINDS]
    ends = [end for at, token in enumerate(significant)
            if token.kind == lexer.WORD and token.text.upper() == "COALESCE"
            and not (at and significant[at - 1].text == ".")
            and (end := _single_argument_end(significant, at + 1)) is not None]
    if not ends:
        return sql
    pieces, copied = [], 0
    for end in sorted(ends):  # an inner call closes first
        pieces += [sql[copied:significant[end].start], ", NULL"]
        copied = significant[end].start
    pieces.append(sql[copied:])
    return "".join(pieces)


def _single_argument_end(significant: list[lexer.Token], at: int) -> int | None:
    """The index of the ``)`` closing a call whose ``(`` is at ``at``, when the call has
    exactly one argument; None otherwise."""
    if at + 2 >= len(significant) or significant[at].text != "(" or \
            significant[at + 1].text == ")":
        return None
    depth = 0
    for index in range(at, len(significant)):
        token = significant[index]
        if token.kind != lexer.OP:
            continue
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
            if depth == 0:
                return index
        elif token.text == "," and depth == 1:
            return None
    return None


def _name(token: lexer.Token) -> bool:
    return token.kind in (lexer.WORD, lexer.QUOTED)


def _renamed(name: str) -> str | None:
    upper = name.upper()
    if upper in _RENAMED:
        return "MYSQL_" + upper
    if upper in _UNSUPPORTED:
        raise not_supported(f"function {upper}()")
    return None


# ---------------------------------------------------------------- helpers

def call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def number(value: int) -> exp.Literal:
    return exp.Literal.number(value)


def _unit_name(node: exp.Expression | None) -> str:
    if node is None:
        return "DAY"
    if isinstance(node, exp.Column):
        return node.name.upper()
    return (node.name if isinstance(node, (exp.Var, exp.Identifier, exp.Literal))
            else node.sql()).upper()


def _interval_args(interval: exp.Interval) -> tuple[exp.Expression, exp.Literal]:
    value = interval.this
    if isinstance(value, exp.Literal) and value.is_string:
        text = value.this
        if re.fullmatch(r"-?\d+", text.strip()):
            value = exp.Literal.number(int(text))
    return value, string(_unit_name(interval.args.get("unit")))


# ---------------------------------------------------------------- renamed calls

_DATE_ARITH = {"MYSQL_DATE_ADD", "MYSQL_DATE_SUB", "MYSQL_ADDDATE", "MYSQL_SUBDATE"}
_UNIT_FIRST = {"MYSQL_TIMESTAMPDIFF", "MYSQL_TIMESTAMPADD"}


def fix_anonymous(node: exp.Anonymous) -> exp.Expression:
    name = str(node.this).upper()
    args = list(node.expressions)
    if name in _DATE_ARITH and len(args) == 2 and isinstance(args[1], exp.Interval):
        value, unit = _interval_args(args[1])
        return call(name, args[0], value, unit)
    if name in _UNIT_FIRST and args:
        return call(name, string(_unit_name(args[0])), *args[1:])
    if name == "MYSQL_CONVERT_TZ" or name == "MYSQL_GET_FORMAT":
        return node
    if name in _BIT_FUNCTIONS:
        return call(name, *(bit_literal(a) for a in args))
    if name.startswith("MYSQL_JSON_") and name[6:] in json_functions.JSON_VALUE_ARGUMENTS:
        return call(name, *[mark_json(a) for a in args])
    if not name.startswith("MYSQL_") and name in _UNSUPPORTED:
        raise not_supported(f"function {name}()")
    return node


# ---------------------------------------------------------------- typed nodes

def _now(node: exp.Expression) -> exp.Expression:
    fsp = node.args.get("this")
    return call("MYSQL_NOW", fsp) if fsp is not None else call("MYSQL_NOW")


def _curtime(node: exp.Expression) -> exp.Expression:
    fsp = node.args.get("this")
    return call("MYSQL_CURTIME", fsp) if fsp is not None else call("MYSQL_CURTIME")


def _extract(node: exp.Extract) -> exp.Expression:
    return call("MYSQL_EXTRACT", string(_unit_name(node.this)), node.expression)


def _trim(node: exp.Trim) -> exp.Expression:
    remove = node.expression
    position = str(node.args.get("position") or "BOTH").upper()
    if remove is None:
        return {"LEADING": call("LTRIM", node.this, string(" ")),
                "TRAILING": call("RTRIM", node.this, string(" "))}.get(
            position, call("TRIM", node.this, string(" ")))
    return call("MYSQL_TRIM", node.this, remove, string(position))


def _substring(node: exp.Substring) -> exp.Expression:
    args = [node.this, node.args.get("start") or number(1)]
    if node.args.get("length") is not None:
        args.append(node.args["length"])
    return call("MYSQL_SUBSTRING", *args)


def _position(node: exp.StrPosition) -> exp.Expression:
    args = [node.args["substr"], node.this]
    if node.args.get("position") is not None:
        args.append(node.args["position"])
    return call("MYSQL_LOCATE", *args)


def _interval_arith(node: exp.Add | exp.Sub) -> exp.Expression:
    left, right = node.this, node.expression
    if isinstance(left, exp.Interval) and isinstance(right, exp.Interval) and \
            right.args.get("unit") is None:
        right = right.this  # sqlglot reads "INTERVAL 1 DAY + '2024-01-01'" as two intervals
    if isinstance(right, exp.Interval):
        value, unit = _interval_args(right)
        name = "MYSQL_DATE_ADD" if isinstance(node, exp.Add) else "MYSQL_DATE_SUB"
        return call(name, left, value, unit)
    if isinstance(left, exp.Interval) and isinstance(node, exp.Add):
        value, unit = _interval_args(left)
        return call("MYSQL_DATE_ADD", right, value, unit)
    if isinstance(left, exp.Interval) or isinstance(right, exp.Interval):
        raise not_supported("INTERVAL in this expression")
    return node


def _date_add_node(node: exp.Expression) -> exp.Expression:
    unit = string(_unit_name(node.args.get("unit")))
    name = "MYSQL_DATE_SUB" if isinstance(node, exp.DateSub) else "MYSQL_DATE_ADD"
    return call(name, node.this, node.expression, unit)


def _mod(node: exp.Mod) -> exp.Expression:
    return call("MYSQL_MOD", node.this, node.expression)


def _integer_division(node: exp.IntDiv) -> exp.Expression:
    """``a DIV b`` exact (functions/numbers.py); SQLite's own would go through a REAL."""
    return call("MYSQL_INT_DIV", node.this, node.expression,
                *operand_texts(node.this, node.expression))


def _xor(node: exp.Xor) -> exp.Expression:
    return call("MYSQL_XOR", node.this, node.expression)


def _bit_operator(node: exp.Expression) -> exp.Expression:
    """``| & ^ ~ << >>`` are unsigned 64-bit in MySQL (``~0`` is 2^64-1, ``1 << 63`` is 2^63),
    SQLite's are signed: marmotdb's functions compute them (functions.BIT_OPERATORS)."""
    operands = [node.this] if isinstance(node, exp.BitwiseNot) else [node.this, node.expression]
    return call(BIT_OPERATORS[type(node)], *(bit_literal(o) for o in operands))


_BIT_FUNCTIONS = frozenset({"MYSQL_BIT_COUNT", "MYSQL_BIT_AND", "MYSQL_BIT_OR", "MYSQL_BIT_XOR"})


def bit_literal(node: exp.Expression) -> exp.Expression:
    """A hexadecimal literal is a number where a bit operator reads it (``-1 & 0xFF`` is 255);
    SQLite would read its bytes as text (0)."""
    if not isinstance(node, exp.HexString) or len(node.this) > 16:
        return node
    value = int(node.this or "0", 16)
    return exp.Literal.number(value) if value < 1 << 63 else string(str(value))


def _like(node: exp.Like) -> exp.Expression:
    if isinstance(node.parent, exp.Escape):
        return node
    sides = [node.this, node.expression]
    if any(_binary_collated(side) for side in sides):
        # x LIKE BINARY y: case-sensitive, which SQLite's LIKE (ASCII case-folding, blind to
        # COLLATE) cannot be; Django's startswith/contains on an expression send it.
        value, pattern = (side.this if _binary_collated(side) else side for side in sides)
        return call("MYSQL_LIKE_BINARY", value, pattern)
    return exp.Escape(this=node, expression=string("\\"))


def _binary_collated(node: exp.Expression) -> bool:
    return isinstance(node, exp.Collate) and node.expression.name.upper() == "BINARY"


# binary and case-sensitive collations (latin1_general_cs, utf8mb4_0900_as_cs) compare as
# SQLite's BINARY: the case-sensitive ones order case differently, but never call 'A' 'a'
_BIN_COLLATIONS = re.compile(r"(_bin|_cs|^binary)$", re.IGNORECASE)


def _collate(node: exp.Collate) -> exp.Expression:
    name = node.expression.name if isinstance(node.expression, (exp.Var, exp.Column,
                                                                 exp.Identifier)) \
        else node.expression.sql()
    target = "BINARY" if _BIN_COLLATIONS.search(name.strip("'\"`")) else "NOCASE"
    return exp.Collate(this=node.this, expression=exp.var(target))


def _user_variable(node: exp.Parameter) -> exp.Expression:
    return call("MYSQL_USER_VAR", string(node.name))


def _system_variable(node: exp.SessionParameter) -> exp.Expression:
    kind = node.args.get("kind")
    args = [string(node.name)] + ([string(str(kind).lower())] if kind else [])
    return call("MYSQL_SYSVAR", *args)


def _count(node: exp.Count) -> exp.Expression:
    inner = node.this
    if isinstance(inner, exp.Distinct) and len(inner.expressions) > 1:
        parts = inner.expressions
        any_null = exp.or_(*[exp.Is(this=p.copy(), expression=exp.Null()) for p in parts])
        row = exp.Case(ifs=[exp.If(this=any_null, true=exp.Null())],
                       default=call("json_array", *[p.copy() for p in parts]))
        return exp.Count(this=exp.Distinct(expressions=[row]))
    return node


def _group_concat(node: exp.GroupConcat) -> exp.Expression:
    separator = node.args.get("separator")
    inner, order = node.this, None
    if isinstance(inner, exp.Order):
        order, inner = inner, inner.this
    distinct = isinstance(inner, exp.Distinct)
    values = inner.expressions if distinct else [inner]
    value = values[0]
    for extra in values[1:]:
        value = exp.DPipe(this=value, expression=extra)
    default_separator = separator is None or (isinstance(separator, exp.Literal)
                                              and separator.this == ",")
    if distinct and not default_separator:
        raise not_supported("GROUP_CONCAT(DISTINCT … SEPARATOR other than ',')")
    target: exp.Expression = exp.Distinct(expressions=[value]) if distinct else value
    if order is not None:
        target = exp.Order(this=target, expressions=order.expressions)
    return exp.GroupConcat(this=target, separator=None if default_separator else separator)


def _any_value(node: exp.AnyValue) -> exp.Expression:
    return node.this


def _in_tuples(node: exp.In) -> exp.Expression:
    left, items = node.this, node.expressions
    if not isinstance(left, exp.Tuple) or not items or node.args.get("query"):
        return node
    equalities = [exp.EQ(this=left.copy(), expression=item.copy()) for item in items]
    return exp.Paren(this=exp.or_(*equalities))


def _concat(node: exp.Concat) -> exp.Expression:
    """CONCAT becomes SQLite's ``||``, which binds tighter than every other operator:
    ``CONCAT('a', x * 7)`` would be ``('a' || x) * 7``. Operator arguments get parentheses."""
    for argument in node.expressions:
        if isinstance(argument, (exp.Binary, exp.Unary)) and not isinstance(argument, exp.Paren):
            argument.replace(exp.Paren(this=argument.copy()))
    return node


def _national(node: exp.National) -> exp.Expression:
    return string(node.this)


def _introducer(node: exp.Introducer) -> exp.Expression:
    # sqlglot keeps the charset name as an expression in some versions, a str in others.
    charset = (node.this.name if isinstance(node.this, exp.Expression)
               else str(node.this or "")).lower()
    if charset == "_binary" and isinstance(node.expression, exp.Literal):
        return exp.HexString(this=node.expression.this.encode("utf-8", "surrogateescape").hex())
    return node.expression


def _assignment(node: exp.Expression) -> exp.Expression:
    """``@var := expr`` (the only ``:=`` in a statement marmotdb translates)."""
    raise not_supported("assigning user variables (@var := …) inside a statement")


def _match(node: exp.MatchAgainst) -> exp.Expression:
    """MATCH (cols) AGAINST (query [mode]): evaluated by sql/functions/fulltext.py."""
    mode = fulltext.mode_of(node.args.get("modifier"))
    return call("MYSQL_MATCH_AGAINST", string(mode), node.this, *node.expressions)


def _chr(node: exp.Chr) -> exp.Expression:
    return call("char", *node.expressions)


_CAST_KINDS = {
    exp.DataType.Type.BIGINT: "SIGNED", exp.DataType.Type.INT: "SIGNED",
    exp.DataType.Type.UBIGINT: "UNSIGNED", exp.DataType.Type.UINT: "UNSIGNED",
    exp.DataType.Type.DECIMAL: "DECIMAL", exp.DataType.Type.CHAR: "CHAR",
    exp.DataType.Type.NCHAR: "CHAR", exp.DataType.Type.VARCHAR: "CHAR",
    exp.DataType.Type.TEXT: "CHAR", exp.DataType.Type.CHARACTER_SET: "CHAR",
    exp.DataType.Type.BINARY: "BINARY", exp.DataType.Type.VARBINARY: "BINARY",
    exp.DataType.Type.DATE: "DATE", exp.DataType.Type.DATETIME: "DATETIME",
    exp.DataType.Type.TIMESTAMP: "DATETIME", exp.DataType.Type.TIME: "TIME",
    exp.DataType.Type.DOUBLE: "DOUBLE", exp.DataType.Type.FLOAT: "FLOAT",
    exp.DataType.Type.JSON: "JSON", exp.DataType.Type.YEAR: "YEAR",
}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Like, exp.In,
                exp.NullSafeEQ, exp.Between)


def _cast(node: exp.Cast) -> exp.Expression:
    to = node.to
    kind = _CAST_KINDS.get(to.this)
    if kind is None:
        raise not_supported(f"CAST(… AS {to.sql(dialect='mysql')})")
    params = [p.this if isinstance(p, exp.DataTypeParam) else p for p in to.expressions]
    if kind == "BINARY" and not params and isinstance(node.parent, _COMPARISONS):
        return exp.Collate(this=node.this, expression=exp.var("BINARY"))
    operand = node.this
    if kind == "DECIMAL" and _exact_literal(operand):  # SQLite would read it as a REAL
        operand = string(operand.this)
    return call("MYSQL_CAST", json_cast_operand(operand, kind), string(kind), *params)


def _exact_literal(node: exp.Expression) -> bool:
    """A literal MySQL reads as an exact DECIMAL: digits with a point, no exponent."""
    return isinstance(node, exp.Literal) and not node.is_string and "." in node.this \
        and "e" not in node.this.lower()


_COMPARISON_TYPES = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)


def _decides_comparison(node: exp.Expression) -> bool:
    """A side that makes SQLite compare the MySQL way: a column (its affinity and collation
    apply), an explicit COLLATE, a row value, a subquery, NULL or a boolean."""
    if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.BINARY,
                                                       exp.DataType.Type.VARBINARY):
        return not node.to.expressions  # BINARY x: becomes x COLLATE BINARY (see _cast)
    return isinstance(node, (exp.Column, exp.Collate, exp.Tuple, exp.Subquery, exp.Null,
                             exp.Boolean))


def _number_literal(node: exp.Expression) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string


def _comparison(node: exp.Expression) -> exp.Expression:
    """Comparisons where neither side is a column follow MySQL's rules (numbers vs strings
    compare as numbers, strings compare case-insensitively): ``MYSQL_CMP(a, b) <op> 0``.
    With a column on either side SQLite's affinity and the column's collation already do.
    ``x op ANY|SOME|ALL (subquery)``: see quantified.py."""
    if is_quantified(node):
        return rewrite_quantified(node)
    node = compare_json(node)
    left, right = node.this, node.expression
    if _decides_comparison(left) or _decides_comparison(right) or (
            _number_literal(left) and _number_literal(right)):
        return node
    if is_big_literal(left) or is_big_literal(right):  # exact text: compared as a number
        left, right = (call("MYSQL_UINT_KEY", s) if is_big_literal(s) else s
                       for s in (left, right))
    return type(node)(this=call("MYSQL_CMP", left, right), expression=number(0))


def _nullif(node: exp.Nullif) -> exp.Expression:
    """NULLIF(a, b) is ``CASE WHEN a = b THEN NULL ELSE a END`` (MySQL's manual): the
    comparison follows MySQL's rules (SQLite's NULLIF compares a DECIMAL's text with a number
    as different) and a DECIMAL ``a`` keeps its type in exact arithmetic."""
    test = _comparison(exp.EQ(this=node.this.copy(), expression=node.expression))
    return exp.Case(ifs=[exp.If(this=test, true=exp.Null())], default=node.this)


def _bit_string(node: exp.BitString) -> exp.Expression:
    """b'…' of 64 bits at or above 2^63 does not fit SQLite's integers: written as the bytes
    it stands for (a BIT(64) column stores them exactly)."""
    value = int(node.this or "0", 2)
    if value < 1 << 63:
        return node
    digits = format(value, "X")
    return exp.HexString(this=digits.rjust(len(digits) + len(digits) % 2, "0"))


_BARE_FUNCTIONS = {"LOCALTIME": "MYSQL_NOW", "LOCALTIMESTAMP": "MYSQL_NOW",
                   "UTC_DATE": "MYSQL_UTC_DATE", "UTC_TIME": "MYSQL_UTC_TIME",
                   "UTC_TIMESTAMP": "MYSQL_UTC_TIMESTAMP", "CURRENT_ROLE": "MYSQL_CURRENT_USER"}


def _bare_keyword(node: exp.Column) -> exp.Expression:
    """MySQL functions callable without parentheses that sqlglot reads as columns."""
    name = node.this
    if node.table or not isinstance(name, exp.Identifier) or name.quoted:
        return node
    function = _BARE_FUNCTIONS.get(name.name.upper())
    return call(function) if function else node


# ---------------------------------------------------------------- the table

Rewrite = Callable[[exp.Expression], exp.Expression]

EXPRESSION_REWRITES: dict[type[exp.Expression], Rewrite] = {
    exp.Anonymous: fix_anonymous,  # type: ignore[dict-item]
    exp.CurrentTimestamp: _now, exp.CurrentDatetime: _now, exp.Localtimestamp: _now,
    exp.Localtime: _now,
    exp.CurrentDate: lambda n: call("MYSQL_CURDATE"),
    exp.CurrentTime: _curtime,
    exp.CurrentUser: lambda n: call("MYSQL_CURRENT_USER"),
    exp.Extract: _extract, exp.Trim: _trim, exp.Substring: _substring,  # type: ignore
    exp.StrPosition: _position, exp.Add: _interval_arith, exp.Sub: _interval_arith,  # type: ignore
    exp.DateAdd: _date_add_node, exp.DateSub: _date_add_node,
    exp.Mod: _mod, exp.IntDiv: _integer_division, exp.Xor: _xor, **{t: _bit_operator for t in BIT_OPERATORS},  # type: ignore
    exp.Like: _like, exp.Collate: _collate,  # type: ignore
    exp.Parameter: _user_variable, exp.SessionParameter: _system_variable,  # type: ignore
    exp.Count: _count, exp.GroupConcat: _group_concat, exp.AnyValue: _any_value,  # type: ignore
    exp.Concat: _concat, exp.In: _in_tuples, exp.National: _national, exp.Introducer: _introducer,  # type: ignore
    exp.MatchAgainst: _match, exp.Chr: _chr, exp.Cast: _cast,  # type: ignore
    exp.TryCast: _cast, exp.Column: _bare_keyword, exp.PropertyEQ: _assignment,  # type: ignore
    exp.BitString: _bit_string, exp.Nullif: _nullif,  # type: ignore[dict-item]
    **JSON_EXPRESSION_REWRITES,  # json.py: ->, ->>, MEMBER OF, JSON_VALUE
    exp.Literal: big_literal,  # type: ignore[dict-item]  # unsigned.py
    exp.Neg: negative_literal,  # type: ignore[dict-item]  # unsigned.py
    **{t: _comparison for t in _COMPARISON_TYPES},  # type: ignore
}


def rewrite_node(node: exp.Expression) -> exp.Expression:
    handler = EXPRESSION_REWRITES.get(type(node))
    return handler(node) if handler is not None else node


def rewrite_expressions(tree: exp.Expression) -> exp.Expression:
    """Apply ``EXPRESSION_REWRITES`` to every node of ``tree`` (see ``rewrite_tree``)."""
    return rewrite_tree(tree, rewrite_node)


def rewrite_tree(tree: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """Apply ``rewrite`` to every node of ``tree``, children before parents (so a rewrite that
    wraps a node still sees its children rewritten), in place; returns the (new) root."""
    for node in reversed(list(tree.walk(bfs=False))):
        parent, key, index = node.parent, node.arg_key, node.index
        replacement = rewrite(node)
        if replacement is node:
            continue
        if parent is None or node is tree:
            tree = replacement
        else:  # the rewrite may have re-parented ``node`` inside ``replacement``
            parent.set(key, replacement, index)
    return tree
