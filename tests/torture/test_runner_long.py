"""The long torture runs (``--run-slow``): every workload under every fault class for 120 s,
and the Galera comparison of the same workloads under the faults that apply to it. The same
soundness checks as the short runs (test_runner_short.py) plus the checker's verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from marmotdb.torture.galera_cluster import missing_requirements
from marmotdb.torture.run import RunOptions, run
from marmotdb.torture.workloads import WORKLOADS
from tests.torture.test_runner_short import assert_sound

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LONG_S = 120.0


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_long_run_under_every_fault(tmp_path: Path, workload: str) -> None:
    options = RunOptions(workload, "all", nodes=3, time_s=LONG_S, clients=10, seed=11)
    assert_sound(tmp_path / "run", run(options, tmp_path / "run"))


@pytest.mark.parametrize("workload", ["list-append", "bank", "set"])
def test_galera_under_kill_and_pause(tmp_path: Path, workload: str) -> None:
    missing = missing_requirements()
    if missing:
        pytest.skip(missing)
    options = RunOptions(workload, "kill,pause", nodes=3, time_s=60.0, clients=10, seed=11,
                         galera=True)
    result = run(options, tmp_path / "galera")
    assert result.meta["problems"] == [], result.meta["problems"]
    assert result.summary["ops"]["ok"] > 50


def test_loopback_fallback_under_partition_and_loss(tmp_path: Path) -> None:
    """The transport fault layer in place of network namespaces (what a non-root machine
    gets): partitions and loss as admin-API rules."""
    options = RunOptions("set", "partition,loss", nodes=3, time_s=40.0, clients=8, seed=5,
                         quiet_s=3.0, fault_s=4.0, netns=False)
    result = run(options, tmp_path / "run")
    assert result.meta["target"]["mode"] == "loopback"
    assert_sound(tmp_path / "run", result)
