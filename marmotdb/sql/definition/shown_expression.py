"""A stored expression the way MySQL 8 prints it back (its ``Item::print``).

MySQL keeps a generated column's expression as it re-prints it, not as written, and shows that
in SHOW CREATE TABLE and INFORMATION_SCHEMA.COLUMNS.GENERATION_EXPRESSION:
``a + b`` is ``(`a` + `b`)``, ``CONCAT(a, '-', b)`` is ``concat(`a`,_utf8mb4'-',`b`)``,
``doc->>'$.n'`` is ``json_unquote(json_extract(`doc`,_utf8mb4'$.n'))``. The rules, from the
server's printers: every binary operator in one pair of parentheses with spaces around it
(AND / OR chains flattened into one), functions lower-case with arguments separated by a bare
comma, names in backticks, string literals with the connection's character set introducer,
``NOT x`` as ``(not(x))``, ``-x`` as ``-(x)``, ``IS [NOT] NULL`` / ``[NOT] IN`` /
``[NOT] BETWEEN`` / ``LIKE`` / ``CASE`` / ``CAST`` in parentheses of their own.

A precedence-climbing reader over the DDL cursor's tokens builds the printed text directly.
What it does not know (INTERVAL, COLLATE, ``||``, variables, keyword arguments such as
``TRIM(LEADING …)``) makes ``shown_expression`` return the text as written: a faithful but
unnormalised display beats a wrong one. Printing a printed expression gives it back unchanged,
so an ALTER TABLE that re-stores a definition does not drift.
"""

from __future__ import annotations

from collections.abc import Callable

from marmotdb import errors
from marmotdb.sql.definition.cursor import DdlParser, Token, unquote

INTRODUCER = "_utf8mb4"  # the character set of the connection MySQL stored the text from

# binary operators by precedence level, lowest first: token -> printed operator
_LEVELS: list[dict[str, str]] = [
    {"OR": "or", "||": "or"},
    {"XOR": "xor"},
    {"AND": "and", "&&": "and"},
    # NOT sits here (prefix), comparisons below it
    {"=": "=", "<=>": "<=>", ">=": ">=", ">": ">", "<=": "<=", "<": "<", "<>": "<>",
     "!=": "<>"},
    {"|": "|"},
    {"&": "&"},
    {"<<": "<<", ">>": ">>"},
    {"+": "+", "-": "-"},
    {"*": "*", "/": "/", "DIV": "DIV", "%": "%", "MOD": "%"},
    {"^": "^"},
]
_NOT_LEVEL = 3
_FLATTENED = frozenset({"or", "and", "xor"})
# Functions MySQL prints under another name (their func_name()).
_FUNCTION_NAMES = {"substring": "substr", "mid": "substr", "ucase": "upper", "lcase": "lower",
                   "character_length": "char_length", "current_timestamp": "now",
                   "localtime": "now", "localtimestamp": "now", "ifnull": "ifnull"}
_NO_PARENTHESES_FUNCTIONS = frozenset({"CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME",
                                       "LOCALTIME", "LOCALTIMESTAMP", "CURRENT_USER"})


class _Unprintable(Exception):
    """The expression has a construct this printer does not know."""


def shown_expression(text: str) -> str:
    """``text`` (a MySQL expression) as MySQL prints it; ``text`` itself if it cannot."""
    printed = printed_expression(text)
    return text if printed is None else printed


def printed_expression(text: str) -> str | None:
    """``text`` as MySQL prints it; None for a construct this printer does not know."""
    try:
        reader = _Reader(text)
        printed = reader.expression(0)
        if reader.parser.token.kind != "end":
            raise _Unprintable(reader.parser.token.text)
        return printed
    except (_Unprintable, errors.MarmotError, ValueError):
        return None


class _Reader:
    def __init__(self, text: str) -> None:
        self.parser = DdlParser(text)

    # -------------------------------------------------------------- operators
    def expression(self, level: int) -> str:
        if level == len(_LEVELS):
            return self.unary()
        if level == _NOT_LEVEL and self._accept_word("NOT"):
            return f"(not({self.expression(_NOT_LEVEL)}))"
        left = self.predicate() if level == _NOT_LEVEL else self.expression(level + 1)
        operands, printed_op = [left], None
        while True:
            op = self._operator(_LEVELS[level])
            if op is None:
                break
            right = self.expression(level + 1) if level != _NOT_LEVEL else self.predicate()
            if op in _FLATTENED and op == printed_op:
                operands.append(right)
                continue
            if printed_op is not None:
                operands = [self._joined(operands, printed_op)]
            operands.append(right)
            printed_op = op
        return self._joined(operands, printed_op) if printed_op else left

    @staticmethod
    def _joined(operands: list[str], op: str) -> str:
        return "(" + f" {op} ".join(operands) + ")"

    def _operator(self, table: dict[str, str]) -> str | None:
        token = self.parser.token
        key = token.upper if token.kind == "word" else token.text if token.kind == "op" else ""
        if key in table:
            self.parser.pos += 1
            return table[key]
        return None

    def predicate(self) -> str:
        """Comparison level operands and the postfix predicates (IS, IN, BETWEEN, LIKE)."""
        value = self.expression(_NOT_LEVEL + 1)
        while True:
            negated = self.parser.at("NOT") and self.parser.peek().upper in (
                "IN", "BETWEEN", "LIKE")
            if negated:
                self.parser.pos += 1
            if self._accept_word("IS"):
                value = self._is(value)
            elif self._accept_word("IN"):
                value = f"({value} {'not in' if negated else 'in'} ({self._arguments()}))"
            elif self._accept_word("BETWEEN"):
                low = self.expression(_NOT_LEVEL + 1)
                self._expect_word("AND")
                high = self.expression(_NOT_LEVEL + 1)
                value = f"({value} {'not between' if negated else 'between'} {low} and {high})"
            elif self._accept_word("LIKE"):
                pattern = self.expression(_NOT_LEVEL + 1)
                if self.parser.at("ESCAPE"):
                    raise _Unprintable("ESCAPE")
                like = f"({value} like {pattern})"
                value = f"(not({like}))" if negated else like
            else:
                return value

    def _is(self, value: str) -> str:
        negated = self._accept_word("NOT")
        word = self.parser.token.upper
        if word not in ("NULL", "TRUE", "FALSE", "UNKNOWN"):
            raise _Unprintable("IS")
        self.parser.pos += 1
        return f"({value} is {'not ' if negated else ''}{word.lower()})"

    def unary(self) -> str:
        parser = self.parser
        if parser.at_op("-"):
            parser.pos += 1
            if parser.token.kind == "num":
                parser.pos += 1
                return "-" + parser.peek(-1).text
            return f"-({self.unary()})"
        if parser.at_op("+"):
            parser.pos += 1
            return self.unary()
        if parser.at_op("~"):
            parser.pos += 1
            return f"~({self.unary()})"
        if parser.at_op("!"):
            parser.pos += 1
            return f"(not({self.unary()}))"
        return self.json_path(self.primary())

    def json_path(self, value: str) -> str:
        while self.parser.at_op("->") or self.parser.at_op("->>"):
            unquoted = self.parser.token.text == "->>"
            self.parser.pos += 1
            if self.parser.token.kind != "str":
                raise _Unprintable("JSON path")
            path = self._string(self.parser.token)
            self.parser.pos += 1
            value = f"json_extract({value},{path})"
            if unquoted:
                value = f"json_unquote({value})"
        return value

    # -------------------------------------------------------------- operands
    def primary(self) -> str:
        token = self.parser.token
        reader = _PRIMARIES.get(token.kind)
        if reader is None:
            raise _Unprintable(token.text)
        return reader(self, token)

    def _literal(self, token: Token) -> str:
        self.parser.pos += 1
        return token.text

    def _string_token(self, token: Token) -> str:
        self.parser.pos += 1
        return self._string(token)

    @staticmethod
    def _string(token: Token) -> str:
        text = token.text
        introducer = INTRODUCER
        if text.startswith("_"):
            quote = min(i for i in (text.find("'"), text.find('"')) if i > 0)
            introducer, text = text[:quote].lower(), text[quote:]
        elif text[:1] in "nN":
            raise _Unprintable("national string")
        value = unquote(text)
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"{introducer}'{escaped}'"

    def _name(self, token: Token) -> str:
        parser = self.parser
        word = token.upper
        if token.kind == "word":
            if word in ("NULL", "TRUE", "FALSE"):
                parser.pos += 1
                return "NULL" if word == "NULL" else word.lower()
            if word == "CASE":
                parser.pos += 1
                return self._case()
            if word in ("CAST", "CONVERT") and parser.peek().text == "(":
                parser.pos += 1
                return self._cast(word)
            if word in ("INTERVAL", "BINARY", "EXISTS", "SELECT", "MATCH", "ROW", "DEFAULT"):
                raise _Unprintable(word)
        parser.pos += 1
        if parser.at_op("("):
            return self._call(token)
        if token.kind == "word" and word in _NO_PARENTHESES_FUNCTIONS:
            return f"{_FUNCTION_NAMES.get(word.lower(), word.lower())}()"
        parts = [token.text]
        while parser.accept_op("."):
            if parser.token.kind not in ("word", "ident"):
                raise _Unprintable(".")
            parts.append(parser.token.text)
            parser.pos += 1
        return ".".join("`" + part.replace("`", "``") + "`" for part in parts)

    def _call(self, token: Token) -> str:
        name = token.text.lower()
        name = _FUNCTION_NAMES.get(name, name)
        if self.parser.peek().text == ")":
            self.parser.pos += 2
            return f"{name}()"
        return f"{name}({self._arguments()})"

    def _arguments(self) -> str:
        """``(a, b, …)`` at the cursor, printed as ``a,b,…`` (MySQL's separator)."""
        parser = self.parser
        parser.expect_op("(")
        values = [self.expression(0)]
        while parser.accept_op(","):
            values.append(self.expression(0))
        if not parser.accept_op(")"):
            raise _Unprintable(parser.token.text)
        return ",".join(values)

    def _parenthesised(self, token: Token) -> str:
        if token.text != "(":
            raise _Unprintable(token.text)
        self.parser.pos += 1
        if self.parser.at("SELECT", "WITH"):
            raise _Unprintable("subquery")
        value = self.expression(0)
        if self.parser.accept_op(","):
            raise _Unprintable("row constructor")
        self.parser.expect_op(")")
        return value

    def _case(self) -> str:
        parts = ["case"]
        if not self.parser.at("WHEN"):
            parts.append(self.expression(0))
        while self._accept_word("WHEN"):
            parts.append("when " + self.expression(0))
            self._expect_word("THEN")
            parts.append("then " + self.expression(0))
        if self._accept_word("ELSE"):
            parts.append("else " + self.expression(0))
        self._expect_word("END")
        return "(" + " ".join(parts) + " end)"

    def _cast(self, word: str) -> str:
        self.parser.expect_op("(")
        value = self.expression(0)
        if not self._accept_word("AS") and not (word == "CONVERT" and self.parser.accept_op(",")):
            raise _Unprintable("CONVERT … USING")
        target = self._cast_type()
        self.parser.expect_op(")")
        return f"cast({value} as {target})"

    def _cast_type(self) -> str:
        parser = self.parser
        word = parser.token.upper
        if not word:
            raise _Unprintable("cast type")
        parser.pos += 1
        if word in ("SIGNED", "UNSIGNED"):
            self._accept_word("INTEGER") or self._accept_word("INT")
            return word.lower()
        arguments = ""
        if parser.at_op("("):
            arguments = "(" + parser.balanced().replace(" ", "") + ")"
        charset = "utf8mb4"  # the connection's, which MySQL names
        if word == "CHAR" and (self._accept_word("CHARSET") or (
                self._accept_word("CHARACTER") and self._accept_word("SET"))):
            charset = parser.identifier().lower()  # a printed one reads back the same
        if parser.at("CHARACTER", "CHARSET", "COLLATE", "ARRAY", "PRECISION"):
            raise _Unprintable("cast type attributes")
        if word == "CHAR":
            return f"char{arguments} charset {charset}"
        return word.lower() + arguments

    # -------------------------------------------------------------- tokens
    def _accept_word(self, word: str) -> bool:
        return self.parser.accept(word) is not None

    def _expect_word(self, word: str) -> None:
        if not self._accept_word(word):
            raise _Unprintable(f"expected {word}")


_PRIMARIES: dict[str, Callable[[_Reader, Token], str]] = {
    "num": _Reader._literal, "hex": _Reader._literal, "str": _Reader._string_token,
    "word": _Reader._name, "ident": _Reader._name, "op": _Reader._parenthesised,
}
