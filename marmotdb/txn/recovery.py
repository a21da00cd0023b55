"""RecoveryRound: finish an instance its coordinator left undecided (txn/DESIGN.md §7.3).

Theory of operation (single-decree Paxos over the instance's vector)
--------------------------------------------------------------------
A member that held an instance undecided for ``txn_recovery_timeout_ms`` picks a ballot
above every ballot it has seen for it and asks every live member (itself included) to
promise it (``Recover`` → ``Promised``). With a quorum of promises it proposes:

* the vector of the highest ballot any of them accepted — a vector that may have been chosen
  is in every quorum, so it is the only safe proposal; or
* when none accepted any, the vector without votes: members at level ONE commit, the others
  abort (what the coordinator itself decides when no vote arrives, so both agree).

It has that vector accepted by a quorum (``Accept`` at its ballot) and sends ``Learn`` to every
live member. A refusal (a higher ballot promised elsewhere: another recovery, or the
coordinator came back) ends the round; the next sweep tries again with a higher ballot if the
instance is still undecided. The ONE flags come from any promiser that recorded the batch; if
no promiser recorded it, nobody can have applied any of it, and the instance is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marmotdb.peer.endpoint import Completion, Outcome
from marmotdb.txn.messages import Accept, Accepted, Ballot, Learn, Promised, Recover
from marmotdb.txn.txn_store import Instance

if TYPE_CHECKING:
    from marmotdb.txn.cluster import ClusterCommit, Peer


class RecoveryRound:
    def __init__(self, cluster: ClusterCommit, instance: Instance, ballot: Ballot):
        self._cluster = cluster
        self.instance = instance
        self.ballot = ballot
        self._peers: list[Peer] = []
        self._quorum = 1
        self._promises: list[Promised] = []
        self._accepted = 0
        self._waiting: set[int] = set()
        self._vector: list[bool] | None = None
        self._own_pending = False  # our own promise or acceptance, not yet durable
        self.finished = False
        self.started_ms = 0

    def start(self, now_ms: int) -> None:
        self.started_ms = now_ms
        cluster = self._cluster
        members = cluster.members()
        self._quorum = len(members) // 2 + 1
        self._peers = [p for p in members if p.node_id != cluster.node_id and p.live]
        self._waiting = {p.node_id for p in self._peers}
        own = cluster.participant.promise(self.instance, self.ballot)
        recover = Recover(*self.instance, self.ballot)
        deadline_ms = now_ms + cluster.settings.decision_timeout_ms
        for peer in self._peers:
            cluster.request(peer, recover, deadline_ms, now_ms,
                            lambda c, node=peer.node_id: self._on_promised(node, c))
        self._own_pending = True
        cluster.store.durable(lambda: self._own_promise(own))  # counted once it is kept

    def _own_promise(self, own: Promised) -> None:
        self._own_pending = False
        self._promised(own)

    # ------------------------------------------------------------------ phase 1
    def _on_promised(self, node_id: int, completion: Completion) -> None:
        if self._vector is not None or node_id not in self._waiting:
            return
        self._waiting.discard(node_id)
        reply = completion.reply
        if completion.outcome is Outcome.REPLIED and isinstance(reply, Promised):
            self._promised(reply)
        elif len(self._promises) + len(self._waiting) + self._own_pending < self._quorum:
            self.finished = True

    def _promised(self, promise: Promised) -> None:
        if self.finished or self._vector is not None:
            return
        if not promise.ok:
            self._cluster.saw_ballot(self.instance, tuple(promise.promised))  # type: ignore[arg-type]
            self.finished = True
            return
        self._promises.append(promise)
        if len(self._promises) >= self._quorum:
            self._propose()

    # ------------------------------------------------------------------ phase 2
    def _propose(self) -> None:
        accepted = [p for p in self._promises if p.vector is not None]
        if accepted:
            best = max(accepted, key=lambda p: tuple(p.accepted))
            vector = list(best.vector or [])
        else:
            one = next((p.one for p in self._promises if p.one), None)
            if one is None:  # nobody here recorded the batch: nothing of it was applied
                self.finished = True
                return
            vector = list(one)
        self._vector = vector
        cluster = self._cluster
        own_accepted = cluster.participant.accept(self.instance, self.ballot, vector)
        now_ms = cluster.now_ms()
        accept = Accept(*self.instance, self.ballot, vector)
        self._waiting = {p.node_id for p in self._peers}
        self._own_pending = own_accepted
        for peer in self._peers:
            cluster.request(peer, accept, now_ms + cluster.settings.decision_timeout_ms, now_ms,
                            lambda c, node=peer.node_id: self._on_accepted(node, c))
        if own_accepted:
            cluster.store.durable(self._own_acceptance)  # counted once it is kept
        self._check_chosen()

    def _own_acceptance(self) -> None:
        self._own_pending = False
        if not self.finished:
            self._accepted += 1
            self._check_chosen()

    def _on_accepted(self, node_id: int, completion: Completion) -> None:
        if self.finished or node_id not in self._waiting:
            return
        self._waiting.discard(node_id)
        reply = completion.reply
        if completion.outcome is Outcome.REPLIED and isinstance(reply, Accepted):
            if reply.ok:
                self._accepted += 1
            else:
                self._cluster.saw_ballot(self.instance, tuple(reply.promised))  # type: ignore[arg-type]
        self._check_chosen()

    def _check_chosen(self) -> None:
        if self.finished:
            return
        if self._accepted >= self._quorum:
            self.finished = True
            assert self._vector is not None
            learn = Learn(*self.instance, self._vector)
            for peer in self._peers:
                self._cluster.send(peer, learn)
            self._cluster.participant.on_learn(None, learn, self._cluster.now_ms())
        elif self._accepted + len(self._waiting) + self._own_pending < self._quorum:
            self.finished = True
