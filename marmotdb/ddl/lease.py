"""The per-database cluster DDL lock: a lease recorded at a quorum (marmotdb/ddl/DESIGN.md).

Theory of operation
-------------------
A database's DDL lock is one row of the replicated internal table ``__marmot_ddl_locks`` in
the hidden ``__marmot_system`` database: ``db -> node, owner, token, expires_ms, statement``.
Taking it is an ordinary write set committed at QUORUM through the distributed commit, so the
row is a compare-and-set register: the acquiring transaction reads the row on the system
database's write connection, and writes it only when it is free (``node = 0``), expired, or
its own. Two nodes taking it at once write the same key: first committer wins (txn/DESIGN.md
§7.2, base versions), the loser gets 1213 and looks again. A node whose copy of the row is
stale writes with an old base version and is refused the same way.

The holder renews the lease (``expires_ms``) every third of it while its DDL runs, and frees
the row when the DDL's commit is decided. A holder that died stops renewing: once
``expires_ms`` plus the clock-offset margin (``hlc.DEFAULT_MAX_CLOCK_OFFSET_MS``: expiry is
judged by another node's clock) lies in the past, any node may overwrite the row. A node that
restarts frees its own rows at once (no lease of its survives a restart).

The lease keeps DDLs of one database from racing; it is not what keeps replicas consistent.
Every write set still carries its schema version, and a participant votes NO on one built on
another version (txn/DESIGN.md §7.2 (c)): a lease lost to a long pause (the holder cut off
past its expiry) costs the late DDL a 1213, never a divergent schema.

``DdlLocks`` is one node's side: ``acquire`` (a DDL; waits up to ``lock_wait_timeout``,
then 1205), ``release``, ``wait_free`` (a DML waits while another session's lease on its
database is held, up to ``innodb_lock_wait_timeout``, then 1205) and ``holders`` (what this
node sees: MARMOT_DDL_LOCKS, the admin API). Waiting is polling: every ``LOCK_POLL_MS``
(jittered) the waiter looks at its node's copy of the table again; the look is a few dict
look-ups unless the system database changed.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.errors import CommitOutcomeUnknown, MarmotError, TransientError
from marmotdb.hlc import DEFAULT_MAX_CLOCK_OFFSET_MS
from marmotdb.sql.results import LongWrite, WriteJob
from marmotdb.storage.internal_tables import DDL_LOCKS
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.pipeline import CommitPipeline, Host, Mode, Timer
from marmotdb.txn.transaction import Transaction

LEASE_MS_DEFAULT = 30_000      # cluster.ddl_lock_lease_ms
RENEWALS_PER_LEASE = 3         # the holder renews every third of the lease
LOCK_POLL_MS = 50              # a waiter looks again this often (jittered 50-150 %)
RACE_BACKOFF_MS = 20           # an acquire that lost a race waits up to this, doubled per loss
RACE_BACKOFF_MAX_MS = 800
RELEASE_ATTEMPTS_MAX = 3       # a release that loses a race (1213) is tried this often
_OWNER_BASE = -(1 << 42)       # lock transactions' owners: negative, never a session's,
                               # apart from the AUTO_INCREMENT claims' (-(1 << 40) down)
_COLUMNS = "node, owner, token, expires_ms, statement"


@dataclass(frozen=True, slots=True)
class Holder:
    """A database's lock as one node's copy of the table shows it."""

    database: str
    node: int
    owner: int          # the holder's connection id on its node
    token: int          # unique per acquisition (the holder's HLC timestamp, packed)
    expires_ms: int     # the holder's wall clock
    statement: str      # the DDL it runs (shown to waiters, MARMOT_DDL_LOCKS)


@dataclass(slots=True, eq=False)
class Lease:
    """A lock this node holds."""

    database: str
    owner: int
    token: int
    expires_ms: int
    statement: str
    renewals: int = 0
    lost: bool = False         # a renewal found the row overwritten (the lease had expired)
    released: bool = False
    timer: Timer | None = field(default=None, repr=False)


class _Busy:
    """An acquire found the lock held: by whom."""

    __slots__ = ("holder",)

    def __init__(self, holder: Holder):
        self.holder = holder


class DdlLocks:
    """One node's side of the cluster DDL locks (module docstring)."""

    def __init__(self, *, node_id: int, pipeline: Callable[[], CommitPipeline],
                 reader: Callable[[], tuple[apsw.Connection, Any, object] | None],
                 host: Host, now_ms: Callable[[], int], clustered: Callable[[], bool],
                 token: Callable[[], int], rng: random.Random,
                 lease_ms: int = LEASE_MS_DEFAULT,
                 schema_version: Callable[[str, bool], int | None] = lambda db, c: None,
                 can_gather: Callable[[str], bool] = lambda level: True):
        self.node_id = node_id
        # could a write at this level gather its votes from the members live here
        # (ClusterCommit.can_gather)? Not: a lock held elsewhere is not waited for (§2)
        self._can_gather = can_gather
        # a database's schema version here (None: not known), committed (True) or as its
        # write connection has it
        self._schema_version = schema_version
        self._pipeline = pipeline     # __marmot_system's (created on first use)
        self._reader = reader         # its look-up connection, binding, change token
        self._host = host
        self._now_ms = now_ms
        self._clustered = clustered
        self._token = token
        self._rng = rng
        self.lease_ms = lease_ms
        self.leases: dict[str, Lease] = {}   # by database: what this node holds
        self._tokens: set[int] = set()       # this node's live tokens (acquiring or held)
        self._owners = _OWNER_BASE
        self._seen: tuple[object, dict[str, Holder]] = (None, {})
        # per database, the schema version its last released lock recorded (§2: a DML waits
        # until its node applied the DDL the lock was released after)
        self._released: dict[str, int] = {}
        self.counts = {"acquired": 0, "polls": 0, "timeouts": 0, "races_lost": 0,
                       "renewed": 0, "lost": 0, "release_failures": 0, "dml_waits": 0,
                       "refused_cut_off": 0, "ones_past_lock": 0, "turns_given_back": 0}

    @property
    def active(self) -> bool:
        """Locks are taken only in a cluster; one node's turn already orders its DDL."""
        return self._clustered()

    # ------------------------------------------------------------------ what this node sees
    def holders(self) -> dict[str, Holder]:
        """Every lock held (unexpired or not) as this node's copy of the table shows it."""
        found = self._reader()
        if found is None:
            return {}
        conn, binding, token = found
        if token is None or token == self._seen[0]:
            return self._seen[1]
        with binding.trusted_scope():
            rows = conn.execute(f"SELECT db, {_COLUMNS}, schema_version FROM {DDL_LOCKS}"
                                ).fetchall()
        held = {str(r[0]): Holder(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]),
                                  str(r[5])) for r in rows if r[1] != 0}
        self._released = {str(r[0]): int(r[6]) for r in rows if r[1] == 0 and r[6]}
        self._seen = (token, held)
        return held

    def _blocking(self, holder: Holder | None, owner: int, now_ms: int) -> bool:
        """Does ``holder`` keep ``owner`` (a session of this node) out?"""
        if holder is None or holder.node == 0:
            return False
        if holder.node == self.node_id:  # ours: that session's own, or left by a restart
            return holder.owner != owner and holder.token in self._tokens
        return now_ms <= holder.expires_ms + DEFAULT_MAX_CLOCK_OFFSET_MS

    def blocker(self, database: str, owner: int) -> Holder | None:
        name = database.lower()
        holder = self.holders().get(name)
        if self._blocking(holder, owner, self._now_ms()):
            return holder
        released = self._released.get(name)
        if holder is None and released is not None:
            here = self._schema_version(name, False)
            if here is not None and here < released:  # freed after a DDL not applied here
                return Holder(name, 0, 0, 0, 0, f"(its DDL to schema version {released} "
                              "is not applied on this node yet)")
        return None

    # ------------------------------------------------------------------ DDL
    def acquire(self, database: str, owner: int, statement: str, timeout_s: float,
                wanted: Callable[[], bool] = lambda: True) -> Pending | None:
        """Take ``database``'s lock for session ``owner``: a Pending of the ``Lease``
        (failed with 1205 after ``timeout_s``, 1047 without a quorum, 1317 once ``wanted()``
        turns false: the client left). None outside a cluster."""
        if not self.active:
            return None
        done = Pending()
        deadline_ms = self._now_ms() + int(timeout_s * 1000)
        self._attempt(database.lower(), owner, statement, deadline_ms, 0, wanted, done)
        return done

    def _attempt(self, database: str, owner: int, statement: str, deadline_ms: int,
                 lost: int, wanted: Callable[[], bool], done: Pending) -> None:
        def again(lost_now: int) -> Callable[[], None]:
            return lambda: self._attempt(database, owner, statement, deadline_ms, lost_now,
                                         wanted, done)
        if not wanted():
            done.fail(_interrupted())
            return
        holder = self.blocker(database, owner)
        if holder is not None and self._cut_off(holder, "QUORUM"):  # taken at QUORUM always
            done.fail(self._refused_cut_off(holder, "QUORUM"))
            return
        if holder is not None:  # held: no write turn spent on looking
            self._later(deadline_ms, holder, again(lost), done)
            return
        txn = Transaction(self._next_owner(), explicit=False)
        pipeline = self._pipeline()
        outcome = Pending()
        turn_s = max(0.001, (deadline_ms - self._now_ms()) / 1000)
        outcome.settle(lambda: chain(
            txn.begin_write(pipeline, Mode(), lambda: turn_s),
            lambda _: self._write_acquire(txn, pipeline, database, owner, statement)))

        def settled(result: Pending) -> None:
            error = result.error()
            if error is None and isinstance(result.result(), Lease):
                self._hold(result.result())
                done.resolve(result.result())
            elif error is None:  # _Busy: the row showed a live holder
                self._later(deadline_ms, result.result().holder, again(lost), done)
            elif isinstance(error, MarmotError) and error.code == errors.ER_LOCK_DEADLOCK:
                self.counts["races_lost"] += 1  # another node took it (or both lost)
                delay_ms = self._rng.random() * min(RACE_BACKOFF_MS << lost, RACE_BACKOFF_MAX_MS)
                self._later(deadline_ms, None, again(lost + 1), done, delay_ms)
            elif isinstance(error, CommitOutcomeUnknown):  # the row may be ours: it expires
                done.fail(TransientError(
                    "marmotdb: the cluster DDL lock could not be taken (the outcome of its "
                    "write is unknown); the statement did not run",
                    code=errors.ER_UNKNOWN_COM_ERROR, sqlstate="08S01"))
            else:
                done.fail(error)
        outcome.add_done_callback(settled)

    def _write_acquire(self, txn: Transaction, pipeline: CommitPipeline, database: str,
                       owner: int, statement: str) -> Any:
        now_ms = self._now_ms()
        lease = Lease(database, owner, self._token(), now_ms + self.lease_ms, statement[:512])

        def write(conn: apsw.Connection) -> _Busy | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM {DDL_LOCKS} WHERE db = ?",
                               (database,)).fetchall()
            if row:
                holder = Holder(database, *row[0])
                if self._blocking(holder, owner, now_ms):
                    return _Busy(holder)
            conn.execute(f"INSERT INTO {DDL_LOCKS} (db, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT (db) DO UPDATE SET node = excluded.node, owner = "
                         "excluded.owner, token = excluded.token, expires_ms = "
                         "excluded.expires_ms, statement = excluded.statement",
                         (database, self.node_id, owner, lease.token, lease.expires_ms,
                          lease.statement))
            return None
        try:
            with pipeline.trusted():
                busy = txn.run(write)
        except BaseException:
            txn.rollback()
            raise
        if busy is not None:
            txn.rollback()
            return busy
        self._tokens.add(lease.token)  # ours from the moment its row may be visible
        committed = txn.commit(lease, "QUORUM")  # whatever the session's level: never ONE
        if isinstance(committed, Pending):
            committed.add_done_callback(lambda c: c.error() is not None
                                        and self._tokens.discard(lease.token))
        return committed

    def _later(self, deadline_ms: int, holder: Holder | None, retry: Callable[[], None],
               done: Pending, delay_ms: float | None = None) -> None:
        """Look again after a (jittered) poll interval, or fail with 1205 at the deadline."""
        now_ms = self._now_ms()
        if now_ms >= deadline_ms:
            self.counts["timeouts"] += 1
            done.fail(_lock_wait_timeout(holder))
            return
        self.counts["polls"] += 1
        if delay_ms is None:
            delay_ms = LOCK_POLL_MS * (0.5 + self._rng.random())
        delay_ms = max(1.0, min(delay_ms, deadline_ms - now_ms))
        self._host.call_later(delay_ms / 1000, retry)

    def _hold(self, lease: Lease) -> None:
        self.counts["acquired"] += 1
        self.leases[lease.database] = lease
        self._schedule_renewal(lease)

    def run_locked(self, database: str, owner: int, statement: str, timeout_s: float,
                   run: Callable[[], Any], wanted: Callable[[], bool] = lambda: True) -> Any:
        """``run()`` (a DDL: its result or a Pending of it) while holding ``database``'s
        lock; the lock is freed once its outcome is known, before the client is answered
        (so the client's next DDL, on any node, never waits for its own lease)."""
        acquired = self.acquire(database, owner, statement, timeout_s, wanted)
        if acquired is None:
            return run()

        def held(lease: Lease) -> Pending:
            result = Pending()

            def start() -> None:
                outcome = Pending()
                if wanted():
                    outcome.settle(run)
                else:  # the client left while the lock was being taken: nothing runs
                    outcome.fail(_interrupted())
                self._release_after(lease, outcome, result)
            # Not in this turn of the host's loop: the acquire's learn was only queued for the
            # peers, and a long DDL would hold the loop before it left, so the others would
            # not see the lock (their writes would race the DDL) until the DDL ended.
            self._host.call_later(0, start)
            return result
        return chain(acquired, held)

    def _release_after(self, lease: Lease, outcome: Pending, result: Pending) -> None:
        """Free ``lease`` once ``outcome`` is final, then let ``result`` follow it. A DDL
        handed to a writer thread (``LongWrite``: a long DDL, ddl/DESIGN.md §10, and each of
        its conflict retries) is not final: its job's ``resume`` gives the outcome, so the
        lock is kept until that outcome (before, it was freed as the rebuild started, and
        every node's writers ran beside the DDL and refused it: §11)."""
        def done(finished: Pending) -> None:
            error = finished.error()
            if isinstance(error, LongWrite):
                result.fail(self._kept_over(lease, error))
                return
            self.release(lease).add_done_callback(lambda _: result.follow(finished))
        outcome.add_done_callback(done)

    def _kept_over(self, lease: Lease, handed: LongWrite) -> LongWrite:
        """``handed`` with a job whose ``resume`` frees ``lease`` after its outcome."""
        job = handed.job
        assert isinstance(job, WriteJob)
        resume = job.resume

        def resumed(ran: Any) -> Pending:
            outcome, result = Pending(), Pending()
            outcome.settle(lambda: resume(ran))
            self._release_after(lease, outcome, result)
            return result
        return LongWrite(dataclasses.replace(job, resume=resumed))

    # ------------------------------------------------------------------ renewal
    def _schedule_renewal(self, lease: Lease) -> None:
        interval_s = self.lease_ms / RENEWALS_PER_LEASE / 1000
        lease.timer = self._host.call_later(interval_s, lambda: self._renew(lease))

    def _renew(self, lease: Lease) -> None:
        if lease.released:
            return
        expires_ms = self._now_ms() + self.lease_ms

        def write(conn: apsw.Connection) -> bool:
            conn.execute(f"UPDATE {DDL_LOCKS} SET expires_ms = ? WHERE db = ? AND node = ? "
                         "AND token = ?", (expires_ms, lease.database, self.node_id,
                                           lease.token))
            return conn.changes() > 0

        def renewed(result: Pending) -> None:
            if result.error() is None and result.result() is True:
                lease.expires_ms, lease.renewals = expires_ms, lease.renewals + 1
                self.counts["renewed"] += 1
            elif result.error() is None:  # overwritten: it had expired and was taken
                lease.lost = True
                self.counts["lost"] += 1
                return
            if not lease.released:  # a failed renewal (no quorum) is tried again next time
                self._schedule_renewal(lease)
        self._write_row(write).add_done_callback(renewed)

    # ------------------------------------------------------------------ release
    def release(self, lease: Lease) -> Pending:
        """Free the lock (a Pending of None, never failing: a release that cannot be
        committed leaves the lease to expire)."""
        lease.released = True
        if lease.timer is not None:
            lease.timer.cancel()
        if self.leases.get(lease.database) is lease:
            del self.leases[lease.database]
        done = Pending()
        self._release(lease, 0, done)
        return done

    def _release(self, lease: Lease, attempt: int, done: Pending) -> None:
        # the schema version the DDL left (committed here: it is decided), recorded in the
        # freed row: a node that applies the release before the DDL holds its DML back
        try:
            version = self._schema_version(lease.database, True) or 0
        except Exception:  # noqa: BLE001 - the node is closing, or the file is gone: the
            version = 0    # release must still go out (and its waiter be answered)

        def write(conn: apsw.Connection) -> bool:
            conn.execute(f"UPDATE {DDL_LOCKS} SET node = 0, owner = 0, token = 0, "
                         "expires_ms = 0, statement = '', schema_version = ? WHERE db = ? AND "
                         "node = ? AND token = ?",
                         (version, lease.database, self.node_id, lease.token))
            return conn.changes() > 0

        def released(result: Pending) -> None:
            error = result.error()
            if isinstance(error, MarmotError) and error.code == errors.ER_LOCK_DEADLOCK \
                    and attempt + 1 < RELEASE_ATTEMPTS_MAX:
                self._release(lease, attempt + 1, done)
                return
            if error is not None:
                self.counts["release_failures"] += 1
            self._tokens.discard(lease.token)
            done.resolve(None)
        self._write_row(write).add_done_callback(released)

    def _write_row(self, write: Callable[[apsw.Connection], bool]) -> Pending:
        """``write`` in an internal transaction of its own, committed at QUORUM when it
        changed the row: a Pending of whether it did."""
        txn = Transaction(self._next_owner(), explicit=False)

        def run(pipeline: CommitPipeline) -> Any:
            try:
                with pipeline.trusted():
                    changed = txn.run(write)
            except BaseException:
                txn.rollback()
                raise
            if not changed:
                txn.rollback()
                return False
            return txn.commit(True, "QUORUM")

        def begin() -> Any:  # inside settle: a pipeline that cannot open (the node is
            pipeline = self._pipeline()  # shutting down) fails the Pending, never raises
            return chain(txn.begin_write(pipeline, Mode(), lambda: self.lease_ms / 1000),
                         lambda _: run(pipeline))
        outcome = Pending()
        outcome.settle(begin)
        return outcome

    # ------------------------------------------------------------------ DML
    def wait_free(self, database: str, owner: int, timeout_s: float,
                  wanted: Callable[[], bool] = lambda: True, level: str = "QUORUM"
                  ) -> Pending | None:
        """None when no other session holds ``database``'s lock; else a Pending resolved
        once it is free (failed with 1205 after ``timeout_s``, 1317 once ``wanted()``
        turns false). A node cut off from the members a write at ``level`` needs does not
        wait for a lock held on another node, whose release it cannot learn (§2): the write
        fails with 1047 as its round would — or, at ONE, proceeds without waiting while the
        lock is held."""
        if not self.active:
            return None
        holder = self.blocker(database, owner)
        if holder is None:
            return None
        if self._past_lock(holder, level):
            self.counts["ones_past_lock"] += 1
            return None
        self.counts["dml_waits"] += 1
        done = Pending()
        deadline_ms = self._now_ms() + int(timeout_s * 1000)

        def look() -> None:
            if not wanted():
                done.fail(_interrupted())
                return
            holder = self.blocker(database, owner)
            if holder is not None and self._past_lock(holder, level):
                self.counts["ones_past_lock"] += 1
                holder = None
            if holder is None:
                done.resolve(None)
            elif self._cut_off(holder, level):
                done.fail(self._refused_cut_off(holder, level))
            else:
                self._later(deadline_ms, holder, look, done)
        look()
        return done

    def _cut_off(self, holder: Holder, level: str) -> bool:
        """Is this node unable to gather the votes ``level`` needs while ``holder`` (another
        node's lock, or a release after a DDL not applied here) keeps it out? Then nothing
        it waits for can reach it: the release (or the DDL) comes from the majority side,
        and a write at ``level`` could not commit anyway (§2)."""
        return holder.node != self.node_id and not (self._can_gather(level)
                                                    and self._can_gather("QUORUM"))

    def _past_lock(self, holder: Holder, level: str) -> bool:
        """Does a ONE write go ahead of ``holder``? Yes when the lock is held on another node
        and this node cannot reach a quorum: it could not learn the release (§2: ONE commits
        on this node alone, and in a minority it gives up ordering against the majority's
        DDL as it would had it been cut off before the lock was taken). Not past a lock
        already freed after a DDL this node lacks: the write would be built on a schema
        known to be gone (it is refused instead, ``_cut_off``)."""
        return level == "ONE" and holder.node not in (0, self.node_id) and \
            not self._can_gather("QUORUM")

    def holds_back(self, database: str, owner: int, level: str = "QUORUM") -> bool:
        """Would ``wait_free`` not let a write of ``owner`` at ``level`` go now?"""
        if not self.active:
            return False
        holder = self.blocker(database, owner)
        return holder is not None and not self._past_lock(holder, level)

    def _refused_cut_off(self, holder: Holder, level: str) -> MarmotError:
        self.counts["refused_cut_off"] += 1
        waits_for = f"the release of the cluster DDL lock of '{holder.database}' held by " \
            f"node {holder.node}" if holder.node else \
            f"the DDL of '{holder.database}' {holder.statement}"
        return TransientError(
            f"marmotdb: quorum not reachable (this node cannot reach the members a {level} "
            f"write needs, nor learn {waits_for}); the statement did not run",
            code=errors.ER_UNKNOWN_COM_ERROR, sqlstate="08S01")

    def _next_owner(self) -> int:
        self._owners -= 1
        return self._owners


def _lock_wait_timeout(holder: Holder | None) -> MarmotError:
    held = "" if holder is None else \
        f" (the cluster DDL lock of '{holder.database}' is free {holder.statement[:80]})" \
        if holder.node == 0 else \
        f" (the cluster DDL lock of '{holder.database}' is held by node {holder.node}, " \
        f"connection {holder.owner}: {holder.statement[:80]})"
    return errors.error(errors.ER_LOCK_WAIT_TIMEOUT,
                        f"Lock wait timeout exceeded; try restarting transaction{held}")


def _interrupted() -> MarmotError:
    return errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted")
