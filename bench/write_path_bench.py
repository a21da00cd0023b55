"""The write path by itself: commits/s of marmotdb at 1, 8 and 64 concurrent writers.

Theory of operation: for each durability (``normal``: WAL, no fsync per commit; ``fsync``:
``synchronous=FULL``) the harness starts ``python -m marmotdb serve`` as a real process on a
free 127.0.0.1 port (``MARMOTDB_STORAGE_DURABILITY``), creates ``bench.t`` (sysbench-shaped
rows) and drives it with asyncmy, one event loop, N connections, each running its writes back to
back for ``--time`` seconds:

* ``insert``: one single-row INSERT in autocommit (one commit per statement);
* ``txn10``: BEGIN, 10 single-row INSERTs, COMMIT (one commit per 10 statements).

Per case it reports commits/s (rows/s = 10x for txn10), p50/p99 latency of one commit (the
whole transaction for txn10), the group-commit batches reached (deltas of ``SHOW GLOBAL STATUS
LIKE 'Marmot_%'``: ``Marmot_commit_batches``, ``Marmot_batched_transactions``), the server's CPU
per commit (``/proc/<pid>/stat``) and the client's (``time.process_time`` of this process: when
it nears one core, the client is the bottleneck, not the server).

Next to it, raw APSW in this process does the same inserts on one connection, one transaction
per commit, with ``synchronous=NORMAL`` and ``FULL`` (the floor: SQLite alone, no protocol, no
capture, no versions, no log, no group commit).

Last, one connection inserts 500 rows inside one explicit transaction and 500 rows in autocommit
(best of ``--rounds``): the issue requires the first never to be slower.

    python bench/write_path_bench.py [--time 5] [--writers 1,8,64] [--durability normal,fsync]
                                     [--skip-apsw] [--json bench/results/write_path.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import apsw
import asyncmy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sysbench_bench import MARMOT_PASSWORD, MARMOT_USER, MarmotProcess  # noqa: E402

DATABASE = "bench"
TABLE_DDL = ("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, "
             "c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)")
APSW_DDL = ("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, k INT NOT NULL, "
            "c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)")
INSERT = "INSERT INTO t (k, c, pad) VALUES (%s, %s, %s)"
C_VALUE = "68487932199-96439406143-93774651418-41631865787-96406072701-20604855487-25459966574"
PAD_VALUE = "22195207048-70116052123-74140395089-76317954521-98694025897"
SHAPES = {"insert": 1, "txn10": 10}   # rows per commit
READY_TIMEOUT_S = 60.0
BULK_ROWS = 500


@dataclass
class CaseResult:
    target: str            # marmotdb / apsw
    durability: str        # normal / fsync (apsw: synchronous NORMAL / FULL)
    shape: str
    writers: int
    commits: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    batches: int = 0
    batched_txns: int = 0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    errors: int = 0

    @property
    def commits_per_s(self) -> float:
        return self.commits / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        data.update(commits_per_s=round(self.commits_per_s, 1),
                    rows_per_s=round(self.commits_per_s * SHAPES[self.shape], 1),
                    p50_ms=round(self.percentile(0.50), 3), p99_ms=round(self.percentile(0.99), 3),
                    txns_per_batch=round(self.batched_txns / self.batches, 2)
                    if self.batches else None,
                    server_cpu_us_per_commit=round(1e6 * self.server_cpu_s / self.commits, 1)
                    if self.commits else None,
                    client_cpu_us_per_commit=round(1e6 * self.client_cpu_s / self.commits, 1)
                    if self.commits else None)
        return data


# ---------------------------------------------------------------------------- marmotdb
def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def connect(proc: MarmotProcess, database: str | None = DATABASE,
                  autocommit: bool = True) -> Any:
    return await asyncmy.connect(host=proc.host, port=proc.port, user=MARMOT_USER,
                                 password=MARMOT_PASSWORD, database=database,
                                 autocommit=autocommit)


async def wait_ready(proc: MarmotProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.exited() is not None:
            raise RuntimeError(f"marmotdb exited\n{proc.output()}")
        try:
            conn = await connect(proc, database=None)
            conn.close()
            return
        except Exception:  # noqa: BLE001 - not listening yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def marmot_status(conn: Any) -> dict[str, int]:
    async with conn.cursor() as cursor:
        await cursor.execute("SHOW GLOBAL STATUS LIKE 'Marmot_%'")
        return {name: int(value) for name, value in await cursor.fetchall()}


async def _writer(conn: Any, rows: int, deadline: float, latencies: list[float],
                  counters: dict[str, int], writer: int) -> None:
    k = writer * 1_000_000
    async with conn.cursor() as cursor:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                if rows == 1:
                    await cursor.execute(INSERT, (k, C_VALUE, PAD_VALUE))
                else:
                    await cursor.execute("BEGIN")
                    for i in range(rows):
                        await cursor.execute(INSERT, (k + i, C_VALUE, PAD_VALUE))
                    await cursor.execute("COMMIT")
            except Exception:  # noqa: BLE001 - counted; the bench reports errors
                counters["errors"] += 1
                continue
            latencies.append((time.perf_counter() - start) * 1000)
            counters["commits"] += 1
            k += rows


async def marmot_case(proc: MarmotProcess, durability: str, shape: str, writers: int,
                      seconds: float) -> CaseResult:
    conns = [await connect(proc) for _ in range(writers)]
    status_conn = await connect(proc)
    try:
        before = await marmot_status(status_conn)
        assert proc.process is not None
        server_cpu, client_cpu = process_cpu_s(proc.process.pid), time.process_time()
        latencies: list[float] = []
        counters = {"commits": 0, "errors": 0}
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(_writer(conn, SHAPES[shape], deadline, latencies, counters, i)
                               for i, conn in enumerate(conns)))
        elapsed = time.perf_counter() - start
        server_cpu = process_cpu_s(proc.process.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        after = await marmot_status(status_conn)
    finally:
        for conn in conns + [status_conn]:
            conn.close()
    return CaseResult("marmotdb", durability, shape, writers, counters["commits"], elapsed,
                      latencies,
                      after["Marmot_commit_batches"] - before["Marmot_commit_batches"],
                      after["Marmot_batched_transactions"] - before["Marmot_batched_transactions"],
                      server_cpu, client_cpu, counters["errors"])


async def bulk_case(proc: MarmotProcess, rounds: int) -> dict[str, float]:
    """500 inserts in one explicit transaction vs 500 autocommit inserts, one connection."""
    conn = await connect(proc)
    times: dict[str, list[float]] = {"explicit": [], "autocommit": []}
    try:
        async with conn.cursor() as cursor:
            for _ in range(rounds):
                start = time.perf_counter()
                await cursor.execute("BEGIN")
                for i in range(BULK_ROWS):
                    await cursor.execute(INSERT, (i, C_VALUE, PAD_VALUE))
                await cursor.execute("COMMIT")
                times["explicit"].append(time.perf_counter() - start)
                start = time.perf_counter()
                for i in range(BULK_ROWS):
                    await cursor.execute(INSERT, (i, C_VALUE, PAD_VALUE))
                times["autocommit"].append(time.perf_counter() - start)
    finally:
        conn.close()
    return {f"{name}_ms": round(1000 * min(values), 1) for name, values in times.items()} | {
        f"{name}_median_ms": round(1000 * statistics.median(values), 1)
        for name, values in times.items()}


async def started(durability: str) -> MarmotProcess:
    """A ``marmotdb serve`` process, ready, with an empty ``bench.t``; the caller stops it."""
    proc = MarmotProcess([sys.executable, "-m", "marmotdb"],
                         {"MARMOTDB_STORAGE_DURABILITY": durability}).start()
    try:
        await wait_ready(proc)
        conn = await connect(proc, database=None)
        async with conn.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE {DATABASE}")
            await cursor.execute(f"USE {DATABASE}")
            await cursor.execute(TABLE_DDL)
        conn.close()
    except BaseException:
        proc.stop()
        proc.remove()
        raise
    return proc


async def bench_marmot(durability: str, writer_counts: list[int], seconds: float,
                       rounds: int) -> tuple[list[CaseResult], dict[str, float]]:
    proc = await started(durability)
    try:
        results = []
        for shape in SHAPES:
            for writers in writer_counts:
                print(f"  marmotdb {durability:6} {shape:6} {writers:3} writers ...", flush=True)
                results.append(await marmot_case(proc, durability, shape, writers, seconds))
        print(f"  marmotdb {durability:6} {BULK_ROWS} inserts: explicit vs autocommit ...",
              flush=True)
        bulk = await bulk_case(proc, rounds)
        return results, bulk
    finally:
        proc.stop()
        proc.remove()


# ---------------------------------------------------------------------------- raw APSW
def bench_apsw(synchronous: str, shape: str, seconds: float) -> CaseResult:
    rows = SHAPES[shape]
    with tempfile.TemporaryDirectory(prefix="apsw-bench-") as tmp:
        conn = apsw.Connection(str(Path(tmp) / "bench.db"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(APSW_DDL)
        sql = INSERT.replace("%s", "?")
        latencies: list[float] = []
        commits = k = 0
        cpu = time.process_time()
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            conn.execute("BEGIN")
            for _ in range(rows):
                conn.execute(sql, (k, C_VALUE, PAD_VALUE))
                k += 1
            conn.execute("COMMIT")
            latencies.append((time.perf_counter() - began) * 1000)
            commits += 1
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        conn.close()
    durability = "fsync" if synchronous == "FULL" else "normal"
    return CaseResult("apsw", durability, shape, 1, commits, elapsed, latencies,
                      server_cpu_s=cpu)


# ---------------------------------------------------------------------------- report
def print_table(results: list[CaseResult]) -> None:
    header = (f"{'target':9} {'durab.':6} {'shape':6} {'writers':>7} {'commits/s':>10} "
              f"{'rows/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'txn/batch':>9} {'srv us/c':>9} "
              f"{'cli us/c':>9} {'errors':>6}")
    print(header)
    print("-" * len(header))
    for r in results:
        s = r.summary()
        per_batch = f"{s['txns_per_batch']:.1f}" if s["txns_per_batch"] else "-"
        server = s["server_cpu_us_per_commit"] or 0
        client = s["client_cpu_us_per_commit"] if r.target == "marmotdb" else None
        print(f"{r.target:9} {r.durability:6} {r.shape:6} {r.writers:7} "
              f"{s['commits_per_s']:10.0f} {s['rows_per_s']:8.0f} {s['p50_ms']:8.2f} "
              f"{s['p99_ms']:8.2f} {per_batch:>9} {server:9.0f} "
              f"{(f'{client:.0f}' if client is not None else '-'):>9} {r.errors:6}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time", type=float, default=5.0, help="seconds per case")
    parser.add_argument("--writers", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 8, 64])
    parser.add_argument("--durability", type=lambda s: s.split(","), default=["normal", "fsync"])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 500-insert case")
    parser.add_argument("--skip-apsw", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: list[CaseResult] = []
    bulk: dict[str, dict[str, float]] = {}
    for durability in args.durability:
        cases, bulk[durability] = asyncio.run(bench_marmot(durability, args.writers, args.time,
                                                           args.rounds))
        results.extend(cases)
        if not args.skip_apsw:
            synchronous = "FULL" if durability == "fsync" else "NORMAL"
            for shape in SHAPES:
                print(f"  apsw     {durability:6} {shape:6} ...", flush=True)
                results.append(bench_apsw(synchronous, shape, args.time))
    print(f"\nwrite path, {args.time:g} s per case; marmotdb driven by asyncmy (one event loop "
          "in this process); apsw = raw APSW in-process, one connection\n")
    print_table(results)
    print(f"\n{BULK_ROWS} single-row INSERTs on one connection (best of {args.rounds}):")
    for durability, numbers in bulk.items():
        ratio = numbers["explicit_ms"] / numbers["autocommit_ms"]
        print(f"  {durability:6}: one explicit transaction {numbers['explicit_ms']:8.1f} ms   "
              f"autocommit {numbers['autocommit_ms']:8.1f} ms   explicit/autocommit "
              f"{ratio:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "load_average": os.getloadavg()},
            "seconds_per_case": args.time,
            "cases": [r.summary() for r in results], "bulk_500": bulk}, indent=2))
        print(f"\nresults: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
