"""kill -9 of real ``marmotdb serve`` processes under a write load (DESIGN §4.1, peers.md §5 #1).

    every node at once   with ``durability = "fsync"``: after the restart every write
                         acknowledged at QUORUM is on every node (an acknowledgement means the
                         decision was accepted by a quorum and fsynced: txn/DESIGN.md §7.4)
    a minority           1 of 3, 2 of 5: the others keep taking QUORUM writes meanwhile; the
                         victims catch up after their restart

Each run ends with the audit of marmotdb/torture/audit.py (identical checksums, one decision per log
entry, nothing left in doubt) and the history check: every acknowledged insert present, no
refused one present. Clients write on every node, so the killed nodes were coordinating
batches when they died. The default variants stay well under a minute; ``--run-slow`` runs
longer loads and repeated kills.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from marmotdb.runtime import cluster_cli
from tests.runtime.client_load import Outcomes, Writers, create_database, execute
from marmotdb.torture.cluster import LocalCluster
from marmotdb.torture.audit import AUDITED_SERVE_ARGS, ReplicaFiles, audit

pytestmark = pytest.mark.integration

LIVE_WINDOW_S = 1.0  # acknowledgements in the last second before a kill: the load was live
MakeCluster = Callable[[int, str], LocalCluster]  # (nodes, durability) -> a started cluster


def insert(key: int) -> str:
    return f"INSERT INTO acked VALUES ({key}, 'k{key}')"


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[MakeCluster]:
    made: list[LocalCluster] = []

    def make(nodes: int, durability: str) -> LocalCluster:
        cluster = LocalCluster(tmp_path / f"c{len(made)}", nodes,
                               serve_args=[f"--storage-durability={durability}",
                                           *AUDITED_SERVE_ARGS])
        made.append(cluster)
        cluster.start()
        create_database(cluster)
        execute(cluster, 1, "CREATE TABLE acked (id BIGINT PRIMARY KEY, note TEXT)")
        return cluster
    yield make
    for cluster in made:
        cluster.stop()


def check_history(replicas: list[ReplicaFiles], outcomes: Outcomes) -> None:
    for replica in replicas:
        present = {row[0] for row in replica.tables["acked"]}
        lost = outcomes.acked - present
        assert not lost, f"node {replica.node_id} lost {len(lost)} acknowledged writes: " \
                         f"{sorted(lost)[:10]}"
        wrongly = outcomes.refused & present
        assert not wrongly, f"node {replica.node_id} holds {len(wrongly)} refused writes: " \
                            f"{sorted(wrongly)[:10]}"
        unexplained = present - outcomes.acked - outcomes.unknown
        assert not unexplained, f"rows nobody wrote: {sorted(unexplained)[:10]}"


def acked_just_before(writers: Writers) -> int:
    before = writers.outcomes.acked_count()
    time.sleep(LIVE_WINDOW_S)
    return writers.outcomes.acked_count() - before


# ---------------------------------------------------------------------- every node at once
def kill_all_and_restart(cluster: LocalCluster, writers: Writers, acked_before: int) -> None:
    writers.wait_acked(acked_before, 90, "before the kill")
    assert acked_just_before(writers) > 0, "no write in flight when every node was killed"
    for node_id in cluster.ids():  # within a millisecond or so: no node outlives another
        os.kill(cluster.processes[node_id].pid, signal.SIGKILL)
    for node_id in cluster.ids():
        cluster.processes[node_id].wait(5)
    for node_id in cluster.ids():  # all at once, as after a power cut
        cluster.processes[node_id] = cluster.spawn(cluster.record(node_id))
    for node_id in cluster.ids():
        cluster_cli.wait_ready(cluster.node_state(node_id), cluster.processes,
                               records=[cluster.record(node_id)])
    cluster.until(cluster.converged, 60, "one cluster again after the restart")


def run_kill_all(cluster: LocalCluster, rounds: int, acked_per_round: int) -> None:
    writers = Writers(cluster, cluster.ids(), insert, per_node=2).start()
    try:
        for round_no in range(1, rounds + 1):
            kill_all_and_restart(cluster, writers, acked_per_round * round_no)
        writers.wait_acked(acked_per_round * rounds + 20, 60, "after the last restart")
    finally:
        outcomes = writers.stop()
    assert outcomes.unknown, "no statement was in flight at the kill: vacuous"
    check_history(audit(cluster, ("acked",)), outcomes)


def test_kill9_of_every_node_at_once_with_fsync_loses_no_acknowledged_write(
        make_cluster: MakeCluster) -> None:
    run_kill_all(make_cluster(3, "fsync"), rounds=1, acked_per_round=150)


@pytest.mark.slow
def test_kill9_of_every_node_at_once_repeatedly_under_a_long_load(
        make_cluster: MakeCluster) -> None:
    run_kill_all(make_cluster(3, "fsync"), rounds=4, acked_per_round=1500)


# ---------------------------------------------------------------------- a minority
def run_kill_minority(cluster: LocalCluster, victims: list[int], acked_each: int) -> None:
    writers = Writers(cluster, cluster.ids(), insert, per_node=2).start()
    try:
        writers.wait_acked(acked_each, 90, "before the kill")
        assert acked_just_before(writers) > 0
        for victim in victims:
            cluster.kill9(victim)
        during = writers.outcomes.acked_count()
        writers.wait_acked(during + acked_each, 90, "by the majority while the victims "
                           "were down")
        for victim in victims:
            cluster.restart(victim)
        after = writers.outcomes.acked_count()
        writers.wait_acked(after + acked_each, 90, "after the restart")
    finally:
        outcomes = writers.stop()
    check_history(audit(cluster, ("acked",)), outcomes)


def test_kill9_of_one_of_three_while_the_others_keep_writing(make_cluster: MakeCluster) -> None:
    run_kill_minority(make_cluster(3, "normal"), [3], acked_each=100)


def test_kill9_of_two_of_five_while_the_others_keep_writing(make_cluster: MakeCluster) -> None:
    run_kill_minority(make_cluster(5, "normal"), [4, 5], acked_each=100)


@pytest.mark.slow
def test_kill9_of_two_of_five_with_fsync_under_a_long_load(make_cluster: MakeCluster) -> None:
    run_kill_minority(make_cluster(5, "fsync"), [2, 5], acked_each=1500)
