"""Fault rules and the injector's decisions (pure: no sockets, no sleeps)."""

from __future__ import annotations

import random

import pytest

from marmotdb.cluster.messages import NodeAddr
from marmotdb.runtime.faults import (
    RULES_MAX,
    Direction,
    FaultInjector,
    FaultRule,
    FaultRuleError,
    parse_rules,
)

A = NodeAddr("127.0.0.1", 7001)
B = NodeAddr("127.0.0.1", 7002)


def injector(*specs: str, seed: int = 1) -> FaultInjector:
    return FaultInjector(parse_rules(specs), random.Random(seed))


def test_compact_and_dict_forms_parse_to_the_same_rule() -> None:
    compact = FaultRule.parse("peer=127.0.0.1:7001;direction=out;drop=0.25;delay_ms=30;"
                              "jitter_ms=5;duplicate=0.1;reorder=0.2;partition=0")
    as_dict = FaultRule.parse({"peer": "127.0.0.1:7001", "direction": "out", "drop": 0.25,
                               "delay_ms": 30, "jitter_ms": 5, "duplicate": 0.1,
                               "reorder": 0.2, "partition": False})
    assert compact == as_dict
    assert compact.direction is Direction.OUT and compact.delay_ms == 30
    assert FaultRule.parse(compact.to_dict()) == compact


@pytest.mark.parametrize("spec", [
    "drop=1.5", "peer=nonsense", "direction=sideways", "delay_ms=-1", "partition=maybe",
    "colour=blue", "drop", {"drop": "x"},
])
def test_bad_rules_are_refused_with_a_reason(spec: object) -> None:
    with pytest.raises(FaultRuleError):
        FaultRule.parse(spec)  # type: ignore[arg-type]


def test_rule_count_is_bounded() -> None:
    with pytest.raises(FaultRuleError):
        parse_rules(["drop=0.1"] * (RULES_MAX + 1))


def test_no_rules_delivers_everything_at_once() -> None:
    faults = FaultInjector()
    assert faults.decide(A, Direction.OUT, False) == (0,)
    assert faults.decide(A, Direction.IN, True) == (0,)
    assert not faults.active


def test_partition_drops_both_paths_and_respects_direction() -> None:
    faults = injector("peer=127.0.0.1:7001;direction=out;partition=1")
    assert faults.decide(A, Direction.OUT, False) == ()
    assert faults.decide(A, Direction.OUT, True) == ()
    assert faults.decide(A, Direction.IN, False) == (0,)  # asymmetric: inbound still flows
    assert faults.decide(B, Direction.OUT, False) == (0,)  # another peer is not affected
    assert faults.stats.partitioned == 2


def test_first_matching_rule_wins() -> None:
    faults = injector("peer=127.0.0.1:7001;delay_ms=0", "peer=*;partition=1")
    assert faults.decide(A, Direction.OUT, False) == (0,)
    assert faults.decide(B, Direction.OUT, False) == ()


def test_drop_rate_follows_the_probability_for_datagrams_only() -> None:
    faults = injector("peer=*;drop=0.3", seed=7)
    outcomes = [faults.decide(A, Direction.OUT, False) for _ in range(10_000)]
    dropped = sum(1 for o in outcomes if o == ())
    assert 2700 < dropped < 3300
    assert all(faults.decide(A, Direction.OUT, True) == (0,) for _ in range(1000))


def test_delay_and_jitter_stay_in_bounds() -> None:
    faults = injector("peer=*;delay_ms=40;jitter_ms=10")
    delays = {faults.decide(A, Direction.IN, False)[0] for _ in range(2000)}
    assert min(delays) >= 40 and max(delays) <= 50 and len(delays) > 5
    assert 40 <= faults.decide(A, Direction.IN, True)[0] <= 50  # reliable frames are delayed too


def test_duplicate_delivers_two_copies_and_reorder_holds_back() -> None:
    faults = injector("peer=*;duplicate=1")
    copies = faults.decide(A, Direction.OUT, False)
    assert len(copies) == 2 and copies[0] <= copies[1]
    reorder = injector("peer=*;reorder=1;reorder_window_ms=30")
    held = [reorder.decide(A, Direction.OUT, False)[0] for _ in range(500)]
    assert min(held) >= 1 and max(held) <= 30
    assert injector("peer=*;duplicate=1;reorder=1").decide(A, Direction.OUT, True) == (0,)


def test_same_seed_same_decisions() -> None:
    spec = "peer=*;drop=0.2;duplicate=0.2;reorder=0.2;delay_ms=5;jitter_ms=5"
    one, two, other = injector(spec, seed=3), injector(spec, seed=3), injector(spec, seed=4)
    first = [one.decide(A, Direction.OUT, False) for _ in range(500)]
    assert first == [two.decide(A, Direction.OUT, False) for _ in range(500)]
    assert first != [other.decide(A, Direction.OUT, False) for _ in range(500)]


def test_set_rules_replaces_and_heals() -> None:
    faults = injector("peer=*;partition=1")
    assert faults.decide(A, Direction.OUT, False) == ()
    faults.set_rules([])
    assert faults.decide(A, Direction.OUT, False) == (0,)
