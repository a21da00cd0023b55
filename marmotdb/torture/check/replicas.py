"""Replicas: after the heal every node must hold the same tables, rows and schema.

DESIGN.md §4.2 promises convergence at every level (last-write-wins makes any apply order end
in the same state) and §5 one schema per database version, so any difference between two
nodes' final states is a violation. Each node is compared with the first node (by name): a
table missing on one side, or the first differing row of the sorted dumps (with its position,
so a reader can find it), or a ``SHOW CREATE TABLE`` text that differs (the DDL storm's check).
A node named in ``run.json``'s ``"nodes"`` without a final state is a violation too: after the
heal every node must answer, and a replica nobody could read is not shown to have converged.
"""

from __future__ import annotations

import json
from typing import Any

from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History

CHECKER = "replicas"


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    finals = dict(sorted(history.finals.items()))
    expected = [str(node) for node in history.run.get("nodes") or []]
    for node in expected:
        if node not in finals:
            result.add("final-state-missing", (),
                       f"{node} gave no final state after the heal, so its convergence is "
                       "unverified (run.json's \"problems\" say why)")
    if len(finals) < 2:
        result.notes.append(f"{len(finals)} final state(s) in the history: nothing to compare")
        return result
    reference_node, reference = next(iter(finals.items()))
    for node, state in list(finals.items())[1:]:
        if state.get("error") or reference.get("error"):
            unread = node if state.get("error") else reference_node
            result.add("final-state-missing", (), f"{unread} could not be read after the heal: "
                       f"{state.get('error') or reference.get('error')}")
            continue
        _compare_tables(reference_node, reference.get("tables") or {}, node,
                        state.get("tables") or {}, result)
        _compare_schema(reference_node, reference.get("schema") or {}, node,
                        state.get("schema") or {}, result)
    tables = {t for state in finals.values() for t in (state.get("tables") or {})}
    result.stats.update(nodes=sorted(finals), tables=sorted(tables))
    return result


def _compare_tables(left_node: str, left: dict[str, Any], right_node: str,
                    right: dict[str, Any], result: CheckResult) -> None:
    for table in sorted(set(left) | set(right)):
        if table not in left or table not in right:
            has, lacks = (left_node, right_node) if table in left else (right_node, left_node)
            result.add("divergent-replicas", (), f"table {table} exists on {has}, not on {lacks}")
            continue
        first = _first_difference(_sorted(left[table]), _sorted(right[table]))
        if first is not None:
            position, a, b = first
            result.add("divergent-replicas", (),
                       f"table {table}: {left_node} has {len(left[table])} rows, {right_node} "
                       f"{len(right[table])}; first difference at sorted row {position}: "
                       f"{left_node} {_show(a)} vs {right_node} {_show(b)}")


def _first_difference(left: list[Any], right: list[Any]) -> tuple[int, Any, Any] | None:
    for position in range(max(len(left), len(right))):
        a = left[position] if position < len(left) else None
        b = right[position] if position < len(right) else None
        if a != b:
            return position, a, b
    return None


def _sorted(rows: list[Any]) -> list[Any]:
    """The runner sorts its dumps; sorting again here makes the comparison not depend on it."""
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))


def _show(row: Any) -> str:
    return "(no row)" if row is None else json.dumps(row)


def _compare_schema(left_node: str, left: dict[str, str], right_node: str,
                    right: dict[str, str], result: CheckResult) -> None:
    for table in sorted(set(left) | set(right)):
        if left.get(table) != right.get(table):
            result.add("divergent-schema", (),
                       f"table {table}: {left_node} {left.get(table)!r} vs {right_node} "
                       f"{right.get(table)!r}")
