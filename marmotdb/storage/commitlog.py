"""The commit log of one database and its per-origin applied vector.

Theory of operation
-------------------
Every committed write set, local or from a peer, is appended to ``__marmot_commit_log`` in the
same SQLite transaction as its rows, numbered by ``seq`` in the order *this* node committed
them, and keyed by ``(origin, origin_seq)``: the node that coordinated it and that node's own
counter. Peers that fell behind read it by range (``read_log`` in local order, or
``read_origin`` for one origin's sequence) and get the encoded bytes as they were shipped.

The applied vector maps each origin to the highest *contiguous* ``origin_seq`` applied here.
Write sets may arrive out of order (catch-up from several peers); one above a gap is applied
and logged but does not advance the vector until the gap fills, and then the vector jumps
over every logged successor. So "applied" means: ``origin_seq <= vector[origin]`` or present
in the log above it. Log entries above the vector are never trimmed, which keeps that test
exact.

``trim_log`` removes entries at or below a caller-given watermark per origin (every member has
applied them, or they passed the retention limit), clamped to our own vector.

Public API::

    LogEntry(seq, origin, origin_seq, commit_ts, write_set)
    append(conn, write_set, encoded) -> int           in the caller's transaction; local seq
    LogWriter(conn)                                   the same for many write sets in one
        .is_applied(origin, origin_seq) / .append(write_set, encoded) / .flush()
    is_applied(conn, origin, origin_seq) -> bool
    applied_vector(conn) -> dict[int, int]
    covers(conn, vector, log=None) -> bool   every sequence up to vector[origin] applied here
    logged_beyond(conn, vector) -> bool      an entry logged here above vector[origin]
    next_origin_seq(conn, origin) -> int
    read_log(conn, after_seq=0, limit=LOG_READ_ENTRIES_MAX) -> list[LogEntry]
    iter_log(conn, after_seq=0) -> Iterator[LogEntry]    every entry after it, page by page
    read_origin(conn, origin, after_origin_seq, limit=LOG_READ_ENTRIES_MAX) -> list[LogEntry]
    trim_log(conn, watermark, rows_max=TRIM_ROWS_MAX) -> int
    log_floors(conn) -> dict[int, int]        per origin, the lowest sequence still served
    retention_watermark(conn, cutoff, entries_max) -> dict[int, int]
    commit_ts_of(conn, origin, origin_seq) -> Timestamp | None
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

import apsw

from marmotdb.errors import StorageError
from marmotdb.hlc import Timestamp
from marmotdb.storage.internal_tables import APPLIED, COMMIT_LOG
from marmotdb.storage.writeset import WriteSet

# Entries returned by one read: bounds the memory of one catch-up response.
LOG_READ_ENTRIES_MAX = 1000
# Entries deleted per trim_log call: bounds the write transaction it runs in.
TRIM_ROWS_MAX = 10_000

_COLUMNS = "seq, origin, origin_seq, commit_ts, write_set"


class LogEntry(NamedTuple):
    seq: int
    origin: int
    origin_seq: int
    commit_ts: Timestamp
    write_set: bytes


def _entry(row: tuple[int, int, int, int, bytes]) -> LogEntry:
    seq, origin, origin_seq, commit_ts, payload = row
    return LogEntry(seq, origin, origin_seq, Timestamp.unpack(commit_ts, origin), payload)


def applied_seq(conn: apsw.Connection, origin: int) -> int:
    for (seq,) in conn.execute(f"SELECT seq FROM {APPLIED} WHERE origin = ?", (origin,)):
        return int(seq)
    return 0


def applied_vector(conn: apsw.Connection) -> dict[int, int]:
    return {origin: seq for origin, seq in conn.execute(f"SELECT origin, seq FROM {APPLIED}")}


def covers(conn: apsw.Connection, vector: Mapping[int, int],
           log: LogWriter | None = None) -> bool:
    """Has this database applied, per origin, every sequence up to ``vector[origin]``? With
    ``log``, the writer of the caller's open transaction: what it applied so far counts."""
    for origin, seq in vector.items():
        here = log.contiguous(origin) if log is not None else applied_seq(conn, origin)
        if here < seq:
            return False
    return True


def logged_beyond(conn: apsw.Connection, vector: Mapping[int, int]) -> bool:
    """Is an entry of some origin logged here above ``vector[origin]`` (0 when absent)?
    One index seek per origin in the log (a skip scan of the (origin, origin_seq) index)."""
    origin: int | None = None
    while True:
        if origin is None:
            found = conn.execute(f"SELECT min(origin) FROM {COMMIT_LOG}").fetchall()
        else:
            found = conn.execute(f"SELECT min(origin) FROM {COMMIT_LOG} WHERE origin > ?",
                                 (origin,)).fetchall()
        if not found or found[0][0] is None:
            return False
        origin = int(found[0][0])
        (top,), = conn.execute(f"SELECT max(origin_seq) FROM {COMMIT_LOG} WHERE origin = ?",
                               (origin,)).fetchall()
        if top > vector.get(origin, 0):
            return True


def highest_logged(conn: apsw.Connection, origins: Iterable[int]) -> dict[int, int]:
    """Per origin, the highest sequence logged here, past any gap (the applied vector stops
    below a gap): a write applied here out of order is still here (replication/DESIGN.md,
    QUORUM reads). One index look-up per origin."""
    sql = f"SELECT max(origin_seq) FROM {COMMIT_LOG} WHERE origin = ?"
    found = {}
    for origin in origins:
        (seq,) = conn.execute(sql, (origin,)).fetchone() or (None,)
        if seq:
            found[origin] = int(seq)
    return found


def _logged(conn: apsw.Connection, origin: int, origin_seq: int) -> bool:
    sql = f"SELECT 1 FROM {COMMIT_LOG} WHERE origin = ? AND origin_seq = ?"
    return bool(conn.execute(sql, (origin, origin_seq)).fetchall())


def is_applied(conn: apsw.Connection, origin: int, origin_seq: int) -> bool:
    return origin_seq <= applied_seq(conn, origin) or _logged(conn, origin, origin_seq)


def next_origin_seq(conn: apsw.Connection, origin: int) -> int:
    """The sequence number the next write set coordinated by ``origin`` should carry."""
    sql = f"SELECT max(origin_seq) FROM {COMMIT_LOG} WHERE origin = ?"
    (logged,) = conn.execute(sql, (origin,)).fetchone() or (None,)
    return max(applied_seq(conn, origin), logged or 0) + 1


def max_commit_ts(conn: apsw.Connection) -> Timestamp | None:
    """The newest commit timestamp in the log (any origin): a restarted node's HLC starts
    above it."""
    row = conn.execute(f"SELECT commit_ts, origin FROM {COMMIT_LOG} "
                       "ORDER BY commit_ts DESC LIMIT 1").fetchall()
    return Timestamp.unpack(row[0][0], row[0][1]) if row else None


def append(conn: apsw.Connection, write_set: WriteSet, encoded: bytes) -> int:
    """Log a write set and advance the vector; run inside the transaction that applies it."""
    writer = LogWriter(conn)
    seq = writer.append(write_set, encoded)
    writer.flush()
    return seq


class _OriginState:
    """What a LogWriter knows about one origin inside the current transaction."""

    __slots__ = ("contiguous", "dirty", "max_logged")

    def __init__(self, contiguous: int, max_logged: int, dirty: bool = False):
        self.contiguous, self.max_logged, self.dirty = contiguous, max_logged, dirty


class LogWriter:
    """Appends many write sets inside one SQLite transaction with few statements each.

    It reads an origin's vector entry and highest logged sequence once, keeps them in memory
    and writes the vector back in ``flush()``, which must run before the transaction commits.
    Drop the writer if the transaction rolls back.
    """

    def __init__(self, conn: apsw.Connection):
        self._conn = conn
        self._cursor = conn.cursor()
        self._origins: dict[int, _OriginState] = {}

    def _state(self, origin: int) -> _OriginState:
        state = self._origins.get(origin)
        if state is None:
            contiguous = applied_seq(self._conn, origin)
            # Usually nothing is logged above the vector: one index probe says so.
            above = self._cursor.execute(
                f"SELECT 1 FROM {COMMIT_LOG} WHERE origin = ? AND origin_seq > ? LIMIT 1",
                (origin, contiguous)).fetchall()
            logged = contiguous
            if above:  # fetchall: a statement left unfinished on this long-lived cursor
                ((logged,),) = self._cursor.execute(  # would make a DROP TABLE applied in
                    f"SELECT max(origin_seq) FROM {COMMIT_LOG} WHERE origin = ?",  # the same
                    (origin,)).fetchall()  # transaction fail: "database table is locked"
            state = self._origins[origin] = _OriginState(contiguous, int(logged))
        return state

    def contiguous(self, origin: int) -> int:
        """The origin's applied vector entry, this transaction's appends included."""
        return self._state(origin).contiguous

    def is_applied(self, origin: int, origin_seq: int) -> bool:
        state = self._state(origin)
        if origin_seq <= state.contiguous:
            return True
        return origin_seq <= state.max_logged and _logged(self._conn, origin, origin_seq)

    def next_origin_seq(self, origin: int) -> int:
        """The sequence the next write set of ``origin`` takes (this transaction included)."""
        return self._state(origin).max_logged + 1

    def append(self, write_set: WriteSet, encoded: bytes) -> int:
        origin, origin_seq = write_set.origin, write_set.origin_seq
        if origin_seq < 1:
            raise StorageError(f"origin sequence must start at 1, got {origin_seq}")
        state = self._state(origin)
        try:
            self._cursor.execute(
                f"INSERT INTO {COMMIT_LOG}(origin, origin_seq, commit_ts, write_set) "
                "VALUES (?, ?, ?, ?)", (origin, origin_seq, write_set.commit_ts.pack(), encoded))
        except apsw.ConstraintError:
            raise StorageError(f"write set {origin}:{origin_seq} is already logged") from None
        seq = self._conn.last_insert_rowid()
        if origin_seq == state.contiguous + 1:
            state.contiguous = origin_seq
            while state.contiguous < state.max_logged and _logged(
                    self._conn, origin, state.contiguous + 1):
                state.contiguous += 1
            state.dirty = True
        state.max_logged = max(state.max_logged, origin_seq)
        return seq

    def mark(self) -> dict[int, tuple[int, int, bool]]:
        """What this writer knows now, for ``restore`` after a savepoint rolled back."""
        return {origin: (s.contiguous, s.max_logged, s.dirty)
                for origin, s in self._origins.items()}

    def restore(self, mark: dict[int, tuple[int, int, bool]]) -> None:
        """Forget the appends made since ``mark``: their savepoint was rolled back, and a
        sequence remembered past them would leave a gap in the origin's log."""
        self._origins = {origin: _OriginState(*state) for origin, state in mark.items()}

    def flush(self) -> None:
        """Write the advanced vector entries; call before committing the transaction."""
        for origin, state in self._origins.items():
            if state.dirty:
                self._conn.execute(
                    f"INSERT INTO {APPLIED}(origin, seq) VALUES (?, ?) ON CONFLICT (origin) "
                    "DO UPDATE SET seq = excluded.seq", (origin, state.contiguous))
                state.dirty = False


def read_log(conn: apsw.Connection, after_seq: int = 0,
             limit: int = LOG_READ_ENTRIES_MAX) -> list[LogEntry]:
    """Entries with local seq > after_seq, in local commit order."""
    sql = f"SELECT {_COLUMNS} FROM {COMMIT_LOG} WHERE seq > ? ORDER BY seq LIMIT ?"
    return [_entry(row) for row in conn.execute(sql, (after_seq, min(limit, LOG_READ_ENTRIES_MAX)))]


def iter_log(conn: apsw.Connection, after_seq: int = 0) -> Iterator[LogEntry]:
    """Every entry with local seq > after_seq, read one bounded page at a time."""
    while page := read_log(conn, after_seq):
        yield from page
        after_seq = page[-1].seq


def read_origin(conn: apsw.Connection, origin: int, after_origin_seq: int,
                limit: int = LOG_READ_ENTRIES_MAX) -> list[LogEntry]:
    """One origin's entries with origin_seq > after_origin_seq, in origin order."""
    sql = (f"SELECT {_COLUMNS} FROM {COMMIT_LOG} WHERE origin = ? AND origin_seq > ? "
           "ORDER BY origin_seq LIMIT ?")
    params = (origin, after_origin_seq, min(limit, LOG_READ_ENTRIES_MAX))
    return [_entry(row) for row in conn.execute(sql, params)]


def oldest_origin_seq(conn: apsw.Connection, origin: int) -> int | None:
    """The lowest origin_seq still logged for ``origin`` (None: nothing logged).

    A peer needing anything below it must restore a snapshot instead of pulling the log.
    """
    sql = f"SELECT min(origin_seq) FROM {COMMIT_LOG} WHERE origin = ?"
    row = conn.execute(sql, (origin,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def trim_log(conn: apsw.Connection, watermark: Mapping[int, int],
             rows_max: int = TRIM_ROWS_MAX) -> int:
    """Delete up to ``rows_max`` entries with origin_seq <= watermark[origin]; returns count.

    The watermark is clamped to this node's own applied vector, so entries that the vector
    has not yet passed (out-of-order arrivals above a gap) stay.
    """
    vector = applied_vector(conn)
    deleted = 0
    for origin, upto in sorted(watermark.items()):
        limit = min(upto, vector.get(origin, 0))
        if limit <= 0 or deleted >= rows_max:
            continue
        conn.execute(
            f"DELETE FROM {COMMIT_LOG} WHERE seq IN (SELECT seq FROM {COMMIT_LOG} "
            "WHERE origin = ? AND origin_seq <= ? LIMIT ?)", (origin, limit, rows_max - deleted))
        deleted += conn.changes()
    return deleted


def log_floors(conn: apsw.Connection) -> dict[int, int]:
    """Per origin of the vector whose log was trimmed: the lowest ``origin_seq`` this node
    can still serve (its oldest logged entry, or vector + 1 when nothing is logged). A peer
    whose own position is below ``floor - 1`` cannot pull the gap: it needs a snapshot.
    Origins still served from sequence 1 are left out (the common, untrimmed case)."""
    floors = {}
    for origin, seq in applied_vector(conn).items():
        oldest = oldest_origin_seq(conn, origin)
        floor = seq + 1 if oldest is None else min(oldest, seq + 1)
        if floor > 1:
            floors[origin] = floor
    return floors


def retention_watermark(conn: apsw.Connection, cutoff: Timestamp,
                        entries_max: int = TRIM_ROWS_MAX) -> dict[int, int]:
    """Per origin, the highest ``origin_seq`` of the oldest prefix of its log committed
    before ``cutoff`` (at most ``entries_max`` entries looked at: bounded work per call; an
    origin's commit timestamps grow with its sequence, so the prefix is the old part)."""
    packed = cutoff.pack()
    watermark = {}
    sql = (f"SELECT origin_seq, commit_ts FROM {COMMIT_LOG} WHERE origin = ? "
           "ORDER BY origin_seq LIMIT ?")
    for origin in applied_vector(conn):
        upto = 0
        for origin_seq, commit_ts in conn.execute(sql, (origin, entries_max)):
            if commit_ts >= packed:
                break
            upto = origin_seq
        if upto:
            watermark[origin] = upto
    return watermark


def commit_ts_of(conn: apsw.Connection, origin: int, origin_seq: int) -> Timestamp | None:
    """The commit timestamp of one logged entry (None: not logged, or trimmed)."""
    sql = f"SELECT commit_ts FROM {COMMIT_LOG} WHERE origin = ? AND origin_seq = ?"
    row = conn.execute(sql, (origin, origin_seq)).fetchall()
    return Timestamp.unpack(row[0][0], origin) if row else None
