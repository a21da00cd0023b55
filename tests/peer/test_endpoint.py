"""PeerEndpoint driven by hand on the in-memory network: replies matched by correlation id,
deadlines, late and duplicate replies, failures, bounds, one-way messages and raw routing."""

from __future__ import annotations

import random

import pytest

from marmotdb.peer import (
    NEVER_MS,
    EndpointSettings,
    FrameKind,
    InMemoryTransport,
    Outcome,
    PeerEndpoint,
    PeerOverloadedError,
)
from tests.peer.example import CODEC, Echo, EchoReply, Note, Pair, addr


def test_a_request_is_answered_and_matched_by_its_correlation_id() -> None:
    pair = Pair()
    first, second = pair.ask(1, now_ms=5), pair.ask(2, now_ms=5)
    assert first != second and pair.a.requests_in_flight == 2
    pair.network.deliver_all(7)
    assert [(c.correlation_id, c.outcome, c.reply) for c in pair.done] == [
        (first, Outcome.REPLIED, EchoReply(1)), (second, Outcome.REPLIED, EchoReply(2))]
    done = pair.done[0]
    assert done.peer == addr(2) and done.request == Echo(1)
    assert (done.sent_ms, done.done_ms) == (5, 7)
    assert pair.a.requests_in_flight == 0 and pair.a.next_deadline_ms() == NEVER_MS
    assert pair.a.stats.requests_replied == 2 and pair.b.stats.requests_received == 2


def test_a_request_without_an_answer_times_out_at_its_deadline_and_the_late_reply_is_dropped(
        ) -> None:
    pair = Pair()
    pair.network.blocked.add((addr(2), addr(1)))  # B's answers are lost
    pair.ask(1, now_ms=0, deadline_ms=300)
    pair.network.deliver_all(0)
    assert pair.a.next_deadline_ms() == 300
    pair.a.handle_timer(299)
    assert pair.done == []
    pair.a.handle_timer(300)
    (done,) = pair.done
    assert done.outcome is Outcome.TIMED_OUT and done.reply is None and done.done_ms == 300
    # The answer arrives after all: counted as late, and on_done is not called again.
    late = pair.b.stats.frames_sent
    pair.network.blocked.clear()
    pair.a.receive_frame(addr(2), CODEC.encode(EchoReply(1), FrameKind.RESPONSE,
                                               done.correlation_id), 400)
    assert late == 1 and pair.a.stats.late_replies == 1 and len(pair.done) == 1
    pair.a.handle_timer(10_000)
    assert len(pair.done) == 1 and pair.a.stats.requests_timed_out == 1


def test_duplicate_and_unmatched_replies_are_counted_and_ignored() -> None:
    pair = Pair()
    transport = InMemoryTransport(addr(2))
    b = PeerEndpoint(CODEC, transport, random.Random(3))
    b.on_request([Echo], lambda request, now_ms: b.reply(request, EchoReply(9)))
    correlation_id = pair.ask(9)
    (outgoing,) = pair.network._in_flight
    b.receive_frame(addr(1), outgoing.frame, 0)
    (answer,) = transport.take()
    for _ in range(3):  # a duplicated datagram
        pair.a.receive_frame(addr(2), answer.frame, 1)
    assert [c.outcome for c in pair.done] == [Outcome.REPLIED]
    assert pair.a.stats.duplicate_replies == 2
    pair.a.receive_frame(addr(2), CODEC.encode(EchoReply(0), FrameKind.RESPONSE,
                                               correlation_id + 1000), 1)
    assert pair.a.stats.unmatched_replies == 1


def test_a_duplicate_request_while_it_is_being_served_runs_once() -> None:
    pair = Pair()
    held = []
    pair.b.on_request([Echo], lambda request, now_ms: held.append(request))
    pair.ask(4)
    (outgoing,) = list(pair.network._in_flight)
    pair.network.deliver_all(0)
    pair.b.receive_frame(addr(1), outgoing.frame, 1)  # the same request again
    assert len(held) == 1 and pair.b.stats.duplicate_requests == 1
    assert pair.b.requests_being_served == 1
    pair.b.reply(held[0], EchoReply(40))  # answered later, from outside the handler
    with pytest.raises(ValueError, match="already answered"):
        pair.b.reply(held[0], EchoReply(41))
    pair.network.deliver_all(2)
    assert [c.reply for c in pair.done] == [EchoReply(40)]


def test_failures_are_reported_as_failed_with_the_reason() -> None:
    pair = Pair()
    pair.b.on_request([Echo], lambda request, now_ms: pair.b.reply_failure(request, "disk full"))
    pair.ask(1)
    pair.a.request(addr(2), Note("nobody answers notes"), 100, 0, pair.done.append)
    pair.network.deliver_all(1)
    assert [(c.outcome, c.reason) for c in pair.done] == [
        (Outcome.FAILED, "disk full"), (Outcome.FAILED, "no handler for Note")]
    assert pair.b.stats.requests_unhandled == 1 and pair.a.stats.requests_failed == 2


def test_unreachable_cancelled_and_closed_requests_end_once() -> None:
    pair = Pair()
    pair.network.detach(addr(2))
    first, second, third = pair.ask(1), pair.ask(2), pair.ask(3)
    assert pair.a.cancel(second, 1) and not pair.a.cancel(second, 1)
    assert pair.a.fail_peer(addr(2), "connection refused", 2) == 2
    assert [(c.correlation_id, c.outcome) for c in pair.done] == [
        (second, Outcome.CANCELLED), (first, Outcome.UNREACHABLE), (third, Outcome.UNREACHABLE)]
    pair.ask(4)
    pair.a.close(3)
    assert pair.done[-1].outcome is Outcome.CANCELLED and pair.a.requests_in_flight == 0
    pair.a.handle_timer(5000)
    assert len(pair.done) == 4


def test_one_way_messages_reach_their_handler() -> None:
    pair = Pair()
    notes = []
    pair.b.on_message([Note], lambda src, message, now_ms: notes.append((src, message)))
    pair.a.send(addr(2), Note("hello"))
    pair.a.send(addr(2), EchoReply(3))  # nobody listens for this one
    pair.network.deliver_all(0)
    assert notes == [(addr(1), Note("hello"))] and pair.b.stats.messages_unhandled == 1


def test_frames_with_claimed_tags_go_undecoded_to_their_receiver() -> None:
    pair = Pair()
    raw = []
    pair.b.add_frame_receiver([0xFF02], lambda src, frame, now_ms: raw.append(frame))
    frame = CODEC.encode(Note("for the receiver"))
    pair.b.receive_frame(addr(1), frame, 0)
    assert raw == [frame] and pair.b.stats.frames_received == 0


def test_bad_frames_are_counted_not_raised() -> None:
    pair = Pair()
    pair.b.receive_frame(addr(9), b"\x00\x00\x00\x05garbage", 0)
    from marmotdb.peer import FrameCodec
    from tests.peer.example import REGISTRY
    intruder = FrameCodec([b"the-wrong-secret-entirely"], registry=REGISTRY)
    pair.b.receive_frame(addr(9), intruder.encode(Echo(1), FrameKind.REQUEST, 5), 0)
    assert pair.b.stats.frames_rejected == {"MalformedFrameError": 1, "FrameAuthError": 1}
    assert pair.served == []


def test_bounds_refuse_instead_of_growing() -> None:
    pair = Pair(EndpointSettings(requests_in_flight_max=2, requests_served_max=1))
    pair.b.on_request([Echo], lambda request, now_ms: None)  # never answers: slots stay taken
    pair.ask(1)
    pair.ask(2)
    with pytest.raises(PeerOverloadedError):
        pair.ask(3)
    pair.network.deliver_all(1)
    assert [(c.outcome, c.reason) for c in pair.done] == [(Outcome.FAILED, "busy")]
    assert pair.b.stats.requests_refused_busy == 1
    with pytest.raises(ValueError, match="not after now"):
        pair.a.request(addr(2), Echo(0), 5, 5, pair.done.append)


def test_request_or_fail_beyond_the_bound_sends_nothing_and_fails_at_the_next_timer() -> None:
    pair = Pair(EndpointSettings(requests_in_flight_max=1))
    pair.b.on_request([Echo], lambda request, now_ms: None)  # never answers: the slot stays
    pair.a.request_or_fail(addr(2), Echo(1), 1000, 5, pair.done.append)  # within the bound
    sent = pair.a.stats.frames_sent
    pair.a.request_or_fail(addr(2), Echo(2), 1000, 5, pair.done.append)  # beyond it
    assert pair.a.stats.frames_sent == sent and pair.done == []  # not sent, not called yet
    assert pair.a.stats.requests_refused == 1 and pair.a.next_deadline_ms() == 5
    pair.a.handle_timer(5)
    assert [(c.request, c.outcome) for c in pair.done] == [(Echo(2), Outcome.TIMED_OUT)]
    assert pair.a.requests_in_flight == 1  # the first one still waits for its deadline


def test_the_deadline_heap_stays_bounded_when_requests_are_answered() -> None:
    pair = Pair()
    for n in range(5000):
        pair.ask(n, now_ms=n, deadline_ms=n + 60_000)
        pair.network.deliver_all(n)
    assert len(pair.done) == 5000 and all(c.outcome is Outcome.REPLIED for c in pair.done)
    assert len(pair.a._deadlines) <= 64 + 2
    assert len(pair.a._finished) == pair.a.settings.finished_ids_max


def test_on_done_may_send_the_next_request() -> None:
    pair = Pair()
    replies = []

    def chain(done) -> None:  # type: ignore[no-untyped-def]
        replies.append(done.reply)
        if len(replies) < 3:
            pair.a.request(addr(2), Echo(len(replies)), 1000, 0, chain)

    pair.a.request(addr(2), Echo(0), 1000, 0, chain)
    pair.network.deliver_all(0)
    assert replies == [EchoReply(0), EchoReply(1), EchoReply(2)]


def test_correlation_ids_start_where_the_random_stream_says() -> None:
    first = Pair(seed=10).ask(1)
    again = Pair(seed=10).ask(1)
    other_life = Pair(seed=11).ask(1)
    assert first == again != other_life
