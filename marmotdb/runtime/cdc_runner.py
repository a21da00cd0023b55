"""SinkRunner: one sink's publishing loop on one node (runtime/cdc_service.py has the whole).

Theory of operation
-------------------
An asyncio task with a one-thread pool of its own. The pool thread owns the runner's read
connections (one per database, opened read-only on the database file, used by nothing else)
and does the CPU work: reading the commit log after the sink's cursors for the origins this
node publishes (``cdc.ownership``), decoding write sets and building envelopes
(``cdc.reader.read_batch``), cursor writes. The loop only awaits the broker and sleeps:

    settle the start (snapshot_mode)                          once, for a new sink
    loop:  batch  = read_batch(...)                           pool thread
           sink.publish(batch.records)                        broker acks; on a retryable
                                                              SinkError: backoff, same records
           cursors.advance(batch.done)                        pool thread, durable
           sleep linger_ms unless the batch was full
    (while a full batch is published, the pool thread already reads the next one)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import apsw

from marmotdb.cdc.backoff import Backoff
from marmotdb.cdc.cursors import FAILED, NEW, STREAMING
from marmotdb.cdc.envelope import Envelopes
from marmotdb.cdc.filters import TableFilter
from marmotdb.cdc.ownership import owned_origins, publisher_for
from marmotdb.cdc.position import SNAPSHOT_SEQ_NODES
from marmotdb.cdc.reader import Batch, CdcGap, read_batch
from marmotdb.cdc.sink import Sink, SinkError, SinkRecord
from marmotdb.config import SinkConfig
from marmotdb.sql.catalog import snapshot as catalog_snapshot
from marmotdb.storage import commitlog
from marmotdb.storage.internal_tables import COMMIT_LOG
from marmotdb.storage.schema import INTERNAL_PREFIX, load_table_schema

if TYPE_CHECKING:
    from marmotdb.runtime.cdc_service import CdcService

logger = logging.getLogger("marmotdb.cdc")
BUSY_TIMEOUT_MS = 5_000


class _SinkStopped(Exception):
    """The sink refused records for good; it is FAILED and its loop ends."""


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
        self._quiet: dict[str, tuple[Any, ...]] = {}      # pool thread only: see _collect
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
        self._prefetch: asyncio.Future[Any] | None = None  # the next batch, being read

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
                transaction_events=self.config.transaction_events,
                skipped_operations=frozenset(self.config.skipped_operations),
                schemas=lambda _db, table, c=conn: load_table_schema(c, table))
        return conn

    def _forget(self, databases: list[str]) -> None:
        for name in set(self._conns) - set(databases):
            self._conns.pop(name).close()
            self._envelopes.pop(name, None)
            self._quiet.pop(name, None)

    def _collect(self, databases: list[str], live: dict[int, bool],
                 cursors: dict[str, dict[int, int]], resume: tuple[str, int, int, int] | None,
                 now_us: int) -> tuple[list[SinkRecord], dict[str, dict[int, int]],
                                       tuple[str, int, int, int] | None, bool]:
        self._forget(databases)
        records: list[SinkRecord] = []
        done: dict[str, dict[int, int]] = {}
        size, partial, full = 0, None, False
        node_id = self.service.node_id
        for database in _fair_order(databases, resume, self.batches):
            conn = self._conn(database)
            mine = cursors.get(database, {})
            # an idle database costs one PRAGMA per poll: nothing committed there, same
            # ownership and cursors as when it was last found with nothing to publish
            quiet = (conn.execute("PRAGMA data_version").fetchone()[0],
                     tuple(sorted(live.items())), tuple(sorted(mine.items())))
            if self._quiet.get(database) == quiet:
                continue
            vector = commitlog.applied_vector(conn)
            owned = owned_origins(vector, live, node_id)
            self.owned[database] = owned
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
            if not batch.records and not batch.done and not batch.full:
                self._quiet[database] = quiet
            else:
                self._quiet.pop(database, None)
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
                if schema is None or name.startswith(INTERNAL_PREFIX) or \
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
        finally:
            await self._drop_prefetch()

    def _read_next(self, cursors: dict[str, dict[int, int]],
                   resume: tuple[str, int, int, int] | None) -> asyncio.Future[Any]:
        return asyncio.ensure_future(self._in_pool(
            self._collect, self.service.databases(), self.service.live(),
            {db: dict(c) for db, c in cursors.items()}, resume, _now_us()))

    async def _drop_prefetch(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            try:
                await prefetch
            except Exception:  # noqa: BLE001 - its records are read again
                pass

    async def _step(self) -> None:
        """One batch. While a full batch is being published, the pool thread already reads
        the next one from where this one ends (its cursors and split point do not depend on
        the broker), so reading and the broker's acks overlap."""
        pending, self._prefetch = self._prefetch, None
        records, done, partial, full = await (pending or self._read_next(self.cursors,
                                                                          self.resume))
        if full:
            after = {db: {**self.cursors.get(db, {}), **moved} for db, moved in done.items()}
            self._prefetch = self._read_next({**self.cursors, **after}, partial)
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
        mine = self.cursors.setdefault(database, {}) if cursors else {}
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


def _fair_order(databases: list[str], resume: tuple[str, int, int, int] | None,
                turn: int) -> list[str]:
    """Databases in the order a batch reads them: a split write set's database first, else a
    rotation, so one database with a long backlog does not starve the others."""
    if not databases:
        return databases
    start = databases.index(resume[0]) if resume is not None and resume[0] in databases \
        else turn % len(databases)
    return databases[start:] + databases[:start]


def _model(conn: apsw.Connection, database: str, table: str) -> Any:
    return catalog_snapshot.snapshot(conn, database).table(table)


def _now_us() -> int:
    return time.time_ns() // 1000
