"""A 3-node marmotdb cluster against a 3-node MariaDB Galera cluster on this machine, one command.

Theory of operation: for each cluster in turn (Galera first, then marmotdb; never both at once,
so each has the machine's cores to itself apart from the clients) the harness

1. starts the cluster on free 127.0.0.1 ports: Galera through ``galera_cluster.GaleraCluster``
   (durable InnoDB, no binlog, SST by rsync), marmotdb as ``marmotdb cluster up`` starts it
   (``marmotdb/torture/cluster.LocalCluster`` on ``marmotdb.runtime.cluster_cli``: the
   ``local`` SWIM profile, default settings, so storage.durability = normal and write
   consistency QUORUM unless ``--marmot-env`` says otherwise), and waits until every node
   answers ``SELECT 1``;
2. on node 1 creates the database ``sbtest``, prepares sysbench's table (1 x --table-size
   rows) and the tables ``txn10`` and ``lag_marker``, then waits until every node has all of
   them (row counts equal);
3. runs the workloads, each for --time seconds with every client connection spread
   round-robin over the three nodes (sysbench's comma-separated --mysql-host/--mysql-port
   lists): sysbench oltp_point_select, oltp_read_write, oltp_write_only, oltp_insert (8
   threads, prepared statements) and ``txn10.lua`` (16 threads; BEGIN, 10 single-row INSERTs,
   COMMIT); oltp_insert and txn10 run last because they grow their tables. sysbench ignores
   (and retries) only MySQL error 1213 (conflict/deadlock: the client should retry) and counts
   it; any other error stops the run, which is reported FAILED with sysbench's messages. p50,
   p95 and p99 come from sysbench's latency histogram; server CPU from /proc around each run;
4. waits until the nodes agree on the txn10 and sbtest1 row counts (the replication backlog
   the workloads left, reported as "settled after"), then measures replication lag with
   ``replication_lag.LagProbe``: idle (no other client), then under light load (sysbench
   oltp_insert at --lag-load-rate transactions/s spread over the nodes);
5. records every server process's RSS and peak RSS (VmHWM) and stops the cluster.

It prints one table (TPS, QPS, p50/p95/p99, errors, server CPU per transaction and the ratio
marmotdb/Galera per workload), the replication lag, and memory per process; the JSON goes to
bench/results/cluster-<timestamp>.json. Exit code 0 only if everything ran.

    python bench/cluster_bench.py [--time 20] [--quick] [--only galera|marmotdb]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(REPO_ROOT)]

from marmotdb.torture.galera_cluster import SETTINGS as GALERA_SETTINGS  # noqa: E402
from marmotdb.torture.galera_cluster import (  # noqa: E402
    GaleraCluster,
    GaleraStartError,
    missing_requirements,
)
from marmotdb.torture.mariadb_server import CLIENT_BIN  # noqa: E402
from replication_lag import LagProbe, create_table_sql  # noqa: E402
from sysbench_bench import (  # noqa: E402
    BenchError,
    machine_info,
    parse_sysbench,
    run_sysbench,
    sample_process,
    sysbench_failure,
    tail,
)

RESULTS_DIR = BENCH_DIR / "results"
TXN10_SCRIPT = BENCH_DIR / "txn10.lua"
SYSBENCH_WORKLOADS = ("oltp_point_select", "oltp_read_write", "oltp_write_only", "oltp_insert")
WORKLOADS = (*SYSBENCH_WORKLOADS, "txn10")  # run order: the table-growing ones last
REPORT_ORDER = ("oltp_insert", "oltp_write_only", "oltp_read_write", "oltp_point_select",
                "txn10")
DATABASE = "sbtest"
LAG_TABLE = "lag_marker"
TXN10_TABLE_SQL = ("CREATE TABLE txn10 (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
                   "k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', "
                   "pad CHAR(60) NOT NULL DEFAULT '')")
HOST = "127.0.0.1"
NODES = 3
SQL_TIMEOUT_S = 60
READY_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.2
SYSBENCH_GRACE_S = 120.0  # beyond --time: prepare, and a slow last transaction
LOG_PROBLEMS_MAX = 20


# --- a cluster under test ---------------------------------------------------------------------


@dataclass
class ClusterTarget:
    """Where the clients connect (every node), and which processes to measure."""

    name: str
    ports: list[int]
    user: str
    password: str
    pids: list[int]
    alive: Callable[[], bool]
    diagnostics: Callable[[], str]  # the servers' own logs, shown when something fails
    problems: Callable[[], list[str]]  # error lines from the servers' logs, for the report

    def sql(self, node: int, statement: str, database: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """`statement` with the mariadb CLI on node `node` (0-based); rows tab-separated."""
        args = [CLIENT_BIN, "--no-defaults", f"-h{HOST}", f"-P{self.ports[node]}",
                f"-u{self.user}", f"-p{self.password}", "-N", "-B",
                *([f"-D{database}"] if database else []), "-e", statement]
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=SQL_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, -1, "", f"timed out after {SQL_TIMEOUT_S} s")

    def must_sql(self, node: int, statement: str, database: str | None = None) -> str:
        result = self.sql(node, statement, database)
        if result.returncode != 0:
            raise BenchError(f"{self.name} node {node + 1}: {statement!r} failed: "
                             f"{result.stderr.strip()}\n{self.diagnostics()}")
        return result.stdout.strip()

    def connection_args(self, nodes: list[int] | None = None) -> list[str]:
        """sysbench's connection options for these nodes (default: all, round-robin)."""
        chosen = list(range(len(self.ports))) if nodes is None else nodes
        return ["--db-driver=mysql", "--mysql-host=" + ",".join(HOST for _ in chosen),
                "--mysql-port=" + ",".join(str(self.ports[n]) for n in chosen),
                f"--mysql-user={self.user}", f"--mysql-password={self.password}",
                f"--mysql-db={DATABASE}"]


def wait_for_logins(target: ClusterTarget) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    for node in range(len(target.ports)):
        while (result := target.sql(node, "SELECT 1")).returncode != 0:
            if not target.alive() or time.monotonic() > deadline:
                raise BenchError(f"{target.name} node {node + 1} does not answer SELECT 1: "
                                 f"{result.stderr.strip()}\n{target.diagnostics()}")
            time.sleep(POLL_INTERVAL_S)


def wait_until_equal(target: ClusterTarget, query: str, what: str,
                     expected: str | None = None) -> float:
    """Poll `query` on every node until all give the same answer (and `expected`, if given);
    return the seconds it took."""
    started = time.monotonic()
    answers: list[str] = []
    while time.monotonic() - started < SETTLE_TIMEOUT_S:
        answers = [target.sql(node, query, DATABASE).stdout.strip()
                   for node in range(len(target.ports))]
        if len(set(answers)) == 1 and answers[0] and expected in (None, answers[0]):
            return time.monotonic() - started
        if not target.alive():
            break
        time.sleep(POLL_INTERVAL_S)
    raise BenchError(f"{target.name}: nodes disagree on {what} after {SETTLE_TIMEOUT_S:.0f} s "
                     f"({query!r} gives {answers})\n{target.diagnostics()}")


# --- the clusters -----------------------------------------------------------------------------


@contextmanager
def galera_running(args: argparse.Namespace, info: dict[str, Any]) -> Iterator[ClusterTarget]:
    reason = missing_requirements()
    if reason is not None:
        raise BenchError(f"Galera cannot run here: {reason}")
    cluster = GaleraCluster(size=NODES)
    started = time.monotonic()
    try:
        cluster.start()
    except GaleraStartError as exc:
        raise BenchError(str(exc)) from exc
    info["start_s"] = time.monotonic() - started
    info["settings"] = GALERA_SETTINGS
    try:
        yield ClusterTarget(
            "galera", [n.port for n in cluster.nodes], cluster.user, cluster.password,
            [n.pid for n in cluster.nodes], lambda: all(n.alive() for n in cluster.nodes),
            cluster.logs, lambda: galera_problems(cluster))
    finally:
        cluster.stop()


def galera_problems(cluster: GaleraCluster) -> list[str]:
    return [f"node {n.index}: {line}" for n in cluster.nodes
            for line in n.error_log.splitlines() if "[ERROR]" in line]


def marmot_settings(env: dict[str, str]) -> str:
    from marmotdb.config import Config

    config = Config()
    durability = env.get("MARMOTDB_STORAGE_DURABILITY", config.storage.durability)
    consistency = env.get("MARMOTDB_CLUSTER_WRITE_CONSISTENCY", config.cluster.write_consistency)
    extra = ", ".join(f"{k}={v}" for k, v in env.items()
                      if k not in ("MARMOTDB_STORAGE_DURABILITY",
                                   "MARMOTDB_CLUSTER_WRITE_CONSISTENCY"))
    return (f"storage.durability={durability}, write consistency {consistency}, "
            f"reads LOCAL, SWIM profile local" + (f", {extra}" if extra else ""))


@contextmanager
def marmotdb_running(args: argparse.Namespace, info: dict[str, Any]) -> Iterator[ClusterTarget]:
    from marmotdb.torture.cluster import LocalCluster

    env = dict(item.split("=", 1) for item in args.marmot_env)
    # The nodes inherit this process's environment: they import marmotdb from this checkout.
    os.environ.update(env, PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p))
    info["settings"] = marmot_settings(env)
    root = Path(tempfile.mkdtemp(prefix="marmot-clusterbench-"))
    cluster = LocalCluster(root / "cluster", NODES, timings={})  # `cluster up`'s settings
    started = time.monotonic()
    try:
        try:
            cluster.start()
        except Exception as exc:  # ClusterCliError, AssertionError (no convergence), OSError
            raise BenchError(f"marmotdb cluster did not start: {exc}") from exc
        info["start_s"] = time.monotonic() - started
        yield ClusterTarget(
            "marmotdb", [r.mysql_port for r in cluster.state.nodes], "root",
            cluster.state.root_password, [cluster.processes[i].pid for i in cluster.ids()],
            lambda: len(cluster.live_ids()) == NODES, cluster.report,
            lambda: marmot_problems(cluster))
    finally:
        codes = cluster.stop()
        info["exit_codes"] = codes
        if any(code != 0 for code in codes.values()):
            print(f"marmotdb nodes exited with {codes} after SIGTERM", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


_MARMOT_PROBLEM = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|Exception")


def marmot_problems(cluster: Any) -> list[str]:
    return [f"node {node_id}: {line}" for node_id in cluster.ids()
            for line in cluster.log(node_id).splitlines() if _MARMOT_PROBLEM.search(line)]


CLUSTER_RUNNERS: dict[str, Callable[[argparse.Namespace, dict[str, Any]],
                                    AbstractContextManager[ClusterTarget]]] = {
    "galera": galera_running,
    "marmotdb": marmotdb_running,
}


# --- sysbench ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    time_s: int
    threads: int
    txn10_threads: int
    table_size: int
    ignore_errors: str


def sysbench_command(workload: str, command: str, target: ClusterTarget, run: RunSettings,
                     nodes: list[int] | None = None, extra: list[str] | None = None
                     ) -> list[str]:
    script = str(TXN10_SCRIPT) if workload == "txn10" else workload
    threads = run.txn10_threads if workload == "txn10" else run.threads
    return ["sysbench", script, *target.connection_args(nodes), "--tables=1",
            f"--table-size={run.table_size}", f"--threads={threads}", f"--time={run.time_s}",
            "--db-ps-mode=auto", f"--mysql-ignore-errors={run.ignore_errors}",
            "--percentile=95", "--histogram=on", "--report-interval=0", *(extra or []),
            command]


_HISTOGRAM_ROW = re.compile(r"^\s*([\d.]+)\s+\|\**\s+(\d+)\s*$", re.MULTILINE)


def histogram_percentiles(stdout: str) -> dict[str, float]:
    """p50/p95/p99 (ms) from sysbench's latency histogram, as sysbench computes its own
    percentile: the first bucket whose cumulative count reaches floor(total x p + 0.5)."""
    buckets = [(float(v), int(n)) for v, n in _HISTOGRAM_ROW.findall(stdout)]
    total = sum(n for _, n in buckets)
    if total == 0:
        return {}
    out = {}
    for name, fraction in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        rank, seen = max(1, math.floor(total * fraction + 0.5)), 0
        for value, count in buckets:
            seen += count
            if seen >= rank:
                out[name] = value
                break
    return out


_SERVER_ERROR = re.compile(r"returned error (\d+) \((.*?)\) for query")


def fatal_messages(output: str) -> list[str]:
    """sysbench's FATAL lines, in order, one per distinct server error (code and message; the
    queries differ in their random values) with how often it came."""
    first: dict[str, str] = {}
    counts: dict[str, int] = {}
    for line in output.splitlines():
        if "FATAL" not in line:
            continue
        match = _SERVER_ERROR.search(line)
        key = f"{match.group(1)} {match.group(2)}" if match else line.strip()
        first.setdefault(key, line.strip())
        counts[key] = counts.get(key, 0) + 1
    return [f"{first[k]}" + (f"  [x{counts[k]}]" if counts[k] > 1 else "") for k in first]


def run_workload(target: ClusterTarget, workload: str, run: RunSettings) -> dict[str, Any]:
    entry: dict[str, Any] = {"workload": workload}
    before = [sample_process(pid) for pid in target.pids]
    result = run_sysbench(sysbench_command(workload, "run", target, run),
                          run.time_s + SYSBENCH_GRACE_S)
    if not target.alive():
        entry["error"] = f"a {target.name} node died\n{target.diagnostics()}"
        return entry
    after = [sample_process(pid) for pid in target.pids]
    failure = sysbench_failure(result)
    if failure is not None:
        entry["error"] = failure
        entry["messages"] = fatal_messages((result.stdout or "") + (result.stderr or ""))
        return entry
    try:
        entry.update(parse_sysbench(result.stdout))
    except ValueError as exc:
        entry["error"] = f"unreadable sysbench report ({exc}):\n{tail(result.stdout)}"
        return entry
    entry.update(histogram_percentiles(result.stdout))
    cpu_s = sum(a.cpu_s - b.cpu_s for a, b in zip(after, before, strict=True))
    entry["server_cpu_s"] = cpu_s
    entry["server_cpu_us_per_txn"] = 1e6 * cpu_s / max(entry["transactions"], 1)
    return entry


# --- one cluster's suite ----------------------------------------------------------------------


def prepare(target: ClusterTarget, run: RunSettings, info: dict[str, Any]) -> None:
    """Tables on node 1, then wait until every node has all of them."""
    target.must_sql(0, f"CREATE DATABASE {DATABASE}")
    info["version"] = target.must_sql(0, "SELECT VERSION()")
    started = time.monotonic()
    result = run_sysbench(sysbench_command("oltp_read_write", "prepare", target,
                                           RunSettings(run.time_s, 1, 1, run.table_size,
                                                       run.ignore_errors), nodes=[0]),
                          SYSBENCH_GRACE_S)
    failure = sysbench_failure(result)
    if failure is not None:
        raise BenchError(f"{target.name}: sysbench prepare failed: {failure}"
                         f"\n{target.diagnostics()}")
    target.must_sql(0, TXN10_TABLE_SQL, DATABASE)
    target.must_sql(0, create_table_sql(LAG_TABLE), DATABASE)
    info["prepare_s"] = time.monotonic() - started
    info["prepare_replicated_s"] = wait_until_equal(
        target, f"SELECT (SELECT COUNT(*) FROM sbtest1), (SELECT COUNT(*) FROM txn10), "
                f"(SELECT COUNT(*) FROM {LAG_TABLE})", "the prepared tables",
        f"{run.table_size}\t0\t0")


def settle(target: ClusterTarget) -> float:
    """Until every node has applied what the workloads wrote (equal row counts)."""
    return wait_until_equal(target, "SELECT (SELECT COUNT(*) FROM sbtest1), "
                            "(SELECT COUNT(*) FROM txn10)", "sbtest1/txn10 row counts")


def measure_lag(target: ClusterTarget, args: argparse.Namespace, run: RunSettings
                ) -> dict[str, Any]:
    lag: dict[str, Any] = {}
    with LagProbe(HOST, target.ports, target.user, target.password, DATABASE,
                  LAG_TABLE) as probe:
        lag["idle"] = probe.measure(args.lag_samples, first_id=1).summary()
        load_time_s = 3600  # stopped below, once the samples are in
        load = subprocess.Popen(
            sysbench_command("oltp_insert", "run", target,
                             RunSettings(load_time_s, 2, 2, run.table_size, "all"),
                             extra=[f"--rate={args.lag_load_rate}"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)  # let the load start
            lag["light_load"] = probe.measure(args.lag_samples,
                                              first_id=1 + args.lag_samples).summary()
            if load.poll() is not None:  # the numbers above were not taken under load
                lag["light_load"]["load_exit_code"] = load.returncode
        finally:
            load.terminate()
            load.wait()
    return lag


def run_suite(target: ClusterTarget, run: RunSettings, args: argparse.Namespace,
              info: dict[str, Any]) -> None:
    """Fills `info` as it goes, so a cluster that dies half-way still leaves its results."""
    info["pids"] = target.pids
    info["rss_kib_idle"] = [sample_process(pid).rss_kib for pid in target.pids]
    wait_for_logins(target)
    prepare(target, run, info)
    info["workloads"] = {}
    for workload in args.workloads:
        if not target.alive():
            raise BenchError(f"{target.name} died before {workload}\n{target.diagnostics()}")
        print(f"  {target.name}: {workload} ({run.time_s} s) ...", flush=True)
        entry = run_workload(target, workload, run)
        info["workloads"][workload] = entry
        if "error" in entry:
            detail = "\n".join(entry.get("messages") or [entry["error"]])
            print(f"  {target.name}: {workload} FAILED:\n{detail}", file=sys.stderr)
    if args.lag_samples:
        print(f"  {target.name}: replication lag ({args.lag_samples} samples idle, "
              f"{args.lag_samples} under light load) ...", flush=True)
        info["settle_s"] = settle(target)
        info["lag"] = measure_lag(target, args, run)
    end = [sample_process(pid) for pid in target.pids]
    info["rss_kib_end"] = [s.rss_kib for s in end]
    info["hwm_kib"] = [s.hwm_kib for s in end]
    info["log_problems"] = target.problems()


def bench_cluster(name: str, args: argparse.Namespace, run: RunSettings) -> dict[str, Any]:
    info: dict[str, Any] = {"cluster": name}
    print(f"{name}: starting {NODES} nodes", flush=True)
    try:
        with CLUSTER_RUNNERS[name](args, info) as target:
            print(f"{name}: up in {info['start_s']:.1f} s ({info['settings']})", flush=True)
            run_suite(target, run, args, info)
    except BenchError as exc:
        info["error"] = str(exc)
        print(f"{name}: FAILED: {exc}", file=sys.stderr)
    return info


# --- report -----------------------------------------------------------------------------------


def _cell(value: float | None, fmt: str, width: int) -> str:
    return (fmt.format(value) if value is not None else "-").rjust(width)


def _ratio(numerator: Any, denominator: Any) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


_COLUMNS = (("transactions_per_s", "TPS", "{:.0f}", 9), ("queries_per_s", "QPS", "{:.0f}", 9),
            ("p50_ms", "p50 ms", "{:.2f}", 9), ("p95_ms", "p95 ms", "{:.2f}", 9),
            ("p99_ms", "p99 ms", "{:.2f}", 9), ("ignored_errors", "errors", "{:.0f}", 8),
            ("server_cpu_us_per_txn", "CPU us/tx", "{:.0f}", 10))
_RATIO_KEYS = ("transactions_per_s", "queries_per_s", "p50_ms", "p95_ms", "p99_ms")


def format_workloads(clusters: dict[str, dict[str, Any]], workloads: list[str]) -> str:
    lines = [f"{'workload':<19}{'cluster':<16}"
             + "".join(title.rjust(width) for _, title, _, width in _COLUMNS)]
    for workload in [w for w in REPORT_ORDER if w in workloads]:
        entries = {name: c.get("workloads", {}).get(workload, {}) for name, c in clusters.items()}
        for position, (name, entry) in enumerate(entries.items()):
            label = workload if position == 0 else ""
            if "error" in entry or not entry:
                lines.append(f"{label:<19}{name:<16}{'FAILED' if entry else 'not run':>9}")
                continue
            lines.append(f"{label:<19}{name:<16}" + "".join(
                _cell(entry.get(key), fmt, width) for key, _, fmt, width in _COLUMNS))
        marmot, galera = entries.get("marmotdb", {}), entries.get("galera", {})
        if len(entries) == 2 and "error" not in marmot and "error" not in galera:
            lines.append(f"{'':<19}{'marmot/galera':<16}" + "".join(
                _cell(_ratio(marmot.get(key), galera.get(key)), "{:.2f}x", width)
                if key in _RATIO_KEYS else " " * width for key, _, _, width in _COLUMNS))
    return "\n".join(lines)


def format_lag(clusters: dict[str, dict[str, Any]], load_rate: int) -> str:
    lines = [f"{'cluster':<10}{'load':<34}{'samples':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
             f"{'missing':>8}{'ack p50':>9}{'poll ms':>9}"]
    loads = {"idle": "idle (only the probe)",
             "light_load": f"light: oltp_insert {load_rate} tx/s"}
    for name, cluster in clusters.items():
        for key, label in loads.items():
            lag = cluster.get("lag", {}).get(key)
            if lag is None:
                continue
            if "load_exit_code" in lag:
                label = f"NO LOAD (sysbench exited {lag['load_exit_code']})"
            lines.append(f"{name:<10}{label:<34}{lag['samples']:>8}"
                         + "".join(_cell(lag.get(k), "{:.2f}", 9)
                                   for k in ("lag_p50_ms", "lag_p99_ms", "lag_max_ms"))
                         + f"{lag['missing']:>8}" + _cell(lag.get("ack_p50_ms"), "{:.2f}", 9)
                         + _cell(lag.get("poll_round_ms"), "{:.2f}", 9))
    return "\n".join(lines)


def format_memory(clusters: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'cluster':<10}{'node':>5}{'pid':>9}{'RSS idle MiB':>14}{'RSS end MiB':>13}"
             f"{'peak RSS MiB':>14}"]
    for name, cluster in clusters.items():
        for i, pid in enumerate(cluster.get("pids", [])):
            cells = [_cell(cluster[k][i] / 1024 if len(cluster.get(k, [])) > i else None,
                           "{:.1f}", width)
                     for k, width in (("rss_kib_idle", 14), ("rss_kib_end", 13),
                                      ("hwm_kib", 14))]
            lines.append(f"{name:<10}{i + 1:>5}{pid:>9}{''.join(cells)}")
    return "\n".join(lines)


def format_problems(clusters: dict[str, dict[str, Any]]) -> str:
    """Failed workloads with sysbench's exact messages, then error lines from server logs."""
    lines = []
    for name, cluster in clusters.items():
        if "error" in cluster:
            lines.append(f"{name}: FAILED: {cluster['error']}")
        for workload, entry in cluster.get("workloads", {}).items():
            if "error" in entry:
                lines.append(f"{name} {workload}: FAILED")
                lines.extend(f"    {m}" for m in entry.get("messages") or [entry["error"]])
        problems = cluster.get("log_problems", [])
        if problems:
            lines.append(f"{name}: {len(problems)} error lines in the server logs, first "
                         f"{min(len(problems), LOG_PROBLEMS_MAX)}:")
            lines.extend(f"    {p}" for p in problems[:LOG_PROBLEMS_MAX])
    return "\n".join(lines) if lines else "none: no failed workload, no error in server logs"


def format_report(clusters: dict[str, dict[str, Any]], run: RunSettings,
                  args: argparse.Namespace) -> str:
    out = [f"\n{NODES}-node clusters on 127.0.0.1, one after the other; client connections "
           f"spread round-robin over all nodes; {run.time_s} s per workload.",
           f"sysbench: 1 table x {run.table_size} rows, {run.threads} threads, "
           f"--db-ps-mode=auto; txn10: BEGIN + 10 INSERTs + COMMIT, {run.txn10_threads} "
           f"threads (bench/txn10.lua).",
           f"errors = how many errors sysbench ignored and retried (only "
           f"--mysql-ignore-errors={run.ignore_errors}; any other error stops a run).",
           "TPS = transactions/s; latency per transaction, from sysbench's histogram; "
           "CPU = all nodes' user+system time per transaction.",
           f"Machine: {os.cpu_count()} cores, load average {args.load_before:.1f} before, "
           f"{os.getloadavg()[0]:.1f} after; clients share the cores; the run took "
           f"{time.monotonic() - args.started_s:.0f} s."]
    out += [f"  {name}: {c.get('settings', '-')}; started in {c.get('start_s', 0):.1f} s"
            + (f"; {c['version']}" if "version" in c else "") for name, c in clusters.items()]
    out += ["", format_workloads(clusters, args.workloads)]
    if args.lag_samples:
        out += ["", "replication lag: a marker row written on one node (each node in turn), "
                "from its acknowledgement until visible on both other nodes (LOCAL reads; "
                "Galera wsrep_sync_wait=0); 'ack p50' = the INSERT's own round trip, "
                "'poll ms' = one polling round (the resolution)"]
        out += [f"  {name}: replication backlog after the workloads settled in "
                f"{c['settle_s']:.1f} s" for name, c in clusters.items() if "settle_s" in c]
        out.append(format_lag(clusters, args.lag_load_rate))
    out += ["", format_memory(clusters), "", "problems:", format_problems(clusters)]
    return "\n".join(out)


def write_results(report: dict[str, Any], stamp: str) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"cluster-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", type=int, default=20, help="seconds per workload")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 5 s per workload, 100 lag samples per load")
    parser.add_argument("--threads", type=int, default=8, help="sysbench oltp_* threads")
    parser.add_argument("--txn10-threads", type=int, default=16)
    parser.add_argument("--table-size", type=int, default=10_000)
    parser.add_argument("--only", choices=tuple(CLUSTER_RUNNERS), help="bench one cluster only")
    parser.add_argument("--workloads", type=lambda s: s.split(","), default=list(WORKLOADS),
                        help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--ignore-errors", default="1213",
                        help="sysbench --mysql-ignore-errors (default 1213; 'all' to see how "
                             "far a run gets past other errors)")
    parser.add_argument("--lag-samples", type=int, default=300,
                        help="replication lag samples per load (idle, light); 0 = skip")
    parser.add_argument("--lag-load-rate", type=int, default=100,
                        help="light load during the second lag series: oltp_insert tx/s")
    parser.add_argument("--marmot-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the marmotdb nodes, e.g. "
                             "MARMOTDB_STORAGE_DURABILITY=fsync (repeatable)")
    args = parser.parse_args(argv)
    if args.quick:
        args.time = min(args.time, 5)
        args.lag_samples = min(args.lag_samples, 100)
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    args.workloads = [w for w in WORKLOADS if w in args.workloads]  # the run order
    if any("=" not in item for item in args.marmot_env):
        parser.error("--marmot-env takes KEY=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.started_s, args.load_before = time.monotonic(), os.getloadavg()[0]
    run = RunSettings(args.time, args.threads, args.txn10_threads, args.table_size,
                      args.ignore_errors)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    names = [args.only] if args.only else ["galera", "marmotdb"]
    clusters = {name: bench_cluster(name, args, run) for name in names}
    machine = {**machine_info(), "load_average_before": args.load_before,
               "load_average_after": os.getloadavg()[0]}
    report = {"started_at": stamp, "machine": machine, "settings": vars(run),
              "workloads": args.workloads, "lag_samples": args.lag_samples,
              "lag_load_rate": args.lag_load_rate, "clusters": clusters}
    print(format_report(clusters, run, args))
    print(f"\nresults: {write_results(report, stamp)}")
    failed = any("error" in c or any("error" in e for e in c.get("workloads", {}).values())
                 for c in clusters.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
