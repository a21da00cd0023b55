"""Connection-phase packets: HandshakeV10 out; SSLRequest, HandshakeResponse41 and the
COM_CHANGE_USER body in.

Decoders are lenient where real clients differ (a missing trailing NUL after the plugin name,
a CONNECT_WITH_DB flag with no database), strict where a wrong guess would be unsafe (a
truncated auth answer or attribute block raises ProtocolError 1835 via ``packets``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Protocol

from marmotdb.mysql import packets as p

SSL_REQUEST_BYTES = 32
_RESPONSE_HEAD = struct.Struct("<IIB")
# Scramble bytes: printable-range, never NUL (C clients read it as a string) nor '$'.
_SCRAMBLE_ALPHABET = bytes(b for b in range(1, 128) if b != ord("$"))


class RandomSource(Protocol):
    """What the scramble needs from a ``random.Random`` (the core never imports ``random``:
    the caller passes ``random.SystemRandom()`` in production, a seeded Random in the
    simulator)."""

    def randbytes(self, n: int) -> bytes: ...


# Rejection sampling done by bytes.translate in C: a random byte below 2 * len(alphabet) maps
# to alphabet[byte % len(alphabet)] (each character equally likely), bytes above are deleted.
_ACCEPTED = 2 * len(_SCRAMBLE_ALPHABET)
_TO_ALPHABET = bytes(_SCRAMBLE_ALPHABET[b % len(_SCRAMBLE_ALPHABET)] if b < _ACCEPTED else 0
                     for b in range(256))
_REJECTED = bytes(range(_ACCEPTED, 256))


def make_scramble(rng: RandomSource, n: int = 20) -> bytes:
    """n characters of the alphabet, uniformly, from one draw of the random source (a
    SystemRandom draws from the OS per call) and, rarely, another: ~2% of bytes are rejected,
    and the draw has 12 spare bytes."""
    out = b""
    while len(out) < n:
        out += rng.randbytes(n + 12).translate(_TO_ALPHABET, _REJECTED)
    return out[:n]


def encode_handshake(server_version: str, connection_id: int, scramble: bytes,
                     capabilities: int, charset: int, status_flags: int, plugin: str) -> bytes:
    """Protocol::HandshakeV10 payload."""
    return b"".join((
        b"\x0a", server_version.encode("ascii", "replace"), b"\x00",
        struct.pack("<I", connection_id & 0xFFFFFFFF), scramble[:8], b"\x00",
        struct.pack("<HBHHB", capabilities & 0xFFFF, charset, status_flags,
                    capabilities >> 16, len(scramble) + 1),
        b"\x00" * 10, scramble[8:], b"\x00", plugin.encode("ascii"), b"\x00",
    ))


@dataclass(slots=True)
class LoginRequest:
    """What HandshakeResponse41 or COM_CHANGE_USER carries."""

    capabilities: int
    max_packet_bytes: int
    charset: int
    user: str
    auth_answer: bytes
    database: str | None
    plugin: str
    attrs: dict[str, str] = field(default_factory=dict)


def is_ssl_request(payload: bytes) -> bool:
    if len(payload) != SSL_REQUEST_BYTES:
        return False
    return bool(int.from_bytes(payload[:4], "little") & p.CLIENT_SSL)


def decode_handshake_response(payload: bytes, default_plugin: str) -> LoginRequest:
    """Protocol::HandshakeResponse41 (clients without PROTOCOL_41 are refused)."""
    if len(payload) < _RESPONSE_HEAD.size + 23:
        raise p.malformed("short handshake response")
    caps, max_packet, charset = _RESPONSE_HEAD.unpack_from(payload)
    if not caps & p.CLIENT_PROTOCOL_41:
        raise p.malformed("client does not speak protocol 4.1")
    pos = _RESPONSE_HEAD.size + 23
    user, pos = p.read_nul_bytes(payload, pos)
    answer, pos = _read_auth_answer(payload, pos, caps)
    database = None
    if caps & p.CLIENT_CONNECT_WITH_DB and pos < len(payload):
        raw_db, pos = _read_nul_or_rest(payload, pos)
        database = _text(raw_db) or None
    plugin = default_plugin if caps & p.CLIENT_PLUGIN_AUTH else "mysql_native_password"
    if caps & p.CLIENT_PLUGIN_AUTH and pos < len(payload):
        raw_plugin, pos = _read_nul_or_rest(payload, pos)
        plugin = _text(raw_plugin) or plugin
    attrs = _read_attrs(payload, pos) if caps & p.CLIENT_CONNECT_ATTRS else {}
    return LoginRequest(caps, max_packet, charset, _text(user), answer, database, plugin, attrs)


def decode_change_user(payload: bytes, caps: int, default_plugin: str) -> LoginRequest:
    """COM_CHANGE_USER body (after the command byte), per the session's capabilities."""
    pos = 1
    user, pos = p.read_nul_bytes(payload, pos)
    if caps & p.CLIENT_SECURE_CONNECTION:
        n, pos = p.read_uint(payload, pos, 1)
        answer, pos = p.read_fixed(payload, pos, n)
    else:
        answer, pos = p.read_nul_bytes(payload, pos)
    raw_db, pos = _read_nul_or_rest(payload, pos)
    charset = 0
    if pos + 2 <= len(payload):
        charset, pos = p.read_uint(payload, pos, 2)
    plugin = default_plugin if caps & p.CLIENT_PLUGIN_AUTH else "mysql_native_password"
    if caps & p.CLIENT_PLUGIN_AUTH and pos < len(payload):
        raw_plugin, pos = _read_nul_or_rest(payload, pos)
        plugin = _text(raw_plugin) or plugin
    attrs = _read_attrs(payload, pos) if caps & p.CLIENT_CONNECT_ATTRS else {}
    return LoginRequest(caps, 0, charset, _text(user), answer, _text(raw_db) or None, plugin,
                        attrs)


def _read_auth_answer(payload: bytes, pos: int, caps: int) -> tuple[bytes, int]:
    if caps & p.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
        return p.read_lenenc_bytes(payload, pos)
    if caps & p.CLIENT_SECURE_CONNECTION:
        n, pos = p.read_uint(payload, pos, 1)
        return p.read_fixed(payload, pos, n)
    return p.read_nul_bytes(payload, pos)


def _read_nul_or_rest(payload: bytes, pos: int) -> tuple[bytes, int]:
    end = payload.find(b"\x00", pos)
    if end < 0:
        return bytes(payload[pos:]), len(payload)
    return bytes(payload[pos:end]), end + 1


_ATTRS_MAX = 64 * 1024  # connect attributes are small key/values; MySQL caps them at 64 KiB


def _read_attrs(payload: bytes, pos: int) -> dict[str, str]:
    if pos >= len(payload):
        return {}
    total, pos = p.read_lenenc_int(payload, pos)
    if total is None or total > _ATTRS_MAX or pos + total > len(payload):
        raise p.malformed("bad connection attributes")
    end = pos + total
    attrs: dict[str, str] = {}
    while pos < end:
        key, pos = p.read_lenenc_bytes(payload, pos)
        value, pos = p.read_lenenc_bytes(payload, pos)
        attrs[_text(key)] = _text(value)
    if pos != end:
        raise p.malformed("connection attributes overrun")
    return attrs


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
