"""Redo of a two-database transaction's branches after a crash (txn/DESIGN.md §10.2 step 4).

A transaction that wrote databases A and B commits A first, with one row of A's
``__marmot_pending_branch`` per other branch holding that branch's encoded write set; A's
COMMIT is the decision. A crash after it and before B's own COMMIT leaves A with the
transaction and the promise, B without it. At node start — before any client is accepted and
before any database's write pipeline opens, so that B issues no origin sequence first — every
promise is kept: the write set is applied to B with ``storage.apply`` in one SQLite
transaction with its commit-log record (row images, versions, last-write-wins: what a replica
does with a peer's write set; a write set B's log already holds is skipped), then the promise
is deleted. Redo, never undo: a crash before A's COMMIT left neither branch anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import apsw

from marmotdb.storage.apply import apply
from marmotdb.storage.internal_tables import PENDING_BRANCHES
from marmotdb.storage.writeset import decode_write_set

# lend(name) -> (a connection with the server's trust, give it back), or None: no database
Lend = Callable[[str], tuple[apsw.Connection, Callable[[], None]] | None]


def redo_pending_branches(names: list[str], lend: Lend) -> int:
    """Keep every promise found in the databases ``names``; returns how many branches were
    applied (0 when each was there already)."""
    applied = 0
    for name in names:
        for txn_id, target, encoded in _promises(name, lend):
            applied += _redo(target, bytes(encoded), lend)
            _forget(name, txn_id, target, lend)
    return applied


def _promises(name: str, lend: Lend) -> list[tuple[int, str, bytes]]:
    lent = lend(name)
    if lent is None:
        return []
    conn, give_back = lent
    try:
        return conn.execute(f"SELECT txn_id, db, write_set FROM {PENDING_BRANCHES}").fetchall()
    finally:
        give_back()


def _redo(target: str, encoded: bytes, lend: Lend) -> int:
    lent = lend(target)
    if lent is None:  # dropped since (DROP DATABASE commits the transaction's branches first)
        return 0
    conn, give_back = lent
    try:
        return 1 if apply(conn, decode_write_set(encoded), encoded).applied else 0
    finally:
        give_back()


def _forget(name: str, txn_id: int, target: str, lend: Lend) -> None:
    lent = lend(name)
    if lent is None:
        return
    conn, give_back = lent
    try:
        conn.execute(f"DELETE FROM {PENDING_BRANCHES} WHERE txn_id = ? AND db = ?",
                     (txn_id, target))
    finally:
        give_back()
