"""counter: increments of one shared counter from every client, and reads of it.

Table ``counters (id INT PRIMARY KEY, n BIGINT)`` with one row (id 0, n 0). ``add`` is
``UPDATE counters SET n = n + x WHERE id = 0`` (autocommit, x in 1..``ADD_MAX``); ``read``
returns n. Every increment reads and writes the same row, so a lost update shows as a final
value below the sum of acknowledged adds; a read outside [sum of adds acknowledged before it
began, sum of adds invoked before it ended] is a stale or impossible read.
"""

from __future__ import annotations

import random
from typing import Any

from marmotdb.torture.clients import Op

TABLE = "counters"
ADD_MAX = 5
READ_SHARE = 0.2


class Counter:
    name = "counter"

    def setup(self, cur: Any) -> None:
        cur.execute(f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, n BIGINT NOT NULL)")
        cur.execute(f"INSERT INTO {TABLE} VALUES (0, 0)")

    def next_op(self, rng: random.Random) -> Op:
        if rng.random() < READ_SHARE:
            return Op("read", None)
        return Op("add", rng.randint(1, ADD_MAX))

    def run(self, cur: Any, op: Op) -> Any:
        if op.f == "read":
            cur.execute(f"SELECT n FROM {TABLE} WHERE id = 0")
            return int(cur.fetchone()[0])
        op.committing = True
        cur.execute(f"UPDATE {TABLE} SET n = n + %s WHERE id = 0", (op.value,))
        return op.value

    def tables(self) -> list[str]:
        return [TABLE]

    def meta(self) -> dict[str, Any]:
        return {"table": TABLE, "initial": 0}
