"""CDC end to end through Kafka: a 3-node cluster of real processes, a real Kafka-protocol broker
(Tansu), the same mixed workload and checks as the NATS test (test_cdc_cluster.py).

A consumer (``KafkaTail``: assign(), no consumer group) reads every ``<prefix>`` topic from the
start while the cluster writes. Mid-stream the broker is crashed (SIGKILL) while every node
keeps writing, node 3 is killed with SIGKILL while its changes are unpublished (the lowest live
node takes its origin over), an ALTER TABLE runs, and the broker comes back on the same port.
Later node 3, restarted, is killed again right after its writes, while it publishes them to the
live broker (what it published past its last cursor report is published again by node 1).
At the end: after deduplication by position exactly the committed changes were read (the records
made from every node's commit log), with the same payloads; one row's events are in one
partition, and per origin the first occurrences come in order in each partition; tombstones are
null values with the row's key; and the tables rebuilt from the events alone equal the cluster's.

What the broker restart proves, with Tansu's memory storage: the restarted broker is empty, so
records it acknowledged before the crash and nobody had read would be lost with it — a broker
durability loss, not the sink's. The test therefore lets the consumer catch up (every node's lag
0, every committed record read) before crashing the broker, and keeps the broker down for more
than twice the sink's publish_timeout_ms while the cluster writes: writes are not blocked, the
sink's calls fail as retryable, and after the restart it reconnects, re-creates its topics and
delivers its whole backlog from its durable cursor — including the origin it took over.
(Another reason for the long outage: a Tansu restart within the producer's retry window loses
the records its retried produce request carried, although it acknowledges them — measured with
bare aiokafka; a producer created after the restart is unaffected, and the sink creates one
whenever a call failed.)
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marmotdb.cdc.position import Position
from tests.cdc.kafka_broker import KafkaBroker, KafkaMessage, KafkaTail
from tests.cdc.test_cdc_cluster import (
    TABLES,
    Workload,
    agreed,
    cluster_rows,
    expected_records,
    published_everything,
    rebuild,
    run_everywhere,
)
from tests.runtime.client_load import connect, create_database
from marmotdb.torture.cluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]
PREFIX = "shopcdc"  # expected_records (test_cdc_cluster.py) builds records with this prefix
PUBLISH_TIMEOUT_MS = 2_000
PARTITIONS = 3


def write_config(path: Path, bootstrap: str) -> Path:
    path.write_text(f"""
[cluster]
log_trim_interval_ms = 600000  # the check reads every node's whole log at the end

[cdc]
cursor_report_interval_ms = 300
status_interval_ms = 300

[[cdc.sinks]]
name = "kafka-main"
kind = "kafka"
servers = ["{bootstrap}"]
prefix = "{PREFIX}"
partitions = {PARTITIONS}
exclude_tables = ["app.scratch"]
linger_ms = 5
publish_timeout_ms = {PUBLISH_TIMEOUT_MS}
retry_initial_ms = 50
retry_max_ms = 500
snapshot_mode = "initial"
""")
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    b = KafkaBroker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def cluster(tmp_path: Path, broker: KafkaBroker) -> Iterator[LocalCluster]:
    config = write_config(tmp_path / "cdc.toml", broker.bootstrap_servers)
    c = LocalCluster(tmp_path / "cluster", 3, serve_args=["--config", str(config)])
    try:
        c.start()
        yield c
    finally:
        c.stop()


class NatsShaped:
    """A Kafka message in the shape test_cdc_cluster.rebuild reads (subject, data, headers)."""

    def __init__(self, message: KafkaMessage) -> None:
        self.subject = message.topic
        self.data = message.value or b""
        self.headers = {"Marmot-Position": message.header("Marmot-Position") or ""}
        if message.key is not None:
            self.headers["Marmot-Key"] = message.key.decode()


def first_occurrences(messages: list[KafkaMessage]) -> dict[str, KafkaMessage]:
    seen: dict[str, KafkaMessage] = {}
    for message in messages:
        position = message.header("Marmot-Position")
        assert position, f"no Marmot-Position header on {message.topic}@{message.offset}"
        seen.setdefault(position, message)
    return seen


def check_partition_order(messages: list[KafkaMessage]) -> None:
    """Per broker life: one key, one partition; per partition and origin, first occurrences
    of positions increase (what Kafka promises: order within a partition)."""
    partition_of: dict[tuple[int, str, bytes], int] = {}
    last: dict[tuple[int, str, int, str], tuple[int, int]] = {}
    seen: set[str] = set()
    for m in sorted(messages, key=lambda m: (m.generation, m.topic, m.partition, m.offset)):
        if m.key is not None:
            slot = (m.generation, m.topic, m.key)
            assert partition_of.setdefault(slot, m.partition) == m.partition, slot
        position = m.header("Marmot-Position") or ""
        if position in seen:
            continue
        seen.add(position)
        parsed = Position.parse(position)
        if parsed.origin:
            lane = (m.generation, m.topic, m.partition, parsed.file)
            assert parsed.order() > last.get(lane, (0, -1)), (lane, position)
            last[lane] = parsed.order()


def read_everything(tail: KafkaTail, cluster: LocalCluster, what: str) -> dict[str, Any]:
    """Waits until every node published everything and the tail read every committed record."""
    cluster.until(lambda: published_everything(cluster), 90, f"{what}: nodes published")
    committed = expected_records(cluster)
    tail.wait_until(lambda ms: set(committed) <= set(first_occurrences(ms)), 60,
                    f"{what}: every committed record read")
    return committed


def test_kafka_every_committed_change_once_after_dedup_through_kill_and_broker_restart(
        cluster: LocalCluster, broker: KafkaBroker) -> None:
    tail = KafkaTail(broker.bootstrap_servers, PREFIX).start()
    try:
        run_scenario(cluster, broker, tail)
        messages = tail.messages()
    finally:
        tail.stop()
    expected = [cluster_rows(cluster, 1, table) for table in TABLES]
    committed = expected_records(cluster)
    seen = first_occurrences(messages)
    print(f"kafka e2e: {len(committed)} committed records, {len(messages)} read "
          f"({len(messages) - len(seen)} duplicates), per broker life "
          f"{sorted(Counter(m.generation for m in messages).items())}")
    stream_positions = {p for p in seen if Position.parse(p).origin}
    assert stream_positions == set(committed), (
        f"missing {sorted(set(committed) - stream_positions)[:5]}, "
        f"extra {sorted(stream_positions - set(committed))[:5]}")
    check_partition_order(messages)
    for position, record in committed.items():  # the same bytes, ts_ms aside
        message = seen[position]
        assert (message.topic, message.key) == (record.topic, record.key), position
        if record.value is None:
            assert message.value is None, position  # a tombstone: null value, the row's key
            continue
        got, want = json.loads(message.value)["payload"], json.loads(record.value)["payload"]
        for drop in ("ts_ms", "ts_us", "ts_ns", "tableChanges"):
            got.pop(drop, None), want.pop(drop, None)
        assert got == want, position
    assert not any(m.topic.endswith(".scratch") for m in messages)
    assert {m.generation for m in messages} == {0, 1}, "events read from both broker lives"
    partitions = defaultdict(set)
    for m in messages:
        partitions[m.topic].add(m.partition)
    assert max(len(p) for p in partitions.values()) == PARTITIONS

    rebuilt = rebuild(NatsShaped(m) for m in seen.values())
    for table, rows in zip(TABLES, expected):
        assert rebuilt[table] == rows, table


def run_scenario(cluster: LocalCluster, broker: KafkaBroker, tail: KafkaTail) -> None:
    # written before the initial snapshot, the tables would be in it, not in the stream
    cluster.until(lambda: published_everything(cluster), 30, "the sink streaming everywhere")
    create_database(cluster)
    with connect(cluster, 1) as conn, conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, n INT, label VARCHAR(40))")
        cur.execute("CREATE TABLE scratch (id BIGINT PRIMARY KEY)")  # filtered out
    workloads = {n: Workload(cluster, n, seed=n) for n in cluster.ids()}
    run_everywhere(workloads, [1, 2, 3], 60)
    read_everything(tail, cluster, "before the broker crash")

    tail.pause()
    broker.stop(signal.SIGKILL)                     # the broker crashes mid-stream
    down_at = time.monotonic()
    run_everywhere(workloads, [1, 2, 3], 40)        # writes are not blocked by the sink
    assert time.monotonic() - down_at < 60
    cluster.kill9(3)                                # node 3's origin is not fully published
    cluster.until(lambda: cluster.all_see(3, "DEAD", [1, 2]), 30, "node 3 seen DEAD")
    with connect(cluster, 2) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE orders ADD COLUMN note VARCHAR(20)")
        cur.execute("ALTER TABLE items ADD COLUMN note VARCHAR(20)")
    run_everywhere(workloads, [1, 2], 30)
    time.sleep(max(0.0, 2.5 * PUBLISH_TIMEOUT_MS / 1000 - (time.monotonic() - down_at)))
    broker.start()                                  # same port, empty (memory storage)
    tail.resume()
    cluster.until(lambda: published_everything(cluster), 90, "nodes 1, 2 published")
    cluster.restart(3)
    run_everywhere(workloads, [1, 2, 3], 20)
    cluster.kill9(3)                                # again, now while it publishes to the broker
    cluster.until(lambda: cluster.all_see(3, "DEAD", [1, 2]), 30, "node 3 seen DEAD again")
    run_everywhere(workloads, [1, 2], 20)
    cluster.until(lambda: published_everything(cluster), 90, "node 1 took origin 3 over")
    cluster.restart(3)
    run_everywhere(workloads, [1, 2, 3], 10)
    read_everything(tail, cluster, "every node")
    cluster.until(lambda: agreed(cluster), 30, "every replica holds the same rows")
