"""CPU cost of a replicated commit: three sans-I/O nodes in one process, no sockets.

Every frame goes straight from one node to another through an in-memory router, and each
delivery round is one "event-loop iteration" per node (``Node.iteration``), as the runtime
hosts it. So the wall time of this process *is* the CPU the whole cluster spends per commit,
without the kernel's loopback cost: the number to compare before and after a change of the
commit path (txn/, replication/, storage/), and the ceiling a real cluster on one core could
reach.

    python bench/replicated_commit_bench.py [--writers 1,8,32] [--seconds 3] [--shape insert]
        [--profile out.svg]   (py-spy must be on PATH; profiles the last configuration)

Prints, per configuration: commits/s, cluster CPU µs per commit, transactions per batch.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import deque
from pathlib import Path

from marmotdb.node import Node, Reply, SendFrame
from marmotdb.peer.address import NodeAddr
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import FrameCodec
from marmotdb.txn.cluster import Peer
from marmotdb.users import User, Users

SECRET = b"a-cluster-secret-for-the-bench"
USERS = Users([User("root", "x", {"*": "admin"})])
SHAPES = {
    "insert": ["INSERT INTO t (k, v) VALUES ({k}, 'value {k}')"],
    "txn10": ["BEGIN"] + [f"INSERT INTO t (k, v) VALUES ({{k}}{i}, 'row {i}')"
                          for i in range(10)] + ["COMMIT"],
    "update": ["UPDATE t SET v = 'changed {k}' WHERE k = {row}"],
}


class InMemoryCluster:
    """N nodes, a static roster, frames delivered in rounds: one iteration per node per round."""

    def __init__(self, base: Path, size: int):
        self.addrs = {i: NodeAddr(f"10.0.0.{i}", 7000) for i in range(1, size + 1)}
        self.by_addr = {addr: i for i, addr in self.addrs.items()}
        self.now_ms = int(time.time() * 1000)
        self.inbox: dict[int, deque[tuple[int, bytes]]] = {i: deque() for i in self.addrs}
        self.replies: deque[tuple[int, Reply]] = deque()
        self.nodes = {i: self._start(base, i) for i in self.addrs}

    def _start(self, base: Path, i: int) -> Node:
        node = Node(base / f"n{i}", users=USERS, node_id=i, now_ms=self.now_ms,
                    rng=random.Random(i), on_output=lambda out: self._output(i, out))
        node.attach_cluster(FrameCodec([SECRET], registry=all_messages()), self._roster)
        return node

    def _roster(self) -> list[Peer]:
        return [Peer(i, addr, True) for i, addr in self.addrs.items()]

    def _output(self, node_id: int, output: object) -> None:
        if isinstance(output, SendFrame):
            self.inbox[self.by_addr[output.dest]].append((node_id, output.frame))
        elif isinstance(output, Reply):
            self.replies.append((node_id, output))

    def round(self) -> bool:
        """Deliver what is queued now, one iteration per node; timers that fell due run.
        False when nothing was pending."""
        self.now_ms = max(self.now_ms, int(time.time() * 1000))
        moved = False
        for i, node in self.nodes.items():
            frames, self.inbox[i] = self.inbox[i], deque()
            if frames:
                moved = True
                with node.iteration():
                    for src, frame in frames:
                        node.receive_frame(self.addrs[src], frame, now_ms=self.now_ms)
            due = node.next_deadline_ms()
            if due is not None and due <= self.now_ms:
                node.handle_timer(self.now_ms)
        return moved

    def settle(self) -> None:
        while self.round():
            pass


class Writer:
    """One client session: runs its shape's statements one after another, forever."""

    def __init__(self, cluster: InMemoryCluster, node_id: int, number: int, shape: str):
        self.node = cluster.nodes[node_id]
        self.session = self.node.open_session("root", now_ms=cluster.now_ms, database="bench")
        self.statements = SHAPES[shape]
        self.number = number
        self.step = 0
        self.done = 0
        self.errors = 0

    def submit(self, request_id: int, now_ms: int) -> None:
        key = (self.number + 1) * 1_000_000 + self.done
        sql = self.statements[self.step].format(k=key, row=self.number)
        self.node.submit(self.session, request_id, sql, now_ms=now_ms)

    def answered(self, reply: Reply) -> None:
        if reply.error is not None:
            self.errors += 1
        self.step += 1
        if self.step == len(self.statements):
            self.step, self.done = 0, self.done + 1


def _prepare(cluster: InMemoryCluster) -> None:
    first = cluster.nodes[1]
    session = first.open_session("root", now_ms=cluster.now_ms)
    for request_id, sql in enumerate(["CREATE DATABASE bench", "USE bench",
                                      "CREATE TABLE t (k BIGINT PRIMARY KEY, v VARCHAR(64))"]):
        first.submit(session, request_id, sql, now_ms=cluster.now_ms)
        cluster.settle()
    for i, node in cluster.nodes.items():  # databases are node-local until issue 13
        if i != 1:
            s = node.open_session("root", now_ms=cluster.now_ms)
            node.submit(s, 0, "CREATE DATABASE IF NOT EXISTS bench", now_ms=cluster.now_ms)
    cluster.settle()
    for k in range(64):
        first.submit(session, 100 + k, f"INSERT INTO bench.t VALUES ({k}, 'seed')",
                     now_ms=cluster.now_ms)
        cluster.settle()
    cluster.replies.clear()


def run(writers: int, seconds: float, shape: str, spread: bool,
        commits_max: int | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="replbench-") as tmp:
        cluster = InMemoryCluster(Path(tmp), 3)
        _prepare(cluster)
        clients = [Writer(cluster, (n % 3) + 1 if spread else 1, n, shape)
                   for n in range(writers)]
        by_request: dict[tuple[int, int], Writer] = {}
        request_id = 1000
        start_cpu, start = time.process_time(), time.perf_counter()
        idle = list(clients)
        while time.perf_counter() - start < seconds and (
                commits_max is None or sum(c.done for c in clients) < commits_max):
            for client in idle:  # statements of one loop iteration arrive together
                request_id += 1
                by_request[(id(client.node), request_id)] = client
                with client.node.iteration():
                    client.submit(request_id, cluster.now_ms)
            idle = []
            cluster.round()
            while cluster.replies:
                node_id, reply = cluster.replies.popleft()
                client = by_request.pop((id(cluster.nodes[node_id]), reply.request_id))
                client.answered(reply)
                idle.append(client)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        commits = sum(c.done for c in clients)
        errors = sum(c.errors for c in clients)
        for node in cluster.nodes.values():
            node.close()
    return {"commits_s": commits / elapsed, "cpu_us": cpu / max(commits, 1) * 1e6,
            "errors": errors, "commits": commits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="insert")
    parser.add_argument("--spread", action="store_true", help="writers on all three nodes")
    parser.add_argument("--commits", type=int, default=None,
                        help="stop after this many commits (for `perf stat -e instructions`: "
                             "the difference of two runs, per commit, ignores the noise of a "
                             "shared machine)")
    args = parser.parse_args()
    print(f"shape={args.shape} spread={args.spread} (3 nodes in one process)")
    print(f"{'writers':>8} {'commits/s':>10} {'cluster µs/commit':>18} {'errors':>7}")
    for writers in (int(w) for w in args.writers.split(",")):
        result = run(writers, args.seconds, args.shape, args.spread, args.commits)
        print(f"{writers:>8} {result['commits_s']:>10,.0f} {result['cpu_us']:>18,.0f} "
              f"{result['errors']:>7}")


if __name__ == "__main__":
    main()
