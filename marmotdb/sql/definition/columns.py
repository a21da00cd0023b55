"""Column definitions: a type, its attributes (NULL, DEFAULT, AUTO_INCREMENT, ON UPDATE,
GENERATED, COMMENT, CHARACTER SET, COLLATE, inline keys, REFERENCES) and the rules MySQL applies
to one column (implicit NOT NULL of AUTO_INCREMENT, DECIMAL limits, a default the type cannot
hold: 1067, 1101). Attributes are a table keyed by their first word. ``parse_column`` serves
CREATE TABLE and ALTER TABLE's ADD / MODIFY / CHANGE alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from marmotdb import errors
from marmotdb.sql.catalog.charsets import charset_named, collation_named
from marmotdb.errors import not_supported
from marmotdb.sql.schema import ColumnDef, ForeignKeyDef
from marmotdb.sql.types import coltypes
from marmotdb.sql.types.coltypes import MySqlType
from marmotdb.sql.definition.cursor import DdlParser, unquote


_ACTIONS = ("RESTRICT", "CASCADE", "SET NULL", "NO ACTION", "SET DEFAULT")
_NOW_WORDS = ("CURRENT_TIMESTAMP", "NOW", "LOCALTIME", "LOCALTIMESTAMP")


def canonical_charset(name: str) -> str:
    """A character set's name as MySQL 8 shows it (``utf8`` is ``utf8mb3``)."""
    found = charset_named(name)
    return found.name if found is not None else name.lower()


def canonical_collation(name: str) -> str:
    """A collation's name as MySQL 8 shows it (``utf8_bin`` is ``utf8mb3_bin``)."""
    found = collation_named(name)
    return found.name if found is not None else name.lower()


def default_collation(charset: str) -> str:
    """The collation a character set gets when none is named."""
    found = charset_named(charset)
    return found.default_collation if found is not None else f"{charset.lower()}_general_ci"


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


def parse_default(parser: DdlParser, column: ColumnDef) -> None:
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
        return unquote(token.text)
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


_NATIONAL = ("NATIONAL", "NCHAR", "NVARCHAR")


def parse_column(parser: DdlParser) -> ParsedColumn:
    name = parser.identifier()
    type_text = parse_type_text(parser)
    parsed = ParsedColumn(ColumnDef(name=name, type=coltypes.parse_type(type_text)))
    if type_text.split(" ", 1)[0].split("(", 1)[0].upper() in _NATIONAL:
        parsed.column.charset = "utf8mb3"  # MySQL 8's national character set
    if type_text.upper() == "SERIAL":  # BIGINT UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE
        parsed.column.type = coltypes.parse_type("bigint unsigned")
        _attr_serial_value(parsed)
    while not (parser.at_op(",") or parser.at_op(")") or parser.token.kind == "end"
               or parser.at_op(";") or parser.at("FIRST", "AFTER")):
        _column_attribute(parser, parsed)
    if parser.accept("FIRST"):
        parsed.position = ("FIRST", None)
    elif parser.accept("AFTER"):
        parsed.position = ("AFTER", parser.identifier())
    finish_column(parsed.column)
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
    parse_default(parser, parsed.column)


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
    parsed.column.collation = canonical_collation(parser.identifier())
    parsed.column.type = with_collation(parsed.column.type, parsed.column.collation)


def _attr_charset(parser: DdlParser, parsed: ParsedColumn) -> None:
    if parser.token.upper == "SET":
        parser.pos += 1
    parser.accept_op("=")
    charset = canonical_charset(parser.identifier())
    parsed.column.charset = charset
    if charset == "binary":
        parsed.column.type = with_collation(parsed.column.type, "binary")


def with_collation(t: MySqlType, collation: str) -> MySqlType:
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
    parsed.reference = references(parser, [parsed.column.name], "")


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
    _attr_serial_value(parsed)


def _attr_serial_value(parsed: ParsedColumn) -> None:
    """SERIAL DEFAULT VALUE (and the SERIAL type): NOT NULL AUTO_INCREMENT UNIQUE."""
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


def finish_column(column: ColumnDef) -> None:
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


def references(parser: DdlParser, columns: list[str], name: str) -> ForeignKeyDef:
    database, table = parser.qualified_name()
    ref_columns = name_list(parser) if parser.at_op("(") else []
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


def name_list(parser: DdlParser) -> list[str]:
    parser.expect_op("(")
    names = [parser.identifier()]
    while parser.accept_op(","):
        names.append(parser.identifier())
    parser.expect_op(")")
    return names
