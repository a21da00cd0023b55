"""LOAD DATA's text file format, read incrementally (MySQL reference manual, LOAD DATA:
"Field and Line Handling").

Theory of operation
-------------------
A record is a line: it may begin after a ``LINES STARTING BY`` prefix (lines without it are
skipped) and ends at ``LINES TERMINATED BY``; its fields are separated by ``FIELDS TERMINATED
BY``. A field that begins with the ``ENCLOSED BY`` character runs to the next enclosure that is
followed by a terminator (a doubled enclosure stands for one, and terminators inside are data).
The ``ESCAPED BY`` character takes the next one literally, or stands for NUL, backspace,
newline, carriage return, tab or Ctrl-Z before ``0 b n r t Z``; ``\\N`` alone is NULL, and
so is a bare ``NULL`` when fields may be enclosed.

The reader scans only for those special strings (one compiled alternation), keeps the text of
the one unfinished record between packets, and refuses a record longer than
``record_bytes_max`` (max_allowed_packet: 1153) so a file without line ends cannot fill memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from marmotdb import errors

if TYPE_CHECKING:
    from marmotdb.sql.load_data.statement import LoadSpec

ER_NET_PACKET_TOO_LARGE = 1153
_ESCAPES = {"0": "\x00", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_NULL_MARK = "\x00\\N"  # an escaped N opening an unenclosed field, until the field ends


class RecordReader:
    """MySQL's text file format, read incrementally: ``feed(text)`` then ``records()`` yields
    every complete record (a list of field values, None for NULL); ``finish()`` the last one
    without a line terminator. Holds only the unfinished record."""

    def __init__(self, spec: LoadSpec, record_bytes_max: int):
        self.spec = spec
        self.record_bytes_max = record_bytes_max
        self.buffer = ""
        specials = [spec.fields_terminated, spec.lines_terminated, spec.escaped, spec.enclosed]
        self._special = re.compile("|".join(re.escape(s) for s in specials if s))
        self._to_skip = spec.ignore_lines

    def feed(self, text: str) -> Iterator[list[str | None]]:
        self.buffer += text
        return self._records(final=False)

    def finish(self) -> Iterator[list[str | None]]:
        return self._records(final=True)

    def _records(self, final: bool) -> Iterator[list[str | None]]:
        position = 0
        while position < len(self.buffer):
            found = self._record(position, final)
            if found is None:
                break
            fields, position = found
            if self._to_skip:
                self._to_skip -= 1
                continue
            if fields is not None:
                yield fields
        self.buffer = self.buffer[position:]
        if len(self.buffer) > self.record_bytes_max:
            raise errors.error(ER_NET_PACKET_TOO_LARGE, "Got a packet bigger than "
                               "'max_allowed_packet' bytes")

    def _record(self, start: int, final: bool) -> tuple[list[str | None] | None, int] | None:
        """The record at ``start`` and the position after it; None: incomplete."""
        spec, buffer = self.spec, self.buffer
        position = start
        if spec.lines_starting:
            found = buffer.find(spec.lines_starting, position)
            line_end = buffer.find(spec.lines_terminated, position)
            if found < 0 or (line_end >= 0 and line_end < found):
                if line_end >= 0:  # a line without the prefix is skipped
                    return None, line_end + len(spec.lines_terminated)
                return (None, len(buffer)) if final else None
            position = found + len(spec.lines_starting)
        fields: list[str | None] = []
        while True:
            parsed = self._field(position, final)
            if parsed is None:
                return None
            value, position, ended = parsed
            fields.append(value)
            if ended:
                return fields, position

    def _field(self, position: int, final: bool) -> tuple[str | None, int, bool] | None:
        """One field at ``position``: (value, position after its terminator, record ended)."""
        spec, buffer = self.spec, self.buffer
        enclosed = bool(spec.enclosed) and buffer.startswith(spec.enclosed, position)
        if enclosed:
            return self._enclosed_field(position + 1, final)
        pieces: list[str] = []
        while True:
            found = self._special.search(buffer, position)
            if found is None or found.group() == spec.enclosed:
                if found is not None:  # an enclosure inside an unenclosed field is data
                    pieces.append(buffer[position:found.end()])
                    position = found.end()
                    continue
                if not final:
                    return None
                pieces.append(buffer[position:])
                return self._unenclosed("".join(pieces)), len(buffer), True
            pieces.append(buffer[position:found.start()])
            token = found.group()
            if token == spec.escaped:
                if found.end() >= len(buffer):
                    if not final:
                        return None
                    pieces.append(token)
                    return self._unenclosed("".join(pieces)), len(buffer), True
                first = not "".join(pieces)
                pieces.append(_NULL_MARK if first and buffer[found.end()] == "N"
                              else _unescape(buffer[found.end()]))
                position = found.end() + 1
                continue
            ended = buffer.startswith(spec.lines_terminated, found.start())
            skip = len(spec.lines_terminated) if ended else len(spec.fields_terminated)
            return self._unenclosed("".join(pieces)), found.start() + skip, ended

    def _unenclosed(self, text: str) -> str | None:
        """``\\N`` alone is NULL; so is a bare NULL when fields may be enclosed (MySQL)."""
        if text == _NULL_MARK or (self.spec.enclosed and text == "NULL"):
            return None
        return text.replace(_NULL_MARK, "N")

    def _enclosed_field(self, position: int, final: bool) -> tuple[str | None, int, bool] | None:
        spec, buffer = self.spec, self.buffer
        quote = spec.enclosed
        pieces: list[str] = []
        while True:
            found = buffer.find(quote, position)
            escape_at = buffer.find(spec.escaped, position) if spec.escaped else -1
            if escape_at >= 0 and (found < 0 or escape_at < found):
                if escape_at + 1 >= len(buffer):
                    return None if not final else (None, len(buffer), True)
                pieces.append(buffer[position:escape_at])
                pieces.append(_unescape(buffer[escape_at + 1]))
                position = escape_at + 2
                continue
            if found < 0 or found + 1 >= len(buffer) and not final:
                return None
            pieces.append(buffer[position:found])
            after = found + 1
            if buffer.startswith(quote, after):  # a doubled enclosure stands for itself
                pieces.append(quote)
                position = after + 1
                continue
            if after >= len(buffer):
                return "".join(pieces), after, True
            if buffer.startswith(spec.lines_terminated, after):
                return "".join(pieces), after + len(spec.lines_terminated), True
            if buffer.startswith(spec.fields_terminated, after):
                return "".join(pieces), after + len(spec.fields_terminated), False
            if len(buffer) - after < max(len(spec.lines_terminated),
                                         len(spec.fields_terminated)) and not final:
                return None
            pieces.append(quote)  # an enclosure not before a terminator is data
            position = after


def _unescape(char: str) -> str:
    return _ESCAPES.get(char, char)
