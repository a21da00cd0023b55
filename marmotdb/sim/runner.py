"""Runner: one seeded run of one scenario (safety phase, then liveness phase), and sweeps.

A run, entirely determined by (seed, scenario, node count, config):

    0 - 2 s            the founders start, each joining through 1-3 earlier founders
    formation          all must agree by 2 s + heal bound, and hold until the faults
    fault_start        20-25 s: the scenario's faults begin              (safety phase)
    heal               the scenario heals everything                     (liveness phase)
    heal + bound       all up members must agree by then ...
    end                ... and keep agreeing for ``stable_window_us`` more

The node count, when not given, is drawn from the seed (3-7), so a sweep covers several
cluster sizes. Background conditions in every scenario: LAN delays with jitter, 0.5%
duplication, 1% strong reordering, clock drift of up to ±500 ppm (±5% in clock-skew).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterable
from typing import Any

from marmotdb.cluster.config import SwimConfig
from marmotdb.sim.invariants import InvariantViolation, MembershipInvariants, Violation
from marmotdb.sim.scenarios import SCENARIOS, SECOND_US
from marmotdb.sim.world import MemberListener, SimulationError, World

FORMATION_SPREAD_US = 2 * SECOND_US
STABLE_WINDOW_US = 15 * SECOND_US
BACKGROUND_DRIFT_PPM = 500
SKEW_DRIFT_PPM = 50_000


@dataclasses.dataclass(frozen=True)
class RunResult:
    seed: int
    scenario: str
    nodes: int
    trace_hash: str
    violation: Violation | None
    error: str | None
    sim_us: int
    events: int
    wall_s: float
    bytes_sent: int
    heal_us: int
    converged_after_heal_us: int | None

    @property
    def ok(self) -> bool:
        return self.violation is None and self.error is None

    def replay_command(self) -> str:
        return replay_command(self.seed, self.scenario, self.nodes)

    def summary(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        heal = ("-" if self.converged_after_heal_us is None
                else f"{(self.converged_after_heal_us - self.heal_us) / 1e6:.1f}s")
        return (f"{status} seed={self.seed} scenario={self.scenario} nodes={self.nodes} "
                f"trace={self.trace_hash[:16]} sim={self.sim_us / 1e6:.0f}s "
                f"converged_after_heal={heal} events={self.events} wall={self.wall_s:.2f}s")


def replay_command(seed: int, scenario: str, nodes: int) -> str:
    return f"python -m marmotdb.sim --seed {seed} --scenario {scenario} --nodes {nodes}"


class SimRun:
    """The world, the invariant checker and the timeline of one run."""

    def __init__(self, seed: int, scenario: str, nodes: int | None = None,
                 config: SwimConfig | None = None):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.seed, self.scenario = seed, scenario
        self.config = config or SwimConfig.lan()
        self.rng = random.Random(f"{seed}:{scenario}:plan")
        drawn_nodes = 3 + self.rng.randrange(5)  # always drawn: --nodes must not shift the rng
        self.nodes = nodes if nodes is not None else drawn_nodes
        self.world = World(seed, self.config)
        size = self.nodes + (5 if scenario == "join-five" else 0)
        self.detection_bound_us = self.config.detection_bound_ms(size) * 1000
        self.heal_bound_us = self.heal_bound_ms(self.config, size) * 1000
        self.pause_us_max = 2 * SECOND_US
        excuse_us = (self.config.suspicion_max_ms(size) + 2 * self.config.probe_interval_ms) * 1000
        self.checker = MembershipInvariants(self.world, excuse_us)
        self.ids: list[int] = []
        self.heal_us = 0
        self._drift_ppm = SKEW_DRIFT_PPM if scenario == "clock-skew" else BACKGROUND_DRIFT_PPM
        for node_id in range(1, self.nodes + 1):  # node ids as in config: 1, 2, ...
            self.add_machine(node_id)
            self.ids.append(node_id)

    @staticmethod
    def heal_bound_ms(config: SwimConfig, nodes: int) -> int:
        """How long after a heal the members may take to agree again.

        Both sides of a partition believe the other DEAD and only find each other by the
        reconnect push-pull (at most one reconnect interval away); the refutations then spread
        by gossip within a few probe intervals; a suspicion raised just before the heal runs at
        most its minimum once the suspect is told (it refutes at once).
        """
        return (config.reconnect_interval_ms + config.suspicion_min_ms(nodes)
                + 5 * config.probe_interval_ms)

    def add_machine(self, node_id: int) -> None:
        drift = self.rng.randint(-self._drift_ppm, self._drift_ppm)
        self.world.add_machine(node_id, drift_ppm=drift)

    def execute(self) -> int:
        """Run the whole timeline; raises InvariantViolation on the first violation."""
        for index, node_id in enumerate(self.ids):
            earlier = self.ids[:index]
            seeds = self.rng.sample(earlier, min(len(earlier), self.rng.randint(1, 3)))
            start_us = 0 if index == 0 else self.rng.randint(1, FORMATION_SPREAD_US)
            self.world.at(start_us, self.world.start, node_id, seeds)
        fault_start_us = 20 * SECOND_US + self.rng.randint(0, 5 * SECOND_US)
        self.checker.expect_agreement("formation", FORMATION_SPREAD_US + 1,
                                      FORMATION_SPREAD_US + self.heal_bound_us,
                                      fault_start_us)
        heal_us = self.heal_us = SCENARIOS[self.scenario](self, fault_start_us)
        end_us = heal_us + self.heal_bound_us + STABLE_WINDOW_US
        self.checker.expect_agreement("heal", heal_us, heal_us + self.heal_bound_us, end_us)
        self.world.run_until(end_us)
        return heal_us


def run_one(seed: int, scenario: str, nodes: int | None = None,
            config: SwimConfig | None = None,
            on_event: MemberListener | None = None) -> RunResult:
    """Run one scenario; ``on_event`` sees every membership event (for ``--trace``)."""
    started = time.perf_counter()
    run = SimRun(seed, scenario, nodes, config)
    if on_event is not None:
        run.world.member_listeners.insert(0, on_event)  # before the checker may stop the run
    violation: Violation | None = None
    error: str | None = None
    try:
        run.execute()
    except InvariantViolation as exc:
        violation = exc.violation
    except SimulationError as exc:
        error = str(exc)
    world = run.world
    return RunResult(
        seed=seed, scenario=scenario, nodes=run.nodes, trace_hash=world.trace_hash(),
        violation=violation, error=error, sim_us=world.now_us, events=world.events_processed,
        wall_s=time.perf_counter() - started,
        bytes_sent=sum(m.bytes_sent for m in world.machines.values()), heal_us=run.heal_us,
        converged_after_heal_us=run.checker.first_agreement_us.get("heal"))


def sweep(seeds: Iterable[int], scenarios: Iterable[str],
          nodes: int | None = None) -> list[RunResult]:
    return [run_one(seed, scenario, nodes) for seed in seeds for scenario in scenarios]


def report(results: Iterable[Any], quiet: bool = False) -> int:
    """Print each run (only failures when ``quiet``) with a failure's replay command, then the
    total; the exit status: 1 if any run failed. Results of both simulators fit (``ok``,
    ``summary()``, ``violation``/``error``, ``replay_command()``)."""
    failures = runs = 0
    for result in results:
        runs += 1
        if not quiet or not result.ok:
            print(result.summary(), flush=True)
        if not result.ok:
            failures += 1
            print(f"     {result.violation or result.error}")
            print(f"     seed {result.seed} failed; replay: {result.replay_command()}",
                  flush=True)
    print(f"{runs - failures}/{runs} runs passed")
    return 1 if failures else 0


def parse_seeds(text: str) -> range:
    """``A..B`` (inclusive) or a single number."""
    if ".." in text:
        low, high = text.split("..", 1)
        return range(int(low), int(high) + 1)
    return range(int(text), int(text) + 1)
