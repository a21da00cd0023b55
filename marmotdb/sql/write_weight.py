"""Which writes are long: run on a writer thread, not on the event loop (DESIGN.md §9).

A write cannot be tried in the loop under a budget and moved when it runs long, as a read is:
stopping a running INSERT/UPDATE/DELETE (a progress handler or ``sqlite3_interrupt``) makes
SQLite roll back the whole SQLite transaction — the open batch, with other clients' committed
-but-not-yet-durable transactions in it. So a write is weighed before it runs, from its
plan: SQLite's ``EXPLAIN QUERY PLAN`` of each translated statement (cached per statement and
schema generation) names the tables it scans, fully or over a range. A write that scans a
table holding more than ``LONG_WRITE_ROWS_MIN`` rows (its largest rowid, an O(log n) look-up
on a pooled connection), or scans something whose size is unknown (a CTE, a subquery), is
long. Point writes by key or index equality and ``VALUES`` inserts never are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import apsw

LONG_WRITE_ROWS_MIN = 20_000  # a write scanning a table bigger than this leaves the loop
_PLANS_MAX = 4096
_SCAN = re.compile(r"^SCAN (?!\d+-ROW VALUES CLAUSE|CONSTANT ROW)(\S+)")
_RANGE = re.compile(r"^SEARCH (\S+) USING .*\([^)]*[<>]")
_UNKNOWN = ""  # scans something that is not a plain table: size unknown


class WriteWeights:
    """The plans of translated writes, and the weighing of one execution."""

    def __init__(self, rows_min: int = LONG_WRITE_ROWS_MIN):
        self.rows_min = rows_min
        self._scanned: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def is_long(self, key: tuple[Any, ...], statements: Sequence[str], params: Any,
                connection: Callable[[], tuple[apsw.Connection, Callable[[], None]]]) -> bool:
        """``key`` names the statements' schema (database, schema generation); ``connection``
        lends a read connection of that database and how to give it back."""
        scanned = self._scanned.get((key, tuple(statements)))
        if scanned is not None and not scanned:
            return False
        conn, give_back = connection()
        try:
            if scanned is None:
                scanned = self._plan(conn, statements, params)
                if len(self._scanned) >= _PLANS_MAX:
                    self._scanned.clear()
                self._scanned[(key, tuple(statements))] = scanned
            return any(self._big(conn, table) for table in scanned)
        finally:
            give_back()

    @staticmethod
    def _plan(conn: apsw.Connection, statements: Sequence[str], params: Any
              ) -> tuple[str, ...]:
        tables: list[str] = []
        for statement in statements:
            try:
                plan = conn.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
            except apsw.Error:  # names only the write connection knows (temporary tables):
                continue         # weighed as a point write, as before
            for row in plan:
                found = _SCAN.match(row[3]) or _RANGE.match(row[3])
                if found is not None:
                    name = found.group(1)
                    tables.append(name if re.fullmatch(r"[A-Za-z0-9_$]+", name) else _UNKNOWN)
        return tuple(tables)

    @staticmethod
    def rows_of(conn: apsw.Connection, tables: Sequence[str]) -> int:
        """The largest rowid among ``tables`` (0 for one that does not exist yet or has no
        rowid): what a DDL over them moves (a rebuild copies it, an index sorts it)."""
        largest = 0
        for table in tables:
            try:
                found = conn.execute(f'SELECT max(rowid) FROM "{table.replace(chr(34), chr(34) * 2)}"'
                                     ).fetchall()[0][0]
            except apsw.Error:
                continue
            largest = max(largest, found or 0)
        return largest

    def _big(self, conn: apsw.Connection, table: str) -> bool:
        if table == _UNKNOWN:
            return True
        try:
            largest = conn.execute(f'SELECT max(rowid) FROM "{table}"').fetchall()[0][0]
        except apsw.Error:  # a CTE's name, or a table without rowid: size unknown
            return True
        return (largest or 0) > self.rows_min
