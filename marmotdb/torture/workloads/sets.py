"""set: unique inserts, occasional reads of the whole set.

Table ``members (v BIGINT PRIMARY KEY)``. ``add`` inserts one value never used before in the
run (autocommit: the INSERT is the commit); ``read`` returns every member, sorted. The checker
holds acknowledged adds against the final state (a lost acknowledged insert) and against reads
that began after the add was acknowledged.
"""

from __future__ import annotations

import random
from typing import Any

from marmotdb.torture.clients import Op
from marmotdb.torture.workloads.unique import UniqueValues

TABLE = "members"
READ_SHARE = 0.05


class SetAdd:
    name = "set"

    def __init__(self) -> None:
        self.values = UniqueValues()

    def setup(self, cur: Any) -> None:
        cur.execute(f"CREATE TABLE {TABLE} (v BIGINT PRIMARY KEY)")

    def next_op(self, rng: random.Random) -> Op:
        if rng.random() < READ_SHARE:
            return Op("read", None)
        return Op("add", self.values.take())

    def run(self, cur: Any, op: Op) -> Any:
        if op.f == "read":
            cur.execute(f"SELECT v FROM {TABLE} ORDER BY v")
            return [int(v) for (v,) in cur.fetchall()]
        op.committing = True
        cur.execute(f"INSERT INTO {TABLE} (v) VALUES (%s)", (op.value,))
        return op.value

    def tables(self) -> list[str]:
        return [TABLE]

    def meta(self) -> dict[str, Any]:
        return {"table": TABLE}
