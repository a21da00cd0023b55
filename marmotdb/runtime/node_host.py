"""NodeHost: one sans-I/O ``Node`` (node.py) hosted on the event loop with real time.

Theory of operation
-------------------
Every input into the node (a client's statement, a peer frame, a timer, a finished worker
job) goes through the host. The inputs of one event-loop iteration are wrapped in
``node.hold()`` ... ``node.release()`` (the release is a ``call_soon``): statements read from
several sockets in the same iteration all run before the commit pipelines flush, so their
commits share one SQLite transaction and one WAL sync — group commit without a timer. After
the release the host re-arms its one loop timer at ``node.next_deadline_ms()``.

Outputs are dispatched by type:

  Reply        -> the session's client (the MySQL connection that registered it)
  Offload      -> a read worker thread, ``max_execution_time`` enforced by interrupting its
                  SQLite connection; its rows stream to the client as they are read
                  (runtime/row_stream.py: a batch at a time, as the socket drains); the
                  outcome comes back with ``finish_offloaded``
  CloseSession -> that client's connection closes (KILL CONNECTION)
  SendFrame    -> the peer transport (``frames_out``)

Blocking pipeline work (WAL syncs, checkpoints) runs on a small pool of its own, never behind
long reads, and comes back with ``finish_blocking``. Long writes (an ``Offload`` of a
``WriteJob``) run on a writer pool of their own while their transaction holds the database's
turn; ``finish_offloaded`` commits them on the loop, and Python's cycle collector pauses while
any runs (runtime/collector_pause.py). Each pool admits a bounded number of jobs
(running + waiting); one more is refused with 1041 at once (DESIGN.md §9).

Time is one ``LoopClock.epoch`` clock, shared with the membership and the peer endpoint: the
node's timers, SWIM's deadlines and the hybrid logical clock all read it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Protocol

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.mysql.incident import internal_error
from marmotdb.node import CloseSession, Node, Offload, Reply, SendFrame
from marmotdb.sql.results import WriteJob
from marmotdb.runtime.collector_pause import CollectorPause
from marmotdb.runtime.peer_transport import DeadlineTimer, LoopClock

logger = logging.getLogger("marmotdb.mysql")
SYNC_THREADS = 2  # WAL syncs and checkpoints: at most one of each per database in flight
# Long writes (sql/write_weight.py) run on writer threads of their own, never behind long
# reads or WAL syncs; a database's writes are one at a time anyway (its turn), so a few
# threads serve several databases' long writes at once.
WRITE_THREADS = 2
# Admission: long statements waiting for a thread beyond these are refused at once (1041)
# rather than queued without bound behind a few very long ones.
LONG_READS_QUEUED_MAX = 64
LONG_WRITES_QUEUED_MAX = 16


class NodeClient(Protocol):
    """What a session's connection offers the host."""

    def on_reply(self, reply: Reply) -> None: ...

    def kill(self) -> None: ...

    def row_stream(self) -> Any:
        """Where an offloaded read sends its rows as it reads them (a ``RowSink``), or None
        to have them collected."""


class NodeHost:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, read_threads: int,
                 write_threads: int = WRITE_THREADS,
                 long_reads_queued_max: int = LONG_READS_QUEUED_MAX,
                 long_writes_queued_max: int = LONG_WRITES_QUEUED_MAX):
        self.loop = loop
        self.clock = LoopClock.epoch(loop)
        self.read_pool = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="read")
        self.write_pool = ThreadPoolExecutor(max_workers=write_threads,
                                             thread_name_prefix="write")
        # jobs a pool may hold, running or waiting; one more is refused (admission)
        self._admitted_max = {False: read_threads + long_reads_queued_max,
                              True: write_threads + long_writes_queued_max}
        self._in_flight = {False: 0, True: 0}
        self._collector_pause = CollectorPause()  # off while long writes run (its docstring)
        self.sync_pool = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="wal")
        self.clients: dict[int, NodeClient] = {}
        self.frames_out: Callable[[Any, bytes, bool], None] | None = None
        self._offloaded: dict[int, Any] = {}   # session id -> its read job on a worker
        self._close_after_job: set[int] = set()
        self._in_iteration = False
        self._closed = False
        self._node: Node | None = None
        self._timer: DeadlineTimer | None = None
        self._dispatch: dict[type, Callable[[Any], None]] = {
            Reply: self._reply, Offload: self._offload, CloseSession: self._close_client,
            SendFrame: self._send_frame}

    def build_node(self, data_dir: Any, **options: Any) -> Node:
        """The hosted node (``Node``'s arguments, less what the host provides)."""
        node = Node(data_dir, now_ms=self.clock.now_ms(), on_output=self.deliver,
                    blocking=self.run_blocking, on_internal_error=self._internal_error,
                    **options)
        node.state.host_runs_writes = True  # long writes leave the loop for the write pool
        node.state.hlc.lock = threading.Lock()  # their commit timestamps come from a thread
        node.state.keys_unfinished.lock = threading.Lock()  # and their key checks
        self._node = node
        self._timer = DeadlineTimer(self.clock, node.next_deadline_ms, self._on_timer)
        return node

    @property
    def node(self) -> Node:
        assert self._node is not None, "NodeHost.build_node first"
        return self._node

    # ------------------------------------------------------------------ inputs
    def begin(self) -> Node:
        """The node, held until the end of this loop iteration (see the module docstring)."""
        node = self.node
        if not self._in_iteration:
            self._in_iteration = True
            node.hold()
            self.loop.call_soon(self._end_iteration)
        return node

    def _end_iteration(self) -> None:
        self._in_iteration = False
        if self._closed:  # the node closed inside this iteration: its deferred work would
            return        # touch closed files (its stores flushed themselves at close)
        try:
            self.node.release()
        finally:
            self.arm()

    def arm(self) -> None:
        assert self._timer is not None
        if not self._closed:
            self._timer.arm()

    def _on_timer(self, now_ms: int) -> None:
        if not self._closed:
            self.begin().handle_timer(now_ms)

    def open_session(self, client: NodeClient, user: str, **options: Any) -> int:
        """A session for ``client``; raises MarmotError (unknown user, bad database)."""
        session_id = self.begin().open_session(user, now_ms=self.clock.now_ms(), **options)
        self.clients[session_id] = client
        return session_id

    def submit(self, session_id: int, request_id: int, sql: str) -> None:
        self.begin().submit(session_id, request_id, sql, now_ms=self.clock.now_ms())

    def submit_prepared(self, session_id: int, request_id: int, plan: Any,
                        values: list[Any]) -> None:
        self.begin().submit_prepared(session_id, request_id, plan, values,
                                     now_ms=self.clock.now_ms())

    def close_session(self, session_id: int) -> None:
        """The client went away: a read running on a worker is interrupted first."""
        self.clients.pop(session_id, None)
        if session_id in self._offloaded:
            self.node.session(session_id).interrupt()
            self._close_after_job.add(session_id)
            return
        self.begin().close_session(session_id, now_ms=self.clock.now_ms())

    def receive_frame(self, src: Any, frame: bytes, now_ms: int) -> None:
        self.begin().receive_frame(src, frame, now_ms=now_ms)

    # ------------------------------------------------------------------ outputs
    def deliver(self, output: Any) -> None:
        self._dispatch[type(output)](output)

    def _reply(self, reply: Reply) -> None:
        client = self.clients.get(reply.session_id)
        if client is not None:
            client.on_reply(reply)

    def _close_client(self, output: CloseSession) -> None:
        client = self.clients.get(output.session_id)
        if client is not None:
            client.kill()

    def _send_frame(self, output: SendFrame) -> None:
        if self.frames_out is not None:
            self.frames_out(output.dest, output.frame, output.reliable)

    def _offload(self, output: Offload) -> None:
        session = self.node.session(output.session_id)
        job = output.job
        write = isinstance(job, WriteJob)
        if self._in_flight[write] >= self._admitted_max[write]:
            self.loop.call_soon(self._refuse, output, write)
            return
        self._in_flight[write] += 1
        if write:
            self._collector_pause.hold()
        limit_ms = session.max_execution_time_ms()
        timer = self.loop.call_later(limit_ms / 1000, job.expire) if limit_ms > 0 else None
        session.command = "Query"
        self._offloaded[output.session_id] = job
        client = self.clients.get(output.session_id)
        sink = client.row_stream() if client is not None and not write else None
        future = self.loop.run_in_executor(self.write_pool if write else self.read_pool,
                                           job.run, sink)
        future.add_done_callback(lambda done: self._offload_done(output, done, timer, write))

    def _refuse(self, output: Offload, write: bool) -> None:
        """Too many long statements wait already: this one fails at once (never run)."""
        kind, limit = ("writes", "long_writes_queued_max") if write else \
            ("reads", "long_reads_queued_max")
        error = errors.error(errors.ER_OUT_OF_RESOURCES, f"Out of resources: too many long "
                             f"{kind} wait for a worker ({limit}); try again later")
        self.begin().finish_offloaded(output.session_id, output.request_id, error,
                                      now_ms=self.clock.now_ms(), job=output.job)

    def _offload_done(self, output: Offload, done: asyncio.Future[Any],
                      timer: asyncio.TimerHandle | None, write: bool) -> None:
        self._in_flight[write] -= 1
        if timer is not None:
            timer.cancel()
        session_id = output.session_id
        self._offloaded.pop(session_id, None)
        session = self.node.state.sessions.get(session_id)
        if session is not None:
            session.command = "Sleep"
        try:
            node = self.begin()
            node.finish_offloaded(session_id, output.request_id, _outcome(done),
                                  now_ms=self.clock.now_ms(), job=output.job)
            if session_id in self._close_after_job:
                self._close_after_job.discard(session_id)
                node.close_session(session_id, now_ms=self.clock.now_ms())
        finally:
            if write:  # after the node's flush (a call_soon of begin()): the batch is written
                self.loop.call_soon(self._collector_pause.release)

    def run_blocking(self, work: Callable[[], None],
                     done: Callable[[BaseException | None], None]) -> None:
        """``work`` on a sync worker; ``done(error or None)`` comes back as an input."""
        future: Future[None] = self.sync_pool.submit(work)
        future.add_done_callback(lambda f: self.loop.call_soon_threadsafe(
            self._blocking_done, done, f))

    def _blocking_done(self, done: Callable[[BaseException | None], None],
                       future: Future[None]) -> None:
        if self._closed:
            return
        error = RuntimeError("cancelled at shutdown") if future.cancelled() \
            else future.exception()
        self.begin().finish_blocking(done, error, now_ms=self.clock.now_ms())

    @staticmethod
    def _internal_error(session_id: int, exc: BaseException) -> MarmotError:
        return internal_error(logger, session_id, exc)

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """After the clients are gone: flush and close the node, stop the workers. Inputs
        that still arrive (a worker's completion, a timer) are dropped from here on."""
        if self._timer is not None:
            self._timer.cancel()
        self.read_pool.shutdown(wait=True, cancel_futures=True)
        self.write_pool.shutdown(wait=True, cancel_futures=True)
        if self._node is not None:
            self._node.close()
        self._closed = True
        self.sync_pool.shutdown(wait=True)


def _outcome(done: asyncio.Future[Any]) -> Any:
    if done.cancelled():
        return errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted")
    return done.exception() or done.result()
