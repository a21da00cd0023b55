"""Apply plans: the SQL that writes a write set's row images into the local table.

A write set describes each table as its origin saw it (``TableSchema``). The local table may
differ after later DDL: columns are matched by *name*; a column the write set lacks keeps its
local default (insert) or value (update); a column the local table lacks is dropped; stored
generated columns are never written. The primary key must name the same columns on both sides
(otherwise rows could not be identified: ``KeyDiffers``) and a missing table is an error
(``TableMissing``): the caller waits for the schema to catch up rather than lose rows — except
for a write set built on an older schema version than the file's, whose table a DDL since
renamed or dropped, or whose primary key it changed (``apply.py`` skips those rows: their origin
re-emits them; ddl/DESIGN.md §11).

Plans are cached per connection and per write-set schema, and thrown away whenever SQLite's
``PRAGMA schema_version`` cookie changes (any DDL on the file, from any connection).

Public API::

    TablePlan(upsert_sql, delete_sql, upsert_params)
    TableMissing(StorageError)   the write set's table does not exist here
    KeyDiffers(StorageError)     its primary key names other columns than the write set's
    ApplyPlans(conn)  .refresh()  .plan(schema) -> TablePlan
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import apsw

from marmotdb.errors import StorageError
from marmotdb.storage.schema import TableSchema, load_table_schema
from marmotdb.storage.writeset import Row


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class TableMissing(StorageError):
    """A write set names a table this file does not have."""


class KeyDiffers(StorageError):
    """A write set's table has another primary key here (a DDL changed it)."""


class TablePlan(NamedTuple):
    upsert_sql: str
    delete_sql: str
    upsert_params: Callable[[Row, Row | None], tuple[object, ...]]


def _params_function(indexes: tuple[int, ...], rowid: bool) -> Callable[[Row, Row | None],
                                                                         tuple[object, ...]]:
    if rowid:
        return lambda key, image: (key[0], *[image[i] for i in indexes])  # type: ignore[index]
    return lambda key, image: tuple([image[i] for i in indexes])  # type: ignore[index]


def build_plan(remote: TableSchema, local: TableSchema) -> TablePlan:
    if remote.key_columns != local.key_columns:
        raise KeyDiffers(f"table {remote.name!r}: primary key ({', '.join(local.key_columns)})"
                           f" differs from the write set's ({', '.join(remote.key_columns)})")
    remote_index = {remote.columns[i]: i for i in remote.writable}
    names = [local.columns[i] for i in local.writable if local.columns[i] in remote_index]
    indexes = tuple(remote_index[name] for name in names)
    table = quote_identifier(local.name)
    rowid = local.keyed_by_rowid
    columns = (["rowid"] if rowid else []) + [quote_identifier(n) for n in names]
    target = "rowid" if rowid else ", ".join(quote_identifier(n) for n in local.key_columns)
    updates = [f"{quote_identifier(n)} = excluded.{quote_identifier(n)}" for n in names
               if n not in local.key_columns]
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    upsert_sql = (f"INSERT INTO {table}({', '.join(columns)}) VALUES "
                  f"({', '.join('?' * len(columns))}) ON CONFLICT ({target}) {action}")
    where = ("rowid = ?" if rowid else
             " AND ".join(f"{quote_identifier(n)} IS ?" for n in local.key_columns))
    delete_sql = f"DELETE FROM {table} WHERE {where}"
    return TablePlan(upsert_sql, delete_sql, _params_function(indexes, rowid))


class ApplyPlans:
    """Plans for one connection, valid while its schema cookie does not change."""

    def __init__(self, conn: apsw.Connection):
        self._conn = conn
        self._cookie: int | None = None
        self._plans: dict[TableSchema, TablePlan] = {}
        self._has: tuple[bool, bool] | None = None  # (foreign keys, triggers) in the schema

    def refresh(self) -> bool:
        """Drop the plans if the database schema changed since they were built (True then)."""
        (cookie,) = self._conn.execute("PRAGMA schema_version").fetchone() or (None,)
        if cookie != self._cookie:
            self._plans.clear()
            self._has = None
            self._cookie = cookie
            return True
        return False

    def foreign_keys_and_triggers(self) -> tuple[bool, bool]:
        """Does the schema declare any foreign key, any trigger? (An apply turns their
        enforcement off only if so: changing either setting expires every prepared statement
        of the connection, and SQLite prepares them all again.)"""
        if self._has is None:
            (fks, triggers), = self._conn.execute(
                "SELECT EXISTS(SELECT 1 FROM sqlite_schema AS s, pragma_foreign_key_list(s.name)"
                " WHERE s.type = 'table'), "
                "EXISTS(SELECT 1 FROM sqlite_schema WHERE type = 'trigger')").fetchall()
            self._has = (bool(fks), bool(triggers))
        return self._has

    def plan(self, schema: TableSchema) -> TablePlan:
        plan = self._plans.get(schema)
        if plan is None:
            local = load_table_schema(self._conn, schema.name)
            if local is None:
                raise TableMissing(f"table {schema.name!r} does not exist on this node")
            plan = self._plans[schema] = build_plan(schema, local)
        return plan
