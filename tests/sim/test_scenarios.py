"""Simulator sweeps: every scenario over a bounded number of seeds (more with --run-slow).

Each run is a whole cluster life (formation, faults, heal) of 40-110 simulated seconds with
invariants checked throughout; a failure names the seed and the command that replays it.
"""

from __future__ import annotations

import pytest

from marmotdb.sim.runner import run_one
from marmotdb.sim.scenarios import SCENARIOS

CI_SEEDS = range(1, 26)
SLOW_SEEDS = range(1000, 1500)


def assert_runs_pass(scenario: str, seeds: range) -> None:
    failures = []
    for seed in seeds:
        result = run_one(seed, scenario)
        if not result.ok:
            failures.append(f"{result.violation or result.error}\n    replay: "
                            f"{result.replay_command()}")
    assert not failures, f"{len(failures)} of {len(seeds)} seeds failed:\n" + "\n".join(failures)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_passes_for_ci_seeds(scenario: str) -> None:
    assert_runs_pass(scenario, CI_SEEDS)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_passes_for_many_seeds(scenario: str) -> None:
    assert_runs_pass(scenario, SLOW_SEEDS)
