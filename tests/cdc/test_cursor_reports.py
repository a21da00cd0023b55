"""Cursor reports between nodes' CDC services (runtime/cdc_service.py ``report``/``on_report``):
a new sink waits for the snapshot taker's report (cdc/DESIGN.md §4), including in a cluster
that has no database yet."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from marmotdb.cdc.cursors import NEW, STREAMING
from marmotdb.config import Config, SinkConfig
from marmotdb.runtime.cdc_service import CdcService, build_sink


def service(tmp_path: Path, node_id: int, deliver: Any) -> CdcService:
    config = Config(node_id=node_id, data_dir=str(tmp_path / f"node{node_id}"))
    sink_config = SinkConfig(name="main", kind="nats", url="nats://127.0.0.1:1", prefix="p")
    peer = SimpleNamespace(node_id=3 - node_id, addr=("127.0.0.1", 3 - node_id))
    return CdcService(config, None, [(sink_config, build_sink(sink_config))],
                      live=lambda: {1: True, 2: True}, peers=lambda: [peer], send=deliver)


def test_the_snapshot_takers_report_starts_the_other_nodes_even_with_no_database(
        tmp_path: Path) -> None:
    receiver: list[CdcService] = []
    taker = service(tmp_path, 1, lambda addr, message: receiver[0].on_report(addr, message, 0))
    waiting = service(tmp_path, 2, None)
    receiver.append(waiting)
    taker.runners["main"].state = STREAMING  # took its snapshot of a cluster with no database
    assert waiting.runners["main"].state == NEW
    taker.report(taker.runners["main"])
    runner = waiting.runners["main"]
    assert runner.state == STREAMING and runner.cursors == {}

    taker.runners["main"].cursors["app"] = {1: 7}  # a database: its cursors travel as before
    taker.report(taker.runners["main"])
    assert runner.cursors == {"app": {1: 7}}
    runner.pool.shutdown(wait=True)  # what the pool stores: the state and the cursors
    assert waiting.store.sink_state("main").state == STREAMING
    assert waiting.store.all_cursors("main") == {"app": {1: 7}}
