"""MySQL functions as SQLite user functions, bound to one session.

Theory of operation
-------------------
SQLite has no NOW(), DATE_FORMAT(), SUBSTRING_INDEX() …, and where it has a function of the
same name it often means something else (LENGTH counts characters, LOG is base 10, CEIL returns
REAL, QUOTE quotes differently). The translator renames every MySQL function listed in
``RENAMED_FUNCTIONS`` to ``MYSQL_<NAME>`` before parsing, so sqlglot passes the call through
untouched and no SQLite built-in is ever shadowed; this module registers those ``MYSQL_*``
names, plus a few helpers the rewrites emit (``MYSQL_STORE`` for value coercion,
``MYSQL_CAST``, ``MYSQL_USER_VAR`` …) and ``regexp`` for the REGEXP operator.

``register_functions(conn, session)`` binds them to a function context: any object with the
attributes of ``FunctionContext`` (the executor passes its per-connection binding).
``statement_time`` (epoch seconds) is set by the executor before each statement, so NOW(),
SYSDATE() and CURRENT_TIMESTAMP are fixed per statement; session values (LAST_INSERT_ID,
ROW_COUNT, FOUND_ROWS, DATABASE, USER, time_zone, sql_mode) are read at call time, so cached
translations stay valid across sessions. Optional attributes are read with defaults:
``variables`` (SessionVariables: sql_mode, @x, @@x), ``warnings`` (a list the function appends
(level, code, message) to), ``rng`` (a ``random.Random`` for RAND/UUID).

``register_schema_functions(conn)`` registers what the *stored schema* needs: the
``mysql_decimal`` collation of DECIMAL columns and ``mysql_time`` of TIME columns. Every connection that opens a marmotdb database
file must call it (executor, replication apply, snapshots, audits) or SQLite reports
"no such collation sequence".

Functions are registered deterministic only when they are (NOW() is not: it depends on the
session). The module is long because it is a catalogue: strings, regular expressions, numbers, dates
and times, session information, aggregates, then the registration tables; the JSON family
lives in ``json_functions.py`` and is registered here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import inspect
import ipaddress
import math
import random
import re
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import apsw

from marmotdb import errors
from marmotdb.sql import coltypes, fulltext, uint64
from marmotdb.sql.json_functions import (
    JSON_AGGREGATES,
    JSON_INTERNAL_FUNCTIONS,
    JSON_SCALARS,
    UNSUPPORTED_JSON_FUNCTIONS,
    load_json,
)
from marmotdb.sql.rewrites_temporal import TEMPORAL_INTERNAL_FUNCTIONS, TEMPORAL_SCALARS
from marmotdb.sql.uint64 import UINT64_INTERNAL_FUNCTIONS, UINT64_SCALARS
from marmotdb.sql.written_row import WrittenRow
from marmotdb.txn import auto_increment
from marmotdb.sql.coltypes import (
    format_date,
    format_datetime,
    format_time,
    json_text,
    parse_datetime,
    parse_number_prefix,
    parse_time,
    to_text,
)

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


def session_now(ctx: Any) -> _dt.datetime:
    """The statement's time in the session time zone (naive, like MySQL's DATETIME)."""
    moment = _dt.datetime.fromtimestamp(float(getattr(ctx, "statement_time", 0.0)),
                                        zone(str(getattr(ctx, "time_zone", "SYSTEM"))))
    return moment.replace(tzinfo=None)


def _stamp(moment: _dt.datetime) -> coltypes.DateTimeParts:
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
            moment.microsecond)


def _fsp(fsp: object) -> int:
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


def _nulls(fn: Callable[..., object]) -> Callable[..., object]:
    """Most MySQL functions return NULL when any argument is NULL."""
    def wrapper(*args: object) -> object:
        if any(a is None for a in args):
            return None
        return fn(*args)
    wrapper.__name__ = fn.__name__
    return wrapper


Scalar = tuple[str, Callable[..., object], int, bool]  # name, function, nargs (-1 any), det.


# ---------------------------------------------------------------- strings

def concat_ws(separator: object, *parts: object) -> str | None:
    if separator is None:
        return None
    sep = to_text(separator) or ""
    return sep.join(t for t in (to_text(p) for p in parts) if t is not None)


@_nulls
def substring_index(text: object, delim: object, count: object) -> str:
    s, d, n = to_text(text) or "", to_text(delim) or "", to_int(count) or 0
    if not d or n == 0:
        return ""
    pieces = s.split(d)
    return d.join(pieces[:n]) if n > 0 else d.join(pieces[n:])


@_nulls
def find_in_set(needle: object, haystack: object) -> int:
    n, h = to_text(needle) or "", to_text(haystack) or ""
    if "," in n or not h:
        return 0
    folded = n.lower()
    return next((i + 1 for i, part in enumerate(h.split(",")) if part.lower() == folded), 0)


def _pad(left: bool) -> Callable[..., object]:
    @_nulls
    def pad(text: object, length: object, fill: object) -> str | None:
        s, n, f = to_text(text) or "", to_int(length), to_text(fill) or ""
        if n is None or n < 0:
            return None
        if len(s) >= n:
            return s[:n]
        if not f:
            return None
        padding = (f * (n // len(f) + 1))[: n - len(s)]
        return padding + s if left else s + padding
    return pad


@_nulls
def locate(needle: object, haystack: object, start: object = 1) -> int:
    n, h, pos = (to_text(needle) or "").lower(), (to_text(haystack) or "").lower(), to_int(start)
    if pos is None or pos < 1:
        return 0
    found = h.find(n, pos - 1)
    return found + 1 if found >= 0 else 0


@_nulls
def instr(haystack: object, needle: object) -> int:
    return locate(needle, haystack)  # type: ignore[return-value]


def substring(text: object, start: object, length: object = None) -> str:
    s = to_text(text) or ""
    pos = to_int(start) or 0
    if pos == 0 or abs(pos) > len(s):
        return ""
    begin = pos - 1 if pos > 0 else len(s) + pos
    if length is None:
        return s[begin:]
    n = to_int(length) or 0
    return s[begin:begin + n] if n > 0 else ""


def substring_any(*args: object) -> str | None:
    """SUBSTRING(s, pos) / SUBSTRING(s, pos, len): NULL if any given argument is NULL."""
    if len(args) not in (2, 3):
        raise errors.error(errors.ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT, "Incorrect parameter "
                           "count in the call to native function 'substring'")
    if any(a is None for a in args):
        return None
    return substring(*args)


def mysql_trim(text: object, remove: object = " ", where: object = "BOTH") -> str | None:
    if text is None or remove is None:
        return None
    s, r, mode = to_text(text) or "", to_text(remove) or "", str(where).upper()
    if not r:
        return s
    if mode in ("BOTH", "LEADING"):
        while s.startswith(r):
            s = s[len(r):]
    if mode in ("BOTH", "TRAILING"):
        while s.endswith(r):
            s = s[:-len(r)]
    return s


@_nulls
def left(text: object, n: object) -> str:
    count = to_int(n) or 0
    return (to_text(text) or "")[:max(count, 0)]


@_nulls
def right(text: object, n: object) -> str:
    count = to_int(n) or 0
    s = to_text(text) or ""
    return s[len(s) - count:] if 0 < count else ""


@_nulls
def repeat(text: object, n: object) -> str:
    return (to_text(text) or "") * max(to_int(n) or 0, 0)


@_nulls
def insert_string(text: object, pos: object, length: object, new: object) -> str:
    s, p, n, w = to_text(text) or "", to_int(pos) or 0, to_int(length) or 0, to_text(new) or ""
    if p < 1 or p > len(s):
        return s
    if n < 0 or p - 1 + n > len(s):
        n = len(s) - p + 1
    return s[:p - 1] + w + s[p - 1 + n:]


def field_index(needle: object, *items: object) -> int:
    if needle is None:
        return 0
    if isinstance(needle, (int, float)):
        return next((i + 1 for i, v in enumerate(items)
                     if v is not None and to_number(v) == needle), 0)
    folded = (to_text(needle) or "").lower()
    return next((i + 1 for i, v in enumerate(items)
                 if v is not None and (to_text(v) or "").lower() == folded), 0)


def elt(n: object, *items: object) -> object:
    index = to_int(n)
    if index is None or not 1 <= index <= len(items):
        return None
    return items[index - 1]


@_nulls
def octet_length(text: object) -> int:
    if isinstance(text, bytes):
        return len(text)
    return len((to_text(text) or "").encode("utf-8"))


@_nulls
def char_length(text: object) -> int:
    return len(text) if isinstance(text, bytes) else len(to_text(text) or "")


@_nulls
def ascii_code(text: object) -> int:
    data = text if isinstance(text, bytes) else (to_text(text) or "").encode("utf-8")
    return data[0] if data else 0


@_nulls
def ord_code(text: object) -> int:
    s = to_text(text) or ""
    if not s:
        return 0
    data = s[0].encode("utf-8")
    return int.from_bytes(data, "big")


@_nulls
def upper(text: object) -> object:
    return text if isinstance(text, bytes) else (to_text(text) or "").upper()


@_nulls
def lower(text: object) -> object:
    return text if isinstance(text, bytes) else (to_text(text) or "").lower()


@_nulls
def reverse(text: object) -> str:
    return (to_text(text) or "")[::-1]


@_nulls
def space(n: object) -> str:
    return " " * max(to_int(n) or 0, 0)


@_nulls
def strcmp(a: object, b: object) -> int:
    x, y = (to_text(a) or "").lower(), (to_text(b) or "").lower()
    return (x > y) - (x < y)


@_nulls
def hex_text(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = to_int(value) or 0
        return format(number & 0xFFFF_FFFF_FFFF_FFFF if number < 0 else number, "X")
    data = value if isinstance(value, bytes) else (to_text(value) or "").encode("utf-8")
    return data.hex().upper()


@_nulls
def unhex(value: object) -> bytes | None:
    text = to_text(value) or ""
    try:
        return bytes.fromhex(("0" + text) if len(text) % 2 else text)
    except ValueError:
        return None


@_nulls
def conv(value: object, from_base: object, to_base: object) -> str | None:
    source, target = abs(to_int(from_base) or 10), to_int(to_base) or 10
    text = (to_text(value) or "").strip()
    try:
        number = int(text, source) if text else 0
    except ValueError:
        prefix = re.match(r"^-?[0-9a-zA-Z]*", text)
        try:
            number = int(prefix.group(0), source) if prefix and prefix.group(0) else 0
        except ValueError:
            return "0"
    if target > 0 and number < 0:
        number &= 0xFFFF_FFFF_FFFF_FFFF
    return _to_base(number, abs(target))


def _to_base(number: int, base: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if number == 0:
        return "0"
    sign, number = ("-", -number) if number < 0 else ("", number)
    out = []
    while number:
        number, rest = divmod(number, base)
        out.append(digits[rest])
    return sign + "".join(reversed(out))


@_nulls
def quote(value: object) -> str:
    text = to_text(value) or ""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0") \
        .replace("\x1a", "\\Z")
    return "'" + escaped + "'"


@_nulls
def soundex(value: object) -> str:
    codes = {**dict.fromkeys("BFPV", "1"), **dict.fromkeys("CGJKQSXZ", "2"),
             **dict.fromkeys("DT", "3"), "L": "4", **dict.fromkeys("MN", "5"), "R": "6"}
    letters = [c for c in (to_text(value) or "").upper() if c.isalpha()]
    if not letters:
        return ""
    out, last = [letters[0]], codes.get(letters[0], "")
    for c in letters[1:]:
        code = codes.get(c, "")
        if code and code != last:
            out.append(code)
        if c not in "HW":
            last = code
    text = "".join(out)
    return text.ljust(4, "0")


@_nulls
def format_number(value: object, decimals: object, locale: object = None) -> str:
    number = to_number(value) or 0
    places = max(min(to_int(decimals) or 0, 30), 0)
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f}"


@_nulls
def to_base64(value: object) -> str:
    data = value if isinstance(value, bytes) else (to_text(value) or "").encode("utf-8")
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


@_nulls
def from_base64(value: object) -> bytes | None:
    try:
        return base64.b64decode(re.sub(r"\s", "", to_text(value) or ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else (to_text(value) or "").encode("utf-8")


@_nulls
def md5(value: object) -> str:
    return hashlib.md5(_bytes(value)).hexdigest()


@_nulls
def sha1(value: object) -> str:
    return hashlib.sha1(_bytes(value)).hexdigest()


@_nulls
def sha2(value: object, bits: object) -> str | None:
    size = to_int(bits)
    algorithm = {0: "sha256", 224: "sha224", 256: "sha256", 384: "sha384",
                 512: "sha512"}.get(size or 0)
    return None if algorithm is None else hashlib.new(algorithm, _bytes(value)).hexdigest()


@_nulls
def crc32(value: object) -> int:
    return zlib.crc32(_bytes(value))


@_nulls
def inet_aton(value: object) -> int | None:
    try:
        return int(ipaddress.IPv4Address(to_text(value) or ""))
    except ValueError:
        return None


@_nulls
def inet_ntoa(value: object) -> str | None:
    number = to_int(value)
    if number is None or not 0 <= number <= 0xFFFFFFFF:
        return None
    return str(ipaddress.IPv4Address(number))


@_nulls
def inet6_aton(value: object) -> bytes | None:
    try:
        return ipaddress.ip_address(to_text(value) or "").packed
    except ValueError:
        return None


@_nulls
def inet6_ntoa(value: object) -> str | None:
    if not isinstance(value, bytes) or len(value) not in (4, 16):
        return None
    return str(ipaddress.ip_address(value))


@_nulls
def is_ipv4(value: object) -> int:
    try:
        ipaddress.IPv4Address(to_text(value) or "")
        return 1
    except ValueError:
        return 0


@_nulls
def is_ipv6(value: object) -> int:
    try:
        ipaddress.IPv6Address(to_text(value) or "")
        return 1
    except ValueError:
        return 0


@_nulls
def is_uuid(value: object) -> int:
    try:
        uuid.UUID(to_text(value) or "")
        return 1
    except ValueError:
        return 0


def uuid_to_bin(value: object, swap: object = 0) -> bytes | None:
    if value is None:
        return None
    data = uuid.UUID(to_text(value) or "").bytes
    if to_int(swap):
        data = data[6:8] + data[4:6] + data[0:4] + data[8:]
    return data


def bin_to_uuid(value: object, swap: object = 0) -> str | None:
    if not isinstance(value, bytes) or len(value) != 16:
        return None
    data = value
    if to_int(swap):
        data = data[4:8] + data[2:4] + data[0:2] + data[8:]
    return str(uuid.UUID(bytes=data))


# ---------------------------------------------------------------- regular expressions

_REGEX_CACHE: dict[tuple[str, int], re.Pattern[str]] = {}


def _regex(pattern: object, flags: int) -> re.Pattern[str]:
    text = to_text(pattern) or ""
    found = _REGEX_CACHE.get((text, flags))
    if found is None:
        try:
            found = re.compile(text, flags)
        except re.error as exc:
            raise errors.error(3692, f"Incorrect regular expression: {exc}") from None
        if len(_REGEX_CACHE) < 512:
            _REGEX_CACHE[(text, flags)] = found
    return found


def _regex_flags(value: object, pattern: object, mode: object = None) -> int:
    flags = 0 if isinstance(value, bytes) or isinstance(pattern, bytes) else re.IGNORECASE
    for letter in str(mode or ""):
        flags = {"c": flags & ~re.IGNORECASE, "i": flags | re.IGNORECASE,
                 "m": flags | re.MULTILINE, "n": flags | re.DOTALL}.get(letter, flags)
    return flags


def sqlite_regexp(pattern: object, value: object) -> int | None:
    """SQLite's ``X REGEXP Y`` calls ``regexp(Y, X)``."""
    if pattern is None or value is None:
        return None
    return 1 if _regex(pattern, _regex_flags(value, pattern)).search(to_text(value) or "") \
        else 0


def like_binary(value: object, pattern: object) -> int | None:
    """``value LIKE BINARY pattern``: MySQL's LIKE (``%``, ``_``, ``\\`` escapes), comparing
    characters exactly (case and accents count)."""
    if value is None or pattern is None:
        return None
    text, like = to_text(value) or "", to_text(pattern) or ""
    parts: list[str] = []
    index = 0
    while index < len(like):
        char = like[index]
        if char == "\\" and index + 1 < len(like):
            index += 1
            parts.append(re.escape(like[index]))
        else:
            parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return 1 if re.fullmatch("".join(parts), text, re.DOTALL) else 0


def regexp_like(value: object, pattern: object, mode: object = None) -> int | None:
    if pattern is None or value is None:
        return None
    return 1 if _regex(pattern, _regex_flags(value, pattern, mode)).search(
        to_text(value) or "") else 0


def regexp_replace(value: object, pattern: object, replacement: object, pos: object = 1,
                   occurrence: object = 0, mode: object = None) -> str | None:
    if value is None or pattern is None or replacement is None:
        return None
    text, start = to_text(value) or "", (to_int(pos) or 1) - 1
    compiled = _regex(pattern, _regex_flags(value, pattern, mode))
    template = re.sub(r"\\(\d)", r"\\g<\1>", (to_text(replacement) or "").replace("\\\\", "\0"))
    template = template.replace("\0", "\\\\")
    count = to_int(occurrence) or 0
    if count <= 0:
        return text[:start] + compiled.sub(template, text[start:])
    matches = list(compiled.finditer(text, start))
    if len(matches) < count:
        return text
    chosen = matches[count - 1]
    return text[:chosen.start()] + chosen.expand(template) + text[chosen.end():]


def regexp_substr(value: object, pattern: object, pos: object = 1, occurrence: object = 1,
                  mode: object = None) -> str | None:
    if value is None or pattern is None:
        return None
    text = to_text(value) or ""
    compiled = _regex(pattern, _regex_flags(value, pattern, mode))
    matches = list(compiled.finditer(text, (to_int(pos) or 1) - 1))
    index = (to_int(occurrence) or 1) - 1
    return matches[index].group(0) if 0 <= index < len(matches) else None


def regexp_instr(value: object, pattern: object, pos: object = 1, occurrence: object = 1,
                 option: object = 0, mode: object = None) -> int | None:
    if value is None or pattern is None:
        return None
    text = to_text(value) or ""
    compiled = _regex(pattern, _regex_flags(value, pattern, mode))
    matches = list(compiled.finditer(text, (to_int(pos) or 1) - 1))
    index = (to_int(occurrence) or 1) - 1
    if not 0 <= index < len(matches):
        return 0
    return (matches[index].end() if to_int(option) else matches[index].start()) + 1


# ---------------------------------------------------------------- numbers

def _exact(value: object) -> Decimal | None:
    """The exact decimal value (DECIMAL columns are stored as text: keep every digit)."""
    if isinstance(value, (str, bytes)):
        number, _ = parse_number_prefix(to_text(value) or "")
        return number if number is not None else Decimal(0)
    number = to_number(value)
    if number is None:
        return None
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def mysql_round(value: object, places: object = 0) -> object:
    if value is None or places is None:
        return None
    digits = to_int(places) or 0
    number = to_number(value)
    if isinstance(number, float):
        if digits <= 0:
            return int(round(Decimal(repr(number)).scaleb(digits), 0).scaleb(-digits)) \
                if digits < 0 else int(Decimal(repr(number)).quantize(1, ROUND_HALF_UP))
        return float(Decimal(repr(number)).quantize(Decimal(1).scaleb(-digits),
                                                    rounding=ROUND_HALF_UP))
    exact = _exact(value) or Decimal(0)
    rounded_exact = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP) \
        if digits >= 0 else (exact.scaleb(digits).quantize(1, ROUND_HALF_UP)).scaleb(-digits)
    if isinstance(number, int) or digits <= 0:
        return int(rounded_exact)
    return _decimal_result(rounded_exact)


def _decimal_result(value: Decimal) -> object:
    """A DECIMAL result: int when whole and scale 0, else its exact text."""
    if value == value.to_integral_value() and value.as_tuple().exponent >= 0:
        return int(value)
    return str(value)


def truncate_number(value: object, places: object) -> object:
    if value is None or places is None:
        return None
    digits = to_int(places) or 0
    number = to_number(value)
    exact = _exact(value) or Decimal(0)
    cut = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN) if digits >= 0 \
        else exact.scaleb(digits).quantize(1, ROUND_DOWN).scaleb(-digits)
    if isinstance(number, float):
        return float(cut)
    if isinstance(number, int) or digits <= 0:
        return int(cut)
    return _decimal_result(cut)


@_nulls
def ceil(value: object) -> object:
    number = to_number(value)
    return number if isinstance(number, int) else math.ceil(number)  # type: ignore


@_nulls
def floor(value: object) -> object:
    number = to_number(value)
    return number if isinstance(number, int) else math.floor(number)  # type: ignore


def mod(a: object, b: object) -> object:
    x, y = to_number(a), to_number(b)
    if x is None or y is None or y == 0:
        return None
    if isinstance(x, int) and isinstance(y, int):
        return int(math.fmod(x, y)) if abs(x) < 2**53 else x - y * int(x / y)
    return float(Decimal(repr(float(x))) % Decimal(repr(float(y))))


_ONE_ARGUMENT = object()  # LOG(x): no base given (LOG(b, NULL) is NULL, not LOG(b))


def log(a: object, b: object = _ONE_ARGUMENT) -> float | None:
    if b is _ONE_ARGUMENT:
        x = to_number(a)
        return math.log(x) if x is not None and x > 0 else None
    base, x = to_number(a), to_number(b)
    if base is None or x is None or base <= 0 or base == 1 or x <= 0:
        return None
    return math.log(x) / math.log(base)


def cot(a: object) -> float | None:
    """COT(x): 1 / TAN(x); MySQL refuses COT(0) as out of the DOUBLE range (1690)."""
    x = to_number(a)
    if x is None:
        return None
    tangent = math.tan(x)
    if tangent == 0:
        raise errors.error(errors.ER_DATA_OUT_OF_RANGE,
                           f"DOUBLE value is out of range in 'cot({to_text(a)})'")
    return 1 / tangent


def _log_with(fn: Callable[[float], float]) -> Callable[[object], float | None]:
    def compute(a: object) -> float | None:
        x = to_number(a)
        return fn(float(x)) if x is not None and x > 0 else None
    return compute


@_nulls
def sign(value: object) -> int:
    x = to_number(value) or 0
    return (x > 0) - (x < 0)


@_nulls
def bit_count(value: object) -> int:
    return (bit_operand(value) or 0).bit_count()


def compare(a: object, b: object) -> int | None:
    """MYSQL_CMP: MySQL's comparison of two values without a column collation: strings
    case-insensitively, a string against a number as numbers."""
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        x: Any = a.casefold()
        y: Any = b.casefold()
    elif isinstance(a, bytes) and isinstance(b, bytes):
        x, y = a, b
    elif isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        x, y = float(to_number(a) or 0), float(to_number(b) or 0)
    else:
        x, y = a, b
    return (x > y) - (x < y)


def _refuse(construct: object) -> object:
    """MYSQL_REFUSE: generated SQL stops here with 1235 naming the construct."""
    raise errors.error(errors.ER_NOT_SUPPORTED_YET,
                       f"This version of marmotdb doesn't yet support '{construct}'")


def _foreign_key_fails(message: object) -> object:
    """MYSQL_FK_FAILS: a FOREIGN KEY an ALTER TABLE adds finds a row without its parent."""
    raise errors.error(errors.ER_NO_REFERENCED_ROW_2, "Cannot add or update a child row: a "
                       f"foreign key constraint fails ({message})")


def mysql_xor(a: object, b: object) -> int | None:
    if a is None or b is None:
        return None
    return int(bool(to_number(a)) != bool(to_number(b)))


def bit_operand(value: object) -> int | None:
    """A bit operator's operand as MySQL reads it: an unsigned 64-bit number. Integers keep
    their two's-complement bits (-1 is 2^64-1), other numbers are rounded and saturate at the
    signed/unsigned 64-bit limits first (``1e20 | 0`` is 2^64-1, ``-1e20 | 0`` is 2^63), a
    stored BIGINT UNSIGNED from 2^63 (uint64.py's BLOB) is its number."""
    if value is None:
        return None
    if uint64.is_high_blob(value):
        return int.from_bytes(value, "big")  # type: ignore[arg-type]
    number = to_int(value) or 0
    return max(uint64.INT64_MIN, min(number, uint64.UINT64_MAX)) & uint64.UINT64_MAX


def _unsigned_bits(operation: Callable[[int, int], int]) -> Callable[[object, object],
                                                                      int | str | None]:
    """A two-operand bit operator over bit_operand's numbers; its result is unsigned 64-bit,
    from 2^63 on exact decimal text (uint64.py: SQLite has no integer for it)."""
    def compute(a: object, b: object) -> int | str | None:
        x, y = bit_operand(a), bit_operand(b)
        if x is None or y is None:
            return None
        return uint64.in_flight(operation(x, y) & uint64.UINT64_MAX)
    return compute


def _shift(x: int, count: int, left: bool) -> int:
    """MySQL shifts by an unsigned count: 64 or more (a negative count too) gives 0."""
    if count >= 64:
        return 0
    return x << count if left else x >> count


def bitwise_not(a: object) -> int | str | None:
    x = bit_operand(a)
    return None if x is None else uint64.in_flight(x ^ uint64.UINT64_MAX)


bitwise_xor = _unsigned_bits(lambda x, y: x ^ y)
BIT_OPERATORS: list[Scalar] = [
    ("BIT_XOR_OP", bitwise_xor, 2, True), ("BIT_OR_OP", _unsigned_bits(lambda x, y: x | y), 2,
                                           True),
    ("BIT_AND_OP", _unsigned_bits(lambda x, y: x & y), 2, True),
    ("BIT_NOT_OP", bitwise_not, 1, True),
    ("SHIFT_LEFT_OP", _unsigned_bits(lambda x, y: _shift(x, y, True)), 2, True),
    ("SHIFT_RIGHT_OP", _unsigned_bits(lambda x, y: _shift(x, y, False)), 2, True),
]


_PURE_SCALARS: list[Scalar] = [
    ("CONCAT_WS", concat_ws, -1, True), ("SUBSTRING_INDEX", substring_index, 3, True),
    ("FIND_IN_SET", find_in_set, 2, True), ("LPAD", _pad(True), 3, True),
    ("RPAD", _pad(False), 3, True), ("LOCATE", locate, -1, True), ("POSITION", locate, 2, True),
    ("INSTR", instr, 2, True), ("SUBSTRING", substring_any, -1, True),
    ("SUBSTR", substring_any, -1, True), ("MID", substring_any, 3, True),
    ("TRIM", mysql_trim, -1, True), ("LEFT", left, 2, True), ("RIGHT", right, 2, True),
    ("REPEAT", repeat, 2, True), ("INSERT", insert_string, 4, True), ("FIELD", field_index, -1,
                                                                        True),
    ("ELT", elt, -1, True), ("LENGTH", octet_length, 1, True),
    ("OCTET_LENGTH", octet_length, 1, True), ("CHAR_LENGTH", char_length, 1, True),
    ("CHARACTER_LENGTH", char_length, 1, True),
    ("BIT_LENGTH", lambda v: None if v is None else 8 * octet_length(v), 1, True),
    ("ASCII", ascii_code, 1, True), ("ORD", ord_code, 1, True), ("UPPER", upper, 1, True),
    ("UCASE", upper, 1, True), ("LOWER", lower, 1, True), ("LCASE", lower, 1, True),
    ("REVERSE", reverse, 1, True), ("SPACE", space, 1, True), ("STRCMP", strcmp, 2, True),
    ("HEX", hex_text, 1, True), ("UNHEX", unhex, 1, True), ("CONV", conv, 3, True),
    ("BIN", lambda v: None if v is None else conv(v, 10, 2), 1, True),
    ("OCT", lambda v: None if v is None else conv(v, 10, 8), 1, True),
    ("QUOTE", lambda v: "NULL" if v is None else quote(v), 1, True),
    ("SOUNDEX", soundex, 1, True), ("FORMAT", format_number, -1, True),
    ("TO_BASE64", to_base64, 1, True), ("FROM_BASE64", from_base64, 1, True),
    ("MD5", md5, 1, True), ("SHA1", sha1, 1, True), ("SHA", sha1, 1, True),
    ("SHA2", sha2, 2, True), ("CRC32", crc32, 1, True), ("INET_ATON", inet_aton, 1, True),
    ("INET_NTOA", inet_ntoa, 1, True), ("INET6_ATON", inet6_aton, 1, True),
    ("INET6_NTOA", inet6_ntoa, 1, True), ("IS_IPV4", is_ipv4, 1, True),
    ("IS_IPV6", is_ipv6, 1, True), ("IS_UUID", is_uuid, 1, True),
    ("UUID_TO_BIN", uuid_to_bin, -1, True), ("BIN_TO_UUID", bin_to_uuid, -1, True),
    ("LIKE_BINARY", like_binary, 2, True), ("REGEXP_LIKE", regexp_like, -1, True),
    ("REGEXP_REPLACE", regexp_replace, -1, True),
    ("REGEXP_SUBSTR", regexp_substr, -1, True), ("REGEXP_INSTR", regexp_instr, -1, True),
    ("ROUND", mysql_round, -1, True), ("TRUNCATE", truncate_number, 2, True),
    ("CEIL", ceil, 1, True), ("CEILING", ceil, 1, True), ("FLOOR", floor, 1, True),
    ("MOD", mod, 2, True), ("LOG", log, -1, True), ("LN", log, 1, True), ("COT", cot, 1, True),
    ("LOG2", _log_with(math.log2), 1, True), ("LOG10", _log_with(math.log10), 1, True),
    ("SIGN", sign, 1, True), ("BIT_COUNT", bit_count, 1, True), ("XOR", mysql_xor, 2, True),
    ("CMP", compare, 2, True), ("REFUSE", _refuse, 1, False),
    ("FK_FAILS", _foreign_key_fails, 1, False), *BIT_OPERATORS,
    ("MATCH_AGAINST", fulltext.match_against, -1, True),
]


# ---------------------------------------------------------------- dates and times

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ER_TRUNCATED_WRONG_VALUE = 1292


_TIME_LIKE_RE = re.compile(r"^\s*-?\d+:\d")


def _datetime_arg(value: object) -> coltypes.DateTimeParts | None:
    """A function argument as a date-time; '10:11:12' reads as a TIME (today's date zero)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) and _TIME_LIKE_RE.match(to_text(value) or ""):
        time_parts = parse_time(value)
        if time_parts is not None and not time_parts[0]:
            return (0, 0, 0, time_parts[1] % 24, time_parts[2], time_parts[3], time_parts[4])
    stamp = parse_datetime(value)
    if stamp is None and isinstance(value, (str, bytes)):
        time_parts = parse_time(value) if ":" in (to_text(value) or "") else None
        if time_parts is not None and not time_parts[0]:
            return (0, 0, 0, time_parts[1] % 24, time_parts[2], time_parts[3], time_parts[4])
    return stamp


def _real_date(stamp: coltypes.DateTimeParts | None) -> _dt.datetime | None:
    if stamp is None or stamp[1] == 0 or stamp[2] == 0 or stamp[0] == 0:
        return None
    return _dt.datetime(*stamp)


def daynr(year: int, month: int, day: int) -> int:
    """MySQL's calc_daynr: days since year 0 (TO_DAYS)."""
    if year == 0 and month == 0:
        return 0
    delsum = 365 * year + 31 * (month - 1)
    if month <= 2:
        year -= 1
    else:
        delsum -= (month * 4 + 23) // 10
    temp = ((year // 100 + 1) * 3) // 4
    return delsum + year // 4 - temp + day


def _weekday(day_number: int, sunday_first: bool) -> int:
    return (day_number + 5 + (1 if sunday_first else 0)) % 7


def _days_in_year(year: int) -> int:
    return 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365


WEEK_MONDAY_FIRST, WEEK_YEAR, WEEK_FIRST_WEEKDAY = 1, 2, 4


def calc_week(year: int, month: int, day: int, behaviour: int) -> tuple[int, int]:
    """MySQL's calc_week: (week, year the week belongs to)."""
    number = daynr(year, month, day)
    first = daynr(year, 1, 1)
    monday_first = behaviour & WEEK_MONDAY_FIRST
    week_year = behaviour & WEEK_YEAR
    first_weekday = behaviour & WEEK_FIRST_WEEKDAY
    weekday = _weekday(first, not monday_first)
    if month == 1 and day <= 7 - weekday:
        if not week_year and ((first_weekday and weekday != 0) or
                              (not first_weekday and weekday >= 4)):
            return 0, year
        week_year = 1
        year -= 1
        days = _days_in_year(year)
        first -= days
        weekday = (weekday + 53 * 7 - days) % 7
    if (first_weekday and weekday != 0) or (not first_weekday and weekday >= 4):
        days = number - (first + (7 - weekday))
    else:
        days = number - (first - weekday)
    if week_year and days >= 52 * 7:
        weekday = (weekday + _days_in_year(year)) % 7
        if (not first_weekday and weekday < 4) or (first_weekday and weekday == 0):
            return 1, year + 1
    return days // 7 + 1, year


def week_mode(mode: int) -> int:
    behaviour = mode & 7
    if not behaviour & WEEK_MONDAY_FIRST:
        behaviour ^= WEEK_FIRST_WEEKDAY
    return behaviour


def _suffix(day: int) -> str:
    if 10 < day % 100 < 14:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _format_part(code: str, s: coltypes.DateTimeParts) -> str:
    y, mo, d, h, mi, sec, us = s
    hour12 = h % 12 or 12
    real = _real_date(s)
    weekday = real.weekday() if real else 0
    table: dict[str, Callable[[], str]] = {
        "a": lambda: _DAYS[weekday][:3], "b": lambda: _MONTHS[mo - 1][:3] if mo else "",
        "c": lambda: str(mo), "D": lambda: f"{d}{_suffix(d)}", "d": lambda: f"{d:02d}",
        "e": lambda: str(d), "f": lambda: f"{us:06d}", "H": lambda: f"{h:02d}",
        "h": lambda: f"{hour12:02d}", "I": lambda: f"{hour12:02d}", "i": lambda: f"{mi:02d}",
        "j": lambda: f"{daynr(y, mo, d) - daynr(y, 1, 1) + 1:03d}", "k": lambda: str(h),
        "l": lambda: str(hour12), "M": lambda: _MONTHS[mo - 1] if mo else "",
        "m": lambda: f"{mo:02d}", "p": lambda: "AM" if h < 12 else "PM",
        "r": lambda: f"{hour12:02d}:{mi:02d}:{sec:02d} {'AM' if h < 12 else 'PM'}",
        "S": lambda: f"{sec:02d}", "s": lambda: f"{sec:02d}",
        "T": lambda: f"{h:02d}:{mi:02d}:{sec:02d}",
        "U": lambda: f"{calc_week(y, mo, d, WEEK_FIRST_WEEKDAY)[0]:02d}",
        "u": lambda: f"{calc_week(y, mo, d, WEEK_MONDAY_FIRST)[0]:02d}",
        "V": lambda: f"{calc_week(y, mo, d, WEEK_YEAR | WEEK_FIRST_WEEKDAY)[0]:02d}",
        "v": lambda: f"{calc_week(y, mo, d, WEEK_MONDAY_FIRST | WEEK_YEAR)[0]:02d}",
        "W": lambda: _DAYS[weekday], "w": lambda: str((weekday + 1) % 7),
        "X": lambda: f"{calc_week(y, mo, d, WEEK_YEAR | WEEK_FIRST_WEEKDAY)[1]:04d}",
        "x": lambda: f"{calc_week(y, mo, d, WEEK_MONDAY_FIRST | WEEK_YEAR)[1]:04d}",
        "Y": lambda: f"{y:04d}", "y": lambda: f"{y % 100:02d}",
    }
    produce = table.get(code)
    return produce() if produce else code


def date_format(value: object, fmt: object) -> str | None:
    stamp = _datetime_arg(value)
    if stamp is None or fmt is None:
        return None
    pattern, out, i = to_text(fmt) or "", [], 0
    while i < len(pattern):
        if pattern[i] == "%" and i + 1 < len(pattern):
            out.append(_format_part(pattern[i + 1], stamp))
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def time_format(value: object, fmt: object) -> str | None:
    parts = parse_time(value) if value is not None else None
    if parts is None or fmt is None:
        return None
    _, hours, minutes, seconds, micro = parts
    stamp = (0, 0, 0, hours, minutes, seconds, micro)
    pattern = re.sub(r"%([^HkhIlipSsTrf%])", "", to_text(fmt) or "")
    text = date_format_stamp(stamp, pattern)
    return ("-" if parts[0] else "") + text.replace(f"{hours % 24:02d}", f"{hours:02d}", 1) \
        if hours >= 24 else ("-" if parts[0] else "") + text


def date_format_stamp(stamp: coltypes.DateTimeParts, pattern: str) -> str:
    return re.sub(r"%(.)", lambda m: _format_part(m.group(1), stamp), pattern)


_STR_TO_DATE_FIELDS = {"Y": (r"\d{1,4}", "year"), "y": (r"\d{1,2}", "year2"),
                       "m": (r"\d{1,2}", "month"), "c": (r"\d{1,2}", "month"),
                       "d": (r"\d{1,2}", "day"), "e": (r"\d{1,2}", "day"),
                       "D": (r"\d{1,2}(?:st|nd|rd|th)", "dayth"),
                       "H": (r"\d{1,2}", "hour"), "k": (r"\d{1,2}", "hour"),
                       "h": (r"\d{1,2}", "hour12"), "I": (r"\d{1,2}", "hour12"),
                       "l": (r"\d{1,2}", "hour12"), "i": (r"\d{1,2}", "minute"),
                       "S": (r"\d{1,2}", "second"), "s": (r"\d{1,2}", "second"),
                       "f": (r"\d{1,6}", "micro"), "p": (r"AM|PM|am|pm", "ampm"),
                       "M": (r"[A-Za-z]+", "monthname"), "b": (r"[A-Za-z]{3}", "monthname"),
                       "W": (r"[A-Za-z]+", "dayname"), "a": (r"[A-Za-z]{3}", "dayname"),
                       "j": (r"\d{1,3}", "yday"),
                       "T": (r"\d{1,2}:\d{1,2}:\d{1,2}", "hms"),
                       "r": (r"\d{1,2}:\d{1,2}:\d{1,2}\s*(?:AM|PM|am|pm)", "hms12")}


def str_to_date(value: object, fmt: object) -> str | None:
    if value is None or fmt is None:
        return None
    text, pattern = (to_text(value) or "").strip(), to_text(fmt) or ""
    regex, names = _str_to_date_regex(pattern)
    found = re.match(regex, text, re.IGNORECASE)
    if not found:
        return None
    fields: dict[str, str] = {n: v for n, v in zip(names, found.groups())}
    return _assemble_date(fields, names)


def _str_to_date_regex(pattern: str) -> tuple[str, list[str]]:
    regex, names, i = "", [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "%" and i + 1 < len(pattern):
            code = pattern[i + 1]
            spec = _STR_TO_DATE_FIELDS.get(code)
            if spec is None:
                regex += re.escape(code)
            else:
                regex += f"({spec[0]})"
                names.append(spec[1])
            i += 2
            continue
        regex += r"\s*" if char.isspace() else re.escape(char)
        i += 1
    return "^" + regex, names


def _assemble_date(fields: dict[str, str], names: list[str]) -> str | None:
    y = int(fields["year"]) if "year" in fields else None
    if "year2" in fields:
        y2 = int(fields["year2"])
        y = 2000 + y2 if y2 < 70 else 1900 + y2
    month = int(fields.get("month", 0))
    if "monthname" in fields:
        name = fields["monthname"].lower()
        month = next((i + 1 for i, m in enumerate(_MONTHS) if m.lower().startswith(name)), 0)
        if not month:
            return None
    day = int(fields.get("day", re.sub(r"\D", "", fields.get("dayth", "0")) or 0))
    hour, minute, second = (int(fields.get(k, 0)) for k in ("hour", "minute", "second"))
    for key in ("hms", "hms12"):
        if key in fields:
            hour, minute, second = (int(p) for p in re.findall(r"\d+", fields[key])[:3])
    if "hour12" in fields:
        hour = int(fields["hour12"]) % 12
    ampm = (fields.get("ampm") or fields.get("hms12", "")[-2:]).upper()
    if ampm == "PM":
        hour = hour % 12 + 12
    micro = int(fields.get("micro", "0").ljust(6, "0"))
    has_date = any(n in names for n in ("year", "year2", "month", "monthname", "day", "dayth",
                                        "yday"))
    has_time = any(n in names for n in ("hour", "hour12", "minute", "second", "micro", "hms",
                                        "hms12"))
    if "yday" in fields and y is not None:
        start = _dt.date(y, 1, 1) + _dt.timedelta(days=int(fields["yday"]) - 1)
        month, day = start.month, start.day
    stamp = (y or 0, month, day, hour, minute, second, micro)
    if hour > 23 or minute > 59 or second > 59 or month > 12:
        return None
    if month and day and day > _dt_days(stamp[0], month):
        return None
    if has_date and not has_time:
        return format_date(stamp)
    if has_time and not has_date:
        return format_time((False, hour, minute, second, micro), 6 if micro else 0)
    return format_datetime(stamp, 6 if "micro" in fields else 0)


def _dt_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if _days_in_year(year) == 366 else 28
    return 30 if month in (4, 6, 9, 11) else 31


_UNIT_FIELDS = {  # unit -> the fields its interval text fills, most significant first
    "MICROSECOND": ("us",), "SECOND": ("s",), "MINUTE": ("mi",), "HOUR": ("h",),
    "DAY": ("d",), "WEEK": ("w",), "MONTH": ("mo",), "QUARTER": ("q",), "YEAR": ("y",),
    "SECOND_MICROSECOND": ("s", "us"), "MINUTE_MICROSECOND": ("mi", "s", "us"),
    "MINUTE_SECOND": ("mi", "s"), "HOUR_MICROSECOND": ("h", "mi", "s", "us"),
    "HOUR_SECOND": ("h", "mi", "s"), "HOUR_MINUTE": ("h", "mi"),
    "DAY_MICROSECOND": ("d", "h", "mi", "s", "us"), "DAY_SECOND": ("d", "h", "mi", "s"),
    "DAY_MINUTE": ("d", "h", "mi"), "DAY_HOUR": ("d", "h"), "YEAR_MONTH": ("y", "mo"),
}
_DATE_UNITS = frozenset({"DAY", "WEEK", "MONTH", "QUARTER", "YEAR", "YEAR_MONTH"})


def _interval(amount: object, unit: str) -> dict[str, int] | None:
    fields = _UNIT_FIELDS.get(unit)
    if fields is None:
        raise errors.error(errors.ER_PARSE_ERROR, f"Unknown interval unit '{unit}'")
    if len(fields) == 1:
        number = to_number(amount)
        if number is None:
            return None
        if fields[0] in ("s",) and not isinstance(number, int):
            exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
            micros = int((exact * 1_000_000).to_integral_value(ROUND_HALF_UP))
            return {"us": micros}
        return {fields[0]: to_int(number) or 0}
    text = (to_text(amount) or "").strip()
    negative = text.startswith("-")
    numbers = re.findall(r"\d+", text)
    if not numbers or len(numbers) > len(fields):
        return None
    values = dict(zip(fields[len(fields) - len(numbers):], (int(n) for n in numbers)))
    if "us" in values and len(numbers) == len(fields):
        digits = re.findall(r"\d+", text)[-1]
        values["us"] = int(digits.ljust(6, "0")[:6])
    return {k: -v if negative else v for k, v in values.items()}


def _add_interval(stamp: coltypes.DateTimeParts, delta: dict[str, int]
                  ) -> coltypes.DateTimeParts | None:
    months = delta.get("y", 0) * 12 + delta.get("q", 0) * 3 + delta.get("mo", 0)
    y, mo, d = stamp[0], stamp[1], stamp[2]
    if months:
        total = y * 12 + (mo - 1) + months
        y, mo = divmod(total, 12)
        mo += 1
        if not 1 <= y <= 9999:
            return None
        d = min(d, _dt_days(y, mo))
    try:
        moment = _dt.datetime(y, mo, d, *stamp[3:])
        moment += _dt.timedelta(weeks=delta.get("w", 0), days=delta.get("d", 0),
                                hours=delta.get("h", 0), minutes=delta.get("mi", 0),
                                seconds=delta.get("s", 0), microseconds=delta.get("us", 0))
    except (ValueError, OverflowError):
        return None
    return _stamp(moment)


def date_add(value: object, amount: object, unit: object, sign: int = 1) -> str | None:
    if value is None or amount is None:
        return None
    unit_name = str(unit).upper()
    stamp = parse_datetime(value)
    if stamp is None or _real_date(stamp) is None:
        return _time_add(value, amount, unit_name, sign)
    delta = _interval(amount, unit_name)
    if delta is None:
        return None
    result = _add_interval(stamp, {k: sign * v for k, v in delta.items()})
    if result is None:
        return None
    text = to_text(value) or ""
    date_only = (isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)) or (
        isinstance(value, (str, bytes)) and len(text.strip()) <= 10 and ":" not in text)
    if unit_name in _DATE_UNITS and date_only:
        return format_date(result)
    fractional = result[6] or "us" in delta or "." in text
    return format_datetime(result, 6 if fractional else 0)


def _time_add(value: object, amount: object, unit: str, sign: int) -> str | None:
    parts = parse_time(value) if ":" in (to_text(value) or "") else None
    delta = _interval(amount, unit)
    if parts is None or delta is None or unit in _DATE_UNITS - {"DAY", "WEEK"}:
        return None
    micros = _time_micros(parts) + sign * (
        delta.get("us", 0) + 1_000_000 * (delta.get("s", 0) + 60 * delta.get("mi", 0) + 3600 * (
            delta.get("h", 0) + 24 * delta.get("d", 0) + 168 * delta.get("w", 0))))
    return _time_from_micros(micros)


def _time_micros(parts: coltypes.TimeParts) -> int:
    negative, hours, minutes, seconds, micro = parts
    total = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micro
    return -total if negative else total


def _time_from_micros(micros: int, fsp: int | None = None) -> str:
    negative, micros = micros < 0, abs(micros)
    seconds, micro = divmod(micros, 1_000_000)
    hours = min(seconds // 3600, coltypes.TIME_HOURS_MAX)
    parts = (negative, hours, seconds // 60 % 60, seconds % 60, micro)
    return format_time(parts, (6 if micro else 0) if fsp is None else fsp)


def date_sub(value: object, amount: object, unit: object) -> str | None:
    return date_add(value, amount, unit, -1)


def adddate(value: object, amount: object, unit: object = "DAY") -> str | None:
    return date_add(value, amount, unit)


def subdate(value: object, amount: object, unit: object = "DAY") -> str | None:
    return date_add(value, amount, unit, -1)


def timestampadd(unit: object, amount: object, value: object) -> str | None:
    return date_add(value, amount, unit)


def _date_part(index: int) -> Callable[[object], int | None]:
    def part(value: object) -> int | None:
        stamp = _datetime_arg(value)
        return None if stamp is None else stamp[index]
    return part


def _time_part(index: int) -> Callable[[object], int | None]:
    def part(value: object) -> int | None:
        if value is None:
            return None
        text = to_text(value) or ""
        if isinstance(value, (str, bytes)) and len(text.strip()) > 10 or "-" in text.strip()[1:]:
            stamp = parse_datetime(value)
            if stamp is not None:
                return stamp[3 + index]
        parts = parse_time(value)
        return None if parts is None else parts[1 + index]
    return part


def _with_date(fn: Callable[[_dt.datetime], object]) -> Callable[[object], object]:
    def compute(value: object) -> object:
        real = _real_date(_datetime_arg(value))
        return None if real is None else fn(real)
    return compute


def date_only(value: object) -> str | None:
    stamp = _datetime_arg(value)
    return None if stamp is None else format_date(stamp)


def time_only(value: object) -> str | None:
    if value is None:
        return None
    text = to_text(value) or ""
    stamp = parse_datetime(value) if "-" in text.strip()[1:] else None
    if stamp is not None:
        return format_time((False, stamp[3], stamp[4], stamp[5], stamp[6]),
                           6 if stamp[6] else 0)
    parts = parse_time(value)
    return None if parts is None else format_time(parts, 6 if parts[4] else 0)


def week(value: object, mode: object = 0) -> int | None:
    real = _real_date(_datetime_arg(value))
    if real is None:
        return None
    return calc_week(real.year, real.month, real.day, week_mode(to_int(mode) or 0))[0]


def yearweek(value: object, mode: object = 0) -> int | None:
    real = _real_date(_datetime_arg(value))
    if real is None:
        return None
    number, year = calc_week(real.year, real.month, real.day,
                             week_mode(to_int(mode) or 0) | WEEK_YEAR)
    return year * 100 + number


def to_days(value: object) -> int | None:
    stamp = _datetime_arg(value)
    return None if stamp is None or stamp[1] == 0 else daynr(stamp[0], stamp[1], stamp[2])


def from_days(value: object) -> str | None:
    number = to_int(value)
    if number is None:
        return None
    if number < 366:
        return "0000-00-00"
    try:
        day = _dt.date.fromordinal(number - 365)
    except (ValueError, OverflowError):
        return None
    return day.isoformat()


def to_seconds(value: object) -> int | None:
    stamp = _datetime_arg(value)
    if stamp is None:
        return None
    return daynr(stamp[0], stamp[1], stamp[2]) * 86400 + stamp[3] * 3600 + stamp[4] * 60 \
        + stamp[5]


def makedate(year: object, day_of_year: object) -> str | None:
    y, n = to_int(year), to_int(day_of_year)
    if y is None or n is None or n <= 0:
        return None
    if y < 70:
        y += 2000
    elif y < 100:
        y += 1900
    try:
        return (_dt.date(y, 1, 1) + _dt.timedelta(days=n - 1)).isoformat()
    except (ValueError, OverflowError):
        return None


def maketime(hours: object, minutes: object, seconds: object) -> str | None:
    h, m, s = to_int(hours), to_int(minutes), to_number(seconds)
    if h is None or m is None or s is None or not 0 <= m < 60 or not 0 <= s < 60:
        return None
    exact = Decimal(repr(s)) if isinstance(s, float) else Decimal(s)
    micro = int((exact % 1) * 1_000_000)
    parts = (h < 0, min(abs(h), coltypes.TIME_HOURS_MAX), m, int(exact), micro)
    return format_time(parts, 6 if micro else 0)


def time_to_sec(value: object) -> int | None:
    parts = _time_arg(value)
    if parts is None:
        return None
    micros = _time_micros(parts)  # MySQL 8's TIME_TO_SEC is an integer: the fraction is dropped
    return -(-micros // 1_000_000) if micros < 0 else micros // 1_000_000


def _time_arg(value: object) -> coltypes.TimeParts | None:
    if value is None:
        return None
    text = to_text(value) or ""
    if "-" in text.strip()[1:]:
        stamp = parse_datetime(value)
        if stamp is not None:
            return (False, stamp[3], stamp[4], stamp[5], stamp[6])
    return parse_time(value)


def sec_to_time(value: object) -> str | None:
    number = to_number(value)
    if number is None:
        return None
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    return _time_from_micros(int(exact * 1_000_000))


def timediff(a: object, b: object) -> str | None:
    first, second = _timeish_micros(a), _timeish_micros(b)
    if first is None or second is None or first[1] != second[1]:
        return None
    return _time_from_micros(first[0] - second[0])


def _timeish_micros(value: object) -> tuple[int, bool] | None:
    """(microseconds, is a datetime) of a TIME or DATETIME value."""
    if value is None:
        return None
    text = to_text(value) or ""
    if "-" in text.strip()[1:]:
        real = _real_date(parse_datetime(value))
        if real is None:
            return None
        return (real - _dt.datetime(1, 1, 1)) // _dt.timedelta(microseconds=1), True
    parts = parse_time(value)
    return None if parts is None else (_time_micros(parts), False)


def addtime(a: object, b: object, sign: int = 1) -> str | None:
    if a is None or b is None:
        return None
    delta = parse_time(b)
    if delta is None:
        return None
    micros = sign * _time_micros(delta)
    text = to_text(a) or ""
    if "-" in text.strip()[1:]:
        stamp = parse_datetime(a)
        real = _real_date(stamp)
        if real is None or stamp is None:
            return None
        moment = real + _dt.timedelta(microseconds=micros)
        return format_datetime(_stamp(moment), 6 if moment.microsecond else 0)
    base = parse_time(a)
    return None if base is None else _time_from_micros(_time_micros(base) + micros)


def timestamp(value: object, time: object = "0") -> str | None:
    """TIMESTAMP(expr[, time]): ``expr`` as a DATETIME, with ``time`` added; as many
    fractional digits as the arguments carry (MySQL's precision of a constant). Registered
    for one and for two arguments, so a NULL ``time`` is NULL, not the default."""
    stamp = _real_date(_datetime_arg(value))
    delta = parse_time(time)
    if stamp is None or delta is None:
        return None
    moment = stamp + _dt.timedelta(microseconds=_time_micros(delta))
    return format_datetime(_stamp(moment), max(_fraction_digits(value), _fraction_digits(time)))


def _fraction_digits(value: object) -> int:
    if isinstance(value, (_dt.datetime, _dt.time, _dt.timedelta)):
        return 6
    found = re.search(r"[.](\d+)\s*$", to_text(value) or "") if isinstance(value, str) else None
    return min(len(found.group(1)), 6) if found else 0


def subtime(a: object, b: object) -> str | None:
    return addtime(a, b, -1)


def datediff(a: object, b: object) -> int | None:
    x, y = _datetime_arg(a), _datetime_arg(b)
    if x is None or y is None or x[1] == 0 or y[1] == 0:
        return None
    return daynr(x[0], x[1], x[2]) - daynr(y[0], y[1], y[2])


_UNIT_MICROS = {"MICROSECOND": 1, "SECOND": 1_000_000, "MINUTE": 60_000_000,
                "HOUR": 3_600_000_000, "DAY": 86_400_000_000, "WEEK": 604_800_000_000}


def timestampdiff(unit: object, a: object, b: object) -> int | None:
    x, y = _real_date(_datetime_arg(a)), _real_date(_datetime_arg(b))
    if x is None or y is None:
        return None
    name = str(unit).upper()
    if name in ("MONTH", "QUARTER", "YEAR"):
        months = _months_between(x, y)
        return months // {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[name] if months >= 0 else \
            -((-months) // {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[name])
    size = _UNIT_MICROS.get(name)
    if size is None:
        raise errors.error(errors.ER_PARSE_ERROR, f"Unknown TIMESTAMPDIFF unit '{name}'")
    micros = (y - x) // _dt.timedelta(microseconds=1)
    return micros // size if micros >= 0 else -((-micros) // size)


def _months_between(x: _dt.datetime, y: _dt.datetime) -> int:
    if y < x:
        return -_months_between(y, x)
    months = (y.year - x.year) * 12 + (y.month - x.month)
    if (y.day, y.time()) < (x.day, x.time()):
        months -= 1
    return months


_EXTRACT = {"YEAR": lambda s: s[0], "MONTH": lambda s: s[1], "DAY": lambda s: s[2],
            "HOUR": lambda s: s[3], "MINUTE": lambda s: s[4], "SECOND": lambda s: s[5],
            "MICROSECOND": lambda s: s[6], "QUARTER": lambda s: (s[1] + 2) // 3,
            "WEEK": lambda s: calc_week(s[0], s[1], s[2], week_mode(0))[0],
            "YEAR_MONTH": lambda s: s[0] * 100 + s[1],
            "DAY_HOUR": lambda s: s[2] * 100 + s[3],
            "DAY_MINUTE": lambda s: (s[2] * 100 + s[3]) * 100 + s[4],
            "DAY_SECOND": lambda s: ((s[2] * 100 + s[3]) * 100 + s[4]) * 100 + s[5],
            "HOUR_MINUTE": lambda s: s[3] * 100 + s[4],
            "HOUR_SECOND": lambda s: (s[3] * 100 + s[4]) * 100 + s[5],
            "MINUTE_SECOND": lambda s: s[4] * 100 + s[5],
            "SECOND_MICROSECOND": lambda s: s[5] * 1_000_000 + s[6],
            "DAY_MICROSECOND": lambda s: (((s[2] * 100 + s[3]) * 100 + s[4]) * 100 + s[5])
            * 1_000_000 + s[6],
            "HOUR_MICROSECOND": lambda s: ((s[3] * 100 + s[4]) * 100 + s[5]) * 1_000_000 + s[6],
            "MINUTE_MICROSECOND": lambda s: (s[4] * 100 + s[5]) * 1_000_000 + s[6]}


def extract(unit: object, value: object) -> int | None:
    name = str(unit).upper()
    if value is None:
        return None
    getter = _EXTRACT.get(name)
    if getter is None:
        raise errors.error(errors.ER_PARSE_ERROR, f"Unknown EXTRACT unit '{name}'")
    stamp = _datetime_arg(value)
    if stamp is None:
        parts = parse_time(value)
        if parts is None:
            return None
        stamp = (0, 0, 0, parts[1], parts[2], parts[3], parts[4])
    return int(getter(stamp))


def last_day(value: object) -> str | None:
    real = _real_date(_datetime_arg(value))
    if real is None:
        return None
    return format_date((real.year, real.month, _dt_days(real.year, real.month), 0, 0, 0, 0))


def period_add(period: object, months: object) -> int | None:
    p, n = to_int(period), to_int(months)
    if p is None or n is None:
        return None
    year, month = divmod(p, 100)
    if year < 100:
        year += 2000 if year < 70 else 1900
    total = year * 12 + month - 1 + n
    return (total // 12) * 100 + total % 12 + 1


def period_diff(a: object, b: object) -> int | None:
    x, y = to_int(a), to_int(b)
    if x is None or y is None:
        return None

    def months(p: int) -> int:
        year, month = divmod(p, 100)
        if year < 100:
            year += 2000 if year < 70 else 1900
        return year * 12 + month - 1
    return months(x) - months(y)


def convert_tz(value: object, source: object, target: object) -> str | None:
    stamp = parse_datetime(value) if value is not None else None
    real = _real_date(stamp)
    if real is None or source is None or target is None or stamp is None:
        return None
    try:
        aware = real.replace(tzinfo=zone(to_text(source) or ""))
        moved = aware.astimezone(zone(to_text(target) or "")).replace(tzinfo=None)
    except errors.MarmotError:
        return None
    return format_datetime(_stamp(moved), 6 if stamp[6] else 0)


_TIME_SCALARS: list[Scalar] = [
    ("DATE_FORMAT", date_format, 2, True), ("TIME_FORMAT", time_format, 2, True),
    ("STR_TO_DATE", str_to_date, 2, True), ("DATE_ADD", date_add, 3, True),
    ("DATE_SUB", date_sub, 3, True), ("ADDDATE", adddate, -1, True),
    ("SUBDATE", subdate, -1, True), ("TIMESTAMPADD", timestampadd, 3, True),
    ("DATEDIFF", datediff, 2, True), ("TIMESTAMPDIFF", timestampdiff, 3, True),
    ("CONVERT_TZ", convert_tz, 3, True), ("DATE", date_only, 1, True),
    ("TIME", time_only, 1, True), ("YEAR", _date_part(0), 1, True),
    ("MONTH", _date_part(1), 1, True), ("DAY", _date_part(2), 1, True),
    ("DAYOFMONTH", _date_part(2), 1, True), ("HOUR", _time_part(0), 1, True),
    ("MINUTE", _time_part(1), 1, True), ("SECOND", _time_part(2), 1, True),
    ("MICROSECOND", _time_part(3), 1, True),
    ("DAYOFWEEK", _with_date(lambda d: (d.weekday() + 1) % 7 + 1), 1, True),
    ("WEEKDAY", _with_date(lambda d: d.weekday()), 1, True),
    ("DAYOFYEAR", _with_date(lambda d: d.timetuple().tm_yday), 1, True),
    ("WEEK", week, -1, True), ("WEEKOFYEAR", lambda v: week(v, 3), 1, True),
    ("YEARWEEK", yearweek, -1, True),
    ("QUARTER", _with_date(lambda d: (d.month + 2) // 3), 1, True),
    ("MONTHNAME", _with_date(lambda d: _MONTHS[d.month - 1]), 1, True),
    ("DAYNAME", _with_date(lambda d: _DAYS[d.weekday()]), 1, True),
    ("LAST_DAY", last_day, 1, True), ("MAKEDATE", makedate, 2, True),
    ("MAKETIME", maketime, 3, True), ("TO_DAYS", to_days, 1, True),
    ("FROM_DAYS", from_days, 1, True), ("TO_SECONDS", to_seconds, 1, True),
    ("TIME_TO_SEC", time_to_sec, 1, True), ("SEC_TO_TIME", sec_to_time, 1, True),
    ("TIMEDIFF", timediff, 2, True), ("ADDTIME", addtime, 2, True),
    ("TIMESTAMP", timestamp, -1, True),
    ("SUBTIME", subtime, 2, True), ("EXTRACT", extract, 2, True),
    ("PERIOD_ADD", period_add, 2, True), ("PERIOD_DIFF", period_diff, 2, True),
]


# ---------------------------------------------------------------- session-bound functions

def _now_text(ctx: Any, fsp: object = 0) -> str:
    digits = _fsp(fsp)
    moment = session_now(ctx)
    return format_datetime(coltypes.round_datetime(_stamp(moment), digits) if digits
                           else _stamp(moment.replace(microsecond=0)), digits)


def _utc_now(ctx: Any) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(float(getattr(ctx, "statement_time", 0.0)),
                                      _dt.UTC).replace(tzinfo=None)


def unix_timestamp(ctx: Any, value: object = None) -> int | float | None:
    if value is None:
        return int(float(getattr(ctx, "statement_time", 0.0)))
    stamp = parse_datetime(value)
    real = _real_date(stamp)
    if real is None:
        return 0 if stamp is not None else None
    aware = real.replace(tzinfo=zone(str(getattr(ctx, "time_zone", "SYSTEM"))))
    seconds = aware.timestamp()
    return max(int(seconds), 0) if real.microsecond == 0 else max(seconds, 0.0)


def from_unixtime(ctx: Any, value: object, fmt: object = None) -> str | None:
    number = to_number(value)
    if number is None or number < 0:
        return None
    tz = zone(str(getattr(ctx, "time_zone", "SYSTEM")))
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    whole = int(exact)
    micro = int((exact - whole) * 1_000_000)
    moment = _dt.datetime.fromtimestamp(whole, tz).replace(tzinfo=None, microsecond=micro)
    stamp = _stamp(moment)
    if fmt is not None:
        return date_format(format_datetime(stamp, 6), fmt)
    return format_datetime(stamp, 6 if not isinstance(number, int) else 0)


# ---------------------------------------------------------------- JSON (json_functions.py)

# ---------------------------------------------------------------- aggregates

class _BitAggregate:
    def __init__(self, operation: Callable[[int, int], int], start: int):
        self.operation, self.value = operation, start

    def step(self, value: object) -> None:
        if value is not None:
            self.value = self.operation(self.value, bit_operand(value) or 0)

    def final(self) -> int | str:
        """Unsigned, as MySQL's (BIT_AND of no rows is 2^64-1): in flight (uint64.py)."""
        return uint64.in_flight(self.value)


class _Variance:
    def __init__(self, sample: bool, root: bool):
        self.sample, self.root, self.values = sample, root, []  # type: ignore[var-annotated]

    def step(self, value: object) -> None:
        number = to_number(value)
        if number is not None:
            self.values.append(float(number))

    def final(self) -> float | None:
        n = len(self.values)
        if n == 0 or (self.sample and n == 1):
            return None
        mean = math.fsum(self.values) / n
        variance = math.fsum((v - mean) ** 2 for v in self.values) / (n - 1 if self.sample
                                                                      else n)
        return math.sqrt(variance) if self.root else variance


class _DecimalSum:
    """SUM/AVG over DECIMAL columns: exact, like MySQL (SQLite would sum doubles)."""

    def __init__(self, average: bool):
        self.average, self.total, self.count = average, Decimal(0), 0
        self.scale = 0

    def step(self, value: object) -> None:
        exact = _exact(value)
        if exact is not None:
            self.total = _DECIMAL_CONTEXT.add(self.total, exact)
            self.count += 1
            self.scale = max(self.scale, -int(exact.as_tuple().exponent))

    def final(self) -> str | None:
        if not self.count:
            return None
        if not self.average:
            return coltypes.format_decimal(self.total, self.scale)
        mean = _DECIMAL_CONTEXT.divide(self.total, self.count).quantize(
            Decimal(1).scaleb(-(self.scale + 4)), context=_DECIMAL_CONTEXT)
        return coltypes.format_decimal(mean, self.scale + 4)


DECIMAL_SCALE_MAX = 30
DIV_PRECISION_INCREMENT = 4  # MySQL's default div_precision_increment
DIGITS_PER_WORD = 9  # MySQL's decimal arithmetic works in words of 9 digits
_DECIMAL_CONTEXT = coltypes.DECIMAL_CONTEXT  # 140 digits: the default context keeps 28


def _scale(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _decimal_text(number: Decimal, scale: int) -> str:
    scale = min(scale, DECIMAL_SCALE_MAX)
    rounded = number.quantize(Decimal(1).scaleb(-scale), context=_DECIMAL_CONTEXT)
    return coltypes.format_decimal(rounded, scale)


def _decimal_operation(operate: Callable[[Decimal, Decimal], Decimal],
                       scale_of: Callable[[int, int], int]) -> Callable[[object, object],
                                                                         str | None]:
    """An exact DECIMAL operator: text in any numeric form, text out at MySQL's scale."""
    def operator(a: object, b: object) -> str | None:
        left, right = _exact(a), _exact(b)
        if left is None or right is None:
            return None
        return _decimal_text(operate(left, right), scale_of(_scale(left), _scale(right)))
    return operator


def decimal_divide(a: object, b: object) -> str | None:
    """MySQL ``/`` with a DECIMAL result, as an intermediate value: MySQL divides to whole
    9-digit words of fraction (scale1 + scale2 + div_precision_increment, rounded up to a
    multiple of 9), truncating, and rounds to the result's scale only at the end (so 1/3*3
    is 1.0000, not 0.9999); the translator wraps the result column in MYSQL_DEC_FORMAT.
    NULL for a zero divisor (as MySQL's SELECT gives)."""
    left, right = _exact(a), _exact(b)
    if left is None or right is None or right == 0:
        return None
    words = -(-(_scale(left) + _scale(right) + DIV_PRECISION_INCREMENT) // DIGITS_PER_WORD)
    scale = min(words * DIGITS_PER_WORD, DECIMAL_SCALE_MAX)
    quotient = _DECIMAL_CONTEXT.divide(left, right).quantize(
        Decimal(1).scaleb(-scale), rounding=ROUND_DOWN, context=_DECIMAL_CONTEXT)
    return coltypes.format_decimal(quotient, scale)


def decimal_format(value: object, scale: object) -> str | None:
    """A DECIMAL-typed result computed in floating point, shown at its scale."""
    number = _exact(value)
    if number is None:
        return None
    return _decimal_text(number, to_int(scale) or 0)


_DECIMAL_SCALARS: list[Scalar] = [
    ("DEC_ADD", _decimal_operation(_DECIMAL_CONTEXT.add, max), 2, True),
    ("DEC_SUB", _decimal_operation(_DECIMAL_CONTEXT.subtract, max), 2, True),
    ("DEC_MUL", _decimal_operation(_DECIMAL_CONTEXT.multiply, lambda x, y: x + y), 2, True),
    ("DEC_DIV", decimal_divide, 2, True), ("DEC_FORMAT", decimal_format, 2, True),
]


class _TableChecksum:
    """CHECKSUM TABLE: an order-independent sum of per-row CRC32s (equal tables, equal sums;
    not MySQL's numbers, which depend on its row format)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, *values: object) -> None:
        row = "\x1f".join("\\N" if v is None else (v.hex() if isinstance(v, bytes) else
                                                     to_text(v) or "") for v in values)
        self.total = (self.total + zlib.crc32(row.encode("utf-8"))) & 0xFFFF_FFFF_FFFF

    def final(self) -> int:
        return self.total


_AGGREGATES: list[tuple[str, Callable[[], Any]]] = [
    ("TABLE_CHECKSUM", _TableChecksum),
    ("BIT_AND", lambda: _BitAggregate(lambda a, b: a & b, 0xFFFF_FFFF_FFFF_FFFF)),
    ("BIT_OR", lambda: _BitAggregate(lambda a, b: a | b, 0)),
    ("BIT_XOR", lambda: _BitAggregate(lambda a, b: a ^ b, 0)),
    ("STD", lambda: _Variance(False, True)), ("STDDEV", lambda: _Variance(False, True)),
    ("STDDEV_POP", lambda: _Variance(False, True)),
    ("STDDEV_SAMP", lambda: _Variance(True, True)),
    ("VARIANCE", lambda: _Variance(False, False)), ("VAR_POP", lambda: _Variance(False, False)),
    ("VAR_SAMP", lambda: _Variance(True, False)), ("SUM_DECIMAL", lambda: _DecimalSum(False)),
    ("AVG_DECIMAL", lambda: _DecimalSum(True)),
] + JSON_AGGREGATES


def _aggregate_factory(make: Callable[[], Any]) -> Callable[[], tuple[Any, Any, Any]]:
    def factory() -> tuple[Any, Any, Any]:
        state = make()
        return (None, lambda _ctx, *args: state.step(*args), lambda _ctx: state.final())
    return factory


# ---------------------------------------------------------------- casts and stores

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
    data = _bytes(value)
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
ER_INVALID_USE_OF_NULL = 1138


class _SessionStore:
    """The StoreContext of one MYSQL_STORE call. The session's sql_mode is read only when a
    value actually has a problem: valid values (nearly all) never pay for the lookup."""

    __slots__ = ("_flags", "ctx", "lenient")

    def __init__(self, ctx: Any, lenient: object):
        self.ctx, self.lenient, self._flags = ctx, lenient, None

    def _mode(self) -> tuple[bool, bool, bool]:
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

    def problem(self, code: int, message: str) -> None:
        if self.strict:
            raise errors.error(code, message)
        self.note("Warning", code, message)

    def note(self, level: str, code: int, message: str) -> None:
        warn(self.ctx, level, code, message)


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
           lenient: object = 0) -> object:
    """MYSQL_STORE: coerce a value into a column the way MySQL does (strict per sql_mode;
    ``lenient`` 1 for INSERT/UPDATE IGNORE, 2 for ALTER TABLE's copy). The stored value is
    recorded in ``ctx.written_row`` for the errors that name it (sql/written_row.py)."""
    t, not_null = _store_spec(str(type_text))
    if value is None:
        stored = _store_null(ctx, t, not_null, column, lenient)
    else:
        try:
            stored = coltypes.coerce_for_store(value, t, str(column), int(row or 1),  # type: ignore
                                               _SessionStore(ctx, lenient))  # type: ignore
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


# ---------------------------------------------------------------- registration

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


SessionScalar = tuple[str, Callable[..., object], int]

_SESSION_SCALARS: list[SessionScalar] = [
    ("NOW", _now_text, -1), ("SYSDATE", _now_text, -1), ("LOCALTIME", _now_text, -1),
    ("LOCALTIMESTAMP", _now_text, -1), ("CURRENT_TIMESTAMP", _now_text, -1),
    ("CURDATE", lambda ctx: format_date(_stamp(session_now(ctx))), 0),
    ("CURRENT_DATE", lambda ctx: format_date(_stamp(session_now(ctx))), 0),
    ("CURTIME", lambda ctx, fsp=0: _now_text(ctx, fsp)[11:], -1),
    ("CURRENT_TIME", lambda ctx, fsp=0: _now_text(ctx, fsp)[11:], -1),
    ("UTC_TIMESTAMP", lambda ctx, fsp=0: format_datetime(_stamp(_utc_now(ctx)), _fsp(fsp)), -1),
    ("UTC_DATE", lambda ctx: format_date(_stamp(_utc_now(ctx))), 0),
    ("UTC_TIME", lambda ctx, fsp=0: format_datetime(_stamp(_utc_now(ctx)), _fsp(fsp))[11:],
     -1),
    ("UNIX_TIMESTAMP", unix_timestamp, -1), ("FROM_UNIXTIME", from_unixtime, -1),
    ("DATABASE", lambda ctx: getattr(ctx, "database", None), 0),
    ("SCHEMA", lambda ctx: getattr(ctx, "database", None), 0),
    ("USER", _user_at_host, 0), ("SESSION_USER", _user_at_host, 0),
    ("SYSTEM_USER", _user_at_host, 0), ("CURRENT_USER", _current_user, 0),
    ("CONNECTION_ID", lambda ctx: int(getattr(ctx, "connection_id", 0) or 0), 0),
    ("VERSION", lambda ctx: str(getattr(ctx, "version", "") or "8.0.36-marmotdb"), 0),
    ("LAST_INSERT_ID", _last_insert_id, -1),
    ("ROW_COUNT", lambda ctx: int(getattr(ctx, "row_count", -1)), 0),
    ("FOUND_ROWS", lambda ctx: int(getattr(ctx, "found_rows", 0) or 0), 0),
    ("UUID", _uuid1, 0), ("UUID_SHORT", lambda ctx: _rng(ctx).getrandbits(63), 0),
    ("RAND", _rand, -1), ("RANDOM_BYTES", lambda ctx, n: bytes(
        _rng(ctx).getrandbits(8) for _ in range(max(1, min(to_int(n) or 1, 1024)))), 1),
    ("SLEEP", _sleep, 1), ("USER_VAR", _user_variable, 1), ("SYSVAR", _system_variable, -1),
    ("STORE", _store, -1), ("NO_DEFAULT", _no_default, 2), ("CAST", _cast, -1),
]

_CONSTANT_SCALARS: list[Scalar] = [
    ("CHARSET", _charset, 1, True), ("COLLATION", _collation, 1, True),
    ("COERCIBILITY", lambda v: 4 if isinstance(v, str) else 5, 1, True),
]

# Names the translator must not rename from user SQL: helpers only the rewrites emit.
INTERNAL_FUNCTIONS = frozenset({"REFUSE", "FK_FAILS", "CMP", "TABLE_CHECKSUM", "XOR",
                                "STORED_FUNCTION",
                                "SUM_DECIMAL", "AVG_DECIMAL",
                                "DEC_ADD", "DEC_SUB", "DEC_MUL", "DEC_DIV", "DEC_FORMAT",
                                "LIKE_BINARY",
                                "USER_VAR", "SYSVAR", "STORE", "NO_DEFAULT", "CAST", "EXTRACT",
                                "TRIM", "SUBSTRING", "SUBSTR", "POSITION", "MATCH_AGAINST"}
                               ) | {name for name, *_ in BIT_OPERATORS} \
    | JSON_INTERNAL_FUNCTIONS | UINT64_INTERNAL_FUNCTIONS \
    | TEMPORAL_INTERNAL_FUNCTIONS
# MySQL functions marmotdb refuses with 1235 rather than answer wrongly.
UNSUPPORTED_FUNCTIONS = frozenset({"GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS",
                                   "IS_FREE_LOCK", "IS_USED_LOCK", "BENCHMARK", "LOAD_FILE",
                                   "MASTER_POS_WAIT", "SOURCE_POS_WAIT", "WEIGHT_STRING",
                                   "AES_ENCRYPT", "AES_DECRYPT", "COMPRESS", "UNCOMPRESS",
                                   "ST_ASTEXT", "ST_GEOMFROMTEXT", "POINT", "MATCH",
                                   "EXPORT_SET", "MAKE_SET", "GTID_SUBSET", "NAME_CONST",
                                   "VALIDATE_PASSWORD_STRENGTH", "STATEMENT_DIGEST"}
                                  ) | UNSUPPORTED_JSON_FUNCTIONS

_ALL_PURE: list[Scalar] = (_PURE_SCALARS + _TIME_SCALARS + JSON_SCALARS + UINT64_SCALARS + _CONSTANT_SCALARS
                           + _DECIMAL_SCALARS + TEMPORAL_SCALARS)



def _arities(fn: Callable[..., object]) -> tuple[int, ...] | None:
    """The argument counts a variadic (-1) function takes, from its signature: registered one
    by one, so SQLite itself refuses another count (1582), not a Python TypeError."""
    parameters = inspect.signature(fn).parameters.values()
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None
    required = sum(1 for p in parameters if p.default is p.empty)
    return tuple(range(required, len(parameters) + 1))


_ARITIES: dict[Callable[..., object], tuple[int, ...]] = {
    fn: counts for _, fn, nargs, _ in _ALL_PURE
    if nargs == -1 and (counts := _arities(fn)) is not None}

RENAMED_FUNCTIONS: frozenset[str] = frozenset(
    {name for name, *_ in _ALL_PURE} | {name for name, *_ in _SESSION_SCALARS}
    | {name for name, _ in _AGGREGATES}) - INTERNAL_FUNCTIONS


# Session functions whose value depends on their arguments alone (the session only receives
# their warnings): deterministic to SQLite, so a functional index may use them.
_ARGUMENTS_ONLY = frozenset({"CAST"})


def _bind(fn: Callable[..., object], ctx: Any) -> Callable[..., object]:
    def bound(*args: object) -> object:
        return fn(ctx, *args)
    return bound


def _stored_function(session: Any, key: object, *args: object) -> object:
    """MYSQL_STORED_FUNCTION: a stored function with loops (sql/routines/function_calls.py)."""
    from marmotdb.sql.routines.function_calls import stored_function
    return stored_function(session, key, *args)


def register_functions(conn: apsw.Connection, session: Any) -> None:
    """Register every MySQL function (and the schema collations) on ``conn`` for ``session``
    (any object with FunctionContext's attributes, read at call time)."""
    register_schema_functions(conn)
    for name, fn, nargs, deterministic in _ALL_PURE:
        for count in _ARITIES.get(fn, (nargs,)):
            conn.create_scalar_function("MYSQL_" + name, fn, count, deterministic=deterministic)
    for name, fn, nargs in _SESSION_SCALARS:
        conn.create_scalar_function("MYSQL_" + name, _bind(fn, session), nargs,
                                    deterministic=name in _ARGUMENTS_ONLY)
    for name, make in _AGGREGATES:
        conn.create_aggregate_function("MYSQL_" + name, _aggregate_factory(make))
    conn.create_scalar_function("regexp", sqlite_regexp, 2, deterministic=True)
    conn.create_scalar_function("MYSQL_STORED_FUNCTION", _bind(_stored_function, session), -1)
    # an INSERT's AUTO_INCREMENT value; a write connection in a cluster registers it again
    # with the node's claimed ranges (txn/auto_increment.py)
    auto_increment.register(conn, lambda: sql_mode_of(session))
