"""INFORMATION_SCHEMA (and the few performance_schema tables tools read) as row sources.

Each table is a MySQL 8.0 column list plus a row provider. Providers come in three scopes,
which decide how their rows are cached (see workspace.py, which materialises them
into a private SQLite database and runs the client's query there):

* ``database``: rows derived from one database's snapshot (TABLES, COLUMNS, STATISTICS, ...),
  cached in the snapshot, so they are rebuilt only after a schema change;
* ``static``: rows that never change (CHARACTER_SETS, COLLATIONS, ENGINES, KEYWORDS, ...);
* ``session``: rows that depend on the asking session (SCHEMATA, PROCESSLIST, variables).

Tables MySQL has but marmotdb has nothing to put in (EVENTS, FILES,
privileges, ...) exist and are empty, because tools probe them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from marmotdb.sql.variables import scopes as sysvars
from marmotdb.sql.definition.partitioning import partition_rows
from marmotdb.sql.catalog.charsets import CHARSETS, COLLATIONS, charset_named
from marmotdb.sql.catalog.keywords import KEYWORDS
from marmotdb.sql.catalog.model import ColumnModel, TableModel, is_key_expression
from marmotdb.sql.catalog.snapshot import DatabaseSnapshot, TableStats, ViewInfo, snapshot
from marmotdb.sql.types.coltypes import from_decltype
from marmotdb.sql.routines import catalog as routine_catalog

if TYPE_CHECKING:
    from marmotdb.sql.catalog.context import CatalogContext

V64, V512 = "VARCHAR(64)", "VARCHAR(512)"
UBIG, UINT = "BIGINT UNSIGNED", "INT UNSIGNED"
DEFINER = "root@%"
PRIVILEGES = "select,insert,update,references"


@dataclass(frozen=True, slots=True)
class InfoTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQLite declaration carrying the MySQL type)
    scope: str  # database | static | session | empty
    provider: Callable[..., list[tuple]] | None = None
    stats: bool = False  # rows carry table statistics (honour information_schema_stats_expiry)
    # the provider also gets ``other(database)``: another database's snapshot or None (a
    # FOREIGN KEY to a table of another database names that database's key)
    other_databases: bool = False


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """'NAME TYPE; NAME TYPE' -> column tuples (types may contain spaces and commas)."""
    result = []
    for part in spec.split(";"):
        name, _, decl = part.strip().partition(" ")
        result.append((name, decl.strip()))
    return tuple(result)


# ---------------------------------------------------------------------------------- helpers
_NUMERIC_PRECISION = {"tinyint": 3, "smallint": 5, "mediumint": 7, "int": 10, "bigint": 19,
                      "float": 12, "double": 22}
_LOB_LENGTH = {"tinytext": 255, "text": 65535, "mediumtext": 16777215,
               "longtext": 4294967295, "tinyblob": 255, "blob": 65535,
               "mediumblob": 16777215, "longblob": 4294967295}


def _type_args(column_type: str) -> list[str]:
    start, end = column_type.find("("), column_type.rfind(")")
    if start < 0 or end < start:
        return []
    inner = column_type[start + 1:end]
    if inner.startswith("'"):
        return _enum_values(inner)
    return [part.strip() for part in inner.split(",")]


def _enum_values(inner: str) -> list[str]:
    values, current, quoted, index = [], [], False, 0
    while index < len(inner):
        char = inner[index]
        if quoted and char == "'" and inner[index + 1:index + 2] == "'":
            current.append("'")
            index += 1
        elif char == "'":
            quoted = not quoted
        elif quoted:
            current.append(char)
        elif char == ",":
            values.append("".join(current))
            current = []
        index += 1
    values.append("".join(current))
    return values


def character_lengths(column: ColumnModel) -> tuple[int | None, int | None]:
    """(CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH) of a column."""
    kind, args = column.data_type, _type_args(column.column_type)
    maxlen = (charset_named(column.charset or "utf8mb4") or CHARSETS["utf8mb4"]).maxlen
    if kind in ("char", "varchar"):
        length = int(args[0]) if args else 1
        return length, length * maxlen
    if kind in ("binary", "varbinary"):
        length = int(args[0]) if args else 1
        return length, length
    if kind in _LOB_LENGTH:
        return _LOB_LENGTH[kind], _LOB_LENGTH[kind]
    if kind == "enum":
        length = max((len(v) for v in args), default=0)
        return length, length * maxlen
    if kind == "set":
        length = sum(len(v) for v in args) + max(len(args) - 1, 0)
        return length, length * maxlen
    return None, None


def numeric_precision(column: ColumnModel) -> tuple[int | None, int | None]:
    """(NUMERIC_PRECISION, NUMERIC_SCALE) of a column."""
    kind, args = column.data_type, _type_args(column.column_type)
    if kind in ("tinyint", "smallint", "mediumint", "int", "bigint"):
        unsigned = "unsigned" in column.column_type
        return _NUMERIC_PRECISION[kind] + (1 if kind == "bigint" and unsigned else 0), 0
    if kind == "decimal":
        return int(args[0]), int(args[1]) if len(args) > 1 else 0
    if kind in ("float", "double"):
        if len(args) == 2:
            return int(args[0]), int(args[1])
        return _NUMERIC_PRECISION[kind], None
    if kind == "bit":
        return int(args[0]) if args else 1, None
    return None, None


def datetime_precision(column: ColumnModel) -> int | None:
    if column.data_type in ("datetime", "timestamp", "time"):
        args = _type_args(column.column_type)
        return int(args[0]) if args else 0
    return None


def column_extra(column: ColumnModel) -> str:
    """The EXTRA / Extra text: auto_increment, DEFAULT_GENERATED, on update ..., GENERATED."""
    if column.auto_increment:
        return "auto_increment"
    if column.generated is not None:
        return "STORED GENERATED" if column.generated_stored else "VIRTUAL GENERATED"
    parts = []
    if column.default_kind == "expression":
        parts.append("DEFAULT_GENERATED")
    if column.on_update:
        parts.append(f"on update {column.on_update}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------- providers
def _tables(snap: DatabaseSnapshot, stats: Callable[[TableModel], TableStats]) -> list[tuple]:
    rows = []
    for name, kind in snap.object_names():
        if kind == "VIEW":
            rows.append(("def", snap.name, name, "VIEW") + (None,) * 16 + ("VIEW",))
            continue
        model = snap.tables[name.lower()]
        s = stats(model)
        rows.append(("def", snap.name, model.name, "BASE TABLE", model.engine, 10,
                     model.row_format, s.rows, s.avg_row_length, s.data_length, 0,
                     s.index_length, 0, s.auto_increment, None, None, None, model.collation,
                     None, model.create_options, model.comment))
    return rows


def column_row(db: str, table: str, position: int, column: ColumnModel) -> tuple:
    max_chars, octets = character_lengths(column)
    precision, scale = numeric_precision(column)
    return ("def", db, table, column.name, position, column.default,
            "YES" if column.nullable else "NO", column.data_type, max_chars, octets, precision,
            scale, datetime_precision(column), column.charset, column.collation,
            column.column_type, column.key, column_extra(column), PRIVILEGES, column.comment,
            column.generated or "", None)


def _columns(snap: DatabaseSnapshot) -> list[tuple]:
    rows = []
    for name, _ in snap.object_names():
        model: TableModel | ViewInfo = snap.tables.get(name.lower()) or snap.views[name.lower()]
        for position, column in enumerate(model.columns, 1):
            rows.append(column_row(snap.name, name, position, column))
    return rows


def index_rows(db: str, model: TableModel) -> list[tuple]:
    """STATISTICS rows of one table (SHOW INDEX shows the same data)."""
    rows = []
    for index in model.indexes:
        for seq, (column_name, sub_part, order) in enumerate(index.columns, 1):
            column = model.column(column_name)
            expression = column_name[1:-1] if is_key_expression(column_name) else None
            rows.append(("def", db, model.name, 0 if index.unique else 1, db, index.name, seq,
                         None if expression else column_name,
                         None if index.kind == "FULLTEXT" else order, None, sub_part, None,
                         "YES" if column is not None and column.nullable else "",
                         "FULLTEXT" if index.kind == "FULLTEXT" else "BTREE", "",
                         index.comment, "YES" if index.visible else "NO", expression))
    return rows


def _statistics(snap: DatabaseSnapshot) -> list[tuple]:
    return [row for model in snap.tables.values() for row in index_rows(snap.name, model)]


def _key_column_usage(snap: DatabaseSnapshot) -> list[tuple]:
    rows = []
    for model in snap.tables.values():
        for index in model.indexes:
            if index.unique:
                for position, (column, _, _) in enumerate(index.columns, 1):
                    rows.append(("def", snap.name, index.name, "def", snap.name, model.name,
                                 column, position, None, None, None, None))
        for fk in model.foreign_keys:
            for position, column in enumerate(fk.columns, 1):
                ref_column = fk.ref_columns[position - 1] if position <= len(fk.ref_columns) \
                    else None
                rows.append(("def", snap.name, fk.name, "def", snap.name, model.name, column,
                             position, position, fk.ref_schema or snap.name, fk.ref_table,
                             ref_column))
    return rows


def _table_constraints(snap: DatabaseSnapshot) -> list[tuple]:
    rows = []
    for model in snap.tables.values():
        for index in model.indexes:
            if index.unique:
                kind = "PRIMARY KEY" if index.kind == "PRIMARY" else "UNIQUE"
                rows.append(("def", snap.name, index.name, snap.name, model.name, kind, "YES"))
        for fk in model.foreign_keys:
            rows.append(("def", snap.name, fk.name, snap.name, model.name, "FOREIGN KEY", "YES"))
        for check in model.checks:
            rows.append(("def", snap.name, check.name, snap.name, model.name, "CHECK",
                         "YES" if check.enforced else "NO"))
    return rows


def _referential_constraints(snap: DatabaseSnapshot,
                             other: Callable[[str], DatabaseSnapshot | None] = lambda db: None
                             ) -> list[tuple]:
    rows = []
    for model in snap.tables.values():
        for fk in model.foreign_keys:
            parent = other(fk.ref_schema) if fk.ref_schema else snap
            key = _referenced_key(parent, fk.ref_table, fk.ref_columns) if parent else None
            rows.append(("def", snap.name, fk.name, "def", fk.ref_schema or snap.name, key,
                         "NONE", fk.on_update, fk.on_delete, model.name, fk.ref_table))
    return rows


def _referenced_key(snap: DatabaseSnapshot, table: str, columns: list[str]) -> str | None:
    model = snap.table(table)
    if model is None:
        return None
    wanted = [c.lower() for c in columns]
    for index in model.indexes:
        if index.unique and [c.lower() for c, _, _ in index.columns] == wanted:
            return index.name
    return None


def _check_constraints(snap: DatabaseSnapshot) -> list[tuple]:
    return [("def", snap.name, check.name, check.clause)
            for model in snap.tables.values() for check in model.checks]


def _views(snap: DatabaseSnapshot) -> list[tuple]:
    return [("def", snap.name, view.name, view.definition, view.check_option, view.is_updatable,
             DEFINER, view.security, view.charsets.client, view.charsets.connection)
            for view in snap.views.values()]


def _triggers(snap: DatabaseSnapshot) -> list[tuple]:
    rows = []
    order: dict[tuple[str, str, str], int] = {}
    for trigger in snap.triggers:
        key = (trigger.table.lower(), trigger.timing, trigger.event)
        order[key] = order.get(key, 0) + 1
        rows.append(("def", snap.name, trigger.name, trigger.event, "def", snap.name,
                     trigger.table, order[key], None, trigger.statement, "ROW", trigger.timing,
                     None, None, "OLD", "NEW", None, sysvars.DEFAULT_SQL_MODE, DEFINER,
                     trigger.charsets.client, trigger.charsets.connection,
                     trigger.charsets.database))
    return rows


def _routines(snap: DatabaseSnapshot) -> list[tuple]:
    return [routine_catalog.routines_row(snap.name, r) for r in snap.routines]


def _parameters(snap: DatabaseSnapshot) -> list[tuple]:
    return [row for r in snap.routines for row in routine_catalog.parameters_rows(snap.name, r)]


def _partitions(snap: DatabaseSnapshot, stats: Callable[[TableModel], TableStats]
                ) -> list[tuple]:
    """One row per table; a partitioned table's partitions (definition/partitioning.py) each
    have one, the first carrying the table's statistics (its rows are all in one SQLite table,
    so sums over partitions come out right)."""
    rows = []
    for model in snap.tables.values():
        s = stats(model)
        figures = (s.rows, s.avg_row_length, s.data_length, 0, s.index_length, 0)
        if not model.partitioning:
            rows.append(("def", snap.name, model.name) + (None,) * 9 + figures
                        + (None, None, None, None, "", "", None))
            continue
        for index, p in enumerate(partition_rows(model.partitioning)):
            rows.append(("def", snap.name, model.name, p.name, p.subpartition, p.ordinal,
                         p.sub_ordinal, p.method, p.sub_method, p.expression, p.sub_expression,
                         p.description) + (figures if index == 0 else (0,) * 6)
                        + (None, None, None, None, p.comment, "default", None))
    return rows


# ---------------------------------------------------------------------------------- static
def _character_sets() -> list[tuple]:
    return [(c.name, c.default_collation, c.description, c.maxlen)
            for c in sorted(CHARSETS.values(), key=lambda c: c.name)]


def _collations() -> list[tuple]:
    return [(c.name, c.charset, c.id, "Yes" if c.is_default else "", "Yes", c.sortlen,
             c.pad_attribute) for c in sorted(COLLATIONS.values(), key=lambda c: c.name)]


def _applicability() -> list[tuple]:
    return [(c.name, c.charset) for c in sorted(COLLATIONS.values(), key=lambda c: c.name)]


ENGINES = (
    ("InnoDB", "DEFAULT", ("marmotdb: replicated SQLite storage; transactions, row-level "
     "replication and foreign keys"), "YES", "NO", "YES"),
    ("MyISAM", "YES", "Accepted in DDL; stored like InnoDB (replicated SQLite)", "NO", "NO", "NO"),
    ("MEMORY", "YES", "Accepted in DDL; stored like InnoDB (replicated SQLite)", "NO", "NO", "NO"),
)
PLUGINS = (
    ("mysql_native_password", "ACTIVE", "AUTHENTICATION", None, "GPL"),
    ("caching_sha2_password", "ACTIVE", "AUTHENTICATION", None, "GPL"),
    ("InnoDB", "ACTIVE", "STORAGE ENGINE", None, "GPL"),
    ("MyISAM", "ACTIVE", "STORAGE ENGINE", None, "GPL"),
    ("MEMORY", "ACTIVE", "STORAGE ENGINE", None, "GPL"),
)


def _engines() -> list[tuple]:
    return list(ENGINES)


def _plugins() -> list[tuple]:
    return [(name, "8.0", status, kind, "80036.0", library, None, "Oracle Corporation",
             "marmotdb compatibility entry", license_, "ON")
            for name, status, kind, library, license_ in PLUGINS]


def _keywords() -> list[tuple]:
    return [(word, int(reserved)) for word, reserved in KEYWORDS]


# ---------------------------------------------------------------------------------- session
def _schemata(ctx: CatalogContext) -> list[tuple]:
    rows = [("def", "information_schema", "utf8mb3", "utf8mb3_general_ci", None, "NO")]
    for db in ctx.databases():
        snap = snapshot(ctx.connection_for(db), db)
        rows.append(("def", db, snap.charset, snap.collation, None, "NO"))
    return rows


def _privileges(level: str) -> Callable[[CatalogContext], list[tuple]]:
    """USER_/SCHEMA_/TABLE_PRIVILEGES: the session's account, or every account for one that
    may read them (global SELECT); a context without accounts has no rows."""
    def rows(ctx: CatalogContext) -> list[tuple]:
        return list(getattr(ctx, "privilege_rows", lambda level: [])(level))
    return rows


def _processlist(ctx: CatalogContext) -> list[tuple]:
    return [tuple(row) for row in ctx.processlist()]


def _session_variables(ctx: CatalogContext) -> list[tuple]:
    return [(name, sysvars.render_spec(sysvars.spec_for(name), value))
            for name, value in ctx.variables.items()]


def _global_variables(ctx: CatalogContext) -> list[tuple]:
    return [(name, sysvars.render_spec(sysvars.spec_for(name), value))
            for name, value in ctx.variables.items("global")]


def _status(ctx: CatalogContext) -> list[tuple]:
    return sorted((str(name), sysvars.render(value)) for name, value in ctx.status.items())


# ---------------------------------------------------------------------------------- the tables
_TABLES_COLS = ("TABLE_CATALOG V64; TABLE_SCHEMA V64; TABLE_NAME V64; TABLE_TYPE V64; "
                "ENGINE V64; VERSION INT; ROW_FORMAT V64; TABLE_ROWS UBIG; AVG_ROW_LENGTH UBIG; "
                "DATA_LENGTH UBIG; MAX_DATA_LENGTH UBIG; INDEX_LENGTH UBIG; DATA_FREE UBIG; "
                "AUTO_INCREMENT UBIG; CREATE_TIME DATETIME; UPDATE_TIME DATETIME; "
                "CHECK_TIME DATETIME; TABLE_COLLATION V64; CHECKSUM BIGINT; "
                "CREATE_OPTIONS VARCHAR(256); TABLE_COMMENT TEXT")
_COLUMNS_COLS = ("TABLE_CATALOG V64; TABLE_SCHEMA V64; TABLE_NAME V64; COLUMN_NAME V64; "
                 "ORDINAL_POSITION UINT; COLUMN_DEFAULT TEXT; IS_NULLABLE VARCHAR(3); "
                 "DATA_TYPE LONGTEXT; CHARACTER_MAXIMUM_LENGTH BIGINT; "
                 "CHARACTER_OCTET_LENGTH BIGINT; NUMERIC_PRECISION UBIG; NUMERIC_SCALE UBIG; "
                 "DATETIME_PRECISION UINT; CHARACTER_SET_NAME V64; COLLATION_NAME V64; "
                 "COLUMN_TYPE MEDIUMTEXT; COLUMN_KEY VARCHAR(3); EXTRA VARCHAR(256); "
                 "PRIVILEGES V512; COLUMN_COMMENT TEXT; GENERATION_EXPRESSION LONGTEXT; "
                 "SRS_ID UINT")
_STATISTICS_COLS = ("TABLE_CATALOG V64; TABLE_SCHEMA V64; TABLE_NAME V64; NON_UNIQUE INT; "
                    "INDEX_SCHEMA V64; INDEX_NAME V64; SEQ_IN_INDEX UINT; COLUMN_NAME V64; "
                    "COLLATION VARCHAR(1); CARDINALITY BIGINT; SUB_PART BIGINT; "
                    "PACKED BINARY(0); NULLABLE VARCHAR(3); INDEX_TYPE VARCHAR(11); "
                    "COMMENT VARCHAR(8); INDEX_COMMENT VARCHAR(2048); IS_VISIBLE VARCHAR(3); "
                    "EXPRESSION LONGTEXT")
_KCU_COLS = ("CONSTRAINT_CATALOG V64; CONSTRAINT_SCHEMA V64; CONSTRAINT_NAME V64; "
             "TABLE_CATALOG V64; TABLE_SCHEMA V64; TABLE_NAME V64; COLUMN_NAME V64; "
             "ORDINAL_POSITION UINT; POSITION_IN_UNIQUE_CONSTRAINT UINT; "
             "REFERENCED_TABLE_SCHEMA V64; REFERENCED_TABLE_NAME V64; REFERENCED_COLUMN_NAME V64")
_TC_COLS = ("CONSTRAINT_CATALOG V64; CONSTRAINT_SCHEMA V64; CONSTRAINT_NAME V64; "
            "TABLE_SCHEMA V64; TABLE_NAME V64; CONSTRAINT_TYPE VARCHAR(11); ENFORCED VARCHAR(3)")
_RC_COLS = ("CONSTRAINT_CATALOG V64; CONSTRAINT_SCHEMA V64; CONSTRAINT_NAME V64; "
            "UNIQUE_CONSTRAINT_CATALOG V64; UNIQUE_CONSTRAINT_SCHEMA V64; "
            "UNIQUE_CONSTRAINT_NAME V64; MATCH_OPTION VARCHAR(7); UPDATE_RULE VARCHAR(11); "
            "DELETE_RULE VARCHAR(11); TABLE_NAME V64; REFERENCED_TABLE_NAME V64")
_VIEWS_COLS = ("TABLE_CATALOG V64; TABLE_SCHEMA V64; TABLE_NAME V64; VIEW_DEFINITION LONGTEXT; "
               "CHECK_OPTION VARCHAR(8); IS_UPDATABLE VARCHAR(3); DEFINER VARCHAR(288); "
               "SECURITY_TYPE VARCHAR(7); CHARACTER_SET_CLIENT V64; COLLATION_CONNECTION V64")
_TRIGGERS_COLS = ("TRIGGER_CATALOG V64; TRIGGER_SCHEMA V64; TRIGGER_NAME V64; "
                  "EVENT_MANIPULATION VARCHAR(6); EVENT_OBJECT_CATALOG V64; "
                  "EVENT_OBJECT_SCHEMA V64; EVENT_OBJECT_TABLE V64; ACTION_ORDER UINT; "
                  "ACTION_CONDITION BINARY(0); ACTION_STATEMENT LONGTEXT; "
                  "ACTION_ORIENTATION VARCHAR(3); ACTION_TIMING VARCHAR(6); "
                  "ACTION_REFERENCE_OLD_TABLE BINARY(0); ACTION_REFERENCE_NEW_TABLE BINARY(0); "
                  "ACTION_REFERENCE_OLD_ROW VARCHAR(3); ACTION_REFERENCE_NEW_ROW VARCHAR(3); "
                  "CREATED TIMESTAMP(2); SQL_MODE VARCHAR(520); DEFINER VARCHAR(288); "
                  "CHARACTER_SET_CLIENT V64; COLLATION_CONNECTION V64; DATABASE_COLLATION V64")
_ROUTINES_COLS = ("SPECIFIC_NAME V64; ROUTINE_CATALOG V64; ROUTINE_SCHEMA V64; "
                  "ROUTINE_NAME V64; ROUTINE_TYPE VARCHAR(9); DATA_TYPE LONGTEXT; "
                  "CHARACTER_MAXIMUM_LENGTH BIGINT; CHARACTER_OCTET_LENGTH BIGINT; "
                  "NUMERIC_PRECISION UINT; NUMERIC_SCALE UINT; DATETIME_PRECISION UINT; "
                  "CHARACTER_SET_NAME V64; COLLATION_NAME V64; DTD_IDENTIFIER LONGTEXT; "
                  "ROUTINE_BODY VARCHAR(8); ROUTINE_DEFINITION LONGTEXT; EXTERNAL_NAME BINARY(0); "
                  "EXTERNAL_LANGUAGE V64; PARAMETER_STYLE VARCHAR(3); IS_DETERMINISTIC VARCHAR(3); "
                  "SQL_DATA_ACCESS VARCHAR(17); SQL_PATH BINARY(0); SECURITY_TYPE VARCHAR(7); "
                  "CREATED TIMESTAMP; LAST_ALTERED TIMESTAMP; SQL_MODE VARCHAR(520); "
                  "ROUTINE_COMMENT TEXT; DEFINER VARCHAR(288); CHARACTER_SET_CLIENT V64; "
                  "COLLATION_CONNECTION V64; DATABASE_COLLATION V64")
_PARAMETERS_COLS = ("SPECIFIC_CATALOG V64; SPECIFIC_SCHEMA V64; SPECIFIC_NAME V64; "
                    "ORDINAL_POSITION UINT; PARAMETER_MODE VARCHAR(5); PARAMETER_NAME V64; "
                    "DATA_TYPE LONGTEXT; CHARACTER_MAXIMUM_LENGTH BIGINT; "
                    "CHARACTER_OCTET_LENGTH BIGINT; NUMERIC_PRECISION UINT; NUMERIC_SCALE BIGINT; "
                    "DATETIME_PRECISION UINT; CHARACTER_SET_NAME V64; COLLATION_NAME V64; "
                    "DTD_IDENTIFIER MEDIUMTEXT; ROUTINE_TYPE VARCHAR(9)")
_FILES_COLS = ("FILE_ID BIGINT; FILE_NAME TEXT; FILE_TYPE VARCHAR(256); TABLESPACE_NAME V64; "
               "TABLE_CATALOG BINARY(0); TABLE_SCHEMA BINARY(0); TABLE_NAME BINARY(0); "
               "LOGFILE_GROUP_NAME V64; LOGFILE_GROUP_NUMBER BIGINT; ENGINE V64; "
               "FULLTEXT_KEYS BINARY(0); DELETED_ROWS BINARY(0); UPDATE_COUNT BINARY(0); "
               "FREE_EXTENTS BIGINT; TOTAL_EXTENTS BIGINT; EXTENT_SIZE BIGINT; "
               "INITIAL_SIZE BIGINT; MAXIMUM_SIZE BIGINT; AUTOEXTEND_SIZE BIGINT; "
               "CREATION_TIME BINARY(0); LAST_UPDATE_TIME BINARY(0); LAST_ACCESS_TIME BINARY(0); "
               "RECOVER_TIME BINARY(0); TRANSACTION_COUNTER BINARY(0); VERSION BIGINT; "
               "ROW_FORMAT V64; TABLE_ROWS BINARY(0); AVG_ROW_LENGTH BINARY(0); "
               "DATA_LENGTH BINARY(0); MAX_DATA_LENGTH BINARY(0); INDEX_LENGTH BINARY(0); "
               "DATA_FREE BIGINT; CREATE_TIME BINARY(0); UPDATE_TIME BINARY(0); "
               "CHECK_TIME BINARY(0); CHECKSUM BINARY(0); STATUS VARCHAR(256); EXTRA VARCHAR(256)")
_PARTITIONS_COLS = ("TABLE_CATALOG V64; TABLE_SCHEMA V64; TABLE_NAME V64; PARTITION_NAME V64; "
                    "SUBPARTITION_NAME V64; PARTITION_ORDINAL_POSITION UINT; "
                    "SUBPARTITION_ORDINAL_POSITION UINT; PARTITION_METHOD VARCHAR(13); "
                    "SUBPARTITION_METHOD VARCHAR(13); PARTITION_EXPRESSION VARCHAR(2048); "
                    "SUBPARTITION_EXPRESSION VARCHAR(2048); PARTITION_DESCRIPTION TEXT; "
                    "TABLE_ROWS UBIG; AVG_ROW_LENGTH UBIG; DATA_LENGTH UBIG; "
                    "MAX_DATA_LENGTH UBIG; INDEX_LENGTH UBIG; DATA_FREE UBIG; "
                    "CREATE_TIME TIMESTAMP; UPDATE_TIME DATETIME; CHECK_TIME DATETIME; "
                    "CHECKSUM BIGINT; PARTITION_COMMENT TEXT; NODEGROUP VARCHAR(256); "
                    "TABLESPACE_NAME V64")
_EVENTS_COLS = ("EVENT_CATALOG V64; EVENT_SCHEMA V64; EVENT_NAME V64; DEFINER VARCHAR(288); "
                "TIME_ZONE V64; EVENT_BODY VARCHAR(3); EVENT_DEFINITION LONGTEXT; "
                "EVENT_TYPE VARCHAR(9); EXECUTE_AT DATETIME; INTERVAL_VALUE VARCHAR(256); "
                "INTERVAL_FIELD VARCHAR(18); SQL_MODE VARCHAR(520); STARTS DATETIME; "
                "ENDS DATETIME; STATUS VARCHAR(21); ON_COMPLETION VARCHAR(12); CREATED TIMESTAMP; "
                "LAST_ALTERED TIMESTAMP; LAST_EXECUTED DATETIME; EVENT_COMMENT V512; "
                "ORIGINATOR UINT; CHARACTER_SET_CLIENT V64; COLLATION_CONNECTION V64; "
                "DATABASE_COLLATION V64")
_PLUGINS_COLS = ("PLUGIN_NAME V64; PLUGIN_VERSION VARCHAR(20); PLUGIN_STATUS VARCHAR(10); "
                 "PLUGIN_TYPE VARCHAR(80); PLUGIN_TYPE_VERSION VARCHAR(20); "
                 "PLUGIN_LIBRARY V64; PLUGIN_LIBRARY_VERSION VARCHAR(20); PLUGIN_AUTHOR TEXT; "
                 "PLUGIN_DESCRIPTION TEXT; PLUGIN_LICENSE VARCHAR(80); LOAD_OPTION V64")
_PRIV = "GRANTEE VARCHAR(292); TABLE_CATALOG V512"

_DEFS: tuple[InfoTable, ...] = (
    InfoTable("SCHEMATA", _cols("CATALOG_NAME V64; SCHEMA_NAME V64; DEFAULT_CHARACTER_SET_NAME "
                                "V64; DEFAULT_COLLATION_NAME V64; SQL_PATH BINARY(0); "
                                "DEFAULT_ENCRYPTION VARCHAR(3)"), "session", _schemata),
    InfoTable("TABLES", _cols(_TABLES_COLS), "database", _tables, stats=True),
    InfoTable("COLUMNS", _cols(_COLUMNS_COLS), "database", _columns),
    InfoTable("STATISTICS", _cols(_STATISTICS_COLS), "database", _statistics),
    InfoTable("KEY_COLUMN_USAGE", _cols(_KCU_COLS), "database", _key_column_usage),
    InfoTable("TABLE_CONSTRAINTS", _cols(_TC_COLS), "database", _table_constraints),
    InfoTable("REFERENTIAL_CONSTRAINTS", _cols(_RC_COLS), "database", _referential_constraints,
              other_databases=True),
    InfoTable("CHECK_CONSTRAINTS", _cols("CONSTRAINT_CATALOG V64; CONSTRAINT_SCHEMA V64; "
                                         "CONSTRAINT_NAME V64; CHECK_CLAUSE LONGTEXT"),
              "database", _check_constraints),
    InfoTable("VIEWS", _cols(_VIEWS_COLS), "database", _views),
    InfoTable("TRIGGERS", _cols(_TRIGGERS_COLS), "database", _triggers),
    InfoTable("PARTITIONS", _cols(_PARTITIONS_COLS), "database", _partitions, stats=True),
    InfoTable("ROUTINES", _cols(_ROUTINES_COLS), "database", _routines),
    InfoTable("PARAMETERS", _cols(_PARAMETERS_COLS), "database", _parameters),
    InfoTable("EVENTS", _cols(_EVENTS_COLS), "empty"),
    InfoTable("FILES", _cols(_FILES_COLS), "empty"),
    InfoTable("COLUMN_STATISTICS", _cols("SCHEMA_NAME V64; TABLE_NAME V64; COLUMN_NAME V64; "
                                         "HISTOGRAM JSON"), "empty"),
    InfoTable("KEYWORDS", _cols("WORD V64; RESERVED INT"), "static", _keywords),
    InfoTable("CHARACTER_SETS", _cols("CHARACTER_SET_NAME V64; DEFAULT_COLLATE_NAME V64; "
                                      "DESCRIPTION V64; MAXLEN UINT"), "static", _character_sets),
    InfoTable("COLLATIONS", _cols("COLLATION_NAME V64; CHARACTER_SET_NAME V64; ID UBIG; "
                                  "IS_DEFAULT VARCHAR(3); IS_COMPILED VARCHAR(3); SORTLEN UINT; "
                                  "PAD_ATTRIBUTE VARCHAR(9)"), "static", _collations),
    InfoTable("COLLATION_CHARACTER_SET_APPLICABILITY",
              _cols("COLLATION_NAME V64; CHARACTER_SET_NAME V64"), "static", _applicability),
    InfoTable("ENGINES", _cols("ENGINE V64; SUPPORT VARCHAR(8); COMMENT VARCHAR(80); "
                               "TRANSACTIONS VARCHAR(3); XA VARCHAR(3); SAVEPOINTS VARCHAR(3)"),
              "static", _engines),
    InfoTable("PLUGINS", _cols(_PLUGINS_COLS), "static", _plugins),
    InfoTable("PROCESSLIST", _cols("ID UBIG; USER VARCHAR(32); HOST V64; DB V64; "
                                   "COMMAND VARCHAR(16); TIME INT; STATE V64; INFO LONGTEXT"),
              "session", _processlist),
    InfoTable("COLUMN_PRIVILEGES", _cols(f"{_PRIV}; TABLE_SCHEMA V64; TABLE_NAME V64; "
                                         "COLUMN_NAME V64; PRIVILEGE_TYPE V64; "
                                         "IS_GRANTABLE VARCHAR(3)"), "empty"),
    InfoTable("TABLE_PRIVILEGES", _cols(f"{_PRIV}; TABLE_SCHEMA V64; TABLE_NAME V64; "
                                        "PRIVILEGE_TYPE V64; IS_GRANTABLE VARCHAR(3)"),
              "session", _privileges("table")),
    InfoTable("SCHEMA_PRIVILEGES", _cols(f"{_PRIV}; TABLE_SCHEMA V64; PRIVILEGE_TYPE V64; "
                                         "IS_GRANTABLE VARCHAR(3)"), "session",
              _privileges("database")),
    InfoTable("USER_PRIVILEGES", _cols(f"{_PRIV}; PRIVILEGE_TYPE V64; IS_GRANTABLE VARCHAR(3)"),
              "session", _privileges("global")),
    InfoTable("ENABLED_ROLES", _cols("ROLE_NAME V64; ROLE_HOST V64; IS_DEFAULT VARCHAR(3); "
                                     "IS_MANDATORY VARCHAR(3)"), "empty"),
    InfoTable("VIEW_TABLE_USAGE", _cols("VIEW_CATALOG V64; VIEW_SCHEMA V64; VIEW_NAME V64; "
                                        "TABLE_CATALOG V64; TABLE_SCHEMA V64; TABLE_NAME V64"),
              "empty"),
    InfoTable("TABLESPACES", _cols("TABLESPACE_NAME V64; ENGINE V64; TABLESPACE_TYPE V64; "
                                   "LOGFILE_GROUP_NAME V64; EXTENT_SIZE UBIG; "
                                   "AUTOEXTEND_SIZE UBIG; MAXIMUM_SIZE UBIG; NODEGROUP_ID UBIG; "
                                   "TABLESPACE_COMMENT VARCHAR(2048)"), "empty"),
    InfoTable("OPTIMIZER_TRACE", _cols("QUERY LONGTEXT; TRACE LONGTEXT; "
                                       "MISSING_BYTES_BEYOND_MAX_MEM_SIZE INT; "
                                       "INSUFFICIENT_PRIVILEGES INT"), "empty"),
)

_PERFORMANCE_DEFS: tuple[InfoTable, ...] = (
    InfoTable("SESSION_VARIABLES", _cols("VARIABLE_NAME V64; VARIABLE_VALUE VARCHAR(1024)"),
              "session", _session_variables),
    InfoTable("GLOBAL_VARIABLES", _cols("VARIABLE_NAME V64; VARIABLE_VALUE VARCHAR(1024)"),
              "session", _global_variables),
    InfoTable("SESSION_STATUS", _cols("VARIABLE_NAME V64; VARIABLE_VALUE VARCHAR(1024)"),
              "session", _status),
    InfoTable("GLOBAL_STATUS", _cols("VARIABLE_NAME V64; VARIABLE_VALUE VARCHAR(1024)"),
              "session", _status),
)

_SHORT_TYPES = {"V64": V64, "V512": V512, "UBIG": UBIG, "UINT": UINT}
SCHEMAS: dict[str, dict[str, InfoTable]] = {
    "information_schema": {},
    "performance_schema": {},
}
for _schema, _defs in (("information_schema", _DEFS), ("performance_schema", _PERFORMANCE_DEFS)):
    for _table in _defs:
        _columns_full = tuple((n, _SHORT_TYPES.get(t, t)) for n, t in _table.columns)
        SCHEMAS[_schema][_table.name] = InfoTable(_table.name, _columns_full, _table.scope,
                                                  _table.provider, _table.stats,
                                                  _table.other_databases)
TABLES_BY_SCHEMA = SCHEMAS
INFORMATION_SCHEMA = SCHEMAS["information_schema"]


def self_description() -> DatabaseSnapshot:
    """information_schema itself as a database: its tables as SYSTEM VIEWs with columns."""
    snap = DatabaseSnapshot("information_schema", ("static",), charset="utf8mb3",
                            collation="utf8mb3_general_ci")
    for table in INFORMATION_SCHEMA.values():
        view = ViewInfo(table.name, "", None)
        for name, decl in table.columns:
            mysql_type = from_decltype(decl)
            column_type = mysql_type.column_type() if mysql_type else decl.lower()
            view.columns.append(ColumnModel(name, column_type.split("(")[0].split(" ")[0],
                                            column_type))
        snap.views[table.name.lower()] = view
    return snap
