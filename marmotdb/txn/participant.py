"""Participant: a node's side of other coordinators' batches (txn/DESIGN.md §7.2).

* ``Prepare`` → a vote per write set: YES unless a row carries another instance's intent it
  was not built on, a row's base version is older than the version committed here, the
  write set was built against another schema version, or it is a DDL and a write built on
  the schema it replaces that are not ordered (one prepared or applied here the DDL's
  ``ordered_after`` misses, or a DDL prepared here that the write was built before:
  ddl/DESIGN.md §11). The batch's write sets (all of them:
  a member decided COMMIT at level ONE must be applied here even if this node voted NO) are
  recorded in the txn store and the YES members' rows marked as intents *before* the answer
  leaves; the node's HLC moves past every commit timestamp it saw.
* ``Accept`` → the acceptor's phase 2b, recorded before the answer.
* ``Learn`` → the committed members are applied to the database (one SQLite transaction on
  its write connection, through the commit pipeline's ``run_exclusive``), an abort marker is
  logged for each aborted one, then the intents are released and the record forgotten.

A learn whose write sets this node never saw (it was down at prepare time) is left to
catch-up (DESIGN §4.3).

An instance holding several databases' batches (a transaction that wrote two databases,
txn/DESIGN.md §10.2) is voted on per database, its intents marked in each, and its outcome
applied on each database's write connection; it is forgotten once every part is applied
(``spanning`` names its databases until then).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import apsw

from marmotdb.errors import ClockOffsetError
from marmotdb.peer.endpoint import IncomingRequest
from marmotdb.storage import commitlog, versions
from marmotdb.storage.apply import ApplyTransaction
from marmotdb.storage.writeset import WriteSet, abort_marker, decode_write_set
from marmotdb.txn.intents import Intents
from marmotdb.txn.messages import (
    Accept,
    Accepted,
    Ballot,
    Learn,
    Learned,
    Prepare,
    Promised,
    Recover,
    Vote,
    Votes,
)
from marmotdb.txn.txn_store import Instance, TxnStore

if TYPE_CHECKING:
    from marmotdb.sql.server_state import ServerState

logger = logging.getLogger("marmotdb.txn")
# Two passes over the outcomes waiting for their bases that found none to apply are at least
# this far apart: a node applying a steady stream of others' outcomes while thousands wait
# for catch-up would otherwise scan them all after every one.
RETRY_IDLE_GAP_MS = 50


class Participant:
    def __init__(self, state: ServerState, store: TxnStore, intents: Intents,
                 reply: Callable[[IncomingRequest, Any], None], now_ms: Callable[[], int],
                 schema_wait_ms: int = 0):
        self._state = state
        # a Prepare built on a schema version not here yet waits this long for catch-up to
        # bring the DDL it lacks before it votes (0: votes SCHEMA at once)
        self._schema_wait_ms = schema_wait_ms
        self.catch_up_from: Callable[[int], None] = lambda node_id: None  # set by the node
        self._schema_waits: dict[Instance, _SchemaWait] = {}
        self._now_ms = now_ms
        self._store = store
        self._intents = intents
        self._reply = reply
        self.undecided: dict[Instance, int] = {}  # instance -> since when (ms), until applied
        # the write sets of each Prepare recorded here, decoded, until its outcome is learned:
        # the outcome is applied without reading them back from the store and decoding again
        self._prepared: dict[Instance, list[WriteSet]] = {}
        # the databases of each undecided instance holding several databases' batches (a
        # transaction writing two databases, txn/DESIGN.md §10.2); others hold instance[1]'s
        self.spanning: dict[Instance, frozenset[str]] = {}
        self.on_applied: Callable[[], None] | None = None  # after each outcome applied
        # outcomes waiting for a transaction they were built on (versions.lacks_bases)
        self._deferred: dict[Instance, tuple[list[bytes], list[bool], Callable[[bool], None],
                                             list[WriteSet]]] = {}
        self._retrying: set[Instance] = set()  # deferred outcomes a retry pass is applying
        # outcomes whose apply is in flight (queued for, or running in, their databases' write
        # turns) -> the answers of learns of them that arrived meanwhile: applied once, and
        # not recovered again while they wait (a turn held by an open transaction)
        self._applying: dict[Instance, list[Callable[[bool], None]]] = {}
        self._retry_wanted = False  # something was applied since the last pass
        self._idle_pass_ms: int | None = None  # when the last pass found nothing to apply
        self._retry_timer: Any = None

    # ------------------------------------------------------------------ prepare
    def on_prepare(self, request: IncomingRequest, now_ms: int) -> None:
        message: Prepare = request.message  # type: ignore[assignment]
        instance = (message.coordinator, message.database, message.batch)
        if instance in self._schema_waits:  # a duplicated frame: the first one waits
            return
        write_sets = [decode_write_set(ws) for ws in message.write_sets]
        needed = self._schema_lacked(write_sets)
        if needed is not None and self._schema_wait_ms > 0 and \
                self._store.decided(instance) is None:
            self._wait_for_schema(request, instance, write_sets, needed)
            return
        self._prepare(request, instance, write_sets, now_ms)

    def _prepare(self, request: IncomingRequest, instance: Instance, write_sets: list[WriteSet],
                 now_ms: int) -> None:
        message: Prepare = request.message  # type: ignore[assignment]
        decided = self._store.decided(instance)
        if decided is not None:  # overtaken by its own outcome (a late or duplicated frame,
            clock = self._state.hlc.now()  # or learned while it waited for its schema):
            self._reply(request, Votes([Vote.YES if c else Vote.UNAVAILABLE for c in decided],
                                       clock.wall_ms, clock.logical))
            return  # nothing to record, no row to mark
        votes = self.vote(instance, write_sets)
        hlc = self._state.hlc
        for i, write_set in enumerate(write_sets):
            try:
                hlc.update(write_set.commit_ts)
            except ClockOffsetError:  # its coordinator's clock runs too far ahead of ours:
                votes[i] = Vote.CLOCK  # its versions would outrun every write made here
                self._state.status[_NO_VOTE_STATUS[Vote.CLOCK]] += 1
        spans = self.note_spans(instance, write_sets)
        self._store.record_write_sets(instance, message.write_sets, message.one, spans)
        self.undecided.setdefault(instance, now_ms)
        self._prepared.setdefault(instance, write_sets)
        for database in self.spanning[instance] if spans else (instance[1],):
            self._state.peer_write_prepared(database)  # a long DDL of it here stops (ddl/)
        for write_set, vote in zip(write_sets, votes):
            if vote == Vote.YES:
                self._intents.mark(instance, write_set)
        clock = hlc.now()
        answer = Votes(votes, clock.wall_ms, clock.logical)
        self._store.durable(lambda: self._reply(request, answer))

    def note_spans(self, instance: Instance, write_sets: list[WriteSet]
                   ) -> list[tuple[str, int]] | None:
        """An instance holding several databases' batches (DESIGN.md §10.2): its databases
        noted (``spanning``) and the (database, origin sequence) of each member returned, for
        the txn store; None for an instance of one database."""
        database = instance[1]
        for write_set in write_sets:
            if write_set.database != database:
                break
        else:
            return None
        self.spanning[instance] = frozenset(ws.database for ws in write_sets)
        return [(ws.database, ws.origin_seq) for ws in write_sets]

    def vote(self, instance: Instance, write_sets: list[WriteSet]) -> list[int]:
        """One ``Vote`` per write set; no side effect (a coordinator votes for itself too).
        An instance of several databases: each database's write sets voted on as a batch of
        their own (schema versions and rows are per database)."""
        if not write_sets:
            return []
        database = write_sets[0].database
        for write_set in write_sets:
            if write_set.database != database:
                return self._vote_across(instance, write_sets)
        try:
            conn = self._committed_view(database)
        except Exception:  # noqa: BLE001 - no such database here and it cannot be made
            logger.exception("cannot vote on %s", instance)
            return [Vote.UNAVAILABLE] * len(write_sets)
        votes = []
        with self._state.binding(conn).trusted_scope():  # internal tables
            current = _schema_version(conn)
            for write_set in write_sets:
                expected = current + 1 if write_set.schema_changes else current
                vote = self._vote_one(instance, write_set, conn, expected)
                if vote == Vote.YES:
                    current = write_set.schema_version
                else:  # SHOW GLOBAL STATUS LIKE 'Marmot_votes_no%': why writes conflict
                    self._state.status[_NO_VOTE_STATUS[vote]] += 1
                votes.append(vote)
        return votes

    def _vote_across(self, instance: Instance, write_sets: list[WriteSet]) -> list[int]:
        """The votes of an instance of several databases: each database's write sets voted
        on as a batch of their own."""
        by_database: dict[str, list[int]] = {}
        for i, write_set in enumerate(write_sets):
            by_database.setdefault(write_set.database, []).append(i)
        votes = [Vote.UNAVAILABLE] * len(write_sets)
        for indexes in by_database.values():
            for i, vote in zip(indexes, self.vote(instance, [write_sets[i] for i in indexes])):
                votes[i] = vote
        return votes

    def _vote_one(self, instance: Instance, write_set: WriteSet, conn: apsw.Connection,
                  expected_schema_version: int) -> int:
        if write_set.schema_version != expected_schema_version:
            return Vote.SCHEMA
        if self._intents.schema_conflicts(instance, write_set):
            return Vote.SCHEMA  # a DDL prepared here comes first: run again on its schema
        if write_set.ordered_after is not None and (
                self._intents.unordered_before(instance, write_set)
                or commitlog.logged_beyond(conn, write_set.ordered_after)):
            return Vote.SCHEMA  # a write the DDL is not ordered after: it came first
        if self._intents.conflicts(instance, write_set):
            return Vote.INTENT
        if versions.stale_changes(conn, write_set):
            return Vote.STALE
        return Vote.YES

    def outcomes_awaited(self, database: str, within_ms: int) -> bool:
        """Is a write set of ``database`` prepared here less than ``within_ms`` ago still
        unapplied here (its outcome not learned yet, or learned and waiting for its bases)?
        Older ones are in doubt, left to recovery. A DDL waits for these before it runs,
        and a long one stops if one is here when it gets the turn (ddl/DESIGN.md §11,
        "Settling"); nothing else does."""
        since_ms = self._now_ms() - within_ms
        return any(self._holds(instance, database) for instance in self._deferred) or any(
            prepared_ms >= since_ms and self._holds(instance, database)
            for instance, prepared_ms in self.undecided.items())

    def _holds(self, instance: Instance, database: str) -> bool:
        """Does the instance hold a batch of ``database``?"""
        return instance[1] == database or database in self.spanning.get(instance, ())

    # ------------------------------------------------------------------ schema catch-up
    def _schema_lacked(self, write_sets: list[WriteSet]) -> int | None:
        """The schema version the batch was built on, if this node has not reached it yet
        (it missed a DDL: down, cut off, or the DDL's learn is still on its way); in an
        instance of several databases, the first such version of any of them."""
        seen: dict[str, bool] = {}
        for first in write_sets:  # the first write set of each database
            database = first.database
            if database in seen:
                continue
            seen[database] = True
            built_on = first.schema_version - (1 if first.schema_changes else 0)
            try:
                conn = self._committed_view(database)
                with self._state.binding(conn).trusted_scope():
                    here = _schema_version(conn)
            except Exception:  # noqa: BLE001 - vote() reports it (UNAVAILABLE)
                continue
            if built_on > here:
                return built_on
        return None

    def _wait_for_schema(self, request: IncomingRequest, instance: Instance,
                         write_sets: list[WriteSet], needed: int) -> None:
        """Pull the DDL this node lacks from the coordinator (which has it: it built the batch
        on it) and vote once it is applied, or when ``schema_wait_ms`` ran out (SCHEMA)."""
        self._state.status["Marmot_schema_waits"] += 1
        timer = self._state.host.call_later(self._schema_wait_ms / 1000,
                                            lambda: self._schema_wait_over(instance))
        self._schema_waits[instance] = _SchemaWait(request, write_sets, needed, timer)
        self.catch_up_from(instance[0])

    def retry_schema_waits(self) -> None:
        """After anything was applied here: vote on the batches whose schema is here now."""
        for instance, wait in list(self._schema_waits.items()):
            if self._schema_lacked(wait.write_sets) is None:
                wait.timer.cancel()
                self._schema_wait_over(instance)

    def _schema_wait_over(self, instance: Instance) -> None:
        wait = self._schema_waits.get(instance)
        if wait is None:
            return
        self._prepare(wait.request, instance, wait.write_sets, self._now_ms())
        del self._schema_waits[instance]  # after: a prepare re-sent meanwhile did not wait

    def _committed_view(self, database: str) -> apsw.Connection:
        """A connection that reads what is committed here (the look-up connection)."""
        state = self._state
        if not state.databases.exists(database):  # its first write set creates it here
            state.databases.create(database, if_not_exists=True)
        return state.read_connection(state.databases.get(database))

    def retry_deferred(self) -> None:
        """After anything was applied here: apply the outcomes that waited for it and whose
        bases are here now (checked on the look-up connection, so an outcome still waiting
        costs no write turn and no SQLite transaction).

        One pass at a time, over the waiting outcomes in commit order: an outcome whose
        bases an earlier one of the same pass writes goes too (``versions.note_written``;
        the pipeline applies them in that order), so a chain of outcomes built on each other
        is applied in one pass, not one link per pass. While a pass's outcomes are being
        applied, the next pass waits for them all. (A pass after each applied outcome, each
        over every waiting one and launching only the next link of each chain, was
        quadratic: a node restarted with 2,000 outcomes waiting held its loop for tens of
        seconds at a time, its peers declared it dead, and it did not converge — issue 16
        finding 5.) Passes that find nothing to apply are ``RETRY_IDLE_GAP_MS`` apart: the
        outcomes of others' writes, applied one after the other, share one."""
        self._retry_wanted = True
        if self._retrying or self._retry_timer is not None:
            return
        if self._idle_pass_ms is not None:  # passes that find nothing: RETRY_IDLE_GAP_MS apart
            wait_ms = self._idle_pass_ms + RETRY_IDLE_GAP_MS - self._now_ms()
            if wait_ms > 0:
                self._retry_timer = self._state.host.call_later(wait_ms / 1000,
                                                                self._retry_later)
                return
        self._retry_pass()

    def _retry_later(self) -> None:
        self._retry_timer = None
        if self._retry_wanted and not self._retrying:
            self._retry_pass()

    def _retry_pass(self) -> None:
        self._retry_wanted = False
        self._idle_pass_ms = None
        by_database: dict[str, list[Instance]] = {}
        for instance in sorted(self._deferred,
                               key=lambda i: _first_commit(self._deferred[i][3])):
            by_database.setdefault(instance[1], []).append(instance)
        for database, instances in by_database.items():
            for instance in self._ready(database, instances):
                encoded, vector, answer, decoded = self._deferred.pop(instance)
                self._retrying.add(instance)
                try:
                    self.apply_outcome(instance, encoded, vector, answer, decoded)
                except Exception:  # noqa: BLE001 - its database is gone (closed, dropped)
                    self._retrying.discard(instance)
                    logger.exception("applying %s failed", instance)
        if self._deferred and not self._retrying:
            self._idle_pass_ms = self._now_ms()

    def _ready(self, database: str, instances: list[Instance]) -> list[Instance]:
        """The waiting outcomes of ``database`` (given in commit order) whose bases are here
        or written by one before them in the list."""
        written: dict[Any, Any] = {}
        ready = []
        try:
            conn = self._committed_view(database)
            with self._state.binding(conn).trusted_scope():  # internal tables
                for instance in instances:
                    _, vector, _, decoded = self._deferred[instance]
                    if instance in self.spanning:  # several databases: each checked on its own
                        if self._ready_across(decoded, vector):
                            ready.append(instance)
                        continue
                    committed = [ws for ws, commit in zip(decoded, vector) if commit
                                 and not commitlog.is_applied(conn, ws.origin, ws.origin_seq)]
                    if not any(versions.lacks_bases(conn, ws, written=written) for ws in committed):
                        ready.append(instance)
                        for write_set in committed:
                            versions.note_written(written, write_set)
        except Exception:  # noqa: BLE001 - the apply itself will tell (and log)
            return instances
        return ready

    def _ready_across(self, decoded: list[WriteSet], vector: list[bool]) -> bool:
        """Are the bases of every committed member of an instance of several databases here
        (each read in its own database)?"""
        for write_set, commit in zip(decoded, vector):
            if not commit:
                continue
            conn = self._committed_view(write_set.database)
            with self._state.binding(conn).trusted_scope():
                if not commitlog.is_applied(conn, write_set.origin, write_set.origin_seq) and \
                        versions.lacks_bases(conn, write_set):
                    return False
        return True

    def _retry_settled(self, instance: Instance) -> None:
        """A retried outcome was applied, failed, or waits again: once every outcome of its
        pass is settled, the next pass, if anything was applied meanwhile."""
        self._retrying.discard(instance)
        if not self._retrying and self._retry_wanted:
            self._retry_pass()

    def waits_for_bases(self, instance: Instance) -> bool:
        """Is the instance's outcome known here, its apply waiting for what it was built on?
        (Decided: recovering it again would only cost every peer a round.)"""
        return instance in self._deferred

    def being_applied(self, instance: Instance) -> bool:
        """Is the instance's outcome known here and its apply in flight (waiting for its
        databases' write turns)? Decided too: a round would only queue the same apply again."""
        return instance in self._applying

    def waiting_for_bases(self, limit: int) -> list[tuple[Instance, str]]:
        """Up to ``limit`` outcomes waiting for their bases, each with what it waits for
        (the operator's answer to "why is this node behind")."""
        found = []
        for instance, (_, vector, _, decoded) in list(self._deferred.items())[:limit]:
            try:
                why = next((missing for ws, commit in zip(decoded, vector) if commit and
                            (missing := self._missing_base(ws))), "nothing now")
            except Exception as exc:  # noqa: BLE001 - a report, never a failure
                why = f"unknown ({type(exc).__name__}: {exc})"
            found.append((instance, why))
        return found

    def _missing_base(self, write_set: WriteSet) -> str | None:
        conn = self._committed_view(write_set.database)
        with self._state.binding(conn).trusted_scope():  # internal tables
            return versions.describe_missing_base(conn, write_set)

    # ------------------------------------------------------------------ recovery
    def on_recover(self, request: IncomingRequest, now_ms: int) -> None:
        message: Recover = request.message  # type: ignore[assignment]
        instance = (message.coordinator, message.database, message.batch)
        answer = self.promise(instance, tuple(message.ballot))  # type: ignore[arg-type]
        self._store.durable(lambda: self._reply(request, answer))

    def promise(self, instance: Instance, ballot: Ballot) -> Promised:
        ok, promised, accepted, vector = self._store.promise(instance, ballot)
        encoded, one = self._store.write_sets(instance)
        return Promised(ok, promised, accepted, vector, one if encoded else None)

    # ------------------------------------------------------------------ accept
    def on_accept(self, request: IncomingRequest, now_ms: int) -> None:
        message: Accept = request.message  # type: ignore[assignment]
        instance = (message.coordinator, message.database, message.batch)
        promised = self._store.accept(instance, tuple(message.ballot), message.vector)  # type: ignore[arg-type]
        answer = Accepted(promised is None, promised or tuple(message.ballot))
        self._store.durable(lambda: self._reply(request, answer))

    def accept(self, instance: Instance, ballot: Ballot, vector: list[bool]) -> bool:
        """This node's own acceptance (a recovery it runs)."""
        return self._store.accept(instance, ballot, vector) is None

    # ------------------------------------------------------------------ learn
    def on_learn(self, src: Any, message: Learn, now_ms: int) -> None:
        self._learn(message, lambda ok: None)

    def on_learn_request(self, request: IncomingRequest, now_ms: int) -> None:
        """A batch with DDL: its coordinator answers its client once we applied it, so a
        statement sent here next finds the new schema."""
        self._learn(request.message, lambda ok: self._reply(request, Learned(ok)))  # type: ignore[arg-type]

    def _learn(self, message: Learn, answer: Callable[[bool], None]) -> None:
        instance = (message.coordinator, message.database, message.batch)
        if self._store.decided(instance) is not None:
            self._prepared.pop(instance, None)
            answer(True)  # applied here already (a duplicate or a late recovery's learn)
            return
        waiting = self._applying.get(instance)
        if waiting is not None:  # its apply is in flight: this learn is answered with it
            waiting.append(answer)
            return
        encoded, _ = self._store.write_sets(instance)
        decoded = self._prepared.pop(instance, None)
        if len(encoded) != len(message.vector):  # its Prepare never reached us: the decision
            logger.info("learned %s without its write sets: left to catch-up", instance)
            self._intents.release(instance)          # stands, catch-up brings the rows
            self._store.forget(instance, message.vector, self._now_ms())
            self.undecided.pop(instance, None)
            self.spanning.pop(instance, None)
            answer(False)
            return
        self.apply_outcome(instance, encoded, message.vector, answer, decoded)

    def apply_outcome(self, instance: Instance, encoded: list[bytes], vector: list[bool],
                      answer: Callable[[bool], None] = lambda ok: None,
                      decoded: list[WriteSet] | None = None) -> None:
        """Apply the committed members, log markers for the others, then forget."""
        if decoded is None or len(decoded) != len(encoded):
            decoded = [decode_write_set(ws) for ws in encoded]
        self._applying.setdefault(instance, [])
        try:
            if instance in self.spanning:  # several databases' batches (DESIGN.md §10.2)
                self._apply_across(instance, encoded, vector, answer, decoded)
            else:
                self._apply_one(instance, encoded, vector, answer, decoded)
        except BaseException:  # not started (its database is gone): a later learn tries again
            self._with_waiting(instance, lambda ok: None)(False)
            raise

    def _apply_one(self, instance: Instance, encoded: list[bytes], vector: list[bool],
                   answer: Callable[[bool], None], decoded: list[WriteSet]) -> None:
        state = self._state
        pipeline = state.pipeline(state.databases.get(instance[1]))
        items = list(zip(decoded, encoded, vector))
        schema = any(ws.schema_changes for ws in decoded)

        def done(pending: Any) -> None:
            try:
                self._settle(instance, encoded, vector, answer, decoded, [pending], schema)
            finally:
                if instance in self._retrying:
                    self._retry_settled(instance)
        self._apply_part(instance, pipeline, items, schema).add_done_callback(done)

    def _apply_across(self, instance: Instance, encoded: list[bytes], vector: list[bool],
                      answer: Callable[[bool], None], decoded: list[WriteSet]) -> None:
        """An outcome of several databases' batches: each database's part applied on its own
        write connection, the instance forgotten only once every part is (a node stopped in
        between keeps the record: its next start applies the rest, skipping the parts each
        commit log already holds)."""
        state = self._state
        parts: dict[str, list[tuple[WriteSet, bytes, bool]]] = {}
        for item in zip(decoded, encoded, vector):
            parts.setdefault(item[0].database, []).append(item)
        pipelines = [(state.pipeline(state.databases.get(database)), part)
                     for database, part in parts.items()]  # (all found before any runs)
        schema = any(ws.schema_changes for ws in decoded)

        def done(_: Any) -> None:
            if not all(pending.done() for pending in pendings):
                return
            try:
                self._settle(instance, encoded, vector, answer, decoded, pendings, schema)
            finally:
                if instance in self._retrying:
                    self._retry_settled(instance)
        pendings = [self._apply_part(instance, pipeline, part, schema)
                    for pipeline, part in pipelines]
        for pending in pendings:
            pending.add_done_callback(done)

    def _settle(self, instance: Instance, encoded: list[bytes], vector: list[bool],
                answer: Callable[[bool], None], decoded: list[WriteSet],
                pendings: list[Any], schema: bool) -> None:
        """The outcome's applies ended (``pendings``: one per database)."""
        answer = self._with_waiting(instance, answer)
        failed = None
        for error in [pending.error() for pending in pendings]:
            if error.__class__ is _BaseMissing:  # applied once what it was built on is
                self._deferred[instance] = (encoded, vector, answer, decoded)  # (retry_deferred)
                return
            failed = failed or error
        if failed is not None:  # the record stays: applied again on restart
            self._intents.release(instance)
            logger.error("applying %s failed", instance, exc_info=failed)
            answer(False)
            return
        state = self._state
        # counted here, on the loop: the applies may have run on a worker
        state.status["Marmot_rows_skipped_schema"] += sum(p.result() for p in pendings)
        self._intents.release(instance)
        self._store.forget(instance, vector, self._now_ms())
        self.undecided.pop(instance, None)
        if self.spanning:
            self.spanning.pop(instance, None)
        if schema:
            state.schema_changed(state.databases.get(instance[1]))
        if self.on_applied is not None:
            self.on_applied()
        answer(True)

    def _with_waiting(self, instance: Instance, answer: Callable[[bool], None]
                      ) -> Callable[[bool], None]:
        """``answer`` and those of the learns that arrived while the apply was in flight."""
        waiting = self._applying.pop(instance, None)
        if not waiting:
            return answer

        def every(ok: bool) -> None:
            answer(ok)
            for then in waiting:
                then(ok)
        return every

    def _apply_part(self, instance: Instance, pipeline: Any,
                    items: list[tuple[WriteSet, bytes, bool]], schema: bool) -> Any:
        """One database's members of an outcome, in one SQLite transaction on its write
        connection: a Pending of it."""
        state = self._state

        def work(conn: apsw.Connection) -> int:
            with ApplyTransaction(conn, [ws for ws, _, _ in items], state.node_id) as txn:
                for write_set, ws, commit in items:
                    if not commit:
                        txn.apply(abort_marker(write_set))
                    elif txn.log.is_applied(write_set.origin, write_set.origin_seq):
                        continue  # catch-up applied it meanwhile: its bases may be gone since
                    elif versions.lacks_bases(conn, write_set, txn.log):
                        raise _BaseMissing(instance)  # rolls the whole outcome back
                    else:  # decided: its versions are ours now, even from a fast clock
                        state.hlc.witness(write_set.commit_ts)
                        txn.apply(write_set, ws)
            return txn.rows_skipped_schema  # counted on the loop (settle): may be a worker

        # a DDL may rebuild or index a big table: it runs on a host worker, not the loop
        exclusive = pipeline.run_exclusive_blocking if schema else pipeline.run_exclusive
        return exclusive(work)


def _first_commit(decoded: list[WriteSet]) -> Any:
    return decoded[0].commit_ts if decoded else ()


class _SchemaWait(NamedTuple):
    request: IncomingRequest
    write_sets: list[WriteSet]
    needed: int  # the schema version the batch was built on
    timer: Any


class _BaseMissing(Exception):
    """A committed write set of the outcome was built on a version not applied here yet."""


_NO_VOTE_STATUS = {Vote.INTENT: "Marmot_votes_no_intent", Vote.STALE: "Marmot_votes_no_stale",
                   Vote.SCHEMA: "Marmot_votes_no_schema", Vote.CLOCK: "Marmot_votes_no_clock",
                   Vote.UNAVAILABLE: "Marmot_votes_no_unavailable"}


def _schema_version(conn: apsw.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchall()[0][0])
