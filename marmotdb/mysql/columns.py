"""Column definition packets (Protocol::ColumnDefinition41) and their cache.

A result set's metadata is the same every time a statement shape runs, so the encoded
column-count and column-definition payloads are cached. Two bounded caches: by identity of
the ``columns`` list (free; the SQL layer usually reuses one list per statement shape; the
entry holds the list, so its id cannot be recycled while cached) and by value (a tuple of each
column's fields; catches lists rebuilt per query). Rule for callers: do not mutate a
``columns`` list or its ``Column`` objects after handing it to the protocol layer.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Sequence

from marmotdb.mysql.packets import lenenc_bytes, lenenc_int
from marmotdb.mysql.types import CHARSET_BINARY, Column, FieldType

COLUMN_CACHE_ENTRIES_MAX = 2048  # distinct result shapes kept encoded (~1 KiB each)

_HEADER = struct.Struct("<I")
_DEF_TAIL = struct.Struct("<BHIBHBxx")  # 0x0c, charset, length, type, flags, decimals, filler
_CATALOG = lenenc_bytes(b"def")


def encode_column(col: Column) -> bytes:
    """One ColumnDefinition41 payload. A name is an expression's text (``SELECT 'é'``), which
    holds the client's own bytes where they were not UTF-8 (the query text is decoded with
    ``surrogateescape``): they go back as they came, like the values (rows.py)."""
    return b"".join((
        _CATALOG,
        lenenc_bytes(col.schema.encode()),
        lenenc_bytes(col.table.encode()),
        lenenc_bytes(col.org_table.encode()),
        lenenc_bytes(col.name.encode("utf-8", "surrogateescape")),
        lenenc_bytes(col.org_name.encode()),
        _DEF_TAIL.pack(0x0C, col.charset & 0xFFFF, min(col.length, 0xFFFFFFFF),
                       int(col.type), col.flags & 0xFFFF, col.decimals & 0xFF),
    ))


def column_key(col: Column) -> tuple:
    return (col.name, col.type, col.length, col.flags, col.decimals, col.charset, col.table,
            col.org_table, col.org_name, col.schema)


class ColumnBlock:
    """The encoded metadata of one result shape: count payload plus one payload per column,
    the same framed (per starting sequence id), and the row encoders ``rows`` picks for it."""

    __slots__ = ("_framed", "binary_encoders", "columns", "count_payload", "definitions",
                 "text_encoders", "types", "unsigned")

    def __init__(self, columns: Sequence[Column]):
        self.columns = list(columns)
        self.count_payload = lenenc_int(len(columns))
        self.definitions = [encode_column(c) for c in columns]
        self.types = [int(c.type) for c in columns]
        self.unsigned = [bool(c.flags & 32) for c in columns]
        self.text_encoders: list | None = None  # filled by rows.py on first use
        self.binary_encoders: list | None = None
        self._framed: dict[int, bytes] = {}

    def framed(self, seq: int) -> bytes:
        """Count and definition packets framed from sequence id ``seq`` (usually 1)."""
        data = self._framed.get(seq)
        if data is None:
            parts = []
            for i, payload in enumerate([self.count_payload, *self.definitions]):
                parts.append(_HEADER.pack(len(payload) | (((seq + i) & 0xFF) << 24)))
                parts.append(payload)
            data = self._framed[seq] = b"".join(parts)
        return data


# OrderedDicts, not dicts: a result whose column list is new each time (a catalog answer)
# evicts one entry per statement, and a dict's oldest key, next(iter(d)), is found by walking
# past every slot deleted before it (~4 µs at 2048 entries; popitem(last=False) is O(1)).
_by_identity: OrderedDict[int, tuple[Sequence[Column], ColumnBlock]] = OrderedDict()
_by_value: OrderedDict[tuple, ColumnBlock] = OrderedDict()


def _remember(cache: OrderedDict, key: object, value: object) -> None:
    if len(cache) >= COLUMN_CACHE_ENTRIES_MAX:
        cache.popitem(last=False)  # oldest first: insertion order
    cache[key] = value


def column_block(columns: Sequence[Column]) -> ColumnBlock:
    """The (cached) encoded metadata for ``columns``."""
    entry = _by_identity.get(id(columns))
    if entry is not None and entry[0] is columns:
        return entry[1]
    key = tuple(map(column_key, columns))
    block = _by_value.get(key)
    if block is None:
        block = ColumnBlock(columns)
        _remember(_by_value, key, block)
    _remember(_by_identity, id(columns), (columns, block))  # pins the list: id stays unique
    return block


def param_column() -> Column:
    """How MySQL 8 describes each '?' of a prepared statement."""
    return Column(name="?", type=FieldType.LONGLONG, length=0, charset=CHARSET_BINARY,
                  flags=128)
