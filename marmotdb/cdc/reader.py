"""Reading the commit log after a sink's cursors into a bounded batch of records.

Theory of operation
-------------------
For each origin this node publishes, entries are read in origin order after the cursor, but
only up to the applied vector: an entry above a gap (it arrived out of order through catch-up)
waits until the gap fills, so one origin's records always go out in origin order. An entry
missing *below* the vector was trimmed before this sink published it: that is a ``CdcGap``
(the sink fails loudly; it never skips silently).

A batch stops at ``records_max`` records or ``bytes_max`` bytes (keys + values). It may end
inside a write set: ``Batch.partial`` says where, and the next read skips the records already
published (``resume``); the durable cursor only ever names write sets published whole, so after
a crash the rest of a split write set is published again (at-least-once).

Runs on a worker thread in the runtime (decode and JSON building are CPU work); the caller
passes ``now_us`` (the envelope's ``ts_us``) — the core never reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import apsw

from marmotdb.cdc.envelope import Envelopes
from marmotdb.cdc.position import Position
from marmotdb.cdc.sink import SinkRecord
from marmotdb.errors import MarmotError
from marmotdb.storage import commitlog
from marmotdb.storage.writeset import decode_write_set

# Write sets read per query: bounds the memory of one page (each entry is one write set).
PAGE_ENTRIES_MAX = 256


class CdcGap(MarmotError):
    """Entries a sink has not published are gone from this node's log."""

    code, sqlstate = 1105, "HY000"


@dataclass
class Batch:
    records: list[SinkRecord] = field(default_factory=list)
    bytes: int = 0
    done: dict[int, int] = field(default_factory=dict)  # origin -> last seq published whole
    partial: tuple[int, int, int] | None = None  # (origin, origin_seq, next index) if split
    full: bool = False                           # stopped by a limit: more is waiting


def read_batch(conn: apsw.Connection, envelopes: Envelopes, origins: Mapping[int, int],
               *, records_max: int, bytes_max: int, now_us: int,
               resume: tuple[int, int, int] | None = None) -> Batch:
    """Records after ``origins`` (origin -> cursor) for the origins given, in origin order.
    ``resume``: (origin, origin_seq, index) of a split write set whose records below ``index``
    were published already."""
    batch = Batch()
    vector = commitlog.applied_vector(conn)
    for origin, cursor in sorted(origins.items()):
        upto = vector.get(origin, 0)
        if cursor >= upto:
            continue
        _read_origin(conn, envelopes, batch, origin, cursor, upto, records_max, bytes_max,
                     now_us, resume)
        if batch.full:
            break
    return batch


def _read_origin(conn: apsw.Connection, envelopes: Envelopes, batch: Batch, origin: int,
                 cursor: int, upto: int, records_max: int, bytes_max: int, now_us: int,
                 resume: tuple[int, int, int] | None) -> None:
    after = cursor
    while after < upto:
        entries = commitlog.read_origin(conn, origin, after, PAGE_ENTRIES_MAX)
        if not entries or entries[0].origin_seq != after + 1:
            found = entries[0].origin_seq if entries else None
            raise CdcGap(f"CDC gap in {envelopes.prefix}: origin {origin} entries after "
                         f"{after} were trimmed from this node's log before being published "
                         f"(next logged: {found}); re-create the sink")
        for entry in entries:
            if entry.origin_seq > upto:
                return
            write_set = decode_write_set(entry.write_set)
            records = envelopes.records(write_set, now_us)
            if resume is not None and resume[:2] == (origin, entry.origin_seq):
                records = [r for r in records if Position.parse(r.position).index >= resume[2]]
            if not _add(batch, records, records_max, bytes_max, origin, entry.origin_seq):
                return
            batch.done[origin] = entry.origin_seq
            after = entry.origin_seq


def _add(batch: Batch, records: list[SinkRecord], records_max: int, bytes_max: int,
         origin: int, origin_seq: int) -> bool:
    """Add a write set's records; False (and ``full``) when a limit cut it."""
    for taken, record in enumerate(records):
        size = len(record.key or b"") + len(record.value or b"")
        if batch.records and (len(batch.records) >= records_max
                              or batch.bytes + size > bytes_max):
            batch.full = True
            if taken:
                batch.partial = (origin, origin_seq,
                                 Position.parse(record.position).index)
            return False
        batch.records.append(record)
        batch.bytes += size
    return True
