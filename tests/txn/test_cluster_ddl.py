"""DDL in a cluster: a node that missed DDL converges to the same schema, a participant
behind a batch's schema version pulls the DDL before voting, versions and drift are shown
(ddl/DESIGN.md "Idempotent replay" and "Schema versions"). Three in-memory nodes."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from marmotdb.node import Offload
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import FrameCodec, peek_tag
from marmotdb.replication.messages import PullLog
from marmotdb.replication.snapshot_transfer import restore_over
from marmotdb.storage import commitlog
from marmotdb.storage.snapshot import create_snapshot
from marmotdb.sql import session as session_module
from marmotdb.storage.writeset import WriteSet, decode_write_set
from marmotdb.txn.messages import Learn, Vote
from tests.txn.test_cluster_commit import SECRET, Cluster, rows

TABLES = ("t", "u")


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(tmp_path).in_database()
    c.ok(1, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10))")
    for i in range(1, 21):
        c.ok(1 + i % 2, f"INSERT INTO t VALUES ({i}, {i}, 'v{i}')")
    yield c
    c.close()


def show_create(cluster: Cluster, node_id: int, table: str) -> str:
    (row,) = rows(cluster, node_id, f"SHOW CREATE TABLE {table}")
    # AUTO_INCREMENT= is the next id *this node* hands out (its claimed range: txn/DESIGN §9)
    return re.sub(r" AUTO_INCREMENT=\d+", "", str(row[1]))


def schema_version(cluster: Cluster, node_id: int) -> int:
    state = cluster.nodes[node_id].state
    conn = state.read_connection(state.databases.get("d"))
    return int(conn.execute("PRAGMA user_version").fetchall()[0][0])


def test_a_node_down_during_ddl_comes_back_with_the_same_schema_and_rows(
        cluster: Cluster) -> None:
    cluster.cut = {3}
    cluster.ok(1, "ALTER TABLE t ADD COLUMN c INT DEFAULT 7")
    cluster.ok(2, "UPDATE t SET c = id * 2 WHERE id <= 5")
    cluster.ok(1, "ALTER TABLE t ADD INDEX ia (a)")
    cluster.ok(2, "ALTER TABLE t MODIFY b VARCHAR(40) NOT NULL")  # a table rebuild
    cluster.ok(1, "CREATE TABLE u (id INT AUTO_INCREMENT PRIMARY KEY, t_id INT)")
    cluster.ok(2, "INSERT INTO u (t_id) VALUES (1), (2)")
    cluster.ok(1, "ALTER TABLE t CHANGE a a2 BIGINT")  # rebuild and rename a column
    cluster.ok(2, "INSERT INTO t VALUES (100, 100, 'new', 1)")
    cluster.advance(1000)
    assert schema_version(cluster, 3) < schema_version(cluster, 1)
    cluster.restart(3)  # down and back: an orderly stop, a start on the same files
    cluster.cut = set()
    for _ in range(6):
        cluster.advance(1000)
    assert schema_version(cluster, 3) == schema_version(cluster, 1) == schema_version(cluster, 2)
    for table in TABLES:
        assert show_create(cluster, 1, table) == show_create(cluster, 2, table) == \
            show_create(cluster, 3, table)
    assert "`a2` bigint" in show_create(cluster, 3, "t")
    assert rows(cluster, 3, "SELECT id, a2, b, c FROM t WHERE id IN (1, 6, 100) ORDER BY id") \
        == [(1, 1, "v1", 2), (6, 6, "v6", 7), (100, 100, "new", 1)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_a_participant_that_missed_a_ddl_pulls_it_before_voting(cluster: Cluster) -> None:
    cluster.cut = {3}
    cluster.ok(1, "ALTER TABLE t ADD COLUMN c INT")  # nodes 1 and 2 only
    cluster.cut = set()                              # no catch-up interval passed yet
    participant = cluster.nodes[3].cluster.participant  # type: ignore[union-attr]
    status = cluster.nodes[3].state.status
    # ALL needs node 3's vote; built on the new schema, which node 3 does not have yet
    reply = cluster.ok(1, "/*+ CONSISTENCY(ALL) */ INSERT INTO t VALUES (50, 50, 'x', 5)")
    assert reply.error is None
    assert status["Marmot_schema_waits"] == 1 and status["Marmot_votes_no_schema"] == 0
    assert cluster.nodes[1].state.status["Marmot_conflict_retries"] == 0  # the first try won
    assert not participant._schema_waits
    assert rows(cluster, 3, "SELECT c FROM t WHERE id = 50") == [(5,)]
    assert show_create(cluster, 3, "t") == show_create(cluster, 1, "t")


def test_without_the_wait_a_participant_that_missed_a_ddl_votes_no(cluster: Cluster) -> None:
    participant = cluster.nodes[3].cluster.participant  # type: ignore[union-attr]
    participant._schema_wait_ms = 0
    cluster.cut = {3}
    cluster.ok(1, "ALTER TABLE t ADD COLUMN c INT")
    cluster.cut = set()
    cluster.submit(1, "/*+ CONSISTENCY(ALL) */ INSERT INTO t VALUES (50, 50, 'x', 5)")
    cluster.deliver()
    assert cluster.nodes[3].state.status["Marmot_votes_no_schema"] >= 1


def test_a_participant_that_cannot_get_the_ddl_in_time_votes_no(cluster: Cluster) -> None:
    """The wait is bounded: when the DDL cannot be pulled (the pulls are lost), the vote is
    SCHEMA after ``schema_wait_ms`` (here half the 500 ms prepare timeout), in time."""
    cluster.cut = {3}
    cluster.ok(1, "ALTER TABLE t ADD COLUMN c INT")
    cluster.cut = set()
    cluster.dropped_tags = {all_messages().tag_of(PullLog)}
    request = cluster.submit(1, "/*+ CONSISTENCY(ALL) */ INSERT INTO t VALUES (50, 50, 'x', 5)")
    cluster.deliver()
    status = cluster.nodes[3].state.status
    assert status["Marmot_schema_waits"] == 1 and status["Marmot_votes_no_schema"] == 0
    cluster.advance(300)  # the wait (250 ms) is over: node 3 votes
    assert status["Marmot_votes_no_schema"] == 1
    cluster.dropped_tags = set()
    for _ in range(30):
        if (1, request) in cluster.replies:
            break
        cluster.advance(200)
    assert cluster.replies.pop((1, request)).error is None  # retried once node 3 caught up


def test_marmot_cluster_nodes_shows_schema_versions_and_drift(cluster: Cluster) -> None:
    members = [(i, None, None, None, "ALIVE", 0) for i in (1, 2, 3)]
    cluster.nodes[1].state.cluster_nodes = lambda: members
    for _ in range(3):
        cluster.advance(1000)  # node 1 hears every peer once (round robin)
    cluster.cut = {3}
    cluster.ok(1, "ALTER TABLE t ADD COLUMN c INT")
    for _ in range(3):
        cluster.advance(1000)
    query = "SELECT node_id, schema_versions, schema_drift FROM MARMOT_CLUSTER_NODES ORDER BY 1"
    version = schema_version(cluster, 1)
    assert rows(cluster, 1, query) == [(1, f'{{"d": {version}}}', ""),
                                       (2, f'{{"d": {version}}}', ""),
                                       (3, f'{{"d": {version - 1}}}', "d")]  # its last word
    cluster.cut = set()
    for _ in range(6):
        cluster.advance(1000)
    assert [r[2] for r in rows(cluster, 1, query)] == ["", "", ""]


def test_a_node_restored_from_a_snapshot_taken_before_a_ddl_converges(
        cluster: Cluster, tmp_path: Path) -> None:
    """Node 3 is restored (snapshot_transfer.restore_over, as a snapshot transfer does) from
    a copy of its own database made before several DDLs: the entries it had applied since
    are applied again over the copy, then catch-up brings the rest. Same schema, rows and
    row versions as the others (a rename moves versions: replayed twice it would lose them)."""
    cluster.advance(1000)
    state = cluster.nodes[3].state
    database = state.databases.get("d")
    manifest = create_snapshot(database.path, tmp_path / "before.db")
    cluster.ok(1, "ALTER TABLE t ADD COLUMN c INT DEFAULT 3")
    cluster.ok(2, "CREATE INDEX ib ON t (b)")
    cluster.ok(1, "ALTER TABLE t MODIFY b VARCHAR(30) NOT NULL")
    cluster.ok(2, "UPDATE t SET c = 9 WHERE id = 4")
    cluster.ok(1, "RENAME TABLE t TO t_new")
    cluster.ok(3, "INSERT INTO t_new VALUES (77, 7, 'seven', 7)")
    cluster.cut = {3}
    cluster.ok(1, "ALTER TABLE t_new DROP COLUMN a")  # node 3 misses this one
    cluster.ok(2, "INSERT INTO t_new VALUES (78, 'eight', 8)")
    cluster.advance(1000)
    done = state.pipeline(database).run_exclusive_blocking(
        lambda conn: restore_over(conn, tmp_path / "before.db", manifest.applied_vector))
    cluster.advance(100)
    assert done.done() and done.error() is None, done.error()
    state.schema_changed(database)
    cluster.cut = set()
    for _ in range(6):
        cluster.advance(1000)
    assert show_create(cluster, 3, "t_new") == show_create(cluster, 1, "t_new")
    assert "`a`" not in show_create(cluster, 3, "t_new")
    assert rows(cluster, 3, "SELECT id, b, c FROM t_new WHERE id IN (4, 77, 78) ORDER BY id") \
        == [(4, "v4", 9), (77, "seven", 7), (78, "eight", 8)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def applied_vector(cluster: Cluster, node_id: int) -> dict[int, int]:
    return cluster.nodes[node_id].catch_up.vector("d")  # type: ignore[union-attr]


def test_a_ddl_waits_on_a_replica_for_the_writes_committed_before_it(cluster: Cluster) -> None:
    """Issue 13: node 2's INSERT commits on nodes 1 and 2 before node 1's DROP TABLE takes the
    lock; node 3 learns the DROP first (it missed the INSERT, and its catch-up pulls are
    lost meanwhile). The DROP carries node 1's applied vector (``ordered_after``), which has
    the INSERT: node 3 defers the DROP until catch-up brought the INSERT, then applies both
    in that order. Before, it applied the DROP and then failed the INSERT forever ("table
    't' does not exist on this node"), never converging."""
    cluster.ok(1, "CREATE TABLE u (id INT PRIMARY KEY, v INT)")
    cluster.advance(1000)
    cluster.cut = {3}
    cluster.ok(2, "INSERT INTO t VALUES (50, 50, 'x')")
    cluster.ok(2, "INSERT INTO u VALUES (1, 1)")
    cluster.cut = set()
    cluster.dropped_tags = {all_messages().tag_of(PullLog)}  # node 3 cannot catch up yet
    cluster.ok(1, "DROP TABLE t")
    participant = cluster.nodes[3].cluster.participant  # type: ignore[union-attr]
    assert participant._deferred  # the DROP waits for the writes before it
    assert rows(cluster, 3, "SELECT count(*) FROM t") == [(20,)]
    cluster.dropped_tags = set()
    for _ in range(4):
        cluster.advance(1000)
    assert not participant._deferred
    for i in (1, 2, 3):
        assert rows(cluster, i, "SELECT id, v FROM u") == [(1, 1)]
        reply = cluster.run(i, "SELECT * FROM t")
        assert reply.error is not None and reply.error.code == 1146  # gone everywhere
    assert schema_version(cluster, 3) == schema_version(cluster, 1) == schema_version(cluster, 2)
    assert applied_vector(cluster, 3) == applied_vector(cluster, 1) == applied_vector(cluster, 2)
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_a_ddl_on_a_node_behind_its_peers_retries_until_its_catch_up(cluster: Cluster) -> None:
    """Node 1 missed node 2's INSERT; its DDL carries an applied vector without it, so the
    peers, who logged it, refuse the DDL (§11) until node 1's catch-up brings it. The DDL
    retries, holding its lock, as long as a metadata-lock wait — not only the ~2 s of a row
    conflict's retries, which ended in 1213 while catch-up could not run (here, for 5 s)."""
    cluster.cut = {1}
    cluster.ok(2, "INSERT INTO t VALUES (60, 60, 'y')")
    cluster.cut = set()
    cluster.dropped_tags = {all_messages().tag_of(PullLog)}  # node 1 cannot catch up yet
    request = cluster.submit(1, "CREATE TABLE w (id INT PRIMARY KEY)")
    cluster.deliver()
    for _ in range(50):
        cluster.advance(100)
    assert (1, request) not in cluster.replies  # refused, still retrying: no 1213
    cluster.dropped_tags = set()
    for _ in range(100):
        if (1, request) in cluster.replies:
            break
        cluster.advance(100)
    reply = cluster.replies.pop((1, request))
    assert reply.error is None, reply.error
    for _ in range(20):
        cluster.advance(100)
    for i in (1, 2, 3):
        assert rows(cluster, i, "SELECT count(*) FROM w") == [(0,)]
        assert rows(cluster, i, "SELECT a FROM t WHERE id = 60") == [(60,)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_an_outcome_catch_up_applied_meanwhile_stops_waiting_for_a_base_dropped_since(
        cluster: Cluster) -> None:
    """Node 3 misses an INSERT, then learns the UPDATE built on it (deferred: its base is not
    here), then misses a DROP TABLE; catch-up brings all three. The deferred UPDATE is then
    applied already, and its base row is gone with the table: it must stop waiting. Before,
    it waited for ever (one instance "in doubt" on node 3 after a DDL storm under partition,
    equal applied vectors everywhere: the torture run never converged)."""
    pull = all_messages().tag_of(PullLog)
    cluster.dropped_tags = {pull}  # no catch-up for node 3 until the end
    cluster.cut = {3}
    cluster.ok(1, "INSERT INTO t VALUES (70, 70, 'z')")
    cluster.cut = set()
    cluster.ok(1, "UPDATE t SET a = 71 WHERE id = 70")
    participant = cluster.nodes[3].cluster.participant  # type: ignore[union-attr]
    assert participant._deferred  # the UPDATE waits for the INSERT's row, and says so
    ((_, why),) = participant.waiting_for_bases(5)
    assert "built on t (70,)" in why and "(no version here)" in why, why
    cluster.cut = {3}
    cluster.ok(1, "DROP TABLE t")
    cluster.cut = set()
    cluster.dropped_tags = set()
    for _ in range(40):
        cluster.advance(250)
    assert not participant._deferred
    assert participant.undecided == {}
    assert applied_vector(cluster, 3) == applied_vector(cluster, 1)
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def logged_write_sets(cluster: Cluster, node_id: int) -> list[WriteSet]:
    state = cluster.nodes[node_id].state
    conn = state.read_connection(state.databases.get("d"))
    with state.binding(conn).trusted_scope():
        return [decode_write_set(e.write_set) for e in commitlog.read_log(conn)]


def test_a_ddl_and_a_write_it_is_not_ordered_after_never_both_get_a_yes(
        cluster: Cluster) -> None:
    """The concurrent case: a write built on the schema a DDL replaces, committed after the
    DDL's origin took its applied vector. Both need a quorum; the member the quorums share
    saw both, and refuses the second (SCHEMA) whichever came first: a write prepared or
    applied here that the DDL's ``ordered_after`` does not cover, or a DDL prepared here
    that the write was built before."""
    participant = cluster.nodes[3].cluster.participant  # type: ignore[union-attr]
    intents = cluster.nodes[3].cluster.intents  # type: ignore[union-attr]
    version = schema_version(cluster, 3)
    logged = logged_write_sets(cluster, 3)
    last = logged[-1]  # an INSERT of the fixture: a write built on the row it left
    template = next(ws for ws in logged if ws.schema_changes)
    vector = applied_vector(cluster, 3)
    write = replace(last, origin_seq=vector[last.origin] + 1, changes=[
        replace(c, base_version=last.commit_ts) for c in last.changes])
    ddl = replace(template, origin=1, origin_seq=vector[1] + 2, schema_version=version + 1,
                  ordered_after=dict(vector))
    write_instance, ddl_instance = (last.origin, "d", 900), (1, "d", 901)
    assert participant.vote(write_instance, [write]) == [Vote.YES]
    assert participant.vote(ddl_instance, [ddl]) == [Vote.YES]
    # the write is prepared here first: the DDL is refused unless ordered after it
    intents.mark(write_instance, write)
    assert participant.vote(ddl_instance, [ddl]) == [Vote.SCHEMA]
    covering = replace(ddl, ordered_after={**vector, write.origin: write.origin_seq})
    assert participant.vote(ddl_instance, [covering]) == [Vote.YES]
    intents.release(write_instance)
    # the DDL is prepared here first: the write, built on the schema it replaces, is refused
    intents.mark(ddl_instance, ddl)
    assert participant.vote(write_instance, [write]) == [Vote.SCHEMA]
    intents.release(ddl_instance)
    # a write applied here that the DDL is not ordered after: refused
    behind = replace(ddl, ordered_after={o: s - 1 for o, s in vector.items()})
    assert participant.vote(ddl_instance, [behind]) == [Vote.SCHEMA]
    # a DDL of an older node (no ordered_after) is judged as before
    assert participant.vote(ddl_instance, [replace(behind, ordered_after=None)]) == [Vote.YES]


def long_ddls_on_node_1(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> list[Offload]:
    """Node 1 hands DDL over t (20 rows) to a writer thread, as over a big table
    (ddl/DESIGN.md §10): the ``Offload`` outputs are collected; the test is the thread."""
    monkeypatch.setattr(session_module._WEIGHTS, "rows_min", 10)
    cluster.nodes[1].state.host_runs_writes = True
    offloads: list[Offload] = []
    output = cluster._output

    def capture(node_id: int, out: object) -> None:
        if isinstance(out, Offload):
            offloads.append(out)
        else:
            output(node_id, out)
    cluster._output = capture  # type: ignore[method-assign]  # the nodes call it by name
    return offloads


def run_offloaded(cluster: Cluster, offload: Offload) -> None:
    """The writer thread's part of a long write, then its resume on the loop."""
    outcome = offload.job.run(None)
    cluster.nodes[1].finish_offloaded(offload.session_id, offload.request_id, outcome,
                                      now_ms=cluster.now_ms, job=offload.job)


def answered(cluster: Cluster, *requests: tuple[int, int], ms_max: int = 3_000) -> None:
    for _ in range(ms_max // 100):
        if all(request in cluster.replies for request in requests):
            return
        cluster.advance(100)


def test_a_ddl_on_a_writer_thread_keeps_the_lock_until_it_commits(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long DDL (ddl/DESIGN.md §10) is handed to a writer thread: the session raises
    ``LongWrite`` out of ``run_locked``, the host runs the job and calls its ``resume``.
    Before, ``run_locked`` took the raise for the DDL's outcome and freed the lock as the
    rebuild started: node 2's INSERT ran beside the ALTER (prepared at node 1 while node 1's
    writer held the turn, so not applied there and not in the ALTER's ``ordered_after``),
    every member refused the ALTER for it (§11: SCHEMA) and its retry ran the rebuild again
    — under a steady load on every node, until the client got 1213
    (tests/runtime/test_large_ddl.py). Now the lock is held until the resumed outcome: the
    INSERT waits for the ALTER, which commits on its first run."""
    offloads = long_ddls_on_node_1(cluster, monkeypatch)
    node1 = cluster.nodes[1]
    retries = node1.state.status["Marmot_conflict_retries"]
    alter = cluster.submit(1, "ALTER TABLE t MODIFY b VARCHAR(40) NOT NULL")
    for _ in range(5):  # the lock's acquire, then the DDL one loop turn later
        if offloads:
            break
        cluster.advance(1)
    assert len(offloads) == 1  # the rebuild waits for a writer thread, holding the turn
    for i in (1, 2, 3):  # every node sees the lock held while the rebuild runs
        assert "d" in cluster.nodes[i].state.ddl_locks.holders(), i
    insert = cluster.submit(2, "INSERT INTO t VALUES (100, 100, 'x')")
    cluster.advance(100)
    assert (2, insert) not in cluster.replies  # it waits for the lock (DESIGN §2)
    run_offloaded(cluster, offloads.pop())
    answered(cluster, (1, alter), (2, insert))
    reply = cluster.replies.pop((1, alter))
    assert reply.error is None, reply.error
    assert not offloads  # committed on its first run: no rebuild again
    assert node1.state.status["Marmot_conflict_retries"] == retries
    reply = cluster.replies.pop((2, insert))
    assert reply.error is None, reply.error  # after the ALTER, on its schema
    assert cluster.nodes[1].state.ddl_locks.holders() == {}
    cluster.advance(1000)
    for i in (1, 2, 3):
        assert "varchar(40)" in show_create(cluster, i, "t"), i
        assert rows(cluster, i, "SELECT b FROM t WHERE id = 100") == [("x",)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


class LateFrames(list[tuple[int, int, bytes]]):
    """Frames held back by a test's ``deliver``, until ``release``."""
    holding = True

    def release(self) -> list[tuple[int, int, bytes]]:
        self.holding = False
        return list(self)


def learns_late(cluster: Cluster, dest: int, database: str) -> LateFrames:
    """From now on, the learns of ``database`` to node ``dest`` wait in the returned list,
    until its ``release``."""
    codec = FrameCodec([SECRET], registry=all_messages())
    learn = all_messages().tag_of(Learn)
    held = LateFrames()

    def deliver() -> None:
        while cluster.frames:
            src, to, frame = cluster.frames.popleft()
            if held.holding and to == dest and peek_tag(frame) == learn and \
                    codec.decode_frame(frame).message.database == database:
                held.append((src, to, frame))
                continue
            cluster.nodes[to].receive_frame(cluster.addrs[src], frame, now_ms=cluster.now_ms)
    cluster.deliver = deliver  # type: ignore[method-assign]
    return held


def lock_learn_late_to_node_2(cluster: Cluster) -> LateFrames:
    """Node 2 does not see a DDL lock taken meanwhile: the lock table's learns wait."""
    return learns_late(cluster, 2, "__marmot_system")


def test_a_long_ddl_waits_for_the_writes_its_node_voted_on_before_its_rebuild(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Node 2's INSERT, in flight when node 1's ALTER takes the lock, is prepared at node 1
    (which voted YES) and committed by nodes 2 and 3; its learn reaches node 1 only after
    the ALTER began. Without the wait, the rebuild held node 1's turn, so the learn was
    applied after it: the ALTER's ``ordered_after`` missed the INSERT, every member refused
    it (§11: node 1 has it prepared, nodes 2 and 3 logged it) and its retry ran the rebuild
    again. Now the long DDL, lock held, waits until node 1 applied what it voted on
    (ddl/DESIGN.md §11 "Settling"), then runs once."""
    offloads = long_ddls_on_node_1(cluster, monkeypatch)
    held = learns_late(cluster, 1, "d")  # the INSERT's learn to node 1 is late
    node1 = cluster.nodes[1]
    retries = node1.state.status["Marmot_conflict_retries"]
    assert cluster.run(2, "INSERT INTO t VALUES (100, 100, 'x')").error is None
    assert held  # decided; node 1 voted on it and has not applied it
    alter = cluster.submit(1, "ALTER TABLE t MODIFY b VARCHAR(40) NOT NULL")
    for _ in range(10):  # the lock's acquire, the DDL one loop turn later: it waits
        cluster.advance(5)
    waited = not offloads and (1, alter) not in cluster.replies  # the turn not taken
    cluster.frames.extend(held.release())
    runs = 0
    for _ in range(600):
        if (1, alter) in cluster.replies:
            break
        if offloads:  # each run of the rebuild (before: the first was refused, then again)
            runs += 1
            run_offloaded(cluster, offloads.pop())
        cluster.advance(5)
    reply = cluster.replies.pop((1, alter))
    assert reply.error is None, reply.error
    assert runs == 1, runs
    assert waited and node1.state.status["Marmot_ddl_settle_waits"] == 1
    assert node1.state.status["Marmot_conflict_retries"] == retries
    cluster.advance(1000)
    for i in (1, 2, 3):
        assert "varchar(40)" in show_create(cluster, i, "t"), i
        assert rows(cluster, i, "SELECT b FROM t WHERE id = 100") == [("x",)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def storm_statement(rng: random.Random, n: int) -> str:
    """The torture's ddl workload (marmotdb/torture/workloads/ddl.py), in miniature."""
    table = f"s{rng.randrange(3)}"
    kind = rng.choices(("create", "drop", "add", "index", "insert", "update", "delete"),
                       (2, 1, 2, 1, 6, 3, 1))[0]
    return {"create": f"CREATE TABLE IF NOT EXISTS {table} (id INT PRIMARY KEY, a INT, b TEXT)",
            "drop": f"DROP TABLE IF EXISTS {table}",
            "add": f"ALTER TABLE {table} ADD COLUMN c{n} INT",
            "index": f"CREATE INDEX ix{n} ON {table} (a)",
            "insert": f"INSERT INTO {table} (id, a, b) VALUES ({n}, {n % 100}, 'r{n}')",
            "update": f"UPDATE {table} SET a = a + 1 WHERE id % 7 = {n % 7}",
            "delete": f"DELETE FROM {table} WHERE id % 11 = {n % 11}"}[kind]


@pytest.mark.parametrize("level", ["QUORUM", "ONE"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_ddl_storm_from_every_node_converges(tmp_path: Path, seed: int, level: str) -> None:
    """Two sessions per node run DDL and DML on three tables that come and go, each sending
    its next statement once the last was answered; node 3 is cut off now and then. Then
    time passes: every statement was answered, no write turn is left held, and every node
    has the same applied vector, schema and rows. (Seed 1 found a DDL whose table was
    dropped while it waited keeping the turn: the node never applied another learn.)
    ``level``: the sessions' write consistency. At QUORUM nothing is ever re-emitted (a DDL
    is ordered after every QUORUM write it commits beside); at ONE the cut-off node's writes
    race the majority's DDL and its re-emits make it converge (ddl/DESIGN.md §11)."""
    rng = random.Random(seed)
    cluster = Cluster(tmp_path).in_database("app")
    try:
        sessions = [(i, cluster.sessions[i]) for i in (1, 2, 3)] + [
            (i, cluster.nodes[i].open_session("root", now_ms=cluster.now_ms, database="app"))
            for i in (1, 2, 3)]
        if level == "ONE":
            for i, session in sessions:
                cluster.nodes[i].submit(session, 1, "SET marmot_write_consistency = 'ONE'",
                                        now_ms=cluster.now_ms)
            cluster.deliver()
            cluster.replies.clear()
        in_flight: dict[int, tuple[int, int]] = {}
        request, n = 10**6, 0
        for step in range(250):
            # node 3 misses what commits meanwhile for a while (learns and all): catch-up
            # and the learns of later batches reach it in another order
            cluster.cut = {3} if step % 60 >= 45 else set()
            for k, (i, session) in enumerate(sessions):
                if k not in in_flight:
                    n, request = n + 1, request + 1
                    cluster.nodes[i].submit(session, request, storm_statement(rng, n),
                                            now_ms=cluster.now_ms)
                    in_flight[k] = (i, request)
            cluster.advance(rng.choice((1, 5, 20, 50)))
            for k, answer in list(in_flight.items()):
                if answer in cluster.replies:
                    del cluster.replies[answer], in_flight[k]
        cluster.cut = set()
        for _ in range(300):  # fine steps: coarse ones fire every jittered retry of the
            cluster.advance(100)  # lock's contenders at one instant, again and again
        assert all(answer in cluster.replies for answer in in_flight.values())
        for node in cluster.nodes.values():
            assert all(p.owner is None for p in node.state.pipelines.values())
        vectors = [node.catch_up.vector("app") for node in cluster.nodes.values()]  # type: ignore[union-attr]
        assert vectors[0] == vectors[1] == vectors[2]
        assert cluster.checksums(1, "app") == cluster.checksums(2, "app") == \
            cluster.checksums(3, "app")
        reemitted = [node.state.status["Marmot_rows_reemitted"] for node in cluster.nodes.values()]
        if level == "QUORUM":
            assert reemitted == [0, 0, 0]
    finally:
        cluster.close()


def rebuilds_until_replied(cluster: Cluster, offloads: list[Any],
                           requests: list[tuple[int, int]]) -> None:
    """Runs node 1's offloaded DDL jobs as the host's writer thread does until every request
    is answered without error; then exactly one rebuild ran to its end, one was stopped, and
    the ALTER (``b`` to VARCHAR(40)) and the INSERT of row 100 are on every node alike."""
    node1 = cluster.nodes[1]
    runs, stopped = 0, 0
    for _ in range(600):
        if all(r in cluster.replies for r in requests):
            break
        if offloads:
            offload = offloads.pop()
            try:
                outcome: object = offload.job.run(None)
            except Exception as exc:  # noqa: BLE001 - handed to resume
                outcome = exc
            runs += 1
            stopped += isinstance(outcome, BaseException)
            node1.finish_offloaded(offload.session_id, offload.request_id, outcome,
                                   now_ms=cluster.now_ms, job=offload.job)
        cluster.advance(5)
    for request in requests:
        reply = cluster.replies.pop(request)
        assert reply.error is None, (request, reply.error)
    assert runs - stopped == 1, (runs, stopped)
    assert node1.state.status["Marmot_ddl_rebuilds_stopped"] == stopped == 1
    cluster.advance(1000)
    for i in (1, 2, 3):
        assert "varchar(40)" in show_create(cluster, i, "t"), i
        assert rows(cluster, i, "SELECT b FROM t WHERE id = 100") == [("x",)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_a_long_ddl_stops_its_rebuild_when_a_write_it_would_be_refused_for_is_prepared(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Node 2 has not applied the lock row yet (its learn is late) when its INSERT passes
    the lock check; the INSERT is prepared at node 1 while node 1's ALTER rebuilds (on its
    writer thread, holding the turn). Whatever the INSERT's outcome, the ALTER will be
    refused for it (ddl/DESIGN.md §11, rule 3: not in its ``ordered_after``) — before, it
    found out at the end of the rebuild and ran the whole rebuild again. Now the prepare
    stops the rebuild (SQLite interrupt, rolled back) and the ALTER runs again after the
    INSERT is applied at node 1: a rebuild is wasted only up to the prepare's arrival."""
    offloads = long_ddls_on_node_1(cluster, monkeypatch)
    held = lock_learn_late_to_node_2(cluster)
    alter = cluster.submit(1, "ALTER TABLE t MODIFY b VARCHAR(40) NOT NULL")
    for _ in range(10):  # the lock's acquire, then the DDL: handed to a writer thread
        if offloads:
            break
        cluster.advance(1)
    assert len(offloads) == 1 and held
    assert "d" not in cluster.nodes[2].state.ddl_locks.holders()  # node 2 does not see it
    insert = cluster.submit(2, "INSERT INTO t VALUES (100, 100, 'x')")
    cluster.deliver()  # its prepare reaches node 1 while the rebuild waits for its thread
    cluster.frames.extend(held.release())
    # one rebuild that ran to its end; before: two (the first refused at its end)
    rebuilds_until_replied(cluster, offloads, [(1, alter), (2, insert)])


def test_a_long_ddl_does_not_start_a_rebuild_a_write_prepared_while_it_waited_would_waste(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ALTER, its lock held and nothing to settle, waits for node 1's turn (an explicit
    transaction of another session holds it); meanwhile node 2, which has not applied the
    lock row, has its INSERT prepared at node 1. When the ALTER gets the turn the INSERT is
    not applied at node 1 (its outcome waits for the turn behind the ALTER), so the ALTER
    would be refused for it: before, its whole rebuild ran and was refused; now it stops as
    it starts and runs again once the INSERT is applied."""
    offloads = long_ddls_on_node_1(cluster, monkeypatch)
    held = lock_learn_late_to_node_2(cluster)
    node1 = cluster.nodes[1]
    ddl_session = cluster.sessions[1]
    cluster.sessions[1] = node1.open_session("root", now_ms=cluster.now_ms, database="d")
    cluster.ok(1, "BEGIN")
    cluster.ok(1, "UPDATE t SET a = a + 1 WHERE id = 1")  # holds node 1's turn
    txn_session, cluster.sessions[1] = cluster.sessions[1], ddl_session
    alter = cluster.submit(1, "ALTER TABLE t MODIFY b VARCHAR(40) NOT NULL")
    for _ in range(10):  # the lock is taken; the ALTER waits for the turn
        cluster.advance(1)
    assert held and not offloads and "d" in node1.state.ddl_locks.holders()
    insert = cluster.submit(2, "INSERT INTO t VALUES (100, 100, 'x')")
    for _ in range(5):  # prepared at node 1 (YES), committed, its learn waits for the turn
        cluster.advance(1)
    cluster.sessions[1] = txn_session
    commit = cluster.submit(1, "COMMIT")  # the turn goes to the ALTER
    cluster.sessions[1] = ddl_session
    cluster.frames.extend(held.release())
    # before: 2 rebuilds run to their end
    rebuilds_until_replied(cluster, offloads, [(1, alter), (2, insert), (1, commit)])


def test_a_short_ddl_waits_for_the_writes_its_node_voted_on_instead_of_being_refused(
        cluster: Cluster) -> None:
    """As the long DDL's settling test, for an ALTER that runs on the loop: node 2's INSERT
    committed with node 1's YES, its learn to node 1 late. Before, the ALTER ran at once,
    missed the INSERT in its ``ordered_after`` and was refused by every member (1213,
    retried behind the client's back); now it first waits (bounded) until node 1 applied
    the INSERT, and commits on its first round (ddl/DESIGN.md §11, "Settling")."""
    held = learns_late(cluster, 1, "d")  # the INSERT's learn to node 1 is late
    status = cluster.nodes[1].state.status
    retries, waits = status["Marmot_conflict_retries"], status["Marmot_ddl_settle_waits"]
    assert cluster.run(2, "INSERT INTO t VALUES (100, 100, 'x')").error is None
    assert held  # decided; node 1 voted on it and has not applied it
    alter = cluster.submit(1, "ALTER TABLE t ADD COLUMN c INT")
    for _ in range(10):
        cluster.advance(5)
    cluster.frames.extend(held.release())
    answered(cluster, (1, alter))
    reply = cluster.replies.pop((1, alter))
    assert reply.error is None, reply.error
    assert status["Marmot_conflict_retries"] == retries  # before: 1 (refused, run again)
    assert status["Marmot_ddl_settle_waits"] == waits + 1
    cluster.advance(1000)
    for i in (1, 2, 3):
        assert "`c` int" in show_create(cluster, i, "t"), i
        assert rows(cluster, i, "SELECT b, c FROM t WHERE id = 100") == [("x", None)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_a_write_that_waited_for_the_turn_while_its_node_learned_the_lock_gives_it_back(
        cluster: Cluster) -> None:
    """Node 2's INSERT passed the lock check (no lock yet) and waits for node 2's turn,
    held by an open transaction. Meanwhile node 1's ALTER takes the lock and commits; its
    outcome waits on node 2 for the same turn. When the transaction ends, the turn goes to
    the INSERT first: before, it ran on the old schema and was refused by nodes 1 and 3
    (1213, retried behind the client's back); now it looks at the lock again, gives the
    turn back, waits for the ALTER to be applied, and commits on its first round
    (ddl/DESIGN.md §11, "What remains")."""
    node2 = cluster.nodes[2]
    insert_session = cluster.sessions[2]
    cluster.sessions[2] = node2.open_session("root", now_ms=cluster.now_ms, database="d")
    cluster.ok(2, "BEGIN")
    cluster.ok(2, "UPDATE t SET a = a + 1 WHERE id = 2")  # holds node 2's turn
    txn_session, cluster.sessions[2] = cluster.sessions[2], insert_session
    insert = cluster.submit(2, "INSERT INTO t VALUES (100, 100, 'x')")
    cluster.advance(5)
    assert (2, insert) not in cluster.replies  # waiting for the turn
    alter = cluster.submit(1, "ALTER TABLE t ADD COLUMN c INT")
    for _ in range(10):  # the lock taken, the ALTER decided; its outcome waits on node 2
        cluster.advance(5)
    assert "d" in node2.state.ddl_locks.holders()
    status = node2.state.status
    retries = status["Marmot_conflict_retries"]
    cluster.sessions[2] = txn_session
    rollback = cluster.submit(2, "ROLLBACK")  # the turn goes to the INSERT
    cluster.sessions[2] = insert_session
    answered(cluster, (1, alter), (2, insert), (2, rollback))
    for request in ((1, alter), (2, insert), (2, rollback)):
        reply = cluster.replies.pop(request)
        assert reply.error is None, (request, reply.error)
    assert status["Marmot_conflict_retries"] == retries  # before: 1
    assert node2.state.ddl_locks.counts["turns_given_back"] == 1
    cluster.advance(1000)
    for i in (1, 2, 3):
        assert rows(cluster, i, "SELECT a, c FROM t WHERE id = 100") == [(100, None)], i
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)
