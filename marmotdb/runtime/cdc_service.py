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
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import apsw
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from marmotdb.cdc.backoff import Backoff
from marmotdb.cdc.cursors import FAILED, NEW, STREAMING, CursorStore
from marmotdb.cdc.envelope import Envelopes
from marmotdb.cdc.filters import TableFilter
from marmotdb.cdc.messages import CdcCursors
from marmotdb.cdc.ownership import owned_origins, publisher_for
from marmotdb.cdc.position import SNAPSHOT_SEQ_NODES
from marmotdb.cdc.reader import Batch, CdcGap, read_batch
from marmotdb.cdc.sink import Sink, SinkError, SinkRecord
from marmotdb.config import SINK_KINDS, Config, SinkConfig, sink_configs
from marmotdb.sql import catalog_snapshot
from marmotdb.storage import commitlog
from marmotdb.storage.internal_tables import COMMIT_LOG
from marmotdb.storage.schema import is_internal_table, load_table_schema

logger = logging.getLogger("marmotdb.cdc")
BUSY_TIMEOUT_MS = 5_000
Live = Callable[[], dict[int, bool]]           # node id -> live, this node's view
Peers = Callable[[], list[Any]]                # txn.cluster.Peer of the other members


class _SinkStopped(Exception):
    """The sink refused records for good; it is FAILED and its loop ends."""


def build_sink(config: SinkConfig) -> Sink:
    """The broker sink of one ``[[cdc.sinks]]`` entry (``config.SINK_KINDS``)."""
    module = importlib.import_module(SINK_KINDS[config.kind])
    sink: Sink = module.build_sink(config)
    return sink


class SinkRunner:
    def __init__(self, service: CdcService, config: SinkConfig, sink: Sink):
        self.service, self.config, self.sink = service, config, sink
        self.name = config.name
        self.filter = TableFilter(config.include_databases, config.exclude_databases,
                                  config.include_tables, config.exclude_tables)
        self.backoff = Backoff(config.retry_initial_ms, config.retry_max_ms,
                               config.retry_multiplier)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"cdc-{self.name}")
        self._conns: dict[str, apsw.Connection] = {}      # pool thread only
        self._envelopes: dict[str, Envelopes] = {}        # pool thread only
        saved = service.store_call(service.store.sink_state, self.name)
        self.state, self.error = saved.state, saved.error
        self.cursors: dict[str, dict[int, int]] = service.store_call(
            service.store.all_cursors, self.name)
        self.resume: tuple[str, int, int, int] | None = None
        self.published = self.publish_failures = self.batches = 0
        self.lag_entries = self.backlog_bytes = 0
        self.owned: dict[str, list[int]] = {}
        self.task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ pool thread
    def _conn(self, database: str) -> apsw.Connection:
        conn = self._conns.get(database)
        if conn is None:
            path = self.service.database_path(database)
            conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
            conn.set_busy_timeout(BUSY_TIMEOUT_MS)
            self._conns[database] = conn
            self._envelopes[database] = Envelopes(
                self.config.prefix, lambda db, table, c=conn: _model(c, db, table), self.filter,
                transaction_events=self.config.transaction_events)
        return conn

    def _forget(self, databases: list[str]) -> None:
        for name in set(self._conns) - set(databases):
            self._conns.pop(name).close()
            self._envelopes.pop(name, None)

    def _collect(self, databases: list[str], live: dict[int, bool],
                 cursors: dict[str, dict[int, int]], resume: tuple[str, int, int, int] | None,
                 now_us: int) -> tuple[list[SinkRecord], dict[str, dict[int, int]],
                                       tuple[str, int, int, int] | None, bool]:
        self._forget(databases)
        records: list[SinkRecord] = []
        done: dict[str, dict[int, int]] = {}
        size, partial, full = 0, None, False
        node_id = self.service.node_id
        for database in databases:
            conn = self._conn(database)
            vector = commitlog.applied_vector(conn)
            owned = owned_origins(vector, live, node_id)
            self.owned[database] = owned
            mine = cursors.get(database, {})
            if not self.filter.database(database):  # nothing to publish: just keep up
                done[database] = {o: vector[o] for o in owned if vector[o] > mine.get(o, 0)}
                continue
            batch: Batch = read_batch(
                conn, self._envelopes[database], {o: mine.get(o, 0) for o in owned},
                records_max=self.config.records_max - len(records),
                bytes_max=self.config.bytes_max - size, now_us=now_us,
                resume=resume[1:] if resume is not None and resume[0] == database else None)
            records += batch.records
            size += batch.bytes
            done[database] = batch.done
            if batch.full or len(records) >= self.config.records_max:
                full = True
                if batch.partial is not None:
                    partial = (database, *batch.partial)
                break
        return records, done, partial, full

    def _measure(self, databases: list[str], cursors: dict[str, dict[int, int]]
                 ) -> tuple[int, int]:
        """(entries this node must still publish, log bytes this sink holds here)."""
        lag = held = 0
        sql = (f"SELECT count(*), coalesce(sum(length(write_set)), 0) FROM {COMMIT_LOG} "
               "WHERE origin = ? AND origin_seq > ?")
        for database in databases:
            conn = self._conn(database)
            owned = set(self.owned.get(database, ()))
            mine = cursors.get(database, {})
            for origin in commitlog.applied_vector(conn):
                entries, size = conn.execute(sql, (origin, mine.get(origin, 0))).fetchone()
                held += size
                lag += entries if origin in owned else 0
        return lag, held

    def _snapshot(self, database: str, snapshot_seq: int, now_us: int, started_ms: int
                  ) -> Iterator[list[SinkRecord] | dict[int, int]]:
        """The rows of every table of ``database`` (filtered) as ``op: r`` records, in chunks,
        read in one read transaction; last, the applied vector of that same transaction."""
        conn = self._conn(database)
        envelopes = self._envelopes[database]
        conn.execute("BEGIN")
        try:
            vector = commitlog.applied_vector(conn)  # first read: pins the snapshot
            index = 0
            for name in sorted(catalog_snapshot.snapshot(conn, database).tables):
                schema = load_table_schema(conn, name)
                if schema is None or is_internal_table(name) or \
                        not self.filter.table(database, name):
                    continue
                columns = ", ".join('"' + c.replace('"', '""') + '"' for c in schema.columns)
                cursor = conn.execute(f'SELECT {columns} FROM "{name}"')
                while rows := list(itertools.islice(cursor, self.config.records_max)):
                    chunk = envelopes.snapshot_records(database, schema, rows, snapshot_seq,
                                                       index, now_us, started_ms)
                    index += len(chunk)
                    yield chunk
            yield vector
        finally:
            conn.execute("COMMIT")

    def close_pool(self) -> None:
        def close() -> None:
            for conn in self._conns.values():
                conn.close()
            self._conns.clear()
        self.pool.submit(close)
        self.pool.shutdown(wait=True)

    # ------------------------------------------------------------------ event loop
    async def _in_pool(self, work: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)

    async def run(self) -> None:
        try:
            if self.config.snapshot_mode == "never":  # its start needs no broker
                await self._settle_start()
            await self._publishing(self.sink.start)
            await self._settle_start()
            while True:
                if self.state == FAILED:
                    await asyncio.sleep(self.service.status_interval_s)
                    continue
                await self._step()
        except _SinkStopped:
            return
        except CdcGap as exc:
            await self.fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - a sink's failure never stops the node
            logger.exception("sink %s stopped", self.name)
            await self.fail(f"internal error: {exc!r}")

    async def _step(self) -> None:
        records, done, partial, full = await self._in_pool(
            self._collect, self.service.databases(), self.service.live(),
            {db: dict(c) for db, c in self.cursors.items()}, self.resume, _now_us())
        if records:
            await self._publishing(self.sink.publish, records)
            self.published += len(records)
            self.batches += 1
        self.resume = partial
        await self.advance(done)
        if not full:
            await asyncio.sleep(self.config.linger_ms / 1000)

    async def _publishing(self, call: Callable[..., Any], *args: Any) -> None:
        """``call(*args)`` until it succeeds: backoff after each retryable SinkError."""
        while True:
            if self.state == FAILED:  # failed meanwhile (backlog bound): stop trying
                raise _SinkStopped
            try:
                await call(*args)
                self.backoff.reset()
                return
            except SinkError as exc:
                self.publish_failures += 1
                if not exc.retryable:
                    await self.fail(f"sink refused: {exc}")
                    raise _SinkStopped from None
                delay_ms = self.backoff.next_delay_ms()
                logger.warning("sink %s: %s; retrying in %d ms", self.name, exc, delay_ms)
                await asyncio.sleep(delay_ms / 1000)

    async def advance(self, done: dict[str, dict[int, int]]) -> None:
        moved = {}
        for database, cursors in done.items():
            mine = self.cursors.setdefault(database, {})
            ahead = {o: s for o, s in cursors.items() if s > mine.get(o, 0)}
            if ahead:
                mine.update(ahead)
                moved[database] = ahead
        for database, ahead in moved.items():
            await self._in_pool(self.service.store_call, self.service.store.advance,
                                self.name, database, ahead)

    async def _settle_start(self) -> None:
        """A new sink's starting point (cdc/DESIGN.md §4)."""
        while self.state == NEW:
            if self.config.snapshot_mode == "never":
                vectors = await self._in_pool(self._vectors, self.service.databases())
                await self.advance(vectors)
                await self._set_state(STREAMING)
            elif publisher_for(0, self.service.live()) == self.service.node_id:
                await self._take_snapshot()
            else:  # the lowest live node takes it; its report (snapshot_done) lets us start
                await asyncio.sleep(self.service.status_interval_s)

    def _vectors(self, databases: list[str]) -> dict[str, dict[int, int]]:
        return {db: commitlog.applied_vector(self._conn(db)) for db in databases}

    async def _take_snapshot(self) -> None:
        # the taker's id in the sequence: two nodes that both took one (views differed) never
        # reuse each other's positions (cdc/position.py)
        counter = await self._in_pool(self.service.store_call,
                                      self.service.store.next_snapshot_seq, self.name)
        snapshot_seq = counter * SNAPSHOT_SEQ_NODES + self.service.node_id
        started_ms, vectors = _now_us() // 1000, {}
        logger.info("sink %s: initial snapshot %d", self.name, snapshot_seq)
        for database in self.service.databases():
            if not self.filter.database(database):
                vectors[database] = await self._in_pool(
                    lambda db=database: commitlog.applied_vector(self._conn(db)))
                continue
            chunks = await self._in_pool(self._snapshot, database, snapshot_seq, _now_us(),
                                         started_ms)
            while (item := await self._in_pool(next, chunks, None)) is not None:
                if isinstance(item, dict):
                    vectors[database] = item
                else:
                    await self._publishing(self.sink.publish, item)
                    self.published += len(item)
        await self.advance(vectors)
        await self._set_state(STREAMING)
        self.service.report(self)

    async def _set_state(self, state: str, error: str | None = None) -> None:
        self.state, self.error = state, error
        await self._in_pool(self.service.store_call, self.service.store.set_state, self.name,
                            state, error)

    async def fail(self, error: str) -> None:
        logger.error("CDC sink %s FAILED: %s", self.name, error)
        await self._set_state(FAILED, error)

    def merge(self, database: str, cursors: dict[int, int], snapshot_done: bool) -> None:
        """A peer's report: keep the higher cursors; a finished snapshot lets a new sink go."""
        mine = self.cursors.setdefault(database, {})
        ahead = {o: s for o, s in cursors.items() if s > mine.get(o, 0)}
        mine.update(ahead)
        if ahead:
            self.pool.submit(self.service.store_call, self.service.store.advance, self.name,
                             database, ahead)
        if snapshot_done and self.state == NEW and self.config.snapshot_mode == "initial":
            self.state = STREAMING
            self.pool.submit(self.service.store_call, self.service.store.set_state, self.name,
                             STREAMING, None)

    async def measure(self) -> None:
        """Lag and backlog; a new sink (still connecting, or waiting for its snapshot) holds the
        whole log, so it is bounded the same way."""
        if self.state == FAILED:
            return
        self.lag_entries, self.backlog_bytes = await self._in_pool(
            self._measure, self.service.databases(),
            {db: dict(c) for db, c in self.cursors.items()})
        limit = self.service.backlog_max_bytes
        if self.backlog_bytes > limit:
            await self.fail(f"backlog of {self.backlog_bytes} bytes of commit log on this node "
                            f"exceeds cdc.backlog_max_bytes = {limit}: the sink was down or "
                            "too slow for too long; the log is trimmed past it now")

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.config.kind, "state": self.state,
                "error": self.error, "published": self.published, "batches": self.batches,
                "publish_failures": self.publish_failures, "lag_entries": self.lag_entries,
                "backlog_bytes": self.backlog_bytes, "owned_origins": self.owned,
                "cursors": {db: {str(o): s for o, s in c.items()}
                            for db, c in self.cursors.items()}}


def _model(conn: apsw.Connection, database: str, table: str) -> Any:
    return catalog_snapshot.snapshot(conn, database).table(table)


def _now_us() -> int:
    return time.time_ns() // 1000


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
        return self.node.state.databases.names()

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
                        self.report(runner)
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
        for database, cursors in runner.cursors.items():
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
        if not names:
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

