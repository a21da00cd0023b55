"""Frame codec: round trips, HMAC rejection, versions and kinds, stream splitting, fuzzing."""

from __future__ import annotations

import hashlib
import hmac
import struct

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marmotdb.peer.codec import (
    CORRELATED_OVERHEAD_BYTES,
    FRAME_OVERHEAD_BYTES,
    FrameAuthError,
    FrameCodec,
    FrameDecoder,
    FrameError,
    FrameKind,
    FrameTooLargeError,
    MalformedFrameError,
    PeerFrame,
    UnknownMessageTypeError,
    UnsupportedVersionError,
    peek_tag,
)
from marmotdb.cluster.messages import (
    MESSAGE_TYPES,
    Ack,
    Gossip,
    MemberState,
    MemberUpdate,
    Nack,
    NodeAddr,
    NodeMeta,
    Ping,
    PingReq,
    PushPullRequest,
    PushPullResponse,
    is_membership_message,
)
from marmotdb.errors import ProtocolError
from marmotdb.peer.registry import PEER_MESSAGES

SECRET = b"cluster-secret-for-codec-tests"
A, B = NodeAddr("10.0.0.1", 7946), NodeAddr("::1", 7947)
META = NodeMeta(A, mysql_addr=NodeAddr("10.0.0.1", 3306), admin_addr=NodeAddr("10.0.0.1", 8080),
                software_version="0.1.0")
UPDATE = MemberUpdate(1, MemberState.SUSPECT, 4, 1, 2, META)



def forge(tag: int, payload: bytes, kind: int = 1, version: int = 1,
          correlation: bytes = b"") -> bytes:
    """An authentic frame built by hand (the codec would refuse to build a bad one)."""
    head = struct.pack(">IBBH", 4 + len(correlation) + len(payload) + 32, version, kind, tag)
    signed = head + correlation + payload
    return signed + hmac.digest(SECRET, signed, hashlib.sha256)


SAMPLES = [
    Ping(1, 1, A, 2, [UPDATE]),
    Ack(2, 2),
    PingReq(3, 1, A, 3, B, [UPDATE, UPDATE]),
    Nack(4, 3),
    Gossip(1, [UPDATE]),
    PushPullRequest(1, A, True, [UPDATE]),
    PushPullResponse(2, refused=True, reason="removed", members=[UPDATE]),
]


def test_the_type_code_table_is_append_only() -> None:
    # Changing an existing code breaks mixed-version clusters: extend this list, never edit it.
    assert {code: cls.__name__ for code, cls in MESSAGE_TYPES.items()} == {
        1: "Ping", 2: "Ack", 3: "PingReq", 4: "Nack", 5: "Gossip", 6: "PushPullRequest",
        7: "PushPullResponse",
    }
    assert {s.name: s.value for s in MemberState} == {
        "ALIVE": 1, "SUSPECT": 2, "DEAD": 3, "JOINING": 4, "LEAVING": 5, "REMOVED": 6}


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: msgspec.Struct) -> None:
    codec = FrameCodec([SECRET])
    frame = codec.encode(message)
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4
    assert peek_tag(frame) == {cls: code for code, cls in MESSAGE_TYPES.items()}[type(message)]
    assert codec.decode(frame) == message
    assert is_membership_message(message)


def test_wrong_secret_is_rejected_with_a_clear_error() -> None:
    frame = FrameCodec([b"some-other-cluster-secret"]).encode(SAMPLES[0])
    with pytest.raises(FrameAuthError, match="MAC does not match") as info:
        FrameCodec([SECRET]).decode(frame)
    assert isinstance(info.value, ProtocolError)


def test_any_flipped_bit_is_rejected() -> None:
    codec = FrameCodec([SECRET])
    frame = codec.encode(SAMPLES[2])
    for i in range(4, len(frame)):
        tampered = bytearray(frame)
        tampered[i] ^= 0x01
        with pytest.raises(FrameAuthError):
            codec.decode(bytes(tampered))


def test_secret_rotation_accepts_old_and_new_secret() -> None:
    old, new = b"old-secret-0123456789", b"new-secret-0123456789"
    rotating = FrameCodec([new, old])
    assert rotating.decode(FrameCodec([old]).encode(SAMPLES[1])) == SAMPLES[1]
    assert FrameCodec([new]).decode(rotating.encode(SAMPLES[1])) == SAMPLES[1]


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError):
        FrameCodec([b"short"])
    with pytest.raises(ValueError):
        FrameCodec([])


def test_truncated_oversize_and_unknown_type_frames() -> None:
    codec = FrameCodec([SECRET], frame_bytes_max=512)
    frame = codec.encode(SAMPLES[1])
    with pytest.raises(MalformedFrameError):
        codec.decode(frame[:-1])
    with pytest.raises(MalformedFrameError):
        codec.decode(frame[:10])
    with pytest.raises(FrameTooLargeError):
        codec.decode(frame + b"x" * 600)
    with pytest.raises(FrameTooLargeError):
        codec.encode(Gossip(1, [UPDATE] * 20))
    with pytest.raises(UnknownMessageTypeError):
        codec.decode(forge(200, b"\x93\x01\x02"))


def test_authentic_frame_with_a_bad_payload_is_malformed() -> None:
    payload = msgspec.msgpack.encode(["not", "a", "ping"])
    with pytest.raises(MalformedFrameError, match="Ping"):
        FrameCodec([SECRET]).decode(forge(1, payload))


def test_stream_decoder_splits_frames_across_any_chunking() -> None:
    codec = FrameCodec([SECRET])
    stream = b"".join(codec.encode(m) for m in SAMPLES)
    decoder = FrameDecoder()
    frames = [f for i in range(len(stream)) for f in decoder.feed(stream[i:i + 1])]
    assert [codec.decode(f) for f in frames] == SAMPLES
    assert decoder.buffered_bytes == 0


def test_stream_decoder_refuses_a_declared_oversize_frame_before_buffering_it() -> None:
    decoder = FrameDecoder(frame_bytes_max=1024)
    with pytest.raises(FrameTooLargeError):
        list(decoder.feed(struct.pack(">I", 10_000_000) + b"x"))
    with pytest.raises(MalformedFrameError):
        list(FrameDecoder().feed(struct.pack(">I", 3) + b"abc"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_raise_only_frame_errors(data: bytes) -> None:
    codec = FrameCodec([SECRET])
    with pytest.raises(FrameError):
        codec.decode(data)
    try:
        for frame in FrameDecoder(frame_bytes_max=4096).feed(data):
            with pytest.raises(FrameError):
                codec.decode(frame)
    except FrameError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=255), st.binary(max_size=200))
def test_fuzz_authentic_frames_with_random_payloads_raise_only_frame_errors(
        code: int, payload: bytes) -> None:
    try:
        message = FrameCodec([SECRET]).decode(forge(code, payload))
    except FrameError:
        return
    entry = PEER_MESSAGES.by_tag(code)
    assert entry is not None and type(message) is entry.cls


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SAMPLES), st.integers(min_value=0, max_value=2000), st.integers(0, 7))
def test_fuzz_mutated_valid_frames_are_rejected(message: msgspec.Struct, position: int,
                                                 bit: int) -> None:
    codec = FrameCodec([SECRET])
    frame = bytearray(codec.encode(message))
    frame[position % len(frame)] ^= 1 << bit
    with pytest.raises(FrameError):
        codec.decode(bytes(frame))


def test_overhead_constant_matches_the_layout() -> None:
    codec = FrameCodec([SECRET])
    message = Ack(1, 1)
    assert len(codec.encode(message)) == codec.payload_bytes(message) + FRAME_OVERHEAD_BYTES


def test_requests_and_responses_carry_their_correlation_id() -> None:
    codec = FrameCodec([SECRET])
    request = codec.encode(SAMPLES[1], FrameKind.REQUEST, 2**64 - 1)
    assert len(request) == codec.payload_bytes(SAMPLES[1]) + CORRELATED_OVERHEAD_BYTES
    assert codec.decode_frame(request) == PeerFrame(FrameKind.REQUEST, 2, 2**64 - 1, SAMPLES[1])
    response = codec.encode(SAMPLES[0], FrameKind.RESPONSE, 7)
    assert codec.decode_frame(response) == PeerFrame(FrameKind.RESPONSE, 1, 7, SAMPLES[0])
    assert codec.decode_frame(codec.encode(SAMPLES[1])).correlation_id == 0
    for bad in (0, 2**64):
        with pytest.raises(ValueError):
            codec.encode(SAMPLES[1], FrameKind.REQUEST, bad)


def test_unknown_version_and_kind_are_refused_after_the_mac() -> None:
    codec = FrameCodec([SECRET])
    payload = msgspec.msgpack.encode(SAMPLES[1])
    assert codec.decode(forge(2, payload)) == SAMPLES[1]
    with pytest.raises(UnsupportedVersionError, match="version 2"):
        codec.decode(forge(2, payload, version=2))
    with pytest.raises(MalformedFrameError, match="kind 9"):
        codec.decode(forge(2, payload, kind=9))
    with pytest.raises(MalformedFrameError):  # a REQUEST too short for its correlation id
        codec.decode(forge(2, b"", kind=FrameKind.REQUEST))


def test_unregistered_structs_cannot_be_encoded() -> None:
    class Stray(msgspec.Struct):
        x: int

    with pytest.raises(TypeError, match="not a registered peer message"):
        FrameCodec([SECRET]).encode(Stray(1))


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_frames_of_the_pre_registry_format_are_refused_not_misread(
        message: msgspec.Struct) -> None:
    # u32 length | u8 type | msgpack payload | mac: authentic, but never a valid header here.
    payload = msgspec.msgpack.encode(message)
    code = {cls: code for code, cls in MESSAGE_TYPES.items()}[type(message)]
    head = struct.pack(">I", 1 + len(payload) + 32) + bytes((code,))
    old = head + payload + hmac.digest(SECRET, head + payload, hashlib.sha256)
    with pytest.raises((UnsupportedVersionError, MalformedFrameError)):
        FrameCodec([SECRET]).decode(old)
