"""What ties a pooled SQLite connection to the session currently using it.

Pooled connections outlive sessions, but MySQL functions (NOW(), LAST_INSERT_ID(), DATABASE()),
the authorizer and the read budget are per session. Each connection gets one
``ConnectionBinding`` at open time; a session sets ``binding.session`` when it checks the
connection out and clears it on check-in. The binding is also the function context handed to
``sql.functions.register_functions``: attribute reads fall through to the bound session.

It also counts the row operations of the statement in flight through the preupdate hook, which
MySQL's affected-rows rules need (an upsert that updates counts 2; an UPDATE that leaves a row
as it was counts 0 unless the client asked for found rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import apsw

_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
                               "sqlite_compileoption_get", "zipfile", "sqlar_uncompress"})
_READ_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                           "foreign_key_list", "schema_version", "data_version", "page_count",
                           "page_size", "freelist_count", "table_list", "collation_list",
                           "function_list", "compile_options", "foreign_key_check",
                           "integrity_check", "quick_check"})
_TABLE_OPS = frozenset({apsw.SQLITE_READ, apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE,
                        apsw.SQLITE_DELETE, apsw.SQLITE_CREATE_TABLE, apsw.SQLITE_DROP_TABLE,
                        apsw.SQLITE_ALTER_TABLE, apsw.SQLITE_CREATE_INDEX,
                        apsw.SQLITE_DROP_INDEX})
_FALLBACK: dict[str, Any] = {"statement_time": 0.0, "time_zone": "SYSTEM", "last_insert_id": 0,
                             "row_count": -1, "found_rows": 0, "database": None, "user": "",
                             "connection_id": 0, "version": ""}


class ConnectionBinding:
    """Per-connection state: bound session, trust, read budget and row-operation counters."""

    __slots__ = ("session", "trusted", "budget", "budget_spent", "_steps", "inserts",
                 "updates", "updates_changed", "deletes", "first_rowid", "version",
                 "foreign_keys")

    def __init__(self, version: str = ""):
        self.session: Any = None
        self.trusted = False
        self.budget: int | None = None
        self.budget_spent = False
        self._steps = 0
        self.version = version
        self.foreign_keys = True  # PRAGMA foreign_keys as set on this connection
        self.reset_counts()

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not in __slots__: the function-context fields.
        session = object.__getattribute__(self, "session")
        if session is not None:
            return getattr(session, name)
        if name == "version":
            return object.__getattribute__(self, "version")
        try:
            return _FALLBACK[name]
        except KeyError:
            raise AttributeError(name) from None

    @contextmanager
    def trusted_scope(self) -> Iterator[None]:
        """Internal statements (catalog rows, PRAGMAs, schema look-ups) pass the authorizer."""
        previous, self.trusted = self.trusted, True
        try:
            yield
        finally:
            self.trusted = previous

    def install(self, conn: apsw.Connection) -> None:
        conn.authorizer = self.authorize
        conn.set_progress_handler(self.progress, 1000)
        conn.preupdate_hook(self.count)

    def reset_counts(self) -> None:
        self.inserts = self.updates = self.updates_changed = self.deletes = 0
        self.first_rowid = 0  # rowid of the statement's first inserted row: MySQL's insert id

    def count(self, update: apsw.PreUpdate) -> None:
        if update.depth:  # rows changed by triggers and FK actions do not count for MySQL
            return
        op = update.op
        if op == "INSERT":
            if not self.inserts:
                self.first_rowid = update.rowid_new
            self.inserts += 1
        elif op == "UPDATE":
            self.updates += 1
            if update.old != update.new:
                self.updates_changed += 1
        else:
            self.deletes += 1

    def progress(self) -> bool:
        """True aborts the running statement: the in-loop read budget ran out."""
        if self.budget is None:
            return False
        self._steps += 1
        if self._steps > self.budget:
            self.budget_spent = True
            return True
        return False

    def start_budget(self, steps: int | None) -> None:
        self.budget = steps
        self.budget_spent = False
        self._steps = 0

    def authorize(self, op: int, p1: str | None, p2: str | None, db: str | None,
                  trigger: str | None) -> int:
        if self.trusted:
            return apsw.SQLITE_OK
        if op in _TABLE_OPS and p1 and _internal(p1) and trigger is None:
            return apsw.SQLITE_DENY
        if op == apsw.SQLITE_FUNCTION and p2 and p2.lower() in _DENIED_FUNCTIONS:
            return apsw.SQLITE_DENY
        if op in (apsw.SQLITE_ATTACH, apsw.SQLITE_DETACH):
            return apsw.SQLITE_DENY
        if op == apsw.SQLITE_PRAGMA and (p2 is not None or (p1 or "").lower() not in _READ_PRAGMAS):
            return apsw.SQLITE_DENY
        return apsw.SQLITE_OK


def _internal(table: str) -> bool:
    lowered = table.lower()
    return lowered.startswith("__marmot_") or (lowered.startswith("sqlite_")
                                               and lowered != "sqlite_sequence")
