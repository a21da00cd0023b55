"""CatchUp: a node pulls the committed transactions it missed from its peers' commit logs.

Theory of operation (DESIGN.md §4.3)
------------------------------------
Every node logs every transaction it applies, with its origin and the origin's sequence, and
keeps per database an applied vector (origin -> highest contiguous sequence applied here).
A node that was down or cut off while others committed has a gap. Every
``catch_up_interval_ms`` the node asks one live peer (round robin) for its vectors
(``Vectors``); for each database and origin where the peer is ahead, it pulls that origin's
entries after its own position (``PullLog``, at most ``LOG_READ_ENTRIES_MAX`` per answer) and
applies them in one SQLite transaction on the database's write connection (the commit
pipeline's ``run_exclusive``: the same deterministic, last-write-wins, duplicate-proof
``apply`` every replica uses), then pulls on while the peer has more. A database the peer has
and this node does not is created first. One pull per (database, origin) is in flight at a
time (an entry built on another origin's DDL not here yet waits for it, as for a missing row
version: ``versions.lacks_bases``); an apply that fails is retried
at the next interval.

Only entries a peer logged are pulled: they are decided (committed, or an abort marker), so
catch-up never applies an undecided transaction.

Logs are trimmed (retention.py). A peer's answer says, per origin whose log it trimmed, the
lowest sequence it still serves (``floors``); when a gap starts below it and no other live
peer we heard from serves it, the database is restored from a snapshot of that peer instead
(snapshot_transfer.py), and pulling resumes from the snapshot's vector. While a snapshot of a
database is under way, nothing of it is pulled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import apsw

from marmotdb.accounts.store import ACCOUNTS_DATABASE
from marmotdb.peer.endpoint import Completion, IncomingRequest, Outcome, PeerEndpoint
from marmotdb.replication.messages import LogEntries, PullLog, Vectors, VectorsReply
from marmotdb.replication.snapshot_transfer import SnapshotTransfers
from marmotdb.storage import commitlog, versions
from marmotdb.storage.apply import ApplyTransaction
from marmotdb.storage.writeset import WriteSet, decode_write_set

if TYPE_CHECKING:
    from marmotdb.sql.server_state import ServerState
    from marmotdb.txn.cluster import Peer

logger = logging.getLogger("marmotdb.replication")
Entry = tuple[WriteSet, bytes]  # a pulled log entry, decoded and as shipped
CATCH_UP_INTERVAL_MS = 1000
REQUEST_TIMEOUT_MS = 5000
BEHIND_LOG_INTERVAL_MS = 30_000  # while behind a peer, a log line this often says by how
#                                  much and what the next missing entries wait for


class CatchUp:
    def __init__(self, state: ServerState, endpoint: PeerEndpoint, node_id: int,
                 roster: Callable[[], list[Peer]], now_ms: Callable[[], int],
                 interval_ms: int = CATCH_UP_INTERVAL_MS,
                 in_doubt: Callable[[], int] = lambda: 0,
                 accepted: Callable[[], list[tuple[int, str, int]]] = lambda: [],
                 snapshots: SnapshotTransfers | None = None):
        self._state = state
        self._endpoint = endpoint
        self._node_id = node_id
        self._roster = roster
        self._now_ms = now_ms
        self._interval_ms = interval_ms
        self._next_peer = 0
        self._pulling: set[tuple[str, int]] = set()  # (database, origin) with a pull in flight
        # (database, origin) whose last page left entries waiting for another origin's, and
        # the peer that served it: pulled again as soon as anything else is applied here
        self._stalled: dict[tuple[str, int], Peer] = {}
        # why each stalled (database, origin) waits: its first entry held back and what
        # that entry was built on that is not here (lag_report, the periodic log line)
        self.stalled_why: dict[tuple[str, int], str] = {}
        # per database and origin, the entries its last page left waiting (at most a page:
        # a newer page of the origin replaces them); each pulled page is applied with them
        self._held: dict[str, dict[int, list[Entry]]] = {}
        self._behind_since_ms: int | None = None
        self._behind_logged_ms = 0
        self.entries_applied = 0
        self.on_applied: Callable[[], None] | None = None  # after each pull applied
        self._in_doubt = in_doubt
        self._accepted = accepted
        # what each peer last said of itself: (vectors by database, in-doubt instances)
        self.known: dict[int, tuple[dict[str, dict[int, int]], int, bool]] = {}
        self.replies: dict[int, VectorsReply] = {}  # each peer's last answer, in full
        self.heard_ms: dict[int, int] = {}  # when it came
        self.snapshots = snapshots
        # After a restart a node that holds other origins' commits may lack newer ones: its
        # LOCAL reads wait (as QUORUM reads) until a quorum showed it nothing it lacks.
        self.catching_up = any(origin != node_id for vector in self.vectors().values()
                               for origin in vector)
        self._matched: set[int] = set()  # peers whose last vectors had nothing we lack
        self._syncing: set[int] = set()  # peers asked out of turn (sync_with), not answered
        endpoint.on_request([Vectors], self._on_vectors)
        endpoint.on_request([PullLog], self._on_pull)
        self._timer = state.host.call_later(interval_ms / 1000, self._tick)

    # ------------------------------------------------------------------ serving peers
    def vectors(self) -> dict[str, dict[int, int]]:
        return {name: self._read(name, commitlog.applied_vector)
                for name in self._state.databases.names()}

    def schema_versions(self) -> dict[str, int]:
        """Each database's schema version here (its DDL count: ``PRAGMA user_version``)."""
        return {name: self._read(name, _user_version) for name in self._state.databases.names()}

    def in_doubt_here(self) -> int:
        return self._in_doubt()

    def vector(self, database: str) -> dict[int, int]:
        if not self._state.databases.exists(database):
            return {}
        return self._read(database, commitlog.applied_vector)

    def advertised(self, applied: dict[str, dict[int, int]] | None = None,
                   database: str | None = None) -> dict[str, dict[int, int]]:
        """What we answer ``Vectors`` with: the applied vectors, raised to every member a
        decision we accepted commits, and to the highest entry logged past a gap. A QUORUM
        write is acknowledged once a quorum accepted its decision, maybe before any of them
        applied it: a QUORUM read that asks a quorum must hear of it from the member both
        quorums share (read_barrier.py) — also once that member applied it (its acceptance
        is then forgotten) while an earlier entry of the same origin is still missing there
        (its applied vector stops below the gap). ``database``: that one only (a QUORUM read
        here)."""
        if applied is None:
            applied = self.vectors() if database is None else {database: self.vector(database)}
        vectors = {name: dict(vector) for name, vector in applied.items()}
        origins = {peer.node_id for peer in self._roster()}
        for name, vector in vectors.items():
            if not self._state.databases.exists(name):
                continue
            logged = self._read(name, lambda conn, vector=vector: commitlog.highest_logged(
                conn, origins | vector.keys()))
            for origin, seq in logged.items():
                if seq > vector.get(origin, 0):
                    vector[origin] = seq
        for origin, name, seq in self._accepted():
            if database is None or name == database:
                vector = vectors.setdefault(name, {})
                vector[origin] = max(vector.get(origin, 0), seq)
        return vectors

    def _on_vectors(self, request: IncomingRequest, now_ms: int) -> None:
        applied = self.vectors()
        advertised = self.advertised(applied)
        below = {}
        for database, vector in advertised.items():
            lower = {origin: applied.get(database, {}).get(origin, 0)
                     for origin, seq in vector.items()
                     if seq > applied.get(database, {}).get(origin, 0)}
            if lower:
                below[database] = lower
        floors = {}
        for database in applied:
            trimmed = self._read(database, commitlog.log_floors)
            if trimmed:
                floors[database] = trimmed
        snapshot = self.snapshots.describe() if self.snapshots is not None else ""
        self._endpoint.reply(request, VectorsReply(
            advertised, self._in_doubt(), self.catching_up, below, floors,
            self._state.hlc.last.pack(), snapshot, self.schema_versions()))

    def _on_pull(self, request: IncomingRequest, now_ms: int) -> None:
        message: PullLog = request.message  # type: ignore[assignment]
        if not self._state.databases.exists(message.database):
            self._endpoint.reply(request, LogEntries([], False))
            return
        limit = max(1, min(message.limit, commitlog.LOG_READ_ENTRIES_MAX))
        floor = self._read(message.database, commitlog.log_floors).get(message.origin, 1)
        if message.after + 1 < floor:  # trimmed here: the asker needs a snapshot
            self._endpoint.reply(request, LogEntries([], False))
            return
        entries = self._read(message.database, lambda conn: commitlog.read_origin(
            conn, message.origin, message.after, limit + 1))
        self._endpoint.reply(request, LogEntries([e.write_set for e in entries[:limit]],
                                                 len(entries) > limit))

    def _read(self, database: str, read: Callable[[apsw.Connection], Any]) -> Any:
        state = self._state
        conn = state.read_connection(state.databases.get(database))
        with state.binding(conn).trusted_scope():
            return read(conn)

    # ------------------------------------------------------------------ pulling
    def sync_with(self, node_id: int) -> None:
        """Compare with ``node_id`` now rather than at its turn of the round robin (a
        participant behind a write set's schema version: it pulls the DDL it lacks)."""
        peer = next((p for p in self._roster() if p.node_id == node_id and p.live), None)
        if peer is None or node_id == self._node_id or node_id in self._syncing:
            return
        self._syncing.add(node_id)
        self._ask(peer)

    def _ask(self, peer: Peer) -> None:
        now_ms = self._now_ms()

        def answered(done: Completion) -> None:
            self._syncing.discard(peer.node_id)
            self._compare(peer, done)
        self._endpoint.request_or_fail(peer.addr, Vectors(), now_ms + REQUEST_TIMEOUT_MS,
                                       now_ms, answered)

    def _tick(self) -> None:
        self._timer = self._state.host.call_later(self._interval_ms / 1000, self._tick)
        peers = [p for p in self._roster() if p.node_id != self._node_id and p.live]
        if not peers:
            return
        peer = peers[self._next_peer % len(peers)]
        self._next_peer += 1
        self._ask(peer)

    def _compare(self, peer: Peer, done: Completion) -> None:
        reply = done.reply
        if done.outcome is not Outcome.REPLIED or not isinstance(reply, VectorsReply):
            return
        self.known[peer.node_id] = (reply.databases, reply.in_doubt, reply.catching_up)
        self.replies[peer.node_id] = reply
        self.heard_ms[peer.node_id] = self._now_ms()
        ours = self.vectors()
        behind = False
        for database, vector in reply.databases.items():
            have = ours.get(database, {})
            if any(seq > have.get(origin, 0) for origin, seq in vector.items()):
                behind = True
            if self.snapshots is not None and self._needs_snapshot(peer, database, have):
                self._held.pop(database, None)  # the snapshot brings them (or newer)
                self.snapshots.need(peer, database)
                continue
            if self.snapshots is not None and self.snapshots.active(database):
                continue
            for origin, seq in vector.items():
                if seq > have.get(origin, 0) and (database, origin) not in self._pulling:
                    self._pull(peer, database, origin, have.get(origin, 0))
        if behind:
            self._matched.discard(peer.node_id)
        else:
            self._matched.add(peer.node_id)
        self._log_behind(behind)
        if self.catching_up and len(self._matched) + 1 >= len(self._roster()) // 2 + 1:
            self.catching_up = False
            logger.info("caught up with a quorum: serving LOCAL reads")

    def _needs_snapshot(self, peer: Peer, database: str, have: dict[int, int]) -> bool:
        """Is ``database`` behind ``peer`` by a gap that no live peer still logs, or empty
        here while the peer is far ahead (a new node)?"""
        reply = self.replies[peer.node_id]
        vector = reply.databases.get(database, {})
        if not any(have.values()) and self.snapshots is not None and sum(
                vector.values()) >= self.snapshots.new_node_entries:
            return True
        live = {p.node_id for p in self._roster() if p.live}
        for origin, seq in vector.items():
            position = have.get(origin, 0)
            if seq <= position or position + 1 >= reply.floors.get(database, {}).get(origin, 1):
                continue
            served = any(
                other.databases.get(database, {}).get(origin, 0) > position
                and position + 1 >= other.floors.get(database, {}).get(origin, 1)
                for node_id, other in self.replies.items()
                if node_id != peer.node_id and node_id in live)
            if not served:
                return True
        return False

    def pull_from(self, peer: Peer, database: str, origin: int, after: int) -> None:
        """Pull ``origin``'s entries after ``after`` from ``peer`` now (a QUORUM read waits
        for them), unless a pull of them is already in flight."""
        if self.snapshots is not None and self.snapshots.active(database):
            return
        if (database, origin) not in self._pulling:
            self._pull(peer, database, origin, after)

    def _pull(self, peer: Peer, database: str, origin: int, after: int) -> None:
        self._pulling.add((database, origin))
        now_ms = self._now_ms()
        self._endpoint.request_or_fail(
            peer.addr, PullLog(database, origin, after, commitlog.LOG_READ_ENTRIES_MAX),
            now_ms + REQUEST_TIMEOUT_MS, now_ms,
            lambda done: self._pulled(peer, database, origin, done))

    def _pulled(self, peer: Peer, database: str, origin: int, done: Completion) -> None:
        reply = done.reply
        if done.outcome is not Outcome.REPLIED or not isinstance(reply, LogEntries) \
                or not reply.write_sets:
            self._pulling.discard((database, origin))
            return
        state = self._state
        if not state.databases.exists(database):
            state.databases.create(database, if_not_exists=True)
        items = [(decode_write_set(ws), ws) for ws in reply.write_sets]
        # the page joins what the other origins' last pages left waiting: applied together
        # in commit-timestamp order (below)
        held = self._held.setdefault(database, {})
        held[origin] = items
        pages = dict(held)

        def work(conn: apsw.Connection) -> tuple[int, dict[int, list[Entry]], int]:
            """Apply this page's entries and those other origins' pages left waiting, merged
            in commit-timestamp order, except those built on a version not here yet:
            causal order, so no LOCAL read sees half of what one transaction read. A
            transaction's commit timestamp is above every version it was built on (the HLC
            of its coordinator witnessed them), so in that order an entry comes after every
            pulled entry it needs, whatever their origins: entries of origins that were
            written against each other apply in one pass. (Origin by origin, page after page,
            a node behind on two origins that depended on each other in turn applied a few
            entries per page and round trip: issue 16 finding 5, 15,800 entries behind.) An
            entry built on one not pulled yet waits, as do those built on it; the others need
            not (their origin's vector stays below the gap until it fills, commitlog.py).
            Returns the count applied, per origin the entries left waiting, and the rows
            skipped for a table gone since (counted on the loop: this may be a worker)."""
            applied = 0
            merged = sorted((entry for page in pages.values() for entry in page),
                            key=lambda entry: (entry[0].commit_ts, entry[0].origin,
                                               entry[0].origin_seq))
            waiting: dict[int, list[Entry]] = {o: [] for o in pages}
            with ApplyTransaction(conn, [ws for ws, _ in merged], state.node_id) as txn:
                for write_set, ws in merged:
                    if versions.lacks_bases(conn, write_set, txn.log):
                        if not waiting[write_set.origin]:
                            why[write_set.origin] = versions.describe_missing_base(
                                conn, write_set) or "nothing now"
                        waiting[write_set.origin].append((write_set, ws))
                        continue
                    state.hlc.witness(write_set.commit_ts)  # decided: absorbed, however far
                    applied += txn.apply(write_set, ws).applied
            return applied, waiting, txn.rows_skipped_schema

        why: dict[int, str] = {}

        def applied(pending: Any) -> None:
            self._pulling.discard((database, origin))
            try:
                count, waiting, skipped_schema = pending.result()
            except Exception as error:  # noqa: BLE001 - tried again at the next interval
                logger.warning("catch-up of %s from node %s failed; retrying later",
                               database, origin, exc_info=True)
                # the lag report says why the origin stays behind (cleared by a page that applies)
                self.stalled_why[(database, origin)] = (
                    f"the last page pulled from node {peer.node_id} failed to apply: {error}")
                return
            self.entries_applied += count
            state.status["Marmot_rows_skipped_schema"] += skipped_schema
            if any(write_set.schema_changes for page in pages.values() for write_set, _ in page):
                state.schema_changed(state.databases.get(database))
            for other, left in waiting.items():
                if held.get(other) is pages[other]:  # no newer page of it meanwhile
                    if left:
                        held[other] = left
                    else:
                        del held[other]
            skipped = len(waiting[origin])
            if skipped:
                self._stalled[(database, origin)] = peer
                self.stalled_why[(database, origin)] = (
                    f"{skipped} of {len(items)} pulled entries wait, the first for "
                    f"{why[origin]}")
            else:
                self._stalled.pop((database, origin), None)
                self.stalled_why.pop((database, origin), None)
                if reply.more:
                    self._pull(peer, database, origin, items[-1][0].origin_seq)
            if count:
                self._pull_stalled()
            if self.on_applied is not None:
                self.on_applied()

        pipeline = state.pipeline(state.databases.get(database))
        # a DDL may rebuild or index a big table: it runs on a host worker, not the loop
        exclusive = pipeline.run_exclusive_blocking if any(
            write_set.schema_changes for page in pages.values() for write_set, _ in page
        ) else pipeline.run_exclusive
        exclusive(work).add_done_callback(applied)

    def _pull_stalled(self) -> None:
        """Something was applied: pull again what waited for another origin's entries."""
        for (database, origin), peer in list(self._stalled.items()):
            if (database, origin) not in self._pulling and not (
                    self.snapshots is not None and self.snapshots.active(database)):
                self._pull(peer, database, origin,
                           self.vector(database).get(origin, 0))

    def lag_report(self) -> dict[str, Any]:
        """Why this node is behind (admin ``/cluster/lag``, the periodic log line): per
        database and origin where a peer last reported more than is applied here, our
        position, the highest a peer has, whether a pull is in flight and why the last page
        left entries waiting; and whether a snapshot is under way."""
        ours = self.vectors()
        lag: list[dict[str, Any]] = []
        for database, origin, seq, peer in self._ahead(ours):
            lag.append({"database": database, "origin": origin,
                        "applied": ours.get(database, {}).get(origin, 0), "peer_has": seq,
                        "peer": peer, "pulling": (database, origin) in self._pulling,
                        "waiting": self.stalled_why.get((database, origin), "")})
        return {"catching_up": self.catching_up, "behind": lag,
                "snapshot": self.snapshots.describe() if self.snapshots is not None else ""}

    def _ahead(self, ours: dict[str, dict[int, int]]) -> list[tuple[str, int, int, int]]:
        """(database, origin, highest sequence a peer reported, that peer) where a peer is
        ahead of us, as last heard."""
        best: dict[tuple[str, int], tuple[int, int]] = {}
        for node_id, (databases, _, _) in self.known.items():
            for database, vector in databases.items():
                for origin, seq in vector.items():
                    if seq > ours.get(database, {}).get(origin, 0) and seq > best.get(
                            (database, origin), (0, 0))[0]:
                        best[(database, origin)] = (seq, node_id)
        return [(d, o, seq, n) for (d, o), (seq, n) in sorted(best.items())]

    def _log_behind(self, behind: bool) -> None:
        """Every BEHIND_LOG_INTERVAL_MS while behind a peer (after one interval of it): one
        line with how far and what the missing entries wait for."""
        now_ms = self._now_ms()
        if not behind:
            self._behind_since_ms = None
            return
        if self._behind_since_ms is None:
            self._behind_since_ms = now_ms
        if now_ms - self._behind_since_ms < BEHIND_LOG_INTERVAL_MS or \
                now_ms - self._behind_logged_ms < BEHIND_LOG_INTERVAL_MS:
            return
        self._behind_logged_ms = now_ms
        report = self.lag_report()
        parts = [f"{e['database']} origin {e['origin']} at {e['applied']} (node {e['peer']} "
                 f"has {e['peer_has']}{', pulling' if e['pulling'] else ''}"
                 f"{'; ' + e['waiting'] if e['waiting'] else ''})"
                 for e in report["behind"][:8]]
        logger.warning("behind for %d s: %s%s", (now_ms - self._behind_since_ms) // 1000,
                       ", ".join(parts) or "nothing known",
                       f"; snapshot {report['snapshot']}" if report["snapshot"] else "")

    def node_view(self, node_id: int) -> tuple[Any, ...]:
        """MARMOT_CLUSTER_NODES' replication columns for a node: its applied vectors (JSON,
        as this node last heard them), how many transactions it lacks that some node has
        applied, its in-doubt instances, whether it is catching up after a restart, the
        snapshot it is receiving ('' if none), its schema version per database (JSON), and
        the databases where that version is below the newest any node reported (schema
        drift: a DDL it has not applied yet; '' if none). NULLs for a node not heard from."""
        views = {peer: known[0] for peer, known in self.known.items()}
        views[self._node_id] = self.vectors()
        vectors = views.get(node_id)
        if vectors is None:
            return None, None, None, None, None, None, None
        schemas, drift = self._schema_view(node_id)
        newest: dict[tuple[str, int], int] = {}
        for other in views.values():
            for database, vector in other.items():
                for origin, seq in vector.items():
                    newest[(database, origin)] = max(newest.get((database, origin), 0), seq)
        behind = sum(seq - vectors.get(database, {}).get(origin, 0)
                     for (database, origin), seq in newest.items())
        if node_id == self._node_id:
            in_doubt, catching_up = self._in_doubt(), self.catching_up
            snapshot = self.snapshots.describe() if self.snapshots is not None else ""
        else:
            _, in_doubt, catching_up = self.known[node_id]
            snapshot = self.replies[node_id].snapshot if node_id in self.replies else ""
        return (json.dumps(vectors, sort_keys=True), behind, in_doubt, catching_up, snapshot,
                schemas, drift)

    def _schema_view(self, node_id: int) -> tuple[str | None, str | None]:
        """A node's schema versions (JSON) and the databases it is behind on (comma list)."""
        known = {peer: _shown(reply.schema_versions) for peer, reply in self.replies.items()}
        known[self._node_id] = _shown(self.schema_versions())
        mine = known.get(node_id)
        if mine is None:
            return None, None
        newest: dict[str, int] = {}
        for versions_there in known.values():
            for database, version in versions_there.items():
                newest[database] = max(newest.get(database, 0), version)
        behind = sorted(database for database, version in newest.items()
                        if mine.get(database, 0) < version)
        return json.dumps(mine, sort_keys=True), ",".join(behind)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _shown(versions: dict[str, int]) -> dict[str, int]:
    """The users' databases of a schema-version map: the hidden system database (accounts,
    DDL locks) is not shown, as SHOW DATABASES does not show it."""
    return {name: version for name, version in versions.items() if name != ACCOUNTS_DATABASE}


def _user_version(conn: apsw.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchall()[0][0])
