"""FOREIGN KEYs whose parent table is in another database than the child (txn/DESIGN.md §10.1).

Theory of operation
-------------------
SQLite enforces a FOREIGN KEY only within one file, and each database is its own file. A key
to another database's table is therefore kept in our catalog only (the child's ``TableDef``,
``ref_database`` set; the SQLite table is created without it) and enforced here, from the rows
a statement changed (storage/capture.py), at the end of the statement and inside its
savepoint, so a refusal undoes that statement only:

* a child row inserted, or updated with changed key columns, whose key columns are all
  non-NULL (MATCH SIMPLE) needs a parent row with those values: else 1452;
* a parent row deleted, or updated with changed referenced columns, whose old values are
  used by a child row: 1451 (checked per row, as InnoDB does: REPLACE of a parent row with
  children is refused too, its DELETE half is a delete).

The other database is read through a pooled connection of it: its committed rows. What other
databases' unfinished transactions did is not there, so ``UnfinishedKeys`` remembers, until
each transaction is finished, the parent keys it removed and the parent keys its child rows
took: a child row whose parent an unfinished transaction removed is refused (1452), and so is
removing a parent key an unfinished transaction's child row took (1451). InnoDB would make the
second one wait for the first and then decide the same way unless the first rolls back; here
the second is refused at once (never an orphan, sometimes a refusal a wait would have spared). An action that changes the child (CASCADE,
SET NULL) is run through ``StatementCheck.cascade`` instead of a 1451 (sql/cascades_across.py:
the child's database is a branch of the parent's transaction); SET DEFAULT is refused at
CREATE/ALTER (rewrites_ddl).

``ForeignKeysAcross`` is the node's index of such keys, by child and by parent, rebuilt from
every database's ``__marmot_schema`` when the server's schema epoch moved (any DDL here, a
replicated DDL, a snapshot, a database created or dropped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import apsw

from marmotdb import errors
from marmotdb.sql.schema import SCHEMA_TABLE, ForeignKeyDef, quote_ident
from marmotdb.storage.writeset import ChangeOp, RowChange

# (child database, child table, its key), all names as stored (keys compare lower-case)
ChildKey = tuple[str, str, ForeignKeyDef]
# reads one database: (a connection to it, how to give it back); None if it does not exist
Lender = Callable[[str], "tuple[apsw.Connection, Callable[[], None]] | None"]


@dataclass(slots=True)
class _Index:
    by_child: dict[tuple[str, str], list[ForeignKeyDef]]
    by_parent: dict[tuple[str, str], list[ChildKey]]
    databases: frozenset[str]  # every database with a key of either side


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _listed(columns: Sequence[str]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def constraint_text(child_db: str, child: str, fk: ForeignKeyDef) -> str:
    """MySQL's ``(`db`.`child`, CONSTRAINT … REFERENCES `pdb`.`parent` (…))`` of a key."""
    return (f"(`{child_db}`.`{child}`, CONSTRAINT `{fk.name}` FOREIGN KEY ({_listed(fk.columns)})"
            f" REFERENCES `{fk.ref_database}`.`{fk.ref_table}` ({_listed(fk.ref_columns)}))")


class ForeignKeysAcross:
    """The node's FOREIGN KEYs to tables of other databases, by child and by parent."""

    def __init__(self, names: Callable[[], Iterable[str]], lend: Lender):
        self._names = names  # every database of the node
        self._lend = lend
        self._epoch = -1
        self._index = _Index({}, {}, frozenset())

    def current(self, epoch: int) -> ForeignKeysAcross:
        """Rebuilt if the server's schema epoch moved since the last build."""
        if epoch != self._epoch:
            self._index = self._build()
            self._epoch = epoch
        return self

    def involves(self, database: str) -> bool:
        return database.lower() in self._index.databases

    def of_child(self, database: str, table: str) -> list[ForeignKeyDef]:
        return self._index.by_child.get((database.lower(), table.lower()), [])

    def of_parent(self, database: str, table: str) -> list[ChildKey]:
        return self._index.by_parent.get((database.lower(), table.lower()), [])

    def cascades_into(self, database: str) -> list[str]:
        """The databases a change of ``database``'s rows may write through ON DELETE / ON
        UPDATE CASCADE or SET NULL keys, transitively (their turns are taken first)."""
        found: list[str] = []
        todo = [database.lower()]
        while todo:
            parent = todo.pop()
            for (parent_db, _), children in self._index.by_parent.items():
                for child_db, _, fk in children if parent_db == parent else ():
                    if CHANGING_ACTIONS & {fk.on_delete, fk.on_update} and \
                            child_db not in found and child_db != database.lower():
                        found.append(child_db)
                        todo.append(child_db)
        return found

    def _build(self) -> _Index:
        by_child: dict[tuple[str, str], list[ForeignKeyDef]] = {}
        by_parent: dict[tuple[str, str], list[ChildKey]] = {}
        for database in self._names():
            for table, fk in self._keys_of(database):
                assert fk.ref_database is not None
                by_child.setdefault((database, table.lower()), []).append(fk)
                by_parent.setdefault((fk.ref_database.lower(), fk.ref_table.lower()),
                                     []).append((database, table, fk))
        involved = {d for d, _ in by_child} | {d for d, _ in by_parent}
        return _Index(by_child, by_parent, frozenset(involved))

    def _keys_of(self, database: str) -> list[tuple[str, ForeignKeyDef]]:
        lent = self._lend(database)
        if lent is None:
            return []
        conn, give_back = lent
        try:
            rows = conn.execute(f'SELECT meta FROM "{SCHEMA_TABLE}" WHERE kind = \'table\' '
                                "AND meta LIKE '%\"ref_database\":\"%'").fetchall()
        except apsw.SQLError:  # no catalog table (yet)
            rows = []
        finally:
            give_back()
        found = []
        for (meta,) in rows:
            data = json.loads(meta)["table"]
            for fk in data.get("foreign_keys", []):
                if fk.get("ref_database"):
                    found.append((data["name"], ForeignKeyDef(**fk)))
        return found


# (parent database, parent table, referenced columns, their values), names lower-case
ParentKey = tuple[str, str, tuple[str, ...], tuple[object, ...]]
SWEEP_EVERY_HOLDS = 1024  # UnfinishedKeys drops finished transactions' entries this often


class _Txn(Protocol):
    @property
    def finished(self) -> bool: ...


class UnfinishedKeys:
    """Parent keys that transactions not finished yet removed, or took with a child row."""

    def __init__(self) -> None:
        self._removed: dict[ParentKey, list[_Txn]] = {}
        self._taken: dict[ParentKey, list[_Txn]] = {}
        self._holds = 0

    def removed_by_other(self, key: ParentKey, txn: _Txn) -> bool:
        return self._other(self._removed, key, txn)

    def taken_by_other(self, key: ParentKey, txn: _Txn) -> bool:
        return self._other(self._taken, key, txn)

    def remove(self, key: ParentKey, txn: _Txn) -> None:
        self._hold(self._removed, key, txn)

    def take(self, key: ParentKey, txn: _Txn) -> None:
        self._hold(self._taken, key, txn)

    def __len__(self) -> int:
        return sum(map(len, self._removed.values())) + sum(map(len, self._taken.values()))

    def sweep(self) -> None:
        """Drop what finished transactions held (also done every SWEEP_EVERY_HOLDS holds)."""
        for table in (self._removed, self._taken):
            for key in list(table):
                self._live(table, key)

    def _other(self, table: dict[ParentKey, list[_Txn]], key: ParentKey, txn: _Txn) -> bool:
        return any(t is not txn for t in self._live(table, key))

    @staticmethod
    def _live(table: dict[ParentKey, list[_Txn]], key: ParentKey) -> list[_Txn]:
        live = [t for t in table.get(key, ()) if not t.finished]
        if live:
            table[key] = live
        else:
            table.pop(key, None)
        return live

    def _hold(self, table: dict[ParentKey, list[_Txn]], key: ParentKey, txn: _Txn) -> None:
        holders = self._live(table, key)
        if not any(t is txn for t in holders):
            table[key] = holders + [txn]
        self._holds += 1
        if self._holds % SWEEP_EVERY_HOLDS == 0:
            self.sweep()


def parent_key(database: str, table: str, columns: Sequence[str], values: tuple[object, ...]
               ) -> ParentKey:
    """Text folded: a key compared case-insensitively must not slip past as another one."""
    return (database.lower(), table.lower(), tuple(c.lower() for c in columns),
            tuple(v.casefold() if isinstance(v, str) else v for v in values))


CHANGING_ACTIONS = frozenset({"CASCADE", "SET NULL"})  # the child changes with its parent
# cascade(child database, child table, key, old parent values, new ones (None: deleted))
Cascade = Callable[[str, str, ForeignKeyDef, tuple[object, ...], "tuple[object, ...] | None"],
                   None]


@dataclass(slots=True)
class StatementCheck:
    """Checks one statement's changed rows of database ``database`` (see the module doc).

    ``columns(table)``: the column names of a table's row images; ``lend``: reads another
    database; ``txn``: the statement's transaction, ``unfinished`` what it and the others
    not finished yet hold (``UnfinishedKeys``)."""

    keys: ForeignKeysAcross
    database: str
    columns: Callable[[str], Sequence[str]]
    lend: Lender
    txn: _Txn
    unfinished: UnfinishedKeys
    cascade: Cascade | None = None  # runs a CASCADE / SET NULL action (None: refused, 1451)
    # (table, columns) -> their positions in the table's row images
    _positions: dict[tuple[str, tuple[str, ...]], tuple[int, ...]] = field(default_factory=dict)

    def run(self, changes: Sequence[RowChange]) -> None:
        taken: list[ParentKey] = []
        removed: list[ParentKey] = []
        for change in changes:
            for fk in self.keys.of_child(self.database, change.table):
                taken += self._child(change, fk)
            for child_db, child, fk in self.keys.of_parent(self.database, change.table):
                removed += self._parent(change, child_db, child, fk)
        for key in taken:  # the statement passed: held until its transaction is finished
            self.unfinished.take(key, self.txn)
        for key in removed:
            self.unfinished.remove(key, self.txn)

    def _values(self, table: str, image: Sequence[object] | None, names: Sequence[str]
                ) -> tuple[object, ...] | None:
        if image is None:
            return None
        where = (table, tuple(names))
        positions = self._positions.get(where)
        if positions is None:
            columns = [c.lower() for c in self.columns(table)]
            positions = self._positions[where] = tuple(columns.index(n.lower()) for n in names)
        return tuple(image[i] for i in positions)

    def _child(self, change: RowChange, fk: ForeignKeyDef) -> list[ParentKey]:
        if change.op is ChangeOp.DELETE:
            return []
        new = self._values(change.table, change.after, fk.columns)
        if new is None or any(v is None for v in new):
            return []
        if change.op is ChangeOp.UPDATE and \
                self._values(change.table, change.before, fk.columns) == new:
            return []
        assert fk.ref_database is not None
        key = parent_key(fk.ref_database, fk.ref_table, fk.ref_columns, new)
        if self.unfinished.removed_by_other(key, self.txn) or \
                not self._exists(fk.ref_database, fk.ref_table, fk.ref_columns, new):
            raise errors.error(errors.ER_NO_REFERENCED_ROW_2, "Cannot add or update a child "
                               "row: a foreign key constraint fails " +
                               constraint_text(self.database, change.table, fk))
        return [key]

    def _parent(self, change: RowChange, child_db: str, child: str, fk: ForeignKeyDef
                ) -> list[ParentKey]:
        if change.op is ChangeOp.INSERT:
            return []
        old = self._values(change.table, change.before, fk.ref_columns)
        if old is None or any(v is None for v in old):
            return []
        new = self._values(change.table, change.after, fk.ref_columns) \
            if change.op is ChangeOp.UPDATE else None
        if change.op is ChangeOp.UPDATE and new == old:
            return []
        key = parent_key(self.database, change.table, fk.ref_columns, old)
        action = fk.on_update if change.op is ChangeOp.UPDATE else fk.on_delete
        if self.cascade is not None and action in CHANGING_ACTIONS and \
                not self.unfinished.taken_by_other(key, self.txn):
            self.cascade(child_db, child, fk, old, new)
            return [key]
        if self.unfinished.taken_by_other(key, self.txn) or \
                self._exists(child_db, child, fk.columns, old):
            raise errors.error(errors.ER_ROW_IS_REFERENCED_2, "Cannot delete or update a "
                               "parent row: a foreign key constraint fails " +
                               constraint_text(child_db, child, fk))
        return [key]

    def _exists(self, database: str, table: str, columns: Sequence[str],
                values: tuple[object, ...]) -> bool:
        lent = self.lend(database)
        if lent is None:  # the other database is gone (dropped with the checks off)
            return False
        conn, give_back = lent
        try:
            return _exists_on(conn, table, columns, values)
        finally:
            give_back()


def _exists_on(conn: apsw.Connection, table: str, columns: Sequence[str],
               values: tuple[object, ...]) -> bool:
    where = " AND ".join(f"{_q(c)} = ?" for c in columns)
    try:
        return bool(conn.execute(f"SELECT 1 FROM main.{_q(table)} WHERE {where} LIMIT 1",
                                 values).fetchall())
    except apsw.SQLError:  # the table is gone (dropped with the checks off): no row
        return False
