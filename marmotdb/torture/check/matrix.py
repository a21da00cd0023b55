"""The matrix report: every run of a torture session in one table, each marmotdb run beside
the Galera run of the same workload and faults.

The runner lays a session out as ``OUT/<workload>-<faults>/`` and, with ``--galera``,
``OUT/galera-<workload>-<faults>/``. ``python -m marmotdb.torture.check --all OUT`` checks each
pair (the marmotdb directory gets the side-by-side report, the Galera one its own), then
writes ``OUT/matrix.txt``, ``OUT/matrix.json`` and ``OUT/index.html`` (linking every run's
report): per run its verdict, violations by kind, throughput, p50/p99 and unavailable seconds.
"""

from __future__ import annotations

import json
import pathlib
from html import escape
from typing import Any

from marmotdb.torture.check import report
from marmotdb.torture.check.suite import RunVerdict, check_run

GALERA_PREFIX = "galera-"


def run_dirs(out: pathlib.Path) -> list[tuple[pathlib.Path, pathlib.Path | None]]:
    """(marmotdb run, its Galera twin or None) for every run directory under ``out``; a
    Galera run without a twin stands alone."""
    found = sorted(p.parent for p in out.glob("*/history.jsonl"))
    names = {p.name for p in found}
    pairs: list[tuple[pathlib.Path, pathlib.Path | None]] = []
    for directory in found:
        if directory.name.startswith(GALERA_PREFIX):
            if directory.name[len(GALERA_PREFIX):] not in names:
                pairs.append((directory, None))
            continue
        twin = out / f"{GALERA_PREFIX}{directory.name}"
        pairs.append((directory, twin if twin.name in names else None))
    return pairs


def check_all(out: pathlib.Path) -> list[RunVerdict]:
    verdicts = []
    for directory, twin in run_dirs(out):
        pair = [check_run(directory)] + ([check_run(twin)] if twin else [])
        report.write(pair, directory)
        if twin:
            report.write(pair[1:], twin)
        verdicts.extend(pair)
    return verdicts


def row(verdict: RunVerdict) -> dict[str, Any]:
    stats = verdict.result("availability").stats
    windows = stats["unavailable"].get("all", [])
    violations: dict[str, int] = {}
    for result in verdict.results:
        for kind, count in result.counts.items():
            if not kind.endswith("(allowed)"):
                violations[kind] = violations.get(kind, 0) + count
    return {"run": verdict.run_dir.name if verdict.run_dir else "?",
            "product": verdict.history.product, "workloads": verdict.workloads,
            "valid": verdict.valid, "violations": violations,
            "ok_per_s": stats["overall"]["ok_per_s"], "p50_ms": stats["overall"]["p50_ms"],
            "p99_ms": stats["overall"]["p99_ms"],
            "unavailable_s": round(sum(b - a for a, b in windows), 3)}


def to_text(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'run':<34} {'product':<9} {'verdict':<8} {'ok/s':>8} {'p50 ms':>8} "
             f"{'p99 ms':>9} {'unavail s':>9}  violations"]
    for r in rows:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(r["violations"].items())) or "-"
        lines.append(f"{r['run']:<34} {r['product']:<9} "
                     f"{'valid' if r['valid'] else 'INVALID':<8} {r['ok_per_s']:>8} "
                     f"{r['p50_ms']!s:>8} {r['p99_ms']!s:>9} {r['unavailable_s']:>9}  {kinds}")
    lines.append("VALID" if all(r["valid"] for r in rows) else "INVALID")
    return "\n".join(lines) + "\n"


def write(verdicts: list[RunVerdict], out: pathlib.Path) -> str:
    rows = [row(v) for v in verdicts]
    text = to_text(rows)
    (out / "matrix.txt").write_text(text)
    (out / "matrix.json").write_text(json.dumps({"valid": all(r["valid"] for r in rows),
                                                 "runs": rows}, indent=1) + "\n")
    links = "".join(f"<li><a href='{escape(r['run'])}/index.html'>{escape(r['run'])}</a> "
                    f"({escape(r['product'])}): {'valid' if r['valid'] else 'INVALID'}</li>"
                    for r in rows)
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>torture runs</title></head>"
        f"<body><h1>Torture runs</h1><ul>{links}</ul><pre>{escape(text)}</pre></body></html>\n")
    return text
