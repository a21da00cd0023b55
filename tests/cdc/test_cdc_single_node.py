"""CDC on a single node (no cluster: no peers, no admin API): it publishes its own changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.integration.server as server_module
from tests.cdc.nats_broker import NatsBroker, read_stream_sync
from tests.integration.server import start_marmot_server

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path):
    b = NatsBroker(tmp_path / "nats").start()
    yield b
    b.stop()


def test_a_single_node_publishes_its_changes(tmp_path: Path, broker: NatsBroker,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'[[cdc.sinks]]\nname = "one"\nkind = "nats"\nurl = "{broker.url}"\n'
                      'prefix = "solo"\nsnapshot_mode = "never"\nlinger_ms = 5\n')
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
        messages = read_stream_sync(broker.url, "SOLO", expect_min=6)
    finally:
        server.stop()
    rows = [(m.subject, json.loads(m.data)["payload"].get("op") if m.data else None)
            for m in messages]
    assert rows == [("solo", None), ("solo.shop.t", "c"), ("solo.shop.t", "c"),
                    ("solo.shop.t", "u"), ("solo.shop.t", "d"), ("solo.shop.t", None)]
