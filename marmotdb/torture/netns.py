"""A local cluster whose nodes each run in their own Linux network namespace, so a partition
is a real one: the kernel drops the packets, not the product's own fault layer.

Layout (one per cluster; names carry this process's pid so concurrent test runs never meet)::

    root namespace: bridge mtb<pid>  10.213.<k>.254/24  <- the test's MySQL and admin clients
        veth mt<pid>h<i>  ==  mt<pid>n<i> in namespace mt<pid>n<i>: 10.213.<k>.<i>/24
                                          (plus lo), node i listens here

A partition is blackhole routes: in the namespace of every node of one side, a
``blackhole <other side's address>/32`` route for each node of the other side (longest prefix
wins over the /24). Both directions, TCP and UDP, are silently dropped — like a cut cable —
while the test process still reaches every node through the bridge, so it can watch a
minority refuse QUORUM writes. This machine has no netem, and nftables' ``nft`` tool is not
installed; routes need nothing beyond iproute2.

Needs root and ``ip``; ``available()`` says why not otherwise, and the tests fall back to the
transport fault layer (runtime/faults.py) through ``LocalCluster.set_faults``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from marmotdb.runtime.cluster_cli import ClusterState, NodeRecord
from marmotdb.runtime.cluster_state import _die_with_parent, serve_command  # (tied to the test)
from marmotdb.torture.cluster import LocalCluster

BRIDGE_HOST = 254


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *args] if namespace is None else ["ip", "-n", namespace, *args]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=10)


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no `ip` (iproute2)"
    probe = f"mt{os.getpid()}probe"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"`ip netns add` failed: {getattr(exc, 'stderr', exc)}"
    return None


class NetnsCluster(LocalCluster):
    def __init__(self, root: Path, nodes: int, **options: object):
        self.tag = f"mt{os.getpid() % 100_000}"
        self.subnet = f"10.213.{os.getpid() % 250}"
        self.bridge = f"{self.tag}b"
        self._made: list[str] = []  # namespaces made, for the teardown
        super().__init__(root, nodes, **options)  # type: ignore[arg-type]
        self._blackholes: set[tuple[int, int]] = set()

    # ------------------------------------------------------------------ addresses
    def namespace(self, node_id: int) -> str:
        return f"{self.tag}n{node_id}"

    def host(self, node_id: int) -> str:
        return f"{self.subnet}.{node_id}"

    def node_state(self, node_id: int) -> ClusterState:
        return dataclasses.replace(self.state, host=self.host(node_id))

    # ------------------------------------------------------------------ lifecycle
    def start(self, converge_timeout_s: float = 30.0) -> float:
        self._build_network()
        return super().start(converge_timeout_s)

    def stop(self) -> dict[int, int | None]:
        try:
            return super().stop()
        finally:
            self._tear_down_network()

    def spawn(self, record: NodeRecord) -> subprocess.Popen[bytes]:
        host = self.host(record.node_id)
        command = serve_command(self.node_state(record.node_id), record)
        seeds = ",".join(f"{self.host(n.node_id)}:{n.peer_port}"
                         for n in self.state.nodes if n is not record)
        command[command.index("--seed-nodes") + 1] = seeds
        assert host in command
        Path(record.data_dir).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MARMOTDB_CLUSTER_SECRET=self.state.secret,
                   MARMOTDB_ROOT_PASSWORD=self.state.root_password)
        with open(record.log_file, "ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace(record.node_id), *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, preexec_fn=_die_with_parent)  # noqa: PLW1509
        record.pid = process.pid
        return process

    def _build_network(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made.append("bridge")
        _ip("addr", "add", f"{self.subnet}.{BRIDGE_HOST}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for node_id in self.ids():
            namespace, outside = self.namespace(node_id), f"{self.tag}h{node_id}"
            _ip("netns", "add", namespace)
            self._made.append(namespace)
            _ip("link", "add", outside, "type", "veth", "peer", "name", namespace)
            _ip("link", "set", namespace, "netns", namespace)
            _ip("link", "set", outside, "master", self.bridge)
            _ip("link", "set", outside, "up")
            _ip("link", "set", "lo", "up", namespace=namespace)
            _ip("addr", "add", f"{self.host(node_id)}/24", "dev", namespace,
                namespace=namespace)
            _ip("link", "set", namespace, "up", namespace=namespace)

    def _tear_down_network(self) -> None:
        for made in reversed(self._made):
            try:
                if made == "bridge":
                    _ip("link", "del", self.bridge)
                else:
                    _ip("netns", "del", made)  # takes its veth pair with it
            except subprocess.CalledProcessError:
                pass
        self._made.clear()

    # ------------------------------------------------------------------ partitions
    def cut(self, side_a: Iterable[int], side_b: Iterable[int]) -> None:
        """Every packet between the two sides is dropped by the kernel, both ways."""
        side_b = list(side_b)
        for a in side_a:
            for b in side_b:
                for here, there in ((a, b), (b, a)):
                    _ip("route", "add", "blackhole", f"{self.host(there)}/32",
                        namespace=self.namespace(here))
                    self._blackholes.add((here, there))

    def heal(self, node_ids: Iterable[int] | None = None) -> None:
        for here, there in sorted(self._blackholes):
            _ip("route", "del", "blackhole", f"{self.host(there)}/32",
                namespace=self.namespace(here))
        self._blackholes.clear()
