"""MySQL column types: their SQLite declarations, their wire metadata, and storing values.

Theory of operation
-------------------
A MySQL column type is held as a ``MySqlType`` (``parse_type`` reads MySQL's own spelling,
``from_decltype`` reads the SQLite declaration marmotdb generated). The SQLite declared type is
chosen so that (a) SQLite's column affinity is right and (b) the MySQL type can be read back
from the declaration alone, because SQLite reports declarations for result columns
(``sqlite3_column_decltype``) and that is all the executor has to build MySQL column metadata:

======================  ===============================  ===============  =================
MySQL                   SQLite declaration               affinity         why
======================  ===============================  ===============  =================
TINYINT…BIGINT [UNS.]   ``INT UNSIGNED`` etc.            INTEGER          BIGINT UNSIGNED from
                                                                          2^63: 8 bytes (uint64)
AUTO_INCREMENT column   ``INTEGER`` (PRIMARY KEY)        INTEGER          the rowid alias
DECIMAL(p,s)            ``DECIMAL TEXT(p,s)``            TEXT             exact; compares
                                                                          numerically through
                                                                          COLLATE mysql_decimal
FLOAT / DOUBLE          ``FLOAT`` / ``DOUBLE``           REAL
CHAR/VARCHAR/…TEXT      same name                        TEXT             + COLLATE NOCASE
BINARY/VARBINARY        ``VARBINARY BLOB(n)``            BLOB (none)      bytes stay bytes
…BLOB                   same name                        BLOB (none)
ENUM / SET              ``ENUM TEXT`` / ``SET_TEXT``     TEXT             values in the catalog
DATE/DATETIME/…/YEAR    same name                        NUMERIC          text stays text
JSON                    ``JSON TEXT``                    TEXT
BIT(n)                  ``BIT(n)``                       NUMERIC          stored as an integer
======================  ===============================  ===============  =================

Text columns get ``COLLATE NOCASE`` (MySQL's default collations are case-insensitive) unless
their collation is a ``*_bin`` or case-sensitive ``*_cs`` one. NOCASE folds ASCII only: a
documented difference.

``coerce_for_store`` converts a value on its way into a column the way MySQL does (rounding,
range checks, ENUM/SET matching, date parsing, JSON normalisation), raising the strict-mode
errors 1264 / 1265 / 1292 / 1366 / 1406 / 3140 or, outside strict mode, clamping and recording a
warning. The translator wraps every value written by INSERT/UPDATE in ``MYSQL_STORE(value,
'<column type>', '<column>', <row>)`` which calls it (see functions/store.py).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from marmotdb import errors
from marmotdb.mysql.types import CHARSET_BINARY, CHARSET_UTF8MB4, Column, ColumnFlag, FieldType
from marmotdb.sql.types import uint64

INTEGER_RANGES: dict[str, tuple[int, int, int]] = {  # name -> (signed min, signed max, unsigned max)
    "tinyint": (-128, 127, 255),
    "smallint": (-32768, 32767, 65535),
    "mediumint": (-8388608, 8388607, 16777215),
    "int": (-2147483648, 2147483647, 4294967295),
    "bigint": (-(2**63), 2**63 - 1, 2**64 - 1),  # from 2^63 stored as bytes: uint64.py
}
TEXT_BYTES_MAX = {"tinytext": 255, "text": 65535, "mediumtext": 16777215,
                  "longtext": 4294967295}
BLOB_BYTES_MAX = {"tinyblob": 255, "blob": 65535, "mediumblob": 16777215,
                  "longblob": 4294967295}
TEMPORAL = frozenset({"date", "datetime", "timestamp", "time", "year"})
SPATIAL = frozenset({"geometry", "point", "linestring", "polygon", "multipoint",
                     "multilinestring", "multipolygon", "geometrycollection", "geomcollection"})
_ALIASES = {"integer": "int", "int4": "int", "int8": "bigint", "int1": "tinyint",
            "int2": "smallint", "int3": "mediumint", "middleint": "mediumint",
            "dec": "decimal", "numeric": "decimal", "fixed": "decimal", "real": "double",
            "double precision": "double", "float8": "double", "float4": "float",
            "bool": "tinyint", "boolean": "tinyint", "character": "char",
            "character varying": "varchar", "nchar": "char", "nvarchar": "varchar",
            "national char": "char", "national varchar": "varchar", "long": "mediumtext",
            "long varchar": "mediumtext", "long varbinary": "mediumblob", "long byte": "mediumblob",
            "serial": "bigint"}


@dataclass(frozen=True, slots=True)
class MySqlType:
    """One MySQL column type. ``length`` is the display width (integers), precision
    (DECIMAL/FLOAT), character length (CHAR/VARCHAR), byte length (BINARY) or bit count (BIT);
    ``scale`` the DECIMAL/FLOAT scale; ``fsp`` the fractional-seconds precision."""

    name: str
    length: int | None = None
    scale: int | None = None
    unsigned: bool = False
    zerofill: bool = False
    values: tuple[str, ...] = ()
    fsp: int = 0
    charset: str | None = None
    collation: str | None = None

    @property
    def family(self) -> str:
        return _FAMILY.get(self.name, "text")

    @property
    def binary_collation(self) -> bool:
        """A ``*_bin`` collation, or a case-sensitive ``*_cs`` one (``latin1_general_cs``,
        ``utf8mb4_0900_as_cs``): SQLite's BINARY, which tells case apart as they do (they
        order it differently: 'a' before 'B')."""
        return bool(self.collation and self.collation.lower().endswith(("_bin", "_cs")))

    def column_type(self) -> str:
        """MySQL 8's spelling in SHOW CREATE TABLE / COLUMN_TYPE: ``int unsigned``,
        ``varchar(20)``, ``decimal(10,2)``, ``enum('a','b')``, ``datetime(3)``."""
        return _render(self)

    def sqlite_decltype(self) -> str:
        return _decltype(self)


_FAMILY = {**{n: "int" for n in INTEGER_RANGES}, "decimal": "decimal", "float": "float",
           "double": "float", "bit": "bit", "char": "text", "varchar": "text",
           **{n: "text" for n in TEXT_BYTES_MAX}, "binary": "binary", "varbinary": "binary",
           **{n: "binary" for n in BLOB_BYTES_MAX}, "enum": "enum", "set": "set",
           **{n: "temporal" for n in TEMPORAL}, "json": "json"}


def _quote_values(values: tuple[str, ...]) -> str:
    return ",".join("'" + v.replace("\\", "\\\\").replace("'", "''") + "'" for v in values)


def _render(t: MySqlType) -> str:
    name = t.name
    if name in INTEGER_RANGES:
        keep_width = t.zerofill or (name == "tinyint" and t.length == 1)
        text = f"{name}({t.length})" if keep_width and t.length else name
    elif name == "decimal":
        text = f"decimal({t.length or 10},{t.scale or 0})"
    elif name in ("float", "double"):
        text = f"{name}({t.length},{t.scale})" if t.length and t.scale is not None else name
    elif name in ("char", "binary", "bit"):
        text = f"{name}({t.length if t.length is not None else 1})"
    elif name in ("varchar", "varbinary"):
        text = f"{name}({t.length})"
    elif name in ("enum", "set"):
        text = f"{name}({_quote_values(t.values)})"
    elif name in ("datetime", "timestamp", "time") and t.fsp:
        text = f"{name}({t.fsp})"
    else:
        text = name
    if t.unsigned and t.family in ("int", "decimal", "float"):
        text += " unsigned"
    if t.zerofill:
        text += " zerofill"
    return text


def _decltype(t: MySqlType) -> str:
    words = [t.name.upper()]
    if t.unsigned and t.family in ("int", "decimal", "float"):
        words.append("UNSIGNED")
    if t.zerofill:
        words.append("ZEROFILL")
    args = ""
    family = t.family
    if family == "decimal":
        words.append("TEXT")
        args = f"({t.length or 10},{t.scale or 0})"
    elif t.name in ("binary", "varbinary"):
        words.append("BLOB")
        args = f"({t.length if t.length is not None else 1})"
    elif t.name == "enum":
        words.append("TEXT")
    elif t.name == "set":
        words = ["SET_TEXT"]
    elif t.name == "json":
        words.append("TEXT")
    elif t.name in ("char", "varchar", "bit"):
        args = f"({t.length if t.length is not None else 1})"
    elif family == "int" and (t.zerofill or (t.name == "tinyint" and t.length == 1)):
        args = f"({t.length})" if t.length else ""
    elif family == "float" and t.length and t.scale is not None:
        args = f"({t.length},{t.scale})"
    elif t.name in ("datetime", "timestamp", "time") and t.fsp:
        args = f"({t.fsp})"
    return " ".join(words) + args


def time_sort_key(text: str) -> int:
    """TIME values ('-838:59:59' … '838:59:59') in microseconds, for the mysql_time
    collation: as text, '100:00:00' would sort before '10:00:00'."""
    parts = parse_time(text)
    if parts is None:
        return 0
    negative, hours, minutes, seconds, micro = parts
    total = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micro
    return -total if negative else total


# ---------------------------------------------------------------- parsing type text

# Possessive (both patterns): a run of quotes has exactly one reading (MySQL's: '' inside a
# string is a quote); without it a failed match retries every other reading, exponential in
# the length of the run (user DDL reaches this).
_TYPE_RE = re.compile(
    r"^\s*(?P<name>[a-z][a-z0-9]*(?:\s+(?:precision|varying|char|varchar|varbinary|byte))?)\s*"
    r"(?:\((?P<args>(?:[^()']++|'(?:[^'\\]|\\.|'')*+')*+)\))?(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL)
_VALUE_RE = re.compile(r"'((?:[^'\\]|\\.|'')*+)'", re.DOTALL)


def parse_type(text: str) -> MySqlType:
    """Parse MySQL's spelling of a column type (``int(10) unsigned zerofill``,
    ``enum('a','b')``, ``varchar(20) character set latin1``). Raises SqlError 1064/1235."""
    found = _TYPE_RE.match(text)
    if not found:
        raise errors.error(errors.ER_PARSE_ERROR, f"Unknown column type '{text}'")
    name = " ".join(found.group("name").lower().split())
    args, rest = found.group("args"), found.group("rest").lower()
    name = _ALIASES.get(name, name)
    if name in SPATIAL:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET,
                           f"This version of marmotdb doesn't yet support '{name.upper()} columns "
                           "(spatial types)'")
    if name not in _FAMILY:
        raise errors.error(errors.ER_PARSE_ERROR, f"Unknown column type '{text}'")
    t = MySqlType(name=name, unsigned="unsigned" in rest, zerofill="zerofill" in rest)
    if t.zerofill:
        t = replace(t, unsigned=True)
    if found.group("name").lower() in ("bool", "boolean"):
        t = replace(t, length=1)
    return _with_args(t, args, text)


def _with_args(t: MySqlType, args: str | None, text: str) -> MySqlType:
    if t.name in ("enum", "set"):
        values = tuple(_unquote(v) for v in _VALUE_RE.findall(args or ""))
        return replace(t, values=values)
    numbers = [int(a) for a in re.findall(r"\d+", args or "")]
    if t.name in ("datetime", "timestamp", "time"):
        return replace(t, fsp=numbers[0] if numbers else 0)
    if t.name == "float" and len(numbers) == 1:  # FLOAT(p): p > 24 means DOUBLE
        return replace(t, name="double" if numbers[0] > 24 else "float")
    if t.name == "decimal":
        return replace(t, length=numbers[0] if numbers else 10,
                       scale=numbers[1] if len(numbers) > 1 else 0)
    if t.name in ("text", "blob") and numbers:
        return replace(t, name=_sized_lob(t.name, numbers[0]))
    if numbers:
        return replace(t, length=numbers[0], scale=numbers[1] if len(numbers) > 1 else None)
    if t.name in INTEGER_RANGES and t.zerofill:
        return replace(t, length=len(str(INTEGER_RANGES[t.name][2])))
    return t


def _sized_lob(name: str, length: int) -> str:
    prefix = ("tiny" if length < 256 else "" if length < 65536 else
              "medium" if length < 16777216 else "long")
    return prefix + name


def _unquote(value: str) -> str:
    return value.replace("''", "'").replace("\\\\", "\\")


_DECLTYPE_CACHE: dict[str, MySqlType | None] = {}
_DECLTYPE_RE = re.compile(r"^([A-Z_]+)((?:\s+(?:UNSIGNED|ZEROFILL|TEXT|BLOB))*)\s*(\(.*\))?\s*$",
                          re.IGNORECASE)


def from_decltype(decltype: str) -> MySqlType | None:
    """The MySQL type of a SQLite declaration marmotdb generated; None when it is not one of
    ours (a plain SQLite table): the caller then falls back to affinity."""
    cached = _DECLTYPE_CACHE.get(decltype)
    if cached is not None or decltype in _DECLTYPE_CACHE:
        return cached
    result = _from_decltype(decltype)
    if len(_DECLTYPE_CACHE) < 4096:
        _DECLTYPE_CACHE[decltype] = result
    return result


def _from_decltype(decltype: str) -> MySqlType | None:
    found = _DECLTYPE_RE.match(decltype)
    if not found:
        return None
    name = found.group(1).lower()
    if name == "integer":
        return MySqlType("bigint")
    if name == "set_text":
        return MySqlType("set")
    name = _ALIASES.get(name, name)
    if name not in _FAMILY:
        return None
    mods = found.group(2).lower()
    t = MySqlType(name=name, unsigned="unsigned" in mods, zerofill="zerofill" in mods)
    return _with_args(t, (found.group(3) or "")[1:-1] or None, decltype)


# ---------------------------------------------------------------- wire metadata

_FIELD_TYPES = {"tinyint": FieldType.TINY, "smallint": FieldType.SHORT,
                "mediumint": FieldType.INT24, "int": FieldType.LONG,
                "bigint": FieldType.LONGLONG, "decimal": FieldType.NEWDECIMAL,
                "float": FieldType.FLOAT, "double": FieldType.DOUBLE, "bit": FieldType.BIT,
                "char": FieldType.STRING, "varchar": FieldType.VAR_STRING,
                "binary": FieldType.STRING, "varbinary": FieldType.VAR_STRING,
                "enum": FieldType.STRING, "set": FieldType.STRING, "date": FieldType.DATE,
                "datetime": FieldType.DATETIME, "timestamp": FieldType.TIMESTAMP,
                "time": FieldType.TIME, "year": FieldType.YEAR, "json": FieldType.JSON,
                **{n: FieldType.BLOB for n in (*TEXT_BYTES_MAX, *BLOB_BYTES_MAX)}}
_INT_WIDTH = {"tinyint": 4, "smallint": 6, "mediumint": 9, "int": 11, "bigint": 20}
_LOB_LENGTH = {"tiny": 255, "": 65535, "medium": 16777215, "long": 4294967295}
_TEMPORAL_WIDTH = {"date": 10, "datetime": 19, "timestamp": 19, "time": 10, "year": 4}


def display_length(t: MySqlType) -> int:
    """The column length MySQL reports in a column definition (utf8mb4: 4 bytes a char)."""
    family = t.family
    if family == "int":
        if t.length and (t.zerofill or t.length == 1):
            return t.length
        return _INT_WIDTH[t.name] - (1 if t.unsigned and t.name != "bigint" else 0)
    if family == "decimal":
        precision, scale = t.length or 10, t.scale or 0
        return precision + (1 if scale else 0) + (0 if t.unsigned else 1)
    if family == "float":
        return t.length + 2 if t.length else (12 if t.name == "float" else 22)
    if t.name in TEMPORAL:
        return _TEMPORAL_WIDTH[t.name] + (t.fsp + 1 if t.fsp else 0)
    if t.name in ("char", "varchar"):
        return (t.length if t.length is not None else 1) * 4
    if t.name in ("binary", "varbinary", "bit"):
        return t.length if t.length is not None else 1
    if t.name in ("enum", "set"):
        if t.name == "set":
            return (sum(len(v) for v in t.values) + max(len(t.values) - 1, 0)) * 4
        return max((len(v) for v in t.values), default=0) * 4
    if t.name == "json":
        return 4294967295
    size = _LOB_LENGTH[t.name[:-4]]
    return size if t.name.endswith("blob") or size == 4294967295 else size * 4


def type_flags(t: MySqlType) -> int:
    flags = 0
    family = t.family
    if family in ("int", "decimal", "float"):
        flags |= ColumnFlag.NUM
    if t.unsigned and family in ("int", "decimal", "float"):
        flags |= ColumnFlag.UNSIGNED
    if t.zerofill:
        flags |= ColumnFlag.ZEROFILL
    if t.name in BLOB_BYTES_MAX or t.name in TEXT_BYTES_MAX or t.name == "json":
        flags |= ColumnFlag.BLOB
    if family in ("binary", "bit") or t.name in ("json",) or (
            family in ("int", "decimal", "float", "temporal")):
        flags |= ColumnFlag.BINARY
    if t.name == "enum":
        flags |= ColumnFlag.ENUM
    if t.name == "set":
        flags |= ColumnFlag.SET
    if t.name == "timestamp":
        flags |= ColumnFlag.TIMESTAMP
    return int(flags)


def column_for_type(name: str, t: MySqlType, table: str = "", *, org_name: str = "",
                    schema: str = "", flags: int = 0) -> Column:
    """A MySQL column definition for a value of type ``t``."""
    text_like = t.family in ("text", "enum", "set")
    charset = CHARSET_UTF8MB4 if text_like else CHARSET_BINARY
    decimals = 0
    if t.family == "decimal":
        decimals = t.scale or 0
    elif t.family == "float":
        decimals = t.scale if t.scale is not None and t.length else 31
    elif t.name in ("datetime", "timestamp", "time"):
        decimals = t.fsp
    return Column(name=name, type=_FIELD_TYPES[t.name], length=display_length(t),
                  flags=type_flags(t) | flags, decimals=decimals, charset=charset, table=table,
                  org_table=table, org_name=org_name or name, schema=schema)


_AFFINITY_FALLBACK = (("INT", MySqlType("bigint")), ("CHAR", MySqlType("varchar", 255)),
                      ("CLOB", MySqlType("longtext")), ("TEXT", MySqlType("longtext")),
                      ("BLOB", MySqlType("longblob")), ("REAL", MySqlType("double")),
                      ("FLOA", MySqlType("double")), ("DOUB", MySqlType("double")))


def type_for_affinity(decltype: str) -> MySqlType:
    """The MySQL type of a declaration marmotdb did not write, by SQLite's affinity rules."""
    upper = decltype.upper()
    return next((t for word, t in _AFFINITY_FALLBACK if word in upper),
                MySqlType("decimal") if upper else MySqlType("longblob"))


def column_for_decltype(name: str, decltype: str, table: str = "", *, org_name: str = "",
                        schema: str = "", flags: int = 0) -> Column:
    """MySQL column metadata for a result column SQLite declared as ``decltype``.

    ``INTEGER`` (only ever the AUTO_INCREMENT rowid alias in marmotdb DDL) reports BIGINT with
    NOT NULL | PRI_KEY | AUTO_INCREMENT. A declaration marmotdb did not write falls back to
    SQLite's affinity rules."""
    t = from_decltype(decltype)
    if t is None:
        upper = decltype.upper()
        t = next((ft for word, ft in _AFFINITY_FALLBACK if word in upper), MySqlType("decimal"))
    elif decltype.strip().upper() == "INTEGER":
        flags |= ColumnFlag.NOT_NULL | ColumnFlag.PRI_KEY | ColumnFlag.AUTO_INCREMENT
    return column_for_type(name, t, table, org_name=org_name, schema=schema, flags=flags)


# ---------------------------------------------------------------- storing values

Warn = Callable[[str, int, str], None]


class StoreContext:
    """How a value is being stored: strict mode or not, where warnings go, and which sql_mode
    flags affect dates. ``row`` is MySQL's 1-based row number for messages."""

    __slots__ = ("no_zero_date", "no_zero_in_date", "strict", "time_zone", "timestamp_zone",
                 "warn")

    def __init__(self, strict: bool = True, warn: Warn | None = None, *,
                 no_zero_date: bool = True, no_zero_in_date: bool = True,
                 time_zone: _dt.tzinfo | None = None,
                 timestamp_zone: _dt.tzinfo | None = None):
        self.strict = strict
        self.warn = warn
        self.no_zero_date = no_zero_date
        self.no_zero_in_date = no_zero_in_date
        # the session's, which a value written with a time zone offset is converted to; None
        # where there is no session (such a value is then not a valid one)
        self.time_zone = time_zone
        # a session's time zone other than UTC: a TIMESTAMP value is read in it and stored as
        # UTC (rewrites/timestamps.py); None stores it as it is (UTC sessions, ALTER's copy)
        self.timestamp_zone = timestamp_zone

    def problem(self, code: int, message: str) -> None:
        """Strict: raise; otherwise a warning (and the caller substitutes a value)."""
        if self.strict:
            raise errors.error(code, message)
        self.note("Warning", code, message)

    def note(self, level: str, code: int, message: str) -> None:
        if self.warn is not None:
            self.warn(level, code, message)


_TYPE_CACHE: dict[str, MySqlType] = {}


def cached_type(text: str) -> MySqlType:
    found = _TYPE_CACHE.get(text)
    if found is None:
        found = parse_type(text)
        if len(_TYPE_CACHE) < 4096:
            _TYPE_CACHE[text] = found
    return found


def coerce_for_store(value: object, t: MySqlType, column: str, row: int,
                     ctx: StoreContext) -> object:
    """``value`` as MySQL would store it in a column of type ``t`` (SQLite-bindable result)."""
    if value is None:
        return None
    return _STORE_BY_FAMILY[t.family](value, t, column, row, ctx)


def _truncated(column: str, row: int) -> str:
    return f"Data truncated for column '{column}' at row {row}"


def _out_of_range(column: str, row: int) -> str:
    return f"Out of range value for column '{column}' at row {row}"


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def format_double(value: float) -> str:
    """MySQL's text for a DOUBLE: shortest round-trip digits, no trailing '.0'."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def to_text(value: object) -> str | None:
    """A SQL value as MySQL's functions read a string argument (None stays NULL)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return format_double(value)
    return str(value)


_NUMBER_PREFIX_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def parse_number_prefix(text: str) -> tuple[Decimal | None, bool]:
    """MySQL's string -> number conversion: (value of the longest numeric prefix or None,
    whether the whole string was numeric apart from surrounding spaces)."""
    found = _NUMBER_PREFIX_RE.match(text)
    if not found:
        return None, False
    try:
        number = Decimal(found.group(1))
    except InvalidOperation:
        return None, False
    return number, text[found.end():].strip() == ""


def _to_decimal(value: object, kind: str, t: MySqlType, column: str, row: int,
                ctx: StoreContext) -> Decimal:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if not math.isnan(value) else Decimal(0)
    if isinstance(value, Decimal):
        return value
    text = _as_text(value)
    number, whole = parse_number_prefix(text)
    if number is None:
        ctx.problem(errors.ER_TRUNCATED_WRONG_VALUE_FOR_FIELD,
                    f"Incorrect {kind} value: '{text}' for column '{column}' at row {row}")
        return Decimal(0)
    if not whole:
        ctx.problem(ER_WARN_DATA_TRUNCATED, _truncated(column, row))
    return number


def _store_int(value: object, t: MySqlType, column: str, row: int,
               ctx: StoreContext) -> int | bytes:
    """An integer in range; a BIGINT UNSIGNED from 2^63 is stored as its 8 bytes (uint64.py)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: Decimal | int = value
    elif uint64.is_high_blob(value):
        number = int.from_bytes(value, "big")  # type: ignore[arg-type]
    else:
        number = _to_decimal(value, "integer", t, column, row, ctx)
    low, high, unsigned_high = INTEGER_RANGES[t.name]
    if t.unsigned:
        low, high = 0, unsigned_high
    if isinstance(number, Decimal):
        if not number.is_finite():  # 1e309 arrives as inf: out of range, clamped as MySQL does
            ctx.problem(errors.ER_WARN_DATA_OUT_OF_RANGE, _out_of_range(column, row))
            return low if number < 0 else high
        number = int(number.to_integral_value(ROUND_HALF_UP))
    if number < low or number > high:
        ctx.problem(errors.ER_WARN_DATA_OUT_OF_RANGE, _out_of_range(column, row))
        number = low if number < low else high
    return uint64.stored(int(number)) if number >= uint64.HIGH_MIN else int(number)


def _store_decimal(value: object, t: MySqlType, column: str, row: int,
                   ctx: StoreContext) -> str:
    number = _to_decimal(value, "decimal", t, column, row, ctx)
    precision, scale = t.length or 10, t.scale or 0
    limit = DECIMAL_CONTEXT.subtract(DECIMAL_CONTEXT.power(10, precision - scale),
                                     Decimal(1).scaleb(-scale))
    if not number.is_finite():
        rounded = Decimal(0)
    elif number.adjusted() >= precision - scale:  # out of range: no need (or room) to round
        rounded = number
    else:
        rounded = number.quantize(Decimal(1).scaleb(-scale), context=DECIMAL_CONTEXT)
    if rounded > limit or rounded < -limit or (t.unsigned and rounded < 0):
        ctx.problem(errors.ER_WARN_DATA_OUT_OF_RANGE, _out_of_range(column, row))
        rounded = Decimal(0) if t.unsigned and rounded < 0 else (limit if rounded > 0 else -limit)
    elif rounded != number:
        ctx.note("Note", ER_WARN_DATA_TRUNCATED, _truncated(column, row))
    return format_decimal(rounded, scale)


# DECIMAL(65,30) needs 65 digits and products of two need 130: the default context keeps 28.
DECIMAL_CONTEXT = Context(prec=140, rounding=ROUND_HALF_UP)


def format_decimal(number: Decimal, scale: int) -> str:
    text = f"{number:.{scale}f}"
    return "0" + text[2:] if text.startswith("-0") and Decimal(text) == 0 else text


def _store_float(value: object, t: MySqlType, column: str, row: int,
                 ctx: StoreContext) -> float:
    if isinstance(value, float):
        number = value
    else:
        number = float(_to_decimal(value, "double", t, column, row, ctx))
    if t.length and t.scale is not None:
        number = float(Decimal(repr(number)).quantize(Decimal(1).scaleb(-t.scale),
                                                      rounding=ROUND_HALF_UP))
        limit = 10.0 ** (t.length - t.scale) - 10.0 ** -t.scale
        if abs(number) > limit:
            ctx.problem(errors.ER_WARN_DATA_OUT_OF_RANGE, _out_of_range(column, row))
            number = limit if number > 0 else -limit
    if t.unsigned and number < 0:
        ctx.problem(errors.ER_WARN_DATA_OUT_OF_RANGE, _out_of_range(column, row))
        number = 0.0
    return _single(number, column, row, ctx) if t.name == "float" else number


FLOAT_MAX = 3.4028234663852886e38  # the largest single-precision value
_SINGLE = struct.Struct("<f")


def _single(number: float, column: str, row: int, ctx: StoreContext) -> float:
    """A FLOAT column holds single precision, as MySQL's does: 1.1 is stored as
    1.100000023841858 (so ``f * 2`` and ``f = 1.1`` compute as in MySQL)."""
    if abs(number) > FLOAT_MAX:
        ctx.problem(errors.ER_WARN_DATA_OUT_OF_RANGE, _out_of_range(column, row))
        number = FLOAT_MAX if number > 0 else -FLOAT_MAX
    return float(_SINGLE.unpack(_SINGLE.pack(number))[0])


def _store_text(value: object, t: MySqlType, column: str, row: int, ctx: StoreContext) -> str:
    text = _as_text(value)
    if t.name in ("char", "varchar"):
        limit = t.length if t.length is not None else 1
        if len(text) > limit:
            text = _truncate_text(text, limit, column, row, ctx)
        return text.rstrip(" ") if t.name == "char" else text
    limit = TEXT_BYTES_MAX[t.name]
    encoded = text.encode("utf-8")
    if len(encoded) > limit:
        ctx.problem(errors.ER_DATA_TOO_LONG, f"Data too long for column '{column}' at row {row}")
        return encoded[:limit].decode("utf-8", "ignore")
    return text


def _truncate_text(text: str, limit: int, column: str, row: int, ctx: StoreContext) -> str:
    if text[limit:].strip(" ") == "":  # only trailing spaces are cut: a note, even strict
        ctx.note("Note", ER_WARN_DATA_TRUNCATED, _truncated(column, row))
    else:
        ctx.problem(errors.ER_DATA_TOO_LONG, f"Data too long for column '{column}' at row {row}")
    return text[:limit]


def _store_binary(value: object, t: MySqlType, column: str, row: int,
                  ctx: StoreContext) -> bytes:
    data = value if isinstance(value, bytes) else _as_text(value).encode("utf-8")
    limit = (t.length if t.length is not None else 1) if t.name in ("binary", "varbinary") \
        else BLOB_BYTES_MAX[t.name]
    if len(data) > limit:
        ctx.problem(errors.ER_DATA_TOO_LONG, f"Data too long for column '{column}' at row {row}")
        data = data[:limit]
    if t.name == "binary":
        data = data.ljust(limit, b"\0")
    return data


def _store_enum(value: object, t: MySqlType, column: str, row: int, ctx: StoreContext) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        index = int(value)
        if 1 <= index <= len(t.values):
            return t.values[index - 1]
        ctx.problem(ER_WARN_DATA_TRUNCATED, _truncated(column, row))
        return ""
    text = _as_text(value).rstrip(" ")
    folded = text.lower()
    for member in t.values:
        if member.rstrip(" ").lower() == folded:
            return member
    ctx.problem(ER_WARN_DATA_TRUNCATED, _truncated(column, row))
    return ""


def _store_set(value: object, t: MySqlType, column: str, row: int, ctx: StoreContext) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value >= 1 << len(t.values):
            ctx.problem(ER_WARN_DATA_TRUNCATED, _truncated(column, row))
        return ",".join(m for i, m in enumerate(t.values) if value >> i & 1)
    wanted = {part.strip(" ").lower() for part in _as_text(value).split(",") if part != ""}
    chosen = [m for m in t.values if m.lower() in wanted]
    if len(chosen) != len(wanted):
        ctx.problem(ER_WARN_DATA_TRUNCATED, _truncated(column, row))
    return ",".join(chosen)


def _store_bit(value: object, t: MySqlType, column: str, row: int,
               ctx: StoreContext) -> int | bytes:
    """BIT(M) as an integer; BIT(64) values of 2^63 and more as BIGINT UNSIGNED's are (uint64.py:
    an 8-byte big-endian BLOB, which SQLite orders after every integer), so they compare and
    sort as unsigned numbers. Rows written before kept such values as SQLite's negative int64
    with the same bits: they are sent back right, but sort and compare as negative."""
    number = _bit_number(value, t, column, row, ctx)
    bits = t.length if t.length is not None else 1
    if number < 0 or number >= 1 << bits:
        ctx.problem(errors.ER_DATA_TOO_LONG, f"Data too long for column '{column}' at row {row}")
        number = (1 << bits) - 1
    return uint64.stored(number)


def _bit_number(value: object, t: MySqlType, column: str, row: int, ctx: StoreContext) -> int:
    """A BIT value's bits: bytes and strings big-endian, numbers as they are."""
    if isinstance(value, bytes):
        return int.from_bytes(value, "big") if value else 0
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return int.from_bytes(value.encode("utf-8"), "big") if value else 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())  # exact: BIT(64) literals from 2^63 arrive as text
    if type(value) is int and value >= 0:
        return value  # exact (a DEFAULT b'…' of 64 bits is one from 2^63)
    return _store_int(value, MySqlType("bigint"), column, row, ctx)


def _store_temporal(value: object, t: MySqlType, column: str, row: int,
                    ctx: StoreContext) -> object:
    if t.name == "year":
        return _store_year(value, column, row, ctx)
    if t.name == "time":
        parts = parse_time(value)
        if parts is None:
            ctx.problem(ER_TRUNCATED_WRONG_VALUE,
                        f"Incorrect time value: '{_as_text(value)}' for column '{column}' "
                        f"at row {row}")
            return "00:00:00"
        return format_time(round_time(parts, t.fsp), t.fsp)
    stamp = parse_datetime(value, date_only=t.name == "date")
    if stamp is None and t.name != "date" and ctx.time_zone is not None:
        stamp = parse_offset_datetime(value, ctx.time_zone)
    if stamp is not None and t.name == "timestamp" and ctx.timestamp_zone is not None:
        stamp = timestamp_to_utc(stamp, ctx.timestamp_zone)
    kind = "date" if t.name == "date" else "datetime"
    if stamp is None or not _zero_date_allowed(stamp, ctx) or not _in_range(stamp, t.name):
        ctx.problem(ER_TRUNCATED_WRONG_VALUE, f"Incorrect {kind} value: '{_as_text(value)}' "
                    f"for column '{column}' at row {row}")
        stamp = ZERO_DATETIME
    if t.name == "date":
        if any(stamp[3:]):
            ctx.note("Note", ER_WARN_DATA_TRUNCATED, _truncated(column, row))
        return format_date(stamp)
    return format_datetime(round_datetime(stamp, t.fsp), t.fsp)


def _zero_date_allowed(stamp: DateTimeParts, ctx: StoreContext) -> bool:
    if stamp[:3] == (0, 0, 0):
        return not ctx.no_zero_date or not ctx.strict
    if stamp[1] == 0 or stamp[2] == 0:
        return not ctx.no_zero_in_date or not ctx.strict
    return True


def _in_range(stamp: DateTimeParts, name: str) -> bool:
    if name != "timestamp" or stamp[:3] == (0, 0, 0):
        return True
    return (1970, 1, 1, 0, 0, 1) <= stamp[:6] <= (2038, 1, 19, 3, 14, 7)


def _store_year(value: object, column: str, row: int, ctx: StoreContext) -> int:
    text = _as_text(value).strip()
    number, whole = parse_number_prefix(text)
    if number is None or not whole:
        ctx.problem(errors.ER_TRUNCATED_WRONG_VALUE_FOR_FIELD,
                    f"Incorrect integer value: '{text}' for column '{column}' at row {row}")
        return 0
    year = int(number.to_integral_value(ROUND_HALF_UP))
    if isinstance(value, str) and len(text) <= 2 and year < 100:
        return 2000 + year if year < 70 else 1900 + year
    if 0 < year < 70:
        return 2000 + year
    if 70 <= year < 100:
        return 1900 + year
    if year != 0 and not 1901 <= year <= 2155:
        ctx.problem(errors.ER_WARN_DATA_OUT_OF_RANGE, _out_of_range(column, row))
        return 0
    return year


def _store_json(value: object, t: MySqlType, column: str, row: int, ctx: StoreContext) -> str:
    if isinstance(value, (bytes, str)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        try:
            document = parse_json(text)
        except ValueError as exc:
            raise errors.error(ER_INVALID_JSON_TEXT, f"Invalid JSON text: \"{exc.args[0]}\" "
                               f"at position {getattr(exc, 'pos', 0)} in value for column "
                               f"'{column}'.") from None
    else:
        document = value
    return json_text(document)


_STORE_BY_FAMILY: dict[str, Callable[[object, MySqlType, str, int, StoreContext], object]] = {
    "int": _store_int, "decimal": _store_decimal, "float": _store_float, "text": _store_text,
    "binary": _store_binary, "enum": _store_enum, "set": _store_set, "bit": _store_bit,
    "temporal": _store_temporal, "json": _store_json,
}

ER_WARN_DATA_TRUNCATED = 1265
ER_TRUNCATED_WRONG_VALUE = 1292
ER_INVALID_JSON_TEXT = 3140


# ---------------------------------------------------------------- temporal values

DateTimeParts = tuple[int, int, int, int, int, int, int]  # y, mo, d, h, mi, s, µs
TimeParts = tuple[bool, int, int, int, int]  # negative, hours, minutes, seconds, µs
ZERO_DATETIME: DateTimeParts = (0, 0, 0, 0, 0, 0, 0)
TIME_HOURS_MAX = 838

_DATETIME_RE = re.compile(
    r"^\s*(\d{1,4})[^\d](\d{1,2})[^\d](\d{1,2})"
    r"(?:(?:[T ]+|[^\d\s])(\d{1,2})[^\d](\d{1,2})(?:[^\d](\d{1,2})(?:\.(\d*))?)?)?\s*$")
_DIGITS_RE = re.compile(r"^\s*(\d{6}|\d{8}|\d{12}|\d{14})(?:\.(\d*))?\s*$")
_TIME_RE = re.compile(
    r"^\s*(-)?(?:(\d+)\s+)?(\d+):(\d{1,2})(?::(\d{1,2}))?(?:\.(\d*))?\s*$")
_TIME_DIGITS_RE = re.compile(r"^\s*(-)?(\d+)(?:\.(\d*))?\s*$")


def _year2(year_text: str) -> int:
    year = int(year_text)
    if len(year_text) <= 2:
        return year + (2000 if year < 70 else 1900)
    return year


def _micro(fraction: str | None) -> int:
    return int((fraction or "0")[:6].ljust(6, "0"))


def _valid(parts: DateTimeParts) -> DateTimeParts | None:
    year, month, day, hour, minute, second, _ = parts
    if hour > 23 or minute > 59 or second > 59 or month > 12 or year > 9999:
        return None
    if month and day and day > _days_in_month(year, month):
        return None
    return parts


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_datetime(value: object, *, date_only: bool = False) -> DateTimeParts | None:
    """MySQL's lenient reading of a DATE/DATETIME value: 'YYYY-MM-DD[ HH:MM:SS[.f]]' with any
    punctuation, 'YYYYMMDD[HHMMSS]', two-digit years, numbers, datetime/date objects."""
    if isinstance(value, (_dt.datetime, _dt.date)):
        if isinstance(value, _dt.datetime):
            return (value.year, value.month, value.day, value.hour, value.minute, value.second,
                    value.microsecond)
        return (value.year, value.month, value.day, 0, 0, 0, 0)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        text = text.zfill(6 if len(text) <= 6 else 8 if len(text) <= 8 else 14)
    else:
        text = _as_text(value)
    found = _DATETIME_RE.match(text)
    if found:
        y, mo, d, h, mi, s, frac = found.groups()
        return _valid((_year2(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                       _micro(frac)))
    return _parse_digits(text)


# MySQL 8.0.19's datetime literal with a time zone offset: the time part with its seconds, then
# [+-]HH:MM at once; from -13:59 to +14:00, '-00:00' refused (reference manual §11.1.3).
_OFFSET_RE = re.compile(r"^(.*\d:\d{1,2}:\d{1,2}(?:\.\d*)?)([+-])(\d\d):(\d\d)\s*$", re.S)
OFFSET_MINUTES_MAX = 14 * 60
OFFSET_MINUTES_MIN = -(13 * 60 + 59)


def parse_offset_datetime(value: object, zone: _dt.tzinfo) -> DateTimeParts | None:
    """A DATETIME/TIMESTAMP value written with a time zone offset
    ('2020-05-20T10:00:00+05:30'), as that moment in ``zone`` (the session's time zone, which
    MySQL converts it to when storing it); None if the value has no valid offset or no valid
    date with a month and a day."""
    found = _OFFSET_RE.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    local, sign, hours, minutes = found.groups()
    offset = int(hours) * 60 + int(minutes)
    if sign == "-":
        if offset == 0:
            return None
        offset = -offset
    stamp = parse_datetime(local)
    if stamp is None or not stamp[1] or not stamp[2] or int(minutes) > 59 or not OFFSET_MINUTES_MIN <= offset <= OFFSET_MINUTES_MAX:
        return None
    written = _dt.datetime(*stamp, tzinfo=_dt.timezone(_dt.timedelta(minutes=offset)))
    moment = written.astimezone(zone)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
            moment.microsecond)


def timestamp_to_utc(stamp: DateTimeParts, zone: _dt.tzinfo) -> DateTimeParts | None:
    """A TIMESTAMP value read in ``zone`` as UTC, as MySQL stores it; a zero date, or one
    without a month or a day, as it is; None when the moment is beyond the calendar."""
    if not stamp[1] or not stamp[2]:
        return stamp
    try:
        moment = _dt.datetime(*stamp, tzinfo=zone).astimezone(_dt.UTC)
    except (ValueError, OverflowError):
        return None
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
            moment.microsecond)


def timestamp_from_utc(stamp: DateTimeParts, zone: _dt.tzinfo) -> DateTimeParts:
    """A stored (UTC) TIMESTAMP value as ``zone`` shows it; a zero date as it is."""
    if not stamp[1] or not stamp[2]:
        return stamp
    try:
        moment = _dt.datetime(*stamp, tzinfo=_dt.UTC).astimezone(zone)
    except (ValueError, OverflowError):
        return stamp
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
            moment.microsecond)


def _parse_digits(text: str) -> DateTimeParts | None:
    found = _DIGITS_RE.match(text)
    if not found:
        return None
    digits, frac = found.groups()
    if len(digits) in (6, 12):
        digits = ("20" if int(digits[:2]) < 70 else "19") + digits
    fields = [int(digits[i:i + 2]) for i in range(4, len(digits), 2)]
    fields += [0] * (5 - len(fields))
    return _valid((int(digits[:4]), fields[0], fields[1], fields[2], fields[3], fields[4],
                   _micro(frac)))


def parse_time(value: object) -> TimeParts | None:
    """MySQL's reading of a TIME value: '[-][D ]HH:MM[:SS[.f]]', '[-]HHMMSS[.f]', numbers,
    timedelta/time objects, or the time part of a DATETIME string."""
    if isinstance(value, _dt.timedelta):
        micros = abs(value) // _dt.timedelta(microseconds=1)
        seconds, micro = divmod(micros, 1_000_000)
        return (value < _dt.timedelta(0), seconds // 3600, seconds // 60 % 60, seconds % 60,
                micro)
    if isinstance(value, _dt.time):
        return (False, value.hour, value.minute, value.second, value.microsecond)
    if isinstance(value, _dt.datetime):
        return (False, value.hour, value.minute, value.second, value.microsecond)
    text = format(value, "f") if isinstance(value, Decimal) else _as_text(value)
    found = _TIME_RE.match(text)
    if found:
        sign, days, h, mi, s, frac = found.groups()
        hours = int(h) + 24 * int(days or 0)
        return _valid_time((bool(sign), hours, int(mi), int(s or 0), _micro(frac)))
    found = _TIME_DIGITS_RE.match(text)
    if found:
        sign, digits, frac = found.groups()
        digits = digits.zfill(6)
        return _valid_time((bool(sign), int(digits[:-4]), int(digits[-4:-2]), int(digits[-2:]),
                            _micro(frac)))
    stamp = parse_datetime(text)
    return None if stamp is None else (False, stamp[3], stamp[4], stamp[5], stamp[6])


def _valid_time(parts: TimeParts) -> TimeParts | None:
    negative, hours, minutes, seconds, _ = parts
    if minutes > 59 or seconds > 59:
        return None
    if hours > TIME_HOURS_MAX:
        return (negative, TIME_HOURS_MAX, 59, 59, 0)
    return parts


def round_datetime(stamp: DateTimeParts, fsp: int) -> DateTimeParts:
    """Round the fraction to ``fsp`` digits, carrying into the seconds like MySQL."""
    unit = 10 ** (6 - fsp)
    micro = (stamp[6] + unit // 2) // unit * unit
    if micro < 1_000_000 or stamp[:3] == (0, 0, 0):
        return stamp[:6] + (min(micro, 999_999 // unit * unit),)
    moment = _dt.datetime(*stamp[:6]) + _dt.timedelta(seconds=1)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, 0)


def round_time(parts: TimeParts, fsp: int) -> TimeParts:
    unit = 10 ** (6 - fsp)
    negative, hours, minutes, seconds, micro = parts
    micro = (micro + unit // 2) // unit * unit
    if micro >= 1_000_000:
        total = hours * 3600 + minutes * 60 + seconds + 1
        hours, minutes, seconds, micro = total // 3600, total // 60 % 60, total % 60, 0
    return (negative, hours, minutes, seconds, micro)


def format_date(stamp: DateTimeParts) -> str:
    return f"{stamp[0]:04d}-{stamp[1]:02d}-{stamp[2]:02d}"


def format_datetime(stamp: DateTimeParts, fsp: int = 0) -> str:
    text = (f"{stamp[0]:04d}-{stamp[1]:02d}-{stamp[2]:02d} "
            f"{stamp[3]:02d}:{stamp[4]:02d}:{stamp[5]:02d}")
    return text + "." + f"{stamp[6]:06d}"[:fsp] if fsp else text


def format_time(parts: TimeParts, fsp: int = 0) -> str:
    negative, hours, minutes, seconds, micro = parts
    text = f"{'-' if negative else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + "." + f"{micro:06d}"[:fsp] if fsp else text


# ---------------------------------------------------------------- JSON values

def _json_key(item: tuple[str, object]) -> tuple[int, bytes]:
    key = item[0].encode("utf-8")
    return (len(key), key)


def _json_integer(text: str) -> int | float:
    """MySQL keeps a JSON integer that fits 64 bits (signed or unsigned); a larger one becomes a
    double, as it does in MySQL's binary JSON."""
    number = int(text)
    return number if -(1 << 63) <= number < (1 << 64) else float(number)


def parse_json(text: str) -> Any:
    """JSON text as MySQL reads it (integers beyond 64 bits are doubles); ValueError if bad."""
    return json.loads(text, parse_int=_json_integer)


def json_text(document: object) -> str:
    """MySQL's canonical JSON text: keys ordered by length then bytes, ', ' and ': '."""
    if isinstance(document, dict):
        inner = ", ".join(json.dumps(k, ensure_ascii=False) + ": " + json_text(v)
                          for k, v in sorted(document.items(), key=_json_key))
        return "{" + inner + "}"
    if isinstance(document, list):
        return "[" + ", ".join(json_text(v) for v in document) + "]"
    if isinstance(document, bool) or document is None:
        return json.dumps(document)
    if isinstance(document, float):
        return format_double(document) if document != int(document) or abs(document) >= 1e15 \
            else repr(document)
    if isinstance(document, Decimal):
        return str(document)
    if isinstance(document, bytes):
        return json.dumps("base64:type15:" + base64.b64encode(document).decode())
    return json.dumps(document, ensure_ascii=False)
