"""Aggregates SQLite lacks: the standard deviations and variances (STD, VAR_SAMP …) and
CHECKSUM TABLE's order-independent row checksum."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

from marmotdb.sql.types.coltypes import to_text
from marmotdb.sql.functions.context import to_number

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


AGGREGATES: list[tuple[str, Callable[[], Any]]] = [
    ("TABLE_CHECKSUM", _TableChecksum),
    ("STD", lambda: _Variance(False, True)),
    ("STDDEV", lambda: _Variance(False, True)),
    ("STDDEV_POP", lambda: _Variance(False, True)),
    ("STDDEV_SAMP", lambda: _Variance(True, True)),
    ("VARIANCE", lambda: _Variance(False, False)),
    ("VAR_POP", lambda: _Variance(False, False)),
    ("VAR_SAMP", lambda: _Variance(True, False)),
]
