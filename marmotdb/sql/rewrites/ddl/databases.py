"""ALTER DATABASE, and the options of CREATE DATABASE: a database's default character set and
collation.

They are kept as the database's own ``__marmot_schema`` row (kind ``database``,
``schema.database_charset_statement``), written by the DDL like every bookkeeping row, so it
replicates, replays and survives restarts with the database's file. CREATE DATABASE makes the
file (the session's, cluster-wide by ddl/database_records.py) and then runs its options as
this ALTER DATABASE. Readers: the catalog (SHOW CREATE DATABASE, INFORMATION_SCHEMA.SCHEMATA),
USE (``character_set_database`` / ``collation_database``), CREATE TABLE (the default of a table
that names none, MySQL's rule) and the views, triggers and routines created there (their
``Database Collation``). A database without the row has MySQL 8's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql import schema
from marmotdb.sql.catalog.charsets import charset_named, collation_named
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.rewrites.ddl.context import DdlContext, DdlResult, check_database


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    """What CREATE/ALTER DATABASE names: a character set, a collation (None: not named)."""

    charset: str | None = None
    collation: str | None = None

    @property
    def empty(self) -> bool:
        return self.charset is None and self.collation is None

    def resolved(self) -> tuple[str, str]:
        """(character set, collation) they make the database's, checked as MySQL does: an
        unknown character set is 1115, an unknown collation 1273, a collation of another
        character set 1253; the one not named follows the other."""
        charset = collation = None
        if self.charset is not None:
            charset = charset_named(self.charset)
            if charset is None:
                raise errors.error(errors.ER_UNKNOWN_CHARACTER_SET,
                                   f"Unknown character set: '{self.charset}'")
        if self.collation is not None:
            collation = collation_named(self.collation)
            if collation is None:
                raise errors.error(errors.ER_UNKNOWN_COLLATION,
                                   f"Unknown collation: '{self.collation}'")
        if charset is not None and collation is not None and collation.charset != charset.name:
            raise errors.error(errors.ER_COLLATION_CHARSET_MISMATCH, f"COLLATION "
                               f"'{collation.name}' is not valid for CHARACTER SET "
                               f"'{charset.name}'")
        if collation is not None:
            return collation.charset, collation.name
        assert charset is not None
        return charset.name, charset.default_collation


def parse_database_options(parser: DdlParser) -> DatabaseOptions:
    """``[DEFAULT] CHARACTER SET|CHARSET [=] x``, ``[DEFAULT] COLLATE [=] y``, ``[DEFAULT]
    ENCRYPTION [=] 'N'`` in any order, up to the end of the statement (1064 otherwise);
    ENCRYPTION 'Y' and READ ONLY are refused by name (1235)."""
    charset = collation = None
    while not parser.done():
        parser.accept("DEFAULT")
        if parser.accept("CHARSET") or parser.accept_seq("CHARACTER", "SET"):
            charset = _value(parser)
        elif parser.accept("COLLATE"):
            collation = _value(parser)
        elif parser.accept("ENCRYPTION"):
            if _value(parser).upper() != "N":
                raise not_supported("ENCRYPTION='Y' (a database's file is not encrypted)")
        elif parser.at("READ"):
            raise not_supported("READ ONLY databases")
        else:
            parser.fail()
    return DatabaseOptions(charset, collation)


def _value(parser: DdlParser) -> str:
    parser.accept_op("=")
    return parser.string() if parser.token.kind == "str" else parser.identifier()


def alter_database(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    """``ALTER {DATABASE|SCHEMA} [name] options`` (the session runs it in that database)."""
    parser.expect("DATABASE", "SCHEMA")
    if not parser.at("DEFAULT", "CHARSET", "CHARACTER", "COLLATE", "ENCRYPTION", "READ") or \
            parser.token.kind != "word":
        check_database(parser.identifier(), ctx)
    if parser.done():
        parser.fail()
    if not ctx.database:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    options = parse_database_options(parser)
    if options.empty:  # ENCRYPTION='N' alone: nothing to keep
        return DdlResult([])
    return DdlResult([schema.database_charset_statement(*options.resolved())])
