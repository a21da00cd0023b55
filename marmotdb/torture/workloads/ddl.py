"""ddl: a storm of concurrent CREATE/ALTER/DROP of tables and indexes mixed with DML.

Every operation is one statement (autocommit; a DDL is a transaction of its own, DESIGN.md
§5), recorded as ``f: "ddl"`` with the statement text as its value (the history format defines
only that ``f`` for this workload; the DML of the mix is recorded the same way). Tables
``ddl_0``..``ddl_{TABLES-1}`` are created and dropped over and over, so many statements are
refused (1146 no such table, 1060 duplicate column, 1061 duplicate index): those are ``fail``s
and expected. What must hold is in the final state: every node has the same schema (SHOW CREATE
TABLE text) and the same rows.

Column and index names carry a run-unique number, so two ALTERs never collide by accident
and a column in the final schema names the statement that added it.
"""

from __future__ import annotations

import random
from typing import Any

from marmotdb.torture.clients import Op
from marmotdb.torture.workloads.unique import UniqueValues

TABLES = 3
# statement kind -> weight
MIX = {"create": 2, "drop": 1, "add_column": 2, "add_index": 1, "insert": 6, "update": 3,
       "delete": 1}


class DdlStorm:
    name = "ddl"

    def __init__(self) -> None:
        self.numbers = UniqueValues()

    def setup(self, cur: Any) -> None:
        for i in range(TABLES):
            cur.execute(create(i))

    def next_op(self, rng: random.Random) -> Op:
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        table, n = rng.randrange(TABLES), self.numbers.take()
        name = f"ddl_{table}"
        statements = {
            "create": create(table),
            "drop": f"DROP TABLE IF EXISTS {name}",
            "add_column": f"ALTER TABLE {name} ADD COLUMN c{n} INT",
            "add_index": f"CREATE INDEX ix{n} ON {name} (a)",
            "insert": f"INSERT INTO {name} (id, a, b) VALUES ({n}, {n % 100}, 'r{n}')",
            "update": f"UPDATE {name} SET a = a + 1 WHERE id % 7 = {n % 7}",
            "delete": f"DELETE FROM {name} WHERE id % 11 = {n % 11}",
        }
        return Op("ddl", statements[kind])

    def run(self, cur: Any, op: Op) -> Any:
        op.committing = True
        cur.execute(op.value)
        return op.value

    def tables(self) -> list[str]:
        return []  # whatever exists at the end

    def meta(self) -> dict[str, Any]:
        return {"tables": [f"ddl_{i}" for i in range(TABLES)], "mix": MIX}


def create(table: int) -> str:
    return f"CREATE TABLE IF NOT EXISTS ddl_{table} (id INT PRIMARY KEY, a INT, b TEXT)"
