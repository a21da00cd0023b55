"""Set: unique inserts, whole-set reads; nothing acknowledged may go missing, nothing that
failed or was never sent may appear.

- **lost-add**: an acknowledged add absent from a node's final state (its dumped table, and its
  final read). DESIGN.md §4.1 promises survival for QUORUM/ALL acknowledgements; an add
  acknowledged at ONE was committed on one node only and may die with it, so its loss is
  reported as allowed.
- **failed-add-visible**: a read or a final state holds the element of an add that failed
  ("definitely did not happen"): a violation at every level.
- **unexpected-element**: an element no add ever carried.
- **duplicate-elements**: an element twice in one read.
- **stale-read**: a QUORUM read missing an add acknowledged at QUORUM/ALL before it began
  (DESIGN.md §4.4).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from typing import Any

from marmotdb.torture.check import final_state
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, Op, is_strong_write

CHECKER = "set"


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    adds = [op for op in history.ops if op.f == "add"]
    by_element = {op.value: op for op in adds if not op.failed}
    failed = {op.value: op for op in adds if op.failed}
    reads = [op for op in history.ops if op.f == "read" and op.ok]
    for op in reads:
        elements = list(op.result or [])
        _foreign(elements, (op.index,), f"read #{op.index}", by_element, failed, result)
        for element, times in Counter(elements).items():
            if times > 1:
                result.add("duplicate-elements", (op.index,),
                           f"read #{op.index} holds {element} {times} times")
    _stale_reads(adds, reads, result)
    finals = _final_sets(history)
    for where, (members, ops) in finals.items():
        _foreign(sorted(members, key=repr), ops, where, by_element, failed, result)
    _lost(adds, finals, result)
    result.stats.update(adds=len(adds), adds_ok=sum(op.ok for op in adds),
                        adds_unknown=sum(op.outcome == "info" for op in adds),
                        reads_ok=len(reads), final_views=sorted(finals))
    return result


def _final_sets(history: History) -> dict[str, tuple[set[Any], tuple[int, ...]]]:
    views: dict[str, tuple[set[Any], tuple[int, ...]]] = {}
    for node, rows in final_state.table_rows(history, "set").items():
        views[f"final state of {node}"] = ({row[-1] for row in rows}, ())
    for node, op in final_state.final_reads(history).items():
        views[f"final read #{op.index} on {node}"] = (set(op.result or []), (op.index,))
    return views


def _foreign(elements: list[Any], ops: tuple[int, ...], where: str, by_element: dict[Any, Op],
             failed: dict[Any, Op], result: CheckResult) -> None:
    for element in elements:
        if element in by_element:
            continue
        if element in failed:
            add = failed[element]
            result.add("failed-add-visible", (add.index, *ops),
                       f"{where} holds {element}, whose add #{add.index} failed ({add.error})")
        else:
            result.add("unexpected-element", ops, f"{where} holds {element}, never added")


def _stale_reads(adds: list[Op], reads: list[Op], result: CheckResult) -> None:
    acked = sorted((op for op in adds if op.ok and is_strong_write(op.consistency)
                    and op.complete_ns is not None), key=lambda op: op.complete_ns or 0)
    times = [op.complete_ns or 0 for op in acked]
    values = [op.value for op in acked]
    for read in reads:
        if read.read_consistency not in ("QUORUM", "ALL"):
            continue
        required = bisect.bisect_left(times, read.invoke_ns)
        present = set(read.result or [])
        if not required or present.issuperset(values[:required]):
            continue
        add = next(op for op in acked[:required] if op.value not in present)
        result.add("stale-read", (add.index, read.index),
                   f"QUORUM read #{read.index} misses {add.value}, added by #{add.index} at "
                   f"{add.consistency} and acknowledged "
                   f"{(read.invoke_ns - (add.complete_ns or 0)) / 1e6:.1f} ms before the read "
                   "began", True, "QUORUM")


def _lost(adds: list[Op], finals: dict[str, tuple[set[Any], tuple[int, ...]]],
          result: CheckResult) -> None:
    missing_from: dict[int, list[str]] = defaultdict(list)
    readers: dict[int, list[int]] = defaultdict(list)
    for where, (elements, ops) in finals.items():
        for add in adds:
            if add.ok and add.value not in elements:
                missing_from[add.index].append(where)
                readers[add.index].extend(ops)
    by_index = {op.index: op for op in adds}
    for index, places in sorted(missing_from.items()):
        add = by_index[index]
        result.add("lost-add", (index, *readers[index]),
                   f"{add.value} (add #{index}, acknowledged at {add.consistency}) is missing "
                   f"from {', '.join(places)}", is_strong_write(add.consistency),
                   add.consistency)
