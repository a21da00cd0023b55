"""SnapshotTransfers: a node that needs entries no peer still logs copies the database instead.

Theory of operation (DESIGN.md §4.3; storage/snapshot.py has the file format)
------------------------------------------------------------------------------
*When.* CatchUp compares vectors with a peer: where the peer is ahead for an origin but its log
no longer starts right after our position (``VectorsReply.floors``), and no other live peer
we heard from still serves that gap, pulling cannot fill it: ``need(peer, database)``. A new
node whose database is empty while the peer is ``new_node_entries`` ahead asks too (one copy
beats replaying a long log).

*Sender.* ``SnapshotRequest``: ``create_snapshot`` copies the database file in a worker (the
host's ``run_blocking``; writers go on), then ``SnapshotOffer`` carries the manifest (size,
chunk size and count, the copy's applied vector). ``SnapshotRead(index)`` is answered with that
chunk, read in a worker, with its CRC-32. A copy nobody read for ``SNAPSHOT_IDLE_MS`` is
deleted, as is one the receiver releases; at most ``SNAPSHOT_SENDS_MAX`` copies exist at once.

*Receiver.* One chunk outstanding at a time (the window: at most ``chunk_bytes`` in flight and
in memory), each checked (index, size, CRC) and appended in a worker by
``SnapshotReceiver``; ``finish`` checks the total and fsyncs. The restore then runs through the
database's commit pipeline (``run_exclusive_blocking``: no apply or commit runs meanwhile) in a
worker: entries this node logged that the copy lacks (its own ONE commits, say) are read
first and applied again over the copy, so nothing this node had is lost; if they do not cover
everything this node had applied, the copy is refused (a copy from behind). The backup API
replaces the file's pages in one transaction: a failure leaves the old database. Then pulling
resumes from the copy's vector. Any failure or timeout abandons the transfer (the partial
file is removed) and it is asked again after ``SNAPSHOT_RETRY_MS``.

Progress (bytes done / total) is logged every ``PROGRESS_LOG_BYTES`` and at the end, shown in
MARMOT_CLUSTER_NODES.snapshot, the admin API and ``marmotdb cluster status``, and counted in
the metrics (``marmotdb_snapshot_*``).
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from marmotdb.errors import StorageError
from marmotdb.peer.endpoint import Completion, IncomingRequest, Outcome, PeerEndpoint
from marmotdb.replication.messages import (
    SnapshotData,
    SnapshotOffer,
    SnapshotRead,
    SnapshotRelease,
    SnapshotRequest,
)
from marmotdb.storage import commitlog, reemit
from marmotdb.storage.apply import ApplyTransaction
from marmotdb.storage.internal_tables import ensure_internal_tables
from marmotdb.storage.snapshot import (
    SnapshotChunk,
    SnapshotManifest,
    SnapshotReceiver,
    create_snapshot,
    restore_snapshot,
)
from marmotdb.storage.writeset import decode_write_set

if TYPE_CHECKING:
    from marmotdb.sql.server_state import ServerState
    from marmotdb.txn.cluster import Peer

logger = logging.getLogger("marmotdb.replication")

SNAPSHOT_CREATE_TIMEOUT_MS = 300_000  # the sender copies the whole file before offering it
SNAPSHOT_CHUNK_TIMEOUT_MS = 30_000
SNAPSHOT_IDLE_MS = 120_000   # a copy nobody read for this long is deleted at the sender
SNAPSHOT_RETRY_MS = 5_000    # after a failed transfer, wait this long before asking again
SNAPSHOT_SENDS_MAX = 2       # copies a node keeps for receivers at once (disk space)
PROGRESS_LOG_BYTES = 16 << 20
NEW_NODE_ENTRIES = 10_000    # an empty database this far behind a peer restores a copy

RunBlocking = Callable[[Callable[[], None], Callable[[BaseException | None], None]], None]


@dataclass
class _Outgoing:
    path: Path
    manifest: SnapshotManifest
    used_ms: int


@dataclass
class Transfer:
    """One incoming snapshot, as shown to operators."""

    database: str
    peer: int
    state: str = "requesting"  # requesting, receiving, restoring
    bytes_done: int = 0
    bytes_total: int = 0
    transfer_id: int = 0
    manifest: SnapshotManifest | None = None
    receiver: SnapshotReceiver | None = None
    logged_bytes: int = 0

    def describe(self) -> str:
        mib = 1 << 20
        return (f"{self.database} from node {self.peer}: {self.state} "
                f"{self.bytes_done / mib:.1f}/{self.bytes_total / mib:.1f} MiB")


class SnapshotTransfers:
    def __init__(self, state: ServerState, endpoint: PeerEndpoint, node_id: int,
                 now_ms: Callable[[], int], run_blocking: RunBlocking, directory: Path):
        self._state = state
        self._endpoint = endpoint
        self._node_id = node_id
        self._now_ms = now_ms
        self._run_blocking = run_blocking
        self._directory = directory
        shutil.rmtree(directory, ignore_errors=True)  # copies of a previous run: abandoned
        directory.mkdir(parents=True, exist_ok=True)
        self._ids = itertools.count(1)
        self._outgoing: dict[int, _Outgoing] = {}
        self._creating = 0
        self.incoming: dict[str, Transfer] = {}
        self._retry_after_ms: dict[str, int] = {}
        self.new_node_entries = NEW_NODE_ENTRIES
        self.restored = 0         # metrics: snapshots restored here
        self.failed = 0           # transfers abandoned
        self.sent_bytes = 0       # chunk bytes served to peers
        self.received_bytes = 0   # chunk bytes received
        self.on_restored: Callable[[str], None] | None = None
        self._closed = False
        endpoint.on_request([SnapshotRequest], self._on_request)
        endpoint.on_request([SnapshotRead], self._on_read)
        endpoint.on_message([SnapshotRelease], self._on_release)  # type: ignore[list-item]
        self._sweep_timer = state.host.call_later(SNAPSHOT_IDLE_MS / 2000, self._sweep)

    # ------------------------------------------------------------------ sending
    def _on_request(self, request: IncomingRequest, now_ms: int) -> None:
        database = request.message.database  # type: ignore[attr-defined]
        state = self._state
        if not state.databases.exists(database):
            self._endpoint.reply(request, SnapshotOffer(0, None, "unknown database"))
            return
        if len(self._outgoing) + self._creating >= SNAPSHOT_SENDS_MAX:
            self._endpoint.reply(request, SnapshotOffer(0, None, "busy"))
            return
        transfer_id = next(self._ids)
        path = self._directory / f"out-{transfer_id}.db"
        source = state.databases.get(database).path
        made: list[SnapshotManifest] = []
        self._creating += 1

        def copy() -> None:
            made.append(create_snapshot(source, path, database=database))

        def done(error: BaseException | None) -> None:
            self._creating -= 1
            if self._closed:
                path.unlink(missing_ok=True)
                return
            if error is not None:
                logger.warning("snapshot of %s for a peer failed: %s", database, error)
                path.unlink(missing_ok=True)
                self._endpoint.reply(request, SnapshotOffer(0, None, str(error)))
                return
            manifest = made[0]
            self._outgoing[transfer_id] = _Outgoing(path, manifest, self._now_ms())
            logger.info("snapshot %d of %s made for a peer: %d bytes in %d chunks",
                        transfer_id, database, manifest.size_bytes, manifest.chunk_count)
            self._endpoint.reply(request, SnapshotOffer(transfer_id, manifest))
        self._run_blocking(copy, done)

    def _on_read(self, request: IncomingRequest, now_ms: int) -> None:
        message: SnapshotRead = request.message  # type: ignore[assignment]
        out = self._outgoing.get(message.transfer_id)
        manifest = out.manifest if out is not None else None
        if out is None or manifest is None or not 0 <= message.index < manifest.chunk_count:
            self._endpoint.reply(request, SnapshotData(-1, b"", 0, "unknown transfer or chunk"))
            return
        out.used_ms = now_ms
        chunk: list[bytes] = []

        def read() -> None:
            with open(out.path, "rb") as source:
                source.seek(message.index * manifest.chunk_bytes)
                chunk.append(source.read(manifest.chunk_bytes))

        def done(error: BaseException | None) -> None:
            if error is not None:
                self._endpoint.reply(request, SnapshotData(-1, b"", 0, str(error)))
                return
            self.sent_bytes += len(chunk[0])
            self._endpoint.reply(request, SnapshotData(message.index, chunk[0],
                                                       zlib.crc32(chunk[0])))
        self._run_blocking(read, done)

    def _on_release(self, src: Any, message: SnapshotRelease, now_ms: int) -> None:
        self._drop(message.transfer_id)

    def _drop(self, transfer_id: int) -> None:
        out = self._outgoing.pop(transfer_id, None)
        if out is not None:
            self._run_blocking(lambda: out.path.unlink(missing_ok=True), lambda error: None)

    def _sweep(self) -> None:
        self._sweep_timer = self._state.host.call_later(SNAPSHOT_IDLE_MS / 2000, self._sweep)
        now_ms = self._now_ms()
        for transfer_id, out in list(self._outgoing.items()):
            if now_ms - out.used_ms > SNAPSHOT_IDLE_MS:
                logger.info("snapshot %d was not read for %d s: deleted", transfer_id,
                            SNAPSHOT_IDLE_MS // 1000)
                self._drop(transfer_id)

    # ------------------------------------------------------------------ receiving
    def active(self, database: str) -> bool:
        return database in self.incoming

    def may_start(self, database: str) -> bool:
        return database not in self.incoming and \
            self._now_ms() >= self._retry_after_ms.get(database, 0)

    def need(self, peer: Peer, database: str) -> None:
        """Restore ``database`` from a copy made by ``peer`` (unless one is under way or a
        failed one waits for its retry time)."""
        if not self.may_start(database) or self._closed:
            return
        transfer = self.incoming[database] = Transfer(database, peer.node_id)
        logger.info("catch-up of %s needs entries no peer still logs: asking node %d for a "
                    "snapshot", database, peer.node_id)
        now_ms = self._now_ms()
        self._endpoint.request_or_fail(peer.addr, SnapshotRequest(database),
                                       now_ms + SNAPSHOT_CREATE_TIMEOUT_MS, now_ms,
                                       lambda done: self._offered(peer, transfer, done))

    def _offered(self, peer: Peer, transfer: Transfer, done: Completion) -> None:
        reply = done.reply
        if done.outcome is not Outcome.REPLIED or not isinstance(reply, SnapshotOffer) \
                or reply.manifest is None:
            error = reply.error if isinstance(reply, SnapshotOffer) else done.outcome.name
            self._fail(peer, transfer, f"no snapshot offered ({error})")
            return
        manifest = reply.manifest
        transfer.transfer_id, transfer.manifest = reply.transfer_id, manifest
        transfer.state, transfer.bytes_total = "receiving", manifest.size_bytes
        if manifest.database != transfer.database:
            self._fail(peer, transfer, f"offered a snapshot of {manifest.database!r}")
            return
        path = self._directory / f"in-{transfer.transfer_id}-{peer.node_id}.db"
        opened: list[SnapshotReceiver] = []

        def open_file() -> None:
            opened.append(SnapshotReceiver(manifest, path, self._progress(transfer)))

        def ready(error: BaseException | None) -> None:
            if error is not None:
                self._fail(peer, transfer, f"cannot receive: {error}")
                return
            transfer.receiver = opened[0]
            self._read(peer, transfer, 0)
        self._run_blocking(open_file, ready)

    def _progress(self, transfer: Transfer) -> Callable[[int, int], None]:
        def progress(done_bytes: int, total_bytes: int) -> None:
            transfer.bytes_done = done_bytes  # an int store: safe from the worker thread
        return progress

    def _read(self, peer: Peer, transfer: Transfer, index: int) -> None:
        now_ms = self._now_ms()
        self._endpoint.request_or_fail(peer.addr, SnapshotRead(transfer.transfer_id, index),
                                       now_ms + SNAPSHOT_CHUNK_TIMEOUT_MS, now_ms,
                                       lambda done: self._chunk(peer, transfer, index, done))

    def _chunk(self, peer: Peer, transfer: Transfer, index: int, done: Completion) -> None:
        reply = done.reply
        if done.outcome is not Outcome.REPLIED or not isinstance(reply, SnapshotData) \
                or reply.index != index:
            error = reply.error if isinstance(reply, SnapshotData) else done.outcome.name
            self._fail(peer, transfer, f"chunk {index} did not arrive ({error})")
            return
        receiver, manifest = transfer.receiver, transfer.manifest
        assert receiver is not None and manifest is not None
        self.received_bytes += len(reply.data)
        last = index == manifest.chunk_count - 1

        def write() -> None:
            receiver.write(SnapshotChunk(reply.index, reply.data, reply.crc32))
            if last:
                receiver.finish()

        def written(error: BaseException | None) -> None:
            if error is not None:
                self._fail(peer, transfer, f"chunk {index} rejected: {error}")
                return
            if transfer.bytes_done - transfer.logged_bytes >= PROGRESS_LOG_BYTES or last:
                transfer.logged_bytes = transfer.bytes_done
                logger.info("snapshot of %s from node %d: %d / %d bytes", transfer.database,
                            peer.node_id, transfer.bytes_done, transfer.bytes_total)
            if last:
                self._restore(peer, transfer)
            else:
                self._read(peer, transfer, index + 1)
        self._run_blocking(write, written)

    def _restore(self, peer: Peer, transfer: Transfer) -> None:
        state = self._state
        receiver, manifest = transfer.receiver, transfer.manifest
        assert receiver is not None and manifest is not None
        transfer.state = "restoring"
        self._endpoint.send(peer.addr, SnapshotRelease(transfer.transfer_id))
        if not state.databases.exists(transfer.database):
            state.databases.create(transfer.database, if_not_exists=True)
        database = state.databases.get(transfer.database)
        path = receiver.dest

        def restored(pending: Any) -> None:
            self._run_blocking(lambda: path.unlink(missing_ok=True), lambda error: None)
            try:
                vector, newest = pending.result()
            except Exception as exc:  # noqa: BLE001 - the old database stands; retried
                self._fail(peer, transfer, f"restore failed: {exc}", released=True)
                return
            if newest is not None:
                state.hlc.witness(newest)
            state.schema_changed(database)
            del self.incoming[transfer.database]
            self.restored += 1
            logger.info("snapshot of %s from node %d restored (%d bytes); resuming catch-up "
                        "from its vector %s", transfer.database, peer.node_id,
                        manifest.size_bytes, vector)
            if self.on_restored is not None:
                self.on_restored(transfer.database)
        pipeline = state.pipeline(database)
        pipeline.run_exclusive_blocking(
            lambda conn: restore_over(conn, path, manifest.applied_vector)
        ).add_done_callback(restored)

    def _fail(self, peer: Peer, transfer: Transfer, why: str, released: bool = False) -> None:
        logger.warning("snapshot of %s from node %d abandoned: %s; retrying in %d s",
                       transfer.database, peer.node_id, why, SNAPSHOT_RETRY_MS // 1000)
        self.failed += 1
        self.incoming.pop(transfer.database, None)
        self._retry_after_ms[transfer.database] = self._now_ms() + SNAPSHOT_RETRY_MS
        if transfer.transfer_id and not released:
            self._endpoint.send(peer.addr, SnapshotRelease(transfer.transfer_id))
        receiver = transfer.receiver
        if receiver is not None:
            self._run_blocking(receiver.abort, lambda error: None)

    def describe(self) -> str:
        """The transfers under way here, for MARMOT_CLUSTER_NODES.snapshot ('' if none)."""
        return "; ".join(t.describe() for t in self.incoming.values())

    def close(self) -> None:
        self._closed = True
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        for transfer in self.incoming.values():
            if transfer.receiver is not None:
                transfer.receiver.abort()
        self.incoming.clear()
        for out in self._outgoing.values():
            out.path.unlink(missing_ok=True)
        self._outgoing.clear()


def restore_over(conn: apsw.Connection, snapshot_path: Path, snapshot_vector: dict[int, int]
                 ) -> tuple[dict[int, int], Any]:
    """Replace ``conn``'s database with the snapshot, keeping what only this node had.

    Entries logged here above the snapshot's vector are read first and applied again over
    the copy (last-write-wins makes that the same as having received them after it), and
    this node's re-emit obligations replace the copy's (storage/reemit.py). If they
    do not reach everything this node had applied, the copy is behind this node: refused,
    nothing changed. Returns the new applied vector and newest commit timestamp."""
    old = commitlog.applied_vector(conn)
    origins = {origin for (origin,) in conn.execute(
        f"SELECT DISTINCT origin FROM {commitlog.COMMIT_LOG}")} | set(old)
    keep: list[commitlog.LogEntry] = []
    for origin in sorted(origins):
        after = snapshot_vector.get(origin, 0)
        entries = []
        while page := commitlog.read_origin(conn, origin, after):
            entries += page
            after = page[-1].origin_seq
        have = {entry.origin_seq for entry in entries}
        missing = [s for s in range(snapshot_vector.get(origin, 0) + 1, old.get(origin, 0) + 1)
                   if s not in have]
        if missing:
            raise StorageError(f"the snapshot lacks {len(missing)} entries of node {origin} "
                               "that this node applied and no longer logs")
        keep += entries
    ours = reemit.obligations(conn)  # node-local: the copy holds its own node's
    restore_snapshot(conn, os.fspath(snapshot_path))
    ensure_internal_tables(conn)  # a copy from a node older than a table gets it
    keep.sort(key=lambda entry: entry.seq)  # this node's order: bases before use
    with ApplyTransaction(conn) as txn:
        reemit.replace(conn, ours)
        for entry in keep:
            txn.apply(decode_write_set(entry.write_set), entry.write_set)
    return commitlog.applied_vector(conn), commitlog.max_commit_ts(conn)
