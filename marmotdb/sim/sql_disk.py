"""Simulated disks: an APSW VFS that can crash the machine after its k-th write or sync.

Crash model
-----------
Every SQLite file a simulated node opens lives under its machine's ``SimDisk.root`` and goes
through ``SimVFS`` (a Python ``apsw.VFS`` inheriting the ``unix`` VFS, installed as the default
VFS only while a simulation runs, see ``installed``). The disk counts the ``xWrite``,
``xSync`` and ``xTruncate`` calls on its files. At the chosen count (``crash_at_io``) — or
when the simulator calls ``crash(point)`` from a pipeline fault point — the machine dies:

* that call does nothing and raises ``MachineCrashed`` (a ``BaseException``: APSW re-raises it
  from the statement, no ``except apsw.Error`` / ``except Exception`` in the product swallows
  it, so the node stops at that exact instruction);
* ``fail_at_io`` is the other disk fault: the k-th call and up to ``fail_ios - 1`` after it
  fail (``SQLITE_FULL`` for writes and truncates, ``SQLITE_IOERR`` for syncs) and the machine
  lives on: SQLite rolls the batch back and the pipeline must fail exactly its members.
  Checkpoint I/O never fails (the database file's calls, and runs with ``ioerr`` turn
  auto-checkpoints off): SQLite ignores a failed auto-checkpoint (the COMMIT that ran it
  succeeded), but APSW re-raises a Python VFS's exception from that COMMIT, which the C VFS
  never does — the node would tell clients their committed batch failed;
* from then on every write, sync, truncate and delete on the disk is dropped silently, so the
  cleanup code the exception runs through on its way out (savepoint rollbacks, ``ROLLBACK``)
  and the zombie connections closed by ``bury`` cannot change the files; replies the node
  emits after that instant are dropped by the world.

What survives, by ``mode``:

* ``"process"`` (kill -9): every write issued before the crash point is in the files (the OS
  page cache outlives the process), nothing after. The -shm wal-index is not modelled: the
  next process to open the database is the first, so SQLite rebuilds it from the WAL.
* ``"power"`` (power loss): additionally, writes not covered by a later ``xSync`` of the same
  file are lost; each of them independently survives with probability ``torn_keep`` (writes
  between two syncs may reach the platter in any order, SQLite's own assumption). Only
  whole writes are kept or lost (SQLite's default: atomic sector writes are not claimed, but
  its writes are page-aligned). Directory entries (file creation/unlink without a directory
  fsync) are not modelled. With ``durability = "fsync"`` (synchronous=FULL) every
  acknowledged transaction must survive this; with ``"normal"`` only atomicity and
  consistency are required.

``bury()`` closes every APSW connection still open on the disk's files (the dead process's
connections, closed through the crashed VFS so nothing reaches the files), then applies the
power-loss undo. A new node may then open the same files: it is the first opener, exactly as
after a real crash.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

VFS_NAME = "marmot-sim"
BASE_VFS = "unix"


class MachineCrashed(BaseException):
    """The simulated machine died here (a BaseException so that no handler absorbs it)."""

    def __init__(self, point: str):
        super().__init__(f"machine crashed at {point}")
        self.point = point


@dataclass
class _Undo:
    offset: int
    old: bytes          # the bytes the write replaced (shorter than the write past EOF)
    old_size: int       # the file size before the write or truncate
    new: bytes          # what was written (b"" for a truncate)
    truncate_to: int = -1


@dataclass
class SimDisk:
    root: Path
    rng: random.Random
    crash_at_io: int | None = None
    mode: str = "process"           # "process" (kill -9) or "power" (power loss)
    torn_keep: float = 0.5          # power: chance an unsynced write survives anyway
    wal_autocheckpoint_pages: int | None = None  # knob the simulator shrinks
    fail_at_io: int | None = None   # the k-th write/sync/truncate fails (disk full, EIO) ...
    fail_ios: int = 1               # ... and so do the next ones, up to this many in all
    failed_ios: int = 0
    io_count: int = 0
    io_base: int = 0                # io_count when the crash was armed (reports count from it)
    crashed: bool = False
    crash_point: str | None = None
    unsynced: dict[str, list[_Undo]] = field(default_factory=dict)

    def owns(self, filename: str) -> bool:
        return filename.startswith(str(self.root) + os.sep)

    def crash(self, point: str) -> None:
        """The machine dies now (idempotent); the caller raises MachineCrashed."""
        if not self.crashed:
            self.crashed, self.crash_point = True, point

    def _io(self, what: str) -> bool:
        """Count one write/sync/truncate; False if it must be dropped. Raises at the crash."""
        if self.crashed:
            return False
        self.io_count += 1
        if self.crash_at_io is not None and self.io_count >= self.crash_at_io:
            point = f"io #{self.io_count - self.io_base} ({what})"
            self.crash(point)
            raise MachineCrashed(point)
        if self.fail_at_io is not None and self.io_count >= self.fail_at_io \
                and self.failed_ios < self.fail_ios and not what.endswith(".db"):
            self.failed_ios += 1  # the machine lives on: SQLite sees the error and recovers
            if what.startswith("sync"):  # SQLite's own words for SQLITE_IOERR / SQLITE_FULL
                raise apsw.IOError("disk I/O error")
            raise apsw.FullError("database or disk is full")
        return True

    def sync_file(self, path: str) -> None:
        """fdatasync(2) of one of the node's files by path (the WAL sync of durability
        "fsync" does not go through SQLite's VFS): its writes so far are durable."""
        name = os.path.abspath(path)
        if self._io("sync " + os.path.basename(name)):
            self.unsynced.pop(name, None)

    # ------------------------------------------------------------------ after the crash
    def bury(self) -> int:
        """Close the dead process's connections, then lose what power loss loses. Returns how
        many connections were closed."""
        closed = 0
        for conn in apsw.connections():
            if conn.filename and self.owns(conn.filename):
                conn.close(True)
                closed += 1
        if self.mode == "power":
            self._lose_unsynced()
        self.unsynced.clear()
        return closed

    def _lose_unsynced(self) -> None:
        for name in sorted(self.unsynced):
            undo = self.unsynced[name]
            if not undo or not os.path.exists(name):
                continue
            keep = [u for u in undo if self.rng.random() < self.torn_keep]
            with open(name, "r+b") as handle:
                for u in reversed(undo):          # back to the last synced image ...
                    handle.seek(u.offset)
                    handle.write(u.old)
                    handle.truncate(u.old_size)
                for u in keep:                    # ... plus the writes that made it anyway
                    if u.truncate_to >= 0:
                        handle.truncate(u.truncate_to)
                    else:
                        handle.seek(u.offset)
                        handle.write(u.new)


class SimFile(apsw.VFSFile):
    def __init__(self, disk: SimDisk | None, name: Any, flags: list[int]):
        super().__init__(BASE_VFS, name, flags)
        self._disk = disk
        # None: a temp file (statement journal, sorter), anonymous and deleted on close
        self._name = name if isinstance(name, str) else (name.filename() if name else "")

    def _pre_image(self, offset: int, length: int) -> tuple[bytes, int]:
        try:
            size = os.path.getsize(self._name)
        except OSError:
            return b"", 0
        if offset >= size:
            return b"", size
        with open(self._name, "rb") as handle:
            handle.seek(offset)
            return handle.read(min(length, size - offset)), size

    def xWrite(self, data: bytes, offset: int) -> None:
        disk = self._disk
        if disk is None:
            return super().xWrite(data, offset)
        if not disk._io("write " + os.path.basename(self._name)):
            return None
        if disk.mode == "power":
            old, size = self._pre_image(offset, len(data))
            disk.unsynced.setdefault(self._name, []).append(
                _Undo(offset, old, size, bytes(data)))
        return super().xWrite(data, offset)

    def xTruncate(self, newsize: int) -> None:
        disk = self._disk
        if disk is None:
            return super().xTruncate(newsize)
        if not disk._io("truncate " + os.path.basename(self._name)):
            return None
        if disk.mode == "power":
            try:
                size = os.path.getsize(self._name)
            except OSError:
                size = 0
            old, _ = self._pre_image(newsize, max(0, size - newsize))
            disk.unsynced.setdefault(self._name, []).append(
                _Undo(newsize, old, size, b"", truncate_to=newsize))
        return super().xTruncate(newsize)

    def xSync(self, flags: int) -> None:
        disk = self._disk
        if disk is None:
            return super().xSync(flags)
        if not disk._io("sync " + os.path.basename(self._name)):
            return None
        disk.unsynced.pop(self._name, None)
        return None  # durability is the model's (``unsynced``); a real fsync only costs time


class SimVFS(apsw.VFS):
    """Routes each file to the disk whose root holds it; other files pass straight through."""

    def __init__(self) -> None:
        super().__init__(VFS_NAME, BASE_VFS, makedefault=True)
        self.disks: list[SimDisk] = []

    def disk_for(self, filename: str) -> SimDisk | None:
        for disk in self.disks:
            if disk.owns(filename):
                return disk
        return None

    def xOpen(self, name: Any, flags: list[int]) -> SimFile:
        filename = name if isinstance(name, str) else (name.filename() if name else "")
        return SimFile(self.disk_for(filename or ""), name, flags)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        disk = self.disk_for(filename)
        if disk is not None and disk.crashed:
            return None
        if disk is not None:
            disk.unsynced.pop(filename, None)
        return super().xDelete(filename, syncdir)


_installed: SimVFS | None = None


@contextlib.contextmanager
def installed() -> Iterator[SimVFS]:
    """Make the simulator's VFS SQLite's default for the block (it passes through every file
    outside a registered disk), with the disks' knobs applied to each new connection."""
    global _installed
    if _installed is not None:  # nested: reuse
        yield _installed
        return
    vfs = _installed = SimVFS()

    def knobs(conn: apsw.Connection) -> None:
        disk = vfs.disk_for(conn.filename or "")
        if disk is not None and disk.wal_autocheckpoint_pages is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint={disk.wal_autocheckpoint_pages}")

    apsw.connection_hooks.append(knobs)
    try:
        yield vfs
    finally:
        apsw.connection_hooks.remove(knobs)
        vfs.unregister()
        _installed = None
