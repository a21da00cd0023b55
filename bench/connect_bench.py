"""Connect benchmark: connect + login + ``SELECT 1`` + close, marmotdb against MariaDB.

Theory of operation
-------------------
Per-request connections (web apps, serverless, shell scripts) pay the handshake every time;
this measures it the way they do. For each server (marmotdb, then a private MariaDB started as
``marmotdb/torture/mariadb_server.py`` does; one at a time, never both) and each TLS mode (off: both
servers are asked for a plain connection; on: both present the same certificate, the one
marmotdb generated in its data folder, and the client requires TLS without verifying it), each
client runs back-to-back connections for ``--seconds``:

- PyMySQL and mysqlclient in this process: one iteration = connect, login, ``SELECT 1``, fetch,
  close. Wall time per iteration gives p50/p99 and connects/s; this process's CPU time over the
  run (``time.process_time``) is the client's CPU, and its part of the mean time per connect
  the client's share.
- the mariadb CLI: one iteration = ``mariadb -e 'SELECT 1'`` as a child process (so it includes
  process start, as a shell script pays it); the children's CPU time (``RUSAGE_CHILDREN``) is
  the client's share.

The server's CPU per connect comes from ``/proc/<pid>/stat`` (utime+stime) before and after.
Accounts: marmotdb's root (its credential serves both mysql_native_password and
caching_sha2_password; clients pick their default: PyMySQL and mysqlclient/libmariadb log in with
mysql_native_password unless the server asks otherwise); MariaDB's user uses
mysql_native_password (MariaDB has no caching_sha2_password).

    python bench/connect_bench.py                  # 3 s per cell, both servers, TLS off and on
    python bench/connect_bench.py --seconds 10 --only marmotdb --tls off

Prints one table; ``--json FILE`` also writes the rows. Needs mariadb-server and mariadb-client
(Debian packages) for the MariaDB side and the CLI rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marmotdb.torture.mariadb_server import MariaDBServer, free_port  # noqa: E402

HOST = "127.0.0.1"
MARMOT_PASSWORD = "bench-pw"
START_TIMEOUT_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CERT = Path("/nonexistent")  # set by main: marmotdb's generated certificate


@dataclass
class Target:
    name: str
    port: int
    user: str
    password: str
    pid: int


@dataclass
class Row:
    server: str
    tls: str
    client: str
    connects: int
    connects_per_s: float
    p50_ms: float
    p99_ms: float
    client_cpu_ms: float   # per connect
    server_cpu_ms: float   # per connect
    errors: int


def server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# ---------------------------------------------------------------------- servers


@contextmanager
def marmotdb_server(base: Path) -> Iterator[Target]:
    port = free_port(HOST)
    env = dict(os.environ, MARMOTDB_ROOT_PASSWORD=MARMOT_PASSWORD,
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    log = open(base / "marmotdb.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "marmotdb", "serve", "--data-dir", str(base / "data"),
         "--mysql-host", HOST, "--mysql-port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_login(lambda: _pymysql_once(Target("marmotdb", port, "root", MARMOT_PASSWORD,
                                                process.pid), None), process)
        yield Target("marmotdb", port, "root", MARMOT_PASSWORD, process.pid)
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@contextmanager
def mariadb_server(cert: Path, key: Path) -> Iterator[Target]:
    server = MariaDBServer()
    original = server._spawn

    def spawn_with_tls() -> None:  # the same server, given marmotdb's certificate
        from marmotdb.torture import mariadb_server as module
        args = module.server_args
        module.server_args = lambda *a: [*args(*a), f"--ssl-cert={cert}", f"--ssl-key={key}"]
        try:
            original()
        finally:
            module.server_args = args

    server._spawn = spawn_with_tls  # type: ignore[method-assign]
    with server:
        yield Target("mariadb", server.port, server.user, server.password, server.pid)


def wait_login(attempt: Callable[[], None], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            attempt()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# ---------------------------------------------------------------------- clients


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _pymysql_once(target: Target, context: ssl.SSLContext | None) -> None:
    import pymysql
    kwargs = {"ssl": context} if context else {"ssl_disabled": True}
    conn = pymysql.connect(host=HOST, port=target.port, user=target.user,
                           password=target.password, **kwargs)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()
    finally:
        conn.close()


def _mysqlclient_once(target: Target, tls: bool) -> None:
    import MySQLdb
    # libmariadb turns TLS on only when one of the ssl fields is set: the server certificate as
    # CA (both servers present the same self-signed one).
    kwargs = {"ssl": {"ca": str(SERVER_CERT)}} if tls else {"ssl_mode": "DISABLED"}
    conn = MySQLdb.connect(host=HOST, port=target.port, user=target.user,
                           password=target.password, **kwargs)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        conn.close()


def _cli_args(target: Target, tls: bool) -> list[str]:
    return ["mariadb", "--no-defaults", f"-h{HOST}", f"-P{target.port}", f"-u{target.user}",
            f"-p{target.password}", "--ssl" if tls else "--skip-ssl", "-N", "-e", "SELECT 1"]


def _cli_once(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, check=False)
    if result.returncode != 0 or result.stdout.strip() != b"1":
        raise RuntimeError(result.stderr.decode(errors="replace").strip())


def run_cell(target: Target, tls: bool, client: str, seconds: float) -> Row:
    context = _client_context() if tls else None
    cli = _cli_args(target, tls)
    once: Callable[[], None] = {
        "PyMySQL": lambda: _pymysql_once(target, context),
        "mysqlclient": lambda: _mysqlclient_once(target, tls),
        "mariadb CLI": lambda: _cli_once(cli),
    }[client]
    once()  # warm up (imports, first-login caches) and fail early on a broken setup
    if tls and client != "mariadb CLI":
        _check_tls(target, client, context)
    times: list[float] = []
    errors = 0
    cpu0, children0 = time.process_time(), _children_cpu_s()
    server0 = server_cpu_s(target.pid)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        try:
            once()
        except Exception:
            errors += 1
            continue
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    client_cpu = (time.process_time() - cpu0) + (_children_cpu_s() - children0)
    server_cpu = server_cpu_s(target.pid) - server0
    n = max(len(times), 1)
    quantiles = statistics.quantiles(times, n=100) if len(times) >= 2 else times * 99
    return Row(target.name, "on" if tls else "off", client, len(times), len(times) / wall,
               quantiles[49] * 1000, quantiles[98] * 1000, client_cpu / n * 1000,
               server_cpu / n * 1000, errors)


def _check_tls(target: Target, client: str, context: ssl.SSLContext | None) -> None:
    """Prove the TLS cells really are TLS (a silent fallback would flatter them): PyMySQL's
    socket must be an SSLSocket; for mysqlclient the server's Ssl_cipher status must be set."""
    if client == "PyMySQL":
        import pymysql
        conn = pymysql.connect(host=HOST, port=target.port, user=target.user,
                               password=target.password, ssl=context)
        try:
            if not isinstance(conn._sock, ssl.SSLSocket):
                raise RuntimeError(f"PyMySQL against {target.name}: TLS was not negotiated")
        finally:
            conn.close()
        return
    import MySQLdb
    conn = MySQLdb.connect(host=HOST, port=target.port, user=target.user,
                           password=target.password, ssl={"ca": str(SERVER_CERT)})
    try:
        cursor = conn.cursor()
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = cursor.fetchone()
        # marmotdb does not answer Ssl_cipher yet (no row): mysqlclient's TLS there rests on
        # libmariadb's own behaviour with ssl= given (TLS or a failed connect, no fallback).
        if row is not None and not row[1]:
            raise RuntimeError(f"{client} against {target.name}: TLS was not negotiated")
    finally:
        conn.close()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------- table


def client_share(row: Row) -> float:
    """The client's CPU as a part of the mean time per connect (1 / connects per second)."""
    return row.client_cpu_ms * row.connects_per_s / 1000 if row.connects_per_s else 0.0


def render(rows: list[Row]) -> str:
    head = ("| server | TLS | client | connects/s | p50 ms | p99 ms | client CPU ms | "
            "client share | server CPU ms | errors |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r.server} | {r.tls} | {r.client} | {r.connects_per_s:.0f} | "
                     f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.client_cpu_ms:.2f} | "
                     f"{client_share(r):.0%} | {r.server_cpu_ms:.2f} | {r.errors} |")
    ratios = []
    for r in rows:
        if r.server == "marmotdb":
            other = next((m for m in rows if m.server == "mariadb" and m.tls == r.tls and
                          m.client == r.client), None)
            if other:
                ratios.append(f"{r.client}, TLS {r.tls}: p50 marmotdb/MariaDB = "
                              f"{r.p50_ms / other.p50_ms:.2f}x")
    return "\n".join(lines + [""] + ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per cell (default 3)")
    parser.add_argument("--only", choices=("marmotdb", "mariadb"))
    parser.add_argument("--tls", choices=("off", "on"), help="one TLS mode only")
    parser.add_argument("--clients", default="PyMySQL,mysqlclient,mariadb CLI")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    modes = [args.tls == "on"] if args.tls else [False, True]
    clients = [c.strip() for c in args.clients.split(",")]
    rows: list[Row] = []
    base = Path(tempfile.mkdtemp(prefix="marmot-connect-"))
    try:
        servers = [s for s in ("marmotdb", "mariadb") if args.only in (None, s)]
        global SERVER_CERT
        cert, key = base / "data" / "tls" / "server.pem", base / "data" / "tls" / "server.key"
        SERVER_CERT = cert
        for name in servers:
            if name == "mariadb" and not cert.exists():
                with marmotdb_server(base):  # only to have marmotdb generate its certificate
                    pass
            manager = marmotdb_server(base) if name == "marmotdb" else mariadb_server(cert, key)
            with manager as target:
                for tls in modes:
                    for client in clients:
                        rows.append(run_cell(target, tls, client, args.seconds))
                        print(f"  {name} TLS {'on' if tls else 'off'} {client}: "
                              f"{rows[-1].p50_ms:.2f} ms p50", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(render(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0 if all(r.errors == 0 and r.connects > 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
