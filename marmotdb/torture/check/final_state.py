"""Where a workload's rows are in the replicas' final states, and the final reads.

The runner dumps every table of every node after the heal (``final-state`` lines); a workload
checker needs its own table out of them. Its name comes from ``run.json``'s ``"tables"``
(``{"bank": "accounts", ...}``), else its ``"table"`` (a single-workload run), else the
defaults below (the runner's own names); a table may be dumped as ``table`` or
``database.table``. Rows are read by position: the first column is the key
(account, register key), the last one the value (balance, element, counter value), so a
surrogate id column in between does not matter.

**Final reads** are the history's own reads after the heal: per node, the last acknowledged
read of the workload that began once the run was quiet — after the last fault stopped and
after every other operation had completed (or, for one that never did, had been invoked). A
read during the load may be stale or miss writes still in flight; one after quiescence, in a
run whose runner waits for convergence before its final reads, may not. Both sources are used when
present: the dump sees what the node stores, the final read what a client is served.
"""

from __future__ import annotations

from typing import Any

from marmotdb.torture.check.history import History, Op

DEFAULT_TABLES = {"bank": "accounts", "set": "members", "counter": "counters",
                  "register": "registers", "list-append": "lists"}


def table_rows(history: History, workload: str) -> dict[str, list[list[Any]]]:
    """Per node, the rows of ``workload``'s table (nodes that did not dump it are absent)."""
    name = ((history.run.get("tables") or {}).get(workload) or history.run.get("table")
            or DEFAULT_TABLES[workload])
    found: dict[str, list[list[Any]]] = {}
    for node, final in sorted(history.finals.items()):
        tables = final.get("tables") or {}
        for table, rows in tables.items():
            if table == name or table.endswith("." + name):
                found[node] = [list(row) for row in rows]
                break
    return found


def database_tables(history: History) -> dict[str, dict[str, dict[str, list[list[Any]]]]]:
    """Per node, the dumped tables named ``database.table`` as {database: {table: rows}} (a
    workload whose tables live in databases of its own: bank2)."""
    found: dict[str, dict[str, dict[str, list[list[Any]]]]] = {}
    for node, final in sorted(history.finals.items()):
        databases: dict[str, dict[str, list[list[Any]]]] = {}
        for name, rows in (final.get("tables") or {}).items():
            if "." in name and isinstance(rows, list):
                database, table = name.split(".", 1)
                databases.setdefault(database, {})[table] = [list(row) for row in rows]
        found[node] = databases
    return found


def final_reads(history: History, f: str = "read") -> dict[str, Op]:
    """Per node, its last acknowledged ``f`` that began after the run was quiet."""
    healed_ns = max([history.last_fault_stop_ns] + [
        op.complete_ns if op.complete_ns is not None else op.invoke_ns
        for op in history.ops if op.f != f])
    reads: dict[str, Op] = {}
    for op in history.ops:
        if op.f == f and op.ok and op.invoke_ns >= healed_ns:
            current = reads.get(op.node)
            if current is None or op.invoke_ns > current.invoke_ns:
                reads[op.node] = op
    return reads
