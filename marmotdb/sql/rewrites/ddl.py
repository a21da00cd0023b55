"""MySQL DDL -> SQLite DDL plus the ``__marmot_schema`` bookkeeping, in one statement list.

Theory of operation
-------------------
sqlglot falls back to an opaque "Command" for much of MySQL's DDL (REPLACE, prefix indexes,
ALTER … FIRST, CREATE OR REPLACE VIEW, triggers), so DDL has its own small recursive-descent
parser over a regex tokenizer (``DdlParser``). It reads statements into the MySQL model of
``schema.py`` (``TableDef`` …); expressions inside DDL (DEFAULT (…), CHECK, generated columns,
view bodies, trigger bodies) keep their MySQL text and go through the normal expression path.

From the model, ``sqlite_create_table`` renders SQLite DDL (types per ``coltypes``; one
``CREATE INDEX "<table>.<index>"`` per secondary key because SQLite index names are global),
and ``schema.table_statements`` the bookkeeping row. ALTER TABLE applies its actions to a copy
of the stored ``TableDef`` and then picks the cheapest faithful plan: a SQLite ALTER (rename,
add a plain trailing column, drop an unindexed column), CREATE/DROP INDEX, bookkeeping only
(options, comments, defaults: INSERTs always fill defaults explicitly), or a table rebuild
(the 12-step procedure: rename away under ``legacy_alter_table``, create, copy through
``MYSQL_STORE`` so strict-mode conversion errors abort the ALTER as in MySQL, drop, re-create
indexes and triggers) with ``foreign_keys_off`` set for the executor.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from marmotdb import errors
from marmotdb.sql import schema
from marmotdb.sql.rewrites import foreign_keys as rewrites_fk
from marmotdb.sql.text import lexer
from marmotdb.sql.types import coltypes
from marmotdb.sql.catalog.model import KeyExpression, is_key_expression
from marmotdb.sql.types.coltypes import MySqlType
from marmotdb.sql.rewrites.expressions import not_supported
from marmotdb.sql.schema import (CheckDef, ColumnDef, ForeignKeyDef, IndexDef, TableDef,
                                  quote_string, sql_literal)
from marmotdb.sql.routines import ddl as routine_ddl

if TYPE_CHECKING:
    from sqlglot import exp

@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # 'word' | 'ident' (backticked) | 'str' | 'hex' | 'num' | 'op' | 'end'
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


# The MySQL lexer's kinds as the DDL parser names them; blanks, comments and versioned-comment
# markers are dropped, a variable is '@' operators and its name (DEFINER=`u`@`host`).
_KINDS = {lexer.WORD: "word", lexer.QUOTED: "ident", lexer.STRING: "str", lexer.HEX: "hex",
          lexer.BITS: "hex", lexer.NUMBER: "num", lexer.OP: "op", lexer.SEMICOLON: "op",
          lexer.MARKER: "op", lexer.UNTERMINATED: "op"}


def tokenize(sql: str) -> list[Token]:
    tokens = []
    for token in lexer.tokens(sql):
        kind = token.kind
        if kind in lexer.BLANK_KINDS:
            continue
        if kind == lexer.VAR:
            tokens.extend(_variable_tokens(token))
            continue
        text = token.text
        if kind == lexer.QUOTED:
            text = lexer.quoted_name(text)
        tokens.append(Token(_KINDS[kind], text, token.start, token.end))
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
        found.append(Token(kind, value, start, token.end))
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
            return _unquote(token.text)
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
        return _unquote(token.text)

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


def _unquote(text: str) -> str:
    from marmotdb.sql.text.shape import unescape_string
    value = unescape_string(text)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# ---------------------------------------------------------------- column definitions

_CHARSET_COLLATIONS = {"utf8mb4": "utf8mb4_0900_ai_ci", "utf8mb3": "utf8mb3_general_ci",
                       "utf8": "utf8mb3_general_ci", "latin1": "latin1_swedish_ci",
                       "ascii": "ascii_general_ci", "binary": "binary",
                       "ucs2": "ucs2_general_ci", "utf16": "utf16_general_ci"}
_ACTIONS = ("RESTRICT", "CASCADE", "SET NULL", "NO ACTION", "SET DEFAULT")
_NOW_WORDS = ("CURRENT_TIMESTAMP", "NOW", "LOCALTIME", "LOCALTIMESTAMP")


def _canonical_charset(name: str) -> str:
    lowered = name.lower()
    return "utf8mb3" if lowered == "utf8" else lowered


def parse_type_text(parser: DdlParser) -> str:
    """Consume a column type; return its MySQL text (name, arguments, UNSIGNED/ZEROFILL)."""
    words = [parser.identifier()]
    while parser.at("PRECISION", "VARYING") or (words[-1].upper() in ("NATIONAL", "LONG")
                                               and parser.at("CHAR", "VARCHAR", "VARBINARY",
                                                             "CHARACTER", "BYTE")):
        words.append(parser.identifier())
    text = " ".join(words)
    if parser.at_op("("):
        text += "(" + parser.balanced() + ")"
    while parser.at("UNSIGNED", "SIGNED", "ZEROFILL"):
        word = parser.expect("UNSIGNED", "SIGNED", "ZEROFILL")
        if word != "SIGNED":
            text += " " + word.lower()
    return text


def _parse_now(parser: DdlParser) -> int | None:
    """CURRENT_TIMESTAMP[(n)] / NOW([n]) at the cursor: the fsp, else None (not consumed)."""
    if not parser.at(*_NOW_WORDS):
        return None
    parser.pos += 1
    if parser.at_op("("):
        inner = parser.balanced()
        return int(inner) if inner.strip() else 0
    return 0


def _parse_default(parser: DdlParser, column: ColumnDef) -> None:
    fsp = _parse_now(parser)
    if fsp is not None:
        column.default_kind, column.default_value = "now", fsp
        return
    if parser.at_op("("):
        column.default_kind, column.default_value = "expr", parser.balanced()
        return
    if parser.accept("NULL"):
        column.default_kind, column.default_value = "null", None
        return
    column.default_kind, column.default_value = "value", _literal(parser)


def _literal(parser: DdlParser) -> object:
    token = parser.token
    sign = ""
    if token.kind == "op" and token.text in "+-":
        sign = "-" if token.text == "-" else ""
        parser.pos += 1
        token = parser.token
    parser.pos += 1
    if token.kind == "str":
        return _unquote(token.text)
    if token.kind == "num":
        from marmotdb.sql.text.shape import number_value
        return number_value(sign + token.text)
    if token.kind == "hex":
        return _hex_literal(token.text)
    if token.upper in ("TRUE", "FALSE"):
        return 1 if token.upper == "TRUE" else 0
    parser.pos -= 1
    parser.fail("a literal")
    return None


def _hex_literal(text: str) -> bytes | int:
    lowered = text.lower()
    if lowered.startswith("0x"):
        return bytes.fromhex(text[2:].rjust(len(text[2:]) + len(text[2:]) % 2, "0"))
    if lowered.startswith("x'"):
        return bytes.fromhex(text[2:-1])
    bits = text[2:-1] if lowered.startswith("b'") else text[2:]
    return int(bits or "0", 2)


@dataclass(slots=True)
class ParsedColumn:
    """A column definition plus the keys/constraints written inline on it."""

    column: ColumnDef
    primary: bool = False
    unique: bool = False
    key: bool = False
    check: str | None = None
    reference: ForeignKeyDef | None = None
    position: tuple[str, str | None] | None = None  # ('FIRST', None) | ('AFTER', column)


def parse_column(parser: DdlParser) -> ParsedColumn:
    name = parser.identifier()
    type_text = parse_type_text(parser)
    parsed = ParsedColumn(ColumnDef(name=name, type=coltypes.parse_type(type_text)))
    while not (parser.at_op(",") or parser.at_op(")") or parser.token.kind == "end"
               or parser.at_op(";") or parser.at("FIRST", "AFTER")):
        _column_attribute(parser, parsed)
    if parser.accept("FIRST"):
        parsed.position = ("FIRST", None)
    elif parser.accept("AFTER"):
        parsed.position = ("AFTER", parser.identifier())
    _finish_column(parsed.column)
    return parsed


def _column_attribute(parser: DdlParser, parsed: ParsedColumn) -> None:
    column = parsed.column
    word = parser.token.upper
    handler = _COLUMN_ATTRIBUTES.get(word)
    if handler is None:
        parser.fail("a column attribute")
    parser.pos += 1
    handler(parser, parsed)  # type: ignore[misc]
    del column


def _attr_not(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.expect("NULL")
    parsed.column.nullable = False


def _attr_null(parser: DdlParser, parsed: ParsedColumn) -> None:
    parsed.column.nullable = True


def _attr_default(parser: DdlParser, parsed: ParsedColumn) -> None:
    _parse_default(parser, parsed.column)


def _attr_auto_increment(parser: DdlParser, parsed: ParsedColumn) -> None:
    parsed.column.auto_increment = True


def _attr_primary(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.expect("KEY")
    parsed.primary = True


def _attr_key(parser: DdlParser, parsed: ParsedColumn) -> None:
    parsed.primary = True  # a bare KEY on a column means PRIMARY KEY


def _attr_unique(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.accept("KEY", "INDEX")
    parsed.unique = True


def _attr_comment(parser: DdlParser, parsed: ParsedColumn) -> None:
    parsed.column.comment = utf8mb3_comment(parser.string())


_OUTSIDE_UTF8MB3 = re.compile("[\U00010000-\U0010FFFF]")


def utf8mb3_comment(text: str) -> str:
    """MySQL keeps table, column and index comments in its utf8mb3 data dictionary: a
    character outside the Basic Multilingual Plane (an emoji) becomes '?'."""
    return _OUTSIDE_UTF8MB3.sub("?", text)


def _attr_on(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.expect("UPDATE")
    fsp = _parse_now(parser)
    if fsp is None:
        parser.fail("CURRENT_TIMESTAMP")
    parsed.column.on_update_fsp = fsp


def _attr_collate(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.accept_op("=")
    parsed.column.collation = parser.identifier().lower()
    parsed.column.type = _with_collation(parsed.column.type, parsed.column.collation)


def _attr_charset(parser: DdlParser, parsed: ParsedColumn) -> None:
    if parser.token.upper == "SET":
        parser.pos += 1
    parser.accept_op("=")
    charset = _canonical_charset(parser.identifier())
    parsed.column.charset = charset
    if charset == "binary":
        parsed.column.type = _with_collation(parsed.column.type, "binary")


def _with_collation(t: MySqlType, collation: str) -> MySqlType:
    from dataclasses import replace
    return replace(t, collation=collation)


def _attr_generated(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.expect("ALWAYS")
    parser.expect("AS")
    _attr_as(parser, parsed)


def _attr_as(parser: DdlParser, parsed: ParsedColumn) -> None:
    parsed.column.generated = parser.balanced()
    kind = parser.accept("STORED", "VIRTUAL", "PERSISTENT")
    parsed.column.stored = kind in ("STORED", "PERSISTENT")


def _attr_check(parser: DdlParser, parsed: ParsedColumn) -> None:
    parsed.check = parser.balanced()
    if parser.accept("NOT"):
        parser.expect("ENFORCED")
    else:
        parser.accept("ENFORCED")


def _attr_references(parser: DdlParser, parsed: ParsedColumn) -> None:
    parsed.reference = _references(parser, [parsed.column.name], "")


def _attr_constraint(parser: DdlParser, parsed: ParsedColumn) -> None:
    if not parser.at("CHECK", "PRIMARY", "UNIQUE", "REFERENCES"):
        parser.identifier()


def _attr_ignored_value(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.accept_op("=")
    parser.pos += 1


def _attr_ignored(parser: DdlParser, parsed: ParsedColumn) -> None:
    pass


def _attr_serial(parser: DdlParser, parsed: ParsedColumn) -> None:
    parser.expect("VALUE")
    parsed.column.nullable, parsed.column.auto_increment, parsed.unique = False, True, True


def _attr_srid(parser: DdlParser, parsed: ParsedColumn) -> None:
    raise not_supported("SRID (spatial columns)")


_COLUMN_ATTRIBUTES: dict[str, Callable[[DdlParser, ParsedColumn], None]] = {
    "NOT": _attr_not, "NULL": _attr_null, "DEFAULT": _attr_default,
    "AUTO_INCREMENT": _attr_auto_increment, "PRIMARY": _attr_primary, "KEY": _attr_key,
    "UNIQUE": _attr_unique, "COMMENT": _attr_comment, "ON": _attr_on,
    "COLLATE": _attr_collate, "CHARACTER": _attr_charset, "CHARSET": _attr_charset,
    "GENERATED": _attr_generated, "AS": _attr_as, "CHECK": _attr_check,
    "REFERENCES": _attr_references, "CONSTRAINT": _attr_constraint,
    "COLUMN_FORMAT": _attr_ignored_value, "STORAGE": _attr_ignored_value,
    "VISIBLE": _attr_ignored, "INVISIBLE": _attr_ignored, "SERIAL": _attr_serial,
    "SRID": _attr_srid, "ENFORCED": _attr_ignored,
}


def _finish_column(column: ColumnDef) -> None:
    """MySQL's implicit rules and the validation it does on one column."""
    t = column.type
    if t.family == "decimal":
        if (t.length or 10) > 65:
            raise errors.error(errors.ER_TOO_BIG_PRECISION, f"Too-big precision {t.length} "
                               f"specified for '{column.name}'. Maximum is 65.")
        if (t.scale or 0) > 30:
            raise errors.error(errors.ER_TOO_BIG_SCALE, f"Too big scale {t.scale} specified "
                               f"for column '{column.name}'. Maximum is 30.")
        if (t.scale or 0) > (t.length or 10):
            raise errors.error(errors.ER_M_BIGGER_THAN_D, "For float(M,D), double(M,D) or "
                               f"decimal(M,D), M must be >= D (column '{column.name}').")
    if t.name == "varchar" and t.length is None:
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax near "
                           f"'{column.name} varchar'")
    if t.name in ("enum", "set") and len({v.lower() for v in t.values}) != len(t.values):
        raise errors.error(errors.ER_DUPLICATED_VALUE_IN_TYPE, f"Column '{column.name}' has "
                           f"duplicated value in {t.name.upper()}")
    if column.auto_increment:
        column.nullable = False
    if column.default_kind == "value":
        column.default_value = _checked_default(column)
    elif column.default_kind == "null" and not column.nullable or column.default_kind == "now" and t.name not in ("datetime", "timestamp"):
        raise _invalid_default(column)


def _invalid_default(column: ColumnDef) -> errors.MarmotError:
    return errors.error(errors.ER_INVALID_DEFAULT, f"Invalid default value for '{column.name}'")


def _checked_default(column: ColumnDef) -> object:
    t = column.type
    if t.name.endswith("text") or t.name.endswith("blob") or t.name == "json":
        raise errors.error(errors.ER_BLOB_CANT_HAVE_DEFAULT, f"BLOB, TEXT, GEOMETRY or JSON "
                           f"column '{column.name}' can't have a default value")
    try:
        return coltypes.coerce_for_store(column.default_value, t, column.name, 1,
                                         coltypes.StoreContext(True))
    except errors.MarmotError:
        raise _invalid_default(column) from None


def _references(parser: DdlParser, columns: list[str], name: str) -> ForeignKeyDef:
    database, table = parser.qualified_name()
    ref_columns = _name_list(parser) if parser.at_op("(") else []
    fk = ForeignKeyDef(name=name, columns=columns, ref_table=table, ref_columns=ref_columns)
    # Another database's table (stored text qualifies only those): each database is its own
    # SQLite file, so the key is ours to keep and check (sql/foreign_keys_across.py).
    if database is not None and (parser.database is None or
                                 database.lower() != parser.database.lower()):
        fk.ref_database = database.lower()
    while True:
        if parser.accept("MATCH"):
            parser.expect("FULL", "PARTIAL", "SIMPLE")
        elif parser.accept_seq("ON", "DELETE"):
            fk.on_delete = _action(parser)
        elif parser.accept_seq("ON", "UPDATE"):
            fk.on_update = _action(parser)
        else:
            break
    for event, action in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update)):
        if fk.ref_database and action == "SET DEFAULT":  # InnoDB has none either
            raise not_supported(f"FOREIGN KEY … ON {event} {action} to a table of another "
                                "database")
    return fk


def _action(parser: DdlParser) -> str:
    for action in _ACTIONS:
        if parser.accept_seq(*action.split()):
            return action
    parser.fail("a referential action")
    return ""


def _name_list(parser: DdlParser) -> list[str]:
    parser.expect_op("(")
    names = [parser.identifier()]
    while parser.accept_op(","):
        names.append(parser.identifier())
    parser.expect_op(")")
    return names


def _key_parts(parser: DdlParser) -> list[tuple[str, int | None, bool]]:
    parser.expect_op("(")
    parts = []
    while True:
        length = None
        if parser.at_op("("):  # a functional key part, kept as its MySQL text in parentheses
            name = _functional_part(parser.balanced())
        else:
            name = parser.identifier()
            if parser.at_op("("):
                length = int(parser.balanced())
        descending = parser.accept("ASC", "DESC") == "DESC"
        parts.append((name, length, descending))
        if not parser.accept_op(","):
            break
    parser.expect_op(")")
    return parts


def _functional_part(text: str) -> str:
    """``(expr)`` of ``INDEX ((expr))``; MySQL refuses a bare column there (3762)."""
    expression = normalise_mysql_expression(text)
    if re.fullmatch(r"\(`(?:[^`]|``)+`\)", expression):
        raise errors.error(errors.ER_FUNCTIONAL_INDEX_ON_FIELD, "Functional index on a column "
                           "is not supported. Consider using a regular index instead.")
    return KeyExpression(expression)


def is_functional(part: str) -> bool:
    """A key part that is an expression (stored as ``(expr)``), not a column name (which may
    be ``(3)`` too)."""
    return is_key_expression(part)


def _check_functional_dependency(table: TableDef, name: str) -> None:
    """MySQL refuses to drop or rename a column a functional key part reads (3837)."""
    quoted = schema.quote_ident(name).lower()
    if any(is_functional(p[0]) and quoted in p[0].lower() for i in table.indexes
           for p in i.columns):
        raise errors.error(errors.ER_DEPENDENT_BY_FUNCTIONAL_INDEX, f"Column '{name}' has a "
                           "functional index dependency and cannot be dropped or renamed.")


def _index_options(parser: DdlParser) -> str:
    comment = ""
    while True:
        if parser.accept("USING"):
            parser.expect("BTREE", "HASH")
        elif parser.accept("COMMENT"):
            comment = utf8mb3_comment(parser.string())
        elif parser.accept("KEY_BLOCK_SIZE"):
            parser.option_value()
        elif parser.accept("VISIBLE", "INVISIBLE"):
            pass
        elif parser.at("WITH"):  # a FULLTEXT key's plugin (ngram, mecab): other words
            raise not_supported("FULLTEXT … WITH PARSER")
        else:
            return comment


# ---------------------------------------------------------------- table elements

@dataclass(slots=True)
class TableBuilder:
    """Collects the parts of a CREATE TABLE / ALTER and turns them into a valid TableDef."""

    table: TableDef
    checks_seen: int = 0
    # keys written without a name: InnoDB names their implicit index after the first column
    unnamed_foreign_keys: list[ForeignKeyDef] = field(default_factory=list)

    def add_column(self, parsed: ParsedColumn) -> None:
        if self.table.column(parsed.column.name) is not None:
            raise errors.error(errors.ER_DUP_FIELDNAME,
                               f"Duplicate column name '{parsed.column.name}'")
        self.place(parsed.column, parsed.position)
        self.inline_keys(parsed)

    def place(self, column: ColumnDef, position: tuple[str, str | None] | None) -> None:
        columns = self.table.columns
        if position is None:
            columns.append(column)
        elif position[0] == "FIRST":
            columns.insert(0, column)
        else:
            after = self.table.column(position[1] or "")
            if after is None:
                raise errors.error(errors.ER_BAD_FIELD_ERROR,
                                   f"Unknown column '{position[1]}' in '{self.table.name}'")
            columns.insert(columns.index(after) + 1, column)

    def inline_keys(self, parsed: ParsedColumn) -> None:
        name = parsed.column.name
        if parsed.primary:
            self.add_index(IndexDef("PRIMARY", "PRIMARY", [(name, None, False)]))
        if parsed.unique:
            self.add_index(IndexDef("", "UNIQUE", [(name, None, False)]))
        if parsed.check is not None:
            self.add_check("", parsed.check)
        if parsed.reference is not None:
            self.add_foreign_key(parsed.reference)

    def add_index(self, index: IndexDef) -> None:
        functional = any(is_functional(p[0]) for p in index.columns)
        if index.kind == "PRIMARY":
            if functional:
                raise errors.error(errors.ER_FUNCTIONAL_INDEX_PRIMARY_KEY,
                                   "The primary key cannot be a functional index")
            if self.table.primary_key is not None:
                raise errors.error(errors.ER_MULTIPLE_PRI_KEY, "Multiple primary key defined")
            index.name = "PRIMARY"
        else:
            first = "functional_index" if is_functional(index.columns[0][0]) else \
                index.columns[0][0]
            index.name = index.name or self._free_index_name(first)
            if any(i.name.lower() == index.name.lower() for i in self.table.indexes):
                raise errors.error(errors.ER_DUP_KEYNAME, f"Duplicate key name '{index.name}'")
        self.table.indexes.append(index)

    def _free_index_name(self, base: str) -> str:
        taken = {i.name.lower() for i in self.table.indexes}
        if base.lower() not in taken:
            return base
        suffix = 2
        while f"{base}_{suffix}".lower() in taken:
            suffix += 1
        return f"{base}_{suffix}"

    def add_check(self, name: str, expression: str, enforced: bool = True) -> None:
        if not name:
            self.checks_seen = max(self.checks_seen, self._highest_check()) + 1
            name = f"{self.table.name}_chk_{self.checks_seen}"
        self.table.checks.append(CheckDef(name, expression, enforced))

    def _highest_check(self) -> int:
        prefix = f"{self.table.name}_chk_".lower()
        numbers = [int(c.name[len(prefix):]) for c in self.table.checks
                   if c.name.lower().startswith(prefix) and c.name[len(prefix):].isdigit()]
        return max(numbers, default=0)

    def add_foreign_key(self, fk: ForeignKeyDef) -> None:
        if not fk.name:
            self.unnamed_foreign_keys.append(fk)
            numbers = [int(f.name.rsplit("_", 1)[1]) for f in self.table.foreign_keys
                       if f.name.rsplit("_", 1)[-1].isdigit()]
            fk.name = f"{self.table.name}_ibfk_{max(numbers, default=0) + 1}"
        if not fk.ref_columns:
            raise errors.error(errors.ER_PARSE_ERROR, "Foreign key without referenced columns")
        self.table.foreign_keys.append(fk)

    def finish(self) -> TableDef:
        """Validate keys; give FOREIGN KEY columns their implicit index, like InnoDB."""
        table = self.table
        names = {c.name.lower() for c in table.columns}
        for index in table.indexes:
            for part, length, _ in index.columns:
                if index.kind == "FULLTEXT":
                    self._check_fulltext_part(part, length, names)
                else:
                    self._check_key_part(part, length, names)
        btrees = [i for i in table.indexes if i.kind != "FULLTEXT"]
        for fk in table.foreign_keys:
            for part in fk.columns:
                self._check_key_part(part, 1, names)
            if not any([p[0].lower() for p in i.columns[:len(fk.columns)]]
                       == [c.lower() for c in fk.columns] for i in btrees):
                unnamed = any(fk is f for f in self.unnamed_foreign_keys)
                self.add_index(IndexDef("" if unnamed else fk.name, "INDEX",
                                        [(c, None, False) for c in fk.columns]))
        autos = [c for c in table.columns if c.auto_increment]
        if len(autos) > 1 or (autos and not any(
                i.columns[0][0].lower() == autos[0].name.lower() for i in btrees)):
            raise errors.error(errors.ER_WRONG_AUTO_KEY, "Incorrect table definition; there "
                               "can be only one auto column and it must be defined as a key")
        if autos and autos[0].type.family != "int":
            raise errors.error(errors.ER_WRONG_FIELD_SPEC,
                               f"Incorrect column specifier for column '{autos[0].name}'")
        primary = table.primary_key
        if primary is not None:
            for part, _, _ in primary.columns:
                column = table.column(part)
                if column is not None:
                    column.nullable = False
        if not table.columns:
            raise errors.error(1113, "A table must have at least 1 column")
        return table

    def _check_key_part(self, part: str, length: int | None, names: set[str]) -> None:
        if is_functional(part):
            return  # SQLite reports an unknown column of the expression when it indexes it
        if part.lower() not in names:
            raise errors.error(errors.ER_KEY_COLUMN_DOES_NOT_EXIST,
                               f"Key column '{part}' doesn't exist in table")
        column = self.table.column(part)
        if column is not None and length is None and (
                column.type.name.endswith("text") or column.type.name.endswith("blob")):
            raise errors.error(errors.ER_BLOB_KEY_WITHOUT_LENGTH,
                               f"BLOB/TEXT column '{part}' used in key specification without "
                               "a key length")


    def _check_fulltext_part(self, part: str, length: int | None, names: set[str]) -> None:
        """A FULLTEXT key takes whole CHAR/VARCHAR/TEXT columns (1283, MySQL's 1089 for a
        prefix)."""
        if is_functional(part) or part.lower() not in names:
            raise errors.error(errors.ER_KEY_COLUMN_DOES_NOT_EXIST,
                               f"Key column '{part}' doesn't exist in table")
        column = self.table.column(part)
        if column is not None and column.type.family != "text":
            raise errors.error(errors.ER_BAD_FT_COLUMN,
                               f"Column '{part}' cannot be part of FULLTEXT index")
        if length is not None:
            raise errors.error(errors.ER_WRONG_SUB_KEY, "Incorrect prefix key; the used key "
                               "part isn't a string, the used length is longer than the key "
                               "part, or the storage engine doesn't support unique prefix keys")


def parse_table_element(parser: DdlParser, builder: TableBuilder) -> None:
    """One element of a CREATE TABLE body: a column, key, foreign key or check."""
    constraint_name = ""
    if parser.accept("CONSTRAINT") and not parser.at("PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
        constraint_name = parser.identifier()
    if parser.accept("PRIMARY"):
        parser.expect("KEY")
        _skip_index_name(parser)
        builder.add_index(IndexDef("PRIMARY", "PRIMARY", _key_parts(parser),
                                   _index_options(parser)))
    elif parser.accept("UNIQUE"):
        parser.accept("KEY", "INDEX")
        name = _skip_index_name(parser) or constraint_name
        builder.add_index(IndexDef(name, "UNIQUE", _key_parts(parser), _index_options(parser)))
    elif parser.accept("KEY", "INDEX"):
        name = _skip_index_name(parser)
        builder.add_index(IndexDef(name, "INDEX", _key_parts(parser), _index_options(parser)))
    elif parser.accept("FULLTEXT"):
        parser.accept("KEY", "INDEX")
        name = _skip_index_name(parser)
        builder.add_index(IndexDef(name, "FULLTEXT", _key_parts(parser), _index_options(parser)))
    elif parser.at("SPATIAL"):
        raise not_supported(f"{parser.token.upper} indexes")
    elif parser.accept("FOREIGN"):
        parser.expect("KEY")
        index_name = _skip_index_name(parser)
        columns = _name_list(parser)
        parser.expect("REFERENCES")
        builder.add_foreign_key(_references(parser, columns, constraint_name or index_name))
    elif parser.accept("CHECK"):
        expression = parser.balanced()
        enforced = not parser.accept_seq("NOT", "ENFORCED")
        parser.accept("ENFORCED")
        builder.add_check(constraint_name, expression, enforced)
    else:
        builder.add_column(parse_column(parser))


def _skip_index_name(parser: DdlParser) -> str:
    name = ""
    if not parser.at_op("(") and not parser.at("USING"):
        name = parser.identifier()
    if parser.accept("USING"):
        parser.expect("BTREE", "HASH")
    return name


# Accepted without effect and not shown (PASSWORD is unused in MySQL 8, which shows it no more
# than it does INSERT_METHOD of a table that is not MERGE).
_IGNORED_TABLE_OPTIONS = frozenset({"INSERT_METHOD", "PASSWORD"})
# MariaDB's own table options: MySQL 8's grammar has no such words (1064)
_MARIADB_TABLE_OPTIONS = frozenset({"PAGE_CHECKSUM", "TRANSACTIONAL", "PAGE_COMPRESSED",
                                    "PAGE_COMPRESSION_LEVEL", "IETF_QUOTES", "SEQUENCE"})
# The tablespaces an InnoDB table may name in MySQL 8 without CREATE TABLESPACE (which
# marmotdb does not have: every table lives in its database's SQLite file)
_TABLESPACES = {"innodb_system": "innodb_system",
                "innodb_file_per_table": "innodb_file_per_table"}
_MB = 1024 * 1024
_AUTOEXTEND_MIN, _AUTOEXTEND_MAX = 4 * _MB, 4096 * _MB  # InnoDB with 16K pages (fsp0fsp.h)
_SIZE_SUFFIXES = {"K": 1024, "M": _MB, "G": 1024 * _MB}
# Kept and shown back by SHOW CREATE TABLE (schema.SHOWN_TABLE_OPTIONS has their order); a
# numeric option at its default (0, or DEFAULT) is not shown, as in MySQL.
_STRING_TABLE_OPTIONS = frozenset({"COMPRESSION", "ENCRYPTION", "CONNECTION"})
_NUMERIC_TABLE_OPTIONS = frozenset({
    "MIN_ROWS", "MAX_ROWS", "AVG_ROW_LENGTH", "PACK_KEYS", "STATS_PERSISTENT",
    "STATS_AUTO_RECALC", "STATS_SAMPLE_PAGES", "CHECKSUM", "DELAY_KEY_WRITE", "KEY_BLOCK_SIZE"})
_KEPT_ONE_ZERO = frozenset({"PACK_KEYS", "STATS_PERSISTENT", "STATS_AUTO_RECALC"})
_ENGINES = {"innodb": "InnoDB", "myisam": "MyISAM", "memory": "MEMORY", "heap": "MEMORY",
            "aria": "InnoDB", "csv": "CSV", "archive": "ARCHIVE"}


def parse_table_options(parser: DdlParser, table: TableDef, *, stop_at_select: bool = True
                        ) -> None:
    while True:
        parser.accept_op(",")
        if parser.accept("ENGINE", "TYPE"):
            engine = parser.option_value()
            table.engine = _ENGINES.get(engine.lower(), "InnoDB")
        elif parser.accept("AUTO_INCREMENT"):
            table.auto_increment = int(parser.option_value())
        elif parser.accept("COMMENT"):
            table.comment = utf8mb3_comment(parser.option_value())
        elif parser.accept("ROW_FORMAT"):
            table.row_format = parser.option_value().capitalize()
        elif parser.accept_seq("DEFAULT", "CHARSET") or parser.accept("CHARSET") or \
                parser.accept_seq("DEFAULT", "CHARACTER", "SET") or \
                parser.accept_seq("CHARACTER", "SET"):
            _set_table_charset(table, parser.option_value())
        elif parser.accept_seq("DEFAULT", "COLLATE") or parser.accept("COLLATE"):
            table.collation = parser.option_value().lower()
        elif parser.at(*_NUMERIC_TABLE_OPTIONS, *_STRING_TABLE_OPTIONS):
            _shown_option(parser, table)
        elif parser.at(*_KEPT_OPTION_READERS):
            _KEPT_OPTION_READERS[parser.token.upper](parser, table)
        elif parser.at(*_IGNORED_TABLE_OPTIONS):
            _skip_option(parser)
        elif parser.at("DATA", "INDEX") and parser.peek().upper == "DIRECTORY":
            raise not_supported(f"{parser.token.upper} DIRECTORY (every table of a database "
                                "lives in its one SQLite file)")
        elif parser.at("UNION"):
            raise not_supported("MERGE tables (UNION=…)")
        elif parser.at(*_MARIADB_TABLE_OPTIONS):
            parser.fail()
        elif parser.at("PARTITION"):
            raise not_supported("partitioned tables")
        else:
            return


def _shown_option(parser: DdlParser, table: TableDef) -> None:
    """A table option MySQL keeps: its value as SHOW CREATE TABLE prints it, or none."""
    name = parser.token.upper
    parser.pos += 1
    parser.accept_op("=")
    token = parser.token
    value = parser.option_value()
    table.options.pop(name, None)
    if name in _STRING_TABLE_OPTIONS:
        if token.kind != "str":
            parser.fail("a string")
        if value:
            table.options[name] = quote_string(value)
        return
    if value.upper() == "DEFAULT":
        return
    if not value.isdigit():
        parser.fail("a number")
    number = int(value)
    if name in _KEPT_ONE_ZERO:
        table.options[name] = "1" if number else "0"
    elif number:
        table.options[name] = "1" if name in ("CHECKSUM", "DELAY_KEY_WRITE") else str(number)


def _skip_option(parser: DdlParser) -> None:
    parser.pos += 1
    parser.option_value()


def _tablespace(parser: DdlParser, table: TableDef) -> None:
    """TABLESPACE [=] name: InnoDB's system or file-per-table tablespace, kept and shown as
    MySQL shows an explicit one; any other is 3510, as for a tablespace never created."""
    parser.pos += 1
    parser.accept_op("=")
    name = parser.identifier()
    known = _TABLESPACES.get(name.lower())
    if known is None:
        raise errors.error(errors.ER_TABLESPACE_MISSING_WITH_NAME,
                           f"Tablespace {name} doesn't exist.")
    table.options["TABLESPACE"] = schema.quote_ident(known)


def _autoextend_size(parser: DdlParser, table: TableDef) -> None:
    """AUTOEXTEND_SIZE [=] n[K|M|G]: 0 is InnoDB's default (not shown); otherwise a multiple
    of 4M from 4M to 4G (InnoDB's errors 4025 and 4023), kept in bytes."""
    parser.pos += 1
    parser.accept_op("=")
    text = parser.token.text
    parser.pos += 1
    if parser.token.kind == "word" and parser.token.start == parser.peek(-1).end and \
            parser.token.upper in _SIZE_SUFFIXES:  # `4 M` read as two tokens
        text += parser.token.text
        parser.pos += 1
    factor = _SIZE_SUFFIXES.get(text[-1:].upper(), 1)
    digits = text[:-1] if factor != 1 else text
    if not digits.isdigit():
        parser.fail("a size")
    size = int(digits) * factor
    table.options.pop("AUTOEXTEND_SIZE", None)
    if size == 0:
        return
    if not _AUTOEXTEND_MIN <= size <= _AUTOEXTEND_MAX:
        raise errors.error(errors.ER_INNODB_AUTOEXTEND_SIZE_OUT_OF_RANGE,
                           "AUTOEXTEND_SIZE value should be between 4M and 4096M")
    if size % _AUTOEXTEND_MIN:
        raise errors.error(errors.ER_INNODB_INVALID_AUTOEXTEND_SIZE_VALUE,
                           "AUTOEXTEND_SIZE should be a multiple of 4M")
    table.options["AUTOEXTEND_SIZE"] = str(size)


def _secondary_engine(parser: DdlParser, table: TableDef) -> None:
    """SECONDARY_ENGINE [=] name | NULL: kept and shown as MySQL does (a secondary engine
    is used only by queries offloaded to it, which marmotdb never does)."""
    parser.pos += 1
    parser.accept_op("=")
    token = parser.token
    name = parser.string() if token.kind == "str" else parser.identifier()
    if token.kind == "word" and name.upper() == "NULL":
        table.options.pop("SECONDARY_ENGINE", None)
    else:
        table.options["SECONDARY_ENGINE"] = name


def _engine_attribute(parser: DdlParser, table: TableDef) -> None:
    """[SECONDARY_]ENGINE_ATTRIBUTE [=] 'json': kept and shown (InnoDB accepts and does not
    use it); a value that is not a JSON document is 3980, an empty one removes it."""
    import json as json_text
    name = parser.token.upper
    parser.pos += 1
    parser.accept_op("=")
    if parser.token.kind != "str":
        parser.fail("a string")
    value = parser.string()
    table.options.pop(name, None)
    if not value:
        return
    try:
        json_text.loads(value)
    except ValueError as exc:
        raise errors.error(errors.ER_INVALID_JSON_ATTRIBUTE,
                           f"Invalid json attribute, error: \"{exc.msg}\" at pos {exc.pos}: "
                           f"'{value[exc.pos:exc.pos + 20]}'") from None
    table.options[name] = quote_string(value)


_KEPT_OPTION_READERS: dict[str, Callable[[DdlParser, TableDef], None]] = {
    "TABLESPACE": _tablespace, "AUTOEXTEND_SIZE": _autoextend_size,
    "SECONDARY_ENGINE": _secondary_engine, "ENGINE_ATTRIBUTE": _engine_attribute,
    "SECONDARY_ENGINE_ATTRIBUTE": _engine_attribute}


def _set_table_charset(table: TableDef, charset: str) -> None:
    table.charset = _canonical_charset(charset)
    table.collation = _CHARSET_COLLATIONS.get(table.charset, f"{table.charset}_general_ci")


def parse_table_body(parser: DdlParser, name: str) -> TableDef:
    builder = TableBuilder(TableDef(name=name))
    parser.expect_op("(")
    while True:
        parse_table_element(parser, builder)
        if not parser.accept_op(","):
            break
    parser.expect_op(")")
    parse_table_options(parser, builder.table)
    return builder.finish()


def parse_create_table(sql: str) -> TableDef:
    """A MySQL ``CREATE TABLE name (…) options`` (e.g. the stored SHOW CREATE text)."""
    parser = DdlParser(sql)
    parser.expect("CREATE")
    parser.accept("TEMPORARY")
    parser.expect("TABLE")
    parser.accept_seq("IF", "NOT", "EXISTS")
    _, name = parser.qualified_name()
    return parse_table_body(parser, name)


# ---------------------------------------------------------------- SQLite rendering

class DdlContext(Protocol):
    """What DDL translation needs from the translator (implemented in translate.py)."""

    database: str

    def table_def(self, name: str) -> TableDef | None: ...
    def exists(self, name: str) -> bool: ...
    def is_view(self, name: str) -> bool: ...
    def sqlite_triggers(self, table: str) -> list[str] | None: ...
    def expression(self, mysql_expression: str) -> str: ...
    def select(self, mysql_select: str) -> str: ...
    def trigger_statements(self, mysql_statement: str) -> list[str]: ...
    def child_tables(self, name: str) -> list[TableDef]: ...
    # optional: ``ddl_default_database`` (str: what unqualified names in a CREATE TABLE …
    # SELECT mean when the table is created in another database than the current one, '' for
    # no database selected); ``other_table_def(database, name)`` gives the columns such a
    # SELECT copies from another database


@dataclass(slots=True)
class DdlResult:
    statements: list[str]
    tables: tuple[str, ...] = ()
    foreign_keys_off: bool = False
    temporary: bool = False  # CREATE TEMPORARY TABLE
    # (database, table) of other databases' tables its statements read (attached to the
    # write connection first): the parents an added FOREIGN KEY's probe checks
    reads: tuple[tuple[str, str], ...] = ()
    # CREATE TABLE … SELECT reading another database's tables: the MySQL ``INSERT … SELECT``
    # that fills the table, run by the executor as a write of its own once the table exists
    # (its rows replicate as row images; the statements above would replay the SELECT on a
    # replica, which has no other database attached)
    rows_from: str | None = None


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_collation(column: ColumnDef) -> str:
    family = column.type.family
    if family == "decimal":
        return " COLLATE mysql_decimal"
    if column.type.name == "time":
        return " COLLATE mysql_time"
    if family in ("text", "enum", "set"):
        binary = column.type.binary_collation or (column.collation or "").endswith("_bin") \
            or column.charset == "binary"
        return "" if binary else " COLLATE NOCASE"
    return ""


def default_expression(column: ColumnDef) -> exp.Expression:
    """The value an INSERT that omits ``column`` stores (session-aware, see rewrites_dml)."""
    from sqlglot import exp as sqlexp

    from marmotdb.sql.rewrites.expressions import call, number
    kind, value = column.default_kind, column.default_value
    if kind == "now":
        return call("MYSQL_NOW", number(value)) if value else call("MYSQL_NOW")
    if kind == "expr":
        return _EXPRESSION_PARSER(value)
    if kind == "value":
        return _literal_node(value)
    if column.generated is None and not column.nullable:
        from marmotdb.sql.functions.store import implicit_default
        return _literal_node(implicit_default(column.type))
    return sqlexp.Null()


def _literal_node(value: object) -> exp.Expression:
    from sqlglot import exp as sqlexp
    if value is None:
        return sqlexp.Null()
    if isinstance(value, bytes):
        return sqlexp.HexString(this=value.hex())
    if isinstance(value, (int, float)):
        return sqlexp.Literal.number(value)
    return sqlexp.Literal.string(str(value))


_EXPRESSION_PARSER: Callable[[str], exp.Expression] = lambda text: None  # type: ignore


def set_expression_parser(parser: Callable[[str], exp.Expression]) -> None:
    """translate.py installs the MySQL-expression -> rewritten-AST function (avoids a cycle)."""
    global _EXPRESSION_PARSER
    _EXPRESSION_PARSER = parser


def _sqlite_default(column: ColumnDef) -> str:
    if column.default_kind == "value":
        return " DEFAULT " + sql_literal(column.default_value)
    if column.default_kind == "now" and column.type.name in ("datetime", "timestamp"):
        return " DEFAULT CURRENT_TIMESTAMP"
    return ""


def _rowid_column(table: TableDef) -> ColumnDef | None:
    return table.auto_increment_column


def sqlite_column(column: ColumnDef, table: TableDef, ctx: DdlContext) -> str:
    if column is _rowid_column(table):
        return f"{q(column.name)} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"
    text = f"{q(column.name)} {column.type.sqlite_decltype()}"
    if column.generated is not None:
        # STORED in SQLite whatever MySQL's kind: SQLite's preupdate hook cannot report a row
        # of a table with VIRTUAL columns (storage/schema.py), so capture could not replicate
        # it; MySQL's VIRTUAL/STORED only changes where the value lives, not what it is. The
        # MySQL definition (SHOW CREATE TABLE, information_schema) keeps the kind written.
        text += f" GENERATED ALWAYS AS ({ctx.expression(column.generated)}) STORED"
    elif column.default_kind is not None:
        text += _sqlite_default(column)
    if not column.nullable:
        text += " NOT NULL"
    return text + sqlite_collation(column)


def _primary_in_table(table: TableDef) -> bool:
    """The PRIMARY KEY is written in CREATE TABLE (no AUTO_INCREMENT rowid alias)."""
    return table.primary_key is not None and _rowid_column(table) is None


def _pk_needs_index(table: TableDef) -> bool:
    """With an AUTO_INCREMENT rowid alias, a PRIMARY KEY other than that column alone becomes
    a UNIQUE index (SQLite allows one INTEGER PRIMARY KEY per table)."""
    primary, rowid = table.primary_key, _rowid_column(table)
    return primary is not None and rowid is not None and \
        [c.lower() for c, _, _ in primary.columns] != [rowid.name.lower()]


def sqlite_indexes(table: TableDef) -> list[IndexDef]:
    """The keys SQLite holds: a FULLTEXT index is marmotdb's catalog only
    (sql/functions/fulltext.py)."""
    return [i for i in table.indexes if (i.kind != "PRIMARY" or _pk_needs_index(table))
            and i.kind != "FULLTEXT"]


def sqlite_create_table(table: TableDef, ctx: DdlContext, *, if_not_exists: bool = False
                        ) -> list[str]:
    """CREATE TABLE plus its CREATE INDEX statements for ``table``."""
    lines = [sqlite_column(c, table, ctx) for c in table.columns]
    primary = table.primary_key
    if primary is not None and _primary_in_table(table):
        lines.append("PRIMARY KEY (" + ", ".join(q(c) for c, _, _ in primary.columns) + ")")
    for fk in table.foreign_keys:
        if fk.ref_database:  # another database's table: kept in our catalog only
            continue
        text = (f"CONSTRAINT {q(fk.name)} FOREIGN KEY ({', '.join(q(c) for c in fk.columns)}) "
                f"REFERENCES {q(fk.ref_table)} ({', '.join(q(c) for c in fk.ref_columns)})")
        for event, action in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update)):
            if action:
                text += f" ON {event} {action}"
        lines.append(text)
    for check in table.checks:
        if check.enforced:
            lines.append(f"CONSTRAINT {q(check.name)} CHECK ({ctx.expression(check.expression)})")
    guard = "IF NOT EXISTS " if if_not_exists else ""
    statements = [f"CREATE TABLE {guard}{q(table.name)} (\n  " + ",\n  ".join(lines) + "\n)"]
    statements += [sqlite_create_index(table, i, if_not_exists=if_not_exists)
                   for i in sqlite_indexes(table)]
    return statements


def index_sqlite_name(table: TableDef, index: IndexDef) -> str:
    if not index.sqlite_name:
        index.sqlite_name = f"{table.name}.{index.name}"
    return index.sqlite_name


def sqlite_create_index(table: TableDef, index: IndexDef, *, if_not_exists: bool = False
                        ) -> str:
    parts = [_sqlite_key_part(table, index, name, length) + (" DESC" if descending else "")
             for name, length, descending in index.columns]
    unique = "UNIQUE " if index.kind in ("UNIQUE", "PRIMARY") else ""
    guard = "IF NOT EXISTS " if if_not_exists else ""
    return (f"CREATE {unique}INDEX {guard}{q(index_sqlite_name(table, index))} ON "
            f"{q(table.name)} ({', '.join(parts)})")


def _sqlite_key_part(table: TableDef, index: IndexDef, name: str, length: int | None) -> str:
    """A column, an expression (SQLite indexes expressions of deterministic functions), or
    the prefix of a column for a unique key: MySQL compares only the prefix there."""
    if is_functional(name):
        return "(" + _EXPRESSION_PARSER(name).sql(dialect="sqlite", identify=True) + ")"
    column = table.column(name)
    part = q(column.name if column else name)
    if length and index.kind != "INDEX" and column is not None and \
            column.type.family in ("text", "binary"):
        part = f"substr({part}, 1, {length}){sqlite_collation(column)}"
    return part


def finish_for_storage(table: TableDef, ctx: DdlContext) -> TableDef:
    """Give every index its SQLite name and normalise CHECK text to MySQL's spelling."""
    for index in sqlite_indexes(table):
        index_sqlite_name(table, index)
    for check in table.checks:
        check.expression = normalise_mysql_expression(check.expression)
    return table


def check_parent_tables(table: TableDef, foreign_keys: list[ForeignKeyDef],
                        ctx: DdlContext) -> None:
    """With foreign_key_checks=1 MySQL refuses a FOREIGN KEY whose parent table does not exist
    (1824); with 0 (how mysqldump restores, tables in alphabetical order) it is accepted and
    enforced once the parent exists."""
    if not getattr(ctx, "foreign_key_checks", True):
        return
    for fk in foreign_keys:
        if fk.ref_database:
            if not rewrites_fk.parent_elsewhere_exists(fk, ctx):
                raise errors.error(errors.ER_FK_CANNOT_OPEN_PARENT, "Failed to open the "
                                   f"referenced table '{fk.ref_database}.{fk.ref_table}'")
        elif fk.ref_table.lower() != table.name.lower() and not ctx.exists(fk.ref_table):
            raise errors.error(errors.ER_FK_CANNOT_OPEN_PARENT,
                               f"Failed to open the referenced table '{fk.ref_table}'")


def normalise_mysql_expression(text: str) -> str:
    """MySQL's display of a stored expression: identifiers in backticks, in parentheses."""
    import sqlglot
    try:
        body = sqlglot.parse_one(f"SELECT {text}", read="mysql").expressions[0]
    except Exception:  # noqa: BLE001 - keep the user's text when sqlglot cannot read it
        return text
    rendered = body.sql(dialect="mysql", identify=True)
    return rendered if rendered.startswith("(") and rendered.endswith(")") else f"({rendered})"


# ---------------------------------------------------------------- CREATE TABLE

def _bookkeeping(table: TableDef, *, keep_existing: bool = False) -> list[str]:
    statements = schema.table_statements(table)
    if keep_existing:
        statements = [s.replace("INSERT OR REPLACE", "INSERT OR IGNORE", 1) for s in statements]
    return statements


def _sequence_statements(table: TableDef, start: int | None) -> list[str]:
    """AUTO_INCREMENT=n: the next generated id is n (SQLite stores the last one used)."""
    if not start or start <= 1 or table.auto_increment_column is None:
        return []
    name = sql_literal(table.name)
    return [f"DELETE FROM sqlite_sequence WHERE name = {name}",
            (f"INSERT INTO sqlite_sequence (name, seq) SELECT {name}, max({start - 1}, "
             f"coalesce((SELECT max(rowid) FROM {q(table.name)}), 0))")]


def _check_database(db: str | None, ctx: DdlContext) -> None:
    if db is not None and ctx.database and db.lower() != ctx.database.lower():
        raise not_supported("DDL naming tables of more than one database")


def create_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    """CREATE [TEMPORARY] TABLE. A temporary table is translated as any other, marked
    ``temporary`` (the session runs it in its own TEMP schema, sql/temporary.py); it may have
    no FOREIGN KEY."""
    temporary = parser.accept("TEMPORARY") is not None
    result = _create_table(parser, ctx, temporary)
    result.temporary = temporary
    return result


def _create_table(parser: DdlParser, ctx: DdlContext, temporary: bool) -> DdlResult:
    parser.expect("TABLE")
    if_not_exists = parser.accept_seq("IF", "NOT", "EXISTS")
    db, name = parser.qualified_name()
    _check_database(db, ctx)
    if ctx.exists(name):
        if if_not_exists:
            return DdlResult([])
        raise errors.error(errors.ER_TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
    if parser.accept("LIKE") or (parser.at_op("(") and parser.peek().upper == "LIKE"
                                 and parser.accept_op("(") and parser.accept("LIKE")):
        return _create_like(parser, ctx, name)
    table = parse_table_body(parser, name) if parser.at_op("(") and \
        parser.peek().upper != "SELECT" else TableDef(name=name)
    if table.columns:
        parse_table_options(parser, table)
    else:
        parse_table_options(parser, table)
    parser.accept("IGNORE", "REPLACE")
    parser.accept("AS")
    if parser.at("SELECT", "WITH") or parser.at_op("("):
        return _create_as_select(parser.rest(), table, ctx)
    if not parser.done():
        parser.fail()
    table = finish_for_storage(table, ctx)
    if temporary and table.foreign_keys:
        raise errors.error(errors.ER_CANNOT_ADD_FOREIGN, "Cannot add foreign key constraint")
    check_parent_tables(table, table.foreign_keys, ctx)
    statements = sqlite_create_table(table, ctx) + _sequence_statements(table,
                                                                        table.auto_increment)
    return DdlResult(statements + _bookkeeping(table), tables=(name.lower(),))


def _create_like(parser: DdlParser, ctx: DdlContext, name: str) -> DdlResult:
    db, source = parser.qualified_name()
    _check_database(db, ctx)
    parser.accept_op(")")
    original = ctx.table_def(source)
    if original is None:
        raise errors.error(errors.ER_NO_SUCH_TABLE,
                           f"Table '{ctx.database or 'marmot'}.{source}' doesn't exist")
    table = copy.deepcopy(original)
    table.name, table.foreign_keys, table.auto_increment = name, [], None
    for index in table.indexes:
        index.sqlite_name = None
    table = finish_for_storage(table, ctx)
    return DdlResult(sqlite_create_table(table, ctx) + _bookkeeping(table),
                     tables=(name.lower(),))


def _create_as_select(select_sql: str, table: TableDef, ctx: DdlContext) -> DdlResult:
    import sqlglot
    from sqlglot import exp as sqlexp

    from marmotdb.sql.rewrites.expressions import rename_functions
    tree = sqlglot.parse_one(rename_functions(select_sql), read="mysql")
    elsewhere = _reads_elsewhere(tree, ctx)
    selects = list(tree.find_all(sqlexp.Select))
    first = selects[0] if selects else None
    builder = TableBuilder(table)
    names = []
    for projection in (first.expressions if first is not None else []):
        if isinstance(projection, sqlexp.Star):
            raise not_supported("CREATE TABLE … SELECT * (list the columns)")
        name = projection.alias_or_name
        names.append(name)
        if table.column(name) is None:
            builder.table.columns.append(_inferred_column(name, projection, first, ctx))
    table = finish_for_storage(builder.finish(), ctx)
    if elsewhere:  # filled by the executor (DdlResult.rows_from), in MySQL's name resolution
        target = f"{schema.quote_ident(ctx.database)}.{schema.quote_ident(table.name)}"
        return DdlResult(sqlite_create_table(table, ctx) + _bookkeeping(table),
                         tables=(table.name.lower(),),
                         rows_from=f"INSERT INTO {target} "
                                   f"({', '.join(schema.quote_ident(n) for n in names)}) "
                                   f"{select_sql}")
    insert = (f"INSERT INTO {q(table.name)} ({', '.join(q(n) for n in names)}) "
              f"{ctx.select(select_sql)}")
    return DdlResult(sqlite_create_table(table, ctx) + [insert] + _bookkeeping(table),
                     tables=(table.name.lower(),))


def _reads_elsewhere(tree: exp.Expression, ctx: DdlContext) -> bool:
    """Whether a CREATE TABLE … SELECT reads a table of another database than the new
    table's. In MySQL its unqualified names are the current database's, which is another one
    when the table is created there (``CREATE TABLE otherdb.t AS SELECT … FROM s``); they are
    qualified with it here."""
    from sqlglot import exp as sqlexp

    from marmotdb.sql.rewrites.dml import qualify_tables
    default = getattr(ctx, "ddl_default_database", None)
    if default is not None:
        qualify_tables(tree, default)
    home = (ctx.database or "").lower()
    return any(table.db and table.db.lower() != home for table in tree.find_all(sqlexp.Table))


def _source_def(table_node: exp.Table, ctx: DdlContext) -> TableDef | None:
    """The definition of a table a CREATE TABLE … SELECT reads, in its own database."""
    if table_node.db and table_node.db.lower() != (ctx.database or "").lower():
        other = getattr(ctx, "other_table_def", None)
        return other(table_node.db, table_node.name) if other is not None else None
    return ctx.table_def(table_node.name)


def _inferred_column(name: str, projection: exp.Expression, select: exp.Expression,
                     ctx: DdlContext) -> ColumnDef:
    """The column CREATE TABLE … SELECT makes for one projection (MySQL keeps a source
    column's type and NULL-ness; literals and expressions get a type from their value)."""
    from sqlglot import exp as sqlexp
    node = projection.this if isinstance(projection, sqlexp.Alias) else projection
    if isinstance(node, sqlexp.Column):
        for table_node in select.find_all(sqlexp.Table):
            source = _source_def(table_node, ctx)
            column = source.column(node.name) if source else None
            if column is not None and (not node.table or node.table.lower() in (
                    table_node.alias_or_name.lower(), table_node.name.lower())):
                found = copy.deepcopy(column)
                found.name, found.auto_increment = name, False
                return found
    if isinstance(node, sqlexp.Literal):
        if node.is_string:
            return ColumnDef(name, MySqlType("varchar", max(len(node.this), 1)), nullable=False,
                             default_kind="value", default_value="")
        if "." in node.this:
            whole, _, fraction = node.this.partition(".")
            return ColumnDef(name, MySqlType("decimal", len(whole) + len(fraction),
                                             len(fraction)), nullable=False)
        return ColumnDef(name, MySqlType("bigint" if len(node.this) > 9 else "int"),
                         nullable=False, default_kind="value", default_value=0)
    if isinstance(node, sqlexp.Count):
        return ColumnDef(name, MySqlType("bigint"), nullable=False, default_kind="value",
                         default_value=0)
    return ColumnDef(name, MySqlType("longtext"))


# ---------------------------------------------------------------- ALTER TABLE

@dataclass(slots=True)
class AlterState:
    old: TableDef
    new: TableDef
    builder: TableBuilder
    rebuild: bool = False
    native: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # new column (lower) -> old name
    rename_to: str | None = None
    sequence: int | None = None

    def require_rebuild(self) -> None:
        self.rebuild = True


def _column_used(table: TableDef, name: str) -> bool:
    lowered = name.lower()
    in_keys = any(p[0].lower() == lowered for i in table.indexes for p in i.columns)
    in_fks = any(c.lower() == lowered for f in table.foreign_keys for c in f.columns)
    in_checks = any(re.search(rf"\b{re.escape(name)}\b", c.expression, re.IGNORECASE)
                    for c in table.checks)
    in_generated = any(c.generated and re.search(rf"\b{re.escape(name)}\b", c.generated,
                                                  re.IGNORECASE) for c in table.columns)
    return in_keys or in_fks or in_checks or bool(in_generated)


def _simple_add(parsed: ParsedColumn) -> bool:
    column = parsed.column
    return (parsed.position is None and not parsed.primary and not parsed.unique
            and parsed.check is None and parsed.reference is None and not column.auto_increment
            and column.default_kind not in ("now", "expr") and column.generated is None)
    # a generated column is STORED in SQLite (sqlite_column), which ADD COLUMN cannot add


def _alter_add(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    if parser.at("INDEX", "KEY", "UNIQUE", "PRIMARY", "FOREIGN", "CHECK", "CONSTRAINT",
                 "FULLTEXT", "SPATIAL"):
        _alter_add_constraint(parser, state, ctx)
        return
    parser.accept("COLUMN")
    if parser.accept_op("("):
        columns = [parse_column(parser)]
        while parser.accept_op(","):
            columns.append(parse_column(parser))
        parser.expect_op(")")
    else:
        columns = [parse_column(parser)]
    for parsed in columns:
        state.builder.add_column(parsed)
        if _simple_add(parsed):
            state.native.append(f"ALTER TABLE {q(state.new.name)} ADD COLUMN "
                                f"{_added_column_sql(parsed.column, state.new, ctx)}")
        else:
            state.require_rebuild()


def _added_column_sql(column: ColumnDef, table: TableDef, ctx: DdlContext) -> str:
    text = sqlite_column(column, table, ctx)
    if not column.nullable and column.default_kind is None and column.generated is None:
        from marmotdb.sql.functions.store import implicit_default
        text = text.replace(" NOT NULL", " DEFAULT " + sql_literal(
            implicit_default(column.type)) + " NOT NULL", 1)
    return text


def _alter_add_constraint(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    before = list(state.new.indexes)
    parse_table_element(parser, state.builder)
    added = [i for i in state.new.indexes if i not in before]
    if added and all(i.kind != "PRIMARY" for i in added) and len(state.new.foreign_keys) == \
            len(state.old.foreign_keys) and len(state.new.checks) == len(state.old.checks):
        state.native += [sqlite_create_index(state.new, index) for index in added
                         if index.kind != "FULLTEXT"]
        return
    state.require_rebuild()


def _alter_drop(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    table = state.new
    if parser.accept_seq("PRIMARY", "KEY"):
        if table.primary_key is None:
            raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                               "Can't DROP 'PRIMARY'; check that column/key exists")
        table.indexes.remove(table.primary_key)
        state.require_rebuild()
    elif parser.accept("INDEX", "KEY"):
        _drop_index(table, parser.identifier(), state)
    elif parser.accept_seq("FOREIGN", "KEY"):
        name = parser.identifier()
        found = next((f for f in table.foreign_keys if f.name.lower() == name.lower()), None)
        if found is None:
            raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                               f"Can't DROP '{name}'; check that column/key exists")
        table.foreign_keys.remove(found)
        state.require_rebuild()
    elif parser.accept("CHECK", "CONSTRAINT"):
        _drop_constraint(table, parser.identifier(), state)
    else:
        parser.accept("COLUMN")
        _drop_column(table, parser.identifier(), state)


def _drop_index(table: TableDef, name: str, state: AlterState) -> None:
    found = next((i for i in table.indexes if i.name.lower() == name.lower()), None)
    if found is None:
        raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                           f"Can't DROP '{name}'; check that column/key exists")
    table.indexes.remove(found)
    if found.kind == "PRIMARY":
        state.require_rebuild()
    elif found.sqlite_name:
        state.native.append(f"DROP INDEX IF EXISTS {q(found.sqlite_name)}")


def _drop_constraint(table: TableDef, name: str, state: AlterState) -> None:
    lowered = name.lower()
    check = next((c for c in table.checks if c.name.lower() == lowered), None)
    if check is not None:
        table.checks.remove(check)
        state.require_rebuild()
        return
    fk = next((f for f in table.foreign_keys if f.name.lower() == lowered), None)
    if fk is not None:
        table.foreign_keys.remove(fk)
        state.require_rebuild()
        return
    _drop_index(table, name, state)


def _drop_column(table: TableDef, name: str, state: AlterState) -> None:
    column = table.column(name)
    if column is None:
        raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                           f"Can't DROP '{name}'; check that column/key exists")
    if any(name.lower() in [c.lower() for c in f.columns] for f in table.foreign_keys):
        raise errors.error(1828, f"Cannot drop column '{column.name}': needed in a foreign key "
                           "constraint")
    if len(table.columns) == 1:
        raise errors.error(1090, "You can't delete all columns with ALTER TABLE; use DROP "
                           "TABLE instead")
    _check_functional_dependency(table, column.name)
    used = _column_used(table, name)
    table.columns.remove(column)
    for index in list(table.indexes):
        index.columns = [p for p in index.columns if p[0].lower() != name.lower()]
        if not index.columns:
            table.indexes.remove(index)
    state.sources.pop(name.lower(), None)
    if used:
        state.require_rebuild()
    else:
        state.native.append(f"ALTER TABLE {q(table.name)} DROP COLUMN {q(column.name)}")


def _replace_column(state: AlterState, old_name: str, parsed: ParsedColumn) -> None:
    table = state.new
    old = table.column(old_name)
    if old is None:
        raise errors.error(errors.ER_BAD_FIELD_ERROR,
                           f"Unknown column '{old_name}' in '{table.name}'")
    new = parsed.column
    if new.name.lower() != old.name.lower() and table.column(new.name) is not None:
        raise errors.error(errors.ER_DUP_FIELDNAME, f"Duplicate column name '{new.name}'")
    only_rename = parsed.position is None and _same_definition(old, new) and not (
        parsed.primary or parsed.unique or parsed.check or parsed.reference)
    source = state.sources.pop(old.name.lower(), old.name)
    position = table.columns.index(old)
    table.columns.remove(old)
    if parsed.position is None:
        table.columns.insert(position, new)
    else:
        state.builder.place(new, parsed.position)
    state.sources[new.name.lower()] = source
    _rename_in_keys(table, old.name, new.name)
    state.builder.inline_keys(parsed)
    if only_rename and new.name != old.name:
        state.native.append(f"ALTER TABLE {q(table.name)} RENAME COLUMN {q(old.name)} TO "
                            f"{q(new.name)}")
    elif not only_rename:
        state.require_rebuild()


def _same_definition(old: ColumnDef, new: ColumnDef) -> bool:
    a, b = copy.copy(old), copy.copy(new)
    a.name = b.name = ""
    return a == b


def _rename_in_keys(table: TableDef, old: str, new: str) -> None:
    if old == new:
        return
    if old.lower() != new.lower():
        _check_functional_dependency(table, old)
    for index in table.indexes:
        index.columns = [(new if c.lower() == old.lower() else c, n, d)
                         for c, n, d in index.columns]
    for fk in table.foreign_keys:
        fk.columns = [new if c.lower() == old.lower() else c for c in fk.columns]


def _alter_modify(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    parser.accept("COLUMN")
    parsed = parse_column(parser)
    _replace_column(state, parsed.column.name, parsed)


def _alter_change(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    parser.accept("COLUMN")
    old_name = parser.identifier()
    _replace_column(state, old_name, parse_column(parser))


def _alter_alter(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    if parser.accept("INDEX"):
        parser.identifier()
        parser.expect("VISIBLE", "INVISIBLE")
        return
    if parser.accept("CHECK"):
        parser.identifier()
        parser.accept("NOT")
        parser.expect("ENFORCED")
        state.require_rebuild()
        return
    parser.accept("COLUMN")
    column = state.new.column(parser.identifier())
    if column is None:
        raise errors.error(errors.ER_BAD_FIELD_ERROR, "Unknown column in 'field list'")
    if parser.accept_seq("SET", "DEFAULT"):
        _parse_default(parser, column)
        _finish_column(column)
    elif parser.accept_seq("DROP", "DEFAULT"):
        column.default_kind, column.default_value = None, None
    elif parser.accept("SET"):
        parser.expect("VISIBLE", "INVISIBLE")
    else:
        parser.fail()


def _alter_rename(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    table = state.new
    if parser.accept("COLUMN"):
        old, _, new = parser.identifier(), parser.expect("TO"), parser.identifier()
        column = table.column(old)
        if column is None:
            raise errors.error(errors.ER_BAD_FIELD_ERROR,
                               f"Unknown column '{old}' in '{table.name}'")
        if table.column(new) is not None and new.lower() != old.lower():
            raise errors.error(errors.ER_DUP_FIELDNAME, f"Duplicate column name '{new}'")
        state.sources[new.lower()] = state.sources.pop(column.name.lower(), column.name)
        state.native.append(f"ALTER TABLE {q(table.name)} RENAME COLUMN {q(column.name)} TO "
                            f"{q(new)}")
        _rename_in_keys(table, column.name, new)
        column.name = new
    elif parser.accept("INDEX", "KEY"):
        old, _, new = parser.identifier(), parser.expect("TO"), parser.identifier()
        index = next((i for i in table.indexes if i.name.lower() == old.lower()), None)
        if index is None or index.kind == "PRIMARY":
            raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                               f"Key '{old}' doesn't exist in table '{table.name}'")
        if index.sqlite_name:
            state.native.append(f"DROP INDEX IF EXISTS {q(index.sqlite_name)}")
        index.name, index.sqlite_name = new, None
        if index.kind != "FULLTEXT":
            state.native.append(sqlite_create_index(table, index))
    else:
        parser.accept("TO", "AS")
        db, new = parser.qualified_name()
        _check_database(db, ctx)
        state.rename_to = new


def _alter_convert(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    parser.expect("TO")
    parser.accept("CHARACTER")
    parser.accept("SET", "CHARSET")
    charset = _canonical_charset(parser.identifier())
    collation = parser.identifier().lower() if parser.accept("COLLATE") else \
        _CHARSET_COLLATIONS.get(charset, f"{charset}_general_ci")
    before = [sqlite_collation(c) for c in state.new.columns]
    state.new.charset, state.new.collation = charset, collation
    for column in state.new.columns:
        if column.type.family in ("text", "enum", "set"):
            column.charset, column.collation = None, None
            column.type = _with_collation(column.type, collation)
    if before != [sqlite_collation(c) for c in state.new.columns]:
        state.require_rebuild()


def _alter_options(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    if parser.accept("AUTO_INCREMENT"):
        state.sequence = int(parser.option_value())
        state.new.auto_increment = state.sequence
        return
    parse_table_options(parser, state.new)


def _alter_ignored(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    word = parser.token.upper
    parser.pos += 1
    if word in ("ALGORITHM", "LOCK"):
        parser.option_value()
    elif word in ("ENABLE", "DISABLE"):
        parser.expect("KEYS")
    elif word == "ORDER":
        parser.expect("BY")
        while not (parser.at_op(",") or parser.token.kind == "end"):
            parser.pos += 1


def _alter_partition(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    raise not_supported("ALTER TABLE … PARTITION")


AlterAction = Callable[[DdlParser, AlterState, DdlContext], None]
_ALTER_ACTIONS: dict[str, AlterAction] = {
    "ADD": _alter_add, "DROP": _alter_drop, "MODIFY": _alter_modify, "CHANGE": _alter_change,
    "ALTER": _alter_alter, "RENAME": _alter_rename, "CONVERT": _alter_convert,
    "ENGINE": _alter_options, "AUTO_INCREMENT": _alter_options, "COMMENT": _alter_options,
    "ROW_FORMAT": _alter_options, "DEFAULT": _alter_options, "CHARSET": _alter_options,
    "CHARACTER": _alter_options, "COLLATE": _alter_options, "ALGORITHM": _alter_ignored,
    "LOCK": _alter_ignored, "FORCE": _alter_ignored, "ENABLE": _alter_ignored,
    "DISABLE": _alter_ignored, "ORDER": _alter_ignored, "PARTITION": _alter_partition,
    "REMOVE": _alter_partition, "KEY_BLOCK_SIZE": _alter_options,
    "STATS_PERSISTENT": _alter_options, "PACK_KEYS": _alter_options,
    "CHECKSUM": _alter_options, "TABLESPACE": _alter_options, "AUTOEXTEND_SIZE": _alter_options,
    "SECONDARY_ENGINE": _alter_options, "ENGINE_ATTRIBUTE": _alter_options,
    "SECONDARY_ENGINE_ATTRIBUTE": _alter_options,
}


def _load_for_alter(ctx: DdlContext, name: str) -> TableDef:
    table = ctx.table_def(name)
    if table is None:
        if ctx.is_view(name):
            raise errors.error(errors.ER_WRONG_OBJECT,
                               f"'{ctx.database}.{name}' is not BASE TABLE")
        raise errors.error(errors.ER_NO_SUCH_TABLE,
                           f"Table '{ctx.database or 'marmot'}.{name}' doesn't exist")
    return table


def alter_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.accept("ONLINE", "OFFLINE")
    parser.accept("IGNORE")
    parser.expect("TABLE")
    db, name = parser.qualified_name()
    _check_database(db, ctx)
    old = _load_for_alter(ctx, name)
    state = _new_alter_state(old)
    while not parser.done():
        word = parser.token.upper
        action = _ALTER_ACTIONS.get(word)
        if action is None:
            parser.fail()
        if word in ("ADD", "DROP", "MODIFY", "CHANGE", "ALTER", "RENAME", "CONVERT"):
            parser.pos += 1
        action(parser, state, ctx)  # type: ignore[misc]
        parser.accept_op(",")
    return plan_alter(state, ctx)


def _new_alter_state(old: TableDef) -> AlterState:
    new = copy.deepcopy(old)
    return AlterState(old=old, new=new, builder=TableBuilder(new),
                      sources={c.name.lower(): c.name for c in old.columns})


def plan_alter(state: AlterState, ctx: DdlContext) -> DdlResult:
    state.new = state.builder.finish()
    table = finish_for_storage(state.new, ctx)
    old_names = {f.name.lower() for f in state.old.foreign_keys}
    check_parent_tables(table, [f for f in table.foreign_keys
                                if f.name.lower() not in old_names], ctx)
    rewrites_fk.check_alter(state.old, table, state.sources, ctx)
    old_name = state.old.name
    statements = _rebuild(state, ctx) + rewrites_fk.foreign_key_probes(state.old, table, ctx) \
        if state.rebuild else list(state.native)
    statements += _sequence_statements(table, state.sequence)
    tables = [old_name.lower()]
    if state.rename_to and state.rename_to.lower() != old_name.lower():
        rewrites_fk.check_rename(old_name, ctx)
        if ctx.exists(state.rename_to):
            raise errors.error(errors.ER_TABLE_EXISTS_ERROR,
                               f"Table '{state.rename_to}' already exists")
        statements.append(f"ALTER TABLE {q(old_name)} RENAME TO {q(state.rename_to)}")
        statements.append(schema.delete_statement("table", old_name))
        table.name = state.rename_to
        tables.append(state.rename_to.lower())
    return DdlResult(statements + _bookkeeping(table), tables=tuple(tables),
                     foreign_keys_off=state.rebuild,
                     reads=rewrites_fk.probed_elsewhere(state.old, table, ctx)
                     if state.rebuild else ())


def _copy_value(column: ColumnDef, state: AlterState) -> str:
    source_name = state.sources.get(column.name.lower())
    source = state.old.column(source_name) if source_name else None
    if source is None:
        from sqlglot import exp as sqlexp
        value = default_expression(column)
        return value.sql(dialect="sqlite") if isinstance(value, sqlexp.Expression) else "NULL"
    ref = q(source.name)
    if _widens(source.type, column.type) and source.charset == column.charset and \
            (column.nullable or not source.nullable):
        return ref  # every old value is a valid new one, unchanged: no per-row coercion
    type_text = column.type.column_type() + ("" if column.nullable else " not null")
    value = (f"MYSQL_STORE({ref}, {sql_literal(type_text)}, {sql_literal(column.name)}, 1, "
             f"{STORE_ALTER})")
    return f"NULLIF({value}, 0)" if column.auto_increment else value


STORE_ALTER = 2  # MYSQL_STORE mode of ALTER TABLE's copy: MySQL reports 1265 / 1138 there
_SIZED = {**coltypes.TEXT_BYTES_MAX, **coltypes.BLOB_BYTES_MAX}


def _widens(old: MySqlType, new: MySqlType) -> bool:
    """Whether every value of ``old`` is stored unchanged as a valid ``new`` (a rebuild's copy
    then passes it through raw, not through MYSQL_STORE, a Python call per row): the same type,
    a longer VARCHAR or VARBINARY of the same character set, a bigger TEXT or BLOB, or a wider
    integer of the same signedness."""
    if old == new:
        return True
    if old.charset != new.charset or old.zerofill != new.zerofill:
        return False
    if old.name == new.name and old.name in ("varchar", "varbinary"):
        return (new.length or 0) >= (old.length or 0)
    if old.name in _SIZED and new.name in _SIZED and old.family == new.family:
        return _SIZED[new.name] >= _SIZED[old.name]
    ranges = coltypes.INTEGER_RANGES
    if old.name in ranges and new.name in ranges and old.unsigned == new.unsigned:
        return ranges[new.name][1] >= ranges[old.name][1]
    return False


def _rebuild(state: AlterState, ctx: DdlContext) -> list[str]:
    """The 12-step table rebuild (SQLite's recipe), keeping rows, counter and triggers."""
    table, name = state.new, state.old.name
    old = f"__marmot_old_{name}"
    targets = [c for c in table.columns if c.generated is None]
    triggers = ctx.sqlite_triggers(name)
    statements = ["PRAGMA legacy_alter_table = ON",
                  f"ALTER TABLE {q(name)} RENAME TO {q(old)}"]
    if triggers is None:  # cannot re-create them: refuse rather than drop them silently
        statements.append(
            "SELECT MYSQL_REFUSE('ALTER TABLE that rebuilds a table with triggers') FROM "
            f"sqlite_schema WHERE type = 'trigger' AND tbl_name = {sql_literal(old)}")
        triggers = []
    statements += sqlite_create_table(table, ctx)[:1]
    # A table without a primary key is keyed by rowid (row versions, write sets): keep them.
    into, values = [q(c.name) for c in targets], [_copy_value(c, state) for c in targets]
    if table.primary_key is None:
        into, values = ["rowid", *into], ["rowid", *values]
    statements.append(f"INSERT INTO {q(name)} ({', '.join(into)}) "
                      f"SELECT {', '.join(values)} FROM {q(old)}")
    if table.auto_increment_column is not None and state.old.auto_increment_column is not None:
        statements += [f"DELETE FROM sqlite_sequence WHERE name = {sql_literal(name)}",
                       (f"UPDATE sqlite_sequence SET name = {sql_literal(name)} "
                        f"WHERE name = {sql_literal(old)}")]
    statements.append(f"DROP TABLE {q(old)}")
    statements += [sqlite_create_index(table, i) for i in sqlite_indexes(table)]
    statements += triggers
    statements.append("PRAGMA legacy_alter_table = OFF")
    return statements


# ---------------------------------------------------------------- indexes, drop, rename

def create_index(parser: DdlParser, ctx: DdlContext, kind: str) -> DdlResult:
    parser.expect("INDEX")
    name = parser.identifier()
    if parser.accept("USING"):
        parser.expect("BTREE", "HASH")
    parser.expect("ON")
    db, table_name = parser.qualified_name()
    _check_database(db, ctx)
    state = _new_alter_state(_load_for_alter(ctx, table_name))
    state.builder.add_index(IndexDef(name, kind, _key_parts(parser), _index_options(parser)))
    while parser.accept("ALGORITHM", "LOCK"):
        parser.option_value()
    if not parser.done():
        parser.fail()
    index = state.new.indexes[-1]
    if index.kind != "FULLTEXT":
        state.native.append(sqlite_create_index(state.new, index))
    return plan_alter(state, ctx)


def drop_index(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    name = parser.identifier()
    parser.expect("ON")
    db, table_name = parser.qualified_name()
    _check_database(db, ctx)
    state = _new_alter_state(_load_for_alter(ctx, table_name))
    _drop_index(state.new, name, state)
    while parser.accept("ALGORITHM", "LOCK"):
        parser.option_value()
    return plan_alter(state, ctx)


def _name_list_plain(parser: DdlParser, ctx: DdlContext) -> list[str]:
    names = []
    while True:
        db, name = parser.qualified_name()
        _check_database(db, ctx)
        names.append(name)
        if not parser.accept_op(","):
            return names


def drop_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    if parser.accept("TEMPORARY"):
        raise not_supported("DROP TEMPORARY TABLE")
    parser.expect("TABLE", "TABLES")
    if_exists = parser.accept_seq("IF", "EXISTS")
    names = _name_list_plain(parser, ctx)
    parser.accept("RESTRICT", "CASCADE")
    missing = [n for n in names if not ctx.exists(n) or ctx.is_view(n)]
    if missing and not if_exists:
        listed = ",".join(f"{ctx.database or 'marmot'}.{n}" for n in missing)
        raise errors.error(errors.ER_BAD_TABLE_ERROR, f"Unknown table '{listed}'")
    rewrites_fk.check_drop([n for n in names if n not in missing], ctx)
    statements: list[str] = []
    for name in names:
        if name in missing:
            continue
        statements += [f"DROP TABLE IF EXISTS {q(name)}", schema.delete_statement("table", name),
                       schema.delete_triggers_of_statement(name)]
    return DdlResult(statements, tables=tuple(n.lower() for n in names if n not in missing),
                     foreign_keys_off=True)


def drop_view(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    if_exists = parser.accept_seq("IF", "EXISTS")
    names = _name_list_plain(parser, ctx)
    parser.accept("RESTRICT", "CASCADE")
    missing = [n for n in names if not ctx.is_view(n)]
    if missing and not if_exists:
        listed = ",".join(f"{ctx.database or 'marmot'}.{n}" for n in missing)
        raise errors.error(errors.ER_BAD_TABLE_ERROR, f"Unknown table '{listed}'")
    statements = []
    for name in names:
        if name not in missing:  # IF EXISTS on a base table of that name is a no-op
            statements += [f"DROP VIEW IF EXISTS {q(name)}",
                           schema.delete_statement("view", name)]
    return DdlResult(statements, tables=tuple(n.lower() for n in names if n not in missing))


def rename_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.expect("TABLE", "TABLES")
    statements: list[str] = []
    tables: list[str] = []
    pending: dict[str, TableDef | None] = {}
    gone: set[str] = set()
    while True:
        db, old = parser.qualified_name()
        _check_database(db, ctx)
        parser.expect("TO")
        db, new = parser.qualified_name()
        _check_database(db, ctx)
        in_flight = old.lower() in pending
        definition = pending.pop(old.lower()) if in_flight else ctx.table_def(old)
        if in_flight:
            gone.discard(old.lower())
        if old.lower() in gone or (definition is None and not ctx.exists(old)):
            raise errors.error(errors.ER_NO_SUCH_TABLE,
                               f"Table '{ctx.database or 'marmot'}.{old}' doesn't exist")
        if new.lower() in pending or (ctx.exists(new) and new.lower() not in gone):
            raise errors.error(errors.ER_TABLE_EXISTS_ERROR, f"Table '{new}' already exists")
        if not in_flight:
            rewrites_fk.check_rename(old, ctx)
        gone.add(old.lower())
        gone.discard(new.lower())
        statements.append(f"ALTER TABLE {q(old)} RENAME TO {q(new)}")
        statements.append(schema.delete_statement("table", old))
        if definition is not None:
            definition = copy.deepcopy(definition)
            definition.name = new
            statements += _bookkeeping(definition)
        pending[new.lower()] = definition
        tables += [old.lower(), new.lower()]
        if not parser.accept_op(","):
            break
    return DdlResult(statements, tables=tuple(tables))


def truncate_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.accept("TABLE")
    db, name = parser.qualified_name()
    _check_database(db, ctx)
    if not ctx.exists(name) or ctx.is_view(name):
        raise errors.error(errors.ER_NO_SUCH_TABLE,
                           f"Table '{ctx.database or 'marmot'}.{name}' doesn't exist")
    rewrites_fk.check_truncate(name, ctx)
    table = ctx.table_def(name)
    statements = [f"DELETE FROM {q(name)}"]
    if table is not None and table.auto_increment_column is not None:
        statements.append(f"DELETE FROM sqlite_sequence WHERE name = {sql_literal(name)}")
    return DdlResult(statements, tables=(name.lower(),))


# ---------------------------------------------------------------- views and triggers

def _skip_view_attributes(parser: DdlParser) -> None:
    while True:
        if parser.accept("ALGORITHM"):
            parser.option_value()
        elif parser.accept("DEFINER"):
            parser.accept_op("=")
            _skip_user(parser)
        elif parser.accept_seq("SQL", "SECURITY"):
            parser.expect("DEFINER", "INVOKER")
        else:
            return


def _skip_user(parser: DdlParser) -> None:
    if parser.accept("CURRENT_USER"):
        if parser.accept_op("("):
            parser.expect_op(")")
        return
    parser.identifier()
    if parser.accept_op("@"):
        parser.identifier()


def create_view(parser: DdlParser, ctx: DdlContext, replace: bool) -> DdlResult:
    parser.expect("VIEW")
    parser.accept_seq("IF", "NOT", "EXISTS")
    db, name = parser.qualified_name()
    _check_database(db, ctx)
    columns = _name_list(parser) if parser.at_op("(") else []
    parser.expect("AS")
    body = parser.rest()
    check = re.search(r"\s+WITH\s+(?:(CASCADED|LOCAL)\s+)?CHECK\s+OPTION\s*;?\s*$", body,
                      re.IGNORECASE)
    if check:
        body = body[:check.start()]
    if ctx.exists(name) and not replace:
        raise errors.error(errors.ER_TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
    if replace and ctx.exists(name) and not ctx.is_view(name):
        raise errors.error(errors.ER_WRONG_OBJECT, f"'{ctx.database}.{name}' is not VIEW")
    column_sql = f" ({', '.join(q(c) for c in columns)})" if columns else ""
    statements = [f"DROP VIEW IF EXISTS {q(name)}"] if replace else []
    statements.append(f"CREATE VIEW {q(name)}{column_sql} AS {ctx.select(body)}")
    mysql_sql = (f"CREATE ALGORITHM=UNDEFINED DEFINER=CURRENT_USER SQL SECURITY DEFINER VIEW "
                 f"{schema.quote_ident(name)}"
                 + (f" ({', '.join(schema.quote_ident(c) for c in columns)})" if columns else "")
                 + f" AS {body.strip()}"
                 + (f" WITH {(check.group(1) or 'CASCADED').upper()} CHECK OPTION" if check
                    else ""))
    import json
    meta = json.dumps({"definition": body.strip(), "columns": [{"name": c} for c in columns],
                       "check_option": (check.group(1) or "CASCADED").upper() if check
                       else "NONE", "is_updatable": "NO"})
    statements.append(schema.upsert_statement("view", name, mysql_sql, meta))
    return DdlResult(statements, tables=(name.lower(),))


_TRIGGER_RE = re.compile(r"^\s*SET\s+NEW\s*\.\s*(`(?:[^`]|``)+`|\w+)\s*=\s*(.+)$",
                         re.IGNORECASE | re.DOTALL)
_SIGNAL_RE = re.compile(r"^\s*SIGNAL\s+SQLSTATE\s+(?:VALUE\s+)?'(\w+)'"
                        r"(?:\s+SET\s+MESSAGE_TEXT\s*=\s*('(?:[^'\\]|\\.|'')*'))?",
                        re.IGNORECASE | re.DOTALL)
_IF_RE = re.compile(r"^\s*IF\s+(.+?)\s+THEN\s+(.+?);?\s*END\s+IF\s*$", re.IGNORECASE | re.DOTALL)


def create_trigger(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    parser.expect("TRIGGER")
    if_not_exists = parser.accept_seq("IF", "NOT", "EXISTS")
    db, name = parser.qualified_name()
    _check_database(db, ctx)
    timing = parser.expect("BEFORE", "AFTER")
    event = parser.expect("INSERT", "UPDATE", "DELETE")
    parser.expect("ON")
    db, table_name = parser.qualified_name()
    _check_database(db, ctx)
    parser.expect("FOR")
    parser.expect("EACH")
    parser.expect("ROW")
    if parser.accept("FOLLOWS", "PRECEDES"):
        parser.identifier()
    body = parser.rest().rstrip().rstrip(";")
    table = _load_for_alter(ctx, table_name)
    statements = _trigger_body(body, timing, table, ctx)
    sqlite_timing = "AFTER" if timing == "BEFORE" and any(
        s.startswith("UPDATE") and "NEW.rowid" in s for s in statements) else timing
    guard = "IF NOT EXISTS " if if_not_exists else ""
    sqlite_sql = (f"CREATE TRIGGER {guard}{q(name)} {sqlite_timing} {event} ON {q(table.name)} "
                  f"FOR EACH ROW BEGIN " + "; ".join(statements) + "; END")
    import json
    mysql_sql = f"CREATE DEFINER=CURRENT_USER TRIGGER {schema.quote_ident(name)} {timing} " \
                f"{event} ON {schema.quote_ident(table.name)} FOR EACH ROW {body}"
    meta = json.dumps({"table": table.name.lower(), "timing": timing, "event": event,
                       "statement": body})
    return DdlResult([sqlite_sql, schema.upsert_statement("trigger", name, mysql_sql, meta)],
                     tables=(table.name.lower(),))


def _split_body(body: str) -> list[str]:
    from marmotdb.sql.text.shape import split_statements
    stripped = body.strip()
    if re.match(r"^BEGIN\b", stripped, re.IGNORECASE) and re.search(r"\bEND\s*$", stripped,
                                                                      re.IGNORECASE):
        inner = stripped[5:-3]
        parts: list[str] = []
        depth_text = ""
        for piece in split_statements(inner):
            depth_text = f"{depth_text}; {piece}" if depth_text else piece
            if re.match(r"^\s*IF\b", depth_text, re.IGNORECASE) and not re.search(
                    r"\bEND\s+IF\s*$", depth_text, re.IGNORECASE):
                continue
            parts.append(depth_text)
            depth_text = ""
        return parts
    return [stripped]


def _trigger_body(body: str, timing: str, table: TableDef, ctx: DdlContext) -> list[str]:
    statements: list[str] = []
    for piece in _split_body(body):
        statements += _trigger_statement(piece, timing, table, ctx, None)
    return statements


def _trigger_statement(piece: str, timing: str, table: TableDef, ctx: DdlContext,
                       condition: str | None) -> list[str]:
    set_new = _TRIGGER_RE.match(piece)
    if set_new:
        if timing != "BEFORE":
            raise errors.error(1362, "Updating of NEW row is not allowed in after trigger")
        column = set_new.group(1).strip("`")
        value = ctx.expression(set_new.group(2))
        where = "rowid = NEW.rowid" + (f" AND ({condition})" if condition else "")
        return [f"UPDATE {q(table.name)} SET {q(column)} = {value} WHERE {where}"]
    signal = _SIGNAL_RE.match(piece)
    if signal:
        message = _unquote(signal.group(2)) if signal.group(2) else \
            "Unhandled user-defined exception condition"
        raise_sql = f"SELECT RAISE(ABORT, {sql_literal('MYSQL_SIGNAL:' + message)})"
        return [raise_sql + (f" WHERE {condition}" if condition else "")]
    branch = _IF_RE.match(piece)
    if branch:
        if condition is not None:
            raise not_supported("nested IF in a trigger")
        test = ctx.expression(branch.group(1))
        out: list[str] = []
        for inner in re.split(r";\s*", branch.group(2).strip()):
            if inner.strip():
                out += _trigger_statement(inner, timing, table, ctx, test)
        return out
    if condition is not None:
        raise not_supported("statements other than SET NEW / SIGNAL inside IF in a trigger")
    if re.match(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", piece, re.IGNORECASE):
        return ctx.trigger_statements(piece)
    raise not_supported(f"this statement in a trigger: {piece.strip()[:40]}")


def drop_trigger(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.accept_seq("IF", "EXISTS")
    db, name = parser.qualified_name()
    _check_database(db, ctx)
    return DdlResult([f"DROP TRIGGER IF EXISTS {q(name)}",
                      schema.delete_statement("trigger", name)])


# ---------------------------------------------------------------- dispatch

_NOT_SUPPORTED_OBJECTS = ("PROCEDURE", "FUNCTION", "EVENT", "USER", "ROLE", "SERVER",
                          "TABLESPACE", "LOGFILE", "SPATIAL", "AGGREGATE", "RESOURCE")


def _create(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    replace = parser.accept_seq("OR", "REPLACE")
    if parser.at("TABLE", "TEMPORARY") and not replace:
        return create_table(parser, ctx)
    if parser.accept("UNIQUE"):
        return create_index(parser, ctx, "UNIQUE")
    if parser.at("INDEX"):
        return create_index(parser, ctx, "INDEX")
    if parser.accept("FULLTEXT"):
        return create_index(parser, ctx, "FULLTEXT")
    _skip_view_attributes(parser)
    if parser.at("VIEW"):
        return create_view(parser, ctx, replace)
    if parser.at("TRIGGER"):
        return create_trigger(parser, ctx, original)
    if parser.at("PROCEDURE", "FUNCTION") and not replace:  # stored routines (sql/routines/)
        return DdlResult(routine_ddl.create_statements(original, ctx.database, ctx))
    if parser.at(*_NOT_SUPPORTED_OBJECTS):
        raise not_supported(f"CREATE {parser.token.upper}")
    parser.fail()
    return DdlResult([])


def _alter(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    if parser.at("TABLE", "ONLINE", "OFFLINE", "IGNORE"):
        return alter_table(parser, ctx)
    _skip_view_attributes(parser)
    if parser.at("VIEW"):
        return create_view(parser, ctx, True)
    raise not_supported(f"ALTER {parser.token.upper}")


def _drop(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    if parser.at("TABLE", "TABLES", "TEMPORARY"):
        return drop_table(parser, ctx)
    if parser.accept("VIEW"):
        return drop_view(parser, ctx)
    if parser.accept("INDEX"):
        return drop_index(parser, ctx)
    if parser.accept("TRIGGER"):
        return drop_trigger(parser, ctx)
    if parser.at("PROCEDURE", "FUNCTION"):
        return DdlResult(routine_ddl.drop_statements(original, ctx.database))
    if parser.at(*_NOT_SUPPORTED_OBJECTS):
        word = parser.token.upper
        parser.pos += 1
        if parser.accept_seq("IF", "EXISTS"):
            return DdlResult([])  # nothing of that kind can exist here
        raise not_supported(f"DROP {word}")
    parser.fail()
    return DdlResult([])


_DDL_HEADS: dict[str, Callable[[DdlParser, DdlContext, str], DdlResult]] = {
    "CREATE": _create, "ALTER": _alter, "DROP": _drop,
    "RENAME": lambda p, c, o: rename_table(p, c),
    "TRUNCATE": lambda p, c, o: truncate_table(p, c),
}
DDL_HEADS = frozenset(_DDL_HEADS)


def translate_ddl(sql: str, ctx: DdlContext) -> DdlResult:
    """One MySQL DDL statement -> SQLite statements (schema + bookkeeping), in order."""
    parser = DdlParser(sql)
    parser.database = ctx.database
    head = parser.token.upper
    handler = _DDL_HEADS.get(head)
    if handler is None:
        parser.fail()
    parser.pos += 1
    return handler(parser, ctx, sql)  # type: ignore[misc]
