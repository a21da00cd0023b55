"""CREATE/DROP DATABASE cluster-wide: one row per database in ``__marmot_system``.

Theory of operation (marmotdb/ddl/DESIGN.md §4)
-----------------------------------------------
A database is a file per node, and its own commit log cannot carry its DROP (the log goes with
the file, so a node that was down would never learn it). So the fact "database X exists" is a
row of the replicated internal table ``__marmot_databases`` (``name -> dropped, generation``)
in the hidden ``__marmot_system`` database, written at QUORUM through the distributed commit
like the DDL lock rows: commit log, catch-up and snapshots carry it like any write.

* CREATE DATABASE (under the database's DDL lock) writes the row ``dropped = 0`` first, then
  makes the file here; DROP DATABASE writes ``dropped = 1`` first, then drops the file here.
  The row is written before the file changes, so a failed write (no quorum: 1047) changes
  nothing anywhere.
* Every node *reconciles* after anything was applied to ``__marmot_system`` (a learn, a
  catch-up page, a snapshot): a live row whose file is missing makes the file; a dropped row
  whose file exists drops it, once it has the database's write turn (transactions in flight
  there finish or time out first). ``reconciled`` remembers the generation done per name, so a
  row is acted on once per change; a look with nothing new is a few dict look-ups.

Databases made before this table existed, or made on a node by a write set that arrived first
(the participant makes a database it does not have), have no row: they are left alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.storage.internal_tables import DATABASES
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.pipeline import CommitPipeline, Host, Mode
from marmotdb.txn.transaction import Transaction

RECORD_ATTEMPTS_MAX = 5     # a record that loses a race (1213) is written again this often
RECORD_BACKOFF_MS = 20      # after up to this, doubled per loss
DROP_TURN_WAIT_S = 50.0     # a reconciling drop waits this long for the database's turn
_OWNER_BASE = -(1 << 44)    # record transactions' owners: negative, apart from the others'


class DatabaseRecords:
    """One node's side of the cluster's database records (module docstring)."""

    def __init__(self, *, pipeline: Callable[[], CommitPipeline],
                 reader: Callable[[], tuple[apsw.Connection, Any, object] | None],
                 host: Host, clustered: Callable[[], bool], rng: random.Random,
                 exists: Callable[[str], bool], create: Callable[[str], object],
                 drop: Callable[[str, int], Pending | None]):
        self._pipeline = pipeline   # __marmot_system's
        self._reader = reader       # its look-up connection, binding, change token
        self._host = host
        self._clustered = clustered
        self._rng = rng
        self._exists = exists
        self._create = create       # make the file here (if missing)
        self._drop = drop           # drop it here, for an owner that takes its turn
        self._owners = _OWNER_BASE
        self._seen: object = None
        self.reconciled: dict[str, int] = {}  # name -> the generation acted on here
        self.counts = {"created": 0, "dropped": 0, "drop_failures": 0}

    @property
    def active(self) -> bool:
        return self._clustered()

    # ------------------------------------------------------------------ writing a record
    def record(self, name: str, dropped: bool) -> Pending:
        """Write ``name``'s row (live or dropped) at QUORUM: a Pending of True, or of False
        when it says so already (without a row: when the file here does), written nothing;
        the statement then answers as MySQL does for an existing or a missing database."""
        done = Pending()
        self._attempt(name.lower(), dropped, 0, done)
        return done

    def _attempt(self, name: str, dropped: bool, lost: int, done: Pending) -> None:
        self._owners -= 1
        txn = Transaction(self._owners, explicit=False)
        pipeline = self._pipeline()
        outcome = Pending()
        outcome.settle(lambda: chain(
            txn.begin_write(pipeline, Mode(), lambda: DROP_TURN_WAIT_S),
            lambda _: self._write(txn, pipeline, name, dropped)))

        def settled(result: Pending) -> None:
            error = result.error()
            if isinstance(error, MarmotError) and error.code == errors.ER_LOCK_DEADLOCK \
                    and lost + 1 < RECORD_ATTEMPTS_MAX:  # stale copy here, or a rival: again
                delay_ms = self._rng.random() * (RECORD_BACKOFF_MS << lost)
                self._host.call_later(max(delay_ms, 1) / 1000,
                                      lambda: self._attempt(name, dropped, lost + 1, done))
                return
            done.follow(result)
        outcome.add_done_callback(settled)

    def _write(self, txn: Transaction, pipeline: CommitPipeline, name: str,
               dropped: bool) -> Any:
        def write(conn: apsw.Connection) -> tuple[bool, int]:
            row = conn.execute(f"SELECT dropped, generation FROM {DATABASES} WHERE name = ?",
                               (name,)).fetchall()
            # no row: a database made before the records, or by a write set that came first
            live = not row[0][0] if row else self._exists(name)
            generation = int(row[0][1]) if row else 0
            if live != dropped:  # it says so already: nothing to write
                return False, generation
            conn.execute(f"INSERT INTO {DATABASES} (name, dropped, generation) VALUES "
                         "(?, ?, ?) ON CONFLICT (name) DO UPDATE SET dropped = "
                         "excluded.dropped, generation = excluded.generation",
                         (name, int(dropped), generation + 1))
            return True, generation + 1
        try:
            with pipeline.trusted():
                changed, generation = txn.run(write)
        except BaseException:
            txn.rollback()
            raise
        if not changed:
            txn.rollback()
            return False
        return chain(txn.commit(True, "QUORUM"), lambda _: self._done(name, generation))

    def _done(self, name: str, generation: int) -> bool:
        self.reconciled[name] = generation  # the statement acts on the file itself
        return True

    # ------------------------------------------------------------------ reconciling
    def reconcile(self) -> None:
        """Make the files here agree with the rows (after anything applied to
        ``__marmot_system``); nothing to do unless that database changed."""
        if not self.active:
            return
        found = self._reader()
        if found is None:
            return
        conn, binding, token = found
        if token is None or token == self._seen:
            return
        self._seen = token
        with binding.trusted_scope():
            rows = conn.execute(f"SELECT name, dropped, generation FROM {DATABASES}"
                                ).fetchall()
        for name, dropped, generation in rows:
            if self.reconciled.get(name) == generation:
                continue
            self.reconciled[name] = generation
            if not dropped and not self._exists(name):
                self._create(name)
                self.counts["created"] += 1
            elif dropped and self._exists(name):
                self._owners -= 1
                dropping = self._drop(name, self._owners)
                if isinstance(dropping, Pending):
                    dropping.add_done_callback(lambda done, n=name: self._dropped(n, done))
                else:
                    self.counts["dropped"] += 1

    def _dropped(self, name: str, done: Pending) -> None:
        if done.error() is None:
            self.counts["dropped"] += 1
        else:  # its turn never came (a transaction held it): look again at the next change
            self.counts["drop_failures"] += 1
            self.reconciled.pop(name, None)
            self._seen = None
