"""BroadcastQueue: updates waiting to be piggybacked, each sent a bounded number of times.

SWIM disseminates membership facts "epidemically": every probe, ack and gossip packet carries a
few queued updates. An update is sent at most ``retransmit_limit(n)`` times
(``retransmit_mult * ceil(log10(n + 1))``), which with random targets reaches every member with
high probability, then dropped. Updates sent fewer times go first, so news overtakes old news.

One entry per member: a newer fact about a member replaces the queued one (it supersedes it; its
transmit count restarts at zero). The queue is bounded by ``broadcast_queue_max``; when full, the
most-transmitted entry is dropped, since it is the one most likely known everywhere already.
Push-pull repairs anything lost this way.
"""

from __future__ import annotations

import dataclasses

from marmotdb.cluster.messages import MemberUpdate


@dataclasses.dataclass
class _Entry:
    update: MemberUpdate
    size_bytes: int
    transmits: int
    order: int  # insertion order: a deterministic tie-break among equal transmit counts


class BroadcastQueue:
    def __init__(self, queue_max: int):
        self.queue_max = queue_max
        self._entries: dict[int, _Entry] = {}
        self._order = 0
        self.dropped = 0  # updates evicted by the bound (a metric)

    def __len__(self) -> int:
        return len(self._entries)

    def enqueue(self, update: MemberUpdate, size_bytes: int) -> None:
        """Queue ``update``, replacing any queued update about the same member."""
        self._entries.pop(update.node_id, None)
        if len(self._entries) >= self.queue_max:
            self._evict_one()
        self._order += 1
        self._entries[update.node_id] = _Entry(update, size_bytes, 0, self._order)

    def pending_about(self, node_id: int) -> MemberUpdate | None:
        entry = self._entries.get(node_id)
        return entry.update if entry else None

    def take(self, budget_bytes: int, retransmit_limit: int,
             exclude_node_id: int | None = None) -> list[MemberUpdate]:
        """Updates fitting ``budget_bytes`` (fewest transmits first); counts one transmit each.

        ``exclude_node_id`` skips updates about the packet's destination that the caller sends
        separately (so it is not sent twice in one packet).
        """
        chosen: list[MemberUpdate] = []
        for entry in sorted(self._entries.values(), key=lambda e: (e.transmits, e.order)):
            if entry.update.node_id == exclude_node_id or entry.size_bytes > budget_bytes:
                continue
            budget_bytes -= entry.size_bytes
            chosen.append(entry.update)
            entry.transmits += 1
            if entry.transmits >= retransmit_limit:
                del self._entries[entry.update.node_id]
        return chosen

    def take_oversize(self, budget_bytes: int) -> list[MemberUpdate]:
        """Remove and return updates too big to ever be piggybacked within ``budget_bytes``."""
        big = [e.update for e in self._entries.values() if e.size_bytes > budget_bytes]
        for update in big:
            del self._entries[update.node_id]
        return big

    def _evict_one(self) -> None:
        victim = max(self._entries.values(), key=lambda e: (e.transmits, -e.order))
        del self._entries[victim.update.node_id]
        self.dropped += 1
