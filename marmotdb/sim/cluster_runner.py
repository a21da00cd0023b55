"""Cluster runs: one seeded distributed-commit run (``run_one``), its result, and the CLI.

    python -m marmotdb.sim --seeds 1..200 --scenario cluster-lossy
    python -m marmotdb.sim --seed 7 --scenario cluster-crash --nodes 5

(the CLI runs seeds on worker processes through cluster_sweep.py)

A run, entirely determined by (seed, scenario, node count):

    setup        every node creates the database; node 1 creates the tables and their first
                 rows through the distributed commit; all replicas settle
    workload     clients on every node run bank/set/counter/register operations ...
    faults       ... while the nemesis (cluster_nemesis.py) breaks links, clocks and machines
    heal         links healthy, crashed nodes restarted; clients go on a little, then stop
    quiesce      nothing but the nodes' own timers and traffic for ``QUIESCE_US``
    check        cluster_invariants.py on every replica and the history

The plan (cluster size 3 or 5, clients per node, timeouts, durability, batch size) is drawn
from the seed's plan stream before anything else, so ``--nodes`` replays the drawn run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from marmotdb.node import Reply
from marmotdb.sim import cluster_nemesis
from marmotdb.sim.cluster_clients import Clients, make_clients
from marmotdb.sim.cluster_invariants import ClusterChecker, ClusterViolation, read_replica
from marmotdb.sim.cluster_workloads import DATABASE, SETUP
from marmotdb.sim.cluster_world import ClusterWorld
from marmotdb.sim.sql_disk import installed
from marmotdb.sim.sql_world import scratch_dir
from marmotdb.sim.timeline import SimulationError
from marmotdb.txn.cluster import CommitSettings

SCENARIOS = cluster_nemesis.SCENARIOS
SETUP_STATEMENT_US_MAX = 10_000_000
SETTLE_US_MAX = 10_000_000
POST_HEAL_US = (500_000, 1_500_000)   # clients keep going after the heal
QUIESCE_US = 20_000_000               # then nothing but the nodes for this long
STEP_US = 5_000


class ClusterRun:
    def __init__(self, seed: int, scenario: str, nodes: int | None, root: Path):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.seed, self.scenario = seed, scenario
        plan = random.Random(f"{seed}:{scenario}:plan")
        drawn = plan.choice([3, 5])  # always drawn: --nodes must not shift the stream
        self.size = nodes or drawn
        self.per_node = plan.randint(1, 2)
        self.workload_us = plan.randint(1_500_000, 4_000_000)
        timeout_ms = plan.choice([300, 1000, 2000])
        self.durability = plan.choice(["normal", "fsync"])
        self.batch_txns_max = plan.choice([1, 4, 256])
        # knob shrunk to reach rare paths: a recovery overtaking a live, slow coordinator
        recovery_ms = plan.choice([1000, 5000])
        self.settings = CommitSettings(prepare_timeout_ms=timeout_ms,
                                       decision_timeout_ms=timeout_ms,
                                       recovery_timeout_ms=recovery_ms)
        self.rng = random.Random(f"{seed}:{scenario}:nemesis")
        self.ids = list(range(1, self.size + 1))
        self.world = ClusterWorld(seed, root, self.size, settings=self.settings,
                                  state_options={"durability": self.durability,
                                                 "batch_txns_max": self.batch_txns_max})
        self.clients = Clients(self.world, make_clients(
            random.Random(f"{seed}:{scenario}:clients"), self.ids, self.per_node,
            ddl=scenario == "cluster-ddl"), 0)
        self.episodes: list[str] = []

    def describe(self) -> str:
        return (f"nodes={self.size} clients={len(self.clients.clients)} "
                f"timeout={self.settings.prepare_timeout_ms}ms "
                f"recovery={self.settings.recovery_timeout_ms}ms durability={self.durability} "
                f"batch_max={self.batch_txns_max} faults={','.join(self.episodes) or '-'}")

    # ------------------------------------------------------------------ phases
    def execute(self) -> list[ClusterViolation]:
        self.setup()
        world = self.world
        start_us = world.now_us + 100_000
        fault_us = start_us + 300_000
        heal_us = fault_us + self.workload_us  # calm: the same workload, no episode
        stop_us = heal_us + self.rng.randint(*POST_HEAL_US)
        self.episodes = cluster_nemesis.schedule(self, self.scenario, fault_us, heal_us)
        self.clients.stop_us = stop_us
        self.clients.start(start_us)
        world.run_until(stop_us + QUIESCE_US)
        return self.check()

    def setup(self) -> None:
        world = self.world
        for node_id in self.ids:
            world.start(node_id)
        for node_id in self.ids:  # a quorum records it (marmotdb/ddl/): every node is up first
            self._setup_statements(node_id, [f"CREATE DATABASE IF NOT EXISTS {DATABASE}"])
        self._setup_statements(1, [f"USE {DATABASE}", *SETUP])
        self.settle(SETTLE_US_MAX)

    def settle(self, within_us: int) -> None:
        """Run until every replica holds the same data and nothing is undecided."""
        deadline_us = self.world.now_us + within_us
        while not self._settled():
            if self.world.now_us > deadline_us:
                raise SimulationError("the replicas did not settle")
            self.world.run_until(self.world.now_us + 100_000)

    def _setup_statements(self, node_id: int, statements: list[str]) -> None:
        for sql, reply in zip(statements, self.run_statements(node_id, statements)):
            if reply is None or reply.error is not None:
                raise SimulationError(f"setup {sql!r} on node {node_id}: "
                                      f"{reply.error if reply else 'no reply'}")

    def run_statements(self, node_id: int, statements: list[str],
                       within_us: int = SETUP_STATEMENT_US_MAX) -> list[Reply | None]:
        """One session on ``node_id`` runs ``statements`` one after the other, each given
        ``within_us`` of simulated time to answer (None: no answer by then, the rest are
        not sent); the session is closed after."""
        world = self.world
        replies: list[Reply] = []
        world.on_reply = lambda node, generation, reply: replies.append(reply)
        session_id = world.open_session(node_id)
        assert session_id is not None, f"node {node_id} is down"
        answered: list[Reply | None] = []
        for request_id, sql in enumerate(statements, 1):
            world.submit(node_id, session_id, request_id, sql)
            deadline_us = world.now_us + within_us
            while len(replies) < request_id and world.now_us < deadline_us:
                world.run_until(world.now_us + STEP_US)
            if len(replies) < request_id:
                answered.append(None)
                break
            answered.append(replies[-1])
        world.close_session(node_id, session_id)
        return answered

    def _settled(self) -> bool:
        replicas = [read_replica(self.world, node_id) for node_id in self.ids]
        return all(r.checksums == replicas[0].checksums and not r.undecided
                   and not r.unforgotten and not r.intents for r in replicas)

    def check(self) -> list[ClusterViolation]:
        down = [n for n in self.ids if not self.world.machines[n].is_up]
        if down:
            raise SimulationError(f"nodes {down} are still down after the heal")
        replicas = [read_replica(self.world, node_id) for node_id in self.ids]
        return ClusterChecker(replicas, self.clients.history,
                              self.world.internal_errors).check()


@dataclasses.dataclass(frozen=True)
class ClusterRunResult:
    seed: int
    scenario: str
    nodes: int
    plan: str
    trace_hash: str
    violations: tuple[ClusterViolation, ...]
    error: str | None
    ops: dict[str, int]
    crashes: tuple[str, ...]
    product_log: tuple[str, ...]  # the nodes' warnings
    sim_us: int
    wall_s: float

    @property
    def ok(self) -> bool:
        return not self.violations and self.error is None

    @property
    def safe(self) -> bool:
        """No safety violation (convergence ones may remain: catch-up, recovery)."""
        return self.error is None and not any(v.safety for v in self.violations)

    @property
    def violation(self) -> ClusterViolation | None:
        """The first safety violation, else the first convergence one."""
        ordered = sorted(self.violations, key=lambda v: not v.safety)
        return ordered[0] if ordered else None

    def kinds(self) -> list[str]:
        return sorted({v.kind for v in self.violations})

    def replay_command(self) -> str:
        return replay_command(self.seed, self.scenario, self.nodes)

    def summary(self) -> str:
        status = "ok  " if self.ok else ("UNSAFE" if not self.safe else "FAIL")
        ops = " ".join(f"{k}={v}" for k, v in self.ops.items())
        kinds = f" violations={','.join(self.kinds())}" if self.violations else ""
        return (f"{status} seed={self.seed} scenario={self.scenario} {self.plan} {ops} "
                f"crashes={len(self.crashes)}{kinds} trace={self.trace_hash[:16]} "
                f"sim={self.sim_us / 1e6:.1f}s wall={self.wall_s:.2f}s")


def replay_command(seed: int, scenario: str, nodes: int) -> str:
    return f"python -m marmotdb.sim --seed {seed} --scenario {scenario} --nodes {nodes}"


class _ProductLog(logging.Handler):
    """The nodes' warnings during a run (``learned … without its write sets``, failed
    applies): kept with the result instead of printed between the summaries."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _product_log() -> Iterator[_ProductLog]:
    logger = logging.getLogger("marmotdb")
    handler, propagate = _ProductLog(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextlib.contextmanager
def opened(seed: int, scenario: str, nodes: int | None = None) -> Iterator[ClusterRun]:
    """A run on scratch disks under the simulated VFS; afterwards its nodes are closed (a
    close that raises is the caller's finding) and its files removed."""
    root = Path(tempfile.mkdtemp(prefix="marmot-cluster-sim-", dir=scratch_dir()))
    with installed() as vfs:
        run = ClusterRun(seed, scenario, nodes, root)
        vfs.disks.extend(run.world.disks)
        try:
            yield run
        finally:
            try:
                run.world.close()
            finally:
                for disk in run.world.disks:
                    vfs.disks.remove(disk)
                shutil.rmtree(root, ignore_errors=True)


def run_one(seed: int, scenario: str, nodes: int | None = None) -> ClusterRunResult:
    started = time.perf_counter()
    violations: list[ClusterViolation] = []
    error: str | None = None
    with _product_log() as log:
        try:
            with opened(seed, scenario, nodes) as run:
                violations = run.execute()
        except Exception as exc:  # noqa: BLE001 - reported with the seed, not swallowed
            error = f"{type(exc).__name__}: {exc}"
    history = run.clients.history
    ops = {outcome: sum(op.outcome == outcome for op in history)
           for outcome in ("ok", "fail", "unknown")}
    if any(op.workload == "ddl" for op in history):  # cluster-ddl: how many DDL committed
        ops["ddl"] = sum(op.workload == "ddl" and op.outcome == "ok" for op in history)
    crashes = tuple(c for m in run.world.machines.values() for c in m.crashes)
    return ClusterRunResult(seed, scenario, run.size, run.describe(), run.world.trace_hash(),
                            tuple(violations), error, ops, crashes, tuple(log.lines),
                            run.world.now_us, time.perf_counter() - started)
