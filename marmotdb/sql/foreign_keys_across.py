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

The other database is read through a pooled connection of it: its committed rows (the window
this leaves against a concurrent open transaction of the other database is described in the
design). Only RESTRICT / NO ACTION cross databases: an action that changes the child (CASCADE,
SET NULL, SET DEFAULT) would write a second database in the parent's transaction, and is
refused at CREATE/ALTER (rewrites_ddl).

``ForeignKeysAcross`` is the node's index of such keys, by child and by parent, rebuilt from
every database's ``__marmot_schema`` when the server's schema epoch moved (any DDL here, a
replicated DDL, a snapshot, a database created or dropped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

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


@dataclass(slots=True)
class StatementCheck:
    """Checks one statement's changed rows of database ``database`` (see the module doc).

    ``columns(table)``: the column names of a table's row images; ``lend``: reads another
    database."""

    keys: ForeignKeysAcross
    database: str
    columns: Callable[[str], Sequence[str]]
    lend: Lender

    def run(self, changes: Sequence[RowChange]) -> None:
        for change in changes:
            for fk in self.keys.of_child(self.database, change.table):
                self._child(change, fk)
            for child_db, child, fk in self.keys.of_parent(self.database, change.table):
                self._parent(change, child_db, child, fk)

    def _values(self, table: str, image: Sequence[object] | None, names: Sequence[str]
                ) -> tuple[object, ...] | None:
        if image is None:
            return None
        columns = [c.lower() for c in self.columns(table)]
        return tuple(image[columns.index(n.lower())] for n in names)

    def _child(self, change: RowChange, fk: ForeignKeyDef) -> None:
        if change.op is ChangeOp.DELETE:
            return
        new = self._values(change.table, change.after, fk.columns)
        if new is None or any(v is None for v in new):
            return
        if change.op is ChangeOp.UPDATE and \
                self._values(change.table, change.before, fk.columns) == new:
            return
        assert fk.ref_database is not None
        if not self._exists(fk.ref_database, fk.ref_table, fk.ref_columns, new):
            raise errors.error(errors.ER_NO_REFERENCED_ROW_2, "Cannot add or update a child "
                               "row: a foreign key constraint fails " +
                               constraint_text(self.database, change.table, fk))

    def _parent(self, change: RowChange, child_db: str, child: str, fk: ForeignKeyDef) -> None:
        if change.op is ChangeOp.INSERT:
            return
        old = self._values(change.table, change.before, fk.ref_columns)
        if old is None or any(v is None for v in old):
            return
        if change.op is ChangeOp.UPDATE and \
                self._values(change.table, change.after, fk.ref_columns) == old:
            return
        if self._exists(child_db, child, fk.columns, old):
            raise errors.error(errors.ER_ROW_IS_REFERENCED_2, "Cannot delete or update a "
                               "parent row: a foreign key constraint fails " +
                               constraint_text(child_db, child, fk))

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
