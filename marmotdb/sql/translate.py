"""MySQL statement -> SQLite statements: the one entry point of the SQL translation layer.

Theory of operation
-------------------
``translate(sql, schema)`` takes one MySQL statement (text protocol) and returns a
``Translation`` (SQLite SQL to run, what it is, what it writes) plus the parameters to bind.

1. ``shape.normalise`` lifts literals out (``:p0, :p1 …``); the shape plus
   ``SchemaView.schema_key()`` is the cache key, so a hit costs one regex pass and one dict
   lookup.
2. On a miss the shape is parsed by sqlglot's MySQL parser (after MySQL function names that
   marmotdb implements itself are renamed ``MYSQL_<NAME>``, see ``functions.py``), the
   expression rewrites of ``rewrites.py`` and the statement rewrites of ``rewrites_dml.py``
   run over the AST, set operations are put in SQLite's compound-SELECT grammar
   (``rewrites_setop.py``), and sqlglot's SQLite generator writes the result.
   A long ``IN`` list is one placeholder of the shape (``shape.ValueList``), spliced back
   into the SQLite text as literals when the translation is used (``_bound``): sqlglot never
   sees 100,000 nodes and SQLite never gets 100,000 variables (past its 32,766 it refuses the
   statement).
3. A shape is only cached if every placeholder survived to a place where SQLite accepts a
   bound value (not an ORDER BY ordinal, a type parameter, …) and no result-column name
   depends on a literal (``SELECT 1``); otherwise the statement is translated from its literal
   text and cached under that text. A big statement (literals of more than
   ``BIG_LITERAL_CHARS`` characters, or a long IN list) is not: it is translated from its
   shape with its values still bound, its result columns named from its text (cut to
   ``COLUMN_NAME_CHARS_MAX``, MySQL's alias limit), and not cached; sqlglot never reads the
   big literal.
4. DDL is never shape-cached: ``rewrites/ddl/`` turns it into SQLite DDL plus the writes to
   the ``__marmot_schema`` table (``schema.py``), all to run in one SQLite transaction.

Result-column names follow MySQL: an expression without an alias is named by its text as the
client wrote it (``COUNT(*)``, ``a+1``), so every such projection gets that text as alias.

Anything marmotdb cannot translate faithfully raises ``NotSupportedError`` (1235) naming the
construct; a statement sqlglot cannot parse raises ``SqlError`` 1064.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from marmotdb import errors
from marmotdb.sql import schema, table_maintenance
from marmotdb.sql.definition import cursor as ddl_cursor
from marmotdb.sql.definition.create_table import parse_create_table
from marmotdb.sql.rewrites import ddl as rewrites_ddl
from marmotdb.sql.rewrites.ddl import context as ddl_context, render as ddl_render
from marmotdb.sql.types import coltypes
from marmotdb.sql.functions.json_table import (
    expand_json_tables,
    mentions_json_table,
    rewrite_json_table_columns,
)
from marmotdb.sql.rewrites.expressions import (
    complete_coalesce,
    rename_functions,
    rewrite_expressions,
    unqualify_values_calls,
)
from marmotdb.sql.rewrites.dml import (
    DmlContext,
    DmlResult,
    OtherDatabase,
    only_database,
    qualify_tables,
    rewrite_delete,
    rewrite_insert,
    rewrite_select,
    rewrite_update,
    table_references,
)
from marmotdb.sql.rewrites.setop import shape_set_operations
from marmotdb.sql.rewrites.timestamps import (
    localize_stores,
    refuse_triggers,
    refuse_unconverted,
)
from marmotdb.sql.schema import ColumnDef, TableDef
from marmotdb.sql.text.shape import (
    Shape,
    ShapeCache,
    ValueList,
    normalise,
    sqlite_literal,
    strip_comments,
)
from marmotdb.sql.statement import is_locking_read, lock_wait_option

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "unsupported" warnings are ours

TRANSLATION_CACHE_ENTRIES_MAX = 10_000
MYSQL = Dialect.get_or_raise("mysql")  # looked up once: get_or_raise costs ~50 µs a call
SQLITE = Dialect.get_or_raise("sqlite")
PARAMETER_NAMES = tuple(f"p{i}" for i in range(4096))
BIG_LITERAL_CHARS = 4096  # past this, a literal never goes through sqlglot (see above)
COLUMN_NAME_CHARS_MAX = 256  # MySQL's limit of a column alias / generated name
# SQLite's SQLITE_MAX_VARIABLE_NUMBER (32766 since 3.32): a statement with more lifted values
# gets them back inline (its own literals, typed as bound ones), never "too many variables".
SQLITE_VARIABLES_MAX = 32_766
HEAVY_VALUE_CHARS = 1 << 20  # literals beyond this: run the statement off the event loop


def _named(values: tuple[object, ...]) -> dict[str, object]:
    """Bind values as :p0, :p1 … (bulk INSERTs from mysqldump/sysbench exceed the table).

    A quoted literal holding bytes that are not UTF-8 (mysqldump's blobs, connector-python's
    bytes parameters) arrives as surrogate escapes: it binds as the original bytes."""
    if any(type(v) is str and not v.isascii() and _has_surrogates(v) for v in values):
        values = tuple(v.encode("utf-8", "surrogateescape")
                       if type(v) is str and _has_surrogates(v) else v for v in values)
    if len(values) <= len(PARAMETER_NAMES):
        return dict(zip(PARAMETER_NAMES, values))
    return {f"p{i}": value for i, value in enumerate(values)}


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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
    ``returns_rows``: the LAST statement produces the client's result set. A statement with
    ``returns_rows`` False and no ``statements`` is a no-op answered with OK.
    ``tables``: tables written (DML) or created/changed/dropped (DDL), lower-case.
    ``upsert``: INSERT … ON DUPLICATE KEY UPDATE (MySQL counts an updated row as 2 affected).
    ``insert_ignore``: INSERT IGNORE (errors became warnings).
    ``calc_found_rows`` / ``found_rows_sql``: SQL_CALC_FOUND_ROWS; run ``found_rows_sql`` (same
    params) after the SELECT and remember its single value for FOUND_ROWS().
    ``auto_increment``: the INSERT target has an AUTO_INCREMENT column (the SQLite rowid alias):
    after a row is inserted, ``last_insert_rowid()`` is its value. ``auto_increment_column``
    names it: the INSERT generates ids there with ``MARMOT_AUTO_ID`` (txn/auto_increment.py),
    at most ``auto_increment_max`` (what its integer type holds).
    ``foreign_keys_off``: run these statements with ``PRAGMA foreign_keys`` OFF (set before
    BEGIN, restored after COMMIT; a table rebuild or DROP TABLE must not cascade) and
    ``PRAGMA foreign_key_check`` before committing.
    ``schema_changed``: DDL that changed table definitions (drop cached metadata).
    ``result_decltypes``: for a SELECT, a SQLite declaration per result column (or None) to
    assume where SQLite reports none: the MySQL type of an expression (``SUM(price)`` is
    ``DECIMAL TEXT(32,2)``), see rewrites_decimal.py. Empty: nothing to add.
    ``other_tables``: (database, table) of the tables of other databases the statement reads,
    named ``"database"."table"`` in its SQL: the executor ATTACHes those databases.
    ``home_tables``: the tables (lower-case) it names unqualified, in its home database: on a
    connection with attachments the executor checks they exist there (SQLite would look for
    a missing one in the attached databases).
    ``maintenance``: CHECK/ANALYZE/OPTIMIZE/REPAIR TABLE (table_maintenance.py); as DDL
    (ANALYZE) it needs the privilege to write rows, not admin, and its last statement is the
    result set, not part of the schema change.
    ``reads_catalogue``: the statements read SQLite's pragma functions (CHECK TABLE's
    integrity_check): generated entirely by the translator, they run trusted.
    ``locking_read``: a SELECT with FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE (read from the
    shape, so a long literal is not walked again); ``lock_wait``: its NOWAIT or SKIP LOCKED.
    ``heavy``: a big statement (a long IN list spliced in, values inlined, or literals of more
    than ``HEAVY_VALUE_CHARS``): SQLite's prepare and binding alone take milliseconds, so the
    executor runs it on a worker thread, never on the event loop.
    ``row_by_row``: an UPDATE … ORDER BY. Its two statements are the SELECT of the rowids it
    changes, in MySQL's order, and the UPDATE of one row: the executor runs the second once
    per rowid the first returns, bound as ``:marmot_rowid`` (rewrites/dml.py ``_in_order``).
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
    auto_increment_column: str = ""
    auto_increment_max: int = 0
    foreign_keys_off: bool = False
    schema_changed: bool = False
    result_decltypes: tuple[str | None, ...] = ()
    other_tables: tuple[tuple[str, str], ...] = ()
    home_tables: tuple[str, ...] = ()
    maintenance: bool = False
    reads_catalogue: bool = False
    rows_from: str | None = None  # a MySQL INSERT … SELECT to run after a DDL (DdlResult's)
    heavy: bool = False
    locking_read: bool = False
    lock_wait: str | None = None
    row_by_row: bool = False


class SchemaView(Protocol):
    """The current database's schema, implemented by the executor over its APSW connection.

    Optional members, used when present: ``database`` (str, the current database name:
    qualifiers naming it are dropped), ``schema_key()`` (any hashable value that changes
    whenever a table definition may have changed, e.g. (database, incarnation,
    ``PRAGMA schema_version``); without it every cache hit re-reads the definitions it used),
    ``sqlite_triggers(table)`` (the ``sqlite_schema.sql`` of the table's triggers, which a
    table rebuild re-creates) and ``table_meta(table)`` (``schema.table_meta(conn, table)``:
    the stored definition with its SQLite index names; without it they are re-derived from
    the MySQL DDL, which is wrong for indexes of a renamed table), ``foreign_key_checks``
    (bool, the session's variable: with it on, a FOREIGN KEY to a missing table is 1824;
    assumed on when absent), ``child_tables(table)`` (the names of the tables with a FOREIGN
    KEY to it: with foreign_key_checks on, DROP/TRUNCATE of a parent table is refused),
    ``creation_charsets`` (``schema.CreationCharsets``: the session's character_set_client,
    collation_connection and database collation, which a view, trigger or routine records),
    ``database_charset()`` ((character set, collation) of the database: ``schema.
    database_charset``, the default of a table that names none),
    ``is_temporary(table)`` (a session's temporary table, sql/temporary.py: table
    maintenance keeps no statistics of it), ``sqlite_index_taken(name, table)`` (another
    table's SQLite index has that name: rewrites/ddl/render.py's ``index_sqlite_name``),
    ``foreign_key_owner(name)`` (the table with a FOREIGN KEY of that name: they are unique
    in a database, 1826)."""

    def table_sql(self, table: str) -> str | None:
        """``sqlite_schema.sql`` of the table or view, None if it does not exist."""

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        """(name, declared type) in table order (``PRAGMA table_info``), None if no table."""

    def mysql_ddl(self, table: str) -> str | None:
        """The MySQL CREATE TABLE text kept in ``__marmot_schema`` (``schema.mysql_ddl``)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """A cached translation. ``translation`` None: the shape's names depend on its literals,
    look the literal text up instead. ``dependencies``: (table, its MySQL DDL) the translation
    was built from, checked on a hit when the schema view has no ``schema_key``."""

    translation: Translation | None
    dependencies: tuple[tuple[str, str | None], ...] = ()
    moved: tuple[str, str] | None = None  # the statement's home is another database (db, table)


_CACHE: ShapeCache[Hashable, _Entry] = ShapeCache(TRANSLATION_CACHE_ENTRIES_MAX)


def cache() -> ShapeCache[Hashable, _Entry]:
    """The process-wide translation cache (for metrics and tests)."""
    return _CACHE


# ---------------------------------------------------------------- entry points

def translate(sql: str, schema_view: SchemaView, *, backslash_escapes: bool = True,
              default_database: str | None = None, value_lists: bool = True
              ) -> tuple[Translation, dict[str, object]]:
    """One MySQL DML/SELECT/DDL statement (text protocol) -> translation + bound literal params.

    Uses the shape cache for DML/SELECT (literals -> :pN). ``backslash_escapes=False`` is
    sql_mode NO_BACKSLASH_ESCAPES: it changes how string literals are lexed and valued (the
    lifted values; literals the translator keeps inline are still read by sqlglot with
    escapes). Raises MarmotError subclasses (SqlError 1064 for syntax, NotSupportedError 1235
    naming the construct, ...), and ``OtherDatabase`` when the statement's home is another
    database than the schema view's: it writes a table there, or reads only tables there;
    translate it again with that database's view and ``default_database``, the session's
    current database ('' for none), which unqualified names then mean."""
    shape = normalise(sql, backslash_escapes=backslash_escapes, value_lists=value_lists)
    key_base = _schema_key(schema_view, default_database)
    key = (key_base, shape.text)
    entry = _cached(key, schema_view, key_base)
    if entry is not None:
        if entry.translation is None:
            return _translate_by_text(sql, shape, schema_view, key_base, default_database,
                                      backslash_escapes)
        return _bound_or_again(entry.translation, shape, sql, schema_view, default_database,
                               backslash_escapes)
    head = _head(shape.text)
    if head in rewrites_ddl.DDL_HEADS:
        return _translate_ddl(strip_comments(sql), schema_view, default_database), {}
    translator = _Translator(schema_view, default_database)
    translation = _remembered(key, translator, lambda: translator.statement(
        shape.text, head, expected=len(shape.params)))
    if translation is None:
        return _translate_by_text(sql, shape, schema_view, key_base, default_database,
                                  backslash_escapes)
    return _bound_or_again(translation, shape, sql, schema_view, default_database,
                           backslash_escapes)


def literal_params(sql: str, *, backslash_escapes: bool = True) -> dict[str, object]:
    """The literals of ``sql`` as ``translate(…, value_lists=False)`` binds them (:p0, …):
    for a tree the translator raised with its placeholders (``MultipleTargets``)."""
    return _named(normalise(sql, backslash_escapes=backslash_escapes, value_lists=False).params)


def _bound_or_again(translation: Translation, shape: Shape, sql: str, schema_view: SchemaView,
                    default_database: str | None, backslash_escapes: bool
                    ) -> tuple[Translation, dict[str, object]]:
    bound = _bound(translation, shape.params)
    if bound is not None:
        return bound
    # A long IN list's placeholder did not stay a plain IN list (a rewrite wrapped it):
    # the statement is translated again with one placeholder per value.
    return translate(sql, schema_view, backslash_escapes=backslash_escapes,
                     default_database=default_database, value_lists=False)


def _bound(translation: Translation, params: tuple[object, ...]
           ) -> tuple[Translation, dict[str, object]] | None:
    """The translation with its long IN lists spliced in, and the parameters to bind; None if
    a list's placeholder is somewhere else than alone in an ``IN (…)``."""
    lists = {index: value for index, value in enumerate(params) if type(value) is ValueList}
    if len(params) > SQLITE_VARIABLES_MAX:
        return _inlined(translation, params, lists)
    if not lists:
        if sum(len(v) for v in params if type(v) is str or type(v) is bytes) \
                > HEAVY_VALUE_CHARS:
            translation = replace(translation, heavy=True)
        return translation, _named(params)
    statements = [_spliced(statement, lists) for statement in translation.statements]
    found_rows = translation.found_rows_sql
    if found_rows is not None:
        found_rows = _spliced(found_rows, lists)
    if None in statements or (translation.found_rows_sql is not None and found_rows is None):
        return None
    values = tuple(None if type(value) is ValueList else value for value in params)
    return (replace(translation, statements=tuple(statements), found_rows_sql=found_rows,
                    heavy=True), _named(values))


_PLACEHOLDER = re.compile(r":p(\d+)\b")


def _inlined(translation: Translation, params: tuple[object, ...],
             lists: dict[int, ValueList]) -> tuple[Translation, dict[str, object]] | None:
    """Every value back in the text as a literal (more than SQLite may bind)."""
    values = tuple(v.encode("utf-8", "surrogateescape")
                   if type(v) is str and not v.isascii() and _has_surrogates(v) else v
                   for v in params)
    texts = [None if index in lists else sqlite_literal(value)
             for index, value in enumerate(values)]

    def inline(statement: str | None) -> str | None:
        if statement is None:
            return None
        spliced = _spliced(statement, lists)
        if spliced is None:
            return None
        return _PLACEHOLDER.sub(lambda m: texts[int(m.group(1))] or m.group(), spliced)

    statements = [inline(statement) for statement in translation.statements]
    found_rows = inline(translation.found_rows_sql)
    if None in statements or (translation.found_rows_sql is not None and found_rows is None):
        return None
    return replace(translation, statements=tuple(statements), found_rows_sql=found_rows,
                   heavy=True), {}


def _spliced(statement: str, lists: dict[int, ValueList]) -> str | None:
    for index, value in lists.items():
        alone = f"IN (:p{index})"
        if statement.count(alone) != len(re.findall(rf":p{index}\b", statement)):
            return None
        statement = statement.replace(alone, f"IN ({value.sql})")
    return statement


def _big(shape: Shape) -> bool:
    return sum(map(len, shape.literals)) > BIG_LITERAL_CHARS or \
        any(type(value) is ValueList for value in shape.params)


def _translate_by_text(sql: str, shape: Shape, schema_view: SchemaView, key_base: Hashable,
                       default_database: str | None, backslash_escapes: bool
                       ) -> tuple[Translation, dict[str, object]]:
    """A statement whose result-column names depend on its literals: from its literal text
    (cached under it), or for a big one from its shape with names from its text (uncached);
    so too one with a backslash under NO_BACKSLASH_ESCAPES (the literal text would be read
    with backslash escapes)."""
    if _big(shape) or (not backslash_escapes and "\\" in sql):
        translator = _Translator(schema_view, default_database)
        translation = translator.statement(shape.text, _head(shape.text),
                                           expected=len(shape.params),
                                           names_literals=shape.literals)
        if translation is not None:
            return _bound_or_again(translation, shape, sql, schema_view, default_database,
                                   backslash_escapes)
    return _translate_literal(sql, schema_view, key_base, default_database), {}


def translate_prepared(sql: str, schema_view: SchemaView, default_database: str | None = None
                       ) -> tuple[Translation, int]:
    """For COM_STMT_PREPARE: '?' markers become :p0..:pN-1 in marker order; returns the count.
    ``OtherDatabase`` and ``default_database`` as for ``translate``."""
    shape = normalise(sql, prepared=True)
    if shape.markers > SQLITE_VARIABLES_MAX:  # MySQL's own bound is 65,535
        raise errors.error(errors.ER_PS_MANY_PARAM,
                           "Prepared statement contains too many placeholders")
    key_base = _schema_key(schema_view, default_database)
    key = (key_base, "PREPARED", shape.text)
    entry = _cached(key, schema_view, key_base)
    if entry is not None and entry.translation is not None:
        return entry.translation, shape.markers
    head = _head(shape.text)
    if head in rewrites_ddl.DDL_HEADS:
        if shape.markers:
            raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't "
                               "yet support 'parameter markers in DDL'")
        return _translate_ddl(shape.text, schema_view), 0
    translator = _Translator(schema_view, default_database)
    translation = _remembered(key, translator, lambda: translator.statement(
        shape.text, head, expected=shape.markers, prepared=True))
    if translation is None:
        raise errors.error(errors.ER_PARSE_ERROR, "Cannot prepare this statement")
    return translation, shape.markers


def table_definitions(schema_view: SchemaView) -> Callable[[str], TableDef | None]:
    """The MySQL definition of a table by name, as the translator reads it (for EXPLAIN)."""
    return _Translator(schema_view).table_def


def _translate_literal(sql: str, schema_view: SchemaView, key_base: Hashable,
                       default_database: str | None) -> Translation:
    key = (key_base, "LITERAL", sql)  # the raw text: a hit needs no second scan
    entry = _cached(key, schema_view, key_base)
    if entry is not None and entry.translation is not None:
        return entry.translation
    text = strip_comments(sql)
    translator = _Translator(schema_view, default_database)
    translation = _remembered(key, translator, lambda: translator.statement(
        text, _head(text), expected=0, literal=True))
    assert translation is not None
    return translation


def _cached(key: Hashable, schema_view: SchemaView, key_base: Hashable) -> _Entry | None:
    """The fresh cache entry for ``key``; a remembered move to another database is raised."""
    entry = _CACHE.get(key)
    if entry is None or not _fresh(entry, schema_view, key_base):
        return None
    if entry.moved is not None:
        raise OtherDatabase(*entry.moved)
    return entry


def _remembered(key: Hashable, translator: _Translator,
                run: Callable[[], Translation | None]) -> Translation | None:
    """Run one translation and cache its result, or its move to another database."""
    try:
        translation = run()
    except OtherDatabase as moved:
        _CACHE.put(key, _Entry(None, translator.dependencies(), (moved.database, moved.table)))
        raise
    _CACHE.put(key, _Entry(translation, translator.dependencies()))
    return translation


def _translate_ddl(sql: str, schema_view: SchemaView, default_database: str | None = None
                   ) -> Translation:
    """``default_database``: the session's current database ('' for none) when the DDL runs
    in another one; what the unqualified names of a CREATE TABLE … SELECT mean there."""
    translator = _Translator(schema_view, movable=False)
    translator.ddl_default_database = default_database
    result = rewrites_ddl.translate_ddl(sql, translator)
    if result.temporary:  # only the session's temporary-table path may run one
        raise rewrites_not_supported("CREATE TEMPORARY TABLE here")
    _CACHE.clear()  # any cached DML may depend on what changed
    return _ddl_translation(result)


def translate_temporary_ddl(sql: str, schema_view: SchemaView) -> Translation:
    """A DDL about a session's temporary table (sql/temporary.py). The cache is kept (what was
    translated with temporary tables in view is keyed by them, and this DDL changes them),
    and the DDL itself is cached by text and schema key: a test suite creates and drops the
    same temporary table again and again."""
    key = (_schema_key(schema_view), "TEMPORARY DDL", sql)
    entry = _cached(key, schema_view, key[0])
    if entry is not None and entry.translation is not None:
        return entry.translation
    translator = _Translator(schema_view, movable=False)
    translation = _ddl_translation(rewrites_ddl.translate_ddl(strip_comments(sql), translator))
    _CACHE.put(key, _Entry(translation, translator.dependencies()))
    return translation


def _ddl_translation(result: ddl_context.DdlResult) -> Translation:
    return Translation(Kind.DDL, tuple(result.statements), False, tables=result.tables,
                       foreign_keys_off=result.foreign_keys_off, schema_changed=True,
                       other_tables=result.reads, rows_from=result.rows_from)


def _schema_key(schema_view: SchemaView, default_database: str | None = None) -> Hashable:
    method = getattr(schema_view, "schema_key", None)
    key = method() if method is not None else None
    if _timestamps_local(schema_view):  # translated apart (rewrites/timestamps.py)
        key = (key, "LOCAL TIMESTAMPS")
    return key if default_database is None else (key, "FROM", default_database)


def _timestamps_local(schema_view: SchemaView) -> bool:
    """The session's time zone is not UTC: its TIMESTAMP columns are converted."""
    return bool(getattr(schema_view, "timestamps_local", False))


def _fresh(entry: _Entry, schema_view: SchemaView, key_base: Hashable) -> bool:
    if key_base is not None or not entry.dependencies:
        return True
    return all(schema_view.mysql_ddl(name) == ddl for name, ddl in entry.dependencies)


_HEAD_RE = re.compile(r"^[\s(]*([A-Za-z]+)")


def _head(text: str) -> str:
    found = _HEAD_RE.match(text)
    return found.group(1).upper() if found else ""


# ---------------------------------------------------------------- one translation

_REFERENCES_RE = re.compile(r'\bREFERENCES\s+"((?:[^"]|"")*)"', re.IGNORECASE)
_INTO_FILE_RE = re.compile(r"\bINTO\s+(?:OUTFILE|DUMPFILE|@)", re.IGNORECASE)
_MODIFIERS_RE = re.compile(
    r"^(\s*(INSERT|UPDATE|DELETE|REPLACE))((?:\s+(?:LOW_PRIORITY|QUICK|DELAYED|HIGH_PRIORITY"
    r"|IGNORE))+)\b", re.IGNORECASE)


class _Translator:
    """Translates one statement; also the DdlContext and the DML table loader."""

    def __init__(self, schema_view: SchemaView, default_database: str | None = None,
                 movable: bool = True):
        self.view = schema_view
        self.database = str(getattr(schema_view, "database", "") or "")
        self.default_database = default_database  # what unqualified names mean, if not home
        self.movable = movable  # may find its home elsewhere (OtherDatabase); not in a DDL
        self._used: dict[str, str | None] = {}
        self._defs: dict[str, TableDef | None] = {}
        self._typed_results = True  # False while translating the SELECT of a view / CTAS
        self._in_trigger = False  # translating a trigger's body: SQL that SQLite runs itself
        self.ddl_default_database: str | None = None  # (rewrites/ddl/context.py DdlContext)

    def dependencies(self) -> tuple[tuple[str, str | None], ...]:
        return tuple(self._used.items())

    # -------------------------------------------------------------- schema access
    def table_def(self, name: str) -> TableDef | None:
        key = name.lower()
        if key in self._defs:
            return self._defs[key]
        ddl = self.view.mysql_ddl(name)
        self._used[key] = ddl
        table = self._stored(name) if ddl else self._from_sqlite(name)
        self._defs[key] = table
        return table

    def _stored(self, name: str) -> TableDef:
        """The stored definition: from ``table_meta`` when the view offers it (it keeps the
        SQLite index names, which survive RENAME TABLE), else re-read from the MySQL DDL."""
        method = getattr(self.view, "table_meta", None)
        meta = method(name) if method is not None else None
        if meta is not None:
            table = schema.table_def_from_dict(meta)
        else:
            ddl = self.view.mysql_ddl(name)
            assert ddl is not None
            table = parse_create_table(ddl)
        if table.foreign_keys:
            self._follow_renamed_parents(table)
        return table

    def _follow_renamed_parents(self, table: TableDef) -> None:
        """RENAME TABLE of a parent renames it in SQLite's FOREIGN KEY clauses, not in this
        child's stored definition: take the parent names from SQLite's (same order)."""
        sql = self.view.table_sql(table.name) or ""
        parents = [n.replace('""', '"') for n in _REFERENCES_RE.findall(sql)]
        local = [fk for fk in table.foreign_keys if not fk.ref_database]  # in SQLite's DDL
        if len(parents) == len(local):
            for fk, parent in zip(local, parents):
                fk.ref_table = parent

    def _from_sqlite(self, name: str) -> TableDef | None:
        """A table marmotdb did not create: its MySQL shape guessed from SQLite's columns."""
        sql = self.view.table_sql(name)
        if sql is None or sql.lstrip().upper().startswith("CREATE VIEW"):
            return None
        columns = self.view.columns(name) or []
        defs = [ColumnDef(n, coltypes.from_decltype(d) or _affinity_type(d)) for n, d in columns]
        return TableDef(name=name, columns=defs)

    def column_names(self, name: str) -> list[str] | None:
        table = self.table_def(name)
        return [c.name for c in table.columns] if table is not None else None

    def child_tables(self, name: str) -> list[TableDef]:
        """The definitions of the tables with a FOREIGN KEY to ``name`` (SchemaView's optional
        ``child_tables``; none known without it)."""
        method = getattr(self.view, "child_tables", None)
        children = method(name) if method is not None else []
        return [d for c in children if (d := self.table_def(c)) is not None]

    def exists(self, name: str) -> bool:
        return self.view.table_sql(name) is not None

    def foreign_key_owner(self, name: str) -> str | None:
        """The table with a FOREIGN KEY called ``name`` (SchemaView's optional
        ``foreign_key_owner``; none known without it)."""
        method = getattr(self.view, "foreign_key_owner", None)
        return method(name) if method is not None else None

    def sqlite_index_taken(self, name: str, table: str) -> bool:
        """Whether another table than ``table`` has a SQLite index ``name`` (SchemaView's
        optional ``sqlite_index_taken``; never, without it)."""
        method = getattr(self.view, "sqlite_index_taken", None)
        return method is not None and bool(method(name, table))

    def other_table_def(self, database: str, name: str) -> TableDef | None:
        """A table of another database (SchemaView's optional ``other_table_def``)."""
        method = getattr(self.view, "other_table_def", None)
        return method(database, name) if method is not None else None

    def children_elsewhere(self, name: str) -> list[tuple[str, str, Any]]:
        """(database, table, FOREIGN KEY) of other databases' keys to ``name`` (SchemaView's
        optional ``children_elsewhere``)."""
        method = getattr(self.view, "children_elsewhere", None)
        return list(method(name)) if method is not None else []

    @property
    def foreign_key_checks(self) -> bool:
        """The session's foreign_key_checks (SchemaView's optional ``foreign_key_checks``;
        MySQL's default, on, without it)."""
        return bool(getattr(self.view, "foreign_key_checks", True))

    @property
    def creation_charsets(self) -> schema.CreationCharsets:
        """What a view, trigger or routine created now records (SchemaView's optional
        ``creation_charsets``, the session's; MySQL 8's defaults without it) with this
        database's collation."""
        session = getattr(self.view, "creation_charsets", None) or schema.CreationCharsets()
        return dataclasses.replace(session, database=self.database_charset[1])

    @property
    def database_charset(self) -> tuple[str, str]:
        """(character set, collation) of the database (SchemaView's optional
        ``database_charset()``; MySQL 8's defaults without it)."""
        method = getattr(self.view, "database_charset", None)
        return method() if method is not None else (schema.DEFAULT_CHARSET,
                                                     schema.DEFAULT_COLLATION)

    def is_temporary(self, name: str) -> bool:
        """A session's temporary table (SchemaView's optional ``is_temporary``)."""
        method = getattr(self.view, "is_temporary", None)
        return method is not None and bool(method(name))

    def home_of(self, names: Sequence[tuple[str | None, str]]) -> str:
        """The one database the (database or None, table) ``names`` of a statement without
        a query are in (table maintenance): the view's, else another one (``OtherDatabase``:
        the executor translates it there). 1046 for an unqualified name without a database,
        1235 for names in several databases."""
        default = self.database if self.default_database is None else self.default_database
        found = {(database or default).lower() for database, _ in names}
        if "" in found:
            raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
        if len(found) > 1:
            raise rewrites_not_supported("table maintenance of tables of several databases")
        home = found.pop()
        if home != self.database.lower():
            if not self.movable:
                raise rewrites_not_supported("table maintenance of a table of another database here")
            raise OtherDatabase(home, names[0][1])
        return home

    def is_view(self, name: str) -> bool:
        sql = self.view.table_sql(name)
        return sql is not None and sql.lstrip().upper().startswith("CREATE VIEW")

    def sqlite_triggers(self, table: str) -> list[str] | None:
        """None when the schema view cannot list them (the rebuild then refuses to run on a
        table that has triggers rather than lose them)."""
        method = getattr(self.view, "sqlite_triggers", None)
        return list(method(table)) if method is not None else None

    # -------------------------------------------------------------- DdlContext
    def expression(self, mysql_expression: str) -> str:
        return SQLITE.generate(parse_expression(mysql_expression), identify=True)

    def select(self, mysql_select: str) -> str:
        self._typed_results = False
        try:
            translation = self.statement(mysql_select, _head(mysql_select), expected=0,
                                         literal=True)
        finally:
            self._typed_results = True
        assert translation is not None
        return translation.statements[-1]

    def trigger_statements(self, mysql_statement: str) -> list[str]:
        self._in_trigger = True
        try:
            translation = self.statement(mysql_statement, _head(mysql_statement), expected=0,
                                         literal=True)
        finally:
            self._in_trigger = False
        assert translation is not None
        return list(translation.statements)

    # -------------------------------------------------------------- statements
    def statement(self, text: str, head: str, *, expected: int, literal: bool = False,
                  prepared: bool = False, names_literals: tuple[str, ...] | None = None
                  ) -> Translation | None:
        """``names_literals``: the text of the values ``text`` (a shape) has as placeholders,
        to name result columns from as MySQL does (read only as far as a name reaches: a big
        statement's text is never walked again)."""
        handler = _OTHER_STATEMENTS.get(head)
        if handler is not None:
            return handler(self, text)
        if _INTO_FILE_RE.search(text):
            raise rewrites_not_supported("SELECT … INTO OUTFILE/DUMPFILE/@variable")
        if not (literal or prepared) and mentions_json_table(text):
            return None  # JSON_TABLE's paths are read at translation: keep literals inline
        locking = is_locking_read(text)  # on the shape: short whatever the literals
        lock_wait = lock_wait_option(text) if locking else None
        flags: set[str] = set()
        text, replace = _normalise_head(text, flags)
        tree = self._parse(text)
        if isinstance(tree, exp.Command):
            raise rewrites_not_supported(text)
        self._place(tree)
        rewrite_json_table_columns(tree)
        rewrite_expressions(tree)
        kind, result = self._rewrite(tree, replace, "IGNORE" in flags)
        if kind is Kind.SELECT and not (
                _name_projections(tree, text, literal or prepared, names_literals)):
            return None
        shaped = [self._shape(s) for s in result.statements]
        statements = tuple(self._generate(s, "IGNORE" in flags and kind is Kind.UPDATE)
                           for s in shaped)
        if not literal and not _placeholders_ok(statements, expected, [tree, *shaped]):
            if prepared:
                raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL "
                                   "syntax: '?' is not allowed there")
            return None
        found_rows = self._generate(self._shape(result.found_rows), False) \
            if result.found_rows else None
        home_tables, elsewhere = table_references(tree)
        return Translation(kind, statements, kind is Kind.SELECT, tables=result.tables,
                           upsert=result.upsert, insert_ignore=result.insert_ignore,
                           calc_found_rows=result.calc_found_rows, found_rows_sql=found_rows,
                           auto_increment=result.auto_increment,
                           auto_increment_column=result.auto_increment_column,
                           auto_increment_max=result.auto_increment_max,
                           result_decltypes=result.result_decltypes,
                           other_tables=elsewhere, home_tables=home_tables,
                           locking_read=locking and kind is Kind.SELECT, lock_wait=lock_wait,
                           row_by_row=result.row_by_row)

    def _place(self, tree: exp.Expression) -> None:
        """Run in the home database: unqualified names mean the default database when that is
        another; a query reading only one other database's tables moves there (its tables
        are then typed, and nothing needs attaching)."""
        if self.default_database is not None:
            qualify_tables(tree, self.default_database)
        elif self.movable and isinstance(tree, (exp.Query, exp.Subquery)):
            found = only_database(tree)
            if found is not None and found[0].lower() != self.database.lower():
                raise OtherDatabase(found[0].lower(), found[1])

    def _parse(self, text: str) -> exp.Expression:
        try:
            statements = MYSQL.parse(rename_functions(complete_coalesce(unqualify_values_calls(
                expand_json_tables(text)))), error_level=ErrorLevel.RAISE)
        except (ParseError, TokenError) as exc:
            raise _syntax_error(text, exc) from None
        statements = [s for s in statements if s is not None]
        if len(statements) != 1:
            raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; "
                               "expected exactly one statement")
        return statements[0]

    def _rewrite(self, tree: exp.Expression, replace: bool, ignore: bool
                 ) -> tuple[Kind, DmlResult]:
        # a view's SELECT and a trigger's body are kept and run without a session: never in
        # a session's time zone (rewrites/timestamps.py)
        local = self._typed_results and not self._in_trigger and _timestamps_local(self.view)
        ctx = DmlContext(self.table_def, self.database, typed_results=self._typed_results,
                         row_by_row=not self._in_trigger, local_timestamps=local)
        kind, result = self._rewrite_dml(tree, ctx, replace, ignore)
        if local:
            for statement in result.statements:
                localize_stores(statement)
                refuse_unconverted(statement, self.table_def, self.view.table_sql,
                                   getattr(self.view, "other_table_def", None))
            if kind is not Kind.SELECT:
                refuse_triggers(result.tables, self.table_def,
                                getattr(self.view, "sqlite_triggers", None),
                                stores_rows=kind is not Kind.DELETE)
        return kind, result

    def _rewrite_dml(self, tree: exp.Expression, ctx: DmlContext, replace: bool,
                     ignore: bool) -> tuple[Kind, DmlResult]:
        if isinstance(tree, exp.Insert):
            kind = Kind.REPLACE if replace else Kind.INSERT
            return kind, rewrite_insert(tree, ctx, replace=replace, ignore=ignore)
        if isinstance(tree, exp.Update):
            return Kind.UPDATE, rewrite_update(tree, ctx, ignore=ignore)
        if isinstance(tree, exp.Delete):
            return Kind.DELETE, rewrite_delete(tree, ctx)
        if isinstance(tree, (exp.Query, exp.Subquery)):
            return Kind.SELECT, rewrite_select(tree, ctx)
        raise rewrites_not_supported(tree.sql(dialect="mysql"))

    def _shape(self, statement: exp.Expression | str) -> exp.Expression | str:
        """Query expressions in SQLite's compound-SELECT grammar (rewrites_setop.py)."""
        if isinstance(statement, (str, exp.Command)):
            return statement
        return shape_set_operations(statement, self.column_names)

    def _generate(self, statement: exp.Expression | str, or_ignore: bool) -> str:
        if isinstance(statement, str):
            return statement
        if isinstance(statement, exp.Command):
            return f"{statement.this} {statement.expression.name}"
        try:
            sql = SQLITE.generate(statement, copy=False, identify=True,
                                  unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise rewrites_not_supported(str(exc)) from None
        if or_ignore and sql.startswith("UPDATE "):
            sql = "UPDATE OR IGNORE " + sql[len("UPDATE "):]
        return sql


def rewrites_not_supported(text: str) -> errors.MarmotError:
    from marmotdb.sql.rewrites.expressions import not_supported
    return not_supported(text.strip()[:80])


def _syntax_error(text: str, exc: Exception) -> errors.MarmotError:
    errors_list = getattr(exc, "errors", None) or []
    near = text
    if errors_list:
        start = errors_list[0].get("start_context", "") or ""
        near = text[len(start.rstrip()) if start else 0:] if text.find(start) == 0 else text
    near = near.strip()[:80]
    return errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check "
                        "the manual that corresponds to your MySQL server version for the "
                        f"right syntax to use near '{near}'")


def _normalise_head(text: str, flags: set[str]) -> tuple[str, bool]:
    """Strip LOW_PRIORITY/QUICK/DELAYED/HIGH_PRIORITY/IGNORE after the verb (sqlglot cannot
    read them everywhere); REPLACE becomes INSERT with the replace flag."""
    found = _MODIFIERS_RE.match(text)
    if found:
        modifiers = {w.upper() for w in found.group(3).split()}
        flags.update(modifiers & {"IGNORE"})
        text = found.group(1) + text[found.end():]
    verb = _head(text)
    if verb == "REPLACE":
        start = text.upper().index("REPLACE")
        return text[:start] + "INSERT" + text[start + len("REPLACE"):], True
    return text, False


def _affinity_type(decltype: str) -> coltypes.MySqlType:
    return coltypes.type_for_affinity(decltype)


# ---------------------------------------------------------------- placeholders

_FORBIDDEN_PARENTS = (exp.DataType, exp.DataTypeParam, exp.JSONPath, exp.Ordered, exp.Group)


def _placeholders_ok(statements: tuple[str, ...], expected: int,
                     trees: list[exp.Expression | str]) -> bool:
    """Every :pN must still be in the SQL, and none where SQLite wants a constant."""
    if expected == 0:
        return True
    present = set(re.findall(r":p(\d+)\b", " ".join(statements)))
    if present != {str(i) for i in range(expected)}:
        return False
    return not any(isinstance(placeholder.parent, _FORBIDDEN_PARENTS)
                   for tree in trees if isinstance(tree, exp.Expression)
                   for placeholder in tree.find_all(exp.Placeholder))


# ---------------------------------------------------------------- MySQL column names

_SELECT_MODIFIERS = frozenset({"ALL", "DISTINCT", "DISTINCTROW", "HIGH_PRIORITY",
                               "STRAIGHT_JOIN", "SQL_SMALL_RESULT", "SQL_BIG_RESULT",
                               "SQL_BUFFER_RESULT", "SQL_NO_CACHE", "SQL_CACHE",
                               "SQL_CALC_FOUND_ROWS"})
_SELECT_END = frozenset({"FROM", "INTO", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT",
                         "UNION", "EXCEPT", "INTERSECT", "WINDOW", "FOR", "LOCK"})


def select_items(text: str) -> list[str] | None:
    """The raw text of each item of the outermost SELECT list, or None if not found."""
    tokens = ddl_cursor.tokenize(text)
    first = 0
    while first < len(tokens) and tokens[first].kind == "op" and tokens[first].text == "(":
        first += 1  # (SELECT …) UNION (SELECT …): the first operand's list
    index, depth = first, 0
    while index < len(tokens):
        token = tokens[index]
        if token.kind == "op" and token.text in "()":
            depth += 1 if token.text == "(" else -1
        elif depth == 0 and token.upper == "SELECT":
            break
        elif index == first and token.upper != "WITH":
            return None
        index += 1
    index += 1
    while index < len(tokens) and tokens[index].upper in _SELECT_MODIFIERS:
        index += 1
    return _split_items(text, tokens, index)


def _split_items(text: str, tokens: list[ddl_cursor.Token], index: int) -> list[str] | None:
    items, depth = [], 0
    start = tokens[index].start if index < len(tokens) else len(text)
    while index < len(tokens):
        token = tokens[index]
        if token.kind == "end" or (depth == 0 and (token.upper in _SELECT_END or (
                token.kind == "op" and token.text in (";", ")")))):
            items.append(text[start:token.start].strip())
            return items
        if token.kind == "op" and token.text == "(":
            depth += 1
        elif token.kind == "op" and token.text == ")":
            depth -= 1
        elif depth == 0 and token.kind == "op" and token.text == ",":
            items.append(text[start:token.start].strip())
            start = tokens[index + 1].start
        index += 1
    return None


_STRING_STARTS = frozenset("'\"_nN")
_PLACEHOLDER = re.compile(r"(?<![\w:]):p(\d+)(?!\w)")


def _unshaped(item: str, literals: tuple[str, ...]) -> str:
    """A select item of a shape with its values' own text back in place of ``:pN``, as far
    as a name reads it. A lone string keeps its whole token (its name is its value)."""
    whole = _PLACEHOLDER.fullmatch(item)
    if whole is not None:
        return literals[int(whole.group(1))]
    return _PLACEHOLDER.sub(
        lambda found: literals[int(found.group(1))][:COLUMN_NAME_CHARS_MAX], item)


def _mysql_name(raw: str) -> str:
    tokens = ddl_cursor.tokenize(raw)
    if len(tokens) == 2 and tokens[0].kind == "str":
        return ddl_cursor.unquote(tokens[0].text)
    return raw


def _name_projections(tree: exp.Expression, text: str, literal: bool,
                      literals: tuple[str, ...] | None = None) -> bool:
    """Alias un-aliased expressions with MySQL's name for them. False: a name would depend
    on a literal lifted into a parameter (translate the literal text instead) — unless
    ``literals`` gives the text of every placeholder ``:pN`` of ``text``."""
    select = tree
    while isinstance(select, (exp.SetOperation, exp.Subquery)):
        select = select.this
    if not isinstance(select, exp.Select):
        return True
    targets = [(i, p) for i, p in enumerate(select.expressions)
               if not isinstance(p, (exp.Alias, exp.Column, exp.Star))]
    if not targets:
        return True
    if not literal and literals is None and any(p.find(exp.Placeholder) for _, p in targets):
        return False
    items = select_items(text)
    if items is None or len(items) != len(select.expressions):
        return True
    for index, projection in targets:
        raw = items[index] if literals is None else _unshaped(items[index], literals)
        # Only a lone string literal is named differently from its text (by its value).
        name = (_mysql_name(raw) if raw[:1] in _STRING_STARTS else raw)[:COLUMN_NAME_CHARS_MAX]
        projection.replace(exp.alias_(projection.copy(), name, quoted=True))
    return True


# ---------------------------------------------------------------- other statements

def _noop(translator: _Translator, text: str) -> Translation:
    return Translation(Kind.OTHER, (), False)


def _do(translator: _Translator, text: str) -> Translation:
    body = re.sub(r"^\s*DO\b", "SELECT", text, count=1, flags=re.IGNORECASE)
    inner = translator.statement(body, "SELECT", expected=0, literal=True)
    assert inner is not None
    return Translation(Kind.OTHER, inner.statements, False)


def _table_maintenance(translator: _Translator, text: str) -> Translation:
    """CHECK / ANALYZE / OPTIMIZE / REPAIR TABLE (sql/table_maintenance.py): ANALYZE and
    OPTIMIZE write (a schema change of their own), CHECK reads SQLite's pragma functions."""
    def kind_of(name: str) -> str | None:
        if not translator.exists(name):
            return None
        if translator.is_temporary(name):
            return "temporary"
        return "view" if translator.is_view(name) else "table"

    request = table_maintenance.parse(text)
    work = table_maintenance.plan(request, translator.home_of(request.names), kind_of)
    return Translation(Kind.DDL if work.writes else Kind.SELECT,
                       work.writes + (work.result_sql,), True, maintenance=True,
                       reads_catalogue=work.reads_catalogue, home_tables=work.tables)


def _checksum(translator: _Translator, text: str) -> Translation:
    parser = ddl_cursor.DdlParser(text)
    parser.expect("CHECKSUM")
    parser.expect("TABLE")
    names = [parser.qualified_name()]
    while parser.accept_op(","):
        names.append(parser.qualified_name())
    parser.accept("QUICK", "EXTENDED")
    qualified = any(database for database, _ in names)  # CHECKSUM TABLE otherdb.t: there
    database = translator.home_of(names) if qualified else translator.database or "marmot"
    parts, read = [], []
    for _, name in names:
        table = translator.table_def(name)
        label = schema.sql_literal(f"{database}.{name}")
        if table is None:
            parts.append(f"SELECT {label} AS \"Table\", NULL AS \"Checksum\"")
        else:
            read.append(name.lower())
            columns = ", ".join(ddl_render.q(c.name) for c in table.columns)
            parts.append(f"SELECT {label} AS \"Table\", (SELECT MYSQL_TABLE_CHECKSUM({columns}) "
                         f"FROM {ddl_render.q(table.name)}) AS \"Checksum\"")
    return Translation(Kind.OTHER, (" UNION ALL ".join(parts),), True, home_tables=tuple(read))


def _refuse(translator: _Translator, text: str) -> Translation:
    raise rewrites_not_supported(" ".join(text.split()[:2]).upper())


_OTHER_STATEMENTS = {
    "DO": _do, "FLUSH": _noop, "ANALYZE": _table_maintenance, "OPTIMIZE": _table_maintenance,
    "CHECK": _table_maintenance, "REPAIR": _table_maintenance, "CHECKSUM": _checksum,
    "CALL": _refuse, "LOAD": _refuse, "HANDLER": _refuse, "PREPARE": _refuse,
    "EXECUTE": _refuse, "DEALLOCATE": _refuse, "EXPLAIN": _refuse, "XA": _refuse,
    "GRANT": _refuse, "REVOKE": _refuse, "INSTALL": _refuse, "UNINSTALL": _refuse,
    "PURGE": _refuse, "RESET": _noop, "CACHE": _noop, "SIGNAL": _refuse, "RESIGNAL": _refuse,
    "GET": _refuse, "IMPORT": _refuse, "CLONE": _refuse, "SHUTDOWN": _refuse,
    "RESTART": _refuse, "HELP": _refuse, "BINLOG": _refuse, "CHANGE": _refuse,
    "START": _refuse, "STOP": _refuse,
}


# ---------------------------------------------------------------- expressions for DDL

def parse_expression(mysql_expression: str) -> exp.Expression:
    """A MySQL expression (DEFAULT (…), CHECK, generated column) as a rewritten sqlglot AST."""
    try:
        tree = MYSQL.parse_into(exp.Select, f"SELECT {rename_functions(complete_coalesce(mysql_expression))}")[0]
    except (ParseError, TokenError) as exc:
        raise _syntax_error(mysql_expression, exc) from None
    rewrite_expressions(tree)
    return tree.expressions[0]


ddl_render.set_expression_parser(parse_expression)


def translation_params(values: tuple[Any, ...]) -> dict[str, object]:
    """``{'p0': v0, …}`` for prepared-statement values."""
    return dict(zip(PARAMETER_NAMES, values))
