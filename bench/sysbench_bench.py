"""sysbench: marmotdb against a private MariaDB on this machine, one command.

Theory of operation: for each server in turn (MariaDB first, then marmotdb, never both at once,
so each has the machine's cores to itself apart from the sysbench client) the harness

1. starts the server as a real process on a free 127.0.0.1 port (MariaDB through
   `mariadb_server.MariaDBServer`, marmotdb as ``python -m marmotdb serve`` with
   MARMOTDB_ROOT_PASSWORD) and waits until the mariadb CLI can log in;
2. creates the database ``sbtest`` with the mariadb CLI and prepares 1 table x 10,000 rows with
   ``sysbench oltp_read_write prepare``;
3. runs oltp_point_select, oltp_read_only, oltp_write_only and oltp_insert in that order
   (oltp_insert last: it grows the table), each for --time seconds with --threads threads and
   prepared statements (--db-ps-mode=auto), sampling the server's CPU time and memory from /proc
   around each run; with --profile, py-spy samples the marmotdb process during each run;
4. runs ``sysbench ... cleanup`` and stops the server (SIGTERM, then SIGKILL).

Errors are not hidden: sysbench's defaults (ignore and retry 1213/1020/1205) are kept and its
"ignored errors" count is reported; a run that sysbench aborts is reported as failed with its
output. Results are printed as a table (QPS, TPS, p95 latency, errors, server CPU per query,
ratio marmotdb/MariaDB) and written to bench/results/<timestamp>.json.

    python bench/sysbench_bench.py [--time 20] [--threads 8] [--only marmotdb|mariadb] [--profile]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marmotdb.torture.mariadb_server import (
    CLIENT_BIN,
    MariaDBServer,
    MariaDBStartError,
    die_with_parent,
    free_port,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORKLOADS = ("oltp_point_select", "oltp_read_only", "oltp_write_only", "oltp_insert")
DATABASE = "sbtest"
MARMOT_USER = "root"
MARMOT_PASSWORD = "bench-root-pw"
READY_TIMEOUT_S = 60.0
READY_POLL_INTERVAL_S = 0.2
STOP_TIMEOUT_S = 10.0
SYSBENCH_GRACE_S = 120.0  # beyond --time: prepare/cleanup and a slow last transaction
OUTPUT_TAIL_CHARS = 4000
PROFILE_TOP_FUNCTIONS = 25
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A server could not be started or prepared; the message says why and shows its output."""


def tail(text: str, chars: int = OUTPUT_TAIL_CHARS) -> str:
    return text if len(text) <= chars else "...\n" + text[-chars:]


# --- a server under test -------------------------------------------------------------------


@dataclass
class Endpoint:
    """Where sysbench and the mariadb CLI connect, and which process to measure."""

    name: str
    host: str
    port: int
    user: str
    password: str
    pid: int
    alive: Callable[[], bool]
    diagnostics: Callable[[], str]  # the server's own log, shown when something fails

    def client_args(self) -> list[str]:
        return [CLIENT_BIN, "--no-defaults", f"-h{self.host}", f"-P{self.port}",
                f"-u{self.user}", f"-p{self.password}"]

    def sql(self, statement: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.client_args(), "-N", "-B", "-e", statement],
                              capture_output=True, text=True, timeout=30, check=False)


@dataclass
class MarmotProcess:
    """``marmotdb serve`` as a child process with a temp data dir; stdout/stderr kept in files."""

    command: list[str]
    env_overrides: dict[str, str]
    host: str = "127.0.0.1"
    port: int = 0
    base_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> MarmotProcess:
        self.base_dir = Path(tempfile.mkdtemp(prefix="marmot-bench-"))
        self.port = self.port or free_port(self.host)
        args = [*self.command, "serve", "--data-dir", str(self.base_dir / "data"),
                "--mysql-host", self.host, "--mysql-port", str(self.port)]
        env = {**os.environ, **self.env_overrides, "MARMOTDB_ROOT_PASSWORD": MARMOT_PASSWORD}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        with open(self.base_dir / "stdout.log", "wb") as out, \
                open(self.base_dir / "stderr.log", "wb") as err:
            try:
                self.process = subprocess.Popen(args, cwd=REPO_ROOT, env=env,
                                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                                preexec_fn=die_with_parent)  # noqa: PLW1509
            except OSError as exc:
                raise BenchError(f"cannot run {' '.join(args)}: {exc}") from exc
        return self

    def output(self) -> str:
        if self.base_dir is None:
            return ""
        code = self.exited()
        parts = [] if code is None else [f"--- marmotdb exit code {code} ---"]
        for name in ("stderr.log", "stdout.log"):
            path = self.base_dir / name
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- marmotdb {name.split('.')[0]} ---\n{tail(text)}")
        return "\n".join(parts)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"marmotdb did not exit {STOP_TIMEOUT_S} s after SIGTERM; killing it",
                      file=sys.stderr)
                self.process.kill()
                self.process.wait()
        return None if self.process is None else self.process.returncode

    def remove(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None


# Client-side errors of the mariadb CLI meaning "nothing answered (yet)": can't connect to
# the server, connection refused, lost connection during the handshake.
_CLIENT_CONNECT_ERROR = re.compile(r"ERROR (2002|2003|2013)\b")


def wait_for_login(endpoint: Endpoint) -> None:
    """Poll a login with the mariadb CLI until it succeeds, the server dies, or time runs out."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error = ""
    while time.monotonic() < deadline:
        if not endpoint.alive():
            raise BenchError(f"{endpoint.name} exited before accepting a login"
                             f"\n{endpoint.diagnostics()}")
        result = endpoint.sql("SELECT 1")
        if result.returncode == 0:
            return
        last_error = result.stderr.strip()
        if not _CLIENT_CONNECT_ERROR.search(last_error):
            # The server answered with an error of its own: it is up, and waiting won't help.
            raise BenchError(f"{endpoint.name} is listening but 'SELECT 1' failed: {last_error}"
                             f"\n{endpoint.diagnostics()}")
        time.sleep(READY_POLL_INTERVAL_S)
    raise BenchError(f"{endpoint.name} did not accept a login within {READY_TIMEOUT_S} s "
                     f"(last error: {last_error})\n{endpoint.diagnostics()}")


def mariadb_endpoint(server: MariaDBServer) -> Endpoint:
    assert server.process is not None
    process = server.process
    return Endpoint("mariadb", server.host, server.port, server.user, server.password,
                    server.pid, lambda: process.poll() is None,
                    lambda: "--- mariadbd error log ---\n" + tail(server.error_log))


def marmot_endpoint(proc: MarmotProcess) -> Endpoint:
    assert proc.process is not None
    return Endpoint("marmotdb", proc.host, proc.port, MARMOT_USER, MARMOT_PASSWORD,
                    proc.process.pid, lambda: proc.exited() is None, proc.output)


# --- /proc sampling ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessSample:
    cpu_s: float  # user + system time of all threads so far
    rss_kib: int  # VmRSS now
    hwm_kib: int  # VmHWM: peak RSS since start


def sample_process(pid: int) -> ProcessSample:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    rss_kib, hwm_kib = (_kib(status.get(key, "0 kB")) for key in ("VmRSS", "VmHWM"))
    return ProcessSample(cpu_s, rss_kib, hwm_kib)


def _kib(value: str) -> int:
    return int(value.split()[0])


# --- sysbench --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    time_s: int
    threads: int
    table_size: int
    ps_mode: str


def sysbench_args(workload: str, command: str, endpoint: Endpoint, run: RunSettings,
                  threads: int) -> list[str]:
    return [
        "sysbench", workload, "--db-driver=mysql",
        f"--mysql-host={endpoint.host}", f"--mysql-port={endpoint.port}",
        f"--mysql-user={endpoint.user}", f"--mysql-password={endpoint.password}",
        f"--mysql-db={DATABASE}", "--tables=1", f"--table-size={run.table_size}",
        f"--threads={threads}", f"--time={run.time_s}", f"--db-ps-mode={run.ps_mode}",
        "--percentile=95", "--report-interval=0", "--histogram=off", command,
    ]


def run_sysbench(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
        return subprocess.CompletedProcess(args, -1, out, f"sysbench timed out after {timeout_s} s")


_SYSBENCH_PATTERNS = {
    "transactions": r"transactions:\s+(\d+)\s+\(([\d.]+) per sec",
    "queries": r"queries:\s+(\d+)\s+\(([\d.]+) per sec",
    "ignored_errors": r"ignored errors:\s+(\d+)\s+\(([\d.]+) per sec",
    "reconnects": r"reconnects:\s+(\d+)\s+\(([\d.]+) per sec",
}
_LATENCY_PATTERNS = {
    "latency_avg_ms": r"avg:\s+([\d.]+)",
    "latency_p95_ms": r"95th percentile:\s+([\d.]+)",
    "latency_max_ms": r"max:\s+([\d.]+)",
    "total_time_s": r"total time:\s+([\d.]+)s",
}


def parse_sysbench(stdout: str) -> dict[str, float]:
    """The numbers of a sysbench 1.0 `run` report; raises ValueError if it has none."""
    parsed: dict[str, float] = {}
    for name, pattern in _SYSBENCH_PATTERNS.items():
        match = re.search(pattern, stdout)
        if match is None:
            raise ValueError(f"no '{name}' line in sysbench output")
        parsed[name] = int(match.group(1))
        parsed[name + "_per_s"] = float(match.group(2))
    for name, pattern in _LATENCY_PATTERNS.items():
        match = re.search(pattern, stdout)
        if match is None:
            raise ValueError(f"no '{name}' in sysbench output")
        parsed[name] = float(match.group(1))
    return parsed


def sysbench_failure(result: subprocess.CompletedProcess[str]) -> str | None:
    """Why a sysbench run failed, or None; sysbench prints FATAL even when a thread dies alone."""
    output = (result.stdout or "") + (result.stderr or "")
    if result.returncode != 0 or "FATAL:" in output:
        return f"sysbench exit code {result.returncode}:\n{tail(output)}"
    return None


# --- py-spy --------------------------------------------------------------------------------


class SpyRecording:
    """py-spy sampling one process into a collapsed-stack file (speedscope and flamegraph.pl
    read it) until stopped."""

    def __init__(self, pid: int, output_path: Path) -> None:
        self.output_path = output_path
        self.process = subprocess.Popen(
            ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
             "--nonblocking", "--output", str(output_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def stop(self) -> str:
        """SIGINT makes py-spy write its file; returns py-spy's own output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out.decode(errors="replace")


def top_functions(collapsed: str, limit: int = PROFILE_TOP_FUNCTIONS) -> list[dict[str, Any]]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        samples += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            total_counts[frame] += count
    return [{"function": name, "self_pct": 100.0 * n / samples,
             "total_pct": 100.0 * total_counts[name] / samples}
            for name, n in self_counts.most_common(limit)] if samples else []


# --- one server's suite --------------------------------------------------------------------


def run_workload(endpoint: Endpoint, workload: str, run: RunSettings,
                 profile_dir: Path | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"workload": workload}
    before = sample_process(endpoint.pid)
    spy = SpyRecording(endpoint.pid, profile_dir / f"{workload}.collapsed.txt") \
        if profile_dir else None
    result = run_sysbench(sysbench_args(workload, "run", endpoint, run, run.threads),
                          run.time_s + SYSBENCH_GRACE_S)
    if spy is not None:
        entry.update(profile_summary(spy))
    if not endpoint.alive():
        entry["error"] = f"{endpoint.name} process died\n{endpoint.diagnostics()}"
        return entry
    after = sample_process(endpoint.pid)
    failure = sysbench_failure(result)
    if failure is not None:
        entry["error"] = failure
        return entry
    try:
        entry.update(parse_sysbench(result.stdout))
    except ValueError as exc:
        entry["error"] = f"unreadable sysbench report ({exc}):\n{tail(result.stdout)}"
        return entry
    entry["server_cpu_s"] = after.cpu_s - before.cpu_s
    entry["server_cpu_us_per_query"] = 1e6 * entry["server_cpu_s"] / max(entry["queries"], 1)
    entry["rss_kib"], entry["hwm_kib"] = after.rss_kib, after.hwm_kib
    return entry


def profile_summary(spy: SpyRecording) -> dict[str, Any]:
    spy_output = spy.stop()
    if not spy.output_path.exists():
        return {"profile_error": tail(spy_output)}
    top = top_functions(spy.output_path.read_text(errors="replace"))
    return {"profile_file": str(spy.output_path), "profile_top": top}


def prepare_database(endpoint: Endpoint, run: RunSettings) -> str:
    """CREATE DATABASE + sysbench prepare; returns the server's version string."""
    for statement in (f"CREATE DATABASE {DATABASE}", "SELECT VERSION()"):
        result = endpoint.sql(statement)
        if result.returncode != 0:
            raise BenchError(f"{endpoint.name}: {statement!r} failed: {result.stderr.strip()}"
                             f"\n{endpoint.diagnostics()}")
    prepare = run_sysbench(sysbench_args("oltp_read_write", "prepare", endpoint, run, 1),
                           SYSBENCH_GRACE_S)
    failure = sysbench_failure(prepare)
    if failure is not None:
        raise BenchError(f"{endpoint.name}: sysbench prepare failed: {failure}"
                         f"\n{endpoint.diagnostics()}")
    return result.stdout.strip()


def run_suite(endpoint: Endpoint, run: RunSettings, workloads: list[str],
              profile_dir: Path | None, info: dict[str, Any]) -> None:
    """Fills `info` as it goes, so a server that dies half-way still leaves its results."""
    info.update(pid=endpoint.pid, port=endpoint.port)
    info["rss_kib_idle"] = sample_process(endpoint.pid).rss_kib
    info["version"] = prepare_database(endpoint, run)
    info["workloads"] = {}
    for workload in workloads:
        if not endpoint.alive():
            raise BenchError(f"{endpoint.name} died before {workload}\n{endpoint.diagnostics()}")
        print(f"  {endpoint.name}: {workload} ({run.time_s} s) ...", flush=True)
        entry = run_workload(endpoint, workload, run, profile_dir)
        info["workloads"][workload] = entry
        if "error" in entry:
            print(f"  {endpoint.name}: {workload} FAILED:\n{entry['error']}", file=sys.stderr)
    end = sample_process(endpoint.pid)
    info["rss_kib_end"], info["hwm_kib"] = end.rss_kib, end.hwm_kib
    cleanup = run_sysbench(sysbench_args("oltp_read_write", "cleanup", endpoint, run, 1),
                           SYSBENCH_GRACE_S)
    if sysbench_failure(cleanup):
        info["cleanup_error"] = sysbench_failure(cleanup)


# --- servers ---------------------------------------------------------------------------------


@contextmanager
def mariadb_running(args: argparse.Namespace, info: dict[str, Any]) -> Iterator[Endpoint]:
    try:
        server = MariaDBServer().start()
    except MariaDBStartError as exc:
        raise BenchError(str(exc)) from exc
    try:
        info["settings"] = "innodb_flush_log_at_trx_commit=1, buffer pool 256M, no binlog"
        endpoint = mariadb_endpoint(server)
        wait_for_login(endpoint)
        yield endpoint
    finally:
        server.stop()


@contextmanager
def marmotdb_running(args: argparse.Namespace, info: dict[str, Any]) -> Iterator[Endpoint]:
    env = dict(item.split("=", 1) for item in args.marmot_env)
    info["command"], info["env"] = args.marmot_cmd, env
    proc = MarmotProcess(shlex.split(args.marmot_cmd), env).start()
    try:
        endpoint = marmot_endpoint(proc)
        wait_for_login(endpoint)
        yield endpoint
    finally:
        was_running = proc.exited() is None
        info["exit_code"] = proc.stop()
        if was_running and info["exit_code"] not in (0, None):
            print(f"marmotdb exited with {info['exit_code']} after SIGTERM\n{proc.output()}",
                  file=sys.stderr)
        proc.remove()


SERVER_RUNNERS: dict[str, Callable[[argparse.Namespace, dict[str, Any]],
                                   AbstractContextManager[Endpoint]]] = {
    "mariadb": mariadb_running,
    "marmotdb": marmotdb_running,
}


def bench_server(name: str, args: argparse.Namespace, run: RunSettings,
                 profile_dir: Path | None) -> dict[str, Any]:
    info: dict[str, Any] = {"server": name}
    print(f"{name}: starting", flush=True)
    try:
        with SERVER_RUNNERS[name](args, info) as endpoint:
            run_suite(endpoint, run, args.workloads, profile_dir, info)
    except BenchError as exc:
        info["error"] = str(exc)
        print(f"{name}: FAILED: {exc}", file=sys.stderr)
    return info


# --- report --------------------------------------------------------------------------------


def _metric(server: dict[str, Any] | None, workload: str, key: str) -> float | None:
    entry = (server or {}).get("workloads", {}).get(workload, {})
    value = entry.get(key)
    return float(value) if value is not None else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def compute_ratios(servers: dict[str, dict[str, Any]], workloads: list[str]) -> dict[str, Any]:
    """marmotdb / MariaDB per workload: above 1 is better for QPS/TPS, worse for p95."""
    marmot, maria = servers.get("marmotdb"), servers.get("mariadb")
    return {w: {key: _ratio(_metric(marmot, w, key), _metric(maria, w, key))
                for key in ("queries_per_s", "transactions_per_s", "latency_p95_ms")}
            for w in workloads}


def _cell(value: float | None, fmt: str, width: int) -> str:
    return (fmt.format(value) if value is not None else "-").rjust(width)


def format_table(servers: dict[str, dict[str, Any]], ratios: dict[str, Any],
                 workloads: list[str]) -> str:
    header = (f"{'workload':<19}{'server':<14}{'QPS':>10}{'TPS':>10}{'p95 ms':>9}"
              f"{'errors':>8}{'CPU us/q':>10}")
    lines = [header]
    for workload in workloads:
        for position, (name, server) in enumerate(servers.items()):
            label = workload if position == 0 else ""
            entry = server.get("workloads", {}).get(workload, {})
            if "error" in entry or not entry:
                lines.append(f"{label:<19}{name:<14}{'FAILED' if entry else 'not run':>10}")
                continue
            lines.append(
                f"{label:<19}{name:<14}{_cell(entry['queries_per_s'], '{:.0f}', 10)}"
                f"{_cell(entry['transactions_per_s'], '{:.0f}', 10)}"
                f"{_cell(entry['latency_p95_ms'], '{:.2f}', 9)}"
                f"{_cell(entry['ignored_errors'], '{:.0f}', 8)}"
                f"{_cell(entry['server_cpu_us_per_query'], '{:.0f}', 10)}")
        if len(servers) == 2:
            ratio = ratios[workload]
            lines.append(f"{'':<19}{'marmot/maria':<14}"
                         f"{_cell(ratio['queries_per_s'], '{:.2f}x', 10)}"
                         f"{_cell(ratio['transactions_per_s'], '{:.2f}x', 10)}"
                         f"{_cell(ratio['latency_p95_ms'], '{:.2f}x', 9)}")
    lines.append("")
    lines.append(f"{'server':<14}{'RSS idle MiB':>14}{'RSS end MiB':>13}{'peak RSS MiB':>14}")
    for name, server in servers.items():
        cells = [_cell(server[k] / 1024 if k in server else None, "{:.1f}", width)
                 for k, width in (("rss_kib_idle", 14), ("rss_kib_end", 13), ("hwm_kib", 14))]
        lines.append(f"{name:<14}{''.join(cells)}")
    return "\n".join(lines)


def format_profiles(servers: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, server in servers.items():
        for workload, entry in server.get("workloads", {}).items():
            if "profile_top" not in entry:
                continue
            lines.append(f"\n{name} {workload}: top functions by own samples "
                         f"({entry['profile_file']})")
            lines.append(f"{'self %':>7}{'total %':>8}  function")
            lines.extend(f"{row['self_pct']:>7.1f}{row['total_pct']:>8.1f}  {row['function']}"
                         for row in entry["profile_top"])
    return "\n".join(lines)


def write_results(report: dict[str, Any], stamp: str) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


# --- command line --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", type=int, default=20, help="seconds per workload")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--table-size", type=int, default=10_000)
    parser.add_argument("--ps-mode", choices=("auto", "disable"), default="auto",
                        help="sysbench --db-ps-mode (auto = prepared statements)")
    parser.add_argument("--only", choices=tuple(SERVER_RUNNERS), help="bench one server only")
    parser.add_argument("--workloads", type=lambda s: s.split(","), default=list(WORKLOADS),
                        help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--profile", action="store_true",
                        help="sample marmotdb with py-spy during each workload")
    parser.add_argument("--marmot-cmd", default=f"{shlex.quote(sys.executable)} -m marmotdb",
                        help="command that starts marmotdb (followed by 'serve ...')")
    parser.add_argument("--marmot-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for marmotdb, e.g. "
                             "MARMOTDB_STORAGE_DURABILITY=fsync (repeatable)")
    args = parser.parse_args(argv)
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if args.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy: pip install py-spy")
    if any("=" not in item for item in args.marmot_env):
        parser.error("--marmot-env takes KEY=VALUE")
    return args


def machine_info() -> dict[str, Any]:
    sysbench = subprocess.run(["sysbench", "--version"], capture_output=True, text=True,
                              check=False)
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "sysbench": sysbench.stdout.strip()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = RunSettings(args.time, args.threads, args.table_size, args.ps_mode)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    profile_dir = RESULTS_DIR / f"{stamp}-profile" if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True)
    names = [args.only] if args.only else ["mariadb", "marmotdb"]
    servers = {name: bench_server(name, args, run,
                                  profile_dir if name == "marmotdb" else None)
               for name in names}
    ratios = compute_ratios(servers, args.workloads)
    report = {"started_at": stamp, "machine": machine_info(), "settings": vars(run),
              "workloads": args.workloads, "servers": servers, "ratios": ratios}
    print(f"\nsysbench, 1 table x {run.table_size} rows, {run.threads} threads, {run.time_s} s "
          f"per workload, --db-ps-mode={run.ps_mode}; errors = sysbench ignored errors "
          f"(1213/1020/1205, retried)\n")
    print(format_table(servers, ratios, args.workloads))
    print(format_profiles(servers))
    print(f"\nresults: {write_results(report, stamp)}")
    failed = any("error" in s or any("error" in e for e in s.get("workloads", {}).values())
                 for s in servers.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
