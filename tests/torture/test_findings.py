"""Product defects the torture runs found, each reduced to a short test: an open one pinned as
a strict expected failure (fixing the product makes the pin fail; whoever fixed it removes the
mark), a fixed one kept as its regression test.

Lost acknowledged QUORUM write after kill -9 and restart — FIXED on main by 031e8ec (a node
still joining never commits alone) — found by
``marmotdb torture --workload list-append --faults kill --time 30 --clients 10 --seed 1``:
the checker's lost-append x244; key 24's appends 1..23, acknowledged at QUORUM through n2/n3
while n1 was down (history #1455..#1800), vanished when n1, just restarted, acknowledged
``append 25`` (#1843) on a row it did not have yet. Reduced: n1 is killed, rows are written
at QUORUM through n2 and n3, n1 restarts, and an INSERT ... ON DUPLICATE KEY UPDATE through n1
at QUORUM — in an explicit transaction or autocommit — finds no row (its read is served before
it caught up), inserts, and is acknowledged; every node then holds n1's row and the earlier
acknowledged one is gone. DESIGN.md §4.1: a write whose base version is older than a committed
one must be refused. Now the upsert is refused (1213, 1047) until n1 caught up, and the
row keeps the acknowledged value.

Lost update through a stale read in a transaction, no fault at all (found by the checker in
every list-append run as lost-update at QUORUM, e.g. ``marmotdb torture --workload list-append
--faults none --time 30 --clients 10 --seed 1``: #1766 and #1781 both read key 31 as
[2 .. 23] and both appended and committed). Reduced: A (node 1) reads a row in a transaction, B
(node 2) changes the row and commits at QUORUM, A writes a value computed from its read and
commits at QUORUM: A's commit is acknowledged and B's acknowledged change is gone. The commit
checks the row's version as of A's UPDATE statement, not as of A's read; the README promises
"a row changed since the transaction read it is a NO" and DESIGN.md §4.1 "no lost update".
Fixed (branch findings): the transaction keeps its read snapshot to COMMIT and a QUORUM/ALL
commit of a row changed after it gets 1213 (txn/DESIGN.md §7.2 "Reads before the first
write"); the in-memory reduction is tests/txn/test_cluster_commit.py
``test_a_write_computed_from_a_read_that_a_commit_overtook_is_refused``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pymysql
import pytest

from marmotdb.torture.target import MarmotTarget

pytestmark = pytest.mark.integration

MISSED_TXNS, ROWS_PER_TXN = 60, 5
MISSED_ROWS = MISSED_TXNS * ROWS_PER_TXN
RETRY_S = 30.0


def until_acknowledged(target: MarmotTarget, node: str, *sql: str) -> None:
    """As a client retries: 1213 (the row changed since it was read) and 1047 (this node is
    not yet a voting member) mean not committed."""
    deadline = time.monotonic() + RETRY_S
    while True:
        try:
            statements(target, node, *sql)
            return
        except pymysql.err.OperationalError as exc:
            if exc.args[0] not in (1213, 1047) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def statements(target: MarmotTarget, node: str, *sql: str) -> list[tuple[Any, ...]]:
    with target.connect(node) as conn, conn.cursor() as cur:
        cur.execute("SET marmot_write_consistency = 'QUORUM'")
        for one in sql:
            cur.execute(one)
        return list(cur.fetchall())


@pytest.mark.slow  # ~40 s: the default suite's torture budget goes to the short runs
def test_an_upsert_through_a_restarted_node_keeps_the_acknowledged_row(tmp_path: Path) -> None:
    target = MarmotTarget(tmp_path, 3, prefer_netns=False)
    target.start()
    try:
        statements(target, "n2", "CREATE TABLE lists (k INT PRIMARY KEY, v TEXT)")
        time.sleep(1)  # every node has the table before n1 dies
        target.kill("n1")
        for txn in range(MISSED_TXNS):  # acknowledged at QUORUM by n2 and n3
            keys = range(txn * ROWS_PER_TXN + 1, (txn + 1) * ROWS_PER_TXN + 1)
            statements(target, "n2" if txn % 2 else "n3", "INSERT INTO lists VALUES " +
                       ", ".join(f"({key}, 'x{key}')" for key in keys))
        target.restart("n1")
        upsert = ("INSERT INTO lists (k, v) VALUES ({k}, 'n1') "
                  "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', 'n1')")
        until_acknowledged(target, "n1", "BEGIN", upsert.format(k=MISSED_ROWS), "COMMIT")
        until_acknowledged(target, "n1", upsert.format(k=MISSED_ROWS - 1))
        target.converge()
        for node in target.node_names():
            rows = statements(target, node, "SELECT k, v FROM lists WHERE k >= "
                              f"{MISSED_ROWS - 1} ORDER BY k")
            assert rows == [(MISSED_ROWS - 1, f"x{MISSED_ROWS - 1},n1"),
                            (MISSED_ROWS, f"x{MISSED_ROWS},n1")], (node, rows)
    finally:
        target.stop()


def test_a_write_computed_from_a_stale_read_is_refused(tmp_path: Path) -> None:
    target = MarmotTarget(tmp_path, 3, prefer_netns=False)
    target.start()
    try:
        statements(target, "n1", "CREATE TABLE r (k INT PRIMARY KEY, v TEXT)",
                   "INSERT INTO r VALUES (1, 'x')")
        wait_for(target, "n2", [(1, "x")])
        with target.connect("n1") as conn, conn.cursor() as a:
            a.execute("BEGIN")
            a.execute("SELECT v FROM r WHERE k = 1")
            seen = a.fetchone()[0]
            statements(target, "n2", "UPDATE r SET v = CONCAT(v, ',b') WHERE k = 1")
            wait_for(target, "n1", [(1, "x,b")])  # node 1 applied B: A's write is not early
            a.execute("UPDATE r SET v = %s WHERE k = 1", (seen + ",a",))
            try:
                a.execute("COMMIT")
                committed = True
            except Exception:  # noqa: BLE001 — 1213 is the documented refusal
                committed = False
        rows = statements(target, "n1", "SELECT k, v FROM r")
        assert not committed and rows == [(1, "x,b")], (committed, rows)
    finally:
        target.stop()


def wait_for(target: MarmotTarget, node: str, rows: list[tuple[Any, ...]],
             timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while statements(target, node, "SELECT k, v FROM r") != rows:
        if time.monotonic() > deadline:  # not an AssertionError: the xfail must not hide it
            raise TimeoutError(f"{node} never showed {rows}")
        time.sleep(0.1)
