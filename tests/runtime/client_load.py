"""Client load for the real-process fault tests: threads writing through real MySQL clients,
each outcome recorded the way a careful application would see it.

Every statement ends in one of three outcomes (txn/DESIGN.md §7.5):

    acked     OK packet: the write must survive any fault the level promises to survive
    refused   1213 (conflict), 1047 (quorum not reachable): NOT committed; must never appear
    unknown   1180 (outcome unknown), or the connection died under the statement (kill -9):
              may or may not have committed; the checks allow both

A writer whose node is down keeps trying to reconnect until stopped, so a node restarted
during the load takes writes again. Keys are unique per writer (``writer * KEY_SPAN + i``),
so the set of rows in a table says exactly which inserts committed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pymysql

from marmotdb.torture.cluster import LocalCluster

KEY_SPAN = 1_000_000
REFUSED = {1213, 1047}  # documented: not committed
UNKNOWN = {1180}        # documented: outcome unknown
CLIENT_ERRORS = 2000     # codes from here up are the client's (2013: connection lost)
CONNECTION_LOST = 2013
RECONNECT_PAUSE_S = 0.1
DATABASE = "app"


def connect(cluster: LocalCluster, node_id: int, database: str | None = DATABASE,
            **options: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(host=cluster.host(node_id), port=cluster.record(node_id).mysql_port,
                           user="root", password=cluster.state.root_password, autocommit=True,
                           connect_timeout=5, read_timeout=30, write_timeout=30,
                           database=database, **options)


def execute(cluster: LocalCluster, node_id: int, *statements: str) -> list[tuple[Any, ...]]:
    """Run ``statements`` in one session on ``node_id``; the last one's rows."""
    with connect(cluster, node_id) as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
        return list(cur.fetchall())


def create_database(cluster: LocalCluster) -> None:
    for node_id in cluster.live_ids():  # IF NOT EXISTS: replicated from the first node on
        with connect(cluster, node_id, database=None) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")


def incidents(cluster: LocalCluster, limit_chars: int = 6000) -> str:
    """Every node's logged incidents (an internal error a client saw as 1105), each with its
    traceback: what a failed test prints so the cause is in the CI output."""
    found = []
    for node_id in cluster.ids():
        lines = cluster.log(node_id).splitlines()
        for i, line in enumerate(lines):
            if " incident " in line:
                end = next((j for j in range(i + 1, len(lines)) if lines[j][:4].isdigit()),
                           len(lines))
                found.append(f"node {node_id}: " + "\n".join(lines[i:end]))
    return "\n".join(found)[-limit_chars:]


class Outcomes:
    """What the clients saw, shared by the writer threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: set[int] = set()
        self.refused: set[int] = set()
        self.unknown: set[int] = set()
        self.codes: Counter[int] = Counter()  # MySQL error code -> times seen

    def record(self, key: int, code: int | None) -> None:
        with self.lock:
            if code is None:
                self.acked.add(key)
                return
            self.codes[code] += 1
            (self.refused if code in REFUSED else self.unknown).add(key)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)


class Writers:
    """``per_node`` threads on each of ``nodes`` running ``statement(key)`` at ``level`` until
    ``stop()``. ``statement`` maps a key to SQL; the key is recorded with the outcome."""

    def __init__(self, cluster: LocalCluster, nodes: Iterable[int],
                 statement: Callable[[int], str],
                 level: str = "QUORUM", per_node: int = 2, pause_s: float = 0.0,
                 writer_base: int = 0):
        self.cluster, self.statement, self.level = cluster, statement, level
        self.pause_s = pause_s
        self.outcomes = Outcomes()
        self._stop = threading.Event()
        self.unexpected: list[str] = []  # errors outside the documented ones: a test failure
        self._threads = [threading.Thread(target=self._run, args=(node_id, writer_base + w),
                                          daemon=True)
                         for w, node_id in enumerate(n for n in nodes for _ in range(per_node))]

    def start(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout_s: float = 60.0) -> Outcomes:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        assert not any(t.is_alive() for t in self._threads), "a writer hung past its timeout"
        assert not self.unexpected, (f"undocumented errors: {self.unexpected[:5]}\n"
                                     f"{incidents(self.cluster)}")
        return self.outcomes

    def wait_acked(self, count: int, timeout_s: float, what: str) -> None:
        self.cluster.until(lambda: self.outcomes.acked_count() >= count, timeout_s,
                           f"{count} acknowledged writes {what} "
                           f"(have {self.outcomes.acked_count()}, errors "
                           f"{dict(self.outcomes.codes)})")

    def _run(self, node_id: int, writer: int) -> None:
        key = writer * KEY_SPAN
        while not self._stop.is_set():
            try:
                with connect(self.cluster, node_id) as conn, conn.cursor() as cur:
                    cur.execute(f"SET marmot_write_consistency = '{self.level}'")
                    while not self._stop.is_set():
                        key += 1
                        self._one(cur, key)
                        if self.pause_s:
                            time.sleep(self.pause_s)
            except (pymysql.err.MySQLError, OSError):  # the node is down or went down: the
                time.sleep(RECONNECT_PAUSE_S)          # statement in flight was recorded

    def _one(self, cur: Any, key: int) -> None:
        try:
            cur.execute(self.statement(key))
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            self.outcomes.record(key, code or CONNECTION_LOST)
            if code in REFUSED or code in UNKNOWN:
                return
            if 0 < code < CLIENT_ERRORS:  # a server error that is neither documented outcome
                self.unexpected.append(f"{code} {exc.args[1] if len(exc.args) > 1 else ''}")
            raise  # 2013/2006/...: the connection died mid-statement; reconnect
        self.outcomes.record(key, None)
