"""The row a write statement was storing when it failed: the values MySQL's errors name.

Theory of operation
-------------------
MySQL's duplicate-key error shows the key of the row it refused (``Duplicate entry '5' for
key 't.PRIMARY'``) and its foreign-key errors are about one row; SQLite's messages carry
neither. Every value an INSERT or UPDATE writes passes through ``MYSQL_STORE(value, type,
column, row)`` (the translator wraps each one to coerce it as MySQL does; ``row`` is the VALUES
row number, 1 for a SELECT source or an UPDATE), and that function records the coerced value
here. The session starts the record afresh before each SQLite statement and, when one fails,
asks ``statement_context`` what the record proves. It proves a row only in two cases:

* **Every row alike**: no column was recorded twice with different values under one row
  number. Then every row the statement computed has these values in the recorded columns,
  whichever of them was refused, in whatever order SQLite computed and checked them (it may
  compute a SELECT source's rows before writing any). A foreign key, checked when the
  statement ends, is then refused for these values too.
* **The last VALUES row is the failing one**: rows differ, each under its own row number, and
  the last number recorded is one more than the rows the statement had written when it failed
  (the change capture counts them). SQLite computed that row and refused it before writing it:
  UNIQUE and PRIMARY KEY are checked row by row. (If it computed every row first, the last
  number is larger and nothing is proved.) This says nothing about a foreign key.

Otherwise, and for a table with triggers (a trigger's writes go through MYSQL_STORE too),
INSERT … ON DUPLICATE KEY UPDATE (the update's values overwrite the inserted row's) and
statements writing several tables, no row is given and the error names the key or constraint
without a value. Columns the statement did not store (defaults, an UPDATE's unchanged columns,
LONGTEXT/LONGBLOB passed through unwrapped) are absent from the row, never guessed.

Cost on the write path: a comparison and a dict store per value written.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from marmotdb import errors

_ROW_KINDS = frozenset({"insert", "replace", "update"})  # Kind values


class Written(Protocol):
    """What ``statement_context`` reads of the failed statement's ``translate.Translation``.

    A protocol rather than the class: the functions (functions/context.py) hold a WrittenRow
    per session, and translate.py imports the functions, so importing translate here would
    close an import circle (sql/DESIGN.md §2)."""

    @property
    def tables(self) -> tuple[str, ...]: ...

    @property
    def kind(self) -> enum.Enum: ...

    @property
    def upsert(self) -> bool: ...


class WrittenRow:
    """What MYSQL_STORE recorded on one connection during the current statement."""

    __slots__ = ("conflicting", "row", "rows_alike", "values")

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        """A new statement: forget the last one's values."""
        self.values: dict[str, object] = {}
        self.row = 1  # the row number of ``values``
        self.rows_alike = True  # one row number only: every row recorded the same values
        self.conflicting = False  # different values under one row number: rows unknown

    def record(self, column: str, value: object, row: object) -> None:
        if row != self.row:  # the next VALUES row: its values alone
            self.row, self.values, self.rows_alike = row, {}, False
        values = self.values
        if column in values and not _same(values[column], value):
            self.conflicting = True
        values[column] = value


def _same(a: object, b: object) -> bool:
    return a is b or (type(a) is type(b) and a == b)


def statement_context(conn: Any, database: str | None, translation: Written,
                      written: WrittenRow, rows_written: int | None) -> errors.StatementContext:
    """What errors.from_sqlite needs beyond SQLite's message for a statement that failed on
    ``conn`` (its schema is read: the failed statement changed none of it). ``rows_written``:
    the rows the statement itself had written when it failed (None: not a captured write)."""
    table = translation.tables[0] if len(translation.tables) == 1 else None
    kind = translation.kind.value
    recorded = (table is not None and rows_written is not None and kind in _ROW_KINDS
                and not translation.upsert and not written.conflicting
                and not _has_triggers(conn, table))
    every_row = recorded and written.rows_alike
    last_row = recorded and written.row == (rows_written or 0) + 1
    return errors.StatementContext(
        conn=conn, database=database, table=table,
        failing_row=dict(written.values) if every_row or last_row else None,
        every_row=every_row, updating=kind == "update")


def _has_triggers(conn: Any, table: str) -> bool:
    return bool(list(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND "
                                  "lower(tbl_name) = lower(?) LIMIT 1", (table,))))
