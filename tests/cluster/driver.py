"""Test drivers for the SWIM state machine: one node driven by hand, or a few wired together.

``HandDriver`` owns one ``SwimNode`` with an ``InMemoryTransport``; the test plays the other
members by encoding messages itself and reading the node's outbox. ``Cluster`` wires several
nodes through an ``InMemoryNetwork`` and advances one shared clock from deadline to deadline.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import msgspec

from marmotdb.peer.codec import FrameCodec
from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import MemberEvent
from marmotdb.cluster.messages import MemberState, MemberUpdate, NodeAddr, NodeMeta
from marmotdb.cluster.swim import SwimNode
from marmotdb.peer.transport import InMemoryNetwork, InMemoryTransport

SECRET = b"test-cluster-secret-0123456789"
CODEC = FrameCodec([SECRET])


def addr(i: int) -> NodeAddr:
    return NodeAddr(f"10.0.0.{i}", 7946)


def meta(i: int, **fields: object) -> NodeMeta:
    return NodeMeta(addr(i), **fields)  # type: ignore[arg-type]


def alive(i: int, incarnation: int = 0, origin: int | None = None) -> MemberUpdate:
    return MemberUpdate(i, MemberState.ALIVE, incarnation, 0, i if origin is None else origin, meta(i))


class HandDriver:
    """One node under test; the test is every other member."""

    def __init__(self, index: int = 0, *, seeds: Iterable[NodeAddr] = (),
                 config: SwimConfig | None = None, rng_seed: int = 1, incarnation: int = 0):
        self.transport = InMemoryTransport(addr(index))
        self.node = SwimNode(index, meta(index), config or SwimConfig(), self.transport,
                             CODEC, random.Random(rng_seed), seed_addrs=list(seeds),
                             incarnation=incarnation)
        self.events: list[MemberEvent] = []
        self.node.subscribe(self.events.append)

    def deliver(self, message: msgspec.Struct, now_ms: int, src: NodeAddr | None = None) -> None:
        self.node.receive_frame(src or addr(99), CODEC.encode(message), now_ms)

    def sent(self) -> list[tuple[NodeAddr, msgspec.Struct, bool]]:
        """Decoded frames sent since the last call: (destination, message, reliable)."""
        return [(o.dest, CODEC.decode(o.frame), o.reliable) for o in self.transport.take()]

    def sent_of(self, kind: type) -> list[tuple[NodeAddr, msgspec.Struct]]:
        return [(dest, msg) for dest, msg, _ in self.sent() if isinstance(msg, kind)]

    def state_of(self, node_id: int) -> MemberState | None:
        member = self.node.members.get(node_id)
        return member.state if member else None


class Cluster:
    """Nodes n0..n{count-1} on one in-memory network; n0 is every other node's seed."""

    def __init__(self, count: int, config: SwimConfig | None = None, seed: int = 7):
        self.config = config or SwimConfig()
        self.network = InMemoryNetwork()
        self.now_ms = 0
        self.seed = seed
        self.nodes: dict[int, SwimNode] = {}
        self.restarts = 0
        for i in range(count):
            self.start_node(i)

    def start_node(self, i: int, incarnation: int = 0) -> SwimNode:
        seeds = [addr(j) for j in range(len(self.nodes) + 1) if j != i][:3]
        self.restarts += 1
        node = SwimNode(i, meta(i), self.config, self.network.transport_for(addr(i)),
                        CODEC, random.Random(self.seed * 1000 + self.restarts),
                        seed_addrs=seeds if i else [], incarnation=incarnation)
        self.nodes[node.node_id] = node
        self.network.attach(addr(i), node)
        node.start(self.now_ms)
        return node

    def crash(self, node_id: int) -> None:
        node = self.nodes.pop(node_id)
        self.network.detach(node.addr)

    def run_for(self, duration_ms: int) -> None:
        self.run_until(self.now_ms + duration_ms)

    def run_until(self, end_ms: int) -> None:
        self.network.deliver_all(self.now_ms)
        while True:
            next_ms = max(self.now_ms, min(n.next_deadline_ms() for n in self.nodes.values()))
            if next_ms > end_ms:
                self.now_ms = end_ms
                return
            self.now_ms = next_ms
            for node in list(self.nodes.values()):
                if node.next_deadline_ms() <= self.now_ms:
                    node.handle_timer(self.now_ms)
            self.network.deliver_all(self.now_ms)

    def view(self, observer: int) -> dict[int, MemberState]:
        return {m.node_id: m.state for m in self.nodes[observer].members_snapshot()}

    def all_see(self, node_id: int, state: MemberState) -> bool:
        return all(self.view(o).get(node_id) == state for o in self.nodes if o != node_id)
