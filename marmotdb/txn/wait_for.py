"""Wait-for cycles over a node's write turns: deadlock detection for transactions that hold
the turns of several databases (txn/DESIGN.md §10.2 step 2).

A transaction writing one database holds one turn and waits for nothing while it holds it, so
waits for turns can form no cycle. One writing two databases holds the turn of the first while
it waits for the second: two such transactions crossing (T1 holds A and wants B, T2 holds B and
wants A) would each wait ``innodb_lock_wait_timeout`` and get 1205. Instead the wait that would
close the cycle is refused at once with 1213, as InnoDB's deadlock detection does.

The graph is never stored: each pipeline knows the owner of its turn and who queues for it, so
the walk from the wanted turn follows owner → the turn that owner waits for → its owner … A
cycle can only be closed by the wait being added, so checking each new wait suffices. The walk
visits each holder once; it runs only when a transaction already holding a turn must wait.
"""

from __future__ import annotations

from collections.abc import Iterable

from marmotdb.txn.pipeline import CommitPipeline


def closes_cycle(owner: int, wanted: CommitPipeline,
                 pipelines: Iterable[CommitPipeline]) -> bool:
    """Would ``owner`` waiting for ``wanted``'s turn close a cycle of waits (a deadlock)?"""
    every = list(pipelines)
    holder = wanted.owner
    seen: set[int] = set()
    while holder is not None and holder not in seen:
        if holder == owner:
            return True
        seen.add(holder)
        waited = next((p for p in every if p.is_waiting(holder)), None)
        if waited is None:
            return False
        holder = waited.owner
    return False
