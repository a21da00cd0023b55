"""Probe: the bookkeeping of one probe round and of the indirect probes we relay for others.

A probe round (SWIM §3, Lifeguard §4) of this node against one target:

    t0                      send Ping(seq) to the target
    t0 + timeout            no Ack yet: send PingReq(seq) to ``indirect_checks`` other members;
                            each relays a Ping and answers Ack(seq) or, on its own timeout, Nack
    t0 + interval           round end: an Ack (direct or relayed) at any point = success;
                            otherwise the target becomes SUSPECT, unless this node was stalled

``timeout`` and ``interval`` are stretched by the awareness score. Only one round is in flight;
the next starts at the round end. Relays are kept in a bounded table keyed by our own sequence
number, with a deadline after which the requester gets a Nack.
"""

from __future__ import annotations

import dataclasses

from marmotdb.cluster.messages import NodeAddr


@dataclasses.dataclass
class ProbeRound:
    target_id: str
    target_addr: NodeAddr
    seq: int
    indirect_at_ms: int  # direct probe timeout: send the indirect probes then
    end_ms: int  # round end: suspect the target if nothing acked by then
    indirect_sent: bool = False
    nacks_expected: int = 0
    nacks_received: int = 0


@dataclasses.dataclass(frozen=True)
class Relay:
    """An indirect probe we run for ``requester``: answer its ``requester_seq``."""

    requester_addr: NodeAddr
    requester_seq: int
    deadline_ms: int


class RelayTable:
    """Pending relays by our own ping sequence number, bounded by ``relay_pending_max``."""

    def __init__(self, relay_pending_max: int):
        self.relay_pending_max = relay_pending_max
        self._relays: dict[int, Relay] = {}

    def __len__(self) -> int:
        return len(self._relays)

    def is_full(self) -> bool:
        return len(self._relays) >= self.relay_pending_max

    def add(self, seq: int, relay: Relay) -> None:
        if self.is_full():
            raise OverflowError("relay table full; check is_full() first")
        self._relays[seq] = relay

    def pop(self, seq: int) -> Relay | None:
        return self._relays.pop(seq, None)

    def pop_expired(self, now_ms: int) -> list[Relay]:
        expired = [seq for seq, relay in self._relays.items() if relay.deadline_ms <= now_ms]
        return [self._relays.pop(seq) for seq in expired]

    def next_deadline_ms(self) -> int | None:
        return min((r.deadline_ms for r in self._relays.values()), default=None)
