"""``marmotdb cluster`` on one node at a time, and `up` on a folder made with other settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from marmotdb.runtime import cluster_state

pytestmark = pytest.mark.integration


def cluster(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MARMOTDB_")}
    return subprocess.run([sys.executable, "-m", "marmotdb", "cluster", *args], check=False,
                          capture_output=True, text=True, timeout=120, env={**base, **(env or {})})


def status(data_dir: Path) -> dict[int, dict[str, object]]:
    result = cluster("status", "--json", "--data-dir", str(data_dir))
    return {n["node_id"]: n for n in json.loads(result.stdout)}


def test_start_stop_kill_restart_logs_and_a_node_restarted_by_hand(tmp_path: Path) -> None:
    data_dir = tmp_path / "c"
    up = cluster("up", "--nodes", "2", "--base-port", "0", "--data-dir", str(data_dir))
    try:
        assert up.returncode == 0, up.stderr
        assert "the generated root password (shown once)" in up.stdout
        assert f"curl -H @{data_dir}/admin.header" in up.stdout
        header = (data_dir / "admin.header").read_text()
        assert oct((data_dir / "admin.header").stat().st_mode & 0o777) == "0o600"
        assert header.split()[-1] not in up.stdout  # the secret itself is never printed
        d = str(data_dir)

        stop = cluster("stop", "2", "--data-dir", d)
        assert stop.returncode == 0 and "node 2 stopped" in stop.stdout, stop.stderr
        after = cluster("status", "--json", "--data-dir", d)
        assert after.returncode == 1  # not every node runs
        assert [n["running"] for n in json.loads(after.stdout)] == [True, False]
        assert "is already running" in cluster("start", "1", "--data-dir", d).stderr

        start = cluster("start", "2", "--data-dir", d)
        assert start.returncode == 0 and "node 2 started" in start.stdout, start.stderr
        assert status(data_dir)[2]["running"]

        killed = cluster("kill", "1", "--data-dir", d)
        assert "node 1 killed with SIGKILL" in killed.stdout, killed.stderr
        assert not status(data_dir)[1]["running"]

        # Restarted by hand with the cluster's own command line: status still finds it.
        state = cluster_state.ClusterState.load(data_dir)
        record = state.node(1)
        by_hand = cluster_state.start_node(state, record, tie_to_parent=True)
        from marmotdb.runtime.cluster_cli import wait_ready
        wait_ready(state, {1: by_hand}, records=[record])
        assert status(data_dir)[1]["pid"] == by_hand.pid

        restart = cluster("restart", "1", "--data-dir", d)
        assert restart.returncode == 0 and "node 1 started" in restart.stdout, restart.stderr
        by_hand.wait(30)
        assert status(data_dir)[1]["running"]

        logs = cluster("logs", "1", "-n", "3", "--data-dir", d)
        assert logs.returncode == 0 and len(logs.stdout.splitlines()) == 3
        assert "listening" in cluster("logs", "1", "-n", "0", "--data-dir", d).stdout
        assert "no node 7" in cluster("stop", "7", "--data-dir", d).stderr
    finally:
        down = cluster("down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr


def test_up_with_other_settings_refuses_and_names_reset(tmp_path: Path) -> None:
    data_dir = tmp_path / "c"
    state = cluster_state.plan_cluster(data_dir, 2, 0, "127.0.0.1", "local", [])
    state.save(data_dir)  # a stopped cluster, as `up` then `down` leave it
    refused = cluster("up", "--nodes", "1", "--data-dir", str(data_dir),
                      env={"MARMOTDB_ROOT_PASSWORD": "another"})
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"marmotdb cluster: {data_dir} holds a cluster created with other settings: --nodes 2 "
        f"(asked: 1); another MARMOTDB_ROOT_PASSWORD. Start it as it is (without those "
        f"settings), or add --reset to delete {data_dir} with its data and create a new cluster")
    base = cluster("up", "--base-port", "4000", "--data-dir", str(data_dir))
    assert "--base-port 0 (asked: 4000)" in base.stderr
    (data_dir / "node1").mkdir(parents=True)
    (data_dir / "node1" / "marker").write_text("old data")
    reset = cluster("up", "--nodes", "1", "--base-port", "0", "--reset", "--data-dir",
                    str(data_dir))
    try:
        assert reset.returncode == 0, reset.stderr
        assert not (data_dir / "node1" / "marker").exists()
        assert len(json.loads((data_dir / "cluster.json").read_text())["nodes"]) == 1
    finally:
        cluster("down", "--data-dir", str(data_dir))


def test_free_ports_for_a_cluster_are_distinct_and_free_for_udp_too() -> None:
    from marmotdb.runtime.cluster_state import free_ports, port_free
    ports = free_ports("127.0.0.1", 30)
    assert len(set(ports)) == 30
    assert all(port_free("127.0.0.1", port) for port in ports)
