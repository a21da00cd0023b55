"""Retention: commit-log trimming and tombstone collection (DESIGN.md §4.2-4.3).

Theory of operation
-------------------
Every ``log_trim_interval_ms`` the node runs, per database, one bounded step through the
database's commit pipeline (``run_exclusive``: never beside an apply or a batch). A step
handles at most ``STEP_ROWS_MAX`` rows; one that found that many is followed by another
shortly.

*What every member applied.* CatchUp keeps each peer's last ``VectorsReply``; the applied
vector of a member is its advertised one lowered by ``applied_below``. ``everywhere[origin]``
is the minimum over every member of the roster — DEAD ones included, they may come back;
LEAVING and REMOVED ones are not in the roster — and this node. A member not heard from
since this node started makes it unknown: nothing is trimmed or collected on its account.

*Log trimming.* Entries at or below ``everywhere`` are trimmed, and, even if a member lags,
entries committed more than ``log_retention_max_hours`` ago (0: never by age); that member
then restores a snapshot (snapshot_transfer.py). The newest entry of each origin is kept
(the horizon below needs its timestamp), and nothing above this node's own vector is ever
trimmed (``commitlog.trim_log`` clamps). At most ``commitlog.TRIM_ROWS_MAX`` rows per step.
CDC sinks hold the log too (cdc/DESIGN.md §5): ``holds(database)`` (set by the runtime's CDC
service) gives per origin the lowest cursor of this node's live sinks, and nothing above it is
trimmed, by membership or by age; an origin it does not name is held whole. The hold is bounded
by ``cdc.backlog_max_bytes``: past it the CDC service fails the sink and stops holding for it.

*Tombstone collection, the rule.* A tombstone of version ``t`` is dropped when ``t`` is below
the horizon ``H`` = the minimum of

* per origin ``o`` some member has not applied all of (as far as this node knows): the
  commit timestamp of ``o``'s first entry not applied everywhere (``everywhere[o] + 1``). An
  origin's commit timestamps grow with its sequence (the HLC issues both at once), so every
  write of ``o`` below ``H`` is applied on every member;
* for an origin every member applied all of, nothing: its later commits are above its clock
  (next point) — unless some member reports undecided instances (``in_doubt``), then the next
  timestamp after its newest entry (an undecided batch of ``o`` has a higher sequence, so a
  higher timestamp), or it is no member any more (then too);
* the next timestamp after every member's HLC as it last reported it
  (``VectorsReply.clock``, ours included): a member's later commits are above it;
* ``now - TOMBSTONE_GRACE_MS``: a batch in flight at a member when it answered (not decided,
  not yet in doubt) lives at most the prepare and decision timeouts, answers older than
  ``REPLY_FRESH_MS`` do not count, so such a batch is younger than the horizon.

Nothing is collected while this node is behind any member it heard from (it may not hold the
entries that bound ``H``), while a member is unknown or not heard from recently (a DEAD member
holds collection back until it is back or REMOVED), or while the entry that bounds an origin
was trimmed by age. ``versions.gc_tombstones`` records ``H`` as the database's horizon, which
``lacks_bases`` and ``stale_changes`` read (storage/versions.py): a collected tombstone's
version, being below ``H``, was applied on every member, so no older write can still arrive
to resurrect the row, and no member lacks the delete a later write was built on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw

from marmotdb.errors import MarmotError
from marmotdb.hlc import Timestamp
from marmotdb.storage import commitlog, versions

if TYPE_CHECKING:
    from marmotdb.replication.catch_up import CatchUp
    from marmotdb.sql.server_state import ServerState
    from marmotdb.txn.cluster import Peer

logger = logging.getLogger("marmotdb.replication")
LOG_TRIM_INTERVAL_MS = 10_000
LOG_RETENTION_MAX_HOURS = 24.0
# Tombstones younger than this stay: far above the life of a batch not yet reported in doubt
# (prepare + decision timeouts) plus the age of a member's answer that counts as fresh.
TOMBSTONE_GRACE_MS = 60_000
REPLY_FRESH_MS = 30_000
_HOUR_MS = 3_600_000
# Rows trimmed (and tombstones collected) per step: one short write transaction on the
# event loop; a step that finds this many is followed by another after STEP_PAUSE_MS.
STEP_ROWS_MAX = 1_000
STEP_PAUSE_MS = 20


class Retention:
    def __init__(self, state: ServerState, catch_up: CatchUp, node_id: int,
                 roster: Callable[[], list[Peer]], now_ms: Callable[[], int],
                 interval_ms: int = LOG_TRIM_INTERVAL_MS,
                 retention_max_hours: float = LOG_RETENTION_MAX_HOURS,
                 grace_ms: int = TOMBSTONE_GRACE_MS):
        self._state = state
        self._catch_up = catch_up
        self._node_id = node_id
        self._roster = roster
        self._now_ms = now_ms
        self._interval_ms = interval_ms
        self.retention_ms = int(retention_max_hours * _HOUR_MS)
        self.grace_ms = grace_ms
        self.trimmed = 0     # log entries trimmed (metrics)
        self.collected = 0   # tombstones collected (metrics)
        self._running: set[str] = set()
        # CDC: database -> per origin the log position its sinks still need (None: no hold)
        self.holds: Callable[[str], dict[int, int] | None] | None = None
        self._timer = state.host.call_later(interval_ms / 1000, self._tick)

    def _tick(self) -> None:
        self._timer = self._state.host.call_later(self._interval_ms / 1000, self._tick)
        for database in self._state.databases.names():
            self.run(database)

    def run(self, database: str) -> None:
        """One bounded trim-and-collect step of ``database`` (through its pipeline); another
        follows soon while a step finds a full batch of work."""
        state = self._state
        snapshots = self._catch_up.snapshots
        if database in self._running or snapshots is not None and snapshots.active(database):
            return
        try:
            pipeline = state.pipeline(state.databases.get(database))
        except MarmotError:
            return  # dropped meanwhile
        members = self.applied_everywhere(database)
        everywhere, now_ms = members.everywhere, self._now_ms()
        cutoff = Timestamp(now_ms - self.retention_ms, 0, 0) \
            if self.retention_ms > 0 else None
        held = self.holds(database) if self.holds is not None else None
        self._running.add(database)

        def work(conn: apsw.Connection) -> tuple[int, int]:
            horizon = _horizon(conn, members, now_ms, self.grace_ms)
            watermark = dict(everywhere or {})
            if cutoff is not None:
                for origin, seq in commitlog.retention_watermark(conn, cutoff).items():
                    watermark[origin] = max(watermark.get(origin, 0), seq)
            vector = commitlog.applied_vector(conn)
            watermark = {origin: min(seq, vector.get(origin, 0) - 1)  # keep the newest
                         for origin, seq in watermark.items()}
            if held is not None:  # what CDC sinks have not published yet stays
                watermark = {origin: min(seq, held.get(origin, 0))
                             for origin, seq in watermark.items()}
            if not any(seq > 0 for seq in watermark.values()) and horizon is None:
                return 0, 0
            with conn:
                trimmed = commitlog.trim_log(conn, watermark, STEP_ROWS_MAX)
                collected = versions.gc_tombstones(conn, horizon, STEP_ROWS_MAX) \
                    if horizon is not None else 0
            return trimmed, collected

        def done(pending: Any) -> None:
            self._running.discard(database)
            try:
                trimmed, collected = pending.result()
            except Exception:  # noqa: BLE001 - tried again at the next interval
                logger.warning("trimming %s failed; retrying later", database, exc_info=True)
                return
            self.trimmed += trimmed
            self.collected += collected
            if trimmed or collected:
                logger.debug("%s: %d log entries trimmed, %d tombstones collected", database,
                             trimmed, collected)
            if max(trimmed, collected) >= STEP_ROWS_MAX:  # more to do: soon, in a new step
                state.host.call_later(STEP_PAUSE_MS / 1000, lambda: self.run(database))
        try:
            pipeline.run_exclusive(work).add_done_callback(done)
        except MarmotError:
            self._running.discard(database)

    def applied_everywhere(self, database: str) -> Members:
        """What the members applied of ``database``, as last heard (``Members``)."""
        replies, heard_ms = self._catch_up.replies, self._catch_up.heard_ms
        now_ms = self._now_ms()
        own = self._catch_up.vector(database)
        vectors, clocks = [own], [self._state.hlc.last.pack()]
        in_doubt = self._catch_up.in_doubt_here()
        known = fresh = True
        ids = set()
        for peer in self._roster():
            ids.add(peer.node_id)
            if peer.node_id == self._node_id:
                continue
            reply = replies.get(peer.node_id)
            if reply is None:
                known = fresh = False
                continue
            fresh = fresh and now_ms - heard_ms.get(peer.node_id, 0) <= REPLY_FRESH_MS
            vector = dict(reply.databases.get(database, {}))
            vector.update(reply.applied_below.get(database, {}))
            vectors.append(vector)
            clocks.append(reply.clock)
            in_doubt += reply.in_doubt
        origins = {origin for vector in vectors for origin in vector}
        newest = {o: max(v.get(o, 0) for v in vectors) for o in origins}
        everywhere = {o: min(v.get(o, 0) for v in vectors) for o in origins} if known else None
        return Members(everywhere, newest, min(clocks), fresh and all(clocks), in_doubt > 0,
                       frozenset(ids))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


@dataclass(frozen=True)
class Members:
    everywhere: dict[int, int] | None  # per origin the lowest position any member applied
    newest: dict[int, int]             # per origin the highest
    clock: int                         # the lowest member HLC (packed) heard
    fresh: bool                        # every member heard within REPLY_FRESH_MS
    in_doubt: bool                     # some member holds undecided instances
    ids: frozenset[int]                # the roster


def _horizon(conn: apsw.Connection, members: Members, now_ms: int,
             grace_ms: int) -> Timestamp | None:
    """The tombstone collection horizon (module docstring), or None: collect nothing."""
    everywhere = members.everywhere
    if everywhere is None or not members.fresh:
        return None
    vector = commitlog.applied_vector(conn)
    if any(seq > vector.get(origin, 0) for origin, seq in members.newest.items()):
        return None  # behind a member: entries we do not hold may bound the horizon
    horizon = min(Timestamp.unpack(members.clock + 1, 0),  # a member's next commit is above
                  Timestamp(now_ms - grace_ms, 0, 0))
    for origin, seq in vector.items():
        upto = everywhere.get(origin, 0)
        if upto >= seq and origin in members.ids and not members.in_doubt:
            continue  # all applied everywhere; its later commits are above its clock
        bound = commitlog.commit_ts_of(conn, origin, upto + 1 if upto < seq else seq)
        if bound is None:
            return None  # trimmed by age, or never logged here: cannot bound this origin
        if upto >= seq:  # its next commit is above its newest
            bound = Timestamp.unpack(bound.pack() + 1, 0)
        horizon = min(horizon, bound)
    return horizon
