"""A sink added to a node that already holds data: the initial snapshot (``op: r``) and then
the stream; a sink whose broker never answers is failed once its backlog passes
``cdc.backlog_max_bytes`` — with a metric and the error in admin ``/cdc`` — while writes and
the healthy sink go on."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cdc.nats_broker import NatsBroker, read_stream_sync
from tests.runtime.client_load import connect, create_database
from marmotdb.runtime.cluster_state import free_port
from marmotdb.torture.cluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~25 s: beyond the default budget


def sinks_config(url: str, dead_url: str) -> str:
    return f"""
[cdc]
backlog_max_bytes = 20000
status_interval_ms = 200

[[cdc.sinks]]
name = "live"
kind = "nats"
url = "{url}"
prefix = "snap"
linger_ms = 5

[[cdc.sinks]]
name = "dead"
kind = "nats"
url = "{dead_url}"
prefix = "never"
retry_initial_ms = 50
retry_max_ms = 200
"""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsBroker]:
    b = NatsBroker(tmp_path / "nats").start()
    yield b
    b.stop()


def test_initial_snapshot_then_stream_and_a_dead_sink_fails_at_its_backlog_bound(
        tmp_path: Path, broker: NatsBroker) -> None:
    config = tmp_path / "node.toml"
    config.write_text("")  # no sinks yet
    cluster = LocalCluster(tmp_path / "cluster", 1, serve_args=["--config", str(config)])
    try:
        cluster.start()
        create_database(cluster)
        with connect(cluster, 1) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(20))")
            cur.executemany("INSERT INTO kv VALUES (%s, %s)", [(i, f"v{i}") for i in range(50)])
        process = cluster.processes[1]
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        config.write_text(sinks_config(broker.url, f"nats://127.0.0.1:{free_port()}"))
        cluster.restart(1)
        with connect(cluster, 1) as conn, conn.cursor() as cur:
            for i in range(50, 250):
                cur.execute("INSERT INTO kv VALUES (%s, %s)", (i, "x" * 20))
            cur.execute("UPDATE kv SET v = 'changed' WHERE k < 5")
            cur.execute("DELETE FROM kv WHERE k >= 245")

        def status() -> dict:
            return {s["name"]: s for s in cluster.admin(1, "GET", "/cdc")}
        cluster.until(lambda: status()["dead"]["state"] == "failed", 30, "dead sink failed")
        assert "cdc.backlog_max_bytes" in status()["dead"]["error"]
        assert cluster.metrics(1)["marmotdb_cdc_sink_failed{sink=dead}"] == 1
        cluster.until(lambda: status()["live"]["state"] == "streaming"
                      and status()["live"]["lag_entries"] == 0, 30, "live sink caught up")
        assert cluster.metrics(1)["marmotdb_cdc_sink_failed{sink=live}"] == 0
        with connect(cluster, 1) as conn, conn.cursor() as cur:
            cur.execute("SELECT k, v FROM kv")
            table = dict(cur.fetchall())
    finally:
        cluster.stop()

    rows: dict[int, str] = {}
    ops: list[str] = []
    for msg in read_stream_sync(broker.url, "SNAP", expect_min=50 + 200 + 5 + 10):
        if not msg.data:
            continue
        payload = json.loads(msg.data)["payload"]
        ops.append(payload["op"])
        key = json.loads(msg.headers["Marmot-Key"])["payload"]["k"]
        if payload["after"] is None:
            rows.pop(key, None)
        else:
            rows[key] = payload["after"]["v"]
    assert ops[:50] == ["r"] * 50  # the rows that were there before the sink, first
    assert "r" not in ops[50:] and {"c", "u", "d"} <= set(ops[50:])
    assert rows == table
