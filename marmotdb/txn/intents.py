"""Intents: which rows are written by prepared, not yet applied transactions (DESIGN §7.2).

A participant marks every row of a write set it votes YES on, keyed by
``(database, table, encoded key)``, with the instance and the member's commit timestamp. A
later write set touching a marked row conflicts — unless its base version *is* that commit
timestamp: it was built on that member's committed result (its coordinator applied it), so the
member is committed even if this node has not learned it yet. Marks of one instance pass from
an earlier member of the batch to a later one (the chain the coordinator resolves).

Marks are released when the instance's outcome is applied here (commit) or learned (abort);
after a restart they are rebuilt from the txn store's undecided records.

*Schema marks.* A DDL and a write built on the schema it replaces must not both commit unless
the DDL is ordered after the write (ddl/DESIGN.md "DDL after the writes before it"). So the
marks also remember, per instance, the database's DDL it holds (with the schema version it
was built on) and the (origin, origin sequence) of each marked member:
``schema_conflicts`` — another instance's DDL of the database, built on the version this
write set was built on or a later one, is prepared here: the write comes after the DDL and
must run again on the new schema; ``unordered_before`` — a DDL whose ``ordered_after`` does
not cover a member of another instance prepared here: that member may commit without the
DDL being ordered after it.

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
        # per instance: the (database, origin, origin_seq) of its marked members (an
        # instance may hold several databases' batches: DESIGN.md §10.2), and the schema
        # version its DDL was built on (instances holding one)
        self._members: dict[Instance, list[tuple[str, int, int]]] = {}
        self._ddl_built_on: dict[Instance, int] = {}

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

    def schema_conflicts(self, instance: Instance, write_set: WriteSet) -> bool:
        """Is a DDL of another instance, built on this write set's schema version or a later
        one, prepared here (not applied yet)? Then the write set is made obsolete by it."""
        if not self._ddl_built_on or not (write_set.changes or write_set.schema_changes):
            return False
        built_on = _built_on(write_set)
        return any(other[1] == write_set.database and other != instance and ddl >= built_on
                   for other, ddl in self._ddl_built_on.items())

    def unordered_before(self, instance: Instance, write_set: WriteSet) -> bool:
        """Is a member of another instance of the DDL's database prepared here that its
        ``ordered_after`` does not cover (it could commit without the DDL after it)?"""
        after = write_set.ordered_after
        if after is None:
            return False
        database = write_set.database
        return any(other != instance and
                   any(db == database and seq > after.get(origin, 0)
                       for db, origin, seq in members)
                   for other, members in self._members.items())

    def mark(self, instance: Instance, write_set: WriteSet) -> None:
        if write_set.changes or write_set.schema_changes:
            self._members.setdefault(instance, []).append(
                (write_set.database, write_set.origin, write_set.origin_seq))
        if write_set.schema_changes:
            self._ddl_built_on[instance] = max(self._ddl_built_on.get(instance, -1),
                                               _built_on(write_set))
        rows = self._by_instance.setdefault(instance, [])
        for row, _ in rows_of(write_set):
            held = self._rows.setdefault(row, [])
            if held and held[-1][0] == instance:  # a later member of the same batch
                held[-1] = (instance, write_set.commit_ts)
            else:
                held.append((instance, write_set.commit_ts))
            rows.append(row)

    def release(self, instance: Instance) -> None:
        self._members.pop(instance, None)
        self._ddl_built_on.pop(instance, None)
        for row in self._by_instance.pop(instance, ()):
            held = self._rows.get(row)
            if held is None:
                continue
            held[:] = [mark for mark in held if mark[0] != instance]
            if not held:
                del self._rows[row]

    def __len__(self) -> int:
        return len(self._rows)


def _built_on(write_set: WriteSet) -> int:
    """The schema version a write set was built on (a DDL's carries the one it made)."""
    return write_set.schema_version - (1 if write_set.schema_changes else 0)
