"""SQL workloads: simulated MySQL clients and the transactions they run, drawn from a seed.

Each ``Client`` runs transactions one after the other on its own session; each transaction
(a ``TxnRecord``) is a script of statements drawn up front from the client's ``random.Random``
and records every statement's outcome as the client saw it. The mix:

* autocommit statements: INSERT (multi-row, sometimes colliding on the key so the statement
  fails after its first row), UPDATE, DELETE, REPLACE, INSERT … ON DUPLICATE KEY UPDATE,
  AUTO_INCREMENT inserts, statements failing mid-way (a UNIQUE or NOT NULL violation on a
  later row);
* DDL now and then (TRUNCATE, CREATE/DROP INDEX, failing when repeated), and a child table
  with ON DELETE CASCADE, so cascaded deletes and schema entries are in the write sets;
* explicit transactions: BEGIN (or SET autocommit = 0, ended by SET autocommit = 1), 1-6 of
  those plus reads, locking reads (FOR UPDATE), transfers between accounts and transfers
  between an account of each database (``DATABASE2``: one UPDATE in each, so the transaction
  writes two databases; on an error that could leave half of one the client rolls back), a
  SAVEPOINT with a later ROLLBACK TO or RELEASE (never splitting a transfer), then COMMIT
  (80%), ROLLBACK (15%) or the client disconnecting (5%: the node rolls it back);
* think times inside transactions longer than some sessions' ``innodb_lock_wait_timeout``,
  so lock waits time out (1205) on the node's own timers.

Transfers only move money (``acct`` of both databases): the total balance over both is an
application invariant that any half-applied transaction breaks, whatever the reference replay
says.
Every statement is blind or state-derived the same way on every replay, so replaying the
committed transactions in commit order on a fresh node must reproduce the outcomes the clients
saw (``sql_invariants.reference_replay``).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from marmotdb.txn.wal_sync import ER_ERROR_DURING_COMMIT

DATABASE = "simdb"
ACCOUNTS = 8
ACCOUNT_BALANCE = 1000
ITEM_KEYS = 40

SETUP = [
    f"CREATE DATABASE {DATABASE}",
    f"USE {DATABASE}",
    "CREATE TABLE acct (id INT PRIMARY KEY, bal INT NOT NULL, note VARCHAR(40))",
    "CREATE TABLE item (id INT PRIMARY KEY, tag VARCHAR(60) NOT NULL, qty INT NOT NULL, "
    "UNIQUE KEY uq_item_tag (tag))",
    "CREATE TABLE event (id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(60), n INT)",
    "CREATE TABLE note (id INT PRIMARY KEY, item_id INT NOT NULL, body VARCHAR(60), "
    "FOREIGN KEY (item_id) REFERENCES item (id) ON DELETE CASCADE)",
    "INSERT INTO acct (id, bal, note) VALUES " + ", ".join(
        f"({i}, {ACCOUNT_BALANCE}, 'open')" for i in range(1, ACCOUNTS + 1)),
]
# The second database: accounts only, written by the second half of a cross-database transfer
# (``Client._cross_transfer``), so every transaction writing it writes DATABASE first.
DATABASE2 = "simdb2"
SETUP2_LOGGED = [  # its statements that are logged in its commit log, in order
    f"CREATE TABLE {DATABASE2}.acct (id INT PRIMARY KEY, bal INT NOT NULL)",
    f"INSERT INTO {DATABASE2}.acct (id, bal) VALUES " + ", ".join(
        f"({i}, {ACCOUNT_BALANCE})" for i in range(1, ACCOUNTS + 1)),
]
SETUP += [f"CREATE DATABASE {DATABASE2}", *SETUP2_LOGGED]

# Clients that run DDL: all of them (the most a run draws), so concurrent DDL statements
# share group-commit batches. It was one while two DDL statements of one batch were validated
# against the committed catalog instead of the batch they ran in (seeds 1212, 1382, 1783, 1955,
# 2477 with 12; fixed, tests/test_node.py::test_concurrent_ddl_sees_the_batch_it_runs_in).
DDL_CLIENTS_DEFAULT = 12
DDL_CLIENTS = int(os.environ.get("MARMOT_SIM_DDL_CLIENTS", DDL_CLIENTS_DEFAULT))

CROSS_TRANSFER_P = 0.3  # share of an explicit transaction's units moving money across databases

AUTOCOMMIT_OFF = "SET autocommit = 0"
AUTOCOMMIT_ON = "SET autocommit = 1"

# Errors that depend on timing, not on the data: the statement never ran (or its effect was
# undone), so a serial replay must skip it rather than expect the same error.
TIMING_ERRORS = frozenset({1205, 1213, 1317})


@dataclass
class Outcome:
    error: int | None = None
    affected_rows: int = 0
    last_insert_id: int = 0

    def summary(self) -> str:
        if self.error is not None:
            return f"err {self.error}"
        return f"ok {self.affected_rows} {self.last_insert_id}"


@dataclass
class TxnRecord:
    """One client transaction: its statements, what the client was told, how it ended."""

    tag: str
    client: int
    explicit: bool
    script: list[str]
    outcomes: list[Outcome | None] = field(default_factory=list)
    # running | committed (acked) | failed | rolled back | abandoned (client left between
    # statements: rolled back) | disconnected (left with a statement in flight: undecided)
    end: str = "running"
    joined_index: int | None = None  # position in the node's commit order, if it joined a batch
    batch: int | None = None         # the batch COMMIT it joined (1-based count)

    @property
    def acked(self) -> bool:
        return self.end == "committed"

    def replayable(self) -> list[tuple[str, Outcome | None]]:
        """The statements a serial replay runs, with the outcome the client saw (None for the
        statement in flight at the crash: a COMMIT whose batch made it, its reply did not)."""
        out: list[tuple[str, Outcome | None]] = []
        seen: list[Outcome | None] = [*self.outcomes, None]
        for sql, outcome in zip(self.script, seen):
            if outcome is not None and outcome.error is not None \
                    and outcome.error in TIMING_ERRORS:
                continue
            if outcome is not None and outcome.error == ER_ERROR_DURING_COMMIT:
                outcome = None  # committed, durability unknown: its result was never told
            head = sql.split(None, 1)[0].upper()
            if head in ("SELECT", "BEGIN", "COMMIT", "DISCONNECT", "SET") \
                    or sql.upper() == "ROLLBACK":
                continue
            out.append((sql, outcome))
        return out


class Client:
    """One simulated MySQL client: a session on the node and a queue of transactions."""

    def __init__(self, index: int, rng: random.Random, txns: int, explicit_p: float = 0.55):
        self.index = index
        self.rng = rng
        self.session_id: int | None = None
        self.txns_left = txns
        self.explicit_p = explicit_p  # share of explicit transactions (the rest: autocommit)
        self.serial = 0
        self.current: TxnRecord | None = None
        self.pending_request: int | None = None  # the request whose reply it waits for
        self.position = 0
        self.lock_wait_timeout_s = rng.choice([1, 2, 5, 50])
        self.history: list[TxnRecord] = []

    # ------------------------------------------------------------------ scripts
    def next_transaction(self) -> TxnRecord | None:
        if self.txns_left <= 0:
            return None
        self.txns_left -= 1
        self.serial += 1
        tag = f"c{self.index}-{self.serial}"
        rng = self.rng
        if rng.random() >= self.explicit_p:
            record = TxnRecord(tag, self.index, False, [self._statement(tag, 0)])
        else:
            record = TxnRecord(tag, self.index, True, self._explicit(tag))
        self.current, self.position = record, 0
        self.history.append(record)
        return record

    def _explicit(self, tag: str) -> list[str]:
        rng = self.rng
        units = [self._cross_transfer(tag, i) if rng.random() < CROSS_TRANSFER_P
                 else [self._statement(tag, i, explicit=True)]
                 for i in range(rng.randint(1, 6))]
        if rng.random() < 0.35:  # a savepoint never splits a unit: a transfer stays whole
            at = rng.randint(0, len(units))
            later = rng.randint(at, len(units))
            undo = "ROLLBACK TO SAVEPOINT sp1" if rng.random() < 0.6 else "RELEASE SAVEPOINT sp1"
            units = units[:at] + [["SAVEPOINT sp1"]] + units[at:later] + [[undo]] + units[later:]
        body = [sql for unit in units for sql in unit]
        roll = rng.random()
        end = "COMMIT" if roll < 0.80 else ("ROLLBACK" if roll < 0.95 else "DISCONNECT")
        if rng.random() < 0.25:  # autocommit=0: the first statement opens the transaction,
            ends = {"COMMIT": [AUTOCOMMIT_ON],  # switching autocommit back on commits it
                    "ROLLBACK": ["ROLLBACK", AUTOCOMMIT_ON], "DISCONNECT": ["DISCONNECT"]}
            return [AUTOCOMMIT_OFF, *body, *ends[end]]
        return ["BEGIN", *body, end]

    def _cross_transfer(self, tag: str, i: int) -> list[str]:
        """Money between an account of each database, one statement per database, DATABASE
        first (so it is the transaction's first branch). Both statements change one row
        whatever ran before them, so their outcomes do not depend on the commit order."""
        rng = self.rng
        delta = rng.choice([-1, 1]) * rng.randint(1, 50)
        return [f"UPDATE acct SET bal = bal - ({delta}), note = '{tag}-{i}' "
                f"WHERE id = {rng.randint(1, ACCOUNTS)}",
                f"UPDATE {DATABASE2}.acct SET bal = bal + ({delta}) "
                f"WHERE id = {rng.randint(1, ACCOUNTS)}"]

    def _statement(self, tag: str, i: int, explicit: bool = False) -> str:
        rng = self.rng
        key = rng.randint(1, ITEM_KEYS)
        kinds = ["insert", "insert", "update", "delete", "replace", "upsert", "event",
                 "fail_unique", "fail_null", "note", "note"]
        if explicit:
            kinds += ["transfer", "transfer", "select", "for_update"]
        elif self.index < DDL_CLIENTS and rng.random() < 0.08:  # DDL: autocommit only
            kinds = ["truncate", "create_index", "drop_index"]
        kind = rng.choice(kinds)
        item_tag = f"{tag}-{i}"
        if kind == "insert":
            rows = [f"({key + j}, '{item_tag}-{j}', {rng.randint(1, 9)})"
                    for j in range(rng.randint(1, 3))]
            return "INSERT INTO item (id, tag, qty) VALUES " + ", ".join(rows)
        if kind == "update":
            return (f"UPDATE item SET qty = qty + {rng.randint(1, 5)} "
                    f"WHERE id BETWEEN {key} AND {key + rng.randint(0, 3)}")
        if kind == "delete":
            return f"DELETE FROM item WHERE id BETWEEN {key} AND {key + rng.randint(0, 1)}"
        if kind == "replace":
            return f"REPLACE INTO item (id, tag, qty) VALUES ({key}, '{item_tag}', 1)"
        if kind == "upsert":
            return (f"INSERT INTO item (id, tag, qty) VALUES ({key}, '{item_tag}', 1) "
                    "ON DUPLICATE KEY UPDATE qty = qty + 1")
        if kind == "event":
            return f"INSERT INTO event (tag, n) VALUES ('{item_tag}', {rng.randint(0, 99)})"
        if kind == "fail_unique":  # every row gets one tag: the second row violates UNIQUE
            return (f"UPDATE item SET tag = '{item_tag}' "
                    f"WHERE id BETWEEN {key} AND {key + 5}")
        if kind == "fail_null":   # the first row inserts, the second violates NOT NULL
            return (f"INSERT INTO item (id, tag, qty) VALUES ({ITEM_KEYS + 100 + key}, "
                    f"'{item_tag}', 1), ({ITEM_KEYS + 200 + key}, '{item_tag}-b', NULL)")
        if kind == "note":  # 1452 when the item is missing; deleting the item cascades
            return (f"INSERT INTO note (id, item_id, body) VALUES ({rng.randint(1, 60)}, {key}, "
                    f"'{item_tag}') ON DUPLICATE KEY UPDATE body = '{item_tag}'")
        if kind == "truncate":
            return "TRUNCATE TABLE event"
        if kind == "create_index":
            return "CREATE INDEX ix_item_qty ON item (qty)"
        if kind == "drop_index":
            return "DROP INDEX ix_item_qty ON item"
        if kind == "transfer":
            src, dst = rng.sample(range(1, ACCOUNTS + 1), 2)
            amount = rng.randint(1, 50)
            return (f"UPDATE acct SET bal = bal + CASE id WHEN {src} THEN -{amount} "
                    f"WHEN {dst} THEN {amount} END, note = '{item_tag}' "
                    f"WHERE id IN ({src}, {dst})")
        if kind == "select":
            return "SELECT COUNT(*), SUM(qty) FROM item"
        return f"SELECT id, qty FROM item WHERE id = {key} FOR UPDATE"

    # ------------------------------------------------------------------ progress
    def next_statement(self) -> str | None:
        record = self.current
        if record is None or self.position >= len(record.script):
            return None
        return record.script[self.position]

    def think_ms(self) -> int:
        record = self.current
        if record is not None and record.explicit and 0 < self.position < len(record.script):
            return self.rng.choice([0, 1, 5, 20, 200, 1500])
        return self.rng.choice([1, 1, 1, 2, 10, 30])  # often arrives with the others

    def answered(self, outcome: Outcome) -> None:
        record = self.current
        assert record is not None
        record.outcomes.append(outcome)
        self.position += 1
        if outcome.error is not None and self.position < len(record.script) \
                and self._breaks_a_transfer(record, outcome.error):
            self._give_up(record)
        if self.position < len(record.script):
            return
        if "ROLLBACK" in record.script:
            record.end = "rolled back"
        elif outcome.error is None:
            record.end = "committed"
        elif outcome.error == ER_ERROR_DURING_COMMIT:  # the WAL sync failed: it may be there
            record.end = "unknown"
        else:
            record.end = "failed"
        self.current = None

    def _breaks_a_transfer(self, record: TxnRecord, error: int) -> bool:
        """The failed statement was half of a transfer between the databases, or the error
        may have rolled back the transaction (1213) or undone a half (1205), in a
        transaction holding such a transfer."""
        failed, following = record.script[self.position - 1], record.script[self.position]
        if failed == "ROLLBACK" or not any(DATABASE2 in sql for sql in record.script):
            return False
        return error in TIMING_ERRORS or DATABASE2 in failed or DATABASE2 in following

    def _give_up(self, record: TxnRecord) -> None:
        """A transaction moving money between the databases rolls back on any error, as an
        application would: after a 1213 (the transaction rolled back) or a 1205 (the statement
        undone) the rest would run without the half it depends on, and the total over both
        databases would move."""
        tail = [AUTOCOMMIT_ON] if record.script[0] == AUTOCOMMIT_OFF else []
        record.script[self.position:] = ["ROLLBACK", *tail]
