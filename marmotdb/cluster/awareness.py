"""Awareness: Lifeguard local health, a score of how likely *this* node is the slow one.

A node that is overloaded (CPU, GC, a full socket buffer) misses acks from healthy members and,
without this, would suspect them one after another. Lifeguard keeps a health score: it rises when
a probe fails while the relays did not even send their nacks (so our own messages are not getting
through or not being processed in time), and when we must refute a suspicion about ourselves; it
falls with every successful probe. Probe interval and timeout are multiplied by ``score + 1``,
so an unhealthy node probes less often and waits longer before it accuses anyone.
"""

from __future__ import annotations


class Awareness:
    """Health score in ``[0, multiplier_max - 1]``; 0 is healthy."""

    def __init__(self, multiplier_max: int):
        if multiplier_max < 1:
            raise ValueError("multiplier_max must be at least 1")
        self.multiplier_max = multiplier_max
        self.score = 0

    def apply_delta(self, delta: int) -> None:
        self.score = min(self.multiplier_max - 1, max(0, self.score + delta))

    def scale_ms(self, timeout_ms: int) -> int:
        """``timeout_ms`` stretched by the current health score."""
        return timeout_ms * (self.score + 1)

    @staticmethod
    def probe_failure_delta(nacks_expected: int, nacks_received: int) -> int:
        """Score change after a failed probe round (memberlist's rule)."""
        if nacks_expected == 0:
            return 1
        return max(0, nacks_expected - nacks_received)
