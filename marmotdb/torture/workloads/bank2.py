"""bank2: transfers between accounts of two databases, each transaction writing both.

Two databases (``DATABASES``), each with ``ACCOUNTS_PER_DATABASE`` accounts of
``INITIAL_BALANCE`` (ids 0-3 in the first, 4-7 in the second) and a ledger:

    accounts (id INT PRIMARY KEY, balance BIGINT, moved BIGINT)   moved: net money this
                                                                  account received from the
                                                                  other database
    ledger   (id BIGINT PRIMARY KEY, src INT, dst INT, amount BIGINT)

A transfer has an id unique in the run and writes one ledger row in every database it
touches, in the same transaction as the balances, so the final state says per transaction
whether it is in each database (txn/DESIGN.md §10.2 promises both or neither). Most transfers
cross (``CROSS_SHARE``: a source in one database, a target in the other, the source's database
written first, so both orders of branches occur); the others stay inside one database. A
crossing one also moves ``moved`` on both rows, so each database alone keeps an invariant any
committed state of its file satisfies: ``sum(balance - moved) = accounts * initial``. The
invariant over both databases holds in the final state, not in a read (no snapshot across the
two files, §10.2 "Visibility").

    transfer  BEGIN; SELECT balance of the source; SELECT balance of the target (both
              databases read before either is written: each branch's read view is checked
              at COMMIT); refuse an overdraft (ROLLBACK, recorded as ``fail``); UPDATE source;
              UPDATE target; INSERT the ledger row in each database touched; COMMIT
    read      BEGIN; SELECT id, balance, moved FROM each database's accounts; COMMIT
              -> {database: {account: [balance, moved]}}
"""

from __future__ import annotations

import random
from typing import Any

from marmotdb.torture.clients import Op, Refused
from marmotdb.torture.workloads.unique import UniqueValues

DATABASES = ("bank2_a", "bank2_b")
ACCOUNTS_PER_DATABASE = 4
INITIAL_BALANCE = 100
AMOUNT_MAX = 5
READ_SHARE = 0.25
CROSS_SHARE = 0.7


def database_of(account: int) -> str:
    return DATABASES[account // ACCOUNTS_PER_DATABASE]


def accounts_of(database: str) -> list[int]:
    first = DATABASES.index(database) * ACCOUNTS_PER_DATABASE
    return list(range(first, first + ACCOUNTS_PER_DATABASE))


class Bank2:
    name = "bank2"

    def __init__(self) -> None:
        self.ids = UniqueValues()

    def databases(self) -> list[str]:
        return list(DATABASES)

    def setup(self, cur: Any) -> None:
        for database in DATABASES:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
            cur.execute(f"CREATE TABLE {database}.accounts (id INT PRIMARY KEY, "
                        "balance BIGINT NOT NULL, moved BIGINT NOT NULL)")
            rows = ", ".join(f"({i}, {INITIAL_BALANCE}, 0)" for i in accounts_of(database))
            cur.execute(f"INSERT INTO {database}.accounts VALUES {rows}")
            cur.execute(f"CREATE TABLE {database}.ledger (id BIGINT PRIMARY KEY, "
                        "src INT NOT NULL, dst INT NOT NULL, amount BIGINT NOT NULL)")

    def next_op(self, rng: random.Random) -> Op:
        if rng.random() < READ_SHARE:
            return Op("read", None)
        if rng.random() < CROSS_SHARE:
            first, second = rng.sample(DATABASES, 2)
            source, target = rng.choice(accounts_of(first)), rng.choice(accounts_of(second))
        else:
            source, target = rng.sample(accounts_of(rng.choice(DATABASES)), 2)
        return Op("transfer", {"id": self.ids.take(), "from": source, "to": target,
                               "amount": rng.randint(1, AMOUNT_MAX)})

    def run(self, cur: Any, op: Op) -> Any:
        cur.execute("BEGIN")
        if op.f == "read":
            seen = {}
            for database in DATABASES:
                cur.execute(f"SELECT id, balance, moved FROM {database}.accounts")
                seen[database] = {int(i): [int(b), int(m)] for i, b, m in cur.fetchall()}
            cur.execute("COMMIT")
            return seen
        move = op.value
        source, target, amount = move["from"], move["to"], move["amount"]
        balances = {}
        for account in (source, target):
            cur.execute(f"SELECT balance FROM {database_of(account)}.accounts WHERE id = %s",
                        (account,))
            row = cur.fetchone()
            balances[account] = None if row is None else int(row[0])
        if balances[source] is None or balances[source] < amount:
            cur.execute("ROLLBACK")
            raise Refused(f"insufficient funds: account {source} has {balances[source]}")
        crossing = database_of(source) != database_of(target)
        moved = amount if crossing else 0
        cur.execute(f"UPDATE {database_of(source)}.accounts SET balance = balance - %s, "
                    "moved = moved - %s WHERE id = %s", (amount, moved, source))
        cur.execute(f"UPDATE {database_of(target)}.accounts SET balance = balance + %s, "
                    "moved = moved + %s WHERE id = %s", (amount, moved, target))
        for database in dict.fromkeys((database_of(source), database_of(target))):
            cur.execute(f"INSERT INTO {database}.ledger VALUES (%s, %s, %s, %s)",
                        (move["id"], source, target, amount))
        op.committing = True
        cur.execute("COMMIT")
        return move

    def tables(self) -> list[str]:
        return [f"{database}.{table}" for database in DATABASES
                for table in ("accounts", "ledger")]

    def meta(self) -> dict[str, Any]:
        return {"databases": {database: accounts_of(database) for database in DATABASES},
                "initial_balance": INITIAL_BALANCE,
                "total": len(DATABASES) * ACCOUNTS_PER_DATABASE * INITIAL_BALANCE}
