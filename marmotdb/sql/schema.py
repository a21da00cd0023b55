"""The MySQL definition of each table, kept beside SQLite's own schema.

Theory of operation
-------------------
SQLite's ``sqlite_schema`` holds the *translated* DDL; MySQL clients want MySQL's: SHOW CREATE
TABLE (SQLAlchemy reflection, mysqldump), INFORMATION_SCHEMA.COLUMNS (COLUMN_TYPE, EXTRA,
COLUMN_KEY, comments), ENUM members, AUTO_INCREMENT. The translator therefore models every
table as a ``TableDef`` (MySQL's view: columns with MySQL types, keys, foreign keys, checks,
table options), renders it to SQLite DDL (``rewrites/ddl/``) and, in the same SQLite
transaction, writes one row per object into the internal table ``__marmot_schema``:

    kind       'table' | 'view' | 'trigger' | 'procedure' | 'function' (routines/) |
               'database' (one row, name '': the database's character set and collation,
               ``database_charset``)
    name       lower-case object name            (PRIMARY KEY (kind, name): MySQL keeps
                                                  triggers in their own namespace)
    mysql_sql  the canonical MySQL DDL, as SHOW CREATE TABLE/VIEW/TRIGGER prints it
    meta       JSON: for a table ``{"table": TableDef as dict, "columns": [column_meta…]}``,
               for a view ``{"definition", "check_option", "columns"}``, for a trigger
               ``{"table", "timing", "event", "statement"}``, both with the creating
               session's character sets (``CreationCharsets``; routines keep them too)

ALTER TABLE takes the stored ``TableDef`` (``meta``, or the stored ``mysql_sql`` read back by the
one CREATE TABLE reader, sql/definition/create_table.py, which the catalog reads it with too),
changes it and writes both schemas again, so SHOW CREATE TABLE always reflects ALTERs.

Readers (the catalog) use ``mysql_ddl``, ``column_meta``, ``table_meta`` and ``objects``; they
never parse ``meta`` themselves.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import apsw

from marmotdb.sql.catalog.model import KeyExpression, is_key_expression
from marmotdb.sql.types.coltypes import MySqlType

SCHEMA_TABLE = "__marmot_schema"
DEFAULT_CHARSET = "utf8mb4"
DEFAULT_COLLATION = "utf8mb4_0900_ai_ci"

_CREATE_SCHEMA_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{SCHEMA_TABLE}" ('
    "kind TEXT NOT NULL, name TEXT NOT NULL, mysql_sql TEXT NOT NULL, meta TEXT NOT NULL, "
    "PRIMARY KEY (kind, name))"
)


@dataclass(frozen=True, slots=True)
class CreationCharsets:
    """What MySQL records with each view, trigger and routine when it is created: the creating
    session's ``character_set_client`` and ``collation_connection`` and its database's
    collation. SHOW CREATE VIEW/TRIGGER/PROCEDURE/FUNCTION, SHOW TRIGGERS, SHOW … STATUS and
    INFORMATION_SCHEMA show them, and mysqldump sets them around the object's CREATE, so a dump
    restores the object as it was made (a MariaDB target refuses a collation it does not
    know, such as MySQL 8's default). Kept in the object's ``meta`` (``META_KEYS``), which
    replicates with its definition; rows written before it was kept read as MySQL 8's
    defaults."""

    client: str = DEFAULT_CHARSET
    connection: str = DEFAULT_COLLATION
    database: str = DEFAULT_COLLATION

    META_KEYS = ("character_set_client", "collation_connection", "database_collation")

    def to_meta(self) -> dict[str, str]:
        return dict(zip(self.META_KEYS, (self.client, self.connection, self.database)))

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> CreationCharsets:
        defaults = cls()
        return cls(*(str(meta.get(key) or getattr(defaults, field))
                     for key, field in zip(cls.META_KEYS, ("client", "connection", "database"))))


@dataclass(slots=True)
class ColumnDef:
    """One MySQL column. ``default_kind``: None (no DEFAULT clause), 'null', 'value' (the
    stored, already coerced ``default_value``), 'now' (CURRENT_TIMESTAMP, ``default_value`` =
    fsp) or 'expr' (``default_value`` = MySQL expression text). ``on_update_fsp`` is not None
    for ON UPDATE CURRENT_TIMESTAMP[(fsp)]. ``generated``: MySQL expression text of a
    generated column, ``stored`` whether it is STORED."""

    name: str
    type: MySqlType
    nullable: bool = True
    default_kind: str | None = None
    default_value: Any = None
    auto_increment: bool = False
    on_update_fsp: int | None = None
    comment: str = ""
    generated: str | None = None
    stored: bool = False
    charset: str | None = None
    collation: str | None = None


@dataclass(slots=True)
class IndexDef:
    """A key. ``kind``: 'PRIMARY' | 'UNIQUE' | 'INDEX' | 'FULLTEXT' (catalog only). ``columns``: (column, prefix length,
    descending). ``sqlite_name`` is the SQLite index name (None for a PRIMARY KEY).
    ``generated``: made for a FOREIGN KEY, not written (definition/keys.py)."""

    name: str
    kind: str
    columns: list[tuple[str, int | None, bool]]
    comment: str = ""
    sqlite_name: str | None = None
    generated: bool = False
    # INVISIBLE: kept and shown; SQLite's planner may still use it (docs/compatibility.md)
    visible: bool = True


@dataclass(slots=True)
class ForeignKeyDef:
    name: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str | None = None
    on_update: str | None = None
    # the parent's database when it is another one than the child's (lower-case), else None:
    # such a key lives in our catalog only (sql/foreign_keys_across.py)
    ref_database: str | None = None


@dataclass(slots=True)
class CheckDef:
    name: str
    expression: str  # MySQL text
    enforced: bool = True


@dataclass(slots=True)
class TableDef:
    name: str
    columns: list[ColumnDef] = field(default_factory=list)
    indexes: list[IndexDef] = field(default_factory=list)
    foreign_keys: list[ForeignKeyDef] = field(default_factory=list)
    checks: list[CheckDef] = field(default_factory=list)
    engine: str = "InnoDB"
    charset: str = DEFAULT_CHARSET
    collation: str = DEFAULT_COLLATION
    comment: str = ""
    auto_increment: int | None = None
    row_format: str | None = None
    # Table options MySQL shows back (SHOWN_TABLE_OPTIONS): name -> value as shown (3, 'fish')
    options: dict[str, str] = field(default_factory=dict)
    # PARTITION BY … as MySQL prints it (sql/definition/partitioning.py); kept, not applied
    partitioning: str | None = None

    def column(self, name: str) -> ColumnDef | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    @property
    def primary_key(self) -> IndexDef | None:
        return next((i for i in self.indexes if i.kind == "PRIMARY"), None)

    @property
    def auto_increment_column(self) -> ColumnDef | None:
        return next((c for c in self.columns if c.auto_increment), None)


# ---------------------------------------------------------------- MySQL rendering

# The table options SHOW CREATE TABLE prints after the character set, in MySQL 8's order
# (sql_show.cc store_create_info); ROW_FORMAT and COMMENT have fields of their own.
SHOWN_TABLE_OPTIONS = ("MIN_ROWS", "MAX_ROWS", "AVG_ROW_LENGTH", "PACK_KEYS", "STATS_PERSISTENT",
                       "STATS_AUTO_RECALC", "STATS_SAMPLE_PAGES", "CHECKSUM", "DELAY_KEY_WRITE",
                       "ROW_FORMAT", "KEY_BLOCK_SIZE", "COMPRESSION", "ENCRYPTION", "COMMENT",
                       "CONNECTION", "SECONDARY_ENGINE", "ENGINE_ATTRIBUTE",
                       "SECONDARY_ENGINE_ATTRIBUTE")
# The ones printed before ENGINE=, and those MySQL prints inside a versioned comment
LEADING_TABLE_OPTIONS = ("TABLESPACE", "AUTOEXTEND_SIZE")
_VERSIONED_OPTIONS = {"ENGINE_ATTRIBUTE": "80021", "SECONDARY_ENGINE_ATTRIBUTE": "80021",
                      "AUTOEXTEND_SIZE": "80023"}


def table_options_text(options: dict[str, str],
                       names: tuple[str, ...] = SHOWN_TABLE_OPTIONS) -> str:
    """``options`` (name -> value as shown) in MySQL's order, as SHOW CREATE TABLE prints them
    after ``DEFAULT CHARSET=… COLLATE=…`` (``names``: LEADING_TABLE_OPTIONS for those it prints
    before ``ENGINE=``)."""
    return " ".join(_option_text(name, options[name]) for name in names if options.get(name))


def _option_text(name: str, value: str) -> str:
    if name == "TABLESPACE":
        return f"/*!50100 TABLESPACE {value} */"
    version = _VERSIONED_OPTIONS.get(name)
    return f"/*!{version} {name}={value} */" if version else f"{name}={value}"


def partitioning_text(partitioning: str | None) -> str:
    """The partitioning clause as SHOW CREATE TABLE ends with it ('' for none): on a line of its
    own, in the versioned comment MySQL 8 writes (5.5's for the COLUMNS forms)."""
    if not partitioning:
        return ""
    version = "50500" if "COLUMNS(" in partitioning else "50100"
    return f"\n/*!{version} {partitioning} */"


def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def quote_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def render_default(column: ColumnDef) -> str | None:
    """The DEFAULT clause body as SHOW CREATE TABLE prints it, or None for no clause."""
    kind, value = column.default_kind, column.default_value
    if kind is None:
        if column.nullable and not column.auto_increment and not _lob(column.type):
            return "NULL"
        return None
    if kind == "null":
        return "NULL"
    if kind == "now":
        return f"CURRENT_TIMESTAMP({value})" if value else "CURRENT_TIMESTAMP"
    if kind == "expr":
        return f"({value})"
    if column.type.name == "bit":
        return bit_literal(value)
    if isinstance(value, bytes) and column.type.family == "int":
        return quote_string(str(int.from_bytes(value, "big")))  # BIGINT UNSIGNED from 2^63
    if isinstance(value, bytes):
        return "0x" + value.hex().upper() if value else "''"
    if isinstance(value, float):
        if column.type.scale is not None and column.type.family == "float":
            return quote_string(f"{value:.{column.type.scale}f}")  # DOUBLE(22,6): '0.000000'
        from marmotdb.sql.types.coltypes import format_double
        return quote_string(format_double(value))
    return quote_string(str(value))


def _lob(t: MySqlType) -> bool:
    """TEXT and BLOB, which MySQL prints without ``DEFAULT NULL`` (not JSON: its field type
    is not BLOB's, so ``json DEFAULT NULL``)."""
    return t.name.endswith("text") or t.name.endswith("blob")


def render_column(column: ColumnDef, table: TableDef) -> str:
    parts = [quote_ident(column.name), column.type.column_type()]
    if column.charset and column.charset != table.charset:
        parts.append(f"CHARACTER SET {column.charset}")
    if column.collation and column.collation != table.collation:
        parts.append(f"COLLATE {column.collation}")
    if column.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) "
                     f"{'STORED' if column.stored else 'VIRTUAL'}")
        if not column.nullable:
            parts.append("NOT NULL")
    else:
        if not column.nullable:
            parts.append("NOT NULL")
        elif column.type.name == "timestamp":
            parts.append("NULL")
        default = render_default(column)
        if default is not None:
            parts.append(f"DEFAULT {default}")
    if column.auto_increment:
        parts.append("AUTO_INCREMENT")
    if column.on_update_fsp is not None:
        fsp = column.on_update_fsp
        parts.append(f"ON UPDATE CURRENT_TIMESTAMP({fsp})" if fsp else
                     "ON UPDATE CURRENT_TIMESTAMP")
    if column.comment:
        parts.append(f"COMMENT {quote_string(column.comment)}")
    return " ".join(parts)


def _render_key_parts(index: IndexDef) -> str:
    """Columns in backticks; a functional key part is kept as its ``(expr)`` text."""
    return ",".join((c if is_key_expression(c) else quote_ident(c)) + (f"({n})" if n else "")
                    + (" DESC" if d else "") for c, n, d in index.columns)


def render_index(index: IndexDef) -> str:
    parts = f"({_render_key_parts(index)})"
    comment = f" COMMENT {quote_string(index.comment)}" if index.comment else ""
    if index.kind == "PRIMARY":
        return f"PRIMARY KEY {parts}{comment}"
    prefix = {"UNIQUE": "UNIQUE KEY", "FULLTEXT": "FULLTEXT KEY"}.get(index.kind, "KEY")
    invisible = "" if index.visible else " /*!80000 INVISIBLE */"
    return f"{prefix} {quote_ident(index.name)} {parts}{comment}{invisible}"


def referenced_table(fk: ForeignKeyDef) -> str:
    """`t`, or `db`.`t` for a key to another database's table (MySQL's spelling)."""
    table = quote_ident(fk.ref_table)
    return f"{quote_ident(fk.ref_database)}.{table}" if fk.ref_database else table


def render_foreign_key(fk: ForeignKeyDef) -> str:
    text = (f"CONSTRAINT {quote_ident(fk.name)} FOREIGN KEY "
            f"({', '.join(quote_ident(c) for c in fk.columns)}) REFERENCES "
            f"{referenced_table(fk)} ({', '.join(quote_ident(c) for c in fk.ref_columns)})")
    if fk.on_delete and fk.on_delete != "NO ACTION":
        text += f" ON DELETE {fk.on_delete}"
    if fk.on_update and fk.on_update != "NO ACTION":
        text += f" ON UPDATE {fk.on_update}"
    return text


_INDEX_ORDER = {"PRIMARY": 0, "UNIQUE": 1, "INDEX": 2, "FULLTEXT": 3}


def render_create_table(table: TableDef, auto_increment: int | None = None) -> str:
    """SHOW CREATE TABLE output for ``table`` (MySQL 8.0 layout). ``auto_increment``: the next
    AUTO_INCREMENT value to show (MySQL omits the option while it is 1)."""
    lines = [render_column(c, table) for c in table.columns]
    lines += [render_index(i) for i in sorted(table.indexes, key=lambda i: _INDEX_ORDER[i.kind])]
    lines += [render_foreign_key(fk) for fk in sorted(table.foreign_keys, key=lambda f: f.name)]
    lines += [f"CONSTRAINT {quote_ident(c.name)} CHECK ({c.expression})"
              + ("" if c.enforced else " /*!80016 NOT ENFORCED */")
              for c in sorted(table.checks, key=lambda c: c.name.lower())]  # MySQL 8's order
    leading = table_options_text(table.options, LEADING_TABLE_OPTIONS)
    options = [leading] if leading else []
    options.append(f"ENGINE={table.engine}")
    next_value = auto_increment if auto_increment is not None else table.auto_increment
    if next_value and next_value > 1:
        options.append(f"AUTO_INCREMENT={next_value}")
    options.append(f"DEFAULT CHARSET={table.charset}")
    if table.collation:
        options.append(f"COLLATE={table.collation}")
    shown = table_options_text({**table.options,
                                "ROW_FORMAT": (table.row_format or "").upper(),
                                "COMMENT": quote_string(table.comment) if table.comment else ""})
    if shown:
        options.append(shown)
    body = ",\n".join("  " + line for line in lines)
    return (f"CREATE TABLE {quote_ident(table.name)} (\n{body}\n) {' '.join(options)}"
            + partitioning_text(table.partitioning))


# ---------------------------------------------------------------- catalog metadata

def column_key(table: TableDef, column: ColumnDef) -> str:
    """INFORMATION_SCHEMA.COLUMNS.COLUMN_KEY: PRI, UNI, MUL or ''."""
    name = column.name.lower()
    for kind, label in (("PRIMARY", "PRI"), ("UNIQUE", "UNI")):
        for index in table.indexes:
            if index.kind == kind and index.columns[0][0].lower() == name and (
                    kind == "PRIMARY" or len(index.columns) == 1):
                return label
    if any(i.columns[0][0].lower() == name for i in table.indexes):
        return "MUL"
    if any(fk.columns[0].lower() == name for fk in table.foreign_keys):
        return "MUL"
    return ""


def column_extra(column: ColumnDef) -> str:
    parts = []
    if column.auto_increment:
        parts.append("auto_increment")
    if column.default_kind in ("now", "expr"):
        parts.append("DEFAULT_GENERATED")
    if column.on_update_fsp is not None:
        fsp = column.on_update_fsp
        parts.append(f"on update CURRENT_TIMESTAMP({fsp})" if fsp else
                     "on update CURRENT_TIMESTAMP")
    if column.generated is not None:
        parts.append("STORED GENERATED" if column.stored else "VIRTUAL GENERATED")
    return " ".join(parts)


def default_for_catalog(column: ColumnDef) -> str | None:
    """INFORMATION_SCHEMA.COLUMNS.COLUMN_DEFAULT (and the catalog's column default): the value
    unquoted, ``b'…'`` / ``0x…`` for bits and bytes, CURRENT_TIMESTAMP[(n)], or the
    expression's text; SHOW CREATE TABLE's clause (``render_default``) without its quotes."""
    kind, value = column.default_kind, column.default_value
    if kind in (None, "null"):
        return None
    if kind == "now":
        return f"CURRENT_TIMESTAMP({value})" if value else "CURRENT_TIMESTAMP"
    if kind == "expr":
        return str(value)
    shown = render_default(column) or ""
    if shown.startswith("'"):
        return shown[1:-1].replace("''", "'").replace("\\\\", "\\")
    return shown


def bit_literal(value: Any) -> str:
    """A BIT column's stored value (an integer, or types/uint64.py's 8-byte BLOB) as ``b'…'``."""
    number = int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)
    return "b'" + format(number & 0xFFFF_FFFF_FFFF_FFFF, "b") + "'"


_NUMERIC_PRECISION = {"tinyint": 3, "smallint": 5, "mediumint": 7, "int": 10, "bigint": 19}


def column_meta_of(table: TableDef, column: ColumnDef, ordinal: int) -> dict[str, Any]:
    """One column as INFORMATION_SCHEMA.COLUMNS describes it (keys lower-case)."""
    t = column.type
    text_like = t.family in ("text", "enum", "set")
    numeric_precision = numeric_scale = char_length = octet_length = None
    if t.family == "int":
        numeric_precision, numeric_scale = _NUMERIC_PRECISION[t.name] + (
            1 if t.unsigned and t.name == "bigint" else 0), 0
    elif t.family == "decimal":
        numeric_precision, numeric_scale = t.length or 10, t.scale or 0
    elif t.family == "float":
        numeric_precision = t.length or (12 if t.name == "float" else 22)
        numeric_scale = t.scale if t.length else None
    elif t.name == "bit":
        numeric_precision = t.length or 1
    elif text_like or t.family == "binary":
        from marmotdb.sql.types.coltypes import display_length
        octet_length = display_length(t)
        char_length = octet_length // 4 if text_like and octet_length < 4294967295 \
            else octet_length
    charset = (column.charset or table.charset) if text_like else None
    collation = (column.collation or table.collation) if text_like else None
    return {
        "name": column.name, "ordinal": ordinal, "default": default_for_catalog(column),
        "nullable": column.nullable, "data_type": t.name, "column_type": t.column_type(),
        "char_max_length": char_length, "octet_max_length": octet_length,
        "numeric_precision": numeric_precision, "numeric_scale": numeric_scale,
        "datetime_precision": t.fsp if t.family == "temporal" and t.name != "year" and
        t.name != "date" else (0 if t.name == "date" else None),
        "charset": charset, "collation": collation, "key": column_key(table, column),
        "extra": column_extra(column), "comment": column.comment,
        "generation_expression": column.generated or "",
        "auto_increment": column.auto_increment, "enum_values": list(t.values),
        "unsigned": t.unsigned, "sqlite_decltype": t.sqlite_decltype(),
    }


def table_meta_json(table: TableDef) -> str:
    columns = [column_meta_of(table, c, i + 1) for i, c in enumerate(table.columns)]
    return json.dumps({"table": _table_to_dict(table), "columns": columns},
                      default=_json_default, separators=(",", ":"))


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    raise TypeError(type(value).__name__)


def _table_to_dict(table: TableDef) -> dict[str, Any]:
    data = asdict(table)
    for column in data["columns"]:
        if isinstance(column["default_value"], bytes):
            column["default_value"] = {"$bytes": column["default_value"].hex()}
    for index in data["indexes"]:  # a functional key part is not a column named "(…)"
        index["columns"] = [({"$expr": str(c)} if is_key_expression(c) else c, n, d)
                            for c, n, d in index["columns"]]
    return data


# ---------------------------------------------------------------- bookkeeping statements

def sql_literal(value: object) -> str:
    """A SQLite literal for ``value`` (used in generated bookkeeping statements)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def upsert_statement(kind: str, name: str, mysql_sql: str, meta_json: str) -> str:
    return (f'INSERT OR REPLACE INTO "{SCHEMA_TABLE}" (kind, name, mysql_sql, meta) VALUES '
            f"({sql_literal(kind)}, {sql_literal(name.lower())}, {sql_literal(mysql_sql)}, "
            f"{sql_literal(meta_json)})")


def delete_statement(kind: str, name: str) -> str:
    return (f'DELETE FROM "{SCHEMA_TABLE}" WHERE kind = {sql_literal(kind)} '
            f"AND name = {sql_literal(name.lower())}")


def delete_triggers_of_statement(table: str) -> str:
    return (f'DELETE FROM "{SCHEMA_TABLE}" WHERE kind = \'trigger\' '
            f"AND json_extract(meta, '$.table') = {sql_literal(table.lower())}")


def table_statements(table: TableDef) -> list[str]:
    """The bookkeeping write for a created or altered table."""
    return [upsert_statement("table", table.name, render_create_table(table),
                             table_meta_json(table))]


# ---------------------------------------------------------------- readers

# The database's own row: its default character set and collation (CREATE/ALTER DATABASE,
# rewrites/ddl/databases.py); none for a database made without them (MySQL 8's defaults)
DATABASE_KIND = "database"


def database_charset_statement(charset: str, collation: str) -> str:
    """The bookkeeping write of a database's default character set and collation."""
    return upsert_statement(DATABASE_KIND, "", f"DEFAULT CHARACTER SET {charset} COLLATE "
                            f"{collation}", json.dumps({"charset": charset,
                                                        "collation": collation}))


def database_charset(conn: apsw.Connection) -> tuple[str, str]:
    """(character set, collation) of the database behind ``conn``; the caller holds trust."""
    found = _row(conn, DATABASE_KIND, "")
    if found is None:
        return DEFAULT_CHARSET, DEFAULT_COLLATION
    meta = json.loads(found[1])
    return str(meta["charset"]), str(meta["collation"])


def ensure_schema_table(conn: apsw.Connection, temporary: bool = False) -> None:
    """Create ``__marmot_schema`` if missing (idempotent; run when a database is opened).
    ``temporary``: in the connection's TEMP schema, where it shadows the database's own and
    records a session's temporary tables (sql/temporary.py)."""
    conn.execute(_CREATE_SCHEMA_TABLE.replace("CREATE TABLE", "CREATE TEMP TABLE", temporary))


def _row(conn: apsw.Connection, kind: str, name: str) -> tuple[str, str] | None:
    try:
        found = conn.execute(f'SELECT mysql_sql, meta FROM "{SCHEMA_TABLE}" '
                             "WHERE kind = ? AND name = ?", (kind, name.lower())).fetchall()
    except apsw.SQLError:  # no schema table yet: a database marmotdb never wrote DDL to
        return None
    return (found[0][0], found[0][1]) if found else None


def _auto_increment_next(conn: apsw.Connection, name: str) -> int | None:
    try:
        found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ? COLLATE NOCASE",
                             (name,)).fetchall()
    except apsw.SQLError:
        return None
    return int(found[0][0]) + 1 if found and found[0][0] is not None else None


def mysql_ddl(conn: apsw.Connection, name: str, kind: str = "table") -> str | None:
    """SHOW CREATE TABLE/VIEW/TRIGGER text of ``name``; None if marmotdb has no record.

    For a table the AUTO_INCREMENT option reflects the current counter."""
    found = _row(conn, kind, name)
    if found is None:
        return None
    if kind != "table":
        return found[0]
    table = table_def_from_meta(found[1])
    counter = _auto_increment_next(conn, table.name)
    if counter is None and table.auto_increment is None:
        return found[0]
    return render_create_table(table, max(counter or 0, table.auto_increment or 0) or None)


def table_meta(conn: apsw.Connection, name: str, kind: str = "table") -> dict[str, Any] | None:
    """The decoded ``meta`` JSON of an object (see the module docstring), or None."""
    found = _row(conn, kind, name)
    return json.loads(found[1]) if found else None


def column_meta(conn: apsw.Connection, name: str) -> list[dict[str, Any]] | None:
    """Per-column INFORMATION_SCHEMA data of a table or view, in column order: keys name,
    ordinal, default, nullable, data_type, column_type, char_max_length, octet_max_length,
    numeric_precision, numeric_scale, datetime_precision, charset, collation, key, extra,
    comment, generation_expression, auto_increment, enum_values, unsigned, sqlite_decltype."""
    meta = table_meta(conn, name) or table_meta(conn, name, "view")
    return None if meta is None else list(meta.get("columns", []))


def table_def(conn: apsw.Connection, name: str) -> TableDef | None:
    found = _row(conn, "table", name)
    return table_def_from_meta(found[1]) if found else None


def objects(conn: apsw.Connection, kind: str | None = None) -> list[tuple[str, str, str]]:
    """(kind, name, mysql_sql) of every recorded object, optionally of one kind, sorted."""
    try:
        rows = conn.execute(f'SELECT kind, name, mysql_sql FROM "{SCHEMA_TABLE}" '
                            "ORDER BY kind, name").fetchall()
    except apsw.SQLError:
        return []
    return [(k, n, s) for k, n, s in rows if kind is None or k == kind]


def table_def_from_meta(meta_json: str) -> TableDef:
    return table_def_from_dict(json.loads(meta_json))


def table_def_from_dict(meta: dict[str, Any]) -> TableDef:
    """The TableDef stored in a table's decoded ``meta`` (see ``table_meta``)."""
    data = meta["table"]
    columns = []
    for c in data["columns"]:
        c = dict(c)
        c["type"] = MySqlType(**{**c["type"], "values": tuple(c["type"]["values"])})
        if isinstance(c["default_value"], dict) and "$bytes" in c["default_value"]:
            c["default_value"] = bytes.fromhex(c["default_value"]["$bytes"])
        columns.append(ColumnDef(**c))
    names = {c.name.lower() for c in columns}
    indexes = [IndexDef(**{**i, "columns": [(_key_part_from_json(p[0], names), *p[1:])
                                            for p in i["columns"]]})
               for i in data["indexes"]]
    return TableDef(**{**data, "columns": columns, "indexes": indexes,
                       "foreign_keys": [ForeignKeyDef(**f) for f in data["foreign_keys"]],
                       "checks": [CheckDef(**c) for c in data["checks"]]})


def _key_part_from_json(part: Any, column_names: set[str]) -> str:
    """A column name, or a functional key part: ``{"$expr": …}``, or, as stored before the
    marker existed, a ``(…)`` text that names no column."""
    if isinstance(part, dict):
        return KeyExpression(part["$expr"])
    if part.startswith("(") and part.lower() not in column_names:
        return KeyExpression(part)
    return str(part)


def foreign_key_owner(conn: apsw.Connection, name: str) -> str | None:
    """The table whose stored definition has a FOREIGN KEY called ``name`` (any case)."""
    found = conn.execute(
        f'SELECT s.name FROM "{SCHEMA_TABLE}" AS s, json_each(s.meta, \'$.table.foreign_keys\') '
        "AS f WHERE s.kind = 'table' AND lower(json_extract(f.value, '$.name')) = lower(?) "
        "LIMIT 1", (name,)).fetchall()
    return found[0][0] if found else None


def sqlite_index_taken(conn: apsw.Connection, name: str, table: str,
                       schema_name: str = "main") -> bool:
    """Whether a table other than ``table`` has the SQLite index ``name`` (index names are
    per schema in SQLite and survive RENAME TABLE)."""
    return bool(conn.execute(
        f"SELECT 1 FROM {schema_name}.sqlite_schema WHERE type = 'index' AND name = ? "
        "COLLATE NOCASE AND tbl_name <> ? COLLATE NOCASE", (name, table)).fetchall())


def child_tables(conn: apsw.Connection, table: str) -> list[str]:
    """The tables with a FOREIGN KEY to ``table`` (itself included when it refers to itself),
    from SQLite's catalog; the caller reads it with the trust catalog reads need."""
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT m.name FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f "
        "WHERE m.type = 'table' AND f.\"table\" = ? COLLATE NOCASE ORDER BY m.name", (table,))]
