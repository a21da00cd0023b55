"""The helpers only generated SQL calls (never a user's MySQL): CMP, MySQL's comparison of two
values of any types, and REFUSE / FK_FAILS, which stop a statement with MySQL's error from
inside SQLite (1235 naming a construct, 1452 for an ALTER TABLE's new FOREIGN KEY)."""

from __future__ import annotations

from typing import Any

from marmotdb import errors
from marmotdb.sql.functions.context import Scalar, to_number
from marmotdb.sql.types import uint64

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
        if uint64.is_high_blob(a) or uint64.is_high_blob(b):  # a number from 2^63, as stored
            x, y = (uint64.exact(v) if uint64.is_high_blob(v) else to_number(v) for v in (a, b))
            if isinstance(x, float) or isinstance(y, float):  # against a double: as doubles
                x, y = float(x or 0), float(y or 0)
        else:
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


INTERNAL_SCALARS: list[Scalar] = [
    ("CMP", compare, 2, True),
    ("REFUSE", _refuse, 1, False),
    ("FK_FAILS", _foreign_key_fails, 1, False),
]
