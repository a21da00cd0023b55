"""Raw reading of MySQL replies for the hostile suite: a client that reads a reply slowly, or
not at all, needs the bytes off the socket itself (PyMySQL would read the whole result)."""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql
from pymysql.constants import COMMAND

MIB = 1 << 20


def rss_bytes(pid: int) -> int:
    """The process's resident set now (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def send_query(conn: pymysql.connections.Connection, sql: str) -> socket.socket:
    """COM_QUERY sent through PyMySQL's socket; the reply is left unread on it."""
    conn._execute_command(COMMAND.COM_QUERY, sql)
    return conn._sock


@dataclass
class Reply:
    rows: int = 0
    error_code: int | None = None
    bytes_read: int = 0
    closed: bool = False  # the server closed the connection before the reply ended


class ReplyReader:
    """Packets of one text-protocol result set (no CLIENT_DEPRECATE_EOF, PyMySQL's way)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.reply = Reply()
        self._eofs = 0
        self.done = False

    def read_some(self, max_bytes: int = 1 * MIB, timeout_s: float = 20) -> None:
        self.sock.settimeout(timeout_s)
        try:
            data = self.sock.recv(max_bytes)
        except ConnectionResetError:
            data = b""
        if not data:
            self.reply.closed, self.done = True, True
            return
        self.reply.bytes_read += len(data)
        self.buffer += data
        self._parse()

    def read_all(self, deadline_s: float = 60) -> Reply:
        end = time.monotonic() + deadline_s
        while not self.done:
            assert time.monotonic() < end, "the reply never ended"
            self.read_some(4 * MIB)
        return self.reply

    def _parse(self) -> None:
        buffer = self.buffer
        at = 0
        while not self.done and len(buffer) - at >= 4:
            length = struct.unpack_from("<I", buffer, at)[0] & 0xFFFFFF
            if len(buffer) - at - 4 < length:
                break
            first = buffer[at + 4] if length else None
            if first == 0xFF:
                self.reply.error_code = struct.unpack_from("<H", buffer, at + 5)[0]
                self.done = True
            elif first == 0xFE and length < 9:
                self._eofs += 1
                self.done = self._eofs == 2
            elif self._eofs == 1:
                self.reply.rows += 1
            at += 4 + length
        del buffer[:at]
