"""Does one session's temporary-table work slow the base-table autocommit writes of others?

Theory of operation: starts ``python -m marmotdb serve`` (durability ``normal``), creates
``bench.t`` and drives it as write_path_bench.py does: N asyncmy connections, each running
single-row autocommit INSERTs back to back for ``--time`` seconds. Three cases, the writers
identical in each:

* ``alone``: the writers only;
* ``temporary``: plus one connection looping over temporary-table work at full speed:
  CREATE TEMPORARY TABLE, a 10-row INSERT, a join with ``t``, an UPDATE, DROP TEMPORARY
  TABLE (five statements, the writes on the session's own connection, no write turn);
* ``reads``: plus one connection looping over base-table reads at full speed (five SELECTs
  per loop): the control, a busy client that never writes.

Reported per case: the writers' commits/s, p50/p99 latency, transactions per group-commit
batch, the server's CPU per base commit, and the extra client's loops/s. Temporary-table
work that needed the write turn or a batch of its own would show as fewer transactions per
batch and a drop beyond the control's; CPU the event loop spends on the extra client shows in
both extra cases alike.

    python bench/temporary_tables_bench.py [--time 5] [--writers 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sysbench_bench import MarmotProcess  # noqa: E402
from write_path_bench import connect, marmot_case, started  # noqa: E402

TEMPORARY_LOOP = (
    "CREATE TEMPORARY TABLE tmp (id INT PRIMARY KEY, k INT NOT NULL, note VARCHAR(20))",
    "INSERT INTO tmp VALUES " + ", ".join(f"({i}, {i * 7}, 'row {i}')" for i in range(10)),
    "SELECT COUNT(*) FROM tmp JOIN t ON t.id = tmp.id",
    "UPDATE tmp SET k = k + 1 WHERE id < 5",
    "DROP TEMPORARY TABLE tmp",
)
READS_LOOP = (
    "SELECT COUNT(*) FROM t WHERE id < 10",
    "SELECT k FROM t WHERE id = 1",
    "SELECT COUNT(*) FROM t AS a JOIN t AS b ON a.id = b.id WHERE a.id < 10",
    "SELECT MAX(id) FROM t",
    "SELECT c FROM t ORDER BY id DESC LIMIT 1",
)


async def _looping(proc: MarmotProcess, statements: tuple[str, ...], stop: asyncio.Event,
                   loops: list[int]) -> None:
    conn = await connect(proc)
    try:
        async with conn.cursor() as cursor:
            while not stop.is_set():
                for statement in statements:
                    await cursor.execute(statement)
                    await cursor.fetchall()
                loops[0] += 1
    finally:
        conn.close()


async def _case(proc: MarmotProcess, writers: int, seconds: float,
                extra: tuple[str, ...] | None) -> dict[str, Any]:
    stop, loops = asyncio.Event(), [0]
    side = asyncio.create_task(_looping(proc, extra, stop, loops)) if extra else None
    await asyncio.sleep(0.2)  # the extra client is running before the writers start
    result = await marmot_case(proc, "normal", "insert", writers, seconds)
    stop.set()
    if side is not None:
        await side
    summary = result.summary()
    return {key: summary[key] for key in ("commits_per_s", "p50_ms", "p99_ms",
                                          "txns_per_batch", "server_cpu_us_per_commit",
                                          "errors")} | {"extra_loops_per_s":
                                                        round(loops[0] / seconds, 1)}


async def bench(writers: int, seconds: float, rounds: int) -> dict[str, list[dict[str, Any]]]:
    cases: dict[str, tuple[str, ...] | None] = {"alone": None, "temporary": TEMPORARY_LOOP,
                                                "reads": READS_LOOP}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    proc = await started("normal")
    try:
        for round_ in range(rounds):  # interleaved, so drift of a shared machine hits all
            for name, extra in cases.items():
                print(f"  round {round_ + 1}: {name} ...", flush=True)
                results[name].append(await _case(proc, writers, seconds, extra))
    finally:
        proc.stop()
        proc.remove()
    return results


def _report(results: dict[str, list[dict[str, Any]]], writers: int) -> None:
    print(f"\n{writers} autocommit INSERT writers on bench.t, median of rounds\n")
    print(f"{'case':10} {'commits/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'txn/batch':>9} "
          f"{'srv us/c':>9} {'extra loops/s':>13}")
    for name, rounds in results.items():
        median: Callable[[str], Any] = lambda key: sorted(r[key] or 0 for r in rounds)[
            len(rounds) // 2]
        print(f"{name:10} {median('commits_per_s'):10.0f} {median('p50_ms'):8.2f} "
              f"{median('p99_ms'):8.2f} {median('txns_per_batch'):9.1f} "
              f"{median('server_cpu_us_per_commit'):9.0f} {median('extra_loops_per_s'):13.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time", type=float, default=5.0, help="seconds per case")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = asyncio.run(bench(args.writers, args.time, args.rounds))
    _report(results, args.writers)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    began = time.perf_counter()
    code = main()
    print(f"\n({time.perf_counter() - began:.0f} s)")
    sys.exit(code)
