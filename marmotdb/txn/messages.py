"""Peer messages of the distributed commit (txn/DESIGN.md §7), tags 32-63.

An *instance* is one coordinator batch's decision, named ``(coordinator, database, batch)``;
``batch`` is the origin sequence of the batch's first member, so it is unique for the
coordinator and database even across restarts. A *ballot* is ``(round, node id)``; the
coordinator's first is ``(0, coordinator)``. A *vector* holds one decision per member of the
batch, in batch order (True: commit).

Structs are ``array_like`` and ``frozen``; new fields go at the end with a default.
"""

from __future__ import annotations

import msgspec

from marmotdb.peer.registry import PEER_MESSAGES

Ballot = tuple[int, int]  # (round, node id): compared as a tuple
NO_BALLOT: Ballot = (-1, -1)


class Vote:
    """A participant's answer for one member (``Votes.votes``)."""

    YES = 0
    INTENT = 1          # a row carries the intent of another undecided instance
    STALE = 2           # a row's base version is older than the one committed here
    SCHEMA = 3          # the write set was built against another schema version
    UNAVAILABLE = 4     # this node could not record it (closed database, disk)
    CLOCK = 5           # its commit timestamp is beyond this node's max_clock_offset_ms


class Prepare(msgspec.Struct, frozen=True, array_like=True):
    """Request: vote on every write set of a batch (encoded as shipped, in batch order).
    ``one[i]``: member i was written at level ONE, so it commits whatever the votes (the
    vector every recovery must keep for it)."""

    coordinator: int
    database: str
    batch: int
    write_sets: list[bytes]
    one: list[bool] = []


class Votes(msgspec.Struct, frozen=True, array_like=True):
    """Answer to Prepare: a ``Vote`` code per write set; the voter's HLC after voting."""

    votes: list[int]
    clock_wall_ms: int
    clock_logical: int


class Accept(msgspec.Struct, frozen=True, array_like=True):
    """Request: accept ``vector`` for the instance at ``ballot`` (Paxos phase 2a)."""

    coordinator: int
    database: str
    batch: int
    ballot: Ballot
    vector: list[bool]


class Accepted(msgspec.Struct, frozen=True, array_like=True):
    """Answer to Accept (phase 2b); ``ok`` False: a higher ballot was promised."""

    ok: bool
    promised: Ballot


class Learn(msgspec.Struct, frozen=True, array_like=True):
    """One-way: the instance's vector is chosen; apply the committed members."""

    coordinator: int
    database: str
    batch: int
    vector: list[bool]


class Learned(msgspec.Struct, frozen=True, array_like=True):
    """Answer to a Learn sent as a request (a batch with DDL): applied here, or ``ok`` False
    when this node could not (it never saw the write sets: left to catch-up)."""

    ok: bool


class Recover(msgspec.Struct, frozen=True, array_like=True):
    """Request (Paxos phase 1a): promise to ignore ballots below ``ballot`` for the instance;
    sent by a member that held it undecided for too long (txn/DESIGN.md §7.3)."""

    coordinator: int
    database: str
    batch: int
    ballot: Ballot


class Promised(msgspec.Struct, frozen=True, array_like=True):
    """Answer to Recover (phase 1b): ``ok`` False when a higher ballot was promised
    (``promised``); else the ballot and vector this acceptor accepted, if any, and the
    batch's ONE flags if it recorded the batch (the vector of a recovery that finds none)."""

    ok: bool
    promised: Ballot
    accepted: Ballot = NO_BALLOT
    vector: list[bool] | None = None
    one: list[bool] | None = None


# The txn tags. ONLY APPEND: the numbers are part of the protocol.
MESSAGE_TYPES: dict[int, type[msgspec.Struct]] = {
    32: Prepare,
    33: Votes,
    34: Accept,
    35: Accepted,
    36: Learn,
    37: Learned,
    38: Recover,
    39: Promised,
}
PEER_MESSAGES.register_all(MESSAGE_TYPES, "txn")
