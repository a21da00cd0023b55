"""Hypothesis-generated packets at every phase (handshake, auth switch, full auth, command,
prepared execute, long data), against the protocol machine with the hostile-client limits and
against a real server process: the server survives, and each connection answers or closes.

The default run is sized for CI; ``@pytest.mark.slow`` variants run many more examples."""

from __future__ import annotations

import random
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marmotdb.mysql import auth
from marmotdb.mysql.connection import ProtocolSettings, ServerConnection
from marmotdb.mysql.login_throttle import LoginThrottle
from tests.mysql.test_fuzz import CUTS, chunked, feed, mutate, still_serving_or_closed
from tests.mysql.wire_client import (
    BASE_CAPS,
    Pair,
    execute_payload,
    frame,
    lenenc_str,
    logged_in_pair,
    parse_greeting,
)

LIMITS = ProtocolSettings(max_allowed_packet_bytes=32 << 10, preauth_packet_bytes_max=2 << 10,
                          input_buffer_bytes_max=8 << 10, long_data_bytes_max=16 << 10,
                          max_prepared_stmt_count=4, native_password_allowed=False)
QUICK = settings(max_examples=120, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])
LONG = settings(QUICK, max_examples=3000)
PACKET = st.binary(max_size=3000)


def throttled_pair(**kwargs) -> Pair:
    clock = iter(range(10**9)).__next__  # every reading advances: held logins get released
    throttle = LoginThrottle(lambda: float(clock()), failures_before_delay=1, delay_min_ms=1)
    return Pair({"app": auth.make_credential("pw", iterations=1000),
                 "old": auth.make_credential("pw", auth.NATIVE, iterations=1000)},
                settings=LIMITS, login_throttle=throttle, **kwargs)


# --- the protocol machine -----------------------------------------------------------------


def machine_handshake(data) -> None:
    pair = throttled_pair()
    pair.greet()
    stream = b"".join(frame(mutate(data.draw(PACKET), data.draw), data.draw(st.integers(0, 3)))
                      for _ in range(data.draw(st.integers(1, 3))))
    feed(pair.server, chunked(stream, data.draw(CUTS)))
    still_serving_or_closed(pair.server)


def machine_auth_switch(data, rsa_key) -> None:
    pair = throttled_pair(rsa_key=rsa_key)
    user = data.draw(st.sampled_from(["app", "old", "nobody"]))
    pair.login(user, "pw", plugin=data.draw(st.sampled_from([auth.NATIVE, "sha256_password"])))
    pair.server.data_to_send()
    body = mutate(data.draw(st.sampled_from([b"\x02", b"x" * 32, b""])) + data.draw(PACKET),
                  data.draw)
    feed(pair.server, chunked(frame(body, data.draw(st.integers(0, 5))), data.draw(CUTS)))
    still_serving_or_closed(pair.server)


def machine_commands(data) -> None:
    pair = logged_in_pair("pw", settings=LIMITS)
    stmt_id = pair.command(b"\x16SELECT ?, ?")[-1].stmt_id
    pair.server.send_prepare_ok(stmt_id, [], 2)
    pair.server.data_to_send()
    corpus = [execute_payload(stmt_id, [1, "two"]), execute_payload(stmt_id, [None, b"x"], False),
              b"\x18" + struct.pack("<IH", stmt_id, 1) + b"L" * 9000, b"\x1b\x00\x00",
              b"\x03SELECT 1; SELECT 2", b"\x02" + b"d" * 70, b"\x11app\x00\x00",
              b"\x1a" + struct.pack("<I", stmt_id), b"\x19" + struct.pack("<I", stmt_id)]
    stream = b""
    for _ in range(data.draw(st.integers(1, 6))):
        body = mutate(data.draw(st.sampled_from(corpus)) + data.draw(st.binary(max_size=64)),
                      data.draw)
        stream += frame(body, data.draw(st.sampled_from([0, 0, 0, 1])))
    feed(pair.server, chunked(stream, data.draw(CUTS)))
    still_serving_or_closed(pair.server)
    assert pair.server._statements.long_data_bytes <= LIMITS.long_data_bytes_max


@QUICK
@given(st.data())
def test_machine_fuzz_handshake(data):
    machine_handshake(data)


@QUICK
@given(st.data())
def test_machine_fuzz_auth_switch_and_full_auth(rsa_key, data):
    machine_auth_switch(data, rsa_key)


@QUICK
@given(st.data())
def test_machine_fuzz_commands_execute_long_data(data):
    machine_commands(data)


@pytest.mark.slow
@LONG
@given(st.data())
def test_machine_fuzz_every_phase_long(rsa_key, data):
    machine_handshake(data)
    machine_auth_switch(data, rsa_key)
    machine_commands(data)


# --- a real server --------------------------------------------------------------------------


class Wire:
    """A raw socket speaking just enough of the client side."""

    def __init__(self, marmot) -> None:
        self.sock = socket.create_connection((marmot.host, marmot.port), timeout=10)
        self.marmot = marmot
        self.greeting = parse_greeting(self.packet())

    def packet(self) -> bytes:
        head = self._exactly(4)
        return self._exactly(int.from_bytes(head[:3], "little"))

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def send(self, payload: bytes, seq: int) -> None:
        self.sock.sendall(frame(payload, seq))

    def login_body(self, plugin: str = auth.CACHING_SHA2) -> bytes:
        password = self.marmot.password
        answer = (auth.scramble_native(password, self.greeting.scramble) if plugin == auth.NATIVE
                  else auth.scramble_caching_sha2(password, self.greeting.scramble))
        caps = BASE_CAPS & ~(1 << 16)  # no CLIENT_MULTI_STATEMENTS
        return (struct.pack("<IIB", caps, 1 << 24, 255) + bytes(23)
                + self.marmot.user.encode() + b"\x00" + lenenc_str(answer)
                + plugin.encode() + b"\x00")

    def login(self) -> None:
        self.send(self.login_body(), 1)
        while (answer := self.packet())[0] == 0x01:  # 0x01 0x03 fast auth success
            pass
        assert answer[0] == 0x00, answer

    def answered_or_closed(self) -> None:
        """Some bytes (an answer) or the end of the connection; never silence."""
        try:
            self.sock.settimeout(10)
            self.sock.recv(65536)
        except ConnectionResetError:
            pass
        finally:
            self.sock.close()


def server_alive(marmot) -> None:
    wire = Wire(marmot)
    wire.login()
    wire.send(b"\x0e", 0)
    assert wire.packet()[0] == 0x00
    wire.sock.close()


SERVER = settings(max_examples=25, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow,
                                         HealthCheck.function_scoped_fixture])


def server_phase(marmot, data) -> None:
    phase = data.draw(st.sampled_from(["handshake", "switch", "command", "execute", "long"]))
    wire = Wire(marmot)
    garbage = data.draw(st.binary(max_size=400))
    if phase == "handshake":
        body = mutate(wire.login_body() + garbage, data.draw)
        if len(body) == 32:  # an SSLRequest would wait for a TLS ClientHello
            body += b"\x00"
        wire.send(body, 1)
    elif phase == "switch":
        wire.send(wire.login_body(auth.NATIVE).replace(b"mysql_native", b"sha256_xative"), 1)
        wire.packet()  # AuthSwitchRequest
        wire.send(mutate(garbage + b"\x00" * 32, data.draw), 3)
    else:
        wire.login()
        if phase != "command":
            wire.send(b"\x16SELECT ?, ?", 0)
            assert wire.packet()[0] == 0x00  # PREPARE_OK (statement 1); the rest is left unread
        body = {"command": garbage,
                "execute": execute_payload(1, [1, "x"]) + garbage,
                "long": b"\x18" + struct.pack("<IH", 1, 0) + garbage}[phase]
        wire.send(mutate(body, data.draw), 0)
        wire.send(b"\x0e", 0)  # a ping after a command that has no answer
    wire.answered_or_closed()


@pytest.mark.integration
@SERVER
@given(st.data())
def test_real_server_survives_fuzzed_packets_at_every_phase(marmot, data):
    server_phase(marmot, data)
    assert marmot.alive()


@pytest.mark.integration
def test_real_server_still_serves_after_fuzzing(marmot):
    server_alive(marmot)


@pytest.mark.slow
@pytest.mark.integration
@settings(SERVER, max_examples=600)
@given(st.data())
def test_real_server_fuzz_long(marmot, data):
    server_phase(marmot, data)
    assert marmot.alive()
