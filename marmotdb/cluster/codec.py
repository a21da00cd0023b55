"""Peer frame codec: length-prefixed, typed, HMAC-SHA256 authenticated msgspec frames.

Theory of operation
-------------------
One frame carries one message (messages.py) and has this layout::

    +----------------+-----------+-------------------------+--------------------------+
    | length: u32 BE | type: u8  | payload: msgpack        | mac: 32 bytes            |
    +----------------+-----------+-------------------------+--------------------------+
      length = 1 + len(payload) + 32   (everything after the length field)
      mac    = HMAC-SHA256(secret, length || type || payload)

The same frame goes over UDP (one frame per datagram) and over TCP (a stream of frames split by
``FrameDecoder``). The MAC is checked before anything is decoded, so an unauthenticated peer can
make us hash at most ``frame_bytes_max`` bytes and can never reach the msgpack decoder.

Keys: the codec signs with the first secret and accepts any of them, so a cluster can rotate its
secret in two rolling restarts (add the new secret second, then first, then drop the old one).
HMAC authenticates; it does not encrypt (use TLS on the TCP side for that) and does not stop
replay of a captured frame; SWIM tolerates replays because every fact is ordered by incarnation.

Every failure raises a ``FrameError`` (a ``ProtocolError`` of the one error tree) naming what was
wrong; nothing else escapes ``decode``, whatever the bytes (a fuzz test holds us to that).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterator, Sequence

import msgspec

from marmotdb.cluster.messages import MESSAGE_TYPES, TYPE_CODES
from marmotdb.errors import ProtocolError

LENGTH_BYTES = 4
TYPE_BYTES = 1
MAC_BYTES = 32
FRAME_OVERHEAD_BYTES = LENGTH_BYTES + TYPE_BYTES + MAC_BYTES
SECRET_BYTES_MIN = 16
DEFAULT_FRAME_BYTES_MAX = 16 * 1024 * 1024

_LENGTH = struct.Struct(">I")


class FrameError(ProtocolError):
    """A peer frame could not be accepted. The peer connection may be dropped; the node lives."""


class FrameAuthError(FrameError):
    """The MAC did not match any cluster secret: wrong secret, corruption or forgery."""


class FrameTooLargeError(FrameError):
    """The declared frame length exceeds ``frame_bytes_max``."""


class MalformedFrameError(FrameError):
    """Truncated frame, bad length, or a payload that does not decode as its message type."""


class UnknownMessageTypeError(FrameError):
    """An authenticated frame with a type code this software version does not know."""


class FrameCodec:
    """Encodes messages into frames and decodes frames back, signing with the cluster secret."""

    def __init__(self, secrets: Sequence[bytes], frame_bytes_max: int = DEFAULT_FRAME_BYTES_MAX):
        if not secrets:
            raise ValueError("at least one cluster secret is required")
        for secret in secrets:
            if len(secret) < SECRET_BYTES_MIN:
                raise ValueError(f"cluster secret must be at least {SECRET_BYTES_MIN} bytes")
        self._secrets = [bytes(s) for s in secrets]
        self.frame_bytes_max = frame_bytes_max
        self._encoder = msgspec.msgpack.Encoder()
        self._decoders = {code: msgspec.msgpack.Decoder(cls) for code, cls in MESSAGE_TYPES.items()}

    def encode(self, message: msgspec.Struct) -> bytes:
        """Return the signed frame for ``message``."""
        code = TYPE_CODES.get(type(message))
        if code is None:
            raise TypeError(f"{type(message).__name__} has no type code in MESSAGE_TYPES")
        payload = self._encoder.encode(message)
        length = TYPE_BYTES + len(payload) + MAC_BYTES
        if LENGTH_BYTES + length > self.frame_bytes_max:
            raise FrameTooLargeError(f"frame of {length} bytes exceeds {self.frame_bytes_max}")
        head = _LENGTH.pack(length) + bytes((code,))
        mac = hmac.digest(self._secrets[0], head + payload, hashlib.sha256)
        return b"".join((head, payload, mac))

    def payload_bytes(self, message: msgspec.Struct) -> int:
        """Encoded size of a message or Struct without framing (used to budget piggybacks)."""
        return len(self._encoder.encode(message))

    def decode(self, frame: bytes) -> msgspec.Struct:
        """Verify and decode one complete frame; raise a ``FrameError`` subclass on any fault."""
        view = memoryview(frame)
        if len(view) < FRAME_OVERHEAD_BYTES:
            raise MalformedFrameError(f"frame of {len(view)} bytes is shorter than its header")
        if len(view) > self.frame_bytes_max:
            raise FrameTooLargeError(f"frame of {len(view)} bytes exceeds {self.frame_bytes_max}")
        (length,) = _LENGTH.unpack_from(view)
        if length != len(view) - LENGTH_BYTES:
            raise MalformedFrameError(f"length field {length} != {len(view) - LENGTH_BYTES}")
        signed, mac = view[:-MAC_BYTES], view[-MAC_BYTES:]
        if not self._mac_matches(signed, mac):
            raise FrameAuthError("frame MAC does not match the cluster secret")
        code = view[LENGTH_BYTES]
        decoder = self._decoders.get(code)
        if decoder is None:
            raise UnknownMessageTypeError(f"unknown peer message type code {code}")
        try:
            return decoder.decode(view[LENGTH_BYTES + TYPE_BYTES : -MAC_BYTES])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MalformedFrameError(f"bad {MESSAGE_TYPES[code].__name__} payload: {exc}") from None

    def _mac_matches(self, signed: memoryview, mac: memoryview) -> bool:
        # Check every secret (no early exit on a match position) so timing leaks nothing useful.
        matched = False
        for secret in self._secrets:
            expected = hmac.digest(secret, signed, hashlib.sha256)
            matched |= hmac.compare_digest(expected, mac)
        return matched


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
            if length < TYPE_BYTES + MAC_BYTES:
                raise MalformedFrameError(f"declared frame length {length} is below the minimum")
            if len(self._buffer) < total:
                return
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            yield frame

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)
