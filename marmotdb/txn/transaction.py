"""Transaction: one client transaction from its first statement to its decision.

Theory of operation
-------------------
A transaction reads on pinned snapshots (one pooled connection per database, opened by the
session) until it first writes. Its first write — or locking read — takes the database's turn
from the ``CommitPipeline`` and moves it to the write connection, inside a savepoint of its own
(``__marmot_txn``); the read snapshot of that database is dropped at that moment (InnoDB's rule:
writes see the latest committed rows). From then on every statement runs in a nested statement
savepoint with change-capture boundaries, so a failing statement undoes only itself, rows and
captured images alike. User savepoints are SQLite savepoints mirrored in the capture buffer.

COMMIT hands the captured rows (and DDL entries) to the pipeline, which records versions and the
log entry and returns a ``Pending`` resolved when the batch is durable; ROLLBACK rolls the
savepoint back. Either way the turn is given back at once. States and transitions below; a
transaction object is used once.

A transaction may write several databases (DESIGN.md §10.2): one *branch* per database, each
holding that database's turn with the transaction's savepoint on its write connection
(``branches``; ``pipeline`` is the one the running statement writes). A wait for another
branch's turn that would close a cycle of waits is refused at once with 1213
(``wait_for.closes_cycle``). COMMIT of several branches makes the first one's batch COMMIT the
decision: it carries the others' write sets as promises (``__marmot_pending_branch``), the
others are recorded once it is durable, and a crash in between is redone at the next start
(``branch_redo.py``). In a cluster the branches' batches are decided together instead, as
one instance of the distributed commit (``commit_group.py``): no promise, the decision is the
instance's.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.errors import CommitOutcomeUnknown, MarmotError, TransientError
from marmotdb.hlc import Timestamp
from marmotdb.ddl.replay_rewrite import replay_safe_all
from marmotdb.storage import reemit, schema_guard, versions
from marmotdb.storage.capture import ChangeCapture
from marmotdb.storage.writeset import SchemaChange
from marmotdb.txn.commit_group import CommitGroup
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.wal_sync import ER_ERROR_DURING_COMMIT
from marmotdb.storage.apply import apply
from marmotdb.storage.internal_tables import PENDING_BRANCHES
from marmotdb.storage.writeset import WriteSet
from marmotdb.txn.pipeline import (
    BRANCH_FAULT_POINT,
    TXN_SAVEPOINT,
    CommitPipeline,
    Draft,
    Mode,
    ReadView,
)
from marmotdb.txn.wait_for import closes_cycle

STATEMENT_SAVEPOINT = "__marmot_stmt"


def run_statement(conn: apsw.Connection, capture: ChangeCapture | None,
                  statement: Callable[[apsw.Connection], Any], nested: bool = True) -> Any:
    """Run one statement on ``conn`` atomically (``nested``: in a savepoint of its own; else
    the caller's savepoint makes it so): on failure its rows and captured images are gone."""
    if nested:
        conn.execute(f'SAVEPOINT "{STATEMENT_SAVEPOINT}"')
    if capture is not None:
        capture.statement_begin()
    try:
        result = statement(conn)
        if capture is not None:
            capture.statement_end(True)  # raises what the hook could not raise itself
    except BaseException:
        if capture is not None and capture.in_statement:
            capture.statement_end(False)
        if nested and not conn.get_autocommit():  # (an interrupted write: SQLite rolled
            conn.execute(f'ROLLBACK TO "{STATEMENT_SAVEPOINT}"')  # back everything already)
            conn.execute(f'RELEASE "{STATEMENT_SAVEPOINT}"')
        raise
    if nested:
        conn.execute(f'RELEASE "{STATEMENT_SAVEPOINT}"')
    return result


def begin_reading(conn: apsw.Connection, savepoints: list[str]) -> None:
    """Open a read transaction on ``conn`` with the transaction's user savepoints so far."""
    conn.execute("BEGIN")
    for name in savepoints:
        conn.execute(f'SAVEPOINT "sp_{name}"')


class TxnState(enum.Enum):
    IDLE = "idle"              # no write yet
    ACTIVE = "active"          # holds the turn, rows in its savepoint
    COMMITTING = "committing"  # in a batch, waiting for its COMMIT
    COMMITTED = "committed"
    ABORTED = "aborted"
    IN_DOUBT = "in doubt"      # distributed commit only: the decision could not be learned


_TRANSITIONS: dict[TxnState, frozenset[TxnState]] = {
    TxnState.IDLE: frozenset({TxnState.ACTIVE, TxnState.COMMITTED, TxnState.ABORTED}),
    TxnState.ACTIVE: frozenset({TxnState.COMMITTING, TxnState.COMMITTED, TxnState.ABORTED}),
    TxnState.COMMITTING: frozenset({TxnState.COMMITTED, TxnState.ABORTED, TxnState.IN_DOUBT}),
    TxnState.COMMITTED: frozenset(),
    TxnState.ABORTED: frozenset(),
    TxnState.IN_DOUBT: frozenset(),
}


class Transaction:
    __slots__ = ("owner", "explicit", "read_only", "state", "reads", "pipeline", "branches",
                 "savepoints", "txn_id", "schema_changes", "check_foreign_keys", "waiting_on",
                 "read_views", "catalog_before", "fill_bases")

    def __init__(self, owner: int, *, explicit: bool, read_only: bool = False):
        self.owner = owner                  # the session's connection id
        self.explicit = explicit            # BEGIN / autocommit=0, not one autocommit statement
        self.read_only = read_only
        self.state = TxnState.IDLE
        self.reads: dict[str, apsw.Connection] = {}  # pinned read snapshots, by database
        # the databases it writes, by name, the first written first (DESIGN.md §10.2: A);
        # ``pipeline`` is the one the running statement writes
        self.branches: dict[str, CommitPipeline] = {}
        self.pipeline: CommitPipeline | None = None
        self.savepoints: list[str] = []     # user savepoints, oldest first (lower-case)
        self.txn_id: Timestamp | None = None
        self.schema_changes: list[SchemaChange] = []
        self.check_foreign_keys = False
        self.waiting_on: CommitPipeline | None = None  # whose turn it waits for, if any
        # the read snapshot of each database it writes, from before its first write there
        # (kept to COMMIT: pipeline.ReadView); the session gives them back at the end
        self.read_views: dict[str, ReadView] = {}
        # the catalog before the DDL about to run (note_catalog): what it changes ships
        self.catalog_before: dict[schema_guard.CatalogKey, str] | None = None
        self.fill_bases = True  # False: a re-emit's rows carry no base version (Draft)

    def _transition_to(self, state: TxnState) -> None:
        if state not in _TRANSITIONS[self.state]:
            raise AssertionError(f"transaction {self.owner}: {self.state.name} -> {state.name}")
        self.state = state

    @property
    def finished(self) -> bool:
        return self.state in (TxnState.COMMITTED, TxnState.ABORTED, TxnState.IN_DOUBT)

    # ------------------------------------------------------------------ writing
    def begin_write(self, pipeline: CommitPipeline, mode: Mode, timeout_s: Callable[[], float],
                    alone: bool = False,
                    pipelines: Callable[[], Iterable[CommitPipeline]] | None = None
                    ) -> Pending | None:
        """Take ``pipeline``'s turn; None when this transaction may write now, else a Pending
        resolved when it may (or failed with 1205). ``alone``: only once the open batch is
        committed, as for an explicit transaction (a long write, DESIGN.md §9). A database
        written before is its branch again at once; a new one is another branch (§10.2),
        refused with 1213 when its wait would close a cycle among ``pipelines()``' turns."""
        if self.pipeline is pipeline:
            return None
        if self.branches.get(pipeline.name) is pipeline:
            self.pipeline = pipeline
            return None
        if self.read_only:
            raise errors.error(errors.ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
                               "Cannot execute statement in a READ ONLY transaction.")
        if self.branches:
            self._may_branch(pipeline, pipelines)
        waiting = pipeline.acquire(self.owner, mode, timeout_s=timeout_s,
                                   spans_round_trips=self.explicit or alone or
                                   bool(self.branches))
        if waiting is not None:
            self.waiting_on = pipeline
        return chain(waiting, lambda _: self._enter(pipeline))

    def _may_branch(self, pipeline: CommitPipeline,
                    pipelines: Callable[[], Iterable[CommitPipeline]] | None) -> None:
        """A second database: a wait that closes a cycle is a deadlock, refused at once."""
        if pipelines is not None and pipeline.owner not in (None, self.owner) and \
                closes_cycle(self.owner, pipeline, pipelines()):
            raise TransientError("Deadlock found when trying to get lock; try restarting "
                                 "transaction", code=errors.ER_LOCK_DEADLOCK, sqlstate="40001")

    def interrupt_wait(self) -> bool:
        """KILL QUERY while the statement waits for the turn: it fails with 1317, unrun (the
        transaction itself stays open, as in MySQL)."""
        pipeline, self.waiting_on = self.waiting_on, None
        return pipeline is not None and pipeline.cancel_wait(self.owner, errors.error(
            errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted"))

    def _enter(self, pipeline: CommitPipeline) -> None:
        """The turn is ours: open the transaction's savepoint on the write connection."""
        self.waiting_on = None
        if self.finished:  # rolled back while it waited (its client went away)
            pipeline.release(self.owner)
            raise errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted")
        conn = pipeline.conn
        conn.execute(f'SAVEPOINT "{TXN_SAVEPOINT}"')
        for name in self.savepoints:  # savepoints taken before the first write
            conn.execute(f'SAVEPOINT "sp_{name}"')
            pipeline.capture.savepoint(name)
        self.branches[pipeline.name] = pipeline
        self.pipeline = pipeline
        if self.txn_id is None:
            self.txn_id = pipeline.hlc.now()
        if self.state is TxnState.IDLE:
            self._transition_to(TxnState.ACTIVE)

    def run(self, statement: Callable[[apsw.Connection], Any], capture: bool = True) -> Any:
        """Run one statement on the write connection, atomically: on failure its rows and its
        captured images are gone and the transaction is as before it (an autocommit
        transaction must then be rolled back: it was that statement)."""
        pipeline = self.pipeline
        assert pipeline is not None and self.state is TxnState.ACTIVE
        # One statement of an autocommit transaction is the transaction: its own savepoint
        # (rolled back by ``rollback``) already makes it atomic.
        result = run_statement(pipeline.conn, pipeline.capture if capture else None, statement,
                               nested=self.explicit)
        pipeline.fault_point("statement_done")
        return result

    def add_schema_change(self, mysql: str, statements: list[str], params: dict[str, Any],
                          tables: tuple[str, ...] = ()) -> None:
        """Record a DDL that just ran (its SQLite ``statements``, touching ``tables``); the
        row versions of renamed and dropped tables follow it, here and on every replica."""
        pipeline = self.pipeline
        assert pipeline is not None
        with pipeline.trusted():
            following = versions.follow_schema_change(pipeline.conn, statements, tables)
            for statement in following:
                pipeline.conn.execute(statement)
            reemit.follow(pipeline.conn, statements)  # this node's obligations (node-local)
            objects = [] if self.catalog_before is None else schema_guard.changed_objects(
                self.catalog_before, schema_guard.catalog_objects(pipeline.conn))
        self.catalog_before = None
        self.schema_changes.append(SchemaChange(
            pipeline.capture.pending_rows(), mysql, replay_safe_all(statements) + following,
            params, objects))

    def note_catalog(self) -> None:
        """Before a DDL runs: remember the catalog, so its entry carries what the DDL changed
        (a replica that already shows it so skips the entry: storage/schema_guard.py)."""
        pipeline = self.pipeline
        assert pipeline is not None
        with pipeline.trusted():
            self.catalog_before = schema_guard.catalog_objects(pipeline.conn)

    # ------------------------------------------------------------------ savepoints
    def savepoint(self, name: str) -> None:
        if name in self.savepoints:  # MySQL: a savepoint of the same name replaces the old one
            self._each(f'RELEASE "sp_{name}"', lambda capture: capture.release(name))
            self.savepoints.remove(name)
        self.savepoints.append(name)
        self._each(f'SAVEPOINT "sp_{name}"', lambda capture: capture.savepoint(name))

    def rollback_to(self, name: str) -> None:
        self._require_savepoint(name)
        self._each(f'ROLLBACK TO "sp_{name}"', lambda capture: capture.rollback_to(name))
        del self.savepoints[self.savepoints.index(name) + 1:]

    def release(self, name: str) -> None:
        self._require_savepoint(name)
        self._each(f'RELEASE "sp_{name}"', lambda capture: capture.release(name))
        del self.savepoints[self.savepoints.index(name):]

    def _require_savepoint(self, name: str) -> None:
        if name not in self.savepoints:
            raise errors.error(errors.ER_SP_DOES_NOT_EXIST, f"SAVEPOINT {name} does not exist")

    def _each(self, statement: str, mirror: Callable[[Any], None]) -> None:
        for conn in self.reads.values():
            conn.execute(statement)
        for pipeline in self.branches.values():
            pipeline.conn.execute(statement)
            mirror(pipeline.capture)

    # ------------------------------------------------------------------ decision
    def commit(self, value: Any, level: str = "QUORUM") -> Pending | Any:
        """COMMIT: ``value`` (the client's answer) now, or a Pending of it once durable (and,
        in a cluster, decided at the write consistency ``level``: ONE, QUORUM or ALL)."""
        if len(self.branches) > 1:
            return self._commit_branches(level, value)
        pipeline = self.pipeline
        if pipeline is None:
            self._transition_to(TxnState.COMMITTED)
            return value
        try:
            recorded = self.record_commit(level)
        except BaseException:
            self.rollback()
            raise
        return self.finish_commit(recorded, level, value)

    def _draft(self, pipeline: CommitPipeline, level: str) -> Draft:
        assert self.txn_id is not None
        return Draft(self.txn_id, pipeline.capture.commit(), self.schema_changes,
                     self.check_foreign_keys, level,
                     self.read_views.get(pipeline.name) if self.read_views else None,
                     self.fill_bases)

    def record_commit(self, level: str) -> Any:
        """COMMIT's first half (``CommitPipeline.record``): may run on a writer thread while
        this transaction holds the turn (a long write, DESIGN.md §9). On failure the caller
        rolls back (``rollback``)."""
        pipeline = self.pipeline
        assert pipeline is not None
        return pipeline.record(self.owner, self._draft(pipeline, level))

    def finish_commit(self, recorded: Any, level: str, value: Any) -> Pending | Any:
        """COMMIT's second half, on the loop: into the batch, the turn given back."""
        pipeline = self.pipeline
        assert pipeline is not None
        try:
            outcome = pipeline.join(self.owner, recorded, level, TXN_SAVEPOINT, value)
        except BaseException:
            self._undo(pipeline)
            self._transition_to(TxnState.ABORTED)
            pipeline.release(self.owner)
            raise
        finally:  # in its batch (or undone): no longer a branch to roll back
            self.branches.pop(pipeline.name, None)
        try:
            if not isinstance(outcome, Pending):
                self._transition_to(TxnState.COMMITTED)
                return outcome
            self._transition_to(TxnState.COMMITTING)
            outcome.add_done_callback(self._decided)
            pipeline.fault_point("joined_batch")  # in the batch: nothing of it may be undone
            return outcome
        finally:
            pipeline.release(self.owner)

    def _decided(self, pending: Pending) -> None:
        try:
            pending.result()
        except BaseException:  # noqa: BLE001 - the client gets it through the Pending
            self._transition_to(TxnState.ABORTED)
            return
        self._transition_to(TxnState.COMMITTED)

    # ------------------------------------------------------------------ two databases
    def _commit_branches(self, level: str, value: Any) -> Pending | Any:
        """COMMIT of a transaction that wrote several databases, on one node (DESIGN.md
        §10.2 step 3): (a) the other branches' write sets built, not logged; (b) the first
        branch A recorded with the promise to finish them (``__marmot_pending_branch``);
        (c) A joins its batch, whose COMMIT is the decision; then (d) or (e)."""
        try:  # a failure before the branches join leaves none of them open, no turn held
            written = self._written_branches(level)
            group = len(written) > 1 and any(pipeline.replicated() for pipeline, _ in written)
        except BaseException:
            self.rollback()
            raise
        if len(written) < 2:  # one database changed after all: the ordinary commit
            if not written:
                self._transition_to(TxnState.COMMITTED)
                return value
            (first, draft), = written
            self.pipeline = first
            try:
                recorded = first.record(self.owner, draft)
            except BaseException:
                self.rollback()
                raise
            return self.finish_commit(recorded, level, value)
        if group:
            return self._commit_group(written, level, value)
        (first, draft), others = written[0], written[1:]
        try:
            built = [(pipeline, pipeline.build(self.owner, d)) for pipeline, d in others]
            recorded = first.record_built(self.owner, first.build(self.owner, draft), [
                (pipeline.name, encoded) for pipeline, (_, encoded) in built])
            outcome = first.join(self.owner, recorded, level, TXN_SAVEPOINT, value)
        except BaseException:
            self.rollback()
            raise
        del self.branches[first.name]  # released into its batch: nothing of it to undo
        first.release(self.owner)
        self._transition_to(TxnState.COMMITTING)
        answer = Pending()
        outcome.add_done_callback(lambda decided: self._first_decided(
            decided, first, built, level, value, answer))
        first.fault_point("joined_batch")
        return answer

    def _commit_group(self, written: list[tuple[CommitPipeline, Draft]], level: str,
                      value: Any) -> Pending:
        """COMMIT of several branches in a cluster (DESIGN.md §10.2, "In a cluster"): each
        recorded in its own savepoint (a refusal of any, such as the snapshot check of §7.2,
        rolls them all back), then all joined to their batches with one ``CommitGroup``,
        whose single instance decides them together; the client is answered once every
        branch's batch holds the outcome."""
        try:
            recorded = [(pipeline, pipeline.record(self.owner, draft))
                        for pipeline, draft in written]
        except BaseException:
            self.rollback()
            raise
        group = CommitGroup([pipeline.name for pipeline, _ in written])
        joined: list[Pending] = []
        for pipeline, one in recorded:
            try:
                outcome = pipeline.join(self.owner, one, level, TXN_SAVEPOINT, value, group)
            except BaseException as exc:  # the branches joined so far are decided aborted
                group.break_(exc if isinstance(exc, MarmotError) else MarmotError(str(exc)))
                self.rollback()  # the branches not joined (this one too)
                raise
            del self.branches[pipeline.name]  # in its batch: nothing of it to undo
            pipeline.release(self.owner)
            joined.append(outcome)
        self._transition_to(TxnState.COMMITTING)
        answer = Pending()

        def one_done(_: Pending) -> None:
            if answer.done() or not all(pending.done() for pending in joined):
                return
            failures = [pending.error() for pending in joined]
            failure = next((error for error in failures if error is not None), None)
            if failure is None:
                self._transition_to(TxnState.COMMITTED)
                answer.resolve(value)
                return
            self._transition_to(TxnState.IN_DOUBT if None in failures or isinstance(
                failure, CommitOutcomeUnknown) else TxnState.ABORTED)
            answer.fail(failure)
        for pending in joined:
            pending.add_done_callback(one_done)
        for pipeline, _ in written:
            pipeline.fault_point("joined_batch")
        return answer

    def _written_branches(self, level: str) -> list[tuple[CommitPipeline, Draft]]:
        """The branches with rows to commit, A first; the others' savepoints are released
        (nothing in them) and their turns given back."""
        written = []
        for pipeline in list(self.branches.values()):
            draft = self._draft(pipeline, level)
            if draft.changes or draft.schema_changes:
                written.append((pipeline, draft))
                continue
            del self.branches[pipeline.name]
            try:
                pipeline.join(self.owner, None, level, TXN_SAVEPOINT, None)
            finally:
                pipeline.release(self.owner)
        return written

    def _first_decided(self, decided: Pending, first: CommitPipeline,
                       built: list[tuple[CommitPipeline, tuple[WriteSet, bytes]]], level: str,
                       value: Any, answer: Pending) -> None:
        """A's batch COMMIT returned: (e) it failed, so nothing of the transaction is
        anywhere; (d) it is durable, so every other branch is finished, and the client is
        answered once they all hold it (1180 if one cannot: it will at the next start).
        A COMMIT whose WAL sync failed (1180: committed, durability unknown) is (d) too: A's
        readers see the transaction and a restart would redo the other branches; the client
        gets that 1180."""
        error = decided.error()
        if error is not None and getattr(error, "code", None) != ER_ERROR_DURING_COMMIT:
            self.rollback()
            answer.fail(error)
            return
        finishing = [self._finish_branch(pipeline, one, level, value) for pipeline, one in built]
        left = [len(finishing)]

        def one_done(done: Pending) -> None:
            left[0] -= 1
            if answer.done() or (done.error() is None and left[0]):
                return
            failure = done.error() or error
            if failure is not None:
                self._transition_to(TxnState.IN_DOUBT)
                answer.fail(failure)
                return
            self._transition_to(TxnState.COMMITTED)
            answer.resolve(value)
            self._forget_promises(first)
        for pending in finishing:
            pending.add_done_callback(one_done)

    def _finish_branch(self, pipeline: CommitPipeline, built: tuple[WriteSet, bytes],
                       level: str, value: Any) -> Pending:
        """Step d for one branch B: its write set recorded in its savepoint and joined to
        its batch; if that or B's batch COMMIT fails, the branch is redone from the write
        set (step 4's redo, on the spot)."""
        pipeline.fault_point(BRANCH_FAULT_POINT)
        joined: Any = None
        del self.branches[pipeline.name]
        if not pipeline.closed:  # (closed: the node is shutting down; the next start redoes)
            try:
                pipeline.record_built(self.owner, built)
                joined = pipeline.join(self.owner, built, level, TXN_SAVEPOINT, value)
            except (apsw.Error, MarmotError):
                self._undo(pipeline)
            finally:
                pipeline.release(self.owner)
        outcome = Pending()

        def redo_if_failed(done: Pending | None) -> None:
            if done is not None and done.error() is None:
                outcome.resolve(value)
                return
            redone = _redo_branch(pipeline, built)
            redone.add_done_callback(lambda again: outcome.resolve(value)
                                     if again.error() is None else outcome.fail(
                                         CommitOutcomeUnknown(
                                             "the transaction committed in its first database "
                                             f"but not yet in `{pipeline.name}` "
                                             f"({again.error()}); it will be at the next "
                                             "start")))
        if isinstance(joined, Pending):
            joined.add_done_callback(redo_if_failed)
        else:
            redo_if_failed(None)
        return outcome

    def _forget_promises(self, first: CommitPipeline) -> None:
        """Every branch holds the transaction: A's promises are deleted by an internal write
        of A (a failure only leaves them to the next start's redo, which finds them done)."""
        assert self.txn_id is not None
        packed = self.txn_id.pack()
        try:
            first.run_exclusive(lambda conn: conn.execute(
                f"DELETE FROM {PENDING_BRANCHES} WHERE txn_id = ?", (packed,)))
        except MarmotError:  # the database was dropped meanwhile: nothing left to forget
            pass

    def rollback(self) -> None:
        if self.state in (TxnState.ACTIVE, TxnState.COMMITTING):
            for pipeline in list(self.branches.values()):
                try:
                    self._undo(pipeline)
                finally:
                    pipeline.release(self.owner)
            self.branches.clear()
        if not self.finished:
            self._transition_to(TxnState.ABORTED)

    def _undo(self, pipeline: CommitPipeline) -> None:
        pipeline.capture.rollback()
        conn = pipeline.conn
        if not conn.get_autocommit():
            conn.execute(f'ROLLBACK TO "{TXN_SAVEPOINT}"')
            conn.execute(f'RELEASE "{TXN_SAVEPOINT}"')
            pipeline.unrecord(self.owner)


def _redo_branch(pipeline: CommitPipeline, built: tuple[WriteSet, bytes]) -> Pending:
    """A branch whose first database committed, applied from its write set alone on its
    write connection (row images, versions, its log record: what a replica does)."""
    write_set, encoded = built
    try:
        return pipeline.redo_first(lambda conn: apply(conn, write_set, encoded))
    except MarmotError as exc:
        failed = Pending()
        failed.fail(exc)
        return failed
