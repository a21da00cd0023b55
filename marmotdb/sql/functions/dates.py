"""MySQL's date and time functions: DATE_FORMAT / STR_TO_DATE, interval arithmetic (DATE_ADD,
TIMESTAMPADD …), differences, parts (YEAR, WEEK with its eight modes …), TIME values, and the
functions of the session's clock and time zone (NOW, CURDATE, UNIX_TIMESTAMP, FROM_UNIXTIME),
over the canonical text of coltypes.py."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marmotdb import errors
from marmotdb.sql.types import coltypes
from marmotdb.sql.types.coltypes import (
    format_date,
    format_datetime,
    format_time,
    parse_datetime,
    parse_time,
    to_text,
)
from marmotdb.sql.functions.context import (
    Scalar,
    SessionScalar,
    fsp_argument,
    session_now,
    stamp_of,
    to_int,
    to_number,
    zone,
)

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
    return stamp_of(moment)


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
        return format_datetime(stamp_of(moment), 6 if moment.microsecond else 0)
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
    return format_datetime(stamp_of(moment), max(_fraction_digits(value), _fraction_digits(time)))


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
    return format_datetime(stamp_of(moved), 6 if stamp[6] else 0)


TIME_SCALARS: list[Scalar] = [
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
    digits = fsp_argument(fsp)
    moment = session_now(ctx)
    return format_datetime(coltypes.round_datetime(stamp_of(moment), digits) if digits
                           else stamp_of(moment.replace(microsecond=0)), digits)


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
    stamp = stamp_of(moment)
    if fmt is not None:
        return date_format(format_datetime(stamp, 6), fmt)
    return format_datetime(stamp, 6 if not isinstance(number, int) else 0)


DATE_SESSION_SCALARS: list[SessionScalar] = [
    ("NOW", _now_text, -1),
    ("SYSDATE", _now_text, -1),
    ("LOCALTIME", _now_text, -1),
    ("LOCALTIMESTAMP", _now_text, -1),
    ("CURRENT_TIMESTAMP", _now_text, -1),
    ("CURDATE", lambda ctx: format_date(stamp_of(session_now(ctx))), 0),
    ("CURRENT_DATE", lambda ctx: format_date(stamp_of(session_now(ctx))), 0),
    ("CURTIME", lambda ctx, fsp=0: _now_text(ctx, fsp)[11:], -1),
    ("CURRENT_TIME", lambda ctx, fsp=0: _now_text(ctx, fsp)[11:], -1),
    ("UTC_TIMESTAMP", lambda ctx, fsp=0: format_datetime(stamp_of(_utc_now(ctx)),
                                                         fsp_argument(fsp)), -1),
    ("UTC_DATE", lambda ctx: format_date(stamp_of(_utc_now(ctx))), 0),
    ("UTC_TIME", lambda ctx, fsp=0: format_datetime(stamp_of(_utc_now(ctx)),
                                                    fsp_argument(fsp))[11:], -1),
    ("UNIX_TIMESTAMP", unix_timestamp, -1),
    ("FROM_UNIXTIME", from_unixtime, -1),
]
