"""Login against a hostile client: throttled guessing, no user enumeration, mysql_native_password
refusable, client strings bounded in replies, the caching_sha2 fast path from the server cache."""

from __future__ import annotations

from marmotdb.mysql import auth
from marmotdb.mysql import events as ev
from marmotdb.mysql.auth import FastAuthCache
from marmotdb.mysql.connection import ProtocolSettings
from marmotdb.mysql.login_throttle import LoginThrottle
from tests.mysql.wire_client import Pair, parse_err, parse_ok

PASSWORD = "s3cret"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def users(**kwargs) -> dict[str, str]:
    return {"app": auth.make_credential(PASSWORD, iterations=1000, **kwargs)}


def attempt(throttle: LoginThrottle, password: str, *, user: str = "app") -> Pair:
    pair = Pair(users(), login_throttle=throttle)
    pair.login(user, password, plugin=auth.NATIVE)
    return pair


def test_failed_logins_are_throttled_with_a_growing_delay():
    clock = Clock()
    throttle = LoginThrottle(clock, failures_before_delay=3, delay_min_ms=1000)
    for _ in range(3):  # the first three failures answer at once
        pair = attempt(throttle, "guess")
        assert pair.server.reply_not_before is None
        assert parse_err(pair.read()).error_code == 1045
    held = attempt(throttle, "guess")  # the fourth waits 1 s, without blocking anything
    assert held.server.reply_not_before == clock.now + 1.0
    assert held.server.data_to_send() == b"" and not held.server.should_close
    assert held.server.next_event() is None
    clock.now += 1.0
    assert isinstance(held.server.next_event(), ev.ConnectionClosed)
    assert parse_err(held.read()).error_code == 1045
    right = attempt(throttle, PASSWORD)  # even the right password: 2 s, learnt only then
    assert right.server.reply_not_before == clock.now + 2.0
    assert right.server.data_to_send() == b""
    clock.now += 2.0
    assert isinstance(right.server.next_event(), ev.Authenticated)
    right.server.accept_login()
    assert parse_ok(right.read()).kind == "ok"
    assert attempt(throttle, PASSWORD).server.reply_not_before is None  # success resets


def test_throttle_is_per_account_and_source_and_bounded():
    clock = Clock()
    throttle = LoginThrottle(clock, failures_before_delay=1, entries_max=100)
    attempt(throttle, "guess")
    assert attempt(throttle, "guess").server.reply_not_before is not None
    other = Pair({"bob": auth.make_credential("x", iterations=1000)}, login_throttle=throttle)
    other.login("bob", "x", plugin=auth.NATIVE)
    assert other.server.reply_not_before is None
    for i in range(1000):  # random user names cannot grow the table
        throttle.record(f"user{i}", "10.0.0.1", False)
    assert len(throttle) == 100


def test_missing_and_existing_users_answer_alike(rsa_key):
    for plugin in (auth.CACHING_SHA2, auth.NATIVE):
        existing = Pair(users(), rsa_key=rsa_key)
        missing = Pair(users(), rsa_key=rsa_key)
        existing.login("app", "wrong", plugin=plugin)
        missing.login("nobody", "wrong", plugin=plugin)
        first_existing, first_missing = existing.read(), missing.read()
        assert first_existing[:1] == first_missing[:1]  # 0x01 0x04 (full auth) or ERR alike
        if first_existing.startswith(b"\x01\x04"):
            for pair in (existing, missing):
                pair.send(b"\x02")  # ask for the RSA key
                pem = pair.read()[1:]
                pair.send(auth.rsa_encrypt_password("wrong", pair.client.greeting.scramble, pem))
            first_existing, first_missing = existing.read(), missing.read()
        a, b = parse_err(first_existing), parse_err(first_missing)
        assert (a.error_code, a.sqlstate) == (b.error_code, b.sqlstate) == (1045, "28000")
        assert a.message.replace("'app'", "'x'") == b.message.replace("'nobody'", "'x'")


def test_native_password_can_be_refused():
    refuse = ProtocolSettings(native_password_allowed=False)
    pair = Pair(users(), settings=refuse)
    assert pair.login("app", PASSWORD, plugin=auth.NATIVE) == []
    switch = pair.read()  # switched to caching_sha2_password
    assert switch.startswith(b"\xfecaching_sha2_password\x00")
    scramble = switch[len(b"\xfecaching_sha2_password\x00"):].rstrip(b"\x00")
    events = pair.send(auth.scramble_caching_sha2(PASSWORD, scramble))
    assert isinstance(events[-1], ev.Authenticated) and events[-1].auth_plugin == auth.CACHING_SHA2
    bound = Pair(users(plugin=auth.NATIVE), settings=refuse)  # an account bound to native
    events = bound.login("app", PASSWORD, plugin=auth.NATIVE)
    assert isinstance(events[-1], ev.ConnectionClosed)
    err = parse_err(bound.read())
    assert err.error_code == 1524 and "mysql_native_password" in err.message


def test_client_strings_are_bounded_and_escaped_in_replies():
    pair = Pair(users())
    evil = "x\r\n2026-01-01 INFO root logged in\x1b[2J" + "A" * 12_000
    pair.login(evil, "pw", plugin=auth.NATIVE)
    message = parse_err(pair.read()).message
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert len(message) < 200 and "\\r\\n" in message
    db = Pair(users())  # database names: MySQL's 64-character rule, no control characters
    db.login("app", PASSWORD, plugin=auth.NATIVE, database="d" * 65)
    err = parse_err(db.read())
    assert err.error_code == 1102 and len(err.message) < 120


def test_caching_sha2_fast_path_from_the_server_cache(rsa_key):
    """A credential without the stored digest: the first login takes full auth (RSA here),
    every later one the fast path from the server's cache."""
    stored = {"app": auth.make_credential(PASSWORD, iterations=1000, fast_digest=False)}
    cache = FastAuthCache()
    first = Pair(stored, rsa_key=rsa_key, fast_auth_cache=cache)
    assert first.login("app", PASSWORD) == []
    assert first.read() == b"\x01\x04"  # perform full authentication
    first.send(b"\x02")
    pem = first.read()[1:]
    events = first.send(auth.rsa_encrypt_password(PASSWORD, first.client.greeting.scramble, pem))
    assert isinstance(events[-1], ev.Authenticated) and len(cache) == 1
    again = Pair(stored, rsa_key=rsa_key, fast_auth_cache=cache, seed=9)
    events = again.login("app", PASSWORD)
    assert isinstance(events[-1], ev.Authenticated)
    again.server.accept_login()
    assert again.read() == b"\x01\x03"  # fast auth success
    changed = {"app": auth.make_credential("new", iterations=1000, fast_digest=False)}
    stale = Pair(changed, rsa_key=rsa_key, fast_auth_cache=cache)
    assert stale.login("app", PASSWORD) == [] and stale.read() == b"\x01\x04"  # no stale hit


def test_init_db_with_a_bad_name_fails_the_command_only():
    from tests.mysql.wire_client import logged_in_pair
    pair = logged_in_pair()
    assert pair.command(b"\x02" + b"d" * 65) == []
    err = parse_err(pair.read())
    assert err.error_code == 1102 and len(err.message) < 120
    assert pair.command(b"\x02bad\nname") == []
    assert "\\n" in parse_err(pair.read()).message
    assert isinstance(pair.command(b"\x02shop")[-1], ev.InitDb)  # still usable
