"""A run's history as the checkers see it: operations (invocation paired with completion),
fault windows and the replicas' final states.

The runner writes ``history.jsonl`` (one event a line: ``invoke`` then ``ok`` / ``fail`` /
``info`` from the same process) and ``run.json`` (metadata). Pairing is by process: a process
does one operation at a time, so its next completion closes its open invocation. An invocation
that never completed (the run ended first) is an ``info`` operation: it may or may not have
happened, exactly like a timeout. An operation is named everywhere by the ``index`` of its
invocation line, so a report's numbers can be looked up in the file with ``grep``.

Problems with the file itself (a completion without an invocation, a process reused after an
``info``) are collected as ``format_problems``: they make the run invalid, since a checker
cannot vouch for a history it had to guess at.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Iterable
from typing import Any

OUTCOMES = ("ok", "fail", "info")
# DESIGN.md §1: QUORUM is the default write level, LOCAL the default read level.
DEFAULT_WRITE_CONSISTENCY = "QUORUM"
DEFAULT_READ_CONSISTENCY = "LOCAL"
WRITE_LEVEL_RANK = {"ONE": 0, "QUORUM": 1, "ALL": 2}


class HistoryFormatError(ValueError):
    """The run directory cannot be read as a history at all (missing file, bad JSON)."""


@dataclasses.dataclass(frozen=True)
class Op:
    """One client operation: its invocation and (if any) its completion."""

    index: int
    process: int
    node: str
    f: str
    value: Any
    outcome: str  # "ok" | "fail" | "info"
    invoke_ns: int
    complete_ns: int | None  # None: never completed, open until the end of the run
    result: Any = None  # the completion's value (what reads returned)
    consistency: str = DEFAULT_WRITE_CONSISTENCY
    read_consistency: str = DEFAULT_READ_CONSISTENCY
    error: str | None = None
    completion_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"

    @property
    def latency_ns(self) -> int | None:
        return None if self.complete_ns is None else self.complete_ns - self.invoke_ns

    @property
    def effective_value(self) -> Any:
        """What the operation did: the completion's value when it was acknowledged (reads
        filled in), the invocation's otherwise."""
        return self.result if self.ok else self.value

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def describe(self) -> str:
        shown = json.dumps(self.effective_value, separators=(",", ":"))
        if len(shown) > 160:
            shown = shown[:157] + "..."
        end = "open" if self.complete_ns is None else f"{self.complete_ns / 1e9:.3f}s"
        error = f" error={self.error!r}" if self.error else ""
        return (f"#{self.index} p{self.process}@{self.node} {self.f} {self.outcome} "
                f"[{self.consistency}/{self.read_consistency}] "
                f"{self.invoke_ns / 1e9:.3f}s..{end} {shown}{error}")


@dataclasses.dataclass(frozen=True)
class FaultWindow:
    fault: str
    start_ns: int
    stop_ns: int | None  # None: never stopped by the nemesis (lasted to the end)
    detail: dict[str, Any]
    start_index: int


@dataclasses.dataclass
class History:
    ops: list[Op]
    faults: list[FaultWindow]
    finals: dict[str, dict[str, Any]]  # node -> {"tables": ..., "schema": ...}
    run: dict[str, Any]
    end_ns: int
    format_problems: list[str] = dataclasses.field(default_factory=list)

    def by_index(self) -> dict[int, Op]:
        return {op.index: op for op in self.ops}

    @property
    def product(self) -> str:
        return str(self.run.get("product", "marmotdb"))

    @property
    def load_end_ns(self) -> int:
        """When the last client operation was invoked or completed: the end of the load, before
        the runner's convergence wait and final-state dumps (which ``end_ns`` includes)."""
        return max((op.complete_ns if op.complete_ns is not None else op.invoke_ns
                    for op in self.ops), default=0)

    @property
    def last_fault_stop_ns(self) -> int:
        return max((w.stop_ns if w.stop_ns is not None else self.end_ns
                    for w in self.faults), default=0)


def parse(events: Iterable[dict[str, Any]], run: dict[str, Any] | None = None) -> History:
    run = dict(run or {})
    write_default = run.get("consistency", DEFAULT_WRITE_CONSISTENCY)
    read_default = run.get("read_consistency", DEFAULT_READ_CONSISTENCY)
    open_ops: dict[Any, dict[str, Any]] = {}  # by process (a number; anything, if malformed)
    retired: set[Any] = set()
    ops: list[Op] = []
    faults: list[FaultWindow] = []
    open_faults: dict[str, list[dict[str, Any]]] = {}
    finals: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    end_ns = 0
    for position, event in enumerate(events):
        index = event.get("index", position)
        end_ns = max(end_ns, int(event.get("time_ns", 0)))
        process = event.get("process")
        if process in ("nemesis", "final") and not isinstance(event.get("value") or {}, dict):
            problems.append(f"#{index}: a {process} line whose value is not an object")
        elif process == "nemesis":
            _fault_event(event, index, open_faults, faults, problems)
        elif process == "final":
            final = event.get("value") or {}
            if _final_shape_fits(final):
                finals[str(event.get("node"))] = final
            else:
                problems.append(f"#{index}: final state of {event.get('node')} is not "
                                "{tables: {name: [rows]}, schema: {name: text}}")
        elif event.get("type") == "invoke":
            if process in open_ops:
                problems.append(f"#{index}: process {process} invoked while #"
                                f"{open_ops[process]['index']} is still open")
            if process in retired:
                problems.append(f"#{index}: process {process} reused after an info outcome")
            open_ops[process] = {**event, "index": index}
        elif event.get("type") in OUTCOMES:
            invocation = open_ops.pop(process, None)
            if invocation is None:
                problems.append(f"#{index}: {event.get('type')} of process {process} "
                                "without an invocation")
                continue
            if event["type"] == "info":
                retired.add(process)
            ops.append(_op(invocation, event, index, write_default, read_default))
        else:
            problems.append(f"#{index}: unknown event type {event.get('type')!r}")
    for invocation in open_ops.values():
        ops.append(_op(invocation, None, None, write_default, read_default))
    for pending in open_faults.values():
        for start in pending:
            faults.append(_window(start, None))
    ops.sort(key=lambda op: op.index)
    faults.sort(key=lambda w: w.start_ns)
    return History(ops, faults, finals, run, end_ns, problems)


def _final_shape_fits(final: dict[str, Any]) -> bool:
    tables, schema = final.get("tables", {}), final.get("schema", {})
    return (isinstance(tables, dict) and isinstance(schema, dict)
            and all(isinstance(rows, list) and all(
                isinstance(row, list) and row and all(_cell(v) for v in row) for row in rows)
                for rows in tables.values()))


def _cell(value: Any) -> bool:
    """A column value as the runner dumps it: SQL values are scalars."""
    return value is None or isinstance(value, (int, float, str))


def _op(invocation: dict[str, Any], completion: dict[str, Any] | None,
        completion_index: int | None, write_default: str, read_default: str) -> Op:
    outcome = "info" if completion is None else completion["type"]
    return Op(index=int(invocation["index"]), process=invocation["process"],
              node=str(invocation.get("node", "")), f=str(invocation.get("f")),
              value=invocation.get("value"), outcome=outcome,
              invoke_ns=int(invocation.get("time_ns", 0)),
              complete_ns=None if completion is None else int(completion.get("time_ns", 0)),
              result=None if completion is None else completion.get("value"),
              consistency=str(invocation.get("consistency") or write_default).upper(),
              read_consistency=str(invocation.get("read_consistency") or read_default).upper(),
              error=None if completion is None else completion.get("error"),
              completion_index=completion_index)


def _fault_event(event: dict[str, Any], index: int, open_faults: dict[str, list[dict[str, Any]]],
                 faults: list[FaultWindow], problems: list[str]) -> None:
    detail = event.get("value") or {}
    fault = str(detail.get("fault", "?"))
    if event.get("f") == "start":
        open_faults.setdefault(fault, []).append({**event, "index": index})
    elif event.get("f") == "stop":
        pending = open_faults.get(fault)
        if pending:
            faults.append(_window(pending.pop(0), event))
        else:
            problems.append(f"#{index}: nemesis stop of {fault!r} that never started")


def _window(start: dict[str, Any], stop: dict[str, Any] | None) -> FaultWindow:
    detail = dict(start.get("value") or {})
    return FaultWindow(fault=str(detail.get("fault", "?")), start_ns=int(start.get("time_ns", 0)),
                       stop_ns=None if stop is None else int(stop.get("time_ns", 0)),
                       detail=detail, start_index=int(start["index"]))


def load(run_dir: str | pathlib.Path) -> History:
    """Read ``history.jsonl`` and ``run.json`` of a run directory."""
    directory = pathlib.Path(run_dir)
    history_path = directory / "history.jsonl"
    if not history_path.is_file():
        raise HistoryFormatError(f"{history_path}: no such file")
    run_path = directory / "run.json"
    try:
        run = json.loads(run_path.read_text()) if run_path.is_file() else {}
        events = [json.loads(line) for line in history_path.read_text().splitlines()
                  if line.strip()]
    except json.JSONDecodeError as exc:
        raise HistoryFormatError(f"{directory}: {exc}") from exc
    return parse(events, run)


def weakest_write_level(ops: Iterable[Op]) -> str:
    """The weakest write consistency among ``ops``: what a set of writes can be held to."""
    levels = [op.consistency for op in ops if op.consistency in WRITE_LEVEL_RANK]
    return min(levels, key=WRITE_LEVEL_RANK.__getitem__, default=DEFAULT_WRITE_CONSISTENCY)


def is_strong_write(level: str) -> bool:
    """QUORUM and ALL promise first committer wins and survival (DESIGN.md §4.1)."""
    return WRITE_LEVEL_RANK.get(level, 1) >= WRITE_LEVEL_RANK["QUORUM"]
