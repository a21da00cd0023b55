"""Bank2: transfers whose transactions write two databases commit in both or in neither.

``run.json`` declares ``"databases"`` ({database: [account, ...]}), ``"initial_balance"`` and
``"total"``. Each database holds ``accounts (id, balance, moved)`` and ``ledger (id, src, dst,
amount)``; a transfer writes one ledger row, under its id, in every database it touches,
together with the balances. What txn/DESIGN.md §10.2 promises, and so what is checked:

**Final states** (every node, after the heal), per transfer and per database:

* a crossing transfer's ledger row in one database and not in the other is a
  **half-transfer**: one instance decides both branches (§10.2 "In a cluster", 8-9), at every
  level — a violation always;
* a ledger row of a transfer that failed (**aborted-transfer-visible**; a ``fail`` did not
  happen), of no transfer, in a database it does not touch, or with other values than the
  invocation (**garbage-ledger**): violations always;
* an acknowledged transfer without its ledger row in a database it touches: **lost-transfer**
  (a violation when it ran at QUORUM/ALL, allowed at ONE, which promises no survival);
* each account's balance and ``moved`` must be its start plus what the ledger rows *of its own
  database* say (**unexplained-balance**: a branch's rows applied without its ledger row or
  the reverse, or an update lost), the total over both databases must be the run's total
  (**wrong-total**), no balance negative (**negative-balance**: two transfers spent the same
  money; each transfer reads the rows it writes, and each branch is checked against its own
  read view, txn §7.2), the accounts exactly the declared ones (**wrong-accounts**).
  Violations when every transfer ran at QUORUM/ALL; allowed with ONE transfers (rows resolve
  by last-write-wins one at a time, DESIGN.md §4.2).

**Reads** (a transaction reading both databases' accounts, one statement each): a read of
two databases is not a snapshot across the two files (§10.2 "Visibility", 5 and 11), so a read
whose two databases do not add up to the total is **cross-database-skew**, reported as
*allowed* (counted, so the cost is visible). What a read does promise is one database's
committed state: each database's ``sum(balance - moved)`` is that database's accounts times the
initial balance in every committed state of its file (a crossing transfer moves ``moved`` with
the balance on the same row), so a read breaking it saw part of a branch
(**wrong-database-total**), and no balance may be negative; violations under the same rule of
levels as above.
"""

from __future__ import annotations

from typing import Any

from marmotdb.torture.check import final_state
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, Op, is_strong_write, weakest_write_level

CHECKER = "bank2"
Ledger = dict[int, tuple[Any, Any, Any]]  # transfer id -> (src, dst, amount)


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    declared = history.run.get("databases")
    if not isinstance(declared, dict) or not declared:
        result.add("malformed", (), "run.json has no \"databases\": {database: [account, ...]}")
        return result
    home = {int(a): db for db, accounts in declared.items() for a in accounts}
    transfers = {op.value["id"]: op for op in history.ops if op.f == "transfer"}
    strong_ops = [op for op in transfers.values() if not op.failed]
    level = weakest_write_level(strong_ops)
    judge = _Judge(result, declared, home, history.run, is_strong_write(level), level)
    skewed = 0
    reads = [op for op in history.ops if op.f == "read" and op.ok]
    for op in reads:
        skewed += judge.read(op)
    for node, state in sorted(final_state.database_tables(history).items()):
        judge.final(node, state, transfers)
    result.stats.update(
        transfers_ok=sum(op.ok for op in transfers.values()),
        crossing_ok=sum(op.ok and _crossing(op.value, home) for op in transfers.values()),
        transfers_unknown=sum(op.outcome == "info" for op in transfers.values()),
        reads_ok=len(reads), reads_skewed_across_databases=skewed, write_level=level)
    return result


def _crossing(move: dict[str, Any], home: dict[int, str]) -> bool:
    return home.get(move["from"]) != home.get(move["to"])


class _Judge:
    def __init__(self, result: CheckResult, declared: dict[str, Any], home: dict[int, str],
                 run: dict[str, Any], strong: bool, level: str):
        self.result, self.declared, self.home = result, declared, home
        self.initial = run.get("initial_balance")
        self.total = run.get("total")
        self.strong, self.level = strong, level

    def add(self, kind: str, ops: tuple[int, ...], message: str, violation: bool) -> None:
        self.result.add(kind, ops, message, violation, self.level)

    def read(self, op: Op) -> int:
        """Judge one acknowledged read; 1 when its databases do not add up (allowed)."""
        seen = op.result
        amount = 0
        for db, accounts in self.declared.items():
            rows = {int(a): v for a, v in (seen.get(db) or {}).items()}
            self._accounts(db, set(rows), accounts, (op.index,), f"read #{op.index}")
            amount += sum(b for b, _ in rows.values())
            self._database_total(db, rows, (op.index,), f"read #{op.index}")
            self._negative(db, rows, (op.index,), f"read #{op.index}")
        if self.total is not None and amount != self.total:
            self.add("cross-database-skew", (op.index,),
                     f"read #{op.index}: both databases sum to {amount}, not {self.total} "
                     "(no snapshot across two databases: txn/DESIGN.md §10.2)", False)
            return 1
        return 0

    def _accounts(self, db: str, found: set[int], accounts: list[Any], ops: tuple[int, ...],
                  where: str) -> None:
        expected = {int(a) for a in accounts}
        if found != expected:
            self.add("wrong-accounts", ops, f"{where}: {db} has accounts {sorted(found)}, "
                     f"not {sorted(expected)}", True)

    def _database_total(self, db: str, rows: dict[int, list[int]], ops: tuple[int, ...],
                        where: str) -> None:
        if not isinstance(self.initial, int):
            return
        expected = self.initial * len(self.declared[db])
        kept = sum(balance - moved for balance, moved in rows.values())
        if kept != expected:
            self.add("wrong-database-total", ops, f"{where}: in {db}, balance - moved sums "
                     f"to {kept}, not {expected}: part of a branch seen ({rows})", self.strong)

    def _negative(self, db: str, rows: dict[int, list[int]], ops: tuple[int, ...],
                  where: str) -> None:
        negative = {a: b for a, (b, _) in rows.items() if b < 0}
        if negative:
            self.add("negative-balance", ops, f"{where}: negative balances in {db}: "
                     f"{negative}", self.strong)

    def final(self, node: str, tables: dict[str, dict[str, list[list[Any]]]],
              transfers: dict[Any, Op]) -> None:
        where = f"final state of {node}"
        ledgers: dict[str, Ledger] = {}
        amount = 0
        for db in self.declared:
            own = tables.get(db, {})
            rows = {r[0]: [r[1], r[2]] for r in self._rows(own.get("accounts"), 3, where)}
            ledgers[db] = {r[0]: (r[1], r[2], r[3]) for r in self._rows(own.get("ledger"), 4,
                                                                         where)}
            self._accounts(db, set(rows), self.declared[db], (), where)
            self._negative(db, rows, (), where)
            self._explain(db, rows, ledgers[db], where)
            amount += sum(b for b, _ in rows.values())
        if self.total is not None and amount != self.total:
            self.add("wrong-total", (), f"{where}: both databases sum to {amount}, not "
                     f"{self.total}", self.strong)
        self._ledgers(ledgers, transfers, where)

    def _rows(self, rows: Any, width: int, where: str) -> list[list[int]]:
        """The rows of ``width`` integers; any other is a malformed dump, left out."""
        good = [r for r in rows or [] if isinstance(r, list) and len(r) == width
                and all(isinstance(v, int) and not isinstance(v, bool) for v in r)]
        if len(good) != len(rows or []) or not isinstance(rows, (list, type(None))):
            self.add("malformed", (), f"{where}: rows not of {width} integers: "
                     f"{str(rows)[:200]}", True)
        return good

    def _explain(self, db: str, rows: dict[int, list[int]], ledger: Ledger,
                 where: str) -> None:
        """Balance and moved = the start plus what this database's ledger says."""
        if not isinstance(self.initial, int):
            return
        expected = {a: [self.initial, 0] for a in rows}
        for src, dst, amount in ledger.values():
            crossing = self.home.get(src) != self.home.get(dst)
            for account, sign in ((src, -1), (dst, 1)):
                if account in expected:
                    expected[account][0] += sign * amount
                    expected[account][1] += sign * amount if crossing else 0
        wrong = {a: (rows[a], expected[a]) for a in rows if rows[a] != expected[a]}
        if wrong:
            self.add("unexplained-balance", (), f"{where}: in {db}, [balance, moved] of "
                     f"account: (found, from the ledger) {wrong}", self.strong)

    def _ledgers(self, ledgers: dict[str, Ledger], transfers: dict[Any, Op],
                 where: str) -> None:
        for db, ledger in ledgers.items():
            for tid, row in sorted(ledger.items()):
                op = transfers.get(tid)
                if op is None or db not in self._databases(op) or \
                        list(row) != [op.value["from"], op.value["to"], op.value["amount"]]:
                    self.add("garbage-ledger", () if op is None else (op.index,),
                             f"{where}: ledger row {tid} {list(row)} in {db} is no transfer "
                             "of this run touching it", True)
                elif op.failed:
                    self.add("aborted-transfer-visible", (op.index,), f"{where}: transfer "
                             f"{tid} failed ({op.error}) but is in {db}'s ledger", True)
        for tid, op in sorted(transfers.items()):
            present = [db for db in self._databases(op) if tid in ledgers.get(db, {})]
            if op.ok and len(present) < len(self._databases(op)):
                self.add("lost-transfer", (op.index,), f"{where}: acknowledged transfer "
                         f"{tid} missing from {sorted(set(self._databases(op)) - set(present))}"
                         "'s ledger", is_strong_write(op.consistency))
            if present and len(present) < len(self._databases(op)):
                self.add("half-transfer", (op.index,), f"{where}: transfer {tid} "
                         f"({op.outcome}) is in {present[0]}'s ledger only", True)

    def _databases(self, op: Op) -> list[str]:
        return list(dict.fromkeys(self.home.get(a, "?") for a in (op.value["from"],
                                                                  op.value["to"])))
