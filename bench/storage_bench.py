"""Storage benchmark: capture + encode overhead, apply throughput, snapshot speed, checksums.

    python bench/storage_bench.py                   # quick run (snapshot of a 256 MB file)
    python bench/storage_bench.py --snapshot-mb 1024 # the 1 GB snapshot case from issue 4

What is measured (all on files in --dir, WAL, synchronous=OFF so the disk does not dominate):

* capture+encode: the same transactions (sysbench-shaped rows) with plain APSW and with
  ChangeCapture + statement boundaries + WriteSet build + encode; the difference per row and
  per transaction is the overhead. "local commit" adds base versions, row versions and the
  commit-log record written in the same transaction (what a coordinating node pays).
* apply: write sets of N rows applied to a fresh replica, one SQLite transaction per write
  set and batched (apply_many), rows/s.
* snapshot: create_snapshot (backup API, consistent read transaction, CRC-32 of the file) of a
  --snapshot-mb database vs shutil.copyfile of the same file, MB/s; restore MB/s.
* checksum: table_checksum rows/s.

Aims from the issue: capture+encode <= 10 us/row; apply >= 50,000 rows/s in batches;
snapshot >= 50% of plain copy speed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import apsw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marmotdb.hlc import HLC
from marmotdb.storage.apply import apply, apply_many, record_local_commit
from marmotdb.storage.capture import ChangeCapture
from marmotdb.storage.checksum import table_checksum
from marmotdb.storage.internal_tables import ensure_internal_tables
from marmotdb.storage.snapshot import create_snapshot, restore_snapshot
from marmotdb.storage.versions import fill_base_versions
from marmotdb.storage.writeset import WriteSet, decode_write_set, encode_write_set

SCHEMA = ("CREATE TABLE sbtest(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, "
          "c TEXT NOT NULL, pad TEXT NOT NULL)")
INSERT = "INSERT INTO sbtest(id, k, c, pad) VALUES (?, ?, ?, ?)"
UPDATE = "UPDATE sbtest SET k = k + 1 WHERE id = ?"


def open_db(path: Path) -> apsw.Connection:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode = WAL").fetchall()
    conn.execute("PRAGMA synchronous = OFF")
    ensure_internal_tables(conn)
    conn.execute(SCHEMA)
    return conn


def row(rng: random.Random, key: int) -> tuple[int, int, str, str]:
    c = "-".join(f"{rng.randrange(10**11):011d}" for _ in range(10))
    pad = "-".join(f"{rng.randrange(10**11):011d}" for _ in range(5))
    return (key, rng.randrange(10**6), c, pad)


class Node:
    """Plain, capturing or fully committing writer over one file."""

    def __init__(self, path: Path, mode: str):
        self.conn = open_db(path)
        self.mode = mode
        self.capture = ChangeCapture(self.conn) if mode != "plain" else None
        self.hlc = HLC(1, lambda: int(time.time() * 1000))
        self.seq = 0
        self.encoded: list[bytes] = []

    def txn(self, statements: list[tuple[str, tuple]]) -> None:
        conn, capture = self.conn, self.capture
        conn.execute("BEGIN")
        for sql, params in statements:
            if capture is not None:
                capture.statement_begin()
                conn.execute(sql, params)
                capture.statement_end(True)
            else:
                conn.execute(sql, params)
        if capture is not None:
            self._finish(capture)
        conn.execute("COMMIT")

    def _finish(self, capture: ChangeCapture) -> None:
        changes = capture.commit()
        self.seq += 1
        commit = self.hlc.now()
        if self.mode == "commit":
            fill_base_versions(self.conn, changes)
        write_set = WriteSet(commit, 1, self.seq, commit, "bench", 1,
                             capture.schemas_for(changes), changes)
        encoded = encode_write_set(write_set)
        if self.mode == "commit":
            record_local_commit(self.conn, write_set, encoded)
        self.encoded.append(encoded)


def timed(fn: Callable[[], None]) -> float:
    """Wall-clock seconds (for I/O-bound work: snapshots, copies)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_timed(fn: Callable[[], None]) -> float:
    """CPU seconds of this thread, user + system: robust when other processes share the CPU."""
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def bench_capture(directory: Path, rows_total: int, txn_rows: int, kind: str) -> dict:
    rng = random.Random(1)
    data = [row(rng, i) for i in range(rows_total)]
    results = {}
    for mode in ("plain", "capture", "commit"):
        best = float("inf")
        for _ in range(3):
            node = Node(directory / f"capture-{mode}.db", mode)
            if kind == "update":
                fill_rows(node.conn, data)
                statements = [(UPDATE, (r[0],)) for r in data]
            else:
                statements = [(INSERT, r) for r in data]
            batches = [statements[i:i + txn_rows] for i in range(0, rows_total, txn_rows)]
            best = min(best, cpu_timed(partial(run_txns, node, batches)))
            node.conn.close()
        results[mode] = best
    return results


def fill_rows(conn: apsw.Connection, data: list[tuple]) -> None:
    with conn:
        conn.executemany(INSERT, data)


def run_txns(node: Node, batches: list[list[tuple[str, tuple]]]) -> None:
    for batch in batches:
        node.txn(batch)


def apply_each(replica: apsw.Connection, shipped: list[tuple[WriteSet, bytes]]) -> None:
    for write_set, encoded in shipped:
        apply(replica, write_set, encoded)


def apply_batches(replica: apsw.Connection,
                  batches: list[list[tuple[WriteSet, bytes]]]) -> None:
    for batch in batches:
        apply_many(replica, batch)


def bench_apply(directory: Path, rows_total: int, txn_rows: int, batch_write_sets: int) -> dict:
    rng = random.Random(2)
    origin = Node(directory / "apply-origin.db", "capture")
    data = [row(rng, i) for i in range(rows_total)]
    for start in range(0, rows_total, txn_rows):
        origin.txn([(INSERT, r) for r in data[start:start + txn_rows]])
    shipped = [(decode_write_set(b), b) for b in origin.encoded]
    batches = [shipped[i:i + batch_write_sets] for i in range(0, len(shipped), batch_write_sets)]
    results = {"single": float("inf"), "batched": float("inf"), "decode": float("inf")}
    for _ in range(3):
        single = open_db(directory / "apply-single.db")
        results["single"] = min(results["single"], cpu_timed(
            partial(apply_each, single, shipped)))
        batched = open_db(directory / "apply-batched.db")
        results["batched"] = min(results["batched"], cpu_timed(
            partial(apply_batches, batched, batches)))
        results["decode"] = min(results["decode"], cpu_timed(
            lambda: [decode_write_set(b) for _, b in shipped]))
    return results


def make_database(path: Path, size_mb: int) -> None:
    conn = open_db(path)
    rng = random.Random(3)
    blob = rng.randbytes(1 << 20)
    target = size_mb << 20
    key = 0
    while path.stat().st_size + Path(str(path) + "-wal").stat().st_size < target:
        with conn:
            for _ in range(2000):
                offset = rng.randrange(len(blob) - 200)
                conn.execute(INSERT, (key, key, blob[offset:offset + 120].hex()[:120],
                                      blob[offset:offset + 60].hex()[:60]))
                key += 1
        if not Path(str(path) + "-wal").exists():
            break
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def bench_snapshot(directory: Path, size_mb: int) -> dict:
    """Copy and snapshot alternate, so both see the same machine load; ratios per round."""
    source = directory / "snapshot-source.db"
    make_database(source, size_mb)
    size_mb_real = source.stat().st_size / 1e6
    rounds = []
    for _ in range(3):
        (directory / "copy.db").unlink(missing_ok=True)
        copy_s = timed(partial(shutil.copyfile, source, directory / "copy.db"))
        (directory / "snap.db").unlink(missing_ok=True)
        snap_s = timed(partial(create_snapshot, source, directory / "snap.db"))
        (directory / "snap-backup.db").unlink(missing_ok=True)
        backup_s = timed(partial(create_snapshot, source, directory / "snap-backup.db",
                                 method="backup"))
        rounds.append((copy_s, snap_s, backup_s))
    target = open_db(directory / "restore-target.db")
    restore_s = timed(partial(restore_snapshot, target, directory / "snap.db", verify=False))
    conn = apsw.Connection(str(source))
    rows = conn.execute("SELECT count(*) FROM sbtest").fetchone()[0]
    checksum_s = cpu_timed(partial(table_checksum, conn, "sbtest"))
    return {"size_mb": size_mb_real, "rounds": rounds, "restore_s": restore_s,
            "checksum_rows": rows, "checksum_s": checksum_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--snapshot-mb", type=int, default=256)
    parser.add_argument("--only", choices=["capture", "apply", "snapshot"], action="append",
                        help="run only these sections (repeatable)")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="marmot-storage-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    sections = args.only or ["capture", "apply", "snapshot"]
    print(f"## storage benchmark ({os.cpu_count()} cores; capture and apply: CPU time of the "
          "benchmark thread, best of 3; snapshot: wall time)\n")
    try:
        for section in sections:
            REPORTS[section](directory, args)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


def report_capture(directory: Path, args: argparse.Namespace) -> None:
    rows = args.rows
    print(f"| {rows} rows | plain APSW µs/row | +capture+encode µs/row | overhead µs/row "
          "| overhead µs/txn | local commit µs/row (overhead) |")
    print("|---|---|---|---|---|---|")
    for kind, txn_rows in (("insert", 1), ("insert", 100), ("update", 1), ("update", 100)):
        r = bench_capture(directory, rows, txn_rows, kind)
        per = {mode: r[mode] / rows * 1e6 for mode in r}
        overhead = per["capture"] - per["plain"]
        print(f"| {kind}, {txn_rows} row/txn | {per['plain']:.2f} | {per['capture']:.2f} "
              f"| {overhead:.2f} | {overhead * txn_rows:.2f} | {per['commit']:.2f} "
              f"({per['commit'] - per['plain']:.2f}) |")
    print()


def report_apply(directory: Path, args: argparse.Namespace) -> None:
    rows = args.rows
    print(f"| apply, {rows} rows | rows/s |\n|---|---|")
    for txn_rows, batch in ((1, 100), (10, 100), (100, 10)):
        r = bench_apply(directory, rows, txn_rows, batch)
        print(f"| write sets of {txn_rows} row(s), one SQLite txn each | "
              f"{rows / r['single']:,.0f} |")
        print(f"| write sets of {txn_rows} row(s), {batch} per SQLite txn (apply_many) | "
              f"{rows / r['batched']:,.0f} |")
        print(f"| decode only, {txn_rows} row(s) per write set | {rows / r['decode']:,.0f} |")
    print()


def report_snapshot(directory: Path, args: argparse.Namespace) -> None:
    s = bench_snapshot(directory, args.snapshot_mb)
    mb = s["size_mb"]
    print(f"| {mb:,.0f} MB database | shutil.copyfile MB/s | create_snapshot MB/s (vs copy) "
          "| backup-API fallback MB/s (vs copy) |")
    print("|---|---|---|---|")
    for index, (copy_s, snap_s, backup_s) in enumerate(s["rounds"], 1):
        print(f"| round {index} | {mb / copy_s:,.0f} | {mb / snap_s:,.0f} "
              f"({copy_s / snap_s:.0%}) | {mb / backup_s:,.0f} ({copy_s / backup_s:.0%}) |")
    print(f"\nrestore_snapshot into a WAL database: {mb / s['restore_s']:,.0f} MB/s")
    print(f"table_checksum: {s['checksum_rows'] / s['checksum_s']:,.0f} rows/s "
          f"({s['checksum_rows']:,} rows)\n")


REPORTS = {"capture": report_capture, "apply": report_apply, "snapshot": report_snapshot}


if __name__ == "__main__":
    main()
