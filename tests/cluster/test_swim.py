"""SwimNode driven by hand: the test plays every other member and reads the node's outbox."""

from __future__ import annotations

from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.messages import (
    Ack,
    Gossip,
    MemberState,
    MemberUpdate,
    Nack,
    Ping,
    PingReq,
    PushPullRequest,
    PushPullResponse,
)
from tests.cluster.driver import HandDriver, addr, alive, meta


def joined(members: int, config: SwimConfig | None = None) -> HandDriver:
    """Node n0 alone, then told about n1..n{members-1} by a push-pull from n1."""
    hand = HandDriver(0, config=config)
    hand.node.start(0)
    table = [alive(i) for i in range(1, members)]
    hand.deliver(PushPullRequest(1, addr(1), False, table), 0)
    hand.sent()
    return hand


def probe_until_target(hand: HandDriver, target: int, start_ms: int) -> tuple[int, Ping]:
    """Advance the node's probe ticks until it pings ``target``; ack every other probe."""
    now = start_ms
    for _ in range(50):
        now = max(now, hand.node.next_deadline_ms())
        hand.node.handle_timer(now)
        for dest, msg in hand.sent_of(Ping):
            assert isinstance(msg, Ping)
            if msg.target_id == target:
                return now, msg
            hand.deliver(Ack(msg.seq, msg.target_id), now)
    raise AssertionError(f"{target} never probed")


def test_start_without_seeds_is_alive_and_with_seeds_joins_through_them() -> None:
    alone = HandDriver(0)
    alone.node.start(0)
    assert alone.node.state is MemberState.ALIVE
    joiner = HandDriver(5, seeds=[addr(0), addr(1), addr(5)])
    joiner.node.start(0)
    assert joiner.node.state is MemberState.JOINING
    requests = joiner.sent_of(PushPullRequest)
    assert sorted(dest for dest, _ in requests) == [addr(0), addr(1)]  # never itself
    assert all(msg.join for _, msg in requests)  # type: ignore[attr-defined]
    joiner.deliver(PushPullResponse(0, members=[alive(0), alive(1)]), 10)
    assert joiner.node.state is MemberState.ALIVE
    assert joiner.state_of(0) is MemberState.ALIVE and joiner.state_of(1) is MemberState.ALIVE


def test_join_is_retried_until_a_seed_answers() -> None:
    joiner = HandDriver(5, seeds=[addr(0)])
    joiner.node.start(0)
    joiner.sent()
    joiner.node.handle_timer(joiner.node.config.join_retry_interval_ms)
    assert [dest for dest, _ in joiner.sent_of(PushPullRequest)] == [addr(0)]


def test_ping_is_answered_with_ack_to_the_source_address() -> None:
    hand = joined(3)
    hand.deliver(Ping(41, 1, addr(1), 0), 5)
    acks = hand.sent_of(Ack)
    assert len(acks) == 1 and acks[0][0] == addr(1) and acks[0][1].seq == 41  # type: ignore


def test_ping_for_another_node_id_is_ignored() -> None:
    hand = joined(3)
    hand.deliver(Ping(41, 1, addr(1), 4242), 5)
    assert hand.sent_of(Ack) == []


def test_acked_probe_raises_no_suspicion() -> None:
    hand = joined(3)
    now, ping = probe_until_target(hand, 2, 0)
    hand.deliver(Ack(ping.seq, 2), now + 10)
    hand.node.handle_timer(now + 5 * hand.node.config.probe_interval_ms)
    assert hand.state_of(2) is MemberState.ALIVE
    assert hand.node.stats.probes_failed == 0


def test_unacked_probe_sends_indirect_probes_then_suspects() -> None:
    config = SwimConfig()
    hand = joined(6, config)
    now, _ping = probe_until_target(hand, 2, 0)
    hand.node.handle_timer(now + config.probe_timeout_ms)
    reqs = hand.sent_of(PingReq)
    assert len(reqs) == config.indirect_checks
    assert {msg.target_id for _, msg in reqs} == {2}  # type: ignore[attr-defined]
    assert addr(2) not in {dest for dest, _ in reqs}
    hand.node.handle_timer(now + config.probe_interval_ms)
    assert hand.state_of(2) is MemberState.SUSPECT


def test_relayed_ack_counts_as_success() -> None:
    config = SwimConfig()
    hand = joined(6, config)
    now, ping = probe_until_target(hand, 2, 0)
    hand.node.handle_timer(now + config.probe_timeout_ms)
    hand.sent()
    hand.deliver(Ack(ping.seq, 3), now + config.probe_timeout_ms + 20)
    hand.node.handle_timer(now + config.probe_interval_ms)
    assert hand.state_of(2) is MemberState.ALIVE


def test_relay_forwards_the_ack_or_answers_nack_on_timeout() -> None:
    config = SwimConfig()
    hand = joined(4, config)
    hand.deliver(PingReq(7, 1, addr(1), 2, addr(2)), 100)
    pings = hand.sent_of(Ping)
    assert len(pings) == 1 and pings[0][0] == addr(2)
    relay_seq = pings[0][1].seq  # type: ignore[attr-defined]
    hand.deliver(Ack(relay_seq, 2), 150)
    forwarded = hand.sent_of(Ack)
    assert forwarded[0][0] == addr(1) and forwarded[0][1].seq == 7  # type: ignore
    hand.deliver(PingReq(8, 1, addr(1), 3, addr(3)), 200)
    hand.sent()
    hand.node.handle_timer(200 + config.probe_timeout_ms)
    nacks = hand.sent_of(Nack)
    assert len(nacks) == 1 and nacks[0][1].seq == 8  # type: ignore[attr-defined]


def test_missing_nacks_raise_awareness_and_stretch_the_probe_interval() -> None:
    config = SwimConfig()
    hand = joined(6, config)
    now, _ = probe_until_target(hand, 2, 0)
    hand.node.handle_timer(now + config.probe_timeout_ms)
    hand.node.handle_timer(now + config.probe_interval_ms)  # no acks, no nacks at all
    assert hand.node.awareness_score == config.indirect_checks
    start = now + config.probe_interval_ms
    assert hand.node.next_deadline_ms() - start <= config.probe_interval_ms * 4
    hand.sent()
    hand.node.handle_timer(start + config.probe_interval_ms)
    assert hand.sent_of(Ping) == []  # the next probe waits (score + 1) intervals


def test_suspicion_in_a_small_cluster_runs_at_the_minimum_then_declares_dead() -> None:
    config = SwimConfig(suspicion_mult=4)  # 3 nodes cannot supply 2 confirmations
    hand = joined(3, config)
    hand.deliver(Gossip(1, [MemberUpdate(2, MemberState.SUSPECT, 0, 0, 1)]), 1000)
    assert hand.state_of(2) is MemberState.SUSPECT
    deadline = 1000 + config.suspicion_min_ms(3)
    hand.node.handle_timer(deadline - 1)
    assert hand.state_of(2) is MemberState.SUSPECT
    hand.node.handle_timer(deadline)
    assert hand.state_of(2) is MemberState.DEAD
    assert hand.node.stats.deaths_declared == 1


def test_suspicion_shrinks_with_independent_confirmations() -> None:
    config = SwimConfig(suspicion_mult=4)  # waits for 2 confirmations
    hand = joined(8, config)
    live = 8
    low, high = config.suspicion_min_ms(live), config.suspicion_max_ms(live)
    suspect = MemberUpdate(2, MemberState.SUSPECT, 0, 0, 1)
    hand.deliver(Gossip(1, [suspect]), 0)
    assert hand.node.next_deadline_ms() <= high
    suspicion = hand.node._suspicions[2]
    assert suspicion.deadline_ms() == high
    hand.deliver(Gossip(1, [suspect]), 10)  # the same origin again is no confirmation
    assert suspicion.deadline_ms() == high
    hand.deliver(Gossip(3, [MemberUpdate(2, MemberState.SUSPECT, 0, 0, 3)]), 20)
    middle = suspicion.deadline_ms()
    assert low < middle < high
    hand.deliver(Gossip(4, [MemberUpdate(2, MemberState.SUSPECT, 0, 0, 4)]), 30)
    assert suspicion.deadline_ms() == low
    hand.node.handle_timer(low)
    assert hand.state_of(2) is MemberState.DEAD


def test_suspicion_about_self_is_refuted_with_a_higher_incarnation() -> None:
    hand = joined(3)
    hand.deliver(Gossip(1, [MemberUpdate(0, MemberState.SUSPECT, 0, 0, 1)]), 100)
    assert hand.node.state is MemberState.ALIVE
    assert hand.node.incarnation == 1
    assert hand.node.awareness_score == 1
    hand.deliver(Ping(3, 1, addr(1), 0), 110)
    (_, ack), = hand.sent_of(Ack)
    refutes = [u for u in ack.updates if u.node_id == 0]  # type: ignore[attr-defined]
    assert refutes and refutes[0].state is MemberState.ALIVE and refutes[0].incarnation == 1


def test_dead_about_self_from_a_previous_life_is_refuted_above_it() -> None:
    hand = joined(3)
    hand.deliver(Gossip(1, [MemberUpdate(0, MemberState.DEAD, 9, 0, 1)]), 100)
    assert hand.node.state is MemberState.ALIVE and hand.node.incarnation == 10


def test_refuted_member_becomes_alive_again_and_suspicion_stops() -> None:
    hand = joined(3)
    hand.deliver(Gossip(1, [MemberUpdate(2, MemberState.SUSPECT, 0, 0, 1)]), 0)
    hand.deliver(Gossip(2, [alive(2, incarnation=1)]), 500)
    assert hand.state_of(2) is MemberState.ALIVE
    hand.node.handle_timer(60_000)
    assert hand.state_of(2) is MemberState.ALIVE


def test_stale_alive_does_not_clear_a_suspicion() -> None:
    hand = joined(3)
    hand.deliver(Gossip(1, [MemberUpdate(2, MemberState.SUSPECT, 0, 0, 1)]), 0)
    hand.deliver(Gossip(1, [alive(2, incarnation=0)]), 10)
    assert hand.state_of(2) is MemberState.SUSPECT


def test_probe_of_a_suspect_tells_it_so_it_can_refute() -> None:
    hand = joined(3)
    hand.deliver(Gossip(1, [MemberUpdate(2, MemberState.SUSPECT, 0, 0, 1)]), 0)
    _, ping = probe_until_target(hand, 2, 0)
    assert ping.updates[0].node_id == 2 and ping.updates[0].state is MemberState.SUSPECT


def test_late_probe_round_is_inconclusive() -> None:
    config = SwimConfig()
    hand = joined(3, config)
    now, _ = probe_until_target(hand, 2, 0)
    hand.node.handle_timer(now + config.probe_interval_ms + config.late_timer_slack_ms + 1)
    assert hand.state_of(2) is MemberState.ALIVE
    assert hand.node.stats.probes_inconclusive == 1


def test_overslept_suspicion_is_extended_once() -> None:
    config = SwimConfig(suspicion_mult=4)  # runs at the minimum in a 3-node cluster
    hand = joined(3, config)
    hand.deliver(Gossip(1, [MemberUpdate(2, MemberState.SUSPECT, 0, 0, 1)]), 0)
    woke = config.suspicion_min_ms(3) + config.late_timer_slack_ms + 100
    hand.node.handle_timer(woke)
    assert hand.state_of(2) is MemberState.SUSPECT
    hand.node.handle_timer(woke + config.suspicion_min_ms(3))
    assert hand.state_of(2) is MemberState.DEAD


def test_leave_announces_leaving_and_stops_probing() -> None:
    hand = joined(3)
    hand.node.leave(100)
    assert hand.node.state is MemberState.LEAVING and hand.node.incarnation == 1
    assert not hand.node.leave_complete(100)
    hand.sent()
    for t in range(100, 3000, 100):
        hand.node.handle_timer(t)
    sent = hand.sent()
    assert not [m for _, m, _ in sent if isinstance(m, Ping)]
    gossip = [m for _, m, _ in sent if isinstance(m, Gossip)]
    facts = [u for g in gossip for u in g.updates if u.node_id == 0]
    assert facts and all(f.state is MemberState.LEAVING for f in facts)
    assert hand.node.leave_complete(3000)


def test_leaving_member_is_never_probed_or_suspected() -> None:
    hand = joined(3)
    leaving = MemberUpdate(2, MemberState.LEAVING, 1, 0, 2, meta(2))
    hand.deliver(Gossip(2, [leaving]), 0)
    assert hand.state_of(2) is MemberState.LEAVING
    hand.deliver(Gossip(1, [MemberUpdate(2, MemberState.DEAD, 1, 0, 1)]), 10)
    assert hand.state_of(2) is MemberState.LEAVING
    for t in range(0, 10_000, 250):
        hand.node.handle_timer(t)
        for _, msg in hand.sent_of(Ping):
            assert msg.target_id != 2  # type: ignore[attr-defined]
            hand.deliver(Ack(msg.seq, msg.target_id), t)  # type: ignore[attr-defined]


def test_removed_member_is_refused_until_allowed() -> None:
    hand = joined(3)
    hand.node.remove_member(2, 0)
    assert hand.state_of(2) is MemberState.REMOVED
    hand.sent()
    hand.deliver(PushPullRequest(2, addr(2), True, [alive(2, incarnation=5)]), 10)
    (dest, refusal, reliable), = hand.sent()
    assert isinstance(refusal, PushPullResponse) and refusal.refused and dest == addr(2)
    assert refusal.members[0].state is MemberState.REMOVED and reliable
    assert hand.state_of(2) is MemberState.REMOVED  # its ALIVE(5) did not override
    hand.deliver(Ping(1, 2, addr(2), 0), 20)
    assert hand.sent_of(Ack) == []
    hand.node.allow_member(2, 30)
    assert hand.state_of(2) is MemberState.DEAD
    hand.deliver(PushPullRequest(2, addr(2), True, [alive(2, incarnation=6)]), 40)
    (_, response, _), = hand.sent()
    assert isinstance(response, PushPullResponse) and not response.refused
    own = next(u for u in response.members if u.node_id == 2)
    assert own.removal_epoch == 2  # the refusal epoch was raised twice (remove, allow)


def test_removed_node_learns_it_and_rejoins_once_allowed() -> None:
    hand = joined(3)
    removed = MemberUpdate(0, MemberState.REMOVED, 0, 1, 1, meta(0))
    hand.deliver(Gossip(1, [removed]), 100)
    assert hand.node.state is MemberState.REMOVED
    hand.deliver(Gossip(1, [alive(1, 3)]), 110)
    assert hand.node.members.get(1).incarnation == 0  # type: ignore[union-attr]
    allowed = MemberUpdate(0, MemberState.DEAD, 0, 2, 1, meta(0))
    hand.deliver(PushPullResponse(1, members=[alive(1), allowed]), 200)
    assert hand.node.state is MemberState.ALIVE
    me = hand.node.members.get(0)
    assert me is not None and me.removal_epoch == 2 and me.incarnation == 1


def test_refused_join_makes_the_node_removed() -> None:
    joiner = HandDriver(5, seeds=[addr(0)])
    joiner.node.start(0)
    refusal = PushPullResponse(0, refused=True, reason="removed",
                               members=[MemberUpdate(5, MemberState.REMOVED, 0, 1, 0,
                                                     meta(5))])
    joiner.deliver(refusal, 10)
    assert joiner.node.state is MemberState.REMOVED


def test_metadata_update_bumps_incarnation_and_is_gossiped() -> None:
    hand = joined(3)
    new_meta = meta(0, software_version="0.2.0")
    hand.node.update_meta(new_meta, 10)
    assert hand.node.incarnation == 1
    hand.node.handle_timer(10)
    gossip = [m for _, m in hand.sent_of(Gossip)]
    facts = [u for g in gossip for u in g.updates if u.node_id == 0]  # type: ignore
    assert facts and facts[0].meta == new_meta


def test_metadata_of_others_changes_only_with_their_incarnation() -> None:
    hand = joined(3)
    newer = meta(2, software_version="9")
    hand.deliver(Gossip(2, [MemberUpdate(2, MemberState.ALIVE, 0, 0, 2, newer)]), 0)
    assert hand.node.members.get(2).meta == meta(2)  # type: ignore[union-attr]
    hand.deliver(Gossip(2, [MemberUpdate(2, MemberState.ALIVE, 1, 0, 2, newer)]), 0)
    assert hand.node.members.get(2).meta == newer  # type: ignore[union-attr]
    change = [e for e in hand.events if e.node_id == 2][-1]
    assert change.previous is change.current is MemberState.ALIVE and change.meta == newer


def test_piggyback_never_exceeds_one_datagram() -> None:
    config = SwimConfig()
    hand = joined(40, config)  # 39 fresh facts queued: far more than one datagram holds
    hand.deliver(Ping(1, 1, addr(1), 0), 0)
    hand.node.handle_timer(0)
    frames = hand.transport.take()
    unreliable = [o for o in frames if not o.reliable]
    assert unreliable and all(len(o.frame) <= config.udp_frame_bytes_max for o in unreliable)
    assert max(len(o.frame) for o in unreliable) > config.udp_frame_bytes_max // 2


def test_bad_frames_are_counted_not_raised() -> None:
    hand = joined(3)
    hand.node.receive_frame(addr(9), b"\x00\x00\x00\x05garbage", 0)
    from marmotdb.peer.codec import FrameCodec

    intruder = FrameCodec([b"the-wrong-secret-entirely"])
    hand.node.receive_frame(addr(9), intruder.encode(Ping(1, 9, addr(9), 0)), 0)
    assert hand.sent_of(Ack) == []
    assert hand.node.stats.frames_rejected == {"MalformedFrameError": 1, "FrameAuthError": 1}


def test_periodic_push_pull_goes_to_a_live_member_and_reconnect_to_a_dead_one() -> None:
    config = SwimConfig()
    hand = joined(4, config)
    hand.deliver(Gossip(1, [MemberUpdate(3, MemberState.DEAD, 0, 0, 1)]), 0)
    hand.sent()
    targets: dict[bool, set[object]] = {True: set(), False: set()}
    for t in range(0, 2 * config.push_pull_interval_ms, 100):
        hand.node.handle_timer(t)
        for dest, msg, reliable in hand.sent():
            if isinstance(msg, Ping):
                hand.deliver(Ack(msg.seq, msg.target_id), t)
            if isinstance(msg, PushPullRequest):
                assert reliable and not msg.join
                targets[dest == addr(3)].add(dest)
    assert targets[True] == {addr(3)}  # reconnect: the DEAD member
    assert targets[False] and targets[False] <= {addr(1), addr(2)}  # sync: live members


def test_push_pull_request_is_answered_with_the_whole_table() -> None:
    hand = joined(4)
    hand.deliver(PushPullRequest(7, addr(7), True, [alive(7)]), 10)
    (dest, response, reliable), = hand.sent()
    assert dest == addr(7) and reliable and isinstance(response, PushPullResponse)
    assert [u.node_id for u in response.members] == [0, 1, 2, 3, 7]
    assert all(u.meta is not None for u in response.members)


def test_wrong_secret_is_logged_once_per_interval_per_source(caplog) -> None:  # type: ignore
    from marmotdb.peer.codec import FrameCodec

    hand = joined(3)
    intruder = FrameCodec([b"the-wrong-secret-entirely"]).encode(Ping(1, 9, addr(9), 0))
    with caplog.at_level("WARNING", logger="marmotdb.cluster"):
        for t in range(0, 1000, 100):
            hand.node.receive_frame(addr(9), intruder, t)
    warnings = [r for r in caplog.records if "rejected peer frame" in r.getMessage()]
    assert len(warnings) == 1 and "10.0.0.9:7946" in warnings[0].getMessage()
    assert hand.node.stats.frames_rejected == {"FrameAuthError": 10}
