"""PeerEndpoint: one-way messages and request/response between nodes, as a sans-I/O machine.

Theory of operation
-------------------
A node has one endpoint. Every frame it receives goes to ``receive_frame(src, frame, now_ms)``;
everything it sends leaves through ``transport.send`` (transport.py), called synchronously from
inside the endpoint's methods; the host keeps one timer armed at ``next_deadline_ms()`` and calls
``handle_timer(now_ms)`` when it fires (aioquic's shape). No clock, no I/O, no global randomness:
the same object runs under asyncio (runtime/peer_transport.py) and in the simulator (sim/).

Receiving. A frame whose tag was claimed with ``add_frame_receiver`` goes undecoded to that
receiver (membership decodes its own frames: its counters are per frame). Every other frame is
authenticated and decoded here (codec.py), then by kind:

    MESSAGE   -> the handler registered with ``on_message`` for its type
    REQUEST   -> the handler registered with ``on_request`` for its type, as an IncomingRequest
                 that must be answered exactly once with ``reply`` or ``reply_failure`` (now or
                 later); without a handler, or past ``requests_served_max``, the endpoint answers
                 a ``PeerFailure`` itself
    RESPONSE  -> matched to our request by correlation id (below)

Requesting. ``request(peer, message, deadline_ms, now_ms, on_done)`` sends a REQUEST frame with a
fresh correlation id and returns the id. Each request ends exactly once, with ``on_done``
called with a ``Completion``::

                     RESPONSE (our id)  ──> REPLIED       (the answer message)
                     RESPONSE PeerFailure ─> FAILED       (the peer could not serve it)
    request() ─ PENDING ─ deadline reached ─> TIMED_OUT   (it may or may not have run there)
                     fail_peer(peer) ──────> UNREACHABLE  (the host knows the link is down)
                     cancel() / close() ───> CANCELLED

A finished id is remembered (the last ``finished_ids_max``), so a RESPONSE arriving after its
request ended is recognised: after TIMED_OUT, UNREACHABLE or CANCELLED it is a *late reply*,
after REPLIED or FAILED a *duplicate reply* (a duplicated datagram); both are counted and
dropped, as is a response whose id we never issued or have forgotten (*unmatched*). A duplicate
REQUEST (same peer, same id) that arrives while the first is still being served is dropped.

Correlation ids start at a random point drawn from the ``random.Random`` the host passes in and
count up, so a restarted node does not reuse the ids of its previous life while their late
replies may still be in flight. Callbacks (``on_done``, handlers) run inside the endpoint's
call; they may send and request (the endpoint's state is settled before they run) but must not
block.

Bounds: ``requests_in_flight_max`` of our requests awaiting an answer (``request`` raises
``PeerOverloadedError`` beyond it; ``request_or_fail``, for protocol code that treats a
missing answer as a failed one, does not send and ends the request as TIMED_OUT at the next
timer instead — a node with thousands of instances to recover must not lose its timers to an
exception), ``requests_served_max`` peers' requests handed to handlers
and not yet answered (more are answered ``PeerFailure("busy")``), ``finished_ids_max``
remembered ids, and the deadline heap is rebuilt when stale entries dominate it.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import logging
import random
from collections.abc import Callable, Iterable

import msgspec

from marmotdb.errors import TransientError
from marmotdb.peer.address import NodeAddr
from marmotdb.peer.codec import CORRELATION_ID_MAX, FrameCodec, FrameError, FrameKind, peek_tag
from marmotdb.peer.registry import PEER_MESSAGES
from marmotdb.peer.transport import Transport

logger = logging.getLogger("marmotdb.peer")

NEVER_MS = 2**62


class PeerFailure(msgspec.Struct, frozen=True, array_like=True):
    """The answer to a request the peer could not serve: no handler, busy, or the handler failed.
    ``retryable`` False means asking again cannot help (e.g. nobody handles that type)."""

    reason: str
    retryable: bool = True


PEER_MESSAGES.register(240, PeerFailure, "peer")


class Outcome(enum.Enum):
    REPLIED = "replied"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


_ANSWERED = frozenset({Outcome.REPLIED, Outcome.FAILED})


class PeerOverloadedError(TransientError):
    """Too many of our requests are awaiting answers (``requests_in_flight_max``)."""


@dataclasses.dataclass(frozen=True)
class Completion:
    """How one of our requests ended. ``reply`` is set for REPLIED, ``reason`` otherwise."""

    correlation_id: int
    peer: NodeAddr
    request: msgspec.Struct
    outcome: Outcome
    reply: msgspec.Struct | None
    reason: str
    sent_ms: int
    done_ms: int


@dataclasses.dataclass(frozen=True)
class IncomingRequest:
    """A peer's request handed to a handler; answer it with ``reply`` or ``reply_failure``."""

    peer: NodeAddr
    correlation_id: int
    message: msgspec.Struct
    reliable: bool
    received_ms: int


@dataclasses.dataclass(frozen=True)
class EndpointSettings:
    requests_in_flight_max: int = 4096  # our requests awaiting an answer
    requests_served_max: int = 1024  # peers' requests handed to handlers, not yet answered
    finished_ids_max: int = 4096  # finished ids remembered to classify late/duplicate replies
    rejected_frame_log_interval_ms: int = 10_000  # per source address


@dataclasses.dataclass
class EndpointStats:
    frames_received: int = 0
    frames_sent: int = 0
    messages_sent: int = 0
    messages_unhandled: int = 0
    requests_sent: int = 0
    requests_replied: int = 0
    requests_failed: int = 0
    requests_timed_out: int = 0
    requests_unreachable: int = 0
    requests_cancelled: int = 0
    requests_refused: int = 0  # request_or_fail beyond requests_in_flight_max: not sent
    late_replies: int = 0
    duplicate_replies: int = 0
    unmatched_replies: int = 0
    requests_received: int = 0
    duplicate_requests: int = 0
    requests_refused_busy: int = 0
    requests_unhandled: int = 0
    frames_rejected: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Pending:
    peer: NodeAddr
    message: msgspec.Struct
    deadline_ms: int
    sent_ms: int
    on_done: Callable[[Completion], None]


MessageHandler = Callable[[NodeAddr, msgspec.Struct, int], None]
RequestHandler = Callable[[IncomingRequest, int], None]
FrameReceiver = Callable[[NodeAddr, bytes, int], None]


class PeerEndpoint:
    def __init__(self, codec: FrameCodec, transport: Transport, rng: random.Random,
                 settings: EndpointSettings | None = None):
        self.codec, self.settings = codec, settings or EndpointSettings()
        self.stats = EndpointStats()
        self._transport = transport
        self._next_id = rng.randrange(1, 2**62)
        self._pending: dict[int, _Pending] = {}
        self._deadlines: list[tuple[int, int]] = []  # (deadline_ms, id), stale entries skipped
        self._finished: collections.OrderedDict[int, Outcome] = collections.OrderedDict()
        self._serving: set[tuple[NodeAddr, int]] = set()
        self._message_handlers: dict[type, MessageHandler] = {}
        self._request_handlers: dict[type, RequestHandler] = {}
        self._frame_receivers: dict[int, FrameReceiver] = {}
        self._rejected_logged_ms: dict[NodeAddr, int] = {}
        self._handlers_by_kind = {FrameKind.MESSAGE: self._on_message,
                                  FrameKind.REQUEST: self._on_request,
                                  FrameKind.RESPONSE: self._on_response}

    # ----------------------------------------------------------------- registering

    def on_message(self, types: Iterable[type], handler: MessageHandler) -> None:
        """One-way messages of these types go to ``handler(src, message, now_ms)``."""
        for cls in self._registered(types):
            self._message_handlers[cls] = handler

    def on_request(self, types: Iterable[type], handler: RequestHandler) -> None:
        """Requests of these types go to ``handler(request, now_ms)``, which must answer."""
        for cls in self._registered(types):
            self._request_handlers[cls] = handler

    def add_frame_receiver(self, tags: Iterable[int], receiver: FrameReceiver) -> None:
        """Frames with these tags go undecoded to ``receiver(src, frame, now_ms)``."""
        for tag in tags:
            self._frame_receivers[tag] = receiver

    # ----------------------------------------------------------------- sending

    def send(self, peer: NodeAddr, message: msgspec.Struct, reliable: bool = True) -> None:
        """A one-way message (no answer, no deadline, no delivery guarantee)."""
        self.stats.messages_sent += 1
        self._transmit(peer, self.codec.encode(message), reliable)

    def request(self, peer: NodeAddr, message: msgspec.Struct, deadline_ms: int, now_ms: int,
                on_done: Callable[[Completion], None], *, reliable: bool = True) -> int:
        """Send a request; ``on_done`` is called exactly once, by ``deadline_ms`` at the latest.
        Returns the correlation id (for ``cancel``)."""
        if deadline_ms <= now_ms:
            raise ValueError(f"deadline {deadline_ms} ms is not after now ({now_ms} ms)")
        if len(self._pending) >= self.settings.requests_in_flight_max:
            raise PeerOverloadedError(f"{len(self._pending)} peer requests already in flight")
        correlation_id = self._take_id()
        frame = self.codec.encode(message, FrameKind.REQUEST, correlation_id)
        self._pending[correlation_id] = _Pending(peer, message, deadline_ms, now_ms, on_done)
        self._push_deadline(deadline_ms, correlation_id)
        self.stats.requests_sent += 1
        self._transmit(peer, frame, reliable)
        return correlation_id

    def request_or_fail(self, peer: NodeAddr, message: msgspec.Struct, deadline_ms: int,
                        now_ms: int, on_done: Callable[[Completion], None], *,
                        reliable: bool = True) -> int:
        """``request``, except beyond ``requests_in_flight_max``: then nothing is sent and
        ``on_done`` gets TIMED_OUT at the next ``handle_timer`` (never inside this call)."""
        if len(self._pending) < self.settings.requests_in_flight_max:
            return self.request(peer, message, deadline_ms, now_ms, on_done, reliable=reliable)
        self.stats.requests_refused += 1
        correlation_id = self._take_id()
        self._pending[correlation_id] = _Pending(peer, message, now_ms, now_ms, on_done)
        self._push_deadline(now_ms, correlation_id)
        return correlation_id

    def reply(self, request: IncomingRequest, message: msgspec.Struct) -> None:
        """Answer a peer's request (once)."""
        key = (request.peer, request.correlation_id)
        if key not in self._serving:
            raise ValueError(f"request {request.correlation_id} from {request.peer} was "
                             f"already answered")
        self._serving.discard(key)
        self._answer(request.peer, request.correlation_id, message, request.reliable)

    def reply_failure(self, request: IncomingRequest, reason: str, retryable: bool = True) -> None:
        self.reply(request, PeerFailure(reason, retryable))

    def cancel(self, correlation_id: int, now_ms: int) -> bool:
        """End a pending request as CANCELLED; False if it had already ended."""
        if correlation_id not in self._pending:
            return False
        self._finish(correlation_id, Outcome.CANCELLED, None, "cancelled", now_ms)
        return True

    def fail_peer(self, peer: NodeAddr, reason: str, now_ms: int) -> int:
        """The host learned ``peer`` is unreachable: end its pending requests as UNREACHABLE."""
        ids = [i for i, p in self._pending.items() if p.peer == peer]
        for correlation_id in ids:
            self._finish(correlation_id, Outcome.UNREACHABLE, None, reason, now_ms)
        return len(ids)

    def close(self, now_ms: int) -> None:
        """Cancel every pending request (the node is stopping)."""
        for correlation_id in list(self._pending):
            self._finish(correlation_id, Outcome.CANCELLED, None, "endpoint closed", now_ms)

    # ----------------------------------------------------------------- driving

    def receive_frame(self, src: NodeAddr, frame: bytes, now_ms: int,
                      reliable: bool = True) -> None:
        """Handle one received frame. Bad frames are counted and logged, never raised.

        ``reliable`` says which path it came by (False: a datagram), so a request is answered
        the way it came; a host that cannot tell leaves the default."""
        receiver = self._frame_receivers.get(peek_tag(frame))  # type: ignore[arg-type]
        if receiver is not None:
            receiver(src, frame, now_ms)
            return
        try:
            decoded = self.codec.decode_frame(frame)
        except FrameError as exc:
            self._reject(src, exc, now_ms)
            return
        self.stats.frames_received += 1
        self._handlers_by_kind[decoded.kind](src, decoded.correlation_id, decoded.message,
                                             now_ms, reliable)

    def next_deadline_ms(self) -> int:
        """When ``handle_timer`` next has work: the earliest deadline of a pending request."""
        heap = self._deadlines
        while heap and self._is_stale(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else NEVER_MS

    def handle_timer(self, now_ms: int) -> None:
        """End every request whose deadline is at or before ``now_ms`` as TIMED_OUT."""
        heap = self._deadlines
        while heap and heap[0][0] <= now_ms:
            entry = heapq.heappop(heap)
            if not self._is_stale(entry):
                self._finish(entry[1], Outcome.TIMED_OUT, None,
                             f"no answer within the deadline ({entry[0]} ms)", now_ms)

    # ----------------------------------------------------------------- reading

    @property
    def requests_in_flight(self) -> int:
        return len(self._pending)

    @property
    def requests_being_served(self) -> int:
        return len(self._serving)

    # ----------------------------------------------------------------- receiving

    def _on_message(self, src: NodeAddr, correlation_id: int, message: msgspec.Struct,
                    now_ms: int, reliable: bool) -> None:
        handler = self._message_handlers.get(type(message))
        if handler is None:
            self.stats.messages_unhandled += 1
            return
        handler(src, message, now_ms)

    def _on_request(self, src: NodeAddr, correlation_id: int, message: msgspec.Struct,
                    now_ms: int, reliable: bool) -> None:
        self.stats.requests_received += 1
        key = (src, correlation_id)
        if key in self._serving:
            self.stats.duplicate_requests += 1
            return
        handler = self._request_handlers.get(type(message))
        if handler is None:
            self.stats.requests_unhandled += 1
            failure = PeerFailure(f"no handler for {type(message).__name__}", retryable=False)
            self._answer(src, correlation_id, failure, reliable)
            return
        if len(self._serving) >= self.settings.requests_served_max:
            self.stats.requests_refused_busy += 1
            self._answer(src, correlation_id, PeerFailure("busy"), reliable)
            return
        self._serving.add(key)
        handler(IncomingRequest(src, correlation_id, message, reliable, now_ms), now_ms)

    def _on_response(self, src: NodeAddr, correlation_id: int, message: msgspec.Struct,
                     now_ms: int, reliable: bool) -> None:
        if correlation_id not in self._pending:
            finished = self._finished.get(correlation_id)
            if finished is None:
                self.stats.unmatched_replies += 1
            elif finished in _ANSWERED:
                self.stats.duplicate_replies += 1
            else:
                self.stats.late_replies += 1
            return
        if isinstance(message, PeerFailure):
            self._finish(correlation_id, Outcome.FAILED, None, message.reason, now_ms)
        else:
            self._finish(correlation_id, Outcome.REPLIED, message, "", now_ms)

    # ----------------------------------------------------------------- internals

    def _finish(self, correlation_id: int, outcome: Outcome, reply: msgspec.Struct | None,
                reason: str, now_ms: int) -> None:
        pending = self._pending.pop(correlation_id)
        self._remember(correlation_id, outcome)
        counter = f"requests_{outcome.name.lower()}"
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        pending.on_done(Completion(correlation_id, pending.peer, pending.message, outcome, reply,
                                   reason, pending.sent_ms, now_ms))

    def _remember(self, correlation_id: int, outcome: Outcome) -> None:
        finished = self._finished
        finished[correlation_id] = outcome
        while len(finished) > self.settings.finished_ids_max:
            finished.popitem(last=False)

    def _answer(self, peer: NodeAddr, correlation_id: int, message: msgspec.Struct,
                reliable: bool) -> None:
        self._transmit(peer, self.codec.encode(message, FrameKind.RESPONSE, correlation_id),
                       reliable)

    def _transmit(self, peer: NodeAddr, frame: bytes, reliable: bool) -> None:
        self.stats.frames_sent += 1
        self._transport.send(peer, frame, reliable)

    def _take_id(self) -> int:
        correlation_id = self._next_id
        self._next_id = correlation_id + 1 if correlation_id < CORRELATION_ID_MAX else 1
        return correlation_id

    def _push_deadline(self, deadline_ms: int, correlation_id: int) -> None:
        heap = self._deadlines
        if len(heap) > 2 * len(self._pending) + 64:  # mostly answered requests: compact
            heap[:] = [e for e in heap if not self._is_stale(e)]
            heapq.heapify(heap)
        heapq.heappush(heap, (deadline_ms, correlation_id))

    def _is_stale(self, entry: tuple[int, int]) -> bool:
        pending = self._pending.get(entry[1])
        return pending is None or pending.deadline_ms != entry[0]

    def _registered(self, types: Iterable[type]) -> list[type]:
        types = list(types)
        for cls in types:
            if cls not in self.codec.registry:
                raise TypeError(f"{cls.__name__} is not registered in the codec's registry")
        return types

    def _reject(self, src: NodeAddr, exc: FrameError, now_ms: int) -> None:
        reason = type(exc).__name__
        self.stats.frames_rejected[reason] = self.stats.frames_rejected.get(reason, 0) + 1
        last_ms = self._rejected_logged_ms.get(src)
        if last_ms is None or now_ms - last_ms >= self.settings.rejected_frame_log_interval_ms:
            if len(self._rejected_logged_ms) >= 4096:
                self._rejected_logged_ms.clear()  # bound the table; worst case: one extra log
            self._rejected_logged_ms[src] = now_ms
            logger.warning("rejected peer frame from %s: %s", src, exc.message)
