"""list-append (Elle): transactions of appends to and reads of lists, one list per key.

Table ``lists (k INT PRIMARY KEY, v TEXT)``; a list is its elements joined by commas. A
transaction is ``BEGIN``, 1..``MICRO_OPS_MAX`` micro-ops, ``COMMIT``:

    ["append", k, x]   INSERT INTO lists VALUES (k, 'x') ON DUPLICATE KEY UPDATE
                       v = CONCAT(v, ',', 'x')     (x unique per key across the run)
    ["r", k, null]     SELECT v FROM lists WHERE k = ?  ->  [elements] or null (no row)

Keys are drawn from a window of ``ACTIVE_KEYS`` keys that slides forward as keys fill up
(``APPENDS_PER_KEY_MAX`` appends each), as Elle's generator does: contention stays high on few
keys while no list grows long enough to make reads slow. Because every element is unique per
key, a read's list tells exactly which appends it saw and in what order — what the checker
needs to infer write-write, write-read and read-write dependencies.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from marmotdb.torture.clients import Op
from marmotdb.torture.workloads.unique import UniqueValues

TABLE = "lists"
ACTIVE_KEYS = 8
APPENDS_PER_KEY_MAX = 32
MICRO_OPS_MAX = 4
READ_SHARE = 0.5


class ListAppend:
    name = "list-append"

    def __init__(self) -> None:
        self.elements = UniqueValues()
        self._lock = threading.Lock()
        self._first_key = 0
        self._appends: dict[int, int] = {}

    def setup(self, cur: Any) -> None:
        cur.execute(f"CREATE TABLE {TABLE} (k INT PRIMARY KEY, v TEXT)")

    def _key(self, rng: random.Random) -> int:
        with self._lock:
            key = self._first_key + rng.randrange(ACTIVE_KEYS)
            if self._appends.get(key, 0) >= APPENDS_PER_KEY_MAX and key == self._first_key:
                self._first_key += 1
            return key

    def next_op(self, rng: random.Random) -> Op:
        micro: list[list[Any]] = []
        for _ in range(rng.randint(1, MICRO_OPS_MAX)):
            key = self._key(rng)
            if rng.random() < READ_SHARE:
                micro.append(["r", key, None])
            else:
                with self._lock:
                    self._appends[key] = self._appends.get(key, 0) + 1
                micro.append(["append", key, self.elements.take(key)])
        return Op("txn", micro)

    def run(self, cur: Any, op: Op) -> Any:
        done: list[list[Any]] = []
        cur.execute("BEGIN")
        for kind, key, element in op.value:
            if kind == "r":
                cur.execute(f"SELECT v FROM {TABLE} WHERE k = %s", (key,))
                row = cur.fetchone()
                done.append(["r", key, None if row is None else parse(row[0])])
            else:
                cur.execute(f"INSERT INTO {TABLE} (k, v) VALUES (%s, %s) "
                            "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', %s)",
                            (key, str(element), str(element)))
                done.append(["append", key, element])
        op.committing = True
        cur.execute("COMMIT")
        return done

    def tables(self) -> list[str]:
        return [TABLE]

    def meta(self) -> dict[str, Any]:
        return {"table": TABLE, "encoding": "k INT PRIMARY KEY, v TEXT: elements joined by ','"}


def parse(text: str | None) -> list[int]:
    return [] if not text else [int(x) for x in text.split(",")]
