"""A small real executor for translation tests: APSW SQLite + marmotdb's translation.

``MiniExecutor`` runs MySQL statements the way the real executor does (translate, bind the
literal parameters, run every SQLite statement in one transaction, honour
``foreign_keys_off``), without sockets or sessions. The fixture suite and the unit tests use
it; the checks at the bottom keep the harness itself honest.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import apsw
import pytest

from marmotdb import errors
from marmotdb.mysql.rows import as_int
from marmotdb.sql import schema
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.functions.context import FunctionContext, zone_is_utc
from marmotdb.sql.types import coltypes
from marmotdb.sql.text.shape import split_statements
from marmotdb.sql.translate import Kind, translate, translate_prepared
from marmotdb.sql.session import update_in_order


_SET_FOREIGN_KEY_CHECKS = re.compile(
    r"^\s*SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?foreign_key_checks\s*=\s*(0|1|ON|OFF)\s*$",
    re.IGNORECASE)
_SET_TIME_ZONE = re.compile(
    r"^\s*SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?time_zone\s*=\s*'([^']*)'\s*$", re.IGNORECASE)


class SchemaViewOver:
    """translate.SchemaView over one APSW connection."""

    def __init__(self, conn: apsw.Connection, database: str):
        self.conn = conn
        self.database = database
        self.foreign_key_checks = True

    def table_sql(self, table: str) -> str | None:
        found = self.conn.execute("SELECT sql FROM sqlite_schema WHERE type IN ('table','view') "
                                  "AND name = ? COLLATE NOCASE", (table,)).fetchall()
        return found[0][0] if found else None

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        found = [(r[1], r[2]) for r in self.conn.execute("SELECT * FROM pragma_table_info(?)",
                                                         (table,))]
        return found or None

    def mysql_ddl(self, table: str) -> str | None:
        return schema.mysql_ddl(self.conn, table)

    def table_meta(self, table: str) -> dict[str, Any] | None:
        return schema.table_meta(self.conn, table)

    def schema_key(self) -> tuple[str, int, int]:
        version = self.conn.execute("PRAGMA schema_version").fetchall()[0][0]
        return (self.database, id(self.conn), version)

    def child_tables(self, table: str) -> list[str]:
        return schema.child_tables(self.conn, table)

    def foreign_key_owner(self, name: str) -> str | None:
        return schema.foreign_key_owner(self.conn, name)

    def sqlite_index_taken(self, name: str, table: str) -> bool:
        return schema.sqlite_index_taken(self.conn, name, table)

    def sqlite_triggers(self, table: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ? "
            "COLLATE NOCASE", (table,))]


@dataclass
class Result:
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    affected: int = 0
    last_insert_id: int = 0


class MiniExecutor:
    """Runs MySQL text against an in-memory SQLite database through the translator."""

    def __init__(self, database: str = "test", *, sql_mode: str | None = None,
                 time_zone: str = "+00:00", statement_time: float = 1_700_000_000.25):
        self.conn = apsw.Connection(":memory:")
        self.conn.execute("PRAGMA foreign_keys = ON")
        schema.ensure_schema_table(self.conn)
        self.context = FunctionContext(
            statement_time=statement_time, time_zone=time_zone, database=database,
            user="root", connection_id=7, rng=random.Random(1))
        if sql_mode is not None:
            self.context.sql_mode = sql_mode
        functions.register_functions(self.conn, self.context)
        self.view = SchemaViewOver(self.conn, database)
        self.view.timestamps_local = not zone_is_utc(time_zone)
        self.changes = self.inserts = 0
        self.conn.preupdate_hook(self._count)

    def _count(self, update: apsw.PreUpdate) -> None:
        if not update.depth:
            self.changes += 1
            self.inserts += update.op == "INSERT"

    def run(self, sql: str, params: list[Any] | None = None) -> Result:
        """One statement. MySQL errors come out as MarmotError."""
        self.context.warnings.clear()
        checks = _SET_FOREIGN_KEY_CHECKS.match(sql)
        if checks is not None:  # the one session variable the translation reads
            self.foreign_key_checks = checks.group(1).upper() in ("1", "ON")
            return Result()
        zone = _SET_TIME_ZONE.match(sql)
        if zone is not None:  # the session's, which functions and TIMESTAMP columns read
            self.context.time_zone = zone.group(1)
            self.view.timestamps_local = not zone_is_utc(zone.group(1))
            return Result()
        if params is not None:
            translation, count = translate_prepared(sql, self.view)
            assert count == len(params)
            bound = {f"p{i}": v for i, v in enumerate(params)}
        else:
            translation, bound = translate(sql, self.view)
        return self._execute(translation, bound)

    def script(self, sql: str) -> list[Result]:
        return [self.run(s) for s in split_statements(sql)]

    @property
    def foreign_key_checks(self) -> bool:
        return bool(getattr(self.view, "foreign_key_checks", True))

    @foreign_key_checks.setter
    def foreign_key_checks(self, on: bool) -> None:
        self.view.foreign_key_checks = on
        self.conn.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")

    def _execute(self, translation: Any, bound: dict[str, Any]) -> Result:
        if translation.foreign_keys_off:
            self.conn.execute("PRAGMA foreign_keys = OFF")
        self.changes = self.inserts = 0
        before = self.conn.last_insert_rowid()
        result = Result()
        try:
            self.conn.execute("BEGIN")
            if translation.row_by_row:
                update_in_order(self.conn, translation, bound, lambda: None)
            for statement in () if translation.row_by_row else translation.statements:
                cursor = self.conn.cursor()
                cursor.execute(statement, bound)
                rows = cursor.fetchall()
                if translation.returns_rows and statement is translation.statements[-1]:
                    description = _description(cursor, statement, self.conn, bound)
                    result.rows = _as_client_reads(rows, description,
                                                   translation.result_decltypes)
                    result.columns = [d[0] for d in description]
            if translation.calc_found_rows:
                self.context.found_rows = self.conn.execute(translation.found_rows_sql,
                                                            bound).fetchall()[0][0]
            self.conn.execute("COMMIT")
        except apsw.Error as exc:
            self.conn.execute("ROLLBACK")
            raise errors.from_sqlite(exc, deleting=translation.kind is Kind.DELETE) from None
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            if translation.foreign_keys_off and self.foreign_key_checks:
                self.conn.execute("PRAGMA foreign_keys = ON")
        result.affected = self.changes
        if translation.kind in (Kind.INSERT, Kind.REPLACE) and translation.auto_increment \
                and self.conn.last_insert_rowid() != before:
            # MySQL reports the FIRST id a multi-row INSERT generated.
            result.last_insert_id = self.conn.last_insert_rowid() - max(self.inserts, 1) + 1
            self.context.last_insert_id = result.last_insert_id
        if translation.kind is Kind.SELECT and not translation.calc_found_rows:
            self.context.found_rows = len(result.rows)
        return result

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.run(sql).rows

    def value(self, sql: str) -> Any:
        rows = self.rows(sql)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]


def _as_client_reads(rows: list[tuple[Any, ...]], description: Any,
                     decltypes: tuple[str | None, ...]) -> list[tuple[Any, ...]]:
    """Integer columns as a client decodes them: the server's own encoder reads the value
    (a BIGINT UNSIGNED from 2^63 is stored as 8 bytes, sql/types/uint64.py)."""
    integer = []
    for i, column in enumerate(description):
        declared = (decltypes[i] if i < len(decltypes) else None) or column[1] or ""
        found = coltypes.from_decltype(declared) if declared else None
        integer.append(found is not None and found.family == "int")
    if not any(integer):
        return rows
    return [tuple(as_int(v) if is_int and isinstance(v, bytes) else v
                  for v, is_int in zip(row, integer)) for row in rows]


def _description(cursor: apsw.Cursor, statement: str, conn: apsw.Connection,
                 bound: dict[str, Any]) -> Any:
    try:
        return cursor.description
    except apsw.ExecutionCompleteError:
        found: list[Any] = []

        def trace(c: apsw.Cursor, sql: str, bindings: Any) -> bool:
            found.append(c.description)
            return False

        probe = conn.cursor()
        probe.exec_trace = trace
        try:
            probe.execute(statement, bound)
        except (apsw.ExecTraceAbort, apsw.BindingsError):
            pass
        return found[-1] if found else ()


# ---------------------------------------------------------------- the harness's own checks

def test_harness_round_trip() -> None:
    db = MiniExecutor()
    db.run("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10))")
    inserted = db.run("INSERT INTO t (name) VALUES ('a'), ('b')")
    assert inserted.affected == 2
    assert db.rows("SELECT id, name FROM t ORDER BY id") == [(1, "a"), (2, "b")]


def test_harness_rolls_back_failed_statement() -> None:
    db = MiniExecutor()
    db.run("CREATE TABLE t (id INT PRIMARY KEY)")
    db.run("INSERT INTO t VALUES (1)")
    with pytest.raises(errors.MarmotError) as caught:
        db.run("INSERT INTO t VALUES (2), (1)")
    assert caught.value.code == errors.ER_DUP_ENTRY
    assert db.rows("SELECT id FROM t") == [(1,)]
