"""ProbeSchedule: which member to probe next, in shuffled round-robin order.

Picking a uniformly random member each interval (the original SWIM) leaves a failed member
unprobed for a long time with some probability. Shuffled round-robin (SWIM paper §4.3, as in
memberlist) walks a random permutation of the members and reshuffles at the end of each pass, so
every member is probed by every node at least once per ``2 * (n - 1)`` intervals, which bounds
the detection time. A member that joins mid-pass is inserted at a random position of the rest of
the current pass, so it neither waits a whole pass nor jumps the queue.

Randomness is the caller's seeded ``random.Random``; member lists are sorted before shuffling so
the order depends only on the seed, not on set or hash ordering.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable


class ProbeSchedule:
    def __init__(self, rng: random.Random):
        self._rng = rng
        self._order: list[int] = []
        self._position = 0
        self._known: set[int] = set()

    def add(self, node_id: int) -> None:
        """Insert a newly probeable member at a random place in the remaining pass."""
        if node_id in self._known:
            return
        self._known.add(node_id)
        index = self._rng.randint(self._position, len(self._order))
        self._order.insert(index, node_id)

    def discard(self, node_id: int) -> None:
        """Forget a member (it left, was removed, or was reaped). Dead members stay: see next()."""
        if node_id not in self._known:
            return
        self._known.discard(node_id)
        index = self._order.index(node_id)
        del self._order[index]
        if index < self._position:
            self._position -= 1

    def next(self, is_probeable: Callable[[int], bool]) -> int | None:
        """The next member to probe, skipping those ``is_probeable`` rejects; None if none is."""
        for _ in range(2 * len(self._order) + 1):
            if self._position >= len(self._order):
                self._reshuffle()
                if not self._order:
                    return None
            node_id = self._order[self._position]
            self._position += 1
            if is_probeable(node_id):
                return node_id
        return None

    def reset(self, node_ids: Iterable[int]) -> None:
        self._known = set(node_ids)
        self._order = sorted(self._known)
        self._rng.shuffle(self._order)
        self._position = 0

    def _reshuffle(self) -> None:
        self._order.sort()
        self._rng.shuffle(self._order)
        self._position = 0
