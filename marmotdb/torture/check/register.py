"""Register: per-key linearizability of writes, reads and compare-and-sets.

DESIGN.md §4.1/§4.4 make a single row linearizable only for writes at QUORUM or ALL read back at
QUORUM: first committer wins orders the writes, an acknowledged write is chosen by a quorum,
and a QUORUM read waits until it has applied what a quorum has. So per key:

- if every (not failed) write and cas of the key ran at QUORUM/ALL, the writes, the cas and the
  acknowledged QUORUM reads must be linearizable (LOCAL reads may be stale and are left out);
- otherwise (a ONE write: last-write-wins) only the weak properties are checked: no read of a
  value nobody wrote, none of a value only a failed write wrote; convergence is the replica
  checker's.

Theory of operation (linearizability search, after Wing & Gong with Lowe's just-in-time
linearization and memoization, as in Knossos and Porcupine). The operations' calls and
returns are one time-ordered list. The search walks it: at a call it tries to linearize that
operation now (apply it to the register; a read must return the value held, a cas must find
its old value) and goes on from the list's start without it; at the return of an operation
not yet linearized it backtracks. A state (set of linearized operations, register value)
already explored is never explored again. An operation with an unknown outcome (``info``) has
its return at the end of time, so it can be linearized anywhere after its call, including
after everything else, where it changes nothing anyone saw: that is "it did not happen". An
``info`` cas whose old value does not match is a no-op (it may have failed). The search is
bounded by ``SEARCH_STEPS_MAX`` steps per key; a key that exceeds it is reported as
unchecked in the notes, never as valid or invalid.

Separately and cheaply, a QUORUM read that returns a value overwritten, in real time, before
it began is named as a **stale read** (the anomaly DESIGN.md §4.4 rules out).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from marmotdb.torture.check import final_state
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, Op, is_strong_write

CHECKER = "register"
SEARCH_STEPS_MAX = 2_000_000
QUORUM_READS = ("QUORUM", "ALL")
END_OF_TIME_NS = 1 << 62
MISSING = object()
FINAL_INDEX = -1


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    by_key: dict[Any, list[Op]] = defaultdict(list)
    for op in history.ops:
        if op.f in ("write", "read", "cas") and isinstance(op.value, list) and op.value:
            by_key[_hashable(op.value[0])].append(op)
    initial = history.run.get("register_initial")
    finals = _final_reads(history)
    checked = weak = 0
    for key, ops in sorted(by_key.items(), key=lambda item: repr(item[0])):
        ends = [read for read in finals if read.value[0] == key] or [
            _final_read(node, key, None) for node in sorted(_nodes_with_table(history))]
        _garbage_reads(key, ops + ends, result)
        writes = [op for op in ops if op.f != "read" and not op.failed]
        if not all(is_strong_write(op.consistency) for op in writes):
            weak += 1
            _weak_final(key, writes, ends, result)
            continue
        reads = [op for op in ops if op.f == "read" and op.ok
                 and op.read_consistency in QUORUM_READS]
        _stale_reads(key, writes, reads, initial, result)
        verdict = linearize(writes + reads + ends, initial)
        checked += 1
        if verdict.linearizable is None:
            result.notes.append(f"key {key}: linearizability search gave up after "
                                f"{SEARCH_STEPS_MAX} steps ({len(writes) + len(reads)} ops)")
        elif not verdict.linearizable:
            result.add("non-linearizable", verdict.ops,
                       f"key {key}: {verdict.explanation}", True, "QUORUM")
    result.stats.update(keys=len(by_key), keys_linearizability_checked=checked,
                        keys_weak_only=weak)
    return result


def _final_read(node: str, key: Any, value: Any) -> Op:
    """A node's final value of a key as a QUORUM read after every operation (index -1: it is
    not in the history; messages name it by node)."""
    at_ns = END_OF_TIME_NS - 1  # after every completed op; unknown ones may still land later
    return Op(index=FINAL_INDEX, process=-1, node=node, f="read", value=[key, None],
              outcome="ok", invoke_ns=at_ns, complete_ns=at_ns, result=[key, value],
              read_consistency="QUORUM")


def _final_reads(history: History) -> list[Op]:
    ends = []
    for node, rows in final_state.table_rows(history, CHECKER).items():
        for row in rows:
            if len(row) >= 2:
                ends.append(_final_read(node, _hashable(row[0]), row[-1]))
    return ends


def _nodes_with_table(history: History) -> set[str]:
    """Nodes whose dump has the registers table: a key without a row there is null."""
    return set(final_state.table_rows(history, CHECKER))


def _weak_final(key: Any, writes: list[Op], ends: list[Op], result: CheckResult) -> None:
    """Keys written at ONE: after the heal a node must hold some written value, not none,
    once a write was acknowledged (a ONE acknowledgement promises no survival: allowed)."""
    acknowledged = [op for op in writes if op.ok]
    for end in ends:
        if _read_value(end) is None and acknowledged:
            result.add("lost-write", tuple(op.index for op in acknowledged[:3]),
                       f"key {key}: the final state of {end.node} holds no value although "
                       f"{len(acknowledged)} writes were acknowledged", False, "ONE")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _written(op: Op) -> Any:
    """The value a write or cas puts in the register (MISSING for a read)."""
    if op.f == "write":
        return op.value[1]
    if op.f == "cas" and isinstance(op.value[1], list) and len(op.value[1]) == 2:
        return op.value[1][1]
    return MISSING


def _read_value(op: Op) -> Any:
    result = op.result
    return result[1] if isinstance(result, list) and len(result) == 2 else MISSING


def _garbage_reads(key: Any, ops: list[Op], result: CheckResult) -> None:
    happened = {_hashable(_written(op)) for op in ops if op.f != "read" and not op.failed}
    failed = {_hashable(_written(op)): op for op in ops if op.f != "read" and op.failed}
    for op in ops:
        if op.f != "read" or not op.ok:
            continue
        value = _hashable(_read_value(op))
        if value is None or value is MISSING or value in happened:
            continue
        if value in failed:
            result.add("aborted-read", _indices(failed[value], op),
                       f"key {key}: {_name(op)} returned {value!r}, written only by "
                       f"#{failed[value].index}, which failed ({failed[value].error})")
        else:
            result.add("garbage-read", _indices(op),
                       f"key {key}: {_name(op)} returned {value!r}, which no operation wrote")


def _name(op: Op) -> str:
    return f"the final state of {op.node}" if op.index == FINAL_INDEX else f"read #{op.index}"


def _indices(*ops: Op) -> tuple[int, ...]:
    """History indices to name (final-state pseudo-reads have none)."""
    return tuple(op.index for op in ops if op.index != FINAL_INDEX)


def _stale_reads(key: Any, writes: list[Op], reads: list[Op], initial: Any,
                 result: CheckResult) -> None:
    """A QUORUM read returning v although every write of v was acknowledged before another
    acknowledged write began, which itself completed before the read began."""
    acked = sorted((op for op in writes if op.ok and op.complete_ns is not None),
                   key=lambda op: op.complete_ns or 0)
    writers_of: dict[Any, list[Op]] = defaultdict(list)
    for op in writes:
        writers_of[_hashable(_written(op))].append(op)
    for read in reads:
        value = _hashable(_read_value(read))
        sources = writers_of.get(value, [])
        if value == initial and not sources:
            last_source_ns = -1
        elif not sources or any(not op.ok for op in sources):
            continue  # an unknown-outcome write of v may take effect at any later time
        else:
            last_source_ns = max(op.complete_ns or 0 for op in sources)
        for newer in acked:
            if (newer.complete_ns or 0) >= read.invoke_ns:
                break
            if newer.invoke_ns > last_source_ns and _hashable(_written(newer)) != value:
                result.add("stale-read", (*[s.index for s in sources[:3]], newer.index,
                                          read.index),
                           f"key {key}: QUORUM read #{read.index} returned {value!r}, but "
                           f"#{newer.index} wrote {_written(newer)!r} after that value was "
                           "written and was acknowledged before the read began", True, "QUORUM")
                break


@dataclasses.dataclass
class Verdict:
    linearizable: bool | None  # None: the search was cut off
    ops: tuple[int, ...] = ()
    explanation: str = ""


class _Entry:
    __slots__ = ("is_call", "next", "op", "partner", "prev", "time_ns")

    def __init__(self, op: int, is_call: bool, time_ns: int) -> None:
        self.op, self.is_call, self.time_ns = op, is_call, time_ns
        self.prev: _Entry | None = None
        self.next: _Entry | None = None
        self.partner: _Entry | None = None


def linearize(ops: list[Op], initial: Any = None,
              steps_max: int = SEARCH_STEPS_MAX) -> Verdict:
    """Whether ``ops`` (one key) have a linearization, and if not which op blocks it."""
    head = _entries(ops)
    state: Any = _hashable(initial)
    linearized = 0
    seen: set[tuple[int, Any]] = set()
    stack: list[tuple[_Entry, Any]] = []
    best: tuple[int, int, Any] = (-1, -1, None)  # (depth, blocked op, state then)
    entry = head.next
    for _ in range(steps_max):
        if head.next is None:
            return Verdict(True)
        assert entry is not None
        if entry.is_call:
            applied, new_state = _step(ops[entry.op], state)
            bit = 1 << entry.op
            if applied and (linearized | bit, new_state) not in seen:
                seen.add((linearized | bit, new_state))
                stack.append((entry, state))
                state, linearized = new_state, linearized | bit
                _lift(entry)
                entry = head.next
            else:
                entry = entry.next
            continue
        if len(stack) > best[0]:
            best = (len(stack), entry.op, state)
        if not stack:
            return _refutation(ops, best)
        top, state = stack.pop()
        linearized &= ~(1 << top.op)
        _unlift(top)
        entry = top.next
    return Verdict(None)


def _entries(ops: list[Op]) -> _Entry:
    events: list[tuple[int, int, int]] = []
    for i, op in enumerate(ops):
        events.append((op.invoke_ns, 0, i))
        end = op.complete_ns if op.ok and op.complete_ns is not None else END_OF_TIME_NS
        # a completion stamped before its invocation (a garbled history) returns at the call:
        # the list needs every call before its return
        events.append((max(end, op.invoke_ns), 1, i))
    events.sort()  # at equal times calls come first: such operations count as concurrent
    head = _Entry(-1, False, -1)
    calls: dict[int, _Entry] = {}
    tail = head
    for time_ns, kind, i in events:
        entry = _Entry(i, kind == 0, time_ns)
        if kind == 0:
            calls[i] = entry
        else:
            calls[i].partner = entry
            entry.partner = calls[i]
        tail.next, entry.prev = entry, tail
        tail = entry
    return head


def _lift(call: _Entry) -> None:
    for entry in (call, call.partner):
        assert entry is not None and entry.prev is not None
        entry.prev.next = entry.next
        if entry.next is not None:
            entry.next.prev = entry.prev


def _unlift(call: _Entry) -> None:
    for entry in (call.partner, call):
        assert entry is not None and entry.prev is not None
        entry.prev.next = entry
        if entry.next is not None:
            entry.next.prev = entry


def _step(op: Op, state: Any) -> tuple[bool, Any]:
    if op.f == "write":
        return True, _hashable(op.value[1])
    if op.f == "read":
        return _hashable(_read_value(op)) == state, state
    old, new = op.value[1]
    if _hashable(old) == state:
        return True, _hashable(new)
    return (not op.ok), state  # an info cas that found another value simply failed


def _refutation(ops: list[Op], best: tuple[int, int, Any]) -> Verdict:
    depth, blocked_at, state = best
    blocked = ops[blocked_at]
    before = sorted((op for op in ops if op.complete_ns is not None and op.ok
                     and op.complete_ns < blocked.invoke_ns and op.f != "read"),
                    key=lambda op: op.complete_ns or 0)[-2:]
    end = blocked.complete_ns if blocked.complete_ns is not None else END_OF_TIME_NS
    concurrent = [op for op in ops if op is not blocked and op.invoke_ns < end
                  and (op.complete_ns is None or not op.ok or op.complete_ns > blocked.invoke_ns)
                  ][:5]
    named = tuple(dict.fromkeys(_indices(blocked, *before, *concurrent)))
    what = (f"returned {_read_value(blocked)!r}" if blocked.f == "read"
            else f"{blocked.f} {blocked.value[1]!r}")
    who = (f"{_name(blocked)} ({what})" if blocked.index == FINAL_INDEX
           else f"#{blocked.index} ({blocked.f}, {what})")
    return Verdict(False, named,
                   f"no linearization: {who} cannot be placed "
                   f"before it completed; the deepest attempt had linearized {depth} ops with "
                   f"the register at {state!r}; preceding writes "
                   f"{[op.index for op in before]}, concurrent ops "
                   f"{[op.index for op in concurrent]}")
