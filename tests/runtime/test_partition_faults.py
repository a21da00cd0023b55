"""A partition with writes on both sides, on real processes (txn/DESIGN.md §7.5, peers.md §5 #8).

Node 3 is cut off from nodes 1 and 2 while clients write on both sides:

    majority, QUORUM   keeps committing; every acknowledged insert survives
    minority, QUORUM   refused with 1047 (quorum not reachable), never committed
    both sides, ONE    commit on their side; after the heal every node holds, for each row,
                       the write with the highest HLC timestamp (last-write-wins, read from
                       the commit log) — the same value everywhere

The cut is real when the machine allows it: every node in its own network namespace and the
kernel dropping the packets between the sides (marmotdb/torture/netns.py). Otherwise (not root, no
``ip``) the same test runs with the transport fault layer (runtime/faults.py) cutting the
node's peer traffic in-process; ``--run-slow`` runs both variants and a longer partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marmotdb.torture import netns as netns_cluster
from tests.runtime.client_load import Writers, create_database, execute
from marmotdb.torture.cluster import LocalCluster
from marmotdb.torture.netns import NetnsCluster
from marmotdb.torture.audit import AUDITED_SERVE_ARGS, audit, lww_winner

pytestmark = pytest.mark.integration

MINORITY, MAJORITY = [3], [1, 2]
LWW_ROWS = 8
NO_NETNS = netns_cluster.available()


def make(kind: str, root: Path) -> LocalCluster:
    if kind == "netns":
        if NO_NETNS:
            pytest.skip(NO_NETNS)
        return NetnsCluster(root, 3, serve_args=AUDITED_SERVE_ARGS)
    return LocalCluster(root, 3, serve_args=AUDITED_SERVE_ARGS)


def cut(cluster: LocalCluster) -> None:
    if isinstance(cluster, NetnsCluster):
        cluster.cut(MINORITY, MAJORITY)
        return
    for node_id in MINORITY:  # one rule on the minority node cuts both directions
        cluster.set_faults(node_id, [{"peer": str(o), "partition": True} for o in MAJORITY])


@pytest.fixture
def trio(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = make(request.param, tmp_path)
    try:
        cluster.start()
        create_database(cluster)
        execute(cluster, 1, "CREATE TABLE acked (id BIGINT PRIMARY KEY, note TEXT)",
                "CREATE TABLE lww (id INT PRIMARY KEY, v BIGINT)")
        yield cluster
    finally:
        cluster.stop()


def insert(key: int) -> str:
    return f"INSERT INTO acked VALUES ({key}, 'k{key}')"


def overwrite(key: int) -> str:
    return f"REPLACE INTO lww VALUES ({key % LWW_ROWS}, {key})"


def run_partition(cluster: LocalCluster, acked_target: int) -> None:
    cut(cluster)
    majority = Writers(cluster, MAJORITY, insert).start()
    minority = Writers(cluster, MINORITY, insert, per_node=1, writer_base=10).start()
    ones = Writers(cluster, [1, 3], overwrite, level="ONE", per_node=1, writer_base=20,
                   pause_s=0.01).start()
    everyone = (majority, minority, ones)
    try:
        majority.wait_acked(acked_target, 90, "by the majority during the partition")
        ones.wait_acked(acked_target, 90, "at ONE on both sides")
        cluster.until(lambda: len(minority.outcomes.refused) >= 2, 60,
                      "QUORUM writes refused on the minority")
    finally:
        seen = [writers.stop() for writers in everyone]
    cluster.heal()
    in_majority, in_minority, at_one = seen
    assert not in_minority.acked and set(in_minority.codes) == {1047}, in_minority.codes
    assert {key // 1_000_000 for key in at_one.acked} == {20, 21}, "ONE on one side only"
    assert not in_majority.unknown and not at_one.unknown

    for replica in audit(cluster, ("acked", "lww")):
        present = {row[0] for row in replica.tables["acked"]}
        assert in_majority.acked <= present
        assert not (in_minority.refused | in_majority.refused) & present
        assert len(replica.tables["lww"]) == LWW_ROWS
        for row_id, value in replica.tables["lww"]:
            _, _, image = lww_winner(replica, "lww", (row_id,))
            assert image == (row_id, value), f"row {row_id}: {value}, the HLC says {image}"
            assert value in at_one.acked


@pytest.mark.parametrize("trio", ["netns" if not NO_NETNS else "faults"], indirect=True)
def test_a_partitioned_minority_refuses_quorum_and_one_writes_converge_by_lww(
        trio: LocalCluster) -> None:
    run_partition(trio, acked_target=100)


@pytest.mark.slow
@pytest.mark.parametrize("trio", ["netns", "faults"], indirect=True)
def test_a_long_partition_with_writes_on_both_sides(trio: LocalCluster) -> None:
    run_partition(trio, acked_target=2000)
