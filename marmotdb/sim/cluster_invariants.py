"""Cluster invariants: what every replica and the clients' history must show after the heal.

After the faults are healed, crashed nodes restarted and the cluster left to quiesce, the
checker reads every node's database (``Replica``) and judges the history. Each violation is
either a **safety** violation — wrong even if the cluster never converged (DESIGN §4.1) — or
a **convergence** violation — the cluster did not (yet) reach the state the full design
promises after a heal (catch-up, recovery):

    safety        split-decision     a transaction committed on one node, aborted on another
                                     (an aborted member is logged as an abort marker: an
                                     empty write set), or two nodes logged different ones
                  failed-committed   a write whose client got 1213/1047/1205 is committed
                  lost-ack           an acknowledged write is on no node at all
                  bank-total         a read (LOCAL or QUORUM: replicas apply in causal order),
                                     or a replica holding every transaction any replica
                                     holds, saw a total other than the start's
                  counter-over       a counter above acknowledged + unknown increments
                  lost-update        two committed writes of a register key based on the same
                                     prior value (first committer wins broken)
                  read-uncommitted   a read returned a value no committed write wrote
                  rmw-read           a read-modify-write's locked read is not the prior value
                                     of its own committed write
                  files              a replica's own files disagree (row versions vs rows, the
                                     log replayed on an empty database vs the data, the log's
                                     applied vector)
                  internal-error     a node answered 1105, or a client saw an error the
                                     protocol does not give
    convergence   diverged           replicas' per-table checksums differ
                  schema-drift       replicas' schemas differ (SQLite's schema rows, the
                                     MySQL bookkeeping, the schema version)
                  log-gap            a replica's log misses origin sequences
                  missing-ack        an acknowledged write is missing on some replica
                  undecided          intents, or txn-store records of instances not applied
                                     here, left after quiescence
                  unforgotten        txn-store records of instances applied here (a leak:
                                     "a record is forgotten once the outcome is applied")
                  no-reply           a client never got an answer
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import apsw

from marmotdb.sim import sql_invariants
from marmotdb.sim.cluster_workloads import (
    BANK_ACCOUNTS,
    BANK_BALANCE,
    DATABASE,
    DDL_ERRORS,
    NOT_COMMITTED,
    OUTCOME_UNKNOWN,
    Operation,
)
from marmotdb.sim.cluster_world import ClusterWorld
from marmotdb.sim.sql_invariants import SqlViolation
from marmotdb.storage import schema_guard
from marmotdb.storage.checksum import database_checksums
from marmotdb.storage.commitlog import iter_log
from marmotdb.storage.writeset import WriteSet, decode_write_set
from marmotdb.txn.txn_store import Instance, InstanceRecord

LogKey = tuple[int, int]  # (origin, origin sequence)
CONVERGENCE = frozenset({"diverged", "schema-drift", "log-gap", "missing-ack", "undecided",
                         "unforgotten", "no-reply"})
EXPECTED_ERRORS = NOT_COMMITTED | OUTCOME_UNKNOWN
BANK_TOTAL = (BANK_ACCOUNTS, BANK_ACCOUNTS * BANK_BALANCE)


@dataclasses.dataclass(frozen=True)
class ClusterViolation:
    kind: str
    detail: str

    @property
    def safety(self) -> bool:
        return self.kind not in CONVERGENCE

    def __str__(self) -> str:
        return f"[{self.kind}] {self.detail}"


@dataclasses.dataclass
class Replica:
    """What one node holds after quiescence."""

    node_id: int
    log: dict[LogKey, bytes]
    write_sets: dict[LogKey, WriteSet]
    checksums: dict[str, Any]
    tables: dict[str, list[tuple[Any, ...]]]
    undecided: list[Instance]       # txn-store records of instances not applied here
    unforgotten: list[Instance]     # txn-store records of instances applied here
    intents: int
    file_problem: SqlViolation | None
    schema: tuple[Any, ...] = ()    # catalog objects and schema version (schema_guard.py)

    def committed(self, key: LogKey) -> bool:
        ws = self.write_sets[key]
        return bool(ws.changes or ws.schema_changes)


def read_replica(world: ClusterWorld, node_id: int) -> Replica:
    node = world.machines[node_id].node
    assert node is not None and node.cluster is not None

    def read(conn: apsw.Connection) -> Replica:
        entries = list(iter_log(conn))
        decoded = [decode_write_set(e.write_set) for e in entries]
        log = {(e.origin, e.origin_seq): e.write_set for e in entries}
        present = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table'")}
        tables = {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
                  if t in present else [] for t in ("bank", "sset", "counter", "reg")}
        records = node.cluster.store.load()  # type: ignore[union-attr]
        applied = [i for i, r in records.items() if _applied(i, r, log)]
        schema = (tuple(sorted(schema_guard.catalog_objects(conn).items())),
                  schema_guard.schema_version(conn))
        return Replica(node_id, log, dict(zip(log, decoded)), database_checksums(conn),
                       tables, sorted(set(records) - set(applied)), sorted(applied),
                       len(node.cluster.intents),  # type: ignore[union-attr]
                       _file_problem(conn, entries, decoded), schema)
    return world.read_database(node_id, DATABASE, read)  # type: ignore[no-any-return]


def _applied(instance: Instance, record: InstanceRecord, log: dict[LogKey, bytes]) -> bool:
    """Is every member of the instance in the log (committed or as an abort marker)?"""
    members = len(record.write_sets) or len(record.vector or [])
    coordinator, _, batch = instance
    return members > 0 and all((coordinator, batch + i) in log for i in range(members))


def _file_problem(conn: apsw.Connection, entries: list[Any], decoded: list[WriteSet]
                  ) -> SqlViolation | None:
    """The single-node file checks of the SQL simulator; a gap in an origin's sequence is
    the convergence check's (``log-gap``), so the log check runs only without one, and a
    replica may have applied an origin's transactions in any order (storage/commitlog.py)."""
    try:
        sql_invariants.check_versions(conn)
        sql_invariants.check_replica(conn, entries, decoded)
        if not _gaps({(e.origin, e.origin_seq) for e in entries}):
            sql_invariants.check_log(conn, entries, decoded, in_order=False)
    except SqlViolation as exc:
        return exc
    return None


def _gaps(keys: set[LogKey]) -> list[LogKey]:
    highest: dict[int, int] = defaultdict(int)
    for origin, seq in keys:
        highest[origin] = max(highest[origin], seq)
    return [(o, s) for o, top in sorted(highest.items()) for s in range(1, top + 1)
            if (o, s) not in keys]


class ClusterChecker:
    """Judges the replicas and the history; ``violations`` lists every finding."""

    def __init__(self, replicas: list[Replica], history: list[Operation],
                 internal_errors: list[str]):
        self.replicas = replicas
        self.history = history
        self.internal_errors = internal_errors
        self.violations: list[ClusterViolation] = []
        self.committed: dict[LogKey, WriteSet] = {}   # in any replica's log
        self.logged: set[LogKey] = set().union(*(set(r.log) for r in replicas))

    def check(self) -> list[ClusterViolation]:
        for step in (self._decisions, self._files, self._quiescence, self._convergence,
                     self._schema, self._errors, self._bank, self._set, self._counter,
                     self._register):
            step()
        return self.violations

    def _fail(self, kind: str, detail: str) -> None:
        self.violations.append(ClusterViolation(kind, detail))

    def _ops(self, workload: str, kind: str | None = None, outcome: str | None = None
             ) -> list[Operation]:
        return [op for op in self.history if op.workload == workload
                and (kind is None or op.kind == kind)
                and (outcome is None or op.outcome == outcome)]

    # ------------------------------------------------------------------ replicas
    def _decisions(self) -> None:
        seen: dict[LogKey, tuple[int, bytes]] = {}
        for replica in self.replicas:
            for key, encoded in replica.log.items():
                if replica.committed(key):
                    self.committed[key] = replica.write_sets[key]
                first = seen.setdefault(key, (replica.node_id, encoded))
                if first[1] == encoded:
                    continue
                other = next(r for r in self.replicas if r.node_id == first[0])
                verdicts = {other.committed(key), replica.committed(key)}
                kind = "split-decision" if verdicts == {True, False} else "decision-differs"
                self._fail(kind, f"origin {key[0]} seq {key[1]}: node {first[0]} logged "
                           f"{_decision(other, key)}, node {replica.node_id} "
                           f"{_decision(replica, key)}")

    def _files(self) -> None:
        for replica in self.replicas:
            if replica.file_problem is not None:
                self._fail("files", f"node {replica.node_id}: {replica.file_problem}")
            gaps = _gaps(set(replica.log))
            if gaps:
                self._fail("log-gap", f"node {replica.node_id} misses {_keys(gaps)}")

    def _quiescence(self) -> None:
        for replica in self.replicas:
            if replica.undecided or replica.intents:
                self._fail("undecided", f"node {replica.node_id} still holds "
                           f"{replica.intents} intents and the txn-store records of "
                           f"{_instances(replica.undecided)}, not applied here")
            if replica.unforgotten:
                self._fail("unforgotten", f"node {replica.node_id} applied "
                           f"{_instances(replica.unforgotten)} but keeps their txn-store "
                           "records")

    def _convergence(self) -> None:
        first = self.replicas[0]
        for replica in self.replicas[1:]:
            if replica.checksums == first.checksums:
                continue
            tables = sorted(t for t in set(first.checksums) | set(replica.checksums)
                            if first.checksums.get(t) != replica.checksums.get(t))
            missing = {r.node_id: _keys(sorted(self.logged - set(r.log)))
                       for r in self.replicas if self.logged - set(r.log)}
            self._fail("diverged", f"node {replica.node_id} differs from node "
                       f"{first.node_id} in {tables}; log entries missing: {missing}")
            return

    def _schema(self) -> None:
        first = self.replicas[0]
        for replica in self.replicas[1:]:
            if replica.schema != first.schema:
                mine, theirs = dict(first.schema[0]), dict(replica.schema[0])
                differ = sorted(k for k in mine.keys() | theirs.keys()
                                if mine.get(k) != theirs.get(k))
                self._fail("schema-drift", f"node {replica.node_id} differs from node "
                           f"{first.node_id} in {differ} (schema versions "
                           f"{replica.schema[1]} and {first.schema[1]})")
                return

    def _errors(self) -> None:
        for error in self.internal_errors:
            self._fail("internal-error", error)
        for op in self.history:
            expected = EXPECTED_ERRORS | DDL_ERRORS if op.workload == "ddl" else EXPECTED_ERRORS
            if op.error is not None and op.error not in expected:
                self._fail("internal-error", f"unexpected error: {op.describe()}: "
                           f"{op.error_text}")
            if op.outcome == "pending":
                self._fail("no-reply", op.describe())

    # ------------------------------------------------------------------ workloads
    def _bank(self) -> None:
        for op in self._ops("bank", "total", "ok"):
            if op.read != BANK_TOTAL:
                self._fail("bank-total", f"read {op.read}, expected {BANK_TOTAL}: "
                           f"{op.describe()}")
        for replica in self.replicas:
            if self.logged - set(replica.log):
                continue  # it may hold half of what a missing transaction built on
            rows = replica.tables["bank"]  # id, bal (and a column the ddl client adds)
            total = (len(rows), sum(row[1] for row in rows))
            if total != BANK_TOTAL:
                self._fail("bank-total", f"node {replica.node_id} holds {total}")

    def _set(self) -> None:
        held = {r.node_id: {row[0] for row in r.tables["sset"]} for r in self.replicas}
        anywhere = set().union(*held.values())
        for op in self._ops("set", "insert"):
            if op.outcome == "ok":
                self._acked_present(op, op.value, held, anywhere)
            elif op.outcome == "fail" and op.value in anywhere:
                self._fail("failed-committed", op.describe())

    def _acked_present(self, op: Operation, value: Any, held: dict[int, set[Any]],
                       anywhere: set[Any]) -> None:
        if value not in anywhere:
            self._fail("lost-ack", op.describe())
            return
        lacking = sorted(node for node, values in held.items() if value not in values)
        if lacking:
            self._fail("missing-ack", f"nodes {lacking} lack it: {op.describe()}")

    def _counter(self) -> None:
        increments = self._ops("counter", "increment")
        acked = sum(op.outcome == "ok" for op in increments)
        unknown = sum(op.outcome == "unknown" for op in increments)
        values = {r.node_id: r.tables["counter"][0][1] for r in self.replicas}
        for node_id, value in values.items():
            if value > acked + unknown:
                self._fail("counter-over", f"node {node_id} counts {value}; acknowledged "
                           f"{acked}, unknown {unknown}")
        if max(values.values()) < acked:
            self._fail("lost-ack", f"counter at most {max(values.values())} on every node, "
                       f"{acked} increments acknowledged")
        elif min(values.values()) < acked:
            self._fail("missing-ack", f"counter values {values}, {acked} acknowledged")
        for op in self._ops("counter", "read", "ok"):
            invoked = sum(1 for i in increments if i.invoke_us <= (op.complete_us or 0))
            if op.read > invoked:
                self._fail("counter-over", f"read {op.read} with {invoked} increments "
                           f"invoked: {op.describe()}")

    def _register(self) -> None:
        writes = _register_writes(self.committed.values())
        by_value = {after: (key, before) for key, before, after in writes}
        based: dict[tuple[int, int], int] = {}
        for key, before, after in writes:
            other = based.setdefault((key, before), after)
            if other != after:
                self._fail("lost-update", f"key {key}: committed writes {other} and {after} "
                           f"are both based on value {before}")
        held = {r.node_id: {row[1] for row in r.tables["reg"]} for r in self.replicas}
        for op in self._ops("register"):
            self._register_op(op, by_value, held)

    def _register_op(self, op: Operation, by_value: dict[int, tuple[int, int]],
                     held: dict[int, set[int]]) -> None:
        if op.kind == "read":
            if op.outcome == "ok" and op.read != 0 and op.read not in by_value:
                self._fail("read-uncommitted", op.describe() + f" read {op.read}")
            return
        committed = by_value.get(op.value or 0)
        if op.outcome == "fail" and committed is not None:
            self._fail("failed-committed", op.describe())
        if op.outcome == "ok" and committed is None:
            self._fail("lost-ack", op.describe())
        if op.kind == "rmw" and op.outcome == "ok" and committed is not None \
                and committed[1] != op.read:
            self._fail("rmw-read", f"{op.describe()} read {op.read}, its committed write "
                       f"replaced {committed[1]}")


def _register_writes(write_sets: Any) -> list[tuple[int, int, int]]:
    """(key, value before, value after) of every committed register update."""
    writes = []
    for ws in write_sets:
        for change in ws.changes:
            if change.table == "reg" and change.before is not None and change.after is not None:
                writes.append((change.after[0], change.before[1], change.after[1]))
    return sorted(writes)


def _decision(replica: Replica, key: LogKey) -> str:
    ws = replica.write_sets[key]
    if not replica.committed(key):
        return "an abort marker"
    return f"a commit ({len(ws.changes)} rows, {len(ws.schema_changes)} DDL)"


def _instances(instances: list[Instance]) -> str:
    return _keys([(coordinator, batch) for coordinator, _, batch in instances])


def _keys(keys: list[LogKey]) -> str:
    shown = ", ".join(f"{o}:{s}" for o, s in keys[:8])
    return shown + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
