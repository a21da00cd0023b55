"""MySQL's regular expressions: the REGEXP operator, REGEXP_LIKE / REPLACE / SUBSTR / INSTR,
and LIKE BINARY, on Python's ``re`` with MySQL's match-type flags (case per collation)."""

from __future__ import annotations

import re

from marmotdb import errors
from marmotdb.sql.types.coltypes import to_text
from marmotdb.sql.functions.context import Scalar, to_int

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


REGEX_SCALARS: list[Scalar] = [
    ("LIKE_BINARY", like_binary, 2, True),
    ("REGEXP_LIKE", regexp_like, -1, True),
    ("REGEXP_REPLACE", regexp_replace, -1, True),
    ("REGEXP_SUBSTR", regexp_substr, -1, True),
    ("REGEXP_INSTR", regexp_instr, -1, True),
]
