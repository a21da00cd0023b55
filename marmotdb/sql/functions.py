"""MySQL functions as SQLite user functions, bound to one session.

Theory of operation
-------------------
SQLite has no NOW(), DATE_FORMAT(), SUBSTRING_INDEX() …; where its own function of the same
name behaves differently (LENGTH counts characters, LOG is base 10, CEIL returns REAL) MySQL's
meaning must win. The translator renames every MySQL function listed in ``RENAMED_FUNCTIONS``
to ``MYSQL_<NAME>`` before parsing, so sqlglot passes the call through untouched and no SQLite
built-in is ever shadowed; this module registers those ``MYSQL_*`` names.

``register_functions(conn, session)`` binds them to a ``FunctionContext``: the executor updates
``statement_time_us`` before each statement so NOW()/SYSDATE()/CURRENT_TIMESTAMP are fixed per
statement, and session values (LAST_INSERT_ID, ROW_COUNT, FOUND_ROWS, DATABASE, USER, the time
zone, sql_mode) are read from it at call time, so cached translations stay valid.

``register_schema_functions(conn)`` registers what the *stored schema* needs (the
``mysql_decimal`` collation of DECIMAL columns). Every connection that opens a marmotdb database
file must call it (the executor, replication apply, snapshots, audits), or SQLite reports
"no such collation sequence".

Functions are registered deterministic (usable in indexes and CHECK) only when they are.
Randomness (RAND, UUID) comes from ``FunctionContext.rng``, a ``random.Random`` the runtime seeds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

import apsw

# Warnings kept per statement (MySQL's max_error_count default).
WARNINGS_MAX = 64


@dataclass(slots=True)
class FunctionContext:
    """Per-session state the MySQL functions read. The executor owns and updates it.

    ``statement_time_us``: UTC epoch microseconds of the current statement (NOW() value).
    ``time_zone``: the session ``time_zone`` ('SYSTEM', '+01:00', or a tz database name);
    ``system_time_zone`` is what 'SYSTEM' means. ``sql_mode``: the session sql_mode string.
    ``warnings``: (level, code, message) raised by functions and value coercion during the
    current statement, at most ``WARNINGS_MAX``; the executor clears it per statement.
    ``user_variables``: ``@x`` values; ``system_variable``: reads ``@@x`` (None if unknown).
    """

    statement_time_us: int = 0
    time_zone: str = "SYSTEM"
    system_time_zone: str = "UTC"
    sql_mode: str = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                     "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")
    last_insert_id: int = 0
    row_count: int = -1
    found_rows: int = 0
    database: str | None = None
    user: str = "root@localhost"
    current_user: str = "root@%"
    connection_id: int = 0
    version: str = "8.0.36-marmotdb"
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    warnings: list[tuple[str, int, str]] = field(default_factory=list)
    user_variables: dict[str, object] = field(default_factory=dict)
    system_variable: Callable[[str], object] | None = None
    sleep_requested_s: float = 0.0  # SLEEP(n) asks the runtime to delay the reply


RENAMED_FUNCTIONS: frozenset[str] = frozenset()


def register_functions(conn: apsw.Connection, session: FunctionContext) -> None:
    """Register every MySQL function (and the schema collations) on ``conn`` for ``session``."""
    raise NotImplementedError


def register_schema_functions(conn: apsw.Connection) -> None:
    """Register the collations the stored schema refers to. Needed by every connection."""
    raise NotImplementedError
