"""Internal tables: files made by an older version get what was added since at their open."""

from __future__ import annotations

from pathlib import Path

import apsw

from marmotdb.storage.internal_tables import DATABASES, DDL_LOCKS, ensure_internal_tables


def test_a_file_whose_lock_table_predates_schema_version_gets_the_column(tmp_path: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "old.db"))
    ensure_internal_tables(conn)
    conn.execute(f"ALTER TABLE {DDL_LOCKS} DROP COLUMN schema_version")  # as an older file
    conn.execute(f"INSERT INTO {DDL_LOCKS} VALUES ('d', 0, 0, 0, 0, '')")
    assert conn.execute(f"SELECT 1 FROM sqlite_schema WHERE name = '{DATABASES}'").fetchall()
    ensure_internal_tables(conn)
    assert conn.execute(f"SELECT db, schema_version FROM {DDL_LOCKS}").fetchall() == [("d", 0)]
    ensure_internal_tables(conn)  # idempotent
