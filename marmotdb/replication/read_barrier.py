"""ReadBarrier: what a QUORUM read waits for before it reads locally (DESIGN.md §4.4).

A write acknowledged at QUORUM is applied (or at least decided and logged) on a quorum of
members before its client is answered. A read at ``marmot_read_consistency = QUORUM`` asks
the live members for their applied vectors (``Vectors``) and, once a quorum of vectors is in
(this node's own included), takes their per-origin maximum for the read's database: any
write acknowledged before the read began is at or below it, because the quorum the read asked
and the quorum that acknowledged the write share a member. The read then waits until this
node has applied up to that vector — pulling what it lacks from the member that had it,
through catch-up — and runs on the local SQLite. It never blocks a write anywhere. If the
quorum of vectors or the catching up does not come within ``timeout_ms``, the read fails
with 1205 (retryable) rather than answer stale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.peer.endpoint import Completion, Outcome, PeerEndpoint
from marmotdb.replication.messages import Vectors, VectorsReply
from marmotdb.txn.pending import Pending

if TYPE_CHECKING:
    from marmotdb.replication.catch_up import CatchUp
    from marmotdb.txn.cluster import Peer

READ_BARRIER_TIMEOUT_MS = 5000


class _Barrier:
    __slots__ = ("database", "pending", "vectors", "asked", "target", "timer", "sources")

    def __init__(self, database: str, asked: int):
        self.database = database
        self.pending = Pending()
        self.vectors: list[dict[int, int]] = []
        self.asked = asked
        self.target: dict[int, int] | None = None
        self.timer: object = None
        self.sources: dict[int, Peer] = {}  # origin -> a member that had applied furthest


class ReadBarrier:
    def __init__(self, catch_up: CatchUp, endpoint: PeerEndpoint, node_id: int,
                 roster: Callable[[], list[Peer]], now_ms: Callable[[], int],
                 call_later: Callable[[float, Callable[[], None]], object],
                 timeout_ms: int = READ_BARRIER_TIMEOUT_MS):
        self._catch_up = catch_up
        self._endpoint = endpoint
        self._node_id = node_id
        self._roster = roster
        self._now_ms = now_ms
        self._call_later = call_later
        self._timeout_ms = timeout_ms
        self._waiting: list[_Barrier] = []

    def wait(self, database: str) -> Pending | None:
        """None when this node alone is a quorum; else a Pending resolved when the read may
        run (or failed with 1205)."""
        members = self._roster()
        quorum = len(members) // 2 + 1
        peers = [p for p in members if p.node_id != self._node_id and p.live]
        if quorum <= 1:
            return None
        barrier = _Barrier(database, quorum)
        # Our own answer counts like a peer's: applied raised to what we accepted. When this
        # node is the member the write's quorum and the read's share, its acceptance is the
        # only trace of the write in the read's quorum (the learn may still be on its way).
        barrier.vectors.append(self._catch_up.advertised(database=database).get(database, {}))
        barrier.timer = self._call_later(self._timeout_ms / 1000, lambda: self._expire(barrier))
        self._waiting.append(barrier)
        now_ms = self._now_ms()
        for peer in peers:
            self._endpoint.request_or_fail(
                peer.addr, Vectors(), now_ms + self._timeout_ms, now_ms,
                lambda done, peer=peer: self._on_vectors(barrier, peer, done))
        return barrier.pending

    def _on_vectors(self, barrier: _Barrier, peer: Peer, done: Completion) -> None:
        reply = done.reply
        if barrier.pending.done() or barrier.target is not None \
                or done.outcome is not Outcome.REPLIED or not isinstance(reply, VectorsReply):
            return
        vector = reply.databases.get(barrier.database, {})
        for origin, seq in vector.items():
            if seq > max((v.get(origin, 0) for v in barrier.vectors), default=0):
                barrier.sources[origin] = peer
        barrier.vectors.append(vector)
        if len(barrier.vectors) >= barrier.asked:
            barrier.target = {}
            for known in barrier.vectors:
                for origin, seq in known.items():
                    barrier.target[origin] = max(barrier.target.get(origin, 0), seq)
            self.check()

    def check(self) -> None:
        """After a quorum answered, and after every apply (catch-up, learn): release the reads
        that may run."""
        if not self._waiting:
            return
        ours = self._catch_up.vectors()
        for barrier in list(self._waiting):
            if barrier.target is None:
                continue
            have = ours.get(barrier.database, {})
            behind = {o: s for o, s in barrier.target.items() if have.get(o, 0) < s}
            if not behind:
                self._release(barrier)
                continue
            for origin in behind:
                source = barrier.sources.get(origin)
                if source is not None:
                    self._catch_up.pull_from(source, barrier.database, origin,
                                             have.get(origin, 0))

    def _release(self, barrier: _Barrier, error: BaseException | None = None) -> None:
        if barrier in self._waiting:
            self._waiting.remove(barrier)
        if barrier.timer is not None:
            barrier.timer.cancel()  # type: ignore[attr-defined]
        if error is None:
            barrier.pending.resolve(None)
        else:
            barrier.pending.fail(error)

    def _expire(self, barrier: _Barrier) -> None:
        barrier.timer = None
        if not barrier.pending.done():
            self._release(barrier, errors.error(
                errors.ER_LOCK_WAIT_TIMEOUT, "marmotdb: a QUORUM read could not learn or "
                "catch up to a quorum's commits in time; try again"))
