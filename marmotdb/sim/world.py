"""World: N machines running the production peer code in one process, on simulated time.

Theory of operation
-------------------
The world is a ``timeline.Timeline``: one event queue ordered by (global time in µs, sequence
number) drives everything, so a run is a pure function of its seed. Three kinds of events exist:

- delivery of a frame to a machine (scheduled by ``SimNetwork.route`` when a node sends);
- a node's timer (scheduled at the global time when that machine's ``VirtualClock`` reaches the
  node's ``next_deadline_ms``; only the latest scheduled timer of a node counts);
- actions of the scenario (start, crash, restart, pause, clock jump, link faults, checks).

A machine hosts the unmodified production code: a ``PeerEndpoint`` (marmotdb/peer/) that
receives every frame, hands membership frames to the machine's ``SwimNode`` and carries
request/response traffic for whatever registered handlers on it (``endpoint_hooks`` run at every
start, so a restarted machine registers them again; ``call`` lets a scenario act on a machine
the way a client would). The code only sees ``now_ms`` from its machine's clock, a
``Transport`` whose ``send`` hands frames to the network, and seeded ``random.Random`` streams
derived from (run seed, node id, restart count, subsystem), so adding a node, a restart or a
subsystem does not shift the random streams of the others. A machine's timer is the earliest
deadline of its endpoint and its SWIM node. (When ``node.py`` exists, a machine hosts one of
those instead: it has the same three entry points.)

A paused machine (a GC pause, an overloaded host) keeps its clock running but handles nothing;
at the end of the pause it first drains its inbox in arrival order, then runs its timers, the
order a real event loop with readable sockets and expired timers would use.

Every delivery and every membership event is fed to a SHA-256 "trace hash": two runs of one
seed must print the same hash, or something nondeterministic slipped in (FoundationDB's unseed
check).
"""

from __future__ import annotations

import dataclasses
import struct
from collections import deque
from collections.abc import Callable

from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import MemberEvent
from marmotdb.cluster.messages import MEMBERSHIP_CODES, NodeAddr, NodeMeta
from marmotdb.cluster.swim import SwimNode
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import FrameCodec
from marmotdb.peer.endpoint import PeerEndpoint
from marmotdb.peer.registry import MessageRegistry
from marmotdb.sim.clock import VirtualClock
from marmotdb.sim.network import LinkFault, NetworkProfile, SimNetwork
from marmotdb.sim.timeline import SimulationError, Timeline

SIM_SECRET = b"marmotdb-simulator-cluster-secret"
PEER_PORT = 7946
SAME_INSTANT_TIMER_FIRES_MAX = 1000
INBOX_FRAMES_MAX = 10_000  # a paused machine's receive buffer; beyond it frames drop, like a
#                            full socket buffer

MemberListener = Callable[[int, MemberEvent, int], None]


@dataclasses.dataclass
class FaultRecord:
    """A fault window, for excusing its consequences. ``end_us`` is None while it lasts.

    ``excuses``: "all" (link and clock faults: any death near it may be its consequence),
    "self" (crash/restart: only the machine's own death), "none" (pauses shorter than the
    suspicion timeout: the protocol must tolerate them without declaring anyone dead).
    """

    kind: str
    node_ids: frozenset[int]
    start_us: int
    end_us: int | None
    excuses: str


@dataclasses.dataclass
class Machine:
    node_id: int
    addr: NodeAddr
    clock: VirtualClock
    swim: SwimNode | None = None
    endpoint: PeerEndpoint | None = None
    generation: int = 0
    paused_until_us: int = 0
    inbox: deque[tuple[NodeAddr, bytes, bool]] = dataclasses.field(default_factory=deque)
    timer_us: int | None = None
    timer_token: int = 0
    bytes_sent: int = 0
    frames_sent: int = 0
    same_instant_fires: int = 0
    last_fire_us: int = -1

    @property
    def is_up(self) -> bool:
        return self.swim is not None

    def next_deadline_ms(self) -> int:
        assert self.swim is not None and self.endpoint is not None
        return min(self.swim.next_deadline_ms(), self.endpoint.next_deadline_ms())

    def handle_timer(self, now_ms: int) -> None:
        assert self.swim is not None and self.endpoint is not None
        self.swim.handle_timer(now_ms)
        self.endpoint.handle_timer(now_ms)


class SimTransport:
    """The ``Transport`` a simulated node sends through."""

    def __init__(self, world: World, node_id: int):
        self._world, self._node_id = world, node_id

    def send(self, dest: NodeAddr, frame: bytes, reliable: bool) -> None:
        self._world.transmit(self._node_id, dest, frame, reliable)


class World(Timeline):
    def __init__(self, seed: int, config: SwimConfig, profile: NetworkProfile | None = None,
                 registry: MessageRegistry | None = None):
        super().__init__(seed)
        self.config = config
        self.codec = FrameCodec([SIM_SECRET], registry=registry or all_messages())
        self.network = SimNetwork(self.rng_for("network"), profile)
        self.machines: dict[int, Machine] = {}
        self.faults: list[FaultRecord] = []
        self.member_listeners: list[MemberListener] = []
        self.endpoint_hooks: list[Callable[[Machine], None]] = []  # run at every (re)start
        self._by_addr: dict[NodeAddr, int] = {}

    # ----------------------------------------------------------------- setup and actions

    def add_machine(self, node_id: int, drift_ppm: int = 0) -> Machine:
        addr = NodeAddr(f"10.0.{len(self.machines) // 250}.{len(self.machines) % 250 + 1}",
                        PEER_PORT)
        machine = Machine(node_id, addr, VirtualClock(drift_ppm))
        self.machines[node_id] = machine
        self._by_addr[addr] = node_id
        return machine

    def start(self, node_id: int, seed_ids: list[int]) -> None:
        machine = self.machines[node_id]
        if machine.is_up:
            raise SimulationError(f"{node_id} is already running")
        machine.generation += 1
        rng = self.rng_for(node_id, machine.generation, "swim")
        seeds = [self.machines[s].addr for s in seed_ids]
        meta = NodeMeta(machine.addr, mysql_addr=NodeAddr(machine.addr.host, 3306),
                        software_version="sim")
        swim = SwimNode(node_id, meta, self.config, SimTransport(self, node_id), self.codec, rng,
                        seed_addrs=seeds)
        swim.subscribe(lambda event: self._on_member_event(node_id, event))
        endpoint = PeerEndpoint(self.codec, SimTransport(self, node_id),
                                self.rng_for(node_id, machine.generation, "peer"))
        endpoint.add_frame_receiver(MEMBERSHIP_CODES, swim.receive_frame)
        machine.swim, machine.endpoint = swim, endpoint
        machine.inbox, machine.paused_until_us = deque(), 0
        for hook in self.endpoint_hooks:
            hook(machine)
        self._record(b"start", node_id)
        swim.start(machine.clock.local_ms(self.now_us))
        self._reschedule_timer(machine)

    def crash(self, node_id: int) -> None:
        machine = self.machines[node_id]
        machine.swim, machine.endpoint, machine.timer_us = None, None, None
        machine.inbox.clear()
        self._record(b"crash", node_id)
        self.faults.append(FaultRecord("crash", frozenset({node_id}), self.now_us, None, "self"))

    def restart(self, node_id: int, seed_ids: list[int]) -> None:
        for fault in self.faults:
            if fault.kind == "crash" and node_id in fault.node_ids and fault.end_us is None:
                fault.end_us = self.now_us
        self.start(node_id, seed_ids)

    def pause(self, node_id: int, duration_us: int, excuses: str = "none") -> None:
        machine = self.machines[node_id]
        if not machine.is_up or machine.paused_until_us > self.now_us:
            return
        machine.paused_until_us = self.now_us + duration_us
        self.faults.append(FaultRecord("pause", frozenset({node_id}), self.now_us,
                                       self.now_us + duration_us, excuses))
        self._record(b"pause", node_id)
        self.at(self.now_us + duration_us, self._resume, machine, machine.generation)

    def jump_clock(self, node_id: int, delta_us: int) -> None:
        machine = self.machines[node_id]
        machine.clock.jump(self.now_us, delta_us)
        self.faults.append(FaultRecord("clock-jump", frozenset({node_id}), self.now_us,
                                       self.now_us, "all"))
        self._record(b"jump", node_id)
        if machine.is_up:
            machine.timer_us = None
            self._reschedule_timer(machine)

    def set_link(self, source_id: int, target_id: int, fault: LinkFault) -> None:
        self.network.set_fault(source_id, target_id, fault)

    def call(self, node_id: int, action: Callable[[Machine, int], None]) -> bool:
        """Run ``action(machine, local now_ms)`` on a running machine, as input from outside
        (a client); False when the machine is down or paused. Its timer is re-armed after."""
        machine = self.machines[node_id]
        if not machine.is_up or machine.paused_until_us > self.now_us:
            return False
        action(machine, machine.clock.local_ms(self.now_us))
        if machine.is_up:
            self._reschedule_timer(machine)
        return True

    def open_fault(self, kind: str, node_ids: frozenset[int]) -> FaultRecord:
        record = FaultRecord(kind, node_ids, self.now_us, None, "all")
        self.faults.append(record)
        return record

    def close_fault(self, record: FaultRecord) -> None:
        record.end_us = self.now_us

    # ----------------------------------------------------------------- running

    def excused(self, node_id: int, from_us: int, to_us: int) -> bool:
        """Does a fault overlapping ``[from_us, to_us]`` excuse a death of ``node_id``?"""
        for fault in self.faults:
            overlaps = fault.start_us <= to_us and (fault.end_us is None or
                                                    fault.end_us >= from_us)
            if not overlaps:
                continue
            if fault.excuses == "all" or (fault.excuses == "self" and node_id in fault.node_ids):
                return True
        return False

    def local_ms(self, node_id: int) -> int:
        return self.machines[node_id].clock.local_ms(self.now_us)

    # ----------------------------------------------------------------- internals

    def transmit(self, source_id: int, dest: NodeAddr, frame: bytes, reliable: bool) -> None:
        machine = self.machines[source_id]
        machine.bytes_sent += len(frame)
        machine.frames_sent += 1
        target_id = self._by_addr.get(dest)
        if target_id is None:
            return
        for at_us in self.network.route(source_id, target_id, reliable, self.now_us):
            self._push(at_us, self._deliver, (target_id, machine.addr, frame, reliable))

    def _deliver(self, target_id: int, src: NodeAddr, frame: bytes, reliable: bool) -> None:
        machine = self.machines[target_id]
        if machine.endpoint is None:
            return
        if machine.paused_until_us > self.now_us:
            if len(machine.inbox) < INBOX_FRAMES_MAX:
                machine.inbox.append((src, frame, reliable))
            return
        self._trace.update(struct.pack(">QHQ", self.now_us, len(frame), target_id))
        self._trace.update(frame)
        machine.endpoint.receive_frame(src, frame, machine.clock.local_ms(self.now_us), reliable)
        if machine.is_up:
            self._reschedule_timer(machine)

    def _fire_timer(self, machine: Machine, token: int, generation: int) -> None:
        if machine.swim is None or token != machine.timer_token or (
                generation != machine.generation):
            return
        machine.timer_us = None
        if machine.paused_until_us > self.now_us:
            return  # _resume runs the timers
        self._guard_livelock(machine)
        machine.handle_timer(machine.clock.local_ms(self.now_us))
        if machine.is_up:
            self._reschedule_timer(machine)

    def _resume(self, machine: Machine, generation: int) -> None:
        if machine.swim is None or generation != machine.generation:
            return
        machine.paused_until_us = 0
        while machine.inbox and machine.swim is not None:
            src, frame, reliable = machine.inbox.popleft()
            self._deliver(machine.node_id, src, frame, reliable)
        if machine.swim is not None:
            machine.handle_timer(machine.clock.local_ms(self.now_us))
            machine.timer_us = None
            self._reschedule_timer(machine)

    def _reschedule_timer(self, machine: Machine) -> None:
        deadline_ms = machine.next_deadline_ms()
        at_us = machine.clock.global_us_when(deadline_ms, self.now_us)
        if machine.timer_us is not None and machine.timer_us == at_us:
            return
        machine.timer_us = at_us
        machine.timer_token += 1
        self._push(at_us, self._fire_timer, (machine, machine.timer_token, machine.generation))

    def _guard_livelock(self, machine: Machine) -> None:
        if machine.last_fire_us == self.now_us:
            machine.same_instant_fires += 1
            if machine.same_instant_fires > SAME_INSTANT_TIMER_FIRES_MAX:
                raise SimulationError(f"{machine.node_id}: timer livelock at {self.now_us} µs")
        else:
            machine.last_fire_us, machine.same_instant_fires = self.now_us, 0

    def _on_member_event(self, observer_id: int, event: MemberEvent) -> None:
        current = event.current.name if event.current else "-"
        previous = event.previous.name if event.previous else "-"
        self._trace.update(f"{self.now_us}|{observer_id}|{event.node_id}|{previous}|{current}|"
                           f"{event.incarnation}".encode())
        for listener in self.member_listeners:
            listener(observer_id, event, self.now_us)

    def _record(self, what: bytes, node_id: int) -> None:
        self._trace.update(struct.pack(">Q", self.now_us) + what + struct.pack(">Q", node_id))
