"""ON DELETE / ON UPDATE CASCADE and SET NULL of FOREIGN KEYs to another database's table.

Theory of operation
-------------------
SQLite runs a key's actions within one file; a key to another database's table lives in our
catalog (sql/foreign_keys_across.py, txn/DESIGN.md §10.1), whose check runs at the end of
each statement on the rows it changed. With ``StatementCheck.cascade`` set, a parent row
deleted or updated under a CASCADE / SET NULL key no longer refuses (1451): the child rows
change with it, on the child database's write connection, as the branch of the same
transaction (txn/DESIGN.md §10.2). The session took the turns of every database a statement
may cascade into before it ran (``ForeignKeysAcross.cascades_into``: a statement cannot wait
half-way), so the branch is there.

Each action is one SQLite statement on the child's connection, in a statement savepoint with
capture boundaries (its rows are the transaction's, SQLite's own keys inside that file act as
usual), followed by the same check of the rows it changed: a child that is itself a parent of
another database cascades further, up to MySQL's 15 levels (3008). The whole parent statement
is atomic across the databases: ``Cascades.around`` holds a savepoint on every other branch
for the duration of the parent's check, rolled back with it on failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from marmotdb import errors
from marmotdb.sql.foreign_keys_across import (
    ForeignKeysAcross,
    Lender,
    StatementCheck,
    UnfinishedKeys,
)
from marmotdb.sql.schema import ForeignKeyDef
from marmotdb.txn.transaction import Transaction, run_statement

DEPTH_MAX = 15  # MySQL's limit of nested cascades (ER_FK_DEPTH_EXCEEDED)
ER_FK_DEPTH_EXCEEDED = 3008
SAVEPOINT = "__marmot_cascade"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Cascades:
    """The cascading actions of one statement of ``txn``."""

    def __init__(self, keys: ForeignKeysAcross, txn: Transaction, lend: Lender,
                 unfinished: UnfinishedKeys, stopped: Callable[[], bool] = lambda: False):
        self.keys = keys
        self.txn = txn
        self.lend = lend
        self.unfinished = unfinished
        self.stopped = stopped  # KILL QUERY of a long write checked on its thread (1317)

    @contextmanager
    def around(self, database: str) -> Iterator[None]:
        """The parent statement's check: what it cascades is undone with it on failure."""
        others = [p for name, p in self.txn.branches.items() if name != database.lower()]
        for pipeline in others:
            pipeline.conn.execute(f'SAVEPOINT "{SAVEPOINT}"')
            pipeline.capture.savepoint(SAVEPOINT)
        try:
            yield
        except BaseException:
            for pipeline in others:
                if not pipeline.conn.get_autocommit():
                    pipeline.conn.execute(f'ROLLBACK TO "{SAVEPOINT}"')
                    pipeline.conn.execute(f'RELEASE "{SAVEPOINT}"')
                pipeline.capture.rollback_to(SAVEPOINT)
                pipeline.capture.release(SAVEPOINT)
            raise
        for pipeline in others:
            pipeline.conn.execute(f'RELEASE "{SAVEPOINT}"')
            pipeline.capture.release(SAVEPOINT)

    def check(self, database: str, columns: Callable[[str], Any], changes: Any,
              depth: int = 0) -> None:
        """``StatementCheck`` of ``database``'s changed rows, acting on cascading keys."""
        StatementCheck(self.keys, database, columns, self.lend, self.txn, self.unfinished,
                       stopped=self.stopped, cascade=self._action(depth)).run(changes)

    def _action(self, depth: int) -> Callable[..., None]:
        def act(child_db: str, child: str, fk: ForeignKeyDef, old: tuple[object, ...],
                new: tuple[object, ...] | None) -> None:
            if depth >= DEPTH_MAX:
                raise errors.error(ER_FK_DEPTH_EXCEEDED, "Foreign key cascade delete/update "
                                   f"exceeds max depth of {DEPTH_MAX}.")
            branch = self.txn.branches.get(child_db.lower())
            if branch is None or branch.capture.in_statement:
                raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb "
                                   "doesn't yet support 'a FOREIGN KEY action writing "
                                   f"`{child_db}`.`{child}` from this statement'")
            sql, params = _statement(child, fk, old, new)
            capture = branch.capture

            def run(conn: Any) -> None:
                conn.execute(sql, params)
                self.check(child_db, lambda t: capture.table_schema(t).columns,
                           capture.statement_changes(), depth + 1)
            run_statement(branch.conn, capture, run, nested=True)
        return act


def _statement(child: str, fk: ForeignKeyDef, old: tuple[object, ...],
               new: tuple[object, ...] | None) -> tuple[str, tuple[object, ...]]:
    """The child's change for a parent row deleted (``new`` None) or updated."""
    where = " AND ".join(f"{_q(c)} = ?" for c in fk.columns)
    action = fk.on_delete if new is None else fk.on_update
    if action == "SET NULL":
        sets = ", ".join(f"{_q(c)} = NULL" for c in fk.columns)
        return f"UPDATE main.{_q(child)} SET {sets} WHERE {where}", old
    if new is None:
        return f"DELETE FROM main.{_q(child)} WHERE {where}", old
    sets = ", ".join(f"{_q(c)} = ?" for c in fk.columns)
    return f"UPDATE main.{_q(child)} SET {sets} WHERE {where}", (*new, *old)
