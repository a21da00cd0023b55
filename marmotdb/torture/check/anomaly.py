"""What a checker found: anomalies naming their operations, and a checker's verdict.

An anomaly is either a **violation** (the product promised it cannot happen at the levels the
operations ran at: DESIGN.md §1, §4.1, §4.2, §4.4) or **allowed** (observed, reported, but not
promised against: write skew under QUORUM, a lost update at ONE). Only violations make a run
invalid; allowed anomalies are counted so a reader sees what the weaker levels cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# Anomaly lists are capped per kind so a badly broken run still gives a readable report; the
# count keeps the true total.
ANOMALIES_SHOWN_PER_KIND_MAX = 20


@dataclasses.dataclass(frozen=True)
class Anomaly:
    checker: str
    kind: str
    ops: tuple[int, ...]  # history indices of the invocations involved, in the order named
    message: str
    violation: bool = True
    level: str | None = None  # the consistency level it was judged at

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CheckResult:
    checker: str
    anomalies: list[Anomaly] = dataclasses.field(default_factory=list)
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def violations(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.violation]

    @property
    def valid(self) -> bool:
        return not self.violations

    def add(self, kind: str, ops: tuple[int, ...] | list[int], message: str,
            violation: bool = True, level: str | None = None) -> None:
        key = f"{kind}{'' if violation else ' (allowed)'}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] <= ANOMALIES_SHOWN_PER_KIND_MAX:
            self.anomalies.append(Anomaly(self.checker, kind, tuple(ops), message, violation,
                                          level))

    def kinds(self, violations_only: bool = True) -> set[str]:
        return {a.kind for a in self.anomalies if a.violation or not violations_only}

    def to_json(self) -> dict[str, Any]:
        return {"checker": self.checker, "valid": self.valid,
                "anomaly_counts": dict(sorted(self.counts.items())),
                "anomalies": [a.to_json() for a in self.anomalies],
                "stats": self.stats, "notes": self.notes}
