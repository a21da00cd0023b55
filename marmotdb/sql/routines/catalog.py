"""What SHOW and INFORMATION_SCHEMA say about routines, in MySQL 8.0's shapes.

Rows are built from ``Routine`` objects (definition.py), which the catalog snapshot of a
database loads from its ``__marmot_schema`` rows (catalog/snapshot.py).
"""

from __future__ import annotations

import re
from typing import Any

from marmotdb.sql.routines.definition import Routine

SQL_MODE = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
            "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")

SHOW_CREATE_COLUMNS = ("{kind}", "sql_mode", "Create {kind}", "character_set_client",
                       "collation_connection", "Database Collation")


def show_create_row(routine: Routine) -> tuple[Any, ...]:
    charsets = routine.charsets
    return (routine.name, routine.sql_mode or SQL_MODE, routine.create_sql(), charsets.client,
            charsets.connection, charsets.database)


def status_row(db: str, routine: Routine) -> tuple[Any, ...]:
    user, host = routine.definer_parts
    charsets = routine.charsets
    return (db, routine.name, routine.kind, f"{user}@{host}", routine.created or None,
            routine.created or None, routine.security, routine.comment, charsets.client,
            charsets.connection, charsets.database)


def _data_type(type_text: str) -> tuple[str, str]:
    """(DATA_TYPE, DTD_IDENTIFIER) of a declared type: ``varchar(10)`` -> (varchar, …)."""
    dtd = re.sub(r"^\w+", lambda m: m.group().lower(), type_text.strip())
    dtd = re.sub(r"\s+CHARSET\s+\w+$", "", dtd)
    return dtd.split("(")[0].split()[0].lower(), dtd


def routines_row(db: str, routine: Routine) -> tuple[Any, ...]:
    user, host = routine.definer_parts
    data_type, dtd = _data_type(routine.returns) if routine.returns else ("", "")
    charsets = routine.charsets
    return (routine.name, "def", db, routine.name, routine.kind, data_type, None, None, None,
            None, None, None, None, dtd or None, "SQL", routine.body, None, "SQL", "SQL",
            "YES" if routine.deterministic else "NO", routine.data_access, None,
            routine.security, routine.created or None, routine.created or None,
            routine.sql_mode or SQL_MODE, routine.comment, f"{user}@{host}", charsets.client,
            charsets.connection, charsets.database)


def parameters_rows(db: str, routine: Routine) -> list[tuple[Any, ...]]:
    rows = []
    if routine.returns is not None:
        data_type, dtd = _data_type(routine.returns)
        rows.append(("def", db, routine.name, 0, None, None, data_type, None, None, None, None,
                     None, None, None, dtd, routine.kind))
    for i, param in enumerate(routine.params, 1):
        data_type, dtd = _data_type(param.type)
        rows.append(("def", db, routine.name, i, param.mode or "IN", param.name, data_type,
                     None, None, None, None, None, None, None, dtd, routine.kind))
    return rows
