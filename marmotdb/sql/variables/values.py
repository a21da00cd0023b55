"""Validating and printing system-variable values the way MySQL does.

``coerce(spec, value)`` turns what a SET statement supplied into the stored form (raising
1231 wrong value, 1232 wrong type, 1298 unknown time zone, 1115/1273 unknown character set or
collation); ``render_spec`` prints a stored value as SHOW VARIABLES does (booleans ON/OFF).
sql_mode keeps MySQL's canonical order and expands ANSI / TRADITIONAL.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.sql.catalog.charsets import charset_named, collation_named
from marmotdb.sql.variables.specs import VariableSpec

_ON_OFF = ("OFF", "ON")


# ---------------------------------------------------------------------------------- sql_mode
# Bit order of MySQL 8.0's sql_mode_names: @@sql_mode lists modes in this order.
_SQL_MODE_ORDER = (
    "REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", "NOT_USED",
    "ONLY_FULL_GROUP_BY", "NO_UNSIGNED_SUBTRACTION", "NO_DIR_IN_CREATE", "NOT_USED_9",
    "NOT_USED_10", "NOT_USED_11", "NOT_USED_12", "NOT_USED_13", "NOT_USED_14", "NOT_USED_15",
    "NOT_USED_16", "NOT_USED_17", "NOT_USED_18", "ANSI", "NO_AUTO_VALUE_ON_ZERO",
    "NO_BACKSLASH_ESCAPES", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE",
    "NO_ZERO_DATE", "ALLOW_INVALID_DATES", "ERROR_FOR_DIVISION_BY_ZERO", "TRADITIONAL",
    "NOT_USED_29", "HIGH_NOT_PRECEDENCE", "NO_ENGINE_SUBSTITUTION", "PAD_CHAR_TO_FULL_LENGTH",
    "TIME_TRUNCATE_FRACTIONAL",
)
_SQL_MODE_POSITION = {name: i for i, name in enumerate(_SQL_MODE_ORDER)
                      if not name.startswith("NOT_USED")}
_SQL_MODE_COMBINATIONS = {
    "ANSI": ("REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE",
             "ONLY_FULL_GROUP_BY"),
    "TRADITIONAL": ("STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE",
                    "NO_ZERO_DATE", "ERROR_FOR_DIVISION_BY_ZERO", "NO_ENGINE_SUBSTITUTION"),
}


def normalize_sql_mode(value: object, name: str = "sql_mode") -> str:
    """Validate a sql_mode value (names or bitmask) and return MySQL's canonical string."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value >> len(_SQL_MODE_ORDER):
            raise _wrong_value(name, value)
        modes = {_SQL_MODE_ORDER[bit] for bit in range(len(_SQL_MODE_ORDER)) if value >> bit & 1}
    elif isinstance(value, str):
        modes = {part.strip().upper() for part in value.split(",") if part.strip()}
    else:
        raise _wrong_type(name)
    if any(mode not in _SQL_MODE_POSITION for mode in modes):
        raise _wrong_value(name, value)
    for combination, parts in _SQL_MODE_COMBINATIONS.items():
        if combination in modes:
            modes.update(parts)
    return ",".join(sorted(modes, key=_SQL_MODE_POSITION.__getitem__))


# ---------------------------------------------------------------------------------- coercion
def _wrong_value(name: str, value: object) -> MarmotError:
    shown = "NULL" if value is None else value
    return errors.error(errors.ER_WRONG_VALUE_FOR_VAR,
                        f"Variable '{name}' can't be set to the value of '{shown}'")


def _wrong_type(name: str) -> MarmotError:
    return errors.error(errors.ER_WRONG_TYPE_FOR_VAR, f"Incorrect argument type to variable '{name}'")


def _as_bool(spec: VariableSpec, value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value in (0, 1):
            return value
        raise _wrong_value(spec.name, value)
    if isinstance(value, str):
        word = value.upper()
        if word in ("ON", "TRUE", "1"):
            return 1
        if word in ("OFF", "FALSE", "0"):
            return 0
        raise _wrong_value(spec.name, value)
    if value is None:
        raise _wrong_value(spec.name, value)
    raise _wrong_type(spec.name)


def _as_int(spec: VariableSpec, value: object) -> object:
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        if value is None:
            raise _wrong_value(spec.name, value)
        raise _wrong_type(spec.name)
    # MySQL clamps an out-of-range value to the nearest bound (with a truncation warning).
    return min(max(value, spec.minimum), spec.maximum)


def _as_float(spec: VariableSpec, value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if value is None:
        raise _wrong_value(spec.name, value)
    raise _wrong_type(spec.name)


def _as_str(spec: VariableSpec, value: object) -> object:
    if value is None:
        if spec.nullable:
            return None
        raise _wrong_value(spec.name, value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _as_enum(spec: VariableSpec, value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(spec.choices):
            return spec.choices[value]
        raise _wrong_value(spec.name, value)
    if isinstance(value, str):
        word = value.upper()
        if word in spec.choices:
            return word
        raise _wrong_value(spec.name, value)
    if value is None:
        raise _wrong_value(spec.name, value)
    raise _wrong_type(spec.name)


def _as_sql_mode(spec: VariableSpec, value: object) -> object:
    if value is None:
        raise _wrong_value(spec.name, value)
    return normalize_sql_mode(value, spec.name)


_OFFSET = re.compile(r"^([+-])(\d{1,2}):(\d{2})$")


def normalize_time_zone(value: object) -> str:
    """'SYSTEM', a '+HH:MM' offset (MySQL 8.0 range -13:59..+14:00) or an IANA zone name."""
    if not isinstance(value, str):
        raise errors.error(errors.ER_UNKNOWN_TIME_ZONE, f"Unknown or incorrect time zone: '{value}'")
    if value.upper() == "SYSTEM":
        return "SYSTEM"
    found = _OFFSET.match(value)
    if found:
        hours, minutes = int(found.group(2)), int(found.group(3))
        minutes_total = (hours * 60 + minutes) * (-1 if found.group(1) == "-" else 1)
        if minutes < 60 and -(13 * 60 + 59) <= minutes_total <= 14 * 60:
            return f"{found.group(1)}{hours:02d}:{minutes:02d}"
    elif _zone_exists(value):
        return value
    raise errors.error(errors.ER_UNKNOWN_TIME_ZONE, f"Unknown or incorrect time zone: '{value}'")


def _zone_exists(name: str) -> bool:
    import zoneinfo  # local: only needed for named zones, never on the SET NAMES path

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _as_time_zone(spec: VariableSpec, value: object) -> object:
    return normalize_time_zone(value)


def _as_charset(spec: VariableSpec, value: object) -> object:
    if value is None and spec.nullable:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        from marmotdb.sql.catalog.charsets import collation_by_id

        found_collation = collation_by_id(value)
        if found_collation is None:
            raise errors.error(errors.ER_UNKNOWN_CHARACTER_SET, f"Unknown character set: '{value}'")
        return found_collation.charset
    if not isinstance(value, str):
        raise _wrong_value(spec.name, value)
    found = charset_named(value)
    if found is None:
        raise errors.error(errors.ER_UNKNOWN_CHARACTER_SET, f"Unknown character set: '{value}'")
    return found.name


def _as_collation(spec: VariableSpec, value: object) -> object:
    if not isinstance(value, str):
        raise _wrong_value(spec.name, value)
    found = collation_named(value)
    if found is None:
        raise errors.error(errors.ER_UNKNOWN_COLLATION, f"Unknown collation: '{value}'")
    return found.name


_COERCIONS: dict[str, Callable[[VariableSpec, object], object]] = {
    "bool": _as_bool, "int": _as_int, "float": _as_float, "str": _as_str, "enum": _as_enum,
    "sql_mode": _as_sql_mode, "time_zone": _as_time_zone, "charset": _as_charset,
    "collation": _as_collation,
}

def coerce(spec: VariableSpec, value: object) -> object:
    """Validate ``value`` for ``spec`` and return the stored form (raises 1231/1232/...)."""
    return _COERCIONS[spec.kind](spec, value)


def render(value: object) -> str:
    """A stored value as SHOW VARIABLES prints it (booleans are printed by ``render_spec``)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def render_spec(spec: VariableSpec | None, value: object) -> str:
    if spec is not None and spec.kind == "bool" and isinstance(value, int):
        return _ON_OFF[1 if value else 0]
    return render(value)
