"""The connection phase: greeting, TLS, every auth path, accept/reject."""

from __future__ import annotations

import ssl
import struct

import pytest

from marmotdb.errors import AuthError, MarmotError
from marmotdb.mysql import auth
from marmotdb.mysql import events as ev
from marmotdb.mysql.connection import ConnectionState, LocalProtocolError, ProtocolSettings
from marmotdb.mysql.types import Column, FieldType, ResultSet
from tests.mysql.wire_client import (
    BASE_CAPS,
    CLIENT_DEPRECATE_EOF,
    CLIENT_SSL,
    Pair,
    parse_err,
    parse_ok,
    scramble_for,
)

PASSWORD = "s3cret-pässword"


def users(plugin: str = auth.ANY_PLUGIN, password: str = PASSWORD) -> dict[str, str]:
    return {"app": auth.make_credential(password, plugin, iterations=1000)}


def test_greeting_announces_version_scramble_and_capabilities():
    pair = Pair(users())
    greeting = pair.greet()
    assert greeting.server_version == "8.0.36-marmotdb-0.1.0"
    assert greeting.connection_id == 42
    assert len(greeting.scramble) == 20 and b"\x00" not in greeting.scramble
    assert greeting.plugin == "caching_sha2_password"
    assert greeting.capabilities & CLIENT_DEPRECATE_EOF
    assert not greeting.capabilities & CLIENT_SSL  # no TLS context: not offered
    assert greeting.capabilities & (1 << 7)  # LOCAL_FILES: LOAD DATA LOCAL (the client opts in)
    assert greeting.status == 2


def test_scramble_comes_from_the_given_random_source():
    assert Pair(seed=5).greet().scramble == Pair(seed=5).greet().scramble
    assert Pair(seed=5).greet().scramble != Pair(seed=6).greet().scramble


@pytest.mark.parametrize("plugin", [auth.NATIVE, auth.CACHING_SHA2])
def test_login_with_each_plugin(plugin):
    pair = Pair(users())
    events = pair.login("app", PASSWORD, plugin=plugin, database="shop",
                        attrs={"_client_name": "t", "program": "x"})
    assert len(events) == 1
    login = events[0]
    assert isinstance(login, ev.Authenticated)
    assert (login.user, login.database, login.auth_plugin) == ("app", "shop", plugin)
    assert login.attrs == {"_client_name": "t", "program": "x"}
    assert login.tls is False and login.change_user is False
    assert pair.server.state is ConnectionState.LOGIN_PENDING
    assert pair.server.next_event() is None  # an answer is owed
    pair.server.accept_login(status_flags=2)
    if plugin == auth.CACHING_SHA2:
        assert pair.read() == b"\x01\x03"
    ok = parse_ok(pair.read())
    assert ok.kind == "ok" and ok.status == 2
    assert pair.server.state is ConnectionState.COMMAND
    assert pair.server.user == "app" and pair.server.database == "shop"


@pytest.mark.parametrize("plugin", [auth.NATIVE, auth.CACHING_SHA2])
def test_wrong_password_is_denied_and_closes(plugin):
    pair = Pair(users(), settings=ProtocolSettings(caching_sha2_fast_path=True))
    events = pair.login("app", "wrong", plugin=plugin)
    if plugin == auth.CACHING_SHA2:
        # a fast-path mismatch asks for full auth, which needs TLS or RSA: none here
        assert events == [] and pair.read() == b"\x01\x04"
        events = pair.send(b"wrong\x00")
    assert isinstance(events[-1], ev.ConnectionClosed)
    err = parse_err(pair.read())
    assert err.error_code == 1045 and err.sqlstate == "28000"
    assert "Access denied for user 'app'@'127.0.0.1' (using password: YES)" == err.message
    assert pair.server.should_close


def test_unknown_user_is_denied():
    pair = Pair(users())
    events = pair.login("nobody", PASSWORD, plugin=auth.NATIVE)
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(pair.read()).error_code == 1045


def test_empty_password():
    pair = Pair({"anon": auth.make_credential("")})
    events = pair.login("anon", "", plugin=auth.CACHING_SHA2)
    assert isinstance(events[-1], ev.Authenticated)
    pair.server.accept_login()
    assert parse_ok(pair.read()).kind == "ok"
    denied = Pair({"anon": auth.make_credential("")})
    events = denied.login("anon", "something", plugin=auth.NATIVE)
    assert isinstance(events[-1], ev.ConnectionClosed)
    missing = Pair(users())
    events = missing.login("app", "", plugin=auth.NATIVE)
    assert "(using password: NO)" in parse_err(missing.read()).message


def test_auth_switch_when_client_uses_another_plugin_than_the_users():
    pair = Pair(users(plugin=auth.NATIVE))
    events = pair.login("app", PASSWORD, plugin=auth.CACHING_SHA2)
    assert events == []
    switch = pair.read()
    assert switch[0] == 0xFE
    name_end = switch.index(b"\x00", 1)
    assert switch[1:name_end] == b"mysql_native_password"
    scramble = switch[name_end + 1:].rstrip(b"\x00")
    assert scramble == pair.client.greeting.scramble
    events = pair.send(auth.scramble_native(PASSWORD, scramble))
    assert isinstance(events[-1], ev.Authenticated) and events[-1].auth_plugin == auth.NATIVE
    pair.server.accept_login()
    assert parse_ok(pair.read()).kind == "ok"


def test_unknown_client_plugin_is_switched_to_the_default():
    pair = Pair(users())
    pair.login("app", PASSWORD, plugin="sha256_password", answer=b"\x01")
    switch = pair.read()
    assert switch.startswith(b"\xfecaching_sha2_password\x00")
    events = pair.send(auth.scramble_caching_sha2(PASSWORD, pair.client.greeting.scramble))
    assert isinstance(events[-1], ev.Authenticated)


def test_caching_sha2_full_auth_over_tls(tls_contexts):
    server_ctx, client_ctx = tls_contexts
    pair = Pair(users(), ssl_server=server_ctx, ssl_client=client_ctx,
                settings=ProtocolSettings(caching_sha2_fast_path=False))
    assert pair.greet().capabilities & CLIENT_SSL
    pair = Pair(users(), ssl_server=server_ctx, ssl_client=client_ctx,
                settings=ProtocolSettings(caching_sha2_fast_path=False))
    events = pair.login("app", PASSWORD, tls=True)
    assert events == [] and pair.server.tls_active
    assert pair.read() == b"\x01\x04"  # perform full authentication
    events = pair.send(PASSWORD.encode() + b"\x00")
    assert isinstance(events[-1], ev.Authenticated) and events[-1].tls
    pair.server.accept_login()
    assert parse_ok(pair.read()).kind == "ok"


@pytest.mark.parametrize("glued", [True, False])
def test_tls_client_hello_glued_to_ssl_request_is_not_lost(tls_contexts, glued):
    server_ctx, client_ctx = tls_contexts
    pair = Pair(users(), ssl_server=server_ctx, ssl_client=client_ctx)
    events = pair.login("app", PASSWORD, tls=True, glue_client_hello=glued)
    assert isinstance(events[-1], ev.Authenticated)
    pair.server.accept_login()
    assert pair.read() == b"\x01\x03"
    assert parse_ok(pair.read()).kind == "ok"
    # and commands flow through TLS
    pair.command(b"\x03SELECT 1")
    assert pair.events[-1] == ev.Query("SELECT 1")


def test_caching_sha2_full_auth_with_rsa_key_exchange(rsa_key):
    pair = Pair(users(), rsa_key=rsa_key, settings=ProtocolSettings(caching_sha2_fast_path=False))
    assert pair.login("app", PASSWORD) == []
    assert pair.read() == b"\x01\x04"
    assert pair.send(b"\x02") == []  # request the public key
    key_packet = pair.read()
    assert key_packet[:1] == b"\x01" and b"BEGIN PUBLIC KEY" in key_packet
    secret = auth.rsa_encrypt_password(PASSWORD, pair.client.greeting.scramble, key_packet[1:])
    events = pair.send(secret)
    assert isinstance(events[-1], ev.Authenticated)


def test_sha256_password_over_tls(tls_contexts):
    """An account bound to sha256_password: a caching_sha2 client is switched to it and sends
    the password itself over TLS (as PyMySQL does)."""
    server_ctx, client_ctx = tls_contexts
    pair = Pair(users(auth.SHA256), ssl_server=server_ctx, ssl_client=client_ctx)
    assert pair.login("app", PASSWORD, tls=True) == []
    switch = pair.read()
    assert switch.startswith(b"\xfesha256_password\x00")
    events = pair.send(PASSWORD.encode() + b"\x00")
    assert isinstance(events[-1], ev.Authenticated) and events[-1].auth_plugin == auth.SHA256
    wrong = Pair(users(auth.SHA256), ssl_server=server_ctx, ssl_client=client_ctx)
    events = wrong.login("app", "nope", plugin=auth.SHA256, tls=True, answer=b"nope\x00")
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(wrong.read()).error_code == 1045


def test_sha256_password_with_rsa_key_exchange(rsa_key):
    pair = Pair(users(auth.SHA256), rsa_key=rsa_key)
    assert pair.login("app", PASSWORD, plugin=auth.SHA256, answer=b"\x01") == []
    key_packet = pair.read()
    assert key_packet[:1] == b"\x01" and b"BEGIN PUBLIC KEY" in key_packet
    secret = auth.rsa_encrypt_password(PASSWORD, pair.client.greeting.scramble, key_packet[1:])
    events = pair.send(secret)
    assert isinstance(events[-1], ev.Authenticated)
    empty = Pair({"app": auth.make_credential("", auth.SHA256)})
    events = empty.login("app", "", plugin=auth.SHA256, answer=b"\x00")
    assert isinstance(events[-1], ev.Authenticated)
    no_key = Pair(users(auth.SHA256))
    events = no_key.login("app", PASSWORD, plugin=auth.SHA256, answer=b"\x01")
    assert isinstance(events[-1], ev.ConnectionClosed)


def test_rsa_full_auth_with_wrong_password_is_denied(rsa_key):
    pair = Pair(users(), rsa_key=rsa_key)
    pair.login("app", "nope")
    assert pair.read() == b"\x01\x04"
    pair.send(b"\x02")
    key_pem = pair.read()[1:]
    events = pair.send(auth.rsa_encrypt_password("nope", pair.client.greeting.scramble, key_pem))
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(pair.read()).error_code == 1045


def test_full_auth_without_tls_or_rsa_key_is_denied():
    pair = Pair(users(), settings=ProtocolSettings(caching_sha2_fast_path=False))
    pair.login("app", PASSWORD)
    assert pair.read() == b"\x01\x04"
    events = pair.send(b"\x02")
    assert isinstance(events[-1], ev.ConnectionClosed)


def test_require_secure_transport():
    pair = Pair(users(), settings=ProtocolSettings(require_secure_transport=True))
    events = pair.login("app", PASSWORD)
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(pair.read()).error_code == 3159


def test_reject_login_after_authentication():
    pair = Pair(users())
    pair.login("app", PASSWORD, database="secret_db")
    pair.server.reject_login(AuthError("Access denied for user 'app'@'%' to database "
                                       "'secret_db'", code=1044, sqlstate="42000"))
    assert pair.read() == b"\x01\x03"
    err = parse_err(pair.read())
    assert (err.error_code, err.sqlstate) == (1044, "42000")
    assert pair.server.should_close and pair.server.state is ConnectionState.CLOSED


def test_reject_before_greeting_replaces_it():
    pair = Pair(users())
    pair.server.reject_login(MarmotError("Too many connections", code=1040))
    payload = pair.read()
    assert parse_err(payload).error_code == 1040
    assert pair.server.should_close


def test_answers_out_of_turn_are_caller_bugs():
    pair = Pair(users())
    with pytest.raises(LocalProtocolError):
        pair.server.accept_login()
    with pytest.raises(LocalProtocolError):
        pair.server.send_ok()


def test_client_without_deprecate_eof_and_with_tls_mismatch():
    # a client claiming TLS in its response without an SSLRequest just logs in in clear
    pair = Pair(users(), client_caps=BASE_CAPS | CLIENT_SSL)
    greeting = pair.greet()
    body = struct.pack("<IIB", BASE_CAPS, 1 << 24, 255) + bytes(23) + b"app\x00"
    answer = scramble_for(auth.NATIVE, PASSWORD, greeting.scramble)
    body += bytes([len(answer)]) + answer + b"mysql_native_password\x00"
    events = pair.send(body)
    assert isinstance(events[-1], ev.Authenticated) and not events[-1].tls


def test_ssl_request_without_tls_configured_is_a_bad_handshake():
    pair = Pair(users())
    pair.greet()
    events = pair.send(struct.pack("<IIB", BASE_CAPS | CLIENT_SSL, 1 << 24, 255) + bytes(23))
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(pair.read()).error_code == 1043
    assert pair.server.state is ConnectionState.ERROR


def _tls_records(data: bytes) -> list[int]:
    """The content types of the TLS records in ``data``."""
    types, pos = [], 0
    while pos + 5 <= len(data):
        types.append(data[pos])
        pos += 5 + struct.unpack_from(">H", data, pos + 3)[0]
    assert pos == len(data)
    return types


def test_a_result_set_over_tls_goes_out_as_one_record(tls_contexts):
    server_ctx, client_ctx = tls_contexts
    pair = Pair(users(), ssl_server=server_ctx, ssl_client=client_ctx)
    pair.login("app", PASSWORD, tls=True)
    pair.server.accept_login()
    pair.read()  # fast auth success, OK
    pair.command(b"\x03SELECT 1, 'a'")
    columns = [Column("1", FieldType.LONGLONG), Column("a", FieldType.VAR_STRING)]
    pair.server.send_result_set(ResultSet(columns, [(1, "a")]))
    assert _tls_records(pair.server.data_to_send()) == [0x17]  # one application-data record


def test_tls_close_notify_and_eof_end_the_connection(tls_contexts):
    server_ctx, client_ctx = tls_contexts
    for ending in ("close_notify", "eof"):
        pair = Pair(users(), ssl_server=server_ctx, ssl_client=client_ctx)
        pair.login("app", PASSWORD, tls=True)
        pair.server.accept_login()
        pair.read()
        if ending == "close_notify":
            with pytest.raises(ssl.SSLWantReadError):  # sent; the server's answer is not read
                pair.client._tls.unwrap()
            events = pair.to_server(pair.client._tls_out.read())
        else:
            events = pair.to_server(b"")
        assert isinstance(events[-1], ev.ConnectionClosed), ending
        assert pair.server.should_close
