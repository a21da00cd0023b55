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
rolls back with X. ``follow`` keeps the rows with the schema after any DDL (a peer's or this
node's): a renamed table's rows take the new name, a dropped table's go. ``collect`` (run
by txn/reemit.py in an internal write of this node) turns up to ``rows_max`` of them into row
changes of the current rows and deletes them in the same transaction.

Public API::

    REEMIT                                      the table's name
    oblige(conn, ddl, local_origin) -> int      rows recorded for a peer's DDL
    follow(conn, statements)                    after a DDL's statements ran here
    pending(conn) -> bool                       any obligation left
    collect(conn, local_origin, rows_max) -> (list[RowChange], kept obligations)
    forget(conn, kept)                          delete them outside a batch (no change made)
    obligations(conn) / replace(conn, rows)     across a snapshot restore
"""

from __future__ import annotations

from collections.abc import Iterable

import apsw
import msgspec

from marmotdb.storage import versions
from marmotdb.storage.internal_tables import COMMIT_LOG, REEMIT
from marmotdb.storage.apply_plan import quote_identifier
from marmotdb.storage.schema import TableSchema, load_table_schema
from marmotdb.storage.writeset import ChangeOp, Row, RowChange, WriteSet, decode_write_set

__all__ = ["REEMIT", "oblige", "follow", "pending", "collect", "forget", "obligations",
           "replace"]

_INSERT = f"INSERT OR IGNORE INTO {REEMIT}(tbl, pk) VALUES (?, ?)"
_key_decoder = msgspec.msgpack.Decoder()


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
    rows: set[tuple[str, bytes]] = set()
    for (encoded,) in entries:
        write_set = decode_write_set(encoded)
        if write_set.schema_changes or write_set.schema_version >= ddl.schema_version:
            continue  # a DDL of ours, or built on X already
        for change in write_set.changes:
            for key in (change.old_key, change.new_key):
                if key is not None:
                    rows.add((change.table, versions.encode_key(key)))
    for row in sorted(rows):
        conn.execute(_INSERT, row)
    return len(rows)


def follow(conn: apsw.Connection, statements: Iterable[str]) -> None:
    """After a DDL's ``statements`` ran here: obligations follow renamed tables and go with
    dropped ones (a table rebuild keeps its name: its internal renames are not followed)."""
    if not pending(conn):
        return
    for old, new in versions.renamed_tables(statements):
        conn.execute(f"UPDATE OR REPLACE {REEMIT} SET tbl = ? WHERE tbl = ? COLLATE NOCASE",
                     (new, old))
    conn.execute(f"DELETE FROM {REEMIT} WHERE NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE "
                 f"type = 'table' AND name = {REEMIT}.tbl COLLATE NOCASE)")


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
    the other columns NULL); neither carries a base version (the caller's write set)."""
    found = conn.execute(f"SELECT tbl, pk FROM {REEMIT} ORDER BY tbl, pk LIMIT ?",
                         (rows_max,)).fetchall()
    schemas: dict[str, TableSchema | None] = {}
    changes: list[RowChange] = []
    for table, pk in found:
        conn.execute(f"DELETE FROM {REEMIT} WHERE tbl = ? AND pk = ?", (table, pk))
        if table not in schemas:
            schemas[table] = load_table_schema(conn, table)
        schema = schemas[table]
        if schema is None:
            continue
        key: Row = tuple(_key_decoder.decode(pk))
        version = versions.read_version(conn, table, key)
        if version is not None and version.version.node_id != local_origin:
            continue
        change = _current(conn, schema, key)
        if change is not None:
            changes.append(change)
    return changes, [(table, pk) for table, pk in found]


def obligations(conn: apsw.Connection) -> list[tuple[str, bytes]]:
    """Every obligation (kept across a snapshot restore: the copy holds its node's own)."""
    return conn.execute(f"SELECT tbl, pk FROM {REEMIT}").fetchall()


def replace(conn: apsw.Connection, rows: Iterable[tuple[str, bytes]]) -> None:
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
    before = [None] * len(schema.columns)
    for index, value in zip(schema.key, key):
        before[index] = value
    return RowChange(schema.name, ChangeOp.DELETE, key, None, tuple(before), None)
