"""Transport: the one interface between the sans-I/O peer protocols and a network.

``SwimNode`` and ``PeerEndpoint`` never touch sockets; they call ``transport.send(dest, frame,
reliable)`` and the runtime (runtime/peer_transport.py), the simulator (sim/world.py) or a test
moves the bytes. Contract for implementations:

- ``send`` must not block and must not call back into the node (queue and return). It may drop
  the frame (a full queue, an unreachable peer): SWIM treats every loss as a missed packet.
- ``reliable=False``: best effort, one frame per UDP datagram to ``dest`` (probes, acks, gossip;
  SWIM keeps its frames below ``udp_frame_bytes_max``).
- ``reliable=True``: over a TCP connection to ``dest`` (push-pull tables, large updates), frames
  in order per destination; the receiver splits the stream with ``codec.FrameDecoder``.
- Received frames, from either path, go to ``receive_frame(src, frame, now_ms)`` of the node's
  ``PeerEndpoint`` (or of a ``SwimNode`` in membership-only tests), where ``src`` is the
  datagram's source address or the peer address the connection's handshake named.

``InMemoryTransport`` records frames for hand-driven unit tests (the "outbox"), and
``InMemoryNetwork`` wires several of them together with explicit, in-order delivery.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Protocol

from marmotdb.peer.address import NodeAddr


class Transport(Protocol):
    def send(self, dest: NodeAddr, frame: bytes, reliable: bool) -> None:
        """Queue ``frame`` for ``dest``; never blocks, never calls back into the node."""
        ...


class FrameReceiver(Protocol):
    def receive_frame(self, src: NodeAddr, frame: bytes, now_ms: int) -> None: ...


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """A frame a node asked its transport to send."""

    src: NodeAddr
    dest: NodeAddr
    frame: bytes
    reliable: bool


class InMemoryTransport:
    """Records every frame sent, in order. Tests read ``take()`` and feed frames back by hand."""

    def __init__(self, local_addr: NodeAddr, network: InMemoryNetwork | None = None):
        self.local_addr = local_addr
        self.outbox: list[Outgoing] = []
        self._network = network

    def send(self, dest: NodeAddr, frame: bytes, reliable: bool) -> None:
        outgoing = Outgoing(self.local_addr, dest, frame, reliable)
        self.outbox.append(outgoing)
        if self._network is not None:
            self._network.enqueue(outgoing)

    def take(self) -> list[Outgoing]:
        """Return and clear the frames sent since the last call."""
        taken, self.outbox = self.outbox, []
        return taken


class InMemoryNetwork:
    """Several in-memory transports wired together; delivery happens only in ``deliver_all``.

    Addresses in ``blocked`` (directed pairs) lose their frames, which lets a unit test cut a
    link without the simulator. Bounded by ``in_flight_max`` so a buggy node cannot loop forever.
    """

    def __init__(self, in_flight_max: int = 100_000):
        self.in_flight_max = in_flight_max
        self._receivers: dict[NodeAddr, FrameReceiver] = {}
        self._in_flight: deque[Outgoing] = deque()
        self.blocked: set[tuple[NodeAddr, NodeAddr]] = set()
        self.delivered = 0

    def transport_for(self, addr: NodeAddr) -> InMemoryTransport:
        return InMemoryTransport(addr, self)

    def attach(self, addr: NodeAddr, receiver: FrameReceiver) -> None:
        self._receivers[addr] = receiver

    def detach(self, addr: NodeAddr) -> None:
        self._receivers.pop(addr, None)

    def enqueue(self, outgoing: Outgoing) -> None:
        if len(self._in_flight) >= self.in_flight_max:
            raise RuntimeError("in-memory network overflow: more frames in flight than the bound")
        self._in_flight.append(outgoing)

    def deliver_all(self, now_ms: int, rounds_max: int = 1000) -> int:
        """Deliver frames (and the replies they cause) until none is in flight."""
        delivered = 0
        for _ in range(rounds_max):
            if not self._in_flight:
                break
            batch, self._in_flight = self._in_flight, deque()
            for outgoing in batch:
                receiver = self._receivers.get(outgoing.dest)
                if receiver is None or (outgoing.src, outgoing.dest) in self.blocked:
                    continue
                receiver.receive_frame(outgoing.src, outgoing.frame, now_ms)
                delivered += 1
        self.delivered += delivered
        return delivered
