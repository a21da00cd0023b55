"""A tiny asyncio server around ServerConnection, for real-client tests of the protocol alone.

No SQL engine: ``EchoEngine`` answers from the statement itself. ``SELECT <literals>`` returns
one row holding those literals (typed like MySQL would type them), ``SELECT ?, ?`` prepared
returns the bound parameters as one row (so a binary round trip is checked end to end),
``@@variable`` selects return a string, SET/BEGIN/COMMIT/ROLLBACK/USE and INSERT answer OK
(with a growing insert id), anything else is ERR 1064. The server runs its own event loop in
a thread so blocking clients (PyMySQL, mysql-connector) can be driven from the test.
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import threading
from decimal import Decimal
from typing import Any

from marmotdb.errors import SqlError
from marmotdb.mysql import events as ev
from marmotdb.mysql.connection import ProtocolSettings, ServerConnection
from marmotdb.mysql.packets import SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS
from marmotdb.mysql.types import (
    CHARSET_BINARY,
    Column,
    ColumnFlag,
    FieldType,
    ResultSet,
    text_column,
)

_LITERAL = re.compile(
    r"\s*(NULL|-?\d+\.\d+|-?\d+|'(?:[^'\\]|\\.)*'|@@[\w.]+|\w+\(\))\s*(?:,|$)", re.IGNORECASE)
_FUNCTIONS = {"database()": None, "user()": "app@127.0.0.1", "version()": "8.0.36-harness"}


def literal_column(text: str, value: Any) -> Column:
    if value is None:
        return Column(text, FieldType.NULL, charset=CHARSET_BINARY)
    if isinstance(value, int):
        return Column(text, FieldType.LONGLONG, length=21, flags=int(ColumnFlag.NUM),
                      charset=CHARSET_BINARY)
    if isinstance(value, Decimal):
        return Column(text, FieldType.NEWDECIMAL, length=20, charset=CHARSET_BINARY,
                      decimals=-value.as_tuple().exponent)
    if isinstance(value, float):
        return Column(text, FieldType.DOUBLE, length=22, decimals=31, charset=CHARSET_BINARY)
    if isinstance(value, bytes):
        return Column(text, FieldType.BLOB, length=65535, charset=CHARSET_BINARY,
                      flags=int(ColumnFlag.BINARY | ColumnFlag.BLOB))
    return text_column(text)


def parse_literal(text: str) -> Any:
    upper = text.upper()
    if upper == "NULL":
        return None
    if text.startswith("'"):
        return text[1:-1].replace("\\'", "'")
    if text.endswith("()"):
        return _FUNCTIONS.get(text.lower(), "value")
    if text.startswith("@@"):
        return {"@@version_comment": "marmotdb harness"}.get(text.lower(), "value")
    return Decimal(text) if "." in text else int(text)


class EchoEngine:
    """Per-connection answers (see module docstring)."""

    def __init__(self) -> None:
        self.in_trans = False
        self.insert_id = 0
        self.prepared: dict[int, int] = {}

    @property
    def status(self) -> int:
        return SERVER_STATUS_AUTOCOMMIT | (SERVER_STATUS_IN_TRANS if self.in_trans else 0)

    def select(self, sql: str) -> ResultSet | None:
        match = re.match(r"\s*SELECT\s+(.*?)(?:\s+LIMIT\s+\d+)?\s*$", sql, re.IGNORECASE | re.DOTALL)
        if not match:
            return None
        body, values, names = match.group(1), [], []
        pos = 0
        while pos < len(body):
            lit = _LITERAL.match(body, pos)
            if not lit:
                return None
            names.append(lit.group(1))
            values.append(parse_literal(lit.group(1)))
            pos = lit.end()
        return ResultSet([literal_column(n, v) for n, v in zip(names, values)], [tuple(values)])

    def statement(self, conn: ServerConnection, sql: str, more: bool) -> None:
        head = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
        if head in ("BEGIN", "START"):
            self.in_trans = True
        if head in ("COMMIT", "ROLLBACK"):
            self.in_trans = False
        if head in ("SET", "BEGIN", "START", "COMMIT", "ROLLBACK", "USE"):
            conn.send_ok(status_flags=self.status, more_results=more)
            return
        if head == "INSERT":
            self.insert_id += 1
            conn.send_ok(1, self.insert_id, self.status, more_results=more)
            return
        result = self.select(sql)
        if result is None:
            conn.send_error(SqlError(f"You have an error in your SQL syntax near '{sql[:40]}'"))
            return
        conn.send_result_set(result, self.status, more_results=more)

    def answer(self, conn: ServerConnection, event: ev.Event) -> None:
        handler = getattr(self, "on_" + type(event).__name__, None)
        if handler is not None:
            handler(conn, event)

    def on_Authenticated(self, conn: ServerConnection, event: ev.Authenticated) -> None:
        conn.accept_login(self.status)

    def on_Query(self, conn: ServerConnection, event: ev.Query) -> None:
        parts = [s for s in event.sql.split(";") if s.strip()] or [""]
        for i, part in enumerate(parts):
            if conn.state.name != "ANSWERING":
                return  # an error ended the answer
            self.statement(conn, part, more=i < len(parts) - 1)

    def on_StmtPrepare(self, conn: ServerConnection, event: ev.StmtPrepare) -> None:
        params = event.sql.count("?")
        self.prepared[event.stmt_id] = params
        columns = [text_column(f"p{i}") for i in range(params)]
        conn.send_prepare_ok(event.stmt_id, columns, params)

    def on_StmtExecute(self, conn: ServerConnection, event: ev.StmtExecute) -> None:
        if not event.params:
            conn.send_ok(status_flags=self.status)
            return
        columns = [literal_column(f"p{i}", v) for i, v in enumerate(event.params)]
        conn.send_result_set(ResultSet(columns, [tuple(event.params)]), self.status, binary=True)

    def on_InitDb(self, conn: ServerConnection, event: ev.InitDb) -> None:
        conn.send_ok()

    def on_Ping(self, conn: ServerConnection, event: ev.Ping) -> None:
        conn.send_ok()

    def on_ResetConnection(self, conn, event) -> None:
        self.in_trans = False
        conn.send_ok(status_flags=self.status)

    def on_StmtReset(self, conn: ServerConnection, event: ev.StmtReset) -> None:
        conn.send_ok()

    def on_FieldList(self, conn: ServerConnection, event: ev.FieldList) -> None:
        conn.send_field_list([text_column("c")])

    def on_Statistics(self, conn: ServerConnection, event: ev.Statistics) -> None:
        conn.send_statistics("Uptime: 1  Threads: 1  Questions: 1")


class _Protocol(asyncio.Protocol):
    def __init__(self, server: HarnessServer):
        self.server = server
        self.engine = EchoEngine()
        self.transport: asyncio.Transport | None = None
        self.conn: ServerConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        s = self.server
        s.connection_count += 1
        self.conn = ServerConnection(
            connection_id=s.connection_count, rng=s.rng, lookup_user=s.users.get,
            ssl_context=s.ssl_context, rsa_private_key=s.rsa_key, settings=s.settings,
            peer_host="127.0.0.1")
        self._flush()

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.receive_data(data)
        while (event := self.conn.next_event()) is not None:
            self.server.events.append(event)
            self.engine.answer(self.conn, event)
        self._flush()

    def eof_received(self) -> bool:
        self.data_received(b"")
        return False

    def _flush(self) -> None:
        assert self.conn is not None and self.transport is not None
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)
        if self.conn.should_close:
            self.transport.close()


class HarnessServer:
    """Serve ServerConnection on 127.0.0.1:<port> from a background thread."""

    def __init__(self, users: dict[str, str], *, ssl_context: ssl.SSLContext | None = None,
                 rsa_key: Any = None, settings: ProtocolSettings | None = None):
        self.users = users
        self.ssl_context = ssl_context
        self.rsa_key = rsa_key
        self.settings = settings
        self.rng = random.Random(7)
        self.connection_count = 0
        self.events: list[ev.Event] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> HarnessServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self

    async def _listen(self) -> int:
        self._server = await self._loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
