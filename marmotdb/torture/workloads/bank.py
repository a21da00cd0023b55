"""bank: transfers between accounts in transactions; reads of every account in one.

Table ``accounts (id INT PRIMARY KEY, balance BIGINT)``, ``ACCOUNTS`` rows of
``INITIAL_BALANCE`` each, so the total is fixed: every read must see it (a transfer is two
updates in one transaction; seeing one without the other is a read of a partial transaction)
and so must the final state. A transfer reads both balances first and refuses (``ROLLBACK``,
recorded as ``fail`` with a reason) when the source would go negative, so a balance below zero
means two transfers both spent the same money (a lost update / write skew).

    transfer   BEGIN; SELECT id, balance ... WHERE id IN (from, to);
               UPDATE ... balance - n WHERE id = from; UPDATE ... balance + n WHERE id = to;
               COMMIT
    read       BEGIN; SELECT id, balance FROM accounts; COMMIT   -> {id: balance}
"""

from __future__ import annotations

import random
from typing import Any

from marmotdb.torture.clients import Op, Refused

TABLE = "accounts"
ACCOUNTS = 5
INITIAL_BALANCE = 100
AMOUNT_MAX = 5
READ_SHARE = 0.3


class Bank:
    name = "bank"

    def setup(self, cur: Any) -> None:
        cur.execute(f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
        rows = ", ".join(f"({i}, {INITIAL_BALANCE})" for i in range(ACCOUNTS))
        cur.execute(f"INSERT INTO {TABLE} VALUES {rows}")

    def next_op(self, rng: random.Random) -> Op:
        if rng.random() < READ_SHARE:
            return Op("read", None)
        source, target = rng.sample(range(ACCOUNTS), 2)
        return Op("transfer", {"from": source, "to": target,
                               "amount": rng.randint(1, AMOUNT_MAX)})

    def run(self, cur: Any, op: Op) -> Any:
        cur.execute("BEGIN")
        if op.f == "read":
            cur.execute(f"SELECT id, balance FROM {TABLE}")
            balances = {int(i): int(b) for i, b in cur.fetchall()}
            cur.execute("COMMIT")
            return balances
        move = op.value
        cur.execute(f"SELECT id, balance FROM {TABLE} WHERE id IN (%s, %s)",
                    (move["from"], move["to"]))
        balances = {int(i): int(b) for i, b in cur.fetchall()}
        if balances.get(move["from"], 0) < move["amount"]:
            cur.execute("ROLLBACK")
            raise Refused(f"insufficient funds: account {move['from']} has "
                          f"{balances.get(move['from'])}")
        cur.execute(f"UPDATE {TABLE} SET balance = balance - %s WHERE id = %s",
                    (move["amount"], move["from"]))
        cur.execute(f"UPDATE {TABLE} SET balance = balance + %s WHERE id = %s",
                    (move["amount"], move["to"]))
        op.committing = True
        cur.execute("COMMIT")
        return move

    def tables(self) -> list[str]:
        return [TABLE]

    def meta(self) -> dict[str, Any]:
        return {"accounts": list(range(ACCOUNTS)), "total": ACCOUNTS * INITIAL_BALANCE,
                "initial_balance": INITIAL_BALANCE}
