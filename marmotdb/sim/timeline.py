"""Timeline: the global time of one seeded run — its event queue, random streams and trace hash.

Both multi-node simulators (``world.World`` for membership, ``cluster_world.ClusterWorld`` for
the distributed commit) are a ``Timeline``: one queue ordered by (global time in µs, sequence
number) holds every delivery, timer and scenario action, so a run is a pure function of its
seed; ``rng_for`` derives an independent ``random.Random`` per subsystem from the seed (adding
a node or a restart does not shift the others' streams); everything that happens is fed to a
SHA-256 trace hash, and two runs of one seed must print the same one (FoundationDB's unseed
check).
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from typing import Any

EVENTS_MAX = 20_000_000  # a runaway run (a livelocked timer) fails instead of hanging CI


class SimulationError(RuntimeError):
    """The simulator itself went wrong (livelock, runaway event count)."""


class Timeline:
    def __init__(self, seed: int, events_max: int = EVENTS_MAX):
        self.seed = seed
        self.now_us = 0
        self.events_processed = 0
        self.events_max = events_max
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._trace = hashlib.sha256()

    def rng_for(self, *subsystem: object) -> random.Random:
        """An independent, reproducible random stream for one subsystem of this run."""
        return random.Random(":".join(str(s) for s in (self.seed, *subsystem)))

    def at(self, at_us: int, action: Callable[..., None], *args: Any) -> None:
        """Schedule an action (or any callback) at global time ``at_us`` (not in the past)."""
        self._push(max(at_us, self.now_us), action, args)

    def run_until(self, end_us: int) -> None:
        while self._queue and self._queue[0][0] <= end_us:
            at_us, _, action, args = heapq.heappop(self._queue)
            self.now_us = at_us
            action(*args)
            self.events_processed += 1
            if self.events_processed > self.events_max:
                raise SimulationError(f"more than {self.events_max} events: runaway simulation")
        self.now_us = max(self.now_us, end_us)

    def trace_hash(self) -> str:
        return self._trace.copy().hexdigest()

    def _push(self, at_us: int, action: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at_us, self._seq, action, args))
