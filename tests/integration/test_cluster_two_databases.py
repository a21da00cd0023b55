"""Transactions writing two databases through three real ``marmotdb serve`` processes, with
PyMySQL (txn/DESIGN.md §10.2, "In a cluster"): committed on every node or on none.

Transfers between an account in database ``bank_a`` and one in ``bank_b``, from every node at
once: conflicting ones get 1213 for the whole transaction and are retried, and in the end
every node holds the same rows with the total unchanged — never one database's half of a
transfer without the other's.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from marmotdb.torture.cluster import LocalCluster
from tests.runtime.process_cluster import (
    connect,
    everywhere,
    kill9_under_writers,
    query,
    read_or_retry,
    running_cluster,
)

pytestmark = pytest.mark.integration

ACCOUNTS = 5
BALANCE = 1000


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running_cluster(tmp_path_factory.mktemp("two_databases"))


@pytest.fixture(scope="module")
def banks(trio: LocalCluster) -> LocalCluster:
    with connect(trio, 1) as conn, conn.cursor() as cur:
        for name in ("bank_a", "bank_b"):
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {name}")
            cur.execute(f"CREATE TABLE {name}.acct (id INT PRIMARY KEY, balance INT NOT NULL)")
            cur.executemany(f"INSERT INTO {name}.acct VALUES (%s, %s)",
                            [(i, BALANCE) for i in range(ACCOUNTS)])
    for name in ("bank_a", "bank_b"):
        everywhere(trio, f"SELECT COUNT(*) FROM {name}.acct", [(ACCOUNTS,)])
    return trio


def totals(cluster: LocalCluster, node_id: int) -> list[tuple[Any, ...]]:
    return query(cluster, node_id, "SELECT (SELECT SUM(balance) FROM bank_a.acct), "
                                   "(SELECT SUM(balance) FROM bank_b.acct)")


def test_a_transaction_writing_two_databases_is_on_every_node(banks: LocalCluster) -> None:
    with connect(banks, 1) as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("UPDATE bank_a.acct SET balance = balance - 10 WHERE id = 0")
        cur.execute("UPDATE bank_b.acct SET balance = balance + 10 WHERE id = 0")
        cur.execute("COMMIT")
    everywhere(banks, "SELECT a.balance, b.balance FROM bank_a.acct a JOIN bank_b.acct b "
                      "USING (id) WHERE id = 0", [(BALANCE - 10, BALANCE + 10)])


def test_a_conflict_in_the_second_database_aborts_both(banks: LocalCluster) -> None:
    before = query(banks, 1, "SELECT balance FROM bank_a.acct WHERE id = 1")
    with connect(banks, 1) as one, one.cursor() as cur, \
            connect(banks, 2) as two, two.cursor() as other:
        cur.execute("BEGIN")
        cur.execute("UPDATE bank_a.acct SET balance = balance - 5 WHERE id = 1")
        cur.execute("UPDATE bank_b.acct SET balance = balance + 5 WHERE id = 1")
        other.execute("UPDATE bank_b.acct SET balance = balance + 100 WHERE id = 1")
        with pytest.raises(pymysql.err.OperationalError) as refused:
            cur.execute("COMMIT")
        assert refused.value.args[0] == 1213
    everywhere(banks, "SELECT balance FROM bank_a.acct WHERE id = 1", before)
    everywhere(banks, "SELECT balance FROM bank_b.acct WHERE id = 1", [(BALANCE + 100,)])
    with connect(banks, 2) as conn, conn.cursor() as cur:  # put the total back
        cur.execute("UPDATE bank_b.acct SET balance = balance - 100 WHERE id = 1")


def test_transfers_from_every_node_at_once_keep_the_total_on_every_node(
        banks: LocalCluster) -> None:
    (total_a, total_b), = [tuple(int(v) for v in row) for row in totals(banks, 1)]
    committed: list[int] = []
    failures: list[BaseException] = []

    def transfers(node_id: int, seed: int) -> None:
        rng = random.Random(seed)
        try:
            with connect(banks, node_id) as conn, conn.cursor() as cur:
                for _ in range(15):
                    src, dst = rng.randrange(ACCOUNTS), rng.randrange(ACCOUNTS)
                    amount = rng.randint(1, 20)
                    for _attempt in range(20):  # 1213: aborted everywhere, run it again
                        try:
                            cur.execute("BEGIN")
                            cur.execute("UPDATE bank_a.acct SET balance = balance - %s "
                                        "WHERE id = %s", (amount, src))
                            cur.execute("UPDATE bank_b.acct SET balance = balance + %s "
                                        "WHERE id = %s", (amount, dst))
                            cur.execute("COMMIT")
                            committed.append(amount)
                            break
                        except pymysql.err.OperationalError as exc:
                            conn.rollback()
                            if exc.args[0] != 1213:
                                raise
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=transfers, args=(node_id, node_id * 10 + w))
               for node_id in banks.ids() for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert committed
    moved = sum(committed)  # every acknowledged transfer, both halves, on every node
    expected = [(total_a - moved, total_b + moved)]
    banks.until(lambda: all(totals(banks, i) == expected for i in banks.ids()), 15,
                f"totals {expected} on every node")
    for name in ("bank_a", "bank_b"):
        everywhere(banks, f"SELECT id, balance FROM {name}.acct ORDER BY id",
                   query(banks, 1, f"SELECT id, balance FROM {name}.acct ORDER BY id"))


def test_kill9_of_the_coordinator_leaves_every_transaction_in_both_databases_or_neither(
        banks: LocalCluster) -> None:
    """Writers on node 1 insert one id into a ledger of each database per transaction; node 1
    is killed (-9) under them and started again. On every node, once settled: the ids of
    the two ledgers are the same set (never one database's half), every acknowledged id is
    there, and the nodes are identical."""
    with connect(banks, 2) as conn, conn.cursor() as cur:
        for name in ("bank_a", "bank_b"):
            cur.execute(f"CREATE TABLE {name}.ledger (id INT PRIMARY KEY, writer INT)")
    for name in ("bank_a", "bank_b"):
        everywhere(banks, f"SELECT COUNT(*) FROM {name}.ledger", [(0,)])

    def write(cur: Any, key: int, w: int) -> None:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO bank_a.ledger VALUES (%s, %s)", (key, w))
        cur.execute("INSERT INTO bank_b.ledger VALUES (%s, %s)", (key, w))
        cur.execute("COMMIT")
    expected = kill9_under_writers(banks, 1, 6, 100, write)

    def settled() -> bool:
        seen = [(set(r[0] for r in query(banks, i, "SELECT id FROM bank_a.ledger")),
                 set(r[0] for r in query(banks, i, "SELECT id FROM bank_b.ledger")))
                for i in banks.ids()]
        return all(a == b == seen[0][0] for a, b in seen) and expected <= seen[0][0]
    banks.until(lambda: read_or_retry(settled), 90,
                "every transaction in both databases or neither, on every node")
