"""A transaction writing two databases in a three-node cluster (txn/DESIGN.md §10.2, "In a
cluster"): one instance decides both databases' batches, so every node ends with both
branches or neither — at every consistency level, with a participant refusing either
branch, the coordinator silent or restarted after the decision, a participant stopped
between applying its two branches, and learns lost.

The in-memory harness of test_cluster_commit.py: three sans-I/O nodes, frames delivered by
the test, time moved by the test.
"""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path

import pytest

from marmotdb.storage.writeset import decode_write_set
from marmotdb.txn.pending import Pending
from marmotdb.txn.txn_store import TxnStore
from tests.cluster.driver import HandDriver
from tests.cluster.driver import addr as swim_addr
from tests.txn.test_cluster_commit import Cluster, deliver_queued, rows

LEARN_TAG = 36


@pytest.fixture
def two(tmp_path: Path):
    """Databases d (the sessions' own) and e, a table ``t (id, v)`` in each, row 1 in both."""
    c = Cluster(tmp_path).in_database("e").in_database("d")
    c.ok(1, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    c.ok(1, "CREATE TABLE e.t (id INT PRIMARY KEY, v INT)")
    c.ok(1, "INSERT INTO t VALUES (1, 0)")
    c.ok(1, "INSERT INTO e.t VALUES (1, 0)")
    yield c
    c.close()


def both(cluster: Cluster, node_id: int) -> tuple[list[tuple[object, ...]], ...]:
    return (rows(cluster, node_id, "SELECT id, v FROM t ORDER BY id"),
            rows(cluster, node_id, "SELECT id, v FROM e.t ORDER BY id"))


def settled(cluster: Cluster, acceptor_leftovers: bool = False) -> None:
    """No node holds an instance, an intent or a promise; every replica is the same.
    ``acceptor_leftovers``: a node may keep the acceptor state of an instance whose Prepare
    and learn it both missed (no write sets: it was applied by catch-up; the record goes at
    its next start — as for instances of one database)."""
    for i, node in cluster.nodes.items():
        assert node.cluster is not None
        records = node.cluster.store.load()
        if acceptor_leftovers:
            records = {k: r for k, r in records.items() if r.write_sets}
        assert records == {}, i
        assert len(node.cluster.intents) == 0, i
        assert not node.cluster.participant.undecided, i
        assert not node.cluster.participant.spanning, i
    for database in ("d", "e"):
        assert cluster.checksums(1, database) == cluster.checksums(2, database) == \
            cluster.checksums(3, database)


def open_transaction(cluster: Cluster, node_id: int = 1, v: int = 1) -> None:
    cluster.ok(node_id, "BEGIN")
    cluster.ok(node_id, f"UPDATE t SET v = {v} WHERE id = 1")
    cluster.ok(node_id, f"UPDATE e.t SET v = {v} WHERE id = 1")


@pytest.mark.parametrize("level", ["ONE", "QUORUM", "ALL"])
def test_both_branches_commit_on_every_node_at_each_level(two: Cluster, level: str) -> None:
    two.ok(1, f"SET marmot_write_consistency = '{level}'")
    two.ok(1, "BEGIN")
    two.ok(1, "INSERT INTO t VALUES (2, 2)")
    two.ok(1, "INSERT INTO e.t VALUES (2, 2)")
    two.ok(1, "INSERT INTO t VALUES (3, 3)")
    two.ok(1, "COMMIT")
    two.advance(100)  # (ONE: the learn is on its way)
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 0), (2, 2), (3, 3)], [(1, 0), (2, 2)])
    settled(two)
    two.ok(2, "UPDATE e.t SET v = 5 WHERE id = 2")  # the rows are free again everywhere
    two.ok(3, "UPDATE t SET v = 5 WHERE id = 2")


@pytest.mark.parametrize("refusing", ["d", "e"])
def test_a_refusal_of_either_branch_aborts_both_everywhere(two: Cluster, refusing: str) -> None:
    """Node 2 commits a change of the row the transaction writes in ``refusing`` first: the
    members vote NO on that branch (stale base, intent), and the other branch aborts with it."""
    open_transaction(two)
    other = "t" if refusing == "d" else "e.t"
    two.ok(2, f"UPDATE {other} SET v = 7 WHERE id = 1")
    refused = two.run(1, "COMMIT")
    assert refused.error is not None and refused.error.code == 1213
    two.advance(100)
    expected = ([(1, 7)], [(1, 0)]) if refusing == "d" else ([(1, 0)], [(1, 7)])
    for i in (1, 2, 3):
        assert both(two, i) == expected
    settled(two)


def test_a_refusal_by_the_snapshot_check_of_the_second_branch_aborts_both(two: Cluster
                                                                          ) -> None:
    """§7.2 "Reads before the first write", per branch: the transaction read e.t, a commit
    elsewhere changed the row, then the transaction wrote it (computed from its read)."""
    two.ok(1, "BEGIN")
    assert rows(two, 1, "SELECT v FROM e.t WHERE id = 1") == [(0,)]
    two.ok(1, "UPDATE t SET v = 1 WHERE id = 1")
    two.ok(2, "UPDATE e.t SET v = 9 WHERE id = 1")
    two.advance(100)
    two.ok(1, "UPDATE e.t SET v = v + 1 WHERE id = 1")  # sees 9 (writes see the latest)
    refused = two.run(1, "COMMIT")
    assert refused.error is not None and refused.error.code == 1213
    assert "changed after this transaction read it" in refused.error.message
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 0)], [(1, 9)])
    settled(two)


def test_members_abort_both_branches_when_the_coordinator_goes_silent_before_deciding(
        two: Cluster) -> None:
    open_transaction(two)
    request = two.submit(1, "COMMIT")
    deliver_queued(two)                 # the prepares arrive; the votes will not
    two.cut = {1}
    assert all(len(two.nodes[i].cluster.intents) == 2 for i in (2, 3))  # type: ignore[union-attr]
    two.advance(600)
    assert two.replies.pop((1, request)).error.code == 1047  # type: ignore[union-attr]
    for _ in range(20):
        two.advance(500)                # nodes 2 and 3 recover it: nobody accepted -> abort
    two.cut = set()
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 0)], [(1, 0)])
    two.ok(2, "UPDATE t SET v = 2 WHERE id = 1")  # both rows free again
    two.ok(3, "UPDATE e.t SET v = 2 WHERE id = 1")
    settled(two)


@pytest.mark.parametrize("restarted", [True, False])
def test_a_decision_accepted_before_the_coordinator_died_is_finished_in_both_databases(
        two: Cluster, restarted: bool) -> None:
    """The coordinator's Accept reaches node 2 only, then it is cut off (1180) — and stopped,
    or not: its batches were never committed. Nodes 2 and 3 recover the instance and apply
    both branches; node 1 (started again: it reloads the instance from its txn store)
    recovers it too and applies both."""
    open_transaction(two)
    request = two.submit(1, "COMMIT")
    deliver_queued(two)                 # prepares
    deliver_queued(two)                 # votes: node 1 accepts and sends Accept
    two.frames = deque(f for f in two.frames if f[1] == 2)  # only node 2 gets it
    deliver_queued(two)                 # node 2 accepts
    two.cut = {1}
    two.advance(600)
    reply = two.replies.pop((1, request))
    assert reply.error is not None and reply.error.code == 1180
    if restarted:
        two.restart(1)                  # its open batches are gone; the store is not
    assert len(two.nodes[1].cluster.store.load()) == 1  # type: ignore[union-attr]
    for _ in range(20):
        two.advance(500)
    for i in (2, 3):
        assert both(two, i) == ([(1, 1)], [(1, 1)])
    two.cut = set()
    for _ in range(20):
        two.advance(500)
    assert both(two, 1) == ([(1, 1)], [(1, 1)])
    settled(two)
    two.ok(1, "INSERT INTO e.t VALUES (2, 2)")  # node 1 numbers e's batches on, no gap
    two.ok(1, "INSERT INTO t VALUES (2, 2)")
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 1), (2, 2)], [(1, 1), (2, 2)])
    settled(two)


def test_a_participant_stopped_between_its_two_applies_finishes_after_restart(
        two: Cluster) -> None:
    """Node 3 applies the outcome's d part; its e part never runs (the node stops first).
    The instance stays in node 3's txn store until both are applied: restarted, node 3
    recovers it, skips the part its commit log holds, and applies the other."""
    node3 = two.nodes[3]
    e_pipeline = node3.state.pipeline(node3.state.databases.get("e"))
    e_pipeline.run_exclusive = lambda work: Pending()  # type: ignore[method-assign]
    open_transaction(two)
    two.ok(1, "COMMIT")
    two.advance(100)
    assert both(two, 3) == ([(1, 1)], [(1, 0)])  # half applied: d only
    assert len(node3.cluster.store.load()) == 1  # type: ignore[union-attr]
    two.restart(3)
    for _ in range(20):
        two.advance(500)
    assert both(two, 3) == ([(1, 1)], [(1, 1)])
    settled(two)


def test_lost_learns_are_finished_by_recovery_in_both_databases(two: Cluster) -> None:
    two.dropped_tags = {LEARN_TAG}
    open_transaction(two)
    two.ok(1, "COMMIT")                 # chosen: acknowledged; the learns are lost
    assert both(two, 1) == ([(1, 1)], [(1, 1)])
    assert both(two, 2) == ([(1, 0)], [(1, 0)])
    two.dropped_tags = set()
    for _ in range(20):
        two.advance(500)                # nodes 2 and 3 recover: the accepted vector wins
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 1)], [(1, 1)])
    settled(two)


def test_a_node_that_missed_the_transaction_catches_up_both_databases(two: Cluster) -> None:
    two.cut = {3}
    open_transaction(two)
    two.ok(1, "COMMIT")
    two.cut = set()
    for _ in range(20):
        two.advance(500)
    assert both(two, 3) == ([(1, 1)], [(1, 1)])
    settled(two)


def test_the_txn_store_numbers_each_database_of_a_spanning_instance_on_its_own(
        tmp_path: Path) -> None:
    """An instance of two databases is named after d's batch; e's member keeps its own
    origin sequence: a restarted coordinator numbers e's batches above it and d's above d's
    (never ``batch + position``, which would leave a gap in d's sequence)."""
    store = TxnStore(tmp_path)
    store.record_write_sets((1, "d", 5), [b"a", b"b"], [False, False], [("d", 5), ("e", 9)])
    store.record_write_sets((1, "d", 7), [b"c"], [False])
    assert store.max_origin_seq(1, "d") == 7
    assert store.max_origin_seq(1, "e") == 9
    store.accept((1, "d", 5), (0, 1), [True, True])
    assert sorted(store.accepted_commits()) == [(1, "d", 5), (1, "e", 9)]
    store.forget((1, "d", 5), [True, True], 0)
    assert store.max_origin_seq(1, "e") == 0
    store.close()


def test_a_spanning_instance_is_one_prepare_with_both_write_sets(two: Cluster) -> None:
    open_transaction(two)
    request = two.submit(1, "COMMIT")
    prepares = [f for f in two.frames if f[1] == 2]
    assert len(prepares) == 1
    store = two.nodes[2].cluster.store  # type: ignore[union-attr]
    deliver_queued(two)
    ((instance, record),) = store.load().items()
    assert instance[1] == "d"
    assert [decode_write_set(ws).database for ws in record.write_sets] == ["d", "e"]
    two.deliver()
    for _ in range(5):
        if (1, request) in two.replies:
            break
        two.advance(100)
    assert two.replies.pop((1, request)).error is None
    settled(two)


def test_a_cascade_joining_a_batch_of_others_decides_them_all_in_one_instance(
        two: Cluster) -> None:
    """An autocommit DELETE that cascades into e takes its first turn (d's) like any
    autocommit statement: it joins d's open batch behind another session's INSERT (both
    waited behind a third session's transaction). That batch (sealed behind the cascade)
    and e's are decided by one round; every member commits on every node."""
    two.ok(1, "CREATE TABLE parent (id INT PRIMARY KEY)")
    two.ok(1, "CREATE TABLE e.child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) "
              "REFERENCES d.parent (id) ON DELETE CASCADE)")
    two.ok(2, "INSERT INTO parent VALUES (1), (2)")
    two.ok(2, "INSERT INTO e.child VALUES (10, 1), (20, 2)")
    node2 = two.nodes[2]
    holder = node2.open_session("root", now_ms=two.now_ms, database="d")
    other = node2.open_session("root", now_ms=two.now_ms, database="d")
    for request, sql in ((10_001, "BEGIN"), (10_002, "UPDATE t SET v = 9 WHERE id = 1")):
        node2.submit(holder, request, sql, now_ms=two.now_ms)  # holds d's turn
        assert two.replies.pop((2, request)).error is None
    rounds = node2.cluster.rounds  # type: ignore[union-attr]
    node2.submit(other, 10_003, "INSERT INTO t VALUES (5, 5)", now_ms=two.now_ms)
    cascade = two.submit(2, "DELETE FROM parent WHERE id = 1")
    assert (2, 10_003) not in two.replies and (2, cascade) not in two.replies  # both wait
    node2.submit(holder, 10_004, "ROLLBACK", now_ms=two.now_ms)
    two.deliver()
    for _ in range(10):
        if (2, cascade) in two.replies and (2, 10_003) in two.replies:
            break
        two.advance(100)
    assert two.replies.pop((2, 10_003)).error is None
    assert two.replies.pop((2, cascade)).error is None
    assert node2.cluster.rounds == rounds + 1  # type: ignore[union-attr]
    for i in (1, 2, 3):
        assert rows(two, i, "SELECT id FROM parent") == [(2,)]
        assert rows(two, i, "SELECT id FROM e.child") == [(20,)]
        assert rows(two, i, "SELECT id, v FROM t ORDER BY id") == [(1, 0), (5, 5)]
    settled(two)


@pytest.mark.parametrize("seed", range(12))
def test_random_transfers_between_the_databases_under_faults_never_split(
        tmp_path: Path, seed: int) -> None:
    """A seeded mix: transfers from an account of d to one of e (explicit transactions at
    QUORUM or ALL, on a random node) while nodes are cut off and healed, learns are dropped,
    and nodes restart. After the heal: on every node the two databases' balances add up to
    the start's total (no half transfer anywhere), the nodes are identical, nothing left
    undecided."""
    rng = random.Random(seed)
    c = Cluster(tmp_path).in_database("e").in_database("d")
    try:
        for table in ("acct", "e.acct"):
            c.ok(1, f"CREATE TABLE {table} (id INT PRIMARY KEY, bal INT NOT NULL)")
            c.ok(1, f"INSERT INTO {table} VALUES (1, 100), (2, 100), (3, 100)")
        committed = 0
        for _ in range(30):
            roll = rng.random()
            if roll < 0.1:
                c.cut = {rng.randint(1, 3)}
            elif roll < 0.2:
                c.cut = set()
            elif roll < 0.25:
                c.dropped_tags ^= {LEARN_TAG}
            elif roll < 0.3:
                c.restart(rng.randint(1, 3))
            else:
                committed += transfer(c, rng)
        c.cut, c.dropped_tags = set(), set()
        for _ in range(30):
            c.advance(500)
        assert committed > 0
        for i in (1, 2, 3):
            total = rows(c, i, "SELECT (SELECT SUM(bal) FROM acct) + (SELECT SUM(bal) FROM "
                               "e.acct)")
            assert total == [(600,)], (i, total)
        settled(c, acceptor_leftovers=True)
    finally:
        c.close()


def transfer(c: Cluster, rng: random.Random) -> int:
    """One transfer on a random node at a random level: 1 if acknowledged."""
    node_id = rng.randint(1, 3)
    level = rng.choice(["QUORUM", "QUORUM", "ALL"])  # (ONE: last write wins, not a sum)
    amount = rng.randint(1, 9)
    statements = [f"SET marmot_write_consistency = '{level}'", "BEGIN",
                  f"UPDATE acct SET bal = bal - {amount} WHERE id = {rng.randint(1, 3)}",
                  f"UPDATE e.acct SET bal = bal + {amount} WHERE id = {rng.randint(1, 3)}",
                  "COMMIT"]
    for sql in statements:
        reply = c.run(node_id, sql)
        if reply.error is not None:
            assert reply.error.code in (1213, 1047, 1180, 1205), reply.error
            c.run(node_id, "ROLLBACK")
            return 0
    return 1


def test_three_databases_commit_or_abort_together(two: Cluster) -> None:
    two.in_database("f").in_database("d")
    two.ok(1, "CREATE TABLE f.t (id INT PRIMARY KEY, v INT)")
    two.ok(1, "INSERT INTO f.t VALUES (1, 0)")
    statements = ["BEGIN", "UPDATE t SET v = 1 WHERE id = 1", "UPDATE e.t SET v = 1 WHERE id = 1",
                  "UPDATE f.t SET v = 1 WHERE id = 1"]
    for sql in statements:
        two.ok(1, sql)
    two.ok(1, "COMMIT")
    for sql in statements:
        two.ok(2, sql.replace("= 1 WHERE", "= 2 WHERE"))
    two.ok(3, "UPDATE f.t SET v = 3 WHERE id = 1")  # the third branch will be refused
    refused = two.run(2, "COMMIT")
    assert refused.error is not None and refused.error.code == 1213
    two.advance(100)
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 1)], [(1, 1)])
        assert rows(two, i, "SELECT v FROM f.t") == [(3,)]
    settled(two)
    for i in (1, 2, 3):
        assert two.checksums(i, "f") == two.checksums(1, "f")


class _Crash(Exception):
    """The coordinator stops here (not SQLite's error: the pipeline lets it through)."""


def test_a_coordinator_stopped_between_its_two_batch_commits_finishes_the_other(
        two: Cluster) -> None:
    """The decision is chosen; node 1 commits d's batch and stops before e's COMMIT. Its txn
    store still holds the instance (forgotten only after both): restarted, it recovers the
    outcome and applies e's part, skipping d's, which its log holds."""
    node1 = two.nodes[1]
    e_pipeline = node1.state.pipeline(node1.state.databases.get("e"))

    def fault(point: str) -> None:
        if point == "before_batch_commit":
            raise _Crash(point)
    e_pipeline._fault = fault  # type: ignore[attr-defined]
    open_transaction(two)
    request = two.submit(1, "COMMIT")
    try:
        two.deliver()
    except _Crash:
        pass
    assert committed_v(two, 1, "d") == 1   # d's batch committed here, e's not
    assert committed_v(two, 1, "e") == 0
    assert len(node1.cluster.store.load()) == 1  # type: ignore[union-attr]
    assert (1, request) not in two.replies
    two.restart(1)                         # e's open batch is gone with the node
    for _ in range(20):
        two.advance(500)
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 1)], [(1, 1)])
    settled(two)


def committed_v(cluster: Cluster, node_id: int, database: str) -> int:
    """Row 1's ``v`` as committed in ``database`` of the node (its own connection)."""
    state = cluster.nodes[node_id].state
    conn = state.read_connection(state.databases.get(database))
    with state.binding(conn).trusted_scope():
        return int(conn.execute("SELECT v FROM t WHERE id = 1").fetchall()[0][0])


def test_a_two_database_commit_before_membership_started_gets_1047_and_holds_nothing(
        two: Cluster) -> None:
    """The bank2 torture finding: node 3, restarted, took a client's two-database COMMIT
    before its SWIM node started. Asking whether it had joined raised ("SwimNode used before
    start()": 1105 to the client) after the session had let go of the transaction and before
    the branches were rolled back, so the transaction's turns of both databases stayed held:
    every learned outcome of that database waited behind it (704 instances in doubt, recovered
    again and again) and catch-up of it stood still. A node whose membership has not started
    has not joined: the COMMIT gets 1047 (still joining), and the node applies what the others
    decide next, in both databases."""
    two.membership[1] = HandDriver(1, seeds=[swim_addr(2)]).node  # built, not started
    two.restart(1)
    open_transaction(two, 1, v=3)
    refused = two.run(1, "COMMIT")
    assert refused.error is not None and (refused.error.code, refused.error.sqlstate) == \
        (1047, "08S01"), refused.error
    del two.membership[1]               # membership started, the member table came
    others_then_own_commit_everywhere(two)


def others_then_own_commit_everywhere(two: Cluster) -> None:
    """Node 2's two-database transaction is applied on every node, node 1 included, and node
    1's own next one commits in both databases everywhere: nothing of node 1 stayed held."""
    open_transaction(two, 2, v=5)
    two.ok(2, "COMMIT")
    for _ in range(4):
        two.advance(500)
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 5)], [(1, 5)])
    open_transaction(two, 1, v=6)       # node 1's own writes of both databases go on
    two.ok(1, "COMMIT")
    two.advance(100)
    for i in (1, 2, 3):
        assert both(two, i) == ([(1, 6)], [(1, 6)])
    settled(two)


class _FailingMembership:
    """A membership that fails when asked (an injected fault: what any unexpected error
    between the session letting go of its transaction and the branches joining does)."""

    node_id = 1
    started = True

    def members_snapshot(self) -> list[object]:
        raise RuntimeError("the membership failed")

    @property
    def state(self) -> object:
        raise RuntimeError("the membership failed")


def test_a_two_database_commit_failing_before_its_rounds_rolls_both_branches_back(
        two: Cluster) -> None:
    """Whatever fails in a two-database COMMIT before the branches join their batches, the
    branches are rolled back and both databases' turns given back: the others' outcomes are
    applied here and this node's next transactions run (before, the failure escaped with the
    turns held: the bank2 torture finding, 704 instances in doubt for good)."""
    two.membership[1] = _FailingMembership()  # type: ignore[assignment]
    open_transaction(two, 1, v=3)
    failed = two.run(1, "COMMIT")
    assert failed.error is not None and failed.error.code == 1105
    del two.membership[1]
    others_then_own_commit_everywhere(two)
