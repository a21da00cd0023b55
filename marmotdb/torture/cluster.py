"""A local cluster of real ``marmotdb serve`` processes for the torture runner, the fault tests and
the benchmark.

Built on ``marmotdb.runtime.cluster_cli`` (the code behind ``marmotdb cluster up``): free ports,
one data folder per node, the nodes tied to this process (they get SIGTERM if it dies). The
helpers read each node's admin API; a failed wait reports every node's view and log tail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from marmotdb.cluster.config import SwimConfig
from marmotdb.config import Config
from marmotdb.runtime import cluster_cli, membership_service
from marmotdb.runtime.cluster_cli import ClusterState, NodeRecord

HOST = "127.0.0.1"
POLL_S = 0.05
STOP_TIMEOUT_S = 15.0
PORT_RACE_ATTEMPTS = 3

# Faster than the `local` profile so the suite stays short, slow enough for a loaded 2-core box.
FAST_TIMINGS = {"probe_interval_ms": 500, "probe_timeout_ms": 250, "suspicion_mult": 4,
                "gossip_interval_ms": 100, "push_pull_interval_ms": 5000,
                "reconnect_interval_ms": 2000}


def timing_args(timings: dict[str, int]) -> list[str]:
    return [f"--cluster-{name.replace('_', '-')}={value}" for name, value in timings.items()]


def swim_config_for(profile: str, timings: dict[str, int]) -> SwimConfig:
    """The SwimConfig the nodes derive from the same settings (for bounds in assertions)."""
    config = Config()
    config.cluster.swim_profile = profile
    for name, value in timings.items():
        setattr(config.cluster, name, value)
    return membership_service.swim_config(config)


class LocalCluster:
    def __init__(self, root: Path, nodes: int, timings: dict[str, int] | None = None,
                 profile: str = "local", serve_args: list[str] | None = None):
        self.root = root
        self.profile, self.size = profile, nodes
        self.timings = dict(FAST_TIMINGS if timings is None else timings)
        self.serve_args = list(serve_args or [])  # every node's extra `serve` settings
        self.swim = swim_config_for(profile, self.timings)
        self.state: ClusterState = self._plan()
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def _plan(self) -> ClusterState:
        return cluster_cli.plan_cluster(self.root, self.size, 0, HOST, self.profile,
                                        timing_args(self.timings) + self.serve_args)

    # ------------------------------------------------------------------ lifecycle

    def start(self, converge_timeout_s: float = 30.0) -> float:
        """Start every node; return seconds until every node saw every node ALIVE."""
        started = time.monotonic()
        for attempt in range(PORT_RACE_ATTEMPTS):
            for record in self.state.nodes:
                self.processes[record.node_id] = self.spawn(record)
            self.state.save(self.root)
            try:
                for record in self.state.nodes:
                    cluster_cli.wait_ready(self.node_state(record.node_id), self.processes,
                                           records=[record])
                break
            except cluster_cli.ClusterCliError as exc:
                # The free ports were picked before the nodes bound them; on a shared machine
                # another process may take one in between. Pick new ones and start again.
                self.stop()
                if "already in use" not in str(exc) or attempt == PORT_RACE_ATTEMPTS - 1:
                    raise
                self.state = self._plan()
        self.until(self.converged, converge_timeout_s, "every node sees every node ALIVE")
        return time.monotonic() - started

    def stop(self) -> dict[int, int | None]:
        """SIGTERM every live node; return their exit codes (0 = clean)."""
        for node_id, process in self.processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[int, int | None] = {}
        for node_id, process in self.processes.items():
            try:
                codes[node_id] = process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[node_id] = None
        return codes

    def kill9(self, node_id: int) -> float:
        """SIGKILL one node; return the wall-clock time (s) of the kill."""
        process = self.processes[node_id]
        killed_at = time.time()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(5)
        return killed_at

    def restart(self, node_id: int, env: dict[str, str] | None = None,
                joined_timeout_s: float = 30.0) -> None:
        """Start a stopped node again; ``env``: extra environment for this process only
        (e.g. libfaketime's LD_PRELOAD and FAKETIME). Returns once the node has joined
        again (a seed sent it the member table): before that it refuses QUORUM writes with
        1047 (txn/DESIGN.md §7.5). ``joined_timeout_s=0``: return as soon as it listens."""
        record = self.record(node_id)
        saved = {name: os.environ.get(name) for name in env or {}}
        os.environ.update(env or {})  # start_node passes os.environ on; no thread spawns now
        try:
            self.processes[node_id] = self.spawn(record)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        cluster_cli.wait_ready(self.node_state(node_id), self.processes, records=[record])
        if joined_timeout_s:
            self.until(lambda: self.states(node_id).get(str(node_id)) == "ALIVE",
                       joined_timeout_s, f"node {node_id} joined again")

    def spawn(self, record: NodeRecord) -> subprocess.Popen[bytes]:
        """Start one node's process (netns_cluster.py starts it in a network namespace)."""
        return cluster_cli.start_node(self.state, record, True)

    # ------------------------------------------------------------------ views

    def host(self, node_id: int) -> str:
        """The address node ``node_id`` listens on (MySQL, peers, admin API)."""
        return self.state.host

    def node_state(self, node_id: int) -> ClusterState:
        """The cluster state as the helpers that reach one node need it (its host)."""
        return self.state

    def record(self, node_id: int) -> NodeRecord:
        return next(r for r in self.state.nodes if r.node_id == node_id)

    def ids(self) -> list[int]:
        return [r.node_id for r in self.state.nodes]

    def live_ids(self) -> list[int]:
        return [i for i in self.ids() if self.processes[i].poll() is None]

    def members(self, node_id: int) -> dict[str, dict[str, Any]]:
        """node id -> member record, as node ``node_id`` sees the cluster (empty if down)."""
        found = cluster_cli.node_members(self.node_state(node_id), self.record(node_id))
        return {str(m["node_id"]): m for m in found or []}  # JSON ids are integers

    def states(self, node_id: int) -> dict[str, str]:
        return {k: m["state"] for k, m in self.members(node_id).items()}

    def converged(self, ids: Iterable[int] | None = None) -> bool:
        expected = {str(i) for i in (self.ids() if ids is None else ids)}
        return all({k for k, s in self.states(i).items() if s == "ALIVE"} == expected
                   for i in map(int, expected))

    def all_see(self, node_id: int, state: str, observers: Iterable[int]) -> bool:
        return all(self.states(o).get(str(node_id)) == state for o in observers)

    def admin(self, node_id: int, method: str, path: str, document: Any = None) -> Any:
        record = self.record(node_id)
        if method == "GET":
            return cluster_cli.admin_get(self.node_state(node_id), record, path)
        return cluster_cli.admin_post(self.node_state(node_id), record, path, document, method)

    def set_faults(self, node_id: int, rules: list[Any]) -> None:
        self.admin(node_id, "POST", "/faults", {"rules": rules})

    def heal(self, node_ids: Iterable[int] | None = None) -> None:
        for node_id in self.ids() if node_ids is None else node_ids:
            self.admin(node_id, "DELETE", "/faults")

    def metrics(self, node_id: int) -> dict[str, float]:
        """Samples by name, labels folded in as name{k=v,...}."""
        record = self.record(node_id)
        request = urllib.request.Request(
            f"http://{self.host(node_id)}:{record.admin_port}/metrics",
            headers={"Authorization": f"Bearer {self.state.secret}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out

    def log(self, node_id: int) -> str:
        return Path(self.record(node_id).log_file).read_text(errors="replace")

    # ------------------------------------------------------------------ waiting

    def until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Poll ``condition``; return seconds taken, or fail with every node's view and log."""
        started = time.monotonic()
        while True:
            try:
                if condition():
                    return time.monotonic() - started
            except (OSError, urllib.error.URLError, KeyError):
                pass
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"not within {timeout_s} s: {what}\n{self.report()}")
            time.sleep(POLL_S)

    def report(self) -> str:
        parts = []
        for node_id in self.ids():
            alive = self.processes.get(node_id) is not None and (
                self.processes[node_id].poll() is None)
            view = self.states(node_id) if alive else "(not running)"
            tail = self.log(node_id)[-3000:]
            parts.append(f"--- node {node_id}: {view}\n{tail}")
        return "\n".join(parts)
