"""Scenarios: the fault schedule of the safety phase, one function per named scenario.

Every run has the same shape (runner.py): the cluster forms and must agree; at
``fault_start_us`` the scenario injects its faults; it returns the time at which it healed
everything; the cluster must agree again within the heal bound and stay agreed. A scenario
draws every choice (victims, durations, timings) from ``run.rng``, so the seed alone replays it.

    partition-halves   the members split in two halves that cannot talk, both directions
    isolate-one        one member cut off in both directions
    asymmetric         one member can only send, or only receive
    flapping-link      one link goes down and up every 0.3-3 s
    loss-30            every link drops 30% of datagrams (TCP frames arrive late instead)
    clock-skew         clocks drift up to ±5% for the whole run and jump by up to ±3 s
    crash-restart      one member crashes (must be detected in time) and restarts later
    join-five          five new members join at the same instant
    slow-node          one member stalls for up to 2 s at a time (GC, overload): nobody may
                       be declared dead for it
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from marmotdb.sim.network import HEALTHY, LinkFault
from marmotdb.sim.world import FaultRecord

if TYPE_CHECKING:
    from marmotdb.sim.runner import SimRun

SECOND_US = 1_000_000


def _fault_window(run: SimRun, fault_start_us: int, low_s: int, high_s: int) -> int:
    return fault_start_us + run.rng.randint(low_s * SECOND_US, high_s * SECOND_US)


def _cut(run: SimRun, pairs: list[tuple[int, int]], start_us: int, heal_us: int,
         kind: str, fault: LinkFault) -> None:
    def begin() -> None:
        nodes = frozenset(n for pair in pairs for n in pair)
        record = run.world.open_fault(kind, nodes)
        for source, target in pairs:
            run.world.set_link(source, target, fault)
        run.world.at(heal_us, end, record)

    def end(record: FaultRecord) -> None:
        for source, target in pairs:
            run.world.set_link(source, target, HEALTHY)
        run.world.close_fault(record)

    run.world.at(start_us, begin)


def partition_halves(run: SimRun, fault_start_us: int) -> int:
    ids = sorted(run.ids)
    run.rng.shuffle(ids)
    left, right = ids[: len(ids) // 2], ids[len(ids) // 2:]
    pairs = [(a, b) for a in left for b in right] + [(b, a) for a in left for b in right]
    heal_us = _fault_window(run, fault_start_us, 10, 45)
    _cut(run, pairs, fault_start_us, heal_us, "partition-halves", LinkFault(cut=True))
    return heal_us


def isolate_one(run: SimRun, fault_start_us: int) -> int:
    victim = run.rng.choice(sorted(run.ids))
    others = [n for n in sorted(run.ids) if n != victim]
    pairs = [(victim, o) for o in others] + [(o, victim) for o in others]
    heal_us = _fault_window(run, fault_start_us, 10, 45)
    _cut(run, pairs, fault_start_us, heal_us, "isolate-one", LinkFault(cut=True))
    return heal_us


def asymmetric(run: SimRun, fault_start_us: int) -> int:
    victim = run.rng.choice(sorted(run.ids))
    others = [n for n in sorted(run.ids) if n != victim]
    inbound = run.rng.random() < 0.5
    pairs = [(o, victim) for o in others] if inbound else [(victim, o) for o in others]
    heal_us = _fault_window(run, fault_start_us, 10, 45)
    _cut(run, pairs, fault_start_us, heal_us, "asymmetric", LinkFault(cut=True))
    return heal_us


def flapping_link(run: SimRun, fault_start_us: int) -> int:
    a, b = run.rng.sample(sorted(run.ids), 2)
    heal_us = _fault_window(run, fault_start_us, 15, 45)
    records: list[FaultRecord] = []
    run.world.at(fault_start_us, lambda: records.append(
        run.world.open_fault("flapping-link", frozenset({a, b}))))
    at_us, down = fault_start_us, True
    while at_us < heal_us:
        fault = LinkFault(cut=True) if down else HEALTHY
        for source, target in ((a, b), (b, a)):
            run.world.at(at_us, run.world.set_link, source, target, fault)
        at_us += run.rng.randint(300_000, 3 * SECOND_US)
        down = not down
    for source, target in ((a, b), (b, a)):
        run.world.at(heal_us, run.world.set_link, source, target, HEALTHY)
    run.world.at(heal_us, lambda: run.world.close_fault(records[0]))
    return heal_us


def loss_30(run: SimRun, fault_start_us: int) -> int:
    ids = sorted(run.ids)
    pairs = [(a, b) for a in ids for b in ids if a != b]
    heal_us = _fault_window(run, fault_start_us, 20, 45)
    _cut(run, pairs, fault_start_us, heal_us, "loss-30", LinkFault(drop_rate=0.3))
    return heal_us


def clock_skew(run: SimRun, fault_start_us: int) -> int:
    # Drift is set for the whole run at machine creation (runner.py); here only the jumps.
    heal_us = _fault_window(run, fault_start_us, 15, 40)
    for _ in range(run.rng.randint(3, 8)):
        at_us = run.rng.randint(fault_start_us, heal_us)
        victim = run.rng.choice(sorted(run.ids))
        delta_us = run.rng.choice((-1, 1)) * run.rng.randint(50_000, 3 * SECOND_US)
        run.world.at(at_us, run.world.jump_clock, victim, delta_us)
    return heal_us


def crash_restart(run: SimRun, fault_start_us: int) -> int:
    victim = run.rng.choice(sorted(run.ids))
    survivors = [n for n in sorted(run.ids) if n != victim]
    detect_by_us = fault_start_us + run.detection_bound_us
    restart_us = fault_start_us + run.rng.randint(2 * SECOND_US, 2 * run.detection_bound_us)

    def crash() -> None:
        run.world.crash(victim)
        run.checker.expect_detection(victim, detect_by_us)
        run.checker.expect_agreement("crash", run.world.now_us, detect_by_us, restart_us)

    def restart() -> None:
        seeds = run.rng.sample(survivors, min(2, len(survivors)))
        run.world.restart(victim, seeds)

    run.world.at(fault_start_us, crash)
    run.world.at(restart_us, restart)
    return restart_us


def join_five(run: SimRun, fault_start_us: int) -> int:
    founders = sorted(run.ids)
    newcomers = [max(founders) + 1 + i for i in range(5)]
    for node_id in newcomers:
        run.add_machine(node_id)

    def join_all() -> None:
        for node_id in newcomers:
            run.world.start(node_id, run.rng.sample(founders, min(2, len(founders))))

    run.world.at(fault_start_us, join_all)
    return fault_start_us


def slow_node(run: SimRun, fault_start_us: int) -> int:
    victim = run.rng.choice(sorted(run.ids))
    heal_us = _fault_window(run, fault_start_us, 15, 40)
    at_us = fault_start_us
    while at_us < heal_us:
        pause_us = run.rng.randint(100_000, run.pause_us_max)
        run.world.at(at_us, run.world.pause, victim, pause_us)
        at_us += pause_us + run.rng.randint(500_000, 3 * SECOND_US)
    return heal_us


SCENARIOS: dict[str, Callable[[SimRun, int], int]] = {
    "partition-halves": partition_halves,
    "isolate-one": isolate_one,
    "asymmetric": asymmetric,
    "flapping-link": flapping_link,
    "loss-30": loss_30,
    "clock-skew": clock_skew,
    "crash-restart": crash_restart,
    "join-five": join_five,
    "slow-node": slow_node,
}
