"""KafkaSink: the CDC publisher's records into Kafka topics, with aiokafka.

Theory of operation
-------------------
The publisher (cdc/) hands ``publish`` a list of ``SinkRecord`` in commit order and advances
this sink's durable cursor only when the call returns (marmotdb/cdc/sink.py has the contract).
One call:

1. makes sure every topic of the call exists (admin CreateTopics with ``topic_partitions`` and
   ``topic_replication_factor``; "already exists" is success); topics seen once are remembered
   until the producer is rebuilt, because a broker that restarted may have lost them;
2. hands every record to the producer without waiting (``send`` only appends to aiokafka's
   per-partition batches), keeping at most ``in_flight_records_max`` unacknowledged records:
   past that it awaits the oldest before sending more (pipelining with a bound);
3. awaits every acknowledgement (acks=all: every in-sync replica has the record), all within
   ``publish_timeout_ms``.

Order per key: the key is the Debezium key JSON, hashed by aiokafka's default partitioner
(murmur2, the Java client's, so other Kafka clients agree on the partition), so one row's events
go to one partition. aiokafka keeps at most one produce request in flight per broker and mutes a
partition while its batch is in flight, retrying a failed batch before any later one of that
partition: records of one partition are stored in the order they were sent. Records without a
key (schema-change events on ``<prefix>``) all go to partition 0, so they too keep their order.

Every record carries its source position as the header ``POSITION_HEADER`` (text, UTF-8), for
consumers that deduplicate without parsing the envelope. A tombstone is value=None.

Failures: any error of a call raises ``SinkError``; ``retryable`` (broker unreachable, timeout,
leader changes, unknown topic) means the publisher backs off and re-sends the same records.
Before that, the producer is discarded without flushing: batches still queued inside it would
otherwise go out after the call failed, interleaved with the re-sent ones; the next ``publish``
connects a fresh producer and re-creates topics. Non-retryable: a record larger than
``record_bytes_max`` (or than the broker allows), authorisation failures, invalid topics or
settings. Delivery is at-least-once; consumers deduplicate by position.

Not used: aiokafka's idempotent producer. aiokafka 0.14 sends InitProducerId v0, and Tansu 0.6
(the broker the tests run) answers it with UNKNOWN_SERVER_ERROR (its storage expects the v3
producer id and epoch fields), so the producer never gets an id and nothing is sent. The
ordering it would add across retries is already given by the one-request-in-flight rule above,
and duplicates are removed downstream by position.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

from marmotdb.cdc.sink import SinkError, SinkRecord

logger = logging.getLogger("marmotdb.cdc.kafka")

POSITION_HEADER = "marmot.position"
KEYLESS_PARTITION = 0
TOPIC_ALREADY_EXISTS = 36
CLOSE_TIMEOUT_S = 5.0

# Broker answers that no retry can fix; everything else aiokafka flags ``retriable`` (or a
# timeout) is retried by the publisher.
_FATAL_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.InvalidTopicError,
    kafka_errors.UnsupportedVersionError,
    kafka_errors.InvalidPartitionsError,
    kafka_errors.InvalidReplicationFactorError,
    kafka_errors.InvalidRequestError,
)
_RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.RequestTimedOutError,
    ConnectionError,
    TimeoutError,
)


@dataclasses.dataclass(frozen=True)
class KafkaSinkSettings:
    """How one Kafka sink connects and batches; units in the names."""

    bootstrap_servers: str
    """Comma-separated host:port of one or more brokers."""
    client_id: str = "marmotdb-cdc"
    topic_partitions: int = 4
    """Partitions of a topic this sink creates (existing topics are used as they are). More
    partitions spread consumers; one row's events stay in one partition either way."""
    topic_replication_factor: int = 1
    """Replicas of a topic this sink creates; use 3 on a production Kafka cluster."""
    in_flight_records_max: int = 8_192
    """Records sent but not yet acknowledged, at most; bounds the producer's memory."""
    linger_ms: int = 5
    """How long the producer waits to fill a batch before sending it."""
    batch_bytes_max: int = 262_144
    """Size of one partition's batch inside a produce request."""
    record_bytes_max: int = 1_048_576
    """Largest record (key, value and headers) sent; larger ones fail the call for good. Keep
    it at or below the broker's message.max.bytes (Kafka's default is 1 MiB)."""
    request_timeout_ms: int = 30_000
    """One request to a broker (metadata, produce, create topics)."""
    publish_timeout_ms: int = 15_000
    """A whole ``publish`` call: not acknowledged by then, it fails as retryable."""

    def __post_init__(self) -> None:
        for name in ("topic_partitions", "in_flight_records_max", "batch_bytes_max",
                     "record_bytes_max", "request_timeout_ms", "publish_timeout_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"kafka sink: {name} must be at least 1")
        if self.topic_replication_factor < 1 or self.linger_ms < 0:
            raise ValueError("kafka sink: topic_replication_factor >= 1, linger_ms >= 0")


def sink_error(exc: BaseException, context: str) -> SinkError:
    """One aiokafka (or socket) failure as the publisher's SinkError."""
    if isinstance(exc, SinkError):
        return exc
    if isinstance(exc, _FATAL_ERRORS):
        retryable = False
    elif isinstance(exc, _RETRYABLE_ERRORS):
        retryable = True
    else:
        retryable = bool(getattr(exc, "retriable", False))
    return SinkError(f"kafka: {context}: {type(exc).__name__}: {exc}", retryable=retryable)


class KafkaSink:
    """A Sink (cdc/sink.py) writing to Kafka; one producer and one admin client."""

    def __init__(self, name: str, settings: KafkaSinkSettings) -> None:
        self.name = name
        self.settings = settings
        self._producer: Any = None
        self._admin: Any = None
        self._topics_ready: set[str] = set()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect the producer and the admin client; retryable SinkError if unreachable."""
        if self._closed:
            raise SinkError(f"kafka sink {self.name} is closed", retryable=False)
        if self._producer is not None:
            return
        s = self.settings
        common: dict[str, Any] = {"bootstrap_servers": s.bootstrap_servers,
                                  "client_id": s.client_id,
                                  "request_timeout_ms": s.request_timeout_ms}
        producer = AIOKafkaProducer(
            **common, acks="all", enable_idempotence=False, linger_ms=s.linger_ms,
            max_batch_size=s.batch_bytes_max, max_request_size=s.record_bytes_max)
        admin = AIOKafkaAdminClient(**common)
        try:
            await producer.start()
            await admin.start()
        except BaseException as exc:  # cancellation too: nothing half-connected stays open
            await _quietly(producer.stop())
            await _quietly(admin.close())
            if not isinstance(exc, Exception):
                raise
            raise sink_error(exc, f"connect to {s.bootstrap_servers}") from exc
        self._producer, self._admin = producer, admin

    async def close(self) -> None:
        """Disconnect (what is queued and not yet acknowledged is dropped); idempotent."""
        self._closed = True
        await self._discard()

    async def _discard(self) -> None:
        """Drop the producer without flushing it, so nothing of a failed call is sent later.

        aiokafka has no public abort: ``stop()`` flushes every queued batch first (which, with
        the broker down, waits until they expire). So, on aiokafka 0.14 (pinned): cancel its
        sender task (no batch is drained any more; a request already on the wire finishes),
        fail the queued batches, then stop; the client is closed even if stopping times out.
        """
        producer, admin = self._producer, self._admin
        self._producer = self._admin = None
        self._topics_ready.clear()
        if producer is not None:
            sender_task = producer._sender.sender_task
            if sender_task is not None:
                sender_task.cancel()
            producer._message_accumulator.fail_all(
                kafka_errors.KafkaError(f"kafka sink {self.name}: producer discarded"))
            await _quietly(producer.stop())
            await _quietly(producer.client.close())
        if admin is not None:
            await _quietly(admin.close())

    # ------------------------------------------------------------------ publish

    async def publish(self, records: Sequence[SinkRecord]) -> None:
        """Deliver ``records`` (acks=all), in order per key; SinkError if not all were."""
        if self._closed:
            raise SinkError(f"kafka sink {self.name} is closed", retryable=False)
        if not records:
            return
        pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        try:
            async with asyncio.timeout(self.settings.publish_timeout_ms / 1000):
                await self.start()  # again after a failure discarded the producer
                await self._ensure_topics(r.topic for r in records)
                await self._send_all(records, pending)
        except (Exception, asyncio.CancelledError) as exc:
            for future in pending:
                future.add_done_callback(_retrieve)
            await self._discard()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise sink_error(exc, f"publish {len(records)} records") from exc

    async def _send_all(self, records: Sequence[SinkRecord],
                        pending: collections.deque[asyncio.Future[Any]]) -> None:
        producer, window = self._producer, self.settings.in_flight_records_max
        for record in records:
            if len(pending) >= window:
                await pending.popleft()
            pending.append(await producer.send(
                record.topic, record.value, key=record.key,
                partition=KEYLESS_PARTITION if record.key is None else None,
                headers=[(POSITION_HEADER, record.position.encode())]))
        while pending:
            await pending.popleft()

    async def _ensure_topics(self, topics: Iterable[str]) -> None:
        missing = set(topics) - self._topics_ready
        if not missing:
            return
        s = self.settings
        response = await self._admin.create_topics(
            [NewTopic(t, s.topic_partitions, s.topic_replication_factor) for t in sorted(missing)])
        for topic, error_code, message in _topic_errors(response):
            if error_code not in (0, TOPIC_ALREADY_EXISTS):
                error = kafka_errors.for_code(error_code)(message)
                raise sink_error(error, f"create topic {topic}")
        self._topics_ready |= missing


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    return [(entry[0], entry[1], entry[2] if len(entry) > 2 else None)
            for entry in response.topic_errors]


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Read a dropped send's outcome, so asyncio does not warn it was never retrieved."""
    if not future.cancelled():
        future.exception()


async def _quietly(awaitable: Any) -> None:
    """Closing after a failure: the connection may already be broken; bounded in time."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await awaitable
    except asyncio.CancelledError:
        # aiokafka re-raises the cancellation of its own sender task (cancelled in _discard);
        # only a cancellation of the caller is passed on.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception as exc:  # the sink is being discarded; nothing depends on this outcome
        logger.debug("kafka: ignored while closing: %r", exc)

