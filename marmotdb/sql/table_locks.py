"""LOCK TABLES / UNLOCK TABLES: the table locks one session holds and what they let it touch.

Theory of operation
-------------------
MySQL's contract has two sides. The holder may use only the tables it locked (1100 for any
other), and may write only those it locked for WRITE (1099 for a READ-locked one). Other
sessions may not write a locked table, nor read a WRITE-locked one, until UNLOCK TABLES.

The holder's side is checked where every table access is seen: SQLite's authorizer, when a
statement is prepared (``ConnectionBinding`` asks ``TableLocks.authorize``), so CTEs,
subqueries, joins and views are covered however the statement names its tables. A connection
a locked session takes from the pool has its cached statements expired first, so each of its
statements is authorized again. Accesses made by a trigger are allowed (MySQL locks the tables
a trigger uses implicitly), and so are those made through a view that was itself locked.

The other side uses what SQLite offers:

* **WRITE**: the session reserves the database's commit-pipeline turn
  (``CommitPipeline.reserve``): no other session on this node writes anything in that database
  until UNLOCK TABLES (MySQL blocks writers of the locked tables only: the granularity here is
  the database). Other sessions' reads are not blocked; they read the last committed state,
  as if they had run before the lock — the holder's statements still commit one by one
  (autocommit) or at COMMIT, exactly as in MySQL.
* **READ [LOCAL]**: the holder reads the database through one snapshot taken at LOCK TABLES
  (a read transaction kept open on a pooled connection) until UNLOCK TABLES: nobody can
  change what it reads under it, which is what the holder relies on (mysqldump --lock-tables).
  Other sessions' writes are not blocked — the holder does not see them; MySQL's READ LOCAL
  on MyISAM allows concurrent inserts the same way. In a database that also has a WRITE lock
  the reservation already keeps every other writer out, so no snapshot is needed there.

Locks are node-local, as MySQL's are server-local: writes through another node are not held
back. Aliases (``LOCK TABLES t AS a READ``) lock the table itself; statements may name it
either way.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.txn.pending import Pending, chain

if TYPE_CHECKING:
    import apsw

    from marmotdb.txn.pipeline import CommitPipeline


class LockKind(enum.IntEnum):
    READ = 1
    WRITE = 2


@dataclass(frozen=True, slots=True)
class LockRequest:
    database: str  # lower-case
    table: str     # lower-case
    kind: LockKind


def parse(text: str, current_database: str | None) -> list[LockRequest]:
    """``LOCK TABLE[S] tbl [[AS] alias] {READ [LOCAL] | [LOW_PRIORITY] WRITE} [, …]``."""
    parser = DdlParser(text)
    parser.expect("LOCK")
    parser.expect("TABLES", "TABLE")
    requests = []
    while True:
        database, table = parser.qualified_name()
        if parser.accept("AS") or not parser.at("READ", "WRITE", "LOW_PRIORITY"):
            parser.identifier()  # the alias
        if database is None and not current_database:
            raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
        requests.append(LockRequest((database or current_database or "").lower(),
                                    table.lower(), _lock_kind(parser)))
        if not parser.accept_op(","):
            break
    if parser.token.kind != "end":
        parser.fail()
    return requests


def _lock_kind(parser: DdlParser) -> LockKind:
    if parser.accept("READ"):
        parser.accept("LOCAL")
        return LockKind.READ
    parser.accept("LOW_PRIORITY")
    parser.expect("WRITE")
    return LockKind.WRITE


@dataclass
class TableLocks:
    """The locks of one session and what holds them: the reserved pipelines (WRITE) and the
    read snapshots (databases with READ locks only)."""

    locks: dict[tuple[str, str], LockKind] = field(default_factory=dict)
    triggers: dict[str, frozenset[str]] = field(default_factory=dict)  # by database
    reserved: list[CommitPipeline] = field(default_factory=list)
    snapshots: dict[str, apsw.Connection] = field(default_factory=dict)

    @classmethod
    def of(cls, requests: list[LockRequest]) -> TableLocks:
        locks: dict[tuple[str, str], LockKind] = {}
        for request in requests:  # the same table twice: the stronger lock
            key = (request.database, request.table)
            locks[key] = max(locks.get(key, LockKind.READ), request.kind)
        return cls(locks)

    # ------------------------------------------------------------------ holding them
    def reserve(self, pipeline_of: Callable[[str], CommitPipeline],
                reserve: Callable[[CommitPipeline], Pending | None]) -> Pending | None:
        """Reserve the turn of every database with a WRITE lock, one after the other in name
        order; on failure (1205, KILL) the reservations taken are given back."""
        waiting: Pending | None = None
        for database in self.databases(LockKind.WRITE):
            pipeline = pipeline_of(database)
            self.reserved.append(pipeline)
            waiting = chain(waiting, lambda _, p=pipeline: reserve(p))
        return waiting

    def open_snapshots(self, checkout: Callable[[str], apsw.Connection],
                       begin: Callable[[apsw.Connection], None]) -> None:
        """A read snapshot of every database with READ locks only (``begin`` starts it)."""
        written = set(self.databases(LockKind.WRITE))
        for database in self.databases():
            if database not in written:
                conn = self.snapshots[database] = checkout(database)
                begin(conn)

    def release(self, owner: int, checkin: Callable[[str, apsw.Connection], None]) -> None:
        """UNLOCK TABLES: the reservations and the snapshots are given back."""
        reserved, self.reserved = self.reserved, []
        for pipeline in reserved:  # a LOCK TABLES still waiting stops waiting
            pipeline.cancel_wait(owner, errors.error(errors.ER_QUERY_INTERRUPTED,
                                                     "Query execution was interrupted"))
            pipeline.unreserve(owner)
        snapshots, self.snapshots = self.snapshots, {}
        for database, conn in snapshots.items():
            if not conn.get_autocommit():
                conn.execute("ROLLBACK")
            checkin(database, conn)
        self.locks.clear()

    def databases(self, kind: LockKind | None = None) -> list[str]:
        """The databases with locks (of ``kind``), sorted: reservations are always taken in
        this order, so two sessions locking the same databases cannot deadlock."""
        return sorted({db for (db, _), k in self.locks.items() if kind is None or k is kind})

    def check_write(self, database: str, table: str) -> None:
        """Before a DML statement takes the turn: its target must be WRITE-locked."""
        kind = self.locks.get((database, table.lower()))
        if kind is LockKind.WRITE:
            return
        if kind is LockKind.READ:
            raise errors.error(errors.ER_TABLE_NOT_LOCKED_FOR_WRITE, f"Table '{table}' was "
                               "locked with a READ lock and can't be updated")
        raise not_locked(table)

    def authorize(self, database: str | None, table: str, write: bool,
                  context: str | None) -> None:
        """One table access seen by SQLite's authorizer (``context``: the trigger, view or
        CTE it happens in). Raises 1100 / 1099."""
        db = database or ""
        if context is not None and (context.lower() in self.triggers.get(db, ())
                                    or (db, context.lower()) in self.locks):
            return
        if write:
            self.check_write(db, table)
        elif (db, table.lower()) not in self.locks:
            raise not_locked(table)


def not_locked(table: str) -> errors.MarmotError:
    return errors.error(errors.ER_TABLE_NOT_LOCKED,
                        f"Table '{table}' was not locked with LOCK TABLES")
