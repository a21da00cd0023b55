"""The client side of the MySQL protocol, just enough to drive a ServerConnection in memory.

Written independently of the server's encoders (its own struct layouts) so that a bug in one
side does not hide the same bug in the other. ``Pair`` wires a client and a server together
like h11's ConnectionPair: the test plays the server's caller (events in, answers out).
"""

from __future__ import annotations

import datetime as dt
import random
import ssl
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marmotdb.mysql import auth
from marmotdb.mysql import events as ev
from marmotdb.mysql.connection import ProtocolSettings, ServerConnection

CLIENT_LONG_PASSWORD = 1
CLIENT_FOUND_ROWS = 2
CLIENT_LONG_FLAG = 4
CLIENT_CONNECT_WITH_DB = 8
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SSL = 1 << 11
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_LENENC_DATA = 1 << 21
CLIENT_DEPRECATE_EOF = 1 << 24

BASE_CAPS = (CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
             | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS
             | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS
             | CLIENT_LENENC_DATA)


def lenenc(n: int) -> bytes:
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(b: bytes) -> bytes:
    return lenenc(len(b)) + b


def read_lenenc(buf: bytes, pos: int) -> tuple[int | None, int]:
    first = buf[pos]
    if first < 251:
        return first, pos + 1
    if first == 251:
        return None, pos + 1
    width = {252: 2, 253: 3, 254: 8}[first]
    return int.from_bytes(buf[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def read_lenenc_str(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    n, pos = read_lenenc(buf, pos)
    if n is None:
        return None, pos
    return buf[pos:pos + n], pos + n


def frame(payload: bytes, seq: int) -> bytes:
    out = b""
    while True:
        chunk, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
        out += struct.pack("<I", len(chunk))[:3] + bytes([seq & 0xFF]) + chunk
        seq += 1
        if len(chunk) < 0xFFFFFF:
            return out


@dataclass
class Greeting:
    server_version: str
    connection_id: int
    scramble: bytes
    capabilities: int
    charset: int
    status: int
    plugin: str


def parse_greeting(payload: bytes) -> Greeting:
    assert payload[0] == 10
    end = payload.index(b"\x00", 1)
    version = payload[1:end].decode()
    pos = end + 1
    conn_id = struct.unpack_from("<I", payload, pos)[0]
    part1 = payload[pos + 4:pos + 12]
    pos += 13
    cap_lo, charset, status, cap_hi, data_len = struct.unpack_from("<HBHHB", payload, pos)
    pos += 8 + 10
    part2_len = max(13, data_len - 8)
    part2 = payload[pos:pos + part2_len]
    pos += part2_len
    plugin = payload[pos:payload.index(b"\x00", pos)].decode()
    return Greeting(version, conn_id, part1 + part2.rstrip(b"\x00"),
                    cap_lo | cap_hi << 16, charset, status, plugin)


@dataclass
class Column:
    name: str
    type: int
    flags: int
    charset: int
    length: int
    decimals: int
    table: str = ""


def parse_column(payload: bytes) -> Column:
    pos = 0
    fields = []
    for _ in range(6):
        value, pos = read_lenenc_str(payload, pos)
        fields.append((value or b"").decode())
    assert payload[pos] == 0x0C
    charset, length, type_, flags, decimals = struct.unpack_from("<HIBHB", payload, pos + 1)
    return Column(fields[4], type_, flags, charset, length, decimals, fields[2])


@dataclass
class Result:
    """One response: an OK, an ERR or a result set."""

    kind: str  # "ok" | "err" | "rows"
    affected_rows: int = 0
    last_insert_id: int = 0
    status: int = 0
    warnings: int = 0
    info: str = ""
    error_code: int = 0
    sqlstate: str = ""
    message: str = ""
    columns: list[Column] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)


@dataclass
class PrepareOk:
    stmt_id: int
    params: list[Column]
    columns: list[Column]
    warnings: int


def parse_ok(payload: bytes) -> Result:
    affected, pos = read_lenenc(payload, 1)
    insert_id, pos = read_lenenc(payload, pos)
    status, warnings = struct.unpack_from("<HH", payload, pos)
    info = ""
    if len(payload) > pos + 4:  # a length-encoded string, as MySQL's servers send it
        length, start = read_lenenc(payload, pos + 4)
        info = payload[start:start + (length or 0)].decode()
    return Result("ok", affected or 0, insert_id or 0, status, warnings, info)


def parse_err(payload: bytes) -> Result:
    code = struct.unpack_from("<H", payload, 1)[0]
    assert payload[3:4] == b"#"
    return Result("err", error_code=code, sqlstate=payload[4:9].decode(),
                  message=payload[9:].decode())


def is_eof(payload: bytes) -> bool:
    return payload[:1] == b"\xfe" and len(payload) < 0xFFFFFF


# --- binary rows and params -------------------------------------------------------------------

_INT_FORMATS = {1: "b", 2: "h", 3: "i", 8: "q", 9: "i", 13: "h"}


def decode_binary_value(col: Column, buf: bytes, pos: int) -> tuple[Any, int]:
    t = col.type
    if t in _INT_FORMATS:
        fmt = _INT_FORMATS[t]
        if col.flags & 32:
            fmt = fmt.upper()
        size = struct.calcsize(fmt)
        return struct.unpack_from("<" + fmt, buf, pos)[0], pos + size
    if t == 4:
        return struct.unpack_from("<f", buf, pos)[0], pos + 4
    if t == 5:
        return struct.unpack_from("<d", buf, pos)[0], pos + 8
    if t in (7, 10, 12):
        n = buf[pos]
        raw = buf[pos + 1:pos + 1 + n]
        if n == 0:
            return None if t != 10 else dt.date.min, pos + 1  # zero date: no Python value
        y, mo, d = struct.unpack_from("<HBB", raw)
        if t == 10:
            return dt.date(y, mo, d), pos + 1 + n
        h = mi = s = us = 0
        if n >= 7:
            h, mi, s = raw[4], raw[5], raw[6]
        if n == 11:
            us = struct.unpack_from("<I", raw, 7)[0]
        return dt.datetime(y, mo, d, h, mi, s, us), pos + 1 + n
    if t == 11:
        n = buf[pos]
        raw = buf[pos + 1:pos + 1 + n]
        if n == 0:
            return dt.timedelta(0), pos + 1
        neg, days, h, mi, s = struct.unpack_from("<BIBBB", raw)
        us = struct.unpack_from("<I", raw, 8)[0] if n == 12 else 0
        delta = dt.timedelta(days=days, hours=h, minutes=mi, seconds=s, microseconds=us)
        return (-delta if neg else delta), pos + 1 + n
    value, pos = read_lenenc_str(buf, pos)
    if t in (0, 246):
        return Decimal(value.decode()), pos
    return value, pos


def decode_binary_row(columns: list[Column], payload: bytes) -> tuple:
    assert payload[0] == 0
    nbytes = (len(columns) + 9) // 8
    bitmap = payload[1:1 + nbytes]
    pos = 1 + nbytes
    values = []
    for i, col in enumerate(columns):
        bit = i + 2
        if bitmap[bit >> 3] & (1 << (bit & 7)):
            values.append(None)
            continue
        value, pos = decode_binary_value(col, payload, pos)
        values.append(value)
    assert pos == len(payload), "trailing bytes in binary row"
    return tuple(values)


def decode_text_row(columns: list[Column], payload: bytes) -> tuple:
    pos = 0
    values = []
    for _ in columns:
        value, pos = read_lenenc_str(payload, pos)
        values.append(value)
    assert pos == len(payload), "trailing bytes in text row"
    return tuple(values)


def binary_param(value: Any) -> tuple[int, int, bytes | None]:
    """(type, flags, value bytes or None for NULL) the way Connector/C sends a value."""
    if value is None:
        return 6, 0, None
    if isinstance(value, bool):
        return 1, 0, struct.pack("<b", value)
    if isinstance(value, int):
        if value >= 1 << 63:
            return 8, 0x80, struct.pack("<Q", value)
        return 8, 0, struct.pack("<q", value)
    if isinstance(value, float):
        return 5, 0, struct.pack("<d", value)
    if isinstance(value, Decimal):
        return 246, 0, lenenc_str(str(value).encode())
    if isinstance(value, str):
        return 253, 0, lenenc_str(value.encode())
    if isinstance(value, bytes):
        return 252, 0, lenenc_str(value)
    if isinstance(value, dt.datetime):
        body = struct.pack("<HBBBBB", value.year, value.month, value.day, value.hour,
                           value.minute, value.second)
        if value.microsecond:
            body += struct.pack("<I", value.microsecond)
        return 12, 0, bytes([len(body)]) + body
    if isinstance(value, dt.date):
        return 10, 0, b"\x04" + struct.pack("<HBB", value.year, value.month, value.day)
    if isinstance(value, dt.timedelta):
        neg = value < dt.timedelta(0)
        v = -value if neg else value
        body = struct.pack("<BIBBB", neg, v.days, v.seconds // 3600, v.seconds // 60 % 60,
                           v.seconds % 60)
        if v.microseconds:
            body += struct.pack("<I", v.microseconds)
        return 11, 0, bytes([len(body)]) + body
    raise TypeError(value)


def execute_payload(stmt_id: int, params: list[Any], send_types: bool = True,
                    long_data_params: frozenset[int] = frozenset(), flags: int = 0) -> bytes:
    body = b"\x17" + struct.pack("<IBI", stmt_id, flags, 1)
    if not params:
        return body
    encoded = [binary_param(v) for v in params]
    bitmap = bytearray((len(params) + 7) // 8)
    for i, (_, _, raw) in enumerate(encoded):
        if raw is None:
            bitmap[i >> 3] |= 1 << (i & 7)
    body += bytes(bitmap) + (b"\x01" if send_types else b"\x00")
    if send_types:
        body += b"".join(bytes([t, f]) for t, f, _ in encoded)
    for i, (_, _, raw) in enumerate(encoded):
        if raw is not None and i not in long_data_params:
            body += raw
    return body


# --- the client -------------------------------------------------------------------------------


class WireClient:
    """A client endpoint: bytes to/from ``Pair``; optional TLS through its own SSLObject."""

    def __init__(self, capabilities: int = BASE_CAPS, tls_context: ssl.SSLContext | None = None):
        self.capabilities = capabilities
        self.tls_context = tls_context
        self._inbox = bytearray()
        self._tls: ssl.SSLObject | None = None
        self._tls_in = ssl.MemoryBIO()
        self._tls_out = ssl.MemoryBIO()
        self.seq = 0
        self.greeting: Greeting | None = None

    @property
    def deprecate_eof(self) -> bool:
        return bool(self.capabilities & CLIENT_DEPRECATE_EOF)

    def start_tls(self) -> None:
        assert self.tls_context is not None
        self._tls = self.tls_context.wrap_bio(self._tls_in, self._tls_out, server_side=False)

    def tls_step(self) -> bool:
        """Advance the client TLS handshake; True when done."""
        assert self._tls is not None
        try:
            self._tls.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    def outgoing(self, data: bytes = b"") -> bytes:
        """Wrap application bytes for the wire (encrypt if TLS)."""
        if self._tls is None:
            return data
        if data:
            self._tls.write(data)
        return self._tls_out.read()

    def incoming(self, data: bytes) -> None:
        if self._tls is None:
            self._inbox += data
            return
        self._tls_in.write(data)
        while True:
            try:
                chunk = self._tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLError):
                break
            if not chunk:
                break
            self._inbox += chunk

    def packet(self) -> bytes | None:
        """The next whole payload received (joined across 16 MiB packets), checking seq."""
        inbox = self._inbox
        pos = 0
        seqs, chunks = [], []
        while True:
            if len(inbox) < pos + 4:
                return None
            length = int.from_bytes(inbox[pos:pos + 3], "little")
            if len(inbox) < pos + 4 + length:
                return None
            seqs.append(inbox[pos + 3])
            chunks.append(bytes(inbox[pos + 4:pos + 4 + length]))
            pos += 4 + length
            if length < 0xFFFFFF:
                break
        del inbox[:pos]
        for seq in seqs:
            assert seq == self.seq, f"sequence id {seq}, expected {self.seq}"
            self.seq = (self.seq + 1) & 0xFF
        return b"".join(chunks)

    def frame(self, payload: bytes, new_command: bool = False) -> bytes:
        if new_command:
            self.seq = 0
        data = frame(payload, self.seq)
        self.seq = (self.seq + len(payload) // 0xFFFFFF + 1) & 0xFF
        return data

    @property
    def pending(self) -> int:
        return len(self._inbox)


class Pair:
    """A WireClient and a ServerConnection joined in memory. The test is the server's caller."""

    def __init__(self, users: dict[str, str] | None = None, *,
                 client_caps: int = BASE_CAPS, ssl_server: ssl.SSLContext | None = None,
                 ssl_client: ssl.SSLContext | None = None, rsa_key: Any = None,
                 settings: ProtocolSettings | None = None, seed: int = 1,
                 **server_kwargs: Any):
        self.users = users if users is not None else {}
        self.server = ServerConnection(
            connection_id=42, rng=random.Random(seed), lookup_user=self.users.get,
            ssl_context=ssl_server, rsa_private_key=rsa_key, settings=settings,
            peer_host="127.0.0.1", **server_kwargs)
        self.client = WireClient(client_caps, ssl_client)
        self.events: list[ev.Event] = []

    # moving bytes
    def to_client(self) -> None:
        self.client.incoming(self.server.data_to_send())

    def to_server(self, data: bytes) -> list[ev.Event]:
        self.server.receive_data(data)
        return self.drain()

    def drain(self) -> list[ev.Event]:
        out = []
        while (event := self.server.next_event()) is not None:
            out.append(event)
        self.events.extend(out)
        return out

    def send(self, payload: bytes, new_command: bool = False) -> list[ev.Event]:
        return self.to_server(self.client.outgoing(self.client.frame(payload, new_command)))

    def command(self, payload: bytes) -> list[ev.Event]:
        return self.send(payload, new_command=True)

    def read(self) -> bytes:
        self.to_client()
        payload = self.client.packet()
        assert payload is not None, "server sent nothing"
        return payload

    def read_result(self, binary: bool = False) -> Result:
        first = self.read()
        if first[0] == 0x00:
            return parse_ok(first)
        if first[0] == 0xFF:
            return parse_err(first)
        count, _ = read_lenenc(first, 0)
        columns = [parse_column(self.read()) for _ in range(count or 0)]
        if not self.client.deprecate_eof:
            assert is_eof(self.read()), "expected EOF after column definitions"
        rows = []
        while True:
            payload = self.read()
            if is_eof(payload):
                break
            rows.append(decode_binary_row(columns, payload) if binary
                        else decode_text_row(columns, payload))
        if self.client.deprecate_eof:
            end = parse_ok(payload)
        else:
            warnings, status = struct.unpack_from("<HH", payload, 1)
            end = Result("ok", status=status, warnings=warnings)
        return Result("rows", status=end.status, warnings=end.warnings, columns=columns,
                      rows=rows)

    def read_prepare_ok(self) -> PrepareOk:
        first = self.read()
        if first[0] == 0xFF:
            raise AssertionError(parse_err(first))
        _, stmt_id, ncols, nparams, _, warnings = struct.unpack("<BIHHBH", first)
        params = [parse_column(self.read()) for _ in range(nparams)]
        if nparams and not self.client.deprecate_eof:
            assert is_eof(self.read())
        columns = [parse_column(self.read()) for _ in range(ncols)]
        if ncols and not self.client.deprecate_eof:
            assert is_eof(self.read())
        return PrepareOk(stmt_id, params, columns, warnings)

    # the login
    def greet(self) -> Greeting:
        self.client.greeting = parse_greeting(self.read())
        return self.client.greeting

    def login(self, user: str, password: str, *, plugin: str = auth.CACHING_SHA2,
              database: str | None = None, tls: bool = False,
              attrs: dict[str, str] | None = None, answer: bytes | None = None,
              glue_client_hello: bool = True) -> list[ev.Event]:
        """Run the client side of the login until the server emits events or waits."""
        greeting = self.greet()
        caps = self.client.capabilities | (CLIENT_CONNECT_WITH_DB if database else 0)
        if tls:
            caps |= CLIENT_SSL
            ssl_request = struct.pack("<IIB", caps, 1 << 24, 255) + bytes(23)
            framed = self.client.frame(ssl_request)
            self.client.start_tls()
            self.client.tls_step()
            hello = self.client.outgoing()
            if glue_client_hello:  # the PyMySQL case: both in one TCP segment
                self.to_server(framed + hello)
            else:
                self.to_server(framed)
                self.to_server(hello)
            self._finish_tls()
        if answer is None:
            answer = scramble_for(plugin, password, greeting.scramble)
        body = struct.pack("<IIB", caps, 1 << 24, 255) + bytes(23)
        body += user.encode() + b"\x00" + lenenc_str(answer)
        if database:
            body += database.encode() + b"\x00"
        body += plugin.encode() + b"\x00"
        attr_bytes = b"".join(lenenc_str(k.encode()) + lenenc_str(v.encode())
                              for k, v in (attrs or {"_client_name": "wire_client"}).items())
        body += lenenc_str(attr_bytes)
        return self.send(body)

    def _finish_tls(self) -> None:
        for _ in range(10):
            self.to_client_raw()
            done = self.client.tls_step()
            self.to_server(self.client.outgoing())
            if done:
                self.to_client_raw()
                return
        raise AssertionError("TLS handshake did not finish")

    def to_client_raw(self) -> None:
        data = self.server.data_to_send()
        if data:
            self.client._tls_in.write(data)


def scramble_for(plugin: str, password: str, scramble: bytes) -> bytes:
    if plugin == auth.NATIVE:
        return auth.scramble_native(password, scramble)
    if plugin == auth.CACHING_SHA2:
        return auth.scramble_caching_sha2(password, scramble)
    return password.encode() + b"\x00"


def logged_in_pair(password: str = "secret", *, client_caps: int = BASE_CAPS,
                   settings: ProtocolSettings | None = None, status: int = 2) -> Pair:
    """A pair past login as user 'app' (caching_sha2 fast path), ready for commands."""
    pair = Pair({"app": auth.make_credential(password, iterations=1000)},
                client_caps=client_caps, settings=settings)
    events = pair.login("app", password)
    assert isinstance(events[-1], ev.Authenticated), events
    pair.server.accept_login(status)
    assert pair.read() == b"\x01\x03"  # fast auth success
    ok = parse_ok(pair.read())
    assert ok.status == status
    return pair
