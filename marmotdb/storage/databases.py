"""The databases of one node: one SQLite file per MySQL database, and their connections.

Each database is ``<data_dir>/databases/<name>.db`` in WAL mode. A database owns a small pool of
APSW connections. Reads use any of them; all writes go through the database's one write
connection, which ``txn.CommitPipeline`` checks out and owns (SQLite allows one writer at a time,
and group commit needs the writers on one connection).

Names follow ``lower_case_table_names = 1``: database names are stored and compared in lower
case, like SQLite's own table names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import apsw

from marmotdb import errors
from marmotdb.errors import MarmotError

# Names MySQL reserves; information_schema is answered by the catalog, the others do not exist.
SYSTEM_DATABASES = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
# The ones a session may select (USE, or the database named at login), none of them a file:
# information_schema, and mysql, which every MySQL server has and clients log in to for
# administration (its tables, the grant tables, are not marmotdb's: SHOW TABLES there is 1235).
SELECTABLE_SYSTEM_DATABASES = ("information_schema", "mysql")
_NAME = re.compile(r"^[a-z0-9_$][a-z0-9_$-]{0,63}$")
FILE_SUFFIX = ".db"

ConnectionSetup = Callable[[apsw.Connection], None]


def normalize_name(name: str) -> str:
    lowered = name.lower()
    if not _NAME.match(lowered) or lowered in (".", ".."):
        raise errors.error(1102, f"Incorrect database name '{name}'")
    return lowered


@dataclass
class Database:
    """One database file, its connection pool and its write lock."""

    name: str
    path: Path
    setup: ConnectionSetup
    pool_max: int
    idle: list[apsw.Connection] = field(default_factory=list)
    open_count: int = 0
    dropped: bool = False
    schema_generation: int = 0  # bumped on every DDL: keys translation caches

    def checkout(self) -> apsw.Connection:
        """A connection for one statement or one transaction; give it back with checkin."""
        if self.dropped:
            raise errors.error(errors.ER_BAD_DB_ERROR, f"Unknown database '{self.name}'")
        if self.idle:
            return self.idle.pop()
        if self.open_count >= self.pool_max:
            raise errors.error(errors.ER_CON_COUNT_ERROR,
                               f"Too many open transactions on database '{self.name}'")
        conn = apsw.Connection(str(self.path))
        self.open_count += 1
        self.setup(conn)
        return conn

    def checkin(self, conn: apsw.Connection) -> None:
        if self.dropped or len(self.idle) >= self.pool_max:
            conn.close()
            self.open_count -= 1
            return
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")  # never hand a half-done transaction to the next user
        self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.open_count -= len(self.idle)
        self.idle.clear()


class Databases:
    """All databases of this node, opened lazily from ``<data_dir>/databases``."""

    def __init__(self, data_dir: Path, setup: ConnectionSetup, pool_max: int = 64,
                 on_open: Callable[[Database], None] | None = None):
        self.directory = Path(data_dir) / "databases"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.setup = setup
        self.pool_max = pool_max
        self.on_open = on_open  # once per database per process: create internal tables
        self._open: dict[str, Database] = {}

    def names(self) -> list[str]:
        return sorted(p.name[: -len(FILE_SUFFIX)] for p in self.directory.iterdir()
                      if p.name.endswith(FILE_SUFFIX))

    def exists(self, name: str) -> bool:
        lowered = name.lower()
        if not _NAME.match(lowered):  # never a path: `../x` names no database
            return False
        return lowered in self._open or (self.directory / (lowered + FILE_SUFFIX)).exists()

    def opened(self, name: str) -> Database | None:
        """The database if this process opened it already (a dict look-up, no file check)."""
        return self._open.get(name)

    def get(self, name: str) -> Database:
        lowered = name.lower()
        database = self._open.get(lowered)
        if database is not None:
            return database
        if lowered in SYSTEM_DATABASES or not self.exists(lowered):
            raise errors.error(errors.ER_BAD_DB_ERROR, f"Unknown database '{name}'")
        return self._remember(lowered)

    def _remember(self, name: str) -> Database:
        database = Database(name, self.directory / (name + FILE_SUFFIX), self.setup,
                            self.pool_max)
        self._open[name] = database
        if self.on_open is not None:
            self.on_open(database)
        return database

    def create(self, name: str, if_not_exists: bool = False) -> bool:
        """Create a database; False when it existed and ``if_not_exists`` was given."""
        lowered = normalize_name(name)
        if lowered in SYSTEM_DATABASES or self.exists(lowered):
            if if_not_exists:
                return False
            raise errors.error(errors.ER_DB_CREATE_EXISTS,
                               f"Can't create database '{name}'; database exists")
        self._remember(lowered)  # opening creates the file, with WAL and internal tables
        return True

    def drop(self, name: str, if_exists: bool = False) -> bool:
        """Delete a database's files; its write pipeline must be closed first."""
        lowered = name.lower()
        if lowered in SYSTEM_DATABASES:
            raise errors.error(errors.ER_DBACCESS_DENIED_ERROR,
                               f"Access denied to database '{name}'")
        if not self.exists(lowered):
            if if_exists:
                return False
            raise errors.error(errors.ER_DB_DROP_EXISTS,
                               f"Can't drop database '{name}'; database doesn't exist")
        database = self.get(lowered)
        if database.open_count != len(database.idle):
            raise errors.error(errors.ER_LOCK_WAIT_TIMEOUT,
                               f"Database '{name}' is in use; try again")
        database.dropped = True
        database.close()
        for suffix in (FILE_SUFFIX, FILE_SUFFIX + "-wal", FILE_SUFFIX + "-shm"):
            try:
                os.unlink(self.directory / (lowered + suffix))
            except FileNotFoundError:
                pass
        del self._open[lowered]
        return True

    def close(self) -> None:
        for database in self._open.values():
            database.close()


def configure(durability: str, cache_size_mb: int, busy_timeout_ms: int,
              extra: ConnectionSetup | None = None) -> ConnectionSetup:
    """Build the per-connection setup: WAL, durability, foreign keys, functions."""
    synchronous = "FULL" if durability == "fsync" else "NORMAL"

    def setup(conn: apsw.Connection) -> None:
        conn.set_busy_timeout(busy_timeout_ms)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA cache_size=-{cache_size_mb * 1024}")
        if extra is not None:
            extra(conn)

    return setup


__all__ = ["Database", "Databases", "configure", "normalize_name", "MarmotError",
           "SELECTABLE_SYSTEM_DATABASES", "SYSTEM_DATABASES"]
