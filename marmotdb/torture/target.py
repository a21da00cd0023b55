"""The marmotdb cluster a run tortures: N ``marmotdb serve`` processes, what the clients connect
to and the levers the nemesis pulls.

Where the nodes run (``make_cluster``): as root with ``ip``, each in its own network namespace
joined by a bridge (netns.py), so a partition is blackhole routes and the kernel drops the
packets; otherwise on loopback, and a partition is rules of the transport fault layer
(runtime/faults.py) set through each node's admin API. ``mode`` says which ran, in run.json.

Packet loss is always the fault layer (this machine has no netem and no ``nft``): its drop
rules lose datagrams (SWIM probes) and delay every stream frame, as loss does to TCP.

Disk-full (root only): before the nodes start, the victim's data folder is mounted as a small
tmpfs (``DISK_MB``); the fault fills it with a file and the stop removes the file.

Nodes are named ``n1``..``nN`` in the history; node ids are 1..N.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql

from marmotdb.runtime import cluster_cli
from marmotdb.torture import audit, netns
from marmotdb.torture.cluster import LocalCluster
from marmotdb.torture.netns import NetnsCluster

DATABASE = "app"
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
DISK_MB = 256
FILLER = "torture-disk-filler"
SETTLE_TIMEOUT_S = 120.0
ADMIN_ATTEMPTS, ADMIN_RETRY_PAUSE_S = 3, 1.0


class TargetError(RuntimeError):
    """The cluster could not be started or a fault could not be applied."""


def node_name(node_id: int) -> str:
    return f"n{node_id}"


def node_id(name: str) -> int:
    return int(name.lstrip("n"))


class MarmotTarget:
    product = "marmotdb"
    database = DATABASE

    def __init__(self, root: Path, nodes: int, prefer_netns: bool = True,
                 disk_full_node: int | None = None):
        why_not = netns.available() if prefer_netns else "loopback requested"
        # The replica audit compares whole commit logs: no trimming while the run goes on.
        options: dict[str, Any] = {"serve_args": audit.AUDITED_SERVE_ARGS}
        self.cluster: LocalCluster = (NetnsCluster(root, nodes, **options) if why_not is None
                                      else LocalCluster(root, nodes, **options))
        self.mode = "netns" if why_not is None else "loopback"
        self.mode_reason = why_not
        self.disk_node = disk_full_node
        self._mounted: list[Path] = []
        self.paused: set[int] = set()
        self._layer_rules = False  # a fault-layer rule may be set on some node

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.disk_node is not None:
            self._mount_small_disk(self.disk_node)
        self.cluster.start(converge_timeout_s=60)
        for node in self.cluster.ids():  # databases are node-local until issue 13
            with self.connect(node_name(node), None) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")

    def stop(self) -> dict[int, int | None]:
        for node in list(self.paused):
            self.resume(node_name(node))
        try:
            return self.cluster.stop()
        finally:
            for path in reversed(self._mounted):
                self._keep_log(path)
                subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
            self._mounted.clear()

    # ------------------------------------------------------------------ clients
    def node_names(self) -> list[str]:
        return [node_name(i) for i in self.cluster.ids()]

    def connect(self, node: str, database: str | None = DATABASE, *,
                timeout_s: float = 10) -> Any:
        node_id_ = node_id(node)
        return pymysql.connect(host=self.cluster.host(node_id_),
                               port=self.cluster.record(node_id_).mysql_port, user="root",
                               password=self.cluster.state.root_password, autocommit=True,
                               connect_timeout=3, read_timeout=timeout_s,
                               write_timeout=timeout_s, database=database)

    def session_setup(self, cur: Any, consistency: str, read_consistency: str) -> None:
        cur.execute(f"SET marmot_write_consistency = '{consistency}'")
        cur.execute(f"SET marmot_read_consistency = '{read_consistency}'")

    # ------------------------------------------------------------------ nemesis levers
    def kill(self, node: str) -> None:
        node_id_ = node_id(node)
        self.paused.discard(node_id_)
        self.cluster.kill9(node_id_)

    def restart(self, node: str, env: dict[str, str] | None = None) -> None:
        node_id_ = node_id(node)
        process = self.cluster.processes.get(node_id_)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        # back as soon as it listens: it may restart inside a partition, where it cannot join
        # (and refuses QUORUM writes with 1047 until it does: the history records that)
        self.cluster.restart(node_id_, env=env, joined_timeout_s=0)

    def restart_many(self, nodes: list[str]) -> None:
        """Start killed nodes all at once, then wait for each (after a kill-all: one by one
        would take a node's start time, several seconds on a loaded machine, times N)."""
        records = [self.cluster.record(node_id(n)) for n in nodes]
        for record in records:
            self.cluster.processes[record.node_id] = self.cluster.spawn(record)
        for record in records:
            cluster_cli.wait_ready(self.cluster.node_state(record.node_id),
                                   self.cluster.processes, records=[record])

    def running(self, node: str) -> bool:
        process = self.cluster.processes.get(node_id(node))
        return process is not None and process.poll() is None

    def pause(self, node: str) -> None:
        node_id_ = node_id(node)
        os.kill(self.cluster.processes[node_id_].pid, signal.SIGSTOP)
        self.paused.add(node_id_)

    def resume(self, node: str) -> None:
        node_id_ = node_id(node)
        if node_id_ in self.paused and self.running(node):
            os.kill(self.cluster.processes[node_id_].pid, signal.SIGCONT)
        self.paused.discard(node_id_)

    def cut(self, side_a: list[str], side_b: list[str]) -> None:
        """No packet between the two sides, both ways."""
        a, b = [node_id(n) for n in side_a], [node_id(n) for n in side_b]
        if isinstance(self.cluster, NetnsCluster):
            self.cluster.cut(a, b)
            return
        rules: dict[int, list[dict[str, Any]]] = {}
        for here in a:  # one rule on one side cuts both directions (runtime/faults.py)
            rules.setdefault(here, []).extend({"peer": str(there), "partition": True}
                                              for there in b)
        for here, node_rules in rules.items():
            self._add_rules(here, node_rules)

    def lose_packets(self, drop: float, delay_ms: int, jitter_ms: int) -> None:
        for node in self.cluster.live_ids():
            self._add_rules(node, [{"peer": "*", "drop": drop, "delay_ms": delay_ms,
                                    "jitter_ms": jitter_ms}])

    def heal(self) -> None:
        """Every partition and fault-layer rule gone."""
        if isinstance(self.cluster, NetnsCluster):
            self.cluster.heal()
        if not self._layer_rules:  # no fault-layer rule set: no admin call (a node that hangs
            return                 # must not turn a healed partition into a failed heal)
        for node in self.cluster.live_ids():
            if node not in self.paused:
                self._with_retries(lambda n=node: self.cluster.admin(n, "DELETE", "/faults"))
        self._layer_rules = False

    @staticmethod
    def _with_retries(call: Callable[[], Any]) -> Any:
        """An admin call to a node just restarted or still loaded may time out once."""
        for attempt in range(ADMIN_ATTEMPTS):
            try:
                return call()
            except OSError:
                if attempt == ADMIN_ATTEMPTS - 1:
                    raise
                time.sleep(ADMIN_RETRY_PAUSE_S)
        return None

    def _add_rules(self, node: int, rules: list[dict[str, Any]]) -> None:
        self._layer_rules = True
        current = self._with_retries(lambda: self.cluster.admin(node, "GET", "/faults"))
        self._with_retries(lambda: self.cluster.set_faults(
            node, [*rules, *current.get("rules", [])]))

    def clock_env(self, offset_s: float) -> dict[str, str]:
        if not LIBFAKETIME.exists():
            raise TargetError(f"{LIBFAKETIME} missing (apt-get install faketime)")
        return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": f"{offset_s:+g}s"}

    # ------------------------------------------------------------------ disk
    def disk_full_possible(self) -> str | None:
        if os.geteuid() != 0:
            return "mounting a small tmpfs needs root"
        if shutil.which("mount") is None:
            return "no `mount`"
        return None

    def _mount_small_disk(self, node: int) -> None:
        path = Path(self.cluster.record(node).data_dir)
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(path)],
                       check=True, capture_output=True, timeout=10)
        self._mounted.append(path)

    def _keep_log(self, path: Path) -> None:
        """The node's log lives in its data folder, which vanishes with the tmpfs: keep a copy
        beside it (``node<i>.log``)."""
        log = path / "marmotdb.log"
        if log.exists():
            shutil.copyfile(log, path.parent / f"{path.name}.log")

    def fill_disk(self, node: str) -> int:
        """Fill the node's data folder to the last byte; return the bytes written."""
        path = Path(self.cluster.record(node_id(node)).data_dir) / FILLER
        written, block = 0, b"\0" * (1 << 20)
        with path.open("wb", buffering=0) as filler:
            for size in (1 << 20, 1 << 12, 1):
                chunk = block[:size]
                while True:
                    try:
                        written += filler.write(chunk) or 0
                    except OSError:
                        break
        return written

    def free_disk(self, node: str) -> None:
        (Path(self.cluster.record(node_id(node)).data_dir) / FILLER).unlink(missing_ok=True)

    # ------------------------------------------------------------------ the end
    def converge(self, timeout_s: float = SETTLE_TIMEOUT_S,
                 databases: tuple[str, ...] = (DATABASE,)) -> float:
        """Wait for one membership, nothing in doubt, equal applied vectors of ``databases``
        (the audit's settle step); seconds taken."""
        return audit.settle(self.cluster, timeout_s, databases)

    def file_audit(self, tables: tuple[str, ...],
                   databases: tuple[str, ...] = (DATABASE,)) -> str:
        """Stop every node cleanly and compare their files of ``databases`` (audit.py); "ok"
        or the finding."""
        try:
            audit.audit(self.cluster, tables, databases)
        except AssertionError as exc:
            return str(exc).split("\n---", 1)[0][:4000]
        return "ok"

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "mode_reason": self.mode_reason,
                "nodes": {node_name(r.node_id): {"host": self.cluster.host(r.node_id),
                                                 "mysql_port": r.mysql_port,
                                                 "data_dir": r.data_dir}
                          for r in self.cluster.state.nodes}}
