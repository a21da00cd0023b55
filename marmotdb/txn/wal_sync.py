"""WalSyncer: durability = "fsync" without an fsync inside the write connection's COMMIT.

Theory of operation
-------------------
With SQLite's ``synchronous=FULL`` every COMMIT fsyncs the WAL while it holds the database's
write lock, so writers are serialized on the disk: about 2.3 ms per COMMIT on the development
VM, whatever the batch size. Instead the write connection runs ``synchronous=NORMAL`` (a
COMMIT appends its frames to the WAL and returns) and this object makes committed batches
durable afterwards: one ``fdatasync`` of the WAL file on a worker thread covers every batch
committed before it started. The members of those batches are answered only when it returns;
meanwhile the next batches execute and commit. While one sync runs, the batches committed
after it started wait for the next one: that is the group-commit window, and it sizes itself to
the disk's speed.

Why acknowledged transactions survive power loss: a member is answered only after an
fdatasync that started after its COMMIT wrote its frames. SQLite's WAL recovery keeps the
longest prefix of frames whose checksums chain, so an unsynced later batch can never make an
earlier synced one unreadable; SQLite itself syncs the WAL before every checkpoint
(``synchronous=NORMAL``), so no page reaches the database file before its frames are durable.

What it gives up (documented in txn/DESIGN.md): a batch is visible to readers on other
connections between its COMMIT and the sync, so after a power loss a read may have seen a
transaction that is gone (it was never acknowledged). A process crash (kill -9) loses nothing:
the frames are in the OS page cache.

The WAL is fsynced through a descriptor of our own (fsync applies to the file, not the
descriptor); if the file was replaced meanwhile (a new inode), the descriptor is reopened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from marmotdb import errors
from marmotdb.txn.pending import Pending

ER_ERROR_DURING_COMMIT = 1180


class BlockingHost(Protocol):
    def run_blocking(self, work: Callable[[], None],
                     done: Callable[[BaseException | None], None]) -> None: ...


class WalSyncer:
    def __init__(self, wal_path: str, host: BlockingHost,
                 sync_file: Callable[[str], None] | None = None):
        self.wal_path = wal_path
        self._host = host
        # fdatasync of the WAL; the simulator passes its disk model's sync instead
        self._sync_file = sync_file
        self._fd: int | None = None
        self._inode: int | None = None
        self._waiting: list[tuple[Pending, Any]] = []  # committed, not yet durable
        self._in_flight = False
        self.syncs = 0

    def committed(self, members: list[tuple[Pending, Any]]) -> None:
        """A batch's COMMIT returned: answer its members once the WAL is on disk. The sync
        starts after the work already runnable (other batches of this event-loop turn)."""
        self._waiting.extend(members)
        if not self._in_flight:
            self._host.defer(self._start)

    def _start(self) -> None:
        if self._in_flight or not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        self._in_flight = True
        self._host.run_blocking(self._sync, lambda error: self._done(batch, error))

    def _sync(self) -> None:
        """On a worker thread: fdatasync the WAL (reopened if the file was replaced)."""
        if self._sync_file is not None:
            self._sync_file(self.wal_path)
            return
        inode = os.stat(self.wal_path).st_ino
        if self._fd is None or inode != self._inode:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.wal_path, os.O_RDONLY)
            self._inode = inode
        os.fdatasync(self._fd)

    def _done(self, batch: list[tuple[Pending, Any]], error: BaseException | None) -> None:
        self._in_flight = False
        self.syncs += 1
        if error is None:
            for pending, value in batch:
                pending.resolve(value)
        else:  # committed in SQLite, durability unknown: never a false success
            failure = errors.error(ER_ERROR_DURING_COMMIT, f"Got error {error!r} during "
                                   "COMMIT: the transaction may or may not be durable")
            for pending, _ in batch:
                pending.fail(failure)
        self._start()

    def drain(self) -> None:
        """Make the waiting batches durable now, on this thread (closing the database)."""
        if self._waiting and not self._in_flight:
            batch, self._waiting = self._waiting, []
            try:
                self._sync()
            except OSError as exc:
                self._done(batch, exc)
            else:
                self._done(batch, None)

    def close(self) -> None:
        if self._fd is not None and not self._in_flight:  # a running sync keeps its descriptor
            os.close(self._fd)
            self._fd = None
