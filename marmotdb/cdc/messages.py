"""Peer messages of CDC (cdc/DESIGN.md §3), tags 128-159.

``CdcCursors`` (one-way): how far a publisher got, per origin, for one sink and one database.
A receiver keeps the higher of its own cursor and the reported one, so if the publisher dies,
the node that takes its origins over resumes close to where it stopped instead of from the
start of its log. Losing one is harmless (the next report, or a few more duplicates).
"""

from __future__ import annotations

import msgspec

from marmotdb.peer.registry import PEER_MESSAGES


class CdcCursors(msgspec.Struct, frozen=True, array_like=True):
    sink: str
    database: str
    cursors: dict[int, int]      # origin -> last origin_seq fully published
    snapshot_done: bool = False  # the sender finished this sink's initial snapshot


MESSAGE_TYPES: dict[int, type[msgspec.Struct]] = {128: CdcCursors}
PEER_MESSAGES.register_all(MESSAGE_TYPES, "cdc")
