"""The per-database cluster DDL lock (marmotdb/ddl/DESIGN.md) between three in-memory nodes
(the Cluster of tests/txn/test_cluster_commit.py: real SQLite, real commit rounds, time moved
by the test)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from marmotdb.node import Node
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import FrameCodec, peek_tag
from marmotdb.storage.databases import SELECTABLE_SYSTEM_DATABASES
from marmotdb.txn.cluster import CommitSettings, Peer
from marmotdb.txn.messages import Learn
from tests.txn.test_cluster_commit import SECRET, USERS, Cluster, rows

LEASE_MS = 3_000


class LeaseCluster(Cluster):
    """Three nodes whose DDL lease is short (the product's default is 30 s). ``detected``:
    nodes whose cut-off membership has noticed (SWIM's DEAD, on both sides)."""

    def __init__(self, base: Path, size: int = 3):
        self.detected: set[int] = set()
        super().__init__(base, size)

    def _start(self, i: int) -> Node:
        node = Node(self.base / f"n{i}", users=USERS, node_id=i, now_ms=self.now_ms,
                    rng=random.Random(i), on_output=lambda out: self._output(i, out),
                    state_options={"ddl_lock_lease_ms": LEASE_MS})
        node.attach_cluster(FrameCodec([SECRET], registry=all_messages()),
                            lambda: self._seen_by(i),
                            CommitSettings(prepare_timeout_ms=500, decision_timeout_ms=500,
                                           recovery_timeout_ms=1000))
        return node

    def _seen_by(self, node_id: int) -> list[Peer]:
        return [Peer(j, addr, j == node_id or not {j, node_id} & self.detected)
                for j, addr in self.addrs.items()]

    def wait_for(self, node_id: int, request: int, ms_max: int = 5_000) -> None:
        self.deliver()
        for _ in range(ms_max // 50):
            if (node_id, request) in self.replies:
                return
            self.advance(50)

    def reply(self, node_id: int, request: int, ms_max: int = 5_000):
        self.wait_for(node_id, request, ms_max)
        return self.replies.pop((node_id, request))


@pytest.fixture
def cluster(tmp_path: Path):
    c = LeaseCluster(tmp_path)
    c.ok(1, "CREATE DATABASE d")  # every node has it then (ddl/database_records.py)
    for i in c.nodes:
        c.ok(i, "USE d")
    c.ok(1, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    yield c
    c.close()


def locks(cluster: Cluster, node_id: int):
    return cluster.nodes[node_id].state.ddl_locks


def test_a_ddl_takes_the_lock_at_a_quorum_and_frees_it(cluster: LeaseCluster) -> None:
    before = locks(cluster, 1).counts["acquired"]
    cluster.ok(1, "ALTER TABLE t ADD COLUMN w INT")
    assert locks(cluster, 1).counts["acquired"] == before + 1
    assert locks(cluster, 1).leases == {}
    for i in (1, 2, 3):  # the row reached every node, free again
        assert locks(cluster, i).holders() == {}
        assert rows(cluster, i, "SELECT node_id, expires_ms FROM MARMOT_DDL_LOCKS") == []
    assert rows(cluster, 2, "SHOW COLUMNS FROM t")[2][0] == "w"


def hold(cluster: LeaseCluster, node_id: int, database: str = "d", owner: int = 99):
    """Node ``node_id`` takes ``database``'s lock for a session of its own (as a DDL does
    before it runs) and keeps it until the test releases it."""
    acquired = locks(cluster, node_id).acquire(database, owner, "ALTER TABLE t (held)", 60)
    assert acquired is not None
    for _ in range(20):
        if acquired.done():
            break
        cluster.advance(10)
    return acquired.result()


def release(cluster: LeaseCluster, node_id: int, lease) -> None:
    released = locks(cluster, node_id).release(lease)
    for _ in range(20):
        if released.done():
            return
        cluster.advance(10)
    raise AssertionError("the release did not finish")


def test_the_holder_is_shown_on_every_node_and_renews_its_lease(cluster: LeaseCluster) -> None:
    lease = hold(cluster, 1)
    first_expiry = lease.expires_ms
    for i in (1, 2, 3):
        assert rows(cluster, i, "SELECT db, node_id, connection_id, statement FROM "
                    "MARMOT_DDL_LOCKS") == [("d", 1, 99, "ALTER TABLE t (held)")]
    for _ in range(LEASE_MS * 2 // 100):  # longer than the lease: the holder renews it
        cluster.advance(100)
    assert lease.renewals >= 2 and not lease.lost
    assert lease.expires_ms > first_expiry + LEASE_MS
    for i in (2, 3):  # the renewed expiry reached the others: still held there
        holder = locks(cluster, i).holders()["d"]
        assert holder.expires_ms == lease.expires_ms
        assert locks(cluster, i).blocker("d", 5) is not None
    release(cluster, 1, lease)
    assert all(locks(cluster, i).holders() == {} for i in (1, 2, 3))


def test_a_second_ddl_waits_for_the_lock_then_runs(cluster: LeaseCluster) -> None:
    lease = hold(cluster, 1)
    waiting = cluster.submit(2, "ALTER TABLE t ADD COLUMN w INT")
    cluster.advance(1_000)
    assert (2, waiting) not in cluster.replies  # held elsewhere: it waits
    assert locks(cluster, 2).counts["polls"] > 0
    release(cluster, 1, lease)
    reply = cluster.reply(2, waiting)
    assert reply.error is None, reply.error
    assert [r[0] for r in rows(cluster, 1, "SHOW COLUMNS FROM t")] == ["id", "v", "w"]


def test_a_ddl_gets_1205_after_lock_wait_timeout(cluster: LeaseCluster) -> None:
    lease = hold(cluster, 1)
    cluster.ok(3, "SET SESSION lock_wait_timeout = 1")
    request = cluster.submit(3, "CREATE INDEX iv ON t (v)")
    reply = cluster.reply(3, request)
    assert reply.error is not None and reply.error.code == 1205
    assert reply.error.sqlstate == "HY000" and "held by node 1" in reply.error.message
    release(cluster, 1, lease)
    cluster.ok(3, "CREATE INDEX iv ON t (v)")  # free again: runs at once


def test_kill_query_stops_a_ddl_and_a_dml_waiting_for_the_lock(cluster: LeaseCluster) -> None:
    lease = hold(cluster, 1)
    for statement in ("ALTER TABLE t ADD COLUMN w INT", "INSERT INTO t VALUES (1, 1)"):
        request = cluster.submit(2, statement)
        cluster.advance(300)
        assert (2, request) not in cluster.replies  # waiting for the lock
        cluster.nodes[2].state.kill(cluster.sessions[2], query_only=True)
        reply = cluster.reply(2, request, ms_max=500)
        assert reply.error is not None and reply.error.code == 1317, statement
    release(cluster, 1, lease)
    assert rows(cluster, 2, "SELECT COUNT(*) FROM t") == [(0,)]
    assert [r[0] for r in rows(cluster, 2, "SHOW COLUMNS FROM t")] == ["id", "v"]


def test_ddls_from_every_node_on_one_database_all_run_one_at_a_time(
        cluster: LeaseCluster) -> None:
    requests = {i: cluster.submit(i, f"ALTER TABLE t ADD COLUMN c{i} INT") for i in (1, 2, 3)}
    for i, request in requests.items():
        reply = cluster.reply(i, request)
        assert reply.error is None, (i, reply.error)
    shown = {i: rows(cluster, i, "SHOW CREATE TABLE t") for i in (1, 2, 3)}
    assert shown[1] == shown[2] == shown[3]
    assert all(f"`c{i}`" in shown[1][0][1] for i in (1, 2, 3))
    assert sum(locks(cluster, i).counts["acquired"] for i in (1, 2, 3)) >= 4
    # ordered by the lock, not by schema-version conflicts retried behind the client's back
    assert all(cluster.nodes[i].state.status["Marmot_conflict_retries"] == 0 for i in (1, 2, 3))
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_ddl_on_another_database_does_not_wait(cluster: LeaseCluster) -> None:
    cluster.ok(2, "CREATE DATABASE e")
    cluster.ok(2, "CREATE TABLE e.u (id INT PRIMARY KEY)")
    lease = hold(cluster, 1)  # d is locked
    cluster.ok(2, "SET SESSION lock_wait_timeout = 1")
    request = cluster.submit(2, "ALTER TABLE e.u ADD COLUMN x INT")
    cluster.deliver()
    cluster.advance(20)
    reply = cluster.reply(2, request)
    assert reply.error is None, reply.error
    assert locks(cluster, 2).counts["polls"] == 0  # it never waited
    release(cluster, 1, lease)


def test_dml_waits_while_a_ddl_holds_the_lock_instead_of_failing(
        cluster: LeaseCluster) -> None:
    lease = hold(cluster, 1)
    request = cluster.submit(2, "INSERT INTO t VALUES (1, 1)")
    cluster.advance(1_000)
    assert (2, request) not in cluster.replies
    assert locks(cluster, 2).counts["dml_waits"] == 1
    release(cluster, 1, lease)
    reply = cluster.reply(2, request)
    assert reply.error is None, reply.error
    # bounded by innodb_lock_wait_timeout: 1205
    lease = hold(cluster, 1)
    cluster.ok(3, "SET SESSION innodb_lock_wait_timeout = 1")
    reply = cluster.reply(3, cluster.submit(3, "UPDATE t SET v = 2 WHERE id = 1"))
    assert reply.error is not None and reply.error.code == 1205
    release(cluster, 1, lease)
    assert rows(cluster, 3, "SELECT v FROM t") == [(1,)]


def test_a_session_under_lock_tables_writes_without_waiting_for_the_lock(
        cluster: LeaseCluster) -> None:
    """Its reservation of the write turn is what a DDL of this node would wait for: the two
    must not wait for each other."""
    lease = hold(cluster, 1)
    cluster.ok(2, "LOCK TABLES t WRITE")
    cluster.ok(2, "INSERT INTO t VALUES (5, 5)")
    cluster.ok(2, "UNLOCK TABLES")
    assert locks(cluster, 2).counts["dml_waits"] == 0
    release(cluster, 1, lease)


def test_a_dead_holder_blocks_ddl_only_until_its_lease_expires(
        cluster: LeaseCluster) -> None:
    hold(cluster, 1)
    cluster.cut.add(1)  # the holder is gone: it renews no more (none of its writes reach)
    started = cluster.now_ms
    request = cluster.submit(2, "ALTER TABLE t ADD COLUMN w INT")
    reply = cluster.reply(2, request, ms_max=LEASE_MS * 3)
    assert reply.error is None, reply.error
    waited_ms = cluster.now_ms - started
    assert LEASE_MS * 2 // 3 <= waited_ms <= LEASE_MS + 1_500
    assert [r[0] for r in rows(cluster, 3, "SHOW COLUMNS FROM t")] == ["id", "v", "w"]


def test_a_restarted_holder_frees_its_own_leftover_lock_at_once(cluster: LeaseCluster) -> None:
    hold(cluster, 1)
    cluster.restart(1)  # it died holding the lock; the others still see it held
    assert locks(cluster, 2).blocker("d", 5) is not None
    started = cluster.now_ms
    cluster.ok(1, "ALTER TABLE t ADD COLUMN x INT")
    assert cluster.now_ms - started < LEASE_MS // 2  # not after the lease: at once
    for i in (1, 2, 3):
        assert [r[0] for r in rows(cluster, i, "SHOW COLUMNS FROM t")] == ["id", "v", "x"]


def test_ddl_implicitly_commits_an_open_transaction(cluster: LeaseCluster) -> None:
    cluster.ok(1, "BEGIN")
    cluster.ok(1, "INSERT INTO t VALUES (1, 1)")
    cluster.ok(1, "CREATE TABLE u (id INT PRIMARY KEY)")
    cluster.ok(1, "ROLLBACK")  # nothing left to roll back: the DDL committed the insert
    assert rows(cluster, 1, "SELECT id FROM t") == [(1,)]


def test_ddl_in_a_transaction_is_refused_without_implicit_commit(
        cluster: LeaseCluster) -> None:
    cluster.nodes[1].state.ddl_implicit_commit = False  # sql.ddl_implicit_commit = false
    cluster.ok(1, "BEGIN")
    cluster.ok(1, "INSERT INTO t VALUES (1, 1)")
    for ddl in ("CREATE TABLE u (id INT PRIMARY KEY)", "CREATE DATABASE e", "DROP DATABASE d"):
        reply = cluster.run(1, ddl)
        assert reply.error is not None and reply.error.code == 1179, ddl
        assert reply.error.sqlstate == "25000"
    cluster.ok(1, "ROLLBACK")  # the transaction stayed open: its insert is undone
    assert rows(cluster, 1, "SELECT id FROM t") == []
    cluster.ok(1, "CREATE TABLE u (id INT PRIMARY KEY)")  # outside a transaction: runs


def test_create_and_drop_database_take_that_databases_lock(cluster: LeaseCluster) -> None:
    lease = hold(cluster, 1, "e")
    cluster.ok(2, "SET SESSION lock_wait_timeout = 1")
    for statement in ("CREATE DATABASE e", "DROP DATABASE IF EXISTS e"):
        reply = cluster.reply(2, cluster.submit(2, statement))
        assert reply.error is not None and reply.error.code == 1205, statement
    release(cluster, 1, lease)
    cluster.ok(2, "CREATE DATABASE e")


def databases(cluster: LeaseCluster, node_id: int) -> list[str]:
    return [r[0] for r in rows(cluster, node_id, "SHOW DATABASES")
            if r[0] not in SELECTABLE_SYSTEM_DATABASES]


def test_create_and_drop_database_reach_every_node(cluster: LeaseCluster) -> None:
    cluster.ok(1, "CREATE DATABASE e")
    assert all(databases(cluster, i) == ["d", "e"] for i in (1, 2, 3))
    reply = cluster.run(3, "CREATE DATABASE e")  # exists cluster-wide: MySQL's answers
    assert reply.error is not None and reply.error.code == 1007
    assert cluster.ok(3, "CREATE DATABASE IF NOT EXISTS e").result.affected_rows == 0
    cluster.ok(3, "CREATE TABLE e.u (id INT PRIMARY KEY)")
    cluster.ok(2, "INSERT INTO e.u VALUES (1)")
    cluster.cut.add(3)  # node 3 misses the DROP ...
    cluster.ok(2, "DROP DATABASE e")
    assert databases(cluster, 1) == databases(cluster, 2) == ["d"]
    assert databases(cluster, 3) == ["d", "e"]
    cluster.cut.clear()  # ... and learns it by catch-up of __marmot_system
    for _ in range(40):
        cluster.advance(100)
    assert databases(cluster, 3) == ["d"]
    reply = cluster.run(1, "DROP DATABASE e")
    assert reply.error is not None and reply.error.code == 1008
    cluster.ok(1, "DROP DATABASE IF EXISTS e")
    cluster.ok(2, "CREATE DATABASE e")  # again after a drop: a new generation of the row
    assert all(databases(cluster, i) == ["d", "e"] for i in (1, 2, 3))


def test_a_lock_row_written_while_the_node_shuts_down_fails_its_pending_instead_of_raising(
        cluster: LeaseCluster) -> None:
    """At shutdown a DDL failed by its closing pipeline releases its lock: that write must
    not open a pipeline again (it raised out of close, an unclean exit, in a torture run)."""
    state = cluster.nodes[1].state
    system = state.pipelines.pop("__marmot_system")
    system.close()  # as close() does, database after database
    state.closing = True
    written = locks(cluster, 1)._write_row(lambda conn: True)
    assert written.done() and written.error().code == 1053  # Server shutdown in progress
    assert "__marmot_system" not in state.pipelines


def test_a_ddl_whose_table_was_dropped_while_it_waited_gives_the_turn_back(
        cluster: LeaseCluster) -> None:
    """The ALTER is translated when it arrives, then waits for the lock held by a DROP of
    its table; when it runs, its translation against the write connection fails (1146).
    Before, that failure left the database's write turn with the failed statement: every
    later write of the node waited for it until its client left (found by the DDL storm,
    tests/txn: a node whose pipeline never applied another learn, so no convergence)."""
    session = cluster.sessions[1]
    lease = hold(cluster, 1, owner=session)  # node 1's session holds the lock
    waiting = cluster.submit(2, "ALTER TABLE t ADD COLUMN w INT")
    cluster.advance(200)
    assert (2, waiting) not in cluster.replies
    cluster.ok(1, "DROP TABLE t")  # its own lock: runs, then frees the lock
    del lease
    reply = cluster.reply(2, waiting)
    assert reply.error is not None and reply.error.code == 1146
    # another session of node 2 (the failed one's own next statement would have had the turn)
    cluster.sessions[2] = cluster.nodes[2].open_session("root", now_ms=cluster.now_ms,
                                                        database="d")
    cluster.ok(2, "SET SESSION innodb_lock_wait_timeout = 1, lock_wait_timeout = 1")
    cluster.ok(2, "CREATE TABLE u (id INT PRIMARY KEY)")  # before: 1205, the turn held
    reply = cluster.run(2, "INSERT INTO u VALUES (1)", wait_ms=3_000)
    assert reply.error is None, reply.error  # the turn is free
    assert rows(cluster, 3, "SELECT id FROM u") == [(1,)]


def test_dml_waits_for_the_ddl_when_its_node_applied_the_release_first(
        cluster: LeaseCluster) -> None:
    """Node 3 learns the lock's release (``__marmot_system``) but not yet the ALTER itself
    (its learn is held back). The freed row records the schema version the ALTER left, so
    node 3's INSERT waits until node 3 has it (here: its recovery of the undecided ALTER)
    instead of being built on the old schema and refused (1213, retried) — DESIGN §2."""
    codec = FrameCodec([SECRET], registry=all_messages())
    learn = all_messages().tag_of(Learn)
    held: list[tuple[int, int, bytes]] = []

    def deliver() -> None:  # everything but the ALTER's learn to node 3
        while cluster.frames:
            src, dest, frame = cluster.frames.popleft()
            if dest == 3 and peek_tag(frame) == learn and \
                    codec.decode_frame(frame).message.database == "d":
                held.append((src, dest, frame))
                continue
            cluster.nodes[dest].receive_frame(cluster.addrs[src], frame, now_ms=cluster.now_ms)
    cluster.deliver = deliver  # type: ignore[method-assign]
    assert cluster.reply(1, cluster.submit(1, "ALTER TABLE t ADD COLUMN w INT")).error is None
    assert held and locks(cluster, 3).holders() == {}  # the release is there, the DDL not
    assert [r[0] for r in rows(cluster, 3, "SHOW COLUMNS FROM t")] == ["id", "v"]
    status = cluster.nodes[3].state.status
    retries = status["Marmot_conflict_retries"]
    reply = cluster.reply(3, cluster.submit(3, "INSERT INTO t (id, v) VALUES (1, 1)"))
    assert reply.error is None, reply.error
    assert status["Marmot_conflict_retries"] == retries  # it waited: never built on v
    assert locks(cluster, 3).counts["dml_waits"] >= 1
    assert rows(cluster, 1, "SELECT id, v, w FROM t") == [(1, 1, None)]


def test_a_node_cut_off_from_a_quorum_does_not_wait_for_a_lock_it_cannot_see_released(
        cluster: LeaseCluster) -> None:
    """Node 3 saw node 1 take the lock, then was cut off before the release reached it
    (tests/runtime/test_replicated_writes.py saw this once after a CREATE TABLE IF NOT
    EXISTS). Its copy shows the lock held until the lease expires by its clock; before, its
    QUORUM INSERT waited for it (30 s in the product: the client timed out, 2013), and so
    did a ONE INSERT and a DDL. Now, its membership showing no quorum: QUORUM and DDL get
    1047 at once, as their rounds would; ONE commits at once, as ONE does in a minority
    (DESIGN §2). ALL with a member down is refused at once on the majority side too."""
    lease = hold(cluster, 1)
    cluster.cut.add(3)
    cluster.detected = {3}  # SWIM declared 1 and 2 dead at node 3, and 3 at theirs
    cluster.ok(2, "SET marmot_write_consistency = 'ALL'")
    started = cluster.now_ms
    reply = cluster.run(2, "INSERT INTO t VALUES (9, 9)")
    assert reply.error is not None and reply.error.code == 1047, reply.error
    assert cluster.now_ms - started < 200
    cluster.ok(2, "SET marmot_write_consistency = 'QUORUM'")
    release(cluster, 1, lease)  # node 3 does not learn it
    assert "d" in locks(cluster, 3).holders()
    for statement in ("INSERT INTO t VALUES (1, 1)", "ALTER TABLE t ADD COLUMN w INT"):
        started = cluster.now_ms
        reply = cluster.run(3, statement)
        assert reply.error is not None and reply.error.code == 1047, (statement, reply.error)
        assert reply.error.sqlstate == "08S01" and "node 1" in reply.error.message
        assert cluster.now_ms - started < 200, statement  # not after the lease (3 s here)
    cluster.ok(3, "SET marmot_write_consistency = 'ONE'")
    started = cluster.now_ms
    cluster.ok(3, "INSERT INTO t VALUES (2, 2)")
    assert cluster.now_ms - started < 200
    assert locks(cluster, 3).counts["ones_past_lock"] == 1
    assert locks(cluster, 3).counts["refused_cut_off"] == 2
    cluster.ok(1, "INSERT INTO t VALUES (3, 3)")  # the majority writes on
    cluster.cut.clear()
    cluster.detected = set()
    for _ in range(40):  # catch-up both ways
        cluster.advance(100)
    for i in (1, 2, 3):
        assert rows(cluster, i, "SELECT id, v FROM t ORDER BY id") == [(2, 2), (3, 3)], i
        assert locks(cluster, i).holders() == {}
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)
