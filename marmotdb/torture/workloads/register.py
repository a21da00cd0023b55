"""register: single-row reads, writes and compare-and-set on a few keys.

Table ``registers (k INT PRIMARY KEY, v BIGINT)``, keys 0..``KEYS``-1, no rows at first (a
read of an absent key returns null). Values are unique per run, so a read names the write it
saw. All autocommit:

    write [k, v]            INSERT ... VALUES (k, v) ON DUPLICATE KEY UPDATE v = v'
    read  [k, null]         SELECT v ... WHERE k = ?          -> [k, v or null]
    cas   [k, [old, new]]   UPDATE ... SET v = new WHERE k = ? AND v = old
                            ok if it changed the row; fail ("cas mismatch") if not

Reads run at the session's read consistency, QUORUM by default for this workload
(``SET marmot_read_consistency = 'QUORUM'``): DESIGN.md §4.4 promises that a QUORUM read sees
every write acknowledged at QUORUM before it began, which is what makes the per-key history
linearizable; the checker tests that only for QUORUM/ALL writes with QUORUM reads. ``old`` of a
cas is the last value some client saw for the key, so cas operations often match.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from marmotdb.torture.clients import Op, Refused
from marmotdb.torture.workloads.unique import UniqueValues

TABLE = "registers"
KEYS = 5
READ_SHARE, CAS_SHARE = 0.5, 0.2
DEFAULT_READ_CONSISTENCY = "QUORUM"


class Register:
    name = "register"
    read_consistency = DEFAULT_READ_CONSISTENCY

    def __init__(self) -> None:
        self.values = UniqueValues()
        self._lock = threading.Lock()
        self._seen: dict[int, int] = {}

    def setup(self, cur: Any) -> None:
        cur.execute(f"CREATE TABLE {TABLE} (k INT PRIMARY KEY, v BIGINT)")

    def next_op(self, rng: random.Random) -> Op:
        key, draw = rng.randrange(KEYS), rng.random()
        if draw < READ_SHARE:
            return Op("read", [key, None])
        with self._lock:
            seen = self._seen.get(key)
        if draw < READ_SHARE + CAS_SHARE and seen is not None:
            return Op("cas", [key, [seen, self.values.take()]])
        return Op("write", [key, self.values.take()])

    def _saw(self, key: int, value: int | None) -> None:
        if value is not None:
            with self._lock:
                self._seen[key] = value

    def run(self, cur: Any, op: Op) -> Any:
        key = op.value[0]
        if op.f == "read":
            cur.execute(f"SELECT v FROM {TABLE} WHERE k = %s", (key,))
            row = cur.fetchone()
            value = None if row is None or row[0] is None else int(row[0])
            self._saw(key, value)
            return [key, value]
        op.committing = True
        if op.f == "write":
            cur.execute(f"INSERT INTO {TABLE} (k, v) VALUES (%s, %s) "
                        "ON DUPLICATE KEY UPDATE v = %s", (key, op.value[1], op.value[1]))
            self._saw(key, op.value[1])
            return op.value
        old, new = op.value[1]
        changed = cur.execute(f"UPDATE {TABLE} SET v = %s WHERE k = %s AND v = %s",
                              (new, key, old))
        if changed != 1:
            raise Refused(f"cas mismatch: {key} is not {old}")
        self._saw(key, new)
        return op.value

    def tables(self) -> list[str]:
        return [TABLE]

    def meta(self) -> dict[str, Any]:
        return {"table": TABLE, "keys": list(range(KEYS))}
