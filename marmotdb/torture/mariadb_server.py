"""A throwaway MariaDB server for benchmarks and differential tests.

Theory of operation: `mariadb-install-db` initialises a fresh data directory under a temp dir,
`mariadbd` runs on it as whoever starts it (``--user=root`` when that is root, as in CI)
listening on 127.0.0.1 only (a free port picked by the kernel) plus a Unix socket inside the
temp dir; nothing reads /etc/mysql (``--no-defaults``), so a system MariaDB is never touched.
Readiness is polled over that socket with the mariadb CLI (root has no password on the socket
right after install). Once up, one user is created with ``mysql_native_password`` (the same
plugin marmotdb's sysbench runs use), and the `sbtest`-style clients log in over TCP with it.
Settings are durable (an fsync per commit, ``innodb_flush_log_at_trx_commit=1``), no binlog, a
256 MiB buffer pool. Stopping sends SIGTERM (a clean InnoDB shutdown), waits, escalates to
SIGKILL, then removes the whole temp dir.

The test suite's differential group starts one per session the same way
(tests/differential.py). Use it as a context manager::

    with MariaDBServer() as server:
        print(server.port, server.user, server.password)

or from the command line (runs until Ctrl-C / SIGTERM)::

    python -m marmotdb.torture.mariadb_server [--port 3399] [--password secret]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from marmotdb.runtime.cluster_state import free_port

INSTALL_DB_BIN = "mariadb-install-db"
SERVER_BIN = "mariadbd"
CLIENT_BIN = "mariadb"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
READY_POLL_INTERVAL_S = 0.1
DEFAULT_USER = "bench"
DEFAULT_PASSWORD = "bench-pw"
BUFFER_POOL_SIZE = "256M"


class MariaDBStartError(RuntimeError):
    """mariadbd did not become ready; the message carries its error log."""


def missing_requirements() -> str | None:
    """Why a private MariaDB cannot run on this machine, in one line; None if it can."""
    for tool in (INSTALL_DB_BIN, SERVER_BIN, CLIENT_BIN):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install mariadb-server mariadb-client)"
    return None


def current_os_user() -> str:
    """The account mariadbd runs as: whoever starts it (``--user`` only takes effect for
    root, and root must name itself or mariadbd refuses to start)."""
    return pwd.getpwuid(os.geteuid()).pw_name


# Loaded in the parent: the child, between fork and exec, only makes one plain C call.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if this Python process dies without stopping it, so
    a crashed or SIGKILLed harness leaves no server behind (Linux PR_SET_PDEATHSIG)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def server_args(datadir: Path, run_dir: Path, host: str, port: int,
                os_user: str = "root") -> list[str]:
    """The mariadbd command line: private, loopback-only, durable; runs as `os_user` (when
    started by root; otherwise as whoever starts it)."""
    return [
        SERVER_BIN,
        "--no-defaults",  # never pick up /etc/mysql/*.cnf from the machine
        f"--datadir={datadir}",
        f"--user={os_user}",
        f"--bind-address={host}",
        f"--port={port}",
        f"--socket={run_dir / 'mariadb.sock'}",
        f"--tmpdir={run_dir}",  # never /tmp: servers started at once must not share it
        f"--pid-file={run_dir / 'mariadb.pid'}",
        f"--log-error={run_dir / 'error.log'}",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-flush-log-at-trx-commit=1",
        f"--innodb-buffer-pool-size={BUFFER_POOL_SIZE}",
        "--innodb-buffer-pool-dump-at-shutdown=0",
        "--innodb-buffer-pool-load-at-startup=0",
        "--max-connections=500",
    ]


def install_datadir(datadir: Path, os_user: str = "root", tmpdir: Path | None = None) -> None:
    """A fresh data directory (system tables, root without a password on the socket), owned
    by `os_user` (the account mariadbd will run as). ``tmpdir``: the bootstrap server's
    temporary tables go there, not to /tmp (two installs at once collided on their names)."""
    result = subprocess.run(
        [INSTALL_DB_BIN, "--no-defaults", f"--datadir={datadir}",
         f"--user={os_user}", "--auth-root-authentication-method=normal", "--skip-test-db",
         *([f"--tmpdir={tmpdir}"] if tmpdir is not None else [])],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise MariaDBStartError(
            f"{INSTALL_DB_BIN} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def socket_sql(socket_path: Path, sql: str, check: bool = True
               ) -> subprocess.CompletedProcess[str]:
    """Run `sql` as root over a server's Unix socket; tab-separated rows without headers."""
    result = subprocess.run(
        [CLIENT_BIN, "--no-defaults", f"--socket={socket_path}", "-uroot", "-N", "-B", "-e", sql],
        capture_output=True, text=True, check=False,
    )
    if check and result.returncode != 0:
        raise MariaDBStartError(f"root SQL failed: {sql!r}: {result.stderr.strip()}")
    return result


def create_user_sql(user: str, password: str) -> str:
    """The benchmark user: mysql_native_password, every privilege (GRANT OPTION too: the
    differential account tests GRANT as it), from any host."""
    return (f"CREATE USER '{user}'@'%' IDENTIFIED VIA mysql_native_password "
            f"USING PASSWORD('{password}');"
            f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%' WITH GRANT OPTION;")


@dataclass
class MariaDBServer:
    """One private mariadbd process; `start()`/`stop()` or use as a context manager."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port at start
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    base_dir: Path | None = None
    os_user: str = field(default_factory=current_os_user)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not started"
        return self.process.pid

    @property
    def run_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "run"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "mariadb.sock"

    @property
    def error_log(self) -> str:
        path = self.run_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> Self:
        self.base_dir = Path(tempfile.mkdtemp(prefix="marmot-mariadb-"))
        try:
            self._install_datadir()
            self.port = self.port or free_port(self.host)
            self._spawn()
            self._wait_ready()
            self._create_user()
        except BaseException:
            self.stop()
            raise
        return self

    def _install_datadir(self) -> None:
        assert self.base_dir is not None
        self.run_dir.mkdir(parents=True)
        install_datadir(self.base_dir / "data", self.os_user, self.run_dir)

    def _spawn(self) -> None:
        assert self.base_dir is not None
        args = server_args(self.base_dir / "data", self.run_dir, self.host, self.port,
                           self.os_user)
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent)  # noqa: PLW1509 (see die_with_parent)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise MariaDBStartError(
                    f"mariadbd exited with {self.process.returncode}:\n{self.error_log}")
            if self.socket_path.exists() and self.root_sql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(READY_POLL_INTERVAL_S)
        raise MariaDBStartError(f"mariadbd not ready after {START_TIMEOUT_S} s:\n{self.error_log}")

    def _create_user(self) -> None:
        self.root_sql(create_user_sql(self.user, self.password))

    def root_sql(self, sql: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `sql` as root over the Unix socket (setup only; benchmarks use TCP)."""
        return socket_sql(self.socket_path, sql, check)

    def client_args(self) -> list[str]:
        """mariadb CLI arguments that log in over TCP as the benchmark user."""
        return [CLIENT_BIN, "--no-defaults", f"-h{self.host}", f"-P{self.port}",
                f"-u{self.user}", f"-p{self.password}"]

    def stop(self) -> None:
        """SIGTERM (clean shutdown), SIGKILL after STOP_TIMEOUT_S, then remove the temp dir."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a throwaway MariaDB until Ctrl-C.")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--user", default=DEFAULT_USER)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    args = parser.parse_args(argv)
    # SIGTERM should take the same clean path as Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with MariaDBServer(port=args.port, user=args.user, password=args.password) as server:
        print(f"mariadbd pid {server.pid} on {server.host}:{server.port}, "
              f"datadir {server.base_dir}", flush=True)
        print("connect: " + " ".join(server.client_args()), flush=True)
        try:
            while server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
            print(f"mariadbd exited on its own:\n{server.error_log}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("stopping mariadbd ...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
