"""Five real nodes, writes on every node at once (issue 10's counter and set workloads on real
processes): inserts of unique keys and concurrent increments of a few shared counters.

Increments of one counter from five coordinators conflict all the time: a participant votes
no on a row another undecided instance holds an intent on, or whose base version is stale
(first committer wins). Autocommit statements that lose are retried transparently (bounded),
so a client sees OK (counted), 1213 (not committed) or — never here, nothing fails — 1180.
The final value of each counter on every node must be exactly its acknowledged increments: an
increment lost or applied twice shows. Then the audit of marmotdb/torture/audit.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.client_load import Writers, create_database, execute
from marmotdb.torture.cluster import LocalCluster
from marmotdb.torture.audit import AUDITED_SERVE_ARGS, audit

pytestmark = pytest.mark.integration

COUNTERS = 4


@pytest.fixture
def five(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path, 5, serve_args=AUDITED_SERVE_ARGS)
    try:
        cluster.start()
        create_database(cluster)
        values = ", ".join(f"({i}, 0)" for i in range(1, COUNTERS + 1))
        execute(cluster, 1, "CREATE TABLE ctr (id INT PRIMARY KEY, n INT)",
                f"INSERT INTO ctr VALUES {values}",
                "CREATE TABLE items (id BIGINT PRIMARY KEY, node INT)")
        yield cluster
    finally:
        cluster.stop()


def increment(key: int) -> str:
    return f"UPDATE ctr SET n = n + 1 WHERE id = {key % COUNTERS + 1}"


def insert(key: int) -> str:
    return f"INSERT INTO items VALUES ({key}, {key // 1_000_000})"


def run_counters(cluster: LocalCluster, increments: int, inserts: int) -> None:
    counters = Writers(cluster, cluster.ids(), increment, per_node=1).start()
    items = Writers(cluster, cluster.ids(), insert, per_node=1, writer_base=100).start()
    try:
        counters.wait_acked(increments, 120, "increments")
        items.wait_acked(inserts, 120, "inserts")
    finally:
        bumped, inserted = counters.stop(), items.stop()
    coordinators = {key // 1_000_000 for key in bumped.acked}
    assert len(coordinators) == len(cluster.ids()), f"only writers {coordinators} got through"
    assert not bumped.unknown and not inserted.unknown, (bumped.codes, inserted.codes)
    expected = Counter(key % COUNTERS + 1 for key in bumped.acked)
    for replica in audit(cluster, ("ctr", "items")):
        assert replica.tables["ctr"] == [(i, expected[i]) for i in range(1, COUNTERS + 1)], \
            f"node {replica.node_id}: {replica.tables['ctr']}, acknowledged {expected}"
        assert {row[0] for row in replica.tables["items"]} == inserted.acked


def test_concurrent_increments_on_five_nodes_count_exactly_and_converge(
        five: LocalCluster) -> None:
    run_counters(five, increments=150, inserts=150)


@pytest.mark.slow
def test_concurrent_increments_on_five_nodes_under_a_long_load(five: LocalCluster) -> None:
    run_counters(five, increments=3000, inserts=3000)
