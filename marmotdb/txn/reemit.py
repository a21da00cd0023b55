"""The re-emit: ship again, as they are now, the rows a peer's DDL was not ordered after.

Theory of operation (ddl/DESIGN.md §11 "The fix: the origin re-emits")
----------------------------------------------------------------------
Applying a peer's DDL may leave obligations in the database (``storage/reemit.py``: rows
this node's own late writes touched). ``Reemits.look(database)`` — after any DDL applied
here (``ServerState.schema_changed``) and, at node start, for every database (a crash
between the DDL's apply and the re-emit) — keeps them: once the QUORUM read's barrier has
applied here every write acknowledged at QUORUM before it (so the re-emit overwrites none),
an internal transaction takes the database's write turn as any writer does, turns up to ``REEMIT_ROWS_MAX`` obligations into
row changes of the current rows (deleting them in the same savepoint), and commits them at
ONE through the ordinary pipeline: a new write set of this node on the current schema
version, with fresh commit timestamps (they win over the late images by last-write-wins on
every node) and no base versions (a replica that skipped the late write, its table gone,
would wait for its version for ever). A failed barrier or commit rolls the deletes back:
the obligations stay, looked at again after ``RETRY_MS`` (doubled per failure, at most
``RETRY_MS_MAX``), at the next DDL or start. More obligations than one write set: the next
chunk follows at once. One re-emit per database at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import apsw

from marmotdb.errors import MarmotError
from marmotdb.storage import reemit
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.pipeline import CommitPipeline, Mode
from marmotdb.txn.transaction import Transaction

logger = logging.getLogger(__name__)

REEMIT_ROWS_MAX = 256           # rows per re-emitted write set: a few ms on the loop
TURN_WAIT_S = 50.0              # how long a re-emit waits for the write turn (then: next look)
RETRY_MS = 1_000                # a failed re-emit (no quorum for its barrier) looks again after
RETRY_MS_MAX = 30_000           # this, doubled per failure up to this
_OWNER_BASE = -(1 << 44)        # re-emit transactions' owners: negative, never a session's


class Reemits:
    """One node's re-emits (module docstring)."""

    def __init__(self, *, node_id: int, pipeline: Callable[[str], CommitPipeline | None],
                 obliged: Callable[[str], bool], defer: Callable[[Callable[[], None]], None],
                 call_later: Callable[[float, Callable[[], None]], Any],
                 barrier: Callable[[str], Pending | None],
                 active: Callable[[], bool], status: Any):
        self._node_id = node_id
        self._pipeline = pipeline    # a database's, None when it is gone
        self._obliged = obliged      # any obligation committed in the database (a read)
        self._defer = defer
        self._call_later = call_later
        # the QUORUM read's barrier (replication/read_barrier.py): every write acknowledged
        # at QUORUM before it began is applied here once it resolves
        self._barrier = barrier
        self._active = active        # in a cluster (obligations are recorded only there)
        self._status = status        # SHOW STATUS counters
        self._owners = _OWNER_BASE
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._retry_ms: dict[str, int] = {}  # databases whose last re-emit failed: next delay

    def look(self, database: str) -> None:
        """Keep ``database``'s obligations, if any (soon: never inside the caller)."""
        if not self._active():
            return
        if database in self._running:
            self._again.add(database)
            return
        if not self._obliged(database):
            return
        self._running.add(database)
        self._defer(lambda: self._start(database))

    def _start(self, database: str) -> None:
        """First the barrier: the current rows then include every write acknowledged at
        QUORUM before the re-emit began, so its fresh versions never overwrite one (only a
        write concurrent with it meets it by last-write-wins, as any ONE write)."""
        try:
            barrier = self._barrier(database)
        except MarmotError as error:
            self._failed(database, error)
            return
        if barrier is None:
            self._reemit(database)
            return
        barrier.add_done_callback(lambda done: self._failed(database, done.error())
                                  if done.error() is not None else self._reemit(database))

    def _reemit(self, database: str) -> None:
        pipeline = self._pipeline(database)
        if pipeline is None:
            self._finished(database, False)
            return
        self._owners -= 1
        txn = Transaction(self._owners, explicit=False)
        txn.fill_bases = False

        def run(_: Any) -> Any:
            try:
                with pipeline.trusted():
                    changes, kept = txn.run(lambda conn: self._collect(conn), capture=False)
                    pipeline.capture.state_rows(changes)
            except BaseException:
                txn.rollback()
                raise
            if not changes:  # a batch without a write set is rolled back: deleted apart
                txn.rollback()
                return pipeline.run_exclusive(lambda conn: reemit.forget(conn, kept))
            return chain(txn.commit(True, "ONE"), lambda _: self._shipped(len(changes)))

        try:
            outcome = chain(txn.begin_write(pipeline, Mode(), lambda: TURN_WAIT_S), run)
        except MarmotError as error:
            self._failed(database, error)
            return
        if isinstance(outcome, Pending):
            outcome.add_done_callback(lambda done: self._settled(database, done))
        else:  # committed at once (a node alone): look again for the next chunk
            self._finished(database, True)

    def _collect(self, conn: apsw.Connection) -> tuple[list[Any], list[Any]]:
        return reemit.collect(conn, self._node_id, REEMIT_ROWS_MAX)

    def _shipped(self, rows: int) -> None:
        """A re-emit committed (durable here; ONE ships it to the peers)."""
        self._status["Marmot_rows_reemitted"] += rows

    def _settled(self, database: str, done: Pending) -> None:
        error = done.error()
        if error is not None:
            self._failed(database, error)
            return
        self._finished(database, True)

    def _failed(self, database: str, error: BaseException | None) -> None:
        self._status["Marmot_reemit_failures"] += 1
        delay_ms = self._retry_ms.get(database, RETRY_MS)
        self._retry_ms[database] = min(delay_ms * 2, RETRY_MS_MAX)
        logger.warning("re-emit of %s's rows after a DDL failed (kept: tried again in %d "
                       "ms): %s", database, delay_ms, error)
        self._running.discard(database)
        self._again.discard(database)
        self._call_later(delay_ms / 1000, lambda: self.look(database))

    def _finished(self, database: str, more: bool) -> None:
        self._retry_ms.pop(database, None)
        self._running.discard(database)
        if database in self._again or more:
            self._again.discard(database)
            self.look(database)
