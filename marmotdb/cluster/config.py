"""SwimConfig: every membership timing and bound, with its unit and its trade-off.

The defaults are the LAN profile of hashicorp/memberlist (reference/peers.md §4.17) with three
additions of ours: reconnection to dead members (Serf's reconnect), the late-timer guard that
stops a stalled node from accusing others, and explicit bounds on every queue.

Derived values (the formulas live here so the simulator and the docs use the same numbers):

    n                      live members, this node included
    suspicion_min_ms(n)    = suspicion_mult * max(1, log10(n)) * probe_interval_ms
    suspicion_max_ms(n)    = suspicion_max_timeout_mult * suspicion_min_ms(n)
    retransmit_limit(n)    = retransmit_mult * ceil(ln(n + 1))
    detection_bound_ms(n)  the longest a crashed member can stay undeclared, see below

On a LAN with the defaults, a crashed member is suspected about 2 s after the crash (the next
probe of it plus one probe round) and declared DEAD everywhere 3 s later: measured in the
simulator (bench/membership_bench.py) 4.8 s median and 6-9 s p95 for 3 to 17 nodes. The one
default that differs from memberlist's LAN profile is ``suspicion_mult`` (3, not 4), chosen to
meet the ~5 s target; false deaths are kept away by Lifeguard (a lone suspicion starts at 6x
the minimum), by telling the suspect at once (it refutes within one round trip) and by the
late-timer guard, and the simulator's slow-node scenario (stalls of up to 2 s) checks it.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class SwimConfig:
    probe_interval_ms: int = 1000
    """Time between two probes of this node (one member per interval, shuffled round-robin).
    Lower detects failures sooner at the cost of more probe traffic (2 packets per interval)."""

    probe_timeout_ms: int = 500
    """Wait for a direct ack before asking ``indirect_checks`` members to probe. Must exceed the
    network round-trip time under load (99th percentile), or healthy nodes get indirect probes."""

    indirect_checks: int = 3
    """Members asked to probe on our behalf after a direct probe times out. More makes a false
    suspicion caused by one bad path less likely, at the cost of more packets per failure."""

    suspicion_mult: int = 3
    """Minimum suspicion timeout in probe intervals (scaled by log10 of the cluster size). Higher
    gives a suspected node more time to refute (fewer false DEADs), and slows detection. Also
    sets the confirmations Lifeguard waits for: ``suspicion_mult - 2``. memberlist uses 4."""

    suspicion_max_timeout_mult: int = 6
    """Lifeguard: suspicion starts at this multiple of the minimum and shrinks toward the minimum
    as independent confirmations arrive. Higher protects a node that only one member suspects."""

    retransmit_mult: int = 4
    """Each update is piggybacked/gossiped ``retransmit_mult * ceil(ln(n+1))`` times by every node
    that learns it. Higher spreads updates more reliably under loss, at the cost of bytes per
    packet. Natural log, not memberlist's log10: with log10 a 7-node cluster sends each fact 4
    times per node, and the simulator found about 1 formation in 300 where one member missed a
    fact entirely until the next push-pull (30 s later)."""

    gossip_interval_ms: int = 200
    """Pace of dedicated gossip packets (sent only while updates are queued). Lower spreads news
    faster; each tick costs ``gossip_nodes`` packets."""

    gossip_nodes: int = 3
    """Members sent one gossip packet per gossip tick."""

    gossip_to_the_dead_ms: int = 30_000
    """Keep gossiping to a member this long after declaring it DEAD, so a member that was
    wrongly declared dead learns it and refutes. Longer heals false deaths more surely."""

    push_pull_interval_ms: int = 30_000
    """Full member-table exchange over TCP with one random live member. It repairs whatever
    gossip missed; shorter converges faster after loss at the cost of a table transfer."""

    reconnect_interval_ms: int = 10_000
    """Push-pull with one random DEAD member this often, so both sides of a healed partition
    find each other again (each side believes the other dead and would not probe it)."""

    join_retry_interval_ms: int = 2_000
    """Resend the join request to the seed nodes this often while JOINING (or REMOVED)."""

    leave_propagate_max_ms: int = 5_000
    """After ``leave()``, wait at most this long for the LEAVING fact to be gossiped before the
    runtime may stop the process."""

    late_timer_slack_ms: int = 1_000
    """A probe round or suspicion deadline handled more than this late means this node was
    stalled (GC, overload, suspended VM): the probe counts as inconclusive instead of accusing
    the target, and the suspicion is extended once. Prevents a slow node from flapping others."""

    awareness_max_multiplier: int = 8
    """Lifeguard local health: probe interval and timeout are scaled by up to this factor while
    this node misses nacks (i.e. is itself probably slow). Higher backs off more under load."""

    dead_member_retention_ms: int = 24 * 3600 * 1000
    """DEAD and LEAVING members are forgotten after this long (reconnect gives up then)."""

    udp_frame_bytes_max: int = 1400
    """Largest frame sent unreliably (fits one Ethernet MTU). Bigger updates go over TCP."""

    frame_bytes_max: int = 16 * 1024 * 1024
    """Largest frame accepted at all (a full member table with metadata must fit)."""

    broadcast_queue_max: int = 1024
    """Bound of the piggyback queue; past it the most-transmitted updates are dropped first."""

    relay_pending_max: int = 256
    """Bound of indirect probes we relay for others at once; more are refused (a nack)."""

    members_max: int = 4096
    """Bound of the member table; new members beyond it are refused and logged."""

    meta_bytes_max: int = 64 * 1024
    """Largest encoded metadata of one member (schema versions and applied vectors)."""

    rejected_frame_log_interval_ms: int = 10_000
    """Log rejected frames (wrong secret, garbage) at most once per source per interval;
    the counters in ``SwimStats`` count every one."""

    @classmethod
    def lan(cls) -> SwimConfig:
        return cls()

    @classmethod
    def local(cls) -> SwimConfig:
        """Loopback or one host: faster timings, as memberlist's DefaultLocalConfig."""
        return cls(probe_interval_ms=1000, probe_timeout_ms=200, indirect_checks=1,
                   suspicion_mult=3, retransmit_mult=2, gossip_interval_ms=100,
                   push_pull_interval_ms=15_000, gossip_to_the_dead_ms=15_000,
                   reconnect_interval_ms=5_000)

    @classmethod
    def wan(cls) -> SwimConfig:
        return cls(probe_interval_ms=5000, probe_timeout_ms=3000, suspicion_mult=6,
                   gossip_interval_ms=500, gossip_nodes=4, push_pull_interval_ms=60_000,
                   gossip_to_the_dead_ms=60_000, reconnect_interval_ms=30_000,
                   late_timer_slack_ms=3_000)

    def __post_init__(self) -> None:
        if self.probe_timeout_ms >= self.probe_interval_ms:
            raise ValueError("probe_timeout_ms must be below probe_interval_ms")
        positive = ("probe_interval_ms", "probe_timeout_ms", "suspicion_mult",
                    "suspicion_max_timeout_mult", "retransmit_mult", "gossip_interval_ms",
                    "push_pull_interval_ms", "reconnect_interval_ms", "join_retry_interval_ms",
                    "awareness_max_multiplier", "broadcast_queue_max", "members_max")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    def suspicion_min_ms(self, live_members: int) -> int:
        node_scale = max(1.0, math.log10(max(1, live_members)))
        return int(self.suspicion_mult * node_scale * self.probe_interval_ms)

    def suspicion_max_ms(self, live_members: int) -> int:
        return self.suspicion_max_timeout_mult * self.suspicion_min_ms(live_members)

    def retransmit_limit(self, live_members: int) -> int:
        return self.retransmit_mult * max(1, math.ceil(math.log(live_members + 1)))

    def detection_bound_ms(self, live_members: int) -> int:
        """Upper bound from a crash to DEAD at every live member, with a healthy network.

        Every survivor probes the crashed member once per shuffled round-robin cycle of
        ``live_members - 1`` intervals (shuffling can place it at both ends of two cycles), the
        round ends one interval later, then suspicion runs at most ``suspicion_max_ms`` and the
        DEAD fact needs a few gossip rounds to reach everyone.
        """
        first_probe_ms = 2 * max(1, live_members - 1) * self.probe_interval_ms
        round_ms = self.probe_interval_ms
        spread_ms = 2 * self.probe_interval_ms + self.retransmit_limit(live_members) * (
            self.gossip_interval_ms)
        # Lifeguard skips the maximum when the cluster is too small to confirm (suspicion.py).
        confirmers_possible = live_members - 2 >= self.suspicion_mult - 2
        suspicion_ms = (self.suspicion_max_ms(live_members) if confirmers_possible
                        else self.suspicion_min_ms(live_members))
        return first_probe_ms + round_ms + suspicion_ms + spread_ms
