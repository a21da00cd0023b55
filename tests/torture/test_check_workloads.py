"""Bank, set and counter checkers and the replica comparison, each on hand-made anomalous
histories and on clean ones."""

from __future__ import annotations

from marmotdb.torture.check import bank, counter, replicas, sets
from marmotdb.torture.check.anomaly import CheckResult
from tests.torture.histories import HistoryBuilder

BANK_RUN = {"workload": "bank", "accounts": [0, 1, 2], "total": 30}


def kinds(result: CheckResult) -> dict[str, list[tuple[tuple[int, ...], bool]]]:
    found: dict[str, list[tuple[tuple[int, ...], bool]]] = {}
    for anomaly in result.anomalies:
        found.setdefault(anomaly.kind, []).append((anomaly.ops, anomaly.violation))
    return found


def test_bank_clean_run_passes() -> None:
    h = HistoryBuilder(BANK_RUN)
    h.op("transfer", {"from": 0, "to": 1, "amount": 5})
    h.op("transfer", {"from": 1, "to": 2, "amount": 50}, outcome="fail")
    h.op("read", None, {"0": 5, "1": 15, "2": 10})
    h.final("n1", {"accounts": [[0, 5], [1, 15], [2, 10]]})
    assert bank.check(h.history()).anomalies == []


def test_bank_total_broken_in_a_read_and_a_final_state() -> None:
    h = HistoryBuilder(BANK_RUN)
    h.op("transfer", {"from": 0, "to": 1, "amount": 5})
    r = h.op("read", None, {"0": 5, "1": 10, "2": 10})
    h.final("n2", {"db.accounts": [[0, 5], [1, 15], [2, 15]]})
    found = kinds(bank.check(h.history()))
    assert found["wrong-total"] == [((r,), True), ((), True)]


def test_bank_negative_balance_and_missing_account() -> None:
    h = HistoryBuilder(BANK_RUN)
    r = h.op("read", None, {"0": -5, "1": 35})
    found = kinds(bank.check(h.history()))
    assert found["negative-balance"] == [((r,), True)]
    assert found["wrong-accounts"] == [((r,), True)]


def test_bank_total_at_one_is_allowed() -> None:
    h = HistoryBuilder(BANK_RUN)
    h.op("transfer", {"from": 0, "to": 1, "amount": 5}, consistency="ONE")
    h.op("read", None, {"0": 5, "1": 10, "2": 10})
    result = bank.check(h.history())
    assert [v for _, v in kinds(result)["wrong-total"]] == [False]
    assert result.valid


def test_set_lost_acknowledged_insert_in_final_state_and_final_read() -> None:
    h = HistoryBuilder({"workload": "set"})
    a1 = h.op("add", 1)
    h.op("add", 2)
    h.op("add", 3, outcome="info")
    h.nemesis("start", "kill", nodes=["n2"])
    h.nemesis("stop", "kill", nodes=["n2"])
    r = h.op("read", None, [2, 3], node="n2")
    h.op("read", None, [1, 2], node="n1")
    h.final("n1", {"members": [[1], [2]]})
    h.final("n2", {"members": [[2]]})
    found = kinds(sets.check(h.history()))
    assert found == {"lost-add": [((a1, r), True)]}
    assert "final state of n2" in sets.check(h.history()).anomalies[0].message


def test_set_failed_and_never_sent_elements_are_flagged() -> None:
    h = HistoryBuilder({"workload": "set"})
    f = h.op("add", 4, outcome="fail")
    r = h.op("read", None, [4, 5, 5])
    found = kinds(sets.check(h.history()))
    assert found["failed-add-visible"][0] == ((f, r), True)
    assert found["unexpected-element"][0] == ((r,), True)
    assert found["duplicate-elements"] == [((r,), True)]


def test_set_stale_quorum_read_and_one_level_loss_allowed() -> None:
    h = HistoryBuilder({"workload": "set"})
    a = h.op("add", 1)
    h.op("add", 2, consistency="ONE")
    r = h.op("read", None, [], read_consistency="QUORUM")
    h.final("n1", {"members": [[1]]})
    found = kinds(sets.check(h.history()))
    assert found["stale-read"] == [((a, r), True)]
    assert [v for _, v in found["lost-add"]] == [True, False]  # r misses 1 and 2; final 2


def test_counter_in_bounds_with_unknown_adds() -> None:
    h = HistoryBuilder({"workload": "counter"})
    h.op("add", 1)
    h.op("add", 1, outcome="info")
    h.op("add", 5, outcome="fail")
    h.op("read", None, 2, read_consistency="QUORUM")
    h.final("n1", {"counters": [[0, 1]]})
    h.final("n2", {"counters": [[0, 2]]})
    assert counter.check(h.history()).anomalies == []


def test_counter_out_of_bounds_over_and_under() -> None:
    h = HistoryBuilder({"workload": "counter"})
    h.op("add", 1)
    h.op("add", 1)
    over = h.op("read", None, 3)
    under = h.op("read", None, 1, read_consistency="QUORUM")
    local = h.op("read", None, 1)
    h.op("add", 1)  # the reads above were not final: the run was not quiet yet
    h.final("n1", {"counters": [[0, 7]]})
    h.final("n2", {"counters": [[0, 0]]})
    found = kinds(counter.check(h.history()))
    assert found["counter-over"] == [((over,), True), ((), True)]
    assert found["stale-read"] == [((under,), True), ((local,), False)]
    assert found["counter-under"] == [((), True)]


def test_counter_lost_increment_at_one_is_allowed() -> None:
    h = HistoryBuilder({"workload": "counter"})
    h.op("add", 1, consistency="ONE")
    h.op("add", 1, consistency="ONE")
    h.final("n1", {"counters": [[0, 1]]})
    result = counter.check(h.history())
    assert [v for _, v in kinds(result)["counter-under"]] == [False] and result.valid


def test_divergent_replicas_name_table_and_first_differing_row() -> None:
    h = HistoryBuilder()
    h.final("n1", {"t": [[1, "a"], [2, "b"], [3, "c"]], "u": [[1]]},
            {"t": "CREATE TABLE t (id int, v text)"})
    h.final("n2", {"t": [[1, "a"], [2, "B"], [3, "c"]]},
            {"t": "CREATE TABLE t (id int, v text, w int)"})
    h.final("n3", {"t": [[3, "c"], [1, "a"], [2, "b"]], "u": [[1]]},
            {"t": "CREATE TABLE t (id int, v text)"})
    result = replicas.check(h.history())
    messages = [a.message for a in result.anomalies]
    assert result.kinds() == {"divergent-replicas", "divergent-schema"}
    assert any("first difference at sorted row 1" in m and '[2, "B"]' in m for m in messages)
    assert any("table u exists on n1, not on n2" in m for m in messages)
    assert not any("n3" in m for m in messages)  # same rows, dumped in another order


def test_identical_replicas_pass() -> None:
    h = HistoryBuilder()
    for node in ("n1", "n2", "n3"):
        h.final(node, {"t": [[1, "a"]]}, {"t": "CREATE TABLE t (id int)"})
    assert replicas.check(h.history()).anomalies == []


def test_a_node_without_a_final_state_is_unverified_convergence() -> None:
    h = HistoryBuilder({"nodes": ["n1", "n2", "n3"], "problems": ["final state of n3: timeout"]})
    h.final("n1", {"t": [[1]]})
    h.final("n2", {"t": [[1]]})
    result = replicas.check(h.history())
    assert [a.message.split(" ")[0] for a in result.anomalies] == ["n3"]
    assert result.kinds() == {"final-state-missing"}


def test_bank_final_balances_must_be_explained_by_the_transfers() -> None:
    run = {**BANK_RUN, "initial_balance": 10}
    h = HistoryBuilder(run)
    h.op("transfer", {"from": 0, "to": 1, "amount": 5})
    unknown = h.op("transfer", {"from": 1, "to": 2, "amount": 3}, outcome="info")
    h.op("transfer", {"from": 2, "to": 0, "amount": 4}, outcome="fail")
    h.final("n1", {"accounts": [[0, 5], [1, 12], [2, 13]]})  # the unknown one happened
    h.final("n2", {"accounts": [[0, 5], [1, 15], [2, 10]]})  # it did not
    h.final("n3", {"accounts": [[0, 9], [1, 15], [2, 6]]})   # the failed one happened
    found = kinds(bank.check(h.history()))
    assert found == {"unexplained-balances": [((unknown,), True)]}
    assert "{0: 4, 2: -4}" in bank.check(h.history()).anomalies[0].message
