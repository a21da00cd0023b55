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
- raw (TLS off only): the least a client can do, in this process over a plain socket: read
  the greeting, answer with the plugin it names, ``SELECT 1``, COM_QUIT. Its time is nearly all
  the server's and the kernel's: a lower bound for every real client, and what is left of a
  real client's time after it is the client's own.
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
import contextlib
import json
import os
import resource
import shutil
import socket
import ssl
import statistics
import struct
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
CHECKOUT = Path(__file__).resolve().parent.parent
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
def marmotdb_server(base: Path, root: Path = CHECKOUT, name: str = "marmotdb"
                    ) -> Iterator[Target]:
    """``root``: the checkout to run (another one for --baseline), with its own data folder
    but the same certificate as the first."""
    port = free_port(HOST)
    env = dict(os.environ, MARMOTDB_ROOT_PASSWORD=MARMOT_PASSWORD, PYTHONPATH=str(root))
    data = base / ("data" if name == "marmotdb" else name)
    if name != "marmotdb" and (base / "data" / "tls").exists():
        shutil.copytree(base / "data" / "tls", data / "tls")
    log = open(base / f"{name}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "marmotdb", "serve", "--data-dir", str(data),
         "--mysql-host", HOST, "--mysql-port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_login(lambda: _pymysql_once(Target(name, port, "root", MARMOT_PASSWORD,
                                                process.pid), None), process)
        yield Target(name, port, "root", MARMOT_PASSWORD, process.pid)
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


# ---- the raw client: the least a client can do, so its rows are the server's time (plus the
# kernel's), a lower bound for every real client. Python sockets, no TLS.
_RAW_CAPS = (0x200 | 0x8000 | 0x80000 | 0x200000 | 0x1000000)  # PROTOCOL_41, SECURE_CONNECTION,
# PLUGIN_AUTH, PLUGIN_AUTH_LENENC_CLIENT_DATA, DEPRECATE_EOF


def _raw_packet(sock: socket.socket, buffer: bytearray) -> bytes:
    while True:
        if len(buffer) >= 4:
            size = int.from_bytes(buffer[:3], "little")
            if len(buffer) >= 4 + size:
                payload = bytes(buffer[4:4 + size])
                del buffer[:4 + size]
                return payload
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        buffer += chunk


def _raw_once(target: Target) -> None:
    """Login with the plugin the greeting names (caching_sha2's fast path on marmotdb,
    mysql_native_password on MariaDB), ``SELECT 1``, COM_QUIT."""
    from marmotdb.mysql import auth
    with socket.create_connection((HOST, target.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        greeting = _raw_packet(sock, buffer)
        version_end = greeting.index(b"\0", 1)
        pos = version_end + 1 + 4
        scramble = greeting[pos:pos + 8] + greeting[pos + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10:][:12]
        plugin = greeting[greeting.rindex(b"\0", 0, len(greeting) - 1) + 1:-1].decode()
        answer = (auth.scramble_caching_sha2 if plugin == auth.CACHING_SHA2
                  else auth.scramble_native)(target.password, scramble)
        login = (struct.pack("<IIB", _RAW_CAPS, 1 << 24, 45) + bytes(23)
                 + target.user.encode() + b"\0" + bytes([len(answer)]) + answer
                 + plugin.encode() + b"\0")
        sock.sendall(len(login).to_bytes(3, "little") + b"\x01" + login)
        reply = _raw_packet(sock, buffer)
        if reply == b"\x01\x03":  # caching_sha2 fast auth success, then the OK
            reply = _raw_packet(sock, buffer)
        if reply[:1] != b"\x00":
            raise RuntimeError(f"login failed: {reply!r}")
        sock.sendall(b"\x09\0\0\0\x03SELECT 1")
        while _raw_packet(sock, buffer)[:1] not in (b"\xfe", b"\xff"):  # to the final OK/EOF
            pass
        sock.sendall(b"\x01\0\0\0\x01")


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
        "raw": lambda: _raw_once(target),
    }[client]
    once()  # warm up (imports, first-login caches) and fail early on a broken setup
    if tls and client in ("PyMySQL", "mysqlclient"):
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
        if r.server != "mariadb":
            other = next((m for m in rows if m.server == "mariadb" and m.tls == r.tls and
                          m.client == r.client), None)
            if other:
                ratios.append(f"{r.client}, TLS {r.tls}: p50 {r.server}/MariaDB = "
                              f"{r.p50_ms / other.p50_ms:.2f}x")
    return "\n".join(lines + [""] + ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per cell (default 3)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of every cell, servers alternating; medians are shown")
    parser.add_argument("--only", choices=("marmotdb", "mariadb"))
    parser.add_argument("--tls", choices=("off", "on"), help="one TLS mode only")
    parser.add_argument("--clients", default="PyMySQL,mysqlclient,mariadb CLI,raw")
    parser.add_argument("--json", help="also write the rows (every round's) to this file")
    parser.add_argument("--baseline", type=Path,
                        help="another marmotdb checkout, measured too (as marmotdb-baseline)")
    args = parser.parse_args()
    modes = [args.tls == "on"] if args.tls else [False, True]
    clients = [c.strip() for c in args.clients.split(",")]
    names = [s for s in ("marmotdb", "mariadb") if args.only in (None, s)]
    rows: list[Row] = []
    base = Path(tempfile.mkdtemp(prefix="marmot-connect-"))
    global SERVER_CERT
    SERVER_CERT = base / "data" / "tls" / "server.pem"
    try:
        with contextlib.ExitStack() as stack:
            targets = start_servers(stack, base, names)
            if args.baseline is not None:
                targets.insert(1, stack.enter_context(
                    marmotdb_server(base, args.baseline.resolve(), "marmotdb-baseline")))
            for _ in range(args.rounds):
                for tls in modes:
                    for client in clients:
                        if tls and client == "raw":  # a plain-socket client only
                            continue
                        for target in targets:  # one server at a time: the other idles
                            rows.append(run_cell(target, tls, client, args.seconds))
                            print(f"  {target.name} TLS {'on' if tls else 'off'} {client}: "
                                  f"{rows[-1].p50_ms:.2f} ms p50", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(render(medians(rows)))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0 if all(r.errors == 0 and r.connects > 0 for r in rows) else 1


def start_servers(stack: contextlib.ExitStack, base: Path, names: list[str]) -> list[Target]:
    """marmotdb first: MariaDB is given the certificate marmotdb generates."""
    cert, key = SERVER_CERT, SERVER_CERT.with_name("server.key")
    targets = []
    if "marmotdb" in names:
        targets.append(stack.enter_context(marmotdb_server(base)))
    if "mariadb" in names:
        if not cert.exists():
            with marmotdb_server(base):  # only to have marmotdb generate its certificate
                pass
        targets.append(stack.enter_context(mariadb_server(cert, key)))
    return targets


def medians(rows: list[Row]) -> list[Row]:
    """One row per server, TLS mode and client: the median of each number over the rounds
    (errors summed)."""
    cells: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        cells.setdefault((row.server, row.tls, row.client), []).append(row)
    out = []
    for (server, tls, client), group in cells.items():
        def mid(field: str, group: list[Row] = group) -> float:
            return statistics.median(getattr(r, field) for r in group)
        out.append(Row(server, tls, client, sum(r.connects for r in group),
                       mid("connects_per_s"), mid("p50_ms"), mid("p99_ms"),
                       mid("client_cpu_ms"), mid("server_cpu_ms"),
                       sum(r.errors for r in group)))
    order = {"marmotdb": 0, "marmotdb-baseline": 1, "mariadb": 2}
    return sorted(out, key=lambda r: (order.get(r.server, 3), r.tls, r.client))


if __name__ == "__main__":
    sys.exit(main())
