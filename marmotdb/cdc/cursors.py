"""Each sink's durable delivered-up-to mark, per database and origin (cdc/DESIGN.md §4).

Kept in ``<data_dir>/cdc/cursors.db``, a node-local SQLite file (not inside the database files:
a snapshot restore copies a database file from a peer and must not bring the peer's cursors).

``cursors(sink, database, origin) -> origin_seq``: the last write set of that origin whose every
record the sink's broker acknowledged — by this node, or by another publisher that reported it
(``CdcCursors``). Cursors only move forward (``advance`` keeps the maximum), so an old report
arriving late never sends a sink back.

``sinks(sink) -> state, error, snapshot_seq``: ``new`` until the sink's starting point is
settled (snapshot taken, or the vector recorded), then ``streaming``; ``failed`` with the error
once it gave up (backlog bound, gap, a record the broker refuses). A failed sink stays failed
across restarts until an operator resets it (``reset``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import apsw

NEW, STREAMING, FAILED = "new", "streaming", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
  sink TEXT NOT NULL, database TEXT NOT NULL, origin INTEGER NOT NULL,
  origin_seq INTEGER NOT NULL, PRIMARY KEY (sink, database, origin)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sinks (
  sink TEXT PRIMARY KEY, state TEXT NOT NULL, error TEXT, snapshot_seq INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""


class SinkState(NamedTuple):
    state: str
    error: str | None
    snapshot_seq: int


class CursorStore:
    """One connection; the runtime calls it from one worker thread at a time."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = apsw.Connection(str(path))
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # a lost cursor = a few duplicates
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ cursors
    def cursors(self, sink: str, database: str) -> dict[int, int]:
        sql = "SELECT origin, origin_seq FROM cursors WHERE sink = ? AND database = ?"
        return {origin: seq for origin, seq in self._conn.execute(sql, (sink, database))}

    def all_cursors(self, sink: str) -> dict[str, dict[int, int]]:
        found: dict[str, dict[int, int]] = {}
        sql = "SELECT database, origin, origin_seq FROM cursors WHERE sink = ?"
        for database, origin, seq in self._conn.execute(sql, (sink,)):
            found.setdefault(database, {})[origin] = seq
        return found

    def advance(self, sink: str, database: str, cursors: Mapping[int, int]) -> None:
        """Move cursors forward (never back), in one transaction."""
        if not cursors:
            return
        with self._conn:
            self._conn.executemany(
                "INSERT INTO cursors(sink, database, origin, origin_seq) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sink, database, origin) DO UPDATE SET "
                "origin_seq = max(origin_seq, excluded.origin_seq)",
                [(sink, database, origin, seq) for origin, seq in cursors.items()])

    def holds(self, database: str, sinks: list[str]) -> dict[int, int]:
        """Per origin, the lowest cursor of ``sinks`` (the live ones) for ``database``: log
        entries above it must stay. An origin a sink has no cursor for holds from 0."""
        held: dict[int, int] = {}
        per_sink = [self.cursors(sink, database) for sink in sinks]
        origins = {origin for cursors in per_sink for origin in cursors}
        for origin in origins:
            held[origin] = min(cursors.get(origin, 0) for cursors in per_sink)
        return held

    # ------------------------------------------------------------------ sink states
    def sink_state(self, sink: str) -> SinkState:
        row = self._conn.execute("SELECT state, error, snapshot_seq FROM sinks WHERE sink = ?",
                                 (sink,)).fetchall()
        return SinkState(*row[0]) if row else SinkState(NEW, None, 0)

    def set_state(self, sink: str, state: str, error: str | None = None) -> None:
        self._conn.execute(
            "INSERT INTO sinks(sink, state, error) VALUES (?, ?, ?) ON CONFLICT (sink) "
            "DO UPDATE SET state = excluded.state, error = excluded.error", (sink, state, error))

    def next_snapshot_seq(self, sink: str) -> int:
        """A fresh sequence number for a snapshot of ``sink`` (its records' positions)."""
        with self._conn:
            self._conn.execute("INSERT INTO sinks(sink, state) VALUES (?, ?) "
                               "ON CONFLICT (sink) DO NOTHING", (sink, NEW))
            self._conn.execute("UPDATE sinks SET snapshot_seq = snapshot_seq + 1 WHERE sink = ?",
                               (sink,))
        return self.sink_state(sink).snapshot_seq

    def reset(self, sink: str) -> None:
        """Forget a sink entirely (it starts again as new: snapshot or current vector)."""
        with self._conn:
            self._conn.execute("DELETE FROM cursors WHERE sink = ?", (sink,))
            self._conn.execute("DELETE FROM sinks WHERE sink = ?", (sink,))
