"""Change capture: every row a transaction changes, from SQLite's preupdate hook.

Theory of operation
-------------------
SQLite calls the preupdate hook for every row it is about to insert, update or delete on a
connection: rows named by the statement, rows deleted by FK cascades, the DELETE half of
REPLACE, the UPDATE path of an UPSERT and rows written by triggers (``depth`` > 0). The hook
sees no rollbacks, and reports rows of a failing statement that SQLite later undoes. So the
capture keeps one buffer per transaction and is told the boundaries by its owner:

    statement_begin()            marks where the statement's rows start
    statement_end(ok)            ok=False drops the statement's rows (SQLite undid them)
    savepoint(name)              remembers the buffer length under that name
    rollback_to(name)            truncates back to it (the savepoint stays, like SQLite's)
    release(name)                forgets it and every savepoint after it
    commit() -> list[RowChange]  hands over the transaction's rows and starts a new one
    rollback()                   drops everything

Only rows changed *between statement_begin() and statement_end()* are captured; writes made
outside a statement (``storage.apply`` replaying a peer's write set on the same connection) are
ignored by design. Rows of internal tables (``exclude``, by default ``__marmot_*``), of
``sqlite_*`` tables and of attached/temp databases are never captured (a capture of the
``temp`` schema, ``schema_name="temp"``, counts a session's temporary-table rows instead, and
with ``keep_rows=False`` keeps none of them: sql/temporary.py).

An UPDATE that leaves a row exactly as it was (same key, same values and types) is not
captured: it changes nothing a replica could see. ``last_statement_ops()`` reports, for the
rows the statement itself named (depth 0: not cascades or triggers), how many were inserted,
updated with a real change, and deleted; ``last_statement_unchanged()`` counts matched rows
left unchanged. MySQL's affected-rows for ``INSERT ... ON DUPLICATE KEY UPDATE`` is
``inserts + 2 * updates``.

Each table's columns and key are read once (``PRAGMA table_xinfo``) and cached;
``invalidate_schema()`` must be called after DDL. The transaction buffer is bounded by
``txn_rows_max``: beyond it the statement fails with MySQL error 1197.

A Python exception in the hook cannot stop SQLite; APSW re-raises it when the statement
returns, so the caller sees the statement fail and must roll it back (statement_end(False)).
If the caller nevertheless reports success, statement_end raises the recorded error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import apsw

from marmotdb import errors
from marmotdb.storage.internal_tables import REPLICATED
from marmotdb.storage.schema import TableSchema, is_internal_table, load_table_schema
from marmotdb.storage.writeset import ChangeOp, Row, RowChange

DEFAULT_TXN_ROWS_MAX = 1_000_000
_UNKNOWN = object()
ER_TRANS_CACHE_FULL = 1197


def default_exclude(table: str) -> bool:
    return table.startswith("__marmot_") and table not in REPLICATED


class StatementOps(NamedTuple):
    """Rows the last statement itself inserted, changed by update, and deleted."""

    inserts: int
    updates: int
    deletes: int


class _TableCapture(NamedTuple):
    """Per-table hot-path data: the schema and a key extractor for its images."""

    schema: TableSchema
    key_of: Callable[[Row], Row] | None  # None: keyed by rowid


def _key_extractor(schema: TableSchema) -> Callable[[Row], Row] | None:
    if schema.keyed_by_rowid:
        return None
    if len(schema.key) == 1:
        index = schema.key[0]
        return lambda image: (image[index],)
    indexes = schema.key
    return lambda image: tuple(image[i] for i in indexes)


def _identical(before: Row, after: Row) -> bool:
    """Same values with the same SQLite types (1 != 1.0, 0.0 != -0.0 here)."""
    if before != after:
        return False
    for old, new in zip(before, after):
        if type(old) is not type(new):
            return False
        if type(old) is float and math.copysign(1.0, old) != math.copysign(1.0, new):
            return False
    return True


class ChangeCapture:
    """Captures the row changes of the transactions run on one APSW connection."""

    def __init__(self, conn: apsw.Connection,
                 exclude: Callable[[str], bool] = default_exclude,
                 txn_rows_max: int = DEFAULT_TXN_ROWS_MAX,
                 trusted: Callable[[], AbstractContextManager[Any]] = nullcontext,
                 schema_name: str = "main", keep_rows: bool = True):
        self._conn = conn
        self._schema_name = schema_name  # the one schema whose rows are captured
        self._keep_rows = keep_rows  # False: statements are counted, their rows not kept
        self._trusted = trusted  # reading a table's shape must pass the connection's authorizer
        self._exclude = exclude
        self.txn_rows_max = txn_rows_max
        self._tables: dict[str, _TableCapture | None] = {}
        self._changes: list[RowChange] = []
        self._savepoints: list[tuple[str, int]] = []
        self._statement_start: int | None = None
        self._counts = [0, 0, 0, 0]  # inserts, updates, deletes, unchanged (depth 0)
        self._last_ops = StatementOps(0, 0, 0)
        self._last_unchanged = 0
        self._first_rowid = 0
        self._last_first_rowid = 0
        self._hook_error: BaseException | None = None
        conn.preupdate_hook(self._on_preupdate, id=self)

    def close(self) -> None:
        """Detach from the connection."""
        self._conn.preupdate_hook(None, id=self)

    # -- boundaries -----------------------------------------------------------------------

    @property
    def in_statement(self) -> bool:
        return self._statement_start is not None

    def pending_rows(self) -> int:
        return len(self._changes)

    def statement_begin(self) -> None:
        if self._statement_start is not None:
            raise errors.MarmotError("change capture: statement_begin inside a statement")
        self._statement_start = len(self._changes)
        self._counts = [0, 0, 0, 0]
        self._first_rowid = 0
        self._hook_error = None

    def statement_end(self, ok: bool) -> None:
        start = self._statement_start
        if start is None:
            raise errors.MarmotError("change capture: statement_end without statement_begin")
        self._statement_start = None
        failure, self._hook_error = self._hook_error, None
        if not ok or failure is not None:
            del self._changes[start:]
            self._last_ops, self._last_unchanged = StatementOps(0, 0, 0), 0
            self._last_first_rowid = 0
            if ok and failure is not None:
                raise failure
            return
        inserts, updates, deletes, unchanged = self._counts
        self._last_ops = StatementOps(inserts, updates, deletes)
        self._last_unchanged = unchanged
        self._last_first_rowid = self._first_rowid

    def statement_changes(self) -> list[RowChange]:
        """The rows the running statement changed so far (triggers' and cascades' included)."""
        start = self._statement_start
        return [] if start is None else self._changes[start:]

    def last_statement_first_rowid(self) -> int:
        """The rowid of the first row the last statement itself inserted (0: none): MySQL's
        insert id for a table whose AUTO_INCREMENT column is the rowid."""
        return self._last_first_rowid

    def last_statement_ops(self) -> StatementOps:
        return self._last_ops

    def last_statement_rows(self) -> int:
        """Rows the last statement itself inserted or updated (changed or not) before it
        ended, also when it failed and SQLite undid them: how far a failed statement got."""
        inserts, updates, _, unchanged = self._counts
        return inserts + updates + unchanged

    def last_statement_unchanged(self) -> int:
        return self._last_unchanged

    def savepoint(self, name: str) -> None:
        self._savepoints.append((name.lower(), len(self._changes)))

    def rollback_to(self, name: str) -> None:
        index = self._find_savepoint(name)
        del self._changes[self._savepoints[index][1]:]
        del self._savepoints[index + 1:]

    def release(self, name: str) -> None:
        del self._savepoints[self._find_savepoint(name):]

    def state_rows(self, changes: list[RowChange]) -> None:
        """Add row changes a writer states itself, outside any statement (a re-emit of
        rows as they are: txn/reemit.py); bounded by ``txn_rows_max`` like captured ones."""
        if self._statement_start is not None:
            raise errors.MarmotError("change capture: state_rows inside a statement")
        if len(self._changes) + len(changes) > self.txn_rows_max:
            raise errors.error(ER_TRANS_CACHE_FULL, f"Transaction changed more than "
                               f"txn_rows_max={self.txn_rows_max} rows")
        for change in changes:
            self.table_schema(change.table)  # the write set describes it (schemas_for)
        self._changes.extend(changes)

    def commit(self) -> list[RowChange]:
        if self._statement_start is not None:
            raise errors.MarmotError("change capture: commit inside a statement")
        changes, self._changes = self._changes, []
        self._savepoints.clear()
        return changes

    def rollback(self) -> None:
        self._changes = []
        self._savepoints.clear()
        self._statement_start = None
        self._hook_error = None

    def _find_savepoint(self, name: str) -> int:
        lowered = name.lower()
        for index in range(len(self._savepoints) - 1, -1, -1):
            if self._savepoints[index][0] == lowered:
                return index
        raise errors.error(errors.ER_SP_DOES_NOT_EXIST, f"SAVEPOINT {name} does not exist")

    # -- schema cache ---------------------------------------------------------------------

    def invalidate_schema(self, table: str | None = None) -> None:
        """Forget cached table shapes (all, or one table): call after any DDL."""
        if table is None:
            self._tables.clear()
        else:
            self._tables.pop(table, None)

    def table_schema(self, table: str) -> TableSchema:
        entry = self._table(table)
        if entry is None:
            raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{table}' is not replicated")
        return entry.schema

    def schemas_for(self, changes: list[RowChange]) -> list[TableSchema]:
        """The schemas of the tables named in ``changes``, in first-use order."""
        names = dict.fromkeys(change.table for change in changes)
        return [self.table_schema(name) for name in names]

    def _table(self, table: str) -> _TableCapture | None:
        try:
            return self._tables[table]
        except KeyError:
            pass
        entry = None
        if not (is_internal_table(table) or self._exclude(table)):
            with self._trusted():
                schema = load_table_schema(self._conn, table, self._schema_name)
            if schema is None:
                raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{table}' doesn't exist")
            entry = _TableCapture(schema, _key_extractor(schema))
        self._tables[table] = entry
        return entry

    # -- the hook (hot path) --------------------------------------------------------------

    def _on_preupdate(self, update: Any) -> None:
        if self._statement_start is None or update.database_name != self._schema_name:
            return
        try:
            entry = self._tables.get(update.table_name, _UNKNOWN)
            if entry is _UNKNOWN:
                entry = self._table(update.table_name)
            if entry is not None:
                self._record(update, entry)  # type: ignore[arg-type]
        except BaseException as exc:  # surfaced by APSW as the statement's error
            self._hook_error = self._hook_error or exc
            raise

    def _record(self, update: Any, entry: _TableCapture) -> None:
        changes = self._changes if self._keep_rows else []
        if len(changes) >= self.txn_rows_max:
            raise errors.error(ER_TRANS_CACHE_FULL,
                               f"Transaction changed more than txn_rows_max="
                               f"{self.txn_rows_max} rows")
        op, key_of, depth = update.op, entry.key_of, update.depth
        if op == "UPDATE":
            before, after = update.old, update.new
            if key_of is not None:
                old_key, new_key = key_of(before), key_of(after)
            else:
                old_key, new_key = (update.rowid,), (update.rowid_new,)
            if old_key == new_key and _identical(before, after) and _identical(old_key, new_key):
                kind = 3  # matched, unchanged: nothing to replicate
            else:
                changes.append(RowChange(entry.schema.name, ChangeOp.UPDATE, old_key, new_key,
                                         before, after))
                kind = 1
        elif op == "INSERT":
            after = update.new
            key = key_of(after) if key_of is not None else (update.rowid_new,)
            changes.append(RowChange(entry.schema.name, ChangeOp.INSERT, None, key, None, after))
            kind = 0
            if depth == 0 and not self._counts[0]:
                self._first_rowid = update.rowid_new
        else:
            before = update.old
            key = key_of(before) if key_of is not None else (update.rowid,)
            changes.append(RowChange(entry.schema.name, ChangeOp.DELETE, key, None, before, None))
            kind = 2
        if depth == 0:
            self._counts[kind] += 1
