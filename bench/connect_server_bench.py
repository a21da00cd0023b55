"""The server's own work per connect, in process: no sockets, no client process, no kernel.

Theory of operation
-------------------
``connect_bench.py`` measures what a client sees; on a shared machine its differences of a few
tens of microseconds drown in noise. This runs the server side alone: the real
``MysqlProtocol`` and node (as ``marmotdb serve`` builds them) on uvloop, fed by a fake transport
with the bytes of a PyMySQL-shaped connect (HandshakeResponse41 with caching_sha2_password's
fast path, ``SET NAMES utf8mb4``, ``SET AUTOCOMMIT = 0``, ``SELECT 1``, COM_QUIT, close; the
client side is ``tests/mysql/wire_client.py``). Only the time inside the protocol's callbacks
and the loop turn after each (the node's end-of-iteration work) is counted, as this thread's
CPU time (``--wall``: wall time); the best of ``--repeat`` runs of ``--connects`` connects is
printed in microseconds per connect.

    python bench/connect_server_bench.py [--connects 800] [--repeat 5] [--wall]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marmotdb import config as config_module  # noqa: E402
from marmotdb.mysql import auth  # noqa: E402
from marmotdb.runtime import serve  # noqa: E402
from marmotdb.runtime.node_host import NodeHost  # noqa: E402
from tests.mysql import wire_client  # noqa: E402

PASSWORD = "bench-pw"
STATEMENTS = (b"SET NAMES utf8mb4", b"SET AUTOCOMMIT = 0", b"SELECT 1")
WARMUP_CONNECTS = 300
# This thread's CPU time: time the machine's other jobs take from us is not counted (wall
# time swung 2x between runs with 8 other jobs on 2 cores). --wall measures wall time instead.
CLOCK = time.thread_time


class FakeTransport:
    """What MysqlProtocol uses of an asyncio transport; written bytes are kept for the client."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def pause_reading(self) -> None: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        ...

    def resume_reading(self) -> None: ...


class Connect:
    """One connect's server time: only the protocol's callbacks and the loop turns count."""

    def __init__(self) -> None:
        self.spent_s = 0.0

    async def run(self, service: Any) -> None:
        started = CLOCK()
        protocol, transport = service.protocol(), FakeTransport()
        protocol.connection_made(transport)
        self.spent_s += CLOCK() - started
        client = wire_client.WireClient()
        greeting = wire_client.parse_greeting(self._answers(client, transport)[0])
        await self._send(protocol, client.frame(_login(greeting.scramble, client.capabilities)))
        answers = self._answers(client, transport)  # 0x01 0x03 (fast auth success), OK
        if not answers or answers[-1][:1] != b"\x00":
            raise RuntimeError(f"login failed: {answers}")
        for sql in STATEMENTS:
            await self._send(protocol, client.frame(b"\x03" + sql, new_command=True))
            answers = self._answers(client, transport)
            if not answers or answers[0][0] == 0xFF:
                raise RuntimeError(f"{sql!r} failed: {answers}")
        await self._send(protocol, client.frame(b"\x01", new_command=True))
        started = CLOCK()
        protocol.connection_lost(None)
        await asyncio.sleep(0)
        self.spent_s += CLOCK() - started

    async def _send(self, protocol: Any, data: bytes) -> None:
        started = CLOCK()
        protocol.data_received(data)
        await asyncio.sleep(0)
        self.spent_s += CLOCK() - started

    @staticmethod
    def _answers(client: wire_client.WireClient, transport: FakeTransport) -> list[bytes]:
        client.incoming(bytes(transport.written))
        transport.written.clear()
        answers = []
        while (payload := client.packet()) is not None:
            answers.append(payload)
        return answers


def _login(scramble: bytes, capabilities: int) -> bytes:
    answer = auth.scramble_caching_sha2(PASSWORD, scramble)
    attrs = wire_client.lenenc_str(b"_client_name") + wire_client.lenenc_str(b"pymysql")
    return (struct.pack("<IIB", capabilities, 1 << 24, 45) + bytes(23) + b"root\x00"
            + wire_client.lenenc_str(answer) + auth.CACHING_SHA2.encode() + b"\x00"
            + wire_client.lenenc_str(attrs))


async def measure(connects: int, repeat: int) -> float:
    data_dir = tempfile.mkdtemp(prefix="marmot-connect-server-")
    config = config_module.load(None, {"MARMOTDB_ROOT_PASSWORD": PASSWORD,
                                       "MARMOTDB_DATA_DIR": data_dir})
    host = NodeHost(asyncio.get_running_loop(), read_threads=1)
    serve.build_node(config, host)
    service = serve.build_service(config, host)
    try:
        for _ in range(WARMUP_CONNECTS):
            await Connect().run(service)
        best = float("inf")
        for _ in range(repeat):
            connect = Connect()
            for _ in range(connects):
                await connect.run(service)
            best = min(best, connect.spent_s / connects)
        return best
    finally:
        host.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connects", type=int, default=800, help="per run (default 800)")
    parser.add_argument("--repeat", type=int, default=5, help="runs, best counts (default 5)")
    parser.add_argument("--wall", action="store_true", help="wall time, not this thread's CPU")
    args = parser.parse_args()
    if args.wall:
        global CLOCK
        CLOCK = time.perf_counter
    best_s = uvloop.run(measure(args.connects, args.repeat))
    print(f"server work per connect: {best_s * 1e6:.1f} us (best of {args.repeat} x "
          f"{args.connects})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
