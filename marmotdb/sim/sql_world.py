"""SQL crash world: one production ``Node`` on a simulated disk, N clients, one crash, a restart.

Theory of operation
-------------------
A run is a pure function of its seed (and an optional forced ``CrashPlan``):

1. ``plan``: the seed draws the durability ("normal"/"fsync"), the clients and their
   transactions, knobs the simulator shrinks to reach rare paths (batch size, WAL
   auto-checkpoint) and the crash: a pipeline fault point (``txn.pipeline.FAULT_POINTS``) at its
   n-th occurrence, ``BRANCH_FAULT_POINT`` (between a two-database transaction's COMMITs) at
   one of its first, or the disk's k-th write/sync/truncate; process crash or power loss; or
   disk errors the node survives (``ioerr``: failed batch COMMITs), optionally followed by a
   crash a few calls later. ``CrashPlan.parse`` reads the same spec from ``--crash``.
2. ``setup``: a client creates the database and tables through the node (so the DDL is in the
   commit log like any transaction); the crash is armed after it.
3. ``workload``: one event queue ordered by (virtual ms, sequence) delivers client statements
   to the node, replies to clients after a think time, and the node's timers at
   ``next_deadline_ms``; the events of one millisecond are one event-loop iteration of the
   node (``Node.iteration``: simultaneous commits share a batch). Clients may vanish with a
   statement in flight. The node is the production ``marmotdb.node.Node``; its pipeline
   ``fault`` hook records which transaction joins which batch (the node's commit order) and
   crashes the machine at the planned point. A workload that ends before the crash point
   is killed at the end.
4. ``crash``: ``MachineCrashed`` unwinds the node at that instruction; replies emitted after it
   are dropped; ``SimDisk.bury`` closes the dead node's connections through the crashed VFS
   and applies power loss. The node object is discarded without any cleanup.
5. ``restart``: a new ``Node`` opens the same files; ``sql_invariants`` checks them; one more
   write proves the node still works and continues the origin sequence.

The trace hash covers every statement, outcome, batch join and the crash point: two runs of
one seed print the same hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from marmotdb.errors import MarmotError
from marmotdb.node import Node, Offload, Output, Reply
from marmotdb.sim.sql_disk import MachineCrashed, SimDisk
from marmotdb.sim.sql_invariants import SqlViolation
from marmotdb.sim.sql_workloads import DATABASE, SETUP, Client, Outcome, TxnRecord
from marmotdb.txn.pipeline import BRANCH_FAULT_POINT, FAULT_POINTS, CommitPipeline
from marmotdb.users import User, Users

NODE_ID = 1
EPOCH_MS = 1_700_000_000_000
EVENTS_MAX = 200_000
SCENARIO = "sql-crash"
IN_FLIGHT_DISCONNECT_P = 0.03  # a client vanishes while its statement waits (per statement)


@dataclasses.dataclass(frozen=True)
class CrashPlan:
    """Where the machine dies: ``point`` in FAULT_POINTS at its ``occurrence``-th call, or
    ``point == "io"`` at the disk's ``occurrence``-th write/sync/truncate after setup; or
    ``point == "ioerr"``: that call and the next ``fails - 1`` fail (disk full / EIO), the
    node lives on and is killed at the end of the workload."""

    point: str
    occurrence: int
    mode: str = "process"  # or "power"
    fails: int = 1         # ioerr: how many consecutive calls fail ...
    then_crash: int | None = None  # ... and the machine dies this many calls after them

    def describe(self) -> str:
        fails = f"x{self.fails}" if self.point == "ioerr" else ""
        if self.point == "ioerr" and self.then_crash is not None:
            fails += f"+{self.then_crash}"
        return f"{self.point}#{self.occurrence}{fails}/{self.mode}"

    @staticmethod
    def parse(text: str) -> CrashPlan:
        """``point#n``, ``point#n/power``, ``ioerr#nxf``, ``ioerr#nxf+c`` (--crash)."""
        spec, _, mode = text.partition("/")
        point, _, occurrence = spec.partition("#")
        if point not in ("io", "ioerr", BRANCH_FAULT_POINT) and point not in FAULT_POINTS:
            raise ValueError(f"unknown crash point {point!r}")
        occurrence, _, fails = (occurrence or "1").partition("x")
        fails, _, then = fails.partition("+")
        return CrashPlan(point, int(occurrence), mode or "process", int(fails or 1),
                         int(then) if then else None)


def scratch_dir() -> str | None:
    """RAM-backed when the machine has it: the simulated disk never needs the real one, and a
    virtual disk's page-cache writeback costs more than the whole simulation."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


class SqlRun:
    def __init__(self, seed: int, crash: CrashPlan | None = None, data_dir: Path | None = None):
        self.seed = seed
        rng = self.rng = random.Random(f"{seed}:{SCENARIO}:plan")
        self.durability = rng.choice(["normal", "fsync"])
        self.batch_txns_max = rng.choice([2, 4, 16, 256])
        self.autocheckpoint = rng.choice([None, 4, 16, 100])
        clients = rng.choice([2, 3, 4, 5, 6, 12])  # 12: long queues, big group commits
        txns = rng.randint(5, 25)
        explicit_p = rng.choice([0.55, 0.55, 0.1])  # 0.1: autocommit storms, big batches
        drawn = self._draw_crash(rng)
        self.crash_plan = crash or drawn
        if self.crash_plan.point == "ioerr":
            # No auto-checkpoints: their I/O errors are ignored by SQLite, but APSW re-raises
            # a Python VFS's exception from the COMMIT that ran the checkpoint (sql_disk.py).
            self.autocheckpoint = 0
        self.forced = crash
        self.clients = [Client(i, random.Random(f"{seed}:{SCENARIO}:client:{i}"), txns,
                               explicit_p) for i in range(clients)]
        self._own_dir = data_dir is None
        self.root = Path(tempfile.mkdtemp(prefix="marmot-sql-sim-", dir=scratch_dir())) \
            if data_dir is None else data_dir
        self.disk = SimDisk(self.root / "node", random.Random(f"{seed}:{SCENARIO}:disk"),
                            mode=self.crash_plan.mode,
                            wal_autocheckpoint_pages=self.autocheckpoint)
        self.disk.root.mkdir(parents=True, exist_ok=True)
        self.users = Users([User("root", "x", {"*": "admin"})])
        self.now_ms = EPOCH_MS
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._timer_token = 0
        self.trace = hashlib.sha256()
        self.records: list[TxnRecord] = []        # every transaction, setup first
        self.commit_order: list[TxnRecord] = []   # joined a batch, in the node's order
        self.batch_ids = 0                         # batches opened (ids of the sim's own)
        self.committed_batches: set[int] = set()   # batches whose COMMIT returned
        self._points: dict[str, int] = {}
        self._armed = False
        self.node: Node | None = None
        self.by_session: dict[int, Client] = {}
        self.session_record: dict[int, TxnRecord] = {}  # the transaction a session runs
        self.chaos = random.Random(f"{seed}:{SCENARIO}:chaos")  # in-flight disconnects
        self._request = 0
        self._in_group = False
        self.setup_client = Client(-1, random.Random(0), 0)
        self.committed_count = 0
        self.spanning_count = 0  # of those, transactions of both databases
        self.branches_redone = 0  # second branches the restart finished
        self.in_batch_commit = False  # between before_batch_commit and after_batch_commit
        self.crash_phase = "-"

    @staticmethod
    def _draw_crash(rng: random.Random) -> CrashPlan:
        mode = "power" if rng.random() < 0.3 else "process"
        roll = rng.random()
        if roll < 0.08:  # a transaction of two databases: its first branch committed
            return CrashPlan(BRANCH_FAULT_POINT, rng.randint(1, 4), mode)
        if roll < 0.45:
            return CrashPlan(rng.choice(FAULT_POINTS), rng.randint(1, 30), mode)
        if roll < 0.85:
            return CrashPlan("io", rng.randint(1, 400), mode)
        then = rng.choice([None, rng.randint(1, 40)])
        return CrashPlan("ioerr", rng.randint(1, 300), mode, rng.choice([1, 1, 2, 5]), then)

    def describe(self) -> str:
        return (f"durability={self.durability} clients={len(self.clients)} "
                f"batch_max={self.batch_txns_max} ckpt={self.autocheckpoint} "
                f"crash={self.crash_plan.describe()}")

    # ------------------------------------------------------------------ events
    def at(self, when_ms: int, action: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when_ms, self._seq, action, args))

    def _note(self, *parts: Any) -> None:
        self.trace.update(("|".join(str(p) for p in (self.now_ms - EPOCH_MS, *parts))
                           + "\n").encode())

    def _start_node(self, route_outputs: bool = True) -> Node:
        node = Node(self.disk.root, users=self.users, node_id=NODE_ID, now_ms=self.now_ms,
                    rng=random.Random(f"{self.seed}:{SCENARIO}:node"),
                    fault=self._fault if route_outputs else None,
                    on_output=self._output if route_outputs else None,
                    state_options={"durability": self.durability,
                                   "batch_txns_max": self.batch_txns_max,
                                   "wal_sync": self.disk.sync_file})
        self.node = node
        return node

    def _fault(self, point: str, database: str) -> None:
        if self.disk.crashed:
            # Still running after the crash instant: an exception handler on the way out
            # swallowed MachineCrashed (see the report on Transaction.commit). A dead process
            # runs nothing: stop it at the next step, and record nothing it does.
            raise MachineCrashed(f"{point} after the crash")
        node = self.node
        assert node is not None
        if point in ("before_batch_commit", "after_batch_commit"):
            self.in_batch_commit = point == "before_batch_commit"
        if point == "after_batch_commit" and database == DATABASE:
            self.committed_batches.add(self.batch_ids)
        self._maybe_crash(point)
        if point == "recorded" and database == DATABASE:
            self._joining(node.state.pipelines[DATABASE])

    def _maybe_crash(self, point: str) -> None:
        if not self._armed:
            return
        count = self._points[point] = self._points.get(point, 0) + 1
        plan = self.crash_plan
        if plan.point == point and count == plan.occurrence:
            self.disk.crash(f"{point}#{count}")
            raise MachineCrashed(f"{point}#{count}")

    def _joining(self, pipeline: CommitPipeline) -> None:
        """The turn's owner joins DATABASE's batch now (``CommitPipeline.join``, past its
        "recorded" point, appends it with nothing more that can fail): the node's commit
        order. The owner still holds the turn here, unlike at "joined_batch", which a
        transaction of two databases reaches after giving its first branch's turn back."""
        record = self.session_record.get(pipeline.owner or -1)
        assert record is not None, "a transaction joined a batch without a client"
        record.joined_index = len(self.commit_order)
        if not pipeline._batch:  # the first member of a new batch
            self.batch_ids += 1
        record.batch = self.batch_ids
        self.commit_order.append(record)
        self._note("joined", record.tag, record.batch)

    def _output(self, output: Output) -> None:
        if self.disk.crashed:
            return  # the process is dead: nothing it "sends" leaves the machine
        if isinstance(output, Reply):
            client = self.by_session.get(output.session_id)
            if client is not None:
                self.at(self.now_ms + 1, self._deliver, client, output)
        elif isinstance(output, Offload):
            self.at(self.now_ms + 1, self._offloaded, output)

    def _offloaded(self, output: Offload) -> None:
        try:
            outcome: Any = output.job.run()
        except MarmotError as exc:
            outcome = exc
        self._input(lambda node: node.finish_offloaded(
            output.session_id, output.request_id, outcome, now_ms=self.now_ms, job=output.job))

    def _input(self, call: Callable[[Node], None]) -> None:
        """One input to the node; a crash inside it ends the node's life."""
        node = self.node
        if node is None or self.disk.crashed:
            return
        if self._in_group:  # the group's own input handles the crash and the timer
            call(node)
            return
        try:
            call(node)
        except MachineCrashed:
            pass
        if self.disk.crashed:
            self._note("crash", self.disk.crash_point)
            self.crash_phase = "in-batch-commit" if self.in_batch_commit else "running"
            self.node = None
            return
        if node.internal_errors:
            raise SqlViolation("internal-error", f"the node answered 1105: "
                               f"{node.internal_errors[0]!r}")
        self._arm_timer(node)

    def _arm_timer(self, node: Node) -> None:
        deadline = node.next_deadline_ms()
        if deadline is not None:
            self._timer_token += 1
            self.at(max(deadline, self.now_ms), self._timer, self._timer_token)

    def _timer(self, token: int) -> None:
        if token == self._timer_token:
            self._input(lambda node: node.handle_timer(self.now_ms))

    # ------------------------------------------------------------------ clients
    def _open(self, client: Client) -> None:
        node = self.node
        assert node is not None
        session_id = node.open_session("root", now_ms=self.now_ms)
        client.session_id = session_id
        self.by_session[session_id] = client

    def _send(self, client: Client) -> None:
        if self.node is None:
            return
        sql = client.next_statement()
        if sql is None:
            record = client.next_transaction()
            if record is None:
                return
            self.records.append(record)
            sql = client.next_statement()
            assert sql is not None
        if sql == "DISCONNECT":
            self._disconnect(client)
            return
        self._request += 1
        session_id, request_id = client.session_id, self._request
        assert session_id is not None
        self._note("send", client.index, sql)
        assert client.current is not None
        self.session_record[session_id] = client.current
        client.pending_request = request_id
        self._input(lambda node: node.submit(session_id, request_id, sql, now_ms=self.now_ms))
        if self.chaos.random() < IN_FLIGHT_DISCONNECT_P:
            self.at(self.now_ms + self.chaos.randint(0, 2000), self._cut, client, request_id)

    def _cut(self, client: Client, request_id: int) -> None:
        """The client goes away while its statement is in flight (waiting for the turn or for
        its batch): whatever it handed to a batch may still commit."""
        if self.node is None or client.pending_request != request_id:
            return
        record = client.current
        assert record is not None and client.session_id is not None
        record.end = "disconnected"
        client.current, client.pending_request = None, None
        session_id = client.session_id
        self._note("cut", client.index)
        self.by_session.pop(session_id, None)
        self._input(lambda node: node.close_session(session_id, now_ms=self.now_ms))
        self._input(lambda node: self._reopen(client))

    def _disconnect(self, client: Client) -> None:
        record = client.current
        assert record is not None and client.session_id is not None
        record.outcomes.append(None)
        record.end = "abandoned"
        client.current = None
        session_id = client.session_id
        self._note("disconnect", client.index)
        self._input(lambda node: node.close_session(session_id, now_ms=self.now_ms))
        if self.node is None:
            return
        self.by_session.pop(session_id, None)
        self._input(lambda node: self._reopen(client))

    def _reopen(self, client: Client) -> None:
        self._open(client)
        self._configure(client)

    def _configure(self, client: Client) -> None:
        node = self.node
        assert node is not None and client.session_id is not None
        session = node.session(client.session_id)
        session.use(DATABASE)
        session.variables.set("innodb_lock_wait_timeout", client.lock_wait_timeout_s)
        self.at(self.now_ms + client.think_ms(), self._send, client)

    def _deliver(self, client: Client, reply: Reply) -> None:
        """A reply reaches its client: sent before a crash, it arrives even after it."""
        if client.session_id != reply.session_id:
            return
        if reply.error is not None:
            outcome = Outcome(error=reply.error.code)
        else:
            result = reply.result
            outcome = Outcome(affected_rows=getattr(result, "affected_rows", 0),
                              last_insert_id=getattr(result, "last_insert_id", 0))
        self._note("reply", client.index, outcome.summary())
        client.pending_request = None
        client.answered(outcome)
        if self.node is not None:
            self.at(self.now_ms + client.think_ms(), self._send, client)

    # ------------------------------------------------------------------ the run
    def setup(self) -> None:
        node = self._start_node()
        client = self.setup_client
        self._open(client)
        for i, sql in enumerate(SETUP):
            record = TxnRecord(f"setup-{i}", -1, False, [sql])
            client.current, client.position = record, 0
            self.session_record[client.session_id or 0] = record
            self.records.append(record)
            self._request += 1
            node.submit(client.session_id or 0, self._request, sql, now_ms=self.now_ms)
            self._run_queue()
            if record.end != "committed":
                raise SqlViolation("setup", f"{sql!r} failed: {record.outcomes}")
        self._armed = True
        if self.crash_plan.point == "io":
            self.disk.io_base = self.disk.io_count
            self.disk.crash_at_io = self.disk.io_count + self.crash_plan.occurrence
        if self.crash_plan.point == "ioerr":
            self.disk.io_base = self.disk.io_count
            self.disk.fail_at_io = self.disk.io_count + self.crash_plan.occurrence
            self.disk.fail_ios = self.crash_plan.fails
            if self.crash_plan.then_crash is not None:
                self.disk.crash_at_io = (self.disk.fail_at_io + self.crash_plan.fails
                                         + self.crash_plan.then_crash)
        for client in self.clients:
            self._open(client)
            self._configure(client)

    def _run_queue(self) -> None:
        """Events of one millisecond are one event-loop iteration of the node: every input
        in it runs before the node's deferred work (so simultaneous commits share a batch)."""
        events = 0
        while self._queue:
            when_ms, _, action, args = heapq.heappop(self._queue)
            self.now_ms = max(self.now_ms, when_ms)
            group = [(action, args)]
            while self._queue and self._queue[0][0] == when_ms:
                _, _, action, args = heapq.heappop(self._queue)
                group.append((action, args))
            events += len(group)
            if events > EVENTS_MAX:
                raise SqlViolation("livelock", f"more than {EVENTS_MAX} events")
            if len(group) == 1:
                group[0][0](*group[0][1])
            else:
                self._input(lambda node: self._iteration(node, group))

    def _iteration(self, node: Node, group: list[tuple[Callable[..., None], tuple[Any, ...]]]
                   ) -> None:
        self._in_group = True
        try:
            with node.iteration():
                for action, args in group:
                    if self.node is None:
                        break
                    action(*args)
        finally:
            self._in_group = False

    def execute(self) -> Node:
        """Setup, workload, crash, restart; returns the restarted node (checked by caller)."""
        self.setup()
        self._run_queue()
        if self.node is not None:
            self._check_idle_node(self.node)
        if self.node is not None:  # the workload ended before the crash point: kill -9 now
            self.disk.crash("end of workload")
            self.crash_phase = "idle"
            self._note("crash", self.disk.crash_point)
            self.node = None
        self.disk.bury()
        self.disk.crash_at_io = self.disk.fail_at_io = None
        self.disk.crashed = False
        self._armed = False
        self.by_session.clear()
        self.now_ms += 1000
        node = self._start_node(route_outputs=False)
        self.branches_redone = node.state.status["Marmot_branches_redone"]
        return node

    def _check_idle_node(self, node: Node) -> None:
        """The live node's memory agrees with its files once everything is committed."""
        pipeline = node.state.pipelines.get(DATABASE)
        if pipeline is None or not pipeline.idle or not pipeline.conn.get_autocommit():
            return
        binding = node.state.binding(pipeline.conn)
        with binding.trusted_scope():
            on_disk = pipeline.conn.execute("PRAGMA user_version").fetchall()[0][0]
        if pipeline.schema_version != on_disk:
            raise SqlViolation("schema-version", f"the pipeline's schema version is "
                               f"{pipeline.schema_version}, the file's {on_disk}")

    def close(self) -> None:
        self.disk.crash_at_io = self.disk.fail_at_io = None  # an aborted run's node closes
        #                                                       without crashing
        self._armed = False
        if self.node is not None:
            self.node.close()
            self.node = None
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)
