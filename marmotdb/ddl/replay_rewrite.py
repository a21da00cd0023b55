"""The replay rewrite: the SQLite statements a DDL ships, made safe to run on its own result.

The coordinator runs a DDL's statements as translated (a CREATE TABLE of an existing table
must fail there, with MySQL's error). What it *ships* is rewritten so a replica that already
has the effect runs it as a no-op (ddl/DESIGN.md "Idempotent replay"):

* CREATE TABLE / [UNIQUE] INDEX / VIEW / TRIGGER  ->  … IF NOT EXISTS
* DROP TABLE / INDEX / VIEW / TRIGGER             ->  … IF EXISTS

* a table rebuild's copy ``MYSQL_STORE(…, 1, 2)`` (ALTER's mode: strict per the session's
  sql_mode)  ->  ``MYSQL_STORE(…, 1, 3)`` (the replay's: never strict): the cluster committed
  the DDL, so a value only a replica has (a late write at ONE) is converted as MySQL's
  non-strict ALTER converts it, counted, instead of failing the replay on every try
  (ddl/DESIGN.md §11)

SQLite stores a created object's SQL without the IF NOT EXISTS, so the coordinator and the
replicas keep identical schema rows. What SQLite cannot guard this way (ALTER TABLE ADD/DROP/
RENAME COLUMN, RENAME TO) and a DDL as a whole are guarded by the catalog when the entry is
applied (storage/schema_guard.py). Only the translator's own statement shapes are matched
(quoted names, upper-case keywords): a statement of another shape ships unchanged.
"""

from __future__ import annotations

import re

_CREATE = re.compile(r'^CREATE (TABLE|UNIQUE INDEX|INDEX|VIEW|TRIGGER) (?!IF NOT EXISTS )(?=")')
_DROP = re.compile(r'^DROP (TABLE|INDEX|VIEW|TRIGGER) (?!IF EXISTS )(?=")')


# the translator's own copy expression (sql/rewrites/ddl.py _copy_value): a quoted column, the
# type and column literals, row 1, mode 2 (STORE_ALTER)
_STRICT_COPY = re.compile(r"""MYSQL_STORE\(("(?:[^"]|"")+", '(?:[^']|'')*', '(?:[^']|'')*', 1), 2\)""")


def replay_safe(statement: str) -> str:
    """``statement`` guarded with IF [NOT] EXISTS when it creates or drops an object, and
    with a rebuild's copy converting non-strictly."""
    guarded = _CREATE.sub(r"CREATE \1 IF NOT EXISTS ", statement, count=1)
    if guarded == statement:
        guarded = _DROP.sub(r"DROP \1 IF EXISTS ", statement, count=1)
    if "MYSQL_STORE(" in guarded:
        guarded = _STRICT_COPY.sub(r"MYSQL_STORE(\1, 3)", guarded)
    return guarded


def replay_safe_all(statements: list[str]) -> list[str]:
    return [replay_safe(statement) for statement in statements]
