"""Replication lag of a multi-node cluster: from a write's acknowledgement on one node to the
row being visible on every other node.

Theory of operation: one PyMySQL connection per node (autocommit, the server's default read
consistency: for marmotdb LOCAL reads, for Galera ``wsrep_sync_wait=0``, so a read shows what
that node has applied, not what the cluster has committed). Sample i writes a marker row
``(id, node, written_at_us)`` on node ``i mod N`` (so every node takes its turn as the writer)
and takes the time the INSERT's OK arrives (the acknowledgement). It then polls every other
node in turn with ``SELECT 1 FROM <table> WHERE id = ?`` until each has the row; the sample's
lag is the time from the acknowledgement to the moment the last node first showed it. The
poll is one round trip per node, back to back, so a node's time is known to within one poll
round (its duration is reported as the resolution). A row not visible everywhere within
``visible_timeout_s`` is counted as missing, not as a number. Between samples the probe pauses
``gap_s`` so it adds little load of its own.

``written_at_us`` (the client's wall clock) is stored for anyone inspecting the table; the
measurement itself uses the client's monotonic clock only, so no clocks are compared across
processes.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import pymysql

CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 30


def create_table_sql(table: str) -> str:
    return (f"CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, node INT NOT NULL, "
            f"written_at_us BIGINT NOT NULL)")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value below which `fraction` of the samples fall)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


@dataclass
class LagResult:
    lags_s: list[float] = field(default_factory=list)
    acks_s: list[float] = field(default_factory=list)  # INSERT round trip on the writing node
    poll_rounds_s: list[float] = field(default_factory=list)
    missing: int = 0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"samples": len(self.lags_s), "missing": self.missing}
        if self.lags_s:
            out.update(
                lag_p50_ms=1e3 * percentile(self.lags_s, 0.50),
                lag_p99_ms=1e3 * percentile(self.lags_s, 0.99),
                lag_max_ms=1e3 * max(self.lags_s),
                ack_p50_ms=1e3 * percentile(self.acks_s, 0.50),
                ack_p99_ms=1e3 * percentile(self.acks_s, 0.99),
                poll_round_ms=1e3 * statistics.fmean(self.poll_rounds_s or [0.0]))
        return out


class LagProbe:
    """Connections to every node of one cluster; `measure()` takes a series of samples."""

    def __init__(self, host: str, ports: list[int], user: str, password: str, database: str,
                 table: str) -> None:
        self.table = table
        self.connections = [
            pymysql.connect(host=host, port=port, user=user, password=password,
                            database=database, autocommit=True,
                            connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                            write_timeout=READ_TIMEOUT_S)
            for port in ports]

    def close(self) -> None:
        for connection in self.connections:
            connection.close()

    def __enter__(self) -> LagProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def measure(self, samples: int, first_id: int, gap_s: float = 0.01,
                visible_timeout_s: float = 10.0) -> LagResult:
        result = LagResult()
        for i in range(samples):
            self._sample(first_id + i, i % len(self.connections), visible_timeout_s, result)
            time.sleep(gap_s)
        return result

    def _sample(self, row_id: int, writer: int, visible_timeout_s: float,
                result: LagResult) -> None:
        with self.connections[writer].cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(f"INSERT INTO {self.table} (id, node, written_at_us) "
                           f"VALUES (%s, %s, %s)", (row_id, writer + 1, time.time_ns() // 1000))
            acked = time.perf_counter()
        result.acks_s.append(acked - started)
        waiting = [n for n in range(len(self.connections)) if n != writer]
        last_seen = acked
        while waiting:
            round_started = time.perf_counter()
            for node in list(waiting):
                if self._visible(node, row_id):
                    waiting.remove(node)
                    last_seen = time.perf_counter()
            result.poll_rounds_s.append(time.perf_counter() - round_started)
            if waiting and time.perf_counter() - acked > visible_timeout_s:
                result.missing += 1
                return
        result.lags_s.append(last_seen - acked)

    def _visible(self, node: int, row_id: int) -> bool:
        with self.connections[node].cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {self.table} WHERE id = %s", (row_id,))
            return cursor.fetchone() is not None
