"""The merge rule, the suspicion timer, the broadcast queue and the probe order, one by one."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from marmotdb.cluster.awareness import Awareness
from marmotdb.cluster.broadcast import BroadcastQueue
from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import MemberEvent, MemberTable, MergeOutcome
from marmotdb.cluster.messages import MemberState, MemberUpdate
from marmotdb.cluster.probe_schedule import ProbeSchedule
from marmotdb.cluster.suspicion import Suspicion, expected_confirmations, suspicion_timeout_ms
from tests.cluster.driver import meta

STATES = list(MemberState)


def fact(node: int, state: MemberState, incarnation: int, epoch: int = 0) -> MemberUpdate:
    return MemberUpdate(node, state, incarnation, epoch, 99, meta(node))


facts = st.builds(fact, st.integers(1, 3), st.sampled_from(STATES), st.integers(0, 4),
                  st.integers(0, 2))


def merged(updates: list[MemberUpdate]) -> dict[str, tuple[MemberState, int, int]]:
    table = MemberTable(100, lambda event: None)
    for update in updates:
        table.merge(update, 0)
    return {m.node_id: (m.state, m.incarnation, m.removal_epoch) for m in table}


@settings(max_examples=200, deadline=None)
@given(st.lists(facts, max_size=12), st.randoms(use_true_random=False))
def test_merge_converges_whatever_the_order_and_duplicates(updates: list[MemberUpdate],
                                                           rnd: random.Random) -> None:
    shuffled = updates + updates[: len(updates) // 2]
    rnd.shuffle(shuffled)
    assert merged(updates) == merged(shuffled)


def test_merge_order_bad_news_wins_at_one_incarnation_and_epoch_beats_all() -> None:
    events: list[MemberEvent] = []
    table = MemberTable(10, events.append)
    assert table.merge(fact(1, MemberState.ALIVE, 3), 0) is MergeOutcome.ADDED
    assert table.merge(fact(1, MemberState.SUSPECT, 3), 0) is MergeOutcome.REPLACED
    assert table.merge(fact(1, MemberState.ALIVE, 3), 0) is MergeOutcome.IGNORED
    assert table.merge(fact(1, MemberState.SUSPECT, 3), 0) is MergeOutcome.SAME
    assert table.merge(fact(1, MemberState.ALIVE, 4), 0) is MergeOutcome.REPLACED
    assert table.merge(fact(1, MemberState.REMOVED, 4, epoch=1), 0) is MergeOutcome.REPLACED
    assert table.merge(fact(1, MemberState.ALIVE, 99), 0) is MergeOutcome.IGNORED
    assert table.merge(fact(1, MemberState.DEAD, 4, epoch=2), 0) is MergeOutcome.REPLACED
    assert [e.current for e in events] == [MemberState.ALIVE, MemberState.SUSPECT,
                                           MemberState.ALIVE, MemberState.REMOVED,
                                           MemberState.DEAD]


def test_unknown_member_without_metadata_is_ignored_and_the_table_is_bounded() -> None:
    table = MemberTable(2, lambda event: None)
    bare = MemberUpdate(1, MemberState.DEAD, 0, 0, 99, None)
    assert table.merge(bare, 0) is MergeOutcome.IGNORED
    table.merge(fact(1, MemberState.ALIVE, 0), 0)
    table.merge(fact(2, MemberState.ALIVE, 0), 0)
    assert table.merge(fact(3, MemberState.ALIVE, 0), 0) is MergeOutcome.IGNORED
    assert len(table) == 2 and table.refused_full == 1


def test_suspicion_timeout_formula() -> None:
    assert suspicion_timeout_ms(0, 3, 4000, 24000) == 24000
    assert suspicion_timeout_ms(3, 3, 4000, 24000) == 4000
    assert 4000 < suspicion_timeout_ms(1, 3, 4000, 24000) < suspicion_timeout_ms(0, 3, 4000,
                                                                                   24000)
    assert suspicion_timeout_ms(0, 0, 4000, 24000) == 4000
    assert expected_confirmations(4, 3) == 0  # too few possible confirmers: run at the minimum
    assert expected_confirmations(4, 4) == 2


def test_suspicion_counts_each_confirmer_once_and_stops_at_expected() -> None:
    suspicion = Suspicion(1, 1000, 2, 4000, 24000)
    assert suspicion.deadline_ms() == 25000
    assert suspicion.confirm(2) and not suspicion.confirm(2) and not suspicion.confirm(1)
    assert suspicion.confirm(3) and not suspicion.confirm(4)
    assert suspicion.deadline_ms() == 5000
    suspicion.extend(9000)
    assert suspicion.deadline_ms() == 13000 and suspicion.extended


def test_config_formulas_follow_memberlist() -> None:
    config = SwimConfig()
    assert config.suspicion_min_ms(3) == 3000 and config.suspicion_max_ms(3) == 18000
    assert config.suspicion_min_ms(100) == 6000
    assert config.retransmit_limit(3) == 8 and config.retransmit_limit(10) == 12
    assert config.detection_bound_ms(5) > config.suspicion_max_ms(5)
    small = dataclasses.replace(config, suspicion_mult=4)  # 3 nodes cannot confirm: minimum
    assert small.suspicion_min_ms(3) < small.detection_bound_ms(3) < small.suspicion_max_ms(3)
    for preset in (SwimConfig.lan(), SwimConfig.local(), SwimConfig.wan()):
        assert preset.probe_timeout_ms < preset.probe_interval_ms


def test_awareness_bounds_and_scaling() -> None:
    awareness = Awareness(3)
    awareness.apply_delta(10)
    assert awareness.score == 2 and awareness.scale_ms(100) == 300
    awareness.apply_delta(-10)
    assert awareness.score == 0
    assert Awareness.probe_failure_delta(0, 0) == 1
    assert Awareness.probe_failure_delta(3, 1) == 2
    assert Awareness.probe_failure_delta(3, 3) == 0


def test_broadcast_queue_retransmits_then_drops_and_newer_replaces() -> None:
    queue = BroadcastQueue(queue_max=10)
    queue.enqueue(fact(1, MemberState.ALIVE, 0), 50)
    queue.enqueue(fact(2, MemberState.ALIVE, 0), 50)
    assert len(queue.take(1000, retransmit_limit=2)) == 2
    queue.enqueue(fact(1, MemberState.SUSPECT, 0), 50)  # fresh news goes first
    assert [u.node_id for u in queue.take(60, retransmit_limit=2)] == [1]
    assert [u.node_id for u in queue.take(60, retransmit_limit=2)] == [2]
    assert [u.state for u in queue.take(1000, retransmit_limit=2)] == [MemberState.SUSPECT]
    assert len(queue) == 0


def test_broadcast_queue_is_bounded_and_evicts_the_most_sent() -> None:
    queue = BroadcastQueue(queue_max=2)
    queue.enqueue(fact(1, MemberState.ALIVE, 0), 10)
    queue.take(1000, retransmit_limit=5)
    queue.enqueue(fact(2, MemberState.ALIVE, 0), 10)
    queue.enqueue(fact(3, MemberState.ALIVE, 0), 10)
    assert queue.pending_about(1) is None and len(queue) == 2 and queue.dropped == 1
    queue.enqueue(fact(4, MemberState.ALIVE, 0), 5000)
    assert [u.node_id for u in queue.take_oversize(1000)] == [4]


def test_probe_schedule_visits_every_member_once_per_pass() -> None:
    schedule = ProbeSchedule(random.Random(3))
    for i in range(6):
        schedule.add(i)
    for _ in range(4):
        assert sorted(schedule.next(lambda n: True) for _ in range(6)) == [i for i in
                                                                           range(6)]


def test_probe_schedule_skips_unprobeable_and_takes_in_new_members() -> None:
    schedule = ProbeSchedule(random.Random(3))
    for name in (1, 2, 3):
        schedule.add(name)
    picks = {schedule.next(lambda n: n != 2) for _ in range(10)}
    assert picks == {1, 3}
    schedule.add(4)
    schedule.discard(1)
    picks = {schedule.next(lambda n: True) for _ in range(10)}
    assert picks == {2, 3, 4}
    assert ProbeSchedule(random.Random(1)).next(lambda n: True) is None
