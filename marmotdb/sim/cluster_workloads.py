"""Cluster workloads: clients on every node, the operations they run, and their history.

Four workloads share one database (so their transactions share batches and rounds), each on
its own table and each with the property a checker verifies after the heal
(cluster_invariants.py):

    bank      transfers between accounts in explicit transactions (read, debit, credit,
              COMMIT) and reads of the total (LOCAL or QUORUM): the total never changes
    set       inserts of unique ids (some clients at level ONE): every acknowledged id is
              present at the end, no id whose insert failed is
    counter   ``UPDATE counter SET n = n + 1`` from every node (autocommit: a lost conflict is
              retried by the node): the final value lies between the acknowledged increments
              and those plus the unknown ones
    register  per key: read-modify-writes in explicit transactions (the value read becomes
              ``prev``), blind writes, and reads; values are unique, so the committed writes
              of a key must form one chain (first committer wins: no two committed writes
              based on the same prior version) and no read returns a failed write's value
    ddl       (scenario ``cluster-ddl`` only) one client on node 1 cycles through DDL on the
              bank table under the transfers — an index, a column, a rebuild, a side table —
              and back: every replica ends with the same schema (``schema-drift``) and the
              bank total holds throughout

An ``Operation`` is one entry of the history: invocation and completion time (global µs),
the node, the outcome as the client knows it — ``ok``, ``fail`` (1213 conflict, 1047 quorum
not reachable, 1205 lock wait: definitely not committed; a statement of an explicit
transaction failed or the session died before its COMMIT was sent) or ``unknown`` (1180, or
the node died while the COMMIT or the autocommit write was in flight) — and what it read.
Its ``script`` is a generator: it yields SQL and is sent each statement's ``Reply``.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from marmotdb.node import Reply

if TYPE_CHECKING:
    from marmotdb.sim.cluster_clients import ClusterClient

DATABASE = "simdb"
BANK_ACCOUNTS = 5
BANK_BALANCE = 100
REGISTER_KEYS = 3
WORKLOADS = ("bank", "set", "counter", "register")
# The ddl client's cycle: after the last statement the schema is the start's again.
DDL_CYCLE = (
    "ALTER TABLE bank ADD INDEX bal_ix (bal)",
    "ALTER TABLE bank ADD COLUMN note INT NOT NULL DEFAULT 0",
    "ALTER TABLE bank MODIFY note BIGINT NOT NULL DEFAULT 1",  # a table rebuild
    "CREATE TABLE IF NOT EXISTS side (id INT PRIMARY KEY, v INT)",
    "ALTER TABLE bank DROP INDEX bal_ix",
    "ALTER TABLE bank DROP COLUMN note",
    "DROP TABLE IF EXISTS side",
)
# what a cycle statement may answer when an earlier one did not commit (1213, 1047) or did
# although its outcome was unknown (1180): the column or index is there already (1060, 1061),
# or not there (1054, 1091)
DDL_ERRORS = frozenset({1054, 1060, 1061, 1091})

SETUP = [
    "CREATE TABLE bank (id INT PRIMARY KEY, bal INT NOT NULL)",
    "CREATE TABLE sset (id INT PRIMARY KEY, client INT NOT NULL)",
    "CREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL)",
    "CREATE TABLE reg (k INT PRIMARY KEY, v INT NOT NULL, prev INT NOT NULL)",
    "INSERT INTO bank (id, bal) VALUES " + ", ".join(
        f"({i}, {BANK_BALANCE})" for i in range(1, BANK_ACCOUNTS + 1)),
    "INSERT INTO counter (id, n) VALUES (1, 0)",
    "INSERT INTO reg (k, v, prev) VALUES " + ", ".join(
        f"({k}, 0, 0)" for k in range(1, REGISTER_KEYS + 1)),
]

# error codes by what they mean for the transaction
NOT_COMMITTED = frozenset({1213, 1047, 1205})  # conflict, quorum not reachable, lock wait
OUTCOME_UNKNOWN = frozenset({1180})

Script = Generator[str, Reply, None]


@dataclass
class Operation:
    client: int
    node_id: int
    workload: str
    kind: str                    # transfer, total, insert, increment, rmw, write, read
    explicit: bool               # BEGIN ... COMMIT: the commit point is the COMMIT
    writes: bool                 # False: a read, it commits nothing
    level: str                   # the session's write level
    read_level: str              # the session's read level (LOCAL or QUORUM)
    key: int | None = None
    value: int | None = None     # the value written (unique per run) or the amount moved
    invoke_us: int = 0
    complete_us: int | None = None
    outcome: str = "pending"     # ok | fail | unknown
    error: int | None = None
    error_text: str = ""         # the error's message, for reports
    read: Any = None             # what a read (or the read of a read-modify-write) saw
    script: Script | None = field(default=None, repr=False)

    def describe(self) -> str:
        what = f"{self.kind}(key={self.key}, value={self.value})"
        level = self.level if self.writes else self.read_level
        return (f"client {self.client} on node {self.node_id}: {what} at {level} "
                f"[{self.invoke_us / 1e6:.3f}s..{(self.complete_us or 0) / 1e6:.3f}s] "
                f"{self.outcome}{'' if self.error is None else f' ({self.error})'}")


def _rows(reply: Reply) -> list[tuple[Any, ...]]:
    return list(getattr(reply.result, "rows", []))


# ---------------------------------------------------------------------- scripts
def transfer(op: Operation, src: int, dst: int, amount: int) -> Script:
    yield "BEGIN"
    reply = yield f"SELECT id, bal FROM bank WHERE id IN ({src}, {dst}) ORDER BY id"
    op.read = _rows(reply)
    yield f"UPDATE bank SET bal = bal - {amount} WHERE id = {src}"
    yield f"UPDATE bank SET bal = bal + {amount} WHERE id = {dst}"
    yield "COMMIT"


def bank_total(op: Operation) -> Script:
    reply = yield "SELECT COUNT(*), SUM(bal) FROM bank"
    op.read = tuple(_rows(reply)[0])


def insert(op: Operation) -> Script:
    yield f"INSERT INTO sset (id, client) VALUES ({op.value}, {op.client})"


def increment(op: Operation) -> Script:
    yield "UPDATE counter SET n = n + 1 WHERE id = 1"


def read_counter(op: Operation) -> Script:
    reply = yield "SELECT n FROM counter WHERE id = 1"
    op.read = _rows(reply)[0][0]


def read_modify_write(op: Operation) -> Script:
    yield "BEGIN"
    reply = yield f"SELECT v FROM reg WHERE k = {op.key} FOR UPDATE"
    op.read = _rows(reply)[0][0]
    yield f"UPDATE reg SET v = {op.value}, prev = {op.read} WHERE k = {op.key}"
    yield "COMMIT"


def blind_write(op: Operation) -> Script:
    yield f"UPDATE reg SET prev = v, v = {op.value} WHERE k = {op.key}"


def ddl(op: Operation, statement: str) -> Script:
    yield statement


def read_register(op: Operation) -> Script:
    reply = yield f"SELECT v FROM reg WHERE k = {op.key}"
    op.read = _rows(reply)[0][0]


# ---------------------------------------------------------------------- choosing operations
class Workload:
    """Draws a client's next operation; ``values`` hands out run-unique values."""

    def __init__(self, name: str, values: Values):
        self.name = name
        self._values = values
        self._ddl_next = 0  # the ddl client's place in DDL_CYCLE

    def next(self, client: ClusterClient) -> Operation:
        make = getattr(self, "_" + self.name)
        return make(client, client.rng)  # type: ignore[no-any-return]

    def _op(self, client: ClusterClient, kind: str, explicit: bool, writes: bool,
            key: int | None = None, value: int | None = None) -> Operation:
        return Operation(client.index, client.node_id, self.name, kind, explicit, writes,
                         client.level, client.read_level, key, value)

    def _bank(self, client: ClusterClient, rng: random.Random) -> Operation:
        if rng.random() < 0.3:
            op = self._op(client, "total", False, False)
            op.script = bank_total(op)
            return op
        src, dst = rng.sample(range(1, BANK_ACCOUNTS + 1), 2)
        op = self._op(client, "transfer", True, True, value=rng.randint(1, 20))
        op.script = transfer(op, src, dst, op.value or 0)
        return op

    def _set(self, client: ClusterClient, rng: random.Random) -> Operation:
        op = self._op(client, "insert", False, True, value=self._values.take())
        op.script = insert(op)
        return op

    def _counter(self, client: ClusterClient, rng: random.Random) -> Operation:
        if rng.random() < 0.2:
            op = self._op(client, "read", False, False)
            op.script = read_counter(op)
            return op
        op = self._op(client, "increment", False, True)
        op.script = increment(op)
        return op

    def _register(self, client: ClusterClient, rng: random.Random) -> Operation:
        key = rng.randint(1, REGISTER_KEYS)
        roll = rng.random()
        if roll < 0.25:
            op = self._op(client, "read", False, False, key=key)
            op.script = read_register(op)
        elif roll < 0.7:
            op = self._op(client, "rmw", True, True, key=key, value=self._values.take())
            op.script = read_modify_write(op)
        else:
            op = self._op(client, "write", False, True, key=key, value=self._values.take())
            op.script = blind_write(op)
        return op


    def _ddl(self, client: ClusterClient, rng: random.Random) -> Operation:
        op = self._op(client, "ddl", False, True, value=self._ddl_next)
        op.script = ddl(op, DDL_CYCLE[self._ddl_next % len(DDL_CYCLE)])
        self._ddl_next += 1
        return op


class Values:
    """Unique positive values for one run (set ids, register values)."""

    def __init__(self) -> None:
        self._last = 0

    def take(self) -> int:
        self._last += 1
        return self._last
