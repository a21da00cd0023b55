"""Values into their MySQL types: MYSQL_STORE (every value an INSERT or UPDATE writes, coerced
as MySQL would for the column, strict or not per sql_mode), MYSQL_NO_DEFAULT,
MYSQL_GENERATED_IGNORED (a value given for a generated column), MYSQL_CAST, and the collations the stored schema names (``mysql_decimal``, ``mysql_time``)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.sql.types import coltypes, uint64
from marmotdb.sql.functions.json import load_json
from marmotdb.sql.types.coltypes import (
    format_date,
    format_datetime,
    format_time,
    json_text,
    parse_datetime,
    parse_number_prefix,
    parse_time,
    to_text,
)
from marmotdb.sql.functions.dates import ER_TRUNCATED_WRONG_VALUE
from marmotdb.sql.functions.context import (
    SessionScalar,
    sql_mode_of,
    to_int,
    to_number,
    warn,
    zone,
)
from marmotdb.sql.functions.strings import to_bytes

def _cast_signed(value: object, unsigned: bool, ctx: Any) -> int | None:
    if value is None:
        return None
    if uint64.is_high_blob(value):
        value = uint64.exact(value)
    if isinstance(value, (str, bytes)):
        text = to_text(value) or ""
        number, whole = parse_number_prefix(text)
        # Plain digits are read as MySQL's strtoll10 reads them, up to BIGINT UNSIGNED's
        # maximum: '18446744073709551615' AS SIGNED is -1 (wrapped below), as in MySQL.
        limit = 2**64 - 1 if unsigned or text.strip().isdigit() else 2**63 - 1
        if number is not None and (not number.is_finite() or number.adjusted() >= 20):
            # '1e999999' or 'inf': clamp before making an int of it (a million-digit int
            # would hold the event loop), as MySQL clamps with the same warning
            number, whole = Decimal(limit if number > 0 else -(2**63)), False
        result = int(number.to_integral_value(ROUND_DOWN)) if number is not None else 0
        if number is None or not whole or not -(2**63) <= result <= limit:
            warn(ctx, "Warning", ER_TRUNCATED_WRONG_VALUE,
                 f"Truncated incorrect INTEGER value: '{text}'")
        result = max(-(2**63), min(result, limit))
    else:
        result = to_int(value) or 0
    if unsigned and result < 0:
        result += 2**64
    elif not unsigned and result >= 2**63:  # an unsigned value (``a & -56``) wraps, as MySQL
        result -= 2**64
        warn(ctx, "Note", errors.ER_UNKNOWN_ERROR, "Cast to signed converted positive "
             "out-of-range integer to it's negative complement")
    return uint64.in_flight(result)  # type: ignore[return-value]  # exact text from 2^63


def _cast(ctx: Any, value: object, target: object, length: object = None,
          scale: object = None) -> object:
    kind = str(target).upper()
    if value is None:
        return None
    handler = _CASTS.get(kind)
    if handler is None:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, f"CAST to {kind} is not supported")
    return handler(ctx, value, length, scale)


def _cast_decimal(ctx: Any, value: object, length: object, scale: object) -> object:
    t = coltypes.MySqlType("decimal", to_int(length) or 10, to_int(scale) or 0)
    store = coltypes.StoreContext(False, lambda level, code, msg: warn(ctx, level, code, msg))
    return coltypes.coerce_for_store(value, t, "", 1, store)


def _cast_char(ctx: Any, value: object, length: object, scale: object) -> object:
    text = to_text(value) or ""
    size = to_int(length)
    return text[:size] if size is not None else text


def _cast_binary(ctx: Any, value: object, length: object, scale: object) -> object:
    data = to_bytes(value)
    size = to_int(length)
    return data[:size].ljust(size, b"\0") if size is not None else data


def _cast_temporal(name: str) -> Callable[[Any, object, object, object], object]:
    def cast(ctx: Any, value: object, length: object, scale: object) -> object:
        fsp = to_int(length) or 0
        if name == "time":
            parts = parse_time(value)
            return None if parts is None else format_time(coltypes.round_time(parts, fsp), fsp)
        stamp = parse_datetime(value)
        if stamp is None:
            warn(ctx, "Warning", ER_TRUNCATED_WRONG_VALUE,
                 f"Incorrect {name} value: '{to_text(value)}'")
            return None
        if name == "date":
            return format_date(stamp)
        return format_datetime(coltypes.round_datetime(stamp, fsp), fsp)
    return cast


def _cast_double(ctx: Any, value: object, length: object, scale: object) -> object:
    number = to_number(value)
    return None if number is None else float(number)


def _cast_json(ctx: Any, value: object, length: object, scale: object) -> object:
    if isinstance(value, (int, float)):
        return json_text(value)
    return json_text(load_json(value, "cast_as_json"))


_CASTS: dict[str, Callable[[Any, object, object, object], object]] = {
    "SIGNED": lambda ctx, v, n, s: _cast_signed(v, False, ctx),
    "UNSIGNED": lambda ctx, v, n, s: _cast_signed(v, True, ctx),
    "DECIMAL": _cast_decimal, "CHAR": _cast_char, "BINARY": _cast_binary,
    "DATE": _cast_temporal("date"), "DATETIME": _cast_temporal("datetime"),
    "TIME": _cast_temporal("time"), "DOUBLE": _cast_double, "FLOAT": _cast_double,
    "REAL": _cast_double, "JSON": _cast_json,
    "YEAR": lambda ctx, v, n, s: coltypes.coerce_for_store(
        v, coltypes.MySqlType("year"), "", 1, coltypes.StoreContext(False)),
}


def _strict(ctx: Any) -> tuple[bool, bool, bool]:
    mode = sql_mode_of(ctx).upper()
    strict = "STRICT_TRANS_TABLES" in mode or "STRICT_ALL_TABLES" in mode or \
        "TRADITIONAL" in mode
    return strict, "NO_ZERO_DATE" in mode or "TRADITIONAL" in mode, \
        "NO_ZERO_IN_DATE" in mode or "TRADITIONAL" in mode


STORE_ALTER = 2  # the copy of ALTER TABLE: MySQL reports 1265 and 1138 there
# the copy of a committed ALTER replayed from its write set (ddl/replay_rewrite.py): never
# strict, whatever session last wrote on the connection — MySQL's non-strict ALTER, each
# conversion counted in SHOW STATUS instead of a warning (ddl/DESIGN.md §11)
STORE_REPLAY = 3
REPLAY_CONVERSIONS = "Marmot_ddl_replay_conversions"
ER_INVALID_USE_OF_NULL = 1138


class _SessionStore:
    """The StoreContext of one MYSQL_STORE call. The session's sql_mode is read only when a
    value actually has a problem: valid values (nearly all) never pay for the lookup."""

    __slots__ = ("_flags", "ctx", "lenient")
    timestamp_zone: _dt.tzinfo | None = None  # stored as given (see _LocalStore)

    def __init__(self, ctx: Any, lenient: object):
        self.ctx, self.lenient, self._flags = ctx, lenient, None

    def _mode(self) -> tuple[bool, bool, bool]:
        if self._flags is None and self.lenient == STORE_REPLAY:
            self._flags = (False, False, False)  # the session's sql_mode plays no part
        if self._flags is None:
            strict, no_zero_date, no_zero_in_date = _strict(self.ctx)
            self._flags = (strict and self.lenient != 1, no_zero_date, no_zero_in_date)
        return self._flags

    @property
    def strict(self) -> bool:
        return self._mode()[0]

    @property
    def no_zero_date(self) -> bool:
        return self._mode()[1]

    @property
    def no_zero_in_date(self) -> bool:
        return self._mode()[2]

    @property
    def time_zone(self) -> _dt.tzinfo | None:
        """The session's, for a value written with a time zone offset; none for ALTER TABLE's
        copy, which its replay must repeat whatever the replaying connection's session."""
        if self.lenient in (STORE_ALTER, STORE_REPLAY):
            return None
        return zone(str(getattr(self.ctx, "time_zone", "SYSTEM")))

    def problem(self, code: int, message: str) -> None:
        if self.strict:
            raise errors.error(code, message)
        self.note("Warning", code, message)

    def note(self, level: str, code: int, message: str) -> None:
        if self.lenient == STORE_REPLAY:
            _replay_converted(self.ctx)
            return
        warn(self.ctx, level, code, message)


class _LocalStore(_SessionStore):
    """The StoreContext of a MYSQL_STORE a session whose time zone is not UTC makes: a TIMESTAMP
    value is read in that zone and stored as UTC (rewrites/timestamps.py). A class of its own
    so that UTC sessions, nearly all, pay nothing for it."""

    __slots__ = ("timestamp_zone",)

    def __init__(self, ctx: Any, lenient: object):
        super().__init__(ctx, lenient)
        self.timestamp_zone = zone(str(getattr(ctx, "time_zone", "SYSTEM")))


def _timestamp_local(ctx: Any, value: object) -> object:
    """MYSQL_TIMESTAMP_LOCAL: a TIMESTAMP column's stored (UTC) value as the session's time zone
    shows it, with the digits it has (rewrites/timestamps.py); other values as they are."""
    return _in_zone(ctx, value, coltypes.timestamp_from_utc, True)


def _timestamp_utc(ctx: Any, value: object) -> object:
    """MYSQL_TIMESTAMP_UTC: a datetime the session wrote, as a TIMESTAMP column stores it
    (UTC), with the digits it has, to compare with the stored values as they are
    (rewrites/timestamps.py); other values, and moments beyond the calendar, as they are."""
    return _in_zone(ctx, value, coltypes.timestamp_to_utc, False)


def _in_zone(ctx: Any, value: object, convert: Callable[[coltypes.DateTimeParts, _dt.tzinfo],
                                                        coltypes.DateTimeParts | None],
             from_utc: bool) -> object:
    session_zone = zone(str(getattr(ctx, "time_zone", "SYSTEM")))
    if isinstance(value, str) and len(value) >= 19 and value[10] == " ":
        # the canonical text a column stores: C's parser, a tenth of parse_datetime's time
        try:
            moment = _dt.datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=_dt.UTC).astimezone(session_zone) if from_utc \
                else moment.replace(tzinfo=session_zone).astimezone(_dt.UTC)
        except (ValueError, OverflowError):
            pass  # a zero date, or beyond the calendar: the general path below
        else:
            text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} " \
                   f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
            digits = len(value) - 20
            return text + f".{moment.microsecond:06d}"[:digits + 1] if digits > 0 else text
    stamp = coltypes.parse_datetime(value) if isinstance(value, str) else None
    if stamp is None:
        return value
    moved = convert(stamp, session_zone)
    if moved is None:
        return value
    _, dot, fraction = value.partition(".")  # type: ignore[union-attr]
    return format_datetime(moved, len(fraction) if dot else 0)


def _replay_converted(ctx: Any) -> None:
    """A replay's conversion: counted on the node (the binding's ``replay_counts``), never
    a warning of whichever session last wrote on the connection."""
    counts = getattr(ctx, "replay_counts", None)
    if counts is not None:
        counts[REPLAY_CONVERSIONS] += 1


_STORE_SPECS: dict[str, tuple[coltypes.MySqlType, bool]] = {}
_STORE_SPECS_MAX = 4096


def _store_spec(text: str) -> tuple[coltypes.MySqlType, bool]:
    found = _STORE_SPECS.get(text)
    if found is None:
        not_null = text.endswith(" not null")
        found = (coltypes.cached_type(text[:-9] if not_null else text), not_null)
        if len(_STORE_SPECS) < _STORE_SPECS_MAX:
            _STORE_SPECS[text] = found
    return found


def _store(ctx: Any, value: object, type_text: object, column: object, row: object,
           lenient: object = 0, local: object = 0) -> object:
    """MYSQL_STORE: coerce a value into a column the way MySQL does (strict per sql_mode;
    ``lenient`` 1 for INSERT/UPDATE IGNORE, 2 for ALTER TABLE's copy, 3 for its replay;
    ``local`` 1: a TIMESTAMP value is in the session's time zone, not UTC). The stored value is
    recorded in ``ctx.written_row`` for the errors that name it (sql/written_row.py)."""
    t, not_null = _store_spec(str(type_text))
    if value is None:
        stored = _store_null(ctx, t, not_null, column, lenient)
    else:
        try:
            stored = coltypes.coerce_for_store(value, t, str(column), int(row or 1),  # type: ignore
                                               (_LocalStore if local else _SessionStore)(
                                                   ctx, lenient))  # type: ignore
        except errors.MarmotError as exc:
            if lenient == STORE_ALTER and exc.code == errors.ER_DATA_TOO_LONG:
                raise errors.error(errors.ER_WARN_DATA_TRUNCATED, str(exc).replace(
                    "Data too long", "Data truncated")) from None
            raise
    written = ctx.written_row
    values = written.values
    if row == written.row and column not in values:
        values[column] = stored  # the common case, inline: every value written passes here
    else:
        written.record(column, stored, row)
    return stored


def _store_null(ctx: Any, t: coltypes.MySqlType, not_null: bool, column: object,
                lenient: object) -> object:
    if not not_null:
        return None
    if lenient == STORE_REPLAY:
        _replay_converted(ctx)
        return implicit_default(t)
    if lenient == STORE_ALTER:
        raise errors.error(ER_INVALID_USE_OF_NULL, "Invalid use of NULL value")
    message = f"Column '{column}' cannot be null"
    if not lenient:
        raise errors.error(errors.ER_BAD_NULL_ERROR, message)
    warn(ctx, "Warning", errors.ER_BAD_NULL_ERROR, message)
    return implicit_default(t)


def _no_default(ctx: Any, column: object, type_text: object) -> object:
    """MYSQL_NO_DEFAULT: an omitted NOT NULL column without DEFAULT (1364 in strict mode,
    else the type's implicit default with a warning)."""
    message = f"Field '{column}' doesn't have a default value"
    strict, _, _ = _strict(ctx)
    if strict:
        raise errors.error(errors.ER_NO_DEFAULT_FOR_FIELD, message)
    warn(ctx, "Warning", errors.ER_NO_DEFAULT_FOR_FIELD, message)
    return implicit_default(coltypes.cached_type(str(type_text)))


ER_GENERATED_VALUE_NOT_ALLOWED = 3105  # MySQL 8
ER_GENERATED_VALUE_IGNORED = 1906  # MariaDB's warning (MySQL has no such warning)


def _generated_ignored(ctx: Any, carrier: object, value: object, column: object,
                       table: object) -> object:
    """MYSQL_GENERATED_IGNORED: an INSERT row gave ``value`` for a generated column (the
    rewrite dropped it and calls this on another value of the row, ``carrier``, returned as
    is). Strict: MySQL 8's 3105. Not strict: MariaDB's rule, the value is ignored with warning
    1906: what restores mariadb-dump's dumps, which list every column and run with
    SQL_MODE='NO_AUTO_VALUE_ON_ZERO' (MySQL's own mysqldump leaves generated columns out)."""
    strict, _, _ = _strict(ctx)
    if strict:
        raise errors.error(ER_GENERATED_VALUE_NOT_ALLOWED, f"The value specified for generated "
                           f"column '{column}' in table '{table}' is not allowed.")
    warn(ctx, "Warning", ER_GENERATED_VALUE_IGNORED, f"The value specified for generated "
         f"column '{column}' in table '{table}' has been ignored")
    return carrier


def implicit_default(t: coltypes.MySqlType) -> object:
    """MySQL's implicit default of a NOT NULL column: 0, '', the zero date, first ENUM value."""
    family = t.family
    if family in ("int", "bit"):
        return 0
    if family == "float":
        return 0.0
    if family == "decimal":
        return coltypes.format_decimal(Decimal(0), t.scale or 0)
    if t.name == "enum":
        return t.values[0] if t.values else ""
    if family == "binary":
        return b"\0" * (t.length or 0) if t.name == "binary" else b""
    if t.name == "json":
        return "null"
    if family == "temporal":
        return {"date": "0000-00-00", "time": "00:00:00", "year": 0}.get(
            t.name, "0000-00-00 00:00:00")
    return ""


def register_schema_functions(conn: apsw.Connection) -> None:
    """Register the collations the stored schema refers to, and turn off SQLite's
    double-quoted-string fallback (generated SQL quotes identifiers with "…"; an unknown
    column must be error 1054, never the string 'nope'). Needed by every connection."""
    conn.create_collation("mysql_decimal", decimal_collation)
    conn.create_collation("mysql_time", time_collation)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)


def decimal_collation(a: str, b: str) -> int:
    x, y = _collation_key(a), _collation_key(b)
    return (x > y) - (x < y)


def time_collation(a: str, b: str) -> int:
    x, y = coltypes.time_sort_key(a), coltypes.time_sort_key(b)
    return (x > y) - (x < y)


def _collation_key(text: str) -> Decimal:
    number, _ = parse_number_prefix(text)
    return number if number is not None and number.is_finite() else Decimal(0)


STORE_SESSION_SCALARS: list[SessionScalar] = [
    ("STORE", _store, -1),
    ("NO_DEFAULT", _no_default, 2),
    ("GENERATED_IGNORED", _generated_ignored, 4),
    ("CAST", _cast, -1),
    ("TIMESTAMP_LOCAL", _timestamp_local, 1),
    ("TIMESTAMP_UTC", _timestamp_utc, 1),
]
