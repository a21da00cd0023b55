"""Bank: transfers between accounts must never create or destroy money.

Each transfer moves ``amount`` from one account to another in one transaction; each read
returns every balance from one transaction. A read whose balances do not add up to the run's
``total`` saw a partial transfer or a lost one; a negative balance means two transfers both
drew on money only one of them could have (write skew on the source row is a lost update
here, since a transfer writes the rows it checks). Checked for every acknowledged read and for
every replica's final table.

The final tables are held to more than the total: with ``run.json``'s ``"initial_balance"``,
each account must end at its start plus every acknowledged transfer plus some subset of the
transfers whose outcome is unknown — a failed transfer "definitely did not happen"
(**unexplained-balances**, with each account's difference from the acknowledged transfers;
the subsets are tried exhaustively up to ``UNKNOWN_TRANSFERS_EXACT_MAX`` unknown transfers,
beyond that each account only has to lie within what they could add or remove).

At QUORUM/ALL, first committer wins and atomic apply (DESIGN.md §4.1) make all of these
violations.
When any transfer ran at ONE, rows resolve by last-write-wins one row at a time (§4.2), so two
concurrent transfers can each keep one of their rows: the totals are still reported, as
allowed, never as valid.
"""

from __future__ import annotations

from typing import Any

from marmotdb.torture.check import final_state
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, Op, is_strong_write, weakest_write_level

CHECKER = "bank"
UNKNOWN_TRANSFERS_EXACT_MAX = 12  # 2**12 subsets per final state


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    total = history.run.get("total")
    accounts = _accounts(history.run.get("accounts"))
    negative_allowed = bool(history.run.get("negative_balances_allowed", False))
    transfers = [op for op in history.ops if op.f == "transfer" and not op.failed]
    level = weakest_write_level(transfers)
    strong = is_strong_write(level)
    reads = [op for op in history.ops if op.f == "read" and op.ok]
    if total is None:
        result.notes.append("run.json has no \"total\": read sums are compared with the "
                            "first read's")
        total = sum(_balances(reads[0].result).values()) if reads else None
    for op in reads:
        _judge(_balances(op.result), (op.index,), f"read #{op.index}", total, accounts,
               negative_allowed, strong, level, result)
    initial = history.run.get("initial_balance")
    for node, rows in final_state.table_rows(history, "bank").items():
        balances = {_key(row[0]): row[-1] for row in rows if row}
        if not all(isinstance(b, int) for b in balances.values()):
            result.add("malformed", (), f"final state of {node}: balances {balances} are not "
                       "all integers")
            continue
        _judge(balances, (), f"final state of {node}", total, accounts, negative_allowed,
               strong, level, result)
        if isinstance(initial, int) and accounts is not None:
            _explain(balances, {a: initial for a in accounts}, transfers,
                     f"final state of {node}", strong, level, result)
    result.stats.update(transfers_ok=sum(op.ok for op in transfers), reads_ok=len(reads),
                        total=total, write_level=level)
    return result


def _accounts(declared: Any) -> set[Any] | None:
    if isinstance(declared, int):
        return set(range(declared))
    if isinstance(declared, list):
        return {_key(a) for a in declared}
    return None


def _key(account: Any) -> Any:
    try:
        return int(account)
    except (TypeError, ValueError):
        return account


def _balances(value: Any) -> dict[Any, Any]:
    return {_key(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _judge(balances: dict[Any, Any], ops: tuple[int, ...], where: str, total: Any,
           accounts: set[Any] | None, negative_allowed: bool, strong: bool, level: str,
           result: CheckResult) -> None:
    if accounts is not None and set(balances) != accounts:
        missing, extra = sorted(accounts - set(balances)), sorted(set(balances) - accounts)
        result.add("wrong-accounts", ops, f"{where}: accounts missing {missing}, "
                   f"unexpected {extra}", True, level)
    amount = sum(v for v in balances.values() if isinstance(v, (int, float)))
    if total is not None and amount != total:
        result.add("wrong-total", ops, f"{where}: balances {balances} sum to {amount}, "
                   f"not {total}", strong, level)
    negative = {k: v for k, v in balances.items() if isinstance(v, (int, float)) and v < 0}
    if negative and not negative_allowed:
        result.add("negative-balance", ops, f"{where}: negative balances {negative}",
                   strong, level)



def _explain(balances: dict[Any, Any], start: dict[Any, int], transfers: list[Op], where: str,
             strong: bool, level: str, result: CheckResult) -> None:
    """Final balances = start + acknowledged transfers + a subset of the unknown ones."""
    expected = dict(start)
    for op in transfers:
        if op.ok:
            _apply(expected, op.value, 1)
    unknown = [op for op in transfers if op.outcome == "info"]
    if len(unknown) <= UNKNOWN_TRANSFERS_EXACT_MAX:
        for mask in range(1 << len(unknown)):
            candidate = dict(expected)
            for bit, op in enumerate(unknown):
                if mask >> bit & 1:
                    _apply(candidate, op.value, 1)
            if candidate == balances:
                return
    else:
        low, high = dict(expected), dict(expected)
        for op in unknown:
            move = op.value
            low[move["from"]] = low.get(move["from"], 0) - move["amount"]
            high[move["to"]] = high.get(move["to"], 0) + move["amount"]
        if all(low.get(a, 0) <= v <= high.get(a, 0) for a, v in balances.items()):
            return
    differences = {a: balances.get(a, 0) - expected.get(a, 0)
                   for a in sorted(set(balances) | set(expected), key=repr)
                   if balances.get(a, 0) != expected.get(a, 0)}
    result.add("unexplained-balances", tuple(op.index for op in unknown[:8]),
               f"{where}: {balances} is not the start plus the {sum(op.ok for op in transfers)}"
               f" acknowledged transfers plus any subset of the {len(unknown)} unknown ones "
               f"(named); per account, minus the acknowledged transfers: {differences}",
               strong, level)


def _apply(balances: dict[Any, int], move: Any, sign: int) -> None:
    if isinstance(move, dict):
        balances[move["from"]] = balances.get(move["from"], 0) - sign * move["amount"]
        balances[move["to"]] = balances.get(move["to"], 0) + sign * move["amount"]
