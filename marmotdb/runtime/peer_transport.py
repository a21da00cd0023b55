"""PeerTransport: the real network under the membership state machine and later peer protocols.

Theory of operation
-------------------
A node has one peer address (host:port) with a UDP socket and a TCP listener on it.

UDP carries one codec frame (cluster/codec.py) per datagram, best effort: probes, acks, gossip.
A datagram leaves from the bound socket, so its source address is the sender's peer address;
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
stream comes from. After the handshake the stream carries envelopes::

    +----------------+----------+-----------------+-------------------------------+
    | length: u32 BE | kind: u8 | request_id: u64 | payload: one codec frame      |
    +----------------+----------+-----------------+-------------------------------+
      length = 1 + 8 + len(payload)

    MESSAGE   one-way frame (push-pull tables, oversize gossip); request_id 0
    REQUEST   a frame that expects a RESPONSE (or ERROR) with the same id on the same connection
    RESPONSE  the answer, written back on the inbound connection the request came in on
    ERROR     the request handler failed; the payload is the UTF-8 reason

Requests are pipelined: any number may be in flight on one connection and their answers come in
any order, matched by id. Payload frames carry their own MAC, verified by whoever decodes them;
the handshake keeps unauthenticated peers from queueing work and surfaces a wrong secret at once.
Replaying a captured handshake gets an attacker nothing the codec does not already refuse.

Received frames are routed by their type code (the byte after the frame length) to the receiver
registered for that code; SWIM registers the membership codes 1-31.

Bounds: ``queue_frames_max`` envelopes queued per link (more are dropped and counted, or the
request fails at once), ``requests_in_flight_max`` handlers running per inbound connection
(reading pauses until one finishes), ``frame_bytes_max`` per envelope, ``links_max`` links.

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
import itertools
import logging
import os
import random
import ssl
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec

from marmotdb.cluster.messages import NodeAddr
from marmotdb.errors import ProtocolError, TransientError
from marmotdb.runtime.faults import Direction, FaultInjector

logger = logging.getLogger("marmotdb.peer")

PROTOCOL_VERSION = 1
NONCE_BYTES = 16
_ENVELOPE = struct.Struct(">IBQ")
ENVELOPE_HEADER_BYTES = _ENVELOPE.size
_HELLO_LABEL = b"marmotdb-peer-hello"
_ACK_LABEL = b"marmotdb-peer-ack"
CLOSE_WAIT_S = 2.0
_LENGTH_OFFSET_BYTES = 4  # codec frames start with a u32 length; the type code follows


class Kind:
    HELLO = 1
    HELLO_ACK = 2
    MESSAGE = 3
    REQUEST = 4
    RESPONSE = 5
    ERROR = 6


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
    """A peer request got no answer: unreachable, timed out, queue full or connection lost."""


class PeerRequestError(TransientError):
    """The peer received the request and its handler failed (the reason is in the message)."""


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
    request_timeout_ms: int = 5_000
    requests_in_flight_max: int = 256
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
    requests_sent: int = 0
    requests_failed: int = 0
    udp_send_errors: int = 0


Receiver = Callable[[NodeAddr, bytes], None]
RequestHandler = Callable[[NodeAddr, bytes], Awaitable[bytes]]


def encode_envelope(kind: int, request_id: int, payload: bytes) -> bytes:
    return _ENVELOPE.pack(1 + 8 + len(payload), kind, request_id) + payload


async def read_envelope(reader: asyncio.StreamReader, payload_bytes_max: int
                        ) -> tuple[int, int, bytes]:
    """Read one envelope; raise ``EnvelopeError`` when it cannot be one of ours."""
    length, kind, request_id = _ENVELOPE.unpack(
        await reader.readexactly(ENVELOPE_HEADER_BYTES))
    payload_bytes = length - 9
    if payload_bytes < 0 or payload_bytes > payload_bytes_max:
        raise EnvelopeError(f"peer envelope of {length} bytes is outside 9..{payload_bytes_max}")
    return kind, request_id, await reader.readexactly(payload_bytes)


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


class PeerLink:
    """The outbound TCP connection to one peer: queue, connect with backoff, write, read answers."""

    def __init__(self, owner: PeerTransport, dest: NodeAddr):
        self.dest = dest
        self.pending: dict[int, asyncio.Future[bytes]] = {}
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
        idle_s = self._settings.link_idle_ms / 1000
        while True:
            if not await _wait_event(self._ready, idle_s):
                if not self.pending and not self._queue:
                    self.closed = True
                    return
                continue
            try:
                reader, writer = await self._owner.connect(self.dest)
            except (OSError, TimeoutError, PeerHandshakeError, EnvelopeError,
                    asyncio.IncompleteReadError, msgspec.DecodeError) as exc:
                self._fail_all(f"cannot connect to peer {self.dest}: {exc or type(exc).__name__}")
                await asyncio.sleep(self._next_backoff_ms() / 1000)
                continue
            self._backoff_ms = 0
            try:
                await self._pump(reader, writer)
            finally:
                writer.close()
                self._fail_all(f"connection to peer {self.dest} lost")

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answers = asyncio.create_task(self._read_answers(reader))
        idle_s = self._settings.link_idle_ms / 1000
        try:
            while not answers.done():
                while self._queue:
                    envelope = self._queue.popleft()
                    writer.write(envelope)
                    self._owner.stats.tcp_frames_sent += 1
                    self._owner.stats.tcp_bytes_sent += len(envelope)
                await writer.drain()
                if self._queue or answers.done():
                    continue
                self._ready.clear()
                if not await _wait_event(self._ready, idle_s) and not self.pending:
                    return  # idle: close; reopened on the next send
        except (OSError, ConnectionError):
            pass
        finally:
            answers.cancel()

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                kind, request_id, payload = await read_envelope(
                    reader, self._settings.frame_bytes_max)
                if kind not in (Kind.RESPONSE, Kind.ERROR):
                    raise EnvelopeError(f"unexpected envelope kind {kind} on an outbound link")
                self._owner.count_tcp_received(payload)
                self._owner.deliver_answer(self, kind, request_id, payload)
        except (OSError, asyncio.IncompleteReadError, EnvelopeError) as exc:
            if isinstance(exc, EnvelopeError):
                logger.warning("closing link to %s: %s", self.dest, exc.message)
        finally:
            self._ready.set()  # wake the writer so it notices the connection is gone

    def resolve(self, kind: int, request_id: int, payload: bytes) -> None:
        future = self.pending.pop(request_id, None)
        if future is None or future.done():
            return
        if kind == Kind.RESPONSE:
            future.set_result(payload)
        else:
            future.set_exception(PeerRequestError(payload.decode("utf-8", "replace")))

    def _fail_all(self, reason: str) -> None:
        self._owner.stats.frames_dropped_unreachable += len(self._queue)
        self._queue.clear()
        self._ready.clear()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(PeerUnavailableError(reason))
        self.pending.clear()

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
    """UDP + TCP peer network of one node; implements cluster.transport.Transport."""

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
        self._receivers: dict[int, Receiver] = {}
        self._default_receiver: Receiver | None = None
        self._request_handlers: dict[int, RequestHandler] = {}
        self._links: dict[NodeAddr, PeerLink] = {}
        self._request_ids = itertools.count(1)
        self._resolved: dict[str, str] = {}
        self._resolving: set[str] = set()
        # Delayed frames per stream, in send order: (release time, action, args).
        self._delayed: dict[tuple[Direction, NodeAddr],
                            collections.deque[tuple[float, Callable[..., None], tuple[Any, ...]]]] = {}
        self._refused_logged_ms: dict[str, float] = {}
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
            await asyncio.wait(tasks + inbound, timeout=CLOSE_WAIT_S)
        self._links.clear()

    def add_receiver(self, codes: Iterable[int], receiver: Receiver) -> None:
        """Frames whose type code is in ``codes`` (either path) go to ``receiver(src, frame)``."""
        for code in codes:
            self._receivers[code] = receiver

    def set_default_receiver(self, receiver: Receiver) -> None:
        """Frames with a type code nobody registered (or garbage) go here to be refused."""
        self._default_receiver = receiver

    def add_request_handler(self, codes: Iterable[int], handler: RequestHandler) -> None:
        """Requests whose frame type code is in ``codes`` are answered by ``await handler``."""
        for code in codes:
            self._request_handlers[code] = handler

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

    async def request(self, dest: NodeAddr, frame: bytes, timeout_ms: int | None = None) -> bytes:
        """Send a REQUEST and wait for its answer; ``PeerUnavailableError`` if none comes."""
        link = self._link(dest)
        if link is None:
            raise PeerUnavailableError(f"too many peer links to add {dest}")
        request_id = next(self._request_ids)
        future: asyncio.Future[bytes] = self._loop_now().create_future()
        link.pending[request_id] = future
        envelope = encode_envelope(Kind.REQUEST, request_id, frame)
        self.stats.requests_sent += 1
        for delay_ms in self.faults.decide(dest, Direction.OUT, True):
            self._in_order(Direction.OUT, dest, delay_ms, self._enqueue_request, link,
                           request_id, envelope)
        timeout_s = (timeout_ms or self.settings.request_timeout_ms) / 1000
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            self.stats.requests_failed += 1
            raise PeerUnavailableError(f"request to peer {dest} timed out") from None
        except (PeerUnavailableError, PeerRequestError):
            self.stats.requests_failed += 1
            raise
        finally:
            link.pending.pop(request_id, None)

    def _enqueue_request(self, link: PeerLink, request_id: int, envelope: bytes) -> None:
        future = link.pending.get(request_id)
        if future is None or future.done():
            return
        if not link.enqueue(envelope):
            future.set_exception(PeerUnavailableError(f"send queue to {link.dest} is full"))

    def _send_reliable(self, dest: NodeAddr, frame: bytes) -> None:
        link = self._link(dest)
        if link is not None:
            link.enqueue(encode_envelope(Kind.MESSAGE, 0, frame))

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
            writer.write(encode_envelope(Kind.HELLO, 0, hello))
            kind, _, payload = await read_envelope(reader, 4096)
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
        kind, _, payload = await read_envelope(reader, 4096)
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
            writer.write(encode_envelope(Kind.HELLO_ACK, 0, msgspec.msgpack.encode(ack)))
            await writer.drain()
            return None
        mac = self._keys.sign(_ACK_LABEL, hello.nonce, nonce)
        ack = HelloAck(PROTOCOL_VERSION, nonce, mac)
        writer.write(encode_envelope(Kind.HELLO_ACK, 0, msgspec.msgpack.encode(ack)))
        return hello.listen_addr

    async def _serve_stream(self, src: NodeAddr, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        slots = asyncio.Semaphore(self.settings.requests_in_flight_max)
        handlers = {Kind.MESSAGE: self._on_message, Kind.REQUEST: self._on_request}
        while True:
            kind, request_id, payload = await read_envelope(reader, self.settings.frame_bytes_max)
            handler = handlers.get(kind)
            if handler is None:
                raise EnvelopeError(f"unexpected envelope kind {kind} from {src}")
            self.count_tcp_received(payload)
            if kind == Kind.REQUEST:
                await slots.acquire()  # backpressure: stop reading while too many run
            handler(src, request_id, payload, writer, slots)

    # ------------------------------------------------------------------ receiving

    def count_tcp_received(self, payload: bytes) -> None:
        self.stats.tcp_frames_received += 1
        self.stats.tcp_bytes_received += len(payload) + ENVELOPE_HEADER_BYTES

    def receive_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.stats.udp_frames_received += 1
        self.stats.udp_bytes_received += len(data)
        src = NodeAddr(str(addr[0]), int(addr[1]))
        for delay_ms in self.faults.decide(src, Direction.IN, False):
            if delay_ms:
                self._loop_now().call_later(delay_ms / 1000, self._route, src, data)
            else:
                self._route(src, data)

    def _on_message(self, src: NodeAddr, request_id: int, payload: bytes,
                    writer: asyncio.StreamWriter, slots: asyncio.Semaphore) -> None:
        for delay_ms in self.faults.decide(src, Direction.IN, True):
            self._in_order(Direction.IN, src, delay_ms, self._route, src, payload)

    def _on_request(self, src: NodeAddr, request_id: int, payload: bytes,
                    writer: asyncio.StreamWriter, slots: asyncio.Semaphore) -> None:
        delays = self.faults.decide(src, Direction.IN, True)
        if not delays:
            slots.release()
            return
        self._in_order(Direction.IN, src, delays[0], self._start_answer, src, request_id,
                       payload, writer, slots)

    def _start_answer(self, src: NodeAddr, request_id: int, payload: bytes,
                      writer: asyncio.StreamWriter, slots: asyncio.Semaphore) -> None:
        self._spawn(self._answer(src, request_id, payload, writer, slots))

    async def _answer(self, src: NodeAddr, request_id: int, payload: bytes,
                      writer: asyncio.StreamWriter, slots: asyncio.Semaphore) -> None:
        try:
            handler = self._request_handlers.get(_type_code(payload))
            if handler is None:
                self.stats.frames_unroutable += 1
                kind, answer = Kind.ERROR, b"no handler for this request type"
            else:
                try:
                    kind, answer = Kind.RESPONSE, await handler(src, payload)
                except Exception as exc:  # the requester gets the reason; this node lives
                    logger.exception("peer request handler failed for %s", src)
                    kind, answer = Kind.ERROR, str(exc).encode()
            for delay_ms in self.faults.decide(src, Direction.OUT, True):
                self._in_order(Direction.OUT, src, delay_ms, self._write_answer, writer,
                               encode_envelope(kind, request_id, answer))
        finally:
            slots.release()

    def _write_answer(self, writer: asyncio.StreamWriter, envelope: bytes) -> None:
        if writer.is_closing():
            return
        writer.write(envelope)
        self.stats.tcp_frames_sent += 1
        self.stats.tcp_bytes_sent += len(envelope)

    def deliver_answer(self, link: PeerLink, kind: int, request_id: int, payload: bytes) -> None:
        for delay_ms in self.faults.decide(link.dest, Direction.IN, True):
            self._in_order(Direction.IN, link.dest, delay_ms, link.resolve, kind, request_id,
                           payload)

    def _route(self, src: NodeAddr, frame: bytes) -> None:
        receiver = self._receivers.get(_type_code(frame), self._default_receiver)
        if receiver is None:
            self.stats.frames_unroutable += 1
            return
        receiver(src, frame)

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
        now_ms = self._loop_now().time() * 1000
        last_ms = self._refused_logged_ms.get(source)
        if last_ms is None or now_ms - last_ms >= self.settings.refused_log_interval_ms:
            if len(self._refused_logged_ms) >= self.settings.links_max:
                self._refused_logged_ms.clear()
            self._refused_logged_ms[source] = now_ms
            logger.warning(message)


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """True once ``event`` is set, False after ``timeout_s``. (Not ``asyncio.wait_for``: on
    Python 3.11 it can swallow a cancellation that races with completion, hanging shutdown.)"""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
        return True
    except TimeoutError:
        return False


def _type_code(frame: bytes) -> int:
    return frame[_LENGTH_OFFSET_BYTES] if len(frame) > _LENGTH_OFFSET_BYTES else -1
