"""Several SwimNodes wired through an in-memory network with one shared clock."""

from __future__ import annotations

from marmotdb.cluster.messages import MemberState
from tests.cluster.driver import Cluster, addr, meta

ALIVE, DEAD = MemberState.ALIVE, MemberState.DEAD


def converged(cluster: Cluster) -> bool:
    ids = set(cluster.nodes)
    return all({k for k, v in cluster.view(o).items() if v is ALIVE} == ids for o in ids)


def test_five_nodes_form_one_cluster_quickly() -> None:
    cluster = Cluster(5)
    cluster.run_for(3000)
    assert converged(cluster)


def test_crashed_node_is_declared_dead_everywhere_within_the_bound() -> None:
    cluster = Cluster(5)
    cluster.run_for(5000)
    cluster.crash(3)
    crashed_at = cluster.now_ms
    while not cluster.all_see(3, DEAD):
        cluster.run_for(100)
        assert cluster.now_ms - crashed_at <= cluster.config.detection_bound_ms(5)
    assert all(v is ALIVE for o in cluster.nodes for k, v in cluster.view(o).items() if k != 3)


def test_restarted_node_rejoins_with_a_higher_incarnation() -> None:
    cluster = Cluster(3)
    cluster.run_for(3000)
    cluster.crash(2)
    cluster.run_for(30_000)
    assert cluster.all_see(2, DEAD)
    old = cluster.nodes[0].members.get(2)
    assert old is not None
    old_incarnation = old.incarnation
    restarted = cluster.start_node(2)
    cluster.run_for(5000)
    assert converged(cluster)
    assert restarted.incarnation > old_incarnation
    assert cluster.nodes[0].members.get(2).incarnation == restarted.incarnation  # type: ignore


def test_graceful_leave_is_seen_as_leaving_not_dead() -> None:
    cluster = Cluster(4)
    cluster.run_for(3000)
    leaver = cluster.nodes[1]
    leaver.leave(cluster.now_ms)
    while not leaver.leave_complete(cluster.now_ms):
        cluster.run_for(100)
    cluster.crash(1)
    cluster.run_for(30_000)
    assert cluster.all_see(1, MemberState.LEAVING)


def test_admin_removed_node_cannot_rejoin_until_allowed() -> None:
    cluster = Cluster(4)
    cluster.run_for(3000)
    cluster.nodes[0].remove_member(3, cluster.now_ms)
    cluster.run_for(5000)
    assert cluster.nodes[3].state is MemberState.REMOVED
    assert cluster.all_see(3, MemberState.REMOVED)
    cluster.crash(3)
    cluster.start_node(3)  # a restart does not get it back in
    cluster.run_for(10_000)
    assert cluster.nodes[3].state is MemberState.REMOVED
    assert cluster.all_see(3, MemberState.REMOVED)
    cluster.nodes[1].allow_member(3, cluster.now_ms)
    cluster.run_for(10_000)
    assert cluster.nodes[3].state is ALIVE
    assert converged(cluster)


def test_metadata_change_reaches_every_member() -> None:
    cluster = Cluster(5)
    cluster.run_for(3000)
    new_meta = meta(2, software_version="0.2.0", mysql_addr=addr(200))
    cluster.nodes[2].update_meta(new_meta, cluster.now_ms)
    cluster.run_for(2000)
    for observer in cluster.nodes:
        member = cluster.nodes[observer].members.get(2)
        assert member is not None and member.meta == new_meta


def test_partition_heals_and_everyone_agrees_again() -> None:
    cluster = Cluster(4)
    cluster.run_for(3000)
    left, right = [addr(0), addr(1)], [addr(2), addr(3)]
    cluster.network.blocked = {(a, b) for a in left for b in right} | {
        (b, a) for a in left for b in right}
    cluster.run_for(60_000)
    assert cluster.view(0)[2] is DEAD and cluster.view(3)[1] is DEAD
    cluster.network.blocked = set()
    cluster.run_for(cluster.config.reconnect_interval_ms + 10_000)
    assert converged(cluster)
