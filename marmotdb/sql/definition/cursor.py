"""The DDL cursor: MySQL DDL text as tokens, and the small vocabulary the statement readers use.

``tokenize`` reads with the one MySQL lexer (text/lexer.py) and drops blanks and comments;
``DdlParser`` walks the tokens (``accept``, ``expect``, ``identifier``, ``balanced`` …) and
reports what it did not expect as MySQL's 1064. The CREATE TABLE reader (create_table.py), the
DDL translation (rewrites/ddl/), LOCK TABLES and the table maintenance statements read with it.
"""

from __future__ import annotations

from typing import NamedTuple

from marmotdb import errors
from marmotdb.sql.text import lexer


class Token(NamedTuple):
    """One token. A tuple, not a dataclass: the catalog reads every stored table with these,
    and a frozen dataclass costs a Python-level ``__init__`` per token."""

    kind: str  # 'word' | 'ident' (backticked) | 'str' | 'hex' | 'num' | 'op' | 'end'
    text: str
    start: int
    end: int
    upper: str = ""  # a word's text in upper case, '' for the other kinds


def _token(kind: str, text: str, start: int, end: int) -> Token:
    return Token(kind, text, start, end, text.upper() if kind == "word" else "")


# The MySQL lexer's kinds as the DDL parser names them; blanks, comments and versioned-comment
# markers are dropped, a variable is '@' operators and its name (DEFINER=`u`@`host`).
_KINDS = {lexer.WORD: "word", lexer.QUOTED: "ident", lexer.STRING: "str", lexer.HEX: "hex",
          lexer.BITS: "hex", lexer.NUMBER: "num", lexer.OP: "op", lexer.SEMICOLON: "op",
          lexer.MARKER: "op", lexer.UNTERMINATED: "op"}


def tokenize(sql: str) -> list[Token]:
    tokens = []
    new = tuple.__new__  # Token(...) without NamedTuple's Python-level __new__
    blank, kinds = lexer.BLANK_KINDS, _KINDS
    for kind, text, start in lexer.tokens(sql):
        if kind in blank:
            continue
        if kind == lexer.VAR:
            tokens.extend(_variable_tokens(lexer.Token(kind, text, start)))
            continue
        end = start + len(text)
        if kind == lexer.QUOTED:
            text = lexer.quoted_name(text)
        mapped = kinds[kind]
        tokens.append(new(Token, (mapped, text, start, end,
                                  text.upper() if mapped == "word" else "")))
    tokens.append(Token("end", "", len(sql), len(sql)))
    return tokens


def _variable_tokens(token: lexer.Token) -> list[Token]:
    ats = 2 if token.text.startswith("@@") else 1
    found = [Token("op", "@", token.start + i, token.start + i + 1) for i in range(ats)]
    name = token.text[ats:]
    if name:
        start = token.start + ats
        kind, value = {"`": ("ident", lexer.quoted_name(name) if name[0] == "`" else ""),
                       "'": ("str", name), '"': ("str", name)}.get(name[0], ("word", name))
        found.append(_token(kind, value, start, token.end))
    return found


class DdlParser:
    """Cursor over DDL tokens with the small vocabulary the statement parsers need."""

    def __init__(self, sql: str):
        self.sql = sql
        self.tokens = tokenize(sql)
        self.pos = 0
        # The database the DDL runs in, when translating one (not when reading stored text):
        # a FOREIGN KEY naming another database's table is refused against it.
        self.database: str | None = None

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def at(self, *words: str) -> bool:
        return self.token.upper in words

    def at_op(self, op: str) -> bool:
        return self.token.kind == "op" and self.token.text == op

    def accept(self, *words: str) -> str | None:
        if self.token.upper in words:
            word = self.token.upper
            self.pos += 1
            return word
        return None

    def accept_op(self, op: str) -> bool:
        if self.at_op(op):
            self.pos += 1
            return True
        return False

    def accept_seq(self, *words: str) -> bool:
        for offset, word in enumerate(words):
            if self.peek(offset).upper != word:
                return False
        self.pos += len(words)
        return True

    def expect(self, *words: str) -> str:
        found = self.accept(*words)
        if found is None:
            self.fail(" or ".join(words))
        return found  # type: ignore[return-value]

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            self.fail(repr(op))

    def fail(self, wanted: str = "") -> None:
        near = self.sql[self.token.start:self.token.start + 40]
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check "
                           f"the manual that corresponds to your MySQL server version for the "
                           f"right syntax to use near '{near}'")

    def identifier(self) -> str:
        token = self.token
        if token.kind in ("ident", "word") and not (token.kind == "word" and token.text[0].isdigit()
                                                     and token.text.isdigit()):
            self.pos += 1
            return token.text
        if token.kind == "str" and token.text[0] in "'\"":
            self.pos += 1
            return unquote(token.text)
        self.fail("identifier")
        return ""

    def qualified_name(self) -> tuple[str | None, str]:
        first = self.identifier()
        if self.accept_op("."):
            return first, self.identifier()
        return None, first

    def string(self) -> str:
        token = self.token
        if token.kind != "str":
            self.fail("string")
        self.pos += 1
        return unquote(token.text)

    def integer(self) -> int:
        token = self.token
        if token.kind != "num" or not token.text.isdigit():
            self.fail("number")
        self.pos += 1
        return int(token.text)

    def balanced(self) -> str:
        """The raw text inside the parentheses at the cursor (consumed)."""
        self.expect_op("(")
        depth, start = 1, self.token.start
        while depth:
            token = self.token
            if token.kind == "end":
                self.fail("')'")
            if token.kind == "op" and token.text == "(":
                depth += 1
            elif token.kind == "op" and token.text == ")":
                depth -= 1
                if depth == 0:
                    text = self.sql[start:token.start]
                    self.pos += 1
                    return text.strip()
            self.pos += 1
        return ""

    def rest(self) -> str:
        text = self.sql[self.token.start:].strip()
        self.pos = len(self.tokens) - 1
        return text

    def option_value(self) -> str:
        self.accept_op("=")
        token = self.token
        if token.kind == "str":
            return self.string()
        self.pos += 1
        return token.text

    def done(self) -> bool:
        while self.accept_op(";"):
            pass
        return self.token.kind == "end"


def unquote(text: str) -> str:
    from marmotdb.sql.text.shape import unescape_string
    value = unescape_string(text)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
