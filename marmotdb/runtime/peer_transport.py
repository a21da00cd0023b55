"""PeerTransport: the real network under the peer protocols, and their asyncio endpoint.

Theory of operation
-------------------
A node has one peer address (host:port) with a UDP socket and a TCP listener on it. Both carry
peer frames (marmotdb/peer/codec.py: version, kind, tag, correlation id, payload, HMAC); this
module moves them and never looks inside beyond what it needs for faults and counters.

UDP carries one frame per datagram, best effort: probes, acks, gossip, small requests. A
datagram leaves from the bound socket, so its source address is the sender's peer address;
fault rules and logs key on it.

TCP: one outbound connection per destination (a ``PeerLink``), opened on first use, kept open,
closed after ``link_idle_ms`` without traffic, and reopened with exponential backoff and jitter
after a failure. Each connection opens with a handshake that proves both ends hold the cluster
secret (HMAC-SHA256; the codec signs with the first secret and accepts any)::

    client -> server  Hello(version, nonce_c, listen_addr, mac_c)
                      mac_c = HMAC(secret, "marmotdb-peer-hello" | nonce_c | listen_addr)
    server -> client  HelloAck(version, nonce_s, mac_s, refused)
                      mac_s = HMAC(secret, "marmotdb-peer-ack" | nonce_c | nonce_s)

The server refuses (logs, counts, answers ``refused`` and closes) a Hello whose MAC matches no
secret; the client refuses an ack that does not answer its fresh nonce (a server with another
secret). The Hello names the client's listen address, so the server knows which peer an inbound
stream comes from. After the handshake the stream is one-way (client to server) and carries
envelopes of one frame each::

    +----------------+----------+-------------------------------+
    | length: u32 BE | kind: u8 | payload: one peer frame       |
    +----------------+----------+-------------------------------+
      length = 1 + len(payload); kinds HELLO, HELLO_ACK, then MESSAGE only

Requests and their responses are ordinary frames (the correlation id is in the frame), so an
answer travels on the answering node's own link back to the requester, like any message. Many
requests can be in flight on one link; answers come in any order, matched by id in the
sans-I/O ``PeerEndpoint`` (marmotdb/peer/endpoint.py). ``AsyncPeerEndpoint`` at the end of this
module hosts that endpoint on the event loop: an awaitable ``request`` with a deadline, async
request handlers, one loop timer at the endpoint's next deadline. When a link cannot connect or
loses its connection, the endpoint is told (``fail_peer``), so requests to that peer fail at
once instead of at their deadline.

Bounds: ``queue_frames_max`` envelopes queued per link (more are dropped and counted),
``frame_bytes_max`` per envelope, ``links_max`` links; request bounds are the endpoint's.

Faults: every frame leaving passes ``FaultInjector.decide(dest, OUT, reliable)`` and every frame
arriving ``decide(src, IN, reliable)`` (runtime/faults.py); delayed frames of one TCP stream
keep their order.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import hashlib
import hmac
import ipaddress
import logging
import os
import random
import ssl
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec

from marmotdb.errors import ProtocolError, TransientError
from marmotdb.peer.address import NodeAddr
from marmotdb.peer.codec import FrameCodec
from marmotdb.peer.endpoint import (
    Completion,
    EndpointSettings,
    IncomingRequest,
    Outcome,
    PeerEndpoint,
)
from marmotdb.runtime.faults import Direction, FaultInjector

logger = logging.getLogger("marmotdb.peer")

PROTOCOL_VERSION = 2  # 2: frames carry their own kind and correlation id; one-way streams
NONCE_BYTES = 16
_ENVELOPE = struct.Struct(">IB")
ENVELOPE_HEADER_BYTES = _ENVELOPE.size
_HELLO_LABEL = b"marmotdb-peer-hello"
_ACK_LABEL = b"marmotdb-peer-ack"
CLOSE_WAIT_MS = 2_000


class Kind:
    """Stream envelope kinds. ONLY APPEND; 4-6 (stream-level requests of version 1) are retired."""

    HELLO = 1
    HELLO_ACK = 2
    MESSAGE = 3


class Hello(msgspec.Struct, frozen=True, array_like=True):
    version: int
    nonce: bytes
    listen_addr: NodeAddr
    mac: bytes


class HelloAck(msgspec.Struct, frozen=True, array_like=True):
    version: int
    nonce: bytes
    mac: bytes
    refused: str = ""


class PeerUnavailableError(TransientError):
    """A peer request got no answer: unreachable, cancelled, or timed out (the subclass)."""


class PeerTimeoutError(PeerUnavailableError):
    """No answer by the deadline: the peer may or may not have acted on the request."""


class PeerRequestError(TransientError):
    """The peer received the request and could not serve it (the reason is in the message)."""


class PeerHandshakeError(ProtocolError):
    """The other end does not hold the cluster secret, or does not speak the peer protocol."""


class EnvelopeError(ProtocolError):
    """A malformed or oversized envelope on a peer stream; the connection is closed."""


@dataclasses.dataclass(frozen=True)
class PeerSettings:
    frame_bytes_max: int = 16 * 1024 * 1024
    queue_frames_max: int = 1024
    connect_timeout_ms: int = 2_000
    backoff_min_ms: int = 100
    backoff_max_ms: int = 5_000
    request_timeout_ms: int = 5_000  # default deadline of AsyncPeerEndpoint.request
    link_idle_ms: int = 60_000
    links_max: int = 4096
    udp_buffer_bytes_max: int = 1024 * 1024  # datagrams past this unsent backlog are dropped
    refused_log_interval_ms: int = 10_000


@dataclasses.dataclass
class TransportStats:
    udp_frames_sent: int = 0
    udp_bytes_sent: int = 0
    udp_frames_received: int = 0
    udp_bytes_received: int = 0
    tcp_frames_sent: int = 0
    tcp_bytes_sent: int = 0
    tcp_frames_received: int = 0
    tcp_bytes_received: int = 0
    frames_dropped_queue_full: int = 0
    frames_dropped_unreachable: int = 0
    frames_unroutable: int = 0
    connects: int = 0
    connect_failures: int = 0
    handshakes_refused: int = 0
    links_lost: int = 0
    udp_send_errors: int = 0


Receiver = Callable[[NodeAddr, bytes, bool], None]  # (source, frame, reliable)


def encode_envelope(kind: int, payload: bytes) -> bytes:
    return _ENVELOPE.pack(1 + len(payload), kind) + payload


async def read_envelope(reader: asyncio.StreamReader, payload_bytes_max: int
                        ) -> tuple[int, bytes]:
    """Read one envelope; raise ``EnvelopeError`` when it cannot be one of ours."""
    length, kind = _ENVELOPE.unpack(await reader.readexactly(ENVELOPE_HEADER_BYTES))
    payload_bytes = length - 1
    if payload_bytes < 0 or payload_bytes > payload_bytes_max:
        raise EnvelopeError(f"peer envelope of {length} bytes is outside 1..{payload_bytes_max}")
    return kind, await reader.readexactly(payload_bytes)


class _Keys:
    """The cluster secrets: sign with the first, accept any (as the frame codec does)."""

    def __init__(self, secrets: Sequence[bytes]):
        if not secrets:
            raise ValueError("at least one cluster secret is required")
        self._secrets = [bytes(s) for s in secrets]

    def sign(self, *parts: bytes) -> bytes:
        return hmac.digest(self._secrets[0], b"\0".join(parts), hashlib.sha256)

    def verify(self, mac: bytes, *parts: bytes) -> bool:
        matched = False
        for secret in self._secrets:  # no early exit: timing says nothing about which key
            matched |= hmac.compare_digest(hmac.digest(secret, b"\0".join(parts),
                                                       hashlib.sha256), mac)
        return matched


# Envelopes queued during one loop iteration leave in one write of at most this many bytes:
# one send system call instead of one per frame (the kernel's loopback path dominated).
WRITE_BYTES_MAX = 256 * 1024


class PeerLink:
    """The outbound TCP connection to one peer: queue, connect with backoff, write."""

    def __init__(self, owner: PeerTransport, dest: NodeAddr):
        self.dest = dest
        self._owner = owner
        self._settings = owner.settings
        self._queue: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._backoff_ms = 0
        self.task: asyncio.Task[None] | None = None
        self.closed = False  # set the moment run() decides to exit: the owner opens a new link

    def enqueue(self, envelope: bytes) -> bool:
        if len(self._queue) >= self._settings.queue_frames_max:
            self._owner.stats.frames_dropped_queue_full += 1
            return False
        self._queue.append(envelope)
        self._ready.set()
        return True

    async def run(self) -> None:
        """Connect when there is something to send; exits after ``link_idle_ms`` of silence."""
        while True:
            if not await _wait_event(self._ready, self._settings.link_idle_ms):
                if not self._queue:
                    self.closed = True
                    return
                continue
            try:
                reader, writer = await self._owner.connect(self.dest)
            except (OSError, TimeoutError, PeerHandshakeError, EnvelopeError,
                    asyncio.IncompleteReadError, msgspec.DecodeError) as exc:
                self._fail(f"cannot connect to peer {self.dest}: {exc or type(exc).__name__}")
                await asyncio.sleep(self._next_backoff_ms() / 1000)
                continue
            self._backoff_ms = 0
            try:
                lost = await self._pump(reader, writer)
            finally:
                writer.close()
            if lost:
                self._owner.stats.links_lost += 1
                self._fail(f"connection to peer {self.dest} lost")

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Write queued envelopes until the link idles (False) or the connection is lost."""
        closed_by_peer = asyncio.create_task(self._watch(reader))
        try:
            while not closed_by_peer.done():
                while self._queue:  # one write (one send call) per WRITE_BYTES_MAX queued
                    envelopes = self._take_write()
                    self._owner.stats.tcp_bytes_sent += len(envelopes)
                    writer.write(envelopes)
                await writer.drain()
                if self._queue or closed_by_peer.done():
                    continue
                self._ready.clear()
                if not await _wait_event(self._ready, self._settings.link_idle_ms):
                    return False  # idle: close; reopened on the next send
            return True
        except (OSError, ConnectionError):
            return True
        finally:
            closed_by_peer.cancel()

    def _take_write(self) -> bytes:
        """Queued envelopes joined, up to ``WRITE_BYTES_MAX`` (or one larger envelope)."""
        taken = [self._queue.popleft()]
        size = len(taken[0])
        while self._queue and size + len(self._queue[0]) <= WRITE_BYTES_MAX:
            size += len(self._queue[0])
            taken.append(self._queue.popleft())
        self._owner.stats.tcp_frames_sent += len(taken)
        return taken[0] if len(taken) == 1 else b"".join(taken)

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        """The server never writes after its HelloAck: wait for EOF (or refuse chatter)."""
        try:
            if await reader.read(1):
                logger.warning("closing link to %s: unexpected data from the peer", self.dest)
        except OSError:
            pass
        finally:
            self._ready.set()  # wake the writer so it notices the connection is gone

    def _fail(self, reason: str) -> None:
        self._owner.stats.frames_dropped_unreachable += len(self._queue)
        self._queue.clear()
        self._ready.clear()
        if self._owner.on_unreachable is not None:
            self._owner.on_unreachable(self.dest, reason)

    def _next_backoff_ms(self) -> float:
        settings = self._settings
        self._backoff_ms = min(settings.backoff_max_ms,
                               max(settings.backoff_min_ms, self._backoff_ms * 2))
        return self._backoff_ms * self._owner.rng.uniform(0.5, 1.0)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: PeerTransport):
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._owner.receive_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._owner.stats.udp_send_errors += 1


class PeerTransport:
    """UDP + TCP peer network of one node; implements marmotdb.peer.transport.Transport."""

    def __init__(self, bind_addr: NodeAddr, secrets: Sequence[bytes], *,
                 advertise_addr: NodeAddr | None = None, settings: PeerSettings | None = None,
                 faults: FaultInjector | None = None, server_ssl: ssl.SSLContext | None = None,
                 client_ssl: ssl.SSLContext | None = None, rng: random.Random | None = None):
        self.bind_addr = bind_addr
        self.advertise_addr = advertise_addr or bind_addr
        self.settings = settings or PeerSettings()
        self.faults = faults or FaultInjector()
        self.stats = TransportStats()
        self.rng = rng or random.Random()
        self._keys = _Keys(secrets)
        self._server_ssl, self._client_ssl = server_ssl, client_ssl
        self._receiver: Receiver | None = None
        self.on_unreachable: Callable[[NodeAddr, str], None] | None = None
        self._links: dict[NodeAddr, PeerLink] = {}
        self._resolved: dict[str, str] = {}
        self._resolving: set[str] = set()
        # Delayed frames per stream, in send order: (release time, action, args).
        self._delayed: dict[tuple[Direction, NodeAddr],
                            collections.deque[tuple[float, Callable[..., None], tuple[Any, ...]]]] = {}
        self._refused_logged_ms: dict[str, int] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._inbound: dict[asyncio.StreamWriter, asyncio.Task[Any] | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> NodeAddr:
        """Bind UDP and TCP on the peer address; return it (with the real port if 0 was asked)."""
        self._loop = asyncio.get_running_loop()
        host, port = self.bind_addr.host, self.bind_addr.port
        self._server = await asyncio.start_server(self._serve_connection, host, port,
                                                  ssl=self._server_ssl, reuse_address=True,
                                                  backlog=1024)
        port = self._server.sockets[0].getsockname()[1]
        try:
            self._udp, _ = await self._loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, port))
        except OSError:
            self._server.close()
            raise
        self.bind_addr = NodeAddr(host, port)
        if self.advertise_addr.port == 0:
            self.advertise_addr = NodeAddr(self.advertise_addr.host, port)
        return self.bind_addr

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        tasks = [link.task for link in self._links.values() if link.task] + list(self._tasks)
        for task in tasks:
            task.cancel()
        # Inbound handlers end by themselves once their socket is closed (EOF), so that
        # asyncio's stream callback never sees a cancelled handler.
        inbound = [task for task in self._inbound.values() if task is not None]
        for writer in list(self._inbound):
            writer.close()
        if tasks or inbound:  # bounded: shutdown never hangs on a task that ignores a cancel
            await asyncio.wait(tasks + inbound, timeout=CLOSE_WAIT_MS / 1000)
        self._links.clear()

    def set_receiver(self, receiver: Receiver) -> None:
        """Every frame received (either path) goes to ``receiver(src, frame, reliable)``; the
        node's ``PeerEndpoint`` authenticates it and routes it by tag."""
        self._receiver = receiver

    # ------------------------------------------------------------------ sending

    def send(self, dest: NodeAddr, frame: bytes, reliable: bool) -> None:
        """Queue ``frame`` for ``dest``: a datagram, or a MESSAGE on the link. Never blocks."""
        for delay_ms in self.faults.decide(dest, Direction.OUT, reliable):
            if reliable:
                self._in_order(Direction.OUT, dest, delay_ms, self._send_reliable, dest, frame)
            elif delay_ms:
                self._loop_now().call_later(delay_ms / 1000, self._send_datagram, dest, frame)
            else:
                self._send_datagram(dest, frame)

    def _send_reliable(self, dest: NodeAddr, frame: bytes) -> None:
        link = self._link(dest)
        if link is not None:
            link.enqueue(encode_envelope(Kind.MESSAGE, frame))

    def _send_datagram(self, dest: NodeAddr, frame: bytes) -> None:
        udp = self._udp
        if udp is None or udp.is_closing():
            return
        if udp.get_write_buffer_size() > self.settings.udp_buffer_bytes_max:  # type: ignore[attr-defined]
            self.stats.frames_dropped_queue_full += 1
            return
        host = self._resolve(dest.host)
        if host is None:
            self.stats.frames_dropped_unreachable += 1  # resolving; SWIM takes it as a loss
            return
        udp.sendto(frame, (host, dest.port))
        self.stats.udp_frames_sent += 1
        self.stats.udp_bytes_sent += len(frame)

    def _link(self, dest: NodeAddr) -> PeerLink | None:
        link = self._links.get(dest)
        if link is not None and not link.closed:
            return link
        if len(self._links) >= self.settings.links_max:
            self.stats.frames_dropped_queue_full += 1
            return None
        link = PeerLink(self, dest)
        link.task = self._loop_now().create_task(link.run())
        link.task.add_done_callback(functools.partial(self._link_done, dest, link))
        self._links[dest] = link
        return link

    def _link_done(self, dest: NodeAddr, link: PeerLink, task: asyncio.Task[None]) -> None:
        if self._links.get(dest) is link:
            del self._links[dest]

    def _in_order(self, direction: Direction, peer: NodeAddr, delay_ms: int,
                  action: Callable[..., None], *args: Any) -> None:
        """Run ``action`` after ``delay_ms``, never before an earlier frame of the same stream.

        One FIFO per stream drained by one timer: the loop's timers have millisecond
        resolution, so separate timers for close deadlines could fire out of order."""
        loop = self._loop_now()
        key = (direction, peer)
        queue = self._delayed.get(key)
        if delay_ms == 0 and not queue:
            action(*args)
            return
        release_s = loop.time() + delay_ms / 1000
        if queue is None:
            queue = self._delayed[key] = collections.deque()
        if queue:
            release_s = max(release_s, queue[-1][0])
        queue.append((release_s, action, args))
        if len(queue) == 1:
            loop.call_at(release_s, self._release_delayed, key)

    def _release_delayed(self, key: tuple[Direction, NodeAddr]) -> None:
        loop = self._loop_now()
        queue = self._delayed[key]
        while queue and queue[0][0] <= loop.time() + 0.001:
            _, action, args = queue.popleft()
            action(*args)
        if queue:
            loop.call_at(queue[0][0], self._release_delayed, key)
        else:
            del self._delayed[key]

    def _resolve(self, host: str) -> str | None:
        cached = self._resolved.get(host)
        if cached is not None:
            return cached
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        if host not in self._resolving and len(self._resolved) < self.settings.links_max:
            self._resolving.add(host)
            self._spawn(self._resolve_later(host))
        return None

    async def _resolve_later(self, host: str) -> None:
        try:
            infos = await self._loop_now().getaddrinfo(host, None, type=2)  # SOCK_DGRAM
            if infos:
                self._resolved[host] = str(infos[0][4][0])
        except OSError as exc:
            logger.warning("cannot resolve peer host %s: %s", host, exc)
        finally:
            self._resolving.discard(host)

    # ------------------------------------------------------------------ connecting

    async def connect(self, dest: NodeAddr) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TCP connection to ``dest`` and complete the client side of the handshake."""
        timeout_s = self.settings.connect_timeout_ms / 1000
        try:
            async with asyncio.timeout(timeout_s):
                return await self._connect(dest)
        except BaseException:
            self.stats.connect_failures += 1
            raise

    async def _connect(self, dest: NodeAddr) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        server_hostname = dest.host if self._client_ssl is not None else None
        reader, writer = await asyncio.open_connection(dest.host, dest.port, ssl=self._client_ssl,
                                                       server_hostname=server_hostname)
        try:
            nonce = os.urandom(NONCE_BYTES)
            listen = self.advertise_addr
            mac = self._keys.sign(_HELLO_LABEL, nonce, str(listen).encode())
            hello = msgspec.msgpack.encode(Hello(PROTOCOL_VERSION, nonce, listen, mac))
            writer.write(encode_envelope(Kind.HELLO, hello))
            kind, payload = await read_envelope(reader, 4096)
            ack = msgspec.msgpack.decode(payload, type=HelloAck)
            if kind != Kind.HELLO_ACK:
                raise PeerHandshakeError(f"peer {dest} answered the handshake with kind {kind}")
            if ack.refused or not self._keys.verify(ack.mac, _ACK_LABEL, nonce, ack.nonce):
                self.stats.handshakes_refused += 1
                reason = ack.refused or "it does not hold our cluster secret"
                self._log_refused(str(dest), f"peer {dest} refused: {reason}")
                raise PeerHandshakeError(f"peer {dest}: {reason}")
        except BaseException:
            writer.close()
            raise
        self.stats.connects += 1
        return reader, writer

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        remote = writer.get_extra_info("peername")
        remote_host = str(remote[0]) if remote else "?"
        self._inbound[writer] = asyncio.current_task()
        try:
            async with asyncio.timeout(self.settings.connect_timeout_ms / 1000):
                src = await self._accept_hello(reader, writer, remote_host)
            if src is not None:
                await self._serve_stream(src, reader, writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, msgspec.DecodeError,
                msgspec.ValidationError):
            pass
        except EnvelopeError as exc:
            logger.warning("closing peer connection from %s: %s", remote_host, exc.message)
        except asyncio.CancelledError:
            pass  # loop shutdown: this task is the top of its stack; nobody awaits its result
        finally:
            self._inbound.pop(writer, None)
            writer.close()

    async def _accept_hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            remote_host: str) -> NodeAddr | None:
        kind, payload = await read_envelope(reader, 4096)
        if kind != Kind.HELLO:
            raise EnvelopeError(f"expected a peer handshake, got envelope kind {kind}")
        hello = msgspec.msgpack.decode(payload, type=Hello)
        nonce = os.urandom(NONCE_BYTES)
        if not self._keys.verify(hello.mac, _HELLO_LABEL, hello.nonce,
                                 str(hello.listen_addr).encode()):
            self.stats.handshakes_refused += 1
            self._log_refused(remote_host, f"refused peer connection from {remote_host} "
                                           f"(claims {hello.listen_addr}): wrong cluster secret")
            ack = HelloAck(PROTOCOL_VERSION, nonce, b"", refused="wrong cluster secret")
            writer.write(encode_envelope(Kind.HELLO_ACK, msgspec.msgpack.encode(ack)))
            await writer.drain()
            return None
        mac = self._keys.sign(_ACK_LABEL, hello.nonce, nonce)
        ack = HelloAck(PROTOCOL_VERSION, nonce, mac)
        writer.write(encode_envelope(Kind.HELLO_ACK, msgspec.msgpack.encode(ack)))
        return hello.listen_addr

    async def _serve_stream(self, src: NodeAddr, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        while True:
            kind, payload = await read_envelope(reader, self.settings.frame_bytes_max)
            if kind != Kind.MESSAGE:
                raise EnvelopeError(f"unexpected envelope kind {kind} from {src}")
            self.stats.tcp_frames_received += 1
            self.stats.tcp_bytes_received += len(payload) + ENVELOPE_HEADER_BYTES
            for delay_ms in self.faults.decide(src, Direction.IN, True):
                self._in_order(Direction.IN, src, delay_ms, self._route, src, payload, True)

    # ------------------------------------------------------------------ receiving

    def receive_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.stats.udp_frames_received += 1
        self.stats.udp_bytes_received += len(data)
        src = NodeAddr(str(addr[0]), int(addr[1]))
        for delay_ms in self.faults.decide(src, Direction.IN, False):
            if delay_ms:
                self._loop_now().call_later(delay_ms / 1000, self._route, src, data, False)
            else:
                self._route(src, data, False)

    def _route(self, src: NodeAddr, frame: bytes, reliable: bool) -> None:
        if self._receiver is None:
            self.stats.frames_unroutable += 1
            return
        self._receiver(src, frame, reliable)

    # ------------------------------------------------------------------ small helpers

    def _spawn(self, coro: Any) -> None:
        task = self._loop_now().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _loop_now(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("PeerTransport used before start()")
        return self._loop

    def _log_refused(self, source: str, message: str) -> None:
        now_ms = int(self._loop_now().time() * 1000)
        last_ms = self._refused_logged_ms.get(source)
        if last_ms is None or now_ms - last_ms >= self.settings.refused_log_interval_ms:
            if len(self._refused_logged_ms) >= self.settings.links_max:
                self._refused_logged_ms.clear()
            self._refused_logged_ms[source] = now_ms
            logger.warning(message)


async def _wait_event(event: asyncio.Event, timeout_ms: int) -> bool:
    """True once ``event`` is set, False after ``timeout_ms``. (Not ``asyncio.wait_for``: on
    Python 3.11 it can swallow a cancellation that races with completion, hanging shutdown.)"""
    try:
        async with asyncio.timeout(timeout_ms / 1000):
            await event.wait()
        return True
    except TimeoutError:
        return False


# ---------------------------------------------------------------------- the asyncio endpoint


class LoopClock:
    """The event loop's monotonic clock in whole milliseconds, never running backwards. One per
    node, shared by everything it drives (membership, the peer endpoint, the node).

    ``epoch()`` gives the node's clock: epoch milliseconds read from the wall clock once, then
    advanced by the monotonic clock, so timers never jump when the wall clock is stepped (the
    hybrid logical clock and NOW() read it too: slewed by NTP, never stepped).

    A clock made for a loop keeps it: ``asyncio.get_running_loop()`` costs a getpid() system
    call on CPython 3.11 (its fork check), and the node reads the clock several times per
    statement."""

    def __init__(self, offset_ms: int = 0, loop: asyncio.AbstractEventLoop | None = None
                 ) -> None:
        self._offset_ms = offset_ms  # added to the loop's time
        self._last_ms = 0
        self._loop = loop  # None: the running loop, looked up at each reading

    @classmethod
    def epoch(cls, loop: asyncio.AbstractEventLoop) -> LoopClock:
        return cls(int(time.time() * 1000) - int(loop.time() * 1000), loop)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    def now_ms(self) -> int:
        loop_ms = int((self._loop or asyncio.get_running_loop()).time() * 1000)
        self._last_ms = max(self._last_ms, loop_ms + self._offset_ms)
        return self._last_ms

    def loop_time(self, at_ms: int) -> float:
        """``at_ms`` of this clock as the event loop's time (for ``loop.call_at``)."""
        return (at_ms - self._offset_ms) / 1000

    def advance_to(self, at_ms: int) -> None:
        """A loop timer may fire a fraction of a millisecond early: never run before it is due."""
        self._last_ms = max(self._last_ms, at_ms)


class DeadlineTimer:
    """One loop timer kept at a sans-I/O object's ``next_deadline_ms()`` (None: nothing due);
    ``arm()`` after every call into the object, ``fire(now_ms)`` runs when it is due (aioquic's
    ``_handle_timer``)."""

    def __init__(self, clock: LoopClock, next_deadline_ms: Callable[[], int | None],
                 fire: Callable[[int], None]):
        self._clock, self._next_deadline_ms, self._fire = clock, next_deadline_ms, fire
        self._handle: asyncio.TimerHandle | None = None
        self._deadline_ms = 0

    def arm(self) -> None:
        deadline_ms = self._next_deadline_ms()
        if self._handle is not None:
            if deadline_ms == self._deadline_ms:
                return
            self._handle.cancel()
            self._handle = None
        if deadline_ms is None:
            return
        self._deadline_ms = deadline_ms
        self._handle = self._clock.loop.call_at(self._clock.loop_time(deadline_ms),
                                                self._on_timer)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_timer(self) -> None:
        self._handle = None
        self._clock.advance_to(self._deadline_ms)
        try:
            self._fire(self._clock.now_ms())
        finally:  # an exception in one deadline's work must not stop every later deadline
            self.arm()


AsyncRequestHandler = Callable[[NodeAddr, msgspec.Struct], Awaitable[msgspec.Struct]]


class AsyncPeerEndpoint:
    """A ``PeerEndpoint`` on the event loop, over a ``PeerTransport``.

    - ``await request(peer, message, timeout_ms)`` -> the answer message, or
      ``PeerTimeoutError`` (no answer by the deadline: outcome unknown), ``PeerRequestError``
      (the peer could not serve it) or ``PeerUnavailableError`` (link down, or cancelled).
      Cancelling the awaiting task cancels the request; a later answer counts as late.
    - ``on_request(types, handler)``: ``await handler(src, message)`` returns the answer; an
      exception becomes a ``PeerFailure`` with its text (this node lives on).
    - ``on_message`` / ``send``: one-way; ``add_frame_receiver``: undecoded frames by tag.
    Every frame the transport receives goes to the endpoint; its timer follows its deadlines.
    """

    def __init__(self, transport: PeerTransport, codec: FrameCodec, rng: random.Random, *,
                 clock: LoopClock | None = None, settings: EndpointSettings | None = None):
        self.transport = transport
        self.clock = clock or LoopClock()
        self.endpoint = PeerEndpoint(codec, transport, rng, settings)
        self._timer = DeadlineTimer(self.clock, self.endpoint.next_deadline_ms,
                                    self.endpoint.handle_timer)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        transport.set_receiver(self._on_frame)
        transport.on_unreachable = self._on_unreachable

    # ------------------------------------------------------------------ registering

    def on_message(self, types: Iterable[type],
                   handler: Callable[[NodeAddr, msgspec.Struct], None]) -> None:
        self.endpoint.on_message(types, lambda src, message, now_ms: handler(src, message))

    def on_request(self, types: Iterable[type], handler: AsyncRequestHandler) -> None:
        self.endpoint.on_request(types, lambda request, now_ms: self._serve(handler, request))

    def add_frame_receiver(self, tags: Iterable[int],
                           receiver: Callable[[NodeAddr, bytes, int], None]) -> None:
        self.endpoint.add_frame_receiver(tags, receiver)

    # ------------------------------------------------------------------ sending

    def send(self, peer: NodeAddr, message: msgspec.Struct, reliable: bool = True) -> None:
        self.endpoint.send(peer, message, reliable)

    async def request(self, peer: NodeAddr, message: msgspec.Struct,
                      timeout_ms: int | None = None, *, reliable: bool = True) -> msgspec.Struct:
        if self._closed:
            raise PeerUnavailableError("the peer endpoint is closed")
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()

        def done(completion: Completion) -> None:
            if not future.done():
                future.set_result(completion)

        now_ms = self.clock.now_ms()
        deadline_ms = now_ms + (timeout_ms or self.transport.settings.request_timeout_ms)
        correlation_id = self.endpoint.request(peer, message, deadline_ms, now_ms, done,
                                               reliable=reliable)
        self._timer.arm()
        try:
            completion = await future
        except asyncio.CancelledError:
            self.endpoint.cancel(correlation_id, self.clock.now_ms())
            raise
        return _answer_of(completion)

    async def close(self) -> None:
        """Cancel pending requests (their awaiters get ``PeerUnavailableError``) and handlers."""
        self._closed = True
        self._timer.cancel()
        self.endpoint.close(self.clock.now_ms())
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT_MS / 1000)

    # ------------------------------------------------------------------ internals

    def _on_frame(self, src: NodeAddr, frame: bytes, reliable: bool) -> None:
        if self._closed:
            return
        self.endpoint.receive_frame(src, frame, self.clock.now_ms(), reliable)
        self._timer.arm()

    def _on_unreachable(self, peer: NodeAddr, reason: str) -> None:
        if not self._closed and self.endpoint.fail_peer(peer, reason, self.clock.now_ms()):
            self._timer.arm()

    def _serve(self, handler: AsyncRequestHandler, request: IncomingRequest) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(handler, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, handler: AsyncRequestHandler, request: IncomingRequest) -> None:
        try:
            answer = await handler(request.peer, request.message)
        except asyncio.CancelledError:
            return  # closing: the requester times out or sees the link go
        except Exception as exc:  # the requester gets the reason; this node lives
            logger.exception("peer request handler failed for %s", request.peer)
            if not self._closed:
                self.endpoint.reply_failure(request, f"{type(exc).__name__}: {exc}")
            return
        if not self._closed:
            self.endpoint.reply(request, answer)


_UNAVAILABLE: dict[Outcome, type[PeerUnavailableError]] = {
    Outcome.TIMED_OUT: PeerTimeoutError, Outcome.UNREACHABLE: PeerUnavailableError,
    Outcome.CANCELLED: PeerUnavailableError}


def _answer_of(completion: Completion) -> msgspec.Struct:
    if completion.outcome is Outcome.REPLIED:
        assert completion.reply is not None
        return completion.reply
    if completion.outcome is Outcome.FAILED:
        raise PeerRequestError(f"peer {completion.peer}: {completion.reason}")
    error = _UNAVAILABLE[completion.outcome]
    raise error(f"request to peer {completion.peer} {completion.outcome.value}: "
                f"{completion.reason}")
