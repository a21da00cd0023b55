"""A stored routine's definition: what CREATE PROCEDURE/FUNCTION says, stored and shown.

``parse_create(sql)`` reads the statement's head (definer, kind, name, parameters, RETURNS,
characteristics) with the MySQL lexer and keeps the body text verbatim, as MySQL does: SHOW
CREATE PROCEDURE prints the parameter list and body as written. ``Routine.create_sql()`` is
MySQL 8.0's canonical SHOW CREATE text; ``to_json``/``from_json`` are the ``meta`` column of
its ``__marmot_schema`` row (routines/__init__.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from marmotdb import errors
from marmotdb.sql.schema import CreationCharsets
from marmotdb.sql.text import lexer

KINDS = ("PROCEDURE", "FUNCTION")
_CHARACTERISTIC_WORDS = frozenset({"COMMENT", "LANGUAGE", "NOT", "DETERMINISTIC", "CONTAINS",
                                   "NO", "READS", "MODIFIES", "SQL"})
_TYPE_WORDS = frozenset({"UNSIGNED", "SIGNED", "ZEROFILL", "CHARSET", "CHARACTER", "SET",
                         "COLLATE", "BINARY", "PRECISION", "VARYING", "ASCII", "UNICODE"})
_CHARACTER_TYPES = frozenset({"CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT",
                              "ENUM", "SET", "NCHAR", "NVARCHAR"})
_USER = re.compile(r"^\s*([`'\"]?)(.*?)\1\s*(?:@\s*([`'\"]?)(.*?)\3)?\s*$", re.S)


@dataclass(slots=True)
class Parameter:
    mode: str  # IN | OUT | INOUT ('' for a function's parameters)
    name: str
    type: str  # the data type as written


@dataclass(slots=True)
class Routine:
    kind: str  # PROCEDURE | FUNCTION
    name: str
    definer: str  # `user`@`host`
    params_text: str
    params: list[Parameter]
    body: str
    returns: str | None = None
    deterministic: bool = False
    data_access: str = "CONTAINS SQL"
    security: str = "DEFINER"
    comment: str = ""
    sql_mode: str = ""
    created: str = ""  # 'YYYY-MM-DD HH:MM:SS'
    extra: dict[str, str] = field(default_factory=dict)
    # the creating session's (schema.CreationCharsets.META_KEYS; '' in rows from before)
    character_set_client: str = ""
    collation_connection: str = ""
    database_collation: str = ""

    @property
    def charsets(self) -> CreationCharsets:
        return CreationCharsets.from_meta({key: getattr(self, key)
                                           for key in CreationCharsets.META_KEYS})

    def record_charsets(self, charsets: CreationCharsets) -> None:
        for key, value in charsets.to_meta().items():
            setattr(self, key, value)

    def create_sql(self) -> str:
        head = (f"CREATE DEFINER={self.definer} {self.kind} {_quote(self.name)}"
                f"({self.params_text})")
        if self.returns is not None:
            head += f" RETURNS {self.returns}"
        lines = [head]
        if self.deterministic:
            lines.append("    DETERMINISTIC")
        if self.data_access != "CONTAINS SQL":
            lines.append(f"    {self.data_access}")
        if self.security == "INVOKER":
            lines.append("    SQL SECURITY INVOKER")
        if self.comment:
            lines.append("    COMMENT " + "'" + self.comment.replace("\\", "\\\\")
                         .replace("'", "\\'") + "'")
        return "\n".join(lines) + "\n" + self.body

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @property
    def definer_parts(self) -> tuple[str, str]:
        found = _USER.match(self.definer)
        assert found is not None
        return found.group(2), found.group(4) or "%"


def from_json(text: str) -> Routine:
    data = json.loads(text)
    data["params"] = [Parameter(**p) for p in data["params"]]
    return Routine(**data)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _syntax(near: str) -> errors.MarmotError:
    return errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check the "
                        "manual that corresponds to your MySQL server version for the right "
                        f"syntax to use near '{near[:80]}' at line 1")


class TokenReader:
    """Significant tokens of a statement, with their offsets into the original text (the
    routine's header here; its body in program.Parser, which reads on from this)."""

    def __init__(self, sql: str):
        self.sql = sql
        self.toks = [t for t in lexer.tokens(sql) if t.kind not in lexer.BLANK_KINDS]
        self.pos = 0

    def word_at(self, ahead: int = 0) -> str:
        tok = self.peek(ahead)
        return tok.text.upper() if tok is not None and tok.kind == lexer.WORD else ""

    @property
    def word(self) -> str:
        return self.word_at(0)

    def peek(self, ahead: int = 0) -> lexer.Token | None:
        i = self.pos + ahead
        return self.toks[i] if i < len(self.toks) else None

    def take(self) -> lexer.Token:
        tok = self.peek()
        if tok is None:
            raise _syntax("")
        self.pos += 1
        return tok

    def accept(self, *words: str) -> bool:
        if self.word in words:
            self.pos += 1
            return True
        return False

    def expect(self, *words: str) -> str:
        word = self.word
        if word not in words:
            raise _syntax(self.rest())
        self.pos += 1
        return word

    def accept_op(self, op: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.text == op:
            self.pos += 1
            return True
        return False

    def rest(self) -> str:
        tok = self.peek()
        return self.sql[tok.start:] if tok is not None else ""

    def name(self) -> str:
        tok = self.take()
        if tok.kind == lexer.QUOTED:
            return lexer.quoted_name(tok.text)
        if tok.kind == lexer.WORD:
            return tok.text
        raise _syntax(self.sql[tok.start:])

    def closing_paren(self) -> int:
        """Index of the token closing the '(' just taken."""
        depth = 1
        for i in range(self.pos, len(self.toks)):
            text = self.toks[i].text
            depth += (text == "(") - (text == ")")
            if depth == 0:
                return i
        raise _syntax(self.rest())


def parse_create(sql: str, definer: str) -> tuple[Routine, str | None, bool]:
    """The routine of a CREATE PROCEDURE/FUNCTION, its database qualifier (or None) and
    whether it said IF NOT EXISTS. ``definer``: the creating account, if DEFINER is absent."""
    reader = TokenReader(sql.rstrip().rstrip(";"))
    reader.expect("CREATE")
    if reader.accept("DEFINER"):
        reader.accept_op("=")
        start = reader.pos
        while reader.word not in KINDS and reader.word != "AGGREGATE" and reader.peek():
            reader.pos += 1
        text = reader.sql[reader.toks[start].start:reader.toks[reader.pos - 1].end]
        definer = _definer(text, definer)
    if reader.word == "AGGREGATE":
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'CREATE AGGREGATE FUNCTION'")
    kind = reader.expect(*KINDS)
    guarded = reader.accept("IF")
    if guarded:
        reader.expect("NOT")
        reader.expect("EXISTS")
    name, database = reader.name(), None
    if reader.accept_op("."):
        database, name = name, reader.name()
    if not reader.accept_op("("):
        raise _syntax(reader.rest())
    close = reader.closing_paren()
    open_end = reader.toks[reader.pos - 1].end
    params_text = reader.sql[open_end:reader.toks[close].start]
    params = _parameters(params_text, kind)
    reader.pos = close + 1
    routine = Routine(kind, name, definer, params_text, params, "")
    if kind == "FUNCTION":
        reader.expect("RETURNS")
        routine.returns = _returns(reader)
    _characteristics(reader, routine)
    if reader.peek() is None:
        raise _syntax("")
    routine.body = reader.rest()
    return routine, database, guarded


def _definer(text: str, current: str) -> str:
    if text.upper().replace(" ", "") in ("CURRENT_USER", "CURRENT_USER()"):
        return current
    found = _USER.match(text)
    if found is None or not found.group(2):
        raise _syntax(text)
    return f"{_quote(found.group(2))}@{_quote(found.group(4) or '%')}"


def _parameters(text: str, kind: str) -> list[Parameter]:
    params: list[Parameter] = []
    if not text.strip():
        return params
    depth, start, pieces = 0, 0, []
    for tok in lexer.tokens(text):
        depth += (tok.text == "(") - (tok.text == ")")
        if tok.text == "," and depth == 0:
            pieces.append(text[start:tok.start])
            start = tok.end
    pieces.append(text[start:])
    seen: set[str] = set()
    for piece in pieces:
        reader = TokenReader(piece)
        mode = reader.word if reader.word in ("IN", "OUT", "INOUT") else ""
        if mode:
            if kind == "FUNCTION":
                raise _syntax(piece.strip())
            reader.pos += 1
        name = reader.name()
        if name.lower() in seen:
            raise errors.error(1330, f"Duplicate parameter: {name}")
        seen.add(name.lower())
        type_text = reader.rest().strip()
        if not type_text:
            raise _syntax(piece.strip())
        params.append(Parameter(mode or ("IN" if kind == "PROCEDURE" else ""), name, type_text))
    return params


def _returns(reader: TokenReader) -> str:
    first = reader.take()
    end = first.end
    if reader.accept_op("("):
        close = reader.closing_paren()
        end = reader.toks[close].end
        reader.pos = close + 1
    while reader.word in _TYPE_WORDS:
        end = reader.take().end
        if reader.peek() is not None and reader.word not in _TYPE_WORDS | _CHARACTERISTIC_WORDS \
                and reader.toks[reader.pos - 1].text.upper() in ("CHARSET", "SET", "COLLATE"):
            end = reader.take().end
    text = re.sub(r"^\w+", lambda m: m.group().lower(), reader.sql[first.start:end])
    if first.text.upper() in _CHARACTER_TYPES and not re.search(r"\bCHAR(?:SET|ACTER)\b", text,
                                                                  re.I):
        text += " CHARSET utf8mb4"  # MySQL 8 names the character set it resolved
    return text


def _characteristics(reader: TokenReader, routine: Routine) -> None:
    while True:
        if reader.accept("COMMENT"):
            tok = reader.take()
            if tok.kind != lexer.STRING:
                raise _syntax(reader.sql[tok.start:])
            routine.comment = str(lexer.string_value(tok.text))
        elif reader.accept("LANGUAGE"):
            reader.expect("SQL")
        elif reader.accept("NOT"):
            reader.expect("DETERMINISTIC")
            routine.deterministic = False
        elif reader.accept("DETERMINISTIC"):
            routine.deterministic = True
        elif reader.accept("CONTAINS"):
            reader.expect("SQL")
            routine.data_access = "CONTAINS SQL"
        elif reader.accept("NO"):
            reader.expect("SQL")
            routine.data_access = "NO SQL"
        elif reader.accept("READS", "MODIFIES"):
            word = reader.toks[reader.pos - 1].text.upper()
            reader.expect("SQL")
            reader.expect("DATA")
            routine.data_access = f"{word} SQL DATA"
        elif reader.word == "SQL" and (nxt := reader.peek(1)) is not None \
                and nxt.text.upper() == "SECURITY":
            reader.pos += 2
            routine.security = reader.expect("DEFINER", "INVOKER")
        else:
            return


def parse_drop(sql: str) -> tuple[str, str, str | None, bool]:
    """DROP PROCEDURE/FUNCTION [IF EXISTS] [db.]name: (kind, name, database, guarded)."""
    reader = TokenReader(sql.rstrip().rstrip(";"))
    reader.expect("DROP")
    kind = reader.expect(*KINDS)
    guarded = reader.accept("IF")
    if guarded:
        reader.expect("EXISTS")
    name, database = reader.name(), None
    if reader.accept_op("."):
        database, name = name, reader.name()
    if reader.peek() is not None:
        raise _syntax(reader.rest())
    return kind, name, database, guarded


_DEFINED_OBJECTS = frozenset({"PROCEDURE", "FUNCTION", "AGGREGATE", "TRIGGER", "VIEW", "EVENT",
                              "SQL", "ALGORITHM", "TABLE", "USER"})


def routine_kind(head: tuple[str, ...], sql: str) -> str | None:
    """PROCEDURE or FUNCTION if ``sql`` (leading words ``head``) creates or drops a routine."""
    if len(head) < 2 or head[0] not in ("CREATE", "DROP"):
        return None
    if head[1] in KINDS:
        return head[1]
    if head[0] != "CREATE" or head[1] not in ("DEFINER", "AGGREGATE"):
        return None
    if head[1] == "AGGREGATE":
        return "FUNCTION"
    for tok in lexer.tokens(sql):
        if tok.kind == lexer.WORD and tok.text.upper() in _DEFINED_OBJECTS:
            word = tok.text.upper()
            return word if word in KINDS else "FUNCTION" if word == "AGGREGATE" else None
    return None
