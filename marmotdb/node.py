"""Node: one marmotdb node as a sans-I/O object (DESIGN.md §4.5).

Theory of operation
-------------------
A ``Node`` owns the SQL half of a node (``ServerState``: databases, commit pipelines, sessions)
and, optionally, its membership (a ``cluster.swim.SwimNode``, already sans-I/O). It never reads
a clock, opens a socket, starts a thread or draws global randomness: every input carries
``now_ms`` (epoch milliseconds from the host's clock, real or simulated) and every output is a
value handed to the host (aioquic's shape: inputs, outputs, ``next_deadline_ms``).

Inputs                                            Outputs (``take_outputs()`` or ``on_output``)
  open_session(user, now_ms=...) -> session id      Reply(session, request, result | error)
  submit(session, request, sql, now_ms=...)         Offload(session, request, job): a long read
  submit_prepared(session, request, plan, ...)        for a worker; answer with finish_offloaded
  finish_offloaded(session, request, outcome, ...)  CloseSession(session): KILL CONNECTION
  close_session(session, now_ms=...)                SendFrame(dest, frame, reliable): to a peer
  receive_frame(src, frame, now_ms=...)
  handle_timer(now_ms)                            next_deadline_ms() -> int | None

The node is the commit pipelines' ``txn.pipeline.Host``. ``defer`` appends to a queue that is
drained at the end of every input (or of ``with node.iteration():``, around inputs that arrive
in one event-loop iteration), so everything that arrives together, or is unblocked by it, runs
before the pipelines flush: those commits join one batch (group commit) without any timer.
``call_later`` timers (lock-wait timeouts, replies delayed by ``SLEEP()``) live in a heap
keyed by the node's ``now_ms``: the host's clock drives them, so the simulator's virtual time
and the runtime's real time are the same code path.

One request per session is in flight at a time (the MySQL protocol's rule); a statement that
must wait returns a ``txn.Pending`` inside the session and its ``Reply`` is emitted when it
resolves, from whatever input resolved it.

Hosts
-----
``runtime/node_host.py`` hosts one node on the event loop (real sockets, the loop's clock as
epoch milliseconds): the MySQL connections submit statements and get ``Reply`` outputs, long
reads run on read workers, ``run_blocking`` work (WAL syncs, checkpoints) on a small pool of
its own, SWIM frames leave through the peer transport, one loop timer follows
``next_deadline_ms()``, and the inputs of one loop iteration are held together so their
commits share a batch. ``sim/sql_world.py`` hosts nodes with a simulated clock and disk.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marmotdb import errors
from marmotdb.cluster.messages import MEMBERSHIP_CODES, MemberState
from marmotdb.peer.codec import FrameCodec, peek_tag
from marmotdb.peer.endpoint import NEVER_MS, PeerEndpoint
from marmotdb.errors import MarmotError
from marmotdb.mysql.client_text import shown
from marmotdb.sql.results import LongRead, Result, Rows
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import PreparedPlan, Session
from marmotdb.replication.catch_up import CATCH_UP_INTERVAL_MS, CatchUp
from marmotdb.replication.read_barrier import ReadBarrier
from marmotdb.replication.retention import LOG_RETENTION_MAX_HOURS, Retention
from marmotdb.replication.snapshot_transfer import SnapshotTransfers
from marmotdb.txn.cluster import ClusterCommit, CommitSettings, Peer
from marmotdb.txn.pending import Pending
from marmotdb.txn.txn_store import TxnStore
from marmotdb.txn.pipeline import run_deferred
from marmotdb.users import Users

DEFERRED_RUNS_MAX = 1_000_000  # callbacks one input may run; beyond it the node is livelocked
VERSION = "8.0.36-marmotdb"


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one request: ``result`` (``Ok``/``Rows``) or ``error``."""

    session_id: int
    request_id: int
    result: Result | None
    error: MarmotError | None
    status_flags: int  # SERVER_STATUS_IN_TRANS (1) / AUTOCOMMIT (2) / NO_BACKSLASH_ESCAPES (512)


@dataclass(frozen=True, slots=True)
class Offload:
    """A read past its in-loop budget: run ``job.run`` off the loop, then ``finish_offloaded``."""

    session_id: int
    request_id: int
    job: Any  # sql.results.ReadJob


@dataclass(frozen=True, slots=True)
class CloseSession:
    """KILL CONNECTION of this session: the host closes the client connection."""

    session_id: int


@dataclass(frozen=True, slots=True)
class SendFrame:
    dest: Any
    frame: bytes
    reliable: bool


Output = Reply | Offload | CloseSession | SendFrame


class _NodeTimer:
    __slots__ = ("due_ms", "callback", "cancelled")

    def __init__(self, due_ms: int, callback: Callable[[], None]):
        self.due_ms, self.callback, self.cancelled = due_ms, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class _Sleep:
    __slots__ = ("request_id", "outcome", "timer")

    def __init__(self, request_id: int, outcome: Result):
        self.request_id, self.outcome = request_id, outcome
        self.timer: Any = None


def _stopped_sleep(outcome: Result, expired: bool) -> Result | MarmotError:
    if isinstance(outcome, Rows) and len(outcome.rows) == 1 and len(outcome.columns) == 1 \
            and outcome.rows[0][0] == 0:  # SELECT SLEEP(n): MySQL answers 1, no error
        return Rows(outcome.columns, [(1,)], outcome.warnings)
    if expired:
        return errors.error(errors.ER_QUERY_TIMEOUT, "Query execution was interrupted, "
                            "maximum statement execution time exceeded")
    return errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted")


class _PeerFrames:
    """The ``cluster.transport.Transport`` a hosted SwimNode sends through: frames become
    ``SendFrame`` outputs."""

    def __init__(self, node: Node):
        self._node = node

    def send(self, dest: Any, frame: bytes, reliable: bool) -> None:
        self._node._emit(SendFrame(dest, frame, reliable))


class Node:
    def __init__(self, data_dir: Path, *, users: Users, node_id: int, now_ms: int,
                 rng: random.Random, version: str = VERSION,
                 fault: Callable[..., None] | None = None,
                 on_output: Callable[[Output], None] | None = None,
                 blocking: Callable[[Callable[[], None], Callable[[BaseException | None], None]],
                                    None] | None = None,
                 on_internal_error: Callable[[int, BaseException], MarmotError] | None = None,
                 state_options: dict[str, Any] | None = None):
        self.now_ms = now_ms
        self._queue: deque[Callable[[], None]] = deque()
        self._timers: list[tuple[int, int, _NodeTimer]] = []
        self._timer_seq = 0
        self._outputs: list[Output] = []
        self._on_output = on_output
        self._blocking = blocking
        self._on_internal_error = on_internal_error
        self._busy: set[int] = set()  # sessions with a request in flight
        self._sleeping: dict[int, _Sleep] = {}  # SLEEP(n): the answer held until its timer
        self._holding = 0             # inside iteration(): inputs do not drain yet
        self._next_session_id = 1
        self.membership: Any = None   # a cluster.swim.SwimNode, see attach_membership
        self.endpoint: PeerEndpoint | None = None  # txn traffic, see attach_cluster
        self.cluster: ClusterCommit | None = None
        self.catch_up: CatchUp | None = None
        self.snapshots: SnapshotTransfers | None = None
        self.retention: Retention | None = None
        self._data_dir = data_dir
        self._rng = rng
        self.peer_transport = _PeerFrames(self)
        self.internal_errors: list[BaseException] = []  # non-MySQL exceptions answered as 1105
        self.state = ServerState(data_dir, clock=self._clock_s, version=version, users=users,
                                 rng=rng, node_id=node_id, host=self, fault=fault,
                                 **(state_options or {}))
        self.state.kill_hook = self._killed

    # ------------------------------------------------------------------ Host (txn.pipeline)
    def defer(self, callback: Callable[[], None]) -> None:
        self._queue.append(callback)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> _NodeTimer:
        timer = _NodeTimer(self.now_ms + max(0, math.ceil(delay_s * 1000)), callback)
        self._timer_seq += 1
        heapq.heappush(self._timers, (timer.due_ms, self._timer_seq, timer))
        return timer

    def run_blocking(self, work: Callable[[], None],
                     done: Callable[[BaseException | None], None]) -> None:
        """Blocking work of the pipelines (WAL syncs, checkpoints). A host with threads passes
        ``blocking``: it runs ``work`` on a worker and hands ``done`` back as an input with
        ``finish_blocking``. Without it the node runs the work as deferred work, so a simulated
        run stays a pure function of its seed (the simulated disk decides what a sync keeps)."""
        if self._blocking is not None:
            self._blocking(work, done)
        else:
            run_deferred(self.defer, work, done)

    def finish_blocking(self, done: Callable[[BaseException | None], None],
                        error: BaseException | None, *, now_ms: int) -> None:
        """Input: the host finished a ``run_blocking`` work on a worker."""
        self._tick(now_ms)
        done(error)
        self._drain()

    def _clock_s(self) -> float:
        return self.now_ms / 1000

    # ------------------------------------------------------------------ sessions
    def open_session(self, user: str, *, now_ms: int, host: str = "localhost",
                     database: str | None = None, connection_id: int | None = None,
                     found_rows: bool = False, interactive: bool = False,
                     local_files: bool = False, multi_results: bool = True) -> int:
        """A session for ``user``; raises MarmotError (unknown user, bad database)."""
        self._tick(now_ms)
        record = self.state.users.get(user, host)  # the account matching the client's host
        if record is None:
            raise errors.error(errors.ER_ACCESS_DENIED_ERROR,
                               f"Access denied for user '{shown(user)}'")
        if connection_id is None:
            connection_id = self._next_session_id
        self._next_session_id = max(self._next_session_id, connection_id + 1)
        session = Session(self.state, record, connection_id, host=host)
        session.found_rows_flag = found_rows
        session.local_files_flag = local_files  # CLIENT_LOCAL_FILES (LOAD DATA LOCAL)
        session.multi_results_flag = multi_results  # CLIENT_MULTI_RESULTS (CALL's result sets)
        if interactive:  # CLIENT_INTERACTIVE: wait_timeout = @@global.interactive_timeout
            session.variables.start_interactive()
        try:
            if database:
                session.use(database)
        except MarmotError:
            session.close()
            raise
        return connection_id

    def session(self, session_id: int) -> Session:
        """For synchronous, non-waiting calls (prepare, status_flags, variables)."""
        return self.state.sessions[session_id]

    def submit(self, session_id: int, request_id: int, sql: str, *, now_ms: int) -> None:
        """Run one statement; its ``Reply`` is emitted now or when its wait ends."""
        self._request(session_id, request_id, now_ms, lambda s: s.execute(sql))

    def submit_prepared(self, session_id: int, request_id: int, plan: PreparedPlan,
                        values: list[Any], *, now_ms: int) -> None:
        self._request(session_id, request_id, now_ms,
                      lambda s: s.execute_prepared(plan, values))

    def finish_offloaded(self, session_id: int, request_id: int,
                         outcome: Result | BaseException, *, now_ms: int,
                         job: Any = None) -> None:
        """The host ran an ``Offload``'s job: ``outcome`` is its rows or its exception."""
        self._tick(now_ms)
        if job is not None:
            job.finish()
        resume = getattr(job, "resume", None)  # a long write: commit (or roll back) it here
        if resume is not None:
            self._request_outcome(session_id, request_id, lambda: resume(outcome))
        else:
            self._answer(session_id, request_id, outcome)
        self._drain()

    def _request_outcome(self, session_id: int, request_id: int,
                         run: Callable[[], Result | Pending]) -> None:
        """What ``run`` gives for a request in flight: answered now, later (a Pending), or
        handed to the host again (a LongRead)."""
        try:
            outcome: Result | Pending | BaseException = run()
        except LongRead as long_read:
            self._emit(Offload(session_id, request_id, long_read.job))
            return
        except Exception as exc:  # noqa: BLE001 - answered (MySQL error or 1105)
            outcome = exc
        if isinstance(outcome, Pending):
            outcome.add_done_callback(lambda done: self._settled(session_id, request_id, done))
        else:
            self._answer(session_id, request_id, outcome)

    def close_session(self, session_id: int, *, now_ms: int) -> None:
        """The client went away: its open transaction rolls back."""
        self._tick(now_ms)
        session = self.state.sessions.get(session_id)
        self._busy.discard(session_id)
        sleep = self._sleeping.pop(session_id, None)
        if sleep is not None:
            sleep.timer.cancel()
        if session is not None:
            try:
                session.close()
            except MarmotError:
                pass  # the rollback of a transaction nobody will see: nothing to answer
        self._drain()

    def _request(self, session_id: int, request_id: int, now_ms: int,
                 run: Callable[[Session], Result | Pending]) -> None:
        self._tick(now_ms)
        session = self.state.sessions.get(session_id)
        if session is None:
            raise KeyError(f"no session {session_id}")
        if session_id in self._busy:
            raise RuntimeError(f"session {session_id} already has a request in flight")
        self._busy.add(session_id)
        session.command = "Query"
        offloaded: LongRead | None = None
        try:
            outcome: Result | Pending | BaseException = run(session)
        except LongRead as long_read:
            offloaded = long_read
        except Exception as exc:  # noqa: BLE001 - answered (MySQL error or 1105)
            outcome = exc
        finally:
            session.command = "Sleep"
        if offloaded is not None:  # after "Sleep": the host marks it running on its worker
            self._emit(Offload(session_id, request_id, offloaded.job))
            self._drain()
            return
        if isinstance(outcome, Pending):
            outcome.add_done_callback(lambda done: self._settled(session_id, request_id, done))
        else:
            self._answer(session_id, request_id, outcome)
        self._drain()

    def _settled(self, session_id: int, request_id: int, done: Pending) -> None:
        try:
            outcome: Result | BaseException = done.result()
        except LongRead as long_read:  # a read that waited (a QUORUM read) and then ran long
            self._emit(Offload(session_id, request_id, long_read.job))
            return
        except Exception as exc:  # noqa: BLE001 - answered
            outcome = exc
        self._answer(session_id, request_id, outcome)

    def _answer(self, session_id: int, request_id: int, outcome: Result | BaseException
                ) -> None:
        session = self.state.sessions.get(session_id)
        if session is None or session_id not in self._busy:
            return  # closed while it waited: nobody to answer
        delay_s, session.sleep_requested_s = session.sleep_requested_s, 0.0
        if delay_s > 0 and not isinstance(outcome, BaseException):
            self._sleep(session, request_id, outcome, delay_s)
            return
        self._busy.discard(session_id)
        if isinstance(outcome, BaseException):
            error = outcome if isinstance(outcome, MarmotError) \
                else self._internal(session_id, outcome)
            self._emit(Reply(session_id, request_id, None, error, session.status_flags()))
        else:
            self._emit(Reply(session_id, request_id, outcome, None, session.status_flags()))

    def _sleep(self, session: Session, request_id: int, outcome: Result, delay_s: float
               ) -> None:
        """SLEEP(n): the answer waits on a node timer (nothing blocks). max_execution_time
        (a SELECT's) ends it early, as KILL QUERY does (``_wake``)."""
        session_id = session.connection_id
        limit_ms = session.max_execution_time_ms() if outcome.__class__ is Rows else 0
        expires = 0 < limit_ms < delay_s * 1000
        sleep = _Sleep(request_id, outcome)
        sleep.timer = self.call_later(limit_ms / 1000 if expires else delay_s,
                                      lambda: self._wake(session_id, expired=expires))
        self._sleeping[session_id] = sleep

    def _wake(self, session_id: int, *, stopped: bool = False, expired: bool = False) -> None:
        """A SLEEP's answer: on time, or early. MySQL: a statement that is only SLEEP() answers
        1 when stopped (no error); any other is stopped with 1317 (KILL QUERY) or 3024
        (max_execution_time)."""
        sleep = self._sleeping.pop(session_id, None)
        if sleep is None:
            return
        sleep.timer.cancel()
        outcome: Result | BaseException = sleep.outcome
        if stopped or expired:
            outcome = _stopped_sleep(sleep.outcome, expired)
        self._answer(session_id, sleep.request_id, outcome)

    def _internal(self, session_id: int, exc: BaseException) -> MarmotError:
        """A bug answered as 1105: the host logs it under an incident id (``on_internal_error``);
        without one (tests, the simulator) it is kept in ``internal_errors`` for the checks."""
        if self._on_internal_error is not None:
            return self._on_internal_error(session_id, exc)
        self.internal_errors.append(exc)
        return errors.error(errors.ER_UNKNOWN_ERROR, f"Internal error: {exc!r}")

    def _killed(self, session_id: int, query_only: bool) -> None:
        if query_only:
            self._wake(session_id, stopped=True)
        else:
            self._emit(CloseSession(session_id))

    # ------------------------------------------------------------------ peers and timers
    def attach_membership(self, swim: Any) -> None:
        """Host a ``SwimNode`` built with ``transport=node.peer_transport`` (None: detach)."""
        self.membership = swim

    def attach_cluster(self, codec: FrameCodec, roster: Callable[[], list[Peer]],
                       settings: CommitSettings | None = None,
                       catch_up_interval_ms: int = CATCH_UP_INTERVAL_MS,
                       log_trim_interval_ms: int = 0,
                       log_retention_max_hours: float = LOG_RETENTION_MAX_HOURS,
                       joined: Callable[[], bool] | None = None) -> ClusterCommit:
        """Join a cluster: a peer endpoint for the txn and replication messages (frames
        leave as ``SendFrame``), the distributed commit of every database's pipeline,
        catch-up from the peers' commit logs or their snapshots, and, when
        ``log_trim_interval_ms`` is set (the runtime: ``cluster.log_trim_interval_ms``), log
        trimming and tombstone collection. Without it logs are kept whole (the cluster
        simulator's checker reads every node's full log)."""
        self.endpoint = PeerEndpoint(codec, self.peer_transport, self._rng)
        store = TxnStore(self._data_dir, defer=self.defer, call_later=self.call_later)
        node_id = self.state.node_id
        cluster = ClusterCommit(node_id=node_id, state=self.state, endpoint=self.endpoint,
                                store=store, roster=roster, now_ms=lambda: self.now_ms,
                                settings=settings, joined=joined)
        self.state.replicator = self.cluster = cluster
        self.state.origin_seq_floor = lambda database: store.max_origin_seq(node_id, database)
        for pipeline in self.state.pipelines.values():
            pipeline.replicator = cluster
        self.snapshots = SnapshotTransfers(self.state, self.endpoint, node_id,
                                           lambda: self.now_ms, self.run_blocking,
                                           self._data_dir / "snapshots")
        self.catch_up = CatchUp(self.state, self.endpoint, node_id, roster,
                                lambda: self.now_ms, catch_up_interval_ms,
                                in_doubt=lambda: len(cluster.participant.undecided),
                                accepted=store.accepted_commits, snapshots=self.snapshots)
        if log_trim_interval_ms > 0:
            self.retention = Retention(self.state, self.catch_up, node_id, roster,
                                       lambda: self.now_ms, log_trim_interval_ms,
                                       log_retention_max_hours)
        self.state.replication_view = self.catch_up.node_view
        catch_up = self.catch_up
        self.state.catching_up = lambda: catch_up.catching_up
        barrier = ReadBarrier(self.catch_up, self.endpoint, node_id, roster,
                              lambda: self.now_ms, self.call_later)
        self.state.read_barrier = barrier

        def applied() -> None:  # after any outcome or catch-up page applied here
            cluster.participant.retry_deferred()
            cluster.participant.retry_schema_waits()
            barrier.check()
            self.state.database_records.reconcile()  # CREATE/DROP DATABASE (marmotdb/ddl/)
        cluster.participant.catch_up_from = self.catch_up.sync_with
        cluster.participant.on_applied = self.catch_up.on_applied = applied
        self.snapshots.on_restored = lambda database: applied()
        self.state.database_records.reconcile()  # a drop or create applied before a crash
        for name in self.state.databases.names():  # re-emits a crash left (ddl/DESIGN.md §11)
            self.state.reemits.look(name)
        return cluster

    def receive_frame(self, src: Any, frame: bytes, *, now_ms: int) -> None:
        self._tick(now_ms)
        if peek_tag(frame) in MEMBERSHIP_CODES:
            if self.membership is not None:
                self.membership.receive_frame(src, frame, now_ms)
        elif self.endpoint is not None:
            self.endpoint.receive_frame(src, frame, now_ms)
        self._drain()

    def next_deadline_ms(self) -> int | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        deadline = self._timers[0][0] if self._timers else None
        for other in (self.membership, self.endpoint):
            if other is not None:
                due_ms = other.next_deadline_ms()
                if due_ms < NEVER_MS:
                    deadline = due_ms if deadline is None else min(deadline, due_ms)
        return deadline

    def handle_timer(self, now_ms: int) -> None:
        self._tick(now_ms)
        while self._timers and self._timers[0][0] <= self.now_ms:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()
        for other in (self.membership, self.endpoint):
            if other is not None and other.next_deadline_ms() <= self.now_ms:
                other.handle_timer(self.now_ms)
        self._drain()

    # ------------------------------------------------------------------ outputs
    def take_outputs(self) -> list[Output]:
        outputs, self._outputs = self._outputs, []
        return outputs

    def _emit(self, output: Output) -> None:
        if self._on_output is not None:
            self._on_output(output)
        else:
            self._outputs.append(output)

    def _tick(self, now_ms: int) -> None:
        self.now_ms = max(self.now_ms, now_ms)  # timers never run backwards

    def hold(self) -> None:
        """Inputs from now to ``release`` arrive together (one event-loop iteration: several
        sockets readable at once): they all run before any deferred work, so their commits
        can share one batch."""
        self._holding += 1

    def release(self) -> None:
        self._holding -= 1
        self._drain()

    @contextmanager
    def iteration(self) -> Iterator[None]:
        """``hold`` ... ``release`` as a block. If the block raises, nothing deferred runs (a
        crash stops the node where it is)."""
        self.hold()
        try:
            yield
        except BaseException:
            self._holding -= 1
            raise
        self.release()

    def _drain(self) -> None:
        if self._holding:
            return
        runs = 0
        while self._queue:
            runs += 1
            if runs > DEFERRED_RUNS_MAX:
                raise RuntimeError("deferred callbacks never settle (livelock)")
            self._queue.popleft()()

    def close(self) -> None:
        """Orderly shutdown: sessions roll back, batched commits are flushed, files close."""
        for session_id in list(self.state.sessions):
            self.close_session(session_id, now_ms=self.now_ms)
        self._drain()
        if self.endpoint is not None:
            self.endpoint.close(self.now_ms)
        if self.catch_up is not None:
            self.catch_up.close()
        if self.retention is not None:
            self.retention.close()
        if self.snapshots is not None:
            self.snapshots.close()
        if self.cluster is not None:
            self.cluster.store.close()
        self.state.close()


_COUNTED_OUT = (MemberState.LEAVING, MemberState.REMOVED)
_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)


def swim_joined(swim: Any) -> bool:
    """Has a ``SwimNode`` got its membership from the cluster (not JOINING or REMOVED)?
    Not before it started: the node serves MySQL clients before its membership starts (a
    restarted node), and a COMMIT arriving then must get "still joining" (1047), not an
    internal error."""
    return swim.started and swim.state not in (MemberState.JOINING, MemberState.REMOVED)


def swim_roster(swim: Any) -> list[Peer]:
    """The members a ``SwimNode`` knows, as the distributed commit counts them. Before it
    started it knows only itself (as while JOINING): an empty roster would let a round that
    counts this node's own vote reach the "quorum" of nobody."""
    if not swim.started:
        return [Peer(swim.node_id, None, True)]
    return [Peer(m.node_id, None if m.node_id == swim.node_id else m.meta.peer_addr,
                 m.state in _LIVE)
            for m in swim.members_snapshot() if m.state not in _COUNTED_OUT]
