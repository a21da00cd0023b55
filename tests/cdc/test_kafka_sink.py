"""KafkaSink against a real Kafka-protocol broker (Tansu, tests/cdc/kafka_broker.py).

Consumers use ``assign()`` and read from the beginning: Tansu's consumer-group joins take
seconds, and a test reads whole topics anyway. Each test writes to topics of its own.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import errors as kafka_errors
from aiokafka.partitioner import murmur2

from marmotdb.cdc.sink import SinkError, SinkRecord
from marmotdb.config import ConfigError, SinkConfig, sink_configs
from marmotdb.runtime.cdc_kafka import (
    KEYLESS_PARTITION,
    POSITION_HEADER,
    KafkaSink,
    build_sink,
    sink_error,
)
from marmotdb.runtime.cluster_state import free_port
from tests.cdc.kafka_broker import KafkaBroker, KafkaMessage, read_topics

pytestmark = pytest.mark.timeout(60)
READ_TIMEOUT_S = 15.0


def make_sink(name: str, bootstrap: str, **overrides: Any) -> KafkaSink:
    return KafkaSink(SinkConfig(name=name, kind="kafka", servers=[bootstrap], partitions=3,
                                **overrides))


def key_of(n: int) -> bytes:
    return b'{"schema":{"type":"struct"},"payload":{"id":%d}}' % n


def read_topic(bootstrap: str, topic: str, count: int) -> list[KafkaMessage]:
    """Every message of ``topic`` from the start, once ``count`` are in."""
    return asyncio.run(read_topics(bootstrap, topic, expect_min=count, timeout_s=READ_TIMEOUT_S,
                                   quiet_s=0.3))


def position_of(message: KafkaMessage) -> str:
    return message.header(POSITION_HEADER) or ""


async def publish_then_close(sink: KafkaSink, *calls: list[SinkRecord]) -> None:
    await sink.start()
    try:
        for records in calls:
            await sink.publish(records)
    finally:
        await sink.close()


def test_one_keys_events_stay_in_one_partition_in_order(kafka_broker: KafkaBroker) -> None:
    topic = "marmot.shop.orders"
    keys, events_per_key = 40, 25
    records = [SinkRecord(topic, key_of(k), b'{"op":"u","n":%d}' % i, f"1-{i * keys + k:08d}")
               for i in range(events_per_key) for k in range(keys)]
    sink = make_sink("kafka-order", kafka_broker.bootstrap_servers, in_flight_max=64)
    chunks = [records[i:i + 300] for i in range(0, len(records), 300)]
    asyncio.run(publish_then_close(sink, *chunks))

    messages = read_topic(kafka_broker.bootstrap_servers, topic, len(records))
    assert len(messages) == len(records)
    partitions = {m.partition for m in messages}
    assert partitions == {0, 1, 2}, "the sink created the topic with topic_partitions=3"
    by_key: dict[bytes, list[Any]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        by_key[message.key].append(message)
    for key, seen in by_key.items():
        assert {m.partition for m in seen} == {(murmur2(key) & 0x7FFFFFFF) % 3}
        positions = [position_of(m) for m in seen]
        assert positions == sorted(positions) and len(positions) == events_per_key
    assert sorted(position_of(m) for m in messages) == sorted(r.position for r in records)


def test_tombstones_are_null_values_and_keyless_records_keep_their_order(
        kafka_broker: KafkaBroker) -> None:
    topic, schema_topic = "marmot.shop.items", "ddl"
    rows = [SinkRecord(topic, key_of(7), b'{"op":"c"}', "2-00000001"),
            SinkRecord(topic, key_of(7), b'{"op":"d"}', "2-00000002"),
            SinkRecord(topic, key_of(7), None, "2-00000002")]
    schema = [SinkRecord(schema_topic, None, b'{"ddl":"%d"}' % i, f"2-{10 + i:08d}")
              for i in range(30)]
    sink = make_sink("kafka-tombstone", kafka_broker.bootstrap_servers)
    asyncio.run(publish_then_close(sink, rows + schema))

    messages = read_topic(kafka_broker.bootstrap_servers, topic, 3)
    assert [(m.value, position_of(m)) for m in messages] == [
        (b'{"op":"c"}', "2-00000001"), (b'{"op":"d"}', "2-00000002"), (None, "2-00000002")]
    assert all(m.key == key_of(7) for m in messages)
    ddl = read_topic(kafka_broker.bootstrap_servers, schema_topic, 30)
    assert {m.partition for m in ddl} == {KEYLESS_PARTITION}
    assert [position_of(m) for m in ddl] == [r.position for r in schema]


def test_a_record_larger_than_allowed_fails_for_good(kafka_broker: KafkaBroker) -> None:
    sink = make_sink("kafka-big", kafka_broker.bootstrap_servers, record_bytes_max=10_000)
    big = SinkRecord("marmot.shop.blobs", key_of(1), b"x" * 20_000, "3-00000001")

    async def scenario() -> SinkError:
        await sink.start()
        with pytest.raises(SinkError) as failed:
            await sink.publish([big])
        await sink.publish([SinkRecord("marmot.shop.blobs", key_of(2), b"small", "3-2")])
        await sink.close()
        return failed.value

    error = asyncio.run(scenario())
    assert error.retryable is False and "MessageSizeTooLarge" in str(error)


def test_broker_errors_map_to_retryable_or_not() -> None:
    assert sink_error(kafka_errors.MessageSizeTooLargeError(), "x").retryable is False
    assert sink_error(kafka_errors.RecordListTooLargeError(), "x").retryable is False
    assert sink_error(kafka_errors.TopicAuthorizationFailedError(), "x").retryable is False
    assert sink_error(kafka_errors.KafkaConnectionError(), "x").retryable is True
    assert sink_error(kafka_errors.NotLeaderForPartitionError(), "x").retryable is True
    assert sink_error(kafka_errors.KafkaTimeoutError(), "x").retryable is True
    assert sink_error(TimeoutError(), "x").retryable is True


def test_unreachable_broker_is_retryable_and_close_is_idempotent() -> None:
    sink = make_sink("kafka-nowhere", f"127.0.0.1:{free_port()}", publish_timeout_ms=3_000)

    async def scenario() -> tuple[SinkError, SinkError]:
        with pytest.raises(SinkError) as at_start:
            await sink.start()
        await sink.close()
        await sink.close()
        with pytest.raises(SinkError) as after_close:
            await sink.publish([SinkRecord("t", b"k", b"v", "1")])
        return at_start.value, after_close.value

    at_start, after_close = asyncio.run(scenario())
    assert at_start.retryable is True
    assert after_close.retryable is False


def test_broker_down_is_retryable_and_publishing_resumes_when_it_is_back(
        tmp_path: Path) -> None:
    """SIGKILL the broker under a connected sink: the call fails as retryable within
    publish_timeout_ms, although the producer still holds its batches (aiokafka's request
    timeout is twice as long): the sink drops them instead of waiting to flush. The broker
    comes back (empty: memory storage) on the same port; the next call reconnects, re-creates
    the topic and delivers, and nothing of the failed call shows up later."""
    broker = KafkaBroker(tmp_path)
    broker.start()
    topic = "marmot.shop.outage"
    sink = make_sink("kafka-outage", broker.bootstrap_servers, publish_timeout_ms=1_500)
    before = [SinkRecord(topic, key_of(k), b"before", f"4-{k:08d}") for k in range(20)]
    during = [SinkRecord(topic, key_of(k), b"during", f"4-{100 + k:08d}") for k in range(20)]
    after = [SinkRecord(topic, key_of(k), b"after", f"4-{200 + k:08d}") for k in range(20)]

    async def scenario() -> tuple[SinkError, float]:
        await sink.start()
        await sink.publish(before)
        broker.stop(signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(SinkError) as failed:
            await sink.publish(during)
        failed_after_s = time.monotonic() - started
        broker.start()
        await asyncio.sleep(0.5)  # a discarded producer would deliver its batches by now
        await sink.publish(after)
        await sink.close()
        return failed.value, failed_after_s

    try:
        error, failed_after_s = asyncio.run(scenario())
        messages = read_topic(broker.bootstrap_servers, topic, len(after))
    finally:
        broker.stop()
    assert error.retryable is True
    assert failed_after_s < 1.5 + 1.0
    assert sorted(m.value for m in messages) == [b"after"] * len(after)
    assert len({m.partition for m in messages}) == 3, "re-created with topic_partitions"


def test_murmur2_is_kafkas_partitioning_hash() -> None:
    """Same hash as aiokafka's (= the Java client's), so every Kafka client puts a key in the
    same partition; lengths 0..40 cover every tail length."""
    from aiokafka.partitioner import murmur2 as aiokafka_murmur2

    from marmotdb.runtime.cdc_kafka import murmur2 as sink_murmur2
    samples = [bytes((i * 37 + j * 11) % 256 for j in range(n)) for i in range(5)
               for n in range(41)] + [key_of(n) for n in range(200)]
    for data in samples:
        assert sink_murmur2(data) & 0x7FFFFFFF == aiokafka_murmur2(data) & 0x7FFFFFFF
    # the Java client's published values (org.apache.kafka.common.utils.UtilsTest)
    assert sink_murmur2(b"21") & 0x7FFFFFFF == -973932308 & 0x7FFFFFFF
    assert sink_murmur2(b"a-little-bit-long-string") & 0x7FFFFFFF == -985981536 & 0x7FFFFFFF


def test_a_kafka_sink_is_configured_as_a_cdc_sinks_entry() -> None:
    """``[[cdc.sinks]] kind = "kafka"`` passes the config check and builds a KafkaSink."""
    from marmotdb.config import Config
    config = Config()
    config.cdc.sinks = [{"name": "k", "kind": "kafka", "servers": "127.0.0.1:9092,h2:9092",
                         "partitions": 6, "replication_factor": 3, "in_flight_max": 512}]
    (entry,) = sink_configs(config.cdc.sinks)
    built = build_sink(entry)
    assert isinstance(built, KafkaSink) and built.name == "k"
    assert built.config.servers == ["127.0.0.1:9092", "h2:9092"]
    assert (built.config.partitions, built.config.replication_factor) == (6, 3)
    with pytest.raises(ConfigError):
        build_sink(SinkConfig(name="k", kind="kafka"))  # no servers
    config.cdc.sinks = [{"name": "n", "kind": "nats", "partitions": 6}]
    with pytest.raises(ConfigError, match="partitions is a setting of kind kafka"):
        sink_configs(config.cdc.sinks)
    with pytest.raises(ConfigError):
        build_sink(SinkConfig(name="k", kind="kafka", servers=["h:1"], partitions=0))
