"""Availability: throughput, latency and the windows in which nothing succeeded.

Per second of the run (by completion time) the acknowledged operations and their p50/p99
latency; overall the same, and per operation kind and per consistency level (write/read); and **unavailability windows**: stretches of at least
``UNAVAILABLE_GAP_MS_MIN`` (``run.json``'s ``"unavailable_gap_ms"`` overrides it) in which
clients were invoking operations of a kind but none of that kind was acknowledged. Windows are
computed for all operations together and per operation kind (``f``), since a partition may
stop writes while reads go on. Each fault window gets the same figures for the operations
invoked inside it, and how much of it was unavailable.

Nothing here is a violation: availability is measured, not promised (a minority partition
*must* refuse QUORUM writes, DESIGN.md §4.1).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from typing import Any

from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, Op

CHECKER = "availability"
UNAVAILABLE_GAP_MS_MIN = 1000
NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(ops: list[Op], duration_ns: int) -> dict[str, Any]:
    latencies = sorted((op.latency_ns or 0) / NS_PER_MS for op in ops if op.ok)
    seconds = max(duration_ns / NS_PER_S, 1e-9)
    return {"ops": len(ops), "ok": len(latencies),
            "fail": sum(op.failed for op in ops),
            "info": sum(op.outcome == "info" for op in ops),
            "ok_per_s": round(len(latencies) / seconds, 2),
            "p50_ms": _round(percentile(latencies, 0.50)),
            "p99_ms": _round(percentile(latencies, 0.99))}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def per_second(ops: list[Op], end_ns: int) -> list[dict[str, Any]]:
    buckets: dict[int, list[float]] = defaultdict(list)
    failed: dict[int, int] = defaultdict(int)
    for op in ops:
        if op.complete_ns is None:
            continue
        second = op.complete_ns // NS_PER_S
        if op.ok:
            buckets[second].append((op.latency_ns or 0) / NS_PER_MS)
        else:
            failed[second] += 1
    rows = []
    for second in range(end_ns // NS_PER_S + 1):
        latencies = sorted(buckets.get(second, []))
        rows.append({"t_s": second, "ok": len(latencies), "not_ok": failed.get(second, 0),
                     "p50_ms": _round(percentile(latencies, 0.50)),
                     "p99_ms": _round(percentile(latencies, 0.99))})
    return rows


def unavailable_windows(ops: list[Op], end_ns: int, gap_ns: int) -> list[tuple[int, int]]:
    """Stretches ≥ gap_ns between acknowledgements in which some operation was invoked."""
    done = sorted(op.complete_ns for op in ops if op.ok and op.complete_ns is not None)
    invoked = sorted(op.invoke_ns for op in ops)
    if not invoked:
        return []
    edges = [invoked[0], *done, end_ns]
    windows = []
    for begin, finish in itertools.pairwise(edges):
        if finish - begin >= gap_ns and _any_between(invoked, begin, finish):
            windows.append((begin, finish))
    return windows


def _any_between(sorted_times: list[int], begin: int, finish: int) -> bool:
    position = bisect.bisect_left(sorted_times, begin)
    return position < len(sorted_times) and sorted_times[position] < finish


def empty_stats() -> dict[str, Any]:
    """The figures' shape with nothing measured (for a report whose measurement failed)."""
    return {"duration_s": 0, "overall": summary([], 1), "by_f": {}, "by_level": {},
            "outside_faults":
            summary([], 1), "faults": [], "per_second": [], "unavailable": {"all": []},
            "unavailable_gap_ms": UNAVAILABLE_GAP_MS_MIN}


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    ops = list(history.ops)
    gap_ns = int(history.run.get("unavailable_gap_ms", UNAVAILABLE_GAP_MS_MIN)) * NS_PER_MS
    end_ns = max(history.load_end_ns, *(w.stop_ns or 0 for w in history.faults), 1)
    windows = {"all": unavailable_windows(ops, end_ns, gap_ns)}
    for f in sorted({op.f for op in ops}):
        windows[f] = unavailable_windows([op for op in ops if op.f == f], end_ns, gap_ns)
    by_f = {f: summary([op for op in ops if op.f == f], end_ns)
            for f in sorted({op.f for op in ops})}
    levels = sorted({_level(op) for op in ops})
    by_level = {level: summary([op for op in ops if _level(op) == level], end_ns)
                for level in levels}
    faults = []
    for window in history.faults:
        stop = window.stop_ns if window.stop_ns is not None else end_ns
        inside = [op for op in ops if window.start_ns <= op.invoke_ns < stop]
        overlap = sum(max(0, min(b, stop) - max(a, window.start_ns)) for a, b in windows["all"])
        faults.append({"fault": window.fault, "start_s": window.start_ns / NS_PER_S,
                       "stop_s": stop / NS_PER_S, "detail": window.detail,
                       **summary(inside, max(stop - window.start_ns, 1)),
                       "unavailable_s": round(overlap / NS_PER_S, 3)})
    quiet = [op for op in ops if not any(
        w.start_ns <= op.invoke_ns < (w.stop_ns if w.stop_ns is not None else end_ns)
        for w in history.faults)]
    result.stats.update(
        duration_s=round(end_ns / NS_PER_S, 3), overall=summary(ops, end_ns), by_f=by_f,
        by_level=by_level,
        outside_faults=summary(quiet, max(end_ns - _fault_ns(history, end_ns), 1)),
        faults=faults, per_second=per_second(ops, end_ns),
        unavailable={f: [[round(a / NS_PER_S, 3), round(b / NS_PER_S, 3)] for a, b in w]
                     for f, w in windows.items()},
        unavailable_gap_ms=gap_ns // NS_PER_MS)
    return result


def _level(op: Op) -> str:
    """Write level / read level, as the runner set them for the operation's session."""
    return f"{op.consistency}/{op.read_consistency}"


def _fault_ns(history: History, end_ns: int) -> int:
    """Time covered by at least one fault window (overlapping windows counted once)."""
    spans = sorted((w.start_ns, w.stop_ns if w.stop_ns is not None else end_ns)
                   for w in history.faults)
    covered, reach = 0, 0
    for start, stop in spans:
        start = max(start, reach)
        if stop > start:
            covered += stop - start
            reach = stop
    return covered
