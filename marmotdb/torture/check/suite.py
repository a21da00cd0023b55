"""Which checkers judge a run, and the verdict of all of them together.

The workload comes from ``run.json`` (``"workload"``: a name or a list of names); without it,
from the operations the history holds. Every run is also judged by the replica checker (the
final states must agree, which is the whole check of the DDL storm: schema equality) and
measured by the availability checker; a history the runner wrote wrongly is a failed check of
its own ("history"), since a verdict on a guessed history would vouch for nothing.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

from marmotdb.torture.check import (
    availability,
    bank,
    bank2,
    counter,
    list_append,
    register,
    replicas,
    sets,
    shapes,
)
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, load

Checker = Callable[[History], CheckResult]
CHECKERS: dict[str, Checker] = {
    "list-append": list_append.check, "bank": bank.check, "set": sets.check,
    "register": register.check, "counter": counter.check, "bank2": bank2.check,
}
WORKLOADS = (*CHECKERS, "ddl")
# An operation kind that only one workload uses tells the workload when run.json does not.
WORKLOAD_BY_F = {"txn": "list-append", "transfer": "bank", "cas": "register",
                 "write": "register", "ddl": "ddl"}


@dataclasses.dataclass
class RunVerdict:
    run_dir: pathlib.Path | None
    history: History
    workloads: list[str]
    results: list[CheckResult]

    @property
    def valid(self) -> bool:
        return all(result.valid for result in self.results)

    def result(self, checker: str) -> CheckResult:
        return next(r for r in self.results if r.checker == checker)


def workloads_of(history: History) -> list[str]:
    declared = history.run.get("workload")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [str(w) for w in declared]
    found = {WORKLOAD_BY_F[op.f] for op in history.ops if op.f in WORKLOAD_BY_F}
    if not found and any(op.f == "add" for op in history.ops):
        found.add("counter" if any(isinstance(op.result, int) for op in history.ops
                                   if op.f == "read") else "set")
    return sorted(found)


def check_history(history: History, run_dir: pathlib.Path | None = None) -> RunVerdict:
    workloads = workloads_of(history)
    malformed = CheckResult("history")
    for problem in history.format_problems:
        malformed.add("malformed", (), problem)
    fitting = []
    for op in history.ops:
        why = shapes.problem(op, workloads)
        if why is None:
            fitting.append(op)
        else:
            malformed.add("malformed", (op.index,), why)
    history = dataclasses.replace(history, ops=fitting)
    results = [malformed] if malformed.anomalies else []
    for workload in workloads:
        if workload in CHECKERS:
            results.append(_guarded(CHECKERS[workload], workload, history))
        elif workload != "ddl":
            unknown = CheckResult("history")
            unknown.add("unknown-workload", (), f"no checker for workload {workload!r}")
            results.append(unknown)
    results.append(_guarded(replicas.check, "replicas", history))
    problems = history.run.get("problems") or []
    if problems:
        results[-1].notes.extend(f"runner: {_first_line(str(problem))}" for problem in problems)
    results.append(_guarded(availability.check, "availability", history))
    return RunVerdict(run_dir, history, workloads, results)


def _guarded(checker: Checker, name: str, history: History) -> CheckResult:
    """A checker that fails on a history is a failed check (the run cannot be vouched for),
    reported with the error, never a crash that loses the other checkers' findings."""
    try:
        return checker(history)
    except Exception as exc:  # noqa: BLE001 — turned into a finding, not swallowed
        failed = CheckResult(name)
        failed.add("checker-error", (), f"{type(exc).__name__}: {exc}")
        if name == "availability":
            failed.stats.update(availability.empty_stats())
        return failed


def check_run(run_dir: str | pathlib.Path) -> RunVerdict:
    directory = pathlib.Path(run_dir)
    return check_history(load(directory), directory)


def _first_line(text: str, chars_max: int = 200) -> str:
    """A runner's problem may carry a node's log; the report keeps its first line."""
    lines = text.splitlines() or [""]
    first = lines[0][:chars_max]
    return first + (" ... (run.json has the rest)" if len(lines) > 1 or len(lines[0]) > chars_max
                    else "")
