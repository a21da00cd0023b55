"""Reading routines from a database's ``__marmot_schema`` rows (routines/__init__.py)."""

from __future__ import annotations

import json

import apsw

from marmotdb.sql import schema
from marmotdb.sql.routines.definition import Routine, from_json


def load(conn: apsw.Connection, kind: str, name: str) -> Routine | None:
    """The routine ``name`` of ``kind`` (PROCEDURE | FUNCTION); the caller holds trust."""
    meta = schema.table_meta(conn, name, kind.lower())
    return from_json(json.dumps(meta)) if meta is not None else None


def load_all(conn: apsw.Connection) -> list[Routine]:
    """Every routine of the database, by kind then name."""
    try:
        rows = conn.execute(f'SELECT meta FROM "{schema.SCHEMA_TABLE}" WHERE kind IN '
                            "('procedure', 'function') ORDER BY kind DESC, name").fetchall()
    except apsw.SQLError:  # no schema table: a database marmotdb never wrote DDL to
        return []
    return [from_json(row[0]) for row in rows]


def upsert_statement(routine: Routine) -> str:
    return schema.upsert_statement(routine.kind.lower(), routine.name, routine.create_sql(),
                                   routine.to_json())


def delete_statement(kind: str, name: str) -> str:
    return schema.delete_statement(kind.lower(), name)
