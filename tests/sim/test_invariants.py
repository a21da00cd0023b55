"""The checkers catch what they promise to catch: broken settings and faults make runs fail."""

from __future__ import annotations

import dataclasses

from marmotdb.cluster.config import SwimConfig
from marmotdb.sim.invariants import InvariantViolation
from marmotdb.sim.runner import SimRun, replay_command
from marmotdb.sim.world import World


def test_a_node_stalled_longer_than_the_suspicion_timeout_is_a_false_death() -> None:
    # Stalls beyond the suspicion timeout get the node killed while its machine is up: the
    # checker must flag it (the slow-node scenario keeps stalls below the timeout).
    kinds = set()
    for seed in range(1, 6):
        run = SimRun(seed, "slow-node", nodes=5)
        run.pause_us_max = 12_000_000
        try:
            run.execute()
        except InvariantViolation as exc:
            kinds.add(exc.violation.kind)
    assert "false-death" in kinds


def test_without_reconnect_a_healed_partition_never_agrees() -> None:
    config = dataclasses.replace(SwimConfig(), reconnect_interval_ms=3_600_000,
                                 push_pull_interval_ms=3_600_000, gossip_to_the_dead_ms=0)
    run = SimRun(5, "partition-halves", nodes=4, config=config)
    run.heal_bound_us = SimRun.heal_bound_ms(SwimConfig(), 4) * 1000  # the normal bound
    try:
        run.execute()
    except InvariantViolation as exc:
        assert exc.violation.kind == "no-agreement"
        assert "heal" in exc.violation.message
    else:
        raise AssertionError("the partition healed without reconnect or push-pull")


def test_slow_detection_is_reported() -> None:
    # A 3 s bound is below the 4 s minimum suspicion: detection must be flagged as too late
    # (unless the victim happens to restart first).
    kinds = set()
    for seed in range(1, 6):
        run = SimRun(seed, "crash-restart", nodes=5)
        run.detection_bound_us = 3_000_000
        try:
            run.execute()
        except InvariantViolation as exc:
            kinds.add(exc.violation.kind)
    assert "slow-detection" in kinds


def test_excuses_cover_only_the_faulted_window() -> None:
    world = World(1, SwimConfig())
    world.add_machine(1)
    world.add_machine(2)
    record = world.open_fault("cut", frozenset({1, 2}))
    world.run_until(5_000_000)
    world.close_fault(record)
    assert world.excused(2, 4_000_000, 6_000_000)
    assert not world.excused(2, 5_000_001, 9_000_000)
    world.run_until(8_000_000)
    world.crash(1)
    assert world.excused(1, world.now_us, world.now_us)
    assert not world.excused(2, world.now_us, world.now_us)


def test_replay_command_names_everything_needed() -> None:
    assert replay_command(9, "loss-30", 6) == (
        "python -m marmotdb.sim --seed 9 --scenario loss-30 --nodes 6")
