"""Catalog cost per statement on the hot path: µs per call of ``catalog.answer``.

    python bench/catalog_bench.py [--tables 20] [--seconds 0.5]

Measures, on a database of ``--tables`` sysbench-shaped tables (each with a secondary index and
its MySQL DDL stored the way the translator stores it):

* the UNHANDLED fast path every ordinary statement pays (point SELECT, INSERT);
* ``SELECT @@version_comment LIMIT 1`` (the mariadb CLI at connect), ``SET NAMES utf8mb4``,
  ``SET autocommit=0``, Django's connect-time multi-variable SELECT;
* ``SHOW TABLES``, ``SHOW CREATE TABLE``;
* an INFORMATION_SCHEMA.COLUMNS query warm (same schema version: cached snapshot and rows) and
  cold (snapshot, rows and translation rebuilt, as after a DDL).

Each figure is the best of 5 runs of a timed loop (median of the loop means would hide nothing
here: the work is deterministic). Runs single-threaded in-process; no sockets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import apsw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marmotdb import errors
from marmotdb.sql import schema
from marmotdb.sql.catalog import dispatch as catalog
from marmotdb.sql.catalog.snapshot import clear_cache
from marmotdb.sql.catalog.workspace import workspace
from marmotdb.sql.variables.scopes import GlobalVariables, SessionVariables

TABLE_MYSQL = """CREATE TABLE `sbtest{n}` (
  `id` int NOT NULL AUTO_INCREMENT,
  `k` int NOT NULL DEFAULT '0',
  `c` char(120) NOT NULL DEFAULT '',
  `pad` char(60) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  KEY `k_{n}` (`k`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"""
TABLE_SQLITE = ("CREATE TABLE sbtest{n}(id INTEGER PRIMARY KEY, k INT NOT NULL DEFAULT 0, "
                "c CHAR(120) COLLATE NOCASE NOT NULL DEFAULT '', pad CHAR(60) COLLATE NOCASE "
                "NOT NULL DEFAULT '')")


class BenchContext:
    """The executor's side of CatalogContext, over one in-memory database ``sbtest``."""

    def __init__(self, tables: int) -> None:
        self.variables = SessionVariables(GlobalVariables({"version": "8.0.36-marmotdb-bench"}))
        self.current_database: str | None = "sbtest"
        self.user, self.host, self.connection_id = "bench", "127.0.0.1", 1
        self.status: dict[str, object] = {"Uptime": 1}
        self.warnings: list[tuple[str, int, str]] = []
        self.conn = apsw.Connection(":memory:")
        schema.ensure_schema_table(self.conn)
        for n in range(1, tables + 1):
            self.conn.execute(TABLE_SQLITE.format(n=n))
            self.conn.execute(f"CREATE INDEX sbtest{n}__k_{n} ON sbtest{n}(k)")
            self.conn.execute(schema.upsert_statement("table", f"sbtest{n}",
                                                      TABLE_MYSQL.format(n=n), "{}"))

    def databases(self) -> list[str]:
        return ["sbtest"]

    def connection_for(self, db: str) -> apsw.Connection:
        if db != "sbtest":
            raise errors.error(errors.ER_BAD_DB_ERROR, f"Unknown database '{db}'")
        return self.conn

    def processlist(self) -> list[tuple]:
        return []

    def grants(self) -> list[str]:
        return []

    def evaluate(self, select_sql: str) -> object:
        raise AssertionError("not reached by the benchmark")


def per_call_us(call, seconds: float) -> float:
    best = float("inf")
    for _ in range(5):
        count, start = 0, time.perf_counter()
        deadline = start + seconds / 5
        while True:
            for _ in range(20):
                call()
            count += 20
            now = time.perf_counter()
            if now >= deadline:
                break
        best = min(best, (now - start) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    ctx = BenchContext(args.tables)
    columns_sql = ("SELECT column_name, data_type, column_type FROM information_schema.columns "
                   "WHERE table_schema = DATABASE() AND table_name = 'sbtest1' "
                   "ORDER BY ordinal_position")

    def cold_columns() -> None:
        clear_cache()
        workspace().clear()
        catalog.answer(columns_sql, ctx)

    cases = [
        ("UNHANDLED: point SELECT", lambda: catalog.answer(
            "SELECT c FROM sbtest1 WHERE id=5001", ctx)),
        ("UNHANDLED: INSERT", lambda: catalog.answer(
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, 'x', 'y')", ctx)),
        ("SELECT @@version_comment LIMIT 1", lambda: catalog.answer(
            "select @@version_comment limit 1", ctx)),
        ("SET NAMES utf8mb4", lambda: catalog.answer("SET NAMES utf8mb4", ctx)),
        ("SET autocommit=0", lambda: catalog.answer("SET autocommit=0", ctx)),
        ("Django connect SELECT (6 items)", lambda: catalog.answer(
            "SELECT VERSION(), @@sql_mode, @@default_storage_engine, @@sql_auto_is_null, "
            "@@lower_case_table_names, CONVERT_TZ('2001-01-01 01:00:00', 'UTC', 'UTC') "
            "IS NOT NULL", ctx)),
        ("SHOW TABLES", lambda: catalog.answer("SHOW TABLES", ctx)),
        ("SHOW CREATE TABLE", lambda: catalog.answer("SHOW CREATE TABLE sbtest1", ctx)),
        ("INFORMATION_SCHEMA.COLUMNS warm", lambda: catalog.answer(columns_sql, ctx)),
        ("INFORMATION_SCHEMA.COLUMNS cold", cold_columns),
    ]
    print(f"catalog.answer cost, {args.tables} tables in the database (µs per statement)")
    for name, call in cases:
        call()  # warm imports and caches once
        print(f"  {name:<36} {per_call_us(call, args.seconds):10.1f}")


if __name__ == "__main__":
    main()
