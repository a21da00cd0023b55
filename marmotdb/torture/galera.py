"""The Galera comparison: the same workloads and the faults that apply, against the 3-node
MariaDB Galera cluster the replication benchmark starts (galera_cluster.py), written to a run
directory of its own (``product: "galera"``) for the checker to report side by side.

What maps to what:

    marmotdb                        Galera
    marmot_write_consistency        nothing: every commit is certified by the whole cluster
                                    (virtually synchronous); the level is recorded as asked
    marmot_read_consistency QUORUM  wsrep_sync_wait = 1 (a read waits for the node to apply
                                    everything committed before it: causal reads)
    LOCAL                           wsrep_sync_wait = 0 (Galera's default)

Faults: kill -9 of one node (restarted as a joiner: incremental state transfer from the
others), the busiest node, SIGSTOP/SIGCONT. Not applied, with the reason in run.json:
partitions (the Galera nodes listen on 127.0.0.1, not in network namespaces, and this machine
has no packet filter to cut loopback ports), kill-all (a Galera cluster killed whole does not
restart by itself: an operator must pick the most advanced node and bootstrap it), clock
(Galera orders by certification, not clocks), disk-full and loss (the transport fault layer is
marmotdb's own).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pymysql

from marmotdb.torture.galera_cluster import GaleraCluster, GaleraNode

DATABASE = "app"
CONVERGE_POLL_S = 0.2
CONVERGE_TIMEOUT_S = 120.0
UNSUPPORTED = {
    "partition-halves": "Galera nodes listen on 127.0.0.1, not in network namespaces",
    "isolate": "Galera nodes listen on 127.0.0.1, not in network namespaces",
    "bridge": "Galera nodes listen on 127.0.0.1, not in network namespaces",
    "flap": "Galera nodes listen on 127.0.0.1, not in network namespaces",
    "kill-all": "a Galera cluster killed whole needs an operator to bootstrap it again",
    "clock": "Galera orders commits by certification, not by clocks",
    "disk-full": "not built for Galera",
    "loss": "the transport fault layer is marmotdb's own",
}


class GaleraTarget:
    product = "galera"
    database = DATABASE
    mode = "loopback"

    def __init__(self, nodes: int = 3):
        self.cluster = GaleraCluster(size=nodes)
        self.paused: set[str] = set()

    def unsupported(self, fault: str) -> str | None:
        return UNSUPPORTED.get(fault)

    def start(self) -> None:
        self.cluster.start()
        with self.connect(self.node_names()[0], None) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")

    def stop(self) -> None:
        for node in list(self.paused):
            self.resume(node)
        self.cluster.stop()

    def _node(self, name: str) -> GaleraNode:
        return self.cluster.nodes[int(name.lstrip("n")) - 1]

    def node_names(self) -> list[str]:
        return [f"n{node.index}" for node in self.cluster.nodes]

    def connect(self, node: str, database: str | None = DATABASE, *,
                timeout_s: float = 10) -> Any:
        member = self._node(node)
        return pymysql.connect(host=member.host, port=member.port, user=self.cluster.user,
                               password=self.cluster.password, autocommit=True,
                               connect_timeout=3, read_timeout=timeout_s,
                               write_timeout=timeout_s, database=database)

    def session_setup(self, cur: Any, consistency: str, read_consistency: str) -> None:
        cur.execute(f"SET SESSION wsrep_sync_wait = {1 if read_consistency == 'QUORUM' else 0}")

    # ------------------------------------------------------------------ levers
    def kill(self, node: str) -> None:
        member = self._node(node)
        self.paused.discard(node)
        if member.alive():
            os.kill(member.pid, signal.SIGKILL)
            assert member.process is not None
            member.process.wait(10)

    def restart(self, node: str, env: dict[str, str] | None = None) -> None:
        member = self._node(node)
        if member.alive():
            member.stop()
        self.cluster.rejoin(member)

    def restart_many(self, nodes: list[str]) -> None:
        for node in nodes:
            self.restart(node)

    def running(self, node: str) -> bool:
        return self._node(node).alive()

    def pause(self, node: str) -> None:
        os.kill(self._node(node).pid, signal.SIGSTOP)
        self.paused.add(node)

    def resume(self, node: str) -> None:
        if node in self.paused and self.running(node):
            os.kill(self._node(node).pid, signal.SIGCONT)
        self.paused.discard(node)

    def heal(self) -> None:
        """No network faults are applied to Galera: nothing to undo."""

    # ------------------------------------------------------------------ the end
    def converge(self, timeout_s: float = CONVERGE_TIMEOUT_S,
                 databases: tuple[str, ...] = (DATABASE,)) -> float:
        """Every node Synced, nothing queued, the same last committed seqno (one sequence for
        every database: ``databases`` changes nothing here)."""
        started = time.monotonic()
        while True:
            states = [(n.status("wsrep_local_state_comment"), n.status("wsrep_last_committed"),
                       n.status("wsrep_local_recv_queue")) for n in self.cluster.nodes]
            if all(s == "Synced" and q == "0" for s, _, q in states) and \
                    len({c for _, c, _ in states}) == 1:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"galera not converged in {timeout_s} s: {states}")
            time.sleep(CONVERGE_POLL_S)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "consistency_mapping": {
                    "write": "none (certification by every node)",
                    "read QUORUM": "wsrep_sync_wait=1", "read LOCAL": "wsrep_sync_wait=0"},
                "nodes": {f"n{n.index}": {"host": n.host, "mysql_port": n.port}
                          for n in self.cluster.nodes}}
