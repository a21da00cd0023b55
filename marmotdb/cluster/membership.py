"""Membership state: the member table of one node and the rule that merges facts into it.

Every node keeps one record per member (itself included): state, incarnation, removal epoch,
metadata. Facts about members (``MemberUpdate``) arrive by gossip and push-pull in any order,
duplicated or stale. They are merged with one rule, which makes the table a join-semilattice
(every node converges to the same table once it has seen the same facts, whatever the order):

    a fact replaces the record iff key(fact) > key(record)
    key = (removal_epoch, incarnation, rank(state))
    rank: JOINING 0 < ALIVE 1 < SUSPECT 2 < DEAD 3 < LEAVING 4 < REMOVED 5

Why this order:
- Only the member itself raises its incarnation (to refute a suspicion, announce metadata, leave
  or rejoin), so a higher incarnation is always newer news from the member itself.
- At one incarnation, bad news beats good news (SUSPECT > ALIVE, DEAD > SUSPECT): a member
  clears a suspicion only by refuting it with a higher incarnation, never by a stale ALIVE.
- LEAVING beats DEAD: a member that announced its leave and then went silent *left*; the
  distinction matters to quorum sizes later.
- The removal epoch is raised only by an administrator (remove or allow). REMOVED cannot be
  refuted by the member, since the member cannot raise the epoch; "allow" raises the epoch
  again with state DEAD, after which the member may rejoin at a higher incarnation.

Facts about the local node are not merged here: ``swim.py`` refutes them (raises its own
incarnation above the fact's) unless they are REMOVED, which it accepts.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator

from marmotdb.cluster.messages import MemberState, MemberUpdate, NodeMeta

STATE_RANK: dict[MemberState, int] = {
    MemberState.JOINING: 0,
    MemberState.ALIVE: 1,
    MemberState.SUSPECT: 2,
    MemberState.DEAD: 3,
    MemberState.LEAVING: 4,
    MemberState.REMOVED: 5,
}

# States of a member that is expected to answer probes: probed, counted in the cluster size.
LIVE_STATES = frozenset({MemberState.ALIVE, MemberState.SUSPECT, MemberState.JOINING})
# Facts that carry metadata on the wire (SUSPECT/DEAD leave it out to keep probes small).
META_STATES = frozenset({MemberState.ALIVE, MemberState.JOINING, MemberState.LEAVING,
                         MemberState.REMOVED})

FactKey = tuple[int, int, int]


def fact_key(removal_epoch: int, incarnation: int, state: MemberState) -> FactKey:
    return (removal_epoch, incarnation, STATE_RANK[state])


@dataclasses.dataclass
class Member:
    """The local record of one member."""

    node_id: int
    state: MemberState
    incarnation: int
    removal_epoch: int
    meta: NodeMeta
    state_change_ms: int  # local time of the last state change (for reaping, gossip to the dead)

    @property
    def key(self) -> FactKey:
        return fact_key(self.removal_epoch, self.incarnation, self.state)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    def as_update(self, origin_id: int, full: bool = False) -> MemberUpdate:
        """This record as a fact asserted by ``origin_id``; ``full`` always includes metadata."""
        meta = self.meta if full or self.state in META_STATES else None
        return MemberUpdate(self.node_id, self.state, self.incarnation, self.removal_epoch,
                            origin_id, meta)


@dataclasses.dataclass(frozen=True)
class MemberEvent:
    """A change of one member's record as seen by one node (delivered to subscribers).

    ``previous`` is None for a member seen for the first time; ``current`` is None when a long
    dead member is forgotten. ``previous == current`` means only the metadata changed.
    """

    node_id: int
    previous: MemberState | None
    current: MemberState | None
    incarnation: int
    meta: NodeMeta | None
    at_ms: int


class MergeOutcome(enum.Enum):
    IGNORED = "ignored"  # stale, or unusable (unknown member without metadata, table full)
    SAME = "same"  # the exact fact we hold (may confirm a suspicion)
    ADDED = "added"
    REPLACED = "replaced"


class MemberTable:
    """Records by node id. Reports every change through ``on_event``."""

    def __init__(self, members_max: int, on_event: Callable[[MemberEvent], None]):
        self.members_max = members_max
        self._members: dict[int, Member] = {}
        self._on_event = on_event
        self.refused_full = 0  # new members refused because the table was full (a metric)

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._members

    def get(self, node_id: int) -> Member | None:
        return self._members.get(node_id)

    def sorted_ids(self) -> list[int]:
        return sorted(self._members)

    def live_count(self) -> int:
        return sum(1 for m in self._members.values() if m.is_live)

    def merge(self, update: MemberUpdate, now_ms: int) -> MergeOutcome:
        """Apply the lattice rule to a fact about another member."""
        current = self._members.get(update.node_id)
        if current is None:
            return self._add(update, now_ms)
        new_key = fact_key(update.removal_epoch, update.incarnation, update.state)
        if new_key < current.key:
            return MergeOutcome.IGNORED
        if new_key == current.key:
            return MergeOutcome.SAME
        meta = update.meta if update.meta is not None else current.meta
        self.set(current.node_id, update.state, update.incarnation, update.removal_epoch, meta,
                 now_ms)
        return MergeOutcome.REPLACED

    def set(self, node_id: int, state: MemberState, incarnation: int, removal_epoch: int,
            meta: NodeMeta, now_ms: int) -> Member:
        """Write a record unconditionally (local decisions: self changes, DEAD on expiry)."""
        member = self._members.get(node_id)
        if member is None:
            member = Member(node_id, state, incarnation, removal_epoch, meta, now_ms)
            self._members[node_id] = member
            self._emit(member, None, now_ms)
            return member
        previous, previous_meta = member.state, member.meta
        member.incarnation, member.removal_epoch, member.meta = incarnation, removal_epoch, meta
        if state != previous:
            member.state, member.state_change_ms = state, now_ms
            self._emit(member, previous, now_ms)
        elif meta != previous_meta:
            self._emit(member, previous, now_ms)
        return member

    def forget(self, node_id: int, now_ms: int) -> None:
        member = self._members.pop(node_id, None)
        if member is not None:
            self._on_event(MemberEvent(node_id, member.state, None, member.incarnation,
                                       member.meta, now_ms))

    def _add(self, update: MemberUpdate, now_ms: int) -> MergeOutcome:
        if update.meta is None:
            return MergeOutcome.IGNORED  # cannot even address it; push-pull will bring it whole
        if len(self._members) >= self.members_max:
            self.refused_full += 1
            return MergeOutcome.IGNORED
        self.set(update.node_id, update.state, update.incarnation, update.removal_epoch,
                 update.meta, now_ms)
        return MergeOutcome.ADDED

    def _emit(self, member: Member, previous: MemberState | None, now_ms: int) -> None:
        self._on_event(MemberEvent(member.node_id, previous, member.state, member.incarnation,
                                   member.meta, now_ms))
