"""The same seed gives the same run, bit for bit; different seeds give different runs."""

from __future__ import annotations

from marmotdb.sim.runner import run_one
from marmotdb.sim.scenarios import SCENARIOS
from tests.sim.replay import printed_trace_hashes


def test_same_seed_same_trace_hash_for_every_scenario() -> None:
    for scenario in SCENARIOS:
        first, second = run_one(7, scenario), run_one(7, scenario)
        assert first.ok and second.ok
        assert first.trace_hash == second.trace_hash, scenario
        assert first.events == second.events and first.bytes_sent == second.bytes_sent


def test_different_seeds_give_different_traces() -> None:
    hashes = {run_one(seed, "loss-30").trace_hash for seed in range(1, 6)}
    assert len(hashes) == 5


def test_trace_hash_does_not_depend_on_the_process_hash_seed() -> None:
    outputs = printed_trace_hashes("--seed", "11", "--scenario", "partition-halves")
    assert outputs[0] == outputs[1]
    assert outputs[0] == run_one(11, "partition-halves").trace_hash[:16]


def test_explicit_node_count_replays_the_drawn_one() -> None:
    drawn = run_one(3, "isolate-one")
    replayed = run_one(3, "isolate-one", nodes=drawn.nodes)
    assert replayed.trace_hash == drawn.trace_hash
