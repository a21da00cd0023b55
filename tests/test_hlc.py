"""Hybrid logical clock: manual clocks, skew, backwards jumps, overflow, many nodes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marmotdb.errors import ClockOffsetError
from marmotdb.hlc import HLC, LOGICAL_MAX, Timestamp
from tests.storage.examples import property_settings


class ManualClock:
    def __init__(self, ms: int = 1_000_000):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_now_follows_physical_clock_and_resets_logical():
    clock = ManualClock(5000)
    hlc = HLC(1, clock)
    assert hlc.now() == Timestamp(5000, 0, 1)
    assert hlc.now() == Timestamp(5000, 1, 1)
    clock.ms = 5003
    assert hlc.now() == Timestamp(5003, 0, 1)


def test_backward_jump_keeps_wall_and_counts_logical():
    clock = ManualClock(9000)
    hlc = HLC(1, clock)
    first = hlc.now()
    clock.ms = 100  # NTP stepped the clock back
    second, third = hlc.now(), hlc.now()
    assert first < second < third
    assert second.wall_ms == third.wall_ms == 9000
    clock.ms = 9001
    assert hlc.now() == Timestamp(9001, 0, 1)


def test_update_with_remote_ahead_within_offset_is_absorbed():
    clock = ManualClock(1000)
    hlc = HLC(1, clock, max_clock_offset_ms=500)
    remote = Timestamp(1400, 7, 2)
    got = hlc.update(remote)
    assert got == Timestamp(1400, 8, 1)
    assert hlc.now() == Timestamp(1400, 9, 1)


def test_update_with_remote_too_far_ahead_is_rejected_not_absorbed():
    clock = ManualClock(1000)
    hlc = HLC(1, clock, max_clock_offset_ms=500)
    before = hlc.now()
    with pytest.raises(ClockOffsetError) as caught:
        hlc.update(Timestamp(1501, 0, 2))
    assert caught.value.retryable
    assert hlc.last == before
    assert hlc.now().wall_ms == 1000


def test_update_with_equal_walls_takes_max_logical_plus_one():
    clock = ManualClock(2000)
    hlc = HLC(3, clock)
    for _ in range(5):
        hlc.now()  # local logical reaches 4
    assert hlc.update(Timestamp(2000, 2, 9)) == Timestamp(2000, 5, 3)
    assert hlc.update(Timestamp(2000, 40, 9)) == Timestamp(2000, 41, 3)


def test_update_with_remote_behind_uses_physical_or_local():
    clock = ManualClock(3000)
    hlc = HLC(1, clock)
    assert hlc.update(Timestamp(10, 5, 2)) == Timestamp(3000, 0, 1)
    assert hlc.update(Timestamp(10, 5, 2)) == Timestamp(3000, 1, 1)


def test_equal_wall_and_logical_tie_broken_by_node_id():
    a = HLC(1, ManualClock(7000)).now()
    b = HLC(2, ManualClock(7000)).now()
    assert (a.wall_ms, a.logical) == (b.wall_ms, b.logical)
    assert a < b
    assert sorted([b, a]) == [a, b]


def test_logical_overflow_borrows_next_millisecond():
    clock = ManualClock(100)
    hlc = HLC(1, clock, last=Timestamp(100, LOGICAL_MAX - 1, 1))
    assert hlc.now() == Timestamp(100, LOGICAL_MAX, 1)
    assert hlc.now() == Timestamp(101, 0, 1)
    assert hlc.update(Timestamp(101, LOGICAL_MAX, 2)) == Timestamp(102, 0, 1)


def test_pack_roundtrip_and_order():
    ts = Timestamp(1_700_000_000_123, 513, 42)
    packed = ts.pack()
    assert packed == (1_700_000_000_123 << 16) | 513
    assert packed < 2**63
    assert Timestamp.unpack(packed, 42) == ts
    assert Timestamp(5, LOGICAL_MAX, 1).pack() < Timestamp(6, 0, 1).pack()
    with pytest.raises(ValueError):
        Timestamp.unpack(-1, 1)
    with pytest.raises(ValueError):
        Timestamp.unpack(2**64, 1)


def test_restart_from_persisted_last_never_reissues():
    hlc = HLC(1, ManualClock(5000))
    for _ in range(3):
        hlc.now()
    persisted = hlc.last
    restarted = HLC(1, ManualClock(4000), last=persisted)  # clock went back while down
    assert restarted.now() > persisted


def test_invalid_arguments_rejected():
    with pytest.raises(ValueError):
        HLC(-1, ManualClock())
    with pytest.raises(ValueError):
        HLC(1, ManualClock(), max_clock_offset_ms=-1)
    with pytest.raises(ValueError):
        HLC(1, ManualClock()).update(Timestamp(1, LOGICAL_MAX + 1, 2))


def test_many_nodes_exchanging_messages_keep_causality():
    rng = random.Random(7)
    clocks = [ManualClock(10_000 + rng.randrange(200)) for _ in range(8)]
    nodes = [HLC(i, clocks[i], max_clock_offset_ms=1000) for i in range(8)]
    issued: list[Timestamp] = []
    for _ in range(3000):
        sender, receiver = rng.randrange(8), rng.randrange(8)
        clocks[sender].ms += rng.choice([-5, 0, 0, 1, 3])
        sent = nodes[sender].now()
        received = nodes[receiver].update(sent)
        assert received > sent  # the receive event happens after the send event
        issued += [sent, received]
    assert len(set(issued)) == len(issued)  # total order: no two events share a timestamp


operations = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(-50, 50)),
        st.tuples(st.just("now"), st.just(0)),
        st.tuples(st.just("remote"), st.integers(-100, 600), st.integers(0, LOGICAL_MAX),
                  st.integers(0, 5)),
    ),
    max_size=80,
)


@property_settings(share=0.1)
@given(operations)
def test_property_monotonic_and_exceeds_everything_seen(ops):
    clock = ManualClock(50_000)
    hlc = HLC(3, clock, max_clock_offset_ms=500)
    seen: list[Timestamp] = []
    previous: Timestamp | None = None
    for op in ops:
        if op[0] == "tick":
            clock.ms = max(0, clock.ms + op[1])
            continue
        if op[0] == "now":
            got = hlc.now()
        else:
            remote = Timestamp(max(0, clock.ms + op[1]), op[2], op[3])
            try:
                got = hlc.update(remote)
            except ClockOffsetError:
                assert remote.wall_ms - clock.ms > 500
                continue
            seen.append(remote)
        assert previous is None or got > previous
        assert got.pack() > max((s.pack() for s in seen), default=-1)
        assert got.node_id == 3
        previous = got
