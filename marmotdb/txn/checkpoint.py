"""WalCheckpointer: WAL checkpoints on a worker thread, never inside a COMMIT on the event loop.

SQLite's automatic checkpoint runs inside the COMMIT that crosses ``wal_autocheckpoint`` pages:
it copies up to that many pages into the database file and syncs it, on the committing
connection, which for marmotdb is the write connection on the event loop — a stall of every
client for tens of milliseconds every few hundred transactions. So the write connection has
automatic checkpoints off; its WAL hook reports the WAL's size after each COMMIT, and when it
passes ``pages_max`` a checkpoint runs on a worker thread, on a connection of its own, while
the event loop goes on serving reads. The pipeline grants no write turn until it ends: a
checkpoint racing new commits never catches up with the WAL's end, so SQLite would never
restart the WAL from its beginning and the file (and every later checkpoint) would grow
without bound — SQLite's own in-COMMIT checkpoint avoids that by blocking the writer too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from marmotdb.txn.wal_sync import BlockingHost

WAL_PAGES_MAX = 1000  # SQLite's default wal_autocheckpoint


class WalCheckpointer:
    def __init__(self, writer: apsw.Connection, open_connection: Callable[[], apsw.Connection],
                 host: BlockingHost, on_done: Callable[[], None],
                 pages_max: int = WAL_PAGES_MAX):
        self._on_done = on_done  # the writer may go on
        self._open_connection = open_connection
        self._conn: apsw.Connection | None = None  # used on the worker thread only
        self._host = host
        self.pages_max = pages_max
        self.in_flight = False
        self.checkpoints = 0
        writer.wal_autocheckpoint(0)
        writer.set_wal_hook(self._after_commit)

    def _after_commit(self, conn: apsw.Connection, name: str, pages: int) -> int:
        if pages >= self.pages_max and not self.in_flight:
            self.in_flight = True
            if self._conn is None:
                self._conn = self._open_connection()
            self._host.run_blocking(self._checkpoint, self._done)
        return apsw.SQLITE_OK

    def _checkpoint(self) -> None:
        assert self._conn is not None
        self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)

    def _done(self, error: BaseException | None) -> None:
        self.in_flight = False
        self.checkpoints += 1
        self._on_done()

    def close(self) -> Any:
        """The connection to give back (the caller closes it), if one was opened."""
        conn, self._conn = self._conn, None
        return None if self.in_flight else conn
