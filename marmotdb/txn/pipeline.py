"""CommitPipeline: one database's write connection, its turn, and group commit.

Theory of operation (txn/DESIGN.md has the long form)
-----------------------------------------------------
Every write of every session runs on the pipeline's one write connection, inside an open
SQLite transaction (the *batch*), one transaction at a time: the holder of the *turn*. A
transaction's rows live in its own savepoint. When it commits, its write set is built and its
row versions and commit-log record are written inside that savepoint, the savepoint is released
into the batch, and the transaction waits (a ``Pending``) for the batch's ``COMMIT``. The
turn passes on; whoever commits before the batch is flushed shares its ``COMMIT`` and fsync.

Scheduling is the host's (``Host``): ``defer(callback)`` runs a callback soon, outside the
caller's stack, and ``call_later(delay_s, callback)`` bounds lock waits (the runtime's event
loop; the simulator's event queue; ``InlineHost`` for tests and tools).
After the turn is given back, ``_advance`` runs deferred: it grants the turn to the next waiter
that can join the open batch, and flushes the batch when nobody can (no waiter, a waiter that
needs another connection mode, or the batch is full). So every commit arriving in one
event-loop iteration joins one batch without any timer.

An explicit transaction holds the turn across its client's round trips, so the open batch is
committed before it gets the turn: a slow client never delays the answers of others. That
costs one COMMIT per explicit transaction but no fsync: with durability "fsync" the WAL is
synced afterwards, once per group of batches (``WalSyncer``).

A batch that wrote ``COMMIT_OFF_LOOP_ROWS`` rows or more (a long write), or a DDL (which may
have rebuilt or indexed a table of millions of rows: its COMMIT writes every page it dirtied),
writes its log record and COMMITs on a host worker (``run_blocking``); the pipeline is busy
meanwhile, as during a checkpoint: nobody gets the turn until it is done.

``reserve(owner)`` (LOCK TABLES … WRITE) keeps the turn for one owner until ``unreserve``:
the others wait, the owner's statements take and give back the turn as usual.

``fault(point)`` is called at each named step (``FAULT_POINTS``); the simulator raises from it
to crash the node exactly there. Production passes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import apsw

from marmotdb import errors
from marmotdb.errors import CommitOutcomeUnknown, MarmotError, TransientError
from marmotdb.hlc import HLC, Timestamp
from marmotdb.storage import commitlog, versions
from marmotdb.storage.capture import ChangeCapture
from marmotdb.storage.commitlog import LogWriter, max_commit_ts
from marmotdb.storage.apply import ApplyTransaction, record_local_commit
from marmotdb.storage.internal_tables import COMMIT_LOG, PENDING_BRANCHES
from marmotdb.storage.writeset import (
    RowChange,
    SchemaChange,
    WriteSet,
    abort_marker,
    encode_write_set,
)
from marmotdb.txn.checkpoint import WalCheckpointer
from marmotdb.txn.commit_group import CommitGroup
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.wal_sync import WalSyncer

_TAKE_WRITE_LOCK = f'DELETE FROM main."{COMMIT_LOG}" WHERE 0'  # (CommitPipeline._grant)

BATCH_TXNS_MAX = 256  # transactions per batch COMMIT; beyond it the next one starts a new batch
# A batch writing at least this many rows COMMITs on a host worker (its log record and the
# WAL write of its pages cost tens of ms): the loop keeps serving meanwhile (DESIGN.md §9).
COMMIT_OFF_LOOP_ROWS = 20_000
TXN_SAVEPOINT = "__marmot_txn"  # the turn holder's rows live inside this savepoint
FAULT_POINTS = ("statement_done", "write_set_built", "recorded", "joined_batch",
                "before_batch_commit", "after_batch_commit")
# A transaction writing two databases: its first branch committed (the decision), the others
# not yet recorded (txn/DESIGN.md §10.2 step d). Not among FAULT_POINTS (reached only by such
# transactions): the sql-crash simulator draws it on its own; tests arm it on a pipeline.
BRANCH_FAULT_POINT = "branch_decided"



class Timer(Protocol):
    def cancel(self) -> None: ...


class Host(Protocol):
    def defer(self, callback: Callable[[], None]) -> None: ...
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer: ...
    def run_blocking(self, work: Callable[[], None],
                     done: Callable[[BaseException | None], None]) -> None: ...


@dataclass(frozen=True, slots=True)
class Mode:
    """Connection settings that cannot change inside a SQLite transaction."""

    foreign_keys: bool = True


@dataclass(slots=True, eq=False)
class _Waiter:
    owner: int
    mode: Mode
    spans_round_trips: bool  # an explicit transaction: flush the batch before granting
    pending: Pending
    timer: Timer | None = None
    exclusive: Callable[[apsw.Connection], Any] | None = None  # run_exclusive's work
    blocking: bool = False  # run_exclusive_blocking: the work runs on a host worker


@dataclass(slots=True)
class _Member:
    pending: Pending
    value: Any
    write_set: WriteSet | None = None
    encoded: bytes = b""
    level: str = "QUORUM"
    group: CommitGroup | None = None  # a branch of a transaction of several databases


class Replicator(Protocol):
    """The distributed commit of a batch (txn/DESIGN.md §7); ``cluster.ClusterCommit``."""

    def replicated(self) -> bool: ...

    def outcomes_awaited(self, database: str, within_ms: int) -> bool: ...

    def can_gather(self, level: str) -> bool: ...

    def decide(self, database: str, batch: int, members: list[tuple[WriteSet, bytes, str]],
               done: Callable[[list[MarmotError | None] | MarmotError], None]) -> None: ...

    def decide_group(self, parts: list[tuple[str, int, list[tuple[WriteSet, bytes, str]]]],
                     tie: list[int],
                     done: Callable[[list[list[MarmotError | None] | MarmotError]], None]
                     ) -> None: ...


@dataclass(slots=True)
class Draft:
    """What a transaction hands to ``commit``: its rows and schema entries, in order."""

    txn_id: Timestamp
    changes: list[RowChange]
    schema_changes: list[SchemaChange] = field(default_factory=list)
    check_foreign_keys: bool = False  # a table rebuild ran with foreign keys off
    level: str = "QUORUM"  # the write consistency level: ONE, QUORUM or ALL
    read_view: ReadView | None = None  # its read snapshot from before its first write
    # False: its rows carry no base version (a re-emit, ddl/DESIGN.md §11: a replica that
    # skipped the late write it re-emits would wait for that write's version for ever)
    fill_bases: bool = True


@dataclass(slots=True)
class ReadView:
    """The read snapshot an explicit transaction held before its first write, kept until it
    ends: in a cluster, a QUORUM/ALL commit is refused when a row it writes changed after that
    snapshot (DESIGN.md §7.2, "Reads before the first write")."""

    conn: apsw.Connection
    trusted: Callable[[], AbstractContextManager[Any]]  # lifts the user-facing authorizer
    give_back: Callable[[], None]  # to its pool, when the transaction ends


def run_deferred(defer: Callable[[Callable[[], None]], None], work: Callable[[], None],
                 done: Callable[[BaseException | None], None]) -> None:
    """``Host.run_blocking`` for a host without threads: ``work`` runs as deferred work, and
    ``done`` gets its error (or None) as a worker's completion would."""
    def run() -> None:
        error: BaseException | None = None
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - handed to ``done``, as a worker would
            error = exc
        done(error)
    defer(run)


class InlineHost:
    """A host without an event loop. Deferred callbacks run once the outermost one returns
    (never inside the stack frame that deferred them, except the first); timers fire only when
    the owner calls ``fire_timers`` (tests decide when a lock wait has lasted too long)."""

    def __init__(self) -> None:
        self._queue: deque[Callable[[], None]] = deque()
        self._draining = False
        self.timers: list[_InlineTimer] = []

    def defer(self, callback: Callable[[], None]) -> None:
        self._queue.append(callback)
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue:
                self._queue.popleft()()
        finally:
            self._draining = False

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        timer = _InlineTimer(delay_s, callback)
        self.timers.append(timer)
        return timer

    def run_blocking(self, work: Callable[[], None],
                     done: Callable[[BaseException | None], None]) -> None:
        run_deferred(self.defer, work, done)

    def fire_timers(self) -> None:
        timers, self.timers = self.timers, []
        for timer in timers:
            if not timer.cancelled:
                self.defer(timer.callback)


@dataclass(slots=True)
class _InlineTimer:
    delay_s: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


RELEASE_CHUNK_ROWS = 4096


def _release_in_chunks(changes: list[RowChange]) -> None:
    """Drop a committed write set's row changes a slice at a time, on the worker that
    committed it: freeing 200,000 of them in one list deallocation held the GIL (and so the
    event loop) for tens of ms; between slices the loop gets its turn."""
    while changes:
        del changes[-RELEASE_CHUNK_ROWS:]


class CommitPipeline:
    def __init__(self, name: str, conn: apsw.Connection, *, hlc: HLC, host: Host,
                 batch_txns_max: int = BATCH_TXNS_MAX,
                 fault: Callable[[str], None] | None = None,
                 trusted: Callable[[], AbstractContextManager[Any]] = nullcontext,
                 sync_wal: bool = False, wal_sync: Callable[[str], None] | None = None,
                 checkpoint_connection: Callable[[], apsw.Connection] | None = None,
                 replicator: Replicator | None = None, origin_seq_floor: int = 0):
        self.name = name
        self._trusted = trusted  # the pipeline's own statements pass the SQL authorizer
        self.trusted = trusted
        self.conn = conn
        self.hlc = hlc
        self.capture = ChangeCapture(conn, trusted=trusted)
        self.batch_txns_max = batch_txns_max
        self._host = host
        self._fault = fault
        self._owner: int | None = None
        self._reserved_for: int | None = None  # LOCK TABLES … WRITE: only it gets the turn
        self._waiters: deque[_Waiter] = deque()
        self._batch: list[_Member] = []
        self._log: LogWriter | None = None
        self._advance_scheduled = False
        self.closed = False
        self.replicator = replicator
        self._deciding = False      # a batch's distributed rounds are in flight
        self._sealed = False        # the batch holds a CommitGroup's member: nobody joins it
        self._seq_floor = origin_seq_floor  # origin sequences issued so far (never reused)
        # the log writer as it was before the owner's write set was recorded, until it joins
        # the batch (``unrecord``: its savepoint rolled back takes the log row with it)
        self._before_record: dict[int, tuple[int, int, bool]] | None = None
        self._exclusive_owner = -1  # owners of run_exclusive work: negative, never a session
        self._exclusive_running = False  # a run_exclusive_blocking work is on a worker
        # A committed transaction's branch could not be applied here (``redo_first``): no
        # write may go over its rows until the next start applies it (1290 until then).
        self._fence: MarmotError | None = None
        self._committing = False    # a heavy batch's COMMIT is on a worker
        self.batches = 0          # batch COMMITs so far (for SHOW STATUS and benchmarks)
        self.batched_txns = 0     # transactions made durable by them
        # durability "fsync": COMMIT without fsync, then one fsync per group of batches
        self._syncer = WalSyncer(conn.filename + "-wal", host, wal_sync) if sync_wal else None
        self._checkpointer = WalCheckpointer(
            conn, checkpoint_connection, host, on_done=self._schedule_advance) \
            if checkpoint_connection is not None else None
        with trusted():
            if sync_wal:
                conn.execute("PRAGMA synchronous=NORMAL")
            self._mode = Mode(bool(conn.execute("PRAGMA foreign_keys").fetchall()[0][0]))
            self.schema_version = int(conn.execute("PRAGMA user_version").fetchall()[0][0])
            last = max_commit_ts(conn)
        if last is not None and last > hlc.last:
            hlc.witness(last)     # a restarted node never issues a timestamp below its log

    # ------------------------------------------------------------------ the turn
    @property
    def owner(self) -> int | None:
        return self._owner

    def acquire(self, owner: int, mode: Mode, *, spans_round_trips: bool,
                timeout_s: Callable[[], float]) -> Pending | None:
        """The turn for ``owner``: None when granted now, else a Pending resolved on grant
        (or failed with 1205 when the host expires it after ``timeout_s()``, asked only when
        there is a wait: it reads a session variable)."""
        self._check_writable()
        if self._owner == owner:
            return None
        queue_free = not self._waiters or owner == self._reserved_for
        if self._owner is None and queue_free and self._may_take(owner) and not self._busy \
                and self._can_join(mode, spans_round_trips):
            self._grant(owner, mode)
            return None
        waiter = _Waiter(owner, mode, spans_round_trips, Pending())
        waiter.timer = self._host.call_later(timeout_s(), lambda: self._expire(waiter))
        self._waiters.append(waiter)
        self._schedule_advance()
        return waiter.pending

    def _check_writable(self) -> None:
        if self.closed:
            raise errors.error(errors.ER_BAD_DB_ERROR, f"Unknown database '{self.name}'")
        if self._fence is not None:
            raise self._fence

    def release(self, owner: int) -> None:
        """Give the turn back (after commit or rollback of the owner's savepoint)."""
        if self._owner != owner:
            return
        self._owner = None
        self._schedule_advance()

    # ------------------------------------------------------------------ reservation
    def reserve(self, owner: int, mode: Mode, *, timeout_s: Callable[[], float]
                ) -> Pending | None:
        """LOCK TABLES … WRITE: from when the turn is free (the batch committed) until
        ``unreserve``, only ``owner`` is granted it. Its statements still take and give back
        the turn one by one, each committing as usual (autocommit) or at COMMIT; everyone
        else waits, up to their lock wait timeout. None when reserved now, else a Pending."""
        if self._reserved_for == owner:
            return None
        def reserved(_: Any) -> None:
            self._reserved_for = owner
            self.release(owner)
        return chain(self.acquire(owner, mode, spans_round_trips=True, timeout_s=timeout_s),
                     reserved)

    def unreserve(self, owner: int) -> None:
        """UNLOCK TABLES (or the owner's session ended): the turn is everyone's again."""
        if self._reserved_for == owner:
            self._reserved_for = None
            self._schedule_advance()

    @property
    def reserved_for(self) -> int | None:
        return self._reserved_for

    def _may_take(self, owner: int) -> bool:
        # negative owners are internal (AUTO_INCREMENT claims): a reservation is the sessions'
        return self._reserved_for is None or self._reserved_for == owner or owner < 0

    def _next_waiter(self) -> _Waiter | None:
        """The waiter the turn goes to next: the head of the queue, or while the turn is
        reserved, the reserving owner's waiter, peers' write sets to apply (LOCK TABLES is
        node-local: replication is not held back) or an AUTO_INCREMENT claim (the reserving
        session's INSERT may wait for it); the other sessions keep waiting."""
        if self._reserved_for is None:
            return self._waiters[0] if self._waiters else None
        return next((w for w in self._waiters if w.owner == self._reserved_for
                     or w.exclusive is not None or w.owner < 0), None)

    def _can_join(self, mode: Mode, spans_round_trips: bool) -> bool:
        """May this transaction write into the open batch now? Not if it needs another
        connection mode, the batch is full, or it will hold the turn across round trips (the
        batch's members must not wait for its client): the batch is committed first."""
        if mode != self._mode or len(self._batch) >= self.batch_txns_max or spans_round_trips \
                or self._sealed:
            return not self._batch and (mode == self._mode or self.conn.get_autocommit())
        return True

    def _grant(self, owner: int, mode: Mode) -> None:
        if mode != self._mode:
            assert self.conn.get_autocommit(), "mode change inside a batch"
            with self._trusted():
                self.conn.execute(f"PRAGMA foreign_keys={'ON' if mode.foreign_keys else 'OFF'}")
            self._mode = mode
        if self.conn.get_autocommit():
            # the write lock of this database only: BEGIN IMMEDIATE would take the lock of
            # every database ATTACHed to the connection for a read (sql/attachments.py) too,
            # and that database's own writers would then get SQLITE_BUSY (1105) until this
            # batch ends. A write statement that changes nothing takes the lock of the file
            # it names, and nothing else.
            self.conn.execute("BEGIN")
            with self._trusted():
                self.conn.execute(_TAKE_WRITE_LOCK)
            self._log = LogWriter(self.conn)
        self._owner = owner

    def is_waiting(self, owner: int) -> bool:
        """Is ``owner`` queued for this turn? (txn/wait_for.py walks the waits.)"""
        return any(waiter.owner == owner for waiter in self._waiters)

    def cancel_wait(self, owner: int, error: BaseException) -> bool:
        """KILL QUERY of a statement still waiting for the turn: it fails with ``error`` and
        never runs. False if ``owner`` was not waiting."""
        for waiter in self._waiters:
            if waiter.owner == owner:
                self._waiters.remove(waiter)
                if waiter.timer is not None:
                    waiter.timer.cancel()
                waiter.pending.fail(error)
                return True
        return False

    def _expire(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
            waiter.pending.fail(errors.error(
                errors.ER_LOCK_WAIT_TIMEOUT, "Lock wait timeout exceeded; try restarting "
                "transaction"))

    def _schedule_advance(self) -> None:
        if not self._advance_scheduled:
            self._advance_scheduled = True
            self._host.defer(self._advance)

    def _advance(self) -> None:
        """Grant the turn to the next waiter that may join, or flush the batch."""
        self._advance_scheduled = False
        while self._owner is None and not self.closed and not self._busy:
            if self._fence is not None:
                self._fail_waiters(self._fence)
                return
            head = self._next_waiter()
            if head is None:
                self._flush()
                return
            if not self._can_join(head.mode, head.spans_round_trips):
                self._flush()
                continue
            self._waiters.remove(head)
            if head.timer is not None:
                head.timer.cancel()
            if head.exclusive is not None:
                self._run_exclusive_now(head)
                continue
            self._grant(head.owner, head.mode)
            head.pending.resolve(None)  # the owner runs now; it releases the turn later

    def _fail_waiters(self, error: MarmotError) -> None:
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if waiter.timer is not None:
                waiter.timer.cancel()
            waiter.pending.fail(error)

    @property
    def _busy(self) -> bool:
        """The connection is in use outside the turn: a checkpoint, or the rounds of a batch
        that stays open until its decision."""
        return self._deciding or self._checkpointing or self._exclusive_running or \
            self._committing

    def run_exclusive(self, work: Callable[[apsw.Connection], Any]) -> Pending:
        """``work(conn)`` alone on the write connection, outside any batch (the open one is
        committed first): applying peers' write sets, which opens its own SQLite transaction.
        The Pending gets its result or its exception."""
        self._check_writable()
        self._exclusive_owner -= 1
        waiter = _Waiter(self._exclusive_owner, self._mode, True, Pending(), exclusive=work)
        self._waiters.append(waiter)
        self._schedule_advance()
        return waiter.pending

    def redo_first(self, work: Callable[[apsw.Connection], Any]) -> Pending:
        """``run_exclusive`` ahead of every waiter: a branch of a transaction whose first
        database committed, and whose own commit failed here, applied from its write set
        (txn/DESIGN.md §10.2 d). Nobody may write before it: a write over its rows would make
        its row images stale, and a write set taking its origin sequence would make the redo
        skip it. If it fails too, the database is fenced: every write is refused (1290)
        until the next start, whose redo applies the branch."""
        self._check_writable()
        self._exclusive_owner -= 1
        waiter = _Waiter(self._exclusive_owner, self._mode, True, Pending(), exclusive=work)
        self._waiters.appendleft(waiter)
        self._schedule_advance()

        def fence_if_failed(done: Pending) -> None:
            if done.error() is not None and self._fence is None:
                self._fence = errors.error(errors.ER_OPTION_PREVENTS_STATEMENT, (
                    "The MySQL server is running with the --read-only option so it cannot "
                    f"execute this statement (database `{self.name}` could not apply a "
                    f"committed transaction: {done.error()}; restart the node)"))
        waiter.pending.add_done_callback(fence_if_failed)
        return waiter.pending

    def run_exclusive_blocking(self, work: Callable[[apsw.Connection], Any]) -> Pending:
        """``run_exclusive`` for long work (restoring a snapshot): once it is this work's
        turn, ``work(conn)`` runs on a host worker (``run_blocking``) while the pipeline
        holds every other writer back, as during a checkpoint. The Pending is settled on the
        host's thread."""
        self._check_writable()
        self._exclusive_owner -= 1
        waiter = _Waiter(self._exclusive_owner, self._mode, True, Pending(), exclusive=work,
                         blocking=True)
        self._waiters.append(waiter)
        self._schedule_advance()
        return waiter.pending

    def _run_blocking_now(self, waiter: _Waiter) -> None:
        work, outcome = waiter.exclusive, []
        assert work is not None
        self._exclusive_running = True

        def run() -> None:
            with self._trusted():
                outcome.append(work(self.conn))

        def done(error: BaseException | None) -> None:
            self._exclusive_running = False
            if not self.closed:
                self._reload_schema_version()
            if error is not None:
                waiter.pending.fail(error)
            else:
                waiter.pending.resolve(outcome[0])
            self._schedule_advance()
        self._host.run_blocking(run, done)

    def _run_exclusive_now(self, waiter: _Waiter) -> None:
        if not self.conn.get_autocommit():  # a turn that wrote nothing left BEGIN open
            self._flush()                    # (an empty batch: rolled back)
        assert waiter.exclusive is not None and self.conn.get_autocommit()
        if waiter.blocking:
            self._run_blocking_now(waiter)
            return
        try:
            with self._trusted():
                result = waiter.exclusive(self.conn)
        except Exception as exc:  # noqa: BLE001 - the waiter's caller gets it
            self._reload_schema_version()
            waiter.pending.fail(exc)
            return
        self._reload_schema_version()
        if self._syncer is not None:
            self._syncer.committed([(waiter.pending, result)])
        else:
            waiter.pending.resolve(result)

    # ------------------------------------------------------------------ committing
    def commit(self, owner: int, draft: Draft, savepoint: str, value: Any) -> Pending | Any:
        """Make the owner's transaction part of the batch; ``value`` is the client's result.

        Runs while ``owner`` holds the turn with its rows in ``savepoint``. Records the row
        versions and the log entry inside the savepoint, releases it into the batch and returns
        a Pending resolved with ``value`` when the batch COMMIT returns (``value`` itself when
        nothing changed). Raises if recording fails: the caller rolls its savepoint back. The
        turn stays with the owner either way (``release`` it)."""
        return self.join(owner, self.record(owner, draft), draft.level, savepoint, value)

    def record(self, owner: int, draft: Draft) -> tuple[WriteSet, bytes] | None:
        """The first half of ``commit``: the write set built and recorded inside the owner's
        savepoint (None: nothing changed). It touches only the write connection, its capture
        and the (locked) HLC, so a long write's owner may run it on a writer thread while it
        holds the turn (DESIGN.md §9); ``join`` then runs on the loop. Raises as ``commit``."""
        assert self._owner == owner
        if not draft.changes and not draft.schema_changes:
            return None
        with self._trusted():
            if draft.check_foreign_keys and self.conn.execute(
                    "PRAGMA foreign_key_check").fetchall():
                raise errors.error(errors.ER_NO_REFERENCED_ROW_2, "Cannot add or update a "
                                   "child row: a foreign key constraint fails")
            write_set = self._write_set(draft)
            self.fault_point("write_set_built")
            return write_set, self._record(write_set)

    def unrecord(self, owner: int) -> None:
        """The owner's savepoint was rolled back after its write set was recorded and before
        it joined the batch (a refusal of another branch, txn/DESIGN.md §10.2): the log
        writer forgets that record, or the next write set would take the sequence after the
        vanished one and leave a gap that stops the applied vector everywhere."""
        if self._owner == owner and self._before_record is not None:
            assert self._log is not None
            self._log.restore(self._before_record)
        self._before_record = None

    def build(self, owner: int, draft: Draft) -> tuple[WriteSet, bytes]:
        """A branch's write set built (commit timestamp, next origin sequence, base
        versions) and encoded, but not recorded: nothing written (txn/DESIGN.md §10.2 step
        a). The owner keeps the turn until ``record_built``, so nobody takes its sequence."""
        assert self._owner == owner
        with self._trusted():
            write_set = self._write_set(draft)
        return write_set, encode_write_set(write_set)

    def record_built(self, owner: int, built: tuple[WriteSet, bytes],
                     promises: Sequence[tuple[str, bytes]] = ()) -> tuple[WriteSet, bytes]:
        """Record a write set from ``build`` (versions and log row in the owner's
        savepoint), with the promises to finish the transaction's other branches
        (``(database, encoded write set)``: rows of ``__marmot_pending_branch``)."""
        assert self._owner == owner
        write_set, encoded = built
        assert self._log is not None
        self._before_record = self._log.mark()
        with self._trusted():
            record_local_commit(self.conn, write_set, encoded, self._log)
            for database, promised in promises:
                self.conn.execute(f"INSERT INTO {PENDING_BRANCHES}(txn_id, db, write_set) "
                                  "VALUES (?, ?, ?)", (write_set.txn_id.pack(), database,
                                                       promised))
        return built

    def join(self, owner: int, recorded: tuple[WriteSet, bytes] | None, level: str,
             savepoint: str, value: Any, group: CommitGroup | None = None) -> Pending | Any:
        """The second half of ``commit``: the recorded savepoint released into the batch.
        ``group``: a branch of a transaction of several databases in a cluster; the batch
        is sealed (this member is its last) and decided with the group's other batches."""
        assert self._owner == owner
        if recorded is None:
            self.conn.execute(f'RELEASE "{savepoint}"')
            self._before_record = None
            return value
        write_set, encoded = recorded
        self.schema_version = write_set.schema_version
        if self._replicated():  # peers may hold it even if our batch rolls back: never reuse
            self._seq_floor = write_set.origin_seq
        self.fault_point("recorded")
        self.conn.execute(f'RELEASE "{savepoint}"')
        self._before_record = None  # in the batch now: its sequence is spent
        pending = Pending()
        self._batch.append(_Member(pending, value, write_set, encoded, level, group))
        if group is not None:
            self._sealed = True
        return pending  # the "joined_batch" fault point is the caller's, after it let go

    def _write_set(self, draft: Draft) -> WriteSet:
        conn = self.conn
        if draft.fill_bases:
            versions.fill_base_versions(conn, draft.changes)
        if draft.read_view is not None and draft.level != "ONE" and self._replicated():
            with draft.read_view.trusted():
                changed = versions.changed_since(draft.read_view.conn, draft.changes)
            if changed:
                raise TransientError(
                    "Deadlock found when trying to get lock; try restarting transaction (a "
                    f"row of `{draft.changes[changed[0]].table}` changed after this "
                    "transaction read it)", code=errors.ER_LOCK_DEADLOCK, sqlstate="40001")
        schema_version = self.schema_version
        ordered_after = None
        if draft.schema_changes:  # rolled back with the savepoint if recording fails
            schema_version += 1
            conn.execute(f"PRAGMA user_version={schema_version}")
            self.capture.invalidate_schema()
            # what this node applied before the batch: replicas apply the DDL only after it
            # (ddl/DESIGN.md "DDL after the writes before it"); this batch's own earlier
            # members are applied with it, in the same transaction, on every replica
            ordered_after = commitlog.applied_vector(conn)
        assert self._log is not None
        origin_seq = max(self._log.next_origin_seq(self.hlc.node_id), self._seq_floor + 1)
        return WriteSet(draft.txn_id, self.hlc.node_id, origin_seq, self.hlc.now(), self.name,
                        schema_version, self.capture.schemas_for(draft.changes),
                        draft.changes, draft.schema_changes, ordered_after)

    def _record(self, write_set: WriteSet) -> bytes:
        assert self._log is not None
        self._before_record = self._log.mark()
        encoded = encode_write_set(write_set)
        record_local_commit(self.conn, write_set, encoded, self._log)
        return encoded

    def _flush(self) -> None:
        """COMMIT the batch: one SQLite transaction, one fsync, every member answered."""
        members, self._batch = self._batch, []
        log, self._log = self._log, None
        self._sealed = False
        if self.conn.get_autocommit():
            assert not members
            return
        if not members:
            self.conn.execute("ROLLBACK")  # an empty batch: nothing to make durable
            return
        group = members[-1].group
        if group is not None:  # decided with the other branches' batches (commit_group.py)
            self._deciding = True
            assert members[0].write_set is not None
            group.hand(self.name, members[0].write_set.origin_seq,
                       [(m.write_set, m.encoded, m.level) for m in members],  # type: ignore[misc]
                       self.replicator, lambda outcome: self._decided(members, log, outcome))
            return
        if self._replicated():
            self._deciding = True
            batch = [(m.write_set, m.encoded, m.level) for m in members]
            assert members[0].write_set is not None
            self.replicator.decide(self.name, members[0].write_set.origin_seq, batch,  # type: ignore[arg-type]
                                   lambda outcome: self._decided(members, log, outcome))
            return
        self._commit_batch(members, log)

    def _replicated(self) -> bool:
        return self.replicator is not None and self.replicator.replicated()

    def replicated(self) -> bool:
        """Do this database's batches go through the cluster's rounds (other members)?"""
        return self._replicated()

    def _decided(self, members: list[_Member], log: LogWriter | None,
                 outcome: list[MarmotError | None] | MarmotError) -> None:
        """The batch's rounds ended: commit it, or keep only the members decided COMMIT."""
        self._deciding = False
        try:
            if self.closed:
                return
            if isinstance(outcome, MarmotError):  # the outcome is unknown here
                self._abandon(members, [outcome] * len(members))
            elif not any(outcome):
                self._commit_batch(members, log)
            else:
                self._abandon(members, outcome)
        finally:
            self._schedule_advance()

    def _abandon(self, members: list[_Member], outcome: list[MarmotError | None]) -> None:
        """Roll the batch back; re-apply the members decided COMMIT from their write sets
        (same rows, versions and log entries) and log an abort marker for the others, so
        this origin's sequence has no gap (txn/DESIGN.md §7.2)."""
        self.conn.execute("ROLLBACK")
        self._reload_schema_version()
        decided = [m for m, error in zip(members, outcome) if error is None]
        if any(isinstance(e, CommitOutcomeUnknown) for e in outcome):
            # unknown here: the instance's outcome arrives later, as a learn
            decided = []
        else:
            try:
                with self._trusted(), ApplyTransaction(
                        self.conn, [m.write_set for m in members if m.write_set]) as txn:
                    for member, error in zip(members, outcome):
                        assert member.write_set is not None
                        if error is None:
                            txn.apply(member.write_set, member.encoded)
                        else:
                            txn.apply(abort_marker(member.write_set))
            except (apsw.Error, MarmotError) as exc:  # decided COMMIT, not here: catch-up
                unknown = CommitOutcomeUnknown(f"the cluster committed the transaction but "
                                               f"this node could not ({exc})")
                outcome = [unknown if error is None else error for error in outcome]
                decided = []
            self._reload_schema_version()
        for member, error in zip(members, outcome):
            if error is not None:
                member.pending.fail(error)
        self._answer(decided)

    def _commit_batch(self, members: list[_Member], log: LogWriter | None) -> None:
        assert log is not None
        write_sets = [m.write_set for m in members if m.write_set is not None]
        if any(w.schema_changes for w in write_sets) or \
                sum(len(w.changes) for w in write_sets) >= COMMIT_OFF_LOOP_ROWS:
            self._commit_on_worker(members, log)
            return
        try:
            self._write_batch(log)
        except apsw.Error as exc:
            self._batch_committed(members, exc)
            return
        self._batch_committed(members, None)

    def _commit_on_worker(self, members: list[_Member], log: LogWriter) -> None:
        """A heavy batch: log record and COMMIT on a host worker, the pipeline busy meanwhile;
        there, once committed, its row changes are freed a slice at a time."""
        self._committing = True

        def work() -> None:
            self._write_batch(log)
            for member in members:  # committed: the log holds the rows from here on
                if member.write_set is not None:
                    _release_in_chunks(member.write_set.changes)

        def done(error: BaseException | None) -> None:
            self._committing = False
            if self.closed:  # closed meanwhile (shutdown): the COMMIT may have happened
                for member in members:
                    member.pending.fail(CommitOutcomeUnknown(
                        "the database was closed while the transaction was committing"))
                return
            self._batch_committed(members, error)
            self._schedule_advance()
        self._host.run_blocking(work, done)

    def _write_batch(self, log: LogWriter) -> None:
        with self._trusted():
            log.flush()
        self.fault_point("before_batch_commit")
        self.conn.execute("COMMIT")

    def _batch_committed(self, members: list[_Member], exc: BaseException | None) -> None:
        if exc is not None:
            if not isinstance(exc, apsw.Error):  # not SQLite's (a simulated crash): as if
                raise exc                         # it were raised here
            if not self.conn.get_autocommit():
                self.conn.execute("ROLLBACK")
            self._reload_schema_version()  # a DDL of the batch was rolled back with it
            failure = errors.from_sqlite(exc)
            if self._replicated():  # the cluster decided COMMIT; this node will catch up
                failure = CommitOutcomeUnknown(
                    f"the cluster committed the transaction but this node could not ({failure});"
                    " it may or may not be visible here yet")
            for member in members:
                member.pending.fail(failure)
            return
        self.batches += 1
        self.fault_point("after_batch_commit")
        self._answer(members)

    def _answer(self, members: list[_Member]) -> None:
        """Committed: answer once durable (after the WAL sync with durability "fsync")."""
        self.batched_txns += len(members)
        if self._syncer is not None:
            self._syncer.committed([(member.pending, member.value) for member in members])
            return
        for member in members:
            member.pending.resolve(member.value)

    def _reload_schema_version(self) -> None:
        with self._trusted():
            self.schema_version = int(self.conn.execute("PRAGMA user_version").fetchall()[0][0])
        self.capture.invalidate_schema()

    def fault_point(self, name: str) -> None:
        """One of FAULT_POINTS was reached: the simulator may crash the node here."""
        if self._fault is not None:
            self._fault(name)

    def flush_now(self) -> None:
        """Commit the open batch before something that must not run inside it (DROP, close),
        and make what is committed durable."""
        if self._owner is None and not self._busy:
            self._flush()
        if self._syncer is not None:
            self._syncer.drain()

    def close(self) -> None:
        """Roll back anything open (the batch was never answered) and close the connection."""
        self.closed = True
        self._fail_waiters(errors.error(errors.ER_BAD_DB_ERROR, f"Unknown database '{self.name}'"))
        for member in self._batch:
            closed = MarmotError("the database was closed before the commit")
            member.pending.fail(closed)
            if member.group is not None:  # the transaction's other branches abort with it
                member.group.break_(closed)
        self._batch.clear()
        if self._syncer is not None:
            self._syncer.close()
        if self._checkpointer is not None:
            spare = self._checkpointer.close()
            if spare is not None:
                spare.close()
        self.capture.close()
        self.conn.close()

    @property
    def _checkpointing(self) -> bool:
        return self._checkpointer is not None and self._checkpointer.in_flight

    @property
    def checkpoints(self) -> int:
        return self._checkpointer.checkpoints if self._checkpointer is not None else 0

    @property
    def wal_syncs(self) -> int:
        return self._syncer.syncs if self._syncer is not None else 0

    @property
    def idle(self) -> bool:
        return self._owner is None and not self._waiters and not self._batch
