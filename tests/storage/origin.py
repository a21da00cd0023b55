"""Test support: an "origin" node that runs SQL transactions and produces write sets, and
exact dumps of a database for comparing replicas.

An Origin is the storage half of a real node, wired the way the server and the replication
layer will wire it: one APSW connection with a ChangeCapture, an HLC on a manual clock,
statement boundaries around every statement, savepoints, and at commit: base versions,
record_local_commit and COMMIT in one SQLite transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import apsw

from marmotdb.hlc import HLC, Timestamp
from marmotdb.storage.apply import apply, record_local_commit
from marmotdb.storage.capture import ChangeCapture
from marmotdb.storage.internal_tables import ensure_internal_tables
from marmotdb.storage.versions import fill_base_versions
from marmotdb.storage.writeset import WriteSet, decode_write_set, encode_write_set


class ManualClock:
    def __init__(self, ms: int):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def open_database(schema_sql: str, path: str = ":memory:") -> apsw.Connection:
    conn = apsw.Connection(path)
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    ensure_internal_tables(conn)
    if schema_sql:
        conn.execute(schema_sql)
    return conn


class Origin:
    """A node that executes transactions locally and ships their write sets."""

    def __init__(self, node_id: int, schema_sql: str, clock_ms: int = 1_000_000,
                 database: str = "db", path: str = ":memory:"):
        self.node_id = node_id
        self.conn = open_database(schema_sql, path)
        self.capture = ChangeCapture(self.conn)
        self.clock = ManualClock(clock_ms)
        self.hlc = HLC(node_id, self.clock, max_clock_offset_ms=10**9)
        self.database = database
        self.next_seq = 1
        self.failed_statements = 0

    # -- statements and transactions --------------------------------------------------------

    def begin(self) -> Timestamp:
        self.conn.execute("BEGIN")
        return self.hlc.now()

    def statement(self, sql: str, params: Sequence[Any] = ()) -> bool:
        """Run one statement inside capture boundaries; False if SQLite refused it."""
        self.capture.statement_begin()
        try:
            self.conn.execute(sql, params)
        except apsw.Error:
            self.capture.statement_end(False)
            self.failed_statements += 1
            return False
        self.capture.statement_end(True)
        return True

    def savepoint(self, name: str) -> None:
        self.conn.execute(f"SAVEPOINT {name}")
        self.capture.savepoint(name)

    def rollback_to(self, name: str) -> None:
        self.conn.execute(f"ROLLBACK TO {name}")
        self.capture.rollback_to(name)

    def release(self, name: str) -> None:
        self.conn.execute(f"RELEASE {name}")
        self.capture.release(name)

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")
        self.capture.rollback()

    def commit(self, txn_id: Timestamp) -> bytes | None:
        """Commit; returns the encoded write set, or None if nothing changed."""
        changes = self.capture.commit()
        if not changes:
            self.conn.execute("COMMIT")
            return None
        fill_base_versions(self.conn, changes)
        write_set = WriteSet(txn_id, self.node_id, self.next_seq, self.hlc.now(), self.database,
                             1, self.capture.schemas_for(changes), changes)
        encoded = encode_write_set(write_set)
        try:
            record_local_commit(self.conn, write_set, encoded)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        self.next_seq += 1
        return encoded

    def run(self, statements: Sequence[str | tuple[str, Sequence[Any]]]) -> bytes | None:
        txn_id = self.begin()
        for item in statements:
            sql, params = (item, ()) if isinstance(item, str) else item
            self.statement(sql, params)
        return self.commit(txn_id)

    def receive(self, encoded: bytes) -> None:
        """Apply a peer's write set, observing its timestamp like a real node does."""
        write_set = decode_write_set(encoded)
        self.hlc.update(write_set.commit_ts)
        apply(self.conn, write_set, encoded)


# -- exact dumps ------------------------------------------------------------------------------


def typed(value: Any) -> tuple[str, Any]:
    """A value with its SQLite type made explicit (1 vs 1.0, 0.0 vs -0.0, text vs blob)."""
    if isinstance(value, float):
        return ("real", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


def user_tables(conn: apsw.Connection) -> list[str]:
    sql = ("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
           "AND name NOT LIKE '\\_\\_marmot\\_%' ESCAPE '\\' ORDER BY name")
    return [name for (name,) in conn.execute(sql)]


def table_rows(conn: apsw.Connection, table: str) -> list[tuple[Any, ...]]:
    """Rows with typed values; rowid first for tables keyed by rowid."""
    info = conn.execute(f"SELECT pk FROM pragma_table_info('{table}')").fetchall()
    select = "*" if any(pk for (pk,) in info) else "rowid, *"
    rows = [tuple(typed(v) for v in row) for row in conn.execute(f'SELECT {select} FROM "{table}"')]
    return sorted(rows, key=repr)


def dump(conn: apsw.Connection) -> dict[str, Any]:
    """Everything replicas must agree on: user rows, row versions, applied vector."""
    state: dict[str, Any] = {t: table_rows(conn, t) for t in user_tables(conn)}
    state["__versions"] = conn.execute(
        "SELECT tbl, pk, ts, node, deleted FROM __marmot_row_versions ORDER BY tbl, pk").fetchall()
    state["__applied"] = conn.execute(
        "SELECT origin, seq FROM __marmot_applied ORDER BY origin").fetchall()
    return state
