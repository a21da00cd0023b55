"""CDC through Kafka on a single node: ``marmotdb serve`` with a ``kind = "kafka"`` sink (built
through config.SINK_KINDS) publishes its own changes to a real Kafka-protocol broker (Tansu)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import tests.integration.server as server_module
from tests.cdc.kafka_broker import KafkaBroker, KafkaMessage, read_topics
from tests.integration.server import start_marmot_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def op_of(message: KafkaMessage) -> str | None:
    return json.loads(message.value)["payload"].get("op") if message.value else None


def id_of(message: KafkaMessage) -> int:
    assert message.key is not None
    return int(json.loads(message.key)["payload"]["id"])


def test_a_single_node_publishes_its_changes_to_kafka(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    broker = KafkaBroker(tmp_path)
    broker.start()
    config = tmp_path / "node.toml"
    config.write_text(f'[[cdc.sinks]]\nname = "one"\nkind = "kafka"\n'
                      f'servers = ["{broker.bootstrap_servers}"]\nprefix = "solo"\n'
                      'partitions = 2\nsnapshot_mode = "never"\nlinger_ms = 5\n')
    plain = server_module.server_command
    monkeypatch.setattr(server_module, "server_command",
                        lambda *a: plain(*a) + ["--config", str(config)])
    (tmp_path / "node").mkdir()
    server = start_marmot_server(tmp_path / "node")
    try:
        with server.connect(autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE shop")
            cur.execute("CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(10))")
            cur.execute("INSERT INTO shop.t VALUES (1, 'a'), (2, 'b')")
            cur.execute("UPDATE shop.t SET v = 'c' WHERE id = 2")
            cur.execute("DELETE FROM shop.t WHERE id = 1")
        messages = asyncio.run(read_topics(broker.bootstrap_servers, "solo", expect_min=6,
                                           timeout_s=60, quiet_s=0.5))
    finally:
        server.stop()
        broker.stop()
    ddl = [m for m in messages if m.topic == "solo"]
    rows = sorted((m for m in messages if m.topic == "solo.shop.t"),
                  key=lambda m: (m.partition, m.offset))
    assert len(ddl) == 1 and ddl[0].key is None and ddl[0].partition == 0
    assert "CREATE TABLE" in json.loads(ddl[0].value or b"{}")["payload"]["ddl"]
    by_id: dict[int, list[KafkaMessage]] = {}
    for message in rows:
        by_id.setdefault(id_of(message), []).append(message)
    assert [op_of(m) for m in by_id[1]] == ["c", "d", None]  # delete, then its tombstone
    assert [op_of(m) for m in by_id[2]] == ["c", "u"]
    for events in by_id.values():
        assert len({m.partition for m in events}) == 1
    assert all(m.header("Marmot-Position") for m in messages)
    assert by_id[1][2].value is None and by_id[1][2].key == by_id[1][1].key
