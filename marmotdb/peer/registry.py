"""The registry of every peer message type: one numeric tag per msgspec Struct, one table.

Every message a node sends to another node (membership, distributed commit, catch-up,
snapshots, DDL lock) is a msgspec Struct registered here with a stable numeric *tag*, the
number that goes on the wire in front of its payload (codec.py). The tag table is part of the
protocol:

- ONLY APPEND. A tag is never renumbered or reused, or two software versions misread each
  other. A test pins the complete table (``tests/peer/test_registry.py``).
- Each owner registers in its own range (``TAG_RANGES``); ``register`` refuses a tag outside
  it, a tag taken twice, and a Struct registered twice.
- Structs are ``array_like`` (field names are not sent) and ``frozen``; new fields are appended
  at the end with a default, so an older node still decodes a newer message.

Owners register at import time of their messages module (``cluster/messages.py`` for
membership; ``txn/``, ``replication/`` and ``ddl/`` will do the same in their ranges). The codec
looks tags up at decode time, so the order of imports does not matter as long as every owner's
module is imported before its traffic arrives (``marmotdb.peer.catalog`` imports them all).
Tests may build a private registry with ``copy()`` and register example messages in the
``test`` range without touching the process-wide ``PEER_MESSAGES``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import msgspec

TAG_MAX = 0xFFFF  # u16 on the wire

# Who may register which tags. Append new owners; never shrink or move a range.
TAG_RANGES: dict[str, range] = {
    "membership": range(1, 32),  # SWIM (cluster/)
    "txn": range(32, 64),  # distributed commit: prepare, vote, decide, recovery (txn/)
    "replication": range(64, 96),  # catch-up log pull, snapshot transfer, anti-entropy
    "ddl": range(96, 128),  # DDL lock lease, schema versions
    "cdc": range(128, 160),  # CDC publishers' cursor reports (cdc/)
    "peer": range(240, 256),  # the request/response layer itself (PeerFailure)
    "test": range(0xFF00, TAG_MAX + 1),  # tests only; never registered in PEER_MESSAGES
}


@dataclasses.dataclass(frozen=True)
class MessageType:
    tag: int
    cls: type[msgspec.Struct]
    owner: str


class MessageRegistry:
    """Tags <-> Struct types. Lookups are dict reads; registration happens at import time."""

    def __init__(self) -> None:
        self._by_tag: dict[int, MessageType] = {}
        self._by_cls: dict[type[msgspec.Struct], MessageType] = {}

    def register(self, tag: int, cls: type[msgspec.Struct], owner: str) -> None:
        allowed = TAG_RANGES.get(owner)
        if allowed is None:
            raise ValueError(f"unknown message owner {owner!r}; known: {', '.join(TAG_RANGES)}")
        if tag not in allowed:
            raise ValueError(f"tag {tag} of {cls.__name__} is outside {owner}'s range "
                             f"{allowed.start}..{allowed.stop - 1}")
        if not issubclass(cls, msgspec.Struct):
            raise TypeError(f"{cls!r} is not a msgspec Struct")
        known = self._by_tag.get(tag)
        if known is not None and known.cls is not cls:
            raise ValueError(f"tag {tag} is taken by {known.cls.__name__}")
        if cls in self._by_cls and self._by_cls[cls].tag != tag:
            raise ValueError(f"{cls.__name__} is already registered as {self._by_cls[cls].tag}")
        entry = MessageType(tag, cls, owner)
        self._by_tag[tag] = entry
        self._by_cls[cls] = entry

    def register_all(self, table: dict[int, type[msgspec.Struct]], owner: str) -> None:
        """Register an owner's tag table (its ``MESSAGE_TYPES``)."""
        for tag, cls in table.items():
            self.register(tag, cls, owner)

    def by_tag(self, tag: int) -> MessageType | None:
        return self._by_tag.get(tag)

    def tag_of(self, cls: type) -> int:
        entry = self._by_cls.get(cls)  # type: ignore[arg-type]
        if entry is None:
            raise TypeError(f"{cls.__name__} is not a registered peer message")
        return entry.tag

    def tags_of(self, owner: str) -> frozenset[int]:
        return frozenset(t for t, e in self._by_tag.items() if e.owner == owner)

    def types_of(self, owner: str) -> tuple[type[msgspec.Struct], ...]:
        return tuple(e.cls for _, e in sorted(self._by_tag.items()) if e.owner == owner)

    def copy(self) -> MessageRegistry:
        clone = MessageRegistry()
        clone._by_tag, clone._by_cls = dict(self._by_tag), dict(self._by_cls)
        return clone

    def __iter__(self) -> Iterator[MessageType]:
        return iter(sorted(self._by_tag.values(), key=lambda e: e.tag))

    def __contains__(self, cls: object) -> bool:
        return cls in self._by_cls


PEER_MESSAGES = MessageRegistry()
"""The process-wide registry: every peer message of the product, from every owner."""
