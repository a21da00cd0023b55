"""The write set: every row a transaction changed, in a versioned binary format.

Theory of operation
-------------------
Replication ships row images, never SQL. A write set is one committed transaction: who made
it (origin node, origin sequence, txn id), when (its HLC commit timestamp, which becomes the
version of every row it writes), where (database, schema version) and what: the row changes
in statement order, each with its table, key before and after, full before and after images
and the row's base version (the version the origin saw before changing it).

Column names travel once per table (``tables``), not once per row; images are tuples in that
column order. Values are SQLite's: int (64-bit signed), float, str, bytes, None; msgpack keeps
each type exactly (ints to +-2^63, -0.0 and inf bit-exact, str vs bytes distinct). NaN never
appears because SQLite stores NaN as NULL.

Wire layout (all integers big-endian)::

    b"MW" | format version (1 byte) | CRC-32 of body (4 bytes) | body (msgpack of WriteSet)

The magic and the version are checked before decoding, so a future format is reported as
such instead of as garbage; the CRC catches corruption that would still decode (a flipped bit
inside an integer); decoding then validates every type and the structure (ops have the keys
and images they need, images match their table's columns). Any failure raises
``StorageError`` naming what is wrong.

Public API::

    ChangeOp                     INSERT=1, UPDATE=2, DELETE=3
    RowChange(table, op, old_key, new_key, before, after, base_version=None)
    SchemaChange(position, mysql, statements, params, objects)
                                 a DDL, before changes[position]
    WriteSet(txn_id, origin, origin_seq, commit_ts, database, schema_version, tables, changes,
             schema_changes=[], ordered_after=None)
        .version                 the row version this write set gives its rows (= commit_ts)
        .ordered_after           a DDL's: per origin, the sequence its origin had applied
                                 when it was made; a replica applies it only past them
    encode_write_set(ws) -> bytes
    decode_write_set(data) -> WriteSet          raises StorageError
"""

from __future__ import annotations

import enum
import struct
import zlib
from typing import Any

import msgspec

from marmotdb.errors import StorageError
from marmotdb.hlc import Timestamp
from marmotdb.storage.schema import TableSchema
from marmotdb.storage.schema_guard import CatalogObject

MAGIC = b"MW"
# 2 added schema_changes, 3 their objects, 4 ordered_after (all trailing, empty by default)
FORMAT_VERSION = 4
READABLE_VERSIONS = frozenset({1, 2, 3, 4})
_HEADER = struct.Struct(">2sBI")

Row = tuple[Any, ...]


class ChangeOp(enum.IntEnum):
    INSERT = 1
    UPDATE = 2
    DELETE = 3


class RowChange(msgspec.Struct, array_like=True, gc=False):
    """One row changed by one statement.

    Not tracked by Python's cycle collector (``gc=False``): a big write holds hundreds of
    thousands of these while it runs, and every full collection would walk them all with the
    GIL held (measured: 180-440 ms pauses of every thread during a 200,000-row UPDATE). A
    RowChange only refers to tuples, strings, numbers and a Timestamp, so it can never be part
    of a reference cycle.

    ``old_key`` is the row's key before the change (UPDATE, DELETE), ``new_key`` after it
    (INSERT, UPDATE); they differ when an UPDATE moves the row to another key. ``before`` and
    ``after`` are full row images in the table's column order. ``base_version`` is the row's
    version when the origin changed it (None: the key had no version there).
    """

    table: str
    op: ChangeOp
    old_key: Row | None
    new_key: Row | None
    before: Row | None
    after: Row | None
    base_version: Timestamp | None = None


class SchemaChange(msgspec.Struct, array_like=True):
    """A DDL statement, replayed in order with the rows: it runs before ``changes[position]``
    (``position == len(changes)``: after all of them). ``mysql`` is the client's text (for
    SHOW CREATE and CDC schema events), ``statements`` the SQLite statements that apply it,
    bound with ``params``, made safe to replay (ddl/replay_rewrite.py). ``objects``: the
    catalog objects it changed, as it left them; a replica that already shows all of them so
    skips the statements (storage/schema_guard.py)."""

    position: int
    mysql: str
    statements: list[str]
    params: dict[str, Any] = {}
    objects: list[CatalogObject] = []


class WriteSet(msgspec.Struct, array_like=True):
    """``ordered_after`` (a DDL's only, format 4): per origin, the highest sequence of the
    database its origin had applied, contiguously, when it built the DDL — every write set
    the DDL was ordered after (ddl/DESIGN.md "DDL after the writes before it"). A replica
    applies the DDL only once its own applied vector covers it (``versions.lacks_bases``).
    None: not recorded (a DML write set, or a DDL of an older node)."""

    txn_id: Timestamp
    origin: int
    origin_seq: int
    commit_ts: Timestamp
    database: str
    schema_version: int
    tables: list[TableSchema]
    changes: list[RowChange]
    schema_changes: list[SchemaChange] = []
    ordered_after: dict[int, int] | None = None

    @property
    def version(self) -> Timestamp:
        return self.commit_ts


def abort_marker(write_set: WriteSet) -> WriteSet:
    """The log entry of a transaction its cluster decided to abort: its origin sequence and
    commit timestamp, no rows and no schema change, so the origin's sequence has no gap
    (txn/DESIGN.md §7.2). Applying it only logs it."""
    return WriteSet(write_set.txn_id, write_set.origin, write_set.origin_seq,
                    write_set.commit_ts, write_set.database, write_set.schema_version, [], [])


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(WriteSet)


ENCODE_CHUNK_ROWS = 4096  # rows per encoder call for a big write set (see below)


def encode_write_set(write_set: WriteSet) -> bytes:
    changes = write_set.changes
    body = _encoder.encode(write_set) if len(changes) <= ENCODE_CHUNK_ROWS \
        else _encode_in_chunks(write_set)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, zlib.crc32(body)) + body


def _encode_in_chunks(write_set: WriteSet) -> bytes:
    """The same bytes as ``_encoder.encode(write_set)``, made a few thousand rows per call.

    One msgspec call holds the GIL for its whole run (~1.2 µs a row: ~230 ms for 200,000
    rows), and a big write is encoded on a writer thread while the event loop waits for the
    GIL; between calls the interpreter can switch threads. The body is the struct's array of
    fields: its header, each field's encoding, the changes' array header and elements.
    """
    fields = write_set.__struct_fields__
    changes = write_set.changes
    parts = [_array_header(len(fields))]
    for name in fields:
        if name != "changes":
            parts.append(_encoder.encode(getattr(write_set, name)))
            continue
        parts.append(_array_header(len(changes)))
        for start in range(0, len(changes), ENCODE_CHUNK_ROWS):
            chunk = changes[start:start + ENCODE_CHUNK_ROWS]
            parts.append(_encoder.encode(chunk)[len(_array_header(len(chunk))):])
    return b"".join(parts)


def _array_header(length: int) -> bytes:
    """msgpack's shortest array header, as msgspec writes it."""
    if length < 16:
        return bytes((0x90 | length,))
    if length < 1 << 16:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def decode_write_set(data: bytes | bytearray | memoryview) -> WriteSet:
    """Decode and validate a write set; raises StorageError on any defect."""
    raw = bytes(data)
    if len(raw) < _HEADER.size:
        raise StorageError(f"write set truncated: {len(raw)} bytes, header needs {_HEADER.size}")
    magic, version, crc = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise StorageError(f"not a write set: bad magic {magic!r}")
    if version not in READABLE_VERSIONS:
        raise StorageError(
            f"write set format version {version} is not supported (this node reads "
            f"{sorted(READABLE_VERSIONS)})")
    body = raw[_HEADER.size:]
    if zlib.crc32(body) != crc:
        raise StorageError("write set corrupt: checksum mismatch (truncated or damaged)")
    try:
        write_set = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise StorageError(f"write set corrupt: {exc}") from None
    validate_write_set(write_set)
    return write_set


# What each op must carry: (old_key, new_key, before, after) present?
_SHAPE_BY_OP: dict[ChangeOp, tuple[bool, bool, bool, bool]] = {
    ChangeOp.INSERT: (False, True, False, True),
    ChangeOp.UPDATE: (True, True, True, True),
    ChangeOp.DELETE: (True, False, True, False),
}
# Schemas already validated (they repeat in every write set of a table); bounded.
CHECKED_SCHEMAS_MAX = 4096
_checked_schemas: dict[TableSchema, tuple[int, int]] = {}
_SQL_TYPES = frozenset({int, bool, float, str, bytes, type(None)})


def validate_write_set(write_set: WriteSet) -> None:
    """Check the structure msgspec's typing cannot express; raises StorageError.

    On the decode path of every write set, so written for speed (no per-value Python loop).
    """
    if write_set.commit_ts.node_id != write_set.origin:
        raise StorageError("write set invalid: commit timestamp node differs from origin")
    widths: dict[str, tuple[int, int]] = {}
    for schema in write_set.tables:
        widths[schema.name] = _schema_widths(schema)
    if len(widths) != len(write_set.tables):
        raise StorageError("write set invalid: a table is described twice")
    for index, change in enumerate(write_set.changes):
        found = widths.get(change.table)
        if found is None:
            raise StorageError(f"write set invalid: change {index} names undescribed table "
                               f"{change.table!r}")
        _validate_change(index, change, *found)
    for entry in write_set.schema_changes:
        if not 0 <= entry.position <= len(write_set.changes):
            raise StorageError(f"write set invalid: schema change at position {entry.position} "
                               f"outside 0..{len(write_set.changes)}")


def _schema_widths(schema: TableSchema) -> tuple[int, int]:
    """(key width, row width) of a valid schema; remembers the schemas already checked."""
    found = _checked_schemas.get(schema)
    if found is not None:
        return found
    width = len(schema.columns)
    if any(not 0 <= i < width for i in schema.key + schema.generated):
        raise StorageError(f"write set invalid: table {schema.name!r} indexes a missing column")
    if len(_checked_schemas) >= CHECKED_SCHEMAS_MAX:
        _checked_schemas.clear()
    found = _checked_schemas[schema] = (len(schema.key) or 1, width)
    return found


def _validate_change(index: int, change: RowChange, key_width: int, width: int) -> None:
    old_key, new_key, before, after = change.old_key, change.new_key, change.before, change.after
    present = (old_key is not None, new_key is not None, before is not None, after is not None)
    if present != _SHAPE_BY_OP[change.op]:
        raise StorageError(f"write set invalid: change {index} ({change.op.name}) has the "
                           "wrong keys/images")
    for key in (old_key, new_key):
        if key is not None and (len(key) != key_width or not _SQL_TYPES.issuperset(
                map(type, key))):
            raise StorageError(f"write set invalid: change {index} key {key!r} does not fit "
                               f"a key of {key_width} SQL values")
    for image in (before, after):
        if image is not None and (len(image) != width or not _SQL_TYPES.issuperset(
                map(type, image))):
            raise StorageError(f"write set invalid: change {index} image does not hold "
                               f"{width} SQL values (table {change.table!r})")
