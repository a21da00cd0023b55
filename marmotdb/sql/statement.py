"""The head of a statement: its leading keywords, found without parsing.

The executor dispatches on these before any translation. Leading comments are skipped;
a statement that is wholly a MySQL versioned comment (``/*!40101 SET NAMES utf8 */`` from
mysqldump, ``/*M!100100 … */`` from MariaDB's) is unwrapped, since MySQL executes its body.
"""

from __future__ import annotations

import re

# Comments MySQL 8.0.36 does not execute: plain ones, MariaDB-only /*M! … */, and versioned
# /*!NNNNN … */ for a newer server version.
_LEADING_JUNK = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|/\*(?!!).*?\*/"
                           r"|/\*!(?:[89]\d{4}(?<!80036)|\d{6})\b.*?\*/)*", re.S)
_VERSIONED = re.compile(r"^/\*!(\d{5})?\s*(.*?)\s*\*/\s*;?\s*$", re.S)
_WORD = re.compile(r"[A-Za-z_]+")


def strip_leading(sql: str) -> str:
    """Drop leading whitespace and comments; unwrap a statement-wide versioned comment."""
    text = sql[_LEADING_JUNK.match(sql).end():]  # type: ignore[union-attr]
    if text.startswith("/*") and (found := _VERSIONED.match(text)):
        return strip_leading(found.group(2))
    return text.rstrip().rstrip(";").rstrip()


def keywords(sql: str, count: int = 2) -> tuple[str, ...]:
    """The first ``count`` words of an already-stripped statement, upper-cased."""
    words = []
    position = 0
    for _ in range(count):
        found = _WORD.search(sql, position)
        if found is None or sql[position:found.start()].strip(" \t\r\n"):
            break
        words.append(found.group(0).upper())
        position = found.end()
    return tuple(words)
