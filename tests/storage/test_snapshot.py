"""Snapshots: consistent while writes continue, chunked streaming with checks, atomic restore."""

from __future__ import annotations

import apsw
import msgspec
import pytest

from marmotdb.errors import StorageError
from marmotdb.storage import commitlog, snapshot
from marmotdb.storage.apply import apply
from marmotdb.storage.checksum import database_checksums
from marmotdb.storage.snapshot import (
    SnapshotChunk,
    SnapshotManifest,
    SnapshotReceiver,
    create_snapshot,
    read_chunks,
    restore_snapshot,
)
from marmotdb.storage.writeset import decode_write_set
from tests.storage.origin import Origin, dump, open_database

ROWS = 3000


SCHEMA = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"


def wal_database(path) -> apsw.Connection:
    return open_database(SCHEMA, str(path))


@pytest.fixture
def source(tmp_path):
    origin = Origin(4, SCHEMA, path=str(tmp_path / "source.db"))
    origin.run([("INSERT INTO t VALUES (?, ?)", (i, f"row {i}" * 5)) for i in range(ROWS)])
    origin.run(["UPDATE t SET v = 'changed' WHERE id < 10"])
    return origin


def stream(manifest: SnapshotManifest, path, dest, progress=None):
    receiver = SnapshotReceiver(manifest, dest, progress)
    for chunk in read_chunks(path, manifest):
        receiver.write(chunk)
    return receiver.finish()


@pytest.mark.parametrize("method", ["auto", "backup"])
def test_snapshot_is_consistent_while_writes_continue(source, tmp_path, method, monkeypatch):
    monkeypatch.setattr(snapshot, "FILE_COPY_STEP_BYTES", 8 * 4096)
    expected = dump(source.conn)
    writer = source.conn
    reports = []

    def write_between_steps(done_bytes: int, total_bytes: int) -> None:
        reports.append((done_bytes, total_bytes))
        writer.execute("INSERT INTO t(v) VALUES ('late')")
        writer.execute("DELETE FROM t WHERE id = ?", (len(reports),))
        writer.execute("INSERT INTO __marmot_applied VALUES (?, 1)", (100 + len(reports),))
        # Try to move those commits into the database file under the copy's feet.
        writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    manifest = create_snapshot(tmp_path / "source.db", tmp_path / "snap.db", database="shop",
                               pages_per_step=8, progress=write_between_steps, method=method)
    assert len(reports) > 3 and reports[-1][0] == reports[-1][1] == manifest.size_bytes
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    assert manifest.applied_vector == {4: 2} and manifest.database == "shop"
    copy = apsw.Connection(str(tmp_path / "snap.db"), flags=apsw.SQLITE_OPEN_READONLY)
    assert dump(copy) == expected
    assert not (tmp_path / "snap.db.partial").exists()


def test_stream_and_restore_replaces_the_database_atomically(source, tmp_path):
    manifest = create_snapshot(tmp_path / "source.db", tmp_path / "snap.db", chunk_bytes=64 << 10)
    assert manifest.chunk_count > 2
    received = []
    path = stream(manifest, tmp_path / "snap.db", tmp_path / "received.db",
                  progress=lambda done, total: received.append(done))
    assert received[-1] == manifest.size_bytes
    target = wal_database(tmp_path / "target.db")
    target.execute("INSERT INTO t VALUES (1, 'stale local row')")
    observer = apsw.Connection(str(tmp_path / "target.db"))
    assert observer.execute("SELECT count(*) FROM t").fetchone() == (1,)
    vector = restore_snapshot(target, path, pages_per_step=16)
    assert vector == {4: 2}
    assert dump(target) == dump(source.conn)
    assert observer.execute("SELECT count(*) FROM t").fetchone() == (ROWS,)
    assert target.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # The restored node resumes pulling from the snapshot's vector.
    more = source.run(["DELETE FROM t WHERE id = 5"])
    apply(target, decode_write_set(more), more)
    assert commitlog.applied_vector(target) == {4: 3}
    assert database_checksums(target, True) == database_checksums(source.conn, True)


def test_restore_failure_leaves_the_old_database(source, tmp_path):
    target = wal_database(tmp_path / "target.db")
    target.execute("INSERT INTO t VALUES (1, 'kept')")
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    with pytest.raises(StorageError):
        restore_snapshot(target, bogus)
    assert target.execute("SELECT * FROM t").fetchall() == [(1, "kept")]

    def crash(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the process dies halfway through the copy

    manifest = create_snapshot(tmp_path / "source.db", tmp_path / "snap.db")
    assert manifest.size_bytes > 16 * 4096
    with pytest.raises(KeyboardInterrupt):
        restore_snapshot(target, tmp_path / "snap.db", pages_per_step=16, progress=crash)
    assert target.execute("SELECT * FROM t").fetchall() == [(1, "kept")]
    other = apsw.Connection(str(tmp_path / "target.db"))
    assert other.execute("SELECT * FROM t").fetchall() == [(1, "kept")]


def test_receiver_rejects_corrupt_missing_and_reordered_chunks(source, tmp_path):
    manifest = create_snapshot(tmp_path / "source.db", tmp_path / "snap.db", chunk_bytes=32 << 10)
    chunks = list(read_chunks(tmp_path / "snap.db", manifest))
    dest = tmp_path / "in.db"

    def feed(sequence, finish=True, m=manifest):
        receiver = SnapshotReceiver(m, dest)
        for chunk in sequence:
            receiver.write(chunk)
        if finish:
            receiver.finish()

    flipped = bytearray(chunks[1].data)
    flipped[100] ^= 1
    cases = [
        ([chunks[0], SnapshotChunk(1, bytes(flipped), chunks[1].crc32)], "CRC-32 mismatch"),
        ([chunks[1]], "expected 0"),
        (chunks[:-1], "truncated"),
        ([chunks[0], SnapshotChunk(1, chunks[1].data[:-1], chunks[1].crc32)], "expected"),
        (chunks + [SnapshotChunk(len(chunks), b"x", 0)], "beyond chunk_count"),
    ]
    for sequence, message in cases:
        with pytest.raises(StorageError, match=message):
            feed(sequence)
        assert not dest.exists() and not (tmp_path / "in.db.partial").exists()
    shorter = msgspec.structs.replace(manifest, size_bytes=manifest.size_bytes - 1)
    with pytest.raises(StorageError, match="expected"):
        feed(chunks, m=shorter)
    with pytest.raises(StorageError, match="format version"):
        SnapshotReceiver(msgspec.structs.replace(manifest, format_version=9), dest)
    feed(chunks)
    assert dest.read_bytes() == (tmp_path / "snap.db").read_bytes()


def test_manifest_and_chunks_encode_for_the_wire(source, tmp_path):
    manifest = create_snapshot(tmp_path / "source.db", tmp_path / "snap.db")
    data = msgspec.msgpack.encode(manifest)
    assert msgspec.msgpack.decode(data, type=SnapshotManifest) == manifest
    chunk = next(read_chunks(tmp_path / "snap.db", manifest))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(chunk), type=SnapshotChunk) == chunk


def test_restore_refuses_an_open_transaction(source, tmp_path):
    create_snapshot(tmp_path / "source.db", tmp_path / "snap.db")
    target = wal_database(tmp_path / "target.db")
    target.execute("BEGIN")
    with pytest.raises(StorageError, match="no open transaction"):
        restore_snapshot(target, tmp_path / "snap.db")


def test_auto_copies_the_file_when_the_wal_can_be_emptied(source, tmp_path, monkeypatch):
    def no_backup(*args, **kwargs):
        raise AssertionError("backup API used although the file could be copied")

    monkeypatch.setattr(snapshot, "_backup_copy", no_backup)
    source.conn.execute("INSERT INTO t(v) VALUES ('in the wal')")
    assert (tmp_path / "source.db-wal").stat().st_size > 0
    create_snapshot(tmp_path / "source.db", tmp_path / "snap.db")
    copy = apsw.Connection(str(tmp_path / "snap.db"), flags=apsw.SQLITE_OPEN_READONLY)
    assert dump(copy) == dump(source.conn)
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_auto_falls_back_to_backup_while_a_reader_pins_the_wal(source, tmp_path, monkeypatch):
    monkeypatch.setattr(snapshot, "SNAPSHOT_BUSY_TIMEOUT_MS", 5)
    used = []
    real_backup = snapshot._backup_copy
    monkeypatch.setattr(snapshot, "_backup_copy", lambda *a: used.append(1) or real_backup(*a))
    source.conn.execute("INSERT INTO t(v) VALUES ('in the wal')")
    reader = apsw.Connection(str(tmp_path / "source.db"))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchall()  # holds a snapshot that needs the WAL
    source.conn.execute("INSERT INTO t(v) VALUES ('after the reader')")
    expected = dump(source.conn)
    create_snapshot(tmp_path / "source.db", tmp_path / "snap.db")
    reader.execute("COMMIT")
    assert used == [1]
    copy = apsw.Connection(str(tmp_path / "snap.db"), flags=apsw.SQLITE_OPEN_READONLY)
    assert dump(copy) == expected
