"""WalCheckpointer: WAL checkpoints on a worker thread, never inside a COMMIT on the event loop.

SQLite's automatic checkpoint runs inside the COMMIT that crosses ``wal_autocheckpoint`` pages:
it copies up to that many pages into the database file and syncs it, on the committing
connection, which for marmotdb is the write connection on the event loop — a stall of every
client for tens of milliseconds every few hundred transactions. So the write connection has
automatic checkpoints off; its WAL hook reports the WAL's size after each COMMIT, and when it
passes ``pages_max`` a PASSIVE checkpoint runs on a worker thread, on a connection of its own
(PASSIVE neither waits for nor blocks readers and writers: it copies what it can). At most one
runs at a time per database; a WAL still above the bound when it ends triggers the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from marmotdb.txn.wal_sync import BlockingHost

WAL_PAGES_MAX = 1000  # SQLite's default wal_autocheckpoint


class WalCheckpointer:
    def __init__(self, writer: apsw.Connection, open_connection: Callable[[], apsw.Connection],
                 host: BlockingHost, pages_max: int = WAL_PAGES_MAX):
        self._open_connection = open_connection
        self._conn: apsw.Connection | None = None  # used on the worker thread only
        self._host = host
        self.pages_max = pages_max
        self._in_flight = False
        self._pages = 0
        self.checkpoints = 0
        writer.wal_autocheckpoint(0)
        writer.set_wal_hook(self._after_commit)

    def _after_commit(self, conn: apsw.Connection, name: str, pages: int) -> int:
        self._pages = pages
        if pages >= self.pages_max and not self._in_flight:
            self._in_flight = True
            if self._conn is None:
                self._conn = self._open_connection()
            self._host.run_blocking(self._checkpoint, self._done)
        return apsw.SQLITE_OK

    def _checkpoint(self) -> None:
        assert self._conn is not None
        self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)

    def _done(self, error: BaseException | None) -> None:
        self._in_flight = False
        self.checkpoints += 1

    def close(self) -> Any:
        """The connection to give back (the caller closes it), if one was opened."""
        conn, self._conn = self._conn, None
        return None if self._in_flight else conn
