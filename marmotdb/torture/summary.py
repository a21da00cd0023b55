"""The numbers a run reports beside the checker's verdict: throughput, latency, and when the
cluster was unavailable. Not a checker: it says how fast and how available, never whether the
history is correct.

    throughput        acknowledged (ok) operations per second of the load, overall and in
                      each fault window and outside them
    latency           invoke -> completion of ok operations: p50, p99, max (ms)
    unavailability    gaps of at least ``GAP_S`` with no ok completion anywhere (from time 0
                      to the last invocation: the load's end), and for each
                      node the gaps with none on that node (a client of an isolated node
                      sees its own outage even while the majority carries on)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

GAP_S = 1.0


def _percentile(sorted_values: list[float], share: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def _gaps(times_s: list[float], start_s: float, end_s: float) -> list[list[float]]:
    points = [start_s, *sorted(times_s), end_s]
    return [[round(a, 3), round(b, 3)] for a, b in zip(points, points[1:], strict=False)
            if b - a >= GAP_S]


def _latency(values_ms: list[float]) -> dict[str, float | None]:
    values_ms.sort()
    return {"p50_ms": _percentile(values_ms, 0.50), "p99_ms": _percentile(values_ms, 0.99),
            "max_ms": values_ms[-1] if values_ms else None, "count": len(values_ms)}


def summarize(lines: list[dict[str, Any]]) -> dict[str, Any]:
    invoked: dict[Any, dict[str, Any]] = {}
    ok_times: list[float] = []
    ok_by_node: defaultdict[str, list[float]] = defaultdict(list)
    latencies_ms: list[float] = []
    counts: defaultdict[str, int] = defaultdict(int)
    windows: list[list[float]] = []
    open_faults: dict[str, tuple[float, str]] = {}
    end_s = 0.0
    for line in lines:
        t_s = line["time_ns"] / 1e9
        if line["process"] == "nemesis":
            if line["f"] == "start":
                open_faults[line["value"]["fault"]] = (t_s, line["value"]["fault"])
            elif line["value"].get("fault") in open_faults:
                began, name = open_faults.pop(line["value"]["fault"])
                windows.append([round(began, 3), round(t_s, 3), name])  # type: ignore[list-item]
            continue
        if line["process"] == "final":
            continue
        if line["type"] == "invoke":
            end_s = max(end_s, t_s)  # the load ends with its last invocation
            invoked[line["process"]] = line
            continue
        counts[line["type"]] += 1
        start = invoked.pop(line["process"], None)
        if line["type"] == "ok" and start is not None:
            ok_times.append(t_s)
            ok_by_node[line.get("node", "?")].append(t_s)
            latencies_ms.append((line["time_ns"] - start["time_ns"]) / 1e6)
    in_fault = sum(1 for t in ok_times if any(w[0] <= t <= w[1] for w in windows))
    fault_s = sum(w[1] - w[0] for w in windows)  # type: ignore[operator]
    return {
        "duration_s": round(end_s, 3),
        "ops": dict(counts) | {"unfinished": len(invoked)},
        "throughput_ok_per_s": round(len(ok_times) / end_s, 1) if end_s else 0.0,
        "throughput_ok_per_s_in_faults": round(in_fault / fault_s, 1) if fault_s else None,
        "throughput_ok_per_s_outside_faults":
            round((len(ok_times) - in_fault) / (end_s - fault_s), 1) if end_s > fault_s else None,
        "ok_in_fault_windows": in_fault,
        "latency": _latency(latencies_ms),
        "fault_windows_s": windows,
        "unavailable_s": _gaps(ok_times, 0.0, end_s),
        "unavailable_by_node_s": {node: _gaps(times, 0.0, end_s)
                                  for node, times in sorted(ok_by_node.items())},
    }


def render(stats: dict[str, Any]) -> str:
    """A few lines for a person (the CLI prints them)."""
    lat = stats["latency"]
    ops = ", ".join(f"{k} {v}" for k, v in sorted(stats["ops"].items()))
    gaps = "; ".join(f"{a:.1f}-{b:.1f}" for a, b in stats["unavailable_s"]) or "none"
    return (f"  ops: {ops}\n"
            f"  throughput: {stats['throughput_ok_per_s']} ok/s (in faults "
            f"{stats['throughput_ok_per_s_in_faults']}, outside "
            f"{stats['throughput_ok_per_s_outside_faults']})\n"
            f"  latency ok: p50 {_ms(lat['p50_ms'])} p99 {_ms(lat['p99_ms'])} "
            f"max {_ms(lat['max_ms'])}\n"
            f"  unavailable (no ok anywhere >= {GAP_S:g} s): {gaps}\n")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
