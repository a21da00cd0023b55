"""CommitGroup: the batches of a transaction's branches, decided as one instance.

Theory of operation (txn/DESIGN.md §10.2, "In a cluster")
---------------------------------------------------------
A transaction that wrote several databases in a cluster records each branch in its own
pipeline's batch (versions and log row in its savepoint, released into the batch) and joins
them all with one ``CommitGroup``. A batch holding such a member is *sealed*: nobody else
joins it after that member, so the member is its batch's last and the batch is committed at
the pipeline's next advance. Each pipeline then hands its batch to the group (``hand``)
instead of starting rounds of its own, and stays busy (``_deciding``) as for any batch in
its rounds. When every branch's batch is in, the group asks the replicator for one decision
over all of them (``decide_group``: one instance, named after the first branch's batch),
the transaction's members tied so that they commit together or not at all, and gives each
pipeline its part of the outcome: every pipeline commits its batch, or rolls it back and
re-applies the members decided COMMIT, exactly as after its own rounds.

Why the group waits for every batch instead of deciding as soon as the first is in: the
Prepare carries every branch's write set, and a branch not flushed yet has no batch number,
nor a place in a vector. A branch's pipeline flushes as soon as the transaction gives its
turn back (its batch is sealed), so the wait is one deferred step, never a client's round
trip. A branch that cannot join (its pipeline closed, the node shutting down) *breaks* the
group: the batches already in are decided aborted for every member, logged as abort
markers like any refused member, so no origin sequence is left with a gap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marmotdb.errors import MarmotError
from marmotdb.storage.writeset import WriteSet

RoundOutcome = list[MarmotError | None] | MarmotError
Members = list[tuple[WriteSet, bytes, str]]


class CommitGroup:
    __slots__ = ("_names", "_parts", "_broken")

    def __init__(self, names: list[str]):
        """``names``: the databases of the transaction's branches, the first (A) first: the
        instance is named after A's batch."""
        self._names = names
        self._parts: dict[str, tuple[int, Members, Callable[[RoundOutcome], None], Any]] = {}
        self._broken: MarmotError | None = None

    def hand(self, database: str, batch: int, members: Members, replicator: Any,
             decided: Callable[[RoundOutcome], None]) -> None:
        """A branch's pipeline flushed its sealed batch (the group's member last); once every
        branch's batch is in, one round decides them all."""
        if self._broken is not None:
            decided([self._broken] * len(members))
            return
        self._parts[database] = (batch, members, decided, replicator)
        if len(self._parts) == len(self._names):
            self._decide()

    def break_(self, error: MarmotError) -> None:
        """A branch will never be handed (it could not join, or its pipeline closed): every
        batch of the group is decided aborted, the ones in now, the others when they come."""
        if self._broken is not None or len(self._parts) == len(self._names):
            return  # (already deciding: its round's outcome stands)
        self._broken = error
        parts, self._parts = self._parts, {}
        for _, members, decided, _ in parts.values():
            decided([error] * len(members))

    def _decide(self) -> None:
        parts = [(name, *self._parts[name][:2]) for name in self._names]
        tie, start = [], 0
        for _, _, members in parts:
            start += len(members)
            tie.append(start - 1)  # the group's member is its batch's last (sealed)
        replicator = self._parts[self._names[0]][3]

        def done(outcomes: list[RoundOutcome]) -> None:
            for name, outcome in zip(self._names, outcomes):
                self._parts[name][2](outcome)
        replicator.decide_group(parts, tie, done)
