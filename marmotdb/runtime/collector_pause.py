"""Python's cycle collector stays off while a long write runs on a writer thread.

Why: a long write (txn/DESIGN.md §2.1) keeps every row it changed alive as Python objects
until its batch commits — write-set entries, row images, keys, base versions — hundreds of
thousands of them for a big UPDATE. Some of them are tuple subclasses (``hlc.Timestamp``,
apply's row steps), which CPython never untracks. Every full collection then walks them all
with the GIL held, and full collections come ever more often while they pile up: measured
60-100 ms of CPU per collection during a 200,000-row UPDATE, each one a stall of every client
of the node (issue 11's noisy-neighbour p99). The collection finds nothing: these objects are
acyclic and freed by reference counting when the write ends.

So the first long write to start disables automatic collection and the last one to finish
(its outcome handed back to the node, its batch committed or queued) restores it. Cyclic
garbage made meanwhile waits for the next collection; nothing is lost, and the pause lasts as
long as long writes run (bounded by their own limits: ``sql.long_writes_queued_max`` and the
write threads). Only the event loop's thread calls ``hold``/``release``.
"""

from __future__ import annotations

import gc


class CollectorPause:
    """A counter of running long writes; automatic collection is off while it is above 0."""

    def __init__(self) -> None:
        self.holders = 0
        self._restore = False  # was collection enabled when the first holder came?

    def hold(self) -> None:
        if self.holders == 0:
            self._restore = gc.isenabled()
            gc.disable()
        self.holders += 1

    def release(self) -> None:
        self.holders -= 1
        if self.holders == 0 and self._restore:
            gc.enable()
