"""Peer messages of catch-up and snapshot transfer (DESIGN.md §4.3), tags 64-95.

``Vectors`` asks a peer for its applied vector of every database (origin -> highest
contiguous origin sequence applied); ``PullLog`` asks for one origin's committed entries of
one database after a sequence, as they were logged (abort markers included), bounded.

A node that needs entries no peer still logs asks for a snapshot: ``SnapshotRequest`` (the
peer copies the database in a worker and answers ``SnapshotOffer`` with the manifest), then
``SnapshotRead`` for one chunk at a time (``SnapshotData``: one request outstanding, so the
receiver paces the sender), and ``SnapshotRelease`` (one-way) when done or abandoned.
Structs are ``array_like`` and ``frozen``; new fields go at the end with a default.
"""

from __future__ import annotations

import msgspec

from marmotdb.peer.registry import PEER_MESSAGES
from marmotdb.storage.snapshot import SnapshotManifest


class Vectors(msgspec.Struct, frozen=True, array_like=True):
    """Request: every database's applied vector."""


class VectorsReply(msgspec.Struct, frozen=True, array_like=True):
    databases: dict[str, dict[int, int]]
    in_doubt: int = 0  # instances undecided at the answering node (MARMOT_CLUSTER_NODES)
    catching_up: bool = False  # restarted and not yet caught up with a quorum
    # Where ``databases`` (advertised) is above what is applied here: the applied value.
    # Log trimming and tombstone collection go by what every member *applied*.
    applied_below: dict[str, dict[int, int]] = {}
    # Per database and origin whose log was trimmed: the lowest origin_seq still served.
    floors: dict[str, dict[int, int]] = {}
    clock: int = 0  # the answering node's HLC (packed): its later commits are above it
    snapshot: str = ""  # the snapshot transfer under way there, as progress text
    # each database's schema version there (its DDL count, PRAGMA user_version): a DDL
    # missed shows as drift in MARMOT_CLUSTER_NODES and /cluster/members
    schema_versions: dict[str, int] = {}


class PullLog(msgspec.Struct, frozen=True, array_like=True):
    """Request: ``origin``'s entries of ``database`` with origin_seq > ``after``."""

    database: str
    origin: int
    after: int
    limit: int


class LogEntries(msgspec.Struct, frozen=True, array_like=True):
    """Answer to PullLog: encoded write sets in origin order; ``more`` when the limit cut it."""

    write_sets: list[bytes]
    more: bool


class SnapshotRequest(msgspec.Struct, frozen=True, array_like=True):
    """Request: copy ``database`` for me (answered once the copy exists)."""

    database: str


class SnapshotOffer(msgspec.Struct, frozen=True, array_like=True):
    """Answer to SnapshotRequest: ``manifest`` (storage.snapshot's fields) or ``error``."""

    transfer_id: int
    manifest: SnapshotManifest | None
    error: str = ""


class SnapshotRead(msgspec.Struct, frozen=True, array_like=True):
    """Request: chunk ``index`` of transfer ``transfer_id``."""

    transfer_id: int
    index: int


class SnapshotData(msgspec.Struct, frozen=True, array_like=True):
    """Answer to SnapshotRead: the chunk and the CRC-32 the sender computed (index -1 and an
    ``error`` when the transfer is unknown there, e.g. expired)."""

    index: int
    data: bytes
    crc32: int
    error: str = ""


class SnapshotRelease(msgspec.Struct, frozen=True, array_like=True):
    """One-way: the receiver is done with transfer ``transfer_id`` (the copy can go)."""

    transfer_id: int


# The replication tags. ONLY APPEND: the numbers are part of the protocol.
MESSAGE_TYPES: dict[int, type[msgspec.Struct]] = {
    64: Vectors,
    65: VectorsReply,
    66: PullLog,
    67: LogEntries,
    68: SnapshotRequest,
    69: SnapshotOffer,
    70: SnapshotRead,
    71: SnapshotData,
    72: SnapshotRelease,
}
PEER_MESSAGES.register_all(MESSAGE_TYPES, "replication")
