"""Translation cost per statement: cache hit and cache miss, in microseconds.

Run ``python bench/translate_bench.py [--hits N] [--misses N] [--json]``.

A hit is what the executor pays for every statement after the first of its shape: the
literal scan (``shape.normalise``), one LRU lookup and building the parameter dict. A miss
adds sqlglot parsing, marmotdb's rewrites and SQLite generation. The ``lex`` column is the
lexing the server does around it for a COM_QUERY: ``split_statements`` on the query, then
``strip_leading`` and ``keywords`` on the statement (translation's ``normalise`` is in
``hit``). The schema view answers from a real APSW database holding the sysbench table, with a
constant ``schema_key`` (the executor's own ``PRAGMA schema_version`` read is not part of
translation). Best of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import apsw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marmotdb.sql import schema
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.functions.context import FunctionContext
from marmotdb.sql.text.shape import split_statements
from marmotdb.sql.statement import keywords, strip_leading
from marmotdb.sql.translate import cache, translate

SYSBENCH_TABLE = ("CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT "
                  "'0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT "
                  "NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */")
ORDERS_TABLE = ("CREATE TABLE orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
                "customer VARCHAR(40) NOT NULL, total DECIMAL(10,2) NOT NULL DEFAULT 0, "
                "status ENUM('new','paid','sent') NOT NULL DEFAULT 'new', created DATETIME "
                "NOT NULL DEFAULT CURRENT_TIMESTAMP, updated TIMESTAMP NULL ON UPDATE "
                "CURRENT_TIMESTAMP, UNIQUE KEY u_customer (customer))")
C_VALUE = ("68487932199-96439406143-93774651418-41631865787-96406072701-20604855487-"
           "25459966574-28203206787-41238978918-19503783441")
PAD_VALUE = "22195207048-70116052123-74140395089-76317954521-98694025897"

STATEMENTS: list[tuple[str, str]] = [
    ("SELECT 1", "SELECT 1"),
    ("point select", "SELECT c FROM sbtest1 WHERE id=4821"),
    ("range select order by", "SELECT c FROM sbtest1 WHERE id BETWEEN 4821 AND 4920 ORDER BY c"),
    ("sum range", "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 4821 AND 4920"),
    ("update k=k+1", "UPDATE sbtest1 SET k=k+1 WHERE id=4821"),
    ("update c", f"UPDATE sbtest1 SET c='{C_VALUE}' WHERE id=4821"),
    ("delete", "DELETE FROM sbtest1 WHERE id=4821"),
    ("insert 1 row", (f"INSERT INTO sbtest1 (id, k, c, pad) VALUES (4821, 5012, '{C_VALUE}', "
                      f"'{PAD_VALUE}')")),
    ("insert ... odku", ("INSERT INTO orders (customer, total) VALUES ('ann', 12.50) ON "
                         "DUPLICATE KEY UPDATE total = total + VALUES(total)")),
    ("join group by", ("SELECT o.status, COUNT(*), SUM(o.total) FROM orders o JOIN sbtest1 s "
                       "ON s.id = o.id WHERE o.created >= '2024-01-01' GROUP BY o.status")),
    ("date functions", ("SELECT DATE_FORMAT(created, '%Y-%m'), DATE_ADD(created, INTERVAL 7 "
                        "DAY) FROM orders WHERE customer LIKE 'a%' LIMIT 10, 20")),
]


class BenchSchemaView:
    """translate.SchemaView over an APSW connection, with a fixed schema key."""

    database = "bench"

    def __init__(self, conn: apsw.Connection):
        self.conn = conn

    def table_sql(self, table: str) -> str | None:
        found = self.conn.execute("SELECT sql FROM sqlite_schema WHERE name = ? COLLATE NOCASE",
                                  (table,)).fetchall()
        return found[0][0] if found else None

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        return [(r[1], r[2]) for r in self.conn.execute("SELECT * FROM pragma_table_info(?)",
                                                         (table,))] or None

    def mysql_ddl(self, table: str) -> str | None:
        return schema.mysql_ddl(self.conn, table)

    def table_meta(self, table: str) -> dict[str, object] | None:
        return schema.table_meta(self.conn, table)

    def schema_key(self) -> int:
        return 1


def setup() -> BenchSchemaView:
    conn = apsw.Connection(":memory:")
    schema.ensure_schema_table(conn)
    functions.register_functions(conn, FunctionContext())
    view = BenchSchemaView(conn)
    for ddl in (SYSBENCH_TABLE, ORDERS_TABLE):
        translation, _ = translate(ddl, view)
        for statement in translation.statements:
            conn.execute(statement)
    return view


def best_us(run: object, count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run(count)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - start) / count * 1e6)
    return best


def measure(view: BenchSchemaView, sql: str, hits: int, misses: int, rounds: int
            ) -> tuple[float, float, float]:
    translate(sql, view)

    def lex(count: int) -> None:
        for _ in range(count):
            for statement in split_statements(sql):
                keywords(strip_leading(statement))

    def hit(count: int) -> None:
        for _ in range(count):
            translate(sql, view)

    def miss(count: int) -> None:
        for _ in range(count):
            cache().clear()
            translate(sql, view)
    return best_us(lex, hits, rounds), best_us(hit, hits, rounds), best_us(miss, misses, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=20000, help="translations per hit round")
    parser.add_argument("--misses", type=int, default=300, help="translations per miss round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    view = setup()
    results = []
    for label, sql in STATEMENTS:
        lex_us, hit_us, miss_us = measure(view, sql, args.hits, args.misses, args.rounds)
        results.append({"statement": label, "lex_us": round(lex_us, 1),
                        "hit_us": round(hit_us, 1), "miss_us": round(miss_us, 1)})
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'statement':<24}{'lex µs':>10}{'hit µs':>10}{'miss µs':>10}")
    for row in results:
        print(f"{row['statement']:<24}{row['lex_us']:>10}{row['hit_us']:>10}{row['miss_us']:>10}")


if __name__ == "__main__":
    main()
