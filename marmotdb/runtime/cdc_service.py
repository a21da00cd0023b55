"""CdcService: the publishing loops of every configured sink on one node (cdc/DESIGN.md).

Theory of operation
-------------------
One ``SinkRunner`` per ``[[cdc.sinks]]`` entry, each an asyncio task with a one-thread pool of
its own. The pool thread owns the runner's read connections (one per database, opened on the
database file, never used by anything else) and does the CPU work: reading the commit log after
the sink's cursors for the origins this node publishes (``cdc.ownership``), decoding write sets
and building envelopes (``cdc.reader.read_batch``), cursor writes (``cdc.cursors``, behind one
lock shared by the runners). The loop only awaits the broker and sleeps:

    settle the start (snapshot_mode)                          once, for a new sink
    loop:  batch  = read_batch(...)                           pool thread
           sink.publish(batch.records)                        broker acks; on a retryable
                                                              SinkError: backoff, same records
           cursors.advance(batch.done)                        pool thread, durable
           sleep linger_ms unless the batch was full
    (while a full batch is published, the pool thread already reads the next one)

Every ``cursor_report_interval_ms`` each runner sends its cursors to every peer (``CdcCursors``);
a report received is merged (maximum) into the receiver's cursors, which is where a node taking
over a dead publisher's origins resumes. Every ``status_interval_ms`` each runner measures its
lag (entries of the origins it publishes) and backlog (bytes of the log its cursors hold on this
node, all origins); a backlog above ``cdc.backlog_max_bytes`` fails the sink (writes never
wait for a sink: the only cost of a down sink is that disk, and it is bounded).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from marmotdb.cdc.cursors import FAILED, NEW, STREAMING, CursorStore
from marmotdb.cdc.messages import CdcCursors
from marmotdb.cdc.sink import Sink
from marmotdb.config import SINK_KINDS, Config, SinkConfig, sink_configs
from marmotdb.runtime.cdc_runner import SinkRunner
from marmotdb.storage.schema import INTERNAL_PREFIX

logger = logging.getLogger("marmotdb.cdc")
Live = Callable[[], dict[int, bool]]           # node id -> live, this node's view
Peers = Callable[[], list[Any]]                # txn.cluster.Peer of the other members


def build_sink(config: SinkConfig) -> Sink:
    """The broker sink of one ``[[cdc.sinks]]`` entry (``config.SINK_KINDS``)."""
    module = importlib.import_module(SINK_KINDS[config.kind])
    sink: Sink = module.build_sink(config)
    return sink


class CdcService:
    def __init__(self, config: Config, node: Any, sinks: list[tuple[SinkConfig, Sink]], *,
                 live: Live, peers: Peers, send: Callable[[Any, CdcCursors], None] | None):
        self.node = node
        self.node_id = config.node_id
        self.backlog_max_bytes = config.cdc.backlog_max_bytes
        self.status_interval_s = config.cdc.status_interval_ms / 1000
        self.report_interval_s = config.cdc.cursor_report_interval_ms / 1000
        self.live, self._peers, self._send = live, peers, send
        self.store = CursorStore(config.data_path / "cdc" / "cursors.db")
        self._store_lock = threading.Lock()
        self.runners = {sink_config.name: SinkRunner(self, sink_config, sink)
                        for sink_config, sink in sinks}
        self._tasks: list[asyncio.Task[None]] = []

    def store_call(self, method: Callable[..., Any], *args: Any) -> Any:
        with self._store_lock:
            return method(*args)

    def databases(self) -> list[str]:
        """The user databases: the hidden ones (``__marmot_system``: accounts and password
        hashes) are never published."""
        return [name for name in self.node.state.databases.names() if not _internal(name)]

    def database_path(self, database: str) -> Path:
        return self.node.state.databases.directory / f"{database}.db"

    async def start(self) -> None:
        for runner in self.runners.values():
            runner.task = asyncio.create_task(runner.run(), name=f"cdc-{runner.name}")
            self._tasks.append(runner.task)
        self._tasks.append(asyncio.create_task(self._periodic(), name="cdc-status"))

    async def _periodic(self) -> None:
        next_report = next_status = 0.0
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if now >= next_report:
                next_report = now + self.report_interval_s
                for runner in self.runners.values():
                    if runner.state != NEW:
                        try:
                            self.report(runner)
                        except Exception:  # noqa: BLE001 - a lost report costs duplicates
                            logger.warning("sink %s: cursor report failed", runner.name,
                                           exc_info=True)
            if now >= next_status:
                next_status = now + self.status_interval_s
                for runner in list(self.runners.values()):
                    try:
                        await runner.measure()
                    except Exception:  # noqa: BLE001 - measured again next time
                        logger.warning("sink %s: measuring lag failed", runner.name,
                                       exc_info=True)
            await asyncio.sleep(min(self.report_interval_s, self.status_interval_s))

    def report(self, runner: SinkRunner) -> None:
        if self._send is None:
            return
        peers = [p for p in self._peers() if p.addr is not None]
        # with no database yet, an empty report still tells that the snapshot is done
        for database, cursors in runner.cursors.items() or [("", {})]:
            message = CdcCursors(runner.name, database, dict(cursors),
                                 runner.state == STREAMING)
            for peer in peers:
                self._send(peer.addr, message)

    def on_report(self, src: Any, message: CdcCursors, now_ms: int) -> None:
        runner = self.runners.get(message.sink)
        if runner is not None:
            runner.merge(message.database, dict(message.cursors), message.snapshot_done)

    def holds(self, database: str) -> dict[int, int] | None:
        """For retention: per origin, what this node's live sinks still need of the log."""
        names = [name for name, runner in self.runners.items() if runner.state != FAILED]
        if not names or _internal(database):
            return None
        return self.store_call(self.store.holds, database, names)

    def status(self) -> list[dict[str, Any]]:
        return [runner.status() for runner in self.runners.values()]

    def metrics(self) -> list[Metric]:
        families = [
            CounterMetricFamily("marmotdb_cdc_records_published",
                                "CDC records this node published (broker-acknowledged)",
                                labels=["sink"]),
            CounterMetricFamily("marmotdb_cdc_publish_failures",
                                "Failed publish attempts (retried with backoff)", labels=["sink"]),
            GaugeMetricFamily("marmotdb_cdc_lag_entries",
                              "Committed write sets this node still has to publish",
                              labels=["sink"]),
            GaugeMetricFamily("marmotdb_cdc_backlog_bytes",
                              "Commit-log bytes the sink holds on this node (bounded by "
                              "cdc.backlog_max_bytes)", labels=["sink"]),
            GaugeMetricFamily("marmotdb_cdc_sink_failed",
                              "1 when the sink gave up (see admin /cdc for the error)",
                              labels=["sink"]),
        ]
        for runner in self.runners.values():
            values = (runner.published, runner.publish_failures, runner.lag_entries,
                      runner.backlog_bytes, int(runner.state == FAILED))
            for family, value in zip(families, values):
                family.add_metric([runner.name], value)
        return list(families)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        for runner in self.runners.values():
            await runner.sink.close()
            runner.close_pool()
        self.store.close()


def _internal(database: str) -> bool:
    return database.startswith(INTERNAL_PREFIX)


def start_service(config: Config, node: Any, swim: Any) -> CdcService | None:
    """The CDC service of ``config`` for ``node`` (None: no sinks configured). ``swim``: the
    membership node (None: a single node, which publishes everything itself)."""
    sinks = [(sink_config, build_sink(sink_config))
             for sink_config in sink_configs(config.cdc.sinks)]
    if not sinks:
        return None
    if swim is None:
        live: Live = lambda: {config.node_id: True}  # noqa: E731
        peers: Peers = lambda: []  # noqa: E731
        send = None
    else:
        from marmotdb.node import swim_roster
        live = lambda: {p.node_id: p.live for p in swim_roster(swim)}  # noqa: E731
        peers = lambda: [p for p in swim_roster(swim) if p.node_id != config.node_id]  # noqa: E731
        endpoint = node.endpoint
        send = endpoint.send
    service = CdcService(config, node, sinks, live=live, peers=peers, send=send)
    if swim is not None:
        node.endpoint.on_message([CdcCursors], service.on_report)
    if node.retention is not None:
        node.retention.holds = service.holds
    return service

