"""A defect the bank2 torture workload found (transactions writing two databases), reduced to
an in-memory test; fixed since (below, "Fix").

**A refused second branch leaves a gap in the first database's origin sequence** — found by
``marmotdb torture --workload bank2 --faults none --time 10 --clients 6 --loopback`` (no fault
at all): the run never converged ("no convergence": every node's applied vector of bank2_a
stopped at origin 2 seq 69 and of bank2_b at 206 while the logs went on to 257 and 243;
``behind_txns`` never fell; every node's commit log lacks exactly bank2_a 2:70, bank2_b 2:207,
bank2_a 3:189, bank2_b 3:231 and nothing else differs). Transfer 293 (n2, account 0 in
bank2_a to 5 in bank2_b) was refused at COMMIT with 1213 "a row of `accounts` changed after
this transaction read it" between commits 2:69 and 2:71 of bank2_a.

Cause (txn/transaction.py ``_commit_group``): in a cluster the branches are recorded one by
one (``CommitPipeline.record``: write set, then its log row). The first branch's record
appends its log row, which advances the commit log's cached ``max_logged`` of this origin
(storage/commitlog.py ``CommitLog.append``); the second branch's snapshot check (§7.2) then
refuses, the transaction rolls back both savepoints — the log row is gone, the cache is not.
With nobody waiting, the empty batch is rolled back at the next advance and the next batch
gets a fresh ``LogWriter``; but when another transaction already waits for the first
database's turn, ``CommitPipeline._can_join`` lets it into the open (empty) batch without a
flush, and its write set takes the sequence after the vanished one (the test: a second
session waits for d's turn while the refused COMMIT runs). The
applied vector stops at a gap (§10.2 step a says why no gap may exist), so every node,
the coordinator included, stays "behind" for ever: the cluster never settles, QUORUM reads
wait for a vector nobody reaches, and the log is never trimmed past it. The one-node path
builds every other branch (and so runs their checks) before recording the first; the cluster
path does not.

Fix: a pipeline remembers its log writer as it was before the owner's write set was recorded
(``CommitPipeline._before_record``, ``LogWriter.mark``) until the savepoint joins the batch;
the owner's rollback (``Transaction._undo`` → ``CommitPipeline.unrecord``) restores it, so the
vanished record's sequence is taken again by the next write set — never sent to a peer (only
a joined batch is), so reusing it is safe. It covers any refusal between record and join, not
only the snapshot check.
"""

from __future__ import annotations

from marmotdb.storage.commitlog import iter_log
from tests.txn.test_cluster_commit import Cluster, rows
from tests.txn.test_cluster_two_databases import two  # noqa: F401 — the fixture

__all__ = ["two"]


def origin_seqs(cluster: Cluster, node_id: int, database: str, origin: int) -> list[int]:
    state = cluster.nodes[node_id].state
    conn = state.read_connection(state.databases.get(database))
    with state.binding(conn).trusted_scope():
        return sorted(e.origin_seq for e in iter_log(conn) if e.origin == origin)


def test_a_refused_second_branch_leaves_no_gap_in_the_first_databases_sequence(
        two: Cluster) -> None:  # noqa: F811
    first, waiting = two.sessions[1], two.nodes[1].open_session("root", now_ms=two.now_ms,
                                                                   database="d")
    two.ok(1, "BEGIN")
    assert rows(two, 1, "SELECT v FROM e.t WHERE id = 1") == [(0,)]
    two.ok(1, "UPDATE t SET v = 1 WHERE id = 1")  # holds d's turn
    two.ok(2, "UPDATE e.t SET v = 9 WHERE id = 1")
    two.advance(100)
    two.ok(1, "UPDATE e.t SET v = v + 1 WHERE id = 1")  # holds e's turn
    two.sessions[1] = waiting
    two.ok(1, "BEGIN")
    queued = two.submit(1, "INSERT INTO t VALUES (5, 5)")  # waits for d's turn
    two.sessions[1] = first
    refused = two.run(1, "COMMIT")  # the second branch's snapshot check refuses: 1213
    assert refused.error is not None and refused.error.code == 1213
    two.advance(100)
    assert two.replies.pop((1, queued)).error is None  # granted d's turn: the INSERT ran
    two.sessions[1] = waiting
    two.ok(1, "COMMIT")  # origin 1's next write set of d
    two.advance(100)
    for node_id in (1, 2, 3):
        seqs = origin_seqs(two, node_id, "d", 1)
        assert seqs == list(range(1, seqs[-1] + 1)), (node_id, seqs)
