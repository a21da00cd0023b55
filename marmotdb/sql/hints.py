"""Optimizer hints a statement carries that marmotdb acts on: ``/*+ CONSISTENCY(level) */``.

MySQL honours ``/*+ … */`` right after the statement's first keyword; marmotdb also takes it
right before (where Marmot v2's documentation puts it). Hints marmotdb does not know are
ignored, as MySQL ignores (with a warning) hints it cannot apply.
The hint comment is found with the one MySQL lexer, and only when the text contains ``/*+``.
"""

from __future__ import annotations

import re

from marmotdb import errors
from marmotdb.sql.lexer import BLANK_KINDS, HINT, tokens

WRITE_LEVELS = ("ONE", "QUORUM", "ALL")
_CONSISTENCY = re.compile(r"\bCONSISTENCY\s*\(\s*(\w+)\s*\)", re.IGNORECASE)


def consistency_hint(sql: str) -> str | None:
    """The write level named by a CONSISTENCY hint after the first keyword, or None.
    An unknown level is refused with 1231, as ``SET marmot_write_consistency`` refuses it."""
    if "/*+" not in sql:
        return None
    keywords = 0
    for token in tokens(sql):
        if token.kind == HINT:
            found = _CONSISTENCY.search(token.text)
            if found is None:
                continue
            level = found.group(1).upper()
            if level not in WRITE_LEVELS:
                raise errors.error(errors.ER_WRONG_VALUE_FOR_VAR, "Variable "
                                   f"'marmot_write_consistency' can't be set to the value of "
                                   f"'{found.group(1)[:64]}'")
            return level
        elif token.kind not in BLANK_KINDS:
            keywords += 1
            if keywords == 2:
                return None
    return None
