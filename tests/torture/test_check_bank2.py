"""The bank2 checker (transactions writing two databases) on hand-made histories: what
txn/DESIGN.md §10.2 promises is flagged, what it does not (a read's two databases adding up)
is reported as allowed."""

from __future__ import annotations

from typing import Any

from marmotdb.torture.check import bank2
from marmotdb.torture.check.suite import check_history
from tests.torture.histories import HistoryBuilder
from tests.torture.test_check_workloads import kinds

# Accounts 0, 1 in database a; 2, 3 in b; 10 each.
RUN = {"workload": "bank2", "databases": {"a": [0, 1], "b": [2, 3]}, "initial_balance": 10,
       "total": 40}


def move(tid: int, source: int, target: int, amount: int) -> dict[str, int]:
    return {"id": tid, "from": source, "to": target, "amount": amount}


def state(a: dict[int, list[int]], b: dict[int, list[int]],
          ledger_a: list[list[int]], ledger_b: list[list[int]]) -> dict[str, list[list[Any]]]:
    return {"a.accounts": [[i, *v] for i, v in sorted(a.items())], "a.ledger": ledger_a,
            "b.accounts": [[i, *v] for i, v in sorted(b.items())], "b.ledger": ledger_b}


def after_one_crossing_transfer() -> tuple[HistoryBuilder, int]:
    """Transfer 1 moves 3 from account 0 (a) to 2 (b); transfer 2 (within a) failed."""
    h = HistoryBuilder(RUN)
    t1 = h.op("transfer", move(1, 0, 2, 3))
    h.op("transfer", move(2, 1, 0, 4), outcome="fail")
    return h, t1


def test_a_clean_run_passes_through_the_whole_suite() -> None:
    h, _ = after_one_crossing_transfer()
    h.op("read", None, {"a": {"0": [7, -3], "1": [10, 0]}, "b": {"2": [13, 3], "3": [10, 0]}})
    for node in ("n1", "n2"):
        h.final(node, state({0: [7, -3], 1: [10, 0]}, {2: [13, 3], 3: [10, 0]},
                            [[1, 0, 2, 3]], [[1, 0, 2, 3]]))
    verdict = check_history(h.history())
    assert verdict.workloads == ["bank2"]
    assert verdict.valid, [a.message for r in verdict.results for a in r.anomalies]
    assert verdict.result("bank2").stats["crossing_ok"] == 1


def test_a_transfer_in_one_database_only_is_a_half_transfer() -> None:
    h, t1 = after_one_crossing_transfer()
    h.final("n1", state({0: [7, -3], 1: [10, 0]}, {2: [10, 0], 3: [10, 0]},
                        [[1, 0, 2, 3]], []))
    found = kinds(bank2.check(h.history()))
    assert found["half-transfer"] == [((t1,), True)]
    assert found["lost-transfer"] == [((t1,), True)]
    assert found["wrong-total"] == [((), True)]


def test_an_unknown_transfer_in_one_database_only_is_a_violation_too() -> None:
    h = HistoryBuilder(RUN)
    t1 = h.op("transfer", move(1, 2, 0, 5), outcome="info")
    h.final("n1", state({0: [10, 0], 1: [10, 0]}, {2: [5, -5], 3: [10, 0]}, [], [[1, 2, 0, 5]]))
    found = kinds(bank2.check(h.history()))
    assert found["half-transfer"] == [((t1,), True)]
    assert "lost-transfer" not in found


def test_an_unknown_transfer_in_both_or_neither_database_is_fine() -> None:
    h = HistoryBuilder(RUN)
    h.op("transfer", move(1, 2, 0, 5), outcome="info")
    h.final("n1", state({0: [15, 5], 1: [10, 0]}, {2: [5, -5], 3: [10, 0]},
                        [[1, 2, 0, 5]], [[1, 2, 0, 5]]))
    h.final("n2", state({0: [10, 0], 1: [10, 0]}, {2: [10, 0], 3: [10, 0]}, [], []))
    assert bank2.check(h.history()).anomalies == []


def test_a_failed_transfer_in_a_ledger_and_garbage_rows() -> None:
    h, t1 = after_one_crossing_transfer()
    t2 = 2
    h.final("n1", state({0: [11, -3], 1: [6, 0]}, {2: [13, 3], 3: [10, 0]},
                        [[1, 0, 2, 3], [2, 1, 0, 4], [9, 0, 1, 1]], [[1, 0, 2, 3],
                                                                      [2, 1, 0, 4]]))
    found = kinds(bank2.check(h.history()))
    assert found["aborted-transfer-visible"] == [((t2,), True)]
    # row 9 is no transfer; transfer 2 stays within a, so b's row of it is garbage
    assert found["garbage-ledger"] == [((), True), ((t2,), True)]
    assert "unexplained-balance" in found  # a's ledger row 9 moved nothing


def test_balances_must_match_their_own_databases_ledger() -> None:
    h, _ = after_one_crossing_transfer()
    # b got the money but its `moved` was not updated: part of the branch's rows
    h.final("n1", state({0: [7, -3], 1: [10, 0]}, {2: [13, 0], 3: [10, 0]},
                        [[1, 0, 2, 3]], [[1, 0, 2, 3]]))
    result = bank2.check(h.history())
    assert kinds(result) == {"unexplained-balance": [((), True)]}
    assert "{2: ([13, 0], [13, 3])}" in result.anomalies[0].message


def test_a_read_across_databases_may_be_skewed_but_each_database_must_hold() -> None:
    h, _ = after_one_crossing_transfer()
    skew = h.op("read", None, {"a": {"0": [7, -3], "1": [10, 0]},
                               "b": {"2": [10, 0], "3": [10, 0]}})
    partial = h.op("read", None, {"a": {"0": [7, 0], "1": [10, 0]},
                                  "b": {"2": [13, 3], "3": [10, 0]}})
    negative = h.op("read", None, {"a": {"0": [-1, -11], "1": [10, 0]},
                                   "b": {"2": [21, 11], "3": [10, 0]}})
    result = bank2.check(h.history())
    found = kinds(result)
    assert found["cross-database-skew"] == [((skew,), False)]  # partial adds up: 40
    assert found["wrong-database-total"] == [((partial,), True)]
    assert found["negative-balance"] == [((negative,), True)]
    assert result.stats["reads_skewed_across_databases"] == 1


def test_at_one_balances_are_allowed_but_atomicity_is_not() -> None:
    h = HistoryBuilder(RUN)
    t1 = h.op("transfer", move(1, 0, 2, 3), consistency="ONE")
    h.final("n1", state({0: [7, -3], 1: [10, 0]}, {2: [10, 0], 3: [10, 0]},
                        [[1, 0, 2, 3]], []))
    found = kinds(bank2.check(h.history()))
    assert found["half-transfer"] == [((t1,), True)]
    assert found["lost-transfer"] == [((t1,), False)]
    assert found["wrong-total"] == [((), False)]


def test_a_value_out_of_the_format_is_malformed() -> None:
    h = HistoryBuilder(RUN)
    bad = h.op("read", None, {"a": {"0": 7}})
    verdict = check_history(h.history())
    assert verdict.result("history").anomalies[0].ops == (bad,)
