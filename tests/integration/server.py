"""A real ``marmotdb serve`` process for integration tests.

Theory of operation: `start_marmot_server` runs ``python -m marmotdb serve`` (the interpreter
running pytest, the checkout under test first on PYTHONPATH) with a fresh data directory, MySQL
port 0 and a known root password (MARMOTDB_ROOT_PASSWORD). The kernel picks the port when the
server binds it, so parallel test runs never race for one; the server's own log line ("listening
for MySQL on host:port") says which. The server's stdout and stderr go to files in the test's
temp dir, so they can be shown whenever something fails. It is ready once PyMySQL can log in as
root; if the process exits first, or the deadline passes, the
start fails with the server's output in the message. `MarmotServer.stop` sends SIGTERM and
requires a clean exit (code 0) within STOP_TIMEOUT_S, killing the process otherwise.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pymysql

REPO_ROOT = Path(__file__).resolve().parents[2]
MARIADB_CLI = "/usr/bin/mariadb"
ROOT_USER = "root"
ROOT_PASSWORD = "marmot-test-root-pw"
READY_TIMEOUT_S = 30.0
READY_POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0
CLIENT_ERROR_MIN = 2000  # MySQL error codes from 2000 on come from the client library
OUTPUT_TAIL_CHARS = 20_000

LogMark = tuple[int, int]  # byte offsets into (stderr, stdout)


class MarmotServerError(AssertionError):
    """The server failed to start or to stop cleanly; the message carries its output."""


# Loaded in the parent: the child, between fork and exec, only makes one plain C call.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the server gets SIGTERM if pytest dies without stopping it (a killed test
    run must not leave servers holding ports; Linux PR_SET_PDEATHSIG)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# The line `marmotdb serve` logs once its MySQL listener is bound (runtime/serve.py).
_LISTENING = re.compile(rb"listening for MySQL on \S+:(\d+) ")


def server_command(data_dir: Path, host: str, port: int = 0) -> list[str]:
    return [sys.executable, "-m", "marmotdb", "serve", "--data-dir", str(data_dir),
            "--mysql-host", host, "--mysql-port", str(port)]


@dataclass
class MarmotServer:
    """One running server: where it listens, how to log in, and its process."""

    host: str
    port: int
    user: str
    password: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def login(self, **kwargs: Any) -> dict[str, Any]:
        """Where and how root logs in, as keyword arguments the Python drivers take."""
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, **kwargs}

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        """A PyMySQL connection as root; keyword arguments override the defaults."""
        return pymysql.connect(**self.login(**{"connect_timeout": 10, **kwargs}))

    def create_database(self, name: str, *statements: str) -> str:
        """CREATE DATABASE IF NOT EXISTS ``name``, run ``statements`` in it; returns ``name``."""
        conn = self.connect(autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {name}")
                cur.execute(f"USE {name}")
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()
        return name

    def mariadb_cli(self, args: list[str], input: str | None = None,
                    timeout_s: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run /usr/bin/mariadb logged in as root, e.g. ``mariadb_cli(["-e", "SELECT 1"])``."""
        command = [MARIADB_CLI, "--no-defaults", f"-h{self.host}", f"-P{self.port}",
                   f"-u{self.user}", f"-p{self.password}", *args]
        return subprocess.run(command, input=input, capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def log_mark(self) -> LogMark:
        """Current ends of the server's logs, to show only what a test produced later."""
        return (_size(self.stderr_path), _size(self.stdout_path))

    def output(self, since: LogMark = (0, 0)) -> str:
        """The server's stderr and stdout (from `since`), tails only, for failure reports."""
        code = self.process.poll()
        parts = [] if code is None else [f"--- marmotdb exited with code {code} ---"]
        for name, path, offset in (("stderr", self.stderr_path, since[0]),
                                   ("stdout", self.stdout_path, since[1])):
            parts.append(f"--- marmotdb {name} ---\n{_read_tail(path, offset)}")
        return "\n".join(parts)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM; the server must exit with code 0 within `timeout_s` (else SIGKILL + error)."""
        if self.process.poll() is not None:
            raise MarmotServerError(f"marmotdb had already exited before SIGTERM\n"
                                    f"{self.output()}")
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise MarmotServerError(f"marmotdb did not exit within {timeout_s} s of SIGTERM; "
                                    f"killed\n{self.output()}") from None
        if code != 0:
            raise MarmotServerError(f"marmotdb exited with code {code} after SIGTERM\n"
                                    f"{self.output()}")
        return code

    def kill(self) -> None:
        """SIGKILL without checks: for cleanup after a failure already reported."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _read_tail(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as log:
        log.seek(max(offset, _size(path) - OUTPUT_TAIL_CHARS))
        return log.read().decode(errors="replace")


def start_marmot_server(base_dir: Path, password: str = ROOT_PASSWORD,
                        env: dict[str, str] | None = None,
                        host: str = "127.0.0.1") -> MarmotServer:
    """Start ``marmotdb serve`` under `base_dir` and wait until root can log in."""
    data_dir = base_dir / "data"
    full_env = {**os.environ, **(env or {}), "MARMOTDB_ROOT_PASSWORD": password}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH")) if p)
    stdout_path, stderr_path = base_dir / "stdout.log", base_dir / "stderr.log"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        # preexec_fn is safe enough here: see die_with_parent.
        process = subprocess.Popen(
            server_command(data_dir, host), cwd=base_dir, env=full_env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            preexec_fn=die_with_parent)  # noqa: PLW1509
    server = MarmotServer(host, 0, ROOT_USER, password, data_dir, process,
                          stdout_path, stderr_path)
    try:
        server.port = wait_for_port(server)
        wait_until_ready(server)
    except BaseException:
        server.kill()
        raise
    return server


def wait_for_port(server: MarmotServer, timeout_s: float = READY_TIMEOUT_S) -> int:
    """The port the server bound, from its log line; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = _LISTENING.search(server.stderr_path.read_bytes())
        if found:
            return int(found.group(1))
        if not server.alive():
            raise MarmotServerError(f"marmotdb exited before listening\n{server.output()}")
        time.sleep(READY_POLL_INTERVAL_S)
    raise MarmotServerError(f"marmotdb did not listen within {timeout_s} s\n{server.output()}")


def wait_until_ready(server: MarmotServer, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll a PyMySQL login until it works; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not server.alive():
            raise MarmotServerError(f"marmotdb exited before accepting a login\n"
                                    f"{server.output()}")
        try:
            # autocommit=None: PyMySQL then sends no statement, so this checks the login only.
            server.connect(connect_timeout=2, read_timeout=5, write_timeout=5,
                           autocommit=None).close()
            return
        except pymysql.MySQLError as exc:
            if exc.args and isinstance(exc.args[0], int) and exc.args[0] < CLIENT_ERROR_MIN:
                # The server itself answered with an error: it is up, and waiting won't help.
                raise MarmotServerError(f"marmotdb answered the root login with {exc!r}\n"
                                        f"{server.output()}") from exc
            last_error = exc
        time.sleep(READY_POLL_INTERVAL_S)
    raise MarmotServerError(f"marmotdb did not accept a login within {timeout_s} s "
                            f"(last error: {last_error!r})\n{server.output()}")


def serving(base_dir: Path) -> Iterator[MarmotServer]:
    """A module fixture's body: a server for the tests, stopped with SIGTERM and required to
    exit cleanly afterwards; killed if the fixture's user raised."""
    server = start_marmot_server(base_dir)
    try:
        yield server
    except BaseException:
        server.kill()
        raise
    server.stop()
