"""One client connect driven through the real listener protocol in memory (no socket).

``MysqlProtocol`` and the node are the ones ``marmotdb serve`` builds; only the asyncio
transport is replaced by ``MemoryTransport``, which keeps what the server writes for the
client side (``tests/mysql/wire_client.py``). ``MemoryConnect.run`` plays a PyMySQL-shaped
connect: HandshakeResponse41 with caching_sha2_password's fast path, the given statements,
COM_QUIT, close. Used by the connect tests and by ``bench/connect_server_bench.py``, which
times the server's callbacks with ``clock``.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from typing import Any

from marmotdb.mysql import auth
from tests.mysql import wire_client

PYMYSQL_STATEMENTS = (b"SET NAMES utf8mb4", b"SET AUTOCOMMIT = 0", b"SELECT 1")


class MemoryTransport:
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

    def resume_reading(self) -> None: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        ...


class MemoryConnect:
    """Connects as root with ``password``; ``spent_s`` sums ``clock`` over the server's
    callbacks and the loop turn after each (the node's end-of-iteration work)."""

    def __init__(self, password: str, statements: tuple[bytes, ...] = PYMYSQL_STATEMENTS,
                 clock: Callable[[], float] = time.thread_time) -> None:
        self.password = password
        self.statements = statements
        self.clock = clock
        self.spent_s = 0.0
        self.intervals = 0  # clock readings taken in pairs (a reading costs ~5 µs on some VMs)

    async def run(self, service: Any) -> None:
        started = self.clock()
        protocol, transport = service.protocol(), MemoryTransport()
        protocol.connection_made(transport)
        self.spent_s += self.clock() - started
        self.intervals += 1
        client = wire_client.WireClient()
        greeting = wire_client.parse_greeting(self._answers(client, transport)[0])
        await self._send(protocol, client.frame(self._login(greeting.scramble,
                                                            client.capabilities)))
        answers = self._answers(client, transport)  # 0x01 0x03 (fast auth success), OK
        if not answers or answers[-1][:1] != b"\x00":
            raise RuntimeError(f"login failed: {answers}")
        for sql in self.statements:
            await self._send(protocol, client.frame(b"\x03" + sql, new_command=True))
            answers = self._answers(client, transport)
            if not answers or answers[0][0] == 0xFF:
                raise RuntimeError(f"{sql!r} failed: {answers}")
        await self._send(protocol, client.frame(b"\x01", new_command=True))
        started = self.clock()
        protocol.connection_lost(None)
        await asyncio.sleep(0)
        self.spent_s += self.clock() - started
        self.intervals += 1

    async def _send(self, protocol: Any, data: bytes) -> None:
        started = self.clock()
        protocol.data_received(data)
        await asyncio.sleep(0)
        self.spent_s += self.clock() - started
        self.intervals += 1

    @staticmethod
    def _answers(client: wire_client.WireClient, transport: MemoryTransport) -> list[bytes]:
        client.incoming(bytes(transport.written))
        transport.written.clear()
        answers = []
        while (payload := client.packet()) is not None:
            answers.append(payload)
        return answers

    def _login(self, scramble: bytes, capabilities: int) -> bytes:
        answer = auth.scramble_caching_sha2(self.password, scramble)
        attrs = wire_client.lenenc_str(b"_client_name") + wire_client.lenenc_str(b"pymysql")
        return (struct.pack("<IIB", capabilities, 1 << 24, 45) + bytes(23) + b"root\x00"
                + wire_client.lenenc_str(answer) + auth.CACHING_SHA2.encode() + b"\x00"
                + wire_client.lenenc_str(attrs))
