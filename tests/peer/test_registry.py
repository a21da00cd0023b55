"""The peer message registry: the complete tag table is pinned, and registration rules hold."""

from __future__ import annotations

import msgspec
import pytest

from marmotdb.peer import TAG_RANGES, MessageRegistry
from marmotdb.peer.catalog import all_messages


def test_the_tag_table_of_every_peer_message_is_append_only() -> None:
    # Changing a tag breaks mixed-version clusters: extend this table, never edit it.
    assert {e.tag: (e.owner, e.cls.__name__) for e in all_messages()} == {
        1: ("membership", "Ping"), 2: ("membership", "Ack"), 3: ("membership", "PingReq"),
        4: ("membership", "Nack"), 5: ("membership", "Gossip"),
        6: ("membership", "PushPullRequest"), 7: ("membership", "PushPullResponse"),
        32: ("txn", "Prepare"), 33: ("txn", "Votes"), 34: ("txn", "Accept"),
        35: ("txn", "Accepted"), 36: ("txn", "Learn"), 37: ("txn", "Learned"),
        38: ("txn", "Recover"), 39: ("txn", "Promised"),
        64: ("replication", "Vectors"), 65: ("replication", "VectorsReply"),
        66: ("replication", "PullLog"), 67: ("replication", "LogEntries"),
        68: ("replication", "SnapshotRequest"), 69: ("replication", "SnapshotOffer"),
        70: ("replication", "SnapshotRead"), 71: ("replication", "SnapshotData"),
        72: ("replication", "SnapshotRelease"),
        128: ("cdc", "CdcCursors"),
        240: ("peer", "PeerFailure"),
    }


def test_owner_ranges_do_not_overlap_and_fit_sixteen_bits() -> None:
    taken: set[int] = set()
    for owner, tags in TAG_RANGES.items():
        assert not taken & set(tags), owner
        taken |= set(tags)
    assert max(taken) <= 0xFFFF and 0 not in taken


def test_registration_rules() -> None:
    class A(msgspec.Struct):
        x: int

    class B(msgspec.Struct):
        y: int

    registry = MessageRegistry()
    registry.register(32, A, "txn")
    registry.register(32, A, "txn")  # idempotent (a module imported twice)
    with pytest.raises(ValueError, match="taken"):
        registry.register(32, B, "txn")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(33, A, "txn")
    with pytest.raises(ValueError, match="outside"):
        registry.register(1, B, "txn")
    with pytest.raises(ValueError, match="unknown message owner"):
        registry.register(300, B, "nobody")
    assert registry.tag_of(A) == 32 and registry.types_of("txn") == (A,)
    assert registry.tags_of("txn") == frozenset({32})
    clone = registry.copy()
    clone.register(33, B, "txn")
    assert B in clone and B not in registry
