"""Hand-made histories for the checker's tests, in the runner's format (history.jsonl events).

``op`` records a whole operation at once (invoke, then completion one tick later) unless
times are given, so tests read like the transactions they describe; ``invoke``/``complete``
build concurrent ones.
"""

from __future__ import annotations

from typing import Any

from marmotdb.torture.check.history import History, parse

MS = 1_000_000


class HistoryBuilder:
    def __init__(self, run: dict[str, Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.run = dict(run or {})
        self.now_ns = 0
        self.next_process = 0

    def _event(self, event: dict[str, Any], at_ms: float | None) -> int:
        self.now_ns = int(at_ms * MS) if at_ms is not None else self.now_ns + MS
        index = len(self.events)
        self.events.append({"index": index, "time_ns": self.now_ns, **event})
        return index

    def invoke(self, process: int, f: str, value: Any, node: str = "n1",
               consistency: str = "QUORUM", read_consistency: str = "LOCAL",
               at_ms: float | None = None) -> int:
        return self._event({"process": process, "node": node, "type": "invoke", "f": f,
                            "value": value, "consistency": consistency,
                            "read_consistency": read_consistency}, at_ms)

    def complete(self, process: int, f: str, outcome: str = "ok", value: Any = None,
                 error: str | None = None, node: str = "n1", at_ms: float | None = None) -> int:
        event: dict[str, Any] = {"process": process, "node": node, "type": outcome, "f": f,
                                 "value": value}
        if error:
            event["error"] = error
        return self._event(event, at_ms)

    def op(self, f: str, value: Any, result: Any = None, outcome: str = "ok",
           process: int | None = None, node: str = "n1", consistency: str = "QUORUM",
           read_consistency: str = "LOCAL", error: str | None = None) -> int:
        """One operation, invoked and completed before the next begins; returns its index."""
        if process is None:
            process = self.next_process
            self.next_process += 1
        index = self.invoke(process, f, value, node, consistency, read_consistency)
        shown = result if result is not None else value
        if error is None and outcome != "ok":
            error = "1213 Deadlock found" if outcome == "fail" else "connection lost"
        self.complete(process, f, outcome, shown, error, node)
        return index

    def nemesis(self, f: str, fault: str, at_ms: float | None = None, **detail: Any) -> int:
        return self._event({"process": "nemesis", "type": "info", "f": f,
                            "value": {"fault": fault, **detail}}, at_ms)

    def final(self, node: str, tables: dict[str, list[list[Any]]],
              schema: dict[str, str] | None = None, at_ms: float | None = None) -> int:
        return self._event({"process": "final", "type": "ok", "f": "final-state", "node": node,
                            "value": {"tables": tables, "schema": schema or {}}}, at_ms)

    def history(self) -> History:
        return parse(self.events, self.run)


def append(key: int, element: int) -> list[Any]:
    return ["append", key, element]


def read(key: int, elements: list[int] | None = None) -> list[Any]:
    return ["r", key, elements]
