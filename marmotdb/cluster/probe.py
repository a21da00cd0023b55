"""Probe: probe rounds against other members, and the indirect probes we relay for others.

A probe round (SWIM §3, Lifeguard §4) of this node against one target:

    t0                      send Ping(seq) to the target
    t0 + timeout            no Ack yet: send PingReq(seq) to ``indirect_checks`` other ALIVE
                            members; each relays a Ping and answers Ack(seq) or, when its own
                            timeout passes first, Nack(seq)
    t0 + interval           round end: an Ack (direct or relayed) at any point = success;
                            otherwise the target is reported for suspicion, unless this node
                            handled the deadline late (it was stalled: the round is inconclusive)

Targets come from the shuffled round-robin ``ProbeSchedule``. ``timeout`` and ``interval`` are
stretched by the Lifeguard ``Awareness`` score, which rises when relays do not even nack (we
are the slow one) and falls with every success. One round is in flight at a time. Relays are a
bounded table keyed by our own ping sequence number; a full table answers Nack at once.

The ``Prober`` sends through the node's ``send_udp`` (which adds piggybacked updates) and
reports failures through ``suspect``; it never touches the member table except to read it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from marmotdb.cluster.awareness import Awareness
from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import Member, MemberTable
from marmotdb.cluster.messages import Ack, MemberState, Nack, NodeAddr, Ping, PingReq
from marmotdb.cluster.probe_schedule import ProbeSchedule
from marmotdb.cluster.stats import SwimStats

NEVER_MS = 2**62

SendUdp = Callable[[NodeAddr, Ping | Ack | PingReq | Nack, "int | None"], None]


@dataclasses.dataclass
class ProbeRound:
    target_id: int
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


class Prober:
    def __init__(self, node_id: int, config: SwimConfig, members: MemberTable,
                 rng: random.Random, stats: SwimStats, send_udp: SendUdp,
                 suspect: Callable[[Member, int], None]):
        self.node_id, self.config, self.members = node_id, config, members
        self.awareness = Awareness(config.awareness_max_multiplier)
        self.schedule = ProbeSchedule(rng)
        self.round: ProbeRound | None = None
        self.next_probe_ms = NEVER_MS
        self._rng, self._stats = rng, stats
        self._send_udp, self._suspect = send_udp, suspect
        self._relays = RelayTable(config.relay_pending_max)
        self._seq = 0

    def start(self, now_ms: int) -> None:
        # A random phase, so nodes started together do not probe in lockstep.
        self.next_probe_ms = now_ms + self._rng.randrange(self.config.probe_interval_ms)

    def stop(self) -> None:
        """Abandon the round in flight (we are leaving or were removed)."""
        self.round = None

    def member_changed(self, node_id: int, live: bool) -> None:
        if live:
            self.schedule.add(node_id)
        else:
            self.schedule.discard(node_id)

    def deadlines_ms(self) -> list[int]:
        deadlines = [self.next_probe_ms]
        if self.round is not None:
            deadlines.append(self.round.end_ms)
            if not self.round.indirect_sent:
                deadlines.append(self.round.indirect_at_ms)
        relay_deadline = self._relays.next_deadline_ms()
        if relay_deadline is not None:
            deadlines.append(relay_deadline)
        return deadlines

    # ----------------------------------------------------------------- timers

    def check(self, now_ms: int) -> None:
        """Indirect probes, round end and relay timeouts that are due."""
        probe = self.round
        if probe is not None:
            if now_ms >= probe.end_ms:
                self._conclude(probe, now_ms)
            elif not probe.indirect_sent and now_ms >= probe.indirect_at_ms:
                self._send_indirect(probe)
        for relay in self._relays.pop_expired(now_ms):
            self._send_udp(relay.requester_addr, Nack(relay.requester_seq, self.node_id), None)

    def tick(self, now_ms: int, local_addr: NodeAddr, active: bool) -> None:
        """Start the next round when due (only while ``active``: this node is ALIVE)."""
        if now_ms < self.next_probe_ms:
            return
        interval_ms = self.awareness.scale_ms(self.config.probe_interval_ms)
        self.next_probe_ms = now_ms + interval_ms
        if not active:
            return
        if self.round is not None:
            self._conclude(self.round, now_ms)
        target_id = self.schedule.next(self._is_probeable)
        target = self.members.get(target_id) if target_id is not None else None
        if target is None:
            return
        timeout_ms = self.awareness.scale_ms(self.config.probe_timeout_ms)
        seq = self._next_seq()
        self.round = ProbeRound(target.node_id, target.meta.peer_addr, seq,
                                now_ms + timeout_ms, now_ms + interval_ms)
        self._stats.probes_sent += 1
        self._send_udp(target.meta.peer_addr, Ping(seq, self.node_id, local_addr,
                                                   target.node_id), target.node_id)

    # ----------------------------------------------------------------- messages

    def on_ack(self, seq: int) -> None:
        if self.round is not None and seq == self.round.seq:
            self.round = None
            self.awareness.apply_delta(-1)
            return
        relay = self._relays.pop(seq)
        if relay is not None:
            self._send_udp(relay.requester_addr, Ack(relay.requester_seq, self.node_id), None)

    def on_nack(self, seq: int) -> None:
        if self.round is not None and seq == self.round.seq:
            self.round.nacks_received += 1

    def on_ping_req(self, req: PingReq, local_addr: NodeAddr, now_ms: int) -> None:
        if self._relays.is_full():
            self._send_udp(req.source_addr, Nack(req.seq, self.node_id), req.source_id)
            return
        seq = self._next_seq()
        deadline_ms = now_ms + self.awareness.scale_ms(self.config.probe_timeout_ms)
        self._relays.add(seq, Relay(req.source_addr, req.seq, deadline_ms))
        ping = Ping(seq, self.node_id, local_addr, req.target_id)
        self._send_udp(req.target_addr, ping, req.target_id)

    # ----------------------------------------------------------------- internals

    def _is_probeable(self, node_id: int) -> bool:
        member = self.members.get(node_id)
        return member is not None and member.is_live

    def _send_indirect(self, probe: ProbeRound) -> None:
        probe.indirect_sent = True
        relays = [m for m in sorted(self.members, key=lambda m: m.node_id)
                  if m.state is MemberState.ALIVE
                  and m.node_id not in (self.node_id, probe.target_id)]
        chosen = self._rng.sample(relays, min(self.config.indirect_checks, len(relays)))
        probe.nacks_expected = len(chosen)
        for relay in chosen:
            req = PingReq(probe.seq, self.node_id, self._local_addr(), probe.target_id,
                          probe.target_addr)
            self._send_udp(relay.meta.peer_addr, req, relay.node_id)
            self._stats.indirect_probes_sent += 1

    def _conclude(self, probe: ProbeRound, now_ms: int) -> None:
        self.round = None
        if now_ms - probe.end_ms > self.config.late_timer_slack_ms:
            # We overslept the round (stalled process, clock jump): our silence, not theirs.
            self._stats.probes_inconclusive += 1
            return
        self._stats.probes_failed += 1
        self.awareness.apply_delta(
            Awareness.probe_failure_delta(probe.nacks_expected, probe.nacks_received))
        target = self.members.get(probe.target_id)
        if target is not None and target.is_live:
            self._suspect(target, now_ms)

    def _local_addr(self) -> NodeAddr:
        me = self.members.get(self.node_id)
        assert me is not None
        return me.meta.peer_addr

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq
