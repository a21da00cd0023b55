"""AUTO_INCREMENT ids from per-node ranges claimed through committed transactions.

Theory of operation (txn/DESIGN.md §9 has the long form)
--------------------------------------------------------
A node hands out generated ids only from *ranges* it claimed: a claim is a row of the
database's replicated ``__marmot_auto_increment`` table, committed through the distributed
commit at QUORUM like any write. Claims of a table form a chain: claim ``k+1`` starts above
claim ``k``'s ``hi`` (and above the table's highest id) and also writes claim ``k``'s row, so
two nodes claiming at once write the same rows and first-committer-wins lets one have it; the
loser claims again on top of it. Ranges are therefore disjoint cluster-wide.

``Ranges`` is one database's claimed ranges on this node, in memory (a restarted node claims
anew). The INSERT translation wraps the AUTO_INCREMENT column's value in
``MARMOT_AUTO_ID(value, 'table', 'column')`` (``register``); per row it keeps an explicit
value and otherwise takes the next id of the node's ranges, skipping ids the table already
holds. The session asks ``ready(table, ...)`` before taking the database's turn and waits for
a claim only when the ranges are empty; a node whose ranges run below half a block claims the
next one in the background. An explicit transaction that holds the turn cannot wait for a
claim (it needs that turn): ``ride`` writes the claim inside the transaction, and that range
serves the transaction alone until it commits.

A node with no cluster attached claims nothing: the function returns NULL for a generated id
and SQLite numbers the row, as on a single server.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.errors import (
    AutoIncrementExhausted,
    CommitOutcomeUnknown,
    MarmotError,
    TransientError,
)
from marmotdb.storage.internal_tables import AUTO_INCREMENT_CLAIMS
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.pipeline import CommitPipeline, Host, Mode
from marmotdb.txn.transaction import Transaction, TxnState

BLOCK_SIZE_DEFAULT = 1000     # ids per claim (cluster.auto_increment_block_size)
CLAIM_ATTEMPTS_MAX = 10       # a claim that loses to another node's this often fails (1213)
CLAIM_BACKOFF_MS = 40         # claiming again waits up to this, doubled per lost attempt:
CLAIM_BACKOFF_MAX_MS = 2000   # rivals that all lost (each voted NO on the others) spread out
CLAIM_TURN_WAIT_S = 50.0      # a claim waits for the database's turn like a write (1205 after)
_CLAIM_OWNER_BASE = -(1 << 40)  # claim transactions' owners: negative, never a session's
ID_MAX = (1 << 63) - 1        # BIGINT; narrower columns pass their type's maximum
NARROW_CLAIMS_MIN = 64        # a narrow type gets at least this many claims (TINYINT: 1 id each)


@dataclass(slots=True)
class IdRange:
    next_id: int
    hi: int
    txn: Transaction | None = None  # the transaction it rides in, until that commits


@dataclass(slots=True)
class _Table:
    column: str = ""
    highest_id: int = ID_MAX  # the largest id the column's type holds
    present_sql: str = ""     # is an id taken already (an explicit insert)?
    ranges: list[IdRange] = field(default_factory=list)
    claiming: Pending | None = None  # the claim in flight, if any


@dataclass(slots=True)
class _Statement:
    """Ids the running statement took; the first one generated for its own table (not by a
    trigger's INSERT elsewhere) is its LAST_INSERT_ID()."""

    table: str = ""
    first_id: int = 0
    taken: int = 0
    starts: list[tuple[_Table, IdRange, int]] = field(default_factory=list)  # to give back


class Ranges:
    """One database's AUTO_INCREMENT ranges on this node."""

    def __init__(self, pipeline: Callable[[], CommitPipeline], *, node_id: int, host: Host,
                 clustered: Callable[[], bool], rng: random.Random,
                 block_size: int = BLOCK_SIZE_DEFAULT):
        self._pipeline = pipeline
        self._rng = rng
        self.node_id = node_id
        self._host = host
        self._clustered = clustered
        self.block_size = max(1, block_size)
        self._tables: dict[str, _Table] = {}
        self.statement = _Statement()
        self._owners = _CLAIM_OWNER_BASE
        self.claims = 0  # claims committed (SHOW STATUS Marmot_auto_increment_claims)

    @property
    def active(self) -> bool:
        """Ids come from claimed ranges only while a cluster is attached."""
        return self._clustered()

    def _table(self, table: str, column: str = "", highest_id: int = 0) -> _Table:
        entry = self._tables.get(table.lower())
        if entry is None:
            entry = self._tables[table.lower()] = _Table()
        if column and column != entry.column:
            entry.column = column
            entry.present_sql = f"SELECT 1 FROM {_quote(table)} WHERE {_quote(column)} = ?"
        if highest_id:
            entry.highest_id = highest_id
        return entry

    # ------------------------------------------------------------------ handing out
    def start_statement(self, table: str) -> None:
        self.statement = _Statement(table.lower())

    def take(self, conn: apsw.Connection, table: str, column: str, highest_id: int) -> int:
        """The next free id of this node's ranges for ``table`` (runs inside the INSERT, on
        the write connection); raises AutoIncrementExhausted when they hold none."""
        entry = self._table(table, column, highest_id)
        while True:
            found = self._usable(entry)
            if found is None:
                raise AutoIncrementExhausted(table, self.statement.taken)
            candidate = found.next_id
            if candidate > highest_id:  # claimed before the column was narrowed
                raise _beyond(table, column, highest_id)
            if not any(r is found for _, r, _ in self.statement.starts):
                self.statement.starts.append((entry, found, candidate))
            found.next_id += 1
            if found.next_id > found.hi:
                entry.ranges.remove(found)
            if not conn.execute(entry.present_sql, (candidate,)).fetchall():
                break
        statement = self.statement
        statement.taken += 1
        if not statement.first_id and statement.table == table.lower():
            statement.first_id = candidate
        low = (self.block_size + 1) // 2
        if found.hi - found.next_id + 1 < low and self.remaining(table, riding=True) < low:
            self._refill(table)
        return candidate

    def give_back(self) -> None:
        """The running statement ran out and was undone: the ids it took are free again (so
        running it once more after a claim numbers its rows as if it had never failed)."""
        for entry, found, first in reversed(self.statement.starts):
            found.next_id = first
            if not any(r is found for r in entry.ranges):
                entry.ranges.append(found)
                entry.ranges.sort(key=lambda r: r.next_id)
        self.statement = _Statement(self.statement.table)

    def _usable(self, entry: _Table) -> IdRange | None:
        """The first range the running transaction may take from: committed ones, and one
        riding in this very transaction. A riding range whose transaction committed becomes
        everyone's; one whose transaction aborted (or ended unknown) is dropped."""
        if entry.ranges and entry.ranges[0].txn is None:
            return entry.ranges[0]  # the common case: a committed range
        owner = self._pipeline().owner
        for found in list(entry.ranges):
            txn = found.txn
            if txn is None:
                return found
            if txn.state is TxnState.COMMITTED:
                found.txn = None
                return found
            if txn.state in (TxnState.ABORTED, TxnState.IN_DOUBT):
                entry.ranges.remove(found)
            elif txn.state is TxnState.ACTIVE and txn.owner == owner:
                return found
        return None

    def remaining(self, table: str, riding: bool = False) -> int:
        """Ids left in committed ranges (riding ones count once their transaction commits;
        with ``riding``, as long as it may: a refill is not needed while it rides)."""
        entry = self._tables.get(table.lower())
        if entry is None:
            return 0
        return sum(r.hi - r.next_id + 1 for r in entry.ranges
                   if r.txn is None or r.txn.state is TxnState.COMMITTED or riding
                   and r.txn.state in (TxnState.ACTIVE, TxnState.COMMITTING))

    def next_id(self, table: str) -> int | None:
        """The id this node would hand out next for ``table`` (SHOW CREATE TABLE), if any."""
        entry = self._tables.get(table.lower())
        committed = [r for r in entry.ranges if r.txn is None] if entry is not None else []
        return committed[0].next_id if committed else None

    # ------------------------------------------------------------------ waiting
    def ready(self, table: str, column: str, highest_id: int, txn: Transaction
              ) -> Pending | None:
        """None when an INSERT into ``table`` by ``txn`` may run now; else a Pending resolved
        once a claim committed (failed with its error: 1047 without a quorum). A
        transaction holding the turn never waits: it rides a claim if it runs out."""
        self._table(table, column, highest_id)
        if not self.active or txn.pipeline is not None or self.remaining(table) > 0:
            return None
        return self.claim(table, column, 1)

    def claim(self, table: str, column: str, ids: int) -> Pending | None:
        """Until ``table``'s ranges hold ``ids`` ids: a claim of at least that many, after the
        one in flight if that is not enough. None when they hold enough already."""
        if self.remaining(table) >= ids:
            return None
        entry = self._table(table, column)
        if entry.claiming is not None:
            return chain(entry.claiming, lambda _: self.claim(table, column, ids))
        entry.claiming = Pending()
        size = max(self.block_size, ids - self.remaining(table))
        self._attempt(table, entry, size, 0, entry.claiming)
        return entry.claiming

    def _refill(self, table: str) -> None:
        entry = self._table(table)
        if entry.claiming is None:
            entry.claiming = Pending()
            self._attempt(table, entry, self.block_size, 0, entry.claiming)

    def _attempt(self, table: str, entry: _Table, size: int, attempt: int,
                 done: Pending) -> None:
        self._owners -= 1
        txn = Transaction(self._owners, explicit=False)
        pipeline = self._pipeline()
        outcome = Pending()
        outcome.settle(lambda: chain(
            txn.begin_write(pipeline, Mode(), lambda: CLAIM_TURN_WAIT_S),
            lambda _: self._write_claim(txn, pipeline, table, entry.column, size)))
        outcome.add_done_callback(
            lambda settled: self._claimed(table, entry, size, attempt, done, settled))

    def _write_claim(self, txn: Transaction, pipeline: CommitPipeline, table: str,
                     column: str, size: int) -> Any:
        try:
            with pipeline.trusted():
                lo, hi = txn.run(lambda conn: write_claim(conn, table, column, self.node_id,
                                                          size, self._table(table).highest_id))
        except BaseException:
            txn.rollback()
            raise
        return txn.commit((lo, hi), "QUORUM")  # whatever the session's level: never ONE

    def _claimed(self, table: str, entry: _Table, size: int, attempt: int, done: Pending,
                 settled: Pending) -> None:
        error = settled.error()
        if error is None:
            lo, hi = settled.result()
            entry.ranges.append(IdRange(lo, hi))
            entry.ranges.sort(key=lambda r: r.next_id)
            entry.claiming = None
            self.claims += 1
            done.resolve((lo, hi))
            return
        lost = isinstance(error, MarmotError) and error.code == errors.ER_LOCK_DEADLOCK
        if lost and attempt + 1 < CLAIM_ATTEMPTS_MAX:  # another claim won (or all lost): again
            delay_ms = self._rng.random() * min(CLAIM_BACKOFF_MS << attempt, CLAIM_BACKOFF_MAX_MS)
            self._host.call_later(delay_ms / 1000, lambda: self._attempt(
                table, entry, size, attempt + 1, done))
            return
        entry.claiming = None
        if isinstance(error, CommitOutcomeUnknown):  # that range is never used (a gap), and
            error = TransientError(                  # the INSERT waiting for it never ran
                "marmotdb: no AUTO_INCREMENT range could be claimed (the claim's outcome is "
                "unknown); the statement did not run", code=errors.ER_UNKNOWN_COM_ERROR,
                sqlstate="08S01")
        done.fail(error)

    # ------------------------------------------------------------------ riding
    def ride(self, txn: Transaction, table: str, ids: int) -> None:
        """Claim inside ``txn``, which holds the turn: the range serves it alone until it
        commits (if another node claimed the same number first, ``txn`` gets 1213)."""
        pipeline = txn.pipeline
        assert pipeline is not None
        entry = self._table(table)
        size = max(self.block_size, ids)
        with pipeline.trusted():
            lo, hi = txn.run(lambda conn: write_claim(conn, table, entry.column, self.node_id,
                                                      size, entry.highest_id))
        entry.ranges.append(IdRange(lo, hi, txn))
        entry.ranges.sort(key=lambda r: r.next_id)


def write_claim(conn: apsw.Connection, table: str, column: str, node_id: int,
                size: int, highest_id: int = ID_MAX) -> tuple[int, int]:
    """Write the next claim of ``table``'s chain on ``conn`` (trusted): ids above the last
    claim, the table's highest id and its AUTO_INCREMENT= start, at most ``highest_id`` (the
    column type's largest value; a narrow type is claimed in smaller blocks so every node
    gets some). Returns (lo, hi)."""
    name = table.lower()
    last = conn.execute(f"SELECT claim, hi FROM {AUTO_INCREMENT_CLAIMS} WHERE tbl = ? "
                        "ORDER BY claim DESC LIMIT 1", (name,)).fetchall()
    claim, used = (int(last[0][0]), int(last[0][1])) if last else (0, 0)  # claimed_top
    if column:
        (highest,) = conn.execute(f"SELECT max({_quote(column)}) FROM {_quote(table)}"
                                  ).fetchall()[0]
        used = max(used, int(highest or 0))
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ? COLLATE NOCASE",
                            (table,)).fetchall()
    if sequence:
        used = max(used, int(sequence[0][0] or 0))
    lo = used + 1
    if lo > highest_id:
        raise _beyond(table, column, highest_id)
    hi = min(lo + min(size, max(1, highest_id // NARROW_CLAIMS_MIN)) - 1, highest_id)
    if claim:  # builds on the previous claim: a rival claim writes this row too
        conn.execute(f"UPDATE {AUTO_INCREMENT_CLAIMS} SET next_claim = ? WHERE tbl = ? AND "
                     "claim = ?", (claim + 1, name, claim))
    conn.execute(f"INSERT INTO {AUTO_INCREMENT_CLAIMS} (tbl, claim, node, lo, hi) "
                 "VALUES (?, ?, ?, ?, ?)", (name, claim + 1, node_id, lo, hi))
    return lo, hi


def _beyond(table: str, column: str, highest_id: int) -> MarmotError:
    return errors.error(errors.ER_AUTOINC_READ_FAILED, f"Failed to read auto-increment value "
                        f"from storage engine ('{table}.{column}' has no ids left below its "
                        f"type's maximum {highest_id})")


def claimed_top(conn: apsw.Connection, table: str) -> int:
    """The highest id any node claimed for ``table`` (0: none), as ``conn`` sees the claims."""
    (top,) = conn.execute(f"SELECT max(hi) FROM {AUTO_INCREMENT_CLAIMS} WHERE tbl = ?",
                          (table.lower(),)).fetchall()[0]
    return int(top or 0)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- the SQL function

def register(conn: apsw.Connection, sql_mode: Callable[[], str], ranges: Ranges | None = None,
             trusted: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
    """``MARMOT_AUTO_ID(value, table, column, highest id)`` on ``conn``: the value an INSERT
    stores in an AUTO_INCREMENT column. ``sql_mode()`` is the running session's; ``ranges``
    the database's ranges on its write connection, whose look-ups run ``trusted`` (past the
    authorizer)."""
    def auto_id(value: Any, table: str, column: str, highest_id: int) -> Any:
        if value is not None and (value != 0 or "NO_AUTO_VALUE_ON_ZERO" in sql_mode()):
            return value
        if ranges is None or not ranges.active:
            return None  # SQLite numbers the row (single node, temporary tables)
        with trusted():
            return ranges.take(conn, table, column, highest_id)
    conn.create_scalar_function("MARMOT_AUTO_ID", auto_id, 4)
