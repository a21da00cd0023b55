"""KeyReaders: the read connections of a long write's FOREIGN KEY checks, off the loop.

Theory of operation
-------------------
A FOREIGN KEY to or from another database's table is checked by reading that database's
committed rows (sql/foreign_keys_across.py, txn/DESIGN.md §10.1). A statement on the loop
borrows a pooled connection for it (``ServerState.lend``). A long write runs on a writer
thread (§2.1), and pooled connections belong to the loop: their pool, their bindings and the
statements they cache are used without locks. So a long write's checks read through a
``KeyReaders`` of their own: one read-only connection per other database, opened on the
writer thread the first time a check needs it and kept for the next long write.

``KeyReaderPool`` (one per node) hands a ``KeyReaders`` to a long write on the loop when its
job is built and takes it back on the loop when the job is finished; in between only that
job's thread uses it, so neither needs a lock. Bounds: at most KEY_READERS_IDLE_MAX sets are
kept idle (more are closed when given back); in use at once, one per long write admitted to
the writer pool (``sql.write_threads`` running + ``sql.long_writes_queued_max`` waiting);
each set holds at most one connection per database that its checks read.

A database dropped, then created again under the same name, is another file: the first time
a long write reads a database, the file's identity (device, inode) is compared with the kept
connection's, and a new connection is opened when they differ (the kept connection holds the
old inode open, so its number cannot be reused meanwhile); a database gone reads as absent,
as with ``ServerState.lend``. The connections are read-only and never checkpoint on close:
closing one of a dropped file cannot touch the WAL of the file that replaced it.

The connections have the collations and MySQL functions a table's schema may name, and no
authorizer: they run only the checks' own point reads of user tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import apsw

from marmotdb.errors import MarmotError
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.binding import ConnectionBinding
from marmotdb.storage.databases import FILE_SUFFIX, SYSTEM_DATABASES, normalize_name

KEY_READERS_IDLE_MAX = 4  # idle sets kept for the next long writes (2 writer threads by default)

Identity = tuple[int, int]  # (st_dev, st_ino) of a database file


def open_reader(path: Path, busy_timeout_ms: int, version: str) -> apsw.Connection:
    """A read-only connection to one database file for FOREIGN KEY checks."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    conn.set_busy_timeout(busy_timeout_ms)
    conn.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
    functions.register_functions(conn, ConnectionBinding(version))
    return conn


def _nothing() -> None:
    """Giving a kept connection back: it stays with its ``KeyReaders``."""


class KeyReaders:
    """One long write's connections to other databases (see the module docstring)."""

    def __init__(self, directory: Path, open_reader: Callable[[Path], apsw.Connection]):
        self._directory = directory
        self._open_reader = open_reader
        self._kept: dict[str, tuple[apsw.Connection, Identity]] = {}
        self._checked: set[str] = set()  # databases whose file this job compared already

    def start(self) -> None:
        """A new job: each database's file is compared again at its first read."""
        self._checked.clear()

    def lend(self, name: str) -> tuple[apsw.Connection, Callable[[], None]] | None:
        """A ``Lender`` (sql/foreign_keys_across.py): None if there is no such database."""
        name = name.lower()
        if name not in self._checked:
            self._checked.add(name)
            self._refresh(name)
        kept = self._kept.get(name)
        return None if kept is None else (kept[0], _nothing)

    def __len__(self) -> int:
        return len(self._kept)

    def close(self) -> None:
        for conn, _ in self._kept.values():
            conn.close()
        self._kept.clear()

    def _refresh(self, name: str) -> None:
        path = self._directory / (name + FILE_SUFFIX)
        identity = _identity(path) if _is_database_name(name) else None
        kept = self._kept.get(name)
        if kept is not None and kept[1] == identity:
            return
        if kept is not None:
            del self._kept[name]
            kept[0].close()
        if identity is not None:
            self._kept[name] = (self._open_reader(path), identity)


class KeyReaderPool:
    """The node's ``KeyReaders``: taken and given back on the loop."""

    def __init__(self, directory: Path, open_reader: Callable[[Path], apsw.Connection],
                 idle_max: int = KEY_READERS_IDLE_MAX):
        self._directory = directory
        self._open_reader = open_reader
        self._idle_max = idle_max
        self._idle: list[KeyReaders] = []
        self._lent: dict[int, KeyReaders] = {}  # id -> a set some long write holds

    def take(self) -> KeyReaders:
        readers = self._idle.pop() if self._idle else \
            KeyReaders(self._directory, self._open_reader)
        readers.start()
        self._lent[id(readers)] = readers
        return readers

    def give_back(self, readers: KeyReaders) -> None:
        if self._lent.pop(id(readers), None) is None:
            return  # given back already (or the pool closed meanwhile)
        if len(self._idle) < self._idle_max:
            self._idle.append(readers)
        else:
            readers.close()

    def connections(self) -> int:
        """Connections open in idle and lent sets (tests and bounds)."""
        return sum(map(len, self._idle)) + sum(map(len, self._lent.values()))

    def close(self) -> None:
        """At shutdown, after the writer threads stopped: every set, lent ones too."""
        for readers in self._idle + list(self._lent.values()):
            readers.close()
        self._idle.clear()
        self._lent.clear()


def _is_database_name(name: str) -> bool:
    try:
        return normalize_name(name) == name and name not in SYSTEM_DATABASES
    except MarmotError:
        return False


def _identity(path: Path) -> Identity | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino
