"""Peer messages: the wire vocabulary of the cluster, as msgspec Structs.

Membership is one owner of the peer message registry (``marmotdb/peer/registry.py``): each
Struct below is registered there with its tag in the membership range 1-31, and framed by the
one peer codec (``marmotdb/peer/codec.py``) like every other peer message. The tags and the
``MemberState`` values are part of the protocol itself: ONLY APPEND, never renumber or reuse a
tag, or nodes of two software versions will misread each other (a test pins the table).
Node ids are ``NodeId`` integers, the config's ``node_id``.

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

# NodeAddr and NodeId live in marmotdb.peer; re-exported here for the membership vocabulary.
from marmotdb.peer.address import NodeAddr as NodeAddr
from marmotdb.peer.address import NodeId as NodeId
from marmotdb.peer.registry import PEER_MESSAGES

Counter = Annotated[int, msgspec.Meta(ge=0)]


class MemberState(enum.IntEnum):
    """Membership state of a node as seen by some node. Wire values: ONLY APPEND."""

    ALIVE = 1  # answers probes
    SUSPECT = 2  # a probe failed; the node has until the suspicion timeout to refute
    DEAD = 3  # the suspicion expired (or a DEAD was learned by gossip)
    JOINING = 4  # started, contacting seed nodes, has not yet received a member table
    LEAVING = 5  # announced a graceful leave; never probed or suspected again
    REMOVED = 6  # removed by an administrator; refused until an administrator allows it


class NodeMeta(msgspec.Struct, frozen=True, array_like=True):
    """Member metadata, versioned by the member's incarnation (a change bumps it; newer wins)."""

    peer_addr: NodeAddr
    mysql_addr: NodeAddr | None = None
    admin_addr: NodeAddr | None = None
    software_version: str = ""


class MemberUpdate(msgspec.Struct, frozen=True, array_like=True):
    """One fact about one member: the unit of gossip and of push-pull tables.

    Facts are ordered by ``(removal_epoch, incarnation, rank(state))`` (see membership.py); a
    node keeps the greatest fact it has seen about each member. ``origin_id`` names the node
    that asserted the fact (used to count independent suspicion confirmations). ``meta`` is
    omitted on SUSPECT and DEAD facts to keep probes small.
    """

    node_id: NodeId
    state: MemberState
    incarnation: Counter
    removal_epoch: Counter
    origin_id: NodeId
    meta: NodeMeta | None = None


class Ping(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: NodeId
    source_addr: NodeAddr
    target_id: NodeId
    updates: list[MemberUpdate] = []


class Ack(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: NodeId
    updates: list[MemberUpdate] = []


class PingReq(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: NodeId
    source_addr: NodeAddr
    target_id: NodeId
    target_addr: NodeAddr
    updates: list[MemberUpdate] = []


class Nack(msgspec.Struct, frozen=True, array_like=True):
    seq: Counter
    source_id: NodeId
    updates: list[MemberUpdate] = []


class Gossip(msgspec.Struct, frozen=True, array_like=True):
    source_id: NodeId
    updates: list[MemberUpdate] = []


class PushPullRequest(msgspec.Struct, frozen=True, array_like=True):
    source_id: NodeId
    source_addr: NodeAddr
    join: bool
    members: list[MemberUpdate] = []


class PushPullResponse(msgspec.Struct, frozen=True, array_like=True):
    source_id: NodeId
    refused: bool = False
    reason: str = ""
    members: list[MemberUpdate] = []


# The membership tags. ONLY APPEND: the numbers are part of the protocol.
MESSAGE_TYPES: dict[int, type[msgspec.Struct]] = {
    1: Ping,
    2: Ack,
    3: PingReq,
    4: Nack,
    5: Gossip,
    6: PushPullRequest,
    7: PushPullResponse,
}
PEER_MESSAGES.register_all(MESSAGE_TYPES, "membership")

TYPE_CODES: dict[type[msgspec.Struct], int] = {cls: code for code, cls in MESSAGE_TYPES.items()}

MEMBERSHIP_CODES: frozenset[int] = frozenset(range(1, 32))
MEMBERSHIP_TYPES: tuple[type[msgspec.Struct], ...] = tuple(MESSAGE_TYPES.values())

SwimMessage = Ping | Ack | PingReq | Nack | Gossip | PushPullRequest | PushPullResponse


def is_membership_message(message: msgspec.Struct) -> bool:
    """True for the messages a ``SwimNode`` handles (a runtime routes the others elsewhere)."""
    return TYPE_CODES.get(type(message), 0) in MEMBERSHIP_CODES
