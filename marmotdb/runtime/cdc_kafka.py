"""KafkaSink: the CDC publisher's records into Kafka topics, with aiokafka.

Theory of operation
-------------------
The publisher (cdc/) hands ``publish`` a list of ``SinkRecord`` in commit order and advances
this sink's durable cursor only when the call returns (marmotdb/cdc/sink.py has the contract).
One call:

1. makes sure every topic of the call exists (admin CreateTopics with the sink's ``partitions``
   and ``replication_factor``; "already exists" is success); topics seen once are remembered
   until the producer is rebuilt, because a broker that restarted may have lost them;
2. appends each record to an open batch of its (topic, partition) (aiokafka's BatchBuilder,
   ``BATCH_BYTES_MAX``) and queues a batch for sending as soon as it is full, the rest at the
   end; at most ``in_flight_max`` records are unacknowledged, past that the oldest
   queued batch is awaited before more are added (pipelining with a bound);
3. awaits every acknowledgement (acks=all: every in-sync replica has the record), all within
   ``publish_timeout_ms``.

There is no linger: a call is already a batch (the publisher gathers records for it), so a
batch is sent as soon as it is full or the call has no more records for its partition.

Batches are built here rather than with ``producer.send`` per record: per-record futures,
metadata look-ups and aiokafka's byte-at-a-time murmur2 cost 18 us of CPU per record, this path
about 9 (bench/kafka_sink_bench.py).

Order per key: the key is the Debezium key JSON; its partition is Kafka's default,
``murmur2(key) % partitions`` (the Java client's hash, so other Kafka clients agree), so one
row's events go to one partition. Batches of one partition are queued in order, and aiokafka
keeps at most one produce request in flight per broker and mutes a partition while its batch is
in flight, retrying a failed batch before any later one of that partition: records of one
partition are stored in the order they were handed over. Records without a key (schema-change
events on ``<prefix>``) all go to partition 0, so they too keep their order.

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
import logging
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

from marmotdb.cdc.sink import SinkError, SinkRecord
from marmotdb.config import ConfigError, SinkConfig

logger = logging.getLogger("marmotdb.cdc.kafka")

POSITION_HEADER = "Marmot-Position"  # the NATS sink's header name too
BATCH_BYTES_MAX = 256 * 1024  # one partition's batch in a produce request (Kafka: 16 KiB,
# too small for ~700-byte envelopes; bigger gains nothing measurable against Tansu)
CLIENT_ID = "marmotdb-cdc"
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

    def __init__(self, config: SinkConfig) -> None:
        if not config.servers:
            raise ConfigError(f"cdc sink {config.name}: kind kafka needs servers "
                              "(bootstrap host:port list)")
        if min(config.partitions, config.replication_factor, config.record_bytes_max) < 1:
            raise ConfigError(f"cdc sink {config.name}: partitions, replication_factor and "
                              "record_bytes_max must be at least 1")
        self.name = config.name
        self.config = config
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
        c = self.config
        common: dict[str, Any] = {"bootstrap_servers": ",".join(c.servers),
                                  "client_id": f"{CLIENT_ID}-{c.name}",
                                  # past the call's own timeout: aiokafka never expires
                                  # batches itself; the call fails first (see _discard)
                                  "request_timeout_ms": 2 * c.publish_timeout_ms}
        producer = AIOKafkaProducer(
            **common, acks="all", enable_idempotence=False,
            # a record batch is what the broker's message.max.bytes limits: never above what
            # one record may be
            max_batch_size=min(BATCH_BYTES_MAX, c.record_bytes_max),
            max_request_size=c.record_bytes_max)
        admin = AIOKafkaAdminClient(**common)
        try:
            await producer.start()
            await admin.start()
        except BaseException as exc:  # cancellation too: nothing half-connected stays open
            await _quietly(producer.stop())
            await _quietly(admin.close())
            if not isinstance(exc, Exception):
                raise
            raise sink_error(exc, f"connect to {common['bootstrap_servers']}") from exc
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
        pending: collections.deque[tuple[asyncio.Future[Any], int]] = collections.deque()
        try:
            async with asyncio.timeout(self.config.publish_timeout_ms / 1000):
                await self.start()  # again after a failure discarded the producer
                await self._ensure_topics(r.topic for r in records)
                await self._send_all(records, pending)
        except (Exception, asyncio.CancelledError) as exc:
            for future, _ in pending:
                future.add_done_callback(_retrieve)
            await self._discard()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise sink_error(exc, f"publish {len(records)} records") from exc

    async def _send_all(self, records: Sequence[SinkRecord],
                        pending: collections.deque[tuple[asyncio.Future[Any], int]]) -> None:
        """Fill one batch per (topic, partition) and queue each as it fills; at most
        ``in_flight_max`` records unacknowledged. Batches of one partition are queued
        in order, so its records are stored in the order of ``records``."""
        producer, window = self._producer, self.config.in_flight_max
        partition_counts = {t: len(await producer.partitions_for(t))
                            for t in {r.topic for r in records}}
        open_batches: dict[tuple[str, int], _OpenBatch] = {}
        unacked = 0
        for record in records:
            if unacked >= window:
                if not pending:
                    await self._queue_batches(open_batches, pending)
                future, count = pending.popleft()
                await future
                unacked -= count
            self._check_size(record)
            slot = (record.topic, _partition(record, partition_counts[record.topic]))
            batch = open_batches.get(slot)
            if batch is None or not batch.add(record):
                if batch is not None:
                    await self._queue_batches({slot: open_batches.pop(slot)}, pending)
                batch = open_batches[slot] = _OpenBatch(producer.create_batch())
                if not batch.add(record):  # an empty batch takes any record; cannot happen
                    raise SinkError(f"kafka: record {record.position} not batched",
                                    retryable=False)
            unacked += 1
        await self._queue_batches(open_batches, pending)
        while pending:
            await pending.popleft()[0]

    def _check_size(self, record: SinkRecord) -> None:
        """A record over record_bytes_max fails the call for good (aiokafka's own size check
        covers ``send``, not the batches built here)."""
        size = len(record.key or b"") + len(record.value or b"") + len(record.position)
        if size > self.config.record_bytes_max:
            raise sink_error(kafka_errors.MessageSizeTooLargeError(
                f"record {record.position} is {size} bytes, record_bytes_max is "
                f"{self.config.record_bytes_max}"), "publish")

    async def _queue_batches(self, batches: dict[tuple[str, int], _OpenBatch],
                             pending: collections.deque[tuple[asyncio.Future[Any], int]]
                             ) -> None:
        for (topic, partition), batch in batches.items():
            batch.builder.close()  # complete: sent at once, not after aiokafka's linger
            future = await self._producer.send_batch(batch.builder, topic, partition=partition)
            pending.append((future, batch.count))
        batches.clear()

    async def _ensure_topics(self, topics: Iterable[str]) -> None:
        missing = set(topics) - self._topics_ready
        if not missing:
            return
        c = self.config
        response = await self._admin.create_topics(
            [NewTopic(t, c.partitions, c.replication_factor) for t in sorted(missing)])
        for topic, error_code, message in _topic_errors(response):
            if error_code not in (0, TOPIC_ALREADY_EXISTS):
                error = kafka_errors.for_code(error_code)(message)
                raise sink_error(error, f"create topic {topic}")
        self._topics_ready |= missing


def _partition(record: SinkRecord, partition_count: int) -> int:
    """Kafka's default partitioner for a key; keyless records to one partition (in order)."""
    if record.key is None:
        return KEYLESS_PARTITION
    return (murmur2(record.key) & 0x7FFFFFFF) % partition_count


class _OpenBatch:
    """A batch being filled for one partition (aiokafka's BatchBuilder) and its record count."""

    __slots__ = ("builder", "count")

    def __init__(self, builder: Any) -> None:
        self.builder, self.count = builder, 0

    def add(self, record: SinkRecord) -> bool:
        """False when the batch is full (BATCH_BYTES_MAX); an empty batch takes any record."""
        added = self.builder.append(key=record.key, value=record.value, timestamp=None,
                                    headers=[(POSITION_HEADER, record.position.encode())])
        self.count += added is not None
        return added is not None


_MURMUR2_SEED, _MURMUR2_M = 0x9747B28C, 0x5BD1E995
_U32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's partitioning hash (Java client ``Utils.murmur2``, as aiokafka's ``murmur2``),
    unsigned 32 bits; the partition is ``(murmur2(key) & 0x7FFFFFFF) % partitions``. Written
    with ``struct.iter_unpack`` because aiokafka's byte-at-a-time version was the sink's
    largest CPU cost (a third of it at 10k records/s)."""
    length = len(data)
    h = (_MURMUR2_SEED ^ length) & _U32
    body = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:body]):
        k = (k * _MURMUR2_M) & _U32
        k = ((k ^ (k >> 24)) * _MURMUR2_M) & _U32
        h = ((h * _MURMUR2_M) & _U32) ^ k
    tail = length & 3
    if tail == 3:
        h ^= data[body + 2] << 16
    if tail >= 2:
        h ^= data[body + 1] << 8
    if tail >= 1:
        h = ((h ^ data[body]) * _MURMUR2_M) & _U32
    h = ((h ^ (h >> 13)) * _MURMUR2_M) & _U32
    return h ^ (h >> 15)


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


def build_sink(config: SinkConfig) -> KafkaSink:
    return KafkaSink(config)
