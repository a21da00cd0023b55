"""Concurrent histories of a correct database, for property tests and timing the checker.

Each operation gets a linearization point between its invocation and its completion; the
operations are applied to a model one at a time in the order of those points, so the history
is strictly serializable (and per key linearizable) by construction, with overlapping
operations, failures (not applied) and unknown outcomes (applied or not, completed as ``info``
or never completed). A correct checker must pass every such history.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tests.torture.histories import HistoryBuilder, append, read

US = 1_000  # ns

Apply = Callable[[Any], tuple[Any, bool]]  # invocation value -> (completion value, applies)


def _schedule(rng: random.Random, processes: int, ops: int,
              make: Callable[[random.Random], tuple[str, Any]]) -> list[dict[str, Any]]:
    """Per process, back-to-back operations with random durations and outcomes."""
    planned = []
    clock = [rng.randrange(0, 50 * US) for _ in range(processes)]
    ids = list(range(processes))
    next_id = processes
    for _ in range(ops):
        slot = rng.randrange(processes)
        invoke = clock[slot] + rng.randrange(1, 20 * US)
        point = invoke + rng.randrange(1, 200 * US)
        complete = point + rng.randrange(1, 200 * US)
        outcome = rng.choices(["ok", "fail", "info"], [85, 8, 7])[0]
        f, value = make(rng)
        planned.append({"process": ids[slot], "node": f"n{slot % 3 + 1}", "f": f,
                        "value": value, "invoke": invoke, "point": point,
                        "complete": complete, "outcome": outcome,
                        "applies": outcome == "ok" or (outcome == "info" and rng.random() < .5),
                        "level": rng.choice(["QUORUM", "ALL"]),
                        "reads_at": rng.choice(["QUORUM", "LOCAL"]),
                        "silent": outcome == "info" and rng.random() < 0.3})
        clock[slot] = complete
        if outcome == "info":
            ids[slot], next_id = next_id, next_id + 1
    return planned


def _emit(planned: list[dict[str, Any]]) -> HistoryBuilder:
    h = HistoryBuilder()
    events = []
    for op in planned:
        events.append((op["invoke"], 0, op))
        if not op["silent"]:
            events.append((op["complete"], 1, op))
    for time_ns, kind, op in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            h.invoke(op["process"], op["f"], op["value"], op["node"], op["level"],
                     op["reads_at"], at_ms=time_ns / 1e6)
        else:
            h.complete(op["process"], op["f"], op["outcome"],
                       op["result"] if op["outcome"] == "ok" else op["value"],
                       None if op["outcome"] == "ok" else "1213 Deadlock found"
                       if op["outcome"] == "fail" else "timeout", op["node"],
                       at_ms=time_ns / 1e6)
    return h


def list_append_history(rng: random.Random, processes: int = 5, ops: int = 60,
                        keys: int = 4) -> HistoryBuilder:
    counter = iter(range(1, 1 << 30))

    def make(rng: random.Random) -> tuple[str, Any]:
        micro = []
        for _ in range(rng.randint(1, 4)):
            key = rng.randrange(keys)
            micro.append(append(key, next(counter)) if rng.random() < 0.5 else read(key))
        return "txn", micro

    planned = _schedule(rng, processes, ops, make)
    lists: dict[int, list[int]] = {}
    for op in sorted(planned, key=lambda o: o["point"]):
        scratch = {k: list(v) for k, v in lists.items()}
        done = []
        for m in op["value"]:
            if m[0] == "append":
                scratch.setdefault(m[1], []).append(m[2])
                done.append(m)
            else:
                done.append(read(m[1], list(scratch[m[1]]) if m[1] in scratch else None))
        op["result"] = done
        if op["applies"]:
            lists = scratch
    h = _emit(planned)
    rows = [[key, ",".join(map(str, elements))] for key, elements in sorted(lists.items())]
    for node in ("n1", "n2", "n3"):  # converged replicas: what the model ended with
        h.final(node, {"lists": rows})
    return h


def register_history(rng: random.Random, processes: int = 5, ops: int = 60,
                     keys: int = 2) -> HistoryBuilder:
    counter = iter(range(1, 1 << 30))

    def make(rng: random.Random) -> tuple[str, Any]:
        key = rng.randrange(keys)
        kind = rng.choice(["write", "read", "cas"])
        if kind == "write":
            return "write", [key, next(counter)]
        if kind == "read":
            return "read", [key, None]
        return "cas", [key, [rng.choice([None, *range(1, 6)]), next(counter)]]

    planned = _schedule(rng, processes, ops, make)
    values: dict[int, Any] = {}
    for op in sorted(planned, key=lambda o: o["point"]):
        key = op["value"][0]
        op["reads_at"] = "QUORUM"
        if op["f"] == "read":
            op["result"] = [key, values.get(key)]
            if op["outcome"] == "fail":
                op["outcome"] = "ok"
            op["applies"] = True
            continue
        op["result"] = op["value"]
        if op["f"] == "cas" and values.get(key) != op["value"][1][0]:
            op["outcome"], op["applies"] = "fail", False  # a cas that did not match failed
        if op["applies"]:
            values[key] = op["value"][1] if op["f"] == "write" else op["value"][1][1]
    h = _emit(planned)
    for node in ("n1", "n2", "n3"):  # converged replicas: what the model ended with
        h.final(node, {"registers": [[key, value] for key, value in sorted(values.items())]})
    return h
