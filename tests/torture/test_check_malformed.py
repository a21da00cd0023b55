"""A history the runner wrote wrongly is reported, never a crash: values outside the format,
stray completions, a checker that fails on something unforeseen."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marmotdb.torture.check import report, suite
from marmotdb.torture.check.history import History, parse
from tests.torture.histories import HistoryBuilder


def test_values_outside_the_format_are_malformed_and_left_out() -> None:
    h = HistoryBuilder({"workload": "register"})
    bad = h.op("write", [1])  # no value
    h.op("write", [1, 10])
    h.op("read", [1, None], [1, 10], read_consistency="QUORUM")
    verdict = suite.check_history(h.history())
    malformed = verdict.result("history")
    assert [a.ops for a in malformed.anomalies] == [(bad,)] and not verdict.valid
    assert verdict.result("register").valid  # judged on the rest


def test_an_op_no_workload_of_the_run_has_is_malformed() -> None:
    h = HistoryBuilder({"workload": "set"})
    t = h.op("txn", [["append", 1, 1]])
    assert [a.ops for a in suite.check_history(h.history()).result("history").anomalies] == [
        (t,)]


def test_a_failing_checker_is_a_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(history: History) -> Any:
        raise KeyError("surprise")

    monkeypatch.setitem(suite.CHECKERS, "set", broken)
    h = HistoryBuilder({"workload": "set"})
    h.op("add", 1)
    verdict = suite.check_history(h.history())
    assert verdict.result("set").kinds() == {"checker-error"} and not verdict.valid
    assert "KeyError" in report.to_text([verdict])


VALUES = st.sampled_from([None, 1, "x", [], [1], [1, None], [1, [2, 3]], [["append", 1, 2]],
                          [["r", 1, None]], [["r", 1, [1, 2]]], {"from": 0, "to": 1,
                                                                 "amount": 2},
                          {"0": 5}, [[]], "1,2", {"id": 1, "from": 0, "to": 1, "amount": 2},
                          {"a": {"0": [5, 0]}, "b": {"1": [5, 0]}}, {"a": {"0": 5}}])
EVENTS = st.lists(st.fixed_dictionaries({
    "process": st.sampled_from([0, 1, 2, "nemesis", "final"]),
    "type": st.sampled_from(["invoke", "ok", "fail", "info", "bogus"]),
    "f": st.sampled_from(["txn", "transfer", "read", "add", "write", "cas", "ddl", "start",
                          "stop"]),
    "value": VALUES, "time_ns": st.integers(0, 10**9), "node": st.sampled_from(["n1", "n2"]),
}), max_size=12)


@settings(max_examples=60, deadline=None)
@given(EVENTS, st.sampled_from([{}, {"workload": "list-append"}, {"workload": "bank",
                                "accounts": 2, "total": 10, "initial_balance": 5},
                                {"workload": "register"}, {"workload": "counter"},
                                {"workload": "set"}, {"workload": "ddl"},
                                {"workload": "bank2", "databases": {"a": [0], "b": [1]},
                                 "total": 10, "initial_balance": 5}]))
def test_garbage_never_crashes_the_checker_or_the_report(events: list[dict[str, Any]],
                                                          run: dict[str, Any]) -> None:
    finals = [{"tables": {"lists": [[1, "1,2"]], "t": [[1]]}}, {"tables": [1]},
              {"tables": {"t": [1]}}, {"tables": {"accounts": [[0, "x"]]}, "schema": []}, {},
              {"tables": {"members": [[], [[1]]], "counters": [[]]}},
              {"tables": {"members": [[1]], "counters": [[0, "x"]], "registers": [[1, 2]],
                          "accounts": [[0, "x"]]}},
              {"tables": {"a.accounts": [[0, "x", 1]], "a.ledger": [[1, 0]], "b.ledger": 3}}]
    for index, event in enumerate(events):
        event["index"] = index
        if event["process"] == "final":
            event["value"] = finals[event["time_ns"] % len(finals)]
    verdict = suite.check_history(parse(events, run))
    report.to_text([verdict]), report.to_json([verdict]), report.to_svg([verdict])
    assert not any(a.kind == "checker-error" for r in verdict.results for a in r.anomalies)
