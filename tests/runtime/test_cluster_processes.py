"""Real ``marmotdb serve`` processes on loopback: membership, failure detection, the fault
layer, secrets, the admin API, SQL and the ``marmotdb cluster`` command.

Detection times are measured from the kill to each survivor's own record of the DEAD
transition (``state_since_ms``, wall clock), not from our polling, and must stay under the
bound the SWIM config derives from the same timings (``SwimConfig.detection_bound_ms``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from marmotdb.cluster.messages import NodeAddr, Ping
from marmotdb.peer.codec import FrameCodec
from marmotdb.runtime.cluster_state import free_ports
from marmotdb.torture.cluster import HOST, LocalCluster
from tests.runtime.process_cluster import running_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three nodes shared by the tests below; each test leaves it healed and converged."""
    yield from running_cluster(tmp_path_factory.mktemp("trio"))


@pytest.fixture
def healthy(trio: LocalCluster) -> LocalCluster:
    trio.heal(trio.live_ids())
    trio.until(trio.converged, 20, "cluster converged before the test")
    return trio


def detection_ms(cluster: LocalCluster, victim: int, killed_at: float,
                 observers: list[int]) -> dict[int, int]:
    """Per observer: ms from the kill to its DEAD record of ``victim``."""
    return {o: cluster.members(o)[str(victim)]["state_since_ms"] - int(killed_at * 1000)
            for o in observers}


def test_kill9_is_dead_everywhere_within_the_bound_and_the_node_rejoins(
        healthy: LocalCluster) -> None:
    cluster = healthy
    before = cluster.members(1)["3"]["incarnation"]
    killed_at = cluster.kill9(3)
    bound_s = cluster.swim.detection_bound_ms(3) / 1000
    cluster.until(lambda: cluster.all_see(3, "DEAD", [1, 2]), bound_s, "node 3 DEAD at 1 and 2")
    took = detection_ms(cluster, 3, killed_at, [1, 2])
    assert all(0 < ms <= bound_s * 1000 for ms in took.values()), took
    assert cluster.converged([1, 2])  # the survivors never doubted each other

    cluster.restart(3)
    cluster.until(cluster.converged, 15, "node 3 ALIVE again everywhere")
    assert cluster.members(1)["3"]["incarnation"] > before
    assert cluster.members(3)["3"]["incarnation"] > before


def test_isolated_node_is_suspected_refutes_then_dies_and_recovers(
        healthy: LocalCluster) -> None:
    cluster = healthy
    start = cluster.members(1)["3"]["incarnation"]
    refutations_before = cluster.metrics(3)["marmotdb_swim_refutations_total"]

    # A short partition: suspicion, then (healed) refutation by a higher incarnation.
    cluster.set_faults(3, [{"peer": "*", "partition": True}])
    cluster.until(lambda: "SUSPECT" in (cluster.states(1)["3"], cluster.states(2)["3"]), 10,
                  "node 3 suspected")
    cluster.heal([3])
    cluster.until(lambda: all(cluster.members(o)["3"]["state"] == "ALIVE" and
                              cluster.members(o)["3"]["incarnation"] > start for o in (1, 2)),
                  10, "node 3 refuted the suspicion")
    assert cluster.metrics(3)["marmotdb_swim_refutations_total"] > refutations_before

    # A long partition: both sides declare the other DEAD; after healing, all recover.
    cluster.set_faults(3, ["peer=*;direction=both;partition=1"])
    cluster.until(lambda: cluster.all_see(3, "DEAD", [1, 2]), 20, "node 3 DEAD at 1 and 2")
    cluster.until(lambda: {cluster.states(3)[k] for k in ("1", "2")} == {"DEAD"}, 30,
                  "the isolated node declares the others DEAD")
    assert cluster.metrics(3)["marmotdb_faults_partitioned_total"] > 0
    cluster.heal([3])
    took_s = cluster.until(cluster.converged, 20, "recovery after the partition heals")
    assert took_s <= 3 * cluster.swim.reconnect_interval_ms / 1000 + 5


def test_one_broken_link_is_bridged_by_indirect_probes(healthy: LocalCluster) -> None:
    cluster = healthy
    peer_of_1 = cluster.members(3)["1"]["peer_address"]
    indirect_before = cluster.metrics(1)["marmotdb_swim_indirect_probes_sent_total"]
    cluster.set_faults(3, [{"peer": "1", "partition": True}])  # node id, resolved by node 3
    assert cluster.admin(3, "GET", "/faults")["rules"][0]["peer"] == peer_of_1
    deadline = time.monotonic() + 3 * cluster.swim.suspicion_min_ms(3) / 1000
    while time.monotonic() < deadline:
        for observer in (1, 2, 3):
            assert "DEAD" not in cluster.states(observer).values(), cluster.report()
        time.sleep(0.2)
    assert cluster.metrics(1)["marmotdb_swim_indirect_probes_sent_total"] > indirect_before
    cluster.heal([3])


def test_wrong_secret_is_refused_and_logged_and_the_cluster_is_unharmed(
        healthy: LocalCluster, tmp_path: Path) -> None:
    cluster = healthy
    node1 = cluster.record(1)
    ports = free_ports(HOST, 3)
    env = dict(os.environ, MARMOTDB_CLUSTER_SECRET="an-intruder-with-the-wrong-secret")
    intruder = subprocess.Popen(
        [sys.executable, "-m", "marmotdb", "serve", "--node-id", "99", "--data-dir",
         str(tmp_path / "intruder"), "--mysql-port", str(ports[0]), "--peer-port",
         str(ports[1]), "--admin-port", str(ports[2]),
         "--seed-nodes", f"{HOST}:{node1.peer_port}", "--cluster-swim-profile", "local"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        forged = FrameCodec([b"an-intruder-with-the-wrong-secret"]).encode(
            Ping(1, 99, NodeAddr(HOST, ports[1]), 1))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(forged, (HOST, node1.peer_port))
        cluster.until(lambda: cluster.metrics(1)["marmotdb_peer_handshakes_refused_total"] >= 1,
                      15, "node 1 refused the intruder's connection")
        metrics = cluster.metrics(1)
        assert metrics['marmotdb_swim_frames_rejected_total{reason=FrameAuthError}'] >= 1
        log = cluster.log(1)
        assert "wrong cluster secret" in log and "rejected peer frame" in log
        assert set(cluster.states(1)) == {"1", "2", "3"} and cluster.converged()
        assert intruder.poll() is None  # refused, not crashed either
    finally:
        intruder.terminate()
        intruder.wait(15)


def test_admin_api_refuses_requests_without_the_secret(healthy: LocalCluster) -> None:
    import urllib.error
    import urllib.request
    record = healthy.record(2)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Marmot-Secret": "wrong"}):
        request = urllib.request.Request(f"http://{HOST}:{record.admin_port}/health",
                                         headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
    health = healthy.admin(2, "GET", "/health")
    assert health["state"] == "ALIVE" and health["members"] == {"ALIVE": 3}
    assert healthy.metrics(2)["marmotdb_admin_requests_refused_total"] >= 3


def test_marmot_cluster_nodes_answers_on_every_node(healthy: LocalCluster) -> None:
    for record in healthy.state.nodes:
        with pymysql.connect(host=HOST, port=record.mysql_port, user="root",
                             password=healthy.state.root_password) as conn, \
                conn.cursor() as cursor:
            cursor.execute("SELECT * FROM MARMOT_CLUSTER_NODES ORDER BY node_id")
            rows = cursor.fetchall()
        assert [r[0] for r in rows] == [1, 2, 3]
        for row, other in zip(rows, healthy.state.nodes, strict=True):
            assert row[1:5] == (f"{HOST}:{other.mysql_port}", f"{HOST}:{other.peer_port}",
                                f"{HOST}:{other.admin_port}", "ALIVE")


def test_five_nodes_converge_and_detect_a_kill9(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, 5)
    try:
        cluster.start()
        killed_at = cluster.kill9(4)
        survivors = [1, 2, 3, 5]
        bound_s = cluster.swim.detection_bound_ms(5) / 1000
        cluster.until(lambda: cluster.all_see(4, "DEAD", survivors), bound_s,
                      "node 4 DEAD at every survivor")
        took = detection_ms(cluster, 4, killed_at, survivors)
        assert all(0 < ms <= bound_s * 1000 for ms in took.values()), took
        assert cluster.converged(survivors)
    finally:
        codes = cluster.stop()
    assert all(code == 0 for node_id, code in codes.items() if node_id != 4), codes


def cluster_command(*args: str, env: dict[str, str] | None = None
                    ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "marmotdb", "cluster", *args], check=False,
                          capture_output=True, text=True, timeout=120, env=env)


def test_cluster_command_up_status_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "cli"
    up = cluster_command("up", "--nodes", "3", "--base-port", "0", "--data-dir", str(data_dir),
                         env=dict(os.environ, MARMOTDB_ROOT_PASSWORD="cli-test-pw"))
    try:
        assert up.returncode == 0, up.stderr
        assert "3 node(s) up" in up.stdout and "your MARMOTDB_ROOT_PASSWORD" in up.stdout
        assert "cli-test-pw" not in up.stdout
        state = json.loads((data_dir / "cluster.json").read_text())
        assert oct((data_dir / "cluster.json").stat().st_mode & 0o777) == "0o600"
        assert state["secret"] not in up.stdout + up.stderr
        for node in state["nodes"]:
            assert f"{HOST}:{node['mysql_port']}" in up.stdout
            assert f"http://{HOST}:{node['admin_port']}" in up.stdout
        status = cluster_command("status", "--json", "--data-dir", str(data_dir))
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert [n["node_id"] for n in report] == [1, 2, 3]
        assert all(n["running"] and n["state"] == "ALIVE" for n in report)
        assert all(set(n["sees"].values()) == {"ALIVE"} and len(n["sees"]) == 2 for n in report)
        again = cluster_command("up", "--nodes", "3", "--data-dir", str(data_dir))
        assert again.returncode == 2 and "already running" in again.stderr
    finally:
        down = cluster_command("down", "--data-dir", str(data_dir))
    assert down.returncode == 0 and "stopped 3 node(s)" in down.stdout, down.stdout
    assert "killed" not in down.stdout  # every node stopped on SIGTERM
    after = cluster_command("status", "--json", "--data-dir", str(data_dir))
    assert after.returncode == 1 and not any(n["running"] for n in json.loads(after.stdout))


# ---------------------------------------------------------------------- slow fault runs


@pytest.mark.slow
def test_lan_profile_rides_out_ten_percent_loss_and_recovers_from_thirty(tmp_path: Path) -> None:
    """10% loss on every datagram: no healthy node may die (indirect probes and refutation
    cover it). 30%: deaths are excused while it lasts (as in the simulator's invariants), but
    the cluster must agree again soon after the loss stops."""
    cluster = LocalCluster(tmp_path, 5, timings={}, profile="lan")
    try:
        cluster.start()
        for node_id in cluster.ids():  # every node loses this share of what it sends
            cluster.set_faults(node_id, ["peer=*;direction=out;drop=0.1"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for node_id in cluster.ids():
                assert "DEAD" not in cluster.states(node_id).values(), cluster.report()
            time.sleep(0.5)
        for node_id in cluster.ids():
            cluster.set_faults(node_id, ["peer=*;direction=out;drop=0.3"])
        time.sleep(20)
        assert sum(cluster.metrics(i)["marmotdb_faults_dropped_total"] for i in cluster.ids()) > 0
        cluster.heal()
        bound_s = (cluster.swim.reconnect_interval_ms + cluster.swim.suspicion_max_ms(5)) / 1000
        cluster.until(cluster.converged, bound_s + 10, "all ALIVE after the loss stops")
    finally:
        codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), codes


@pytest.mark.slow
def test_halves_declare_each_other_dead_and_merge_after_healing(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, 5)
    minority, majority = [1, 2], [3, 4, 5]
    try:
        cluster.start()
        for node_id in minority:
            cluster.set_faults(node_id, [{"peer": str(o), "partition": True} for o in majority])
        cluster.until(lambda: all(cluster.all_see(m, "DEAD", majority) for m in minority), 30,
                      "the majority declares the minority DEAD")
        cluster.until(lambda: all(cluster.all_see(m, "DEAD", minority) for m in majority), 30,
                      "the minority declares the majority DEAD")
        assert cluster.converged(minority) and cluster.converged(majority)
        cluster.heal(minority)
        took_s = cluster.until(cluster.converged, 30, "one cluster again")
        assert took_s <= 3 * cluster.swim.reconnect_interval_ms / 1000 + 10
    finally:
        codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), codes


@pytest.mark.slow
def test_flapping_link_settles_once_stable(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, 3)
    try:
        cluster.start()
        for _ in range(10):
            cluster.set_faults(3, [{"peer": "1", "partition": True},
                                   {"peer": "2", "direction": "in", "drop": 0.5}])
            time.sleep(1.0)
            cluster.heal([3])
            time.sleep(1.0)
        cluster.until(cluster.converged, 20, "converged after the link stops flapping")
        assert cluster.states(1)["3"] == "ALIVE"
    finally:
        codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), codes


def test_cluster_command_foreground_stops_the_nodes_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "fg"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "marmotdb", "cluster", "up", "--nodes", "2", "--base-port", "0",
         "--data-dir", str(data_dir), "--foreground"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert launcher.stdout is not None
        lines = []
        for line in launcher.stdout:  # the launcher prints this once the cluster is up
            lines.append(line)
            if "Ctrl-C stops the cluster" in line:
                break
        assert "2 node(s) up" in "".join(lines), "".join(lines)
        running = json.loads(cluster_command("status", "--json", "--data-dir",
                                             str(data_dir)).stdout)
        assert [n["running"] for n in running] == [True, True]
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(30) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
            cluster_command("down", "--data-dir", str(data_dir))
    after = json.loads(cluster_command("status", "--json", "--data-dir", str(data_dir)).stdout)
    assert not any(n["running"] for n in after)
