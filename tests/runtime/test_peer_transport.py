"""PeerTransport over real loopback sockets, in one process: datagrams, streams, pipelined
requests, the secret handshake, reconnection, bounds, faults and TLS."""

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

import pytest
import uvloop

from marmotdb.cluster.codec import FrameCodec
from marmotdb.cluster.messages import Gossip, MemberState, MemberUpdate, NodeAddr, NodeMeta, Ping
from marmotdb.runtime import tls
from marmotdb.runtime.faults import FaultInjector, parse_rules
from marmotdb.runtime.peer_transport import (
    Kind,
    PeerRequestError,
    PeerSettings,
    PeerTransport,
    PeerUnavailableError,
    encode_envelope,
)

pytestmark = pytest.mark.integration

SECRET = b"transport-test-secret-0123456789"
CODEC = FrameCodec([SECRET])
LOCAL = "127.0.0.1"
GOSSIP_CODE, PING_CODE = 5, 1


def run(test: Callable[[], Awaitable[None]]) -> None:
    uvloop.run(asyncio.wait_for(test(), 30))


def gossip(n: int) -> bytes:
    """A real codec frame whose payload carries ``n`` (to check order and identity)."""
    update = MemberUpdate(f"n{n}", MemberState.ALIVE, n, 0, "t", NodeMeta(NodeAddr(LOCAL, 1)))
    return CODEC.encode(Gossip("t", [update]))


def number_of(frame: bytes) -> int:
    message = CODEC.decode(frame)
    assert isinstance(message, Gossip)
    return message.updates[0].incarnation


class Inbox:
    def __init__(self) -> None:
        self.frames: list[tuple[NodeAddr, bytes]] = []
        self.changed = asyncio.Event()

    def __call__(self, src: NodeAddr, frame: bytes) -> None:
        self.frames.append((src, frame))
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


def test_datagrams_and_stream_messages_reach_the_receiver_for_their_type_code() -> None:
    async def scenario() -> None:
        a, b = await transport(), await transport()
        gossip_inbox, ping_inbox = Inbox(), Inbox()
        b.add_receiver([GOSSIP_CODE], gossip_inbox)
        b.add_receiver([PING_CODE], ping_inbox)
        a.send(b.bind_addr, gossip(1), reliable=False)
        a.send(b.bind_addr, gossip(2), reliable=True)
        a.send(b.bind_addr, CODEC.encode(Ping(1, "a", a.bind_addr, "b")), reliable=False)
        await gossip_inbox.wait_for(2)
        await ping_inbox.wait_for(1)
        assert sorted(number_of(f) for _, f in gossip_inbox.frames) == [1, 2]
        # Both paths name the sender by its peer address (datagram source / handshake).
        assert {src for src, _ in gossip_inbox.frames} == {a.bind_addr}
        assert a.stats.udp_frames_sent == 2 and a.stats.tcp_frames_sent == 1
        assert b.stats.connects == 0 and a.stats.connects == 1
        await a.close()
        await b.close()

    run(scenario)


def test_stream_messages_keep_their_order() -> None:
    async def scenario() -> None:
        a, b = await transport(), await transport()
        inbox = Inbox()
        b.add_receiver([GOSSIP_CODE], inbox)
        for n in range(300):
            a.send(b.bind_addr, gossip(n), reliable=True)
        await inbox.wait_for(300)
        assert [number_of(f) for _, f in inbox.frames] == list(range(300))
        await a.close()
        await b.close()

    run(scenario)


def test_pipelined_requests_are_matched_to_their_answers() -> None:
    async def scenario() -> None:
        a, b = await transport(), await transport()
        rng = random.Random(5)

        async def echo_later(src: NodeAddr, frame: bytes) -> bytes:
            await asyncio.sleep(rng.random() / 50)  # answers come back out of order
            return gossip(number_of(frame) * 10)

        b.add_request_handler([GOSSIP_CODE], echo_later)
        answers = await asyncio.gather(*(a.request(b.bind_addr, gossip(n)) for n in range(200)))
        assert [number_of(f) for f in answers] == [n * 10 for n in range(200)]
        assert a.stats.connects == 1  # one connection carried all of them
        await a.close()
        await b.close()

    run(scenario)


def test_handler_failure_reaches_the_requester_and_the_server_lives() -> None:
    async def scenario() -> None:
        a, b = await transport(), await transport()

        async def broken(src: NodeAddr, frame: bytes) -> bytes:
            raise RuntimeError("handler exploded")

        b.add_request_handler([GOSSIP_CODE], broken)
        with pytest.raises(PeerRequestError, match="handler exploded"):
            await a.request(b.bind_addr, gossip(1))
        with pytest.raises(PeerRequestError, match="no handler"):
            await a.request(b.bind_addr, CODEC.encode(Ping(1, "a", a.bind_addr, "b")))
        b.add_request_handler([GOSSIP_CODE], _echo)
        assert number_of(await a.request(b.bind_addr, gossip(3))) == 3
        await a.close()
        await b.close()

    run(scenario)


async def _echo(src: NodeAddr, frame: bytes) -> bytes:
    return frame


def test_wrong_secret_is_refused_logged_and_counted_on_both_sides(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        good, bad = await transport(), await transport(secret=b"some-other-secret-0123456789")
        inbox = Inbox()
        good.add_receiver([GOSSIP_CODE], inbox)
        good.add_request_handler([GOSSIP_CODE], _echo)
        with pytest.raises(PeerUnavailableError):
            await bad.request(good.bind_addr, gossip(1))
        bad.send(good.bind_addr, gossip(2), reliable=True)
        await asyncio.sleep(0.3)
        assert inbox.frames == []  # nothing got past the handshake
        assert good.stats.handshakes_refused >= 1 and bad.stats.handshakes_refused >= 1
        # The good node still serves a peer with the right secret.
        other = await transport()
        assert number_of(await other.request(good.bind_addr, gossip(5))) == 5
        for peer in (good, bad, other):
            await peer.close()

    with caplog.at_level(logging.WARNING, logger="marmotdb.peer"):
        run(scenario)
    assert any("wrong cluster secret" in r.getMessage() for r in caplog.records)


def test_garbage_and_oversized_envelopes_close_only_that_connection() -> None:
    async def scenario() -> None:
        settings = PeerSettings(frame_bytes_max=4096)
        server = await transport(settings=settings)
        server.add_request_handler([GOSSIP_CODE], _echo)
        for junk in (b"\x00" * 64, struct.pack(">IBQ", 10**9, Kind.HELLO, 0),
                     encode_envelope(Kind.MESSAGE, 0, b"before any handshake")):
            reader, writer = await asyncio.open_connection(LOCAL, server.bind_addr.port)
            writer.write(junk)
            await writer.drain()
            async with asyncio.timeout(3):
                await reader.read()  # the server closes it
            writer.close()
        client = await transport()
        assert number_of(await client.request(server.bind_addr, gossip(9))) == 9
        await client.close()
        await server.close()

    run(scenario)


def test_unreachable_peer_fails_fast_then_reconnects_when_it_returns() -> None:
    async def scenario() -> None:
        with socket.socket() as probe:
            probe.bind((LOCAL, 0))
            port = probe.getsockname()[1]
        a = await transport()
        dest = NodeAddr(LOCAL, port)
        with pytest.raises(PeerUnavailableError, match="cannot connect"):
            await a.request(dest, gossip(1), timeout_ms=3000)
        assert a.stats.connect_failures >= 1
        b = await transport(port=port)
        b.add_request_handler([GOSSIP_CODE], _echo)
        async with asyncio.timeout(5):
            while True:  # retried after the backoff
                try:
                    assert number_of(await a.request(dest, gossip(2))) == 2
                    break
                except PeerUnavailableError:
                    await asyncio.sleep(0.05)
        await b.close()  # the peer goes away: in-flight and later requests fail, no hang
        with pytest.raises(PeerUnavailableError):
            await a.request(dest, gossip(3), timeout_ms=2000)
        await a.close()

    run(scenario)


def test_link_queue_is_bounded() -> None:
    async def scenario() -> None:
        a = await transport(settings=PeerSettings(queue_frames_max=10, connect_timeout_ms=500))
        blackhole = NodeAddr("192.0.2.1", 9)  # TEST-NET-1: the connect hangs until timeout
        for n in range(50):
            a.send(blackhole, gossip(n), reliable=True)
        assert a.stats.frames_dropped_queue_full == 40
        await a.close()

    run(scenario)


def test_partition_rule_silences_both_paths_until_healed() -> None:
    async def scenario() -> None:
        faults = FaultInjector(parse_rules(["peer=*;partition=1"]), random.Random(1))
        a, b = await transport(faults=faults), await transport()
        inbox = Inbox()
        b.add_receiver([GOSSIP_CODE], inbox)
        b.add_request_handler([GOSSIP_CODE], _echo)
        a.send(b.bind_addr, gossip(1), reliable=False)
        a.send(b.bind_addr, gossip(2), reliable=True)
        with pytest.raises(PeerUnavailableError, match="timed out"):
            await a.request(b.bind_addr, gossip(3), timeout_ms=300)
        assert inbox.frames == []
        faults.set_rules([])
        a.send(b.bind_addr, gossip(4), reliable=False)
        await inbox.wait_for(1)
        assert number_of(await a.request(b.bind_addr, gossip(5))) == 5
        await a.close()
        await b.close()

    run(scenario)


def test_inbound_rule_drops_what_arrives_from_one_peer_only() -> None:
    async def scenario() -> None:
        a, c = await transport(), await transport()
        b = await transport()
        b.faults.set_rules(parse_rules([f"peer={a.bind_addr};direction=in;partition=1"]))
        inbox = Inbox()
        b.add_receiver([GOSSIP_CODE], inbox)
        a.send(b.bind_addr, gossip(1), reliable=False)
        a.send(b.bind_addr, gossip(2), reliable=True)  # keyed by the handshake's listen addr
        c.send(b.bind_addr, gossip(3), reliable=True)
        await inbox.wait_for(1)
        await asyncio.sleep(0.2)
        assert [number_of(f) for _, f in inbox.frames] == [3]
        for peer in (a, b, c):
            await peer.close()

    run(scenario)


def test_delayed_stream_frames_arrive_late_and_in_order() -> None:
    async def scenario() -> None:
        faults = FaultInjector(parse_rules(["peer=*;delay_ms=100;jitter_ms=80"]),
                               random.Random(2))
        a, b = await transport(faults=faults), await transport()
        inbox = Inbox()
        b.add_receiver([GOSSIP_CODE], inbox)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(50):
            a.send(b.bind_addr, gossip(n), reliable=True)
        await inbox.wait_for(50)
        assert loop.time() - started >= 0.1
        assert [number_of(f) for _, f in inbox.frames] == list(range(50))
        await a.close()
        await b.close()

    run(scenario)


def test_duplicated_datagrams_arrive_twice() -> None:
    async def scenario() -> None:
        faults = FaultInjector(parse_rules(["peer=*;duplicate=1"]), random.Random(3))
        a, b = await transport(faults=faults), await transport()
        inbox = Inbox()
        b.add_receiver([GOSSIP_CODE], inbox)
        a.send(b.bind_addr, gossip(7), reliable=False)
        await inbox.wait_for(2)
        assert [number_of(f) for _, f in inbox.frames] == [7, 7]
        await a.close()
        await b.close()

    run(scenario)


def test_tls_links_carry_requests(tmp_path: Path) -> None:
    async def scenario() -> None:
        server_ssl = tls.server_context(tmp_path, "", "")
        client_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ssl.check_hostname = False
        client_ssl.verify_mode = ssl.CERT_NONE
        a = await transport(server_ssl=server_ssl, client_ssl=client_ssl)
        b = await transport(server_ssl=server_ssl, client_ssl=client_ssl)
        b.add_request_handler([GOSSIP_CODE], _echo)
        assert number_of(await a.request(b.bind_addr, gossip(11))) == 11
        plain = await transport()  # a peer without TLS cannot talk to a TLS listener
        with pytest.raises(PeerUnavailableError):
            await plain.request(b.bind_addr, gossip(12), timeout_ms=1000)
        for peer in (a, b, plain):
            await peer.close()

    run(scenario)
