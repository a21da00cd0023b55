"""Counter: increments and reads of one number, checked against what the adds allow.

Every read, and every node's final value, must lie between bounds computed from the adds
(positive and negative alike; ``run.json``'s ``"counter_initial"`` or ``"initial"``, default 0,
is the start):

    upper: start + every positive add invoked before the read completed
                 + every negative add acknowledged before the read began
    lower: start + every positive add acknowledged before the read began
                 + every negative add (not failed) invoked before the read completed

For the final values "before" is the whole run: the bounds become [sum of acknowledged adds,
sum of acknowledged + unknown adds] for positive adds. Above the upper bound is
**counter-over** (an add applied twice, or a failed one applied): a violation at every level.
Below the lower bound is, for a final value, **counter-under** (lost increments: a violation
when every add ran at QUORUM/ALL — first committer wins on the counter row, DESIGN.md §4.1;
allowed with ONE adds, whose last-write-wins on the row loses concurrent increments by
design), and for a read a **stale-read** (a violation for QUORUM reads, §4.4; allowed for
LOCAL ones, which may be stale).
"""

from __future__ import annotations

import bisect
from typing import Any

from marmotdb.torture.check import final_state
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, is_strong_write, weakest_write_level

CHECKER = "counter"


class _Sums:
    """Prefix sums of add amounts ordered by a time, for 'sum of adds before t'."""

    def __init__(self, points: list[tuple[int, int]]) -> None:
        points.sort()
        self.times = [t for t, _ in points]
        self.prefix = [0]
        for _, amount in points:
            self.prefix.append(self.prefix[-1] + amount)

    def before(self, time_ns: int) -> int:
        return self.prefix[bisect.bisect_left(self.times, time_ns)]


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    start = int(history.run.get("counter_initial", history.run.get("initial", 0)))
    adds = [op for op in history.ops if op.f == "add" and isinstance(op.value, int)
            and not op.failed]
    level = weakest_write_level(adds)
    strong = is_strong_write(level)
    end = 1 << 62
    up_pos = _Sums([(op.invoke_ns, op.value) for op in adds if op.value > 0])
    up_neg = _Sums([(op.complete_ns, op.value) for op in adds
                    if op.value < 0 and op.ok and op.complete_ns is not None])
    low_pos = _Sums([(op.complete_ns, op.value) for op in adds
                     if op.value > 0 and op.ok and op.complete_ns is not None])
    low_neg = _Sums([(op.invoke_ns, op.value) for op in adds if op.value < 0])
    reads = [op for op in history.ops if op.f == "read" and op.ok]
    for op in reads:
        done = op.complete_ns if op.complete_ns is not None else end
        upper = start + up_pos.before(done + 1) + up_neg.before(op.invoke_ns)
        lower = start + low_pos.before(op.invoke_ns) + low_neg.before(done + 1)
        quorum = op.read_consistency in ("QUORUM", "ALL")
        _judge(op.result, lower, upper, f"read #{op.index} ({op.read_consistency})",
               (op.index,), strong and quorum, level, result, under_kind="stale-read")
    lower = start + low_pos.before(end) + low_neg.before(end)
    upper = start + up_pos.before(end) + up_neg.before(end)
    for node, rows in final_state.table_rows(history, "counter").items():
        value = sum(row[-1] for row in rows if isinstance(row[-1], int))
        _judge(value, lower, upper, f"final state of {node}", (), strong, level, result)
    for node, op in final_state.final_reads(history).items():
        _judge(op.result, lower, upper, f"final read #{op.index} on {node}", (op.index,),
               strong, level, result)
    result.stats.update(adds_ok=sum(op.ok for op in adds),
                        adds_unknown=sum(op.outcome == "info" for op in adds),
                        final_bounds=[lower, upper], write_level=level)
    return result


def _judge(value: Any, lower: int, upper: int, where: str, ops: tuple[int, ...],
           lower_promised: bool, level: str, result: CheckResult,
           under_kind: str = "counter-under") -> None:
    if not isinstance(value, int):
        result.add("unreadable", ops, f"{where} returned {value!r}, not a number")
    elif value > upper:
        result.add("counter-over", ops, f"{where} is {value}, above the most the adds allow "
                   f"({upper}): an add counted twice or a failed one applied", True, level)
    elif value < lower and under_kind == "stale-read":
        result.add(under_kind, ops, f"{where} is {value}, below the {lower} that adds "
                   "acknowledged before it began had reached", lower_promised, level)
    elif value < lower:
        result.add(under_kind, ops, f"{where} is {value}, below the acknowledged adds' "
                   f"{lower}: increments lost", lower_promised, level)

