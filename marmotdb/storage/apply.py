"""Deterministic last-write-wins apply of write sets, and recording of local commits.

Theory of operation
-------------------
Every row (table + key) has a version (``storage.versions``). A write set's version is its
commit timestamp; it *wins* a row when it is newer than the row's current version (or the row
has none), and then it alone decides that row: present with its image, or absent (deleted,
leaving a tombstone). A write set that loses a row leaves it untouched. Since the winner of a
row is the maximum version that ever touched it, every node ends with the same rows and the
same versions whatever order write sets arrive in, and applying one twice is a no-op (its
version equals the current one: not newer). See storage/DESIGN.md for the full rules.

Within one write set the decision is made per row the first time the row is touched, against
the version committed before the write set; the changes are then replayed in statement order,
skipping those on rows the write set lost. Replaying in order, rather than jumping to each
row's net state, walks through the origin's own intermediate states, so a transaction that
swapped two unique values via a temporary one applies without a spurious UNIQUE conflict.
An INSERT or UPDATE is applied as an upsert of the full after image (the replica may hold an
older image, or a tombstone, at that key); a DELETE deletes by key; an UPDATE that moved the
row to a new key deletes the old key and upserts the new one, each side decided separately.

Replicas must not re-run side effects the origin already captured as rows: apply turns off
foreign-key enforcement (cascades) and triggers for its transaction (``SQLITE_DBCONFIG_*``)
and restores them after. Rows, versions and the commit-log record are written in one SQLite
transaction; any error rolls all of it back.

Public API::

    ApplyOutcome(applied, rows_written, rows_skipped)
    apply(conn, write_set, encoded=None) -> ApplyOutcome       its own transaction
    apply_many(conn, write_sets) -> list[ApplyOutcome]         one transaction for all
    ApplyTransaction(conn)      context manager; .apply(ws, encoded=None); add your own writes
                                (e.g. a CDC outbox) to the same transaction inside the block
    record_local_commit(conn, write_set, encoded=None) -> int
        for the node that executed the transaction: its rows are already written in the
        caller's open transaction; record their versions and the log entry (raises
        StorageError if a row holds a version not older than the commit timestamp)
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from types import TracebackType
from typing import NamedTuple, Self

import apsw

from marmotdb.errors import StorageError
from marmotdb.hlc import Timestamp
from marmotdb.storage import reemit, schema_guard
from marmotdb.storage.apply_plan import ApplyPlans, KeyDiffers, TableMissing, TablePlan
from marmotdb.storage.commitlog import LogWriter
from marmotdb.storage.versions import claim_version, encode_key
from marmotdb.storage.writeset import Row, RowChange, WriteSet, encode_write_set


class ApplyOutcome(NamedTuple):
    applied: bool       # False: already applied here before, nothing was written
    rows_written: int   # row operations executed (rows this write set won)
    rows_skipped: int   # row operations skipped because the row holds a newer version


_DELETE, _UPSERT = 0, 1
_plan_cache: weakref.WeakKeyDictionary[apsw.Connection, ApplyPlans] = (
    weakref.WeakKeyDictionary())


class _RowStep(NamedTuple):
    kind: int
    table: str
    key: Row
    key_bytes: bytes
    image: Row | None


def _steps(changes: Iterable[RowChange]) -> tuple[list[_RowStep], dict[tuple[str, bytes], bool]]:
    """The row operations of a write set in order, and each row's final deleted flag."""
    steps: list[_RowStep] = []
    deleted: dict[tuple[str, bytes], bool] = {}
    for change in changes:
        table, old_key, new_key = change.table, change.old_key, change.new_key
        if old_key is not None and (new_key is None or old_key != new_key):
            key_bytes = encode_key(old_key)
            steps.append(_RowStep(_DELETE, table, old_key, key_bytes, None))
            deleted[(table, key_bytes)] = True
        if new_key is not None:
            key_bytes = encode_key(new_key)
            steps.append(_RowStep(_UPSERT, table, new_key, key_bytes, change.after))
            deleted[(table, key_bytes)] = False
    return steps, deleted


def _plans_for(conn: apsw.Connection) -> ApplyPlans:
    plans = _plan_cache.get(conn)
    if plans is None:
        plans = _plan_cache[conn] = ApplyPlans(conn)
    return plans


class ApplyTransaction:
    """One SQLite transaction applying peers' write sets (triggers and FK actions off)."""

    def __init__(self, conn: apsw.Connection, write_sets: Iterable[WriteSet] | None = None,
                 local_origin: int | None = None):
        """``write_sets``: what will be applied, when the caller knows. Without schema changes
        among them, enforcement is turned off only where the schema has foreign keys or
        triggers; with any (or unknown), always: a DDL applied inside may add either, and
        foreign-key enforcement changes what a table rename does to references.
        ``local_origin``: this node's id, when the write sets come from peers: a peer's DDL
        not ordered after this node's own entries leaves the obligation to ship their rows
        again (storage/reemit.py), recorded in this transaction."""
        self._conn = conn
        self._local_origin = local_origin
        self.reemits_obliged = 0  # rows recorded by reemit.oblige in this transaction
        self._cursor = conn.cursor()
        self._plans = _plans_for(conn)
        self._log: LogWriter | None = None
        self._saved_config: tuple[int, int] | None = None
        self._schema_changes = write_sets is None or any(ws.schema_changes for ws in write_sets)
        self.schema_changes_skipped = 0  # DDL entries whose effect was here already
        # rows of write sets built on an older schema whose table a DDL since renamed or
        # dropped here (ddl/DESIGN.md §11: their origin re-emits what they became)
        self.rows_skipped_schema = 0

    def __enter__(self) -> Self:
        conn = self._conn
        if not conn.get_autocommit():
            raise StorageError("apply needs a connection with no open transaction")
        self._plans.refresh()
        self._enforcement_off()
        try:
            conn.execute("BEGIN IMMEDIATE")
            if self._plans.refresh():  # the schema changed since the check above
                conn.execute("ROLLBACK")
                self._enforcement_off()
                conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._restore_config()
            raise
        self._log = LogWriter(conn)
        return self

    @property
    def log(self) -> LogWriter | None:
        """The commit-log writer of the open transaction (None outside the 'with' block)."""
        return self._log

    def _enforcement_off(self) -> None:
        """Foreign keys and triggers off while row images are applied (their effects are in
        the images already) — only where the schema has any: toggling either expires every
        prepared statement of the connection."""
        conn = self._conn
        fks, triggers = (True, True) if self._schema_changes else \
            self._plans.foreign_keys_and_triggers()
        for op, present in ((apsw.SQLITE_DBCONFIG_ENABLE_FKEY, fks),
                            (apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, triggers)):
            # config(op, -1) reads the setting; config(op, 0) returns the new value
            if present and conn.config(op, -1):
                if self._saved_config is None:
                    self._saved_config = (conn.config(apsw.SQLITE_DBCONFIG_ENABLE_FKEY, -1),
                                          conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, -1))
                conn.config(op, 0)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None and self._log is not None:
                self._log.flush()
                self._conn.execute("COMMIT")
            else:
                self._conn.execute("ROLLBACK")
        except BaseException:
            if not self._conn.get_autocommit():
                self._conn.execute("ROLLBACK")
            raise
        finally:
            self._log = None
            self._restore_config()

    def _restore_config(self) -> None:
        if self._saved_config is not None:
            fkey, trigger = self._saved_config
            self._conn.config(apsw.SQLITE_DBCONFIG_ENABLE_FKEY, fkey)
            self._conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, trigger)
            self._saved_config = None

    def apply(self, write_set: WriteSet, encoded: bytes | None = None) -> ApplyOutcome:
        log = self._log
        if log is None:
            raise StorageError("ApplyTransaction.apply outside its 'with' block")
        if write_set.schema_changes and not self._schema_changes:
            raise StorageError("a write set with schema changes in an ApplyTransaction opened "
                               "for row changes only")
        if log.is_applied(write_set.origin, write_set.origin_seq):
            return ApplyOutcome(False, 0, 0)
        if write_set.schema_changes:
            if self._local_origin is not None:  # before the DDL runs: under the old names
                self.reemits_obliged += reemit.oblige(self._conn, write_set, self._local_origin)
            self._apply_schema_changes(write_set, before_rows=True)
        plans = self._table_plans(write_set)
        written, skipped = self._apply_rows(write_set, plans)
        if write_set.schema_changes:
            self._apply_schema_changes(write_set, before_rows=False)
        log.append(write_set, encoded if encoded is not None else encode_write_set(write_set))
        return ApplyOutcome(True, written, skipped)

    def _table_plans(self, write_set: WriteSet) -> dict[str, TablePlan | None]:
        """Each table's plan; None for a table gone since a write set built on an older
        schema version was made (renamed or dropped by a DDL applied here after it), or
        whose primary key such a DDL changed: its rows are skipped, not failed on every
        retry (their origin re-emits them as the DDL left them). On the current version a
        missing table or another key stays an error (ddl/DESIGN.md §11)."""
        plans: dict[str, TablePlan | None] = {}
        for schema in write_set.tables:
            try:
                plans[schema.name] = self._plans.plan(schema)
            except (TableMissing, KeyDiffers):
                if not schema_guard.built_on_older(self._conn, write_set):
                    raise
                plans[schema.name] = None
        return plans

    def _apply_schema_changes(self, write_set: WriteSet, before_rows: bool) -> None:
        """Replay DDL entries. A DDL is its own transaction (MySQL commits before and after
        it), so entries sit before all the rows or after them (TRUNCATE's sequence reset).
        An entry whose effect the catalog already shows is skipped, and so is each ALTER
        whose own effect is there (storage/schema_guard.py: idempotent replay)."""
        count = len(write_set.changes)
        conn = self._conn
        for entry in write_set.schema_changes:
            if 0 < entry.position < count:
                raise StorageError("write set invalid: a schema change among its rows")
            if (entry.position == 0) != before_rows:
                continue
            if schema_guard.entry_applied(conn, entry.objects):
                self.schema_changes_skipped += 1
            else:
                for statement in entry.statements:
                    if not schema_guard.statement_applied(conn, statement):
                        self._cursor.execute(statement, entry.params)
            reemit.follow(conn, entry.statements)  # obligations recorded under the old names
        self._plans.refresh()
        self._conn.execute(f"PRAGMA user_version={write_set.schema_version}")

    def _apply_rows(self, write_set: WriteSet,
                    plans: dict[str, TablePlan | None]) -> tuple[int, int]:
        conn, cursor, version = self._conn, self._cursor, write_set.commit_ts
        steps, final_deleted = _steps(write_set.changes)
        wins: dict[tuple[str, bytes], bool] = {}
        written = skipped = 0
        for step in steps:
            plan = plans[step.table]
            if plan is None:  # its table is gone since (_table_plans)
                self.rows_skipped_schema += 1
                continue
            ident = (step.table, step.key_bytes)
            won = wins.get(ident)
            if won is None:
                won = wins[ident] = claim_version(conn, step.table, step.key_bytes, version,
                                                  final_deleted[ident], cursor)
            if not won:
                skipped += 1
                continue
            if step.kind == _DELETE:
                cursor.execute(plan.delete_sql, step.key)
            else:
                cursor.execute(plan.upsert_sql, plan.upsert_params(step.key, step.image))
            written += 1
        return written, skipped


def apply(conn: apsw.Connection, write_set: WriteSet,
          encoded: bytes | None = None) -> ApplyOutcome:
    """Apply one write set in its own transaction."""
    with ApplyTransaction(conn, [write_set]) as txn:
        return txn.apply(write_set, encoded)


def apply_many(conn: apsw.Connection,
               write_sets: Iterable[WriteSet | tuple[WriteSet, bytes]]) -> list[ApplyOutcome]:
    """Apply write sets in one transaction (all or none): the fast path for catch-up."""
    outcomes = []
    items = [item if isinstance(item, tuple) else (item, None) for item in write_sets]
    with ApplyTransaction(conn, [write_set for write_set, _ in items]) as txn:
        for write_set, encoded in items:
            outcomes.append(txn.apply(write_set, encoded))
    return outcomes


def record_local_commit(conn: apsw.Connection, write_set: WriteSet,
                        encoded: bytes | None = None, log: LogWriter | None = None) -> int:
    """Record versions and the log entry of a transaction executed on this connection.

    Runs inside the caller's open transaction, after the rows were written and before it
    commits. Returns the local log seq. The commit timestamp must be newer than every version
    the rows hold here; otherwise StorageError (roll back: replicas would ignore the write).
    """
    if conn.get_autocommit():
        raise StorageError("record_local_commit must run inside the writing transaction")
    _, final_deleted = _steps(write_set.changes)
    version: Timestamp = write_set.commit_ts
    for (table, key_bytes), deleted in final_deleted.items():
        if not claim_version(conn, table, key_bytes, version, deleted):
            raise StorageError(f"commit timestamp {version} is not newer than the version of "
                               f"a row in {table!r}; pick the commit timestamp with "
                               "hlc.update() over applied versions")
    writer = log if log is not None else LogWriter(conn)
    seq = writer.append(write_set, encoded if encoded is not None else encode_write_set(write_set))
    if log is None:  # a caller's writer (a group commit batch) is flushed by the caller
        writer.flush()
    return seq

