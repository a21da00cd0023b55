"""MySQL's string functions (CONCAT_WS, SUBSTRING_INDEX, LPAD, LOCATE, TRIM, HEX, CONV, FORMAT,
MD5/SHA, INET_ATON, UUID_TO_BIN …), with MySQL's argument rules where SQLite's differ
(LENGTH counts bytes, positions are 1-based, NULL in gives NULL out)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import uuid
import zlib
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from marmotdb import errors
from marmotdb.sql.types.coltypes import to_text
from marmotdb.sql.functions.context import Scalar, nulls, to_int, to_number

def concat_ws(separator: object, *parts: object) -> str | None:
    if separator is None:
        return None
    sep = to_text(separator) or ""
    return sep.join(t for t in (to_text(p) for p in parts) if t is not None)


@nulls
def substring_index(text: object, delim: object, count: object) -> str:
    s, d, n = to_text(text) or "", to_text(delim) or "", to_int(count) or 0
    if not d or n == 0:
        return ""
    pieces = s.split(d)
    return d.join(pieces[:n]) if n > 0 else d.join(pieces[n:])


@nulls
def find_in_set(needle: object, haystack: object) -> int:
    n, h = to_text(needle) or "", to_text(haystack) or ""
    if "," in n or not h:
        return 0
    folded = n.lower()
    return next((i + 1 for i, part in enumerate(h.split(",")) if part.lower() == folded), 0)


def _pad(left: bool) -> Callable[..., object]:
    @nulls
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


@nulls
def locate(needle: object, haystack: object, start: object = 1) -> int:
    n, h, pos = (to_text(needle) or "").lower(), (to_text(haystack) or "").lower(), to_int(start)
    if pos is None or pos < 1:
        return 0
    found = h.find(n, pos - 1)
    return found + 1 if found >= 0 else 0


@nulls
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


@nulls
def left(text: object, n: object) -> str:
    count = to_int(n) or 0
    return (to_text(text) or "")[:max(count, 0)]


@nulls
def right(text: object, n: object) -> str:
    count = to_int(n) or 0
    s = to_text(text) or ""
    return s[len(s) - count:] if 0 < count else ""


@nulls
def repeat(text: object, n: object) -> str:
    return (to_text(text) or "") * max(to_int(n) or 0, 0)


@nulls
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


@nulls
def octet_length(text: object) -> int:
    if isinstance(text, bytes):
        return len(text)
    return len((to_text(text) or "").encode("utf-8"))


@nulls
def char_length(text: object) -> int:
    return len(text) if isinstance(text, bytes) else len(to_text(text) or "")


@nulls
def ascii_code(text: object) -> int:
    data = text if isinstance(text, bytes) else (to_text(text) or "").encode("utf-8")
    return data[0] if data else 0


@nulls
def ord_code(text: object) -> int:
    s = to_text(text) or ""
    if not s:
        return 0
    data = s[0].encode("utf-8")
    return int.from_bytes(data, "big")


@nulls
def upper(text: object) -> object:
    return text if isinstance(text, bytes) else (to_text(text) or "").upper()


@nulls
def lower(text: object) -> object:
    return text if isinstance(text, bytes) else (to_text(text) or "").lower()


@nulls
def reverse(text: object) -> str:
    return (to_text(text) or "")[::-1]


@nulls
def space(n: object) -> str:
    return " " * max(to_int(n) or 0, 0)


@nulls
def strcmp(a: object, b: object) -> int:
    x, y = (to_text(a) or "").lower(), (to_text(b) or "").lower()
    return (x > y) - (x < y)


@nulls
def hex_text(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = to_int(value) or 0
        return format(number & 0xFFFF_FFFF_FFFF_FFFF if number < 0 else number, "X")
    data = value if isinstance(value, bytes) else (to_text(value) or "").encode("utf-8")
    return data.hex().upper()


@nulls
def unhex(value: object) -> bytes | None:
    text = to_text(value) or ""
    try:
        return bytes.fromhex(("0" + text) if len(text) % 2 else text)
    except ValueError:
        return None


@nulls
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


@nulls
def quote(value: object) -> str:
    text = to_text(value) or ""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0") \
        .replace("\x1a", "\\Z")
    return "'" + escaped + "'"


@nulls
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


@nulls
def format_number(value: object, decimals: object, locale: object = None) -> str:
    number = to_number(value) or 0
    places = max(min(to_int(decimals) or 0, 30), 0)
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f}"


@nulls
def to_base64(value: object) -> str:
    data = value if isinstance(value, bytes) else (to_text(value) or "").encode("utf-8")
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


@nulls
def from_base64(value: object) -> bytes | None:
    try:
        return base64.b64decode(re.sub(r"\s", "", to_text(value) or ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def to_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else (to_text(value) or "").encode("utf-8")


@nulls
def md5(value: object) -> str:
    return hashlib.md5(to_bytes(value)).hexdigest()


@nulls
def sha1(value: object) -> str:
    return hashlib.sha1(to_bytes(value)).hexdigest()


@nulls
def sha2(value: object, bits: object) -> str | None:
    size = to_int(bits)
    algorithm = {0: "sha256", 224: "sha224", 256: "sha256", 384: "sha384",
                 512: "sha512"}.get(size or 0)
    return None if algorithm is None else hashlib.new(algorithm, to_bytes(value)).hexdigest()


@nulls
def crc32(value: object) -> int:
    return zlib.crc32(to_bytes(value))


@nulls
def inet_aton(value: object) -> int | None:
    try:
        return int(ipaddress.IPv4Address(to_text(value) or ""))
    except ValueError:
        return None


@nulls
def inet_ntoa(value: object) -> str | None:
    number = to_int(value)
    if number is None or not 0 <= number <= 0xFFFFFFFF:
        return None
    return str(ipaddress.IPv4Address(number))


@nulls
def inet6_aton(value: object) -> bytes | None:
    try:
        return ipaddress.ip_address(to_text(value) or "").packed
    except ValueError:
        return None


@nulls
def inet6_ntoa(value: object) -> str | None:
    if not isinstance(value, bytes) or len(value) not in (4, 16):
        return None
    return str(ipaddress.ip_address(value))


@nulls
def is_ipv4(value: object) -> int:
    try:
        ipaddress.IPv4Address(to_text(value) or "")
        return 1
    except ValueError:
        return 0


@nulls
def is_ipv6(value: object) -> int:
    try:
        ipaddress.IPv6Address(to_text(value) or "")
        return 1
    except ValueError:
        return 0


@nulls
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


STRING_SCALARS: list[Scalar] = [
    ("CONCAT_WS", concat_ws, -1, True),
    ("SUBSTRING_INDEX", substring_index, 3, True),
    ("FIND_IN_SET", find_in_set, 2, True),
    ("LPAD", _pad(True), 3, True),
    ("RPAD", _pad(False), 3, True),
    ("LOCATE", locate, -1, True),
    ("POSITION", locate, 2, True),
    ("INSTR", instr, 2, True),
    ("SUBSTRING", substring_any, -1, True),
    ("SUBSTR", substring_any, -1, True),
    ("MID", substring_any, 3, True),
    ("TRIM", mysql_trim, -1, True),
    ("LEFT", left, 2, True),
    ("RIGHT", right, 2, True),
    ("REPEAT", repeat, 2, True),
    ("INSERT", insert_string, 4, True),
    ("FIELD", field_index, -1, True),
    ("ELT", elt, -1, True),
    ("LENGTH", octet_length, 1, True),
    ("OCTET_LENGTH", octet_length, 1, True),
    ("CHAR_LENGTH", char_length, 1, True),
    ("CHARACTER_LENGTH", char_length, 1, True),
    ("BIT_LENGTH", lambda v: None if v is None else 8 * octet_length(v), 1, True),
    ("ASCII", ascii_code, 1, True),
    ("ORD", ord_code, 1, True),
    ("UPPER", upper, 1, True),
    ("UCASE", upper, 1, True),
    ("LOWER", lower, 1, True),
    ("LCASE", lower, 1, True),
    ("REVERSE", reverse, 1, True),
    ("SPACE", space, 1, True),
    ("STRCMP", strcmp, 2, True),
    ("HEX", hex_text, 1, True),
    ("UNHEX", unhex, 1, True),
    ("CONV", conv, 3, True),
    ("BIN", lambda v: None if v is None else conv(v, 10, 2), 1, True),
    ("OCT", lambda v: None if v is None else conv(v, 10, 8), 1, True),
    ("QUOTE", lambda v: "NULL" if v is None else quote(v), 1, True),
    ("SOUNDEX", soundex, 1, True),
    ("FORMAT", format_number, -1, True),
    ("TO_BASE64", to_base64, 1, True),
    ("FROM_BASE64", from_base64, 1, True),
    ("MD5", md5, 1, True),
    ("SHA1", sha1, 1, True),
    ("SHA", sha1, 1, True),
    ("SHA2", sha2, 2, True),
    ("CRC32", crc32, 1, True),
    ("INET_ATON", inet_aton, 1, True),
    ("INET_NTOA", inet_ntoa, 1, True),
    ("INET6_ATON", inet6_aton, 1, True),
    ("INET6_NTOA", inet6_ntoa, 1, True),
    ("IS_IPV4", is_ipv4, 1, True),
    ("IS_IPV6", is_ipv6, 1, True),
    ("IS_UUID", is_uuid, 1, True),
    ("UUID_TO_BIN", uuid_to_bin, -1, True),
    ("BIN_TO_UUID", bin_to_uuid, -1, True),
]
