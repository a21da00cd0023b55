"""Invariants checked on a SQL node's files after a crash and restart.

Files alone (``check_files``), for any database of any node:

* log: every ``__marmot_commit_log`` record decodes (magic, CRC, schema), its origin sequence
  is contiguous from 1 per origin, the applied vector equals the highest one;
* versions: every live row of every user table has a live version in
  ``__marmot_row_versions`` and every live version a row (counts per table);
* replica: applying the whole log, in local order, to an empty replica reproduces the user
  tables, the row versions and the applied vector (per-table checksums,
  ``storage.checksum``);
* application (``check_balance``): the accounts' total balance over both databases is what
  the setups put there (transfers only move money), so no transfer is half there.

Against what the clients saw (``check_run``), with ``m`` the number of logged transactions:

* commit order: the log holds exactly the transactions of the batches whose COMMIT returned,
  in join order, plus possibly the whole batch the crash interrupted — never part of a batch,
  never a failed one (unless power loss with durability "normal", which may lose a suffix of
  whole batches); no transaction whose client was told it failed or rolled back is there;
* reference replay: a fresh node runs those ``m`` transactions' statements serially in commit
  order; each statement must give the outcome its client saw (affected rows, insert id,
  error code), and the reference's tables, row keys/tombstones and write sets (row images and
  DDL) must equal the recovered node's. DATABASE2 is written only by the second halves of
  transfers (DATABASE first), which add to a balance: its data must equal the reference's
  whatever the order of its commits;
* both or neither (``check_both_or_neither``): DATABASE2's log holds, past its setup, exactly
  the second branches (by txn id) of the logged transactions whose replay wrote DATABASE2,
  after the restart's branch redo, and no promise is left (``__marmot_pending_branch``);
* after restart the node takes a new write in each database, logged with the next origin
  sequence.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from marmotdb.errors import MarmotError
from marmotdb.node import Node, Reply
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.binding import ConnectionBinding
from marmotdb.sql.schema import ensure_schema_table
from marmotdb.storage.apply import apply_many
from marmotdb.storage.checksum import database_checksums
from marmotdb.storage.commitlog import LogEntry, applied_vector, iter_log
from marmotdb.storage.internal_tables import (
    PENDING_BRANCHES,
    ROW_VERSIONS,
    ensure_internal_tables,
)
from marmotdb.storage.schema import INTERNAL_PREFIX
from marmotdb.storage.writeset import WriteSet, decode_write_set
from marmotdb.sim.sql_workloads import (
    ACCOUNT_BALANCE,
    ACCOUNTS,
    DATABASE,
    DATABASE2,
    SETUP2_LOGGED,
    Outcome,
    TxnRecord,
)

if TYPE_CHECKING:
    from marmotdb.sim.sql_world import SqlRun


class SqlViolation(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


# ---------------------------------------------------------------------- files alone
def full_log(conn: apsw.Connection) -> list[LogEntry]:
    return list(iter_log(conn))


def decode_log(entries: list[LogEntry]) -> list[WriteSet]:
    decoded = []
    for entry in entries:
        try:
            decoded.append(decode_write_set(entry.write_set))
        except Exception as exc:  # noqa: BLE001 - any defect is the finding
            raise SqlViolation("log-decode", f"log seq {entry.seq}: {exc}") from None
    return decoded


def check_log(conn: apsw.Connection, entries: list[LogEntry], write_sets: list[WriteSet],
              in_order: bool = True) -> None:
    """Every origin's sequence has no gap and no repeat, in local order unless ``in_order``
    is False (a replica may apply an origin's transactions out of order), and the applied
    vector is each origin's highest."""
    highest: dict[int, int] = {}
    seen: set[tuple[int, int]] = set()
    for entry, write_set in zip(entries, write_sets):
        expected = highest.get(entry.origin, 0) + 1
        key = (entry.origin, entry.origin_seq)
        if write_set.origin_seq != entry.origin_seq or key in seen \
                or (in_order and entry.origin_seq != expected):
            raise SqlViolation("origin-seq", f"log seq {entry.seq}: origin {entry.origin} "
                               f"sequence {entry.origin_seq}, expected {expected}")
        if write_set.origin != entry.origin:
            raise SqlViolation("log-origin", f"log seq {entry.seq}: record says origin "
                               f"{entry.origin}, write set {write_set.origin}")
        seen.add(key)
        highest[entry.origin] = max(highest.get(entry.origin, 0), entry.origin_seq)
    vector = applied_vector(conn)
    if vector != highest:
        raise SqlViolation("applied-vector", f"applied vector {vector}, log has {highest}")


def user_tables(conn: apsw.Connection) -> list[str]:
    return [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\' ORDER BY name") if not name.startswith(INTERNAL_PREFIX)]


def check_versions(conn: apsw.Connection) -> None:
    live = dict(conn.execute(f"SELECT tbl, COUNT(*) FROM {ROW_VERSIONS} WHERE deleted = 0 "
                             "GROUP BY tbl").fetchall())
    for table in user_tables(conn):
        (rows,) = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        if rows != live.pop(table, 0):
            raise SqlViolation("row-versions", f"table {table}: {rows} rows but "
                               f"{live.get(table, 0)} live versions")
    stray = {t: n for t, n in live.items() if n}
    if stray:
        raise SqlViolation("row-versions", f"live versions for missing tables/rows: {stray}")


def check_replica(conn: apsw.Connection, entries: list[LogEntry],
                  write_sets: list[WriteSet]) -> None:
    replica = apsw.Connection(":memory:")
    try:
        # a table rebuild's copy converts values through MYSQL_STORE, as on every replica
        functions.register_functions(replica, ConnectionBinding())
        ensure_schema_table(replica)  # DDL entries keep the MySQL catalog rows there
        ensure_internal_tables(replica)
        if write_sets:
            apply_many(replica, list(zip(write_sets, (e.write_set for e in entries))))
        mine = database_checksums(conn, include_internal=True)
        theirs = database_checksums(replica, include_internal=True)
        if mine != theirs:
            diff = sorted(set(mine.items()) ^ set(theirs.items()))
            raise SqlViolation("log-replay", f"the log applied to an empty replica differs: "
                               f"{diff}")
    finally:
        replica.close()


def _accounts(conn: apsw.Connection) -> tuple[int, int]:
    if "acct" not in user_tables(conn):
        return 0, 0
    count, total = conn.execute("SELECT COUNT(*), COALESCE(SUM(bal), 0) FROM acct").fetchone()
    return count, total


def check_balance(conns: list[apsw.Connection]) -> None:
    """Transfers only move money, inside a database or between two: over the databases, the
    accounts hold what their setups put there, so no transfer is half there. (A database may
    hold none: power loss without fsync may take its setup.)"""
    held = [_accounts(conn) for conn in conns]
    count, total = sum(c for c, _ in held), sum(t for _, t in held)
    if any(c not in (0, ACCOUNTS) for c, _ in held) or total != count * ACCOUNT_BALANCE:
        raise SqlViolation("balance", f"(accounts, total) per database {held}; expected "
                           f"{ACCOUNTS} accounts holding {ACCOUNT_BALANCE} each, in all")


def check_no_promise(conn: apsw.Connection, database: str) -> None:
    """The restart's branch redo kept and deleted every promise (txn/DESIGN.md §10.2 step 4)."""
    (left,) = conn.execute(f"SELECT COUNT(*) FROM {PENDING_BRANCHES}").fetchone()
    if left:
        raise SqlViolation("promise-left", f"{database} still holds {left} promises to finish "
                           "a branch after the restart")


def check_files(conn: apsw.Connection) -> list[WriteSet]:
    entries = full_log(conn)
    write_sets = decode_log(entries)
    check_log(conn, entries, write_sets)
    check_versions(conn)
    check_replica(conn, entries, write_sets)
    return write_sets


# ---------------------------------------------------------------------- against the clients
def check_commit_order(order: list[TxnRecord], committed_batches: set[int], logged: int,
                       durable: bool, committed_durable: bool | None = None
                       ) -> list[TxnRecord]:
    """The transactions the log must hold, in order; raises if ``logged`` cannot be them.

    ``order``: every transaction that joined a batch, in join order, with its batch id.
    Batches whose COMMIT returned (``committed_batches``) are in; a batch that failed (any
    other batch but the last) is out; the last batch, if its COMMIT did not return, is
    undecided (the crash hit during it). Power loss without fsync may drop a suffix of whole
    batches. So the log must be a batch-aligned prefix of the candidates that contains every
    acknowledged transaction when the durability promise holds (``durable``), and every
    committed batch when COMMIT itself is durable (``committed_durable``, default
    ``durable``): with durability "fsync" the WAL is synced after COMMIT and only then are
    clients answered, so power loss may take committed batches nobody was told about."""
    if committed_durable is None:
        committed_durable = durable
    batches: list[list[TxnRecord]] = []
    for record in order:
        if batches and batches[-1][0].batch == record.batch:
            batches[-1].append(record)
        else:
            batches.append([record])
    candidates = [b for i, b in enumerate(batches)
                  if b[0].batch in committed_batches or i == len(batches) - 1]
    bounds, total = [0], 0
    for batch in candidates:
        total += len(batch)
        bounds.append(total)
    if logged > total:
        raise SqlViolation("phantom", f"{logged} transactions logged, only {total} were in "
                           "committed or undecided batches")
    if logged not in bounds:
        raise SqlViolation("torn-batch", f"{logged} transactions logged: not a whole number "
                           f"of batches (batch boundaries at {bounds})")
    present = [r for batch in candidates[:bounds.index(logged)] for r in batch]
    if durable:
        missing = {id(r) for r in present} ^ {id(r) for r in order}
        for record in order:
            if id(record) in missing and record.acked:
                raise SqlViolation("lost-ack", f"{record.tag} was acknowledged (batch "
                                   f"{record.batch}) but is not in the log ({logged} logged)")
        for batch in candidates[bounds.index(logged):]:
            if batch[0].batch not in committed_batches or not committed_durable:
                continue
            acked = [r.tag for r in batch if r.acked]
            kind = "lost-ack" if acked else "lost-commit"
            raise SqlViolation(kind, f"batch {batch[0].batch} ({[r.tag for r in batch]}, "
                               f"acknowledged: {acked}) committed but is not in the log "
                               f"({logged} logged)")
    for record in present:
        if record.end == "failed":
            raise SqlViolation("failed-present", f"{record.tag}: the client was told it "
                               "failed, yet it is committed")
        if record.end in ("rolled back", "abandoned"):
            raise SqlViolation("rolled-back-present", f"{record.tag} ended {record.end} "
                               "but is committed")
    return present


def _outcome(reply: Reply) -> Outcome:
    if reply.error is not None:
        return Outcome(error=reply.error.code)
    result: Any = reply.result
    return Outcome(affected_rows=getattr(result, "affected_rows", 0),
                   last_insert_id=getattr(result, "last_insert_id", 0))


class Reference:
    """A crash-free node replaying committed transactions serially. DATABASE2 gets the first
    ``setup2`` statements of its setup up front (they are not in DATABASE's commit order)."""

    def __init__(self, data_dir: Path, users: Any, now_ms: int, setup2: int):
        self.now_ms = now_ms
        self.node = Node(data_dir, users=users, node_id=1, now_ms=now_ms,
                         rng=random.Random(0))
        self.session_id = self.node.open_session("root", now_ms=now_ms)
        self._request = 0
        for sql in [f"CREATE DATABASE {DATABASE2}", *SETUP2_LOGGED[:setup2],
                    f"CREATE DATABASE {DATABASE}", f"USE {DATABASE}"]:
            if self.run(sql).error is not None:
                raise SqlViolation("reference", f"{sql!r} failed on the reference")

    def second_branches(self) -> int:
        """Transactions committed in DATABASE2 so far."""
        pipeline = self.node.state.pipelines.get(DATABASE2)
        return 0 if pipeline is None else pipeline.batched_txns

    def run(self, sql: str) -> Outcome:
        self._request += 1
        self.now_ms += 1
        self.node.submit(self.session_id, self._request, sql, now_ms=self.now_ms)
        replies = [o for o in self.node.take_outputs() if isinstance(o, Reply)]
        if len(replies) != 1:
            raise SqlViolation("reference", f"{sql!r}: {len(replies)} replies, expected 1")
        return _outcome(replies[0])

    def replay(self, record: TxnRecord) -> None:
        if record.explicit:
            self.run("BEGIN")
        for sql, seen in record.replayable():
            if sql.upper().startswith(("CREATE DATABASE", "USE ")):
                continue
            got = self.run(sql)
            if seen is not None and got != seen:
                raise SqlViolation("replay-outcome", f"{record.tag}: {sql!r} told the client "
                                   f"{seen.summary()}, a serial replay gives {got.summary()}")
        if record.explicit:
            got = self.run("COMMIT")
            if got.error is not None:
                raise SqlViolation("reference", f"{record.tag}: COMMIT failed {got.error}")

    def connection(self, database: str) -> apsw.Connection:
        state = self.node.state
        return state.read_connection(state.databases.get(database))

    def close(self) -> None:
        self.node.close()


def _changes(write_set: WriteSet) -> tuple[Any, ...]:
    return (tuple((c.table, int(c.op), c.old_key, c.new_key, c.before, c.after)
                  for c in write_set.changes),
            tuple((s.position, tuple(s.statements)) for s in write_set.schema_changes))


def _versions(conn: apsw.Connection) -> set[tuple[Any, ...]]:
    return set(conn.execute(f"SELECT tbl, pk, deleted FROM {ROW_VERSIONS}").fetchall())


def check_reference(run: SqlRun, logs: dict[str, tuple[apsw.Connection, list[WriteSet]]],
                    present: list[TxnRecord]) -> None:
    """Replay ``present`` (DATABASE's log, in its order) on a reference: DATABASE as written,
    DATABASE2 as data (its statements add to a balance, so their order does not matter), and
    each transaction that wrote DATABASE2 on the reference is in both logs, the others in
    DATABASE's only."""
    conn, write_sets = logs[DATABASE]
    conn2, write_sets2 = logs[DATABASE2]
    setup2 = min(len(write_sets2), len(SETUP2_LOGGED))
    with tempfile.TemporaryDirectory(prefix="marmot-sql-ref-", dir=run.root) as where:
        reference = Reference(Path(where), run.users, run.now_ms, setup2)
        try:
            spanning = []
            for record in present:
                before = reference.second_branches()
                reference.replay(record)
                spanning.append(reference.second_branches() > before)
            check_both_or_neither(write_sets, write_sets2[setup2:], present, spanning)
            run.spanning_count = sum(spanning)
            ref_conn = reference.connection(DATABASE)
            with reference.node.state.binding(ref_conn).trusted_scope():  # internal tables
                _compare_with_reference(conn, ref_conn, write_sets, present)
            ref_conn2 = reference.connection(DATABASE2)
            with reference.node.state.binding(ref_conn2).trusted_scope():
                _compare_data(conn2, ref_conn2, DATABASE2)
        finally:
            reference.close()


def check_both_or_neither(write_sets: list[WriteSet], second: list[WriteSet],
                          present: list[TxnRecord], spanning: list[bool]) -> None:
    """DATABASE2's log past its setup (``second``) holds exactly the second branches of the
    transactions of DATABASE's log that wrote DATABASE2 (``spanning``), each once: a
    transaction of two databases is in both logs or in neither."""
    expected = {w.txn_id.pack(): record.tag
                for w, record, spans in zip(write_sets, present, spanning) if spans}
    found = [w.txn_id.pack() for w in second]
    if len(set(found)) != len(found):
        raise SqlViolation("half-committed", f"{DATABASE2} logs a branch twice")
    only_first = sorted(tag for txn_id, tag in expected.items() if txn_id not in set(found))
    if only_first:
        raise SqlViolation("half-committed", f"{only_first} committed in {DATABASE} but "
                           f"not in {DATABASE2}")
    only_second = [txn_id for txn_id in found if txn_id not in expected]
    if only_second:
        raise SqlViolation("half-committed", f"{len(only_second)} transactions committed in "
                           f"{DATABASE2} whose first branch is not in {DATABASE}")


def _compare_with_reference(conn: apsw.Connection, ref_conn: apsw.Connection,
                            write_sets: list[WriteSet], present: list[TxnRecord]) -> None:
    ref_sets = decode_log(full_log(ref_conn))
    if len(ref_sets) != len(write_sets):
        raise SqlViolation("reference", f"reference logged {len(ref_sets)} transactions, "
                           f"the node {len(write_sets)}")
    for i, (mine, theirs) in enumerate(zip(write_sets, ref_sets)):
        if _changes(mine) != _changes(theirs):
            raise SqlViolation("write-set", f"log #{i + 1} ({present[i].tag}): "
                               f"{_changes(mine)} != reference {_changes(theirs)}")
    _compare_data(conn, ref_conn, DATABASE)


def _compare_data(conn: apsw.Connection, ref_conn: apsw.Connection, database: str) -> None:
    if database_checksums(conn) != database_checksums(ref_conn):
        raise SqlViolation("data", f"{database}'s tables differ from the reference: "
                           f"{database_checksums(conn)} vs {database_checksums(ref_conn)}")
    if _versions(conn) != _versions(ref_conn):
        raise SqlViolation("row-versions", f"{database}'s row keys/tombstones differ from "
                           "the reference")


def check_restart_write(node: Node, database: str, logged: int, now_ms: int) -> None:
    session_id = node.open_session("root", now_ms=now_ms, database=database)
    # DDL: it is logged like any write, and needs no table that power loss may have taken
    node.submit(session_id, 1, "CREATE TABLE after_restart (id INT PRIMARY KEY)",
                now_ms=now_ms)
    replies = [o for o in node.take_outputs() if isinstance(o, Reply)]
    if len(replies) != 1 or replies[0].error is not None:
        raise SqlViolation("restart-write", f"a write after restart got {replies}")
    state = node.state
    conn = state.read_connection(state.databases.get(database))
    with state.binding(conn).trusted_scope():  # the checker reads the internal tables
        last = full_log(conn)[-1]
    if (last.origin, last.origin_seq) != (1, logged + 1):
        raise SqlViolation("restart-write", f"the write after restart in {database} was "
                           f"logged as "
                           f"{last.origin}:{last.origin_seq}, expected 1:{logged + 1}")


def check_run(run: SqlRun, node: Node) -> None:
    state = node.state
    with contextlib.ExitStack() as stack:
        conns = {}
        for database in (DATABASE, DATABASE2):
            if not state.databases.exists(database):
                raise SqlViolation("lost-database", f"database {database} is gone after "
                                   "restart")
            conn = conns[database] = state.read_connection(state.databases.get(database))
            stack.enter_context(state.binding(conn).trusted_scope())  # internal tables
        _check_node_files(run, node, conns)


def _check_node_files(run: SqlRun, node: Node, conns: dict[str, apsw.Connection]) -> None:
    try:
        logs = {database: (conn, check_files(conn)) for database, conn in conns.items()}
    except MarmotError as exc:
        raise SqlViolation("files", str(exc)) from None
    check_balance(list(conns.values()))
    logged = len(logs[DATABASE][1])
    run.committed_count = logged
    power = run.crash_plan.mode == "power"
    present = check_commit_order(run.commit_order, run.committed_batches, logged,
                                 durable=not (power and run.durability == "normal"),
                                 committed_durable=not power)
    check_reference(run, logs, present)
    for database, (conn, write_sets) in logs.items():
        check_no_promise(conn, database)
        check_restart_write(node, database, len(write_sets), run.now_ms + 1)
