"""Row versions: the HLC commit timestamp and origin node of the last write to each row.

A version is an ``hlc.Timestamp``: ``(wall_ms, logical)`` packed into ``ts`` and the origin
node in ``node``; tuple order is the last-write-wins order. A deleted row keeps its version as
a *tombstone* (``deleted = 1``) so an older insert arriving later cannot resurrect it.
Tombstones are dropped by ``gc_tombstones`` once the caller knows every member has applied
everything below a watermark; after that no change older than the watermark can arrive.

*The collection horizon.* ``gc_tombstones(below)`` records ``below`` (the highest one used) in
``__marmot_tombstone_horizon``, in the same file, so it travels with a snapshot. A version
older than the horizon was applied by every member, so below it "no version recorded" and "a
tombstone" mean the same thing, and the two checks that compare versions read them so:

* ``lacks_bases``: a base older than the horizon with no version here was applied here (its
  tombstone was collected): the base is present, the write set is not held back forever.
* ``stale_changes``: a write built on "no row" (base None) over a tombstone older than the
  horizon here is not stale: its coordinator may have collected the same tombstone already.
  A member whose horizon is still below the tombstone votes STALE for a while (the client's
  statement retries; the horizons of all members follow the same vectors a few gossip rounds
  apart). Never the other way round: a write built on a row version is judged as before.

Rows are named by ``(table, canonical key bytes)``: the key tuple encoded with msgpack, with
-0.0 written as 0.0 because SQLite compares them equal as keys.

Public API::

    RowVersion(version: Timestamp, deleted: bool)
    encode_key(key) -> bytes
    read_version(conn, table, key) -> RowVersion | None
    claim_version(conn, table, key_bytes, version, deleted) -> bool
        record ``version`` if it is newer than the row's current one; True when it was
    fill_base_versions(conn, changes)        set RowChange.base_version from the table
    lacks_bases(conn, write_set, log=None, written=None) -> bool
        built on a row version, a schema version or (a DDL) write sets not applied here yet
        (``written``: versions queued to be applied first)
    note_written(written, write_set)         the versions a queued write set will give
    stale_changes(conn, write_set) -> list[int]
        indexes of changes whose row has a newer version here than their base version
    changed_since(view, changes) -> list[int]
        indexes of changes whose row's version in ``view`` (an older read snapshot) is not
        their base version: the row changed after the transaction began reading
    gc_tombstones(conn, below, rows_max=GC_ROWS_MAX) -> int   records below as the horizon
    renamed_tables(statements) -> [(old, new)]   user tables a DDL's statements rename
    collection_horizon(conn) -> Timestamp | None
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import apsw
import msgspec

from marmotdb.hlc import Timestamp
from marmotdb.storage import commitlog, schema_guard
from marmotdb.storage.internal_tables import ROW_VERSIONS
from marmotdb.storage.writeset import Row, RowChange, WriteSet

# Tombstones deleted per gc_tombstones call: bounds the write transaction it runs in.
GC_ROWS_MAX = 10_000

_key_encoder = msgspec.msgpack.Encoder()

_READ_SQL = f"SELECT ts, node, deleted FROM {ROW_VERSIONS} WHERE tbl = ? AND pk = ?"
_CLAIM_SQL = (
    f"INSERT INTO {ROW_VERSIONS}(tbl, pk, ts, node, deleted) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (tbl, pk) DO UPDATE SET ts = excluded.ts, node = excluded.node, "
    "deleted = excluded.deleted WHERE (excluded.ts, excluded.node) > (ts, node)")
HORIZON = "__marmot_tombstone_horizon"
_HORIZON_DDL = (f"CREATE TABLE IF NOT EXISTS {HORIZON}(id INTEGER PRIMARY KEY CHECK (id = 1), "
                "ts INTEGER NOT NULL, node INTEGER NOT NULL)")
_GC_SQL = (
    f"DELETE FROM {ROW_VERSIONS} WHERE (tbl, pk) IN ("
    f"SELECT tbl, pk FROM {ROW_VERSIONS} WHERE deleted = 1 AND ts <= ? "
    "AND (ts, node) < (?, ?) LIMIT ?)")


class RowVersion(NamedTuple):
    version: Timestamp
    deleted: bool


def encode_key(key: Row) -> bytes:
    for value in key:
        if type(value) is float and value == 0.0:
            key = tuple(0.0 if type(v) is float and v == 0.0 else v for v in key)
            break
    return _key_encoder.encode(key)


def read_version(conn: apsw.Connection, table: str, key: Row) -> RowVersion | None:
    return _read(conn, table, encode_key(key))


def _read(conn: apsw.Connection, table: str, key_bytes: bytes) -> RowVersion | None:
    for ts, node, deleted in conn.execute(_READ_SQL, (table, key_bytes)):
        return RowVersion(Timestamp.unpack(ts, node), bool(deleted))
    return None


def claim_version(conn: apsw.Connection, table: str, key_bytes: bytes, version: Timestamp,
                  deleted: bool, cursor: apsw.Cursor | None = None) -> bool:
    """Record ``version`` for the row if it beats the current one; True when it did.

    ``cursor`` (of ``conn``) saves creating one per call on hot paths.
    """
    (cursor or conn).execute(_CLAIM_SQL, (table, key_bytes, version.pack(), version.node_id,
                                          deleted))
    return conn.changes() == 1


def _base_key(change: RowChange) -> Row:
    key = change.old_key if change.old_key is not None else change.new_key
    assert key is not None
    return key


def fill_base_versions(conn: apsw.Connection, changes: Iterable[RowChange]) -> None:
    """Set each change's base_version to its row's version as committed here.

    Call before this transaction's own versions are recorded. A row changed several times in
    the transaction gets the same base version each time (the one before the transaction).
    Rows last written by one transaction share one Timestamp object: a big write keeps its
    base versions alive until it commits, and Timestamps are tuples the cycle collector keeps
    walking (runtime/collector_pause.py).
    """
    cache: dict[tuple[str, bytes], Timestamp | None] = {}
    versions: dict[tuple[int, int], Timestamp] = {}  # one object per distinct version
    for change in changes:
        ident = (change.table, encode_key(_base_key(change)))
        if ident not in cache:
            version = None
            for ts, node, _ in conn.execute(_READ_SQL, ident):
                version = versions.get((ts, node))
                if version is None:
                    version = versions[(ts, node)] = Timestamp.unpack(ts, node)
            cache[ident] = version
        change.base_version = cache[ident]


def stale_changes(conn: apsw.Connection, write_set: WriteSet) -> list[int]:
    """Changes whose row was committed here with a version newer than the change's base."""
    stale = []
    for index, change in enumerate(write_set.changes):
        found = _read(conn, change.table, encode_key(_base_key(change)))
        if found is None:
            continue
        if change.base_version is None:
            if found.deleted and _collected(conn, found.version):
                continue  # the coordinator may have collected this tombstone already
            stale.append(index)
        elif found.version > change.base_version:
            stale.append(index)
    return stale


def changed_since(view: apsw.Connection, changes: Iterable[RowChange]) -> list[int]:
    """Changes (their base versions filled) whose row had another version in ``view``, a read
    snapshot the transaction took before its first write: some commit changed the row after
    the transaction read it, and the transaction's writes may be computed from what it read
    (txn/DESIGN.md §7.2, "Reads before the first write")."""
    changed = []
    seen: dict[tuple[str, bytes], bool] = {}
    for index, change in enumerate(changes):
        ident = (change.table, encode_key(_base_key(change)))
        if ident not in seen:
            found = _read(view, *ident)
            seen[ident] = (found.version if found is not None else None) != change.base_version
        if seen[ident]:
            changed.append(index)
    return changed


def collection_horizon(conn: apsw.Connection) -> Timestamp | None:
    """The highest ``below`` tombstones were collected with here (None: never)."""
    if not conn.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (HORIZON,)).fetchall():
        return None
    for ts, node in conn.execute(f"SELECT ts, node FROM {HORIZON} WHERE id = 1"):
        return Timestamp.unpack(ts, node)
    return None


def _collected(conn: apsw.Connection, version: Timestamp) -> bool:
    """Is ``version`` below the collection horizon (applied everywhere; its tombstone may be
    gone)? Asked only on the rare paths where a version is missing or a tombstone."""
    horizon = collection_horizon(conn)
    return horizon is not None and version < horizon


def lacks_bases(conn: apsw.Connection, write_set: WriteSet,
                log: commitlog.LogWriter | None = None,
                written: dict[tuple[str, bytes], Timestamp] | None = None) -> bool:
    """Was the write set built on a row version this replica has not applied yet? Applying it
    now would let a LOCAL read see its rows without those of the transaction it read (half a
    transfer): the replica applies it once the base is here (causal order). The same for
    the schema: a write set built on a DDL not applied here yet (catch-up pulls each origin
    on its own; two origins' DDL must still apply in the order they were made), and a DDL
    before every write set its origin had applied when it made it (``ordered_after``: an
    INSERT committed before a DROP TABLE must not arrive after it). ``log``: the writer of
    the caller's open apply transaction, whose appends count as applied; ``written``: row
    versions of write sets queued to be applied before this one (``note_written``)."""
    return _first_missing(conn, write_set, log, written) is not None


_Missing = tuple[str, RowChange | None, RowVersion | None]  # what, the change, found


def _first_missing(conn: apsw.Connection, write_set: WriteSet,
                   log: commitlog.LogWriter | None,
                   written: dict[tuple[str, bytes], Timestamp] | None) -> _Missing | None:
    """What ``lacks_bases`` finds missing first: ("schema" | "order" | "row", the change whose
    base row is not here, the version found for it); None: nothing."""
    if schema_guard.lacks_schema(conn, write_set):
        return "schema", None, None
    if write_set.ordered_after and not commitlog.covers(conn, write_set.ordered_after, log):
        return "order", None, None
    seen: set[tuple[str, bytes]] = set()
    for change in write_set.changes:
        base = change.base_version
        if base is None:
            continue
        ident = (change.table, encode_key(_base_key(change)))
        if ident in seen:
            continue
        seen.add(ident)
        if written is not None and ident in written and written[ident] >= base:
            continue  # written by a transaction that will be applied before this one
        found = _read(conn, *ident)
        if found is None:
            if _collected(conn, base):
                continue  # applied here; its tombstone was collected since
            if schema_guard.built_on_older(conn, write_set) and \
                    schema_guard.gone_or_rekeyed(conn, write_set, change.table):
                continue  # its table went (renamed, dropped) or changed its key since: the
                # base never comes (apply skips the rows; their origin re-emits them)
            return "row", change, None
        if found.version < base:
            return "row", change, found
    return None


def note_written(written: dict[tuple[str, bytes], Timestamp], write_set: WriteSet) -> None:
    """Record in ``written`` the versions ``write_set`` will give its rows once applied (for
    ``lacks_bases(written=...)``: which of several queued write sets can follow which)."""
    version = write_set.commit_ts
    for change in write_set.changes:
        for key in (change.old_key, change.new_key):
            if key is not None:
                ident = (change.table, encode_key(key))
                if ident not in written or written[ident] < version:
                    written[ident] = version


def describe_missing_base(conn: apsw.Connection, write_set: WriteSet) -> str | None:
    """What ``lacks_bases`` finds missing, in words (diagnostics only: why a node is behind);
    None: nothing."""
    missing = _first_missing(conn, write_set, None, None)
    if missing is None:
        return None
    what, change, found = missing
    if what == "schema":
        return (f"schema version {write_set.schema_version} (here "
                f"{schema_guard.schema_version(conn)})")
    if what == "order":
        return (f"the write sets DDL {write_set.origin}:{write_set.origin_seq} is ordered "
                f"after ({dict(write_set.ordered_after)} applied at its origin)")
    assert change is not None
    here = "no version" if found is None else f"version {found.version}"
    return (f"{write_set.origin}:{write_set.origin_seq} built on {change.table} "
            f"{_base_key(change)!r} at version {change.base_version} ({here} here)")


def gc_tombstones(conn: apsw.Connection, below: Timestamp, rows_max: int = GC_ROWS_MAX) -> int:
    """Drop up to ``rows_max`` tombstones older than ``below``; returns how many.

    ``below`` must be a version every member has applied past (the caller computes it from
    the members' applied vectors); call again while the result equals ``rows_max``. Run it in
    a write transaction: the horizon is recorded with the deletions.
    """
    packed = below.pack()
    conn.execute(_HORIZON_DDL)
    conn.execute(f"INSERT INTO {HORIZON}(id, ts, node) VALUES (1, ?, ?) ON CONFLICT (id) DO "
                 "UPDATE SET ts = excluded.ts, node = excluded.node "
                 "WHERE (excluded.ts, excluded.node) > (ts, node)", (packed, below.node_id))
    conn.execute(_GC_SQL, (packed, packed, below.node_id, rows_max))
    return conn.changes()


# The translator's own SQLite text for a table rename (never a user's text): "old" -> "new".
_RENAME = re.compile(r'^ALTER TABLE "((?:[^"]|"")+)" RENAME TO "((?:[^"]|"")+)"$')


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def renamed_tables(statements: Iterable[str]) -> list[tuple[str, str]]:
    """The user tables ``statements`` (the translator's SQLite text) rename, (old, new) in
    order; internal names (``__marmot_*``: a table rebuild's scaffolding) are left out."""
    renamed = []
    for statement in statements:
        found = _RENAME.match(statement)
        if found is None:
            continue
        old, new = (name.replace('""', '"') for name in found.groups())
        if not (old.lower().startswith("__marmot_") or new.lower().startswith("__marmot_")):
            renamed.append((old, new))
    return renamed


def follow_schema_change(conn: apsw.Connection, statements: Iterable[str],
                         tables: Iterable[str]) -> list[str]:
    """Statements that keep row versions with their rows after a DDL, run right after it (and
    replayed with it on every replica): a renamed table's versions move to the new name (any
    left under that name by an older table are dropped first), a dropped table's are deleted
    so a table created later under the name does not inherit them. Internal names
    (``__marmot_*``, a table rebuild's scaffolding) are not followed: a rebuild keeps the
    table's name and, with it, its versions."""
    out: list[str] = []
    for old, new in renamed_tables(statements):
        # only while the old name still holds versions: replayed after the move (the
        # rename's effect was here already), the moved versions must stay where they are
        out.append(f"DELETE FROM {ROW_VERSIONS} WHERE tbl = {_literal(new)} AND EXISTS "
                   f"(SELECT 1 FROM {ROW_VERSIONS} WHERE tbl = {_literal(old)})")
        out.append(f"UPDATE {ROW_VERSIONS} SET tbl = {_literal(new)} WHERE tbl = {_literal(old)}")
    for table in tables:
        gone = not conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ? "
                                "COLLATE NOCASE", (table,)).fetchall()
        if gone and not any(_literal(table) in s for s in out):
            out.append(f"DELETE FROM {ROW_VERSIONS} WHERE tbl = {_literal(table)}")
    return out
