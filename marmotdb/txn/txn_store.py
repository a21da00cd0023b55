"""TxnStore: a node's durable record of the distributed commit (txn/DESIGN.md §7.4).

One SQLite file per node (``<data_dir>/__marmot_txn.db``) on a connection of its own, so a
vote or an acceptance never waits for a database's write turn. Per instance
``(coordinator, database, batch)`` it keeps the batch's write sets as they were shipped (a
participant records them before it votes; a coordinator before its own acceptance), and the
acceptor state of the instance's Paxos round: the highest ballot promised, the ballot and
vector accepted. A record is forgotten once the instance's outcome is applied to the
database (to every database, for an instance of several: ``spanned_members``).

Writes are grouped: the first write of a node iteration opens a SQLite transaction and
schedules its COMMIT as deferred work (``defer``: after every input of the iteration ran), so
the Prepares, acceptances and forgets of one iteration cost one commit and one WAL write of
each page they touch, not one per message. Whatever must not happen before a write is on disk
waits for it: ``committed(then)`` runs after the COMMIT (``synchronous=NORMAL`` in WAL mode: a
process crash keeps it) — a coordinator's Prepare leaves only once its batch is recorded;
``durable(then)`` also waits for a sync of the WAL on a worker with ``durability = "fsync"``
— a vote, a promise or an acceptance is sent (or counted, for our own) only once it survives
power loss, as the commit pipelines answer clients. Reads use the same connection and see the
open transaction. Without ``defer`` (tests, tools) every write commits at once.

A COMMIT that fails (the disk is full: SQLite rolls the transaction back) loses nothing that
was promised: the open transaction's writes are kept in order until it commits, so the store
replays them into a new transaction at once (its reads see them again: a promise still binds
later decisions) and retries the COMMIT every ``COMMIT_RETRY_S``, with every write of the
meantime joining it. What waited runs only after the COMMIT that finally succeeds; until
then the node's votes, acceptances and forgets are simply late, as if it were slow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import msgspec

from marmotdb.txn.messages import NO_BALLOT, Ballot
from marmotdb.txn.pending import Pending
from marmotdb.txn.wal_sync import WalSyncer

logger = logging.getLogger("marmotdb.txn")
FILE_NAME = "__marmot_txn.db"
Instance = tuple[int, str, int]  # (coordinator, database, batch)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_write_sets(
  coordinator INTEGER NOT NULL, database TEXT NOT NULL, batch INTEGER NOT NULL,
  position INTEGER NOT NULL, write_set BLOB NOT NULL, one INTEGER NOT NULL,
  PRIMARY KEY (coordinator, database, batch, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acceptor(
  coordinator INTEGER NOT NULL, database TEXT NOT NULL, batch INTEGER NOT NULL,
  promised_round INTEGER NOT NULL, promised_node INTEGER NOT NULL,
  accepted_round INTEGER NOT NULL, accepted_node INTEGER NOT NULL, vector BLOB,
  PRIMARY KEY (coordinator, database, batch)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decided(
  coordinator INTEGER NOT NULL, database TEXT NOT NULL, batch INTEGER NOT NULL,
  vector BLOB NOT NULL, at_ms INTEGER NOT NULL,
  PRIMARY KEY (coordinator, database, batch)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS decided_by_age ON decided(at_ms);
CREATE TABLE IF NOT EXISTS spanned_members(
  coordinator INTEGER NOT NULL, database TEXT NOT NULL, batch INTEGER NOT NULL,
  position INTEGER NOT NULL, member_database TEXT NOT NULL, origin_seq INTEGER NOT NULL,
  PRIMARY KEY (coordinator, database, batch, position)) WITHOUT ROWID;
"""
# ``spanned_members``: an instance whose batches are of several databases (a transaction
# writing two databases, txn/DESIGN.md §10.2) is named after its first database's batch; the
# database and origin sequence of each of its members are kept here, since ``batch +
# position`` is a member's sequence only in a one-database instance.
# Outcomes applied here are remembered this long: a late recovery round (a member that was
# cut off) must find the chosen vector, not decide anew among acceptors that forgot it.
DECIDED_KEEP_MS = 24 * 3600 * 1000
DECIDED_TRIM_EVERY = 1000  # forgets between two trims of the outcomes past DECIDED_KEEP_MS
DECIDED = (2**62, 2**62)  # the "ballot" a decided outcome answers with: above any real one
COMMIT_RETRY_S = 0.5  # between two attempts at a COMMIT that failed (disk full)
CACHE_KIB = 65536  # an open transaction stays in memory: its replay after a failed COMMIT
#                    must not need the disk that just filled (SQLite spills past the cache)
_vector_codec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(list[bool])


@dataclass(slots=True)
class InstanceRecord:
    """What the store knows of one instance (``load``)."""

    write_sets: list[bytes] = field(default_factory=list)
    one: list[bool] = field(default_factory=list)  # members at level ONE
    promised: Ballot = NO_BALLOT
    accepted: Ballot = NO_BALLOT
    vector: list[bool] | None = None


class TxnStore:
    def __init__(self, data_dir: Path,
                 defer: Callable[[Callable[[], None]], None] | None = None,
                 call_later: Callable[[float, Callable[[], None]], object] | None = None):
        """``defer``: run a callback after the current node iteration (None: every write
        commits at once); ``call_later``: a timer for retrying a failed COMMIT."""
        self.path = data_dir / FILE_NAME
        self.wal_path = str(self.path) + "-wal"
        self.conn = apsw.Connection(str(self.path))
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self.conn.execute(_SCHEMA)
        # the instances with rows in spanned_members (forget deletes them only then)
        self._spanning: set[Instance] = {
            (coordinator, database, batch) for coordinator, database, batch in
            self.conn.execute("SELECT DISTINCT coordinator, database, batch FROM "
                              "spanned_members")}
        self._forgotten = 0
        self._syncer: WalSyncer | None = None  # durability "fsync": see durable()
        self._defer = defer
        self._call_later = call_later
        self._open = False  # a transaction holds writes not committed yet
        self._ops: list[tuple[str, Any, bool]] = []  # its writes (sql, parameters, many)
        self._after_commit: list[Callable[[], None]] = []
        self.commits = 0
        self.failed_commits = 0  # COMMITs that failed (then replayed and retried)

    def sync_with(self, syncer: WalSyncer) -> None:
        """Durability "fsync": ``durable`` waits for a sync of the store's WAL."""
        self._syncer = syncer

    def _write(self) -> None:
        """Called before every write: joins the iteration's transaction (see the docstring)."""
        if self._defer is not None and not self._open:
            self.conn.execute("BEGIN IMMEDIATE")
            self._open = True
            self._defer(self.flush)

    def _run(self, sql: str, parameters: Any = (), many: bool = False) -> None:
        """Every write: executed, and kept while its transaction is open (see the docstring)."""
        self._execute(sql, parameters, many)
        if self._open:
            self._ops.append((sql, parameters, many))

    def _execute(self, sql: str, parameters: Any, many: bool) -> None:
        if many:
            self.conn.executemany(sql, parameters)
        else:
            self.conn.execute(sql, parameters)

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """One write method's statements: all or none of them, in the database and in the
        kept writes alike."""
        kept = len(self._ops)
        try:
            with self.conn:
                yield
        except BaseException:
            del self._ops[kept:]
            raise

    def flush(self) -> None:
        """Commit the open transaction, then run what waited for it."""
        if self._open:
            try:
                self.conn.execute("COMMIT")
            except apsw.Error as exc:
                self._commit_failed(exc)
                return
            self._open = False
            self._ops = []
            self.commits += 1
        waiting, self._after_commit = self._after_commit, []
        for then in waiting:
            then()

    def _commit_failed(self, exc: apsw.Error) -> None:
        """Replay the open transaction's writes into a new one and retry later (the
        docstring). Without a timer (tests, tools) the failure is the caller's."""
        self.failed_commits += 1
        if self.failed_commits == 1 or self.failed_commits % 100 == 0:
            logger.error("the txn store could not commit (%s: %s); its writes are kept and "
                         "the commit retried every %.1f s (%d failed so far)",
                         type(exc).__name__, exc, COMMIT_RETRY_S, self.failed_commits)
        if not self.conn.getautocommit():
            self.conn.execute("ROLLBACK")
        if self._call_later is None:
            self._open, self._ops, self._after_commit = False, [], []
            raise exc
        self.conn.execute("BEGIN IMMEDIATE")
        for op in self._ops:
            self._execute(*op)
        self._call_later(COMMIT_RETRY_S, self.flush)

    def committed(self, then: Callable[[], None]) -> None:
        """``then()`` once what was written so far is committed (a process crash keeps it)."""
        if self._open:
            self._after_commit.append(then)
        else:
            then()

    def durable(self, then: Callable[[], None]) -> None:
        """``then()`` once what was written so far survives power loss: after a sync of the
        WAL on a worker with durability "fsync", once committed otherwise (a process crash
        keeps a commit). A failed sync never calls it: a vote or acceptance that may be lost
        is not sent (its requester counts it as missing)."""
        if self._syncer is None:
            self.committed(then)
            return
        syncer = self._syncer

        def sync() -> None:
            synced = Pending()
            synced.add_done_callback(lambda done: then() if done.error() is None else None)
            syncer.committed([(synced, None)])
        self.committed(sync)

    def record_write_sets(self, instance: Instance, write_sets: list[bytes],
                          one: list[bool], spans: list[tuple[str, int]] | None = None) -> None:
        """The batch's write sets in batch order, each with whether it was written at level
        ONE (idempotent: a duplicate Prepare). ``spans``: an instance of several databases'
        batches, the (database, origin sequence) of each member (``spanned_members``)."""
        one = one or [False] * len(write_sets)
        rows = [(*instance, position, ws, flag)
                for position, (ws, flag) in enumerate(zip(write_sets, one))]
        self._write()
        with self._savepoint():
            self._run("INSERT OR IGNORE INTO batch_write_sets VALUES (?, ?, ?, ?, ?, ?)", rows,
                      many=True)
            if spans:
                self._run("INSERT OR IGNORE INTO spanned_members VALUES (?, ?, ?, ?, ?, ?)",
                          [(*instance, position, database, seq)
                           for position, (database, seq) in enumerate(spans)], many=True)
                self._spanning.add(instance)

    def write_sets(self, instance: Instance) -> tuple[list[bytes], list[bool]]:
        """The batch's write sets and ONE flags (empty: never recorded here)."""
        rows = self.conn.execute(
            "SELECT write_set, one FROM batch_write_sets WHERE coordinator = ? AND "
            "database = ? AND batch = ? ORDER BY position", instance).fetchall()
        return [ws for ws, _ in rows], [bool(one) for _, one in rows]

    def record_decision(self, instance: Instance, write_sets: list[bytes], one: list[bool],
                        ballot: Ballot, vector: list[bool],
                        spans: list[tuple[str, int]] | None = None) -> None:
        """A coordinator's own acceptance of its first ballot, with the batch's write sets,
        in one transaction (what it needs to finish the batch after a crash)."""
        self._write()
        with self._savepoint():
            self.record_write_sets(instance, write_sets, one, spans)
            self.accept(instance, ballot, vector)

    def accept(self, instance: Instance, ballot: Ballot, vector: list[bool]) -> Ballot | None:
        """Paxos phase 2b: accept ``vector`` at ``ballot`` unless a higher ballot was promised
        (or the outcome is decided here). Returns None when accepted, else the ballot
        promised."""
        decided = self.decided(instance)
        if decided is not None:
            return None if decided == vector else DECIDED
        promised = self._promised(instance)
        if tuple(ballot) < promised:
            return promised
        self._write()
        with self._savepoint():
            self._run(
                "INSERT INTO acceptor VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "promised_round = excluded.promised_round, promised_node = "
                "excluded.promised_node, accepted_round = excluded.accepted_round, "
                "accepted_node = excluded.accepted_node, vector = excluded.vector",
                (*instance, *ballot, *ballot, _vector_codec[0].encode(vector)))
        return None

    def promise(self, instance: Instance, ballot: Ballot
                ) -> tuple[bool, Ballot, Ballot, list[bool] | None]:
        """Paxos phase 1b: promise ``ballot`` if it is above every ballot promised so far.
        Returns (promised now, the highest promise, the accepted ballot, its vector)."""
        decided = self.decided(instance)
        if decided is not None:
            return True, DECIDED, DECIDED, decided
        record = self._acceptor(instance)
        promised, accepted, vector = record if record is not None else (NO_BALLOT, NO_BALLOT,
                                                                         None)
        if tuple(ballot) <= promised:
            return False, promised, accepted, vector
        self._write()
        with self._savepoint():
            self._run(
                "INSERT INTO acceptor VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT DO UPDATE "
                "SET promised_round = excluded.promised_round, promised_node = "
                "excluded.promised_node", (*instance, *ballot, *NO_BALLOT))
        return True, tuple(ballot), accepted, vector  # type: ignore[return-value]

    def _acceptor(self, instance: Instance
                  ) -> tuple[Ballot, Ballot, list[bool] | None] | None:
        for row in self.conn.execute(
                "SELECT promised_round, promised_node, accepted_round, accepted_node, vector "
                "FROM acceptor WHERE coordinator = ? AND database = ? AND batch = ?", instance):
            vector = _vector_codec[1].decode(row[4]) if row[4] is not None else None
            return (row[0], row[1]), (row[2], row[3]), vector
        return None

    def _promised(self, instance: Instance) -> Ballot:
        for round_, node in self.conn.execute(
                "SELECT promised_round, promised_node FROM acceptor WHERE coordinator = ? AND "
                "database = ? AND batch = ?", instance):
            return (round_, node)
        return NO_BALLOT

    def forget(self, instance: Instance, vector: list[bool], now_ms: int) -> None:
        """The instance's outcome ``vector`` is applied to the database: its write sets and
        acceptor state go; the outcome stays (``DECIDED_KEEP_MS``) for late recoveries."""
        self._write()
        with self._savepoint():
            for table in ("batch_write_sets", "acceptor"):
                self._run(f"DELETE FROM {table} WHERE coordinator = ? AND database = ? "
                          "AND batch = ?", instance)
            if instance in self._spanning:
                self._run("DELETE FROM spanned_members WHERE coordinator = ? AND database = ? "
                          "AND batch = ?", instance)
                self._spanning.discard(instance)
            self._run("INSERT OR REPLACE INTO decided VALUES (?, ?, ?, ?, ?)",
                      (*instance, _vector_codec[0].encode(vector), now_ms))
            self._forgotten += 1
            if self._forgotten % DECIDED_TRIM_EVERY == 0:
                self._run("DELETE FROM decided WHERE at_ms < ?", (now_ms - DECIDED_KEEP_MS,))

    def decided(self, instance: Instance) -> list[bool] | None:
        for (vector,) in self.conn.execute(
                "SELECT vector FROM decided WHERE coordinator = ? AND database = ? AND "
                "batch = ?", instance):
            return _vector_codec[1].decode(vector)
        return None

    def load(self) -> dict[Instance, InstanceRecord]:
        """Every instance not yet forgotten (after a restart)."""
        records: dict[Instance, InstanceRecord] = {}
        for coordinator, database, batch, _, ws, one in self.conn.execute(
                "SELECT * FROM batch_write_sets ORDER BY coordinator, database, batch, "
                "position"):
            record = records.setdefault((coordinator, database, batch), InstanceRecord())
            record.write_sets.append(ws)
            record.one.append(bool(one))
        for row in self.conn.execute("SELECT * FROM acceptor"):
            record = records.setdefault(tuple(row[:3]), InstanceRecord())  # type: ignore[arg-type]
            record.promised, record.accepted = (row[3], row[4]), (row[5], row[6])
            record.vector = _vector_codec[1].decode(row[7]) if row[7] is not None else None
        return records

    def accepted_commits(self) -> list[tuple[int, str, int]]:
        """(coordinator, database, origin sequence) of every member an accepted, not yet
        applied vector commits here: a QUORUM read must wait for them (replication/)."""
        found = []
        for coordinator, database, batch, vector in self.conn.execute(
                "SELECT coordinator, database, batch, vector FROM acceptor "
                "WHERE vector IS NOT NULL"):
            spans = self._spans((coordinator, database, batch))
            for position, commit in enumerate(_vector_codec[1].decode(vector)):
                if commit:
                    found.append((coordinator, *spans[position]) if spans else
                                 (coordinator, database, batch + position))
        return found

    def _spans(self, instance: Instance) -> list[tuple[str, int]]:
        """(database, origin sequence) per member of an instance of several databases (empty:
        one database, ``batch + position``)."""
        return [(database, seq) for database, seq in self.conn.execute(
            "SELECT member_database, origin_seq FROM spanned_members WHERE coordinator = ? AND "
            "database = ? AND batch = ? ORDER BY position", instance)]

    def max_origin_seq(self, coordinator: int, database: str) -> int:
        """The highest origin sequence a recorded batch of ``coordinator`` used (0: none): a
        restarted coordinator numbers on above it (a member's sequence is its batch's number
        plus its position, or in an instance of several databases the one in
        ``spanned_members``)."""
        (found,) = self.conn.execute(
            "SELECT max(batch + position) FROM batch_write_sets AS w WHERE coordinator = ? AND "
            "database = ? AND NOT EXISTS (SELECT 1 FROM spanned_members AS s WHERE "
            "s.coordinator = w.coordinator AND s.database = w.database AND s.batch = w.batch)",
            (coordinator, database)).fetchone()
        (spanned,) = self.conn.execute(
            "SELECT max(origin_seq) FROM spanned_members WHERE coordinator = ? AND "
            "member_database = ?", (coordinator, database)).fetchone()
        return max(int(found or 0), int(spanned or 0))

    def close(self) -> None:
        if self._open:
            self._open = False
            self.conn.execute("COMMIT")
        self.conn.close()
