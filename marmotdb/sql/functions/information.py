"""Functions about the session and the server (DATABASE, USER, CURRENT_USER, CONNECTION_ID,
VERSION, LAST_INSERT_ID, ROW_COUNT, FOUND_ROWS, CHARSET, COLLATION, COERCIBILITY), the session's
variables as the rewrites read them (USER_VAR, SYSVAR), and those that take the session's
randomness or time (RAND, UUID, UUID_SHORT, RANDOM_BYTES, SLEEP)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from marmotdb import errors
from marmotdb.sql.functions.context import Scalar, SessionScalar, to_int, to_number

_FALLBACK_RNG = random.SystemRandom()  # used only when the session passes no ``rng``


def _rng(ctx: Any) -> random.Random:
    found = getattr(ctx, "rng", None)
    return found if isinstance(found, random.Random) else _FALLBACK_RNG


def _set_session(ctx: Any, name: str, value: object) -> None:
    target = getattr(ctx, "session", None) or ctx
    try:
        setattr(target, name, value)
    except AttributeError:
        pass


def _last_insert_id(ctx: Any, *value: object) -> int:
    if value:
        number = to_int(value[0]) or 0
        _set_session(ctx, "last_insert_id", number)
        return number
    return int(getattr(ctx, "last_insert_id", 0) or 0)


def _uuid1(ctx: Any) -> str:
    rng = _rng(ctx)
    ticks = int(float(getattr(ctx, "statement_time", 0.0)) * 10_000_000) \
        + 0x01B21DD213814000 + rng.getrandbits(12)
    fields = (ticks & 0xFFFFFFFF, (ticks >> 32) & 0xFFFF, ((ticks >> 48) & 0x0FFF) | 0x1000,
              (rng.getrandbits(6) | 0x80), rng.getrandbits(8), rng.getrandbits(48) | (1 << 40))
    return str(uuid.UUID(fields=fields))


def _rand(ctx: Any, *seed: object) -> float:
    if seed and seed[0] is not None:
        return random.Random(to_int(seed[0])).random()
    return _rng(ctx).random()


def _sleep(ctx: Any, seconds: object) -> int:
    number = to_number(seconds)
    if number is None or number < 0:
        raise errors.error(errors.ER_WRONG_ARGUMENTS, "Incorrect arguments to sleep.")
    _set_session(ctx, "sleep_requested_s",
                 float(getattr(ctx, "sleep_requested_s", 0.0) or 0.0) + float(number))
    return 0


def _user_variable(ctx: Any, name: object) -> object:
    variables = getattr(ctx, "variables", None)
    if variables is not None and hasattr(variables, "user"):
        return variables.user(str(name))
    return (getattr(ctx, "user_variables", None) or {}).get(str(name).lower())


def _system_variable(ctx: Any, name: object, scope: object = None) -> object:
    variables = getattr(ctx, "variables", None)
    if variables is None:
        raise errors.error(errors.ER_UNKNOWN_SYSTEM_VARIABLE,
                           f"Unknown system variable '{name}'")
    value = variables.get(str(name), str(scope).lower() if scope else None)
    if isinstance(value, bool):
        return int(value)
    return value


def _user_at_host(ctx: Any) -> str:
    user = str(getattr(ctx, "user", "") or "")
    return user if "@" in user else f"{user}@{getattr(ctx, 'host', None) or 'localhost'}"


def _current_user(ctx: Any) -> str:
    explicit = getattr(ctx, "current_user", None)
    if isinstance(explicit, str):
        return explicit
    user = str(getattr(ctx, "user", "") or "")
    return user if "@" in user else f"{user}@%"


def _charset(value: object) -> str:
    return "binary" if value is None or isinstance(value, (bytes, int, float)) else "utf8mb4"


def _collation(value: object) -> str:
    return "binary" if _charset(value) == "binary" else "utf8mb4_0900_ai_ci"


INFORMATION_SCALARS: list[SessionScalar] = [
    ("DATABASE", lambda ctx: getattr(ctx, "database", None), 0),
    ("SCHEMA", lambda ctx: getattr(ctx, "database", None), 0),
    ("USER", _user_at_host, 0),
    ("SESSION_USER", _user_at_host, 0),
    ("SYSTEM_USER", _user_at_host, 0),
    ("CURRENT_USER", _current_user, 0),
    ("CONNECTION_ID", lambda ctx: int(getattr(ctx, "connection_id", 0) or 0), 0),
    ("VERSION", lambda ctx: str(getattr(ctx, "version", "") or "8.0.36-marmotdb"), 0),
    ("LAST_INSERT_ID", _last_insert_id, -1),
    ("ROW_COUNT", lambda ctx: int(getattr(ctx, "row_count", -1)), 0),
    ("FOUND_ROWS", lambda ctx: int(getattr(ctx, "found_rows", 0) or 0), 0),
    ("UUID", _uuid1, 0),
    ("UUID_SHORT", lambda ctx: _rng(ctx).getrandbits(63), 0),
    ("RAND", _rand, -1),
    ("RANDOM_BYTES", lambda ctx, n: bytes(
        _rng(ctx).getrandbits(8) for _ in range(max(1, min(to_int(n) or 1, 1024)))), 1),
    ("SLEEP", _sleep, 1),
    ("USER_VAR", _user_variable, 1),
    ("SYSVAR", _system_variable, -1),
]

CONSTANT_SCALARS: list[Scalar] = [
    ("CHARSET", _charset, 1, True), ("COLLATION", _collation, 1, True),
    ("COERCIBILITY", lambda v: 4 if isinstance(v, str) else 5, 1, True),
]
