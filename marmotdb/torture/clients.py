"""Workload clients: threads, each a MySQL connection (PyMySQL) to one node, doing one
operation at a time and recording it in the history.

How an error becomes an outcome (the history format's ``fail``/``info``; txn/DESIGN.md §7.5):

    server error 1180                       info: the commit's outcome is unknown
    any other server error (1213, 1205,     fail: MySQL answered ERR, the statement (and a
      1047, a refused statement, ...)         transaction it ended) did not take effect
    connection lost / timeout while a       info: the commit may have happened
      statement that commits was in flight
    connection lost before that             fail: nothing was sent that could commit

After an ``info`` the thread takes a fresh process number and a new connection (the old
statement may still be in flight on the server). A client whose node is down keeps trying to
reconnect every ``RECONNECT_PAUSE_S`` until the run stops; failed connects are not operations.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from typing import Any, Protocol

import pymysql

from marmotdb.torture import history as hist
from marmotdb.torture.history import History, ProcessNumbers

INFO_CODES = {1180}          # ER_COMMIT_OUTCOME_UNKNOWN
CLIENT_ERRORS_FROM = 2000    # pymysql/libmysql client-side codes: 2013 lost, 2006 gone, ...
RECONNECT_PAUSE_S = 0.2
CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_S = 10     # a paused or partitioned node answers no later than this: info
# After a server error the client waits this long before its next operation: a node that
# refuses everything at once (a minority at QUORUM, a Galera node not yet synced) would
# otherwise fill the history with tens of thousands of identical fails a second.
ERROR_PAUSE_S = 0.05


class Refused(Exception):
    """The workload itself declined the operation before anything could commit (a transfer
    that would overdraw its account): a ``fail`` with this message; the connection stays."""


@dataclasses.dataclass
class Op:
    """One operation in flight. A workload sets ``committing`` just before it sends the
    statement that may commit (COMMIT, or an autocommit write)."""

    f: str
    value: Any
    committing: bool = False


class Workload(Protocol):
    name: str

    def setup(self, cur: Any) -> None: ...
    def next_op(self, rng: random.Random) -> Op: ...
    def run(self, cur: Any, op: Op) -> Any: ...
    def tables(self) -> list[str]: ...
    def meta(self) -> dict[str, Any]: ...


class Target(Protocol):
    """What the clients connect to: a marmotdb cluster or the Galera comparison."""

    product: str
    database: str

    def node_names(self) -> list[str]: ...
    def connect(self, node: str, database: str | None = ..., *,
                timeout_s: float = ...) -> Any: ...
    def session_setup(self, cur: Any, consistency: str, read_consistency: str) -> None: ...


def error_code(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def outcome(exc: BaseException, committing: bool) -> str:
    code = error_code(exc)
    if isinstance(exc, pymysql.err.MySQLError) and 0 < code < CLIENT_ERRORS_FROM:
        return hist.INFO if code in INFO_CODES else hist.FAIL
    return hist.INFO if committing else hist.FAIL


def describe(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return f"{args[0]} {args[1]}"
    return f"{type(exc).__name__}: {exc}"


class Clients:
    """``count`` client threads spread round-robin over the target's nodes."""

    def __init__(self, target: Target, workload: Workload, history: History, count: int,
                 consistency: str, read_consistency: str, seed: int):
        self.target, self.workload, self.history = target, workload, history
        self.consistency, self.read_consistency = consistency, read_consistency
        self.processes = ProcessNumbers()
        self._stop = threading.Event()
        nodes = target.node_names()
        self._threads = [threading.Thread(target=self._loop, name=f"torture-client-{i}",
                                          args=(nodes[i % len(nodes)],
                                                random.Random(seed * 1000 + i)),
                                          daemon=True) for i in range(count)]
        self.errors: list[str] = []  # a client thread that died of a bug (not a DB error)
        self._in_flight: Counter[str] = Counter()  # node -> operations invoked, not completed
        self._lock = threading.Lock()

    def busiest(self) -> str | None:
        """The node with the most operations in flight (the coordinator the nemesis kills
        "under load")."""
        with self._lock:
            return max(self._in_flight, key=self._in_flight.__getitem__, default=None)

    def start(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout_s: float = STATEMENT_TIMEOUT_S + 20) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        hung = [t.name for t in self._threads if t.is_alive()]
        if hung and timeout_s:
            self.errors.append(f"client threads still running after {timeout_s} s: {hung}")

    def _loop(self, node: str, rng: random.Random) -> None:
        try:
            process = self.processes.take()
            while not self._stop.is_set():
                conn = self._connect(node)
                if conn is None:
                    continue
                try:
                    process = self._session(conn, node, process, rng)
                finally:
                    _close(conn)
        except Exception as exc:  # a bug in the runner or a workload: reported, not hidden
            self.errors.append(f"{threading.current_thread().name}: {describe(exc)}")

    def _connect(self, node: str) -> Any:
        try:
            conn = self.target.connect(node, timeout_s=STATEMENT_TIMEOUT_S)
            with conn.cursor() as cur:
                self.target.session_setup(cur, self.consistency, self.read_consistency)
            return conn
        except (pymysql.err.MySQLError, OSError):
            self._stop.wait(RECONNECT_PAUSE_S)
            return None

    def _session(self, conn: Any, node: str, process: int, rng: random.Random) -> int:
        """Operations on one connection until it breaks or the run stops; the process number
        to use next."""
        with conn.cursor() as cur:
            while not self._stop.is_set():
                op = self.workload.next_op(rng)
                self.history.record(process, hist.INVOKE, op.f, op.value, node=node,
                                    consistency=self.consistency,
                                    read_consistency=self.read_consistency)
                with self._lock:
                    self._in_flight[node] += 1
                try:
                    value = self._run(cur, op, node)
                except Refused as exc:
                    self.history.record(process, hist.FAIL, op.f, op.value, node=node,
                                        error=str(exc))
                    continue
                except (pymysql.err.MySQLError, OSError) as exc:
                    kind = outcome(exc, op.committing)
                    self.history.record(process, kind, op.f, op.value, node=node,
                                        error=describe(exc))
                    _rollback(cur)
                    if kind == hist.INFO:
                        return self.processes.take()  # the old one may still be in flight
                    if error_code(exc) >= CLIENT_ERRORS_FROM or error_code(exc) == 0:
                        return process  # the connection is gone: reconnect
                    self._stop.wait(ERROR_PAUSE_S)
                    continue
                self.history.record(process, hist.OK, op.f, value, node=node)
        return process


    def _run(self, cur: Any, op: Op, node: str) -> Any:
        try:
            return self.workload.run(cur, op)
        finally:
            with self._lock:
                self._in_flight[node] -= 1


def _rollback(cur: Any) -> None:
    try:
        cur.execute("ROLLBACK")
    except (pymysql.err.MySQLError, OSError):
        pass


def _close(conn: Any) -> None:
    try:
        conn.close()
    except (pymysql.err.MySQLError, OSError):
        pass
