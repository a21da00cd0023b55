"""Table options (``ENGINE=…``, ``DEFAULT CHARSET=…``, ``COMMENT=…``, ``AUTO_INCREMENT=…``
and the options MySQL keeps and shows back, schema.SHOWN_TABLE_OPTIONS). Options SQLite cannot
honour are refused with 1235 (DATA DIRECTORY, UNION=, partitioning); MariaDB-only words are 1064
as in MySQL 8.
"""

from __future__ import annotations

from collections.abc import Callable

from marmotdb import errors
from marmotdb.sql.catalog.charsets import collation_named
from marmotdb.sql.definition.partitioning import parse_partitioning
from marmotdb.errors import not_supported
from marmotdb.sql import schema
from marmotdb.sql.schema import TableDef, quote_string
from marmotdb.sql.definition.columns import (
    canonical_charset,
    canonical_collation,
    default_collation,
    utf8mb3_comment,
)
from marmotdb.sql.definition.cursor import DdlParser


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
            set_table_charset(table, parser.option_value())
        elif parser.accept_seq("DEFAULT", "COLLATE") or parser.accept("COLLATE"):
            set_table_collation(table, parser.option_value())
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
        elif parser.accept("PARTITION"):
            parse_partitioning(parser, table)
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


def set_table_charset(table: TableDef, charset: str) -> None:
    table.charset = canonical_charset(charset)
    table.collation = default_collation(table.charset)


def set_table_collation(table: TableDef, name: str) -> None:
    """COLLATE=…: the table's character set is the collation's (MySQL)."""
    table.collation = canonical_collation(name)
    found = collation_named(table.collation)
    if found is not None:
        table.charset = found.charset
