"""Peer messages of catch-up (DESIGN.md §4.3), tags 64-95.

``Vectors`` asks a peer for its applied vector of every database (origin -> highest
contiguous origin sequence applied); ``PullLog`` asks for one origin's committed entries of
one database after a sequence, as they were logged (abort markers included), bounded.
Structs are ``array_like`` and ``frozen``; new fields go at the end with a default.
"""

from __future__ import annotations

import msgspec

from marmotdb.peer.registry import PEER_MESSAGES


class Vectors(msgspec.Struct, frozen=True, array_like=True):
    """Request: every database's applied vector."""


class VectorsReply(msgspec.Struct, frozen=True, array_like=True):
    databases: dict[str, dict[int, int]]
    in_doubt: int = 0  # instances undecided at the answering node (MARMOT_CLUSTER_NODES)
    catching_up: bool = False  # restarted and not yet caught up with a quorum


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


# The replication tags. ONLY APPEND: the numbers are part of the protocol.
MESSAGE_TYPES: dict[int, type[msgspec.Struct]] = {
    64: Vectors,
    65: VectorsReply,
    66: PullLog,
    67: LogEntries,
}
PEER_MESSAGES.register_all(MESSAGE_TYPES, "replication")
