"""BatchRound: a coordinator's rounds for one batch (txn/DESIGN.md §7.2).

Theory of operation
-------------------
``start`` votes for the coordinator itself (the same checks a participant makes) and sends one
``Prepare`` with every write set of the batch to each live member. Votes are counted per
member of the batch as they arrive; as soon as every member's fate is determined (enough YES
for its level, or too few outstanding voters left to reach it) the round decides, without
waiting for slow voters:

    member commits  ⇔  YES votes ≥ needed(level)   and every earlier member it built on commits
    needed(ONE) = 0, needed(QUORUM) = N // 2 + 1, needed(ALL) = N

If only the members at level ONE commit, nothing needs accepting: that is the vector a
recovery that finds no accepted one decides too (ONE members commit, the others abort), so
the learn goes out at once and a minority partition still takes ONE writes. Otherwise the coordinator records its own
acceptance (ballot 0) with the write sets in its txn store, sends ``Accept`` to the live
members and, with a quorum of acceptances, the vector is chosen: ``done`` gets one error or
None per member, and ``Learn`` goes to every live member. Refusals or silence that leave the
quorum out of reach end the round with ``CommitOutcomeUnknown`` (1180) for every member: the
instance's outcome is then the recovery's, learned later.

A transaction that wrote two databases (txn/DESIGN.md §10.2) is decided by one round over
both databases' batches, named after the first one's: ``members`` holds both batches' members
and ``tie`` the indexes of that transaction's members, which commit together or not at all
(a tied member refused makes the others abort with its error). Every write set is voted on in
its own database; the Prepare, the vector and the recovery are those of any instance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from marmotdb import errors
from marmotdb.errors import ClockOffsetError, CommitOutcomeUnknown, MarmotError, TransientError
from marmotdb.hlc import Timestamp
from marmotdb.peer.endpoint import Completion, Outcome
from marmotdb.storage.writeset import WriteSet
from marmotdb.txn.intents import rows_of
from marmotdb.txn.messages import Accept, Accepted, Learn, Prepare, Vote, Votes

if TYPE_CHECKING:
    from marmotdb.txn.cluster import ClusterCommit, Peer

RoundOutcome = list[MarmotError | None] | MarmotError
_CONFLICT_VOTES = (Vote.INTENT, Vote.STALE, Vote.SCHEMA, Vote.CLOCK)
_REFUSED_BECAUSE = {  # the 1213's text says which refusal it was
    Vote.INTENT: "a concurrent transaction wrote the same row",
    Vote.STALE: "the row changed since this transaction read it",
    Vote.SCHEMA: "the table's schema changed meanwhile",
    Vote.CLOCK: "this node's clock runs ahead of its peers' by more than max_clock_offset_ms",
}


class BatchRound:
    def __init__(self, cluster: ClusterCommit, database: str, batch: int,
                 members: list[tuple[WriteSet, bytes, str]],
                 done: Callable[[RoundOutcome], None], tie: Sequence[int] = ()):
        self._cluster = cluster
        self.instance = (cluster.node_id, database, batch)
        self._tie = tie  # members that commit together (a transaction of two databases)
        self._write_sets = [m[0] for m in members]
        self._encoded = [m[1] for m in members]
        self._levels = [m[2] for m in members]
        self._done = done
        self._peers: list[Peer] = []
        self._yes = [0] * len(members)
        self._no_reason = [Vote.UNAVAILABLE] * len(members)
        self._outstanding: set[int] = set()   # voters, then acceptors, not answered yet
        self._learning: set[int] = set()      # DDL: members that have not applied it yet
        self._needed: list[int] = []
        self._quorum = 1
        self._joining = False
        self._accepted = 0
        self._vector: list[bool] = []
        self._decided = False       # the vector is computed: votes arriving later are ignored
        self._own_durable = False   # our own acceptance survives power loss (counted)
        self._outcome: list[MarmotError | None] = []
        self._finished = False

    # ------------------------------------------------------------------ prepare
    def start(self, now_ms: int) -> None:
        cluster = self._cluster
        members = cluster.members()
        total = len(members)
        self._quorum = total // 2 + 1
        self._joining = not cluster.joined()  # no membership to count: only ONE commits
        self._needed = [votes_needed(level, total, self._joining) for level in self._levels]
        self._peers = [p for p in members if p.node_id != cluster.node_id and p.live]
        for i, vote in enumerate(cluster.participant.vote(self.instance, self._write_sets)):
            self._count(i, vote)
            if vote == Vote.YES:  # our own rows are intents too: a peer's batch must not
                cluster.intents.mark(self.instance, self._write_sets[i])  # pass them
        self._outstanding = {p.node_id for p in self._peers}
        self._spans = cluster.participant.note_spans(self.instance, self._write_sets) \
            if self._tie else None
        # Recorded before the first Prepare leaves: a coordinator restarted after a crash
        # never numbers a new batch with these origin sequences (peers may hold them), and
        # finishes this batch as any member does (txn/DESIGN.md §7.4).
        cluster.store.record_write_sets(self.instance, self._encoded, self._unilateral(),
                                        self._spans)
        cluster.store.committed(self._send_prepares)

    def _send_prepares(self) -> None:
        cluster = self._cluster
        prepare = Prepare(*self.instance, self._encoded, self._unilateral())
        now_ms = cluster.now_ms()
        deadline_ms = now_ms + cluster.settings.prepare_timeout_ms
        for peer in self._peers:
            cluster.request(peer, prepare, deadline_ms, now_ms,
                            lambda c, node=peer.node_id: self._on_votes(node, c))
        self._decide_if_determined()

    def _unilateral(self) -> list[bool]:
        """The vector without any vote: members at ONE commit, the others do not."""
        return [level == "ONE" for level in self._levels]

    def _count(self, index: int, vote: int) -> None:
        if vote == Vote.YES:
            self._yes[index] += 1
        elif self._no_reason[index] == Vote.UNAVAILABLE:
            self._no_reason[index] = vote

    def _on_votes(self, node_id: int, completion: Completion) -> None:
        if self._decided or node_id not in self._outstanding:  # late: the set now waits for
            return                                               # acceptances
        self._outstanding.discard(node_id)
        reply = completion.reply
        if completion.outcome is Outcome.REPLIED and isinstance(reply, Votes) \
                and len(reply.votes) == len(self._yes):
            try:
                self._cluster.hlc.update(Timestamp(reply.clock_wall_ms, reply.clock_logical,
                                                   node_id))
            except ClockOffsetError:  # the voter's clock is far ahead: its votes still count,
                pass                  # its time is not absorbed (hlc.py)
            for i, vote in enumerate(reply.votes):
                self._count(i, vote)
        self._decide_if_determined()

    def _decide_if_determined(self) -> None:
        if self._finished or self._decided:
            return
        outstanding = len(self._outstanding)
        if all(yes >= need or yes + outstanding < need
               for yes, need in zip(self._yes, self._needed)):
            self._decide()

    # ------------------------------------------------------------------ decide
    def _decide(self) -> None:
        outcome = self._tied_outcomes() if self._tie else self._member_outcomes()
        vector = [error is None for error in outcome]
        cluster = self._cluster
        if vector == self._unilateral():  # only ONE members commit: nobody may decide else
            self._learn(vector)
            self._finish(outcome)
            return
        ballot = (0, cluster.node_id)
        cluster.store.record_decision(self.instance, self._encoded, self._unilateral(), ballot,
                                      vector, self._spans)
        self._vector, self._outcome = vector, outcome
        self._decided = True
        now_ms = cluster.now_ms()
        accept = Accept(*self.instance, ballot, vector)
        deadline_ms = now_ms + cluster.settings.decision_timeout_ms
        self._outstanding = {p.node_id for p in self._peers}
        for peer in self._peers:
            cluster.request(peer, accept, deadline_ms, now_ms,
                            lambda c, node=peer.node_id: self._on_accepted(node, c))
        cluster.store.durable(self._own_acceptance)  # counted once it survives power loss

    def _member_outcomes(self, forced: dict[int, MarmotError] | None = None
                         ) -> list[MarmotError | None]:
        """One error (or None: commit) per member, dependencies inside the batch included;
        ``forced``: members decided aborted whatever their votes (``_tied_outcomes``)."""
        outcome: list[MarmotError | None] = []
        written: dict[Any, int] = {}  # row -> index of the last member that wrote it
        for i, write_set in enumerate(self._write_sets):
            error = None if self._yes[i] >= self._needed[i] else self._refusal(i)
            if error is None and forced:
                error = forced.get(i)
            rows = [row for row, _ in rows_of(write_set)]
            if error is None and any(outcome[written[r]] is not None
                                     for r in rows if r in written):
                error = _conflict("it built on a transaction that did not commit")
            outcome.append(error)
            for row in rows:
                written[row] = i
        return outcome

    def _tied_outcomes(self) -> list[MarmotError | None]:
        """``_member_outcomes`` where the tied members all abort if one of them does (then
        the members built on them are decided again)."""
        forced: dict[int, MarmotError] = {}
        while True:
            outcome = self._member_outcomes(forced)
            refused = next((outcome[i] for i in self._tie if outcome[i] is not None), None)
            if refused is None or all(outcome[i] is not None for i in self._tie):
                return outcome
            forced.update((i, refused) for i in self._tie if outcome[i] is None)

    def _refusal(self, index: int) -> MarmotError:
        reason = self._no_reason[index]
        if reason in _CONFLICT_VOTES:
            return _conflict(_REFUSED_BECAUSE[reason])
        if self._joining:
            return TransientError(
                "marmotdb: this node is still joining the cluster (no seed has sent it the "
                "member table yet); the transaction was not committed",
                code=errors.ER_UNKNOWN_COM_ERROR, sqlstate="08S01")
        return TransientError(
            f"marmotdb: quorum not reachable ({self._yes[index]} of {self._needed[index]} "
            "members needed answered); the transaction was not committed",
            code=errors.ER_UNKNOWN_COM_ERROR, sqlstate="08S01")

    # ------------------------------------------------------------------ accept
    def _own_acceptance(self) -> None:
        self._own_durable = True
        if not self._finished:
            self._accepted += 1
            self._check_accepted()

    def _on_accepted(self, node_id: int, completion: Completion) -> None:
        if self._finished or node_id not in self._outstanding:
            return
        self._outstanding.discard(node_id)
        reply = completion.reply
        if completion.outcome is Outcome.REPLIED and isinstance(reply, Accepted) and reply.ok:
            self._accepted += 1
        self._check_accepted()

    def _check_accepted(self) -> None:
        own_pending = 0 if self._own_durable else 1
        if self._accepted >= self._quorum:
            self._outstanding = set()
            self._chosen()
        elif self._accepted + len(self._outstanding) + own_pending < self._quorum:
            self._finish(CommitOutcomeUnknown(
                "marmotdb: the commit decision did not reach a quorum; the transaction may or "
                "may not have committed"))

    def _chosen(self) -> None:
        if not any(ws.schema_changes for ws, commit in zip(self._write_sets, self._vector)
                   if commit):
            self._learn(self._vector)
            self._finish(self._outcome)
            return
        # DDL: answer once the live members applied it (bounded), so the next statement on
        # any of them finds the new schema
        cluster, learn = self._cluster, Learn(*self.instance, self._vector)
        now_ms = cluster.now_ms()
        self._outstanding = set()  # late acceptances are ignored from now on
        self._learning = {p.node_id for p in self._peers}
        for peer in self._peers:
            cluster.request(peer, learn, now_ms + cluster.settings.decision_timeout_ms, now_ms,
                            lambda c, node=peer.node_id: self._on_learned(node))
        if not self._learning:
            self._finish(self._outcome)

    def _on_learned(self, node_id: int) -> None:
        self._learning.discard(node_id)
        if not self._learning:
            self._finish(self._outcome)

    def _learn(self, vector: list[bool]) -> None:
        learn = Learn(*self.instance, vector)
        for peer in self._peers:
            self._cluster.send(peer, learn)

    def _finish(self, outcome: RoundOutcome) -> None:
        if not self._finished:
            self._finished = True
            self._done(outcome)


def votes_needed(level: str, total: int, joining: bool) -> int:
    """YES votes a member at ``level`` needs among ``total`` members (module docstring); a
    node still joining counts no membership: only ONE commits (``total + 1`` is out of
    reach)."""
    if level == "ONE":
        return 0
    if joining:
        return total + 1
    return total if level == "ALL" else total // 2 + 1


def _conflict(why: str) -> MarmotError:
    return TransientError(f"Deadlock found when trying to get lock; try restarting transaction "
                          f"({why})", code=errors.ER_LOCK_DEADLOCK, sqlstate="40001")
