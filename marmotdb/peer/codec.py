"""Peer frame codec: one framing, one MAC and one version byte for every peer message.

Theory of operation
-------------------
One frame carries one registered message (registry.py)::

    +--------------+-------------+----------+-----------+------------------+---------+---------+
    | length u32BE | version u8  | kind u8  | tag u16BE | correlation u64BE| payload | mac     |
    |              |             |          |           | (REQUEST and     | msgpack | 32 bytes|
    |              |             |          |           |  RESPONSE only)  |         |         |
    +--------------+-------------+----------+-----------+------------------+---------+---------+
      length = everything after the length field
      mac    = HMAC-SHA256(secret, every byte before the mac)

``kind`` says what the frame is to the request/response layer (endpoint.py): MESSAGE (one-way;
no correlation field, so a SWIM probe pays 3 bytes for the version, kind and wide tag and
nothing more), REQUEST (expects one RESPONSE carrying the same correlation id) or RESPONSE.
``version`` is ``WIRE_VERSION``; it changes only if this header changes. Messages evolve inside
it by appending defaulted fields, which needs no version.

The same frame goes over UDP (one frame per datagram), over TCP (a stream split by
``FrameDecoder``) and through the simulator. The MAC is checked before anything else is read, so
an unauthenticated peer can make us hash at most ``frame_bytes_max`` bytes and never reaches the
msgpack decoder. The codec signs with the first secret and accepts any of them (rotation in two
rolling restarts). HMAC authenticates; it neither encrypts (TLS on the TCP side does) nor stops
replays (every protocol on top orders its facts or deduplicates by id).

Every failure raises a ``FrameError`` (a ``ProtocolError`` of the one error tree) naming what
was wrong; nothing else escapes ``decode``, whatever the bytes (fuzz tests hold us to that).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import struct
from collections.abc import Iterator, Sequence

import msgspec

from marmotdb.errors import ProtocolError
from marmotdb.peer.registry import PEER_MESSAGES, TAG_MAX, MessageRegistry

WIRE_VERSION = 1
LENGTH_BYTES = 4
HEADER_BYTES = 4  # version, kind, tag
CORRELATION_BYTES = 8
MAC_BYTES = 32
FRAME_OVERHEAD_BYTES = LENGTH_BYTES + HEADER_BYTES + MAC_BYTES  # a one-way message
CORRELATED_OVERHEAD_BYTES = FRAME_OVERHEAD_BYTES + CORRELATION_BYTES
SECRET_BYTES_MIN = 16
DEFAULT_FRAME_BYTES_MAX = 16 * 1024 * 1024
CORRELATION_ID_MAX = 2**64 - 1

_LENGTH = struct.Struct(">I")
_HEADER = struct.Struct(">IBBH")
_CORRELATION = struct.Struct(">Q")


class FrameKind(enum.IntEnum):
    """Wire values: ONLY APPEND."""

    MESSAGE = 1  # one-way
    REQUEST = 2  # expects exactly one RESPONSE with the same correlation id
    RESPONSE = 3  # the answer to a REQUEST (a PeerFailure message when the peer could not serve)


_CORRELATED = frozenset({FrameKind.REQUEST, FrameKind.RESPONSE})


@dataclasses.dataclass(frozen=True)
class PeerFrame:
    """A decoded, authenticated frame."""

    kind: FrameKind
    tag: int
    correlation_id: int  # 0 for MESSAGE
    message: msgspec.Struct


class FrameError(ProtocolError):
    """A peer frame could not be accepted. The peer connection may be dropped; the node lives."""


class FrameAuthError(FrameError):
    """The MAC did not match any cluster secret: wrong secret, corruption or forgery."""


class FrameTooLargeError(FrameError):
    """The declared frame length exceeds ``frame_bytes_max``."""


class MalformedFrameError(FrameError):
    """Truncated frame, bad length or kind, or a payload that does not decode as its type."""


class UnknownMessageTypeError(FrameError):
    """An authenticated frame with a tag this software version does not know."""


class UnsupportedVersionError(FrameError):
    """An authenticated frame with a header version this software does not speak."""


class FrameCodec:
    """Encodes messages into frames and decodes frames back, signing with the cluster secret."""

    def __init__(self, secrets: Sequence[bytes], frame_bytes_max: int = DEFAULT_FRAME_BYTES_MAX,
                 registry: MessageRegistry = PEER_MESSAGES):
        if not secrets:
            raise ValueError("at least one cluster secret is required")
        for secret in secrets:
            if len(secret) < SECRET_BYTES_MIN:
                raise ValueError(f"cluster secret must be at least {SECRET_BYTES_MIN} bytes")
        self._secrets = [bytes(s) for s in secrets]
        self.frame_bytes_max = frame_bytes_max
        self.registry = registry
        self._encoder = msgspec.msgpack.Encoder()
        self._decoders: dict[int, msgspec.msgpack.Decoder[msgspec.Struct]] = {}

    def encode(self, message: msgspec.Struct, kind: FrameKind = FrameKind.MESSAGE,
               correlation_id: int = 0) -> bytes:
        """Return the signed frame for ``message``."""
        tag = self.registry.tag_of(type(message))
        payload = self._encoder.encode(message)
        correlated = kind in _CORRELATED
        if correlated and not 0 < correlation_id <= CORRELATION_ID_MAX:
            raise ValueError(f"a {kind.name} needs a correlation id in 1..2**64-1")
        extra = CORRELATION_BYTES if correlated else 0
        length = HEADER_BYTES + extra + len(payload) + MAC_BYTES
        if LENGTH_BYTES + length > self.frame_bytes_max:
            raise FrameTooLargeError(f"frame of {length} bytes exceeds {self.frame_bytes_max}")
        head = _HEADER.pack(length, WIRE_VERSION, kind, tag)
        if correlated:
            head += _CORRELATION.pack(correlation_id)
        mac = hmac.digest(self._secrets[0], head + payload, hashlib.sha256)
        return b"".join((head, payload, mac))

    def payload_bytes(self, message: msgspec.Struct) -> int:
        """Encoded size of a message or Struct without framing (used to budget piggybacks)."""
        return len(self._encoder.encode(message))

    def decode(self, frame: bytes) -> msgspec.Struct:
        """The message of one complete frame (whatever its kind)."""
        return self.decode_frame(frame).message

    def decode_frame(self, frame: bytes) -> PeerFrame:
        """Verify and decode one complete frame; raise a ``FrameError`` subclass on any fault."""
        view = memoryview(frame)
        if len(view) < FRAME_OVERHEAD_BYTES:
            raise MalformedFrameError(f"frame of {len(view)} bytes is shorter than its header")
        if len(view) > self.frame_bytes_max:
            raise FrameTooLargeError(f"frame of {len(view)} bytes exceeds {self.frame_bytes_max}")
        length, version, kind_value, tag = _HEADER.unpack_from(view)
        if length != len(view) - LENGTH_BYTES:
            raise MalformedFrameError(f"length field {length} != {len(view) - LENGTH_BYTES}")
        if not self._mac_matches(view[:-MAC_BYTES], view[-MAC_BYTES:]):
            raise FrameAuthError("frame MAC does not match the cluster secret")
        if version != WIRE_VERSION:
            raise UnsupportedVersionError(f"peer frame version {version}; this node speaks "
                                          f"{WIRE_VERSION}")
        try:
            kind = FrameKind(kind_value)
        except ValueError:
            raise MalformedFrameError(f"unknown frame kind {kind_value}") from None
        start, correlation_id = _HEADER.size, 0
        if kind in _CORRELATED:
            if len(view) < CORRELATED_OVERHEAD_BYTES:
                raise MalformedFrameError(f"{kind.name} frame too short for its correlation id")
            (correlation_id,) = _CORRELATION.unpack_from(view, start)
            start += CORRELATION_BYTES
        decoder = self._decoder(tag)
        try:
            message = decoder.decode(view[start:-MAC_BYTES])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            name = self.registry.by_tag(tag).cls.__name__  # type: ignore[union-attr]
            raise MalformedFrameError(f"bad {name} payload: {exc}") from None
        return PeerFrame(kind, tag, correlation_id, message)

    def _decoder(self, tag: int) -> msgspec.msgpack.Decoder[msgspec.Struct]:
        decoder = self._decoders.get(tag)
        if decoder is None:
            entry = self.registry.by_tag(tag)
            if entry is None:
                raise UnknownMessageTypeError(f"unknown peer message tag {tag}")
            decoder = self._decoders[tag] = msgspec.msgpack.Decoder(entry.cls)
        return decoder

    def _mac_matches(self, signed: memoryview, mac: memoryview) -> bool:
        # Check every secret (no early exit on a match position) so timing leaks nothing useful.
        matched = False
        for secret in self._secrets:
            expected = hmac.digest(secret, signed, hashlib.sha256)
            matched |= hmac.compare_digest(expected, mac)
        return matched


def peek_tag(frame: bytes) -> int | None:
    """The tag of a frame, unauthenticated: only for routing it to the subsystem that decodes
    it (membership decodes its own frames). None when the frame is too short to have one."""
    if len(frame) < LENGTH_BYTES + HEADER_BYTES:
        return None
    tag: int = _HEADER.unpack_from(frame)[3]
    return tag if tag <= TAG_MAX else None


class FrameDecoder:
    """Splits a TCP byte stream into complete frames (not yet verified: pass each to ``decode``).

    The buffer never holds more than one frame plus one partial read: a declared length above
    ``frame_bytes_max`` raises ``FrameTooLargeError`` before any of that frame is buffered, and
    the caller should then close the connection (the stream cannot be resynchronised).
    """

    def __init__(self, frame_bytes_max: int = DEFAULT_FRAME_BYTES_MAX):
        self.frame_bytes_max = frame_bytes_max
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Append received bytes; yield every frame now complete."""
        self._buffer += data
        while len(self._buffer) >= LENGTH_BYTES:
            (length,) = _LENGTH.unpack_from(self._buffer)
            total = LENGTH_BYTES + length
            if total > self.frame_bytes_max:
                raise FrameTooLargeError(f"declared frame of {total} bytes exceeds the limit")
            if length < HEADER_BYTES + MAC_BYTES:
                raise MalformedFrameError(f"declared frame length {length} is below the minimum")
            if len(self._buffer) < total:
                return
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            yield frame

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)
