"""Snapshots: a consistent copy of a database file, streamed in checksummed chunks, restored
atomically.

Theory of operation
-------------------
*Create.* A dedicated connection opens a read transaction on the source file and keeps it open
for the whole copy; it reads the applied vector inside that transaction (the vector lives in
the same file, so it describes exactly the copied rows). Two ways to copy, same result:

* **file copy** (the fast path, in-kernel ``copy_file_range``): in rollback-journal mode the
  read lock keeps writers from committing; in WAL mode the WAL is first checkpointed and
  truncated, and if it is still empty once the read lock is held, this reader uses no WAL
  frame, so no checkpoint may write the database file until the reader ends (it would change
  what the reader sees). The file is frozen; writers go on appending to the WAL.
* **backup API** (fallback when a writer slipped in between the checkpoint and the read, or a
  long reader blocked the checkpoint): every page is copied ``pages_per_step`` at a time from
  the pinned WAL snapshot; writers continue and the copy never restarts. The source is
  memory-mapped (4 KiB ``pread`` calls halved the speed); the destination has no journal.

``progress`` is told after each step. The copy is written to ``<dest>.partial``, marked as a
rollback-journal database (so it opens read-only anywhere) and renamed into place.

*Stream.* The manifest travels first, then ``chunk_count`` chunks of ``chunk_bytes`` (the last
may be shorter), each carrying its index and the CRC-32 the sender computed while reading it.
The receiver checks every chunk as it arrives (index order, exact size, CRC), writes to
``<dest>.partial`` and, at ``finish()``, checks that every chunk and byte arrived, fsyncs and
renames. A damaged, reordered or
truncated stream raises ``StorageError`` and leaves no file behind. ``restore_snapshot`` then
runs SQLite's ``quick_check`` on the file before touching the live database.

*Restore.* The backup API copies the snapshot into the live connection's ``main`` database in
one write transaction: other connections see the old database or the new one, never a mix,
and a crash halfway leaves the old one (the journal/WAL rolls the copy back). A WAL database
stays in WAL mode. The schema cookie changes, so other connections reload the schema; the
caller must also call ``ChangeCapture.invalidate_schema()``.

Everything here is blocking file I/O meant for a worker thread; nothing uses asyncio.

Public API::

    SnapshotManifest(format_version, database, size_bytes, chunk_bytes, chunk_count,
                     applied_vector)
    SnapshotChunk(index, data, crc32)
    create_snapshot(source_path, dest_path, database="", chunk_bytes=..., pages_per_step=...,
                    progress=None, method="auto") -> SnapshotManifest
    read_chunks(path, manifest) -> Iterator[SnapshotChunk]
    SnapshotReceiver(manifest, dest_path, progress=None)  .write(chunk) .finish() .abort()
    restore_snapshot(conn, snapshot_path, pages_per_step=..., progress=None,
                     verify=True) -> dict[int, int]        the restored applied vector
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import apsw
import msgspec

from marmotdb.errors import StorageError
from marmotdb.storage.internal_tables import APPLIED

FORMAT_VERSION = 1
# Bytes per streamed chunk: one network frame; the receiver holds at most one in memory.
SNAPSHOT_CHUNK_BYTES = 1 << 20
SNAPSHOT_CHUNK_BYTES_MAX = 16 << 20
# Pages copied per backup step, i.e. between progress reports (16 MiB of 4 KiB pages).
BACKUP_PAGES_PER_STEP = 4096
# File-copy path: bytes per copy step (between progress reports); attempts to find the WAL
# empty before falling back to the backup API; how long a checkpoint may wait for locks.
FILE_COPY_STEP_BYTES = 16 << 20
FILE_COPY_ATTEMPTS = 3
SNAPSHOT_BUSY_TIMEOUT_MS = 1000
_HEADER_JOURNAL_OFFSET = 18
# Upper bound of the source memory map (SQLite caps it at SQLITE_MAX_MMAP_SIZE, ~2 GB).
SNAPSHOT_MMAP_BYTES_MAX = 1 << 40

Progress = Callable[[int, int], None]  # (done_bytes, total_bytes)


class SnapshotManifest(msgspec.Struct, array_like=True, frozen=True):
    format_version: int
    database: str
    size_bytes: int
    chunk_bytes: int
    chunk_count: int
    applied_vector: dict[int, int]


class SnapshotChunk(msgspec.Struct, array_like=True, frozen=True):
    index: int
    data: bytes
    crc32: int


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _remove(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _applied_vector(conn: apsw.Connection) -> dict[int, int]:
    found = conn.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (APPLIED,)).fetchall()
    if not found:
        return {}
    return {origin: seq for origin, seq in conn.execute(f"SELECT origin, seq FROM {APPLIED}")}


def _copy(dest: apsw.Connection, source: apsw.Connection, pages_per_step: int,
          progress: Progress | None) -> None:
    page_size = source.execute("PRAGMA page_size").fetchone()[0]
    with dest.backup("main", source, "main") as backup:
        while not backup.done:
            backup.step(pages_per_step)
            if progress is not None:
                total = backup.page_count * page_size
                progress(total - backup.remaining * page_size, total)


def _start_read(source: apsw.Connection) -> None:
    source.execute("BEGIN")
    source.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # takes the read lock


def _wal_bytes(source_path: Path) -> int:
    try:
        return (source_path.parent / (source_path.name + "-wal")).stat().st_size
    except FileNotFoundError:
        return 0


def _begin_frozen_read(source: apsw.Connection, source_path: Path) -> bool:
    """Open the snapshot's read transaction; True if the database file alone holds it.

    Rollback-journal mode: the read lock keeps writers from committing, the file is frozen.
    WAL mode: checkpoint and truncate the WAL, then start reading. If the WAL is still empty
    once the read transaction holds its lock, this reader takes no frames from the WAL and no
    checkpoint may write to the database file until it ends (a checkpoint needs every reader
    to be able to see what it writes): the file is frozen while writers go on appending to
    the WAL. A writer slipping in between the checkpoint and the read makes us retry, and
    after FILE_COPY_ATTEMPTS fall back to the backup API.
    """
    mode = source.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        _start_read(source)
        return True
    for _ in range(FILE_COPY_ATTEMPTS):
        busy = source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        _start_read(source)
        if not busy and _wal_bytes(source_path) == 0:
            return True
        source.execute("COMMIT")
    _start_read(source)
    return False


def _copy_file(source_path: Path, dest_path: Path, progress: Progress | None) -> None:
    """Copy in FILE_COPY_STEP_BYTES steps (in-kernel where possible), reporting progress."""
    with open(source_path, "rb") as reader, open(dest_path, "wb") as writer:
        total, done = os.fstat(reader.fileno()).st_size, 0
        while done < total:
            step = min(FILE_COPY_STEP_BYTES, total - done)
            try:
                copied = os.copy_file_range(reader.fileno(), writer.fileno(), step)
            except (AttributeError, OSError):  # not Linux, or a filesystem without it
                copied = writer.write(reader.read(step))
            if copied <= 0:
                raise StorageError(f"snapshot copy stopped at {done} of {total} bytes")
            done += copied
            if progress is not None:
                progress(done, total)
        # Header bytes 18-19 (file format versions): 1 = rollback journal, 2 = WAL. The copy
        # has no WAL, so it must not claim one (it then opens read-only anywhere).
        writer.seek(_HEADER_JOURNAL_OFFSET)
        writer.write(b"\x01\x01")


def _backup_copy(source: apsw.Connection, partial: Path, pages_per_step: int,
                 progress: Progress | None) -> None:
    copy = apsw.Connection(os.fspath(partial))
    try:
        copy.execute("PRAGMA journal_mode = OFF").fetchall()
        copy.execute("PRAGMA synchronous = OFF")
        _copy(copy, source, pages_per_step, progress)
        copy.execute("PRAGMA journal_mode = DELETE").fetchall()
    finally:
        copy.close()


def create_snapshot(source_path: str | os.PathLike[str], dest_path: str | os.PathLike[str],
                    database: str = "", chunk_bytes: int = SNAPSHOT_CHUNK_BYTES,
                    pages_per_step: int = BACKUP_PAGES_PER_STEP,
                    progress: Progress | None = None,
                    method: str = "auto") -> SnapshotManifest:
    """Copy a consistent snapshot of ``source_path`` to ``dest_path``; writers may continue.

    ``method="auto"`` copies the file itself when it is frozen for the read transaction (see
    ``_begin_frozen_read``) and otherwise uses the backup API; ``"backup"`` forces the latter.
    """
    if not 0 < chunk_bytes <= SNAPSHOT_CHUNK_BYTES_MAX:
        raise ValueError(f"chunk_bytes must be in 1..{SNAPSHOT_CHUNK_BYTES_MAX}")
    if method not in ("auto", "backup"):
        raise ValueError(f"unknown snapshot method {method!r}")
    source_file, dest = Path(source_path), Path(dest_path)
    partial = _partial(dest)
    _remove(partial)
    source = apsw.Connection(os.fspath(source_file), flags=apsw.SQLITE_OPEN_READWRITE)
    try:
        source.set_busy_timeout(SNAPSHOT_BUSY_TIMEOUT_MS)
        source.execute(f"PRAGMA mmap_size = {SNAPSHOT_MMAP_BYTES_MAX}").fetchall()
        if method == "auto" and _begin_frozen_read(source, source_file):
            vector = _applied_vector(source)
            _copy_file(source_file, partial, progress)
        else:
            if source.get_autocommit():
                _start_read(source)
            vector = _applied_vector(source)
            _backup_copy(source, partial, pages_per_step, progress)
        source.execute("COMMIT")
    except BaseException:
        _remove(partial)
        raise
    finally:
        source.close()
    size = partial.stat().st_size
    os.replace(partial, dest)
    count = max(1, -(-size // chunk_bytes))
    return SnapshotManifest(FORMAT_VERSION, database, size, chunk_bytes, count, vector)


def read_chunks(path: str | os.PathLike[str],
                manifest: SnapshotManifest) -> Iterator[SnapshotChunk]:
    """The snapshot file as checksummed chunks, in order."""
    with open(path, "rb") as source:
        for index in range(manifest.chunk_count):
            data = source.read(manifest.chunk_bytes)
            yield SnapshotChunk(index, data, zlib.crc32(data))


class SnapshotReceiver:
    """Writes a streamed snapshot to disk, verifying each chunk and the whole file."""

    def __init__(self, manifest: SnapshotManifest, dest_path: str | os.PathLike[str],
                 progress: Progress | None = None):
        if manifest.format_version != FORMAT_VERSION:
            raise StorageError(f"snapshot format version {manifest.format_version} is not "
                               f"supported (this node reads {FORMAT_VERSION})")
        if not 0 < manifest.chunk_bytes <= SNAPSHOT_CHUNK_BYTES_MAX:
            raise StorageError(f"snapshot chunk size {manifest.chunk_bytes} out of range")
        self.manifest = manifest
        self.dest = Path(dest_path)
        self._partial = _partial(self.dest)
        self._progress = progress
        self._next_index = 0
        self._size = 0
        _remove(self._partial)
        self._file = open(self._partial, "wb")  # noqa: SIM115 - closed in finish/abort

    def write(self, chunk: SnapshotChunk) -> None:
        try:
            self._check(chunk)
        except StorageError:
            self.abort()
            raise
        self._file.write(chunk.data)
        self._size += len(chunk.data)
        self._next_index += 1
        if self._progress is not None:
            self._progress(self._size, self.manifest.size_bytes)

    def _check(self, chunk: SnapshotChunk) -> None:
        manifest = self.manifest
        if chunk.index != self._next_index:
            raise StorageError(f"snapshot chunk {chunk.index} arrived, expected "
                               f"{self._next_index}")
        if chunk.index >= manifest.chunk_count:
            raise StorageError(f"snapshot chunk {chunk.index} beyond chunk_count "
                               f"{manifest.chunk_count}")
        last = chunk.index == manifest.chunk_count - 1
        expected = manifest.size_bytes - self._size if last else manifest.chunk_bytes
        if len(chunk.data) != expected:
            raise StorageError(f"snapshot chunk {chunk.index} has {len(chunk.data)} bytes, "
                               f"expected {expected}")
        if zlib.crc32(chunk.data) != chunk.crc32:
            raise StorageError(f"snapshot chunk {chunk.index} is corrupt (CRC-32 mismatch)")

    def finish(self) -> Path:
        """Check that everything arrived, make the file durable, move it to ``dest_path``."""
        manifest = self.manifest
        try:
            if self._next_index != manifest.chunk_count or self._size != manifest.size_bytes:
                raise StorageError(f"snapshot truncated: {self._size} of {manifest.size_bytes}"
                                   f" bytes, {self._next_index} of {manifest.chunk_count} chunks")
            self._file.flush()
            os.fsync(self._file.fileno())
        except BaseException:
            self.abort()
            raise
        self._file.close()
        os.replace(self._partial, self.dest)
        return self.dest

    def abort(self) -> None:
        self._file.close()
        _remove(self._partial)


def restore_snapshot(conn: apsw.Connection, snapshot_path: str | os.PathLike[str],
                     pages_per_step: int = BACKUP_PAGES_PER_STEP,
                     progress: Progress | None = None, verify: bool = True) -> dict[int, int]:
    """Replace ``conn``'s main database with the snapshot, atomically; returns its vector."""
    if not conn.get_autocommit():
        raise StorageError("restore_snapshot needs a connection with no open transaction")
    try:
        snapshot = apsw.Connection(os.fspath(snapshot_path), flags=apsw.SQLITE_OPEN_READONLY)
        snapshot.execute(f"PRAGMA mmap_size = {SNAPSHOT_MMAP_BYTES_MAX}")
    except apsw.Error as exc:
        raise StorageError(f"snapshot cannot be opened: {exc}") from exc
    try:
        if verify:
            problems = [row[0] for row in snapshot.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise StorageError(f"snapshot failed quick_check: {problems[:3]}")
        _copy(conn, snapshot, pages_per_step, progress)
    except apsw.Error as exc:
        raise StorageError(f"snapshot restore failed: {exc}") from exc
    finally:
        snapshot.close()
    return _applied_vector(conn)
