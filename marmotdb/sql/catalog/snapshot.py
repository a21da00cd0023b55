"""What one database holds, as the catalog describes it: tables, views, triggers.

A ``DatabaseSnapshot`` is built from a database's read connection: ``sqlite_schema`` for the
object list, ``__marmot_schema`` for the original MySQL DDL, and the table PRAGMAs for what
SQLite really enforces (see model.py for how the two are reconciled). Building one
costs a few hundred microseconds per table, so snapshots are cached per connection object and
reused while ``PRAGMA schema_version`` and the stored-DDL fingerprint are unchanged (every DDL
bumps one or the other). Internal objects (``__marmot_*``, ``sqlite_*``) are never listed.

The catalog reads internal tables that user statements may not: it lifts the connection's
authorizer for the duration of its own reads (``trusted``) and restores it after.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apsw

from marmotdb.sql.schema import (
    DEFAULT_CHARSET,
    DEFAULT_COLLATION,
    CreationCharsets,
    database_charset,
)
from marmotdb.sql.types import coltypes
from marmotdb.sql.catalog.declared import declared_table
from marmotdb.sql.catalog.expr import NotSimple, TokenStream, tokenize
from marmotdb.sql.routines import store as routine_store
from marmotdb.sql.routines.definition import Routine
from marmotdb.sql.catalog.model import (
    ColumnModel,
    ForeignKeyModel,
    IndexModel,
    KeyExpression,
    TableModel,
    is_key_expression,
)

SCHEMA_TABLE = "__marmot_schema"


@dataclass(slots=True)
class ViewInfo:
    name: str
    definition: str  # the SELECT, as MySQL shows VIEW_DEFINITION
    mysql_sql: str | None  # the original CREATE VIEW, when kept
    columns: list[ColumnModel] = field(default_factory=list)
    check_option: str = "NONE"
    is_updatable: str = "NO"
    valid: bool = True  # False when SQLite cannot read it (a table it reads was dropped)
    charsets: CreationCharsets = CreationCharsets()
    algorithm: str = "UNDEFINED"
    security: str = "DEFINER"  # SQL SECURITY


@dataclass(slots=True)
class TriggerInfo:
    name: str
    table: str
    timing: str  # BEFORE | AFTER
    event: str  # INSERT | UPDATE | DELETE
    statement: str  # the trigger body
    mysql_sql: str
    charsets: CreationCharsets = CreationCharsets()


@dataclass(slots=True, eq=False)  # compared by identity: the INFORMATION_SCHEMA cache token
class DatabaseSnapshot:
    """One database's objects at one schema version. Table models are built on first use
    (SHOW TABLES needs only names; a model costs a DDL parse and four PRAGMAs)."""

    name: str
    fingerprint: tuple[object, ...]
    views: dict[str, ViewInfo] = field(default_factory=dict)
    triggers: list[TriggerInfo] = field(default_factory=list)
    routines: list[Routine] = field(default_factory=list)  # sql/routines/
    charset: str = DEFAULT_CHARSET  # the database's default (CREATE/ALTER DATABASE)
    collation: str = DEFAULT_COLLATION
    rows: dict[str, list[tuple]] = field(default_factory=dict)  # INFORMATION_SCHEMA rows cache
    quick: tuple[object, ...] = ()  # (schema_version, data_version, total_changes) last seen
    _built: dict[str, TableModel] = field(default_factory=dict)  # lower-case name -> model
    _pending: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    _conn: weakref.ref[apsw.Connection] | None = None  # weak: the cache is keyed by it
    _names: list[tuple[str, str]] | None = None
    _parent: DatabaseSnapshot | None = None  # set on a ``restricted`` view of a snapshot

    def object_names(self) -> list[tuple[str, str]]:
        """(name, 'BASE TABLE' | 'VIEW') sorted by name, as SHOW FULL TABLES lists them."""
        if self._names is None:
            names = [(t.name, "BASE TABLE") for t in self._built.values()]
            names += [(entry[0], "BASE TABLE") for entry in self._pending.values()]
            names += [(v.name, "VIEW") for v in self.views.values()]
            self._names = sorted(names, key=lambda item: item[0])
        return self._names

    @property
    def tables(self) -> dict[str, TableModel]:
        """Every table's model (lower-case name -> model), building those not built yet."""
        for key in list(self._pending):
            self._build_table(key)
        return self._built

    def table(self, name: str) -> TableModel | None:
        key = name.lower()
        if key in self._pending:
            self._build_table(key)
        found = self._built.get(key)
        if found is None and self._parent is not None:
            return self._parent.table(name)  # lookups (e.g. a referenced table) see them all
        return found

    def restricted(self, names: tuple[str, ...]) -> DatabaseSnapshot:
        """This snapshot limited to the objects named (lower-case), for INFORMATION_SCHEMA
        queries that filter on one table: only those models get built."""
        child = DatabaseSnapshot(self.name, self.fingerprint, _parent=self)
        for key in names:
            model = self.table(key)
            if model is not None:
                child._built[key] = model
            if key in self.views:
                child.views[key] = self.views[key]
        child.triggers = [t for t in self.triggers if t.table.lower() in names]
        return child

    def view(self, name: str) -> ViewInfo | None:
        return self.views.get(name.lower())

    def _build_table(self, key: str) -> None:
        name, sqlite_sql, mysql_sql = self._pending.pop(key)
        conn = self._conn() if self._conn is not None else None
        if conn is None:  # the connection is gone: so is every reader of this snapshot
            return
        with trusted(conn):
            self._built[key] = table_model(conn, name, sqlite_sql, mysql_sql)


def is_internal(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(("__marmot_", "sqlite_"))


class trusted:
    """Run catalog reads without the connection's user-facing authorizer."""

    __slots__ = ("conn", "saved")

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self.saved = None

    def __enter__(self) -> apsw.Connection:
        self.saved = self.conn.authorizer
        self.conn.authorizer = None
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.authorizer = self.saved


_CACHE: weakref.WeakKeyDictionary[apsw.Connection, DatabaseSnapshot] = weakref.WeakKeyDictionary()


_QUICK = "SELECT s.schema_version, d.data_version FROM pragma_schema_version s, pragma_data_version d"


def snapshot(conn: apsw.Connection, database: str) -> DatabaseSnapshot:
    """The (cached) snapshot of the database behind ``conn``.

    Validation is two-step: if neither the schema version nor any data changed since the
    snapshot was checked (``data_version`` covers other connections' commits,
    ``total_changes`` this one's), it is current without looking further; otherwise the stored
    DDL's fingerprint decides (a data-only write leaves it valid)."""
    with trusted(conn):
        quick = tuple(conn.execute(_QUICK).fetchall()[0]) + (conn.total_changes(),)
        cached = _CACHE.get(conn)
        if cached is not None and cached.name == database and cached.quick == quick:
            return cached
        fingerprint = _fingerprint(conn, quick[0])
        if cached is not None and cached.name == database and cached.fingerprint == fingerprint:
            cached.quick = quick
            return cached
        built = _build(conn, database, fingerprint)
    built.quick = quick
    _CACHE[conn] = built
    return built


def _fingerprint(conn: apsw.Connection, schema_version: int) -> tuple[object, ...]:
    if not _has_schema_table(conn):
        return (schema_version, None)
    # A comment-only ALTER may touch the stored DDL without a SQLite schema change.
    row = conn.execute(f"SELECT count(*), total(length(mysql_sql)), max(rowid) FROM {SCHEMA_TABLE}"
                       ).fetchall()[0]
    return (schema_version, tuple(row))


def _has_schema_table(conn: apsw.Connection) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
                             (SCHEMA_TABLE,)).fetchall())


def _build(conn: apsw.Connection, database: str, fingerprint: tuple[object, ...]
           ) -> DatabaseSnapshot:
    result = DatabaseSnapshot(database, fingerprint, _conn=weakref.ref(conn))
    stored = _stored_ddl(conn)
    result.routines = routine_store.load_all(conn)
    result.charset, result.collation = database_charset(conn)
    objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema "
                           "WHERE type IN ('table', 'view', 'trigger') ORDER BY name").fetchall()
    for kind, name, table_name, sql in objects:
        if is_internal(name):
            continue
        mysql_sql, meta = stored.get((kind, name.lower()), (None, {}))
        if kind == "table":
            result._pending[name.lower()] = (name, sql or "", mysql_sql)
        elif kind == "view":
            result.views[name.lower()] = _view(conn, name, sql or "", mysql_sql, result.table,
                                               meta)
        elif not is_internal(table_name):
            result.triggers.append(_trigger(name, table_name, sql or "", mysql_sql,
                                            CreationCharsets.from_meta(meta)))
    return result


def _stored_ddl(conn: apsw.Connection) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(kind, lower-case name) -> (MySQL DDL, the decoded ``meta`` of a view or trigger, {}
    for the others); kind is 'table' | 'view' | 'trigger' (triggers have their own
    namespace, so a trigger may share a table's name)."""
    if not _has_schema_table(conn):
        return {}
    rows = conn.execute(f"SELECT kind, name, mysql_sql, CASE WHEN kind IN ('view', 'trigger') "
                        f"THEN meta END FROM {SCHEMA_TABLE}").fetchall()
    return {(str(kind), str(name).lower()): (str(sql), _decoded(meta))
            for kind, name, sql, meta in rows if sql}


def _decoded(meta: str | None) -> dict[str, Any]:
    try:
        found = json.loads(meta) if meta else {}
    except ValueError:
        found = {}
    return found if isinstance(found, dict) else {}


# ---------------------------------------------------------------------------------- tables
def table_model(conn: apsw.Connection, name: str, sqlite_sql: str, mysql_sql: str | None
                ) -> TableModel:
    """The MySQL model of one table: stored DDL reconciled with SQLite's PRAGMAs."""
    facts = _sqlite_model(conn, name, sqlite_sql)
    if mysql_sql:
        try:
            model = declared_table(mysql_sql)
        except Exception:  # noqa: BLE001 - stored DDL the reader refuses: describe SQLite's
            return facts.finish()
        model.name = name
        return _reconcile(model, facts).finish()
    return facts.finish()


def _sqlite_model(conn: apsw.Connection, name: str, sqlite_sql: str) -> TableModel:
    table = TableModel(name)
    quoted = '"' + name.replace('"', '""') + '"'
    pk_columns: list[tuple[int, str]] = []
    for _, column, decltype, notnull, default, pk, hidden in conn.execute(
            f"PRAGMA table_xinfo({quoted})"):
        if hidden == 1:
            continue
        table.columns.append(_sqlite_column(column, decltype or "", bool(notnull), default))
        if pk:
            pk_columns.append((pk, column))
    if pk_columns:
        pk_columns.sort()
        table.indexes.append(IndexModel("PRIMARY", "PRIMARY", [(c, None, "A") for _, c in pk_columns]))
        for _, column in pk_columns:
            table.column(column).nullable = False  # type: ignore[union-attr]
        if len(pk_columns) == 1 and "AUTOINCREMENT" in sqlite_sql.upper():
            table.column(pk_columns[0][1]).auto_increment = True  # type: ignore[union-attr]
    table.indexes.extend(_sqlite_indexes(conn, quoted, table))
    table.foreign_keys.extend(_sqlite_foreign_keys(conn, quoted, name))
    return table


def _sqlite_column(name: str, decltype: str, notnull: bool, default: str | None) -> ColumnModel:
    mysql_type = coltypes.from_decltype(decltype) if decltype else None
    if mysql_type is None:
        mysql_type = coltypes.MySqlType(_affinity_type(decltype))
    column = ColumnModel(name, mysql_type.name, mysql_type.column_type(), nullable=not notnull)
    if default is not None:
        _sqlite_default(column, default)
    return column


def _affinity_type(decltype: str) -> str:
    upper = decltype.upper()
    if "INT" in upper:
        return "bigint"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not upper or "BLOB" in upper:
        return "blob"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "double"
    return "decimal"


def _sqlite_default(column: ColumnModel, default: str) -> None:
    upper = default.upper()
    if upper == "NULL":
        column.default_kind = "null"
    elif upper.startswith("CURRENT_TIMESTAMP"):
        column.default, column.default_kind = "CURRENT_TIMESTAMP", "expression"
    elif default.startswith("'"):
        column.default, column.default_kind = default[1:-1].replace("''", "'"), "literal"
    elif default.startswith("("):
        column.default, column.default_kind = default[1:-1], "expression"
    else:
        column.default, column.default_kind = default, "literal"


def _sqlite_indexes(conn: apsw.Connection, quoted: str, table: TableModel) -> list[IndexModel]:
    indexes: list[IndexModel] = []
    for _, index_name, unique, origin, _ in conn.execute(f"PRAGMA index_list({quoted})"):
        if origin == "pk":
            continue
        parts: list[tuple[str, int | None, str]] = []
        for _, _, column, desc, _, key in conn.execute(
                f"PRAGMA index_xinfo(\"{index_name.replace(chr(34), chr(34) * 2)}\")"):
            if key:
                parts.append((column if column is not None else KeyExpression("(expression)"), None,
                              "D" if desc else "A"))
        name = index_name
        if index_name.startswith("sqlite_autoindex_"):
            name = parts[0][0] if parts else index_name
        indexes.append(IndexModel(name, "UNIQUE" if unique else "INDEX", parts))
    return indexes


def _sqlite_foreign_keys(conn: apsw.Connection, quoted: str, table: str
                         ) -> list[ForeignKeyModel]:
    grouped: dict[int, ForeignKeyModel] = {}
    for fk_id, _, ref_table, column, ref_column, on_update, on_delete, _ in conn.execute(
            f"PRAGMA foreign_key_list({quoted})"):
        fk = grouped.get(fk_id)
        if fk is None:
            fk = grouped[fk_id] = ForeignKeyModel("", [], ref_table, [], on_delete, on_update)
        fk.columns.append(column)
        if ref_column is not None:
            fk.ref_columns.append(ref_column)
    ordered = [grouped[key] for key in sorted(grouped, reverse=True)]  # SQLite numbers backwards
    for number, fk in enumerate(ordered, 1):
        fk.name = f"{table}_ibfk_{number}"
    return ordered


def _reconcile(model: TableModel, facts: TableModel) -> TableModel:
    """Keep the stored DDL's MySQL detail, but only for what SQLite really has."""
    columns = []
    for fact in facts.columns:
        declared = model.column(fact.name)
        columns.append(declared if declared is not None else fact)
    model.columns = columns
    present = {c.name.lower() for c in columns}
    fact_keys = {_index_key(i) for i in facts.indexes}
    kept = [i for i in model.indexes if all(c.lower() in present for c, _, _ in i.columns
                                            if not is_key_expression(c))
            and (i.kind in ("FULLTEXT", "SPATIAL") or _index_key(i) in fact_keys)]
    kept_keys = {_index_key(i) for i in kept}
    kept += [i for i in facts.indexes if _index_key(i) not in kept_keys]
    model.indexes = sorted(kept, key=lambda i: i.kind != "PRIMARY")
    model.foreign_keys = _reconcile_foreign_keys(model.foreign_keys, facts.foreign_keys)
    return model


def _index_key(index: IndexModel) -> tuple[object, ...]:
    """What SQLite can confirm of a key: its kind and columns (an expression part is only
    "an expression" to PRAGMA index_xinfo, and so is a unique key's column prefix, which
    SQLite indexes as ``substr(…)``: rewrites/ddl/render.py)."""
    kind = "PRIMARY" if index.kind == "PRIMARY" else index.unique
    return (kind, tuple(None if is_key_expression(c) or (length and index.unique)
                        else c.lower() for c, length, _ in index.columns))


def _reconcile_foreign_keys(declared: list[ForeignKeyModel], facts: list[ForeignKeyModel]
                            ) -> list[ForeignKeyModel]:
    def columns(fk: ForeignKeyModel) -> tuple[str, ...]:
        return tuple(c.lower() for c in fk.columns)

    def same(fk: ForeignKeyModel, fact: ForeignKeyModel) -> bool:
        return columns(fk) == columns(fact) and fk.ref_table.lower() == fact.ref_table.lower() \
            and (not fact.ref_columns or [c.lower() for c in fk.ref_columns]
                 == [c.lower() for c in fact.ref_columns])

    # Each declared key describes one of SQLite's: two may share their columns and parent
    # (fk_a (x) → p (id), fk_b (x) → p (b)), so a declared key is matched once.
    unmatched = list(declared)
    result = []
    for fact in facts:
        chosen = next((fk for fk in unmatched if same(fk, fact)), None)
        if chosen is None:  # parent renamed since (RENAME TABLE): SQLite has the new name
            chosen = next((fk for fk in unmatched if columns(fk) == columns(fact)), None)
            if chosen is not None:
                chosen.ref_table = fact.ref_table
        if chosen is not None:
            unmatched.remove(chosen)
        chosen = chosen or fact
        if not chosen.ref_columns:
            chosen.ref_columns = fact.ref_columns
        result.append(chosen)
    # A key to another database's table is in our catalog only (SQLite has no such key:
    # sql/foreign_keys_across.py); the stored text qualifies only those. In declared order.
    order = {id(fk): i for i, fk in enumerate(declared)}
    chosen_ids = {id(fk) for fk in result}
    result += [fk for fk in declared if fk.ref_schema and id(fk) not in chosen_ids]
    return sorted(result, key=lambda fk: order.get(id(fk), len(order)))


# ---------------------------------------------------------------------------------- views
def _view(conn: apsw.Connection, name: str, sqlite_sql: str, mysql_sql: str | None,
          table: Callable[[str], TableModel | None], meta: dict[str, Any]) -> ViewInfo:
    """``meta``: what CREATE VIEW kept (rewrites/ddl/views.py): the SELECT without its WITH
    CHECK OPTION, the check option, algorithm, SQL SECURITY and the creating charsets."""
    source = mysql_sql or sqlite_sql
    definition = str(meta.get("definition") or _after_as(source) or source).rstrip(";").strip()
    info = ViewInfo(name, definition, mysql_sql, charsets=CreationCharsets.from_meta(meta),
                    check_option=str(meta.get("check_option") or "NONE"),
                    algorithm=str(meta.get("algorithm") or "UNDEFINED"),
                    security=str(meta.get("security") or "DEFINER"))
    quoted = '"' + name.replace('"', '""') + '"'
    try:
        for _, column, decltype, notnull, default, _, hidden in conn.execute(
                f"PRAGMA table_xinfo({quoted})"):
            info.columns.append(_sqlite_column(column, decltype or "", bool(notnull), default))
        _type_from_origins(conn, quoted, info.columns, table)
    except apsw.Error:  # a view over a dropped table: listed, but without columns
        info.valid = False
    return info


def _type_from_origins(conn: apsw.Connection, quoted: str, columns: list[ColumnModel],
                       table: Callable[[str], TableModel | None]) -> None:
    """A view column that is a table's column has that column's MySQL type (an ENUM's
    members, a DECIMAL's scale), which SQLite's declared type does not carry. SQLite reports
    origins of a running statement only: the LEFT JOIN makes one row, and LIMIT 0 keeps the
    view's own query from running."""
    cursor = conn.cursor()
    cursor.execute(f"SELECT o.* FROM (SELECT 1) LEFT JOIN (SELECT * FROM {quoted} LIMIT 0) "
                   "AS o ON 1")
    origins = cursor.description_full
    cursor.close()
    for column, (_, _, database, origin_table, origin_column) in zip(columns, origins):
        if database != "main" or origin_table is None or is_internal(origin_table):
            continue
        model = table(origin_table)
        found = model.column(origin_column) if model is not None else None
        if found is not None:
            column.data_type, column.column_type = found.data_type, found.column_type
            column.charset, column.collation = found.charset, found.collation


def _after_as(create_sql: str) -> str | None:
    """The SELECT of a CREATE VIEW (the text after the AS that follows the view name)."""
    try:
        stream = TokenStream(create_sql, tokenize(create_sql))
    except NotSimple:
        return None
    depth = 0
    while not stream.at_end():
        token = stream.next()
        if token.kind == "op" and token.value in "()":
            depth += 1 if token.value == "(" else -1
        elif depth == 0 and token.kind == "word" and token.value == "AS":
            return create_sql[stream.peek().start:].strip().rstrip(";").strip()
    return None


# ---------------------------------------------------------------------------------- triggers
def _trigger(name: str, table: str, sqlite_sql: str, mysql_sql: str | None,
             charsets: CreationCharsets) -> TriggerInfo:
    source = mysql_sql or sqlite_sql
    timing, event, statement = "BEFORE", "INSERT", source
    try:
        stream = TokenStream(source, tokenize(source))
        while not stream.at_end():
            token = stream.next()
            if token.kind == "word" and token.value in ("BEFORE", "AFTER", "INSTEAD"):
                timing = "BEFORE" if token.value == "INSTEAD" else str(token.value)
                stream.accept_word("OF")
                event = str(stream.next().value)
            elif token.kind == "word" and token.value == "ROW":
                statement = source[stream.peek().start:].strip().rstrip(";").strip()
                break
    except NotSimple:
        pass
    return TriggerInfo(name, table, timing, event, statement, source, charsets)


# ---------------------------------------------------------------------------------- statistics
ROW_COUNT_SCAN_MAX = 10000  # rows counted exactly; bigger tables get a rowid-range estimate
ROW_BYTES_ESTIMATE = 64  # bytes a row, for tables too big to measure page by page


@dataclass(frozen=True, slots=True)
class TableStats:
    rows: int
    data_length: int
    index_length: int
    auto_increment: int | None

    @property
    def avg_row_length(self) -> int:
        return self.data_length // self.rows if self.rows else 0


def table_stats(conn: apsw.Connection, model: TableModel, ctx: Any = None) -> TableStats:
    """Row count and sizes as MySQL's TABLE STATUS shows them, at bounded cost: exact for
    tables up to ROW_COUNT_SCAN_MAX rows, estimated above (MySQL's are estimates too).
    ``ctx``: the session asking (its node's AUTO_INCREMENT ranges, ``shown_auto_increment``)."""
    with trusted(conn):
        rows = row_count(conn, model.name)
        if rows > ROW_COUNT_SCAN_MAX:
            data, index = rows * ROW_BYTES_ESTIMATE, 0
        else:
            data, index = _measured_sizes(conn, model)
        return TableStats(rows, data, index, shown_auto_increment(
            ctx, conn, model, next_auto_increment(conn, model)))


def row_count(conn: apsw.Connection, table: str, schema: str | None = None) -> int:
    """A table's rows at bounded cost: exact up to ROW_COUNT_SCAN_MAX, estimated above.
    ``schema``: the ATTACHed database it is in, if not the connection's own."""
    quoted = '"' + table.replace('"', '""') + '"'
    if schema is not None:
        quoted = '"' + schema.replace('"', '""') + '".' + quoted
    rows = int(conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quoted} LIMIT ?)",
                            (ROW_COUNT_SCAN_MAX + 1,)).fetchall()[0][0])
    return _estimated_rows(conn, quoted, rows) if rows > ROW_COUNT_SCAN_MAX else rows


def _estimated_rows(conn: apsw.Connection, quoted: str, floor: int) -> int:
    try:
        low, high = conn.execute(f"SELECT min(rowid), max(rowid) FROM {quoted}").fetchall()[0]
    except apsw.SQLError:  # WITHOUT ROWID table
        return floor
    return max(floor, int(high) - int(low) + 1) if high is not None else floor


def _measured_sizes(conn: apsw.Connection, model: TableModel) -> tuple[int, int]:
    page_size = conn.execute("PRAGMA page_size").fetchall()[0][0]
    sizes = dict(conn.execute("SELECT s.name, s.pgsize FROM dbstat('main', 1) AS s "
                              "JOIN sqlite_schema AS m ON m.name = s.name WHERE m.tbl_name = ?",
                              (model.name,)).fetchall())
    data = int(sizes.pop(model.name, page_size))
    return data, int(sum(sizes.values()))


def next_auto_increment(conn: apsw.Connection, model: TableModel) -> int | None:
    """The next AUTO_INCREMENT value of a table, None when it has no such column."""
    column = next((c for c in model.columns if c.auto_increment), None)
    if column is None:
        return None
    quoted = '"' + column.name.replace('"', '""') + '"'
    table = '"' + model.name.replace('"', '""') + '"'
    with trusted(conn):
        highest = conn.execute(f"SELECT max({quoted}) FROM {table}").fetchall()[0][0] or 0
        try:
            found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                                 (model.name,)).fetchall()
        except apsw.SQLError:  # no AUTOINCREMENT table in this database yet
            found = []
    if found:
        highest = max(int(highest), int(found[0][0] or 0))
    return max(int(highest) + 1, model.auto_increment or 1)


def shown_auto_increment(ctx: Any, conn: apsw.Connection, model: TableModel,
                         computed: int | None) -> int | None:
    """The AUTO_INCREMENT value SHOW and INFORMATION_SCHEMA report: ``computed`` (the table's
    own next value), or in a cluster what this node hands out next (txn/DESIGN.md §9), which
    the session answers (``auto_increment_next(conn, table, computed)``) when it can."""
    ask = getattr(ctx, "auto_increment_next", None)
    if computed is None or ask is None:
        return computed
    return int(ask(conn, model.name, computed))


def clear_cache() -> None:
    """Forget every cached snapshot (benchmarks of the cold path; tests)."""
    _CACHE.clear()
