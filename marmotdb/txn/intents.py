"""Intents: which rows are written by prepared, not yet applied transactions (DESIGN §7.2).

A participant marks every row of a write set it votes YES on, keyed by
``(database, table, encoded key)``, with the instance and the member's commit timestamp. A
later write set touching a marked row conflicts — unless its base version *is* that commit
timestamp: it was built on that member's committed result (its coordinator applied it), so the
member is committed even if this node has not learned it yet. Marks of one instance pass from
an earlier member of the batch to a later one (the chain the coordinator resolves).

Marks are released when the instance's outcome is applied here (commit) or learned (abort);
after a restart they are rebuilt from the txn store's undecided records.

A row may carry the marks of several instances at once: an instance not applied here yet, and
a later one built on its commit timestamp (its coordinator had applied it). Every mark is kept
until its own instance is released, and a write set must be built on the newest one. Keeping
only the newest lost the older mark when the newer instance aborted: the row then looked free
while the older, committed instance was still unapplied here, and a write built on the version
before it passed this node's vote (a lost acknowledged write, found by the torture runs:
list-append + partition, an append acknowledged at QUORUM on no node afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator

from marmotdb.hlc import Timestamp
from marmotdb.storage.versions import encode_key
from marmotdb.storage.writeset import WriteSet
from marmotdb.txn.txn_store import Instance

RowId = tuple[str, str, bytes]  # (database, table, encoded key)


def rows_of(write_set: WriteSet) -> Iterator[tuple[RowId, Timestamp | None]]:
    """Every row the write set leaves, writes or deletes, with its base version."""
    database = write_set.database
    for change in write_set.changes:
        for key in (change.old_key, change.new_key):
            if key is not None:
                yield (database, change.table, encode_key(key)), change.base_version


class Intents:
    def __init__(self) -> None:
        # per row, the marks of every instance holding it, oldest first: (instance, commit_ts)
        self._rows: dict[RowId, list[tuple[Instance, Timestamp]]] = {}
        self._by_instance: dict[Instance, list[RowId]] = {}

    def conflicts(self, instance: Instance, write_set: WriteSet) -> bool:
        """Does a row of ``write_set`` carry another instance's mark it was not built on?
        Built on the newest mark (by commit timestamp: a mark built on another is above it)
        is built on the older ones too."""
        for row, base in rows_of(write_set):
            held = self._rows.get(row)
            if held:
                newest = max(held, key=lambda mark: mark[1])
                if newest[0] != instance and newest[1] != base:
                    return True
        return False

    def mark(self, instance: Instance, write_set: WriteSet) -> None:
        rows = self._by_instance.setdefault(instance, [])
        for row, _ in rows_of(write_set):
            held = self._rows.setdefault(row, [])
            if held and held[-1][0] == instance:  # a later member of the same batch
                held[-1] = (instance, write_set.commit_ts)
            else:
                held.append((instance, write_set.commit_ts))
            rows.append(row)

    def release(self, instance: Instance) -> None:
        for row in self._by_instance.pop(instance, ()):
            held = self._rows.get(row)
            if held is None:
                continue
            held[:] = [mark for mark in held if mark[0] != instance]
            if not held:
                del self._rows[row]

    def __len__(self) -> int:
        return len(self._rows)
