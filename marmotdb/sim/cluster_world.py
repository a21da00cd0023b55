"""ClusterWorld: N production ``Node``s committing through each other, on simulated time.

Theory of operation
-------------------
The world is a ``timeline.Timeline`` (one event queue in global µs, seeded random streams, a
trace hash). Each machine hosts the unmodified sans-I/O ``marmotdb.node.Node`` with its
distributed commit attached (``Node.attach_cluster``) over a static roster: every member is
counted and gets prepares (membership is not under test here). A machine has

* a ``VirtualClock`` (clock.py) that drifts and jumps: the node's ``now_ms`` is its local
  epoch milliseconds, its timer is scheduled at the global time that clock reaches
  ``next_deadline_ms()``;
* a ``SimDisk`` (sql_disk.py) under which all of its SQLite files live, its databases and its
  txn store: a crash drops the ``Node`` without closing it, ``SimDisk.bury`` closes the dead
  process's connections through the crashed VFS (nothing they do reaches the files), and a
  restart opens a new ``Node`` on the same directory — kill -9, exactly;
* an address on the ``SimNetwork`` (network.py): every ``SendFrame`` output is routed there
  with its ``reliable`` flag (the txn messages travel on TCP: in order per link, a loss is a
  retransmission delay, a cut link loses them), so delays, loss, partitions of any shape and
  asymmetric cuts apply to the commit rounds as they would in production. ``datagrams``
  sends them as datagrams instead (duplicated and reordered), a fault TCP never makes.

Inputs to a node (a client statement, a frame, a timer) run one at a time; a crash can hit
inside one: ``crash_on`` arms a ``CrashTrigger`` — a pipeline fault point (the node's ``fault``
hook, ``txn.pipeline.FAULT_POINTS``) at its n-th occurrence, the n-th frame of a txn message
type the node sends (so a coordinator dies between two peers' Accepts), or the disk's n-th
write/sync (inside a vote's or an acceptance's record). ``MachineCrashed`` unwinds the node
at that instruction; whatever it emits after the instant is dropped; its clients lose their
sessions (``on_crash``).

Replies go to the client that sent the statement (``on_reply``) after a small client-link
delay; clients are not partitioned from their node (an application server next to it).
"""

from __future__ import annotations

import dataclasses
import struct
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw

from marmotdb.errors import MarmotError
from marmotdb.node import Node, Offload, Output, Reply, SendFrame
from marmotdb.peer.address import NodeAddr
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import FrameCodec, peek_tag
from marmotdb.sim.clock import VirtualClock
from marmotdb.sim.network import LinkFault, NetworkProfile, SimNetwork
from marmotdb.sim.sql_disk import MachineCrashed, SimDisk
from marmotdb.sim.timeline import SimulationError, Timeline
from marmotdb.sim.world import SIM_SECRET
from marmotdb.txn.cluster import CommitSettings, Peer
from marmotdb.users import User, Users

EPOCH_US = 1_700_000_000_000_000  # the machines' clocks start here (epoch µs), plus an offset
USERS = Users([User("root", "x", {"*": "admin"})])
CLIENT_LINK_US = (50, 400)  # one-way delay between a client and its node
EVENTS_MAX = 3_000_000

ReplyListener = Callable[[int, int, Reply], None]  # (node id, node generation, reply)
CrashListener = Callable[[int], None]             # node id


@dataclasses.dataclass(frozen=True)
class CrashTrigger:
    """Where a machine dies: ``kind`` "point" (a pipeline fault point named ``what``), "send"
    (a txn frame with tag ``what``), or "io" (a disk write/sync), at its ``occurrence``-th
    time after arming."""

    kind: str
    what: str | int
    occurrence: int

    def describe(self) -> str:
        return f"{self.kind}:{self.what}#{self.occurrence}"


@dataclasses.dataclass
class ClusterMachine:
    node_id: int
    addr: NodeAddr
    clock: VirtualClock
    disk: SimDisk
    node: Node | None = None
    generation: int = 0
    timer_token: int = 0
    timer_us: int | None = None
    trigger: CrashTrigger | None = None
    counts: dict[Any, int] = dataclasses.field(default_factory=dict)
    crashes: list[str] = dataclasses.field(default_factory=list)

    @property
    def is_up(self) -> bool:
        return self.node is not None

    def local_ms(self, global_us: int) -> int:
        return self.clock.local_ms(global_us)


class ClusterWorld(Timeline):
    def __init__(self, seed: int, root: Path, size: int, *, settings: CommitSettings,
                 profile: NetworkProfile | None = None, drift_ppm_max: int = 500,
                 state_options: dict[str, Any] | None = None):
        super().__init__(seed, EVENTS_MAX)
        self.root = root
        self.settings = settings
        self.state_options = state_options or {}
        self.network = SimNetwork(self.rng_for("network"), profile)
        self.codec = FrameCodec([SIM_SECRET], registry=all_messages())
        self.machines: dict[int, ClusterMachine] = {}
        self._by_addr: dict[NodeAddr, int] = {}
        self.internal_errors: list[str] = []
        # True: the txn frames travel as datagrams (duplicated, reordered, dropped as the
        # links say) — stronger than the TCP the runtime uses, for the duplicate scenario
        self.datagrams = False
        self.on_reply: ReplyListener = lambda node_id, generation, reply: None
        self.on_crash: CrashListener = lambda node_id: None
        self._client_link = self.rng_for("client-link")
        plan = self.rng_for("machines")
        for node_id in range(1, size + 1):
            drift = plan.randint(-drift_ppm_max, drift_ppm_max)
            offset_us = plan.randint(-50_000, 50_000)
            self._add_machine(node_id, VirtualClock(drift, EPOCH_US + offset_us))

    def _add_machine(self, node_id: int, clock: VirtualClock) -> None:
        addr = NodeAddr(f"10.0.1.{node_id}", 7946)
        disk = SimDisk(self.root / f"n{node_id}", self.rng_for(node_id, "disk"))
        disk.root.mkdir(parents=True, exist_ok=True)
        self.machines[node_id] = ClusterMachine(node_id, addr, clock, disk)
        self._by_addr[addr] = node_id

    def roster(self) -> list[Peer]:
        return [Peer(m.node_id, m.addr, True) for m in self.machines.values()]

    @property
    def disks(self) -> list[SimDisk]:
        return [m.disk for m in self.machines.values()]

    # ------------------------------------------------------------------ life and death
    def start(self, node_id: int) -> None:
        machine = self.machines[node_id]
        if machine.is_up:
            raise SimulationError(f"{node_id} is already running")
        machine.generation += 1
        machine.counts = {}
        generation = machine.generation
        self._note(b"start", node_id)
        try:
            node = Node(machine.disk.root, users=USERS, node_id=node_id,
                        now_ms=machine.local_ms(self.now_us),
                        rng=self.rng_for(node_id, generation, "node"),
                        fault=lambda point, database: self._fault_point(machine, generation, point),
                        on_output=lambda out: self._output(machine, generation, out),
                        state_options={**self.state_options,
                                       "wal_sync": machine.disk.sync_file})
            machine.node = node
            node.attach_cluster(self.codec, self.roster, self.settings)
        except MachineCrashed:
            pass
        if machine.disk.crashed:
            self._bury(machine)
            return
        self._arm_timer(machine)

    def crash(self, node_id: int, point: str = "scheduled") -> None:
        """kill -9 now (between two inputs)."""
        machine = self.machines[node_id]
        if machine.is_up:
            machine.disk.crash(point)
            self._bury(machine)

    def restart(self, node_id: int) -> None:
        if not self.machines[node_id].is_up:
            self.start(node_id)

    def crash_on(self, node_id: int, trigger: CrashTrigger) -> None:
        """Arm a crash inside the machine's next inputs (replaces an armed one)."""
        machine = self.machines[node_id]
        machine.trigger = trigger
        machine.counts = {}
        if trigger.kind == "io":
            machine.disk.crash_at_io = machine.disk.io_count + trigger.occurrence

    def _fault_point(self, machine: ClusterMachine, generation: int, point: str) -> None:
        if machine.disk.crashed or generation != machine.generation:
            # still running after the crash instant (a handler swallowed MachineCrashed):
            # a dead process runs nothing more
            raise MachineCrashed(f"{point} after the crash")
        self._count(machine, "point", point)

    def _count(self, machine: ClusterMachine, kind: str, what: str | int) -> None:
        trigger = machine.trigger
        if trigger is None or trigger.kind != kind or trigger.what != what:
            return
        count = machine.counts[what] = machine.counts.get(what, 0) + 1
        if count == trigger.occurrence:
            machine.trigger = None
            point = trigger.describe()
            machine.disk.crash(point)
            raise MachineCrashed(point)

    def _bury(self, machine: ClusterMachine) -> None:
        machine.crashes.append(machine.disk.crash_point or "?")
        machine.node, machine.timer_us, machine.trigger = None, None, None
        machine.disk.bury()
        machine.disk.crashed = False
        machine.disk.crash_at_io = None
        self._note(b"crash", machine.node_id)
        self.on_crash(machine.node_id)

    # ------------------------------------------------------------------ inputs
    def input(self, node_id: int, call: Callable[[Node], None]) -> bool:
        """Run ``call(node)`` as one input of a running node; False when it is down."""
        machine = self.machines[node_id]
        node = machine.node
        if node is None:
            return False
        try:
            call(node)
        except MachineCrashed:
            pass
        except Exception as exc:  # noqa: BLE001 - a sans-I/O input must not raise: a finding
            if not machine.disk.crashed:  # else the crash itself, seen through SQLite
                self.internal_errors.append(f"node {node_id}: an input raised {_where(exc)}")
        if machine.disk.crashed:
            self._bury(machine)
            return True
        if node.internal_errors:  # answered 1105: a bug, whatever the client makes of it
            self.internal_errors += [f"node {node_id}: {e!r}" for e in node.internal_errors]
            node.internal_errors.clear()
        if machine.node is node:
            self._arm_timer(machine)
        return True

    def now_ms(self, node_id: int) -> int:
        return self.machines[node_id].local_ms(self.now_us)

    def open_session(self, node_id: int) -> int | None:
        """A client connects (and selects the database); None when the node is down."""
        opened: list[int] = []
        self.input(node_id, lambda node: opened.append(
            node.open_session("root", now_ms=self.now_ms(node_id))))
        return opened[0] if opened else None

    def submit(self, node_id: int, session_id: int, request_id: int, sql: str) -> bool:
        self._trace.update(f"{self.now_us}|{node_id}|{session_id}|{request_id}|{sql}\n".encode())
        return self.input(node_id, lambda node: node.submit(
            session_id, request_id, sql, now_ms=self.now_ms(node_id)))

    def close_session(self, node_id: int, session_id: int) -> None:
        self.input(node_id, lambda node: node.close_session(
            session_id, now_ms=self.now_ms(node_id)))

    # ------------------------------------------------------------------ outputs
    def _output(self, machine: ClusterMachine, generation: int, output: Output) -> None:
        if machine.disk.crashed or generation != machine.generation:
            return  # the process is dead: nothing it "sends" leaves the machine
        if isinstance(output, SendFrame):
            self._transmit(machine, output)
        elif isinstance(output, Reply):
            delay_us = self._client_link.randint(*CLIENT_LINK_US)
            self._trace.update(f"{self.now_us}|reply|{machine.node_id}|{output.session_id}|"
                               f"{output.request_id}|{_summary(output)}\n".encode())
            self.at(self.now_us + delay_us, self.on_reply, machine.node_id, generation, output)
        elif isinstance(output, Offload):
            self.at(self.now_us + 1000, self._offloaded, machine, generation, output)

    def _transmit(self, machine: ClusterMachine, output: SendFrame) -> None:
        target_id = self._by_addr.get(output.dest)
        if target_id is None:
            raise SimulationError(f"{machine.node_id} sent a frame to unknown {output.dest}")
        reliable = output.reliable and not self.datagrams
        times = self.network.route(machine.node_id, target_id, reliable, self.now_us)
        for at_us in times:
            self._push(at_us, self._deliver, (target_id, machine.node_id, output.frame))
        tag = peek_tag(output.frame)
        if tag is not None:
            self._count(machine, "send", tag)  # may crash the sender after this frame left

    def _deliver(self, target_id: int, source_id: int, frame: bytes) -> None:
        self._trace.update(struct.pack(">QQQ", self.now_us, source_id, target_id) + frame)
        src = self.machines[source_id].addr
        self.input(target_id, lambda node: node.receive_frame(
            src, frame, now_ms=self.now_ms(target_id)))

    def _offloaded(self, machine: ClusterMachine, generation: int, output: Offload) -> None:
        if generation != machine.generation:
            return
        try:
            outcome: Any = output.job.run()
        except MarmotError as exc:
            outcome = exc
        self.input(machine.node_id, lambda node: node.finish_offloaded(
            output.session_id, output.request_id, outcome,
            now_ms=self.now_ms(machine.node_id), job=output.job))

    # ------------------------------------------------------------------ timers
    def _arm_timer(self, machine: ClusterMachine) -> None:
        node = machine.node
        assert node is not None
        deadline_ms = node.next_deadline_ms()
        if deadline_ms is None:
            machine.timer_us = None
            return
        at_us = machine.clock.global_us_when(deadline_ms, self.now_us)
        if machine.timer_us == at_us:
            return
        machine.timer_us = at_us
        machine.timer_token += 1
        self._push(at_us, self._fire_timer, (machine, machine.timer_token))

    def _fire_timer(self, machine: ClusterMachine, token: int) -> None:
        if token != machine.timer_token or machine.node is None:
            return
        machine.timer_us = None
        self.input(machine.node_id, lambda node: node.handle_timer(
            self.now_ms(machine.node_id)))

    def jump_clock(self, node_id: int, delta_us: int) -> None:
        machine = self.machines[node_id]
        machine.clock.jump(self.now_us, delta_us)
        self._note(b"jump", node_id)
        if machine.node is not None:
            machine.timer_us = None
            self._arm_timer(machine)

    # ------------------------------------------------------------------ links
    def set_link(self, source_id: int, target_id: int, fault: LinkFault) -> None:
        self.network.set_fault(source_id, target_id, fault)
        self._trace.update(f"{self.now_us}|link|{source_id}|{target_id}|{fault}\n".encode())

    def heal_links(self) -> None:
        self.network.clear_faults()
        self._trace.update(f"{self.now_us}|heal\n".encode())

    # ------------------------------------------------------------------ reading the files
    def read_database(self, node_id: int, database: str,
                      read: Callable[[apsw.Connection], Any]) -> Any:
        """``read(conn)`` on a running node's committed state, internal tables included."""
        node = self.machines[node_id].node
        assert node is not None, f"{node_id} is down"
        state = node.state
        if not state.databases.exists(database):
            return None
        conn = state.read_connection(state.databases.get(database))
        with state.binding(conn).trusted_scope():
            return read(conn)

    def _note(self, what: bytes, node_id: int) -> None:
        self._trace.update(struct.pack(">Q", self.now_us) + what + struct.pack(">Q", node_id))

    def close(self) -> None:
        for machine in self.machines.values():
            machine.disk.crash_at_io = None
            if machine.node is not None:
                machine.node.close()
                machine.node = None


def _where(exc: BaseException) -> str:
    """``Error: message`` and the innermost product frames that raised it."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/sim/" not in f.filename]
    at = " <- ".join(f"{Path(f.filename).name}:{f.lineno} ({f.name})" for f in frames[:-4:-1])
    return f"{type(exc).__name__}: {exc} at {at or '?'}"


def _summary(reply: Reply) -> str:
    if reply.error is not None:
        return f"err {reply.error.code}"
    result: Any = reply.result
    rows = getattr(result, "rows", None)
    return f"rows {rows}" if rows is not None else f"ok {getattr(result, 'affected_rows', 0)}"
