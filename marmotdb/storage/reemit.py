"""Re-emit obligations: rows this node's own late writes touched, to ship again over a DDL.

Theory of operation (ddl/DESIGN.md §11 "The fix: the origin re-emits")
----------------------------------------------------------------------
A write at ONE takes no votes, so a DDL X the majority commits meanwhile is not ordered after
it: its row images, built on the schema X replaces, reach the nodes that applied X first and
are applied there on the new schema (a renamed column dropped, a retyped value unconverted,
a renamed table's rows skipped). Only the write's own node applied both in a serial order —
the write, then X over it — so that node ships the rows again, as X left them.

``oblige`` runs in the SQLite transaction that applies a peer's X, before X's statements:
if X's ``ordered_after`` does not cover this node's own log entries of the database (DML
built on a version below X's), each (table, key) they wrote becomes a row of
``__marmot_reemit`` — internal, node-local, never captured nor replicated, so it commits or
rolls back with X — with the names of the key's columns as the write saw them. ``follow``
keeps the rows with the schema after any DDL (a peer's or this node's): a renamed table's
rows take the new name, a dropped table's go, a renamed key column's name follows (a plain
``RENAME COLUMN``, or a rebuild's copy: ``CHANGE``). ``collect`` (run by txn/reemit.py in an
internal write of this node) turns up to ``rows_max`` of them into row changes of the
current rows and deletes them in the same transaction. Where X changed the primary key
(``DROP PRIMARY KEY, ADD PRIMARY KEY (id, a)``), the replicas that applied X first skipped
the late rows (storage/apply.py: their key differs), so ``collect`` names each under the
new key by its ``image`` — the row as the late writes left it, read as X is applied (the
image they deleted, for a row they deleted or moved to another key), its columns by name,
following renames too, a column a rebuild adds holding the default its copy gave — and
states the row now at that key (a DELETE when there is none). An image without a column of
the new key falls back to the rows whose old key columns hold the key (found rows only).

Public API::

    REEMIT                                      the table's name
    oblige(conn, ddl, local_origin) -> int      rows recorded for a peer's DDL
    follow(conn, statements)                    after a DDL's statements ran here
    pending(conn) -> bool                       any obligation left
    collect(conn, local_origin, rows_max) -> (list[RowChange], kept obligations)
    forget(conn, kept)                          delete them outside a batch (no change made)
    obligations(conn) / replace(conn, rows)     across a snapshot restore
    renamed_columns(statement) -> RenamedColumns | None   what a DDL statement renamed
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import apsw
import msgspec

from marmotdb.storage import versions
from marmotdb.storage.internal_tables import COMMIT_LOG, REEMIT
from marmotdb.storage.apply_plan import quote_identifier
from marmotdb.storage.schema import TableSchema, load_table_schema
from marmotdb.storage.writeset import ChangeOp, Row, RowChange, WriteSet, decode_write_set

__all__ = ["REEMIT", "oblige", "follow", "pending", "collect", "forget", "obligations",
           "replace", "renamed_columns", "RenamedColumns"]

_INSERT = (f"INSERT OR IGNORE INTO {REEMIT}(tbl, pk, key_columns, image) "
           "VALUES (?, ?, ?, ?)")
_key_decoder = msgspec.msgpack.Decoder()
_names_decoder = msgspec.json.Decoder(list[str])
_image_decoder = msgspec.msgpack.Decoder(dict[str, object])
# table, encoded key, its columns' names (JSON; '' unknown; a name '' for a column gone),
# the row as the late writes left it ({column: value} msgpack; None: unknown)
Obligation = tuple[str, bytes, str, bytes | None]


def oblige(conn: apsw.Connection, ddl: WriteSet, local_origin: int) -> int:
    """Record the rows of this node's own entries that ``ddl`` (a peer's, about to be
    applied in the caller's transaction) is not ordered after. None for this node's own DDL,
    nor for one without ``ordered_after`` (an older node's). One index range read of the
    log: nothing found in the common case."""
    if ddl.ordered_after is None or ddl.origin == local_origin or not ddl.schema_changes:
        return 0
    after = ddl.ordered_after.get(local_origin, 0)
    entries = conn.execute(f"SELECT write_set FROM {COMMIT_LOG} WHERE origin = ? AND "
                           "origin_seq > ? ORDER BY origin_seq", (local_origin, after)).fetchall()
    rows: dict[tuple[str, bytes], tuple[str, Row, dict[str, object] | None]] = {}
    for (encoded,) in entries:
        write_set = decode_write_set(encoded)
        if write_set.schema_changes or write_set.schema_version >= ddl.schema_version:
            continue  # a DDL of ours, or built on X already
        schemas = {schema.name: schema for schema in write_set.tables}
        named = {schema.name: msgspec.json.encode(list(schema.key_columns)).decode()
                 for schema in write_set.tables}
        for change in write_set.changes:
            schema, key_columns = schemas.get(change.table), named.get(change.table, "")
            if change.old_key is not None:  # in order: a key's later change counts
                deleted = None if schema is None or change.before is None else \
                    dict(zip(schema.columns, change.before))
                rows[(change.table, versions.encode_key(change.old_key))] = (
                    key_columns, change.old_key, deleted)
            if change.new_key is not None:
                rows[(change.table, versions.encode_key(change.new_key))] = (
                    key_columns, change.new_key, None)
    local: dict[str, tuple[TableSchema, str] | None] = {}
    for (table, pk), (key_columns, key, deleted) in sorted(rows.items()):
        if table not in local:
            schema = load_table_schema(conn, table)
            local[table] = None if schema is None else (schema, _select_row(schema))
        image = deleted
        if local[table] is not None:  # the row as it is here, before the DDL
            schema, select = local[table]  # type: ignore[misc]
            if len(key) == max(len(schema.key), 1):
                for row in conn.execute(select, key):
                    image = dict(zip(schema.columns, row))
        conn.execute(_INSERT, (table, pk, key_columns,
                               None if image is None else msgspec.msgpack.encode(image)))
    return len(rows)


def _select_row(schema: TableSchema) -> str:
    """SQL reading the row at a key of ``schema``'s table, every column."""
    columns = ", ".join(quote_identifier(name) for name in schema.columns)
    where = "rowid = ?" if schema.keyed_by_rowid else " AND ".join(
        f"{quote_identifier(name)} IS ?" for name in schema.key_columns)
    return f"SELECT {columns} FROM {quote_identifier(schema.name)} WHERE {where}"


def follow(conn: apsw.Connection, statements: Iterable[str]) -> None:
    """After a DDL's ``statements`` ran here: obligations follow renamed tables and go with
    dropped ones (a table rebuild keeps its name: its internal renames are not followed);
    their key columns follow renamed columns, in the statements' order."""
    if not pending(conn):
        return
    for statement in statements:
        for old, new in versions.renamed_tables([statement]):
            conn.execute(f"UPDATE OR REPLACE {REEMIT} SET tbl = ? WHERE tbl = ? COLLATE "
                         "NOCASE", (new, old))
        renamed = renamed_columns(statement)
        if renamed is not None:
            _follow_columns(conn, renamed)
    conn.execute(f"DELETE FROM {REEMIT} WHERE NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE "
                 f"type = 'table' AND name = {REEMIT}.tbl COLLATE NOCASE)")


# The translator's own SQLite text (never a user's): a plain column rename, and a table
# rebuild's copy (sql/rewrites/ddl/alter_plan.py: ``_rebuild``, ``_copy_value``), whose
# values are a column of the old table, that column through MYSQL_STORE (NULLIF'd for an
# AUTO_INCREMENT column), or a default that names no column.
_NAME = r'"((?:[^"]|"")+)"'
_RENAME_COLUMN = re.compile(rf'^ALTER TABLE {_NAME} RENAME COLUMN {_NAME} TO {_NAME}$')
_REBUILD_COPY = re.compile(rf'^INSERT INTO {_NAME} \((.*?)\) SELECT (.*) FROM '
                           rf'"__marmot_old_(?:[^"]|"")+"$', re.DOTALL)
_COPIED_FROM = re.compile(rf'^(?:NULLIF\()?(?:MYSQL_STORE\()?{_NAME}')


def _unquote(name: str) -> str:
    return name.replace('""', '"')


class RenamedColumns(NamedTuple):
    """What a statement did to ``table``'s columns: ``renames`` {old column, lower case:
    new name}; ``rebuilt`` when it is a rebuild's copy (a column it does not copy is gone),
    whose new columns copied from none take ``filled`` {column: the SQL of its value}."""
    table: str
    renames: dict[str, str]
    rebuilt: bool
    filled: dict[str, str]


def renamed_columns(statement: str) -> RenamedColumns | None:
    """What ``statement`` did to a table's columns, if it renamed (or rebuilt) them; None
    for any other statement."""
    found = _RENAME_COLUMN.match(statement)
    if found is not None:
        table, old, new = (_unquote(name) for name in found.groups())
        return RenamedColumns(table, {old.lower(): new}, False, {})
    found = _REBUILD_COPY.match(statement)
    if found is None:
        return None
    table, into, values = found.groups()
    targets = [_unquote(name) for name in re.findall(_NAME, into)]
    sources = _top_level(values)
    if into.startswith("rowid"):
        sources = sources[1:]
    renames: dict[str, str] = {}
    filled: dict[str, str] = {}
    for target, value in zip(targets, sources):
        copied = _COPIED_FROM.match(value.strip())
        if copied is not None:
            renames[_unquote(copied.group(1)).lower()] = target
        else:
            filled[target] = value.strip()
    return RenamedColumns(_unquote(table), renames, True, filled)


def _top_level(text: str) -> list[str]:
    """``text`` split at its commas outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote  # a doubled quote closes and reopens
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _follow_columns(conn: apsw.Connection, renamed: RenamedColumns) -> None:
    """Obligations of the table name their key columns (and their image's columns) as
    the statement left them; a column a rebuild did not copy goes from the image, and its
    name in the key becomes '' (no column: the image has to name the row); a column it
    added takes in the image the value the copy gave every row (its default)."""
    table, renames, rebuilt = renamed.table, renamed.renames, renamed.rebuilt
    found = conn.execute(f"SELECT pk, key_columns, image FROM {REEMIT} WHERE tbl = ? "
                         "COLLATE NOCASE AND key_columns != ''", (table,)).fetchall()
    filled = _values(conn, renamed.filled) if found else {}

    def new_name(name: str) -> str | None:
        return renames.get(name.lower(), None if rebuilt else name)

    for pk, key_columns, image in found:
        names = [new_name(name) or "" for name in _names_decoder.decode(key_columns)]
        if image is not None:
            columns = ((new_name(name), value) for name, value in
                       _image_decoder.decode(image).items())
            image = msgspec.msgpack.encode({**filled, **{name: value for name, value in columns
                                                         if name is not None}})
        conn.execute(f"UPDATE {REEMIT} SET key_columns = ?, image = ? WHERE tbl = ? "
                     "COLLATE NOCASE AND pk = ?",
                     (msgspec.json.encode(names).decode(), image, table, pk))


def _values(conn: apsw.Connection, filled: dict[str, str]) -> dict[str, object]:
    """The values a rebuild's copy gave its new columns (a default: the translator's SQL,
    naming no column), evaluated here as the copy did; one that fails is left out."""
    values = {}
    for column, sql in filled.items():
        try:
            values[column] = conn.execute(f"SELECT {sql}").fetchall()[0][0]
        except apsw.Error:
            continue
    return values


def pending(conn: apsw.Connection) -> bool:
    return bool(conn.execute(f"SELECT 1 FROM {REEMIT} LIMIT 1").fetchall())


def collect(conn: apsw.Connection, local_origin: int, rows_max: int
            ) -> tuple[list[RowChange], list[tuple[str, bytes]]]:
    """Up to ``rows_max`` obligations as row changes of the current rows, and the
    obligations kept by them, deleted from the table (in the caller's transaction: a failed
    commit restores them; one that yields no change is to be deleted by ``forget``). A key whose row
    version belongs to another node is dropped without a change: a newer write of that node,
    on the current schema, won it here and wins it everywhere. A present row is stated as
    an UPDATE of its image onto itself, a missing one as a DELETE (before image: the key,
    the other columns NULL); neither carries a base version (the caller's write set). An
    obligation whose key columns are no longer the table's key (a DDL changed it) names its
    row under the key now by its image (``_by_image``), or else the rows that hold its key's
    values in those columns (``_rekeyed``: found rows only)."""
    found = conn.execute(f"SELECT tbl, pk, key_columns, image FROM {REEMIT} ORDER BY "
                         "tbl, pk LIMIT ?", (rows_max,)).fetchall()
    schemas: dict[str, TableSchema | None] = {}
    changes: list[RowChange] = []
    for table, pk, key_columns, image in found:
        conn.execute(f"DELETE FROM {REEMIT} WHERE tbl = ? AND pk = ?", (table, pk))
        if table not in schemas:
            schemas[table] = load_table_schema(conn, table)
        schema = schemas[table]
        if schema is None:
            continue
        key: Row = tuple(_key_decoder.decode(pk))
        names = _names_decoder.decode(key_columns) if key_columns else None
        if names is not None and [name.lower() for name in names] != [
                name.lower() for name in schema.key_columns]:
            change = _by_image(conn, schema, image, local_origin)
            changes += [change] if change is not None else _rekeyed(conn, schema, names, key,
                                                                    local_origin)
            continue
        if not _ours(conn, table, key, local_origin):
            continue
        change = _current(conn, schema, key)
        if change is not None:
            changes.append(change)
    return changes, [(table, pk) for table, pk, _, _ in found]


def _ours(conn: apsw.Connection, table: str, key: Row, local_origin: int) -> bool:
    """Is the row's version here this node's (or absent)? Another node's newer write, on
    the current schema, won it here and wins it everywhere."""
    version = versions.read_version(conn, table, key)
    return version is None or version.version.node_id == local_origin


def _by_image(conn: apsw.Connection, schema: TableSchema, image: bytes | None,
              local_origin: int) -> RowChange | None:
    """The row at the key ``image`` (the row as the late writes left it) gives under the
    table's key now, as a change (a DELETE when it is gone); None when the image lacks a
    key column, the table is keyed by rowid, or another node's version holds the key."""
    if image is None or schema.keyed_by_rowid:
        return None
    values = {name.lower(): value for name, value in _image_decoder.decode(image).items()}
    names = [name.lower() for name in schema.key_columns]
    if any(name not in values for name in names):
        return None
    key = tuple(values[name] for name in names)
    if not _ours(conn, schema.name, key, local_origin):
        return None
    return _current(conn, schema, key)


def _rekeyed(conn: apsw.Connection, schema: TableSchema, names: list[str], key: Row,
             local_origin: int) -> list[RowChange]:
    """The rows whose ``names`` columns hold ``key`` (named by an old primary key), each as
    an UPDATE of itself under the table's key now. None when a column is gone or the old
    key was the rowid (a rebuild that adds a key does not keep rowids)."""
    present = {name.lower() for name in schema.columns}
    if not names or len(names) != len(key) or any(n.lower() not in present for n in names):
        return []
    columns = ", ".join(quote_identifier(name) for name in schema.columns)
    where = " AND ".join(f"{quote_identifier(name)} IS ?" for name in names)
    rowid = "rowid" if schema.keyed_by_rowid else "NULL"  # a WITHOUT ROWID table has none
    changes = []
    for found, *columns_found in conn.execute(
            f"SELECT {rowid}, {columns} FROM {quote_identifier(schema.name)} WHERE {where}",
            key):
        row = tuple(columns_found)
        new_key = (found,) if schema.keyed_by_rowid else schema.key_of(row)
        if _ours(conn, schema.name, new_key, local_origin):
            changes.append(RowChange(schema.name, ChangeOp.UPDATE, new_key, new_key, row, row))
    return changes


def _deleted(schema: TableSchema, key: Row) -> RowChange:
    """A DELETE of ``key``: its before image the key, the other columns NULL."""
    before: list[object] = [None] * len(schema.columns)
    for index, value in zip(schema.key, key):
        before[index] = value
    return RowChange(schema.name, ChangeOp.DELETE, key, None, tuple(before), None)


def obligations(conn: apsw.Connection) -> list[Obligation]:
    """Every obligation (kept across a snapshot restore: the copy holds its node's own)."""
    return conn.execute(f"SELECT tbl, pk, key_columns, image FROM {REEMIT}").fetchall()


def replace(conn: apsw.Connection, rows: Iterable[Obligation]) -> None:
    """In the caller's transaction: the obligations are ``rows`` (after a snapshot restore,
    this node's own in place of the copied node's)."""
    conn.execute(f"DELETE FROM {REEMIT}")
    conn.executemany(_INSERT, list(rows))


def forget(conn: apsw.Connection, kept: Iterable[tuple[str, bytes]]) -> None:
    """Delete obligations kept without a change (a pipeline's batch with no write set is
    rolled back, its deletes with it)."""
    with conn:
        conn.executemany(f"DELETE FROM {REEMIT} WHERE tbl = ? AND pk = ?", list(kept))


def _current(conn: apsw.Connection, schema: TableSchema, key: Row) -> RowChange | None:
    """The row at ``key`` as a change of its own (None: a key of the wrong width)."""
    if len(key) != max(len(schema.key), 1):
        return None
    columns = ", ".join(quote_identifier(name) for name in schema.columns)
    where = "rowid = ?" if schema.keyed_by_rowid else " AND ".join(
        f"{quote_identifier(name)} IS ?" for name in schema.key_columns)
    rows = conn.execute(f"SELECT {columns} FROM {quote_identifier(schema.name)} WHERE {where}",
                        key).fetchall()
    if rows:
        image = tuple(rows[0])
        return RowChange(schema.name, ChangeOp.UPDATE, key, key, image, image)
    return _deleted(schema, key)
