"""Commit log: local order, per-origin contiguous vector with gaps, range reads, trimming."""

from __future__ import annotations

import pytest

from marmotdb.errors import StorageError
from marmotdb.hlc import Timestamp
from marmotdb.storage import commitlog
from marmotdb.storage.apply import apply
from marmotdb.storage.schema import TableSchema
from marmotdb.storage.writeset import (
    ChangeOp,
    RowChange,
    WriteSet,
    decode_write_set,
    encode_write_set,
)
from tests.storage.origin import Origin, open_database

KV = TableSchema("kv", ("k", "v"), (0,))


def ws(origin: int, seq: int) -> WriteSet:
    ts = Timestamp(1000 + seq, 0, origin)
    change = RowChange("kv", ChangeOp.INSERT, None, (f"{origin}-{seq}",), None,
                       (f"{origin}-{seq}", seq))
    return WriteSet(ts, origin, seq, ts, "db", 1, [KV], [change])


@pytest.fixture
def conn():
    return open_database("CREATE TABLE kv(k TEXT PRIMARY KEY, v)")


def test_vector_advances_only_over_contiguous_sequences(conn):
    for seq in (1, 2, 5, 4):
        apply(conn, ws(7, seq))
    assert commitlog.applied_vector(conn) == {7: 2}
    assert commitlog.is_applied(conn, 7, 5) and not commitlog.is_applied(conn, 7, 3)
    apply(conn, ws(7, 3))  # fills the gap: the vector jumps over 4 and 5
    assert commitlog.applied_vector(conn) == {7: 5}
    apply(conn, ws(9, 1))
    assert commitlog.applied_vector(conn) == {7: 5, 9: 1}
    assert commitlog.next_origin_seq(conn, 7) == 6
    assert commitlog.next_origin_seq(conn, 3) == 1


def test_duplicates_out_of_order_are_detected_without_rewriting(conn):
    apply(conn, ws(7, 3))
    assert not apply(conn, ws(7, 3)).applied
    assert commitlog.applied_vector(conn) == {}
    assert commitlog.next_origin_seq(conn, 7) == 4


def test_read_log_in_local_commit_order_and_by_origin(conn):
    order = [(1, 1), (2, 1), (1, 3), (1, 2), (2, 2)]
    for origin, seq in order:
        apply(conn, ws(origin, seq))
    entries = commitlog.read_log(conn)
    assert [(e.origin, e.origin_seq) for e in entries] == order
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert decode_write_set(entries[2].write_set) == ws(1, 3)
    assert entries[2].commit_ts == Timestamp(1003, 0, 1)
    assert [(e.origin, e.origin_seq) for e in commitlog.read_log(conn, after_seq=3)] == [
        (1, 2), (2, 2)]
    assert [e.seq for e in commitlog.read_log(conn, after_seq=1, limit=2)] == [2, 3]
    assert [e.origin_seq for e in commitlog.read_origin(conn, 1, 1)] == [2, 3]
    assert [e.origin_seq for e in commitlog.read_origin(conn, 1, 0, limit=1)] == [1]


def test_log_stores_the_shipped_bytes(conn):
    encoded = encode_write_set(ws(4, 1))
    apply(conn, decode_write_set(encoded), encoded)
    assert commitlog.read_log(conn)[0].write_set == encoded


def test_trim_below_watermark_never_passes_own_vector(conn):
    for seq in (1, 2, 3, 5):
        apply(conn, ws(1, seq))
    apply(conn, ws(2, 1))
    deleted = commitlog.trim_log(conn, {1: 10, 2: 0})
    assert deleted == 3  # 1..3; 5 sits above the gap at 4 and must stay
    assert [(e.origin, e.origin_seq) for e in commitlog.read_log(conn)] == [(1, 5), (2, 1)]
    assert commitlog.oldest_origin_seq(conn, 1) == 5
    assert commitlog.oldest_origin_seq(conn, 3) is None
    assert commitlog.is_applied(conn, 1, 2)  # trimmed, still known applied via the vector
    assert not apply(conn, ws(1, 2)).applied
    apply(conn, ws(1, 4))
    assert commitlog.applied_vector(conn)[1] == 5


def test_floors_and_retention_watermark_after_trimming(conn):
    for seq in range(1, 6):
        apply(conn, ws(1, seq))
    apply(conn, ws(2, 1))
    assert commitlog.log_floors(conn) == {}  # nothing trimmed: every origin from 1
    stamps = {e.origin_seq: e.commit_ts for e in commitlog.read_origin(conn, 1, 0)}
    cutoff = stamps[3]
    assert commitlog.retention_watermark(conn, cutoff) == {1: 2, 2: 1}
    assert commitlog.retention_watermark(conn, cutoff, entries_max=1) == {1: 1, 2: 1}
    commitlog.trim_log(conn, {1: 3})
    assert commitlog.log_floors(conn) == {1: 4}
    assert commitlog.commit_ts_of(conn, 1, 4) == stamps[4]
    assert commitlog.commit_ts_of(conn, 1, 2) is None
    commitlog.trim_log(conn, {1: 5, 2: 1})
    assert commitlog.log_floors(conn) == {1: 6, 2: 2}  # all trimmed: vector + 1


def test_trim_is_bounded_per_call(conn):
    for seq in range(1, 8):
        apply(conn, ws(1, seq))
    assert commitlog.trim_log(conn, {1: 7}, rows_max=3) == 3
    assert commitlog.trim_log(conn, {1: 7}, rows_max=3) == 3
    assert commitlog.trim_log(conn, {1: 7}, rows_max=3) == 1
    assert commitlog.read_log(conn) == []
    apply(conn, ws(1, 8))
    assert commitlog.read_log(conn)[0].seq == 8  # seq numbers are never reused


def test_local_commits_are_logged_with_the_data():
    origin = Origin(3, "CREATE TABLE kv(k TEXT PRIMARY KEY, v)")
    first = origin.run(["INSERT INTO kv VALUES ('a', 1)"])
    assert origin.run(["UPDATE kv SET v = 1"]) is None  # nothing changed: nothing logged
    origin.run(["DELETE FROM kv"])
    entries = commitlog.read_log(origin.conn)
    assert [(e.origin, e.origin_seq) for e in entries] == [(3, 1), (3, 2)]
    assert entries[0].write_set == first
    assert commitlog.applied_vector(origin.conn) == {3: 2}


def test_append_rejects_bad_sequences(conn):
    with conn:
        with pytest.raises(StorageError, match="start at 1"):
            commitlog.append(conn, ws(1, 0), b"")
        commitlog.append(conn, ws(1, 1), b"x")
        with pytest.raises(StorageError, match="already logged"):
            commitlog.append(conn, ws(1, 1), b"x")


def test_iter_log_reads_past_one_page(monkeypatch):
    origin = Origin(1, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
    monkeypatch.setattr(commitlog, "LOG_READ_ENTRIES_MAX", 3)
    for i in range(8):
        origin.run([f"INSERT INTO t VALUES ({i})"])
    assert [e.origin_seq for e in commitlog.iter_log(origin.conn)] == list(range(1, 9))
    assert [e.origin_seq for e in commitlog.iter_log(origin.conn, after_seq=6)] == [7, 8]
