"""MySQL statement -> SQLite statements: the one entry point of the SQL translation layer.

Theory of operation
-------------------
``translate(sql, schema)`` takes one MySQL statement (text protocol) and returns a
``Translation`` (SQLite SQL to run, what it is, what it writes) plus the parameters to bind.

1. ``shape.normalise`` lifts literals out (``:p0, :p1 …``); the shape plus the schema key is the
   cache key, so a hit costs one regex pass and one dict lookup.
2. On a miss the shape is parsed by sqlglot's MySQL parser (after MySQL function names that
   marmotdb implements itself are renamed ``MYSQL_<NAME>``, see ``functions.py``), the tables of
   small named rewrites in ``rewrites.py`` / ``rewrites_dml.py`` run over the AST, and sqlglot's
   SQLite generator writes the result.
3. A shape is only cached if every placeholder survived to a place where SQLite accepts a bound
   value and no result-column name depends on a literal; otherwise the statement is translated
   from its literal text and cached under that text (``SELECT 1``, ``ORDER BY 2``).
4. DDL is never shape-cached: ``rewrites_ddl.py`` turns it into SQLite DDL plus the writes to
   the ``__marmot_schema`` table (``schema.py``), all to run in one SQLite transaction.

Translations of DML depend on the target table's columns (value coercion for strict mode,
DEFAULT / ON UPDATE CURRENT_TIMESTAMP, ``INSERT`` without a column list), so the cache key
includes ``SchemaView.schema_key()``, which must change whenever a table definition may have
changed.

Anything marmotdb cannot translate faithfully raises ``NotSupportedError`` (1235) naming the
construct; a statement sqlglot cannot parse raises ``SqlError`` 1064.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Hashable, Protocol


class Kind(enum.Enum):
    SELECT = "select"
    INSERT = "insert"
    REPLACE = "replace"
    UPDATE = "update"
    DELETE = "delete"
    DDL = "ddl"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Translation:
    """What the executor runs for one MySQL statement.

    ``statements``: SQLite SQL in order, parameters named ``:p0, :p1 …`` (every statement may be
    bound with the same dict: SQLite ignores names a statement does not use).
    ``returns_rows``: the LAST statement produces the client's result set.
    ``tables``: tables written (DML) or created/changed/dropped (DDL), lower-case.
    ``upsert``: INSERT … ON DUPLICATE KEY UPDATE (MySQL counts an updated row as 2 affected).
    ``insert_ignore``: INSERT IGNORE (errors became warnings).
    ``calc_found_rows`` / ``found_rows_sql``: SQL_CALC_FOUND_ROWS; run ``found_rows_sql`` (same
    params) after the SELECT and remember its single value for FOUND_ROWS().
    ``auto_increment``: the INSERT target has an AUTO_INCREMENT column (the SQLite rowid alias):
    after a row is inserted, ``last_insert_rowid()`` is its value.
    ``foreign_keys_off``: the statements rebuild a table; run them with ``PRAGMA foreign_keys``
    OFF (set before BEGIN, restored after COMMIT) and ``PRAGMA foreign_key_check`` at the end.
    ``schema_changed``: DDL that changes table definitions (bump the schema key / drop caches).
    """

    kind: Kind
    statements: tuple[str, ...]
    returns_rows: bool
    tables: tuple[str, ...] = ()
    upsert: bool = False
    insert_ignore: bool = False
    calc_found_rows: bool = False
    found_rows_sql: str | None = None
    auto_increment: bool = False
    foreign_keys_off: bool = False
    schema_changed: bool = False


class SchemaView(Protocol):
    """The current database's schema, implemented by the executor over its APSW connection."""

    database: str  # current database name ('' if none); qualifiers equal to it are dropped

    def table_sql(self, table: str) -> str | None:
        """``sqlite_schema.sql`` of the table or view, None if it does not exist."""

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        """(name, declared type) in table order (``PRAGMA table_info``), None if no table."""

    def mysql_ddl(self, table: str) -> str | None:
        """The MySQL CREATE TABLE text kept in ``__marmot_schema`` (``schema.mysql_ddl``)."""

    def schema_key(self) -> Hashable:
        """Changes whenever any table definition may have changed, e.g. (database name,
        database incarnation, ``PRAGMA schema_version``). Part of the translation cache key."""


def translate(sql: str, schema: SchemaView) -> tuple[Translation, dict[str, object]]:
    """One MySQL DML/SELECT/DDL statement (text protocol) -> translation + bound literal params.

    Uses the shape cache for DML/SELECT (literals -> :pN). Raises MarmotError subclasses
    (SqlError 1064 for syntax, NotSupportedError 1235 naming the construct, ...)."""
    raise NotImplementedError


def translate_prepared(sql: str, schema: SchemaView) -> tuple[Translation, int]:
    """For COM_STMT_PREPARE: '?' markers become :p0..:pN-1 in marker order; returns the count."""
    raise NotImplementedError
