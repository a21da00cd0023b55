"""Where one CDC record sits in its origin's history (cdc/DESIGN.md §2).

A position is ``(database, origin, origin_seq, index)``: the node that coordinated the
transaction, its sequence number for the database, and the record's index among the records
made from that write set. It is derived from the write set alone, so every node computes the
same position for the same record, and per ``(origin, database)`` it strictly increases in
publication order. That is what lets a consumer — or JetStream, through ``Nats-Msg-Id`` — drop a
record it has already seen after a retry, a restart or a takeover.

Snapshot records (``op: r``) use ``SNAPSHOT_ORIGIN`` (no node has id 0) and the snapshot's own
sequence number: the taking node's snapshot counter times ``SNAPSHOT_SEQ_NODES`` plus its node
id, so two nodes that both took a snapshot (their membership views differed for a moment) never
give two different rows one position.
"""

from __future__ import annotations

from typing import NamedTuple

SNAPSHOT_ORIGIN = 0
SNAPSHOT_SEQ_NODES = 1 << 20  # node ids below this keep snapshot positions apart


class Position(NamedTuple):
    database: str
    origin: int
    origin_seq: int
    index: int

    @property
    def file(self) -> str:
        """The MySQL-connector ``source.file``: one "binlog file" per origin and database."""
        return f"marmot-{self.origin}-{self.database}"

    def text(self) -> str:
        """The record's id on the wire (JetStream message id, a header on every sink)."""
        return f"{self.origin}-{self.database}-{self.origin_seq}-{self.index}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The inverse of ``text`` (database names may contain '-', so split from both ends)."""
        origin, rest = text.split("-", 1)
        database, origin_seq, index = rest.rsplit("-", 2)
        return cls(database, int(origin), int(origin_seq), int(index))

    def order(self) -> tuple[int, int]:
        """The order of records of one ``file``: later positions compare greater."""
        return (self.origin_seq, self.index)
