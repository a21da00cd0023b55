"""The runner's parts without processes: outcome classification, the summary, the nemesis'
splits, the CLI's choices. The real runs are in test_runner_short.py."""

from __future__ import annotations

import random

import pymysql
import pytest

from marmotdb.runtime import cli
from marmotdb.torture import command, nemesis, summary
from marmotdb.torture.clients import outcome
from marmotdb.torture.workloads import WORKLOADS
from marmotdb.torture.workloads.list_append import parse


@pytest.mark.parametrize(("exc", "committing", "expected"), [
    (pymysql.err.OperationalError(1213, "Deadlock found"), True, "fail"),
    (pymysql.err.OperationalError(1047, "quorum not reachable"), True, "fail"),
    (pymysql.err.OperationalError(1205, "Lock wait timeout"), False, "fail"),
    (pymysql.err.OperationalError(1180, "outcome unknown"), True, "info"),
    (pymysql.err.OperationalError(2013, "Lost connection"), True, "info"),
    (pymysql.err.OperationalError(2013, "Lost connection"), False, "fail"),
    (ConnectionResetError(104, "reset"), True, "info"),
    (pymysql.err.InterfaceError(0, ""), False, "fail"),
])
def test_an_error_becomes_the_documented_outcome(exc: BaseException, committing: bool,
                                                  expected: str) -> None:
    assert outcome(exc, committing) == expected


def test_the_cli_choices_are_the_runner_tables() -> None:
    assert command.WORKLOAD_NAMES == tuple(WORKLOADS)
    assert command.FAULT_CLASSES == nemesis.CLASSES


def test_torture_is_a_marmotdb_subcommand() -> None:
    args = cli._parser().parse_args(["torture", "--workload", "bank", "--faults", "kill",
                                     "--time", "5", "--out", "/tmp/x"])
    assert (args.command, args.workload, args.faults, args.time_s) == ("torture", "bank",
                                                                      "kill", 5.0)


def test_partition_splits_cover_the_nodes() -> None:
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    rng = random.Random(3)
    a, b = nemesis.halves(nodes, rng)
    assert sorted(a + b) == nodes and {len(a), len(b)} == {2, 3}
    a, b = nemesis.isolated(nodes, rng)
    assert len(a) == 1 and sorted(a + b) == nodes
    a, b = nemesis.bridged(nodes, rng)
    bridge = set(nodes) - set(a) - set(b)
    assert len(bridge) == 1 and not set(a) & set(b) and a and b


def test_faults_all_is_every_class() -> None:
    names = {f.name for f in nemesis.faults_for("all", lambda: None)}
    assert names == {"partition-halves", "isolate", "bridge", "flap", "kill", "kill-all",
                     "pause", "clock", "disk-full", "loss"}
    assert nemesis.faults_for("none", lambda: None) == []


def line(index: int, t_s: float, process: object, type_: str, f: str = "add",
         value: object = None, node: str = "n1") -> dict[str, object]:
    return {"index": index, "time_ns": int(t_s * 1e9), "process": process, "node": node,
            "type": type_, "f": f, "value": value}


def test_summary_counts_latency_and_gaps() -> None:
    lines = [line(0, 0.0, 1, "invoke"), line(1, 0.010, 1, "ok"),
             line(2, 0.5, "nemesis", "info", "start", {"fault": "kill", "nodes": ["n2"]}),
             line(3, 0.5, 1, "invoke"), line(4, 3.0, 1, "info"),
             line(5, 3.0, 2, "invoke"), line(6, 3.030, 2, "ok"),
             line(7, 3.5, "nemesis", "info", "stop", {"fault": "kill", "nodes": ["n2"]}),
             line(8, 4.0, 2, "invoke"), line(9, 4.020, 2, "fail")]
    stats = summary.summarize(lines)
    assert stats["ops"] == {"ok": 2, "info": 1, "fail": 1, "unfinished": 0}
    assert stats["latency"]["p50_ms"] == pytest.approx(30.0, abs=0.01)
    assert stats["fault_windows_s"] == [[0.5, 3.5, "kill"]]
    assert stats["ok_in_fault_windows"] == 1
    assert stats["unavailable_s"] == [[0.01, 3.03]]
    assert "p50 30.0 ms" in summary.render(stats)


def test_list_append_reads_parse_the_stored_text() -> None:
    assert parse(None) == [] and parse("") == [] and parse("3,1,7") == [3, 1, 7]
