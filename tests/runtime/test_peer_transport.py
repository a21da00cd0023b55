"""PeerTransport and AsyncPeerEndpoint over real loopback sockets, in one process: datagrams,
streams, pipelined requests with deadlines, late replies, the secret handshake, reconnection,
bounds, faults and TLS."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import uvloop

from marmotdb.peer import NodeAddr
from marmotdb.runtime import tls
from marmotdb.runtime.faults import FaultInjector, parse_rules
from marmotdb.runtime.peer_transport import (
    AsyncPeerEndpoint,
    DeadlineTimer,
    Kind,
    LoopClock,
    PeerRequestError,
    PeerSettings,
    PeerTimeoutError,
    PeerTransport,
    PeerUnavailableError,
    encode_envelope,
)
from tests.peer.example import CODEC, SECRET, Echo, EchoReply, Note

pytestmark = pytest.mark.integration

LOCAL = "127.0.0.1"


def run(test: Callable[[], Awaitable[None]]) -> None:
    uvloop.run(asyncio.wait_for(test(), 30))


def frame(n: int) -> bytes:
    """A real peer frame carrying ``n`` (to check order and identity)."""
    return CODEC.encode(EchoReply(n))


def number_of(data: bytes) -> int:
    message = CODEC.decode(data)
    assert isinstance(message, EchoReply)
    return message.n


class Inbox:
    def __init__(self) -> None:
        self.frames: list[tuple[NodeAddr, bytes, bool]] = []
        self.changed = asyncio.Event()

    def __call__(self, src: NodeAddr, data: bytes, reliable: bool) -> None:
        self.frames.append((src, data, reliable))
        self.changed.set()

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.frames) < count:
                self.changed.clear()
                await self.changed.wait()


async def transport(secret: bytes = SECRET, port: int = 0, faults: FaultInjector | None = None,
                    settings: PeerSettings | None = None, **kwargs: Any) -> PeerTransport:
    peer = PeerTransport(NodeAddr(LOCAL, port), [secret], faults=faults,
                         settings=settings or PeerSettings(backoff_min_ms=20, backoff_max_ms=100),
                         rng=random.Random(1), **kwargs)
    await peer.start()
    return peer


async def endpoint(secret: bytes = SECRET, **kwargs: Any) -> AsyncPeerEndpoint:
    from marmotdb.peer import FrameCodec
    from tests.peer.example import REGISTRY
    peer = await transport(secret, **kwargs)
    return AsyncPeerEndpoint(peer, FrameCodec([secret], registry=REGISTRY), random.Random(1))


async def echo(src: NodeAddr, message: msgspec.Struct) -> msgspec.Struct:
    assert isinstance(message, Echo)
    return EchoReply(message.n)


async def close(*endpoints: AsyncPeerEndpoint) -> None:
    for end in endpoints:
        await end.close()
        await end.transport.close()


def test_datagrams_and_stream_frames_reach_the_receiver() -> None:
    async def scenario() -> None:
        a, b = await transport(), await transport()
        inbox = Inbox()
        b.set_receiver(inbox)
        a.send(b.bind_addr, frame(1), reliable=False)
        a.send(b.bind_addr, frame(2), reliable=True)
        await inbox.wait_for(2)
        assert sorted((number_of(f), reliable) for _, f, reliable in inbox.frames) == [
            (1, False), (2, True)]
        # Both paths name the sender by its peer address (datagram source / handshake).
        assert {src for src, _, _ in inbox.frames} == {a.bind_addr}
        assert a.stats.udp_frames_sent == 1 and a.stats.tcp_frames_sent == 1
        assert b.stats.connects == 0 and a.stats.connects == 1
        await a.close()
        await b.close()

    run(scenario)


def test_stream_frames_keep_their_order() -> None:
    async def scenario() -> None:
        a, b = await transport(), await transport()
        inbox = Inbox()
        b.set_receiver(inbox)
        for n in range(300):
            a.send(b.bind_addr, frame(n), reliable=True)
        await inbox.wait_for(300)
        assert [number_of(f) for _, f, _ in inbox.frames] == list(range(300))
        await a.close()
        await b.close()

    run(scenario)


def test_pipelined_requests_are_matched_to_their_answers() -> None:
    async def scenario() -> None:
        a, b = await endpoint(), await endpoint()
        rng = random.Random(5)

        async def echo_later(src: NodeAddr, message: msgspec.Struct) -> msgspec.Struct:
            assert isinstance(message, Echo) and src == a.transport.bind_addr
            await asyncio.sleep(rng.random() / 50)  # answers come back out of order
            return EchoReply(message.n * 10)

        b.on_request([Echo], echo_later)
        answers = await asyncio.gather(*(a.request(b.transport.bind_addr, Echo(n))
                                         for n in range(200)))
        assert answers == [EchoReply(n * 10) for n in range(200)]
        assert a.transport.stats.connects == 1  # one connection carried all of them
        assert a.endpoint.stats.requests_replied == 200 and a.endpoint.requests_in_flight == 0
        await close(a, b)

    run(scenario)


def test_requests_and_answers_can_travel_as_datagrams() -> None:
    async def scenario() -> None:
        a, b = await endpoint(), await endpoint()
        b.on_request([Echo], echo)
        assert await a.request(b.transport.bind_addr, Echo(4), reliable=False) == EchoReply(4)
        assert a.transport.stats.connects == b.transport.stats.connects == 0
        await close(a, b)

    run(scenario)


def test_handler_failure_reaches_the_requester_and_the_server_lives() -> None:
    async def scenario() -> None:
        a, b = await endpoint(), await endpoint()

        async def broken(src: NodeAddr, message: msgspec.Struct) -> msgspec.Struct:
            raise RuntimeError("handler exploded")

        b.on_request([Echo], broken)
        with pytest.raises(PeerRequestError, match="handler exploded"):
            await a.request(b.transport.bind_addr, Echo(1))
        with pytest.raises(PeerRequestError, match="no handler for Note"):
            await a.request(b.transport.bind_addr, Note("hi"))
        b.on_request([Echo], echo)
        assert await a.request(b.transport.bind_addr, Echo(3)) == EchoReply(3)
        await close(a, b)

    with pytest.MonkeyPatch.context() as patch:  # the traceback of the failure is expected
        patch.setattr(logging.getLogger("marmotdb.peer"), "disabled", True)
        run(scenario)


def test_an_answer_after_the_deadline_is_a_timeout_then_a_late_reply() -> None:
    async def scenario() -> None:
        a, b = await endpoint(), await endpoint()

        async def slow(src: NodeAddr, message: msgspec.Struct) -> msgspec.Struct:
            await asyncio.sleep(0.3)
            return EchoReply(0)

        b.on_request([Echo], slow)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(PeerTimeoutError, match="timed-out"):
            await a.request(b.transport.bind_addr, Echo(1), timeout_ms=100)
        assert 0.09 <= loop.time() - started < 0.25
        await asyncio.sleep(0.4)
        assert a.endpoint.stats.late_replies == 1 and a.endpoint.stats.requests_timed_out == 1
        await close(a, b)

    run(scenario)


def test_cancelling_the_awaiting_task_cancels_the_request() -> None:
    async def scenario() -> None:
        a, b = await endpoint(), await endpoint()
        b.on_request([Echo], lambda src, message: asyncio.sleep(0.2, EchoReply(0)))
        waiting = asyncio.create_task(a.request(b.transport.bind_addr, Echo(1)))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert a.endpoint.stats.requests_cancelled == 1 and a.endpoint.requests_in_flight == 0
        await asyncio.sleep(0.3)
        assert a.endpoint.stats.late_replies == 1
        await close(a, b)

    run(scenario)


def test_one_way_messages_reach_their_handler() -> None:
    async def scenario() -> None:
        a, b = await endpoint(), await endpoint()
        got: asyncio.Queue[tuple[NodeAddr, msgspec.Struct]] = asyncio.Queue()
        b.on_message([Note], lambda src, message: got.put_nowait((src, message)))
        a.send(b.transport.bind_addr, Note("hello"))
        assert await asyncio.wait_for(got.get(), 5) == (a.transport.bind_addr, Note("hello"))
        await close(a, b)

    run(scenario)


def test_wrong_secret_is_refused_logged_and_counted_on_both_sides(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        good = await endpoint()
        bad = await endpoint(secret=b"some-other-secret-0123456789")
        good.on_request([Echo], echo)
        with pytest.raises(PeerUnavailableError, match="cannot connect"):
            await bad.request(good.transport.bind_addr, Echo(1))
        await asyncio.sleep(0.2)
        assert good.endpoint.stats.requests_received == 0  # nothing got past the handshake
        assert good.transport.stats.handshakes_refused >= 1
        assert bad.transport.stats.handshakes_refused >= 1
        # The good node still serves a peer with the right secret.
        other = await endpoint()
        assert await other.request(good.transport.bind_addr, Echo(5)) == EchoReply(5)
        await close(good, bad, other)

    with caplog.at_level(logging.WARNING, logger="marmotdb.peer"):
        run(scenario)
    assert any("wrong cluster secret" in r.getMessage() for r in caplog.records)


def test_garbage_and_oversized_envelopes_close_only_that_connection() -> None:
    async def scenario() -> None:
        server = await endpoint(settings=PeerSettings(frame_bytes_max=4096))
        server.on_request([Echo], echo)
        for junk in (b"\x00" * 64, struct.pack(">IB", 10**9, Kind.HELLO),
                     encode_envelope(Kind.MESSAGE, b"before any handshake")):
            reader, writer = await asyncio.open_connection(LOCAL, server.transport.bind_addr.port)
            writer.write(junk)
            await writer.drain()
            async with asyncio.timeout(3):
                await reader.read()  # the server closes it
            writer.close()
        client = await endpoint()
        assert await client.request(server.transport.bind_addr, Echo(9)) == EchoReply(9)
        await close(client, server)

    run(scenario)


def test_unreachable_peer_fails_fast_then_reconnects_when_it_returns() -> None:
    async def scenario() -> None:
        with socket.socket() as probe:
            probe.bind((LOCAL, 0))
            port = probe.getsockname()[1]
        a = await endpoint()
        dest = NodeAddr(LOCAL, port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(PeerUnavailableError, match="cannot connect"):
            await a.request(dest, Echo(1), timeout_ms=3000)
        assert loop.time() - started < 2  # not at the deadline
        assert a.transport.stats.connect_failures >= 1
        b = await endpoint(port=port)
        b.on_request([Echo], echo)
        async with asyncio.timeout(5):
            while True:  # retried after the backoff
                try:
                    assert await a.request(dest, Echo(2)) == EchoReply(2)
                    break
                except PeerUnavailableError:
                    await asyncio.sleep(0.05)
        await close(b)  # the peer goes away: later requests fail, no hang
        with pytest.raises(PeerUnavailableError):
            await a.request(dest, Echo(3), timeout_ms=2000)
        await close(a)

    run(scenario)


def test_link_queue_is_bounded() -> None:
    async def scenario() -> None:
        a = await transport(settings=PeerSettings(queue_frames_max=10, connect_timeout_ms=500))
        blackhole = NodeAddr("192.0.2.1", 9)  # TEST-NET-1: the connect hangs until timeout
        for n in range(50):
            a.send(blackhole, frame(n), reliable=True)
        assert a.stats.frames_dropped_queue_full == 40
        await a.close()

    run(scenario)


def test_partition_rule_silences_both_paths_until_healed() -> None:
    async def scenario() -> None:
        faults = FaultInjector(parse_rules(["peer=*;partition=1"]), random.Random(1))
        a, b = await endpoint(faults=faults), await endpoint()
        inbox: list[msgspec.Struct] = []
        b.on_message([Note], lambda src, message: inbox.append(message))
        b.on_request([Echo], echo)
        a.send(b.transport.bind_addr, Note("1"), reliable=False)
        a.send(b.transport.bind_addr, Note("2"), reliable=True)
        with pytest.raises(PeerTimeoutError):
            await a.request(b.transport.bind_addr, Echo(3), timeout_ms=300)
        assert inbox == []
        faults.set_rules([])
        assert await a.request(b.transport.bind_addr, Echo(5)) == EchoReply(5)
        await close(a, b)

    run(scenario)


def test_inbound_rule_drops_what_arrives_from_one_peer_only() -> None:
    async def scenario() -> None:
        a, c = await transport(), await transport()
        b = await transport()
        b.faults.set_rules(parse_rules([f"peer={a.bind_addr};direction=in;partition=1"]))
        inbox = Inbox()
        b.set_receiver(inbox)
        a.send(b.bind_addr, frame(1), reliable=False)
        a.send(b.bind_addr, frame(2), reliable=True)  # keyed by the handshake's listen addr
        c.send(b.bind_addr, frame(3), reliable=True)
        await inbox.wait_for(1)
        await asyncio.sleep(0.2)
        assert [number_of(f) for _, f, _ in inbox.frames] == [3]
        for peer in (a, b, c):
            await peer.close()

    run(scenario)


def test_delayed_stream_frames_arrive_late_and_in_order() -> None:
    async def scenario() -> None:
        faults = FaultInjector(parse_rules(["peer=*;delay_ms=100;jitter_ms=80"]),
                               random.Random(2))
        a, b = await transport(faults=faults), await transport()
        inbox = Inbox()
        b.set_receiver(inbox)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(50):
            a.send(b.bind_addr, frame(n), reliable=True)
        await inbox.wait_for(50)
        assert loop.time() - started >= 0.1
        assert [number_of(f) for _, f, _ in inbox.frames] == list(range(50))
        await a.close()
        await b.close()

    run(scenario)


def test_duplicated_datagrams_arrive_twice() -> None:
    async def scenario() -> None:
        faults = FaultInjector(parse_rules(["peer=*;duplicate=1"]), random.Random(3))
        a, b = await transport(faults=faults), await transport()
        inbox = Inbox()
        b.set_receiver(inbox)
        a.send(b.bind_addr, frame(7), reliable=False)
        await inbox.wait_for(2)
        assert [number_of(f) for _, f, _ in inbox.frames] == [7, 7]
        await a.close()
        await b.close()

    run(scenario)


def test_tls_links_carry_requests(tmp_path: Path) -> None:
    async def scenario() -> None:
        server_ssl = tls.server_context(tmp_path, "", "")
        client_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ssl.check_hostname = False
        client_ssl.verify_mode = ssl.CERT_NONE
        a = await endpoint(server_ssl=server_ssl, client_ssl=client_ssl)
        b = await endpoint(server_ssl=server_ssl, client_ssl=client_ssl)
        b.on_request([Echo], echo)
        assert await a.request(b.transport.bind_addr, Echo(11)) == EchoReply(11)
        plain = await endpoint()  # a peer without TLS cannot talk to a TLS listener
        with pytest.raises(PeerUnavailableError):
            await plain.request(b.transport.bind_addr, Echo(12), timeout_ms=1000)
        await close(a, b, plain)

    run(scenario)


def test_a_deadline_timer_keeps_firing_after_its_work_raised() -> None:
    """One deadline's work that raises (logged by the loop) must not stop every later
    deadline: a node's whole protocol runs on this one timer."""
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        clock = LoopClock(0, loop)
        due = [clock.now_ms() + 5, clock.now_ms() + 10]
        fired: list[int] = []

        def fire(now_ms: int) -> None:
            fired.append(due.pop(0))
            if len(fired) == 1:
                raise RuntimeError("the first deadline's work failed")
        timer = DeadlineTimer(clock, lambda: due[0] if due else None, fire)
        loop.set_exception_handler(lambda _loop, _context: None)
        timer.arm()
        for _ in range(100):
            if len(fired) == 2:
                break
            await asyncio.sleep(0.005)
        timer.cancel()
        return fired
    assert len(uvloop.run(main())) == 2
