"""What a connect costs the listener, checked on the real protocol and node in memory.

Per-request clients (web apps, scripts) connect for every request, so a connect must not
leave work behind: no reference cycle per connection (the garbage collector would run every
~20 connects to free each one), and one loop timer per connection, not one per command
(uvloop's call_later + cancel cost ~9 µs; runtime/connection_deadline.py).
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import uvloop

from marmotdb import config as config_module
from marmotdb.runtime import serve
from marmotdb.runtime.node_host import NodeHost
from tests.runtime.memory_connect import MemoryConnect

PASSWORD = "connect-pw"
CONNECTS = 40


class TimerCountingLoop:
    """The real loop, counting the timers armed through it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.timers = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    def call_at(self, *args: Any) -> asyncio.TimerHandle:
        self.timers += 1
        return self._loop.call_at(*args)

    def call_later(self, *args: Any) -> asyncio.TimerHandle:
        self.timers += 1
        return self._loop.call_later(*args)


async def _served(tmp_path: Path, check: Any) -> None:
    config = config_module.load(None, {"MARMOTDB_ROOT_PASSWORD": PASSWORD,
                                       "MARMOTDB_DATA_DIR": str(tmp_path / "data")})
    host = NodeHost(asyncio.get_running_loop(), read_threads=1)
    serve.build_node(config, host)
    service = serve.build_service(config, host)
    try:
        for _ in range(5):  # first-use caches (auth, statement heads, variables)
            await MemoryConnect(PASSWORD).run(service)
        await check(service)
    finally:
        host.close()


def test_a_closed_connection_leaves_no_reference_cycle(tmp_path: Path) -> None:
    async def check(service: Any) -> None:
        gc.collect()
        gc.disable()
        try:
            for _ in range(CONNECTS):
                await MemoryConnect(PASSWORD).run(service)
            assert gc.collect() == 0  # everything went with its last reference
        finally:
            gc.enable()

    uvloop.run(_served(tmp_path, check))


def test_a_connect_arms_one_timer_whatever_its_commands(tmp_path: Path) -> None:
    async def check(service: Any) -> None:
        service.loop = loop = TimerCountingLoop(service.loop)
        for _ in range(CONNECTS):
            await MemoryConnect(PASSWORD).run(service)
        assert loop.timers == CONNECTS  # connect_timeout's, moved on by every command

    uvloop.run(_served(tmp_path, check))


def test_work_deferred_in_the_iteration_that_closes_the_node_never_runs(tmp_path: Path) -> None:
    """Shutdown runs inside a loop iteration that may have deferred node work (a recovery's
    next step, a txn-store flush): run after the close, it touched closed files and raised
    out of a loop callback (seen at the end of torture runs)."""
    ran: list[str] = []

    async def main() -> None:
        config = config_module.load(None, {"MARMOTDB_ROOT_PASSWORD": PASSWORD,
                                           "MARMOTDB_DATA_DIR": str(tmp_path / "data")})
        host = NodeHost(asyncio.get_running_loop(), read_threads=1)
        node = serve.build_node(config, host)
        host.begin()  # an iteration is open, as when the shutdown starts from a callback
        node.defer(lambda: ran.append("after close"))
        host.close()
        await asyncio.sleep(0.05)  # the iteration's end runs now
    uvloop.run(main())
    assert ran == []
