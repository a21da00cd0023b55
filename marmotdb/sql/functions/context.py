"""What every family of MySQL functions shares: the session a function reads, and its arguments.

``FunctionContext`` lists the attributes a function may read from the session it is bound to
(registry.py binds it); ``sql_mode_of``, ``warn``, ``zone`` and ``session_now`` read them with
MySQL's defaults. ``to_number`` / ``to_int`` read an argument as MySQL does (a string by its
numeric prefix) and ``nulls`` wraps a function so that any NULL argument gives NULL.
"""

from __future__ import annotations

import datetime as _dt
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marmotdb import errors
from marmotdb.sql.types import coltypes
from marmotdb.sql.written_row import WrittenRow
from marmotdb.sql.types.coltypes import parse_number_prefix

WARNINGS_MAX = 64  # MySQL's max_error_count default
DEFAULT_SQL_MODE = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")


@dataclass(slots=True)
class FunctionContext:
    """The attributes MySQL functions read from a session (a reference implementation; the
    executor may pass any object that has them).

    ``statement_time``: epoch seconds of the current statement (NOW()); ``time_zone``: the
    session time_zone ('SYSTEM', '+01:00' or a tz database name); ``variables``: optional
    SessionVariables for sql_mode / @x / @@x; ``warnings``: (level, code, message) list;
    ``rng``: randomness for RAND()/UUID(); ``sleep_requested_s``: SLEEP(n) adds n here so the
    runtime can delay the reply (the core never sleeps); ``written_row``: the values MYSQL_STORE
    last stored (sql/written_row.py)."""

    statement_time: float = 0.0
    time_zone: str = "SYSTEM"
    last_insert_id: int = 0
    row_count: int = -1
    found_rows: int = 0
    database: str | None = None
    user: str = "root"
    connection_id: int = 0
    version: str = "8.0.36-marmotdb"
    sql_mode: str = DEFAULT_SQL_MODE
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    warnings: list[tuple[str, int, str]] = field(default_factory=list)
    user_variables: dict[str, object] = field(default_factory=dict)
    sleep_requested_s: float = 0.0
    written_row: WrittenRow = field(default_factory=WrittenRow)


# ---------------------------------------------------------------- session access

def sql_mode_of(ctx: Any) -> str:
    variables = getattr(ctx, "variables", None)
    if variables is not None:
        try:
            return str(variables.get("sql_mode"))
        except errors.MarmotError:
            pass
    return str(getattr(ctx, "sql_mode", DEFAULT_SQL_MODE))


def warn(ctx: Any, level: str, code: int, message: str) -> None:
    found = getattr(ctx, "warnings", None)
    if isinstance(found, list) and len(found) < WARNINGS_MAX:
        found.append((level, code, message))


_TZ_CACHE: dict[str, _dt.tzinfo] = {}
_OFFSET_RE = re.compile(r"^([+-])(\d{1,2}):(\d{2})$")


def zone(name: str) -> _dt.tzinfo:
    """A tzinfo for a MySQL time zone name ('SYSTEM', '+05:30', 'UTC', 'Europe/Paris')."""
    found = _TZ_CACHE.get(name)
    if found is not None:
        return found
    offset = _OFFSET_RE.match(name.strip())
    if offset:
        minutes = int(offset.group(2)) * 60 + int(offset.group(3))
        tz: _dt.tzinfo = _dt.timezone(_dt.timedelta(minutes=-minutes if offset.group(1) == "-"
                                                    else minutes))
    elif name.upper() == "SYSTEM":
        tz = _dt.datetime.fromtimestamp(0).astimezone().tzinfo or _dt.UTC
    else:
        try:
            tz = ZoneInfo("UTC" if name.upper() in ("UTC", "GMT") else name)
        except (ZoneInfoNotFoundError, ValueError):
            raise errors.error(errors.ER_UNKNOWN_TIME_ZONE,
                               f"Unknown or incorrect time zone: '{name}'") from None
    if len(_TZ_CACHE) < 256:
        _TZ_CACHE[name] = tz
    return tz


_UTC_ZONES: dict[str, bool] = {}


def zone_is_utc(name: str) -> bool:
    """Whether a time zone name means UTC at every moment (offset zero, no daylight saving):
    where TIMESTAMP values need no conversion (rewrites/timestamps.py)."""
    found = _UTC_ZONES.get(name)
    if found is None:
        tz = zone(name)
        found = tz is _dt.UTC or isinstance(tz, _dt.timezone) and \
            tz.utcoffset(None) == _dt.timedelta(0) or getattr(tz, "key", None) in (
                "UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu")
        if len(_UTC_ZONES) < 256:
            _UTC_ZONES[name] = found
    return found


def session_now(ctx: Any) -> _dt.datetime:
    """The statement's time in the session time zone (naive, like MySQL's DATETIME)."""
    moment = _dt.datetime.fromtimestamp(float(getattr(ctx, "statement_time", 0.0)),
                                        zone(str(getattr(ctx, "time_zone", "SYSTEM"))))
    return moment.replace(tzinfo=None)


def stamp_of(moment: _dt.datetime) -> coltypes.DateTimeParts:
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
            moment.microsecond)


def fsp_argument(fsp: object) -> int:
    value = int(fsp or 0)  # type: ignore[call-overload]
    if not 0 <= value <= 6:
        raise errors.error(1426, f"Too-big precision {value} specified. Maximum is 6.")
    return value


# ---------------------------------------------------------------- value helpers

def to_number(value: object) -> int | float | Decimal | None:
    """MySQL's numeric reading of a value (strings take their numeric prefix)."""
    if value is None or isinstance(value, (int, float)):
        return value  # type: ignore[return-value]
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    number, _ = parse_number_prefix(text)
    if number is None:
        return 0
    return int(number) if number == number.to_integral_value() and "." not in text \
        and "e" not in text.lower() else float(number)


def to_int(value: object) -> int | None:
    number = to_number(value)
    if number is None:
        return None
    if isinstance(number, int):
        return number
    return int(Decimal(repr(number) if isinstance(number, float) else number)
               .to_integral_value(ROUND_HALF_UP))


def nulls(fn: Callable[..., object]) -> Callable[..., object]:
    """Most MySQL functions return NULL when any argument is NULL."""
    def wrapper(*args: object) -> object:
        if any(a is None for a in args):
            return None
        return fn(*args)
    wrapper.__name__ = fn.__name__
    return wrapper


SessionScalar = tuple[str, Callable[..., object], int]  # name, function(ctx, ...), nargs
Scalar = tuple[str, Callable[..., object], int, bool]  # name, function, nargs (-1 any), det.
