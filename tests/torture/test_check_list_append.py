"""The list-append checker flags each hand-made anomaly with its class and operations, judges
it by the level it ran at, and passes clean histories (concurrent ones, unknown outcomes that
did and did not happen, and any serial execution)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from marmotdb.torture.check import list_append
from marmotdb.torture.check.anomaly import CheckResult
from tests.torture import generated
from tests.torture.histories import HistoryBuilder, append, read


def found(result: CheckResult, kind: str) -> list[tuple[tuple[int, ...], bool]]:
    return [(a.ops, a.violation) for a in result.anomalies if a.kind == kind]


def test_g0_write_cycle_is_named_with_both_writers() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [append(1, 1), append(2, 1)])
    t2 = h.op("txn", [append(1, 2), append(2, 2)])
    h.op("txn", [read(1), read(2)], [read(1, [1, 2]), read(2, [2, 1])])
    result = list_append.check(h.history())
    assert found(result, "G0") == [((t1, t2), True)]
    assert not result.valid


def test_g1a_aborted_read() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [append(1, 1)], outcome="fail")
    t2 = h.op("txn", [read(1)], [read(1, [1])])
    result = list_append.check(h.history())
    assert found(result, "G1a") == [((t1, t2), True)]


def test_g1a_is_a_violation_even_at_one() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [append(1, 1)], outcome="fail", consistency="ONE")
    t2 = h.op("txn", [read(1)], [read(1, [1])], consistency="ONE")
    assert found(list_append.check(h.history()), "G1a") == [((t1, t2), True)]


def test_g1b_intermediate_read() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [append(1, 1), append(1, 2)])
    t2 = h.op("txn", [read(1)], [read(1, [1])])
    h.op("txn", [read(1)], [read(1, [1, 2])])
    result = list_append.check(h.history())
    assert found(result, "G1b") == [((t1, t2), True)]


def test_g1c_circular_information_flow() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [append(1, 1), read(2)], [append(1, 1), read(2, [2])])
    t2 = h.op("txn", [append(2, 2), append(1, 2)])
    h.op("txn", [read(1)], [read(1, [1, 2])])
    result = list_append.check(h.history())
    assert found(result, "G1c") == [((t1, t2), True)]
    assert "-wr(k=2)->" in result.anomalies[0].message


def test_g1c_at_one_is_reported_but_allowed() -> None:
    h = HistoryBuilder()
    h.op("txn", [append(1, 1), read(2)], [append(1, 1), read(2, [2])], consistency="ONE")
    h.op("txn", [append(2, 2), append(1, 2)], consistency="ONE")
    h.op("txn", [read(1)], [read(1, [1, 2])])
    result = list_append.check(h.history())
    assert [v for _, v in found(result, "G1c")] == [False]
    assert result.valid


def test_g2_item_write_skew_is_reported_as_allowed() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [read(1), append(2, 1)], [read(1, None), append(2, 1)])
    t2 = h.op("txn", [read(2), append(1, 2)], [read(2, None), append(1, 2)])
    h.op("txn", [read(1), read(2)], [read(1, [2]), read(2, [1])])
    result = list_append.check(h.history())
    assert found(result, "G2-item") == [((t1, t2), False)]
    assert result.valid  # DESIGN.md §4.1 validates written rows only


def test_g_single_read_skew_is_reported_as_allowed() -> None:
    h = HistoryBuilder()
    t2 = h.op("txn", [append(1, 1), append(2, 1)])
    t1 = h.op("txn", [read(1), read(2)], [read(1, []), read(2, [1])])
    h.op("txn", [read(1)], [read(1, [1])])
    result = list_append.check(h.history())
    assert found(result, "G-single") == [((t2, t1), False)]


def test_lost_update_two_commits_on_the_same_version() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [read(1), append(1, 1)], [read(1, []), append(1, 1)])
    t2 = h.op("txn", [read(1), append(1, 2)], [read(1, []), append(1, 2)])
    h.op("txn", [read(1)], [read(1, [1, 2])])
    result = list_append.check(h.history())
    assert found(result, "lost-update") == [((t1, t2), True)]


def test_lost_update_at_one_is_allowed() -> None:
    h = HistoryBuilder()
    h.op("txn", [read(1), append(1, 1)], [read(1, []), append(1, 1)], consistency="ONE")
    h.op("txn", [read(1), append(1, 2)], [read(1, []), append(1, 2)], consistency="ONE")
    h.op("txn", [read(1)], [read(1, [1, 2])])
    result = list_append.check(h.history())
    assert [v for _, v in found(result, "lost-update")] == [False]
    assert result.valid


def test_stale_quorum_read_names_the_write_and_the_read() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [append(1, 1)])
    t2 = h.op("txn", [read(1)], [read(1, [])], read_consistency="QUORUM", node="n2")
    result = list_append.check(h.history())
    assert found(result, "stale-read") == [((t1, t2), True)]


def test_stale_local_read_is_not_an_anomaly() -> None:
    h = HistoryBuilder()
    h.op("txn", [append(1, 1)])
    h.op("txn", [read(1)], [read(1, [])], read_consistency="LOCAL", node="n2")
    assert list_append.check(h.history()).anomalies == []


def test_quorum_read_concurrent_with_the_write_may_miss_it() -> None:
    h = HistoryBuilder()
    h.invoke(0, "txn", [append(1, 1)])
    h.invoke(1, "txn", [read(1)], read_consistency="QUORUM")
    h.complete(0, "txn", "ok", [append(1, 1)])
    h.complete(1, "txn", "ok", [read(1, [])])
    assert list_append.check(h.history()).valid


def test_lost_acknowledged_append() -> None:
    h = HistoryBuilder()
    t1 = h.op("txn", [append(1, 1)])
    t2 = h.op("txn", [append(1, 2)])
    t3 = h.op("txn", [read(1)], [read(1, [2])])
    result = list_append.check(h.history())
    assert found(result, "lost-append") == [((t1, t2, t3), True)]


def test_incompatible_orders_are_divergence_at_quorum_and_allowed_at_one() -> None:
    for level, violation in (("QUORUM", True), ("ONE", False)):
        h = HistoryBuilder()
        h.op("txn", [append(1, 1)], consistency=level)
        h.op("txn", [append(1, 2)], consistency=level)
        t3 = h.op("txn", [read(1)], [read(1, [1, 2])])
        t4 = h.op("txn", [read(1)], [read(1, [2, 1])])
        assert found(list_append.check(h.history()), "incompatible-order") == [
            ((t3, t4), violation)]


def test_duplicates_garbage_and_internal_inconsistency() -> None:
    h = HistoryBuilder()
    h.op("txn", [append(1, 1)])
    t2 = h.op("txn", [read(1)], [read(1, [1, 1])])
    t3 = h.op("txn", [read(1)], [read(1, [1, 9])])
    t4 = h.op("txn", [read(1), append(1, 5), read(1)],
              [read(1, [1]), append(1, 5), read(1, [1])])
    result = list_append.check(h.history())
    assert found(result, "duplicate-elements") == [((t2,), True)]
    assert found(result, "garbage-read") == [((t3,), True)]
    assert found(result, "internal") == [((t4,), True)]


def test_clean_concurrent_history_with_unknown_outcomes_passes() -> None:
    h = HistoryBuilder()
    # p0 and p1 append concurrently; p2's append times out but happened (it is read);
    # p3's times out and did not happen; p4's fails.
    h.invoke(0, "txn", [append(1, 1), read(2)], node="n1")
    h.invoke(1, "txn", [append(1, 2)], node="n2")
    h.invoke(2, "txn", [append(2, 7)], node="n3")
    h.invoke(3, "txn", [append(3, 8)], node="n1", at_ms=3.5)
    h.complete(1, "txn", "ok", [append(1, 2)], node="n2")
    h.complete(0, "txn", "ok", [append(1, 1), read(2, [])], node="n1")
    h.complete(2, "txn", "info", [append(2, 7)], error="timeout", node="n3")
    h.complete(3, "txn", "info", [append(3, 8)], error="1180", node="n1")
    h.op("txn", [append(3, 9)], outcome="fail", process=4)
    h.op("txn", [read(1), read(2), read(3)], [read(1, [2, 1]), read(2, [7]), read(3, None)],
         process=5, read_consistency="QUORUM")
    h.op("txn", [read(1), append(2, 10), read(2)],
         [read(1, [2, 1]), append(2, 10), read(2, [7, 10])], process=6)
    result = list_append.check(h.history())
    assert result.anomalies == [], result.anomalies


@st.composite
def serial_histories(draw: st.DrawFn) -> HistoryBuilder:
    """Random transactions executed one at a time against a model; fail ones change nothing,
    info ones may or may not have applied."""
    h = HistoryBuilder()
    lists: dict[int, list[int]] = {}
    next_element = 0
    for process in range(draw(st.integers(1, 25))):
        micro = []
        for _ in range(draw(st.integers(1, 4))):
            key = draw(st.integers(0, 3))
            if draw(st.booleans()):
                next_element += 1
                micro.append(append(key, next_element))
            else:
                micro.append(read(key))
        outcome = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info"]))
        applies = outcome == "ok" or (outcome == "info" and draw(st.booleans()))
        scratch = {k: list(v) for k, v in lists.items()}
        completed = []
        for m in micro:
            if m[0] == "append":
                scratch.setdefault(m[1], []).append(m[2])
                completed.append(m)
            else:
                completed.append(read(m[1], list(scratch[m[1]]) if m[1] in scratch else None))
        if applies:
            lists = scratch
        level = draw(st.sampled_from(["QUORUM", "ALL", "ONE"]))
        reads_at = draw(st.sampled_from(["LOCAL", "QUORUM"]))
        node = draw(st.sampled_from(["n1", "n2", "n3"]))
        h.op("txn", micro, completed if outcome == "ok" else None, outcome, process, node,
             level, reads_at)
    return h


@settings(max_examples=30, deadline=None)
@given(serial_histories())
def test_any_serial_execution_passes(h: HistoryBuilder) -> None:
    result = list_append.check(h.history())
    assert result.anomalies == [], result.anomalies


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32))
def test_any_concurrent_strictly_serializable_execution_passes(seed: int) -> None:
    h = generated.list_append_history(random.Random(seed))
    result = list_append.check(h.history())
    assert result.anomalies == [], result.anomalies


def test_unknown_micro_op_is_malformed_not_a_read() -> None:
    h = HistoryBuilder()
    t = h.op("txn", [["w", 1, 5]])
    assert found(list_append.check(h.history()), "malformed") == [((t,), True)]


def test_final_states_catch_a_lost_append_and_extend_the_version_order() -> None:
    h = HistoryBuilder({"workload": "list-append"})
    t1 = h.op("txn", [append(1, 1)])
    h.op("txn", [read(1), append(1, 2)], [read(1, []), append(1, 2)])
    t3 = h.op("txn", [append(1, 3)], consistency="ONE")
    h.final("n1", {"lists": [[1, "1,2,3"]]})
    h.final("n2", {"lists": [[1, "1,2"]]})
    result = list_append.check(h.history())
    assert found(result, "lost-append") == [((t3,), False)]  # n2 lacks a ONE append
    assert "final state of n2" in result.anomalies[0].message
    # no read saw 1 before 2: only n1's and n2's final lists order them; they disagree, so
    # the order stays the reads' and t2's read of [] makes no rw edge to t1
    assert found(result, "G-single") == []
    h.final("n3", {"lists": [[1, "2"]]})
    result = list_append.check(h.history())
    assert ((t1,), True) in found(result, "lost-append")


def test_final_lists_that_agree_order_the_appends() -> None:
    h = HistoryBuilder({"workload": "list-append"})
    t1 = h.op("txn", [read(2), append(1, 1)], [read(2, []), append(1, 1)])
    t2 = h.op("txn", [read(1), append(2, 2)], [read(1, []), append(2, 2)])
    for node in ("n1", "n2"):
        h.final(node, {"lists": [[1, "1"], [2, "2"]]})
    # both read the other's key empty: write skew, visible only through the final lists
    assert found(list_append.check(h.history()), "G2-item") == [((t1, t2), False)]


def test_a_reread_that_sees_other_commits_is_a_non_repeatable_read_allowed() -> None:
    h = HistoryBuilder()
    h.op("txn", [append(1, 1)])
    t2 = h.op("txn", [read(1), append(1, 3), read(1)],
              [read(1, None), append(1, 3), read(1, [1, 3])])
    h.op("txn", [read(1)], [read(1, [1, 3])])
    result = list_append.check(h.history())
    assert found(result, "non-repeatable-read") == [((t2,), False)]
    assert found(result, "internal") == [] and result.valid


def test_each_strong_cycle_is_reported_even_inside_one_large_component() -> None:
    h = HistoryBuilder()
    # G0 between t1 and t2 (keys 1, 2); G1c between t3 and t4 (keys 3, 4); rw edges between
    # t1 and t3 (each read the other's key empty) join all four into one component.
    t1 = h.op("txn", [append(1, 1), append(2, 1), read(3)],
              [append(1, 1), append(2, 1), read(3, [])])
    t2 = h.op("txn", [append(1, 2), append(2, 2)])
    t3 = h.op("txn", [read(1), append(3, 1), read(4)], [read(1, []), append(3, 1), read(4, [2])])
    t4 = h.op("txn", [append(4, 2), append(3, 2)])
    h.op("txn", [read(1), read(2), read(3)], [read(1, [1, 2]), read(2, [2, 1]), read(3, [1, 2])])
    result = list_append.check(h.history())
    assert found(result, "G0") == [((t1, t2), True)]
    assert found(result, "G1c") == [((t3, t4), True)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32))
def test_an_observed_append_turned_failed_is_found_in_a_busy_history(seed: int) -> None:
    h = generated.list_append_history(random.Random(seed), ops=80)
    observed = {e for ev in h.events if ev.get("type") == "ok" and ev["f"] == "txn"
                for m in ev["value"] if m[0] == "r" for e in (m[2] or [])}
    for event in h.events:  # the first acknowledged append some read saw: say it failed
        if event.get("type") == "ok" and any(m[0] == "append" and m[2] in observed
                                             for m in event["value"]):
            event["type"], event["error"] = "fail", "1213 Deadlock found"
            break
    else:
        return
    result = list_append.check(h.history())
    assert "G1a" in result.kinds(), result.anomalies


def test_an_unknown_append_a_read_saw_must_survive_in_the_final_state() -> None:
    h = HistoryBuilder({"workload": "list-append"})
    t1 = h.op("txn", [append(1, 1)], outcome="info")
    t2 = h.op("txn", [read(1)], [read(1, [1])])
    h.final("n1", {"lists": [[1, "1"]]})
    h.final("n2", {"lists": []})
    result = list_append.check(h.history())
    assert found(result, "lost-append") == [((t1, t2), True)]
    assert "final state of n2" in result.anomalies[0].message
