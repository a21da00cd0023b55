"""Log trimming respects CDC sinks' cursors (replication/retention.py ``holds``): what a live
sink has not published stays in the log, by membership and by age; no hold, normal trimming."""

from __future__ import annotations

from marmotdb.storage import commitlog
from tests.txn.test_retention_snapshot import TrimmingCluster, cluster, write  # noqa: F401


def logged(c: TrimmingCluster, node_id: int) -> dict[int, list[int]]:
    state = c.nodes[node_id].state
    conn = state.read_connection(state.databases.get("d"))
    with state.binding(conn).trusted_scope():
        return {o: [e.origin_seq for e in commitlog.read_origin(conn, o, 0)] for o in (1, 2)}


def test_entries_a_sink_still_needs_are_not_trimmed(cluster: TrimmingCluster) -> None:  # noqa: F811
    held: dict[int, int] | None = {1: 3, 2: 2}  # a sink published origin 1 to 3, origin 2 to 2
    for node in cluster.nodes.values():
        assert node.retention is not None
        node.retention.holds = lambda database: held
    write(cluster, 1, 20)  # origin 1: CREATE + 10 inserts, origin 2: 10 inserts
    cluster.settle(5)
    for node_id in (1, 2, 3):
        assert logged(cluster, node_id) == {1: list(range(4, 12)), 2: list(range(3, 11))}
    cluster.settle(70)  # past log_retention_max_hours: the hold still wins
    assert logged(cluster, 1) == {1: list(range(4, 12)), 2: list(range(3, 11))}
    held = None  # the sink failed (backlog bound): its hold is released
    cluster.settle(5)
    assert logged(cluster, 1) == {1: [11], 2: [10]}  # the newest of each origin stays
