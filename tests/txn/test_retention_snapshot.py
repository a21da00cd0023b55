"""Log trimming, tombstone collection and snapshot transfer between three in-memory nodes
(replication/DESIGN.md: retention.py, snapshot_transfer.py), in the style of
test_cluster_commit.py: a static roster, frames routed by the test, time moved by the test."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from marmotdb.errors import StorageError
from marmotdb.node import Node
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import FrameCodec
from marmotdb.replication.messages import MESSAGE_TYPES
from marmotdb.replication.snapshot_transfer import restore_over
from marmotdb.storage import reemit
from marmotdb.storage import commitlog
from marmotdb.storage.apply import apply
from marmotdb.storage.internal_tables import COMMIT_LOG, ROW_VERSIONS
from marmotdb.storage.snapshot import create_snapshot
from marmotdb.txn.cluster import CommitSettings, Peer
from tests.storage.origin import open_database
from tests.storage.test_commitlog import ws
from tests.txn.test_cluster_commit import SECRET, USERS, Cluster, rows

TRIM_INTERVAL_MS = 1000
RETENTION_HOURS = 60 / 3600  # one minute
SNAPSHOT_DATA = next(tag for tag, cls in MESSAGE_TYPES.items() if cls.__name__ == "SnapshotData")


class TrimmingCluster(Cluster):
    """The test cluster with fast trimming and a roster in which some members are DEAD."""

    def __init__(self, base: Path, retention_hours: float = RETENTION_HOURS):
        self.dead: set[int] = set()
        self.retention_hours = retention_hours
        super().__init__(base)

    def _start(self, i: int) -> Node:
        node = Node(self.base / f"n{i}", users=USERS, node_id=i, now_ms=self.now_ms,
                    rng=random.Random(i), on_output=lambda out: self._output(i, out))
        node.attach_cluster(FrameCodec([SECRET], registry=all_messages()), self._roster,
                            CommitSettings(prepare_timeout_ms=500, decision_timeout_ms=500,
                                           recovery_timeout_ms=1000),
                            log_trim_interval_ms=TRIM_INTERVAL_MS,
                            log_retention_max_hours=self.retention_hours)
        return node

    def _roster(self) -> list[Peer]:
        return [Peer(i, addr, i not in self.dead) for i, addr in self.addrs.items()]

    def kill(self, i: int) -> None:
        """Node ``i`` goes silent and the others see it DEAD (it still counts)."""
        self.cut.add(i)
        self.dead.add(i)

    def revive(self, i: int) -> None:
        self.cut.discard(i)
        self.dead.discard(i)

    def query(self, node_id: int, sql: str) -> list[tuple[object, ...]]:
        state = self.nodes[node_id].state
        conn = state.read_connection(state.databases.get("d"))
        with state.binding(conn).trusted_scope():
            return [tuple(r) for r in conn.execute(sql)]

    def log_size(self, node_id: int) -> int:
        return int(self.query(node_id, f"SELECT count(*) FROM {COMMIT_LOG}")[0][0])

    def tombstones(self, node_id: int) -> int:
        return int(self.query(node_id, f"SELECT count(*) FROM {ROW_VERSIONS} "
                                       "WHERE deleted = 1")[0][0])

    def settle(self, seconds: int) -> None:
        for _ in range(seconds):
            self.advance(1000)


@pytest.fixture
def cluster(tmp_path: Path):
    c = TrimmingCluster(tmp_path).in_database()
    c.ok(1, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    yield c
    c.close()


def write(cluster: TrimmingCluster, first: int, count: int) -> None:
    for i in range(first, first + count):
        cluster.ok(1 + i % 2, f"INSERT INTO t VALUES ({i}, {i})")


def test_logs_are_trimmed_once_every_member_applied_them(cluster: TrimmingCluster) -> None:
    write(cluster, 1, 20)
    before = [cluster.log_size(i) for i in (1, 2, 3)]
    assert min(before) >= 21
    cluster.settle(5)  # every node hears every peer's vectors, then trims
    # one entry per origin is kept (its timestamp bounds the tombstone horizon)
    assert [cluster.log_size(i) for i in (1, 2, 3)] == [2, 2, 2]
    assert all(n.retention is not None and n.retention.trimmed > 0
               for n in cluster.nodes.values())
    write(cluster, 100, 3)  # the trimmed cluster keeps committing and converging
    cluster.settle(2)
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_a_dead_member_holds_trimming_back_until_the_retention_limit(
        cluster: TrimmingCluster) -> None:
    cluster.settle(3)  # everyone heard node 3 once
    cluster.kill(3)
    write(cluster, 1, 10)
    cluster.settle(30)  # half the retention: node 3's last vector holds the log
    assert cluster.log_size(1) >= 10 and cluster.log_size(2) >= 10
    cluster.settle(40)  # past log_retention_max_hours
    assert cluster.log_size(1) <= 2 and cluster.log_size(2) <= 2


def test_tombstones_are_collected_once_every_member_applied_the_delete(
        cluster: TrimmingCluster) -> None:
    write(cluster, 1, 6)
    cluster.settle(3)
    cluster.kill(3)
    cluster.ok(1, "DELETE FROM t WHERE id <= 3")
    cluster.settle(5)
    assert cluster.tombstones(1) == 3  # node 3 has not applied the delete: kept
    cluster.settle(60)  # past the grace period: still kept while node 3 is DEAD
    assert cluster.tombstones(1) == 3 and cluster.tombstones(2) == 3
    cluster.revive(3)
    cluster.settle(6)
    assert [cluster.tombstones(i) for i in (1, 2, 3)] == [0, 0, 0]
    # writes on collected keys: neither judged stale forever nor held back for a base
    cluster.ok(2, "INSERT INTO t VALUES (1, 100)")
    cluster.ok(3, "UPDATE t SET v = 200 WHERE id = 1")
    cluster.ok(1, "DELETE FROM t WHERE id = 2")
    cluster.ok(3, "INSERT INTO t VALUES (2, 22)")
    cluster.settle(3)
    assert rows(cluster, 1, "SELECT id, v FROM t ORDER BY id") == [
        (1, 200), (2, 22), (4, 4), (5, 5), (6, 6)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_a_node_whose_gap_was_trimmed_everywhere_restores_a_snapshot(
        cluster: TrimmingCluster) -> None:
    write(cluster, 1, 4)
    cluster.settle(3)
    cluster.kill(3)
    write(cluster, 10, 30)
    cluster.ok(1, "DELETE FROM t WHERE id < 12")
    cluster.ok(2, "CREATE TABLE later (id INT PRIMARY KEY)")  # DDL it missed too
    cluster.ok(2, "INSERT INTO later VALUES (7)")
    cluster.settle(70)  # past the retention: the gap is trimmed on nodes 1 and 2
    floors = [cluster.nodes[i].catch_up._read("d", commitlog.log_floors) for i in (1, 2)]
    assert all(floors), floors
    assert cluster.nodes[3].snapshots is not None
    cluster.revive(3)
    cluster.settle(5)
    # d, and __marmot_system: the DDL's cluster lock rows (marmotdb/ddl/) were trimmed too
    assert cluster.nodes[3].snapshots.restored == 2
    write(cluster, 200, 3)
    cluster.settle(3)
    assert rows(cluster, 3, "SELECT id FROM later") == [(7,)]
    assert rows(cluster, 3, "SELECT count(*) FROM t") == [(31,)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_an_interrupted_transfer_leaves_the_old_database_and_is_retried(
        cluster: TrimmingCluster) -> None:
    write(cluster, 1, 4)
    cluster.settle(3)
    cluster.kill(3)
    write(cluster, 10, 10)
    cluster.settle(70)
    cluster.dropped_tags = {SNAPSHOT_DATA}  # every chunk is lost on the way
    cluster.revive(3)
    cluster.settle(3)
    snapshots = cluster.nodes[3].snapshots
    assert snapshots is not None and snapshots.incoming  # waiting for chunk 0
    cluster.settle(40)  # the chunk request times out: abandoned
    assert snapshots.failed >= 1 and snapshots.restored == 0
    assert rows(cluster, 3, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,), (4,)]
    cluster.dropped_tags = set()
    cluster.settle(45)
    assert snapshots.restored == 1
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_marmot_cluster_nodes_shows_a_snapshot_under_way(cluster: TrimmingCluster) -> None:
    write(cluster, 1, 2)
    cluster.settle(3)
    cluster.kill(3)
    write(cluster, 10, 5)
    cluster.settle(70)
    cluster.dropped_tags = {SNAPSHOT_DATA}
    cluster.revive(3)
    cluster.settle(2)
    members = [(i, None, None, None, "ALIVE", 0) for i in (1, 2, 3)]
    cluster.nodes[3].state.cluster_nodes = lambda: members
    found = rows(cluster, 3, "SELECT node_id, snapshot FROM MARMOT_CLUSTER_NODES "
                             "WHERE node_id = 3")
    assert found[0][1].startswith("d from node "), found
    assert "receiving 0.0/" in found[0][1]


def test_a_write_built_on_a_tombstone_another_node_collected_is_applied_there(
        cluster: TrimmingCluster) -> None:
    write(cluster, 1, 4)
    cluster.ok(1, "DELETE FROM t WHERE id <= 2")
    retention = cluster.nodes[1].retention
    assert retention is not None
    retention.close()  # node 1 keeps its tombstones; nodes 2 and 3 collect theirs
    cluster.settle(70)
    assert [cluster.tombstones(i) for i in (1, 2, 3)] == [2, 0, 0]
    cluster.ok(1, "INSERT INTO t VALUES (1, 10)")  # its base is node 1's tombstone
    cluster.ok(2, "INSERT INTO t VALUES (2, 20)")  # its base is "no row" (collected)
    cluster.settle(3)
    for i in (1, 2, 3):
        assert rows(cluster, i, "SELECT id, v FROM t ORDER BY id") == [
            (1, 10), (2, 20), (3, 3), (4, 4)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)


def test_a_node_without_a_database_a_peer_holds_far_ahead_restores_a_snapshot(
        cluster: TrimmingCluster) -> None:
    snapshots = cluster.nodes[3].snapshots
    assert snapshots is not None
    snapshots.new_node_entries = 10  # the default waits for 10 000 entries
    cluster.kill(3)
    cluster.ok(1, "CREATE DATABASE IF NOT EXISTS e")
    cluster.ok(2, "CREATE DATABASE IF NOT EXISTS e")
    cluster.ok(1, "CREATE TABLE e.big (id INT PRIMARY KEY)")
    for i in range(12):
        cluster.ok(1 + i % 2, f"INSERT INTO e.big VALUES ({i})")
    assert not cluster.nodes[3].state.databases.exists("e")
    cluster.revive(3)
    cluster.settle(4)
    assert snapshots.restored == 1
    assert rows(cluster, 3, "SELECT count(*) FROM e.big") == [(12,)]
    assert cluster.checksums(3, "e") == cluster.checksums(1, "e")


def test_a_restore_keeps_what_only_this_node_had_and_refuses_a_copy_from_behind(
        tmp_path: Path) -> None:
    schema = "CREATE TABLE kv(k TEXT PRIMARY KEY, v)"
    source = open_database(schema, str(tmp_path / "source.db"))
    here = open_database(schema, str(tmp_path / "here.db"))
    for seq in range(1, 6):
        apply(source, ws(1, seq))
    apply(here, ws(1, 1))
    apply(here, ws(3, 1))  # this node's own commit, never sent anywhere
    # re-emit obligations are node-local (ddl/DESIGN.md §11): the copy's stay with its node
    source.execute(f"INSERT INTO {reemit.REEMIT}(tbl, pk) VALUES ('kv', x'01')")
    here.execute(f"INSERT INTO {reemit.REEMIT}(tbl, pk, key_columns, image) VALUES "
                 "('kv', x'03', '[\"k\"]', x'80')")  # with its key's names and its image
    manifest = create_snapshot(tmp_path / "source.db", tmp_path / "copy.db")
    assert restore_over(here, tmp_path / "copy.db", manifest.applied_vector)[0] == {1: 5, 3: 1}
    assert here.execute("SELECT count(*) FROM kv").fetchall() == [(6,)]
    assert reemit.obligations(here) == [("kv", b"\x03", '["k"]', b"\x80")]
    apply(here, ws(3, 2))
    here.execute(f"DELETE FROM {COMMIT_LOG} WHERE origin = 3")  # trimmed here
    with pytest.raises(StorageError, match="lacks 2 entries of node 3"):
        restore_over(here, tmp_path / "copy.db", manifest.applied_vector)
    assert commitlog.applied_vector(here) == {1: 5, 3: 2}  # the old database stands
    assert here.execute("SELECT count(*) FROM kv").fetchall() == [(7,)]
