"""The run's history: every client operation and fault event, one JSON object per line.

The format is shared with the checker (``marmotdb/torture/check/``, which reads it and shares
no code with this runner); DESIGN.md here repeats it. In short: an operation is an ``invoke``
line and later one completion line — ``ok`` (acknowledged; a read carries what it returned),
``fail`` (definitely did not happen) or ``info`` (outcome unknown) — with the same ``process``
and ``f``. ``index`` is the order of recording; ``time_ns`` is monotonic nanoseconds since the
run started. Fault events are ``process: "nemesis"`` info lines; the final state of each node
is a ``process: "final"`` line.

Lines are written as they are recorded (line-buffered file): a runner that dies mid-run leaves
a history a person can still read. The recorder is shared by every client thread, hence the
lock; the index is assigned under it, so index order is file order.

Process numbers: a client thread takes a fresh number after every ``info`` (as in Jepsen, the
operation in doubt may still be in flight, so no later operation may claim that process).
``ProcessNumbers`` hands them out, never twice.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
NEMESIS, FINAL = "nemesis", "final"


class ProcessNumbers:
    """Client process numbers, each handed out once (threads share one instance)."""

    def __init__(self) -> None:
        self._next = itertools.count()
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            return next(self._next)


class History:
    """Append-only, thread-safe recorder writing ``history.jsonl`` as it goes."""

    def __init__(self, path: Path, started_ns: int | None = None):
        self.path = path
        self.started_ns = time.monotonic_ns() if started_ns is None else started_ns
        self._lock = threading.Lock()
        self._index = 0
        self._file = path.open("w", buffering=1, encoding="utf-8")
        self.counts = {INVOKE: 0, OK: 0, FAIL: 0, INFO: 0}

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.started_ns

    def record(self, process: int | str, type_: str, f: str, value: Any,
               node: str | None = None, **extra: Any) -> dict[str, Any]:
        """Append one line; return it (with its index and time)."""
        with self._lock:
            line: dict[str, Any] = {"index": self._index, "time_ns": self.now_ns(),
                                    "process": process}
            if node is not None:
                line["node"] = node
            line.update({"type": type_, "f": f, "value": value})
            line.update({k: v for k, v in extra.items() if v is not None})
            self._file.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
            self._index += 1
            if type_ in self.counts and process not in (NEMESIS, FINAL):
                self.counts[type_] += 1
            return line

    def nemesis(self, f: str, value: dict[str, Any]) -> None:
        self.record(NEMESIS, INFO, f, value)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(path: Path) -> list[dict[str, Any]]:
    """Every line of a history file (for the runner's own summary and the tests)."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
