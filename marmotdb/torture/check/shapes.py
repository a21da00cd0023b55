"""The value shapes the history format defines per workload and operation, checked before any
checker runs: an operation whose value does not have its shape is a format problem of the run
(reported, and the operation left out), never a crash or a silent guess.

    list-append  txn       [["append", k, x] | ["r", k, null|list], ...]
    bank         transfer  {"from": int, "to": int, "amount": int};  read -> {account: int}
    bank2        transfer  {"id": int, "from": int, "to": int, "amount": int};
                 read -> {database: {account: [balance, moved]}}
    set          add       int;                                      read -> [int, ...]
    register     write     [k, v];  cas [k, [old, new]];  read [k, null] -> [k, v]
    counter      add       int;                                      read -> int
    ddl          ddl       statement text
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marmotdb.torture.check.history import Op

Shape = Callable[[Any], bool]


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def _micro_ops(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, list) and len(m) == 3 and _scalar(m[1]) and (
            (m[0] == "append" and _scalar(m[2]))
            or (m[0] in ("r", "read") and (m[2] is None or (
                isinstance(m[2], list) and all(_scalar(e) for e in m[2])))))
        for m in value)


def _transfer(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), int)
                                           for k in ("from", "to", "amount"))


def _transfer2(value: Any) -> bool:
    return isinstance(value, dict) and all(_int(value.get(k))
                                           for k in ("id", "from", "to", "amount"))


def _databases_read(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(rows, dict) and all(
            isinstance(row, list) and len(row) == 2 and all(_int(v) for v in row)
            and _int(_key(account)) for account, row in rows.items())
        for rows in value.values())


def _key(account: Any) -> Any:
    try:
        return int(account)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _keyed(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and _scalar(value[0])


def _cas(value: Any) -> bool:
    return (_keyed(value) and isinstance(value[1], list) and len(value[1]) == 2
            and all(_scalar(v) for v in value[1]))


# (workload, f) -> (invocation shape, acknowledged completion shape)
SHAPES: dict[tuple[str, str], tuple[Shape, Shape]] = {
    ("list-append", "txn"): (_micro_ops, _micro_ops),
    ("bank", "transfer"): (_transfer, _transfer),
    ("bank", "read"): (lambda v: v is None, lambda v: isinstance(v, dict) and all(
        _int(b) for b in v.values())),
    ("bank2", "transfer"): (_transfer2, _transfer2),
    ("bank2", "read"): (lambda v: v is None, _databases_read),
    ("set", "add"): (_int, _int),
    ("set", "read"): (lambda v: v is None, lambda v: isinstance(v, list) and all(
        _scalar(e) for e in v)),
    ("register", "write"): (lambda v: _keyed(v) and _scalar(v[1]), lambda v: True),
    ("register", "cas"): (_cas, lambda v: True),
    ("register", "read"): (lambda v: _keyed(v) and v[1] is None,
                           lambda v: _keyed(v) and _scalar(v[1])),
    ("counter", "add"): (_int, _int),
    ("counter", "read"): (lambda v: v is None, _int),
    ("ddl", "ddl"): (lambda v: isinstance(v, str), lambda v: True),
}


def problem(op: Op, workloads: list[str]) -> str | None:
    """Why ``op`` does not fit the format of the run's workloads (None: it fits)."""
    shapes = [SHAPES[(w, op.f)] for w in workloads if (w, op.f) in SHAPES]
    if not shapes:
        return f"#{op.index}: no workload of this run ({', '.join(workloads)}) has f {op.f!r}"
    for invocation, completion in shapes:
        if invocation(op.value) and (not op.ok or completion(op.result)):
            return None
    shown = repr(op.value if not op.ok else op.result)[:120]
    return f"#{op.index}: {op.f} {op.outcome} with a value not in the format: {shown}"
