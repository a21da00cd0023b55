"""Suspicion: the Lifeguard suspicion timer of one suspected member.

When a member is suspected, each node that learns of it starts its own timer; whichever node's
timer expires first declares the member DEAD. Lifeguard ("Lifeguard: Local Health Awareness for
More Accurate Failure Detection", Dadgar et al. 2018) starts that timer at a generous maximum
and shrinks it toward a minimum as *independent* confirmations arrive (other nodes that also
suspect the member): one confused node cannot kill a healthy member quickly, while a member that
everybody fails to reach is declared dead almost as soon as with a fixed short timeout.

    timeout(c) = max(min, max - (max - min) * log(c + 1) / log(k + 1))

with ``c`` confirmations so far and ``k`` the confirmations we expect. When the cluster is too
small to supply ``k`` confirmers (``k = suspicion_mult - 2`` needs ``n - 2 >= k``), ``k`` is 0 and
the timer runs at the minimum directly, as memberlist does.

Pure: no clock. The owner passes ``now_ms`` and asks for ``deadline_ms``.
"""

from __future__ import annotations

import math


def suspicion_timeout_ms(confirmations: int, expected: int, min_ms: int, max_ms: int) -> int:
    """The Lifeguard timeout after ``confirmations`` of ``expected`` independent confirmations."""
    if expected <= 0 or min_ms >= max_ms:
        return min_ms
    fraction = math.log(confirmations + 1) / math.log(expected + 1)
    return max(min_ms, int(max_ms - (max_ms - min_ms) * fraction))


def expected_confirmations(suspicion_mult: int, live_members: int) -> int:
    """How many independent confirmations a suspicion waits for before running at the minimum."""
    wanted = max(0, suspicion_mult - 2)
    # The suspect itself and this node cannot confirm; with fewer possible confirmers than
    # wanted the timer would always sit near the maximum, so use the minimum instead.
    return wanted if live_members - 2 >= wanted else 0


class Suspicion:
    """Timer state of one suspicion: start time, bounds and the distinct confirmers seen."""

    def __init__(self, origin_id: int, start_ms: int, expected: int, min_ms: int, max_ms: int):
        self.start_ms = start_ms
        self.expected = expected
        self.min_ms = min_ms
        self.max_ms = max(min_ms, max_ms)
        self._confirmers: set[int] = {origin_id}
        self.extended = False  # the late-timer guard extends a suspicion at most once

    @property
    def confirmations(self) -> int:
        """Independent confirmations beyond the node that raised the suspicion."""
        return len(self._confirmers) - 1

    def confirm(self, from_id: int) -> bool:
        """Count a confirmation from ``from_id``; True when it is new and still shrinks the timer.

        Bounded: once ``expected`` confirmations are in, the timer is at its minimum and more
        confirmers change nothing, so they are not stored (and not re-gossiped by the caller).
        """
        if self.confirmations >= self.expected or from_id in self._confirmers:
            return False
        self._confirmers.add(from_id)
        return True

    def deadline_ms(self) -> int:
        timeout = suspicion_timeout_ms(self.confirmations, self.expected, self.min_ms, self.max_ms)
        return self.start_ms + timeout

    def extend(self, now_ms: int) -> None:
        """Give the suspect one more minimum timeout from ``now_ms`` (the late-timer guard)."""
        self.extended = True
        self.start_ms = now_ms - (self.deadline_ms() - self.start_ms) + self.min_ms
