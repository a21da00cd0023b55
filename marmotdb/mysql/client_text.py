"""Client-supplied text (user names, database names) made safe to echo in logs and replies.

A client chooses these strings before it has proven anything: they can hold newlines (forged
log lines), terminal escapes, invalid UTF-8 (already replaced by U+FFFD when decoded) or
megabytes. ``shown`` is the one way such a string enters an error message or a log line:
control and format characters become ``\\xNN``/``\\uNNNN`` escapes and the result is cut to
``limit_chars`` with an ellipsis. MySQL's own messages bound these with ``%-.48s``/``%-.64s``.
"""

from __future__ import annotations

import unicodedata

USER_NAME_SHOWN_CHARS_MAX = 48  # MySQL: 'Access denied for user '%-.48s'@'%-.64s''
HOST_SHOWN_CHARS_MAX = 64
DATABASE_NAME_CHARS_MAX = 64  # MySQL's NAME_CHAR_LEN: longer names are invalid (1102)


def shown(text: str, limit_chars: int = USER_NAME_SHOWN_CHARS_MAX) -> str:
    """``text`` with control characters escaped, at most ``limit_chars`` (+ an ellipsis)."""
    cut = text[:limit_chars]
    if cut.isprintable():  # the usual case: one C-level scan, no copy
        return cut if len(text) <= limit_chars else cut + "…"
    out = "".join(_escape(ch) for ch in cut)
    return out if len(text) <= limit_chars else out + "…"


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch.isprintable():
        return ch
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    if ch == " " or unicodedata.category(ch) == "Zs":
        return " "
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def valid_database_name(name: str) -> bool:
    """MySQL refuses database names longer than 64 characters or ending in a space (1102); we
    also refuse control characters, which no client has a reason to send."""
    return (0 < len(name) <= DATABASE_NAME_CHARS_MAX and name.isprintable()
            and not name.endswith(" "))
