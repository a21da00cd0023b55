"""The report of one run, or of two side by side (marmotdb and Galera under the same
workload and faults): a text summary, the same content as JSON, the plot as SVG, and an
``index.html`` linking them.

The text names every anomaly by its checker, class and verdict (violation at a level, or
allowed), explains it, and prints the operations it names as they are in the history, so a
reader never has to open the history to see what happened.
"""

from __future__ import annotations

import json
import pathlib
from html import escape
from typing import Any

from marmotdb.torture.check import plot
from marmotdb.torture.check.suite import RunVerdict

REPORT_FILES = ("report.txt", "report.json", "report.svg", "index.html")
# Allowed anomalies are context, not findings: the text shows a few of each kind (the JSON
# keeps every one the checker kept), so violations stay easy to find.
ALLOWED_SHOWN_PER_KIND_MAX = 3


def to_json(verdicts: list[RunVerdict]) -> dict[str, Any]:
    return {"valid": all(v.valid for v in verdicts), "runs": [_run_json(v) for v in verdicts]}


def _run_json(verdict: RunVerdict) -> dict[str, Any]:
    ops = verdict.history.by_index()
    named = sorted({i for r in verdict.results for a in r.anomalies for i in a.ops if i in ops})
    return {"run_dir": str(verdict.run_dir) if verdict.run_dir else None,
            "product": verdict.history.product, "workloads": verdict.workloads,
            "run": verdict.history.run, "valid": verdict.valid,
            "checkers": [r.to_json() for r in verdict.results],
            "ops": {str(i): ops[i].to_json() for i in named}}


def to_text(verdicts: list[RunVerdict]) -> str:
    lines: list[str] = []
    for verdict in verdicts:
        lines.extend(_run_text(verdict))
        lines.append("")
    if len(verdicts) > 1:
        lines.extend(_comparison(verdicts))
    lines.append("VALID" if all(v.valid for v in verdicts) else "INVALID")
    return "\n".join(lines) + "\n"


def _title(verdict: RunVerdict) -> str:
    run = verdict.history.run
    where = f" {verdict.run_dir}" if verdict.run_dir else ""
    return (f"{verdict.history.product}{where}: workload {', '.join(verdict.workloads) or '?'}, "
            f"nodes {len(run.get('nodes') or []) or '?'}, "
            f"{verdict.history.load_end_ns / 1e9:.1f} s of load, {len(verdict.history.ops)} ops, "
            f"{len(verdict.history.faults)} fault windows")


def _run_text(verdict: RunVerdict) -> list[str]:
    lines = [f"== {_title(verdict)}: {'valid' if verdict.valid else 'INVALID'}"]
    for result in verdict.results:
        counts = ", ".join(f"{k} x{n}" for k, n in sorted(result.counts.items())) or "nothing"
        lines.append(f"  {result.checker:<13} {'ok     ' if result.valid else 'INVALID'}  "
                     f"{counts}")
        lines.extend(f"      note: {note}" for note in result.notes)
    ops = verdict.history.by_index()
    anomalies = [a for r in verdict.results for a in r.anomalies]
    if anomalies:
        lines.append("  anomalies:")
    shown: dict[tuple[str, str], int] = {}
    for anomaly in sorted(anomalies, key=lambda a: not a.violation):
        kind = (anomaly.checker, anomaly.kind)
        shown[kind] = shown.get(kind, 0) + 1
        if not anomaly.violation and shown[kind] > ALLOWED_SHOWN_PER_KIND_MAX:
            continue
        verdict_word = (f"VIOLATION at {anomaly.level}" if anomaly.violation and anomaly.level
                        else "VIOLATION" if anomaly.violation
                        else f"allowed at {anomaly.level}")
        lines.append(f"  - [{anomaly.checker}] {anomaly.kind} ({verdict_word}): "
                     f"{anomaly.message}")
        lines.extend(f"        {ops[i].describe()}" for i in anomaly.ops if i in ops)
    lines.extend(_availability_text(verdict))
    return lines


def _availability_text(verdict: RunVerdict) -> list[str]:
    stats = verdict.result("availability").stats
    overall = stats["overall"]
    lines = [f"  throughput {overall['ok_per_s']} ok/s, latency p50 {overall['p50_ms']} ms "
             f"p99 {overall['p99_ms']} ms ({overall['ok']} ok, {overall['fail']} fail, "
             f"{overall['info']} unknown)"]
    if len(stats["by_level"]) > 1:
        for level, figures in stats["by_level"].items():
            lines.append(f"  at {level}: {figures['ok_per_s']} ok/s, p50 {figures['p50_ms']} ms "
                         f"p99 {figures['p99_ms']} ms ({figures['ok']} ok, {figures['fail']} "
                         f"fail, {figures['info']} unknown)")
    windows = stats["unavailable"].get("all", [])
    if windows:
        shown = ", ".join(f"{a}-{b} s" for a, b in windows[:10])
        lines.append(f"  unavailable (no op acknowledged for >= {stats['unavailable_gap_ms']}"
                     f" ms): {shown}")
    for fault in stats["faults"]:
        lines.append(f"  fault {fault['fault']:<16} {fault['start_s']:.1f}-{fault['stop_s']:.1f}"
                     f" s: {fault['ok_per_s']} ok/s, p50 {fault['p50_ms']} ms, p99 "
                     f"{fault['p99_ms']} ms, unavailable {fault['unavailable_s']} s")
    return lines


def _comparison(verdicts: list[RunVerdict]) -> list[str]:
    lines = ["== side by side",
             f"  {'product':<10} {'verdict':<8} {'violations':>10} {'ok/s':>9} "
             f"{'p50 ms':>9} {'p99 ms':>9} {'unavail s':>9}"]
    for verdict in verdicts:
        overall = verdict.result("availability").stats["overall"]
        windows = verdict.result("availability").stats["unavailable"].get("all", [])
        violations = sum(n for r in verdict.results for k, n in r.counts.items()
                         if not k.endswith("(allowed)"))
        lines.append(f"  {verdict.history.product:<10} "
                     f"{'valid' if verdict.valid else 'INVALID':<8} {violations:>10} "
                     f"{overall['ok_per_s']:>9} {overall['p50_ms']!s:>9} "
                     f"{overall['p99_ms']!s:>9} {sum(b - a for a, b in windows):>9.1f}")
    lines.append("")
    return lines


def to_svg(verdicts: list[RunVerdict]) -> str:
    blocks = []
    for verdict in verdicts:
        stats = verdict.result("availability").stats
        blocks.append({"title": _title(verdict), "per_second": stats["per_second"],
                       "faults": stats["faults"],
                       "unavailable": stats["unavailable"].get("all", [])})
    return plot.render(blocks)


def to_html(verdicts: list[RunVerdict], text: str) -> str:
    state = "valid" if all(v.valid for v in verdicts) else "INVALID"
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>torture check: {state}</title></head><body>"
            f"<h1>Torture check: {state}</h1>"
            "<p><a href='report.txt'>text</a> · <a href='report.json'>JSON</a> · "
            "<a href='report.svg'>plot</a></p><img src='report.svg' alt='throughput and "
            f"latency over time, fault windows shaded'><pre>{escape(text)}</pre></body></html>\n")


def write(verdicts: list[RunVerdict], directory: pathlib.Path) -> str:
    """Write the report files into ``directory``; returns the text summary."""
    text = to_text(verdicts)
    (directory / "report.txt").write_text(text)
    (directory / "report.json").write_text(json.dumps(to_json(verdicts), indent=1, default=str)
                                           + "\n")
    (directory / "report.svg").write_text(to_svg(verdicts))
    (directory / "index.html").write_text(to_html(verdicts, text))
    return text
