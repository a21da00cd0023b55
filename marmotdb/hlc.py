"""Hybrid logical clock: the one clock for ordering transactions and for last-write-wins.

Theory of operation
-------------------
A timestamp is ``(wall_ms, logical, node_id)``. ``wall_ms`` follows the physical clock when
that clock moves forward; ``logical`` counts events inside one millisecond, and keeps counting
when the physical clock stalls or jumps backwards, so a node never issues a timestamp twice
nor goes back in time. ``node_id`` breaks ties: two nodes may issue the same
``(wall_ms, logical)``, and the higher node id is "later". Timestamps therefore form a total
order across the cluster, and a plain tuple comparison implements it.

``now()`` is called for local events (start of a transaction, a commit timestamp);
``update(remote)`` is called whenever a timestamp arrives from a peer and returns a local
timestamp later than both the remote one and everything issued here before. A remote
timestamp more than ``max_clock_offset_ms`` ahead of our physical clock is refused with
``ClockOffsetError`` and *not* absorbed: absorbing it would drag this node's clock (and every
later commit timestamp) into the future of a broken peer clock.

``(wall_ms, logical)`` packs into one 64-bit integer, ``wall_ms << 16 | logical``; the node id
travels beside it. When ``logical`` would exceed 16 bits (more than 65,536 events in one
millisecond), the clock borrows the next millisecond instead of wrapping: order is kept and
the physical clock catches up within a millisecond.

The physical clock is a passed-in callable (``physical_ms``), so tests and the simulator drive
time by hand. A node that persists ``last`` and passes it back on restart never reissues a
timestamp even if its physical clock went backwards while it was down.

Public API::

    Timestamp(wall_ms, logical, node_id)   NamedTuple, ordered; .pack() -> int;
                                           Timestamp.unpack(packed, node_id)
    HLC(node_id, physical_ms, max_clock_offset_ms=500, last=None)
        .now() -> Timestamp
        .update(remote: Timestamp) -> Timestamp     raises ClockOffsetError
        .last -> Timestamp                           the latest timestamp issued
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

from marmotdb.errors import ClockOffsetError

LOGICAL_BITS = 16
LOGICAL_MAX = (1 << LOGICAL_BITS) - 1
# 47 bits of milliseconds (~4,400 years) keep the packed value a positive signed 64-bit
# integer, which is what SQLite stores natively.
WALL_MS_MAX = (1 << 47) - 1
NODE_ID_MAX = (1 << 63) - 1
DEFAULT_MAX_CLOCK_OFFSET_MS = 500


class Timestamp(NamedTuple):
    """An HLC timestamp. Tuple order = (wall_ms, logical, node_id) = cluster-wide order."""

    wall_ms: int
    logical: int
    node_id: int

    def pack(self) -> int:
        """``wall_ms << 16 | logical`` as one non-negative 64-bit integer (node id excluded)."""
        return (self.wall_ms << LOGICAL_BITS) | self.logical

    @classmethod
    def unpack(cls, packed: int, node_id: int) -> Timestamp:
        if not 0 <= packed <= (WALL_MS_MAX << LOGICAL_BITS | LOGICAL_MAX):
            raise ValueError(f"packed HLC timestamp out of range: {packed}")
        return cls(packed >> LOGICAL_BITS, packed & LOGICAL_MAX, node_id)

    def __str__(self) -> str:
        return f"{self.wall_ms}.{self.logical}@{self.node_id}"


ZERO = Timestamp(0, 0, 0)


def _check(ts: Timestamp) -> None:
    if not (0 <= ts.wall_ms <= WALL_MS_MAX and 0 <= ts.logical <= LOGICAL_MAX
            and 0 <= ts.node_id <= NODE_ID_MAX):
        raise ValueError(f"HLC timestamp out of range: {ts!r}")


class HLC:
    """A hybrid logical clock for one node. Its calls hold ``lock``: no lock by default (one
    owner calls it); a host whose writer threads record long writes' commits while the event
    loop runs sets a ``threading.Lock`` (runtime/node_host.py, txn/DESIGN.md §2.1)."""

    def __init__(self, node_id: int, physical_ms: Callable[[], int],
                 max_clock_offset_ms: int = DEFAULT_MAX_CLOCK_OFFSET_MS,
                 last: Timestamp | None = None):
        if not 0 <= node_id <= NODE_ID_MAX:
            raise ValueError(f"node id out of range: {node_id}")
        if max_clock_offset_ms < 0:
            raise ValueError("max_clock_offset_ms must be >= 0")
        self.node_id = node_id
        self.max_clock_offset_ms = max_clock_offset_ms
        self._physical_ms = physical_ms
        self._wall_ms = 0
        self._logical = 0
        self.lock: AbstractContextManager[Any] = nullcontext()
        if last is not None:
            _check(last)
            self._wall_ms, self._logical = last.wall_ms, last.logical

    @property
    def last(self) -> Timestamp:
        return Timestamp(self._wall_ms, self._logical, self.node_id)

    def now(self) -> Timestamp:
        """A timestamp later than every one this clock has issued or seen."""
        with self.lock:
            physical = self._physical_ms()
            if physical > self._wall_ms:
                return self._issue(physical, 0)
            return self._issue(self._wall_ms, self._logical + 1)

    def update(self, remote: Timestamp) -> Timestamp:
        """Absorb a peer's timestamp; the result is later than ``remote`` and than ``last``."""
        _check(remote)
        physical = self._physical_ms()
        ahead_ms = remote.wall_ms - physical
        if ahead_ms > self.max_clock_offset_ms:
            raise ClockOffsetError(
                f"timestamp from node {remote.node_id} is {ahead_ms} ms ahead of this node's "
                f"clock (max_clock_offset_ms={self.max_clock_offset_ms})")
        with self.lock:
            wall_ms = max(physical, self._wall_ms, remote.wall_ms)
            logical = self._next_logical(wall_ms, remote)
            return self._issue(wall_ms, logical)

    def witness(self, stored: Timestamp) -> Timestamp:
        """Absorb the timestamp of a row version already committed here (applied from a peer,
        or found in the log at start), however far ahead: this node's next commit of that row
        must be above it, or every write of the row would fail until the wall clock caught
        up. ``update`` is for timestamps a node may still refuse (a vote, a prepare)."""
        _check(stored)
        with self.lock:
            wall_ms = max(self._physical_ms(), self._wall_ms, stored.wall_ms)
            return self._issue(wall_ms, self._next_logical(wall_ms, stored))

    def _next_logical(self, wall_ms: int, remote: Timestamp) -> int:
        local_wall, remote_wall = wall_ms == self._wall_ms, wall_ms == remote.wall_ms
        if local_wall and remote_wall:
            return max(self._logical, remote.logical) + 1
        if local_wall:
            return self._logical + 1
        if remote_wall:
            return remote.logical + 1
        return 0

    def _issue(self, wall_ms: int, logical: int) -> Timestamp:
        if logical > LOGICAL_MAX:
            # Borrow the next millisecond rather than wrap: order is preserved and the
            # physical clock catches up within one millisecond.
            wall_ms, logical = wall_ms + 1, 0
        if wall_ms > WALL_MS_MAX:
            raise ValueError(f"HLC wall clock out of range: {wall_ms}")
        self._wall_ms, self._logical = wall_ms, logical
        return Timestamp(wall_ms, logical, self.node_id)
