"""A routine body parsed into a tree of compound statements, at CREATE time.

The parser walks the body's significant tokens (the MySQL lexer's) and builds the nodes below.
A plain SQL statement and every expression are kept as text slices of the body: the
interpreter (routines/interpreter.py) substitutes local variables and runs them through the
session like a client's statement. What the subset does not cover is refused with 1235 naming
the construct, so a routine that was accepted can run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from marmotdb import errors
from marmotdb.sql.text import lexer
from marmotdb.sql.routines.definition import TokenReader, _syntax


@dataclass(slots=True)
class Sql:
    text: str  # a statement run as a client's (local variables substituted)
    into: list[str] = field(default_factory=list)  # SELECT … INTO targets


@dataclass(slots=True)
class Declare:
    names: list[str]
    type: str
    default: str | None


@dataclass(slots=True)
class Handler:
    action: str  # CONTINUE | EXIT
    conditions: list[str]  # 'NOT FOUND' | 'SQLEXCEPTION' | 'SQLWARNING' | 'SQLSTATE <s>' | errno
    body: Node


@dataclass(slots=True)
class Cursor:
    name: str
    select: str


@dataclass(slots=True)
class CursorOp:
    op: str  # OPEN | CLOSE | FETCH
    name: str
    into: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Assign:
    pairs: list[tuple[str, str]]  # (target, expression); targets: locals or @vars/@@vars


@dataclass(slots=True)
class Block:
    label: str | None
    body: list[Node]


@dataclass(slots=True)
class If:
    branches: list[tuple[str | None, list[Node]]]  # (condition, body); None: ELSE


@dataclass(slots=True)
class Case:
    subject: str | None
    branches: list[tuple[str | None, list[Node]]]


@dataclass(slots=True)
class Loop:
    kind: str  # LOOP | WHILE | REPEAT
    label: str | None
    condition: str | None
    body: list[Node]


@dataclass(slots=True)
class Jump:
    kind: str  # LEAVE | ITERATE
    label: str


@dataclass(slots=True)
class Return:
    expression: str


@dataclass(slots=True)
class Signal:
    resignal: bool
    sqlstate: str | None
    settings: list[tuple[str, str]]  # (MESSAGE_TEXT | MYSQL_ERRNO, expression)


@dataclass(slots=True)
class Call:
    name: str
    database: str | None
    args: list[str]


Node = Union[Sql, Declare, Handler, Cursor, CursorOp, Assign, Block, If, Case, Loop, Jump,
             Return, Signal, Call]

# First words of plain statements a routine may run; the session dispatches them.
_PLAIN = frozenset("SELECT INSERT UPDATE DELETE REPLACE WITH CREATE ALTER DROP RENAME "
                   "TRUNCATE DO START COMMIT ROLLBACK SAVEPOINT RELEASE TABLE VALUES "
                   "SHOW".split())
_REFUSED = {"PREPARE": "PREPARE in stored routines", "EXECUTE": "EXECUTE in stored routines",
            "DEALLOCATE": "DEALLOCATE PREPARE in stored routines",
            "GET": "GET DIAGNOSTICS", "LOCK": "LOCK TABLES in stored routines",
            "UNLOCK": "UNLOCK TABLES in stored routines", "LOAD": "LOAD DATA in stored routines",
            "USE": "USE in stored routines", "XA": "XA in stored routines",
            "HANDLER": "HANDLER statements in stored routines",
            "FLUSH": "FLUSH in stored routines", "KILL": "KILL in stored routines"}
_BLOCK_ENDS = frozenset({"END", "ELSE", "ELSEIF", "WHEN", "UNTIL"})


def refuse(construct: str) -> errors.MarmotError:
    return errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                        f"support '{construct}'")


class Parser(TokenReader):
    """A routine body's statements (the token helpers are the header reader's)."""

    def expect_text(self, text: str) -> None:
        tok = self.peek()
        if tok is None or tok.text != text:
            raise _syntax(self.rest())
        self.pos += 1

    def name(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind not in (lexer.WORD, lexer.QUOTED):
            raise _syntax(self.rest())
        self.pos += 1
        return lexer.quoted_name(tok.text) if tok.kind == lexer.QUOTED else tok.text

    def names(self) -> list[str]:
        found = [self.name()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.pos += 1
            found.append(self.name())
        return found

    def text_until(self, stops: frozenset[str], ops: frozenset[str] = frozenset({";"})) -> str:
        """The source text from here to the first stop word / op outside parentheses and
        CASE … END (an expression's CASE has THEN and WHEN of its own)."""
        start = self.peek()
        if start is None:
            raise _syntax("")
        depth = cases = 0
        while (tok := self.peek()) is not None:
            upper = tok.text.upper() if tok.kind == lexer.WORD else ""
            if depth == 0 and cases == 0 and (upper in stops or tok.text in ops
                                              or tok.kind == lexer.SEMICOLON):
                break
            depth += (tok.text == "(") - (tok.text == ")")
            if upper == "CASE":
                cases += 1
            elif upper == "END" and cases:
                cases -= 1
            self.pos += 1
        if self.pos == self.toks.index(start):
            raise _syntax(self.rest())
        return self.sql[start.start:self.toks[self.pos - 1].end]

    def end_statement(self) -> None:
        tok = self.peek()
        if tok is not None and tok.kind == lexer.SEMICOLON:
            self.pos += 1
        elif tok is not None and self.word not in _BLOCK_ENDS:
            raise _syntax(self.rest())

    # -------------------------------------------------------------- grammar
    def program(self) -> Node:
        node = self.statement()
        self.end_statement()
        if self.peek() is not None:
            raise _syntax(self.rest())
        return node

    def statements(self, stops: frozenset[str]) -> list[Node]:
        body: list[Node] = []
        while self.peek() is not None and self.word not in stops:
            body.append(self.statement())
            self.end_statement()
        return body

    def statement(self) -> Node:
        label = None
        nxt = self.peek(1)
        if nxt is not None and nxt.text == ":" and self.peek().kind in (  # type: ignore[union-attr]
                lexer.WORD, lexer.QUOTED):
            label = self.name()
            self.pos += 1
        word = self.word
        method = _STATEMENTS.get(word)
        if method is not None:  # BEGIN is always a block here (START TRANSACTION opens one)
            return method(self, label)
        if label is not None:
            raise _syntax(self.rest())
        if word in _REFUSED:
            raise refuse(_REFUSED[word])
        if word in _PLAIN or (self.peek() is not None and self.peek().text == "("):  # type: ignore[union-attr]
            return self.plain()
        raise refuse(f"{word or self.rest()[:20]} in stored routines")

    def plain(self) -> Node:
        start = self.pos
        text = self.text_until(frozenset())
        into = self._into(start)
        if into is None:
            return Sql(text)
        before, targets, after = into
        return Sql((before + " " + after).strip(), targets)

    def _into(self, start: int) -> tuple[str, list[str], str] | None:
        """A top-level INTO of a SELECT (not INSERT INTO / REPLACE INTO): its targets cut out."""
        if self.toks[start].text.upper() not in ("SELECT", "WITH", "(") and \
                self.toks[start].text != "(":
            return None
        depth = 0
        for i in range(start, self.pos):
            tok = self.toks[i]
            depth += (tok.text == "(") - (tok.text == ")")
            if depth == 0 and tok.kind == lexer.WORD and tok.text.upper() == "INTO":
                if self.toks[i + 1].text.upper() in ("OUTFILE", "DUMPFILE"):
                    raise refuse("SELECT … INTO OUTFILE in stored routines")
                j, targets = i + 1, []
                while j < self.pos:
                    tok = self.toks[j]
                    targets.append(lexer.quoted_name(tok.text) if tok.kind == lexer.QUOTED
                                   else tok.text)
                    j += 1
                    if j < self.pos and self.toks[j].text == ",":
                        j += 1
                        continue
                    break
                before = self.sql[self.toks[start].start:self.toks[i].start]
                after = self.sql[self.toks[j].start:self.toks[self.pos - 1].end] \
                    if j < self.pos else ""
                return before, targets, after
        return None

    def block(self, label: str | None) -> Node:
        self.expect("BEGIN")
        if self.accept("NOT"):
            self.expect("ATOMIC")
        body = self.statements(frozenset({"END"}))
        self.expect("END")
        self._end_label(label)
        return Block(label, body)

    def _end_label(self, label: str | None) -> None:
        tok = self.peek()
        if tok is not None and tok.kind in (lexer.WORD, lexer.QUOTED) and self.word not in \
                _BLOCK_ENDS:
            name = self.name()
            if label is None or name.lower() != label.lower():
                raise _syntax(name)

    def declare(self, label: str | None) -> Node:
        self.expect("DECLARE")
        if self.word in ("CONTINUE", "EXIT", "UNDO"):
            return self.handler()
        names = self.names()
        if self.accept("CONDITION"):
            raise refuse("DECLARE … CONDITION")
        if self.accept("CURSOR"):
            self.expect("FOR")
            return Cursor(names[0], self.text_until(frozenset()))
        type_text = self.text_until(frozenset({"DEFAULT"}))
        default = self.text_until(frozenset()) if self.accept("DEFAULT") else None
        return Declare(names, type_text, default)

    def handler(self) -> Node:
        action = self.expect("CONTINUE", "EXIT", "UNDO")
        if action == "UNDO":
            raise refuse("DECLARE UNDO HANDLER")
        self.expect("HANDLER")
        self.expect("FOR")
        conditions = [self.condition()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.pos += 1
            conditions.append(self.condition())
        return Handler(action, conditions, self.statement())

    def condition(self) -> str:
        if self.accept("NOT"):
            self.expect("FOUND")
            return "NOT FOUND"
        if self.accept("SQLEXCEPTION", "SQLWARNING"):
            return self.toks[self.pos - 1].text.upper()
        if self.accept("SQLSTATE"):
            self.accept("VALUE")
            return "SQLSTATE " + str(lexer.string_value(self.take_kind(lexer.STRING)))
        tok = self.peek()
        if tok is not None and tok.kind == lexer.NUMBER:
            self.pos += 1
            return tok.text
        raise refuse("named conditions in handlers")

    def take_kind(self, kind: str) -> str:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            raise _syntax(self.rest())
        self.pos += 1
        return tok.text

    def assign(self, label: str | None) -> Node:
        self.expect("SET")
        if self.word in ("TRANSACTION", "NAMES", "CHARACTER", "PASSWORD", "ROLE",
                         "DEFAULT"):
            self.pos -= 1
            return self.plain()
        pairs = []
        while True:
            target_tok = self.peek()
            if target_tok is None:
                raise _syntax("")
            if target_tok.kind == lexer.VAR or self.word in ("GLOBAL", "SESSION", "LOCAL",
                                                             "PERSIST"):
                target = self.text_until(frozenset(), frozenset({"=", ":="}))
            else:
                target = self.name()
                if self.peek() is not None and self.peek().text == ".":  # type: ignore[union-attr]
                    raise refuse("SET of NEW/OLD or qualified names in stored routines")
            tok = self.peek()
            if tok is None or tok.text not in ("=", ":="):
                raise _syntax(self.rest())
            self.pos += 1
            pairs.append((target, self.text_until(frozenset(), frozenset({",", ";"}))))
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.pos += 1
                continue
            return Assign(pairs)

    def if_(self, label: str | None) -> Node:
        self.expect("IF")
        branches: list[tuple[str | None, list[Node]]] = []
        condition: str | None = self.text_until(frozenset({"THEN"}))
        while True:
            self.expect("THEN")
            branches.append((condition, self.statements(frozenset({"ELSEIF", "ELSE", "END"}))))
            if self.accept("ELSEIF"):
                condition = self.text_until(frozenset({"THEN"}))
                continue
            if self.accept("ELSE"):
                branches.append((None, self.statements(frozenset({"END"}))))
            self.expect("END")
            self.expect("IF")
            return If(branches)

    def case(self, label: str | None) -> Node:
        self.expect("CASE")
        subject = None if self.word == "WHEN" else self.text_until(frozenset({"WHEN"}))
        branches: list[tuple[str | None, list[Node]]] = []
        while self.accept("WHEN"):
            condition = self.text_until(frozenset({"THEN"}))
            self.expect("THEN")
            branches.append((condition, self.statements(frozenset({"WHEN", "ELSE", "END"}))))
        if not branches:
            raise _syntax(self.rest())
        if self.accept("ELSE"):
            branches.append((None, self.statements(frozenset({"END"}))))
        self.expect("END")
        self.expect("CASE")
        return Case(subject, branches)

    def loop(self, label: str | None) -> Node:
        kind = self.expect("LOOP", "WHILE", "REPEAT")
        condition = None
        if kind == "WHILE":
            condition = self.text_until(frozenset({"DO"}))
            self.expect("DO")
        body = self.statements(frozenset({"END", "UNTIL"}))
        if kind == "REPEAT":
            self.expect("UNTIL")
            condition = self.text_until(frozenset({"END"}))
        self.expect("END")
        self.expect(kind)
        self._end_label(label)
        return Loop(kind, label, condition, body)

    def jump(self, label: str | None) -> Node:
        kind = self.expect("LEAVE", "ITERATE")
        return Jump(kind, self.name())

    def return_(self, label: str | None) -> Node:
        self.expect("RETURN")
        return Return(self.text_until(frozenset()))

    def signal(self, label: str | None) -> Node:
        resignal = self.expect("SIGNAL", "RESIGNAL") == "RESIGNAL"
        sqlstate = None
        if self.accept("SQLSTATE"):
            self.accept("VALUE")
            sqlstate = str(lexer.string_value(self.take_kind(lexer.STRING)))
            if len(sqlstate) != 5 or sqlstate.startswith("00"):
                raise errors.error(1407, f"Bad SQLSTATE: '{sqlstate}'")
        elif not resignal:
            raise refuse("SIGNAL of a named condition")
        settings = []
        if self.accept("SET"):
            while True:
                item = self.expect("MESSAGE_TEXT", "MYSQL_ERRNO", "CLASS_ORIGIN",
                                   "SUBCLASS_ORIGIN", "CONSTRAINT_CATALOG", "CONSTRAINT_SCHEMA",
                                   "CONSTRAINT_NAME", "CATALOG_NAME", "SCHEMA_NAME",
                                   "TABLE_NAME", "COLUMN_NAME", "CURSOR_NAME")
                self.expect_text("=")
                settings.append((item, self.text_until(frozenset(), frozenset({",", ";"}))))
                if self.peek() is None or self.peek().text != ",":  # type: ignore[union-attr]
                    break
                self.pos += 1
        return Signal(resignal, sqlstate, settings)

    def cursor_op(self, label: str | None) -> Node:
        op = self.expect("OPEN", "CLOSE", "FETCH")
        if op == "FETCH":
            if self.accept("NEXT"):
                self.expect("FROM")
            else:
                self.accept("FROM")
        name = self.name()
        into: list[str] = []
        if op == "FETCH":
            self.expect("INTO")
            into = self.names()
        return CursorOp(op, name, into)

    def call(self, label: str | None) -> Node:
        self.expect("CALL")
        name, database = self.name(), None
        if self.peek() is not None and self.peek().text == ".":  # type: ignore[union-attr]
            self.pos += 1
            database, name = name, self.name()
        args: list[str] = []
        if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            self.pos += 1
            if self.peek() is not None and self.peek().text == ")":  # type: ignore[union-attr]
                self.pos += 1
            else:
                while True:
                    args.append(self.text_until(frozenset(), frozenset({",", ")"})))
                    tok = self.peek()
                    self.pos += 1
                    if tok is None or tok.text == ")":
                        break
        return Call(name, database, args)


_STATEMENTS = {
    "BEGIN": Parser.block, "DECLARE": Parser.declare, "SET": Parser.assign, "IF": Parser.if_,
    "CASE": Parser.case, "LOOP": Parser.loop, "WHILE": Parser.loop, "REPEAT": Parser.loop,
    "LEAVE": Parser.jump, "ITERATE": Parser.jump, "RETURN": Parser.return_,
    "SIGNAL": Parser.signal, "RESIGNAL": Parser.signal, "OPEN": Parser.cursor_op,
    "CLOSE": Parser.cursor_op, "FETCH": Parser.cursor_op, "CALL": Parser.call,
}


def parse_body(body: str) -> Node:
    """The tree of a routine body; 1064 for bad syntax, 1235 naming what is not supported."""
    return Parser(body).program()


def parse_call(sql: str) -> Call:
    """CALL [db.]name[(args)] sent by a client."""
    parser = Parser(sql.rstrip().rstrip(";"))
    node = parser.call(None)
    if parser.peek() is not None:
        raise _syntax(parser.rest())
    assert isinstance(node, Call)
    return node
