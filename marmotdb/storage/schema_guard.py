"""Schema guards: a replayed DDL is a no-op on a replica that already has its effect.

Theory of operation (storage/DESIGN.md §4 "Idempotent replay", ddl/DESIGN.md)
---------------------------------------------------------------------------------
The duplicate check of ``apply`` (origin and origin sequence already in the log or under the
applied vector) keeps one write set from running twice. It does not help when the *effect*
of a DDL is already there by another way: the same DDL from another origin (two nodes ran
``CREATE TABLE IF NOT EXISTS t`` at once; a client retried an ALTER after an unknown
outcome), a database restored from a file that has it, a log re-read after a vector was lost.
Running the SQLite statements of a DDL again on its own result is not harmless: ``CREATE
TABLE`` fails, ``ADD COLUMN`` fails, a table rebuild copies from a column that is gone, and a
rename's bookkeeping deletes the row versions it moved the first time (Marmot v2 replays
ALTER TABLE unguarded and stops there).

So every schema-change entry carries the **catalog objects it changed, as the DDL left
them** (``CatalogObject``: its SQLite schema row or its ``__marmot_schema`` bookkeeping row,
``text = None`` for one the DDL removed). A replica whose catalog already shows every one of
them exactly so skips the entry's statements (``entry_applied``): the DDL is there. Otherwise
the statements run, and each one whose effect is visible in the catalog is skipped on its own
(``statement_applied``): the renderer's ``ALTER TABLE … ADD COLUMN`` / ``DROP COLUMN`` /
``RENAME TO`` / ``RENAME COLUMN`` (SQLite has no IF [NOT] EXISTS for them), while CREATE and
DROP of tables, indexes, views and triggers ship with IF [NOT] EXISTS
(``ddl.replay_rewrite``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import apsw
import msgspec

from marmotdb.storage.schema import load_table_schema

if TYPE_CHECKING:
    from marmotdb.storage.writeset import WriteSet

SCHEMA_TABLE = "__marmot_schema"  # the SQL layer's bookkeeping (sql/schema.py)
BOOKKEEPING = "marmot:"  # kind prefix of an object that is a __marmot_schema row

CatalogKey = tuple[str, str]


class CatalogObject(msgspec.Struct, array_like=True, frozen=True):
    """One object a DDL changed, as it left it: ``kind`` is SQLite's (table, index, view,
    trigger) or ``marmot:<kind>`` for a bookkeeping row; ``text`` its SQL (the bookkeeping
    row's MySQL text and metadata), None when the DDL removed it."""

    kind: str
    name: str
    text: str | None


def catalog_objects(conn: apsw.Connection) -> dict[CatalogKey, str]:
    """Every user object's SQL: SQLite's schema rows (internal ``__marmot_*`` and ``sqlite_*``
    ones excepted) and the bookkeeping rows. Names compare case-insensitively, as SQLite's."""
    objects = {(kind, name.lower()): sql or "" for kind, name, sql in conn.execute(
        "SELECT type, name, sql FROM sqlite_schema WHERE substr(name, 1, 9) != '__marmot_' "
        "AND substr(name, 1, 7) != 'sqlite_'")}
    if conn.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (SCHEMA_TABLE,)).fetchall():
        objects.update(((BOOKKEEPING + kind, name.lower()), f"{mysql_sql}\n{meta}")
                       for kind, name, mysql_sql, meta in conn.execute(
                           f"SELECT kind, name, mysql_sql, meta FROM {SCHEMA_TABLE}"))
    return objects


def changed_objects(before: Mapping[CatalogKey, str], after: Mapping[CatalogKey, str]
                    ) -> list[CatalogObject]:
    """What a DDL changed, as it left it, in a stable order."""
    keys = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    return [CatalogObject(kind, name, after.get((kind, name))) for kind, name in keys]


def entry_applied(conn: apsw.Connection, objects: Iterable[CatalogObject]) -> bool:
    """Does the catalog already show every object as the DDL left it? (An entry that changed
    no catalog object — a sequence reset, ANALYZE — is never skipped: it is idempotent.)"""
    wanted = list(objects)
    if not wanted:
        return False
    current = catalog_objects(conn)
    return all(current.get((o.kind, o.name)) == o.text for o in wanted)


_NAME = r'"((?:[^"]|"")+)"'
_ADD_COLUMN = re.compile(rf'^ALTER TABLE {_NAME} ADD COLUMN {_NAME}')
_DROP_COLUMN = re.compile(rf'^ALTER TABLE {_NAME} DROP COLUMN {_NAME}$')
_RENAME_COLUMN = re.compile(rf'^ALTER TABLE {_NAME} RENAME COLUMN {_NAME} TO {_NAME}$')
_RENAME_TABLE = re.compile(rf'^ALTER TABLE {_NAME} RENAME TO {_NAME}$')


def _columns(conn: apsw.Connection, table: str) -> set[str]:
    return {row[1].lower() for row in conn.execute(
        "SELECT * FROM pragma_table_xinfo(?)", (table,))}


def _table_exists(conn: apsw.Connection, name: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ? "
                             "COLLATE NOCASE", (name,)).fetchall())


def _names(found: re.Match[str]) -> list[str]:
    return [name.replace('""', '"') for name in found.groups()]


def _added(conn: apsw.Connection, table: str, column: str) -> bool:
    return column.lower() in _columns(conn, table)


def _dropped(conn: apsw.Connection, table: str, column: str) -> bool:
    return _table_exists(conn, table) and column.lower() not in _columns(conn, table)


def _column_renamed(conn: apsw.Connection, table: str, old: str, new: str) -> bool:
    columns = _columns(conn, table)
    return old.lower() not in columns and new.lower() in columns


def _table_renamed(conn: apsw.Connection, old: str, new: str) -> bool:
    return old.lower() != new.lower() and not _table_exists(conn, old) and \
        _table_exists(conn, new)


# statement pattern -> "its effect is already in the catalog", given the names it matched
_ALTER_GUARDS: tuple[tuple[re.Pattern[str], Callable[..., bool]], ...] = (
    (_ADD_COLUMN, _added), (_DROP_COLUMN, _dropped), (_RENAME_COLUMN, _column_renamed),
    (_RENAME_TABLE, _table_renamed))


def statement_applied(conn: apsw.Connection, statement: str) -> bool:
    """Is this ALTER TABLE statement's effect already in the catalog (so running it again
    would fail or do it twice)? False for every other statement."""
    if not statement.startswith("ALTER TABLE "):
        return False
    for pattern, done in _ALTER_GUARDS:
        found = pattern.match(statement)
        if found is not None:
            return done(conn, *_names(found))
    return False


def schema_version(conn: apsw.Connection) -> int:
    """The database's schema version: its DDL count (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchall()[0][0])


def lacks_schema(conn: apsw.Connection, write_set: WriteSet) -> bool:
    """Was the write set built on a schema version this replica has not reached (a DDL of
    another origin it has not applied yet)? An abort marker carries nothing to build on."""
    if not write_set.changes and not write_set.schema_changes:
        return False
    built_on = write_set.schema_version - (1 if write_set.schema_changes else 0)
    return built_on > schema_version(conn)


def built_on_older(conn: apsw.Connection, write_set: WriteSet) -> bool:
    """Was this DML write set built on a schema version older than this file's (a DDL
    applied here since it was made)? Its tables may be gone (renamed, dropped): their rows
    are skipped, not waited for (ddl/DESIGN.md §11). A DDL's own write set never is."""
    return not write_set.schema_changes and write_set.schema_version < schema_version(conn)


def table_exists(conn: apsw.Connection, name: str) -> bool:
    return _table_exists(conn, name)


def gone_or_rekeyed(conn: apsw.Connection, write_set: WriteSet, table: str) -> bool:
    """Is ``table`` of ``write_set`` gone here, or keyed by other columns than the write set
    names (a DDL since renamed or dropped it, or changed its primary key)?"""
    local = load_table_schema(conn, table)
    if local is None:
        return True
    remote = next((schema for schema in write_set.tables if schema.name == table), None)
    return remote is not None and remote.key_columns != local.key_columns
