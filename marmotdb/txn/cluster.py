"""ClusterCommit: the distributed commit of one node, as the pipelines' ``Replicator``.

It owns what the coordinator and participant sides share — the txn store, the intents, the
peer endpoint's txn handlers — and starts a ``BatchRound`` for each batch a pipeline hands
it. The node (node.py) builds it when it joins a cluster; everything runs inside the node's
inputs (peer frames, timers), so the simulator and the runtime drive the same code.

Members: ``roster()`` lists the nodes counted in ``N`` (not LEAVING or REMOVED) and whether
each is live (prepares go to live ones only; dead ones still count, so a minority cannot
write). A cluster of one has no rounds: its pipelines commit as on a single node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from marmotdb.errors import MarmotError
from marmotdb.hlc import HLC
from marmotdb.peer.endpoint import Completion, PeerEndpoint
from marmotdb.storage.writeset import WriteSet
from marmotdb.txn.intents import Intents
from marmotdb.txn.messages import Accept, Learn, Prepare
from marmotdb.txn.participant import Participant
from marmotdb.txn.rounds import BatchRound, RoundOutcome
from marmotdb.txn.txn_store import TxnStore


@dataclass(frozen=True, slots=True)
class Peer:
    node_id: int
    addr: Any       # where its peer frames go (None for this node)
    live: bool      # ALIVE or SUSPECT: it gets prepares


@dataclass(frozen=True, slots=True)
class CommitSettings:
    prepare_timeout_ms: int = 2000   # votes not in by then count as missing
    decision_timeout_ms: int = 2000  # acceptances not in by then: outcome unknown (1180)


class ClusterCommit:
    def __init__(self, *, node_id: int, state: Any, endpoint: PeerEndpoint, store: TxnStore,
                 roster: Callable[[], list[Peer]], now_ms: Callable[[], int],
                 settings: CommitSettings | None = None):
        self.node_id = node_id
        self.hlc: HLC = state.hlc
        self.store = store
        self.intents = Intents()
        self.settings = settings or CommitSettings()
        self.now_ms = now_ms
        self._roster = roster
        self._endpoint = endpoint
        self.participant = Participant(state, store, self.intents, endpoint.reply)
        endpoint.on_request([Prepare], self.participant.on_prepare)
        endpoint.on_request([Accept], self.participant.on_accept)
        endpoint.on_message([Learn], self.participant.on_learn)  # type: ignore[list-item]
        endpoint.on_request([Learn], self.participant.on_learn_request)
        self.rounds = 0

    # ------------------------------------------------------------------ Replicator
    def members(self) -> list[Peer]:
        return self._roster()

    def replicated(self) -> bool:
        return len(self._roster()) > 1

    def decide(self, database: str, batch: int, members: list[tuple[WriteSet, bytes, str]],
               done: Callable[[RoundOutcome], None]) -> None:
        self.rounds += 1
        round_ = BatchRound(self, database, batch, members, lambda outcome: self._decided(
            round_.instance, outcome, done))
        round_.start(self.now_ms())

    def _decided(self, instance: Any, outcome: RoundOutcome,
                 done: Callable[[RoundOutcome], None]) -> None:
        done(outcome)  # the pipeline commits or rolls back the batch now
        if isinstance(outcome, MarmotError):
            return  # unknown: intents and record stay until the outcome is learned
        self.intents.release(instance)
        self.store.forget(instance)

    # ------------------------------------------------------------------ sending
    def request(self, peer: Peer, message: msgspec.Struct, deadline_ms: int, now_ms: int,
                on_done: Callable[[Completion], None]) -> None:
        self._endpoint.request(peer.addr, message, deadline_ms, now_ms, on_done)

    def send(self, peer: Peer, message: msgspec.Struct) -> None:
        self._endpoint.send(peer.addr, message)
