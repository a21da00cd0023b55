"""SwimStats: the counters a membership node keeps for metrics (plain ints, no clock)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class SwimStats:
    """Counters since the node started. The runtime exports them (Prometheus)."""

    frames_sent: int = 0
    bytes_sent: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    frames_rejected: dict[str, int] = dataclasses.field(default_factory=dict)  # by reason
    frames_from_removed: int = 0
    probes_sent: int = 0
    probes_failed: int = 0
    probes_inconclusive: int = 0  # rounds we overslept (late-timer guard)
    indirect_probes_sent: int = 0
    suspicions_started: int = 0
    deaths_declared: int = 0
    refutations: int = 0
    push_pulls_sent: int = 0
    gossip_packets_sent: int = 0
