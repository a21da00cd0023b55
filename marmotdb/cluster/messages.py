"""Peer messages: the wire vocabulary of the cluster, as msgspec Structs.

Every peer message is one Struct encoded as msgpack, framed by ``codec.py`` with a one-byte type
code taken from ``MESSAGE_TYPES`` below. The type codes and the ``MemberState`` values are part
of the protocol itself: ONLY APPEND to those tables, never renumber or reuse a code, or nodes of
two software versions will misread each other (a test pins the table). Code ranges:

    1-31     membership (SWIM): this module
    32-63    distributed commit (txn/)            reserved
    64-95    replication: catch-up, snapshots     reserved
    96-127   DDL lock and schema                  reserved

Structs are ``array_like`` (encoded as msgpack arrays, field names not sent) so a ping with a few
piggybacked updates stays far below one UDP packet. New fields may only be appended at the end
of a Struct, with a default, for the same reason.

SWIM messages (theory in ``swim.py``):

    Ping             direct probe; the target answers Ack to ``source_addr``
    Ack              answer to a Ping (or relayed answer to a PingReq)
    PingReq          "please probe target for me" (indirect probe)
    Nack             the relay's probe of the target timed out (Lifeguard: proves the relay and
                     the requester can talk, so the requester's own health is not the problem)
    Gossip           a batch of piggyback updates with no probe attached
    PushPullRequest  full member table of the sender (periodic anti-entropy, join, reconnect)
    PushPullResponse full member table of the receiver; ``refused`` when the sender was removed
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Counter = Annotated[int, msgspec.Meta(ge=0)]


class MemberState(enum.IntEnum):
    """Membership state of a node as seen by some node. Wire values: ONLY APPEND."""

    ALIVE = 1  # answers probes
    SUSPECT = 2  # a probe failed; the node has until the suspicion timeout to refute
    DEAD = 3  # the suspicion expired (or a DEAD was learned by gossip)
    JOINING = 4  # started, contacting seed nodes, has not yet received a member table
    LEAVING = 5  # announced a graceful leave; never probed or suspected again
    REMOVED = 6  # removed by an administrator; refused until an administrator allows it


class NodeAddr(msgspec.Struct, frozen=True, array_like=True, order=True):
    """A host and port. For peers: the address that receives both UDP probes and TCP streams."""

    host: str
    port: Port

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> NodeAddr:
        """Parse ``host:port`` (``[v6]:port`` for IPv6)."""
        host, _, port = text.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"not a host:port address: {text!r}")
        return cls(host.strip("[]"), int(port))


class DatabaseMeta(msgspec.Struct, frozen=True, array_like=True):
    """What other nodes need to know about one database on this node.

    ``applied`` maps an origin node id to the highest contiguous commit-log sequence this node
    has applied from that origin (DESIGN.md §4.3). Membership treats both fields as opaque.
    """

    schema_version: Counter = 0
    applied: dict[str, Counter] = {}


class NodeMeta(msgspec.Struct, frozen=True, array_like=True):
    """Member metadata, versioned by the member's incarnation (a change bumps it; newer wins)."""

    peer_addr: NodeAddr
    mysql_addr: NodeAddr | None = None
    admin_addr: NodeAddr | None = None
    software_version: str = ""
    databases: dict[str, DatabaseMeta] = {}


class MemberUpdate(msgspec.Struct, frozen=True, array_like=True):
    """One fact about one member: the unit of gossip and of push-pull tables.

    Facts are ordered by ``(removal_epoch, incarnation, rank(state))`` (see membership.py); a
    node keeps the greatest fact it has seen about each member. ``origin_id`` names the node
    that asserted the fact (used to count independent suspicion confirmations). ``meta`` is
    omitted on SUSPECT and DEAD facts to keep probes small.
    """

    node_id: str
    state: MemberState
    incarnation: Counter
    removal_epoch: Counter
    origin_id: str
    meta: NodeMeta | None = None


class Ping(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: str
    source_addr: NodeAddr
    target_id: str
    updates: list[MemberUpdate] = []


class Ack(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: str
    updates: list[MemberUpdate] = []


class PingReq(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: str
    source_addr: NodeAddr
    target_id: str
    target_addr: NodeAddr
    updates: list[MemberUpdate] = []


class Nack(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: str
    updates: list[MemberUpdate] = []


class Gossip(msgspec.Struct, frozen=True, array_like=True):
    source_id: str
    updates: list[MemberUpdate] = []


class PushPullRequest(msgspec.Struct, frozen=True, array_like=True):
    source_id: str
    source_addr: NodeAddr
    join: bool
    members: list[MemberUpdate] = []


class PushPullResponse(msgspec.Struct, frozen=True, array_like=True):
    source_id: str
    refused: bool = False
    reason: str = ""
    members: list[MemberUpdate] = []


# The type-code table. ONLY APPEND: the numbers are part of the protocol.
MESSAGE_TYPES: dict[int, type[msgspec.Struct]] = {
    1: Ping,
    2: Ack,
    3: PingReq,
    4: Nack,
    5: Gossip,
    6: PushPullRequest,
    7: PushPullResponse,
}

TYPE_CODES: dict[type[msgspec.Struct], int] = {cls: code for code, cls in MESSAGE_TYPES.items()}

MEMBERSHIP_CODES: frozenset[int] = frozenset(range(1, 32))

SwimMessage = Ping | Ack | PingReq | Nack | Gossip | PushPullRequest | PushPullResponse


def is_membership_message(message: msgspec.Struct) -> bool:
    """True for the messages a ``SwimNode`` handles (a runtime routes the others elsewhere)."""
    return TYPE_CODES.get(type(message), 0) in MEMBERSHIP_CODES
