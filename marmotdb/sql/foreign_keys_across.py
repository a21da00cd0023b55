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

The other database is read through a pooled connection of it (a long write's checks, on its
writer thread: connections of their own, sql/key_readers.py): its committed rows. What other
databases' unfinished transactions did is not there, so ``UnfinishedKeys`` remembers, until
each transaction is finished, the parent keys it removed and the parent keys its child rows
took: a child row whose parent an unfinished transaction removed is refused (1452), and so is
removing a parent key an unfinished transaction's child row took (1451). InnoDB would make the
second one wait for the first and then decide the same way unless the first rolls back; here
the second is refused at once (never an orphan, sometimes a refusal a wait would have spared). An action that changes the child (CASCADE,
SET NULL) is run through ``StatementCheck.cascade`` instead of a 1451 (sql/cascades_across.py:
the child's database is a branch of the parent's transaction); SET DEFAULT is refused at
CREATE/ALTER (rewrites/ddl/).

``ForeignKeysAcross`` is the node's index of such keys, by child and by parent, rebuilt from
every database's ``__marmot_schema`` when the server's schema epoch moved (any DDL here, a
replicated DDL, a snapshot, a database created or dropped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

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


# (parent database, parent table, referenced columns, *their values), names lower-case: one
# flat tuple, the one object a held key keeps alive besides its values
ParentKey = tuple[object, ...]
SWEEP_EVERY_HOLDS = 1024  # UnfinishedKeys drops finished transactions' entries this often,
SWEEP_DROPS_MAX = 4096  # at most this many each time (4 per hold: faster than they come)
STOP_POLL_ROWS = 256  # a statement's checks ask whether KILL QUERY came this often


class _Txn(Protocol):
    @property
    def finished(self) -> bool: ...


# the holders of one key: one transaction (the usual case: no container), or a tuple of them
_Holders = _Txn | tuple[_Txn, ...]


@dataclass(slots=True)
class _Holds:
    """What one transaction holds, until a sweep finds it finished."""

    txn: _Txn
    taken: list[ParentKey] = field(default_factory=list)
    removed: list[ParentKey] = field(default_factory=list)


class UnfinishedKeys:
    """Parent keys that transactions not finished yet removed, or took with a child row.

    Each key maps to its holder (or holders); each holder lists what it holds (``_held``), so a
    sweep walks the transactions and drops what the finished ones held: a long statement's
    thousands of keys, held until its transaction ends, are not walked again at every sweep.
    A hold keeps no object of its own but the key (no list per key, no entry tuple): a long
    write's 200 000 holds are that many more objects for the cycle collector to walk once its
    pause ends (txn/DESIGN.md §2.1).

    A check and its hold are one step (``take``, ``remove``), taken before the check reads the
    other database: a long write's checks run on a writer thread while the loop runs others',
    and whichever of two crossing checks comes second sees the first one's hold. Its calls
    hold ``lock``: none by default (one thread); a host with writer threads sets a real one
    (runtime/node_host.py), as for the HLC."""

    def __init__(self) -> None:
        self._removed: dict[ParentKey, _Holders] = {}
        self._taken: dict[ParentKey, _Holders] = {}
        self._held: dict[int, _Holds] = {}  # id(txn) -> what it holds, until swept
        self._holds = 0
        self.lock: AbstractContextManager[Any] = nullcontext()

    def removed_by_other(self, key: ParentKey, txn: _Txn) -> bool:
        with self.lock:
            return self._other(self._removed, key, txn)

    def taken_by_other(self, key: ParentKey, txn: _Txn) -> bool:
        with self.lock:
            return self._other(self._taken, key, txn)

    def take(self, key: ParentKey, txn: _Txn) -> bool:
        """Hold ``key`` as taken by ``txn``'s child row until it finishes, unless an
        unfinished other transaction removed it: False then, and nothing held."""
        with self.lock:
            if self._other(self._removed, key, txn):
                return False
            if self._hold(self._taken, key, txn):
                self._holds_of(txn).taken.append(key)
            return True

    def remove(self, key: ParentKey, txn: _Txn) -> bool:
        """Hold ``key`` as removed by ``txn`` until it finishes, unless an unfinished other
        transaction's child row took it: False then, and nothing held."""
        with self.lock:
            if self._other(self._taken, key, txn):
                return False
            if self._hold(self._removed, key, txn):
                self._holds_of(txn).removed.append(key)
            return True

    def mark(self, txn: _Txn) -> tuple[int, int]:
        """Where ``txn``'s holds stand: ``release_since`` gives back those made after."""
        with self.lock:
            holds = self._held.get(id(txn))
            return (len(holds.taken), len(holds.removed)) if holds is not None else (0, 0)

    def release_since(self, txn: _Txn, mark: tuple[int, int]) -> None:
        """A statement of ``txn`` failed: what it held (since ``mark``) is held no more."""
        with self.lock:
            holds = self._held.get(id(txn))
            if holds is None:
                return
            for table, keys, since in ((self._taken, holds.taken, mark[0]),
                                       (self._removed, holds.removed, mark[1])):
                for key in keys[since:]:
                    self._drop(table, key, txn)
                del keys[since:]

    def __len__(self) -> int:
        with self.lock:
            return sum(1 if not isinstance(h, tuple) else len(h)
                       for table in (self._removed, self._taken) for h in table.values())

    def sweep(self) -> None:
        """Drop what finished transactions held. Also done every SWEEP_EVERY_HOLDS holds, by
        at most SWEEP_DROPS_MAX keys: on whichever thread holds, maybe the loop, and a long
        write's 200 000 keys would take ~200 ms to drop at once (a finished holder's keys
        are ignored by the look-ups meanwhile)."""
        with self.lock:
            self._sweep(None)

    def _sweep(self, drops_max: int | None) -> None:
        budget = drops_max
        for ident, holds in list(self._held.items()):
            if not holds.txn.finished:
                continue
            for table, keys in ((self._taken, holds.taken), (self._removed, holds.removed)):
                while keys and (budget is None or budget > 0):
                    self._drop(table, keys.pop(), holds.txn)
                    budget = None if budget is None else budget - 1
            if holds.taken or holds.removed:
                return  # the budget is spent: the next sweep goes on
            del self._held[ident]

    def _holds_of(self, txn: _Txn) -> _Holds:
        holds = self._held.get(id(txn))
        if holds is None:
            holds = self._held[id(txn)] = _Holds(txn)
        return holds

    @staticmethod
    def _drop(table: dict[ParentKey, _Holders], key: ParentKey, txn: _Txn) -> None:
        _store(table, key, tuple(t for t in _each(table.get(key)) if t is not txn))

    def _other(self, table: dict[ParentKey, _Holders], key: ParentKey, txn: _Txn) -> bool:
        return any(t is not txn for t in self._live(table, key))

    @staticmethod
    def _live(table: dict[ParentKey, _Holders], key: ParentKey) -> tuple[_Txn, ...]:
        holders = _each(table.get(key))
        live = tuple(t for t in holders if not t.finished)
        if len(live) != len(holders):
            _store(table, key, live)
        return live

    def _hold(self, table: dict[ParentKey, _Holders], key: ParentKey, txn: _Txn) -> bool:
        """True if ``txn`` did not hold ``key`` yet."""
        holders = self._live(table, key)
        if any(t is txn for t in holders):
            return False
        _store(table, key, holders + (txn,))
        self._holds += 1
        if self._holds % SWEEP_EVERY_HOLDS == 0:
            self._sweep(SWEEP_DROPS_MAX)
        return True


def _each(holders: _Holders | None) -> tuple[_Txn, ...]:
    if holders is None:
        return ()
    return holders if isinstance(holders, tuple) else (holders,)


def _store(table: dict[ParentKey, _Holders], key: ParentKey, holders: tuple[_Txn, ...]
           ) -> None:
    if not holders:
        table.pop(key, None)
    else:
        table[key] = holders[0] if len(holders) == 1 else holders


def parent_key(database: str, table: str, columns: Sequence[str], values: tuple[object, ...]
               ) -> ParentKey:
    """Text folded: a key compared case-insensitively must not slip past as another one. The
    names are shared between keys (one long write holds a key per row)."""
    names = (database, table, *columns)
    shared = _NAMES.get(names)
    if shared is None:
        shared = _NAMES[names] = (database.lower(), table.lower(),
                                  tuple(c.lower() for c in columns))
    return (*shared, *(v.casefold() if isinstance(v, str) else v for v in values))


# (database, table, *columns) as spelled -> their lower-case ParentKey parts; as many as the
# spellings of keys' tables and columns (bounded by the schemas)
_NAMES: dict[tuple[str, ...], tuple[str, str, tuple[str, ...]]] = {}


CHANGING_ACTIONS = frozenset({"CASCADE", "SET NULL"})  # the child changes with its parent
# cascade(child database, child table, key, old parent values, new ones (None: deleted))
Cascade = Callable[[str, str, ForeignKeyDef, tuple[object, ...], "tuple[object, ...] | None"],
                   None]


@dataclass(slots=True)
class StatementCheck:
    """Checks one statement's changed rows of database ``database`` (see the module doc).

    ``columns(table)``: the column names of a table's row images; ``lend``: reads another
    database (a pooled connection on the loop, a writer thread's own for a long write:
    sql/key_readers.py); ``txn``: the statement's transaction, ``unfinished`` what it and the
    others not finished yet hold (``UnfinishedKeys``); ``stopped``: KILL QUERY came (a long
    write's checks, on its thread, ask every STOP_POLL_ROWS rows: 1317)."""

    keys: ForeignKeysAcross
    database: str
    columns: Callable[[str], Sequence[str]]
    lend: Lender
    txn: _Txn
    unfinished: UnfinishedKeys
    stopped: Callable[[], bool] = lambda: False
    cascade: Cascade | None = None  # runs a CASCADE / SET NULL action (None: refused, 1451)
    # (table, columns) -> their positions in the table's row images
    _positions: dict[tuple[str, tuple[str, ...]], tuple[int, ...]] = field(default_factory=dict)

    def run(self, changes: Sequence[RowChange]) -> None:
        """Each key is held as it is checked, until the transaction is finished; if the
        statement fails (a later row, KILL), what it held is given back."""
        mark = self.unfinished.mark(self.txn)
        try:
            for n, change in enumerate(changes, 1):
                for fk in self.keys.of_child(self.database, change.table):
                    self._child(change, fk)
                for child_db, child, fk in self.keys.of_parent(self.database, change.table):
                    self._parent(change, child_db, child, fk)
                if n % STOP_POLL_ROWS == 0:
                    self._stop_if_killed()
            self._stop_if_killed()
        except BaseException:
            self.unfinished.release_since(self.txn, mark)
            raise

    def _stop_if_killed(self) -> None:
        if self.stopped():
            raise errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted")

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
        key = parent_key(fk.ref_database, fk.ref_table, fk.ref_columns, new)
        if not self.unfinished.take(key, self.txn) or \
                not self._exists(fk.ref_database, fk.ref_table, fk.ref_columns, new):
            raise errors.error(errors.ER_NO_REFERENCED_ROW_2, "Cannot add or update a child "
                               "row: a foreign key constraint fails " +
                               constraint_text(self.database, change.table, fk))

    def _parent(self, change: RowChange, child_db: str, child: str, fk: ForeignKeyDef
                ) -> None:
        if change.op is ChangeOp.INSERT:
            return
        old = self._values(change.table, change.before, fk.ref_columns)
        if old is None or any(v is None for v in old):
            return
        new = self._values(change.table, change.after, fk.ref_columns) \
            if change.op is ChangeOp.UPDATE else None
        if change.op is ChangeOp.UPDATE and new == old:
            return
        key = parent_key(self.database, change.table, fk.ref_columns, old)
        held = self.unfinished.remove(key, self.txn)
        action = fk.on_update if change.op is ChangeOp.UPDATE else fk.on_delete
        if held and self.cascade is not None and action in CHANGING_ACTIONS:
            self.cascade(child_db, child, fk, old, new)
            return
        if not held or \
                self._exists(child_db, child, fk.columns, old):
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
